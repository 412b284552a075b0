/*
 * bench_wal.c — durability benchmarks: commit throughput per durability mode with 1, 4 and 16
 * committing threads (implicit puts of 100-byte values over 100,000 keys; strict shows group
 * commit as commits per fsync), and recovery: the reopen of W7's history (1,000,000 commits over
 * 100,000 keys with --full, 420,000 quick) and of 1,048,576 unique keys (100 MiB of values),
 * each written without checkpoints (the whole log replayed), with a checkpoint before the close
 * (checkpoint_on_close, or inmem_db_checkpoint(): one image loaded), and by a writer killed
 * with the default automatic checkpoints; with the log bytes per commit, the checkpoint's write
 * rate (checkpoint_bytes / checkpoint_time_us) and the image's load rate (its size /
 * checkpoint_load_us). The writers are forked processes; each reopen checks the recovered
 * version and reads back the last value of a sample of keys.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "tests/fsutil.h"
#include "inmem.h"

#define WKEYS 100000u
#define WVAL  100

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_wal: %s failed: %s (%s)\n", what, inmem_strerror(rc), inmem_errmsg());
    exit(1);
}

void bench_rm_dir(const char *dir)
{
    inmem_rm_tree(dir);
}

static unsigned long g_close_busy;

int bench_close(inmem_db *db)
{
    int rc, counted = 0;
    uint64_t t0 = bench_now_ns();
    while ((rc = inmem_db_close(db)) == INMEM_EBUSY && bench_now_ns() - t0 < 10000000000ull) {
        if (!counted++)
            g_close_busy++;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return rc;
}

unsigned long bench_close_busy(void)
{
    return g_close_busy;
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
    char buf[32]; /* room for any uint64_t: gcc -Werror (sanitizer builds) checks the bound */
    snprintf(buf, sizeof buf, "key%012" PRIu64, i);
    memcpy(k, buf, 16); /* 15 characters and the NUL for every i below 10^12 */
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
        uint64_t t0 = bench_now_ns();
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
        uint64_t d = bench_now_ns() - t0;
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
            uint64_t deadline = bench_now_ns() + dur;
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
            int rc = bench_close(db);
            if (rc)
                die("inmem_db_close", rc);
            bench_rm_dir(dir);
        }
}

/* ---- recovery ----------------------------------------------------------------------------- */

/* How a writer ends, and with which checkpoint settings it ran. */
enum {
    END_OFF_CLOSE,   /* checkpoints off (checkpoint_log_ratio 0), clean close: the log only */
    END_ON_CLOSE,    /* checkpoint_on_close = 1 (automatic ones too), clean close */
    END_EXPLICIT,    /* checkpoints off, inmem_db_checkpoint() before a clean close */
    END_KILLED_AUTO, /* the defaults (automatic checkpoints), the process dies without closing */
};

static const char *const end_name[] = {"clean, no checkpoints", "clean, checkpoint_on_close",
                                       "clean, db_checkpoint()", "killed, automatic ckpts"};

/* What a writer process reports on its pipe. */
typedef struct wreport {
    uint64_t commits, wal_bytes, ckpts, ckpt_bytes, ckpt_time_us, close_us;
    uint64_t ckpt_cpu_us; /* inmem_db_checkpoint()'s CPU time on the calling thread */
    double secs;
} wreport;

/* CPU time (user + system) of the calling thread, in microseconds. */
static uint64_t cpu_thread_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static inmem_db *open_ckpt(const char *dir, int end)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_BATCHED;
    if (end == END_OFF_CLOSE || end == END_EXPLICIT)
        o.checkpoint_log_ratio = 0;
    if (end == END_ON_CLOSE)
        o.checkpoint_on_close = 1;
    inmem_db *db;
    int rc = inmem_db_open(dir, &o, &db);
    if (rc)
        die("inmem_db_open", rc);
    return db;
}

