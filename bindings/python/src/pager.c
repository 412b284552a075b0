/*
 * pager.c — iterators that read a list page by page: KV list, runs, stream names, event ranges
 * (by seq and by time), state cells, trace queries, and the history of a key or a state cell
 * (newest first: the cursor is the last version returned, passed as `before`).
 *
 * Each page (up to PAGE records) is read with the library's cursor-taking call and copied into
 * Python objects at once; the next page starts after the last record returned (its key, id, name
 * or seq). On a Transaction every page reads that transaction (one snapshot), and every next()
 * checks that it is still active, raising TransactionDone once it has ended. On a Database each
 * page is read in a short read-only transaction of its own, so an iterator holds no snapshot
 * between pages (records committed meanwhile may appear in later pages, as with any cursor) and
 * never keeps the database from closing.
 *
 * A time range continues by sequence number: times never decrease within a stream, so after a
 * first page found by time, the rest is the events after the last seq until one at or past to_ms.
 */
#include "pyinmem.h"

#include <string.h>

#define PAGE 128

typedef struct PagerObject {
    PyObject_HEAD PyObject *owner; /* DbObject or TxObject */
    enum pager_kind kind;
    PyObject *page; /* list of the current page's records */
    Py_ssize_t pos;
    int more;         /* another page may follow */
    int fetching;     /* a page is being read (a finalizer must not read another into buf) */
    size_t remaining; /* records the caller's limit still allows */
    inmem_run_id run;
    int has_run;
    /* cursor: the last record returned */
    int has_cursor;
    inmem_run_id cursor_id;
    PyObject *cursor_key; /* bytes (KV) */
    char cursor_name[INMEM_NAME_MAX];
    uint64_t cursor_seq;
    /* parameters */
    char name[INMEM_NAME_MAX]; /* the stream */
    PyObject *prefix;          /* bytes (KV list and scans: the prefix, or the scan's start) */
    PyObject *end;             /* bytes (KV scan's end), or NULL */
    char *tag, *tenant, *app, *agent;
    int status, trace_kind, backward;
    inmem_run_id parent;
    int has_parent;
    uint64_t from, to; /* seq or ms bounds */
    void *buf;         /* PAGE records of the library's struct */
} PagerObject;

static char *dup_name(PyObject *o, const char *what, int *err)
{
    const char *s;
    *err = 0;
    if (get_opt_name(o, &s, what) < 0) {
        *err = 1;
        return NULL;
    }
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = PyMem_Malloc(n);
    if (!d) {
        PyErr_NoMemory();
        *err = 1;
        return NULL;
    }
    memcpy(d, s, n);
    return d;
}

static int name_into(char *dst, PyObject *o, const char *what)
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

static int set_run(PagerObject *p, PyObject *o)
{
    inmem_run_id rb;
    const inmem_run_id *r;
    if (get_run(o, &rb, &r, "run") < 0)
        return -1;
    p->has_run = r != NULL;
    if (r)
        p->run = *r;
    return 0;
}

static const inmem_run_id *run_of(PagerObject *p)
{
    return p->has_run ? &p->run : NULL;
}

static size_t record_size(enum pager_kind k)
{
    switch (k) {
    case PG_KV_LIST:
    case PG_SCAN:
    case PG_SCAN_PREFIX:
        return sizeof(inmem_kv_entry);
    case PG_RUN_LIST:
    case PG_RUN_STORED:
        return sizeof(inmem_run_id);
    case PG_STREAMS:
        return INMEM_NAME_MAX;
    case PG_EVENTS:
    case PG_EVENTS_TIME:
        return sizeof(inmem_event);
    case PG_STATE_LIST:
        return sizeof(inmem_state_entry);
    case PG_TRACE_QUERY:
        return sizeof(inmem_span);
    case PG_KV_HISTORY:
    case PG_STATE_HISTORY:
        return sizeof(inmem_version_info);
    }
    return 0;
}

