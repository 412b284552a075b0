/*
 * history.c — retained history (docs/history.md) seen from Python: commit times
 * (version_time, time_version). Time-travel transactions are Database.transaction(at_version=,
 * at_time_ms=) (database.c), key and cell history are pagers (pager.c), forks are run_fork
 * (ops.c).
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
    {NULL, NULL, 0, NULL},
};
