/*
 * history.c — retained history (docs/history.md): time-travel transactions, the commit-time
 * table, key and state-cell history.
 */
#include <stdlib.h>
#include <string.h>

#include "addon.h"

#define HISTORY_LIMIT_MAX (1u << 20)

/* txnBeginAt(db, version) / txnBeginAtTime(db, unixMs) -> handle of a read-only transaction */
static napi_value begin_at(napi_env env, napi_callback_info info, int by_time)
{
    ARGS(2);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    if (is_nullish(env, argv[1]))
        return throw_msg(env, INMEM_EINVAL, by_time ? "atTime must be a non-negative integer"
                                                    : "at must be a non-negative integer");
    uint64_t x;
    if (get_u64(env, argv[1], 0, &x, by_time ? "atTime" : "at"))
        return NULL;
    inmem_txn *txn;
    int rc = by_time ? inmem_txn_begin_at_time(d->db, x, &txn) : inmem_txn_begin_at(d->db, x, &txn);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    txw *tx = txw_new(d, txn);
    if (!tx) {
        inmem_txn_free(txn);
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    }
    return wrap_txw(env, tx);
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
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    if (is_nullish(env, argv[1]))
        return throw_msg(env, INMEM_EINVAL, by_time ? "timeMs must be a non-negative integer"
                                                    : "version must be a non-negative integer");
    uint64_t x, out = 0;
    if (get_u64(env, argv[1], 0, &x, by_time ? "timeMs" : "version"))
        return NULL;
    int rc = by_time ? inmem_db_time_version(d->db, x, &out) : inmem_db_version_time(d->db, x, &out);
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
        napi_set_element(env, arr, (uint32_t)i, o);
    }
    return arr;
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
    inmem_version_info *out = malloc((limit ? limit : 1) * sizeof(*out));
    size_t n = 0;
    int rc = !out    ? INMEM_ENOMEM
             : state ? inmem_state_history(tx->txn, run, k.p, before, limit, out, &n)
                     : inmem_kv_history(tx->txn, run, k.p, k.n, before, limit, out, &n);
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

void init_history(napi_env env, napi_value exports)
{
    export_fn(env, exports, "kvHistory", kv_history);
    export_fn(env, exports, "stateHistory", state_history);
    export_fn(env, exports, "txnBeginAt", txn_begin_at);
    export_fn(env, exports, "txnBeginAtTime", txn_begin_at_time);
    export_fn(env, exports, "dbVersionTime", db_version_time);
    export_fn(env, exports, "dbTimeVersion", db_time_version);
}
