/*
 * dump.c — `dump` and `load`: the whole database, or one run, as JSON lines (one JSON object a
 * line), for backups and for moving runs between machines.
 *
 * Format (format_version 1). Every line has a "record" member:
 *   header  {"record":"header","format":"inmem-dump","format_version":1,"inmem":"0.1.0",
 *            "scope":"database"|"run","run":ID (scope run),"db_version":N,"time_ms":MS}
 *   run     {"record":"run","run":ID,"status":"completed","parent":ID|null,"tenant":S,"app":S,
 *            "agent":S,"tags":[S...],"created_ms":MS,"ended_ms":MS}
 *   kv      {"record":"kv","run":ID|"shared","key":S,"value":S,"expire_at_ms":MS,"version":N}
 *   state   {"record":"state","run":ID|"shared","name":S,"value":S,"version":N}
 *   event   {"record":"event","run":R,"stream":S,"seq":N,"type":S,"payload":S,"time_ms":MS,
 *            "prev_hash":HEX,"hash":HEX}
 *   span    {"record":"span","run":R,"span":ID,"parent":ID|null,"kind":K,"name":S,"input":S,
 *            "output":S,"confidence":X|null|"inf"|"-inf","start_ms":MS,"duration_us":N,
 *            "tags":[S...]}
 *   end     {"record":"end","records":N}   (N: the records between header and end)
 * Every byte string — keys, values, payloads, inputs, outputs, and the names (stream, type,
 * cell, span name, tenant, app, agent, tags), which are bytes to the API too — is written as a
 * JSON string if it is UTF-8 without NUL, else as "<field>_b64" (base64; for tags, "tags_b64"
 * holds every tag in base64), so that every byte survives. expire_at_ms (absolute Unix ms) is
 * there only for a key with a TTL.
 *
 * Order: the shared scope's data first, then each begun run followed by its data, parents
 * before their children, then the data of run ids that hold data but were never begun as runs
 * (no run record: inmem_run_list_stored()). Within a scope: keys in key order, then state cells
 * in name order, then each stream's events in sequence order, then spans in start order. A dump
 * reads everything in one read transaction: it is one consistent snapshot.
 *
 * Event chains: every stream's hash chain is verified before it is dumped. A broken chain is
 * dumped as stored (its stored hashes included, so the evidence survives), with a warning, and
 * the dump then fails (exit status 1); load refuses such a stream, as it checks every dumped
 * hash (load.c).
 *
 * What a load reproduces: runs (id, parent, namespace, tags, status; an archived run passes
 * through "completed"), keys and values with their expiry, state cells, events (type, payload,
 * seq), spans (everything, ids included). What it cannot, through the public API: versions (a
 * load commits new ones), run times (begin and end happen now), event times and therefore their
 * hashes (an append takes the current time). Those fields are informational; --canonical leaves
 * them out so that the dumps of two databases with the same content are byte for byte equal (a
 * canonical dump therefore carries no hashes for load to check).
 *
 * load.c reads this format back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define PAGE 256

/* ---- dump -------------------------------------------------------------------------------- */

struct dumper {
    cli *c;
    FILE *f;
    int canonical;
    inmem_txn *txn;
    uint64_t records;
    uint64_t broken; /* streams whose hash chain does not verify */
    int io_error;
};

static void emit(struct dumper *d, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s || fputs(s, d->f) == EOF || fputc('\n', d->f) == EOF)
        d->io_error = 1;
    free(s);
}

static json_t *record(const char *type, const inmem_run_id *run)
{
    json_t *o = json_object();
    json_object_set_new(o, "record", json_string(type));
    json_object_set_new(o, "run", json_run(run));
    return o;
}

static int dump_kv(struct dumper *d, const inmem_run_id *run)
{
    inmem_kv_entry kv[PAGE];
    const void *after = NULL;
    size_t alen = 0, n;
    int rc;
    do {
        if ((rc = inmem_kv_list(d->txn, run, NULL, 0, after, alen, PAGE, kv, &n)) != 0)
            return rc;
        for (size_t i = 0; i < n; i++) {
            json_t *o = record("kv", run);
            uint64_t expire_at = 0;
            if ((rc = inmem_kv_get_expiry(d->txn, run, kv[i].key, kv[i].klen, &expire_at)) != 0) {
                json_decref(o);
                return rc;
            }
            out_set_bytes(o, "key", kv[i].key, kv[i].klen);
            out_set_bytes(o, "value", kv[i].val, kv[i].vlen);
            if (expire_at)
                json_object_set_new(o, "expire_at_ms", json_u64(expire_at));
            if (!d->canonical)
                json_object_set_new(o, "version", json_u64(kv[i].version));
            emit(d, o);
            d->records++;
        }
        if (n)
            after = kv[n - 1].key, alen = kv[n - 1].klen;
    } while (n == PAGE);
    return 0;
}

