/*
 * bench.c — the inmem benchmark table (`make bench`, `make bench BENCH_ARGS=--full`).
 *
 * What is measured, all in one run, each workload on its own fresh in-memory database
 * (inmem_db_open(NULL, defaults): durability NONE), with 16-byte keys and 100-byte values:
 *   1. put (implicit), 1 thread: inmem_put() of a random one of 100,000 preloaded keys.
 *   2. read-modify-write txn, 1 thread: begin, kv_get k, kv_put k (its counter + 1), commit,
 *      free, on a random one of 100,000 keys.
 *   3. point reads, 2 threads: read-only txns of 4 kv_gets on random keys (begin, 4 gets,
 *      commit, free), both threads over the same 100,000 keys at once.
 *   4. begin + 1 get + commit + free at 1K, 100K and 1M keys, plus the begin call alone (its own
 *      timestamps inside the same operation), to check that begin is O(1) in the data size.
 *   5. overwrite loop memory: implicit puts over 1,000 keys; VmRSS (/proc/self/status),
 *      retained versions and keys (inmem_db_stats) at checkpoints. 2M puts, 10M with --full.
 *      It runs first, before the sample buffers exist, so that RSS is the store's and not ours.
 * Preloads go through transactions of 1,000 puts each and are not timed.
 *
 * How: each timed section runs 0.2 s of warm-up, then for a fixed wall time (1.5 s; 4 s with
 * --full or FULL=1). Every operation is timed on its own with clock_gettime(CLOCK_MONOTONIC)
 * (key and value are prepared before the first timestamp); samples go to a preallocated,
 * pre-faulted array, sorted at the end for p50/p99 (nearest rank). Latencies include one timer
 * read, whose own cost is printed in the header. Rates are operations over the section's wall
 * time, key preparation and timer reads included. Keys are chosen uniformly at random (a
 * xorshift generator per thread, fixed seeds). Every value carries its key's index and a
 * counter; each workload checks them and the database counters afterwards (see the verify_
 * functions), so a broken store fails the run rather than being measured.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "inmem.h"

#define KEY_LEN          16
#define VAL_LEN          100
#define MAIN_KEYS        100000u
#define MEM_KEYS         1000u
#define PRELOAD_BATCH    1000u
#define READ_THREADS     2
#define GETS_PER_TXN     4
#define WARMUP_NS        200000000ull
#define SECTION_NS_QUICK 1500000000ull
#define SECTION_NS_FULL  4000000000ull
#define MAX_SAMPLES      ((size_t)1 << 23) /* per thread and section; a section stops early at it */
#define TIMER_PAIRS      200000u

/* ---- failure ---------------------------------------------------------------------------- */

static void fail(const char *call, int rc)
{
    fprintf(stderr, "inmem_bench: %s failed: %s (%s)\n", call, inmem_strerror(rc),
            inmem_errname(rc));
    exit(1);
}

/* Runs an inmem call; any result but INMEM_OK ends the program, naming the call. */
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
    fputs("inmem_bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

/* ---- time, randomness, keys and values -------------------------------------------------- */

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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

/* Uniform in [0, n) by multiply-shift (no division). */
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
static void value_init(unsigned char val[VAL_LEN])
{
    memset(val, 'v', VAL_LEN);
}

static void value_set(unsigned char val[VAL_LEN], uint64_t idx, uint64_t counter)
{
    memcpy(val, &idx, 8);
    memcpy(val + 8, &counter, 8);
}

/* Checks that @p val is a value of key @p idx and returns its counter. */
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

/* ---- samples ---------------------------------------------------------------------------- */

/* LSD radix sort (qsort of millions of samples would take seconds). */
static void sort_u32(uint32_t *v, size_t n, uint32_t *tmp)
{
    uint32_t *src = v, *dst = tmp;
    for (unsigned shift = 0; shift < 32; shift += 8) {
        size_t count[256] = {0};
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift) & 255]++;
        if (count[(src[0] >> shift) & 255] == n)
            continue; /* every sample has the same digit: already in order */
        size_t pos = 0;
        for (unsigned b = 0; b < 256; b++) {
            size_t c = count[b];
            count[b] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 255]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, n * sizeof(*v));
}

