/*
 * drv_wiredtiger.c — the comparison driver for WiredTiger (wiredtiger.h, Debian
 * libwiredtiger-dev 3.2.1).
 *
 * One WT_SESSION and one cursor on "table:kv" (key_format=u, value_format=u: raw bytes) per
 * handle; sessions are opened with isolation=snapshot and every transaction is begun with
 * begin_transaction(NULL), i.e. at snapshot isolation (the session default is parsed once, not
 * per begin). WiredTiger detects write-write conflicts eagerly: an insert of a key that another
 * transaction updated (uncommitted, or committed after our snapshot) returns WT_ROLLBACK, which
 * the driver reports as CMP_CONFLICT from put (the harness then aborts); commit may also return
 * WT_ROLLBACK. Values are copied out of the cursor.
 *
 * Durability: none = log=(enabled=false) (data reaches disk only at checkpoints, here only
 * the one at close); batched = log=(enabled=true), transaction_sync=(enabled=true,method=none)
 * (WiredTiger's write-no-sync: the commit's log record is written to the file system before
 * commit returns, not flushed, so a killed process loses nothing, like inmem's batched) plus a
 * background session->log_flush("sync=on") every 100 ms. (transaction_sync=(enabled=false)
 * would leave records in WiredTiger's in-memory log buffer: a killed writer loses its last
 * commits, which inmem batched does not.) strict =
 * log=(enabled=true), transaction_sync=(enabled=true,method=fsync). cache_size=1G,
 * session_max=100; no periodic checkpoints (the default).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wiredtiger.h>

#include "compare.h"

typedef struct wdb {
    WT_CONNECTION *conn;
    WT_SESSION *sync_session; /* used by the syncer thread only */
    cmp_syncer *syncer;
} wdb;

typedef struct wh {
    wdb *db;
    WT_SESSION *s;
    WT_CURSOR *c;
    int active, writer;
} wh;

static void check(int rc, const char *what)
{
    if (rc)
        cmp_die("wiredtiger: %s: %s", what, wiredtiger_strerror(rc));
}

static const char *wv_version(void)
{
    return wiredtiger_version(NULL, NULL, NULL);
}

static const char *wv_mapping(cmp_durability d)
{
    switch (d) {
    case CMP_NONE:
        return "log=(enabled=false) (no log; checkpoint only at close)";
    case CMP_BATCHED:
        return "log=(enabled=true), transaction_sync=(enabled=true,method=none) (write, no "
               "sync) + background log_flush(sync=on) every 100 ms";
    default:
        return "log=(enabled=true), transaction_sync=(enabled=true,method=fsync)";
    }
}

static void wv_sync(void *arg)
{
    wdb *x = arg;
    check(x->sync_session->log_flush(x->sync_session, "sync=on"), "log_flush");
}

static void *wv_open(const char *dir, cmp_durability d)
{
    wdb *x = calloc(1, sizeof *x);
    if (!x)
        cmp_die("wiredtiger: out of memory");
    static const char *cfg[] = {
        "create,cache_size=1G,session_max=100,log=(enabled=false)",
        "create,cache_size=1G,session_max=100,log=(enabled=true),"
        "transaction_sync=(enabled=true,method=none)",
        "create,cache_size=1G,session_max=100,log=(enabled=true),"
        "transaction_sync=(enabled=true,method=fsync)",
    };
    check(wiredtiger_open(dir, NULL, cfg[d], &x->conn), "wiredtiger_open");
    WT_SESSION *s;
    check(x->conn->open_session(x->conn, NULL, NULL, &s), "open_session");
    check(s->create(s, "table:kv", "key_format=u,value_format=u"), "create table:kv");
    check(s->close(s, NULL), "session close");
    if (d == CMP_BATCHED) {
        check(x->conn->open_session(x->conn, NULL, NULL, &x->sync_session), "open_session");
        x->syncer = cmp_syncer_start(wv_sync, x, CMP_SYNC_INTERVAL_MS);
    }
    return x;
}

static void wv_close(void *db)
{
    wdb *x = db;
    cmp_syncer_stop(x->syncer);
    check(x->conn->close(x->conn, NULL), "connection close");
    free(x);
}

static void *wv_handle_open(void *db)
{
    wh *h = calloc(1, sizeof *h);
    if (!h)
        cmp_die("wiredtiger: out of memory");
    h->db = db;
    check(h->db->conn->open_session(h->db->conn, NULL, "isolation=snapshot", &h->s),
          "open_session");
    check(h->s->open_cursor(h->s, "table:kv", NULL, NULL, &h->c), "open_cursor");
    return h;
}

static void wv_handle_close(void *hp)
{
    wh *h = hp;
    if (h->active)
        cmp_die("wiredtiger: handle closed with a transaction open");
    check(h->s->close(h->s, NULL), "session close");
    free(h);
}

static void wv_begin(void *hp, int writer)
{
    wh *h = hp;
    if (h->active)
        cmp_die("wiredtiger: begin with a transaction open");
    check(h->s->begin_transaction(h->s, NULL), "begin_transaction");
    h->active = 1;
    h->writer = writer;
}

static int wv_get(void *hp, const void *key, size_t klen, void *val, size_t cap, size_t *vlen)
{
    wh *h = hp;
    WT_ITEM k = {.data = key, .size = klen}, v;
    h->c->set_key(h->c, &k);
    int rc = h->c->search(h->c);
    if (rc == WT_NOTFOUND)
        return CMP_NOTFOUND;
    if (rc == WT_ROLLBACK)
        return CMP_CONFLICT;
    check(rc, "cursor search");
    check(h->c->get_value(h->c, &v), "cursor get_value");
    memcpy(val, v.data, v.size < cap ? v.size : cap);
    *vlen = v.size;
    return CMP_OK;
}

static int wv_put(void *hp, const void *key, size_t klen, const void *val, size_t vlen)
{
    wh *h = hp;
    if (!h->writer)
        cmp_die("wiredtiger: put in a read-only transaction");
    WT_ITEM k = {.data = key, .size = klen}, v = {.data = val, .size = vlen};
    h->c->set_key(h->c, &k);
    h->c->set_value(h->c, &v);
    int rc = h->c->insert(h->c);
    if (rc == WT_ROLLBACK)
        return CMP_CONFLICT;
    check(rc, "cursor insert");
    return CMP_OK;
}

static int wv_commit(void *hp)
{
    wh *h = hp;
    int rc = h->s->commit_transaction(h->s, NULL);
    h->active = 0;
    if (rc == WT_ROLLBACK)
        return CMP_CONFLICT; /* rolled back by commit_transaction */
    check(rc, "commit_transaction");
    return CMP_OK;
}

static void wv_abort(void *hp)
{
    wh *h = hp;
    check(h->s->rollback_transaction(h->s, NULL), "rollback_transaction");
    h->active = 0;
}

const cmp_driver cmp_wiredtiger_driver = {
    .name = "wiredtiger",
    .packages = "libwiredtiger-dev",
    .version = wv_version,
    .mapping = wv_mapping,
    .open = wv_open,
    .close = wv_close,
    .handle_open = wv_handle_open,
    .handle_close = wv_handle_close,
    .begin = wv_begin,
    .get = wv_get,
    .put = wv_put,
    .commit = wv_commit,
    .abort = wv_abort,
    .kill_server = NULL,
    .replayed_bytes = NULL,
};
