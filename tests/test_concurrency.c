/*
 * test_concurrency.c — isolation under real threads: no lost update on hot counters, bank
 * transfers keep their total as seen by concurrent snapshots, multi-key commits are seen whole,
 * concurrent implicit writes all land, and old versions do not pile up under endless overwrites.
 *
 * These tests also run under ThreadSanitizer, so they are kept moderate in size. Worker threads
 * never call cmocka (its assertions longjmp and are not thread-safe): they count failures and
 * record the first one, and the main thread asserts after joining. Nothing here measures time.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"

/* ---- shared helpers --------------------------------------------------------------------- */

/* The first failure seen by any worker thread, reported by the main thread. @p rc is an inmem
 * result, or for a check that is not a call, the value found. */
struct failures {
    atomic_uint count;
    pthread_mutex_t mu;
    char first[256];
};

static void failures_init(struct failures *f)
{
    atomic_init(&f->count, 0);
    pthread_mutex_init(&f->mu, NULL);
    f->first[0] = '\0';
}

static void failures_add(struct failures *f, const char *what, int rc)
{
    if (atomic_fetch_add(&f->count, 1) == 0) {
        pthread_mutex_lock(&f->mu);
        snprintf(f->first, sizeof(f->first), "%s (%d: %s)", what, rc, inmem_errname(rc));
        pthread_mutex_unlock(&f->mu);
    }
}

static void failures_check(struct failures *f)
{
    unsigned n = atomic_load(&f->count);
    pthread_mutex_lock(&f->mu);
    if (n != 0)
        fail_msg("%u failure(s) in worker threads; first: %s", n, f->first);
    pthread_mutex_unlock(&f->mu);
    pthread_mutex_destroy(&f->mu);
}

static void enc_u64(uint8_t out[8], uint64_t n)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)n;
        n >>= 8;
    }
}

static uint64_t dec_u64(const uint8_t in[8])
{
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n = (n << 8) | in[i];
    return n;
}

/* Reads a big-endian u64 in txn; 0 if missing. Returns an inmem code (or INMEM_ECORRUPT for a
 * value of the wrong size). */
static int txn_get_u64(inmem_txn *t, const char *key, uint64_t *n)
{
    const void *v = NULL;
    size_t vl = 0;
    int rc = inmem_kv_get(t, NULL, key, strlen(key), &v, &vl, NULL);
    if (rc == INMEM_NOTFOUND) {
        *n = 0;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (vl != 8)
        return INMEM_ECORRUPT;
    *n = dec_u64(v);
    return 0;
}

static int txn_put_u64(inmem_txn *t, const char *key, uint64_t n)
{
    uint8_t b[8];
    enc_u64(b, n);
    return inmem_kv_put(t, NULL, key, strlen(key), b, sizeof(b));
}

static uint64_t db_get_u64(inmem_db *db, const char *key)
{
    void *v = NULL;
    size_t vl = 0;
    assert_ok(inmem_get(db, NULL, key, strlen(key), &v, &vl, NULL));
    assert_int_equal(vl, 8);
    uint64_t n = dec_u64(v);
    inmem_free(v);
    return n;
}

static void start_threads(pthread_t *th, int n, void *(*fn)(void *), void *args, size_t argsize)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * argsize), 0);
}

static void join_threads(pthread_t *th, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
}

/* ---- hot counters: no lost update ------------------------------------------------------- */

enum { CT_THREADS = 4, CT_ITERS = 2000, CT_COUNTERS = 4 };

struct counter_worker {
    inmem_db *db;
    struct failures *fail;
    uint64_t rng;
    uint64_t runs;      /* callback runs (first attempts and retries) */
    uint64_t committed; /* inmem_db_transact successes */
    const char *key;    /* the counter of the current increment */
};

static const char *const counter_keys[CT_COUNTERS] = {"ctr/0", "ctr/1", "ctr/2", "ctr/3"};

static int cb_increment(inmem_txn *t, void *arg)
{
    struct counter_worker *w = arg;
    w->runs++;
    uint64_t n = 0;
    int rc = txn_get_u64(t, w->key, &n);
    if (rc != 0)
        return rc;
    /* Now and then let another thread run between the read and the commit, so that conflicts
     * (and retries) actually happen; this widens the race window, it does not time anything. */
    if (test_rand(&w->rng) % 4 == 0)
        sched_yield();
    return txn_put_u64(t, w->key, n + 1);
}

