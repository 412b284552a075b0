/*
 * iter.c — scans: a transaction's view of a key range, the index at its snapshot merged in key
 * order with the transaction's own pending writes (which come first, and hide or override the
 * snapshot's version of their key). Every key a scan returns from the snapshot is recorded in the
 * read set; keys inserted by others after the snapshot are not seen (phantoms are allowed).
 * Deleted keys are skipped, and so are values whose time to live has passed, except by the scan
 * of a run's deletion, which must erase those too (SCAN_OWN_WITH_EXPIRED).
 *
 * A range within a fork's scope (fork.c) has more sources: the fork's own keys at the snapshot,
 * then its parent's same range at min(snapshot, at), and so on up the chain. They are merged on
 * the key's suffix (the bytes after the 16-byte scope); on equal suffixes the nearest scope wins,
 * and its tombstone hides the others'. A key inherited from a parent is returned under the fork's
 * scope (a copy in the transaction's arena) and recorded as a read of the fork's key.
 */
#include "core/hash.h"
#include "txn/txn_int.h"

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static int cmp_pending(const void *a, const void *b, void *ctx)
{
    const wentry *w = ctx;
    const keyref *x = &w[((const inmem__iter_pw *)a)->w].k,
                 *y = &w[((const inmem__iter_pw *)b)->w].k;
    return key_cmp(x->key, x->klen, y->key, y->klen);
}

/* The version of @p n at @p snap; for a time-travel transaction, GONE if it was freed. */
static const inmem__version gone_;
#define GONE (&gone_)

static const inmem__version *visible(inmem_txn *t, inmem__node *n, uint64_t snap)
{
    if (INMEM_LIKELY(!t->past))
        return inmem__version_at(n, snap);
    inmem__version *v;
    return inmem__version_at_checked(n, snap, &v) < 0 ? GONE : v;
}

/* 1 if [lo, hi) lies within lo's 16-byte scope (hi in it, or hi the scope's successor). */
static int one_scope(const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen)
{
    if (lolen < 16 || !hi || hilen < 16)
        return 0;
    if (memcmp(lo, hi, 16) == 0)
        return 1;
    if (hilen != 16)
        return 0;
    uint8_t next[16];
    memcpy(next, lo, 16);
    int i = 15;
    while (i >= 0 && ++next[i] == 0)
        i--;
    return i >= 0 && memcmp(next, hi, 16) == 0;
}

/* @p key with its first 16 bytes replaced by @p scope, malloc'd (NULL if out of memory). */
static uint8_t *rescoped(const uint8_t *scope, const uint8_t *key, size_t klen)
{
    uint8_t *p = malloc(klen ? klen : 1);
    if (p && klen >= 16) {
        memcpy(p, scope, 16);
        memcpy(p + 16, key + 16, klen - 16);
    }
    return p;
}

static void free_sources(inmem_iter *it)
{
    for (size_t i = 0; i < it->nsrc; i++)
        free(it->src[i].hi);
    free(it->src);
}

/* Adds the sources of the forks above the scanned scope (src[0] is set). */
static int fork_sources(inmem_iter *it, const uint8_t *lo, size_t lolen)
{
    inmem_txn *t = it->txn;
    inmem__store *st = t->st;
    uint8_t scope[16], parent[16];
    uint64_t at, snap = t->snap;
    memcpy(scope, lo, 16);
    while (it->nsrc < INMEM__SCAN_SRC_MAX && inmem__fork_of(st, scope, snap, parent, &at)) {
        if (at < snap)
            snap = at;
        inmem__scan_src *s = &it->src[it->nsrc];
        memset(s, 0, sizeof(*s));
        s->snap = snap;
        uint8_t *plo = rescoped(parent, lo, lolen);
        if (!plo)
            return INMEM_ENOMEM;
        if (it->src[0].hi) {
            if (!(s->hi = rescoped(parent, it->src[0].hi, it->src[0].hilen))) {
                free(plo);
                return INMEM_ENOMEM;
            }
            s->hilen = it->src[0].hilen;
            if (s->hilen == 16) { /* the scope's successor */
                int i = 15;
                memcpy(s->hi, parent, 16);
                while (i >= 0 && ++s->hi[i] == 0)
                    i--;
                if (i < 0) {
                    free(s->hi);
                    s->hi = NULL;
                    s->hilen = 0;
                }
            }
        }
        s->cur = inmem__index_seek(st->index, plo, lolen);
        free(plo);
        it->nsrc++;
        memcpy(scope, parent, 16);
    }
    return 0;
}

