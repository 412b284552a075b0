/*
 * prims.c — the agent primitives: runs, events, state cells and traces. A function whose
 * library call has both forms takes either a transaction or a database handle as its first
 * argument and calls the in-transaction form or the standalone _db form accordingly; the reads
 * that exist only in a transaction take a transaction (lib/ runs them in a read-only one when
 * called on the database).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

#define TARGET(v)                                                                                  \
    dbw *d;                                                                                        \
    txw *tx;                                                                                       \
    if (get_target(env, (v), &d, &tx))                                                             \
    return NULL

#define LIMIT_MAX (1u << 20)

static int get_limit(napi_env env, napi_value v, uint64_t dflt, size_t *out)
{
    uint64_t u;
    if (get_u64(env, v, dflt, &u, "limit"))
        return -1;
    if (u > LIMIT_MAX) {
        throw_msg(env, INMEM_EINVAL, "limit must be at most 2^20");
        return -1;
    }
    *out = (size_t)u;
    return 0;
}

/* ---- runs ---------------------------------------------------------------------------------- */

static const char *const status_names[] = {NULL,     "active",    "completed",
                                           "failed", "cancelled", "archived"};

static int get_status(napi_env env, napi_value v, int allow_any, inmem_run_status *out)
{
    if (!v)
        return -1; /* from get_prop(): a getter threw */
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (allow_any && (t == napi_undefined || t == napi_null)) {
        *out = 0;
        return 0;
    }
    if (t == napi_string) {
        char s[16];
        size_t n;
        napi_get_value_string_utf8(env, v, s, sizeof(s), &n);
        for (int i = 1; i <= 5; i++) {
            if (strcmp(s, status_names[i]) == 0) {
                *out = (inmem_run_status)i;
                return 0;
            }
        }
    }
    throw_msg(env, INMEM_EINVAL,
              "status must be 'active', 'completed', 'failed', 'cancelled' or 'archived'");
    return -1;
}

static napi_value run_info_obj(napi_env env, const inmem_run_info *ri)
{
    napi_value o = mk_obj(env);
    set_prop(env, o, "id", mk_run(env, &ri->id));
    set_prop(env, o, "parent", ri->has_parent ? mk_run(env, &ri->parent) : mk_null(env));
    set_prop(env, o, "status",
             mk_str(env, ri->status >= 1 && ri->status <= 5 ? status_names[ri->status] : "?"));
    set_u64(env, o, "createdMs", ri->created_ms);
    set_u64(env, o, "endedMs", ri->ended_ms);
    set_prop(env, o, "tenant", ri->tenant[0] ? mk_str(env, ri->tenant) : mk_null(env));
    set_prop(env, o, "app", ri->app[0] ? mk_str(env, ri->app) : mk_null(env));
    set_prop(env, o, "agent", ri->agent[0] ? mk_str(env, ri->agent) : mk_null(env));
    napi_value tags = mk_arr(env, ri->ntags);
    for (size_t i = 0; i < ri->ntags && i < INMEM_MAX_TAGS; i++)
        set_elem(env, tags, (uint32_t)i, mk_str(env, ri->tags[i]));
    set_prop(env, o, "tags", tags);
    return o;
}

/* A list of strings (tags): at most INMEM_MAX_TAGS + 1 of them are read, so that one too many
 * reaches the library and gets its INMEM_EINVAL. */
typedef struct strlist {
    jsbytes b[INMEM_MAX_TAGS + 1];
    const char *p[INMEM_MAX_TAGS + 1];
    size_t n;
} strlist;

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        jsbytes_free(&l->b[i]);
    l->n = 0;
}

static int get_strlist(napi_env env, napi_value v, strlist *l, const char *what)
{
    l->n = 0;
    if (!v)
        return -1; /* from get_prop(): a getter threw */
    if (is_nullish(env, v))
        return 0;
    bool is;
    napi_is_array(env, v, &is);
    if (!is) {
        throw_msg(env, INMEM_EINVAL, "tags must be an array of strings");
        return -1;
    }
    uint32_t n;
    napi_get_array_length(env, v, &n);
    if (n > INMEM_MAX_TAGS + 1)
        n = INMEM_MAX_TAGS + 1;
    for (uint32_t i = 0; i < n; i++) {
        napi_value e;
        if (napi_get_element(env, v, i, &e) != napi_ok)
            e = NULL; /* a getter threw */
        if (get_str(env, e, &l->b[i], what)) {
            strlist_free(l);
            return -1;
        }
        l->p[i] = l->b[i].p;
        l->n = i + 1;
    }
    return 0;
}

/* A run's options object, parsed into inmem_run_options (the strings it points to are held
 * here: never copy a runopts once parsed). */
typedef struct runopts {
    inmem_run_options ro;
    inmem_run_id id, parent;
    jsbytes tenant, app, agent;
    strlist tags;
} runopts;

static void runopts_free(runopts *r)
{
    jsbytes_free(&r->tenant);
    jsbytes_free(&r->app);
    jsbytes_free(&r->agent);
    strlist_free(&r->tags);
}

/* {id, parent, tenant, app, agent, tags, history, historyMs, historyVersions}: 0, or -1 with an
 * exception pending (and nothing held). `history` defaults to true when historyMs or
 * historyVersions is given. */
