/*
 * langgraph.c — the storage side of InmemSaver (langgraph/index.mjs), so that each of its calls
 * is one call into the addon:
 *
 *   lgPut       a checkpoint: its keys and records are built here from the serialized parts (or
 *               from one JSON array holding them all, split here), and written in one transaction
 *               run by the library's own retry loop. lgPutAsync does the same on the thread pool
 *               (a strict database, whose commit waits for an fsync).
 *   lgRead      one checkpoint (by id, or the newest of a namespace) or a page of them (newest
 *               first, before a cursor, from the checkpoint keys or a metadata index), each with
 *               its channels' values and its pending writes, all from one snapshot, and handed
 *               back as one JSON text when every part is JSON (one deserialization per tuple).
 *
 * The key layout and the records are described at the top of langgraph/index.mjs: the two files
 * must agree. Records are frames, each a u32 (little-endian) length and its bytes:
 *
 *   checkpoint (format 2)  2 · type · checkpoint · metadata type · metadata · has parent · parent
 *                          id · channels (name, version, name, version..., each NUL-terminated:
 *                          the channel_versions, so that the values are read without parsing the
 *                          checkpoint) · flags (bit 0: the checkpoint predates format 4: its
 *                          pending sends are its parent's TASKS writes)
 *   checkpoint (format 1)  the first 7 of those (written by earlier versions: lgRead reports that
 *                          it needs the channel list, which the caller takes from the checkpoint)
 *   blob                   1 · type · value
 *   write                  1 · task id · channel · type · value · task path
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h> /* memmem: _GNU_SOURCE is set by binding.gyp */

#include "addon.h"

/* ---- growable byte buffers ----------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void sb_byte(sbuf *b, unsigned c)
{
    unsigned char ch = (unsigned char)c;
    sb_add(b, &ch, 1);
}

static void sb_u32(sbuf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    sb_add(b, x, 4);
}

static void sb_frame(sbuf *b, const void *p, size_t n)
{
    sb_u32(b, (uint32_t)n);
    sb_add(b, p, n);
}

/* A frame whose content follows: returns where its length goes (patched by sb_close()). */
static size_t sb_open(sbuf *b)
{
    size_t at = b->n;
    sb_u32(b, 0);
    return at;
}

static void sb_close(sbuf *b, size_t at)
{
    if (b->oom)
        return;
    uint32_t v = (uint32_t)(b->n - at - 4);
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    memcpy(b->p + at, x, 4);
}

/* The checkpoint id inverted (255 - b) and terminated by 0xff: ascending keys, newest first. */
static void sb_inv(sbuf *b, const char *id, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sb_byte(b, 255u - (unsigned char)id[i]);
    sb_byte(b, 0xff);
}

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A part of a record or an argument: bytes, borrowed. */
typedef struct part {
    const char *p;
    size_t n;
} part;

/* Splits a record into its frames (@p max at most; more is an error); returns how many, or -1 if
 * one is truncated or there are more. @p out NULL: only counts them. */
static long unframe(const void *rec, size_t len, part *out, long max)
{
    const unsigned char *p = rec;
    size_t o = 0;
    long k = 0;
    while (o < len) {
        if (len - o < 4 || k == max)
            return -1;
        uint32_t n = rd_u32(p + o);
        o += 4;
        if (n > len - o)
            return -1;
        if (out) {
            out[k].p = (const char *)p + o;
            out[k].n = n;
        }
        o += n;
        k++;
    }
    return k;
}

/* Splits the text of a JSON array into its top-level elements (at most @p max): returns how many,
 * or -1 if it is not an array. Strings are skipped whole (a bracket or comma in one is not a
 * boundary). */
static long json_split(const char *s, size_t n, part *out, size_t max)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
        i++;
    if (i == n || s[i] != '[')
        return -1;
    i++;
    size_t k = 0, depth = 0;
    size_t start = i;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < n && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
            if (i >= n)
                return -1;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        } else if (depth == 0 && (c == ',' || c == ']')) {
            size_t b = start, e = i;
            while (b < e && (s[b] == ' ' || s[b] == '\n' || s[b] == '\r' || s[b] == '\t'))
                b++;
            while (e > b &&
                   (s[e - 1] == ' ' || s[e - 1] == '\n' || s[e - 1] == '\r' || s[e - 1] == '\t'))
                e--;
            if (c == ']' && k == 0 && b == e)
                return 0; /* [] */
            if (b == e || k == max)
                return -1;
            out[k].p = s + b;
            out[k].n = e - b;
            k++;
            if (c == ']')
                return (long)k;
            start = i + 1;
        }
    }
    return -1;
}

/* ---- arguments ------------------------------------------------------------------------------ */

/* An array's elements as bytes (strings or Buffers), appended to the arena @p a; slices are
 * offsets into it. */
typedef struct slice {
    size_t off, n;
} slice;

static int add_bytes(napi_env env, napi_value v, sbuf *a, slice *s, const char *what)
{
    jsbytes b;
    if (get_bytes(env, v, &b, what))
        return -1;
    s->off = a->n;
    s->n = b.n;
    sb_add(a, b.p, b.n);
    jsbytes_free(&b);
    return 0;
}

