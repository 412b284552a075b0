/*
 * drv_sqlite.c — the comparison driver for SQLite (sqlite3.h, Debian libsqlite3-dev).
 *
 * One connection per handle (per thread, SQLITE_OPEN_NOMUTEX), journal_mode = WAL, a table
 * kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID, prepared statements reused for every
 * transaction. Writers begin with BEGIN IMMEDIATE (they take the single write lock at begin,
 * so they wait for each other rather than conflict); readers with a plain deferred BEGIN (a WAL
 * snapshot from their first read to COMMIT). Puts are upserts (INSERT .. ON CONFLICT DO
 * UPDATE). A waiting writer spins in a busy handler (sched_yield, then 50 us sleeps, up to
 * 10 s, instead of the millisecond sleeps of sqlite3_busy_timeout); SQLITE_BUSY after that is
 * fatal at BEGIN, a conflict elsewhere.
 *
 * Durability: none = PRAGMA synchronous = OFF; batched = synchronous = NORMAL (the WAL is
 * written at each commit and synced only at checkpoints; SQLite has no timed sync); strict =
 * synchronous = FULL (the WAL is synced at every commit; no group commit). Each connection has
 * a 128 MiB page cache; the automatic checkpoint stays at its default (1000 pages).
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "compare.h"

typedef struct sdb {
    char path[4096];
    cmp_durability d;
    sqlite3 *keep; /* held open for the database's lifetime: the WAL stays until close */
} sdb;

typedef struct sh {
    sdb *db;
    sqlite3 *c;
    sqlite3_stmt *begin_r, *begin_w, *commit, *rollback, *get, *put;
    uint64_t busy_start;
    int writer, active;
} sh;

static void check(sqlite3 *c, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        cmp_die("sqlite: %s: %s (%s)", what, sqlite3_errstr(rc), c ? sqlite3_errmsg(c) : "");
}

static const char *sv_version(void)
{
    return sqlite3_libversion();
}

static const char *sv_mapping(cmp_durability d)
{
    switch (d) {
    case CMP_NONE:
        return "WAL mode, PRAGMA synchronous=OFF (never fsync)";
    case CMP_BATCHED:
        return "WAL mode, PRAGMA synchronous=NORMAL (WAL fsync only at checkpoints)";
    default:
        return "WAL mode, PRAGMA synchronous=FULL (WAL fsync per commit, no group commit)";
    }
}

static int busy_cb(void *arg, int n)
{
    sh *h = arg;
    uint64_t now = cmp_now_ns();
    if (n == 0)
        h->busy_start = now;
    if (now - h->busy_start > 10000000000ull)
        return 0;
    if (n < 16)
        sched_yield();
    else
        usleep(50);
    return 1;
}

static void exec(sqlite3 *c, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(c, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        cmp_die("sqlite: %s: %s", sql, msg);
    }
}

static sqlite3 *connect(sdb *x)
{
    sqlite3 *c = NULL;
    int rc = sqlite3_open_v2(
        x->path, &c, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        cmp_die("sqlite: open %s: %s", x->path, c ? sqlite3_errmsg(c) : sqlite3_errstr(rc));
    static const char *sync[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL",
                                 "PRAGMA synchronous=FULL"};
    exec(c, sync[x->d]);
    exec(c, "PRAGMA cache_size=-131072");
    return c;
}

static void *sv_open(const char *dir, cmp_durability d)
{
    sdb *x = calloc(1, sizeof *x);
    if (!x)
        cmp_die("sqlite: out of memory");
    snprintf(x->path, sizeof x->path, "%s/kv.sqlite", dir);
    x->d = d;
    x->keep = connect(x);
    sqlite3_busy_timeout(x->keep, 10000);
    exec(x->keep, "PRAGMA journal_mode=WAL");
    exec(x->keep, "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID");
    return x;
}

static void sv_close(void *db)
{
    sdb *x = db;
    int rc = sqlite3_close(x->keep); /* the last connection: checkpoints and removes the WAL */
    check(NULL, rc, "sqlite3_close");
    free(x);
}

static sqlite3_stmt *prep(sqlite3 *c, const char *sql)
{
    sqlite3_stmt *s = NULL;
    check(c, sqlite3_prepare_v2(c, sql, -1, &s, NULL), sql);
    return s;
}

static void *sv_handle_open(void *db)
{
    sh *h = calloc(1, sizeof *h);
    if (!h)
        cmp_die("sqlite: out of memory");
    h->db = db;
    h->c = connect(h->db);
    sqlite3_busy_handler(h->c, busy_cb, h);
    h->begin_r = prep(h->c, "BEGIN");
    h->begin_w = prep(h->c, "BEGIN IMMEDIATE");
    h->commit = prep(h->c, "COMMIT");
    h->rollback = prep(h->c, "ROLLBACK");
    h->get = prep(h->c, "SELECT v FROM kv WHERE k = ?1");
    h->put = prep(h->c, "INSERT INTO kv(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET "
                        "v = excluded.v");
    return h;
}

static void sv_handle_close(void *hp)
{
    sh *h = hp;
    if (h->active)
        cmp_die("sqlite: handle closed with a transaction open");
    sqlite3_stmt *all[] = {h->begin_r, h->begin_w, h->commit, h->rollback, h->get, h->put};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        sqlite3_finalize(all[i]);
    check(h->c, sqlite3_close(h->c), "sqlite3_close");
    free(h);
}

/* Runs a statement without results; returns its step code after reset. */
static int run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc;
}

