/*
 * history.c — retained history (docs/history.md) seen from Python: commit times
 * (version_time, time_version), run replay (an iterator of ReplayCommit records), run diff (an
 * iterator of DiffEntry records), and waiting for a change (Database.wait and the Watch type).
 * Time-travel transactions are Database.transaction(at_version=, at_time_ms=) (database.c), key
 * and cell history are pagers (pager.c), forks are run_fork (ops.c).
 *
 * Replay: the library's replay reads through its transaction and lends each commit's writes
 * until the next call; every write is copied into Change records at once. On a Transaction the
 * replay is opened at the call (so HistoryError is raised there) and read lazily; once the
 * transaction has ended, next() raises TransactionDone and the replay is freed (the library
 * allows freeing it after its transaction). On a Database, the replay is read a page of commits
 * at a time, each page in a read-only transaction of its own that resumes after the last version
 * returned (the way a change feed consumer resumes): the iterator holds no snapshot between
 * pages, like every Database-level iterator.
 *
 * Diff: the library collects the differences when the diff is made (with the GIL released: it
 * reads both sides of the runs) and owns them until inmem_diff_free(); the iterator copies each
 * entry and frees the diff when exhausted or collected. It does not depend on the database.
 *
 * Waiting: inmem_wait() blocks inside the library, and a binding cannot tell when a thread that
 * released the GIL to call it is inside (registered) and when it is still on its way in, so it
 * could not let close() run meanwhile without risking a call on a freed handle. Waits are
 * therefore built on watches: inmem_watch_open() registers the waiter with the GIL held (the
 * database cannot be closing then), the thread blocks in poll() on the watch's eventfd with the
 * GIL released (nothing of the library is touched; a commit that moves the key, or a close,
 * makes it readable; a signal interrupts it, so Ctrl-C works), then inmem_watch_poll() says
 * which. A close in another thread wakes it: the close holds db->close_mu while it runs, and
 * every call on a watch takes that lock, so that none runs concurrently with the close, as the
 * header requires. Waits do not mark the database busy. A timeout of 0 only looks
 * (inmem_wait() with the GIL held, which never blocks). A watch outlives its database: after the
 * close it answers with the version that fired it, or ClosedError.
 */
#include "pyinmem.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#define FAST    (METH_FASTCALL | METH_KEYWORDS)
#define M(name) (PyCFunction)(void (*)(void))(name)

static int db_open_check(DbObject *db)
{
    if (!db->db) {
        raise_misuse("the database is closed");
        return -1;
    }
    return 0;
}

/* ---- the close lock -------------------------------------------------------------------------- */

void close_lock(DbObject *db)
{
    if (pthread_mutex_trylock(&db->close_mu) == 0)
        return;
    PyThreadState *ts = PyEval_SaveThread(); /* a close is in flight: wait for it without the GIL */
    pthread_mutex_lock(&db->close_mu);
    PyEval_RestoreThread(ts);
}

void close_unlock(DbObject *db)
{
    pthread_mutex_unlock(&db->close_mu);
}

/* ---- commit times ---------------------------------------------------------------------------- */

static PyObject *db_version_time(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    ARGSPEC(spec, "version_time", 1, 1, "version");
    DbObject *self = (DbObject *)op;
    PyObject *a[1];
    uint64_t v, t = 0;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || db_open_check(self) < 0 ||
        get_u64(a[0], 0, &v, "version") < 0)
        return NULL;
    int rc = inmem_db_version_time(self->db, v, &t);
    if (rc)
        return raise_rc(rc, "version_time");
    return u64(t);
}

static PyObject *db_time_version(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    ARGSPEC(spec, "time_version", 1, 1, "time_ms");
    DbObject *self = (DbObject *)op;
    PyObject *a[1];
    uint64_t t, v = 0;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || db_open_check(self) < 0 ||
        get_u64(a[0], 0, &t, "time_ms") < 0)
        return NULL;
    int rc = inmem_db_time_version(self->db, t, &v);
    if (rc)
        return raise_rc(rc, "time_version");
    return u64(v);
}

/* ---- replay ---------------------------------------------------------------------------------- */

#define REPLAY_PAGE       128
#define REPLAY_PAGE_BYTES ((size_t)4 << 20) /* a page ends past this many key and value bytes */

