/*
 * module.c — the module `inmem._inmem`: its initialisation, the exception hierarchy that mirrors
 * the library's error table, argument parsing and conversion (bytes, names, run ids, integers),
 * the RunId type, and the record types returned by reads (struct sequences: named tuples made in
 * C, so that a record is as cheap as a tuple and still has field names, a repr and equality).
 */
#include "pyinmem.h"

#include <math.h>
#include <string.h>

/* ---- exceptions ---------------------------------------------------------------------------- */

PyObject *Err_Base, *Err_Conflict, *Err_Retries, *Err_Misuse, *Err_TxnDone, *Err_NotFound;

/* One class per error code; ETXNDONE subclasses MisuseError, ERETRIES subclasses ConflictError,
 * EINVAL and ETOOBIG are also ValueError, ENOMEM also MemoryError. */
static struct errclass {
    int code;
    const char *name;
    const char *base; /* "" for Error itself, else another entry's name */
    int extra;        /* 1 ValueError, 2 MemoryError */
    const char *doc;
    PyObject *cls;
} errclasses[] = {
    {INMEM_NOTFOUND, "NotFound", "", 0,
     "INMEM_NOTFOUND: a lookup that is expected to find (a run, an event, a span) found nothing.",
     NULL},
    {INMEM_CONFLICT, "ConflictError", "", 0,
     "INMEM_CONFLICT: a key the transaction read or CAS-checked changed since (first committer\n"
     "wins). Attributes: key (bytes or None), run (RunId or None for the shared scope),\n"
     "rule ('read' or 'cas'), expected and found (versions, None if unknown).",
     NULL},
    {INMEM_ERETRIES, "RetriesExhausted", "ConflictError", 0,
     "INMEM_ERETRIES: a closure transaction conflicted max_attempts times.", NULL},
    {INMEM_ETIMEDOUT, "TimeoutError", "", 0,
     "INMEM_ETIMEDOUT: a closure transaction's deadline passed before it could commit.", NULL},
    {INMEM_EINVAL, "InvalidArgument", "", 1, "INMEM_EINVAL: an argument the library refused.",
     NULL},
    {INMEM_EMISUSE, "MisuseError", "", 0,
     "INMEM_EMISUSE: a call the object's state does not allow (a closed database, a transaction\n"
     "in use by another thread, a run transition that is not allowed, ...).",
     NULL},
    {INMEM_ETXNDONE, "TransactionDone", "MisuseError", 0,
     "INMEM_ETXNDONE: the transaction has ended (committed or aborted); use a new one.", NULL},
    {INMEM_ETOOBIG, "TooBig", "", 1, "INMEM_ETOOBIG: a key, value or name exceeds its size limit.",
     NULL},
    {INMEM_EBUSY, "BusyError", "", 0,
     "INMEM_EBUSY: the database still has open transactions or calls in flight.", NULL},
    {INMEM_ETXNLIMIT, "TransactionLimit", "", 0,
     "INMEM_ETXNLIMIT: max_txns transaction handles exist already.", NULL},
    {INMEM_ENOMEM, "OutOfMemory", "", 2, "INMEM_ENOMEM: the library ran out of memory.", NULL},
    {INMEM_ENOTSUP, "NotSupported", "", 0, "INMEM_ENOTSUP: operation or option not supported.",
     NULL},
    {INMEM_EIO, "DiskError", "", 0,
     "INMEM_EIO: an I/O error; after a failed log write or fsync the database refuses writes\n"
     "until reopened.",
     NULL},
    {INMEM_ECORRUPT, "CorruptError", "", 0,
     "INMEM_ECORRUPT: corrupt data; the message names the file and offset when known.", NULL},
    {INMEM_EVERSION, "VersionError", "", 0, "INMEM_EVERSION: not an inmem file, or a newer format.",
     NULL},
    {INMEM_ELOCKED, "LockedError", "", 0,
     "INMEM_ELOCKED: another process has the database directory open.", NULL},
    {INMEM_EREADONLY, "ReadOnlyError", "", 0,
     "INMEM_EREADONLY: a write on a read-only database or transaction.", NULL},
    {INMEM_EHISTORY, "HistoryError", "", 0,
     "INMEM_EHISTORY: a version or time outside the retained history (docs/history.md).", NULL},
    {INMEM_ECLOSED, "ClosedError", "", 0,
     "INMEM_ECLOSED: the database was closed while a call waited on it.", NULL},
};
#define NERR (sizeof errclasses / sizeof *errclasses)

static PyObject *err_class(int rc)
{
    for (size_t i = 0; i < NERR; i++)
        if (errclasses[i].code == rc)
            return errclasses[i].cls;
    return Err_Base;
}

/* Creates the exception, sets code/name/detail, and raises it. */
static PyObject *raise_with(PyObject *cls, int rc, const char *msg, const char *detail,
                            PyObject **made)
{
    /* the library's message may hold a path that is not UTF-8, or be cut inside a character:
     * decoded with replacement, so that the caller always gets the inmem error */
    PyObject *text = PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg), "replace");
    PyObject *e = text ? PyObject_CallOneArg(cls, text) : NULL;
    Py_XDECREF(text);
    if (!e)
        return NULL;
    PyObject *code = PyLong_FromLong(rc), *name = PyUnicode_FromString(inmem_errname(rc));
    PyObject *det = detail ? PyUnicode_DecodeUTF8(detail, (Py_ssize_t)strlen(detail), "replace")
                           : Py_NewRef(Py_None);
    if (!code || !name || !det || PyObject_SetAttrString(e, "code", code) < 0 ||
        PyObject_SetAttrString(e, "errname", name) < 0 ||
        PyObject_SetAttrString(e, "detail", det) < 0) {
        Py_XDECREF(code);
        Py_XDECREF(name);
        Py_XDECREF(det);
        Py_DECREF(e);
        return NULL;
    }
    Py_DECREF(code);
    Py_DECREF(name);
    Py_DECREF(det);
    if (made) {
        *made = e; /* the caller adds attributes, then raises */
        return NULL;
    }
    PyErr_SetObject((PyObject *)Py_TYPE(e), e);
    Py_DECREF(e);
    return NULL;
}

/* The details of inmem_errmsg() if they describe @p rc ("<strerror>: <details>"). */
static const char *details_of(int rc)
{
    const char *msg = inmem_errmsg(), *desc = inmem_strerror(rc);
    size_t dl = strlen(desc);
    if (strncmp(msg, desc, dl) == 0 && msg[dl] == ':' && msg[dl + 1] == ' ')
        return msg + dl + 2;
    return NULL;
}

PyObject *raise_rc(int rc, const char *what)
{
    if (PyErr_Occurred())
        return NULL;
    const char *detail = details_of(rc);
    char msg[1024];
    if (detail)
        snprintf(msg, sizeof msg, "%s: %s: %s", what, inmem_strerror(rc), detail);
    else
        snprintf(msg, sizeof msg, "%s: %s", what, inmem_strerror(rc));
    PyObject *r = raise_with(err_class(rc), rc, msg, detail, NULL);
    inmem_errmsg_clear(); /* used: a later error without a message must not get this one's */
    return r;
}

PyObject *raise_db_rc(const DbObject *db, int rc, const char *what)
{
    if (!db->db && !PyErr_Occurred())
        return raise_misuse("the database is closed");
    return raise_rc(rc, what);
}

PyObject *raise_code(int rc, const char *msg)
{
    return raise_with(err_class(rc), rc, msg, NULL, NULL);
}

PyObject *raise_misuse(const char *msg)
{
    return raise_with(Err_Misuse, INMEM_EMISUSE, msg, NULL, NULL);
}

