/*
 * recovery.c — W7, the recovery lines: N commits of one put each (100-byte values over
 * 100,000 keys: commit i writes key i % 100,000 with stamp i) with batched durability, then
 * (a) a clean close, (b) the writer killed with SIGKILL after its last commit; timed: open until
 * the first read has succeeded. N = 1,000,000 (100 MB of values) with --full, 200,000 in the
 * quick suite (--w7-commits).
 *
 * The writer of an in-process engine is this program re-executed (--w7-writer: a fresh process,
 * no library state inherited through fork), which reports its commit count and time on a pipe,
 * then closes or waits to be killed; Redis's writer is its server, stopped (SIGTERM) or killed
 * (SIGKILL) through the driver's kill_server.
 *
 * Afterwards 2,000 keys are checked (the last 1,000 commits' keys and every 100th key): after a
 * clean close each must hold its last value; after a kill, values lost are reported, values
 * never written fail the run. The line's note gives the writer's rate, the bytes on disk, and
 * the log replayed where the engine says (inmem's W7-clean figure is the summary's replay rate).
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "recovery.h"
#include "workloads.h"

uint64_t g_w7_commits;
uint64_t g_w7_log_bytes;

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
int recovery_writer_main(const char *engine, const char *dir, const char *count, const char *mode)
{
    harness_as_writer();
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

void recovery_line(int line, int killed, const char *root)
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
}
