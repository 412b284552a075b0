/*
 * test_runs.c — the runs primitive: begin/get, status transitions, listing with filters and
 * cursors, deletion of all of a run's data, atomicity with the caller's transaction,
 * persistence, bad input and corrupt records.
 */
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "core/clock.h"
#include "core/key.h"
#include "txn/txn.h"

#define T0 1700000000123ull

/* ---- helpers ------------------------------------------------------------------------------ */

static inmem_run_id id_from(const char *s)
{
    inmem_run_id id;
    assert_ok(inmem_run_id_parse(s, &id));
    return id;
}

static void assert_id_equal(const inmem_run_id *a, const inmem_run_id *b)
{
    if (memcmp(a->bytes, b->bytes, 16) != 0) {
        char x[INMEM_RUN_ID_STRLEN + 1], y[INMEM_RUN_ID_STRLEN + 1];
        inmem_run_id_format(a, x);
        inmem_run_id_format(b, y);
        fail_msg("run id %s != %s", x, y);
    }
}

/* Begins a run standalone with the given namespace, tags and parent; returns its id. */
static inmem_run_id begin_run(inmem_db *db, const inmem_run_id *parent, const char *tenant,
                              const char *app, const char *agent, const char *const *tags,
                              size_t ntags)
{
    inmem_run_options o;
    inmem_run_options_init(&o);
    o.parent = parent;
    o.tenant = tenant;
    o.app = app;
    o.agent = agent;
    o.tags = tags;
    o.ntags = ntags;
    inmem_run_id id;
    assert_ok(inmem_run_begin_db(db, &o, &id));
    return id;
}

static inmem_run_id begin_plain(inmem_db *db)
{
    return begin_run(db, NULL, NULL, NULL, NULL, NULL, 0);
}

/* Lists (standalone, one big page) and checks the ids equal @p want, in order. */
static void expect_list(inmem_db *db, const inmem_run_filter *f, const inmem_run_id *want,
                        size_t nwant)
{
    inmem_run_id got[64];
    size_t n = 99;
    assert_ok(inmem_run_list_db(db, f, NULL, 64, got, &n));
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++)
        assert_id_equal(&got[i], &want[i]);
}

/* Writes raw bytes under (run, tag, key) through the transaction layer and commits. */
static void raw_put(inmem_db *db, const inmem_run_id *run, uint8_t tag, const char *key,
                    const void *val, size_t vlen)
{
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem__keybuf kb;
    assert_ok(inmem__keybuf_make(&kb, run, tag, key, strlen(key)));
    assert_ok(inmem__txn_put(t, kb.p, kb.len, val, vlen, 0));
    inmem__keybuf_done(&kb);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
}

/* Counts the visible keys in [lo, hi) (16-byte run ids; hi NULL: to the end). */
static size_t count_keys(inmem_db *db, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                         size_t hilen)
{
    inmem_txn *t;
    inmem_iter *it;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem__txn_scan(t, lo, lolen, hi, hilen, &it));
    size_t n = 0;
    while (inmem__iter_next(it, NULL, NULL, NULL, NULL, NULL) == 0)
        n++;
    inmem_iter_free(it);
    inmem_txn_free(t);
    return n;
}

/* Keys in a run's whole range [id, id + 1) (all tags). */
static size_t count_run_keys(inmem_db *db, const inmem_run_id *run)
{
    uint8_t hi[16];
    memcpy(hi, run->bytes, 16);
    int i = 15;
    while (i >= 0 && hi[i] == 0xff)
        hi[i--] = 0;
    if (i >= 0)
        hi[i]++;
    return count_keys(db, run->bytes, 16, i >= 0 ? hi : NULL, 16);
}

/* Entries of the global run index (shared scope, TAG_RUN) whose key ends with ~id. */
static size_t count_index_entries_of(inmem_db *db, const inmem_run_id *run)
{
    uint8_t lo[INMEM__KEY_PREFIX], hi[INMEM__KEY_PREFIX];
    inmem__key_prefix(lo, NULL, INMEM__TAG_RUN);
    inmem__key_prefix(hi, NULL, INMEM__TAG_RUN + 1);
    inmem_txn *t;
    inmem_iter *it;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem__txn_scan(t, lo, sizeof lo, hi, sizeof hi, &it));
    size_t n = 0;
    const uint8_t *k;
    size_t klen;
    while (inmem__iter_next(it, &k, &klen, NULL, NULL, NULL) == 0) {
        assert_true(klen >= INMEM__KEY_PREFIX + 1 + 16);
        int same = 1;
        for (int i = 0; i < 16; i++)
            same &= (k[klen - 16 + i] ^ run->bytes[i]) == 0xff; /* k holds ~id */
        n += (size_t)same;
    }
    inmem_iter_free(it);
    inmem_txn_free(t);
    return n;
}

/* All index entries of any run. */
static size_t count_index_entries(inmem_db *db)
{
    uint8_t lo[INMEM__KEY_PREFIX], hi[INMEM__KEY_PREFIX];
    inmem__key_prefix(lo, NULL, INMEM__TAG_RUN);
    inmem__key_prefix(hi, NULL, INMEM__TAG_RUN + 1);
    return count_keys(db, lo, sizeof lo, hi, sizeof hi);
}

/* ---- begin / get -------------------------------------------------------------------------- */

static void run_begin_get_round_trips_every_field(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem__clock_set_override(T0);
    const char *ptags[] = {"prod", "eu-west"};
    inmem_run_id parent = begin_run(db, NULL, "acme", "support", "triage", ptags, 2);

    /* the child is begun and read back in one transaction (read your own writes) */
    inmem__clock_set_override(T0 + 5);
    char longest[INMEM_NAME_MAX];
    memset(longest, 'n', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    const char *ctags[INMEM_MAX_TAGS];
    char tagbuf[INMEM_MAX_TAGS][16];
    for (int i = 0; i < INMEM_MAX_TAGS; i++) {
        snprintf(tagbuf[i], sizeof tagbuf[i], "t%d", i);
        ctags[i] = tagbuf[i];
    }
    ctags[3] = longest;
    inmem_run_options o;
    inmem_run_options_init(&o);
    o.parent = &parent;
    o.tenant = "acme";
    o.app = longest;
    o.agent = "coder";
    o.tags = ctags;
    o.ntags = INMEM_MAX_TAGS;
    inmem_txn *t;
    inmem_run_id child;
    inmem_run_info info;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_run_begin(t, &o, &child));
    assert_ok(inmem_run_get(t, &child, &info));
    assert_int_equal(info.status, INMEM_RUN_ACTIVE);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);

    memset(&info, 0xab, sizeof info);
    assert_ok(inmem_run_get_db(db, &child, &info));
    assert_id_equal(&info.id, &child);
    assert_int_equal(info.has_parent, 1);
    assert_id_equal(&info.parent, &parent);
    assert_int_equal(info.status, INMEM_RUN_ACTIVE);
    assert_int_equal(info.created_ms, T0 + 5);
    assert_int_equal(info.ended_ms, 0);
    assert_string_equal(info.tenant, "acme");
    assert_string_equal(info.app, longest);
    assert_string_equal(info.agent, "coder");
    assert_int_equal(info.ntags, INMEM_MAX_TAGS);
    for (int i = 0; i < INMEM_MAX_TAGS; i++)
        assert_string_equal(info.tags[i], ctags[i]);

    memset(&info, 0xab, sizeof info);
    assert_ok(inmem_run_get_db(db, &parent, &info));
    assert_id_equal(&info.id, &parent);
    assert_int_equal(info.has_parent, 0);
    inmem_run_id zero = {{0}};
    assert_id_equal(&info.parent, &zero);
    assert_int_equal(info.created_ms, T0);
    assert_string_equal(info.tenant, "acme");
    assert_string_equal(info.app, "support");
    assert_string_equal(info.agent, "triage");
    assert_int_equal(info.ntags, 2);
    assert_string_equal(info.tags[0], "prod");
    assert_string_equal(info.tags[1], "eu-west");

    /* a run without namespace or tags reads back empty strings */
    inmem_run_id bare = begin_plain(db);
    assert_ok(inmem_run_get_db(db, &bare, &info));
    assert_string_equal(info.tenant, "");
    assert_string_equal(info.app, "");
    assert_string_equal(info.agent, "");
    assert_int_equal(info.ntags, 0);

    /* the stored record has the documented layout */
    uint8_t key[INMEM__KEY_PREFIX + 1];
    inmem__key_prefix(key, &child, INMEM__TAG_RUN);
    key[INMEM__KEY_PREFIX] = 'm';
    const uint8_t *val;
    size_t vlen;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem__txn_get(t, key, sizeof key, (const void **)&val, &vlen, NULL));
    assert_true(vlen > 35);
    assert_int_equal(val[0], 1);                /* format */
    assert_int_equal(val[1], INMEM_RUN_ACTIVE); /* status */
    assert_int_equal(val[2], 1);                /* has a parent */
    assert_memory_equal(val + 3, parent.bytes, 16);
    uint64_t created = 0;
    for (int i = 0; i < 8; i++)
        created |= (uint64_t)val[19 + i] << (8 * i);
    assert_int_equal(created, T0 + 5);
    assert_int_equal(val[35], 4); /* tenant length */
    assert_memory_equal(val + 36, "acme", 5);
    inmem_txn_free(t);

    inmem__clock_set_override(0);
    assert_ok(inmem_db_close(db));
}