static int set_attr(PyObject *e, const char *name, PyObject *v)
{
    if (!v)
        return -1;
    int rc = PyObject_SetAttrString(e, name, v);
    Py_DECREF(v);
    return rc;
}

static PyObject *raise_conflict_obj(const char *msg, PyObject *key, PyObject *run, const char *rule,
                                    PyObject *expected, PyObject *found, const char *primitive)
{
    /* every value is a new reference (NULL: its creation failed), released whatever happens */
    static const char *const names[] = {"key", "run", "rule", "expected", "found", "primitive"};
    PyObject *vals[] = {Py_NewRef(key ? key : Py_None),
                        run,
                        rule ? PyUnicode_FromString(rule) : Py_NewRef(Py_None),
                        expected,
                        found,
                        primitive ? PyUnicode_FromString(primitive) : Py_NewRef(Py_None)};
    PyObject *e = NULL;
    int bad = 0;
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        bad = bad || !vals[i]; /* a MemoryError is set: it is what the caller gets */
    if (!bad)
        raise_with(Err_Conflict, INMEM_CONFLICT, msg, NULL, &e);
    bad = !e;
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        if (bad)
            Py_XDECREF(vals[i]);
        else
            bad = set_attr(e, names[i], vals[i]) < 0;
    }
    if (!bad)
        PyErr_SetObject((PyObject *)Py_TYPE(e), e);
    Py_XDECREF(e);
    return NULL;
}

PyObject *raise_conflict(const char *what, const inmem_txn_info *info, PyObject *key)
{
    const char *rule = info->reason == INMEM_ABORT_READ_CONFLICT  ? "read"
                       : info->reason == INMEM_ABORT_CAS_CONFLICT ? "cas"
                                                                  : NULL;
    char msg[512], run[INMEM_RUN_ID_STRLEN + 1];
    inmem_run_id_format(&info->conflict_run, run);
    PyObject *krepr = key ? PyObject_Repr(key) : NULL;
    if (key && !krepr)
        return NULL;
    snprintf(msg, sizeof msg,
             "%s: %s: key %s of run %s, %s rule: expected version %llu, found %llu", what,
             inmem_strerror(INMEM_CONFLICT), krepr ? PyUnicode_AsUTF8(krepr) : "?",
             inmem_run_id_is_shared(&info->conflict_run) ? "shared scope" : run,
             rule ? (info->reason == INMEM_ABORT_READ_CONFLICT ? "read-set" : "CAS") : "unknown",
             (unsigned long long)info->conflict_expected, (unsigned long long)info->conflict_found);
    Py_XDECREF(krepr);
    return raise_conflict_obj(
        msg, key, runid_or_none(&info->conflict_run), rule, u64(info->conflict_expected),
        u64(info->conflict_found),
        info->conflict_primitive ? primitive_name((int)info->conflict_primitive) : NULL);
}

PyObject *raise_cas_conflict(const char *what, const inmem_run_id *run, PyObject *key,
                             const char *rule, PyObject *expected)
{
    char msg[512];
    PyObject *krepr = key ? PyObject_Repr(key) : NULL;
    PyObject *erepr = expected ? PyObject_Repr(expected) : NULL;
    if (!krepr || !erepr) {
        Py_XDECREF(krepr);
        Py_XDECREF(erepr);
        Py_XDECREF(expected);
        return NULL;
    }
    snprintf(msg, sizeof msg, "%s: %s: %s is not at the expected %s %s", what,
             inmem_strerror(INMEM_CONFLICT), PyUnicode_AsUTF8(krepr),
             strcmp(rule, "cas") == 0 ? "version" : "value", PyUnicode_AsUTF8(erepr));
    Py_DECREF(krepr);
    Py_DECREF(erepr);
    return raise_conflict_obj(msg, key, run ? runid_or_none(run) : Py_NewRef(Py_None), rule,
                              expected, Py_NewRef(Py_None),
                              strncmp(what, "state", 5) == 0 ? "state" : "kv");
}

static int init_errors(PyObject *m)
{
    Err_Base = PyErr_NewExceptionWithDoc(
        "inmem.Error",
        "Base class of every inmem error. Attributes: code (the library's negative error\n"
        "code), errname (e.g. 'INMEM_EIO'), detail (inmem_errmsg() details, or None).",
        NULL, NULL);
    if (!Err_Base || PyModule_AddObjectRef(m, "Error", Err_Base) < 0)
        return -1;
    for (size_t i = 0; i < NERR; i++) {
        struct errclass *c = &errclasses[i];
        PyObject *base = Err_Base;
        for (size_t j = 0; j < i && c->base[0]; j++)
            if (strcmp(errclasses[j].name, c->base) == 0)
                base = errclasses[j].cls;
        PyObject *bases;
        if (c->extra == 1)
            bases = PyTuple_Pack(2, base, PyExc_ValueError);
        else if (c->extra == 2)
            bases = PyTuple_Pack(2, base, PyExc_MemoryError);
        else
            bases = PyTuple_Pack(1, base);
        if (!bases)
            return -1;
        char full[64];
        snprintf(full, sizeof full, "inmem.%s", c->name);
        c->cls = PyErr_NewExceptionWithDoc(full, c->doc, bases, NULL);
        Py_DECREF(bases);
        if (!c->cls || PyModule_AddObjectRef(m, c->name, c->cls) < 0)
            return -1;
    }
    Err_Conflict = err_class(INMEM_CONFLICT);
    Err_Retries = err_class(INMEM_ERETRIES);
    Err_Misuse = err_class(INMEM_EMISUSE);
    Err_TxnDone = err_class(INMEM_ETXNDONE);
    Err_NotFound = err_class(INMEM_NOTFOUND);
    /* class-level defaults: a ConflictError raised without a conflict report (RetriesExhausted,
     * the subclass, after the last attempt) still has every attribute, as None */
    static const char *const conflict_attrs[] = {"key",      "run",   "rule",
                                                 "expected", "found", "primitive"};
    for (size_t i = 0; i < sizeof conflict_attrs / sizeof conflict_attrs[0]; i++)
        if (PyObject_SetAttrString(Err_Conflict, conflict_attrs[i], Py_None) < 0)
            return -1;
    return 0;
}

/* ---- argument parsing -------------------------------------------------------------------- */

static int spec_init(argspec *s)
{
    int n = 0;
    while (s->names[n])
        n++;
    PyObject **in = PyMem_Calloc((size_t)n + 1, sizeof *in);
    if (!in) {
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (!(in[i] = PyUnicode_InternFromString(s->names[i]))) {
            while (i--)
                Py_DECREF(in[i]);
            PyMem_Free(in);
            return -1;
        }
    s->n = n;
    s->interned = in;
    return 0;
}

int parse_args(argspec *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               PyObject **out)
{
    if (!s->interned && spec_init(s) < 0)
        return -1;
    if (nargs > s->npos) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d positional argument%s (%zd given)",
                     s->fname, s->npos, s->npos == 1 ? "" : "s", nargs);
        return -1;
    }
    for (int i = 0; i < s->n; i++)
        out[i] = i < nargs ? args[i] : NULL;
    if (kwnames) {
        Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t k = 0; k < nk; k++) {
            PyObject *kw = PyTuple_GET_ITEM(kwnames, k);
            int found = -1;
            for (int i = 0; i < s->n && found < 0; i++)
                if (kw == s->interned[i])
                    found = i;
            for (int i = 0; i < s->n && found < 0; i++)
                if (PyUnicode_Compare(kw, s->interned[i]) == 0)
                    found = i;
            if (found < 0) {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'",
                             s->fname, kw);
                return -1;
            }
            if (out[found]) {
                PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                             s->fname, s->names[found]);
                return -1;
            }
            out[found] = args[nargs + k];
        }
    }
    for (int i = 0; i < s->nreq; i++)
        if (!out[i]) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", s->fname,
                         s->names[i]);
            return -1;
        }
    return 0;
}

