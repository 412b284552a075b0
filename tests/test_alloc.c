/*
 * test_alloc.c — a failing allocator: every allocation the library makes during a workload is
 * made to fail in turn (the test binary is linked with -Wl,--wrap for malloc, calloc, realloc,
 * aligned_alloc and the version allocator, inmem__valloc, so the calls from the statically linked
 * library come here). Each failure must
 * surface as INMEM_ENOMEM (or leave the operation's result unchanged), never crash, never leak
 * (LeakSanitizer checks at exit under SAN=address), and never leave half a transaction applied.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
void *__real_inmem__valloc(unsigned cls);
void *__wrap_inmem__valloc(unsigned cls);

/* 0: off; otherwise the number of allocations left before one fails (then off again) */
static _Thread_local long countdown;
static _Thread_local int failed;

static int should_fail(void)
{
    if (countdown > 0 && --countdown == 0) {
        failed = 1;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    return should_fail() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
    return should_fail() ? NULL : __real_aligned_alloc(a, n);
}

void *__wrap_inmem__valloc(unsigned cls)
{
    return should_fail() ? NULL : __real_inmem__valloc(cls);
}

void test_alloc_fail(long n)
{
    countdown = n;
    if (n)
        failed = 0;
}

int test_alloc_failed(void)
{
    return failed;
}

/* The threads started (pthread_create, wrapped too) by this thread, and how many of them would
 * take an application's SIGINT or SIGTERM: a new thread starts with its creator's signal mask. */
int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

static _Thread_local int threads_started, threads_unblocked;

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    threads_started++;
    if (!sigismember(&cur, SIGINT) || !sigismember(&cur, SIGTERM))
        threads_unblocked++;
    return __real_pthread_create(t, attr, fn, arg);
}

void test_threads_started(int *started, int *unblocked)
{
    *started = threads_started;
    *unblocked = threads_unblocked;
    threads_started = threads_unblocked = 0;
}

/* The workload: returns 0 if everything succeeded, else the first error. It must leave no
 * memory behind whatever fails. Checks that a failed transaction changed nothing. */
static int workload(const char *dir)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = dir ? INMEM_DURABILITY_STRICT : INMEM_DURABILITY_NONE;
    o.ttl_sweep_interval_ms = 0;
    inmem_db *db = NULL;
    int rc = inmem_db_open(dir, &o, &db);
    if (rc)
        return rc;
    inmem_run_id run;
    inmem_run_id_new(&run);
    for (int i = 0; i < 40 && rc == 0; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "key%02d", i);
        rc = inmem_put(db, &run, k, (size_t)n, k, (size_t)n, NULL);
    }
    inmem_txn *t = NULL;
    if (rc == 0)
        rc = inmem_txn_begin(db, &t);
    for (int i = 0; i < 20 && rc == 0; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "t%02d", i);
        const void *v;
        rc = inmem_kv_get(t, &run, "key01", 5, &v, NULL, NULL);
        if (rc == 0)
            rc = inmem_kv_put(t, &run, k, (size_t)n, "v", 1);
    }
    inmem_iter *it = NULL;
    if (rc == 0)
        rc = inmem_kv_scan_prefix(t, &run, "t", 1, &it);
    while (rc == 0 && (rc = inmem_iter_next(it, NULL, NULL, NULL, NULL, NULL)) == 0)
        ;
    if (rc == INMEM_NOTFOUND)
        rc = 0;
    inmem_iter_free(it);
    if (rc == 0)
        rc = inmem_event_append(t, &run, "log", "step", LIT("payload"), NULL);
    if (rc == 0)
        rc = inmem_state_cas(t, &run, "cell", 0, LIT("x"));
    if (rc == 0)
        rc = inmem_txn_commit(t);
    inmem_txn_free(t);
    /* all or nothing: the transaction's keys are either all there or all absent */
    if (db) {
        int present = 0;
        void *v = NULL;
        for (int i = 0; i < 20; i++) {
            char k[16];
            int n = snprintf(k, sizeof k, "t%02d", i);
            long saved = countdown;
            countdown = 0; /* checking must not fail */
            present += inmem_get(db, &run, k, (size_t)n, &v, NULL, NULL) == 0;
            inmem_free(v);
            v = NULL;
            countdown = saved;
        }
        if (present != 0 && present != 20)
            fail_msg("a failed allocation left %d of 20 writes of a transaction applied", present);
    }
    if (rc == 0) {
        inmem_stats s;
        rc = inmem_db_stats(db, &s);
    }
    long saved = countdown;
    countdown = 0;
    assert_ok(inmem_db_close(db));
    countdown = saved;
    return rc;
}