static void run_begin_with_caller_chosen_id_uses_it_and_refuses_a_duplicate(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id want = id_from("0190a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5b"), got;
    inmem_run_options o;
    inmem_run_options_init(&o);
    o.id = &want;
    o.tenant = "acme";
    assert_ok(inmem_run_begin_db(db, &o, &got));
    assert_id_equal(&got, &want);
    inmem_run_info info;
    assert_ok(inmem_run_get_db(db, &want, &info));
    assert_id_equal(&info.id, &want);
    assert_string_equal(info.tenant, "acme");

    /* the same id again: refused, and the first run is unchanged */
    o.tenant = "other";
    assert_rc(INMEM_EINVAL, inmem_run_begin_db(db, &o, &got));
    assert_ok(inmem_run_get_db(db, &want, &info));
    assert_string_equal(info.tenant, "acme");

    /* the shared scope's id cannot be begun */
    inmem_run_id zero = {{0}};
    o.id = &zero;
    assert_rc(INMEM_EINVAL, inmem_run_begin_db(db, &o, &got));
    expect_list(db, NULL, &want, 1);

    /* an id whose bytes are all 0xff (no successor) works too */
    inmem_run_id top;
    memset(top.bytes, 0xff, 16);
    o.id = &top;
    assert_ok(inmem_run_begin_db(db, &o, NULL));
    inmem_run_id both[] = {top, want};
    expect_list(db, NULL, both, 2);
    assert_ok(inmem_db_close(db));
}

/* ---- transitions --------------------------------------------------------------------------- */

static void run_end_allows_every_permitted_transition(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    const inmem_run_status terminal[] = {INMEM_RUN_COMPLETED, INMEM_RUN_FAILED,
                                         INMEM_RUN_CANCELLED};
    for (size_t i = 0; i < 3; i++) {
        inmem__clock_set_override(T0);
        inmem_run_id r = begin_plain(db);
        inmem__clock_set_override(T0 + 100);
        assert_ok(inmem_run_end_db(db, &r, terminal[i]));
        inmem_run_info info;
        assert_ok(inmem_run_get_db(db, &r, &info));
        assert_int_equal(info.status, terminal[i]);
        assert_int_equal(info.created_ms, T0);
        assert_int_equal(info.ended_ms, T0 + 100);
        inmem_run_filter f = {0};
        f.status = terminal[i];
        expect_list(db, &f, &r, 1);
        f.status = INMEM_RUN_ACTIVE;
        expect_list(db, &f, NULL, 0); /* the status index entry moved */

        /* archival, in a transaction; the end time stays */
        inmem__clock_set_override(T0 + 200);
        inmem_txn *t;
        assert_ok(inmem_txn_begin(db, &t));
        assert_ok(inmem_run_end(t, &r, INMEM_RUN_ARCHIVED));
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
        assert_ok(inmem_run_get_db(db, &r, &info));
        assert_int_equal(info.status, INMEM_RUN_ARCHIVED);
        assert_int_equal(info.ended_ms, T0 + 100);
        f.status = INMEM_RUN_ARCHIVED;
        expect_list(db, &f, &r, 1);
        f.status = terminal[i];
        expect_list(db, &f, NULL, 0);
        assert_ok(inmem_run_delete_db(db, &r));
    }
    inmem__clock_set_override(0);
    assert_ok(inmem_db_close(db));
}

static void run_end_refuses_forbidden_transitions_and_changes_nothing(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    const struct {
        inmem_run_status from, to;
    } bad[] = {
        {INMEM_RUN_ACTIVE, INMEM_RUN_ACTIVE},       {INMEM_RUN_ACTIVE, INMEM_RUN_ARCHIVED},
        {INMEM_RUN_COMPLETED, INMEM_RUN_ACTIVE},    {INMEM_RUN_COMPLETED, INMEM_RUN_FAILED},
        {INMEM_RUN_COMPLETED, INMEM_RUN_CANCELLED}, {INMEM_RUN_COMPLETED, INMEM_RUN_COMPLETED},
        {INMEM_RUN_FAILED, INMEM_RUN_ACTIVE},       {INMEM_RUN_FAILED, INMEM_RUN_COMPLETED},
        {INMEM_RUN_CANCELLED, INMEM_RUN_ACTIVE},    {INMEM_RUN_CANCELLED, INMEM_RUN_FAILED},
        {INMEM_RUN_ARCHIVED, INMEM_RUN_ACTIVE},     {INMEM_RUN_ARCHIVED, INMEM_RUN_COMPLETED},
        {INMEM_RUN_ARCHIVED, INMEM_RUN_FAILED},     {INMEM_RUN_ARCHIVED, INMEM_RUN_CANCELLED},
        {INMEM_RUN_ARCHIVED, INMEM_RUN_ARCHIVED},
    };
    inmem__clock_set_override(T0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        inmem_run_id r = begin_plain(db);
        if (bad[i].from != INMEM_RUN_ACTIVE)
            assert_ok(inmem_run_end_db(
                db, &r, bad[i].from == INMEM_RUN_ARCHIVED ? INMEM_RUN_COMPLETED : bad[i].from));
        if (bad[i].from == INMEM_RUN_ARCHIVED)
            assert_ok(inmem_run_end_db(db, &r, INMEM_RUN_ARCHIVED));
        inmem_run_info before, after;
        assert_ok(inmem_run_get_db(db, &r, &before));
        assert_int_equal(before.status, bad[i].from);
        inmem_stats s0, s1;
        assert_ok(inmem_db_stats(db, &s0));

        inmem__clock_set_override(T0 + 1000);
        /* active is never a target (a wrong argument); the others the run's status forbids */
        int want = bad[i].to == INMEM_RUN_ACTIVE ? INMEM_EINVAL : INMEM_EMISUSE;
        inmem_txn *t;
        assert_ok(inmem_txn_begin(db, &t));
        assert_rc(want, inmem_run_end(t, &r, bad[i].to));
        inmem_txn_info ti;
        assert_ok(inmem_txn_describe(t, &ti));
        assert_int_equal(ti.write_set_size, 0); /* nothing pending */
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
        assert_rc(want, inmem_run_end_db(db, &r, bad[i].to));
        inmem__clock_set_override(T0);

        assert_ok(inmem_db_stats(db, &s1));
        assert_int_equal(s1.version, s0.version); /* no commit wrote anything */
        assert_ok(inmem_run_get_db(db, &r, &after));
        assert_int_equal(after.status, before.status);
        assert_int_equal(after.ended_ms, before.ended_ms);
        assert_int_equal(after.created_ms, before.created_ms);
        inmem_run_filter f = {0};
        f.status = bad[i].from;
        expect_list(db, &f, &r, 1);
        assert_ok(inmem_run_delete_db(db, &r));
    }
    inmem__clock_set_override(0);
    assert_ok(inmem_db_close(db));
}

