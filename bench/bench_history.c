/*
 * bench_history.c — the history benchmarks of issue 13 (`make bench-history`; docs/BENCHMARKS.md,
 * "History (issue 13)").
 *
 * Six targets, each measured as a ratio of two figures taken in the same run, on in-memory
 * databases (durability NONE: what is measured is the engine's CPU cost, not a disk), 16-byte
 * keys and 100-byte values, keys chosen uniformly at random (xorshift, fixed seeds):
 *   1. Retention off costs nothing: single-put commits/s and point reads/s of this build within
 *      3 % of the library before history (by default 3e9c182^, built by the Makefile from
 *      `git archive` into build/hb-base/ and linked with this same file compiled with
 *      -DHB_BASELINE). Both builds run the same workload as child processes (`--ab-only`),
 *      alternating A B A B ..., each on a fresh database of 100,000 keys: implicit inmem_put(),
 *      a put in its own transaction (begin, kv_put, commit, free), a point read (begin_readonly,
 *      kv_get, commit, free), and kv_get alone in an open read-only transaction.
 *   2. history_versions = 10: overwrite throughput >= 80 % of retention off. Two databases of
 *      100,000 keys open side by side, each brought to its steady state first (10 overwrites of
 *      every key, so that the retained one holds 10 versions a key and its GC frees one per put),
 *      then measured in alternating windows. W1 has two lines in bench/compare, durability none
 *      and batched: the same pair again in batched (a directory each under /tmp, automatic
 *      checkpoints off), implicit puts. Beside them, two controls: C, retention off in a database
 *      where one fork of another run exists (a fork turns on the history bookkeeping), and D,
 *      retention off over 1,000,000 keys overwritten once — as many versions in memory as the
 *      database keeping ten of 100,000 keys, none of them history — so that B against D is what
 *      keeping history costs beyond the memory it takes (`inmem_bench --memory`: what memory
 *      spread wider costs this machine a load).
 *   3. A time-travel read 1000 commits back (inmem_txn_begin_at + kv_get) <= 2x a current read
 *      (inmem_txn_begin_readonly + kv_get), with history_ms = 10 minutes, on 100,000 keys after
 *      200,000 random overwrites (1 % of keys have a newer version than the one read) and on
 *      1,000 keys after 20,000 (every key has ~1 newer version); the kv_get alone in an open
 *      transaction of each kind beside it. Every key is then read back at both versions and
 *      checked against a log of the writes.
 *   4. inmem_run_fork of a run with 100,000 keys: < 1 ms and < 4 KiB of memory. Each fork's wall
 *      time, the net bytes it left allocated (malloc, calloc, realloc, aligned_alloc and free are
 *      wrapped with -Wl,--wrap and counted while a fork runs) and mallinfo2()'s in-use bytes
 *      before and after; plain inmem_run_begin_db() calls alternate with the forks, for scale.
 *   5. A read in the fork of a key it inherited <= 1.5x a read in an ordinary run (the parent),
 *      kv_get alone in an open read-only transaction and begin + get + commit + free; then again
 *      after the parent overwrote every key once (the fork reads one version back).
 *   6. inmem_wait wake latency p50 <= 50 us: a committer thread and a waiter thread; the waiter
 *      calls inmem_wait() on a KV key past the version it saw, the committer sleeps 200 us (so
 *      the waiter is asleep in the call) and then inmem_put()s the key; latency = the waiter's
 *      CLOCK_MONOTONIC time when inmem_wait() returned minus the committer's when inmem_put()
 *      returned (negative when the waiter ran first). The same with a watch (inmem_watch_open,
 *      poll() on its fd, inmem_watch_poll).
 *
 * Rates are operations over a window's wall time (the clock is read every 32 operations); the
 * windows of the two sides of a ratio alternate (A B B A A B ...), and each figure is the median
 * of the rounds, with the spread of the per-round ratios beside it. The machine these run on is
 * shared: see docs/BENCHMARKS.md for how noisy it was.
 *
 * Every workload checks what it reads (each value carries its key's index and a counter) and the
 * database's counters, so that a broken engine fails the run rather than post a fast number.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inmem.h"

/* Helpers the baseline build (target 1's side only) does not use. */
#define HB_UNUSED __attribute__((unused))

#define KEY_LEN       16
#define VAL_LEN       100
#define NKEYS         100000u
#define PRELOAD_BATCH 1000u

/* ---- failure ---------------------------------------------------------------------------- */

static void fail(const char *call, int rc)
{
    fprintf(stderr, "bench_history: %s failed: %s (%s)\n", call, inmem_strerror(rc),
            inmem_errname(rc));
    exit(1);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != INMEM_OK)                                                                       \
            fail(#call, rc_);                                                                      \
    } while (0)

__attribute__((format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_history: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p)
        die("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

/* ---- allocation accounting (target 4) ----------------------------------------------------- */

/* The binary is linked with -Wl,--wrap=malloc,calloc,realloc,aligned_alloc,free: the statically
 * linked library's calls come here. Counted only while hb_acct_on is set (one load and a
 * predictable branch otherwise), each thread in its own counters. hb_acct_on is an external
 * symbol so that both builds keep the same check: in the baseline build, which never sets it,
 * a static flag would let the compiler drop the check and make its malloc cheaper than ours. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
void __wrap_free(void *p);

extern volatile int hb_acct_on;
volatile int hb_acct_on;
static _Thread_local uint64_t acct_alloc_bytes, acct_alloc_blocks, acct_free_bytes,
    acct_free_blocks;

static void acct_alloc(void *p)
{
    if (hb_acct_on && p) {
        acct_alloc_bytes += malloc_usable_size(p);
        acct_alloc_blocks++;
    }
}

static void acct_free(void *p)
{
    if (hb_acct_on && p) {
        acct_free_bytes += malloc_usable_size(p);
        acct_free_blocks++;
    }
}

void *__wrap_malloc(size_t n)
{
    void *p = __real_malloc(n);
    acct_alloc(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t m)
{
    void *p = __real_calloc(n, m);
    acct_alloc(p);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    acct_free(p);
    void *q = __real_realloc(p, n);
    acct_alloc(q ? q : (n ? p : NULL)); /* a failed realloc keeps p */
    return q;
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
    void *p = __real_aligned_alloc(a, n);
    acct_alloc(p);
    return p;
}

void __wrap_free(void *p)
{
    acct_free(p);
    __real_free(p);
}

HB_UNUSED static void acct_start(void)
{
    acct_alloc_bytes = acct_alloc_blocks = acct_free_bytes = acct_free_blocks = 0;
    hb_acct_on = 1;
}

HB_UNUSED static void acct_stop(void)
{
    hb_acct_on = 0;
}

/* malloc's bytes in use: the main arena's chunks and its own mappings. */
HB_UNUSED static int64_t mallinfo_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (int64_t)(mi.uordblks + mi.hblkhd);
}

/* ---- time, randomness, keys and values -------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

HB_UNUSED static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) /* xorshift64* */
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

