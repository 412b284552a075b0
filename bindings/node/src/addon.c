/*
 * addon.c — the module: error objects, argument conversion, database handles (open, close,
 * stats, recovery), the process-wide table of shared databases, and the implicit operations
 * (one-operation transactions). See addon.h for the handles and their lifetimes.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addon.h"

/* ---- per-environment data (each worker thread has its own) ------------------------------- */

typedef struct env_data {
    napi_ref factory; /* (code, name, message, details, extra) => InmemError */
} env_data;

static void env_data_free(napi_env env, void *data, void *hint)
{
    (void)hint;
    env_data *ed = data;
    if (ed->factory)
        napi_delete_reference(env, ed->factory);
    free(ed);
}

static env_data *get_env_data(napi_env env)
{
    void *p = NULL;
    napi_get_instance_data(env, &p);
    return p;
}

/* ---- errors -------------------------------------------------------------------------------- */

/* Whether the library's last message on this thread describes @p rc: "<strerror>: <details>"
 * (a call that fails sets it; one that fails without a message leaves an older one, which must
 * not be shown with another error). Every code's details are kept, as the Python binding's. */
int rc_has_details(int rc)
{
    const char *msg = inmem_strerror(rc), *em = inmem_errmsg();
    size_t ml = strlen(msg);
    return em && strncmp(em, msg, ml) == 0 && em[ml] == ':' && em[ml + 1] == ' ';
}

void take_details(int rc, char *buf, size_t len)
{
    if (len)
        snprintf(buf, len, "%s", rc_has_details(rc) ? errmsg_details(rc) : "");
    inmem_errmsg_clear(); /* used: a later error without a message must not get this one's */
}

const char *errmsg_details(int rc)
{
    const char *msg = inmem_strerror(rc);
    const char *em = inmem_errmsg();
    /* inmem_errmsg() is "<strerror>: <details>"; keep the details part. */
    size_t ml = strlen(msg);
    if (em && strncmp(em, msg, ml) == 0 && em[ml] == ':' && em[ml + 1] == ' ')
        return em + ml + 2;
    return em ? em : "";
}

napi_value throw_rc(napi_env env, int rc, const char *details, napi_value extra)
{
    const char *msg = inmem_strerror(rc);
    const char *det = details;
    if (!det && rc_has_details(rc))
        det = errmsg_details(rc);
    char full[1024];
    if (det && *det)
        snprintf(full, sizeof(full), "%s: %s", msg, det);
    else
        snprintf(full, sizeof(full), "%s", msg);

    env_data *ed = get_env_data(env);
    napi_value fn = NULL;
    if (ed && ed->factory)
        napi_get_reference_value(env, ed->factory, &fn);
    if (!fn) {
        inmem_errmsg_clear();
        napi_throw_error(env, inmem_errname(rc), full);
        return NULL;
    }
    napi_value args[5], global, err;
    napi_create_int32(env, rc, &args[0]);
    args[1] = mk_str(env, inmem_errname(rc));
    args[2] = mk_str(env, full);
    args[3] = det ? mk_str(env, det) : mk_undef(env);
    args[4] = extra ? extra : mk_undef(env);
    inmem_errmsg_clear(); /* used: a later error without a message must not get this one's */
    napi_get_global(env, &global);
    if (napi_call_function(env, global, fn, 5, args, &err) != napi_ok)
        return NULL; /* the factory threw: that exception is pending */
    napi_throw(env, err);
    return NULL;
}

napi_value throw_msg(napi_env env, int rc, const char *msg)
{
    return throw_rc(env, rc, msg, NULL);
}

static napi_value set_error_factory(napi_env env, napi_callback_info info)
{
    ARGS(1);
    napi_valuetype t;
    napi_typeof(env, argv[0], &t);
    if (t != napi_function)
        return throw_msg(env, INMEM_EINVAL, "setErrorFactory: a function is required");
    env_data *ed = get_env_data(env);
    if (ed->factory)
        napi_delete_reference(env, ed->factory);
    napi_create_reference(env, argv[0], 1, &ed->factory);
    return mk_undef(env);
}

/* ---- results ------------------------------------------------------------------------------- */

napi_value mk_undef(napi_env env)
{
    napi_value v;
    napi_get_undefined(env, &v);
    return v;
}

napi_value mk_null(napi_env env)
{
    napi_value v;
    napi_get_null(env, &v);
    return v;
}

napi_value mk_u64(napi_env env, uint64_t x)
{
    napi_value v;
    napi_create_double(env, (double)x, &v);
    return v;
}

napi_value mk_bigint(napi_env env, uint64_t x)
{
    napi_value v;
    napi_create_bigint_uint64(env, x, &v);
    return v;
}

napi_value mk_bool(napi_env env, int x)
{
    napi_value v;
    napi_get_boolean(env, x != 0, &v);
    return v;
}

napi_value mk_str(napi_env env, const char *s)
{
    napi_value v;
    napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
    return v;
}

napi_value mk_buf(napi_env env, const void *p, size_t n)
{
    napi_value v;
    void *data;
    if (napi_create_buffer_copy(env, n, n ? p : "", &data, &v) != napi_ok)
        return mk_undef(env);
    return v;
}

napi_value mk_run(napi_env env, const inmem_run_id *id)
{
    char s[INMEM_RUN_ID_STRLEN + 1];
    inmem_run_id_format(id, s);
    napi_value v;
    napi_create_string_latin1(env, s, INMEM_RUN_ID_STRLEN, &v);
    return v;
}

napi_value mk_obj(napi_env env)
{
    napi_value v;
    napi_create_object(env, &v);
    return v;
}

napi_value mk_arr(napi_env env, size_t n)
{
    napi_value v;
    napi_create_array_with_length(env, n, &v);
    return v;
}

/* Defined as an own data property rather than assigned: an assignment runs a setter of that
 * name inherited from Object.prototype (user code), while the caller may hold pointers borrowed
 * from a transaction that code could free. */
void set_prop(napi_env env, napi_value obj, const char *name, napi_value v)
{
    napi_property_descriptor pd = {.utf8name = name,
                                   .value = v,
                                   .attributes =
                                       napi_writable | napi_enumerable | napi_configurable};
    napi_define_properties(env, obj, 1, &pd);
}

/* Element i of an array made here, defined as an own property for the same reason: assigning
 * it (napi_set_element) runs a setter of that index inherited from Array.prototype or
 * Object.prototype, user code that could free the handle a result is being built from. */
void set_elem(napi_env env, napi_value arr, uint32_t i, napi_value v)
{
    char name[12];
    snprintf(name, sizeof(name), "%" PRIu32, i);
    napi_property_descriptor pd = {.utf8name = name,
                                   .value = v,
                                   .attributes =
                                       napi_writable | napi_enumerable | napi_configurable};
    napi_define_properties(env, arr, 1, &pd);
}

void set_u64(napi_env env, napi_value obj, const char *name, uint64_t x)
{
    set_prop(env, obj, name, mk_u64(env, x));
}

/* ---- arguments ----------------------------------------------------------------------------- */

int is_nullish(napi_env env, napi_value v)
{
    napi_valuetype t;
    if (napi_typeof(env, v, &t) != napi_ok)
        return 1;
    return t == napi_undefined || t == napi_null;
}

napi_value get_prop(napi_env env, napi_value obj, const char *name)
{
    napi_value v;
    if (!obj || is_nullish(env, obj))
        return mk_undef(env);
    if (napi_get_named_property(env, obj, name, &v) != napi_ok)
        return NULL; /* a getter threw (or one did before): the exception is pending */
    return v;
}

