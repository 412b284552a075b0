/*
 * cmd_traces.c — the trace commands: trace record/get/query/tree.
 *
 * A span is printed on one line (the tree indents each span two spaces per level below the
 * root), or as one JSON object with its input and output as strings or base64. Queries page
 * through inmem_trace_query()'s cursor (the last span of the previous page) inside one read
 * transaction. A tree is read whole with inmem_trace_tree(), into a buffer that grows with the
 * tree up to --limit spans (default 1000: read again with twice the room while it fills it);
 * depths are recovered from the parent links in one pass (the tree comes depth first).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void print_span(cli *c, const inmem_run_id *run, const inmem_span *s, int depth)
{
    char id[INMEM_RUN_ID_STRLEN + 1], t[32];
    static const inmem_run_id zero;
    int has_parent = memcmp(&s->parent, &zero, sizeof zero) != 0;
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_run(run));
        json_object_set_new(o, "span", json_run(&s->id));
        json_object_set_new(o, "parent", has_parent ? json_run(&s->parent) : json_null());
        json_object_set_new(o, "kind", json_string(cli_kind_name(s->kind)));
        out_set_name(o, "name", s->name);
        out_set_bytes(o, "input", s->input, s->input_len);
        out_set_bytes(o, "output", s->output, s->output_len);
        json_object_set_new(o, "confidence", json_confidence(s->confidence));
        json_object_set_new(o, "start_ms", json_u64(s->start_ms));
        json_object_set_new(o, "duration_us", json_u64(s->duration_us));
        out_set_tags(o, "tags", s->tags, s->ntags);
        if (depth >= 0)
            json_object_set_new(o, "depth", json_integer(depth));
        out_json(o);
        return;
    }
    printf("%*s%s  %s  ", depth > 0 ? 2 * depth : 0, "", fmt_run(&s->id, id),
           cli_kind_name(s->kind));
    out_name(stdout, s->name);
    if (!isnan(s->confidence))
        printf("  confidence=%g", s->confidence);
    printf("  start=%s  duration=%.3fms", fmt_time(s->start_ms, t),
           (double)s->duration_us / 1000.0);
    for (size_t i = 0; i < s->ntags; i++) {
        fputs(i ? "," : "  tags=", stdout);
        out_item(stdout, s->tags[i], strlen(s->tags[i]));
    }
    if (s->input_len) {
        fputs("  input=", stdout);
        out_bytes(stdout, s->input, s->input_len);
    }
    if (s->output_len) {
        fputs("  output=", stdout);
        out_bytes(stdout, s->output, s->output_len);
    }
    if (has_parent && depth < 0)
        printf("  parent=%s", fmt_run(&s->parent, id));
    putchar('\n');
}

int cmd_trace_record(cli *c, int argc, char **argv)
{
    const char *input, *output, *conf, *parent, *start, *dur, *id_s, *tags[INMEM_MAX_TAGS];
    size_t ntags;
    const cli_opt opts[] = {{"input", 1, &input, NULL, NULL, 0},
                            {"output", 1, &output, NULL, NULL, 0},
                            {"confidence", 1, &conf, NULL, NULL, 0},
                            {"parent", 1, &parent, NULL, NULL, 0},
                            {"start", 1, &start, NULL, NULL, 0},
                            {"duration-us", 1, &dur, NULL, NULL, 0},
                            {"tag", 1, NULL, tags, &ntags, INMEM_MAX_TAGS},
                            {"id", 1, &id_s, NULL, NULL, 0},
                            {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[3];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    inmem_span sp;
    memset(&sp, 0, sizeof sp);
    sp.confidence = NAN;
    if (cli_args(c, "trace record", argc, argv, opts, 3, 3, pos, &np) ||
        cli_run(c, pos[0], &rb, &run) || cli_kind(c, pos[1], &sp.kind))
        return CMD_ERR;
    if (cli_name(c, "NAME", pos[2]))
        return CMD_ERR;
    strcpy(sp.name, pos[2]);
    for (size_t i = 0; i < ntags; i++) {
        if (cli_name(c, "--tag", tags[i]))
            return CMD_ERR;
        strcpy(sp.tags[i], tags[i]);
    }
    sp.ntags = ntags;
    sp.input = input;
    sp.input_len = input ? strlen(input) : 0;
    sp.output = output;
    sp.output_len = output ? strlen(output) : 0;
    if ((conf && cli_double(c, "--confidence", conf, &sp.confidence)) ||
        (parent && cli_span_id(c, parent, 1, &sp.parent)) ||
        (start && cli_time(c, "--start", start, &sp.start_ms)) ||
        (dur && cli_u64(c, "--duration-us", dur, &sp.duration_us)) ||
        (id_s && cli_span_id(c, id_s, 0, &sp.id)))
        return CMD_ERR;
    inmem_run_id out;
    int rc = c->txn ? inmem_trace_record(c->txn, run, &sp, &out)
                    : inmem_trace_record_db(c->db, run, &sp, &out);
    if (rc)
        return cli_lib_error(c, rc, "trace record");
    char buf[INMEM_RUN_ID_STRLEN + 1];
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "span", json_run(&out));
        if (c->txn)
            json_object_set_new(o, "pending", json_true());
        out_json(o);
    } else {
        printf("%s%s\n", fmt_run(&out, buf), c->txn ? " (pending)" : "");
    }
    return CMD_OK;
}

int cmd_trace_get(cli *c, int argc, char **argv)
{
    char *pos[2];
    int np;
    inmem_run_id rb, id;
    const inmem_run_id *run;
    if (cli_args(c, "trace get", argc, argv, NULL, 2, 2, pos, &np) ||
        cli_run(c, pos[0], &rb, &run) || cli_span_id(c, pos[1], 0, &id))
        return CMD_ERR;
    inmem_txn *txn;
    int temp;
    if (cli_read_txn(c, &txn, &temp))
        return CMD_ERR;
    inmem_span sp;
    int rc = inmem_trace_get(txn, run, &id, &sp);
    if (rc == 0)
        print_span(c, run, &sp, -1);
    cli_read_done(txn, temp);
    if (rc == INMEM_NOTFOUND)
        return cli_error(c, "trace get: no span %s in %s", pos[1], pos[0]);
    return rc ? cli_lib_error(c, rc, "trace get") : CMD_OK;
}

int cmd_trace_query(cli *c, int argc, char **argv)
{
    const char *kind, *parent, *tag, *from, *to, *limit_s;
    const cli_opt opts[] = {
        {"kind", 1, &kind, NULL, NULL, 0}, {"parent", 1, &parent, NULL, NULL, 0},
        {"tag", 1, &tag, NULL, NULL, 0},   {"from", 1, &from, NULL, NULL, 0},
        {"to", 1, &to, NULL, NULL, 0},     {"limit", 1, &limit_s, NULL, NULL, 0},
        {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[1];
    int np;
    inmem_run_id rb, par;
    const inmem_run_id *run;
    inmem_trace_filter f;
    memset(&f, 0, sizeof f);
    uint64_t limit = UINT64_MAX;
    if (cli_args(c, "trace query", argc, argv, opts, 1, 1, pos, &np) ||
        cli_run(c, pos[0], &rb, &run) || (kind && cli_kind(c, kind, &f.kind)) ||
        (parent && cli_span_id(c, parent, 1, &par)) ||
        (from && cli_time(c, "--from", from, &f.from_ms)) ||
        (to && cli_time(c, "--to", to, &f.to_ms)) ||
        (limit_s && cli_u64(c, "--limit", limit_s, &limit)) || cli_name(c, "--tag", tag))
        return CMD_ERR;
    if (parent)
        f.parent = &par;
    f.tag = tag;
    inmem_txn *txn;
    int temp;
    if (cli_read_txn(c, &txn, &temp))
        return CMD_ERR;
    inmem_span *page = malloc(64 * sizeof *page);
    inmem_run_id cursor;
    size_t n = 0;
    uint64_t count = 0;
    int rc = page ? 0 : INMEM_ENOMEM;
    while (!rc) {
        size_t want = limit - count < 64 ? (size_t)(limit - count) : 64;
        if (!want)
            break;
        if ((rc = inmem_trace_query(txn, run, &f, count ? &cursor : NULL, want, page, &n)) != 0)
            break;
        for (size_t i = 0; i < n; i++)
            print_span(c, run, &page[i], -1);
        count += n;
        if (n)
            cursor = page[n - 1].id;
        if (n < want)
            break;
    }
    free(page);
    cli_read_done(txn, temp);
    if (rc)
        return cli_lib_error(c, rc, "trace query");
    if (!c->json)
        printf("(%llu span%s)\n", (unsigned long long)count, count == 1 ? "" : "s");
    return CMD_OK;
}

int cmd_trace_tree(cli *c, int argc, char **argv)
{
    const char *limit_s;
    const cli_opt opts[] = {{"limit", 1, &limit_s, NULL, NULL, 0}, {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[2];
    int np;
    inmem_run_id rb, root;
    const inmem_run_id *run;
    uint64_t limit = 1000;
    if (cli_args(c, "trace tree", argc, argv, opts, 2, 2, pos, &np) ||
        cli_run(c, pos[0], &rb, &run) || cli_span_id(c, pos[1], 0, &root) ||
        (limit_s && cli_u64(c, "--limit", limit_s, &limit)))
        return CMD_ERR;
    if (limit == 0 || limit > 1000000)
        return cli_error(c, "trace tree: --limit must be 1 to 1000000");
    inmem_txn *txn;
    int temp;
    if (cli_read_txn(c, &txn, &temp))
        return CMD_ERR;
    /* room for what the tree holds, not for the limit (a million spans are 1.2 GB): a tree
     * that fills the room is read again (same snapshot) with twice as much, up to the limit */
    size_t room = limit < 1024 ? (size_t)limit : 1024, n = 0;
    inmem_span *sp = NULL;
    int rc;
    for (;;) {
        inmem_span *g = realloc(sp, room * sizeof *sp);
        if (!g) {
            rc = INMEM_ENOMEM;
            break;
        }
        sp = g;
        rc = inmem_trace_tree(txn, run, &root, room, sp, &n);
        if (rc || n < room || room >= limit)
            break;
        room = room > limit / 2 ? (size_t)limit : 2 * room;
    }
    /* The tree comes depth first: a span's parent is on the path from the root to the span
     * before it, held as a stack of indexes (its height is the next span's depth), so the depths
     * take one pass, not a scan back through every earlier span for each (a million spans). */
    size_t *path = NULL, top = 0;
    if (!rc && !(path = malloc((n ? n : 1) * sizeof *path)))
        rc = INMEM_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        while (top && memcmp(&sp[path[top - 1]].id, &sp[i].parent, sizeof root) != 0)
            top--;
        print_span(c, run, &sp[i], (int)top);
        path[top++] = i;
    }
    free(path);
    cli_read_done(txn, temp);
    free(sp);
    if (rc == INMEM_NOTFOUND)
        return cli_error(c, "trace tree: no span %s in %s", pos[1], pos[0]);
    if (rc)
        return cli_lib_error(c, rc, "trace tree");
    if (n == limit)
        cli_warn(c, "the tree may have more than %llu spans: use --limit",
                 (unsigned long long)limit);
    return CMD_OK;
}
