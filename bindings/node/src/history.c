/*
 * history.c — retained history (docs/history.md): time-travel transactions, the commit-time
 * table, key and state-cell history.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

#define HISTORY_LIMIT_MAX (1u << 20)

/* txnBeginAt(db, version) / txnBeginAtTime(db, unixMs) -> handle of a read-only transaction */
/* The database of argv[0] and the required non-negative integer argv[1] (named @p what). */
static dbw *db_and_u64(napi_env env, napi_value *argv, const char *what, uint64_t *x)
{
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    if (is_nullish(env, argv[1])) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s must be a non-negative integer", what);
        throw_msg(env, INMEM_EINVAL, msg);
        return NULL;
    }
    return get_u64(env, argv[1], 0, x, what) ? NULL : d;
}

static napi_value begin_at(napi_env env, napi_callback_info info, int by_time)
{
    ARGS(2);
    uint64_t x;
    dbw *d = db_and_u64(env, argv, by_time ? "atTime" : "at", &x);
    if (!d)
        return NULL;
    inmem_txn *txn;
    int rc = by_time ? inmem_txn_begin_at_time(d->db, x, &txn) : inmem_txn_begin_at(d->db, x, &txn);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return wrap_new_txn(env, d, txn);
}

static napi_value txn_begin_at(napi_env env, napi_callback_info info)
{
    return begin_at(env, info, 0);
}

static napi_value txn_begin_at_time(napi_env env, napi_callback_info info)
{
    return begin_at(env, info, 1);
}

/* dbVersionTime(db, version) -> Unix ms; dbTimeVersion(db, unixMs) -> version */
static napi_value lookup(napi_env env, napi_callback_info info, int by_time)
{
    ARGS(2);
    uint64_t x, out = 0;
    dbw *d = db_and_u64(env, argv, by_time ? "timeMs" : "version", &x);
    if (!d)
        return NULL;
    int rc =
        by_time ? inmem_db_time_version(d->db, x, &out) : inmem_db_version_time(d->db, x, &out);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_u64(env, out);
}

static napi_value db_version_time(napi_env env, napi_callback_info info)
{
    return lookup(env, info, 0);
}

static napi_value db_time_version(napi_env env, napi_callback_info info)
{
    return lookup(env, info, 1);
}

/* ---- key and state-cell history ------------------------------------------------------------ */

static int get_hlimit(napi_env env, napi_value v, size_t *out)
{
    uint64_t u;
    if (get_u64(env, v, 1000, &u, "limit"))
        return -1;
    if (u > HISTORY_LIMIT_MAX) {
        throw_msg(env, INMEM_EINVAL, "limit must be at most 2^20");
        return -1;
    }
    *out = (size_t)u;
    return 0;
}

/* [{version, timeMs, deleted, value, expireAt, olderFreed}], newest first (copies). */
static napi_value versions_arr(napi_env env, const inmem_version_info *h, size_t n)
{
    napi_value arr = mk_arr(env, n);
    for (size_t i = 0; i < n; i++) {
        napi_value o = mk_obj(env);
        set_u64(env, o, "version", h[i].version);
        set_u64(env, o, "timeMs", h[i].time_ms);
        set_prop(env, o, "deleted", mk_bool(env, h[i].deleted));
        set_prop(env, o, "value", h[i].deleted ? mk_undef(env) : mk_buf(env, h[i].value, h[i].len));
        set_u64(env, o, "expireAt", h[i].expire_at_ms);
        set_prop(env, o, "olderFreed", mk_bool(env, h[i].older_freed));
        set_elem(env, arr, (uint32_t)i, o);
    }
    return arr;
}

typedef struct history_read {
    inmem_txn *txn;
    const inmem_run_id *run;
    const jsbytes *key;
    uint64_t before;
    int state;
} history_read;

static int history_read_fn(void *arg, size_t room, void *out, size_t *n)
{
    history_read *a = arg;
    return a->state
               ? inmem_state_history(a->txn, a->run, a->key->p, a->before, room, out, n)
               : inmem_kv_history(a->txn, a->run, a->key->p, a->key->n, a->before, room, out, n);
}

/* kvHistory(txn, run, key, before, limit) / stateHistory(txn, run, name, before, limit)
 *   -> versions, newest first; pass the last version returned as `before` for the next page */
static napi_value history(napi_env env, napi_callback_info info, int state)
{
    ARGS(5);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    uint64_t before;
    size_t limit;
    jsbytes k;
    if (get_run(env, argv[1], &rid, &run, "run") || get_u64(env, argv[3], 0, &before, "before") ||
        get_hlimit(env, argv[4], &limit))
        return NULL;
    if (state ? get_str(env, argv[2], &k, "name") : get_bytes(env, argv[2], &k, "key"))
        return NULL;
    size_t n;
    int rc;
    history_read ra = {tx->txn, run, &k, before, state};
    inmem_version_info *out = read_grown(limit, sizeof(*out), history_read_fn, &ra, &n, &rc);
    jsbytes_free(&k);
    napi_value r = rc ? throw_rc(env, rc, NULL, NULL) : versions_arr(env, out, n);
    free(out);
    return r;
}

