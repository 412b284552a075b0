/*
 * txn.c — explicit transactions (begin, commit, abort, free, describe), key-value operations
 * inside them, iterators, and the synchronous closure forms that let inmem's own retry loop
 * call a JavaScript function: transactSync() over inmem_db_transact() and stateTransition()
 * over inmem_state_transition(). db.transact() with an async callback is written in JS
 * (lib/database.js) over begin/commit, since a C callback cannot await a promise.
 */
#include <stdlib.h>
#include <string.h>

#include "addon.h"

napi_value wrap_itw(napi_env env, txw *tx, inmem_iter *iter);
napi_value kv_entries(napi_env env, const inmem_kv_entry *e, size_t n);

static const char *const state_names[] = {"active", "validating", "committed", "aborted"};
static const char *const reason_names[] = {"none",         "user",  "read_conflict",
                                           "cas_conflict", "error", "deadline"};
static const char *const prim_names[] = {NULL, "kv", "event", "state", "trace", "run"};

/* The description of a transaction, as an object. */
static napi_value describe_obj(napi_env env, const inmem_txn *txn)
{
    inmem_txn_info ti;
    napi_value o = mk_obj(env);
    if (inmem_txn_describe(txn, &ti) != 0)
        return o;
    set_prop(env, o, "state", mk_str(env, state_names[ti.state & 3]));
    set_prop(env, o, "reason", mk_str(env, ti.reason <= 5 ? reason_names[ti.reason] : "error"));
    set_u64(env, o, "startVersion", ti.start_version);
    set_u64(env, o, "commitVersion", ti.commit_version);
    set_u64(env, o, "readSetSize", ti.read_set_size);
    set_u64(env, o, "writeSetSize", ti.write_set_size);
    set_u64(env, o, "casCount", ti.cas_count);
    if (ti.reason == INMEM_ABORT_READ_CONFLICT || ti.reason == INMEM_ABORT_CAS_CONFLICT) {
        napi_value c = mk_obj(env);
        set_prop(env, c, "rule",
                 mk_str(env, ti.reason == INMEM_ABORT_READ_CONFLICT ? "read" : "cas"));
        set_prop(env, c, "run",
                 inmem_run_id_is_shared(&ti.conflict_run) ? mk_null(env)
                                                          : mk_run(env, &ti.conflict_run));
        set_prop(env, c, "key", mk_buf(env, ti.conflict_key, ti.conflict_key_len));
        set_u64(env, c, "expected", ti.conflict_expected);
        set_u64(env, c, "found", ti.conflict_found);
        unsigned p = (unsigned)ti.conflict_primitive;
        set_prop(env, c, "primitive", p >= 1 && p <= 5 ? mk_str(env, prim_names[p]) : mk_null(env));
        set_prop(env, o, "conflict", c);
    }
    return o;
}

napi_value commit_error(napi_env env, int rc, const inmem_txn *txn, const char *details);
napi_value commit_error(napi_env env, int rc, const inmem_txn *txn, const char *details)
{
    napi_value extra = NULL;
    if (rc == INMEM_CONFLICT) {
        napi_value d = describe_obj(env, txn);
        extra = get_prop(env, d, "conflict");
        if (is_nullish(env, extra))
            extra = NULL;
    }
    return throw_rc(env, rc, details, extra);
}

/* txnBegin(db, readOnly) -> handle */
static napi_value txn_begin(napi_env env, napi_callback_info info)
{
    ARGS(2);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    int ro;
    get_bool(env, argv[1], 0, &ro);
    inmem_txn *txn;
    int rc = ro ? inmem_txn_begin_readonly(d->db, &txn) : inmem_txn_begin(d->db, &txn);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return wrap_new_txn(env, d, txn);
}

