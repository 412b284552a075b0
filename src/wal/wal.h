/*
 * wal.h — the write-ahead log: recovery at open, appending committed transactions, and making
 * them durable according to the durability mode. Knows nothing of the index: recovery hands each
 * committed transaction to a callback, and the caller gives the log the records to append.
 */
#ifndef INMEM_WAL_WAL_H
#define INMEM_WAL_WAL_H

#include "core/common.h"
#include "wal/codec.h"

typedef struct inmem__wal inmem__wal;

typedef struct inmem__wal_config {
    const char *dir;
    inmem_durability mode; /* ASYNC, BATCHED or STRICT */
    uint64_t segment_size;
    uint64_t sync_interval_ms; /* background fsync period (async, batched) */
    uint64_t sync_commits;     /* batched: fsync after this many commits */
    int repair;                /* truncate at a corruption instead of failing */
    int read_only;             /* replay only: no lock, no changes, no appends */
    int create_if_missing;     /* create a database in a missing or empty directory */
    int file_mode;             /* permission bits of the files made (directory: + x) */
    uint64_t max_unsynced;     /* batched/async: cap on acknowledged unsynced commits; 0 none */
    /* Called once the directory is locked (or, read-only, probed) and before the log is replayed:
     * loads what precedes the log (the engine's checkpoint) and sets *base_version and
     * *base_txn_id: commits up to that version are skipped by replay. Its error fails the open.
     * May be NULL. */
    int (*before_replay)(void *ctx, inmem_recovery_info *report, uint64_t *base_version,
                         uint64_t *base_txn_id);
    void *before_ctx;
    /* Called before replay (after before_replay) with every put of a key of prescan_klen bytes
     * the log's segments hold, in log order, with the apply callback's ctx: a walk of the frames
     * as written, unchecked (a put of a transaction never committed, or past a bad frame, may be
     * handed too), so that the caller learns of records further on in the log before it replays
     * what comes before them. Its error fails the open. May be NULL. */
    int (*prescan)(void *ctx, const uint8_t *key, size_t klen, const void *val, size_t vlen);
    size_t prescan_klen;
    /* Called during replay with the key of a transaction a few records ahead of the one being
     * applied (stage 0: further ahead, stage 1: nearer), unchecked, with the apply callback's
     * ctx: so that the caller can start the cache misses its apply will take. A hint only, with
     * nothing to return. May be NULL. */
    void (*prefetch)(void *ctx, const uint8_t *key, size_t klen, int stage);
    uint64_t base_version; /* (set from before_replay) */
    uint64_t base_txn_id;
    /* Read-only opens beside a live writer: set to 1 when the open fails on damage in a segment
     * the writer had finished before replay began (not its tail, which is not judged): the
     * writer's progress does not explain it, so opening again would find it again. May be
     * NULL. */
    int *damage_settled;
} inmem__wal_config;

/* One committed transaction read back by recovery: its WRITE/DELETE records, in log order. */
typedef struct inmem__wal_txn {
    uint64_t txn_id;
    uint64_t version;
    size_t n;
    const inmem__wal_rec *recs;
    uint64_t time_ms; /* when it committed (wall clock) */
} inmem__wal_txn;

/* Applies a recovered transaction; non-zero stops recovery with that error. */
typedef int (*inmem__wal_apply_fn)(void *ctx, const inmem__wal_txn *txn);

/*
 * Opens (creating if allowed) the log in cfg->dir: takes the directory's lock, replays every
 * committed transaction through @p apply in log order, fills @p report, and readies the log for
 * appending. Errors: INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ELOCKED, INMEM_ECORRUPT, INMEM_EVERSION,
 * INMEM_EIO, INMEM_ENOMEM, with the detail in inmem_errmsg(). Close with inmem__wal_close().
 */
int inmem__wal_open(const inmem__wal_config *cfg, inmem__wal_apply_fn apply, void *ctx,
                    inmem_recovery_info *report, inmem__wal **out);
/*
 * How far the log of cfg->dir replays from cfg->base_version (txn id cfg->base_txn_id): *version
 * gets the version a read-only open with cfg->repair would reach (after the cut a repair would
 * make), reading every segment but changing no file, taking no lock and applying nothing. Lets
 * the caller choose where replay starts before it replays (the engine: whether the log covers a
 * damaged image from an older one). @p live_writer: the end of the log may be mid-write (read-only
 * opens beside a writer). Errors: those of a read-only open's replay (INMEM_ECORRUPT without
 * repair, INMEM_EVERSION, INMEM_EIO, INMEM_ENOMEM).
 */
int inmem__wal_reach(const inmem__wal_config *cfg, int live_writer, uint64_t *version);
/* Makes everything appended durable, then releases the log and its lock. Returns the first
 * error met (the log is released in any case). */
int inmem__wal_close(inmem__wal *w);