static napi_value kv_history(napi_env env, napi_callback_info info)
{
    return history(env, info, 0);
}

static napi_value state_history(napi_env env, napi_callback_info info)
{
    return history(env, info, 1);
}

/* ---- primitives by name (replay, diff, wait) ----------------------------------------------- */

static const char *const prim_names[] = {NULL, "kv", "event", "state", "trace", "run"};

static napi_value prim_str(napi_env env, inmem_primitive p)
{
    return mk_str(env, p >= 1 && p <= 5 ? prim_names[p] : "unknown");
}

/* The key of a change or a difference: `key` (the bytes), and by primitive `name` (a state
 * cell's or a stream's) or `spanId` (a span's). */
static void set_key(napi_env env, napi_value o, inmem_primitive p, const void *key, size_t klen)
{
    set_prop(env, o, "key", mk_buf(env, key, klen));
    if (p == INMEM_PRIM_STATE || p == INMEM_PRIM_EVENT) {
        napi_value s;
        napi_create_string_utf8(env, klen ? key : "", klen, &s);
        set_prop(env, o, "name", s);
    } else if (p == INMEM_PRIM_TRACE && klen == sizeof(inmem_run_id)) {
        inmem_run_id id;
        memcpy(id.bytes, key, sizeof(id.bytes));
        set_prop(env, o, "spanId", mk_run(env, &id));
    }
}

/* ---- replay -------------------------------------------------------------------------------- */

/* runReplay(txn, run | null, afterVersion) -> replay handle (freed with the transaction, or by
 * iterFree) */
static napi_value run_replay(napi_env env, napi_callback_info info)
{
    ARGS(3);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    uint64_t after;
    if (get_run(env, argv[1], &rid, &run, "run") || get_u64(env, argv[2], 0, &after, "after"))
        return NULL;
    if (!run)
        memset(&rid, 0, sizeof(rid)); /* the shared scope */
    inmem_replay *rp;
    int rc = inmem_run_replay(tx->txn, &rid, after, &rp);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return wrap_replay(env, tx, rp);
}

static napi_value change_obj(napi_env env, const inmem_change *c)
{
    napi_value o = mk_obj(env);
    set_prop(env, o, "primitive", prim_str(env, c->primitive));
    set_key(env, o, c->primitive, c->key, c->klen);
    set_prop(env, o, "deleted", mk_bool(env, c->deleted));
    set_prop(env, o, "value",
             c->deleted || !c->value ? mk_undef(env) : mk_buf(env, c->value, c->len));
    if (c->primitive == INMEM_PRIM_KV)
        set_u64(env, o, "expireAt", c->expire_at_ms);
    if (c->primitive == INMEM_PRIM_EVENT) {
        set_u64(env, o, "seq", c->event.seq);
        if (!c->deleted)
            set_prop(env, o, "event", event_obj(env, &c->event));
    }
    return o;
}

/* replayNext(replay, max) -> [{version, timeMs, changes: [...]}] (at most max; fewer: the end).
 * Everything is copied before the next call into the library. */
static napi_value replay_next(napi_env env, napi_callback_info info)
{
    ARGS(2);
    itw *it = get_itw(env, argv[0]);
    if (!it)
        return NULL;
    if (!it->rp)
        return throw_msg(env, INMEM_EMISUSE, "the replay was freed, or its transaction was");
    if (it->tx->busy)
        return throw_msg(env, INMEM_EMISUSE,
                         "the transaction is busy with an asynchronous call: await it first");
    uint64_t max;
    if (get_u64(env, argv[1], 1, &max, "count"))
        return NULL;
    if (max == 0 || max > HISTORY_LIMIT_MAX)
        return throw_msg(env, INMEM_EINVAL, "count must be 1 to 2^20");
    napi_value arr = mk_arr(env, 0);
    for (uint32_t i = 0; i < max; i++) {
        uint64_t version, time_ms;
        const inmem_change *c;
        size_t n;
        int rc = inmem_replay_next(it->rp, &version, &time_ms, &c, &n);
        if (rc == INMEM_NOTFOUND)
            break;
        if (rc)
            return throw_rc(env, rc, NULL, NULL);
        napi_value o = mk_obj(env);
        set_u64(env, o, "version", version);
        set_u64(env, o, "timeMs", time_ms);
        napi_value changes = mk_arr(env, n);
        for (size_t j = 0; j < n; j++)
            set_elem(env, changes, (uint32_t)j, change_obj(env, &c[j]));
        set_prop(env, o, "changes", changes);
        set_elem(env, arr, i, o);
    }
    return arr;
}

/* ---- diff ---------------------------------------------------------------------------------- */

