/*
 * database.c — the Database type: one open inmem_db.
 *
 * Opening and closing release the GIL (recovery and the final fsync take time). The implicit
 * KV operations map to the library's one-operation calls (inmem_get/put/delete/cas); they release
 * the GIL only where the call may block: writes under strict durability (they wait for an fsync)
 * and values of BIG_VALUE bytes or more. Closure transactions (transact, state_transition) run
 * inmem_db_transact with the GIL released and take it back inside the callback, so that the
 * back-off sleeps and strict commits let other threads run. checkpoint() and backup() write and
 * fsync an image of the whole live data: they release the GIL.
 *
 * Lifetime: a Transaction holds a strong reference to its Database, so the handle cannot be
 * freed under it. close() refuses (BusyError) while a transaction handle exists or a call with the
 * GIL released is in flight; every call on a closed Database raises MisuseError.
 */
#include "pyinmem.h"

#include <string.h>

PyObject *py_make_stats(const inmem_stats *s);
PyObject *py_make_recovery(const inmem_recovery_info *r);

int db_releases(const DbObject *db, size_t size)
{
    return db->commit_waits || size >= BIG_VALUE;
}

static int db_check(DbObject *self)
{
    if (!self->db) {
        raise_misuse("the database is closed");
        return -1;
    }
    return 0;
}

/* ---- open / close -------------------------------------------------------------------------- */

static PyObject *db_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    DbObject *self = (DbObject *)type->tp_alloc(type, 0);
    if (self) {
        self->path = Py_NewRef(Py_None);
        pthread_mutex_init(&self->close_mu, NULL);
    }
    return (PyObject *)self;
}

static int parse_durability(PyObject *o, inmem_durability *out)
{
    static const char *const names[] = {"none", "async", "batched", "strict"};
    if (PyUnicode_Check(o))
        for (int i = 0; i < 4; i++)
            if (PyUnicode_CompareWithASCIIString(o, names[i]) == 0) {
                *out = (inmem_durability)i;
                return 0;
            }
    PyErr_Format(PyExc_ValueError,
                 "durability must be 'none', 'async', 'batched' or 'strict', not %R", o);
    return -1;
}

static int opt_u64(PyObject *kwds, const char *name, uint64_t *out)
{
    PyObject *v = PyDict_GetItemString(kwds, name);
    if (!v)
        return 0;
    if (get_u64(v, *out, out, name) < 0)
        return -1;
    return PyDict_DelItemString(kwds, name) < 0 ? -1 : 0;
}

