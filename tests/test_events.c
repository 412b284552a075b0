/*
 * test_events.c — event streams (src/primitives/events.c): append and read back, dense sequence
 * numbers per stream and per run, batches that commit or roll back whole, forward, backward and
 * time ranges, O(1) stream info, listing streams, the hash chain (its exact input, verify on an
 * intact chain and after tampering through the raw transaction layer), concurrent appenders to
 * one stream, persistence across reopen, and bad input.
 *
 * Times come from the injected clock (inmem__clock_set_override), never from sleeping; every
 * test that sets it turns it off again. Worker threads never call cmocka: they count failures,
 * and the main thread asserts after joining.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#include "test.h"
#include "core/clock.h"
#include "core/key.h"
#include "txn/txn.h"

/* ---- helpers ------------------------------------------------------------------------------- */

/* The encoded key of event @p seq, as documented in events.c: run · tag · 0x02 · name · 0 · seq. */
static size_t ev_key(uint8_t *k, const inmem_run_id *run, const char *stream, uint64_t seq)
{
    size_t n = strlen(stream);
    inmem__key_prefix(k, run, INMEM__TAG_EVENT);
    k[17] = 0x02;
    memcpy(k + 18, stream, n);
    k[18 + n] = 0;
    for (int i = 0; i < 8; i++)
        k[19 + n + i] = (uint8_t)(seq >> (56 - 8 * i));
    return 27 + n;
}

/* Rewrites the stored record of event @p seq through the raw layer: flips byte @p at of its value
 * (at < 0: replaces the whole value by @p garbage). */
static void tamper(inmem_db *db, const inmem_run_id *run, const char *stream, uint64_t seq, long at,
                   const char *garbage)
{
    uint8_t k[128];
    size_t klen = ev_key(k, run, stream, seq);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    if (at < 0) {
        assert_ok(inmem__txn_put(t, k, klen, garbage, strlen(garbage), 0));
    } else {
        const void *val;
        size_t vlen;
        assert_ok(inmem__txn_get(t, k, klen, &val, &vlen, NULL));
        assert_true((size_t)at < vlen);
        uint8_t *copy = malloc(vlen);
        assert_non_null(copy);
        memcpy(copy, val, vlen);
        copy[at] ^= 0x20;
        assert_ok(inmem__txn_put(t, k, klen, copy, vlen, 0));
        free(copy);
    }
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
}

/* Deletes event @p seq through the raw layer. */
static void raw_delete(inmem_db *db, const inmem_run_id *run, const char *stream, uint64_t seq)
{
    uint8_t k[128];
    size_t klen = ev_key(k, run, stream, seq);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem__txn_delete(t, k, klen));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
}

static uint64_t length_of(inmem_db *db, const inmem_run_id *run, const char *stream)
{
    inmem_stream_info si;
    assert_ok(inmem_event_stream_info_db(db, run, stream, &si));
    return si.length;
}

static uint64_t verify(inmem_db *db, const inmem_run_id *run, const char *stream)
{
    uint64_t broken = 99;
    assert_ok(inmem_event_verify_db(db, run, stream, &broken));
    return broken;
}

/* Appends "e1".."e<n>" of type "t" to @p stream. */
static void append_n(inmem_db *db, const inmem_run_id *run, const char *stream, int n)
{
    for (int i = 1; i <= n; i++) {
        char p[16];
        snprintf(p, sizeof p, "e%d", i);
        assert_ok(inmem_event_append_db(db, run, stream, "t", p, strlen(p), NULL));
    }
}

static void assert_payload(const inmem_event *e, const char *want)
{
    assert_int_equal(e->payload_len, strlen(want));
    assert_memory_equal(e->payload, want, strlen(want));
}

/* ---- append and read ----------------------------------------------------------------------- */

