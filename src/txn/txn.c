/*
 * txn.c — optimistic transactions under snapshot isolation (DESIGN.md section 3).
 *
 * A transaction pins a snapshot (a version number) in a reader slot, reads the index at that
 * snapshot, buffers its writes, and at commit validates and applies them under the commit lock.
 *
 * State transitions (inmem_txn.state)
 *   ACTIVE      set by inmem__txn_begin() / inmem__txn_restart()
 *   VALIDATING  set by inmem_txn_commit() while it holds the commit lock
 *   COMMITTED   set by inmem_txn_commit() after applying (or at once if read-only)
 *   ABORTED     set by inmem_txn_abort(), inmem_txn_free(), or inmem_txn_commit() on a conflict
 *               or error, with the reason in inmem_txn.reason
 *   Only ACTIVE accepts operations; anything else gets INMEM_ETXNDONE.
 *
 * Reader slots and the snapshot protocol
 *   Each handle holds one slot of st->slots (a cache line). Pinning a snapshot:
 *       do { s = visible; slot.snap = s (seq_cst); } while (visible (seq_cst) != s);
 *   The garbage collector computes min_active = min(visible, every slot's snap) reading visible
 *   first, then slot_hwm, then the slots, all seq_cst. If it misses a slot being pinned, the
 *   pinning thread's re-read of visible comes later in the seq_cst order than the collector's
 *   read of visible, so the pinned s is >= the collector's min: no pinned snapshot is ever below
 *   the min the collector used (index.c invariant I4). The version counter is published with a
 *   seq_cst store for the same reason.
 *
 * Commit (first committer wins), under commit_mu:
 *   1. every read-set entry: the key's current version (newest installed, tombstone included)
 *      must equal the version recorded; a key no longer in the index counts as unchanged (the
 *      GC only unlinks keys whose last tombstone is older than every active snapshot, so
 *      nothing happened to it after this transaction's snapshot);
 *   2. every CAS: the key's current version (deleted or expired = 0) must equal the expected one;
 *   3. make room (nodes, hash slots) so that applying cannot fail;
 *   4. assigned += 1: the one new version shared by every write;
 *   5. install every write as its key's newest version, then publish visible = assigned.
 *   Readers ignore versions newer than their snapshot, so a commit becomes visible all at once
 *   at step 5, never partially.
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/hash.h"
#include "core/key.h"
#include "txn/txn.h"

/* ---- sets ------------------------------------------------------------------------------- */

/* The first member of every set entry: which key. */
typedef struct keyref {
    const uint8_t *key;
    uint64_t hash;
    uint32_t klen;
} keyref;

typedef struct wentry {
    keyref k;
    inmem__node *node; /* the key's node when last looked up, or NULL */
    inmem__version *v; /* the pending version, owned until installed */
    int is_new;        /* during apply_writes: node made for this commit, not yet linked */
    uint8_t *ttl_key;  /* during apply_writes: key copy for the TTL heap */
} wentry;

typedef struct rentry {
    keyref k;
    inmem__node *node; /* NULL if the key was missing from the index */
    uint64_t ver;      /* version seen: 0 missing, tombstone's version if deleted */
} rentry;

typedef struct centry {
    uint32_t w;        /* index of the write entry */
    uint64_t expected; /* version the key must have at commit */
} centry;

/* A hash index over a set once it is larger than LINEAR_MAX entries. */
typedef struct kset {
    uint32_t *idx; /* entry index + 1; 0 empty */
    size_t cap;    /* power of two, or 0 */
    int on;
} kset;

#define LINEAR_MAX 8

static int keyref_eq(const keyref *k, const uint8_t *key, size_t klen, uint64_t hash)
{
    return k->hash == hash && k->klen == klen && memcmp(k->key, key, klen) == 0;
}

static long set_find(const kset *ix, const void *base, size_t stride, size_t n, const uint8_t *key,
                     size_t klen, uint64_t hash)
{
    const char *b = base;
    if (!ix->on) {
        for (size_t i = 0; i < n; i++)
            if (keyref_eq((const keyref *)(b + i * stride), key, klen, hash))
                return (long)i;
        return -1;
    }
    for (size_t i = (size_t)hash & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        uint32_t e = ix->idx[i];
        if (!e)
            return -1;
        if (keyref_eq((const keyref *)(b + (e - 1) * stride), key, klen, hash))
            return (long)e - 1;
    }
}

static void kset_insert(kset *ix, uint64_t hash, uint32_t entry)
{
    size_t i = (size_t)hash & (ix->cap - 1);
    while (ix->idx[i])
        i = (i + 1) & (ix->cap - 1);
    ix->idx[i] = entry + 1;
}

/* Indexes entry n-1, just appended. */
static int set_added(kset *ix, const void *base, size_t stride, size_t n)
{
    const char *b = base;
    if (n <= LINEAR_MAX)
        return 0;
    if (!ix->on || n * 2 > ix->cap) {
        size_t cap = 32;
        while (cap < n * 4)
            cap *= 2;
        if (cap > ix->cap) {
            uint32_t *idx = realloc(ix->idx, cap * sizeof(*idx));
            if (!idx)
                return INMEM_ENOMEM;
            ix->idx = idx;
            ix->cap = cap;
        }
        memset(ix->idx, 0, ix->cap * sizeof(*ix->idx));
        ix->on = 1;
        for (size_t i = 0; i < n; i++)
            kset_insert(ix, ((const keyref *)(b + i * stride))->hash, (uint32_t)i);
        return 0;
    }
    kset_insert(ix, ((const keyref *)(b + (n - 1) * stride))->hash, (uint32_t)(n - 1));
    return 0;
}

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 8;
    while (c < need)
        c *= 2;
    void *p = realloc(*arr, c * size);
    if (!p)
        return INMEM_ENOMEM;
    *arr = p;
    *cap = c;
    return 0;
}