/* An unsigned (C unsigned int) option: as opt_u64, within 0..UINT_MAX. */
static int opt_uint(PyObject *kwds, const char *name, unsigned *out)
{
    uint64_t v = *out;
    if (opt_u64(kwds, name, &v) < 0)
        return -1;
    if (v > 0xffffffffu) {
        PyErr_Format(PyExc_ValueError, "%s is out of range", name);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int opt_bool(PyObject *kwds, const char *name, int *out)
{
    PyObject *v = PyDict_GetItemString(kwds, name);
    if (!v)
        return 0;
    if (get_bool(v, *out, out) < 0)
        return -1;
    return PyDict_DelItemString(kwds, name) < 0 ? -1 : 0;
}

static int db_tp_init(PyObject *op, PyObject *args, PyObject *kwds)
{
    DbObject *self = (DbObject *)op;
    if (self->db) {
        raise_misuse("Database.__init__: already open");
        return -1;
    }
    PyObject *path = Py_None;
    if (!PyArg_ParseTuple(args, "|O:Database", &path))
        return -1;
    inmem_options o;
    inmem_options_init(&o);
    PyObject *kw = kwds ? PyDict_Copy(kwds) : PyDict_New();
    if (!kw)
        return -1;
    PyObject *pathb = NULL;
    int ret = -1;
    PyObject *v;
    if (path == Py_None && (v = PyDict_GetItemString(kw, "path"))) {
        path = v;
        if (PyDict_DelItemString(kw, "path") < 0)
            goto done;
    }
    if ((v = PyDict_GetItemString(kw, "durability"))) {
        if (parse_durability(v, &o.durability) < 0 || PyDict_DelItemString(kw, "durability") < 0)
            goto done;
    }
    uint64_t mk = o.max_key_size, mv = o.max_value_size;
    unsigned hv = o.history_versions;
    if (opt_u64(kw, "max_key_size", &mk) < 0 || opt_u64(kw, "max_value_size", &mv) < 0 ||
        opt_uint(kw, "max_txns", &o.max_txns) < 0 ||
        opt_u64(kw, "wal_segment_size", &o.wal_segment_size) < 0 ||
        opt_u64(kw, "sync_interval_ms", &o.sync_interval_ms) < 0 ||
        opt_u64(kw, "sync_commits", &o.sync_commits) < 0 ||
        opt_u64(kw, "ttl_sweep_interval_ms", &o.ttl_sweep_interval_ms) < 0 ||
        opt_bool(kw, "repair", &o.repair) < 0 || opt_bool(kw, "read_only", &o.read_only) < 0 ||
        opt_bool(kw, "create_if_missing", &o.create_if_missing) < 0 ||
        opt_uint(kw, "file_mode", &o.file_mode) < 0 ||
        opt_u64(kw, "max_unsynced_commits", &o.max_unsynced_commits) < 0 ||
        opt_uint(kw, "checkpoint_log_ratio", &o.checkpoint_log_ratio) < 0 ||
        opt_u64(kw, "checkpoint_log_min", &o.checkpoint_log_min) < 0 ||
        opt_bool(kw, "checkpoint_on_close", &o.checkpoint_on_close) < 0 ||
        opt_u64(kw, "history_ms", &o.history_ms) < 0 || opt_uint(kw, "history_versions", &hv) < 0)
        goto done;
    o.history_versions = (uint32_t)hv;
    o.max_key_size = (size_t)mk;
    o.max_value_size = (size_t)mv;
    if (PyDict_GET_SIZE(kw)) {
        PyObject *key = NULL, *val;
        Py_ssize_t pos = 0;
        PyDict_Next(kw, &pos, &key, &val);
        PyErr_Format(PyExc_TypeError, "open() got an unexpected keyword argument %R", key);
        goto done;
    }
    const char *dir = NULL;
    if (path != Py_None) {
        if (!PyUnicode_FSConverter(path, &pathb))
            goto done;
        dir = PyBytes_AS_STRING(pathb);
    } else if (o.durability != INMEM_DURABILITY_NONE) {
        PyErr_SetString(PyExc_ValueError,
                        "a path is needed unless durability='none' (pure in-memory)");
        goto done;
    }
    inmem_db *db = NULL;
    PyThreadState *ts = PyEval_SaveThread(); /* recovery may take a while */
    int rc = inmem_db_open(dir, &o, &db);
    PyEval_RestoreThread(ts);
    if (rc) {
        raise_rc(rc, "open");
        goto done;
    }
    if (self->db) { /* opened meanwhile: by an option's code, or another thread's __init__ */
        ts = PyEval_SaveThread();
        inmem_db_close(db);
        PyEval_RestoreThread(ts);
        raise_misuse("Database.__init__: already open");
        goto done;
    }
    self->db = db;
    self->durability = o.durability;
    self->commit_waits = o.durability == INMEM_DURABILITY_STRICT ||
                         (o.max_unsynced_commits && o.durability != INMEM_DURABILITY_NONE);
    self->read_only = o.read_only;
    self->max_value_size = o.max_value_size;
    if (path != Py_None) {
        PyObject *p = PyOS_FSPath(path);
        if (!p)
            goto done;
        Py_SETREF(self->path, p);
    }
    ret = 0;
done:
    Py_XDECREF(pathb);
    Py_DECREF(kw);
    return ret;
}

/* Closes the handle; -1 with an exception if it cannot be closed now. */
static int db_do_close(DbObject *self)
{
    if (!self->db)
        return 0;
    if (self->busy) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "close: %u call(s) still running (in other threads, or the transact() or "
                 "state_transition() callback this close was called from)",
                 self->busy);
        raise_code(INMEM_EBUSY, msg);
        return -1;
    }
    if (self->live_txn) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "close: %zd transaction(s) still open: commit or abort them first",
                 self->live_txn);
        raise_code(INMEM_EBUSY, msg);
        return -1;
    }
    inmem_db *db = self->db;
    self->db = NULL; /* calls from other threads see it closed from now on */
    PyThreadState *ts = PyEval_SaveThread(); /* the final fsync */
    /* waits and watches in other threads are woken (ClosedError); they touch their watch only
     * once the close is over */
    pthread_mutex_lock(&self->close_mu);
    int rc = inmem_db_close(db);
    pthread_mutex_unlock(&self->close_mu);
    PyEval_RestoreThread(ts);
    if (rc == INMEM_EBUSY) {
        /* the library closed nothing: a transaction of the binding's own is open (a standalone
         * read's, when a finalizer closes the database in the middle of it) */
        self->db = db;
        raise_rc(rc, "close");
        return -1;
    }
    if (rc) { /* the handle is freed anyway */
        raise_rc(rc, "close");
        return -1;
    }
    return 0;
}