int get_bytes(PyObject *o, bytesarg *b, const char *what)
{
    b->has_view = 0;
    if (PyBytes_CheckExact(o)) {
        b->p = PyBytes_AS_STRING(o);
        b->n = (size_t)PyBytes_GET_SIZE(o);
        return 0;
    }
    if (PyUnicode_Check(o)) {
        Py_ssize_t n;
        b->p = PyUnicode_AsUTF8AndSize(o, &n);
        if (!b->p)
            return -1;
        b->n = (size_t)n;
        return 0;
    }
    if (PyObject_CheckBuffer(o)) {
        if (PyObject_GetBuffer(o, &b->view, PyBUF_SIMPLE) < 0)
            return -1;
        b->has_view = 1;
        b->p = b->view.buf;
        b->n = (size_t)b->view.len;
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "%s must be bytes, str or a bytes-like object, not %.100s", what,
                 Py_TYPE(o)->tp_name);
    return -1;
}

void release_bytes(bytesarg *b)
{
    if (b->has_view) {
        PyBuffer_Release(&b->view);
        b->has_view = 0;
    }
}

int get_name(PyObject *o, const char **out, const char *what)
{
    const char *p;
    Py_ssize_t n;
    if (PyUnicode_Check(o)) {
        if (!(p = PyUnicode_AsUTF8AndSize(o, &n)))
            return -1;
    } else if (PyBytes_Check(o)) {
        p = PyBytes_AS_STRING(o);
        n = PyBytes_GET_SIZE(o);
        PyObject *u = PyUnicode_DecodeUTF8(p, n, "strict"); /* names come back as str */
        if (!u) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "%s must be UTF-8 (names come back as str)", what);
            return -1;
        }
        Py_DECREF(u);
    } else {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    if ((Py_ssize_t)strlen(p) != n) {
        PyErr_Format(PyExc_ValueError, "%s must not contain NUL characters", what);
        return -1;
    }
    *out = p;
    return 0;
}

int get_opt_name(PyObject *o, const char **out, const char *what)
{
    if (!o || o == Py_None) {
        *out = NULL;
        return 0;
    }
    return get_name(o, out, what);
}

int get_run(PyObject *o, inmem_run_id *buf, const inmem_run_id **out, const char *what)
{
    if (!o || o == Py_None) {
        *out = NULL;
        return 0;
    }
    if (Py_IS_TYPE(o, &RunIdType)) {
        *out = &((RunIdObject *)o)->id;
        return 0;
    }
    if (get_id(o, buf, what) < 0)
        return -1;
    *out = buf;
    return 0;
}

int get_id(PyObject *o, inmem_run_id *out, const char *what)
{
    if (PyObject_TypeCheck(o, &RunIdType)) {
        *out = ((RunIdObject *)o)->id;
        return 0;
    }
    if (PyUnicode_Check(o)) {
        const char *s = PyUnicode_AsUTF8(o);
        if (!s)
            return -1;
        if (inmem_run_id_parse(s, out) != 0) {
            PyErr_Format(PyExc_ValueError, "%s: %R is not a run id (36 characters, 8-4-4-4-12 hex)",
                         what, o);
            return -1;
        }
        return 0;
    }
    if (PyBytes_Check(o)) {
        if (PyBytes_GET_SIZE(o) != 16) {
            PyErr_Format(PyExc_ValueError, "%s: a run id in bytes has 16 bytes, not %zd", what,
                         PyBytes_GET_SIZE(o));
            return -1;
        }
        memcpy(out->bytes, PyBytes_AS_STRING(o), 16);
        return 0;
    }
    if (o != Py_None) { /* uuid.UUID and the like */
        PyObject *b = PyObject_GetAttrString(o, "bytes");
        if (b && PyBytes_Check(b) && PyBytes_GET_SIZE(b) == 16) {
            memcpy(out->bytes, PyBytes_AS_STRING(b), 16);
            Py_DECREF(b);
            return 0;
        }
        Py_XDECREF(b);
        if (!b && !PyErr_ExceptionMatches(PyExc_AttributeError))
            return -1; /* what reading .bytes raised (KeyboardInterrupt, ...) goes on up */
        PyErr_Clear();
    }
    PyErr_Format(PyExc_TypeError, "%s must be a RunId, str, 16 bytes or uuid.UUID, not %.100s",
                 what, Py_TYPE(o)->tp_name);
    return -1;
}

int get_u64(PyObject *o, uint64_t dflt, uint64_t *out, const char *what)
{
    if (!o || o == Py_None) {
        *out = dflt;
        return 0;
    }
    if (!PyIndex_Check(o)) { /* ints, and integers of other kinds (numpy's) */
        PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what, Py_TYPE(o)->tp_name);
        return -1;
    }
    PyObject *i = PyNumber_Index(o);
    if (!i)
        return -1;
    unsigned long long v = PyLong_AsUnsignedLongLong(i);
    Py_DECREF(i);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s must be an integer in 0..2**64-1", what);
        return -1;
    }
    *out = v;
    return 0;
}

int get_limit(PyObject *o, size_t *out)
{
    uint64_t v;
    if (!o || o == Py_None) {
        *out = SIZE_MAX;
        return 0;
    }
    if (get_u64(o, 0, &v, "limit") < 0)
        return -1;
    *out = v > SIZE_MAX ? SIZE_MAX : (size_t)v;
    return 0;
}

int get_bool(PyObject *o, int dflt, int *out)
{
    if (!o) {
        *out = dflt;
        return 0;
    }
    int v = PyObject_IsTrue(o);
    if (v < 0)
        return -1;
    *out = v;
    return 0;
}

int get_seconds_us(PyObject *o, uint64_t *out, const char *what)
{
    if (!o || o == Py_None) {
        *out = 0;
        return 0;
    }
    double s = PyFloat_AsDouble(o);
    if (s == -1.0 && PyErr_Occurred())
        return -1;
    if (!(s >= 0) || s > 1e12) {
        PyErr_Format(PyExc_ValueError, "%s must be a number of seconds >= 0", what);
        return -1;
    }
    *out = (uint64_t)ceil(s * 1e6);
    return 0;
}

/* ---- values out ---------------------------------------------------------------------------- */

PyObject *bytes_of(const void *p, size_t n)
{
    return PyBytes_FromStringAndSize(n ? p : "", (Py_ssize_t)n);
}

PyObject *str_of(const char *s)
{
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

PyObject *str_or_none(const char *s)
{
    return s[0] ? str_of(s) : Py_NewRef(Py_None);
}

PyObject *u64(uint64_t v)
{
    return PyLong_FromUnsignedLongLong(v);
}

static PyObject *g_json_dumps, *g_json_loads;

PyObject *json_encode(PyObject *obj)
{
    PyObject *s = PyObject_CallOneArg(g_json_dumps, obj);
    if (!s)
        return NULL;
    PyObject *b = PyUnicode_AsUTF8String(s);
    Py_DECREF(s);
    return b;
}

PyObject *json_decode(PyObject *bytes)
{
    return PyObject_CallOneArg(g_json_loads, bytes);
}

/* ---- RunId ------------------------------------------------------------------------------- */

PyObject *runid_new(const inmem_run_id *id)
{
    RunIdObject *r = PyObject_New(RunIdObject, &RunIdType);
    if (!r)
        return NULL;
    r->id = *id;
    r->hash = -1;
    return (PyObject *)r;
}

PyObject *runid_or_none(const inmem_run_id *id)
{
    if (inmem_run_id_is_shared(id))
        Py_RETURN_NONE;
    return runid_new(id);
}

static PyObject *runid_tp_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kw[] = {"value", NULL};
    PyObject *v;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:RunId", kw, &v))
        return NULL;
    inmem_run_id id;
    if (get_id(v, &id, "RunId()") < 0)
        return NULL;
    RunIdObject *r = (RunIdObject *)type->tp_alloc(type, 0);
    if (!r)
        return NULL;
    r->id = id;
    r->hash = -1;
    return (PyObject *)r;
}

