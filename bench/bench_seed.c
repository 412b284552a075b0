/*
 * bench_seed.c — the original plan's ("the seed's") performance targets, issue 14 items 5 and 6
 * (`inmem_bench --seed` runs this section alone; the full `inmem_bench` runs it last).
 *
 * Every database holds 100,000 keys of 16 bytes with 100-byte values (each value carries its
 * key's index and a counter), preloaded in transactions of 1,000 puts, not timed. Each
 * measurement runs in R rounds (3 quick, 5 with --full), the rounds of the different cells
 * interleaved (round 1 of every cell, then round 2, ...) so that a burst of load on this shared
 * machine hits one round of each cell rather than every round of one; each figure printed is the
 * median of its rounds' figures, with the rounds' min–max beside it.
 *
 *   1. Commit latency by read-set size (item 5): one thread; a transaction is inmem_txn_begin,
 *      N inmem_kv_gets of N distinct keys (consecutive entries of a random permutation of the
 *      100,000), an inmem_kv_put of the first key read (its counter + 1), inmem_txn_commit,
 *      inmem_txn_free; N = 1, 10, 100, 1,000; durability none (in memory) and batched (the
 *      default: logged, fsync in the background). Timed with CLOCK_MONOTONIC: the commit call
 *      alone (the validation of the N reads, the apply and, batched, the log append), and the
 *      whole transaction from before the begin to after the free. p50 and p99 by nearest rank,
 *      mean over every sample of the round.
 *   2. The seed's targets (item 6):
 *      - > 10 K txn/s single-threaded: read-modify-write transactions (begin, kv_get, kv_put of
 *        the same random key, commit, free) in each durability mode; committed txns over the
 *        round's wall time.
 *      - ~500 K concurrent reads/s: 2 threads (this machine has 2 cores), each reading random
 *        keys; one read is a read-only transaction of one get (inmem_txn_begin_readonly,
 *        inmem_kv_get, commit, free), and, as a second row, an implicit inmem_get (a copy,
 *        freed); reads of both threads over the round's wall time, with their "par" (below).
 *      - conflict rate < 5 % on the agent workloads: those of bench/compare/agent.c, each with 2
 *        threads, durability none: CAS claim (both threads walk the same task list and claim each
 *        task still free; in a transaction: state_get, state_cas expected 0, commit; and with
 *        inmem_state_cas_db), event append and trace record (in a transaction, retried on a
 *        conflict; each thread in its own run: agent.c runs them with 1 thread, which cannot
 *        conflict), and, not one of agent.c's, event append by both threads to one stream of one
 *        run. Conflict rate = (inmem_stats.aborts_read_conflict + aborts_cas_conflict) / (commits
 *        + those aborts): aborts by conflict over the writing commits attempted (read-only
 *        commits, which cannot conflict, are left out of the denominator). Two threads conflict
 *        only while both run: on this shared 2-core machine they often take turns on one core,
 *        so each round also gives "par", the two threads' CPU time over its wall time (2: side
 *        by side throughout; about 1: taking turns), and a line's status is judged on its rounds
 *        with par >= 1.3 ("unresolved" when there is none).
 *      - snapshot creation < 10 ms at 100 K keys: inmem_txn_begin alone (then a read-only
 *        commit and free, untimed), with the database idle and while a second thread commits
 *        read-modify-write transactions; p50, p99 and max.
 *      - validation < 1 ms: the commit call of part 1 at N = 1,000 (p50 for "typical"; p99
 *        beside it).
 * Checks: every value read carries its key's index; afterwards the counters of every key sum to
 * the transactions committed, stats.commits moved by exactly that and (one thread) no conflict
 * was counted; the first transaction of each cell and round has a read set of N and a write set
 * of 1 (inmem_txn_describe); reads are counted as read-only commits; claims are never doubled;
 * event streams have one event per append.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "inmem.h"

#define S_KEY_LEN    16
#define S_VAL_LEN    100
#define S_KEYS       100000u
#define S_BATCH      1000u
#define S_MAX_READS  1000u
#define S_NSIZES     4
#define S_CAP        ((size_t)1 << 21) /* samples per round and cell; a round stops at it */
#define S_MAX_ROUNDS 5

static const uint32_t read_sizes[S_NSIZES] = {1, 10, 100, 1000};

/* ---- failure, time, randomness, keys and values ------------------------------------------ */