static PyObject *db_close(PyObject *op, PyObject *unused)
{
    (void)unused;
    if (db_do_close((DbObject *)op) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *db_enter(PyObject *op, PyObject *unused)
{
    (void)unused;
    if (db_check((DbObject *)op) < 0)
        return NULL;
    return Py_NewRef(op);
}

static PyObject *db_exit(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    (void)args;
    (void)nargs;
    if (db_do_close((DbObject *)op) < 0)
        return NULL;
    Py_RETURN_FALSE;
}

static void db_dealloc(PyObject *op)
{
    DbObject *self = (DbObject *)op;
    if (self->weakreflist)
        PyObject_ClearWeakRefs(op);
    if (self->db) {
        /* no transaction can exist (each holds a reference); close quietly */
        inmem_db *db = self->db;
        self->db = NULL;
        PyThreadState *ts = PyEval_SaveThread();
        pthread_mutex_lock(&self->close_mu);
        int rc = inmem_db_close(db);
        pthread_mutex_unlock(&self->close_mu);
        PyEval_RestoreThread(ts);
        if (rc && rc != INMEM_EMISUSE) { /* (EMISUSE: a child of fork(), which must leave the
                                          * parent's database alone: nothing to report) */
            /* reported without touching an exception that may be on its way up */
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            raise_rc(rc, "close (at garbage collection)");
            /* not the object itself: at refcount 0, the repr would take a reference and
             * dealloc it a second time */
            PyErr_WriteUnraisable(self->path);
            PyErr_Restore(type, value, tb);
        }
    }
    Py_CLEAR(self->path);
    pthread_mutex_destroy(&self->close_mu);
    Py_TYPE(op)->tp_free(op);
}

/* ---- implicit KV operations ---------------------------------------------------------------- */

ARGSPEC(spec_get, "get", 2, 1, "key", "run");

/* get / get_entry / get_json */
static PyObject *db_get_common(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames, int mode)
{
    DbObject *self = (DbObject *)op;
    PyObject *a[2];
    if (parse_args(&spec_get, args, nargs, kwnames, a) < 0 || db_check(self) < 0)
        return NULL;
    bytesarg k;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (get_run(a[1], &rb, &run, "run") < 0 || get_bytes(a[0], &k, "key") < 0)
        return NULL;
    void *val = NULL;
    size_t vlen = 0;
    uint64_t ver = 0;
    int rc = inmem_get(self->db, run, k.p, k.n, &val, &vlen, &ver);
    PyObject *r = NULL;
    if (rc == INMEM_NOTFOUND) {
        r = Py_NewRef(Py_None);
    } else if (rc) {
        raise_db_rc(self, rc, "get");
    } else if (mode == 0) {
        r = bytes_of(val, vlen);
    } else if (mode == 1) {
        r = make_kv_entry(k.p, k.n, val, vlen, ver);
    } else {
        PyObject *b = bytes_of(val, vlen);
        r = b ? json_decode(b) : NULL;
        Py_XDECREF(b);
    }
    inmem_free(val);
    release_bytes(&k);
    return r;
}

static PyObject *db_get(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return db_get_common(op, args, nargs, kwnames, 0);
}

static PyObject *db_get_entry(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    return db_get_common(op, args, nargs, kwnames, 1);
}

static PyObject *db_get_json(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    return db_get_common(op, args, nargs, kwnames, 2);
}

ARGSPEC(spec_put, "put", 3, 2, "key", "value", "run", "ttl", "expire_at_ms");
ARGSPEC(spec_put_json, "put_json", 3, 2, "key", "obj", "run", "ttl", "expire_at_ms");

static int ttl_ms_of(PyObject *o, uint64_t *ms)
{
    uint64_t us;
    if (!o || o == Py_None) {
        *ms = 0;
        return 0;
    }
    if (get_seconds_us(o, &us, "ttl") < 0)
        return -1;
    if (us == 0) {
        PyErr_SetString(PyExc_ValueError, "ttl must be > 0 seconds (None: no expiry)");
        return -1;
    }
    *ms = (us + 999) / 1000;
    return 0;
}

/* A standalone put with an absolute expiry: the library has only the in-transaction form, so
 * it runs in a transaction of its own (a blind write: it cannot conflict). */
static int put_expire_at(inmem_db *db, const inmem_run_id *run, const void *k, size_t kl,
                         const void *v, size_t vl, uint64_t at, uint64_t *ver)
{
    inmem_txn *txn;
    int rc = inmem_txn_begin(db, &txn);
    if (rc)
        return rc;
    rc = inmem_kv_put_expire_at(txn, run, k, kl, v, vl, at);
    if (rc == 0)
        rc = inmem_txn_commit(txn);
    inmem_txn_info info;
    if (rc == 0 && inmem_txn_describe(txn, &info) == 0)
        *ver = info.commit_version;
    inmem_txn_free(txn);
    return rc;
}

static PyObject *db_put_common(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames, int json)
{
    DbObject *self = (DbObject *)op;
    PyObject *a[5];
    if (parse_args(json ? &spec_put_json : &spec_put, args, nargs, kwnames, a) < 0 ||
        db_check(self) < 0)
        return NULL;
    bytesarg k, v;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t ttl, ver = 0, at = 0;
    if (get_run(a[2], &rb, &run, "run") < 0 || ttl_ms_of(a[3], &ttl) < 0 ||
        get_u64(a[4], 0, &at, "expire_at_ms") < 0)
        return NULL;
    if (ttl && a[4] && a[4] != Py_None) {
        PyErr_SetString(PyExc_TypeError, "put: give ttl or expire_at_ms, not both");
        return NULL;
    }
    PyObject *enc = NULL;
    if (json && !(enc = json_encode(a[1])))
        return NULL;
    if (get_bytes(a[0], &k, "key") < 0) {
        Py_XDECREF(enc);
        return NULL;
    }
    if (get_bytes(enc ? enc : a[1], &v, "value") < 0) {
        release_bytes(&k);
        Py_XDECREF(enc);
        return NULL;
    }
    int rc;
    inmem_db *db = self->db;
    if (at)
        DB_CALL(self, db_releases(self, v.n),
                rc = put_expire_at(db, run, k.p, k.n, v.p, v.n, at, &ver));
    else if (ttl)
        DB_CALL(self, db_releases(self, v.n),
                rc = inmem_put_ttl(db, run, k.p, k.n, v.p, v.n, ttl, &ver));
    else
        DB_CALL(self, db_releases(self, v.n), rc = inmem_put(db, run, k.p, k.n, v.p, v.n, &ver));
    release_bytes(&k);
    release_bytes(&v);
    Py_XDECREF(enc);
    if (rc)
        return raise_db_rc(self, rc, "put");
    return u64(ver);
}

static PyObject *db_put(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return db_put_common(op, args, nargs, kwnames, 0);
}

static PyObject *db_put_json(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    return db_put_common(op, args, nargs, kwnames, 1);
}

static PyObject *db_delete(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    ARGSPEC(spec, "delete", 2, 1, "key", "run");
    DbObject *self = (DbObject *)op;
    PyObject *a[2];
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || db_check(self) < 0)
        return NULL;
    bytesarg k;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (get_run(a[1], &rb, &run, "run") < 0 || get_bytes(a[0], &k, "key") < 0)
        return NULL;
    uint64_t ver = 0;
    int rc;
    inmem_db *db = self->db;
    DB_CALL(self, db_releases(self, 0), rc = inmem_delete(db, run, k.p, k.n, &ver));
    release_bytes(&k);
    if (rc)
        return raise_db_rc(self, rc, "delete");
    return u64(ver);
}

static PyObject *db_cas(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    ARGSPEC(spec, "cas", 4, 3, "key", "expected_version", "value", "run");
    DbObject *self = (DbObject *)op;
    PyObject *a[4];
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || db_check(self) < 0)
        return NULL;
    bytesarg k, v;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t expected, ver = 0;
    if (get_run(a[3], &rb, &run, "run") < 0 ||
        get_u64(a[1], 0, &expected, "expected_version") < 0 || get_bytes(a[0], &k, "key") < 0)
        return NULL;
    if (get_bytes(a[2], &v, "value") < 0) {
        release_bytes(&k);
        return NULL;
    }
    int rc;
    inmem_db *db = self->db;
    DB_CALL(self, db_releases(self, v.n),
            rc = inmem_cas(db, run, k.p, k.n, expected, v.p, v.n, &ver));
    release_bytes(&v);
    PyObject *r = NULL;
    if (rc == INMEM_CONFLICT) {
        PyObject *key = bytes_of(k.p, k.n);
        if (key)
            raise_cas_conflict("cas", run, key, "cas", u64(expected));
        Py_XDECREF(key);
    } else if (rc) {
        raise_db_rc(self, rc, "cas");
    } else {
        r = u64(ver);
    }
    release_bytes(&k);
    return r;
}

