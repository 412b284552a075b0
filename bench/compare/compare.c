/*
 * compare.c — the side-by-side benchmark: inmem against RocksDB (OptimisticTransactionDB),
 * LMDB, SQLite (WAL), WiredTiger (snapshot isolation) and Redis (WATCH/MULTI/EXEC), all in one
 * invocation, through the driver interface of compare.h (`make bench-compare`, FULL=1 for the
 * whole suite; `build/inmem_compare --help` for the options). This file holds main: the
 * options, and the grouping of lines by database configuration.
 *
 * Workloads (keys 16 B, values 100 B, 100,000 keys preloaded unless said):
 *   W1 blind put, 1 thread, one put per transaction           durability none and batched
 *   W2 get k + put k per transaction, 1 thread                 durability none and batched
 *   W3 read-only snapshot transactions of 4 gets, 1 and 2 threads          durability none
 *   W4 2 threads incrementing 10 hot counters, retried on conflict         durability none
 *   W5 blind puts with 1, 4 and 16 threads (each thread its own keys)      durability strict
 *   W6 begin + one get + commit at 1 K, 100 K and 1 M keys (p50, p99)      durability none
 *   W7 recovery: N commits of one put with batched durability, then (a) a clean close, (b) the
 *      writer killed with SIGKILL after its last commit; timed: open until the first read has
 *      succeeded. N = 1,000,000 and 10,000,000 with --full, 200,000 in the quick suite; inmem
 *      with automatic checkpoints, with a checkpoint at close, and without checkpoints.
 *   W1-ckpt: W1 batched on 1,000,000 keys, alone and while another thread takes checkpoints
 *      back to back (inmem only).
 *   agent workloads (inmem only).
 * Per line: committed transactions per second (logical transactions: a retried one counts
 * once), abort rate (conflicts / (commits + conflicts)), p50/p99 latency of a committed
 * transaction including its retries, and inmem's ratio to the best other engine (> 1: inmem
 * better).
 *
 * How: lines are grouped by database configuration (durability, key count); for each group,
 * each engine in turn gets a fresh directory, opens, preloads through its driver in
 * transactions of 1,000 puts, runs the group's lines, closes, and its directory is removed, so
 * the engines of one line are measured minutes apart at most. Then come W7, the agent lines and
 * the summary. Every workload checks what it reads and verifies its writes, so that a broken
 * driver fails the run (exit 1) rather than posting a number.
 *
 * The files, each depending only on those below it:
 *   compare.c     main, options, the groups of lines
 *   report.c      the header (machine, versions, the fsync probe), the blocks, the summary
 *   recovery.c    W7: the writer process, the kill, the timed reopen and its checks
 *   ckpt.c        W1-ckpt: W1 batched while checkpoints run, inmem alone
 *   agent.c       the agent workloads, inmem alone
 *   workloads.c   the engines, the line table and its results, keys and values, W1–W6
 *   drv_<engine>.c  one driver per engine, behind compare.h (drv_inmem.h: inmem's checkpoint
 *                 settings and recovery figures, for W7 and W1-ckpt)
 *   harness.c     failure and cleanup, clock, progress, temporary directories, the syncer,
 *                 histograms, the timed runner; the services of compare.h to the drivers
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "ckpt.h"
#include "drv_inmem.h"
#include "harness.h"
#include "recovery.h"
#include "report.h"
#include "workloads.h"

/* ---- a group of lines on one database configuration --------------------------------------- */

/* g_res[line][e]: the round of the median figure among g_rounds (the lower middle one of an
 * even count, by the figure the line is ranked by). */
