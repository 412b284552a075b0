/*
 * txn.c — optimistic transactions under snapshot isolation (docs/CONTRACT.md, section 1).
 *
 * A transaction pins a snapshot (a version number) in a reader slot (store.c), reads the index
 * at that snapshot, buffers its writes, and at commit validates them under the commit lock and
 * has the store apply them.
 *
 * State transitions (inmem_txn.state)
 *   ACTIVE      set by inmem__txn_begin() / inmem__txn_restart()
 *   VALIDATING  set by inmem_txn_commit() while it holds the commit lock
 *   COMMITTED   set by inmem_txn_commit() after applying (or at once if read-only)
 *   ABORTED     set by inmem_txn_abort(), inmem_txn_free(), or inmem_txn_commit() on a conflict
 *               or error, with the reason in inmem_txn.reason
 *   Only ACTIVE accepts operations; anything else gets INMEM_ETXNDONE.
 *
 * Validation (first committer wins), under commit_mu:
 *   1. every read-set entry: the key's current version (newest installed, tombstone included)
 *      must equal the version recorded; a key no longer in the index counts as unchanged (the
 *      GC only unlinks keys whose last tombstone is older than every active snapshot, so
 *      nothing happened to it after this transaction's snapshot);
 *   2. every CAS: the key's current version (deleted or expired = 0) must equal the expected one.
 * Then inmem__store_apply() logs and installs the writes with one new version.
 */
#include "core/hash.h"
#include "core/key.h"
#include "txn/txn_int.h"

/* ---- sets ------------------------------------------------------------------------------- */

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

/* ---- begin / end -------------------------------------------------------------------------- */

/* Out of line and cold: a transaction rarely rewrites a key it wrote, and the call sites are
 * the begin/end paths every transaction takes. */
static __attribute__((noinline, cold)) void free_replaced(inmem_txn *t)
{
    for (inmem__version *v = t->replaced, *next; v; v = next) {
        next = atomic_load_rlx(&v->next);
        inmem__version_free(v);
    }
    t->replaced = NULL;
}

static void txn_reset(inmem_txn *t)
{
    for (size_t i = 0; i < t->nw; i++)
        inmem__version_free(t->w[i].v);
    if (INMEM_UNLIKELY(t->replaced))
        free_replaced(t);
    t->nw = t->nr = t->nc = 0;
    t->wix.on = t->rix.on = 0;
    inmem__arena_reset(&t->arena);
    t->commit_ver = 0;
    t->now_ms = 0;
    t->now_hi_ms = 0;
    t->ckey = NULL;
    t->cklen = 0;
    t->cexpected = t->cfound = 0;
    t->reason = INMEM_ABORT_NONE;
    t->staged = 0;
    t->sticky = 0;
    t->collect = 0;
    t->deadline_us = 0;
}

void inmem__txn_destroy(inmem_txn *t)
{
    free(t->w);
    free(t->wix.idx);
    free(t->r);
    free(t->rix.idx);
    free(t->c);
    inmem__arena_free(&t->arena);
    free(t);
}

static int begin(inmem__store *st, inmem_txn **out, uint32_t holder)
{
    uint32_t slot;
    int rc = inmem__slot_acquire(st, &slot, holder);
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
    t->pin_low = UINT64_MAX;
    inmem__snapshot_pin(t);
    *out = t;
    return 0;
}

int inmem__txn_begin(inmem__store *st, inmem_txn **out)
{
    return begin(st, out, 1);
}

int inmem__txn_begin_own(inmem__store *st, inmem_txn **out)
{
    return begin(st, out, 2);
}

int inmem__txn_begin_ro(inmem__store *st, inmem_txn **out)
{
    int rc = begin(st, out, 1);
    if (rc == 0)
        (*out)->readonly = 1;
    return rc;
}