/* ---- transactions ------------------------------------------------------------------------- */

static PyObject *db_transaction(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    ARGSPEC(spec, "transaction", 1, 0, "readonly", "at_version", "at_time_ms", "timeout");
    DbObject *self = (DbObject *)op;
    PyObject *a[4] = {NULL, NULL, NULL, NULL};
    int ro;
    uint64_t at = 0, timeout_us = 0;
    /* transaction() and transaction(readonly), the forms of every loop of short transactions
     * (W3 begins one per four gets), need no keyword matched */
    if (!kwnames && nargs <= 1)
        a[0] = nargs ? args[0] : NULL;
    else if (parse_args(&spec, args, nargs, kwnames, a) < 0)
        return NULL;
    if (db_check(self) < 0 || get_bool(a[0], 0, &ro) < 0 ||
        (a[3] && a[3] != Py_None && get_seconds_us(a[3], &timeout_us, "timeout") < 0))
        return NULL;
    int past = a[1] && a[1] != Py_None ? 1 : a[2] && a[2] != Py_None ? 2 : 0;
    if (a[1] && a[1] != Py_None && a[2] && a[2] != Py_None) {
        PyErr_SetString(PyExc_TypeError, "transaction: give at_version or at_time_ms, not both");
        return NULL;
    }
    if (past && get_u64(a[past], 0, &at, past == 1 ? "at_version" : "at_time_ms") < 0)
        return NULL;
    if (past && a[0] && !ro) {
        PyErr_SetString(PyExc_ValueError,
                        "transaction: a transaction in the past is read-only (readonly=False)");
        return NULL;
    }
    inmem_txn *txn = NULL;
    int rc = past == 1   ? inmem_txn_begin_at(self->db, at, &txn)
             : past == 2 ? inmem_txn_begin_at_time(self->db, at, &txn)
             : ro        ? inmem_txn_begin_readonly(self->db, &txn)
                         : inmem_txn_begin(self->db, &txn);
    if (rc == 0 && timeout_us)
        rc = inmem_txn_set_timeout(txn, timeout_us);
    if (rc) {
        if (txn)
            inmem_txn_free(txn);
        return raise_db_rc(self, rc, "transaction");
    }
    if (past)
        ro = 1;
    TxObject *tx = tx_new(self, txn, ro, 0);
    if (!tx)
        inmem_txn_free(txn);
    return (PyObject *)tx;
}

