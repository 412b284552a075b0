/*
 * history.c — retained history: the policies that keep old versions beyond what open snapshots
 * need (for a time window and/or a number of versions per key, per database and per run), the
 * times of commits (version <-> wall clock), and transactions that read the past.
 *
 * What the GC keeps. Readers need, of each key, the versions newer than the oldest open snapshot
 * and the one visible at it (index.c). With retention, the GC asks the policy of the key's scope
 * (its run's own, else the database's; inmem__gc_policy.keep): a window of W ms gives a floor —
 * the newest version committed at or before now - W: versions newer than it, and it, are kept —
 * and a count N keeps the N newest versions of every key whatever their age. A run deleted while
 * it had retention is erased: its keys keep nothing, and reads of its past are refused.
 *
 * Reading the past. A time-travel transaction is a read-only transaction whose snapshot is an
 * old version V, pinned under the commit lock (so no GC frees what V needs in between). What it
 * finds is exact: a version in a chain has every newer version of its key above it (the GC
 * frees only the oldest part of a chain). What it cannot find needs care:
 *   - a chain cut above V (older versions freed, the oldest kept is marked `cut`): the read
 *     fails with INMEM_EHISTORY (inmem__version_at_checked());
 *   - no version at or below V, or no key at all: the key may have been unlinked (a key whose
 *     only version left was a tombstone at or below its floor). "Absent" is the answer only if V
 *     is at or above the scope's floor (scope_floor()): the oldest version at which nothing
 *     the scope had can have been unlinked. Otherwise INMEM_EHISTORY.
 * A scope's floor: with a count of 2 or more, its policy's `since` (such keys are never unlinked
 * while older versions were freed); with a window, the window's floor now (floors only move
 * forward) or `since`, whichever is newer; with no retention, the highest min_snap any GC ran
 * with; erased, the version that deleted it. Where a time-travel read may begin (lowest_floor()),
 * no retention stands for the oldest version an open transaction holds instead (held_floor()):
 * what the GC has not freed yet only because it has not run is not offered.
 *
 * Commit times. Every version carries its commit time (inmem__version.time_ms). With retention
 * on, the commit times are also noted (under the commit lock) in a table of (version, time)
 * pairs, one per millisecond that saw a commit, for the window floors and the lookups between
 * versions and times. The table keeps what the longest window needs; with counts only, at most
 * TIMES_MAX entries (older times are then unknown: a lookup says INMEM_EHISTORY).
 *
 * Run policies live in the shared scope, key INMEM__TAG_SYS · 'h' · run id, value
 *   format 1 · window ms u64 · count u32   (a policy)   or   format 2   (erased),
 * written in the run's own transactions (runs.c) and cached here as commits, replay and loads
 * install them; a policy takes effect from its record's version on.
 */
#include "core/hash.h"
#include "core/key.h"
#include "txn/txn_int.h"

#define TIMES_MAX ((size_t)1 << 20)

/* ---- commit times ------------------------------------------------------------------------- */

void inmem__history_note(inmem__store *st, uint64_t version, uint64_t time_ms)
{
    if (st->ntimes) {
        const inmem__timepoint *last = &st->times[st->ntimes - 1];
        if (time_ms <= last->time_ms && last->last == UINT64_MAX)
            return; /* the same millisecond (or a clock that went back): the last entry covers it */
        if (time_ms < last->time_ms)
            time_ms = last->time_ms; /* (an image's entry covers only its versions: a new one) */
    }
    if (st->ntimes == st->times_cap) {
        size_t cap = st->times_cap ? st->times_cap * 2 : 1024;
        inmem__timepoint *p = realloc(st->times, cap * sizeof(*p));
        if (!p)
            return; /* the version is noted with the previous millisecond's: an entry may only
                     * cover too much, which a lookup by time reads as "committed later" */
        st->times = p;
        st->times_cap = cap;
    }
    st->times[st->ntimes++] = (inmem__timepoint){version, time_ms, UINT64_MAX};
}

/* The index of the last entry with version <= @p v, or -1. */
static long entry_of_version(const inmem__store *st, uint64_t v)
{
    long lo = 0, hi = (long)st->ntimes - 1, found = -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (st->times[mid].version <= v) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

/* Whether the commit time of version @p v is known: 1 with it in *lo (= *hi); else 0, with the
 * times it lies between in *lo and *hi (0: no bound known). */
static int time_of_version(const inmem__store *st, uint64_t v, uint64_t *lo, uint64_t *hi)
{
    long i = entry_of_version(st, v);
    *lo = i >= 0 ? st->times[i].time_ms : 0;
    if (i >= 0 && v <= st->times[i].last) {
        *hi = *lo;
        return 1;
    }
    *hi = (size_t)(i + 1) < st->ntimes ? st->times[i + 1].time_ms : 0;
    return 0;
}

/* The newest version committed at or before @p time_ms; 0 if none is known. (A version the GC's
 * floors may use: assigned, not necessarily visible yet; readers use visible_at_time().) */
static uint64_t version_at_time(const inmem__store *st, uint64_t time_ms)
{
    long lo = 0, hi = (long)st->ntimes - 1, found = -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (st->times[mid].time_ms <= time_ms) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    if (found < 0)
        return 0;
    /* entry i covers the versions from its own to the next entry's, exclusive; one from an image
     * only those to its `last`: the times of the others are not known, and may be later than
     * @p time_ms (a lower answer is what the GC's floors want too: they keep more) */
    uint64_t end = (size_t)found + 1 < st->ntimes ? st->times[found + 1].version - 1 : st->assigned;
    return st->times[found].last < end ? st->times[found].last : end;
}

/* The newest version that may have been committed at or before @p time_ms: the one before the
 * first version known to be later (the newest assigned if none is). version_at_time() answers
 * the oldest such version, which is what the GC wants (a lower floor keeps more); where reads of
 * the past are refused wants this one. The two differ only where commit times are not known: a
 * checkpoint image carries the times of the versions it holds, not of those it dropped (a delete
 * whose key was unlinked, a run's erased writes), and a floor read from the versions it kept
 * fell back below what the GC had already dropped — a read of that past then answered "absent"
 * where it must be refused. */
static uint64_t version_at_time_high(const inmem__store *st, uint64_t time_ms)
{
    long lo = 0, hi = (long)st->ntimes - 1, first = (long)st->ntimes;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (st->times[mid].time_ms > time_ms) {
            first = mid;
            hi = mid - 1;
        } else {
            lo = mid + 1;
        }
    }
    return (size_t)first < st->ntimes ? st->times[first].version - 1 : st->assigned;
}

/* What a reader may be given of version_at_time(): in strict mode a commit is noted (and
 * assigned) before its fsync, and visible only after it (never, if it fails). Under commit_mu. */
static uint64_t visible_at_time(const inmem__store *st, uint64_t time_ms)
{
    uint64_t v = version_at_time(st, time_ms), vis = atomic_load(&st->visible);
    return v < vis ? v : vis;
}

/* Drops the entries before the one that covers @p floor. */
static void trim_times(inmem__store *st, uint64_t floor)
{
    long i = entry_of_version(st, floor);
    if (i > 0) {
        memmove(st->times, st->times + i, (st->ntimes - (size_t)i) * sizeof(*st->times));
        st->ntimes -= (size_t)i;
    }
}

static int cmp_timepoint(const void *a, const void *b)
{
    const inmem__timepoint *x = a, *y = b;
    return x->version < y->version ? -1 : x->version > y->version;
}