/* txnSetTimeout(txn, timeoutUs): a commit after the deadline applies nothing (TimeoutError). */
static napi_value txn_set_timeout(napi_env env, napi_callback_info info)
{
    ARGS(2);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    uint64_t us;
    if (get_u64(env, argv[1], 0, &us, "timeoutUs"))
        return NULL;
    int rc = inmem_txn_set_timeout(tx->txn, us);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_undef(env);
}

static txw *get_owned(napi_env env, napi_value v)
{
    txw *tx = get_txn_live(env, v);
    if (tx && tx->borrowed) {
        throw_msg(env, INMEM_EMISUSE,
                  "transactSync() ends its transaction itself: return to commit, throw to abort");
        return NULL;
    }
    return tx;
}

/* txnCommit(txn, free) -> commit version (0 if read-only or nothing written) */
static napi_value txn_commit(napi_env env, napi_callback_info info)
{
    ARGS(2);
    txw *tx = get_owned(env, argv[0]);
    if (!tx)
        return NULL;
    int fr;
    get_bool(env, argv[1], 0, &fr);
    int rc = inmem_txn_commit(tx->txn);
    if (rc) {
        commit_error(env, rc, tx->txn, NULL);
        if (fr)
            txw_release_handle(env, argv[0]);
        return NULL;
    }
    inmem_txn_info ti;
    inmem_txn_describe(tx->txn, &ti);
    if (fr)
        txw_release_handle(env, argv[0]);
    return mk_u64(env, ti.commit_version);
}

static napi_value txn_abort(napi_env env, napi_callback_info info)
{
    ARGS(2);
    txw *tx = get_owned(env, argv[0]);
    if (!tx)
        return NULL;
    int fr;
    get_bool(env, argv[1], 0, &fr);
    int rc = inmem_txn_abort(tx->txn);
    if (fr)
        txw_release_handle(env, argv[0]);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_undef(env);
}

/* txnFree(txn): aborts if active and releases the handle; freeing twice does nothing. */
static napi_value txn_free(napi_env env, napi_callback_info info)
{
    ARGS(1);
    int freed;
    txw *tx = get_txw_or_freed(env, argv[0], &freed);
    if (!tx)
        return freed ? mk_undef(env) : NULL;
    if (tx->busy)
        return throw_msg(env, INMEM_EMISUSE,
                         "the transaction is busy with an asynchronous call: await it first");
    if (tx->borrowed)
        return throw_msg(env, INMEM_EMISUSE, "transactSync() frees its transaction itself");
    txw_release_handle(env, argv[0]);
    return mk_undef(env);
}

/* txnState(txn) -> 'active' | 'committing' | 'committed' | 'aborted' | 'freed' ('validating'
 * is never seen: a synchronous commit holds the JS thread until it is over). While an async
 * work holds the transaction its state is not read (the pool thread may be writing it): a
 * commitAsync() in flight is 'committing', any other work the state it began in. */
static napi_value txn_state(napi_env env, napi_callback_info info)
{
    ARGS(1);
    int freed;
    txw *tx = get_txw_or_freed(env, argv[0], &freed);
    if (!tx)
        return freed ? mk_str(env, "freed") : NULL;
    if (!tx->txn)
        return mk_str(env, "freed");
    if (tx->busy)
        return mk_str(env, tx->busy_state < 0 ? "committing" : state_names[tx->busy_state & 3]);
    return mk_str(env, state_names[inmem_txn_state_of(tx->txn) & 3]);
}

static napi_value txn_describe(napi_env env, napi_callback_info info)
{
    ARGS(1);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    return describe_obj(env, tx->txn);
}

/* ---- key-value inside a transaction -------------------------------------------------------- */

