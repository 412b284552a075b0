/*
 * test_traces.c — the traces primitive: recording spans and reading them back field for field,
 * span ids (generated and caller-supplied), queries by kind, parent, tag and time with their
 * order and cursor, trees, run isolation, atomicity with the transaction, persistence, and bad
 * input including corrupt records written underneath the primitive.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "core/clock.h"
#include "core/key.h"
#include "txn/txn.h"

/* ---- helpers ---- */

/* A caller-chosen span id: 0x5a … n. */
static inmem_run_id sid(unsigned n)
{
    inmem_run_id id;
    memset(id.bytes, 0x5a, sizeof id.bytes);
    id.bytes[14] = (uint8_t)(n >> 8);
    id.bytes[15] = (uint8_t)n;
    return id;
}

static const inmem_run_id zero_id;

static void span_init(inmem_span *s, inmem_trace_kind kind, const char *name, uint64_t start_ms)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->confidence = NAN;
    s->start_ms = start_ms;
}

static void span_tag(inmem_span *s, const char *tag)
{
    snprintf(s->tags[s->ntags++], INMEM_NAME_MAX, "%s", tag);
}

static void commit(inmem_txn *t)
{
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
}

/* Records span sid(n) of @p kind under sid(parent) (0: a root) with up to two tags. */
static void rec(inmem_txn *t, const inmem_run_id *run, unsigned n, inmem_trace_kind kind,
                unsigned parent, uint64_t start, const char *tag1, const char *tag2)
{
    inmem_span s;
    char name[32];
    snprintf(name, sizeof name, "span-%u", n);
    span_init(&s, kind, name, start);
    s.id = sid(n);
    if (parent)
        s.parent = sid(parent);
    if (tag1)
        span_tag(&s, tag1);
    if (tag2)
        span_tag(&s, tag2);
    inmem_run_id got;
    assert_ok(inmem_trace_record(t, run, &s, &got));
    assert_memory_equal(got.bytes, s.id.bytes, 16);
}

/*
 * The shared fixture, recorded out of order:
 *
 *   1 decision  root  100 [plan]          5 thought  root 200 []
 *   ├─ 2 tool   110 [web, slow]           └─ 6 tool  210 [web]
 *   │  ├─ 4 tool    115 [web]                └─ 7 error 210 [slow]
 *   │  └─ 9 thought 112 []
 *   └─ 3 query  120 [db]                  8 tool     root  50 [web]
 *      └─ 10 thought 121 []
 */
static void record_fixture(inmem_txn *t, const inmem_run_id *run)
{
    rec(t, run, 5, INMEM_TRACE_THOUGHT, 0, 200, NULL, NULL);
    rec(t, run, 3, INMEM_TRACE_QUERY, 1, 120, "db", NULL);
    rec(t, run, 7, INMEM_TRACE_ERROR, 6, 210, "slow", NULL);
    rec(t, run, 1, INMEM_TRACE_DECISION, 0, 100, "plan", NULL);
    rec(t, run, 4, INMEM_TRACE_TOOL_CALL, 2, 115, "web", NULL);
    rec(t, run, 8, INMEM_TRACE_TOOL_CALL, 0, 50, "web", NULL);
    rec(t, run, 2, INMEM_TRACE_TOOL_CALL, 1, 110, "web", "slow");
    rec(t, run, 6, INMEM_TRACE_TOOL_CALL, 5, 210, "web", NULL);
    rec(t, run, 10, INMEM_TRACE_THOUGHT, 3, 121, NULL, NULL);
    rec(t, run, 9, INMEM_TRACE_THOUGHT, 2, 112, NULL, NULL);
}

/* Runs a query and checks that it returns exactly the spans sid(want[0..]) in that order. */
static void expect_query(inmem_txn *t, const inmem_run_id *run, const inmem_trace_filter *f,
                         const unsigned *want, size_t nwant)
{
    inmem_span out[16];
    size_t n = 99;
    assert_ok(inmem_trace_query(t, run, f, NULL, 16, out, &n));
    if (n != nwant)
        fail_msg("query returned %zu spans, expected %zu", n, nwant);
    for (size_t i = 0; i < n; i++) {
        inmem_run_id w = sid(want[i]);
        if (memcmp(out[i].id.bytes, w.bytes, 16) != 0)
            fail_msg("result %zu is span %u, expected span %u", i, out[i].id.bytes[15], want[i]);
    }
}

#define EXPECT(t, run, f, ...)                                                                     \
    do {                                                                                           \
        const unsigned want_[] = {__VA_ARGS__};                                                    \
        expect_query(t, run, f, want_, sizeof want_ / sizeof want_[0]);                            \
    } while (0)

static void expect_none(inmem_txn *t, const inmem_run_id *run, const inmem_trace_filter *f)
{
    inmem_span out[4];
    size_t n = 99;
    assert_ok(inmem_trace_query(t, run, f, NULL, 4, out, &n));
    assert_int_equal(n, 0);
}

/* Builds the encoded key of span @p id in @p run's trace space ('s' · id). */
static size_t raw_span_key(uint8_t *k, const inmem_run_id *run, const inmem_run_id *id)
{
    inmem__key_prefix(k, run, INMEM__TAG_TRACE);
    k[INMEM__KEY_PREFIX] = 's';
    memcpy(k + INMEM__KEY_PREFIX + 1, id->bytes, 16);
    return INMEM__KEY_PREFIX + 17;
}

/* Counts every key in @p run's trace space, raw (spans and index entries). */
static size_t raw_trace_keys(inmem_txn *t, const inmem_run_id *run)
{
    uint8_t lo[INMEM__KEY_PREFIX], hi[INMEM__KEY_PREFIX];
    inmem__key_prefix(lo, run, INMEM__TAG_TRACE);
    inmem__key_prefix(hi, run, INMEM__TAG_TRACE + 1);
    inmem_iter *it;
    assert_ok(inmem__txn_scan(t, lo, sizeof lo, hi, sizeof hi, &it));
    size_t n = 0;
    const uint8_t *k;
    size_t kl;
    while (inmem__iter_next(it, &k, &kl, NULL, NULL, NULL) == 0)
        n++;
    inmem_iter_free(it);
    return n;
}

/* ---- record and get ---- */