typedef struct ReplayIterObject {
    PyObject_HEAD PyObject *owner; /* TxObject or DbObject */
    inmem_run_id run;
    inmem_replay *r; /* on a Transaction: the open replay; NULL once done */
    uint64_t cursor; /* on a Database: the last version returned (or `after`) */
    PyObject *page;  /* on a Database: the current page (list of ReplayCommit) */
    Py_ssize_t pos;
    int more;     /* on a Database: another page may follow */
    int fetching; /* a commit or a page is being read (a finalizer must not read meanwhile) */
    /* on a Database: the error that ended the current page, raised once its commits are served
     * (so that a consumer resuming after the last commit it saw gets past them) */
    PyObject *err_type, *err_value, *err_tb;
} ReplayIterObject;

/* The next commit of @p r copied into a ReplayCommit; NULL with StopIteration semantics (no
 * exception) at the end, or with an exception. */
static PyObject *replay_read(inmem_replay *r, int *end, size_t *bytes)
{
    uint64_t version = 0, time_ms = 0;
    const inmem_change *c = NULL;
    size_t n = 0;
    *end = 0;
    int rc = inmem_replay_next(r, &version, &time_ms, &c, &n);
    if (rc == INMEM_NOTFOUND) {
        *end = 1;
        return NULL;
    }
    if (rc)
        return raise_rc(rc, "run_replay");
    PyObject *changes = PyTuple_New((Py_ssize_t)n);
    if (!changes)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        *bytes += c[i].klen + c[i].len;
        PyObject *ch = make_change(&c[i]);
        if (!ch) {
            Py_DECREF(changes);
            return NULL;
        }
        PyTuple_SET_ITEM(changes, (Py_ssize_t)i, ch);
    }
    PyObject *rec = PyStructSequence_New(ReplayCommitType);
    PyObject *vo = u64(version), *to = u64(time_ms);
    if (!rec || !vo || !to) {
        Py_XDECREF(rec);
        Py_XDECREF(vo);
        Py_XDECREF(to);
        Py_DECREF(changes);
        return NULL;
    }
    PyStructSequence_SET_ITEM(rec, 0, vo);
    PyStructSequence_SET_ITEM(rec, 1, to);
    PyStructSequence_SET_ITEM(rec, 2, changes);
    return rec;
}

/* Database form: reads the next page of commits after it->cursor. 0, or -1 with an exception. */
static int replay_fetch(ReplayIterObject *it)
{
    DbObject *db = (DbObject *)it->owner;
    if (db_open_check(db) < 0)
        return -1;
    inmem_txn *txn = NULL;
    int rc = inmem_txn_begin_readonly(db->db, &txn);
    if (rc) {
        raise_rc(rc, "run_replay");
        return -1;
    }
    inmem_replay *r = NULL;
    PyObject *page = NULL;
    rc = inmem_run_replay(txn, &it->run, it->cursor, &r);
    if (rc) {
        raise_rc(rc, "run_replay");
        goto done;
    }
    if (!(page = PyList_New(0)))
        goto done;
    int end = 0;
    size_t bytes = 0;
    while (PyList_GET_SIZE(page) < REPLAY_PAGE && bytes < REPLAY_PAGE_BYTES) {
        PyObject *rec = replay_read(r, &end, &bytes);
        if (!rec) {
            if (end)
                break;
            if (PyList_GET_SIZE(page) == 0) {
                Py_CLEAR(page);
                break;
            }
            /* the commits read so far are served first, then this error */
            PyErr_Fetch(&it->err_type, &it->err_value, &it->err_tb);
            end = 1;
            break;
        }
        int bad = PyList_Append(page, rec);
        Py_DECREF(rec);
        if (bad < 0) {
            Py_CLEAR(page);
            break;
        }
    }
    if (page) {
        Py_ssize_t n = PyList_GET_SIZE(page);
        if (n)
            it->cursor = PyLong_AsUnsignedLongLong(
                PyStructSequence_GET_ITEM(PyList_GET_ITEM(page, n - 1), 0));
        it->more = !end;
        Py_XSETREF(it->page, page);
        it->pos = 0;
    }
done:
    inmem_replay_free(r);
    inmem_txn_commit(txn); /* read-only: always commits */
    inmem_txn_free(txn);
    return page ? 0 : -1;
}