/* kvGet(txn, run, key, withVersion) -> Buffer | {value, version} | undefined */
static napi_value kv_get(napi_env env, napi_callback_info info)
{
    ARGS(4);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes k;
    int wv;
    if (get_run(env, argv[1], &rid, &run, "run") || get_bytes(env, argv[2], &k, "key"))
        return NULL;
    get_bool(env, argv[3], 0, &wv);
    const void *val;
    size_t vlen;
    uint64_t ver;
    int rc = inmem_kv_get(tx->txn, run, k.p, k.n, &val, &vlen, &ver);
    jsbytes_free(&k);
    if (rc == INMEM_NOTFOUND)
        return mk_undef(env);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    napi_value b = mk_buf(env, val, vlen);
    if (!wv)
        return b;
    napi_value o = mk_obj(env);
    set_prop(env, o, "value", b);
    set_u64(env, o, "version", ver);
    return o;
}

/* kvPut(txn, run, key, value, ttlMs, expireAtMs): at most one of the two expiries */
static napi_value kv_put(napi_env env, napi_callback_info info)
{
    ARGS(6);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes k, v;
    uint64_t ttl;
    uint64_t at;
    if (get_run(env, argv[1], &rid, &run, "run") || get_u64(env, argv[4], 0, &ttl, "ttl") ||
        get_u64(env, argv[5], 0, &at, "expireAt"))
        return NULL;
    if (ttl && at)
        return throw_msg(env, INMEM_EINVAL, "give ttl or expireAt, not both");
    if (get_bytes(env, argv[2], &k, "key"))
        return NULL;
    if (get_bytes(env, argv[3], &v, "value")) {
        jsbytes_free(&k);
        return NULL;
    }
    int rc = ttl  ? inmem_kv_put_ttl(tx->txn, run, k.p, k.n, v.p, v.n, ttl)
             : at ? inmem_kv_put_expire_at(tx->txn, run, k.p, k.n, v.p, v.n, at)
                  : inmem_kv_put(tx->txn, run, k.p, k.n, v.p, v.n);
    jsbytes_free(&k);
    jsbytes_free(&v);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_undef(env);
}

/* kvPutMany(txn, run, [key, value, key, value, ...]): several puts in one call. */
static napi_value kv_put_many(napi_env env, napi_callback_info info)
{
    ARGS(3);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    if (get_run(env, argv[1], &rid, &run, "run"))
        return NULL;
    bool is;
    napi_is_array(env, argv[2], &is);
    if (!is)
        return throw_msg(env, INMEM_EINVAL, "pairs must be an array [key, value, ...]");
    uint32_t n;
    napi_get_array_length(env, argv[2], &n);
    if (n % 2)
        return throw_msg(env, INMEM_EINVAL, "pairs must have an even length");
    /* Every element first: reading one may run user code (a getter), which may end the
     * transaction, start an async call on it, or detach an earlier element's buffer; after
     * this, nothing but this function runs until the puts are done. */
    napi_value *el, r = NULL;
    if (get_elements(env, argv[2], 2 * BATCH_MAX, "pairs", is_bytes,
                     "a Buffer, a Uint8Array or a string", &el, &n))
        return NULL;
    if (!(tx = get_txn_live(env, argv[0])))
        goto out;
    for (uint32_t i = 0; i < n; i += 2) {
        jsbytes k, v;
        if (get_bytes(env, el[i], &k, "key"))
            goto out;
        if (get_bytes(env, el[i + 1], &v, "value")) {
            jsbytes_free(&k);
            goto out;
        }
        int rc = inmem_kv_put(tx->txn, run, k.p, k.n, v.p, v.n);
        jsbytes_free(&k);
        jsbytes_free(&v);
        if (rc) {
            throw_rc(env, rc, NULL, NULL);
            goto out;
        }
    }
    r = mk_undef(env);
out:
    free(el);
    return r;
}

/* kvGetExpiry(txn, run, key) -> Unix ms (0: no TTL) | undefined (missing) */
static napi_value kv_get_expiry(napi_env env, napi_callback_info info)
{
    ARGS(3);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes k;
    if (get_run(env, argv[1], &rid, &run, "run") || get_bytes(env, argv[2], &k, "key"))
        return NULL;
    uint64_t at = 0;
    int rc = inmem_kv_get_expiry(tx->txn, run, k.p, k.n, &at);
    jsbytes_free(&k);
    if (rc == INMEM_NOTFOUND)
        return mk_undef(env);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_u64(env, at);
}

