/*
 * report.c — what the comparison prints: the header (date, machine, package and library
 * versions, settings, each engine's durability mapping, and this disk's serial fdatasync rate),
 * one block per line from the results table (g_res), and the summary of inmem against the
 * issues' targets (W7's blocks are printed by recovery.c, W1-ckpt's by ckpt.c; their summary
 * rows are here).
 *
 * A block lists each engine's figures and inmem's ratio to the best other engine (> 1: inmem
 * better): throughput lines by committed transactions per second, latency lines (W6) by p50,
 * recovery lines (W7) by reopen time (LMDB and SQLite open a B-tree with nothing to replay).
 *
 * The fsync probe measures the serial fdatasync rate of 128-byte writes into a pre-written
 * file for g_measure_ns: the disk's commit floor, and so the floor of W5's target (10x).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"
#include "drv_inmem.h"
#include "recovery.h"
#include "report.h"
#include "workloads.h"

static double g_fsync_rate, g_fsync_p50_us;

/* ---- a line ------------------------------------------------------------------------------- */

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

void report_line(int line)
{
    int any = 0;
    for (int e = 0; e < NENG; e++)
        any |= g_res[line][e].valid;
    if (!any)
        return;
    printf("\n%s%s\n", lines[line].title, g_rounds > 1 ? "; each engine's median round" : "");
    printf("  %-11s %12s %8s %10s %10s%s\n", "engine", "txn/s", "abort %", "p50 us", "p99 us",
           g_rounds > 1 ? (lines[line].kind == K_TPS ? "   txn/s over the rounds"
                                                     : "   p50 us over the rounds")
                        : "");
    for (int e = 0; e < NENG; e++) {
        const result *r = &g_res[line][e];
        if (!r->valid)
            continue;
        printf("  %-11s %12.0f %8.2f %10.2f %10.2f", engines[e]->name, r->tps, 100 * r->abort_rate,
               r->p50_us, r->p99_us);
        if (g_rounds > 1) {
            double lo = 0, hi = 0;
            int n = 0;
            for (int k = 0; k < g_rounds; k++) {
                const result *x = &g_round[line][e][k];
                if (!x->valid)
                    continue;
                double f = rank_figure(line, x);
                lo = n == 0 || f < lo ? f : lo;
                hi = n == 0 || f > hi ? f : hi;
                n++;
            }
            printf("   %.*f-%.*f (%d)", lines[line].kind == K_TPS ? 0 : 2, lo,
                   lines[line].kind == K_TPS ? 0 : 2, hi, n);
        }
        printf("%s%s\n", r->note[0] ? "  " : "", r->note);
    }
    double ratio;
    int b = best_other(line, &ratio);
    if (b >= 0 && g_res[line][0].valid) {
        printf("  -> inmem vs best other (%s): %.*fx %s\n", engines[b]->name, ratio < 0.1 ? 3 : 2,
               ratio,
               lines[line].kind == K_TPS   ? "(txn/s ratio; > 1: inmem faster)"
               : lines[line].kind == K_LAT ? "(p50 ratio other/inmem; > 1: inmem faster)"
                                           : "(reopen time ratio other/inmem; > 1: inmem faster)");
        if (g_rounds > 1) { /* inmem against the same engine within each round */
            double lo = 0, hi = 0;
            int n = 0;
            for (int k = 0; k < g_rounds; k++) {
                const result *in = &g_round[line][0][k], *o = &g_round[line][b][k];
                double fi = rank_figure(line, in), fo = rank_figure(line, o);
                if (!in->valid || !o->valid || fi <= 0 || fo <= 0)
                    continue;
                double q = lines[line].kind == K_TPS ? fi / fo : fo / fi;
                lo = n == 0 || q < lo ? q : lo;
                hi = n == 0 || q > hi ? q : hi;
                n++;
            }
            if (n)
                printf("     ratio within each round: %.2f-%.2fx over %d rounds\n", lo, hi, n);
        }
    }
    fflush(stdout);
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

void report_header(const char *root)
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
    char w7[128] = "";
    for (int i = 0; i < g_w7_nn; i++) {
        char l[16];
        w7_label(g_w7_n[i], l, sizeof l);
        snprintf(w7 + strlen(w7), sizeof w7 - strlen(w7), "%s%s", i ? ", " : "", l);
    }
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
    printf("settings: keys %d B, values %d B, %llu keys preloaded unless said; per line %.1f s "
           "measured after %.1f s warm-up;\n"
           "          latency = one committed transaction including its retries "
           "(CLOCK_MONOTONIC); rates are committed txns over the measured wall time;\n"
           "          W7: %s commits over %u keys (%s); temp dir %s\n"
           "          rounds of the W1-W6 lines: %d%s\n",
           KLEN, VLEN, (unsigned long long)g_keys, (double)g_measure_ns / 1e9,
           (double)g_warmup_ns / 1e9, w7, NKEYS,
           g_full ? "full" : "quick: 1,000,000 and 10,000,000 with FULL=1", root, g_rounds,
           g_rounds > 1 ? " (engines in order, then in reverse; each engine's median round)" : "");
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

static void fmt_rate(double v, char *buf, size_t cap)
{
    if (v >= 1e6)
        snprintf(buf, cap, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, cap, "%.1fK", v / 1e3);
    else
        snprintf(buf, cap, "%.0f", v);
}

/* W7's rows: each inmem row of each block against the best other engine; with a checkpoint
 * (ckpt-close after a clean close, the defaults after a kill) the target is 50 ms at every
 * history length, which is also what "flat" asks; the last rows give the growth. */
static void summary_w7(void)
{
    for (int ni = 0; ni < g_w7_nn; ni++)
        for (int killed = 0; killed < 2; killed++)
            for (int row = 0; row < W7_ENG0; row++) {
                const w7res *r = &g_w7[killed][ni][row];
                if (!r->valid)
                    continue;
                int b = -1;
                for (int o = W7_ENG0; o < W7_NROWS; o++)
                    if (g_w7[killed][ni][o].valid &&
                        (b < 0 || g_w7[killed][ni][o].reopen_s < g_w7[killed][ni][b].reopen_s))
                        b = o;
                char id[48], nl[16], iv[48], bv[64] = "-", rs[16] = "-", target[64] = "-";
                w7_label(g_w7_n[ni], nl, sizeof nl);
                snprintf(id, sizeof id, "W7-%s %s %s", killed ? "killed" : "clean", nl,
                         row == W7_AUTO    ? "auto"
                         : row == W7_CLOSE ? "ckpt-close"
                                           : "no-ckpt");
                snprintf(iv, sizeof iv, "%.4f s (cpu %.4f)", r->reopen_s, r->cpu_s);
                if (b >= 0) {
                    double ratio = g_w7[killed][ni][b].reopen_s / r->reopen_s;
                    snprintf(bv, sizeof bv, "%s %.4f s", w7_row_name(b),
                             g_w7[killed][ni][b].reopen_s);
                    snprintf(rs, sizeof rs, "%.*fx", ratio < 0.1 ? 3 : 2, ratio);
                }
                const char *status = "";
                if (row == W7_CLOSE || (killed && row == W7_AUTO)) {
                    snprintf(target, sizeof target, "<= 50 ms with a checkpoint");
                    status = g_w7_n[ni] < 1000000   ? "(quick)"
                             : r->reopen_s <= 0.050 ? "met"
                                                    : "MISSED";
                }
                printf("  %-24s %-24s %-26s %8s  %-34s %s\n", id, iv, bv, rs, target, status);
            }
    if (g_w7_nn < 2)
        return;
    for (int killed = 0; killed < 2; killed++)
        for (int row = 0; row < W7_ENG0; row++) {
            const w7res *a = &g_w7[killed][0][row], *z = &g_w7[killed][g_w7_nn - 1][row];
            if (!a->valid || !z->valid)
                continue;
            char id[48], n0[16], n1[16], iv[40];
            w7_label(g_w7_n[0], n0, sizeof n0);
            w7_label(g_w7_n[g_w7_nn - 1], n1, sizeof n1);
            snprintf(id, sizeof id, "W7-%s flat %s", killed ? "killed" : "clean",
                     row == W7_AUTO    ? "auto"
                     : row == W7_CLOSE ? "ckpt-close"
                                       : "no-ckpt");
            snprintf(iv, sizeof iv, "%s / %s", n1, n0);
            printf("  %-24s %-24s %-26s %7.2fx  %-34s\n", id, iv, "reopen time ratio",
                   z->reopen_s / a->reopen_s, "flat (see the rows above)");
        }
}

void report_summary(void)
{
    printf("\nSummary: inmem against the best other engine (ratio > 1: inmem better)\n");
    printf("  %-24s %-24s %-26s %8s  %-34s %s\n", "line", "inmem", "best other", "ratio", "target",
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
        default:
            break;
        }
        status = met < 0 ? "" : met ? "met" : "MISSED";
        printf("  %-24s %-24s %-26s %8s  %-34s %s\n", lines[l].id, iv, bv, rs, target, status);
    }
    summary_w7();
    if (g_ckpt.valid) {
        double t = g_ckpt.tps_with / g_ckpt.tps_without,
               p = g_ckpt.p99_with_us / g_ckpt.p99_without_us;
        char iv[32], bv[32];
        fmt_rate(g_ckpt.tps_with, iv, sizeof iv);
        fmt_rate(g_ckpt.tps_without, bv, sizeof bv);
        char bv2[48];
        snprintf(bv2, sizeof bv2, "without: %s", bv);
        printf("  %-24s %-24s %-26s %7.2fx  %-34s %s\n", "W1-ckpt txn/s", iv, bv2, t,
               ">= 0.90x without checkpoints", t >= 0.90 ? "met" : "MISSED");
        snprintf(iv, sizeof iv, "%.2f us", g_ckpt.p99_with_us);
        snprintf(bv2, sizeof bv2, "without: %.2f us", g_ckpt.p99_without_us);
        printf("  %-24s %-24s %-26s %7.2fx  %-34s %s\n", "W1-ckpt p99", iv, bv2, p,
               "<= 2x without checkpoints", p <= 2 ? "met" : "MISSED");
    }
    if (g_res[L_W6_1K][0].valid && g_res[L_W6_1M][0].valid) {
        double f = g_res[L_W6_1M][0].p50_us / g_res[L_W6_1K][0].p50_us;
        char ctx[64] = "";
        if (g_res[L_W6_1K][2].valid && g_res[L_W6_1M][2].valid)
            snprintf(ctx, sizeof ctx, "lmdb %.2f",
                     g_res[L_W6_1M][2].p50_us / g_res[L_W6_1K][2].p50_us);
        printf("  %-24s %-24s %-26s %7.2fx  %-34s %s\n", "W6-flat", "p50 1M / 1K", ctx, f,
               "<= 1.25x (flat from 1K to 1M)", f <= 1.25 ? "met" : "MISSED");
    }
    if (cmp_inmem_close_busy())
        printf("  note: inmem_db_close() returned INMEM_EBUSY at %lu closes with no transaction of "
               "ours open\n        (a background checkpoint held its snapshot); each was retried "
               "until it closed\n",
               cmp_inmem_close_busy());
    fflush(stdout);
}