static int bad_type(napi_env env, const char *what, const char *expected)
{
    char m[160];
    snprintf(m, sizeof(m), "%s must be %s", what, expected);
    throw_msg(env, INMEM_EINVAL, m);
    return -1;
}

static int string_bytes(napi_env env, napi_value v, jsbytes *b)
{
    size_t n;
    /* Try the inline buffer first: one call for the common short string. The copy never splits
     * a character: one of up to 4 bytes that does not fit ends it 1 to 4 bytes short of the
     * buffer's end, so only a copy that left room for a whole character is known complete. */
    if (napi_get_value_string_utf8(env, v, b->stack, sizeof(b->stack), &n) != napi_ok)
        return -1;
    if (n + 4 < sizeof(b->stack)) {
        b->p = b->stack;
        b->n = n;
        return 0;
    }
    if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok)
        return -1;
    b->heap = malloc(n + 1);
    if (!b->heap) {
        throw_rc(env, INMEM_ENOMEM, NULL, NULL);
        return -1;
    }
    napi_get_value_string_utf8(env, v, b->heap, n + 1, &n);
    b->p = b->heap;
    b->n = n;
    return 0;
}

int get_bytes(napi_env env, napi_value v, jsbytes *b, const char *what)
{
    b->p = NULL;
    b->n = 0;
    b->heap = NULL;
    if (!v)
        return -1; /* from get_prop(): a getter threw */
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_string)
        return string_bytes(env, v, b);
    if (t == napi_object) {
        bool is;
        napi_is_typedarray(env, v, &is);
        if (is) {
            napi_typedarray_type tt;
            size_t len, off;
            void *data;
            napi_value ab;
            napi_get_typedarray_info(env, v, &tt, &len, &data, &ab, &off);
            size_t esz = 1;
            switch (tt) {
            case napi_int16_array:
            case napi_uint16_array:
                esz = 2;
                break;
            case napi_int32_array:
            case napi_uint32_array:
            case napi_float32_array:
                esz = 4;
                break;
            case napi_float64_array:
            case napi_bigint64_array:
            case napi_biguint64_array:
                esz = 8;
                break;
            default:
                break;
            }
            b->p = data;
            b->n = len * esz;
            return 0;
        }
        napi_is_dataview(env, v, &is);
        if (is) {
            size_t len, off;
            void *data;
            napi_value ab;
            napi_get_dataview_info(env, v, &len, &data, &ab, &off);
            b->p = data;
            b->n = len;
            return 0;
        }
        napi_is_arraybuffer(env, v, &is);
        if (is) {
            void *data;
            size_t len;
            napi_get_arraybuffer_info(env, v, &data, &len);
            b->p = data;
            b->n = len;
            return 0;
        }
    }
    return bad_type(env, what, "a Buffer, a Uint8Array or a string");
}

int get_bytes_opt(napi_env env, napi_value v, jsbytes *b, const char *what)
{
    if (v && is_nullish(env, v)) {
        b->p = NULL;
        b->n = 0;
        b->heap = NULL;
        return 0;
    }
    return get_bytes(env, v, b, what);
}

int get_str(napi_env env, napi_value v, jsbytes *b, const char *what)
{
    b->p = NULL;
    b->n = 0;
    b->heap = NULL;
    if (!v)
        return -1; /* from get_prop(): a getter threw */
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t != napi_string)
        return bad_type(env, what, "a string");
    if (string_bytes(env, v, b))
        return -1;
    if (memchr(b->p, 0, b->n)) {
        jsbytes_free(b);
        char m[160];
        snprintf(m, sizeof(m), "%s must not contain a NUL character", what);
        throw_msg(env, INMEM_EINVAL, m);
        return -1;
    }
    return 0;
}

int get_str_opt(napi_env env, napi_value v, jsbytes *b, const char *what)
{
    if (v && is_nullish(env, v)) {
        b->p = NULL;
        b->n = 0;
        b->heap = NULL;
        return 0;
    }
    return get_str(env, v, b, what);
}

void jsbytes_free(jsbytes *b)
{
    free(b->heap);
    b->heap = NULL;
}

int keep_bytes(napi_env env, napi_value v, keptbytes *k, int str, const char *what)
{
    jsbytes b;
    k->p = NULL;
    k->n = 0;
    k->heap = NULL;
    if (str ? get_str(env, v, &b, what) : get_bytes(env, v, &b, what))
        return -1;
    if (b.p == b.stack) { /* a short string: on the heap, with its NUL */
        if (!(b.heap = malloc(b.n + 1))) {
            throw_rc(env, INMEM_ENOMEM, NULL, NULL);
            return -1;
        }
        memcpy(b.heap, b.stack, b.n + 1);
        b.p = b.heap;
    }
    k->p = b.p;
    k->n = b.n;
    k->heap = b.heap;
    return 0;
}

void keptbytes_free(keptbytes *k)
{
    free(k->heap);
    k->heap = NULL;
}

/* ---- arrays of arguments (batches) --------------------------------------------------------- */

int is_bytes(napi_env env, napi_value v)
{
    napi_valuetype t;
    if (napi_typeof(env, v, &t) != napi_ok)
        return 0;
    if (t == napi_string)
        return 1;
    if (t != napi_object)
        return 0;
    bool is = false;
    napi_is_typedarray(env, v, &is);
    if (!is)
        napi_is_dataview(env, v, &is);
    if (!is)
        napi_is_arraybuffer(env, v, &is);
    return is;
}

int is_object(napi_env env, napi_value v)
{
    napi_valuetype t;
    return napi_typeof(env, v, &t) == napi_ok && t == napi_object;
}

int get_elements(napi_env env, napi_value arr, uint32_t max, const char *what,
                 int (*ok)(napi_env, napi_value), const char *expected, napi_value **out,
                 uint32_t *n)
{
    *out = NULL;
    *n = 0;
    uint32_t len = 0;
    char m[200];
    if (napi_get_array_length(env, arr, &len) != napi_ok) {
        snprintf(m, sizeof(m), "%s must be an array", what);
        throw_msg(env, INMEM_EINVAL, m);
        return -1;
    }
    if (len > max) {
        snprintf(m, sizeof(m), "%s has %" PRIu32 " elements: at most %" PRIu32 " in one call", what,
                 len, max);
        throw_msg(env, INMEM_EINVAL, m);
        return -1;
    }
    napi_value *el = NULL;
    uint32_t cap = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (i == cap) { /* grown as elements come: a length alone allocates nothing */
            uint32_t nc = cap == 0 ? (len < 64 ? len : 64) : (cap > len / 2 ? len : 2 * cap);
            napi_value *g = realloc(el, (size_t)nc * sizeof(*g));
            if (!g) {
                free(el);
                throw_rc(env, INMEM_ENOMEM, NULL, NULL);
                return -1;
            }
            el = g;
            cap = nc;
        }
        if (napi_get_element(env, arr, i, &el[i]) != napi_ok) {
            free(el); /* a getter threw: its exception is pending */
            return -1;
        }
        if (!ok(env, el[i])) {
            free(el);
            snprintf(m, sizeof(m), "%s[%" PRIu32 "] must be %s", what, i, expected);
            throw_msg(env, INMEM_EINVAL, m);
            return -1;
        }
    }
    *out = el;
    *n = len;
    return 0;
}

