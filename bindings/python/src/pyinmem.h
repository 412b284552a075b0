/*
 * pyinmem.h — declarations shared by the files of the CPython extension `inmem._inmem`.
 *
 * The extension wraps the public header include/inmem.h only. Its files:
 *   module.c       module init, argument parsing, value/name/run-id conversion, the exception
 *                  hierarchy, the RunId type and the record types (struct sequences)
 *   database.c     the Database type: open/close, implicit operations, closure transactions,
 *                  stats, recovery, sweep, checkpoint, backup
 *   transaction.c  the Transaction type (explicit transactions) and the KV scan iterator
 *   ops.c          the primitives (KV extras, runs, events, state cells, traces), written once
 *                  for both types: in a transaction, or standalone on the database
 *   pager.c        iterators that read a list page by page (KV list, runs, streams, events,
 *                  state cells, spans, a key's or a cell's history)
 *   history.c      retained history: time-travel transactions, commit times, forks, replay
 *                  and diff iterators, waiting for a change (wait, the Watch type)
 *
 * Memory: whatever the library returns borrowed from a transaction is copied into Python objects
 * before the call that produced it returns to Python; no Python object ever points into library
 * memory. Threads: every call into the library runs with the GIL held, except those that may
 * block or take long (strict commits, open, close, closure transactions, whole-run deletes, large
 * values, checkpoints and backups), which release it. While the GIL is released the owning
 * object is marked busy, so that another thread cannot close the database or reuse the
 * transaction under the call; every check of those marks happens with the GIL held, which orders
 * them.
 */
#ifndef PYINMEM_H
#define PYINMEM_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <pthread.h>
#include <stdint.h>

#include "inmem.h"

#if defined(Py_GIL_DISABLED)
#error "inmem's Python binding relies on the GIL to order its busy marks"
#endif

/* ---- objects ---------------------------------------------------------------------------- */

typedef struct DbObject {
    PyObject_HEAD inmem_db *db; /* NULL once closed (or never opened) */
    int durability;             /* inmem_durability */
    int commit_waits; /* a commit that writes may wait for an fsync: strict durability, or a cap
                       * on unsynced commits (max_unsynced_commits) in batched or async mode */
    int read_only;
    unsigned busy;       /* calls in flight with the GIL released */
    Py_ssize_t live_txn; /* transaction handles held by Transaction objects */
    size_t max_value_size;
    PyObject *path; /* str, or None */
    PyObject *weakreflist;
    /* Held (taken with the GIL released) around inmem_db_close() and around every call on a
     * watch (inmem_watch_poll/close), which must never run concurrently with the close: waits
     * and watches do not mark the database busy, so that a close may run while they wait and
     * wake them (ClosedError). */
    pthread_mutex_t close_mu;
} DbObject;

/* Transaction states as Python sees them. */
enum { TX_ACTIVE = 0, TX_COMMITTED = 1, TX_ABORTED = 2 };

typedef struct TxObject {
    PyObject_HEAD DbObject *db; /* strong reference: the database outlives its transactions */
    inmem_txn *txn;             /* NULL once ended (the handle is freed at once) */
    int readonly;
    int managed;             /* lent by a closure transaction: no commit/abort, not ours to free */
    int busy;                /* a call with the GIL released is in flight */
    int pinned;              /* what the library lent is being copied (see ctx_need_txn) */
    int state;               /* TX_* */
    unsigned writes;         /* write calls made (decides whether a commit releases the GIL) */
    inmem_txn_info end_info; /* describe() at the end (conflict_key cleared) */
    PyObject *conflict_key;  /* bytes, copied at the end; NULL if none */
    PyObject *weakreflist;
} TxObject;

extern PyTypeObject DbType;
extern PyTypeObject TxType;
extern PyTypeObject RunIdType;
extern PyTypeObject KvIterType;
extern PyTypeObject PagerType;
extern PyTypeObject ReplayIterType;
extern PyTypeObject DiffIterType;
extern PyTypeObject WatchType;

typedef struct RunIdObject {
    PyObject_HEAD inmem_run_id id;
    Py_hash_t hash; /* -1 until computed */
} RunIdObject;

/* ---- exceptions ------------------------------------------------------------------------- */

extern PyObject *Err_Base, *Err_Conflict, *Err_Retries, *Err_Misuse, *Err_TxnDone, *Err_NotFound;

/* Raises the exception of @p rc for the call @p what (with inmem_errmsg() details when they
 * are about this error). Returns NULL. */
PyObject *raise_rc(int rc, const char *what);
/* raise_rc() for a call on the database @p db, made with db->db read after its arguments were
 * converted: if their code closed the database, the library was given NULL and refused it
 * (INMEM_EINVAL); MisuseError says why. Returns NULL. */
