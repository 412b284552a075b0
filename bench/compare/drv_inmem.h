/*
 * drv_inmem.h — what the comparison sets and reads on inmem alone, beside the driver interface
 * of compare.h (drv_inmem.c): the checkpoint settings of the databases opened next (W7's inmem
 * variants, W1-ckpt), the inmem_db under a driver's db, and notes on what a writer logged and
 * what an open loaded. Used by the recovery lines (recovery.c) and W1-ckpt (ckpt.c).
 */
#ifndef INMEM_COMPARE_DRV_INMEM_H
#define INMEM_COMPARE_DRV_INMEM_H

#include <stddef.h>

#include "inmem.h"

/** inmem's checkpoint settings for the databases opened from now on. */
typedef enum cmp_inmem_ckpt {
    CMP_CKPT_AUTO =
        0, /* the defaults: automatic checkpoints (ratio 4, min 16 MiB), none at close */
    CMP_CKPT_ON_CLOSE, /* the defaults and checkpoint_on_close = 1 */
    CMP_CKPT_OFF,      /* checkpoint_log_ratio = 0 and none at close: the log only */
} cmp_inmem_ckpt;

void cmp_inmem_set_ckpt(cmp_inmem_ckpt c);
/* 1: the "none" lines run inmem in async mode with its log (files like the others write). */
void cmp_inmem_set_none_async(int on);

/**
 * inmem_db_close(), waiting (up to 10 s) while it returns INMEM_EBUSY with no transaction of ours
 * open: a background checkpoint holds a snapshot, and close refuses instead of stopping it (a
 * library bug). Each close that had to wait is counted for cmp_inmem_close_busy().
 */
int cmp_inmem_close(inmem_db *db);
unsigned long cmp_inmem_close_busy(void);

/** The inmem_db of a database the inmem driver opened. */
inmem_db *cmp_inmem_db(void *db);

/**
 * A writer's figures from inmem_db_stats(): log bytes per commit, the checkpoints it took and
 * the last one's size, time and rate. *@p ckpts gets the number of checkpoints.
 */
void cmp_inmem_writer_note(void *db, char *buf, size_t cap, unsigned long long *ckpts);

/** Notes the images (ckpt-*.img) in @p dir and their sizes: call it before the open. */
void cmp_inmem_list_images(const char *dir);

/**
 * What the open of @p db recovered (inmem_db_recovery()): the image loaded (its size as
 * cmp_inmem_list_images() found it, checkpoint_load_us and the rate) and the log replayed
 * after it. *@p load_gbps gets the image's load rate in GB/s (0: no image).
 */
void cmp_inmem_recovery_note(void *db, char *buf, size_t cap, double *load_gbps);

#endif