static napi_value kv_delete(napi_env env, napi_callback_info info)
{
    ARGS(3);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes k;
    if (get_run(env, argv[1], &rid, &run, "run") || get_bytes(env, argv[2], &k, "key"))
        return NULL;
    int rc = inmem_kv_delete(tx->txn, run, k.p, k.n);
    jsbytes_free(&k);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_undef(env);
}

/* kvCas(txn, run, key, expectedVersion, value) */
static napi_value kv_cas(napi_env env, napi_callback_info info)
{
    ARGS(5);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes k, v;
    uint64_t exp;
    if (get_run(env, argv[1], &rid, &run, "run") ||
        get_u64(env, argv[3], 0, &exp, "expectedVersion") || get_bytes(env, argv[2], &k, "key"))
        return NULL;
    if (get_bytes(env, argv[4], &v, "value")) {
        jsbytes_free(&k);
        return NULL;
    }
    int rc = inmem_kv_cas(tx->txn, run, k.p, k.n, exp, v.p, v.n);
    jsbytes_free(&k);
    jsbytes_free(&v);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_undef(env);
}

/* kvScan(txn, run, start, end, prefix) -> iterator; a prefix (not undefined) wins. */
static napi_value kv_scan(napi_env env, napi_callback_info info)
{
    ARGS(5);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    if (get_run(env, argv[1], &rid, &run, "run"))
        return NULL;
    inmem_iter *it = NULL;
    int rc;
    napi_valuetype pt;
    napi_typeof(env, argv[4], &pt);
    if (pt != napi_undefined) {
        jsbytes p;
        if (get_bytes_opt(env, argv[4], &p, "prefix"))
            return NULL;
        rc = inmem_kv_scan_prefix(tx->txn, run, p.p, p.n, &it);
        jsbytes_free(&p);
    } else {
        jsbytes s, e;
        if (get_bytes_opt(env, argv[2], &s, "start"))
            return NULL;
        if (get_bytes_opt(env, argv[3], &e, "end")) {
            jsbytes_free(&s);
            return NULL;
        }
        rc = inmem_kv_scan(tx->txn, run, s.p, s.n, e.p, e.n, &it);
        jsbytes_free(&s);
        jsbytes_free(&e);
    }
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return wrap_itw(env, tx, it);
}

static itw *get_iter_live(napi_env env, napi_value v)
{
    itw *it = get_itw(env, v);
    if (!it)
        return NULL;
    if (!it->it) {
        throw_msg(env, INMEM_EMISUSE, "the iterator was freed, or its transaction was");
        return NULL;
    }
    if (it->tx->busy) {
        throw_msg(env, INMEM_EMISUSE,
                  "the transaction is busy with an asynchronous call: await it first");
        return NULL;
    }
    return it;
}

/* iterNext(iter, max) -> [{key, value, version}, ...] (at most max; fewer: the end) */
static napi_value iter_next(napi_env env, napi_callback_info info)
{
    ARGS(2);
    itw *it = get_iter_live(env, argv[0]);
    if (!it)
        return NULL;
    uint64_t max;
    if (get_u64(env, argv[1], 1, &max, "count"))
        return NULL;
    if (max == 0 || max > 1u << 20)
        return throw_msg(env, INMEM_EINVAL, "count must be 1 to 2^20");
    napi_value arr = mk_arr(env, 0);
    for (uint32_t i = 0; i < max; i++) {
        const void *k, *v;
        size_t kl, vl;
        uint64_t ver;
        int rc = inmem_iter_next(it->it, &k, &kl, &v, &vl, &ver);
        if (rc == INMEM_NOTFOUND)
            break;
        if (rc)
            return throw_rc(env, rc, NULL, NULL);
        set_elem(env, arr, i, mk_entry(env, k, kl, v ? v : "", vl, ver));
    }
    return arr;
}

