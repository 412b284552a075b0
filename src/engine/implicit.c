/*
 * implicit.c — put/get/delete/cas outside a transaction (docs/CONTRACT.md, rule 1.9).
 *
 * Each is a one-operation transaction. Writes are blind, so they take no snapshot and go
 * straight to the commit path (inmem__store_put_one() and its siblings): a blind write cannot
 * conflict, so the "retry on conflict" of the contract never has anything to retry. A CAS is not
 * retried: it fails with INMEM_CONFLICT when the version does not match, as a retry would too. Used
 * inside an explicit transaction they are legal but not part of it: they commit at once, and the
 * explicit transaction, whose snapshot is older, does not see them.
 */
#include <stdlib.h>
#include <string.h>

#include "core/key.h"
#include "engine/db.h"

/* The encoded key of a KV key in @p run, checked, for a write; INMEM_EINVAL for a NULL @p db.
 * A key that cannot be built for want of memory ends the one-write commit as memory does on the
 * commit path: counted in inmem_stats.aborts_error (the commit path counts its own). */
#define WITH_KV_KEY(db, run, key, klen, call)                                                      \
    do {                                                                                           \
        if (!(db))                                                                                 \
            return INMEM_EINVAL;                                                                   \
        inmem__keybuf kb;                                                                          \
        int rc = inmem__user_key((db)->store, &kb, (run), INMEM__TAG_KV, (key), (klen));           \
        if (rc == INMEM_ENOMEM)                                                                    \
            inmem__store_count((db)->store, INMEM__COUNT_ABORTS_ERROR);                            \
        if (rc == 0)                                                                               \
            rc = (call);                                                                           \
        inmem__keybuf_done(&kb);                                                                   \
        return rc;                                                                                 \
    } while (0)

int inmem_put(inmem_db *db, const inmem_run_id *run, const void *key, size_t klen, const void *val,
              size_t vlen, uint64_t *version)
{
    WITH_KV_KEY(db, run, key, klen,
                inmem__store_put_one(db->store, kb.p, kb.len, val, vlen, 0, version));
}

int inmem_put_ttl(inmem_db *db, const inmem_run_id *run, const void *key, size_t klen,
                  const void *val, size_t vlen, uint64_t ttl_ms, uint64_t *version)
{
    WITH_KV_KEY(db, run, key, klen,
                inmem__store_put_one(db->store, kb.p, kb.len, val, vlen,
                                     inmem__expiry_after(ttl_ms), version));
}

int inmem_delete(inmem_db *db, const inmem_run_id *run, const void *key, size_t klen,
                 uint64_t *version)
{
    WITH_KV_KEY(db, run, key, klen, inmem__store_delete_one(db->store, kb.p, kb.len, version));
}

int inmem_cas(inmem_db *db, const inmem_run_id *run, const void *key, size_t klen,
              uint64_t expected_version, const void *val, size_t vlen, uint64_t *version)
{
    WITH_KV_KEY(
        db, run, key, klen,
        inmem__store_cas_one(db->store, kb.p, kb.len, expected_version, val, vlen, version));
}

int inmem_get(inmem_db *db, const inmem_run_id *run, const void *key, size_t klen, void **val,
              size_t *vlen, uint64_t *version)
{
    if (val)
        *val = NULL;
    if (!db)
        return INMEM_EINVAL;
    inmem__keybuf kb;
    int rc = inmem__user_key(db->store, &kb, run, INMEM__TAG_KV, key, klen);
    inmem_txn *txn = NULL;
    if (rc == 0)
        rc = inmem__txn_begin_ro(db->store, &txn);
    const void *v = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = inmem__txn_get(txn, kb.p, kb.len, &v, &n, version);
    if (rc == 0 && val) {
        *val = malloc(n ? n : 1);
        if (*val)
            memcpy(*val, v, n);
        else
            rc = INMEM_ENOMEM;
    }
    if (rc == 0 && vlen)
        *vlen = n;
    if (txn) {
        inmem_txn_commit(txn);
        inmem_txn_free(txn);
    }
    inmem__keybuf_done(&kb);
    return rc;
}
