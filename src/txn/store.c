/*
 * store.c — the transactional store: the MVCC index and what makes transactions work on it —
 * the version counters, the reader slots that pin snapshots, garbage collection of versions no
 * snapshot can see, applying a validated commit (logging it, installing it, publishing it) and
 * replaying the log at open.
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
 * (validation, steps 1-2, is in txn.c; steps 3-5 are inmem__store_apply() here.)
 */
#include "core/hash.h"
#include "storage/valloc.h"
#include "txn/txn_int.h"

/* ---- the store ---------------------------------------------------------------------------- */

int inmem__store_new(size_t max_key, size_t max_value, unsigned max_txns, inmem__store **out)
{
    *out = NULL;
    inmem__store *st = aligned_alloc(INMEM_CACHELINE, sizeof(*st));
    if (!st)
        return INMEM_ENOMEM;
    memset(st, 0, sizeof(*st));
    st->fork_min = UINT64_MAX;
    st->index = inmem__index_create();
    size_t nslots = (size_t)max_txns + INMEM__ENGINE_SLOTS;
    st->slots = aligned_alloc(INMEM_CACHELINE, nslots * sizeof(inmem__slot));
    if (!st->index || !st->slots) {
        inmem__index_destroy(st->index);
        free(st->slots);
        free(st);
        return INMEM_ENOMEM;
    }
    memset(st->slots, 0, nslots * sizeof(inmem__slot));
    for (size_t i = 0; i < nslots; i++)
        atomic_init(&st->slots[i].snap, INMEM__SNAP_NONE);
    st->nslots = (uint32_t)nslots;
    st->max_key = max_key;
    st->max_value = max_value;
    if (inmem__watch_init(st)) {
        inmem__index_destroy(st->index);
        free(st->slots);
        free(st);
        return INMEM_ENOMEM;
    }
    inmem__mutex_init(&st->commit_mu);
    inmem__mutex_init(&st->sweep_mu);
    pthread_cond_init(&st->sweep_cv, NULL);
    *out = st;
    return 0;
}

void inmem__store_free(inmem__store *st)
{
    if (!st)
        return;
    inmem__ttl_stop(st);
    for (uint32_t i = 0; i < st->nslots; i++)
        if (st->slots[i].spare)
            inmem__txn_destroy(st->slots[i].spare);
    inmem__index_destroy(st->index);
    free(st->slots);
    free(st->load_buf);
    inmem__ttl_fini(st);
    inmem__history_fini(st);
    inmem__watch_fini(st);
    inmem__mutex_destroy(&st->commit_mu);
    inmem__mutex_destroy(&st->sweep_mu);
    pthread_cond_destroy(&st->sweep_cv);
    free(st);
}

int inmem__store_busy(inmem__store *st)
{
    uint32_t hwm = atomic_load_acq(&st->slot_hwm);
    for (uint32_t i = 0; i < hwm; i++)
        if (atomic_load_acq(&st->slots[i].in_use) == 1)
            return 1;
    return 0;
}

/* The lowest snapshot any active or future reader can have (see the protocol above). */
static uint64_t min_active(inmem__store *st)
{
    uint64_t m = atomic_load(&st->visible);
    uint32_t hwm = atomic_load(&st->slot_hwm);
    for (uint32_t i = 0; i < hwm; i++) {
        uint64_t s = atomic_load(&st->slots[i].snap);
        if (s < m)
            m = s;
    }
    return m;
}

uint64_t inmem__store_min_active(inmem__store *st)
{
    return min_active(st);
}

/* A collection's slice: a fixed part, and twice what was queued since the last one, so that a
 * backlog (what a long snapshot kept alive: 12-23 ms of freeing at a million keys when it was
 * done at once) drains over the next commits while the steady inflow never outgrows it. */
#define GC_SLICE 256