/* An array of strings or bytes: its length in *n, each appended to @p a; *out is malloc'ed.
 * Like a batch's array (get_elements()): at most BATCH_MAX elements, refused before anything is
 * allocated by its length, and a hole or an element of another type refused where it is. */
static int get_slices(napi_env env, napi_value v, sbuf *a, slice **out, uint32_t *n,
                      const char *what)
{
    *out = NULL;
    *n = 0;
    if (is_nullish(env, v))
        return 0;
    bool is;
    napi_is_array(env, v, &is);
    if (!is) {
        char m[200];
        snprintf(m, sizeof(m), "%s must be an array or bytes", what);
        throw_msg(env, INMEM_EINVAL, m);
        return -1;
    }
    napi_value *el;
    uint32_t len;
    if (get_elements(env, v, BATCH_MAX, what, is_bytes, "a string or bytes", &el, &len))
        return -1;
    slice *s = malloc((len ? len : 1) * sizeof(*s));
    if (!s) {
        free(el);
        throw_rc(env, INMEM_ENOMEM, NULL, NULL);
        return -1;
    }
    for (uint32_t i = 0; i < len; i++) {
        if (add_bytes(env, el[i], a, &s[i], what)) {
            free(el);
            free(s);
            return -1;
        }
    }
    free(el);
    *out = s;
    *n = len;
    return 0;
}

/* A list passed as one string of NUL-terminated items ("a\0b\0"; "" or null: none), its items
 * appended to @p a (one call for the whole list: a string per item costs a call each). */
static int get_list(napi_env env, napi_value v, sbuf *a, slice **out, uint32_t *n, const char *what)
{
    *out = NULL;
    *n = 0;
    if (is_nullish(env, v))
        return 0;
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t != napi_string) {
        throw_msg(env, INMEM_EINVAL, what);
        return -1;
    }
    slice all;
    if (add_bytes(env, v, a, &all, what))
        return -1;
    if (a->oom) {
        throw_rc(env, INMEM_ENOMEM, NULL, NULL);
        return -1;
    }
    uint32_t k = 0;
    for (size_t i = 0; i < all.n; i++)
        k += a->p[all.off + i] == 0;
    if (all.n && a->p[all.off + all.n - 1] != 0) {
        throw_msg(env, INMEM_EINVAL, what);
        return -1;
    }
    slice *s = calloc(k ? k : 1, sizeof(*s));
    if (!s) {
        throw_rc(env, INMEM_ENOMEM, NULL, NULL);
        return -1;
    }
    size_t start = all.off;
    for (uint32_t j = 0; j < k; j++) {
        const char *z = memchr(a->p + start, 0, all.off + all.n - start);
        s[j].off = start;
        s[j].n = (size_t)(z - (a->p + start));
        start += s[j].n + 1;
    }
    *out = s;
    *n = k;
    return 0;
}

/* ---- put ------------------------------------------------------------------------------------ */

typedef struct lg_put {
    sbuf a;       /* the arena: every key, value and name below */
    slice *pairs; /* key, value, key, value... */
    size_t npairs, cap;
    inmem_run_id run;
    slice thread, tenant, app; /* tenant and app NUL-terminated; tenant.n 0: none */
    slice nskey;               /* n <ns>: written if missing */
    /* the thread pool's */
    napi_async_work aw;
    napi_deferred def;
    napi_ref hold;
    dbw *d;
    int rc;
    char err[512];
} lg_put;

static void put_free(napi_env env, lg_put *p)
{
    if (p->hold)
        napi_delete_reference(env, p->hold);
    free(p->a.p);
    free(p->pairs);
    free(p);
}

/* Starts a pair: the key is built next in the arena, then pair_value() marks the value. */
static void pair_key(lg_put *p)
{
    if (p->npairs + 2 > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        slice *s = realloc(p->pairs, cap * sizeof(*s));
        if (!s) {
            p->a.oom = 1;
            return;
        }
        p->pairs = s;
        p->cap = cap;
    }
    p->pairs[p->npairs].off = p->a.n;
}

static void pair_value(lg_put *p)
{
    if (p->a.oom)
        return;
    slice *k = &p->pairs[p->npairs];
    k->n = p->a.n - k->off;
    p->pairs[p->npairs + 1].off = p->a.n;
}

static void pair_end(lg_put *p)
{
    if (p->a.oom)
        return;
    slice *v = &p->pairs[p->npairs + 1];
    v->n = p->a.n - v->off;
    p->npairs += 2;
}

/* The bytes of slice @p s of the arena. */
#define AT(a, s) ((a).p + (s).off)