static void take_median(int line, int e)
{
    int idx[MAX_ROUNDS], n = 0;
    for (int r = 0; r < g_rounds; r++)
        if (g_round[line][e][r].valid)
            idx[n++] = r;
    if (n == 0)
        return;
    for (int i = 1; i < n; i++) /* (insertion sort: a handful) */
        for (int j = i; j > 0 && rank_figure(line, &g_round[line][e][idx[j - 1]]) >
                                     rank_figure(line, &g_round[line][e][idx[j]]);
             j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    g_res[line][e] = g_round[line][e][idx[(n - 1) / 2]];
}

/*
 * Each engine in turn opens a fresh database, preloads it and runs the group's lines. With
 * --rounds R the whole group runs R times, the engines in order in even rounds and in reverse
 * in odd ones (so that a drift of the machine's speed over the run, which on a shared VM moves
 * one engine's figures by a third within minutes, falls on every engine alike), and each
 * engine's line reports its median round.
 */
static void group(cmp_durability dur, uint64_t nkeys, const int *ls, int nl, const char *root)
{
    int any = 0;
    for (int i = 0; i < nl; i++)
        any |= want(lines[ls[i]].id);
    if (!any)
        return;
    for (int k = 0; k < g_rounds * NENG; k++) {
        int r = k / NENG, e = r % 2 ? NENG - 1 - k % NENG : k % NENG;
        if (!g_engine_on[e])
            continue;
        const cmp_driver *d = engines[e];
        char dir[4096];
        fresh_dir(root, d->name, dir, sizeof dir);
        progress("[%s] round %d of %d: open (%s), preload %" PRIu64 " keys\n", d->name, r + 1,
                 g_rounds,
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
            g_round[ls[i]][e][r] = run_line(ls[i], d, db, nkeys);
        }
        d->close(db);
        rm_tree(dir);
    }
    for (int i = 0; i < nl; i++) {
        for (int e = 0; e < NENG; e++)
            take_median(ls[i], e);
        report_line(ls[i]);
    }
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(void)
{
    printf("usage: inmem_compare [--full] [--seconds S] [--warmup S] [--engines a,b,...]\n"
           "                     [--lines W1,W3-2t,...] [--w7-commits N[,N...]] [--keys N]\n"
           "                     [--rounds R]\n"
           "  Runs the side-by-side benchmark of inmem against rocksdb, lmdb, sqlite, wiredtiger\n"
           "  and redis (bench/compare/compare.c says what each line measures).\n"
           "  --full          the whole suite: 5 s per line, W7 with 1,000,000 and 10,000,000\n"
           "                  commits\n"
           "  --seconds S     measured seconds per line (default 1, full 5)\n"
           "  --warmup S      warm-up seconds per line (default 0.2, full 0.5)\n"
           "  --engines LIST  only these engines (inmem is always run: ratios need it)\n"
           "  --lines LIST    only lines whose id starts with one of these (W1, W6-1M, W7,\n"
           "                  W1-ckpt, A...)\n"
           "  --none-async    the durability-none lines run inmem in async mode, with its log\n"
           "                  (the others write their files with durability off; inmem's none\n"
           "                  writes none)\n"
           "  --w7-commits N[,N...]  commits of the recovery workload, up to 4 lengths (default\n"
           "                  200000, full 1000000,10000000)\n"
           "  --keys N        keys preloaded for W1-W5 and the W6-100K line (at least 1000,\n"
           "                  default 100000; e.g. 1000, which stay in the CPU's caches: the\n"
           "                  engines without the memory stalls they share)\n"
           "  --rounds R      run the W1-W6 lines R times (at most 15), the engines in order,\n"
           "                  then in reverse, and so on; report each engine's median round,\n"
           "                  and the range of inmem's ratio over the rounds (default 1)\n"
           "Databases live in a fresh directory under $TMPDIR (default /tmp), removed at exit.\n"
           "Exit status 1 if any driver fails or any check (values, lost updates) fails.\n");
}

int main(int argc, char **argv)
{
    harness_init();
    if ((argc == 6 || argc == 7) && !strcmp(argv[1], "--w7-writer"))
        return recovery_writer_main(argv[2], argv[3], argv[4], argv[5], argc == 7 ? argv[6] : NULL);
    double secs = 0, warm = -1;
    const char *eng = NULL, *w7 = NULL;
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
        else if (!strcmp(a, "--none-async"))
            cmp_inmem_set_none_async(1);
        else if (!strcmp(a, "--w7-commits") && v)
            w7 = argv[++i];
        else if (!strcmp(a, "--keys") && v) {
            g_keys = strtoull(argv[++i], NULL, 10);
            if (g_keys < 1000 || g_keys > 100000000) {
                usage();
                return 2;
            }
        } else if (!strcmp(a, "--rounds") && v) {
            g_rounds = atoi(argv[++i]);
            if (g_rounds < 1 || g_rounds > MAX_ROUNDS) {
                usage();
                return 2;
            }
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        } else {
            usage();
            return 2;
        }
    }
    g_measure_ns = (uint64_t)((secs > 0 ? secs : g_full ? 5.0 : 1.0) * 1e9);
    g_warmup_ns = (uint64_t)((warm >= 0 ? warm : g_full ? 0.5 : 0.2) * 1e9);
    if (!w7)
        w7 = g_full ? "1000000,10000000" : "200000";
    for (const char *p = w7; *p && g_w7_nn < W7_MAXN;) {
        char *end;
        uint64_t n = strtoull(p, &end, 10);
        if (end == p) {
            usage();
            return 2;
        }
        g_w7_n[g_w7_nn++] = n < NKEYS ? NKEYS : n;
        p = *end == ',' ? end + 1 : end;
    }
    for (int e = 0; e < NENG; e++) {
        g_engine_on[e] = !eng || e == 0;
        for (const char *p = eng; p && *p;) {
            size_t n = strcspn(p, ",");
            if (n == strlen(engines[e]->name) && !strncmp(p, engines[e]->name, n))
                g_engine_on[e] = 1;
            p += n + (p[n] == ',');
        }
    }

    char root[4096];
    if (harness_make_root(root, sizeof root))
        return 1;

    uint64_t t0 = cmp_now_ns();
    report_header(root);

    static const int ga[] = {L_W1N, L_W2N, L_W3_1, L_W3_2, L_W4, L_W6_100K};
    static const int gb[] = {L_W1B, L_W2B};
    static const int gc[] = {L_W5_1, L_W5_4, L_W5_16};
    static const int gd[] = {L_W6_1K};
    static const int ge[] = {L_W6_1M};
    group(CMP_NONE, g_keys, ga, 6, root);
    group(CMP_BATCHED, g_keys, gb, 2, root);
    group(CMP_STRICT, g_keys, gc, 3, root);
    group(CMP_NONE, 1000, gd, 1, root);
    group(CMP_NONE, 1000000, ge, 1, root);
    recovery_lines(root);
    if (want("W1-ckpt"))
        ckpt_lines(root);
    if (want("A"))
        agent_workloads(root);
    report_summary();
    printf("\ntotal time %.0f s\n", (double)(cmp_now_ns() - t0) / 1e9);
    harness_cleanup();
    return 0;
}
