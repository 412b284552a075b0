/*
 * load.c — `load`: reads a dump (the JSON-lines format described in dump.c) and writes it into
 * the database through transactions.
 *
 * Records are parsed one line at a time with jansson and applied in batches of up to 500 records
 * (or 4 MiB of input), each batch one closure transaction (inmem_db_transact(), so a conflict
 * re-runs the batch; the records are kept until it commits). A run record begins the run with
 * its id, parent, namespace and tags, then moves it to its status (an archived run through
 * "completed"); a run that exists already is an error, and a parent missing from this database
 * is dropped with a warning (moving one run between databases). kv records are put, event
 * records appended (the sequence number they get must be the dump's: a stream that already had
 * events is an error), span records recorded with their ids. The header must come first and
 * the end record last, with the right count: a truncated dump is refused. A failure stops the
 * load; the batches before it stay committed.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#define BATCH_RECORDS 500
#define BATCH_BYTES   (4u << 20)

struct loader {
    cli *c;
    json_t **batch;
    size_t *lines; /* line number of each record of the batch */
    size_t n, bytes;
    uint64_t records, runs, committed;
    char err[600]; /* the first error of the batch */
};

static int bad(struct loader *l, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct loader *l, size_t line, const char *fmt, ...)
{
    int n = snprintf(l->err, sizeof l->err, "line %zu: ", line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err + n, sizeof l->err - (size_t)n, fmt, ap);
    va_end(ap);
    return INMEM_EINVAL;
}

static int parse_status(const char *s, inmem_run_status *out)
{
    for (int i = INMEM_RUN_ACTIVE; s && i <= INMEM_RUN_ARCHIVED; i++)
        if (strcmp(s, cli_status_name((inmem_run_status)i)) == 0) {
            *out = (inmem_run_status)i;
            return 0;
        }
    return -1;
}

static int parse_kind(const char *s, inmem_trace_kind *out)
{
    for (int i = INMEM_TRACE_TOOL_CALL; s && i <= INMEM_TRACE_CUSTOM; i++)
        if (strcmp(s, cli_kind_name((inmem_trace_kind)i)) == 0) {
            *out = (inmem_trace_kind)i;
            return 0;
        }
    return -1;
}

static int lib_bad(struct loader *l, size_t line, const char *what, int rc)
{
    char msg[300];
    snprintf(msg, sizeof msg, "%s: %s", what, cli_lib_message(l->c, rc));
    snprintf(l->err, sizeof l->err, "line %zu: %s", line, msg);
    return rc;
}

static const char *str(json_t *o, const char *field)
{
    json_t *v = json_object_get(o, field);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int get_run(json_t *o, const char *field, inmem_run_id *buf, const inmem_run_id **out)
{
    const char *s = str(o, field);
    if (!s)
        return -1;
    if (strcmp(s, "shared") == 0) {
        *out = NULL;
        return 0;
    }
    if (inmem_run_id_parse(s, buf))
        return -1;
    *out = inmem_run_id_is_shared(buf) ? NULL : buf;
    return 0;
}

/* An unsigned number: a JSON integer, or a decimal string (above INT64_MAX, see json_u64). */
static int get_u64(json_t *o, const char *field, uint64_t *out)
{
    json_t *v = json_object_get(o, field);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        unsigned long long n = strtoull(s, &end, 10);
        if (!isdigit((unsigned char)s[0]) || *end || errno)
            return -1;
        *out = (uint64_t)n;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_tags(json_t *o, char (*tags)[INMEM_NAME_MAX], const char **ptrs, size_t *n)
{
    json_t *a = json_object_get(o, "tags");
    *n = 0;
    if (!a)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > INMEM_MAX_TAGS)
        return -1;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *t = json_array_get(a, i);
        if (!json_is_string(t) || json_string_length(t) >= INMEM_NAME_MAX)
            return -1;
        strcpy(tags[i], json_string_value(t));
        if (ptrs)
            ptrs[i] = tags[i];
    }
    *n = json_array_size(a);
    return 0;
}