static int get_runopts(napi_env env, napi_value o, runopts *r)
{
    memset(r, 0, sizeof(*r));
    inmem_run_options_init(&r->ro);
    napi_valuetype t;
    napi_typeof(env, o, &t);
    if (t != napi_undefined && t != napi_null && t != napi_object) {
        throw_msg(env, INMEM_EINVAL, "options must be an object");
        return -1;
    }
    const inmem_run_id *idp, *pp;
    uint64_t hv;
    napi_value hms = get_prop(env, o, "historyMs"), hvs = get_prop(env, o, "historyVersions");
    if (get_run(env, get_prop(env, o, "id"), &r->id, &idp, "options.id") ||
        get_run(env, get_prop(env, o, "parent"), &r->parent, &pp, "options.parent") ||
        get_u64(env, hms, 0, &r->ro.history_ms, "options.historyMs") ||
        get_u64(env, hvs, 0, &hv, "options.historyVersions"))
        return -1;
    if (hv > UINT32_MAX) {
        throw_msg(env, INMEM_EINVAL, "options.historyVersions must be a 32-bit count");
        return -1;
    }
    r->ro.history_versions = (uint32_t)hv;
    int given = !is_nullish(env, hms) || !is_nullish(env, hvs), h;
    if (get_bool(env, get_prop(env, o, "history"), given, &h))
        return -1;
    r->ro.history = h;
    if (get_str_opt(env, get_prop(env, o, "tenant"), &r->tenant, "options.tenant"))
        return -1;
    if (get_str_opt(env, get_prop(env, o, "app"), &r->app, "options.app") ||
        get_str_opt(env, get_prop(env, o, "agent"), &r->agent, "options.agent") ||
        get_strlist(env, get_prop(env, o, "tags"), &r->tags, "a tag")) {
        runopts_free(r);
        return -1;
    }
    r->ro.id = idp;
    r->ro.parent = pp;
    r->ro.tenant = r->tenant.p;
    r->ro.app = r->app.p;
    r->ro.agent = r->agent.p;
    r->ro.tags = r->tags.p;
    r->ro.ntags = r->tags.n;
    return 0;
}

/* runBegin(h, {id, parent, tenant, app, agent, tags, history, historyMs, historyVersions})
 *   -> id */
static napi_value run_begin(napi_env env, napi_callback_info info)
{
    ARGS(2);
    TARGET(argv[0]);
    runopts *r = malloc(sizeof(*r));
    if (!r)
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    if (get_runopts(env, argv[1], r)) {
        free(r);
        return NULL;
    }
    /* Reading the options may run user code (getters) that frees the transaction or closes the
     * database: check the target again once they are read. */
    if (get_target(env, argv[0], &d, &tx)) {
        runopts_free(r);
        free(r);
        return NULL;
    }
    inmem_run_id out;
    int rc = tx ? inmem_run_begin(tx->txn, &r->ro, &out) : inmem_run_begin_db(d->db, &r->ro, &out);
    runopts_free(r);
    free(r);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_run(env, &out);
}

/* runFork(h, parent, atVersion, options) -> the fork's id */
static napi_value run_fork(napi_env env, napi_callback_info info)
{
    ARGS(4);
    TARGET(argv[0]);
    inmem_run_id parent;
    uint64_t at;
    if (get_run_req(env, argv[1], &parent, "parent") || get_u64(env, argv[2], 0, &at, "at"))
        return NULL;
    runopts *r = malloc(sizeof(*r));
    if (!r)
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    if (get_runopts(env, argv[3], r)) {
        free(r);
        return NULL;
    }
    if (get_target(env, argv[0], &d, &tx)) { /* the options' getters may have ended it */
        runopts_free(r);
        free(r);
        return NULL;
    }
    inmem_run_id out;
    int rc = tx ? inmem_run_fork(tx->txn, &parent, at, &r->ro, &out)
                : inmem_run_fork_db(d->db, &parent, at, &r->ro, &out);
    runopts_free(r);
    free(r);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_run(env, &out);
}

/* runEnd(h, id, status) */
static napi_value run_end(napi_env env, napi_callback_info info)
{
    ARGS(3);
    TARGET(argv[0]);
    inmem_run_id id;
    inmem_run_status st;
    if (get_run_req(env, argv[1], &id, "run") || get_status(env, argv[2], 0, &st))
        return NULL;
    int rc = tx ? inmem_run_end(tx->txn, &id, st) : inmem_run_end_db(d->db, &id, st);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_undef(env);
}

/* runGet(h, id) -> info | undefined */
static napi_value run_get(napi_env env, napi_callback_info info)
{
    ARGS(2);
    TARGET(argv[0]);
    inmem_run_id id;
    if (get_run_req(env, argv[1], &id, "run"))
        return NULL;
    inmem_run_info ri;
    int rc = tx ? inmem_run_get(tx->txn, &id, &ri) : inmem_run_get_db(d->db, &id, &ri);
    if (rc == INMEM_NOTFOUND)
        return mk_undef(env);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return run_info_obj(env, &ri);
}

static int is_string_none(napi_env env, napi_value v)
{
    napi_valuetype t;
    if (!v || napi_typeof(env, v, &t) != napi_ok || t != napi_string)
        return 0;
    char s[16]; /* room for "none" and a character after it: the copy never splits one */
    size_t n;
    napi_get_value_string_utf8(env, v, s, sizeof(s), &n);
    return strcmp(s, "none") == 0;
}

/* The list reads go through read_grown(): each has a struct of its arguments and a function
 * that makes the call with the room it is given. */
typedef struct runs_read {
    inmem_txn *txn;
    inmem_db *db; /* the standalone form when txn is NULL */
    const inmem_run_filter *filter;
    const inmem_run_id *after;
} runs_read;

static int run_list_read(void *arg, size_t room, void *out, size_t *n)
{
    runs_read *a = arg;
    return a->txn ? inmem_run_list(a->txn, a->filter, a->after, room, out, n)
                  : inmem_run_list_db(a->db, a->filter, a->after, room, out, n);
}

