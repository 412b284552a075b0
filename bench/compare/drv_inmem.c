/*
 * drv_inmem.c — the comparison driver for inmem itself (build/libinmem.a).
 *
 * Durability maps one to one: none = INMEM_DURABILITY_NONE (no files at all), batched =
 * INMEM_DURABILITY_BATCHED (defaults: fsync every 100 ms or 1000 commits), strict =
 * INMEM_DURABILITY_STRICT (fdatasync before a commit returns, group commit). A handle is one
 * inmem_txn slot per thread; reads run in snapshot transactions (inmem_kv_get copies the
 * borrowed value out), commits report INMEM_CONFLICT as CMP_CONFLICT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "inmem.h"

typedef struct idb {
    inmem_db *db;
} idb;

typedef struct ih {
    inmem_db *db;
    inmem_txn *txn;
} ih;

static void check(int rc, const char *what)
{
    if (rc)
        cmp_die("inmem: %s: %s (%s) %s", what, inmem_errname(rc), inmem_strerror(rc),
                inmem_errmsg());
}

static const char *iv_version(void)
{
    return inmem_version_string();
}

static const char *iv_mapping(cmp_durability d)
{
    switch (d) {
    case CMP_NONE:
        return "INMEM_DURABILITY_NONE (no log, no files)";
    case CMP_BATCHED:
        return "INMEM_DURABILITY_BATCHED (log written per commit, fsync every 100 ms or 1000 "
               "commits)";
    default:
        return "INMEM_DURABILITY_STRICT (fdatasync before commit returns, group commit)";
    }
}

static void *iv_open(const char *dir, cmp_durability d)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = d == CMP_NONE      ? INMEM_DURABILITY_NONE
                   : d == CMP_BATCHED ? INMEM_DURABILITY_BATCHED
                                      : INMEM_DURABILITY_STRICT;
    idb *x = calloc(1, sizeof *x);
    if (!x)
        cmp_die("inmem: out of memory");
    check(inmem_db_open(d == CMP_NONE ? NULL : dir, &o, &x->db), "inmem_db_open");
    return x;
}

static void iv_close(void *db)
{
    idb *x = db;
    check(inmem_db_close(x->db), "inmem_db_close");
    free(x);
}

static void *iv_handle_open(void *db)
{
    ih *h = calloc(1, sizeof *h);
    if (!h)
        cmp_die("inmem: out of memory");
    h->db = ((idb *)db)->db;
    return h;
}

static void iv_handle_close(void *hp)
{
    ih *h = hp;
    if (h->txn)
        cmp_die("inmem: handle closed with a transaction open");
    free(h);
}

static void iv_begin(void *hp, int writer)
{
    ih *h = hp;
    if (h->txn)
        cmp_die("inmem: begin with a transaction open");
    /* a reader that will not write takes a read-only transaction, as LMDB's MDB_RDONLY */
    if (writer)
        check(inmem_txn_begin(h->db, &h->txn), "inmem_txn_begin");
    else
        check(inmem_txn_begin_readonly(h->db, &h->txn), "inmem_txn_begin_readonly");
}

static int iv_get(void *hp, const void *key, size_t klen, void *val, size_t cap, size_t *vlen)
{
    ih *h = hp;
    const void *v;
    size_t n;
    int rc = inmem_kv_get(h->txn, NULL, key, klen, &v, &n, NULL);
    if (rc == INMEM_NOTFOUND)
        return CMP_NOTFOUND;
    check(rc, "inmem_kv_get");
    memcpy(val, v, n < cap ? n : cap);
    *vlen = n;
    return CMP_OK;
}

static int iv_put(void *hp, const void *key, size_t klen, const void *val, size_t vlen)
{
    ih *h = hp;
    check(inmem_kv_put(h->txn, NULL, key, klen, val, vlen), "inmem_kv_put");
    return CMP_OK;
}

static int iv_commit(void *hp)
{
    ih *h = hp;
    int rc = inmem_txn_commit(h->txn);
    inmem_txn_free(h->txn);
    h->txn = NULL;
    if (rc == INMEM_CONFLICT)
        return CMP_CONFLICT;
    check(rc, "inmem_txn_commit");
    return CMP_OK;
}

static void iv_abort(void *hp)
{
    ih *h = hp;
    check(inmem_txn_abort(h->txn), "inmem_txn_abort");
    inmem_txn_free(h->txn);
    h->txn = NULL;
}

static uint64_t iv_replayed(void *db)
{
    inmem_recovery_info ri;
    check(inmem_db_recovery(((idb *)db)->db, &ri), "inmem_db_recovery");
    return ri.bytes;
}

const cmp_driver cmp_inmem_driver = {
    .name = "inmem",
    .packages = "",
    .version = iv_version,
    .mapping = iv_mapping,
    .open = iv_open,
    .close = iv_close,
    .handle_open = iv_handle_open,
    .handle_close = iv_handle_close,
    .begin = iv_begin,
    .get = iv_get,
    .put = iv_put,
    .commit = iv_commit,
    .abort = iv_abort,
    .kill_server = NULL,
    .replayed_bytes = iv_replayed,
};
