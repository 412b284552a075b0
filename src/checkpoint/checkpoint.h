/*
 * checkpoint.h — checkpoint images: a consistent copy of every key's versions at one commit
 * version V, in one file, checksummed in blocks (format in checkpoint.c and docs/FORMAT.md).
 * Knows nothing of the index or the log: the engine feeds the writer from a snapshot, and the
 * reader hands each entry to a callback that loads it.
 *
 * File names: ckpt-<V as 16 lowercase hex digits>.img; a checkpoint being written is
 * ckpt-<V>.img.tmp until it is complete and synced, then renamed into place (and the directory
 * synced), so an image under its final name is always whole.
 */
#ifndef INMEM_CHECKPOINT_CHECKPOINT_H
#define INMEM_CHECKPOINT_CHECKPOINT_H

#include "core/common.h"

#define INMEM__CKPT_FORMAT 1u

/* One version of a key: written with inmem__ckpt_add(), handed to the load callback (pointers
 * into the mapped image, valid during the callback). */
typedef struct inmem__ckpt_entry {
    const uint8_t *key;
    uint32_t klen;
    uint64_t version;
    uint64_t time_ms; /* its commit's wall-clock time, 0 if unknown */
    uint64_t expiry_ms;
    int tomb;
    const uint8_t *val;
    uint32_t vlen;
    int first; /* the first (newest) version of its key (set by the reader) */
    int cut;   /* the oldest version kept of its key: older ones were freed */
} inmem__ckpt_entry;

/* The database's history retention when the image was written (inmem__hpolicy). */
typedef struct inmem__ckpt_history {
    uint64_t ms;
    uint32_t count;
    uint64_t since;
} inmem__ckpt_history;

/* ---- writing ---- */

typedef struct inmem__ckpt_writer inmem__ckpt_writer;

/* Starts the image of version @p version (txn id @p txn_id) in directory @p dir, as a temporary
 * file of mode @p file_mode, recording @p hist (may be NULL: none). INMEM_EIO (with the detail
 * in inmem_errmsg()), INMEM_ENOMEM. */
int inmem__ckpt_begin(const char *dir, uint64_t version, uint64_t txn_id, int file_mode,
                      const inmem__ckpt_history *hist, inmem__ckpt_writer **out);
/* Adds one version of a key. Keys come in strictly increasing memcmp order; the versions of one
 * key come together, newest first. INMEM_EIO, INMEM_ENOMEM. */
int inmem__ckpt_add(inmem__ckpt_writer *w, const inmem__ckpt_entry *e);
/* Completes the image: the last block and the trailer, fsync, rename into place, fsync of the
 * directory; frees the writer. *bytes gets the file's size (may be NULL). On error the
 * temporary file is removed. */
int inmem__ckpt_finish(inmem__ckpt_writer *w, uint64_t *bytes);
/* Abandons an image being written (removes the temporary file). Accepts NULL. */
void inmem__ckpt_abort(inmem__ckpt_writer *w);

/* ---- reading ---- */

typedef int (*inmem__ckpt_fn)(void *ctx, const inmem__ckpt_entry *e);

/* What a load found. */
typedef struct inmem__ckpt_info {
    uint64_t version, txn_id, created_ms;
    inmem__ckpt_history hist;
    uint64_t keys, versions, blocks, bytes;
    uint64_t file_bytes; /* the image file's size */
    /* the key count its trailer gives (0 if damaged), set before the first entry is handed on:
     * a loader sizes its tables with it */
    uint64_t keys_expected;
    /* repair loads (salvage): what was skipped; keys_lost is INMEM_COUNT_UNKNOWN without a
     * valid trailer (its key count is the only one the image records) */
    uint64_t bad_blocks, bad_offset, bad_bytes, keys_lost;
} inmem__ckpt_info;

/*
 * Reads the image at @p path, checking everything (the header, every block's checksums, the
 * order of the keys, the trailer), and hands every version to @p fn in key order as it goes.
 * INMEM_ECORRUPT names the file and the offset of the first damage; @p fn may have been called
 * for the entries before it, so the caller discards what it loaded. With @p salvage, damaged
 * blocks are skipped whole instead (none of their entries is handed on; their keys are lost) and
 * reported in @p info; only an unreadable header still fails. INMEM_EVERSION for an image of
 * another format version, INMEM_EIO, INMEM_ENOMEM, or @p fn's error.
 */
int inmem__ckpt_load(const char *path, int salvage, inmem__ckpt_fn fn, void *ctx,
                     inmem__ckpt_info *info);

/* The versions of the checkpoint images in @p dir, ascending (*out owned by the caller, free()).
 * With @p remove_tmp, leftovers of an interrupted write (*.img.tmp) are removed. */
int inmem__ckpt_list(const char *dir, int remove_tmp, uint64_t **out, size_t *n);
/* The path of image @p version in @p dir. */
void inmem__ckpt_path(const char *dir, uint64_t version, char *buf, size_t cap);
/* Tests: 1 stalls the thread that checks a big image's checksums ahead of its load (it checks
 * nothing until the load ends), so that the loader checks every block itself; 0 again. */
void inmem__ckpt_stall_checker(int on);
/* 1 if @p name is a checkpoint image's (or temporary image's) file name. */
int inmem__ckpt_is_name(const char *name);

#endif