/* ---- the transaction -------------------------------------------------------------------- */

struct inmem_iter {
    inmem_txn *txn;
    inmem_iter *next, **pprev; /* the transaction's list of open iterators */
    uint8_t *hi;               /* upper bound (exclusive), NULL for none */
    size_t hilen;
    inmem__node *cur; /* next index node to consider */
    uint32_t *pw;     /* the transaction's writes in range, sorted by key */
    size_t npw, ipw;
};

struct inmem_txn {
    inmem__store *st;
    uint32_t slot;
    inmem_txn_state state;
    inmem_abort_reason reason;
    uint64_t snap;
    uint64_t commit_ver;
    uint64_t now_ms; /* wall clock for TTL checks, read once on first need */
    wentry *w;
    size_t nw, wcap;
    kset wix;
    rentry *r;
    size_t nr, rcap;
    kset rix;
    centry *c;
    size_t nc, ccap;
    inmem__arena arena;
    inmem_iter *iters;
    /* the conflict that aborted the commit */
    const uint8_t *ckey;
    size_t cklen;
    uint64_t cexpected, cfound;
    uint64_t staged; /* successful write calls so far (inmem__txn_mark) */
    int readonly;    /* begun read-only: no read set, writes refused */
    int sticky;      /* an error that left the transaction half-changed: abort only */
};

static inmem__slot *slot_of(const inmem_txn *t)
{
    return &t->st->slots[t->slot];
}

static void slot_bump(_Atomic uint64_t *ctr)
{
    /* only the slot's holder writes its counters */
    atomic_store_rlx(ctr, atomic_load_rlx(ctr) + 1);
}

static uint64_t txn_now(inmem_txn *t)
{
    if (!t->now_ms)
        t->now_ms = inmem__clock_wall_ms();
    return t->now_ms;
}

static int expired(const inmem__version *v, uint64_t now)
{
    return v->expiry_ms != 0 && v->expiry_ms <= now;
}

/* Whether @p v has expired for the transaction; reads the clock only for values with a TTL. */
static int expired_for(inmem_txn *t, const inmem__version *v)
{
    return v->expiry_ms != 0 && v->expiry_ms <= txn_now(t);
}

/* ---- the store ---------------------------------------------------------------------------- */

int inmem__store_init(inmem__store *st, size_t max_key, size_t max_value, unsigned max_txns)
{
    memset(st, 0, sizeof(*st));
    st->index = inmem__index_create();
    st->slots = aligned_alloc(INMEM_CACHELINE, (size_t)max_txns * sizeof(inmem__slot));
    if (!st->index || !st->slots) {
        inmem__index_destroy(st->index);
        free(st->slots);
        return INMEM_ENOMEM;
    }
    memset(st->slots, 0, (size_t)max_txns * sizeof(inmem__slot));
    for (unsigned i = 0; i < max_txns; i++)
        atomic_init(&st->slots[i].snap, INMEM__SNAP_NONE);
    st->nslots = max_txns;
    st->max_key = max_key;
    st->max_value = max_value;
    inmem__mutex_init(&st->commit_mu);
    return 0;
}

static void txn_destroy(inmem_txn *t);

void inmem__store_fini(inmem__store *st)
{
    for (uint32_t i = 0; i < st->nslots; i++)
        if (st->slots[i].spare)
            txn_destroy(st->slots[i].spare);
    inmem__index_destroy(st->index);
    free(st->slots);
    for (size_t i = 0; i < st->ttl_n; i++)
        free(st->ttl_heap[i].key);
    free(st->ttl_heap);
    inmem__mutex_destroy(&st->commit_mu);
}

int inmem__store_busy(inmem__store *st)
{
    uint32_t hwm = atomic_load_acq(&st->slot_hwm);
    for (uint32_t i = 0; i < hwm; i++)
        if (atomic_load_acq(&st->slots[i].in_use))
            return 1;
    return 0;
}

/* The lowest snapshot any active or future reader can have (see the protocol above). */
static uint64_t min_active(inmem__store *st, uint64_t *oldest_us, uint64_t *open)
{
    uint64_t m = atomic_load(&st->visible);
    uint32_t hwm = atomic_load(&st->slot_hwm);
    for (uint32_t i = 0; i < hwm; i++) {
        uint64_t s = atomic_load(&st->slots[i].snap);
        if (s < m)
            m = s;
        if (oldest_us && s != INMEM__SNAP_NONE) {
            uint64_t b = atomic_load_rlx(&st->slots[i].begin_us);
            if (*oldest_us == 0 || b < *oldest_us)
                *oldest_us = b;
        }
        if (open && atomic_load_rlx(&st->slots[i].in_use))
            (*open)++;
    }
    return m;
}

static void store_gc(inmem__store *st) INMEM_REQUIRES(st->commit_mu)
{
    st->since_gc = 0;
    atomic_store(&st->gc_busy, 1);
    st->min_cached = min_active(st, NULL, NULL);
    int left = inmem__index_gc(st->index, st->min_cached, st->assigned);
    atomic_store(&st->gc_floor, st->min_cached);
    atomic_store(&st->gc_busy, 0);
    if (left != atomic_load_rlx(&st->gc_pending))
        atomic_store_rlx(&st->gc_pending, left);
}