static void *counter_thread(void *arg)
{
    struct counter_worker *w = arg;
    inmem_retry_options ro;
    inmem_retry_options_init(&ro);
    ro.max_attempts = 1000000;
    for (int i = 0; i < CT_ITERS; i++) {
        w->key = counter_keys[test_rand(&w->rng) % CT_COUNTERS];
        int rc = inmem_db_transact(w->db, &ro, cb_increment, w);
        if (rc == 0)
            w->committed++;
        else
            failures_add(w->fail, "inmem_db_transact(increment)", rc);
    }
    return NULL;
}

static void concurrency_hot_counters_no_lost_update(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    struct failures fail;
    failures_init(&fail);
    uint64_t seed = test_seed("concurrency_hot_counters_no_lost_update");
    inmem_stats s0 = test_stats(db);

    struct counter_worker w[CT_THREADS];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < CT_THREADS; i++) {
        w[i].db = db;
        w[i].fail = &fail;
        w[i].rng = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)i + 1;
    }
    pthread_t th[CT_THREADS];
    start_threads(th, CT_THREADS, counter_thread, w, sizeof(w[0]));
    join_threads(th, CT_THREADS);
    failures_check(&fail);

    uint64_t total = 0, runs = 0, committed = 0;
    for (int i = 0; i < CT_COUNTERS; i++) {
        void *v = NULL;
        size_t vl = 0;
        int rc = inmem_get(db, NULL, counter_keys[i], strlen(counter_keys[i]), &v, &vl, NULL);
        if (rc == INMEM_NOTFOUND)
            continue; /* never picked (possible, if unlikely) */
        assert_ok(rc);
        assert_int_equal(vl, 8);
        total += dec_u64(v);
        inmem_free(v);
    }
    for (int i = 0; i < CT_THREADS; i++) {
        runs += w[i].runs;
        committed += w[i].committed;
    }
    assert_int_equal(committed, (uint64_t)CT_THREADS * CT_ITERS);
    assert_int_equal(total, (uint64_t)CT_THREADS * CT_ITERS);

    inmem_stats s1 = test_stats(db);
    assert_int_equal(s1.commits - s0.commits, (uint64_t)CT_THREADS * CT_ITERS);
    assert_int_equal(s1.version - s0.version, (uint64_t)CT_THREADS * CT_ITERS);
    /* Every run beyond the first of each increment was a retry after a read conflict. */
    assert_int_equal(s1.retries - s0.retries, runs - committed);
    assert_int_equal(s1.aborts_read_conflict - s0.aborts_read_conflict, runs - committed);
    assert_int_equal(s1.retries_exhausted - s0.retries_exhausted, 0);
    assert_int_equal(s1.open_txns, 0);
    printf("[ INFO     ] %llu increments took %llu runs\n", (unsigned long long)committed,
           (unsigned long long)runs);
    assert_ok(inmem_db_close(db));
}

/* ---- bank transfers keep the total ------------------------------------------------------ */

enum {
    BANK_ACCOUNTS = 10,
    BANK_START = 1000,
    BANK_TOTAL = BANK_ACCOUNTS * BANK_START,
    BANK_WRITERS = 4,
    BANK_READERS = 2,
    BANK_TRANSFERS = 1000
};

struct bank_shared {
    inmem_db *db;
    struct failures *fail;
    atomic_int writers_done;
};

struct bank_worker {
    struct bank_shared *sh;
    uint64_t rng;
    int from, to;
    uint64_t amount;
    uint64_t checks; /* reader: snapshots checked */
};

static void account_key(char *buf, size_t n, int i)
{
    snprintf(buf, n, "acct/%02d", i);
}