/* Commit i puts key i % keys with a value stamped i, one implicit put per commit. */
static void write_log(const char *dir, uint64_t commits, uint64_t keys, int end, int fd)
{
    inmem_db *db = open_ckpt(dir, end);
    char k[16], v[WVAL];
    memset(v, 'w', sizeof v);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < commits; i++) {
        key_of(i % keys, k);
        memcpy(v, &i, sizeof i);
        int rc = inmem_put(db, NULL, k, 15, v, sizeof v, NULL);
        if (rc)
            die("inmem_put", rc);
    }
    wreport w = {.commits = commits, .secs = (double)(bench_now_ns() - t0) / 1e9};
    if (end == END_EXPLICIT) {
        uint64_t c0 = cpu_thread_us();
        int rc = inmem_db_checkpoint(db, NULL);
        if (rc)
            die("inmem_db_checkpoint", rc);
        w.ckpt_cpu_us = cpu_thread_us() - c0;
    }
    inmem_stats s;
    inmem_db_stats(db, &s);
    if (s.checkpoint_failures || s.commits != commits) {
        fprintf(stderr, "bench_wal: writer: %" PRIu64 " checkpoints failed, %" PRIu64 " commits\n",
                s.checkpoint_failures, s.commits);
        exit(1);
    }
    w.wal_bytes = s.wal_bytes;
    w.ckpts = s.checkpoints;
    w.ckpt_bytes = s.checkpoint_bytes;
    w.ckpt_time_us = s.checkpoint_time_us;
    if (end != END_KILLED_AUTO) {
        uint64_t c0 = bench_now_ns();
        int rc = bench_close(db);
        if (rc)
            die("inmem_db_close", rc);
        w.close_us = (bench_now_ns() - c0) / 1000;
    }
    if (write(fd, &w, sizeof w) != (ssize_t)sizeof w)
        exit(1);
    /* killed: no close, no final fsync, no close mark, an automatic checkpoint perhaps half
     * written; the page cache keeps what was logged */
    _exit(0);
}

/* The size of image @p name in @p dir (0 if none). */
static uint64_t image_size(const char *dir, const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return name[0] && stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void check_key(inmem_db *db, uint64_t commits, uint64_t keys, uint64_t key)
{
    uint64_t want = key + ((commits - 1 - key) / keys) * keys, got = 0;
    char k[16];
    key_of(key, k);
    void *val = NULL;
    size_t len = 0;
    int rc = inmem_get(db, NULL, k, 15, &val, &len, NULL);
    if (rc)
        die("inmem_get after recovery", rc);
    memcpy(&got, val, sizeof got);
    inmem_free(val);
    if (len != WVAL || got != want) {
        fprintf(stderr, "bench_wal: key %" PRIu64 " holds stamp %" PRIu64 ", want %" PRIu64 "\n",
                key, got, want);
        exit(1);
    }
}

/* Every 997th key and the keys of the last 1,000 commits hold their last stamp. */
static void check_values(inmem_db *db, uint64_t commits, uint64_t keys)
{
    for (uint64_t key = 0; key < keys; key += 997)
        check_key(db, commits, keys, key);
    for (uint64_t i = 0; i < 1000; i++)
        check_key(db, commits, keys, (commits - 1 - i) % keys);
}

static void recovery_row(const char *what, uint64_t commits, uint64_t keys, int end)
{
    char dir[256];
    bench_tmp_dir(dir, sizeof dir);
    int fds[2];
    if (pipe(fds)) {
        perror("pipe");
        exit(1);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        write_log(dir, commits, keys, end, fds[1]);
    }
    close(fds[1]);
    wreport w;
    int status;
    ssize_t got = read(fds[0], &w, sizeof w);
    close(fds[0]);
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof w || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "bench_wal: log writer failed\n");
        exit(1);
    }
    uint64_t c0 = cpu_thread_us(), t0 = bench_now_ns();
    inmem_db *db = open_ckpt(dir, end == END_KILLED_AUTO ? END_KILLED_AUTO : END_OFF_CLOSE);
    char k[16];
    key_of((commits - 1) % keys, k);
    void *val = NULL;
    int rc = inmem_get(db, NULL, k, 15, &val, NULL, NULL);
    uint64_t ns = bench_now_ns() - t0, cpu_us = cpu_thread_us() - c0;
    if (rc)
        die("inmem_get after recovery", rc);
    inmem_free(val);
    inmem_recovery_info ri;
    inmem_db_recovery(db, &ri);
    uint64_t img = image_size(dir, ri.checkpoint_file);
    if (ri.version != commits) {
        fprintf(stderr, "bench_wal: recovered version %" PRIu64 " of %" PRIu64 "\n", ri.version,
                commits);
        exit(1);
    }
    if (end != END_OFF_CLOSE && end != END_KILLED_AUTO && (!img || ri.txns_applied)) {
        fprintf(stderr, "bench_wal: %s: the reopen replayed %" PRIu64 " transactions\n", what,
                ri.txns_applied);
        exit(1);
    }
    check_values(db, commits, keys);
    char load[32] = "-", loadr[32] = "-", wr[32] = "-", imgs[32] = "-";
    if (img) {
        snprintf(imgs, sizeof imgs, "%.1f", (double)img / 1e6);
        snprintf(load, sizeof load, "%.1f", (double)ri.checkpoint_load_us / 1e3);
        snprintf(loadr, sizeof loadr, "%.2f",
                 ri.checkpoint_load_us ? (double)img / (double)ri.checkpoint_load_us / 1e3 : 0.0);
    }
    if (w.ckpts && w.ckpt_time_us)
        snprintf(wr, sizeof wr, "%.0f", (double)w.ckpt_bytes / (double)w.ckpt_time_us);
    char wcpu[32] = "-";
    if (w.ckpt_cpu_us)
        snprintf(wcpu, sizeof wcpu, "%.0f", (double)w.ckpt_bytes / (double)w.ckpt_cpu_us);
    printf("%-22s %-26s %6.1f %5" PRIu64 " %6s %7s %7.1f %6s %7s %8.1f %7.1f %6s %7.1f\n", what,
           end_name[end], (double)w.wal_bytes / (double)commits, w.ckpts, wr, wcpu,
           (double)ri.bytes / 1e6, imgs, load, (double)ns / 1e6, (double)cpu_us / 1e3, loadr,
           (double)w.close_us / 1e3);
    fflush(stdout);
    rc = bench_close(db);
    if (rc)
        die("inmem_db_close after recovery", rc);
    bench_rm_dir(dir);
}

