/*
 * cmd_runs.c — the run commands: run begin/end/list/show/children/delete/fork (replay and diff
 * are in cmd_history.c).
 *
 * Listings page through inmem_run_list()'s cursor (the last id of the previous page) inside one
 * read transaction, so a listing is one consistent snapshot; `run show` also counts what the run
 * holds (keys, streams, spans) in that snapshot. Inside an explicit transaction every command
 * uses it, and writes are pending until `commit`.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define PAGE 256

/* ---- runs -------------------------------------------------------------------------------- */

int cli_all_runs(inmem_txn *txn, inmem_run_id **ids, size_t *n)
{
    size_t cap = PAGE, count = 0, got;
    inmem_run_id *v = malloc(cap * sizeof *v);
    if (!v)
        return INMEM_ENOMEM;
    int rc;
    do {
        if (count + PAGE > cap) {
            inmem_run_id *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                return INMEM_ENOMEM;
            }
            v = nv;
        }
        rc = inmem_run_list(txn, NULL, count ? &v[count - 1] : NULL, PAGE, v + count, &got);
        if (rc) {
            free(v);
            return rc;
        }
        count += got;
    } while (got == PAGE);
    *ids = v;
    *n = count;
    return 0;
}

int cli_stored_runs(inmem_txn *txn, inmem_run_id **ids, size_t *n)
{
    size_t cap = PAGE, count = 0, got;
    inmem_run_id *v = malloc(cap * sizeof *v);
    if (!v)
        return INMEM_ENOMEM;
    int rc;
    do {
        if (count + PAGE > cap) {
            inmem_run_id *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                return INMEM_ENOMEM;
            }
            v = nv;
        }
        rc = inmem_run_list_stored(txn, count ? &v[count - 1] : NULL, PAGE, v + count, &got);
        if (rc) {
            free(v);
            return rc;
        }
        count += got;
    } while (got == PAGE);
    *ids = v;
    *n = count;
    return 0;
}

int cli_run_holds_data(inmem_txn *txn, const inmem_run_id *run)
{
    /* list one stored id after the id just below @p run: it is @p run if @p run holds data */
    inmem_run_id before = *run, got;
    int i = 15;
    while (i >= 0 && before.bytes[i] == 0)
        before.bytes[i--] = 0xff;
    if (i < 0)
        return 1; /* the shared scope always exists */
    before.bytes[i]--;
    size_t n;
    int rc = inmem_run_list_stored(txn, &before, 1, &got, &n);
    if (rc)
        return rc;
    return n == 1 && memcmp(&got, run, sizeof got) == 0;
}

static json_t *json_run_info(const inmem_run_info *ri)
{
    json_t *o = json_object();
    json_object_set_new(o, "run", json_run(&ri->id));
    json_object_set_new(o, "status", json_string(cli_status_name(ri->status)));
    json_object_set_new(o, "parent", ri->has_parent ? json_run(&ri->parent) : json_null());
    json_object_set_new(o, "created_ms", json_u64(ri->created_ms));
    json_object_set_new(o, "ended_ms", json_u64(ri->ended_ms));
    out_set_name(o, "tenant", ri->tenant);
    out_set_name(o, "app", ri->app);
    out_set_name(o, "agent", ri->agent);
    out_set_tags(o, "tags", ri->tags, ri->ntags);
    return o;
}

static void print_run_row(cli *c, const inmem_run_info *ri)
{
    if (c->json) {
        out_json(json_run_info(ri));
        return;
    }
    char id[INMEM_RUN_ID_STRLEN + 1], t[32];
    printf("%s  %-9s  %s", fmt_run(&ri->id, id), cli_status_name(ri->status),
           fmt_time(ri->created_ms, t));
    const char *const names[] = {ri->tenant, ri->app, ri->agent};
    const char *const labels[] = {"  tenant=", "  app=", "  agent="};
    for (size_t i = 0; i < 3; i++)
        if (names[i][0]) {
            fputs(labels[i], stdout);
            out_name(stdout, names[i]);
        }
    for (size_t i = 0; i < ri->ntags; i++) {
        fputs(i ? "," : "  tags=", stdout);
        out_item(stdout, ri->tags[i], strlen(ri->tags[i]));
    }
    if (ri->has_parent)
        printf("  parent=%s", fmt_run(&ri->parent, id));
    putchar('\n');
}