void inmem__history_load_times(inmem__store *st)
{
    if (!atomic_load_rlx(&st->times_on)) {
        st->ntimes = 0;
        return;
    }
    if (!st->ntimes)
        return;
    qsort(st->times, st->ntimes, sizeof(*st->times), cmp_timepoint);
    size_t n = st->ntimes, out = 0;
    for (size_t i = 0; i < n; i++) { /* keep the first of each run of equal or earlier times */
        if (out == 0 || st->times[i].time_ms > st->times[out - 1].time_ms)
            st->times[out++] = st->times[i];
        else if (st->times[i].last > st->times[out - 1].last) /* it covers what it covered */
            st->times[out - 1].last = st->times[i].last;
    }
    st->ntimes = out;
}

void inmem__history_load_time(inmem__store *st, uint64_t version, uint64_t time_ms)
{
    if (!time_ms)
        return;
    if (st->ntimes == st->times_cap) {
        size_t cap = st->times_cap ? st->times_cap * 2 : 1024;
        inmem__timepoint *p = realloc(st->times, cap * sizeof(*p));
        if (!p)
            return;
        st->times = p;
        st->times_cap = cap;
    }
    st->times[st->ntimes++] = (inmem__timepoint){version, time_ms, version};
}

/* ---- policies ------------------------------------------------------------------------------ */

static uint64_t run_hash(const uint8_t run[16])
{
    uint64_t a, b;
    memcpy(&a, run, 8);
    memcpy(&b, run + 8, 8);
    return (a ^ (b * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
}

static inmem__run_policy *policy_find(const inmem__store *st, const uint8_t run[16])
{
    if (!st->npol)
        return NULL;
    for (size_t i = run_hash(run) & (st->pol_cap - 1);; i = (i + 1) & (st->pol_cap - 1)) {
        inmem__run_policy *p = st->pol[i];
        if (!p)
            return NULL;
        if (memcmp(p->run, run, 16) == 0)
            return p;
    }
}

/* The table holds pointers to entries allocated one by one, so that a growth costs 8 bytes a
 * slot (16 an entry), not a copy of every entry: a fork adds its entry (and its parent's), and
 * at most that much for the table once in a doubling. */
static int policy_grow(inmem__store *st)
{
    size_t cap = st->pol_cap ? st->pol_cap * 2 : 8;
    inmem__run_policy **np = calloc(cap, sizeof(*np));
    if (!np)
        return INMEM_ENOMEM;
    for (size_t i = 0; i < st->pol_cap; i++)
        if (st->pol[i])
            for (size_t j = run_hash(st->pol[i]->run) & (cap - 1);; j = (j + 1) & (cap - 1))
                if (!np[j]) {
                    np[j] = st->pol[i];
                    break;
                }
    free(st->pol);
    st->pol = np;
    st->pol_cap = cap;
    return 0;
}

/* The cache entry of @p run, made if new; NULL if out of memory. */
static inmem__run_policy *policy_entry(inmem__store *st, const uint8_t run[16])
{
    inmem__run_policy *p = policy_find(st, run);
    if (p)
        return p;
    if ((st->npol + 1) * 2 > st->pol_cap && policy_grow(st))
        return NULL;
    for (size_t i = run_hash(run) & (st->pol_cap - 1);; i = (i + 1) & (st->pol_cap - 1))
        if (!st->pol[i]) {
            if (!(p = calloc(1, sizeof(*p))))
                return NULL;
            st->pol[i] = p;
            memcpy(p->run, run, 16);
            p->gone = 1;
            p->fork_floor = UINT64_MAX;
            p->hint_at = UINT64_MAX;
            st->npol++;
            return p;
        }
}

/* An entry that only refuses a deleted run's past (what inmem__history_sweep() may drop). */
static int refuses_past(const inmem__run_policy *p)
{
    return !p->gone && (p->erased || p->inherit);
}

/* Whether forks refer to @p p: it is one, or has some (the fork floors' heaps and lists point
 * at entries), or the floors are recomputed from every entry (floors_slow). */
static int in_forks(const inmem__store *st, const inmem__run_policy *p)
{
    return st->floors_slow || p->is_fork || p->nkids || p->floor_pos || p->in_ending || p->attr ||
           p->hint_at != UINT64_MAX || p->fork_floor != UINT64_MAX;
}

/* Takes @p p out of the table and frees it unless forks refer to it. Returns 1 if it went.
 * Under commit_mu. */
static int policy_drop(inmem__store *st, inmem__run_policy *p)
{
    if (in_forks(st, p))
        return 0;
    size_t mask = st->pol_cap - 1, i = run_hash(p->run) & mask;
    while (st->pol[i] != p)
        i = (i + 1) & mask;
    st->pol_past -= refuses_past(p);
    free(p->kids);
    free(p);
    st->pol[i] = NULL;
    st->npol--;
    /* linear probing: an entry further on moves into the hole if its probe passes the hole */
    for (size_t j = (i + 1) & mask; st->pol[j]; j = (j + 1) & mask) {
        size_t home = run_hash(st->pol[j]->run) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            st->pol[i] = st->pol[j];
            st->pol[j] = NULL;
            i = j;
        }
    }
    return 1;
}

static int is_shared(const uint8_t *key)
{
    static const uint8_t zero[16];
    return memcmp(key, zero, 16) == 0;
}

/* ---- fork floors ----------------------------------------------------------------------------
 * A run's fork_floor is the lowest of its hint_at and the fork_at of its live forks (is_fork,
 * fork_end or not: a deleted fork counts until no snapshot can read through it); fork_min is the
 * lowest fork_floor of any run. Recomputing them all at each change (fork_floors_all()) cost
 * O(runs) per fork record: a log of N forks replayed in O(N^2) (twice: its prescan's hints, then
 * the records), 5 s to reopen a log of 8,000 forks made and deleted, 13 s to delete them. They are
 * kept instead: each run holds its live forks in a min-heap by fork_at, and the store the runs in a
 * min-heap by fork_floor, so a change costs O(log N). A fork is attributed to its parent's entry,
 * which is made before it and never goes; if that entry (or a heap's room) could not be allocated,
 * the store falls back for good to recomputing them all (floors_slow), which attributes such a fork
 * to itself. Both ways give the same floors. Under commit_mu. */

static uint64_t heap_key(const inmem__run_policy *p, int by_floor)
{
    return by_floor ? p->fork_floor : p->fork_at;
}

static void heap_place(inmem__run_policy **a, uint32_t i, inmem__run_policy *p, int by_floor)
{
    a[i] = p;
    if (by_floor)
        p->floor_pos = i + 1;
    else
        p->kid_pos = i;
}

/* Moves a[i] up or down to its place in the min-heap a[0..n). */
static void heap_fix(inmem__store *st, inmem__run_policy **a, uint32_t n, uint32_t i, int by_floor)
{
    inmem__run_policy *p = a[i];
    uint64_t k = heap_key(p, by_floor);
    while (i > 0 && heap_key(a[(i - 1) / 2], by_floor) > k) {
        heap_place(a, i, a[(i - 1) / 2], by_floor);
        i = (i - 1) / 2;
        st->floor_steps++;
    }
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_key(a[c + 1], by_floor) < heap_key(a[c], by_floor))
            c++;
        if (heap_key(a[c], by_floor) >= k)
            break;
        heap_place(a, i, a[c], by_floor);
        i = c;
        st->floor_steps++;
    }
    heap_place(a, i, p, by_floor);
}