typedef struct pct {
    uint64_t p50, p99;
} pct;

/* Sorts the samples and returns their nearest-rank p50 and p99. */
static pct percentiles(uint32_t *v, size_t n, uint32_t *tmp)
{
    pct p = {0, 0};
    if (n == 0)
        return p;
    sort_u32(v, n, tmp);
    p.p50 = v[(n * 50 + 99) / 100 - 1];
    p.p99 = v[(n * 99 + 99) / 100 - 1];
    return p;
}

static uint32_t clamp32(uint64_t x)
{
    return x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
}

/* One timed operation: prepares its inputs, times itself, stores the end time in *now and
 * returns its latency in ns. */
typedef uint64_t (*op_fn)(void *ctx, uint64_t *now);

typedef struct run_result {
    size_t n;            /* operations run */
    uint64_t elapsed_ns; /* wall time from the start to the end of the last one */
} run_result;

/* Runs @p op for @p dur_ns (or until @p cap samples), storing latencies in @p samples.
 * With @p samples NULL it only runs (warm-up). */
static run_result run_timed(op_fn op, void *ctx, uint32_t *samples, size_t cap, uint64_t dur_ns)
{
    run_result r = {0, 0};
    uint64_t start = bench_now_ns(), now = start, end = start + dur_ns;
    while (now < end && (!samples || r.n < cap)) {
        uint64_t lat = op(ctx, &now);
        if (samples)
            samples[r.n] = clamp32(lat);
        r.n++;
    }
    r.elapsed_ns = now - start;
    return r;
}

/* Median cost of one clock_gettime() as seen between two back-to-back reads. */
static uint64_t timer_overhead_ns(void)
{
    uint32_t *v = xmalloc(TIMER_PAIRS * sizeof(*v)), *tmp = xmalloc(TIMER_PAIRS * sizeof(*v));
    for (unsigned i = 0; i < TIMER_PAIRS; i++) {
        uint64_t t0 = bench_now_ns();
        v[i] = clamp32(bench_now_ns() - t0);
    }
    pct p = percentiles(v, TIMER_PAIRS, tmp);
    free(v);
    free(tmp);
    return p.p50;
}

/* ---- databases -------------------------------------------------------------------------- */

static inmem_db *db_open(void)
{
    inmem_options opts;
    inmem_db *db;
    inmem_options_init(&opts);
    opts.durability = INMEM_DURABILITY_NONE;
    CHECK(inmem_db_open(NULL, &opts, &db));
    return db;
}

static inmem_stats db_stats(inmem_db *db)
{
    inmem_stats s;
    CHECK(inmem_db_stats(db, &s));
    return s;
}

/* Opens a database holding keys 0..n-1, each with counter 0, written in transactions of
 * PRELOAD_BATCH puts. */
static inmem_db *db_preloaded(uint32_t n)
{
    inmem_db *db = db_open();
    unsigned char key[KEY_LEN], val[VAL_LEN];
    value_init(val);
    for (uint32_t base = 0; base < n; base += PRELOAD_BATCH) {
        inmem_txn *txn;
        CHECK(inmem_txn_begin(db, &txn));
        for (uint32_t i = base; i < n && i < base + PRELOAD_BATCH; i++) {
            make_key(i, key);
            value_set(val, i, 0);
            CHECK(inmem_kv_put(txn, NULL, key, KEY_LEN, val, VAL_LEN));
        }
        CHECK(inmem_txn_commit(txn));
        inmem_txn_free(txn);
    }
    inmem_stats s = db_stats(db);
    if (s.keys != n)
        die("preload: stats.keys is %" PRIu64 " after loading %" PRIu32 " keys", s.keys, n);
    return db;
}

static void db_close(inmem_db *db)
{
    CHECK(inmem_db_close(db));
}

/* Checks, with implicit gets, that key i holds counter want[i] (0 if @p want is NULL) and
 * returns the sum of the counters. */
static uint64_t verify_counters(inmem_db *db, uint32_t n, const uint64_t *want, const char *where)
{
    unsigned char key[KEY_LEN];
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        void *val;
        size_t vlen;
        make_key(i, key);
        CHECK(inmem_get(db, NULL, key, KEY_LEN, &val, &vlen, NULL));
        uint64_t c = value_check(val, vlen, i, where);
        inmem_free(val);
        if (want && c != want[i])
            die("%s: key %" PRIu32 " holds counter %" PRIu64 ", last written %" PRIu64, where, i, c,
                want[i]);
        sum += c;
    }
    return sum;
}