static int cb_transfer(inmem_txn *t, void *arg)
{
    struct bank_worker *w = arg;
    char kf[32], kt[32];
    account_key(kf, sizeof(kf), w->from);
    account_key(kt, sizeof(kt), w->to);
    uint64_t bf = 0, bt = 0;
    int rc = txn_get_u64(t, kf, &bf);
    if (rc == 0)
        rc = txn_get_u64(t, kt, &bt);
    if (rc != 0)
        return rc;
    if (bf < w->amount)
        return 0; /* insufficient funds: commit nothing (read-only) */
    if (test_rand(&w->rng) % 4 == 0)
        sched_yield(); /* widen the race window (see cb_increment) */
    rc = txn_put_u64(t, kf, bf - w->amount);
    if (rc == 0)
        rc = txn_put_u64(t, kt, bt + w->amount);
    return rc;
}

static void *bank_writer(void *arg)
{
    struct bank_worker *w = arg;
    inmem_retry_options ro;
    inmem_retry_options_init(&ro);
    ro.max_attempts = 1000000;
    for (int i = 0; i < BANK_TRANSFERS; i++) {
        w->from = (int)(test_rand(&w->rng) % BANK_ACCOUNTS);
        w->to =
            (int)((w->from + 1 + (int)(test_rand(&w->rng) % (BANK_ACCOUNTS - 1))) % BANK_ACCOUNTS);
        w->amount = 1 + test_rand(&w->rng) % 300;
        int rc = inmem_db_transact(w->sh->db, &ro, cb_transfer, w);
        if (rc != 0)
            failures_add(w->sh->fail, "inmem_db_transact(transfer)", rc);
    }
    atomic_fetch_add(&w->sh->writers_done, 1);
    return NULL;
}

/* One snapshot's sum, alternating between a scan and point reads. */
static void bank_check_once(struct bank_worker *w, int use_scan)
{
    inmem_txn *t = NULL;
    int rc = inmem_txn_begin(w->sh->db, &t);
    if (rc != 0) {
        failures_add(w->sh->fail, "reader inmem_txn_begin", rc);
        return;
    }
    uint64_t sum = 0;
    int count = 0;
    if (use_scan) {
        inmem_iter *it = NULL;
        rc = inmem_kv_scan_prefix(t, NULL, LIT("acct/"), &it);
        if (rc != 0) {
            failures_add(w->sh->fail, "reader inmem_kv_scan_prefix", rc);
        } else {
            const void *v = NULL;
            size_t vl = 0;
            while ((rc = inmem_iter_next(it, NULL, NULL, &v, &vl, NULL)) == 0) {
                if (vl != 8) {
                    failures_add(w->sh->fail, "reader: account value of wrong size", (int)vl);
                    break;
                }
                sum += dec_u64(v);
                count++;
            }
            if (rc != 0 && rc != INMEM_NOTFOUND)
                failures_add(w->sh->fail, "reader inmem_iter_next", rc);
            inmem_iter_free(it);
        }
    } else {
        for (int i = 0; i < BANK_ACCOUNTS; i++) {
            char k[32];
            account_key(k, sizeof(k), i);
            uint64_t b = 0;
            const void *v = NULL;
            size_t vl = 0;
            rc = inmem_kv_get(t, NULL, k, strlen(k), &v, &vl, NULL);
            if (rc != 0 || vl != 8) {
                failures_add(w->sh->fail, "reader inmem_kv_get(account)", rc);
                break;
            }
            b = dec_u64(v);
            sum += b;
            count++;
        }
    }
    if (count != BANK_ACCOUNTS)
        failures_add(w->sh->fail, "reader: a snapshot did not hold every account", count);
    else if (sum != BANK_TOTAL)
        failures_add(w->sh->fail, "reader: a snapshot's total was not the bank's total", (int)sum);
    rc = inmem_txn_commit(t); /* read-only: always commits */
    if (rc != 0)
        failures_add(w->sh->fail, "reader inmem_txn_commit (read-only)", rc);
    inmem_txn_free(t);
    w->checks++;
}

static void *bank_reader(void *arg)
{
    struct bank_worker *w = arg;
    /* At least a few checks, then as many as fit while the writers run. */
    while (w->checks < 5 || atomic_load(&w->sh->writers_done) < BANK_WRITERS)
        bank_check_once(w, (int)(w->checks % 2));
    return NULL;
}

