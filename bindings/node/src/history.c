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

void init_history(napi_env env, napi_value exports)
{
    export_fn(env, exports, "txnBeginAt", txn_begin_at);
    export_fn(env, exports, "txnBeginAtTime", txn_begin_at_time);
    export_fn(env, exports, "dbVersionTime", db_version_time);
    export_fn(env, exports, "dbTimeVersion", db_time_version);
}
