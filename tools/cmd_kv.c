/*
 * cmd_kv.c — the key-value commands (get, put with TTL, del, cas, list), the explicit
 * transaction (begin, commit, abort) and `use`.
 *
 * Outside a transaction each command is its own transaction: the implicit operations
 * (inmem_get/put/delete/cas, inmem_put_ttl), or a short read transaction for a listing. After
 * `begin`, the same commands run in the open transaction through the in-transaction forms
 * (inmem_kv_*): writes are pending until `commit`, reads see them, and a CAS is checked at commit.
 * `begin --as-of AT` begins a read-only transaction on the past instead (inmem_txn_begin_at).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int cli_read_txn(cli *c, inmem_txn **txn, int *temp)
{
    if (c->txn) {
        *txn = c->txn;
        *temp = 0;
        return 0;
    }
    *temp = 1;
    int rc = inmem_txn_begin(c->db, txn);
    return rc ? cli_lib_error(c, rc, "begin a read transaction") : 0;
}

void cli_read_done(inmem_txn *txn, int temp)
{
    if (!temp)
        return;
    inmem_txn_commit(txn); /* read-only: always commits (counted as such, not as an abort) */
    inmem_txn_free(txn);
}

/* The result of a write: committed with a version, or pending in the explicit transaction. */
int cli_print_written(cli *c, uint64_t version)
{
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        if (c->txn)
            json_object_set_new(o, "pending", json_true());
        else
            json_object_set_new(o, "version", json_u64(version));
        out_json(o);
    } else if (c->txn) {
        printf("OK (pending)\n");
    } else {
        printf("OK (version %llu)\n", (unsigned long long)version);
    }
    return CMD_OK;
}

static void print_entry(cli *c, const inmem_run_id *run, const char *field, const void *key,
                        size_t klen, const void *val, size_t vlen, uint64_t version, int with_key)
{
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_run(run));
        out_set_bytes(o, field, key, klen);
        out_set_bytes(o, "value", val, vlen);
        json_object_set_new(o, "version", json_u64(version));
        if (!version)
            json_object_set_new(o, "pending", json_true());
        out_json(o);
        return;
    }
    if (with_key) {
        out_bytes(stdout, key, klen);
        fputs(" = ", stdout);
    }
    out_bytes(stdout, val, vlen);
    if (version)
        printf("  (version %llu)\n", (unsigned long long)version);
    else
        printf("  (pending)\n");
}