static int put_txn(inmem_txn *txn, void *arg)
{
    lg_put *p = arg;
    int rc = inmem_kv_get(txn, &p->run, "t", 1, NULL, NULL, NULL);
    if (rc == INMEM_NOTFOUND) {
        /* The thread's first checkpoint: its run, and the key saying whose it is. */
        inmem_run_options ro;
        inmem_run_options_init(&ro);
        ro.id = &p->run;
        ro.app = AT(p->a, p->app);
        ro.tenant = p->tenant.n ? AT(p->a, p->tenant) : NULL;
        if ((rc = inmem_run_begin(txn, &ro, NULL)) != 0)
            return rc;
        rc = inmem_kv_put(txn, &p->run, "t", 1, AT(p->a, p->thread), p->thread.n);
    }
    if (rc == 0) {
        rc = inmem_kv_get(txn, &p->run, AT(p->a, p->nskey), p->nskey.n, NULL, NULL, NULL);
        if (rc == INMEM_NOTFOUND)
            rc = inmem_kv_put(txn, &p->run, AT(p->a, p->nskey), p->nskey.n, "", 0);
    }
    for (size_t i = 0; rc == 0 && i < p->npairs; i += 2)
        rc = inmem_kv_put(txn, &p->run, AT(p->a, p->pairs[i]), p->pairs[i].n,
                          AT(p->a, p->pairs[i + 1]), p->pairs[i + 1].n);
    return rc;
}

static int put_run(lg_put *p)
{
    inmem_retry_options ro;
    inmem_retry_options_init(&ro);
    return inmem_db_transact(p->d->db, &ro, put_txn, p);
}

/*
 * Reads the arguments of lgPut into a new lg_put (NULL with an exception pending):
 *   (db, run, threadId, app, tenant | null, ns, id, parentId | null, flags, payload, blobChannels,
 *    allChannels, metaIndex)
 * payload: the JSON text of [checkpoint, metadata, value...] (split here), or the array
 * [checkpoint type, checkpoint, metadata type, metadata, type, value, ...]. The lists are strings
 * of NUL-terminated items: blobChannels "channel\0version\0..." of the values in the payload,
 * allChannels the same of the checkpoint's channel_versions, metaIndex "key\0json\0..." of the
 * metadata values indexed.
 */
