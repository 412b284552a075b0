/*
 * addon.h — shared declarations of the Node-API addon that wraps inmem's public API
 * (include/inmem.h) for JavaScript. The addon is a flat set of functions over opaque handles;
 * the files in lib/ build the classes users see (Database, Transaction, Iterator, InmemError...).
 *
 * Handles and their lifetimes (all fields below are touched on the JS thread only, except where
 * an async work's execute step says otherwise)
 *
 *   shared_db  one inmem_db per directory per process, shared by every JS Database handle that
 *              opened it (the main thread and worker threads alike): a directory can be opened
 *              once per process (its lock), and a database may be used from many threads.
 *              Reference-counted under a process-wide mutex; the last release closes it.
 *   dbw        one JS Database handle. refs = 1 while its JS object lives + 1 per live txw
 *              + 1 per pending wait. Closing (explicitly or by its finalizer) first marks it
 *              closed, frees every transaction it still has (their JS objects then throw
 *              "transaction freed"), settles its pending waits (db.wait(), wait.c) with
 *              ClosedError (user code may run there: promise hooks), then releases the
 *              shared_db.
 *              The C struct itself lives until refs reaches 0, so finalizers may run in any
 *              order.
 *   txw        one JS Transaction. txn is NULL once freed (by the user, by its database's close
 *              or by its finalizer). refs = 1 while its JS object lives + 1 per live itw.
 *              busy is set while an async work uses the transaction on a pool thread: every other
 *              call on it throws, so a transaction is never used by two threads at once.
 *   itw        one JS Iterator, or one run replay (rp): it (rp) is NULL once freed (also when
 *              its transaction is freed, as the library frees a transaction's iterators with
 *              it; a replay, which reads through the transaction, is freed with it by us).
 *
 * Errors: every failure throws an InmemError subclass made by the JS factory registered with
 * setErrorFactory() (lib/errors.js): wrong argument types are INMEM_EINVAL, calls on a closed
 * database or a freed transaction INMEM_EMISUSE.
 */
#ifndef INMEM_NODE_ADDON_H
#define INMEM_NODE_ADDON_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

#include "inmem.h"

typedef struct shared_db shared_db;
typedef struct dbw dbw;
typedef struct txw txw;
typedef struct itw itw;
typedef struct ww ww;

struct dbw {
    shared_db *sh;      /* NULL once closed */
    inmem_db *db;       /* sh->db, cached; NULL once closed */
    int durability;     /* inmem_durability of the shared database */
    int commit_waits;   /* a commit that writes may wait for an fsync: strict, or a cap on
                         * unsynced commits (max_unsynced_commits) in batched or async mode */
    int refs;           /* JS object alive + live txws */
    int pending;        /* async works in flight on this handle or its transactions */
    int orphaned;       /* its JS object was collected while works ran: the last one closes it */
    txw *txns;          /* live transactions (txn != NULL), doubly linked */
    ww *watches;        /* pending db.wait() calls (wait.c), doubly linked */
    uint32_t watch_ids; /* the last id given to one */
};

struct txw {
    inmem_txn *txn; /* NULL once freed */
    dbw *db;
    txw *prev, *next;
    itw *iters;
    int refs;
    int busy; /* an async work owns it */
    /* While busy, what txnState() says, as the pool thread may be changing the transaction's
     * state (a commit): -1 "committing" (commitAsync), else the state the work began in. The
     * JS thread never reads the transaction's own state meanwhile. */
    int busy_state;
    int borrowed; /* the transaction of a transactSync() callback: not ours to end */
};

struct itw {
    inmem_iter *it;   /* NULL once freed */
    inmem_replay *rp; /* a replay's handle instead of an iterator; NULL once freed */
    txw *tx;
    itw *prev, *next;
    int dead; /* its JS object was collected while an async work used the transaction: freed
                 when that work completes (txw_work_done), not meanwhile */
};

/* ---- addon.c: errors, arguments, results -------------------------------------------------- */

/* Throws the InmemError for @p rc (details from inmem_errmsg() for the codes that carry them,
 * or @p details if not NULL; @p extra: an object merged into the error, or NULL). Returns NULL
 * so that a binding function can `return throw_rc(...)`. */
napi_value throw_rc(napi_env env, int rc, const char *details, napi_value extra);
/* Throws INMEM_EINVAL (or @p rc) with a message naming what was wrong. */
napi_value throw_msg(napi_env env, int rc, const char *msg);
/* inmem_errmsg() without its "<strerror>: " prefix (call right after the failing call). */
const char *errmsg_details(int rc);
/* Copies errmsg_details(rc) into @p buf ("" if the message does not describe @p rc), then
 * empties the message, so that a later error without one does not show it. */
void take_details(int rc, char *buf, size_t len);
/* Whether inmem_errmsg() on this thread describes @p rc (then errmsg_details() gives them). */
int rc_has_details(int rc);