/* ---- listing ------------------------------------------------------------------------------- */

static void run_list_returns_newest_first(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id r[6], want[6];
    for (int i = 0; i < 6; i++) {
        inmem__clock_set_override(T0 + (uint64_t)(i / 2)); /* two per millisecond */
        r[i] = begin_plain(db);
        want[5 - i] = r[i];
    }
    inmem__clock_set_override(0);
    for (int i = 1; i < 6; i++)
        assert_true(memcmp(r[i - 1].bytes, r[i].bytes, 16) < 0); /* ids are time-ordered */
    expect_list(db, NULL, want, 6);
    inmem_run_filter f = {0};
    f.status = INMEM_RUN_ACTIVE;
    expect_list(db, &f, want, 6);

    /* in a transaction, a run begun in it comes first */
    inmem_txn *t;
    inmem_run_id mine, got[8];
    size_t n;
    inmem_run_options o;
    inmem_run_options_init(&o);
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_run_begin(t, &o, &mine));
    assert_ok(inmem_run_list(t, NULL, NULL, 8, got, &n));
    assert_int_equal(n, 7);
    assert_id_equal(&got[0], &mine);
    for (int i = 0; i < 6; i++)
        assert_id_equal(&got[i + 1], &want[i]);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void run_list_filters_by_status_tag_parent_and_namespace(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    const char *t1[] = {"t1"}, *t12[] = {"t1", "t2"}, *t2[] = {"t2"};
    inmem_run_id r0 = begin_run(db, NULL, "acme", "a1", "x", t1, 1);
    inmem_run_id r1 = begin_run(db, &r0, "acme", "a1", "y", t12, 2);
    inmem_run_id r2 = begin_run(db, &r0, "acme", "a2", "x", t2, 1);
    inmem_run_id r3 = begin_run(db, &r1, "beta", "a1", "x", NULL, 0);
    inmem_run_id r4 = begin_run(db, NULL, NULL, NULL, NULL, t1, 1);
    inmem_run_id r5 = begin_run(db, NULL, NULL, "a1", "x", NULL, 0); /* app and agent only */
    assert_ok(inmem_run_end_db(db, &r1, INMEM_RUN_COMPLETED));
    assert_ok(inmem_run_end_db(db, &r3, INMEM_RUN_FAILED));

    inmem_run_filter f = {0};
    f.status = INMEM_RUN_ACTIVE;
    expect_list(db, &f, (inmem_run_id[]){r5, r4, r2, r0}, 4);
    f.status = INMEM_RUN_COMPLETED;
    expect_list(db, &f, (inmem_run_id[]){r1}, 1);
    f.status = INMEM_RUN_CANCELLED;
    expect_list(db, &f, NULL, 0);

    memset(&f, 0, sizeof f);
    f.tag = "t1";
    expect_list(db, &f, (inmem_run_id[]){r4, r1, r0}, 3);
    f.tag = "t2";
    expect_list(db, &f, (inmem_run_id[]){r2, r1}, 2);
    f.tag = "t"; /* a tag is matched whole, not as a prefix */
    expect_list(db, &f, NULL, 0);
    f.tag = ""; /* empty: any */
    expect_list(db, &f, (inmem_run_id[]){r5, r4, r3, r2, r1, r0}, 6);

    memset(&f, 0, sizeof f);
    f.parent = &r0; /* the children of r0 */
    expect_list(db, &f, (inmem_run_id[]){r2, r1}, 2);
    f.parent = &r1;
    expect_list(db, &f, (inmem_run_id[]){r3}, 1);
    f.parent = &r3;
    expect_list(db, &f, NULL, 0);
    inmem_run_id zero = {{0}};
    f.parent = &zero; /* the root runs */
    expect_list(db, &f, (inmem_run_id[]){r5, r4, r0}, 3);

    memset(&f, 0, sizeof f);
    f.tenant = "acme";
    expect_list(db, &f, (inmem_run_id[]){r2, r1, r0}, 3);
    f.app = "a1";
    expect_list(db, &f, (inmem_run_id[]){r1, r0}, 2);
    f.agent = "x";
    expect_list(db, &f, (inmem_run_id[]){r0}, 1);
    f.tenant = "acm"; /* a tenant is matched whole, not as a prefix */
    expect_list(db, &f, NULL, 0);
    f.tenant = NULL; /* app and agent without a tenant */
    expect_list(db, &f, (inmem_run_id[]){r5, r3, r0}, 3);
    f.app = NULL;
    expect_list(db, &f, (inmem_run_id[]){r5, r3, r2, r0}, 4);
    f.tenant = "acme"; /* tenant and agent, any app */
    expect_list(db, &f, (inmem_run_id[]){r2, r0}, 2);

    /* combined */
    memset(&f, 0, sizeof f);
    f.tenant = "acme";
    f.tag = "t2";
    f.status = INMEM_RUN_ACTIVE;
    expect_list(db, &f, (inmem_run_id[]){r2}, 1);
    memset(&f, 0, sizeof f);
    f.parent = &r0;
    f.status = INMEM_RUN_COMPLETED;
    expect_list(db, &f, (inmem_run_id[]){r1}, 1);
    f.tag = "t2";
    f.tenant = "acme";
    f.app = "a1";
    f.agent = "y";
    expect_list(db, &f, (inmem_run_id[]){r1}, 1);
    f.agent = "x";
    expect_list(db, &f, NULL, 0);
    memset(&f, 0, sizeof f);
    f.tenant = "beta";
    f.app = "a1";
    f.agent = "x";
    f.status = INMEM_RUN_FAILED;
    expect_list(db, &f, (inmem_run_id[]){r3}, 1);
    f.status = INMEM_RUN_ACTIVE;
    expect_list(db, &f, NULL, 0);
    memset(&f, 0, sizeof f);
    f.tag = "t1";
    f.status = INMEM_RUN_ACTIVE;
    expect_list(db, &f, (inmem_run_id[]){r4, r0}, 2);
    assert_ok(inmem_db_close(db));
}

/* Pages through @p f with page size @p limit; checks the union equals one big list. */
static void check_paging(inmem_db *db, const inmem_run_filter *f, size_t limit, size_t expect)
{
    inmem_run_id all[64], got[64], page[64];
    size_t nall, ngot = 0, n;
    assert_ok(inmem_run_list_db(db, f, NULL, 64, all, &nall));
    assert_int_equal(nall, expect);
    const inmem_run_id *after = NULL;
    for (int guard = 0; guard < 100; guard++) {
        assert_ok(inmem_run_list_db(db, f, after, limit, page, &n));
        assert_true(n <= limit);
        for (size_t i = 0; i < n; i++)
            got[ngot++] = page[i];
        if (n < limit)
            break;
        after = &got[ngot - 1];
    }
    assert_int_equal(ngot, nall);
    for (size_t i = 0; i < ngot; i++)
        assert_id_equal(&got[i], &all[i]); /* each exactly once, in order */
}

