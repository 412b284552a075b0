/*
 * test_txn_rules.c — one test per rule of the transaction contract (docs/CONTRACT.md, section 1),
 * each named after the rule it checks and asserting something that fails if the rule breaks.
 *
 * Interleavings are driven step by step from one thread: two (or three) transactions are begun,
 * read and written in a chosen order, then committed in a chosen order. No sleeps, no timing.
 * Implicit operations (inmem_put and friends) are used as "another transaction that commits
 * right now".
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "test.h"

/* "Any version" for the helpers below. */
#define ANY_VERSION UINT64_MAX

/* ---- helpers ---------------------------------------------------------------------------- */

static inmem_txn_info info_of(inmem_txn *t)
{
    inmem_txn_info i;
    memset(&i, 0xab, sizeof(i));
    assert_ok(inmem_txn_describe(t, &i));
    return i;
}

/* Implicit put of string key/value; returns the commit's version. */
static uint64_t db_put(inmem_db *db, const inmem_run_id *run, const char *k, const char *v)
{
    uint64_t ver = 0;
    assert_ok(inmem_put(db, run, k, strlen(k), v, strlen(v), &ver));
    assert_true(ver > 0);
    return ver;
}

static uint64_t db_delete(inmem_db *db, const inmem_run_id *run, const char *k)
{
    uint64_t ver = 0;
    assert_ok(inmem_delete(db, run, k, strlen(k), &ver));
    assert_true(ver > 0);
    return ver;
}

/* Reads k in txn t and checks value (and version unless ANY_VERSION). */
static void expect_val(inmem_txn *t, const inmem_run_id *run, const char *k, const char *want,
                       uint64_t want_version)
{
    const void *v = NULL;
    size_t vl = 0;
    uint64_t ver = 0xdeadbeef;
    assert_ok(inmem_kv_get(t, run, k, strlen(k), &v, &vl, &ver));
    assert_int_equal(vl, strlen(want));
    if (vl)
        assert_memory_equal(v, want, vl);
    if (want_version != ANY_VERSION)
        assert_int_equal(ver, want_version);
}

static void expect_missing(inmem_txn *t, const inmem_run_id *run, const char *k)
{
    const void *v = NULL;
    size_t vl = 0;
    assert_rc(INMEM_NOTFOUND, inmem_kv_get(t, run, k, strlen(k), &v, &vl, NULL));
}

/* Reads the latest committed value through the implicit inmem_get. */
static void expect_db_val(inmem_db *db, const inmem_run_id *run, const char *k, const char *want,
                          uint64_t want_version)
{
    void *v = NULL;
    size_t vl = 0;
    uint64_t ver = 0;
    assert_ok(inmem_get(db, run, k, strlen(k), &v, &vl, &ver));
    assert_int_equal(vl, strlen(want));
    if (vl)
        assert_memory_equal(v, want, vl);
    inmem_free(v);
    if (want_version != ANY_VERSION)
        assert_int_equal(ver, want_version);
}

static void expect_db_missing(inmem_db *db, const inmem_run_id *run, const char *k)
{
    void *v = NULL;
    size_t vl = 0;
    assert_rc(INMEM_NOTFOUND, inmem_get(db, run, k, strlen(k), &v, &vl, NULL));
    inmem_free(v);
}

/* The version of k as the latest committed state has it (via a fresh transaction). */
static uint64_t version_of(inmem_db *db, const inmem_run_id *run, const char *k)
{
    uint64_t ver = 0;
    assert_ok(inmem_get(db, run, k, strlen(k), NULL, NULL, &ver));
    return ver;
}

struct kvv {
    const char *k;
    const char *v;
    uint64_t ver; /* ANY_VERSION: do not check */
};

/* Drains @p it and checks it returns exactly want[0..n) in order, then frees it. */
static void expect_iter(inmem_iter *it, const struct kvv *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        uint64_t ver = 0xdeadbeef;
        int rc = inmem_iter_next(it, &k, &kl, &v, &vl, &ver);
        if (rc != 0)
            fail_msg("scan entry %zu: expected key '%s', got %s", i, want[i].k, inmem_errname(rc));
        if (kl != strlen(want[i].k) || memcmp(k, want[i].k, kl) != 0)
            fail_msg("scan entry %zu: expected key '%s', got '%.*s'", i, want[i].k, (int)kl,
                     (const char *)k);
        assert_int_equal(vl, strlen(want[i].v));
        if (vl)
            assert_memory_equal(v, want[i].v, vl);
        if (want[i].ver != ANY_VERSION)
            assert_int_equal(ver, want[i].ver);
    }
    const void *k = NULL;
    size_t kl = 0;
    int rc = inmem_iter_next(it, &k, &kl, NULL, NULL, NULL);
    if (rc != INMEM_NOTFOUND)
        fail_msg("scan: expected the end after %zu entries, got %s (key '%.*s')", n,
                 inmem_errname(rc), rc == 0 ? (int)kl : 0, rc == 0 ? (const char *)k : "");
    inmem_iter_free(it);
}

/* Scans [start, end) (NULL = unbounded) and checks the result. */
static void expect_scan(inmem_txn *t, const inmem_run_id *run, const char *start, const char *end,
                        const struct kvv *want, size_t n)
{
    inmem_iter *it = NULL;
    assert_ok(
        inmem_kv_scan(t, run, start, start ? strlen(start) : 0, end, end ? strlen(end) : 0, &it));
    assert_non_null(it);
    expect_iter(it, want, n);
}

static void expect_scan_prefix(inmem_txn *t, const inmem_run_id *run, const char *prefix,
                               const struct kvv *want, size_t n)
{
    inmem_iter *it = NULL;
    assert_ok(inmem_kv_scan_prefix(t, run, prefix, strlen(prefix), &it));
    assert_non_null(it);
    expect_iter(it, want, n);
}

/* Checks a finished transaction's conflict report. */
static void expect_conflict(inmem_txn *t, inmem_abort_reason reason, const inmem_run_id *run,
                            const char *key, uint64_t expected, uint64_t found)
{
    inmem_txn_info i = info_of(t);
    assert_int_equal(i.state, INMEM_TXN_ABORTED);
    assert_int_equal(inmem_txn_state_of(t), INMEM_TXN_ABORTED);
    assert_int_equal(i.reason, reason);
    assert_int_equal(i.commit_version, 0);
    inmem_run_id zero;
    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(i.conflict_run.bytes, run ? run->bytes : zero.bytes, 16);
    assert_int_equal(i.conflict_key_len, strlen(key));
    assert_non_null(i.conflict_key);
    assert_memory_equal(i.conflict_key, key, strlen(key));
    if (expected != ANY_VERSION)
        assert_int_equal(i.conflict_expected, expected);
    if (found != ANY_VERSION)
        assert_int_equal(i.conflict_found, found);
}

/* ---- rule 1: snapshot ------------------------------------------------------------------- */

static void rule1_snapshot_concurrent_commit_invisible_to_older_snapshot(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t v1 = db_put(db, NULL, "a", "a1");

    inmem_txn *old = test_begin(db);
    assert_int_equal(info_of(old).start_version, v1);
    inmem_txn *w = test_begin(db);
    assert_ok(inmem_kv_put(w, NULL, LIT("a"), LIT("a2")));
    assert_ok(inmem_kv_put(w, NULL, LIT("b"), LIT("b2")));

    /* Another transaction's pending writes are invisible... */
    expect_val(old, NULL, "a", "a1", v1);
    expect_missing(old, NULL, "b");

    assert_ok(inmem_txn_commit(w));
    uint64_t vw = info_of(w).commit_version;
    assert_int_equal(vw, v1 + 1);

    /* ...and so are its writes once committed after old's start. */
    expect_val(old, NULL, "a", "a1", v1);
    expect_missing(old, NULL, "b");
    const struct kvv old_view[] = {{"a", "a1", v1}};
    expect_scan(old, NULL, NULL, NULL, old_view, 1);

    /* A snapshot taken after the commit sees all of it. */
    inmem_txn *fresh = test_begin(db);
    assert_int_equal(info_of(fresh).start_version, vw);
    expect_val(fresh, NULL, "a", "a2", vw);
    expect_val(fresh, NULL, "b", "b2", vw);

    assert_ok(inmem_txn_commit(old)); /* read-only: commits */
    assert_ok(inmem_txn_commit(fresh));
    inmem_txn_free(old);
    inmem_txn_free(w);
    inmem_txn_free(fresh);
    assert_ok(inmem_db_close(db));
}

static void rule1_snapshot_phantom_not_seen_by_older_snapshot(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t va = db_put(db, NULL, "p/a", "A");
    uint64_t vc = db_put(db, NULL, "p/c", "C");

    inmem_txn *old = test_begin(db);
    const struct kvv before[] = {{"p/a", "A", va}, {"p/c", "C", vc}};
    expect_scan_prefix(old, NULL, "p/", before, 2);

    /* Another transaction inserts into the scanned range and commits. */
    inmem_txn *ins = test_begin(db);
    assert_ok(inmem_kv_put(ins, NULL, LIT("p/b"), LIT("B")));
    assert_ok(inmem_txn_commit(ins));

    /* Scanning again in the old transaction: the phantom is still not there. */
    expect_scan_prefix(old, NULL, "p/", before, 2);
    expect_scan(old, NULL, "p/", "p/z", before, 2);
    /* (No point read of p/b here: that would record "p/b missing" and rightly conflict.) */

    /* The old transaction writes (so it is validated) and still commits: phantoms are allowed. */
    assert_ok(inmem_kv_put(old, NULL, LIT("summary"), LIT("2 items")));
    assert_ok(inmem_txn_commit(old));
    assert_int_equal(info_of(old).state, INMEM_TXN_COMMITTED);

    expect_db_val(db, NULL, "p/b", "B", ANY_VERSION);
    expect_db_val(db, NULL, "summary", "2 items", ANY_VERSION);
    inmem_txn_free(old);
    inmem_txn_free(ins);
    assert_ok(inmem_db_close(db));
}

/* ---- rule 2: read your own writes ------------------------------------------------------- */