static void store_gc(inmem__store *st, int defer) INMEM_REQUIRES(st->commit_mu)
{
    st->since_gc = 0;
    /* freed by a drain without the lock; both taken whenever either is set, so that a drain's
     * pair of additions landing between the two exchanges is picked up by the next collection */
    if (atomic_load_rlx(&st->gc_freed_versions) | atomic_load_rlx(&st->gc_freed_bytes)) {
        uint64_t versions = atomic_exchange(&st->gc_freed_versions, 0);
        inmem__index_chains_freed(st->index, versions, atomic_exchange(&st->gc_freed_bytes, 0));
    }
    atomic_store(&st->gc_busy, 1);
    st->min_cached = min_active(st);
    size_t budget = GC_SLICE + 2 * st->gc_inflow;
    st->gc_inflow = 0;
    int left = inmem__index_gc_some(st->index, st->min_cached, st->assigned,
                                    inmem__history_gc_policy(st, st->min_cached), budget, defer);
    /* what waits for a newer version (retired at tag `assigned`, entries above `visible`) no
     * snapshot's end can unblock: only a commit can, and commits collect */
    if (left == 1 && st->min_cached >= atomic_load(&st->visible))
        left = 0;
    atomic_store(&st->gc_floor, st->min_cached);
    if (left != atomic_load_rlx(&st->gc_pending)) /* before gc_busy drops: see snapshot_unpin */
        atomic_store_rlx(&st->gc_pending, left);
    atomic_store(&st->gc_busy, 0);
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
    out->aborts_error = atomic_load_rlx(&st->ctr.aborts_error);
    out->expired_swept = atomic_load_rlx(&st->ctr.swept);
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
    uint64_t rv = inmem__index_retained(st->index), hb = inmem__index_history_bytes(st->index);
    uint64_t fv = atomic_load_rlx(&st->gc_freed_versions),
             fb = atomic_load_rlx(&st->gc_freed_bytes);
    out->retained_versions = rv > fv ? rv - fv : 0;
    out->history_bytes = hb > fb ? hb - fb : 0;
    out->history_floor = inmem__history_floor(st);
    uint64_t since;
    uint32_t count;
    inmem__history_db_policy(st, &out->history_ms, &count, &since);
    out->history_versions = count;
    /* the oldest snapshot: the lowest version an active handle reads at (its start), not what
     * its slot pins for the collector, which a history read lowers to the versions it returned */
    uint64_t oldest_us = 0, oldest = UINT64_MAX;
    for (uint32_t i = 0; i < hwm; i++) {
        inmem__slot *s = &st->slots[i];
        if (atomic_load_rlx(&s->in_use) != 1)
            continue; /* free, or the engine's own (a checkpoint's, a backup's, the sweeper's) */
        out->open_txns++;
        if (atomic_load(&s->snap) == INMEM__SNAP_NONE)
            continue;
        uint64_t v = atomic_load_rlx(&s->start), b = atomic_load_rlx(&s->begin_us);
        if (v < oldest)
            oldest = v;
        if (oldest_us == 0 || b < oldest_us)
            oldest_us = b;
    }
    if (oldest != UINT64_MAX) {
        out->oldest_snapshot_version = oldest;
        uint64_t now = inmem__clock_coarse_us();
        out->oldest_snapshot_age_us = oldest_us && now > oldest_us ? now - oldest_us : 0;
    }
}

void inmem__store_attach_wal(inmem__store *st, inmem__wal *wal, int strict)
{
    st->wal = wal;
    st->strict = strict;
}

_Static_assert(offsetof(inmem__store, max_key) == 0, "inmem__store_max_key() reads it first");

size_t inmem__store_max_value(const inmem__store *st)
{
    return st->max_value;
}

void inmem__store_count(inmem__store *st, inmem__store_counter which)
{
    atomic_add_rlx(which == INMEM__COUNT_RETRIES_EXHAUSTED   ? &st->ctr.exhausted
                   : which == INMEM__COUNT_DEADLINES_EXPIRED ? &st->ctr.deadlines
                                                             : &st->ctr.aborts_error,
                   1);
}

/* ---- slots and snapshots ------------------------------------------------------------------ */

/* The application's slot this thread took last (its offset past the engine's slots): tried
 * first next time. A thread's first search starts at the lowest, so the slots in use stay packed
 * at the bottom and the collector's scan (min_active, up to slot_hwm) stays as short as the
 * number of handles open at once. (Threads used to start at a random slot, which put slot_hwm
 * near max_txns with one thread: 6 % of a put's time.) */
static _Thread_local uint32_t slot_hint;

/* Takes a free slot of [from, from + n), trying @p first first; 1 with it in *out. */
static int slot_take(inmem__store *st, uint32_t from, uint32_t n, uint32_t first, uint32_t holder,
                     uint32_t *out)
{
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = from + (first + k) % n;
        inmem__slot *s = &st->slots[i];
        uint32_t zero = 0;
        if (atomic_load_rlx(&s->in_use) == 0 &&
            atomic_compare_exchange_strong_explicit(&s->in_use, &zero, holder, memory_order_acquire,
                                                    memory_order_relaxed)) {
            uint32_t hwm = atomic_load(&st->slot_hwm);
            while (hwm <= i && !atomic_compare_exchange_weak(&st->slot_hwm, &hwm, i + 1))
                ;
            *out = i;
            return 1;
        }
    }
    return 0;
}

int inmem__slot_acquire(inmem__store *st, uint32_t *out, uint32_t holder)
{
    uint32_t users = st->nslots - INMEM__ENGINE_SLOTS;
    if (holder == 2 && slot_take(st, 0, INMEM__ENGINE_SLOTS, 0, holder, out))
        return 0; /* (more of the engine's at once than it keeps: an application slot) */
    if (slot_take(st, INMEM__ENGINE_SLOTS, users, slot_hint % users, holder, out)) {
        if (holder != 2)
            slot_hint = *out - INMEM__ENGINE_SLOTS;
        return 0;
    }
    return inmem__error(INMEM_ETXNLIMIT,
                        "every transaction handle is in use (inmem_options.max_txns): is one "
                        "not freed with inmem_txn_free()?");
}

static void gc_kick(inmem__store *st, int drain);
/* Releases the commit lock and collects if a snapshot's end found it taken meanwhile
 * (gc_missed): every holder that may run long enough to be found unlocks through here. A
 * committer collects a few slices at most (gc_kick): the rest of a backlog is left to the
 * following commits and snapshot ends, never paid for in one commit. */
