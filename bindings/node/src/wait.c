/*
 * wait.c — waiting for a KV key, a state cell or an event stream to move past a version
 * (docs/history.md, "Waiting for changes"), without blocking the event loop.
 *
 * db.wait() opens a library watch (inmem_watch_open: one-shot, an eventfd that becomes readable
 * once the key moves past the version, or the database closes) and polls its descriptor with a
 * uv_poll_t on the environment's loop, with a uv_timer_t for the timeout: nothing blocks and no
 * thread waits. When the descriptor is readable, inmem_watch_poll() says what happened and the
 * promise settles (inside a callback scope, so that the awaiting code runs at once).
 *
 * Lifetimes (all on the JS thread of the environment that started the wait)
 *   ww   one pending wait. It holds a reference to its database's JS object (the database is
 *        not collected while someone waits on it) and a count on its dbw (the C struct outlives
 *        it). It is linked in its dbw's list of waits until it settles. Settling (a fire, the
 *        timeout, an abort, or the database's close, which rejects with ClosedError) closes the
 *        library watch at once, then closes the uv handles; the struct is freed by the last
 *        close callback.
 *   The library watch is closed before the database can close: every close of a dbw first
 *   settles the waits linked to it (watches_cancel()), and the database stays open while a dbw
 *   holds it, so inmem_watch_close() never races with inmem_db_close().
 *   Environment teardown (a worker that ends, the process exiting) with waits pending: an async
 *   cleanup hook per wait closes its watch and its handles, and tells Node when they are closed.
 *
 * waitSync() is inmem_wait() itself: it blocks the calling thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "addon.h"

struct ww {
    uv_poll_t poll;
    uv_timer_t timer;
    int has_timer;
    int handles; /* uv handles not closed yet */
    napi_env env;
    napi_deferred def;
    napi_ref hold;           /* the database's JS object */
    napi_async_context actx; /* for the callback scope the promise settles in */
    napi_async_cleanup_hook_handle hook;
    int teardown; /* closed by the environment's teardown */
    dbw *d;
    inmem_watch *w; /* NULL once closed */
    uint32_t id;
    int done;
    ww *prev, *next;
};