static void rule2_read_your_writes_through_put_delete_and_scan(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "a", "a0");
    db_put(db, NULL, "b", "b0");
    db_put(db, NULL, "d", "d0");
    uint64_t vf = db_put(db, NULL, "f", "f0");
    db_put(db, NULL, "i", "i0");

    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_put(t, NULL, LIT("a"), LIT("a1")));  /* overwrite committed */
    assert_ok(inmem_kv_delete(t, NULL, LIT("b")));          /* delete committed */
    assert_ok(inmem_kv_put(t, NULL, LIT("c"), LIT("c1")));  /* insert */
    assert_ok(inmem_kv_put(t, NULL, LIT("c"), LIT("c1b"))); /* overwrite own pending put */
    assert_ok(inmem_kv_delete(t, NULL, LIT("d")));          /* delete committed */
    assert_ok(inmem_kv_put(t, NULL, LIT("e"), LIT("e1")));  /* insert... */
    assert_ok(inmem_kv_delete(t, NULL, LIT("e")));          /* ...then delete own put */
    assert_ok(inmem_kv_put(t, NULL, LIT("g"), LIT("g1")));  /* insert after f */
    assert_ok(inmem_kv_delete(t, NULL, LIT("h")));          /* delete a missing key */
    assert_ok(inmem_kv_delete(t, NULL, LIT("i")));          /* delete committed... */
    assert_ok(inmem_kv_put(t, NULL, LIT("i"), LIT("i1")));  /* ...then put it back */

    /* Point reads see the pending writes, with version 0. */
    expect_val(t, NULL, "a", "a1", 0);
    expect_missing(t, NULL, "b");
    expect_val(t, NULL, "c", "c1b", 0);
    expect_missing(t, NULL, "d");
    expect_missing(t, NULL, "e");
    expect_val(t, NULL, "g", "g1", 0);
    expect_missing(t, NULL, "h");
    expect_val(t, NULL, "i", "i1", 0);
    /* Answers that came from the transaction's own writes are not recorded in the read set. */
    assert_int_equal(info_of(t).read_set_size, 0);
    expect_val(t, NULL, "f", "f0", vf);

    /* Scans merge pending puts (version 0) into the snapshot in key order and hide pending
     * deletes. */
    const struct kvv all[] = {
        {"a", "a1", 0}, {"c", "c1b", 0}, {"f", "f0", vf}, {"g", "g1", 0}, {"i", "i1", 0}};
    expect_scan(t, NULL, NULL, NULL, all, 5);
    const struct kvv mid[] = {{"c", "c1b", 0}, {"f", "f0", vf}};
    expect_scan(t, NULL, "b", "g", mid, 2);
    const struct kvv tail[] = {{"g", "g1", 0}, {"i", "i1", 0}};
    expect_scan(t, NULL, "g", NULL, tail, 2);

    /* Nobody else sees them before commit. */
    expect_db_val(db, NULL, "a", "a0", ANY_VERSION);
    expect_db_missing(db, NULL, "c");

    assert_ok(inmem_txn_commit(t));
    uint64_t vt = info_of(t).commit_version;
    assert_true(vt > vf);

    inmem_txn *after = test_begin(db);
    const struct kvv committed[] = {
        {"a", "a1", vt}, {"c", "c1b", vt}, {"f", "f0", vf}, {"g", "g1", vt}, {"i", "i1", vt}};
    expect_scan(after, NULL, NULL, NULL, committed, 5);
    assert_ok(inmem_txn_commit(after));
    inmem_txn_free(after);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- rule 3: the read set --------------------------------------------------------------- */

/* A scan shows the pending writes as they were when it was opened: a key the transaction writes
 * again, or deletes, while the scan is open keeps its value at the opening in that scan, like a
 * key it writes for the first time, which does not show. */
static void rule2_scan_shows_pending_writes_as_they_were_when_opened(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t vc = db_put(db, NULL, "c", "c0");
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_put(t, NULL, LIT("a"), LIT("a1")));
    assert_ok(inmem_kv_put(t, NULL, LIT("b"), LIT("b1")));
    assert_ok(inmem_kv_delete(t, NULL, LIT("d")));
    inmem_iter *it = NULL;
    assert_ok(inmem_kv_scan(t, NULL, NULL, 0, NULL, 0, &it));
    assert_ok(inmem_kv_put(t, NULL, LIT("a"), LIT("a2"))); /* rewritten */
    assert_ok(inmem_kv_delete(t, NULL, LIT("b")));         /* deleted */
    assert_ok(inmem_kv_put(t, NULL, LIT("c"), LIT("c1"))); /* first written now */
    assert_ok(inmem_kv_put(t, NULL, LIT("d"), LIT("d1"))); /* a pending delete put back */
    assert_ok(inmem_kv_put(t, NULL, LIT("e"), LIT("e1"))); /* new */
    const struct kvv opened[] = {{"a", "a1", 0}, {"b", "b1", 0}, {"c", "c0", vc}};
    expect_iter(it, opened, 3);
    const struct kvv now[] = {{"a", "a2", 0}, {"c", "c1", 0}, {"d", "d1", 0}, {"e", "e1", 0}};
    expect_scan(t, NULL, NULL, NULL, now, 4);
    inmem_txn_free(t);
    inmem_db_close(db);
}

static void rule3_read_set_records_every_read_including_missing_and_deleted(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t va = db_put(db, NULL, "a", "A");
    db_put(db, NULL, "b", "B");
    db_delete(db, NULL, "b");
    db_put(db, NULL, "c", "C");
    db_put(db, NULL, "d", "D");

    inmem_txn *t = test_begin(db);
    assert_int_equal(info_of(t).read_set_size, 0);
    expect_val(t, NULL, "a", "A", va);
    assert_int_equal(info_of(t).read_set_size, 1);
    expect_missing(t, NULL, "never-written");
    assert_int_equal(info_of(t).read_set_size, 2);
    expect_missing(t, NULL, "b"); /* deleted */
    assert_int_equal(info_of(t).read_set_size, 3);
    const struct kvv cd[] = {{"c", "C", ANY_VERSION}, {"d", "D", ANY_VERSION}};
    expect_scan(t, NULL, "c", "e", cd, 2); /* scans record the keys they return */
    assert_int_equal(info_of(t).read_set_size, 5);
    expect_scan(t, NULL, "x", "z", NULL, 0); /* an empty scan records nothing */
    assert_int_equal(info_of(t).read_set_size, 5);
    assert_int_equal(info_of(t).write_set_size, 0);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void rule3_reading_missing_key_then_concurrent_insert_conflicts(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "other", "o");

    inmem_txn *t = test_begin(db);
    expect_missing(t, NULL, "m");
    assert_ok(inmem_kv_put(t, NULL, LIT("x"), LIT("x1")));

    uint64_t vm = db_put(db, NULL, "m", "inserted"); /* concurrent insert, committed first */

    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    expect_conflict(t, INMEM_ABORT_READ_CONFLICT, NULL, "m", 0, vm);
    expect_db_missing(db, NULL, "x");
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void rule3_reading_deleted_key_records_tombstone_version(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "k", "v");
    uint64_t vdel = db_delete(db, NULL, "k");

    /* No change to k since the read: commits, even though other keys changed. */
    inmem_txn *t1 = test_begin(db);
    expect_missing(t1, NULL, "k");
    assert_ok(inmem_kv_put(t1, NULL, LIT("x"), LIT("x1")));
    db_put(db, NULL, "unrelated", "u");
    assert_ok(inmem_txn_commit(t1));
    inmem_txn_free(t1);

    /* A re-delete by another transaction gives k a new tombstone version: conflict. */
    inmem_txn *t2 = test_begin(db);
    expect_missing(t2, NULL, "k");
    assert_ok(inmem_kv_put(t2, NULL, LIT("y"), LIT("y1")));
    uint64_t vdel2 = db_delete(db, NULL, "k");
    assert_true(vdel2 > vdel);
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t2));
    expect_conflict(t2, INMEM_ABORT_READ_CONFLICT, NULL, "k", vdel, vdel2);
    expect_db_missing(db, NULL, "y");
    inmem_txn_free(t2);
    assert_ok(inmem_db_close(db));
}

static void rule3_scan_records_returned_keys_and_conflicts_on_their_change(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "s/a", "A");
    uint64_t vb = db_put(db, NULL, "s/b", "B");

    inmem_txn *t = test_begin(db);
    const struct kvv ab[] = {{"s/a", "A", ANY_VERSION}, {"s/b", "B", vb}};
    expect_scan_prefix(t, NULL, "s/", ab, 2);
    assert_ok(inmem_kv_put(t, NULL, LIT("count"), LIT("2")));
    uint64_t vb2 = db_put(db, NULL, "s/b", "B2");
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    expect_conflict(t, INMEM_ABORT_READ_CONFLICT, NULL, "s/b", vb, vb2);
    expect_db_missing(db, NULL, "count");
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- rule 4: commit validation, first committer wins ------------------------------------ */

static void rule4_read_write_conflict(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t vk = db_put(db, NULL, "k", "k0");

    inmem_txn *reader = test_begin(db);
    inmem_txn *writer = test_begin(db);
    expect_val(reader, NULL, "k", "k0", vk);
    assert_ok(inmem_kv_put(writer, NULL, LIT("k"), LIT("k1")));
    assert_ok(inmem_txn_commit(writer));
    uint64_t vw = info_of(writer).commit_version;

    assert_ok(inmem_kv_put(reader, NULL, LIT("j"), LIT("derived from k0")));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(reader));
    expect_conflict(reader, INMEM_ABORT_READ_CONFLICT, NULL, "k", vk, vw);
    expect_db_missing(db, NULL, "j");
    expect_db_val(db, NULL, "k", "k1", vw);
    inmem_txn_free(reader);
    inmem_txn_free(writer);
    assert_ok(inmem_db_close(db));
}

static void rule4_read_then_write_conflict_first_committer_wins(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t v0 = db_put(db, NULL, "n", "10");

    /* Both read n and write n+1 (a lost update if both committed). t1 began first, but t2
     * commits first and wins. */
    inmem_txn *t1 = test_begin(db);
    inmem_txn *t2 = test_begin(db);
    expect_val(t1, NULL, "n", "10", v0);
    expect_val(t2, NULL, "n", "10", v0);
    assert_ok(inmem_kv_put(t1, NULL, LIT("n"), LIT("11 (t1)")));
    assert_ok(inmem_kv_put(t2, NULL, LIT("n"), LIT("11 (t2)")));
    assert_ok(inmem_txn_commit(t2));
    uint64_t v2 = info_of(t2).commit_version;
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t1));
    expect_conflict(t1, INMEM_ABORT_READ_CONFLICT, NULL, "n", v0, v2);
    expect_db_val(db, NULL, "n", "11 (t2)", v2);
    inmem_txn_free(t1);
    inmem_txn_free(t2);
    assert_ok(inmem_db_close(db));
}