static void run_list_pages_with_limit_and_cursor_return_each_run_once(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    const char *even[] = {"even"};
    inmem_run_id r[23];
    for (int i = 0; i < 23; i++)
        r[i] = begin_run(db, NULL, "acme", NULL, NULL, i % 2 ? NULL : even, i % 2 ? 0 : 1);
    inmem_run_filter tag = {0}, ten = {0}, act = {0};
    tag.tag = "even";
    ten.tenant = "acme";
    act.status = INMEM_RUN_ACTIVE;
    act.tag = "even"; /* not covered by one index: metadata checked */
    for (size_t limit = 1; limit <= 24; limit += 4) {
        check_paging(db, NULL, limit, 23);
        check_paging(db, &tag, limit, 12);
        check_paging(db, &ten, limit, 23);
        check_paging(db, &act, limit, 12);
    }
    check_paging(db, NULL, 23, 23); /* an exact multiple: the last page is empty */

    /* a cursor whose run is deleted in between still resumes in place */
    inmem_run_id page[5];
    size_t n;
    assert_ok(inmem_run_list_db(db, NULL, NULL, 5, page, &n));
    assert_int_equal(n, 5);
    assert_id_equal(&page[4], &r[18]);
    assert_ok(inmem_run_delete_db(db, &r[18]));
    assert_ok(inmem_run_list_db(db, NULL, &r[18], 5, page, &n));
    assert_int_equal(n, 5);
    assert_id_equal(&page[0], &r[17]);
    assert_id_equal(&page[4], &r[13]);

    /* limit 0 writes nothing and may take a NULL array */
    n = 7;
    assert_ok(inmem_run_list_db(db, NULL, NULL, 0, NULL, &n));
    assert_int_equal(n, 0);
    assert_ok(inmem_db_close(db));
}

/* ---- deletion ------------------------------------------------------------------------------ */

/* Writes data of every primitive into @p run's range: KV through the API, raw keys otherwise. */
static void fill_run(inmem_db *db, const inmem_run_id *run)
{
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    for (int i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof k, "key%02d", i);
        assert_ok(inmem_kv_put(t, run, k, strlen(k), "value", 5));
    }
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    raw_put(db, run, INMEM__TAG_EVENT, "stream\x00\x01", "e", 1);
    raw_put(db, run, INMEM__TAG_STATE, "cell", "s", 1);
    raw_put(db, run, INMEM__TAG_TRACE, "span", "t", 1);
    raw_put(db, run, 0xff, "", "x", 1); /* even an unknown tag is the run's */
}

static void run_delete_removes_everything_of_the_run_and_nothing_else(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    /* a ends in 0xff bytes and b is a + 1: the range end must carry */
    inmem_run_id a = id_from("0190a2b3-c4d5-7e6f-8a9b-0c1dffffffff");
    inmem_run_id b = id_from("0190a2b3-c4d5-7e6f-8a9b-0c1e00000000");
    const char *tags[] = {"doomed", "shared-tag"};
    inmem_run_options o;
    inmem_run_options_init(&o);
    o.id = &a;
    o.tenant = "acme";
    o.app = "app";
    o.agent = "agent";
    o.tags = tags;
    o.ntags = 2;
    assert_ok(inmem_run_begin_db(db, &o, NULL));
    o.id = &b;
    o.ntags = 1;
    o.tags = tags + 1;
    assert_ok(inmem_run_begin_db(db, &o, NULL));
    inmem_run_id child = begin_run(db, &a, "acme", NULL, NULL, NULL, 0);
    assert_ok(inmem_run_end_db(db, &a, INMEM_RUN_COMPLETED));
    fill_run(db, &a);
    fill_run(db, &b);
    assert_ok(inmem_put(db, NULL, "global", 6, "g", 1, NULL));
    size_t b_keys = count_run_keys(db, &b), index_keys = count_index_entries(db);
    assert_true(count_run_keys(db, &a) >= 25);
    /* a's index entries: a, s, g x 2, p, n x 3 (tenant, tenant+app, tenant+app+agent) */
    assert_int_equal(count_index_entries_of(db, &a), 8);

    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_run_delete(t, &a));
    assert_rc(INMEM_NOTFOUND, inmem_run_get(t, &a, &(inmem_run_info){0})); /* own delete */
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);

    /* nothing of a remains: metadata, KV, every other tag, index entries */
    assert_int_equal(count_run_keys(db, &a), 0);
    assert_int_equal(count_index_entries_of(db, &a), 0);
    assert_rc(INMEM_NOTFOUND, inmem_get(db, &a, "key00", 5, NULL, NULL, NULL));
    inmem_run_info info;
    assert_rc(INMEM_NOTFOUND, inmem_run_get_db(db, &a, &info));
    inmem_run_filter f = {0};
    expect_list(db, &f, (inmem_run_id[]){child, b}, 2);
    f.tag = "doomed";
    expect_list(db, &f, NULL, 0);
    f.tag = "shared-tag";
    expect_list(db, &f, (inmem_run_id[]){b}, 1);
    memset(&f, 0, sizeof f);
    f.status = INMEM_RUN_COMPLETED;
    expect_list(db, &f, NULL, 0);
    memset(&f, 0, sizeof f);
    f.tenant = "acme";
    f.app = "app";
    f.agent = "agent";
    expect_list(db, &f, (inmem_run_id[]){b}, 1);
    inmem_run_id zero = {{0}};
    memset(&f, 0, sizeof f);
    f.parent = &zero;
    expect_list(db, &f, (inmem_run_id[]){b}, 1);

    /* the other run, the shared scope and the child are untouched; the child keeps its parent */
    assert_int_equal(count_run_keys(db, &b), b_keys);
    assert_int_equal(count_index_entries(db), index_keys - 8);
    assert_ok(inmem_get(db, &b, "key19", 5, NULL, NULL, NULL));
    void *v;
    size_t vlen;
    assert_ok(inmem_get(db, NULL, "global", 6, &v, &vlen, NULL));
    assert_int_equal(vlen, 1);
    inmem_free(v);
    assert_ok(inmem_run_get_db(db, &child, &info));
    assert_int_equal(info.has_parent, 1);
    assert_id_equal(&info.parent, &a);
    f.parent = &a;
    expect_list(db, &f, (inmem_run_id[]){child}, 1);

    /* gone for good */
    assert_rc(INMEM_NOTFOUND, inmem_run_delete_db(db, &a));
    assert_rc(INMEM_NOTFOUND, inmem_run_end_db(db, &a, INMEM_RUN_ARCHIVED));
    /* its id can be begun again, from scratch */
    o.id = &a;
    o.ntags = 0;
    assert_ok(inmem_run_begin_db(db, &o, NULL));
    assert_int_equal(count_run_keys(db, &a), 1);

    /* a run whose id is all 0xff: its range has no upper bound but is still just its own */
    inmem_run_id top;
    memset(top.bytes, 0xff, 16);
    o.id = &top;
    assert_ok(inmem_run_begin_db(db, &o, NULL));
    fill_run(db, &top);
    assert_ok(inmem_run_delete_db(db, &top));
    assert_int_equal(count_run_keys(db, &top), 0);
    assert_int_equal(count_run_keys(db, &b), b_keys);
    assert_ok(inmem_db_close(db));
}

static void run_begin_aborted_leaves_no_run_and_no_index_entry(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id parent = begin_plain(db);
    size_t index_before = count_index_entries(db);
    const char *tags[] = {"a", "b"};
    inmem_run_options o;
    inmem_run_options_init(&o);
    o.parent = &parent;
    o.tenant = "acme";
    o.tags = tags;
    o.ntags = 2;
    inmem_txn *t;
    inmem_run_id r;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_run_begin(t, &o, &r));
    assert_ok(inmem_kv_put(t, &r, "k", 1, "v", 1));
    assert_ok(inmem_run_end(t, &parent, INMEM_RUN_FAILED));
    assert_ok(inmem_txn_abort(t));
    inmem_txn_free(t);

    inmem_run_info info;
    assert_rc(INMEM_NOTFOUND, inmem_run_get_db(db, &r, &info));
    assert_int_equal(count_run_keys(db, &r), 0);
    assert_int_equal(count_index_entries_of(db, &r), 0);
    assert_int_equal(count_index_entries(db), index_before);
    assert_ok(inmem_run_get_db(db, &parent, &info));
    assert_int_equal(info.status, INMEM_RUN_ACTIVE);
    expect_list(db, NULL, &parent, 1);

    /* an aborted delete leaves the run whole */
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_run_delete(t, &parent));
    inmem_txn_free(t);
    assert_int_equal(count_index_entries(db), index_before);
    assert_ok(inmem_run_get_db(db, &parent, &info));
    assert_ok(inmem_db_close(db));
}