void inmem__store_stats(inmem__store *st, inmem_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->commits = atomic_load_rlx(&st->ctr.commits);
    out->aborts_read_conflict = atomic_load_rlx(&st->ctr.abort_read);
    out->aborts_cas_conflict = atomic_load_rlx(&st->ctr.abort_cas);
    out->retries = atomic_load_rlx(&st->ctr.retries);
    out->retries_exhausted = atomic_load_rlx(&st->ctr.exhausted);
    out->deadlines_expired = atomic_load_rlx(&st->ctr.deadlines);
    uint32_t hwm = atomic_load_acq(&st->slot_hwm);
    for (uint32_t i = 0; i < hwm; i++) {
        inmem__slot *s = &st->slots[i];
        out->commits_readonly += atomic_load_rlx(&s->n_readonly);
        out->aborts_user += atomic_load_rlx(&s->n_abort_user);
        out->retries += atomic_load_rlx(&s->n_retries);
    }
    out->version = atomic_load_acq(&st->visible);
    if (st->wal)
        inmem__wal_stats(st->wal, &out->wal_bytes, &out->wal_syncs, &out->wal_synced_commits);
    out->keys = inmem__index_keys(st->index);
    out->retained_versions = inmem__index_retained(st->index);
    uint64_t oldest_us = 0, open = 0;
    uint64_t m = min_active(st, &oldest_us, &open);
    out->open_txns = open;
    if (oldest_us) {
        out->oldest_snapshot_version = m;
        uint64_t now = inmem__clock_coarse_us();
        out->oldest_snapshot_age_us = now > oldest_us ? now - oldest_us : 0;
    }
}

void inmem__store_attach_wal(inmem__store *st, inmem__wal *wal, int strict)
{
    st->wal = wal;
    st->strict = strict;
}

/* ---- slots and snapshots ------------------------------------------------------------------ */

static _Thread_local uint32_t slot_hint = UINT32_MAX;

static int slot_acquire(inmem__store *st, uint32_t *out)
{
    if (slot_hint == UINT32_MAX) /* spread threads over slots */
        slot_hint = (uint32_t)(((uintptr_t)&slot_hint >> 6) * 0x9e3779b1u);
    for (uint32_t k = 0; k < st->nslots; k++) {
        uint32_t i = (slot_hint + k) % st->nslots;
        inmem__slot *s = &st->slots[i];
        uint32_t zero = 0;
        if (atomic_load_rlx(&s->in_use) == 0 &&
            atomic_compare_exchange_strong_explicit(&s->in_use, &zero, 1, memory_order_acquire,
                                                    memory_order_relaxed)) {
            uint32_t hwm = atomic_load(&st->slot_hwm);
            while (hwm <= i && !atomic_compare_exchange_weak(&st->slot_hwm, &hwm, i + 1))
                ;
            slot_hint = i;
            *out = i;
            return 0;
        }
    }
    return INMEM_ETXNLIMIT;
}

static void snapshot_pin(inmem_txn *t)
{
    inmem__store *st = t->st;
    inmem__slot *s = slot_of(t);
    uint64_t v = atomic_load_acq(&st->visible), again;
    for (;;) {
        atomic_store(&s->snap, v);
        again = atomic_load(&st->visible);
        if (again == v)
            break;
        v = again;
    }
    atomic_store_rlx(&s->begin_us, inmem__clock_coarse_us());
    t->snap = v;
}

/* Collects if the commit lock is free. A thread that finds it taken leaves gc_missed set and
 * tries once more, so the holder (here or at its own snapshot's end) sees the flag: a wanted
 * collection is never lost to a busy lock. */
static void gc_kick(inmem__store *st)
{
    for (;;) {
        if (!inmem__mutex_trylock(&st->commit_mu)) {
            atomic_store(&st->gc_missed, 1);
            if (!inmem__mutex_trylock(&st->commit_mu))
                return;
        }
        atomic_store(&st->gc_missed, 0);
        store_gc(st);
        inmem__mutex_unlock(&st->commit_mu);
        if (!atomic_load(&st->gc_missed) || !atomic_load_rlx(&st->gc_pending))
            return;
    }
}

/* Drops the snapshot. If the last collection left work and this snapshot may be what held it
 * back, collect now, so that an idle database does not keep old versions until the next
 * commit. A snapshot newer than the floor that collection ran with was not holding it back, so
 * it ends without the lock and the scan of the reader slots (the common case with several
 * threads). Order matters: the slot is cleared before gc_busy and gc_floor are read, and a GC
 * raises gc_busy before it scans the slots and lowers it after gc_floor is stored, so either
 * that GC did not see this snapshot, or this thread sees it busy or sees its floor. */
static void snapshot_unpin(inmem_txn *t)
{
    inmem__store *st = t->st;
    atomic_store(&slot_of(t)->snap, INMEM__SNAP_NONE);
    if (!atomic_load_rlx(&st->gc_pending))
        return;
    if (atomic_load(&st->gc_busy) || t->snap <= atomic_load(&st->gc_floor) ||
        atomic_load(&st->gc_missed))
        gc_kick(st);
}

/* ---- begin / end -------------------------------------------------------------------------- */

static void txn_reset(inmem_txn *t)
{
    for (size_t i = 0; i < t->nw; i++)
        inmem__version_free(t->w[i].v);
    t->nw = t->nr = t->nc = 0;
    t->wix.on = t->rix.on = 0;
    inmem__arena_reset(&t->arena);
    t->commit_ver = 0;
    t->now_ms = 0;
    t->ckey = NULL;
    t->cklen = 0;
    t->cexpected = t->cfound = 0;
    t->reason = INMEM_ABORT_NONE;
    t->staged = 0;
    t->sticky = 0;
}

