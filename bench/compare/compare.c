/*
 * compare.c — the side-by-side benchmark: inmem against RocksDB (OptimisticTransactionDB),
 * LMDB, SQLite (WAL), WiredTiger (snapshot isolation) and Redis (WATCH/MULTI/EXEC), all in one
 * invocation, through the driver interface of compare.h (`make bench-compare`, FULL=1 for the
 * whole suite; `build/inmem_compare --help` for the options).
 *
 * Workloads (keys 16 B, values 100 B, 100,000 keys preloaded unless said):
 *   W1 blind put, 1 thread, one put per transaction           durability none and batched
 *   W2 get k + put k per transaction, 1 thread                 durability none and batched
 *   W3 read-only snapshot transactions of 4 gets, 1 and 2 threads          durability none
 *   W4 2 threads incrementing 10 hot counters, retried on conflict         durability none
 *   W5 blind puts with 1, 4 and 16 threads (each thread its own keys)      durability strict
 *   W6 begin + one get + commit at 1 K, 100 K and 1 M keys (p50, p99)      durability none
 *   W7 recovery: N commits of one put (100 B values over 100,000 keys) with batched
 *      durability, then (a) a clean close, (b) a writer process killed with SIGKILL after its
 *      last commit; timed: open until the first read has succeeded. N = 1,000,000 (100 MB of
 *      values) with --full, 200,000 in the quick suite. The writer of an in-process engine is
 *      this program re-executed (--w7-writer: a fresh process, no library state inherited
 *      through fork); Redis's writer is its server, stopped (SIGTERM) or killed (SIGKILL).
 *      Afterwards 2,000 keys are checked: after a clean close each must hold its last value;
 *      after a kill, values lost are reported, values never written fail the run.
 *   agent workloads (inmem only, agent.c).
 * Per line: committed transactions per second (logical transactions: a retried one counts
 * once), abort rate (conflicts / (commits + conflicts)), p50/p99 latency of a committed
 * transaction including its retries (clock_gettime around each; log-linear histogram, ~3 %
 * buckets), and inmem's ratio to the best other engine (> 1: inmem better).
 *
 * How: lines are grouped by database configuration (durability, key count); for each group,
 * each engine in turn gets a fresh directory, opens, preloads through its driver in
 * transactions of 1,000 puts, runs the group's lines, closes, and its directory is removed, so
 * the engines of one line are measured minutes apart at most. Each line runs g_warmup_ns of
 * warm-up, then g_measure_ns measured. Threads start together at a barrier; each handle is
 * opened before the start. Every workload checks what it reads (each value carries its key,
 * a stamp and a checksum) and verifies its writes afterwards (the last puts of each thread read
 * back; W4: the counters' sum equals the committed increments), so that a broken driver fails
 * the run (exit 1) rather than posting a number. The header also measures this disk's serial
 * fdatasync rate (128-byte writes into a pre-written file), the floor of W5's target.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tests/fsutil.h"

#define KLEN        16
#define VLEN        100
#define NKEYS       100000u
#define NCOUNTERS   10
#define RING        64
#define PRELOAD_TXN 1000u
#define NENG        6

uint64_t g_measure_ns = 1000000000ull, g_warmup_ns = 200000000ull;
int g_full;

static const cmp_driver *const engines[NENG] = {
    &cmp_inmem_driver,  &cmp_rocksdb_driver,    &cmp_lmdb_driver,
    &cmp_sqlite_driver, &cmp_wiredtiger_driver, &cmp_redis_driver,
};
static int g_engine_on[NENG];
static const char *g_lines; /* --lines filter, NULL: all */
static uint64_t g_w7_commits;

/* ---- failure and cleanup ------------------------------------------------------------------ */

static char g_root[4096]; /* the run's temporary directory; empty in a writer child */
static pid_t g_main_pid;
static int g_child;
static pthread_mutex_t g_pid_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t g_pids[64];
static atomic_int g_dying;

void cmp_track_pid(int pid, int on)
{
    pthread_mutex_lock(&g_pid_mu);
    for (size_t i = 0; i < sizeof g_pids / sizeof *g_pids; i++)
        if (on ? g_pids[i] == 0 : g_pids[i] == pid) {
            g_pids[i] = on ? pid : 0;
            break;
        }
    pthread_mutex_unlock(&g_pid_mu);
}

void rm_tree(const char *dir)
{
    inmem_rm_tree(dir);
}

static void cleanup(void)
{
    if (getpid() != g_main_pid)
        return;
    for (size_t i = 0; i < sizeof g_pids / sizeof *g_pids; i++)
        if (g_pids[i] > 0) {
            kill(g_pids[i], SIGKILL);
            waitpid(g_pids[i], NULL, 0);
            g_pids[i] = 0;
        }
    rm_tree(g_root);
    g_root[0] = 0;
}

void cmp_die(const char *fmt, ...)
{
    if (atomic_exchange(&g_dying, 1)) /* another thread is already failing the run */
        for (;;)
            pause();
    fflush(stdout);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "inmem_compare%s: ", g_child ? " (writer)" : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    cleanup();
    _exit(1);
}