static void concurrency_bank_transfers_keep_total_in_every_snapshot(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    struct failures fail;
    failures_init(&fail);
    uint64_t seed = test_seed("concurrency_bank_transfers_keep_total_in_every_snapshot");

    inmem_txn *t = NULL;
    assert_ok(inmem_txn_begin(db, &t));
    for (int i = 0; i < BANK_ACCOUNTS; i++) {
        char k[32];
        account_key(k, sizeof(k), i);
        assert_ok(txn_put_u64(t, k, BANK_START));
    }
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);

    struct bank_shared sh = {.db = db, .fail = &fail};
    atomic_init(&sh.writers_done, 0);
    struct bank_worker w[BANK_WRITERS + BANK_READERS];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < BANK_WRITERS + BANK_READERS; i++) {
        w[i].sh = &sh;
        w[i].rng = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)i + 1;
    }
    pthread_t th[BANK_WRITERS + BANK_READERS];
    start_threads(th, BANK_READERS, bank_reader, w + BANK_WRITERS, sizeof(w[0]));
    start_threads(th + BANK_READERS, BANK_WRITERS, bank_writer, w, sizeof(w[0]));
    join_threads(th, BANK_WRITERS + BANK_READERS);
    failures_check(&fail);

    uint64_t checks = 0;
    for (int i = 0; i < BANK_READERS; i++)
        checks += w[BANK_WRITERS + i].checks;
    printf("[ INFO     ] %llu snapshots checked during the transfers\n",
           (unsigned long long)checks);

    uint64_t sum = 0;
    for (int i = 0; i < BANK_ACCOUNTS; i++) {
        char k[32];
        account_key(k, sizeof(k), i);
        sum += db_get_u64(db, k);
    }
    assert_int_equal(sum, BANK_TOTAL);
    assert_int_equal(test_stats(db).open_txns, 0);
    assert_ok(inmem_db_close(db));
}

/* ---- multi-key commits are seen whole --------------------------------------------------- */

enum { MK_WRITERS = 2, MK_READERS = 2, MK_COMMITS = 2000 };

struct mk_shared {
    inmem_db *db;
    struct failures *fail;
    atomic_int writers_done;
};

struct mk_worker {
    struct mk_shared *sh;
    int id;
    uint64_t checks;
};

static const char *const mk_keys[3] = {"mk/a", "mk/b", "mk/c"};

static void *mk_writer(void *arg)
{
    struct mk_worker *w = arg;
    for (int i = 0; i < MK_COMMITS; i++) {
        char val[48];
        int n = snprintf(val, sizeof(val), "writer %d commit %d", w->id, i);
        inmem_txn *t = NULL;
        int rc = inmem_txn_begin(w->sh->db, &t);
        for (int k = 0; rc == 0 && k < 3; k++)
            rc = inmem_kv_put(t, NULL, mk_keys[k], strlen(mk_keys[k]), val, (size_t)n);
        if (rc == 0)
            rc = inmem_txn_commit(t); /* blind writes: never conflict */
        if (rc != 0)
            failures_add(w->sh->fail, "writer: 3-key blind commit failed", rc);
        inmem_txn_free(t);
    }
    atomic_fetch_add(&w->sh->writers_done, 1);
    return NULL;
}

static void *mk_reader(void *arg)
{
    struct mk_worker *w = arg;
    while (w->checks < 5 || atomic_load(&w->sh->writers_done) < MK_WRITERS) {
        inmem_txn *t = NULL;
        int rc = inmem_txn_begin(w->sh->db, &t);
        if (rc != 0) {
            failures_add(w->sh->fail, "reader inmem_txn_begin", rc);
            return NULL;
        }
        const void *v[3];
        size_t vl[3];
        uint64_t ver[3];
        for (int k = 0; k < 3; k++) {
            rc = inmem_kv_get(t, NULL, mk_keys[k], strlen(mk_keys[k]), &v[k], &vl[k], &ver[k]);
            if (rc != 0)
                break;
        }
        if (rc != 0)
            failures_add(w->sh->fail, "reader inmem_kv_get", rc);
        else if (vl[0] != vl[1] || vl[0] != vl[2] || memcmp(v[0], v[1], vl[0]) != 0 ||
                 memcmp(v[0], v[2], vl[0]) != 0)
            failures_add(w->sh->fail, "reader: the 3 keys differ (a partial commit was seen)", 0);
        else if (ver[0] != ver[1] || ver[0] != ver[2])
            failures_add(w->sh->fail, "reader: the 3 keys carry different versions", 0);
        rc = inmem_txn_commit(t);
        if (rc != 0)
            failures_add(w->sh->fail, "reader inmem_txn_commit (read-only)", rc);
        inmem_txn_free(t);
        w->checks++;
    }
    return NULL;
}

