/*
 * transaction.c — the Transaction type (an inmem_txn) and the KV scan iterator over it.
 *
 * A Transaction owns its handle from Database.transaction() until it ends: commit() and abort()
 * end it and free the handle at once (after copying what describe() says, conflict key included),
 * so that finished Transaction objects kept around do not hold any of the max_txns handles, and
 * every later call raises TransactionDone instead of touching freed memory. A *managed*
 * transaction is the one lent to the callback of Database.transact(): the library owns it,
 * commit()/abort() are refused, and it is detached (every call raises) when the callback returns.
 *
 * The library frees a transaction's iterators with it. A KvIter therefore calls the library only
 * while its Transaction still holds the handle; once the handle is gone it raises, and its
 * dealloc does not free the iterator again.
 *
 * Threads: calls run with the GIL held, which keeps one thread at a time in a transaction, as
 * the C contract requires; the calls that release it (a strict commit, large values) set `busy`,
 * and any call made meanwhile from another thread raises MisuseError.
 */
#include "pyinmem.h"

#include <string.h>
#include <time.h>

TxObject *tx_new(DbObject *db, inmem_txn *txn, int readonly, int managed)
{
    TxObject *tx = PyObject_New(TxObject, &TxType);
    if (!tx)
        return NULL;
    tx->db = (DbObject *)Py_NewRef(db);
    tx->txn = txn;
    tx->readonly = readonly;
    tx->managed = managed;
    tx->busy = 0;
    tx->pinned = 0;
    tx->state = TX_ACTIVE;
    tx->writes = 0;
    memset(&tx->end_info, 0, sizeof tx->end_info);
    tx->conflict_key = NULL;
    tx->weakreflist = NULL;
    if (!managed)
        db->live_txn++;
    return tx;
}

void tx_detach(TxObject *tx)
{
    /* Another thread may be in a call on this transaction with the GIL released (a put of a big
     * value): the library commits or aborts the handle as soon as the callback returns, so that
     * call must end first (its write then belongs to the transaction, as it began inside it).
     * The busy marks change only under the GIL, so once it is clear here no call can start
     * before the handle is gone. */
    while (tx->busy) {
        Py_BEGIN_ALLOW_THREADS struct timespec pause = {0, 50 * 1000};
        nanosleep(&pause, NULL);
        Py_END_ALLOW_THREADS
    }
    tx->txn = NULL;
}

int tx_unusable(TxObject *tx)
{
    if (!tx->txn) {
        if (tx->managed)
            raise_code(INMEM_ETXNDONE, "this transaction belonged to a transact() callback that "
                                       "has returned; use it only inside the callback");
        else
            raise_code(INMEM_ETXNDONE, tx->state == TX_COMMITTED
                                           ? "the transaction has been committed"
                                           : "the transaction has been aborted");
        return -1;
    }
    if (tx->busy || tx->pinned) {
        raise_misuse(tx->busy ? "the transaction is in use by another thread"
                              : "the transaction is in use: a call on it is copying its records "
                                "(a finalizer run by the garbage collector cannot use it)");
        return -1;
    }
    return 0; /* usable after all (tx_usable() calls it only when it is not) */
}

/* Ends the transaction after a commit (rc) or an abort: keeps what describe() says, frees the
 * handle. */
static void tx_finish(TxObject *tx)
{
    inmem_txn_info info;
    /* the library's word: a commit may be applied and still return an error (INMEM_EIO when
     * the fsync max_unsynced_commits waited for failed); describe() says it too */
    int committed;
    if (inmem_txn_describe(tx->txn, &info) == 0) {
        committed = info.state == INMEM_TXN_COMMITTED;
        if (info.conflict_key && info.conflict_key_len &&
            !(tx->conflict_key = bytes_of(info.conflict_key, info.conflict_key_len)))
            PyErr_Clear(); /* out of memory: the conflict is reported without its key */
        info.conflict_key = NULL;
        tx->end_info = info;
    } else {
        committed = inmem_txn_state_of(tx->txn) == INMEM_TXN_COMMITTED;
    }
    inmem_txn_free(tx->txn);
    tx->txn = NULL;
    tx->state = committed ? TX_COMMITTED : TX_ABORTED;
    tx->db->live_txn--;
}

