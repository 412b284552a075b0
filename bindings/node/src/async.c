/*
 * async.c — the calls that can block run on libuv's thread pool (napi async work) and return
 * promises: open (recovery replays the log), close (final fsync), commit (a strict commit waits
 * for its fsync), run deletion, event chain verification, the TTL sweep, collecting a large
 * scan, checkpoints and backups (each writes an image of the whole database), run diffs.
 *
 * Rules that keep a transaction on one thread at a time:
 * - Before a work is queued, on the JS thread: the transaction is marked busy (every other call
 *   on it throws INMEM_EMISUSE until the promise settles) and the database's pending count is
 *   raised (close() throws INMEM_EBUSY meanwhile). A reference to the handle's JS object keeps
 *   it from being collected.
 * - execute() (pool thread) touches only the inmem handles and the work's own fields; it copies
 *   anything borrowed before the transaction can end, and inmem_errmsg() (thread-local) there.
 * - complete() (JS thread) clears busy and pending, builds the result, settles the promise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addon.h"

napi_value commit_error(napi_env env, int rc, const inmem_txn *txn, const char *details);

enum work_kind {
    W_OPEN,
    W_CLOSE,
    W_COMMIT,
    W_RUN_DELETE,
    W_VERIFY,
    W_SWEEP,
    W_SCAN,
    W_CHECKPOINT,
    W_BACKUP,
    W_DIFF
};

typedef struct scan_entry {
    size_t koff, klen, voff, vlen;
    uint64_t version;
} scan_entry;

typedef struct work {
    napi_async_work aw;
    napi_deferred def;
    enum work_kind kind;
    int rc;
    char err[512];
    dbw *d;
    txw *tx;
    napi_ref hold;
    /* open */
    char *path;
    inmem_options opts;
    shared_db *sh;
    inmem_db *db;
    /* commit */
    int free_after;
    /* backup: the directory */
    char *dir;
    /* run delete, verify, scan */
    inmem_run_id rid;
    const inmem_run_id *run;
    char *stream;
    /* scan */
    jsbytes start, end, prefix;
    int use_prefix;
    size_t limit;
    scan_entry *ents;
    size_t nents, cap;
    char *bytes;
    size_t blen, bcap;
    /* diff: run a at at_a against run b at at_b (run ids in rid and rid_b) */
    inmem_run_id rid_b;
    uint64_t at_a, at_b;
    inmem_diff *diff;
    /* result */
    uint64_t u;
} work;

static void note_err(work *w)
{
    if (w->rc && !w->err[0])
        take_details(w->rc, w->err, sizeof(w->err));
}

static int grow_bytes(work *w, size_t add)
{
    if (w->blen + add <= w->bcap)
        return 0;
    size_t cap = w->bcap ? w->bcap : 4096;
    while (cap < w->blen + add)
        cap *= 2;
    char *p = realloc(w->bytes, cap);
    if (!p)
        return INMEM_ENOMEM;
    w->bytes = p;
    w->bcap = cap;
    return 0;
}