static void event_append_then_get_returns_type_payload_time_and_chained_hashes(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));
    inmem__clock_set_override(5000);
    uint64_t s1 = 0, s2 = 0, s3 = 0;
    assert_ok(inmem_event_append_db(db, &run, "log", "tool_call", LIT("{\"tool\":\"ls\"}"), &s1));
    assert_ok(inmem_event_append_db(db, &run, "log", "tool_result", LIT("a b"), &s2));
    assert_ok(inmem_event_append_db(db, &run, "log", "empty", NULL, 0, &s3));
    inmem__clock_set_override(0);
    assert_int_equal(s1, 1);
    assert_int_equal(s2, 2);
    assert_int_equal(s3, 3);

    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_event e1, e2, e3;
    assert_ok(inmem_event_get(t, &run, "log", 1, &e1));
    assert_ok(inmem_event_get(t, &run, "log", 2, &e2));
    assert_ok(inmem_event_get(t, &run, "log", 3, &e3));
    assert_int_equal(e1.seq, 1);
    assert_string_equal(e1.type, "tool_call");
    assert_payload(&e1, "{\"tool\":\"ls\"}");
    assert_int_equal(e1.time_ms, 5000);
    assert_int_equal(e1.prev_hash, 0);
    assert_true(e1.hash != 0);
    assert_string_equal(e2.type, "tool_result");
    assert_payload(&e2, "a b");
    assert_int_equal(e2.prev_hash, e1.hash);
    assert_int_equal(e3.prev_hash, e2.hash);
    assert_int_equal(e3.payload_len, 0);
    assert_non_null(e3.payload);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void event_hash_is_xxh3_of_the_documented_input(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem__clock_set_override(0x0102030405ULL);
    assert_ok(inmem_event_append_db(db, NULL, "s", "ty", LIT("payload"), NULL));
    assert_ok(inmem_event_append_db(db, NULL, "s", "x", NULL, 0, NULL));
    inmem__clock_set_override(0);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    uint64_t prev = 0;
    for (uint64_t seq = 1; seq <= 2; seq++) {
        inmem_event e;
        assert_ok(inmem_event_get(t, NULL, "s", seq, &e));
        /* prev u64 · seq u64 · time u64 · type len u32 · type · payload len u32 · payload, LE */
        uint8_t in[128];
        size_t n = 0, tl = strlen(e.type);
        uint64_t f[3] = {prev, seq, e.time_ms};
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 8; i++)
                in[n++] = (uint8_t)(f[j] >> (8 * i));
        for (int i = 0; i < 4; i++)
            in[n++] = (uint8_t)(tl >> (8 * i));
        memcpy(in + n, e.type, tl);
        n += tl;
        for (int i = 0; i < 4; i++)
            in[n++] = (uint8_t)(e.payload_len >> (8 * i));
        memcpy(in + n, e.payload, e.payload_len);
        n += e.payload_len;
        assert_int_equal(e.time_ms, 0x0102030405ULL);
        assert_int_equal(e.prev_hash, prev);
        assert_int_equal(e.hash, XXH3_64bits(in, n));
        prev = e.hash;
    }
    inmem_stream_info si;
    assert_ok(inmem_event_stream_info(t, NULL, "s", &si));
    assert_int_equal(si.head_hash, prev);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void event_seqs_are_dense_from_one_and_independent_per_stream(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));
    uint64_t seq;
    for (uint64_t i = 1; i <= 5; i++) {
        assert_ok(inmem_event_append_db(db, &run, "a", "t", LIT("x"), &seq));
        assert_int_equal(seq, i);
        if (i <= 3) {
            assert_ok(inmem_event_append_db(db, &run, "b", "t", LIT("y"), &seq));
            assert_int_equal(seq, i);
        }
    }
    assert_int_equal(length_of(db, &run, "a"), 5);
    assert_int_equal(length_of(db, &run, "b"), 3);
    assert_int_equal(length_of(db, &run, "c"), 0);
    /* a stream whose name extends another's is a different stream */
    assert_ok(inmem_event_append_db(db, &run, "ab", "t", LIT("z"), &seq));
    assert_int_equal(seq, 1);
    assert_int_equal(length_of(db, &run, "a"), 5);
    assert_int_equal(verify(db, &run, "a"), 0);
    assert_int_equal(verify(db, &run, "b"), 0);
    assert_int_equal(verify(db, &run, "ab"), 0);
    assert_ok(inmem_db_close(db));
}

static void event_streams_of_different_runs_and_the_shared_scope_are_isolated(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id r1, r2, zero;
    assert_ok(inmem_run_id_new(&r1));
    assert_ok(inmem_run_id_new(&r2));
    memset(&zero, 0, sizeof zero);
    append_n(db, &r1, "log", 4);
    append_n(db, &r2, "log", 2);
    append_n(db, NULL, "log", 1);
    assert_int_equal(length_of(db, &r1, "log"), 4);
    assert_int_equal(length_of(db, &r2, "log"), 2);
    assert_int_equal(length_of(db, NULL, "log"), 1);
    assert_int_equal(length_of(db, &zero, "log"), 1); /* the all-zero id is the shared scope */
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_event e;
    assert_rc(INMEM_NOTFOUND, inmem_event_get(t, &r2, "log", 3, &e));
    assert_rc(INMEM_NOTFOUND, inmem_event_get(t, NULL, "log", 2, &e));
    char names[4][INMEM_NAME_MAX];
    size_t n;
    inmem_run_id r3;
    assert_ok(inmem_run_id_new(&r3));
    assert_ok(inmem_event_streams(t, &r3, NULL, 4, names, &n));
    assert_int_equal(n, 0);
    inmem_txn_free(t);
    assert_int_equal(verify(db, &r1, "log"), 0);
    assert_int_equal(verify(db, &r2, "log"), 0);
    assert_int_equal(verify(db, NULL, "log"), 0);
    assert_ok(inmem_db_close(db));
}

/* ---- batches and transactions -------------------------------------------------------------- */