static int retry_opts(PyObject *const *a, inmem_retry_options *o)
{
    inmem_retry_options_init(o);
    uint64_t attempts, b0, b1;
    if (get_u64(a[0], o->max_attempts, &attempts, "max_attempts") < 0 ||
        get_seconds_us(a[1], &o->timeout_us, "timeout") < 0)
        return -1;
    if (a[2] && a[2] != Py_None) {
        if (get_seconds_us(a[2], &b0, "backoff_initial") < 0)
            return -1;
        o->backoff_initial_us = b0;
    }
    if (a[3] && a[3] != Py_None) {
        if (get_seconds_us(a[3], &b1, "backoff_max") < 0)
            return -1;
        o->backoff_max_us = b1;
    }
    if (attempts < 1 || attempts > 0xffffffffu) {
        PyErr_SetString(PyExc_ValueError, "max_attempts must be >= 1");
        return -1;
    }
    o->max_attempts = (unsigned)attempts;
    if (o->backoff_max_us < o->backoff_initial_us) {
        PyErr_SetString(PyExc_ValueError, "backoff_max must be >= backoff_initial");
        return -1;
    }
    return 0;
}

/* What a closure transaction's callback needs: positive codes are not inmem errors, so the
 * library returns them as is. */
#define PYERR_RC 1

struct closure {
    DbObject *db;
    PyObject *fn;
    PyObject *result;
    PyObject *et, *ev, *etb; /* the callback's exception */
    PyThreadState *ts;
    PyObject *next; /* state_transition: the value returned by the callback (bytes) */
};

static int closure_fail(struct closure *c)
{
    PyErr_Fetch(&c->et, &c->ev, &c->etb);
    return PYERR_RC;
}

static int transact_cb(inmem_txn *txn, void *arg)
{
    struct closure *c = arg;
    PyEval_RestoreThread(c->ts);
    int rc = 0;
    TxObject *tx = tx_new(c->db, txn, 0, 1);
    PyObject *r = tx ? PyObject_CallOneArg(c->fn, (PyObject *)tx) : NULL;
    if (tx) {
        tx_detach(tx);
        Py_DECREF(tx);
    }
    if (!r)
        rc = closure_fail(c);
    else
        Py_XSETREF(c->result, r);
    c->ts = PyEval_SaveThread();
    return rc;
}

/* Finishes a closure call: re-raises the callback's exception, or the library's error. */
static PyObject *closure_end(struct closure *c, int rc, const char *what)
{
    if (rc == PYERR_RC) {
        Py_CLEAR(c->result);
        PyErr_Restore(c->et, c->ev, c->etb);
        return NULL;
    }
    if (rc) {
        Py_CLEAR(c->result);
        return raise_db_rc(c->db, rc, what);
    }
    return c->result ? c->result : Py_NewRef(Py_None);
}

static PyObject *db_transact(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    ARGSPEC(spec, "transact", 1, 1, "fn", "max_attempts", "timeout", "backoff_initial",
            "backoff_max");
    DbObject *self = (DbObject *)op;
    PyObject *a[5];
    inmem_retry_options o;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || db_check(self) < 0 ||
        retry_opts(a + 1, &o) < 0)
        return NULL;
    if (!PyCallable_Check(a[0])) {
        PyErr_SetString(PyExc_TypeError, "transact: fn must be callable");
        return NULL;
    }
    struct closure c = {.db = self, .fn = a[0]};
    inmem_db *db = self->db;
    int rc;
    self->busy++;
    c.ts = PyEval_SaveThread();
    rc = inmem_db_transact(db, &o, transact_cb, &c);
    PyEval_RestoreThread(c.ts);
    self->busy--;
    return closure_end(&c, rc, "transact");
}

static int transition_cb(const void *cur, size_t cur_len, uint64_t version, const void **next,
                         size_t *next_len, void *arg)
{
    struct closure *c = arg;
    PyEval_RestoreThread(c->ts);
    int rc = 0;
    PyObject *curo = version ? bytes_of(cur, cur_len) : Py_NewRef(Py_None);
    PyObject *vero = u64(version);
    PyObject *r = NULL;
    if (curo && vero) {
        PyObject *argv[2] = {curo, vero};
        r = PyObject_Vectorcall(c->fn, argv, 2, NULL);
    }
    Py_XDECREF(curo);
    Py_XDECREF(vero);
    PyObject *b = NULL;
    if (r) {
        if (PyBytes_CheckExact(r))
            b = Py_NewRef(r);
        else if (PyUnicode_Check(r))
            b = PyUnicode_AsUTF8String(r);
        else if (PyObject_CheckBuffer(r))
            b = PyBytes_FromObject(r);
        else
            PyErr_Format(PyExc_TypeError,
                         "state_transition: fn must return the next value (bytes or str), not "
                         "%.100s",
                         Py_TYPE(r)->tp_name);
        Py_DECREF(r);
    }
    if (!b) {
        rc = closure_fail(c);
    } else {
        Py_XSETREF(c->next, b); /* kept alive until the next call or the end */
        *next = PyBytes_AS_STRING(b);
        *next_len = (size_t)PyBytes_GET_SIZE(b);
    }
    c->ts = PyEval_SaveThread();
    return rc;
}