/* Appending one transaction. The caller serialises appenders (the commit lock). */
typedef struct inmem__wal_cursor {
    uint8_t *frame; /* a TXN frame's start */
    uint8_t *p;
    uint64_t version;
    uint32_t records;
    size_t total;
    int multi; /* written as BEGIN, WRITE/DELETE records, COMMIT (too big for one frame) */
} inmem__wal_cursor;

/* 0 if the log takes appends; INMEM_EREADONLY (opened read-only, or an earlier failure). */
int inmem__wal_writable(inmem__wal *w);

/*
 * Starts a transaction of @p records operations with commit version @p version, committed at
 * wall-clock @p time_ms (logged with it). @p op_bytes is
 * the sum of inmem__wal_op_size() over them, @p multi_bytes of inmem__wal_write_size() /
 * _delete_size() (used only for a transaction too big for one frame). Reserves room (switching
 * segments if needed) and writes the frame's head. Errors: INMEM_EREADONLY (read-only, or an
 * earlier log failure), INMEM_EIO (the switch failed; the log is then read-only). Nothing is
 * written on error.
 */
int inmem__wal_append_begin(inmem__wal *w, uint64_t version, uint64_t time_ms,
                            const uint8_t run[16], uint32_t records, size_t op_bytes,
                            size_t multi_bytes, inmem__wal_cursor *c);
void inmem__wal_append_write(inmem__wal_cursor *c, const uint8_t *key, uint32_t klen,
                             const void *val, uint32_t vlen, uint64_t expiry_ms);
void inmem__wal_append_delete(inmem__wal_cursor *c, const uint8_t *key, uint32_t klen);
/* Ends the frame and publishes the transaction to the syncer. Returns its ticket (end LSN). */
uint64_t inmem__wal_append_end(inmem__wal *w, inmem__wal_cursor *c);

/* After the commit lock is released: in strict mode waits until @p ticket is durable (group
 * commit: one fsync serves every waiting committer); in batched mode asks the background syncer
 * for an fsync every sync_commits commits. 0, or INMEM_EIO if the fsync failed. */
int inmem__wal_commit_wait(inmem__wal *w, uint64_t ticket);

/* Counters for inmem_stats. */
void inmem__wal_stats(const inmem__wal *w, uint64_t *bytes, uint64_t *syncs,
                      uint64_t *synced_commits);

/* ---- checkpoints (the engine's) ---- */

/* Under the caller's commit lock: syncs and ends the current segment and starts the next one;
 * *seq gets its number: every commit so far lies in the segments before it. INMEM_EIO: an fsync
 * failed (the log is then read-only, as after any failed fsync), or the new segment could not be
 * made (then the current one simply stays); INMEM_EREADONLY. */
int inmem__wal_switch(inmem__wal *w, uint64_t *seq);
/* Outside the commit lock, before inmem__wal_switch(): makes the next segment now (if the
 * background thread has not), so that the switch under the commit lock only writes and syncs
 * the old segment's end. Failure is not reported here: the switch then meets it. */
void inmem__wal_prepare_switch(inmem__wal *w);
/* Removes every segment numbered below @p seq (a checkpoint holds their commits). 0 or
 * INMEM_EIO (some could not be removed; the rest were). */
int inmem__wal_drop_before(inmem__wal *w, uint64_t seq);
/* Sets what an armed trigger calls: @p fn(@p ctx), from a committer (under its commit lock: keep
 * it short). Call it once, before any commit and before any other thread can arm the trigger. */
void inmem__wal_set_trigger(inmem__wal *w, void (*fn)(void *), void *ctx);
/* Arms the trigger to fire once when @p bytes more bytes have been logged; UINT64_MAX disarms
 * it. Safe from any thread. */
void inmem__wal_arm_trigger(inmem__wal *w, uint64_t bytes);
/* Bytes logged since open (commits, not marks). */
uint64_t inmem__wal_bytes(const inmem__wal *w);

/* Tests: the number of the segment being appended to (from the appending thread). */
uint64_t inmem__wal_seq(const inmem__wal *w);
/* Tests: the spare segment: 0 none, 1 asked for or being made, 2 made (*seq: its number). */
int inmem__wal_spare(inmem__wal *w, uint64_t *seq);

/* Tests: 1 while the background syncer still has pages of the current segment to prefault. */
int inmem__wal_prefault_pending(inmem__wal *w);
/* Tests: how many times a committer's wait for an fsync ended on its timeout, not on a wake-up. */
uint64_t inmem__wal_wait_timeouts(inmem__wal *w);

/* Tests: called after every append and every fsync, with what just happened: the log is written
 * (@p synced 0) or durable (1) up to offset @p off of segment @p seq. */
typedef void (*inmem__wal_hook)(void *ctx, int synced, uint64_t seq, uint64_t off);
void inmem__wal_set_hook(inmem__wal *w, inmem__wal_hook hook, void *ctx);

#endif
