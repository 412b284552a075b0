/*
 * db.h — the database handle: its options, the transactional store (txn.h) and the write-ahead
 * log (wal.h), which the engine owns: it opens the log (replaying it into the store), lends it to
 * the store for logging commits, and closes it after the store is done with it. Private to src/.
 */
#ifndef INMEM_ENGINE_DB_H
#define INMEM_ENGINE_DB_H

#include <sys/types.h>

#include "core/key.h"
#include "txn/txn.h"

struct inmem_db {
    inmem__store *store;
    inmem_options opts;
    char *dir;
    inmem__wal *wal; /* owned here (the store borrows it); NULL in durability NONE */
    inmem_recovery_info recovery;
    pid_t pid; /* the process that opened it (a child of fork() has none of its threads) */
    /* checkpoints (checkpoint.c) */
    inmem__mutex ckpt_mu;   /* one checkpoint at a time; guards the fields below it */
    uint64_t ckpt_version;  /* the last image's version */
    uint64_t ckpt_wal_mark; /* log bytes (since open) when it was taken */
    _Atomic int ckpt_error; /* the last failed checkpoint's error, 0 after a success */
    int ckpt_after_open;    /* a checkpoint is due at once (after a salvage at open) */
    uint64_t ckpt_salvaged; /* the damaged image a repair salvaged: kept as *.dropped */
    uint64_t ckpt_backlog;  /* log bytes replayed at open that no image holds yet */
    /* the same, readable by stats without the lock */
    _Atomic uint64_t ckpt_backlog_pub; /* ckpt_backlog, for the stats */
    _Atomic uint64_t ckpt_version_pub, ckpt_wal_mark_pub, ckpt_count, ckpt_bytes, ckpt_time_us,
        ckpt_failures;
    /* the checkpointer thread */
    pthread_t ckpt_thread;
    int has_ckpt_thread;
    pthread_mutex_t ckpt_wait_mu; /* lock order: a committer's commit lock, then this */
    pthread_cond_t ckpt_cv;
    int ckpt_requested, ckpt_stop;
    /* recovery: a damaged newest image that an older one replaced */
    uint64_t ckpt_damaged;
    int ckpt_fallback_rc;
    char ckpt_fallback_err[512];
};

/* checkpoint.c: the log's before_replay callback (loads the newest sound image), what to do once
 * the log has been replayed (@p rc: its result), and the checkpointer's start and stop (with
 * @p at_close, the checkpoint at a clean close). */
int inmem__checkpoint_recover(void *ctx, inmem_recovery_info *report, uint64_t *base_version,
                              uint64_t *base_txn_id);
int inmem__checkpoint_recovered(inmem_db *db, int rc);
int inmem__checkpoint_start(inmem_db *db);
/* Sets the store's history policy from the options, whole from version @p since on. */
void inmem__checkpoint_history_setup(inmem_db *db, uint64_t since);
int inmem__checkpoint_stop(inmem_db *db, int at_close);

/* The largest user key of the database a transaction belongs to. */
static inline size_t inmem__db_max_user_key(const inmem__store *st)
{
    return inmem__store_max_key(st) - INMEM__KEY_PREFIX;
}

/* Checks a user key (1..max bytes, not NULL) and builds its encoded form. Inline, as the
 * encoding is: every primitive call builds one. */
static inline int inmem__user_key(const inmem__store *st, inmem__keybuf *kb,
                                  const inmem_run_id *run, uint8_t tag, const void *key,
                                  size_t klen)
{
    kb->p = NULL;
    if (!key || klen == 0)
        return INMEM_EINVAL;
    if (klen > inmem__db_max_user_key(st))
        return INMEM_ETOOBIG;
    return inmem__keybuf_make(kb, run, tag, key, klen);
}

/* Runs @p fn as a standalone operation: its own transaction, retried on conflict (up to 10,000
 * attempts, back-off from 10 us to 2 ms). Returns what inmem_db_transact() returns. */
int inmem__db_autocommit(inmem_db *db, inmem_txn_fn fn, void *arg);
/* The same, reporting the commit's version (0 if it wrote nothing) in *version. */
int inmem__db_autocommit_v(inmem_db *db, inmem_txn_fn fn, void *arg, uint64_t *version);
/* inmem_db_transact() reporting the commit's version in *version. */
int inmem__db_transact_v(inmem_db *db, const inmem_retry_options *opts, inmem_txn_fn fn, void *arg,
                         uint64_t *version);

#endif