static void on_signal(int sig)
{
    /* Only async-signal-safe calls: kill the servers, remove the tree with rm, re-raise. */
    if (getpid() == g_main_pid) {
        for (size_t i = 0; i < sizeof g_pids / sizeof *g_pids; i++)
            if (g_pids[i] > 0) {
                kill(g_pids[i], SIGKILL);
                waitpid(g_pids[i], NULL, 0);
            }
        if (g_root[0]) {
            pid_t p = fork();
            if (p == 0) {
                execl("/bin/rm", "rm", "-rf", g_root, (char *)NULL);
                _exit(127);
            }
            if (p > 0)
                waitpid(p, NULL, 0);
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

uint64_t cmp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void progress(const char *fmt, ...)
{
    static int tty = -1;
    if (tty < 0)
        tty = isatty(2);
    if (!tty)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

uint64_t xrand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

void fresh_dir(const char *root, const char *tag, char *out, size_t cap)
{
    static atomic_int seq;
    snprintf(out, cap, "%s/%s-%d", root, tag, atomic_fetch_add(&seq, 1));
    if (mkdir(out, 0700))
        cmp_die("mkdir %s: %s", out, strerror(errno));
}

/* ---- background syncer -------------------------------------------------------------------- */

struct cmp_syncer {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    void (*fn)(void *);
    void *arg;
    unsigned ms;
};

static void *syncer_main(void *p)
{
    cmp_syncer *s = p;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)s->ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0) {
        }
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->mu);
        s->fn(s->arg);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

cmp_syncer *cmp_syncer_start(void (*fn)(void *), void *arg, unsigned interval_ms)
{
    cmp_syncer *s = calloc(1, sizeof *s);
    if (!s)
        cmp_die("out of memory");
    s->fn = fn;
    s->arg = arg;
    s->ms = interval_ms;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->mu, NULL);
    if (pthread_create(&s->th, NULL, syncer_main, s))
        cmp_die("pthread_create (syncer)");
    return s;
}

void cmp_syncer_stop(cmp_syncer *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- histograms --------------------------------------------------------------------------- */

/* Values below 64 have their own bucket; above, 32 sub-buckets per power of two. */
static unsigned hist_index(uint64_t v)
{
    if (v < 64)
        return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - 5;
    unsigned i = 32 * shift + (unsigned)(v >> shift);
    return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

static double hist_value(unsigned i)
{
    if (i < 64)
        return i;
    unsigned shift = i / 32 - 1;
    uint64_t m = i - 32 * shift;
    return (double)(m << shift) + (double)(1ull << shift) / 2;
}

void hist_add(hist *h, uint64_t ns)
{
    h->b[hist_index(ns)]++;
    h->n++;
}

void hist_merge(hist *into, const hist *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->n += from->n;
}

double hist_quantile(const hist *h, double q)
{
    if (!h->n)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->n + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank)
            return hist_value(i);
    }
    return hist_value(HIST_BUCKETS - 1);
}

/* ---- the timed runner --------------------------------------------------------------------- */

typedef struct runctl {
    const run_spec *s;
    pthread_barrier_t bar;
    uint64_t t_start;
} runctl;

static void *worker_main(void *p)
{
    worker *w = p;
    runctl *c = w->ctl;
    const run_spec *s = c->s;
    if (s->drv)
        w->h = s->drv->handle_open(s->db);
    if (s->thread_init)
        s->thread_init(w);
    pthread_barrier_wait(&c->bar);
    pthread_barrier_wait(&c->bar); /* t_start is set between the two */
    uint64_t mstart = c->t_start + g_warmup_ns, end = mstart + g_measure_ns, last = mstart;
    for (;;) {
        uint64_t t0 = cmp_now_ns();
        if (t0 >= end)
            break;
        w->uncommitted = 0;
        uint64_t conflicts = s->fn(w);
        uint64_t t1 = cmp_now_ns();
        if (!w->uncommitted)
            w->done_all++;
        if (t0 >= mstart) {
            w->aborts += conflicts;
            if (!w->uncommitted) {
                w->commits++;
                hist_add(&w->lat, t1 - t0);
            }
            last = t1;
        }
    }
    w->t_end = last;
    if (s->thread_finish)
        s->thread_finish(w);
    if (s->drv)
        s->drv->handle_close(w->h);
    return NULL;
}

void free_workers(worker **ws, int n)
{
    for (int i = 0; i < n; i++)
        free(ws[i]);
    free(ws);
}

result run_timed(const run_spec *s, worker ***workers_out)
{
    runctl c = {.s = s};
    int n = s->nthreads;
    worker **ws = calloc((size_t)n, sizeof *ws);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    if (!ws || !th || pthread_barrier_init(&c.bar, NULL, (unsigned)n + 1))
        cmp_die("out of memory");
    for (int i = 0; i < n; i++) {
        ws[i] = calloc(1, sizeof **ws);
        if (!ws[i])
            cmp_die("out of memory");
        *ws[i] = (worker){.tid = i,
                          .nthreads = n,
                          .rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) ^ cmp_now_ns(),
                          .drv = s->drv,
                          .db = s->db,
                          .arg = s->arg,
                          .ctl = &c};
        if (pthread_create(&th[i], NULL, worker_main, ws[i]))
            cmp_die("pthread_create");
    }
    pthread_barrier_wait(&c.bar);
    c.t_start = cmp_now_ns();
    pthread_barrier_wait(&c.bar);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&c.bar);
    free(th);

    result r = {.valid = 1};
    hist all = {0};
    uint64_t commits = 0, aborts = 0, t_end = 0;
    for (int i = 0; i < n; i++) {
        commits += ws[i]->commits;
        aborts += ws[i]->aborts;
        hist_merge(&all, &ws[i]->lat);
        if (ws[i]->t_end > t_end)
            t_end = ws[i]->t_end;
    }
    uint64_t mstart = c.t_start + g_warmup_ns;
    double secs = t_end > mstart ? (double)(t_end - mstart) / 1e9 : 0;
    r.tps = secs > 0 ? (double)commits / secs : 0;
    r.abort_rate = commits + aborts ? (double)aborts / (double)(commits + aborts) : 0;
    r.p50_us = hist_quantile(&all, 0.50) / 1e3;
    r.p99_us = hist_quantile(&all, 0.99) / 1e3;
    if (workers_out)
        *workers_out = ws;
    else
        free_workers(ws, n);
    return r;
}

/* ---- keys and values ---------------------------------------------------------------------- */

/* 16 bytes: a prefix letter and 15 decimal digits (by hand: snprintf would cost the harness
 * more than some engines' whole get). */
static void key_of(char prefix, uint64_t i, char *k)
{
    k[0] = prefix;
    for (int p = KLEN - 1; p >= 1; p--, i /= 10)
        k[p] = (char)('0' + i % 10);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A value: [key index][stamp][check = mix(key, stamp)][76 bytes derived from check]. */
static void make_val(uint8_t *v, uint64_t key, uint64_t stamp)
{
    uint64_t chk = mix64(key * 0x9E3779B97F4A7C15ull ^ stamp);
    memcpy(v, &key, 8);
    memcpy(v + 8, &stamp, 8);
    memcpy(v + 16, &chk, 8);
    uint64_t x = chk;
    for (size_t i = 24; i < VLEN; i += 8) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        memcpy(v + i, &x, VLEN - i < 8 ? VLEN - i : 8);
    }
}

/* Checks a value read for @p key; returns its stamp. Any mismatch fails the run. */
static uint64_t check_val(const cmp_driver *d, const uint8_t *v, size_t len, uint64_t key,
                          const char *where)
{
    uint64_t k, stamp, chk, f;
    if (len != VLEN)
        cmp_die("%s %s: value of key %" PRIu64 " has %zu bytes, not %d", d->name, where, key, len,
                VLEN);
    memcpy(&k, v, 8);
    memcpy(&stamp, v + 8, 8);
    memcpy(&chk, v + 16, 8);
    memcpy(&f, v + 24, 8);
    if (k != key || chk != mix64(key * 0x9E3779B97F4A7C15ull ^ stamp) ||
        f != chk * 6364136223846793005ull + 1442695040888963407ull)
        cmp_die("%s %s: wrong value for key %" PRIu64 " (holds key %" PRIu64 ", stamp %" PRIu64 ")",
                d->name, where, key, k, stamp);
    return stamp;
}