static int dump_state(struct dumper *d, const inmem_run_id *run)
{
    inmem_state_entry cells[PAGE];
    char after[INMEM_NAME_MAX] = "";
    size_t n;
    int rc;
    do {
        if ((rc = inmem_state_list(d->txn, run, after[0] ? after : NULL, PAGE, cells, &n)) != 0)
            return rc;
        for (size_t i = 0; i < n; i++) {
            json_t *o = record("state", run);
            out_set_name(o, "name", cells[i].name);
            out_set_bytes(o, "value", cells[i].val, cells[i].len);
            if (!d->canonical)
                json_object_set_new(o, "version", json_u64(cells[i].version));
            emit(d, o);
            d->records++;
        }
        if (n)
            memcpy(after, cells[n - 1].name, sizeof after);
    } while (n == PAGE);
    return 0;
}

static int dump_stream(struct dumper *d, const inmem_run_id *run, const char *stream,
                       inmem_event *ev)
{
    char id[INMEM_RUN_ID_STRLEN + 1];
    uint64_t from = 1, broken = 0;
    size_t n;
    int rc = inmem_event_verify(d->txn, run, stream, &broken);
    if (rc)
        return rc;
    if (broken) {
        d->broken++;
        cli_warn(d->c, "%s: stream %s: hash chain BROKEN at seq %llu: dumped as stored%s",
                 fmt_run(run, id), clips(stream), (unsigned long long)broken,
                 d->canonical ? " (without hashes: --canonical)"
                              : ", with its stored hashes (load will refuse it)");
    }
    do {
        rc = inmem_event_range(d->txn, run, stream, from, 0, 0, PAGE, ev, &n);
        if (rc == INMEM_ECORRUPT && broken) { /* a missing or undecodable event: stop there */
            cli_warn(d->c, "%s: stream %s: event %llu and later cannot be read: not dumped",
                     fmt_run(run, id), clips(stream), (unsigned long long)from);
            return 0;
        }
        if (rc)
            return rc;
        for (size_t i = 0; i < n; i++) {
            json_t *o = record("event", run);
            out_set_name(o, "stream", stream);
            json_object_set_new(o, "seq", json_u64(ev[i].seq));
            out_set_name(o, "type", ev[i].type);
            out_set_bytes(o, "payload", ev[i].payload, ev[i].payload_len);
            if (!d->canonical) {
                json_object_set_new(o, "time_ms", json_u64(ev[i].time_ms));
                json_object_set_new(o, "prev_hash", json_hash(ev[i].prev_hash));
                json_object_set_new(o, "hash", json_hash(ev[i].hash));
            }
            emit(d, o);
            d->records++;
        }
        if (n)
            from = ev[n - 1].seq + 1;
    } while (n == PAGE);
    return 0;
}

static int dump_events(struct dumper *d, const inmem_run_id *run)
{
    char(*names)[INMEM_NAME_MAX] = malloc(64 * sizeof *names);
    inmem_event *ev = malloc(PAGE * sizeof *ev);
    char last[INMEM_NAME_MAX] = "";
    size_t n;
    int rc = names && ev ? 0 : INMEM_ENOMEM;
    while (!rc) {
        if ((rc = inmem_event_streams(d->txn, run, last[0] ? last : NULL, 64, names, &n)) != 0)
            break;
        for (size_t i = 0; i < n && !rc; i++)
            rc = dump_stream(d, run, names[i], ev);
        if (n < 64)
            break;
        memcpy(last, names[n - 1], INMEM_NAME_MAX);
    }
    free(names);
    free(ev);
    return rc;
}

static int dump_spans(struct dumper *d, const inmem_run_id *run)
{
    static const inmem_run_id zero;
    inmem_span *sp = malloc(64 * sizeof *sp);
    inmem_run_id cursor;
    size_t n;
    uint64_t count = 0;
    int rc = sp ? 0 : INMEM_ENOMEM;
    while (!rc) {
        if ((rc = inmem_trace_query(d->txn, run, NULL, count ? &cursor : NULL, 64, sp, &n)) != 0)
            break;
        for (size_t i = 0; i < n; i++) {
            const inmem_span *s = &sp[i];
            json_t *o = record("span", run);
            json_object_set_new(o, "span", json_run(&s->id));
            json_object_set_new(o, "parent",
                                memcmp(&s->parent, &zero, sizeof zero) ? json_run(&s->parent)
                                                                       : json_null());
            json_object_set_new(o, "kind", json_string(cli_kind_name(s->kind)));
            out_set_name(o, "name", s->name);
            out_set_bytes(o, "input", s->input, s->input_len);
            out_set_bytes(o, "output", s->output, s->output_len);
            json_object_set_new(o, "confidence", json_confidence(s->confidence));
            json_object_set_new(o, "start_ms", json_u64(s->start_ms));
            json_object_set_new(o, "duration_us", json_u64(s->duration_us));
            out_set_tags(o, "tags", s->tags, s->ntags);
            emit(d, o);
            d->records++;
        }
        count += n;
        if (n)
            cursor = sp[n - 1].id;
        if (n < 64)
            break;
    }
    free(sp);
    return rc;
}

