/*
 * cmd_history.c — the commands that read the database's past, and waiting for its future:
 * --as-of (every read command), history and state history, run replay, run diff, and wait,
 * state wait and event wait.
 *
 * The past is what the retained history holds (docs/history.md): the database keeps old versions
 * under its policy (set by an open with --history-ms or --history-versions, and stored in the
 * database) or for a run begun with its own. A read beyond it is the library's INMEM_EHISTORY,
 * printed as such, never a newer answer; when the database keeps no history, a hint says how to
 * keep it.
 *
 * --as-of AT is taken out of a read command's words by the dispatcher (commands.c), which runs
 * the command in a read-only transaction begun with inmem_txn_begin_at() (AT a version) or
 * inmem_txn_begin_at_time() (AT a time), as if it were the explicit transaction: every read
 * command already reads in c->txn when there is one. `begin --as-of AT` keeps such a transaction
 * open for several commands.
 *
 * wait uses inmem_wait(), which a commit of this process wakes (in a writable session that is
 * the TTL sweeper's deletes: this process holds the lock). Another process's commits reach a
 * read-only view only when it is opened again, so on the read-only view wait looks with
 * inmem_wait() (without blocking), then opens the view again at an interval (at least 100 ms,
 * and four times what the last open took, so that a large log is not replayed back to back) and
 * looks again, until the key moved or the time is up. The view is then the newer state.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define PAGE 128

static const inmem_run_id shared_id; /* the shared scope, for the calls that take no NULL run */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- reading the past -------------------------------------------------------------------- */

void cli_history_hint(cli *c)
{
    inmem_stats s;
    if (!c->db || inmem_db_stats(c->db, &s) != 0 || s.history_ms || s.history_versions > 1)
        return;
    fflush(stdout);
    fprintf(stderr, "hint: this database keeps no history: open it once with --history-ms or "
                    "--history-versions (the policy is stored in the database; a run begun "
                    "with its own keeps it)\n");
}

/* The newest commit, as this session sees it. */
static uint64_t newest_version(cli *c)
{
    inmem_stats st;
    return inmem_db_stats(c->db, &st) == 0 ? st.version : 0;
}

/* Begins a read-only transaction at version or time @p v (AT as typed: @p at), for the error
 * messages of @p cmdname's @p what. */
static int begin_point(cli *c, const char *cmdname, const char *what, const char *at, uint64_t v,
                       int is_time, inmem_txn **out)
{
    int rc = is_time ? inmem_txn_begin_at_time(c->db, v, out) : inmem_txn_begin_at(c->db, v, out);
    if (rc == 0)
        return 0;
    *out = NULL;
    uint64_t newest = newest_version(c);
    if (rc == INMEM_EINVAL && !is_time && v > newest)
        return cli_error(c, "%s: %s %s: version %llu is newer than the newest commit (%llu)",
                         cmdname, what, clips(at), (unsigned long long)v,
                         (unsigned long long)newest);
    return cli_lib_error(c, rc, "%s: %s %s", cmdname, what, clips(at));
}

int cli_begin_at(cli *c, const char *cmdname, const char *at, inmem_txn **out)
{
    uint64_t v;
    int is_time;
    *out = NULL;
    if (cli_at(c, "--as-of", at, &v, &is_time))
        return CMD_ERR;
    if (begin_point(c, cmdname, "--as-of", at, v, is_time, out))
        return CMD_ERR;
    /* the point's time (what `ttl` counts from): the one asked for, or the commit's if known */
    c->as_of_ms = 0;
    if (is_time)
        c->as_of_ms = v;
    else if (inmem_db_version_time(c->db, v, &c->as_of_ms) != 0)
        c->as_of_ms = 0;
    return CMD_OK;
}