/* Parses the arguments of each kind into @p p. */
static int pager_parse(PagerObject *p, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[8];
    int err = 0;
    switch (p->kind) {
    case PG_KV_LIST: {
        ARGSPEC(spec, "list", 4, 0, "prefix", "run", "after", "limit");
        if (parse_args(&spec, args, nargs, kwnames, a) < 0 || set_run(p, a[1]) < 0 ||
            get_limit(a[3], &p->remaining) < 0)
            return -1;
        bytesarg b;
        if (a[0] && a[0] != Py_None) {
            if (get_bytes(a[0], &b, "prefix") < 0)
                return -1;
            p->prefix = bytes_of(b.p, b.n);
            release_bytes(&b);
            if (!p->prefix)
                return -1;
        }
        if (a[2] && a[2] != Py_None) {
            if (get_bytes(a[2], &b, "after") < 0)
                return -1;
            p->cursor_key = bytes_of(b.p, b.n);
            release_bytes(&b);
            if (!p->cursor_key)
                return -1;
            p->has_cursor = 1;
        }
        return 0;
    }
    case PG_RUN_LIST: {
        ARGSPEC(spec, "run_list", 0, 0, "status", "tag", "parent", "tenant", "app", "agent",
                "after", "limit");
        if (parse_args(&spec, args, nargs, kwnames, a) < 0 || get_limit(a[7], &p->remaining) < 0)
            return -1;
        if (a[0] && a[0] != Py_None && parse_run_status(a[0], &p->status) < 0)
            return -1;
        if (a[2] && a[2] != Py_None) {
            if (get_id(a[2], &p->parent, "parent") < 0)
                return -1;
            p->has_parent = 1;
        }
        if (a[6] && a[6] != Py_None) {
            if (get_id(a[6], &p->cursor_id, "after") < 0)
                return -1;
            p->has_cursor = 1;
        }
        p->tag = dup_name(a[1], "tag", &err);
        if (!err)
            p->tenant = dup_name(a[3], "tenant", &err);
        if (!err)
            p->app = dup_name(a[4], "app", &err);
        if (!err)
            p->agent = dup_name(a[5], "agent", &err);
        return err ? -1 : 0;
    }
    case PG_SCAN:
    case PG_SCAN_PREFIX: {
        ARGSPEC(spec_scan, "scan", 3, 0, "start", "end", "run");
        ARGSPEC(spec_prefix, "scan_prefix", 2, 0, "prefix", "run");
        int pre = p->kind == PG_SCAN_PREFIX;
        if (parse_args(pre ? &spec_prefix : &spec_scan, args, nargs, kwnames, a) < 0 ||
            set_run(p, pre ? a[1] : a[2]) < 0)
            return -1;
        p->remaining = SIZE_MAX;
        bytesarg b;
        for (int i = 0; i < (pre ? 1 : 2); i++) {
            if (!a[i] || a[i] == Py_None)
                continue;
            if (get_bytes(a[i], &b, i ? "end" : pre ? "prefix" : "start") < 0)
                return -1;
            PyObject *o = bytes_of(b.p, b.n);
            release_bytes(&b);
            if (!o)
                return -1;
            if (i)
                p->end = o;
            else
                p->prefix = o;
        }
        return 0;
    }
    case PG_RUN_STORED: {
        ARGSPEC(spec, "run_list_stored", 2, 0, "after", "limit");
        if (parse_args(&spec, args, nargs, kwnames, a) < 0 || get_limit(a[1], &p->remaining) < 0)
            return -1;
        if (a[0] && a[0] != Py_None) {
            if (get_id(a[0], &p->cursor_id, "after") < 0)
                return -1;
            p->has_cursor = 1;
        }
        return 0;
    }
    case PG_STREAMS: {
        ARGSPEC(spec, "streams", 3, 0, "run", "after", "limit");
        if (parse_args(&spec, args, nargs, kwnames, a) < 0 || set_run(p, a[0]) < 0 ||
            get_limit(a[2], &p->remaining) < 0)
            return -1;
        if (a[1] && a[1] != Py_None) {
            if (name_into(p->cursor_name, a[1], "after") < 0)
                return -1;
            p->has_cursor = 1;
        }
        return 0;
    }
    case PG_EVENTS: {
        ARGSPEC(spec, "event_range", 4, 1, "stream", "from_seq", "to_seq", "run", "backward",
                "limit");
        if (parse_args(&spec, args, nargs, kwnames, a) < 0 ||
            name_into(p->name, a[0], "stream") < 0 || get_u64(a[1], 1, &p->from, "from_seq") < 0 ||
            get_u64(a[2], 0, &p->to, "to_seq") < 0 || set_run(p, a[3]) < 0 ||
            get_bool(a[4], 0, &p->backward) < 0 || get_limit(a[5], &p->remaining) < 0)
            return -1;
        if (p->from == 0)
            p->from = 1;
        if (p->to && p->to < p->from)
            p->more = 0;
        return 0;
    }
    case PG_EVENTS_TIME: {
        ARGSPEC(spec, "event_range_time", 4, 1, "stream", "from_ms", "to_ms", "run", "limit");
        if (parse_args(&spec, args, nargs, kwnames, a) < 0 ||
            name_into(p->name, a[0], "stream") < 0 || get_u64(a[1], 0, &p->from, "from_ms") < 0 ||
            get_u64(a[2], 0, &p->to, "to_ms") < 0 || set_run(p, a[3]) < 0 ||
            get_limit(a[4], &p->remaining) < 0)
            return -1;
        return 0;
    }
    case PG_STATE_LIST: {
        ARGSPEC(spec, "state_list", 3, 0, "run", "after", "limit");
        if (parse_args(&spec, args, nargs, kwnames, a) < 0 || set_run(p, a[0]) < 0 ||
            get_limit(a[2], &p->remaining) < 0)
            return -1;
        if (a[1] && a[1] != Py_None) {
            if (name_into(p->cursor_name, a[1], "after") < 0)
                return -1;
            p->has_cursor = 1;
        }
        return 0;
    }
    case PG_TRACE_QUERY: {
        ARGSPEC(spec, "trace_query", 1, 0, "run", "kind", "parent", "tag", "from_ms", "to_ms",
                "after", "limit");
        if (parse_args(&spec, args, nargs, kwnames, a) < 0 || set_run(p, a[0]) < 0 ||
            get_u64(a[4], 0, &p->from, "from_ms") < 0 || get_u64(a[5], 0, &p->to, "to_ms") < 0 ||
            get_limit(a[7], &p->remaining) < 0)
            return -1;
        if (a[1] && a[1] != Py_None && parse_trace_kind(a[1], &p->trace_kind) < 0)
            return -1;
        if (a[2] && a[2] != Py_None) {
            if (get_id(a[2], &p->parent, "parent") < 0)
                return -1;
            p->has_parent = 1;
        }
        if (a[6] && a[6] != Py_None) {
            if (get_id(a[6], &p->cursor_id, "after") < 0)
                return -1;
            p->has_cursor = 1;
        }
        p->tag = dup_name(a[3], "tag", &err);
        return err ? -1 : 0;
    }
    case PG_KV_HISTORY:
    case PG_STATE_HISTORY: {
        ARGSPEC(spec_kv, "history", 2, 1, "key", "run", "before", "limit");
        ARGSPEC(spec_state, "state_history", 2, 1, "name", "run", "before", "limit");
        int kv = p->kind == PG_KV_HISTORY;
        if (parse_args(kv ? &spec_kv : &spec_state, args, nargs, kwnames, a) < 0 ||
            set_run(p, a[1]) < 0 || get_u64(a[2], 0, &p->from, "before") < 0 ||
            get_limit(a[3], &p->remaining) < 0)
            return -1;
        if (!kv)
            return name_into(p->name, a[0], "name");
        bytesarg b;
        if (get_bytes(a[0], &b, "key") < 0)
            return -1;
        p->prefix = bytes_of(b.p, b.n);
        release_bytes(&b);
        return p->prefix ? 0 : -1;
    }
    }
    return -1;
}