void *read_grown(size_t limit, size_t size, grown_read_fn read, void *arg, size_t *n, int *rc)
{
    *n = 0;
    size_t room = limit < READ_ROOM_FIRST ? limit : READ_ROOM_FIRST;
    void *buf = NULL;
    for (;;) {
        void *g = realloc(buf, (room ? room : 1) * size);
        if (!g) {
            free(buf);
            *rc = INMEM_ENOMEM;
            return NULL;
        }
        buf = g;
        if ((*rc = read(arg, room, buf, n)) != 0) {
            free(buf);
            *n = 0;
            return NULL;
        }
        if (*n < room || room >= limit) /* all of it, or all the limit allows */
            return buf;
        room = room > limit / 2 ? limit : 2 * room;
    }
}

int get_run(napi_env env, napi_value v, inmem_run_id *id, const inmem_run_id **out,
            const char *what)
{
    if (!v)
        return -1; /* from get_prop(): a getter threw */
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_undefined || t == napi_null) {
        *out = NULL;
        return 0;
    }
    if (t == napi_string) {
        /* Room for the id and one more character of any size: a longer string never fits. */
        char s[INMEM_RUN_ID_STRLEN + 5];
        size_t n;
        napi_get_value_string_utf8(env, v, s, sizeof(s), &n);
        if (n != INMEM_RUN_ID_STRLEN || inmem_run_id_parse(s, id) != 0) {
            char m[160];
            snprintf(m, sizeof(m), "%s is not a run id (36 characters, 8-4-4-4-12 hex)", what);
            throw_msg(env, INMEM_EINVAL, m);
            return -1;
        }
        *out = id;
        return 0;
    }
    if (t == napi_object) {
        jsbytes b;
        if (get_bytes(env, v, &b, what) == 0 && b.n == sizeof(id->bytes)) {
            memcpy(id->bytes, b.p, sizeof(id->bytes));
            *out = id;
            return 0;
        }
        napi_value pending;
        napi_get_and_clear_last_exception(env, &pending);
    }
    bad_type(env, what, "a run id string, a 16-byte Buffer, or null for the shared scope");
    return -1;
}

int get_run_req(napi_env env, napi_value v, inmem_run_id *id, const char *what)
{
    const inmem_run_id *p;
    if (is_nullish(env, v)) {
        bad_type(env, what, "a run id");
        return -1;
    }
    return get_run(env, v, id, &p, what);
}

int get_u64(napi_env env, napi_value v, uint64_t dflt, uint64_t *out, const char *what)
{
    if (!v)
        return -1; /* from get_prop(): a getter threw */
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_undefined) {
        *out = dflt;
        return 0;
    }
    if (t == napi_number) {
        double d;
        napi_get_value_double(env, v, &d);
        if (d >= 0 && d <= 9007199254740992.0 && d == (double)(uint64_t)d) {
            *out = (uint64_t)d;
            return 0;
        }
    } else if (t == napi_bigint) {
        bool lossless;
        napi_get_value_bigint_uint64(env, v, out, &lossless);
        if (lossless)
            return 0;
    }
    return bad_type(env, what, "a non-negative integer (Number or BigInt)");
}

int get_bool(napi_env env, napi_value v, int dflt, int *out)
{
    if (!v)
        return -1; /* from get_prop(): a getter threw */
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_undefined || t == napi_null) {
        *out = dflt;
        return 0;
    }
    napi_value b;
    bool r;
    napi_coerce_to_bool(env, v, &b);
    napi_get_value_bool(env, b, &r);
    *out = r;
    return 0;
}

/* ---- handles ------------------------------------------------------------------------------- */

static const napi_type_tag TAG_DB = {0x696e6d656d2d6462ULL, 0x4e4f44452d484e44ULL};
static const napi_type_tag TAG_TXN = {0x696e6d656d2d7478ULL, 0x4e4f44452d484e44ULL};
static const napi_type_tag TAG_ITER = {0x696e6d656d2d6974ULL, 0x4e4f44452d484e44ULL};

/* The object behind a handle, checked against its type tag. A handle whose C side was released
 * (a freed transaction or iterator: see release_handle()) keeps its tag: *released is set and
 * no exception is thrown, so that the caller can say what happened. */
static void *unwrap_tagged(napi_env env, napi_value v, const napi_type_tag *tag, const char *what,
                           int *released)
{
    napi_valuetype t;
    napi_typeof(env, v, &t);
    bool ok = false;
    if (t == napi_object)
        napi_check_object_type_tag(env, v, tag, &ok);
    void *p = NULL;
    if (ok && napi_unwrap(env, v, &p) == napi_ok && p)
        return p;
    if (ok && released) {
        *released = 1;
        return NULL;
    }
    char m[96];
    snprintf(m, sizeof(m), "not a %s handle", what);
    throw_msg(env, INMEM_EINVAL, m);
    return NULL;
}

static void *unwrap(napi_env env, napi_value v, const napi_type_tag *tag, const char *what)
{
    return unwrap_tagged(env, v, tag, what, NULL);
}

dbw *get_dbw(napi_env env, napi_value v)
{
    return unwrap(env, v, &TAG_DB, "database");
}

dbw *get_db_live(napi_env env, napi_value v)
{
    dbw *d = get_dbw(env, v);
    if (d && !d->db) {
        throw_msg(env, INMEM_EMISUSE, "the database is closed");
        return NULL;
    }
    return d;
}

txw *get_txw_or_freed(napi_env env, napi_value v, int *freed)
{
    *freed = 0;
    return unwrap_tagged(env, v, &TAG_TXN, "transaction", freed);
}

txw *get_txw(napi_env env, napi_value v)
{
    int freed;
    txw *tx = get_txw_or_freed(env, v, &freed);
    if (freed)
        throw_msg(env, INMEM_EMISUSE, "the transaction was freed");
    return tx;
}

txw *get_txn_live(napi_env env, napi_value v)
{
    txw *tx = get_txw(env, v);
    if (!tx)
        return NULL;
    if (!tx->txn) {
        throw_msg(env, INMEM_EMISUSE,
                  tx->db->db ? "the transaction was freed" : "the database is closed");
        return NULL;
    }
    if (tx->busy) {
        throw_msg(env, INMEM_EMISUSE,
                  "the transaction is busy with an asynchronous call: await it first");
        return NULL;
    }
    return tx;
}

itw *get_itw_or_freed(napi_env env, napi_value v, int *freed)
{
    *freed = 0;
    return unwrap_tagged(env, v, &TAG_ITER, "iterator", freed);
}

itw *get_itw(napi_env env, napi_value v)
{
    int freed;
    itw *it = get_itw_or_freed(env, v, &freed);
    if (freed)
        throw_msg(env, INMEM_EMISUSE, "the iterator was freed, or its transaction was");
    return it;
}

int get_target(napi_env env, napi_value v, dbw **d, txw **tx)
{
    napi_valuetype t;
    napi_typeof(env, v, &t);
    bool is = false;
    if (t == napi_object)
        napi_check_object_type_tag(env, v, &TAG_TXN, &is);
    if (is) {
        *d = NULL;
        *tx = get_txn_live(env, v);
        return *tx ? 0 : -1;
    }
    *tx = NULL;
    *d = get_db_live(env, v);
    return *d ? 0 : -1;
}