__attribute__((format(printf, 1, 2))) static void sdie(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("inmem_bench (seed): ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void sck(int rc, const char *what)
{
    if (rc != INMEM_OK)
        sdie("%s failed: %s (%s) %s", what, inmem_errname(rc), inmem_strerror(rc), inmem_errmsg());
}

static void *sxmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        sdie("out of memory (%zu bytes)", n);
    return p;
}

static uint64_t snow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t srand64(uint64_t *s) /* xorshift64* */
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static uint32_t sbelow(uint64_t *s, uint32_t n)
{
    return (uint32_t)(((srand64(s) >> 32) * n) >> 32);
}

/* Key i is "key:" and 12 decimal digits (bench.c's keys). */
static void skey(uint64_t i, unsigned char key[S_KEY_LEN])
{
    memcpy(key, "key:", 4);
    for (int d = S_KEY_LEN - 1; d >= 4; d--) {
        key[d] = (unsigned char)('0' + i % 10);
        i /= 10;
    }
}

static void sval_set(unsigned char val[S_VAL_LEN], uint64_t idx, uint64_t counter)
{
    memset(val, 'v', S_VAL_LEN);
    memcpy(val, &idx, 8);
    memcpy(val + 8, &counter, 8);
}

/* Checks that @p val belongs to key @p idx and returns its counter. */
static uint64_t sval_check(const void *val, size_t vlen, uint64_t idx, const char *where)
{
    uint64_t got, counter;
    if (!val || vlen != S_VAL_LEN)
        sdie("%s: key %" PRIu64 " has a %zu-byte value", where, idx, vlen);
    memcpy(&got, val, 8);
    memcpy(&counter, (const unsigned char *)val + 8, 8);
    if (got != idx)
        sdie("%s: key %" PRIu64 " returned the value of key %" PRIu64, where, idx, got);
    return counter;
}

/* ---- samples and rounds ------------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One round's latency figures, in µs. */
typedef struct lat {
    double p50, p99, mean, max;
    size_t n;
} lat;

static lat lat_of(uint32_t *v, size_t n)
{
    lat l = {0, 0, 0, 0, n};
    if (!n)
        return l;
    qsort(v, n, sizeof *v, cmp_u32);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    l.p50 = v[(n * 50 + 99) / 100 - 1] / 1e3;
    l.p99 = v[(n * 99 + 99) / 100 - 1] / 1e3;
    l.mean = sum / (double)n / 1e3;
    l.max = v[n - 1] / 1e3;
    return l;
}

/* A figure over the rounds: median, min, max. */
typedef struct spread {
    double med, lo, hi;
} spread;

static spread spread_of(const double *x, int n)
{
    double v[S_MAX_ROUNDS];
    memcpy(v, x, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    spread s = {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1]};
    return s;
}

static uint32_t sclamp(uint64_t x)
{
    return x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
}

/* "1.23 [1.10-1.40]" with @p prec decimals. */
static const char *fmt_spread(char *buf, size_t cap, spread s, int prec)
{
    snprintf(buf, cap, "%.*f [%.*f-%.*f]", prec, s.med, prec, s.lo, prec, s.hi);
    return buf;
}

/* A rate with K/M: "1.23M [1.10M-1.40M]". */
static const char *fmt_rate1(char *buf, size_t cap, double r)
{
    if (r >= 1e6)
        snprintf(buf, cap, "%.2fM", r / 1e6);
    else if (r >= 1e3)
        snprintf(buf, cap, "%.1fK", r / 1e3);
    else
        snprintf(buf, cap, "%.0f", r);
    return buf;
}

static const char *fmt_rate(char *buf, size_t cap, spread s)
{
    char a[32], b[32], c[32];
    snprintf(buf, cap, "%s [%s-%s]", fmt_rate1(a, sizeof a, s.med), fmt_rate1(b, sizeof b, s.lo),
             fmt_rate1(c, sizeof c, s.hi));
    return buf;
}

/* ---- databases --------------------------------------------------------------------------- */

static const char *const mode_name[] = {"none", "async", "batched", "strict"};

typedef struct sdb {
    inmem_db *db;
    inmem_durability mode;
    char dir[256];
    uint64_t committed; /* read-modify-write commits made by this file's workloads */
} sdb;

static void sdb_open(sdb *d, inmem_durability mode, uint32_t nkeys)
{
    memset(d, 0, sizeof *d);
    d->mode = mode;
    inmem_options o;
    inmem_options_init(&o);
    o.durability = mode;
    if (mode != INMEM_DURABILITY_NONE)
        bench_tmp_dir(d->dir, sizeof d->dir);
    sck(inmem_db_open(mode == INMEM_DURABILITY_NONE ? NULL : d->dir, &o, &d->db), "inmem_db_open");
    unsigned char key[S_KEY_LEN], val[S_VAL_LEN];
    for (uint32_t base = 0; base < nkeys; base += S_BATCH) {
        inmem_txn *txn;
        sck(inmem_txn_begin(d->db, &txn), "inmem_txn_begin (preload)");
        for (uint32_t i = base; i < nkeys && i < base + S_BATCH; i++) {
            skey(i, key);
            sval_set(val, i, 0);
            sck(inmem_kv_put(txn, NULL, key, S_KEY_LEN, val, S_VAL_LEN), "inmem_kv_put (preload)");
        }
        sck(inmem_txn_commit(txn), "inmem_txn_commit (preload)");
        inmem_txn_free(txn);
    }
}

static inmem_stats sstats(inmem_db *db)
{
    inmem_stats s;
    sck(inmem_db_stats(db, &s), "inmem_db_stats");
    return s;
}

/* Checks that the counters of keys 0..nkeys-1 sum to the read-modify-writes committed. */
static void sdb_verify(sdb *d, uint32_t nkeys, const char *where)
{
    unsigned char key[S_KEY_LEN];
    uint64_t sum = 0;
    for (uint32_t i = 0; i < nkeys; i++) {
        void *val;
        size_t vlen;
        skey(i, key);
        sck(inmem_get(d->db, NULL, key, S_KEY_LEN, &val, &vlen, NULL), "inmem_get (verify)");
        sum += sval_check(val, vlen, i, where);
        inmem_free(val);
    }
    if (sum != d->committed)
        sdie("%s: counters sum to %" PRIu64 " after %" PRIu64 " committed transactions", where, sum,
             d->committed);
}

static void sdb_close(sdb *d)
{
    sck(bench_close(d->db), "inmem_db_close");
    if (d->dir[0])
        bench_rm_dir(d->dir);
}

/* ---- 1. commit latency by read-set size -------------------------------------------------- */

typedef struct readset {
    uint32_t *perm; /* a random permutation of the keys; reads take consecutive entries */
    uint32_t cur;
    uint64_t rng;
    unsigned char *keys; /* S_MAX_READS keys */
    uint32_t *commit_ns, *txn_ns;
} readset;

/* One round of one cell: transactions reading @p n keys for @p dur_ns. The first one is checked
 * with inmem_txn_describe() and not timed. */
static void readset_round(readset *rs, sdb *d, uint32_t n, uint64_t dur_ns, lat *commit, lat *whole)
{
    size_t ns = 0;
    uint64_t end = snow() + dur_ns;
    uint32_t idx[S_MAX_READS];
    unsigned char val[S_VAL_LEN];
    for (int first = 1;; first = 0) {
        if (ns == S_CAP || (!first && snow() >= end))
            break;
        for (uint32_t i = 0; i < n; i++) {
            idx[i] = rs->perm[rs->cur];
            rs->cur = rs->cur + 1 == S_KEYS ? 0 : rs->cur + 1;
            skey(idx[i], rs->keys + (size_t)i * S_KEY_LEN);
        }
        uint64_t t0 = snow();
        inmem_txn *txn;
        const void *v;
        size_t vlen;
        uint64_t c0 = 0;
        sck(inmem_txn_begin(d->db, &txn), "inmem_txn_begin");
        for (uint32_t i = 0; i < n; i++) {
            sck(inmem_kv_get(txn, NULL, rs->keys + (size_t)i * S_KEY_LEN, S_KEY_LEN, &v, &vlen,
                             NULL),
                "inmem_kv_get");
            uint64_t c = sval_check(v, vlen, idx[i], "read set");
            if (i == 0)
                c0 = c;
        }
        sval_set(val, idx[0], c0 + 1);
        sck(inmem_kv_put(txn, NULL, rs->keys, S_KEY_LEN, val, S_VAL_LEN), "inmem_kv_put");
        if (first) {
            inmem_txn_info info;
            sck(inmem_txn_describe(txn, &info), "inmem_txn_describe");
            if (info.read_set_size != n || info.write_set_size != 1)
                sdie("read set %" PRIu32 ": read set %zu, write set %zu", n, info.read_set_size,
                     info.write_set_size);
        }
        uint64_t t1 = snow();
        int rc = inmem_txn_commit(txn);
        uint64_t t2 = snow();
        inmem_txn_free(txn);
        uint64_t t3 = snow();
        sck(rc, "inmem_txn_commit");
        d->committed++;
        if (!first) {
            rs->commit_ns[ns] = sclamp(t2 - t1);
            rs->txn_ns[ns] = sclamp(t3 - t0);
            ns++;
        }
    }
    *commit = lat_of(rs->commit_ns, ns);
    *whole = lat_of(rs->txn_ns, ns);
}

/* Part 1's results, per durability (none, batched) and read-set size, per round. */
typedef struct readset_res {
    lat commit[2][S_NSIZES][S_MAX_ROUNDS], whole[2][S_NSIZES][S_MAX_ROUNDS];
    int rounds;
} readset_res;

static void part_readset(int rounds, uint64_t dur_ns, readset_res *res)
{
    static const inmem_durability modes[2] = {INMEM_DURABILITY_NONE, INMEM_DURABILITY_BATCHED};
    sdb d[2];
    readset rs = {.rng = 0x6A09E667F3BCC909ull};
    rs.perm = sxmalloc(S_KEYS * sizeof *rs.perm);
    rs.keys = sxmalloc((size_t)S_MAX_READS * S_KEY_LEN);
    rs.commit_ns = sxmalloc(S_CAP * sizeof(uint32_t));
    rs.txn_ns = sxmalloc(S_CAP * sizeof(uint32_t));
    memset(rs.commit_ns, 0, S_CAP * sizeof(uint32_t));
    memset(rs.txn_ns, 0, S_CAP * sizeof(uint32_t));
    for (uint32_t i = 0; i < S_KEYS; i++)
        rs.perm[i] = i;
    for (uint32_t i = S_KEYS - 1; i > 0; i--) {
        uint32_t j = sbelow(&rs.rng, i + 1), t = rs.perm[i];
        rs.perm[i] = rs.perm[j];
        rs.perm[j] = t;
    }
    inmem_stats s0[2];
    for (int m = 0; m < 2; m++) {
        sdb_open(&d[m], modes[m], S_KEYS);
        s0[m] = sstats(d[m].db);
    }
    /* warm-up: one short pass over every cell */
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < S_NSIZES; k++) {
            lat a, b;
            readset_round(&rs, &d[m], read_sizes[k], dur_ns / 4, &a, &b);
        }
    res->rounds = rounds;
    for (int r = 0; r < rounds; r++)
        for (int m = 0; m < 2; m++)
            for (int k = 0; k < S_NSIZES; k++)
                readset_round(&rs, &d[m], read_sizes[k], dur_ns, &res->commit[m][k][r],
                              &res->whole[m][k][r]);
    for (int m = 0; m < 2; m++) {
        inmem_stats s = sstats(d[m].db);
        if (s.commits - s0[m].commits != d[m].committed ||
            s.aborts_read_conflict != s0[m].aborts_read_conflict)
            sdie("read set (%s): %" PRIu64 " commits made, stats.commits +%" PRIu64
                 ", read conflicts +%" PRIu64,
                 mode_name[modes[m]], d[m].committed, s.commits - s0[m].commits,
                 s.aborts_read_conflict - s0[m].aborts_read_conflict);
        sdb_verify(&d[m], S_KEYS, "read set");
        sdb_close(&d[m]);
    }
    free(rs.perm);
    free(rs.keys);
    free(rs.commit_ns);
    free(rs.txn_ns);
}