int cli_at_version(cli *c, const char *cmdname, const char *what, const char *at, uint64_t *out)
{
    uint64_t v;
    int is_time;
    if (cli_at(c, what, at, &v, &is_time))
        return CMD_ERR;
    if (!is_time) {
        *out = v;
        return 0;
    }
    int rc = inmem_db_time_version(c->db, v, out);
    if (rc)
        return cli_lib_error(c, rc, "%s: %s %s", cmdname, what, clips(at));
    if (*out == 0)
        return cli_error(c, "%s: %s %s: no commit was made at or before that time", cmdname, what,
                         clips(at));
    return 0;
}

/* ---- history and state history ----------------------------------------------------------- */

static void print_version(cli *c, const inmem_run_id *run, const char *field, const void *key,
                          size_t klen, const inmem_version_info *h)
{
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_run(run));
        out_set_bytes(o, field, key, klen);
        json_object_set_new(o, "version", json_u64(h->version));
        json_object_set_new(o, "time_ms", h->time_ms ? json_u64(h->time_ms) : json_null());
        json_object_set_new(o, "deleted", json_boolean(h->deleted));
        if (!h->deleted)
            out_set_bytes(o, "value", h->value, h->len);
        if (h->expire_at_ms)
            json_object_set_new(o, "expire_at_ms", json_u64(h->expire_at_ms));
        if (h->older_freed)
            json_object_set_new(o, "older_freed", json_true());
        out_json(o);
        return;
    }
    char t[32];
    printf("version %llu  %s  ", (unsigned long long)h->version,
           h->time_ms ? fmt_time(h->time_ms, t) : "(time unknown)");
    if (h->deleted)
        fputs("<deleted>", stdout);
    else
        out_bytes(stdout, h->value, h->len);
    if (h->expire_at_ms)
        printf("  (expires %s)", fmt_time(h->expire_at_ms, t));
    putchar('\n');
}