static void concurrency_readers_never_see_partial_three_key_commit(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    struct failures fail;
    failures_init(&fail);
    inmem_txn *t = NULL;
    assert_ok(inmem_txn_begin(db, &t));
    for (int k = 0; k < 3; k++)
        assert_ok(inmem_kv_put(t, NULL, mk_keys[k], strlen(mk_keys[k]), LIT("initial")));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);

    struct mk_shared sh = {.db = db, .fail = &fail};
    atomic_init(&sh.writers_done, 0);
    struct mk_worker w[MK_WRITERS + MK_READERS];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < MK_WRITERS + MK_READERS; i++) {
        w[i].sh = &sh;
        w[i].id = i;
    }
    pthread_t th[MK_WRITERS + MK_READERS];
    start_threads(th, MK_READERS, mk_reader, w + MK_WRITERS, sizeof(w[0]));
    start_threads(th + MK_READERS, MK_WRITERS, mk_writer, w, sizeof(w[0]));
    join_threads(th, MK_WRITERS + MK_READERS);
    failures_check(&fail);

    /* The final state is one writer's last commit, whole. */
    void *v0 = NULL, *v1 = NULL;
    size_t l0 = 0, l1 = 0;
    uint64_t ver0 = 0, ver1 = 0;
    assert_ok(inmem_get(db, NULL, mk_keys[0], strlen(mk_keys[0]), &v0, &l0, &ver0));
    for (int k = 1; k < 3; k++) {
        assert_ok(inmem_get(db, NULL, mk_keys[k], strlen(mk_keys[k]), &v1, &l1, &ver1));
        assert_int_equal(l0, l1);
        assert_memory_equal(v0, v1, l0);
        assert_int_equal(ver0, ver1);
        inmem_free(v1);
        v1 = NULL;
    }
    assert_true(l0 > 10 && memcmp(v0, "writer", 6) == 0);
    assert_memory_equal((const char *)v0 + l0 - 4, "1999", 4);
    inmem_free(v0);
    inmem_stats s = test_stats(db);
    assert_int_equal(s.commits, 1 + (uint64_t)MK_WRITERS * MK_COMMITS);
    assert_ok(inmem_db_close(db));
}

/* ---- concurrent implicit puts ----------------------------------------------------------- */

enum { IP_THREADS = 4, IP_PUTS = 1000 };

struct ip_worker {
    inmem_db *db;
    struct failures *fail;
    int id;
    uint64_t versions[IP_PUTS];
};

