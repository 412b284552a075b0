/*
 * bench_wal.c — durability benchmarks: commit throughput per durability mode with 1, 4 and 16
 * committing threads (implicit puts of 100-byte values over 100,000 keys; strict shows group
 * commit as commits per fsync), and recovery speed of a log of at least 100 MB after a clean
 * close and after a writer that died without closing.
 *
 * Databases live in a fresh directory under $TMPDIR (default /tmp), removed afterwards.
 * Latencies are per commit, timed with CLOCK_MONOTONIC around each call.
 */
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "tests/fsutil.h"
#include "inmem.h"

#define WKEYS 100000u
#define WVAL  100

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_wal: %s failed: %s (%s)\n", what, inmem_strerror(rc), inmem_errmsg());
    exit(1);
}

void bench_rm_dir(const char *dir)
{
    inmem_rm_tree(dir);
}

void bench_tmp_dir(char *buf, size_t cap)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, cap, "%s/inmem-bench-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(1);
    }
}

static inmem_db *open_mode(const char *dir, inmem_durability mode)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = mode;
    inmem_db *db;
    int rc = inmem_db_open(mode == INMEM_DURABILITY_NONE ? NULL : dir, &o, &db);
    if (rc)
        die("inmem_db_open", rc);
    return db;
}

static void key_of(uint64_t i, char k[16])
{
    snprintf(k, 16, "key%012" PRIu64, i);
}

typedef struct worker {
    inmem_db *db;
    uint64_t seed, deadline, n;
    uint32_t *lat;
    size_t cap;
} worker;