static void rule4_cas_conflict(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t v1 = db_put(db, NULL, "cell", "state-1");

    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_cas(t, NULL, LIT("cell"), v1, LIT("state-2 (t)")));
    assert_int_equal(info_of(t).cas_count, 1);
    uint64_t v2 = db_put(db, NULL, "cell", "state-2 (other)");
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    expect_conflict(t, INMEM_ABORT_CAS_CONFLICT, NULL, "cell", v1, v2);
    expect_db_val(db, NULL, "cell", "state-2 (other)", v2);
    inmem_txn_free(t);

    /* With the right expected version the CAS commits and gives the key the new version. */
    inmem_txn *ok = test_begin(db);
    assert_ok(inmem_kv_cas(ok, NULL, LIT("cell"), v2, LIT("state-3")));
    assert_ok(inmem_txn_commit(ok));
    uint64_t v3 = info_of(ok).commit_version;
    assert_int_equal(v3, v2 + 1);
    expect_db_val(db, NULL, "cell", "state-3", v3);
    inmem_txn_free(ok);
    assert_ok(inmem_db_close(db));
}

static void rule4_delete_after_read_conflict(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t vk = db_put(db, NULL, "task", "open");

    inmem_txn *t = test_begin(db);
    expect_val(t, NULL, "task", "open", vk);
    assert_ok(inmem_kv_put(t, NULL, LIT("task"), LIT("claimed")));
    uint64_t vdel = db_delete(db, NULL, "task");
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    expect_conflict(t, INMEM_ABORT_READ_CONFLICT, NULL, "task", vk, vdel);
    expect_db_missing(db, NULL, "task");
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void rule4_nothing_else_conflicts_unrelated_writes_commit(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t va = db_put(db, NULL, "a", "A");
    db_put(db, NULL, "b", "B");

    inmem_txn *t = test_begin(db);
    expect_val(t, NULL, "a", "A", va);
    assert_ok(inmem_kv_put(t, NULL, LIT("b"), LIT("B from t")));
    /* Others write b (which t wrote blind) and c (which t never touched). */
    db_put(db, NULL, "b", "B other");
    db_put(db, NULL, "c", "C other");
    assert_ok(inmem_txn_commit(t));
    inmem_txn_info i = info_of(t);
    assert_int_equal(i.state, INMEM_TXN_COMMITTED);
    assert_int_equal(i.reason, INMEM_ABORT_NONE);
    expect_db_val(db, NULL, "b", "B from t", i.commit_version);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void rule4_transaction_finished_after_conflict(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "k", "v");

    inmem_txn *t = test_begin(db);
    expect_val(t, NULL, "k", "v", ANY_VERSION);
    assert_ok(inmem_kv_put(t, NULL, LIT("k"), LIT("v2")));
    db_put(db, NULL, "k", "other");
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    assert_int_equal(inmem_txn_state_of(t), INMEM_TXN_ABORTED);
    /* Finished: a second commit does not validate again, nothing else works either. */
    assert_rc(INMEM_ETXNDONE, inmem_txn_commit(t));
    assert_rc(INMEM_ETXNDONE, inmem_txn_abort(t));
    assert_rc(INMEM_ETXNDONE, inmem_kv_get(t, NULL, LIT("k"), NULL, NULL, NULL));
    assert_rc(INMEM_ETXNDONE, inmem_kv_put(t, NULL, LIT("k"), LIT("v3")));
    /* The reason stays the conflict's. */
    assert_int_equal(info_of(t).reason, INMEM_ABORT_READ_CONFLICT);
    expect_db_val(db, NULL, "k", "other", ANY_VERSION);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- rule 5: allowed by design ---------------------------------------------------------- */

static void rule5_write_skew_through_point_reads_is_stopped(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    /* Invariant the application wants: at least one of x, y is "on". */
    inmem_txn *init = test_begin(db);
    assert_ok(inmem_kv_put(init, NULL, LIT("x"), LIT("on")));
    assert_ok(inmem_kv_put(init, NULL, LIT("y"), LIT("on")));
    assert_ok(inmem_txn_commit(init));
    uint64_t v0 = info_of(init).commit_version;
    inmem_txn_free(init);

    inmem_txn *t1 = test_begin(db);
    inmem_txn *t2 = test_begin(db);
    expect_val(t1, NULL, "x", "on", v0);
    expect_val(t1, NULL, "y", "on", v0);
    expect_val(t2, NULL, "x", "on", v0);
    expect_val(t2, NULL, "y", "on", v0);
    assert_ok(inmem_kv_put(t1, NULL, LIT("x"), LIT("off")));
    assert_ok(inmem_kv_put(t2, NULL, LIT("y"), LIT("off")));
    assert_ok(inmem_txn_commit(t1));
    uint64_t v1 = info_of(t1).commit_version;
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t2));
    expect_conflict(t2, INMEM_ABORT_READ_CONFLICT, NULL, "x", v0, v1);
    expect_db_val(db, NULL, "x", "off", v1);
    expect_db_val(db, NULL, "y", "on", v0);
    inmem_txn_free(t1);
    inmem_txn_free(t2);
    assert_ok(inmem_db_close(db));
}

static void rule5_write_skew_through_empty_scan_commits(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "q", "outside the range");

    /* Both check that the range r/ is empty, and each inserts a different key into it. Snapshot
     * isolation is not serializable: both commit. */
    inmem_txn *t1 = test_begin(db);
    inmem_txn *t2 = test_begin(db);
    expect_scan_prefix(t1, NULL, "r/", NULL, 0);
    expect_scan_prefix(t2, NULL, "r/", NULL, 0);
    assert_ok(inmem_kv_put(t1, NULL, LIT("r/1"), LIT("t1")));
    assert_ok(inmem_kv_put(t2, NULL, LIT("r/2"), LIT("t2")));
    assert_ok(inmem_txn_commit(t1));
    assert_ok(inmem_txn_commit(t2));
    assert_true(info_of(t2).commit_version > info_of(t1).commit_version);

    inmem_txn *check = test_begin(db);
    const struct kvv both[] = {{"r/1", "t1", ANY_VERSION}, {"r/2", "t2", ANY_VERSION}};
    expect_scan_prefix(check, NULL, "r/", both, 2);
    assert_ok(inmem_txn_commit(check));
    inmem_txn_free(check);
    inmem_txn_free(t1);
    inmem_txn_free(t2);
    assert_ok(inmem_db_close(db));
}

static void rule5_phantom_insert_into_scanned_range_does_not_conflict(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "r/a", "A");

    inmem_txn *t = test_begin(db);
    const struct kvv a[] = {{"r/a", "A", ANY_VERSION}};
    expect_scan_prefix(t, NULL, "r/", a, 1);
    assert_ok(inmem_kv_put(t, NULL, LIT("r-count"), LIT("1")));
    db_put(db, NULL, "r/b", "B"); /* a phantom for t */
    expect_scan_prefix(t, NULL, "r/", a, 1);
    assert_ok(inmem_txn_commit(t));
    expect_db_val(db, NULL, "r-count", "1", ANY_VERSION);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void rule5_blind_writes_both_commit_last_committer_wins(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "k", "initial");

    inmem_txn *t1 = test_begin(db);
    inmem_txn *t2 = test_begin(db);
    assert_ok(inmem_kv_put(t1, NULL, LIT("k"), LIT("from t1")));
    assert_ok(inmem_kv_put(t2, NULL, LIT("k"), LIT("from t2")));
    assert_ok(inmem_kv_delete(t2, NULL, LIT("gone")));
    /* t2 commits first, t1 (which began first) last: t1's value stands. */
    assert_ok(inmem_txn_commit(t2));
    assert_ok(inmem_txn_commit(t1));
    uint64_t v1 = info_of(t1).commit_version;
    assert_true(v1 > info_of(t2).commit_version);
    expect_db_val(db, NULL, "k", "from t1", v1);
    inmem_txn_free(t1);
    inmem_txn_free(t2);
    assert_ok(inmem_db_close(db));
}

static void rule5_read_only_commits_despite_concurrent_writes_and_keeps_version(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t va = db_put(db, NULL, "a", "A");
    db_put(db, NULL, "b", "B");

    inmem_txn *ro = test_begin(db);
    inmem_txn_info i0 = info_of(ro);
    assert_int_equal(i0.start_version, test_stats(db).version);
    expect_val(ro, NULL, "a", "A", va);
    expect_val(ro, NULL, "b", "B", ANY_VERSION);
    expect_missing(ro, NULL, "c");

    /* Every key it read changes. */
    inmem_txn *w = test_begin(db);
    assert_ok(inmem_kv_put(w, NULL, LIT("a"), LIT("A2")));
    assert_ok(inmem_kv_delete(w, NULL, LIT("b")));
    assert_ok(inmem_kv_put(w, NULL, LIT("c"), LIT("C")));
    assert_ok(inmem_txn_commit(w));

    inmem_stats before = test_stats(db);
    assert_ok(inmem_txn_commit(ro));
    inmem_stats after = test_stats(db);
    inmem_txn_info i = info_of(ro);
    assert_int_equal(i.state, INMEM_TXN_COMMITTED);
    assert_int_equal(i.reason, INMEM_ABORT_NONE);
    assert_int_equal(i.start_version, i0.start_version);
    assert_int_equal(i.commit_version, 0);
    assert_int_equal(after.version, before.version);
    assert_int_equal(after.commits, before.commits);
    assert_int_equal(after.commits_readonly, before.commits_readonly + 1);
    inmem_txn_free(ro);
    inmem_txn_free(w);
    assert_ok(inmem_db_close(db));
}

static void rule5_deleting_missing_key_is_a_write(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "other", "o");

    /* A reader of the missing key, to show that the delete gives it a new version. */
    inmem_txn *reader = test_begin(db);
    expect_missing(reader, NULL, "ghost");
    assert_ok(inmem_kv_put(reader, NULL, LIT("saw-no-ghost"), LIT("1")));

    inmem_stats before = test_stats(db);
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_delete(t, NULL, LIT("ghost")));
    assert_int_equal(info_of(t).write_set_size, 1);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_info i = info_of(t);
    inmem_stats after = test_stats(db);
    assert_true(i.commit_version > 0);
    assert_int_equal(i.commit_version, before.version + 1);
    assert_int_equal(after.version, before.version + 1);
    assert_int_equal(after.commits, before.commits + 1);
    assert_int_equal(after.commits_readonly, before.commits_readonly);

    /* The key reads as missing... */
    inmem_txn *check = test_begin(db);
    expect_missing(check, NULL, "ghost");
    assert_ok(inmem_txn_commit(check));
    inmem_txn_free(check);
    /* ...but its tombstone carries the delete's version, so the earlier reader conflicts. */
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(reader));
    expect_conflict(reader, INMEM_ABORT_READ_CONFLICT, NULL, "ghost", 0, i.commit_version);

    inmem_txn_free(reader);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- rule 6: CAS ------------------------------------------------------------------------ */

