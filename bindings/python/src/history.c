/*
 * history.c — retained history (docs/history.md) seen from Python: commit times
 * (version_time, time_version), run replay (an iterator of ReplayCommit records) and run diff
 * (an iterator of DiffEntry records). Time-travel transactions are Database.transaction(
 * at_version=, at_time_ms=) (database.c), key and cell history are pagers (pager.c), forks are
 * run_fork (ops.c).
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
 */
#include "pyinmem.h"

#include <string.h>

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

#define REPLAY_PAGE 128

typedef struct ReplayIterObject {
    PyObject_HEAD PyObject *owner; /* TxObject or DbObject */
    inmem_run_id run;
    inmem_replay *r; /* on a Transaction: the open replay; NULL once done */
    uint64_t cursor; /* on a Database: the last version returned (or `after`) */
    PyObject *page;  /* on a Database: the current page (list of ReplayCommit) */
    Py_ssize_t pos;
    int more; /* on a Database: another page may follow */
} ReplayIterObject;

/* The next commit of @p r copied into a ReplayCommit; NULL with StopIteration semantics (no
 * exception) at the end, or with an exception. */
static PyObject *replay_read(inmem_replay *r, int *end)
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
    while (PyList_GET_SIZE(page) < REPLAY_PAGE) {
        PyObject *rec = replay_read(r, &end);
        if (!rec) {
            if (!end)
                Py_CLEAR(page);
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
        int rc = inmem_run_replay(c.txn, &run, after, &r);
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
    if (!c.tx && replay_fetch(it) < 0) { /* the first page now: HistoryError is raised here */
        Py_DECREF(it);
        return NULL;
    }
    return (PyObject *)it;
}

static PyObject *replay_next(PyObject *op)
{
    ReplayIterObject *it = (ReplayIterObject *)op;
    if (Py_IS_TYPE(it->owner, &TxType)) {
        if (!it->r)
            return NULL;
        if (tx_usable((TxObject *)it->owner, 0) < 0) {
            inmem_replay_free(it->r); /* allowed after its transaction has ended */
            it->r = NULL;
            return NULL;
        }
        int end;
        PyObject *rec = replay_read(it->r, &end);
        if (!rec && end) {
            inmem_replay_free(it->r);
            it->r = NULL;
        }
        return rec;
    }
    if (!it->page || it->pos >= PyList_GET_SIZE(it->page)) {
        if (!it->more)
            return NULL;
        if (replay_fetch(it) < 0) {
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
        return raise_rc(rc, "run_diff");
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
    {NULL, NULL, 0, NULL},
};