static void record_then_get_round_trips_every_field(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));
    static const uint8_t input[] = {'a', 0, 'b', 0, 0, 'c'};
    static const uint8_t output[] = {0, 0, 0xff, 0, 7};
    size_t big_len = 200000;
    uint8_t *big = malloc(big_len);
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (uint8_t)(i * 31);

    inmem_span s;
    span_init(&s, INMEM_TRACE_TOOL_CALL, "web.search", 1700000000123ull);
    s.parent = sid(77);
    s.input = input;
    s.input_len = sizeof input;
    s.output = output;
    s.output_len = sizeof output;
    s.duration_us = 123456789012ull;
    span_tag(&s, "network");
    span_tag(&s, "retry");
    memset(s.tags[2], 'x', INMEM_NAME_MAX - 1); /* the longest tag */
    s.tags[2][INMEM_NAME_MAX - 1] = '\0';
    s.ntags = 3;
    inmem_span s2;
    span_init(&s2, INMEM_TRACE_CUSTOM, "big", 5);
    s2.confidence = 0.75;
    s2.output = big;
    s2.output_len = big_len;

    inmem_txn *t = test_begin(db);
    inmem_run_id id, id2;
    assert_ok(inmem_trace_record(t, &run, &s, &id));
    assert_ok(inmem_trace_record(t, &run, &s2, &id2));
    commit(t);

    t = test_begin(db);
    inmem_span g;
    assert_ok(inmem_trace_get(t, &run, &id, &g));
    assert_memory_equal(g.id.bytes, id.bytes, 16);
    assert_memory_equal(g.parent.bytes, s.parent.bytes, 16);
    assert_int_equal(g.kind, INMEM_TRACE_TOOL_CALL);
    assert_string_equal(g.name, "web.search");
    assert_int_equal(g.input_len, sizeof input);
    assert_memory_equal(g.input, input, sizeof input);
    assert_int_equal(g.output_len, sizeof output);
    assert_memory_equal(g.output, output, sizeof output);
    assert_true(isnan(g.confidence));
    assert_memory_equal(&g.confidence, &s.confidence, sizeof(double)); /* the same NaN bits */
    assert_int_equal(g.start_ms, 1700000000123ull);
    assert_int_equal(g.duration_us, 123456789012ull);
    assert_int_equal(g.ntags, 3);
    assert_string_equal(g.tags[0], "network");
    assert_string_equal(g.tags[1], "retry");
    assert_string_equal(g.tags[2], s.tags[2]);

    assert_ok(inmem_trace_get(t, &run, &id2, &g));
    assert_int_equal(g.kind, INMEM_TRACE_CUSTOM);
    assert_true(g.confidence == 0.75);
    assert_memory_equal(g.parent.bytes, zero_id.bytes, 16);
    assert_null(g.input);
    assert_int_equal(g.input_len, 0);
    assert_int_equal(g.output_len, big_len);
    assert_memory_equal(g.output, big, big_len);
    assert_int_equal(g.ntags, 0);
    commit(t);
    free(big);
    assert_ok(inmem_db_close(db));
}

static void start_ms_zero_is_recorded_as_now(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem__clock_set_override(1234567);
    inmem_span s;
    span_init(&s, INMEM_TRACE_THOUGHT, "t", 0);
    inmem_run_id id;
    assert_ok(inmem_trace_record_db(db, NULL, &s, &id));
    inmem__clock_set_override(0);
    inmem_txn *t = test_begin(db);
    inmem_span g;
    assert_ok(inmem_trace_get(t, NULL, &id, &g));
    assert_int_equal(g.start_ms, 1234567);
    commit(t);
    assert_ok(inmem_db_close(db));
}

static void generated_ids_are_unique_and_time_ordered(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    enum { N = 300 };
    inmem_run_id *ids = calloc(N, sizeof *ids);
    assert_non_null(ids);
    inmem_span s;
    span_init(&s, INMEM_TRACE_THOUGHT, "step", 10);
    size_t nextra = 0;
    for (int i = 0; i < N; i++) {
        if (i % 100 == 0) { /* some in their own transactions, some together */
            assert_ok(inmem_trace_record_db(db, NULL, &s, &ids[i]));
            continue;
        }
        inmem_txn *t = test_begin(db);
        assert_ok(inmem_trace_record(t, NULL, &s, &ids[i]));
        if (i % 3 == 0) {
            assert_ok(inmem_trace_record(t, NULL, &s, NULL)); /* id not wanted */
            nextra++;
        }
        commit(t);
    }
    for (int i = 0; i < N; i++) {
        assert_false(inmem_run_id_is_shared(&ids[i]));
        if (i > 0 && memcmp(ids[i - 1].bytes, ids[i].bytes, 16) >= 0)
            fail_msg("id %d does not compare greater than id %d", i, i - 1);
    }
    /* each id names its own span: all N plus the unnamed ones are there */
    inmem_txn *t = test_begin(db);
    inmem_span g;
    for (int i = 0; i < N; i++)
        assert_ok(inmem_trace_get(t, NULL, &ids[i], &g));
    size_t total = 0, n;
    inmem_span page[64];
    const inmem_run_id *after = NULL;
    inmem_run_id last;
    do {
        assert_ok(inmem_trace_query(t, NULL, NULL, after, 64, page, &n));
        total += n;
        if (n) {
            last = page[n - 1].id;
            after = &last;
        }
    } while (n == 64);
    assert_int_equal(total, N + nextra);
    commit(t);
    free(ids);
    assert_ok(inmem_db_close(db));
}

static void caller_supplied_id_is_accepted_and_duplicate_rejected(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_span s;
    span_init(&s, INMEM_TRACE_DECISION, "choose", 42);
    s.id = sid(1);
    inmem_run_id got;
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_trace_record(t, NULL, &s, &got));
    assert_memory_equal(got.bytes, s.id.bytes, 16);
    assert_rc(INMEM_EINVAL, inmem_trace_record(t, NULL, &s, NULL)); /* own pending write */
    commit(t);

    t = test_begin(db);
    span_init(&s, INMEM_TRACE_ERROR, "other", 43);
    s.id = sid(1);
    assert_rc(INMEM_EINVAL, inmem_trace_record(t, NULL, &s, NULL)); /* committed */
    s.parent = sid(1);                                              /* its own parent */
    assert_rc(INMEM_EINVAL, inmem_trace_record(t, NULL, &s, NULL));
    commit(t);
    s.parent = zero_id;
    assert_rc(INMEM_EINVAL, inmem_trace_record_db(db, NULL, &s, NULL));

    /* the first span is unchanged and alone */
    t = test_begin(db);
    inmem_span g[4];
    size_t n;
    assert_ok(inmem_trace_query(t, NULL, NULL, NULL, 4, g, &n));
    assert_int_equal(n, 1);
    assert_string_equal(g[0].name, "choose");
    assert_int_equal(g[0].kind, INMEM_TRACE_DECISION);
    commit(t);

    /* the same id in another run is another span */
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));
    assert_ok(inmem_trace_record_db(db, &run, &s, &got));
    assert_memory_equal(got.bytes, s.id.bytes, 16);
    assert_ok(inmem_db_close(db));
}