/* Adds @p p to the heap (*a, *n, *cap); 0, or INMEM_ENOMEM. */
static int heap_add(inmem__store *st, inmem__run_policy ***a, uint32_t *n, uint32_t *cap,
                    inmem__run_policy *p, int by_floor)
{
    if (*n == *cap) {
        uint32_t c = *cap ? *cap * 2 : 4;
        inmem__run_policy **na = realloc(*a, (size_t)c * sizeof(*na));
        if (!na)
            return INMEM_ENOMEM;
        *a = na;
        *cap = c;
    }
    heap_place(*a, *n, p, by_floor);
    (*n)++;
    heap_fix(st, *a, *n, *n - 1, by_floor);
    return 0;
}

static void heap_remove(inmem__store *st, inmem__run_policy **a, uint32_t *n, uint32_t i,
                        int by_floor)
{
    (*n)--;
    if (i < *n) {
        heap_place(a, i, a[*n], by_floor);
        heap_fix(st, a, *n, i, by_floor);
    }
}

/* Recomputes the fork floors of every run: O(runs with records). What they always were; the way
 * they are computed once the heaps could not be kept (floors_slow). */
static void fork_floors_all(inmem__store *st)
{
    st->fork_min = UINT64_MAX;
    for (size_t i = 0; i < st->pol_cap; i++)
        if (st->pol[i]) {
            inmem__run_policy *p = st->pol[i];
            p->fork_floor = p->hint_at; /* a fork the log's replay has yet to reach */
            if (p->hint_at < st->fork_min)
                st->fork_min = p->hint_at;
        }
    for (size_t i = 0; i < st->pol_cap; i++) {
        inmem__run_policy *c = st->pol[i];
        st->floor_steps += 2;
        if (!c || !c->is_fork)
            continue;
        inmem__run_policy *p = policy_find(st, c->fork_parent); /* made with the fork's entry */
        if (!p) /* (out of memory then): keep more of everyone rather than lose a fork's view */
            p = c;
        if (c->fork_at < p->fork_floor)
            p->fork_floor = c->fork_at;
        if (c->fork_at < st->fork_min)
            st->fork_min = c->fork_at;
    }
}

static void floors_fall_back(inmem__store *st)
{
    st->floors_slow = 1;
    fork_floors_all(st);
}

/* Sets @p p's fork_floor from its hint and its forks' heap, and its place in the store's heap. */
static void floor_update(inmem__store *st, inmem__run_policy *p)
{
    if (st->floors_slow)
        return;
    uint64_t f = p->hint_at;
    if (p->nkids && p->kids[0]->fork_at < f)
        f = p->kids[0]->fork_at;
    if (f == p->fork_floor)
        return;
    p->fork_floor = f;
    if (p->floor_pos && f == UINT64_MAX)
        heap_remove(st, st->floor_heap, &st->nfloor_heap, p->floor_pos - 1, 1);
    else if (p->floor_pos)
        heap_fix(st, st->floor_heap, st->nfloor_heap, p->floor_pos - 1, 1);
    else if (f != UINT64_MAX &&
             heap_add(st, &st->floor_heap, &st->nfloor_heap, &st->floor_heap_cap, p, 1) != 0) {
        floors_fall_back(st);
        return;
    }
    if (f == UINT64_MAX)
        p->floor_pos = 0;
    st->fork_min = st->nfloor_heap ? st->floor_heap[0]->fork_floor : UINT64_MAX;
}

/* Live fork @p c (is_fork, fork_parent and fork_at set) joins its parent's heap. */
static void fork_attach(inmem__store *st, inmem__run_policy *c)
{
    if (st->floors_slow)
        return;
    inmem__run_policy *p = policy_find(st, c->fork_parent);
    if (!p || heap_add(st, &p->kids, &p->nkids, &p->kids_cap, c, 0) != 0) {
        floors_fall_back(st); /* (no entry: it counts for itself, as fork_floors_all() says) */
        return;
    }
    c->attr = p;
    floor_update(st, p);
}

/* Fork @p c, about to stop being a live fork (or to be one of another parent or version),
 * leaves its parent's heap. */
static void fork_detach(inmem__store *st, inmem__run_policy *c)
{
    if (st->floors_slow)
        return;
    inmem__run_policy *p = c->attr;
    heap_remove(st, p->kids, &p->nkids, c->kid_pos, 0);
    c->attr = NULL;
    floor_update(st, p);
}

#ifndef NDEBUG
/* The floors kept are those fork_floors_all() computes (checked while there are few runs). */
static void check_floors(const inmem__store *st)
{
    if (st->pol_cap > 128)
        return;
    uint64_t min = UINT64_MAX;
    for (size_t i = 0; i < st->pol_cap; i++) {
        const inmem__run_policy *p = st->pol[i];
        if (!p)
            continue;
        uint64_t f = p->hint_at;
        for (size_t j = 0; j < st->pol_cap; j++) {
            const inmem__run_policy *c = st->pol[j];
            if (!c || !c->is_fork)
                continue;
            const inmem__run_policy *a = policy_find(st, c->fork_parent);
            if ((a ? a : c) == p && c->fork_at < f)
                f = c->fork_at;
        }
        assert(p->fork_floor == f);
        if (f < min)
            min = f;
    }
    assert(st->fork_min == min);
}
#else
#define check_floors(st) ((void)0)
#endif

int inmem__history_keeps_lone_deletes(inmem__store *st, const uint8_t *key, size_t klen,
                                      uint64_t snap)
{
    if (klen >= 16 && !is_shared(key)) { /* the run's own policy, if it has one */
        uint8_t hk[INMEM__SYS_KEY_LEN];
        inmem__sys_key(hk, 'h', key);
        inmem__node *n = inmem__index_find(st->index, hk, sizeof hk, inmem__hash(hk, sizeof hk));
        const inmem__version *v = n ? inmem__version_at(n, snap) : NULL;
        if (v && !v->tomb && v->vlen == 13 && v->data[0] == 1)
            return inmem__rd_le(v->data + 9, 4) >= 2;
        if (v && !v->tomb && v->vlen == 1 && v->data[0] == 2)
            return 0; /* erased */
    }
    return st->hist.count >= 2; /* set at open, before any thread reads it */
}

int inmem__history_fork_hint(inmem__store *st, const uint8_t *key, size_t klen, const void *val,
                             size_t vlen)
{
    const uint8_t *b = val;
    if (!inmem__history_is_sys(key, klen) || key[INMEM__KEY_PREFIX] != 'f' ||
        vlen != INMEM__FORK_REC_LEN || b[0] != 1)
        return 0;
    inmem__mutex_lock(&st->commit_mu);
    inmem__run_policy *p = policy_entry(st, b + 1);
    uint64_t at = inmem__rd_le(b + 17, 8);
    if (p && p->hint_at == UINT64_MAX)
        st->fork_hints++;
    if (p && at < p->hint_at) {
        p->hint_at = at;
        if (st->floors_slow)
            fork_floors_all(st);
        else
            floor_update(st, p);
        check_floors(st);
    }
    inmem__mutex_unlock(&st->commit_mu);
    return p ? 0 : INMEM_ENOMEM; /* a fork's view of its parent may not be lost: fail the open */
}

void inmem__history_fork_hints_drop(inmem__store *st)
{
    if (!st->fork_hints)
        return;
    for (size_t i = 0; i < st->pol_cap; i++)
        if (st->pol[i] && st->pol[i]->hint_at != UINT64_MAX) {
            st->pol[i]->hint_at = UINT64_MAX;
            floor_update(st, st->pol[i]);
        }
    st->fork_hints = 0;
    if (st->floors_slow)
        fork_floors_all(st);
    check_floors(st);
}