static napi_value iter_free(napi_env env, napi_callback_info info)
{
    ARGS(1);
    int freed;
    itw *it = get_itw_or_freed(env, argv[0], &freed);
    if (!it)
        return freed ? mk_undef(env) : NULL;
    if ((it->it || it->rp) && it->tx->busy)
        return throw_msg(env, INMEM_EMISUSE,
                         "the transaction is busy with an asynchronous call: await it first");
    itw_release_handle(env, argv[0]);
    return mk_undef(env);
}

/* kvList(txn, run, prefix, after, limit) -> [{key, value, version}] */
static napi_value kv_list(napi_env env, napi_callback_info info)
{
    ARGS(5);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes p, a;
    uint64_t limit;
    if (get_run(env, argv[1], &rid, &run, "run") || get_u64(env, argv[4], 1000, &limit, "limit"))
        return NULL;
    if (limit > (1u << 24))
        return throw_msg(env, INMEM_EINVAL, "limit must be at most 2^24");
    if (get_bytes_opt(env, argv[2], &p, "prefix"))
        return NULL;
    if (get_bytes_opt(env, argv[3], &a, "after")) {
        jsbytes_free(&p);
        return NULL;
    }
    /* Pages of growing size, each after the last key of the one before: a large limit costs
     * memory only for what is there (a page of 2^24 entries up front was 800 MB). */
    size_t cap = limit && limit < 256 ? (size_t)limit : 256, got = 0;
    inmem_kv_entry *out = malloc(cap * sizeof(*out));
    char *cursor = NULL;
    const void *after = a.p;
    size_t alen = a.n;
    napi_value r = mk_arr(env, 0);
    int rc = out ? 0 : INMEM_ENOMEM;
    while (!rc) {
        size_t want = limit ? (size_t)limit - got : 0, n = 0;
        if (want > cap)
            want = cap;
        rc = inmem_kv_list(tx->txn, run, p.p, p.n, after, alen, want, out, &n);
        if (rc)
            break;
        for (size_t i = 0; i < n; i++)
            set_elem(
                env, r, (uint32_t)(got + i),
                mk_entry(env, out[i].key, out[i].klen, out[i].val, out[i].vlen, out[i].version));
        got += n;
        if (!limit || n < want || got >= limit)
            break;
        char *c = malloc(out[n - 1].klen);
        if (!c) {
            rc = INMEM_ENOMEM;
            break;
        }
        memcpy(c, out[n - 1].key, out[n - 1].klen);
        free(cursor);
        cursor = c;
        after = cursor;
        alen = out[n - 1].klen;
        if (cap < (1u << 16)) {
            inmem_kv_entry *grown = realloc(out, 2 * cap * sizeof(*out));
            if (grown) {
                out = grown;
                cap *= 2;
            }
        }
    }
    jsbytes_free(&p);
    jsbytes_free(&a);
    free(cursor);
    free(out);
    return rc ? throw_rc(env, rc, NULL, NULL) : r;
}