PyObject *pager_new(PyObject *owner, enum pager_kind kind, PyObject *const *args, Py_ssize_t nargs,
                    PyObject *kwnames)
{
    opctx c;
    if (ctx_from(owner, &c, 0) < 0)
        return NULL;
    PagerObject *p = PyObject_New(PagerObject, &PagerType);
    if (!p)
        return NULL;
    /* everything after PyObject_HEAD starts zeroed */
    memset((char *)p + sizeof(PyObject), 0, sizeof *p - sizeof(PyObject));
    p->owner = Py_NewRef(owner);
    p->kind = kind;
    p->more = 1;
    if (pager_parse(p, args, nargs, kwnames) < 0) {
        Py_DECREF(p);
        return NULL;
    }
    if (p->remaining == 0)
        p->more = 0;
    return (PyObject *)p;
}

/* Reads the next page into p->page. 0, or -1 with an exception. */
static int fetch(PagerObject *p, inmem_txn *txn)
{
    size_t want = p->remaining < PAGE ? p->remaining : PAGE, n = 0;
    if (!p->buf && !(p->buf = PyMem_Malloc(PAGE * record_size(p->kind)))) {
        PyErr_NoMemory();
        return -1;
    }
    const inmem_run_id *run = run_of(p);
    int rc = 0;
    const char *what = "";
    switch (p->kind) {
    case PG_KV_LIST: {
        what = "list";
        const char *pre = p->prefix ? PyBytes_AS_STRING(p->prefix) : NULL;
        size_t plen = p->prefix ? (size_t)PyBytes_GET_SIZE(p->prefix) : 0;
        const char *aft = p->has_cursor ? PyBytes_AS_STRING(p->cursor_key) : NULL;
        size_t alen = p->has_cursor ? (size_t)PyBytes_GET_SIZE(p->cursor_key) : 0;
        rc = inmem_kv_list(txn, run, pre, plen, aft, alen, want, p->buf, &n);
        break;
    }
    case PG_RUN_LIST: {
        what = "run_list";
        inmem_run_filter f = {(inmem_run_status)p->status,
                              p->tag,
                              p->has_parent ? &p->parent : NULL,
                              p->tenant,
                              p->app,
                              p->agent};
        rc = inmem_run_list(txn, &f, p->has_cursor ? &p->cursor_id : NULL, want, p->buf, &n);
        break;
    }
    case PG_SCAN:
    case PG_SCAN_PREFIX: {
        /* a page: the scan from the last key returned (inclusive, so that a key longer than any
         * successor could be still works), skipping that key itself if it is still there */
        what = p->kind == PG_SCAN ? "scan" : "scan_prefix";
        inmem_iter *it = NULL;
        const char *st = p->has_cursor ? PyBytes_AS_STRING(p->cursor_key)
                         : p->prefix   ? PyBytes_AS_STRING(p->prefix)
                                       : NULL;
        size_t sl = p->has_cursor ? (size_t)PyBytes_GET_SIZE(p->cursor_key)
                    : p->prefix   ? (size_t)PyBytes_GET_SIZE(p->prefix)
                                  : 0;
        if (p->kind == PG_SCAN_PREFIX && !p->has_cursor)
            rc = inmem_kv_scan_prefix(txn, run, st, sl, &it);
        else if (p->kind == PG_SCAN_PREFIX)
            rc = inmem_kv_scan(txn, run, st, sl, NULL, 0, &it);
        else
            rc = inmem_kv_scan(txn, run, st, sl, p->end ? PyBytes_AS_STRING(p->end) : NULL,
                               p->end ? (size_t)PyBytes_GET_SIZE(p->end) : 0, &it);
        inmem_kv_entry *out = p->buf;
        const char *pre = p->prefix ? PyBytes_AS_STRING(p->prefix) : "";
        size_t pl = p->prefix ? (size_t)PyBytes_GET_SIZE(p->prefix) : 0;
        while (rc == 0 && n < want) {
            inmem_kv_entry *e = &out[n];
            rc = inmem_iter_next(it, &e->key, &e->klen, &e->val, &e->vlen, &e->version);
            if (rc)
                break;
            if (p->has_cursor && n == 0 && e->klen == sl && memcmp(e->key, st, sl) == 0)
                continue; /* the previous page's last key */
            if (p->kind == PG_SCAN_PREFIX && (e->klen < pl || memcmp(e->key, pre, pl) != 0)) {
                rc = INMEM_NOTFOUND; /* past the prefix */
                break;
            }
            n++;
        }
        if (rc == INMEM_NOTFOUND)
            rc = 0; /* the end: n < want, so this short page is the last */
        inmem_iter_free(it);
        break;
    }
    case PG_RUN_STORED:
        what = "run_list_stored";
        rc = inmem_run_list_stored(txn, p->has_cursor ? &p->cursor_id : NULL, want, p->buf, &n);
        break;
    case PG_STREAMS:
        what = "streams";
        rc = inmem_event_streams(txn, run, p->has_cursor ? p->cursor_name : NULL, want, p->buf, &n);
        break;
    case PG_EVENTS:
        what = "event_range";
        if (!p->backward)
            rc = inmem_event_range(txn, run, p->name, p->has_cursor ? p->cursor_seq + 1 : p->from,
                                   p->to, 0, want, p->buf, &n);
        else
            rc = inmem_event_range(txn, run, p->name, p->from,
                                   p->has_cursor ? p->cursor_seq - 1 : p->to, 1, want, p->buf, &n);
        break;
    case PG_EVENTS_TIME:
        what = "event_range_time";
        if (!p->has_cursor)
            rc = inmem_event_range_time(txn, run, p->name, p->from, p->to, want, p->buf, &n);
        else
            rc = inmem_event_range(txn, run, p->name, p->cursor_seq + 1, 0, 0, want, p->buf, &n);
        break;
    case PG_STATE_LIST:
        what = "state_list";
        rc = inmem_state_list(txn, run, p->has_cursor ? p->cursor_name : NULL, want, p->buf, &n);
        break;
    case PG_TRACE_QUERY: {
        what = "trace_query";
        inmem_trace_filter f = {(inmem_trace_kind)p->trace_kind, p->has_parent ? &p->parent : NULL,
                                p->tag, p->from, p->to};
        rc =
            inmem_trace_query(txn, run, &f, p->has_cursor ? &p->cursor_id : NULL, want, p->buf, &n);
        break;
    }
    case PG_KV_HISTORY:
        what = "history";
        rc = inmem_kv_history(txn, run, PyBytes_AS_STRING(p->prefix),
                              (size_t)PyBytes_GET_SIZE(p->prefix),
                              p->has_cursor ? p->cursor_seq : p->from, want, p->buf, &n);
        break;
    case PG_STATE_HISTORY:
        what = "state_history";
        rc = inmem_state_history(txn, run, p->name, p->has_cursor ? p->cursor_seq : p->from, want,
                                 p->buf, &n);
        break;
    }
    if (rc) {
        raise_rc(rc, what);
        return -1;
    }
    PyObject *list = PyList_New(0);
    if (!list)
        return -1;
    /* a short page is the last; a history page may be short with more behind it (the library
     * promises only that 0 means the end) */
    int stop = p->kind == PG_KV_HISTORY || p->kind == PG_STATE_HISTORY ? n == 0 : n < want;
    for (size_t i = 0; i < n; i++) {
        PyObject *item = NULL;
        switch (p->kind) {
        case PG_KV_LIST:
        case PG_SCAN:
        case PG_SCAN_PREFIX: {
            inmem_kv_entry *e = (inmem_kv_entry *)p->buf + i;
            item = make_kv_entry(e->key, e->klen, e->val, e->vlen, e->version);
            if (item && i == n - 1) {
                Py_XSETREF(p->cursor_key, Py_NewRef(PyStructSequence_GET_ITEM(item, 0)));
                p->has_cursor = 1;
            }
            break;
        }
        case PG_RUN_LIST:
        case PG_RUN_STORED: {
            inmem_run_id *id = (inmem_run_id *)p->buf + i;
            item = runid_new(id);
            p->cursor_id = *id;
            p->has_cursor = 1;
            break;
        }
        case PG_STREAMS: {
            const char *nm = (const char *)p->buf + i * INMEM_NAME_MAX;
            item = str_of(nm);
            memcpy(p->cursor_name, nm, INMEM_NAME_MAX);
            p->has_cursor = 1;
            break;
        }
        case PG_EVENTS:
        case PG_EVENTS_TIME: {
            inmem_event *e = (inmem_event *)p->buf + i;
            if (p->kind == PG_EVENTS_TIME && p->to && e->time_ms >= p->to) {
                stop = 1; /* past the time range (a continuation page) */
                break;
            }
            item = make_event(e);
            p->cursor_seq = e->seq;
            p->has_cursor = 1;
            break;
        }
        case PG_STATE_LIST: {
            inmem_state_entry *e = (inmem_state_entry *)p->buf + i;
            PyObject *vals[3] = {str_of(e->name), bytes_of(e->val, e->len), u64(e->version)};
            if (vals[0] && vals[1] && vals[2] && (item = PyStructSequence_New(StateEntryType))) {
                for (int j = 0; j < 3; j++)
                    PyStructSequence_SET_ITEM(item, j, vals[j]);
            } else {
                for (int j = 0; j < 3; j++)
                    Py_XDECREF(vals[j]);
            }
            memcpy(p->cursor_name, e->name, INMEM_NAME_MAX);
            p->has_cursor = 1;
            break;
        }
        case PG_TRACE_QUERY: {
            inmem_span *s = (inmem_span *)p->buf + i;
            item = make_span(s);
            p->cursor_id = s->id;
            p->has_cursor = 1;
            break;
        }
        case PG_KV_HISTORY:
        case PG_STATE_HISTORY: {
            inmem_version_info *h = (inmem_version_info *)p->buf + i;
            item = make_version_info(h);
            p->cursor_seq = h->version;
            p->has_cursor = 1;
            break;
        }
        }
        if (stop && !item && !PyErr_Occurred())
            break;
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return -1;
        }
        Py_DECREF(item);
    }
    /* a backward range ends at seq 1; a forward one at to_seq */
    if (p->kind == PG_EVENTS && p->has_cursor &&
        (p->backward ? p->cursor_seq <= p->from : (p->to && p->cursor_seq >= p->to)))
        stop = 1;
    p->remaining -= (size_t)PyList_GET_SIZE(list);
    if (stop || p->remaining == 0)
        p->more = 0;
    Py_XSETREF(p->page, list);
    p->pos = 0;
    return 0;
}