/* get that must find the key; returns the stamp. */
static int get_stamp(const cmp_driver *d, void *h, char prefix, uint64_t key, uint64_t *stamp,
                     const char *where)
{
    char k[KLEN];
    uint8_t v[VLEN + 28];
    size_t len = 0;
    key_of(prefix, key, k);
    int rc = d->get(h, k, KLEN, v, sizeof v, &len);
    if (rc == CMP_NOTFOUND)
        cmp_die("%s %s: key %c%" PRIu64 " not found", d->name, where, prefix, key);
    if (rc == CMP_OK)
        *stamp = check_val(d, v, len, prefix == 'k' ? key : key | (1ull << 40), where);
    return rc;
}

/* get of data key @p key that may be missing: CMP_OK (stamp set) or CMP_NOTFOUND. */
static int get_opt(const cmp_driver *d, void *h, uint64_t key, uint64_t *stamp, const char *where)
{
    char k[KLEN];
    uint8_t v[VLEN + 28];
    size_t len = 0;
    key_of('k', key, k);
    int rc = d->get(h, k, KLEN, v, sizeof v, &len);
    if (rc == CMP_CONFLICT)
        cmp_die("%s %s: conflict in a read-only transaction with no writer", d->name, where);
    if (rc == CMP_OK)
        *stamp = check_val(d, v, len, key, where);
    return rc;
}

static int put_stamp(const cmp_driver *d, void *h, char prefix, uint64_t key, uint64_t stamp)
{
    char k[KLEN];
    uint8_t v[VLEN];
    key_of(prefix, key, k);
    make_val(v, prefix == 'k' ? key : key | (1ull << 40), stamp);
    return d->put(h, k, KLEN, v, VLEN);
}

static void must(int rc, const cmp_driver *d, const char *what)
{
    if (rc != CMP_OK)
        cmp_die("%s: %s: unexpected %s", d->name, what,
                rc == CMP_CONFLICT ? "conflict" : "notfound");
}

/* Loads keys 0..n-1 (stamp 0) in transactions of PRELOAD_TXN puts, then reads three back. */
static void preload(const cmp_driver *d, void *db, uint64_t n)
{
    void *h = d->handle_open(db);
    for (uint64_t i = 0; i < n;) {
        d->begin(h, 1);
        for (uint64_t j = 0; j < PRELOAD_TXN && i < n; j++, i++)
            must(put_stamp(d, h, 'k', i, 0), d, "preload put");
        must(d->commit(h), d, "preload commit");
    }
    d->begin(h, 0);
    uint64_t probe[3] = {0, n / 2, n - 1}, st;
    for (int i = 0; i < 3; i++) {
        must(get_stamp(d, h, 'k', probe[i], &st, "preload"), d, "preload get");
        if (st != 0)
            cmp_die("%s preload: key %" PRIu64 " has stamp %" PRIu64, d->name, probe[i], st);
    }
    must(d->commit(h), d, "preload read commit");
    d->handle_close(h);
}

/* ---- KV workloads ------------------------------------------------------------------------- */

typedef struct kvargs {
    uint64_t nkeys;
    int partition; /* each thread writes only keys k with k % nthreads == tid */
    const char *line;
} kvargs;

/* The last RING puts of a thread, to read back at the end. */
typedef struct ring {
    uint64_t key[RING], stamp[RING];
    uint64_t n;
} ring;

static uint64_t stamp_of(worker *w)
{
    return ((uint64_t)(w->tid + 1) << 48) | (w->done_all + 1);
}

static uint64_t pick(worker *w, uint64_t n, int partition)
{
    uint64_t r = xrand(&w->rng);
    if (!partition || w->nthreads == 1)
        return r % n;
    uint64_t per = n / (uint64_t)w->nthreads;
    return (r % per) * (uint64_t)w->nthreads + (uint64_t)w->tid;
}

static void ring_init(worker *w)
{
    w->local = calloc(1, sizeof(ring));
    if (!w->local)
        cmp_die("out of memory");
}

/* Reads back the last puts of this thread: each key must hold the last stamp written to it. */
static void ring_verify(worker *w)
{
    ring *r = w->local;
    kvargs *a = w->arg;
    uint64_t first = r->n > RING ? r->n - RING : 0;
    for (int attempt = 0;; attempt++) {
        w->drv->begin(w->h, 0);
        int conflict = 0;
        for (uint64_t i = first; i < r->n && !conflict; i++) {
            uint64_t key = r->key[i % RING], want = r->stamp[i % RING], got;
            for (uint64_t j = i + 1; j < r->n; j++) /* a later put of the same key wins */
                if (r->key[j % RING] == key)
                    want = r->stamp[j % RING];
            int rc = get_stamp(w->drv, w->h, 'k', key, &got, a->line);
            if (rc == CMP_CONFLICT) {
                conflict = 1;
                break;
            }
            if (got != want)
                cmp_die("%s %s: thread %d: key %" PRIu64 " holds stamp %" PRIx64
                        " after the run, its last committed put wrote %" PRIx64,
                        w->drv->name, a->line, w->tid, key, got, want);
        }
        if (conflict)
            w->drv->abort(w->h);
        else if (w->drv->commit(w->h) == CMP_OK)
            break;
        if (attempt > 100)
            cmp_die("%s %s: verification keeps conflicting", w->drv->name, a->line);
    }
    free(r);
}

static void ring_add(worker *w, uint64_t key, uint64_t stamp)
{
    ring *r = w->local;
    r->key[r->n % RING] = key;
    r->stamp[r->n % RING] = stamp;
    r->n++;
}

/* W1, W5: one blind put per transaction. */
static uint64_t fn_put(worker *w)
{
    kvargs *a = w->arg;
    const cmp_driver *d = w->drv;
    uint64_t key = pick(w, a->nkeys, a->partition), stamp = stamp_of(w), conflicts = 0;
    for (;;) {
        d->begin(w->h, 1);
        if (put_stamp(d, w->h, 'k', key, stamp) == CMP_CONFLICT) {
            d->abort(w->h);
            conflicts++;
            continue;
        }
        if (d->commit(w->h) == CMP_OK)
            break;
        conflicts++;
    }
    ring_add(w, key, stamp);
    return conflicts;
}