static PyObject *tx_do_commit(TxObject *tx)
{
    if (tx->managed)
        return raise_misuse("commit: a transact() transaction commits when its function returns");
    if (tx_usable(tx, 0) < 0)
        return NULL;
    int rel = (tx->writes && tx->db->commit_waits) || tx->writes >= 4096;
    inmem_txn *txn = tx->txn;
    int rc;
    if (rel) {
        tx->busy = 1;
        DB_CALL(tx->db, 1, rc = inmem_txn_commit(txn));
        tx->busy = 0;
    } else {
        rc = inmem_txn_commit(txn);
    }
    tx_finish(tx);
    if (rc == INMEM_CONFLICT)
        return raise_conflict("commit", &tx->end_info, tx->conflict_key);
    if (rc)
        return raise_rc(rc, "commit");
    return u64(tx->end_info.commit_version);
}

static PyObject *tx_commit(PyObject *op, PyObject *unused)
{
    (void)unused;
    return tx_do_commit((TxObject *)op);
}

static PyObject *tx_set_timeout(PyObject *op, PyObject *arg)
{
    TxObject *tx = (TxObject *)op;
    uint64_t us;
    if (tx_usable(tx, 0) < 0 || get_seconds_us(arg, &us, "timeout") < 0 ||
        tx_usable(tx, 0) < 0) /* again: converting the argument ran Python code */
        return NULL;
    int rc = inmem_txn_set_timeout(tx->txn, us);
    if (rc)
        return raise_rc(rc, "set_timeout");
    Py_RETURN_NONE;
}

static PyObject *tx_abort(PyObject *op, PyObject *unused)
{
    (void)unused;
    TxObject *tx = (TxObject *)op;
    if (tx->managed)
        return raise_misuse("abort: raise an exception in the transact() function to abort it");
    if (tx_usable(tx, 0) < 0)
        return NULL;
    int rc = inmem_txn_abort(tx->txn);
    tx_finish(tx);
    if (rc)
        return raise_rc(rc, "abort");
    Py_RETURN_NONE;
}

static PyObject *tx_enter(PyObject *op, PyObject *unused)
{
    (void)unused;
    TxObject *tx = (TxObject *)op;
    if (tx->managed)
        return raise_misuse("a transact() transaction is not a context manager");
    if (tx_usable(tx, 0) < 0)
        return NULL;
    return Py_NewRef(op);
}