static spread lat_field(const lat *l, int rounds, int field)
{
    double x[S_MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        x[r] = field == 0 ? l[r].p50 : field == 1 ? l[r].p99 : l[r].mean;
    return spread_of(x, rounds);
}

static void print_readset(const readset_res *res, uint64_t dur_ns)
{
    printf("\ncommit latency by read-set size (issue 14 item 5): 1 thread, 100,000 keys; begin, N "
           "kv_gets of distinct\nrandom keys, kv_put of the first, commit, free. commit = the "
           "inmem_txn_commit() call alone; txn = begin to free.\nus; median of %d rounds of %.2f s "
           "[min-max of the rounds]; each round's p50/p99 by nearest rank, mean of all its "
           "samples\n",
           res->rounds, (double)dur_ns / 1e9);
    printf("%-7s %5s %20s %20s %20s %20s %20s %20s %8s\n", "mode", "reads", "commit p50",
           "commit p99", "commit mean", "txn p50", "txn p99", "txn mean", "txns/rnd");
    static const char *const mn[2] = {"none", "batched"};
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < S_NSIZES; k++) {
            char b[6][64];
            double n[S_MAX_ROUNDS];
            for (int r = 0; r < res->rounds; r++)
                n[r] = (double)res->whole[m][k][r].n;
            for (int f = 0; f < 3; f++) {
                fmt_spread(b[f], sizeof b[f], lat_field(res->commit[m][k], res->rounds, f), 2);
                fmt_spread(b[3 + f], sizeof b[3 + f], lat_field(res->whole[m][k], res->rounds, f),
                           2);
            }
            printf("%-7s %5" PRIu32 " %20s %20s %20s %20s %20s %20s %8.0f\n", mn[m], read_sizes[k],
                   b[0], b[1], b[2], b[3], b[4], b[5], spread_of(n, res->rounds).med);
        }
}