static lg_put *put_args(napi_env env, napi_callback_info info)
{
    ARGS(13);
    dbw *d = get_db_live(env, argv[0]);
    if (!d)
        return NULL;
    lg_put *p = calloc(1, sizeof(*p));
    if (!p) {
        throw_rc(env, INMEM_ENOMEM, NULL, NULL);
        return NULL;
    }
    p->d = d;
    /* The arguments go to `in`, the keys and records built from them to `a`: two buffers, so
     * that a copy never reads from a buffer that its own growth may move. */
    sbuf *a = &p->a, in = {0};
    sb_byte(&in, 0); /* never a NULL base, even when every argument is empty */
    slice ns, id, parent = {0, 0}, *blobs = NULL, *all = NULL, *meta = NULL, *items = NULL;
    uint32_t nblobs, nall, nmeta, nitems = 0;
    uint64_t flags;
    int has_parent = !is_nullish(env, argv[7]);
    jsbytes payload = {0};
    part *pv = NULL;
    if (get_run_req(env, argv[1], &p->run, "run") ||
        add_bytes(env, argv[2], a, &p->thread, "thread id") ||
        add_bytes(env, argv[3], a, &p->app, "app"))
        goto fail;
    sb_byte(a, 0);
    if (!is_nullish(env, argv[4])) {
        if (add_bytes(env, argv[4], a, &p->tenant, "tenant"))
            goto fail;
        sb_byte(a, 0);
    }
    if (add_bytes(env, argv[5], &in, &ns, "checkpoint_ns") ||
        add_bytes(env, argv[6], &in, &id, "checkpoint id") ||
        (has_parent && add_bytes(env, argv[7], &in, &parent, "parent id")) ||
        get_u64(env, argv[8], 0, &flags, "flags") ||
        get_list(env, argv[10], &in, &blobs, &nblobs,
                 "blobChannels must be a NUL-terminated list") ||
        get_list(env, argv[11], &in, &all, &nall, "allChannels must be a NUL-terminated list") ||
        get_list(env, argv[12], &in, &meta, &nmeta, "metaIndex must be a NUL-terminated list"))
        goto fail;
    if (nblobs % 2 || nall % 2 || nmeta % 2) {
        throw_msg(env, INMEM_EINVAL, "lgPut: pairs of names and versions");
        goto fail;
    }
    /* The serialized parts: [ctype, cdata, mtype, mdata, type, value, ...] as slices of the
     * arena, or as parts of the JSON text (borrowed from the payload for this call). */
    size_t nparts = 2 + nblobs / 2;
    bool is_arr;
    napi_is_array(env, argv[9], &is_arr);
    if (is_arr) {
        if (get_slices(env, argv[9], &in, &items, &nitems, "payload"))
            goto fail;
        if (nitems != 2 * nparts) {
            throw_msg(env, INMEM_EINVAL, "lgPut: a type and bytes for each part");
            goto fail;
        }
    } else {
        if (get_bytes(env, argv[9], &payload, "payload"))
            goto fail;
        if (!(pv = malloc(nparts * sizeof(*pv))))
            goto oom;
        if (json_split(payload.p, payload.n, pv, nparts) != (long)nparts) {
            throw_msg(env, INMEM_EINVAL, "lgPut: the payload is not a JSON array of its parts");
            goto fail;
        }
    }
    if (a->oom || in.oom)
        goto oom;
    /* reading the arguments ran their code (a getter of the payload's elements), which may have
     * closed the database: MisuseError then, as every call that ran user code says */
    if (!get_db_live(env, argv[0]))
        goto fail;
#define PART_TYPE(i)   (is_arr ? AT(in, items[2 * (i)]) : "json")
#define PART_TYPE_N(i) (is_arr ? items[2 * (i)].n : 4)
    /* Keys and records, from the arguments (which no longer move). The sb_ calls do nothing
     * once out of memory: checked at the end. */
    /* c <ns> 00 <~id> ff: the checkpoint record */
    pair_key(p);
    sb_byte(a, 'c');
    sb_add(a, AT(in, ns), ns.n);
    sb_byte(a, 0);
    sb_inv(a, AT(in, id), id.n);
    pair_value(p);
    sb_frame(a, "\x02", 1);
    for (size_t i = 0; i < 2; i++) {
        sb_frame(a, PART_TYPE(i), PART_TYPE_N(i));
        if (is_arr)
            sb_frame(a, AT(in, items[2 * i + 1]), items[2 * i + 1].n);
        else
            sb_frame(a, pv[i].p, pv[i].n);
    }
    sb_frame(a, has_parent ? "\x01" : "\x00", 1);
    sb_frame(a, AT(in, parent), parent.n);
    size_t at = sb_open(a);
    for (uint32_t i = 0; i < nall && !a->oom; i++) {
        sb_add(a, AT(in, all[i]), all[i].n);
        sb_byte(a, 0);
    }
    sb_close(a, at);
    unsigned char fl = (unsigned char)(flags & 1);
    sb_frame(a, &fl, 1);
    pair_end(p);
    /* n <ns>: the namespace is used in the thread (written once: put_txn reads it first) */
    p->nskey.off = a->n;
    sb_byte(a, 'n');
    sb_add(a, AT(in, ns), ns.n);
    p->nskey.n = a->n - p->nskey.off;
    /* b <ns> 00 <channel> 00 <version>: each value, once per version */
    for (uint32_t i = 0; i < nblobs / 2; i++) {
        pair_key(p);
        sb_byte(a, 'b');
        sb_add(a, AT(in, ns), ns.n);
        sb_byte(a, 0);
        sb_add(a, AT(in, blobs[2 * i]), blobs[2 * i].n);
        sb_byte(a, 0);
        sb_add(a, AT(in, blobs[2 * i + 1]), blobs[2 * i + 1].n);
        pair_value(p);
        sb_frame(a, "\x01", 1);
        sb_frame(a, PART_TYPE(2 + i), PART_TYPE_N(2 + i));
        if (is_arr)
            sb_frame(a, AT(in, items[2 * (2 + i) + 1]), items[2 * (2 + i) + 1].n);
        else
            sb_frame(a, pv[2 + i].p, pv[2 + i].n);
        pair_end(p);
    }
    /* m <ns> 00 <key> 00 <json> 00 <~id> ff: the metadata index */
    for (uint32_t i = 0; i < nmeta / 2; i++) {
        pair_key(p);
        sb_byte(a, 'm');
        sb_add(a, AT(in, ns), ns.n);
        sb_byte(a, 0);
        sb_add(a, AT(in, meta[2 * i]), meta[2 * i].n);
        sb_byte(a, 0);
        sb_add(a, AT(in, meta[2 * i + 1]), meta[2 * i + 1].n);
        sb_byte(a, 0);
        sb_inv(a, AT(in, id), id.n);
        pair_value(p);
        pair_end(p);
    }
#undef PART_TYPE
#undef PART_TYPE_N
    if (a->oom)
        goto oom;
    jsbytes_free(&payload);
    free(in.p);
    free(pv);
    free(blobs);
    free(all);
    free(meta);
    free(items);
    return p;
oom:
    throw_rc(env, INMEM_ENOMEM, NULL, NULL);
fail:
    jsbytes_free(&payload);
    free(in.p);
    free(pv);
    free(blobs);
    free(all);
    free(meta);
    free(items);
    put_free(env, p);
    return NULL;
}

/* lgPut(...) -> undefined: the checkpoint written and committed */
static napi_value lg_put_sync(napi_env env, napi_callback_info info)
{
    lg_put *p = put_args(env, info);
    if (!p)
        return NULL;
    int rc = put_run(p); /* the callback is C: nothing can close the database meanwhile */
    put_free(env, p);
    if (rc)
        return throw_rc(env, rc, NULL, NULL);
    return mk_undef(env);
}

static void put_execute(napi_env env, void *data)
{
    (void)env;
    lg_put *p = data;
    p->rc = put_run(p);
    if (p->rc && rc_has_details(p->rc))
        snprintf(p->err, sizeof(p->err), "%s", errmsg_details(p->rc));
}

static void put_complete(napi_env env, napi_status status, void *data)
{
    lg_put *p = data;
    p->d->pending--;
    if (status != napi_ok && p->rc == 0)
        p->rc = INMEM_EMISUSE; /* cancelled: the environment is going away */
    if (p->rc) {
        throw_rc(env, p->rc, p->err[0] ? p->err : NULL, NULL);
        napi_value err;
        napi_get_and_clear_last_exception(env, &err);
        napi_reject_deferred(env, p->def, err);
    } else {
        napi_resolve_deferred(env, p->def, mk_undef(env));
    }
    napi_delete_async_work(env, p->aw);
    put_free(env, p);
}