static PyObject *db_state_transition(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames)
{
    ARGSPEC(spec, "state_transition", 3, 2, "name", "fn", "run", "max_attempts", "timeout",
            "backoff_initial", "backoff_max");
    DbObject *self = (DbObject *)op;
    PyObject *a[7];
    inmem_retry_options o;
    const char *name;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || db_check(self) < 0 ||
        retry_opts(a + 3, &o) < 0 || get_name(a[0], &name, "name") < 0 ||
        get_run(a[2], &rb, &run, "run") < 0)
        return NULL;
    if (!PyCallable_Check(a[1])) {
        PyErr_SetString(PyExc_TypeError, "state_transition: fn must be callable");
        return NULL;
    }
    struct closure c = {.db = self, .fn = a[1]};
    inmem_db *db = self->db;
    uint64_t ver = 0;
    int rc;
    self->busy++;
    c.ts = PyEval_SaveThread();
    rc = inmem_state_transition(db, run, name, transition_cb, &c, &o, &ver);
    PyEval_RestoreThread(c.ts);
    self->busy--;
    Py_CLEAR(c.next);
    PyObject *r = closure_end(&c, rc, "state_transition");
    if (!r)
        return NULL;
    Py_DECREF(r);
    return u64(ver);
}

/* ---- database information ---------------------------------------------------------------- */

static PyObject *db_stats(PyObject *op, PyObject *unused)
{
    (void)unused;
    DbObject *self = (DbObject *)op;
    if (db_check(self) < 0)
        return NULL;
    inmem_stats s;
    int rc = inmem_db_stats(self->db, &s);
    if (rc)
        return raise_rc(rc, "stats");
    return py_make_stats(&s);
}

static PyObject *db_recovery(PyObject *op, PyObject *unused)
{
    (void)unused;
    DbObject *self = (DbObject *)op;
    if (db_check(self) < 0)
        return NULL;
    inmem_recovery_info r;
    int rc = inmem_db_recovery(self->db, &r);
    if (rc)
        return raise_rc(rc, "recovery");
    return py_make_recovery(&r);
}

static PyObject *db_sweep(PyObject *op, PyObject *unused)
{
    (void)unused;
    DbObject *self = (DbObject *)op;
    if (db_check(self) < 0)
        return NULL;
    uint64_t removed = 0;
    int rc;
    inmem_db *db = self->db;
    DB_CALL(self, 1, rc = inmem_db_sweep(db, &removed));
    if (rc)
        return raise_rc(rc, "sweep");
    return u64(removed);
}

/* A checkpoint writes and fsyncs an image of the whole live data: the GIL is released, unless
 * the library refuses at once (no files, or read-only). */
static PyObject *db_checkpoint(PyObject *op, PyObject *unused)
{
    (void)unused;
    DbObject *self = (DbObject *)op;
    if (db_check(self) < 0)
        return NULL;
    uint64_t ver = 0;
    int rc;
    inmem_db *db = self->db;
    DB_CALL(self, self->durability != INMEM_DURABILITY_NONE && !self->read_only,
            rc = inmem_db_checkpoint(db, &ver));
    if (rc)
        return raise_rc(rc, "checkpoint");
    return u64(ver);
}

static PyObject *db_backup(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    ARGSPEC(spec, "backup", 1, 1, "path");
    DbObject *self = (DbObject *)op;
    PyObject *a[1], *pathb = NULL;
    /* the path first: its __fspath__ is Python code, which may close the database */
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || !PyUnicode_FSConverter(a[0], &pathb))
        return NULL;
    if (db_check(self) < 0) {
        Py_DECREF(pathb);
        return NULL;
    }
    uint64_t ver = 0;
    int rc;
    inmem_db *db = self->db;
    const char *dir = PyBytes_AS_STRING(pathb);
    DB_CALL(self, 1, rc = inmem_db_backup(db, dir, &ver));
    Py_DECREF(pathb);
    if (rc)
        return raise_rc(rc, "backup");
    return u64(ver);
}

static PyObject *db_get_closed(PyObject *op, void *closure)
{
    (void)closure;
    return PyBool_FromLong(((DbObject *)op)->db == NULL);
}

static PyObject *db_get_path(PyObject *op, void *closure)
{
    (void)closure;
    return Py_NewRef(((DbObject *)op)->path);
}

static PyObject *db_get_durability(PyObject *op, void *closure)
{
    (void)closure;
    static const char *const names[] = {"none", "async", "batched", "strict"};
    return PyUnicode_FromString(names[((DbObject *)op)->durability & 3]);
}

static PyObject *db_get_read_only(PyObject *op, void *closure)
{
    (void)closure;
    return PyBool_FromLong(((DbObject *)op)->read_only);
}

static PyObject *db_repr(PyObject *op)
{
    DbObject *self = (DbObject *)op;
    static const char *const names[] = {"none", "async", "batched", "strict"};
    return PyUnicode_FromFormat("<inmem.Database %R durability=%s%s%s>", self->path,
                                names[self->durability & 3], self->read_only ? " read_only" : "",
                                self->db ? "" : " closed");
}