PyObject *replay_new(PyObject *owner, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    ARGSPEC(spec, "run_replay", 2, 1, "run", "after");
    PyObject *a[2];
    opctx c;
    inmem_run_id run;
    uint64_t after;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(owner, &c, 0) < 0 ||
        get_id(a[0], &run, "run") < 0 || get_u64(a[1], 0, &after, "after") < 0)
        return NULL;
    inmem_replay *r = NULL;
    if (c.tx) {
        if (tx_usable(c.tx, 0) < 0) /* again: converting the arguments ran Python code */
            return NULL;
        int rc = inmem_run_replay(ctx_txn(&c), &run, after, &r);
        if (rc)
            return raise_rc(rc, "run_replay");
    }
    ReplayIterObject *it = PyObject_New(ReplayIterObject, &ReplayIterType);
    if (!it) {
        inmem_replay_free(r);
        return NULL;
    }
    it->owner = Py_NewRef(owner);
    it->run = run;
    it->r = r;
    it->cursor = after;
    it->page = NULL;
    it->pos = 0;
    it->more = 1;
    it->fetching = 0;
    it->err_type = it->err_value = it->err_tb = NULL;
    if (!c.tx && replay_fetch(it) < 0) { /* the first page now: HistoryError is raised here */
        Py_DECREF(it);
        return NULL;
    }
    return (PyObject *)it;
}

static PyObject *replay_next(PyObject *op)
{
    ReplayIterObject *it = (ReplayIterObject *)op;
    if (it->fetching)
        return raise_misuse("the iterator is reading (a finalizer run by the garbage collector "
                            "cannot use it)");
    if (Py_IS_TYPE(it->owner, &TxType)) {
        TxObject *tx = (TxObject *)it->owner;
        if (!it->r)
            return NULL;
        if (tx_usable(tx, 0) < 0) {
            if (!tx->txn) {               /* ended; only busy: the next call goes on */
                inmem_replay_free(it->r); /* allowed after its transaction has ended */
                it->r = NULL;
            }
            return NULL;
        }
        int end;
        /* the commit's writes are lent by the transaction: pinned while they are copied (see
         * ctx_need_txn) */
        tx->pinned = 1;
        it->fetching = 1;
        size_t bytes = 0;
        PyObject *rec = replay_read(it->r, &end, &bytes);
        it->fetching = 0;
        tx->pinned = 0;
        if (!rec && end) {
            inmem_replay_free(it->r);
            it->r = NULL;
        }
        return rec;
    }
    if (!it->page || it->pos >= PyList_GET_SIZE(it->page)) {
        if (it->err_type) { /* the error that ended the page just served */
            PyErr_Restore(it->err_type, it->err_value, it->err_tb);
            it->err_type = it->err_value = it->err_tb = NULL;
            it->more = 0;
            return NULL;
        }
        if (!it->more)
            return NULL;
        it->fetching = 1;
        int rc = replay_fetch(it);
        it->fetching = 0;
        if (rc < 0) {
            it->more = 0;
            return NULL;
        }
        if (PyList_GET_SIZE(it->page) == 0) {
            it->more = 0;
            return NULL;
        }
    }
    return Py_NewRef(PyList_GET_ITEM(it->page, it->pos++));
}

static void replay_dealloc(PyObject *op)
{
    ReplayIterObject *it = (ReplayIterObject *)op;
    inmem_replay_free(it->r); /* before or after its transaction ended: both allowed */
    Py_CLEAR(it->err_type);
    Py_CLEAR(it->err_value);
    Py_CLEAR(it->err_tb);
    Py_CLEAR(it->page);
    Py_CLEAR(it->owner);
    PyObject_Free(op);
}

PyTypeObject ReplayIterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "inmem.ReplayIterator",
    .tp_basicsize = sizeof(ReplayIterObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An iterator over a run's committed transactions (run_replay()), yielding\n"
              "ReplayCommit records (copies). Over a Transaction it reads that snapshot and\n"
              "raises TransactionDone once the transaction has ended; over a Database it reads\n"
              "a page of commits at a time, each in a read-only transaction of its own.",
    .tp_dealloc = replay_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = replay_next,
};