/* The options of run begin and run fork, parsed into an inmem_run_options (whose pointers
 * point into this). */
typedef struct run_opts {
    const char *id_s, *parent_s, *tenant, *app, *agent, *tags[INMEM_MAX_TAGS], *hms_s, *hv_s;
    size_t ntags;
    inmem_run_id id, parent;
    inmem_run_options ro;
} run_opts;

/* Parses @p cmdname's words: its options and @p minpos to @p maxpos positional words (into
 * @p pos); --parent only if @p with_parent. @return 0 or CMD_ERR (printed). */
static int parse_run_opts(cli *c, const char *cmdname, int argc, char **argv, int with_parent,
                          int minpos, int maxpos, char **pos, int *np, run_opts *r)
{
    memset(r, 0, sizeof *r);
    const cli_opt opts[] = {{"id", 1, &r->id_s, NULL, NULL, 0},
                            {"tenant", 1, &r->tenant, NULL, NULL, 0},
                            {"app", 1, &r->app, NULL, NULL, 0},
                            {"agent", 1, &r->agent, NULL, NULL, 0},
                            {"tag", 1, NULL, r->tags, &r->ntags, INMEM_MAX_TAGS},
                            {"history-ms", 1, &r->hms_s, NULL, NULL, 0},
                            {"history-versions", 1, &r->hv_s, NULL, NULL, 0},
                            /* last: without it, a NULL name ends the table here */
                            {with_parent ? "parent" : NULL, 1, &r->parent_s, NULL, NULL, 0},
                            {NULL, 0, NULL, NULL, NULL, 0}};
    if (cli_args(c, cmdname, argc, argv, opts, minpos, maxpos, pos, np) ||
        cli_name(c, "--tenant", r->tenant) || cli_name(c, "--app", r->app) ||
        cli_name(c, "--agent", r->agent))
        return CMD_ERR;
    for (size_t i = 0; i < r->ntags; i++)
        if (cli_name(c, "--tag", r->tags[i]))
            return CMD_ERR;
    inmem_run_options *ro = &r->ro;
    inmem_run_options_init(ro);
    if (r->id_s) {
        if (inmem_run_id_parse(r->id_s, &r->id))
            return cli_error(c, "%s: --id must be a 36-character run id, not %s", cmdname,
                             clips(r->id_s));
        if (inmem_run_id_is_shared(&r->id))
            return cli_error(c, "%s: --id must not be all zero (that is the shared scope)",
                             cmdname);
        ro->id = &r->id;
    }
    if (r->parent_s) {
        const inmem_run_id *p;
        if (cli_run(c, r->parent_s, &r->parent, &p))
            return CMD_ERR;
        if (!p)
            return cli_error(c, "%s: --parent must be a run, not the shared scope", cmdname);
        ro->parent = p;
    }
    if (r->hms_s || r->hv_s) { /* the run's own history policy (either alone: the other 0) */
        uint64_t hv = 0;
        ro->history = 1;
        if (r->hms_s && cli_duration(c, "--history-ms", r->hms_s, &ro->history_ms))
            return CMD_ERR;
        if (r->hv_s && cli_u64(c, "--history-versions", r->hv_s, &hv))
            return CMD_ERR;
        if (hv > UINT32_MAX)
            return cli_error(c, "--history-versions must be at most %u", UINT32_MAX);
        ro->history_versions = (uint32_t)hv;
    }
    ro->tenant = r->tenant;
    ro->app = r->app;
    ro->agent = r->agent;
    ro->tags = r->tags;
    ro->ntags = r->ntags;
    for (size_t i = 0; i < r->ntags; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->tags[i], r->tags[j]) == 0)
                return cli_error(c, "%s: tag %s is given twice", cmdname, clips(r->tags[i]));
    return 0;
}