static uint32_t rng_below(rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

/* Key i is "key:" and 12 decimal digits: 16 bytes. */
static void make_key(uint64_t i, unsigned char key[KEY_LEN])
{
    memcpy(key, "key:", 4);
    for (int d = KEY_LEN - 1; d >= 4; d--) {
        key[d] = (unsigned char)('0' + i % 10);
        i /= 10;
    }
}

/* A value is the key's index (8 bytes), a counter (8 bytes) and 84 filler bytes. */
static void value_set(unsigned char val[VAL_LEN], uint64_t idx, uint64_t counter)
{
    memcpy(val, &idx, 8);
    memcpy(val + 8, &counter, 8);
}

static uint64_t value_check(const void *val, size_t vlen, uint64_t idx, const char *where)
{
    uint64_t got_idx, counter;
    if (!val || vlen != VAL_LEN)
        die("%s: key %" PRIu64 " has a %zu-byte value, expected %d", where, idx, vlen, VAL_LEN);
    memcpy(&got_idx, val, 8);
    memcpy(&counter, (const unsigned char *)val + 8, 8);
    if (got_idx != idx)
        die("%s: key %" PRIu64 " returned the value of key %" PRIu64, where, idx, got_idx);
    return counter;
}

/* ---- small statistics ------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct spread {
    double med, min, max;
} spread;

HB_UNUSED static spread spread_of(const double *v, int n)
{
    double s[64];
    spread r = {0, 0, 0};
    if (n <= 0)
        return r;
    if (n > 64)
        n = 64;
    memcpy(s, v, (size_t)n * sizeof(*s));
    qsort(s, (size_t)n, sizeof(*s), cmp_double);
    r.min = s[0];
    r.max = s[n - 1];
    r.med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    return r;
}

HB_UNUSED static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted @p v. */
HB_UNUSED static int64_t pctl(const int64_t *v, size_t n, unsigned p)
{
    size_t r = (n * p + 99) / 100;
    return v[r ? r - 1 : 0];
}

/* ---- databases -------------------------------------------------------------------------- */

static inmem_db *db_open(uint64_t history_ms, uint32_t history_versions)
{
    inmem_options opts;
    inmem_db *db;
    inmem_options_init(&opts);
    opts.durability = INMEM_DURABILITY_NONE;
#ifndef HB_BASELINE
    opts.history_ms = history_ms;
    opts.history_versions = history_versions;
#else
    if (history_ms || history_versions)
        die("the baseline build has no history options");
#endif
    CHECK(inmem_db_open(NULL, &opts, &db));
    return db;
}

static inmem_stats db_stats(inmem_db *db)
{
    inmem_stats s;
    CHECK(inmem_db_stats(db, &s));
    return s;
}

/* Writes keys 0..n-1 of @p run with counter 0, PRELOAD_BATCH puts a transaction. */
static void preload(inmem_db *db, const inmem_run_id *run, uint32_t n)
{
    unsigned char key[KEY_LEN], val[VAL_LEN];
    memset(val, 'v', VAL_LEN);
    for (uint32_t base = 0; base < n; base += PRELOAD_BATCH) {
        inmem_txn *txn;
        CHECK(inmem_txn_begin(db, &txn));
        for (uint32_t i = base; i < n && i < base + PRELOAD_BATCH; i++) {
            make_key(i, key);
            value_set(val, i, 0);
            CHECK(inmem_kv_put(txn, run, key, KEY_LEN, val, VAL_LEN));
        }
        CHECK(inmem_txn_commit(txn));
        inmem_txn_free(txn);
    }
}

/* ---- operations ------------------------------------------------------------------------- */

typedef struct kv_ctx {
    inmem_db *db;
    const inmem_run_id *run; /* NULL: the shared scope */
    inmem_txn *txn;          /* the open transaction of op_get */
    rng r;
    uint32_t nkeys;
    uint64_t seq;   /* puts done; put number s writes counter s */
    uint64_t *last; /* per key: the counter last written (NULL: not tracked) */
    uint64_t at;    /* op_read_at's version */
    unsigned char key[KEY_LEN], val[VAL_LEN];
} kv_ctx;

static void ctx_init(kv_ctx *c, inmem_db *db, const inmem_run_id *run, uint32_t nkeys,
                     uint64_t seed)
{
    memset(c, 0, sizeof(*c));
    c->db = db;
    c->run = run;
    c->nkeys = nkeys;
    c->r.s = seed;
    memset(c->val, 'v', VAL_LEN);
}

typedef void (*op_fn)(kv_ctx *c);

/* An implicit one-put transaction. */
static void op_put(kv_ctx *c)
{
    uint32_t idx = rng_below(&c->r, c->nkeys);
    uint64_t seq = ++c->seq;
    make_key(idx, c->key);
    value_set(c->val, idx, seq);
    int rc = inmem_put(c->db, c->run, c->key, KEY_LEN, c->val, VAL_LEN, NULL);
    if (rc != INMEM_OK)
        fail("inmem_put", rc);
    if (c->last)
        c->last[idx] = seq;
}

/* One put in an explicit transaction: begin, kv_put, commit, free. */
static void op_put_txn(kv_ctx *c)
{
    uint32_t idx = rng_below(&c->r, c->nkeys);
    uint64_t seq = ++c->seq;
    inmem_txn *txn;
    make_key(idx, c->key);
    value_set(c->val, idx, seq);
    CHECK(inmem_txn_begin(c->db, &txn));
    CHECK(inmem_kv_put(txn, c->run, c->key, KEY_LEN, c->val, VAL_LEN));
    CHECK(inmem_txn_commit(txn));
    inmem_txn_free(txn);
    if (c->last)
        c->last[idx] = seq;
}

static void get_in(kv_ctx *c, inmem_txn *txn, const char *where)
{
    uint32_t idx = rng_below(&c->r, c->nkeys);
    const void *val;
    size_t vlen;
    make_key(idx, c->key);
    int rc = inmem_kv_get(txn, c->run, c->key, KEY_LEN, &val, &vlen, NULL);
    if (rc != INMEM_OK)
        fail(where, rc);
    value_check(val, vlen, idx, where);
}

/* A point read in its own read-only transaction: begin_readonly, kv_get, commit, free. */
static void op_read_txn(kv_ctx *c)
{
    inmem_txn *txn;
    CHECK(inmem_txn_begin_readonly(c->db, &txn));
    get_in(c, txn, "inmem_kv_get (read txn)");
    CHECK(inmem_txn_commit(txn));
    inmem_txn_free(txn);
}

/* kv_get alone, in the open transaction c->txn. */
static void op_get(kv_ctx *c)
{
    get_in(c, c->txn, "inmem_kv_get (open txn)");
}

#ifndef HB_BASELINE
/* A time-travel point read: begin_at(c->at), kv_get, commit, free. */
static void op_read_at(kv_ctx *c)
{
    inmem_txn *txn;
    CHECK(inmem_txn_begin_at(c->db, c->at, &txn));
    get_in(c, txn, "inmem_kv_get (txn at a past version)");
    CHECK(inmem_txn_commit(txn));
    inmem_txn_free(txn);
}
#endif

/* CPU time of the calling thread (what other processes on a shared machine cannot inflate,
 * although they still share the caches with it). */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A rate: operations per second of wall time, and per second of the thread's CPU time. */
typedef struct meas {
    double wall, cpu;
} meas;

/* Runs @p op for @p dur_ns of wall time. */
static meas rate(op_fn op, kv_ctx *c, uint64_t dur_ns)
{
    uint64_t n = 0, c0 = thread_cpu_ns(), t0 = now_ns(), t = t0, end = t0 + dur_ns;
    while (t < end) {
        for (int i = 0; i < 32; i++)
            op(c);
        n += 32;
        t = now_ns();
    }
    uint64_t c1 = thread_cpu_ns();
    return (meas){(double)n * 1e9 / (double)(t - t0), (double)n * 1e9 / (double)(c1 - c0)};
}

/* Runs @p op @p n times (the callgrind mode: instruction counts per operation). */
__attribute__((noinline)) static void run_n(op_fn op, kv_ctx *c, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        op(c);
}

/* Checks that every key 0..nkeys-1 of @p c holds the counter c->last says. */
static void verify_last(kv_ctx *c, const char *where)
{
    inmem_txn *txn;
    CHECK(inmem_txn_begin_readonly(c->db, &txn));
    for (uint32_t i = 0; i < c->nkeys; i++) {
        const void *val;
        size_t vlen;
        make_key(i, c->key);
        CHECK(inmem_kv_get(txn, c->run, c->key, KEY_LEN, &val, &vlen, NULL));
        uint64_t got = value_check(val, vlen, i, where);
        if (c->last && got != c->last[i])
            die("%s: key %" PRIu32 " holds counter %" PRIu64 ", last written %" PRIu64, where, i,
                got, c->last[i]);
    }
    CHECK(inmem_txn_commit(txn));
    inmem_txn_free(txn);
}

/* ---- target 1, one side: what both builds run (--ab-only) -------------------------------- */

#define AB_METRICS 4
HB_UNUSED static const char *const ab_names[AB_METRICS] = {
    "put, implicit (inmem_put)", "put txn (begin, kv_put, commit, free)",
    "point read txn (begin_ro, kv_get, commit, free)", "kv_get in an open read-only txn"};

/* Prints "AB w0 w1 w2 w3 c0 c1 c2 c3" (operations per wall second, then per CPU second). With @p
 * ops > 0, runs @p ops of each instead (for callgrind: each metric is one call of run_n) and prints
 * nothing timed. */
static void ab_only(uint64_t dur_ns, uint64_t ops)
{
    uint64_t warm = dur_ns / 3;
    inmem_db *db = db_open(0, 0);
    preload(db, NULL, NKEYS);
    kv_ctx c;
    ctx_init(&c, db, NULL, NKEYS, 0x9E3779B97F4A7C15ull);
    c.last = xcalloc(NKEYS, sizeof(*c.last));
    meas r[AB_METRICS];
    static const op_fn ops_fn[AB_METRICS] = {op_put, op_put_txn, op_read_txn, op_get};
    for (int m = 0; m < AB_METRICS; m++) {
        if (m == 3)
            CHECK(inmem_txn_begin_readonly(db, &c.txn));
        if (ops) {
            run_n(ops_fn[m], &c, ops);
            r[m] = (meas){0, 0};
        } else {
            rate(ops_fn[m], &c, warm);
            r[m] = rate(ops_fn[m], &c, dur_ns);
        }
        if (m == 3) {
            CHECK(inmem_txn_commit(c.txn));
            inmem_txn_free(c.txn);
        }
    }
    verify_last(&c, "ab: every key holds its last put");
    inmem_stats s = db_stats(db);
    if (s.commits != NKEYS / PRELOAD_BATCH + c.seq || s.keys != NKEYS)
        die("ab: %" PRIu64 " puts but %" PRIu64 " commits, %" PRIu64 " keys", c.seq, s.commits,
            s.keys);
    printf("AB %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n", r[0].wall, r[1].wall, r[2].wall,
           r[3].wall, r[0].cpu, r[1].cpu, r[2].cpu, r[3].cpu);
    free(c.last);
    CHECK(inmem_db_close(db));
}

#ifndef HB_BASELINE

/* ---- output ----------------------------------------------------------------------------- */

typedef struct verdict {
    char target[96];
    char measured[200];
    int met;
} verdict;

#define MAX_VERDICTS 32
static verdict verdicts[MAX_VERDICTS];
static int nverdicts;

__attribute__((format(printf, 3, 4))) static void add_verdict(const char *target, int met,
                                                              const char *fmt, ...)
{
    if (nverdicts == MAX_VERDICTS)
        die("too many verdicts");
    verdict *v = &verdicts[nverdicts++];
    snprintf(v->target, sizeof(v->target), "%s", target);
    v->met = met;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->measured, sizeof(v->measured), fmt, ap);
    va_end(ap);
}