static int scan_collect(work *w)
{
    inmem_iter *it;
    int rc = w->use_prefix ? inmem_kv_scan_prefix(w->tx->txn, w->run, w->prefix.p, w->prefix.n, &it)
                           : inmem_kv_scan(w->tx->txn, w->run, w->start.p, w->start.n, w->end.p,
                                           w->end.n, &it);
    if (rc)
        return rc;
    while (w->nents < w->limit) {
        const void *k, *v;
        size_t kl, vl;
        uint64_t ver;
        rc = inmem_iter_next(it, &k, &kl, &v, &vl, &ver);
        if (rc == INMEM_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        if (w->nents == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 64;
            scan_entry *e = realloc(w->ents, cap * sizeof(*e));
            if (!e) {
                rc = INMEM_ENOMEM;
                break;
            }
            w->ents = e;
            w->cap = cap;
        }
        if ((rc = grow_bytes(w, kl + vl)))
            break;
        scan_entry *e = &w->ents[w->nents++];
        e->koff = w->blen;
        e->klen = kl;
        memcpy(w->bytes + w->blen, k, kl);
        w->blen += kl;
        e->voff = w->blen;
        e->vlen = vl;
        if (vl)
            memcpy(w->bytes + w->blen, v, vl);
        w->blen += vl;
        e->version = ver;
    }
    inmem_iter_free(it);
    return rc;
}

static void execute(napi_env env, void *data)
{
    (void)env;
    work *w = data;
    switch (w->kind) {
    case W_OPEN:
        w->rc = shared_open(w->path, &w->opts, &w->sh, &w->db, w->err, sizeof(w->err));
        break;
    case W_CLOSE:
        w->rc = shared_release(w->sh, w->err, sizeof(w->err));
        break;
    case W_COMMIT:
        w->rc = inmem_txn_commit(w->tx->txn);
        break;
    case W_RUN_DELETE:
        w->rc =
            w->tx ? inmem_run_delete(w->tx->txn, &w->rid) : inmem_run_delete_db(w->d->db, &w->rid);
        break;
    case W_VERIFY:
        w->rc = w->tx ? inmem_event_verify(w->tx->txn, w->run, w->stream, &w->u)
                      : inmem_event_verify_db(w->d->db, w->run, w->stream, &w->u);
        break;
    case W_SWEEP:
        w->rc = inmem_db_sweep(w->d->db, &w->u);
        break;
    case W_SCAN:
        w->rc = scan_collect(w);
        break;
    case W_CHECKPOINT:
        w->rc = inmem_db_checkpoint(w->d->db, &w->u);
        break;
    case W_BACKUP:
        w->rc = inmem_db_backup(w->d->db, w->dir, &w->u);
        break;
    case W_DIFF:
        w->rc = inmem_run_diff(w->d->db, &w->rid, w->at_a, &w->rid_b, w->at_b, &w->diff);
        break;
    }
    note_err(w);
}

static void work_free(napi_env env, work *w)
{
    if (w->hold)
        napi_delete_reference(env, w->hold);
    free(w->path);
    free(w->dir);
    free(w->stream);
    jsbytes_free(&w->start);
    jsbytes_free(&w->end);
    jsbytes_free(&w->prefix);
    free(w->ents);
    free(w->bytes);
    inmem_diff_free(w->diff);
    free(w);
}

/* Releases the transaction handle the work holds (commit with free). */
static void release_held(napi_env env, work *w)
{
    napi_value obj;
    if (w->hold && napi_get_reference_value(env, w->hold, &obj) == napi_ok && obj)
        txw_release_handle(env, obj);
}

static void complete(napi_env env, napi_status status, void *data)
{
    work *w = data;
    napi_value result = NULL;
    if (w->tx)
        txw_work_done(w->tx);
    if (w->d)
        w->d->pending--;
    if (status != napi_ok && w->rc == 0)
        w->rc = INMEM_EMISUSE; /* cancelled: the environment is going away */
    const char *det = w->err[0] ? w->err : NULL;
    if (w->rc) {
        if (w->kind == W_COMMIT)
            commit_error(env, w->rc, w->tx->txn, det);
        else
            throw_rc(env, w->rc, det, NULL);
        if (w->kind == W_COMMIT && w->free_after)
            release_held(env, w);
        if (w->kind == W_OPEN)
            free(w->d);
        napi_value err;
        napi_get_and_clear_last_exception(env, &err);
        napi_reject_deferred(env, w->def, err);
        goto cleanup;
    }
    switch (w->kind) {
    case W_OPEN:
        w->d->sh = w->sh;
        w->d->db = w->db;
        w->d->refs = 1;
        w->d->durability = (int)w->opts.durability;
        w->d->commit_waits = commit_waits(&w->opts);
        result = wrap_dbw(env, w->d);
        break;
    case W_CLOSE:
        result = mk_undef(env);
        break;
    case W_COMMIT: {
        inmem_txn_info ti;
        inmem_txn_describe(w->tx->txn, &ti);
        if (w->free_after)
            release_held(env, w);
        result = mk_u64(env, ti.commit_version);
        break;
    }
    case W_RUN_DELETE:
        result = mk_undef(env);
        break;
    case W_VERIFY:
    case W_SWEEP:
    case W_CHECKPOINT:
    case W_BACKUP:
        result = mk_u64(env, w->u);
        break;
    case W_DIFF: {
        result = mk_arr(env, 0);
        inmem_diff_entry e;
        for (uint32_t i = 0; inmem_diff_next(w->diff, &e) == 0; i++)
            set_elem(env, result, i, diff_entry_obj(env, &e));
        break;
    }
    case W_SCAN:
        result = mk_arr(env, w->nents);
        for (size_t i = 0; i < w->nents; i++) {
            scan_entry *e = &w->ents[i];
            napi_value o = mk_obj(env);
            set_prop(env, o, "key", mk_buf(env, w->bytes + e->koff, e->klen));
            set_prop(env, o, "value", mk_buf(env, w->bytes + e->voff, e->vlen));
            set_u64(env, o, "version", e->version);
            set_elem(env, result, (uint32_t)i, o);
        }
        break;
    }
    if (!result) {
        napi_value err;
        napi_get_and_clear_last_exception(env, &err);
        napi_reject_deferred(env, w->def, err);
    } else {
        napi_resolve_deferred(env, w->def, result);
    }
cleanup:
    if (w->d && w->kind != W_OPEN)
        dbw_work_done(w->d);
    napi_delete_async_work(env, w->aw);
    work_free(env, w);
}

/* Queues @p w; returns its promise (NULL with an exception pending on failure). */
static napi_value queue(napi_env env, work *w, napi_value holdobj, const char *name)
{
    napi_value promise, rname;
    if (napi_create_promise(env, &w->def, &promise) != napi_ok) {
        work_free(env, w);
        return NULL;
    }
    if (holdobj)
        napi_create_reference(env, holdobj, 1, &w->hold);
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &rname);
    if (napi_create_async_work(env, NULL, rname, execute, complete, w, &w->aw) != napi_ok ||
        napi_queue_async_work(env, w->aw) != napi_ok) {
        /* Nothing was queued: settle the promise now with an error. */
        if (w->tx)
            txw_work_done(w->tx);
        if (w->d)
            w->d->pending--;
        throw_rc(env, INMEM_ENOMEM, "cannot queue an asynchronous call", NULL);
        napi_value err;
        napi_get_and_clear_last_exception(env, &err);
        napi_reject_deferred(env, w->def, err);
        if (w->kind == W_OPEN)
            free(w->d);
        work_free(env, w);
    }
    return promise;
}