/* W2: get k, put k. */
static uint64_t fn_rmw(worker *w)
{
    kvargs *a = w->arg;
    const cmp_driver *d = w->drv;
    uint64_t key = pick(w, a->nkeys, a->partition), stamp = stamp_of(w), conflicts = 0, old;
    for (;;) {
        d->begin(w->h, 1);
        if (get_stamp(d, w->h, 'k', key, &old, a->line) == CMP_CONFLICT ||
            put_stamp(d, w->h, 'k', key, stamp) == CMP_CONFLICT) {
            d->abort(w->h);
            conflicts++;
            continue;
        }
        if (d->commit(w->h) == CMP_OK)
            break;
        conflicts++;
    }
    ring_add(w, key, stamp);
    return conflicts;
}

/* W3 (4 gets) and W6 (1 get): read-only snapshot transactions. */
static uint64_t fn_read(worker *w, int gets)
{
    kvargs *a = w->arg;
    const cmp_driver *d = w->drv;
    uint64_t conflicts = 0, st;
    for (;;) {
        d->begin(w->h, 0);
        int c = 0;
        for (int i = 0; i < gets && !c; i++)
            c = get_stamp(d, w->h, 'k', xrand(&w->rng) % a->nkeys, &st, a->line) == CMP_CONFLICT;
        if (c)
            d->abort(w->h);
        else if (d->commit(w->h) == CMP_OK)
            return conflicts;
        conflicts++;
    }
}

static uint64_t fn_read4(worker *w)
{
    return fn_read(w, 4);
}

static uint64_t fn_read1(worker *w)
{
    return fn_read(w, 1);
}

/* W4: increment one of NCOUNTERS counters (key 'c'<i>, stamp = count), retried. */
static uint64_t fn_counter(worker *w)
{
    const cmp_driver *d = w->drv;
    uint64_t c = xrand(&w->rng) % NCOUNTERS, conflicts = 0, count;
    for (;;) {
        d->begin(w->h, 1);
        if (get_stamp(d, w->h, 'c', c, &count, "W4") == CMP_CONFLICT ||
            put_stamp(d, w->h, 'c', c, count + 1) == CMP_CONFLICT) {
            d->abort(w->h);
            conflicts++;
            continue;
        }
        if (d->commit(w->h) == CMP_OK)
            return conflicts;
        conflicts++;
    }
}

/* ---- lines -------------------------------------------------------------------------------- */

enum {
    L_W1N,
    L_W2N,
    L_W3_1,
    L_W3_2,
    L_W4,
    L_W6_100K,
    L_W1B,
    L_W2B,
    L_W5_1,
    L_W5_4,
    L_W5_16,
    L_W6_1K,
    L_W6_1M,
    L_W7C,
    L_W7K,
    NLINES
};

enum { K_TPS, K_LAT, K_REOPEN };

static const struct linedef {
    const char *id;
    const char *title;
    int kind;
} lines[NLINES] = {
    [L_W1N] = {"W1-none", "W1 blind put, 1 thread, one put per txn; durability none", K_TPS},
    [L_W2N] = {"W2-none", "W2 get k + put k per txn, 1 thread; durability none", K_TPS},
    [L_W3_1] = {"W3-1t", "W3 read-only snapshot txns of 4 gets, 1 thread; durability none", K_TPS},
    [L_W3_2] = {"W3-2t", "W3 read-only snapshot txns of 4 gets, 2 threads; durability none", K_TPS},
    [L_W4] = {"W4", "W4 2 threads incrementing 10 hot counters, retry on conflict; durability none",
              K_TPS},
    [L_W6_100K] = {"W6-100K", "W6 begin + 1 get + commit, 100,000 keys; durability none", K_LAT},
    [L_W1B] = {"W1-batched", "W1 blind put, 1 thread, one put per txn; durability batched", K_TPS},
    [L_W2B] = {"W2-batched", "W2 get k + put k per txn, 1 thread; durability batched", K_TPS},
    [L_W5_1] = {"W5-1t", "W5 blind puts, durability strict, 1 thread", K_TPS},
    [L_W5_4] = {"W5-4t", "W5 blind puts, durability strict, 4 threads", K_TPS},
    [L_W5_16] = {"W5-16t", "W5 blind puts, durability strict, 16 threads", K_TPS},
    [L_W6_1K] = {"W6-1K", "W6 begin + 1 get + commit, 1,000 keys; durability none", K_LAT},
    [L_W6_1M] = {"W6-1M", "W6 begin + 1 get + commit, 1,000,000 keys; durability none", K_LAT},
    [L_W7C] = {"W7-clean", "W7 recovery after a clean close (batched log)", K_REOPEN},
    [L_W7K] = {"W7-killed", "W7 recovery after the writer was killed with SIGKILL (batched)",
               K_REOPEN},
};

static result g_res[NLINES][NENG];
static double g_fsync_rate, g_fsync_p50_us;
static uint64_t g_w7_log_bytes; /* inmem's replayed log on W7-clean */

