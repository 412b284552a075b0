/*
 * ckpt.c — W1-ckpt, for inmem alone: what a checkpoint being written costs the writers.
 *
 * W1 batched (one blind put per transaction, 1 thread: the harness's W1, with its read-back
 * check) on 1,000,000 preloaded keys, so that each checkpoint writes an image of ~130 MB and
 * takes a while; automatic checkpoints off (checkpoint_log_ratio 0). It runs alternately without
 * checkpoints and while another thread calls inmem_db_checkpoint() back to back (from before the
 * warm-up until the run has ended), twice each (without, with, without, with) on one database,
 * so that drift of the shared machine touches both conditions alike.
 *
 * Reported per run: txn/s and p50/p99/p99.9/max of a commit; for the runs with checkpoints, the
 * checkpoints completed, their mean wall and CPU time (the checkpointing thread's user + system
 * time: the rest of its wall time it waited for the disk or a core) and longest wall time, and
 * the last one's image size and write rate (checkpoint_bytes / checkpoint_time_us from
 * inmem_db_stats()). Then the ratios of
 * the means, with checkpoints over without: throughput (target >= 0.90) and p99 (target <= 2).
 * Every checkpoint must succeed (inmem_db_checkpoint() returns 0, checkpoint_failures stays 0).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "ckpt.h"
#include "drv_inmem.h"
#include "workloads.h"

#define CKPT_KEYS 1000000u
#define CKPT_RUNS 4 /* without, with, without, with */

ckpt_figures g_ckpt;

typedef struct checkpointer {
    inmem_db *db;
    atomic_int stop;
    uint64_t n, sum_us, max_us, cpu_us;
} checkpointer;

/* CPU time (user + system) of the calling thread, in microseconds. */
static uint64_t cpu_thread_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void *checkpointer_main(void *arg)
{
    checkpointer *c = arg;
    uint64_t cpu0 = cpu_thread_us();
    while (!atomic_load(&c->stop)) {
        uint64_t t0 = cmp_now_ns(), v;
        int rc = inmem_db_checkpoint(c->db, &v);
        if (rc)
            cmp_die("inmem W1-ckpt: inmem_db_checkpoint: %s (%s) %s", inmem_errname(rc),
                    inmem_strerror(rc), inmem_errmsg());
        uint64_t us = (cmp_now_ns() - t0) / 1000;
        c->n++;
        c->sum_us += us;
        if (us > c->max_us)
            c->max_us = us;
    }
    c->cpu_us = cpu_thread_us() - cpu0;
    return NULL;
}

void ckpt_lines(const char *root)
{
    const cmp_driver *d = &cmp_inmem_driver;
    char dir[4096];
    fresh_dir(root, "inmem-ckpt", dir, sizeof dir);
    cmp_inmem_set_ckpt(CMP_CKPT_OFF);
    void *db = d->open(dir, CMP_BATCHED);
    cmp_inmem_set_ckpt(CMP_CKPT_AUTO);
    progress("[inmem] W1-ckpt: preload %u keys\n", CKPT_KEYS);
    preload(d, db, CKPT_KEYS);
    inmem_db *idb = cmp_inmem_db(db);

    printf("\nW1-ckpt W1 blind put, 1 thread, one put per txn, durability batched, %u keys: "
           "without checkpoints and while\n"
           "  another thread calls inmem_db_checkpoint() back to back (inmem only; automatic "
           "checkpoints off; runs alternate)\n",
           CKPT_KEYS);
    printf("  %-18s %10s %9s %9s %9s %10s  %s\n", "run", "txn/s", "p50 us", "p99 us", "p99.9 us",
           "max us", "checkpoints during the run (warm-up included)");
    double tps[2] = {0, 0}, p99[2] = {0, 0};
    for (int i = 0; i < CKPT_RUNS; i++) {
        int with = i % 2;
        progress("[inmem] W1-ckpt run %d (%s checkpoints)\n", i + 1, with ? "with" : "without");
        checkpointer c = {.db = idb};
        pthread_t th;
        if (with && pthread_create(&th, NULL, checkpointer_main, &c))
            cmp_die("pthread_create");
        result r = run_line(L_W1B, d, db, CKPT_KEYS);
        char note[200] = "";
        if (with) {
            atomic_store(&c.stop, 1);
            pthread_join(th, NULL);
            inmem_stats s;
            if (inmem_db_stats(idb, &s) || s.checkpoint_failures)
                cmp_die("inmem W1-ckpt: a checkpoint failed");
            snprintf(note, sizeof note,
                     "%" PRIu64 ", mean %.0f ms (cpu %.0f ms), longest %.0f ms; last image %.1f MB "
                     "at %.0f MB/s",
                     c.n, c.n ? (double)c.sum_us / (double)c.n / 1e3 : 0.0,
                     c.n ? (double)c.cpu_us / (double)c.n / 1e3 : 0.0, (double)c.max_us / 1e3,
                     (double)s.checkpoint_bytes / 1e6,
                     s.checkpoint_time_us
                         ? (double)s.checkpoint_bytes / (double)s.checkpoint_time_us
                         : 0.0);
            if (!c.n)
                cmp_die("inmem W1-ckpt: no checkpoint completed during the run");
        }
        printf("  %-18s %10.0f %9.2f %9.2f %9.2f %10.0f  %s\n",
               with ? "with checkpoints" : "without", r.tps, r.p50_us, r.p99_us, r.p999_us,
               r.max_us, note);
        fflush(stdout);
        tps[with] += r.tps / (CKPT_RUNS / 2);
        p99[with] += r.p99_us / (CKPT_RUNS / 2);
    }
    d->close(db);
    rm_tree(dir);
    g_ckpt = (ckpt_figures){.valid = 1,
                            .tps_without = tps[0],
                            .tps_with = tps[1],
                            .p99_without_us = p99[0],
                            .p99_with_us = p99[1]};
    printf("  -> with / without checkpoints (means of the runs): throughput %.2fx (target >= "
           "0.90x), p99 %.2fx (target <= 2x)\n",
           tps[1] / tps[0], p99[1] / p99[0]);
    fflush(stdout);
}
