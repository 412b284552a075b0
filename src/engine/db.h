/*
 * db.h — the database handle: its options, the transactional store (txn.h) and the write-ahead
 * log (wal.h), which the engine owns: it opens the log (replaying it into the store), lends it to
 * the store for logging commits, and closes it after the store is done with it. Private to src/.
 */
#ifndef INMEM_ENGINE_DB_H
#define INMEM_ENGINE_DB_H

#include "core/key.h"
#include "txn/txn.h"

struct inmem_db {
    inmem__store *store;
    inmem_options opts;
    inmem__wal *wal; /* owned here (the store borrows it); NULL in durability NONE */
    inmem_recovery_info recovery;
};

/* The largest user key of the database a transaction belongs to. */
size_t inmem__db_max_user_key(const inmem__store *st);

/* Checks a user key (1..max bytes, not NULL) and builds its encoded form. */
int inmem__user_key(const inmem__store *st, inmem__keybuf *kb, const inmem_run_id *run, uint8_t tag,
                    const void *key, size_t klen);

/* Runs @p fn as a standalone operation: its own transaction, retried on conflict (up to 10,000
 * attempts, back-off from 10 us to 2 ms). Returns what inmem_db_transact() returns. */
int inmem__db_autocommit(inmem_db *db, inmem_txn_fn fn, void *arg);
/* The same, reporting the commit's version (0 if it wrote nothing) in *version. */
int inmem__db_autocommit_v(inmem_db *db, inmem_txn_fn fn, void *arg, uint64_t *version);
/* inmem_db_transact() reporting the commit's version in *version. */
int inmem__db_transact_v(inmem_db *db, const inmem_retry_options *opts, inmem_txn_fn fn, void *arg,
                         uint64_t *version);

#endif