int inmem__history_sys_prepare(inmem__store *st, const uint8_t *key, size_t klen, int tomb,
                               const void *val, size_t vlen)
{
    if (!inmem__history_is_sys(key, klen) || tomb)
        return 0; /* a delete's entry is only looked up */
    const uint8_t *run = key + INMEM__KEY_PREFIX + 1, *b = val;
    if (key[INMEM__KEY_PREFIX] == 'f' && vlen == INMEM__FORK_REC_LEN && b[0] == 1)
        return policy_entry(st, b + 1) && policy_entry(st, run) ? 0 : INMEM_ENOMEM;
    if (key[INMEM__KEY_PREFIX] == 'h' && !is_shared(run))
        return policy_entry(st, run) ? 0 : INMEM_ENOMEM;
    return 0;
}

void inmem__history_sys_write(inmem__store *st, const uint8_t *key, size_t klen,
                              const inmem__version *v)
{
    if (!inmem__history_is_sys(key, klen))
        return;
    const uint8_t *run = key + INMEM__KEY_PREFIX + 1;
    if (key[INMEM__KEY_PREFIX] == 'f') {
        int fork = !v->tomb && v->vlen == INMEM__FORK_REC_LEN && v->data[0] == 1;
        if (fork) /* (made by inmem__history_sys_prepare(), unless it was not called) */
            (void)policy_entry(st, v->data + 1);
        inmem__run_policy *p = fork ? policy_entry(st, run) : policy_find(st, run);
        if (!p)
            return;
        if (fork) {
            if (p->fork_end)
                st->forks_ending--; /* (it stays in the list of deleted forks, to drop) */
            if (p->is_fork)
                fork_detach(st, p);
            p->is_fork = 1;
            p->fork_end = 0;
            memcpy(p->fork_parent, v->data + 1, 16);
            p->fork_at = inmem__rd_le(v->data + 17, 8);
            fork_attach(st, p);
            atomic_store_rlx(&st->has_forks, 1);
            atomic_store_rlx(&st->hist_on, 1); /* the GC must ask the policy */
        } else if (p->is_fork && !p->fork_end) {
            p->fork_end = v->ver; /* readers of snapshots before it may still read through it */
            st->forks_ending++;
            if (!p->in_ending) {
                p->in_ending = 1;
                p->end_next = st->ending;
                st->ending = p;
            }
        }
        if (st->floors_slow)
            fork_floors_all(st);
        check_floors(st);
        return;
    }
    if (key[INMEM__KEY_PREFIX] != 'h')
        return;
    if (is_shared(run)) { /* the database's own policy (inmem__history_store_db_policy()) */
        if (!v->tomb && v->vlen == 13 && v->data[0] == 1) {
            inmem__history_config(st, inmem__rd_le(v->data + 1, 8),
                                  (uint32_t)inmem__rd_le(v->data + 9, 4), v->ver - 1);
            st->hist_stored = 1;
        }
        return;
    }
    if (v->tomb) {
        inmem__run_policy *p = policy_find(st, run);
        if (p) {
            st->pol_past -= refuses_past(p);
            p->gone = 1; /* the database's policy applies again */
            st->hist_max_stale |= p->p.ms != 0;
            (void)policy_drop(st, p); /* unless a fork still needs its entry */
        }
        return;
    }
    inmem__run_policy *p = policy_entry(st, run);
    if (!p)
        return; /* out of memory: the database's policy applies to the run */
    st->pol_past -= refuses_past(p);
    st->hist_max_stale |= p->p.ms != 0; /* (its window may have been the longest) */
    if (v->vlen == 13 && v->data[0] == 1) {
        p->p = (inmem__hpolicy){inmem__rd_le(v->data + 1, 8),
                                (uint32_t)inmem__rd_le(v->data + 9, 4), v->ver - 1};
        p->erased = 0;
        p->inherit = 0;
        p->gone = 0;
        p->floor_pass = 0;
        if (p->p.ms > st->hist_max_ms)
            st->hist_max_ms = p->p.ms;
        if (p->p.ms || p->p.count >= 2) {
            atomic_store_rlx(&st->hist_on, 1);
            atomic_store_rlx(&st->times_on, 1);
        }
    } else if (v->vlen == 1 && v->data[0] == 2) {
        p->p = (inmem__hpolicy){0, 0, v->ver};
        p->erased = 1;
        p->inherit = 0;
        p->gone = 0;
    } else if (v->vlen == 1 && v->data[0] == 3) {
        /* from the deletion itself: what the run wrote before is not kept, nor read (a read
         * below the deletion is refused; at it, the run's keys are absent) */
        p->p = (inmem__hpolicy){0, 0, v->ver};
        p->erased = 0;
        p->inherit = 1;
        p->gone = 0;
        p->floor_pass = 0;
    }
    st->pol_past += refuses_past(p);
}

/* ---- the records runs.c writes -------------------------------------------------------------- */