/* lgPutAsync(...) -> Promise: lgPut on the thread pool */
static napi_value lg_put_async(napi_env env, napi_callback_info info)
{
    lg_put *p = put_args(env, info);
    if (!p)
        return NULL;
    napi_value promise, name, self;
    size_t argc = 1;
    napi_get_cb_info(env, info, &argc, &self, NULL, NULL);
    /* Pending before the promise is made: making it may run user code (promise hooks), which
     * then cannot close the database this put is about to use (close() throws BusyError). */
    p->d->pending++;
    if (napi_create_promise(env, &p->def, &promise) != napi_ok) {
        p->d->pending--;
        put_free(env, p);
        return NULL;
    }
    napi_create_reference(env, self, 1, &p->hold); /* keeps the database handle alive */
    napi_create_string_utf8(env, "inmem.langgraphPut", NAPI_AUTO_LENGTH, &name);
    if (napi_create_async_work(env, NULL, name, put_execute, put_complete, p, &p->aw) != napi_ok ||
        napi_queue_async_work(env, p->aw) != napi_ok) {
        p->d->pending--;
        throw_rc(env, INMEM_ENOMEM, "cannot queue an asynchronous call", NULL);
        napi_value err;
        napi_get_and_clear_last_exception(env, &err);
        napi_reject_deferred(env, p->def, err);
        put_free(env, p);
    }
    return promise;
}

/* ---- read ----------------------------------------------------------------------------------- */

/* A stored value: its type and bytes (borrowed from the transaction). */
typedef struct item {
    part type, data;
} item;

typedef struct items {
    item *v;
    size_t n, cap;
} items;

static int items_add(items *l, part type, part data)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        item *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return INMEM_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].type = type;
    l->v[l->n].data = data;
    l->n++;
    return 0;
}

/* One read: the snapshot, the scope, and scratch space reused from tuple to tuple. */
typedef struct reader {
    napi_env env;
    inmem_txn *txn;
    const inmem_run_id *run;
    part ns;
    sbuf key, text, names;
    items vals; /* checkpoint, metadata, values, writes, sends (in that order) */
    part *chl;  /* the channels of the tuple being read: names and versions */
    size_t chcap;
    const part *chans; /* the caller's channel list for a format 1 record, or NULL */
    size_t nchans;
    int flags;      /* the caller's flags for a format 1 record */
    int parts_only; /* never one JSON text (a serializer other than the stock one) */
} reader;

static napi_value corrupt(napi_env env, const char *what)
{
    return throw_msg(env, INMEM_ECORRUPT, what);
}

static napi_value mk_strn(napi_env env, part s)
{
    napi_value v;
    napi_create_string_utf8(env, s.p, s.n, &v);
    return v;
}

/* The writes stored under checkpoint @p id: their items appended to r->vals; their task id,
 * channel, task path and index to the flat array @p meta. 0, or -1 with an exception pending. */
static int read_writes(reader *r, part id, napi_value meta)
{
    napi_env env = r->env;
    sbuf *k = &r->key;
    k->n = 0;
    sb_byte(k, 'w');
    sb_add(k, r->ns.p, r->ns.n);
    sb_byte(k, 0);
    sb_add(k, id.p, id.n);
    sb_byte(k, 0);
    if (k->oom) {
        throw_rc(env, INMEM_ENOMEM, NULL, NULL);
        return -1;
    }
    inmem_iter *it;
    int rc = inmem_kv_scan_prefix(r->txn, r->run, k->p, k->n, &it);
    if (rc) {
        throw_rc(env, rc, NULL, NULL);
        return -1;
    }
    uint32_t nm = 0;
    for (;;) {
        const void *kp, *v;
        size_t kl, vl;
        rc = inmem_iter_next(it, &kp, &kl, &v, &vl, NULL);
        if (rc == INMEM_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        part f[6];
        if (kl < k->n + 4 || unframe(v, vl, f, 6) != 6 || f[0].n != 1 || f[0].p[0] != 1) {
            inmem_iter_free(it);
            corrupt(env, "InmemSaver: a stored write is damaged or of another format");
            return -1;
        }
        if ((rc = items_add(&r->vals, f[3], f[4])) != 0)
            break;
        const unsigned char *ik = (const unsigned char *)kp + kl - 4;
        uint32_t u = (uint32_t)ik[0] << 24 | (uint32_t)ik[1] << 16 | (uint32_t)ik[2] << 8 | ik[3];
        napi_value idx;
        napi_create_int64(env, (int64_t)u - 0x80000000LL, &idx);
        set_elem(env, meta, nm++, mk_strn(env, f[1]));
        set_elem(env, meta, nm++, mk_strn(env, f[2]));
        set_elem(env, meta, nm++, mk_strn(env, f[5]));
        set_elem(env, meta, nm++, idx);
    }
    inmem_iter_free(it);
    if (rc) {
        throw_rc(env, rc, NULL, NULL);
        return -1;
    }
    return 0;
}

static int is_json(const item *it)
{
    return it->type.n == 4 && memcmp(it->type.p, "json", 4) == 0 && it->data.n > 0;
}

/* Whether the stock serializer (JsonPlusSerializer) would load this JSON to exactly what
 * JSON.parse gives: it revives only objects with an "lc" key, assigns keys one by one (so a
 * "__proto__" key would differ), and a key could hide behind a \u escape. */
static int is_plain(const item *it)
{
    return !memmem(it->data.p, it->data.n, "\"lc\"", 4) &&
           !memmem(it->data.p, it->data.n, "\\u", 2) &&
           !memmem(it->data.p, it->data.n, "__proto__", 9);
}

/* Appends items [from, to) of r->vals to the text, comma-separated. */
static void join_items(reader *r, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        if (i > from)
            sb_byte(&r->text, ',');
        sb_add(&r->text, r->vals.v[i].data.p, r->vals.v[i].data.n);
    }
}