static void recovery(int full)
{
    uint64_t commits = full ? 1000000 : 420000;
    printf("\nrecovery: reopen until the first read succeeds (batched; 100-byte values, 15-byte "
           "keys, one implicit put per commit)\n");
    printf("B/cmt: log bytes per commit (wal_bytes / commits); ckpts, MB/s: checkpoints the "
           "writer took, the last one's checkpoint_bytes / checkpoint_time_us;\n"
           "cpuMB/s: the same bytes over the CPU time of inmem_db_checkpoint()'s thread (explicit "
           "checkpoints only); replay: MB of log replayed at the reopen;\n"
           "image, load ms, GB/s: the image loaded (MB, checkpoint_load_us, file size / "
           "checkpoint_load_us); reopen, cpu: ms of wall and of the opening thread's CPU, open to "
           "first read; close: the writer's close, ms\n");
    printf("%-22s %-26s %6s %5s %6s %7s %7s %6s %7s %8s %7s %6s %7s\n", "data", "writer", "B/cmt",
           "ckpts", "MB/s", "cpuMB/s", "replay", "image", "load ms", "reopen", "cpu", "GB/s",
           "close");
    char hist[64];
    snprintf(hist, sizeof hist, "%" PRIu64 "K commits/100K keys", commits / 1000);
    recovery_row(hist, commits, WKEYS, END_OFF_CLOSE);
    recovery_row(hist, commits, WKEYS, END_ON_CLOSE);
    recovery_row(hist, commits, WKEYS, END_KILLED_AUTO);
    recovery_row("1,048,576 unique keys", 1048576, 1048576, END_OFF_CLOSE);
    recovery_row("1,048,576 unique keys", 1048576, 1048576, END_EXPLICIT);
    recovery_row("1,048,576 unique keys", 1048576, 1048576, END_KILLED_AUTO);
}

void bench_wal(int full, int recovery_only)
{
    if (!recovery_only)
        throughput(full);
    recovery(full);
}