static PyObject *pager_next(PyObject *op)
{
    PagerObject *p = (PagerObject *)op;
    opctx c;
    if (p->fetching) {
        raise_misuse("the iterator is reading a page (a finalizer run by the garbage collector "
                     "cannot use it)");
        return NULL;
    }
    if (!p->page || p->pos >= PyList_GET_SIZE(p->page)) {
        if (!p->more)
            return NULL;
        if (ctx_from(p->owner, &c, 0) < 0) {
            if (!Py_IS_TYPE(p->owner, &TxType) || !((TxObject *)p->owner)->txn)
                p->more = 0; /* ended, or the database closed; only busy: the next call goes on */
            return NULL;
        }
        if (ctx_need_txn(&c) < 0)
            return NULL;
        p->fetching = 1;
        int rc = fetch(p, ctx_txn(&c));
        p->fetching = 0;
        ctx_done(&c);
        if (rc < 0) {
            p->more = 0;
            return NULL;
        }
        if (PyList_GET_SIZE(p->page) == 0) {
            p->more = 0;
            return NULL;
        }
    } else if (Py_IS_TYPE(p->owner, &TxType) && ctx_from(p->owner, &c, 0) < 0) {
        return NULL; /* the transaction ended: its records are not served any more */
    }
    return Py_NewRef(PyList_GET_ITEM(p->page, p->pos++));
}

static void pager_dealloc(PyObject *op)
{
    PagerObject *p = (PagerObject *)op;
    Py_CLEAR(p->owner);
    Py_CLEAR(p->page);
    Py_CLEAR(p->cursor_key);
    Py_CLEAR(p->prefix);
    Py_CLEAR(p->end);
    PyMem_Free(p->tag);
    PyMem_Free(p->tenant);
    PyMem_Free(p->app);
    PyMem_Free(p->agent);
    PyMem_Free(p->buf);
    PyObject_Free(op);
}

PyTypeObject PagerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "inmem.PageIterator",
    .tp_basicsize = sizeof(PagerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An iterator that reads a list page by page (128 records a page). Records are\n"
              "copies. Over a Transaction it reads that transaction's snapshot and raises\n"
              "TransactionDone once the transaction has ended; over a Database each page is a\n"
              "read-only transaction of its own.",
    .tp_dealloc = pager_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = pager_next,
};
