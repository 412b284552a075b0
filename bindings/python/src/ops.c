/*
 * ops.c — the agent primitives (runs, events, state cells, traces) and the KV extras (get_many,
 * list), written once for Database and Transaction.
 *
 * Each method builds an opctx from its receiver: on a Transaction it runs in that transaction
 * (ctx.txn); on a Database it calls the library's standalone _db form (its own transaction,
 * retried on conflict), and a read that has no _db form runs in a short read-only transaction
 * made for the call (ctx_need_txn), committed and freed before the method returns, after every
 * borrowed byte has been copied into Python objects.
 */
#include "pyinmem.h"

#include <math.h>
#include <string.h>

int ctx_from(PyObject *self, opctx *c, int write)
{
    c->own_txn = 0;
    c->pinned = 0;
    if (Py_IS_TYPE(self, &TxType)) {
        TxObject *tx = (TxObject *)self;
        if (tx_usable(tx, write) < 0)
            return -1;
        c->tx = tx;
        c->db = tx->db;
        c->txn = tx->txn;
        if (write)
            tx->writes++;
        return 0;
    }
    c->tx = NULL;
    c->txn = NULL;
    c->db = (DbObject *)self;
    if (!c->db->db) {
        raise_misuse("the database is closed");
        return -1;
    }
    return 0;
}

int ctx_need_txn(opctx *c)
{
    if (c->tx) {
        c->tx->pinned = 1;
        c->pinned = 1;
        return 0;
    }
    if (c->txn)
        return 0;
    if (!c->db->db) { /* closed by the code of an argument */
        raise_misuse("the database is closed");
        return -1;
    }
    int rc = inmem_txn_begin_readonly(c->db->db, &c->txn);
    if (rc) {
        c->txn = NULL;
        raise_rc(rc, "read-only transaction");
        return -1;
    }
    c->own_txn = 1;
    return 0;
}

void ctx_done(opctx *c)
{
    if (c->pinned) {
        c->tx->pinned = 0;
        c->pinned = 0;
    }
    if (c->own_txn && c->txn) {
        inmem_txn_commit(c->txn); /* read-only: always commits */
        inmem_txn_free(c->txn);
    }
    c->txn = NULL;
    c->own_txn = 0;
}

/* Raises the library's @p rc for @p what; for a transaction that ended, or a database that was
 * closed, while the call's arguments were converted (see ctx_txn()), the error that says so
 * rather than the library's INMEM_EINVAL for the missing handle. */
static PyObject *raise_op(const opctx *c, int rc, const char *what)
{
    if (c->tx && (!c->tx->txn || c->tx->busy)) {
        (void)tx_usable(c->tx, 0);
        return NULL;
    }
    if (!c->tx)
        return raise_db_rc(c->db, rc, what);
    return raise_rc(rc, what);
}

/* The result of a write: the version of a standalone write, None in a transaction. */
static PyObject *write_result(const opctx *c, uint64_t version)
{
    if (c->tx)
        Py_RETURN_NONE;
    return u64(version);
}

#define FAST    (METH_FASTCALL | METH_KEYWORDS)
#define M(name) (PyCFunction)(void (*)(void))(name)

/* ---- KV extras ---------------------------------------------------------------------------- */

static PyObject *op_get_many(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    ARGSPEC(spec, "get_many", 2, 1, "keys", "run");
    PyObject *a[2];
    opctx c;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 0) < 0 ||
        get_run(a[1], &rb, &run, "run") < 0)
        return NULL;
    if (PyUnicode_Check(a[0]) || PyBytes_Check(a[0]) || PyByteArray_Check(a[0])) {
        PyErr_SetString(PyExc_TypeError, "get_many: keys must be an iterable of keys, not one key");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(a[0], "get_many: keys must be an iterable of keys");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *res = NULL;
    bytesarg *ks = PyMem_Calloc((size_t)n + 1, sizeof *ks);
    const void **kp = PyMem_Calloc((size_t)n + 1, sizeof *kp);
    size_t *kl = PyMem_Calloc((size_t)n + 1, sizeof *kl);
    inmem_kv_entry *out = PyMem_Calloc((size_t)n + 1, sizeof *out);
    Py_ssize_t got = 0;
    if (!ks || !kp || !kl || !out) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n; got++) {
        if (get_bytes(PySequence_Fast_GET_ITEM(seq, got), &ks[got], "key") < 0)
            goto done;
        kp[got] = ks[got].p;
        kl[got] = ks[got].n;
    }
    if (ctx_need_txn(&c) < 0)
        goto done;
    int rc = inmem_kv_get_many(ctx_txn(&c), run, (size_t)n, kp, kl, out);
    if (rc) {
        raise_op(&c, rc, "get_many");
        goto done;
    }
    if (!(res = PyList_New(n)))
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = out[i].val ? bytes_of(out[i].val, out[i].vlen) : Py_NewRef(Py_None);
        if (!v) {
            Py_CLEAR(res);
            goto done;
        }
        PyList_SET_ITEM(res, i, v);
    }
done:
    ctx_done(&c);
    for (Py_ssize_t i = 0; ks && i < got; i++)
        release_bytes(&ks[i]);
    PyMem_Free(ks);
    PyMem_Free(kp);
    PyMem_Free(kl);
    PyMem_Free(out);
    Py_DECREF(seq);
    return res;
}

static PyObject *op_get_expiry(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    ARGSPEC(spec, "get_expiry", 2, 1, "key", "run");
    PyObject *a[2];
    opctx c;
    inmem_run_id rb;
    const inmem_run_id *run;
    bytesarg k;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 0) < 0 ||
        get_run(a[1], &rb, &run, "run") < 0 || get_bytes(a[0], &k, "key") < 0)
        return NULL;
    PyObject *r = NULL;
    if (ctx_need_txn(&c) == 0) {
        uint64_t at = 0;
        int rc = inmem_kv_get_expiry(ctx_txn(&c), run, k.p, k.n, &at);
        r = rc == INMEM_NOTFOUND ? Py_NewRef(Py_None)
            : rc                 ? raise_op(&c, rc, "get_expiry")
                                 : u64(at);
    }
    ctx_done(&c);
    release_bytes(&k);
    return r;
}