/*
 * One tuple from its checkpoint record @p rec (checkpoint @p id):
 *   [id, parentId | undefined, text | undefined, plain, parts | undefined, channels, writes,
 *    needsChannels, sends | undefined]
 * text is the JSON array [checkpoint, metadata, [value...], [write...], [send...]] when every
 * part is JSON (plain: and JSON.parse loads it as the stock serializer would); otherwise parts is
 * [type, bytes, type, bytes, ...] in the same order, with parts.counts = [values, writes, sends].
 * channels names the values present (one string, each name NUL-terminated: one string to make,
 * not one a channel); writes and sends (the parent's writes, for a checkpoint
 * older than format 4) are flat [taskId, channel, taskPath, idx, ...]. needsChannels: a format 1
 * record, read without its values (the caller reads it again with the channel list).
 */
static napi_value read_tuple(reader *r, part id, const void *rec, size_t rlen)
{
    napi_env env = r->env;
    part f[9];
    long nf = unframe(rec, rlen, f, 9);
    if (nf < 1 || f[0].n != 1)
        return corrupt(env, "InmemSaver: a stored checkpoint is damaged");
    int fmt = f[0].p[0];
    if (fmt != 1 && fmt != 2)
        return corrupt(env, "InmemSaver: a stored checkpoint has a format this version does not "
                            "read (it reads 1 and 2)");
    if (nf != (fmt == 1 ? 7 : 9) || f[5].n != 1 || (fmt == 2 && f[8].n != 1))
        return corrupt(env, "InmemSaver: a stored checkpoint is damaged");
    int has_parent = f[5].p[0] != 0;
    /* The channels to read: the record's, or the caller's for a format 1 record. */
    size_t nch = 0;
    int flags = 0, needs = 0;
    if (fmt == 2) {
        size_t k = 0;
        for (size_t i = 0; i < f[7].n; i++)
            k += f[7].p[i] == 0;
        if (k % 2 || (f[7].n && f[7].p[f[7].n - 1] != 0))
            return corrupt(env, "InmemSaver: a stored checkpoint is damaged");
        nch = k;
        flags = f[8].p[0];
    } else if (r->chans) {
        nch = r->nchans;
        flags = r->flags;
    } else {
        needs = 1;
    }
    if (nch > r->chcap) {
        part *c = realloc(r->chl, nch * sizeof(*c));
        if (!c)
            return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
        r->chl = c;
        r->chcap = nch;
    }
    if (fmt == 2) {
        const char *c = f[7].p;
        for (size_t i = 0; i < nch; i++) {
            size_t l = strlen(c); /* each item is NUL-terminated (checked above) */
            r->chl[i] = (part){c, l};
            c += l + 1;
        }
    } else if (nch)
        memcpy(r->chl, r->chans, nch * sizeof(part));
    r->vals.n = 0;
    if (items_add(&r->vals, f[1], f[2]) || items_add(&r->vals, f[3], f[4]))
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    sbuf *names = &r->names;
    names->n = 0;
    for (size_t i = 0; i < nch; i += 2) {
        sbuf *k = &r->key;
        k->n = 0;
        sb_byte(k, 'b');
        sb_add(k, r->ns.p, r->ns.n);
        sb_byte(k, 0);
        sb_add(k, r->chl[i].p, r->chl[i].n);
        sb_byte(k, 0);
        sb_add(k, r->chl[i + 1].p, r->chl[i + 1].n);
        if (k->oom)
            return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
        const void *v;
        size_t vl;
        int rc = inmem_kv_get(r->txn, r->run, k->p, k->n, &v, &vl, NULL);
        if (rc == INMEM_NOTFOUND)
            continue;
        if (rc)
            return throw_rc(env, rc, NULL, NULL);
        part b[3];
        if (unframe(v, vl, b, 3) != 3 || b[0].n != 1 || b[0].p[0] != 1)
            return corrupt(env, "InmemSaver: a stored value is damaged or of another format");
        if (items_add(&r->vals, b[1], b[2]))
            return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
        sb_add(names, r->chl[i].p, r->chl[i].n);
        sb_byte(names, 0);
    }
    if (names->oom)
        return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
    napi_value chans = mk_strn(env, (part){names->p ? names->p : "", names->n});
    size_t nvals = r->vals.n;
    napi_value writes = mk_arr(env, 0);
    if (read_writes(r, id, writes))
        return NULL;
    size_t nwrites = r->vals.n;
    napi_value sends = mk_undef(env);
    if ((flags & 1) && has_parent) {
        sends = mk_arr(env, 0);
        if (read_writes(r, f[6], sends))
            return NULL;
    }
    /* One JSON text if every part is JSON. */
    int json = 1, plain = 1;
    for (size_t i = 0; i < r->vals.n && json; i++) {
        json = is_json(&r->vals.v[i]);
        plain = plain && json && is_plain(&r->vals.v[i]);
    }
    napi_value text = mk_undef(env), parts = mk_undef(env);
    if (json && !r->parts_only) {
        sbuf *t = &r->text;
        t->n = 0;
        sb_byte(t, '[');
        join_items(r, 0, 2);
        sb_add(t, ",[", 2);
        join_items(r, 2, nvals);
        sb_add(t, "],[", 3);
        join_items(r, nvals, nwrites);
        sb_add(t, "],[", 3);
        join_items(r, nwrites, r->vals.n);
        sb_add(t, "]]", 2);
        if (t->oom)
            return throw_rc(env, INMEM_ENOMEM, NULL, NULL);
        napi_create_string_utf8(env, t->p, t->n, &text);
    } else {
        parts = mk_arr(env, 2 * r->vals.n);
        for (size_t i = 0; i < r->vals.n; i++) {
            set_elem(env, parts, (uint32_t)(2 * i), mk_strn(env, r->vals.v[i].type));
            set_elem(env, parts, (uint32_t)(2 * i + 1),
                     mk_buf(env, r->vals.v[i].data.p, r->vals.v[i].data.n));
        }
        napi_value counts = mk_arr(env, 3);
        set_elem(env, counts, 0, mk_u64(env, nvals - 2));
        set_elem(env, counts, 1, mk_u64(env, nwrites - nvals));
        set_elem(env, counts, 2, mk_u64(env, r->vals.n - nwrites));
        set_prop(env, parts, "counts", counts);
    }
    napi_value t = mk_arr(env, 9);
    set_elem(env, t, 0, mk_strn(env, id));
    set_elem(env, t, 1, has_parent ? mk_strn(env, f[6]) : mk_undef(env));
    set_elem(env, t, 2, text);
    set_elem(env, t, 3, mk_bool(env, json && plain && !r->parts_only));
    set_elem(env, t, 4, parts);
    set_elem(env, t, 5, chans);
    set_elem(env, t, 6, writes);
    set_elem(env, t, 7, mk_bool(env, needs));
    set_elem(env, t, 8, sends);
    return t;
}

