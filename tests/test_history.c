/*
 * test_history.c — retained history (docs/history.md, docs/CONTRACT.md section 3): retention by
 * window and by count, per database and per run; time-travel transactions that read exactly
 * what a snapshot read then, or fail with INMEM_EHISTORY, never a newer answer; commit times;
 * history across a reopen, a checkpoint and a SIGKILL.
 *
 * Windows are tested on the overridable wall clock (core/clock.h), never on real sleeps.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "core/clock.h"
#include "core/key.h"
#include "engine/db.h"
#include "txn/txn_int.h"
#include "tests/fsutil.h"

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

#define HOUR_MS (3600u * 1000u)

/* @p swept: with the background sweeper (else only inmem_db_sweep() sweeps). */
static inmem_db *open_hist_swept(const char *dir, uint64_t ms, uint32_t versions, int swept)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = dir ? INMEM_DURABILITY_BATCHED : INMEM_DURABILITY_NONE;
    o.checkpoint_log_ratio = 0;
    o.history_ms = ms;
    o.history_versions = versions;
    if (!swept)
        o.ttl_sweep_interval_ms = 0;
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(dir, &o, &db));
    return db;
}

static inmem_db *open_hist(const char *dir, uint64_t ms, uint32_t versions)
{
    return open_hist_swept(dir, ms, versions, 1);
}

/* Every KV pair of @p run visible to @p t as "key=value@version;"; the scan's error if any. */
static int kv_dump(inmem_txn *t, const inmem_run_id *run, char *out, size_t cap)
{
    inmem_iter *it;
    size_t len = 0;
    out[0] = 0;
    int rc = inmem_kv_scan_prefix(t, run, "", 0, &it);
    if (rc)
        return rc;
    for (;;) {
        const void *k, *v;
        size_t kl, vl;
        uint64_t ver;
        rc = inmem_iter_next(it, &k, &kl, &v, &vl, &ver);
        if (rc)
            break;
        int n = snprintf(out + len, cap - len, "%.*s=%.*s@%llu;", (int)kl, (const char *)k, (int)vl,
                         (const char *)v, (unsigned long long)ver);
        assert_true(n > 0 && (size_t)n < cap - len);
        len += (size_t)n;
    }
    inmem_iter_free(it);
    return rc == INMEM_NOTFOUND ? 0 : rc;
}

/* Begins a run with its own history policy (@p ms, @p versions; both 0: it keeps nothing). */
static inmem_run_id begin_run_keeping(inmem_db *db, uint64_t ms, uint32_t versions)
{
    inmem_run_options ro;
    inmem_run_options_init(&ro);
    ro.history = 1;
    ro.history_ms = ms;
    ro.history_versions = versions;
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, &ro, &run));
    return run;
}

static uint64_t put_str(inmem_db *db, const inmem_run_id *run, const char *k, const char *v)
{
    uint64_t ver = 0;
    assert_ok(inmem_put(db, run, k, strlen(k), v, strlen(v), &ver));
    return ver;
}

/* The value of @p k at version @p at into @p buf ("" if absent); the read's result. */
static int get_at(inmem_db *db, uint64_t at, const inmem_run_id *run, const char *k, char *buf,
                  size_t cap)
{
    inmem_txn *t;
    int rc = inmem_txn_begin_at(db, at, &t);
    if (rc)
        return rc;
    const void *v;
    size_t vl;
    buf[0] = 0;
    rc = inmem_kv_get(t, run, k, strlen(k), &v, &vl, NULL);
    if (rc == 0)
        snprintf(buf, cap, "%.*s", (int)vl, (const char *)v);
    inmem_txn_free(t);
    return rc;
}

/* Commits that touch nothing else, so that the GC runs (it does every few commits). */
static void churn(inmem_db *db, int n)
{
    for (int i = 0; i < n; i++)
        put_str(db, NULL, "churn", "x");
}

/* ---- 3.1 time travel is exact ---------------------------------------------------------------- */

#define SNAPS 48
#define DUMP  4096

struct snap {
    uint64_t version;
    char run[DUMP], shared[DUMP];
};

static void compare_snapshots(inmem_db *db, const inmem_run_id *run, struct snap *s, int n,
                              const char *when)
{
    static char a[DUMP], b[DUMP];
    for (int i = 0; i < n; i++) {
        inmem_txn *t;
        int rc = inmem_txn_begin_at(db, s[i].version, &t);
        CHECK(rc == 0, "%s: begin_at(%llu): %s (%s)", when, (unsigned long long)s[i].version,
              inmem_errname(rc), inmem_errmsg());
        assert_ok(kv_dump(t, run, a, sizeof a));
        assert_ok(kv_dump(t, NULL, b, sizeof b));
        CHECK(strcmp(a, s[i].run) == 0, "%s: version %llu of the run\nthen: %s\nnow:  %s", when,
              (unsigned long long)s[i].version, s[i].run, a);
        CHECK(strcmp(b, s[i].shared) == 0,
              "%s: version %llu of the shared scope\nthen: %s\nnow:  %s", when,
              (unsigned long long)s[i].version, s[i].shared, b);
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
    }
}

/* Snapshots recorded during a random workload (puts, deletes, overwrites in a run and in the
 * shared scope) read the same later through inmem_txn_begin_at(), after a reopen that replays
 * the log, and after a reopen that loads a checkpoint carrying the history. */