/* Bytes from a Buffer, any TypedArray, DataView, ArrayBuffer or string (UTF-8). */
typedef struct jsbytes {
    const void *p;
    size_t n;
    char *heap;
    char stack[200];
} jsbytes;
/* 0, or -1 with an exception pending. A string is NUL-terminated (p[n] == 0). */
int get_bytes(napi_env env, napi_value v, jsbytes *b, const char *what);
/* Like get_bytes(), but undefined and null give p = NULL, n = 0. */
int get_bytes_opt(napi_env env, napi_value v, jsbytes *b, const char *what);
/* A string only, NUL-terminated (names: streams, cells, types, tags, namespaces). */
int get_str(napi_env env, napi_value v, jsbytes *b, const char *what);
/* Like get_str(), but undefined and null give p = NULL. */
int get_str_opt(napi_env env, napi_value v, jsbytes *b, const char *what);
void jsbytes_free(jsbytes *b);

/* Bytes kept in an array of a batch (a jsbytes is 224 bytes, this 24): a string is copied to
 * the heap (NUL-terminated), binary data is borrowed. */
typedef struct keptbytes {
    const void *p;
    size_t n;
    char *heap;
} keptbytes;
/* get_bytes() (@p str: get_str()) into @p k. 0, or -1 with an exception pending. */
int keep_bytes(napi_env env, napi_value v, keptbytes *k, int str, const char *what);
void keptbytes_free(keptbytes *k);

/* The most elements an array argument of a batch (getMany, putMany, appendBatch) may have. */
#define BATCH_MAX (1u << 20)
/* Whether @p v is what get_bytes() takes; whether it is an object (not null). No user code. */
int is_bytes(napi_env env, napi_value v);
int is_object(napi_env env, napi_value v);
/* The elements of the array @p arr (checked to be one by the caller), each read once, in
 * order, into *out (malloc'ed, NULL when empty; the caller frees it): reading one may run user
 * code (a getter), so the caller converts them only once all are read. A length above @p max
 * fails at once, and *out grows only as elements come, each checked with @p ok (a type check
 * that runs no user code): a huge sparse array fails at its first hole, having allocated
 * nothing by its length. 0, or -1 with an exception pending (INMEM_EINVAL: "<what> has N
 * elements: at most M in one call", "<what>[i] must be <expected>"). */
int get_elements(napi_env env, napi_value arr, uint32_t max, const char *what,
                 int (*ok)(napi_env, napi_value), const char *expected, napi_value **out,
                 uint32_t *n);

/* A read into an array the caller provides (the library's lists, ranges, trees, histories),
 * made with room that grows with what is found rather than with the limit: @p read is called
 * with room for min(limit, READ_ROOM_FIRST) records, and again from the start with twice the
 * room (at most @p limit) while it fills the room, so that a limit of 2^20 over three records
 * allocates for 1024, not 2^20 (a 2^20-span trace query took 1.2 GB up front). In a
 * transaction each call reads the same snapshot; on a database, the last call's result is whole
 * and from one snapshot. The calls read at most about twice what the last one returns.
 * Returns the records (*n of them, malloc'ed: the caller frees them, also when *n is 0) with
 * *rc 0, or NULL with *rc INMEM_ENOMEM or @p read's error. */
#define READ_ROOM_FIRST 1024
typedef int (*grown_read_fn)(void *arg, size_t room, void *out, size_t *n);
void *read_grown(size_t limit, size_t size, grown_read_fn read, void *arg, size_t *n, int *rc);

/* A run id: undefined or null is the shared scope (*out = NULL), else a 36-character string or
 * a 16-byte Buffer. */
int get_run(napi_env env, napi_value v, inmem_run_id *id, const inmem_run_id **out,
            const char *what);
/* A run id that must be given (not the shared scope's null). */
int get_run_req(napi_env env, napi_value v, inmem_run_id *id, const char *what);
/* A non-negative integer: a Number (exact, at most 2^53) or a BigInt; undefined gives @p dflt. */
int get_u64(napi_env env, napi_value v, uint64_t dflt, uint64_t *out, const char *what);
int get_bool(napi_env env, napi_value v, int dflt, int *out);
int is_nullish(napi_env env, napi_value v);
/* obj[name] (undefined when obj is undefined or null), or NULL with the exception pending when
 * a getter threw: every get_* above fails on a NULL value, so the call stops before the
 * library's. */
napi_value get_prop(napi_env env, napi_value obj, const char *name);

napi_value mk_undef(napi_env env);
napi_value mk_null(napi_env env);
napi_value mk_u64(napi_env env, uint64_t v);
napi_value mk_bigint(napi_env env, uint64_t v);
napi_value mk_bool(napi_env env, int v);
napi_value mk_str(napi_env env, const char *s);
napi_value mk_buf(napi_env env, const void *p, size_t n);
napi_value mk_run(napi_env env, const inmem_run_id *id);
napi_value mk_obj(napi_env env);
napi_value mk_arr(napi_env env, size_t n);
void set_prop(napi_env env, napi_value obj, const char *name, napi_value v);
void set_u64(napi_env env, napi_value obj, const char *name, uint64_t v);
/* Element i of a new array (defined, not assigned: see set_prop). */
void set_elem(napi_env env, napi_value arr, uint32_t i, napi_value v);
/* {key, value, version} (value undefined when @p v is NULL). */
napi_value mk_entry(napi_env env, const void *k, size_t kl, const void *v, size_t vl,
                    uint64_t version);