static void event_batch_gets_consecutive_seqs_visible_only_at_commit(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    append_n(db, NULL, "s", 2);
    inmem_event_in in[3] = {{"a", "1", 1}, {"b", "22", 2}, {"c", NULL, 0}};
    inmem_txn *t, *other;
    assert_ok(inmem_txn_begin(db, &t));
    uint64_t first = 0, seq = 0;
    assert_ok(inmem_event_append_batch(t, NULL, "s", 3, in, &first));
    assert_int_equal(first, 3);
    assert_ok(inmem_event_append(t, NULL, "s", "d", LIT("4"), &seq));
    assert_int_equal(seq, 6); /* the transaction sees its own appends */
    assert_ok(inmem_txn_begin(db, &other));
    inmem_stream_info si;
    assert_ok(inmem_event_stream_info(other, NULL, "s", &si));
    assert_int_equal(si.length, 2); /* nothing of the batch before commit */
    inmem_txn_free(other);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);

    assert_ok(inmem_txn_begin(db, &t));
    inmem_event out[8];
    size_t n;
    assert_ok(inmem_event_range(t, NULL, "s", 1, 0, 0, 8, out, &n));
    assert_int_equal(n, 6);
    const char *types[] = {"t", "t", "a", "b", "c", "d"};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out[i].seq, i + 1);
        assert_string_equal(out[i].type, types[i]);
    }
    assert_payload(&out[3], "22");
    inmem_txn_free(t);
    assert_ok(inmem_event_append_batch_db(db, NULL, "s", 2, in, &first));
    assert_int_equal(first, 7);
    assert_int_equal(length_of(db, NULL, "s"), 8);
    assert_int_equal(verify(db, NULL, "s"), 0);
    assert_ok(inmem_db_close(db));
}

static int append_then_fail(inmem_txn *txn, void *arg)
{
    const inmem_event_in *in = arg;
    int rc = inmem_event_append_batch(txn, NULL, "s", 2, in, NULL);
    return rc ? rc : INMEM_EINVAL; /* the callback's error aborts the transaction */
}

static void event_batch_rolls_back_with_an_aborted_or_failed_txn(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    append_n(db, NULL, "s", 3);
    inmem_stream_info before;
    assert_ok(inmem_event_stream_info_db(db, NULL, "s", &before));
    inmem_event_in in[2] = {{"a", "1", 1}, {"b", "2", 1}};

    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_event_append_batch(t, NULL, "s", 2, in, NULL));
    assert_ok(inmem_event_append(t, NULL, "new", "a", LIT("x"), NULL));
    assert_ok(inmem_txn_abort(t));
    inmem_txn_free(t);
    assert_rc(INMEM_EINVAL, inmem_db_transact(db, NULL, append_then_fail, in));

    inmem_stream_info after;
    assert_ok(inmem_event_stream_info_db(db, NULL, "s", &after));
    assert_int_equal(after.length, 3);
    assert_int_equal(after.head_hash, before.head_hash);
    assert_int_equal(length_of(db, NULL, "new"), 0);
    assert_ok(inmem_txn_begin(db, &t));
    inmem_event e;
    assert_rc(INMEM_NOTFOUND, inmem_event_get(t, NULL, "s", 4, &e));
    inmem_txn_free(t);
    /* a batch with one bad event writes nothing */
    inmem_event_in bad[2] = {{"a", "1", 1}, {"", "2", 1}};
    assert_rc(INMEM_EINVAL, inmem_event_append_batch_db(db, NULL, "s", 2, bad, NULL));
    assert_int_equal(length_of(db, NULL, "s"), 3);
    uint64_t seq;
    assert_ok(inmem_event_append_db(db, NULL, "s", "t", LIT("y"), &seq));
    assert_int_equal(seq, 4);
    assert_int_equal(verify(db, NULL, "s"), 0);
    assert_ok(inmem_db_close(db));
}

/* ---- ranges -------------------------------------------------------------------------------- */