static int run_list_stored_read(void *arg, size_t room, void *out, size_t *n)
{
    runs_read *a = arg;
    return inmem_run_list_stored(a->txn, a->after, room, out, n);
}

/* runList(h, {status, tag, parent, tenant, app, agent}, after, limit) -> [id] */
static napi_value run_list(napi_env env, napi_callback_info info)
{
    ARGS(4);
    TARGET(argv[0]);
    napi_value f = argv[1];
    napi_valuetype ft;
    napi_typeof(env, f, &ft);
    if (ft != napi_undefined && ft != napi_null && ft != napi_object)
        return throw_msg(env, INMEM_EINVAL, "filter must be an object");
    inmem_run_filter filter;
    memset(&filter, 0, sizeof(filter));
    inmem_run_id parent, after;
    const inmem_run_id *pp, *ap;
    size_t limit;
    jsbytes tag, tenant, app, agent;
    if (get_status(env, get_prop(env, f, "status"), 1, &filter.status) ||
        get_run(env, argv[2], &after, &ap, "after") || get_limit(env, argv[3], 100, &limit))
        return NULL;
    /* A parent of null means "any"; the string "none" asks for the runs without a parent. */
    static const inmem_run_id zero_id;
    napi_value pv = get_prop(env, f, "parent");
    if (is_string_none(env, pv))
        pp = &zero_id;
    else if (get_run(env, pv, &parent, &pp, "filter.parent"))
        return NULL;
    filter.parent = pp;
    if (get_str_opt(env, get_prop(env, f, "tag"), &tag, "filter.tag"))
        return NULL;
    if (get_str_opt(env, get_prop(env, f, "tenant"), &tenant, "filter.tenant")) {
        jsbytes_free(&tag);
        return NULL;
    }
    if (get_str_opt(env, get_prop(env, f, "app"), &app, "filter.app")) {
        jsbytes_free(&tag);
        jsbytes_free(&tenant);
        return NULL;
    }
    if (get_str_opt(env, get_prop(env, f, "agent"), &agent, "filter.agent")) {
        jsbytes_free(&tag);
        jsbytes_free(&tenant);
        jsbytes_free(&app);
        return NULL;
    }
    filter.tag = tag.p;
    filter.tenant = tenant.p;
    filter.app = app.p;
    filter.agent = agent.p;
    inmem_run_id *out = NULL;
    size_t n = 0;
    int rc = 0;
    /* The filter's getters may have freed the transaction or closed the database. */
    int gone = get_target(env, argv[0], &d, &tx);
    if (!gone) {
        runs_read ra = {tx ? tx->txn : NULL, tx ? NULL : d->db, &filter, ap};
        out = read_grown(limit, sizeof(*out), run_list_read, &ra, &n, &rc);
    }
    jsbytes_free(&tag);
    jsbytes_free(&tenant);
    jsbytes_free(&app);
    jsbytes_free(&agent);
    napi_value r = NULL;
    if (rc) {
        throw_rc(env, rc, NULL, NULL);
    } else if (!gone) {
        r = mk_arr(env, n);
        for (size_t i = 0; i < n; i++)
            set_elem(env, r, (uint32_t)i, mk_run(env, &out[i]));
    }
    free(out);
    return r;
}

/* runListStored(txn, after, limit) -> [id]: every run id with data, ascending */
static napi_value run_list_stored(napi_env env, napi_callback_info info)
{
    ARGS(3);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id after;
    const inmem_run_id *ap;
    size_t limit;
    if (get_run(env, argv[1], &after, &ap, "after") || get_limit(env, argv[2], 100, &limit))
        return NULL;
    size_t n;
    int rc;
    runs_read ra = {tx->txn, NULL, NULL, ap};
    inmem_run_id *out = read_grown(limit, sizeof(*out), run_list_stored_read, &ra, &n, &rc);
    napi_value r = NULL;
    if (rc) {
        throw_rc(env, rc, NULL, NULL);
    } else {
        r = mk_arr(env, n);
        for (size_t i = 0; i < n; i++)
            set_elem(env, r, (uint32_t)i, mk_run(env, &out[i]));
    }
    free(out);
    return r;
}

/* runDelete(h, id) */
static napi_value run_delete(napi_env env, napi_callback_info info)
{
    ARGS(2);
    TARGET(argv[0]);
    inmem_run_id id;
    if (get_run_req(env, argv[1], &id, "run"))
        return NULL;
    int rc = tx ? inmem_run_delete(tx->txn, &id) : inmem_run_delete_db(d->db, &id);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_undef(env);
}

/* ---- events -------------------------------------------------------------------------------- */

napi_value event_obj(napi_env env, const inmem_event *e)
{
    napi_value o = mk_obj(env);
    set_u64(env, o, "seq", e->seq);
    set_u64(env, o, "timeMs", e->time_ms);
    set_prop(env, o, "type", mk_str(env, e->type));
    set_prop(env, o, "payload", mk_buf(env, e->payload, e->payload_len));
    set_prop(env, o, "prevHash", mk_bigint(env, e->prev_hash));
    set_prop(env, o, "hash", mk_bigint(env, e->hash));
    return o;
}

static napi_value events_arr(napi_env env, const inmem_event *e, size_t n)
{
    napi_value r = mk_arr(env, n);
    for (size_t i = 0; i < n; i++)
        set_elem(env, r, (uint32_t)i, event_obj(env, &e[i]));
    return r;
}

/* run + stream: the common head of every event call. */
typedef struct evargs {
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes stream;
} evargs;