static int want(const char *id)
{
    if (!g_lines)
        return 1;
    const char *p = g_lines;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n && !strncmp(id, p, n))
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* Runs one KV line on an open, preloaded database. */
static result run_line(int line, const cmp_driver *d, void *db, uint64_t nkeys)
{
    kvargs a = {.nkeys = nkeys, .partition = 0, .line = lines[line].id};
    run_spec s = {.nthreads = 1, .drv = d, .db = db, .arg = &a};
    switch (line) {
    case L_W1N:
    case L_W1B:
    case L_W5_1:
    case L_W5_4:
    case L_W5_16:
        s.fn = fn_put;
        s.thread_init = ring_init;
        s.thread_finish = ring_verify;
        a.partition = 1;
        s.nthreads = line == L_W5_4 ? 4 : line == L_W5_16 ? 16 : 1;
        return run_timed(&s, NULL);
    case L_W2N:
    case L_W2B:
        s.fn = fn_rmw;
        s.thread_init = ring_init;
        s.thread_finish = ring_verify;
        return run_timed(&s, NULL);
    case L_W3_1:
    case L_W3_2:
        s.fn = fn_read4;
        s.nthreads = line == L_W3_2 ? 2 : 1;
        return run_timed(&s, NULL);
    case L_W6_1K:
    case L_W6_100K:
    case L_W6_1M:
        s.fn = fn_read1;
        return run_timed(&s, NULL);
    case L_W4: {
        void *h = d->handle_open(db);
        d->begin(h, 1);
        for (uint64_t c = 0; c < NCOUNTERS; c++)
            must(put_stamp(d, h, 'c', c, 0), d, "W4 counter reset");
        must(d->commit(h), d, "W4 counter reset commit");
        s.fn = fn_counter;
        s.nthreads = 2;
        worker **ws;
        result r = run_timed(&s, &ws);
        uint64_t incr = 0, sum = 0, count;
        for (int i = 0; i < s.nthreads; i++)
            incr += ws[i]->done_all;
        free_workers(ws, s.nthreads);
        d->begin(h, 0);
        for (uint64_t c = 0; c < NCOUNTERS; c++) {
            must(get_stamp(d, h, 'c', c, &count, "W4 check"), d, "W4 check get");
            sum += count;
        }
        must(d->commit(h), d, "W4 check commit");
        d->handle_close(h);
        if (sum != incr)
            cmp_die("%s W4: LOST UPDATES: the counters sum to %" PRIu64 " but %" PRIu64
                    " increments committed",
                    d->name, sum, incr);
        snprintf(r.note, sizeof r.note, "counters sum = %" PRIu64 " = committed increments", sum);
        return r;
    }
    default:
        cmp_die("run_line: line %d is not a KV line", line);
    }
}

/* ---- reports ------------------------------------------------------------------------------ */

static void fmt_rate(double v, char *buf, size_t cap)
{
    if (v >= 1e6)
        snprintf(buf, cap, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, cap, "%.1fK", v / 1e3);
    else
        snprintf(buf, cap, "%.0f", v);
}

/* The best engine other than inmem on a line: index, or -1. Ratio > 1: inmem better. */
static int best_other(int line, double *ratio)
{
    int best = -1;
    for (int e = 1; e < NENG; e++) {
        const result *r = &g_res[line][e];
        if (!r->valid)
            continue;
        if (best < 0)
            best = e;
        else if (lines[line].kind == K_TPS   ? r->tps > g_res[line][best].tps
                 : lines[line].kind == K_LAT ? r->p50_us < g_res[line][best].p50_us
                                             : r->reopen_s < g_res[line][best].reopen_s)
            best = e;
    }
    const result *in = &g_res[line][0];
    *ratio = 0;
    if (best >= 0 && in->valid) {
        const result *b = &g_res[line][best];
        if (lines[line].kind == K_TPS)
            *ratio = b->tps > 0 ? in->tps / b->tps : 0;
        else if (lines[line].kind == K_LAT)
            *ratio = in->p50_us > 0 ? b->p50_us / in->p50_us : 0;
        else
            *ratio = in->reopen_s > 0 ? b->reopen_s / in->reopen_s : 0;
    }
    return best;
}

static void print_block(int line)
{
    int any = 0;
    for (int e = 0; e < NENG; e++)
        any |= g_res[line][e].valid;
    if (!any)
        return;
    printf("\n%s\n", lines[line].title);
    if (lines[line].kind == K_REOPEN) {
        printf("  %" PRIu64 " commits of one 100-byte put (keys cycling over %u), durability "
               "batched; timed from open until the first read has returned\n",
               g_w7_commits, NKEYS);
        printf("  %-11s %10s  %s\n", "engine", "reopen s", "details");
    } else
        printf("  %-11s %12s %8s %10s %10s\n", "engine", "txn/s", "abort %", "p50 us", "p99 us");
    for (int e = 0; e < NENG; e++) {
        const result *r = &g_res[line][e];
        if (!r->valid)
            continue;
        if (lines[line].kind == K_REOPEN)
            printf("  %-11s %10.4f  %s\n", engines[e]->name, r->reopen_s, r->note);
        else
            printf("  %-11s %12.0f %8.2f %10.2f %10.2f%s%s\n", engines[e]->name, r->tps,
                   100 * r->abort_rate, r->p50_us, r->p99_us, r->note[0] ? "  " : "", r->note);
    }
    double ratio;
    int b = best_other(line, &ratio);
    if (b >= 0 && g_res[line][0].valid)
        printf("  -> inmem vs best other (%s): %.*fx %s\n", engines[b]->name, ratio < 0.1 ? 3 : 2,
               ratio,
               lines[line].kind == K_TPS   ? "(txn/s ratio; > 1: inmem faster)"
               : lines[line].kind == K_LAT ? "(p50 ratio other/inmem; > 1: inmem faster)"
                                           : "(reopen time ratio other/inmem; > 1: inmem faster)");
    if (lines[line].kind == K_REOPEN && g_res[line][0].valid) {
        static const int replayers[] = {1, 4, 5}; /* rocksdb, wiredtiger, redis */
        int rb = -1;
        for (int i = 0; i < 3; i++) {
            const result *r = &g_res[line][replayers[i]];
            if (r->valid && (rb < 0 || r->reopen_s < g_res[line][rb].reopen_s))
                rb = replayers[i];
        }
        if (rb >= 0)
            printf("  -> inmem vs best engine that replays a log at open (%s): %.2fx "
                   "(lmdb and sqlite open a checkpointed B-tree: nothing to replay)\n",
                   engines[rb]->name, g_res[line][rb].reopen_s / g_res[line][0].reopen_s);
    }
    fflush(stdout);
}

/* ---- a group of lines on one database configuration --------------------------------------- */

static void group(cmp_durability dur, uint64_t nkeys, const int *ls, int nl, const char *root)
{
    int any = 0;
    for (int i = 0; i < nl; i++)
        any |= want(lines[ls[i]].id);
    if (!any)
        return;
    for (int e = 0; e < NENG; e++) {
        if (!g_engine_on[e])
            continue;
        const cmp_driver *d = engines[e];
        char dir[4096];
        fresh_dir(root, d->name, dir, sizeof dir);
        progress("[%s] open (%s), preload %" PRIu64 " keys\n", d->name,
                 dur == CMP_NONE      ? "none"
                 : dur == CMP_BATCHED ? "batched"
                                      : "strict",
                 nkeys);
        void *db = d->open(dir, dur);
        preload(d, db, nkeys);
        for (int i = 0; i < nl; i++) {
            if (!want(lines[ls[i]].id))
                continue;
            progress("[%s] %s\n", d->name, lines[ls[i]].id);
            g_res[ls[i]][e] = run_line(ls[i], d, db, nkeys);
        }
        d->close(db);
        rm_tree(dir);
    }
    for (int i = 0; i < nl; i++)
        print_block(ls[i]);
}