int inmem__history_run_begun(inmem_txn *t, const uint8_t run[16], int own, uint64_t ms,
                             uint32_t count)
{
    uint8_t key[INMEM__KEY_PREFIX + 17], val[13];
    inmem__sys_key(key, 'h', run);
    if (own) {
        size_t n = inmem__history_policy_value(ms, count, val);
        return inmem__txn_put(t, key, sizeof key, val, n, 0);
    }
    /* the database's policy: a record is needed only to replace one left by an earlier run of
     * the same id (an erasure stays in force for the versions before this one) */
    int rc = inmem__txn_get(t, key, sizeof key, NULL, NULL, NULL);
    if (rc == INMEM_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    val[0] = 3;
    return inmem__txn_put(t, key, sizeof key, val, 1, 0);
}

int inmem__history_run_deleted(inmem_txn *t, const uint8_t run[16])
{
    uint8_t key[INMEM__KEY_PREFIX + 17];
    inmem__sys_key(key, 'h', run);
    const void *v;
    size_t vlen;
    int rc = inmem__txn_get(t, key, sizeof key, &v, &vlen, NULL);
    if (rc && rc != INMEM_NOTFOUND)
        return rc;
    int own = rc == 0;
    const uint8_t *b = v;
    int db_kept = t->st->hist.ms || t->st->hist.count >= 2; /* (not changed while open) */
    int kept = db_kept;
    if (own && vlen == 13 && b[0] == 1) {
        kept = inmem__rd_le(b + 1, 8) || inmem__rd_le(b + 9, 4) >= 2;
        if (!kept && db_kept) {
            /* a run that kept less than the database: the database's policy takes over from
             * the deletion on, not for the run's past, which its own policy let go (with its
             * record simply deleted, "absent" would be trusted down to the database's floor,
             * where keys the run deleted were already forgotten) */
            static const uint8_t from_now = 3;
            return inmem__txn_put(t, key, sizeof key, &from_now, 1, 0);
        }
    }
    if (kept) { /* erased: its past is refused from now on */
        static const uint8_t erased = 2;
        return inmem__txn_put(t, key, sizeof key, &erased, 1, 0);
    }
    return own ? inmem__txn_delete(t, key, sizeof key) : 0;
}

size_t inmem__history_policy_value(uint64_t ms, uint32_t count, uint8_t out[13])
{
    out[0] = 1;
    for (int i = 0; i < 8; i++)
        out[1 + i] = (uint8_t)(ms >> (8 * i));
    for (int i = 0; i < 4; i++)
        out[9 + i] = (uint8_t)(count >> (8 * i));
    return 13;
}

/* The wall clock a window's floor is computed at (under commit_mu): never earlier than the one
 * an earlier floor used. The GC acts on a floor (a deleted key below it is unlinked, and from
 * then on "absent" is trusted only at or above it); a clock stepped back would lower it, and the
 * commit times it was read from are trimmed, so a read of the past would answer "absent" where
 * it must answer INMEM_EHISTORY. */
static uint64_t floor_clock(inmem__store *st)
{
    uint64_t now = inmem__clock_wall_ms();
    if (now > st->floor_now_ms)
        st->floor_now_ms = now;
    return st->floor_now_ms;
}

/* The newest version committed at or before @p now - @p ms: a window's floor, as the GC keeps
 * it (the lowest the known commit times allow; see version_at_time_high()). */
static uint64_t window_floor(const inmem__store *st, uint64_t ms, uint64_t now)
{
    return now > ms ? version_at_time(st, now - ms) : 0;
}

/* The policy of a scope (a run id, or the shared scope): its run's own, else the database's;
 * *rp the run's cache entry if it has one (erased: deleted with its history). Under commit_mu. */
static const inmem__hpolicy *scope_policy(const inmem__store *st, const uint8_t *scope,
                                          inmem__run_policy **rp)
{
    *rp = NULL;
    if (is_shared(scope))
        return &st->hist;
    inmem__run_policy *p = policy_find(st, scope);
    if (!p || p->gone)
        return &st->hist;
    *rp = p;
    if (p->inherit) { /* the database's, from the record's version on */
        p->eff = st->hist;
        if (p->p.since > p->eff.since)
            p->eff.since = p->p.since;
        return &p->eff;
    }
    return &p->p;
}

/* The oldest version at which "absent" is a trustworthy answer in the scope (see the top); @p held
 * is what stands for it without retention (st->gc_snap_max, or held_floor()). A window's floor
 * here is the highest the known commit times allow (version_at_time_high()): the GC's is never
 * above it. */
static uint64_t policy_floor(const inmem__store *st, const inmem__hpolicy *p, int erased,
                             uint64_t now, uint64_t held)
{
    if (erased || p->count >= 2)
        return p->since;
    if (!p->ms)
        return held;
    uint64_t f = now > p->ms ? version_at_time_high(st, now - p->ms) : 0;
    return f > p->since ? f : p->since;
}

static uint64_t scope_floor(const inmem__store *st, const uint8_t *scope, uint64_t now)
{
    inmem__run_policy *rp;
    const inmem__hpolicy *p = scope_policy(st, scope, &rp);
    return policy_floor(st, p, rp && rp->erased, now, st->gc_snap_max);
}

uint64_t inmem__history_scope_floor(inmem__store *st, const uint8_t *scope)
{
    return scope_floor(st, scope, floor_clock(st));
}

uint64_t inmem__history_retained_from(inmem__store *st, const uint8_t *scope)
{
    inmem__run_policy *rp;
    const inmem__hpolicy *p = scope_policy(st, scope, &rp);
    if (!p->ms && p->count < 2)
        return UINT64_MAX;
    return policy_floor(st, p, rp && rp->erased, floor_clock(st), st->gc_snap_max);
}

uint64_t inmem__history_replay_after(inmem__store *st, const uint8_t *scope)
{
    /* every version newer than the floor is kept, and a put at the floor (the state there); a
     * delete at the floor may be gone with its key (the GC unlinks a key whose tombstone is at
     * or below the floor it uses). A count of 2 or more keeps tombstones, but its floor is the
     * version before its record: written under the policy before, whose GC (or a checkpoint
     * image, which holds each key's newest value) may have dropped a delete there. */
    return scope_floor(st, scope, floor_clock(st));
}

/* Without retention, the oldest version a time-travel read may begin at: the oldest an open
 * transaction holds, or the newest (docs/history.md) — never what the collector has merely not
 * freed yet, or whether a version is accepted would depend on when it last ran (every 8
 * commits), and a reopen (whose replay collects as it goes) would refuse what was accepted
 * before. Never below the highest min_snap a collection ran with, either: a handle that pinned
 * itself down (inmem__pin_down()) holds some keys' older versions, not the whole state there.
 * Under commit_mu. */
static uint64_t held_floor(inmem__store *st)
{
    uint64_t m = inmem__store_min_active(st);
    return m > st->gc_snap_max ? m : st->gc_snap_max;
}

/* The lowest of every scope's floor: the oldest version a time-travel read may begin at. */
static uint64_t lowest_floor(inmem__store *st, uint64_t now)
{
    uint64_t held = held_floor(st);
    uint64_t f = policy_floor(st, &st->hist, 0, now, held);
    for (size_t i = 0; i < st->pol_cap; i++) {
        const inmem__run_policy *p = st->pol[i];
        if (p && !p->gone) {
            uint64_t g = policy_floor(st, &p->p, p->erased, now, held);
            if (g < f)
                f = g;
        }
    }
    return f;
}

/* The highest of every scope's floor: a scan across scopes trusts its absences from here on. */
static uint64_t highest_floor(const inmem__store *st, uint64_t now)
{
    uint64_t f = policy_floor(st, &st->hist, 0, now, st->gc_snap_max);
    for (size_t i = 0; i < st->pol_cap; i++) {
        const inmem__run_policy *p = st->pol[i];
        if (p && !p->gone) {
            uint64_t g = policy_floor(st, &p->p, p->erased, now, st->gc_snap_max);
            if (g > f)
                f = g;
        }
    }
    return f;
}

#define SWEEP_MAX INMEM__HISTORY_SWEEP_MAX

/* A record a sweep may delete: the run, and the version its record was written at. */
typedef struct {
    uint8_t run[16];
    uint64_t ver;
} sweep_cand;

int inmem__history_sweep(inmem__store *st, uint64_t *removed)
{
    sweep_cand *runs = NULL;
    size_t n = 0;
    if (removed)
        *removed = 0;
    inmem__mutex_lock(&st->commit_mu);
    /* the database's floor: where its policy alone refuses reads (a window's floor, a count's
     * `since`, without retention the oldest version held). Floors never move back, and what a
     * sweep did not drop at a floor it cannot drop until the floor moves: a count, whose floor
     * stays, costs no walk of the table at every sweep */
    uint64_t f = st->pol_past ? policy_floor(st, &st->hist, 0, floor_clock(st), held_floor(st)) : 0;
    size_t held = 0; /* candidates a fork still refers to: their turn comes without a new floor */
    if (f > st->pol_swept_floor && (runs = malloc(SWEEP_MAX * sizeof(*runs))) != NULL) {
        for (size_t i = 0; i < st->pol_cap && n < SWEEP_MAX; i++) {
            const inmem__run_policy *p = st->pol[i];
            if (!p || !refuses_past(p) || p->p.since > f)
                continue;
            if (in_forks(st, p)) {
                held++;
                continue;
            }
            memcpy(runs[n].run, p->run, 16); /* (see inmem__history_sys_write()) */
            runs[n++].ver = p->p.since;      /* (the record's version, erased or inherit) */
        }
    }
    int whole = runs && n < SWEEP_MAX && !held; /* every candidate at f is in runs[] */
    if (whole && !n)
        st->pol_swept_floor = f;
    inmem__mutex_unlock(&st->commit_mu);
    int rc = 0;
    inmem_txn *t = NULL;
    if (n && (rc = inmem__txn_begin_own(st, &t)) == 0) {
        size_t gone = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            uint8_t key[INMEM__SYS_KEY_LEN];
            inmem__sys_key(key, 'h', runs[i].run);
            const uint8_t *v;
            size_t vlen;
            uint64_t ver;
            rc = inmem__txn_get(t, key, sizeof key, (const void **)&v, &vlen, &ver);
            if (rc == INMEM_NOTFOUND) {
                rc = 0;
            } else if (rc == 0 && ver == runs[i].ver && vlen == 1 && (v[0] == 2 || v[0] == 3)) {
                /* the record judged above: the run's id may have been begun and deleted again
                 * since the lock was let go, and that newer record's deletion the floor has not
                 * passed */
                rc = inmem__txn_delete(t, key, sizeof key); /* (read: a rewrite conflicts) */
                gone++;
            }
        }
        if (rc == 0 && gone)
            rc = inmem__txn_commit(t);
        if (rc == 0 && removed)
            *removed = gone;
        inmem__txn_free(t);
        if (rc == 0 && whole) { /* (else the next sweep looks again) */
            inmem__mutex_lock(&st->commit_mu);
            if (f > st->pol_swept_floor)
                st->pol_swept_floor = f;
            inmem__mutex_unlock(&st->commit_mu);
        }
    }
    free(runs);
    return rc;
}