static void history_time_travel_reads_what_a_snapshot_read_then(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    uint64_t rng = test_seed(__func__);
    inmem_db *db = open_hist(dir, HOUR_MS, 0);
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    static struct snap s[SNAPS];
    int n = 0;
    for (int c = 0; c < 600; c++) {
        inmem_txn *t = test_begin(db);
        int ops = 1 + (int)(test_rand(&rng) % 4);
        for (int i = 0; i < ops; i++) {
            char k[16], v[32];
            snprintf(k, sizeof k, "k%02d", (int)(test_rand(&rng) % 24));
            snprintf(v, sizeof v, "v%d.%d", c, i);
            const inmem_run_id *r = test_rand(&rng) % 3 ? &run : NULL;
            if (test_rand(&rng) % 4 == 0)
                assert_ok(inmem_kv_delete(t, r, k, strlen(k)));
            else
                assert_ok(inmem_kv_put(t, r, k, strlen(k), v, strlen(v)));
        }
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
        if (n < SNAPS && test_rand(&rng) % 12 == 0) {
            t = test_begin(db);
            inmem_txn_info info;
            assert_ok(inmem_txn_describe(t, &info));
            s[n].version = info.start_version;
            assert_ok(kv_dump(t, &run, s[n].run, DUMP));
            assert_ok(kv_dump(t, NULL, s[n].shared, DUMP));
            assert_ok(inmem_txn_commit(t));
            inmem_txn_free(t);
            n++;
        }
    }
    assert_true(n >= 10);
    compare_snapshots(db, &run, s, n, "while open");
    inmem_stats st = test_stats(db);
    assert_true(st.history_bytes > 0);
    assert_true(st.history_floor <= s[0].version);
    assert_ok(inmem_db_close(db));

    db = open_hist(dir, HOUR_MS, 0);
    compare_snapshots(db, &run, s, n, "after a reopen (log replayed)");
    uint64_t cv = 0;
    assert_ok(inmem_db_checkpoint(db, &cv));
    assert_true(cv > 0);
    compare_snapshots(db, &run, s, n, "after a checkpoint");
    assert_ok(inmem_db_close(db));

    db = open_hist(dir, HOUR_MS, 0);
    inmem_recovery_info rec;
    assert_ok(inmem_db_recovery(db, &rec));
    assert_int_equal(rec.checkpoint_version, cv);
    compare_snapshots(db, &run, s, n, "after a reopen from the checkpoint");
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* ---- 3.2 retention by count ------------------------------------------------------------------ */

/* history_versions = N keeps the N newest versions of every key, however old: reads at any of
 * them are exact; at a version older than a key's oldest kept one, the read of that key fails
 * (INMEM_EHISTORY) while keys that kept theirs still answer. */
static void history_count_keeps_the_newest_versions_of_every_key(void **state)
{
    (void)state;
    inmem_db *db = open_hist(NULL, 0, 3);
    uint64_t quiet = put_str(db, NULL, "quiet", "q"); /* written once, never again */
    uint64_t v[10];
    char want[16], got[16];
    for (int i = 0; i < 10; i++) {
        snprintf(want, sizeof want, "hot%d", i);
        v[i] = put_str(db, NULL, "hot", want);
    }
    churn(db, 40);
    for (int i = 0; i < 10; i++) {
        int rc = get_at(db, v[i], NULL, "hot", got, sizeof got);
        if (i >= 7) {
            snprintf(want, sizeof want, "hot%d", i);
            CHECK(rc == 0 && strcmp(got, want) == 0, "version %d: %s '%s'", i, inmem_errname(rc),
                  got);
        } else {
            CHECK(rc == INMEM_EHISTORY, "version %d of 10 with 3 kept: %s", i, inmem_errname(rc));
        }
        assert_rc(0, get_at(db, v[i], NULL, "quiet", got, sizeof got));
        assert_string_equal(got, "q");
    }
    assert_rc(INMEM_NOTFOUND, get_at(db, quiet - 1, NULL, "quiet", got, sizeof got));
    /* a deleted key keeps its versions too */
    uint64_t del = 0;
    assert_ok(inmem_delete(db, NULL, "hot", 3, &del));
    churn(db, 40);
    assert_rc(INMEM_NOTFOUND, get_at(db, del, NULL, "hot", got, sizeof got));
    assert_rc(0, get_at(db, del - 1, NULL, "hot", got, sizeof got));
    assert_string_equal(got, "hot9");
    inmem_stats st = test_stats(db);
    assert_true(st.history_bytes >= 2 * strlen("hot9"));
    assert_ok(inmem_db_close(db));
}

/* ---- 3.3 retention by window ----------------------------------------------------------------- */

/* history_ms = W keeps every version replaced less than W ago and the one visible W ago: a read
 * at any time within the window is exact; before it, begin_at fails and the versions are freed. */
/* Keys whose history a window keeps wait in a queue to be visited once the window has passed
 * their newest version. Every visit of a key still being written queued it again, whether or not
 * it was queued already, so each write left one entry for good: under a 100-ms window, memory
 * grew by 16 bytes a put for ever (130 MB in 2.5 M puts over 1,000 keys; a soak of the library).
 * A key now waits there once at a time; the window still keeps what it should. */
static void history_a_window_queues_each_key_once_however_often_it_is_written(void **state)
{
    (void)state;
    const uint64_t t0 = 10000000000ull;
    inmem_db *db = open_hist(NULL, 100, 0);
    char key[16], val[16];
    uint64_t at_mid = 0, at_old = 0;
    for (int i = 0; i < 200000; i++) { /* 100 keys, the clock a millisecond on every 100 puts */
        inmem__clock_set_override(t0 + (uint64_t)i / 100);
        snprintf(key, sizeof key, "k%d", i % 100);
        snprintf(val, sizeof val, "%d", i);
        uint64_t v = put_str(db, NULL, key, val);
        if (i == 199950)
            at_mid = v;
        if (i == 179950) /* 200 ms before the end */
            at_old = v;
    }
    inmem__mutex_lock(&db->store->commit_mu);
    size_t queued = inmem__index_history_queue(db->store->index);
    /* (and the chains the collector pruned from their oldest end are consistent) */
    assert_int_equal(inmem__index_check_chains(db->store->index, NULL), 0);
    inmem__mutex_unlock(&db->store->commit_mu);
    if (queued > 2 * 100)
        fail_msg("%zu history queue entries for 100 keys after 200,000 puts", queued);
    /* and the window holds the last 100 ms, and no more */
    char got[16];
    assert_rc(0, get_at(db, at_mid, NULL, "k50", got, sizeof got));
    assert_string_equal(got, "199950");
    assert_rc(0, get_at(db, at_mid - 100, NULL, "k50", got, sizeof got)); /* the write before */
    assert_string_equal(got, "199850");
    inmem_txn *t = NULL;
    assert_rc(INMEM_EHISTORY, inmem_txn_begin_at(db, at_old, &t));
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

static void history_window_keeps_what_was_replaced_within_it(void **state)
{
    (void)state;
    const uint64_t t0 = 10000000000ull;
    inmem__clock_set_override(t0);
    inmem_db *db = open_hist(NULL, 10000, 0);
    uint64_t va = put_str(db, NULL, "k", "a");
    inmem__clock_set_override(t0 + 1000);
    uint64_t vb = put_str(db, NULL, "k", "b");
    inmem__clock_set_override(t0 + 6000);
    uint64_t vc = put_str(db, NULL, "k", "c");
    churn(db, 20);
    char got[8];
    /* at t0 + 6 s everything is within the window */
    assert_rc(0, get_at(db, va, NULL, "k", got, sizeof got));
    assert_string_equal(got, "a");
    inmem__clock_set_override(t0 + 15000); /* the window reaches back to t0 + 5 s: b then */
    churn(db, 20);
    inmem_txn *t;
    assert_rc(INMEM_EHISTORY, inmem_txn_begin_at(db, va, &t));
    assert_null(t);
    assert_rc(0, get_at(db, vb, NULL, "k", got, sizeof got));
    assert_string_equal(got, "b");
    assert_rc(0, get_at(db, vc, NULL, "k", got, sizeof got));
    assert_string_equal(got, "c");
    inmem_stats st = test_stats(db);
    assert_int_equal(st.history_floor, vb);
    /* by time: t0 + 500 ms was a's time, outside the window now; t0 + 1500 is b's */
    assert_rc(INMEM_EHISTORY, inmem_txn_begin_at_time(db, t0 + 500, &t));
    assert_ok(inmem_txn_begin_at_time(db, t0 + 1500, &t));
    const void *v;
    size_t vl;
    uint64_t ver;
    assert_ok(inmem_kv_get(t, NULL, "k", 1, &v, &vl, &ver));
    assert_int_equal(ver, vb);
    inmem_txn_free(t);
    inmem__clock_set_override(t0 + 100000); /* everything of k but its newest is gone */
    churn(db, 20);
    st = test_stats(db);
    assert_true(st.history_floor > vc);
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

/* The wall clock stepping back never lowers a window's floor: the GC has acted on the floor (a
 * key deleted below it is forgotten), so a read of the past below the floor it reached stays
 * INMEM_EHISTORY, never "absent". */
static void history_a_clock_stepped_back_never_lowers_the_floor(void **state)
{
    (void)state;
    const uint64_t t0 = 10000000000ull;
    inmem__clock_set_override(t0);
    inmem_db *db = open_hist(NULL, 10000, 0);
    uint64_t va = 0, vd = 0;
    for (int s = 1; s <= 60; s++) { /* a commit a second: k put at 40 s, deleted at 45 s */
        inmem__clock_set_override(t0 + (uint64_t)s * 1000);
        if (s == 40)
            va = put_str(db, NULL, "k", "a");
        else if (s == 45)
            assert_ok(inmem_delete(db, NULL, "k", 1, &vd));
        else
            put_str(db, NULL, "churn", "x");
    }
    churn(db, 30); /* the window reaches back to 50 s: k is forgotten */
    uint64_t floor = test_stats(db).history_floor;
    assert_true(floor > vd);
    char got[8];
    assert_rc(INMEM_EHISTORY, get_at(db, va, NULL, "k", got, sizeof got));
    for (uint64_t back = 1000; back <= 30000; back *= 30) { /* 1 s, then 30 s */
        inmem__clock_set_override(t0 + 60000 - back);
        churn(db, 30);
        assert_true(test_stats(db).history_floor >= floor);
        assert_rc(INMEM_EHISTORY, get_at(db, va, NULL, "k", got, sizeof got));
    }
    inmem__clock_set_override(t0 + 61000); /* forward again: the window moves on from there */
    put_str(db, NULL, "k2", "b");
    churn(db, 30);
    assert_true(test_stats(db).history_floor >= floor);
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

/* A run that keeps less history than the database, deleted: its past is refused, not answered by
 * the database's policy (under which "absent" would be trusted where the run's own policy had
 * already forgotten the keys it deleted). */
static void history_a_deleted_run_that_kept_less_than_the_database_refuses_its_past(void **state)
{
    (void)state;
    inmem_db *db = open_hist(NULL, HOUR_MS, 0);
    inmem_run_id run = begin_run_keeping(db, 0, 0);
    uint64_t va = put_str(db, &run, "k", "a");
    assert_ok(inmem_delete(db, &run, "k", 1, NULL));
    churn(db, 30); /* the run keeps nothing: its deleted key is forgotten */
    char got[8];
    assert_rc(INMEM_EHISTORY, get_at(db, va, &run, "k", got, sizeof got));
    assert_ok(inmem_run_delete_db(db, &run));
    churn(db, 30);
    assert_rc(INMEM_EHISTORY, get_at(db, va, &run, "k", got, sizeof got));
    /* what the run id gets from now on is kept by the database's policy */
    uint64_t vb = put_str(db, &run, "k", "b");
    assert_ok(inmem_delete(db, &run, "k", 1, NULL));
    churn(db, 30);
    assert_rc(0, get_at(db, vb, &run, "k", got, sizeof got));
    assert_string_equal(got, "b");
    assert_ok(inmem_db_close(db));
}

/* Deletion is erasure (CONTRACT 2.10) for a run that kept less than the database too: the
 * database's policy takes over for its id from the deletion on, and it kept what the run had
 * written before — under a count of 3 the deletion's tombstone and the two values before it, for
 * good (a host deleting such runs grew without bound); under a window, for the window — in
 * memory and in every checkpoint image. */
static void history_a_deleted_run_that_kept_less_than_the_database_leaves_nothing(void **state)
{
    (void)state;
    for (int windowed = 0; windowed < 2; windowed++) {
        char dir[64];
        test_tmpdir(dir);
        inmem_db *db = open_hist(dir, windowed ? HOUR_MS : 0, windowed ? 0 : 3);
        inmem_stats base = test_stats(db);
        inmem_run_id run = begin_run_keeping(db, 0, 0);
        put_str(db, &run, "k", "SECRET-one");
        put_str(db, &run, "k", "SECRET-two");
        put_str(db, &run, "k", "SECRET-three");
        put_str(db, &run, "j", "SECRET-four");
        assert_ok(inmem_run_delete_db(db, &run));
        churn(db, 30);
        inmem_stats st = test_stats(db);
        /* what remains beside the churn key's history: the run's index entries in the shared
         * scope (kept by the database's policy), none of the run's values */
        CHECK(st.history_bytes < base.history_bytes + 400,
              "%s: history_bytes %llu after the deletion", windowed ? "window" : "count",
              (unsigned long long)st.history_bytes);
        for (const inmem__node *n = inmem__index_seek(db->store->index, run.bytes, 16); n;
             n = inmem__index_next(n)) {
            if (n->klen < 16 || memcmp(inmem__node_key(n), run.bytes, 16) != 0)
                break;
            fail_msg("%s: a key of the deleted run is still in the index",
                     windowed ? "window" : "count");
        }
        assert_ok(inmem_db_checkpoint(db, NULL));
        CHECK(!inmem_any_file_holds(dir, "SECRET-"), "%s: a deleted value is in a file",
              windowed ? "window" : "count");
        void *val = NULL;
        size_t vlen = 0;
        assert_rc(INMEM_NOTFOUND, inmem_get(db, &run, "k", 1, &val, &vlen, NULL));
        assert_ok(inmem_db_close(db));
        test_rmdir(dir);
    }
}

/* ---- 3.4 the past is never a newer answer ---------------------------------------------------- */

/* Without retention, old versions go as soon as no transaction needs them, and a read of a
 * version that went is refused at begin, never answered from a newer one; an open transaction
 * keeps its version readable. Commit times are not kept. */
static void history_off_refuses_versions_no_transaction_holds(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t v1 = put_str(db, NULL, "k", "one");
    inmem_txn *hold = test_begin(db); /* holds v1 */
    put_str(db, NULL, "k", "two");
    churn(db, 20);
    char got[8];
    assert_rc(0, get_at(db, v1, NULL, "k", got, sizeof got));
    assert_string_equal(got, "one");
    inmem_txn_free(hold);
    churn(db, 20);
    inmem_txn *t;
    assert_rc(INMEM_EHISTORY, inmem_txn_begin_at(db, v1, &t));
    assert_null(t);
    inmem_stats st = test_stats(db);
    assert_true(st.history_bytes <= 8); /* no more than the last few churn commits' "x" */
    assert_true(st.history_floor > v1);
    assert_ok(inmem_txn_begin_at(db, st.version, &t));
    inmem_txn_free(t);
    uint64_t x;
    assert_rc(INMEM_EHISTORY, inmem_db_version_time(db, v1, &x));
    assert_rc(INMEM_EHISTORY, inmem_db_time_version(db, inmem__clock_wall_ms(), &x));
    assert_rc(INMEM_EHISTORY, inmem_txn_begin_at_time(db, inmem__clock_wall_ms(), &t));
    assert_ok(inmem_db_close(db));
}

/* Without retention, which past versions inmem_txn_begin_at() accepts depends on the open
 * transactions alone — from the oldest version one holds, or else only the newest — never on when
 * the collector last ran (every 8 commits, and a reopen's replay collects as it goes): right
 * after a few commits, before any collection, an older version is refused as it is after a
 * reopen, and inmem_stats.history_floor says the same. */
static void history_off_begin_at_does_not_depend_on_when_the_collector_ran(void **state)
{
    (void)state;
    char dir[64], got[8];
    test_tmpdir(dir);
    for (int durable = 0; durable < 2; durable++) {
        inmem_db *db = open_hist(durable ? dir : NULL, 0, 0);
        uint64_t v1 = put_str(db, NULL, "k", "one");
        uint64_t v2 = put_str(db, NULL, "k", "two"); /* (no collection has run yet) */
        inmem_txn *t;
        CHECK(inmem_txn_begin_at(db, v1, &t) == INMEM_EHISTORY,
              "durable %d: version %llu, which no transaction holds, was accepted", durable,
              (unsigned long long)v1);
        assert_null(t);
        assert_rc(INMEM_EHISTORY, inmem_txn_begin_at(db, 0, &t));
        assert_true(test_stats(db).history_floor == v2);
        assert_rc(0, get_at(db, v2, NULL, "k", got, sizeof got));
        assert_string_equal(got, "two");
        /* a transaction holds v2: v2 is accepted while it lives, and nothing older */
        inmem_txn *hold = test_begin(db);
        uint64_t v3 = put_str(db, NULL, "k", "three");
        assert_rc(0, get_at(db, v2, NULL, "k", got, sizeof got));
        assert_string_equal(got, "two");
        assert_rc(INMEM_EHISTORY, inmem_txn_begin_at(db, v1, &t));
        assert_true(test_stats(db).history_floor == v2);
        inmem_txn_free(hold);
        assert_rc(INMEM_EHISTORY, inmem_txn_begin_at(db, v2, &t));
        assert_true(test_stats(db).history_floor == v3);
        if (durable) { /* the same after a reopen */
            assert_ok(inmem_db_close(db));
            db = open_hist(dir, 0, 0);
            assert_rc(INMEM_EHISTORY, inmem_txn_begin_at(db, v2, &t));
            assert_true(test_stats(db).history_floor == v3);
        }
        assert_rc(0, get_at(db, v3, NULL, "k", got, sizeof got));
        assert_string_equal(got, "three");
        assert_ok(inmem_db_close(db));
    }
    test_rmdir(dir);
}

/* A time-travel transaction takes no write (INMEM_EREADONLY) and a version not yet committed is
 * an invalid argument. */
static void history_past_transaction_is_read_only(void **state)
{
    (void)state;
    inmem_db *db = open_hist(NULL, 0, 4);
    uint64_t v = put_str(db, NULL, "k", "v");
    inmem_txn *t;
    assert_rc(INMEM_EINVAL, inmem_txn_begin_at(db, v + 1, &t));
    assert_null(t);
    assert_rc(INMEM_EINVAL, inmem_txn_begin_at(NULL, v, &t));
    assert_rc(INMEM_EINVAL, inmem_txn_begin_at(db, v, NULL));
    assert_ok(inmem_txn_begin_at(db, v, &t));
    assert_rc(INMEM_EREADONLY, inmem_kv_put(t, NULL, "k", 1, "w", 1));
    assert_rc(INMEM_EREADONLY, inmem_state_set(t, NULL, "cell", "x", 1));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_txn_begin_at(db, 0, &t)); /* the empty state before the first commit */
    const void *val;
    size_t vl;
    assert_rc(INMEM_NOTFOUND, inmem_kv_get(t, NULL, "k", 1, &val, &vl, NULL));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- 3.5 runs: their own policy, and deletion erases ----------------------------------------- */

/* A run begun with its own policy keeps history while the database keeps none (and the other
 * way round); the policy is stored with the run and survives a reopen under other options. */
static void history_run_policy_overrides_the_database(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = open_hist(dir, 0, 0);
    inmem_run_id keeps = begin_run_keeping(db, 0, 4), plain;
    assert_ok(inmem_run_begin_db(db, NULL, &plain));
    uint64_t vk[8], vp[8];
    for (int i = 0; i < 8; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        vk[i] = put_str(db, &keeps, "k", v);
        vp[i] = put_str(db, &plain, "k", v);
    }
    churn(db, 40);
    char got[16];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 8; i++) {
            int rc = get_at(db, vk[i], &keeps, "k", got, sizeof got);
            if (i >= 4)
                CHECK(rc == 0 && got[0] == '0' + i, "pass %d: run's version %d: %s", pass, i,
                      inmem_errname(rc));
            else
                CHECK(rc == INMEM_EHISTORY, "pass %d: run's version %d: %s", pass, i,
                      inmem_errname(rc));
            if (i < 7)
                assert_rc(INMEM_EHISTORY, get_at(db, vp[i], &plain, "k", got, sizeof got));
        }
        inmem_stats st = test_stats(db);
        assert_true(st.history_bytes >= 3);
        assert_ok(inmem_db_checkpoint(db, NULL));
        assert_ok(inmem_db_close(db));
        db = open_hist(dir, 0, 0); /* the database keeps nothing: the run's own policy stays */
    }
    /* and a run may keep nothing in a database that keeps everything */
    assert_ok(inmem_db_close(db));
    db = open_hist(dir, HOUR_MS, 0);
    inmem_run_id none = begin_run_keeping(db, 0, 0);
    uint64_t a = put_str(db, &none, "k", "a");
    uint64_t s = put_str(db, NULL, "k", "shared-a");
    put_str(db, &none, "k", "b");
    put_str(db, NULL, "k", "shared-b");
    churn(db, 40);
    assert_rc(INMEM_EHISTORY, get_at(db, a, &none, "k", got, sizeof got));
    assert_rc(0, get_at(db, s, NULL, "k", got, sizeof got));
    assert_string_equal(got, "shared-a");
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* Deleting a run that kept history erases its past: reads of it at versions before the delete
 * are refused (not answered "absent"), in memory and after a checkpoint and a reopen; other
 * runs' history is untouched. */
static void history_deleting_a_run_erases_its_past(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = open_hist(dir, HOUR_MS, 0);
    inmem_run_id gone, stays;
    assert_ok(inmem_run_begin_db(db, NULL, &gone));
    assert_ok(inmem_run_begin_db(db, NULL, &stays));
    uint64_t v = put_str(db, &gone, "secret", "value");
    put_str(db, &stays, "k", "kept");
    uint64_t before = put_str(db, &gone, "secret", "newer");
    assert_ok(inmem_run_delete_db(db, &gone));
    churn(db, 20);
    char got[16];
    for (int pass = 0; pass < 2; pass++) {
        assert_rc(INMEM_EHISTORY, get_at(db, v, &gone, "secret", got, sizeof got));
        assert_rc(INMEM_EHISTORY, get_at(db, before, &gone, "secret", got, sizeof got));
        inmem_txn *t;
        assert_ok(inmem_txn_begin_at(db, before, &t));
        inmem_run_info info;
        assert_rc(INMEM_EHISTORY, inmem_run_get(t, &gone, &info));
        assert_ok(inmem_run_get(t, &stays, &info));
        inmem_txn_free(t);
        assert_rc(0, get_at(db, before, &stays, "k", got, sizeof got));
        assert_string_equal(got, "kept");
        assert_ok(inmem_db_checkpoint(db, NULL));
        assert_ok(inmem_db_close(db));
        db = open_hist(dir, HOUR_MS, 0);
    }
    /* the same id begun again keeps history from then on */
    inmem_run_options ro;
    inmem_run_options_init(&ro);
    ro.id = &gone;
    assert_ok(inmem_run_begin_db(db, &ro, NULL));
    uint64_t again = put_str(db, &gone, "secret", "again");
    put_str(db, &gone, "secret", "again2");
    churn(db, 20);
    assert_rc(0, get_at(db, again, &gone, "secret", got, sizeof got));
    assert_string_equal(got, "again");
    assert_rc(INMEM_EHISTORY, get_at(db, before, &gone, "secret", got, sizeof got));
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* How many run policies the engine has cached (entries of deleted runs included). */
static size_t policies_cached(inmem_db *db)
{
    inmem__mutex_lock(&db->store->commit_mu);
    size_t n = db->store->npol;
    inmem__mutex_unlock(&db->store->commit_mu);
    return n;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The record an erased run leaves (its past refused) is kept only while it changes an answer:
 * once the database's own window has passed the deletion, a read before it is refused without
 * it, and a sweep deletes it (a commit of the engine's, counted in expired_swept) and the cache
 * entry with it; across a reopen too. Reads of the run's past are refused all along. Under a
 * count, which keeps versions however old, the record stays. */
static void history_sweep_drops_what_no_longer_changes_an_answer(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    enum { WINDOW = 300 };
    inmem_db *db = open_hist_swept(dir, WINDOW, 0, 0);
    put_str(db, NULL, "shared", "x");
    uint64_t keys0 = test_stats(db).keys;
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    uint64_t v = put_str(db, &run, "secret", "value");
    assert_ok(inmem_run_delete_db(db, &run));
    char got[16];
    assert_rc(INMEM_EHISTORY, get_at(db, v, &run, "secret", got, sizeof got));
    inmem_txn *t;
    assert_ok(inmem_txn_begin_at(db, v, &t)); /* the key's history there: refused too */
    inmem_version_info hv[4];
    size_t nh = 9;
    assert_rc(INMEM_EHISTORY, inmem_kv_history(t, &run, "secret", 6, 0, 4, hv, &nh));
    assert_int_equal(nh, 0);
    inmem_txn_free(t);
    uint64_t swept0 = test_stats(db).expired_swept;
    assert_ok(inmem_db_sweep(db, NULL)); /* the window still reaches before the deletion */
    assert_int_equal(policies_cached(db), 1);
    assert_int_equal(test_stats(db).expired_swept, swept0);
    assert_rc(INMEM_EHISTORY, get_at(db, v, &run, "secret", got, sizeof got));
    sleep_ms(WINDOW + 100);
    churn(db, 20); /* commits after the window: its floor moves past the deletion */
    assert_ok(inmem_db_sweep(db, NULL));
    CHECK(policies_cached(db) == 0, "%zu policies cached after the sweep", policies_cached(db));
    assert_int_equal(test_stats(db).expired_swept, swept0 + 1);
    assert_rc(INMEM_EHISTORY, get_at(db, v, &run, "secret", got, sizeof got));
    sleep_ms(WINDOW + 100);
    churn(db, 20); /* the record's tombstone and the run's keys leave the window too */
    inmem_stats s = test_stats(db);
    CHECK(s.keys == keys0 + 1, "%llu keys, %llu before the run (+ churn's)",
          (unsigned long long)s.keys, (unsigned long long)keys0);
    assert_ok(inmem_db_close(db));
    db = open_hist_swept(dir, WINDOW, 0, 0);
    assert_int_equal(policies_cached(db), 0);
    assert_rc(INMEM_EHISTORY, get_at(db, v, &run, "secret", got, sizeof got));
    /* a run that kept less than the database leaves a record handing its id to the database's
     * policy from the deletion on: swept the same way once the window has passed it */
    run = begin_run_keeping(db, 0, 0);
    v = put_str(db, &run, "secret", "value");
    assert_ok(inmem_run_delete_db(db, &run));
    assert_ok(inmem_db_sweep(db, NULL));
    assert_int_equal(policies_cached(db), 1);
    sleep_ms(WINDOW + 100);
    churn(db, 20);
    assert_ok(inmem_db_sweep(db, NULL));
    CHECK(policies_cached(db) == 0, "%zu policies cached after the sweep (a run that kept less)",
          policies_cached(db));
    assert_rc(INMEM_EHISTORY, get_at(db, v, &run, "secret", got, sizeof got));
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);

    /* a count keeps versions however old: the record stays */
    db = open_hist_swept(NULL, 0, 4, 0);
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    v = put_str(db, &run, "secret", "value");
    assert_ok(inmem_run_delete_db(db, &run));
    churn(db, 20);
    assert_ok(inmem_db_sweep(db, NULL));
    assert_int_equal(policies_cached(db), 1);
    assert_rc(INMEM_EHISTORY, get_at(db, v, &run, "secret", got, sizeof got));
    assert_ok(inmem_db_close(db));
}

/* A key's history at a past snapshot is refused wherever a read of the key there is: its
 * versions there freed under a count (the chain cut above the snapshot: the history was an empty
 * list), and through a fork deleted (erased) since (the history went on to the parent's
 * versions, and showed the parent's value of a key the fork had deleted). */
static void history_a_key_history_in_the_past_is_refused_where_a_read_is(void **state)
{
    (void)state;
    char got[16];
    inmem_version_info h[8];
    size_t n;
    inmem_txn *t;
    /* a count of 2: k's first version freed */
    inmem_db *db = open_hist(NULL, 0, 2);
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    uint64_t v1 = put_str(db, &run, "k", "a");
    put_str(db, &run, "k", "b");
    put_str(db, &run, "k", "c");
    churn(db, 40);
    assert_rc(INMEM_EHISTORY, get_at(db, v1, &run, "k", got, sizeof got));
    assert_ok(inmem_txn_begin_at(db, v1, &t));
    n = 9;
    assert_rc(INMEM_EHISTORY, inmem_kv_history(t, &run, "k", 1, 0, 8, h, &n));
    assert_int_equal(n, 0);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));

    /* a fork that deleted its parent's b, deleted since with its history */
    db = open_hist(NULL, HOUR_MS, 0);
    inmem_run_id parent, fork;
    assert_ok(inmem_run_begin_db(db, NULL, &parent));
    put_str(db, &parent, "a", "pa");
    put_str(db, &parent, "b", "pb");
    assert_ok(inmem_run_fork_db(db, &parent, 0, NULL, &fork));
    uint64_t vd;
    assert_ok(inmem_delete(db, &fork, "b", 1, &vd));
    assert_ok(inmem_txn_begin_at(db, vd, &t)); /* before the deletion: b deleted, a inherited */
    assert_ok(inmem_kv_history(t, &fork, "b", 1, 0, 8, h, &n));
    assert_int_equal(n, 2);
    assert_true(h[0].deleted);
    inmem_txn_free(t);
    assert_ok(inmem_run_delete_db(db, &fork));
    churn(db, 20);
    assert_ok(inmem_txn_begin_at(db, vd, &t));
    for (int i = 0; i < 2; i++) {
        const char *k = i ? "b" : "a";
        const void *val;
        size_t vlen;
        assert_rc(INMEM_EHISTORY, inmem_kv_get(t, &fork, k, 1, &val, &vlen, NULL));
        n = 9;
        assert_rc(INMEM_EHISTORY, inmem_kv_history(t, &fork, k, 1, 0, 8, h, &n));
        assert_int_equal(n, 0);
    }
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* A fork's entries in the policy cache (its own, and its parent's, made for the fork) go once the
 * fork is deleted and no snapshot can read through it any more: they stayed for the database's
 * life, one or two per fork ever made. */
static void history_a_deleted_fork_leaves_no_entry(void **state)
{
    (void)state;
    inmem_db *db = open_hist_swept(NULL, 0, 0, 0);
    inmem_run_id parent;
    assert_ok(inmem_run_begin_db(db, NULL, &parent));
    put_str(db, &parent, "k", "v");
    for (int i = 0; i < 20; i++) {
        inmem_run_id fork;
        assert_ok(inmem_run_fork_db(db, &parent, 0, NULL, &fork));
        put_str(db, &fork, "k", "w");
        inmem_txn *t = test_begin(db); /* may read through the fork while it is deleted */
        assert_ok(inmem_run_delete_db(db, &fork));
        inmem_txn_free(t);
        churn(db, 20);
        inmem__store_collect(db->store);
    }
    CHECK(policies_cached(db) == 0, "%zu entries cached", policies_cached(db));
    put_str(db, &parent, "k", "after"); /* the parent goes on */
    inmem_run_id fork;
    assert_ok(inmem_run_fork_db(db, &parent, 0, NULL, &fork));
    inmem_txn *t = test_begin(db);
    const void *v;
    size_t vl;
    assert_ok(inmem_kv_get(t, &fork, "k", 1, &v, &vl, NULL));
    assert_int_equal(vl, 5);
    assert_memory_equal(v, "after", 5);
    inmem_txn_free(t);
    assert_ok(inmem_run_delete_db(db, &fork));
    assert_ok(inmem_run_delete_db(db, &parent));
    assert_ok(inmem_db_close(db));
}

/* A window's floor after a reopen from a checkpoint. The image holds the commit times of the
 * versions it keeps, not of those the GC had dropped (a key's put and delete, the key unlinked
 * since; an erased run's writes, its record swept since), and the floor read from the known
 * times fell back below them: a read of that past was accepted and answered "absent" where it
 * must be refused. The floor may not be lower after the reopen than before it. */
static void history_a_window_floor_does_not_fall_back_across_a_checkpoint(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    enum { WINDOW = 300 };
    uint64_t t0 = inmem__clock_wall_ms();
    inmem__clock_set_override(t0);
    inmem_db *db = open_hist_swept(dir, WINDOW, 0, 0);
    put_str(db, NULL, "shared", "x");
    inmem_run_id live, gone;
    assert_ok(inmem_run_begin_db(db, NULL, &live));
    uint64_t vk = put_str(db, &live, "k", "value");
    assert_ok(inmem_delete(db, &live, "k", 1, NULL));
    assert_ok(inmem_run_begin_db(db, NULL, &gone));
    uint64_t vs = put_str(db, &gone, "secret", "value");
    assert_ok(inmem_run_delete_db(db, &gone));
    inmem__clock_set_override(t0 + WINDOW + 100);
    uint64_t swept0 = test_stats(db).expired_swept;
    assert_ok(inmem_db_sweep(db, NULL)); /* the erased run's record: its deletion left the window */
    assert_int_equal(test_stats(db).expired_swept, swept0 + 1);
    inmem__clock_set_override(t0 + 2 * (WINDOW + 100));
    churn(db, 20); /* the GC unlinks k: its tombstone is below the floor */
    char got[16];
    assert_rc(INMEM_EHISTORY, get_at(db, vk, &live, "k", got, sizeof got));
    assert_rc(INMEM_EHISTORY, get_at(db, vs, &gone, "secret", got, sizeof got));
    uint64_t floor = test_stats(db).history_floor;
    assert_ok(inmem_db_checkpoint(db, NULL));
    assert_ok(inmem_db_close(db));
    db = open_hist_swept(dir, WINDOW, 0, 0);
    uint64_t after = test_stats(db).history_floor;
    CHECK(after >= floor, "the floor fell back from %llu to %llu", (unsigned long long)floor,
          (unsigned long long)after);
    assert_rc(INMEM_EHISTORY, get_at(db, vk, &live, "k", got, sizeof got));
    assert_rc(INMEM_EHISTORY, get_at(db, vs, &gone, "secret", got, sizeof got));
    put_str(db, &live, "k", "again"); /* and the database goes on from there */
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
    test_rmdir(dir);
}

/* The window's floor after a reopen whose wall clock is behind the one the image was written
 * at (a clock stepped back across a restart): the floor was computed at the earlier time, below
 * what the GC had dropped by the later one, and a read of that past answered "absent". Floors
 * are now never computed at a time before the image's. */
static void history_a_clock_stepped_back_across_a_reopen_keeps_the_floor(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    enum { WINDOW = 300 };
    uint64_t t0 = inmem__clock_wall_ms();
    inmem__clock_set_override(t0);
    inmem_db *db = open_hist_swept(dir, WINDOW, 0, 0);
    put_str(db, NULL, "shared", "x");
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    uint64_t vk = put_str(db, &run, "k", "value");
    assert_ok(inmem_delete(db, &run, "k", 1, NULL));
    inmem__clock_set_override(t0 + 10000);
    churn(db, 20); /* the GC unlinks k: its tombstone is below the floor */
    char got[16];
    assert_rc(INMEM_EHISTORY, get_at(db, vk, &run, "k", got, sizeof got));
    uint64_t floor = test_stats(db).history_floor;
    assert_ok(inmem_db_checkpoint(db, NULL));
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(t0 + 100); /* the clock went back 9.9 s */
    db = open_hist_swept(dir, WINDOW, 0, 0);
    uint64_t after = test_stats(db).history_floor;
    CHECK(after >= floor, "the floor fell back from %llu to %llu", (unsigned long long)floor,
          (unsigned long long)after);
    assert_rc(INMEM_EHISTORY, get_at(db, vk, &run, "k", got, sizeof got));
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
    test_rmdir(dir);
}

/* A deleted fork's record waits for the snapshots that may still read through the fork; once
 * they have ended, the next sweep drops it, though the database's floor has not moved since the
 * sweep that had to leave it (that one marked the floor as done, and every later sweep skipped
 * its walk until a commit moved the floor). */
/* A sweep deleted at most 256 records of deleted runs (one commit), one sweep a second: a
 * program deleting more runs than that a second, each with a policy of its own, grew for good
 * (a soak of the library: +744 keys a second at 1,000 runs a second). A sweep now takes batch
 * after batch while they come full. */
static void history_one_sweep_drops_the_records_of_more_than_a_batch_of_deleted_runs(void **state)
{
    (void)state;
    const uint64_t t0 = 10000000000ull;
    inmem__clock_set_override(t0);
    inmem_db *db = open_hist(NULL, 0, 0); /* no retention of the database's own */
    uint64_t base = test_stats(db).keys;
    for (int i = 0; i < 1000; i++) {
        inmem_run_options ro;
        inmem_run_options_init(&ro);
        ro.history = 1;
        ro.history_ms = 50;
        inmem_run_id r;
        assert_ok(inmem_run_begin_db(db, &ro, &r));
        assert_ok(inmem_put(db, &r, "k", 1, "value", 5, NULL));
        assert_ok(inmem_run_delete_db(db, &r));
    }
    assert_true(test_stats(db).keys >= base + 1000); /* a record each */
    inmem__clock_set_override(t0 + 1000);            /* every run's 50 ms have passed */
    for (int i = 0; i < 16; i++)                     /* commits, so that the floor moves on */
        put_str(db, NULL, "gc", "x");
    assert_ok(inmem_db_sweep(db, NULL));
    for (int i = 0; i < 16; i++)
        put_str(db, NULL, "gc", "x");
    uint64_t left = test_stats(db).keys - base;
    if (left > 1) /* the "gc" key */
        fail_msg("%llu keys left of 1,000 deleted runs' records after one sweep",
                 (unsigned long long)left);
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

static void history_a_sweep_comes_back_for_a_fork_once_its_readers_end(void **state)
{
    (void)state;
    enum { WINDOW = 300 };
    uint64_t t0 = inmem__clock_wall_ms();
    inmem__clock_set_override(t0);
    inmem_db *db = open_hist_swept(NULL, WINDOW, 0, 0);
    inmem_run_id parent, fork;
    assert_ok(inmem_run_begin_db(db, NULL, &parent));
    put_str(db, &parent, "k", "v");
    assert_ok(inmem_run_fork_db(db, &parent, 0, NULL, &fork));
    put_str(db, &fork, "k", "w");
    inmem_txn *t = test_begin(db); /* may read through the fork */
    assert_ok(inmem_run_delete_db(db, &fork));
    churn(db, 20);
    inmem__clock_set_override(t0 + WINDOW + 100);
    uint64_t swept0 = test_stats(db).expired_swept;
    assert_ok(inmem_db_sweep(db, NULL));
    assert_int_equal(test_stats(db).expired_swept, swept0); /* held by the snapshot */
    inmem_txn_free(t);
    inmem__store_collect(db->store);
    assert_ok(inmem_db_sweep(db, NULL)); /* no commit since: the same floor */
    assert_int_equal(test_stats(db).expired_swept, swept0 + 1);
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

/* The sweep judges an erased run's record under the commit lock, then deletes it in a
 * transaction of its own. A test hook runs where the lock has been let go (the test binary is
 * linked with -Wl,--wrap=inmem__txn_begin_own): there the same run id is begun, written and
 * deleted again, a new record whose deletion no floor has passed. The sweep deleted it all the
 * same, and the second life's past read as "absent". */
static void (*own_txn_hook)(void);
int __real_inmem__txn_begin_own(inmem__store *st, inmem_txn **out);
int __wrap_inmem__txn_begin_own(inmem__store *st, inmem_txn **out);
int __wrap_inmem__txn_begin_own(inmem__store *st, inmem_txn **out)
{
    void (*h)(void) = own_txn_hook;
    own_txn_hook = NULL;
    if (h)
        h();
    return __real_inmem__txn_begin_own(st, out);
}

static inmem_db *again_db;
static inmem_run_id again_run;
static uint64_t again_v;

static void run_again(void)
{
    inmem_run_options ro;
    inmem_run_options_init(&ro);
    ro.id = &again_run;
    assert_ok(inmem_run_begin_db(again_db, &ro, NULL));
    again_v = put_str(again_db, &again_run, "secret", "second");
    assert_ok(inmem_run_delete_db(again_db, &again_run));
}

static void history_a_sweep_spares_a_record_written_again_meanwhile(void **state)
{
    (void)state;
    enum { WINDOW = 300 };
    uint64_t t0 = inmem__clock_wall_ms();
    inmem__clock_set_override(t0);
    inmem_db *db = open_hist_swept(NULL, WINDOW, 0, 0);
    put_str(db, NULL, "shared", "x");
    assert_ok(inmem_run_begin_db(db, NULL, &again_run));
    uint64_t v1 = put_str(db, &again_run, "secret", "first");
    assert_ok(inmem_run_delete_db(db, &again_run));
    inmem__clock_set_override(t0 + WINDOW + 100);
    again_db = db;
    own_txn_hook = run_again;
    uint64_t swept0 = test_stats(db).expired_swept;
    assert_ok(inmem_db_sweep(db, NULL));
    assert_null(own_txn_hook); /* it ran */
    assert_int_equal(test_stats(db).expired_swept, swept0);
    char got[16];
    assert_rc(INMEM_EHISTORY, get_at(db, again_v, &again_run, "secret", got, sizeof got));
    assert_rc(INMEM_EHISTORY, get_at(db, v1, &again_run, "secret", got, sizeof got));
    /* once the window has passed the second deletion, the record goes */
    inmem__clock_set_override(t0 + 2 * (WINDOW + 100));
    churn(db, 20);
    assert_ok(inmem_db_sweep(db, NULL));
    assert_int_equal(test_stats(db).expired_swept, swept0 + 1);
    assert_rc(INMEM_EHISTORY, get_at(db, again_v, &again_run, "secret", got, sizeof got));
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

/* A run whose own policy kept nothing, in a database that keeps nothing, leaves no record at
 * its deletion, and no cache entry either (they stayed for the database's life). */
static void history_a_deleted_runs_policy_leaves_no_entry(void **state)
{
    (void)state;
    inmem_db *db = open_hist_swept(NULL, 0, 0, 0);
    /* a live one stays, found wherever the entries dropped around it were */
    inmem_run_id kept = begin_run_keeping(db, HOUR_MS, 0);
    inmem_run_id runs[50];
    for (int i = 0; i < 50; i++) {
        runs[i] = begin_run_keeping(db, 0, 0);
        put_str(db, &runs[i], "k", "v");
    }
    for (int i = 0; i < 50; i++)
        assert_ok(inmem_run_delete_db(db, &runs[(i * 7) % 50]));
    CHECK(policies_cached(db) == 1, "%zu policies cached", policies_cached(db));
    put_str(db, &kept, "k", "v");
    char got[16];
    uint64_t v = put_str(db, &kept, "k", "w");
    put_str(db, &kept, "k", "x");
    churn(db, 20);
    assert_rc(0, get_at(db, v, &kept, "k", got, sizeof got));
    assert_string_equal(got, "w");
    assert_ok(inmem_db_close(db));
}

/* ---- 3.5 key history ---------------------------------------------------------------------------
 */

/* The history of a key (and of a state cell): its versions newest first with their commit
 * version, time and value or delete, paged with a cursor, as the transaction's snapshot covers
 * them; the oldest kept says when older ones were freed; the values stay valid while the
 * transaction lives, whatever the GC does meanwhile. */
/* inmem_stats.oldest_snapshot_version is the start version of the oldest active transaction: a
 * key-history read, which keeps the older versions it returned alive by pinning them, does not
 * lower it, in a transaction begun now or in one begun in the past (whose start is its version);
 * the pin still keeps those versions (the values stay readable). */
static void history_key_history_read_never_lowers_the_oldest_snapshot_in_the_stats(void **state)
{
    (void)state;
    inmem_db *db = open_hist(NULL, 0, 10);
    uint64_t v1 = put_str(db, NULL, "k", "one");
    put_str(db, NULL, "k", "two");
    uint64_t v3 = put_str(db, NULL, "k", "three");
    uint64_t v4 = put_str(db, NULL, "other", "x");
    inmem_txn *t = test_begin(db);
    assert_int_equal(test_stats(db).oldest_snapshot_version, v4);
    inmem_version_info h[8];
    size_t n = 0;
    assert_ok(inmem_kv_history(t, NULL, "k", 1, 0, 8, h, &n));
    assert_int_equal(n, 3);
    assert_int_equal(h[2].version, v1);
    inmem_stats s = test_stats(db);
    CHECK(s.oldest_snapshot_version == v4,
          "after a key history down to version %llu in a transaction begun at %llu: "
          "oldest_snapshot_version %llu",
          (unsigned long long)v1, (unsigned long long)v4,
          (unsigned long long)s.oldest_snapshot_version);
    inmem_txn *past;
    assert_ok(inmem_txn_begin_at(db, v3, &past));
    assert_int_equal(test_stats(db).oldest_snapshot_version, v3);
    assert_ok(inmem_kv_history(past, NULL, "k", 1, 0, 8, h, &n));
    assert_int_equal(n, 3);
    s = test_stats(db);
    CHECK(s.oldest_snapshot_version == v3,
          "after a key history down to version %llu in a transaction begun at %llu: "
          "oldest_snapshot_version %llu",
          (unsigned long long)v1, (unsigned long long)v3,
          (unsigned long long)s.oldest_snapshot_version);
    assert_int_equal(s.open_txns, 2);
    assert_int_equal(h[2].len, 3);
    assert_memory_equal(h[2].value, "one", 3);
    inmem_txn_free(past);
    assert_int_equal(test_stats(db).oldest_snapshot_version, v4);
    inmem_txn_free(t);
    assert_int_equal(test_stats(db).oldest_snapshot_version, 0);
    assert_ok(inmem_db_close(db));
}

static void history_key_history_lists_versions_newest_first(void **state)
{
    (void)state;
    const uint64_t t0 = 40000000000ull;
    inmem_db *db = open_hist(NULL, 0, 4);
    uint64_t v[6];
    for (int i = 0; i < 6; i++) {
        inmem__clock_set_override(t0 + (uint64_t)i * 10);
        if (i == 3) {
            assert_ok(inmem_delete(db, NULL, "k", 1, &v[i]));
        } else {
            char val[16];
            snprintf(val, sizeof val, "val%d", i);
            v[i] = put_str(db, NULL, "k", val);
        }
        assert_ok(inmem_state_set_db(db, NULL, "cell", i == 3 ? "" : "c", i == 3 ? 0 : 1, NULL));
    }
    inmem__clock_set_override(0);
    inmem_txn *t = test_begin(db);
    churn(db, 40); /* the GC runs; the transaction holds what it was given */
    inmem_version_info h[8];
    size_t n = 0;
    assert_ok(inmem_kv_history(t, NULL, "k", 1, 0, 8, h, &n));
    assert_int_equal(n, 4); /* 4 kept of 6 */
    for (size_t i = 0; i < n; i++) {
        int w = 5 - (int)i;
        assert_int_equal(h[i].version, v[w]);
        assert_int_equal(h[i].time_ms, t0 + (uint64_t)w * 10);
        assert_int_equal(h[i].deleted, w == 3);
        assert_int_equal(h[i].older_freed, i == n - 1);
        if (w != 3) {
            char val[16];
            snprintf(val, sizeof val, "val%d", w);
            assert_int_equal(h[i].len, strlen(val));
            assert_memory_equal(h[i].value, val, h[i].len);
        }
    }
    /* paging: two at a time from the cursor */
    inmem_version_info pg[2];
    assert_ok(inmem_kv_history(t, NULL, "k", 1, 0, 2, pg, &n));
    assert_int_equal(n, 2);
    assert_int_equal(pg[1].version, v[4]);
    assert_ok(inmem_kv_history(t, NULL, "k", 1, pg[1].version, 2, pg, &n));
    assert_int_equal(n, 2);
    assert_int_equal(pg[0].version, v[3]);
    assert_int_equal(pg[1].version, v[2]);
    assert_ok(inmem_kv_history(t, NULL, "k", 1, pg[1].version, 2, pg, &n));
    assert_int_equal(n, 0);
    /* a state cell's history carries its values, not its records */
    assert_ok(inmem_state_history(t, NULL, "cell", 0, 8, h, &n));
    assert_int_equal(n, 4);
    assert_int_equal(h[0].len, 1);
    assert_memory_equal(h[0].value, "c", 1);
    assert_int_equal(h[2].len, 0);
    assert_int_equal(h[2].deleted, 0); /* set to an empty value, not deleted */
    /* a missing key has no history */
    assert_ok(inmem_kv_history(t, NULL, "nope", 4, 0, 8, h, &n));
    assert_int_equal(n, 0);
    inmem_txn_free(t);
    /* a time-travel transaction sees the history up to its version */
    assert_ok(inmem_txn_begin_at(db, v[4], &t));
    assert_ok(inmem_kv_history(t, NULL, "k", 1, 0, 8, h, &n));
    assert_int_equal(n, 3);
    assert_int_equal(h[0].version, v[4]);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- 3.6 forks
 * ----------------------------------------------------------------------------------- */

static void kv_expect(inmem_txn *t, const inmem_run_id *run, const char *k, const char *want)
{
    const void *v;
    size_t vl;
    int rc = inmem_kv_get(t, run, k, strlen(k), &v, &vl, NULL);
    if (!want) {
        CHECK(rc == INMEM_NOTFOUND, "%s: %s, want absent", k, inmem_errname(rc));
        return;
    }
    CHECK(rc == 0 && vl == strlen(want) && memcmp(v, want, vl) == 0, "%s: %s '%.*s', want '%s'", k,
          inmem_errname(rc), rc ? 0 : (int)vl, rc ? "" : (const char *)v, want);
}

/* A fork starts with its parent's data in every primitive, then diverges both ways; a scan of
 * the fork merges what it wrote (and deleted) with what it inherits. */
static void history_fork_starts_with_the_parent_then_diverges(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id parent, child;
    assert_ok(inmem_run_begin_db(db, NULL, &parent));
    for (int i = 0; i < 50; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "k%02d", i);
        snprintf(v, sizeof v, "p%02d", i);
        put_str(db, &parent, k, v);
    }
    uint64_t seq;
    for (int i = 0; i < 3; i++)
        assert_ok(inmem_event_append_db(db, &parent, "log", "step", "parent", 6, &seq));
    assert_ok(inmem_state_set_db(db, &parent, "phase", "plan", 4, NULL));
    inmem_span sp;
    memset(&sp, 0, sizeof sp);
    sp.kind = 1;
    strcpy(sp.name, "tool");
    inmem_run_id span;
    assert_ok(inmem_trace_record_db(db, &parent, &sp, &span));
    inmem_stats before = test_stats(db);
    assert_ok(inmem_run_fork_db(db, &parent, 0, NULL, &child));
    inmem_stats after = test_stats(db);
    CHECK(after.keys - before.keys < 12, "a fork copied %llu keys",
          (unsigned long long)(after.keys - before.keys));

    /* the fork's metadata says where it came from */
    inmem_run_info info;
    assert_ok(inmem_run_get_db(db, &child, &info));
    assert_true(info.has_parent);
    assert_memory_equal(info.parent.bytes, parent.bytes, 16);

    /* diverge: the fork overwrites, deletes, adds, appends, sets; the parent too */
    put_str(db, &child, "k01", "c01");
    assert_ok(inmem_delete(db, &child, "k02", 3, NULL));
    put_str(db, &child, "k99", "c99");
    assert_ok(inmem_event_append_db(db, &child, "log", "step", "child", 5, &seq));
    assert_int_equal(seq, 4);
    assert_ok(inmem_state_set_db(db, &child, "phase", "act", 3, NULL));
    put_str(db, &parent, "k03", "P03");
    assert_ok(inmem_event_append_db(db, &parent, "log", "step", "parent", 6, &seq));
    assert_int_equal(seq, 4);
    churn(db, 40);

    inmem_txn *t = test_begin(db);
    kv_expect(t, &child, "k00", "p00");
    kv_expect(t, &child, "k01", "c01");
    kv_expect(t, &child, "k02", NULL);
    kv_expect(t, &child, "k03", "p03");
    kv_expect(t, &child, "k99", "c99");
    kv_expect(t, &parent, "k01", "p01");
    kv_expect(t, &parent, "k02", "p02");
    kv_expect(t, &parent, "k03", "P03");
    kv_expect(t, &parent, "k99", NULL);
    static char dump[DUMP];
    assert_ok(kv_dump(t, &child, dump, sizeof dump));
    assert_non_null(strstr(dump, "k00=p00@"));
    assert_non_null(strstr(dump, "k01=c01@"));
    assert_null(strstr(dump, "k02="));
    assert_non_null(strstr(dump, "k03=p03@"));
    assert_non_null(strstr(dump, "k49=p49@"));
    assert_non_null(strstr(dump, "k99=c99@"));
    int keys = 0;
    for (const char *p = dump; (p = strchr(p, ';')) != NULL; p++)
        keys++;
    assert_int_equal(keys, 50); /* 50 inherited - 1 deleted + 1 added */
    inmem_stream_info si;
    assert_ok(inmem_event_stream_info(t, &child, "log", &si));
    assert_int_equal(si.length, 4);
    inmem_event ev;
    assert_ok(inmem_event_get(t, &child, "log", 2, &ev));
    assert_memory_equal(ev.payload, "parent", 6);
    assert_ok(inmem_event_get(t, &child, "log", 4, &ev));
    assert_memory_equal(ev.payload, "child", 5);
    assert_ok(inmem_event_get(t, &parent, "log", 4, &ev));
    assert_memory_equal(ev.payload, "parent", 6);
    const void *val;
    size_t len;
    assert_ok(inmem_state_get(t, &child, "phase", &val, &len, NULL));
    assert_memory_equal(val, "act", 3);
    assert_ok(inmem_state_get(t, &parent, "phase", &val, &len, NULL));
    assert_memory_equal(val, "plan", 4);
    inmem_span out;
    assert_ok(inmem_trace_get(t, &child, &span, &out));
    assert_string_equal(out.name, "tool");
    assert_ok(inmem_event_verify(t, &child, "log", &seq));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* A deleted fork leaves nothing behind once no snapshot can read through it: the tombstones
 * with which it hid keys it inherited, and those its deletion wrote, are freed like any other
 * (they are kept only while the fork lives). With the fork's deletion at each place in the
 * GC's cycle of commits. */
static void history_a_deleted_forks_tombstones_are_freed(void **state)
{
    (void)state;
    for (int pre = 0; pre < 9; pre++) {
        inmem_db *db = open_hist(NULL, 0, 0);
        churn(db, 20);
        uint64_t keys0 = test_stats(db).keys;
        inmem_run_id parent, fork;
        assert_ok(inmem_run_begin_db(db, NULL, &parent));
        char k[16];
        for (int i = 0; i < 100; i++) {
            snprintf(k, sizeof k, "k%d", i);
            put_str(db, &parent, k, "v");
        }
        churn(db, 20);
        uint64_t keys1 = test_stats(db).keys;
        assert_ok(inmem_run_fork_db(db, &parent, 0, NULL, &fork));
        for (int i = 0; i < 100; i++) { /* hide half the inherited keys, overwrite the rest */
            snprintf(k, sizeof k, "k%d", i);
            if (i % 2)
                assert_ok(inmem_delete(db, &fork, k, strlen(k), NULL));
            else
                put_str(db, &fork, k, "w");
        }
        churn(db, pre);
        assert_true(test_stats(db).keys > keys1 + 100);
        assert_ok(inmem_run_delete_db(db, &fork));
        churn(db, 100);
        CHECK(test_stats(db).keys == keys1,
              "pre %d: %llu keys after the fork's deletion, %llu before it", pre,
              (unsigned long long)test_stats(db).keys, (unsigned long long)keys1);
        assert_ok(inmem_run_delete_db(db, &parent));
        churn(db, 100);
        CHECK(test_stats(db).keys == keys0, "pre %d: %llu keys after both deletions, %llu at first",
              pre, (unsigned long long)test_stats(db).keys, (unsigned long long)keys0);
        assert_ok(inmem_db_close(db));
    }
}

/* The database keeps nothing; a run kept an hour. Once that run is deleted no policy keeps a
 * window any more, and its keys (tombstones now) are freed by the next collections, not an hour
 * later: the longest window the collector waits for is that of the policies in force, not the
 * longest there ever was. */
static void history_a_deleted_runs_window_is_not_waited_for(void **state)
{
    (void)state;
    inmem_db *db = open_hist(NULL, 0, 0);
    churn(db, 20);
    uint64_t keys0 = test_stats(db).keys;
    inmem_run_id run = begin_run_keeping(db, HOUR_MS, 0);
    char k[16];
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 100; i++) {
            snprintf(k, sizeof k, "k%d", i);
            put_str(db, &run, k, pass ? "w" : "v");
        }
    churn(db, 20);
    assert_true(test_stats(db).retained_versions >= 100);
    assert_ok(inmem_run_delete_db(db, &run));
    churn(db, 200);
    /* (the record that the run was erased goes with the next sweep, the database's floor being
     * past its deletion: see history_sweep_drops_what_no_longer_changes_an_answer) */
    assert_ok(inmem_db_sweep(db, NULL));
    churn(db, 20);
    inmem__store_collect(db->store);
    inmem_stats s = test_stats(db);
    CHECK(s.keys == keys0 && s.retained_versions == 0,
          "%llu keys (%llu before the run), %llu versions retained after its deletion",
          (unsigned long long)s.keys, (unsigned long long)keys0,
          (unsigned long long)s.retained_versions);
    assert_ok(inmem_db_close(db));
}

/* A CAS on a key a fork inherited expects the version it read from the parent; a concurrent
 * write of the fork's key makes it conflict. */
static void history_fork_cas_on_inherited_keys(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id parent, child;
    assert_ok(inmem_run_begin_db(db, NULL, &parent));
    uint64_t v = 0;
    assert_ok(inmem_state_set_db(db, &parent, "task", "open", 4, &v));
    assert_ok(inmem_run_fork_db(db, &parent, 0, NULL, &child));
    inmem_txn *t = test_begin(db);
    uint64_t seen = 0;
    const void *val;
    size_t len;
    assert_ok(inmem_state_get(t, &child, "task", &val, &len, &seen));
    assert_int_equal(seen, v);
    assert_ok(inmem_state_cas(t, &child, "task", seen, "mine", 4));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    /* the same CAS again, from the same inherited version, now conflicts */
    uint64_t nv = 0;
    assert_rc(INMEM_CONFLICT, inmem_state_cas_db(db, &child, "task", v, "again", 5, &nv));
    /* a read of an inherited key conflicts with a concurrent write of the fork's key */
    put_str(db, &parent, "k", "p");
    inmem_run_id c2;
    assert_ok(inmem_run_fork_db(db, &parent, 0, NULL, &c2));
    t = test_begin(db);
    kv_expect(t, &c2, "k", "p");
    assert_ok(inmem_kv_put(t, &c2, "other", 5, "x", 1));
    put_str(db, &c2, "k", "written");
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* Forks are not retention: a database whose only history is a fork notes no commit times (they
 * would grow a table at every commit for nothing); the fork still reads its parent. */
static void history_a_fork_alone_keeps_no_commit_times(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id parent, child;
    assert_ok(inmem_run_begin_db(db, NULL, &parent));
    put_str(db, &parent, "a", "pa");
    assert_ok(inmem_run_fork_db(db, &parent, 0, NULL, &child));
    uint64_t v = 0, t;
    for (int i = 0; i < 20; i++)
        v = put_str(db, &parent, "a", "later");
    assert_rc(INMEM_EHISTORY, inmem_db_version_time(db, v, &t));
    inmem_txn *tx = test_begin(db);
    kv_expect(tx, &child, "a", "pa");
    inmem_txn_free(tx);
    /* a run with retention turns them on */
    inmem_run_options o;
    inmem_run_options_init(&o);
    o.history = 1;
    o.history_versions = 4;
    inmem_run_id kept;
    assert_ok(inmem_run_begin_db(db, &o, &kept));
    v = put_str(db, &kept, "k", "x");
    assert_ok(inmem_db_version_time(db, v, &t));
    assert_true(t > 0);
    assert_ok(inmem_db_close(db));
}

/* A count keeps a delete of a key that never had a value like any other version: its key history
 * shows it and a replay gives its commit, however many commits come after. */
static void history_count_keeps_a_delete_of_a_key_never_written(void **state)
{
    (void)state;
    inmem_db *db = open_hist(NULL, 0, 1000);
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    uint64_t v0 = test_stats(db).version, vd = 0;
    assert_ok(inmem_delete(db, &run, "lone", 4, &vd));
    churn(db, 40);
    inmem_txn *t = test_begin(db);
    inmem_version_info h[4];
    size_t n = 0;
    assert_ok(inmem_kv_history(t, &run, "lone", 4, 0, 4, h, &n));
    assert_int_equal(n, 1);
    assert_int_equal(h[0].version, vd);
    assert_true(h[0].deleted);
    inmem_replay *rp;
    assert_ok(inmem_run_replay(t, &run, v0, &rp));
    uint64_t version, time_ms;
    const inmem_change *ch;
    assert_ok(inmem_replay_next(rp, &version, &time_ms, &ch, &n));
    assert_int_equal(version, vd);
    assert_int_equal(n, 1);
    inmem_replay_free(rp);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* The same across a reopen, from the log and from a checkpoint; and a replay may resume at the
 * floor (every write after it is kept). */
static void history_count_keeps_a_lone_delete_across_a_reopen(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    for (int ckpt = 0; ckpt < 2; ckpt++) {
        inmem_db *db = open_hist(dir, 0, 10);
        inmem_run_id run;
        assert_ok(inmem_run_begin_db(db, NULL, &run));
        put_str(db, &run, "a", "1");
        uint64_t vd = 0;
        assert_ok(inmem_delete(db, &run, "ghost", 5, &vd));
        put_str(db, &run, "b", "2");
        if (ckpt)
            assert_ok(inmem_db_checkpoint(db, NULL));
        assert_ok(inmem_db_close(db));
        db = open_hist(dir, 0, 10);
        inmem_txn *t = test_begin(db);
        inmem_version_info h[2];
        size_t n = 0;
        assert_ok(inmem_kv_history(t, &run, "ghost", 5, 0, 2, h, &n));
        CHECK(n == 1 && h[0].version == vd && h[0].deleted, "round %d: %zu versions", ckpt, n);
        inmem_txn_free(t);
        assert_ok(inmem_db_close(db));
        test_rmdir(dir);
    }
    /* without retention: after a reopen the floor is the newest version, and a replay resumes
     * from just below it */
    inmem_db *db = open_hist(dir, 0, 0);
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    put_str(db, &run, "x", "1");
    put_str(db, &run, "x", "2");
    assert_ok(inmem_db_close(db));
    db = open_hist(dir, 0, 0);
    uint64_t floor = test_stats(db).history_floor;
    assert_true(floor >= 2);
    inmem_txn *t = test_begin(db);
    inmem_replay *rp = NULL;
    assert_ok(inmem_run_replay(t, &run, floor, &rp));
    inmem_replay_free(rp);
    /* (not from below it: a delete at the floor may be gone with its key) */
    assert_rc(INMEM_EHISTORY, inmem_run_replay(t, &run, floor - 1, &rp));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* A replay never leaves out a delete: the GC unlinks a key whose tombstone is at or below the
 * floor it uses, so a replay from just below the floor (without a count that keeps tombstones)
 * would be missing the delete at the floor. It is refused instead; from any version it accepts,
 * the delete is in the feed. Without retention, and with a time window. */
static void history_replay_never_omits_a_delete_at_the_floor(void **state)
{
    (void)state;
    for (int window = 0; window < 2; window++) {
        inmem_options o;
        inmem_options_init(&o);
        o.durability = INMEM_DURABILITY_NONE;
        o.history_ms = window ? 200 : 0;
        inmem_db *db = NULL;
        assert_ok(inmem_db_open(NULL, &o, &db));
        inmem_run_id run;
        assert_ok(inmem_run_begin_db(db, NULL, &run));
        uint64_t v, del;
        assert_ok(inmem_put(db, &run, "k", 1, "1", 1, &v));
        assert_ok(inmem_delete(db, &run, "k", 1, &del));
        if (window)
            usleep(300 * 1000);      /* the delete leaves the window */
        for (int i = 0; i < 64; i++) /* collections, in another scope */
            assert_ok(inmem_put(db, NULL, "z", 1, "x", 1, &v));
        uint64_t floor = test_stats(db).history_floor;
        CHECK(floor >= del, "window %d: floor %llu below the delete at %llu", window,
              (unsigned long long)floor, (unsigned long long)del);
        int refused = 0;
        for (uint64_t after = 0; after < del; after++) {
            inmem_txn *t = test_begin(db);
            inmem_replay *rp = NULL;
            int rc = inmem_run_replay(t, &run, after, &rp);
            if (rc == INMEM_EHISTORY) {
                refused++;
            } else {
                assert_ok(rc);
                uint64_t ver, ms;
                const inmem_change *ch;
                size_t n;
                int found = 0;
                while (inmem_replay_next(rp, &ver, &ms, &ch, &n) == 0)
                    for (size_t i = 0; i < n; i++)
                        found |= ver == del && ch[i].deleted;
                CHECK(found, "window %d: replay from %llu accepted without the delete at %llu",
                      window, (unsigned long long)after, (unsigned long long)del);
                inmem_replay_free(rp);
            }
            inmem_txn_free(t);
        }
        CHECK(refused > 0, "window %d: the key's delete was never collected", window);
        assert_ok(inmem_db_close(db));
    }
}

/* A count of 2 or more keeps tombstones from the version its policy takes effect on, not the
 * delete just before it (written under the policy before, and gone from a checkpoint image that
 * held each key's newest value): a replay from below the new policy's floor is refused, never
 * handed out without that delete. */
static void history_replay_never_omits_a_delete_made_before_a_count_took_effect(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = open_hist(dir, 0, 0);
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    put_str(db, &run, "k", "1");
    uint64_t del = 0;
    assert_ok(inmem_delete(db, &run, "k", 1, &del));
    assert_ok(inmem_db_checkpoint(db, NULL));
    assert_ok(inmem_db_close(db));
    db = open_hist(dir, 0, 3); /* the count takes effect from the commit after the delete */
    inmem_txn *t = test_begin(db);
    for (uint64_t after = 0; after <= del; after++) {
        inmem_replay *rp = NULL;
        int rc = inmem_run_replay(t, &run, after, &rp);
        if (rc == INMEM_EHISTORY)
            continue;
        assert_ok(rc);
        uint64_t ver, ms;
        const inmem_change *ch;
        size_t n;
        int found = 0;
        while (inmem_replay_next(rp, &ver, &ms, &ch, &n) == 0)
            for (size_t i = 0; i < n; i++)
                found |= ver == del && ch[i].deleted;
        CHECK(found || after >= del, "replay from %llu accepted without the delete at %llu",
              (unsigned long long)after, (unsigned long long)del);
        inmem_replay_free(rp);
    }
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* A CAS in a fork on a key it inherits and never wrote checks the inherited version at commit,
 * whatever the key's length: "only if absent" conflicts, the version read commits; in a
 * transaction and on its own. (Keys past 256 encoded bytes read as absent there once.) */
static void history_fork_cas_of_an_inherited_long_key_sees_it(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    static const size_t lens[] = {100, 300, 900};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t klen = lens[i];
        char *key = malloc(klen);
        assert_non_null(key);
        memset(key, 'k', klen);
        inmem_run_id parent, fork;
        assert_ok(inmem_run_begin_db(db, NULL, &parent));
        uint64_t ver = 0;
        assert_ok(inmem_put(db, &parent, key, klen, "parent", 6, &ver));
        assert_ok(inmem_run_fork_db(db, &parent, 0, NULL, &fork));
        inmem_txn *t = test_begin(db);
        assert_ok(inmem_kv_cas(t, &fork, key, klen, 0, "clobber", 7));
        CHECK(inmem_txn_commit(t) == INMEM_CONFLICT, "klen %zu: CAS expecting absence committed",
              klen);
        inmem_txn_free(t);
        CHECK(inmem_cas(db, &fork, key, klen, 0, "clobber", 7, NULL) == INMEM_CONFLICT,
              "klen %zu: inmem_cas expecting absence committed", klen);
        t = test_begin(db);
        assert_ok(inmem_kv_cas(t, &fork, key, klen, ver, "next", 4));
        int rc = inmem_txn_commit(t);
        CHECK(rc == 0, "klen %zu: CAS on the version read: %s", klen, inmem_errname(rc));
        inmem_txn_free(t);
        free(key);
    }
    assert_ok(inmem_db_close(db));
}

/* A backup of an in-memory database with retention (no log, so no stored policy record: the
 * image's header carries the policy) keeps that history in force when the backup is opened
 * without options: what the image holds of the past can be read, as its key history lists. */
static void history_backup_of_an_in_memory_database_keeps_its_policy(void **state)
{
    (void)state;
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.history_versions = 3;
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(NULL, &o, &db));
    uint64_t v1 = put_str(db, NULL, "k", "one");
    put_str(db, NULL, "k", "two");
    put_str(db, NULL, "k", "three");
    char dir[64];
    test_tmpdir(dir);
    rmdir(dir);
    assert_ok(inmem_db_backup(db, dir, NULL));
    assert_ok(inmem_db_close(db));
    inmem_options_init(&o);
    o.create_if_missing = 0;
    assert_ok(inmem_db_open(dir, &o, &db));
    inmem_txn *t = NULL;
    int rc = inmem_txn_begin_at(db, v1, &t);
    CHECK(rc == 0, "a read at version %llu of the backup: %s (%s)", (unsigned long long)v1,
          inmem_errname(rc), inmem_errmsg());
    const void *val;
    size_t n;
    assert_ok(inmem_kv_get(t, NULL, "k", 1, &val, &n, NULL));
    assert_int_equal(n, 3);
    assert_memory_equal(val, "one", 3);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* The inheritance starts at the fork's commit: in the transaction that creates it, a fork shows
 * only what that transaction writes to it; from the next transaction on, the parent's data. */
static void history_fork_inherits_from_its_commit_on(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id parent, child;
    assert_ok(inmem_run_begin_db(db, NULL, &parent));
    put_str(db, &parent, "a", "pa");
    put_str(db, &parent, "b", "pb");
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_run_fork(t, &parent, 0, NULL, &child));
    const void *val;
    size_t len;
    assert_rc(INMEM_NOTFOUND, inmem_kv_get(t, &child, "a", 1, &val, &len, NULL));
    assert_ok(inmem_kv_put(t, &child, "b", 1, "cb", 2));
    kv_expect(t, &child, "b", "cb");
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    t = test_begin(db);
    kv_expect(t, &child, "a", "pa");
    kv_expect(t, &child, "b", "cb");
    kv_expect(t, &parent, "b", "pb");
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* A fork's key history pages the same as one call lists it: a fork whose own older versions
 * were freed ends at its oldest kept one (older_freed), and the next page is empty, not its
 * parent's versions, which the freed ones stood between. In a time-travel transaction whose
 * version's entry was freed, its history is not its parent's either: it is refused. */
/* A fork at a version whose value of a key its parent (keeping 2 versions a key) no longer
 * holds reads that key as INMEM_EHISTORY; the message names the version read and the run it was
 * read in — the parent at the fork's version — not the reading transaction's snapshot. */
static void history_a_read_through_a_fork_names_what_was_freed(void **state)
{
    (void)state;
    inmem_db *db = open_hist(NULL, 0, 0);
    inmem_run_id run = begin_run_keeping(db, 0, 2), fork;
    uint64_t v1 = put_str(db, &run, "k", "one");
    put_str(db, &run, "k", "two");
    put_str(db, &run, "k", "three");
    churn(db, 16);
    assert_ok(inmem_run_fork_db(db, &run, v1, NULL, &fork));
    void *val = NULL;
    size_t vlen = 0;
    assert_rc(INMEM_EHISTORY, inmem_get(db, &fork, "k", 1, &val, &vlen, NULL));
    char id[INMEM_RUN_ID_STRLEN + 1], want[128];
    inmem_run_id_format(&run, id);
    snprintf(want, sizeof want, "version %llu of a key of run %s", (unsigned long long)v1, id);
    CHECK(strstr(inmem_errmsg(), want), "'%s' lacks '%s'", inmem_errmsg(), want);
    assert_ok(inmem_db_close(db));
}

static void history_fork_key_history_pages_stop_where_its_versions_were_freed(void **state)
{
    (void)state;
    inmem_db *db = open_hist(NULL, 0, 2);
    inmem_run_id run, fork;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    uint64_t vp = 0;
    for (int i = 0; i < 3; i++)
        vp = put_str(db, &run, "k", "parent");
    assert_ok(inmem_run_fork_db(db, &run, 0, NULL, &fork));
    uint64_t vf[4];
    for (int i = 0; i < 4; i++)
        vf[i] = put_str(db, &fork, "k", "fork");
    churn(db, 16); /* the GC keeps the fork's 2 newest */
    inmem_txn *t = test_begin(db);
    inmem_version_info h[16];
    size_t n = 0;
    assert_ok(inmem_kv_history(t, &fork, "k", 1, 0, 16, h, &n));
    assert_int_equal(n, 2);
    assert_int_equal(h[0].version, vf[3]);
    assert_int_equal(h[1].version, vf[2]);
    assert_int_equal(h[1].older_freed, 1);
    for (size_t limit = 1; limit <= 2; limit++) { /* every page, to the end */
        uint64_t before = 0;
        size_t total = 0;
        for (;;) {
            inmem_version_info pg[2];
            assert_ok(inmem_kv_history(t, &fork, "k", 1, before, limit, pg, &n));
            if (!n)
                break;
            for (size_t i = 0; i < n; i++) {
                CHECK(total + i < 2 && pg[i].version == h[total + i].version,
                      "limit %zu: entry %zu is version %llu (the parent's is %llu)", limit,
                      total + i, (unsigned long long)pg[i].version, (unsigned long long)vp);
            }
            total += n;
            before = pg[n - 1].version;
        }
        assert_int_equal(total, 2);
    }
    inmem_txn_free(t);
    /* at a version whose entry was freed, the fork's history is not its parent's: it is
     * refused, as a read of the key there is (it was an empty list, where the read refused) */
    assert_ok(inmem_txn_begin_at(db, vf[1], &t));
    const void *val;
    size_t vlen;
    assert_rc(INMEM_EHISTORY, inmem_kv_get(t, &fork, "k", 1, &val, &vlen, NULL));
    n = 9;
    assert_rc(INMEM_EHISTORY, inmem_kv_history(t, &fork, "k", 1, 0, 16, h, &n));
    assert_int_equal(n, 0);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* A fork at a past version sees the parent as it was then; a fork of a fork sees through both;
 * forks never see each other's writes. */
static void history_fork_at_a_past_version_and_of_a_fork(void **state)
{
    (void)state;
    inmem_db *db = open_hist(NULL, HOUR_MS, 0);
    inmem_run_id p, c1, c2;
    assert_ok(inmem_run_begin_db(db, NULL, &p));
    put_str(db, &p, "a", "a1");
    uint64_t v1 = put_str(db, &p, "b", "b1");
    assert_ok(inmem_delete(db, &p, "a", 1, NULL));
    put_str(db, &p, "b", "b2");
    churn(db, 20);
    assert_ok(inmem_run_fork_db(db, &p, v1, NULL, &c1));
    put_str(db, &c1, "c", "c1");
    uint64_t v2 = put_str(db, &c1, "b", "bc1");
    put_str(db, &c1, "b", "bc1-later");
    assert_ok(inmem_run_fork_db(db, &c1, v2, NULL, &c2));
    put_str(db, &c2, "d", "d2");
    churn(db, 20);
    inmem_txn *t = test_begin(db);
    kv_expect(t, &c1, "a", "a1"); /* deleted in the parent after v1 */
    kv_expect(t, &c1, "b", "bc1-later");
    kv_expect(t, &c1, "d", NULL);
    kv_expect(t, &c2, "a", "a1");
    kv_expect(t, &c2, "b", "bc1");
    kv_expect(t, &c2, "c", "c1");
    kv_expect(t, &c2, "d", "d2");
    kv_expect(t, &p, "a", NULL);
    kv_expect(t, &p, "b", "b2");
    kv_expect(t, &p, "c", NULL);
    /* a fork's key history: its own versions, then its parent's up to the fork */
    inmem_version_info h[8];
    size_t n;
    assert_ok(inmem_kv_history(t, &c2, "b", 1, 0, 8, h, &n));
    assert_int_equal(n, 2);
    assert_int_equal(h[0].version, v2);
    assert_int_equal(h[1].version, v1);
    assert_memory_equal(h[1].value, "b1", 2);
    static char dump[DUMP];
    assert_ok(kv_dump(t, &c2, dump, sizeof dump));
    CHECK(strncmp(dump, "a=a1@", 5) == 0 && strstr(dump, ";b=bc1@") && strstr(dump, ";c=c1@") &&
              strstr(dump, ";d=d2@"),
          "fork of a fork scans as %s", dump);
    inmem_txn_free(t);
    /* a version newer than the snapshot, or older than the parent's history, is refused */
    inmem_run_id c3;
    t = test_begin(db);
    inmem_txn_info ti;
    assert_ok(inmem_txn_describe(t, &ti));
    assert_rc(INMEM_EINVAL, inmem_run_fork(t, &p, ti.start_version + 1, NULL, &c3));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
    db = test_open_mem(); /* no history: a past version is gone once nothing holds it */
    assert_ok(inmem_run_begin_db(db, NULL, &p));
    uint64_t old = put_str(db, &p, "a", "1");
    put_str(db, &p, "a", "2");
    churn(db, 20);
    assert_rc(INMEM_EHISTORY, inmem_run_fork_db(db, &p, old, NULL, &c3));
    assert_ok(inmem_db_close(db));
}

/* While a fork lives its parent keeps what the fork reads, whatever the retention says, and
 * cannot be deleted; once the fork is deleted, the parent's old versions go and it can be. */
static void history_fork_parent_is_kept_and_not_deleted_while_forks_live(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id p, c;
    assert_ok(inmem_run_begin_db(db, NULL, &p));
    put_str(db, &p, "k", "then");
    assert_ok(inmem_run_fork_db(db, &p, 0, NULL, &c));
    for (int i = 0; i < 30; i++)
        put_str(db, &p, "k", "later");
    churn(db, 40);
    inmem_txn *t = test_begin(db);
    kv_expect(t, &c, "k", "then");
    inmem_txn_free(t);
    assert_rc(INMEM_EMISUSE, inmem_run_delete_db(db, &p));
    t = test_begin(db);
    inmem_run_info info;
    assert_ok(inmem_run_get(t, &p, &info)); /* still there */
    inmem_txn_free(t);
    uint64_t held = test_stats(db).retained_versions;
    assert_true(held >= 30);
    assert_ok(inmem_run_delete_db(db, &c));
    churn(db, 40);
    uint64_t now = test_stats(db).retained_versions;
    CHECK(now < 10, "the parent still keeps %llu versions after its fork went (%llu before)",
          (unsigned long long)now, (unsigned long long)held);
    assert_ok(inmem_run_delete_db(db, &p));
    assert_ok(inmem_db_close(db));
}

/* A fork and what it inherits survive a checkpoint and a reopen. */
static void history_fork_survives_a_checkpoint_and_a_reopen(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = open_hist(dir, 0, 0);
    inmem_run_id p, c;
    assert_ok(inmem_run_begin_db(db, NULL, &p));
    put_str(db, &p, "k", "then");
    put_str(db, &p, "gone", "soon");
    assert_ok(inmem_run_fork_db(db, &p, 0, NULL, &c));
    put_str(db, &p, "k", "later");
    assert_ok(inmem_delete(db, &p, "gone", 4, NULL));
    assert_ok(inmem_delete(db, &c, "k", 1, NULL)); /* a tombstone that hides an inherited key */
    churn(db, 40);
    for (int pass = 0; pass < 3; pass++) {
        inmem_txn *t = test_begin(db);
        kv_expect(t, &c, "k", NULL);
        kv_expect(t, &c, "gone", "soon");
        kv_expect(t, &p, "k", "later");
        kv_expect(t, &p, "gone", NULL);
        inmem_txn_free(t);
        if (pass == 0)
            assert_ok(inmem_db_checkpoint(db, NULL));
        assert_ok(inmem_db_close(db));
        db = open_hist(dir, 0, 0);
        churn(db, 40);
    }
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* A fork at a past version reads the same after a reopen as before (3.1, 3.6): the log's replay
 * used to collect after every transaction as if no fork were to come, so a parent's versions the
 * fork reads — kept in memory because a snapshot held them when the fork was made — were freed
 * before the fork's record was replayed: the key the parent deleted read as absent in the fork,
 * the one it overwrote as INMEM_EHISTORY. Without retention; then from a checkpoint written after
 * that reopen. */
static void history_a_fork_at_a_past_version_reads_the_same_after_a_reopen(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = open_hist(dir, 0, 0);
    inmem_run_id p, f;
    assert_ok(inmem_run_begin_db(db, NULL, &p));
    put_str(db, &p, "k", "then");
    uint64_t at = put_str(db, &p, "d", "parent-d");
    inmem_txn *reader = test_begin(db); /* holds `at`: the fork there is accepted */
    put_str(db, &p, "k", "later");
    assert_ok(inmem_delete(db, &p, "d", 1, NULL));
    churn(db, 20);
    assert_ok(inmem_run_fork_db(db, &p, at, NULL, &f));
    inmem_txn_free(reader);
    churn(db, 20);
    for (int pass = 0; pass < 4; pass++) {
        inmem_txn *t = test_begin(db);
        kv_expect(t, &f, "d", "parent-d");
        kv_expect(t, &f, "k", "then");
        kv_expect(t, &p, "d", NULL);
        kv_expect(t, &p, "k", "later");
        inmem_txn_free(t);
        if (pass == 2) /* after a reopen from the log: the image must carry what the fork reads */
            assert_ok(inmem_db_checkpoint(db, NULL));
        assert_ok(inmem_db_close(db));
        db = open_hist(dir, 0, 0);
        inmem_recovery_info rec;
        assert_ok(inmem_db_recovery(db, &rec));
        CHECK(pass >= 2 ? rec.checkpoint_version > at : rec.checkpoint_version == 0,
              "pass %d: opened from checkpoint %llu", pass,
              (unsigned long long)rec.checkpoint_version);
        if (pass == 0)
            churn(db, 20);
    }
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* A fork at a past version older than a checkpoint image needs the parent's retention to reach
 * it (3.6): without retention an image holds each key's newest value only, so a fork made after
 * it, at a version before it (held in memory by a snapshot alone), read its parent's overwritten
 * keys as newer values, or as INMEM_EHISTORY, once the database reopened from that image. Such a
 * fork is refused; with a retention that reaches the version it is accepted and reads the same
 * after the reopen. */
static void history_a_fork_before_a_checkpoint_image_needs_retention_that_reaches_it(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = open_hist(dir, 0, 0);
    inmem_run_id p, kept, f;
    inmem_run_options ro;
    inmem_run_options_init(&ro);
    ro.history = 1;
    ro.history_versions = 10;
    assert_ok(inmem_run_begin_db(db, NULL, &p));
    assert_ok(inmem_run_begin_db(db, &ro, &kept));
    put_str(db, &p, "k", "then");
    uint64_t at = put_str(db, &kept, "k", "then");
    inmem_txn *reader = test_begin(db); /* holds `at` in memory */
    put_str(db, &p, "k", "later");
    put_str(db, &kept, "k", "later");
    uint64_t image;
    assert_ok(inmem_db_checkpoint(db, &image));
    assert_true(image > at);
    int rc = inmem_run_fork_db(db, &p, at, NULL, &f);
    CHECK(rc == INMEM_EHISTORY, "fork at %llu before the image at %llu: %s", (unsigned long long)at,
          (unsigned long long)image, inmem_errname(rc));
    CHECK(strstr(inmem_errmsg(), "checkpoint"), "message: %s", inmem_errmsg());
    assert_ok(inmem_run_fork_db(db, &p, 0, NULL, &f)); /* at the newest commit: fine */
    assert_ok(inmem_run_fork_db(db, &kept, at, NULL, &f));
    inmem_txn_free(reader);
    for (int pass = 0; pass < 2; pass++) {
        inmem_txn *t = test_begin(db);
        kv_expect(t, &f, "k", "then");
        kv_expect(t, &kept, "k", "later");
        inmem_txn_free(t);
        assert_ok(inmem_db_close(db));
        db = open_hist(dir, 0, 0);
    }
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* What a time-travel read of a deleted fork answers, as "inherited=..;own=..;run=..". */
static void deleted_fork_at(inmem_db *db, uint64_t v, const inmem_run_id *fork, char *out,
                            size_t cap)
{
    inmem_txn *t;
    assert_ok(inmem_txn_begin_at(db, v, &t));
    const char *keys[] = {"inherited", "own"};
    size_t len = 0;
    for (int i = 0; i < 2; i++) {
        const void *val;
        size_t vl;
        int rc = inmem_kv_get(t, fork, keys[i], strlen(keys[i]), &val, &vl, NULL);
        len += (size_t)snprintf(out + len, cap - len, "%s=%.*s%s;", keys[i], rc ? 0 : (int)vl,
                                rc ? "" : (const char *)val, rc ? inmem_errname(rc) : "");
    }
    inmem_run_info info;
    snprintf(out + len, cap - len, "run=%s", inmem_errname(inmem_run_get(t, fork, &info)));
    inmem_txn_free(t);
}

/* A fork deleted while the database kept history is erased like any run (3.3), and its past
 * reads the same in memory once the GC has been by, after a reopen that replays the log and
 * after a reopen from a checkpoint (3.1): refused, what it inherited and its metadata included
 * (once its tombstones went, a read fell through to the parent's keys — the parent's value, and
 * the parent's metadata as the fork's — in memory and after the log, while a reopen from an
 * image, whose fork record is loaded deleted, refused it). */
static void history_a_deleted_forks_past_reads_the_same_after_a_reopen(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    for (int ckpt = 0; ckpt < 2; ckpt++) {
        inmem_db *db = open_hist(dir, 0, 10);
        inmem_run_id p, f;
        assert_ok(inmem_run_begin_db(db, NULL, &p));
        put_str(db, &p, "inherited", "from-parent");
        assert_ok(inmem_run_fork_db(db, &p, 0, NULL, &f));
        uint64_t v = put_str(db, &f, "own", "fork-own");
        assert_ok(inmem_run_delete_db(db, &f));
        const char *want = "inherited=INMEM_EHISTORY;own=INMEM_EHISTORY;run=INMEM_EHISTORY";
        char got[160];
        churn(db, 20);
        deleted_fork_at(db, v, &f, got, sizeof got);
        CHECK(strcmp(got, want) == 0, "round %d, its tombstones freed: %s", ckpt, got);
        if (ckpt)
            assert_ok(inmem_db_checkpoint(db, NULL));
        assert_ok(inmem_db_close(db));
        db = open_hist(dir, 0, 0);
        deleted_fork_at(db, v, &f, got, sizeof got);
        CHECK(strcmp(got, want) == 0, "after a reopen from the %s: %s", ckpt ? "image" : "log",
              got);
        churn(db, 20);
        deleted_fork_at(db, v, &f, got, sizeof got);
        CHECK(strcmp(got, want) == 0, "after a reopen from the %s, then commits: %s",
              ckpt ? "image" : "log", got);
        assert_ok(inmem_db_close(db));
        test_rmdir(dir);
    }
}

/* ---- 3.7 replay ------------------------------------------------------------------------------ */

/* A model of a run's data, kept as "kind|name|value" lines. */
#define MODEL_MAX 256
struct model {
    char line[MODEL_MAX][96];
    int n;
};

static void model_set(struct model *m, const char *kind, const char *name, size_t nlen,
                      const void *val, size_t vlen, int deleted)
{
    char key[80];
    snprintf(key, sizeof key, "%s|%.*s|", kind, (int)nlen, name);
    int i = 0;
    while (i < m->n && strncmp(m->line[i], key, strlen(key)) != 0)
        i++;
    if (deleted) {
        if (i < m->n)
            m->line[i][0] = 0, memmove(&m->line[i], &m->line[i + 1], (size_t)(m->n - i - 1) * 96),
            m->n--;
        return;
    }
    assert_true(i < MODEL_MAX);
    snprintf(m->line[i], 96, "%s%.*s", key, (int)vlen, (const char *)val);
    if (i == m->n)
        m->n++;
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void model_text(struct model *m, char *out, size_t cap)
{
    qsort(m->line, (size_t)m->n, 96, cmp_line);
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < m->n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s;", m->line[i]);
}

/* The run's KV pairs, state cells and events as the model writes them, read at version @p v. */
static void actual_at(inmem_db *db, const inmem_run_id *run, uint64_t v, char *out, size_t cap)
{
    static struct model m;
    m.n = 0;
    inmem_txn *t;
    assert_ok(inmem_txn_begin_at(db, v, &t));
    inmem_iter *it;
    assert_ok(inmem_kv_scan_prefix(t, run, "", 0, &it));
    const void *k, *val;
    size_t kl, vl;
    while (inmem_iter_next(it, &k, &kl, &val, &vl, NULL) == 0)
        model_set(&m, "kv", k, kl, val, vl, 0);
    inmem_iter_free(it);
    inmem_state_entry cells[32];
    size_t n = 0;
    assert_ok(inmem_state_list(t, run, NULL, 32, cells, &n));
    for (size_t i = 0; i < n; i++)
        model_set(&m, "state", cells[i].name, strlen(cells[i].name), cells[i].val, cells[i].len, 0);
    char names[8][INMEM_NAME_MAX];
    assert_ok(inmem_event_streams(t, run, NULL, 8, names, &n));
    for (size_t i = 0; i < n; i++) {
        inmem_event ev[64];
        size_t ne = 0;
        assert_ok(inmem_event_range(t, run, names[i], 0, 0, 0, 64, ev, &ne));
        for (size_t j = 0; j < ne; j++) {
            char nm[80];
            int l = snprintf(nm, sizeof nm, "%s#%llu", names[i], (unsigned long long)ev[j].seq);
            model_set(&m, "event", nm, (size_t)l, ev[j].payload, ev[j].payload_len, 0);
        }
    }
    inmem_txn_free(t);
    model_text(&m, out, cap);
}

/* Replaying a run from the start and applying each commit to an empty model gives the run's
 * state as of every version; resuming after a version gives exactly the commits after it; other
 * runs' writes never show. */
static void history_replay_reproduces_the_run_at_every_version(void **state)
{
    (void)state;
    uint64_t rng = test_seed(__func__);
    inmem_db *db = open_hist(NULL, HOUR_MS, 0);
    inmem_run_id run, other;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    assert_ok(inmem_run_begin_db(db, NULL, &other));
    uint64_t first = test_stats(db).version;
    for (int c = 0; c < 150; c++) {
        inmem_txn *t = test_begin(db);
        const inmem_run_id *r = test_rand(&rng) % 4 ? &run : &other;
        for (int i = 0; i < 1 + (int)(test_rand(&rng) % 3); i++) {
            char k[16], v[32];
            snprintf(k, sizeof k, "k%d", (int)(test_rand(&rng) % 8));
            snprintf(v, sizeof v, "v%d.%d", c, i);
            switch (test_rand(&rng) % 5) {
            case 0:
                assert_ok(inmem_kv_delete(t, r, k, strlen(k)));
                break;
            case 1:
                assert_ok(inmem_state_set(t, r, k, v, strlen(v)));
                break;
            case 2: {
                uint64_t seq;
                assert_ok(inmem_event_append(t, r, test_rand(&rng) % 2 ? "a" : "b", "step", v,
                                             strlen(v), &seq));
                break;
            }
            default:
                assert_ok(inmem_kv_put(t, r, k, strlen(k), v, strlen(v)));
            }
        }
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
    }
    uint64_t last = test_stats(db).version;
    churn(db, 20);

    inmem_txn *t = test_begin(db);
    inmem_replay *rp;
    assert_ok(inmem_run_replay(t, &run, first, &rp));
    static struct model m;
    m.n = 0;
    static char want[16384], got[16384];
    uint64_t prev = first, version, time_ms;
    const inmem_change *ch;
    size_t n;
    int commits = 0, mid_commits = 0;
    uint64_t mid = first + (last - first) / 2;
    while (inmem_replay_next(rp, &version, &time_ms, &ch, &n) == 0) {
        CHECK(version > prev, "replay went from version %llu to %llu", (unsigned long long)prev,
              (unsigned long long)version);
        assert_true(version <= last && time_ms > 0 && n > 0);
        /* between two commits of the run the state did not move */
        actual_at(db, &run, version - 1, got, sizeof got);
        model_text(&m, want, sizeof want);
        CHECK(strcmp(got, want) == 0, "before version %llu\nreplayed: %s\nread:     %s",
              (unsigned long long)version, want, got);
        for (size_t i = 0; i < n; i++) {
            const inmem_change *c = &ch[i];
            char nm[80];
            switch (c->primitive) {
            case INMEM_PRIM_KV:
                model_set(&m, "kv", c->key, c->klen, c->value, c->len, c->deleted);
                break;
            case INMEM_PRIM_STATE:
                model_set(&m, "state", c->key, c->klen, c->value, c->len, c->deleted);
                break;
            case INMEM_PRIM_EVENT: {
                int l = snprintf(nm, sizeof nm, "%.*s#%llu", (int)c->klen, (const char *)c->key,
                                 (unsigned long long)c->event.seq);
                model_set(&m, "event", nm, (size_t)l, c->value, c->len, c->deleted);
                assert_string_equal(c->event.type, "step");
                break;
            }
            default:
                fail_msg("a write of primitive %d in this run", (int)c->primitive);
            }
        }
        actual_at(db, &run, version, got, sizeof got);
        model_text(&m, want, sizeof want);
        CHECK(strcmp(got, want) == 0, "at version %llu\nreplayed: %s\nread:     %s",
              (unsigned long long)version, want, got);
        prev = version;
        commits++;
        mid_commits += version > mid;
    }
    inmem_replay_free(rp);
    assert_true(commits > 50);
    /* resuming after a version: exactly the commits after it */
    assert_ok(inmem_run_replay(t, &run, mid, &rp));
    int resumed = 0;
    while (inmem_replay_next(rp, &version, &time_ms, &ch, &n) == 0) {
        assert_true(version > mid);
        resumed++;
    }
    assert_int_equal(resumed, mid_commits);
    inmem_replay_free(rp);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));

    /* without the history, a replay from long ago is refused */
    db = test_open_mem();
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    put_str(db, &run, "k", "1");
    put_str(db, &run, "k", "2");
    churn(db, 20);
    t = test_begin(db);
    assert_rc(INMEM_EHISTORY, inmem_run_replay(t, &run, 1, &rp));
    assert_null(rp);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- 3.8 diff -------------------------------------------------------------------------------- */

/* The differences of a diff as "prim kind key [first_seq]" lines. */
static void diff_text(inmem_diff *d, char *out, size_t cap)
{
    static const char *prim[] = {"?", "kv", "event", "state", "trace", "run"};
    static const char *kind[] = {"?", "added", "removed", "changed"};
    size_t len = 0;
    out[0] = 0;
    inmem_diff_entry e;
    while (inmem_diff_next(d, &e) == 0) {
        char key[40];
        if (e.primitive == INMEM_PRIM_TRACE)
            snprintf(key, sizeof key, "span");
        else
            snprintf(key, sizeof key, "%.*s", (int)e.klen, (const char *)e.key);
        len += (size_t)snprintf(out + len, cap - len, "%s %s %s", prim[e.primitive], kind[e.kind],
                                key);
        if (e.primitive == INMEM_PRIM_EVENT)
            len += (size_t)snprintf(out + len, cap - len, " %llu", (unsigned long long)e.first_seq);
        len += (size_t)snprintf(out + len, cap - len, "; ");
    }
}

/* A diff over a stream head key too short to hold a name (none the engine writes: a damaged
 * store) reports INMEM_ECORRUPT, not an attempt at a name of SIZE_MAX bytes (INMEM_ENOMEM). */
static void history_diff_of_a_damaged_stream_key_reports_corruption(void **state)
{
    (void)state;
    inmem_db *db = open_hist(NULL, HOUR_MS, 0);
    inmem_run_id a, b;
    assert_ok(inmem_run_begin_db(db, NULL, &a));
    assert_ok(inmem_run_begin_db(db, NULL, &b));
    uint8_t k[INMEM__KEY_PREFIX + 1];
    inmem__key_prefix(k, &a, INMEM__TAG_EVENT);
    k[INMEM__KEY_PREFIX] = 0x01; /* a stream head's mark, and no name after it */
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem__txn_put(t, k, sizeof k, "x", 1, 0));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    inmem_diff *d = NULL;
    int rc = inmem_run_diff(db, &a, 0, &b, 0, &d);
    if (rc == 0) { /* (the comparison may run at the first next) */
        inmem_diff_entry e;
        while ((rc = inmem_diff_next(d, &e)) == 0) {
        }
        inmem_diff_free(d);
        d = NULL;
    }
    assert_rc(INMEM_ECORRUPT, rc);
    assert_null(d);
    assert_ok(inmem_db_close(db));
}

/* A fork compared with its parent is empty until one writes; then each primitive's differences
 * show: keys added, removed and changed with both versions, cells, the first differing event of
 * a stream (found by bisection over a long stream), spans on one side only. One run at two
 * versions compares the same way. */
static void history_diff_shows_what_differs_per_primitive(void **state)
{
    (void)state;
    inmem_db *db = open_hist(NULL, HOUR_MS, 0);
    inmem_run_id p, c;
    assert_ok(inmem_run_begin_db(db, NULL, &p));
    put_str(db, &p, "same", "s");
    put_str(db, &p, "change", "old");
    put_str(db, &p, "drop", "d");
    assert_ok(inmem_state_set_db(db, &p, "phase", "plan", 4, NULL));
    uint64_t seq;
    for (int i = 0; i < 100; i++)
        assert_ok(inmem_event_append_db(db, &p, "log", "step", "x", 1, &seq));
    assert_ok(inmem_event_append_db(db, &p, "quiet", "step", "x", 1, &seq));
    inmem_span sp;
    memset(&sp, 0, sizeof sp);
    sp.kind = 1;
    strcpy(sp.name, "tool");
    assert_ok(inmem_trace_record_db(db, &p, &sp, NULL));
    uint64_t v0 = test_stats(db).version;
    assert_ok(inmem_run_fork_db(db, &p, 0, NULL, &c));

    char text[2048];
    inmem_diff *d;
    uint64_t aborts0 = test_stats(db).aborts_user;
    assert_ok(inmem_run_diff(db, &p, 0, &c, 0, &d));
    assert_int_equal(test_stats(db).aborts_user, aborts0); /* its reads are not aborts */
    diff_text(d, text, sizeof text);
    inmem_diff_free(d);
    assert_string_equal(text, "");

    put_str(db, &c, "change", "new");
    put_str(db, &c, "added", "a");
    assert_ok(inmem_delete(db, &c, "drop", 4, NULL));
    assert_ok(inmem_state_set_db(db, &c, "phase", "act", 3, NULL));
    assert_ok(inmem_event_append_db(db, &c, "mine", "step", "x", 1, &seq));
    assert_ok(inmem_trace_record_db(db, &c, &sp, NULL));
    assert_ok(inmem_run_diff(db, &p, 0, &c, 0, &d));
    diff_text(d, text, sizeof text);
    inmem_diff_free(d);
    assert_string_equal(text, "kv added added; kv changed change; kv removed drop; "
                              "state changed phase; event added mine 1; trace added span; ");

    /* streams that part at event 37 of 100: the fork of the parent at that point goes on */
    inmem_run_id p2, c2;
    assert_ok(inmem_run_begin_db(db, NULL, &p2));
    for (int i = 1; i <= 36; i++)
        assert_ok(inmem_event_append_db(db, &p2, "log", "step", "x", 1, &seq));
    assert_ok(inmem_run_fork_db(db, &p2, 0, NULL, &c2));
    for (int i = 37; i <= 100; i++) {
        assert_ok(inmem_event_append_db(db, &p2, "log", "step", "parent", 6, &seq));
        assert_ok(inmem_event_append_db(db, &c2, "log", "step", "child", 5, &seq));
    }
    assert_ok(inmem_run_diff(db, &p2, 0, &c2, 0, &d));
    diff_text(d, text, sizeof text);
    inmem_diff_free(d);
    assert_string_equal(text, "event changed log 37; ");

    /* one run at two versions */
    assert_ok(inmem_run_diff(db, &p, v0, &p, 0, &d));
    diff_text(d, text, sizeof text);
    inmem_diff_free(d);
    assert_string_equal(text, "");
    put_str(db, &p, "same", "t");
    assert_ok(inmem_event_append_db(db, &p, "log", "step", "x", 1, &seq));
    assert_ok(inmem_run_diff(db, &p, v0, &p, 0, &d));
    inmem_diff_entry e;
    assert_ok(inmem_diff_next(d, &e));
    assert_int_equal(e.kind, INMEM_DIFF_CHANGED);
    assert_true(e.version_a > 0 && e.version_b > e.version_a);
    assert_ok(inmem_diff_next(d, &e));
    assert_int_equal(e.primitive, INMEM_PRIM_EVENT);
    assert_int_equal(e.first_seq, 101);
    assert_rc(INMEM_NOTFOUND, inmem_diff_next(d, &e));
    inmem_diff_free(d);
    assert_ok(inmem_db_close(db));
}

/* ---- 3.9 waiting for changes ----------------------------------------------------------------- */

struct waiter_arg {
    inmem_db *db;
    const inmem_run_id *run;
    inmem_primitive what;
    const char *key;
    uint64_t after, timeout_ms;
    _Atomic int done;
    int rc;
    uint64_t version;
    char seen[16]; /* the value read right after waking (KV) */
};

static void *waiter_main(void *p)
{
    struct waiter_arg *a = p;
    a->rc = inmem_wait(a->db, a->run, a->what, a->key, strlen(a->key), a->after, a->timeout_ms,
                       &a->version);
    if (a->rc == 0 && a->what == INMEM_PRIM_KV) { /* what woke it is visible */
        inmem_txn *t;
        if (inmem_txn_begin(a->db, &t) == 0) {
            const void *v;
            size_t vl;
            if (inmem_kv_get(t, a->run, a->key, strlen(a->key), &v, &vl, NULL) == 0)
                snprintf(a->seen, sizeof a->seen, "%.*s", (int)vl, (const char *)v);
            inmem_txn_free(t);
        }
    }
    atomic_store(&a->done, 1);
    return NULL;
}

/* A waiter wakes on the commit that moves its key past the version (not on another key's, not
 * before), sees what woke it, returns at once if the key moved already, and times out. */
static void history_wait_wakes_on_the_change_and_not_before(void **state)
{
    (void)state;
    for (int strict = 0; strict < 2; strict++) {
        char dir[64];
        test_tmpdir(dir);
        inmem_options o;
        inmem_options_init(&o);
        o.durability = strict ? INMEM_DURABILITY_STRICT : INMEM_DURABILITY_NONE;
        inmem_db *db;
        assert_ok(inmem_db_open(strict ? dir : NULL, &o, &db));
        uint64_t v0 = put_str(db, NULL, "task", "open");
        struct waiter_arg a = {db, NULL, INMEM_PRIM_KV, "task", v0, 10000, 0, 0, 0, ""};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, waiter_main, &a), 0);
        put_str(db, NULL, "other", "x"); /* another key: no wake-up */
        usleep(50000);
        assert_int_equal(atomic_load(&a.done), 0);
        uint64_t v1 = put_str(db, NULL, "task", "claimed");
        pthread_join(th, NULL);
        assert_ok(a.rc);
        assert_int_equal(a.version, v1);
        assert_string_equal(a.seen, "claimed");
        /* already past: at once, even with no time to wait */
        uint64_t v;
        assert_ok(inmem_wait(db, NULL, INMEM_PRIM_KV, "task", 4, v0, 0, &v));
        assert_int_equal(v, v1);
        /* a delete moves it too; a key that does not exist yet: after version 0 */
        assert_rc(INMEM_ETIMEDOUT, inmem_wait(db, NULL, INMEM_PRIM_KV, "task", 4, v1, 20, &v));
        assert_rc(INMEM_ETIMEDOUT, inmem_wait(db, NULL, INMEM_PRIM_KV, "new", 3, 0, 0, &v));
        uint64_t vd;
        assert_ok(inmem_delete(db, NULL, "task", 4, &vd));
        assert_ok(inmem_wait(db, NULL, INMEM_PRIM_KV, "task", 4, v1, 0, &v));
        assert_int_equal(v, vd);
        assert_rc(INMEM_EINVAL, inmem_wait(db, NULL, (inmem_primitive)9, "k", 1, 0, 0, &v));
        assert_rc(INMEM_EINVAL, inmem_wait(db, NULL, INMEM_PRIM_STATE, "a\0b", 3, 0, 0, &v));
        assert_ok(inmem_db_close(db));
        test_rmdir(dir);
    }
}

/* Many waiters on one state cell all wake on the one commit that moves it; a waiter on an event
 * stream wakes on an append; a close wakes every waiter (INMEM_ECLOSED) and succeeds. */
static void history_wait_many_waiters_streams_and_close(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    uint64_t v0 = 0;
    assert_ok(inmem_state_set_db(db, &run, "phase", "plan", 4, &v0));
    enum { N = 8 };
    struct waiter_arg a[N + 2];
    pthread_t th[N + 2];
    for (int i = 0; i < N; i++) {
        a[i] = (struct waiter_arg){db, &run, INMEM_PRIM_STATE, "phase", v0, 10000, 0, 0, 0, ""};
        assert_int_equal(pthread_create(&th[i], NULL, waiter_main, &a[i]), 0);
    }
    a[N] = (struct waiter_arg){db, &run, INMEM_PRIM_EVENT, "log", 0, 10000, 0, 0, 0, ""};
    assert_int_equal(pthread_create(&th[N], NULL, waiter_main, &a[N]), 0);
    a[N + 1] = (struct waiter_arg){db, &run, INMEM_PRIM_KV, "never", 0, UINT64_MAX, 0, 0, 0, ""};
    assert_int_equal(pthread_create(&th[N + 1], NULL, waiter_main, &a[N + 1]), 0);
    usleep(20000);
    uint64_t v1 = 0;
    assert_ok(inmem_state_cas_db(db, &run, "phase", v0, "act", 3, &v1));
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_ok(a[i].rc);
        assert_int_equal(a[i].version, v1);
    }
    uint64_t seq;
    assert_ok(inmem_event_append_db(db, &run, "log", "step", "x", 1, &seq));
    pthread_join(th[N], NULL);
    assert_ok(a[N].rc);
    assert_true(a[N].version > v1);
    usleep(20000);
    assert_int_equal(atomic_load(&a[N + 1].done), 0);
    assert_ok(inmem_db_close(db)); /* wakes the one waiting forever */
    pthread_join(th[N + 1], NULL);
    assert_rc(INMEM_ECLOSED, a[N + 1].rc);
}

/* The non-blocking form: a watch's descriptor becomes readable when its key moves (and not
 * before), and when the database closes; poll says which. */
static void history_watch_fd_becomes_readable_on_the_change(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t v0 = put_str(db, NULL, "k", "a");
    inmem_watch *w;
    assert_ok(inmem_watch_open(db, NULL, INMEM_PRIM_KV, "k", 1, v0, &w));
    struct pollfd pfd = {inmem_watch_fd(w), POLLIN, 0};
    assert_true(pfd.fd >= 0);
    assert_int_equal(poll(&pfd, 1, 0), 0);
    uint64_t v;
    assert_rc(INMEM_NOTFOUND, inmem_watch_poll(w, &v));
    put_str(db, NULL, "other", "x");
    assert_int_equal(poll(&pfd, 1, 0), 0);
    uint64_t v1 = put_str(db, NULL, "k", "b");
    assert_int_equal(poll(&pfd, 1, 1000), 1);
    assert_ok(inmem_watch_poll(w, &v));
    assert_int_equal(v, v1);
    inmem_watch_close(w);
    /* closing the database fires a watch, which outlives it */
    assert_ok(inmem_watch_open(db, NULL, INMEM_PRIM_KV, "k", 1, v1, &w));
    pfd.fd = inmem_watch_fd(w);
    assert_int_equal(poll(&pfd, 1, 0), 0);
    assert_ok(inmem_db_close(db));
    assert_int_equal(poll(&pfd, 1, 1000), 1);
    assert_rc(INMEM_ECLOSED, inmem_watch_poll(w, &v));
    inmem_watch_close(w);
    /* a watch that fired before the close outlives it too, with its version (AddressSanitizer
     * checks that neither call touches the freed database) */
    db = test_open_mem();
    uint64_t v2 = put_str(db, NULL, "k", "a");
    assert_ok(inmem_watch_open(db, NULL, INMEM_PRIM_KV, "k", 1, v2, &w));
    uint64_t v3 = put_str(db, NULL, "k", "b");
    assert_ok(inmem_db_close(db));
    assert_ok(inmem_watch_poll(w, &v));
    assert_int_equal(v, v3);
    inmem_watch_close(w);
}

/* In a fork, a key it inherits has the version reads see there (its parent's as of the fork):
 * a wait past an older version returns at once, as in the parent; past that one, it waits for
 * the fork's own write, not its parent's. Every primitive: a KV key, a cell, a stream. */
static void history_wait_in_a_fork_sees_the_keys_it_inherits(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id run, fork;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    uint64_t vk = put_str(db, &run, "task", "open"), vc = 0, seq;
    assert_ok(inmem_state_set_db(db, &run, "phase", "plan", 4, &vc));
    assert_ok(inmem_event_append_db(db, &run, "log", "step", "x", 1, &seq));
    assert_ok(inmem_run_fork_db(db, &run, 0, NULL, &fork));
    inmem_txn *t = test_begin(db);
    const void *val;
    size_t n;
    uint64_t seen = 0;
    assert_ok(inmem_kv_get(t, &fork, "task", 4, &val, &n, &seen));
    assert_int_equal(seen, vk);
    inmem_txn_free(t);
    uint64_t v = 0;
    assert_ok(inmem_wait(db, &fork, INMEM_PRIM_KV, "task", 4, 0, 0, &v));
    assert_int_equal(v, vk);
    assert_ok(inmem_wait(db, &fork, INMEM_PRIM_STATE, "phase", 5, 0, 0, &v));
    assert_int_equal(v, vc);
    assert_ok(inmem_wait(db, &fork, INMEM_PRIM_EVENT, "log", 3, 0, 0, &v));
    assert_true(v > vc);
    inmem_watch *w;
    assert_ok(inmem_watch_open(db, &fork, INMEM_PRIM_KV, "task", 4, 0, &w));
    assert_ok(inmem_watch_poll(w, &v));
    assert_int_equal(v, vk);
    inmem_watch_close(w);
    /* past the inherited version: the parent's write does not move the fork's key, its own does */
    struct waiter_arg a = {db, &fork, INMEM_PRIM_KV, "task", vk, 10000, 0, 0, 0, ""};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, waiter_main, &a), 0);
    put_str(db, &run, "task", "parent's");
    usleep(50000);
    assert_int_equal(atomic_load(&a.done), 0);
    uint64_t vf = put_str(db, &fork, "task", "fork's");
    pthread_join(th, NULL);
    assert_ok(a.rc);
    assert_int_equal(a.version, vf);
    assert_string_equal(a.seen, "fork's");
    assert_ok(inmem_db_close(db));
}

/* ---- 3.7 every primitive reads the past ------------------------------------------------------ */

static void history_every_primitive_reads_the_past(void **state)
{
    (void)state;
    inmem_db *db = open_hist(NULL, HOUR_MS, 0);
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    uint64_t seq;
    assert_ok(inmem_event_append_db(db, &run, "log", "step", "one", 3, &seq));
    assert_ok(inmem_state_set_db(db, &run, "phase", "plan", 4, NULL));
    inmem_span sp;
    memset(&sp, 0, sizeof sp);
    sp.kind = 1;
    strcpy(sp.name, "tool");
    inmem_run_id span;
    assert_ok(inmem_trace_record_db(db, &run, &sp, &span));
    uint64_t v1 = test_stats(db).version;
    assert_ok(inmem_event_append_db(db, &run, "log", "step", "two", 3, &seq));
    assert_ok(inmem_state_set_db(db, &run, "phase", "act", 3, NULL));
    inmem_run_id span2;
    assert_ok(inmem_trace_record_db(db, &run, &sp, &span2));
    assert_ok(inmem_run_end_db(db, &run, INMEM_RUN_COMPLETED));
    churn(db, 20);

    inmem_txn *t;
    assert_ok(inmem_txn_begin_at(db, v1, &t));
    inmem_stream_info si;
    assert_ok(inmem_event_stream_info(t, &run, "log", &si));
    assert_int_equal(si.length, 1);
    inmem_event ev;
    assert_ok(inmem_event_get(t, &run, "log", 1, &ev));
    assert_int_equal(ev.payload_len, 3);
    assert_memory_equal(ev.payload, "one", 3);
    assert_rc(INMEM_NOTFOUND, inmem_event_get(t, &run, "log", 2, &ev));
    const void *val;
    size_t len;
    assert_ok(inmem_state_get(t, &run, "phase", &val, &len, NULL));
    assert_int_equal(len, 4);
    assert_memory_equal(val, "plan", 4);
    inmem_span out;
    assert_ok(inmem_trace_get(t, &run, &span, &out));
    assert_rc(INMEM_NOTFOUND, inmem_trace_get(t, &run, &span2, &out));
    inmem_run_info info;
    assert_ok(inmem_run_get(t, &run, &info));
    assert_int_equal(info.status, INMEM_RUN_ACTIVE);
    inmem_run_id ids[4];
    size_t n = 0;
    inmem_run_filter f;
    memset(&f, 0, sizeof f);
    f.status = INMEM_RUN_ACTIVE;
    assert_ok(inmem_run_list(t, &f, NULL, 4, ids, &n));
    assert_int_equal(n, 1);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- 3.8 commit times ------------------------------------------------------------------------ */

/* Every commit's wall-clock time is kept with it: version -> time and time -> the newest version
 * committed at or before it are exact, both ways. */
static void history_commit_times_map_versions_and_times(void **state)
{
    (void)state;
    const uint64_t t0 = 20000000000ull;
    inmem_db *db = open_hist(NULL, HOUR_MS, 0);
    uint64_t v[6], none;
    /* before any commit: version 0 (or any) is not a commit, whatever the times kept */
    assert_rc(INMEM_EINVAL, inmem_db_version_time(db, 0, &none));
    assert_rc(INMEM_EINVAL, inmem_db_version_time(db, 1, &none));
    for (int i = 0; i < 6; i++) {
        inmem__clock_set_override(t0 + (uint64_t)i / 2 * 100); /* two commits a millisecond */
        v[i] = put_str(db, NULL, "k", "x");
    }
    for (int i = 0; i < 6; i++) {
        uint64_t tm = 0;
        assert_ok(inmem_db_version_time(db, v[i], &tm));
        assert_int_equal(tm, t0 + (uint64_t)i / 2 * 100);
    }
    uint64_t ver = 0;
    assert_ok(inmem_db_time_version(db, t0 + 100, &ver));
    assert_int_equal(ver, v[3]);
    assert_ok(inmem_db_time_version(db, t0 + 150, &ver));
    assert_int_equal(ver, v[3]);
    assert_ok(inmem_db_time_version(db, t0 + 99999, &ver));
    assert_int_equal(ver, v[5]);
    assert_rc(INMEM_EHISTORY, inmem_db_time_version(db, t0 - 1, &ver));
    assert_rc(INMEM_EINVAL, inmem_db_version_time(db, v[5] + 1, &ver));
    assert_rc(INMEM_EINVAL, inmem_db_version_time(db, 0, &ver));
    assert_rc(INMEM_EINVAL, inmem_db_version_time(db, v[0], NULL));
    inmem__clock_set_override(0);
    assert_ok(inmem_db_close(db));
}

/* The database's history policy is stored in it: an open that does not give one (a tool's, the
 * CLI's) keeps what the database keeps — through the log and through a checkpoint —, an open
 * that gives one replaces it (history_versions = 1: off, for good), and a read-only open cannot
 * change it. */
static void history_policy_is_stored_in_the_database(void **state)
{
    (void)state;
    char dir[64], got[16];
    test_tmpdir(dir);
    inmem_db *db = open_hist(dir, HOUR_MS, 0);
    uint64_t va = put_str(db, NULL, "k", "a");
    put_str(db, NULL, "k", "b");
    inmem_stats st = test_stats(db);
    assert_int_equal(st.history_ms, HOUR_MS);
    assert_int_equal(st.history_versions, 0);
    for (int pass = 0; pass < 3; pass++) { /* the log, a checkpoint, a read-only open */
        assert_ok(inmem_db_close(db));
        if (pass == 2) {
            inmem_options o;
            inmem_options_init(&o);
            o.read_only = 1;
            o.history_versions = 1; /* cannot change it */
            assert_ok(inmem_db_open(dir, &o, &db));
        } else {
            db = open_hist(dir, 0, 0);
        }
        st = test_stats(db);
        CHECK(st.history_ms == HOUR_MS, "pass %d: history_ms %llu", pass,
              (unsigned long long)st.history_ms);
        if (pass < 2)
            churn(db, 40); /* commits, and collections, under the stored policy */
        assert_ok(get_at(db, va, NULL, "k", got, sizeof got));
        assert_string_equal(got, "a");
        if (pass == 1)
            assert_ok(inmem_db_checkpoint(db, NULL));
    }
    assert_ok(inmem_db_close(db));
    /* an open that gives a policy replaces it: off */
    db = open_hist(dir, 0, 1);
    assert_int_equal(test_stats(db).history_ms, 0);
    assert_ok(inmem_db_close(db));
    db = open_hist(dir, 0, 0);
    st = test_stats(db);
    assert_int_equal(st.history_ms, 0);
    assert_int_equal(st.history_versions, 0);
    uint64_t vc = put_str(db, NULL, "k", "c");
    put_str(db, NULL, "k", "d");
    churn(db, 40);
    assert_rc(INMEM_EHISTORY, get_at(db, vc, NULL, "k", got, sizeof got));
    assert_ok(inmem_db_close(db));
    /* and by count, through a checkpoint at close */
    db = open_hist(dir, 0, 5);
    assert_ok(inmem_db_checkpoint(db, NULL));
    assert_ok(inmem_db_close(db));
    db = open_hist(dir, 0, 0);
    assert_int_equal(test_stats(db).history_versions, 5);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* When only a run keeps history, the shared scope's keys still give their commits' times after a
 * reopen from a checkpoint: their versions load before the run's policy record turns the commit
 * times on, and have theirs noted at the load's end (a database that keeps no history at all
 * notes none while it loads). */
static void history_commit_times_of_the_shared_scope_survive_a_reopen(void **state)
{
    (void)state;
    const uint64_t t0 = 30000000000ull;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = open_hist(dir, 0, 0);
    inmem__clock_set_override(t0);
    inmem_run_id run = begin_run_keeping(db, HOUR_MS, 0);
    inmem__clock_set_override(t0 + 100);
    uint64_t vs = put_str(db, NULL, "a-shared-key", "x");
    inmem__clock_set_override(t0 + 200);
    uint64_t vr = put_str(db, &run, "k", "y");
    inmem__clock_set_override(0);
    for (int pass = 0; pass < 2; pass++) { /* in memory, then reopened from the image */
        uint64_t tm = 0, ver = 0;
        assert_ok(inmem_db_version_time(db, vs, &tm));
        assert_int_equal(tm, t0 + 100);
        assert_ok(inmem_db_version_time(db, vr, &tm));
        assert_int_equal(tm, t0 + 200);
        assert_ok(inmem_db_time_version(db, t0 + 150, &ver));
        assert_int_equal(ver, vs);
        assert_ok(inmem_db_checkpoint(db, NULL));
        assert_ok(inmem_db_close(db));
        db = open_hist(dir, 0, 0);
        inmem_recovery_info ri;
        assert_ok(inmem_db_recovery(db, &ri));
        assert_int_equal(ri.txns_applied, 0); /* all of it came from the image */
    }
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* A value's expiry is judged at the time read: at the version's commit time for begin_at, at
 * the time asked for with begin_at_time. */
static void history_expiry_is_judged_at_the_time_read(void **state)
{
    (void)state;
    const uint64_t t0 = 30000000000ull;
    inmem__clock_set_override(t0);
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.history_ms = HOUR_MS;
    o.ttl_sweep_interval_ms = 0;
    inmem_db *db;
    assert_ok(inmem_db_open(NULL, &o, &db));
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_put_ttl(t, NULL, "lease", 5, "held", 4, 1000));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_info ti;
    assert_ok(inmem_txn_describe(t, &ti));
    uint64_t v = ti.commit_version;
    inmem_txn_free(t);
    inmem__clock_set_override(t0 + 5000);
    put_str(db, NULL, "other", "x");
    const void *val;
    size_t vl;
    assert_ok(inmem_txn_begin_at(db, v, &t));
    assert_ok(inmem_kv_get(t, NULL, "lease", 5, &val, &vl, NULL));
    inmem_txn_free(t);
    assert_ok(inmem_txn_begin_at_time(db, t0 + 999, &t));
    assert_ok(inmem_kv_get(t, NULL, "lease", 5, &val, &vl, NULL));
    inmem_txn_free(t);
    assert_ok(inmem_txn_begin_at_time(db, t0 + 1000, &t));
    assert_rc(INMEM_NOTFOUND, inmem_kv_get(t, NULL, "lease", 5, &val, &vl, NULL));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_NOTFOUND, inmem_kv_get(t, NULL, "lease", 5, &val, &vl, NULL));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
}

/* After a reopen from a checkpoint image, the commit times known are those of the versions the
 * image holds. A version none of whose writes was kept (here: x's first value, freed by the count)
 * has no known time: its expiry judgement must not borrow an older commit's time (a value
 * already expired at that version came back). Values whose expiry is on either side of the
 * unknown time are still judged; one in between is INMEM_EHISTORY, never the value. */
static void history_expiry_at_a_version_of_unknown_time_after_a_reopen(void **state)
{
    (void)state;
    const uint64_t t0 = 31000000000ull;
    char dir[64];
    test_tmpdir(dir);
    inmem__clock_set_override(t0);
    inmem_options o;
    inmem_options_init(&o);
    o.history_versions = 2;
    o.ttl_sweep_interval_ms = 0;
    inmem_db *db;
    assert_ok(inmem_db_open(dir, &o, &db));
    uint64_t vk, vx, vt;
    assert_ok(inmem_put_ttl(db, NULL, "k", 1, "v", 1, 500, &vk));     /* expires at t0 + 500 */
    assert_ok(inmem_put_ttl(db, NULL, "far", 3, "v", 1, 5000, NULL)); /* at t0 + 5000 */
    inmem__clock_set_override(t0 + 600);
    assert_ok(inmem_put(db, NULL, "x", 1, "1", 1, &vx)); /* k has expired here */
    for (int i = 0; i < 20; i++) {                       /* x's first value is freed */
        inmem__clock_set_override(t0 + 700 + (uint64_t)i);
        assert_ok(inmem_put(db, NULL, "x", 1, "2", 1, NULL));
    }
    inmem_txn *t;
    assert_ok(inmem_txn_begin_at(db, vx, &t));
    assert_rc(INMEM_NOTFOUND, inmem_kv_get(t, NULL, "k", 1, NULL, NULL, NULL));
    inmem_txn_free(t);
    assert_ok(inmem_db_checkpoint(db, NULL));
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(t0 + 1000);
    assert_ok(inmem_db_open(dir, &o, &db));
    /* vk's time is known (k's version holds it): k is live there */
    assert_ok(inmem_db_version_time(db, vk, &vt));
    assert_int_equal(vt, t0);
    assert_ok(inmem_txn_begin_at(db, vk, &t));
    assert_ok(inmem_kv_get(t, NULL, "k", 1, NULL, NULL, NULL));
    inmem_txn_free(t);
    /* vx's is not: it lies between t0 and the time of x's oldest kept version (t0 + 718), and
     * k expired in between. Never the expired value, never a time that is not vx's, and a
     * lookup by a time in between never answers with a commit that may be later than it */
    assert_rc(INMEM_EHISTORY, inmem_db_version_time(db, vx, &vt));
    uint64_t at = 0;
    assert_ok(inmem_db_time_version(db, t0 + 650, &at));
    CHECK(at == vk + 1, "the newest commit known at or before t0 + 650: %llu, expected %llu",
          (unsigned long long)at, (unsigned long long)(vk + 1));
    assert_ok(inmem_txn_begin_at(db, vx, &t));
    assert_rc(INMEM_EHISTORY, inmem_kv_get(t, NULL, "k", 1, NULL, NULL, NULL));
    inmem_iter *it;
    assert_ok(inmem_kv_scan(t, NULL, "k", 1, "l", 1, &it));
    assert_rc(INMEM_EHISTORY, inmem_iter_next(it, NULL, NULL, NULL, NULL, NULL));
    inmem_iter_free(it);
    assert_ok(inmem_kv_get(t, NULL, "far", 3, NULL, NULL, NULL)); /* live on every side */
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
    inmem__clock_set_override(0);
    test_rmdir(dir);
}

/* ---- 3.9 history survives a SIGKILL ---------------------------------------------------------- */

#define KILL_KEYS 7

/* Commit i writes key i % 7 ("v<i>"), or deletes it when i % 5 == 0. */
static void model_at(uint64_t version, char vals[KILL_KEYS][24])
{
    for (int j = 0; j < KILL_KEYS; j++)
        vals[j][0] = 0;
    for (uint64_t i = 1; i <= version; i++) {
        if (i % 5 == 0)
            vals[i % KILL_KEYS][0] = 0;
        else
            snprintf(vals[i % KILL_KEYS], 24, "v%llu", (unsigned long long)i);
    }
}

static void kill_child(const char *dir, int fd)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_STRICT;
    o.checkpoint_log_ratio = 0;
    o.history_ms = HOUR_MS;
    inmem_db *db;
    inmem_stats st;
    if (inmem_db_open(dir, &o, &db) || inmem_db_stats(db, &st))
        _exit(2);
    /* the open stored the policy (a commit): the model's version i is base + i */
    uint64_t base = st.version;
    if (write(fd, &base, sizeof base) != sizeof base)
        _exit(5);
    for (uint64_t i = 1;; i++) {
        char k[8], v[24];
        snprintf(k, sizeof k, "k%llu", (unsigned long long)(i % KILL_KEYS));
        snprintf(v, sizeof v, "v%llu", (unsigned long long)i);
        uint64_t ver = 0;
        int rc = i % 5 == 0 ? inmem_delete(db, NULL, k, strlen(k), &ver)
                            : inmem_put(db, NULL, k, strlen(k), v, strlen(v), &ver);
        if (rc || ver != base + i)
            _exit(3);
        if (i % 97 == 0 && inmem_db_checkpoint(db, NULL))
            _exit(4);
        if (write(fd, &i, sizeof i) != sizeof i)
            _exit(5);
    }
}

/* Killed (SIGKILL) at a random moment while committing and checkpointing, a database with
 * retained history reopens with every acknowledged commit, and a time-travel read at every
 * version gives exactly the state that version had. */
static void history_survives_a_sigkill_exactly(void **state)
{
    (void)state;
    uint64_t rng = test_seed(__func__);
    for (int round = 0; round < 3; round++) {
        char dir[64];
        test_tmpdir(dir);
        int p[2];
        assert_int_equal(pipe(p), 0);
        fflush(stdout);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            kill_child(dir, p[1]);
        }
        close(p[1]);
        uint64_t acked = 0, x, base = UINT64_MAX;
        uint64_t stop_at = 150 + test_rand(&rng) % 300; /* commits acknowledged before the kill */
        assert_int_equal(read(p[0], &base, sizeof base), sizeof base);
        assert_int_equal(base, 1); /* the policy's record */
        while (acked < stop_at && read(p[0], &x, sizeof x) == sizeof x)
            acked = x;
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        close(p[0]);
        if (!WIFSIGNALED(status))
            fail_msg("round %d: the writer exited with status %d before the kill", round,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        assert_int_equal(acked, stop_at);

        inmem_db *db = open_hist(dir, HOUR_MS, 0);
        inmem_stats st = test_stats(db);
        CHECK(st.version >= base + acked, "round %d: %llu acknowledged, %llu recovered", round,
              (unsigned long long)acked, (unsigned long long)(st.version - base));
        for (uint64_t v = 0; v <= st.version; v++) {
            char want[KILL_KEYS][24];
            model_at(v > base ? v - base : 0, want);
            inmem_txn *t;
            int rc = inmem_txn_begin_at(db, v, &t);
            CHECK(rc == 0, "round %d: begin_at(%llu): %s", round, (unsigned long long)v,
                  inmem_errname(rc));
            for (int j = 0; j < KILL_KEYS; j++) {
                char k[16];
                snprintf(k, sizeof k, "k%d", j);
                const void *val;
                size_t vl;
                rc = inmem_kv_get(t, NULL, k, strlen(k), &val, &vl, NULL);
                if (want[j][0])
                    CHECK(rc == 0 && vl == strlen(want[j]) && memcmp(val, want[j], vl) == 0,
                          "round %d: version %llu key %s: %s, want %s", round,
                          (unsigned long long)v, k, inmem_errname(rc), want[j]);
                else
                    CHECK(rc == INMEM_NOTFOUND, "round %d: version %llu key %s: %s, want absent",
                          round, (unsigned long long)v, k, inmem_errname(rc));
            }
            inmem_txn_free(t);
        }
        assert_ok(inmem_db_close(db));
        test_rmdir(dir);
    }
}

const struct CMUnitTest history_tests[] = {
    cmocka_unit_test(history_time_travel_reads_what_a_snapshot_read_then),
    cmocka_unit_test(history_count_keeps_the_newest_versions_of_every_key),
    cmocka_unit_test(history_a_window_queues_each_key_once_however_often_it_is_written),
    cmocka_unit_test(history_window_keeps_what_was_replaced_within_it),
    cmocka_unit_test(history_a_clock_stepped_back_never_lowers_the_floor),
    cmocka_unit_test(history_a_deleted_run_that_kept_less_than_the_database_refuses_its_past),
    cmocka_unit_test(history_a_deleted_run_that_kept_less_than_the_database_leaves_nothing),
    cmocka_unit_test(history_off_refuses_versions_no_transaction_holds),
    cmocka_unit_test(history_off_begin_at_does_not_depend_on_when_the_collector_ran),
    cmocka_unit_test(history_past_transaction_is_read_only),
    cmocka_unit_test(history_run_policy_overrides_the_database),
    cmocka_unit_test(history_deleting_a_run_erases_its_past),
    cmocka_unit_test(history_sweep_drops_what_no_longer_changes_an_answer),
    cmocka_unit_test(history_a_deleted_runs_policy_leaves_no_entry),
    cmocka_unit_test(history_a_key_history_in_the_past_is_refused_where_a_read_is),
    cmocka_unit_test(history_a_deleted_fork_leaves_no_entry),
    cmocka_unit_test(history_a_window_floor_does_not_fall_back_across_a_checkpoint),
    cmocka_unit_test(history_a_clock_stepped_back_across_a_reopen_keeps_the_floor),
    cmocka_unit_test(history_a_sweep_spares_a_record_written_again_meanwhile),
    cmocka_unit_test(history_a_sweep_comes_back_for_a_fork_once_its_readers_end),
    cmocka_unit_test(history_one_sweep_drops_the_records_of_more_than_a_batch_of_deleted_runs),
    cmocka_unit_test(history_key_history_lists_versions_newest_first),
    cmocka_unit_test(history_key_history_read_never_lowers_the_oldest_snapshot_in_the_stats),
    cmocka_unit_test(history_fork_starts_with_the_parent_then_diverges),
    cmocka_unit_test(history_a_deleted_forks_tombstones_are_freed),
    cmocka_unit_test(history_a_deleted_runs_window_is_not_waited_for),
    cmocka_unit_test(history_fork_cas_on_inherited_keys),
    cmocka_unit_test(history_fork_inherits_from_its_commit_on),
    cmocka_unit_test(history_count_keeps_a_delete_of_a_key_never_written),
    cmocka_unit_test(history_count_keeps_a_lone_delete_across_a_reopen),
    cmocka_unit_test(history_replay_never_omits_a_delete_at_the_floor),
    cmocka_unit_test(history_replay_never_omits_a_delete_made_before_a_count_took_effect),
    cmocka_unit_test(history_fork_cas_of_an_inherited_long_key_sees_it),
    cmocka_unit_test(history_backup_of_an_in_memory_database_keeps_its_policy),
    cmocka_unit_test(history_a_fork_alone_keeps_no_commit_times),
    cmocka_unit_test(history_fork_at_a_past_version_and_of_a_fork),
    cmocka_unit_test(history_fork_key_history_pages_stop_where_its_versions_were_freed),
    cmocka_unit_test(history_a_read_through_a_fork_names_what_was_freed),
    cmocka_unit_test(history_fork_parent_is_kept_and_not_deleted_while_forks_live),
    cmocka_unit_test(history_fork_survives_a_checkpoint_and_a_reopen),
    cmocka_unit_test(history_a_fork_at_a_past_version_reads_the_same_after_a_reopen),
    cmocka_unit_test(history_a_fork_before_a_checkpoint_image_needs_retention_that_reaches_it),
    cmocka_unit_test(history_a_deleted_forks_past_reads_the_same_after_a_reopen),
    cmocka_unit_test(history_replay_reproduces_the_run_at_every_version),
    cmocka_unit_test(history_diff_shows_what_differs_per_primitive),
    cmocka_unit_test(history_diff_of_a_damaged_stream_key_reports_corruption),
    cmocka_unit_test(history_wait_wakes_on_the_change_and_not_before),
    cmocka_unit_test(history_wait_many_waiters_streams_and_close),
    cmocka_unit_test(history_watch_fd_becomes_readable_on_the_change),
    cmocka_unit_test(history_wait_in_a_fork_sees_the_keys_it_inherits),
    cmocka_unit_test(history_every_primitive_reads_the_past),
    cmocka_unit_test(history_commit_times_map_versions_and_times),
    cmocka_unit_test(history_policy_is_stored_in_the_database),
    cmocka_unit_test(history_commit_times_of_the_shared_scope_survive_a_reopen),
    cmocka_unit_test(history_expiry_is_judged_at_the_time_read),
    cmocka_unit_test(history_expiry_at_a_version_of_unknown_time_after_a_reopen),
    cmocka_unit_test(history_survives_a_sigkill_exactly),
};
INMEM_TEST_COUNT(history);