/* ---- W7 recovery -------------------------------------------------------------------------- */

/* N commits of one put each: commit i writes key i % NKEYS with stamp i. Returns seconds. */
static double write_log(const cmp_driver *d, void *db, uint64_t n)
{
    void *h = d->handle_open(db);
    uint64_t t0 = cmp_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        d->begin(h, 1);
        must(put_stamp(d, h, 'k', i % NKEYS, i), d, "W7 put");
        must(d->commit(h), d, "W7 commit");
    }
    double s = (double)(cmp_now_ns() - t0) / 1e9;
    d->handle_close(h);
    return s;
}

/* The writer process of W7 (re-executed, so that no library state is inherited by fork). */
static int writer_main(const char *engine, const char *dir, const char *count, const char *mode)
{
    g_child = 1;
    const cmp_driver *d = NULL;
    for (int e = 0; e < NENG; e++)
        if (!strcmp(engines[e]->name, engine))
            d = engines[e];
    if (!d)
        cmp_die("unknown engine %s", engine);
    uint64_t n = strtoull(count, NULL, 10);
    void *db = d->open(dir, CMP_BATCHED);
    double s = write_log(d, db, n);
    if (!strcmp(mode, "close"))
        d->close(db);
    printf("written %" PRIu64 " %.6f\n", n, s);
    fflush(stdout);
    if (!strcmp(mode, "kill"))
        for (;;)
            pause(); /* the parent kills us with SIGKILL */
    return 0;
}

static uint64_t g_du;
static int du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        g_du += (uint64_t)st->st_blocks * 512;
    return 0;
}

static uint64_t disk_usage(const char *dir)
{
    g_du = 0;
    nftw(dir, du_one, 32, FTW_PHYS);
    return g_du;
}

static void recovery(int line, int killed, const char *root)
{
    if (!want(lines[line].id))
        return;
    uint64_t n = g_w7_commits;
    for (int e = 0; e < NENG; e++) {
        if (!g_engine_on[e])
            continue;
        const cmp_driver *d = engines[e];
        char dir[4096];
        fresh_dir(root, d->name, dir, sizeof dir);
        progress("[%s] %s: writing %" PRIu64 " commits\n", d->name, lines[line].id, n);
        double wsecs;
        if (d->kill_server) { /* the writer is the server: write from here, then stop or kill it */
            void *db = d->open(dir, CMP_BATCHED);
            wsecs = write_log(d, db, n);
            if (killed)
                d->kill_server(db);
            else
                d->close(db);
        } else {
            int fds[2];
            if (pipe(fds))
                cmp_die("pipe: %s", strerror(errno));
            char count[32];
            snprintf(count, sizeof count, "%" PRIu64, n);
            fflush(stdout);
            pid_t pid = fork();
            if (pid < 0)
                cmp_die("fork: %s", strerror(errno));
            if (pid == 0) {
                dup2(fds[1], 1);
                close(fds[0]);
                close(fds[1]);
                execl("/proc/self/exe", "inmem_compare", "--w7-writer", d->name, dir, count,
                      killed ? "kill" : "close", (char *)NULL);
                _exit(127);
            }
            cmp_track_pid(pid, 1);
            close(fds[1]);
            FILE *f = fdopen(fds[0], "r");
            char buf[256] = "";
            uint64_t got = 0;
            if (!f || !fgets(buf, sizeof buf, f) ||
                sscanf(buf, "written %" SCNu64 " %lf", &got, &wsecs) != 2 || got != n)
                cmp_die("%s W7: the writer process failed (said \"%s\")", d->name, buf);
            fclose(f);
            if (killed && kill(pid, SIGKILL))
                cmp_die("kill: %s", strerror(errno));
            int st;
            waitpid(pid, &st, 0);
            cmp_track_pid(pid, 0);
            if (killed ? !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
                       : !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
                cmp_die("%s W7: writer ended with status %d", d->name, st);
        }
        uint64_t du = disk_usage(dir);

        /* Timed: open until the first read has succeeded. */
        uint64_t last = (n - 1) % NKEYS, stamp;
        uint64_t t0 = cmp_now_ns();
        void *db = d->open(dir, CMP_BATCHED);
        void *h = d->handle_open(db);
        d->begin(h, 0);
        int frc = get_opt(d, h, last, &stamp, lines[line].id);
        if (frc == CMP_NOTFOUND && !killed)
            cmp_die("%s %s: key %" PRIu64 " missing after a clean close", d->name, lines[line].id,
                    last);
        must(d->commit(h), d, "W7 first read commit");
        double secs = (double)(cmp_now_ns() - t0) / 1e9;
        uint64_t replayed = d->replayed_bytes ? d->replayed_bytes(db) : 0;

        /* Check: the last 1,000 commits' keys and every 100th key hold their last stamp. */
        uint64_t checked = 0, final = 0;
        d->begin(h, 0);
        for (uint64_t i = 0; i < 2000; i++) {
            uint64_t key = i < 1000 ? (n - 1 - i) % NKEYS : (i - 1000) * (NKEYS / 1000), s;
            uint64_t want_stamp = key + ((n - 1 - key) / NKEYS) * NKEYS;
            checked++;
            if (get_opt(d, h, key, &s, lines[line].id) == CMP_NOTFOUND)
                continue; /* lost with the killed writer: counted, not final */
            if (s % NKEYS != key || s > want_stamp)
                cmp_die("%s %s: key %" PRIu64 " holds stamp %" PRIu64 ", never written to it",
                        d->name, lines[line].id, key, s);
            final += s == want_stamp;
        }
        must(d->commit(h), d, "W7 check commit");
        d->handle_close(h);
        d->close(db);
        if (!killed && final != checked)
            cmp_die("%s %s: after a clean close only %" PRIu64 " of %" PRIu64
                    " keys checked hold their last value",
                    d->name, lines[line].id, final, checked);
        result *r = &g_res[line][e];
        r->valid = 1;
        r->reopen_s = secs;
        char extra[64] = "";
        if (replayed) {
            snprintf(extra, sizeof extra, ", replayed %.1f MB (%.0f MB/s)", replayed / 1e6,
                     replayed / 1e6 / secs);
            if (e == 0 && !killed)
                g_w7_log_bytes = replayed;
        }
        snprintf(r->note, sizeof r->note,
                 "writer %.0f commits/s, %.1f MB on disk, keys at their last value %" PRIu64
                 "/%" PRIu64 "%s",
                 (double)n / wsecs, du / 1e6, final, checked, extra);
        rm_tree(dir);
    }
    print_block(line);
}

/* ---- header ------------------------------------------------------------------------------- */

static void sh_line(const char *cmd, char *out, size_t cap)
{
    out[0] = 0;
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    if (fgets(out, (int)cap, p))
        out[strcspn(out, "\n")] = 0;
    pclose(p);
}

/* Serial fdatasync rate of 128-byte writes into a pre-written file: the disk's commit floor. */
static void fsync_probe(const char *root)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/fsync-probe", root);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (fd < 0)
        cmp_die("open %s: %s", path, strerror(errno));
    static char zero[1 << 20];
    for (int i = 0; i < 8; i++)
        if (write(fd, zero, sizeof zero) != (ssize_t)sizeof zero)
            cmp_die("write %s: %s", path, strerror(errno));
    if (fsync(fd))
        cmp_die("fsync: %s", strerror(errno));
    hist h = {0};
    char rec[128];
    memset(rec, 'f', sizeof rec);
    uint64_t t0 = cmp_now_ns(), end = t0 + g_measure_ns, off = 0, n = 0, t1 = t0;
    while ((t1 = cmp_now_ns()) < end && off + sizeof rec <= sizeof zero * 8) {
        if (pwrite(fd, rec, sizeof rec, (off_t)off) != (ssize_t)sizeof rec || fdatasync(fd))
            cmp_die("fsync probe: %s", strerror(errno));
        hist_add(&h, cmp_now_ns() - t1);
        off += sizeof rec;
        n++;
    }
    close(fd);
    unlink(path);
    g_fsync_rate = (double)n / ((double)(t1 - t0) / 1e9);
    g_fsync_p50_us = hist_quantile(&h, 0.5) / 1e3;
}