int cmd_get(cli *c, int argc, char **argv)
{
    const char *raw;
    const cli_opt opts[] = {{"raw", 0, &raw, NULL, NULL, 0}, {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[2];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (cli_args(c, "get", argc, argv, opts, 2, 2, pos, &np) || cli_run(c, pos[0], &rb, &run))
        return CMD_ERR;
    if (raw && c->json)
        return cli_error(c, "get: --raw and --json do not go together");
    const char *key = pos[1];
    const void *val;
    void *owned = NULL;
    size_t len;
    uint64_t ver;
    int rc;
    if (c->txn) {
        rc = inmem_kv_get(c->txn, run, key, strlen(key), &val, &len, &ver);
    } else {
        rc = inmem_get(c->db, run, key, strlen(key), &owned, &len, &ver);
        val = owned;
    }
    if (rc == INMEM_NOTFOUND)
        return cli_error(c, "not found: key %s in %s", clips(key), pos[0]);
    if (rc)
        return cli_lib_error(c, rc, "get %s", clips(key));
    if (raw || c->raw)
        out_raw(c, val, len);
    else
        print_entry(c, run, "key", key, strlen(key), val, len, ver, 0);
    inmem_free(owned);
    return CMD_OK;
}

/* Milliseconds as "1h 2m 3.456s". */
static const char *fmt_duration(uint64_t ms, char buf[48])
{
    uint64_t d = ms / 86400000u, h = ms / 3600000u % 24, m = ms / 60000u % 60;
    double s = (double)(ms % 60000u) / 1000.0;
    int n = 0;
    buf[0] = '\0';
    if (d)
        n += snprintf(buf + n, 48 - (size_t)n, "%llud ", (unsigned long long)d);
    if (d || h)
        n += snprintf(buf + n, 48 - (size_t)n, "%lluh ", (unsigned long long)h);
    if (d || h || m)
        n += snprintf(buf + n, 48 - (size_t)n, "%llum ", (unsigned long long)m);
    snprintf(buf + n, 48 - (size_t)n, "%.3fs", s);
    return buf;
}

int cmd_ttl(cli *c, int argc, char **argv)
{
    char *pos[2];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (cli_args(c, "ttl", argc, argv, NULL, 2, 2, pos, &np) || cli_run(c, pos[0], &rb, &run))
        return CMD_ERR;
    const char *key = pos[1];
    inmem_txn *txn;
    int temp;
    if (cli_read_txn(c, &txn, &temp))
        return CMD_ERR;
    uint64_t at = 0;
    int rc = inmem_kv_get_expiry(txn, run, key, strlen(key), &at);
    cli_read_done(txn, temp);
    if (rc == INMEM_NOTFOUND)
        return cli_error(c, "not found: key %s in %s", clips(key), pos[0]);
    if (rc)
        return cli_lib_error(c, rc, "ttl %s", clips(key));
    /* the time left counts from now, or with --as-of from that point (if its time is known) */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now =
        c->as_of ? c->as_of_ms : (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    uint64_t left = at > now ? at - now : 0;
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_run(run));
        out_set_bytes(o, "key", key, strlen(key));
        json_object_set_new(o, "expire_at_ms", at ? json_u64(at) : json_null());
        json_object_set_new(o, "ttl_ms", at && now ? json_u64(left) : json_null());
        out_json(o);
    } else if (!at) {
        printf("no TTL (never expires)\n");
    } else if (!now) {
        char t[32];
        printf("expires %s\n", fmt_time(at, t));
    } else {
        char t[32], d[48];
        printf("expires %s (in %s%s)\n", fmt_time(at, t), fmt_duration(left, d),
               c->as_of ? " from then" : "");
    }
    return CMD_OK;
}

int cmd_put(cli *c, int argc, char **argv)
{
    const char *ttl_s;
    const cli_opt opts[] = {{"ttl", 1, &ttl_s, NULL, NULL, 0}, {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[3];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t ttl = 0, ver = 0;
    if (cli_args(c, "put", argc, argv, opts, 3, 3, pos, &np) || cli_run(c, pos[0], &rb, &run))
        return CMD_ERR;
    if (ttl_s && cli_duration(c, "--ttl", ttl_s, &ttl))
        return CMD_ERR;
    const char *key = pos[1], *val = pos[2];
    int rc;
    if (c->txn)
        rc = inmem_kv_put_ttl(c->txn, run, key, strlen(key), val, strlen(val), ttl);
    else
        rc = inmem_put_ttl(c->db, run, key, strlen(key), val, strlen(val), ttl, &ver);
    if (rc)
        return cli_lib_error(c, rc, "put %s", clips(key));
    return cli_print_written(c, ver);
}

int cmd_del(cli *c, int argc, char **argv)
{
    char *pos[2];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t ver = 0;
    if (cli_args(c, "del", argc, argv, NULL, 2, 2, pos, &np) || cli_run(c, pos[0], &rb, &run))
        return CMD_ERR;
    const char *key = pos[1];
    int rc = c->txn ? inmem_kv_delete(c->txn, run, key, strlen(key))
                    : inmem_delete(c->db, run, key, strlen(key), &ver);
    if (rc)
        return cli_lib_error(c, rc, "del %s", clips(key));
    return cli_print_written(c, ver);
}

int cmd_cas(cli *c, int argc, char **argv)
{
    char *pos[4];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t expected, ver = 0;
    if (cli_args(c, "cas", argc, argv, NULL, 4, 4, pos, &np) || cli_run(c, pos[0], &rb, &run) ||
        cli_u64(c, "VERSION", pos[2], &expected))
        return CMD_ERR;
    const char *key = pos[1], *val = pos[3];
    int rc;
    if (c->txn)
        rc = inmem_kv_cas(c->txn, run, key, strlen(key), expected, val, strlen(val));
    else
        rc = inmem_cas(c->db, run, key, strlen(key), expected, val, strlen(val), &ver);
    if (rc == INMEM_CONFLICT) {
        uint64_t cur = 0;
        size_t len;
        if (inmem_get(c->db, run, key, strlen(key), NULL, &len, &cur) != 0)
            cur = 0;
        if (cur)
            return cli_error(c, "conflict: key %s is at version %llu, not %llu", clips(key),
                             (unsigned long long)cur, (unsigned long long)expected);
        return cli_error(c, "conflict: key %s does not exist (expected version %llu)", clips(key),
                         (unsigned long long)expected);
    }
    if (rc)
        return cli_lib_error(c, rc, "cas %s", clips(key));
    return cli_print_written(c, ver);
}

int cmd_list(cli *c, int argc, char **argv)
{
    const char *after_s, *limit_s;
    const cli_opt opts[] = {{"after", 1, &after_s, NULL, NULL, 0},
                            {"limit", 1, &limit_s, NULL, NULL, 0},
                            {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[2];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t limit = UINT64_MAX;
    if (cli_args(c, "list", argc, argv, opts, 1, 2, pos, &np) || cli_run(c, pos[0], &rb, &run))
        return CMD_ERR;
    if (limit_s && cli_u64(c, "--limit", limit_s, &limit))
        return CMD_ERR;
    const char *prefix = np > 1 ? pos[1] : "";
    inmem_txn *txn;
    int temp;
    if (cli_read_txn(c, &txn, &temp))
        return CMD_ERR;
    inmem_kv_entry page[256];
    const void *after = after_s;
    size_t alen = after_s ? strlen(after_s) : 0, n;
    uint64_t count = 0;
    int rc = 0;
    do {
        size_t want = limit - count < 256 ? (size_t)(limit - count) : 256;
        if (want == 0)
            break;
        rc = inmem_kv_list(txn, run, prefix, strlen(prefix), after, alen, want, page, &n);
        if (rc)
            break;
        for (size_t i = 0; i < n; i++)
            print_entry(c, run, "key", page[i].key, page[i].klen, page[i].val, page[i].vlen,
                        page[i].version, 1);
        count += n;
        if (n) {
            after = page[n - 1].key; /* borrowed until the transaction ends */
            alen = page[n - 1].klen;
        }
        if (n < want)
            break;
    } while (1);
    if (rc) {
        cli_lib_error(c, rc, "list");
        cli_read_done(txn, temp);
        return CMD_ERR;
    }
    if (!c->json)
        printf("(%llu key%s)\n", (unsigned long long)count, count == 1 ? "" : "s");
    cli_read_done(txn, temp);
    return CMD_OK;
}

/* ---- the explicit transaction ------------------------------------------------------------ */

int cmd_begin(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    if (cli_args(c, "begin", argc, argv, NULL, 0, 0, pos, &np))
        return CMD_ERR;
    if (c->txn)
        return cli_error(c, "begin: a transaction is already open (commit or abort it)");
    int rc = inmem_txn_begin(c->db, &c->txn);
    if (rc) {
        c->txn = NULL;
        return cli_lib_error(c, rc, "begin");
    }
    inmem_txn_info ti;
    inmem_txn_describe(c->txn, &ti);
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "start_version", json_u64(ti.start_version));
        out_json(o);
    } else {
        printf("begun at version %llu\n", (unsigned long long)ti.start_version);
    }
    return CMD_OK;
}

int cmd_begin_at(cli *c, const char *at, int argc, char **argv)
{
    char *pos[1];
    int np;
    if (cli_args(c, "begin", argc, argv, NULL, 0, 0, pos, &np))
        return CMD_ERR;
    if (c->txn)
        return cli_error(c, "begin: a transaction is already open (commit or abort it)");
    inmem_txn *t;
    if (cli_begin_at(c, "begin", at, &t))
        return CMD_ERR;
    c->txn = t;
    c->as_of = 1;
    inmem_txn_info ti;
    inmem_txn_describe(t, &ti);
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "start_version", json_u64(ti.start_version));
        json_object_set_new(o, "as_of", json_true());
        out_json(o);
    } else {
        printf("begun as of version %llu (read-only)\n", (unsigned long long)ti.start_version);
    }
    return CMD_OK;
}

static int conflict_error(const inmem_txn_info *ti)
{
    char run[INMEM_RUN_ID_STRLEN + 1];
    const char *rule = ti->reason == INMEM_ABORT_CAS_CONFLICT ? "a CAS expected" : "it read";
    fflush(stdout);
    fprintf(stderr, "error: commit: conflict on key ");
    out_bytes(stderr, ti->conflict_key ? ti->conflict_key : "", ti->conflict_key_len);
    fprintf(stderr, " of %s: %s version %llu, found %llu; nothing was applied\n",
            fmt_run(&ti->conflict_run, run), rule, (unsigned long long)ti->conflict_expected,
            (unsigned long long)ti->conflict_found);
    return CMD_ERR;
}

int cmd_commit(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    if (cli_args(c, "commit", argc, argv, NULL, 0, 0, pos, &np))
        return CMD_ERR;
    if (!c->txn)
        return cli_error(c, "commit: no transaction open (see begin)");
    int rc = inmem_txn_commit(c->txn);
    inmem_txn_info ti;
    inmem_txn_describe(c->txn, &ti);
    int ret;
    if (rc == INMEM_CONFLICT)
        ret = conflict_error(&ti);
    else if (rc)
        ret = cli_lib_error(c, rc, "commit");
    else if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "version", json_u64(ti.commit_version));
        out_json(o);
        ret = CMD_OK;
    } else {
        if (ti.commit_version)
            printf("committed (version %llu)\n", (unsigned long long)ti.commit_version);
        else
            printf("committed (read-only)\n");
        ret = CMD_OK;
    }
    inmem_txn_free(c->txn);
    c->txn = NULL;
    c->as_of = 0;
    return ret;
}

int cmd_abort(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    if (cli_args(c, "abort", argc, argv, NULL, 0, 0, pos, &np))
        return CMD_ERR;
    if (!c->txn)
        return cli_error(c, "abort: no transaction open");
    inmem_txn_abort(c->txn);
    inmem_txn_free(c->txn);
    c->txn = NULL;
    c->as_of = 0;
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "aborted", json_true());
        out_json(o);
    } else {
        printf("aborted\n");
    }
    return CMD_OK;
}

int cmd_use(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (cli_args(c, "use", argc, argv, NULL, 1, 1, pos, &np) || cli_run(c, pos[0], &rb, &run))
        return CMD_ERR;
    memset(&c->current, 0, sizeof c->current);
    if (run)
        c->current = *run;
    c->has_current = 1;
    char buf[INMEM_RUN_ID_STRLEN + 1];
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "current", json_run(run));
        out_json(o);
    } else {
        printf("current run: %s\n", fmt_run(run, buf));
    }
    return CMD_OK;
}