static void event_range_reads_forward_and_backward_within_bounds_and_limit(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    append_n(db, NULL, "s", 10);
    append_n(db, NULL, "s2", 3); /* a neighbouring stream must not leak into the range */
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_event out[16];
    size_t n;

    assert_ok(inmem_event_range(t, NULL, "s", 1, 0, 0, 16, out, &n));
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i].seq, i + 1);
    assert_payload(&out[9], "e10");

    assert_ok(inmem_event_range(t, NULL, "s", 3, 7, 0, 16, out, &n));
    assert_int_equal(n, 5);
    assert_int_equal(out[0].seq, 3);
    assert_int_equal(out[4].seq, 7);

    assert_ok(inmem_event_range(t, NULL, "s", 3, 7, 0, 2, out, &n)); /* limit */
    assert_int_equal(n, 2);
    assert_int_equal(out[1].seq, 4);

    assert_ok(inmem_event_range(t, NULL, "s", 3, 7, 1, 16, out, &n)); /* backward */
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i].seq, 7 - i);

    assert_ok(inmem_event_range(t, NULL, "s", 1, 0, 1, 3, out, &n)); /* last three, newest first */
    assert_int_equal(n, 3);
    assert_int_equal(out[0].seq, 10);
    assert_int_equal(out[2].seq, 8);
    assert_payload(&out[0], "e10");

    assert_ok(inmem_event_range(t, NULL, "s", 0, 100, 0, 16, out, &n)); /* clamped */
    assert_int_equal(n, 10);
    assert_ok(inmem_event_range(t, NULL, "s", 8, 100, 1, 16, out, &n));
    assert_int_equal(n, 3);
    assert_int_equal(out[0].seq, 10);
    assert_ok(inmem_event_range(t, NULL, "s", 11, 0, 0, 16, out, &n)); /* past the end */
    assert_int_equal(n, 0);
    assert_ok(inmem_event_range(t, NULL, "s", 5, 4, 0, 16, out, &n)); /* from > to */
    assert_int_equal(n, 0);
    assert_ok(inmem_event_range(t, NULL, "s", 1, 0, 0, 0, NULL, &n)); /* limit 0 */
    assert_int_equal(n, 0);
    assert_ok(inmem_event_range(t, NULL, "none", 1, 0, 1, 16, out, &n));
    assert_int_equal(n, 0);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void event_range_time_finds_events_by_time_with_injected_clock(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    for (uint64_t i = 1; i <= 9; i++) { /* event i at t = 1000 * i; two events at 5000 */
        inmem__clock_set_override(1000 * i);
        assert_ok(inmem_event_append_db(db, NULL, "s", "t", LIT("x"), NULL));
        if (i == 5)
            assert_ok(inmem_event_append_db(db, NULL, "s", "t", LIT("x"), NULL));
    }
    inmem__clock_set_override(0);
    /* seqs: 1..4 at 1000..4000, 5 and 6 at 5000, 7..10 at 6000..9000 */
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_event out[16];
    size_t n;
    assert_ok(inmem_event_range_time(t, NULL, "s", 2500, 6000, 16, out, &n));
    assert_int_equal(n, 4); /* 3000, 4000, 5000, 5000; to_ms is exclusive */
    assert_int_equal(out[0].seq, 3);
    assert_int_equal(out[0].time_ms, 3000);
    assert_int_equal(out[3].seq, 6);
    assert_int_equal(out[3].time_ms, 5000);

    assert_ok(inmem_event_range_time(t, NULL, "s", 5000, 5001, 16, out, &n));
    assert_int_equal(n, 2);
    assert_int_equal(out[0].seq, 5);
    assert_int_equal(out[1].seq, 6);

    assert_ok(inmem_event_range_time(t, NULL, "s", 0, 3000, 16, out, &n));
    assert_int_equal(n, 2);
    assert_int_equal(out[0].seq, 1);

    assert_ok(inmem_event_range_time(t, NULL, "s", 2000, 100000, 3, out, &n)); /* limit */
    assert_int_equal(n, 3);
    assert_int_equal(out[0].seq, 2);
    assert_int_equal(out[2].seq, 4);

    assert_ok(inmem_event_range_time(t, NULL, "s", 8500, 0, 16, out, &n)); /* to_ms 0: no end */
    assert_int_equal(n, 1);
    assert_int_equal(out[0].seq, 10);

    assert_ok(inmem_event_range_time(t, NULL, "s", 9001, 20000, 16, out, &n));
    assert_int_equal(n, 0);
    assert_ok(inmem_event_range_time(t, NULL, "s", 0, 1000, 16, out, &n));
    assert_int_equal(n, 0);
    assert_ok(inmem_event_range_time(t, NULL, "s", 4100, 4900, 16, out, &n)); /* a gap */
    assert_int_equal(n, 0);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void event_time_never_decreases_when_the_clock_goes_back(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem__clock_set_override(5000);
    assert_ok(inmem_event_append_db(db, NULL, "s", "t", LIT("x"), NULL));
    inmem__clock_set_override(3000); /* the wall clock steps back */
    assert_ok(inmem_event_append_db(db, NULL, "s", "t", LIT("y"), NULL));
    inmem__clock_set_override(0);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_event e;
    assert_ok(inmem_event_get(t, NULL, "s", 2, &e));
    assert_int_equal(e.time_ms, 5000);
    inmem_txn_free(t);
    assert_int_equal(verify(db, NULL, "s"), 0);
    assert_ok(inmem_db_close(db));
}

/* ---- stream info and listing --------------------------------------------------------------- */

static void event_stream_info_reports_length_head_hash_and_times(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_stream_info si;
    memset(&si, 0xff, sizeof si);
    assert_ok(inmem_event_stream_info_db(db, NULL, "s", &si)); /* no stream: zeros, no error */
    assert_int_equal(si.length, 0);
    assert_int_equal(si.head_hash, 0);
    assert_int_equal(si.first_ms, 0);
    assert_int_equal(si.last_ms, 0);
    inmem__clock_set_override(1000);
    append_n(db, NULL, "s", 1);
    inmem__clock_set_override(4000);
    append_n(db, NULL, "s", 1);
    inmem_event_in in[2] = {{"a", "1", 1}, {"b", "2", 1}};
    inmem__clock_set_override(7000);
    assert_ok(inmem_event_append_batch_db(db, NULL, "s", 2, in, NULL));
    inmem__clock_set_override(0);
    assert_ok(inmem_event_stream_info_db(db, NULL, "s", &si));
    assert_int_equal(si.length, 4);
    assert_int_equal(si.first_ms, 1000);
    assert_int_equal(si.last_ms, 7000);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_event e;
    assert_ok(inmem_event_get(t, NULL, "s", 4, &e));
    assert_int_equal(si.head_hash, e.hash);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void event_streams_lists_names_in_order_with_a_cursor(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id run, other;
    assert_ok(inmem_run_id_new(&run));
    assert_ok(inmem_run_id_new(&other));
    const char *add[] = {"tools", "chat", "b", "ab", "a", "chat2"};
    for (size_t i = 0; i < 6; i++)
        append_n(db, &run, add[i], 2);
    append_n(db, &other, "zzz", 1);
    append_n(db, NULL, "shared", 1);
    const char *want[] = {"a", "ab", "b", "chat", "chat2", "tools"};
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    char names[8][INMEM_NAME_MAX];
    size_t n;
    assert_ok(inmem_event_streams(t, &run, NULL, 8, names, &n));
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(names[i], want[i]);
    /* pages of 4 then the rest, the cursor being the last name of the previous page */
    assert_ok(inmem_event_streams(t, &run, NULL, 4, names, &n));
    assert_int_equal(n, 4);
    assert_string_equal(names[3], "chat");
    assert_ok(inmem_event_streams(t, &run, "chat", 4, names, &n));
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "chat2");
    assert_string_equal(names[1], "tools");
    assert_ok(inmem_event_streams(t, &run, "a", 1, names, &n));
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "ab");
    assert_ok(inmem_event_streams(t, &run, "tools", 4, names, &n));
    assert_int_equal(n, 0);
    assert_ok(inmem_event_streams(t, &run, "c", 8, names, &n)); /* a cursor that is no stream */
    assert_int_equal(n, 3);
    assert_string_equal(names[0], "chat");
    assert_ok(inmem_event_streams(t, NULL, NULL, 8, names, &n));
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "shared");
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- the hash chain ------------------------------------------------------------------------ */