int inmem__txn_begin_newest(inmem__store *st, int (*fn)(void *ctx, uint64_t version), void *ctx,
                            int visible, inmem_txn **out, uint64_t *version)
{
    *out = NULL;
    inmem_txn *t;
    /* a slot and a handle, pinned at `visible` for now; the engine's own (holder 2):
     * inmem_db_close() waits for it (it joins the checkpointer) rather than refusing, and its
     * end is not counted as the user's abort */
    int rc = begin(st, &t, 2);
    if (rc)
        return rc;
    t->readonly = 1;
    inmem__mutex_lock(&st->commit_mu);
    /* (every version up to `visible` is installed too: it never passes `assigned`) */
    uint64_t v = visible ? atomic_load(&st->visible) : st->assigned;
    rc = fn ? fn(ctx, v) : 0;
    if (rc == 0) {
        /* Re-pin at the newest commit. Under the commit lock: every version <= v is installed
         * and no collection runs (collections take this lock), and our slot already held an
         * older snapshot, so nothing newer than it was freed in between. With history kept, the
         * slot holds 0 instead: no collection frees anything until the handle is freed, so that
         * a dump can read every chain to its end. */
        t->pinned = atomic_load_rlx(&st->hist_on) ? 0 : v;
        atomic_store_rlx(&st->slots[t->slot].start, v);
        atomic_store(&st->slots[t->slot].snap, t->pinned);
        t->snap = v;
    }
    inmem__store_unlock(st);
    if (rc) {
        inmem__txn_free(t);
        return rc;
    }
    *out = t;
    *version = v;
    return 0;
}

/* Ends an active transaction: drops pending writes and the snapshot. */
static inline __attribute__((always_inline)) void txn_end(inmem_txn *t, inmem_txn_state state,
                                                          inmem_abort_reason reason)
{
    for (size_t i = 0; i < t->nw; i++) {
        inmem__version_free(t->w[i].v);
        t->w[i].v = NULL;
    }
    if (INMEM_UNLIKELY(t->replaced))
        free_replaced(t);
    t->state = state;
    t->reason = reason;
    inmem__snapshot_unpin(t);
}

int inmem__txn_restart(inmem_txn *t)
{
    if (t->state == INMEM_TXN_ACTIVE || t->state == INMEM_TXN_VALIDATING)
        txn_end(t, INMEM_TXN_ABORTED, INMEM_ABORT_USER);
    while (t->iters)
        inmem__iter_free(t->iters);
    txn_reset(t);
    t->state = INMEM_TXN_ACTIVE;
    inmem__snapshot_pin(t);
    return 0;
}

static int abort_as(inmem_txn *t, int users)
{
    if (!t)
        return INMEM_EINVAL;
    if (t->state != INMEM_TXN_ACTIVE)
        return INMEM_ETXNDONE;
    if (users && atomic_load_rlx(&slot_of(t)->in_use) == 1) /* the engine's own are not */
        slot_bump(&slot_of(t)->n_abort_user);
    txn_end(t, INMEM_TXN_ABORTED, INMEM_ABORT_USER);
    return 0;
}

int inmem__txn_abort(inmem_txn *t)
{
    return abort_as(t, 1);
}

int inmem__txn_abort_own(inmem_txn *t)
{
    return abort_as(t, 0);
}

void inmem__txn_free(inmem_txn *t)
{
    if (!t)
        return;
    if (t->state == INMEM_TXN_ACTIVE)
        inmem__txn_abort(t);
    while (t->iters)
        inmem__iter_free(t->iters);
    inmem__store *st = t->st;
    uint32_t slot = t->slot;
    txn_reset(t);
    st->slots[slot].spare = t;
    atomic_store_rel(&st->slots[slot].in_use, 0);
}

inmem_txn_state inmem__txn_state(const inmem_txn *t)
{
    return t ? t->state : INMEM_TXN_ABORTED;
}

int inmem__txn_describe(const inmem_txn *t, inmem_txn_info *out)
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
        uint8_t tag = t->ckey[16];
        out->conflict_primitive =
            tag >= INMEM__TAG_KV && tag <= INMEM__TAG_RUN ? (inmem_primitive)tag : 0;
    }
    return 0;
}

_Static_assert(offsetof(inmem_txn, st) == 0, "inmem__txn_store() reads it first");

void inmem__txn_collect_at_commit(inmem_txn *t)
{
    t->collect = 1;
}

void inmem__txn_count_retry(inmem_txn *t)
{
    slot_bump(&slot_of(t)->n_retries);
}

/* ---- reads -------------------------------------------------------------------------------- */

