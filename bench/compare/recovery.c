/*
 * recovery.c — W7, the recovery lines: N commits of one put each (100-byte values over
 * 100,000 keys: commit i writes key i % 100,000 with stamp i) with batched durability, then
 * (a) a clean close, (b) the writer killed with SIGKILL after its last commit; timed: open until
 * the first read has succeeded. N = 200,000 in the quick suite; with --full, 1,000,000 (100 MB
 * of values) and 10,000,000 over the same keys, to show whether reopen stays flat as the
 * history grows (--w7-commits N[,N...]).
 *
 * inmem runs in up to three rows per block: "inmem", the library's defaults (automatic
 * checkpoints when the log has grown by 4x the live data, none at close: the reopen loads the
 * last automatic image and replays the log after it); "inmem ckpt-close" (clean close only),
 * checkpoint_on_close = 1: the reopen loads one image; "inmem no-ckpt" (clean close only),
 * checkpoint_log_ratio = 0: the whole log is replayed, as before checkpoints existed. Their
 * notes give the log bytes per commit and the writer's checkpoints (inmem_db_stats()), and
 * what the reopen loaded: the image's size and load rate (checkpoint_load_us), the log after it.
 * The other engines run once per block with their own settings (compare.c's mapping); above
 * 1,000,000 commits only after a clean close, and Redis (~12 K commits/s) not at all: their
 * writers alone would add tens of minutes to the run.
 *
 * The writer of an in-process engine is this program re-executed (--w7-writer: a fresh process,
 * no library state inherited through fork), which reports its commit count and time on a pipe,
 * then closes (timed: inmem's checkpoint at close is there) or waits to be killed; Redis's
 * writer is its server, stopped (SIGTERM) or killed (SIGKILL) through the driver's kill_server.
 *
 * Afterwards 2,000 keys are checked (the last 1,000 commits' keys and every 100th key): after a
 * clean close each must hold its last value; after a kill, values lost are reported, values
 * never written fail the run.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drv_inmem.h"
#include "recovery.h"

uint64_t g_w7_n[W7_MAXN];
int g_w7_nn;
w7res g_w7[2][W7_MAXN][W7_NROWS];

static const char *const variant_arg[W7_ENG0] = {"auto", "close", "off"};
static const char *const inmem_rows[W7_ENG0] = {"inmem", "inmem ckpt-close", "inmem no-ckpt"};
static const char *const inmem_what[W7_ENG0] = {"automatic checkpoints (the defaults)",
                                                "checkpoint_on_close = 1", "checkpoints off"};

const char *w7_row_name(int row)
{
    return row < W7_ENG0 ? inmem_rows[row] : engines[row - W7_ENG0 + 1]->name;
}

void w7_label(uint64_t n, char *buf, int cap)
{
    if (n >= 1000000 && n % 1000000 == 0)
        snprintf(buf, (size_t)cap, "%" PRIu64 "M", n / 1000000);
    else if (n >= 1000 && n % 1000 == 0)
        snprintf(buf, (size_t)cap, "%" PRIu64 "K", n / 1000);
    else
        snprintf(buf, (size_t)cap, "%" PRIu64, n);
}

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
int recovery_writer_main(const char *engine, const char *dir, const char *count, const char *mode,
                         const char *variant)
{
    harness_as_writer();
    const cmp_driver *d = NULL;
    for (int e = 0; e < NENG; e++)
        if (!strcmp(engines[e]->name, engine))
            d = engines[e];
    if (!d)
        cmp_die("unknown engine %s", engine);
    int v = 0;
    for (int i = 0; i < W7_ENG0; i++)
        if (variant && !strcmp(variant, variant_arg[i]))
            v = i;
    cmp_inmem_set_ckpt((cmp_inmem_ckpt)v);
    uint64_t n = strtoull(count, NULL, 10);
    void *db = d->open(dir, CMP_BATCHED);
    double s = write_log(d, db, n), cs = 0;
    char note[200] = "-";
    unsigned long long ckpts = 0;
    if (d == &cmp_inmem_driver)
        cmp_inmem_writer_note(db, note, sizeof note, &ckpts);
    if (!strcmp(mode, "close")) {
        uint64_t t0 = cmp_now_ns();
        d->close(db);
        cs = (double)(cmp_now_ns() - t0) / 1e9;
    }
    printf("written %" PRIu64 " %.6f %.6f %s\n", n, s, cs, note);
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

/* CPU time (user + system) of every thread of this process so far, in seconds. */
static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* One row of one block: write, close or kill, then the timed reopen and the check. */
static void w7_row(int killed, int ni, int row, const char *root)
{
    int e = row < W7_ENG0 ? 0 : row - W7_ENG0 + 1, variant = row < W7_ENG0 ? row : 0;
    const cmp_driver *d = engines[e];
    uint64_t n = g_w7_n[ni];
    w7res *r = &g_w7[killed][ni][row];
    char dir[4096];
    fresh_dir(root, d->name, dir, sizeof dir);
    progress("[%s] %s %s: writing %" PRIu64 " commits\n", w7_row_name(row),
             killed ? "W7-killed" : "W7-clean", e ? "" : variant_arg[variant], n);
    double wsecs = 0, csecs = 0;
    char wnote[200] = "-";
    if (d->kill_server) { /* the writer is the server: write from here, then stop or kill it */
        void *db = d->open(dir, CMP_BATCHED);
        wsecs = write_log(d, db, n);
        uint64_t t0 = cmp_now_ns();
        if (killed)
            d->kill_server(db);
        else
            d->close(db);
        csecs = killed ? 0 : (double)(cmp_now_ns() - t0) / 1e9;
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
                  killed ? "kill" : "close", variant_arg[variant], (char *)NULL);
            _exit(127);
        }
        cmp_track_pid(pid, 1);
        close(fds[1]);
        FILE *f = fdopen(fds[0], "r");
        char buf[512] = "";
        uint64_t got = 0;
        if (!f || !fgets(buf, sizeof buf, f) ||
            sscanf(buf, "written %" SCNu64 " %lf %lf %199[^\n]", &got, &wsecs, &csecs, wnote) !=
                4 ||
            got != n)
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
    if (!e) {
        cmp_inmem_set_ckpt((cmp_inmem_ckpt)variant); /* the reopen as the writer was opened */
        cmp_inmem_list_images(dir);
    }

    /* Timed: open until the first read has succeeded. */
    uint64_t last = (n - 1) % NKEYS, stamp;
    double c0 = cpu_self();
    uint64_t t0 = cmp_now_ns();
    void *db = d->open(dir, CMP_BATCHED);
    void *h = d->handle_open(db);
    d->begin(h, 0);
    int frc = get_opt(d, h, last, &stamp, killed ? "W7-killed" : "W7-clean");
    if (frc == CMP_NOTFOUND && !killed)
        cmp_die("%s W7-clean: key %" PRIu64 " missing after a clean close", d->name, last);
    must(d->commit(h), d, "W7 first read commit");
    double secs = (double)(cmp_now_ns() - t0) / 1e9, cpu = cpu_self() - c0;
    if (!e)
        cmp_inmem_recovery_note(db, r->recovery, sizeof r->recovery, &r->load_gbps);

    /* Check: the last 1,000 commits' keys and every 100th key hold their last stamp. */
    uint64_t checked = 0, final = 0;
    d->begin(h, 0);
    for (uint64_t i = 0; i < 2000; i++) {
        uint64_t key = i < 1000 ? (n - 1 - i) % NKEYS : (i - 1000) * (NKEYS / 1000), s;
        uint64_t want_stamp = key + ((n - 1 - key) / NKEYS) * NKEYS;
        checked++;
        if (get_opt(d, h, key, &s, "W7") == CMP_NOTFOUND)
            continue; /* lost with the killed writer: counted, not final */
        if (s % NKEYS != key || s > want_stamp)
            cmp_die("%s W7: key %" PRIu64 " holds stamp %" PRIu64 ", never written to it", d->name,
                    key, s);
        final += s == want_stamp;
    }
    must(d->commit(h), d, "W7 check commit");
    d->handle_close(h);
    d->close(db);
    cmp_inmem_set_ckpt(CMP_CKPT_AUTO);
    if (!killed && final != checked)
        cmp_die("%s W7: after a clean close only %" PRIu64 " of %" PRIu64
                " keys checked hold their last value",
                w7_row_name(row), final, checked);
    r->valid = 1;
    r->reopen_s = secs;
    r->cpu_s = cpu;
    char cl[48] = "";
    if (!killed)
        snprintf(cl, sizeof cl, ", close %.1f ms", csecs * 1e3);
    snprintf(r->note, sizeof r->note,
             "writer %.0f commits/s%s, %.1f MB on disk, keys at their last value %" PRIu64
             "/%" PRIu64 "%s%s",
             (double)n / wsecs, cl, du / 1e6, final, checked, e ? "" : "; ", e ? "" : wnote);
    rm_tree(dir);
}