static void rule6_cas_expected_zero_inserts_only_when_absent(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();

    /* Never written: inserts. */
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_cas(t, NULL, LIT("lock"), 0, LIT("owner-1")));
    assert_ok(inmem_txn_commit(t));
    uint64_t v1 = info_of(t).commit_version;
    inmem_txn_free(t);
    expect_db_val(db, NULL, "lock", "owner-1", v1);

    /* Present: expected 0 conflicts, explicitly and implicitly. */
    t = test_begin(db);
    assert_ok(inmem_kv_cas(t, NULL, LIT("lock"), 0, LIT("owner-2")));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    expect_conflict(t, INMEM_ABORT_CAS_CONFLICT, NULL, "lock", 0, v1);
    inmem_txn_free(t);
    assert_rc(INMEM_CONFLICT, inmem_cas(db, NULL, LIT("lock"), 0, LIT("owner-3"), NULL));
    expect_db_val(db, NULL, "lock", "owner-1", v1);

    /* Deleted: counts as version 0, so expected 0 inserts again... */
    uint64_t vdel = db_delete(db, NULL, "lock");
    t = test_begin(db);
    assert_ok(inmem_kv_cas(t, NULL, LIT("lock"), 0, LIT("owner-4")));
    assert_ok(inmem_txn_commit(t));
    uint64_t v4 = info_of(t).commit_version;
    inmem_txn_free(t);
    expect_db_val(db, NULL, "lock", "owner-4", v4);

    /* ...and the tombstone's own version is not what CAS compares with. */
    vdel = db_delete(db, NULL, "lock");
    t = test_begin(db);
    assert_ok(inmem_kv_cas(t, NULL, LIT("lock"), vdel, LIT("owner-5")));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    assert_int_equal(info_of(t).reason, INMEM_ABORT_CAS_CONFLICT);
    inmem_txn_free(t);
    expect_db_missing(db, NULL, "lock");

    /* Implicit CAS with expected 0 on the deleted key inserts too. */
    uint64_t v6 = 0;
    assert_ok(inmem_cas(db, NULL, LIT("lock"), 0, LIT("owner-6"), &v6));
    assert_true(v6 > vdel);
    expect_db_val(db, NULL, "lock", "owner-6", v6);
    assert_ok(inmem_db_close(db));
}

static void rule6_cas_does_not_add_to_read_set(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t vk = db_put(db, NULL, "k", "k0");
    db_put(db, NULL, "other", "o0");

    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_cas(t, NULL, LIT("k"), vk, LIT("k1")));
    inmem_txn_info i = info_of(t);
    assert_int_equal(i.read_set_size, 0);
    assert_int_equal(i.cas_count, 1);

    db_put(db, NULL, "other", "o1"); /* a concurrent change to another key does not matter */
    assert_ok(inmem_txn_commit(t));
    uint64_t vt = info_of(t).commit_version;
    expect_db_val(db, NULL, "k", "k1", vt);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void rule6_read_before_cas_adds_key_to_read_set(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t v1 = db_put(db, NULL, "k", "k0");

    inmem_txn *t = test_begin(db);
    expect_val(t, NULL, "k", "k0", v1);
    assert_int_equal(info_of(t).read_set_size, 1);
    uint64_t v2 = db_put(db, NULL, "k", "changed");
    /* The CAS expects the new version, so the CAS alone would pass; the earlier read (version v1)
     * is in the read set and fails validation. */
    assert_ok(inmem_kv_cas(t, NULL, LIT("k"), v2, LIT("k-cas")));
    assert_int_equal(info_of(t).read_set_size, 1);
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    expect_conflict(t, INMEM_ABORT_READ_CONFLICT, NULL, "k", v1, v2);
    expect_db_val(db, NULL, "k", "changed", v2);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- rule 7: atomic apply --------------------------------------------------------------- */

static void rule7_atomic_apply_three_keys_one_new_version(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "b", "old");
    inmem_stats before = test_stats(db);

    inmem_txn *old = test_begin(db);
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_put(t, NULL, LIT("a"), LIT("1")));
    assert_ok(inmem_kv_put(t, NULL, LIT("b"), LIT("1")));
    assert_ok(inmem_kv_put(t, NULL, LIT("c"), LIT("1")));
    assert_int_equal(info_of(t).write_set_size, 3);
    assert_ok(inmem_txn_commit(t));
    uint64_t vt = info_of(t).commit_version;
    inmem_stats after = test_stats(db);
    assert_int_equal(vt, before.version + 1);
    assert_int_equal(after.version, before.version + 1);
    assert_int_equal(after.commits, before.commits + 1);

    assert_int_equal(version_of(db, NULL, "a"), vt);
    assert_int_equal(version_of(db, NULL, "b"), vt);
    assert_int_equal(version_of(db, NULL, "c"), vt);
    /* An older snapshot sees none of the three. */
    expect_missing(old, NULL, "a");
    expect_val(old, NULL, "b", "old", ANY_VERSION);
    expect_missing(old, NULL, "c");
    assert_ok(inmem_txn_commit(old));
    inmem_txn_free(old);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void rule7_aborted_transaction_leaves_no_trace(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t vb = db_put(db, NULL, "b", "B");
    uint64_t vc = db_put(db, NULL, "c", "C");
    inmem_stats before = test_stats(db);

    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_put(t, NULL, LIT("a"), LIT("new")));
    assert_ok(inmem_kv_put(t, NULL, LIT("b"), LIT("overwritten")));
    assert_ok(inmem_kv_delete(t, NULL, LIT("c")));
    assert_ok(inmem_kv_cas(t, NULL, LIT("d"), 0, LIT("cas")));
    assert_ok(inmem_txn_abort(t));
    inmem_txn_free(t);

    /* Freeing an active transaction aborts it too. */
    t = test_begin(db);
    assert_ok(inmem_kv_put(t, NULL, LIT("e"), LIT("never")));
    assert_ok(inmem_kv_delete(t, NULL, LIT("b")));
    inmem_txn_free(t);

    inmem_stats after = test_stats(db);
    assert_int_equal(after.version, before.version);
    assert_int_equal(after.commits, before.commits);
    assert_int_equal(after.keys, before.keys);
    assert_int_equal(after.retained_versions, before.retained_versions);
    assert_int_equal(after.aborts_user, before.aborts_user + 2);
    assert_int_equal(after.open_txns, 0);

    expect_db_missing(db, NULL, "a");
    expect_db_val(db, NULL, "b", "B", vb);
    expect_db_val(db, NULL, "c", "C", vc);
    expect_db_missing(db, NULL, "d");
    expect_db_missing(db, NULL, "e");
    inmem_txn *check = test_begin(db);
    const struct kvv all[] = {{"b", "B", vb}, {"c", "C", vc}};
    expect_scan(check, NULL, NULL, NULL, all, 2);
    assert_ok(inmem_txn_commit(check));
    inmem_txn_free(check);
    assert_ok(inmem_db_close(db));
}

/* ---- rule 8: states --------------------------------------------------------------------- */

static void rule8_states_active_to_committed_or_aborted_with_reason(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t vk = db_put(db, NULL, "k", "v");

    inmem_txn *c = test_begin(db);
    assert_int_equal(inmem_txn_state_of(c), INMEM_TXN_ACTIVE);
    inmem_txn_info i = info_of(c);
    assert_int_equal(i.state, INMEM_TXN_ACTIVE);
    assert_int_equal(i.reason, INMEM_ABORT_NONE);
    assert_int_equal(i.commit_version, 0);
    assert_ok(inmem_kv_put(c, NULL, LIT("x"), LIT("1")));
    assert_ok(inmem_txn_commit(c));
    assert_int_equal(inmem_txn_state_of(c), INMEM_TXN_COMMITTED);
    i = info_of(c);
    assert_int_equal(i.state, INMEM_TXN_COMMITTED);
    assert_int_equal(i.reason, INMEM_ABORT_NONE);
    assert_true(i.commit_version > vk);

    inmem_txn *u = test_begin(db);
    assert_ok(inmem_kv_put(u, NULL, LIT("y"), LIT("1")));
    assert_ok(inmem_txn_abort(u));
    assert_int_equal(inmem_txn_state_of(u), INMEM_TXN_ABORTED);
    i = info_of(u);
    assert_int_equal(i.state, INMEM_TXN_ABORTED);
    assert_int_equal(i.reason, INMEM_ABORT_USER);
    assert_int_equal(i.commit_version, 0);

    inmem_txn *r = test_begin(db);
    expect_val(r, NULL, "k", "v", vk);
    assert_ok(inmem_kv_put(r, NULL, LIT("z"), LIT("1")));
    inmem_txn *s = test_begin(db);
    assert_ok(inmem_kv_cas(s, NULL, LIT("k"), vk, LIT("v-cas")));
    db_put(db, NULL, "k", "v2");
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(r));
    assert_int_equal(inmem_txn_state_of(r), INMEM_TXN_ABORTED);
    assert_int_equal(info_of(r).reason, INMEM_ABORT_READ_CONFLICT);
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(s));
    assert_int_equal(inmem_txn_state_of(s), INMEM_TXN_ABORTED);
    assert_int_equal(info_of(s).reason, INMEM_ABORT_CAS_CONFLICT);

    assert_int_equal(inmem_txn_state_of(NULL), INMEM_TXN_ABORTED);
    inmem_txn_free(c);
    inmem_txn_free(u);
    inmem_txn_free(r);
    inmem_txn_free(s);
    assert_ok(inmem_db_close(db));
}

/* The calls that take a count or a limit, each given 0 (nothing to read or write), return
 * INMEM_ETXNDONE on @p t (ended) all the same: they used to return 0 before looking at the
 * transaction. */