static PyObject *runid_str(PyObject *self)
{
    char buf[INMEM_RUN_ID_STRLEN + 1];
    inmem_run_id_format(&((RunIdObject *)self)->id, buf);
    return PyUnicode_FromStringAndSize(buf, INMEM_RUN_ID_STRLEN);
}

static PyObject *runid_repr(PyObject *self)
{
    char buf[INMEM_RUN_ID_STRLEN + 1];
    inmem_run_id_format(&((RunIdObject *)self)->id, buf);
    return PyUnicode_FromFormat("RunId('%s')", buf);
}

static Py_hash_t runid_hash(PyObject *self)
{
    RunIdObject *r = (RunIdObject *)self;
    if (r->hash == -1) {
        /* the hash of the 16 bytes, so that equal ids hash alike whatever their origin */
        PyObject *b = bytes_of(r->id.bytes, 16);
        if (!b)
            return -1;
        Py_hash_t h = PyObject_Hash(b);
        Py_DECREF(b);
        r->hash = h == -1 ? -2 : h;
    }
    return r->hash;
}

static PyObject *runid_richcompare(PyObject *a, PyObject *b, int op)
{
    if (!PyObject_TypeCheck(a, &RunIdType) || !PyObject_TypeCheck(b, &RunIdType))
        Py_RETURN_NOTIMPLEMENTED;
    int c = memcmp(((RunIdObject *)a)->id.bytes, ((RunIdObject *)b)->id.bytes, 16);
    Py_RETURN_RICHCOMPARE(c, 0, op);
}

static PyObject *runid_get_bytes(PyObject *self, void *closure)
{
    (void)closure;
    return bytes_of(((RunIdObject *)self)->id.bytes, 16);
}

static PyObject *runid_get_hex(PyObject *self, void *closure)
{
    (void)closure;
    static const char hex[] = "0123456789abcdef";
    char buf[32];
    for (int i = 0; i < 16; i++) {
        buf[2 * i] = hex[((RunIdObject *)self)->id.bytes[i] >> 4];
        buf[2 * i + 1] = hex[((RunIdObject *)self)->id.bytes[i] & 15];
    }
    return PyUnicode_FromStringAndSize(buf, 32);
}

static PyObject *runid_get_shared(PyObject *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(inmem_run_id_is_shared(&((RunIdObject *)self)->id));
}

static PyObject *runid_get_time_ms(PyObject *self, void *closure)
{
    (void)closure;
    const uint8_t *b = ((RunIdObject *)self)->id.bytes;
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | b[i];
    return u64(ms);
}

static PyObject *runid_get_uuid(PyObject *self, void *closure)
{
    (void)closure;
    PyObject *mod = PyImport_ImportModule("uuid");
    if (!mod)
        return NULL;
    PyObject *cls = PyObject_GetAttrString(mod, "UUID");
    Py_DECREF(mod);
    if (!cls)
        return NULL;
    PyObject *kw =
        Py_BuildValue("{s:y#}", "bytes", ((RunIdObject *)self)->id.bytes, (Py_ssize_t)16);
    PyObject *empty = PyTuple_New(0);
    PyObject *u = kw && empty ? PyObject_Call(cls, empty, kw) : NULL;
    Py_XDECREF(kw);
    Py_XDECREF(empty);
    Py_DECREF(cls);
    return u;
}

static PyObject *runid_new_cls(PyObject *cls, PyObject *unused)
{
    (void)cls;
    (void)unused;
    inmem_run_id id;
    int rc = inmem_run_id_new(&id);
    if (rc)
        return raise_rc(rc, "RunId.new");
    return runid_new(&id);
}

static PyObject *runid_bytes_m(PyObject *self, PyObject *unused)
{
    (void)unused;
    return runid_get_bytes(self, NULL);
}

static PyObject *runid_reduce(PyObject *self, PyObject *unused)
{
    (void)unused;
    PyObject *s = runid_str(self);
    if (!s)
        return NULL;
    return Py_BuildValue("(O(N))", Py_TYPE(self), s);
}