static void *commit_loop(void *arg)
{
    worker *w = arg;
    char k[16], v[WVAL];
    memset(v, 'v', sizeof v);
    uint64_t x = w->seed | 1;
    for (;;) {
        uint64_t t0 = mono_ns();
        if (t0 >= w->deadline)
            break;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        key_of(x % WKEYS, k);
        memcpy(v, &w->n, sizeof w->n);
        int rc = inmem_put(w->db, NULL, k, 15, v, sizeof v, NULL);
        if (rc)
            die("inmem_put", rc);
        uint64_t d = mono_ns() - t0;
        if (w->n < w->cap)
            w->lat[w->n] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        w->n++;
    }
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void throughput(int full)
{
    static const char *names[] = {"none", "async", "batched", "strict"};
    static const int threads[] = {1, 4, 16};
    uint64_t dur = full ? 3000000000ull : 1000000000ull;
    printf("\ncommit throughput by durability mode (implicit puts, 100 B values, %u keys)\n",
           WKEYS);
    printf("%-9s %7s %12s %9s %9s %9s %12s\n", "mode", "threads", "commits/s", "p50 ns", "p99 ns",
           "fsyncs", "commits/fsync");
    for (int m = 0; m < 4; m++)
        for (int ti = 0; ti < 3; ti++) {
            char dir[256];
            bench_tmp_dir(dir, sizeof dir);
            inmem_db *db = open_mode(dir, (inmem_durability)m);
            int nt = threads[ti];
            worker w[16];
            pthread_t th[16];
            size_t cap = 1u << 20;
            uint64_t deadline = mono_ns() + dur;
            for (int i = 0; i < nt; i++) {
                w[i] = (worker){db,
                                0x9e3779b97f4a7c15ull * (uint64_t)(i + 1),
                                deadline,
                                0,
                                malloc(cap * sizeof(uint32_t)),
                                cap};
                pthread_create(&th[i], NULL, commit_loop, &w[i]);
            }
            uint64_t total = 0, nlat = 0;
            for (int i = 0; i < nt; i++) {
                pthread_join(th[i], NULL);
                total += w[i].n;
            }
            uint32_t *all = malloc((size_t)nt * cap * sizeof(uint32_t));
            for (int i = 0; i < nt; i++) {
                size_t n = w[i].n < cap ? w[i].n : cap;
                memcpy(all + nlat, w[i].lat, n * sizeof(uint32_t));
                nlat += n;
                free(w[i].lat);
            }
            qsort(all, nlat, sizeof(uint32_t), cmp_u32);
            inmem_stats s;
            inmem_db_stats(db, &s);
            if (s.commits != total) {
                fprintf(stderr, "bench_wal: %" PRIu64 " commits counted, %" PRIu64 " made\n",
                        s.commits, total);
                exit(1);
            }
            char per[32] = "-";
            if (s.wal_syncs)
                snprintf(per, sizeof per, "%.1f", (double)s.wal_synced_commits / s.wal_syncs);
            printf("%-9s %7d %12.0f %9u %9u %9" PRIu64 " %12s\n", names[m], nt,
                   (double)total / ((double)dur / 1e9), all[nlat / 2], all[nlat * 99 / 100],
                   s.wal_syncs, per);
            fflush(stdout);
            free(all);
            int rc = inmem_db_close(db);
            if (rc)
                die("inmem_db_close", rc);
            bench_rm_dir(dir);
        }
}

/* Writes @p commits puts in batched mode; closes cleanly unless @p crash (then _exit). */
static void write_log(const char *dir, uint64_t commits, int crash)
{
    inmem_db *db = open_mode(dir, INMEM_DURABILITY_BATCHED);
    char k[16], v[WVAL];
    memset(v, 'w', sizeof v);
    for (uint64_t i = 0; i < commits; i++) {
        key_of(i % WKEYS, k);
        memcpy(v, &i, sizeof i);
        int rc = inmem_put(db, NULL, k, 15, v, sizeof v, NULL);
        if (rc)
            die("inmem_put", rc);
    }
    if (crash)
        _exit(0); /* no close: no final fsync, no close mark; the page cache keeps the log */
    int rc = inmem_db_close(db);
    if (rc)
        die("inmem_db_close", rc);
}

static void recovery(int full)
{
    uint64_t commits = full ? 1000000 : 420000;
    printf("\nrecovery: reopen until the first read succeeds (batched log of %" PRIu64
           " commits of 100-byte values over %u keys)\n",
           commits, WKEYS);
    printf("%-14s %10s %10s %12s %10s %12s\n", "writer", "log MB", "reopen ms", "MB/s", "txns",
           "txn/s");
    for (int crash = 0; crash < 2; crash++) {
        char dir[256];
        bench_tmp_dir(dir, sizeof dir);
        pid_t pid = fork();
        if (pid == 0) {
            write_log(dir, commits, crash);
            _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "bench_wal: log writer failed\n");
            exit(1);
        }
        uint64_t t0 = mono_ns();
        inmem_db *db = open_mode(dir, INMEM_DURABILITY_BATCHED);
        char k[16];
        key_of(0, k);
        void *val = NULL;
        int rc = inmem_get(db, NULL, k, 15, &val, NULL, NULL);
        uint64_t ms = mono_ns() - t0;
        if (rc)
            die("inmem_get after recovery", rc);
        inmem_free(val);
        inmem_recovery_info ri;
        inmem_db_recovery(db, &ri);
        if (ri.txns_applied != commits) {
            fprintf(stderr, "bench_wal: recovered %" PRIu64 " of %" PRIu64 " commits\n",
                    ri.txns_applied, commits);
            exit(1);
        }
        double mb = (double)ri.bytes / 1e6, sec = (double)ms / 1e9;
        printf("%-14s %10.1f %10.1f %12.0f %10" PRIu64 " %12.0f\n",
               crash ? "killed" : "clean close", mb, sec * 1e3, mb / sec, ri.txns_applied,
               (double)ri.txns_applied / sec);
        fflush(stdout);
        inmem_db_close(db);
        bench_rm_dir(dir);
    }
}

void bench_wal(int full)
{
    throughput(full);
    recovery(full);
}