static PyObject *tx_exit(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    TxObject *tx = (TxObject *)op;
    if (!tx->txn || tx->managed) /* ended inside the block */
        Py_RETURN_FALSE;
    if (tx_usable(tx, 0) < 0)
        return NULL;
    if (nargs >= 1 && args[0] != Py_None) {
        inmem_txn_abort(tx->txn);
        tx_finish(tx);
        Py_RETURN_FALSE;
    }
    PyObject *r = tx_do_commit(tx);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static void tx_dealloc(PyObject *op)
{
    TxObject *tx = (TxObject *)op;
    if (tx->weakreflist)
        PyObject_ClearWeakRefs(op);
    if (tx->txn && !tx->managed) {
        inmem_txn_free(tx->txn); /* aborts it */
        tx->db->live_txn--;
    }
    Py_CLEAR(tx->conflict_key);
    Py_CLEAR(tx->db);
    PyObject_Free(op);
}

/* ---- KV ---------------------------------------------------------------------------------- */

/* Runs @p stmt with the GIL released if @p rel, marking the transaction and database busy. */
#define TX_CALL(tx, rel, stmt)                                                                     \
    do {                                                                                           \
        if (rel) {                                                                                 \
            (tx)->busy = 1;                                                                        \
            DB_CALL((tx)->db, 1, stmt);                                                            \
            (tx)->busy = 0;                                                                        \
        } else {                                                                                   \
            stmt;                                                                                  \
        }                                                                                          \
    } while (0)

ARGSPEC(spec_get, "get", 2, 1, "key", "run");

static PyObject *tx_get_common(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames, int mode)
{
    TxObject *tx = (TxObject *)op;
    bytesarg k;
    inmem_run_id rb;
    const inmem_run_id *run = NULL;
    if (nargs == 1 && !kwnames && PyBytes_CheckExact(args[0])) {
        /* The common call, tx.get(key) with a bytes key (W3 is four of them a transaction):
         * no keyword to match, no run id to convert, no buffer to take. Nothing runs Python
         * code between this check and the library's call, so it need not be made again. */
        if (tx_usable(tx, 0) < 0)
            return NULL;
        k.p = PyBytes_AS_STRING(args[0]);
        k.n = (size_t)PyBytes_GET_SIZE(args[0]);
        k.has_view = 0;
    } else {
        PyObject *a[2];
        if (parse_args(&spec_get, args, nargs, kwnames, a) < 0 || tx_usable(tx, 0) < 0 ||
            get_run(a[1], &rb, &run, "run") < 0 || get_bytes(a[0], &k, "key") < 0)
            return NULL;
        if (tx_usable(tx, 0) < 0) { /* again: converting the arguments ran Python code */
            release_bytes(&k);
            return NULL;
        }
    }
    const void *val;
    size_t vlen;
    uint64_t ver;
    int rc = inmem_kv_get(tx->txn, run, k.p, k.n, &val, &vlen, &ver);
    PyObject *r = NULL;
    if (rc == INMEM_NOTFOUND) {
        r = Py_NewRef(Py_None);
    } else if (rc) {
        raise_rc(rc, "get");
    } else if (mode == 0) {
        r = bytes_of(val, vlen);
    } else if (mode == 1) {
        r = make_kv_entry(k.p, k.n, val, vlen, ver);
    } else {
        PyObject *b = bytes_of(val, vlen);
        r = b ? json_decode(b) : NULL;
        Py_XDECREF(b);
    }
    release_bytes(&k);
    return r;
}

static PyObject *tx_get(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return tx_get_common(op, args, nargs, kwnames, 0);
}

static PyObject *tx_get_entry(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    return tx_get_common(op, args, nargs, kwnames, 1);
}

static PyObject *tx_get_json(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    return tx_get_common(op, args, nargs, kwnames, 2);
}

ARGSPEC(spec_put, "put", 3, 2, "key", "value", "run", "ttl", "expire_at_ms");
ARGSPEC(spec_put_json, "put_json", 3, 2, "key", "obj", "run", "ttl", "expire_at_ms");

static PyObject *tx_put_common(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames, int json)
{
    TxObject *tx = (TxObject *)op;
    PyObject *a[5];
    if (parse_args(json ? &spec_put_json : &spec_put, args, nargs, kwnames, a) < 0 ||
        tx_usable(tx, 1) < 0)
        return NULL;
    bytesarg k, v;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t ttl = 0, us, at = 0;
    if (get_run(a[2], &rb, &run, "run") < 0 || get_u64(a[4], 0, &at, "expire_at_ms") < 0)
        return NULL;
    if (a[3] && a[3] != Py_None && a[4] && a[4] != Py_None) {
        PyErr_SetString(PyExc_TypeError, "put: give ttl or expire_at_ms, not both");
        return NULL;
    }
    if (a[3] && a[3] != Py_None) {
        if (get_seconds_us(a[3], &us, "ttl") < 0)
            return NULL;
        if (us == 0) {
            PyErr_SetString(PyExc_ValueError, "ttl must be > 0 seconds (None: no expiry)");
            return NULL;
        }
        ttl = (us + 999) / 1000;
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
    if (tx_usable(tx, 1) < 0) { /* again: converting the arguments ran Python code */
        release_bytes(&k);
        release_bytes(&v);
        Py_XDECREF(enc);
        return NULL;
    }
    inmem_txn *txn = tx->txn;
    int rc;
    TX_CALL(tx, v.n >= BIG_VALUE,
            rc = at    ? inmem_kv_put_expire_at(txn, run, k.p, k.n, v.p, v.n, at)
                 : ttl ? inmem_kv_put_ttl(txn, run, k.p, k.n, v.p, v.n, ttl)
                       : inmem_kv_put(txn, run, k.p, k.n, v.p, v.n));
    tx->writes++;
    release_bytes(&k);
    release_bytes(&v);
    Py_XDECREF(enc);
    if (rc)
        return raise_rc(rc, "put");
    Py_RETURN_NONE;
}

static PyObject *tx_put(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return tx_put_common(op, args, nargs, kwnames, 0);
}

static PyObject *tx_put_json(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    return tx_put_common(op, args, nargs, kwnames, 1);
}

static PyObject *tx_delete(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    ARGSPEC(spec, "delete", 2, 1, "key", "run");
    TxObject *tx = (TxObject *)op;
    PyObject *a[2];
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || tx_usable(tx, 1) < 0)
        return NULL;
    bytesarg k;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (get_run(a[1], &rb, &run, "run") < 0 || get_bytes(a[0], &k, "key") < 0)
        return NULL;
    if (tx_usable(tx, 1) < 0) { /* again: converting the arguments ran Python code */
        release_bytes(&k);
        return NULL;
    }
    int rc = inmem_kv_delete(tx->txn, run, k.p, k.n);
    tx->writes++;
    release_bytes(&k);
    if (rc)
        return raise_rc(rc, "delete");
    Py_RETURN_NONE;
}

static PyObject *tx_cas(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    ARGSPEC(spec, "cas", 4, 3, "key", "expected_version", "value", "run");
    TxObject *tx = (TxObject *)op;
    PyObject *a[4];
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || tx_usable(tx, 1) < 0)
        return NULL;
    bytesarg k, v;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t expected;
    if (get_run(a[3], &rb, &run, "run") < 0 ||
        get_u64(a[1], 0, &expected, "expected_version") < 0 || get_bytes(a[0], &k, "key") < 0)
        return NULL;
    if (get_bytes(a[2], &v, "value") < 0) {
        release_bytes(&k);
        return NULL;
    }
    if (tx_usable(tx, 1) < 0) { /* again: converting the arguments ran Python code */
        release_bytes(&k);
        release_bytes(&v);
        return NULL;
    }
    inmem_txn *txn = tx->txn;
    int rc;
    TX_CALL(tx, v.n >= BIG_VALUE, rc = inmem_kv_cas(txn, run, k.p, k.n, expected, v.p, v.n));
    tx->writes++;
    release_bytes(&k);
    release_bytes(&v);
    if (rc)
        return raise_rc(rc, "cas");
    Py_RETURN_NONE;
}