static int load_run(struct loader *l, inmem_txn *txn, json_t *o, size_t line)
{
    inmem_run_id id, parent;
    const inmem_run_id *r, *p = NULL;
    inmem_run_status st = INMEM_RUN_ACTIVE;
    char tags[INMEM_MAX_TAGS][INMEM_NAME_MAX];
    const char *tagp[INMEM_MAX_TAGS];
    inmem_run_options ro;
    inmem_run_options_init(&ro);
    const char *status = str(o, "status");
    if (get_run(o, "run", &id, &r) || !r)
        return bad(l, line, "a run record needs \"run\": a run id");
    if (parse_status(status, &st))
        return bad(l, line, "bad \"status\"");
    json_t *pj = json_object_get(o, "parent");
    if (pj && !json_is_null(pj) && get_run(o, "parent", &parent, &p))
        return bad(l, line, "bad \"parent\"");
    if (get_tags(o, tags, tagp, &ro.ntags))
        return bad(l, line, "bad \"tags\"");
    inmem_run_info ri;
    int rc = inmem_run_get(txn, &id, &ri);
    if (rc == 0)
        return bad(l, line, "run %s already exists in this database (run delete it first)",
                   str(o, "run"));
    if (rc != INMEM_NOTFOUND)
        return lib_bad(l, line, "run", rc);
    if (p && (rc = inmem_run_get(txn, p, &ri)) == INMEM_NOTFOUND) {
        if (!json_object_get(o, "_warned"))
            cli_warn(l->c,
                     "line %zu: parent %s of run %s is not in this database: loaded "
                     "without a parent",
                     line, str(o, "parent"), str(o, "run"));
        json_object_set_new(o, "_warned", json_true());
        p = NULL;
    } else if (p && rc) {
        return lib_bad(l, line, "run", rc);
    }
    ro.id = &id;
    ro.parent = p;
    ro.tenant = str(o, "tenant");
    ro.app = str(o, "app");
    ro.agent = str(o, "agent");
    ro.tags = tagp;
    if ((rc = inmem_run_begin(txn, &ro, NULL)) != 0)
        return lib_bad(l, line, "run begin", rc);
    if (st == INMEM_RUN_ARCHIVED && (rc = inmem_run_end(txn, &id, INMEM_RUN_COMPLETED)) != 0)
        return lib_bad(l, line, "run end", rc);
    if (st != INMEM_RUN_ACTIVE && (rc = inmem_run_end(txn, &id, st)) != 0)
        return lib_bad(l, line, "run end", rc);
    return 0;
}

static int load_kv(struct loader *l, inmem_txn *txn, json_t *o, size_t line)
{
    inmem_run_id id;
    const inmem_run_id *r;
    char *key = NULL, *val = NULL;
    size_t klen, vlen;
    if (get_run(o, "run", &id, &r))
        return bad(l, line, "a kv record needs \"run\"");
    if (json_get_bytes(o, "key", &key, &klen) != 1 ||
        json_get_bytes(o, "value", &val, &vlen) != 1) {
        free(key);
        return bad(l, line, "a kv record needs \"key\" and \"value\" (or their _b64 forms)");
    }
    int rc = inmem_kv_put(txn, r, key, klen, val, vlen);
    free(key);
    free(val);
    return rc ? lib_bad(l, line, "kv put", rc) : 0;
}

static int load_state(struct loader *l, inmem_txn *txn, json_t *o, size_t line)
{
    inmem_run_id id;
    const inmem_run_id *r;
    const char *name = str(o, "name");
    char *val = NULL;
    size_t vlen;
    if (get_run(o, "run", &id, &r) || !name)
        return bad(l, line, "a state record needs \"run\" and \"name\"");
    if (json_get_bytes(o, "value", &val, &vlen) != 1)
        return bad(l, line, "a state record needs \"value\" (or \"value_b64\")");
    int rc = inmem_state_set(txn, r, name, val, vlen);
    free(val);
    return rc ? lib_bad(l, line, "state set", rc) : 0;
}

static int load_event(struct loader *l, inmem_txn *txn, json_t *o, size_t line)
{
    inmem_run_id id;
    const inmem_run_id *r;
    const char *stream = str(o, "stream"), *type = str(o, "type");
    uint64_t seq, got;
    char *payload = NULL;
    size_t plen;
    if (get_run(o, "run", &id, &r) || !stream || !type || get_u64(o, "seq", &seq) ||
        json_get_bytes(o, "payload", &payload, &plen) != 1)
        return bad(l, line, "an event record needs run, stream, seq, type and payload");
    int rc = inmem_event_append(txn, r, stream, type, payload, plen, &got);
    free(payload);
    if (rc)
        return lib_bad(l, line, "event append", rc);
    if (got != seq) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "stream %s: the event took seq %llu, the dump says %llu (the "
                 "stream already had events)",
                 stream, (unsigned long long)got, (unsigned long long)seq);
        return bad(l, line, "%s", msg);
    }
    return 0;
}