/* ---- the table -------------------------------------------------------------------------- */

typedef struct row {
    char name[64];
    double rate;
    const char *unit;
    uint64_t p50, p99;
    run_result run;
    char notes[128];
} row;

#define MAX_ROWS 8
static row rows[MAX_ROWS];
static int nrows;

static row *row_add(const char *name, const char *unit, run_result r, pct p)
{
    if (nrows == MAX_ROWS)
        die("too many rows");
    row *w = &rows[nrows++];
    snprintf(w->name, sizeof(w->name), "%s", name);
    w->unit = unit;
    w->rate = r.elapsed_ns ? (double)r.n * 1e9 / (double)r.elapsed_ns : 0;
    w->p50 = p.p50;
    w->p99 = p.p99;
    w->run = r;
    w->notes[0] = '\0';
    return w;
}

typedef struct bench {
    uint64_t section_ns;
    uint32_t *samples; /* READ_THREADS * MAX_SAMPLES */
    uint32_t *samples2;
    uint32_t *scratch; /* for sorting, READ_THREADS * MAX_SAMPLES */
} bench;

/* ---- 1. put (implicit) ------------------------------------------------------------------ */

typedef struct put_ctx {
    inmem_db *db;
    rng r;
    uint32_t nkeys;
    uint64_t seq;   /* puts done, warm-up included; put number s writes counter s */
    uint64_t *last; /* per key: the counter last written */
    unsigned char key[KEY_LEN], val[VAL_LEN];
} put_ctx;

static uint64_t op_put(void *arg, uint64_t *now)
{
    put_ctx *c = arg;
    uint32_t idx = rng_below(&c->r, c->nkeys);
    uint64_t seq = ++c->seq;
    make_key(idx, c->key);
    value_set(c->val, idx, seq);
    uint64_t t0 = bench_now_ns();
    int rc = inmem_put(c->db, NULL, c->key, KEY_LEN, c->val, VAL_LEN, NULL);
    uint64_t t1 = bench_now_ns();
    if (rc != INMEM_OK)
        fail("inmem_put", rc);
    c->last[idx] = seq;
    *now = t1;
    return t1 - t0;
}

static void bench_put(bench *b)
{
    put_ctx c = {.r = {0x9E3779B97F4A7C15ull}, .nkeys = MAIN_KEYS};
    c.db = db_preloaded(MAIN_KEYS);
    c.last = xmalloc(MAIN_KEYS * sizeof(*c.last));
    memset(c.last, 0, MAIN_KEYS * sizeof(*c.last));
    value_init(c.val);
    uint64_t commits0 = db_stats(c.db).commits;

    run_timed(op_put, &c, NULL, 0, WARMUP_NS);
    run_result r = run_timed(op_put, &c, b->samples, MAX_SAMPLES, b->section_ns);
    pct p = percentiles(b->samples, r.n, b->scratch);

    /* verify: every key holds the last value put to it, one commit per put, no new keys */
    verify_counters(c.db, MAIN_KEYS, c.last, "put");
    inmem_stats s = db_stats(c.db);
    if (s.commits - commits0 != c.seq || s.keys != MAIN_KEYS)
        die("put: %" PRIu64 " puts but %" PRIu64 " commits, %" PRIu64 " keys", c.seq,
            s.commits - commits0, s.keys);
    row *w = row_add("put (implicit), 1 thread", "ops/s", r, p);
    snprintf(w->notes, sizeof(w->notes), "n=%zu, 100K keys", r.n);
    free(c.last);
    db_close(c.db);
}

/* ---- 2. read-modify-write --------------------------------------------------------------- */

typedef struct rmw_ctx {
    inmem_db *db;
    rng r;
    uint64_t committed;
    unsigned char key[KEY_LEN], val[VAL_LEN];
} rmw_ctx;

