/*
 * kv.c — the key-value primitive inside a transaction: each call encodes the run-scoped key
 * (core/key.h, tag KV) and hands it to the transaction layer.
 */
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "primitives/rec.h"

#define WITH_KEY(txn, run, key, klen, call)                                                        \
    do {                                                                                           \
        if (!(txn))                                                                                \
            return INMEM_EINVAL;                                                                   \
        inmem__keybuf kb;                                                                          \
        int rc = inmem__user_key(inmem__txn_store(txn), &kb, (run), INMEM__TAG_KV, (key), (klen)); \
        if (rc == 0)                                                                               \
            rc = (call);                                                                           \
        inmem__keybuf_done(&kb);                                                                   \
        return rc;                                                                                 \
    } while (0)

int inmem_kv_get(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                 const void **val, size_t *vlen, uint64_t *version)
{
    WITH_KEY(txn, run, key, klen, inmem__txn_get(txn, kb.p, kb.len, val, vlen, version));
}

int inmem_kv_put(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                 const void *val, size_t vlen)
{
    WITH_KEY(txn, run, key, klen, inmem__txn_put(txn, kb.p, kb.len, val, vlen, 0));
}

int inmem_kv_put_ttl(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                     const void *val, size_t vlen, uint64_t ttl_ms)
{
    WITH_KEY(txn, run, key, klen,
             inmem__txn_put(txn, kb.p, kb.len, val, vlen, inmem__expiry_after(ttl_ms)));
}

int inmem_kv_put_expire_at(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                           const void *val, size_t vlen, uint64_t expire_at_ms)
{
    WITH_KEY(txn, run, key, klen, inmem__txn_put(txn, kb.p, kb.len, val, vlen, expire_at_ms));
}

int inmem_kv_get_expiry(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                        uint64_t *expire_at_ms)
{
    WITH_KEY(txn, run, key, klen,
             inmem__txn_get_ex(txn, kb.p, kb.len, NULL, NULL, NULL, expire_at_ms));
}

int inmem_kv_delete(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen)
{
    WITH_KEY(txn, run, key, klen, inmem__txn_delete(txn, kb.p, kb.len));
}

int inmem_kv_cas(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                 uint64_t expected_version, const void *val, size_t vlen)
{
    WITH_KEY(txn, run, key, klen, inmem__txn_cas(txn, kb.p, kb.len, expected_version, val, vlen));
}

/* ---- scans: [start, end) within the run's KV space ---- */

/* inmem_kv_scan without the size check: the bounds may be one byte longer than any key (a
 * listing's cursor + 0 byte), since they are only compared with keys. */
static int scan_range(inmem_txn *txn, const inmem_run_id *run, const void *start, size_t slen,
                      const void *end, size_t elen, inmem_iter **out)
{
    inmem__keybuf lo, hi;
    int rc = inmem__keybuf_make(&lo, run, INMEM__TAG_KV, start, slen);
    if (rc)
        return rc;
    if (end && elen) {
        rc = inmem__keybuf_make(&hi, run, INMEM__TAG_KV, end, elen);
    } else { /* the end of the run's KV space: the next tag's prefix */
        rc = inmem__keybuf_make(&hi, run, INMEM__TAG_KV + 1, NULL, 0);
    }
    if (rc == 0) {
        rc = inmem__txn_scan(txn, lo.p, lo.len, hi.p, hi.len, out);
        inmem__keybuf_done(&hi);
    }
    inmem__keybuf_done(&lo);
    return rc;
}

int inmem_kv_scan(inmem_txn *txn, const inmem_run_id *run, const void *start, size_t slen,
                  const void *end, size_t elen, inmem_iter **out)
{
    if (!txn || !out || (!start && slen) || (!end && elen))
        return INMEM_EINVAL;
    *out = NULL;
    size_t max = inmem__db_max_user_key(inmem__txn_store(txn));
    if (slen > max || elen > max)
        return INMEM_ETOOBIG;
    return scan_range(txn, run, start, slen, end, elen, out);
}