static void expect_zero_count_ops_done(inmem_txn *t)
{
    inmem_run_id last;
    memset(last.bytes, 0xff, sizeof last.bytes);
    size_t n = 99;
    char names[1][INMEM_NAME_MAX];
    inmem_run_id ids[1];
    inmem_span spans[1];
    inmem_version_info vers[1];
    inmem_kv_entry kvs[1];
    inmem_state_entry cells[1];
    inmem_event evs[1];
    assert_rc(INMEM_ETXNDONE, inmem_kv_get_many(t, NULL, 0, NULL, NULL, NULL));
    assert_rc(INMEM_ETXNDONE, inmem_kv_list(t, NULL, NULL, 0, NULL, 0, 0, kvs, &n));
    assert_rc(INMEM_ETXNDONE, inmem_kv_history(t, NULL, LIT("k"), 0, 0, vers, &n));
    assert_rc(INMEM_ETXNDONE, inmem_event_append_batch(t, NULL, "s", 0, NULL, NULL));
    assert_rc(INMEM_ETXNDONE, inmem_event_streams(t, NULL, NULL, 0, names, &n));
    assert_rc(INMEM_ETXNDONE, inmem_event_range(t, NULL, "s", 0, 0, 0, 0, evs, &n));
    assert_rc(INMEM_ETXNDONE, inmem_event_range_time(t, NULL, "s", 0, 0, 0, evs, &n));
    assert_rc(INMEM_ETXNDONE, inmem_state_list(t, NULL, NULL, 0, cells, &n));
    assert_rc(INMEM_ETXNDONE, inmem_state_history(t, NULL, "c", 0, 0, vers, &n));
    assert_rc(INMEM_ETXNDONE, inmem_run_list(t, NULL, NULL, 0, ids, &n));
    assert_rc(INMEM_ETXNDONE, inmem_run_list_stored(t, NULL, 0, ids, &n));
    assert_rc(INMEM_ETXNDONE, inmem_run_list_stored(t, &last, 1, ids, &n)); /* none after it */
    assert_rc(INMEM_ETXNDONE, inmem_trace_query(t, NULL, NULL, NULL, 0, spans, &n));
    inmem_trace_filter empty = {.from_ms = 2, .to_ms = 1}; /* a time range with nothing in it */
    assert_rc(INMEM_ETXNDONE, inmem_trace_query(t, NULL, &empty, NULL, 1, spans, &n));
    assert_rc(INMEM_ETXNDONE, inmem_trace_tree(t, NULL, &last, 0, spans, &n));
}

/* Every operation on @p t (ended) returns INMEM_ETXNDONE; @p it was opened on it before. */
static void expect_all_ops_done(inmem_txn *t, inmem_iter *it)
{
    const void *v = NULL;
    size_t vl = 0;
    uint64_t ver = 0;
    assert_rc(INMEM_ETXNDONE, inmem_kv_get(t, NULL, LIT("k"), &v, &vl, &ver));
    assert_rc(INMEM_ETXNDONE, inmem_kv_put(t, NULL, LIT("k"), LIT("v")));
    assert_rc(INMEM_ETXNDONE, inmem_kv_put_ttl(t, NULL, LIT("k"), LIT("v"), 1000));
    assert_rc(INMEM_ETXNDONE, inmem_kv_delete(t, NULL, LIT("k")));
    assert_rc(INMEM_ETXNDONE, inmem_kv_cas(t, NULL, LIT("k"), 0, LIT("v")));
    inmem_iter *it2 = NULL;
    assert_rc(INMEM_ETXNDONE, inmem_kv_scan(t, NULL, NULL, 0, NULL, 0, &it2));
    inmem_iter_free(it2);
    it2 = NULL;
    assert_rc(INMEM_ETXNDONE, inmem_kv_scan_prefix(t, NULL, LIT("k"), &it2));
    inmem_iter_free(it2);
    const void *k = NULL;
    size_t kl = 0;
    assert_rc(INMEM_ETXNDONE, inmem_iter_next(it, &k, &kl, &v, &vl, &ver));
    expect_zero_count_ops_done(t);
    assert_rc(INMEM_ETXNDONE, inmem_txn_commit(t));
    assert_rc(INMEM_ETXNDONE, inmem_txn_abort(t));
}

static void rule8_every_operation_on_ended_txn_returns_etxndone(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "k", "v");
    db_put(db, NULL, "k2", "v2");

    /* Committed with writes. */
    inmem_txn *t = test_begin(db);
    inmem_iter *it = NULL;
    assert_ok(inmem_kv_scan(t, NULL, NULL, 0, NULL, 0, &it));
    assert_ok(inmem_kv_put(t, NULL, LIT("w"), LIT("1")));
    assert_ok(inmem_txn_commit(t));
    expect_all_ops_done(t, it);
    assert_int_equal(inmem_txn_state_of(t), INMEM_TXN_COMMITTED);
    inmem_iter_free(it);
    inmem_txn_free(t);

    /* Committed read-only. */
    t = test_begin(db);
    it = NULL;
    assert_ok(inmem_kv_scan_prefix(t, NULL, LIT("k"), &it));
    assert_ok(inmem_txn_commit(t));
    expect_all_ops_done(t, it);
    assert_int_equal(inmem_txn_state_of(t), INMEM_TXN_COMMITTED);
    inmem_iter_free(it);
    inmem_txn_free(t);

    /* Aborted by the user, with an iterator that had already returned a key. */
    t = test_begin(db);
    it = NULL;
    assert_ok(inmem_kv_scan(t, NULL, NULL, 0, NULL, 0, &it));
    assert_ok(inmem_iter_next(it, NULL, NULL, NULL, NULL, NULL));
    assert_ok(inmem_txn_abort(t));
    expect_all_ops_done(t, it);
    assert_int_equal(inmem_txn_state_of(t), INMEM_TXN_ABORTED);
    assert_int_equal(info_of(t).reason, INMEM_ABORT_USER);
    inmem_iter_free(it);
    inmem_txn_free(t);

    /* Aborted by a conflict. */
    t = test_begin(db);
    it = NULL;
    expect_val(t, NULL, "k", "v", ANY_VERSION);
    assert_ok(inmem_kv_scan(t, NULL, NULL, 0, NULL, 0, &it));
    assert_ok(inmem_kv_put(t, NULL, LIT("w"), LIT("2")));
    db_put(db, NULL, "k", "changed");
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    expect_all_ops_done(t, it);
    assert_int_equal(info_of(t).reason, INMEM_ABORT_READ_CONFLICT);
    inmem_iter_free(it);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void rule8_iterator_is_freed_with_its_transaction(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "k", "v");
    inmem_txn *t = test_begin(db);
    inmem_iter *it = NULL;
    assert_ok(inmem_kv_scan(t, NULL, NULL, 0, NULL, 0, &it));
    assert_ok(inmem_iter_next(it, NULL, NULL, NULL, NULL, NULL));
    /* Not freed on purpose: "also freed with the transaction" — LeakSanitizer checks it. */
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- rule 9: implicit operations -------------------------------------------------------- */

static void rule9_implicit_operations_are_one_operation_transactions(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_stats s0 = test_stats(db);

    uint64_t v1 = 0;
    assert_ok(inmem_put(db, NULL, LIT("k"), LIT("v1"), &v1));
    assert_int_equal(v1, s0.version + 1);
    assert_int_equal(test_stats(db).version, v1);

    void *val = NULL;
    size_t vl = 0;
    uint64_t ver = 0;
    assert_ok(inmem_get(db, NULL, LIT("k"), &val, &vl, &ver));
    assert_int_equal(vl, 2);
    assert_memory_equal(val, "v1", 2);
    assert_int_equal(ver, v1);
    inmem_free(val); /* the caller owns the copy */
    assert_ok(inmem_get(db, NULL, LIT("k"), NULL, NULL, NULL));

    /* Implicit CAS: a mismatch returns INMEM_CONFLICT and changes nothing. */
    assert_rc(INMEM_CONFLICT, inmem_cas(db, NULL, LIT("k"), v1 + 100, LIT("bad"), NULL));
    assert_rc(INMEM_CONFLICT, inmem_cas(db, NULL, LIT("k"), 0, LIT("bad"), NULL));
    expect_db_val(db, NULL, "k", "v1", v1);
    uint64_t v2 = 0;
    assert_ok(inmem_cas(db, NULL, LIT("k"), v1, LIT("v2"), &v2));
    assert_int_equal(v2, v1 + 1);
    expect_db_val(db, NULL, "k", "v2", v2);

    uint64_t v3 = 0;
    assert_ok(inmem_delete(db, NULL, LIT("k"), &v3));
    assert_int_equal(v3, v2 + 1);
    expect_db_missing(db, NULL, "k");
    uint64_t v4 = 0;
    assert_ok(inmem_delete(db, NULL, LIT("never"), &v4)); /* a tombstone, still a write */
    assert_int_equal(v4, v3 + 1);

    inmem_stats s1 = test_stats(db);
    assert_int_equal(s1.version, v4);
    assert_int_equal(s1.commits, s0.commits + 4); /* put, cas, delete, delete */
    assert_int_equal(s1.open_txns, 0);
    assert_ok(inmem_db_close(db));
}

static void rule9_implicit_operations_are_not_part_of_enclosing_transaction(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "base", "b");

    /*
     * Documented behaviour: an implicit operation called while an explicit transaction is open
     * (even from the same thread, "inside" it) is its own transaction. It commits at once, is
     * not undone when the explicit transaction aborts, and the explicit transaction does not see
     * it, because its snapshot is older. Likewise the implicit read does not see the explicit
     * transaction's pending writes.
     */
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_put(t, NULL, LIT("pending"), LIT("p")));
    uint64_t vi = db_put(db, NULL, "implicit", "i");
    expect_missing(t, NULL, "implicit");          /* t does not see it */
    expect_db_val(db, NULL, "implicit", "i", vi); /* but it is committed */
    expect_db_missing(db, NULL, "pending");       /* the implicit read does not see t's write */
    assert_ok(inmem_txn_abort(t));
    inmem_txn_free(t);
    expect_db_val(db, NULL, "implicit", "i", vi); /* the abort did not undo it */
    expect_db_missing(db, NULL, "pending");
    assert_ok(inmem_db_close(db));
}

/* ---- rule 10: closure transactions ------------------------------------------------------ */

enum { CB_ERR_BAD_VALUE = 1001, CB_ERR_IMPLICIT = 1002 };

struct closure {
    inmem_db *db;
    unsigned runs;
    unsigned conflict_on_runs_up_to; /* make runs 1..this conflict (UINT32_MAX: always) */
    int ret;                         /* what to return after writing */
    uint64_t seen;                   /* the counter value read by the last run */
};

