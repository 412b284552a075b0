/*
 * recovery.h — the recovery lines, W7 (recovery.c). Used by the report (report.c) and main
 * (compare.c).
 */
#ifndef INMEM_COMPARE_RECOVERY_H
#define INMEM_COMPARE_RECOVERY_H

#include <stdint.h>

#include "workloads.h"

/** History lengths W7 runs at (--w7-commits N[,N...]; set by main), shortest first. */
#define W7_MAXN 4
extern uint64_t g_w7_n[W7_MAXN];
extern int g_w7_nn;

/**
 * The rows of a W7 block: inmem with the library's defaults (automatic checkpoints), inmem with
 * checkpoint_on_close (clean close only), inmem without checkpoints (clean close only: the whole
 * log replayed), then the other engines (engine e at W7_ENG0 + e - 1).
 */
enum { W7_AUTO, W7_CLOSE, W7_OFF, W7_ENG0, W7_NROWS = W7_ENG0 + NENG - 1 };

/** One row of one W7 block. */
typedef struct w7res {
    int valid;
    double reopen_s;
    double cpu_s;       /* user + system time of the reopening process over reopen_s */
    double load_gbps;   /* inmem: the image's load rate (0: no image) */
    char note[256];     /* the writer, the disk, the check */
    char recovery[256]; /* inmem: what the open loaded and replayed */
} w7res;

/** [killed][history index][row]. */
extern w7res g_w7[2][W7_MAXN][W7_NROWS];

/** The row's name: "inmem", "inmem ckpt-close", "inmem no-ckpt", or the engine's. */
const char *w7_row_name(int row);

/** "200K", "1M", "10M": a history length for labels. */
void w7_label(uint64_t n, char *buf, int cap);

/**
 * Runs W7 (unless --lines leaves it out) at every history length, clean close then killed
 * writer, each row in turn, and prints each block as it completes. Databases in fresh
 * directories under @p root.
 */
void recovery_lines(const char *root);

/**
 * The writer process of W7 (inmem_compare --w7-writer ENGINE DIR COUNT close|kill [auto|close|
 * off]): COUNT commits into DIR (inmem with that checkpoint setting), then a clean close or a
 * wait for the parent's SIGKILL. Returns the exit status.
 */
int recovery_writer_main(const char *engine, const char *dir, const char *count, const char *mode,
                         const char *variant);

#endif