/* The smallest key greater than every key starting with prefix: prefix without its trailing
 * 0xff bytes, last byte plus one. Returns its length in *n (0: no such key, no upper bound);
 * it is built in @p buf (plen bytes). */
static size_t prefix_end(const uint8_t *prefix, size_t plen, uint8_t *buf)
{
    size_t n = plen;
    while (n > 0 && prefix[n - 1] == 0xff)
        n--;
    if (n) {
        memcpy(buf, prefix, n);
        buf[n - 1]++;
    }
    return n;
}

/* Scans [start, end of prefix) of the run. */
static int scan_from(inmem_txn *txn, const inmem_run_id *run, const void *prefix, size_t plen,
                     const void *start, size_t slen, inmem_iter **out)
{
    if (plen == 0)
        return scan_range(txn, run, start, slen, NULL, 0, out);
    uint8_t small[256];
    uint8_t *end = plen <= sizeof small ? small : malloc(plen);
    if (!end)
        return INMEM_ENOMEM;
    size_t elen = prefix_end(prefix, plen, end);
    int rc = scan_range(txn, run, start, slen, elen ? end : NULL, elen, out);
    if (end != small)
        free(end);
    return rc;
}

int inmem_kv_scan_prefix(inmem_txn *txn, const inmem_run_id *run, const void *prefix, size_t plen,
                         inmem_iter **out)
{
    if (!txn || !out || (!prefix && plen))
        return INMEM_EINVAL;
    *out = NULL;
    if (plen > inmem__db_max_user_key(inmem__txn_store(txn)))
        return INMEM_ETOOBIG;
    return scan_from(txn, run, prefix, plen, prefix, plen, out);
}

void inmem_iter_free(inmem_iter *it)
{
    inmem__iter_free(it);
}

int inmem_iter_next(inmem_iter *it, const void **key, size_t *klen, const void **val, size_t *vlen,
                    uint64_t *version)
{
    const uint8_t *k;
    size_t kl;
    int rc = inmem__iter_next(it, &k, &kl, val, vlen, version);
    if (rc == 0) {
        if (key)
            *key = k + INMEM__KEY_PREFIX;
        if (klen)
            *klen = kl - INMEM__KEY_PREFIX;
    }
    return rc;
}

/* ---- listing and batch reads ---- */

/* Opens the scan of a listing: the keys with @p prefix after the cursor @p after (if any). */
static int list_open(inmem_txn *txn, const inmem_run_id *run, const void *prefix, size_t plen,
                     const void *after, size_t alen, inmem_iter **it)
{
    size_t max = inmem__db_max_user_key(inmem__txn_store(txn));
    if (plen > max || alen > max)
        return INMEM_ETOOBIG;
    /* start at the prefix, or just past the cursor key (cursor + a 0 byte) if that is later:
     * compared whole, so that a cursor shorter than the prefix and equal to its start (or an
     * empty one) starts at the prefix, not before it */
    const void *start = prefix;
    size_t slen = plen;
    uint8_t *past = NULL;
    int c = after && plen ? memcmp(after, prefix, alen < plen ? alen : plen) : 0;
    if (after && (plen == 0 || c > 0 || (c == 0 && alen >= plen))) {
        if (!(past = malloc(alen + 1)))
            return INMEM_ENOMEM;
        memcpy(past, after, alen);
        past[alen] = 0;
        start = past;
        slen = alen + 1;
    }
    int rc = scan_from(txn, run, prefix, plen, start, slen, it);
    free(past);
    return rc;
}