static int dump_scope(struct dumper *d, const inmem_run_id *run)
{
    int rc = dump_kv(d, run);
    if (!rc)
        rc = dump_state(d, run);
    if (!rc)
        rc = dump_events(d, run);
    if (!rc)
        rc = dump_spans(d, run);
    return rc;
}

static int dump_run(struct dumper *d, const inmem_run_id *run)
{
    inmem_run_info ri;
    int rc = inmem_run_get(d->txn, run, &ri);
    if (rc)
        return rc;
    json_t *o = record("run", run);
    json_object_set_new(o, "status", json_string(cli_status_name(ri.status)));
    json_object_set_new(o, "parent", ri.has_parent ? json_run(&ri.parent) : json_null());
    out_set_name(o, "tenant", ri.tenant);
    out_set_name(o, "app", ri.app);
    out_set_name(o, "agent", ri.agent);
    out_set_tags(o, "tags", ri.tags, ri.ntags);
    if (!d->canonical) {
        json_object_set_new(o, "created_ms", json_u64(ri.created_ms));
        json_object_set_new(o, "ended_ms", json_u64(ri.ended_ms));
    }
    emit(d, o);
    d->records++;
    return dump_scope(d, run);
}

/* Runs with their parents, for ordering parents first. */
struct node {
    inmem_run_id id, parent;
    int has_parent, state; /* 0 new, 1 queued or emitted */
};

static int cmp_node(const void *a, const void *b)
{
    return memcmp(&((const struct node *)a)->id, &((const struct node *)b)->id, 16);
}

static struct node *find_node(struct node *v, size_t n, const inmem_run_id *id)
{
    struct node key;
    key.id = *id;
    return bsearch(&key, v, n, sizeof *v, cmp_node);
}

/* Dumps every begun run, each after its parent (when the parent is in the database). */
static int dump_all_runs(struct dumper *d, const inmem_run_id *ids, size_t n, progress *p)
{
    struct node *v = calloc(n ? n : 1, sizeof *v);
    struct node **stack = malloc((n ? n : 1) * sizeof *stack);
    int rc = v && stack ? 0 : INMEM_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        inmem_run_info ri;
        if ((rc = inmem_run_get(d->txn, &ids[i], &ri)) != 0)
            break;
        v[i].id = ri.id;
        v[i].parent = ri.parent;
        v[i].has_parent = ri.has_parent;
    }
    if (!rc)
        qsort(v, n, sizeof *v, cmp_node); /* by id: oldest first for generated ids */
    uint64_t done = 1;
    for (size_t i = 0; i < n && !rc && !d->io_error; i++) {
        size_t depth = 0;
        for (struct node *x = &v[i]; x && !x->state;) {
            x->state = 1;
            stack[depth++] = x;
            x = x->has_parent ? find_node(v, n, &x->parent) : NULL;
        }
        while (depth && !rc) {
            rc = dump_run(d, &stack[--depth]->id);
            progress_update(p, ++done);
        }
    }
    free(v);
    free(stack);
    return rc;
}

/* Dumps the data of the run ids among @p stored that were never begun (no run record). */
static int dump_never_begun(struct dumper *d, const inmem_run_id *stored, size_t n, uint64_t *count)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc && !d->io_error; i++) {
        inmem_run_info ri;
        rc = inmem_run_get(d->txn, &stored[i], &ri);
        if (rc == INMEM_NOTFOUND) {
            ++*count;
            rc = dump_scope(d, &stored[i]);
        }
    }
    return rc;
}