/* ---- diff ------------------------------------------------------------------------------------ */

typedef struct DiffIterObject {
    PyObject_HEAD inmem_diff *d; /* NULL once exhausted */
} DiffIterObject;

static PyObject *db_run_diff(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    ARGSPEC(spec, "run_diff", 2, 2, "a", "b", "at_a", "at_b");
    DbObject *self = (DbObject *)op;
    PyObject *a[4];
    inmem_run_id ra, rb;
    uint64_t at_a, at_b;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || db_open_check(self) < 0 ||
        get_id(a[0], &ra, "a") < 0 || get_id(a[1], &rb, "b") < 0 ||
        get_u64(a[2], 0, &at_a, "at_a") < 0 || get_u64(a[3], 0, &at_b, "at_b") < 0)
        return NULL;
    inmem_diff *d = NULL;
    int rc;
    inmem_db *db = self->db;
    DB_CALL(self, 1, rc = inmem_run_diff(db, &ra, at_a, &rb, at_b, &d)); /* reads both runs */
    if (rc)
        return raise_db_rc(self, rc, "run_diff");
    DiffIterObject *it = PyObject_New(DiffIterObject, &DiffIterType);
    if (!it) {
        inmem_diff_free(d);
        return NULL;
    }
    it->d = d;
    return (PyObject *)it;
}

static PyObject *diff_next(PyObject *op)
{
    DiffIterObject *it = (DiffIterObject *)op;
    if (!it->d)
        return NULL;
    inmem_diff_entry e;
    int rc = inmem_diff_next(it->d, &e);
    if (rc == INMEM_NOTFOUND) {
        inmem_diff_free(it->d);
        it->d = NULL;
        return NULL;
    }
    if (rc)
        return raise_rc(rc, "run_diff");
    return make_diff_entry(&e);
}

static void diff_dealloc(PyObject *op)
{
    inmem_diff_free(((DiffIterObject *)op)->d);
    PyObject_Free(op);
}

PyTypeObject DiffIterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "inmem.DiffIterator",
    .tp_basicsize = sizeof(DiffIterObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An iterator over the differences of run_diff(), yielding DiffEntry records,\n"
              "primitive by primitive (kv, state, event, trace), by key. The differences were\n"
              "collected when the diff was made.",
    .tp_dealloc = diff_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = diff_next,
};

/* ---- waiting --------------------------------------------------------------------------------- */

typedef struct WatchObject {
    PyObject_HEAD DbObject *db; /* strong reference */
    inmem_watch *w;             /* NULL once closed */
    int busy;                   /* a wait() with the GIL released is in flight */
    PyObject *weakreflist;
} WatchObject;

static int wait_args(PyObject *const *a, int *prim, uint64_t *after)
{
    *prim = INMEM_PRIM_KV;
    if (a[0] && a[0] != Py_None && parse_primitive(a[0], prim) < 0)
        return -1;
    return get_u64(a[1], 0, after, "after");
}