static void itw_unlink(itw *it)
{
    txw *tx = it->tx;
    if (it->prev)
        it->prev->next = it->next;
    else if (tx->iters == it)
        tx->iters = it->next;
    if (it->next)
        it->next->prev = it->prev;
    it->prev = it->next = NULL;
}

void txw_free_cursors(txw *tx)
{
    for (itw *it = tx->iters; it; it = it->next) {
        inmem_iter_free(it->it);
        it->it = NULL;
        inmem_replay_free(it->rp);
        it->rp = NULL;
    }
}

void txw_free_txn(txw *tx)
{
    if (!tx->txn)
        return;
    if (tx->borrowed) {
        /* transactSync() owns the transaction: free only the iterators opened on it. */
        txw_free_cursors(tx);
    } else {
        /* The library frees a transaction's iterators with it: forget them. A replay reads
         * through the transaction: free it first. */
        for (itw *it = tx->iters; it; it = it->next) {
            it->it = NULL;
            inmem_replay_free(it->rp);
            it->rp = NULL;
        }
        inmem_txn_free(tx->txn);
    }
    tx->txn = NULL;
    dbw *d = tx->db;
    if (tx->prev)
        tx->prev->next = tx->next;
    else if (d->txns == tx)
        d->txns = tx->next;
    if (tx->next)
        tx->next->prev = tx->prev;
    tx->prev = tx->next = NULL;
}

static void txw_release(txw *tx)
{
    if (--tx->refs > 0)
        return;
    txw_free_txn(tx);
    dbw *d = tx->db;
    free(tx);
    dbw_release(d);
}

/* Releases a transaction's JS handle now rather than at the next collection: the handle keeps
 * its type tag and throws "freed" from then on. Node-API runs finalizers only on a later turn
 * of the event loop, so a synchronous loop that begins and frees transactions would otherwise
 * hold every one of them until it yields. */
void txw_release_handle(napi_env env, napi_value obj)
{
    void *p = NULL;
    if (napi_remove_wrap(env, obj, &p) == napi_ok && p) {
        txw_free_txn(p); /* now, even if iterators still hold the struct */
        txw_release(p);
    }
}

static void txw_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    txw_release(data);
}

txw *txw_new(dbw *d, inmem_txn *txn)
{
    txw *tx = calloc(1, sizeof(*tx));
    if (!tx)
        return NULL;
    tx->txn = txn;
    tx->db = d;
    tx->refs = 1;
    tx->next = d->txns;
    if (d->txns)
        d->txns->prev = tx;
    d->txns = tx;
    d->refs++;
    return tx;
}

napi_value wrap_txw(napi_env env, txw *tx)
{
    napi_value obj;
    napi_create_object(env, &obj);
    if (napi_wrap(env, obj, tx, txw_finalize, NULL, NULL) != napi_ok) {
        txw_release(tx);
        return NULL;
    }
    napi_type_tag_object(env, obj, &TAG_TXN);
    return obj;
}

napi_value wrap_new_txn(napi_env env, dbw *d, inmem_txn *txn)
{
    txw *tx = txw_new(d, txn);
    if (!tx) {
        inmem_txn_free(txn);
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    }
    return wrap_txw(env, tx);
}

static void itw_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    itw *it = data;
    txw *tx = it->tx;
    if (tx->busy && (it->it || it->rp)) {
        /* A pool thread uses the transaction, and freeing an iterator unlinks it from the
         * transaction's list: txw_work_done() frees it once that thread is done. */
        it->dead = 1;
        return;
    }
    if (it->it)
        inmem_iter_free(it->it);
    inmem_replay_free(it->rp);
    itw_unlink(it);
    free(it);
    txw_release(tx);
}

void txw_work_done(txw *tx)
{
    tx->busy = 0;
    for (itw *it = tx->iters, *next; it; it = next) {
        next = it->next;
        if (it->dead)
            itw_finalize(NULL, it, NULL); /* never the last reference: the work holds one */
    }
}

void itw_release_handle(napi_env env, napi_value obj)
{
    void *p = NULL;
    if (napi_remove_wrap(env, obj, &p) == napi_ok && p)
        itw_finalize(env, p, NULL);
}

static napi_value wrap_cursor(napi_env env, txw *tx, inmem_iter *iter, inmem_replay *rp)
{
    itw *it = calloc(1, sizeof(*it));
    if (!it) {
        inmem_iter_free(iter);
        inmem_replay_free(rp);
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    }
    it->it = iter;
    it->rp = rp;
    it->tx = tx;
    it->next = tx->iters;
    if (tx->iters)
        tx->iters->prev = it;
    tx->iters = it;
    tx->refs++;
    napi_value obj;
    napi_create_object(env, &obj);
    if (napi_wrap(env, obj, it, itw_finalize, NULL, NULL) != napi_ok) {
        itw_finalize(env, it, NULL);
        return NULL;
    }
    napi_type_tag_object(env, obj, &TAG_ITER);
    return obj;
}

napi_value wrap_itw(napi_env env, txw *tx, inmem_iter *iter);
napi_value wrap_itw(napi_env env, txw *tx, inmem_iter *iter)
{
    return wrap_cursor(env, tx, iter, NULL);
}

napi_value wrap_replay(napi_env env, txw *tx, inmem_replay *rp)
{
    return wrap_cursor(env, tx, NULL, rp);
}

/* ---- shared databases ---------------------------------------------------------------------- */

