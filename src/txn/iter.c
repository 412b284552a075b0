/*
 * iter.c — scans: a transaction's view of a key range, the index at its snapshot merged in key
 * order with the transaction's own pending writes (which come first, and hide or override the
 * snapshot's version of their key). Every key a scan returns from the snapshot is recorded in the
 * read set; keys inserted by others after the snapshot are not seen (phantoms are allowed).
 */
#include "txn/txn_int.h"

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static int cmp_pending(const void *a, const void *b, void *ctx)
{
    const wentry *w = ctx;
    const keyref *x = &w[*(const uint32_t *)a].k, *y = &w[*(const uint32_t *)b].k;
    return key_cmp(x->key, x->klen, y->key, y->klen);
}

int inmem__txn_scan(inmem_txn *t, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen,
                    inmem_iter **out)
{
    CHECK_ACTIVE(t);
    if (INMEM_UNLIKELY(t->past)) { /* could keys of the range have been unlinked? */
        int rc = inmem__history_scan_check(t, lo, lolen, hi, hilen);
        if (rc)
            return rc;
    }
    inmem_iter *it = calloc(1, sizeof(*it));
    if (!it)
        return INMEM_ENOMEM;
    it->txn = t;
    if (hi) {
        it->hi = malloc(hilen ? hilen : 1);
        it->pw = malloc((t->nw ? t->nw : 1) * sizeof(uint32_t));
        if (!it->hi || !it->pw) {
            free(it->hi);
            free(it->pw);
            free(it);
            return INMEM_ENOMEM;
        }
        memcpy(it->hi, hi, hilen);
        it->hilen = hilen;
    } else if (!(it->pw = malloc((t->nw ? t->nw : 1) * sizeof(uint32_t)))) {
        free(it);
        return INMEM_ENOMEM;
    }
    for (size_t i = 0; i < t->nw; i++) {
        const keyref *k = &t->w[i].k;
        if (key_cmp(k->key, k->klen, lo, lolen) >= 0 &&
            (!hi || key_cmp(k->key, k->klen, hi, hilen) < 0))
            it->pw[it->npw++] = (uint32_t)i;
    }
    qsort_r(it->pw, it->npw, sizeof(uint32_t), cmp_pending, t->w);
    it->cur = inmem__index_seek(t->st->index, lo, lolen);
    it->next = t->iters;
    it->pprev = &t->iters;
    if (t->iters)
        t->iters->pprev = &it->next;
    t->iters = it;
    *out = it;
    return 0;
}

/* The version of @p n at the snapshot; for a time-travel transaction, GONE if it was freed. */
static const inmem__version gone_;
#define GONE (&gone_)

static const inmem__version *visible(inmem_txn *t, inmem__node *n)
{
    if (INMEM_LIKELY(!t->past))
        return inmem__version_at(n, t->snap);
    inmem__version *v;
    return inmem__version_at_checked(n, t->snap, &v) < 0 ? GONE : v;
}

int inmem__iter_next(inmem_iter *it, const uint8_t **key, size_t *klen, const void **val,
                     size_t *vlen, uint64_t *version)
{
    return inmem__iter_next_ex(it, key, klen, val, vlen, version, NULL);
}

int inmem__iter_next_ex(inmem_iter *it, const uint8_t **key, size_t *klen, const void **val,
                        size_t *vlen, uint64_t *version, uint64_t *expiry_ms)
{
    if (!it)
        return INMEM_EINVAL;
    inmem_txn *t = it->txn;
    CHECK_ACTIVE(t);
    for (;;) {
        /* the next index key visible at the snapshot, within the bound */
        const inmem__version *v = NULL;
        while (it->cur) {
            if (it->hi && key_cmp(inmem__node_key(it->cur), it->cur->klen, it->hi, it->hilen) >= 0)
                it->cur = NULL;
            else if ((v = visible(t, it->cur)) == GONE)
                return inmem__history_gone(t, inmem__node_key(it->cur), it->cur->klen);
            else if (v && !v->tomb && !expired_for(t, v))
                break;
            else
                it->cur = inmem__index_next(it->cur);
        }
        const wentry *p = it->ipw < it->npw ? &t->w[it->pw[it->ipw]] : NULL;
        if (!it->cur && !p)
            return INMEM_NOTFOUND;
        int c = !p         ? -1
                : !it->cur ? 1
                           : key_cmp(inmem__node_key(it->cur), it->cur->klen, p->k.key, p->k.klen);
        if (c >= 0) { /* our own pending write comes first, or overrides the snapshot's */
            it->ipw++;
            if (c == 0)
                it->cur = inmem__index_next(it->cur);
            if (p->v->tomb || expired_for(t, p->v))
                continue;
            v = p->v;
            if (key)
                *key = p->k.key;
            if (klen)
                *klen = p->k.klen;
            if (version)
                *version = 0;
        } else {
            inmem__node *n = it->cur;
            int rc = inmem__txn_record_read(t, inmem__node_key(n), n->klen, n->hash, n, v->ver);
            if (rc)
                return rc;
            it->cur = inmem__index_next(n);
            if (key)
                *key = inmem__node_key(n);
            if (klen)
                *klen = n->klen;
            if (version)
                *version = v->ver;
        }
        if (val)
            *val = v->data;
        if (vlen)
            *vlen = v->vlen;
        if (expiry_ms)
            *expiry_ms = v->expiry_ms;
        return 0;
    }
}

void inmem__iter_free(inmem_iter *it)
{
    if (!it)
        return;
    *it->pprev = it->next;
    if (it->next)
        it->next->pprev = it->pprev;
    free(it->hi);
    free(it->pw);
    free(it);
}