PyObject *raise_db_rc(const DbObject *db, int rc, const char *what);
/* Raises the exception class of @p rc with the message @p msg. Returns NULL. */
PyObject *raise_code(int rc, const char *msg);
/* Raises MisuseError with @p msg. Returns NULL. */
PyObject *raise_misuse(const char *msg);
/* Raises ConflictError with the conflict details of @p info (the key as the bytes @p key). */
PyObject *raise_conflict(const char *what, const inmem_txn_info *info, PyObject *key);
/* Raises ConflictError for a CAS that found another version or value than @p expected (stolen);
 * @p rule is "cas" (version) or "value". */
PyObject *raise_cas_conflict(const char *what, const inmem_run_id *run, PyObject *key,
                             const char *rule, PyObject *expected);

/* ---- argument parsing -------------------------------------------------------------------- */

/* A function's parameters: `names` in order, the first `npos` may be positional, the first
 * `nreq` are required. Keyword names are matched by identity first (they are interned), then by
 * value. */
typedef struct argspec {
    const char *fname;
    const char *const *names;
    int npos, nreq;
    int n;
    PyObject **interned;
} argspec;

#define ARGSPEC(var, fname, npos, nreq, ...)                                                       \
    static const char *const var##_names[] = {__VA_ARGS__, NULL};                                  \
    static argspec var = {fname, var##_names, npos, nreq, 0, NULL}

/* Fills out[i] with the borrowed argument for names[i], or NULL if not given. 0 or -1. */
int parse_args(argspec *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               PyObject **out);

/* Bytes-like argument: bytes, str (UTF-8) or any contiguous buffer. */
typedef struct bytesarg {
    const char *p;
    size_t n;
    Py_buffer view;
    int has_view;
} bytesarg;

int get_bytes(PyObject *o, bytesarg *b, const char *what);
void release_bytes(bytesarg *b);
/* A NUL-terminated name (stream, cell, type, tag): str or bytes without NUL bytes. */
int get_name(PyObject *o, const char **out, const char *what);
/* Optional name: None (or absent) gives NULL. */
int get_opt_name(PyObject *o, const char **out, const char *what);
/* A run id argument: None (shared scope) gives NULL; RunId, str (36 chars), 16 bytes, or an
 * object with a 16-byte `bytes` attribute (uuid.UUID). @p buf receives parsed ids. */
int get_run(PyObject *o, inmem_run_id *buf, const inmem_run_id **out, const char *what);
/* A required id (not None). */
int get_id(PyObject *o, inmem_run_id *out, const char *what);
/* Unsigned 64-bit integer argument; absent or None gives @p dflt. */
int get_u64(PyObject *o, uint64_t dflt, uint64_t *out, const char *what);
/* A limit: None gives SIZE_MAX; else a non-negative integer. */
int get_limit(PyObject *o, size_t *out);
/* Truth value; absent gives @p dflt. */
int get_bool(PyObject *o, int dflt, int *out);
/* Seconds (int or float, >= 0) as microseconds; None gives 0. */
int get_seconds_us(PyObject *o, uint64_t *out, const char *what);

/* ---- values out ---------------------------------------------------------------------------- */

PyObject *runid_new(const inmem_run_id *id);
/* RunId, or None for the all-zero id. */
PyObject *runid_or_none(const inmem_run_id *id);
PyObject *bytes_of(const void *p, size_t n);
PyObject *str_of(const char *s);      /* UTF-8, errors replaced */
PyObject *str_or_none(const char *s); /* "" gives None */
PyObject *u64(uint64_t v);

/* JSON: module-level json.dumps (compact, UTF-8) and json.loads. */
PyObject *json_encode(PyObject *obj); /* -> bytes */
PyObject *json_decode(PyObject *bytes);

/* ---- records (struct sequences) ------------------------------------------------------------ */

extern PyTypeObject *KVEntryType, *CellType, *StateEntryType, *EventType, *StreamInfoType,
    *SpanType, *RunInfoType, *StatsType, *RecoveryInfoType, *TxnInfoType, *VersionInfoType,
    *ChangeType, *ReplayCommitType, *DiffEntryType;

PyObject *make_event(const inmem_event *e);
PyObject *make_span(const inmem_span *s);
PyObject *make_run_info(const inmem_run_info *r);
PyObject *make_txn_info(const inmem_txn_info *i, PyObject *conflict_key);
PyObject *make_kv_entry(const void *k, size_t kl, const void *v, size_t vl, uint64_t version);
PyObject *make_version_info(const inmem_version_info *h);
PyObject *make_change(const inmem_change *c);
PyObject *make_diff_entry(const inmem_diff_entry *e);
/* "kv", "event", "state", "trace", "run" */
const char *primitive_name(int prim);
/* A primitive argument: one of those names, or its number. */
int parse_primitive(PyObject *o, int *out);
const char *trace_kind_name(int kind);
const char *run_status_name(int status);
int parse_trace_kind(PyObject *o, int *out);
int parse_run_status(PyObject *o, int *out);

/* ---- operation context: a transaction, or the database standalone ------------------------ */

typedef struct opctx {
    DbObject *db;
    TxObject *tx;   /* NULL: standalone on db */
    inmem_txn *txn; /* tx->txn, or a read-only transaction made for a standalone read */
    int own_txn;    /* txn is a read-only transaction this call made and frees */
    int pinned;     /* tx->pinned was set by ctx_need_txn */
} opctx;

/* Checks that @p self (a DbObject or TxObject) can take a call, and fills @p c.
 * A transaction must be active, not busy, and (for writes) not read-only. */
int ctx_from(PyObject *self, opctx *c, int write);
/* For a standalone read that needs a transaction: begins a read-only one into c->txn. In a
 * transaction, pins it until ctx_done(): the records the library lends are copied into Python
 * objects, and an allocation may run a garbage collection whose finalizers run Python code; a
 * finalizer that ends the transaction then (commit, abort) would free what is being copied, so
 * every call on a pinned transaction raises MisuseError, as on a busy one. Call it after the
 * arguments are converted (their code may end the transaction, see ctx_txn()). */
int ctx_need_txn(opctx *c);
void ctx_done(opctx *c);
/* The transaction to call the library with, read at the call and not when the context was
 * made: converting the arguments runs Python code (properties, __bool__, iterators), which may
 * end the receiver's transaction; its handle is freed then, and the library may hand the same
 * memory to the next transaction begun. NULL then, which the library refuses (INMEM_EINVAL).
 * NULL too if that code let another thread begin a call on the transaction that released the
 * GIL: the library must not be called from two threads at once on one transaction. */
static inline inmem_txn *ctx_txn(const opctx *c)
{
    return c->tx ? (c->tx->busy ? NULL : c->tx->txn) : c->txn;
}
/* Whether a standalone write on this database should release the GIL (its commit may wait for
 * an fsync: see commit_waits; or a value of @p size bytes or more takes long to copy). */
int db_releases(const DbObject *db, size_t size);

/* Large copies release the GIL from this size on. */
#define BIG_VALUE (1u << 20)

/* Runs @p stmt with the GIL released if @p rel, marking the database busy meanwhile. */
#define DB_CALL(dbo, rel, stmt)                                                                    \
    do {                                                                                           \
        if (rel) {                                                                                 \
            (dbo)->busy++;                                                                         \
            PyThreadState *db_call_ts_ = PyEval_SaveThread();                                      \
            stmt;                                                                                  \
            PyEval_RestoreThread(db_call_ts_);                                                     \
            (dbo)->busy--;                                                                         \
        } else {                                                                                   \
            stmt;                                                                                  \
        }                                                                                          \
    } while (0)

/* Shared method tables (ops.c): each entry works on both types. */
extern PyMethodDef op_methods_common[];
extern PyMethodDef op_methods_db[];
extern PyMethodDef op_methods_tx[];

/* transaction.c */
TxObject *tx_new(DbObject *db, inmem_txn *txn, int readonly, int managed);
void tx_detach(TxObject *tx); /* a managed transaction's turn is over */
int tx_type_ready(void);
/* Whether a call may use @p tx now: it holds its handle and no other call is using it; else
 * raises (TransactionDone, or MisuseError) and returns -1. The check every call makes first is
 * inline; the reasons are worked out out of line, when it fails. */
int tx_unusable(TxObject *tx);
static inline int tx_usable(TxObject *tx, int write)
{
    (void)write;
    if (tx->txn && !tx->busy && !tx->pinned)
        return 0;
    return tx_unusable(tx);
}
PyObject *kv_scan_new(TxObject *tx, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                      int prefix);

/* pager.c */
enum pager_kind {
    PG_KV_LIST,
    PG_RUN_LIST,
    PG_RUN_STORED,
    PG_STREAMS,
    PG_EVENTS,
    PG_EVENTS_TIME,
    PG_STATE_LIST,
    PG_TRACE_QUERY,
    PG_SCAN,        /* Database.scan: inmem_kv_scan resumed at the last key, page by page */
    PG_SCAN_PREFIX, /* Database.scan_prefix */
    PG_KV_HISTORY,  /* history(): inmem_kv_history, newest first, by the `before` cursor */
    PG_STATE_HISTORY
};
PyObject *pager_new(PyObject *owner, enum pager_kind kind, PyObject *const *args, Py_ssize_t nargs,
                    PyObject *kwnames);

/* database.c */
int db_register_methods(void);

/* history.c: methods of Database only, replay, the close lock and the watches */
extern PyMethodDef history_methods_db[];
/* run_replay() on a Database or a Transaction */
PyObject *replay_new(PyObject *owner, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
/* Takes db->close_mu; if another thread holds it (a close in flight), waits with the GIL
 * released. */
void close_lock(DbObject *db);
void close_unlock(DbObject *db);
/* ops.c: parses the run options shared by run_begin and run_fork into @p o: tenant, app, agent,
 * tags (kept alive in @p ro until run_opts_free), history, history_ms, history_versions. */
typedef struct runopts {
    PyObject *tags;
    const char **tv;
} runopts;
int run_opts_parse(inmem_run_options *o, runopts *ro, PyObject *tenant, PyObject *app,
                   PyObject *agent, PyObject *tags, PyObject *history, PyObject *history_ms,
                   PyObject *history_versions, const char *what);
void run_opts_free(runopts *ro);

#endif
