/*
 * ttl.c — values with a time to live, and the sweeper that deletes them once expired.
 *
 * Expired values are invisible to reads at once (txn.c checks every version's expiry); this
 * reclaims them. The commit path keeps a min-heap of (expiry, version, key) for every value
 * written with a TTL. A sweep takes the entries that are due and, for each, runs a transaction
 * that reads the key and deletes it only if the version it sees is still the one that expired: a
 * key rewritten since is left alone, and a concurrent writer simply makes the sweep's commit
 * conflict (the key was read), so the sweeper never deletes a value someone just wrote. The
 * deletes are logged like any other commit, but counted apart (inmem_stats.expired_swept: the
 * engine's own transactions are no user's commits or aborts). A background thread sweeps every
 * interval; inmem_db_sweep() sweeps at once. A sweep also drops the history records of deleted
 * runs that no longer change an answer (inmem__history_sweep()).
 */
#include <time.h>

#include "core/hash.h"
#include "storage/valloc.h"
#include "txn/txn_int.h"

uint64_t inmem__expiry_after(uint64_t ttl_ms)
{
    if (!ttl_ms)
        return 0;
    uint64_t now = inmem__clock_wall_ms();
    return ttl_ms >= UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + ttl_ms;
}

/* ---- the heap (under commit_mu) ----------------------------------------------------------- */

void inmem__ttl_push(inmem__store *st, inmem__expiry e)
{
    size_t i = st->ttl_n++;
    while (i > 0 && st->ttl_heap[(i - 1) / 2].at_ms > e.at_ms) {
        st->ttl_heap[i] = st->ttl_heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    st->ttl_heap[i] = e;
}

/* Puts @p e at hole @p i (0 <= i < ttl_n) or below it, moving smaller children up. */
static void sift_down(inmem__store *st, size_t i, inmem__expiry e) INMEM_REQUIRES(st->commit_mu)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= st->ttl_n)
            break;
        if (c + 1 < st->ttl_n && st->ttl_heap[c + 1].at_ms < st->ttl_heap[c].at_ms)
            c++;
        if (st->ttl_heap[c].at_ms >= e.at_ms)
            break;
        st->ttl_heap[i] = st->ttl_heap[c];
        i = c;
    }
    st->ttl_heap[i] = e;
}

static inmem__expiry heap_pop(inmem__store *st) INMEM_REQUIRES(st->commit_mu)
{
    inmem__expiry top = st->ttl_heap[0], last = st->ttl_heap[--st->ttl_n];
    if (st->ttl_n)
        sift_down(st, 0, last);
    return top;
}

int inmem__ttl_reserve(inmem__store *st, size_t more)
{
    return grow((void **)&st->ttl_heap, &st->ttl_cap, st->ttl_n + more, sizeof(inmem__expiry));
}

int inmem__ttl_prepare(inmem__store *st, wentry *w, size_t nw)
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
    return n ? inmem__ttl_reserve(st, n) : 0;
}

void inmem__ttl_unprepare(wentry *w, size_t nw)
{
    for (size_t i = 0; i < nw; i++) {
        free(w[i].ttl_key);
        w[i].ttl_key = NULL;
    }
}

/* Takes every entry due at @p now_ms off the heap (the caller frees out[i].key and *out). */
static int take_expired(inmem__store *st, uint64_t now_ms, inmem__expiry **out, size_t *n)
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

void inmem__ttl_fini(inmem__store *st)
{
    for (size_t i = 0; i < st->ttl_n; i++)
        free(st->ttl_heap[i].key);
    free(st->ttl_heap);
    st->ttl_heap = NULL;
    st->ttl_n = st->ttl_cap = 0;
}

/* ---- stale entries --------------------------------------------------------------------------
 *
 * An entry goes stale when its key is written or deleted again before it comes due: the sweep
 * would find another version and drop it, but until its time comes it holds a copy of the key.
 * A key rewritten with a TTL in a loop (a cache entry refreshed on every step) left one entry a
 * write: a million rewrites of one key with a 100-second TTL held ~61 MB. So commits count the
 * entries they make stale (inmem__ttl_replacing()), and once the stale ones are three quarters
 * of the heap a pass walks it, a few entries per commit, and removes those whose key's newest
 * version is newer than theirs, or gone. The count is a hint (an entry popped by a sweep may have
 * been counted), so a pass also ends when it reaches the end of the heap. Not during a load at
 * open: its hash inserts are deferred, and a pass starts with the first commit after it. */