/* Prints a new run's id (run begin, run fork) and makes it the current run. */
static int print_new_run(cli *c, const inmem_run_id *id)
{
    c->current = *id;
    c->has_current = 1;
    char buf[INMEM_RUN_ID_STRLEN + 1];
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_run(id));
        if (c->txn)
            json_object_set_new(o, "pending", json_true());
        out_json(o);
    } else {
        printf("%s%s\n", fmt_run(id, buf), c->txn ? " (pending)" : "");
    }
    return CMD_OK;
}

/* 1 if run @p id exists (begun), 0 if not, < 0 an error. */
static int run_exists(cli *c, const inmem_run_id *id)
{
    inmem_run_info ri;
    int rc = c->txn ? inmem_run_get(c->txn, id, &ri) : inmem_run_get_db(c->db, id, &ri);
    return rc == 0 ? 1 : rc == INMEM_NOTFOUND ? 0 : rc;
}

int cmd_run_begin(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    run_opts r;
    if (parse_run_opts(c, "run begin", argc, argv, 1, 0, 0, pos, &np, &r))
        return CMD_ERR;
    inmem_run_id out;
    int rc = c->txn ? inmem_run_begin(c->txn, &r.ro, &out) : inmem_run_begin_db(c->db, &r.ro, &out);
    if (rc == INMEM_EINVAL) { /* the library does not say which argument: find out */
        char buf[INMEM_RUN_ID_STRLEN + 1];
        if (r.ro.id && run_exists(c, r.ro.id) == 1)
            return cli_error(c, "run begin: a run with id %s exists already",
                             fmt_run(r.ro.id, buf));
        if (r.ro.parent && run_exists(c, r.ro.parent) == 0)
            return cli_error(c, "run begin: no parent run %s in this database",
                             fmt_run(r.ro.parent, buf));
    }
    if (rc)
        return cli_lib_error(c, rc, "run begin");
    return print_new_run(c, &out);
}

int cmd_run_fork(cli *c, int argc, char **argv)
{
    char *pos[2];
    int np;
    run_opts r;
    inmem_run_id parent;
    const inmem_run_id *p;
    uint64_t at = 0;
    if (parse_run_opts(c, "run fork", argc, argv, 0, 1, 2, pos, &np, &r) ||
        cli_run(c, pos[0], &parent, &p))
        return CMD_ERR;
    if (!p)
        return cli_error(c, "run fork: needs a run, not the shared scope");
    if (np > 1 && cli_at_version(c, "run fork", "AT", pos[1], &at))
        return CMD_ERR;
    inmem_run_id out;
    int rc = c->txn ? inmem_run_fork(c->txn, &parent, at, &r.ro, &out)
                    : inmem_run_fork_db(c->db, &parent, at, &r.ro, &out);
    if (rc == INMEM_EINVAL) { /* which argument: find out */
        char buf[INMEM_RUN_ID_STRLEN + 1];
        inmem_txn_info ti;
        inmem_stats st;
        uint64_t newest = c->txn && inmem_txn_describe(c->txn, &ti) == 0 ? ti.start_version
                          : inmem_db_stats(c->db, &st) == 0              ? st.version
                                                                         : UINT64_MAX;
        if (run_exists(c, &parent) == 0)
            return cli_error(c,
                             "run fork: no run %s (a run must be begun, and not deleted, to "
                             "be forked)",
                             pos[0]);
        if (at > newest)
            return cli_error(c, "run fork: version %llu is newer than the newest commit (%llu)",
                             (unsigned long long)at, (unsigned long long)newest);
        if (r.ro.id && run_exists(c, r.ro.id) == 1)
            return cli_error(c, "run fork: a run with id %s exists already", fmt_run(r.ro.id, buf));
    }
    if (rc)
        return cli_lib_error(c, rc, "run fork");
    return print_new_run(c, &out);
}