static int load_span(struct loader *l, inmem_txn *txn, json_t *o, size_t line)
{
    inmem_run_id id;
    const inmem_run_id *r, *sid, *par = NULL;
    inmem_span s;
    memset(&s, 0, sizeof s);
    const char *kind = str(o, "kind"), *name = str(o, "name");
    char *in = NULL, *out = NULL;
    json_t *conf = json_object_get(o, "confidence"), *pj = json_object_get(o, "parent");
    if (get_run(o, "run", &id, &r) || get_run(o, "span", &s.id, &sid) || !sid || !kind || !name ||
        strlen(name) >= INMEM_NAME_MAX || parse_kind(kind, &s.kind) ||
        get_u64(o, "start_ms", &s.start_ms) || get_u64(o, "duration_us", &s.duration_us) ||
        (pj && !json_is_null(pj) && get_run(o, "parent", &s.parent, &par)) ||
        get_tags(o, s.tags, NULL, &s.ntags))
        return bad(l, line,
                   "bad span record (run, span, kind, name, start_ms, duration_us, "
                   "parent, tags)");
    if (!par)
        memset(&s.parent, 0, sizeof s.parent);
    strcpy(s.name, name);
    if (!conf || json_is_null(conf))
        s.confidence = NAN;
    else if (json_is_number(conf))
        s.confidence = json_number_value(conf);
    else if (json_is_string(conf) && strcmp(json_string_value(conf), "inf") == 0)
        s.confidence = INFINITY;
    else if (json_is_string(conf) && strcmp(json_string_value(conf), "-inf") == 0)
        s.confidence = -INFINITY;
    else
        return bad(l, line, "bad \"confidence\"");
    if (json_get_bytes(o, "input", &in, &s.input_len) < 0 ||
        json_get_bytes(o, "output", &out, &s.output_len) < 0) {
        free(in);
        return bad(l, line, "bad \"input\" or \"output\"");
    }
    if (!in)
        s.input_len = 0;
    if (!out)
        s.output_len = 0;
    s.input = in;
    s.output = out;
    int rc = inmem_trace_record(txn, r, &s, NULL);
    free(in);
    free(out);
    return rc ? lib_bad(l, line, "trace record", rc) : 0;
}