static void txn_destroy(inmem_txn *t)
{
    free(t->w);
    free(t->wix.idx);
    free(t->r);
    free(t->rix.idx);
    free(t->c);
    inmem__arena_free(&t->arena);
    free(t);
}

int inmem__txn_begin_ro(inmem__store *st, inmem_txn **out)
{
    int rc = inmem__txn_begin(st, out);
    if (rc == 0)
        (*out)->readonly = 1;
    return rc;
}

int inmem__txn_begin(inmem__store *st, inmem_txn **out)
{
    uint32_t slot;
    int rc = slot_acquire(st, &slot);
    if (rc)
        return rc;
    /* the slot keeps the last handle freed on it, so that begin allocates nothing */
    inmem_txn *t = st->slots[slot].spare;
    st->slots[slot].spare = NULL;
    if (!t && !(t = calloc(1, sizeof(*t)))) {
        atomic_store_rel(&st->slots[slot].in_use, 0);
        return INMEM_ENOMEM;
    }
    t->st = st;
    t->slot = slot;
    t->readonly = 0;
    t->state = INMEM_TXN_ACTIVE;
    snapshot_pin(t);
    *out = t;
    return 0;
}

/* Ends an active transaction: drops pending writes and the snapshot. */
static void txn_end(inmem_txn *t, inmem_txn_state state, inmem_abort_reason reason)
{
    for (size_t i = 0; i < t->nw; i++) {
        inmem__version_free(t->w[i].v);
        t->w[i].v = NULL;
    }
    t->state = state;
    t->reason = reason;
    snapshot_unpin(t);
}

int inmem__txn_restart(inmem_txn *t)
{
    if (t->state == INMEM_TXN_ACTIVE || t->state == INMEM_TXN_VALIDATING)
        txn_end(t, INMEM_TXN_ABORTED, INMEM_ABORT_USER);
    while (t->iters)
        inmem_iter_free(t->iters);
    txn_reset(t);
    t->state = INMEM_TXN_ACTIVE;
    snapshot_pin(t);
    return 0;
}

int inmem_txn_abort(inmem_txn *t)
{
    if (!t)
        return INMEM_EINVAL;
    if (t->state != INMEM_TXN_ACTIVE)
        return INMEM_ETXNDONE;
    slot_bump(&slot_of(t)->n_abort_user);
    txn_end(t, INMEM_TXN_ABORTED, INMEM_ABORT_USER);
    return 0;
}

void inmem_txn_free(inmem_txn *t)
{
    if (!t)
        return;
    if (t->state == INMEM_TXN_ACTIVE)
        inmem_txn_abort(t);
    while (t->iters)
        inmem_iter_free(t->iters);
    inmem__store *st = t->st;
    uint32_t slot = t->slot;
    txn_reset(t);
    st->slots[slot].spare = t;
    atomic_store_rel(&st->slots[slot].in_use, 0);
}

inmem_txn_state inmem_txn_state_of(const inmem_txn *t)
{
    return t ? t->state : INMEM_TXN_ABORTED;
}

int inmem_txn_describe(const inmem_txn *t, inmem_txn_info *out)
{
    if (!t || !out)
        return INMEM_EINVAL;
    memset(out, 0, sizeof(*out));
    out->state = t->state;
    out->reason = t->reason;
    out->start_version = t->snap;
    out->commit_version = t->commit_ver;
    out->read_set_size = t->nr;
    out->write_set_size = t->nw;
    out->cas_count = t->nc;
    if (t->ckey && t->cklen >= INMEM__KEY_PREFIX) {
        memcpy(out->conflict_run.bytes, t->ckey, 16);
        out->conflict_key = t->ckey + INMEM__KEY_PREFIX;
        out->conflict_key_len = t->cklen - INMEM__KEY_PREFIX;
        out->conflict_expected = t->cexpected;
        out->conflict_found = t->cfound;
    }
    return 0;
}

inmem__store *inmem__txn_store(const inmem_txn *t)
{
    return t->st;
}

void inmem__txn_count_retry(inmem_txn *t)
{
    slot_bump(&slot_of(t)->n_retries);
}

/* ---- reads -------------------------------------------------------------------------------- */

#define CHECK_ACTIVE(t)                                                                            \
    do {                                                                                           \
        if (!(t))                                                                                  \
            return INMEM_EINVAL;                                                                   \
        if ((t)->state != INMEM_TXN_ACTIVE)                                                        \
            return INMEM_ETXNDONE;                                                                 \
        if ((t)->sticky)                                                                           \
            return inmem__error(INMEM_EMISUSE,                                                     \
                                "an earlier error (%s) left the transaction "                      \
                                "half-done: abort it",                                             \
                                inmem_strerror((t)->sticky));                                      \
    } while (0)

uint64_t inmem__txn_mark(const inmem_txn *t)
{
    return t ? t->staged : 0;
}

int inmem__txn_settle(inmem_txn *t, uint64_t mark, int rc)
{
    if (rc && t && t->state == INMEM_TXN_ACTIVE && t->staged != mark && !t->sticky)
        t->sticky = rc;
    return rc;
}

static const uint8_t *arena_copy(inmem_txn *t, const uint8_t *key, size_t klen)
{
    uint8_t *p = inmem__arena_alloc(&t->arena, klen ? klen : 1);
    if (p)
        memcpy(p, key, klen);
    return p;
}