static PyObject *op_run_list_stored(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
    return pager_new(self, PG_RUN_STORED, args, nargs, kwnames);
}

static PyObject *op_list(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return pager_new(self, PG_KV_LIST, args, nargs, kwnames);
}

static PyObject *op_history(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    return pager_new(self, PG_KV_HISTORY, args, nargs, kwnames);
}

static PyObject *op_state_history(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames)
{
    return pager_new(self, PG_STATE_HISTORY, args, nargs, kwnames);
}

/* ---- runs -------------------------------------------------------------------------------- */

void run_opts_free(runopts *ro)
{
    PyMem_Free(ro->tv);
    ro->tv = NULL;
    Py_CLEAR(ro->tags);
}

int run_opts_parse(inmem_run_options *o, runopts *ro, PyObject *tenant, PyObject *app,
                   PyObject *agent, PyObject *tags, PyObject *history, PyObject *history_ms,
                   PyObject *history_versions, const char *what)
{
    ro->tags = NULL;
    ro->tv = NULL;
    if (get_opt_name(tenant, &o->tenant, "tenant") < 0 || get_opt_name(app, &o->app, "app") < 0 ||
        get_opt_name(agent, &o->agent, "agent") < 0)
        return -1;
    /* history=None: the run's own policy if history_ms or history_versions is given, else the
     * database's; True: its own (both 0: nothing beyond the newest); False: the database's */
    int given =
        (history_ms && history_ms != Py_None) || (history_versions && history_versions != Py_None);
    int own = given;
    if (history && history != Py_None) {
        if (get_bool(history, 0, &own) < 0)
            return -1;
        if (!own && given) {
            PyErr_Format(PyExc_ValueError,
                         "%s: history=False (the database's policy) takes no history_ms or "
                         "history_versions",
                         what);
            return -1;
        }
    }
    uint64_t hv = 0;
    if (get_u64(history_ms, 0, &o->history_ms, "history_ms") < 0 ||
        get_u64(history_versions, 0, &hv, "history_versions") < 0)
        return -1;
    if (hv > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "history_versions is out of range");
        return -1;
    }
    o->history = own;
    o->history_versions = (uint32_t)hv;
    if (tags && tags != Py_None) {
        if (PyUnicode_Check(tags) || PyBytes_Check(tags)) {
            PyErr_Format(PyExc_TypeError, "%s: tags must be a sequence of str", what);
            return -1;
        }
        if (!(ro->tags = PySequence_Fast(tags, "tags must be a sequence of str")))
            return -1;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(ro->tags);
        if (!(ro->tv = PyMem_Calloc((size_t)n + 1, sizeof *ro->tv))) {
            PyErr_NoMemory();
            run_opts_free(ro);
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++)
            if (get_name(PySequence_Fast_GET_ITEM(ro->tags, i), &ro->tv[i], "tag") < 0) {
                run_opts_free(ro);
                return -1;
            }
        o->tags = ro->tv;
        o->ntags = (size_t)n;
    }
    return 0;
}

static PyObject *op_run_begin(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    ARGSPEC(spec, "run_begin", 0, 0, "id", "parent", "tenant", "app", "agent", "tags", "history",
            "history_ms", "history_versions");
    PyObject *a[9];
    opctx c;
    inmem_run_options o;
    inmem_run_options_init(&o);
    inmem_run_id idb, pb;
    runopts ro;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 1) < 0 ||
        get_run(a[0], &idb, &o.id, "id") < 0 || get_run(a[1], &pb, &o.parent, "parent") < 0 ||
        run_opts_parse(&o, &ro, a[2], a[3], a[4], a[5], a[6], a[7], a[8], "run_begin") < 0)
        return NULL;
    inmem_run_id out;
    int rc = c.tx ? inmem_run_begin(ctx_txn(&c), &o, &out) : inmem_run_begin_db(c.db->db, &o, &out);
    run_opts_free(&ro);
    if (rc)
        return raise_op(&c, rc, "run_begin");
    return runid_new(&out);
}

static PyObject *op_run_fork(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    ARGSPEC(spec, "run_fork", 2, 1, "parent", "at_version", "id", "tenant", "app", "agent", "tags",
            "history", "history_ms", "history_versions");
    PyObject *a[10];
    opctx c;
    inmem_run_options o;
    inmem_run_options_init(&o);
    inmem_run_id parent, idb;
    uint64_t at;
    runopts ro;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 1) < 0 ||
        get_id(a[0], &parent, "parent") < 0 || get_u64(a[1], 0, &at, "at_version") < 0 ||
        get_run(a[2], &idb, &o.id, "id") < 0 ||
        run_opts_parse(&o, &ro, a[3], a[4], a[5], a[6], a[7], a[8], a[9], "run_fork") < 0)
        return NULL;
    inmem_run_id out;
    int rc = c.tx ? inmem_run_fork(ctx_txn(&c), &parent, at, &o, &out)
                  : inmem_run_fork_db(c.db->db, &parent, at, &o, &out);
    run_opts_free(&ro);
    if (rc)
        return raise_op(&c, rc, "run_fork");
    return runid_new(&out);
}

static PyObject *op_run_end(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    ARGSPEC(spec, "run_end", 2, 1, "run", "status");
    PyObject *a[2];
    opctx c;
    inmem_run_id run;
    int status = INMEM_RUN_COMPLETED;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 1) < 0 ||
        get_id(a[0], &run, "run") < 0 || (a[1] && parse_run_status(a[1], &status) < 0))
        return NULL;
    int rc = c.tx ? inmem_run_end(ctx_txn(&c), &run, (inmem_run_status)status)
                  : inmem_run_end_db(c.db->db, &run, (inmem_run_status)status);
    if (rc)
        return raise_op(&c, rc, "run_end");
    Py_RETURN_NONE;
}

static PyObject *op_run_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    ARGSPEC(spec, "run_get", 1, 1, "run");
    PyObject *a[1];
    opctx c;
    inmem_run_id run;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 0) < 0 ||
        get_id(a[0], &run, "run") < 0)
        return NULL;
    inmem_run_info info;
    int rc =
        c.tx ? inmem_run_get(ctx_txn(&c), &run, &info) : inmem_run_get_db(c.db->db, &run, &info);
    if (rc)
        return raise_op(&c, rc, "run_get");
    return make_run_info(&info);
}