static PyGetSetDef db_getset[] = {
    {"closed", db_get_closed, NULL, "True once close() has run.", NULL},
    {"path", db_get_path, NULL, "The directory (None for durability='none').", NULL},
    {"durability", db_get_durability, NULL, "'none', 'async', 'batched' or 'strict'.", NULL},
    {"read_only", db_get_read_only, NULL, "True if opened with read_only=True.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define FAST (METH_FASTCALL | METH_KEYWORDS)

static PyMethodDef db_methods[] = {
    {"close", db_close, METH_NOARGS,
     "close($self, /)\n"
     "--\n"
     "\n"
     "Makes every commit durable, releases the directory and frees everything.\n"
     "Raises BusyError while a transaction is open or another thread is in a call.\n"
     "Idempotent.\n"
     "\n"
     "Returns None."},
    {"__enter__", db_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))db_exit, METH_FASTCALL, NULL},
    {"get", (PyCFunction)(void (*)(void))db_get, FAST,
     "get($self, key, run=None)\n"
     "--\n"
     "\n"
     "The latest committed value of key (an implicit one-operation read), or None\n"
     "if it is missing, deleted or expired.\n"
     "\n"
     "Returns bytes | None."},
    {"get_entry", (PyCFunction)(void (*)(void))db_get_entry, FAST,
     "get_entry($self, key, run=None)\n"
     "--\n"
     "\n"
     "Like get(), with the key and its version.\n"
     "\n"
     "Returns KVEntry | None."},
    {"get_json", (PyCFunction)(void (*)(void))db_get_json, FAST,
     "get_json($self, key, run=None)\n"
     "--\n"
     "\n"
     "get() decoded as JSON; None if missing.\n"
     "\n"
     "Returns object | None."},
    {"put", (PyCFunction)(void (*)(void))db_put, FAST,
     "put($self, key, value, run=None, *, ttl=None, expire_at_ms=None)\n"
     "--\n"
     "\n"
     "Writes key and commits at once (an implicit one-operation transaction);\n"
     "returns the commit's version. ttl: seconds until the value expires (None:\n"
     "never); expire_at_ms: or an absolute expiry in Unix ms. key and value are\n"
     "bytes, str (UTF-8) or bytes-like.\n"
     "\n"
     "Returns int."},
    {"put_json", (PyCFunction)(void (*)(void))db_put_json, FAST,
     "put_json($self, key, obj, run=None, *, ttl=None, expire_at_ms=None)\n"
     "--\n"
     "\n"
     "put() of json.dumps(obj) (compact UTF-8).\n"
     "\n"
     "Returns int."},
    {"delete", (PyCFunction)(void (*)(void))db_delete, FAST,
     "delete($self, key, run=None)\n"
     "--\n"
     "\n"
     "Deletes key and commits (a tombstone even if it did not exist); returns the\n"
     "commit's version.\n"
     "\n"
     "Returns int."},
    {"cas", (PyCFunction)(void (*)(void))db_cas, FAST,
     "cas($self, key, expected_version, value, run=None)\n"
     "--\n"
     "\n"
     "Writes value only if key is at expected_version (0: only if absent), as its\n"
     "own transaction; returns the new version. Raises ConflictError otherwise\n"
     "(not retried).\n"
     "\n"
     "Returns int."},
    {"transaction", (PyCFunction)(void (*)(void))db_transaction, FAST,
     "transaction($self, readonly=False, *, at_version=None, at_time_ms=None, timeout=None)\n"
     "--\n"
     "\n"
     "Begins a transaction on a snapshot of the latest committed state. Use it as\n"
     "a context manager: the block commits on exit (raising ConflictError if a key\n"
     "it read or CAS-checked changed) and aborts on an exception. readonly=True\n"
     "keeps no read set and refuses writes.\n"
     "\n"
     "at_version=V begins a read-only transaction on the state right after commit V\n"
     "(0: the empty state before the first commit), at_time_ms=T on the newest commit\n"
     "made at or before the Unix ms time T: a time-travel read, which returns exactly\n"
     "what a transaction begun then returned (expiries judged at that time). What the\n"
     "retained history (open options history_ms, history_versions) no longer holds\n"
     "raises HistoryError: here for a version below stats().history_floor, or in a\n"
     "read whose key's versions were freed; never a newer answer.\n"
     "\n"
     "timeout=S gives it a deadline S seconds from now (Transaction.set_timeout()):\n"
     "a commit after it applies nothing and raises TimeoutError.\n"
     "\n"
     "Returns Transaction."},
    {"transact", (PyCFunction)(void (*)(void))db_transact, FAST,
     "transact($self, fn, *, max_attempts=10, timeout=None, backoff_initial=None, "
     "backoff_max=None)\n"
     "--\n"
     "\n"
     "Runs fn(tx) in a transaction and commits it; on a conflict the transaction\n"
     "is rolled back and fn runs again on a fresh snapshot after an exponential\n"
     "back-off with jitter (backoff_initial, default 100 us, doubling up to\n"
     "backoff_max, default 10 ms; in seconds). Returns fn's result. An exception\n"
     "raised by fn aborts without retry and propagates. Raises RetriesExhausted\n"
     "after max_attempts conflicts, TimeoutError once timeout seconds have passed.\n"
     "fn may run several times: keep its outside effects idempotent. The GIL is\n"
     "released between attempts and during commits."},
    {"state_transition", (PyCFunction)(void (*)(void))db_state_transition, FAST,
     "state_transition($self, name, fn, run=None, *, max_attempts=10, timeout=None, "
     "backoff_initial=None, backoff_max=None)\n"
     "--\n"
     "\n"
     "Applies fn(value, version) -> next value to a state cell in a closure\n"
     "transaction, retried on conflict (value None and version 0 if the cell does\n"
     "not exist). Returns the commit's version. An exception raised by fn aborts\n"
     "and propagates.\n"
     "\n"
     "Returns int."},
    {"stats", db_stats, METH_NOARGS,
     "stats($self, /)\n"
     "--\n"
     "\n"
     "The database's counters and gauges.\n"
     "\n"
     "Returns Stats."},
    {"recovery", db_recovery, METH_NOARGS,
     "recovery($self, /)\n"
     "--\n"
     "\n"
     "What recovery did when the database was opened.\n"
     "\n"
     "Returns RecoveryInfo."},
    {"checkpoint", db_checkpoint, METH_NOARGS,
     "checkpoint($self, /)\n"
     "--\n"
     "\n"
     "Takes a checkpoint now and waits for it: writes an image of every key's newest\n"
     "value at the newest commit V from a snapshot (writers and readers go on), installs\n"
     "it atomically, then removes the previous image and every log segment V covers.\n"
     "The next open loads the image and replays only the log after V. Once a\n"
     "checkpoint has passed a delete (a deleted run, an overwritten, deleted or swept\n"
     "value), none of its bytes remain in any file of the directory. Returns V (the\n"
     "last image's version if nothing was committed since). A failure (DiskError)\n"
     "leaves the previous image and the log as they were. Raises NotSupported for\n"
     "durability='none', ReadOnlyError for a read-only database. The GIL is released.\n"
     "\n"
     "Returns int."},
    {"backup", (PyCFunction)(void (*)(void))db_backup, FAST,
     "backup($self, path)\n"
     "--\n"
     "\n"
     "Writes an online backup: a checkpoint image of the newest visible commit (in\n"
     "strict mode, never one whose fsync is pending) into the directory path\n"
     "(created if missing; it must be empty), while writers go on.\n"
     "inmem.open(path) opens it to exactly that version, which is returned. Works\n"
     "in every durability mode, 'none' and read-only included. Raises\n"
     "InvalidArgument if path is not an empty directory. The GIL is released.\n"
     "\n"
     "Returns int."},
    {"sweep", db_sweep, METH_NOARGS,
     "sweep($self, /)\n"
     "--\n"
     "\n"
     "Deletes expired TTL values now; returns how many.\n"
     "\n"
     "Returns int."},
    {NULL, NULL, 0, NULL},
};