static int print_ok(cli *c)
{
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        if (c->txn)
            json_object_set_new(o, "pending", json_true());
        out_json(o);
    } else {
        printf(c->txn ? "OK (pending)\n" : "OK\n");
    }
    return CMD_OK;
}

static int need_run(cli *c, const char *cmdname, const char *s, inmem_run_id *buf)
{
    const inmem_run_id *r;
    if (cli_run(c, s, buf, &r))
        return CMD_ERR;
    if (!r)
        return cli_error(c, "%s: needs a run, not the shared scope", cmdname);
    return 0;
}

int cmd_run_end(cli *c, int argc, char **argv)
{
    char *pos[2];
    int np;
    inmem_run_id run;
    inmem_run_status st;
    if (cli_args(c, "run end", argc, argv, NULL, 2, 2, pos, &np) ||
        need_run(c, "run end", pos[0], &run) || cli_status(c, pos[1], &st))
        return CMD_ERR;
    int rc = c->txn ? inmem_run_end(c->txn, &run, st) : inmem_run_end_db(c->db, &run, st);
    if (rc == INMEM_NOTFOUND)
        return cli_error(c, "run end: no run %s", pos[0]);
    if (rc == INMEM_EMISUSE)
        return cli_error(c, "run end: a run cannot move to %s from its status (see: help run end)",
                         pos[1]);
    if (rc)
        return cli_lib_error(c, rc, "run end");
    return print_ok(c);
}

int cmd_run_delete(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    inmem_run_id run;
    if (cli_args(c, "run delete", argc, argv, NULL, 1, 1, pos, &np) ||
        need_run(c, "run delete", pos[0], &run))
        return CMD_ERR;
    int rc = c->txn ? inmem_run_delete(c->txn, &run) : inmem_run_delete_db(c->db, &run);
    if (rc == INMEM_NOTFOUND)
        return cli_error(c, "run delete: no run %s", pos[0]);
    if (rc)
        return cli_lib_error(c, rc, "run delete");
    return print_ok(c);
}

/* Run ids that hold data but were never begun, newest first; *ids is malloc'ed. */
static int never_begun(inmem_txn *txn, inmem_run_id **ids, size_t *n)
{
    inmem_run_id *v;
    size_t nv, k = 0;
    int rc = cli_stored_runs(txn, &v, &nv);
    if (rc)
        return rc;
    for (size_t i = nv; i-- > 0 && !rc;) {
        inmem_run_info ri;
        rc = inmem_run_get(txn, &v[i], &ri);
        if (rc == INMEM_NOTFOUND) {
            v[k++] = v[i]; /* k <= nv - i - 1 < i: never overwrites an id still to be read */
            rc = 0;
        }
    }
    if (rc) {
        free(v);
        return rc;
    }
    *ids = v;
    *n = k;
    return 0;
}

static void print_never_begun(cli *c, const inmem_run_id *id)
{
    char buf[INMEM_RUN_ID_STRLEN + 1];
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_run(id));
        json_object_set_new(o, "begun", json_false());
        out_json(o);
    } else {
        printf("%s  never begun: data under this id has no run record\n", fmt_run(id, buf));
    }
}