/* One line of a ratio table: A and B as medians of the rounds, per CPU second of the measuring
 * thread (ops/s and ns/op), B/A of the medians and the spread of the per-round ratios; then the
 * same ratio by wall time. *ratio_out gets the CPU-time ratio (med: of the medians). */
static void ratio_line(const char *name, const meas *a, const meas *b, int rounds,
                       spread *ratio_out)
{
    double ac[64], bc[64], aw[64], bw[64], rc[64], rw[64];
    for (int i = 0; i < rounds && i < 64; i++) {
        ac[i] = a[i].cpu;
        bc[i] = b[i].cpu;
        aw[i] = a[i].wall;
        bw[i] = b[i].wall;
        rc[i] = bc[i] / ac[i];
        rw[i] = bw[i] / aw[i];
    }
    spread sa = spread_of(ac, rounds), sb = spread_of(bc, rounds), sr = spread_of(rc, rounds);
    spread swa = spread_of(aw, rounds), swb = spread_of(bw, rounds), swr = spread_of(rw, rounds);
    printf("  %-48s %10.0f %7.1f %10.0f %7.1f %6.3f %.3f-%.3f | %6.3f %.3f-%.3f\n", name, sa.med,
           1e9 / sa.med, sb.med, 1e9 / sb.med, sb.med / sa.med, sr.min, sr.max, swb.med / swa.med,
           swr.min, swr.max);
    if (ratio_out) {
        *ratio_out = sr;
        ratio_out->med = sb.med / sa.med; /* the ratio of the medians */
    }
}

static void ratio_header(const char *a, const char *b)
{
    printf("  %-48s %10s %7s %10s %7s %6s %-11s | %s\n", "", a, "ns/op", b, "ns/op", "B/A",
           "min-max", "by wall time: B/A, min-max");
    printf("  %-48s %s\n", "",
           "(rates per CPU second of the measuring thread; medians of the rounds; min-max of the "
           "per-round B/A)");
}

/* ---- target 1: both builds, alternating ------------------------------------------------- */

static int run_side(const char *exe, uint64_t dur_ns, meas out[AB_METRICS])
{
    char cmd[4200];
    if (strchr(exe, '\''))
        die("a path with a quote: %s", exe);
    snprintf(cmd, sizeof(cmd), "'%s' --ab-only --ms %" PRIu64, exe, dur_ns / 1000000u);
    FILE *p = popen(cmd, "r");
    if (!p)
        die("popen %s failed", cmd);
    char line[512];
    int got = 0;
    while (fgets(line, sizeof(line), p))
        if (sscanf(line, "AB %lf %lf %lf %lf %lf %lf %lf %lf", &out[0].wall, &out[1].wall,
                   &out[2].wall, &out[3].wall, &out[0].cpu, &out[1].cpu, &out[2].cpu,
                   &out[3].cpu) == 8)
            got = 1;
    int st = pclose(p);
    if (st != 0 || !got)
        die("%s: exit status %d, %s", cmd, st, got ? "its figures" : "no figures");
    return 0;
}

static void target1(const char *base, const char *base_label, int rounds, uint64_t dur_ns)
{
    printf("\n1. Retention off costs nothing: this build (B) against the library before history "
           "(A: %s)\n",
           base_label);
    if (!base) {
        printf("  skipped: no --base binary (make bench-history builds one from git; outside a "
               "git checkout it cannot)\n");
        add_verdict("1. retention off within 3% of before history", 0, "not measured (no base)");
        return;
    }
    printf("  each side a fresh process and database of 100,000 keys; %.1f s per metric after "
           "%.2f s warm-up; %d rounds, A B then B A alternately\n",
           (double)dur_ns / 1e9, (double)dur_ns / 3e9, rounds);
    meas a[AB_METRICS][64], b[AB_METRICS][64], fa[AB_METRICS], fb[AB_METRICS];
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        die("readlink /proc/self/exe failed");
    self[n] = '\0';
    for (int r = 0; r < rounds; r++) {
        if (r % 2 == 0) {
            run_side(base, dur_ns, fa);
            run_side(self, dur_ns, fb);
        } else {
            run_side(self, dur_ns, fb);
            run_side(base, dur_ns, fa);
        }
        for (int m = 0; m < AB_METRICS; m++) {
            a[m][r] = fa[m];
            b[m][r] = fb[m];
        }
        fprintf(stderr, "  target 1 round %d/%d done\n", r + 1, rounds);
    }
    ratio_header("A ops/s", "B ops/s");
    int met_all = 1;
    char buf[200] = "";
    size_t off = 0;
    for (int m = 0; m < AB_METRICS; m++) {
        spread sr;
        ratio_line(ab_names[m], a[m], b[m], rounds, &sr);
        if (sr.med < 0.97)
            met_all = 0;
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%.3f", m ? " / " : "", sr.med);
    }
    add_verdict("1. retention off: puts, txn puts, read txns, gets >= 0.97x before history",
                met_all, "%s", buf);
}

