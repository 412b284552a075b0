/*
 * drv_redis.c — the comparison driver for Redis (a redis-server process, Debian redis-server,
 * spoken to through hiredis, Debian libhiredis-dev).
 *
 * open() starts `redis-server` on a unix socket inside the database directory (port 0: no TCP),
 * with the directory as its working directory, waits until it answers, and remembers its pid;
 * close() stops it by that pid (SIGTERM: Redis's clean shutdown, which syncs the AOF) and
 * waits for it. The harness kills remembered servers if it dies. One connection per handle.
 *
 * Transactions are optimistic, WATCH/MULTI/EXEC:
 *   get     pipelines WATCH k + GET k (one round trip): the key is read and watched;
 *   put     buffers the write locally;
 *   commit  with writes: MULTI, SET..., EXEC in one round trip; EXEC answers nil when a watched
 *           key changed since it was watched -> CMP_CONFLICT. Read-only with 2+ gets: MULTI +
 *           EXEC (empty) to check that no key read changed in between, i.e. that the reads form
 *           a snapshot (nil -> conflict); with one get nothing needs checking.
 *   abort   drops the buffered writes.
 * A WATCH left armed by a read-only or aborted transaction is cleared lazily by an UNWATCH
 * prepended to the next transaction's first pipeline (no extra round trip).
 * A get that meets -LOADING (the server still loading its AOF after a restart) retries every
 * 0.1 ms: the recovery workload times until the first read succeeds.
 *
 * Durability: none = appendonly no, save "" (no persistence at all); batched = appendonly yes,
 * appendfsync everysec (the AOF is written before replies, fsynced every second); strict =
 * appendonly yes, appendfsync always (fsync before replying, shared by the commands of one event
 * loop round). AOF rewrites and other settings are Redis's defaults.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "compare.h"

typedef struct xdb {
    char dir[4096];
    char sock[4200];
    pid_t pid;
    cmp_durability d;
} xdb;

typedef struct xh {
    xdb *db;
    redisContext *c;
    int active, writer, gets, writes;
    int stale_watch; /* a WATCH of an earlier transaction may still be armed */
    char *buf;       /* buffered writes: [u32 klen][u32 vlen][key][value]... */
    size_t len, cap;
} xh;

static const char *xv_version(void)
{
    static char v[128];
    if (v[0])
        return v;
    FILE *p = popen("redis-server --version 2>/dev/null", "r");
    char line[512] = "";
    if (!p || !fgets(line, sizeof line, p))
        cmp_die("redis: cannot run redis-server --version");
    pclose(p);
    const char *s = strstr(line, "v=");
    snprintf(v, sizeof v, "redis-server %.*s, hiredis %d.%d.%d", s ? (int)strcspn(s + 2, " ") : 0,
             s ? s + 2 : "", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    return v;
}

static const char *xv_mapping(cmp_durability d)
{
    switch (d) {
    case CMP_NONE:
        return "appendonly no, save \"\" (no persistence)";
    case CMP_BATCHED:
        return "appendonly yes, appendfsync everysec (AOF written per command, fsync every 1 s)";
    default:
        return "appendonly yes, appendfsync always (fsync per event-loop round: group commit)";
    }
}

static void log_tail(const xdb *x)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "tail -n 20 '%s/redis.log' >&2", x->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "(no redis log)\n");
}

static redisReply *reply(xh *h, const char *what)
{
    void *r = NULL;
    if (redisGetReply(h->c, &r) != REDIS_OK || !r)
        cmp_die("redis: %s: %s", what, h->c->errstr);
    return r;
}

/* Reads one reply that must be a status (+OK, +QUEUED). */
static void expect_status(xh *h, const char *what)
{
    redisReply *r = reply(h, what);
    if (r->type != REDIS_REPLY_STATUS)
        cmp_die("redis: %s: unexpected reply type %d %.*s", what, r->type,
                r->type == REDIS_REPLY_ERROR ? (int)r->len : 0, r->str ? r->str : "");
    freeReplyObject(r);
}

static void append(xh *h, const char *what, int rc)
{
    if (rc != REDIS_OK)
        cmp_die("redis: %s: %s", what, h->c->errstr);
}