static int list_history(cli *c, const char *cmdname, int cell, int argc, char **argv)
{
    const char *limit_s, *before_s;
    const cli_opt opts[] = {{"limit", 1, &limit_s, NULL, NULL, 0},
                            {"before", 1, &before_s, NULL, NULL, 0},
                            {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[2];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t limit = UINT64_MAX, before = 0;
    if (cli_args(c, cmdname, argc, argv, opts, 2, 2, pos, &np) || cli_run(c, pos[0], &rb, &run) ||
        (cell && cli_name(c, "NAME", pos[1])) ||
        (limit_s && cli_u64(c, "--limit", limit_s, &limit)) ||
        (before_s && cli_u64(c, "--before", before_s, &before)))
        return CMD_ERR;
    const char *key = pos[1];
    inmem_txn *txn;
    int temp;
    if (cli_read_txn(c, &txn, &temp))
        return CMD_ERR;
    inmem_version_info *h = malloc(PAGE * sizeof *h);
    uint64_t count = 0;
    int rc = h ? 0 : INMEM_ENOMEM, freed = 0, exists = 0;
    /* --limit 0 lists none (as list --limit 0 does); a key that never was stays an error */
    if (!rc && limit == 0) {
        size_t n = 0;
        rc = cell ? inmem_state_history(txn, run, key, before, 1, h, &n)
                  : inmem_kv_history(txn, run, key, strlen(key), before, 1, h, &n);
        exists = n > 0;
    }
    while (!rc && count < limit) {
        size_t want = limit - count < PAGE ? (size_t)(limit - count) : PAGE, n = 0;
        rc = cell ? inmem_state_history(txn, run, key, before, want, h, &n)
                  : inmem_kv_history(txn, run, key, strlen(key), before, want, h, &n);
        if (rc || n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            print_version(c, run, cell ? "name" : "key", key, strlen(key), &h[i]);
            freed |= h[i].older_freed;
        }
        count += n;
        before = h[n - 1].version;
        if (before <= 1)
            break; /* (no version below 1; and before 0 would start again at the newest) */
    }
    free(h);
    cli_read_done(txn, temp);
    if (rc)
        return cli_lib_error(c, rc, "%s %s", cmdname, clips(key));
    if (count == 0 && !exists && !before_s)
        return cli_error(c, "not found: %s %s in %s has no version%s", cell ? "state cell" : "key",
                         clips(key), pos[0], c->as_of ? " at that point" : "");
    if (!c->json)
        printf("(%llu version%s%s)\n", (unsigned long long)count, count == 1 ? "" : "s",
               freed ? "; older ones were freed" : "");
    return CMD_OK;
}

int cmd_history(cli *c, int argc, char **argv)
{
    return list_history(c, "history", 0, argc, argv);
}

int cmd_state_history(cli *c, int argc, char **argv)
{
    return list_history(c, "state history", 1, argc, argv);
}

/* ---- run replay -------------------------------------------------------------------------- */

static const char *prim_name(inmem_primitive p)
{
    switch (p) {
    case INMEM_PRIM_KV:
        return "kv";
    case INMEM_PRIM_EVENT:
        return "event";
    case INMEM_PRIM_STATE:
        return "state";
    case INMEM_PRIM_TRACE:
        return "trace";
    case INMEM_PRIM_RUN:
        return "run";
    }
    return "unknown";
}

/* A span id key (16 bytes) as text. */
static const char *span_key(const void *key, size_t klen, char buf[INMEM_RUN_ID_STRLEN + 1])
{
    inmem_run_id id;
    memset(&id, 0, sizeof id);
    memcpy(id.bytes, key, klen < sizeof id.bytes ? klen : sizeof id.bytes);
    inmem_run_id_format(&id, buf);
    return buf;
}

static json_t *json_change(const inmem_change *ch)
{
    char id[INMEM_RUN_ID_STRLEN + 1];
    json_t *o = json_object();
    json_object_set_new(o, "primitive", json_string(prim_name(ch->primitive)));
    switch (ch->primitive) {
    case INMEM_PRIM_KV:
        out_set_bytes(o, "key", ch->key, ch->klen);
        break;
    case INMEM_PRIM_STATE:
        out_set_bytes(o, "name", ch->key, ch->klen);
        break;
    case INMEM_PRIM_EVENT:
        out_set_bytes(o, "stream", ch->key, ch->klen);
        json_object_set_new(o, "seq", json_u64(ch->event.seq));
        break;
    case INMEM_PRIM_TRACE:
        json_object_set_new(o, "span", json_string(span_key(ch->key, ch->klen, id)));
        break;
    default:
        break;
    }
    json_object_set_new(o, "deleted", json_boolean(ch->deleted));
    if (ch->deleted)
        return o;
    switch (ch->primitive) {
    case INMEM_PRIM_KV:
        out_set_bytes(o, "value", ch->value, ch->len);
        if (ch->expire_at_ms)
            json_object_set_new(o, "expire_at_ms", json_u64(ch->expire_at_ms));
        break;
    case INMEM_PRIM_STATE:
        out_set_bytes(o, "value", ch->value, ch->len);
        break;
    case INMEM_PRIM_EVENT:
        json_object_set_new(o, "time_ms", json_u64(ch->event.time_ms));
        out_set_name(o, "type", ch->event.type);
        out_set_bytes(o, "payload", ch->value, ch->len);
        json_object_set_new(o, "prev_hash", json_hash(ch->event.prev_hash));
        json_object_set_new(o, "hash", json_hash(ch->event.hash));
        break;
    default: /* a span or the run's metadata: the record as docs/FORMAT.md lays it out */
        out_set_bytes(o, "record", ch->value, ch->len);
        break;
    }
    return o;
}

static void print_change(const inmem_change *ch)
{
    char id[INMEM_RUN_ID_STRLEN + 1], t[32];
    printf("  %-5s  ", prim_name(ch->primitive));
    switch (ch->primitive) {
    case INMEM_PRIM_KV:
    case INMEM_PRIM_STATE:
        out_bytes(stdout, ch->key, ch->klen);
        if (ch->deleted) {
            fputs("  <deleted>\n", stdout);
            return;
        }
        fputs(" = ", stdout);
        out_bytes(stdout, ch->value, ch->len);
        if (ch->expire_at_ms)
            printf("  (expires %s)", fmt_time(ch->expire_at_ms, t));
        break;
    case INMEM_PRIM_EVENT:
        out_bytes(stdout, ch->key, ch->klen);
        printf("  #%llu  ", (unsigned long long)ch->event.seq);
        if (ch->deleted) {
            fputs("<deleted>\n", stdout);
            return;
        }
        printf("%s  ", fmt_time(ch->event.time_ms, t));
        out_name(stdout, ch->event.type);
        fputs("  ", stdout);
        out_bytes(stdout, ch->value, ch->len);
        break;
    case INMEM_PRIM_TRACE:
        fputs(span_key(ch->key, ch->klen, id), stdout);
        if (ch->deleted)
            fputs("  <deleted>", stdout);
        else
            printf("  (a span record, %zu bytes)", ch->len);
        break;
    default:
        if (ch->deleted)
            fputs("<deleted>", stdout);
        else
            printf("(the run's metadata record, %zu bytes)", ch->len);
        break;
    }
    putchar('\n');
}

/* 1 if @p run (NULL: the shared scope) is a run at @p txn's snapshot (begun, or holding data),
 * 0 if not, < 0 an error. */
static int run_known(inmem_txn *txn, const inmem_run_id *run)
{
    inmem_run_info ri;
    if (!run)
        return 1;
    int rc = inmem_run_get(txn, run, &ri);
    if (rc == INMEM_NOTFOUND)
        return cli_run_holds_data(txn, run);
    return rc == 0 ? 1 : rc;
}

int cmd_run_replay(cli *c, int argc, char **argv)
{
    const char *limit_s;
    const cli_opt opts[] = {{"limit", 1, &limit_s, NULL, NULL, 0}, {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[2];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t after = 0, limit = UINT64_MAX;
    if (cli_args(c, "run replay", argc, argv, opts, 1, 2, pos, &np) ||
        cli_run(c, pos[0], &rb, &run) || (np > 1 && cli_u64(c, "AFTER_VERSION", pos[1], &after)) ||
        (limit_s && cli_u64(c, "--limit", limit_s, &limit)))
        return CMD_ERR;
    inmem_txn *txn;
    int temp;
    if (cli_read_txn(c, &txn, &temp))
        return CMD_ERR;
    inmem_txn_info ti;
    inmem_txn_describe(txn, &ti);
    inmem_replay *r = NULL;
    int rc = run_known(txn, run);
    if (rc == 0) {
        cli_read_done(txn, temp);
        return cli_error(c, "run replay: no run %s", pos[0]);
    }
    if (rc > 0 && after > ti.start_version) {
        cli_read_done(txn, temp);
        return cli_error(c, "run replay: AFTER_VERSION %llu is newer than the newest commit (%llu)",
                         (unsigned long long)after, (unsigned long long)ti.start_version);
    }
    if (rc > 0)
        rc = inmem_run_replay(txn, run ? run : &shared_id, after, &r);
    uint64_t count = 0, version, time_ms;
    const inmem_change *ch;
    size_t n;
    while (rc == 0 && count < limit) {
        if ((rc = inmem_replay_next(r, &version, &time_ms, &ch, &n)) != 0)
            break;
        count++;
        if (c->json) {
            json_t *o = json_object(), *a = json_array();
            json_object_set_new(o, "run", json_run(run));
            json_object_set_new(o, "version", json_u64(version));
            json_object_set_new(o, "time_ms", time_ms ? json_u64(time_ms) : json_null());
            for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_change(&ch[i]));
            json_object_set_new(o, "changes", a);
            out_json(o);
            continue;
        }
        char t[32];
        printf("version %llu  %s  (%zu write%s)\n", (unsigned long long)version,
               time_ms ? fmt_time(time_ms, t) : "(time unknown)", n, n == 1 ? "" : "s");
        for (size_t i = 0; i < n; i++)
            print_change(&ch[i]);
    }
    inmem_replay_free(r);
    cli_read_done(txn, temp);
    if (rc && rc != INMEM_NOTFOUND)
        return cli_lib_error(c, rc, "run replay");
    if (!c->json)
        printf("(%llu transaction%s)\n", (unsigned long long)count, count == 1 ? "" : "s");
    return CMD_OK;
}

/* ---- run diff ---------------------------------------------------------------------------- */

/* Checks one side of a diff: @p run is a run as of @p at (0: the newest). */
static int diff_side(cli *c, const char *name, const inmem_run_id *run, const char *opt,
                     const char *at_s, uint64_t at)
{
    inmem_txn *t;
    int rc;
    if (at) {
        if (begin_point(c, "run diff", opt, at_s, at, 0, &t))
            return CMD_ERR;
    } else if ((rc = inmem_txn_begin_readonly(c->db, &t)) != 0) {
        return cli_lib_error(c, rc, "run diff");
    }
    rc = run_known(t, run);
    cli_read_done(t, 1);
    if (rc == 0)
        return cli_error(c, "run diff: no run %s%s%s", name, at ? " at version " : "",
                         at ? at_s : "");
    if (rc < 0)
        return cli_lib_error(c, rc, "run diff: %s", name);
    return 0;
}

static const char *kind_name(inmem_diff_kind k)
{
    return k == INMEM_DIFF_ADDED ? "added" : k == INMEM_DIFF_REMOVED ? "removed" : "changed";
}

static void print_diff(cli *c, const inmem_diff_entry *e)
{
    char id[INMEM_RUN_ID_STRLEN + 1];
    const char *field = e->primitive == INMEM_PRIM_KV      ? "key"
                        : e->primitive == INMEM_PRIM_STATE ? "name"
                        : e->primitive == INMEM_PRIM_EVENT ? "stream"
                                                           : "span";
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "primitive", json_string(prim_name(e->primitive)));
        json_object_set_new(o, "kind", json_string(kind_name(e->kind)));
        if (e->primitive == INMEM_PRIM_TRACE)
            json_object_set_new(o, field, json_string(span_key(e->key, e->klen, id)));
        else
            out_set_bytes(o, field, e->key, e->klen);
        json_object_set_new(o, "version_a", json_u64(e->version_a));
        json_object_set_new(o, "version_b", json_u64(e->version_b));
        if (e->primitive == INMEM_PRIM_EVENT)
            json_object_set_new(o, "first_seq", json_u64(e->first_seq));
        out_json(o);
        return;
    }
    printf("%-5s  %-7s  ", prim_name(e->primitive), kind_name(e->kind));
    if (e->primitive == INMEM_PRIM_TRACE)
        fputs(span_key(e->key, e->klen, id), stdout);
    else
        out_bytes(stdout, e->key, e->klen);
    fputs("  (", stdout);
    if (e->primitive == INMEM_PRIM_EVENT && e->kind == INMEM_DIFF_CHANGED)
        printf("from seq %llu; ", (unsigned long long)e->first_seq);
    if (e->version_a)
        printf("a: version %llu%s", (unsigned long long)e->version_a, e->version_b ? ", " : "");
    if (e->version_b)
        printf("b: version %llu", (unsigned long long)e->version_b);
    fputs(")\n", stdout);
}

int cmd_run_diff(cli *c, int argc, char **argv)
{
    const char *at_a_s, *at_b_s;
    const cli_opt opts[] = {{"at-a", 1, &at_a_s, NULL, NULL, 0},
                            {"at-b", 1, &at_b_s, NULL, NULL, 0},
                            {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[2];
    int np;
    inmem_run_id ra, rbuf;
    const inmem_run_id *a, *b;
    uint64_t at_a = 0, at_b = 0;
    if (cli_args(c, "run diff", argc, argv, opts, 1, 2, pos, &np) || cli_run(c, pos[0], &ra, &a) ||
        (np > 1 ? cli_run(c, pos[1], &rbuf, &b) : (b = a, 0)) ||
        (at_a_s && cli_at_version(c, "run diff", "--at-a", at_a_s, &at_a)) ||
        (at_b_s && cli_at_version(c, "run diff", "--at-b", at_b_s, &at_b)))
        return CMD_ERR;
    const char *name_b = np > 1 ? pos[1] : pos[0];
    if (diff_side(c, pos[0], a, "--at-a", at_a_s, at_a) ||
        diff_side(c, name_b, b, "--at-b", at_b_s, at_b))
        return CMD_ERR;
    inmem_diff *d;
    int rc = inmem_run_diff(c->db, a ? a : &shared_id, at_a, b ? b : &shared_id, at_b, &d);
    if (rc)
        return cli_lib_error(c, rc, "run diff");
    inmem_diff_entry e;
    uint64_t count = 0;
    while ((rc = inmem_diff_next(d, &e)) == 0) {
        print_diff(c, &e);
        count++;
    }
    inmem_diff_free(d);
    if (!c->json)
        printf("(%llu difference%s)\n", (unsigned long long)count, count == 1 ? "" : "s");
    return CMD_OK;
}

/* ---- wait, state wait, event wait -------------------------------------------------------- */

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL); /* (^C in the shell ends it early: EINTR) */
}

/* Prints what a wait saw move: the value (or <deleted>) of a key or cell; the events appended
 * to a stream after the first @p from_seq - 1 (0: its last event). */
static int print_moved(cli *c, const char *cmdname, inmem_primitive what, const inmem_run_id *run,
                       const char *name, uint64_t version, uint64_t from_seq)
{
    inmem_txn *txn;
    int rc = inmem_txn_begin_readonly(c->db, &txn);
    if (rc)
        return cli_lib_error(c, rc, "%s", cmdname);
    const void *val = NULL;
    size_t len = 0;
    uint64_t ver = version;
    if (what == INMEM_PRIM_EVENT) {
        inmem_stream_info si;
        inmem_event ev;
        uint64_t count = 0;
        rc = inmem_event_stream_info(txn, run, name, &si);
        for (uint64_t s = from_seq ? from_seq : si.length; !rc && s && s <= si.length; s++) {
            if ((rc = inmem_event_get(txn, run, name, s, &ev)) == 0)
                cli_print_event(c, run, name, &ev);
            count++;
        }
        cli_read_done(txn, 1);
        if (rc)
            return cli_lib_error(c, rc, "%s", cmdname);
        if (!c->json)
            printf("(%llu event%s; stream at version %llu)\n", (unsigned long long)count,
                   count == 1 ? "" : "s", (unsigned long long)version);
        return CMD_OK;
    }
    rc = what == INMEM_PRIM_STATE ? inmem_state_get(txn, run, name, &val, &len, &ver)
                                  : inmem_kv_get(txn, run, name, strlen(name), &val, &len, &ver);
    if (rc && rc != INMEM_NOTFOUND) {
        cli_read_done(txn, 1);
        return cli_lib_error(c, rc, "%s", cmdname);
    }
    int gone = rc == INMEM_NOTFOUND; /* deleted (or expired) */
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_run(run));
        out_set_bytes(o, what == INMEM_PRIM_STATE ? "name" : "key", name, strlen(name));
        json_object_set_new(o, "version", json_u64(gone ? version : ver));
        json_object_set_new(o, "deleted", json_boolean(gone));
        if (!gone)
            out_set_bytes(o, "value", val, len);
        out_json(o);
    } else {
        if (gone)
            fputs("<deleted>", stdout);
        else
            out_bytes(stdout, val, len);
        printf("  (version %llu)\n", (unsigned long long)(gone ? version : ver));
    }
    cli_read_done(txn, 1);
    return CMD_OK;
}