/* Adds (key, version seen) to the read set unless the key is there already. */
static int record_read(inmem_txn *t, const uint8_t *key, size_t klen, uint64_t hash, inmem__node *n,
                       uint64_t ver)
{
    if (t->readonly)
        return 0; /* nothing will be validated: a read-only transaction always commits */
    if (set_find(&t->rix, t->r, sizeof(rentry), t->nr, key, klen, hash) >= 0)
        return 0;
    if (grow((void **)&t->r, &t->rcap, t->nr + 1, sizeof(rentry)))
        return INMEM_ENOMEM;
    const uint8_t *k = n ? inmem__node_key(n) : arena_copy(t, key, klen);
    if (!k)
        return INMEM_ENOMEM;
    t->r[t->nr++] = (rentry){{k, hash, (uint32_t)klen}, n, ver};
    return set_added(&t->rix, t->r, sizeof(rentry), t->nr);
}

int inmem__txn_get_ex(inmem_txn *t, const uint8_t *key, size_t klen, const void **val, size_t *vlen,
                      uint64_t *version, uint64_t *expiry_ms)
{
    CHECK_ACTIVE(t);
    if (klen > t->st->max_key)
        return INMEM_ETOOBIG;
    uint64_t h = inmem__hash(key, klen);
    const inmem__version *v = NULL;
    uint64_t ver = 0;
    long wi = set_find(&t->wix, t->w, sizeof(wentry), t->nw, key, klen, h);
    if (wi >= 0) {
        v = t->w[wi].v; /* read your own write: not a read of the snapshot */
    } else {
        inmem__node *n = inmem__index_find(t->st->index, key, klen, h);
        v = n ? inmem__version_at(n, t->snap) : NULL;
        ver = v ? v->ver : 0;
        int rc = record_read(t, key, klen, h, n, ver);
        if (rc)
            return rc;
    }
    if (!v || v->tomb || expired_for(t, v)) {
        if (version)
            *version = 0;
        return INMEM_NOTFOUND;
    }
    if (val)
        *val = v->data;
    if (vlen)
        *vlen = v->vlen;
    if (version)
        *version = ver;
    if (expiry_ms)
        *expiry_ms = v->expiry_ms;
    return 0;
}

int inmem__txn_get(inmem_txn *t, const uint8_t *key, size_t klen, const void **val, size_t *vlen,
                   uint64_t *version)
{
    return inmem__txn_get_ex(t, key, klen, val, vlen, version, NULL);
}

int inmem__txn_peek(inmem_txn *t, const uint8_t *key, size_t klen, uint64_t *version,
                    uint64_t *expiry_ms, int *tomb)
{
    CHECK_ACTIVE(t);
    if (klen > t->st->max_key)
        return INMEM_ETOOBIG;
    uint64_t h = inmem__hash(key, klen);
    inmem__node *n = inmem__index_find(t->st->index, key, klen, h);
    const inmem__version *v = n ? inmem__version_at(n, t->snap) : NULL;
    *version = v ? v->ver : 0;
    *expiry_ms = v ? v->expiry_ms : 0;
    *tomb = v ? v->tomb : 0;
    return record_read(t, key, klen, h, n, *version);
}

/* ---- writes ------------------------------------------------------------------------------- */

/* Adds or replaces the pending write of a key; returns its index through @p wi. */
static int stage_write(inmem_txn *t, const uint8_t *key, size_t klen, inmem__version *v, long *wi)
{
    uint64_t h = inmem__hash(key, klen);
    long i = set_find(&t->wix, t->w, sizeof(wentry), t->nw, key, klen, h);
    if (i >= 0) {
        inmem__version_free(t->w[i].v);
        t->w[i].v = v;
        *wi = i;
        return 0;
    }
    if (grow((void **)&t->w, &t->wcap, t->nw + 1, sizeof(wentry)))
        return INMEM_ENOMEM;
    inmem__node *n = inmem__index_find(t->st->index, key, klen, h);
    const uint8_t *k = n ? inmem__node_key(n) : arena_copy(t, key, klen);
    if (!k)
        return INMEM_ENOMEM;
    t->w[t->nw++] = (wentry){{k, h, (uint32_t)klen}, n, v, 0, NULL};
    int rc = set_added(&t->wix, t->w, sizeof(wentry), t->nw);
    if (rc) {
        t->nw--;
        return rc;
    }
    *wi = (long)t->nw - 1;
    return 0;
}

static int check_sizes(const inmem__store *st, size_t klen, const void *val, size_t vlen)
{
    if (klen > st->max_key || vlen > st->max_value)
        return INMEM_ETOOBIG;
    if (!val && vlen)
        return INMEM_EINVAL;
    return 0;
}

static int put_or_cas(inmem_txn *t, const uint8_t *key, size_t klen, const void *val, size_t vlen,
                      uint64_t expiry, int tomb, int cas, uint64_t expected)
{
    CHECK_ACTIVE(t);
    if (t->readonly)
        return inmem__error(INMEM_EREADONLY, "the transaction was begun read-only");
    int rc = check_sizes(t->st, klen, val, vlen);
    if (rc)
        return rc;
    if (cas && grow((void **)&t->c, &t->ccap, t->nc + 1, sizeof(centry)))
        return INMEM_ENOMEM;
    inmem__version *v = inmem__version_new(val, tomb ? 0 : vlen, tomb ? 0 : expiry, tomb);
    if (!v)
        return INMEM_ENOMEM;
    long wi;
    rc = stage_write(t, key, klen, v, &wi);
    if (rc) {
        inmem__version_free(v);
        return rc;
    }
    if (cas)
        t->c[t->nc++] = (centry){(uint32_t)wi, expected};
    t->staged++;
    return 0;
}