/* A run that kept less than the database, deleted: the database's policy keeps its keys from
 * the deletion (p->since) on — what the run id writes if it is begun again — and nothing from
 * before, which the run's own policy let go (CONTRACT 2.10: its values go with it). The GC keeps a
 * key's versions above its floor, the newest at or below it, and the *cnt newest: a count kept the
 * deletion's tombstone and the values before it for good, a window for the window. So the count
 * becomes a floor among the versions since the deletion (the *cnt-th newest of them, if there are
 * that many), whichever of it and the window's floor @p wf (UINT64_MAX: none) keeps more, and
 * never below the deletion: the tombstone is then kept alone and unlinked like any other. */
static uint64_t inherited_floor(const inmem__node *n, const inmem__hpolicy *p, uint64_t wf,
                                uint32_t *cnt)
{
    uint64_t f = p->ms ? wf : UINT64_MAX;
    if (p->count >= 2) {
        uint64_t cf = p->since;
        uint32_t k = 0;
        for (const inmem__version *v = atomic_load_rlx(&((inmem__node *)n)->head);
             v && v->ver > p->since; v = atomic_load_rlx(&((inmem__version *)v)->next))
            if (++k == p->count) {
                cf = v->ver;
                break;
            }
        if (cf < f)
            f = cf;
    }
    *cnt = 0;
    return f > p->since ? f : p->since;
}

static int keep(void *ctx, const inmem__node *n, uint64_t min_snap, uint64_t *floor,
                uint32_t *count)
{
    inmem__store *st = ctx;
    const uint8_t *key = inmem__node_key(n);
    inmem__run_policy *rp, *e = n->klen >= 16 && !is_shared(key) ? policy_find(st, key) : NULL;
    const inmem__hpolicy *p = scope_policy(st, key, &rp);
    int flags = 0;
    uint64_t f = min_snap;
    uint32_t cnt = 0;
    if (!(rp && rp->erased) && (p->ms || p->count >= 2)) {
        flags = INMEM__KEEP_HISTORY;
        cnt = p->count;
        if (p->ms && !rp) {
            f = st->gc_dbfloor;
        } else if (p->ms) {
            if (rp->floor_pass != st->gc_pass) {
                rp->floor = window_floor(st, p->ms, st->gc_now_ms);
                rp->floor_pass = st->gc_pass;
            }
            f = rp->floor;
        }
        if (rp && rp->inherit)
            f = inherited_floor(n, p, f, &cnt);
    }
    if (e && e->fork_floor < f) { /* a live fork reads this run at fork_floor */
        f = e->fork_floor;
        flags |= INMEM__KEEP_HISTORY;
    }
    if (e && e->is_fork) /* a fork: its tombstones hide its parent's keys */
        flags |= INMEM__KEEP_TOMB;
    *floor = f < min_snap ? f : min_snap;
    *count = cnt;
    return flags;
}

/* A deleted fork stops counting as one: its keys lose INMEM__KEEP_TOMB, but the GC visited
 * its tombstones (those hiding its parent's keys, and its deletion's own) while they still had
 * it, and nothing queues them again; so they are queued here, the run's keys being one range of
 * the index. Without this they stayed for good, in memory and in inmem_stats.keys. */
static void requeue_run(inmem__store *st, const uint8_t run[16])
{
    inmem__ahead ahead = {0};
    for (inmem__node *n = inmem__index_seek(st->index, run, 16); n;
         n = inmem__index_next(n), inmem__ahead_step(&ahead, n)) {
        if (n->klen < 16 || memcmp(inmem__node_key(n), run, 16) != 0)
            break;
        const inmem__version *h = atomic_load_rlx(&n->head);
        if (h && h->tomb && inmem__index_queue_node(st->index, n, h->ver) != 0)
            break; /* out of memory: those left stay until the key is written again */
    }
}

/* The longest window of the policies in force. A run's deletion or a shorter policy may end the
 * longest: found when the GC next runs (at most once a MAX_RECOUNT_MS, a scan of every run's
 * policy), until which the GC waits for the older window (keeps more, never less). Otherwise the
 * commit times of a deleted run's hour-long window, and the keys the history queue named, stayed
 * for that hour. */
#define MAX_RECOUNT_MS 1000

static void max_window_recount(inmem__store *st, uint64_t now) INMEM_REQUIRES(st->commit_mu)
{
    uint64_t m = st->hist.ms;
    for (size_t i = 0; i < st->pol_cap; i++) {
        const inmem__run_policy *p = st->pol[i];
        if (p && !p->gone && !p->erased && !p->inherit && p->p.ms > m)
            m = p->p.ms;
    }
    st->hist_max_ms = m;
    st->hist_max_stale = 0;
    st->hist_max_counted_ms = now;
}

const inmem__gc_policy *inmem__history_gc_policy(inmem__store *st, uint64_t min_snap)
{
    if (min_snap > st->gc_snap_max)
        st->gc_snap_max = min_snap;
    if (!atomic_load_rlx(&st->hist_on) && !st->fork_hints)
        return NULL;
    st->gc_pass++;
    if (st->forks_ending) { /* deleted forks no snapshot can read through any more */
        int changed = 0;
        for (inmem__run_policy **pp = &st->ending; *pp;) {
            inmem__run_policy *p = *pp;
            st->floor_steps++;
            if (p->fork_end && p->fork_end >= min_snap) {
                pp = &p->end_next;
                continue;
            }
            inmem__run_policy *parent = NULL;
            if (p->fork_end) {
                parent = st->floors_slow ? NULL : p->attr;
                fork_detach(st, p);
                p->is_fork = 0;
                p->fork_end = 0;
                st->forks_ending--;
                changed = 1;
                requeue_run(st, p->run);
            }
            *pp = p->end_next; /* ended now, or forked again since its deletion */
            p->end_next = NULL;
            p->in_ending = 0;
            /* entries that were there for the fork alone (no record of a policy: `gone`) go,
             * unless other forks still refer to them: they stayed, one or two per fork made */
            if (parent && parent->gone)
                (void)policy_drop(st, parent);
            if (parent && p->gone)
                (void)policy_drop(st, p);
        }
        if (changed && st->floors_slow)
            fork_floors_all(st);
        check_floors(st);
    }
    uint64_t now = st->gc_now_ms = floor_clock(st);
    if (st->hist_max_stale && now - st->hist_max_counted_ms >= MAX_RECOUNT_MS)
        max_window_recount(st, now);
    st->gc_dbfloor = st->hist.ms ? window_floor(st, st->hist.ms, now) : min_snap;
    uint64_t lowest = st->hist_max_ms ? window_floor(st, st->hist_max_ms, now) : min_snap;
    if (lowest > st->fork_min)
        lowest = st->fork_min;
    if (lowest > min_snap)
        lowest = min_snap;
    st->gcp = (inmem__gc_policy){keep, st, lowest};
    if (st->hist_max_ms)
        trim_times(st, lowest);
    else if (st->ntimes > TIMES_MAX) /* counts only: the times are for lookups, bounded */
        trim_times(st, st->times[st->ntimes - TIMES_MAX / 2].version);
    return &st->gcp;
}