static const napi_type_tag TAG_DIFF = {0x696e6d656d2d6466ULL, 0x4e4f44452d484e44ULL};
static const char *const kind_names[] = {NULL, "added", "removed", "changed"};

typedef struct dfw {
    inmem_diff *d; /* NULL once freed */
} dfw;

static void dfw_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    dfw *f = data;
    inmem_diff_free(f->d);
    free(f);
}

napi_value diff_entry_obj(napi_env env, const inmem_diff_entry *e)
{
    napi_value o = mk_obj(env);
    set_prop(env, o, "primitive", prim_str(env, e->primitive));
    set_prop(env, o, "kind", mk_str(env, e->kind >= 1 && e->kind <= 3 ? kind_names[e->kind] : "?"));
    set_key(env, o, e->primitive, e->key, e->klen);
    set_u64(env, o, "versionA", e->version_a);
    set_u64(env, o, "versionB", e->version_b);
    if (e->primitive == INMEM_PRIM_EVENT)
        set_u64(env, o, "firstSeq", e->first_seq);
    return o;
}

/* runDiff(db, a | null, atA, b | null, atB) -> diff handle (the differences, collected now) */
static napi_value run_diff(napi_env env, napi_callback_info info)
{
    ARGS(5);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    inmem_run_id a, b;
    const inmem_run_id *ap, *bp;
    uint64_t at_a, at_b;
    if (get_run(env, argv[1], &a, &ap, "a") || get_u64(env, argv[2], 0, &at_a, "atA") ||
        get_run(env, argv[3], &b, &bp, "b") || get_u64(env, argv[4], 0, &at_b, "atB"))
        return NULL;
    if (!ap)
        memset(&a, 0, sizeof(a));
    if (!bp)
        memset(&b, 0, sizeof(b));
    dfw *f = calloc(1, sizeof(*f));
    if (!f)
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    int rc = inmem_run_diff(d->db, &a, at_a, &b, at_b, &f->d);
    if (rc) {
        free(f);
        return throw_rc(env, rc, NULL, NULL);
    }
    napi_value obj;
    napi_create_object(env, &obj);
    if (napi_wrap(env, obj, f, dfw_finalize, NULL, NULL) != napi_ok) {
        dfw_finalize(env, f, NULL);
        return NULL;
    }
    napi_type_tag_object(env, obj, &TAG_DIFF);
    return obj;
}

static dfw *get_dfw(napi_env env, napi_value v)
{
    napi_valuetype t;
    napi_typeof(env, v, &t);
    bool ok = false;
    if (t == napi_object)
        napi_check_object_type_tag(env, v, &TAG_DIFF, &ok);
    void *p = NULL;
    if (!ok || napi_unwrap(env, v, &p) != napi_ok || !p) {
        throw_msg(env, INMEM_EINVAL, "not a diff handle");
        return NULL;
    }
    return p;
}

/* diffNext(diff, max) -> [entry] (at most max; fewer: the end) */
static napi_value diff_next(napi_env env, napi_callback_info info)
{
    ARGS(2);
    dfw *f = get_dfw(env, argv[0]);
    if (!f)
        return NULL;
    if (!f->d)
        return throw_msg(env, INMEM_EMISUSE, "the diff was freed");
    uint64_t max;
    if (get_u64(env, argv[1], 1, &max, "count"))
        return NULL;
    if (max == 0 || max > HISTORY_LIMIT_MAX)
        return throw_msg(env, INMEM_EINVAL, "count must be 1 to 2^20");
    napi_value arr = mk_arr(env, 0);
    for (uint32_t i = 0; i < max; i++) {
        inmem_diff_entry e;
        int rc = inmem_diff_next(f->d, &e);
        if (rc == INMEM_NOTFOUND)
            break;
        if (rc)
            return throw_rc(env, rc, NULL, NULL);
        set_elem(env, arr, i, diff_entry_obj(env, &e));
    }
    return arr;
}

/* diffFree(diff): frees the differences now (idempotent). */
static napi_value diff_free(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dfw *f = get_dfw(env, argv[0]);
    if (!f)
        return NULL;
    inmem_diff_free(f->d);
    f->d = NULL;
    return mk_undef(env);
}

void init_history(napi_env env, napi_value exports)
{
    export_fn(env, exports, "runDiff", run_diff);
    export_fn(env, exports, "diffNext", diff_next);
    export_fn(env, exports, "diffFree", diff_free);
    export_fn(env, exports, "runReplay", run_replay);
    export_fn(env, exports, "replayNext", replay_next);
    export_fn(env, exports, "kvHistory", kv_history);
    export_fn(env, exports, "stateHistory", state_history);
    export_fn(env, exports, "txnBeginAt", txn_begin_at);
    export_fn(env, exports, "txnBeginAtTime", txn_begin_at_time);
    export_fn(env, exports, "dbVersionTime", db_version_time);
    export_fn(env, exports, "dbTimeVersion", db_time_version);
}