int db_register_methods(void)
{
    /* own methods, then the primitives shared with Transaction, then the database-only ones */
    PyMethodDef *parts[] = {db_methods, op_methods_common, op_methods_db, history_methods_db};
    size_t n = 0;
    for (size_t p = 0; p < 4; p++)
        for (PyMethodDef *m = parts[p]; m->ml_name; m++)
            n++;
    PyMethodDef *all = PyMem_Calloc(n + 1, sizeof *all);
    if (!all) {
        PyErr_NoMemory();
        return -1;
    }
    n = 0;
    for (size_t p = 0; p < 4; p++)
        for (PyMethodDef *m = parts[p]; m->ml_name; m++)
            all[n++] = *m;
    DbType.tp_methods = all;
    return 0;
}

PyTypeObject DbType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "inmem.Database",
    .tp_basicsize = sizeof(DbObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Database(path=None, durability='batched', **options)\n--\n\n"
              "An open inmem database: an embedded, in-memory, durable, transactional state\n"
              "store. Prefer inmem.open(), which takes the same arguments.\n\n"
              "Options (keyword arguments, the library's defaults when left out): durability\n"
              "('none', 'async', 'batched', 'strict'), max_key_size, max_value_size, max_txns,\n"
              "wal_segment_size, sync_interval_ms, sync_commits, max_unsynced_commits, repair,\n"
              "ttl_sweep_interval_ms, read_only, create_if_missing, file_mode,\n"
              "checkpoint_log_ratio, checkpoint_log_min, checkpoint_on_close, history_ms,\n"
              "history_versions. Use as a context manager to close it at the end of a block.\n\n"
              "Every operation takes an optional run (a RunId, its str form, or None for the\n"
              "shared scope). Operations called on the Database are standalone: each is its own\n"
              "transaction (writes retried on conflict). The same operations on a Transaction\n"
              "are part of it. A Database may be used from any number of threads.",
    .tp_new = db_tp_new,
    .tp_init = db_tp_init,
    .tp_dealloc = db_dealloc,
    .tp_repr = db_repr,
    .tp_getset = db_getset,
    .tp_weaklistoffset = offsetof(DbObject, weakreflist),
};
