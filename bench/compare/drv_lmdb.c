/*
 * drv_lmdb.c — the comparison driver for LMDB (lmdb.h, Debian liblmdb-dev).
 *
 * Transactions: LMDB has one writer at a time (a write transaction holds the writer mutex from
 * begin to commit), so writers never conflict: they wait. Readers use MVCC snapshots without
 * locks; each handle keeps one read-only transaction that it resets after use and renews at the
 * next begin (mdb_txn_reset / mdb_txn_renew, LMDB's fast path for repeated reads). The
 * environment is opened with MDB_NOTLS so that a handle's read transaction is not tied to a
 * thread slot. Values are copied out of the map.
 *
 * Durability: none = MDB_NOSYNC | MDB_NOMETASYNC | MDB_WRITEMAP | MDB_MAPASYNC (writes land in
 * the shared mapping, never flushed by commits); batched = MDB_NOSYNC | MDB_WRITEMAP |
 * MDB_MAPASYNC plus a background mdb_env_sync(force) every 100 ms; strict = the default flags
 * (pwrite of the dirty pages, fdatasync, then the meta page and another fdatasync per commit).
 * Map size 16 GiB (sparse), 256 reader slots.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "compare.h"

typedef struct ldb {
    MDB_env *env;
    MDB_dbi dbi;
    cmp_syncer *syncer;
} ldb;

typedef struct lh {
    ldb *db;
    MDB_txn *rtxn; /* the handle's read transaction, reset between uses */
    MDB_txn *txn;  /* the active transaction (rtxn or a write transaction) */
    int writer;
} lh;

static void check(int rc, const char *what)
{
    if (rc)
        cmp_die("lmdb: %s: %s", what, mdb_strerror(rc));
}

static const char *lv_version(void)
{
    return mdb_version(NULL, NULL, NULL);
}

static const char *lv_mapping(cmp_durability d)
{
    switch (d) {
    case CMP_NONE:
        return "MDB_NOSYNC|MDB_NOMETASYNC|MDB_WRITEMAP|MDB_MAPASYNC (no flush at all)";
    case CMP_BATCHED:
        return "MDB_NOSYNC|MDB_WRITEMAP|MDB_MAPASYNC + background mdb_env_sync(force) every 100 ms";
    default:
        return "default flags: fdatasync of data and meta page at every commit";
    }
}

static void lv_sync(void *arg)
{
    ldb *x = arg;
    check(mdb_env_sync(x->env, 1), "mdb_env_sync");
}

static void *lv_open(const char *dir, cmp_durability d)
{
    ldb *x = calloc(1, sizeof *x);
    if (!x)
        cmp_die("lmdb: out of memory");
    check(mdb_env_create(&x->env), "mdb_env_create");
    check(mdb_env_set_mapsize(x->env, (size_t)16 << 30), "mdb_env_set_mapsize");
    check(mdb_env_set_maxreaders(x->env, 256), "mdb_env_set_maxreaders");
    unsigned flags = MDB_NOTLS;
    if (d == CMP_NONE)
        flags |= MDB_NOSYNC | MDB_NOMETASYNC | MDB_WRITEMAP | MDB_MAPASYNC;
    if (d == CMP_BATCHED)
        flags |= MDB_NOSYNC | MDB_WRITEMAP | MDB_MAPASYNC;
    check(mdb_env_open(x->env, dir, flags, 0600), "mdb_env_open");
    MDB_txn *t;
    check(mdb_txn_begin(x->env, NULL, 0, &t), "mdb_txn_begin");
    check(mdb_dbi_open(t, NULL, 0, &x->dbi), "mdb_dbi_open");
    check(mdb_txn_commit(t), "mdb_txn_commit");
    if (d == CMP_BATCHED)
        x->syncer = cmp_syncer_start(lv_sync, x, CMP_SYNC_INTERVAL_MS);
    return x;
}

static void lv_close(void *db)
{
    ldb *x = db;
    cmp_syncer_stop(x->syncer);
    check(mdb_env_sync(x->env, 1), "mdb_env_sync");
    mdb_env_close(x->env);
    free(x);
}

static void *lv_handle_open(void *db)
{
    lh *h = calloc(1, sizeof *h);
    if (!h)
        cmp_die("lmdb: out of memory");
    h->db = db;
    return h;
}

static void lv_handle_close(void *hp)
{
    lh *h = hp;
    if (h->txn)
        cmp_die("lmdb: handle closed with a transaction open");
    if (h->rtxn)
        mdb_txn_abort(h->rtxn);
    free(h);
}

static void lv_begin(void *hp, int writer)
{
    lh *h = hp;
    if (h->txn)
        cmp_die("lmdb: begin with a transaction open");
    h->writer = writer;
    if (writer) {
        check(mdb_txn_begin(h->db->env, NULL, 0, &h->txn), "mdb_txn_begin");
    } else if (h->rtxn) {
        check(mdb_txn_renew(h->rtxn), "mdb_txn_renew");
        h->txn = h->rtxn;
    } else {
        check(mdb_txn_begin(h->db->env, NULL, MDB_RDONLY, &h->rtxn), "mdb_txn_begin(rdonly)");
        h->txn = h->rtxn;
    }
}

static int lv_get(void *hp, const void *key, size_t klen, void *val, size_t cap, size_t *vlen)
{
    lh *h = hp;
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(h->txn, h->db->dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return CMP_NOTFOUND;
    check(rc, "mdb_get");
    memcpy(val, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
    *vlen = v.mv_size;
    return CMP_OK;
}

static int lv_put(void *hp, const void *key, size_t klen, const void *val, size_t vlen)
{
    lh *h = hp;
    if (!h->writer)
        cmp_die("lmdb: put in a read-only transaction");
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    check(mdb_put(h->txn, h->db->dbi, &k, &v, 0), "mdb_put");
    return CMP_OK;
}

static int lv_commit(void *hp)
{
    lh *h = hp;
    if (h->writer)
        check(mdb_txn_commit(h->txn), "mdb_txn_commit");
    else
        mdb_txn_reset(h->txn);
    h->txn = NULL;
    return CMP_OK;
}

static void lv_abort(void *hp)
{
    lh *h = hp;
    if (h->writer)
        mdb_txn_abort(h->txn);
    else
        mdb_txn_reset(h->txn);
    h->txn = NULL;
}

const cmp_driver cmp_lmdb_driver = {
    .name = "lmdb",
    .packages = "liblmdb-dev",
    .version = lv_version,
    .mapping = lv_mapping,
    .open = lv_open,
    .close = lv_close,
    .handle_open = lv_handle_open,
    .handle_close = lv_handle_close,
    .begin = lv_begin,
    .get = lv_get,
    .put = lv_put,
    .commit = lv_commit,
    .abort = lv_abort,
    .kill_server = NULL,
    .replayed_bytes = NULL,
};