void inmem__store_unlock(inmem__store *st) INMEM_RELEASE(st->commit_mu)
{
    inmem__mutex_unlock(&st->commit_mu);
    if (atomic_load(&st->gc_missed))
        gc_kick(st, 0);
}

void inmem__snapshot_pin(inmem_txn *t)
{
    inmem__store *st = t->st;
    inmem__slot *s = slot_of(t);
    uint64_t v = atomic_load_acq(&st->visible), again;
    if (v < t->pin_low) /* the lowest this handle advertised since its last unpin */
        t->pin_low = v;
    for (;;) {
        atomic_store_rlx(&s->start, v); /* before snap: a reader of the stats that sees one */
        atomic_store(&s->snap, v);
        again = atomic_load(&st->visible);
        if (again == v)
            break;
        v = again;
    }
    atomic_store_rlx(&s->begin_us, inmem__clock_coarse_us());
    t->snap = t->pinned = v;
    t->past = 0;
}

/* One slice of collection (gc_kick), with the commit lock, which it releases. */
static void collect_slice(inmem__store *st, int drain) INMEM_RELEASE(st->commit_mu)
{
    atomic_store(&st->gc_missed, 0);
    store_gc(st, drain);
    inmem__version **chains = NULL;
    size_t n = 0;
    if (drain) /* cut-off chains: freed below, without holding committers up */
        inmem__index_chains_take(st->index, &chains, &n);
    inmem__mutex_unlock(&st->commit_mu);
    if (chains) {
        uint64_t versions, bytes;
        inmem__index_chains_free(chains, n, &versions, &bytes);
        free(chains);
        /* the gauges are the writer's: subtracted by the next collection (store_gc) */
        atomic_fetch_add(&st->gc_freed_versions, versions);
        atomic_fetch_add(&st->gc_freed_bytes, bytes);
        inmem__valloc_trim(0); /* the pages they emptied, past what is kept for reuse */
    }
}

/* How many slices a committer collects of a backlog at its unlock before it leaves the rest. */
#define GC_COMMITTER_SLICES 4

/* Collects if the commit lock is free. A thread that finds it taken leaves gc_missed set and
 * tries once more, so the holder (here or at its own snapshot's end) sees the flag: a wanted
 * collection is never lost to a busy lock. Then slice after slice, the lock free between, while
 * the slices run out (a backlog, so that an idle database still frees it) or a snapshot's end
 * missed the lock meanwhile. With @p drain (a snapshot's end: the thread whose snapshot held the
 * backlog back pays for it), the versions the slices cut off are freed without the lock. Without
 * (a committer), GC_COMMITTER_SLICES at most: what is left then waits in gc_missed for the next
 * unlock or snapshot's end (a backlog of millions of versions, freed by the commit that found
 * it, paused that commit for 0.1-0.4 s: inmem_bench --pauses). */
static void gc_kick(inmem__store *st, int drain)
{
    for (int slices = 1;; slices++) {
        if (!inmem__mutex_trylock(&st->commit_mu)) {
            atomic_store(&st->gc_missed, 1);
            if (!inmem__mutex_trylock(&st->commit_mu))
                return;
        }
        collect_slice(st, drain);
        int pending = atomic_load_rlx(&st->gc_pending);
        if (pending != 2 && (!atomic_load(&st->gc_missed) || !pending))
            return;
        if (!drain && slices >= GC_COMMITTER_SLICES) {
            atomic_store(&st->gc_missed, 1); /* the rest: the next unlock or snapshot's end */
            return;
        }
    }
}

void inmem__store_collect(inmem__store *st)
{
    /* the lock waited for, not tried: this collection is asked for now, not whenever a holder
     * of the lock gets to it; then, like a snapshot's end, the rest of a backlog slice by slice
     * (what it cut off is freed without the lock) */
    inmem__mutex_lock(&st->commit_mu);
    collect_slice(st, 1);
    int pending = atomic_load_rlx(&st->gc_pending);
    if (pending == 2 || (pending && atomic_load(&st->gc_missed))) /* as gc_kick() goes on */
        gc_kick(st, 1);
}

/* Drops the snapshot. If the last collection left work and this snapshot may be what held it
 * back, collect now, so that an idle database does not keep old versions until the next
 * commit. A snapshot newer than the floor that collection ran with was not holding it back, so
 * it ends without the lock and the scan of the reader slots (the common case with several
 * threads). Order matters: the slot is cleared before gc_busy and gc_floor are read, and a GC
 * raises gc_busy before it scans the slots and lowers it after gc_floor is stored, so either
 * that GC did not see this snapshot, or this thread sees it busy or sees its floor. */