static int read_counter(inmem_txn *t, uint64_t *n)
{
    const void *v = NULL;
    size_t vl = 0;
    int rc = inmem_kv_get(t, NULL, LIT("counter"), &v, &vl, NULL);
    if (rc == INMEM_NOTFOUND) {
        *n = 0;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (vl != sizeof(*n))
        return CB_ERR_BAD_VALUE;
    memcpy(n, v, sizeof(*n));
    return 0;
}

static uint64_t db_counter(inmem_db *db)
{
    void *v = NULL;
    size_t vl = 0;
    uint64_t n = 0;
    assert_ok(inmem_get(db, NULL, LIT("counter"), &v, &vl, NULL));
    assert_int_equal(vl, sizeof(n));
    memcpy(&n, v, sizeof(n));
    inmem_free(v);
    return n;
}

static void db_set_counter(inmem_db *db, uint64_t n)
{
    assert_ok(inmem_put(db, NULL, LIT("counter"), &n, sizeof(n), NULL));
}

/* Increments "counter". On the chosen runs it first has another (implicit) transaction write
 * the counter after reading it, so that its own commit conflicts. */
static int cb_increment(inmem_txn *t, void *arg)
{
    struct closure *c = arg;
    c->runs++;
    uint64_t n = 0;
    int rc = read_counter(t, &n);
    if (rc != 0)
        return rc;
    c->seen = n;
    if (c->runs <= c->conflict_on_runs_up_to) {
        uint64_t other = 1000 * (uint64_t)c->runs;
        if (inmem_put(c->db, NULL, LIT("counter"), &other, sizeof(other), NULL) != 0)
            return CB_ERR_IMPLICIT;
    }
    n++;
    rc = inmem_kv_put(t, NULL, LIT("counter"), &n, sizeof(n));
    if (rc != 0)
        return rc;
    return c->ret;
}

static void rule10_closure_commits_on_success(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_set_counter(db, 41);
    inmem_stats s0 = test_stats(db);
    struct closure c = {.db = db};
    assert_ok(inmem_db_transact(db, NULL, cb_increment, &c));
    assert_int_equal(c.runs, 1);
    assert_int_equal(c.seen, 41);
    assert_int_equal(db_counter(db), 42);
    inmem_stats s1 = test_stats(db);
    assert_int_equal(s1.commits, s0.commits + 1);
    assert_int_equal(s1.version, s0.version + 1);
    assert_int_equal(s1.retries, s0.retries);
    assert_int_equal(s1.open_txns, 0);
    assert_ok(inmem_db_close(db));
}

static void rule10_closure_callback_error_returned_as_is_without_retry(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_set_counter(db, 7);
    /* Any non-zero value, whatever it looks like (even an inmem code such as INMEM_CONFLICT),
     * aborts and is returned as is, with no retry. */
    const int codes[] = {42, -7, INMEM_NOTFOUND, INMEM_CONFLICT};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        inmem_stats s0 = test_stats(db);
        struct closure c = {.db = db, .ret = codes[i]};
        assert_rc(codes[i], inmem_db_transact(db, NULL, cb_increment, &c));
        assert_int_equal(c.runs, 1);
        assert_int_equal(db_counter(db), 7); /* nothing applied */
        inmem_stats s1 = test_stats(db);
        assert_int_equal(s1.version, s0.version);
        assert_int_equal(s1.commits, s0.commits);
        assert_int_equal(s1.retries, s0.retries);
        assert_int_equal(s1.aborts_user, s0.aborts_user + 1);
        assert_int_equal(s1.open_txns, 0);
    }
    assert_ok(inmem_db_close(db));
}

static void rule10_closure_conflict_retried_on_fresh_snapshot(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_set_counter(db, 0);
    inmem_stats s0 = test_stats(db);
    struct closure c = {.db = db, .conflict_on_runs_up_to = 1};
    assert_ok(inmem_db_transact(db, NULL, cb_increment, &c));
    assert_int_equal(c.runs, 2);
    /* The second run saw the implicit write (1000) of the first: a fresh snapshot. */
    assert_int_equal(c.seen, 1000);
    assert_int_equal(db_counter(db), 1001);
    inmem_stats s1 = test_stats(db);
    assert_int_equal(s1.retries, s0.retries + 1);
    assert_int_equal(s1.aborts_read_conflict, s0.aborts_read_conflict + 1);
    assert_int_equal(s1.commits, s0.commits + 2); /* the implicit put and the closure */
    assert_int_equal(s1.retries_exhausted, s0.retries_exhausted);
    assert_int_equal(s1.open_txns, 0);
    assert_ok(inmem_db_close(db));
}

static void rule10_closure_exhausted_retries_return_eretries(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_set_counter(db, 0);
    inmem_stats s0 = test_stats(db);
    inmem_retry_options ro;
    inmem_retry_options_init(&ro);
    ro.max_attempts = 5;
    ro.backoff_initial_us = 1;
    ro.backoff_max_us = 10;
    ro.timeout_us = 0;
    struct closure c = {.db = db, .conflict_on_runs_up_to = UINT32_MAX};
    assert_rc(INMEM_ERETRIES, inmem_db_transact(db, &ro, cb_increment, &c));
    assert_int_equal(c.runs, 5);
    assert_int_equal(db_counter(db), 5000); /* only the last implicit write; no closure write */
    inmem_stats s1 = test_stats(db);
    assert_int_equal(s1.retries, s0.retries + 4);
    assert_int_equal(s1.retries_exhausted, s0.retries_exhausted + 1);
    assert_int_equal(s1.deadlines_expired, s0.deadlines_expired);
    assert_int_equal(s1.aborts_read_conflict, s0.aborts_read_conflict + 5);
    assert_int_equal(s1.commits, s0.commits + 5); /* the implicit puts only */
    assert_int_equal(s1.open_txns, 0);

    /* max_attempts = 1: one run, no retry. */
    ro.max_attempts = 1;
    struct closure once = {.db = db, .conflict_on_runs_up_to = UINT32_MAX};
    assert_rc(INMEM_ERETRIES, inmem_db_transact(db, &ro, cb_increment, &once));
    assert_int_equal(once.runs, 1);
    assert_int_equal(test_stats(db).retries, s1.retries);
    assert_ok(inmem_db_close(db));
}

static void rule10_closure_expired_deadline_returns_etimedout(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_set_counter(db, 0);
    inmem_stats s0 = test_stats(db);
    inmem_retry_options ro;
    inmem_retry_options_init(&ro);
    ro.max_attempts = 1000000;
    ro.backoff_initial_us = 1000;
    ro.timeout_us = 20000;
    struct closure c = {.db = db, .conflict_on_runs_up_to = UINT32_MAX};
    int rc = inmem_db_transact(db, &ro, cb_increment, &c);
    assert_rc(INMEM_ETIMEDOUT, rc);
    /* Exhausted retries and an expired deadline are distinct errors. */
    assert_int_not_equal(rc, INMEM_ERETRIES);
    assert_int_not_equal(rc, INMEM_CONFLICT);
    assert_true(c.runs >= 1);
    assert_true(c.runs < 1000000);
    inmem_stats s1 = test_stats(db);
    assert_int_equal(s1.deadlines_expired, s0.deadlines_expired + 1);
    assert_int_equal(s1.retries_exhausted, s0.retries_exhausted);
    assert_int_equal(db_counter(db), 1000 * (uint64_t)c.runs); /* no closure write applied */
    assert_int_equal(s1.open_txns, 0);
    assert_ok(inmem_db_close(db));
}

/* A slow callback: sleeps 30 ms after writing. */
static int cb_slow_put(inmem_txn *t, void *arg)
{
    unsigned *runs = arg;
    ++*runs;
    int rc = inmem_kv_put(t, NULL, LIT("slow"), LIT("late"));
    if (rc == 0)
        inmem__clock_sleep_us(30000);
    return rc;
}

static void rule10_closure_callback_past_the_deadline_is_not_committed(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_stats s0 = test_stats(db);
    inmem_retry_options ro;
    inmem_retry_options_init(&ro);
    ro.timeout_us = 10000; /* the callback takes 30 ms */
    unsigned runs = 0;
    assert_rc(INMEM_ETIMEDOUT, inmem_db_transact(db, &ro, cb_slow_put, &runs));
    assert_int_equal(runs, 1);
    void *v = NULL;
    size_t vl;
    assert_rc(INMEM_NOTFOUND, inmem_get(db, NULL, LIT("slow"), &v, &vl, NULL));
    inmem_stats s1 = test_stats(db);
    assert_int_equal(s1.deadlines_expired, s0.deadlines_expired + 1);
    assert_int_equal(s1.version, s0.version);
    /* without the deadline the same callback commits */
    ro.timeout_us = 0;
    assert_ok(inmem_db_transact(db, &ro, cb_slow_put, &runs));
    assert_ok(inmem_get(db, NULL, LIT("slow"), &v, &vl, NULL));
    inmem_free(v);
    assert_ok(inmem_db_close(db));
}

/* ---- rule 13: deadlines ------------------------------------------------------------------ */

static int put_b(inmem_txn *t, void *arg)
{
    (void)arg;
    return inmem_kv_put(t, NULL, LIT("b"), LIT("2"));
}

/* A timeout too big to add to the clock means "never", not a deadline wrapped into the past:
 * an explicit transaction and a closure, with backoffs as big, commit. */
static void rule13_deadline_of_a_huge_timeout_never_wraps(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_txn_set_timeout(t, UINT64_MAX));
    assert_ok(inmem_kv_put(t, NULL, LIT("a"), LIT("1")));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    inmem_retry_options ro;
    inmem_retry_options_init(&ro);
    ro.timeout_us = UINT64_MAX;
    ro.backoff_max_us = UINT64_MAX;
    assert_ok(inmem_db_transact(db, &ro, put_b, NULL));
    assert_ok(inmem_get(db, NULL, LIT("b"), NULL, NULL, NULL));
    assert_ok(inmem_db_close(db));
}

static void rule13_deadline_commit_past_it_applies_nothing(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_stats s0 = test_stats(db);
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_txn_set_timeout(t, 1000));
    assert_ok(inmem_kv_put(t, NULL, LIT("a"), LIT("1")));
    assert_ok(inmem_kv_put(t, NULL, LIT("b"), LIT("2")));
    inmem__clock_sleep_us(5000);
    assert_rc(INMEM_ETIMEDOUT, inmem_txn_commit(t));
    inmem_txn_info info;
    assert_ok(inmem_txn_describe(t, &info));
    assert_int_equal(info.state, INMEM_TXN_ABORTED);
    assert_int_equal(info.reason, INMEM_ABORT_DEADLINE);
    assert_rc(INMEM_ETXNDONE, inmem_kv_put(t, NULL, LIT("c"), LIT("3")));
    assert_rc(INMEM_ETXNDONE, inmem_txn_set_timeout(t, 1000));
    inmem_txn_free(t);
    void *v = NULL;
    size_t vl;
    assert_rc(INMEM_NOTFOUND, inmem_get(db, NULL, LIT("a"), &v, &vl, NULL));
    assert_rc(INMEM_NOTFOUND, inmem_get(db, NULL, LIT("b"), &v, &vl, NULL));
    inmem_stats s1 = test_stats(db);
    assert_int_equal(s1.version, s0.version);
    assert_int_equal(s1.deadlines_expired, s0.deadlines_expired + 1);
    /* a read-only transaction past its deadline times out as well */
    t = test_begin(db);
    assert_ok(inmem_txn_set_timeout(t, 1000));
    assert_rc(INMEM_NOTFOUND, inmem_kv_get(t, NULL, LIT("a"), NULL, NULL, NULL));
    inmem__clock_sleep_us(5000);
    assert_rc(INMEM_ETIMEDOUT, inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_int_equal(test_stats(db).deadlines_expired, s0.deadlines_expired + 2);
    assert_ok(inmem_db_close(db));
}