/* Lists the runs matching @p f; with @p all, then the run ids never begun (no filter). */
static int list_runs(cli *c, const char *cmdname, const inmem_run_filter *f, uint64_t limit,
                     int all)
{
    inmem_txn *txn;
    int temp;
    if (cli_read_txn(c, &txn, &temp))
        return CMD_ERR;
    int unfiltered = !f->status && !f->tag && !f->parent && !f->tenant && !f->app && !f->agent;
    inmem_run_id page[PAGE], cursor;
    size_t n;
    uint64_t count = 0;
    int rc = 0;
    do {
        size_t want = limit - count < PAGE ? (size_t)(limit - count) : PAGE;
        if (!want)
            break;
        if ((rc = inmem_run_list(txn, f, count ? &cursor : NULL, want, page, &n)) != 0)
            break;
        for (size_t i = 0; i < n && !rc; i++) {
            inmem_run_info ri;
            if ((rc = inmem_run_get(txn, &page[i], &ri)) == 0)
                print_run_row(c, &ri);
        }
        count += n;
        if (n)
            cursor = page[n - 1];
        if (n < want)
            break;
    } while (!rc);
    inmem_run_id *nb = NULL;
    size_t nnb = 0, shown = 0;
    if (!rc && unfiltered) /* (a never-begun id has no metadata to match a filter) */
        rc = never_begun(txn, &nb, &nnb);
    for (size_t i = 0; !rc && all && i < nnb && count < limit; i++, count++, shown++)
        print_never_begun(c, &nb[i]);
    free(nb);
    cli_read_done(txn, temp);
    if (rc)
        return cli_lib_error(c, rc, "%s", cmdname);
    if (!c->json) {
        printf("(%llu run%s", (unsigned long long)count, count == 1 ? "" : "s");
        if (shown)
            printf(", %zu of them never begun", shown);
        else if (nnb && !all)
            printf("; and %zu run id%s holding data that %s never begun: run list --all", nnb,
                   nnb == 1 ? "" : "s", nnb == 1 ? "was" : "were");
        printf(")\n");
    }
    return CMD_OK;
}