static uint64_t op_rmw(void *arg, uint64_t *now)
{
    rmw_ctx *c = arg;
    uint32_t idx = rng_below(&c->r, MAIN_KEYS);
    make_key(idx, c->key);
    uint64_t t0 = bench_now_ns();
    inmem_txn *txn;
    const void *val;
    size_t vlen;
    CHECK(inmem_txn_begin(c->db, &txn));
    CHECK(inmem_kv_get(txn, NULL, c->key, KEY_LEN, &val, &vlen, NULL));
    value_set(c->val, idx, value_check(val, vlen, idx, "rmw") + 1);
    CHECK(inmem_kv_put(txn, NULL, c->key, KEY_LEN, c->val, VAL_LEN));
    CHECK(inmem_txn_commit(txn));
    inmem_txn_free(txn);
    uint64_t t1 = bench_now_ns();
    c->committed++;
    *now = t1;
    return t1 - t0;
}

static void bench_rmw(bench *b)
{
    rmw_ctx c = {.r = {0xD1B54A32D192ED03ull}};
    c.db = db_preloaded(MAIN_KEYS);
    value_init(c.val);
    inmem_stats s0 = db_stats(c.db);

    run_timed(op_rmw, &c, NULL, 0, WARMUP_NS);
    run_result r = run_timed(op_rmw, &c, b->samples, MAX_SAMPLES, b->section_ns);
    pct p = percentiles(b->samples, r.n, b->scratch);

    /* verify: no increment lost (sum of counters = committed txns), no conflict */
    uint64_t sum = verify_counters(c.db, MAIN_KEYS, NULL, "rmw");
    inmem_stats s = db_stats(c.db);
    if (sum != c.committed || s.commits - s0.commits != c.committed ||
        s.aborts_read_conflict != s0.aborts_read_conflict)
        die("rmw: %" PRIu64 " txns committed, counters sum to %" PRIu64 ", stats.commits +%" PRIu64
            ", read conflicts +%" PRIu64,
            c.committed, sum, s.commits - s0.commits,
            s.aborts_read_conflict - s0.aborts_read_conflict);
    row *w = row_add("read-modify-write txn, 1 thread", "txn/s", r, p);
    snprintf(w->notes, sizeof(w->notes), "n=%zu, counter sum = txns ok", r.n);
    db_close(c.db);
}

/* ---- 3. point reads, 2 threads ---------------------------------------------------------- */

typedef struct read_ctx {
    inmem_db *db;
    rng r;
    uint32_t nkeys;
    uint64_t txns; /* warm-up included */
    unsigned char keys[GETS_PER_TXN][KEY_LEN];
    /* begin-alone samples (section 4 only; NULL otherwise) */
    uint32_t *begin_samples;
    size_t nbegin;
} read_ctx;

static uint64_t op_read4(void *arg, uint64_t *now)
{
    read_ctx *c = arg;
    uint32_t idx[GETS_PER_TXN];
    for (int i = 0; i < GETS_PER_TXN; i++) {
        idx[i] = rng_below(&c->r, c->nkeys);
        make_key(idx[i], c->keys[i]);
    }
    uint64_t t0 = bench_now_ns();
    inmem_txn *txn;
    CHECK(inmem_txn_begin(c->db, &txn));
    for (int i = 0; i < GETS_PER_TXN; i++) {
        const void *val;
        size_t vlen;
        CHECK(inmem_kv_get(txn, NULL, c->keys[i], KEY_LEN, &val, &vlen, NULL));
        value_check(val, vlen, idx[i], "point read");
    }
    CHECK(inmem_txn_commit(txn));
    inmem_txn_free(txn);
    uint64_t t1 = bench_now_ns();
    c->txns++;
    *now = t1;
    return t1 - t0;
}

typedef struct reader {
    pthread_t tid;
    read_ctx ctx;
    pthread_barrier_t *start;
    uint32_t *samples;
    uint64_t section_ns;
    run_result r;
} reader;

static void *reader_main(void *arg)
{
    reader *rd = arg;
    run_timed(op_read4, &rd->ctx, NULL, 0, WARMUP_NS);
    pthread_barrier_wait(rd->start); /* both measure over the same window */
    rd->r = run_timed(op_read4, &rd->ctx, rd->samples, MAX_SAMPLES, rd->section_ns);
    return NULL;
}