static void concurrent_records_of_the_same_id_conflict(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_span s;
    span_init(&s, INMEM_TRACE_QUERY, "q", 1);
    s.id = sid(9);
    inmem_txn *a = test_begin(db), *b = test_begin(db);
    assert_ok(inmem_trace_record(a, NULL, &s, NULL));
    assert_ok(inmem_trace_record(b, NULL, &s, NULL)); /* neither sees the other yet */
    assert_ok(inmem_txn_commit(a));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(b)); /* the id was read as missing */
    inmem_txn_free(a);
    inmem_txn_free(b);
    assert_ok(inmem_db_close(db));
}

/* ---- queries ---- */

static void query_by_kind_returns_that_kind_in_start_order(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    record_fixture(t, NULL);
    commit(t);
    t = test_begin(db);
    inmem_trace_filter f = {.kind = INMEM_TRACE_TOOL_CALL};
    EXPECT(t, NULL, &f, 8, 2, 4, 6);
    f.kind = INMEM_TRACE_THOUGHT;
    EXPECT(t, NULL, &f, 9, 10, 5);
    f.kind = INMEM_TRACE_DECISION;
    EXPECT(t, NULL, &f, 1);
    f.kind = INMEM_TRACE_CUSTOM;
    expect_none(t, NULL, &f);
    commit(t);
    assert_ok(inmem_db_close(db));
}

static void query_by_parent_returns_direct_children(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    record_fixture(t, NULL);
    commit(t);
    t = test_begin(db);
    inmem_run_id p = sid(1);
    inmem_trace_filter f = {.parent = &p};
    EXPECT(t, NULL, &f, 2, 3); /* not the grandchildren 9, 4, 10 */
    p = sid(2);
    EXPECT(t, NULL, &f, 9, 4);
    p = sid(4);
    expect_none(t, NULL, &f); /* a leaf */
    f.parent = &zero_id;      /* the all-zero parent: the roots */
    EXPECT(t, NULL, &f, 8, 1, 5);
    commit(t);
    assert_ok(inmem_db_close(db));
}

static void query_by_tag_matches_whole_tags_only(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    record_fixture(t, NULL);
    rec(t, NULL, 11, INMEM_TRACE_CUSTOM, 0, 300, "webhook", NULL);
    commit(t);
    t = test_begin(db);
    inmem_trace_filter f = {.tag = "web"};
    EXPECT(t, NULL, &f, 8, 2, 4, 6); /* not "webhook" */
    f.tag = "slow";
    EXPECT(t, NULL, &f, 2, 7);
    f.tag = "webhook";
    EXPECT(t, NULL, &f, 11);
    f.tag = "we";
    expect_none(t, NULL, &f);
    commit(t);
    assert_ok(inmem_db_close(db));
}

static void query_by_time_range_is_half_open(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    record_fixture(t, NULL);
    commit(t);
    t = test_begin(db);
    inmem_trace_filter f = {.from_ms = 110, .to_ms = 210};
    EXPECT(t, NULL, &f, 2, 9, 4, 3, 10, 5);   /* 110 in, 210 out */
    f = (inmem_trace_filter){.from_ms = 210}; /* to_ms 0: no upper bound */
    EXPECT(t, NULL, &f, 6, 7);
    f = (inmem_trace_filter){.to_ms = 100};
    EXPECT(t, NULL, &f, 8);
    f = (inmem_trace_filter){.from_ms = 115, .to_ms = 116};
    EXPECT(t, NULL, &f, 4);
    f = (inmem_trace_filter){.from_ms = 211};
    expect_none(t, NULL, &f);
    f = (inmem_trace_filter){.from_ms = 150, .to_ms = 150}; /* empty */
    expect_none(t, NULL, &f);
    f = (inmem_trace_filter){.from_ms = 200, .to_ms = 100}; /* inverted */
    expect_none(t, NULL, &f);
    commit(t);
    assert_ok(inmem_db_close(db));
}

static void query_combines_every_set_filter_field(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    record_fixture(t, NULL);
    commit(t);
    t = test_begin(db);
    inmem_run_id p1 = sid(1), p2 = sid(2), p5 = sid(5);
    inmem_trace_filter f = {
        .kind = INMEM_TRACE_TOOL_CALL, .tag = "web", .from_ms = 100, .to_ms = 300};
    EXPECT(t, NULL, &f, 2, 4, 6);
    f.to_ms = 200;
    EXPECT(t, NULL, &f, 2, 4);
    f = (inmem_trace_filter){.parent = &p1, .tag = "db"};
    EXPECT(t, NULL, &f, 3);
    f = (inmem_trace_filter){.parent = &p5, .kind = INMEM_TRACE_TOOL_CALL};
    EXPECT(t, NULL, &f, 6);
    f = (inmem_trace_filter){.parent = &p2, .kind = INMEM_TRACE_QUERY};
    expect_none(t, NULL, &f);
    f = (inmem_trace_filter){.parent = &p2, .from_ms = 113};
    EXPECT(t, NULL, &f, 4);
    f = (inmem_trace_filter){.tag = "slow", .kind = INMEM_TRACE_ERROR};
    EXPECT(t, NULL, &f, 7);
    f = (inmem_trace_filter){.tag = "slow", .from_ms = 0, .to_ms = 111};
    EXPECT(t, NULL, &f, 2);
    commit(t);
    assert_ok(inmem_db_close(db));
}

static void query_orders_by_start_then_id(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    record_fixture(t, NULL);
    /* equal start times: the id decides, not the order of recording */
    rec(t, NULL, 30, INMEM_TRACE_CUSTOM, 0, 210, NULL, NULL);
    rec(t, NULL, 20, INMEM_TRACE_CUSTOM, 0, 210, NULL, NULL);
    /* the same order inside the transaction that wrote them (read your own writes) */
    EXPECT(t, NULL, NULL, 8, 1, 2, 9, 4, 3, 10, 5, 6, 7, 20, 30);
    commit(t);
    t = test_begin(db);
    EXPECT(t, NULL, NULL, 8, 1, 2, 9, 4, 3, 10, 5, 6, 7, 20, 30);
    inmem_trace_filter f = {.kind = INMEM_TRACE_CUSTOM};
    EXPECT(t, NULL, &f, 20, 30);
    /* limit cuts the ordered list */
    inmem_span out[3];
    size_t n;
    assert_ok(inmem_trace_query(t, NULL, NULL, NULL, 3, out, &n));
    assert_int_equal(n, 3);
    assert_int_equal(out[0].start_ms, 50);
    assert_int_equal(out[2].start_ms, 110);
    assert_ok(inmem_trace_query(t, NULL, NULL, NULL, 0, NULL, &n));
    assert_int_equal(n, 0);
    commit(t);
    assert_ok(inmem_db_close(db));
}

/* Runs @p f in a fresh transaction; checks it finds the one span sid(want) after reading at
 * most a few keys (its index entries and spans): the query used a narrow index range. */