static PyObject *op_run_list(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    return pager_new(self, PG_RUN_LIST, args, nargs, kwnames);
}

static PyObject *op_run_children(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    /* run_children(run, after=None, limit=None) = run_list(parent=run, ...) */
    ARGSPEC(spec, "run_children", 3, 1, "run", "after", "limit");
    PyObject *a[3];
    if (parse_args(&spec, args, nargs, kwnames, a) < 0)
        return NULL;
    if (a[0] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "run_children: run must be a run id");
        return NULL;
    }
    PyObject *names = Py_BuildValue("(sss)", "parent", "after", "limit");
    if (!names)
        return NULL;
    PyObject *argv[3] = {a[0], a[1] ? a[1] : Py_None, a[2] ? a[2] : Py_None};
    PyObject *r = pager_new(self, PG_RUN_LIST, argv, 0, names);
    Py_DECREF(names);
    return r;
}

static PyObject *op_run_replay(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    return replay_new(self, args, nargs, kwnames);
}

static PyObject *op_run_delete(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    ARGSPEC(spec, "run_delete", 1, 1, "run");
    PyObject *a[1];
    opctx c;
    inmem_run_id run;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 1) < 0 ||
        get_id(a[0], &run, "run") < 0)
        return NULL;
    int rc;
    if (c.tx) {
        rc = inmem_run_delete(ctx_txn(&c), &run);
    } else {
        inmem_db *db = c.db->db;
        DB_CALL(c.db, 1, rc = inmem_run_delete_db(db, &run)); /* a run may be large */
    }
    if (rc)
        return raise_op(&c, rc, "run_delete");
    Py_RETURN_NONE;
}

/* ---- events ------------------------------------------------------------------------------ */

static PyObject *event_append_common(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames, int json)
{
    ARGSPEC(spec, "event_append", 4, 2, "stream", "type", "payload", "run");
    ARGSPEC(spec_json, "event_append_json", 4, 3, "stream", "type", "obj", "run");
    PyObject *a[4];
    opctx c;
    const char *stream, *type;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (parse_args(json ? &spec_json : &spec, args, nargs, kwnames, a) < 0 ||
        ctx_from(self, &c, 1) < 0 || get_name(a[0], &stream, "stream") < 0 ||
        get_name(a[1], &type, "type") < 0 || get_run(a[3], &rb, &run, "run") < 0)
        return NULL;
    PyObject *enc = NULL;
    if (json && !(enc = json_encode(a[2])))
        return NULL;
    bytesarg p = {"", 0, {0}, 0};
    if ((enc || a[2]) && get_bytes(enc ? enc : a[2], &p, "payload") < 0) {
        Py_XDECREF(enc);
        return NULL;
    }
    uint64_t seq = 0;
    int rc;
    if (c.tx) {
        rc = inmem_event_append(ctx_txn(&c), run, stream, type, p.p, p.n, &seq);
    } else {
        inmem_db *db = c.db->db;
        DB_CALL(c.db, db_releases(c.db, p.n),
                rc = inmem_event_append_db(db, run, stream, type, p.p, p.n, &seq));
    }
    release_bytes(&p);
    Py_XDECREF(enc);
    if (rc)
        return raise_op(&c, rc, json ? "event_append_json" : "event_append");
    return u64(seq);
}

static PyObject *op_event_append(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    return event_append_common(self, args, nargs, kwnames, 0);
}

static PyObject *op_event_append_json(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                      PyObject *kwnames)
{
    return event_append_common(self, args, nargs, kwnames, 1);
}

static PyObject *op_event_append_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                       PyObject *kwnames)
{
    ARGSPEC(spec, "event_append_batch", 3, 2, "stream", "events", "run");
    PyObject *a[3];
    opctx c;
    const char *stream;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 1) < 0 ||
        get_name(a[0], &stream, "stream") < 0 || get_run(a[2], &rb, &run, "run") < 0)
        return NULL;
    PyObject *seq = PySequence_Fast(a[1], "event_append_batch: events must be an iterable of "
                                          "(type, payload) pairs");
    /* a tuple of our own, not the caller's list: converting a pair runs its code (__len__,
     * __getitem__, __iter__), which could empty the list under the loop and free the items */
    if (seq && PyList_Check(seq))
        Py_SETREF(seq, PyList_AsTuple(seq));
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    inmem_event_in *ev = PyMem_Calloc((size_t)n + 1, sizeof *ev);
    bytesarg *pl = PyMem_Calloc((size_t)n + 1, sizeof *pl);
    PyObject **pairs = PyMem_Calloc((size_t)n + 1, sizeof *pairs);
    PyObject *res = NULL;
    Py_ssize_t got = 0;
    size_t total = 0;
    if (!ev || !pl || !pairs) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n; got++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, got);
        /* a tuple of our own: it keeps the type and payload objects alive even if the caller's
         * sequences change while the GIL is released */
        if (!PyUnicode_Check(item) && !PyBytes_Check(item) && PySequence_Check(item))
            pairs[got] = PySequence_Tuple(item);
        else
            PyErr_SetString(PyExc_TypeError,
                            "event_append_batch: each event is a (type, payload) pair");
        if (!pairs[got])
            goto done;
        if (PyTuple_GET_SIZE(pairs[got]) != 2) {
            PyErr_SetString(PyExc_ValueError,
                            "event_append_batch: each event is a (type, payload) pair");
            Py_CLEAR(pairs[got]);
            goto done;
        }
        if (get_name(PyTuple_GET_ITEM(pairs[got], 0), &ev[got].type, "type") < 0 ||
            get_bytes(PyTuple_GET_ITEM(pairs[got], 1), &pl[got], "payload") < 0) {
            Py_CLEAR(pairs[got]);
            goto done;
        }
        ev[got].payload = pl[got].p;
        ev[got].payload_len = pl[got].n;
        total += pl[got].n;
    }
    uint64_t first = 0;
    int rc;
    if (c.tx) {
        rc = inmem_event_append_batch(ctx_txn(&c), run, stream, (size_t)n, ev, &first);
    } else {
        inmem_db *db = c.db->db;
        DB_CALL(c.db, db_releases(c.db, total),
                rc = inmem_event_append_batch_db(db, run, stream, (size_t)n, ev, &first));
    }
    if (rc)
        raise_op(&c, rc, "event_append_batch");
    else
        res = u64(first);