static void sv_begin(void *hp, int writer)
{
    sh *h = hp;
    if (h->active)
        cmp_die("sqlite: begin with a transaction open");
    int rc = run(writer ? h->begin_w : h->begin_r);
    check(h->c, rc, writer ? "BEGIN IMMEDIATE" : "BEGIN");
    h->writer = writer;
    h->active = 1;
}

static int sv_get(void *hp, const void *key, size_t klen, void *val, size_t cap, size_t *vlen)
{
    sh *h = hp;
    check(h->c, sqlite3_bind_blob(h->get, 1, key, (int)klen, SQLITE_STATIC), "bind");
    int rc = sqlite3_step(h->get);
    int out = CMP_NOTFOUND;
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(h->get, 0);
        const void *v = sqlite3_column_blob(h->get, 0);
        if (n && !v)
            cmp_die("sqlite: column_blob: %s", sqlite3_errmsg(h->c));
        if (n)
            memcpy(val, v, n < cap ? n : cap);
        *vlen = n;
        out = CMP_OK;
    } else if ((rc & 0xff) == SQLITE_BUSY) {
        out = CMP_CONFLICT;
    } else {
        check(h->c, rc, "SELECT");
    }
    sqlite3_reset(h->get);
    return out;
}

static int sv_put(void *hp, const void *key, size_t klen, const void *val, size_t vlen)
{
    sh *h = hp;
    if (!h->writer)
        cmp_die("sqlite: put in a read-only transaction");
    check(h->c, sqlite3_bind_blob(h->put, 1, key, (int)klen, SQLITE_STATIC), "bind");
    check(h->c, sqlite3_bind_blob(h->put, 2, val, (int)vlen, SQLITE_STATIC), "bind");
    int rc = run(h->put);
    if ((rc & 0xff) == SQLITE_BUSY)
        return CMP_CONFLICT;
    check(h->c, rc, "INSERT");
    return CMP_OK;
}

static int sv_commit(void *hp)
{
    sh *h = hp;
    int rc = run(h->commit);
    if ((rc & 0xff) == SQLITE_BUSY) {
        check(h->c, run(h->rollback), "ROLLBACK");
        h->active = 0;
        return CMP_CONFLICT;
    }
    check(h->c, rc, "COMMIT");
    h->active = 0;
    return CMP_OK;
}

static void sv_abort(void *hp)
{
    sh *h = hp;
    check(h->c, run(h->rollback), "ROLLBACK");
    h->active = 0;
}

const cmp_driver cmp_sqlite_driver = {
    .name = "sqlite",
    .packages = "libsqlite3-dev",
    .version = sv_version,
    .mapping = sv_mapping,
    .open = sv_open,
    .close = sv_close,
    .handle_open = sv_handle_open,
    .handle_close = sv_handle_close,
    .begin = sv_begin,
    .get = sv_get,
    .put = sv_put,
    .commit = sv_commit,
    .abort = sv_abort,
    .kill_server = NULL,
    .replayed_bytes = NULL,
};