/* What a scan returns: the range merged with its forks' (SCAN_MERGED) or its own keys only; and
 * values whose time to live has passed left out, as every read leaves them, or returned too
 * (SCAN_OWN_WITH_EXPIRED: a run's deletion erases them like any other). */
typedef enum scan_kind { SCAN_MERGED, SCAN_OWN, SCAN_OWN_WITH_EXPIRED } scan_kind;

static int scan(inmem_txn *t, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen,
                scan_kind kind, inmem_iter **out)
{
    CHECK_ACTIVE(t);
    if (INMEM_UNLIKELY(t->past)) { /* could keys of the range have been unlinked? */
        int rc = inmem__history_scan_check(t, lo, lolen, hi, hilen);
        if (rc)
            return rc;
    }
    int forks = kind == SCAN_MERGED && atomic_load_rlx(&t->st->has_forks) &&
                one_scope(lo, lolen, hi, hilen);
    inmem_iter *it = calloc(1, sizeof(*it));
    if (!it)
        return INMEM_ENOMEM;
    it->txn = t;
    it->with_expired = kind == SCAN_OWN_WITH_EXPIRED;
    it->src = calloc(forks ? INMEM__SCAN_SRC_MAX : 1, sizeof(*it->src));
    it->pw = malloc((t->nw ? t->nw : 1) * sizeof(*it->pw));
    if (!it->src || !it->pw || (hi && !(it->src[0].hi = malloc(hilen ? hilen : 1)))) {
        free_sources(it);
        free(it->pw);
        free(it);
        return INMEM_ENOMEM;
    }
    it->nsrc = 1;
    if (hi) {
        memcpy(it->src[0].hi, hi, hilen);
        it->src[0].hilen = hilen;
    }
    it->src[0].snap = t->snap;
    it->src[0].cur = inmem__index_seek(t->st->index, lo, lolen);
    if (forks) {
        memcpy(it->scope, lo, 16);
        int rc = fork_sources(it, lo, lolen);
        if (rc) {
            free_sources(it);
            free(it->pw);
            free(it);
            return rc;
        }
    }
    for (size_t i = 0; i < t->nw; i++) {
        const keyref *k = &t->w[i].k;
        if (key_cmp(k->key, k->klen, lo, lolen) >= 0 &&
            (!hi || key_cmp(k->key, k->klen, hi, hilen) < 0))
            it->pw[it->npw++] = (inmem__iter_pw){(uint32_t)i, t->w[i].v};
    }
    if (it->npw > 1)
        qsort_r(it->pw, it->npw, sizeof(*it->pw), cmp_pending, t->w);
    it->next = t->iters;
    it->pprev = &t->iters;
    if (t->iters)
        t->iters->pprev = &it->next;
    t->iters = it;
    *out = it;
    return 0;
}

int inmem__txn_scan(inmem_txn *t, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen,
                    inmem_iter **out)
{
    return scan(t, lo, lolen, hi, hilen, SCAN_MERGED, out);
}

int inmem__txn_scan_own(inmem_txn *t, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                        size_t hilen, inmem_iter **out)
{
    return scan(t, lo, lolen, hi, hilen, SCAN_OWN, out);
}

int inmem__txn_scan_own_with_expired(inmem_txn *t, const uint8_t *lo, size_t lolen,
                                     const uint8_t *hi, size_t hilen, inmem_iter **out)
{
    return scan(t, lo, lolen, hi, hilen, SCAN_OWN_WITH_EXPIRED, out);
}

/* Whether the iterator leaves @p v out: a tombstone, or (unless it returns them) a value whose
 * time to live has passed. */
static int skipped(inmem_iter *it, const inmem__version *v)
{
    return v->tomb || (expired_for(it->txn, v) && !it->with_expired);
}

/* Moves source @p s to its next node, its look-ahead with it (index.h: keys in order, their
 * versions anywhere). */
static void src_next(inmem__scan_src *s)
{
    s->cur = inmem__index_next(s->cur);
    inmem__ahead_step(&s->ahead, s->cur);
}

/* Positions source @p s on its next node that has a version at its snapshot (a tombstone
 * included: it may hide a parent's key). INMEM_EHISTORY if a version was freed. */