static void bench_reads(bench *b)
{
    inmem_db *db = db_preloaded(MAIN_KEYS);
    inmem_stats s0 = db_stats(db);
    pthread_barrier_t start;
    reader rd[READ_THREADS];
    if (pthread_barrier_init(&start, NULL, READ_THREADS))
        die("pthread_barrier_init failed");
    for (int t = 0; t < READ_THREADS; t++) {
        memset(&rd[t], 0, sizeof(rd[t]));
        rd[t].ctx.db = db;
        rd[t].ctx.r.s = 0xA0761D6478BD642Full * (uint64_t)(t + 1);
        rd[t].ctx.nkeys = MAIN_KEYS;
        rd[t].start = &start;
        rd[t].samples = b->samples + (size_t)t * MAX_SAMPLES;
        rd[t].section_ns = b->section_ns;
        if (pthread_create(&rd[t].tid, NULL, reader_main, &rd[t]))
            die("pthread_create failed");
    }
    run_result total = {0, 0};
    uint64_t txns = 0;
    for (int t = 0; t < READ_THREADS; t++) {
        if (pthread_join(rd[t].tid, NULL))
            die("pthread_join failed");
        /* gather the samples contiguously */
        memmove(b->samples + total.n, rd[t].samples, rd[t].r.n * sizeof(*b->samples));
        total.n += rd[t].r.n;
        if (rd[t].r.elapsed_ns > total.elapsed_ns)
            total.elapsed_ns = rd[t].r.elapsed_ns;
        txns += rd[t].ctx.txns;
    }
    pthread_barrier_destroy(&start);
    pct p = percentiles(b->samples, total.n, b->scratch);

    /* verify (values were checked on every get): every txn committed read-only, none wrote */
    inmem_stats s = db_stats(db);
    if (s.commits_readonly - s0.commits_readonly != txns || s.commits != s0.commits)
        die("reads: %" PRIu64 " read-only txns but stats.commits_readonly +%" PRIu64
            ", commits +%" PRIu64,
            txns, s.commits_readonly - s0.commits_readonly, s.commits - s0.commits);
    row *w = row_add("point reads (4 gets/txn), 2 threads", "txn/s", total, p);
    snprintf(w->notes, sizeof(w->notes), "= %.0f gets/s; per txn; n=%zu", w->rate * GETS_PER_TXN,
             total.n);
    db_close(db);
}

/* ---- 4. begin + 1 get at N keys --------------------------------------------------------- */

static uint64_t op_begin_get(void *arg, uint64_t *now)
{
    read_ctx *c = arg;
    uint32_t idx = rng_below(&c->r, c->nkeys);
    make_key(idx, c->keys[0]);
    const void *val;
    size_t vlen;
    inmem_txn *txn;
    uint64_t t0 = bench_now_ns();
    CHECK(inmem_txn_begin(c->db, &txn));
    uint64_t tb = bench_now_ns();
    CHECK(inmem_kv_get(txn, NULL, c->keys[0], KEY_LEN, &val, &vlen, NULL));
    value_check(val, vlen, idx, "begin+get");
    CHECK(inmem_txn_commit(txn));
    inmem_txn_free(txn);
    uint64_t t1 = bench_now_ns();
    if (c->begin_samples)
        c->begin_samples[c->nbegin++] = clamp32(tb - t0);
    c->txns++;
    *now = t1;
    return t1 - t0;
}