static void *ip_thread(void *arg)
{
    struct ip_worker *w = arg;
    for (int i = 0; i < IP_PUTS; i++) {
        char k[32], v[32];
        int kl = snprintf(k, sizeof(k), "t%d/%05d", w->id, i);
        int vl = snprintf(v, sizeof(v), "value %d.%d", w->id, i);
        int rc = inmem_put(w->db, NULL, k, (size_t)kl, v, (size_t)vl, &w->versions[i]);
        if (rc != 0)
            failures_add(w->fail, "inmem_put", rc);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void concurrency_implicit_puts_to_distinct_keys_all_land(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    struct failures fail;
    failures_init(&fail);
    inmem_stats s0 = test_stats(db);

    struct ip_worker *w = calloc(IP_THREADS, sizeof(*w));
    assert_non_null(w);
    for (int i = 0; i < IP_THREADS; i++) {
        w[i].db = db;
        w[i].fail = &fail;
        w[i].id = i;
    }
    pthread_t th[IP_THREADS];
    start_threads(th, IP_THREADS, ip_thread, w, sizeof(w[0]));
    join_threads(th, IP_THREADS);
    failures_check(&fail);

    /* Every put is there with its value and the version its call returned. */
    for (int t = 0; t < IP_THREADS; t++)
        for (int i = 0; i < IP_PUTS; i++) {
            char k[32], v[32];
            int kl = snprintf(k, sizeof(k), "t%d/%05d", t, i);
            int vl = snprintf(v, sizeof(v), "value %d.%d", t, i);
            void *got = NULL;
            size_t gl = 0;
            uint64_t ver = 0;
            assert_ok(inmem_get(db, NULL, k, (size_t)kl, &got, &gl, &ver));
            assert_int_equal(gl, (size_t)vl);
            assert_memory_equal(got, v, gl);
            assert_int_equal(ver, w[t].versions[i]);
            inmem_free(got);
        }

    /* Each put was its own commit: the versions are exactly s0.version+1 .. s0.version+N. */
    const size_t n = (size_t)IP_THREADS * IP_PUTS;
    uint64_t *all = calloc(n, sizeof(*all));
    assert_non_null(all);
    for (int t = 0; t < IP_THREADS; t++)
        memcpy(all + (size_t)t * IP_PUTS, w[t].versions, sizeof(w[t].versions));
    qsort(all, n, sizeof(*all), cmp_u64);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(all[i], s0.version + 1 + i);
    free(all);

    inmem_txn *t = NULL;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_iter *it = NULL;
    assert_ok(inmem_kv_scan(t, NULL, NULL, 0, NULL, 0, &it));
    size_t count = 0;
    while (inmem_iter_next(it, NULL, NULL, NULL, NULL, NULL) == 0)
        count++;
    inmem_iter_free(it);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_int_equal(count, n);

    inmem_stats s1 = test_stats(db);
    assert_int_equal(s1.commits - s0.commits, n);
    assert_int_equal(s1.version - s0.version, n);
    assert_int_equal(s1.keys - s0.keys, n);
    free(w);
    assert_ok(inmem_db_close(db));
}

/* ---- memory stays bounded --------------------------------------------------------------- */

enum { MB_KEYS = 100, MB_WRITERS = 2, MB_READERS = 2, MB_ROUNDS = 50 };

struct mb_shared {
    inmem_db *db;
    struct failures *fail;
    atomic_int writers_done;
};

struct mb_worker {
    struct mb_shared *sh;
    int id;
    uint64_t rng;
    uint64_t reads;
};

static void *mb_writer(void *arg)
{
    struct mb_worker *w = arg;
    for (int r = 0; r < MB_ROUNDS; r++)
        for (int i = 0; i < MB_KEYS; i++) {
            char k[32], v[32];
            int kl = snprintf(k, sizeof(k), "hot/%03d", i);
            int vl = snprintf(v, sizeof(v), "w%d r%d", w->id, r);
            int rc = inmem_put(w->sh->db, NULL, k, (size_t)kl, v, (size_t)vl, NULL);
            if (rc != 0)
                failures_add(w->sh->fail, "writer inmem_put", rc);
        }
    atomic_fetch_add(&w->sh->writers_done, 1);
    return NULL;
}

static void *mb_reader(void *arg)
{
    struct mb_worker *w = arg;
    while (w->reads < 5 || atomic_load(&w->sh->writers_done) < MB_WRITERS) {
        inmem_txn *t = NULL;
        int rc = inmem_txn_begin(w->sh->db, &t);
        if (rc != 0) {
            failures_add(w->sh->fail, "reader inmem_txn_begin", rc);
            return NULL;
        }
        for (int j = 0; j < 3; j++) {
            char k[32];
            int kl = snprintf(k, sizeof(k), "hot/%03d", (int)(test_rand(&w->rng) % MB_KEYS));
            rc = inmem_kv_get(t, NULL, k, (size_t)kl, NULL, NULL, NULL);
            if (rc != 0 && rc != INMEM_NOTFOUND)
                failures_add(w->sh->fail, "reader inmem_kv_get", rc);
        }
        rc = inmem_txn_commit(t);
        if (rc != 0)
            failures_add(w->sh->fail, "reader inmem_txn_commit (read-only)", rc);
        inmem_txn_free(t);
        w->reads++;
    }
    return NULL;
}

static void concurrency_memory_bounded_under_endless_overwrites(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    struct failures fail;
    failures_init(&fail);
    uint64_t seed = test_seed("concurrency_memory_bounded_under_endless_overwrites");

    struct mb_shared sh = {.db = db, .fail = &fail};
    atomic_init(&sh.writers_done, 0);
    struct mb_worker w[MB_WRITERS + MB_READERS];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < MB_WRITERS + MB_READERS; i++) {
        w[i].sh = &sh;
        w[i].id = i;
        w[i].rng = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)i + 1;
    }
    pthread_t th[MB_WRITERS + MB_READERS];
    start_threads(th, MB_READERS, mb_reader, w + MB_WRITERS, sizeof(w[0]));
    start_threads(th + MB_READERS, MB_WRITERS, mb_writer, w, sizeof(w[0]));
    join_threads(th, MB_WRITERS + MB_READERS);
    failures_check(&fail);

    inmem_stats s = test_stats(db);
    assert_int_equal(s.commits, (uint64_t)MB_WRITERS * MB_ROUNDS * MB_KEYS);
    assert_int_equal(s.keys, MB_KEYS);
    assert_int_equal(s.open_txns, 0);
    assert_int_equal(s.oldest_snapshot_version, 0);
    /* 10000 overwrites of 100 keys; with no snapshot open any more, only a bounded number of
     * old versions may remain (not thousands). */
    const uint64_t bound = (uint64_t)MB_KEYS * (MB_WRITERS + MB_READERS);
    if (s.retained_versions > bound)
        fail_msg("retained_versions is %llu after %d overwrites with no open snapshot; expected "
                 "<= %llu",
                 (unsigned long long)s.retained_versions, MB_WRITERS * MB_ROUNDS * MB_KEYS,
                 (unsigned long long)bound);
    assert_ok(inmem_db_close(db));
}