static int get_evargs(napi_env env, napi_value run, napi_value stream, evargs *a)
{
    if (get_run(env, run, &a->rid, &a->run, "run"))
        return -1;
    return get_str(env, stream, &a->stream, "stream");
}

/* eventAppend(h, run, stream, type, payload) -> seq */
static napi_value event_append(napi_env env, napi_callback_info info)
{
    ARGS(5);
    TARGET(argv[0]);
    evargs a;
    jsbytes type, payload;
    if (get_evargs(env, argv[1], argv[2], &a))
        return NULL;
    if (get_str(env, argv[3], &type, "type")) {
        jsbytes_free(&a.stream);
        return NULL;
    }
    if (get_bytes(env, argv[4], &payload, "payload")) {
        jsbytes_free(&a.stream);
        jsbytes_free(&type);
        return NULL;
    }
    uint64_t seq = 0;
    int rc =
        tx ? inmem_event_append(tx->txn, a.run, a.stream.p, type.p, payload.p, payload.n, &seq)
           : inmem_event_append_db(d->db, a.run, a.stream.p, type.p, payload.p, payload.n, &seq);
    jsbytes_free(&a.stream);
    jsbytes_free(&type);
    jsbytes_free(&payload);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_u64(env, seq);
}

/* eventAppendBatch(h, run, stream, [{type, payload}]) -> first seq */
static napi_value event_append_batch(napi_env env, napi_callback_info info)
{
    ARGS(4);
    TARGET(argv[0]);
    bool is;
    napi_is_array(env, argv[3], &is);
    if (!is)
        return throw_msg(env, INMEM_EINVAL, "events must be an array of {type, payload}");
    evargs a;
    if (get_evargs(env, argv[1], argv[2], &a))
        return NULL;
    /* Every event's fields first: reading them may run user code (getters), which may end the
     * transaction or detach an earlier payload's buffer; then their bytes, with nothing else
     * running until the append. Nothing is allocated by the array's length before its
     * elements are there (get_elements). */
    uint32_t n, got = 0;
    napi_value r = NULL, *fields = NULL, *el;
    inmem_event_in *in = NULL;
    keptbytes *bufs = NULL;
    if (get_elements(env, argv[3], BATCH_MAX, "events", is_object, "an object {type, payload}", &el,
                     &n)) {
        jsbytes_free(&a.stream);
        return NULL;
    }
    in = calloc(n ? n : 1, sizeof(*in));
    bufs = calloc(2 * (size_t)(n ? n : 1), sizeof(*bufs));
    fields = calloc(2 * (size_t)(n ? n : 1), sizeof(*fields));
    if (!in || !bufs || !fields) {
        throw_rc(env, INMEM_ENOMEM, NULL, NULL);
        goto cleanup;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!(fields[2 * i] = get_prop(env, el[i], "type")) ||
            !(fields[2 * i + 1] = get_prop(env, el[i], "payload")))
            goto cleanup; /* a getter threw */
    }
    for (; got < n; got++) {
        if (keep_bytes(env, fields[2 * got], &bufs[2 * got], 1, "event.type"))
            goto cleanup;
        if (keep_bytes(env, fields[2 * got + 1], &bufs[2 * got + 1], 0, "event.payload")) {
            keptbytes_free(&bufs[2 * got]);
            goto cleanup;
        }
        in[got].type = bufs[2 * got].p;
        in[got].payload = bufs[2 * got + 1].p;
        in[got].payload_len = bufs[2 * got + 1].n;
    }
    if (get_target(env, argv[0], &d, &tx))
        goto cleanup;
    uint64_t first = 0;
    int rc = tx ? inmem_event_append_batch(tx->txn, a.run, a.stream.p, n, in, &first)
                : inmem_event_append_batch_db(d->db, a.run, a.stream.p, n, in, &first);
    r = rc ? throw_rc(env, rc, NULL, NULL) : mk_u64(env, first);
cleanup:
    for (uint32_t i = 0; bufs && i < 2 * got; i++)
        keptbytes_free(&bufs[i]);
    free(el);
    free(fields);
    free(bufs);
    free(in);
    jsbytes_free(&a.stream);
    return r;
}

/* eventGet(txn, run, stream, seq) -> event | undefined */
static napi_value event_get(napi_env env, napi_callback_info info)
{
    ARGS(4);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    evargs a;
    uint64_t seq;
    if (get_u64(env, argv[3], 0, &seq, "seq") || get_evargs(env, argv[1], argv[2], &a))
        return NULL;
    inmem_event e;
    int rc = inmem_event_get(tx->txn, a.run, a.stream.p, seq, &e);
    jsbytes_free(&a.stream);
    if (rc == INMEM_NOTFOUND)
        return mk_undef(env);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return event_obj(env, &e);
}

typedef struct events_read {
    inmem_txn *txn;
    const inmem_run_id *run;
    const char *stream; /* a stream, or the cursor of a listing of streams */
    uint64_t from, to;
    int backward;
} events_read;

static int event_range_read(void *arg, size_t room, void *out, size_t *n)
{
    events_read *a = arg;
    return inmem_event_range(a->txn, a->run, a->stream, a->from, a->to, a->backward, room, out, n);
}

static int event_range_time_read(void *arg, size_t room, void *out, size_t *n)
{
    events_read *a = arg;
    return inmem_event_range_time(a->txn, a->run, a->stream, a->from, a->to, room, out, n);
}

static int event_streams_read(void *arg, size_t room, void *out, size_t *n)
{
    events_read *a = arg;
    return inmem_event_streams(a->txn, a->run, a->stream, room, out, n);
}