int inmem_kv_list(inmem_txn *txn, const inmem_run_id *run, const void *prefix, size_t plen,
                  const void *after, size_t alen, size_t limit, inmem_kv_entry *out, size_t *n)
{
    if (!txn || !n || (!out && limit) || (!prefix && plen) || (!after && alen))
        return INMEM_EINVAL;
    *n = 0;
    inmem_iter *it;
    int rc = list_open(txn, run, prefix, plen, after, alen, &it);
    if (rc)
        return rc;
    while (*n < limit) {
        inmem_kv_entry *e = &out[*n];
        rc = inmem_iter_next(it, &e->key, &e->klen, &e->val, &e->vlen, &e->version);
        if (rc)
            break;
        (*n)++;
    }
    inmem_iter_free(it);
    return rc == INMEM_NOTFOUND ? 0 : rc;
}

struct list_args {
    const inmem_run_id *run;
    const void *prefix, *after;
    size_t plen, alen, limit;
    inmem_kv_entry *out; /* owned block: entries, then bytes */
    size_t n;
};

static int list_copy(inmem_txn *txn, void *arg)
{
    struct list_args *a = arg;
    free(a->out);
    a->out = NULL;
    if ((!a->prefix && a->plen) || (!a->after && a->alen))
        return INMEM_EINVAL;
    /* the entries in an array grown as they come: sized by the limit alone, a large one (a
     * caller's "all of them") failed to allocate, or wrapped the size around */
    inmem_kv_entry *tmp = NULL;
    size_t n = 0, cap = 0;
    inmem_iter *it;
    int rc = list_open(txn, a->run, a->prefix, a->plen, a->after, a->alen, &it);
    if (rc)
        return rc;
    while (n < a->limit) {
        if (n == cap) {
            size_t want = cap ? 2 * cap : 64;
            inmem_kv_entry *g =
                want <= SIZE_MAX / sizeof(*g) ? realloc(tmp, want * sizeof(*g)) : NULL;
            if (!g) {
                rc = INMEM_ENOMEM;
                break;
            }
            tmp = g;
            cap = want;
        }
        inmem_kv_entry *e = &tmp[n];
        if ((rc = inmem_iter_next(it, &e->key, &e->klen, &e->val, &e->vlen, &e->version)) != 0)
            break;
        n++;
    }
    inmem_iter_free(it); /* (the entries' bytes stay: they are the transaction's) */
    if (rc == INMEM_NOTFOUND)
        rc = 0;
    size_t bytes = n * sizeof(inmem_kv_entry);
    for (size_t i = 0; rc == 0 && i < n; i++)
        bytes += tmp[i].klen + tmp[i].vlen;
    if (rc == 0 && !(a->out = malloc(bytes ? bytes : 1)))
        rc = INMEM_ENOMEM;
    if (rc == 0) {
        uint8_t *p = (uint8_t *)(a->out + n);
        for (size_t i = 0; i < n; i++) {
            a->out[i] = tmp[i];
            memcpy(p, tmp[i].key, tmp[i].klen);
            a->out[i].key = p;
            p += tmp[i].klen;
            if (tmp[i].vlen)
                memcpy(p, tmp[i].val, tmp[i].vlen);
            a->out[i].val = p;
            p += tmp[i].vlen;
        }
        a->n = n;
    }
    free(tmp);
    return rc;
}

int inmem_kv_list_db(inmem_db *db, const inmem_run_id *run, const void *prefix, size_t plen,
                     const void *after, size_t alen, size_t limit, inmem_kv_entry **out, size_t *n)
{
    if (!db || !out || !n)
        return INMEM_EINVAL;
    struct list_args a = {run, prefix, after, plen, alen, limit, NULL, 0};
    int rc = inmem__db_autocommit(db, list_copy, &a);
    if (rc) {
        free(a.out);
        *out = NULL;
        *n = 0;
        return rc;
    }
    *out = a.out;
    *n = a.n;
    return 0;
}

/* Keys read together by inmem_kv_get_many(): their encoded keys are built, their home slots
 * prefetched, then their nodes, before any is read, so that the cache misses of a group overlap
 * instead of following one another (two misses per key otherwise: the slot, then the node). */
#define GET_GROUP 8