/* A growth of the hash table moves its entries over many commits while readers look in both
 * tables: a reader that looks up any key committed before its lookup always finds it, through
 * several growths (to 2^19 slots) and the migrations between them. */
struct grow_arg {
    inmem_db *db;
    _Atomic uint32_t committed; /* keys 0..committed-1 are in */
    _Atomic int stop;
    uint64_t lookups, misses;
};

static void *grow_reader(void *p)
{
    struct grow_arg *a = p;
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)p;
    while (!atomic_load(&a->stop)) {
        uint32_t n = atomic_load(&a->committed);
        if (!n)
            continue;
        inmem_txn *t;
        if (inmem_txn_begin_readonly(a->db, &t) != 0)
            continue;
        for (int i = 0; i < 64; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            uint32_t k = (uint32_t)(rng % n);
            a->lookups++;
            if (inmem_kv_get(t, NULL, &k, sizeof k, NULL, NULL, NULL) != 0)
                a->misses++;
        }
        inmem_txn_free(t);
    }
    return NULL;
}

static void concurrency_readers_find_every_key_while_the_hash_table_grows(void **state)
{
    (void)state;
    enum { KEYS = 200000 };
    struct grow_arg a = {.db = test_open_mem()};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, grow_reader, &a), 0);
    for (uint32_t k = 0; k < KEYS; k++) {
        assert_ok(inmem_put(a.db, NULL, &k, sizeof k, "v", 1, NULL));
        atomic_store(&a.committed, k + 1);
    }
    atomic_store(&a.stop, 1);
    pthread_join(th, NULL);
    if (a.misses)
        fprintf(stderr, "%llu of %llu lookups of committed keys missed\n",
                (unsigned long long)a.misses, (unsigned long long)a.lookups);
    assert_int_equal(a.misses, 0);
    assert_true(a.lookups > 0);
    assert_ok(inmem_db_close(a.db));
}

const struct CMUnitTest concurrency_tests[] = {
    cmocka_unit_test(concurrency_hot_counters_no_lost_update),
    cmocka_unit_test(concurrency_bank_transfers_keep_total_in_every_snapshot),
    cmocka_unit_test(concurrency_readers_never_see_partial_three_key_commit),
    cmocka_unit_test(concurrency_implicit_puts_to_distinct_keys_all_land),
    cmocka_unit_test(concurrency_memory_bounded_under_endless_overwrites),
    cmocka_unit_test(concurrency_readers_find_every_key_while_the_hash_table_grows),
};
INMEM_TEST_COUNT(concurrency);