static void event_verify_accepts_an_intact_chain(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    append_n(db, NULL, "s", 50);
    inmem_event_in in[3] = {{"a", "1", 1}, {"b", NULL, 0}, {"c", "333", 3}};
    assert_ok(inmem_event_append_batch_db(db, NULL, "s", 3, in, NULL));
    assert_int_equal(verify(db, NULL, "s"), 0);
    assert_int_equal(verify(db, NULL, "empty"), 0); /* an empty stream is intact */
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    uint64_t broken = 7;
    assert_ok(inmem_event_verify(t, NULL, "s", &broken));
    assert_int_equal(broken, 0);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void event_verify_reports_the_first_tampered_seq(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));
    append_n(db, &run, "pay", 10);
    append_n(db, &run, "hash", 10);
    append_n(db, &run, "gone", 10);
    append_n(db, &run, "time", 10);
    append_n(db, &run, "stray", 10);
    /* event record: fmt 1 · seq 8 · time 8 · prev 8 · hash 8 · type len 1 · "t" · 0 · len 4 ·
     * payload: the payload of event 6 ("e6") begins at 39 + 1 */
    tamper(db, &run, "pay", 6, 40, NULL);
    tamper(db, &run, "hash", 4, 25, NULL); /* a byte of the stored hash */
    raw_delete(db, &run, "gone", 8);
    tamper(db, &run, "time", 9, 9, NULL); /* a byte of the time */
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_event e;
    assert_ok(inmem_event_get(t, &run, "pay", 6, &e));
    assert_payload(&e, "E6"); /* 'e' ^ 0x20: the record still decodes */
    inmem_txn_free(t);
    assert_int_equal(verify(db, &run, "pay"), 6);
    assert_int_equal(verify(db, &run, "hash"), 4);
    assert_int_equal(verify(db, &run, "gone"), 8);
    assert_int_equal(verify(db, &run, "time"), 9);
    /* bytes added to a type behind a NUL ("ab" stored as the 4 bytes "ab\0c"): read as a C
     * string the type is unchanged, and so is its hash, but the record is not what was written */
    for (int i = 0; i < 3; i++)
        assert_ok(inmem_event_append_db(db, &run, "nul", "ab", "p", 1, NULL));
    assert_int_equal(verify(db, &run, "nul"), 0);
    {
        uint8_t nkey[128];
        size_t nk = ev_key(nkey, &run, "nul", 2);
        assert_ok(inmem_txn_begin(db, &t));
        const void *old;
        size_t olen;
        assert_ok(inmem__txn_get(t, nkey, nk, &old, &olen, NULL));
        uint8_t grown[96];
        assert_true(olen + 2 <= sizeof grown && ((const uint8_t *)old)[33] == 2);
        memcpy(grown, old, 33); /* up to the type's length byte */
        memcpy(grown + 33,
               "\x04"
               "ab\0c",
               6);
        memcpy(grown + 39, (const uint8_t *)old + 36, olen - 36); /* its NUL, the payload */
        assert_ok(inmem__txn_put(t, nkey, nk, grown, olen + 2, 0));
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
    }
    assert_int_equal(verify(db, &run, "nul"), 2);
    /* an event written past the head's end */
    assert_int_equal(verify(db, &run, "stray"), 0);
    uint8_t k[128], v[64];
    size_t klen = ev_key(k, &run, "stray", 11);
    assert_ok(inmem_txn_begin(db, &t));
    const void *val;
    size_t vlen;
    uint8_t k10[128];
    size_t k10len = ev_key(k10, &run, "stray", 10);
    assert_ok(inmem__txn_get(t, k10, k10len, &val, &vlen, NULL));
    assert_true(vlen <= sizeof v);
    memcpy(v, val, vlen);
    assert_ok(inmem__txn_put(t, k, klen, v, vlen, 0));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_int_equal(verify(db, &run, "stray"), 11);
    /* the untampered streams of the run still verify */
    append_n(db, &run, "ok", 5);
    assert_int_equal(verify(db, &run, "ok"), 0);
    assert_ok(inmem_db_close(db));
}