int cmd_run_list(cli *c, int argc, char **argv)
{
    const char *status, *tag, *parent_s, *tenant, *app, *agent, *limit_s, *all;
    const cli_opt opts[] = {
        {"status", 1, &status, NULL, NULL, 0},   {"tag", 1, &tag, NULL, NULL, 0},
        {"parent", 1, &parent_s, NULL, NULL, 0}, {"tenant", 1, &tenant, NULL, NULL, 0},
        {"app", 1, &app, NULL, NULL, 0},         {"agent", 1, &agent, NULL, NULL, 0},
        {"limit", 1, &limit_s, NULL, NULL, 0},   {"all", 0, &all, NULL, NULL, 0},
        {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[1];
    int np;
    if (cli_args(c, "run list", argc, argv, opts, 0, 0, pos, &np) || cli_name(c, "--tag", tag) ||
        cli_name(c, "--tenant", tenant) || cli_name(c, "--app", app) ||
        cli_name(c, "--agent", agent))
        return CMD_ERR;
    if (all && (status || tag || parent_s || tenant || app || agent))
        return cli_error(c, "run list: --all does not go with a filter (a run id that was never "
                            "begun has no status, tags, parent or namespace to match)");
    inmem_run_filter f;
    memset(&f, 0, sizeof f);
    inmem_run_id parent;
    uint64_t limit = UINT64_MAX;
    if (status && cli_status(c, status, &f.status))
        return CMD_ERR;
    if (parent_s) {
        const inmem_run_id *p;
        if (cli_run(c, parent_s, &parent, &p))
            return CMD_ERR;
        if (!p) /* the shared scope as parent: the runs without a parent */
            memset(&parent, 0, sizeof parent);
        f.parent = &parent;
    }
    if (limit_s && cli_u64(c, "--limit", limit_s, &limit))
        return CMD_ERR;
    f.tag = tag;
    f.tenant = tenant;
    f.app = app;
    f.agent = agent;
    return list_runs(c, "run list", &f, limit, all != NULL);
}

int cmd_run_children(cli *c, int argc, char **argv)
{
    const char *limit_s;
    const cli_opt opts[] = {{"limit", 1, &limit_s, NULL, NULL, 0}, {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[1];
    int np;
    inmem_run_id run;
    uint64_t limit = UINT64_MAX;
    if (cli_args(c, "run children", argc, argv, opts, 1, 1, pos, &np) ||
        need_run(c, "run children", pos[0], &run))
        return CMD_ERR;
    if (limit_s && cli_u64(c, "--limit", limit_s, &limit))
        return CMD_ERR;
    inmem_run_filter f;
    memset(&f, 0, sizeof f);
    f.parent = &run;
    return list_runs(c, "run children", &f, limit, 0);
}

/* Counts what a run holds: keys, state cells, streams and their events, spans. */
static int run_contents(inmem_txn *txn, const inmem_run_id *run, uint64_t *keys, uint64_t *cells,
                        json_t *streams, json_t *streams_b64, uint64_t *spans)
{
    inmem_kv_entry kv[PAGE];
    size_t n;
    int rc;
    *keys = *cells = 0;
    inmem_state_entry *ce = malloc(PAGE * sizeof *ce);
    char cafter[INMEM_NAME_MAX] = "";
    if (!ce)
        return INMEM_ENOMEM;
    do {
        if ((rc = inmem_state_list(txn, run, cafter[0] ? cafter : NULL, PAGE, ce, &n)) != 0)
            break;
        *cells += n;
        if (n)
            memcpy(cafter, ce[n - 1].name, INMEM_NAME_MAX);
    } while (n == PAGE);
    free(ce);
    if (rc)
        return rc;
    const void *after = NULL;
    size_t alen = 0;
    do {
        if ((rc = inmem_kv_list(txn, run, NULL, 0, after, alen, PAGE, kv, &n)) != 0)
            return rc;
        *keys += n;
        if (n)
            after = kv[n - 1].key, alen = kv[n - 1].klen;
    } while (n == PAGE);
    char names[64][INMEM_NAME_MAX];
    char last[INMEM_NAME_MAX] = "";
    do {
        if ((rc = inmem_event_streams(txn, run, last[0] ? last : NULL, 64, names, &n)) != 0)
            return rc;
        for (size_t i = 0; i < n; i++) {
            inmem_stream_info si;
            if ((rc = inmem_event_stream_info(txn, run, names[i], &si)) != 0)
                return rc;
            json_t *into = streams, *utf8 = json_string(names[i]); /* NULL if not UTF-8 */
            char *key = names[i], *b64 = NULL;
            if (!utf8) { /* a JSON object's keys are UTF-8: this one goes by its base64 */
                into = streams_b64;
                key = b64 = b64_encode(names[i], strlen(names[i]));
            }
            json_decref(utf8);
            if (key)
                json_object_set_new(into, key, json_u64(si.length));
            free(b64);
        }
        if (n)
            memcpy(last, names[n - 1], INMEM_NAME_MAX);
    } while (n == 64);
    *spans = 0;
    inmem_span *sp = malloc(64 * sizeof *sp);
    if (!sp)
        return INMEM_ENOMEM;
    inmem_run_id cursor;
    do {
        if ((rc = inmem_trace_query(txn, run, NULL, *spans ? &cursor : NULL, 64, sp, &n)) != 0)
            break;
        *spans += n;
        if (n)
            cursor = sp[n - 1].id;
    } while (n == 64);
    free(sp);
    return rc;
}

int cmd_run_show(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    inmem_run_id run;
    if (cli_args(c, "run show", argc, argv, NULL, 1, 1, pos, &np) ||
        need_run(c, "run show", pos[0], &run))
        return CMD_ERR;
    inmem_txn *txn;
    int temp;
    if (cli_read_txn(c, &txn, &temp))
        return CMD_ERR;
    inmem_run_info ri;
    uint64_t keys = 0, cells = 0, spans = 0;
    json_t *streams = json_object(), *b64 = json_object();
    int begun = 1, rc = inmem_run_get(txn, &run, &ri);
    if (rc == INMEM_NOTFOUND && (rc = cli_run_holds_data(txn, &run)) >= 0) {
        begun = 0; /* data under an id that was never begun: show what it holds */
        rc = rc ? 0 : INMEM_NOTFOUND;
    }
    if (rc == 0)
        rc = run_contents(txn, &run, &keys, &cells, streams, b64, &spans);
    cli_read_done(txn, temp);
    if (rc) {
        json_decref(b64);
        json_decref(streams);
        if (rc == INMEM_NOTFOUND)
            return cli_error(c, "run show: no run %s", pos[0]);
        return cli_lib_error(c, rc, "run show");
    }
    char id[INMEM_RUN_ID_STRLEN + 1], t[32];
    if (c->json) {
        json_t *o = begun ? json_run_info(&ri) : json_object();
        if (!begun) {
            json_object_set_new(o, "run", json_run(&run));
            json_object_set_new(o, "begun", json_false());
        }
        json_object_set_new(o, "keys", json_u64(keys));
        json_object_set_new(o, "cells", json_u64(cells));
        json_object_set_new(o, "streams", streams);
        if (json_object_size(b64))
            json_object_set(o, "streams_b64", b64);
        json_decref(b64);
        json_object_set_new(o, "spans", json_u64(spans));
        out_json(o);
        return CMD_OK;
    }
    if (!begun) {
        printf("run       %s\nstatus    never begun: data under this id has no run record\n",
               fmt_run(&run, id));
        memset(&ri, 0, sizeof ri);
    } else {
        printf("run       %s\n", fmt_run(&ri.id, id));
        printf("status    %s\n", cli_status_name(ri.status));
        printf("parent    %s\n", ri.has_parent ? fmt_run(&ri.parent, id) : "(none)");
        printf("created   %s\n", fmt_time(ri.created_ms, t));
        if (ri.ended_ms)
            printf("ended     %s (after %.3f s)\n", fmt_time(ri.ended_ms, t),
                   (double)(ri.ended_ms - ri.created_ms) / 1000.0);
        const char *const names[] = {ri.tenant, ri.app, ri.agent};
        const char *const labels[] = {"tenant    ", "app       ", "agent     "};
        for (size_t i = 0; i < 3; i++) { /* "-": none (a name "-" is quoted) */
            fputs(labels[i], stdout);
            if (!names[i][0])
                putchar('-');
            else if (strcmp(names[i], "-") == 0)
                out_quoted(stdout, "-", 1);
            else
                out_name(stdout, names[i]);
            putchar('\n');
        }
        printf("tags      ");
        for (size_t i = 0; i < ri.ntags; i++) {
            fputs(i ? ", " : "", stdout);
            out_item(stdout, ri.tags[i], strlen(ri.tags[i]));
        }
        printf("%s\n", ri.ntags ? "" : "-");
    }
    printf("keys      %llu\ncells     %llu\nstreams   ", (unsigned long long)keys,
           (unsigned long long)cells);
    const char *name;
    json_t *len;
    int first = 1;
    json_object_foreach(streams, name, len)
    {
        fputs(first ? "" : ", ", stdout);
        out_item(stdout, name, strlen(name));
        printf(" (%lld events)", (long long)json_integer_value(len));
        first = 0;
    }
    json_object_foreach(b64, name, len)
    {
        char *raw = NULL;
        size_t rl = 0;
        if (b64_decode(name, strlen(name), &raw, &rl) == 0) {
            printf("%s", first ? "" : ", ");
            out_item(stdout, raw, rl);
            printf(" (%lld events)", (long long)json_integer_value(len));
            first = 0;
        }
        free(raw);
    }
    printf("%s\nspans     %llu\n", first ? "-" : "", (unsigned long long)spans);
    json_decref(streams);
    json_decref(b64);
    return CMD_OK;
}