void inmem__history_db_policy(inmem__store *st, uint64_t *ms, uint32_t *count, uint64_t *since)
{
    inmem__mutex_lock(&st->commit_mu);
    *ms = st->hist.ms;
    *count = st->hist.count;
    *since = st->hist.since;
    inmem__mutex_unlock(&st->commit_mu);
}

void inmem__history_clock_at_least(inmem__store *st, uint64_t ms)
{
    inmem__mutex_lock(&st->commit_mu);
    if (ms > st->floor_now_ms)
        st->floor_now_ms = ms;
    inmem__mutex_unlock(&st->commit_mu);
}

int inmem__history_db_stored(inmem__store *st)
{
    inmem__mutex_lock(&st->commit_mu);
    int stored = st->hist_stored;
    inmem__mutex_unlock(&st->commit_mu);
    return stored;
}

int inmem__history_store_db_policy(inmem__store *st, uint64_t ms, uint32_t count)
{
    static const uint8_t zero[16];
    if (count < 2)
        count = 0;
    inmem__mutex_lock(&st->commit_mu);
    int same = st->hist_stored && st->hist.ms == ms && st->hist.count == count;
    inmem__mutex_unlock(&st->commit_mu);
    if (same)
        return 0;
    uint8_t key[INMEM__SYS_KEY_LEN], val[13];
    inmem__sys_key(key, 'h', zero);
    size_t n = inmem__history_policy_value(ms, count, val);
    inmem_txn *t;
    int rc = inmem__txn_begin(st, &t);
    if (rc)
        return rc;
    if ((rc = inmem__txn_put(t, key, sizeof key, val, n, 0)) == 0)
        rc = inmem_txn_commit(t);
    inmem_txn_free(t);
    return rc;
}

void inmem__history_config(inmem__store *st, uint64_t ms, uint32_t count, uint64_t since)
{
    if (count < 2)
        count = 0; /* one version is what every key keeps anyway */
    st->hist_max_stale |= ms < st->hist.ms;
    st->hist = (inmem__hpolicy){ms, count, since};
    if (ms > st->hist_max_ms)
        st->hist_max_ms = ms;
    if (ms || count >= 2) {
        atomic_store_rlx(&st->hist_on, 1);
        atomic_store_rlx(&st->times_on, 1);
    }
}

void inmem__history_fini(inmem__store *st)
{
    free(st->times);
    for (size_t i = 0; i < st->pol_cap; i++)
        if (st->pol[i]) {
            free(st->pol[i]->kids);
            free(st->pol[i]);
        }
    free(st->pol);
    free(st->floor_heap);
    st->floor_heap = NULL;
    st->times = NULL;
    st->pol = NULL;
}

/* ---- reading the past ---------------------------------------------------------------------- */

int inmem__history_gone(inmem_txn *t, const uint8_t *key, size_t klen, uint64_t ver)
{
    (void)t;
    if (klen < 16 || is_shared(key))
        return inmem__error(INMEM_EHISTORY,
                            "version %llu of a key is no longer retained (see the history options)",
                            (unsigned long long)ver);
    inmem_run_id run;
    char id[INMEM_RUN_ID_STRLEN + 1];
    memcpy(run.bytes, key, 16);
    inmem_run_id_format(&run, id);
    return inmem__error(INMEM_EHISTORY,
                        "version %llu of a key of run %s is no longer retained (see the history "
                        "options)",
                        (unsigned long long)ver, id);
}

int inmem__history_expiry_unknown(inmem_txn *t)
{
    return inmem__error(INMEM_EHISTORY,
                        "whether a value had expired at version %llu is not known: that "
                        "version's commit time is not (between %llu and %llu ms)",
                        (unsigned long long)t->snap, (unsigned long long)t->now_ms,
                        (unsigned long long)t->now_hi_ms);
}

/* inmem__history_absent(), under commit_mu (also inmem__txn_key_versions(), which holds it). */
static int absent_locked(inmem__store *st, inmem_txn *t, const uint8_t *key, size_t klen)
    INMEM_REQUIRES(st->commit_mu)
{
    if (klen < 16)
        return 0;
    if (t->pf_ok && memcmp(t->pf_scope, key, 16) == 0)
        return 0;
    inmem__run_policy *rp;
    scope_policy(st, key, &rp);
    uint64_t f = scope_floor(st, key, floor_clock(st));
    if (t->snap < f) {
        if (rp && rp->erased)
            return inmem__error(INMEM_EHISTORY,
                                "the run was deleted at version %llu and its history with it",
                                (unsigned long long)f);
        return inmem__error(INMEM_EHISTORY,
                            "version %llu is older than this %s's retained history (it starts "
                            "at %llu)",
                            (unsigned long long)t->snap, is_shared(key) ? "database" : "run",
                            (unsigned long long)f);
    }
    memcpy(t->pf_scope, key, 16);
    t->pf_ok = 1;
    return 0;
}

int inmem__history_absent(inmem_txn *t, const uint8_t *key, size_t klen)
{
    if (klen < 16)
        return 0;
    if (t->pf_ok && memcmp(t->pf_scope, key, 16) == 0)
        return 0;
    inmem__store *st = t->st;
    inmem__mutex_lock(&st->commit_mu);
    int rc = absent_locked(st, t, key, klen); /* (a sweep may free the entry once unlocked) */
    inmem__mutex_unlock(&st->commit_mu);
    return rc;
}

int inmem__history_scan_check(inmem_txn *t, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                              size_t hilen)
{
    /* one scope: [lo, hi) within one 16-byte prefix */
    if (lolen >= 16 && hi && hilen >= 16 && memcmp(lo, hi, 16) == 0)
        return inmem__history_absent(t, lo, lolen);
    inmem__store *st = t->st;
    inmem__mutex_lock(&st->commit_mu);
    uint64_t f = highest_floor(st, floor_clock(st));
    inmem__mutex_unlock(&st->commit_mu);
    if (t->snap < f)
        return inmem__error(INMEM_EHISTORY,
                            "a scan across runs at version %llu: some run's retained history "
                            "starts only at %llu",
                            (unsigned long long)t->snap, (unsigned long long)f);
    return 0;
}