/* Fails allocation 1, 2, 3, ... of the workload until it runs through without a failure. */
static void fail_each_allocation(int logged)
{
    int completed = 0;
    long n;
    for (n = 1; n < 5000 && !completed; n++) {
        char dir[64];
        if (logged)
            test_tmpdir(dir);
        countdown = n;
        failed = 0;
        int rc = workload(logged ? dir : NULL);
        if (logged) {
            long saved = countdown;
            countdown = 0;
            /* whatever failed, the log recovers: reopen and close */
            inmem_options o;
            inmem_options_init(&o);
            o.durability = INMEM_DURABILITY_STRICT;
            inmem_db *db;
            int rc2 = inmem_db_open(dir, &o, &db);
            if (rc2)
                fail_msg("after allocation %ld failed, reopening gave %s: %s", n,
                         inmem_errname(rc2), inmem_errmsg());
            assert_ok(inmem_db_close(db));
            test_rmdir(dir);
            countdown = saved;
        }
        int hit = failed;
        countdown = 0;
        if (!hit) {
            assert_ok(rc); /* no allocation failed: the workload must have succeeded */
            completed = 1;
        } else if (rc != 0 && rc != INMEM_ENOMEM) {
            fail_msg("allocation %ld failed: the workload returned %s, not INMEM_ENOMEM", n,
                     inmem_errname(rc));
        }
    }
    assert_true(completed);
    printf("[ INFO     ] %ld allocation failure points exercised\n", n - 1);
}

/* An iterator that runs out of memory after it stepped past an entry (recording it in the read
 * set) keeps returning INMEM_ENOMEM: a caller that retries never gets the next key as if the
 * lost one had not been there. */
static void an_iterator_out_of_memory_never_skips_an_entry(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    for (int i = 0; i < 100; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%03d", i);
        assert_ok(inmem_put(db, NULL, k, (size_t)n, "v", 1, NULL));
    }
    int hits = 0;
    for (long n = 1; n < 64; n++) {
        inmem_txn *t;
        assert_ok(inmem_txn_begin(db, &t));
        inmem_iter *it;
        assert_ok(inmem_kv_scan(t, NULL, NULL, 0, NULL, 0, &it));
        countdown = n;
        failed = 0;
        int rc, got = 0;
        while ((rc = inmem_iter_next(it, NULL, NULL, NULL, NULL, NULL)) == 0)
            got++;
        if (rc == INMEM_ENOMEM) {
            hits++;
            countdown = 0;
            rc = inmem_iter_next(it, NULL, NULL, NULL, NULL, NULL);
            if (rc != INMEM_ENOMEM)
                fail_msg("allocation %ld: after INMEM_ENOMEM at entry %d, the next call gave %s", n,
                         got, inmem_errname(rc));
        } else {
            assert_rc(INMEM_NOTFOUND, rc);
        }
        countdown = 0;
        inmem_iter_free(it);
        inmem_txn_free(t);
    }
    assert_true(hits > 0);
    assert_ok(inmem_db_close(db));
}

/* A replay that fails (out of memory) keeps failing: the commit it was reading is not skipped by
 * the next call, so a consumer that retries never applies the feed with a hole in it; it frees
 * the replay and begins again after the last version it saw. */