/* Opens a watch (GIL held, database open). NULL with an exception. */
static WatchObject *watch_new(DbObject *db, PyObject *key, PyObject *runo, int prim, uint64_t after,
                              const char *what)
{
    bytesarg k;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (get_run(runo, &rb, &run, "run") < 0 || get_bytes(key, &k, "key") < 0)
        return NULL;
    inmem_watch *w = NULL;
    int rc = inmem_watch_open(db->db, run, (inmem_primitive)prim, k.p, k.n, after, &w);
    release_bytes(&k);
    if (rc) {
        raise_db_rc(db, rc, what);
        return NULL;
    }
    WatchObject *wo = PyObject_New(WatchObject, &WatchType);
    if (!wo) {
        inmem_watch_close(w); /* GIL held, database open: no close is in flight */
        return NULL;
    }
    wo->db = (DbObject *)Py_NewRef(db);
    wo->w = w;
    wo->busy = 0;
    wo->weakreflist = NULL;
    return wo;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* watch_wait() with wo->busy set throughout. */
static PyObject *watch_wait_busy(WatchObject *wo, double timeout, const char *what)
{
    double deadline = timeout >= 0 ? mono_s() + timeout : 0;
    for (;;) {
        uint64_t v = 0;
        close_lock(wo->db);
        int rc = inmem_watch_poll(wo->w, &v);
        close_unlock(wo->db);
        if (rc == 0)
            return u64(v);
        if (rc != INMEM_NOTFOUND)
            return raise_rc(rc, what);
        int ms = -1;
        if (timeout >= 0) {
            double left = deadline - mono_s();
            if (left <= 0)
                Py_RETURN_NONE;
            double msd = ceil(left * 1e3);
            ms = msd > INT_MAX ? INT_MAX : (int)msd;
        }
        struct pollfd pfd = {inmem_watch_fd(wo->w), POLLIN, 0};
        PyThreadState *ts = PyEval_SaveThread();
        int n = poll(&pfd, 1, ms);
        int e = errno;
        PyEval_RestoreThread(ts);
        if (n < 0 && e != EINTR) {
            errno = e;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        if (n < 0 && PyErr_CheckSignals() < 0)
            return NULL; /* KeyboardInterrupt and the like */
    }
}

/* Waits for @p wo to fire: the version, None at the timeout (@p timeout < 0: none), or NULL with
 * ClosedError (the database was closed) or the exception of a signal handler. The GIL is
 * released while blocked in poll() and while waiting for the close lock (a close of the
 * database in flight), with wo->busy set all along, so that no other thread closes wo->w
 * meanwhile; a close of the database fires the watch (the library detaches it). */
static PyObject *watch_wait(WatchObject *wo, double timeout, const char *what)
{
    wo->busy = 1;
    PyObject *r = watch_wait_busy(wo, timeout, what);
    wo->busy = 0;
    return r;
}

/* Parses a timeout in seconds: None gives -1 (none). */
static int get_timeout(PyObject *o, double *out)
{
    if (!o || o == Py_None) {
        *out = -1;
        return 0;
    }
    double s = PyFloat_AsDouble(o);
    if (s == -1.0 && PyErr_Occurred())
        return -1;
    if (!(s >= 0)) {
        PyErr_SetString(PyExc_ValueError, "timeout must be a number of seconds >= 0 (or None)");
        return -1;
    }
    *out = s;
    return 0;
}

static int watch_do_close(WatchObject *wo)
{
    if (wo->busy) {
        raise_misuse("the watch is in use by another thread (wait)");
        return -1;
    }
    if (!wo->w)
        return 0;
    inmem_watch *w = wo->w;
    wo->w = NULL;
    close_lock(wo->db);
    inmem_watch_close(w);
    close_unlock(wo->db);
    return 0;
}

static PyObject *db_wait(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    ARGSPEC(spec, "wait", 2, 1, "key", "run", "primitive", "after", "timeout");
    DbObject *self = (DbObject *)op;
    PyObject *a[5];
    int prim;
    uint64_t after;
    double timeout;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || db_open_check(self) < 0 ||
        wait_args(a + 2, &prim, &after) < 0 || get_timeout(a[4], &timeout) < 0)
        return NULL;
    if (timeout == 0) { /* only a look: inmem_wait never blocks then */
        bytesarg k;
        inmem_run_id rb;
        const inmem_run_id *run;
        if (get_run(a[1], &rb, &run, "run") < 0 || get_bytes(a[0], &k, "key") < 0)
            return NULL;
        uint64_t v = 0;
        int rc = inmem_wait(self->db, run, (inmem_primitive)prim, k.p, k.n, after, 0, &v);
        release_bytes(&k);
        if (rc == INMEM_ETIMEDOUT)
            Py_RETURN_NONE;
        if (rc)
            return raise_db_rc(self, rc, "wait");
        return u64(v);
    }
    WatchObject *wo = watch_new(self, a[0], a[1], prim, after, "wait");
    if (!wo)
        return NULL;
    PyObject *r = watch_wait(wo, timeout, "wait");
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    watch_do_close(wo); /* not busy: it cannot fail */
    PyErr_Restore(et, ev, etb);
    Py_DECREF(wo);
    return r;
}

static PyObject *db_watch(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    ARGSPEC(spec, "watch", 2, 1, "key", "run", "primitive", "after");
    DbObject *self = (DbObject *)op;
    PyObject *a[4];
    int prim;
    uint64_t after;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || db_open_check(self) < 0 ||
        wait_args(a + 2, &prim, &after) < 0)
        return NULL;
    return (PyObject *)watch_new(self, a[0], a[1], prim, after, "watch");
}