static void bench_begin(bench *b, pct begin_alone[3])
{
    static const uint32_t sizes[3] = {1000, 100000, 1000000};
    static const char *const names[3] = {"begin+get+commit+free @ 1K keys",
                                         "begin+get+commit+free @ 100K keys",
                                         "begin+get+commit+free @ 1M keys"};
    for (int k = 0; k < 3; k++) {
        uint64_t t_load = bench_now_ns();
        read_ctx c = {.r = {0xE7037ED1A0B428DBull}, .nkeys = sizes[k]};
        c.db = db_preloaded(sizes[k]);
        fprintf(stderr, "  preloaded %" PRIu32 " keys in %.2f s\n", sizes[k],
                (double)(bench_now_ns() - t_load) / 1e9);
        inmem_stats s0 = db_stats(c.db);

        run_timed(op_begin_get, &c, NULL, 0, WARMUP_NS);
        c.begin_samples = b->samples2;
        c.nbegin = 0;
        uint64_t txns0 = c.txns;
        run_result r = run_timed(op_begin_get, &c, b->samples, MAX_SAMPLES, b->section_ns);
        pct p = percentiles(b->samples, r.n, b->scratch);
        begin_alone[k] = percentiles(b->samples2, c.nbegin, b->scratch);

        /* verify (values checked on every get): read-only commits counted, size unchanged */
        inmem_stats s = db_stats(c.db);
        if (s.commits_readonly - s0.commits_readonly != c.txns || s.keys != sizes[k] ||
            c.nbegin != r.n || c.txns - txns0 != r.n)
            die("begin+get @ %" PRIu32 ": %" PRIu64 " txns but commits_readonly +%" PRIu64
                ", keys %" PRIu64,
                sizes[k], c.txns, s.commits_readonly - s0.commits_readonly, s.keys);
        row *w = row_add(names[k], "txn/s", r, p);
        snprintf(w->notes, sizeof(w->notes), "begin alone p50/p99 %" PRIu64 "/%" PRIu64 "; n=%zu",
                 begin_alone[k].p50, begin_alone[k].p99, r.n);
        db_close(c.db);
    }
}

/* ---- 5. overwrite loop memory ----------------------------------------------------------- */

/* VmRSS of this process in KiB. */
static uint64_t rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t kib = 0;
    if (!f)
        die("cannot open /proc/self/status");
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %" SCNu64, &kib) == 1)
            break;
    fclose(f);
    if (!kib)
        die("no VmRSS in /proc/self/status");
    return kib;
}

typedef struct mem_point {
    uint64_t puts, rss_kib, retained, keys;
    double puts_per_s; /* since the previous checkpoint */
} mem_point;

#define MAX_MEM_POINTS 5

static int bench_memory(int full, mem_point *pts)
{
    static const uint64_t quick[] = {500000, 1000000, 2000000};
    static const uint64_t longer[] = {1000000, 2000000, 5000000, 10000000};
    const uint64_t *marks = full ? longer : quick;
    int nmarks = full ? 4 : 3, np = 0;

    put_ctx c = {.r = {0x8BB84B93962EACC9ull}, .nkeys = MEM_KEYS};
    c.db = db_preloaded(MEM_KEYS);
    c.last = xmalloc(MEM_KEYS * sizeof(*c.last));
    memset(c.last, 0, MEM_KEYS * sizeof(*c.last));
    value_init(c.val);
    uint64_t commits0 = db_stats(c.db).commits;

    inmem_stats s = db_stats(c.db);
    pts[np++] = (mem_point){0, rss_kib(), s.retained_versions, s.keys, 0};
    uint64_t t_prev = bench_now_ns(), now = t_prev;
    for (int m = 0; m < nmarks; m++) {
        while (c.seq < marks[m])
            op_put(&c, &now);
        s = db_stats(c.db);
        double secs = (double)(now - t_prev) / 1e9;
        pts[np] = (mem_point){c.seq, rss_kib(), s.retained_versions, s.keys,
                              (double)(c.seq - pts[np - 1].puts) / secs};
        np++;
        t_prev = bench_now_ns();
        if (s.keys != MEM_KEYS)
            die("overwrite: stats.keys is %" PRIu64 ", expected %u", s.keys, MEM_KEYS);
    }

    /* verify: every key holds its last value; one commit per put */
    verify_counters(c.db, MEM_KEYS, c.last, "overwrite");
    s = db_stats(c.db);
    if (s.commits - commits0 != c.seq)
        die("overwrite: %" PRIu64 " puts but %" PRIu64 " commits", c.seq, s.commits - commits0);
    free(c.last);
    db_close(c.db);
    return np;
}

/* ---- header and output ------------------------------------------------------------------ */

static void cpu_model(char *buf, size_t len)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(buf, len, "unknown CPU");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + (v[1] == ' ');
                v[strcspn(v, "\n")] = '\0';
                snprintf(buf, len, "%s", v);
            }
            break;
        }
    }
    fclose(f);
}

