/*
 * ckpt.h — W1-ckpt, what a checkpoint being written costs the writers, for inmem alone
 * (ckpt.c). Used by the report (report.c) and main (compare.c).
 */
#ifndef INMEM_COMPARE_CKPT_H
#define INMEM_COMPARE_CKPT_H

/** W1-ckpt's figures once it has run (valid): means over its runs without and with checkpoints. */
typedef struct ckpt_figures {
    int valid;
    double tps_without, tps_with;
    double p99_without_us, p99_with_us;
} ckpt_figures;

extern ckpt_figures g_ckpt;

/** Runs W1-ckpt and prints its block; the database in a fresh directory under @p root. */
void ckpt_lines(const char *root);

#endif