/* eventRange(txn, run, stream, fromSeq, toSeq, backward, limit) -> [event] */
static napi_value event_range(napi_env env, napi_callback_info info)
{
    ARGS(7);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    evargs a;
    uint64_t from, to;
    int back;
    size_t limit;
    if (get_u64(env, argv[3], 0, &from, "from") || get_u64(env, argv[4], 0, &to, "to") ||
        get_limit(env, argv[6], 1000, &limit))
        return NULL;
    get_bool(env, argv[5], 0, &back);
    if (get_evargs(env, argv[1], argv[2], &a))
        return NULL;
    size_t n;
    int rc;
    events_read ra = {tx->txn, a.run, a.stream.p, from, to, back};
    inmem_event *out = read_grown(limit, sizeof(*out), event_range_read, &ra, &n, &rc);
    jsbytes_free(&a.stream);
    napi_value r = rc ? throw_rc(env, rc, NULL, NULL) : events_arr(env, out, n);
    free(out);
    return r;
}

/* eventRangeTime(txn, run, stream, fromMs, toMs, limit) -> [event] */
static napi_value event_range_time(napi_env env, napi_callback_info info)
{
    ARGS(6);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    evargs a;
    uint64_t from, to;
    size_t limit;
    if (get_u64(env, argv[3], 0, &from, "fromMs") || get_u64(env, argv[4], 0, &to, "toMs") ||
        get_limit(env, argv[5], 1000, &limit))
        return NULL;
    if (get_evargs(env, argv[1], argv[2], &a))
        return NULL;
    size_t n;
    int rc;
    events_read ra = {tx->txn, a.run, a.stream.p, from, to, 0};
    inmem_event *out = read_grown(limit, sizeof(*out), event_range_time_read, &ra, &n, &rc);
    jsbytes_free(&a.stream);
    napi_value r = rc ? throw_rc(env, rc, NULL, NULL) : events_arr(env, out, n);
    free(out);
    return r;
}

/* eventInfo(h, run, stream) -> {length, headHash, firstMs, lastMs} */
static napi_value event_info(napi_env env, napi_callback_info info)
{
    ARGS(3);
    TARGET(argv[0]);
    evargs a;
    if (get_evargs(env, argv[1], argv[2], &a))
        return NULL;
    inmem_stream_info si;
    int rc = tx ? inmem_event_stream_info(tx->txn, a.run, a.stream.p, &si)
                : inmem_event_stream_info_db(d->db, a.run, a.stream.p, &si);
    jsbytes_free(&a.stream);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    napi_value o = mk_obj(env);
    set_u64(env, o, "length", si.length);
    set_prop(env, o, "headHash", mk_bigint(env, si.head_hash));
    set_u64(env, o, "firstMs", si.first_ms);
    set_u64(env, o, "lastMs", si.last_ms);
    return o;
}

/* eventStreams(txn, run, after, limit) -> [name] */
static napi_value event_streams(napi_env env, napi_callback_info info)
{
    ARGS(4);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes after;
    size_t limit;
    if (get_run(env, argv[1], &rid, &run, "run") || get_limit(env, argv[3], 1000, &limit) ||
        get_str_opt(env, argv[2], &after, "after"))
        return NULL;
    size_t n;
    int rc;
    events_read ra = {tx->txn, run, after.p, 0, 0, 0};
    char(*names)[INMEM_NAME_MAX] =
        read_grown(limit, INMEM_NAME_MAX, event_streams_read, &ra, &n, &rc);
    jsbytes_free(&after);
    napi_value r = NULL;
    if (rc) {
        throw_rc(env, rc, NULL, NULL);
    } else {
        r = mk_arr(env, n);
        for (size_t i = 0; i < n; i++)
            set_elem(env, r, (uint32_t)i, mk_str(env, names[i]));
    }
    free(names);
    return r;
}

/* eventVerify(h, run, stream) -> first broken seq (0: the chain checks) */
static napi_value event_verify(napi_env env, napi_callback_info info)
{
    ARGS(3);
    TARGET(argv[0]);
    evargs a;
    if (get_evargs(env, argv[1], argv[2], &a))
        return NULL;
    uint64_t broken = 0;
    int rc = tx ? inmem_event_verify(tx->txn, a.run, a.stream.p, &broken)
                : inmem_event_verify_db(d->db, a.run, a.stream.p, &broken);
    jsbytes_free(&a.stream);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_u64(env, broken);
}

/* ---- state cells --------------------------------------------------------------------------- */

typedef struct cellargs {
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes name;
} cellargs;

static int get_cellargs(napi_env env, napi_value run, napi_value name, cellargs *a)
{
    if (get_run(env, run, &a->rid, &a->run, "run"))
        return -1;
    return get_str(env, name, &a->name, "name");
}

/* stateGet(h, run, name) -> {value, version} | undefined */
static napi_value state_get(napi_env env, napi_callback_info info)
{
    ARGS(3);
    TARGET(argv[0]);
    cellargs a;
    if (get_cellargs(env, argv[1], argv[2], &a))
        return NULL;
    napi_value val = NULL;
    uint64_t ver = 0;
    size_t len = 0;
    int rc;
    if (tx) {
        const void *p;
        rc = inmem_state_get(tx->txn, a.run, a.name.p, &p, &len, &ver);
        if (!rc)
            val = mk_buf(env, p, len);
    } else {
        void *p = NULL;
        rc = inmem_state_get_db(d->db, a.run, a.name.p, &p, &len, &ver);
        if (!rc)
            val = mk_buf(env, p, len);
        inmem_free(p);
    }
    jsbytes_free(&a.name);
    if (rc == INMEM_NOTFOUND)
        return mk_undef(env);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    napi_value o = mk_obj(env);
    set_prop(env, o, "value", val);
    set_u64(env, o, "version", ver);
    return o;
}