static void header(const char *root)
{
    char cpu[512] = "", date[64], buf[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(buf, sizeof buf, f))
        if (!strncmp(buf, "model name", 10)) {
            const char *c = strchr(buf, ':');
            snprintf(cpu, sizeof cpu, "%s", c ? c + 2 : buf);
            cpu[strcspn(cpu, "\n")] = 0;
            break;
        }
    if (f)
        fclose(f);
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    struct utsname u;
    uname(&u);
    long mem_kb = 0;
    f = fopen("/proc/meminfo", "r");
    if (f) {
        if (fscanf(f, "MemTotal: %ld kB", &mem_kb) != 1)
            mem_kb = 0;
        fclose(f);
    }
    printf("inmem comparison benchmark (%s suite)\n", g_full ? "full" : "quick");
    printf("date:     %s\n", date);
    printf("machine:  %s, nproc %ld, %.1f GiB RAM, Linux %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
           (double)mem_kb / (1 << 20), u.release);
    printf("packages:");
    const char *pk[] = {"librocksdb-dev",    "liblmdb-dev",    "libsqlite3-dev",
                        "libwiredtiger-dev", "libhiredis-dev", "redis-server"};
    for (size_t i = 0; i < sizeof pk / sizeof *pk; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "dpkg-query -W -f='${Version}' %s 2>/dev/null", pk[i]);
        sh_line(cmd, buf, sizeof buf);
        printf(" %s %s%s", pk[i], buf[0] ? buf : "?", i + 1 < sizeof pk / sizeof *pk ? "," : "\n");
    }
    printf("libraries:");
    for (int e = 0; e < NENG; e++)
        if (g_engine_on[e])
            printf(" %s: %s;", engines[e]->name, engines[e]->version());
    printf("\n");
    printf("settings: keys %d B, values %d B, %u keys preloaded unless said; per line %.1f s "
           "measured after %.1f s warm-up;\n"
           "          latency = one committed transaction including its retries "
           "(CLOCK_MONOTONIC); rates are committed txns over the measured wall time;\n"
           "          W7: %" PRIu64 " commits (%.0f MB of values)%s; "
           "temp dir %s\n",
           KLEN, VLEN, NKEYS, (double)g_measure_ns / 1e9, (double)g_warmup_ns / 1e9, g_w7_commits,
           g_w7_commits * VLEN / 1e6,
           g_w7_commits < 1000000 ? " (quick: the issue's 1,000,000 with FULL=1)" : "", root);
    printf("durability mapping:\n");
    static const char *dn[] = {"none", "batched", "strict"};
    for (int e = 0; e < NENG; e++) {
        if (!g_engine_on[e])
            continue;
        for (int d = 0; d < 3; d++)
            printf("  %-10s %-8s %s\n", d ? "" : engines[e]->name, dn[d],
                   engines[e]->mapping((cmp_durability)d));
    }
    fsync_probe(root);
    printf("disk:     serial fdatasync of 128-byte writes: %.0f/s (p50 %.0f us); W5 target = 10x "
           "= %.0f commits/s\n",
           g_fsync_rate, g_fsync_p50_us, 10 * g_fsync_rate);
    fflush(stdout);
}

/* ---- summary against the targets -------------------------------------------------- */