struct shared_db {
    inmem_db *db;
    char *path; /* realpath; NULL for durability NONE (never shared) */
    int read_only;
    inmem_options opts;
    int refs;
    shared_db *next;
    /* db.transact()'s retry loop, which runs in JavaScript (dbNoteRetry): its re-runs, its
     * giving up with RetriesExhaustedError, and with TimeoutError between attempts. Added to
     * the library's retries, retries_exhausted and deadlines_expired in stats(), as
     * transactSync()'s count there. Atomic: every thread's handles share the database. */
    _Atomic uint64_t js_retries, js_exhausted, js_deadlines;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static shared_db *registry; /* guarded by registry_mu, with every shared_db's refs */

static int same_options(const inmem_options *a, const inmem_options *b)
{
    return a->durability == b->durability && a->max_key_size == b->max_key_size &&
           a->max_value_size == b->max_value_size && a->max_txns == b->max_txns &&
           a->wal_segment_size == b->wal_segment_size &&
           a->sync_interval_ms == b->sync_interval_ms && a->sync_commits == b->sync_commits &&
           a->ttl_sweep_interval_ms == b->ttl_sweep_interval_ms && a->read_only == b->read_only &&
           a->file_mode == b->file_mode && a->max_unsynced_commits == b->max_unsynced_commits &&
           a->checkpoint_log_ratio == b->checkpoint_log_ratio &&
           a->checkpoint_log_min == b->checkpoint_log_min &&
           a->checkpoint_on_close == b->checkpoint_on_close && a->history_ms == b->history_ms &&
           a->history_versions == b->history_versions;
}

/* inmem_db_close(), waiting out the library's own snapshots. It refuses to close (INMEM_EBUSY,
 * closing nothing) while any transaction is open, and the checkpointer thread holds one while it
 * writes an automatic checkpoint's image: had it been taken as an error, the database would have
 * stayed open (its lock too: the next open in this process got INMEM_ELOCKED). By the time the
 * last handle closes, every transaction of the binding has been freed, so the wait ends with
 * that image; it is bounded all the same (10 minutes), then INMEM_EBUSY is returned. */
static int close_db(inmem_db *db)
{
    for (long waited_ms = 0;; waited_ms++) {
        int rc = inmem_db_close(db);
        if (rc != INMEM_EBUSY || waited_ms >= 600000)
            return rc;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

/* Called on any thread (open may run in the async pool). */
int shared_open(const char *dir, const inmem_options *o, shared_db **out, inmem_db **dbp,
                char *errbuf, size_t errlen)
{
    *out = NULL;
    *dbp = NULL;
    errbuf[0] = 0;
    if (o->durability == INMEM_DURABILITY_NONE) {
        inmem_db *db;
        int rc = inmem_db_open(dir, o, &db);
        if (rc) {
            take_details(rc, errbuf, errlen);
            return rc;
        }
        shared_db *sh = calloc(1, sizeof(*sh));
        if (!sh) {
            close_db(db);
            return INMEM_ENOMEM;
        }
        sh->db = db;
        sh->refs = 1;
        sh->opts = *o;
        *out = sh;
        *dbp = db;
        return 0;
    }
    pthread_mutex_lock(&registry_mu);
    char real[PATH_MAX];
    int rc = 0;
    shared_db *sh = NULL;
    if (realpath(dir, real)) {
        for (sh = registry; sh; sh = sh->next) {
            if (sh->read_only == o->read_only && strcmp(sh->path, real) == 0)
                break;
        }
    }
    if (sh) {
        if (!same_options(&sh->opts, o)) {
            snprintf(errbuf, errlen, "%s is already open in this process with different options",
                     real);
            rc = INMEM_EINVAL;
            goto cleanup;
        }
        sh->refs++;
        *out = sh;
        *dbp = sh->db;
        goto cleanup;
    }
    inmem_db *db;
    rc = inmem_db_open(dir, o, &db);
    if (rc) {
        take_details(rc, errbuf, errlen);
        goto cleanup;
    }
    sh = calloc(1, sizeof(*sh));
    if (!sh || !realpath(dir, real) || !(sh->path = strdup(real))) {
        free(sh);
        close_db(db);
        rc = INMEM_ENOMEM;
        goto cleanup;
    }
    sh->db = db;
    sh->read_only = o->read_only;
    sh->opts = *o;
    sh->refs = 1;
    sh->next = registry;
    registry = sh;
    *out = sh;
    *dbp = db;
cleanup:
    pthread_mutex_unlock(&registry_mu);
    return rc;
}

int shared_release(shared_db *sh, char *errbuf, size_t errlen)
{
    errbuf[0] = 0;
    int rc = 0;
    if (!sh->path) {
        rc = close_db(sh->db);
        if (rc)
            take_details(rc, errbuf, errlen);
        free(sh);
        return rc;
    }
    pthread_mutex_lock(&registry_mu);
    if (--sh->refs == 0) {
        for (shared_db **pp = &registry; *pp; pp = &(*pp)->next) {
            if (*pp == sh) {
                *pp = sh->next;
                break;
            }
        }
        rc = close_db(sh->db);
        if (rc)
            take_details(rc, errbuf, errlen);
        free(sh->path);
        free(sh);
    }
    pthread_mutex_unlock(&registry_mu);
    return rc;
}

/* ---- database handles ---------------------------------------------------------------------- */

void dbw_release(dbw *d)
{
    if (--d->refs > 0)
        return;
    free(d);
}

shared_db *dbw_detach(dbw *d)
{
    shared_db *sh = d->sh;
    if (!sh)
        return NULL;
    /* Closed first: settling the waits below runs user code (the promise hooks of node:v8 and
     * async_hooks run when a promise settles), which may close this handle again or call on it.
     * It then finds the handle closed and its transactions freed: nothing it does reaches the
     * shared database, which only the caller holds now. */
    d->sh = NULL;
    d->db = NULL;
    while (d->txns)
        txw_free_txn(d->txns);
    watches_cancel(d);
    return sh;
}

/* Frees every live transaction of @p d, then releases its shared database. */
static int dbw_close_quiet(dbw *d, char *errbuf, size_t errlen)
{
    errbuf[0] = 0;
    shared_db *sh = dbw_detach(d);
    return sh ? shared_release(sh, errbuf, errlen) : 0;
}

int dbw_close(napi_env env, dbw *d)
{
    if (d->pending) {
        throw_msg(env, INMEM_EBUSY, "an asynchronous call on this database is still running");
        return -1;
    }
    char err[512];
    int rc = dbw_close_quiet(d, err, sizeof(err));
    if (rc) {
        throw_rc(env, rc, err[0] ? err : NULL, NULL);
        return -1;
    }
    return 0;
}

static void dbw_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    dbw *d = data;
    char err[512];
    if (d->pending) /* a transaction's asynchronous call runs on it: closed when it is done */
        d->orphaned = 1;
    else
        dbw_close_quiet(d, err, sizeof(err)); /* a finalizer has no one to tell */
    dbw_release(d);
}

void dbw_work_done(dbw *d)
{
    if (d->orphaned && !d->pending) {
        char err[512];
        d->orphaned = 0;
        dbw_close_quiet(d, err, sizeof(err));
    }
}

napi_value wrap_dbw(napi_env env, dbw *d)
{
    napi_value obj;
    napi_create_object(env, &obj);
    if (napi_wrap(env, obj, d, dbw_finalize, NULL, NULL) != napi_ok) {
        dbw_finalize(env, d, NULL);
        return NULL;
    }
    napi_type_tag_object(env, obj, &TAG_DB);
    return obj;
}

static int parse_durability(napi_env env, napi_value v, inmem_durability *out)
{
    if (!v)
        return -1; /* from get_prop(): a getter threw */
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_undefined)
        return 0;
    if (t == napi_string) {
        char s[16];
        size_t n;
        napi_get_value_string_utf8(env, v, s, sizeof(s), &n);
        static const char *const names[] = {"none", "async", "batched", "strict"};
        for (int i = 0; i < 4; i++) {
            if (strcmp(s, names[i]) == 0) {
                *out = (inmem_durability)i;
                return 0;
            }
        }
    }
    return bad_type(env, "options.durability", "'none', 'async', 'batched' or 'strict'");
}

int get_options(napi_env env, napi_value v, inmem_options *o)
{
    inmem_options_init(o);
    if (is_nullish(env, v))
        return 0;
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t != napi_object)
        return bad_type(env, "options", "an object");
    uint64_t u;
    int b;
    if (parse_durability(env, get_prop(env, v, "durability"), &o->durability))
        return -1;
    if (get_u64(env, get_prop(env, v, "maxKeySize"), o->max_key_size, &u, "options.maxKeySize"))
        return -1;
    o->max_key_size = u;
    if (get_u64(env, get_prop(env, v, "maxValueSize"), o->max_value_size, &u,
                "options.maxValueSize"))
        return -1;
    o->max_value_size = u;
    if (get_u64(env, get_prop(env, v, "maxTxns"), o->max_txns, &u, "options.maxTxns"))
        return -1;
    if (u > UINT_MAX)
        return bad_type(env, "options.maxTxns", "at most 65536");
    o->max_txns = (unsigned)u;
    if (get_u64(env, get_prop(env, v, "walSegmentSize"), o->wal_segment_size, &o->wal_segment_size,
                "options.walSegmentSize"))
        return -1;
    if (get_u64(env, get_prop(env, v, "syncIntervalMs"), o->sync_interval_ms, &o->sync_interval_ms,
                "options.syncIntervalMs"))
        return -1;
    if (get_u64(env, get_prop(env, v, "syncCommits"), o->sync_commits, &o->sync_commits,
                "options.syncCommits"))
        return -1;
    if (get_u64(env, get_prop(env, v, "ttlSweepIntervalMs"), o->ttl_sweep_interval_ms,
                &o->ttl_sweep_interval_ms, "options.ttlSweepIntervalMs"))
        return -1;
    if (get_bool(env, get_prop(env, v, "createIfMissing"), o->create_if_missing, &b))
        return -1;
    o->create_if_missing = b;
    if (get_u64(env, get_prop(env, v, "fileMode"), o->file_mode, &u, "options.fileMode"))
        return -1;
    if (u > 07777)
        return bad_type(env, "options.fileMode", "a file mode (at most 0o7777)");
    o->file_mode = (unsigned)u;
    if (get_u64(env, get_prop(env, v, "maxUnsyncedCommits"), o->max_unsynced_commits,
                &o->max_unsynced_commits, "options.maxUnsyncedCommits"))
        return -1;
    if (get_u64(env, get_prop(env, v, "checkpointLogRatio"), o->checkpoint_log_ratio, &u,
                "options.checkpointLogRatio"))
        return -1;
    if (u > UINT_MAX)
        return bad_type(env, "options.checkpointLogRatio", "a 32-bit count");
    o->checkpoint_log_ratio = (unsigned)u;
    if (get_u64(env, get_prop(env, v, "checkpointLogMin"), o->checkpoint_log_min,
                &o->checkpoint_log_min, "options.checkpointLogMin"))
        return -1;
    if (get_bool(env, get_prop(env, v, "checkpointOnClose"), o->checkpoint_on_close, &b))
        return -1;
    o->checkpoint_on_close = b;
    if (get_u64(env, get_prop(env, v, "historyMs"), o->history_ms, &o->history_ms,
                "options.historyMs"))
        return -1;
    if (get_u64(env, get_prop(env, v, "historyVersions"), o->history_versions, &u,
                "options.historyVersions"))
        return -1;
    if (u > UINT32_MAX)
        return bad_type(env, "options.historyVersions", "a 32-bit count");
    o->history_versions = (uint32_t)u;
    if (get_bool(env, get_prop(env, v, "repair"), 0, &b))
        return -1;
    o->repair = b;
    if (get_bool(env, get_prop(env, v, "readOnly"), 0, &b))
        return -1;
    o->read_only = b;
    return 0;
}