int inmem__txn_check(const inmem_txn *t)
{
    CHECK_ACTIVE(t);
    return 0;
}

int inmem__txn_check_write(const inmem_txn *t)
{
    CHECK_ACTIVE(t);
    if (t->readonly)
        return inmem__error(INMEM_EREADONLY, "the transaction was begun read-only");
    return 0;
}

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

/* Notes a read for validation at commit (the caller has checked the transaction is not
 * read-only: nothing of one is validated, it always commits). */
static inline int record_read(inmem_txn *t, const uint8_t *key, size_t klen, uint64_t hash,
                              inmem__node *n, uint64_t ver)
{
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

int inmem__txn_record_read(inmem_txn *t, const uint8_t *key, size_t klen, uint64_t hash,
                           inmem__node *n, uint64_t ver)
{
    return t->readonly ? 0 : record_read(t, key, klen, hash, n, ver);
}

/* A time-travel read (history.c): the version of node @p n (NULL: none) at the snapshot, or
 * INMEM_EHISTORY if what it would be was freed. */
static int past_version(inmem_txn *t, inmem__node *n, const uint8_t *key, size_t klen,
                        const inmem__version **out)
{
    inmem__version *v = NULL;
    if (n && inmem__version_at_checked(n, t->snap, &v) < 0)
        return inmem__history_gone(t, key, klen, t->snap);
    *out = v;
    if (v)
        return 0;
    int rc;
    if ((*out = inmem__fork_inherited(t, key, klen, &rc)) != NULL || rc)
        return rc;
    return inmem__history_absent(t, key, klen);
}

/* The version of @p key (node @p n, or NULL) at the transaction's snapshot, a fork's inherited
 * one included; *rc an error (time travel: freed; a fork's read: out of memory). */
static inline __attribute__((always_inline)) const inmem__version *
snapshot_version(inmem_txn *t, inmem__node *n, const uint8_t *key, size_t klen, int *rc)
{
    *rc = 0;
    if (INMEM_UNLIKELY(t->past)) {
        const inmem__version *v = NULL;
        *rc = past_version(t, n, key, klen, &v);
        if (*rc == 0 && v && !v->tomb && expiry_unknown(t, v))
            *rc = inmem__history_expiry_unknown(t);
        return v;
    }
    const inmem__version *v = n ? inmem__version_at(n, t->snap) : NULL;
    if (!v && INMEM_UNLIKELY(atomic_load_rlx(&t->st->has_forks)))
        v = inmem__fork_inherited(t, key, klen, rc);
    return v;
}

/* Inlined into each of its callers, with the helpers it calls: out of line, the call with its
 * eight arguments and the tests of the result pointers cost a get ~20 of its ~180 instructions
 * (make bench-history-ir; issue 13 holds a read without retention to +3 % of the library before
 * history). */
static inline __attribute__((always_inline)) int get_hashed(inmem_txn *t, const uint8_t *key,
                                                            size_t klen, uint64_t h,
                                                            const void **val, size_t *vlen,
                                                            uint64_t *version, uint64_t *expiry_ms)
{
    CHECK_ACTIVE(t);
    if (klen > t->st->max_key)
        return INMEM_ETOOBIG;
    const inmem__version *v = NULL;
    uint64_t ver = 0;
    long wi = t->nw ? set_find(&t->wix, t->w, sizeof(wentry), t->nw, key, klen, h) : -1;
    if (wi >= 0) {
        v = t->w[wi].v; /* read your own write: not a read of the snapshot */
    } else {
        inmem__node *n = inmem__index_find(t->st->index, key, klen, h);
        int rc;
        v = snapshot_version(t, n, key, klen, &rc);
        if (rc)
            return rc;
        ver = v ? v->ver : 0;
        if (!t->readonly && (rc = record_read(t, key, klen, h, n, ver)) != 0)
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

int inmem__txn_get_ex(inmem_txn *t, const uint8_t *key, size_t klen, const void **val, size_t *vlen,
                      uint64_t *version, uint64_t *expiry_ms)
{
    return get_hashed(t, key, klen, inmem__hash(key, klen), val, vlen, version, expiry_ms);
}

int inmem__txn_get(inmem_txn *t, const uint8_t *key, size_t klen, const void **val, size_t *vlen,
                   uint64_t *version)
{
    return get_hashed(t, key, klen, inmem__hash(key, klen), val, vlen, version, NULL);
}

int inmem__txn_get_hashed(inmem_txn *t, const uint8_t *key, size_t klen, uint64_t hash,
                          const void **val, size_t *vlen, uint64_t *version)
{
    return get_hashed(t, key, klen, hash, val, vlen, version, NULL);
}

void inmem__txn_prefetch(inmem_txn *t, uint64_t hash, int stage)
{
    /* it reads the hash table: only under the transaction's pin (a finished handle has none, and
     * a growth may free the table it would read; the get that follows reports the error) */
    if (t->state == INMEM_TXN_ACTIVE)
        inmem__index_prefetch(t->st->index, hash, stage);
}

int inmem__txn_peek(inmem_txn *t, const uint8_t *key, size_t klen, uint64_t *version,
                    uint64_t *expiry_ms, int *tomb)
{
    CHECK_ACTIVE(t);
    if (klen > t->st->max_key)
        return INMEM_ETOOBIG;
    uint64_t h = inmem__hash(key, klen);
    inmem__node *n = inmem__index_find(t->st->index, key, klen, h);
    int rc;
    const inmem__version *v = snapshot_version(t, n, key, klen, &rc);
    if (rc)
        return rc;
    *version = v ? v->ver : 0;
    *expiry_ms = v ? v->expiry_ms : 0;
    *tomb = v ? v->tomb : 0;
    return inmem__txn_record_read(t, key, klen, h, n, *version);
}

/* ---- writes ------------------------------------------------------------------------------- */

/* Adds or replaces the pending write of a key; returns its index through @p wi. */
static int stage_write(inmem_txn *t, const uint8_t *key, size_t klen, inmem__version *v, long *wi)
{
    uint64_t h = inmem__hash(key, klen);
    long i = set_find(&t->wix, t->w, sizeof(wentry), t->nw, key, klen, h);
    if (i >= 0) {
        /* kept until the transaction ends: a read may have returned its value */
        atomic_store_rlx(&t->w[i].v->next, t->replaced);
        t->replaced = t->w[i].v;
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

enum stage_op { STAGE_PUT, STAGE_DELETE, STAGE_CAS };

static int stage(inmem_txn *t, enum stage_op op, const uint8_t *key, size_t klen, const void *val,
                 size_t vlen, uint64_t expiry, uint64_t expected)
{
    int tomb = op == STAGE_DELETE, cas = op == STAGE_CAS;
    CHECK_ACTIVE(t);
    if (t->readonly)
        return inmem__error(INMEM_EREADONLY, "the transaction was begun read-only");
    int rc = inmem__store_check_sizes(t->st, klen, val, vlen);
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

int inmem__txn_put(inmem_txn *t, const uint8_t *key, size_t klen, const void *val, size_t vlen,
                   uint64_t expiry_ms)
{
    return stage(t, STAGE_PUT, key, klen, val, vlen, expiry_ms, 0);
}

int inmem__txn_delete(inmem_txn *t, const uint8_t *key, size_t klen)
{
    return stage(t, STAGE_DELETE, key, klen, NULL, 0, 0, 0);
}

int inmem__txn_cas(inmem_txn *t, const uint8_t *key, size_t klen, uint64_t expected,
                   const void *val, size_t vlen)
{
    return stage(t, STAGE_CAS, key, klen, val, vlen, 0, expected);
}

/* ---- commit ------------------------------------------------------------------------------- */

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
        inmem__node *n = inmem__store_live_node(st, r->node, &r->k);
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
        inmem__node *n = inmem__store_live_node(st, w->node, &w->k);
        uint64_t cur = 0;
        if (n) {
            cur = inmem__store_cas_version(n, now);
        } else if (inmem__fork_cas_version(st, w->k.key, w->k.klen, now, &cur) != 0) {
            *why = INMEM_ABORT_ERROR;
            return INMEM_ENOMEM;
        }
        if (cur != t->c[i].expected) {
            set_conflict(t, &w->k, t->c[i].expected, cur);
            *why = INMEM_ABORT_CAS_CONFLICT;
            return INMEM_CONFLICT;
        }
    }
    return 0;
}

int inmem__txn_set_timeout(inmem_txn *t, uint64_t timeout_us)
{
    CHECK_ACTIVE(t);
    t->deadline_us = timeout_us ? inmem__add_sat(inmem__clock_mono_us(), timeout_us) : 0;
    return 0;
}

void inmem__txn_set_deadline(inmem_txn *t, uint64_t deadline_us)
{
    t->deadline_us = deadline_us;
}

static int deadline_passed(inmem_txn *t)
{
    inmem__store_count(t->st, INMEM__COUNT_DEADLINES_EXPIRED);
    txn_end(t, INMEM_TXN_ABORTED, INMEM_ABORT_DEADLINE);
    return inmem__error(INMEM_ETIMEDOUT, "the transaction reached its commit past its deadline");
}

int inmem__txn_commit(inmem_txn *t)
{
    /* the engine's own transactions that write are the sweeper's: no user's commit or abort */
    inmem__committer by =
        t && atomic_load_rlx(&slot_of(t)->in_use) == 2 ? INMEM__BY_SWEEPER : INMEM__BY_USER;
    if (t && t->state == INMEM_TXN_ACTIVE && t->sticky) {
        int rc = t->sticky;
        if (by == INMEM__BY_USER)
            inmem__store_count(t->st, INMEM__COUNT_ABORTS_ERROR);
        txn_end(t, INMEM_TXN_ABORTED, INMEM_ABORT_ERROR);
        return rc;
    }
    CHECK_ACTIVE(t);
    inmem__store *st = t->st;
    if (t->nw == 0) {
        if (t->deadline_us && inmem__clock_mono_us() > t->deadline_us)
            return deadline_passed(t);
        slot_bump(&slot_of(t)->n_readonly);
        txn_end(t, INMEM_TXN_COMMITTED, INMEM_ABORT_NONE);
        return 0;
    }
    t->state = INMEM_TXN_VALIDATING;
    inmem_abort_reason why = INMEM_ABORT_ERROR;
    uint64_t ticket = 0;
    inmem__mutex_lock(&st->commit_mu);
    if (t->deadline_us && inmem__clock_mono_us() > t->deadline_us) {
        inmem__store_unlock(st); /* after waiting for the lock, too late (and a collection
                                  * missed while it was held runs, as after any commit) */
        return deadline_passed(t);
    }
    /* a failed log (or a spent version counter) first: a strict commit that failed left its
     * versions installed, never visible, and validating against them would report conflicts
     * where none can commit */
    int rc = inmem__store_writable(st);
    if (rc == 0)
        rc = validate(st, t, &why);
    if (rc == INMEM_CONFLICT && by == INMEM__BY_USER) {
        _Atomic uint64_t *ctr =
            why == INMEM_ABORT_CAS_CONFLICT ? &st->ctr.abort_cas : &st->ctr.abort_read;
        atomic_store_rlx(ctr, atomic_load_rlx(ctr) + 1);
    } else if (rc == 0) {
        rc = inmem__store_apply(st, t->w, t->nw, by, &t->commit_ver, &ticket);
    }
    inmem__store_unlock(st);
    if (rc) {
        if (why == INMEM_ABORT_ERROR && by == INMEM__BY_USER)
            inmem__store_count(st, INMEM__COUNT_ABORTS_ERROR);
        txn_end(t, INMEM_TXN_ABORTED, why);
        return rc;
    }
    rc = inmem__store_finish(st, t->commit_ver, ticket, by);
    if (rc && st->strict) { /* never published: not applied (counted as an error's abort) */
        txn_end(t, INMEM_TXN_ABORTED, INMEM_ABORT_ERROR);
        return rc;
    }
    /* visible now (without strict durability, since it was applied, even if the fsync that
     * max_unsynced_commits waited for failed: then it is committed, not known durable) */
    inmem__watch_notify(st, t->w, t->nw, t->commit_ver);
    txn_end(t, INMEM_TXN_COMMITTED, INMEM_ABORT_NONE);
    if (t->collect) /* after txn_end: its own snapshot no longer holds what it replaced */
        inmem__store_collect(st);
    return rc;
}