static void run_begun_and_deleted_in_one_transaction_leaves_nothing(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    const char *tags[] = {"tmp"};
    inmem_run_options o;
    inmem_run_options_init(&o);
    o.tenant = "acme";
    o.app = "app";
    o.tags = tags;
    o.ntags = 1;
    inmem_txn *t;
    inmem_run_id r;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_run_begin(t, &o, &r));
    assert_ok(inmem_kv_put(t, &r, "k", 1, "v", 1));
    assert_ok(inmem_run_end(t, &r, INMEM_RUN_FAILED));
    assert_ok(inmem_run_delete(t, &r));
    inmem_run_id ids[2];
    size_t n;
    assert_ok(inmem_run_list(t, NULL, NULL, 2, ids, &n));
    assert_int_equal(n, 0);
    assert_rc(INMEM_NOTFOUND, inmem_kv_get(t, &r, "k", 1, NULL, NULL, NULL));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_int_equal(count_run_keys(db, &r), 0);
    assert_int_equal(count_index_entries(db), 0);
    assert_ok(inmem_db_close(db));
}

/* The history of a run's key as "deleted" / "value=<bytes>" entries, newest first. */
static void key_history(inmem_db *db, const inmem_run_id *run, const char *key, char *out,
                        size_t cap)
{
    inmem_txn *t = test_begin(db);
    inmem_version_info v[8];
    size_t n = 0, len = 0;
    assert_ok(inmem_kv_history(t, run, key, strlen(key), 0, 8, v, &n));
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = v[i].deleted ? snprintf(out + len, cap - len, "deleted;")
                             : snprintf(out + len, cap - len, "value=%.*s;", (int)v[i].len,
                                        (const char *)v[i].value);
        assert_true(w > 0 && (size_t)w < cap - len);
        len += (size_t)w;
    }
    inmem_txn_free(t);
}

/* Deletion is erasure of every key of the run, values whose time to live has passed included:
 * the erase walk used to skip them as reads do (they read as absent), so they got no tombstone
 * and their bytes stayed, shown by inmem_kv_history() on the deleted run, and again once its id
 * was begun again. Without history and with it; a value already expired when written in the
 * deleting transaction itself too. An expired key must end as a plain key of the run does. */
static void run_delete_erases_values_whose_time_to_live_passed(void **state)
{
    (void)state;
    for (int hist = 0; hist < 2; hist++) {
        inmem_options o;
        inmem_options_init(&o);
        o.durability = INMEM_DURABILITY_NONE;
        o.ttl_sweep_interval_ms = 0; /* no sweeper: only the run's deletion may remove them */
        o.history_ms = hist ? 60000 : 0;
        inmem_db *db = NULL;
        assert_ok(inmem_db_open(NULL, &o, &db));
        inmem__clock_set_override(T0);
        inmem_run_id run = begin_plain(db);
        inmem_txn *t = test_begin(db);
        assert_ok(inmem_kv_put(t, &run, "plain", 5, "PLAIN", 5));
        assert_ok(inmem_kv_put_expire_at(t, &run, "expired", 7, "EXPIRED", 7, T0 + 50));
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
        inmem__clock_set_override(T0 + 100); /* past its expiry */
        t = test_begin(db);
        assert_ok(inmem_kv_put_expire_at(t, &run, "pending", 7, "PENDING", 7, T0 + 1));
        assert_ok(inmem_run_delete(t, &run));
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
        assert_int_equal(count_run_keys(db, &run), 0);
        for (int i = 0; i < 100; i++) /* collections run meanwhile */
            assert_ok(inmem_put(db, NULL, "other", 5, "x", 1, NULL));
        char plain[256], expired[256], pending[256];
        for (int again = 0; again < 2; again++) {
            key_history(db, &run, "plain", plain, sizeof plain);
            key_history(db, &run, "expired", expired, sizeof expired);
            key_history(db, &run, "pending", pending, sizeof pending);
            if (strstr(plain, "value=") || strcmp(expired, plain) || strcmp(pending, plain))
                fail_msg("history %d, run begun again %d: plain \"%s\", expired \"%s\", "
                         "pending \"%s\"",
                         hist, again, plain, expired, pending);
            inmem_run_options ro;
            inmem_run_options_init(&ro);
            ro.id = &run;
            if (!again)
                assert_ok(inmem_run_begin_db(db, &ro, NULL));
        }
        inmem__clock_set_override(0);
        assert_ok(inmem_db_close(db));
    }
}

/* Without retention, a run's deletion frees the run's values at its commit, unless an open
 * transaction still sees them (then at that transaction's end), rather than at the next
 * collection, up to 8 commits later: inmem_kv_history() on the deleted run right after shows no
 * value, whatever the collector's count of commits was when the delete came. */
static void run_delete_frees_the_runs_values_at_its_commit(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    char hist[256];
    for (int round = 0; round < 16; round++) { /* every phase of the collector's count */
        inmem_run_id run = begin_plain(db);
        assert_ok(inmem_put(db, &run, "k", 1, "SECRET", 6, NULL));
        for (int i = 0; i < round % 3; i++)
            assert_ok(inmem_put(db, NULL, "other", 5, "x", 1, NULL));
        inmem_txn *reader = round % 4 == 3 ? test_begin(db) : NULL; /* sees the value */
        if (round % 2) {
            assert_ok(inmem_run_delete_db(db, &run));
        } else {
            inmem_txn *t = test_begin(db);
            assert_ok(inmem_run_delete(t, &run));
            assert_ok(inmem_txn_commit(t));
            inmem_txn_free(t);
        }
        if (reader) { /* what a snapshot sees is kept for it, and freed at its end */
            inmem_version_info v[4];
            size_t n = 0;
            assert_ok(inmem_kv_history(reader, &run, "k", 1, 0, 4, v, &n));
            assert_true(n >= 1 && !v[0].deleted);
            inmem_txn_free(reader);
        }
        key_history(db, &run, "k", hist, sizeof hist);
        if (strstr(hist, "value="))
            fail_msg("round %d: the deleted run's key still has \"%s\"", round, hist);
    }
    assert_ok(inmem_db_close(db));
}