static void rule13_deadline_commit_before_it_or_without_one_commits(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_txn_set_timeout(t, 60000000)); /* a minute */
    assert_ok(inmem_kv_put(t, NULL, LIT("a"), LIT("1")));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_ok(inmem_txn_set_timeout(t, 1));
    assert_ok(inmem_txn_set_timeout(t, 0)); /* removed */
    assert_ok(inmem_kv_put(t, NULL, LIT("b"), LIT("2")));
    inmem__clock_sleep_us(2000);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    /* a handle reused after a timeout starts without a deadline */
    t = test_begin(db);
    assert_ok(inmem_txn_set_timeout(t, 1));
    inmem__clock_sleep_us(2000);
    assert_rc(INMEM_ETIMEDOUT, inmem_txn_commit(t));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_ok(inmem_kv_put(t, NULL, LIT("c"), LIT("3")));
    inmem__clock_sleep_us(2000);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_int_equal(test_stats(db).deadlines_expired, 1);
    assert_rc(INMEM_EINVAL, inmem_txn_set_timeout(NULL, 1));
    assert_ok(inmem_db_close(db));
}

/* ---- rule 11: diagnostics --------------------------------------------------------------- */

static void rule11_diagnostics_counters_move_by_cause(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t vk = db_put(db, NULL, "k", "v");
    inmem_stats s0 = test_stats(db);

    /* One commit with writes. */
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_put(t, NULL, LIT("w"), LIT("1")));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    /* Two read-only commits (one empty). */
    t = test_begin(db);
    expect_val(t, NULL, "k", "v", vk);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    /* Two user aborts: abort, and free while active. */
    t = test_begin(db);
    assert_ok(inmem_kv_put(t, NULL, LIT("w"), LIT("2")));
    assert_ok(inmem_txn_abort(t));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_ok(inmem_kv_put(t, NULL, LIT("w"), LIT("3")));
    inmem_txn_free(t);
    /* One read conflict (plus the implicit put that causes it). */
    t = test_begin(db);
    expect_val(t, NULL, "k", "v", vk);
    assert_ok(inmem_kv_put(t, NULL, LIT("w"), LIT("4")));
    uint64_t vk2 = db_put(db, NULL, "k", "v2");
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    inmem_txn_free(t);
    /* One CAS conflict. */
    t = test_begin(db);
    assert_ok(inmem_kv_cas(t, NULL, LIT("k"), vk, LIT("v-cas")));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    expect_conflict(t, INMEM_ABORT_CAS_CONFLICT, NULL, "k", vk, vk2);
    inmem_txn_free(t);

    inmem_stats s1 = test_stats(db);
    assert_int_equal(s1.commits - s0.commits, 2);
    assert_int_equal(s1.commits_readonly - s0.commits_readonly, 2);
    assert_int_equal(s1.aborts_user - s0.aborts_user, 2);
    assert_int_equal(s1.aborts_read_conflict - s0.aborts_read_conflict, 1);
    assert_int_equal(s1.aborts_cas_conflict - s0.aborts_cas_conflict, 1);
    assert_int_equal(s1.retries - s0.retries, 0);
    assert_int_equal(s1.retries_exhausted - s0.retries_exhausted, 0);
    assert_int_equal(s1.deadlines_expired - s0.deadlines_expired, 0);
    assert_int_equal(s1.version - s0.version, 2);
    assert_int_equal(s1.open_txns, 0);
    assert_ok(inmem_db_close(db));
}

static void rule11_diagnostics_conflict_reports_run_key_and_rule(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));

    /* Read-set rule, in a run. */
    uint64_t v1 = db_put(db, &run, "step", "1");
    inmem_txn *t = test_begin(db);
    expect_val(t, &run, "step", "1", v1);
    assert_ok(inmem_kv_put(t, &run, LIT("next"), LIT("2")));
    uint64_t v2 = db_put(db, &run, "step", "1b");
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    expect_conflict(t, INMEM_ABORT_READ_CONFLICT, &run, "step", v1, v2);
    assert_int_equal(info_of(t).conflict_primitive, INMEM_PRIM_KV);
    inmem_txn_free(t);

    /* A state cell's conflict names the cell and says it is one. */
    uint64_t vc = 0;
    assert_ok(inmem_state_set_db(db, &run, "phase", "plan", 4, &vc));
    t = test_begin(db);
    assert_ok(inmem_state_cas(t, &run, "phase", vc, "act", 3));
    assert_ok(inmem_state_set_db(db, &run, "phase", "done", 4, NULL));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    expect_conflict(t, INMEM_ABORT_CAS_CONFLICT, &run, "phase", vc, ANY_VERSION);
    assert_int_equal(info_of(t).conflict_primitive, INMEM_PRIM_STATE);
    inmem_txn_free(t);

    /* CAS rule, in the shared scope: the conflict run is all zero. */
    uint64_t vs = db_put(db, NULL, "shared-cell", "x");
    t = test_begin(db);
    assert_ok(inmem_kv_cas(t, NULL, LIT("shared-cell"), vs + 999, LIT("y")));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    expect_conflict(t, INMEM_ABORT_CAS_CONFLICT, NULL, "shared-cell", vs + 999, vs);
    inmem_txn_info i = info_of(t);
    assert_true(inmem_run_id_is_shared(&i.conflict_run));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- runs: key scoping ------------------------------------------------------------------ */

static void run_scoping_same_key_in_two_runs_and_shared_scope_are_different_keys(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id r1, r2, zero;
    assert_ok(inmem_run_id_new(&r1));
    assert_ok(inmem_run_id_new(&r2));
    memset(&zero, 0, sizeof(zero));

    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_put(t, &r1, LIT("k"), LIT("one")));
    assert_ok(inmem_kv_put(t, &r2, LIT("k"), LIT("two")));
    assert_ok(inmem_kv_put(t, NULL, LIT("k"), LIT("shared")));
    /* Own pending writes are scoped too. */
    expect_val(t, &r1, "k", "one", 0);
    expect_val(t, &r2, "k", "two", 0);
    expect_val(t, NULL, "k", "shared", 0);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);

    expect_db_val(db, &r1, "k", "one", ANY_VERSION);
    expect_db_val(db, &r2, "k", "two", ANY_VERSION);
    expect_db_val(db, NULL, "k", "shared", ANY_VERSION);
    expect_db_val(db, &zero, "k", "shared", ANY_VERSION); /* the all-zero id is the shared scope */

    /* Deleting in one run leaves the others alone. */
    db_delete(db, &r1, "k");
    expect_db_missing(db, &r1, "k");
    expect_db_val(db, &r2, "k", "two", ANY_VERSION);
    expect_db_val(db, NULL, "k", "shared", ANY_VERSION);

    /* A read in one run does not conflict with writes to the same user key elsewhere. */
    db_put(db, &r1, "k", "one-again");
    t = test_begin(db);
    expect_val(t, &r1, "k", "one-again", ANY_VERSION);
    assert_ok(inmem_kv_put(t, &r1, LIT("k"), LIT("one-b")));
    db_put(db, &r2, "k", "two-b");
    db_put(db, NULL, "k", "shared-b");
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    expect_db_val(db, &r1, "k", "one-b", ANY_VERSION);
    expect_db_val(db, &r2, "k", "two-b", ANY_VERSION);
    expect_db_val(db, NULL, "k", "shared-b", ANY_VERSION);
    assert_ok(inmem_db_close(db));
}