/* stateSet(h, run, name, value) -> version (standalone) | undefined (in a transaction) */
static napi_value state_set(napi_env env, napi_callback_info info)
{
    ARGS(4);
    TARGET(argv[0]);
    cellargs a;
    jsbytes v;
    if (get_cellargs(env, argv[1], argv[2], &a))
        return NULL;
    if (get_bytes(env, argv[3], &v, "value")) {
        jsbytes_free(&a.name);
        return NULL;
    }
    uint64_t ver = 0;
    int rc = tx ? inmem_state_set(tx->txn, a.run, a.name.p, v.p, v.n)
                : inmem_state_set_db(d->db, a.run, a.name.p, v.p, v.n, &ver);
    jsbytes_free(&a.name);
    jsbytes_free(&v);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return tx ? mk_undef(env) : mk_u64(env, ver);
}

/* stateCas(h, run, name, expectedVersion, value) -> version | undefined */
static napi_value state_cas(napi_env env, napi_callback_info info)
{
    ARGS(5);
    TARGET(argv[0]);
    cellargs a;
    jsbytes v;
    uint64_t exp;
    if (get_u64(env, argv[3], 0, &exp, "expectedVersion") ||
        get_cellargs(env, argv[1], argv[2], &a))
        return NULL;
    if (get_bytes(env, argv[4], &v, "value")) {
        jsbytes_free(&a.name);
        return NULL;
    }
    uint64_t ver = 0;
    int rc = tx ? inmem_state_cas(tx->txn, a.run, a.name.p, exp, v.p, v.n)
                : inmem_state_cas_db(d->db, a.run, a.name.p, exp, v.p, v.n, &ver);
    jsbytes_free(&a.name);
    jsbytes_free(&v);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return tx ? mk_undef(env) : mk_u64(env, ver);
}

/* stateCasValue(h, run, name, expectedValue | null, value) -> version | undefined */
static napi_value state_cas_value(napi_env env, napi_callback_info info)
{
    ARGS(5);
    TARGET(argv[0]);
    cellargs a;
    jsbytes e, v;
    if (get_cellargs(env, argv[1], argv[2], &a))
        return NULL;
    if (get_bytes_opt(env, argv[3], &e, "expected")) {
        jsbytes_free(&a.name);
        return NULL;
    }
    if (get_bytes(env, argv[4], &v, "value")) {
        jsbytes_free(&a.name);
        jsbytes_free(&e);
        return NULL;
    }
    /* An empty expected value is not "must not exist": only null is. */
    const void *ep = e.p ? e.p : NULL;
    if (!is_nullish(env, argv[3]) && !ep)
        ep = "";
    uint64_t ver = 0;
    int rc = tx ? inmem_state_cas_value(tx->txn, a.run, a.name.p, ep, e.n, v.p, v.n)
                : inmem_state_cas_value_db(d->db, a.run, a.name.p, ep, e.n, v.p, v.n, &ver);
    jsbytes_free(&a.name);
    jsbytes_free(&e);
    jsbytes_free(&v);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return tx ? mk_undef(env) : mk_u64(env, ver);
}

typedef struct state_list_args {
    inmem_txn *txn;
    const inmem_run_id *run;
    const char *after;
} state_list_args;

static int state_list_read(void *arg, size_t room, void *out, size_t *n)
{
    state_list_args *a = arg;
    return inmem_state_list(a->txn, a->run, a->after, room, out, n);
}

/* stateList(txn, run, after, limit) -> [{name, value, version}] */
static napi_value state_list(napi_env env, napi_callback_info info)
{
    ARGS(4);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes after;
    size_t limit;
    if (get_run(env, argv[1], &rid, &run, "run") || get_limit(env, argv[3], 1000, &limit) ||
        get_str_opt(env, argv[2], &after, "after"))
        return NULL;
    size_t n;
    int rc;
    state_list_args ra = {tx->txn, run, after.p};
    inmem_state_entry *out = read_grown(limit, sizeof(*out), state_list_read, &ra, &n, &rc);
    jsbytes_free(&after);
    napi_value r = NULL;
    if (rc) {
        throw_rc(env, rc, NULL, NULL);
    } else {
        r = mk_arr(env, n);
        for (size_t i = 0; i < n; i++) {
            napi_value o = mk_obj(env);
            set_prop(env, o, "name", mk_str(env, out[i].name));
            set_prop(env, o, "value", mk_buf(env, out[i].val, out[i].len));
            set_u64(env, o, "version", out[i].version);
            set_elem(env, r, (uint32_t)i, o);
        }
    }
    free(out);
    return r;
}

/* ---- traces -------------------------------------------------------------------------------- */

static const char *const kind_names[] = {NULL,      "tool_call", "decision", "query",
                                         "thought", "error",     "custom"};

static int get_kind(napi_env env, napi_value v, int allow_any, inmem_trace_kind *out)
{
    if (!v)
        return -1; /* from get_prop(): a getter threw */
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (allow_any && (t == napi_undefined || t == napi_null)) {
        *out = 0;
        return 0;
    }
    if (t == napi_string) {
        char s[16];
        size_t n;
        napi_get_value_string_utf8(env, v, s, sizeof(s), &n);
        for (int i = 1; i <= 6; i++) {
            if (strcmp(s, kind_names[i]) == 0) {
                *out = (inmem_trace_kind)i;
                return 0;
            }
        }
    }
    throw_msg(env, INMEM_EINVAL,
              "kind must be 'tool_call', 'decision', 'query', 'thought', 'error' or 'custom'");
    return -1;
}