uint64_t inmem__expiry_after(uint64_t ttl_ms)
{
    if (!ttl_ms)
        return 0;
    uint64_t now = inmem__clock_wall_ms();
    return ttl_ms >= UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + ttl_ms;
}

int inmem__txn_put(inmem_txn *t, const uint8_t *key, size_t klen, const void *val, size_t vlen,
                   uint64_t expiry_ms, int tomb)
{
    return put_or_cas(t, key, klen, val, vlen, expiry_ms, tomb, 0, 0);
}

int inmem__txn_cas(inmem_txn *t, const uint8_t *key, size_t klen, uint64_t expected,
                   const void *val, size_t vlen)
{
    return put_or_cas(t, key, klen, val, vlen, 0, 0, 1, expected);
}

/* ---- commit ------------------------------------------------------------------------------- */

/* The key's node in the index now, or NULL (writer). */
static inmem__node *live_node(inmem__store *st, inmem__node *n, const keyref *k)
{
    if (n && !atomic_load_rlx(&n->dead))
        return n;
    return inmem__index_find(st->index, k->key, k->klen, k->hash);
}

/* Current version for CAS: deleted or expired counts as 0. */
static uint64_t cas_version(const inmem__node *n, uint64_t now)
{
    if (!n)
        return 0;
    const inmem__version *h = atomic_load_rlx(&((inmem__node *)n)->head);
    return h->tomb || expired(h, now) ? 0 : h->ver;
}

/* ---- the TTL heap (values awaiting the sweeper) ---------------------------------------- */

static void heap_push(inmem__store *st, inmem__expiry e) INMEM_REQUIRES(st->commit_mu)
{
    size_t i = st->ttl_n++;
    while (i > 0 && st->ttl_heap[(i - 1) / 2].at_ms > e.at_ms) {
        st->ttl_heap[i] = st->ttl_heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    st->ttl_heap[i] = e;
}

static inmem__expiry heap_pop(inmem__store *st) INMEM_REQUIRES(st->commit_mu)
{
    inmem__expiry top = st->ttl_heap[0], last = st->ttl_heap[--st->ttl_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= st->ttl_n)
            break;
        if (c + 1 < st->ttl_n && st->ttl_heap[c + 1].at_ms < st->ttl_heap[c].at_ms)
            c++;
        if (st->ttl_heap[c].at_ms >= last.at_ms)
            break;
        st->ttl_heap[i] = st->ttl_heap[c];
        i = c;
    }
    if (st->ttl_n)
        st->ttl_heap[i] = last;
    return top;
}

static int heap_reserve(inmem__store *st, size_t more) INMEM_REQUIRES(st->commit_mu)
{
    return grow((void **)&st->ttl_heap, &st->ttl_cap, st->ttl_n + more, sizeof(inmem__expiry));
}

/* Copies the keys of the TTL writes and makes heap room, so that publishing them after the
 * commit cannot fail. */
static int ttl_prepare(inmem__store *st, wentry *w, size_t nw) INMEM_REQUIRES(st->commit_mu)
{
    size_t n = 0;
    for (size_t i = 0; i < nw; i++) {
        w[i].ttl_key = NULL;
        if (!w[i].v->expiry_ms)
            continue;
        n++;
        if (!(w[i].ttl_key = malloc(w[i].k.klen)))
            return INMEM_ENOMEM;
        memcpy(w[i].ttl_key, w[i].k.key, w[i].k.klen);
    }
    return n ? heap_reserve(st, n) : 0;
}

static void ttl_unprepare(wentry *w, size_t nw)
{
    for (size_t i = 0; i < nw; i++) {
        free(w[i].ttl_key);
        w[i].ttl_key = NULL;
    }
}

int inmem__store_take_expired(inmem__store *st, uint64_t now_ms, inmem__expiry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    int rc = 0;
    inmem__mutex_lock(&st->commit_mu);
    while (st->ttl_n && st->ttl_heap[0].at_ms <= now_ms) {
        if (*n == cap && (rc = grow((void **)out, &cap, *n + 1, sizeof(inmem__expiry))) != 0)
            break;
        (*out)[(*n)++] = heap_pop(st);
    }
    inmem__mutex_unlock(&st->commit_mu);
    return rc;
}

/* Appends the commit's records to the log (caller holds commit_mu). */
static int log_writes(inmem__store *st, const wentry *w, size_t nw, uint64_t c, uint64_t *ticket)
    INMEM_REQUIRES(st->commit_mu)
{
    size_t bytes = 0;
    for (size_t i = 0; i < nw; i++)
        bytes += w[i].v->tomb ? inmem__wal_delete_size(w[i].k.klen)
                              : inmem__wal_write_size(w[i].k.klen, w[i].v->vlen);
    inmem__wal_cursor cur;
    int rc = inmem__wal_append_begin(st->wal, c, w[0].k.key, (uint32_t)nw, bytes, &cur);
    if (rc)
        return rc;
    for (size_t i = 0; i < nw; i++) {
        const inmem__version *v = w[i].v;
        if (v->tomb)
            inmem__wal_append_delete(&cur, w[i].k.key, w[i].k.klen);
        else
            inmem__wal_append_write(&cur, w[i].k.key, w[i].k.klen, v->data, v->vlen, v->expiry_ms);
    }
    *ticket = inmem__wal_append_end(st->wal, &cur);
    return 0;
}