static void run_scoping_scan_of_one_run_never_returns_another_runs_keys(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id r1, r2;
    assert_ok(inmem_run_id_new(&r1));
    assert_ok(inmem_run_id_new(&r2));

    db_put(db, NULL, "a", "s-a");
    db_put(db, NULL, "z", "s-z");
    db_put(db, &r1, "k", "1-k");
    db_put(db, &r1, "k2", "1-k2");
    db_put(db, &r2, "a", "2-a");
    db_put(db, &r2, "k", "2-k");
    db_put(db, &r2, "\xff\xff", "2-ff");

    inmem_txn *t = test_begin(db);
    /* Pending writes in other runs must not leak into a scan either. */
    assert_ok(inmem_kv_put(t, &r2, LIT("k1"), LIT("2-k1 pending")));
    assert_ok(inmem_kv_put(t, NULL, LIT("k3"), LIT("s-k3 pending")));

    const struct kvv run1[] = {{"k", "1-k", ANY_VERSION}, {"k2", "1-k2", ANY_VERSION}};
    expect_scan(t, &r1, NULL, NULL, run1, 2);
    expect_scan_prefix(t, &r1, "", run1, 2);
    expect_scan_prefix(t, &r1, "k", run1, 2);

    const struct kvv run2[] = {{"a", "2-a", ANY_VERSION},
                               {"k", "2-k", ANY_VERSION},
                               {"k1", "2-k1 pending", 0},
                               {"\xff\xff", "2-ff", ANY_VERSION}};
    expect_scan(t, &r2, NULL, NULL, run2, 4);

    const struct kvv shared[] = {
        {"a", "s-a", ANY_VERSION}, {"k3", "s-k3 pending", 0}, {"z", "s-z", ANY_VERSION}};
    expect_scan(t, NULL, NULL, NULL, shared, 3);

    inmem_run_id r3;
    assert_ok(inmem_run_id_new(&r3));
    expect_scan(t, &r3, NULL, NULL, NULL, 0); /* an unused run is empty */
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- snapshots: stats, retained versions, TTL ------------------------------------------- */

static void snapshot_stats_report_oldest_snapshot_and_open_txns(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    db_put(db, NULL, "a", "1");
    inmem_stats s = test_stats(db);
    assert_int_equal(s.open_txns, 0);
    assert_int_equal(s.oldest_snapshot_version, 0);

    inmem_txn *t1 = test_begin(db);
    uint64_t start1 = info_of(t1).start_version;
    assert_int_equal(start1, s.version);
    s = test_stats(db);
    assert_int_equal(s.open_txns, 1);
    assert_int_equal(s.oldest_snapshot_version, start1);

    db_put(db, NULL, "a", "2");
    db_put(db, NULL, "b", "1");
    inmem_txn *t2 = test_begin(db);
    uint64_t start2 = info_of(t2).start_version;
    assert_int_equal(start2, start1 + 2);
    s = test_stats(db);
    assert_int_equal(s.open_txns, 2);
    assert_int_equal(s.oldest_snapshot_version, start1);

    /* Ended but not freed: still a handle, no longer a snapshot. */
    assert_ok(inmem_txn_commit(t1));
    s = test_stats(db);
    assert_int_equal(s.open_txns, 2);
    assert_int_equal(s.oldest_snapshot_version, start2);
    inmem_txn_free(t1);
    s = test_stats(db);
    assert_int_equal(s.open_txns, 1);
    assert_int_equal(s.oldest_snapshot_version, start2);

    inmem_txn_free(t2); /* aborts it */
    s = test_stats(db);
    assert_int_equal(s.open_txns, 0);
    assert_int_equal(s.oldest_snapshot_version, 0);
    assert_int_equal(s.oldest_snapshot_age_us, 0);
    assert_ok(inmem_db_close(db));
}

static void snapshot_old_versions_retained_while_needed_then_reclaimed(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    enum { NKEYS = 10, OVERWRITES = 1000 };
    char k[16], v[32];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        db_put(db, NULL, k, "x");
    }
    db_put(db, NULL, "hot", "v-initial");

    inmem_txn *old = test_begin(db);
    expect_val(old, NULL, "hot", "v-initial", ANY_VERSION);

    for (int i = 0; i < OVERWRITES; i++) {
        snprintf(v, sizeof(v), "v%d", i);
        db_put(db, NULL, "hot", v);
    }
    inmem_stats s = test_stats(db);
    assert_true(s.retained_versions >= OVERWRITES);
    assert_int_equal(s.keys, NKEYS + 1);
    /* The old snapshot still reads its value. */
    expect_val(old, NULL, "hot", "v-initial", ANY_VERSION);
    expect_db_val(db, NULL, "hot", "v999", ANY_VERSION);

    inmem_txn_free(old);
    /* A few more commits, touching every key. */
    for (int r = 0; r < 3; r++)
        db_put(db, NULL, "hot", "after");
    for (int i = 0; i < NKEYS; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        db_put(db, NULL, k, "y");
    }
    s = test_stats(db);
    if (s.retained_versions > NKEYS + 1)
        fail_msg("retained_versions is %llu after the old snapshot ended, expected <= %d",
                 (unsigned long long)s.retained_versions, NKEYS + 1);
    expect_db_val(db, NULL, "hot", "after", ANY_VERSION);
    assert_ok(inmem_db_close(db));
}

static void ttl_put_with_large_ttl_is_readable(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    const uint64_t hour_ms = 3600ULL * 1000;
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_put_ttl(t, NULL, LIT("session"), LIT("alive"), hour_ms));
    assert_ok(inmem_kv_put_ttl(t, NULL, LIT("forever"), LIT("always"), 0));
    expect_val(t, NULL, "session", "alive", 0);
    assert_ok(inmem_txn_commit(t));
    uint64_t vt = info_of(t).commit_version;
    inmem_txn_free(t);

    expect_db_val(db, NULL, "session", "alive", vt);
    expect_db_val(db, NULL, "forever", "always", vt);
    t = test_begin(db);
    expect_val(t, NULL, "session", "alive", vt);
    const struct kvv both[] = {{"forever", "always", vt}, {"session", "alive", vt}};
    expect_scan(t, NULL, NULL, NULL, both, 2);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* Rule 5 (read-only transactions always commit), through the read-only handle: it reads its
 * snapshot, keeps no read set, refuses writes, and commits even after concurrent writes. */
static void rule5_readonly_transaction_reads_snapshot_and_refuses_writes(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t v1;
    assert_ok(inmem_put(db, NULL, "k", 1, "one", 3, &v1));
    inmem_txn *ro;
    assert_ok(inmem_txn_begin_readonly(db, &ro));
    assert_ok(inmem_put(db, NULL, "k", 1, "two", 3, NULL)); /* after the snapshot */
    const void *val;
    size_t n;
    uint64_t ver;
    assert_ok(inmem_kv_get(ro, NULL, "k", 1, &val, &n, &ver));
    assert_int_equal(ver, v1);
    assert_memory_equal(val, "one", 3);
    assert_rc(INMEM_NOTFOUND, inmem_kv_get(ro, NULL, "missing", 7, NULL, NULL, NULL));
    inmem_iter *it;
    assert_ok(inmem_kv_scan_prefix(ro, NULL, NULL, 0, &it));
    assert_ok(inmem_iter_next(it, NULL, NULL, &val, &n, NULL));
    assert_memory_equal(val, "one", 3);
    inmem_iter_free(it);
    assert_rc(INMEM_EREADONLY, inmem_kv_put(ro, NULL, "x", 1, "y", 1));
    assert_rc(INMEM_EREADONLY, inmem_kv_delete(ro, NULL, "k", 1));
    assert_rc(INMEM_EREADONLY, inmem_kv_cas(ro, NULL, "k", 1, v1, "z", 1));
    assert_rc(INMEM_EREADONLY, inmem_state_set(ro, NULL, "cell", "v", 1));
    uint64_t first;
    inmem_event_in one = {"t", "p", 1};
    assert_rc(INMEM_EREADONLY, inmem_event_append_batch(ro, NULL, "s", 1, &one, &first));
    assert_rc(INMEM_EREADONLY, inmem_event_append_batch(ro, NULL, "s", 0, NULL, &first));
    inmem_txn_info info;
    assert_ok(inmem_txn_describe(ro, &info));
    assert_int_equal(info.read_set_size, 0);
    assert_int_equal(info.write_set_size, 0);
    inmem_stats before, after;
    assert_ok(inmem_db_stats(db, &before));
    assert_ok(inmem_txn_commit(ro));
    assert_ok(inmem_db_stats(db, &after));
    assert_int_equal(after.commits_readonly, before.commits_readonly + 1);
    assert_int_equal(after.version, before.version);
    inmem_txn_free(ro);
    assert_ok(inmem_db_close(db));
}

const struct CMUnitTest txn_rules_tests[] = {
    cmocka_unit_test(rule5_readonly_transaction_reads_snapshot_and_refuses_writes),
    cmocka_unit_test(rule1_snapshot_concurrent_commit_invisible_to_older_snapshot),
    cmocka_unit_test(rule1_snapshot_phantom_not_seen_by_older_snapshot),
    cmocka_unit_test(rule2_read_your_writes_through_put_delete_and_scan),
    cmocka_unit_test(rule2_scan_shows_pending_writes_as_they_were_when_opened),
    cmocka_unit_test(rule3_read_set_records_every_read_including_missing_and_deleted),
    cmocka_unit_test(rule3_reading_missing_key_then_concurrent_insert_conflicts),
    cmocka_unit_test(rule3_reading_deleted_key_records_tombstone_version),
    cmocka_unit_test(rule3_scan_records_returned_keys_and_conflicts_on_their_change),
    cmocka_unit_test(rule4_read_write_conflict),
    cmocka_unit_test(rule4_read_then_write_conflict_first_committer_wins),
    cmocka_unit_test(rule4_cas_conflict),
    cmocka_unit_test(rule4_delete_after_read_conflict),
    cmocka_unit_test(rule4_nothing_else_conflicts_unrelated_writes_commit),
    cmocka_unit_test(rule4_transaction_finished_after_conflict),
    cmocka_unit_test(rule5_write_skew_through_point_reads_is_stopped),
    cmocka_unit_test(rule5_write_skew_through_empty_scan_commits),
    cmocka_unit_test(rule5_phantom_insert_into_scanned_range_does_not_conflict),
    cmocka_unit_test(rule5_blind_writes_both_commit_last_committer_wins),
    cmocka_unit_test(rule5_read_only_commits_despite_concurrent_writes_and_keeps_version),
    cmocka_unit_test(rule5_deleting_missing_key_is_a_write),
    cmocka_unit_test(rule6_cas_expected_zero_inserts_only_when_absent),
    cmocka_unit_test(rule6_cas_does_not_add_to_read_set),
    cmocka_unit_test(rule6_read_before_cas_adds_key_to_read_set),
    cmocka_unit_test(rule7_atomic_apply_three_keys_one_new_version),
    cmocka_unit_test(rule7_aborted_transaction_leaves_no_trace),
    cmocka_unit_test(rule8_states_active_to_committed_or_aborted_with_reason),
    cmocka_unit_test(rule8_every_operation_on_ended_txn_returns_etxndone),
    cmocka_unit_test(rule8_iterator_is_freed_with_its_transaction),
    cmocka_unit_test(rule9_implicit_operations_are_one_operation_transactions),
    cmocka_unit_test(rule9_implicit_operations_are_not_part_of_enclosing_transaction),
    cmocka_unit_test(rule10_closure_commits_on_success),
    cmocka_unit_test(rule10_closure_callback_error_returned_as_is_without_retry),
    cmocka_unit_test(rule10_closure_conflict_retried_on_fresh_snapshot),
    cmocka_unit_test(rule10_closure_exhausted_retries_return_eretries),
    cmocka_unit_test(rule10_closure_expired_deadline_returns_etimedout),
    cmocka_unit_test(rule10_closure_callback_past_the_deadline_is_not_committed),
    cmocka_unit_test(rule13_deadline_commit_past_it_applies_nothing),
    cmocka_unit_test(rule13_deadline_of_a_huge_timeout_never_wraps),
    cmocka_unit_test(rule13_deadline_commit_before_it_or_without_one_commits),
    cmocka_unit_test(rule11_diagnostics_counters_move_by_cause),
    cmocka_unit_test(rule11_diagnostics_conflict_reports_run_key_and_rule),
    cmocka_unit_test(run_scoping_same_key_in_two_runs_and_shared_scope_are_different_keys),
    cmocka_unit_test(run_scoping_scan_of_one_run_never_returns_another_runs_keys),
    cmocka_unit_test(snapshot_stats_report_oldest_snapshot_and_open_txns),
    cmocka_unit_test(snapshot_old_versions_retained_while_needed_then_reclaimed),
    cmocka_unit_test(ttl_put_with_large_ttl_is_readable),
};
INMEM_TEST_COUNT(txn_rules);