static napi_value span_obj(napi_env env, const inmem_span *s)
{
    napi_value o = mk_obj(env);
    set_prop(env, o, "id", mk_run(env, &s->id));
    set_prop(env, o, "parent",
             inmem_run_id_is_shared(&s->parent) ? mk_null(env) : mk_run(env, &s->parent));
    set_prop(env, o, "kind",
             mk_str(env, s->kind >= 1 && s->kind <= 6 ? kind_names[s->kind] : "custom"));
    set_prop(env, o, "name", mk_str(env, s->name));
    set_prop(env, o, "input", mk_buf(env, s->input, s->input_len));
    set_prop(env, o, "output", mk_buf(env, s->output, s->output_len));
    napi_value c;
    if (isnan(s->confidence))
        c = mk_null(env);
    else
        napi_create_double(env, s->confidence, &c);
    set_prop(env, o, "confidence", c);
    set_u64(env, o, "startMs", s->start_ms);
    set_u64(env, o, "durationUs", s->duration_us);
    napi_value tags = mk_arr(env, s->ntags);
    for (size_t i = 0; i < s->ntags && i < INMEM_MAX_TAGS; i++)
        set_elem(env, tags, (uint32_t)i, mk_str(env, s->tags[i]));
    set_prop(env, o, "tags", tags);
    return o;
}

static napi_value spans_arr(napi_env env, const inmem_span *s, size_t n)
{
    napi_value r = mk_arr(env, n);
    for (size_t i = 0; i < n; i++)
        set_elem(env, r, (uint32_t)i, span_obj(env, &s[i]));
    return r;
}

/* Copies a name into a fixed field; one too long is reported by the library (ETOOBIG) thanks
 * to a field left without its NUL. */
static void put_name(char dst[INMEM_NAME_MAX], const jsbytes *b)
{
    size_t n = b->n < INMEM_NAME_MAX ? b->n : INMEM_NAME_MAX;
    memcpy(dst, b->p, n);
    if (n < INMEM_NAME_MAX)
        dst[n] = 0;
}

/* traceRecord(h, run, span) -> id */
static napi_value trace_record(napi_env env, napi_callback_info info)
{
    ARGS(3);
    TARGET(argv[0]);
    napi_value o = argv[2];
    napi_valuetype ot;
    napi_typeof(env, o, &ot);
    if (ot != napi_object)
        return throw_msg(env, INMEM_EINVAL, "span must be an object");
    inmem_run_id rid, sid, pid;
    const inmem_run_id *run, *sp, *pp;
    inmem_span *s = calloc(1, sizeof(*s));
    if (!s)
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    jsbytes name = {0}, input = {0}, output = {0};
    strlist tags = {.n = 0};
    napi_value r = NULL;
    double conf = NAN;
    /* Every field first: reading them may run user code (getters, the tags' elements), which
     * may free the transaction, close the database or detach a buffer. Then the bytes (input
     * and output are borrowed), with no user code running until the call, and the target
     * checked again. */
    napi_value cv = get_prop(env, o, "confidence"), idv = get_prop(env, o, "id"),
               pv = get_prop(env, o, "parent"), kv = get_prop(env, o, "kind"),
               sv = get_prop(env, o, "startMs"), dv = get_prop(env, o, "durationUs"),
               nv = get_prop(env, o, "name"), iv = get_prop(env, o, "input"),
               ov = get_prop(env, o, "output"), tv = get_prop(env, o, "tags");
    if (get_strlist(env, tv, &tags, "a tag"))
        goto cleanup;
    napi_valuetype ct;
    if (!cv)
        goto cleanup; /* a getter threw */
    napi_typeof(env, cv, &ct);
    if (ct == napi_number) {
        napi_get_value_double(env, cv, &conf);
    } else if (ct != napi_undefined && ct != napi_null) {
        throw_msg(env, INMEM_EINVAL, "span.confidence must be a number");
        goto cleanup;
    }
    if (get_run(env, argv[1], &rid, &run, "run") || get_run(env, idv, &sid, &sp, "span.id") ||
        get_run(env, pv, &pid, &pp, "span.parent") || get_kind(env, kv, 0, &s->kind) ||
        get_u64(env, sv, 0, &s->start_ms, "span.startMs") ||
        get_u64(env, dv, 0, &s->duration_us, "span.durationUs") ||
        get_str(env, nv, &name, "span.name") || get_bytes_opt(env, iv, &input, "span.input") ||
        get_bytes_opt(env, ov, &output, "span.output") || get_target(env, argv[0], &d, &tx))
        goto cleanup;
    if (sp)
        s->id = *sp;
    if (pp)
        s->parent = *pp;
    put_name(s->name, &name);
    s->input = input.p;
    s->input_len = input.n;
    s->output = output.p;
    s->output_len = output.n;
    s->confidence = conf;
    if (tags.n > INMEM_MAX_TAGS) {
        r = throw_msg(env, INMEM_EINVAL, "a span has at most 16 tags");
        goto cleanup;
    }
    s->ntags = tags.n;
    for (size_t i = 0; i < tags.n; i++)
        put_name(s->tags[i], &tags.b[i]);
    inmem_run_id out;
    int rc =
        tx ? inmem_trace_record(tx->txn, run, s, &out) : inmem_trace_record_db(d->db, run, s, &out);
    r = rc ? throw_rc(env, rc, NULL, NULL) : mk_run(env, &out);
cleanup:
    jsbytes_free(&name);
    jsbytes_free(&input);
    jsbytes_free(&output);
    strlist_free(&tags);
    free(s);
    return r;
}