static int src_ready(inmem_iter *it, inmem__scan_src *s)
{
    while (!s->ready) {
        if (!s->cur) {
            s->ready = 1;
            break;
        }
        if (s->hi && key_cmp(inmem__node_key(s->cur), s->cur->klen, s->hi, s->hilen) >= 0) {
            s->cur = NULL;
            continue;
        }
        const inmem__version *v = visible(it->txn, s->cur, s->snap);
        if (v == GONE)
            return inmem__history_gone(it->txn, inmem__node_key(s->cur), s->cur->klen, s->snap);
        if (v && INMEM_UNLIKELY(it->txn->past) && !v->tomb && expiry_unknown(it->txn, v) &&
            !it->with_expired)
            return inmem__history_expiry_unknown(it->txn);
        if (v) {
            s->v = v;
            s->ready = 1;
        } else {
            src_next(s);
        }
    }
    return 0;
}

/* Compares the keys of two positioned sources by their suffix (after the scope). */
static int suffix_cmp(const inmem__scan_src *a, const inmem__scan_src *b)
{
    return key_cmp(inmem__node_key(a->cur) + 16, a->cur->klen - 16, inmem__node_key(b->cur) + 16,
                   b->cur->klen - 16);
}

/* Peeks the snapshot side's next live entry (it->have), merging the sources. */
static int peek(inmem_iter *it)
{
    inmem_txn *t = it->txn;
    while (!it->have) {
        int rc;
        for (size_t i = 0; i < it->nsrc; i++)
            if ((rc = src_ready(it, &it->src[i])) != 0)
                return rc;
        inmem__scan_src *best = NULL;
        if (it->nsrc == 1) {
            best = it->src[0].cur ? &it->src[0] : NULL;
        } else {
            for (size_t i = 0; i < it->nsrc; i++)
                if (it->src[i].cur && (!best || suffix_cmp(&it->src[i], best) < 0))
                    best = &it->src[i];
        }
        if (!best)
            return INMEM_NOTFOUND;
        inmem__node *n = best->cur;
        const inmem__version *v = best->v;
        for (size_t i = 0; i < it->nsrc; i++) { /* every source at this key moves on */
            inmem__scan_src *s = &it->src[i];
            if (s != best && s->cur && suffix_cmp(s, best) == 0) {
                src_next(s);
                s->ready = 0;
            }
        }
        src_next(best);
        best->ready = 0;
        if (skipped(it, v))
            continue;
        it->v = v;
        it->klen = n->klen;
        if (best == &it->src[0]) {
            it->key = inmem__node_key(n);
            it->node = n;
        } else { /* inherited: under the scanned scope's id */
            uint8_t *k = inmem__arena_alloc(&t->arena, n->klen);
            if (!k)
                return INMEM_ENOMEM;
            memcpy(k, it->scope, 16);
            memcpy(k + 16, inmem__node_key(n) + 16, n->klen - 16);
            it->key = k;
            it->node = NULL;
        }
        it->have = 1;
    }
    return 0;
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
    if (it->err)
        return it->err; /* an entry was lost to it: going on would skip it silently */
    for (;;) {
        int rc = peek(it);
        if (rc && rc != INMEM_NOTFOUND)
            return it->err = rc;
        /* (its key from the write set, its version as when the iterator was opened) */
        const inmem__iter_pw *pw = it->ipw < it->npw ? &it->pw[it->ipw] : NULL;
        const wentry *p = pw ? &t->w[pw->w] : NULL;
        if (!it->have && !p)
            return INMEM_NOTFOUND;
        int c = !p ? -1 : !it->have ? 1 : key_cmp(it->key, it->klen, p->k.key, p->k.klen);
        const inmem__version *v;
        if (c >= 0) { /* our own pending write comes first, or overrides the snapshot's */
            it->ipw++;
            if (c == 0)
                it->have = 0;
            if (skipped(it, pw->v))
                continue;
            v = pw->v;
            if (key)
                *key = p->k.key;
            if (klen)
                *klen = p->k.klen;
            if (version)
                *version = 0;
        } else {
            v = it->v;
            it->have = 0;
            uint64_t h = it->node ? it->node->hash : inmem__hash(it->key, it->klen);
            if ((rc = inmem__txn_record_read(t, it->key, it->klen, h, it->node, v->ver)) != 0)
                return it->err = rc;
            if (key)
                *key = it->key;
            if (klen)
                *klen = it->klen;
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
    free_sources(it);
    free(it->pw);
    free(it);
}
