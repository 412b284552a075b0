/*
 * test_engine.c — the database handle: options, open/close, implicit operations, scans, stats,
 * and the acceptance check that memory stays flat under endless overwrites.
 */
#include <stdio.h>
#include <stdlib.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "test.h"
#include "txn/txn.h"

static void open_with_null_options_uses_defaults(void **state)
{
    (void)state;
    inmem_options o;
    inmem_options_init(&o);
    assert_int_equal(o.durability, INMEM_DURABILITY_BATCHED);
    assert_int_equal(o.max_key_size, 4096);
    assert_int_equal(o.max_txns, 256);
    assert_int_equal(o.wal_segment_size, 64u << 20);
    assert_int_equal(o.sync_interval_ms, 100);
    assert_int_equal(o.sync_commits, 1000);
    inmem_db *db = NULL;
    assert_rc(INMEM_EINVAL, inmem_db_open(NULL, NULL, &db)); /* batched needs a directory */
    assert_null(db);
    char dir[] = "/tmp/inmem-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_ok(inmem_db_open(dir, NULL, &db));
    assert_non_null(db);
    assert_ok(inmem_put(db, NULL, "k", 1, "v", 1, NULL));
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

static void implicit_get_returns_an_owned_copy(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t v1 = 0, v2 = 0, got = 0;
    assert_ok(inmem_put(db, NULL, "k", 1, "hello", 5, &v1));
    assert_true(v1 > 0);
    void *val = NULL;
    size_t n = 0;
    assert_ok(inmem_get(db, NULL, "k", 1, &val, &n, &got));
    assert_int_equal(n, 5);
    assert_memory_equal(val, "hello", 5);
    assert_int_equal(got, v1);
    assert_ok(inmem_put(db, NULL, "k", 1, "bye", 3, &v2)); /* the copy is not affected */
    assert_memory_equal(val, "hello", 5);
    inmem_free(val);
    assert_ok(inmem_delete(db, NULL, "k", 1, NULL));
    assert_rc(INMEM_NOTFOUND, inmem_get(db, NULL, "k", 1, &val, &n, NULL));
    assert_null(val);
    assert_ok(inmem_db_close(db));
}

static void long_keys_work_end_to_end(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    char key[4096];
    memset(key, 'q', sizeof key);
    assert_ok(inmem_put(db, NULL, key, sizeof key, "v", 1, NULL));
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    const void *v;
    size_t n;
    assert_ok(inmem_kv_get(t, NULL, key, sizeof key, &v, &n, NULL));
    assert_int_equal(n, 1);
    inmem_iter *it;
    assert_ok(inmem_kv_scan_prefix(t, NULL, "qq", 2, &it));
    const void *k;
    size_t kl;
    assert_ok(inmem_iter_next(it, &k, &kl, NULL, NULL, NULL));
    assert_int_equal(kl, sizeof key);
    assert_rc(INMEM_NOTFOUND, inmem_iter_next(it, &k, &kl, NULL, NULL, NULL));
    inmem_iter_free(it);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void prefix_scan_returns_exactly_the_prefix_in_order(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    const char *keys[] = {"a", "ab", "ab\xff", "ab\xff\xff", "abc", "abd", "ac", "b"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_ok(inmem_put(db, NULL, keys[i], strlen(keys[i]), "v", 1, NULL));
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_iter *it;
    assert_ok(inmem_kv_scan_prefix(t, NULL, "ab", 2, &it));
    const char *want[] = {"ab", "abc", "abd", "ab\xff", "ab\xff\xff"}; /* 0xff sorts last */
    for (size_t i = 0; i < 5; i++) {
        const void *k;
        size_t kl;
        assert_ok(inmem_iter_next(it, &k, &kl, NULL, NULL, NULL));
        assert_int_equal(kl, strlen(want[i]));
        assert_memory_equal(k, want[i], kl);
    }
    assert_rc(INMEM_NOTFOUND, inmem_iter_next(it, NULL, NULL, NULL, NULL, NULL));
    inmem_iter_free(it);
    /* a prefix of all 0xff bytes has no upper bound within the run */
    assert_ok(inmem_kv_scan_prefix(t, NULL, "\xff", 1, &it));
    assert_rc(INMEM_NOTFOUND, inmem_iter_next(it, NULL, NULL, NULL, NULL, NULL));
    inmem_iter_free(it);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* Acceptance: an overwrite loop keeps memory flat once warm. We count live versions (the
 * memory that grows in an MVCC store) instead of timing or reading RSS. */
static void overwrite_loop_keeps_retained_versions_bounded(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    char key[16];
    inmem_stats s;
    uint64_t peak = 0;
    for (int round = 0; round < 200; round++) {
        for (int k = 0; k < 1000; k++) {
            int n = snprintf(key, sizeof key, "key%04d", k);
            assert_ok(inmem_put(db, NULL, key, (size_t)n, key, (size_t)n, NULL));
        }
        assert_ok(inmem_db_stats(db, &s));
        peak = s.retained_versions > peak ? s.retained_versions : peak;
    }
    assert_int_equal(s.keys, 1000);
    assert_int_equal(s.commits, 200000);
    /* GC runs every few commits: a handful of old versions at most, not 199,000 */
    assert_true(peak <= 64);
    assert_ok(inmem_db_close(db));
}

/* Ending the snapshot that held old versions back frees them with no further commit; ending a
 * newer snapshot (which held nothing back) leaves them, since the old one still needs them. */
static void ending_the_oldest_snapshot_collects_on_an_idle_database(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    assert_ok(inmem_put(db, NULL, "k", 1, "v0", 2, NULL));
    inmem_txn *old, *newer;
    assert_ok(inmem_txn_begin(db, &old));
    for (int i = 0; i < 300; i++)
        assert_ok(inmem_put(db, NULL, "k", 1, "v1", 2, NULL));
    assert_ok(inmem_txn_begin(db, &newer));
    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    assert_true(s.retained_versions >= 300);
    inmem_txn_free(newer);
    assert_ok(inmem_db_stats(db, &s));
    assert_true(s.retained_versions >= 300); /* `old` still sees v0 */
    const void *v;
    size_t n;
    assert_ok(inmem_kv_get(old, NULL, "k", 1, &v, &n, NULL));
    assert_int_equal(n, 2);
    assert_memory_equal(v, "v0", 2);
    inmem_txn_free(old);
    assert_ok(inmem_db_stats(db, &s));
    assert_int_equal(s.open_txns, 0);
    assert_true(s.retained_versions <= 1);
    assert_ok(inmem_db_close(db));
}

static void stats_show_a_forgotten_snapshot(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    assert_ok(inmem_put(db, NULL, "k", 1, "v", 1, NULL));
    inmem_txn *old;
    assert_ok(inmem_txn_begin(db, &old));
    for (int i = 0; i < 500; i++)
        assert_ok(inmem_put(db, NULL, "k", 1, "w", 1, NULL));
    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    assert_int_equal(s.open_txns, 1);
    assert_int_equal(s.oldest_snapshot_version, 1);
    assert_true(s.retained_versions >= 499);
    const void *v;
    assert_ok(inmem_kv_get(old, NULL, "k", 1, &v, NULL, NULL));
    assert_memory_equal(v, "v", 1);
    inmem_txn_free(old); /* ending the snapshot that held the collector back collects */
    assert_ok(inmem_db_stats(db, &s));
    assert_int_equal(s.open_txns, 0);
    assert_int_equal(s.oldest_snapshot_version, 0);
    assert_int_equal(s.retained_versions, 0);
    assert_ok(inmem_db_close(db));
}

static void deleted_keys_are_reclaimed(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    char key[16];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof key, "t%d", i);
        assert_ok(inmem_put(db, NULL, key, (size_t)n, "v", 1, NULL));
        assert_ok(inmem_delete(db, NULL, key, (size_t)n, NULL));
    }
    for (int i = 0; i < 16; i++)
        assert_ok(inmem_put(db, NULL, "x", 1, "v", 1, NULL));
    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    assert_true(s.keys <= 16); /* not 5001 */
    assert_ok(inmem_db_close(db));
}

static void read_only_open_sees_committed_state_beside_a_live_writer(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *w, *r, *other;
    assert_ok(inmem_db_open(dir, NULL, &w));
    for (int i = 0; i < 100; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%d", i);
        assert_ok(inmem_put(w, NULL, k, (size_t)n, k, (size_t)n, NULL));
    }
    /* a second writer is refused, a reader is not */
    assert_rc(INMEM_ELOCKED, inmem_db_open(dir, NULL, &other));
    inmem_options o;
    inmem_options_init(&o);
    o.read_only = 1;
    assert_ok(inmem_db_open(dir, &o, &r));
    inmem_stats sw, sr;
    assert_ok(inmem_db_stats(w, &sw));
    assert_ok(inmem_db_stats(r, &sr));
    assert_int_equal(sr.version, sw.version);
    assert_int_equal(sr.keys, 100);
    assert_rc(INMEM_EREADONLY, inmem_put(r, NULL, "x", 1, "y", 1, NULL));
    /* the view is the state at open: later commits of the writer are not seen */
    assert_ok(inmem_put(w, NULL, "late", 4, "v", 1, NULL));
    assert_rc(INMEM_NOTFOUND, inmem_get(r, NULL, "late", 4, NULL, NULL, NULL));
    void *v = NULL;
    size_t n = 0;
    assert_ok(inmem_get(r, NULL, "k42", 3, &v, &n, NULL));
    assert_memory_equal(v, "k42", 3);
    inmem_free(v);
    assert_ok(inmem_db_close(r));
    assert_ok(inmem_db_close(w));
    /* read-only changes nothing on disk: the writer's next open recovers everything */
    assert_ok(inmem_db_open(dir, NULL, &w));
    assert_ok(inmem_get(w, NULL, "late", 4, NULL, NULL, NULL));
    assert_ok(inmem_db_close(w));
    /* read-only with repair: allowed (a salvage view); on an intact log it changes nothing */
    o.repair = 1;
    assert_ok(inmem_db_open(dir, &o, &r));
    inmem_recovery_info rec;
    assert_ok(inmem_db_recovery(r, &rec));
    assert_int_equal(rec.repaired, 0);
    assert_ok(inmem_db_close(r));
    test_rmdir(dir);
}

/* CONTRACT 1.8: a transaction that hit an error half-way through a multi-write operation can only
 * be aborted; committing it must not apply the half that was staged. */
static void half_done_operation_makes_transaction_abort_only(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    uint64_t mark = inmem__txn_mark(t);
    assert_ok(inmem_kv_put(t, NULL, "half", 4, "1", 1));
    /* the second write of the operation failed: */
    assert_rc(INMEM_ENOMEM, inmem__txn_settle(t, mark, INMEM_ENOMEM));
    assert_rc(INMEM_EMISUSE, inmem_kv_put(t, NULL, "more", 4, "2", 1));
    assert_rc(INMEM_EMISUSE, inmem_kv_get(t, NULL, "half", 4, NULL, NULL, NULL));
    assert_rc(INMEM_ENOMEM, inmem_txn_commit(t));
    inmem_txn_info info;
    assert_ok(inmem_txn_describe(t, &info));
    assert_int_equal(info.state, INMEM_TXN_ABORTED);
    assert_int_equal(info.reason, INMEM_ABORT_ERROR);
    inmem_txn_free(t);
    assert_rc(INMEM_NOTFOUND, inmem_get(db, NULL, "half", 4, NULL, NULL, NULL));
    /* an error before anything was staged leaves the transaction usable */
    assert_ok(inmem_txn_begin(db, &t));
    mark = inmem__txn_mark(t);
    assert_rc(INMEM_EINVAL, inmem__txn_settle(t, mark, INMEM_EINVAL));
    assert_ok(inmem_kv_put(t, NULL, "fine", 4, "1", 1));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* The _db forms run a transaction of the library's own: their errors are the call's result, not
 * aborts the user asked for (inmem_stats.aborts_user), and running out of memory in one counts in
 * aborts_error, as it does for an implicit write. A read that finds nothing counts nowhere. */
static void db_forms_errors_are_not_the_users_aborts(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id run, missing;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    assert_ok(inmem_run_begin_db(db, NULL, &missing));
    assert_ok(inmem_run_delete_db(db, &missing));
    inmem_stats s0 = test_stats(db);
    inmem_run_info info;
    assert_rc(INMEM_NOTFOUND, inmem_run_get_db(db, &missing, &info));
    inmem_stats s1 = test_stats(db);
    assert_int_equal(s1.aborts_user, s0.aborts_user);
    assert_int_equal(s1.aborts_error, s0.aborts_error);
    int done = 0, failures = 0;
    for (long k = 1; !done && k < 200; k++) {
        s0 = test_stats(db);
        test_alloc_fail(k);
        uint64_t seq = 0;
        int rc = inmem_event_append_db(db, &run, "stream", "type", "payload", 7, &seq);
        test_alloc_fail(0);
        s1 = test_stats(db);
        if (s1.aborts_user != s0.aborts_user)
            fail_msg("allocation %ld failing: aborts_user %llu -> %llu", k,
                     (unsigned long long)s0.aborts_user, (unsigned long long)s1.aborts_user);
        if (rc == 0) {
            done = 1;
            assert_int_equal(s1.aborts_error, s0.aborts_error);
            assert_int_equal(s1.commits, s0.commits + 1);
            continue;
        }
        failures++;
        if (rc != INMEM_ENOMEM || s1.aborts_error != s0.aborts_error + 1 ||
            s1.commits != s0.commits)
            fail_msg("allocation %ld failing: %s, aborts_error %llu -> %llu, commits %llu -> %llu",
                     k, inmem_errname(rc), (unsigned long long)s0.aborts_error,
                     (unsigned long long)s1.aborts_error, (unsigned long long)s0.commits,
                     (unsigned long long)s1.commits);
    }
    assert_true(done);
    assert_true(failures >= 1);
    assert_ok(inmem_db_close(db));
}

static pthread_t sig_thread;
static volatile sig_atomic_t sig_count;

/* inmem_stats.aborts_error counts the commits an error ended, implicit writes too, memory and a
 * log that refuses writes (a database opened read-only) among the errors. An implicit write
 * that runs out of memory counts once however far it got: building its key (a long one is
 * built on the heap), making its version before the commit lock, or on the commit path. */
static void implicit_write_that_fails_counts_as_an_error_abort(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    char longkey[300];
    memset(longkey, 'k', sizeof longkey);
    const char *op_names[] = {"put", "put_ttl", "delete", "cas"};
    for (int op = 0; op < 4; op++) {
        for (int lk = 0; lk < 2; lk++) {
            const void *key = lk ? (const void *)longkey : "key";
            size_t klen = lk ? sizeof longkey : 3;
            assert_ok(inmem_put(db, NULL, key, klen, "v0", 2, NULL));
            int done = 0, failures = 0;
            for (long k = 1; !done && k < 100; k++) {
                uint64_t cur = 0;
                assert_ok(inmem_get(db, NULL, key, klen, NULL, NULL, &cur));
                inmem_stats s0 = test_stats(db);
                test_alloc_fail(k);
                int rc = op == 0   ? inmem_put(db, NULL, key, klen, "v1", 2, NULL)
                         : op == 1 ? inmem_put_ttl(db, NULL, key, klen, "v1", 2, 60000, NULL)
                         : op == 2 ? inmem_delete(db, NULL, key, klen, NULL)
                                   : inmem_cas(db, NULL, key, klen, cur, "v1", 2, NULL);
                test_alloc_fail(0);
                inmem_stats s1 = test_stats(db);
                if (rc == 0) {
                    done = 1;
                    assert_int_equal(s1.commits, s0.commits + 1);
                    assert_int_equal(s1.aborts_error, s0.aborts_error);
                    continue;
                }
                failures++;
                if (rc != INMEM_ENOMEM || s1.aborts_error != s0.aborts_error + 1 ||
                    s1.commits != s0.commits)
                    fail_msg("%s (%s key), allocation %ld failing: %s, aborts_error %llu -> %llu, "
                             "commits %llu -> %llu",
                             op_names[op], lk ? "long" : "short", k, inmem_errname(rc),
                             (unsigned long long)s0.aborts_error,
                             (unsigned long long)s1.aborts_error, (unsigned long long)s0.commits,
                             (unsigned long long)s1.commits);
            }
            assert_true(done);
            assert_true(failures >= 1 + lk); /* the version, and the long key's buffer */
        }
    }
    assert_ok(inmem_db_close(db));
    /* a write refused by a database opened read-only: counted too (the log refuses writes) */
    char dir[64];
    test_tmpdir(dir);
    assert_ok(inmem_db_open(dir, NULL, &db));
    assert_ok(inmem_put(db, NULL, "k", 1, "v", 1, NULL));
    assert_ok(inmem_db_close(db));
    inmem_options o;
    inmem_options_init(&o);
    o.read_only = 1;
    assert_ok(inmem_db_open(dir, &o, &db));
    inmem_stats s0 = test_stats(db);
    assert_rc(INMEM_EREADONLY, inmem_put(db, NULL, "k", 1, "w", 1, NULL));
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put(t, NULL, "j", 1, "x", 1));
    assert_rc(INMEM_EREADONLY, inmem_txn_commit(t));
    inmem_txn_free(t);
    inmem_stats s1 = test_stats(db);
    assert_int_equal(s1.aborts_error, s0.aborts_error + 2);
    assert_int_equal(s1.commits, s0.commits);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

static void on_usr1(int sig)
{
    (void)sig;
    sig_thread = pthread_self();
    sig_count++;
}

/* The library's background threads (log syncer, TTL sweeper) block every signal: a signal sent
 * to the process, like SIGINT from a terminal, reaches the application's thread. */
static void background_threads_leave_signals_to_the_application(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db;
    inmem_options o;
    inmem_options_init(&o);
    o.ttl_sweep_interval_ms = 1; /* both threads running */
    assert_ok(inmem_db_open(dir, &o, &db));
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
    sig_count = 0;
    /* with SIGUSR1 blocked here, no thread of the process may take it: it stays pending */
    sigset_t usr1, prev;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &prev);
    for (int i = 0; i < 20; i++) {
        kill(getpid(), SIGUSR1);
        usleep(2000); /* the syncer and the sweeper wake meanwhile */
        assert_int_equal(sig_count, 0);
    }
    pthread_sigmask(SIG_SETMASK, &prev, NULL); /* now it is ours */
    while (sig_count == 0)
        usleep(100);
    assert_true(pthread_equal(sig_thread, pthread_self()));
    sigaction(SIGUSR1, &old, NULL);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* What a long snapshot kept alive is freed when it ends, even on an idle database, slice by slice
 * with the commit lock free between slices (inmem__index_gc_some's budget; storage tests check
 * the slices themselves). */
static void gc_frees_a_long_snapshots_backlog_when_it_ends(void **state)
{
    (void)state;
    enum { KEYS = 20000 };
    inmem_db *db = test_open_mem();
    for (uint32_t k = 0; k < KEYS; k++)
        assert_ok(inmem_put(db, NULL, &k, sizeof k, "a", 1, NULL));
    inmem_txn *snap = test_begin(db);
    assert_rc(INMEM_NOTFOUND, inmem_kv_get(snap, NULL, "x", 1, NULL, NULL, NULL));
    for (uint32_t k = 0; k < KEYS; k++)
        assert_ok(inmem_put(db, NULL, &k, sizeof k, "b", 1, NULL));
    assert_true(test_stats(db).retained_versions >= KEYS);
    inmem_txn_free(snap); /* its end collects, a slice at a time, to the end */
    assert_int_equal(test_stats(db).retained_versions, 0);
    assert_ok(inmem_db_close(db));
}

const struct CMUnitTest engine_tests[] = {
    cmocka_unit_test(background_threads_leave_signals_to_the_application),
    cmocka_unit_test(half_done_operation_makes_transaction_abort_only),
    cmocka_unit_test(read_only_open_sees_committed_state_beside_a_live_writer),
    cmocka_unit_test(open_with_null_options_uses_defaults),
    cmocka_unit_test(implicit_get_returns_an_owned_copy),
    cmocka_unit_test(long_keys_work_end_to_end),
    cmocka_unit_test(prefix_scan_returns_exactly_the_prefix_in_order),
    cmocka_unit_test(overwrite_loop_keeps_retained_versions_bounded),
    cmocka_unit_test(gc_frees_a_long_snapshots_backlog_when_it_ends),
    cmocka_unit_test(ending_the_oldest_snapshot_collects_on_an_idle_database),
    cmocka_unit_test(stats_show_a_forgotten_snapshot),
    cmocka_unit_test(deleted_keys_are_reclaimed),
    cmocka_unit_test(implicit_write_that_fails_counts_as_an_error_abort),
    cmocka_unit_test(db_forms_errors_are_not_the_users_aborts),
};
INMEM_TEST_COUNT(engine);
