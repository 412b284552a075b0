/*
 * drv_rocksdb.c — the comparison driver for RocksDB's OptimisticTransactionDB (C API,
 * rocksdb/c.h, Debian librocksdb-dev).
 *
 * Transactions: writers are optimistic transactions begun with set_snapshot = 1 (conflicts
 * are checked at commit against the snapshot taken at begin; puts track their keys, so two
 * writers of one key conflict: first committer wins) and read through that snapshot
 * (rocksdb_transaction_get_pinned with the transaction's snapshot in the read options). The
 * transaction object is reused across begins (old_txn). Readers take a plain DB snapshot and
 * read with rocksdb_get_pinned: the cheapest consistent snapshot read RocksDB offers. A commit
 * that fails with Busy or TryAgain is a conflict.
 *
 * Durability: none = WriteOptions.disableWAL; batched = WAL written on every commit without
 * sync, plus a background thread calling FlushWAL(sync=true) every 100 ms (inmem's batched
 * interval); strict = WriteOptions.sync = true (RocksDB groups concurrent syncing writers).
 * Tuning: 256 MiB LRU block cache, 10-bit bloom filters, increase_parallelism(2), otherwise
 * the defaults (64 MiB memtables).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "compare.h"

typedef struct rdb {
    rocksdb_optimistictransactiondb_t *odb;
    rocksdb_t *base;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *bbto;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wo;
    rocksdb_optimistictransaction_options_t *to;
    cmp_syncer *syncer;
} rdb;

typedef struct rh {
    rdb *db;
    rocksdb_transaction_t *txn; /* reused by every begin of this handle */
    rocksdb_readoptions_t *ro;
    const rocksdb_snapshot_t *snap;
    int writer, active, writes;
} rh;

static void check(char *err, const char *what)
{
    if (err) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err);
        rocksdb_free(err);
        cmp_die("rocksdb: %s: %s", what, msg);
    }
}

static const char *rv_version(void)
{
    return "(the C API has no run-time version call: see the package version)";
}

static const char *rv_mapping(cmp_durability d)
{
    switch (d) {
    case CMP_NONE:
        return "WriteOptions.disableWAL = true (memtables only until flushed)";
    case CMP_BATCHED:
        return "WAL written per commit, sync = false, + background FlushWAL(sync) every 100 ms";
    default:
        return "WriteOptions.sync = true (fsync of the WAL per commit group)";
    }
}

static void rv_sync(void *arg)
{
    rdb *x = arg;
    char *err = NULL;
    rocksdb_flush_wal(x->base, 1, &err);
    check(err, "rocksdb_flush_wal");
}

static void *rv_open(const char *dir, cmp_durability d)
{
    rdb *x = calloc(1, sizeof *x);
    if (!x)
        cmp_die("rocksdb: out of memory");
    x->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(x->opts, 1);
    rocksdb_options_increase_parallelism(x->opts, 2);
    x->bbto = rocksdb_block_based_options_create();
    x->cache = rocksdb_cache_create_lru((size_t)256 << 20);
    rocksdb_block_based_options_set_block_cache(x->bbto, x->cache);
    rocksdb_block_based_options_set_filter_policy(x->bbto, rocksdb_filterpolicy_create_bloom(10));
    rocksdb_options_set_block_based_table_factory(x->opts, x->bbto);
    char *err = NULL;
    x->odb = rocksdb_optimistictransactiondb_open(x->opts, dir, &err);
    check(err, "rocksdb_optimistictransactiondb_open");
    if (!x->odb)
        cmp_die("rocksdb: open returned NULL");
    x->base = rocksdb_optimistictransactiondb_get_base_db(x->odb);
    x->wo = rocksdb_writeoptions_create();
    if (d == CMP_NONE)
        rocksdb_writeoptions_disable_WAL(x->wo, 1);
    if (d == CMP_STRICT)
        rocksdb_writeoptions_set_sync(x->wo, 1);
    x->to = rocksdb_optimistictransaction_options_create();
    rocksdb_optimistictransaction_options_set_set_snapshot(x->to, 1);
    if (d == CMP_BATCHED)
        x->syncer = cmp_syncer_start(rv_sync, x, CMP_SYNC_INTERVAL_MS);
    return x;
}

static void rv_close(void *db)
{
    rdb *x = db;
    cmp_syncer_stop(x->syncer);
    rocksdb_optimistictransactiondb_close_base_db(x->base);
    rocksdb_optimistictransactiondb_close(x->odb);
    rocksdb_optimistictransaction_options_destroy(x->to);
    rocksdb_writeoptions_destroy(x->wo);
    rocksdb_options_destroy(x->opts);
    rocksdb_block_based_options_destroy(x->bbto);
    rocksdb_cache_destroy(x->cache);
    free(x);
}