/* ---- 2a. single-threaded read-modify-write transactions per second ----------------------- */

/* Committed read-modify-write transactions per second over @p dur_ns. */
static double rmw_round(sdb *d, uint64_t *rng, uint64_t dur_ns)
{
    unsigned char key[S_KEY_LEN], val[S_VAL_LEN];
    uint64_t n = 0, start = snow(), end = start + dur_ns, now = start;
    while (now < end) {
        uint32_t idx = sbelow(rng, S_KEYS);
        skey(idx, key);
        inmem_txn *txn;
        const void *v;
        size_t vlen;
        sck(inmem_txn_begin(d->db, &txn), "inmem_txn_begin");
        sck(inmem_kv_get(txn, NULL, key, S_KEY_LEN, &v, &vlen, NULL), "inmem_kv_get");
        sval_set(val, idx, sval_check(v, vlen, idx, "rmw") + 1);
        sck(inmem_kv_put(txn, NULL, key, S_KEY_LEN, val, S_VAL_LEN), "inmem_kv_put");
        sck(inmem_txn_commit(txn), "inmem_txn_commit");
        inmem_txn_free(txn);
        d->committed++;
        n++;
        now = snow();
    }
    return (double)n * 1e9 / (double)(now - start);
}

/* CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID): the threads' CPU times over the
 * wall time of a two-thread round tell how much of it they really ran side by side (2.0: all
 * of it; about 1.0: they took turns on one core, the rest of the machine being busy). */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- 2b. concurrent reads ---------------------------------------------------------------- */

typedef struct rd_thread {
    pthread_t th;
    inmem_db *db;
    pthread_barrier_t *bar;
    int implicit; /* 1: inmem_get; 0: a read-only transaction of one kv_get */
    uint64_t rng, dur_ns, n, start, end, cpu;
} rd_thread;

static void *rd_main(void *arg)
{
    rd_thread *t = arg;
    unsigned char key[S_KEY_LEN];
    pthread_barrier_wait(t->bar);
    uint64_t c0 = cpu_ns(), start = snow(), end = start + t->dur_ns, now = start, n = 0;
    while (now < end) {
        for (int k = 0; k < 16; k++, n++) {
            uint32_t idx = sbelow(&t->rng, S_KEYS);
            skey(idx, key);
            if (t->implicit) {
                void *v;
                size_t vlen;
                sck(inmem_get(t->db, NULL, key, S_KEY_LEN, &v, &vlen, NULL), "inmem_get");
                sval_check(v, vlen, idx, "read");
                inmem_free(v);
            } else {
                inmem_txn *txn;
                const void *v;
                size_t vlen;
                sck(inmem_txn_begin_readonly(t->db, &txn), "inmem_txn_begin_readonly");
                sck(inmem_kv_get(txn, NULL, key, S_KEY_LEN, &v, &vlen, NULL), "inmem_kv_get");
                sval_check(v, vlen, idx, "read");
                sck(inmem_txn_commit(txn), "inmem_txn_commit (read-only)");
                inmem_txn_free(txn);
            }
        }
        now = snow();
    }
    t->n = n;
    t->cpu = cpu_ns() - c0;
    t->start = start;
    t->end = now;
    return NULL;
}

#define RD_THREADS 2
/* A two-thread round whose threads' CPU time reached this much of its wall time ran side by
 * side; below it they mostly took turns on one core. */
#define SIDE_BY_SIDE 1.3

/* Reads per second of RD_THREADS threads together over @p dur_ns; *par: their parallelism. */
static double reads_round(inmem_db *db, int implicit, uint64_t seed, uint64_t dur_ns, double *par)
{
    pthread_barrier_t bar;
    rd_thread t[RD_THREADS];
    if (pthread_barrier_init(&bar, NULL, RD_THREADS))
        sdie("pthread_barrier_init failed");
    inmem_stats s0 = sstats(db);
    for (int i = 0; i < RD_THREADS; i++) {
        t[i] = (rd_thread){.db = db,
                           .bar = &bar,
                           .implicit = implicit,
                           .rng = seed * (uint64_t)(2 * i + 1) | 1,
                           .dur_ns = dur_ns};
        if (pthread_create(&t[i].th, NULL, rd_main, &t[i]))
            sdie("pthread_create failed");
    }
    uint64_t n = 0, start = UINT64_MAX, end = 0, cpu = 0;
    for (int i = 0; i < RD_THREADS; i++) {
        pthread_join(t[i].th, NULL);
        n += t[i].n;
        cpu += t[i].cpu;
        start = t[i].start < start ? t[i].start : start;
        end = t[i].end > end ? t[i].end : end;
    }
    pthread_barrier_destroy(&bar);
    inmem_stats s = sstats(db);
    if (s.commits_readonly - s0.commits_readonly != n || s.commits != s0.commits)
        sdie("reads: %" PRIu64 " reads but commits_readonly +%" PRIu64 ", commits +%" PRIu64, n,
             s.commits_readonly - s0.commits_readonly, s.commits - s0.commits);
    *par = (double)cpu / (double)(end - start);
    return (double)n * 1e9 / (double)(end - start);
}