/* ---- KV scan iterator ---------------------------------------------------------------------- */

typedef struct KvIterObject {
    PyObject_HEAD TxObject *tx;
    inmem_iter *it; /* NULL once exhausted (freed by us) */
} KvIterObject;

PyObject *kv_scan_new(TxObject *tx, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                      int prefix)
{
    ARGSPEC(spec_scan, "scan", 3, 0, "start", "end", "run");
    ARGSPEC(spec_prefix, "scan_prefix", 2, 0, "prefix", "run");
    PyObject *a[3];
    if (parse_args(prefix ? &spec_prefix : &spec_scan, args, nargs, kwnames, a) < 0 ||
        tx_usable(tx, 0) < 0)
        return NULL;
    PyObject *runo = prefix ? a[1] : a[2];
    inmem_run_id rb;
    const inmem_run_id *run;
    if (get_run(runo, &rb, &run, "run") < 0)
        return NULL;
    bytesarg s = {"", 0, {0}, 0}, e = {"", 0, {0}, 0};
    if (a[0] && a[0] != Py_None && get_bytes(a[0], &s, prefix ? "prefix" : "start") < 0)
        return NULL;
    if (!prefix && a[1] && a[1] != Py_None && get_bytes(a[1], &e, "end") < 0) {
        release_bytes(&s);
        return NULL;
    }
    if (tx_usable(tx, 0) < 0) { /* again: converting the arguments ran Python code */
        release_bytes(&s);
        release_bytes(&e);
        return NULL;
    }
    inmem_iter *it = NULL;
    int rc = prefix
                 ? inmem_kv_scan_prefix(tx->txn, run, s.p, s.n, &it)
                 : inmem_kv_scan(tx->txn, run, s.n ? s.p : NULL, s.n, e.n ? e.p : NULL, e.n, &it);
    release_bytes(&s);
    release_bytes(&e);
    if (rc)
        return raise_rc(rc, prefix ? "scan_prefix" : "scan");
    KvIterObject *ki = PyObject_New(KvIterObject, &KvIterType);
    if (!ki) {
        inmem_iter_free(it);
        return NULL;
    }
    ki->tx = (TxObject *)Py_NewRef(tx);
    ki->it = it;
    return (PyObject *)ki;
}