static void *xv_open(const char *dir, cmp_durability d)
{
    xdb *x = calloc(1, sizeof *x);
    if (!x)
        cmp_die("redis: out of memory");
    x->d = d;
    snprintf(x->dir, sizeof x->dir, "%s", dir);
    snprintf(x->sock, sizeof x->sock, "%s/redis.sock", dir);
    if (strlen(x->sock) >= 100)
        cmp_die("redis: socket path too long: %s", x->sock);
    char logf[4200];
    snprintf(logf, sizeof logf, "%s/redis.log", dir);
    const char *aof = d == CMP_NONE ? "no" : "yes";
    const char *fsync = d == CMP_STRICT ? "always" : "everysec";
    pid_t pid = fork();
    if (pid < 0)
        cmp_die("redis: fork: %s", strerror(errno));
    if (pid == 0) {
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", x->sock,
               "--unixsocketperm", "700", "--dir", dir, "--save", "", "--appendonly", aof,
               "--appendfsync", fsync, "--logfile", logf, "--loglevel", "warning", "--daemonize",
               "no", "--databases", "1", (char *)NULL);
        fprintf(stderr, "inmem_compare: exec redis-server: %s\n", strerror(errno));
        _exit(127);
    }
    x->pid = pid;
    cmp_track_pid(pid, 1);
    uint64_t t0 = cmp_now_ns();
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            cmp_track_pid(pid, 0);
            log_tail(x);
            cmp_die("redis: redis-server exited at start (status %d)", st);
        }
        redisContext *c = redisConnectUnix(x->sock);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r != NULL; /* PONG, or -LOADING while the AOF loads: it is up */
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                break;
        } else if (c) {
            redisFree(c);
        }
        if (cmp_now_ns() - t0 > 60000000000ull) {
            log_tail(x);
            cmp_die("redis: redis-server did not answer on %s within 60 s", x->sock);
        }
        usleep(200);
    }
    return x;
}

static void stop(xdb *x, int sig)
{
    if (kill(x->pid, sig))
        cmp_die("redis: kill %d: %s", (int)x->pid, strerror(errno));
    int st;
    if (waitpid(x->pid, &st, 0) != x->pid)
        cmp_die("redis: waitpid %d: %s", (int)x->pid, strerror(errno));
    cmp_track_pid(x->pid, 0);
    if (sig == SIGTERM && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        log_tail(x);
        cmp_die("redis: redis-server did not shut down cleanly (status %d)", st);
    }
}

static void xv_close(void *db)
{
    xdb *x = db;
    stop(x, SIGTERM);
    free(x);
}

static void xv_kill(void *db)
{
    xdb *x = db;
    stop(x, SIGKILL);
    free(x);
}

static void *xv_handle_open(void *db)
{
    xh *h = calloc(1, sizeof *h);
    if (!h)
        cmp_die("redis: out of memory");
    h->db = db;
    h->c = redisConnectUnix(h->db->sock);
    if (!h->c || h->c->err)
        cmp_die("redis: connect %s: %s", h->db->sock, h->c ? h->c->errstr : "out of memory");
    return h;
}

static void xv_handle_close(void *hp)
{
    xh *h = hp;
    if (h->active)
        cmp_die("redis: handle closed with a transaction open");
    redisFree(h->c);
    free(h->buf);
    free(h);
}

static void xv_begin(void *hp, int writer)
{
    xh *h = hp;
    if (h->active)
        cmp_die("redis: begin with a transaction open");
    h->active = 1;
    h->writer = writer;
    h->gets = h->writes = 0;
    h->len = 0;
}

/* Prepends UNWATCH to the pipeline being built if an old WATCH may be armed. */
static int unwatch_first(xh *h)
{
    if (!h->stale_watch)
        return 0;
    append(h, "UNWATCH", redisAppendCommand(h->c, "UNWATCH"));
    h->stale_watch = 0;
    return 1;
}