static PyMethodDef runid_methods[] = {
    {"new", runid_new_cls, METH_NOARGS | METH_CLASS,
     "new($self, /)\n"
     "--\n"
     "\n"
     "A new time-ordered id (48-bit Unix ms, then random bits, like UUIDv7): ids\n"
     "made later in this process compare greater.\n"
     "\n"
     "Returns RunId."},
    {"__bytes__", runid_bytes_m, METH_NOARGS,
     "__bytes__($self, /)\n"
     "--\n"
     "\n"
     ""},
    {"__reduce__", runid_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef runid_getset[] = {
    {"bytes", runid_get_bytes, NULL, "The 16 bytes of the id.", NULL},
    {"hex", runid_get_hex, NULL, "32 lowercase hex digits, no dashes.", NULL},
    {"is_shared", runid_get_shared, NULL, "True for the all-zero id: the shared scope.", NULL},
    {"time_ms", runid_get_time_ms, NULL,
     "The Unix milliseconds in the first 48 bits (for generated ids: when it was made).", NULL},
    {"uuid", runid_get_uuid, NULL, "The id as a uuid.UUID.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject RunIdType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "inmem.RunId",
    .tp_basicsize = sizeof(RunIdObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RunId(value)\n--\n\n"
              "A 128-bit run id (also used for trace span ids), printed in the 36-character\n"
              "8-4-4-4-12 hex form. `value` is a str in that form (either case), 16 bytes, a\n"
              "uuid.UUID or a RunId. RunId.new() makes a new time-ordered id. Ids compare by\n"
              "their bytes, hash, and pickle. The all-zero id is the shared scope (inmem.SHARED);\n"
              "wherever a run is asked for, None means the shared scope too.",
    .tp_new = runid_tp_new,
    .tp_str = runid_str,
    .tp_repr = runid_repr,
    .tp_hash = runid_hash,
    .tp_richcompare = runid_richcompare,
    .tp_methods = runid_methods,
    .tp_getset = runid_getset,
};

/* ---- records ---------------------------------------------------------------------------- */

PyTypeObject *KVEntryType, *CellType, *StateEntryType, *EventType, *StreamInfoType, *SpanType,
    *RunInfoType, *StatsType, *RecoveryInfoType, *TxnInfoType, *VersionInfoType, *ChangeType,
    *ReplayCommitType, *DiffEntryType;

#define F(name, doc)                                                                               \
    {                                                                                              \
        name, doc                                                                                  \
    }
static PyStructSequence_Field kv_entry_fields[] = {
    F("key", "the key (bytes)"),
    F("value", "the value (bytes)"),
    F("version", "the commit that wrote it; 0 for the transaction's own pending write"),
    {NULL, NULL}};
static PyStructSequence_Field cell_fields[] = {F("value", "the cell's value (bytes)"),
                                               F("version", "the commit that last wrote it"),
                                               {NULL, NULL}};
static PyStructSequence_Field state_entry_fields[] = {F("name", "the cell's name (str)"),
                                                      F("value", "its value (bytes)"),
                                                      F("version", "the commit that last wrote it"),
                                                      {NULL, NULL}};
static PyStructSequence_Field event_fields[] = {
    F("seq", "sequence number, dense from 1 per stream"),
    F("time_ms", "Unix ms, never decreasing within a stream"),
    F("type", "the event's type (str)"),
    F("payload", "bytes"),
    F("prev_hash", "hash of the previous event (0 for the first)"),
    F("hash", "XXH3-64 over (prev_hash, seq, time, type, payload)"),
    {NULL, NULL}};
static PyStructSequence_Field stream_info_fields[] = {
    F("length", "events in the stream (its last seq)"),
    F("head_hash", "hash of the last event (0 if empty)"),
    F("first_ms", "time of the first event"),
    F("last_ms", "time of the last event"),
    {NULL, NULL}};
static PyStructSequence_Field span_fields[] = {
    F("id", "the span's id (RunId)"),
    F("parent", "parent span id, or None for a root"),
    F("kind", "'tool_call', 'decision', 'query', 'thought', 'error' or 'custom'"),
    F("name", "str"),
    F("input", "bytes"),
    F("output", "bytes"),
    F("confidence", "float, or None"),
    F("start_ms", "Unix ms"),
    F("duration_us", "int"),
    F("tags", "tuple of str"),
    {NULL, NULL}};
static PyStructSequence_Field run_info_fields[] = {
    F("id", "the run's id"),
    F("parent", "the run it was forked from, or None"),
    F("status", "'active', 'completed', 'failed', 'cancelled' or 'archived'"),
    F("created_ms", "Unix ms"),
    F("ended_ms", "Unix ms, 0 while active"),
    F("tenant", "str or None"),
    F("app", "str or None"),
    F("agent", "str or None"),
    F("tags", "tuple of str"),
    {NULL, NULL}};
static PyStructSequence_Field stats_fields[] = {
    F("commits", "committed transactions that wrote something, but for the TTL sweeper's "
                 "(expired_swept)"),
    F("commits_readonly", "committed read-only transactions"),
    F("aborts_user", "aborts asked for by the caller"),
    F("aborts_read_conflict", "commits refused: a key in the read set changed"),
    F("aborts_cas_conflict", "commits refused: a CAS's expected version did not match"),
    F("retries", "re-runs after a conflict"),
    F("retries_exhausted", "closure transactions that gave up (RetriesExhausted)"),
    F("deadlines_expired",
      "transactions that gave up with TimeoutError: commits past their deadline "
      "(set_timeout()), and closure transactions whose time ran out"),
    F("version", "the global commit version"),
    F("keys", "keys in the index"),
    F("retained_versions", "old versions kept alive by open snapshots"),
    F("open_txns", "transaction handles that exist now"),
    F("oldest_snapshot_version", "start version of the oldest active transaction, 0 if none"),
    F("oldest_snapshot_age_us", "its age in microseconds"),
    F("wal_bytes", "bytes appended to the log since open"),
    F("wal_syncs", "fsyncs of the log since open"),
    F("wal_synced_commits", "commits made durable by those fsyncs"),
    F("checkpoints", "checkpoints taken since open (checkpoint(), automatic, at close)"),
    F("checkpoint_failures", "checkpoints that failed since open (nothing was lost)"),
    F("checkpoint_version", "the newest image's version (0: none)"),
    F("checkpoint_bytes", "its size in bytes"),
    F("checkpoint_time_us", "how long the last checkpoint took, in microseconds"),
    F("wal_bytes_since_checkpoint", "bytes logged since the newest checkpoint (or the open)"),
    F("live_bytes", "key and value bytes of the live data (every key's newest value)"),
    F("checkpoint_error",
      "the error code of the last checkpoint that failed (inmem.errname() names it), 0 once "
      "one succeeds after it"),
    F("history_bytes",
      "value bytes of the versions kept that are not their key's newest (retained history and "
      "what open transactions still see)"),
    F("history_floor",
      "the oldest version transaction(at_version=...) accepts now (with no history kept: the "
      "oldest an open transaction holds, or the newest)"),
    F("history_ms", "the database's history policy in force (stored in it): its window, ms"),
    F("history_versions", "... and its versions kept per key (0: none beyond the newest)"),
    F("aborts_error",
      "commits an error ended, none of it visible and not in commits: a strict commit whose "
      "fsync failed (DiskError), a log that refuses writes or versions that reached their "
      "limit, 2**63 - 1 (ReadOnlyError), memory"),
    F("expired_swept",
      "expired values the TTL sweeper deleted (background, or sweep()), each in a commit of "
      "its own that moves the version and is not in commits"),
    {NULL, NULL}};
static PyStructSequence_Field version_info_fields[] = {
    F("version", "the commit that wrote it"),
    F("time_ms", "that commit's wall-clock time, Unix ms (0: not known)"),
    F("deleted", "True for a delete (value is None)"),
    F("value", "the value (bytes), or None for a delete"),
    F("expire_at_ms", "KV: when the value expires, Unix ms (0: never)"),
    F("older_freed", "True on the oldest version kept when older ones were freed"),
    {NULL, NULL}};
static PyStructSequence_Field change_fields[] = {
    F("primitive", "'kv', 'event', 'state', 'trace' or 'run'"),
    F("key",
      "kv: the key (bytes); state: the cell's name, event: the stream's name (str); trace: the "
      "span id (RunId); run: None (the run's metadata)"),
    F("deleted", "True for a delete (deleting a run deletes every key of it)"),
    F("value", "kv and state: the value; event: the payload; trace and run: the stored record "
               "(docs/FORMAT.md); None for a delete"),
    F("expire_at_ms", "kv: the value's expiry, Unix ms (0: none)"),
    F("event", "event: the Event (only its seq for a delete); None for other primitives"),
    {NULL, NULL}};
static PyStructSequence_Field replay_commit_fields[] = {
    F("version", "the commit's version"),
    F("time_ms", "its wall-clock time, Unix ms (0: not known)"),
    F("changes", "its writes of the run, in key order (tuple of Change)"),
    {NULL, NULL}};
static PyStructSequence_Field diff_entry_fields[] = {
    F("primitive", "'kv', 'state', 'event' (a stream) or 'trace' (a span)"),
    F("kind", "'added' (on side b only), 'removed' (on side a only) or 'changed'"),
    F("key",
      "kv: the key (bytes); state: the cell's name, event: the stream's name (str); trace: the "
      "span id (RunId)"),
    F("version_a", "the key's version (a stream's head) on side a; 0 where absent"),
    F("version_b", "the same on side b"),
    F("first_seq", "events: the first sequence number that differs (1 for a stream on one side "
                   "only); 0 otherwise"),
    {NULL, NULL}};
static PyStructSequence_Field recovery_fields[] = {
    F("segments", "log files read"),
    F("bytes", "bytes of log records read"),
    F("txns_applied", "committed transactions replayed"),
    F("txns_discarded", "transactions without a commit record, dropped"),
    F("records_skipped", "records of unknown type, skipped"),
    F("version", "the global version after recovery"),
    F("txn_id", "the last transaction id in the log"),
    F("time_us", "time spent recovering"),
    F("torn_tail", "True if the log ended in a torn record (the normal end of a crash)"),
    F("tail_file", "where it was truncated (str or None)"),
    F("tail_offset", "at which offset"),
    F("repaired", "True if the repair option truncated a corruption"),
    F("repair_file", "str or None"),
    F("repair_offset", "int"),
    F("bytes_dropped", "bytes dropped by the repair"),
    F("txns_dropped", "how many committed transactions they held"),
    F("tail_bytes", "bytes of log data dropped at the torn tail"),
    F("live_writer", "read-only opens: True if another process had it open for writing"),
    F("created", "True if the database did not exist and this open created it"),
    F("checkpoint_version", "the version of the checkpoint image recovery started from (0: none)"),
    F("checkpoint_file", "that image's file name (str or None)"),
    F("txns_skipped", "commits of the log the image already held, skipped"),
    F("checkpoint_load_us", "microseconds spent loading the image (part of time_us)"),
    F("checkpoint_fallback",
      "True if the newest image was damaged and an older one, with the log covering the "
      "difference, was used instead (nothing lost)"),
    F("keys_dropped",
      "with repair: keys lost from a damaged image that no log covered (repair_file names it)"),
    {NULL, NULL}};
static PyStructSequence_Field txn_info_fields[] = {
    F("state", "'active', 'validating', 'committed' or 'aborted'"),
    F("reason", "None, 'user', 'read_conflict', 'cas_conflict', 'error' or 'deadline'"),
    F("start_version", "the snapshot: commits <= this are visible"),
    F("commit_version", "the commit's version; 0 if not committed or read-only"),
    F("read_set_size", "entries in the read set"),
    F("write_set_size", "puts and deletes"),
    F("cas_count", "CAS checks"),
    F("conflict_run", "the conflicting key's run (None: shared)"),
    F("conflict_key", "the conflicting key (bytes), or None"),
    F("conflict_expected", "the version expected"),
    F("conflict_found", "the version found"),
    F("conflict_primitive",
      "the conflicting key's primitive: 'kv', 'event', 'state', 'trace', 'run', or None"),
    {NULL, NULL}};
#undef F

static PyObject *rec_json(PyObject *self, PyObject *unused)
{
    (void)unused;
    /* the payload or value field: Event.payload (3), KVEntry.value (1), Cell.value (0),
     * StateEntry.value (1), VersionInfo.value (3, None for a delete) */
    PyTypeObject *t = Py_TYPE(self);
    Py_ssize_t i = t == EventType || t == VersionInfoType ? 3 : t == CellType ? 0 : 1;
    PyObject *v = PyStructSequence_GET_ITEM(self, i);
    if (v == Py_None)
        return Py_NewRef(Py_None);
    return json_decode(v);
}

static PyMethodDef rec_json_def = {
    "json", rec_json, METH_NOARGS,
    "json() -> object\n\nThe value (or payload) decoded as JSON (json.loads)."};

static PyTypeObject *new_record(PyObject *m, const char *name, const char *doc,
                                PyStructSequence_Field *fields, int with_json)
{
    int n = 0;
    while (fields[n].name)
        n++;
    char full[64];
    snprintf(full, sizeof full, "inmem.%s", name);
    PyStructSequence_Desc desc = {full, doc, fields, n};
    PyTypeObject *t = PyStructSequence_NewType(&desc);
    if (!t)
        return NULL;
    if (with_json) {
        PyObject *d = PyDescr_NewMethod(t, &rec_json_def);
        if (!d || PyObject_SetAttrString((PyObject *)t, "json", d) < 0) {
            Py_XDECREF(d);
            Py_DECREF(t);
            return NULL;
        }
        Py_DECREF(d);
    }
    if (PyModule_AddObjectRef(m, name, (PyObject *)t) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return t;
}

static int init_records(PyObject *m)
{
    return (KVEntryType = new_record(m, "KVEntry", "A key, its value and its version.",
                                     kv_entry_fields, 1)) &&
                   (CellType = new_record(m, "Cell", "A state cell's value and version.",
                                          cell_fields, 1)) &&
                   (StateEntryType =
                        new_record(m, "StateEntry", "A state cell listed: name, value, version.",
                                   state_entry_fields, 1)) &&
                   (EventType =
                        new_record(m, "Event", "One event of a stream.", event_fields, 1)) &&
                   (StreamInfoType = new_record(m, "StreamInfo", "A stream's length and head.",
                                                stream_info_fields, 0)) &&
                   (SpanType = new_record(m, "Span", "One trace span.", span_fields, 0)) &&
                   (RunInfoType =
                        new_record(m, "RunInfo", "A run's metadata.", run_info_fields, 0)) &&
                   (StatsType = new_record(m, "Stats", "Database counters (Database.stats()).",
                                           stats_fields, 0)) &&
                   (RecoveryInfoType = new_record(m, "RecoveryInfo", "What recovery did at open.",
                                                  recovery_fields, 0)) &&
                   (TxnInfoType = new_record(m, "TxnInfo",
                                             "A transaction's state, versions, set sizes and "
                                             "conflict.",
                                             txn_info_fields, 0)) &&
                   (VersionInfoType =
                        new_record(m, "VersionInfo",
                                   "One committed version of a key or state cell (history()).",
                                   version_info_fields, 1)) &&
                   (ChangeType =
                        new_record(m, "Change", "One write of a replayed commit (run_replay()).",
                                   change_fields, 0)) &&
                   (ReplayCommitType = new_record(
                        m, "ReplayCommit", "One committed transaction of a run (run_replay()).",
                        replay_commit_fields, 0)) &&
                   (DiffEntryType = new_record(m, "DiffEntry", "One difference (run_diff()).",
                                               diff_entry_fields, 0))
               ? 0
               : -1;
}

/* Fills a new struct sequence from @p vals (stolen); NULL if any is NULL. */
static PyObject *fill(PyTypeObject *t, PyObject **vals, int n)
{
    PyObject *r = NULL;
    for (int i = 0; i < n; i++)
        if (!vals[i])
            goto fail;
    if (!(r = PyStructSequence_New(t)))
        goto fail;
    for (int i = 0; i < n; i++)
        PyStructSequence_SET_ITEM(r, i, vals[i]);
    return r;
fail:
    for (int i = 0; i < n; i++)
        Py_XDECREF(vals[i]);
    return NULL;
}

PyObject *make_kv_entry(const void *k, size_t kl, const void *v, size_t vl, uint64_t version)
{
    PyObject *vals[] = {bytes_of(k, kl), bytes_of(v, vl), u64(version)};
    return fill(KVEntryType, vals, 3);
}

PyObject *make_event(const inmem_event *e)
{
    PyObject *vals[] = {u64(e->seq),       u64(e->time_ms),
                        str_of(e->type),   bytes_of(e->payload, e->payload_len),
                        u64(e->prev_hash), u64(e->hash)};
    return fill(EventType, vals, 6);
}

static PyObject *tags_tuple(size_t n, const char (*tags)[INMEM_NAME_MAX])
{
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    if (!t)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *s = str_of(tags[i]);
        if (!s) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, s);
    }
    return t;
}

static const char *const kind_names[] = {NULL,      "tool_call", "decision", "query",
                                         "thought", "error",     "custom"};
static const char *const status_names[] = {NULL,     "active",    "completed",
                                           "failed", "cancelled", "archived"};

const char *trace_kind_name(int kind)
{
    return kind >= 1 && kind <= 6 ? kind_names[kind] : "unknown";
}

const char *run_status_name(int status)
{
    return status >= 1 && status <= 5 ? status_names[status] : "unknown";
}

static int parse_enum(PyObject *o, const char *const *names, int max, int *out, const char *what)
{
    if (PyLong_Check(o)) {
        int overflow = 0;
        long v = PyLong_AsLongAndOverflow(o, &overflow);
        if (v == -1 && !overflow && PyErr_Occurred())
            return -1;
        if (overflow || v < 1 || v > max) /* (a huge int: the same ValueError) */
            goto bad;
        *out = (int)v;
        return 0;
    }
    if (PyUnicode_Check(o)) {
        for (int i = 1; i <= max; i++)
            if (PyUnicode_CompareWithASCIIString(o, names[i]) == 0) {
                *out = i;
                return 0;
            }
    }
bad:;
    PyObject *all = PyUnicode_FromString("");
    for (int i = 1; i <= max && all; i++)
        Py_SETREF(all, PyUnicode_FromFormat("%U%s'%s'", all, i > 1 ? ", " : "", names[i]));
    if (all)
        PyErr_Format(PyExc_ValueError, "%s must be one of %U, not %R", what, all, o);
    Py_XDECREF(all);
    return -1;
}

int parse_trace_kind(PyObject *o, int *out)
{
    return parse_enum(o, kind_names, 6, out, "kind");
}

int parse_run_status(PyObject *o, int *out)
{
    return parse_enum(o, status_names, 5, out, "status");
}

PyObject *make_span(const inmem_span *s)
{
    PyObject *vals[] = {runid_new(&s->id),
                        runid_or_none(&s->parent),
                        PyUnicode_FromString(trace_kind_name(s->kind)),
                        str_of(s->name),
                        bytes_of(s->input, s->input_len),
                        bytes_of(s->output, s->output_len),
                        isnan(s->confidence) ? Py_NewRef(Py_None)
                                             : PyFloat_FromDouble(s->confidence),
                        u64(s->start_ms),
                        u64(s->duration_us),
                        tags_tuple(s->ntags, s->tags)};
    return fill(SpanType, vals, 10);
}

PyObject *make_run_info(const inmem_run_info *r)
{
    PyObject *vals[] = {runid_new(&r->id),
                        r->has_parent ? runid_new(&r->parent) : Py_NewRef(Py_None),
                        PyUnicode_FromString(run_status_name(r->status)),
                        u64(r->created_ms),
                        u64(r->ended_ms),
                        str_or_none(r->tenant),
                        str_or_none(r->app),
                        str_or_none(r->agent),
                        tags_tuple(r->ntags, r->tags)};
    return fill(RunInfoType, vals, 9);
}

PyObject *make_txn_info(const inmem_txn_info *i, PyObject *conflict_key)
{
    static const char *const states[] = {"active", "validating", "committed", "aborted"};
    static const char *const reasons[] = {NULL,           "user",  "read_conflict",
                                          "cas_conflict", "error", "deadline"};
    const char *reason = (unsigned)i->reason < 6 ? reasons[i->reason] : "unknown";
    int conflict = i->reason == INMEM_ABORT_READ_CONFLICT || i->reason == INMEM_ABORT_CAS_CONFLICT;
    PyObject *vals[] = {PyUnicode_FromString((unsigned)i->state < 4 ? states[i->state] : "unknown"),
                        reason ? PyUnicode_FromString(reason) : Py_NewRef(Py_None),
                        u64(i->start_version),
                        u64(i->commit_version),
                        PyLong_FromSize_t(i->read_set_size),
                        PyLong_FromSize_t(i->write_set_size),
                        PyLong_FromSize_t(i->cas_count),
                        conflict ? runid_or_none(&i->conflict_run) : Py_NewRef(Py_None),
                        Py_NewRef(conflict && conflict_key ? conflict_key : Py_None),
                        u64(i->conflict_expected),
                        u64(i->conflict_found),
                        conflict && i->conflict_primitive
                            ? PyUnicode_FromString(primitive_name((int)i->conflict_primitive))
                            : Py_NewRef(Py_None)};
    return fill(TxnInfoType, vals, 12);
}

PyObject *make_version_info(const inmem_version_info *h)
{
    PyObject *vals[] = {u64(h->version),
                        u64(h->time_ms),
                        PyBool_FromLong(h->deleted),
                        h->deleted ? Py_NewRef(Py_None) : bytes_of(h->value, h->len),
                        u64(h->expire_at_ms),
                        PyBool_FromLong(h->older_freed)};
    return fill(VersionInfoType, vals, 6);
}

static const char *const prim_names[] = {NULL, "kv", "event", "state", "trace", "run"};

const char *primitive_name(int prim)
{
    return prim >= 1 && prim <= 5 ? prim_names[prim] : "unknown";
}

int parse_primitive(PyObject *o, int *out)
{
    return parse_enum(o, prim_names, 5, out, "primitive");
}

/* A key as Python shows it for its primitive: KV bytes, a cell's or stream's name as str, a
 * span id as RunId, None for a run's metadata. */
static PyObject *prim_key(int prim, const void *key, size_t klen)
{
    switch (prim) {
    case INMEM_PRIM_STATE:
    case INMEM_PRIM_EVENT:
        return PyUnicode_DecodeUTF8(klen ? key : "", (Py_ssize_t)klen, "replace");
    case INMEM_PRIM_TRACE:
        if (klen == 16) {
            inmem_run_id id;
            memcpy(id.bytes, key, 16);
            return runid_new(&id);
        }
        break;
    case INMEM_PRIM_RUN:
        if (klen == 0)
            Py_RETURN_NONE;
        break;
    }
    return bytes_of(key, klen);
}

PyObject *make_change(const inmem_change *c)
{
    PyObject *vals[] = {PyUnicode_FromString(primitive_name(c->primitive)),
                        prim_key(c->primitive, c->key, c->klen),
                        PyBool_FromLong(c->deleted),
                        c->deleted ? Py_NewRef(Py_None) : bytes_of(c->value, c->len),
                        u64(c->expire_at_ms),
                        c->primitive == INMEM_PRIM_EVENT ? make_event(&c->event)
                                                         : Py_NewRef(Py_None)};
    return fill(ChangeType, vals, 6);
}

PyObject *make_diff_entry(const inmem_diff_entry *e)
{
    static const char *const kinds[] = {NULL, "added", "removed", "changed"};
    PyObject *vals[] = {
        PyUnicode_FromString(primitive_name(e->primitive)),
        PyUnicode_FromString(e->kind >= 1 && e->kind <= 3 ? kinds[e->kind] : "unknown"),
        prim_key(e->primitive, e->key, e->klen),
        u64(e->version_a),
        u64(e->version_b),
        u64(e->first_seq)};
    return fill(DiffEntryType, vals, 6);
}

static PyObject *make_stats(const inmem_stats *s)
{
    PyObject *vals[] = {u64(s->commits),
                        u64(s->commits_readonly),
                        u64(s->aborts_user),
                        u64(s->aborts_read_conflict),
                        u64(s->aborts_cas_conflict),
                        u64(s->retries),
                        u64(s->retries_exhausted),
                        u64(s->deadlines_expired),
                        u64(s->version),
                        u64(s->keys),
                        u64(s->retained_versions),
                        u64(s->open_txns),
                        u64(s->oldest_snapshot_version),
                        u64(s->oldest_snapshot_age_us),
                        u64(s->wal_bytes),
                        u64(s->wal_syncs),
                        u64(s->wal_synced_commits),
                        u64(s->checkpoints),
                        u64(s->checkpoint_failures),
                        u64(s->checkpoint_version),
                        u64(s->checkpoint_bytes),
                        u64(s->checkpoint_time_us),
                        u64(s->wal_bytes_since_checkpoint),
                        u64(s->live_bytes),
                        PyLong_FromLong(s->checkpoint_error),
                        u64(s->history_bytes),
                        u64(s->history_floor),
                        u64(s->history_ms),
                        u64(s->history_versions),
                        u64(s->aborts_error),
                        u64(s->expired_swept)};
    _Static_assert(sizeof vals / sizeof *vals == sizeof stats_fields / sizeof *stats_fields - 1,
                   "a value for every Stats field");
    return fill(StatsType, vals, (int)(sizeof vals / sizeof *vals));
}

static PyObject *make_recovery(const inmem_recovery_info *r)
{
    char tf[sizeof r->tail_file + 1], rf[sizeof r->repair_file + 1],
        cf[sizeof r->checkpoint_file + 1];
    memcpy(tf, r->tail_file, sizeof r->tail_file);
    tf[sizeof r->tail_file] = 0;
    memcpy(rf, r->repair_file, sizeof r->repair_file);
    rf[sizeof r->repair_file] = 0;
    memcpy(cf, r->checkpoint_file, sizeof r->checkpoint_file);
    cf[sizeof r->checkpoint_file] = 0;
    PyObject *vals[] = {u64(r->segments),
                        u64(r->bytes),
                        u64(r->txns_applied),
                        u64(r->txns_discarded),
                        u64(r->records_skipped),
                        u64(r->version),
                        u64(r->txn_id),
                        u64(r->time_us),
                        PyBool_FromLong(r->torn_tail),
                        str_or_none(tf),
                        u64(r->tail_offset),
                        PyBool_FromLong(r->repaired),
                        str_or_none(rf),
                        u64(r->repair_offset),
                        u64(r->bytes_dropped),
                        u64(r->txns_dropped),
                        u64(r->tail_bytes),
                        PyBool_FromLong(r->live_writer),
                        PyBool_FromLong(r->created),
                        u64(r->checkpoint_version),
                        str_or_none(cf),
                        u64(r->txns_skipped),
                        u64(r->checkpoint_load_us),
                        PyBool_FromLong(r->checkpoint_fallback),
                        u64(r->keys_dropped)};
    _Static_assert(sizeof vals / sizeof *vals ==
                       sizeof recovery_fields / sizeof *recovery_fields - 1,
                   "a value for every RecoveryInfo field");
    return fill(RecoveryInfoType, vals, (int)(sizeof vals / sizeof *vals));
}

/* Used by database.c through these two wrappers (kept here with the record types). */
PyObject *py_make_stats(const inmem_stats *s);
PyObject *py_make_recovery(const inmem_recovery_info *r);
PyObject *py_make_stats(const inmem_stats *s)
{
    return make_stats(s);
}
PyObject *py_make_recovery(const inmem_recovery_info *r)
{
    return make_recovery(r);
}

/* ---- module functions ---------------------------------------------------------------------- */

/* An error code argument; one outside int's range is no code (INT_MIN: "unknown"), not the
 * code its low bits make. */
static int code_of(PyObject *arg, int *code)
{
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(arg, &overflow);
    if (v == -1 && !overflow && PyErr_Occurred())
        return -1;
    *code = overflow || v < INT_MIN || v > INT_MAX ? INT_MIN : (int)v;
    return 0;
}

static PyObject *mod_strerror(PyObject *m, PyObject *arg)
{
    (void)m;
    int code;
    if (code_of(arg, &code) < 0)
        return NULL;
    return PyUnicode_FromString(inmem_strerror(code));
}

static PyObject *mod_errname(PyObject *m, PyObject *arg)
{
    (void)m;
    int code;
    if (code_of(arg, &code) < 0)
        return NULL;
    return PyUnicode_FromString(inmem_errname(code));
}

static PyMethodDef module_methods[] = {
    {"strerror", mod_strerror, METH_O,
     "strerror(code) -> str\n\nThe library's description of an error code."},
    {"errname", mod_errname, METH_O,
     "errname(code) -> str\n\nThe constant name of an error code, e.g. 'INMEM_CONFLICT'."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT,
    .m_name = "inmem._inmem",
    .m_doc = "The C core of the inmem package (import inmem instead).",
    .m_size = -1,
    .m_methods = module_methods,
};

static int add_int(PyObject *m, const char *name, long v)
{
    return PyModule_AddIntConstant(m, name, v);
}

PyMODINIT_FUNC PyInit__inmem(void);
PyMODINIT_FUNC PyInit__inmem(void)
{
    PyObject *m = PyModule_Create(&moduledef);
    if (!m)
        return NULL;
    PyObject *json = PyImport_ImportModule("json");
    if (!json)
        goto fail;
    g_json_loads = PyObject_GetAttrString(json, "loads");
    PyObject *dumps = PyObject_GetAttrString(json, "dumps");
    Py_DECREF(json);
    if (!g_json_loads || !dumps)
        goto fail;
    {
        /* json.dumps(obj, separators=(",", ":"), ensure_ascii=False) as one callable */
        PyObject *functools = PyImport_ImportModule("functools");
        PyObject *partial = functools ? PyObject_GetAttrString(functools, "partial") : NULL;
        Py_XDECREF(functools);
        PyObject *args = PyTuple_Pack(1, dumps);
        PyObject *kw =
            Py_BuildValue("{s:(ss),s:O}", "separators", ",", ":", "ensure_ascii", Py_False);
        g_json_dumps = partial && args && kw ? PyObject_Call(partial, args, kw) : NULL;
        Py_XDECREF(partial);
        Py_XDECREF(args);
        Py_XDECREF(kw);
        Py_DECREF(dumps);
        if (!g_json_dumps)
            goto fail;
    }
    if (init_errors(m) < 0 || init_records(m) < 0)
        goto fail;
    if (PyType_Ready(&RunIdType) < 0 || PyType_Ready(&KvIterType) < 0 ||
        PyType_Ready(&PagerType) < 0 || PyType_Ready(&ReplayIterType) < 0 ||
        PyType_Ready(&DiffIterType) < 0 || PyType_Ready(&WatchType) < 0 ||
        db_register_methods() < 0 || PyType_Ready(&DbType) < 0 || tx_type_ready() < 0)
        goto fail;
    if (PyModule_AddObjectRef(m, "RunId", (PyObject *)&RunIdType) < 0 ||
        PyModule_AddObjectRef(m, "Database", (PyObject *)&DbType) < 0 ||
        PyModule_AddObjectRef(m, "Transaction", (PyObject *)&TxType) < 0 ||
        PyModule_AddObjectRef(m, "Watch", (PyObject *)&WatchType) < 0)
        goto fail;
    {
        inmem_run_id zero;
        memset(&zero, 0, sizeof zero);
        PyObject *shared = runid_new(&zero);
        if (!shared || PyModule_AddObject(m, "SHARED", shared) < 0) {
            Py_XDECREF(shared);
            goto fail;
        }
    }
    if (PyModule_AddStringConstant(m, "LIBRARY_VERSION", inmem_version_string()) < 0 ||
        PyModule_AddStringConstant(m, "HEADER_VERSION", INMEM_VERSION_STRING) < 0 ||
        add_int(m, "LIBRARY_VERSION_NUMBER", inmem_version_number()) < 0 ||
        add_int(m, "HEADER_VERSION_NUMBER", INMEM_VERSION_NUMBER) < 0 ||
        add_int(m, "NAME_MAX", INMEM_NAME_MAX - 1) < 0 ||
        add_int(m, "MAX_TAGS", INMEM_MAX_TAGS) < 0)
        goto fail;
    PyObject *unknown = PyLong_FromUnsignedLongLong(INMEM_COUNT_UNKNOWN);
    if (!unknown || PyModule_AddObject(m, "COUNT_UNKNOWN", unknown) < 0) {
        Py_XDECREF(unknown);
        goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