done:
    for (Py_ssize_t i = 0; i < got; i++) {
        release_bytes(&pl[i]);
        Py_XDECREF(pairs[i]);
    }
    PyMem_Free(ev);
    PyMem_Free(pl);
    PyMem_Free(pairs);
    Py_DECREF(seq);
    return res;
}

static PyObject *op_event_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    ARGSPEC(spec, "event_get", 3, 2, "stream", "seq", "run");
    PyObject *a[3];
    opctx c;
    const char *stream;
    uint64_t seq;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 0) < 0 ||
        get_name(a[0], &stream, "stream") < 0 || get_u64(a[1], 0, &seq, "seq") < 0 ||
        get_run(a[2], &rb, &run, "run") < 0 || ctx_need_txn(&c) < 0)
        return NULL;
    inmem_event e;
    int rc = inmem_event_get(ctx_txn(&c), run, stream, seq, &e);
    PyObject *r = rc ? raise_op(&c, rc, "event_get") : make_event(&e);
    ctx_done(&c);
    return r;
}

static PyObject *op_event_range(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    return pager_new(self, PG_EVENTS, args, nargs, kwnames);
}

static PyObject *op_event_range_time(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames)
{
    return pager_new(self, PG_EVENTS_TIME, args, nargs, kwnames);
}

static PyObject *op_streams(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    return pager_new(self, PG_STREAMS, args, nargs, kwnames);
}

static PyObject *op_stream_info(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    ARGSPEC(spec, "stream_info", 2, 1, "stream", "run");
    PyObject *a[2];
    opctx c;
    const char *stream;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 0) < 0 ||
        get_name(a[0], &stream, "stream") < 0 || get_run(a[1], &rb, &run, "run") < 0)
        return NULL;
    inmem_stream_info si;
    int rc = c.tx ? inmem_event_stream_info(ctx_txn(&c), run, stream, &si)
                  : inmem_event_stream_info_db(c.db->db, run, stream, &si);
    if (rc)
        return raise_op(&c, rc, "stream_info");
    PyObject *r = PyStructSequence_New(StreamInfoType);
    if (!r)
        return NULL;
    PyObject *v[4] = {u64(si.length), u64(si.head_hash), u64(si.first_ms), u64(si.last_ms)};
    for (int i = 0; i < 4; i++) {
        if (!v[i]) {
            for (int j = i + 1; j < 4; j++)
                Py_XDECREF(v[j]);
            Py_DECREF(r);
            return NULL;
        }
        PyStructSequence_SET_ITEM(r, i, v[i]);
    }
    return r;
}

static PyObject *op_event_verify(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    ARGSPEC(spec, "event_verify", 2, 1, "stream", "run");
    PyObject *a[2];
    opctx c;
    const char *stream;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 0) < 0 ||
        get_name(a[0], &stream, "stream") < 0 || get_run(a[1], &rb, &run, "run") < 0)
        return NULL;
    uint64_t broken = 0;
    int rc;
    if (c.tx) {
        rc = inmem_event_verify(ctx_txn(&c), run, stream, &broken);
    } else {
        inmem_db *db = c.db->db; /* reads the whole stream */
        DB_CALL(c.db, 1, rc = inmem_event_verify_db(db, run, stream, &broken));
    }
    if (rc)
        return raise_op(&c, rc, "event_verify");
    return u64(broken);
}

/* ---- state cells ------------------------------------------------------------------------- */

static PyObject *state_get_common(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames, int json)
{
    ARGSPEC(spec, "state_get", 2, 1, "name", "run");
    PyObject *a[2];
    opctx c;
    const char *name;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 0) < 0 ||
        get_name(a[0], &name, "name") < 0 || get_run(a[1], &rb, &run, "run") < 0)
        return NULL;
    const void *cv = NULL;
    void *owned = NULL;
    size_t len = 0;
    uint64_t ver = 0;
    int rc;
    if (c.tx) {
        rc = inmem_state_get(ctx_txn(&c), run, name, &cv, &len, &ver);
    } else {
        rc = inmem_state_get_db(c.db->db, run, name, &owned, &len, &ver);
        cv = owned;
    }
    PyObject *r = NULL;
    if (rc == INMEM_NOTFOUND) {
        r = Py_NewRef(Py_None);
    } else if (rc) {
        raise_op(&c, rc, "state_get");
    } else {
        PyObject *b = bytes_of(cv, len);
        if (b && json) {
            r = json_decode(b);
            Py_DECREF(b);
        } else if (b) {
            PyObject *vals[2] = {b, u64(ver)};
            if (vals[1] && (r = PyStructSequence_New(CellType))) {
                PyStructSequence_SET_ITEM(r, 0, vals[0]);
                PyStructSequence_SET_ITEM(r, 1, vals[1]);
            } else {
                Py_DECREF(b);
                Py_XDECREF(vals[1]);
            }
        }
    }
    inmem_free(owned);
    return r;
}

static PyObject *op_state_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    return state_get_common(self, args, nargs, kwnames, 0);
}

static PyObject *op_state_get_json(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    return state_get_common(self, args, nargs, kwnames, 1);
}

static PyObject *state_set_common(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames, int json)
{
    ARGSPEC(spec, "state_set", 3, 2, "name", "value", "run");
    ARGSPEC(spec_json, "state_set_json", 3, 2, "name", "obj", "run");
    PyObject *a[3];
    opctx c;
    const char *name;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (parse_args(json ? &spec_json : &spec, args, nargs, kwnames, a) < 0 ||
        ctx_from(self, &c, 1) < 0 || get_name(a[0], &name, "name") < 0 ||
        get_run(a[2], &rb, &run, "run") < 0)
        return NULL;
    PyObject *enc = NULL;
    bytesarg v;
    if (json && !(enc = json_encode(a[1])))
        return NULL;
    if (get_bytes(enc ? enc : a[1], &v, "value") < 0) {
        Py_XDECREF(enc);
        return NULL;
    }
    uint64_t ver = 0;
    int rc;
    if (c.tx) {
        rc = inmem_state_set(ctx_txn(&c), run, name, v.p, v.n);
    } else {
        inmem_db *db = c.db->db;
        DB_CALL(c.db, db_releases(c.db, v.n),
                rc = inmem_state_set_db(db, run, name, v.p, v.n, &ver));
    }
    release_bytes(&v);
    Py_XDECREF(enc);
    if (rc)
        return raise_op(&c, rc, json ? "state_set_json" : "state_set");
    return write_result(&c, ver);
}