static work *work_new(napi_env env, enum work_kind kind)
{
    work *w = calloc(1, sizeof(*w));
    if (!w)
        throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    else
        w->kind = kind;
    return w;
}

/* Takes a transaction for the pool: busy, and its database pending. Not transactSync()'s: the
 * library ends and frees it when the callback returns, whatever the pool is doing with it. */
static int take_txn(napi_env env, work *w, txw *tx)
{
    if (tx->borrowed) {
        throw_msg(env, INMEM_EMISUSE,
                  "transactSync() ends its transaction when the callback returns: an "
                  "asynchronous call cannot run on it (use the synchronous form)");
        return -1;
    }
    w->tx = tx;
    w->d = tx->db;
    tx->busy_state = w->kind == W_COMMIT ? -1 : (int)inmem_txn_state_of(tx->txn);
    tx->busy = 1;
    tx->db->pending++;
    return 0;
}

static void take_db(work *w, dbw *d)
{
    w->d = d;
    d->pending++;
}

/* dbOpenAsync(path | null, options) -> Promise<handle> */
static napi_value db_open_async(napi_env env, napi_callback_info info)
{
    ARGS(2);
    work *w = work_new(env, W_OPEN);
    if (!w)
        return NULL;
    jsbytes path;
    if (get_options(env, argv[1], &w->opts) || get_str_opt(env, argv[0], &path, "path")) {
        work_free(env, w);
        return NULL;
    }
    if (!path.p && w->opts.durability != INMEM_DURABILITY_NONE) {
        work_free(env, w);
        return throw_msg(env, INMEM_EINVAL, "a path is required unless durability is 'none'");
    }
    if (path.p && !(w->path = strdup(path.p))) {
        jsbytes_free(&path);
        work_free(env, w);
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    }
    jsbytes_free(&path);
    /* The handle the promise resolves to; not pending (nothing can use it before). */
    dbw *d = calloc(1, sizeof(*d));
    if (!d) {
        work_free(env, w);
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    }
    w->d = d;
    d->pending = 1; /* complete() drops it */
    return queue(env, w, NULL, "inmem.open");
}