static void run_concurrent_begins_of_one_id_and_concurrent_ends_conflict(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id id = id_from("0190a2b3-c4d5-7e6f-8a9b-0c1d2e3f4a5b");
    inmem_run_options o;
    inmem_run_options_init(&o);
    o.id = &id;
    inmem_txn *t1, *t2;
    assert_ok(inmem_txn_begin(db, &t1));
    assert_ok(inmem_txn_begin(db, &t2));
    assert_ok(inmem_run_begin(t1, &o, NULL));
    o.tenant = "second";
    assert_ok(inmem_run_begin(t2, &o, NULL)); /* neither sees the other yet */
    assert_ok(inmem_txn_commit(t1));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t2));
    inmem_txn_free(t1);
    inmem_txn_free(t2);
    inmem_run_info info;
    assert_ok(inmem_run_get_db(db, &id, &info));
    assert_string_equal(info.tenant, "");
    expect_list(db, NULL, &id, 1);

    /* two ends racing: the second committer conflicts, one status wins */
    assert_ok(inmem_txn_begin(db, &t1));
    assert_ok(inmem_txn_begin(db, &t2));
    assert_ok(inmem_run_end(t1, &id, INMEM_RUN_COMPLETED));
    assert_ok(inmem_run_end(t2, &id, INMEM_RUN_FAILED));
    assert_ok(inmem_txn_commit(t1));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t2));
    inmem_txn_free(t1);
    inmem_txn_free(t2);
    assert_ok(inmem_run_get_db(db, &id, &info));
    assert_int_equal(info.status, INMEM_RUN_COMPLETED);
    inmem_run_filter f = {0};
    f.status = INMEM_RUN_FAILED;
    expect_list(db, &f, NULL, 0);

    /* a child begun while its parent is deleted: one of them conflicts */
    assert_ok(inmem_txn_begin(db, &t1));
    assert_ok(inmem_txn_begin(db, &t2));
    assert_ok(inmem_run_delete(t1, &id));
    inmem_run_options_init(&o);
    o.parent = &id;
    inmem_run_id child;
    assert_ok(inmem_run_begin(t2, &o, &child));
    assert_ok(inmem_txn_commit(t1));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t2));
    inmem_txn_free(t1);
    inmem_txn_free(t2);
    assert_rc(INMEM_NOTFOUND, inmem_run_get_db(db, &child, &info));
    assert_int_equal(count_index_entries(db), 0);
    assert_ok(inmem_db_close(db));
}

/* ---- persistence -------------------------------------------------------------------------- */

static void run_metadata_and_indexes_persist_across_close_and_reopen(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db;
    assert_ok(inmem_db_open(dir, NULL, &db)); /* default options: batched */
    const char *tags[] = {"nightly", "eval"};
    inmem__clock_set_override(T0);
    inmem_run_id p = begin_run(db, NULL, "acme", "bench", "runner", tags, 2);
    inmem_run_id c = begin_run(db, &p, "acme", "bench", "worker", tags + 1, 1);
    inmem_run_id gone = begin_run(db, &p, "acme", NULL, NULL, tags, 1);
    fill_run(db, &gone);
    inmem__clock_set_override(T0 + 42);
    assert_ok(inmem_run_end_db(db, &c, INMEM_RUN_CANCELLED));
    assert_ok(inmem_run_delete_db(db, &gone));
    inmem__clock_set_override(0);
    size_t index_keys = count_index_entries(db);
    assert_ok(inmem_db_close(db));

    assert_ok(inmem_db_open(dir, NULL, &db));
    inmem_run_info info;
    assert_ok(inmem_run_get_db(db, &p, &info));
    assert_int_equal(info.status, INMEM_RUN_ACTIVE);
    assert_int_equal(info.created_ms, T0);
    assert_int_equal(info.has_parent, 0);
    assert_string_equal(info.tenant, "acme");
    assert_string_equal(info.app, "bench");
    assert_string_equal(info.agent, "runner");
    assert_int_equal(info.ntags, 2);
    assert_string_equal(info.tags[1], "eval");
    assert_ok(inmem_run_get_db(db, &c, &info));
    assert_int_equal(info.status, INMEM_RUN_CANCELLED);
    assert_int_equal(info.ended_ms, T0 + 42);
    assert_id_equal(&info.parent, &p);
    assert_string_equal(info.agent, "worker");
    assert_rc(INMEM_NOTFOUND, inmem_run_get_db(db, &gone, &info));
    assert_int_equal(count_run_keys(db, &gone), 0);
    assert_int_equal(count_index_entries(db), index_keys);

    expect_list(db, NULL, (inmem_run_id[]){c, p}, 2);
    inmem_run_filter f = {0};
    f.parent = &p;
    expect_list(db, &f, (inmem_run_id[]){c}, 1);
    memset(&f, 0, sizeof f);
    f.status = INMEM_RUN_CANCELLED;
    expect_list(db, &f, (inmem_run_id[]){c}, 1);
    memset(&f, 0, sizeof f);
    f.tag = "nightly";
    expect_list(db, &f, (inmem_run_id[]){p}, 1);
    memset(&f, 0, sizeof f);
    f.tenant = "acme";
    f.app = "bench";
    expect_list(db, &f, (inmem_run_id[]){c, p}, 2);
    /* and the reopened database keeps working: archive after reopen */
    assert_ok(inmem_run_end_db(db, &c, INMEM_RUN_ARCHIVED));
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* ---- bad input ----------------------------------------------------------------------------- */

static void run_bad_input_gets_clear_errors_and_writes_nothing(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id r = begin_plain(db), missing, out;
    assert_ok(inmem_run_id_new(&missing));
    inmem_run_options o;
    inmem_run_options_init(&o);
    inmem_run_info info;
    inmem_run_id ids[4];
    size_t n;
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));

    /* NULL arguments */
    assert_rc(INMEM_EINVAL, inmem_run_begin(NULL, &o, &out));
    assert_rc(INMEM_EINVAL, inmem_run_begin_db(NULL, &o, &out));
    assert_rc(INMEM_EINVAL, inmem_run_end(NULL, &r, INMEM_RUN_COMPLETED));
    assert_rc(INMEM_EINVAL, inmem_run_end(t, NULL, INMEM_RUN_COMPLETED));
    assert_rc(INMEM_EINVAL, inmem_run_end_db(NULL, &r, INMEM_RUN_COMPLETED));
    assert_rc(INMEM_EINVAL, inmem_run_end_db(db, NULL, INMEM_RUN_COMPLETED));
    assert_rc(INMEM_EINVAL, inmem_run_get(NULL, &r, &info));
    assert_rc(INMEM_EINVAL, inmem_run_get(t, NULL, &info));
    assert_rc(INMEM_EINVAL, inmem_run_get(t, &r, NULL));
    assert_rc(INMEM_EINVAL, inmem_run_get_db(NULL, &r, &info));
    assert_rc(INMEM_EINVAL, inmem_run_get_db(db, NULL, &info));
    assert_rc(INMEM_EINVAL, inmem_run_get_db(db, &r, NULL));
    assert_rc(INMEM_EINVAL, inmem_run_list(NULL, NULL, NULL, 4, ids, &n));
    assert_rc(INMEM_EINVAL, inmem_run_list(t, NULL, NULL, 4, NULL, &n));
    assert_rc(INMEM_EINVAL, inmem_run_list(t, NULL, NULL, 4, ids, NULL));
    assert_rc(INMEM_EINVAL, inmem_run_list_db(NULL, NULL, NULL, 4, ids, &n));
    assert_rc(INMEM_EINVAL, inmem_run_list_db(db, NULL, NULL, 4, NULL, &n));
    assert_rc(INMEM_EINVAL, inmem_run_list_db(db, NULL, NULL, 4, ids, NULL));
    assert_rc(INMEM_EINVAL, inmem_run_delete(NULL, &r));
    assert_rc(INMEM_EINVAL, inmem_run_delete(t, NULL));
    assert_rc(INMEM_EINVAL, inmem_run_delete_db(NULL, &r));
    assert_rc(INMEM_EINVAL, inmem_run_delete_db(db, NULL));
    inmem_run_options_init(NULL); /* accepted, does nothing */

    /* tags: too many, empty, duplicate, too long, missing array */
    const char *many[INMEM_MAX_TAGS + 1];
    char buf[INMEM_MAX_TAGS + 1][16];
    for (int i = 0; i <= INMEM_MAX_TAGS; i++) {
        snprintf(buf[i], sizeof buf[i], "t%d", i);
        many[i] = buf[i];
    }
    o.tags = many;
    o.ntags = INMEM_MAX_TAGS + 1;
    assert_rc(INMEM_EINVAL, inmem_run_begin(t, &o, &out));
    char toolong[INMEM_NAME_MAX + 1];
    memset(toolong, 'x', INMEM_NAME_MAX);
    toolong[INMEM_NAME_MAX] = '\0';
    const char *bad_tags[][2] = {{"ok", ""}, {"dup", "dup"}, {"ok", toolong}};
    const int bad_rc[] = {INMEM_EINVAL, INMEM_EINVAL, INMEM_ETOOBIG};
    for (int i = 0; i < 3; i++) {
        o.tags = bad_tags[i];
        o.ntags = 2;
        assert_rc(bad_rc[i], inmem_run_begin(t, &o, &out));
    }
    o.tags = NULL;
    o.ntags = 1;
    assert_rc(INMEM_EINVAL, inmem_run_begin(t, &o, &out));
    inmem_run_options_init(&o);

    /* namespace parts too long (63 bytes is the longest name, this one has 64) */
    o.tenant = toolong;
    assert_rc(INMEM_ETOOBIG, inmem_run_begin(t, &o, &out));
    o.tenant = NULL;
    o.app = toolong;
    assert_rc(INMEM_ETOOBIG, inmem_run_begin(t, &o, &out));
    o.app = NULL;
    o.agent = toolong;
    assert_rc(INMEM_ETOOBIG, inmem_run_begin(t, &o, &out));
    inmem_run_options_init(&o);

    /* a parent that does not exist */
    o.parent = &missing;
    assert_rc(INMEM_EINVAL, inmem_run_begin(t, &o, &out));
    assert_rc(INMEM_EINVAL, inmem_run_begin_db(db, &o, &out));
    inmem_run_options_init(&o);

    /* missing runs; the shared scope is no run */
    inmem_run_id zero = {{0}};
    assert_rc(INMEM_NOTFOUND, inmem_run_end(t, &missing, INMEM_RUN_COMPLETED));
    assert_rc(INMEM_NOTFOUND, inmem_run_end_db(db, &missing, INMEM_RUN_COMPLETED));
    assert_rc(INMEM_NOTFOUND, inmem_run_get(t, &missing, &info));
    assert_rc(INMEM_NOTFOUND, inmem_run_get_db(db, &missing, &info));
    assert_rc(INMEM_NOTFOUND, inmem_run_delete(t, &missing));
    assert_rc(INMEM_NOTFOUND, inmem_run_delete_db(db, &missing));
    assert_rc(INMEM_NOTFOUND, inmem_run_get(t, &zero, &info));
    assert_rc(INMEM_EINVAL, inmem_run_delete(t, &zero));
    assert_rc(INMEM_EINVAL, inmem_run_delete_db(db, &zero));

    /* statuses out of range */
    assert_rc(INMEM_EINVAL, inmem_run_end(t, &r, (inmem_run_status)0));
    assert_rc(INMEM_EINVAL, inmem_run_end(t, &r, (inmem_run_status)6));
    inmem_run_filter f = {0};
    f.status = (inmem_run_status)9;
    assert_rc(INMEM_EINVAL, inmem_run_list(t, &f, NULL, 4, ids, &n));
    memset(&f, 0, sizeof f);
    f.tag = toolong;
    assert_rc(INMEM_ETOOBIG, inmem_run_list(t, &f, NULL, 4, ids, &n));
    memset(&f, 0, sizeof f);
    f.agent = toolong;
    assert_rc(INMEM_ETOOBIG, inmem_run_list_db(db, &f, NULL, 4, ids, &n));

    /* none of it wrote anything */
    inmem_txn_info ti;
    assert_ok(inmem_txn_describe(t, &ti));
    assert_int_equal(ti.write_set_size, 0);
    assert_ok(inmem_txn_commit(t));
    /* a finished transaction is refused */
    assert_rc(INMEM_ETXNDONE, inmem_run_begin(t, &o, &out));
    assert_rc(INMEM_ETXNDONE, inmem_run_get(t, &r, &info));
    inmem_txn_free(t);
    expect_list(db, NULL, &r, 1);
    assert_ok(inmem_db_close(db));
}