static PyObject *op_state_set(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    return state_set_common(self, args, nargs, kwnames, 0);
}

static PyObject *op_state_set_json(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    return state_set_common(self, args, nargs, kwnames, 1);
}

static PyObject *op_state_cas(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    ARGSPEC(spec, "state_cas", 4, 3, "name", "expected_version", "value", "run");
    PyObject *a[4];
    opctx c;
    const char *name;
    uint64_t expected;
    inmem_run_id rb;
    const inmem_run_id *run;
    bytesarg v;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 1) < 0 ||
        get_name(a[0], &name, "name") < 0 || get_u64(a[1], 0, &expected, "expected_version") < 0 ||
        get_run(a[3], &rb, &run, "run") < 0 || get_bytes(a[2], &v, "value") < 0)
        return NULL;
    uint64_t ver = 0;
    int rc;
    if (c.tx) {
        rc = inmem_state_cas(ctx_txn(&c), run, name, expected, v.p, v.n);
    } else {
        inmem_db *db = c.db->db;
        DB_CALL(c.db, db_releases(c.db, v.n),
                rc = inmem_state_cas_db(db, run, name, expected, v.p, v.n, &ver));
    }
    release_bytes(&v);
    if (rc == INMEM_CONFLICT) {
        PyObject *key = PyBytes_FromString(name); /* as at commit: bytes */
        if (key)
            raise_cas_conflict("state_cas", run, key, "cas", u64(expected));
        Py_XDECREF(key);
        return NULL;
    }
    if (rc)
        return raise_op(&c, rc, "state_cas");
    return write_result(&c, ver);
}

static PyObject *op_state_cas_value(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
    ARGSPEC(spec, "state_cas_value", 4, 3, "name", "expected", "value", "run");
    PyObject *a[4];
    opctx c;
    const char *name;
    inmem_run_id rb;
    const inmem_run_id *run;
    bytesarg e = {NULL, 0, {0}, 0}, v;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 1) < 0 ||
        get_name(a[0], &name, "name") < 0 || get_run(a[3], &rb, &run, "run") < 0)
        return NULL;
    if (a[1] != Py_None && get_bytes(a[1], &e, "expected") < 0)
        return NULL;
    if (get_bytes(a[2], &v, "value") < 0) {
        release_bytes(&e);
        return NULL;
    }
    /* expected None: the cell must not exist (NULL); b"" is an existing empty value */
    const void *ep = a[1] == Py_None ? NULL : (e.p ? e.p : "");
    uint64_t ver = 0;
    int rc;
    if (c.tx) {
        rc = inmem_state_cas_value(ctx_txn(&c), run, name, ep, e.n, v.p, v.n);
    } else {
        inmem_db *db = c.db->db;
        DB_CALL(c.db, db_releases(c.db, v.n + e.n),
                rc = inmem_state_cas_value_db(db, run, name, ep, e.n, v.p, v.n, &ver));
    }
    release_bytes(&e);
    release_bytes(&v);
    if (rc == INMEM_CONFLICT) {
        PyObject *key = PyBytes_FromString(name); /* as at commit: bytes */
        if (key)
            raise_cas_conflict("state_cas_value", run, key, "value", Py_NewRef(a[1]));
        Py_XDECREF(key);
        return NULL;
    }
    if (rc)
        return raise_op(&c, rc, "state_cas_value");
    return write_result(&c, ver);
}

static PyObject *op_state_list(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    return pager_new(self, PG_STATE_LIST, args, nargs, kwnames);
}

/* ---- traces ------------------------------------------------------------------------------- */

static int copy_name(char *dst, PyObject *o, const char *what)
{
    const char *s;
    if (get_name(o, &s, what) < 0)
        return -1;
    size_t n = strlen(s);
    if (n >= INMEM_NAME_MAX) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s is %zu bytes; at most %d", what, n, INMEM_NAME_MAX - 1);
        raise_code(INMEM_ETOOBIG, msg);
        return -1;
    }
    memcpy(dst, s, n + 1);
    return 0;
}