/* dbCloseAsync(db) -> Promise: frees its transactions now, fsyncs and closes in the pool. */
static napi_value db_close_async(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dbw *d = get_dbw(env, argv[0]);
    if (!d)
        return NULL;
    if (d->pending)
        return throw_msg(env, INMEM_EBUSY,
                         "an asynchronous call on this database is still running");
    work *w = work_new(env, W_CLOSE);
    if (!w)
        return NULL;
    if (!d->sh) {
        /* Already closed: resolve at once, like close(). */
        napi_value p;
        napi_create_promise(env, &w->def, &p);
        napi_resolve_deferred(env, w->def, mk_undef(env));
        work_free(env, w);
        return p;
    }
    w->sh = dbw_detach(d); /* ours alone now, whatever the user code it runs does */
    take_db(w, d);
    return queue(env, w, argv[0], "inmem.close");
}

/* txnCommitAsync(txn, free) -> Promise<version> */
static napi_value txn_commit_async(napi_env env, napi_callback_info info)
{
    ARGS(2);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    if (tx->borrowed)
        return throw_msg(env, INMEM_EMISUSE,
                         "transactSync() ends its transaction itself: return to commit");
    work *w = work_new(env, W_COMMIT);
    if (!w)
        return NULL;
    get_bool(env, argv[1], 0, &w->free_after);
    if (take_txn(env, w, tx)) {
        work_free(env, w);
        return NULL;
    }
    return queue(env, w, argv[0], "inmem.commit");
}

static int target_work(napi_env env, napi_value h, work *w)
{
    dbw *d;
    txw *tx;
    if (get_target(env, h, &d, &tx))
        return -1;
    if (tx)
        return take_txn(env, w, tx);
    take_db(w, d);
    return 0;
}

/* runDeleteAsync(h, id) -> Promise */
static napi_value run_delete_async(napi_env env, napi_callback_info info)
{
    ARGS(2);
    work *w = work_new(env, W_RUN_DELETE);
    if (!w)
        return NULL;
    if (get_run_req(env, argv[1], &w->rid, "run") || target_work(env, argv[0], w)) {
        work_free(env, w);
        return NULL;
    }
    return queue(env, w, argv[0], "inmem.runDelete");
}

/* eventVerifyAsync(h, run, stream) -> Promise<first broken seq> */
static napi_value event_verify_async(napi_env env, napi_callback_info info)
{
    ARGS(3);
    work *w = work_new(env, W_VERIFY);
    if (!w)
        return NULL;
    jsbytes s;
    if (get_run(env, argv[1], &w->rid, &w->run, "run") || get_str(env, argv[2], &s, "stream")) {
        work_free(env, w);
        return NULL;
    }
    w->stream = strdup(s.p);
    jsbytes_free(&s);
    if (!w->stream) {
        work_free(env, w);
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    }
    if (target_work(env, argv[0], w)) {
        work_free(env, w);
        return NULL;
    }
    return queue(env, w, argv[0], "inmem.eventVerify");
}

/* dbSweepAsync(db) -> Promise<removed> */
static napi_value db_sweep_async(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    work *w = work_new(env, W_SWEEP);
    if (!w)
        return NULL;
    take_db(w, d);
    return queue(env, w, argv[0], "inmem.sweep");
}

/* dbCheckpointAsync(db) -> Promise<version>: the image is written on the pool. */
static napi_value db_checkpoint_async(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    work *w = work_new(env, W_CHECKPOINT);
    if (!w)
        return NULL;
    take_db(w, d);
    return queue(env, w, argv[0], "inmem.checkpoint");
}