/* kvGetMany(txn, run, [key...]) -> [{key, value | undefined, version}] */
static napi_value kv_get_many(napi_env env, napi_callback_info info)
{
    ARGS(3);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    if (get_run(env, argv[1], &rid, &run, "run"))
        return NULL;
    bool is;
    napi_is_array(env, argv[2], &is);
    if (!is)
        return throw_msg(env, INMEM_EINVAL, "keys must be an array");
    /* Every element first (a getter may run user code: see kv_put_many), then their bytes;
     * nothing is allocated by the array's length before its elements are there. */
    uint32_t n;
    napi_value *el;
    if (get_elements(env, argv[2], BATCH_MAX, "keys", is_bytes,
                     "a Buffer, a Uint8Array or a string", &el, &n))
        return NULL;
    keptbytes *kb = calloc(n ? n : 1, sizeof(*kb));
    const void **keys = calloc(n ? n : 1, sizeof(*keys));
    size_t *klens = calloc(n ? n : 1, sizeof(*klens));
    inmem_kv_entry *out = calloc(n ? n : 1, sizeof(*out));
    napi_value r = NULL;
    uint32_t got = 0;
    if (!kb || !keys || !klens || !out) {
        throw_rc(env, INMEM_ENOMEM, NULL, NULL);
        goto cleanup;
    }
    for (; got < n; got++) {
        if (keep_bytes(env, el[got], &kb[got], 0, "key"))
            goto cleanup;
        keys[got] = kb[got].p;
        klens[got] = kb[got].n;
    }
    if (!(tx = get_txn_live(env, argv[0])))
        goto cleanup;
    int rc = inmem_kv_get_many(tx->txn, run, n, keys, klens, out);
    r = rc ? throw_rc(env, rc, NULL, NULL) : kv_entries(env, out, n);
cleanup:
    for (uint32_t i = 0; kb && i < got; i++)
        keptbytes_free(&kb[i]);
    free(kb);
    free(keys);
    free(klens);
    free(out);
    free(el);
    return r;
}

/* ---- closure transactions driven by inmem's own retry loop --------------------------------- */

typedef struct closure {
    napi_env env;
    napi_value fn;
    napi_value result;
    napi_value exc; /* what the callback threw, rethrown after the loop */
    dbw *d;
    txw *tx;
    napi_value txobj;
    jsbytes next; /* stateTransition(): the value the callback returned */
    int have_next;
} closure;

#define CLOSURE_THREW 1 /* a positive code: never one of inmem's */

static int is_promise(napi_env env, napi_value v)
{
    bool p = false;
    napi_is_promise(env, v, &p);
    return p;
}

static int transact_cb(inmem_txn *txn, void *arg)
{
    closure *c = arg;
    napi_env env = c->env;
    if (!c->tx) {
        c->tx = txw_new(c->d, txn);
        if (!c->tx)
            return INMEM_ENOMEM;
        c->tx->borrowed = 1;
        c->tx->refs++; /* ours, dropped when the loop is over */
        c->txobj = wrap_txw(env, c->tx);
        if (!c->txobj)
            return INMEM_ENOMEM;
    }
    napi_value global;
    napi_get_global(env, &global);
    napi_status st = napi_call_function(env, global, c->fn, 1, &c->txobj, &c->result);
    /* The callback may have left iterators (or replays) open: the transaction is rolled back
     * or committed next, so free them now. */
    txw_free_cursors(c->tx);
    if (st != napi_ok) {
        napi_get_and_clear_last_exception(env, &c->exc);
        return CLOSURE_THREW;
    }
    if (is_promise(env, c->result)) {
        throw_msg(env, INMEM_EMISUSE,
                  "transactSync() needs a synchronous callback: use transact() for async ones");
        napi_get_and_clear_last_exception(env, &c->exc);
        return CLOSURE_THREW;
    }
    return 0;
}

/* transactSync(db, fn, retryOptions) -> fn's result */
static napi_value transact_sync(napi_env env, napi_callback_info info)
{
    ARGS(3);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    napi_valuetype t;
    napi_typeof(env, argv[1], &t);
    if (t != napi_function)
        return throw_msg(env, INMEM_EINVAL, "the callback must be a function");
    inmem_retry_options ro;
    /* Reading the options may run user code (getters) that closes the database. */
    if (get_retry(env, argv[2], &ro) || !(d = get_db_live(env, argv[0])))
        return NULL;
    closure c = {.env = env, .fn = argv[1], .d = d};
    d->pending++; /* no close from inside the callback */
    int rc = inmem_db_transact(d->db, &ro, transact_cb, &c);
    d->pending--;
    if (c.tx) {
        txw *tx = c.tx;
        tx->borrowed = 1;
        txw_free_txn(tx); /* forget the handle inmem_db_transact() freed */
        if (c.txobj)
            txw_release_handle(env, c.txobj); /* the JS object's reference */
        if (--tx->refs == 0) {                /* ours */
            dbw *dd = tx->db;
            free(tx);
            dbw_release(dd);
        }
    }
    if (rc == CLOSURE_THREW) {
        napi_throw(env, c.exc);
        return NULL;
    }
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return c.result ? c.result : mk_undef(env);
}