static void expect_narrow(inmem_db *db, const inmem_trace_filter *f, unsigned want)
{
    inmem_txn *t = test_begin(db);
    EXPECT(t, NULL, f, want);
    inmem_txn_info info;
    assert_ok(inmem_txn_describe(t, &info));
    if (info.read_set_size > 4)
        fail_msg("the query read %zu keys", info.read_set_size);
    commit(t);
}

static void query_reads_only_the_most_selective_index_range(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    for (unsigned i = 1; i <= 200; i++) /* 200 thoughts, children of span 1 */
        rec(t, NULL, i, INMEM_TRACE_THOUGHT, i == 1 ? 0 : 1, 1000 + i, NULL, NULL);
    rec(t, NULL, 300, INMEM_TRACE_ERROR, 1, 5000, "rare", NULL);
    rec(t, NULL, 301, INMEM_TRACE_THOUGHT, 7, 5001, "rare", NULL);
    commit(t);
    inmem_run_id p7 = sid(7);
    inmem_trace_filter f = {.parent = &p7, .kind = INMEM_TRACE_THOUGHT};
    expect_narrow(db, &f, 301); /* parent, not kind (201 thoughts) */
    f = (inmem_trace_filter){.tag = "rare", .kind = INMEM_TRACE_THOUGHT};
    expect_narrow(db, &f, 301); /* tag, not kind */
    f = (inmem_trace_filter){.kind = INMEM_TRACE_ERROR};
    expect_narrow(db, &f, 300);
    f = (inmem_trace_filter){.from_ms = 1100, .to_ms = 1101};
    expect_narrow(db, &f, 100);
    f = (inmem_trace_filter){.kind = INMEM_TRACE_THOUGHT, .from_ms = 1150, .to_ms = 1151};
    expect_narrow(db, &f, 150);
    assert_ok(inmem_db_close(db));
}

/* Pages through @p f with @p limit and checks every one of the @p nexpect matching spans
 * comes exactly once, in (start, id) order. */
static void page_through(inmem_txn *t, const inmem_trace_filter *f, size_t limit,
                         const inmem_span *all, size_t nall, size_t nexpect)
{
    inmem_span *page = calloc(limit, sizeof *page);
    unsigned *seen = calloc(nall, sizeof *seen);
    assert_non_null(page);
    assert_non_null(seen);
    size_t total = 0, n;
    inmem_run_id cursor;
    const inmem_run_id *after = NULL;
    uint64_t prev_start = 0;
    inmem_run_id prev_id = zero_id;
    for (int pages = 0;; pages++) {
        assert_true(pages <= 100);
        assert_ok(inmem_trace_query(t, NULL, f, after, limit, page, &n));
        for (size_t i = 0; i < n; i++) {
            int later =
                page[i].start_ms > prev_start ||
                (page[i].start_ms == prev_start && memcmp(page[i].id.bytes, prev_id.bytes, 16) > 0);
            assert_true(later);
            prev_start = page[i].start_ms;
            prev_id = page[i].id;
            size_t j = 0;
            while (j < nall && memcmp(all[j].id.bytes, page[i].id.bytes, 16) != 0)
                j++;
            assert_true(j < nall);
            seen[j]++;
        }
        total += n;
        if (n < limit)
            break;
        cursor = page[n - 1].id;
        after = &cursor;
    }
    assert_int_equal(total, nexpect);
    for (size_t j = 0; j < nall; j++)
        assert_true(seen[j] <= 1);
    free(page);
    free(seen);
}

static void limit_and_cursor_page_through_every_span_exactly_once(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t rng = test_seed(__func__);
    enum { N = 97 };
    inmem_span *all = calloc(N, sizeof *all);
    assert_non_null(all);
    size_t ntagged = 0, nlate = 0, nboth = 0;
    inmem_txn *t = test_begin(db);
    for (size_t i = 0; i < N; i++) {
        /* few distinct start times, so that many spans tie and the id orders them */
        span_init(&all[i], INMEM_TRACE_THOUGHT, "s", 1000 + test_rand(&rng) % 20);
        if (test_rand(&rng) % 2) {
            span_tag(&all[i], "odd");
            ntagged++;
        }
        if (all[i].start_ms >= 1010)
            nlate++;
        if (all[i].start_ms >= 1010 && all[i].ntags)
            nboth++;
        if (i % 2) /* caller ids too, in no particular order against the generated ones */
            all[i].id = sid((unsigned)i);
        assert_ok(inmem_trace_record(t, NULL, &all[i], &all[i].id));
    }
    commit(t);
    t = test_begin(db);
    for (size_t limit = 1; limit <= 10; limit += 3)
        page_through(t, NULL, limit, all, N, N);
    page_through(t, NULL, N, all, N, N); /* one full page then an empty one */
    inmem_trace_filter f = {.tag = "odd"};
    page_through(t, &f, 4, all, N, ntagged);
    f = (inmem_trace_filter){.from_ms = 1010};
    page_through(t, &f, 7, all, N, nlate);
    f = (inmem_trace_filter){.kind = INMEM_TRACE_THOUGHT, .tag = "odd", .from_ms = 1010};
    page_through(t, &f, 3, all, N, nboth);
    commit(t);
    free(all);
    assert_ok(inmem_db_close(db));
}