static int watch_usable(WatchObject *wo)
{
    if (wo->busy) {
        raise_misuse("the watch is in use by another thread (wait)");
        return -1;
    }
    if (!wo->w) {
        raise_misuse("the watch is closed");
        return -1;
    }
    return 0;
}

static PyObject *watch_fileno(PyObject *op, PyObject *unused)
{
    (void)unused;
    WatchObject *wo = (WatchObject *)op;
    if (!wo->w) {
        raise_misuse("the watch is closed");
        return NULL;
    }
    return PyLong_FromLong(inmem_watch_fd(wo->w));
}

static PyObject *watch_poll(PyObject *op, PyObject *unused)
{
    (void)unused;
    WatchObject *wo = (WatchObject *)op;
    if (watch_usable(wo) < 0)
        return NULL;
    uint64_t v = 0;
    wo->busy = 1; /* while the close lock is waited for (GIL released): see watch_wait() */
    close_lock(wo->db);
    int rc = inmem_watch_poll(wo->w, &v);
    close_unlock(wo->db);
    wo->busy = 0;
    if (rc == INMEM_NOTFOUND)
        Py_RETURN_NONE;
    if (rc)
        return raise_rc(rc, "Watch.poll");
    return u64(v);
}

static PyObject *watch_wait_m(PyObject *op, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    ARGSPEC(spec, "wait", 1, 0, "timeout");
    WatchObject *wo = (WatchObject *)op;
    PyObject *a[1];
    double timeout;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || watch_usable(wo) < 0 ||
        get_timeout(a[0], &timeout) < 0)
        return NULL;
    return watch_wait(wo, timeout, "Watch.wait");
}