static void event_verify_reports_a_garbage_record_as_broken(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    append_n(db, NULL, "s", 5);
    tamper(db, NULL, "s", 3, -1, "garbage");
    assert_int_equal(verify(db, NULL, "s"), 3);
    assert_ok(inmem_db_close(db));
}

static void event_two_txns_appending_to_one_stream_conflict_but_not_across_streams(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    append_n(db, NULL, "s", 1);
    inmem_txn *a, *b, *c;
    assert_ok(inmem_txn_begin(db, &a));
    assert_ok(inmem_txn_begin(db, &b));
    assert_ok(inmem_txn_begin(db, &c));
    uint64_t sa, sb, sc;
    assert_ok(inmem_event_append(a, NULL, "s", "t", LIT("a"), &sa));
    assert_ok(inmem_event_append(b, NULL, "s", "t", LIT("b"), &sb));
    assert_ok(inmem_event_append(c, NULL, "other", "t", LIT("c"), &sc));
    assert_int_equal(sa, 2);
    assert_int_equal(sb, 2); /* both saw length 1 ... */
    assert_ok(inmem_txn_commit(a));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(b)); /* ... so the second committer conflicts */
    assert_ok(inmem_txn_commit(c));                 /* another stream: no conflict */
    inmem_txn_free(a);
    inmem_txn_free(b);
    inmem_txn_free(c);
    assert_int_equal(length_of(db, NULL, "s"), 2);
    assert_int_equal(length_of(db, NULL, "other"), 1);
    assert_int_equal(verify(db, NULL, "s"), 0);
    assert_ok(inmem_db_close(db));
}

/* ---- concurrency --------------------------------------------------------------------------- */

#define CT_THREADS 4
#define CT_APPENDS 500

struct ct_arg {
    inmem_db *db;
    int id;
    atomic_uint *failures;
    atomic_int *go; /* workers start together, so that their appends collide */
    uint64_t seqs[CT_APPENDS];
};

static void *ct_worker(void *p)
{
    struct ct_arg *a = p;
    while (!atomic_load(a->go))
        ;
    for (int i = 0; i < CT_APPENDS; i++) {
        char pl[32];
        snprintf(pl, sizeof pl, "%d:%d", a->id, i);
        if (inmem_event_append_db(a->db, NULL, "hot", "t", pl, strlen(pl), &a->seqs[i]) != 0)
            atomic_fetch_add(a->failures, 1);
    }
    return NULL;
}

static void event_concurrent_appenders_to_one_stream_get_dense_unique_seqs(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    atomic_uint failures;
    atomic_init(&failures, 0);
    atomic_int go;
    atomic_init(&go, 0);
    struct ct_arg *args = calloc(CT_THREADS, sizeof(*args));
    assert_non_null(args);
    pthread_t th[CT_THREADS];
    for (int i = 0; i < CT_THREADS; i++) {
        args[i] = (struct ct_arg){.db = db, .id = i, .failures = &failures, .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, ct_worker, &args[i]), 0);
    }
    atomic_store(&go, 1);
    for (int i = 0; i < CT_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&failures), 0);

    const uint64_t total = (uint64_t)CT_THREADS * CT_APPENDS;
    assert_int_equal(length_of(db, NULL, "hot"), total);
    /* every seq 1..total is returned to exactly one append, and each thread's seqs grow */
    uint8_t *seen = calloc(total + 1, 1);
    assert_non_null(seen);
    for (int i = 0; i < CT_THREADS; i++)
        for (int j = 0; j < CT_APPENDS; j++) {
            uint64_t s = args[i].seqs[j];
            assert_true(s >= 1 && s <= total);
            assert_int_equal(seen[s], 0);
            seen[s] = 1;
            if (j > 0)
                assert_true(s > args[i].seqs[j - 1]);
        }
    /* the stored event at each seq is the one that append was told */
    inmem_event *ev = calloc(total, sizeof(*ev));
    assert_non_null(ev);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    size_t n;
    assert_ok(inmem_event_range(t, NULL, "hot", 1, 0, 0, total, ev, &n));
    assert_int_equal(n, total);
    for (int i = 0; i < CT_THREADS; i++)
        for (int j = 0; j < CT_APPENDS; j += 97) {
            char pl[32];
            snprintf(pl, sizeof pl, "%d:%d", i, j);
            assert_payload(&ev[args[i].seqs[j] - 1], pl);
        }
    for (uint64_t s = 1; s <= total; s++)
        assert_int_equal(ev[s - 1].seq, s);
    inmem_txn_free(t);
    assert_int_equal(verify(db, NULL, "hot"), 0);
    free(ev);
    free(seen);
    free(args);
    assert_ok(inmem_db_close(db));
}

/* ---- persistence --------------------------------------------------------------------------- */