static void cursor_resumes_after_a_span_outside_the_filter(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    record_fixture(t, NULL);
    commit(t);
    t = test_begin(db);
    inmem_span out[8];
    size_t n;
    inmem_trace_filter f = {.tag = "web"};
    inmem_run_id c = sid(3); /* start 120, tagged db: resume after it */
    assert_ok(inmem_trace_query(t, NULL, &f, &c, 8, out, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(out[0].id.bytes, sid(6).bytes, 16);
    c = sid(6); /* start 210 ties with 7: only the larger id follows */
    assert_ok(inmem_trace_query(t, NULL, NULL, &c, 8, out, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(out[0].id.bytes, sid(7).bytes, 16);
    c = sid(7); /* the last: nothing after */
    assert_ok(inmem_trace_query(t, NULL, NULL, &c, 8, out, &n));
    assert_int_equal(n, 0);
    f = (inmem_trace_filter){.to_ms = 100}; /* the cursor is past to_ms */
    assert_ok(inmem_trace_query(t, NULL, &f, &c, 8, out, &n));
    assert_int_equal(n, 0);
    c = sid(999); /* not a span of the run */
    assert_rc(INMEM_EINVAL, inmem_trace_query(t, NULL, NULL, &c, 8, out, &n));
    commit(t);
    assert_ok(inmem_db_close(db));
}

/* ---- trees ---- */

static void tree_is_depth_first_in_start_order(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    record_fixture(t, NULL);
    commit(t);
    t = test_begin(db);
    inmem_span out[16];
    size_t n = 0;
    inmem_run_id root = sid(1);
    assert_ok(inmem_trace_tree(t, NULL, &root, 16, out, &n));
    static const unsigned want[] = {1, 2, 9, 4, 3, 10};
    static const unsigned parent[] = {0, 1, 2, 2, 1, 3};
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        assert_memory_equal(out[i].id.bytes, sid(want[i]).bytes, 16);
        inmem_run_id p = parent[i] ? sid(parent[i]) : zero_id;
        assert_memory_equal(out[i].parent.bytes, p.bytes, 16);
        char name[32];
        snprintf(name, sizeof name, "span-%u", want[i]);
        assert_string_equal(out[i].name, name);
    }
    root = sid(5);
    assert_ok(inmem_trace_tree(t, NULL, &root, 16, out, &n));
    assert_int_equal(n, 3);
    assert_memory_equal(out[2].id.bytes, sid(7).bytes, 16);
    root = sid(10); /* a leaf: itself */
    assert_ok(inmem_trace_tree(t, NULL, &root, 16, out, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(out[0].id.bytes, root.bytes, 16);
    root = sid(999);
    assert_rc(INMEM_NOTFOUND, inmem_trace_tree(t, NULL, &root, 16, out, &n));
    assert_int_equal(n, 0);
    commit(t);
    assert_ok(inmem_db_close(db));
}

static void tree_stops_at_limit(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    record_fixture(t, NULL);
    commit(t);
    t = test_begin(db);
    inmem_span out[3];
    size_t n = 0;
    inmem_run_id root = sid(1);
    assert_ok(inmem_trace_tree(t, NULL, &root, 3, out, &n));
    assert_int_equal(n, 3); /* the first three of the depth-first order */
    assert_memory_equal(out[0].id.bytes, sid(1).bytes, 16);
    assert_memory_equal(out[1].id.bytes, sid(2).bytes, 16);
    assert_memory_equal(out[2].id.bytes, sid(9).bytes, 16);
    assert_ok(inmem_trace_tree(t, NULL, &root, 1, out, &n));
    assert_int_equal(n, 1);
    assert_ok(inmem_trace_tree(t, NULL, &root, 0, NULL, &n));
    assert_int_equal(n, 0);
    commit(t);
    assert_ok(inmem_db_close(db));
}

static void tree_of_a_deep_chain_is_complete(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    enum { DEPTH = 300 };
    inmem_txn *t = test_begin(db);
    for (unsigned i = 1; i <= DEPTH; i++)
        rec(t, NULL, i, INMEM_TRACE_THOUGHT, i - 1, 1000 - i, NULL, NULL);
    commit(t);
    t = test_begin(db);
    inmem_span *out = calloc(DEPTH + 1, sizeof *out);
    assert_non_null(out);
    size_t n;
    inmem_run_id root = sid(1);
    assert_ok(inmem_trace_tree(t, NULL, &root, DEPTH + 1, out, &n));
    assert_int_equal(n, DEPTH);
    for (unsigned i = 0; i < DEPTH; i++)
        assert_memory_equal(out[i].id.bytes, sid(i + 1).bytes, 16);
    commit(t);
    free(out);
    assert_ok(inmem_db_close(db));
}

static void tree_of_a_cycle_made_with_supplied_ids_terminates(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    rec(t, NULL, 1, INMEM_TRACE_THOUGHT, 3, 10, NULL, NULL); /* 1 -> 2 -> 3 -> 1 */
    rec(t, NULL, 2, INMEM_TRACE_THOUGHT, 1, 11, NULL, NULL);
    rec(t, NULL, 3, INMEM_TRACE_THOUGHT, 2, 12, NULL, NULL);
    commit(t);
    t = test_begin(db);
    inmem_span out[8];
    size_t n;
    inmem_run_id root = sid(1);
    assert_ok(inmem_trace_tree(t, NULL, &root, 8, out, &n));
    assert_int_equal(n, 3);
    assert_memory_equal(out[2].id.bytes, sid(3).bytes, 16);
    commit(t);
    assert_ok(inmem_db_close(db));
}

/* ---- scopes, atomicity, persistence ---- */

static void query_never_returns_another_runs_spans(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id a, b;
    assert_ok(inmem_run_id_new(&a));
    assert_ok(inmem_run_id_new(&b));
    inmem_txn *t = test_begin(db);
    record_fixture(t, &a);
    rec(t, &b, 1, INMEM_TRACE_TOOL_CALL, 0, 100, "web", NULL); /* same id, other run */
    rec(t, &b, 50, INMEM_TRACE_TOOL_CALL, 1, 105, "web", NULL);
    rec(t, NULL, 60, INMEM_TRACE_TOOL_CALL, 0, 101, "web", NULL); /* the shared scope */
    commit(t);
    t = test_begin(db);
    EXPECT(t, &a, NULL, 8, 1, 2, 9, 4, 3, 10, 5, 6, 7);
    EXPECT(t, &b, NULL, 1, 50);
    EXPECT(t, NULL, NULL, 60);
    inmem_trace_filter f = {.tag = "web"};
    EXPECT(t, &a, &f, 8, 2, 4, 6);
    EXPECT(t, &b, &f, 1, 50);
    EXPECT(t, NULL, &f, 60);
    inmem_run_id p = sid(1);
    f = (inmem_trace_filter){.parent = &p};
    EXPECT(t, &a, &f, 2, 3);
    EXPECT(t, &b, &f, 50);
    inmem_span g;
    assert_ok(inmem_trace_get(t, &b, &p, &g));
    assert_int_equal(g.kind, INMEM_TRACE_TOOL_CALL); /* b's span 1, not a's decision */
    inmem_run_id s50 = sid(50), s60 = sid(60);
    assert_rc(INMEM_NOTFOUND, inmem_trace_get(t, &a, &s50, &g));
    assert_rc(INMEM_NOTFOUND, inmem_trace_get(t, &a, &s60, &g));
    assert_ok(inmem_trace_get(t, NULL, &s60, &g));
    inmem_span out[16];
    size_t n;
    assert_ok(inmem_trace_tree(t, &b, &p, 16, out, &n));
    assert_int_equal(n, 2); /* b's tree, not a's six spans */
    assert_rc(INMEM_EINVAL, inmem_trace_query(t, &b, NULL, &s60, 16, out, &n)); /* cursor */
    commit(t);
    assert_ok(inmem_db_close(db));
}

/* A transaction body that records the fixture and then fails. */
static int record_then_fail(inmem_txn *t, void *arg)
{
    record_fixture(t, arg);
    return INMEM_EIO;
}

static void abort_leaves_no_span_and_no_index_entry(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));
    inmem_txn *t = test_begin(db);
    record_fixture(t, &run);
    EXPECT(t, &run, NULL, 8, 1, 2, 9, 4, 3, 10, 5, 6, 7); /* visible to itself */
    assert_true(raw_trace_keys(t, &run) > 10);
    assert_ok(inmem_txn_abort(t));
    inmem_txn_free(t);

    t = test_begin(db);
    expect_none(t, &run, NULL);
    inmem_trace_filter f = {.tag = "web"};
    expect_none(t, &run, &f);
    inmem_run_id id = sid(1);
    inmem_span g;
    assert_rc(INMEM_NOTFOUND, inmem_trace_get(t, &run, &id, &g));
    assert_int_equal(raw_trace_keys(t, &run), 0);
    commit(t);

    /* a callback error through inmem_db_transact() aborts the same way */
    assert_rc(INMEM_EIO, inmem_db_transact(db, NULL, record_then_fail, &run));
    t = test_begin(db);
    expect_none(t, &run, NULL);
    assert_int_equal(raw_trace_keys(t, &run), 0);
    commit(t);
    assert_ok(inmem_db_close(db));
}

static void spans_survive_close_and_reopen(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(dir, NULL, &db)); /* batched, the default */
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));
    static const uint8_t in[] = {1, 0, 2};
    inmem_span s;
    span_init(&s, INMEM_TRACE_DECISION, "plan", 100);
    s.input = in;
    s.input_len = sizeof in;
    span_tag(&s, "top");
    inmem_run_id root, child;
    assert_ok(inmem_trace_record_db(db, &run, &s, &root));
    span_init(&s, INMEM_TRACE_TOOL_CALL, "fetch", 101);
    s.parent = root;
    s.confidence = 0.5;
    s.output = "ok";
    s.output_len = 2;
    assert_ok(inmem_trace_record_db(db, &run, &s, &child));
    inmem_txn *t = test_begin(db);
    record_fixture(t, NULL);
    commit(t);
    assert_ok(inmem_db_close(db));

    db = NULL;
    assert_ok(inmem_db_open(dir, NULL, &db));
    t = test_begin(db);
    inmem_span g;
    assert_ok(inmem_trace_get(t, &run, &root, &g));
    assert_string_equal(g.name, "plan");
    assert_int_equal(g.input_len, sizeof in);
    assert_memory_equal(g.input, in, sizeof in);
    assert_true(isnan(g.confidence));
    assert_int_equal(g.ntags, 1);
    assert_string_equal(g.tags[0], "top");
    inmem_span out[16];
    size_t n;
    assert_ok(inmem_trace_tree(t, &run, &root, 16, out, &n));
    assert_int_equal(n, 2);
    assert_memory_equal(out[1].id.bytes, child.bytes, 16);
    assert_true(out[1].confidence == 0.5);
    assert_int_equal(out[1].output_len, 2);
    assert_memory_equal(out[1].output, "ok", 2);
    inmem_trace_filter f = {.tag = "top"};
    assert_ok(inmem_trace_query(t, &run, &f, NULL, 16, out, &n));
    assert_int_equal(n, 1);
    f = (inmem_trace_filter){.kind = INMEM_TRACE_TOOL_CALL};
    EXPECT(t, NULL, &f, 8, 2, 4, 6);
    commit(t);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* ---- bad input ---- */

static void bad_arguments_are_rejected(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    inmem_span s, out[2];
    span_init(&s, INMEM_TRACE_THOUGHT, "ok", 1);
    inmem_run_id id = sid(1);
    size_t n;
    assert_rc(INMEM_EINVAL, inmem_trace_record(NULL, NULL, &s, NULL));
    assert_rc(INMEM_EINVAL, inmem_trace_record(t, NULL, NULL, NULL));
    assert_rc(INMEM_EINVAL, inmem_trace_record_db(NULL, NULL, &s, NULL));
    assert_rc(INMEM_EINVAL, inmem_trace_record_db(db, NULL, NULL, NULL));
    assert_rc(INMEM_EINVAL, inmem_trace_get(NULL, NULL, &id, out));
    assert_rc(INMEM_EINVAL, inmem_trace_get(t, NULL, NULL, out));
    assert_rc(INMEM_EINVAL, inmem_trace_get(t, NULL, &id, NULL));
    assert_rc(INMEM_EINVAL, inmem_trace_query(NULL, NULL, NULL, NULL, 2, out, &n));
    assert_rc(INMEM_EINVAL, inmem_trace_query(t, NULL, NULL, NULL, 2, NULL, &n));
    assert_rc(INMEM_EINVAL, inmem_trace_query(t, NULL, NULL, NULL, 2, out, NULL));
    assert_rc(INMEM_EINVAL, inmem_trace_tree(NULL, NULL, &id, 2, out, &n));
    assert_rc(INMEM_EINVAL, inmem_trace_tree(t, NULL, NULL, 2, out, &n));
    assert_rc(INMEM_EINVAL, inmem_trace_tree(t, NULL, &id, 2, NULL, &n));
    assert_rc(INMEM_EINVAL, inmem_trace_tree(t, NULL, &id, 2, out, NULL));

    memset(s.name, 'n', INMEM_NAME_MAX); /* no NUL within the field */
    assert_rc(INMEM_ETOOBIG, inmem_trace_record(t, NULL, &s, NULL));
    assert_rc(INMEM_ETOOBIG, inmem_trace_record_db(db, NULL, &s, NULL));
    s.name[0] = '\0';
    assert_rc(INMEM_EINVAL, inmem_trace_record(t, NULL, &s, NULL));
    span_init(&s, INMEM_TRACE_THOUGHT, "ok", 1);
    span_tag(&s, "fine");
    memset(s.tags[1], 't', INMEM_NAME_MAX);
    s.ntags = 2;
    assert_rc(INMEM_ETOOBIG, inmem_trace_record(t, NULL, &s, NULL));
    s.tags[1][0] = '\0';
    assert_rc(INMEM_EINVAL, inmem_trace_record(t, NULL, &s, NULL));
    span_init(&s, INMEM_TRACE_THOUGHT, "ok", 1);
    s.ntags = INMEM_MAX_TAGS + 1;
    for (size_t i = 0; i < INMEM_MAX_TAGS; i++)
        strcpy(s.tags[i], "t");
    assert_rc(INMEM_EINVAL, inmem_trace_record(t, NULL, &s, NULL));
    s.ntags = INMEM_MAX_TAGS;
    assert_ok(inmem_trace_record(t, NULL, &s, NULL)); /* exactly the most */
    span_init(&s, (inmem_trace_kind)0, "ok", 1);
    assert_rc(INMEM_EINVAL, inmem_trace_record(t, NULL, &s, NULL));
    s.kind = (inmem_trace_kind)7;
    assert_rc(INMEM_EINVAL, inmem_trace_record(t, NULL, &s, NULL));
    assert_rc(INMEM_EINVAL, inmem_trace_record_db(db, NULL, &s, NULL));
    span_init(&s, INMEM_TRACE_THOUGHT, "ok", 1);
    s.input_len = 3; /* with a NULL input */
    assert_rc(INMEM_EINVAL, inmem_trace_record(t, NULL, &s, NULL));
    s.input_len = 0;
    s.output_len = 1;
    assert_rc(INMEM_EINVAL, inmem_trace_record(t, NULL, &s, NULL));

    inmem_trace_filter f = {.kind = (inmem_trace_kind)9};
    assert_rc(INMEM_EINVAL, inmem_trace_query(t, NULL, &f, NULL, 2, out, &n));
    f = (inmem_trace_filter){.tag = ""};
    assert_rc(INMEM_EINVAL, inmem_trace_query(t, NULL, &f, NULL, 2, out, &n));
    char longtag[INMEM_NAME_MAX + 1];
    memset(longtag, 'g', INMEM_NAME_MAX);
    longtag[INMEM_NAME_MAX] = '\0';
    f.tag = longtag;
    assert_rc(INMEM_ETOOBIG, inmem_trace_query(t, NULL, &f, NULL, 2, out, &n));

    assert_rc(INMEM_NOTFOUND, inmem_trace_get(t, NULL, &id, out));
    assert_rc(INMEM_NOTFOUND, inmem_trace_tree(t, NULL, &id, 2, out, &n));
    commit(t);
    /* a finished transaction */
    span_init(&s, INMEM_TRACE_THOUGHT, "ok", 1);
    assert_rc(INMEM_ETXNDONE, inmem_trace_record(t, NULL, &s, NULL));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void small_key_limit_is_rejected_before_any_write(void **state)
{
    (void)state;
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_key_size = 41; /* exactly the parent index entry: 'p' . parent . start . id */
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(NULL, &o, &db));
    inmem_span s;
    span_init(&s, INMEM_TRACE_THOUGHT, "t", 1);
    span_tag(&s, "short");
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_trace_record(t, NULL, &s, NULL));
    s.ntags = 0;
    span_tag(&s, "a-tag-longer-than-fifteen"); /* its index key is 1 + 25 + 1 + 24 bytes */
    assert_rc(INMEM_ETOOBIG, inmem_trace_record(t, NULL, &s, NULL));
    assert_int_equal(raw_trace_keys(t, NULL), 5); /* the first span and its four entries */
    commit(t);
    assert_ok(inmem_db_close(db));
    o.max_key_size = 40;
    assert_ok(inmem_db_open(NULL, &o, &db));
    t = test_begin(db);
    s.ntags = 0;
    assert_rc(INMEM_ETOOBIG, inmem_trace_record(t, NULL, &s, NULL));
    assert_int_equal(raw_trace_keys(t, NULL), 0);
    commit(t);
    assert_ok(inmem_db_close(db));
}