void inmem__snapshot_unpin(inmem_txn *t)
{
    inmem__store *st = t->st;
    atomic_store(&slot_of(t)->snap, INMEM__SNAP_NONE);
    uint64_t low0 = t->pin_low < t->pinned ? t->pin_low : t->pinned;
    t->pin_low = UINT64_MAX;
    /* a collection under way may have seen this snapshot and will leave work, but it says so
     * (gc_pending) only at its end: kick it (gc_missed) rather than leave on a stale pending */
    int busy = atomic_load(&st->gc_busy);
    if (!busy && !atomic_load_rlx(&st->gc_pending))
        return;
    uint64_t low = low0;
    if (busy || low <= atomic_load(&st->gc_floor) || atomic_load(&st->gc_missed))
        gc_kick(st, 1);
}

/* ---- applying a commit ------------------------------------------------------------------- */

inmem__node *inmem__store_live_node(inmem__store *st, inmem__node *n, const keyref *k)
{
    if (n && !atomic_load_rlx(&n->dead))
        return n;
    return inmem__index_find(st->index, k->key, k->klen, k->hash);
}

uint64_t inmem__store_cas_version(const inmem__node *n, uint64_t now)
{
    if (!n)
        return 0;
    const inmem__version *h = atomic_load_rlx(&((inmem__node *)n)->head);
    return h->tomb || expired(h, now) ? 0 : h->ver;
}

int inmem__store_check_sizes(const inmem__store *st, size_t klen, const void *val, size_t vlen)
{
    if (klen > st->max_key || vlen > st->max_value)
        return INMEM_ETOOBIG;
    if (!val && vlen)
        return INMEM_EINVAL;
    return 0;
}