static PyObject *kviter_next(PyObject *op)
{
    KvIterObject *ki = (KvIterObject *)op;
    if (!ki->it)
        return NULL;
    if (tx_usable(ki->tx, 0) < 0) {
        if (!ki->tx->txn)
            ki->it = NULL; /* freed with the transaction; only busy: the next call goes on */
        return NULL;
    }
    const void *k, *v;
    size_t kl, vl;
    uint64_t ver;
    int rc = inmem_iter_next(ki->it, &k, &kl, &v, &vl, &ver);
    if (rc == INMEM_NOTFOUND) {
        inmem_iter_free(ki->it);
        ki->it = NULL;
        return NULL;
    }
    if (rc)
        return raise_rc(rc, "scan");
    return make_kv_entry(k, kl, v, vl, ver);
}

static void kviter_dealloc(PyObject *op)
{
    KvIterObject *ki = (KvIterObject *)op;
    /* not while another thread's call runs on the transaction (GIL released): freeing an
     * iterator unlinks it from its transaction; the library frees it with the transaction */
    if (ki->it && ki->tx->txn && !ki->tx->busy)
        inmem_iter_free(ki->it);
    Py_CLEAR(ki->tx);
    PyObject_Free(op);
}

PyTypeObject KvIterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "inmem.KVIterator",
    .tp_basicsize = sizeof(KvIterObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An iterator over a transaction's keys in order, yielding KVEntry records\n"
              "(copied: they stay valid after the transaction). Using it after its transaction\n"
              "has ended raises TransactionDone.",
    .tp_dealloc = kviter_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = kviter_next,
};

static PyObject *tx_scan(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return kv_scan_new((TxObject *)op, args, nargs, kwnames, 0);
}

static PyObject *tx_scan_prefix(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    return kv_scan_new((TxObject *)op, args, nargs, kwnames, 1);
}

/* ---- information --------------------------------------------------------------------------- */

static PyObject *tx_info(PyObject *op, PyObject *unused)
{
    (void)unused;
    TxObject *tx = (TxObject *)op;
    if (tx->txn) {
        if (tx->busy)
            return raise_misuse("the transaction is in use by another thread");
        inmem_txn_info info;
        int rc = inmem_txn_describe(tx->txn, &info);
        if (rc)
            return raise_rc(rc, "info");
        return make_txn_info(&info, NULL);
    }
    if (tx->managed)
        return raise_code(INMEM_ETXNDONE, "info: the transact() callback has returned");
    return make_txn_info(&tx->end_info, tx->conflict_key);
}

static PyObject *tx_get_state(PyObject *op, void *closure)
{
    (void)closure;
    TxObject *tx = (TxObject *)op;
    static const char *const names[] = {"active", "committed", "aborted"};
    static const char *const lib[] = {"active", "validating", "committed", "aborted"};
    /* the library's view while it holds the handle, unless another thread's call on it is in
     * flight (a strict commit writes the state meanwhile: one thread at a time, says the C
     * contract); then it is active until that call returns */
    if (tx->txn) {
        if (tx->busy)
            return PyUnicode_FromString("active");
        unsigned st = (unsigned)inmem_txn_state_of(tx->txn);
        return PyUnicode_FromString(st < 4 ? lib[st] : "unknown");
    }
    if (tx->managed)
        return PyUnicode_FromString("ended");
    return PyUnicode_FromString(names[tx->state]);
}