/* ---- 2c. conflict rate on the agent workloads -------------------------------------------- */

enum {
    AG_CLAIM_TXN,   /* CAS claim in a transaction (agent.c) */
    AG_CLAIM_DB,    /* CAS claim with inmem_state_cas_db (agent.c) */
    AG_EVENT_OWN,   /* event append in a transaction, each thread its own run */
    AG_TRACE_OWN,   /* trace record in a transaction, each thread its own run */
    AG_EVENT_SHARE, /* event append in a transaction, both threads one stream of one run */
    AG_N
};

static const char *const ag_name[AG_N] = {
    "CAS claim (txn), 2 threads", "CAS claim (db), 2 threads", "event append (txn), 2 runs",
    "trace record (txn), 2 runs", "event append (txn), 1 shared stream"};

typedef struct ag_shared {
    inmem_db *db;
    inmem_run_id runs[2];
    int kind;
    char prefix[32];
} ag_shared;

typedef struct ag_thread {
    pthread_t th;
    ag_shared *sh;
    pthread_barrier_t *bar;
    int tid;
    uint64_t dur_ns, ops, next_task, appended, start, end, cpu;
    uint64_t *won;
    size_t nwon, capwon;
} ag_thread;

/* Commits @p txn and frees it: 0 or INMEM_CONFLICT. */
static int ag_commit(inmem_txn *txn)
{
    int rc = inmem_txn_commit(txn);
    inmem_txn_free(txn);
    if (rc != INMEM_CONFLICT)
        sck(rc, "inmem_txn_commit");
    return rc;
}

static void ag_claim(ag_thread *t)
{
    ag_shared *sh = t->sh;
    char name[64], val[32];
    int vlen = snprintf(val, sizeof val, "claimed-by-%d", t->tid);
    uint64_t task = t->next_task++;
    snprintf(name, sizeof name, "%s-task-%" PRIu64, sh->prefix, task);
    int rc;
    if (sh->kind == AG_CLAIM_DB) {
        rc = inmem_state_cas_db(sh->db, &sh->runs[0], name, 0, val, (size_t)vlen, NULL);
    } else {
        inmem_txn *txn;
        sck(inmem_txn_begin(sh->db, &txn), "inmem_txn_begin");
        rc = inmem_state_get(txn, &sh->runs[0], name, NULL, NULL, NULL);
        if (rc == 0) { /* claimed already: skip it (a read-only commit) */
            sck(ag_commit(txn), "read-only commit");
            return;
        }
        if (rc != INMEM_NOTFOUND)
            sck(rc, "inmem_state_get");
        sck(inmem_state_cas(txn, &sh->runs[0], name, 0, val, (size_t)vlen), "inmem_state_cas");
        rc = ag_commit(txn);
    }
    if (rc == INMEM_CONFLICT)
        return;
    sck(rc, "claim");
    if (t->nwon == t->capwon) {
        t->capwon = t->capwon ? 2 * t->capwon : 4096;
        t->won = realloc(t->won, t->capwon * sizeof *t->won);
        if (!t->won)
            sdie("out of memory");
    }
    t->won[t->nwon++] = task;
}

static void ag_span(ag_thread *t, inmem_span *s, const uint8_t *payload)
{
    memset(s, 0, sizeof *s);
    s->kind = INMEM_TRACE_TOOL_CALL;
    snprintf(s->name, sizeof s->name, "%s.search", t->sh->prefix);
    s->input = payload;
    s->input_len = S_VAL_LEN;
    s->output = payload;
    s->output_len = S_VAL_LEN;
    s->confidence = 0.5;
    s->start_ms = 1700000000000ull + t->ops;
    s->duration_us = 1000;
    s->ntags = 1;
    snprintf(s->tags[0], sizeof s->tags[0], "bench");
}

/* An append or a trace record in a transaction, retried until it commits. */
static void ag_write(ag_thread *t)
{
    ag_shared *sh = t->sh;
    const inmem_run_id *run = &sh->runs[sh->kind == AG_EVENT_SHARE ? 0 : t->tid];
    uint8_t payload[S_VAL_LEN];
    memset(payload, 'e', sizeof payload);
    memcpy(payload, &t->ops, sizeof t->ops);
    for (;;) {
        inmem_txn *txn;
        sck(inmem_txn_begin(sh->db, &txn), "inmem_txn_begin");
        if (sh->kind == AG_TRACE_OWN) {
            inmem_span s;
            ag_span(t, &s, payload);
            sck(inmem_trace_record(txn, run, &s, NULL), "inmem_trace_record");
        } else {
            sck(inmem_event_append(txn, run, sh->prefix, "tool_call", payload, sizeof payload,
                                   NULL),
                "inmem_event_append");
        }
        if (ag_commit(txn) == 0)
            break;
    }
    t->appended++;
}

static void *ag_main(void *arg)
{
    ag_thread *t = arg;
    int claim = t->sh->kind == AG_CLAIM_TXN || t->sh->kind == AG_CLAIM_DB;
    pthread_barrier_wait(t->bar);
    uint64_t c0 = cpu_ns();
    t->start = snow();
    uint64_t end = t->start + t->dur_ns;
    while ((t->end = snow()) < end)
        for (int k = 0; k < 8; k++, t->ops++) {
            if (claim)
                ag_claim(t);
            else
                ag_write(t);
        }
    t->cpu = cpu_ns() - c0;
    return NULL;
}