static void a_replay_out_of_memory_never_skips_a_commit(void **state)
{
    (void)state;
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.history_versions = 100;
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(NULL, &o, &db));
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    for (int i = 0; i < 20; i++) { /* commits of 1 to 20 writes: the change buffer grows */
        inmem_txn *t = test_begin(db);
        for (int j = 0; j <= i; j++) {
            char k[16];
            int n = snprintf(k, sizeof k, "k%02d", j);
            assert_ok(inmem_kv_put(t, &run, k, (size_t)n, "v", 1));
        }
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
    }
    int hits = 0;
    for (long n = 1; n < 80; n++) {
        inmem_txn *t = test_begin(db);
        inmem_replay *r = NULL;
        if (inmem_run_replay(t, &run, 0, &r) != 0) { /* (only memory can fail it here) */
            inmem_txn_free(t);
            continue;
        }
        uint64_t v = 0, last = 0;
        const inmem_change *c;
        size_t nc;
        test_alloc_fail(n);
        int rc;
        while ((rc = inmem_replay_next(r, &v, NULL, &c, &nc)) == 0)
            last = v;
        test_alloc_fail(0);
        if (rc == INMEM_ENOMEM) {
            hits++;
            rc = inmem_replay_next(r, &v, NULL, &c, &nc);
            if (rc != INMEM_ENOMEM)
                fail_msg("allocation %ld: after INMEM_ENOMEM past version %llu, the next call gave "
                         "%s (version %llu)",
                         n, (unsigned long long)last, inmem_errname(rc), (unsigned long long)v);
        } else {
            assert_rc(INMEM_NOTFOUND, rc);
        }
        inmem_replay_free(r);
        inmem_txn_free(t);
    }
    assert_true(hits > 0);
    assert_ok(inmem_db_close(db));
}

/* A CAS in a fork on a long inherited key needs a copy of the parent's key at commit; if it cannot
 * be made, the commit fails (INMEM_ENOMEM), it never takes the key for absent and overwrites
 * it. */
static void a_fork_cas_out_of_memory_at_commit_never_commits(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    size_t klen = 300;
    char *key = malloc(klen);
    assert_non_null(key);
    memset(key, 'k', klen);
    inmem_run_id parent, fork;
    assert_ok(inmem_run_begin_db(db, NULL, &parent));
    uint64_t ver = 0;
    assert_ok(inmem_put(db, &parent, key, klen, "parent", 6, &ver));
    assert_ok(inmem_run_fork_db(db, &parent, 0, NULL, &fork));
    int clobbered = 0, tried = 0;
    for (long n = 1; n < 40 && !clobbered; n++) {
        inmem_txn *t = test_begin(db);
        assert_ok(inmem_kv_cas(t, &fork, key, klen, 0, "clobber", 7)); /* expects absence */
        test_alloc_fail(n);
        int rc = inmem_txn_commit(t);
        int hit = test_alloc_failed();
        test_alloc_fail(0);
        inmem_txn_info info;
        inmem_txn_describe(t, &info);
        inmem_txn_free(t);
        tried++;
        /* read the fork's key back */
        inmem_txn *r = test_begin(db);
        const void *val = NULL;
        size_t vlen = 0;
        uint64_t v = 0;
        int g = inmem_kv_get(r, &fork, key, klen, &val, &vlen, &v);
        if (g == 0 && vlen == 7 && memcmp(val, "clobber", 7) == 0) {
            clobbered = 1;
            printf("allocation %ld failed (hit=%d): commit returned %s, state %d, version %llu\n",
                   n, hit, inmem_errname(rc), (int)info.state, (unsigned long long)v);
        }
        inmem_txn_free(r);
        if (!hit)
            break; /* no allocation failed: the normal CONFLICT path */
    }
    if (clobbered)
        fail_msg("a CAS expecting absence overwrote an inherited key after an allocation failure "
                 "during validation");
    free(key);
    assert_ok(inmem_db_close(db));
}

static void every_allocation_failure_is_reported_cleanly(void **state)
{
    (void)state;
    fail_each_allocation(0);
}

static void every_allocation_failure_with_a_log_is_reported_and_recoverable(void **state)
{
    (void)state;
    fail_each_allocation(1);
}

const struct CMUnitTest alloc_tests[] = {
    cmocka_unit_test(every_allocation_failure_is_reported_cleanly),
    cmocka_unit_test(an_iterator_out_of_memory_never_skips_an_entry),
    cmocka_unit_test(a_replay_out_of_memory_never_skips_a_commit),
    cmocka_unit_test(a_fork_cas_out_of_memory_at_commit_never_commits),
    cmocka_unit_test(every_allocation_failure_with_a_log_is_reported_and_recoverable),
};
INMEM_TEST_COUNT(alloc);