static void usage(FILE *to)
{
    fputs("usage: inmem_bench [--full] [--recovery | --seed | --pauses | --memory]\n"
          "  Prints the inmem benchmark table. Quick by default (1.5 s per section, 2M-put\n"
          "  memory loop, about 15 s in all); --full (or FULL=1 in the environment) runs 4 s\n"
          "  sections and a 10M-put memory loop (about 30 s). --recovery: only the recovery\n"
          "  table (reopen with and without checkpoints). --seed: only the seed's targets\n"
          "  (issue 14 items 5 and 6: commit latency by read-set size, then the original\n"
          "  plan's targets; quick a few seconds, --full about a minute). --pauses: only the\n"
          "  commit pauses of hot keys under long snapshots (4 s, --full 10 s), then of a load\n"
          "  of unique keys (2 M, --full 10 M keys). --memory: only the machine's latency of\n"
          "  one random load by the size of memory it is spread over, 1 to 256 MiB, with small\n"
          "  and huge pages (about 20 s): what a cache miss costs this machine.\n",
          to);
}

int main(int argc, char **argv)
{
    int full = 0, recovery_only = 0, seed_only = 0, pauses_only = 0, memory_only = 0;
    const char *env = getenv("FULL");
    if (env && strcmp(env, "1") == 0)
        full = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--full") == 0) {
            full = 1;
        } else if (strcmp(argv[i], "--recovery") == 0) {
            recovery_only = 1;
        } else if (strcmp(argv[i], "--seed") == 0) {
            seed_only = 1;
        } else if (strcmp(argv[i], "--pauses") == 0) {
            pauses_only = 1;
        } else if (strcmp(argv[i], "--memory") == 0) {
            memory_only = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    char cpu[256], date[64];
    cpu_model(cpu, sizeof(cpu));
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t timer_ns = timer_overhead_ns();
    uint64_t t_start = bench_now_ns();
    if (recovery_only + seed_only + pauses_only + memory_only > 1) {
        usage(stderr);
        return 2;
    }
    if (memory_only) {
        printf("inmem %s | %s | nproc %ld | %s\n", inmem_version_string(), cpu, ncpu, date);
        bench_memlat();
        printf("\ntotal run %.1f s\n", (double)(bench_now_ns() - t_start) / 1e9);
        return 0;
    }
    if (pauses_only) {
        printf("inmem %s | %s | nproc %ld | %s\n", inmem_version_string(), cpu, ncpu, date);
        bench_pauses(full);
        printf("\nall checks passed; total run %.1f s\n", (double)(bench_now_ns() - t_start) / 1e9);
        return 0;
    }
    if (seed_only) {
        printf("inmem %s | %s | nproc %ld | %s\n", inmem_version_string(), cpu, ncpu, date);
        printf("%s mode; latencies include one clock_gettime (~%" PRIu64 " ns)\n",
               full ? "full" : "quick", timer_ns);
        bench_seed(full);
        printf("\nall checks passed; total run %.1f s\n", (double)(bench_now_ns() - t_start) / 1e9);
        return 0;
    }
    if (recovery_only) {
        printf("inmem %s | %s | nproc %ld | %s\n", inmem_version_string(), cpu, ncpu, date);
        bench_wal(full, 1);
        if (bench_close_busy())
            printf(
                "\nnote: inmem_db_close() returned INMEM_EBUSY at %lu closes with no transaction "
                "open (a background checkpoint held its snapshot); each was retried until it "
                "closed\n",
                bench_close_busy());
        printf("\nall checks passed; total run %.1f s\n", (double)(bench_now_ns() - t_start) / 1e9);
        return 0;
    }

    /* 5 first: before the sample buffers exist, on a heap no other database has used */
    mem_point pts[MAX_MEM_POINTS];
    fprintf(stderr, "inmem_bench: overwrite loop memory...\n");
    int npts = bench_memory(full, pts);

    bench b = {.section_ns = full ? SECTION_NS_FULL : SECTION_NS_QUICK};
    size_t bytes = READ_THREADS * MAX_SAMPLES * sizeof(uint32_t);
    b.samples = xmalloc(bytes);
    b.scratch = xmalloc(bytes);
    b.samples2 = xmalloc(MAX_SAMPLES * sizeof(uint32_t));
    /* fault the pages in now, not inside a timed section */
    memset(b.samples, 0, bytes);
    memset(b.scratch, 0, bytes);
    memset(b.samples2, 0, MAX_SAMPLES * sizeof(uint32_t));

    fprintf(stderr, "inmem_bench: put (implicit)...\n");
    bench_put(&b);
    fprintf(stderr, "inmem_bench: read-modify-write...\n");
    bench_rmw(&b);
    fprintf(stderr, "inmem_bench: point reads, %d threads...\n", READ_THREADS);
    bench_reads(&b);
    fprintf(stderr, "inmem_bench: begin + 1 get at 1K/100K/1M keys...\n");
    pct begin_alone[3];
    bench_begin(&b, begin_alone);
    free(b.samples);
    free(b.scratch);
    free(b.samples2);

    printf("inmem %s (header %s) | %s | nproc %ld | %s\n", inmem_version_string(),
           INMEM_VERSION_STRING, cpu, ncpu, date);
    printf("%s mode: %.1f s per section after 0.2 s warm-up; latencies per operation, "
           "including one clock_gettime (~%" PRIu64 " ns)\n\n",
           full ? "full" : "quick", (double)b.section_ns / 1e9, timer_ns);
    printf("%-36s %12s %-6s %9s %9s  %s\n", "workload", "rate", "unit", "p50 ns", "p99 ns",
           "notes");
    for (int i = 0; i < nrows; i++) {
        printf("%-36s %12.0f %-6s %9" PRIu64 " %9" PRIu64 "  %s", rows[i].name, rows[i].rate,
               rows[i].unit, rows[i].p50, rows[i].p99, rows[i].notes);
        if (rows[i].run.n >= MAX_SAMPLES) /* a thread filled its sample array */
            printf(" [sample cap: ran %.2f s]", (double)rows[i].run.elapsed_ns / 1e9);
        putchar('\n');
    }
    /* rows[nrows - 3] and rows[nrows - 1] are the 1K and 1M begin+get rows */
    double ratio = (double)rows[nrows - 1].p50 / (double)rows[nrows - 3].p50;
    double ratio_b = (double)begin_alone[2].p50 / (double)begin_alone[0].p50;
    printf("%-36s %12.2f %-6s %9s %9s  %s %.2fx %s\n", "  p50 ratio, 1M keys / 1K keys", ratio, "x",
           "", "", "begin alone:", ratio_b, "(acceptance: begin flat, ~1.0)");

    printf("\noverwrite loop memory: implicit puts of 100-byte values over %u keys\n", MEM_KEYS);
    printf("%12s %12s %12s %18s %8s %12s\n", "puts", "VmRSS MiB", "vs first", "retained_versions",
           "keys", "puts/s");
    for (int i = 0; i < npts; i++) {
        double mib = (double)pts[i].rss_kib / 1024.0;
        double first = (double)pts[npts > 1 ? 1 : 0].rss_kib / 1024.0;
        char rate[32] = "-", delta[32] = "-";
        if (i > 0) {
            snprintf(rate, sizeof(rate), "%.0f", pts[i].puts_per_s);
            snprintf(delta, sizeof(delta), "%+.1f", mib - first);
        }
        printf("%12" PRIu64 " %12.1f %12s %18" PRIu64 " %8" PRIu64 " %12s\n", pts[i].puts, mib,
               delta, pts[i].retained, pts[i].keys, rate);
    }
    printf("(row 0 is right after the preload; 'vs first' is the change since the first "
           "checkpoint)\n");
    fprintf(stderr, "inmem_bench: durability modes and recovery...\n");
    fflush(stdout);
    bench_wal(full, 0);
    fprintf(stderr, "inmem_bench: agent primitives...\n");
    bench_prims(full);
    bench_seed(full);
    bench_pauses(full);
    if (bench_close_busy())
        printf("\nnote: inmem_db_close() returned INMEM_EBUSY at %lu closes with no transaction "
               "open (a background checkpoint held its snapshot); each was retried until it "
               "closed\n",
               bench_close_busy());
    printf("\nall checks passed; total run %.1f s\n", (double)(bench_now_ns() - t_start) / 1e9);
    return 0;
}
