/*
 * harness.h — the machinery of the comparison that every workload shares (harness.c): failure
 * and cleanup, the run's temporary root, progress, the random generator, latency histograms,
 * the timed multi-thread runner and the result of one measured line. Used by the KV workloads
 * (workloads.c), the recovery lines (recovery.c), the agent workloads (agent.c), the report
 * (report.c) and main (compare.c). The services the drivers use are in compare.h.
 */
#ifndef INMEM_COMPARE_HARNESS_H
#define INMEM_COMPARE_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "compare.h"

/* ---- the run's settings (set by main before anything runs) -------------------------------- */

/** Seconds measured per line and warm-up before it (quick or full). */
extern uint64_t g_measure_ns, g_warmup_ns;
extern int g_full;

/* ---- failure and cleanup ------------------------------------------------------------------ */

/** Makes this process the one that cleans up when the run ends or fails; first thing in main. */
void harness_init(void);

/** Marks this process as W7's writer child: cmp_die() names it "(writer)". */
void harness_as_writer(void);

/**
 * Creates the run's temporary root (a fresh directory under $TMPDIR, default /tmp), copies its
 * path to @p root, and arranges for harness_cleanup() at exit and on SIGINT, SIGTERM and SIGHUP
 * (SIGPIPE is ignored). Returns 0, or -1 after printing why mkdtemp failed.
 */
int harness_make_root(char *root, size_t cap);

/** Kills the tracked servers and removes the temporary root (in the main process only). */
void harness_cleanup(void);

/* ---- small services ----------------------------------------------------------------------- */

/** Progress to stderr, only when it is a terminal. */
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** xorshift64*: advances the state @p s and returns its next pseudo-random number. */
uint64_t xrand(uint64_t *s);

/** A fresh directory under the run's temporary root; removed with rm_tree(). */
void fresh_dir(const char *root, const char *tag, char *out, size_t cap);
void rm_tree(const char *dir);

/* ---- latency histogram: log-linear, 32 sub-buckets per power of two (about 3 % wide) ---- */

#define HIST_BUCKETS 2048

typedef struct hist {
    uint64_t n;
    uint64_t b[HIST_BUCKETS];
} hist;

void hist_add(hist *h, uint64_t ns);
void hist_merge(hist *into, const hist *from);
/** The @p q quantile (0..1) in ns, nearest rank, at the middle of its bucket; 0 if empty. */
double hist_quantile(const hist *h, double q);

/* ---- one worker thread of a timed run ---------------------------------------------------- */

typedef struct worker worker;
struct worker {
    int tid, nthreads;
    uint64_t rng;
    const cmp_driver *drv; /* NULL for the inmem-only agent workloads */
    void *db;              /* the driver's db (or an inmem_db * for agent workloads) */
    void *h;               /* the driver's handle for this thread */
    void *arg;             /* the workload's shared state */
    void *local;           /* the workload's per-thread state */
    /* Measured part only: */
    uint64_t commits, aborts;
    hist lat;
    /* Every logical transaction, warm-up included: */
    uint64_t done_all;
    /* Set by a txn_fn whose call ended without a commit (a lost claim): the call's conflicts
     * count, the call does not (no commit, no latency sample). Reset before each call. */
    int uncommitted;
    /* The runner's: */
    void *ctl;
    uint64_t t_end;
};

/** One logical transaction, retried until it commits; returns the number of conflicts met. */
typedef uint64_t (*txn_fn)(worker *w);

/** A timed run: nthreads workers, each running fn for warm-up then the measured time. */
typedef struct run_spec {
    int nthreads;
    const cmp_driver *drv; /* NULL: no driver handles are opened */
    void *db;
    void *arg;
    txn_fn fn;
    void (*thread_init)(worker *w);   /* optional, in the worker thread before the start */
    void (*thread_finish)(worker *w); /* optional, in the worker thread after the end: verify */
} run_spec;

/** The measured figures of one line. */
typedef struct result {
    int valid;
    double tps;        /* committed logical transactions per second */
    double abort_rate; /* conflicts / (commits + conflicts) */
    double p50_us, p99_us;
    double p999_us, max_us; /* max: the middle of the slowest sample's bucket (about 3 %) */
    /* recovery lines */
    double reopen_s;
    char note[160];
} result;

/**
 * Runs @p spec; returns the figures and, through @p workers_out (may be NULL), the workers
 * (freed by the caller with free_workers) for checks that need per-thread totals.
 */
result run_timed(const run_spec *spec, worker ***workers_out);
void free_workers(worker **ws, int n);

#endif