int get_retry(napi_env env, napi_value v, inmem_retry_options *o)
{
    inmem_retry_options_init(o);
    if (is_nullish(env, v))
        return 0;
    uint64_t u;
    if (get_u64(env, get_prop(env, v, "maxAttempts"), o->max_attempts, &u, "maxAttempts"))
        return -1;
    if (u > UINT_MAX)
        return bad_type(env, "maxAttempts", "a 32-bit count");
    o->max_attempts = (unsigned)u;
    if (get_u64(env, get_prop(env, v, "backoffInitialUs"), o->backoff_initial_us,
                &o->backoff_initial_us, "backoffInitialUs") ||
        get_u64(env, get_prop(env, v, "backoffMaxUs"), o->backoff_max_us, &o->backoff_max_us,
                "backoffMaxUs") ||
        get_u64(env, get_prop(env, v, "timeoutUs"), o->timeout_us, &o->timeout_us, "timeoutUs"))
        return -1;
    return 0;
}

/* dbOpen(path | null, options) -> handle */
static napi_value db_open(napi_env env, napi_callback_info info)
{
    ARGS(2);
    inmem_options o;
    jsbytes path;
    if (get_options(env, argv[1], &o))
        return NULL;
    if (get_str_opt(env, argv[0], &path, "path"))
        return NULL;
    if (!path.p && o.durability != INMEM_DURABILITY_NONE) {
        jsbytes_free(&path);
        return throw_msg(env, INMEM_EINVAL, "a path is required unless durability is 'none'");
    }
    dbw *d = calloc(1, sizeof(*d));
    if (!d) {
        jsbytes_free(&path);
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    }
    char err[512];
    int rc = shared_open(path.p, &o, &d->sh, &d->db, err, sizeof(err));
    jsbytes_free(&path);
    if (rc) {
        free(d);
        return throw_rc(env, rc, err[0] ? err : NULL, NULL);
    }
    d->refs = 1;
    d->durability = (int)o.durability;
    d->commit_waits = commit_waits(&o);
    return wrap_dbw(env, d);
}

static napi_value db_close(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dbw *d = get_dbw(env, argv[0]);
    if (!d || dbw_close(env, d))
        return NULL;
    return mk_undef(env);
}

static napi_value db_is_open(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dbw *d = get_dbw(env, argv[0]);
    return d ? mk_bool(env, d->db != NULL) : NULL;
}

/* dbCommitWaits(db): whether a commit that writes may wait for an fsync on this database. */
static napi_value db_commit_waits(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dbw *d = get_dbw(env, argv[0]);
    napi_value v;
    if (!d || napi_get_boolean(env, d->commit_waits != 0, &v) != napi_ok)
        return NULL;
    return v;
}

static napi_value db_durability(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dbw *d = get_dbw(env, argv[0]);
    static const char *const names[] = {"none", "async", "batched", "strict"};
    return d ? mk_str(env, names[d->durability & 3]) : NULL;
}

/* dbNoteRetry(db, what): db.transact()'s loop ran fn again after a conflict (0), gave up after
 * maxAttempts (1), or ran out of time between attempts (2). Nothing on a closed database (the
 * loop then fails on its own). */
static napi_value db_note_retry(napi_env env, napi_callback_info info)
{
    ARGS(2);
    dbw *d = get_dbw(env, argv[0]);
    uint64_t what;
    if (!d || get_u64(env, argv[1], 0, &what, "what"))
        return NULL;
    if (what > 2)
        return throw_msg(env, INMEM_EINVAL, "what must be 0, 1 or 2");
    if (d->sh) {
        _Atomic uint64_t *c = what == 0   ? &d->sh->js_retries
                              : what == 1 ? &d->sh->js_exhausted
                                          : &d->sh->js_deadlines;
        atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    }
    return mk_undef(env);
}

static napi_value db_stats(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    inmem_stats s;
    int rc = inmem_db_stats(d->db, &s);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    s.retries += atomic_load_explicit(&d->sh->js_retries, memory_order_relaxed);
    s.retries_exhausted += atomic_load_explicit(&d->sh->js_exhausted, memory_order_relaxed);
    s.deadlines_expired += atomic_load_explicit(&d->sh->js_deadlines, memory_order_relaxed);
    napi_value o = mk_obj(env);
#define S(js, f) set_u64(env, o, js, s.f)
    S("commits", commits);
    S("commitsReadonly", commits_readonly);
    S("abortsUser", aborts_user);
    S("abortsReadConflict", aborts_read_conflict);
    S("abortsCasConflict", aborts_cas_conflict);
    S("retries", retries);
    S("retriesExhausted", retries_exhausted);
    S("deadlinesExpired", deadlines_expired);
    S("version", version);
    S("keys", keys);
    S("retainedVersions", retained_versions);
    S("openTxns", open_txns);
    S("oldestSnapshotVersion", oldest_snapshot_version);
    S("oldestSnapshotAgeUs", oldest_snapshot_age_us);
    S("walBytes", wal_bytes);
    S("walSyncs", wal_syncs);
    S("walSyncedCommits", wal_synced_commits);
    S("checkpoints", checkpoints);
    S("checkpointFailures", checkpoint_failures);
    S("checkpointVersion", checkpoint_version);
    S("checkpointBytes", checkpoint_bytes);
    S("checkpointTimeUs", checkpoint_time_us);
    S("walBytesSinceCheckpoint", wal_bytes_since_checkpoint);
    S("liveBytes", live_bytes);
    S("historyBytes", history_bytes);
    S("historyFloor", history_floor);
    S("historyMs", history_ms);
    S("historyVersions", history_versions);
    S("abortsError", aborts_error);
    S("expiredSwept", expired_swept);
#undef S
    /* The last failed checkpoint's error code, by name (null once one succeeds after it). */
    set_prop(env, o, "checkpointError",
             s.checkpoint_error ? mk_str(env, inmem_errname(s.checkpoint_error)) : mk_null(env));
    return o;
}