static void summary(void)
{
    printf("\nSummary: inmem against the best other engine (ratio > 1: inmem better)\n");
    printf("  %-10s %-14s %-26s %8s  %-34s %s\n", "line", "inmem", "best other", "ratio", "target",
           "status");
    for (int l = 0; l < NLINES; l++) {
        const result *in = &g_res[l][0];
        if (!in->valid)
            continue;
        double ratio;
        int b = best_other(l, &ratio);
        char iv[32], bv[64] = "-", rs[16] = "-";
        if (lines[l].kind == K_TPS)
            fmt_rate(in->tps, iv, sizeof iv);
        else if (lines[l].kind == K_LAT)
            snprintf(iv, sizeof iv, "%.2f us p50", in->p50_us);
        else
            snprintf(iv, sizeof iv, "%.4f s", in->reopen_s);
        if (b >= 0) {
            char t[32];
            const result *br = &g_res[l][b];
            if (lines[l].kind == K_TPS)
                fmt_rate(br->tps, t, sizeof t);
            else if (lines[l].kind == K_LAT)
                snprintf(t, sizeof t, "%.2f us", br->p50_us);
            else
                snprintf(t, sizeof t, "%.4f s", br->reopen_s);
            snprintf(bv, sizeof bv, "%s %s", engines[b]->name, t);
            snprintf(rs, sizeof rs, "%.*fx", ratio < 0.1 ? 3 : 2, ratio);
        }
        char target[64] = "-";
        const char *status = "";
        int met = -1; /* -1: no target or not measurable here */
        switch (l) {
        case L_W1N:
        case L_W1B:
        case L_W2N:
        case L_W2B:
            snprintf(target, sizeof target, ">= 3x best other");
            met = b >= 0 ? ratio >= 3 : -1;
            break;
        case L_W3_2:
        case L_W4:
            snprintf(target, sizeof target, ">= 2x best other%s",
                     l == L_W4 ? ", no lost update" : "");
            met = b >= 0 ? ratio >= 2 : -1;
            break;
        case L_W5_16:
            snprintf(target, sizeof target, ">= %.0f/s (10x fsync) and >= 2x", 10 * g_fsync_rate);
            met =
                b >= 0 ? ratio >= 2 && in->tps >= 10 * g_fsync_rate : in->tps >= 10 * g_fsync_rate;
            break;
        case L_W6_100K:
        case L_W6_1M:
            snprintf(target, sizeof target, "p50 <= lmdb's");
            met = g_res[l][2].valid ? in->p50_us <= g_res[l][2].p50_us : -1;
            break;
        case L_W7C:
            if (g_w7_log_bytes) {
                double mbps = g_w7_log_bytes / 1e6 / in->reopen_s;
                snprintf(target, sizeof target, ">= 400 MB/s replay (now %.0f)", mbps);
                met = mbps >= 400 && (g_w7_commits < 1000000 || in->reopen_s <= 0.25);
            }
            break;
        default:
            break;
        }
        status = met < 0 ? "" : met ? "met" : "MISSED";
        printf("  %-10s %-14s %-26s %8s  %-34s %s\n", lines[l].id, iv, bv, rs, target, status);
    }
    if (g_res[L_W6_1K][0].valid && g_res[L_W6_1M][0].valid) {
        double f = g_res[L_W6_1M][0].p50_us / g_res[L_W6_1K][0].p50_us;
        char ctx[64] = "";
        if (g_res[L_W6_1K][2].valid && g_res[L_W6_1M][2].valid)
            snprintf(ctx, sizeof ctx, "lmdb %.2f",
                     g_res[L_W6_1M][2].p50_us / g_res[L_W6_1K][2].p50_us);
        printf("  %-10s %-14s %-26s %7.2fx  %-34s %s\n", "W6-flat", "p50 1M / 1K", ctx, f,
               "<= 1.25x (flat from 1K to 1M)", f <= 1.25 ? "met" : "MISSED");
    }
    fflush(stdout);
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(void)
{
    printf("usage: inmem_compare [--full] [--seconds S] [--warmup S] [--engines a,b,...]\n"
           "                     [--lines W1,W3-2t,...] [--w7-commits N]\n"
           "  Runs the side-by-side benchmark of inmem against rocksdb, lmdb, sqlite, wiredtiger\n"
           "  and redis (bench/compare/compare.c says what each line measures).\n"
           "  --full          the whole suite: 5 s per line, W7 with 1,000,000 commits\n"
           "  --seconds S     measured seconds per line (default 1, full 5)\n"
           "  --warmup S      warm-up seconds per line (default 0.2, full 0.5)\n"
           "  --engines LIST  only these engines (inmem is always run: ratios need it)\n"
           "  --lines LIST    only lines whose id starts with one of these (W1, W6-1M, W7, A...)\n"
           "  --w7-commits N  commits of the recovery workload (default 200000, full 1000000)\n"
           "Databases live in a fresh directory under $TMPDIR (default /tmp), removed at exit.\n"
           "Exit status 1 if any driver fails or any check (values, lost updates) fails.\n");
}

int main(int argc, char **argv)
{
    g_main_pid = getpid();
    if (argc == 6 && !strcmp(argv[1], "--w7-writer"))
        return writer_main(argv[2], argv[3], argv[4], argv[5]);
    double secs = 0, warm = -1;
    const char *eng = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--full"))
            g_full = 1;
        else if (!strcmp(a, "--seconds") && v)
            secs = atof(argv[++i]);
        else if (!strcmp(a, "--warmup") && v)
            warm = atof(argv[++i]);
        else if (!strcmp(a, "--engines") && v)
            eng = argv[++i];
        else if (!strcmp(a, "--lines") && v)
            g_lines = argv[++i];
        else if (!strcmp(a, "--w7-commits") && v)
            g_w7_commits = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        } else {
            usage();
            return 2;
        }
    }
    g_measure_ns = (uint64_t)((secs > 0 ? secs : g_full ? 5.0 : 1.0) * 1e9);
    g_warmup_ns = (uint64_t)((warm >= 0 ? warm : g_full ? 0.5 : 0.2) * 1e9);
    if (!g_w7_commits)
        g_w7_commits = g_full ? 1000000 : 200000;
    if (g_w7_commits < NKEYS)
        g_w7_commits = NKEYS;
    for (int e = 0; e < NENG; e++) {
        g_engine_on[e] = !eng || e == 0;
        for (const char *p = eng; p && *p;) {
            size_t n = strcspn(p, ",");
            if (n == strlen(engines[e]->name) && !strncmp(p, engines[e]->name, n))
                g_engine_on[e] = 1;
            p += n + (p[n] == ',');
        }
    }

    const char *t = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/inmem-compare-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(g_root)) {
        fprintf(stderr, "inmem_compare: mkdtemp %s: %s\n", g_root, strerror(errno));
        return 1;
    }
    char root[4096];
    snprintf(root, sizeof root, "%s", g_root);
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, SIG_IGN);

    uint64_t t0 = cmp_now_ns();
    header(root);

    static const int ga[] = {L_W1N, L_W2N, L_W3_1, L_W3_2, L_W4, L_W6_100K};
    static const int gb[] = {L_W1B, L_W2B};
    static const int gc[] = {L_W5_1, L_W5_4, L_W5_16};
    static const int gd[] = {L_W6_1K};
    static const int ge[] = {L_W6_1M};
    group(CMP_NONE, NKEYS, ga, 6, root);
    group(CMP_BATCHED, NKEYS, gb, 2, root);
    group(CMP_STRICT, NKEYS, gc, 3, root);
    group(CMP_NONE, 1000, gd, 1, root);
    group(CMP_NONE, 1000000, ge, 1, root);
    recovery(L_W7C, 0, root);
    recovery(L_W7K, 1, root);
    if (want("A"))
        agent_workloads(root);
    summary();
    printf("\ntotal time %.0f s\n", (double)(cmp_now_ns() - t0) / 1e9);
    cleanup();
    return 0;
}