static int xv_get(void *hp, const void *key, size_t klen, void *val, size_t cap, size_t *vlen)
{
    xh *h = hp;
    for (;;) {
        int unw = unwatch_first(h);
        append(h, "WATCH", redisAppendCommand(h->c, "WATCH %b", key, klen));
        append(h, "GET", redisAppendCommand(h->c, "GET %b", key, klen));
        if (unw)
            expect_status(h, "UNWATCH");
        redisReply *w = reply(h, "WATCH");
        redisReply *r = reply(h, "GET");
        int loading = (w->type == REDIS_REPLY_ERROR && !strncmp(w->str, "LOADING", 7)) ||
                      (r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "LOADING", 7));
        if (loading) {
            freeReplyObject(w);
            freeReplyObject(r);
            usleep(100);
            continue;
        }
        if (w->type != REDIS_REPLY_STATUS)
            cmp_die("redis: WATCH: reply type %d %s", w->type, w->str ? w->str : "");
        freeReplyObject(w);
        h->gets++;
        int out;
        if (r->type == REDIS_REPLY_NIL) {
            out = CMP_NOTFOUND;
        } else if (r->type == REDIS_REPLY_STRING) {
            memcpy(val, r->str, r->len < cap ? r->len : cap);
            *vlen = r->len;
            out = CMP_OK;
        } else {
            cmp_die("redis: GET: reply type %d %s", r->type, r->str ? r->str : "");
        }
        freeReplyObject(r);
        return out;
    }
}

static int xv_put(void *hp, const void *key, size_t klen, const void *val, size_t vlen)
{
    xh *h = hp;
    if (!h->writer)
        cmp_die("redis: put in a read-only transaction");
    size_t need = h->len + 8 + klen + vlen;
    if (need > h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 4096;
        while (cap < need)
            cap *= 2;
        char *b = realloc(h->buf, cap);
        if (!b)
            cmp_die("redis: out of memory");
        h->buf = b;
        h->cap = cap;
    }
    uint32_t kl = (uint32_t)klen, vl = (uint32_t)vlen;
    memcpy(h->buf + h->len, &kl, 4);
    memcpy(h->buf + h->len + 4, &vl, 4);
    memcpy(h->buf + h->len + 8, key, klen);
    memcpy(h->buf + h->len + 8 + klen, val, vlen);
    h->len = need;
    h->writes++;
    return CMP_OK;
}

static int xv_commit(void *hp)
{
    xh *h = hp;
    h->active = 0;
    if (!h->writes && h->gets < 2) {
        if (h->gets)
            h->stale_watch = 1; /* one read is a snapshot by itself */
        return CMP_OK;
    }
    int unw = unwatch_first(h);
    append(h, "MULTI", redisAppendCommand(h->c, "MULTI"));
    for (size_t off = 0; off < h->len;) {
        uint32_t kl, vl;
        memcpy(&kl, h->buf + off, 4);
        memcpy(&vl, h->buf + off + 4, 4);
        const char *k = h->buf + off + 8;
        append(h, "SET", redisAppendCommand(h->c, "SET %b %b", k, (size_t)kl, k + kl, (size_t)vl));
        off += 8 + kl + vl;
    }
    append(h, "EXEC", redisAppendCommand(h->c, "EXEC"));
    if (unw)
        expect_status(h, "UNWATCH");
    expect_status(h, "MULTI");
    for (int i = 0; i < h->writes; i++)
        expect_status(h, "SET (queued)");
    redisReply *r = reply(h, "EXEC");
    int out;
    if (r->type == REDIS_REPLY_NIL) {
        out = CMP_CONFLICT;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == (size_t)h->writes) {
        for (size_t i = 0; i < r->elements; i++)
            if (r->element[i]->type != REDIS_REPLY_STATUS)
                cmp_die("redis: EXEC: SET %zu failed: %s", i,
                        r->element[i]->str ? r->element[i]->str : "");
        out = CMP_OK;
    } else {
        cmp_die("redis: EXEC: reply type %d %s", r->type, r->str ? r->str : "");
    }
    freeReplyObject(r);
    return out;
}

static void xv_abort(void *hp)
{
    xh *h = hp;
    h->active = 0;
    h->len = 0;
    if (h->gets)
        h->stale_watch = 1;
}

const cmp_driver cmp_redis_driver = {
    .name = "redis",
    .packages = "redis-server libhiredis-dev",
    .version = xv_version,
    .mapping = xv_mapping,
    .open = xv_open,
    .close = xv_close,
    .handle_open = xv_handle_open,
    .handle_close = xv_handle_close,
    .begin = xv_begin,
    .get = xv_get,
    .put = xv_put,
    .commit = xv_commit,
    .abort = xv_abort,
    .kill_server = xv_kill,
    .replayed_bytes = NULL,
};