static napi_value db_recovery(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    inmem_recovery_info r;
    int rc = inmem_db_recovery(d->db, &r);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    napi_value o = mk_obj(env);
    set_u64(env, o, "segments", r.segments);
    set_u64(env, o, "bytes", r.bytes);
    set_u64(env, o, "txnsApplied", r.txns_applied);
    set_u64(env, o, "txnsDiscarded", r.txns_discarded);
    set_u64(env, o, "recordsSkipped", r.records_skipped);
    set_u64(env, o, "version", r.version);
    set_u64(env, o, "txnId", r.txn_id);
    set_u64(env, o, "timeUs", r.time_us);
    set_prop(env, o, "tornTail", mk_bool(env, r.torn_tail));
    set_prop(env, o, "tailFile", mk_str(env, r.tail_file));
    set_u64(env, o, "tailOffset", r.tail_offset);
    set_prop(env, o, "repaired", mk_bool(env, r.repaired));
    set_prop(env, o, "repairFile", mk_str(env, r.repair_file));
    set_u64(env, o, "repairOffset", r.repair_offset);
    set_u64(env, o, "bytesDropped", r.bytes_dropped);
    set_u64(env, o, "txnsDropped", r.txns_dropped);
    set_u64(env, o, "tailBytes", r.tail_bytes);
    set_prop(env, o, "liveWriter", mk_bool(env, r.live_writer));
    set_prop(env, o, "created", mk_bool(env, r.created));
    set_u64(env, o, "checkpointVersion", r.checkpoint_version);
    set_prop(env, o, "checkpointFile", mk_str(env, r.checkpoint_file));
    set_u64(env, o, "txnsSkipped", r.txns_skipped);
    set_u64(env, o, "checkpointLoadUs", r.checkpoint_load_us);
    set_prop(env, o, "checkpointFallback", mk_bool(env, r.checkpoint_fallback));
    set_u64(env, o, "keysDropped", r.keys_dropped);
    return o;
}

/* ---- implicit operations ------------------------------------------------------------------- */

/* dbGet(db, run, key, withVersion) -> Buffer | {value, version} | undefined */
static napi_value db_get(napi_env env, napi_callback_info info)
{
    ARGS(4);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes k;
    int wv;
    if (get_run(env, argv[1], &rid, &run, "run") || get_bytes(env, argv[2], &k, "key"))
        return NULL;
    get_bool(env, argv[3], 0, &wv);
    void *val = NULL;
    size_t vlen = 0;
    uint64_t ver = 0;
    int rc = inmem_get(d->db, run, k.p, k.n, &val, &vlen, &ver);
    jsbytes_free(&k);
    if (rc == INMEM_NOTFOUND)
        return mk_undef(env);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    napi_value b = mk_buf(env, val, vlen);
    inmem_free(val);
    if (!wv)
        return b;
    napi_value o = mk_obj(env);
    set_prop(env, o, "value", b);
    set_u64(env, o, "version", ver);
    return o;
}

/* dbPut(db, run, key, value, ttlMs) -> version */
static napi_value db_put(napi_env env, napi_callback_info info)
{
    ARGS(5);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes k, v;
    uint64_t ttl;
    if (get_run(env, argv[1], &rid, &run, "run") || get_u64(env, argv[4], 0, &ttl, "ttl") ||
        get_bytes(env, argv[2], &k, "key"))
        return NULL;
    if (get_bytes(env, argv[3], &v, "value")) {
        jsbytes_free(&k);
        return NULL;
    }
    uint64_t ver = 0;
    int rc = ttl ? inmem_put_ttl(d->db, run, k.p, k.n, v.p, v.n, ttl, &ver)
                 : inmem_put(d->db, run, k.p, k.n, v.p, v.n, &ver);
    jsbytes_free(&k);
    jsbytes_free(&v);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_u64(env, ver);
}

/* dbDelete(db, run, key) -> version */
static napi_value db_delete(napi_env env, napi_callback_info info)
{
    ARGS(3);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes k;
    if (get_run(env, argv[1], &rid, &run, "run") || get_bytes(env, argv[2], &k, "key"))
        return NULL;
    uint64_t ver = 0;
    int rc = inmem_delete(d->db, run, k.p, k.n, &ver);
    jsbytes_free(&k);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_u64(env, ver);
}

/* dbCas(db, run, key, expectedVersion, value) -> version; ConflictError on a mismatch */
static napi_value db_cas(napi_env env, napi_callback_info info)
{
    ARGS(5);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes k, v;
    uint64_t exp;
    if (get_run(env, argv[1], &rid, &run, "run") ||
        get_u64(env, argv[3], 0, &exp, "expectedVersion") || get_bytes(env, argv[2], &k, "key"))
        return NULL;
    if (get_bytes(env, argv[4], &v, "value")) {
        jsbytes_free(&k);
        return NULL;
    }
    uint64_t ver = 0;
    int rc = inmem_cas(d->db, run, k.p, k.n, exp, v.p, v.n, &ver);
    jsbytes_free(&v);
    if (rc == INMEM_CONFLICT) {
        /* The conflict as a transaction's commit gives it; the library returns only the code,
         * so the version found is read just after (0: the key is absent). */
        uint64_t found = 0;
        if (inmem_get(d->db, run, k.p, k.n, NULL, NULL, &found) != 0)
            found = 0;
        napi_value c = mk_obj(env);
        set_prop(env, c, "rule", mk_str(env, "cas"));
        set_prop(env, c, "run", run ? mk_run(env, run) : mk_null(env));
        set_prop(env, c, "key", mk_buf(env, k.p, k.n));
        set_u64(env, c, "expected", exp);
        set_u64(env, c, "found", found);
        set_prop(env, c, "primitive", mk_str(env, "kv"));
        char det[96];
        snprintf(det, sizeof(det), "cas expected version %" PRIu64 ", found %" PRIu64, exp, found);
        jsbytes_free(&k);
        return throw_rc(env, rc, det, c);
    }
    jsbytes_free(&k);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_u64(env, ver);
}

napi_value mk_entry(napi_env env, const void *k, size_t kl, const void *v, size_t vl,
                    uint64_t version)
{
    /* One call for the three properties: this is the hot path of scans and lists. */
    napi_property_attributes a = napi_writable | napi_enumerable | napi_configurable;
    napi_property_descriptor pd[3] = {
        {.utf8name = "key", .value = mk_buf(env, k, kl), .attributes = a},
        {.utf8name = "value", .value = v ? mk_buf(env, v, vl) : mk_undef(env), .attributes = a},
        {.utf8name = "version", .value = mk_u64(env, version), .attributes = a},
    };
    napi_value o = mk_obj(env);
    napi_define_properties(env, o, 3, pd);
    return o;
}