/* Makes versions up to @p c visible, never moving backwards (strict mode publishes from
 * several committers once their fsync is done). */
static void publish(inmem__store *st, uint64_t c)
{
    uint64_t cur = atomic_load(&st->visible);
    while (cur < c && !atomic_compare_exchange_weak(&st->visible, &cur, c))
        ;
}

/*
 * Applies @p nw writes as one commit (caller holds commit_mu and has validated): logs them,
 * then installs them. On success every w[i].v is installed (ownership passes to the index),
 * *ver is the commit's version and *ticket its place in the log (0 without a log).
 */
static int apply_writes(inmem__store *st, wentry *w, size_t nw, uint64_t *ver, uint64_t *ticket)
    INMEM_REQUIRES(st->commit_mu)
{
    size_t nnew = 0;
    int rc = 0;
    for (size_t i = 0; i < nw; i++) {
        w[i].node = live_node(st, w[i].node, &w[i].k);
        if (!w[i].node) {
            w[i].node =
                inmem__index_node_new(st->index, w[i].k.key, w[i].k.klen, w[i].k.hash, w[i].v);
            if (!w[i].node) {
                rc = INMEM_ENOMEM;
                break;
            }
            w[i].is_new = 1;
            nnew++;
        } else {
            w[i].is_new = 0;
        }
    }
    uint64_t c = st->assigned + 1;
    if (rc == 0)
        rc = inmem__index_reserve(st->index, nw, nnew, st->assigned);
    if (rc == 0)
        rc = ttl_prepare(st, w, nw);
    *ticket = 0;
    if (rc == 0 && st->wal)
        rc = log_writes(st, w, nw, c, ticket);
    if (rc) {
        ttl_unprepare(w, nw);
        for (size_t i = 0; i < nw; i++)
            if (w[i].node && w[i].is_new) {
                inmem__index_node_free(w[i].node);
                w[i].node = NULL;
            }
        return rc;
    }
    st->assigned = c;
    for (size_t i = 0; i < nw; i++) {
        inmem__node *n = w[i].node;
        if (w[i].is_new) {
            inmem__index_link(st->index, n);
            /* install the copy embedded in the node; the staged version is done with */
            inmem__version *ev = inmem__index_node_first(n);
            inmem__version_free(w[i].v);
            w[i].v = ev;
        }
        w[i].v->ver = c;
        if (w[i].ttl_key)
            heap_push(st, (inmem__expiry){w[i].v->expiry_ms, c, w[i].ttl_key, w[i].k.klen});
        w[i].ttl_key = NULL;
        inmem__index_install(st->index, n, w[i].v);
        w[i].v = NULL;
    }
    if (!st->strict)
        atomic_store(&st->visible, c);
    atomic_store_rlx(&st->ctr.commits, atomic_load_rlx(&st->ctr.commits) + 1);
    if (++st->since_gc >= 8)
        store_gc(st);
    *ver = c;
    return 0;
}

/* After the commit lock: waits for durability as the mode says; in strict mode publishes. */
static int finish_commit(inmem__store *st, uint64_t c, uint64_t ticket)
{
    if (!st->wal)
        return 0;
    int rc = inmem__wal_commit_wait(st->wal, ticket);
    if (rc == 0 && st->strict)
        publish(st, c);
    return rc;
}

static void set_conflict(inmem_txn *t, const keyref *k, uint64_t expected, uint64_t found)
{
    t->ckey = arena_copy(t, k->key, k->klen);
    t->cklen = t->ckey ? k->klen : 0;
    t->cexpected = expected;
    t->cfound = found;
}

/* Validates the read set and CAS list (caller holds commit_mu). */
static int validate(inmem__store *st, inmem_txn *t, inmem_abort_reason *why)
    INMEM_REQUIRES(st->commit_mu)
{
    for (size_t i = 0; i < t->nr; i++) {
        rentry *r = &t->r[i];
        inmem__node *n = live_node(st, r->node, &r->k);
        if (!n)
            continue; /* unlinked by the GC: unchanged since our snapshot (see above) */
        uint64_t cur = atomic_load_rlx(&n->head)->ver;
        if (cur != r->ver) {
            set_conflict(t, &r->k, r->ver, cur);
            *why = INMEM_ABORT_READ_CONFLICT;
            return INMEM_CONFLICT;
        }
    }
    uint64_t now = t->nc ? inmem__clock_wall_ms() : 0;
    for (size_t i = 0; i < t->nc; i++) {
        wentry *w = &t->w[t->c[i].w];
        uint64_t cur = cas_version(live_node(st, w->node, &w->k), now);
        if (cur != t->c[i].expected) {
            set_conflict(t, &w->k, t->c[i].expected, cur);
            *why = INMEM_ABORT_CAS_CONFLICT;
            return INMEM_CONFLICT;
        }
    }
    return 0;
}