static PyObject *tx_get_readonly(PyObject *op, void *closure)
{
    (void)closure;
    return PyBool_FromLong(((TxObject *)op)->readonly);
}

static PyObject *tx_get_database(PyObject *op, void *closure)
{
    (void)closure;
    return Py_NewRef((PyObject *)((TxObject *)op)->db);
}

static PyObject *tx_repr(PyObject *op)
{
    TxObject *tx = (TxObject *)op;
    static const char *const names[] = {"active", "committed", "aborted"};
    return PyUnicode_FromFormat("<inmem.Transaction %s%s%s>",
                                tx->managed && !tx->txn ? "ended" : names[tx->state],
                                tx->readonly ? " readonly" : "", tx->managed ? " (transact)" : "");
}

static PyGetSetDef tx_getset[] = {
    {"state", tx_get_state, NULL,
     "'active', 'committed' or 'aborted' ('ended' for a transact() transaction whose function\n"
     "has returned).",
     NULL},
    {"readonly", tx_get_readonly, NULL, "True for a read-only transaction.", NULL},
    {"database", tx_get_database, NULL, "The Database it belongs to.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

#define FAST (METH_FASTCALL | METH_KEYWORDS)

static PyMethodDef tx_methods[] = {
    {"commit", tx_commit, METH_NOARGS,
     "commit($self, /)\n"
     "--\n"
     "\n"
     "Validates and commits; returns the commit's version (0 for a read-only or\n"
     "empty transaction). Raises ConflictError (with the key and rule) if a key it\n"
     "read or CAS-checked changed since its snapshot. The transaction has ended\n"
     "after any result.\n"
     "\n"
     "Returns int."},
    {"set_timeout", tx_set_timeout, METH_O,
     "set_timeout($self, seconds, /)\n"
     "--\n"
     "\n"
     "Gives the transaction a deadline this many seconds from now (0 removes it): a\n"
     "commit that comes after it applies nothing and raises TimeoutError.\n"
     "\n"
     "Returns None."},
    {"abort", tx_abort, METH_NOARGS,
     "abort($self, /)\n"
     "--\n"
     "\n"
     "Discards every pending write.\n"
     "\n"
     "Returns None."},
    {"__enter__", tx_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))tx_exit, METH_FASTCALL, NULL},
    {"info", tx_info, METH_NOARGS,
     "info($self, /)\n"
     "--\n"
     "\n"
     "State, abort reason, snapshot and commit versions, set sizes, and the\n"
     "conflict (key, run, versions) after a conflict.\n"
     "\n"
     "Returns TxnInfo."},
    {"get", (PyCFunction)(void (*)(void))tx_get, FAST,
     "get($self, key, run=None)\n"
     "--\n"
     "\n"
     "Reads key at the snapshot, seeing this transaction's own writes first; None\n"
     "if missing. The read is validated at commit.\n"
     "\n"
     "Returns bytes | None."},
    {"get_entry", (PyCFunction)(void (*)(void))tx_get_entry, FAST,
     "get_entry($self, key, run=None)\n"
     "--\n"
     "\n"
     "Like get(), with the version read (0 for this transaction's own pending\n"
     "write).\n"
     "\n"
     "Returns KVEntry | None."},
    {"get_json", (PyCFunction)(void (*)(void))tx_get_json, FAST,
     "get_json($self, key, run=None)\n"
     "--\n"
     "\n"
     "get() decoded as JSON.\n"
     "\n"
     "Returns object | None."},
    {"put", (PyCFunction)(void (*)(void))tx_put, FAST,
     "put($self, key, value, run=None, *, ttl=None, expire_at_ms=None)\n"
     "--\n"
     "\n"
     "Writes key (pending until commit). A blind write never conflicts. ttl:\n"
     "seconds until the value expires; expire_at_ms: or an absolute expiry, in\n"
     "Unix ms.\n"
     "\n"
     "Returns None."},
    {"put_json", (PyCFunction)(void (*)(void))tx_put_json, FAST,
     "put_json($self, key, obj, run=None, *, ttl=None, expire_at_ms=None)\n"
     "--\n"
     "\n"
     "put() of json.dumps(obj).\n"
     "\n"
     "Returns None."},
    {"delete", (PyCFunction)(void (*)(void))tx_delete, FAST,
     "delete($self, key, run=None)\n"
     "--\n"
     "\n"
     "Deletes key (pending; a tombstone even if missing).\n"
     "\n"
     "Returns None."},
    {"cas", (PyCFunction)(void (*)(void))tx_cas, FAST,
     "cas($self, key, expected_version, value, run=None)\n"
     "--\n"
     "\n"
     "Writes value if, at commit, key is still at expected_version (0: absent);\n"
     "else the commit raises ConflictError (rule 'cas'). Does not add key to the\n"
     "read set.\n"
     "\n"
     "Returns None."},
    {"scan", (PyCFunction)(void (*)(void))tx_scan, FAST,
     "scan($self, start=None, end=None, run=None)\n"
     "--\n"
     "\n"
     "The keys k of run with start <= k < end in byte order, at the snapshot,\n"
     "merged with this transaction's writes. Each key returned is recorded in the\n"
     "read set.\n"
     "\n"
     "Returns Iterator[KVEntry]."},
    {"scan_prefix", (PyCFunction)(void (*)(void))tx_scan_prefix, FAST,
     "scan_prefix($self, prefix=b'', run=None)\n"
     "--\n"
     "\n"
     "The keys beginning with prefix.\n"
     "\n"
     "Returns Iterator[KVEntry]."},
    {NULL, NULL, 0, NULL},
};