typedef struct ag_res {
    double rate; /* conflicts / writing commits attempted */
    uint64_t conflicts, attempts, readonly;
    double par; /* the two threads' CPU time over the round's wall time */
} ag_res;

static void ag_check(ag_shared *sh, ag_thread *t)
{
    if (sh->kind == AG_CLAIM_TXN || sh->kind == AG_CLAIM_DB) {
        uint64_t hi = t[0].next_task > t[1].next_task ? t[0].next_task : t[1].next_task;
        uint8_t *owner = calloc(hi + 1, 1);
        if (!owner)
            sdie("out of memory");
        for (int i = 0; i < 2; i++)
            for (size_t j = 0; j < t[i].nwon; j++) {
                if (owner[t[i].won[j]])
                    sdie("CAS claim: task %" PRIu64 " claimed twice", t[i].won[j]);
                owner[t[i].won[j]] = (uint8_t)(i + 1);
            }
        uint64_t lo = t[0].next_task < t[1].next_task ? t[0].next_task : t[1].next_task;
        for (uint64_t task = 0; task < lo; task++)
            if (!owner[task])
                sdie("CAS claim: task %" PRIu64 " passed by both threads but never claimed", task);
        free(owner);
        return;
    }
    for (int i = 0; i < (sh->kind == AG_EVENT_SHARE ? 1 : 2); i++) {
        if (sh->kind == AG_TRACE_OWN)
            continue;
        inmem_stream_info si;
        sck(inmem_event_stream_info_db(sh->db, &sh->runs[i], sh->prefix, &si),
            "inmem_event_stream_info_db");
        uint64_t want = sh->kind == AG_EVENT_SHARE ? t[0].appended + t[1].appended : t[i].appended;
        if (si.length != want)
            sdie("event append: stream has %" PRIu64 " events, %" PRIu64 " appended", si.length,
                 want);
    }
}

static ag_res ag_round(inmem_db *db, const inmem_run_id runs[2], int kind, int round,
                       uint64_t dur_ns)
{
    ag_shared sh = {.db = db, .kind = kind};
    sh.runs[0] = runs[0];
    sh.runs[1] = runs[1];
    snprintf(sh.prefix, sizeof sh.prefix, "a%d-r%d", kind, round);
    pthread_barrier_t bar;
    ag_thread t[2];
    if (pthread_barrier_init(&bar, NULL, 2))
        sdie("pthread_barrier_init failed");
    inmem_stats s0 = sstats(db);
    for (int i = 0; i < 2; i++) {
        t[i] = (ag_thread){.sh = &sh, .bar = &bar, .tid = i, .dur_ns = dur_ns};
        if (pthread_create(&t[i].th, NULL, ag_main, &t[i]))
            sdie("pthread_create failed");
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i].th, NULL);
    pthread_barrier_destroy(&bar);
    inmem_stats s = sstats(db);
    ag_check(&sh, t);
    for (int i = 0; i < 2; i++)
        free(t[i].won);
    ag_res r;
    r.conflicts = (s.aborts_read_conflict - s0.aborts_read_conflict) +
                  (s.aborts_cas_conflict - s0.aborts_cas_conflict);
    r.attempts = (s.commits - s0.commits) + r.conflicts;
    r.readonly = s.commits_readonly - s0.commits_readonly;
    r.rate = r.attempts ? (double)r.conflicts / (double)r.attempts : 0;
    uint64_t start = t[0].start < t[1].start ? t[0].start : t[1].start;
    uint64_t end = t[0].end > t[1].end ? t[0].end : t[1].end;
    r.par = (double)(t[0].cpu + t[1].cpu) / (double)(end - start);
    return r;
}

/* ---- 2d. snapshot creation --------------------------------------------------------------- */

typedef struct writer_thread {
    pthread_t th;
    sdb *d;
    atomic_int stop;
    uint64_t rng;
} writer_thread;

static void *writer_main(void *arg)
{
    writer_thread *w = arg;
    while (!atomic_load(&w->stop))
        rmw_round(w->d, &w->rng, 1000000); /* 1 ms at a time */
    return NULL;
}

/* inmem_txn_begin alone, for @p dur_ns; a read-only commit and the free are not timed. */
static lat begin_round(inmem_db *db, uint32_t *ns_buf, uint64_t dur_ns)
{
    size_t n = 0;
    uint64_t end = snow() + dur_ns;
    while (n < S_CAP && snow() < end) {
        inmem_txn *txn;
        uint64_t t0 = snow();
        int rc = inmem_txn_begin(db, &txn);
        uint64_t t1 = snow();
        sck(rc, "inmem_txn_begin");
        sck(inmem_txn_commit(txn), "inmem_txn_commit (read-only)");
        inmem_txn_free(txn);
        ns_buf[n++] = sclamp(t1 - t0);
    }
    return lat_of(ns_buf, n);
}

/* Serial fdatasync()s of 128-byte appends to a file under $TMPDIR, per second: what bounds a
 * single strict committer. */
static double fsync_probe(uint64_t dur_ns)
{
    char dir[256], path[320];
    bench_tmp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/probe", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        sdie("cannot create %s", path);
    char buf[128];
    memset(buf, 'p', sizeof buf);
    uint64_t n = 0, start = snow(), now = start;
    while (now < start + dur_ns) {
        if (fwrite(buf, 1, sizeof buf, f) != sizeof buf || fflush(f) || fdatasync(fileno(f)))
            sdie("fsync probe: write or fdatasync failed");
        n++;
        now = snow();
    }
    fclose(f);
    bench_rm_dir(dir);
    return (double)n * 1e9 / (double)(now - start);
}

/* ---- the section ------------------------------------------------------------------------- */