int inmem__txn_begin_past(inmem__store *st, uint64_t version, uint64_t time_ms, int by_time,
                          inmem_txn **out)
{
    *out = NULL;
    inmem_txn *t;
    int rc = inmem__txn_begin_ro(st, &t);
    if (rc)
        return rc;
    inmem__mutex_lock(&st->commit_mu);
    uint64_t now = floor_clock(st);
    if (by_time) {
        if (!atomic_load_rlx(&st->times_on) || !st->ntimes || time_ms < st->times[0].time_ms)
            rc = inmem__error(INMEM_EHISTORY,
                              "no commit at or before %llu ms is retained (the oldest commit "
                              "time known is %llu)",
                              (unsigned long long)time_ms,
                              (unsigned long long)(st->ntimes ? st->times[0].time_ms : 0));
        else
            version = visible_at_time(st, time_ms);
    }
    uint64_t floor = lowest_floor(st, now);
    /* the newest visible commit: a strict one is installed before its fsync, and stays
     * invisible for good if the fsync fails */
    uint64_t newest = atomic_load(&st->visible);
    if (rc == 0 && version > newest)
        rc = inmem__error(INMEM_EINVAL, "version %llu is not committed yet (the newest is %llu)",
                          (unsigned long long)version, (unsigned long long)newest);
    else if (rc == 0 && version < floor)
        rc = inmem__error(INMEM_EHISTORY,
                          "version %llu is older than the retained history (it starts at %llu)",
                          (unsigned long long)version, (unsigned long long)floor);
    if (rc == 0) {
        /* pinned under the lock: no GC runs before the slot holds the version */
        atomic_store_rlx(&st->slots[t->slot].start, version);
        atomic_store(&st->slots[t->slot].snap, version);
        t->snap = t->pinned = version;
        t->past = 1;
        t->pf_ok = 0;
        /* a value's expiry is judged at the time asked for, or at the version's commit; when
         * that time is not known (older than the times kept, or after a reopen a version the
         * image holds no write of), between the times it lies between */
        uint64_t lo, hi;
        if (by_time) {
            t->now_ms = time_ms;
        } else if (!st->ntimes) { /* no times kept (no retention): judged now */
            t->now_ms = now;
        } else if (time_of_version(st, version, &lo, &hi)) {
            t->now_ms = lo;
        } else {
            t->now_ms = lo ? lo : 1; /* (0 would read the clock) */
            t->now_hi_ms = hi ? hi : now;
        }
    }
    inmem__mutex_unlock(&st->commit_mu);
    if (rc) {
        inmem__txn_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int inmem__history_lookup(inmem__store *st, uint64_t version, uint64_t time_ms, int by_time,
                          uint64_t *out)
{
    int rc = 0;
    inmem__mutex_lock(&st->commit_mu);
    uint64_t newest = atomic_load(&st->visible);          /* (see inmem__txn_begin_past()) */
    if (!by_time && (version == 0 || version > newest)) { /* whatever is kept */
        rc = inmem__error(INMEM_EINVAL, "version %llu is not committed (the newest is %llu)",
                          (unsigned long long)version, (unsigned long long)newest);
    } else if (!atomic_load_rlx(&st->times_on) || !st->ntimes) {
        rc = inmem__error(INMEM_EHISTORY, "commit times are kept only with history retention on");
    } else if (by_time) {
        if (time_ms < st->times[0].time_ms)
            rc =
                inmem__error(INMEM_EHISTORY,
                             "no commit at or before %llu ms is retained (the oldest commit "
                             "time known is %llu)",
                             (unsigned long long)time_ms, (unsigned long long)st->times[0].time_ms);
        else
            *out = visible_at_time(st, time_ms);
    } else if (version < st->times[0].version) {
        rc = inmem__error(INMEM_EHISTORY,
                          "the commit time of version %llu is no longer retained (times are "
                          "known from version %llu)",
                          (unsigned long long)version, (unsigned long long)st->times[0].version);
    } else {
        uint64_t lo, hi;
        if (time_of_version(st, version, &lo, &hi))
            *out = lo;
        else
            rc = inmem__error(INMEM_EHISTORY,
                              "the commit time of version %llu is not known: the checkpoint "
                              "image the database reopened from holds no write of it (it lies "
                              "between %llu and %llu ms)",
                              (unsigned long long)version, (unsigned long long)lo,
                              (unsigned long long)(hi ? hi : lo));
    }
    inmem__mutex_unlock(&st->commit_mu);
    return rc;
}

uint64_t inmem__history_floor(inmem__store *st)
{
    inmem__mutex_lock(&st->commit_mu);
    uint64_t f = lowest_floor(st, floor_clock(st));
    inmem__mutex_unlock(&st->commit_mu);
    return f;
}

/* ---- the versions of one key ---------------------------------------------------------------- */

void inmem__pin_down(inmem_txn *t, uint64_t v)
{
    if (v < t->pinned) {
        atomic_store(&t->st->slots[t->slot].snap, v);
        t->pinned = v;
    }
}

int inmem__txn_key_versions(inmem_txn *t, const uint8_t *key, size_t klen, uint64_t before,
                            inmem__hver *out, size_t limit, size_t *n)
{
    CHECK_ACTIVE(t);
    *n = 0;
    if (klen > t->st->max_key)
        return INMEM_ETOOBIG;
    inmem__store *st = t->st;
    uint8_t buf[256], *k = klen <= sizeof buf ? buf : inmem__arena_alloc(&t->arena, klen);
    if (!k) /* the key is rewritten for each fork above it: a copy */
        return INMEM_ENOMEM;
    memcpy(k, key, klen);
    uint64_t snap = t->snap, lowest = UINT64_MAX;
    int rc = 0, cut = 0;
    /* under the commit lock: no GC prunes the chain while it is walked below the snapshot */
    inmem__mutex_lock(&st->commit_mu);
    for (int depth = 0; depth <= 32; depth++) { /* the key, then up its scope's forks */
        inmem__node *node = inmem__index_find(st->index, k, klen, inmem__hash(k, klen));
        const inmem__version *v = node ? atomic_load_acq(&node->head) : NULL;
        cut = 0; /* the chain ends with a version whose older ones were freed */
        while (v && (v->ver > snap || (before && v->ver >= before))) {
            const inmem__version *older = atomic_load_acq(&((inmem__version *)v)->next);
            cut = !older && atomic_load_acq(&((inmem__version *)v)->cut);
            v = older; /* (skipped: newer than the snapshot, or listed on an earlier page) */
        }
        for (; v && *n < limit; v = atomic_load_acq(&((inmem__version *)v)->next)) {
            const inmem__version *older = atomic_load_acq(&((inmem__version *)v)->next);
            cut = !older && atomic_load_acq(&((inmem__version *)v)->cut);
            out[(*n)++] =
                (inmem__hver){v->ver, v->time_ms, v->expiry_ms, v->tomb, cut, v->data, v->vlen};
            if (v->ver < lowest)
                lowest = v->ver;
        }
        uint8_t parent[16];
        uint64_t at;
        if (v || cut || *n == limit || klen < 16 || !inmem__fork_of(st, k, snap, parent, &at))
            break;
        /* what a fork deleted since the snapshot inherited is refused as a read of it is
         * (inmem__fork_inherited()) */
        if (t->past && inmem__fork_ended_since(st, k, t->snap) &&
            (rc = absent_locked(st, t, k, klen)) != 0)
            break;
        /* a fork: before its own first version, the key's history is its parent's up to `at`
         * (not after a cut one, listed or skipped: the freed ones stood between) */
        memcpy(k, parent, 16);
        if (at < snap)
            snap = at;
    }
    if (lowest != UINT64_MAX)
        inmem__pin_down(t, lowest);
    inmem__mutex_unlock(&st->commit_mu);
    if (rc) {
        *n = 0;
        return rc;
    }
    /* no version at a past snapshot: "none" only where a read would say so (its versions there
     * freed, the chain cut above the snapshot: refused; an erased run's keys, a key unlinked
     * below the floor: refused too), never an empty history */
    if (*n == 0 && !before && t->past)
        return cut ? inmem__history_gone(t, k, klen, t->snap) : inmem__history_absent(t, key, klen);
    return 0;
}