/* A query whose index keys would be longer than max_key_size gets INMEM_ETOOBIG, as a get, a tree
 * and a record do (it used to answer "no spans", having scanned for keys that cannot exist): with
 * a limit too small for any span key, and with one too small for the tag a query names. */
static void query_of_keys_beyond_max_key_size_is_etoobig(void **state)
{
    (void)state;
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_key_size = 8;
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(NULL, &o, &db));
    inmem_txn *t = test_begin(db);
    inmem_span s, out[2];
    span_init(&s, INMEM_TRACE_THOUGHT, "t", 1);
    inmem_run_id id = sid(1);
    size_t n = 99;
    assert_rc(INMEM_ETOOBIG, inmem_trace_record(t, NULL, &s, NULL));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_ETOOBIG, inmem_trace_get(t, NULL, &id, out));
    assert_rc(INMEM_ETOOBIG, inmem_trace_tree(t, NULL, &id, 2, out, &n));
    const inmem_trace_filter filters[] = {
        {0}, {.kind = INMEM_TRACE_THOUGHT}, {.tag = "a"}, {.parent = &id}, {.from_ms = 5}};
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        n = 99;
        assert_rc(INMEM_ETOOBIG, inmem_trace_query(t, NULL, &filters[i], NULL, 2, out, &n));
        assert_int_equal(n, 0);
    }
    assert_rc(INMEM_ETOOBIG, inmem_trace_query(t, NULL, NULL, NULL, 2, out, &n));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));

    o.max_key_size = 41; /* every index but a tag's of more than 15 bytes */
    assert_ok(inmem_db_open(NULL, &o, &db));
    t = test_begin(db);
    span_tag(&s, "short");
    assert_ok(inmem_trace_record(t, NULL, &s, &id));
    inmem_trace_filter f = {.tag = "short"};
    assert_ok(inmem_trace_query(t, NULL, &f, NULL, 2, out, &n));
    assert_int_equal(n, 1);
    f.tag = "a-tag-longer-than-fifteen";
    assert_rc(INMEM_ETOOBIG, inmem_trace_query(t, NULL, &f, NULL, 2, out, &n));
    f = (inmem_trace_filter){.parent = &zero_id};
    assert_ok(inmem_trace_query(t, NULL, &f, NULL, 2, out, &n));
    assert_int_equal(n, 1);
    commit(t);
    assert_ok(inmem_db_close(db));
}