/* Handles: unwrap with a type check; the _live forms also check the handle is usable (db open,
 * transaction not freed and not busy) and throw otherwise. */
dbw *get_dbw(napi_env env, napi_value v);
/* Whether a commit that writes may wait for an fsync under options @p o (inmem.h: strict, or
 * max_unsynced_commits reached in batched or async mode). */
static inline int commit_waits(const inmem_options *o)
{
    return o->durability == INMEM_DURABILITY_STRICT ||
           (o->max_unsynced_commits && o->durability != INMEM_DURABILITY_NONE);
}
dbw *get_db_live(napi_env env, napi_value v);
txw *get_txw(napi_env env, napi_value v);
txw *get_txn_live(napi_env env, napi_value v);
itw *get_itw(napi_env env, napi_value v);
/* Like get_txw()/get_itw(), but a released handle sets *freed instead of throwing. */
txw *get_txw_or_freed(napi_env env, napi_value v, int *freed);
itw *get_itw_or_freed(napi_env env, napi_value v, int *freed);
/* Frees the C side of a handle now (the JS object then throws "freed"). */
void txw_release_handle(napi_env env, napi_value obj);
void itw_release_handle(napi_env env, napi_value obj);
/* An async work is done with @p tx (JS thread): clears busy and frees the iterators and replays
 * whose JS objects were collected meanwhile. The work still holds the transaction's JS object. */
void txw_work_done(txw *tx);
/* A transaction or a database handle (live): exactly one of *d, *tx is set. */
int get_target(napi_env env, napi_value v, dbw **d, txw **tx);
napi_value wrap_txw(napi_env env, txw *tx);
/* A JS handle for a transaction just begun on @p d (freed, with ENOMEM thrown, on failure). */
napi_value wrap_new_txn(napi_env env, dbw *d, inmem_txn *txn);
napi_value wrap_dbw(napi_env env, dbw *d);

/* Lifetimes. */
txw *txw_new(dbw *d, inmem_txn *txn);
void txw_free_txn(txw *tx); /* frees the inmem_txn and its iterators; keeps the struct */
/* Frees the iterators and replays open on @p tx (its transaction is about to end). */
void txw_free_cursors(txw *tx);
/* A JS handle for a replay opened on @p tx (freed with it). */
napi_value wrap_replay(napi_env env, txw *tx, inmem_replay *rp);
void dbw_release(dbw *d);
/* After an async work on @p d settled (JS thread): closes it if it was collected meanwhile. */
void dbw_work_done(dbw *d);
int dbw_close(napi_env env, dbw *d); /* 0, or -1 with an exception pending */
/* Closes @p d (its transactions freed, its waits rejected with ClosedError) and returns the
 * shared database it held, for the caller to release; NULL if it was closed already. */
shared_db *dbw_detach(dbw *d);

/* Shared databases (addon.c). */
int shared_open(const char *dir, const inmem_options *o, shared_db **out, inmem_db **db,
                char *errbuf, size_t errlen);
int shared_release(shared_db *sh, char *errbuf, size_t errlen);

/* The directory argument of dbBackup(): a non-empty string. */
int get_backup_dir(napi_env env, napi_value v, jsbytes *dir);

/* Options object -> inmem_options (0, or -1 with an exception pending). */
int get_options(napi_env env, napi_value v, inmem_options *o);
int get_retry(napi_env env, napi_value v, inmem_retry_options *o);

/* prims.c: an event as an object. */
napi_value event_obj(napi_env env, const inmem_event *e);
/* history.c: a difference of inmem_run_diff() as an object. */
napi_value diff_entry_obj(napi_env env, const inmem_diff_entry *e);

/* ---- module parts: each adds its functions to exports ------------------------------------- */
void init_txn(napi_env env, napi_value exports);
void init_prims(napi_env env, napi_value exports);
void init_async(napi_env env, napi_value exports);
void init_langgraph(napi_env env, napi_value exports);
void init_history(napi_env env, napi_value exports);
void init_wait(napi_env env, napi_value exports);

/* wait.c: settles every pending wait of @p d with ClosedError (its database is closing). */
void watches_cancel(dbw *d);

void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb);

#define ARGS(N)                                                                                    \
    size_t argc = (N);                                                                             \
    napi_value argv[(N) > 0 ? (N) : 1];                                                            \
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)                           \
        return NULL;                                                                               \
    for (size_t i_ = argc; i_ < (size_t)(N); i_++)                                                 \
    napi_get_undefined(env, &argv[i_])

#endif
