/*
 * test_kv.c — the KV primitive beyond get/put/delete: listing with a cursor, batch get, TTL
 * expiry (with an injected clock, no sleeping) and the sweeper, persistence of TTLs.
 */
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "core/clock.h"
#include "core/key.h"
#include "engine/db.h"
#include "txn/txn_int.h"

static void put_keys(inmem_db *db, const inmem_run_id *run, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char k[32];
        int len = snprintf(k, sizeof k, "%s%03d", prefix, i);
        assert_ok(inmem_put(db, run, k, (size_t)len, k, (size_t)len, NULL));
    }
}

static void kv_list_pages_through_a_prefix_in_key_order(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    put_keys(db, NULL, "doc/", 25);
    put_keys(db, NULL, "img/", 5);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_kv_entry page[10];
    size_t n = 0, seen = 0;
    const void *after = NULL;
    size_t alen = 0;
    char last[32] = "";
    do {
        assert_ok(inmem_kv_list(t, NULL, LIT("doc/"), after, alen, 10, page, &n));
        for (size_t i = 0; i < n; i++) {
            char want[32];
            snprintf(want, sizeof want, "doc/%03zu", seen + i);
            assert_int_equal(page[i].klen, strlen(want));
            assert_memory_equal(page[i].key, want, page[i].klen);
            assert_memory_equal(page[i].val, want, page[i].vlen);
            assert_true(page[i].version > 0);
        }
        seen += n;
        if (n) {
            memcpy(last, page[n - 1].key, page[n - 1].klen);
            after = last;
            alen = page[n - 1].klen;
        }
    } while (n == 10);
    assert_int_equal(seen, 25);
    inmem_txn_free(t);

    /* standalone: one owned block */
    inmem_kv_entry *owned = NULL;
    assert_ok(inmem_kv_list_db(db, NULL, LIT("img/"), NULL, 0, 100, &owned, &n));
    assert_int_equal(n, 5);
    assert_memory_equal(owned[4].key, "img/004", 7);
    inmem_free(owned);
    assert_ok(inmem_db_close(db));
}

/* A cursor may be any key the store accepts, the longest included: listing resumes after it
 * (the search starts at cursor + one 0 byte, a key one byte over the limit, used only as a
 * bound). */
