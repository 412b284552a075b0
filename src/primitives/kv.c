/*
 * kv.c — the key-value primitive inside a transaction: each call encodes the run-scoped key
 * (core/key.h, tag KV) and hands it to the transaction layer.
 */
#include "core/key.h"
#include "engine/db.h"

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
    WITH_KEY(txn, run, key, klen, inmem__txn_put(txn, kb.p, kb.len, val, vlen, 0, 0));
}

int inmem_kv_put_ttl(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                     const void *val, size_t vlen, uint64_t ttl_ms)
{
    WITH_KEY(txn, run, key, klen, inmem__txn_put(txn, kb.p, kb.len, val, vlen, ttl_ms, 0));
}

int inmem_kv_delete(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen)
{
    WITH_KEY(txn, run, key, klen, inmem__txn_put(txn, kb.p, kb.len, NULL, 0, 0, 1));
}

int inmem_kv_cas(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                 uint64_t expected_version, const void *val, size_t vlen)
{
    WITH_KEY(txn, run, key, klen,
             inmem__txn_cas(txn, kb.p, kb.len, expected_version, val, vlen));
}

/* ---- scans: [start, end) within the run's KV space ---- */

int inmem_kv_scan(inmem_txn *txn, const inmem_run_id *run, const void *start, size_t slen,
                  const void *end, size_t elen, inmem_iter **out)
{
    if (!txn || !out || (!start && slen) || (!end && elen))
        return INMEM_EINVAL;
    *out = NULL;
    size_t max = inmem__db_max_user_key(inmem__txn_store(txn));
    if (slen > max || elen > max)
        return INMEM_ETOOBIG;
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

int inmem_kv_scan_prefix(inmem_txn *txn, const inmem_run_id *run, const void *prefix,
                         size_t plen, inmem_iter **out)
{
    if (!txn || !out || (!prefix && plen))
        return INMEM_EINVAL;
    *out = NULL;
    if (plen > inmem__db_max_user_key(inmem__txn_store(txn)))
        return INMEM_ETOOBIG;
    /* the keys that start with prefix are [prefix, successor(prefix)): drop trailing 0xff
     * bytes and add one to the last remaining byte; none remaining means no upper bound */
    const uint8_t *p = prefix;
    size_t n = plen;
    while (n > 0 && p[n - 1] == 0xff)
        n--;
    if (n == 0)
        return inmem_kv_scan(txn, run, prefix, plen, NULL, 0, out);
    inmem__keybuf hi;
    int rc = inmem__keybuf_make(&hi, run, INMEM__TAG_KV, p, n);
    if (rc)
        return rc;
    hi.p[hi.len - 1]++;
    rc = inmem_kv_scan(txn, run, prefix, plen, hi.p + INMEM__KEY_PREFIX, n, out);
    inmem__keybuf_done(&hi);
    return rc;
}

int inmem_iter_next(inmem_iter *it, const void **key, size_t *klen, const void **val,
                    size_t *vlen, uint64_t *version)
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