static PyObject *op_trace_record(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    ARGSPEC(spec, "trace_record", 3, 2, "kind", "name", "run", "input", "output", "parent",
            "confidence", "start_ms", "duration_us", "tags", "id");
    PyObject *a[11];
    opctx c;
    inmem_run_id rb;
    const inmem_run_id *run;
    inmem_span s;
    memset(&s, 0, sizeof s);
    int kind;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 1) < 0 ||
        parse_trace_kind(a[0], &kind) < 0 || copy_name(s.name, a[1], "name") < 0 ||
        get_run(a[2], &rb, &run, "run") < 0 || get_u64(a[7], 0, &s.start_ms, "start_ms") < 0 ||
        get_u64(a[8], 0, &s.duration_us, "duration_us") < 0)
        return NULL;
    s.kind = (inmem_trace_kind)kind;
    if (a[5] && a[5] != Py_None && get_id(a[5], &s.parent, "parent") < 0)
        return NULL;
    if (a[10] && a[10] != Py_None && get_id(a[10], &s.id, "id") < 0)
        return NULL;
    s.confidence = NAN;
    if (a[6] && a[6] != Py_None) {
        s.confidence = PyFloat_AsDouble(a[6]);
        if (s.confidence == -1.0 && PyErr_Occurred())
            return NULL;
    }
    if (a[9] && a[9] != Py_None) {
        if (PyUnicode_Check(a[9]) || PyBytes_Check(a[9])) {
            PyErr_SetString(PyExc_TypeError, "trace_record: tags must be a sequence of str");
            return NULL;
        }
        PyObject *tags = PySequence_Fast(a[9], "trace_record: tags must be a sequence of str");
        if (!tags)
            return NULL;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(tags);
        if (n > INMEM_MAX_TAGS) {
            Py_DECREF(tags);
            char msg[96];
            snprintf(msg, sizeof msg, "trace_record: %zd tags; at most %d", n, INMEM_MAX_TAGS);
            return raise_code(INMEM_EINVAL, msg);
        }
        for (Py_ssize_t i = 0; i < n; i++)
            if (copy_name(s.tags[i], PySequence_Fast_GET_ITEM(tags, i), "tag") < 0) {
                Py_DECREF(tags);
                return NULL;
            }
        s.ntags = (size_t)n;
        Py_DECREF(tags);
    }
    bytesarg in = {"", 0, {0}, 0}, out = {"", 0, {0}, 0};
    if (a[3] && a[3] != Py_None && get_bytes(a[3], &in, "input") < 0)
        return NULL;
    if (a[4] && a[4] != Py_None && get_bytes(a[4], &out, "output") < 0) {
        release_bytes(&in);
        return NULL;
    }
    s.input = in.p;
    s.input_len = in.n;
    s.output = out.p;
    s.output_len = out.n;
    inmem_run_id id;
    int rc;
    if (c.tx) {
        rc = inmem_trace_record(ctx_txn(&c), run, &s, &id);
    } else {
        inmem_db *db = c.db->db;
        DB_CALL(c.db, db_releases(c.db, in.n + out.n),
                rc = inmem_trace_record_db(db, run, &s, &id));
    }
    release_bytes(&in);
    release_bytes(&out);
    if (rc)
        return raise_op(&c, rc, "trace_record");
    return runid_new(&id);
}

static PyObject *op_trace_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    ARGSPEC(spec, "trace_get", 2, 1, "span", "run");
    PyObject *a[2];
    opctx c;
    inmem_run_id id, rb;
    const inmem_run_id *run;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 0) < 0 ||
        get_id(a[0], &id, "span") < 0 || get_run(a[1], &rb, &run, "run") < 0 ||
        ctx_need_txn(&c) < 0)
        return NULL;
    inmem_span *s = PyMem_Malloc(sizeof *s);
    PyObject *r = NULL;
    if (!s) {
        PyErr_NoMemory();
    } else {
        int rc = inmem_trace_get(ctx_txn(&c), run, &id, s);
        r = rc ? raise_op(&c, rc, "trace_get") : make_span(s);
        PyMem_Free(s);
    }
    ctx_done(&c);
    return r;
}

static PyObject *op_trace_query(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    return pager_new(self, PG_TRACE_QUERY, args, nargs, kwnames);
}

static PyObject *op_trace_tree(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
    ARGSPEC(spec, "trace_tree", 3, 1, "root", "run", "limit");
    PyObject *a[3];
    opctx c;
    inmem_run_id root, rb;
    const inmem_run_id *run;
    size_t limit;
    if (parse_args(&spec, args, nargs, kwnames, a) < 0 || ctx_from(self, &c, 0) < 0 ||
        get_id(a[0], &root, "root") < 0 || get_run(a[1], &rb, &run, "run") < 0 ||
        get_limit(a[2], &limit) < 0)
        return NULL;
    if (limit == 0)
        return PyList_New(0);
    if (ctx_need_txn(&c) < 0)
        return NULL;
    /* the library returns at most cap spans and says nothing of the rest: ask again with a
     * larger buffer until the tree fits (or the caller's limit is reached) */
    size_t cap = limit < 64 ? limit : 64, n = 0;
    inmem_span *out = NULL;
    PyObject *res = NULL;
    for (;;) {
        inmem_span *grown = PyMem_Realloc(out, cap * sizeof *out);
        if (!grown) {
            PyErr_NoMemory();
            goto done;
        }
        out = grown;
        int rc = inmem_trace_tree(ctx_txn(&c), run, &root, cap, out, &n);
        if (rc) {
            raise_op(&c, rc, "trace_tree");
            goto done;
        }
        if (n < cap || cap >= limit)
            break;
        cap = cap > limit / 2 ? limit : cap * 2;
    }
    if (!(res = PyList_New((Py_ssize_t)n)))
        goto done;
    for (size_t i = 0; i < n; i++) {
        PyObject *sp = make_span(&out[i]);
        if (!sp) {
            Py_CLEAR(res);
            goto done;
        }
        PyList_SET_ITEM(res, (Py_ssize_t)i, sp);
    }
done:
    ctx_done(&c);
    PyMem_Free(out);
    return res;
}

/* ---- method tables ------------------------------------------------------------------------ */