/* Puts @p val as @p run's metadata record. */
static void put_meta(inmem_db *db, const inmem_run_id *run, const void *val, size_t vlen)
{
    raw_put(db, run, INMEM__TAG_RUN, "m", val, vlen);
}

static void run_metadata_that_does_not_decode_gives_ecorrupt(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    const char *tags[] = {"tag"};
    inmem_run_id parent = begin_plain(db);
    inmem_run_id r = begin_run(db, &parent, "acme", "app", "agent", tags, 1);
    /* the good record */
    uint8_t good[512];
    size_t glen;
    {
        uint8_t key[INMEM__KEY_PREFIX + 1];
        inmem__key_prefix(key, &r, INMEM__TAG_RUN);
        key[INMEM__KEY_PREFIX] = 'm';
        inmem_txn *t;
        const void *val;
        assert_ok(inmem_txn_begin(db, &t));
        assert_ok(inmem__txn_get(t, key, sizeof key, &val, &glen, NULL));
        assert_true(glen <= sizeof good);
        memcpy(good, val, glen);
        inmem_txn_free(t);
    }
    inmem_run_info info;
    uint8_t bad[513];

    /* every truncation of it */
    for (size_t len = 0; len < glen; len++) {
        put_meta(db, &r, good, len);
        assert_rc(INMEM_ECORRUPT, inmem_run_get_db(db, &r, &info));
    }
    /* a trailing byte */
    memcpy(bad, good, glen);
    bad[glen] = 0;
    put_meta(db, &r, bad, glen + 1);
    assert_rc(INMEM_ECORRUPT, inmem_run_get_db(db, &r, &info));
    /* single-byte damage at documented offsets */
    const struct {
        size_t off;
        uint8_t val;
    } damage[] = {
        {0, 2},         /* unknown format */
        {1, 0},         /* status 0 */
        {1, 6},         /* status beyond archived */
        {2, 2},         /* unknown flag */
        {2, 0},         /* no parent flag, yet a parent id */
        {35, 64},       /* tenant length beyond a name */
        {35, 3},        /* tenant length disagrees with its NUL */
        {37, 0},        /* a NUL inside the tenant */
        {glen - 6, 17}, /* ntags beyond INMEM_MAX_TAGS (1 tag "tag": 1+3+1 bytes follow it) */
        {glen - 6, 0},  /* ntags 0 but a tag follows */
    };
    assert_int_equal(good[glen - 6], 1);
    for (size_t i = 0; i < sizeof damage / sizeof damage[0]; i++) {
        memcpy(bad, good, glen);
        bad[damage[i].off] = damage[i].val;
        put_meta(db, &r, bad, glen);
        if (inmem_run_get_db(db, &r, &info) != INMEM_ECORRUPT)
            fail_msg("damage %zu (offset %zu = %u) decoded", i, damage[i].off, damage[i].val);
    }
    /* a parent flag with an all-zero parent */
    memcpy(bad, good, glen);
    memset(bad + 3, 0, 16);
    put_meta(db, &r, bad, glen);
    assert_rc(INMEM_ECORRUPT, inmem_run_get_db(db, &r, &info));

    /* every operation that reads it says so, and nothing crashes */
    put_meta(db, &r, "\x01garbage", 8);
    assert_rc(INMEM_ECORRUPT, inmem_run_get_db(db, &r, &info));
    assert_rc(INMEM_ECORRUPT, inmem_run_end_db(db, &r, INMEM_RUN_COMPLETED));
    assert_rc(INMEM_ECORRUPT, inmem_run_delete_db(db, &r));
    inmem_run_options o;
    inmem_run_options_init(&o);
    o.parent = &r;
    assert_rc(INMEM_ECORRUPT, inmem_run_begin_db(db, &o, NULL));
    o.parent = NULL;
    o.id = &r;
    assert_rc(INMEM_ECORRUPT, inmem_run_begin_db(db, &o, NULL));
    inmem_run_filter f = {0};
    inmem_run_id ids[4];
    size_t n;
    f.tag = "tag";
    f.status = INMEM_RUN_ACTIVE; /* needs the metadata */
    assert_rc(INMEM_ECORRUPT, inmem_run_list_db(db, &f, NULL, 4, ids, &n));
    f.status = 0; /* the tag index alone answers */
    assert_ok(inmem_run_list_db(db, &f, NULL, 4, ids, &n));
    assert_int_equal(n, 1);

    /* a damaged index entry too */
    uint8_t ikey[1 + 16];
    ikey[0] = 'a';
    memset(ikey + 1, 0x55, 16);
    inmem_txn *t;
    inmem__keybuf kb;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem__keybuf_make(&kb, NULL, INMEM__TAG_RUN, ikey, sizeof ikey));
    assert_ok(inmem__txn_put(t, kb.p, kb.len, "\x07", 1, 0));
    inmem__keybuf_done(&kb);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_rc(INMEM_ECORRUPT, inmem_run_list_db(db, NULL, NULL, 4, ids, &n));
    assert_ok(inmem_db_close(db));
}