static void kv_list_cursor_of_the_largest_key_size_resumes_after_it(void **state)
{
    (void)state;
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_key_size = 64;
    inmem_db *db;
    assert_ok(inmem_db_open(NULL, &o, &db));
    char big[64], bigger[64];
    memset(big, 'm', sizeof big);
    memcpy(bigger, big, sizeof big);
    bigger[63] = 'n';
    assert_ok(inmem_put(db, NULL, big, sizeof big, LIT("1"), NULL));
    assert_ok(inmem_put(db, NULL, bigger, sizeof bigger, LIT("2"), NULL));
    assert_ok(inmem_put(db, NULL, LIT("z"), LIT("3"), NULL));
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_kv_entry e[4];
    size_t n = 0;
    assert_ok(inmem_kv_list(t, NULL, NULL, 0, big, sizeof big, 4, e, &n));
    assert_int_equal(n, 2);
    assert_int_equal(e[0].klen, sizeof bigger);
    assert_memory_equal(e[0].key, bigger, sizeof bigger);
    assert_memory_equal(e[1].key, "z", 1);
    /* with a prefix the cursor lies in */
    assert_ok(inmem_kv_list(t, NULL, LIT("mm"), big, sizeof big, 4, e, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(e[0].key, bigger, sizeof bigger);
    /* one byte more than the limit is still refused */
    char over[65];
    memset(over, 'm', sizeof over);
    assert_rc(INMEM_ETOOBIG, inmem_kv_list(t, NULL, NULL, 0, over, sizeof over, 4, e, &n));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void kv_get_many_reports_missing_keys(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    assert_ok(inmem_put(db, NULL, LIT("a"), LIT("1"), NULL));
    assert_ok(inmem_put(db, NULL, LIT("c"), LIT("333"), NULL));
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    const void *keys[] = {"a", "b", "c"};
    size_t klens[] = {1, 1, 1};
    inmem_kv_entry out[3];
    assert_ok(inmem_kv_get_many(t, NULL, 3, keys, klens, out));
    assert_memory_equal(out[0].val, "1", 1);
    assert_null(out[1].val);
    assert_int_equal(out[1].version, 0);
    assert_int_equal(out[2].vlen, 3);
    inmem_txn_info info;
    assert_ok(inmem_txn_describe(t, &info));
    assert_int_equal(info.read_set_size, 3); /* the missing key is read-set too */
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* inmem_kv_get_many() reads keys in groups (their cache misses overlapped): across group
 * boundaries it gives exactly what one inmem_kv_get() per key gives — values, versions, missing
 * keys, the transaction's own pending writes and deletes — and a bad key in the middle fails the
 * call with the keys before it read. */
static void kv_get_many_reads_what_single_gets_read(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    enum { N = 45 };
    char names[N][16];
    const void *keys[N];
    size_t klens[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "key-%02d", i);
        keys[i] = names[i];
        klens[i] = strlen(names[i]);
        if (i % 3 != 1) /* every third key missing */
            assert_ok(inmem_put(db, NULL, names[i], klens[i], names[i], klens[i] - i % 4, NULL));
    }
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put(t, NULL, names[7], klens[7], LIT("pending"))); /* a missing key */
    assert_ok(inmem_kv_put(t, NULL, names[9], klens[9], LIT("replaced")));
    assert_ok(inmem_kv_delete(t, NULL, names[12], klens[12]));
    inmem_kv_entry out[N];
    assert_ok(inmem_kv_get_many(t, NULL, N, keys, klens, out));
    for (int i = 0; i < N; i++) {
        const void *val = NULL;
        size_t vlen = 0;
        uint64_t ver = 0;
        int rc = inmem_kv_get(t, NULL, keys[i], klens[i], &val, &vlen, &ver);
        assert_true(out[i].key == keys[i] && out[i].klen == klens[i]);
        if (rc == INMEM_NOTFOUND) {
            assert_null(out[i].val);
            continue;
        }
        assert_ok(rc);
        assert_non_null(out[i].val);
        assert_int_equal(out[i].vlen, vlen);
        assert_memory_equal(out[i].val, val, vlen);
        assert_int_equal(out[i].version, ver);
    }
    assert_memory_equal(out[7].val, "pending", 7);
    assert_memory_equal(out[9].val, "replaced", 8);
    assert_null(out[12].val);
    assert_null(out[13].val);
    /* a key too long in the second group: the call fails, the keys before it were read */
    static char over[4097]; /* max_key_size (4096) + 1 */
    memset(over, 'x', sizeof over);
    keys[11] = over;
    klens[11] = sizeof over;
    memset(out, 0, sizeof out);
    assert_rc(INMEM_ETOOBIG, inmem_kv_get_many(t, NULL, N, keys, klens, out));
    assert_memory_equal(out[8].val, names[8], klens[8] - 8 % 4);
    assert_memory_equal(out[9].val, "replaced", 8);
    assert_true(out[10].key == keys[10] && out[10].val == NULL); /* read: missing */
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void kv_ttl_value_is_invisible_once_expired(void **state)
{
    (void)state;
    inmem__clock_set_override(1000000);
    inmem_db *db = test_open_mem();
    assert_ok(inmem_put_ttl(db, NULL, LIT("session"), LIT("tok"), 500, NULL));
    void *v = NULL;
    assert_ok(inmem_get(db, NULL, LIT("session"), &v, NULL, NULL));
    inmem_free(v);
    inmem__clock_set_override(1000499);
    assert_ok(inmem_get(db, NULL, LIT("session"), NULL, NULL, NULL));
    inmem__clock_set_override(1000500); /* expiry is exclusive: at put time + ttl it is gone */
    assert_rc(INMEM_NOTFOUND, inmem_get(db, NULL, LIT("session"), NULL, NULL, NULL));
    /* scans skip it too */
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_kv_entry e[4];
    size_t n;
    assert_ok(inmem_kv_list(t, NULL, NULL, 0, NULL, 0, 4, e, &n));
    assert_int_equal(n, 0);
    inmem_txn_free(t);
    /* overwriting it without a TTL makes it live again */
    assert_ok(inmem_put(db, NULL, LIT("session"), LIT("new"), NULL));
    assert_ok(inmem_get(db, NULL, LIT("session"), NULL, NULL, NULL));
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

/* A database (in memory when @p dir is NULL) with no sweeper thread: the tests sweep by hand.
 * @p max_txns 0: the default. */
static inmem_db *open_unswept(const char *dir, inmem_durability d, unsigned max_txns)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = d;
    o.ttl_sweep_interval_ms = 0;
    if (max_txns)
        o.max_txns = max_txns;
    inmem_db *db;
    assert_ok(inmem_db_open(dir, &o, &db));
    return db;
}

/* Puts keys <prefix>0 .. <prefix>n-1, value "v", each with a TTL of @p ttl_ms. */
static void put_expiring(inmem_db *db, const char *prefix, int n, uint64_t ttl_ms)
{
    for (int i = 0; i < n; i++) {
        char k[16];
        int len = snprintf(k, sizeof k, "%s%d", prefix, i);
        assert_ok(inmem_put_ttl(db, NULL, k, (size_t)len, LIT("v"), ttl_ms, NULL));
    }
}

static void kv_sweeper_deletes_expired_values_through_transactions(void **state)
{
    (void)state;
    inmem__clock_set_override(5000000);
    inmem_db *db = open_unswept(NULL, INMEM_DURABILITY_NONE, 0);
    for (int i = 0; i < 10; i++) {
        char k[8];
        int len = snprintf(k, sizeof k, "t%d", i);
        assert_ok(inmem_put_ttl(db, NULL, k, (size_t)len, LIT("v"), i < 5 ? 100 : 10000, NULL));
    }
    assert_ok(inmem_put_ttl(db, NULL, LIT("rewritten"), LIT("v"), 100, NULL));
    assert_ok(inmem_put(db, NULL, LIT("rewritten"), LIT("kept"), NULL)); /* no TTL any more */
    inmem_stats s0, s1;
    assert_ok(inmem_db_stats(db, &s0));
    uint64_t removed = 99;
    assert_ok(inmem_db_sweep(db, &removed));
    assert_int_equal(removed, 0); /* nothing due yet */
    inmem__clock_set_override(5000200);
    assert_ok(inmem_db_sweep(db, &removed));
    assert_int_equal(removed, 5); /* t0..t4; not the rewritten key */
    assert_ok(inmem_db_stats(db, &s1));
    /* one transaction each, the sweeper's: they move the version, and are not the user's */
    assert_int_equal(s1.version - s0.version, 5);
    assert_int_equal(s1.expired_swept - s0.expired_swept, 5);
    assert_int_equal(s1.commits - s0.commits, 0);
    assert_ok(inmem_get(db, NULL, LIT("rewritten"), NULL, NULL, NULL));
    assert_ok(inmem_get(db, NULL, LIT("t7"), NULL, NULL, NULL));
    inmem__clock_set_override(5010001);
    assert_ok(inmem_db_sweep(db, &removed));
    assert_int_equal(removed, 5);
    assert_ok(inmem_db_sweep(db, &removed));
    assert_int_equal(removed, 0);
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

static size_t ttl_entries(inmem_db *db)
{
    inmem__mutex_lock(&db->store->commit_mu);
    size_t n = db->store->ttl_n;
    inmem__mutex_unlock(&db->store->commit_mu);
    return n;
}

/* Every value written with a TTL leaves an entry for the sweeper, holding a copy of its key,
 * until it comes due. A key rewritten with a TTL in a loop (a cache entry refreshed at every
 * step) left one entry a write: a million rewrites of one key with a 100-second TTL held ~61 MB
 * (a soak of the Python binding). Entries whose key was written again are now removed as they
 * pile up; the live ones stay, and are swept when due. */
static void kv_rewriting_a_key_with_a_ttl_does_not_pile_up_entries(void **state)
{
    (void)state;
    inmem__clock_set_override(5000000);
    inmem_db *db = open_unswept(NULL, INMEM_DURABILITY_NONE, 0);
    put_expiring(db, "live", 3000, 3600 * 1000); /* distinct keys: every entry stays live */
    put_expiring(db, "soon", 1, 100);
    for (int i = 0; i < 100000; i++) {
        assert_ok(inmem_put_ttl(db, NULL, LIT("hot"), LIT("refreshed"), 3600 * 1000, NULL));
        if (i % 1000 == 0) /* (and overwritten without one: stale too) */
            assert_ok(inmem_put(db, NULL, LIT("hot"), LIT("plain"), NULL));
    }
    size_t n = ttl_entries(db);
    if (n < 3002 || n > 5 * 3002) /* at most 4x the live ones, and what comes during a pass */
        fail_msg("%zu entries for 3,002 live TTL values", n);
    inmem__clock_set_override(5000200);
    uint64_t removed = 0;
    assert_ok(inmem_db_sweep(db, &removed));
    assert_int_equal(removed, 1); /* "soon0", kept by every pass */
    assert_rc(INMEM_NOTFOUND, inmem_get(db, NULL, LIT("soon0"), NULL, NULL, NULL));
    assert_ok(inmem_get(db, NULL, LIT("live2999"), NULL, NULL, NULL));
    inmem__clock_set_override(5000000 + 3600 * 1000 + 1);
    assert_ok(inmem_db_sweep(db, &removed));
    assert_int_equal(removed, 3001); /* the 3,000 and the hot key's last value */
    assert_int_equal(ttl_entries(db), 0);
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

/* The sweeper's transactions are the engine's: one that finds its key rewritten and deletes
 * nothing is not an abort the user asked for (inmem_stats.aborts_user). */
static void kv_sweeper_leaving_a_rewritten_key_is_no_user_abort(void **state)
{
    (void)state;
    inmem__clock_set_override(5000000);
    inmem_db *db = open_unswept(NULL, INMEM_DURABILITY_NONE, 0);
    for (int i = 0; i < 3; i++) {
        char k[8];
        int len = snprintf(k, sizeof k, "r%d", i);
        assert_ok(inmem_put_ttl(db, NULL, k, (size_t)len, LIT("v"), 100, NULL));
        assert_ok(inmem_put(db, NULL, k, (size_t)len, LIT("kept"), NULL)); /* no TTL any more */
    }
    inmem_stats s0 = test_stats(db);
    inmem__clock_set_override(5000200);
    uint64_t removed = 99;
    assert_ok(inmem_db_sweep(db, &removed));
    assert_int_equal(removed, 0);
    inmem_stats s1 = test_stats(db);
    assert_int_equal(s1.aborts_user - s0.aborts_user, 0);
    assert_int_equal(s1.commits - s0.commits, 0);
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

/* The sweeper's commits are not the user's: inmem_stats.expired_swept counts them, commits does
 * not — in every durability mode (a strict commit is counted once its fsync is done) — and a
 * sweeper's transaction that conflicts with a writer is no conflict of the user's either. */
static void kv_sweeper_commits_and_conflicts_are_not_the_users(void **state)
{
    (void)state;
    inmem__clock_set_override(5000000);
    for (int strict = 0; strict < 2; strict++) {
        char dir[64];
        test_tmpdir(dir);
        inmem_db *db = open_unswept(strict ? dir : NULL,
                                    strict ? INMEM_DURABILITY_STRICT : INMEM_DURABILITY_NONE, 0);
        put_expiring(db, "e", 3, 100);
        inmem_stats s0 = test_stats(db);
        assert_int_equal(s0.commits, 3);
        inmem__clock_set_override(5000200);
        uint64_t removed = 0;
        assert_ok(inmem_db_sweep(db, &removed));
        assert_int_equal(removed, 3);
        inmem_stats s1 = test_stats(db);
        if (s1.commits != s0.commits || s1.expired_swept != 3 || s1.version != s0.version + 3)
            fail_msg("%s: after sweeping 3: commits %llu (was %llu), expired_swept %llu, version "
                     "%llu (was %llu)",
                     strict ? "strict" : "none", (unsigned long long)s1.commits,
                     (unsigned long long)s0.commits, (unsigned long long)s1.expired_swept,
                     (unsigned long long)s1.version, (unsigned long long)s0.version);
        /* what sweep_one() does, with a writer's commit between its read and its delete */
        inmem__keybuf kb;
        assert_ok(inmem__keybuf_make(&kb, NULL, INMEM__TAG_KV, "w", 1));
        assert_ok(inmem_put(db, NULL, LIT("w"), LIT("v"), NULL));
        inmem_txn *own;
        assert_ok(inmem__txn_begin_own(db->store, &own));
        uint64_t ver = 0, expiry = 0;
        int tomb = 0;
        assert_ok(inmem__txn_peek(own, kb.p, kb.len, &ver, &expiry, &tomb));
        assert_ok(inmem_put(db, NULL, LIT("w"), LIT("rewritten"), NULL));
        assert_ok(inmem__txn_delete(own, kb.p, kb.len));
        assert_rc(INMEM_CONFLICT, inmem__txn_commit(own));
        inmem__txn_free(own);
        inmem__keybuf_done(&kb);
        inmem_stats s2 = test_stats(db);
        assert_int_equal(s2.commits, s1.commits + 2); /* the two puts */
        assert_int_equal(s2.aborts_read_conflict, 0);
        assert_int_equal(s2.aborts_user, 0);
        assert_int_equal(s2.expired_swept, 3);
        assert_ok(inmem_db_close(db));
        test_rmdir(dir);
        inmem__clock_set_override(5000000);
    }
    inmem__clock_set_override(0);
}

/* An expired value the sweeper cannot delete yet (every transaction slot taken: the engine's
 * own and the application's) is swept by a later sweep, not forgotten until a reopen. */
static void kv_sweeper_retries_what_it_could_not_delete_yet(void **state)
{
    (void)state;
    inmem__clock_set_override(5000000);
    inmem_db *db = open_unswept(NULL, INMEM_DURABILITY_NONE, 2);
    put_expiring(db, "t", 10, 100);
    inmem__clock_set_override(5000200);
    inmem_txn *a, *b, *own[INMEM__ENGINE_SLOTS];
    for (int i = 0; i < INMEM__ENGINE_SLOTS; i++)
        assert_ok(inmem__txn_begin_own(db->store, &own[i]));
    assert_ok(inmem_txn_begin_readonly(db, &a));
    assert_ok(inmem_txn_begin_readonly(db, &b));
    uint64_t removed = 99;
    assert_ok(inmem_db_sweep(db, &removed));
    assert_int_equal(removed, 0); /* no slot for its transactions */
    inmem_txn_free(a);
    inmem_txn_free(b);
    for (int i = 0; i < INMEM__ENGINE_SLOTS; i++)
        inmem__txn_free(own[i]);
    assert_ok(inmem_db_sweep(db, &removed));
    assert_int_equal(removed, 10);
    assert_rc(INMEM_NOTFOUND, inmem_get(db, NULL, LIT("t3"), NULL, NULL, NULL));
    assert_ok(inmem_db_sweep(db, &removed));
    assert_int_equal(removed, 0); /* and each once */
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

/* A listing returns the keys with its prefix after its cursor, whatever the cursor: one that
 * sorts before the prefix, is a proper start of it or is empty starts at the prefix. Both forms;
 * the standalone one with any limit, "all of them" included. */
static void kv_list_never_returns_keys_outside_its_prefix(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    static const char *const keys[] = {"aa", "ab", "abc1", "abc2", "abd", "b"};
    for (size_t i = 0; i < 6; i++)
        assert_ok(inmem_put(db, NULL, keys[i], strlen(keys[i]), "v", 1, NULL));
    static const struct {
        const char *after, *want;
    } cases[] = {{"a", "abc1 abc2 "},   {"", "abc1 abc2 "}, {"ab", "abc1 abc2 "},
                 {"abc", "abc1 abc2 "}, {"abc1", "abc2 "},  {"abd", ""},
                 {"0", "abc1 abc2 "}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int form = 0; form < 2; form++) {
            char got[64] = "";
            inmem_kv_entry buf[8], *e = buf;
            size_t n = 0;
            if (form == 0) {
                inmem_txn *t;
                assert_ok(inmem_txn_begin_readonly(db, &t));
                assert_ok(inmem_kv_list(t, NULL, "abc", 3, cases[c].after, strlen(cases[c].after),
                                        8, buf, &n));
                for (size_t i = 0; i < n; i++)
                    snprintf(got + strlen(got), sizeof got - strlen(got), "%.*s ", (int)e[i].klen,
                             (const char *)e[i].key);
                inmem_txn_free(t);
            } else {
                assert_ok(inmem_kv_list_db(db, NULL, "abc", 3, cases[c].after,
                                           strlen(cases[c].after), SIZE_MAX, &e, &n));
                for (size_t i = 0; i < n; i++)
                    snprintf(got + strlen(got), sizeof got - strlen(got), "%.*s ", (int)e[i].klen,
                             (const char *)e[i].key);
                inmem_free(e);
            }
            if (strcmp(got, cases[c].want) != 0)
                fail_msg("after '%s' (%s): got '%s', want '%s'", cases[c].after,
                         form ? "db" : "txn", got, cases[c].want);
        }
    }
    /* a limit whose size in entries would wrap around */
    inmem_kv_entry *e;
    size_t n;
    assert_ok(inmem_kv_list_db(db, NULL, NULL, 0, NULL, 0, SIZE_MAX / sizeof(inmem_kv_entry) + 2,
                               &e, &n));
    assert_int_equal(n, 6);
    inmem_free(e);
    assert_ok(inmem_db_close(db));
}

static void kv_ttl_survives_reopen_and_is_swept_after(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem__clock_set_override(7000000);
    inmem_options o;
    inmem_options_init(&o);
    o.ttl_sweep_interval_ms = 0;
    inmem_db *db;
    assert_ok(inmem_db_open(dir, &o, &db));
    assert_ok(inmem_put_ttl(db, NULL, LIT("k"), LIT("v"), 1000, NULL));
    assert_ok(inmem_db_close(db));
    assert_ok(inmem_db_open(dir, &o, &db));
    assert_ok(inmem_get(db, NULL, LIT("k"), NULL, NULL, NULL)); /* still alive */
    inmem__clock_set_override(7001000);
    assert_rc(INMEM_NOTFOUND, inmem_get(db, NULL, LIT("k"), NULL, NULL, NULL));
    uint64_t removed = 0;
    assert_ok(inmem_db_sweep(db, &removed)); /* the recovered TTL is known to the sweeper */
    assert_int_equal(removed, 1);
    assert_ok(inmem_db_close(db));
    assert_ok(inmem_db_open(dir, &o, &db)); /* the sweeper's delete was logged */
    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    assert_rc(INMEM_NOTFOUND, inmem_get(db, NULL, LIT("k"), NULL, NULL, NULL));
    inmem__clock_set_override(0);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* A TTL near UINT64_MAX must not wrap now + ttl into the past (it saturates: never expires),
 * in the implicit and the in-transaction forms. */
static void kv_ttl_near_the_maximum_never_wraps_into_the_past(void **state)
{
    (void)state;
    inmem__clock_set_override(1000000);
    inmem_db *db = test_open_mem();
    uint64_t ttls[] = {UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 999999, UINT64_MAX - 1000000};
    for (size_t i = 0; i < sizeof ttls / sizeof ttls[0]; i++) {
        assert_ok(inmem_put_ttl(db, NULL, LIT("a"), LIT("v"), ttls[i], NULL));
        assert_ok(inmem_get(db, NULL, LIT("a"), NULL, NULL, NULL));
        inmem_txn *t;
        assert_ok(inmem_txn_begin(db, &t));
        assert_ok(inmem_kv_put_ttl(t, NULL, LIT("b"), LIT("v"), ttls[i]));
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
        assert_ok(inmem_get(db, NULL, LIT("b"), NULL, NULL, NULL));
    }
    inmem__clock_set_override(2000000000000ull); /* decades later: still there */
    assert_ok(inmem_get(db, NULL, LIT("a"), NULL, NULL, NULL));
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

/* inmem_kv_get_expiry / inmem_kv_put_expire_at: absolute expiry times, read back exactly, own
 * pending writes included; 0 for no TTL; an expiry in the past is invisible at once. */
static void kv_expiry_is_read_and_written_as_absolute_time(void **state)
{
    (void)state;
    inmem__clock_set_override(1000000);
    inmem_db *db = test_open_mem();
    assert_ok(inmem_put_ttl(db, NULL, LIT("ttl"), LIT("v"), 500, NULL));
    assert_ok(inmem_put(db, NULL, LIT("plain"), LIT("v"), NULL));
    inmem_txn *t;
    uint64_t at = 1;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_get_expiry(t, NULL, LIT("ttl"), &at));
    assert_int_equal(at, 1000500);
    assert_ok(inmem_kv_get_expiry(t, NULL, LIT("plain"), &at));
    assert_int_equal(at, 0);
    assert_rc(INMEM_NOTFOUND, inmem_kv_get_expiry(t, NULL, LIT("missing"), &at));
    assert_ok(inmem_kv_put_expire_at(t, NULL, LIT("abs"), LIT("v"), 7777777));
    assert_ok(inmem_kv_get_expiry(t, NULL, LIT("abs"), &at)); /* its own pending write */
    assert_int_equal(at, 7777777);
    assert_ok(inmem_kv_put_expire_at(t, NULL, LIT("past"), LIT("v"), 999999));
    assert_rc(INMEM_NOTFOUND, inmem_kv_get_expiry(t, NULL, LIT("past"), &at));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_get_expiry(t, NULL, LIT("abs"), &at));
    assert_int_equal(at, 7777777);
    assert_rc(INMEM_NOTFOUND, inmem_kv_get(t, NULL, LIT("past"), NULL, NULL, NULL));
    inmem_txn_free(t);
    inmem__clock_set_override(7777777);
    assert_rc(INMEM_NOTFOUND, inmem_get(db, NULL, LIT("abs"), NULL, NULL, NULL));
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

/* A value a transaction reads from its own pending write is borrowed until the transaction
 * ends, like any other: a later put, delete or CAS of the same key in the same transaction does
 * not free it under the reader (it did: the replaced pending version was freed at once). */
static void kv_a_value_read_from_a_pending_write_stays_valid_until_the_end(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    enum { LEN = 200 };
    char want[4][LEN];
    const void *got[4];
    size_t n;
    for (int i = 0; i < 4; i++)
        memset(want[i], 'A' + i, LEN);
    assert_ok(inmem_kv_put(t, NULL, LIT("k"), want[0], LEN));
    assert_ok(inmem_kv_get(t, NULL, LIT("k"), &got[0], &n, NULL));
    assert_ok(inmem_kv_put(t, NULL, LIT("k"), want[1], LEN));
    assert_ok(inmem_kv_get(t, NULL, LIT("k"), &got[1], &n, NULL));
    assert_ok(inmem_kv_cas(t, NULL, LIT("k"), 0, want[2], LEN));
    assert_ok(inmem_kv_get(t, NULL, LIT("k"), &got[2], &n, NULL));
    assert_ok(inmem_kv_delete(t, NULL, LIT("k")));
    assert_ok(inmem_kv_put(t, NULL, LIT("x"), want[3], LEN)); /* may reuse freed memory */
    assert_ok(inmem_kv_put(t, NULL, LIT("k"), want[3], LEN));
    assert_ok(inmem_kv_get(t, NULL, LIT("k"), &got[3], &n, NULL));
    for (int i = 0; i < 4; i++)
        assert_memory_equal(got[i], want[i], LEN);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

const struct CMUnitTest kv_tests[] = {
    cmocka_unit_test(kv_a_value_read_from_a_pending_write_stays_valid_until_the_end),
    cmocka_unit_test(kv_ttl_near_the_maximum_never_wraps_into_the_past),
    cmocka_unit_test(kv_expiry_is_read_and_written_as_absolute_time),
    cmocka_unit_test(kv_list_pages_through_a_prefix_in_key_order),
    cmocka_unit_test(kv_list_cursor_of_the_largest_key_size_resumes_after_it),
    cmocka_unit_test(kv_get_many_reports_missing_keys),
    cmocka_unit_test(kv_get_many_reads_what_single_gets_read),
    cmocka_unit_test(kv_ttl_value_is_invisible_once_expired),
    cmocka_unit_test(kv_sweeper_deletes_expired_values_through_transactions),
    cmocka_unit_test(kv_rewriting_a_key_with_a_ttl_does_not_pile_up_entries),
    cmocka_unit_test(kv_sweeper_leaving_a_rewritten_key_is_no_user_abort),
    cmocka_unit_test(kv_sweeper_commits_and_conflicts_are_not_the_users),
    cmocka_unit_test(kv_sweeper_retries_what_it_could_not_delete_yet),
    cmocka_unit_test(kv_list_never_returns_keys_outside_its_prefix),
    cmocka_unit_test(kv_ttl_survives_reopen_and_is_swept_after),
};
INMEM_TEST_COUNT(kv);