/* dbBackupAsync(db, dir) -> Promise<version> */
static napi_value db_backup_async(napi_env env, napi_callback_info info)
{
    ARGS(2);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    jsbytes dir;
    if (get_backup_dir(env, argv[1], &dir))
        return NULL;
    work *w = work_new(env, W_BACKUP);
    if (w && !(w->dir = strdup(dir.p))) {
        work_free(env, w);
        w = NULL;
        throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    }
    jsbytes_free(&dir);
    if (!w)
        return NULL;
    take_db(w, d);
    return queue(env, w, argv[0], "inmem.backup");
}

/* Copies bytes that must outlive the call (jsbytes may point into the stack of the call). */
static int own_bytes(napi_env env, napi_value v, jsbytes *dst, const char *what)
{
    jsbytes b;
    if (get_bytes_opt(env, v, &b, what))
        return -1;
    dst->p = NULL;
    dst->n = b.n;
    dst->heap = NULL;
    if (b.p) {
        dst->heap = malloc(b.n ? b.n : 1);
        if (!dst->heap) {
            jsbytes_free(&b);
            throw_rc(env, INMEM_ENOMEM, NULL, NULL);
            return -1;
        }
        memcpy(dst->heap, b.p, b.n);
        dst->p = dst->heap;
    }
    jsbytes_free(&b);
    return 0;
}

/* kvScanAsync(txn, run, start, end, prefix, limit) -> Promise<[{key, value, version}]> */
static napi_value kv_scan_async(napi_env env, napi_callback_info info)
{
    ARGS(6);
    txw *tx = get_txn_live(env, argv[0]);
    if (!tx)
        return NULL;
    work *w = work_new(env, W_SCAN);
    if (!w)
        return NULL;
    uint64_t limit;
    napi_valuetype pt;
    napi_typeof(env, argv[4], &pt);
    w->use_prefix = pt != napi_undefined;
    if (get_run(env, argv[1], &w->rid, &w->run, "run") ||
        get_u64(env, argv[5], UINT64_MAX >> 11, &limit, "limit") ||
        own_bytes(env, argv[2], &w->start, "start") || own_bytes(env, argv[3], &w->end, "end") ||
        own_bytes(env, argv[4], &w->prefix, "prefix")) {
        work_free(env, w);
        return NULL;
    }
    w->limit = (size_t)limit;
    if (take_txn(env, w, tx)) {
        work_free(env, w);
        return NULL;
    }
    return queue(env, w, argv[0], "inmem.scan");
}

/* runDiffAsync(db, a | null, atA, b | null, atB) -> Promise<[entry]>: the comparison (scans of
 * both sides, bisection of event streams) runs on the pool. */
static napi_value run_diff_async(napi_env env, napi_callback_info info)
{
    ARGS(5);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    work *w = work_new(env, W_DIFF);
    if (!w)
        return NULL;
    const inmem_run_id *ap, *bp;
    if (get_run(env, argv[1], &w->rid, &ap, "a") || get_u64(env, argv[2], 0, &w->at_a, "atA") ||
        get_run(env, argv[3], &w->rid_b, &bp, "b") || get_u64(env, argv[4], 0, &w->at_b, "atB")) {
        work_free(env, w);
        return NULL;
    }
    if (!ap)
        memset(&w->rid, 0, sizeof(w->rid)); /* the shared scope */
    if (!bp)
        memset(&w->rid_b, 0, sizeof(w->rid_b));
    take_db(w, d);
    return queue(env, w, argv[0], "inmem.runDiff");
}

void init_async(napi_env env, napi_value exports)
{
    export_fn(env, exports, "runDiffAsync", run_diff_async);
    export_fn(env, exports, "dbOpenAsync", db_open_async);
    export_fn(env, exports, "dbCloseAsync", db_close_async);
    export_fn(env, exports, "txnCommitAsync", txn_commit_async);
    export_fn(env, exports, "runDeleteAsync", run_delete_async);
    export_fn(env, exports, "eventVerifyAsync", event_verify_async);
    export_fn(env, exports, "dbSweepAsync", db_sweep_async);
    export_fn(env, exports, "kvScanAsync", kv_scan_async);
    export_fn(env, exports, "dbCheckpointAsync", db_checkpoint_async);
    export_fn(env, exports, "dbBackupAsync", db_backup_async);
}