/* ---- ids ----------------------------------------------------------------------------------- */

static void run_id_of_a_begun_run_formats_and_parses_back(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id r = begin_run(db, NULL, "acme", NULL, NULL, NULL, 0), back;
    char s[INMEM_RUN_ID_STRLEN + 1];
    assert_ok(inmem_run_id_format(&r, s));
    assert_int_equal(strlen(s), INMEM_RUN_ID_STRLEN);
    assert_int_equal(s[14], '7'); /* version 7 */
    assert_ok(inmem_run_id_parse(s, &back));
    assert_id_equal(&back, &r);
    for (char *p = s; *p; p++) /* either case */
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_ok(inmem_run_id_parse(s, &back));
    inmem_run_info info;
    assert_ok(inmem_run_get_db(db, &back, &info));
    assert_string_equal(info.tenant, "acme");
    assert_int_equal(inmem_run_id_is_shared(&back), 0);
    assert_ok(inmem_db_close(db));
}

/* inmem.h: "opts: NULL for the defaults" */
static void run_begin_with_null_options_uses_the_defaults(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id a, b;
    assert_ok(inmem_run_begin_db(db, NULL, &a));
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_run_begin(t, NULL, &b));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    inmem_run_info info;
    inmem_run_id ids[2];
    assert_ok(inmem_run_get_db(db, &a, &info));
    assert_int_equal(info.status, INMEM_RUN_ACTIVE);
    assert_int_equal(info.has_parent, 0);
    assert_int_equal(info.ntags, 0);
    assert_string_equal(info.tenant, "");
    assert_ok(inmem_run_get_db(db, &b, &info));
    assert_int_equal(info.status, INMEM_RUN_ACTIVE);
    size_t n;
    assert_ok(inmem_run_list_db(db, NULL, NULL, 2, ids, &n));
    assert_int_equal(n, 2);
    assert_ok(inmem_db_close(db));
}

/* inmem_run_list_stored: every id that holds a key of any primitive, begun or not, in id order,
 * never the shared scope, with a cursor; and pending writes of the transaction count. */
static void run_list_stored_covers_runs_never_begun(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id begun = begin_plain(db), kv_only, ev_only, st_only, deleted, pending;
    inmem_run_id last;
    memset(last.bytes, 0xff, 16);
    assert_ok(inmem_run_id_new(&kv_only));
    assert_ok(inmem_run_id_new(&ev_only));
    assert_ok(inmem_run_id_new(&st_only));
    assert_ok(inmem_run_id_new(&deleted));
    assert_ok(inmem_run_id_new(&pending));
    assert_ok(inmem_put(db, &kv_only, "k", 1, "v", 1, NULL));
    assert_ok(inmem_put(db, &last, "k", 1, "v", 1, NULL));
    assert_ok(inmem_event_append_db(db, &ev_only, "s", "t", "p", 1, NULL));
    assert_ok(inmem_state_set_db(db, &st_only, "c", "v", 1, NULL));
    assert_ok(inmem_put(db, &deleted, "k", 1, "v", 1, NULL));
    assert_ok(inmem_delete(db, &deleted, "k", 1, NULL));
    assert_ok(inmem_put(db, NULL, "shared", 6, "v", 1, NULL));

    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put(t, &pending, "k", 1, "v", 1));
    inmem_run_id ids[16];
    size_t n;
    assert_ok(inmem_run_list_stored(t, NULL, 16, ids, &n));
    /* ids are time-ordered: begun < kv_only < ev_only < st_only < pending < last */
    assert_int_equal(n, 6);
    assert_memory_equal(ids[0].bytes, begun.bytes, 16);
    assert_memory_equal(ids[1].bytes, kv_only.bytes, 16);
    assert_memory_equal(ids[2].bytes, ev_only.bytes, 16);
    assert_memory_equal(ids[3].bytes, st_only.bytes, 16);
    assert_memory_equal(ids[4].bytes, pending.bytes, 16);
    assert_memory_equal(ids[5].bytes, last.bytes, 16);
    /* pages of two, resuming after the last id of each page */
    inmem_run_id page[2];
    size_t total = 0;
    const inmem_run_id *after = NULL;
    for (;;) {
        assert_ok(inmem_run_list_stored(t, after, 2, page, &n));
        for (size_t i = 0; i < n; i++)
            assert_memory_equal(page[i].bytes, ids[total + i].bytes, 16);
        total += n;
        if (n < 2)
            break;
        after = &page[1];
    }
    assert_int_equal(total, 6);
    assert_ok(inmem_run_list_stored(t, &last, 16, ids, &n));
    assert_int_equal(n, 0);
    assert_rc(INMEM_EINVAL, inmem_run_list_stored(NULL, NULL, 1, ids, &n));
    assert_rc(INMEM_EINVAL, inmem_run_list_stored(t, NULL, 1, NULL, &n));
    assert_rc(INMEM_EINVAL, inmem_run_list_stored(t, NULL, 1, ids, NULL));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

const struct CMUnitTest runs_tests[] = {
    cmocka_unit_test(run_begin_with_null_options_uses_the_defaults),
    cmocka_unit_test(run_list_stored_covers_runs_never_begun),
    cmocka_unit_test(run_begin_get_round_trips_every_field),
    cmocka_unit_test(run_begin_with_caller_chosen_id_uses_it_and_refuses_a_duplicate),
    cmocka_unit_test(run_end_allows_every_permitted_transition),
    cmocka_unit_test(run_end_refuses_forbidden_transitions_and_changes_nothing),
    cmocka_unit_test(run_list_returns_newest_first),
    cmocka_unit_test(run_list_filters_by_status_tag_parent_and_namespace),
    cmocka_unit_test(run_list_pages_with_limit_and_cursor_return_each_run_once),
    cmocka_unit_test(run_delete_removes_everything_of_the_run_and_nothing_else),
    cmocka_unit_test(run_begin_aborted_leaves_no_run_and_no_index_entry),
    cmocka_unit_test(run_begun_and_deleted_in_one_transaction_leaves_nothing),
    cmocka_unit_test(run_delete_erases_values_whose_time_to_live_passed),
    cmocka_unit_test(run_delete_frees_the_runs_values_at_its_commit),
    cmocka_unit_test(run_concurrent_begins_of_one_id_and_concurrent_ends_conflict),
    cmocka_unit_test(run_metadata_and_indexes_persist_across_close_and_reopen),
    cmocka_unit_test(run_bad_input_gets_clear_errors_and_writes_nothing),
    cmocka_unit_test(run_metadata_that_does_not_decode_gives_ecorrupt),
    cmocka_unit_test(run_id_of_a_begun_run_formats_and_parses_back),
};
INMEM_TEST_COUNT(runs);