/* The machine's load now: /proc/loadavg and the "some" line of /proc/pressure/cpu. */
static void print_load(const char *when)
{
    char la[128] = "?", psi[160] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fgets(la, sizeof la, f))
            la[strcspn(la, "\n")] = '\0';
        fclose(f);
    }
    if ((f = fopen("/proc/pressure/cpu", "r")) != NULL) {
        if (fgets(psi, sizeof psi, f))
            psi[strcspn(psi, "\n")] = '\0';
        fclose(f);
    }
    printf("%s: loadavg %s | cpu pressure %s\n", when, la, psi);
}

static const char *met(int ok)
{
    return ok ? "met" : "MISSED";
}

void bench_seed(int full)
{
    int rounds = full ? 5 : 3;
    uint64_t readset_ns = full ? 400000000ull : 40000000ull;
    uint64_t win_ns = full ? 500000000ull : 50000000ull;
    uint64_t t_start = snow();
    fprintf(stderr, "inmem_bench: seed targets: commit latency by read-set size...\n");
    printf("\n");
    print_load("seed section start");

    readset_res *rres = sxmalloc(sizeof *rres);
    part_readset(rounds, readset_ns, rres);
    print_readset(rres, readset_ns);
    fflush(stdout);

    uint64_t t_rmw = snow();
    /* 2a: read-modify-write transactions, one thread, each durability */
    fprintf(stderr, "inmem_bench: seed targets: single-threaded txn/s, reads, conflicts, "
                    "snapshots...\n");
    sdb dm[4];
    for (int m = 0; m < 4; m++)
        sdb_open(&dm[m], (inmem_durability)m, S_KEYS);
    double rmw[4][S_MAX_ROUNDS];
    uint64_t rng = 0xBB67AE8584CAA73Bull;
    for (int m = 0; m < 4; m++)
        rmw_round(&dm[m], &rng, win_ns / 4); /* warm-up */
    for (int r = 0; r < rounds; r++)
        for (int m = 0; m < 4; m++)
            rmw[m][r] = rmw_round(&dm[m], &rng, win_ns);
    for (int m = 1; m < 4; m++) {
        inmem_stats s = sstats(dm[m].db);
        if (s.aborts_read_conflict)
            sdie("rmw (%s): %" PRIu64 " conflicts with one thread", mode_name[m],
                 s.aborts_read_conflict);
        sdb_verify(&dm[m], S_KEYS, "rmw");
        sdb_close(&dm[m]);
    }
    sdb *d = &dm[0]; /* kept, durability none, for reads and snapshots */

    uint64_t t_reads = snow();
    /* 2b: concurrent reads, 2 threads */
    double reads[2][S_MAX_ROUNDS], rpar[2][S_MAX_ROUNDS], ignore;
    reads_round(d->db, 0, 0x3C6EF372FE94F82Bull, win_ns / 4, &ignore); /* warm-up */
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < 2; k++)
            reads[k][r] =
                reads_round(d->db, k, 0xA54FF53A5F1D36F1ull + (uint64_t)r, win_ns, &rpar[k][r]);

    uint64_t t_snap = snow();
    /* 2d: snapshot creation, idle and beside a committing thread */
    uint32_t *ns_buf = sxmalloc(S_CAP * sizeof(uint32_t));
    memset(ns_buf, 0, S_CAP * sizeof(uint32_t));
    lat snap[2][S_MAX_ROUNDS];
    begin_round(d->db, ns_buf, win_ns / 4); /* warm-up */
    for (int r = 0; r < rounds; r++) {
        snap[0][r] = begin_round(d->db, ns_buf, win_ns);
        writer_thread w = {.d = d, .rng = 0x510E527FADE682D1ull + (uint64_t)r};
        if (pthread_create(&w.th, NULL, writer_main, &w))
            sdie("pthread_create failed");
        snap[1][r] = begin_round(d->db, ns_buf, win_ns);
        atomic_store(&w.stop, 1);
        pthread_join(w.th, NULL);
    }
    free(ns_buf);
    {
        inmem_stats s = sstats(d->db);
        if (s.keys != S_KEYS)
            sdie("snapshots: %" PRIu64 " keys, expected %u", s.keys, S_KEYS);
        sdb_verify(d, S_KEYS, "rmw and snapshots");
        sdb_close(d);
    }

    uint64_t t_ag = snow();
    /* 2c: conflict rate on the agent workloads, durability none, one database */
    inmem_db *adb;
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    sck(inmem_db_open(NULL, &o, &adb), "inmem_db_open");
    inmem_run_id runs[2];
    for (int i = 0; i < 2; i++) {
        inmem_run_options ro;
        inmem_run_options_init(&ro);
        ro.agent = i ? "seed-b" : "seed-a";
        sck(inmem_run_begin_db(adb, &ro, &runs[i]), "inmem_run_begin_db");
    }
    ag_res ag[AG_N][S_MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < AG_N; k++)
            ag[k][r] = ag_round(adb, runs, k, r, win_ns);
    sck(bench_close(adb), "inmem_db_close");
    uint64_t t_agents = snow();
    double fsync_rate = fsync_probe(full ? 1000000000ull : 200000000ull);
    fprintf(stderr,
            "  seed: read sets %.1f s, txn/s %.1f s, reads %.1f s, snapshots %.1f s, agents %.1f "
            "s, fsync probe %.1f s\n",
            (double)(t_rmw - t_start) / 1e9, (double)(t_reads - t_rmw) / 1e9,
            (double)(t_snap - t_reads) / 1e9, (double)(t_ag - t_snap) / 1e9,
            (double)(t_agents - t_ag) / 1e9, (double)(snow() - t_agents) / 1e9);

    /* ---- the table ---- */
    char b[4][128];
    printf("\nthe seed's targets (issue 14 item 6): median of %d rounds of %.2f s [min-max of "
           "the rounds]; 100,000 keys\n",
           rounds, (double)win_ns / 1e9);
    printf("%-58s %-52s %s\n", "target", "measured", "status");
    for (int m = 0; m < 4; m++) {
        spread s = spread_of(rmw[m], rounds);
        char what[160];
        snprintf(what, sizeof what, "> 10K txn/s, 1 thread, read-modify-write, %s", mode_name[m]);
        printf("%-58s %-52s %s\n", what, fmt_rate(b[0], sizeof b[0], s), met(s.med > 10000));
    }
    printf("%-58s %.0f fdatasync/s (the bound for one strict committer)\n",
           "  this disk, serial 128-byte appends + fdatasync", fsync_rate);
    static const char *const rn[2] = {"~500K reads/s, 2 threads, read-only txn of 1 get",
                                      "~500K reads/s, 2 threads, implicit inmem_get"};
    for (int k = 0; k < 2; k++) {
        spread s = spread_of(reads[k], rounds), p = spread_of(rpar[k], rounds);
        snprintf(b[1], sizeof b[1], "%s, par %.2f [%.2f-%.2f]", fmt_rate(b[0], sizeof b[0], s),
                 p.med, p.lo, p.hi);
        printf("%-58s %-52s %s\n", rn[k], b[1], met(s.med >= 500000));
    }
    for (int k = 0; k < AG_N; k++) {
        double x[S_MAX_ROUNDS], px[S_MAX_ROUNDS], xs[S_MAX_ROUNDS];
        uint64_t c = 0, a = 0, ro = 0;
        int ns = 0;
        char per[256] = "", *pp = per;
        for (int r = 0; r < rounds; r++) {
            x[r] = 100 * ag[k][r].rate;
            px[r] = ag[k][r].par;
            if (px[r] >= SIDE_BY_SIDE)
                xs[ns++] = x[r];
            c += ag[k][r].conflicts;
            a += ag[k][r].attempts;
            ro += ag[k][r].readonly;
            pp += snprintf(pp, sizeof per - (size_t)(pp - per), " %.2f%%@%.2f", x[r], px[r]);
        }
        spread s = spread_of(x, rounds);
        char what[160], m[320];
        snprintf(what, sizeof what, "conflicts < 5%%: %s", ag_name[k]);
        snprintf(m, sizeof m, "%s %% (%" PRIu64 "/%" PRIu64 "%s), par %.2f",
                 fmt_spread(b[0], sizeof b[0], s, 2), c, a, ro ? ", +ro" : "",
                 spread_of(px, rounds).med);
        /* judged on the rounds whose threads ran side by side: the others tell little about
         * concurrent agents */
        const char *st = "unresolved";
        if (ns) {
            double side = spread_of(xs, ns).med;
            st = k == AG_EVENT_SHARE ? (side < 5 ? "(met)" : "(missed)") : met(side < 5);
            snprintf(b[1], sizeof b[1], "side by side: %.2f %% (%d of %d rounds)", side, ns,
                     rounds);
        } else {
            snprintf(b[1], sizeof b[1], "side by side: no round with par >= %.1f", SIDE_BY_SIDE);
            if (k == AG_EVENT_SHARE)
                st = "(unresolved)";
        }
        printf("%-58s %-52s %s\n", what, m, st);
        printf("  %-56s %-52s\n", b[1], per + 1);
    }
    static const char *const sn[2] = {"snapshot < 10 ms @100K keys: inmem_txn_begin, idle",
                                      "  ... beside a thread committing read-modify-writes"};
    for (int k = 0; k < 2; k++) {
        double p50[S_MAX_ROUNDS], p99[S_MAX_ROUNDS], mx = 0;
        for (int r = 0; r < rounds; r++) {
            p50[r] = snap[k][r].p50;
            p99[r] = snap[k][r].p99;
            mx = snap[k][r].max > mx ? snap[k][r].max : mx;
        }
        spread a = spread_of(p50, rounds), c = spread_of(p99, rounds);
        snprintf(b[1], sizeof b[1], "p50 %.3f us, p99 %.3f us, max %.3f ms", a.med, c.med,
                 mx / 1e3);
        printf("%-58s %-52s %s\n", sn[k], b[1], met(c.hi < 10000));
    }
    static const char *const vn[2] = {"validation < 1 ms: commit @1000 reads, none (p50, p99)",
                                      "validation < 1 ms: commit @1000 reads, batched (p50, p99)"};
    for (int m = 0; m < 2; m++) {
        spread p50 = lat_field(rres->commit[m][S_NSIZES - 1], rounds, 0);
        spread p99 = lat_field(rres->commit[m][S_NSIZES - 1], rounds, 1);
        snprintf(b[2], sizeof b[2], "%.1f us, %.1f us [p50 %.1f-%.1f]", p50.med, p99.med, p50.lo,
                 p50.hi);
        printf("%-58s %-52s %s\n", vn[m], b[2], met(p50.med < 1000));
    }
    printf("conflict rate = aborts by conflict / (writing commits + those aborts), from "
           "inmem_stats; (n/m): over all rounds;\n+ro: the read-only commits of skipped tasks, "
           "not counted. The shared-stream line is not one of bench/compare's agent workloads.\n"
           "par: the two threads' CPU time over the round's wall time (2.00: side by side all the "
           "time; near 1: taking turns on one core).\nA conflict line's status is judged on the "
           "median of its rounds with par >= 1.3 (\"side by side\"; unresolved if none); its "
           "second line gives\neach round as rate@par.\n"
           "snapshot: p50/p99 medians of the rounds, status on every round's p99; max: the "
           "longest begin of all rounds (begin takes no lock:\na long one is the thread losing "
           "its core, which this shared machine does often).\n");
    print_load("seed section end");
    printf("seed section: %.1f s\n", (double)(snow() - t_start) / 1e9);
    free(rres);
}