static void heap_remove_at(inmem__store *st, size_t i) INMEM_REQUIRES(st->commit_mu)
{
    free(st->ttl_heap[i].key);
    inmem__expiry last = st->ttl_heap[--st->ttl_n];
    if (i == st->ttl_n)
        return;
    while (i > 0 && st->ttl_heap[(i - 1) / 2].at_ms > last.at_ms) { /* up */
        st->ttl_heap[i] = st->ttl_heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    sift_down(st, i, last); /* (a no-op move if it went up) */
}

static int entry_stale(inmem__store *st, const inmem__expiry *e) INMEM_REQUIRES(st->commit_mu)
{
    const inmem__node *n =
        inmem__index_find(st->index, e->key, e->klen, inmem__hash(e->key, e->klen));
    if (!n)
        return 1; /* deleted, and collected */
    const inmem__version *h = atomic_load_rlx(&((inmem__node *)n)->head);
    return h && h->ver > e->version;
}

#define TTL_COMPACT_MIN 1024

void inmem__ttl_compact_some(inmem__store *st, unsigned budget)
{
    if (!st->ttl_compacting) {
        /* a pass once three entries in four are stale: it looks every entry up (a cache miss
         * each, out of cache), so fewer passes cost each TTL write less (4/3 lookups a write),
         * for a heap at most four times the live entries */
        if (st->ttl_n < TTL_COMPACT_MIN || 4 * st->ttl_stale < 3 * st->ttl_n)
            return;
        st->ttl_compacting = 1;
        st->ttl_scan = 0;
        st->ttl_stale = 0; /* from here on, counted for the next pass */
    }
    /* the misses of the entries this call looks at, started together (the slot, then the
     * node), so that they overlap instead of coming one after the other */
    size_t end = st->ttl_scan + budget < st->ttl_n ? st->ttl_scan + budget : st->ttl_n;
    for (int stage = 0; stage < 2; stage++)
        for (size_t i = st->ttl_scan; i < end; i++)
            inmem__index_prefetch(st->index, inmem__hash(st->ttl_heap[i].key, st->ttl_heap[i].klen),
                                  stage);
    while (budget-- > 0) {
        if (st->ttl_scan >= st->ttl_n) {
            st->ttl_compacting = 0;
            return;
        }
        if (entry_stale(st, &st->ttl_heap[st->ttl_scan]))
            heap_remove_at(st, st->ttl_scan); /* its place now holds another entry */
        else
            st->ttl_scan++;
    }
}

/* ---- sweeping ------------------------------------------------------------------------------ */

/* The most batches of deleted runs' records one sweep takes (each a commit of up to
 * INMEM__HISTORY_SWEEP_MAX): 16,384 a sweep interval. */
#define SWEEP_BATCHES 64

/* What sweep_one() did with an entry. */
enum { SWEPT_NOT_CURRENT, SWEPT_REMOVED, SWEPT_LATER };

/* Deletes one expired entry if it is still current. SWEPT_LATER when it could not tell or could
 * not delete now — no transaction slot free, the entry's commit not yet visible (strict mode: it
 * waits for its fsync), a commit that failed other than by a conflict —: the entry goes back on
 * the heap, or the value would stay in memory (and in every image) until a reopen. */
static int sweep_one(inmem__store *st, const inmem__expiry *e, uint64_t now)
{
    inmem_txn *txn;
    if (inmem__txn_begin_own(st, &txn) != 0) /* (its end without a delete is no user's abort) */
        return SWEPT_LATER;
    uint64_t ver = 0, expiry = 0;
    int tomb = 0, out = SWEPT_NOT_CURRENT;
    int rc = inmem__txn_peek(txn, e->key, e->klen, &ver, &expiry, &tomb);
    if (rc != 0 || ver < e->version) {
        out = SWEPT_LATER;
    } else if (ver == e->version && !tomb && expiry && expiry <= now) {
        rc = inmem__txn_delete(txn, e->key, e->klen);
        if (rc == 0)
            rc = inmem__txn_commit(txn);
        if (rc == 0)
            out = SWEPT_REMOVED;
        else if (rc != INMEM_CONFLICT && rc != INMEM_EREADONLY) /* a conflict: it changed */
            out = SWEPT_LATER;
    }
    inmem__txn_free(txn);
    return out;
}

int inmem__ttl_sweep(inmem__store *st, uint64_t *removed)
{
    uint64_t now = inmem__clock_wall_ms();
    inmem__expiry *due;
    size_t n;
    int rc = take_expired(st, now, &due, &n);
    uint64_t count = 0;
    size_t later = 0;
    for (size_t i = 0; i < n; i++) {
        int r = sweep_one(st, &due[i], now);
        count += r == SWEPT_REMOVED;
        if (r == SWEPT_LATER)
            due[later++] = due[i]; /* its key goes back with it */
        else
            free(due[i].key);
    }
    if (later) { /* back on the heap, for the next sweep */
        inmem__mutex_lock(&st->commit_mu);
        size_t i = 0;
        if (inmem__ttl_reserve(st, later) == 0)
            for (; i < later; i++)
                inmem__ttl_push(st, due[i]);
        inmem__mutex_unlock(&st->commit_mu);
        for (; i < later; i++) /* out of memory: found again by the next open */
            free(due[i].key);
    }
    free(due);
    if (removed)
        *removed = count;
    /* and the records of deleted runs that no longer change an answer, a commit per batch, while
     * batches come full (one batch a sweep fell behind 256 deletions a sweep interval for good),
     * up to SWEEP_BATCHES; best effort: what a failed commit (a conflict, a read-only database)
     * leaves, the next sweep tries again */
    for (int b = 0; b < SWEEP_BATCHES; b++) {
        uint64_t gone = 0;
        if (inmem__history_sweep(st, &gone) != 0 || gone < INMEM__HISTORY_SWEEP_MAX)
            break;
    }
    return rc;
}

static void *sweeper_main(void *arg)
{
    inmem__store *st = arg;
    inmem__mutex_lock(&st->sweep_mu);
    while (!st->sweep_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + st->sweep_interval_ms * 1000000ull;
        ts.tv_sec += (time_t)(ns / 1000000000ull);
        ts.tv_nsec = (long)(ns % 1000000000ull);
        pthread_cond_timedwait(&st->sweep_cv, &st->sweep_mu.m, &ts);
        if (st->sweep_stop)
            break;
        inmem__mutex_unlock(&st->sweep_mu);
        inmem__ttl_sweep(st, NULL); /* a read-only database just finds nothing to delete */
        inmem__valloc_trim(0);      /* pages of versions freed since, off any committer's path */
        inmem__mutex_lock(&st->sweep_mu);
    }
    inmem__mutex_unlock(&st->sweep_mu);
    return NULL;
}

int inmem__ttl_start(inmem__store *st, uint64_t interval_ms)
{
    inmem__mutex_lock(&st->sweep_mu);
    st->sweep_stop = 0;
    inmem__mutex_unlock(&st->sweep_mu);
    st->sweep_interval_ms = interval_ms;
    if (interval_ms == 0 || st->has_sweeper)
        return 0;
    if (inmem__thread_start(&st->sweeper, sweeper_main, st) != 0)
        return inmem__error(INMEM_ENOMEM, "cannot start the TTL sweeper thread");
    st->has_sweeper = 1;
    return 0;
}

void inmem__ttl_stop(inmem__store *st)
{
    if (!st->has_sweeper)
        return;
    inmem__mutex_lock(&st->sweep_mu);
    st->sweep_stop = 1;
    pthread_cond_signal(&st->sweep_cv);
    inmem__mutex_unlock(&st->sweep_mu);
    pthread_join(st->sweeper, NULL);
    st->has_sweeper = 0;
}