static int apply_batch(inmem_txn *txn, void *arg)
{
    struct loader *l = arg;
    for (size_t i = 0; i < l->n; i++) {
        json_t *o = l->batch[i];
        const char *type = str(o, "record");
        int rc;
        if (strcmp(type, "run") == 0)
            rc = load_run(l, txn, o, l->lines[i]);
        else if (strcmp(type, "kv") == 0)
            rc = load_kv(l, txn, o, l->lines[i]);
        else if (strcmp(type, "state") == 0)
            rc = load_state(l, txn, o, l->lines[i]);
        else if (strcmp(type, "event") == 0)
            rc = load_event(l, txn, o, l->lines[i]);
        else
            rc = load_span(l, txn, o, l->lines[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int flush_batch(struct loader *l)
{
    int rc = 0;
    if (l->n) {
        l->err[0] = '\0';
        cli_mark_errmsg(l->c);
        rc = inmem_db_transact(l->c->db, NULL, apply_batch, l);
        if (rc && !l->err[0])
            snprintf(l->err, sizeof l->err, "commit of lines %zu-%zu: %s", l->lines[0],
                     l->lines[l->n - 1], cli_lib_message(l->c, rc));
        if (!rc) {
            for (size_t i = 0; i < l->n; i++)
                l->runs += strcmp(str(l->batch[i], "record"), "run") == 0;
            l->committed += l->n;
        }
    }
    for (size_t i = 0; i < l->n; i++)
        json_decref(l->batch[i]);
    l->n = l->bytes = 0;
    return rc;
}

int cmd_load(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    if (cli_args(c, "load", argc, argv, NULL, 0, 1, pos, &np))
        return CMD_ERR;
    const char *path = np && strcmp(pos[0], "-") != 0 ? pos[0] : NULL;
    if (!path && (c->interactive || c->stdin_commands))
        return cli_error(c, "load: give a FILE (standard input holds the commands)");
    FILE *f = path ? fopen(path, "r") : stdin;
    if (!f)
        return cli_error(c, "load: cannot read %s: %m", path);
    struct loader l;
    memset(&l, 0, sizeof l);
    l.c = c;
    l.batch = malloc(BATCH_RECORDS * sizeof *l.batch);
    l.lines = malloc(BATCH_RECORDS * sizeof *l.lines);
    struct stat st;
    uint64_t total =
        path && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    progress p;
    progress_start(&p, c, "load", total);
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    uint64_t consumed = 0;
    ssize_t len;
    int state = 0; /* 0 before the header, 1 in the body, 2 after the end record */
    int failed = !l.batch || !l.lines;
    if (failed)
        snprintf(l.err, sizeof l.err, "out of memory");
    while (!failed && (len = getline(&line, &cap, f)) > 0) {
        lineno++;
        consumed += (uint64_t)len;
        progress_update(&p, consumed);
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)len, 0, &jerr);
        const char *type = o ? str(o, "record") : NULL;
        if (!o || !json_is_object(o) || !type) {
            if (o)
                snprintf(l.err, sizeof l.err, "line %zu: not a dump record", lineno);
            else
                snprintf(l.err, sizeof l.err, "line %zu: bad JSON: %s", lineno, jerr.text);
            json_decref(o);
            failed = 1;
            break;
        }
        if (state == 0) {
            json_t *fv = json_object_get(o, "format_version");
            const char *fmt = str(o, "format");
            if (strcmp(type, "header") || !fmt || strcmp(fmt, "inmem-dump") ||
                !json_is_integer(fv) || json_integer_value(fv) != 1) {
                snprintf(l.err, sizeof l.err,
                         "line %zu: not an inmem dump (format_version 1) header", lineno);
                failed = 1;
            }
            state = 1;
            json_decref(o);
            if (failed)
                break;
            continue;
        }
        if (state == 2) {
            snprintf(l.err, sizeof l.err, "line %zu: a record after the end record", lineno);
            json_decref(o);
            failed = 1;
            break;
        }
        if (strcmp(type, "end") == 0) {
            uint64_t n;
            failed = get_u64(o, "records", &n) != 0 || n != l.records;
            if (failed)
                snprintf(l.err, sizeof l.err,
                         "line %zu: the end record counts %s records, the dump has %llu", lineno,
                         json_is_integer(json_object_get(o, "records")) ? "other" : "no",
                         (unsigned long long)l.records);
            json_decref(o);
            state = 2;
            continue;
        }
        if (strcmp(type, "run") && strcmp(type, "kv") && strcmp(type, "state") &&
            strcmp(type, "event") && strcmp(type, "span")) {
            snprintf(l.err, sizeof l.err, "line %zu: unknown record \"%.40s\"", lineno, type);
            json_decref(o);
            failed = 1;
            break;
        }
        l.records++;
        l.lines[l.n] = lineno;
        l.batch[l.n++] = o;
        l.bytes += (size_t)len;
        if ((l.n == BATCH_RECORDS || l.bytes >= BATCH_BYTES) && flush_batch(&l))
            failed = 1;
    }
    if (!failed && ferror(f)) {
        snprintf(l.err, sizeof l.err, "read error on %s", path ? path : "standard input");
        failed = 1;
    }
    if (!failed && flush_batch(&l))
        failed = 1;
    if (!failed && state != 2) {
        snprintf(l.err, sizeof l.err, "%s ends without its end record (truncated?)",
                 state ? "the dump" : "the input (empty)");
        failed = 1;
    }
    for (size_t i = 0; i < l.n; i++)
        json_decref(l.batch[i]);
    progress_end(&p);
    free(line);
    free(l.batch);
    free(l.lines);
    if (path)
        fclose(f);
    if (failed)
        return cli_error(c, "load: %s%s", l.err,
                         l.committed ? " (the batches before it were committed)" : "");
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "records", json_u64(l.records));
        json_object_set_new(o, "runs", json_u64(l.runs));
        out_json(o);
    } else {
        printf("loaded %llu records (%llu run%s)\n", (unsigned long long)l.records,
               (unsigned long long)l.runs, l.runs == 1 ? "" : "s");
    }
    return CMD_OK;
}