/* A span whose record would pass max_value_size gets INMEM_ETOOBIG before a byte of its input or
 * output is read or copied (it used to be built whole first: up to 8 GiB for two 4 GiB fields).
 * Input and output are a 16-byte buffer with large lengths: reading them would crash, or
 * AddressSanitizer would tell; the failing allocator shows nothing was allocated for them. */
static void record_beyond_max_value_size_is_etoobig_before_input_or_output_is_read(void **state)
{
    (void)state;
    enum { MAXV = 1024, FIXED = 56 }; /* the record of span "big" without tags: 56 + in + out */
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_value_size = MAXV;
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(NULL, &o, &db));
    static const char small[16] = "0123456789abcdef";
    const size_t sizes[][2] = {
        {MAXV - FIXED + 1, 0}, {0, MAXV - FIXED + 1}, {MAXV / 2, MAXV / 2},
        {UINT32_MAX, 0},       {0, UINT32_MAX},       {UINT32_MAX, UINT32_MAX},
    };
    inmem_span s;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        span_init(&s, INMEM_TRACE_TOOL_CALL, "big", 1);
        s.input = s.output = small;
        s.input_len = sizes[i][0];
        s.output_len = sizes[i][1];
        inmem_txn *t = test_begin(db);
        test_alloc_fail(1); /* the first allocation fails: ENOMEM if one is tried */
        assert_rc(INMEM_ETOOBIG, inmem_trace_record(t, NULL, &s, NULL));
        assert_false(test_alloc_failed());
        test_alloc_fail(0);
        assert_ok(inmem_trace_record(t, NULL,
                                     &(inmem_span){.kind = INMEM_TRACE_THOUGHT, .name = "after"},
                                     NULL)); /* refused whole: the transaction goes on */
        inmem_txn_free(t);
        assert_rc(INMEM_ETOOBIG, inmem_trace_record_db(db, NULL, &s, NULL));
    }
    /* the largest record that fits is recorded */
    char full[MAXV - FIXED];
    memset(full, 'i', sizeof full);
    span_init(&s, INMEM_TRACE_TOOL_CALL, "big", 1);
    s.input = full;
    s.input_len = sizeof full;
    assert_ok(inmem_trace_record_db(db, NULL, &s, NULL));
    inmem_txn *t = test_begin(db);
    assert_int_equal(raw_trace_keys(t, NULL), 4); /* that span and its kind, parent, time entries */
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void garbage_span_record_is_corrupt_not_a_crash(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    rec(t, NULL, 1, INMEM_TRACE_TOOL_CALL, 0, 100, "web", "x");
    commit(t);

    /* the valid record, then every truncation of it and one with a byte too many */
    uint8_t key[64];
    inmem_run_id id = sid(1);
    size_t klen = raw_span_key(key, NULL, &id);
    t = test_begin(db);
    const void *v;
    size_t vlen;
    assert_ok(inmem__txn_get(t, key, klen, &v, &vlen, NULL));
    uint8_t *good = malloc(vlen + 1);
    assert_non_null(good);
    memcpy(good, v, vlen);
    good[vlen] = 0;
    commit(t);
    inmem_span g, out[4];
    size_t n;
    for (size_t len = 0; len <= vlen + 1; len++) {
        if (len == vlen)
            continue;
        t = test_begin(db);
        assert_ok(inmem__txn_put(t, key, klen, good, len, 0));
        assert_rc(INMEM_ECORRUPT, inmem_trace_get(t, NULL, &id, &g));
        assert_rc(INMEM_ECORRUPT, inmem_trace_query(t, NULL, NULL, NULL, 4, out, &n));
        assert_int_equal(n, 0);
        assert_rc(INMEM_ECORRUPT, inmem_trace_tree(t, NULL, &id, 4, out, &n));
        inmem_txn_free(t);
    }
    /* wrong format byte, kind out of range, an empty name */
    const size_t at[] = {0, 1, 42};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        uint8_t *bad = malloc(vlen);
        assert_non_null(bad);
        memcpy(bad, good, vlen);
        bad[at[i]] = at[i] == 1 ? 9 : 0;
        t = test_begin(db);
        assert_ok(inmem__txn_put(t, key, klen, bad, vlen, 0));
        assert_rc(INMEM_ECORRUPT, inmem_trace_get(t, NULL, &id, &g));
        inmem_txn_free(t);
        free(bad);
    }
    /* random bytes */
    uint64_t rng = test_seed(__func__);
    for (int i = 0; i < 200; i++) {
        uint8_t junk[80];
        size_t len = test_rand(&rng) % sizeof junk;
        for (size_t j = 0; j < len; j++)
            junk[j] = (uint8_t)test_rand(&rng);
        t = test_begin(db);
        assert_ok(inmem__txn_put(t, key, klen, junk, len, 0));
        int rc = inmem_trace_get(t, NULL, &id, &g);
        assert_true(rc == INMEM_ECORRUPT || rc == 0);
        inmem_txn_free(t);
    }
    /* an index entry whose span is missing, and one of the wrong length */
    t = test_begin(db);
    assert_ok(inmem__txn_delete(t, key, klen)); /* delete the span itself */
    assert_rc(INMEM_ECORRUPT, inmem_trace_query(t, NULL, NULL, NULL, 4, out, &n));
    inmem_trace_filter f = {.tag = "web"};
    assert_rc(INMEM_ECORRUPT, inmem_trace_query(t, NULL, &f, NULL, 4, out, &n));
    inmem_txn_free(t);
    t = test_begin(db);
    uint8_t ikey[64];
    inmem__key_prefix(ikey, NULL, INMEM__TAG_TRACE);
    ikey[INMEM__KEY_PREFIX] = 't';
    memset(ikey + INMEM__KEY_PREFIX + 1, 0, 11); /* start 100, then 3 bytes of id */
    ikey[INMEM__KEY_PREFIX + 8] = 100;
    assert_ok(inmem__txn_put(t, ikey, INMEM__KEY_PREFIX + 12, "\x01", 1, 0));
    assert_rc(INMEM_ECORRUPT, inmem_trace_query(t, NULL, NULL, NULL, 4, out, &n));
    inmem_txn_free(t);
    /* nothing above was committed: the span is still fine */
    t = test_begin(db);
    assert_ok(inmem_trace_get(t, NULL, &id, &g));
    assert_int_equal(g.ntags, 2);
    commit(t);
    free(good);
    assert_ok(inmem_db_close(db));
}