int inmem_kv_get_many(inmem_txn *txn, const inmem_run_id *run, size_t n, const void *const *keys,
                      const size_t *klens, inmem_kv_entry *out)
{
    if (!txn || (n && (!keys || !klens || !out)))
        return INMEM_EINVAL;
    int rc = inmem__txn_check(txn); /* n == 0 reads nothing, but an ended transaction is refused */
    if (rc)
        return rc;
    inmem__store *st = inmem__txn_store(txn);
    inmem__keybuf kb[GET_GROUP];
    uint64_t h[GET_GROUP];
    for (size_t base = 0; base < n && rc == 0; base += GET_GROUP) {
        size_t m = n - base < GET_GROUP ? n - base : GET_GROUP, built = 0;
        int bad = 0; /* the error of key `built`, reported once the keys before it are read */
        for (; built < m; built++) {
            bad = inmem__user_key(st, &kb[built], run, INMEM__TAG_KV, keys[base + built],
                                  klens[base + built]);
            if (bad)
                break;
            h[built] = inmem__hash(kb[built].p, kb[built].len);
            inmem__txn_prefetch(txn, h[built], 0);
        }
        for (size_t i = 0; i < built; i++)
            inmem__txn_prefetch(txn, h[i], 1);
        for (size_t i = 0; i < built; i++) {
            inmem_kv_entry *o = &out[base + i];
            *o = (inmem_kv_entry){keys[base + i], klens[base + i], NULL, 0, 0};
            if (rc == 0) {
                rc = inmem__txn_get_hashed(txn, kb[i].p, kb[i].len, h[i], &o->val, &o->vlen,
                                           &o->version);
                if (rc == INMEM_NOTFOUND) {
                    o->val = NULL;
                    o->vlen = 0;
                    rc = 0;
                }
            }
            inmem__keybuf_done(&kb[i]);
        }
        if (rc == 0 && bad)
            rc = bad;
    }
    return rc;
}

/* ---- history -------------------------------------------------------------------------------- */

int inmem__history_page(inmem_txn *txn, const uint8_t *key, size_t klen, uint64_t before,
                        size_t limit, inmem_version_info *out, size_t *n, int state)
{
    enum { CHUNK = 64 };
    inmem__hver hv[CHUNK];
    *n = 0;
    int rc = inmem__txn_check(txn); /* a limit of 0 reads nothing: see inmem__txn_check() */
    if (rc)
        return rc;
    while (*n < limit) {
        size_t want = limit - *n < CHUNK ? limit - *n : CHUNK, got;
        rc = inmem__txn_key_versions(txn, key, klen, before, hv, want, &got);
        if (rc)
            return rc;
        for (size_t i = 0; i < got; i++) {
            inmem_version_info *o = &out[*n + i];
            o->version = hv[i].version;
            o->time_ms = hv[i].time_ms;
            o->deleted = hv[i].tomb;
            o->expire_at_ms = hv[i].tomb ? 0 : hv[i].expiry_ms;
            o->older_freed = hv[i].cut;
            o->value = hv[i].tomb ? NULL : hv[i].val;
            o->len = hv[i].tomb ? 0 : hv[i].vlen;
            if (state && !hv[i].tomb) { /* a cell record: format byte, then the value */
                if (hv[i].vlen < 1 || hv[i].val[0] != INMEM__FMT_V1)
                    return inmem__error(INMEM_ECORRUPT, "state cell record of unknown format");
                o->value = hv[i].val + 1;
                o->len = hv[i].vlen - 1u;
            }
        }
        *n += got;
        if (got < want)
            break;
        before = hv[got - 1].version;
    }
    return 0;
}

int inmem_kv_history(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                     uint64_t before, size_t limit, inmem_version_info *out, size_t *n)
{
    if (!n)
        return INMEM_EINVAL;
    *n = 0;
    if (limit && !out)
        return INMEM_EINVAL;
    WITH_KEY(txn, run, key, klen, inmem__history_page(txn, kb.p, kb.len, before, limit, out, n, 0));
}