static int do_wait(cli *c, const char *cmdname, inmem_primitive what, int argc, char **argv)
{
    const char *after_s, *timeout_s;
    const cli_opt opts[] = {{"after", 1, &after_s, NULL, NULL, 0},
                            {"timeout", 1, &timeout_s, NULL, NULL, 0},
                            {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[2];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t after = 0, timeout = UINT64_MAX;
    const char *noun = what == INMEM_PRIM_KV      ? "key"
                       : what == INMEM_PRIM_STATE ? "state cell"
                                                  : "stream";
    if (cli_args(c, cmdname, argc, argv, opts, 2, 2, pos, &np) || cli_run(c, pos[0], &rb, &run) ||
        (what != INMEM_PRIM_KV &&
         cli_name(c, what == INMEM_PRIM_STATE ? "NAME" : "STREAM", pos[1])) ||
        (after_s && cli_u64(c, "--after", after_s, &after)) ||
        (timeout_s && cli_duration(c, "--timeout", timeout_s, &timeout)))
        return CMD_ERR;
    const char *name = pos[1];
    uint64_t from_seq = 0; /* events: the first one to print (0: the last) */
    if (!after_s) {        /* until the next change: past what the database is at now */
        after = newest_version(c);
        inmem_stream_info si;
        if (what == INMEM_PRIM_EVENT && inmem_event_stream_info_db(c->db, run, name, &si) == 0)
            from_seq = si.length + 1;
    }
    uint64_t start = now_ms();
    uint64_t deadline = timeout < UINT64_MAX - start ? start + timeout : UINT64_MAX;
    uint64_t interval = 100, version = 0;
    int polling = !c->writable && c->dir; /* another process may be writing */
    int fresh = !polling;                 /* looked at a view opened since the wait began */
    int rc;
    for (;;) {
        uint64_t now = now_ms(), left = deadline > now ? deadline - now : 0;
        uint64_t slice = polling ? 0 : c->interactive && left > 100 ? 100 : left;
        rc = inmem_wait(c->db, run, what, name, strlen(name), after, slice, &version);
        if (rc != INMEM_ETIMEDOUT)
            break;
        if (cli_interrupted)
            return cli_error(c, "%s: interrupted", cmdname);
        now = now_ms();
        if (fresh && now >= deadline) {
            char d[32];
            c->exit_status = CLI_EXIT_TIMEOUT;
            return cli_error(
                c, "%s: timed out after %s: %s %s in %s did not move past version %llu", cmdname,
                fmt_span(timeout, d), noun, clips(name), pos[0], (unsigned long long)after);
        }
        if (!polling)
            continue;
        if (fresh)
            sleep_ms(deadline - now < interval ? deadline - now : interval);
        if (cli_interrupted)
            return cli_error(c, "%s: interrupted", cmdname);
        uint64_t t0 = now_us();
        if (session_refresh(c) != 0)
            return cli_error(c, "%s: cannot open %s again: %s", cmdname, fmt_path(c->dir),
                             c->open_err);
        uint64_t took_ms = (now_us() - t0) / 1000u;
        interval = took_ms * 4 > 100 ? (took_ms * 4 < 2000 ? took_ms * 4 : 2000) : 100;
        fresh = 1;
    }
    if (rc)
        return cli_lib_error(c, rc, "%s %s", cmdname, clips(name));
    if (what == INMEM_PRIM_EVENT && after_s)
        from_seq = 0;
    return print_moved(c, cmdname, what, run, name, version, from_seq);
}

int cmd_wait(cli *c, int argc, char **argv)
{
    return do_wait(c, "wait", INMEM_PRIM_KV, argc, argv);
}

int cmd_state_wait(cli *c, int argc, char **argv)
{
    return do_wait(c, "state wait", INMEM_PRIM_STATE, argc, argv);
}

int cmd_event_wait(cli *c, int argc, char **argv)
{
    return do_wait(c, "event wait", INMEM_PRIM_EVENT, argc, argv);
}
