/*
 * db.h — the database handle: options, the transactional store, and (later) the write-ahead
 * log. Private to src/.
 */
#ifndef INMEM_ENGINE_DB_H
#define INMEM_ENGINE_DB_H

#include "core/key.h"
#include "txn/txn.h"

struct inmem_db {
    inmem__store store;
    inmem_options opts;
    inmem__wal *wal; /* NULL in durability NONE */
    inmem_recovery_info recovery;
};

/* The largest user key of the database a transaction belongs to. */
size_t inmem__db_max_user_key(const inmem__store *st);

/* Checks a user key (1..max bytes, not NULL) and builds its encoded form. */
int inmem__user_key(const inmem__store *st, inmem__keybuf *kb, const inmem_run_id *run,
                    uint8_t tag, const void *key, size_t klen);

#endif
