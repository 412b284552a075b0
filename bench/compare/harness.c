/*
 * harness.c — the machinery every line of the comparison shares: failure and cleanup (cmp_die
 * stops the tracked servers and removes the run's temporary root before exiting, so a broken
 * driver cannot post a number nor leave a server behind), the clock, progress, the random
 * generator, temporary directories, the background syncer that drivers use for "batched",
 * latency histograms, and the timed runner (harness.h; the drivers' services in compare.h).
 *
 * The timed runner: each line runs g_warmup_ns of warm-up, then g_measure_ns measured. Threads
 * start together at a barrier; each handle is opened before the start. Per line it yields
 * committed transactions per second (logical transactions: a retried one counts once), the
 * abort rate (conflicts / (commits + conflicts)), and p50/p99 latency of a committed
 * transaction including its retries (clock_gettime around each; log-linear histogram, ~3 %
 * buckets). A call that ended without a commit (worker.uncommitted) counts its conflicts only.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "tests/fsutil.h"

uint64_t g_measure_ns = 1000000000ull, g_warmup_ns = 200000000ull;
int g_full;

/* ---- failure and cleanup ------------------------------------------------------------------ */

static char g_root[4096]; /* the run's temporary directory; empty in a writer child */
static pid_t g_main_pid;
static int g_child;
static pthread_mutex_t g_pid_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t g_pids[64];
static atomic_int g_dying;

void harness_init(void)
{
    g_main_pid = getpid();
}

void harness_as_writer(void)
{
    g_child = 1;
}

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

void harness_cleanup(void)
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
    harness_cleanup();
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

int harness_make_root(char *root, size_t cap)
{
    const char *t = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/inmem-compare-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(g_root)) {
        fprintf(stderr, "inmem_compare: mkdtemp %s: %s\n", g_root, strerror(errno));
        return -1;
    }
    snprintf(root, cap, "%s", g_root);
    atexit(harness_cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* ---- clock, progress, random numbers, directories ----------------------------------------- */

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

void rm_tree(const char *dir)
{
    inmem_rm_tree(dir);
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
    r.p999_us = hist_quantile(&all, 0.999) / 1e3;
    r.max_us = hist_quantile(&all, 1.0) / 1e3;
    if (workers_out)
        *workers_out = ws;
    else
        free_workers(ws, n);
    return r;
}