static void *rv_handle_open(void *db)
{
    rh *h = calloc(1, sizeof *h);
    if (!h)
        cmp_die("rocksdb: out of memory");
    h->db = db;
    h->ro = rocksdb_readoptions_create();
    return h;
}

static void rv_handle_close(void *hp)
{
    rh *h = hp;
    if (h->active)
        cmp_die("rocksdb: handle closed with a transaction open");
    if (h->txn)
        rocksdb_transaction_destroy(h->txn);
    rocksdb_readoptions_destroy(h->ro);
    free(h);
}

static void rv_begin(void *hp, int writer)
{
    rh *h = hp;
    if (h->active)
        cmp_die("rocksdb: begin with a transaction open");
    h->active = 1;
    h->writer = writer;
    h->writes = 0;
    if (writer) {
        h->txn = rocksdb_optimistictransaction_begin(h->db->odb, h->db->wo, h->db->to, h->txn);
        if (!h->txn)
            cmp_die("rocksdb: rocksdb_optimistictransaction_begin returned NULL");
        h->snap = rocksdb_transaction_get_snapshot(h->txn); /* a wrapper, freed by rocksdb_free */
        if (!h->snap)
            cmp_die("rocksdb: transaction has no snapshot");
    } else {
        h->snap = rocksdb_create_snapshot(h->db->base);
    }
    rocksdb_readoptions_set_snapshot(h->ro, h->snap);
}

static int rv_get(void *hp, const void *key, size_t klen, void *val, size_t cap, size_t *vlen)
{
    rh *h = hp;
    char *err = NULL;
    rocksdb_pinnableslice_t *ps =
        h->writer ? rocksdb_transaction_get_pinned(h->txn, h->ro, key, klen, &err)
                  : rocksdb_get_pinned(h->db->base, h->ro, key, klen, &err);
    check(err, "get");
    if (!ps)
        return CMP_NOTFOUND;
    size_t n;
    const char *v = rocksdb_pinnableslice_value(ps, &n);
    memcpy(val, v, n < cap ? n : cap);
    *vlen = n;
    rocksdb_pinnableslice_destroy(ps);
    return CMP_OK;
}

static int rv_put(void *hp, const void *key, size_t klen, const void *val, size_t vlen)
{
    rh *h = hp;
    if (!h->writer)
        cmp_die("rocksdb: put in a read-only transaction");
    char *err = NULL;
    rocksdb_transaction_put(h->txn, key, klen, val, vlen, &err);
    check(err, "rocksdb_transaction_put");
    h->writes++;
    return CMP_OK;
}

static void end(rh *h)
{
    rocksdb_readoptions_set_snapshot(h->ro, NULL);
    if (h->writer)
        rocksdb_free((void *)h->snap);
    else
        rocksdb_release_snapshot(h->db->base, h->snap);
    h->snap = NULL;
    h->active = 0;
}

static int is_conflict(const char *err)
{
    return !strncmp(err, "Resource busy", 13) || !strncmp(err, "Operation failed. Try again", 27);
}

static int rv_commit(void *hp)
{
    rh *h = hp;
    int rc = CMP_OK;
    if (h->writer) {
        char *err = NULL;
        if (h->writes)
            rocksdb_transaction_commit(h->txn, &err);
        else
            rocksdb_transaction_rollback(h->txn, &err);
        if (err && is_conflict(err)) {
            rocksdb_free(err);
            err = NULL;
            rc = CMP_CONFLICT;
        }
        check(err, "rocksdb_transaction_commit");
    }
    end(h);
    return rc;
}

static void rv_abort(void *hp)
{
    rh *h = hp;
    if (h->writer) {
        char *err = NULL;
        rocksdb_transaction_rollback(h->txn, &err);
        check(err, "rocksdb_transaction_rollback");
    }
    end(h);
}

const cmp_driver cmp_rocksdb_driver = {
    .name = "rocksdb",
    .packages = "librocksdb-dev",
    .version = rv_version,
    .mapping = rv_mapping,
    .open = rv_open,
    .close = rv_close,
    .handle_open = rv_handle_open,
    .handle_close = rv_handle_close,
    .begin = rv_begin,
    .get = rv_get,
    .put = rv_put,
    .commit = rv_commit,
    .abort = rv_abort,
    .kill_server = NULL,
    .replayed_bytes = NULL,
};