static int transition_cb(const void *cur, size_t cur_len, uint64_t version, const void **next,
                         size_t *next_len, void *arg)
{
    closure *c = arg;
    napi_env env = c->env;
    if (c->have_next) {
        jsbytes_free(&c->next);
        c->have_next = 0;
    }
    napi_value global, args[2], res;
    napi_get_global(env, &global);
    args[0] = cur ? mk_buf(env, cur, cur_len) : mk_undef(env);
    args[1] = mk_u64(env, version);
    if (napi_call_function(env, global, c->fn, 2, args, &res) != napi_ok) {
        napi_get_and_clear_last_exception(env, &c->exc);
        return CLOSURE_THREW;
    }
    if (get_bytes(env, res, &c->next, "the transition's result")) {
        napi_get_and_clear_last_exception(env, &c->exc);
        return CLOSURE_THREW;
    }
    c->have_next = 1;
    *next = c->next.p;
    *next_len = c->next.n;
    return 0;
}

/* stateTransition(db, run, name, fn(cur, version) -> next, retryOptions) -> version */
static napi_value state_transition(napi_env env, napi_callback_info info)
{
    ARGS(5);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes name;
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (t != napi_function)
        return throw_msg(env, INMEM_EINVAL, "the transition must be a function");
    inmem_retry_options ro;
    if (get_run(env, argv[1], &rid, &run, "run") || get_retry(env, argv[4], &ro) ||
        get_str(env, argv[2], &name, "name"))
        return NULL;
    if (!(d = get_db_live(env, argv[0]))) { /* the options' getters may have closed it */
        jsbytes_free(&name);
        return NULL;
    }
    closure c = {.env = env, .fn = argv[3], .d = d};
    uint64_t ver = 0;
    d->pending++;
    int rc = inmem_state_transition(d->db, run, name.p, transition_cb, &c, &ro, &ver);
    d->pending--;
    jsbytes_free(&name);
    if (c.have_next)
        jsbytes_free(&c.next);
    if (rc == CLOSURE_THREW) {
        napi_throw(env, c.exc);
        return NULL;
    }
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_u64(env, ver);
}

void init_txn(napi_env env, napi_value exports)
{
    export_fn(env, exports, "txnBegin", txn_begin);
    export_fn(env, exports, "txnCommit", txn_commit);
    export_fn(env, exports, "txnSetTimeout", txn_set_timeout);
    export_fn(env, exports, "txnAbort", txn_abort);
    export_fn(env, exports, "txnFree", txn_free);
    export_fn(env, exports, "txnState", txn_state);
    export_fn(env, exports, "txnDescribe", txn_describe);
    export_fn(env, exports, "kvGet", kv_get);
    export_fn(env, exports, "kvPut", kv_put);
    export_fn(env, exports, "kvPutMany", kv_put_many);
    export_fn(env, exports, "kvDelete", kv_delete);
    export_fn(env, exports, "kvGetExpiry", kv_get_expiry);
    export_fn(env, exports, "kvCas", kv_cas);
    export_fn(env, exports, "kvScan", kv_scan);
    export_fn(env, exports, "iterNext", iter_next);
    export_fn(env, exports, "iterFree", iter_free);
    export_fn(env, exports, "kvList", kv_list);
    export_fn(env, exports, "kvGetMany", kv_get_many);
    export_fn(env, exports, "transactSync", transact_sync);
    export_fn(env, exports, "stateTransition", state_transition);
}