PyMethodDef op_methods_common[] = {
    {"get_many", M(op_get_many), FAST,
     "get_many($self, keys, run=None)\n"
     "--\n"
     "\n"
     "Reads several keys at once (one snapshot); None for a missing key. In a\n"
     "transaction every key joins the read set.\n"
     "\n"
     "Returns list[bytes | None]."},
    {"get_expiry", M(op_get_expiry), FAST,
     "get_expiry($self, key, run=None)\n"
     "--\n"
     "\n"
     "When key's value expires, in Unix ms (0: it has no TTL); None if the key is\n"
     "missing, deleted or expired. In a transaction the read joins the read set\n"
     "like get().\n"
     "\n"
     "Returns int | None."},
    {"list", M(op_list), FAST,
     "list($self, prefix=b'', run=None, after=None, limit=None)\n"
     "--\n"
     "\n"
     "The keys beginning with prefix in byte order, after the cursor key `after`,\n"
     "at most limit of them. Read page by page; on a Database each page is its own\n"
     "snapshot.\n"
     "\n"
     "Returns Iterator[KVEntry]."},
    {"history", M(op_history), FAST,
     "history($self, key, run=None, *, before=None, limit=None)\n"
     "--\n"
     "\n"
     "The committed versions of a key, newest first: values and deletes, as many as\n"
     "the retained history keeps (with no retention: the newest and what open\n"
     "transactions hold), up to the snapshot (a time-travel transaction sees the\n"
     "history up to its version). Starts below the version `before` (None: at the\n"
     "newest). A transaction's own pending writes are not history. Reads page by\n"
     "page; on a Database each page is its own snapshot.\n"
     "\n"
     "Returns Iterator[VersionInfo]."},
    {"run_begin", M(op_run_begin), FAST,
     "run_begin($self, *, id=None, parent=None, tenant=None, app=None, agent=None, tags=(), "
     "history=None, history_ms=None, history_versions=None)\n"
     "--\n"
     "\n"
     "Begins a run (status 'active'): a new time-ordered id unless `id` is given;\n"
     "parent is the run it was forked from; tenant/app/agent its namespace; up to\n"
     "16 tags. history_ms / history_versions give the run a retention policy of its\n"
     "own instead of the database's (the open options of the same names), stored\n"
     "with the run and in effect from its begin; history=True with neither keeps\n"
     "nothing beyond the newest, history=False (or None without them) follows the\n"
     "database.\n"
     "\n"
     "Returns RunId."},
    {"run_fork", M(op_run_fork), FAST,
     "run_fork($self, parent, at_version=0, *, id=None, tenant=None, app=None, agent=None, "
     "tags=(), history=None, history_ms=None, history_versions=None)\n"
     "--\n"
     "\n"
     "Forks a run: begins a new run (options as run_begin, its parent set to\n"
     "`parent`) that starts with parent's data in every primitive as of commit\n"
     "at_version (0: the snapshot: now, or the transaction's), then diverges both\n"
     "ways. Nothing is copied: the fork reads what it never wrote from its parent.\n"
     "While a fork lives its parent keeps every version since at_version and\n"
     "cannot be deleted (MisuseError). Raises HistoryError if the parent's history\n"
     "does not reach at_version. Returns the fork's id.\n"
     "\n"
     "Returns RunId."},
    {"run_replay", M(op_run_replay), FAST,
     "run_replay($self, run, after=0)\n"
     "--\n"
     "\n"
     "A run's committed transactions in commit order, after the version `after`\n"
     "(0: from the start) up to the snapshot, each a ReplayCommit(version, time_ms,\n"
     "changes) with every write of the run (KV, events, state cells, spans, the\n"
     "run's metadata): a change feed; resume from the last version seen. Raises\n"
     "HistoryError at once if the retained history no longer holds every version\n"
     "after `after`. On a Transaction it reads that snapshot (TransactionDone once\n"
     "it has ended); on a Database it reads 128 commits a page, each page in a\n"
     "read-only transaction of its own resuming after the last version returned,\n"
     "so commits made meanwhile show too.\n"
     "\n"
     "Returns Iterator[ReplayCommit]."},
    {"run_end", M(op_run_end), FAST,
     "run_end($self, run, status='completed')\n"
     "--\n"
     "\n"
     "Moves a run to 'completed', 'failed' or 'cancelled' (from active), or to\n"
     "'archived' (from those). Raises MisuseError for any other transition,\n"
     "NotFound for a missing run.\n"
     "\n"
     "Returns None."},
    {"run_get", M(op_run_get), FAST,
     "run_get($self, run)\n"
     "--\n"
     "\n"
     "A run's metadata; raises NotFound if there is no such run.\n"
     "\n"
     "Returns RunInfo."},
    {"run_list", M(op_run_list), FAST,
     "run_list($self, *, status=None, tag=None, parent=None, tenant=None, app=None, agent=None, "
     "after=None, limit=None)\n"
     "--\n"
     "\n"
     "Runs matching every given filter, newest first, after the cursor id `after`.\n"
     "parent= inmem.SHARED lists the runs without a parent (parent=None: any).\n"
     "\n"
     "Returns Iterator[RunId]."},
    {"run_children", M(op_run_children), FAST,
     "run_children($self, run, after=None, limit=None)\n"
     "--\n"
     "\n"
     "The runs whose parent is run, newest first.\n"
     "\n"
     "Returns Iterator[RunId]."},
    {"run_list_stored", M(op_run_list_stored), FAST,
     "run_list_stored($self, after=None, limit=None)\n"
     "--\n"
     "\n"
     "Every run id under which data is stored, begun with run_begin() or not, in\n"
     "ascending order (the shared scope is not listed). What tools that cover a\n"
     "whole database (dump, verify) iterate.\n"
     "\n"
     "Returns Iterator[RunId]."},
    {"run_delete", M(op_run_delete), FAST,
     "run_delete($self, run)\n"
     "--\n"
     "\n"
     "Deletes a run and all of its data (KV, events, state cells, traces,\n"
     "metadata) in one transaction. Raises NotFound for a missing run.\n"
     "\n"
     "Returns None."},
    {"event_append", M(op_event_append), FAST,
     "event_append($self, stream, type, payload=b'', run=None)\n"
     "--\n"
     "\n"
     "Appends an event to a run's stream; returns its sequence number (dense from\n"
     "1). Concurrent appenders to one stream conflict; standalone, the library\n"
     "retries.\n"
     "\n"
     "Returns int."},
    {"event_append_json", M(op_event_append_json), FAST,
     "event_append_json($self, stream, type, obj, run=None)\n"
     "--\n"
     "\n"
     "event_append() of json.dumps(obj).\n"
     "\n"
     "Returns int."},
    {"event_append_batch", M(op_event_append_batch), FAST,
     "event_append_batch($self, stream, events, run=None)\n"
     "--\n"
     "\n"
     "Appends (type, payload) pairs with consecutive numbers, all or none; returns\n"
     "the first (0 if events is empty).\n"
     "\n"
     "Returns int."},
    {"event_get", M(op_event_get), FAST,
     "event_get($self, stream, seq, run=None)\n"
     "--\n"
     "\n"
     "One event; raises NotFound if there is none.\n"
     "\n"
     "Returns Event."},
    {"event_range", M(op_event_range), FAST,
     "event_range($self, stream, from_seq=1, to_seq=None, run=None, *, backward=False, "
     "limit=None)\n"
     "--\n"
     "\n"
     "Events with from_seq <= seq <= to_seq (None: to the end), oldest first, or\n"
     "newest first with backward=True.\n"
     "\n"
     "Returns Iterator[Event]."},
    {"event_range_time", M(op_event_range_time), FAST,
     "event_range_time($self, stream, from_ms=0, to_ms=None, run=None, *, limit=None)\n"
     "--\n"
     "\n"
     "Events with from_ms <= time_ms < to_ms (None: no upper bound), oldest first.\n"
     "\n"
     "Returns Iterator[Event]."},
    {"stream_info", M(op_stream_info), FAST,
     "stream_info($self, stream, run=None)\n"
     "--\n"
     "\n"
     "Length (last seq), head hash, first and last time, in O(1). A stream never\n"
     "written has length 0.\n"
     "\n"
     "Returns StreamInfo."},
    {"streams", M(op_streams), FAST,
     "streams($self, run=None, after=None, limit=None)\n"
     "--\n"
     "\n"
     "The run's stream names in order, after the cursor name `after`.\n"
     "\n"
     "Returns Iterator[str]."},
    {"event_verify", M(op_event_verify), FAST,
     "event_verify($self, stream, run=None)\n"
     "--\n"
     "\n"
     "Recomputes the stream's hash chain: 0 if every event checks, else the first\n"
     "sequence number that is missing, altered or out of place.\n"
     "\n"
     "Returns int."},
    {"state_get", M(op_state_get), FAST,
     "state_get($self, name, run=None)\n"
     "--\n"
     "\n"
     "A state cell's value and version, or None.\n"
     "\n"
     "Returns Cell | None."},
    {"state_get_json", M(op_state_get_json), FAST,
     "state_get_json($self, name, run=None)\n"
     "--\n"
     "\n"
     "A cell's value decoded as JSON, or None.\n"
     "\n"
     "Returns object | None."},
    {"state_set", M(op_state_set), FAST,
     "state_set($self, name, value, run=None)\n"
     "--\n"
     "\n"
     "Sets a cell unconditionally (standalone: returns the commit's version; in a\n"
     "transaction: None).\n"
     "\n"
     "Returns int | None."},
    {"state_set_json", M(op_state_set_json), FAST,
     "state_set_json($self, name, obj, run=None)\n"
     "--\n"
     "\n"
     "state_set() of json.dumps(obj).\n"
     "\n"
     "Returns int | None."},
    {"state_cas", M(op_state_cas), FAST,
     "state_cas($self, name, expected_version, value, run=None)\n"
     "--\n"
     "\n"
     "Sets a cell if its version is expected_version (0: only if it does not\n"
     "exist). In a transaction it is checked at commit; standalone it raises\n"
     "ConflictError at once (not retried).\n"
     "\n"
     "Returns int | None."},
    {"state_cas_value", M(op_state_cas_value), FAST,
     "state_cas_value($self, name, expected, value, run=None)\n"
     "--\n"
     "\n"
     "Sets a cell if its current value equals expected (None: the cell must not\n"
     "exist); raises ConflictError otherwise. The claim-a-task primitive.\n"
     "\n"
     "Returns int | None."},
    {"state_list", M(op_state_list), FAST,
     "state_list($self, run=None, after=None, limit=None)\n"
     "--\n"
     "\n"
     "A run's cells in name order, after the cursor name `after`.\n"
     "\n"
     "Returns Iterator[StateEntry]."},
    {"state_history", M(op_state_history), FAST,
     "state_history($self, name, run=None, *, before=None, limit=None)\n"
     "--\n"
     "\n"
     "The versions of a state cell, newest first, as history() gives a key's.\n"
     "\n"
     "Returns Iterator[VersionInfo]."},
    {"trace_record", M(op_trace_record), FAST,
     "trace_record($self, kind, name, run=None, *, input=b'', output=b'', parent=None, "
     "confidence=None, start_ms=0, duration_us=0, tags=(), id=None)\n"
     "--\n"
     "\n"
     "Records a span: kind is 'tool_call', 'decision', 'query', 'thought', 'error'\n"
     "or 'custom'; start_ms 0 means now; returns the span's id (a new one unless\n"
     "`id` is given).\n"
     "\n"
     "Returns RunId."},
    {"trace_get", M(op_trace_get), FAST,
     "trace_get($self, span, run=None)\n"
     "--\n"
     "\n"
     "One span; raises NotFound if the run has none with that id.\n"
     "\n"
     "Returns Span."},
    {"trace_query", M(op_trace_query), FAST,
     "trace_query($self, run=None, *, kind=None, parent=None, tag=None, from_ms=0, to_ms=None, "
     "after=None, limit=None)\n"
     "--\n"
     "\n"
     "Spans matching every given filter, by start time then id, after the cursor\n"
     "span `after`. parent=inmem.SHARED gives the root spans.\n"
     "\n"
     "Returns Iterator[Span]."},
    {"trace_tree", M(op_trace_tree), FAST,
     "trace_tree($self, root, run=None, limit=None)\n"
     "--\n"
     "\n"
     "The span `root`, then its descendants depth-first in start order (all of\n"
     "them unless limit is given).\n"
     "\n"
     "Returns list[Span]."},
    {NULL, NULL, 0, NULL},
};

static PyObject *op_db_scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    return pager_new(self, PG_SCAN, args, nargs, kwnames);
}

static PyObject *op_db_scan_prefix(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    return pager_new(self, PG_SCAN_PREFIX, args, nargs, kwnames);
}

PyMethodDef op_methods_db[] = {
    {"scan", M(op_db_scan), FAST,
     "scan($self, start=None, end=None, run=None)\n"
     "--\n"
     "\n"
     "The keys k of run with start <= k < end in byte order (None: from the first,\n"
     "to the last), as KVEntry records. Read page by page, each page in a\n"
     "read-only transaction of its own (use Transaction.scan for one snapshot).\n"
     "\n"
     "Returns Iterator[KVEntry]."},
    {"scan_prefix", M(op_db_scan_prefix), FAST,
     "scan_prefix($self, prefix=b'', run=None)\n"
     "--\n"
     "\n"
     "The keys beginning with prefix, page by page like scan().\n"
     "\n"
     "Returns Iterator[KVEntry]."},
    {NULL, NULL, 0, NULL},
};

PyMethodDef op_methods_tx[] = {
    {NULL, NULL, 0, NULL},
};