/* Appends the commit's records to the log (caller holds commit_mu). */
static int log_writes(inmem__store *st, const wentry *w, size_t nw, uint64_t c, uint64_t now,
                      uint64_t *ticket) INMEM_REQUIRES(st->commit_mu)
{
    size_t ops = 0, multi = 0;
    for (size_t i = 0; i < nw; i++) {
        const inmem__version *v = w[i].v;
        ops += inmem__wal_op_size(w[i].k.klen, v->vlen, v->tomb, v->expiry_ms);
        multi += v->tomb ? inmem__wal_delete_size(w[i].k.klen)
                         : inmem__wal_write_size(w[i].k.klen, v->vlen);
    }
    inmem__wal_cursor cur;
    int rc = inmem__wal_append_begin(st->wal, c, now, w[0].k.key, (uint32_t)nw, ops, multi, &cur);
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

int inmem__store_writable(inmem__store *st)
{
    if (st->wal) {
        int rc = inmem__wal_writable(st->wal);
        if (rc)
            return rc;
    }
    /* the next commit's version must stay below the limit every image and log is checked
     * against: one past it would be written, then refused as corrupt at the next open */
    if (INMEM_UNLIKELY(st->assigned >= INMEM__VERSION_LIMIT - 1))
        return inmem__error(INMEM_EREADONLY,
                            "the version counter reached its limit (version %llu): no more "
                            "commits; reads, read-only transactions and checkpoints go on",
                            (unsigned long long)st->assigned);
    return 0;
}

int inmem__store_apply(inmem__store *st, wentry *w, size_t nw, inmem__committer by, uint64_t *ver,
                       uint64_t *ticket)
{
    size_t nnew = 0;
    int rc = 0;
    for (size_t i = 0; i < nw; i++) {
        w[i].node = inmem__store_live_node(st, w[i].node, &w[i].k);
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
        rc = inmem__ttl_prepare(st, w, nw);
    for (size_t i = 0; rc == 0 && i < nw; i++) /* engine records: what caching them needs */
        if (INMEM_UNLIKELY(inmem__history_is_sys(w[i].k.key, w[i].k.klen)))
            rc = inmem__history_sys_prepare(st, w[i].k.key, w[i].k.klen, w[i].v->tomb, w[i].v->data,
                                            w[i].v->vlen);
    *ticket = 0;
    /* the commit's time: logged, and kept with its versions (retained history) */
    int hist = atomic_load_rlx(&st->times_on);
    uint64_t now = st->wal || hist ? inmem__clock_wall_ms() : 0;
    if (rc == 0 && st->wal)
        rc = log_writes(st, w, nw, c, now, ticket);
    if (rc) {
        inmem__ttl_unprepare(w, nw);
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
        w[i].v->time_ms = now;
        if (w[i].ttl_key)
            inmem__ttl_push(st, (inmem__expiry){w[i].v->expiry_ms, c, w[i].ttl_key, w[i].k.klen});
        w[i].ttl_key = NULL;
        inmem__ttl_replacing(st, n);
        inmem__index_install(st->index, n, w[i].v);
        if (INMEM_UNLIKELY(inmem__history_is_sys(w[i].k.key, w[i].k.klen)))
            inmem__history_sys_write(st, w[i].k.key, w[i].k.klen, w[i].v);
        w[i].v = NULL;
    }
    if (hist || atomic_load_rlx(&st->times_on))
        inmem__history_note(st, c, now ? now : inmem__clock_wall_ms());
    if (!st->strict) { /* committed now; a strict commit only once durable (store_finish) */
        atomic_store(&st->visible, c);
        _Atomic uint64_t *n = by == INMEM__BY_SWEEPER ? &st->ctr.swept : &st->ctr.commits;
        atomic_store_rlx(n, atomic_load_rlx(n) + 1);
    }
    st->gc_inflow += nw;
    if (++st->since_gc >= 8)
        store_gc(st, 0);
    inmem__ttl_compact_some(st, 8); /* (nothing unless stale TTL entries pile up) */
    *ver = c;
    return 0;
}

int inmem__store_finish(inmem__store *st, uint64_t c, uint64_t ticket, inmem__committer by)
{
    if (!st->wal)
        return 0;
    int rc = inmem__wal_commit_wait(st->wal, ticket);
    if (st->strict) { /* a commit only if durable: else never visible, not applied */
        if (rc == 0)
            publish(st, c);
        if (by == INMEM__BY_SWEEPER) {
            if (rc == 0)
                atomic_add_rlx(&st->ctr.swept, 1);
        } else {
            atomic_add_rlx(rc == 0 ? &st->ctr.commits : &st->ctr.aborts_error, 1);
        }
    }
    return rc;
}

/* ---- one write committed on its own ---------------------------------------------------------- */

enum one_op { ONE_PUT, ONE_DELETE, ONE_CAS };

static int write_one(inmem__store *st, enum one_op op, const uint8_t *key, size_t klen,
                     const void *val, size_t vlen, uint64_t expiry_ms, uint64_t expected,
                     uint64_t *version)
{
    int tomb = op == ONE_DELETE;
    int rc = inmem__store_check_sizes(st, klen, val, vlen);
    if (rc)
        return rc;
    inmem__version *v = inmem__version_new(val, tomb ? 0 : vlen, tomb ? 0 : expiry_ms, tomb);
    if (!v) { /* memory ends this one-write commit, before the lock as under it: an error's */
        atomic_add_rlx(&st->ctr.aborts_error, 1);
        return INMEM_ENOMEM;
    }
    uint64_t h = inmem__hash(key, klen);
    /* no snapshot pins memory for us, so look the node up under the writer lock */
    wentry w = {{key, h, (uint32_t)klen}, NULL, v, 0, NULL};
    uint64_t ver = 0, ticket = 0;
    inmem__mutex_lock(&st->commit_mu);
    inmem__node *cn = op == ONE_CAS ? inmem__store_live_node(st, w.node, &w.k) : NULL;
    uint64_t now = op == ONE_CAS ? inmem__clock_wall_ms() : 0;
    uint64_t cur = 0;
    rc = inmem__store_writable(st); /* first: see inmem__txn_commit() */
    if (rc == 0 && op == ONE_CAS && cn)
        cur = inmem__store_cas_version(cn, now);
    else if (rc == 0 && op == ONE_CAS)
        rc = inmem__fork_cas_version(st, key, klen, now, &cur); /* 0 or INMEM_ENOMEM */
    if (rc == 0 && op == ONE_CAS && cur != expected) {
        atomic_store_rlx(&st->ctr.abort_cas, atomic_load_rlx(&st->ctr.abort_cas) + 1);
        rc = INMEM_CONFLICT;
    } else if (rc == 0) {
        rc = inmem__store_apply(st, &w, 1, INMEM__BY_USER, &ver, &ticket);
    }
    inmem__store_unlock(st);
    if (rc) {
        if (rc != INMEM_CONFLICT)
            atomic_add_rlx(&st->ctr.aborts_error, 1);
        inmem__version_free(v);
        return rc;
    }
    rc = inmem__store_finish(st, ver, ticket, INMEM__BY_USER);
    if (rc && st->strict)
        return rc;                       /* never published: not applied (nor counted) */
    inmem__watch_notify(st, &w, 1, ver); /* visible (see inmem__txn_commit()) */
    if (version)
        *version = ver;
    return rc;
}

int inmem__store_put_one(inmem__store *st, const uint8_t *key, size_t klen, const void *val,
                         size_t vlen, uint64_t expiry_ms, uint64_t *version)
{
    return write_one(st, ONE_PUT, key, klen, val, vlen, expiry_ms, 0, version);
}

int inmem__store_delete_one(inmem__store *st, const uint8_t *key, size_t klen, uint64_t *version)
{
    return write_one(st, ONE_DELETE, key, klen, NULL, 0, 0, 0, version);
}

int inmem__store_cas_one(inmem__store *st, const uint8_t *key, size_t klen, uint64_t expected,
                         const void *val, size_t vlen, uint64_t *version)
{
    return write_one(st, ONE_CAS, key, klen, val, vlen, 0, expected, version);
}

/* ---- loading a checkpoint at open ----------------------------------------------------------- */

void inmem__store_load_begin(inmem__store *st, uint64_t keys_hint)
{
    inmem__index_append_start(st->index);
    inmem__index_bulk_expect(st->index, keys_hint);
    st->load_times_was_on = atomic_load_rlx(&st->times_on);
    /* one table of the right size instead of a rehash at every doubling; only a hint, so a
     * failure leaves the growth to each insert */
    if (keys_hint && keys_hint < SIZE_MAX / 4) {
        inmem__mutex_lock(&st->commit_mu);
        (void)inmem__index_reserve(st->index, 0, (size_t)keys_hint, 0);
        inmem__mutex_unlock(&st->commit_mu);
    }
}

/* A scratch version with room for @p vlen bytes (loads and replays build a new key's version in
 * it, and the node copies it into its own allocation); NULL if out of memory. */
static inmem__version *scratch_version(inmem__store *st, size_t vlen)
{
    if (vlen + sizeof(inmem__version) > st->load_cap) {
        size_t cap = vlen + sizeof(inmem__version) + 4096;
        inmem__version *p = realloc(st->load_buf, cap);
        if (!p)
            return NULL;
        st->load_buf = p;
        st->load_cap = cap;
    }
    return st->load_buf;
}

/* Whether a loaded version's commit time must be noted: only with retention on (times_on).
 * The database's policy is set before the load; a run's policy is a record of the shared scope,
 * which sorts before every run's keys: so times_on is final by the first key of a run. The
 * shared scope's own keys may come before a record that turns it on: inmem__store_load_end()
 * notes theirs then (a database of a million keys in the shared scope and no retention used to
 * note, sort and drop a million times at every open). */
static int load_needs_times(const inmem__store *st)
{
    return atomic_load_rlx(&((inmem__store *)st)->times_on);
}

/* The commit times of every version of the shared scope's keys (all sort first). */
static void load_shared_times(inmem__store *st) INMEM_REQUIRES(st->commit_mu)
{
    static const uint8_t zero[16];
    for (inmem__node *n = inmem__index_seek(st->index, NULL, 0);
         n && n->klen >= 16 && memcmp(inmem__node_key(n), zero, 16) == 0; n = inmem__index_next(n))
        for (inmem__version *v = atomic_load_rlx(&n->head); v; v = atomic_load_rlx(&v->next))
            inmem__history_load_time(st, v->ver, v->time_ms);
}

static int load_one(inmem__store *st, const inmem__load_entry *e) INMEM_REQUIRES(st->commit_mu)
{
    inmem__version *v = scratch_version(st, e->vlen);
    if (!v)
        return INMEM_ENOMEM;
    if (!e->first && !st->load_node)
        return inmem__error(INMEM_ECORRUPT, "an older version comes before its key");
    memset(v, 0, sizeof(*v));
    v->ver = e->version;
    v->time_ms = e->time_ms;
    v->expiry_ms = e->tomb ? 0 : e->expiry_ms;
    v->tomb = (uint8_t)(e->tomb != 0);
    v->vlen = e->tomb ? 0 : e->vlen;
    if (v->vlen)
        memcpy(v->data, e->val, v->vlen);
    atomic_init(&v->cut, (uint8_t)(e->cut != 0));
    uint8_t *kcopy = NULL;
    int ttl = e->first && v->expiry_ms;
    int rc = 0;
    if (!e->first) { /* an older version of the key just loaded: history */
        inmem__version *ov = inmem__version_new(v->data, v->vlen, v->expiry_ms, v->tomb);
        if (!ov) {
            rc = INMEM_ENOMEM;
        } else {
            ov->ver = v->ver;
            ov->time_ms = v->time_ms;
            atomic_store_rlx(&ov->cut, atomic_load_rlx(&v->cut));
            inmem__index_append_older(st->index, st->load_node, ov);
            if (load_needs_times(st))
                inmem__history_load_time(st, ov->ver, ov->time_ms);
            if (!st->load_queued) /* the GC looks at it once: what the policy no longer keeps */
                rc = inmem__index_queue_node(st->index, st->load_node, e->version);
            st->load_queued = rc == 0;
        }
        return rc;
    }
    uint64_t h = inmem__hash(e->key, e->klen);
    inmem__node *n = inmem__index_node_new(st->index, e->key, e->klen, h, v);
    rc = n ? inmem__index_reserve(st->index, 1, 1, e->version) : INMEM_ENOMEM;
    if (rc == 0 && ttl && (!(kcopy = malloc(e->klen)) || inmem__ttl_reserve(st, 1)))
        rc = INMEM_ENOMEM;
    if (rc == 0)
        rc = inmem__history_sys_prepare(st, e->key, e->klen, e->tomb, e->val, e->vlen);
    if (rc) {
        free(kcopy);
        if (n)
            inmem__index_node_free(n);
        st->load_node = NULL;
    } else {
        inmem__version *ev = inmem__index_node_first(n);
        inmem__index_append(st->index, n, ev);
        st->load_node = n;
        st->load_queued = 0;
        if (kcopy) {
            memcpy(kcopy, e->key, e->klen);
            inmem__ttl_push(st, (inmem__expiry){ev->expiry_ms, e->version, kcopy, e->klen});
        }
        if (inmem__history_is_sys(e->key, e->klen))
            inmem__history_sys_write(st, e->key, e->klen, ev);
        if (load_needs_times(st))
            inmem__history_load_time(st, ev->ver, ev->time_ms);
    }
    return rc;
}

/* A load takes the commit lock at its first entry and keeps it until inmem__store_load_end():
 * a lock and an unlock per key were 8 % of the loading thread's time, and nothing else uses the
 * store while an open loads it. (Hence no static analysis of the lock here: it outlives the call;
 * load_one() and load_finish() are checked.) */
int inmem__store_load(inmem__store *st, const inmem__load_entry *e) INMEM_NO_TSA
{
    if (!st->load_locked) {
        inmem__mutex_lock(&st->commit_mu);
        st->load_locked = 1;
    }
    return load_one(st, e);
}

static void load_finish(inmem__store *st, uint64_t version) INMEM_REQUIRES(st->commit_mu);

void inmem__store_load_end(inmem__store *st, uint64_t version) INMEM_NO_TSA
{
    if (!st->load_locked)
        inmem__mutex_lock(&st->commit_mu);
    st->load_locked = 0;
    load_finish(st, version);
    inmem__mutex_unlock(&st->commit_mu);
}

static void load_finish(inmem__store *st, uint64_t version)
{
    inmem__index_append_end(st->index);
    free(st->load_buf);
    st->load_buf = NULL;
    st->load_cap = 0;
    st->load_node = NULL;
    st->assigned = version;
    st->gc_snap_max = version; /* what the image lacks was freed before it was written */
    if (version)
        atomic_store_rlx(&st->image_version, version);
    if (atomic_load_rlx(&st->times_on) && !st->load_times_was_on)
        load_shared_times(st); /* (duplicates of times noted meanwhile go in the sort) */
    inmem__history_load_times(st);
    atomic_store(&st->visible, version);
}

void inmem__store_image_at(inmem__store *st, uint64_t version)
{
    if (version > atomic_load_rlx(&st->image_version))
        atomic_store_rlx(&st->image_version, version);
}

static inmem__load_entry entry_of(const inmem__node *n, const inmem__version *v, int first)
{
    return (inmem__load_entry){inmem__node_key(n),
                               n->klen,
                               v->ver,
                               v->time_ms,
                               v->expiry_ms,
                               v->tomb,
                               first,
                               0,
                               v->data,
                               v->vlen};
}

/* One node of inmem__txn_dump(). */
static int dump_node(inmem_txn *t, const inmem__node *n, int hist,
                     int (*fn)(void *ctx, const inmem__load_entry *e), void *ctx)
{
    inmem__store *st = t->st;
    const inmem__version *v = inmem__version_at(n, t->snap);
    if (!v)
        return 0;
    if (!hist) { /* the newest visible value only */
        if (v->tomb || expired_for(t, v))
            return 0;
        inmem__load_entry e = entry_of(n, v, 1);
        return fn(ctx, &e);
    }
    const inmem__version *older = atomic_load_acq(&((inmem__version *)v)->next);
    uint8_t parent[16];
    uint64_t at;
    if (v->tomb && !older && !atomic_load_acq(&((inmem__version *)v)->cut) &&
        (n->klen < 16 || !inmem__fork_of(st, inmem__node_key(n), t->snap, parent, &at)) &&
        !inmem__history_keeps_lone_deletes(st, inmem__node_key(n), n->klen, t->snap))
        return 0; /* deleted, and nothing of it is kept: absent at every version (in a fork, a
                   * tombstone hides the parent's key: it stays; under a count, the delete is one
                   * of the versions kept) */
    int rc = 0;
    for (int first = 1; v && rc == 0; first = 0) {
        older = atomic_load_acq(&((inmem__version *)v)->next);
        inmem__load_entry e = entry_of(n, v, first);
        e.cut = !older && atomic_load_acq(&((inmem__version *)v)->cut);
        rc = fn(ctx, &e);
        v = older;
    }
    return rc;
}

/* How many nodes inmem__txn_dump() looks ahead (a power of two). */
#define DUMP_AHEAD 16

/* The nodes come in key order, mostly from memory in that order (a load's chunks, inserts in
 * order), which the hardware prefetches; but an overwritten key's newest version is wherever the
 * allocator had room, a cache miss each, and the walk waited for them one at a time (a 147 MB
 * image of keys overwritten at random took ~300 ms of CPU beside a writer). The walk now runs
 * DUMP_AHEAD nodes ahead of the dump, starting each version's miss as it passes, so that many
 * are in flight at once (~170-230 ms). */
int inmem__txn_dump(inmem_txn *t, int (*fn)(void *ctx, const inmem__load_entry *e), void *ctx)
{
    CHECK_ACTIVE(t);
    inmem__store *st = t->st;
    /* with history on, the handle's slot holds 0 (inmem__txn_begin_newest): nothing is freed
     * while the chains are read to their ends */
    int hist = t->pinned == 0 && t->snap != 0;
    const inmem__node *ring[DUMP_AHEAD];
    unsigned head = 0, count = 0;
    const inmem__node *next = inmem__index_seek(st->index, NULL, 0);
    int rc = 0;
    for (;;) {
        while (next && count < DUMP_AHEAD) { /* the walk, ahead of the dump */
            inmem__index_prefetch_newest(next, 3);
            ring[(head + count++) & (DUMP_AHEAD - 1)] = next;
            next = inmem__index_next(next);
        }
        if (!count || rc)
            return rc;
        const inmem__node *n = ring[head];
        head = (head + 1) & (DUMP_AHEAD - 1);
        count--;
        rc = dump_node(t, n, hist, fn, ctx);
    }
}

void inmem__store_replay_prefetch(inmem__store *st, const uint8_t *key, size_t klen, int stage)
{
    inmem__index_prefetch(st->index, inmem__hash(key, klen), stage);
}

int inmem__store_replay_hint(inmem__store *st, const uint8_t *key, size_t klen, const void *val,
                             size_t vlen)
{
    return inmem__history_fork_hint(st, key, klen, val, vlen);
}

void inmem__store_replay_end(inmem__store *st)
{
    inmem__mutex_lock(&st->commit_mu);
    if (st->replaying)
        inmem__index_append_end(st->index);
    st->replaying = 0;
    if (st->fork_hints) { /* what the hints kept and no fork replayed needs goes now */
        inmem__history_fork_hints_drop(st);
        inmem__index_gc(st->index, st->assigned, st->assigned,
                        inmem__history_gc_policy(st, st->assigned));
    }
    free(st->load_buf);
    st->load_buf = NULL;
    st->load_cap = 0;
    inmem__mutex_unlock(&st->commit_mu);
}

uint64_t inmem__store_version(inmem__store *st)
{
    inmem__mutex_lock(&st->commit_mu);
    uint64_t v = st->assigned;
    inmem__mutex_unlock(&st->commit_mu);
    return v;
}

uint64_t inmem__store_live_bytes(const inmem__store *st)
{
    return inmem__index_live_bytes(st->index);
}

/* ---- replaying the log at open -------------------------------------------------------------- */

int inmem__store_replay(void *ctx, const inmem__wal_txn *t)
{
    inmem__store *st = ctx;
    int rc = 0;
    inmem__mutex_lock(&st->commit_mu);
    if (!st->replaying) { /* nodes made while the log replays come from bulk chunks */
        inmem__index_bulk_start(st->index);
        st->replaying = 1;
    }
    for (size_t i = 0; i < t->n && rc == 0; i++) /* engine records: what caching them needs */
        if (INMEM_UNLIKELY(inmem__history_is_sys(t->recs[i].key, t->recs[i].klen)))
            rc = inmem__history_sys_prepare(st, t->recs[i].key, t->recs[i].klen,
                                            t->recs[i].type == INMEM__REC_DELETE, t->recs[i].val,
                                            t->recs[i].vlen);
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        const inmem__wal_rec *r = &t->recs[i];
        int tomb = r->type == INMEM__REC_DELETE;
        uint64_t h = inmem__hash(r->key, r->klen);
        inmem__node *n = inmem__index_find(st->index, r->key, r->klen, h);
        int is_new = n == NULL;
        /* a new key's version is built in the scratch buffer: the node embeds a copy */
        inmem__version *v =
            is_new ? scratch_version(st, r->vlen)
                   : inmem__version_new(r->val, tomb ? 0 : r->vlen, r->expiry_ms, tomb);
        if (v && is_new) {
            memset(v, 0, sizeof(*v));
            v->expiry_ms = tomb ? 0 : r->expiry_ms;
            v->tomb = (uint8_t)tomb;
            v->vlen = tomb ? 0 : r->vlen;
            if (v->vlen)
                memcpy(v->data, r->val, v->vlen);
            n = inmem__index_node_new(st->index, r->key, r->klen, h, v);
            v = NULL;
        }
        if ((!is_new && !v) || !n ||
            inmem__index_reserve(st->index, 1, (size_t)is_new, st->assigned)) {
            inmem__version_free(v);
            if (is_new && n)
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
        if (r->expiry_ms && (!(kcopy = malloc(r->klen)) || inmem__ttl_reserve(st, 1))) {
            free(kcopy);
            inmem__version_free(v);
            if (is_new)
                inmem__index_node_free(n);
            rc = INMEM_ENOMEM;
            break;
        }
        if (is_new) {
            inmem__index_link(st->index, n);
            v = inmem__index_node_first(n); /* the embedded copy */
        }
        v->ver = t->version;
        v->time_ms = t->time_ms;
        if (kcopy) {
            memcpy(kcopy, r->key, r->klen);
            inmem__ttl_push(st, (inmem__expiry){r->expiry_ms, t->version, kcopy, r->klen});
        }
        inmem__ttl_replacing(st, n);
        inmem__index_install(st->index, n, v);
        if (INMEM_UNLIKELY(inmem__history_is_sys(r->key, r->klen)))
            inmem__history_sys_write(st, r->key, r->klen, v);
    }
    if (rc == 0) {
        st->assigned = t->version;
        atomic_store(&st->visible, t->version);
        if (atomic_load_rlx(&st->times_on))
            inmem__history_note(st, t->version, t->time_ms);
        /* no reader exists yet: everything below the newest version can go at once (unless
         * history is kept) */
        inmem__index_gc(st->index, t->version, t->version,
                        inmem__history_gc_policy(st, t->version));
    }
    inmem__mutex_unlock(&st->commit_mu);
    return rc;
}