/* traceGet(txn, run, id) -> span | undefined */
static napi_value trace_get(napi_env env, napi_callback_info info)
{
    ARGS(3);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid, sid;
    const inmem_run_id *run;
    if (get_run(env, argv[1], &rid, &run, "run") || get_run_req(env, argv[2], &sid, "span id"))
        return NULL;
    inmem_span *s = malloc(sizeof(*s));
    if (!s)
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    int rc = inmem_trace_get(tx->txn, run, &sid, s);
    napi_value r = rc == INMEM_NOTFOUND ? mk_undef(env)
                   : rc                 ? throw_rc(env, rc, NULL, NULL)
                                        : span_obj(env, s);
    free(s);
    return r;
}

typedef struct traces_read {
    inmem_txn *txn;
    const inmem_run_id *run;
    const inmem_trace_filter *filter;
    const inmem_run_id *id; /* the cursor of a query, the root of a tree */
} traces_read;

static int trace_query_read(void *arg, size_t room, void *out, size_t *n)
{
    traces_read *a = arg;
    return inmem_trace_query(a->txn, a->run, a->filter, a->id, room, out, n);
}

static int trace_tree_read(void *arg, size_t room, void *out, size_t *n)
{
    traces_read *a = arg;
    return inmem_trace_tree(a->txn, a->run, a->id, room, out, n);
}

/* traceQuery(txn, run, {kind, parent, tag, fromMs, toMs}, after, limit) -> [span] */
static napi_value trace_query(napi_env env, napi_callback_info info)
{
    ARGS(5);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    napi_value f = argv[2];
    inmem_run_id rid, pid, aid;
    const inmem_run_id *run, *pp, *ap;
    inmem_trace_filter filter;
    memset(&filter, 0, sizeof(filter));
    size_t limit;
    jsbytes tag;
    if (get_run(env, argv[1], &rid, &run, "run") ||
        get_kind(env, get_prop(env, f, "kind"), 1, &filter.kind) ||
        get_run(env, get_prop(env, f, "parent"), &pid, &pp, "filter.parent") ||
        get_u64(env, get_prop(env, f, "fromMs"), 0, &filter.from_ms, "filter.fromMs") ||
        get_u64(env, get_prop(env, f, "toMs"), 0, &filter.to_ms, "filter.toMs") ||
        get_run(env, argv[3], &aid, &ap, "after") || get_limit(env, argv[4], 100, &limit) ||
        get_str_opt(env, get_prop(env, f, "tag"), &tag, "filter.tag"))
        return NULL;
    /* The filter's getters may have freed the transaction. */
    tx = get_txn_live(env, argv[0]);
    if (!tx) {
        jsbytes_free(&tag);
        return NULL;
    }
    filter.parent = pp;
    filter.tag = tag.p;
    size_t n;
    int rc;
    traces_read ra = {tx->txn, run, &filter, ap};
    inmem_span *out = read_grown(limit, sizeof(*out), trace_query_read, &ra, &n, &rc);
    jsbytes_free(&tag);
    napi_value r = rc ? throw_rc(env, rc, NULL, NULL) : spans_arr(env, out, n);
    free(out);
    return r;
}

/* traceTree(txn, run, root, limit) -> [span] */
static napi_value trace_tree(napi_env env, napi_callback_info info)
{
    ARGS(4);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid, root;
    const inmem_run_id *run;
    size_t limit;
    if (get_run(env, argv[1], &rid, &run, "run") || get_run_req(env, argv[2], &root, "root") ||
        get_limit(env, argv[3], 1000, &limit))
        return NULL;
    size_t n;
    int rc;
    traces_read ra = {tx->txn, run, NULL, &root};
    inmem_span *out = read_grown(limit, sizeof(*out), trace_tree_read, &ra, &n, &rc);
    napi_value r = rc == INMEM_NOTFOUND ? mk_undef(env)
                   : rc                 ? throw_rc(env, rc, NULL, NULL)
                                        : spans_arr(env, out, n);
    free(out);
    return r;
}

void init_prims(napi_env env, napi_value exports)
{
    export_fn(env, exports, "runBegin", run_begin);
    export_fn(env, exports, "runFork", run_fork);
    export_fn(env, exports, "runEnd", run_end);
    export_fn(env, exports, "runGet", run_get);
    export_fn(env, exports, "runList", run_list);
    export_fn(env, exports, "runDelete", run_delete);
    export_fn(env, exports, "runListStored", run_list_stored);
    export_fn(env, exports, "eventAppend", event_append);
    export_fn(env, exports, "eventAppendBatch", event_append_batch);
    export_fn(env, exports, "eventGet", event_get);
    export_fn(env, exports, "eventRange", event_range);
    export_fn(env, exports, "eventRangeTime", event_range_time);
    export_fn(env, exports, "eventInfo", event_info);
    export_fn(env, exports, "eventStreams", event_streams);
    export_fn(env, exports, "eventVerify", event_verify);
    export_fn(env, exports, "stateGet", state_get);
    export_fn(env, exports, "stateSet", state_set);
    export_fn(env, exports, "stateCas", state_cas);
    export_fn(env, exports, "stateCasValue", state_cas_value);
    export_fn(env, exports, "stateList", state_list);
    export_fn(env, exports, "traceRecord", trace_record);
    export_fn(env, exports, "traceGet", trace_get);
    export_fn(env, exports, "traceQuery", trace_query);
    export_fn(env, exports, "traceTree", trace_tree);
}