static PyObject *watch_close(PyObject *op, PyObject *unused)
{
    (void)unused;
    if (watch_do_close((WatchObject *)op) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *watch_enter(PyObject *op, PyObject *unused)
{
    (void)unused;
    if (watch_usable((WatchObject *)op) < 0)
        return NULL;
    return Py_NewRef(op);
}

static PyObject *watch_exit(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    (void)args;
    (void)nargs;
    if (watch_do_close((WatchObject *)op) < 0)
        return NULL;
    Py_RETURN_FALSE;
}

static PyObject *watch_get_closed(PyObject *op, void *closure)
{
    (void)closure;
    WatchObject *wo = (WatchObject *)op;
    return PyBool_FromLong(!wo->w);
}

static void watch_dealloc(PyObject *op)
{
    WatchObject *wo = (WatchObject *)op;
    if (wo->weakreflist)
        PyObject_ClearWeakRefs(op);
    wo->busy = 0; /* a wait() holds a reference: none is in flight */
    watch_do_close(wo);
    Py_CLEAR(wo->db);
    PyObject_Free(op);
}

static PyObject *watch_repr(PyObject *op)
{
    WatchObject *wo = (WatchObject *)op;
    if (!wo->w)
        return PyUnicode_FromString("<inmem.Watch closed>");
    return PyUnicode_FromFormat("<inmem.Watch fd=%d>", inmem_watch_fd(wo->w));
}

static PyMethodDef watch_methods[] = {
    {"fileno", watch_fileno, METH_NOARGS,
     "fileno($self, /)\n"
     "--\n"
     "\n"
     "The watch's file descriptor (an eventfd): it becomes readable once the key\n"
     "has moved past the version, or the database was closed; then poll() says\n"
     "which. Register it with selectors, select or asyncio's loop.add_reader; do\n"
     "not read or close it.\n"
     "\n"
     "Returns int."},
    {"poll", watch_poll, METH_NOARGS,
     "poll($self, /)\n"
     "--\n"
     "\n"
     "The version the key moved to, or None if it has not moved yet. Raises\n"
     "ClosedError once the database was closed. Never blocks.\n"
     "\n"
     "Returns int | None."},
    {"wait", M(watch_wait_m), FAST,
     "wait($self, timeout=None)\n"
     "--\n"
     "\n"
     "Blocks (the GIL released) until the watch fires: returns the version, or\n"
     "None once timeout seconds have passed (None: no limit). Raises ClosedError\n"
     "if the database is closed meanwhile.\n"
     "\n"
     "Returns int | None."},
    {"close", watch_close, METH_NOARGS,
     "close($self, /)\n"
     "--\n"
     "\n"
     "Frees the watch and its descriptor (before or after the database is\n"
     "closed). Idempotent.\n"
     "\n"
     "Returns None."},
    {"__enter__", watch_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))watch_exit, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef watch_getset[] = {
    {"closed", watch_get_closed, NULL, "True once close() has run.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyObject *watch_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)type;
    (void)args;
    (void)kwds;
    PyErr_SetString(PyExc_TypeError, "use Database.watch() to open a watch");
    return NULL;
}

PyTypeObject WatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "inmem.Watch",
    .tp_basicsize = sizeof(WatchObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A one-shot watch on a KV key, a state cell or an event stream (open with\n"
              "Database.watch()): it fires once the key's visible version moves past the\n"
              "version given, and its file descriptor (fileno()) becomes readable, for event\n"
              "loops. poll() says whether it fired, wait() blocks for it. A close of the\n"
              "database fires it too (poll() then raises ClosedError). Open a new watch to\n"
              "wait again; close it (or use it as a context manager) when done.",
    .tp_new = watch_tp_new,
    .tp_dealloc = watch_dealloc,
    .tp_repr = watch_repr,
    .tp_methods = watch_methods,
    .tp_getset = watch_getset,
    .tp_weaklistoffset = offsetof(WatchObject, weakreflist),
};

/* ---- method table (Database only) ------------------------------------------------------------ */

PyMethodDef history_methods_db[] = {
    {"version_time", M(db_version_time), FAST,
     "version_time($self, version)\n"
     "--\n"
     "\n"
     "The wall-clock time (Unix ms) commit `version` was made at. Commit times are\n"
     "kept while history retention is on (the database's or a run's); raises\n"
     "HistoryError otherwise, or for a time no longer kept.\n"
     "\n"
     "Returns int."},
    {"time_version", M(db_time_version), FAST,
     "time_version($self, time_ms)\n"
     "--\n"
     "\n"
     "The newest commit made at or before the Unix ms time time_ms. Raises\n"
     "HistoryError with retention off, or for a time before the oldest kept.\n"
     "\n"
     "Returns int."},
    {"run_diff", M(db_run_diff), FAST,
     "run_diff($self, a, b, *, at_a=0, at_b=0)\n"
     "--\n"
     "\n"
     "Compares run a as of commit at_a with run b as of at_b (0: the newest; both\n"
     "0: one snapshot for both), or one run at two versions (a == b). Per\n"
     "primitive: KV keys and state cells added, removed or changed; event streams\n"
     "added, removed or with the first sequence number that differs; spans on one\n"
     "side only or changed. The runs' metadata is not compared. Raises HistoryError\n"
     "for a version the history no longer holds. The GIL is released while the\n"
     "differences are collected.\n"
     "\n"
     "Returns Iterator[DiffEntry]."},
    {"wait", M(db_wait), FAST,
     "wait($self, key, run=None, *, primitive='kv', after=0, timeout=None)\n"
     "--\n"
     "\n"
     "Blocks until a KV key (primitive='kv'), a state cell ('state') or an event\n"
     "stream ('event': any append) of run moves past the version `after` (the\n"
     "version you last saw; 0: until it exists), and returns the version it moved\n"
     "to; at once if it already has. Returns None once timeout seconds have passed\n"
     "(None: no limit; 0: only looks). Woken by the commit that moves it, never by\n"
     "polling; the GIL is released while blocked, and a signal (Ctrl-C)\n"
     "interrupts it. Raises ClosedError if the database is closed meanwhile (from\n"
     "another thread).\n"
     "\n"
     "Returns int | None."},
    {"watch", M(db_watch), FAST,
     "watch($self, key, run=None, *, primitive='kv', after=0)\n"
     "--\n"
     "\n"
     "The non-blocking form of wait(), for event loops: a Watch whose fileno()\n"
     "becomes readable once the key moves past `after` (or the database closes).\n"
     "\n"
     "Returns Watch."},
    {NULL, NULL, 0, NULL},
};