static void event_streams_survive_close_and_reopen(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(dir, NULL, &db));
    inmem__clock_set_override(1000);
    append_n(db, &run, "log", 3);
    inmem_event_in in[2] = {{"a", "1", 1}, {"b", "22", 2}};
    inmem__clock_set_override(2000);
    assert_ok(inmem_event_append_batch_db(db, &run, "log", 2, in, NULL));
    append_n(db, NULL, "shared", 1);
    inmem__clock_set_override(0);
    inmem_stream_info before;
    assert_ok(inmem_event_stream_info_db(db, &run, "log", &before));
    assert_ok(inmem_db_close(db));

    assert_ok(inmem_db_open(dir, NULL, &db));
    inmem_stream_info after;
    assert_ok(inmem_event_stream_info_db(db, &run, "log", &after));
    assert_int_equal(after.length, 5);
    assert_int_equal(after.head_hash, before.head_hash);
    assert_int_equal(after.first_ms, 1000);
    assert_int_equal(after.last_ms, 2000);
    assert_int_equal(verify(db, &run, "log"), 0);
    assert_int_equal(length_of(db, NULL, "shared"), 1);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_event e;
    assert_ok(inmem_event_get(t, &run, "log", 5, &e));
    assert_string_equal(e.type, "b");
    assert_payload(&e, "22");
    inmem_txn_free(t);
    uint64_t seq;
    assert_ok(inmem_event_append_db(db, &run, "log", "c", LIT("3"), &seq));
    assert_int_equal(seq, 6); /* the chain goes on after reopen */
    assert_int_equal(verify(db, &run, "log"), 0);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* ---- bad input ----------------------------------------------------------------------------- */

static void event_bad_input_gets_einval_etoobig_or_notfound(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    char longname[INMEM_NAME_MAX + 1];
    memset(longname, 'x', INMEM_NAME_MAX);
    longname[INMEM_NAME_MAX] = 0;
    char maxname[INMEM_NAME_MAX];
    memset(maxname, 'y', INMEM_NAME_MAX - 1);
    maxname[INMEM_NAME_MAX - 1] = 0;

    assert_rc(INMEM_EINVAL, inmem_event_append_db(NULL, NULL, "s", "t", LIT("x"), NULL));
    assert_rc(INMEM_EINVAL, inmem_event_append_db(db, NULL, NULL, "t", LIT("x"), NULL));
    assert_rc(INMEM_EINVAL, inmem_event_append_db(db, NULL, "", "t", LIT("x"), NULL));
    assert_rc(INMEM_ETOOBIG, inmem_event_append_db(db, NULL, longname, "t", LIT("x"), NULL));
    assert_rc(INMEM_EINVAL, inmem_event_append_db(db, NULL, "s", NULL, LIT("x"), NULL));
    assert_rc(INMEM_EINVAL, inmem_event_append_db(db, NULL, "s", "", LIT("x"), NULL));
    assert_rc(INMEM_ETOOBIG, inmem_event_append_db(db, NULL, "s", longname, LIT("x"), NULL));
    assert_rc(INMEM_EINVAL, inmem_event_append_db(db, NULL, "s", "t", NULL, 3, NULL));
    assert_rc(INMEM_EINVAL, inmem_event_append_batch_db(db, NULL, "s", 2, NULL, NULL));
    assert_rc(INMEM_EINVAL, inmem_event_append(NULL, NULL, "s", "t", LIT("x"), NULL));
    assert_int_equal(length_of(db, NULL, "s"), 0);
    uint64_t first = 9;
    assert_ok(inmem_event_append_batch_db(db, NULL, "s", 0, NULL, &first)); /* empty: no-op */
    assert_int_equal(first, 0);
    assert_int_equal(length_of(db, NULL, "s"), 0);
    /* the longest names work */
    uint64_t seq;
    assert_ok(inmem_event_append_db(db, NULL, maxname, maxname, LIT("x"), &seq));
    assert_int_equal(seq, 1);

    /* a payload over max_value_size */
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_value_size = 100;
    inmem_db *small = NULL;
    assert_ok(inmem_db_open(NULL, &o, &small));
    char big[100] = {0};
    assert_rc(INMEM_ETOOBIG, inmem_event_append_db(small, NULL, "s", "t", big, sizeof big, NULL));
    assert_ok(inmem_event_append_db(small, NULL, "s", "t", big, 50, NULL));
    assert_ok(inmem_db_close(small));

    append_n(db, NULL, "s", 2);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_event e, out[2];
    size_t n;
    inmem_stream_info si;
    char names[2][INMEM_NAME_MAX];
    uint64_t broken;
    assert_rc(INMEM_NOTFOUND, inmem_event_get(t, NULL, "s", 0, &e));
    assert_rc(INMEM_NOTFOUND, inmem_event_get(t, NULL, "s", 3, &e));
    assert_rc(INMEM_NOTFOUND, inmem_event_get(t, NULL, "nope", 1, &e));
    assert_ok(inmem_event_get(t, NULL, maxname, 1, &e));
    assert_string_equal(e.type, maxname);
    assert_rc(INMEM_EINVAL, inmem_event_get(NULL, NULL, "s", 1, &e));
    assert_rc(INMEM_EINVAL, inmem_event_get(t, NULL, "s", 1, NULL));
    assert_rc(INMEM_EINVAL, inmem_event_get(t, NULL, "", 1, &e));
    assert_rc(INMEM_ETOOBIG, inmem_event_get(t, NULL, longname, 1, &e));
    assert_rc(INMEM_EINVAL, inmem_event_range(t, NULL, "s", 1, 0, 0, 2, NULL, &n));
    assert_rc(INMEM_EINVAL, inmem_event_range(t, NULL, "s", 1, 0, 0, 2, out, NULL));
    assert_rc(INMEM_ETOOBIG, inmem_event_range(t, NULL, longname, 1, 0, 0, 2, out, &n));
    assert_rc(INMEM_EINVAL, inmem_event_range_time(t, NULL, NULL, 0, 0, 2, out, &n));
    assert_rc(INMEM_EINVAL, inmem_event_stream_info(t, NULL, "s", NULL));
    assert_rc(INMEM_EINVAL, inmem_event_stream_info(t, NULL, NULL, &si));
    assert_rc(INMEM_EINVAL, inmem_event_stream_info_db(NULL, NULL, "s", &si));
    assert_rc(INMEM_EINVAL, inmem_event_streams(t, NULL, NULL, 2, NULL, &n));
    assert_rc(INMEM_ETOOBIG, inmem_event_streams(t, NULL, longname, 2, names, &n));
    assert_rc(INMEM_EINVAL, inmem_event_verify(t, NULL, "s", NULL));
    assert_rc(INMEM_EINVAL, inmem_event_verify_db(db, NULL, "", &broken));
    assert_rc(INMEM_EINVAL, inmem_event_verify_db(NULL, NULL, "s", &broken));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void event_corrupt_record_gives_ecorrupt(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    append_n(db, NULL, "s", 5);
    tamper(db, NULL, "s", 4, -1, "\x01garbage");
    tamper(db, NULL, "s", 2, 0, NULL); /* a wrong format byte */
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_event e, out[8];
    size_t n = 99;
    assert_rc(INMEM_ECORRUPT, inmem_event_get(t, NULL, "s", 4, &e));
    assert_rc(INMEM_ECORRUPT, inmem_event_get(t, NULL, "s", 2, &e));
    assert_ok(inmem_event_get(t, NULL, "s", 3, &e));
    assert_rc(INMEM_ECORRUPT, inmem_event_range(t, NULL, "s", 3, 0, 0, 8, out, &n));
    assert_int_equal(n, 0);
    assert_rc(INMEM_ECORRUPT, inmem_event_range(t, NULL, "s", 1, 0, 1, 8, out, &n));
    assert_ok(inmem_event_range(t, NULL, "s", 5, 0, 1, 8, out, &n));
    assert_int_equal(n, 1);
    inmem_txn_free(t);
    /* an event missing below the head is corruption for a range */
    raw_delete(db, NULL, "s", 5);
    assert_ok(inmem_txn_begin(db, &t));
    assert_rc(INMEM_ECORRUPT, inmem_event_range(t, NULL, "s", 5, 0, 0, 8, out, &n));
    inmem_txn_free(t);
    /* a corrupt head record makes every use of the stream ECORRUPT */
    uint8_t hk[128];
    inmem__key_prefix(hk, NULL, INMEM__TAG_EVENT);
    hk[17] = 0x01;
    memcpy(hk + 18, "s", 2);
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem__txn_put(t, hk, 20, "\x01short", 6, 0));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    inmem_stream_info si;
    uint64_t broken;
    assert_rc(INMEM_ECORRUPT, inmem_event_stream_info_db(db, NULL, "s", &si));
    assert_rc(INMEM_ECORRUPT, inmem_event_append_db(db, NULL, "s", "t", LIT("x"), NULL));
    assert_rc(INMEM_ECORRUPT, inmem_event_verify_db(db, NULL, "s", &broken));
    assert_ok(inmem_db_close(db));
}