int inmem_txn_commit(inmem_txn *t)
{
    if (t && t->state == INMEM_TXN_ACTIVE && t->sticky) {
        int rc = t->sticky;
        txn_end(t, INMEM_TXN_ABORTED, INMEM_ABORT_ERROR);
        return rc;
    }
    CHECK_ACTIVE(t);
    inmem__store *st = t->st;
    if (t->nw == 0) {
        slot_bump(&slot_of(t)->n_readonly);
        txn_end(t, INMEM_TXN_COMMITTED, INMEM_ABORT_NONE);
        return 0;
    }
    t->state = INMEM_TXN_VALIDATING;
    inmem_abort_reason why = INMEM_ABORT_ERROR;
    uint64_t ticket = 0;
    inmem__mutex_lock(&st->commit_mu);
    int rc = validate(st, t, &why);
    if (rc == INMEM_CONFLICT) {
        _Atomic uint64_t *ctr =
            why == INMEM_ABORT_CAS_CONFLICT ? &st->ctr.abort_cas : &st->ctr.abort_read;
        atomic_store_rlx(ctr, atomic_load_rlx(ctr) + 1);
    } else {
        rc = apply_writes(st, t->w, t->nw, &t->commit_ver, &ticket);
    }
    inmem__mutex_unlock(&st->commit_mu);
    if (rc == 0)
        rc = finish_commit(st, t->commit_ver, ticket);
    if (rc) {
        txn_end(t, INMEM_TXN_ABORTED, why);
        return rc;
    }
    txn_end(t, INMEM_TXN_COMMITTED, INMEM_ABORT_NONE);
    return 0;
}

int inmem__store_write_one(inmem__store *st, const uint8_t *key, size_t klen, const void *val,
                           size_t vlen, uint64_t expiry_ms, int tomb, int has_expected,
                           uint64_t expected, uint64_t *version)
{
    int rc = check_sizes(st, klen, val, vlen);
    if (rc)
        return rc;
    inmem__version *v = inmem__version_new(val, tomb ? 0 : vlen, tomb ? 0 : expiry_ms, tomb);
    if (!v)
        return INMEM_ENOMEM;
    uint64_t h = inmem__hash(key, klen);
    /* no snapshot pins memory for us, so look the node up under the writer lock */
    wentry w = {{key, h, (uint32_t)klen}, NULL, v, 0, NULL};
    uint64_t ver = 0, ticket = 0;
    inmem__mutex_lock(&st->commit_mu);
    if (has_expected &&
        cas_version(live_node(st, w.node, &w.k), inmem__clock_wall_ms()) != expected) {
        atomic_store_rlx(&st->ctr.abort_cas, atomic_load_rlx(&st->ctr.abort_cas) + 1);
        rc = INMEM_CONFLICT;
    } else {
        rc = apply_writes(st, &w, 1, &ver, &ticket);
    }
    inmem__mutex_unlock(&st->commit_mu);
    if (rc) {
        inmem__version_free(v);
        return rc;
    }
    if ((rc = finish_commit(st, ver, ticket)) != 0)
        return rc;
    if (version)
        *version = ver;
    return 0;
}

/* ---- scans -------------------------------------------------------------------------------- */

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

int inmem__iter_next(inmem_iter *it, const uint8_t **key, size_t *klen, const void **val,
                     size_t *vlen, uint64_t *version)
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
            else if ((v = inmem__version_at(it->cur, t->snap)) && !v->tomb && !expired_for(t, v))
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
            int rc = record_read(t, inmem__node_key(n), n->klen, n->hash, n, v->ver);
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
        return 0;
    }
}

void inmem_iter_free(inmem_iter *it)
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

/* ---- recovery ---------------------------------------------------------------------------- */

int inmem__store_replay(void *ctx, const inmem__wal_txn *t)
{
    inmem__store *st = ctx;
    int rc = 0;
    inmem__mutex_lock(&st->commit_mu);
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        const inmem__wal_rec *r = &t->recs[i];
        int tomb = r->type == INMEM__REC_DELETE;
        inmem__version *v = inmem__version_new(r->val, tomb ? 0 : r->vlen, r->expiry_ms, tomb);
        uint64_t h = inmem__hash(r->key, r->klen);
        inmem__node *n = inmem__index_find(st->index, r->key, r->klen, h);
        int is_new = n == NULL;
        if (is_new)
            n = inmem__index_node_new(st->index, r->key, r->klen, h, v);
        if (!v || !n || inmem__index_reserve(st->index, 1, (size_t)is_new, st->assigned)) {
            inmem__version_free(v);
            if (is_new)
                inmem__index_node_free(n);
            rc = INMEM_ENOMEM;
            break;
        }
        if (!is_new && atomic_load_rlx(&n->head)->ver >= t->version) {
            inmem__version_free(v); /* the same key twice in one transaction */
            rc = inmem__error(INMEM_ECORRUPT, "log transaction %llu writes a key twice",
                              (unsigned long long)t->txn_id);
            break;
        }
        uint8_t *kcopy = NULL;
        if (r->expiry_ms && (!(kcopy = malloc(r->klen)) || heap_reserve(st, 1))) {
            free(kcopy);
            inmem__version_free(v);
            if (is_new)
                inmem__index_node_free(n);
            rc = INMEM_ENOMEM;
            break;
        }
        if (is_new) {
            inmem__index_link(st->index, n);
            inmem__version *ev = inmem__index_node_first(n); /* the embedded copy */
            inmem__version_free(v);
            v = ev;
        }
        v->ver = t->version;
        if (kcopy) {
            memcpy(kcopy, r->key, r->klen);
            heap_push(st, (inmem__expiry){r->expiry_ms, t->version, kcopy, r->klen});
        }
        inmem__index_install(st->index, n, v);
    }
    if (rc == 0) {
        st->assigned = t->version;
        atomic_store(&st->visible, t->version);
        /* no reader exists yet: everything below the newest version can go at once */
        inmem__index_gc(st->index, t->version, t->version);
    }
    inmem__mutex_unlock(&st->commit_mu);
    return rc;
}