static int tx_register_methods(void)
{
    PyMethodDef *parts[] = {tx_methods, op_methods_common, op_methods_tx};
    size_t n = 0;
    for (size_t p = 0; p < 3; p++)
        for (PyMethodDef *m = parts[p]; m->ml_name; m++)
            n++;
    PyMethodDef *all = PyMem_Calloc(n + 1, sizeof *all);
    if (!all) {
        PyErr_NoMemory();
        return -1;
    }
    n = 0;
    for (size_t p = 0; p < 3; p++)
        for (PyMethodDef *m = parts[p]; m->ml_name; m++)
            all[n++] = *m;
    TxType.tp_methods = all;
    return 0;
}

static PyObject *tx_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)type;
    (void)args;
    (void)kwds;
    PyErr_SetString(PyExc_TypeError, "use Database.transaction() to begin a transaction");
    return NULL;
}

int tx_type_ready(void)
{
    if (!TxType.tp_methods && tx_register_methods() < 0)
        return -1;
    return PyType_Ready(&TxType);
}

PyTypeObject TxType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "inmem.Transaction",
    .tp_basicsize = sizeof(TxObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A transaction under snapshot isolation (begin with Database.transaction()).\n\n"
              "It sees every commit made before it began and its own pending writes, nothing\n"
              "else. commit() applies its writes atomically with one new version, or raises\n"
              "ConflictError if a key it read or CAS-checked changed meanwhile (first committer\n"
              "wins). As a context manager it commits at the end of the block and aborts if the\n"
              "block raises. Records and bytes it returns are copies that stay valid after it\n"
              "ends; iterators over it raise TransactionDone once it has ended.\n\n"
              "A transaction is used by one thread at a time (the GIL sees to it; a call made\n"
              "while another thread's commit is in flight raises MisuseError).",
    .tp_new = tx_tp_new,
    .tp_dealloc = tx_dealloc,
    .tp_repr = tx_repr,
    .tp_getset = tx_getset,
    .tp_weaklistoffset = offsetof(TxObject, weakreflist),
};