const struct CMUnitTest traces_tests[] = {
    cmocka_unit_test(record_then_get_round_trips_every_field),
    cmocka_unit_test(start_ms_zero_is_recorded_as_now),
    cmocka_unit_test(generated_ids_are_unique_and_time_ordered),
    cmocka_unit_test(caller_supplied_id_is_accepted_and_duplicate_rejected),
    cmocka_unit_test(concurrent_records_of_the_same_id_conflict),
    cmocka_unit_test(query_by_kind_returns_that_kind_in_start_order),
    cmocka_unit_test(query_by_parent_returns_direct_children),
    cmocka_unit_test(query_by_tag_matches_whole_tags_only),
    cmocka_unit_test(query_by_time_range_is_half_open),
    cmocka_unit_test(query_combines_every_set_filter_field),
    cmocka_unit_test(query_orders_by_start_then_id),
    cmocka_unit_test(query_reads_only_the_most_selective_index_range),
    cmocka_unit_test(limit_and_cursor_page_through_every_span_exactly_once),
    cmocka_unit_test(cursor_resumes_after_a_span_outside_the_filter),
    cmocka_unit_test(tree_is_depth_first_in_start_order),
    cmocka_unit_test(tree_stops_at_limit),
    cmocka_unit_test(tree_of_a_deep_chain_is_complete),
    cmocka_unit_test(tree_of_a_cycle_made_with_supplied_ids_terminates),
    cmocka_unit_test(query_never_returns_another_runs_spans),
    cmocka_unit_test(abort_leaves_no_span_and_no_index_entry),
    cmocka_unit_test(spans_survive_close_and_reopen),
    cmocka_unit_test(bad_arguments_are_rejected),
    cmocka_unit_test(small_key_limit_is_rejected_before_any_write),
    cmocka_unit_test(garbage_span_record_is_corrupt_not_a_crash),
    cmocka_unit_test(query_of_keys_beyond_max_key_size_is_etoobig),
    cmocka_unit_test(record_beyond_max_value_size_is_etoobig_before_input_or_output_is_read),
};
INMEM_TEST_COUNT(traces);