static void ww_unlink(ww *x)
{
    dbw *d = x->d;
    if (x->prev)
        x->prev->next = x->next;
    else if (d->watches == x)
        d->watches = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

static void ww_handle_closed(uv_handle_t *h)
{
    ww *x = h->data;
    if (--x->handles > 0)
        return;
    if (x->teardown)
        napi_remove_async_cleanup_hook(x->hook);
    dbw_release(x->d);
    free(x);
}

/* Stops everything that can call back, closes the library watch and the uv handles. */
static void ww_stop(ww *x)
{
    x->done = 1;
    ww_unlink(x);
    uv_poll_stop(&x->poll);
    if (x->has_timer)
        uv_timer_stop(&x->timer);
    x->handles = 1 + x->has_timer;
    uv_close((uv_handle_t *)&x->poll, ww_handle_closed); /* takes the descriptor off the loop */
    if (x->has_timer)
        uv_close((uv_handle_t *)&x->timer, ww_handle_closed);
    inmem_watch_close(x->w); /* then closes it */
    x->w = NULL;
}

/*
 * Settles the wait: resolved with @p version if @p rc is 0, else rejected with @p reason if not
 * NULL, else with the InmemError of @p rc. @p from_loop: called from a uv callback (not from
 * JavaScript), so a handle scope and a callback scope are needed.
 */
static void ww_settle(ww *x, int rc, uint64_t version, napi_value reason, int from_loop)
{
    if (x->done)
        return;
    napi_env env = x->env;
    napi_remove_async_cleanup_hook(x->hook);
    ww_stop(x);
    napi_handle_scope hs = NULL;
    napi_callback_scope cs = NULL;
    if (from_loop) {
        napi_open_handle_scope(env, &hs);
        napi_value resource = mk_obj(env);
        if (napi_open_callback_scope(env, resource, x->actx, &cs) != napi_ok)
            cs = NULL;
    }
    if (rc == 0) {
        napi_resolve_deferred(env, x->def, mk_u64(env, version));
    } else {
        napi_value err = reason;
        if (!err) {
            throw_rc(env, rc,
                     rc == INMEM_ETIMEDOUT
                         ? "the key did not move past the version within timeoutMs"
                         : NULL,
                     NULL);
            napi_get_and_clear_last_exception(env, &err);
        }
        napi_reject_deferred(env, x->def, err);
    }
    if (cs)
        napi_close_callback_scope(env, cs); /* runs the microtasks: the awaiting code */
    napi_delete_reference(env, x->hold);
    napi_async_destroy(env, x->actx);
    if (hs)
        napi_close_handle_scope(env, hs);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    ww *x = h->data;
    if (x->done)
        return;
    uint64_t v = 0;
    int rc = inmem_watch_poll(x->w, &v);
    if (rc == INMEM_NOTFOUND) {
        if (status >= 0)
            return; /* not yet (the library writes the descriptor only once it fired) */
        rc = INMEM_EIO;
    }
    ww_settle(x, rc, v, NULL, 1);
}

static void on_timeout(uv_timer_t *h)
{
    ww *x = h->data;
    if (x->done)
        return;
    uint64_t v = 0;
    int rc = inmem_watch_poll(x->w, &v); /* it may have fired in this loop iteration */
    ww_settle(x, rc == INMEM_NOTFOUND ? INMEM_ETIMEDOUT : rc, v, NULL, 1);
}

/* The environment is going away with this wait pending: no promise to settle any more. */
static void ww_teardown(napi_async_cleanup_hook_handle handle, void *arg)
{
    ww *x = arg;
    x->hook = handle;
    x->teardown = 1;
    ww_stop(x);
}

void watches_cancel(dbw *d)
{
    while (d->watches)
        ww_settle(d->watches, INMEM_ECLOSED, 0, NULL, 0);
}

/* 'kv' | 'state' | 'event' -> the primitive; the key: bytes for KV, a name otherwise. */
static int get_watched(napi_env env, napi_value what, napi_value key, inmem_primitive *p,
                       jsbytes *k)
{
    char s[16] = ""; /* room for a name and a character after it: the copy never splits one */
    size_t n = 0;
    napi_valuetype t;
    napi_typeof(env, what, &t);
    if (t == napi_string)
        napi_get_value_string_utf8(env, what, s, sizeof(s), &n);
    if (strcmp(s, "kv") == 0)
        *p = INMEM_PRIM_KV;
    else if (strcmp(s, "state") == 0)
        *p = INMEM_PRIM_STATE;
    else if (strcmp(s, "event") == 0)
        *p = INMEM_PRIM_EVENT;
    else {
        throw_msg(env, INMEM_EINVAL, "what must be 'kv', 'state' or 'event'");
        return -1;
    }
    return *p == INMEM_PRIM_KV ? get_bytes(env, key, k, "key") : get_str(env, key, k, "name");
}

/* undefined or null: forever (UINT64_MAX). */
static int get_timeout(napi_env env, napi_value v, uint64_t *out)
{
    if (is_nullish(env, v)) {
        *out = UINT64_MAX;
        return 0;
    }
    return get_u64(env, v, 0, out, "timeoutMs");
}

/* watchStart(db, what, run, key, afterVersion, timeoutMs) -> [Promise<version>, id] */
static napi_value watch_start(napi_env env, napi_callback_info info)
{
    ARGS(6);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    inmem_primitive prim;
    uint64_t after, timeout;
    jsbytes k;
    if (get_run(env, argv[2], &rid, &run, "run") || get_u64(env, argv[4], 0, &after, "after") ||
        get_timeout(env, argv[5], &timeout) || get_watched(env, argv[1], argv[3], &prim, &k))
        return NULL;

    /* The promise and the async context before the watch: making them runs user code (the
     * promise hooks of node:v8, async_hooks' init), which may close this handle. Made after,
     * that code closed it under a wait being set up: the wait was linked to the closed handle,
     * or settled by the close half-made, and then its uv handle started while closing (abort). */
    napi_value promise, result, id;
    napi_deferred def;
    napi_async_context actx;
    if (napi_create_promise(env, &def, &promise) != napi_ok) {
        jsbytes_free(&k);
        return NULL;
    }
    if (napi_async_init(env, NULL, mk_str(env, "inmem.wait"), &actx) != napi_ok) {
        jsbytes_free(&k);
        napi_value pending;
        napi_get_and_clear_last_exception(env, &pending);
        napi_resolve_deferred(env, def, mk_undef(env)); /* no one has it: released */
        napi_throw(env, pending);
        return NULL;
    }
    result = mk_arr(env, 2);
    set_elem(env, result, 0, promise);
    inmem_watch *w = NULL;
    int rc = INMEM_ECLOSED; /* closed meanwhile: what a close does to a pending wait */
    if (d->db) {
        rc = inmem_watch_open(d->db, run, prim, k.p, k.n, after, &w);
        if (rc) {
            char det[512];
            snprintf(det, sizeof(det), "%s", rc == INMEM_EIO ? errmsg_details(rc) : "");
            jsbytes_free(&k);
            napi_async_destroy(env, actx);
            napi_resolve_deferred(env, def, mk_undef(env)); /* no one has it: released */
            return throw_rc(env, rc, det[0] ? det : NULL, NULL);
        }
    }
    jsbytes_free(&k);

    /* Moved already, or just looking (or closed meanwhile): settle now (no handles). */
    uint64_t v = 0;
    if (w)
        rc = inmem_watch_poll(w, &v);
    if (rc != INMEM_NOTFOUND || timeout == 0) {
        inmem_watch_close(w);
        napi_async_destroy(env, actx);
        napi_create_uint32(env, 0, &id);
        set_elem(env, result, 1, id);
        if (rc == 0) {
            napi_resolve_deferred(env, def, mk_u64(env, v));
        } else {
            napi_value err;
            throw_rc(env, rc == INMEM_NOTFOUND ? INMEM_ETIMEDOUT : rc,
                     rc == INMEM_NOTFOUND ? "the key has not moved past the version" : NULL, NULL);
            napi_get_and_clear_last_exception(env, &err);
            napi_reject_deferred(env, def, err);
        }
        return result;
    }

    /* From here to the return, nothing runs user code. */
    uv_loop_t *loop = NULL;
    ww *x = calloc(1, sizeof(*x));
    if (!x || napi_get_uv_event_loop(env, &loop) != napi_ok || !loop ||
        uv_poll_init(loop, &x->poll, inmem_watch_fd(w)) != 0) {
        free(x);
        inmem_watch_close(w);
        napi_async_destroy(env, actx);
        napi_create_uint32(env, 0, &id);
        set_elem(env, result, 1, id);
        napi_value err;
        throw_rc(env, INMEM_ENOMEM, "cannot poll the watch's descriptor", NULL);
        napi_get_and_clear_last_exception(env, &err);
        napi_reject_deferred(env, def, err);
        return result;
    }
    x->env = env;
    x->def = def;
    x->actx = actx;
    x->d = d;
    x->w = w;
    x->id = ++d->watch_ids;
    if (x->id == 0)
        x->id = ++d->watch_ids;
    x->poll.data = x;
    d->refs++;
    x->next = d->watches;
    if (d->watches)
        d->watches->prev = x;
    d->watches = x;
    napi_create_reference(env, argv[0], 1, &x->hold);
    napi_add_async_cleanup_hook(env, ww_teardown, x, &x->hook);
    uv_poll_start(&x->poll, UV_READABLE, on_readable);
    if (timeout != UINT64_MAX) {
        uv_timer_init(loop, &x->timer);
        x->timer.data = x;
        x->has_timer = 1;
        uv_timer_start(&x->timer, on_timeout, timeout, 0);
    }
    napi_create_uint32(env, x->id, &id);
    set_elem(env, result, 1, id);
    return result;
}

/* watchCancel(db, id, reason): rejects a pending wait with reason (an abort). Does nothing if it
 * has settled already. */
static napi_value watch_cancel(napi_env env, napi_callback_info info)
{
    ARGS(3);
    dbw *d = get_dbw(env, argv[0]);
    if (!d)
        return NULL;
    uint32_t id = 0;
    napi_get_value_uint32(env, argv[1], &id);
    for (ww *x = d->watches; x; x = x->next) {
        if (x->id == id) {
            ww_settle(x, INMEM_ETIMEDOUT, 0, argv[2], 0);
            break;
        }
    }
    return mk_undef(env);
}

/* waitSync(db, what, run, key, afterVersion, timeoutMs) -> version; blocks this thread. */
static napi_value wait_sync(napi_env env, napi_callback_info info)
{
    ARGS(6);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    inmem_primitive prim;
    uint64_t after, timeout;
    jsbytes k;
    if (get_run(env, argv[2], &rid, &run, "run") || get_u64(env, argv[4], 0, &after, "after") ||
        get_timeout(env, argv[5], &timeout) || get_watched(env, argv[1], argv[3], &prim, &k))
        return NULL;
    uint64_t v = 0;
    int rc = inmem_wait(d->db, run, prim, k.p, k.n, after, timeout, &v);
    jsbytes_free(&k);
    if (rc)
        return throw_rc(
            env, rc,
            rc == INMEM_ETIMEDOUT ? "the key did not move past the version within timeoutMs" : NULL,
            NULL);
    return mk_u64(env, v);
}

void init_wait(napi_env env, napi_value exports)
{
    export_fn(env, exports, "watchStart", watch_start);
    export_fn(env, exports, "watchCancel", watch_cancel);
    export_fn(env, exports, "waitSync", wait_sync);
}