const struct CMUnitTest events_tests[] = {
    cmocka_unit_test(event_append_then_get_returns_type_payload_time_and_chained_hashes),
    cmocka_unit_test(event_hash_is_xxh3_of_the_documented_input),
    cmocka_unit_test(event_seqs_are_dense_from_one_and_independent_per_stream),
    cmocka_unit_test(event_streams_of_different_runs_and_the_shared_scope_are_isolated),
    cmocka_unit_test(event_batch_gets_consecutive_seqs_visible_only_at_commit),
    cmocka_unit_test(event_batch_rolls_back_with_an_aborted_or_failed_txn),
    cmocka_unit_test(event_range_reads_forward_and_backward_within_bounds_and_limit),
    cmocka_unit_test(event_range_time_finds_events_by_time_with_injected_clock),
    cmocka_unit_test(event_time_never_decreases_when_the_clock_goes_back),
    cmocka_unit_test(event_stream_info_reports_length_head_hash_and_times),
    cmocka_unit_test(event_streams_lists_names_in_order_with_a_cursor),
    cmocka_unit_test(event_verify_accepts_an_intact_chain),
    cmocka_unit_test(event_verify_reports_the_first_tampered_seq),
    cmocka_unit_test(event_verify_reports_a_garbage_record_as_broken),
    cmocka_unit_test(event_two_txns_appending_to_one_stream_conflict_but_not_across_streams),
    cmocka_unit_test(event_concurrent_appenders_to_one_stream_get_dense_unique_seqs),
    cmocka_unit_test(event_streams_survive_close_and_reopen),
    cmocka_unit_test(event_bad_input_gets_einval_etoobig_or_notfound),
    cmocka_unit_test(event_corrupt_record_gives_ecorrupt),
};
INMEM_TEST_COUNT(events);