/* The checkpoint id of key @p k, whose inverted id starts at @p at (ends with 0xff). */
static int id_of_key(sbuf *out, const void *k, size_t kl, size_t at)
{
    const unsigned char *p = k;
    if (kl < at + 1 || p[kl - 1] != 0xff)
        return -1;
    out->n = 0;
    for (size_t i = at; i + 1 < kl; i++)
        sb_byte(out, 255u - p[i]);
    return out->oom ? -1 : 0;
}

/*
 * lgRead(h, run, ns, id | null, before | null, limit, indexKey | null, indexJson | null,
 *        channels | null, flags) -> [tuple...]
 * h: a database (the read is a snapshot of its own) or a transaction (its snapshot).
 * With id: that checkpoint ([] if missing); channels and flags bit 0 stand in for a format 1
 * record's. Without: up to limit checkpoints of namespace ns, newest first, strictly before
 * `before`; from the metadata index of indexKey = indexJson if given.
 * flags bit 1: parts only, never one JSON text.
 */
static napi_value lg_read(napi_env env, napi_callback_info info)
{
    ARGS(10);
    dbw *d;
    txw *tx;
    if (get_target(env, argv[0], &d, &tx))
        return NULL;
    inmem_run_id rid;
    uint64_t limit, flags;
    reader r = {.env = env};
    jsbytes ns = {0}, id = {0}, before = {0}, ik = {0}, ij = {0};
    sbuf chbuf = {0}, idbuf = {0};
    slice *chs = NULL;
    part *chp = NULL;
    uint32_t nch = 0;
    napi_value out = NULL;
    int own = 0, rc;
    inmem_iter *it = NULL;
    sbuf pre = {0}, start = {0}, end = {0};
    size_t at;
    uint32_t n = 0;
    if (get_run_req(env, argv[1], &rid, "run") || get_u64(env, argv[5], 1, &limit, "limit") ||
        get_u64(env, argv[9], 0, &flags, "flags") || get_bytes(env, argv[2], &ns, "ns") ||
        get_bytes_opt(env, argv[3], &id, "id") || get_bytes_opt(env, argv[4], &before, "before") ||
        get_bytes_opt(env, argv[6], &ik, "indexKey") ||
        get_bytes_opt(env, argv[7], &ij, "indexJson") ||
        get_list(env, argv[8], &chbuf, &chs, &nch, "channels must be a NUL-terminated list"))
        goto done;
    if (limit > (1u << 20)) {
        throw_msg(env, INMEM_EINVAL, "limit must be at most 2^20");
        goto done;
    }
    if (chs) {
        if (chbuf.oom || !(chp = calloc(nch ? nch : 1, sizeof(*chp)))) {
            throw_rc(env, INMEM_ENOMEM, NULL, NULL);
            goto done;
        }
        for (uint32_t i = 0; i < nch; i++)
            chp[i] = (part){chbuf.p + chs[i].off, chs[i].n};
        r.chans = chp;
        r.nchans = nch & ~1u;
        r.flags = (int)(flags & 1);
    }
    r.parts_only = (flags & 2) != 0;
    r.run = &rid;
    r.ns = (part){ns.p, ns.n};
    if (tx) {
        r.txn = tx->txn;
    } else {
        if ((rc = inmem_txn_begin_readonly(d->db, &r.txn)) != 0) {
            throw_rc(env, rc, NULL, NULL);
            goto done;
        }
        own = 1;
    }
    out = mk_arr(env, 0);
    if (id.p) {
        /* c <ns> 00 <~id> ff */
        sbuf *k = &r.key;
        sb_byte(k, 'c');
        sb_add(k, ns.p, ns.n);
        sb_byte(k, 0);
        sb_inv(k, id.p, id.n);
        if (k->oom) {
            out = throw_rc(env, INMEM_ENOMEM, NULL, NULL);
            goto done;
        }
        const void *v;
        size_t vl;
        rc = inmem_kv_get(r.txn, r.run, k->p, k->n, &v, &vl, NULL);
        if (rc == INMEM_NOTFOUND || limit == 0)
            goto done;
        if (rc) {
            out = throw_rc(env, rc, NULL, NULL);
            goto done;
        }
        napi_value t = read_tuple(&r, (part){id.p, id.n}, v, vl);
        if (!t)
            out = NULL;
        else
            set_elem(env, out, n++, t);
        goto done;
    }
    /* The scan: c <ns> 00 (checkpoints) or m <ns> 00 <key> 00 <json> 00 (an index), from just
     * after `before`'s key to the end of the prefix. */
    sb_byte(&pre, ik.p ? 'm' : 'c');
    sb_add(&pre, ns.p, ns.n);
    sb_byte(&pre, 0);
    if (ik.p) {
        sb_add(&pre, ik.p, ik.n);
        sb_byte(&pre, 0);
        sb_add(&pre, ij.p, ij.n);
        sb_byte(&pre, 0);
    }
    sb_add(&start, pre.p, pre.n);
    if (before.p) {
        sb_inv(&start, before.p, before.n);
        sb_byte(&start, 0);
    }
    sb_add(&end, pre.p, pre.n);
    if (!end.oom)
        end.p[end.n - 1] = 1;
    if (pre.oom || start.oom || end.oom)
        rc = INMEM_ENOMEM;
    else
        rc = inmem_kv_scan(r.txn, r.run, start.p, start.n, end.p, end.n, &it);
    at = pre.n;
    if (rc) {
        out = throw_rc(env, rc, NULL, NULL);
        goto done;
    }
    while (n < limit) {
        const void *k, *v;
        size_t kl, vl;
        rc = inmem_iter_next(it, &k, &kl, &v, &vl, NULL);
        if (rc == INMEM_NOTFOUND)
            break;
        if (rc) {
            out = throw_rc(env, rc, NULL, NULL);
            goto done;
        }
        if (id_of_key(&idbuf, k, kl, at)) {
            out = idbuf.oom ? throw_rc(env, INMEM_ENOMEM, NULL, NULL)
                            : corrupt(env, "InmemSaver: a stored key is damaged");
            goto done;
        }
        if (ik.p) {
            /* an index entry: the checkpoint itself (skipped if it is gone) */
            sbuf *key = &r.key;
            key->n = 0;
            sb_byte(key, 'c');
            sb_add(key, ns.p, ns.n);
            sb_byte(key, 0);
            sb_add(key, (const char *)k + at, kl - at);
            if (key->oom) {
                out = throw_rc(env, INMEM_ENOMEM, NULL, NULL);
                goto done;
            }
            rc = inmem_kv_get(r.txn, r.run, key->p, key->n, &v, &vl, NULL);
            if (rc == INMEM_NOTFOUND)
                continue;
            if (rc) {
                out = throw_rc(env, rc, NULL, NULL);
                goto done;
            }
        }
        napi_value t = read_tuple(&r, (part){idbuf.p, idbuf.n}, v, vl);
        if (!t) {
            out = NULL;
            goto done;
        }
        set_elem(env, out, n++, t);
    }
done:
    if (it)
        inmem_iter_free(it);
    if (own)
        inmem_txn_free(r.txn);
    jsbytes_free(&ns);
    jsbytes_free(&id);
    jsbytes_free(&before);
    jsbytes_free(&ik);
    jsbytes_free(&ij);
    free(chbuf.p);
    free(chs);
    free(chp);
    free(idbuf.p);
    free(pre.p);
    free(start.p);
    free(end.p);
    free(r.chl);
    free(r.key.p);
    free(r.names.p);
    free(r.text.p);
    free(r.vals.v);
    return out;
}

void init_langgraph(napi_env env, napi_value exports)
{
    export_fn(env, exports, "lgPut", lg_put_sync);
    export_fn(env, exports, "lgPutAsync", lg_put_async);
    export_fn(env, exports, "lgRead", lg_read);
}