int cmd_dump(cli *c, int argc, char **argv)
{
    const char *run_s, *canon;
    const cli_opt opts[] = {{"run", 1, &run_s, NULL, NULL, 0},
                            {"canonical", 0, &canon, NULL, NULL, 0},
                            {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[1];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run = NULL;
    if (cli_args(c, "dump", argc, argv, opts, 0, 1, pos, &np) ||
        (run_s && cli_run(c, run_s, &rb, &run)))
        return CMD_ERR;
    const char *path = np && strcmp(pos[0], "-") != 0 ? pos[0] : NULL;
    struct dumper d;
    memset(&d, 0, sizeof d);
    d.c = c;
    d.canonical = canon != NULL;
    d.f = path ? fopen(path, "w") : stdout;
    if (!d.f) {
        const char *why = strerror(errno);
        return cli_error(c, "dump: cannot write %s: %s", fmt_path(path), why);
    }
    /* --as-of: the transaction reading the past that dispatch opened */
    int rc = c->as_of ? (d.txn = c->txn, 0) : inmem_txn_begin_readonly(c->db, &d.txn);
    if (rc) {
        if (path)
            fclose(d.f);
        return cli_lib_error(c, rc, "dump");
    }
    inmem_run_id *ids = NULL, *stored = NULL;
    size_t nids = 0, nstored = 0;
    uint64_t never = 0;
    int begun = 1; /* --run: the run was begun (else it only holds data) */
    if (!run_s) {
        rc = cli_all_runs(d.txn, &ids, &nids);
        if (!rc)
            rc = cli_stored_runs(d.txn, &stored, &nstored);
    } else if (run) { /* one run: it must exist, or at least hold data */
        rc = inmem_run_get(d.txn, run, &(inmem_run_info){0});
        if (rc == INMEM_NOTFOUND && (rc = cli_run_holds_data(d.txn, run)) >= 0) {
            begun = 0;
            rc = rc ? 0 : INMEM_NOTFOUND;
        }
    }

    progress p;
    progress_start(&p, c, "dump", nids + 1);
    if (!rc) {
        inmem_txn_info ti;
        inmem_txn_describe(d.txn, &ti);
        json_t *h = json_object();
        json_object_set_new(h, "record", json_string("header"));
        json_object_set_new(h, "format", json_string("inmem-dump"));
        json_object_set_new(h, "format_version", json_integer(1));
        json_object_set_new(h, "inmem", json_string(inmem_version_string()));
        json_object_set_new(h, "scope", json_string(run_s ? "run" : "database"));
        if (run_s)
            json_object_set_new(h, "run", json_run(run));
        if (!d.canonical) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            json_object_set_new(h, "db_version", json_u64(ti.start_version));
            json_object_set_new(
                h, "time_ms",
                json_u64((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u));
        }
        emit(&d, h);
        if (run && begun)
            rc = dump_run(&d, run);
        else
            rc = dump_scope(&d, run);
        progress_update(&p, 1);
        if (!rc && !run_s)
            rc = dump_all_runs(&d, ids, nids, &p);
        if (!rc && !run_s)
            rc = dump_never_begun(&d, stored, nstored, &never);
    }
    progress_end(&p);
    cli_read_done(d.txn, !c->as_of);
    free(ids);
    free(stored);
    if (!rc) {
        json_t *e = json_object();
        json_object_set_new(e, "record", json_string("end"));
        json_object_set_new(e, "records", json_u64(d.records));
        emit(&d, e);
    }
    if (fflush(d.f) != 0 || ferror(d.f))
        d.io_error = 1;
    if (path && fclose(d.f) != 0)
        d.io_error = 1;
    if (rc == INMEM_NOTFOUND && run)
        return cli_error(c, "dump: no run %s", run_s);
    if (rc)
        return cli_lib_error(c, rc, "dump");
    if (d.io_error)
        return cli_error(c, "dump: write error on %s", path ? fmt_path(path) : "standard output");
    size_t runs = run ? (size_t)begun : nids;
    if (path) {
        if (c->json) {
            json_t *o = json_object();
            json_object_set_new(o, "ok", json_boolean(!d.broken));
            out_set_name(o, "file", path);
            json_object_set_new(o, "records", json_u64(d.records));
            json_object_set_new(o, "runs", json_u64(runs));
            json_object_set_new(o, "never_begun_runs", json_u64(run ? (uint64_t)!begun : never));
            json_object_set_new(o, "broken_streams", json_u64(d.broken));
            out_json(o);
        } else {
            printf("dumped %llu records (%zu run%s", (unsigned long long)d.records, runs,
                   runs == 1 ? "" : "s");
            if (run ? !begun : never > 0)
                printf(", and the data of %llu run id%s never begun",
                       (unsigned long long)(run ? 1 : never), (run ? 1 : never) == 1 ? "" : "s");
            printf(") to %s\n", fmt_path(path));
        }
    }
    if (d.broken)
        return cli_error(c,
                         "dump: %llu event stream%s with a broken hash chain (see the warnings): "
                         "dumped as stored%s",
                         (unsigned long long)d.broken, d.broken == 1 ? "" : "s",
                         d.canonical ? "" : "; load will refuse it");
    return CMD_OK;
}