napi_value kv_entries(napi_env env, const inmem_kv_entry *e, size_t n);
napi_value kv_entries(napi_env env, const inmem_kv_entry *e, size_t n)
{
    napi_value arr = mk_arr(env, n);
    for (size_t i = 0; i < n; i++)
        set_elem(env, arr, (uint32_t)i,
                 mk_entry(env, e[i].key, e[i].klen, e[i].val, e[i].vlen, e[i].version));
    return arr;
}

/* dbList(db, run, prefix, after, limit) -> [{key, value, version}] */
static napi_value db_list(napi_env env, napi_callback_info info)
{
    ARGS(5);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    inmem_run_id rid;
    const inmem_run_id *run;
    jsbytes p, a;
    uint64_t limit;
    if (get_run(env, argv[1], &rid, &run, "run") || get_u64(env, argv[4], 1000, &limit, "limit") ||
        get_bytes_opt(env, argv[2], &p, "prefix"))
        return NULL;
    if (get_bytes_opt(env, argv[3], &a, "after")) {
        jsbytes_free(&p);
        return NULL;
    }
    inmem_kv_entry *out = NULL;
    size_t n = 0;
    int rc = inmem_kv_list_db(d->db, run, p.p, p.n, a.p, a.n, (size_t)limit, &out, &n);
    jsbytes_free(&p);
    jsbytes_free(&a);
    if (rc) {
        inmem_free(out);
        return throw_rc(env, rc, NULL, NULL);
    }
    napi_value r = kv_entries(env, out, n);
    inmem_free(out);
    return r;
}

/* dbSweep(db) -> removed */
static napi_value db_sweep(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    uint64_t removed = 0;
    int rc = inmem_db_sweep(d->db, &removed);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_u64(env, removed);
}

/* The directory of a backup: a non-empty string (the library's bare EINVAL for an empty one
 * would come without details). */
int get_backup_dir(napi_env env, napi_value v, jsbytes *dir)
{
    if (get_str(env, v, dir, "dir"))
        return -1;
    if (dir->n == 0) {
        jsbytes_free(dir);
        throw_msg(env, INMEM_EINVAL, "dir must be a non-empty path");
        return -1;
    }
    return 0;
}

/* dbCheckpoint(db) -> the version the image covers */
static napi_value db_checkpoint(napi_env env, napi_callback_info info)
{
    ARGS(1);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    uint64_t v = 0;
    int rc = inmem_db_checkpoint(d->db, &v);
    if (rc)
        return throw_rc(env, rc, rc == INMEM_ENOTSUP ? errmsg_details(rc) : NULL, NULL);
    return mk_u64(env, v);
}

/* dbBackup(db, dir) -> the version backed up */
static napi_value db_backup(napi_env env, napi_callback_info info)
{
    ARGS(2);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    jsbytes dir;
    if (get_backup_dir(env, argv[1], &dir))
        return NULL;
    uint64_t v = 0;
    int rc = inmem_db_backup(d->db, dir.p, &v);
    jsbytes_free(&dir);
    if (rc)
        return throw_rc(env, rc, rc == INMEM_EINVAL ? errmsg_details(rc) : NULL, NULL);
    return mk_u64(env, v);
}

/* ---- module-level -------------------------------------------------------------------------- */

static napi_value run_id_new(napi_env env, napi_callback_info info)
{
    (void)info;
    inmem_run_id id;
    inmem_run_id_new(&id);
    return mk_run(env, &id);
}

/* runIdParse(string | Buffer) -> Buffer(16) | undefined; runIdFormat(Buffer) -> string */
static napi_value run_id_parse(napi_env env, napi_callback_info info)
{
    ARGS(1);
    inmem_run_id id;
    const inmem_run_id *p;
    if (get_run(env, argv[0], &id, &p, "run id")) {
        napi_value e;
        napi_get_and_clear_last_exception(env, &e);
        return mk_undef(env);
    }
    if (!p)
        return mk_undef(env);
    return mk_run(env, p);
}

static napi_value run_id_bytes(napi_env env, napi_callback_info info)
{
    ARGS(1);
    inmem_run_id id;
    if (get_run_req(env, argv[0], &id, "run id"))
        return NULL;
    return mk_buf(env, id.bytes, sizeof(id.bytes));
}

static napi_value error_codes(napi_env env)
{
    napi_value o = mk_obj(env);
    static const int codes[] = {
#define XX(name, value, text) INMEM_##name,
        INMEM_ERROR_TABLE(XX)
#undef XX
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        napi_value e = mk_obj(env);
        napi_value c;
        napi_create_int32(env, codes[i], &c);
        set_prop(env, e, "errno", c);
        set_prop(env, e, "message", mk_str(env, inmem_strerror(codes[i])));
        set_prop(env, o, inmem_errname(codes[i]), e);
    }
    return o;
}

void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb)
{
    napi_value fn;
    napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
    napi_set_named_property(env, exports, name, fn);
}

/* The functions NAPI_MODULE_INIT defines, declared for -Wmissing-prototypes. */
NAPI_MODULE_EXPORT int32_t node_api_module_get_api_version_v1(void);
NAPI_MODULE_EXPORT napi_value napi_register_module_v1(napi_env env, napi_value exports);

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */)
{
    env_data *ed = calloc(1, sizeof(*ed));
    if (!ed || napi_set_instance_data(env, ed, env_data_free, NULL) != napi_ok) {
        free(ed);
        napi_throw_error(env, "INMEM_ENOMEM", "inmem: cannot initialise the addon");
        return NULL;
    }
    export_fn(env, exports, "setErrorFactory", set_error_factory);
    export_fn(env, exports, "runIdNew", run_id_new);
    export_fn(env, exports, "runIdParse", run_id_parse);
    export_fn(env, exports, "runIdBytes", run_id_bytes);
    export_fn(env, exports, "dbOpen", db_open);
    export_fn(env, exports, "dbClose", db_close);
    export_fn(env, exports, "dbIsOpen", db_is_open);
    export_fn(env, exports, "dbDurability", db_durability);
    export_fn(env, exports, "dbCommitWaits", db_commit_waits);
    export_fn(env, exports, "dbStats", db_stats);
    export_fn(env, exports, "dbNoteRetry", db_note_retry);
    export_fn(env, exports, "dbRecovery", db_recovery);
    export_fn(env, exports, "dbGet", db_get);
    export_fn(env, exports, "dbPut", db_put);
    export_fn(env, exports, "dbDelete", db_delete);
    export_fn(env, exports, "dbCas", db_cas);
    export_fn(env, exports, "dbList", db_list);
    export_fn(env, exports, "dbSweep", db_sweep);
    export_fn(env, exports, "dbCheckpoint", db_checkpoint);
    export_fn(env, exports, "dbBackup", db_backup);
    set_prop(env, exports, "errors", error_codes(env));
    napi_value ver = mk_obj(env);
    set_prop(env, ver, "string", mk_str(env, inmem_version_string()));
    set_u64(env, ver, "number", (uint64_t)inmem_version_number());
    set_prop(env, exports, "version", ver);
    init_txn(env, exports);
    init_prims(env, exports);
    init_async(env, exports);
    init_langgraph(env, exports);
    init_history(env, exports);
    init_wait(env, exports);
    return exports;
}