/* The best other engine's row of a block (-1: none). */
static int best_row(int killed, int ni)
{
    int b = -1;
    for (int row = W7_ENG0; row < W7_NROWS; row++) {
        const w7res *x = &g_w7[killed][ni][row];
        if (x->valid && (b < 0 || x->reopen_s < g_w7[killed][ni][b].reopen_s))
            b = row;
    }
    return b;
}

static void report_block(int killed, int ni)
{
    char nl[16];
    w7_label(g_w7_n[ni], nl, sizeof nl);
    printf("\nW7 recovery after %s (batched log), %s commits\n",
           killed ? "the writer was killed with SIGKILL" : "a clean close", nl);
    printf("  %" PRIu64 " commits of one 100-byte put (keys cycling over %u), durability batched; "
           "timed from open until the first read has returned\n"
           "  (cpu s: user + system time of the reopening process over the same interval, every "
           "thread: what a busy machine cannot inflate)\n",
           g_w7_n[ni], NKEYS);
    printf("  %-17s %10s %8s  %s\n", "engine", "reopen s", "cpu s", "details");
    for (int row = 0; row < W7_NROWS; row++) {
        const w7res *r = &g_w7[killed][ni][row];
        if (!r->valid)
            continue;
        if (row < W7_ENG0)
            printf("  %-17s %10.4f %8.4f  %s: %s\n  %-17s %10s %8s  reopen: %s\n", w7_row_name(row),
                   r->reopen_s, r->cpu_s, inmem_what[row], r->note, "", "", "", r->recovery);
        else
            printf("  %-17s %10.4f %8.4f  %s\n", w7_row_name(row), r->reopen_s, r->cpu_s, r->note);
    }
    if (g_w7_n[ni] > 1000000)
        printf("  (above 1,000,000 commits the other engines run the clean close only, and Redis "
               "not at all: their writers take\n   %s on this machine)\n",
               killed ? "minutes (their writers' rates are in the rows above)"
                      : "minutes (Redis ~12 K commits/s)");
    int b = best_row(killed, ni);
    for (int row = 0; row < W7_ENG0 && b >= 0; row++) {
        const w7res *r = &g_w7[killed][ni][row];
        if (r->valid)
            printf("  -> %s vs best other (%s): %.*fx (reopen time ratio other/inmem; > 1: "
                   "inmem faster)\n",
                   w7_row_name(row), w7_row_name(b),
                   g_w7[killed][ni][b].reopen_s / r->reopen_s < 0.1 ? 3 : 2,
                   g_w7[killed][ni][b].reopen_s / r->reopen_s);
    }
    fflush(stdout);
}

void recovery_lines(const char *root)
{
    for (int ni = 0; ni < g_w7_nn; ni++)
        for (int killed = 0; killed < 2; killed++) {
            if (!want(lines[killed ? L_W7K : L_W7C].id))
                continue;
            for (int row = 0; row < W7_NROWS; row++) {
                int e = row < W7_ENG0 ? 0 : row - W7_ENG0 + 1;
                if (!g_engine_on[e] || (killed && row != W7_AUTO && row < W7_ENG0))
                    continue;
                if (e && g_w7_n[ni] > 1000000 && (killed || engines[e]->kill_server))
                    continue; /* see the block's note */
                w7_row(killed, ni, row, root);
            }
            report_block(killed, ni);
        }
}