/* ---- target 2: overwrites with history_versions = 10 ------------------------------------ */

/* The steady state of @p c's database: @p passes overwrites of every key, in key order (with 10,
 * a database keeping 10 versions then holds 10 a key, and its GC frees one a put); c->last notes
 * them. */
static void steady_state(kv_ctx *c, int passes)
{
    for (int pass = 0; pass < passes; pass++)
        for (uint32_t i = 0; i < c->nkeys; i++) {
            uint64_t seq = ++c->seq;
            make_key(i, c->key);
            value_set(c->val, i, seq);
            CHECK(inmem_put(c->db, NULL, c->key, KEY_LEN, c->val, VAL_LEN, NULL));
            c->last[i] = seq;
        }
}

/* D's keys: ten times A's, so that D holds as many versions as B (one a key against ten) */
#define NKEYS_D (10u * NKEYS)

static void target2(int rounds, uint64_t dur_ns)
{
    printf("\n2. Overwrite throughput: history_versions = 10 (B) against retention off (A); C: "
           "retention off, but one fork of another run exists; D: retention off over 10x the "
           "keys (as many versions in memory as B)\n");
    /* C: a database without retention in which some other run was forked once: a fork turns
     * on the history bookkeeping (commit times, the GC's policy lookups) for the database.
     * D: the control for B's memory: a million versions, one a key, no history kept; a put
     * there waits on memory as scattered as B's, so B against D is what history itself costs */
    inmem_db *db[4] = {db_open(0, 0), db_open(0, 10), db_open(0, 0), db_open(0, 0)};
    kv_ctx c[4];
    inmem_run_id other, other_fork;
    CHECK(inmem_run_begin_db(db[2], NULL, &other));
    CHECK(inmem_put(db[2], &other, "k", 1, "v", 1, NULL));
    CHECK(inmem_run_fork_db(db[2], &other, 0, NULL, &other_fork));
    for (int d = 0; d < 4; d++) {
        uint32_t n = d == 3 ? NKEYS_D : NKEYS;
        preload(db[d], NULL, n);
        ctx_init(&c[d], db[d], NULL, n, 0xD1B54A32D192ED03ull);
        c[d].last = xcalloc(n, sizeof(uint64_t));
    }
    uint64_t t0 = now_ns();
    for (int d = 0; d < 4; d++) /* D: one overwrite, so its versions too live apart from keys */
        steady_state(&c[d], d == 3 ? 1 : 10);
    inmem_stats s = db_stats(db[1]);
    printf("  100,000 keys each (D: 1,000,000), all brought to steady state by 10 overwrites of "
           "every key (D: 1) (%.1f s); then random overwrites, %.1f s windows after %.2f s "
           "warm-up, %d rounds alternating\n",
           (double)(now_ns() - t0) / 1e9, (double)dur_ns / 1e9, (double)dur_ns / 3e9, rounds);
    printf("  B before: retained_versions %" PRIu64 " (%.2f a key), history_bytes %.1f MB\n",
           s.retained_versions, (double)s.retained_versions / NKEYS, (double)s.history_bytes / 1e6);
    static const op_fn fns[2] = {op_put, op_put_txn};
    static const char *const names[2][2] = {
        {"overwrite, implicit (inmem_put)", "overwrite txn (begin, kv_put, commit, free)"},
        {"C: implicit, retention off + a fork elsewhere",
         "C: txn, retention off + a fork elsewhere"}};
    meas r3[4][2][64];
    for (int m = 0; m < 2; m++)
        for (int d = 0; d < 4; d++)
            rate(fns[m], &c[d], dur_ns / 3);
    static const int order[2][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}};
    for (int r = 0; r < rounds; r++)
        for (int m = 0; m < 2; m++)
            for (int k = 0; k < 4; k++) {
                int d = order[r % 2][k];
                r3[d][m][r] = rate(fns[m], &c[d], dur_ns);
            }
    ratio_header("off ops/s", "B|C|D ops/s");
    spread sr[2], sc[2], sd[2], sbd[2];
    for (int m = 0; m < 2; m++)
        ratio_line(names[0][m], r3[0][m], r3[1][m], rounds, &sr[m]);
    for (int m = 0; m < 2; m++)
        ratio_line(names[1][m], r3[0][m], r3[2][m], rounds, &sc[m]);
    static const char *const dnames[2] = {"D: implicit, retention off, 1,000,000 keys",
                                          "D: txn, retention off, 1,000,000 keys"};
    for (int m = 0; m < 2; m++)
        ratio_line(dnames[m], r3[0][m], r3[3][m], rounds, &sd[m]);
    ratio_header("D ops/s", "B ops/s");
    static const char *const bdnames[2] = {"B against D (the same versions in memory), implicit",
                                           "B against D (the same versions in memory), txn"};
    for (int m = 0; m < 2; m++)
        ratio_line(bdnames[m], r3[3][m], r3[1][m], rounds, &sbd[m]);
    s = db_stats(db[1]);
    inmem_stats sa = db_stats(db[0]), sc2 = db_stats(db[2]), sd2 = db_stats(db[3]);
    printf("  after: B retained_versions %" PRIu64 " (%.2f a key), history_bytes %.1f MB; A "
           "retained_versions %" PRIu64 ", C %" PRIu64 ", D %" PRIu64 " (%" PRIu64 " keys)\n",
           s.retained_versions, (double)s.retained_versions / NKEYS, (double)s.history_bytes / 1e6,
           sa.retained_versions, sc2.retained_versions, sd2.retained_versions, sd2.keys);
    /* verify: every key at its last value in all four; B keeps at most 9 older versions a key */
    verify_last(&c[0], "overwrite (off)");
    verify_last(&c[1], "overwrite (history_versions 10)");
    verify_last(&c[2], "overwrite (off, a fork elsewhere)");
    verify_last(&c[3], "overwrite (off, 1,000,000 keys)");
    if (s.retained_versions > 9ull * NKEYS + 1000)
        die("history_versions 10 retains %" PRIu64 " versions for %u keys", s.retained_versions,
            NKEYS);
    add_verdict("2. history_versions=10 overwrites >= 0.80x retention off",
                sr[0].med >= 0.80 && sr[1].med >= 0.80, "%.3f (implicit) / %.3f (txn)", sr[0].med,
                sr[1].med);
    printf("  -> history_versions = 10: %.3fx (implicit), %.3fx (txn) of retention off; with a "
           "fork elsewhere: %.3fx, %.3fx; retention off over 10x the keys: %.3fx, %.3fx; "
           "history_versions = 10 against that: %.3fx, %.3fx\n",
           sr[0].med, sr[1].med, sc[0].med, sc[1].med, sd[0].med, sd[1].med, sbd[0].med,
           sbd[1].med);
    for (int d = 0; d < 4; d++) {
        free(c[d].last);
        CHECK(inmem_db_close(db[d]));
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* W1's batched line: the same two databases as target 2's A and B, durability batched, each in a
 * new directory (automatic checkpoints off: the log only grows, on both sides alike). */
static void target2_batched(int rounds, uint64_t dur_ns)
{
    printf("\n2b. The same in durability batched (W1's other line): history_versions = 10 (B) "
           "against retention off (A), implicit puts\n");
    char dirs[2][64];
    inmem_db *db[2];
    kv_ctx c[2];
    for (int d = 0; d < 2; d++) {
        snprintf(dirs[d], sizeof dirs[d], "/tmp/inmem-hb-XXXXXX");
        if (!mkdtemp(dirs[d]))
            die("mkdtemp: %s", strerror(errno));
        inmem_options opts;
        inmem_options_init(&opts);
        opts.durability = INMEM_DURABILITY_BATCHED;
        opts.checkpoint_log_ratio = 0;
        opts.history_versions = d ? 10 : 0;
        CHECK(inmem_db_open(dirs[d], &opts, &db[d]));
        preload(db[d], NULL, NKEYS);
        ctx_init(&c[d], db[d], NULL, NKEYS, 0xD1B54A32D192ED03ull);
        c[d].last = xcalloc(NKEYS, sizeof(uint64_t));
        steady_state(&c[d], 10);
    }
    meas r[2][64];
    for (int d = 0; d < 2; d++)
        rate(op_put, &c[d], dur_ns / 3);
    for (int k = 0; k < rounds; k++)
        for (int j = 0; j < 2; j++) {
            int d = (k + j) % 2; /* A B, B A, ... */
            r[d][k] = rate(op_put, &c[d], dur_ns);
        }
    ratio_header("off ops/s", "B ops/s");
    spread sr;
    ratio_line("overwrite, implicit (inmem_put), batched", r[0], r[1], rounds, &sr);
    inmem_stats s = db_stats(db[1]);
    verify_last(&c[0], "overwrite batched (off)");
    verify_last(&c[1], "overwrite batched (history_versions 10)");
    if (s.retained_versions > 9ull * NKEYS + 1000 || s.retained_versions < 9ull * NKEYS - 1000)
        die("batched, history_versions 10 retains %" PRIu64 " versions for %u keys",
            s.retained_versions, NKEYS);
    add_verdict("2b. ... in durability batched", sr.med >= 0.80, "%.3f (implicit)", sr.med);
    printf("  -> batched, history_versions = 10: %.3fx of retention off\n", sr.med);
    for (int d = 0; d < 2; d++) {
        free(c[d].last);
        CHECK(inmem_db_close(db[d]));
        if (nftw(dirs[d], rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
            die("removing %s: %s", dirs[d], strerror(errno));
    }
}

/* ---- target 3: time-travel reads -------------------------------------------------------- */

static void target3_one(uint32_t nkeys, uint64_t overwrites, int rounds, uint64_t dur_ns,
                        double ratio_out[2])
{
    inmem_db *db = db_open(600000, 0);
    preload(db, NULL, nkeys);
    kv_ctx c;
    ctx_init(&c, db, NULL, nkeys, 0xA0761D6478BD642Full ^ nkeys);
    uint32_t *widx = xcalloc(overwrites, sizeof(*widx));
    uint64_t *wver = xcalloc(overwrites, sizeof(*wver));
    for (uint64_t w = 0; w < overwrites; w++) {
        uint32_t idx = rng_below(&c.r, nkeys);
        make_key(idx, c.key);
        value_set(c.val, idx, w + 1);
        CHECK(inmem_put(db, NULL, c.key, KEY_LEN, c.val, VAL_LEN, &wver[w]));
        widx[w] = idx;
    }
    inmem_stats s = db_stats(db);
    uint64_t now_v = s.version, past = now_v - 1000;
    c.at = past;
    /* how many keys changed in the last 1000 commits, and versions to walk back */
    uint64_t walk = 0;
    uint8_t *moved = xcalloc(nkeys, 1);
    for (uint64_t w = overwrites; w-- > 0 && wver[w] > past;) {
        moved[widx[w]] = 1;
        walk++;
    }
    uint64_t nmoved = 0;
    for (uint32_t i = 0; i < nkeys; i++)
        nmoved += moved[i];
    printf("  %u keys, %" PRIu64 " random overwrites, history_ms = 600000: version %" PRIu64
           ", reading at %" PRIu64 " (1000 back): %" PRIu64
           " keys changed since (%.1f %%), %.2f newer versions a key on average; "
           "retained_versions %" PRIu64 ", history_floor %" PRIu64 "\n",
           nkeys, overwrites, now_v, past, nmoved, 100.0 * (double)nmoved / nkeys,
           (double)walk / nkeys, s.retained_versions, s.history_floor);

    meas a[2][64], b[2][64];
    for (int r = -1; r < rounds; r++) { /* round -1: warm-up */
        for (int m = 0; m < 2; m++) {
            uint64_t d = r < 0 ? dur_ns / 3 : dur_ns;
            meas ra = {0, 0}, rb = {0, 0};
            for (int side = 0; side < 2; side++) {
                int cur = (side == 0) == (r % 2 == 0); /* A first in even rounds */
                if (m == 0) {
                    meas x = rate(cur ? op_read_txn : op_read_at, &c, d);
                    if (cur)
                        ra = x;
                    else
                        rb = x;
                } else {
                    if (cur)
                        CHECK(inmem_txn_begin_readonly(db, &c.txn));
                    else
                        CHECK(inmem_txn_begin_at(db, past, &c.txn));
                    meas x = rate(op_get, &c, d);
                    CHECK(inmem_txn_commit(c.txn));
                    inmem_txn_free(c.txn);
                    if (cur)
                        ra = x;
                    else
                        rb = x;
                }
            }
            if (r >= 0) {
                a[m][r] = ra;
                b[m][r] = rb;
            }
        }
    }
    ratio_header("now ops/s", "-1000 ops/s");
    spread sr[2];
    ratio_line("read txn: begin (_readonly | _at) + kv_get", a[0], b[0], rounds, &sr[0]);
    ratio_line("kv_get alone in an open txn", a[1], b[1], rounds, &sr[1]);
    /* cost ratio = time ratio = inverse of the rate ratio */
    ratio_out[0] = 1.0 / sr[0].med;
    ratio_out[1] = 1.0 / sr[1].med;
    printf("  -> a time-travel read costs %.2fx a current read (op), %.2fx (get alone)\n",
           ratio_out[0], ratio_out[1]);

    /* verify: every key at `past` holds the last write at or before it, and now the last */
    uint64_t *want_past = xcalloc(nkeys, sizeof(uint64_t)), *want_now = xcalloc(nkeys, 8);
    for (uint64_t w = 0; w < overwrites; w++) {
        if (wver[w] <= past)
            want_past[widx[w]] = w + 1;
        want_now[widx[w]] = w + 1;
    }
    for (int side = 0; side < 2; side++) {
        inmem_txn *txn;
        const uint64_t *want = side ? want_past : want_now;
        if (side)
            CHECK(inmem_txn_begin_at(db, past, &txn));
        else
            CHECK(inmem_txn_begin_readonly(db, &txn));
        for (uint32_t i = 0; i < nkeys; i++) {
            const void *val;
            size_t vlen;
            make_key(i, c.key);
            CHECK(inmem_kv_get(txn, NULL, c.key, KEY_LEN, &val, &vlen, NULL));
            uint64_t got = value_check(val, vlen, i, "time travel check");
            if (got != want[i])
                die("time travel: key %" PRIu32 " at %s holds counter %" PRIu64
                    ", expected %" PRIu64,
                    i, side ? "the past version" : "now", got, want[i]);
        }
        CHECK(inmem_txn_commit(txn));
        inmem_txn_free(txn);
    }
    free(want_past);
    free(want_now);
    free(moved);
    free(widx);
    free(wver);
    CHECK(inmem_db_close(db));
}

static void target3(int rounds, uint64_t dur_ns)
{
    printf("\n3. Time-travel reads 1000 commits back (B: inmem_txn_begin_at) against current "
           "reads (A: inmem_txn_begin_readonly), same database, alternating\n");
    double big[2], small[2];
    target3_one(NKEYS, 200000, rounds, dur_ns, big);
    target3_one(1000, 20000, rounds, dur_ns, small);
    add_verdict("3. time-travel read 1000 back <= 2x a current read",
                big[0] <= 2.0 && small[0] <= 2.0,
                "%.2fx (100K keys) / %.2fx (1K keys); get alone %.2fx / %.2fx", big[0], small[0],
                big[1], small[1]);
}

/* ---- targets 4 and 5: forks ------------------------------------------------------------- */

#define NFORKS 24

typedef struct call_cost {
    double us;
    int64_t net_bytes; /* allocated minus freed, counted by the wrappers */
    uint64_t alloc_bytes, blocks;
    int64_t mallinfo; /* mallinfo2() in-use delta */
    int64_t keys;     /* inmem_stats.keys delta */
} call_cost;

static int cmp_cost_us(const void *a, const void *b)
{
    double x = ((const call_cost *)a)->us, y = ((const call_cost *)b)->us;
    return (x > y) - (x < y);
}

static int cmp_i64v(const void *a, const void *b)
{
    return cmp_i64(a, b);
}

static void cost_summary(const char *name, call_cost *v, int n)
{
    int64_t net[NFORKS], mi[NFORKS], alloc[NFORKS], keys[NFORKS];
    for (int i = 0; i < n; i++) {
        net[i] = v[i].net_bytes;
        mi[i] = v[i].mallinfo;
        alloc[i] = (int64_t)v[i].alloc_bytes;
        keys[i] = v[i].keys;
    }
    qsort(net, (size_t)n, sizeof(int64_t), cmp_i64v);
    qsort(mi, (size_t)n, sizeof(int64_t), cmp_i64v);
    qsort(alloc, (size_t)n, sizeof(int64_t), cmp_i64v);
    qsort(keys, (size_t)n, sizeof(int64_t), cmp_i64v);
    call_cost s[NFORKS];
    memcpy(s, v, (size_t)n * sizeof(*s));
    qsort(s, (size_t)n, sizeof(*s), cmp_cost_us);
    printf("  %-34s %8.1f %8.1f %8.1f %9" PRId64 " %9" PRId64 " %9" PRId64 " %9" PRId64 " %9" PRId64
           " %6" PRId64 "\n",
           name, s[n / 2].us, s[0].us, s[n - 1].us, net[n / 2], net[n - 1], mi[n / 2], mi[n - 1],
           alloc[n / 2], keys[n / 2]);
}

static void measure_call(inmem_db *db, call_cost *out, const inmem_run_id *parent, inmem_run_id *id)
{
    inmem_stats s0 = db_stats(db);
    int64_t m0 = mallinfo_used();
    acct_start();
    uint64_t t0 = now_ns();
    if (parent)
        CHECK(inmem_run_fork_db(db, parent, 0, NULL, id));
    else
        CHECK(inmem_run_begin_db(db, NULL, id));
    uint64_t t1 = now_ns();
    acct_stop();
    int64_t m1 = mallinfo_used();
    inmem_stats s1 = db_stats(db);
    out->us = (double)(t1 - t0) / 1e3;
    out->net_bytes = (int64_t)acct_alloc_bytes - (int64_t)acct_free_bytes;
    out->alloc_bytes = acct_alloc_bytes;
    out->blocks = acct_alloc_blocks;
    out->mallinfo = m1 - m0;
    out->keys = (int64_t)s1.keys - (int64_t)s0.keys;
}

static void fork_reads(kv_ctx *cp, kv_ctx *cf, int rounds, uint64_t dur_ns, double cost[2],
                       const char *label)
{
    meas a[2][64], b[2][64];
    inmem_db *db = cp->db;
    for (int r = -1; r < rounds; r++) {
        for (int m = 0; m < 2; m++) {
            uint64_t d = r < 0 ? dur_ns / 3 : dur_ns;
            meas ra = {0, 0}, rb = {0, 0};
            for (int side = 0; side < 2; side++) {
                int parent = (side == 0) == (r % 2 == 0);
                kv_ctx *c = parent ? cp : cf;
                meas x;
                if (m == 0) {
                    x = rate(op_read_txn, c, d);
                } else {
                    CHECK(inmem_txn_begin_readonly(db, &c->txn));
                    x = rate(op_get, c, d);
                    CHECK(inmem_txn_commit(c->txn));
                    inmem_txn_free(c->txn);
                }
                if (parent)
                    ra = x;
                else
                    rb = x;
            }
            if (r >= 0) {
                a[m][r] = ra;
                b[m][r] = rb;
            }
        }
    }
    printf("  %s\n", label);
    ratio_header("run ops/s", "fork ops/s");
    spread sr[2];
    ratio_line("read txn: begin_ro + kv_get + commit + free", a[0], b[0], rounds, &sr[0]);
    ratio_line("kv_get alone in an open read-only txn", a[1], b[1], rounds, &sr[1]);
    cost[0] = 1.0 / sr[0].med;
    cost[1] = 1.0 / sr[1].med;
    printf("  -> a read in the fork costs %.2fx a read in the run (op), %.2fx (get alone)\n",
           cost[0], cost[1]);
}

static void target45(int rounds, uint64_t dur_ns)
{
    printf("\n4. inmem_run_fork_db() of a run with 100,000 keys (retention off), %d forks "
           "alternating with %d plain inmem_run_begin_db() calls\n",
           NFORKS, NFORKS);
    inmem_db *db = db_open(0, 0);
    inmem_run_id parent, forks[NFORKS], plain[NFORKS];
    CHECK(inmem_run_begin_db(db, NULL, &parent));
    preload(db, &parent, NKEYS);
    call_cost fc[NFORKS], pc[NFORKS];
    for (int i = 0; i < NFORKS; i++) {
        measure_call(db, &pc[i], NULL, &plain[i]);
        measure_call(db, &fc[i], &parent, &forks[i]);
    }
    printf("  %-34s %8s %8s %8s %9s %9s %9s %9s %9s %6s\n", "call", "us p50", "min", "max",
           "net B p50", "net max", "mallinfo", "mi max", "alloc B", "keys");
    cost_summary("inmem_run_fork_db (100K-key parent)", fc, NFORKS);
    cost_summary("inmem_run_begin_db (a new run)", pc, NFORKS);
    printf("  first fork: %.1f us, net %" PRId64 " B (%" PRIu64 " B in %" PRIu64
           " blocks), mallinfo %+" PRId64 " B\n",
           fc[0].us, fc[0].net_bytes, fc[0].alloc_bytes, fc[0].blocks, fc[0].mallinfo);
    printf("  net bytes of each fork, in order:");
    for (int i = 0; i < NFORKS; i++)
        printf(" %" PRId64, fc[i].net_bytes);
    printf("\n");
    printf("  (net B: bytes allocated minus freed during the call, malloc_usable_size; mallinfo: "
           "mallinfo2() uordblks + hblkhd after minus before; keys: index keys added)\n");
    {
        call_cost s[NFORKS];
        memcpy(s, fc, sizeof(s));
        qsort(s, NFORKS, sizeof(*s), cmp_cost_us);
        int64_t net[NFORKS];
        for (int i = 0; i < NFORKS; i++)
            net[i] = fc[i].net_bytes;
        qsort(net, NFORKS, sizeof(int64_t), cmp_i64v);
        add_verdict("4a. inmem_run_fork of a 100K-key run < 1 ms", s[NFORKS / 2].us < 1000.0,
                    "p50 %.1f us (min %.1f, max %.1f)", s[NFORKS / 2].us, s[0].us,
                    s[NFORKS - 1].us);
        int64_t rest = INT64_MIN; /* the largest but the first fork's */
        for (int i = 1; i < NFORKS; i++)
            if (fc[i].net_bytes > rest)
                rest = fc[i].net_bytes;
        add_verdict("4b. ... and < 4 KiB of memory", net[NFORKS - 1] < 4096,
                    "net %" PRId64 " B p50; first fork of the database %" PRId64
                    " B, largest of the others %" PRId64 " B",
                    net[NFORKS / 2], fc[0].net_bytes, rest);
    }

    /* verify: the first fork holds every key of the parent */
    kv_ctx cp, cf;
    ctx_init(&cp, db, &parent, NKEYS, 0x8BB84B93962EACC9ull);
    ctx_init(&cf, db, &forks[0], NKEYS, 0x8BB84B93962EACC9ull);
    verify_last(&cf, "fork: inherited keys");

    printf("\n5. Reads in the fork of keys it inherited (B) against reads in the parent run (A), "
           "one database, alternating\n");
    double cost[2], cost2[2];
    fork_reads(&cp, &cf, rounds, dur_ns, cost, "parent untouched since the fork:");

    /* the parent moves on: every key overwritten once; the fork reads one version back */
    unsigned char key[KEY_LEN], val[VAL_LEN];
    memset(val, 'w', VAL_LEN);
    for (uint32_t base = 0; base < NKEYS; base += PRELOAD_BATCH) {
        inmem_txn *txn;
        CHECK(inmem_txn_begin(db, &txn));
        for (uint32_t i = base; i < base + PRELOAD_BATCH; i++) {
            make_key(i, key);
            value_set(val, i, 1);
            CHECK(inmem_kv_put(txn, &parent, key, KEY_LEN, val, VAL_LEN));
        }
        CHECK(inmem_txn_commit(txn));
        inmem_txn_free(txn);
    }
    inmem_stats s = db_stats(db);
    fork_reads(&cp, &cf, rounds, dur_ns, cost2,
               "after the parent overwrote every key once (the fork reads one version back):");
    printf("  (the fork holds the parent's old versions: retained_versions %" PRIu64
           ", history_bytes %.1f MB)\n",
           s.retained_versions, (double)s.history_bytes / 1e6);
    /* verify: the fork still reads counter 0, the parent counter 1 */
    cf.last = xcalloc(NKEYS, sizeof(uint64_t));
    verify_last(&cf, "fork after the parent moved on");
    for (uint32_t i = 0; i < NKEYS; i++)
        cf.last[i] = 1;
    cp.last = cf.last;
    verify_last(&cp, "parent after its overwrite");
    free(cf.last);
    add_verdict("5. read in a fork (inherited key) <= 1.5x a read in a run (kv_get alone)",
                cost[1] <= 1.5,
                "%.2fx (get alone), %.2fx (begin+get+commit+free); parent moved on: %.2fx / %.2fx",
                cost[1], cost[0], cost2[1], cost2[0]);
    CHECK(inmem_db_close(db));
}

/* ---- target 6: inmem_wait wake latency -------------------------------------------------- */

typedef struct wait_ctx {
    inmem_db *db;
    inmem_run_id run;
    int use_watch;
    uint32_t n;
    uint64_t first_seen;
    _Atomic uint32_t ready; /* the waiter sets i + 1 when about to wait in iteration i */
    uint64_t *t_wake, *v_wake;
    int err;
} wait_ctx;

static const unsigned char WAIT_KEY[] = "task";

static void *waiter_main(void *arg)
{
    wait_ctx *w = arg;
    uint64_t seen = w->first_seen;
    for (uint32_t i = 0; i < w->n; i++) {
        uint64_t v = 0;
        int rc;
        if (!w->use_watch) {
            atomic_store_explicit(&w->ready, i + 1, memory_order_release);
            rc = inmem_wait(w->db, &w->run, INMEM_PRIM_KV, WAIT_KEY, 4, seen, 5000, &v);
        } else {
            inmem_watch *wt;
            rc = inmem_watch_open(w->db, &w->run, INMEM_PRIM_KV, WAIT_KEY, 4, seen, &wt);
            if (rc == 0) {
                struct pollfd pfd = {inmem_watch_fd(wt), POLLIN, 0};
                atomic_store_explicit(&w->ready, i + 1, memory_order_release);
                int pr = poll(&pfd, 1, 5000);
                rc = pr == 1 ? inmem_watch_poll(wt, &v) : INMEM_ETIMEDOUT;
                uint64_t t = now_ns();
                inmem_watch_close(wt);
                w->t_wake[i] = t;
                w->v_wake[i] = v;
                if (rc) {
                    w->err = rc;
                    break;
                }
                seen = v;
                continue;
            }
        }
        uint64_t t = now_ns();
        if (rc) {
            w->err = rc;
            break;
        }
        w->t_wake[i] = t;
        w->v_wake[i] = v;
        seen = v;
    }
    return NULL;
}

typedef struct wait_result {
    int64_t p50, p99, max, p50_start;
} wait_result;

static wait_result wait_round(inmem_db *db, const inmem_run_id *run, int use_watch, uint32_t n)
{
    wait_ctx w;
    memset(&w, 0, sizeof(w));
    w.db = db;
    w.run = *run;
    w.use_watch = use_watch;
    w.n = n;
    w.t_wake = xcalloc(n, sizeof(uint64_t));
    w.v_wake = xcalloc(n, sizeof(uint64_t));
    uint64_t *t_c0 = xcalloc(n, sizeof(uint64_t)), *t_c1 = xcalloc(n, sizeof(uint64_t)),
             *v_c = xcalloc(n, sizeof(uint64_t));
    unsigned char val[VAL_LEN];
    memset(val, 'w', VAL_LEN);
    CHECK(inmem_put(db, run, WAIT_KEY, 4, val, VAL_LEN, &w.first_seen));
    atomic_init(&w.ready, 0);
    pthread_t tid;
    if (pthread_create(&tid, NULL, waiter_main, &w))
        die("pthread_create failed");
    for (uint32_t i = 0; i < n; i++) {
        while (atomic_load_explicit(&w.ready, memory_order_acquire) < i + 1) {
            if (w.err)
                die("inmem_wait failed: %s", inmem_errname(w.err));
            sleep_ns(20000);
        }
        sleep_ns(200000); /* the waiter is asleep in inmem_wait / poll by now */
        value_set(val, i, i);
        uint64_t t0 = now_ns();
        CHECK(inmem_put(db, run, WAIT_KEY, 4, val, VAL_LEN, &v_c[i]));
        uint64_t t1 = now_ns();
        t_c0[i] = t0;
        t_c1[i] = t1;
    }
    if (pthread_join(tid, NULL))
        die("pthread_join failed");
    if (w.err)
        die("inmem_wait failed: %s", inmem_errname(w.err));
    int64_t *lat = xcalloc(n, sizeof(int64_t)), *lat0 = xcalloc(n, sizeof(int64_t));
    for (uint32_t i = 0; i < n; i++) {
        if (w.v_wake[i] != v_c[i])
            die("wait: iteration %" PRIu32 " woke with version %" PRIu64 ", committed %" PRIu64, i,
                w.v_wake[i], v_c[i]);
        lat[i] = (int64_t)w.t_wake[i] - (int64_t)t_c1[i];
        lat0[i] = (int64_t)w.t_wake[i] - (int64_t)t_c0[i];
    }
    qsort(lat, n, sizeof(int64_t), cmp_i64v);
    qsort(lat0, n, sizeof(int64_t), cmp_i64v);
    wait_result r = {pctl(lat, n, 50), pctl(lat, n, 99), lat[n - 1], pctl(lat0, n, 50)};
    free(lat);
    free(lat0);
    free(t_c0);
    free(t_c1);
    free(v_c);
    free(w.t_wake);
    free(w.v_wake);
    return r;
}

static void target6(int rounds, uint32_t n)
{
    printf("\n6. inmem_wait wake latency: commit return -> wait return (CLOCK_MONOTONIC), %" PRIu32
           " wake-ups a round, the committer sleeping 200 us before each put\n",
           n);
    inmem_db *db = db_open(0, 0);
    inmem_run_id run;
    CHECK(inmem_run_begin_db(db, NULL, &run));
    printf("  %-28s %5s %10s %10s %10s %22s\n", "", "round", "p50 us", "p99 us", "max us",
           "p50 from commit start");
    double p50[2][64], p99[2][64];
    for (int r = 0; r < rounds; r++)
        for (int watch = 0; watch < 2; watch++) {
            wait_result wr = wait_round(db, &run, watch, n);
            p50[watch][r] = (double)wr.p50 / 1e3;
            p99[watch][r] = (double)wr.p99 / 1e3;
            printf("  %-28s %5d %10.1f %10.1f %10.1f %22.1f\n",
                   watch ? "watch (poll on its fd)" : "inmem_wait", r + 1, (double)wr.p50 / 1e3,
                   (double)wr.p99 / 1e3, (double)wr.max / 1e3, (double)wr.p50_start / 1e3);
        }
    spread s50 = spread_of(p50[0], rounds), s99 = spread_of(p99[0], rounds);
    spread w50 = spread_of(p50[1], rounds), w99 = spread_of(p99[1], rounds);
    printf("  -> inmem_wait: p50 %.1f us (rounds %.1f-%.1f), p99 %.1f us (%.1f-%.1f); watch: p50 "
           "%.1f us, p99 %.1f us (medians of the rounds)\n",
           s50.med, s50.min, s50.max, s99.med, s99.min, s99.max, w50.med, w99.med);
    add_verdict("6. inmem_wait wake latency p50 <= 50 us", s50.med <= 50.0,
                "p50 %.1f us (rounds %.1f-%.1f), p99 %.1f us; watch p50 %.1f, p99 %.1f", s50.med,
                s50.min, s50.max, s99.med, w50.med, w99.med);
    CHECK(inmem_db_close(db));
}

/* ---- header ----------------------------------------------------------------------------- */

static void read_first_line(const char *path, const char *prefix, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    char line[512];
    snprintf(buf, cap, "?");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (!prefix || strncmp(line, prefix, strlen(prefix)) == 0) {
            line[strcspn(line, "\n")] = '\0';
            const char *v = line;
            if (prefix) {
                const char *c = strchr(line, ':');
                v = c ? c + 1 + (c[1] == ' ') : line;
            }
            size_t l = strlen(v);
            if (l >= cap)
                l = cap - 1;
            memcpy(buf, v, l);
            buf[l] = '\0';
            break;
        }
    }
    fclose(f);
}

static void print_load(const char *when)
{
    char load[128], psi[256];
    read_first_line("/proc/loadavg", NULL, load, sizeof(load));
    read_first_line("/proc/pressure/cpu", NULL, psi, sizeof(psi));
    printf("%s: loadavg %s | cpu pressure %s\n", when, load, psi);
}

#endif /* !HB_BASELINE */

static void usage(FILE *to)
{
    fputs("usage: bench_history [--base PATH] [--base-label S] [--label S] [--rounds N] [--ms N]\n"
          "                     [--only LIST]\n"
          "       bench_history --ab-only [--ms N] [--ops N]\n"
          "  The history benchmarks of issue 13 (targets 1-6; docs/BENCHMARKS.md). --base: the\n"
          "  same program built against the library before history (target 1; skipped without\n"
          "  it). --rounds: alternations per ratio (5); --ms: window per measurement (500).\n"
          "  --only 1,2,...: those targets only. --ab-only: one side of target 1 (what the\n"
          "  baseline build can run); --ops N: N operations of each metric instead of timed\n"
          "  windows (for callgrind).\n",
          to);
}

int main(int argc, char **argv)
{
    const char *base = NULL, *base_label = "?", *label = "?", *only = NULL;
    int rounds = 5, ab = 0;
    uint64_t ms = 500, ops = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--ab-only") == 0) {
            ab = 1;
        } else if (strcmp(a, "--base") == 0 && v) {
            base = v;
            i++;
        } else if (strcmp(a, "--base-label") == 0 && v) {
            base_label = v;
            i++;
        } else if (strcmp(a, "--label") == 0 && v) {
            label = v;
            i++;
        } else if (strcmp(a, "--only") == 0 && v) {
            only = v;
            i++;
        } else if (strcmp(a, "--rounds") == 0 && v) {
            rounds = atoi(v);
            i++;
        } else if (strcmp(a, "--ms") == 0 && v) {
            ms = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--ops") == 0 && v) {
            ops = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (rounds < 1 || rounds > 64 || ms < 10)
        die("--rounds must be 1..64 and --ms at least 10");
    if (ab) {
        ab_only(ms * 1000000u, ops);
        return 0;
    }
#ifdef HB_BASELINE
    (void)base;
    (void)base_label;
    (void)label;
    (void)only;
    die("the baseline build runs --ab-only only");
#else
    uint64_t dur = ms * 1000000u;
    char cpu[256], date[64];
    read_first_line("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
    printf("inmem history benchmarks (issue 13) | inmem %s, commit %s | %s, nproc %ld | %s\n",
           inmem_version_string(), label, cpu, sysconf(_SC_NPROCESSORS_ONLN), date);
    printf("in-memory databases (durability none), 16-byte keys, 100-byte values; %d rounds, "
           "%.1f s windows; figures are medians of the rounds\n",
           rounds, (double)dur / 1e9);
    print_load("start");
    fflush(stdout);
    uint64_t t_start = now_ns();
#define WANT(k) (!only || strchr(only, (k)))
    if (WANT('1')) {
        target1(base, base_label, rounds, dur);
        fflush(stdout);
    }
    if (WANT('2')) {
        fprintf(stderr, "  target 2...\n");
        target2(rounds, dur);
        target2_batched(rounds, dur);
        fflush(stdout);
    }
    if (WANT('3')) {
        fprintf(stderr, "  target 3...\n");
        target3(rounds, dur);
        fflush(stdout);
    }
    if (WANT('4') || WANT('5')) {
        fprintf(stderr, "  targets 4 and 5...\n");
        target45(rounds, dur);
        fflush(stdout);
    }
    if (WANT('6')) {
        fprintf(stderr, "  target 6...\n");
        target6(rounds, 2000);
    }
    printf("\nSummary (ratios from the same run; B/A > 1 means B is faster)\n");
    for (int i = 0; i < nverdicts; i++)
        printf("  %-74s %-7s %s\n", verdicts[i].target, verdicts[i].met ? "met" : "MISSED",
               verdicts[i].measured);
    print_load("end");
    printf("total %.1f s\n", (double)(now_ns() - t_start) / 1e9);
    return 0;
#endif
}
