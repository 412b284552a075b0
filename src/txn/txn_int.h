/*
 * txn_int.h — what the files of the transaction layer share (store.c, txn.c, iter.c, ttl.c,
 * history.c):
 * the store, the transaction handle, the set entries and the calls between them. Nothing
 * outside src/txn/ includes it: the engine and the primitives see only txn.h.
 */
#ifndef INMEM_TXN_TXN_INT_H
#define INMEM_TXN_TXN_INT_H

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/clock.h"
#include "core/key.h"
#include "storage/index.h"
#include "txn/txn.h"

/* ---- the store ------------------------------------------------------------------------------ */

/* Retained history (history.c). A commit time: versions from `version` up to the next entry's
 * committed at `time_ms` (one entry per millisecond that saw a commit) when `last` is UINT64_MAX
 * (noted at each commit, or as the log replays); an entry taken from a checkpoint image knows
 * only the versions the image holds, from `version` to `last`: the versions after `last` up to
 * the next entry's were committed at a time not known (between the two entries'). */
typedef struct inmem__timepoint {
    uint64_t version, time_ms, last;
} inmem__timepoint;

/* A retention policy: keep versions replaced less than `ms` ago, and at least `count` versions of
 * every key; in force for versions from `since` on (what was freed before stays freed). */
typedef struct inmem__hpolicy {
    uint64_t ms;
    uint32_t count;
    uint64_t since;
} inmem__hpolicy;

/* A run's own policy, or its erasure (the run was deleted at version `since`: its history went
 * with it), cached from its INMEM__TAG_SYS record. An open-addressing table keyed by run id. */
typedef struct inmem__run_policy {
    uint8_t run[16];
    inmem__hpolicy p;
    inmem__hpolicy eff;   /* inherit: the database's policy with this record's since */
    uint8_t erased, gone; /* gone: the record was deleted (the database's policy applies) */
    uint8_t inherit;      /* the database's policy, from p.since on */
    uint8_t is_fork;      /* the run is a fork (its 'f' record): of fork_parent at fork_at */
    uint8_t fork_parent[16];
    uint64_t fork_at;
    uint64_t fork_end;   /* the fork was deleted at this version: it counts until no snapshot can
                          * still read through it (0: live) */
    uint64_t fork_floor; /* the oldest version a live fork of this run reads it at (UINT64_MAX:
                          * none): the GC keeps every version of its keys from there on */
    uint64_t hint_at;    /* while the log replays: the oldest version a fork record further on
                          * in the log reads this run at (UINT64_MAX: none); counts as a fork */
    uint64_t floor_pass; /* the GC pass `floor` was computed in */
    uint64_t floor;
    /* Keeping fork_floor and fork_min (history.c, "fork floors"): the live forks of this run,
     * a min-heap by fork_at; as a live fork, the run whose heap holds it (its parent's entry)
     * and its place there; its place in the store's heap of runs by fork_floor (0: not in it,
     * else index + 1); the next in the store's list of deleted forks (fork_end set). */
    struct inmem__run_policy **kids;
    uint32_t nkids, kids_cap;
    uint32_t kid_pos, floor_pos;
    struct inmem__run_policy *attr;
    struct inmem__run_policy *end_next;
    uint8_t in_ending;
} inmem__run_policy;

/* Slots kept for the engine's own handles (a checkpoint, backups, the TTL sweeper), at the
 * bottom of the table: they never count against inmem_options.max_txns, so that a checkpoint
 * cannot make an application's begin fail nor the other way round. More engine handles at once
 * than this take application slots. */
#define INMEM__ENGINE_SLOTS 4

/* Per-slot state, one cache line, owned by the transaction handle holding the slot. */
typedef struct inmem__slot {
    _Atomic uint64_t snap;   /* pinned snapshot, or SNAP_NONE */
    _Atomic uint32_t in_use; /* while a handle holds the slot: 1, or 2 if it is the engine's
                              * own (a checkpoint's, a backup's, the TTL sweeper's: not the
                              * user's to free, nor its aborts the user's) */
    uint32_t unused;
    _Atomic uint64_t begin_us; /* coarse clock when the snapshot was taken */
    /* counters, written only by the holder (relaxed), summed by inmem__store_stats() */
    _Atomic uint64_t n_readonly;
    _Atomic uint64_t n_abort_user;
    _Atomic uint64_t n_retries;
    struct inmem_txn *spare; /* a freed handle kept for the next begin on this slot */
    /* the snapshot's version (the handle's snap, for inmem_stats.oldest_snapshot_version),
     * stored before snap: snap may be lower (a history read pins what it returned), start not */
    _Atomic uint64_t start;
} inmem__slot;

#define INMEM__SNAP_NONE UINT64_MAX

/* Store-wide counters kept by the committer (under commit_mu) or by anyone (atomics). commits
 * is the committer's without strict durability (applied under the lock is committed); in strict
 * mode a commit is one only once its fsync is done, and is counted then, without the lock (an
 * atomic add: strict or not is fixed for the store's life). aborts_error: commits an error ended
 * (inmem_stats.aborts_error). swept: the TTL sweeper's commits, kept like commits and out of
 * it (inmem_stats.expired_swept). */
typedef struct inmem__counters {
    _Atomic uint64_t commits, abort_read, abort_cas, retries, exhausted, deadlines, aborts_error;
    _Atomic uint64_t swept;
} inmem__counters;

/* A value with a time to live, awaiting the sweeper (a min-heap on at_ms). */
typedef struct inmem__expiry {
    uint64_t at_ms;   /* expiry, wall-clock ms */
    uint64_t version; /* the version that carries it */
    uint8_t *key;     /* encoded key, owned */
    uint32_t klen;
} inmem__expiry;

struct inmem__store {
    size_t max_key; /* encoded key limit (user limit + prefix); first: see inmem__store_max_key() */
    size_t max_value;
    inmem__index *index;
    inmem__wal *wal; /* borrowed from the engine; NULL in durability NONE */
    int strict;      /* commits become visible once durable */
    /* Versions. visible <= assigned; both only grow. */
    _Alignas(INMEM_CACHELINE) _Atomic uint64_t visible; /* newest commit readers may see */
    _Alignas(INMEM_CACHELINE) inmem__mutex commit_mu;   /* serialises committers (writer lock) */
    uint64_t assigned INMEM_GUARDED_BY(commit_mu);      /* newest version handed out */
    uint64_t min_cached INMEM_GUARDED_BY(commit_mu);    /* lower bound of active snapshots */
    unsigned since_gc INMEM_GUARDED_BY(commit_mu);
    size_t gc_inflow INMEM_GUARDED_BY(commit_mu); /* writes committed since the last collection */
    /* versions (and their value bytes) a snapshot's end freed without the commit lock, not yet
     * subtracted from the index's gauges (the next collection does) */
    _Atomic uint64_t gc_freed_versions, gc_freed_bytes;
    _Atomic int gc_pending;    /* the last GC left work that an ending snapshot may unblock */
    _Atomic uint64_t gc_floor; /* the min_snap the last GC ran with */
    _Atomic int gc_busy;       /* a GC is between its scan of the slots and its gc_floor */
    _Atomic int gc_missed;     /* an ending snapshot wanted a GC but found the lock taken */
    inmem__counters ctr;
    inmem__expiry *ttl_heap INMEM_GUARDED_BY(commit_mu); /* values with a TTL, soonest first */
    size_t ttl_n INMEM_GUARDED_BY(commit_mu), ttl_cap INMEM_GUARDED_BY(commit_mu);
    /* entries made stale since the last pass (their key written or deleted again before they
     * came due), and where the pass that removes them is (ttl.c, "Stale entries") */
    size_t ttl_stale INMEM_GUARDED_BY(commit_mu), ttl_scan INMEM_GUARDED_BY(commit_mu);
    int ttl_compacting INMEM_GUARDED_BY(commit_mu);
    /* Reader slots. */
    _Alignas(INMEM_CACHELINE) _Atomic uint32_t slot_hwm; /* slots [0, hwm) were ever used */
    uint32_t nslots; /* INMEM__ENGINE_SLOTS for the engine's own handles, then max_txns */
    inmem__slot *slots;
    /* retained history (history.c), under commit_mu */
    _Atomic int hist_on;  /* some policy keeps history, or a fork exists: the GC asks history.c */
    _Atomic int times_on; /* some retention policy is on: commit times are noted */
    inmem__hpolicy hist;  /* the database's policy */
    int hist_stored;      /* hist came from its record in the database (a shared-scope 'h') */
    uint64_t hist_max_ms; /* the longest window of any policy in force (or, stale, of one that
                           * was: then hist_max_stale is set, and the GC counts again) */
    int hist_max_stale;
    uint64_t hist_max_counted_ms; /* when it last counted */
    inmem__timepoint *times;
    size_t ntimes, times_cap;
    inmem__run_policy **pol; /* open addressing, entries allocated one by one */
    size_t npol, pol_cap;
    size_t pol_past; /* entries that only refuse a deleted run's past (erased, inherit): what
                      * inmem__history_sweep() looks for */
    uint64_t pol_swept_floor; /* the database's floor at the last sweep that looked at them */
    uint64_t gc_snap_max;     /* the highest min_snap any GC ran with: the floor without history */
    /* the newest checkpoint image's version, installed or being written (0: none): a reopen may
     * start from it, with each key's newest value only where no retention keeps more */
    _Atomic uint64_t image_version;
    uint64_t gc_pass;      /* counts GC passes (cached window floors) */
    uint64_t gc_now_ms;    /* the wall clock of this GC pass */
    uint64_t floor_now_ms; /* the latest wall clock any floor was computed at (floor_clock()) */
    uint64_t gc_dbfloor;   /* the database's window floor in this GC pass */
    uint64_t fork_min;     /* the lowest fork_floor of any run (UINT64_MAX: no forks) */
    inmem__run_policy **floor_heap; /* the runs whose fork_floor is set, a min-heap by it */
    uint32_t nfloor_heap, floor_heap_cap;
    int floors_slow;           /* an allocation for the heaps failed: every change
                                * recomputes every run's floor, as it first did */
    inmem__run_policy *ending; /* the deleted forks still counted (fork_end set), and
                                * some re-forked since (fork_end 0), to drop */
    uint64_t floor_steps;      /* work keeping the floors (entries and heap levels
                                * visited): its cost, which tests measure */
    _Atomic int has_forks;     /* a fork record was ever installed: reads look for forks */
    size_t forks_ending;       /* forks deleted but still counted (fork_end) */
    size_t fork_hints;         /* runs with a hint_at, while the log replays */
    inmem__gc_policy gcp;
    /* waiters for changes (watch.c) */
    _Atomic uint64_t nwatch; /* waiters registered: a commit looks for its keys' waiters */
    pthread_mutex_t watch_mu;
    pthread_cond_t watch_gone;       /* a close waits here for the blocked waiters to leave */
    inmem__waiter **watch_buckets;   /* by key hash */
    int watch_closing, watch_inside; /* under watch_mu */
    inmem__waiter *watches;          /* every open watch (under watch_mu) */
    /* loading a checkpoint and replaying the log (store.c): a scratch version */
    int replaying; /* the log's replay at open has begun (inmem__store_replay_end) */
    void *load_buf;
    size_t load_cap;
    inmem__node *load_node; /* the key loaded last */
    int load_queued;        /* it is queued for the GC */
    int load_locked;        /* a load holds commit_mu from its first entry to its end */
    int load_times_was_on;  /* times_on when the load began (see inmem__store_load_end()) */
    /* the TTL sweeper thread (ttl.c) */
    pthread_t sweeper;
    int has_sweeper;
    uint64_t sweep_interval_ms;
    inmem__mutex sweep_mu;
    pthread_cond_t sweep_cv;
    int sweep_stop INMEM_GUARDED_BY(sweep_mu);
};

/* ---- the transaction ------------------------------------------------------------------------ */

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

/* One source of a scan: a scope's range in the index read at a version. src[0] is the scanned
 * range itself; with forks, src[1..] are its parent's, grandparent's... (iter.c). */
typedef struct inmem__scan_src {
    inmem__node *cur;        /* the next node to consider */
    inmem__ahead ahead;      /* its look-ahead (index.h) */
    const inmem__version *v; /* cur's version at snap, once `ready` */
    int ready;               /* cur is positioned on a node with a version (or is NULL) */
    uint64_t snap;           /* the version read at */
    uint8_t *hi;             /* upper bound (exclusive) in this scope, NULL for none */
    size_t hilen;
} inmem__scan_src;

#define INMEM__SCAN_SRC_MAX 33 /* the range itself and up to 32 forks above it */

/* A pending write an iterator merges: its entry in the write set, and its version when the
 * iterator was opened (a write replaced since is kept until the transaction ends: stage_write()) */
typedef struct inmem__iter_pw {
    uint32_t w;
    const inmem__version *v;
} inmem__iter_pw;

struct inmem_iter {
    inmem_txn *txn;
    inmem_iter *next, **pprev; /* the transaction's list of open iterators */
    inmem__scan_src *src;      /* nsrc sources; src[0] is the range's own scope */
    size_t nsrc;
    uint8_t scope[16];  /* with forks: the scanned scope's id */
    inmem__iter_pw *pw; /* the transaction's writes in range when it was opened, sorted by key */
    size_t npw, ipw;
    /* the snapshot side's next entry, peeked (have): its key, node (NULL: inherited) and version */
    int have;
    const uint8_t *key;
    size_t klen;
    inmem__node *node;
    const inmem__version *v;
    int err; /* an error that consumed an entry (out of memory): every later call returns it */
    int with_expired; /* values whose time to live passed are returned (a run's deletion) */
};

struct inmem_txn {
    inmem__store *st; /* first: see inmem__txn_store() */
    uint32_t slot;
    inmem_txn_state state;
    inmem_abort_reason reason;
    uint64_t snap;
    uint64_t pinned;  /* what the slot holds for the GC: snap, or lower (history, dumps) */
    uint64_t pin_low; /* the lowest value the slot held since the pin (a stale first try) */
    uint64_t commit_ver;
    uint64_t now_ms; /* wall clock for TTL checks, read once on first need */
    /* time travel to a version whose commit time is not known: it lies in (now_ms, now_hi_ms],
     * and a value expiring in between is neither live nor expired there (0: now_ms is exact) */
    uint64_t now_hi_ms;
    wentry *w;
    size_t nw, wcap;
    kset wix;
    /* pending versions a later write of the same key replaced, chained through `next`: reads
     * may have handed out their values, borrowed until the transaction ends */
    inmem__version *replaced;
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
    uint64_t staged;      /* successful write calls so far (inmem__txn_mark) */
    int readonly;         /* begun read-only: no read set, writes refused */
    int past;             /* a time-travel transaction (history.c): reads check what was freed */
    uint8_t pf_scope[16]; /* the scope whose floor was checked last (past only) */
    int pf_ok;            /* pf_scope's floor is at or below snap */
    int sticky;           /* an error that left the transaction half-changed: abort only */
    int collect;          /* its commit ends with a collection (inmem__txn_collect_at_commit) */
    uint64_t deadline_us; /* monotonic; 0 = none (inmem_txn_set_timeout) */
};

static inline inmem__slot *slot_of(const inmem_txn *t)
{
    return &t->st->slots[t->slot];
}

static inline void slot_bump(_Atomic uint64_t *ctr)
{
    /* only the slot's holder writes its counters */
    atomic_store_rlx(ctr, atomic_load_rlx(ctr) + 1);
}

static inline uint64_t txn_now(inmem_txn *t)
{
    if (!t->now_ms)
        t->now_ms = inmem__clock_wall_ms();
    return t->now_ms;
}

static inline int expired(const inmem__version *v, uint64_t now)
{
    return v->expiry_ms != 0 && v->expiry_ms <= now;
}

/* Whether time travel cannot tell if @p v had expired: its expiry lies between the bounds of a
 * commit time not known (inmem__history_expiry_unknown() says so). */
static inline int expiry_unknown(const inmem_txn *t, const inmem__version *v)
{
    return t->now_hi_ms && v->expiry_ms > t->now_ms && v->expiry_ms <= t->now_hi_ms;
}

/* Whether @p v has expired for the transaction; reads the clock only for values with a TTL. */
static inline int expired_for(inmem_txn *t, const inmem__version *v)
{
    return v->expiry_ms != 0 && v->expiry_ms <= txn_now(t);
}

/* Grows *arr (of *cap elements of @p size bytes) to hold at least @p need. */
static inline int grow(void **arr, size_t *cap, size_t need, size_t size)
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

/* Arguments first: a transaction must exist, be active and not be left half-done. */
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

/* ---- the engine's own records (INMEM__TAG_SYS, in the shared scope) -------------------------- */

#define INMEM__SYS_KEY_LEN  (INMEM__KEY_PREFIX + 17) /* · kind · run id */
#define INMEM__FORK_REC_LEN 25                       /* 'f': format 1 · parent id · at u64 */

static inline void inmem__sys_key(uint8_t out[INMEM__SYS_KEY_LEN], uint8_t kind,
                                  const uint8_t run[16])
{
    memset(out, 0, 16);
    out[16] = INMEM__TAG_SYS;
    out[INMEM__KEY_PREFIX] = kind;
    memcpy(out + INMEM__KEY_PREFIX + 1, run, 16);
}

static inline uint64_t inmem__rd_le(const uint8_t *p, int n)
{
    uint64_t x = 0;
    for (int i = 0; i < n; i++)
        x |= (uint64_t)p[i] << (8 * i);
    return x;
}

static inline void inmem__wr_le(uint8_t *p, uint64_t x, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(x >> (8 * i));
}

/* ---- calls between the files ---------------------------------------------------------------- */

/* history.c: lowers the handle's pin to @p v (under t->st->commit_mu: not annotated, since the
 * callers hold it through a local `st` the analysis cannot tie to t->st): the GC then keeps, of
 * every key, the version visible at @p v and everything newer, so what was handed out stays
 * valid until the handle ends. */
void inmem__pin_down(inmem_txn *t, uint64_t v);

/* store.c: reader slots and snapshots (see the protocol in store.c) */
int inmem__slot_acquire(inmem__store *st, uint32_t *out, uint32_t holder);
void inmem__snapshot_pin(inmem_txn *t);
void inmem__store_unlock(inmem__store *st) INMEM_RELEASE(st->commit_mu);
/* Collects now (a commit asked for it: inmem__txn_collect_at_commit()): frees what no open
 * snapshot needs. Takes the commit lock, so the caller must not hold it. */
void inmem__store_collect(inmem__store *st);
void inmem__snapshot_unpin(inmem_txn *t);
/* store.c: the lowest snapshot any open or future reader can have: the newest version, or the
 * oldest an open handle holds (a reader slot's) */
uint64_t inmem__store_min_active(inmem__store *st);
/* store.c: the key's node in the index now, or NULL (writer, under commit_mu) */
inmem__node *inmem__store_live_node(inmem__store *st, inmem__node *n, const keyref *k);
/* store.c: a key's current version for CAS: deleted or expired counts as 0 */
uint64_t inmem__store_cas_version(const inmem__node *n, uint64_t now);
/* store.c: INMEM_ETOOBIG or INMEM_EINVAL for a key or value the store does not take */
int inmem__store_check_sizes(const inmem__store *st, size_t klen, const void *val, size_t vlen);
/* Whose commit it is, for the counters: the user's (inmem_stats.commits, aborts_error) or the
 * TTL sweeper's (expired_swept; its failures are no user's), the engine's only transactions
 * that write (inmem__txn_begin_own()). */
typedef enum inmem__committer { INMEM__BY_USER, INMEM__BY_SWEEPER } inmem__committer;
/* store.c: 0 if a commit may be made now (caller holds commit_mu); INMEM_EREADONLY if the log
 * takes no appends (opened read-only, or an earlier failure) or if the version counter has
 * reached its limit (INMEM__VERSION_LIMIT - 1: the next commit's version would be out of range).
 * Checked before validation, so that a commit that cannot be made never reports a conflict. */
int inmem__store_writable(inmem__store *st) INMEM_REQUIRES(st->commit_mu);
/* store.c: applies @p nw validated writes as one commit (caller holds commit_mu): logs them,
 * then installs them. On success every w[i].v is installed (ownership passes to the index),
 * *ver is the commit's version and *ticket its place in the log (0 without a log). */
int inmem__store_apply(inmem__store *st, wentry *w, size_t nw, inmem__committer by, uint64_t *ver,
                       uint64_t *ticket) INMEM_REQUIRES(st->commit_mu);
/* store.c: after the commit lock: waits for durability as the mode says; strict publishes
 * and counts the commit then (or a user's failed one: inmem_stats.aborts_error). */
int inmem__store_finish(inmem__store *st, uint64_t c, uint64_t ticket, inmem__committer by);

/* txn.c */
void inmem__txn_destroy(inmem_txn *t);
/* Adds (key, version seen) to the read set unless the key is there already. */
int inmem__txn_record_read(inmem_txn *t, const uint8_t *key, size_t klen, uint64_t hash,
                           inmem__node *n, uint64_t ver);

/* history.c (the times and policies under commit_mu) */
void inmem__history_note(inmem__store *st, uint64_t version, uint64_t time_ms)
    INMEM_REQUIRES(st->commit_mu);
/* A commit installed @p v for @p key: if it is a policy record, the cache follows. */
/* 1 if a key whose only version is a delete is kept as history (a count of 2 or more applies to
 * it: the run's policy at @p snap, else the database's); lock-free, for a checkpoint's dump. */
int inmem__history_keeps_lone_deletes(inmem__store *st, const uint8_t *key, size_t klen,
                                      uint64_t snap);
void inmem__history_sys_write(inmem__store *st, const uint8_t *key, size_t klen,
                              const inmem__version *v) INMEM_REQUIRES(st->commit_mu);
/* Makes what inmem__history_sys_write() will need to cache engine record @p key (a put of
 * @p val, or a delete), before anything is logged or applied: a fork record's entries (the
 * fork's and its parent's, without which the GC would free what the fork reads) and a run
 * policy's. 0 or INMEM_ENOMEM (then the commit, the replay or the load fails, having done
 * nothing; entries made stay, as a prescan's hint makes them). */
int inmem__history_sys_prepare(inmem__store *st, const uint8_t *key, size_t klen, int tomb,
                               const void *val, size_t vlen) INMEM_REQUIRES(st->commit_mu);
/* Before the log replays, a put the log holds (inmem__store_replay_hint()): if it is a fork
 * record, its parent keeps every version from the fork's `at` on while the log replays, as for a
 * live fork, so that replay does not free what the fork will read before its record is reached.
 * 0 or INMEM_ENOMEM. */
int inmem__history_fork_hint(inmem__store *st, const uint8_t *key, size_t klen, const void *val,
                             size_t vlen);
/* The replay is over: the hints go (the forks replayed count for themselves). */
void inmem__history_fork_hints_drop(inmem__store *st) INMEM_REQUIRES(st->commit_mu);
/* The policy for this GC pass (NULL: no history is kept). */
const inmem__gc_policy *inmem__history_gc_policy(inmem__store *st, uint64_t min_snap)
    INMEM_REQUIRES(st->commit_mu);
/* A time-travel read found nothing for @p key: 0 if that answer is trustworthy at the
 * transaction's version, else INMEM_EHISTORY (what it would have found was freed). */
int inmem__history_absent(inmem_txn *t, const uint8_t *key, size_t klen);
/* A scan of [lo, hi) by a time-travel transaction: INMEM_EHISTORY if keys it should return may
 * have been freed. */
int inmem__history_scan_check(inmem_txn *t, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                              size_t hilen);
/* The error of a read of @p key at version @p ver whose version there was freed (ver: the
 * snapshot, or the version a fork reads its parent at). */
int inmem__history_gone(inmem_txn *t, const uint8_t *key, size_t klen, uint64_t ver);
/* The error of a time-travel read whose value's expiry cannot be judged (expiry_unknown()). */
int inmem__history_expiry_unknown(inmem_txn *t);
void inmem__history_fini(inmem__store *st);
/* The oldest `after` from which a replay of @p scope is whole: every write of the scope newer
 * than it is kept (under commit_mu). */
uint64_t inmem__history_replay_after(inmem__store *st, const uint8_t *scope);
/* The oldest version from which @p scope's retention keeps its history whole; UINT64_MAX if it
 * keeps none (what is left of older versions is there only because a snapshot holds it or the
 * collector has not come to it yet) (under commit_mu). */
uint64_t inmem__history_retained_from(inmem__store *st, const uint8_t *scope)
    INMEM_REQUIRES(st->commit_mu);
/* The oldest version at which an absence in @p scope is trustworthy (under commit_mu). */
uint64_t inmem__history_scope_floor(inmem__store *st, const uint8_t *scope)
    INMEM_REQUIRES(st->commit_mu);

/* fork.c */
/* The fork record of @p scope visible at @p snap (UINT64_MAX: the newest; lock-free): 1 with
 * its parent and version, 0 if the scope is not a fork. */
int inmem__fork_of(inmem__store *st, const uint8_t *scope, uint64_t snap, uint8_t parent[16],
                   uint64_t *at);
/* Whether the fork record of @p scope changed after @p snap (the fork was deleted, or made
 * again, since: a read at @p snap of what it inherited asks the scope's floor; lock-free). */
int inmem__fork_ended_since(inmem__store *st, const uint8_t *scope, uint64_t snap);
/* The version a fork inherits for @p key, which the fork itself has no version of at the
 * transaction's snapshot: NULL if none (or not a fork); *rc INMEM_EHISTORY (freed) or
 * INMEM_ENOMEM. */
const inmem__version *inmem__fork_inherited(inmem_txn *t, const uint8_t *key, size_t klen, int *rc);
/* For a CAS at commit (under commit_mu): *ver the version of a key a fork never wrote, as it
 * inherits it now (deleted or expired: 0). Returns 0 or INMEM_ENOMEM (a long key's copy). */
int inmem__fork_cas_version(inmem__store *st, const uint8_t *key, size_t klen, uint64_t now,
                            uint64_t *ver) INMEM_REQUIRES(st->commit_mu);
/* For a wait (under commit_mu): *ver the version of a key a fork has no version of at @p snap,
 * as it inherits it then (a delete's included; 0: none, or not a fork). Returns 0 or
 * INMEM_ENOMEM (a long key's copy). */
int inmem__fork_seen_version(inmem__store *st, const uint8_t *key, size_t klen, uint64_t snap,
                             uint64_t *ver) INMEM_REQUIRES(st->commit_mu);
/* 1 if @p key is an engine record (INMEM__TAG_SYS, in the shared scope): inline, it is asked of
 * every write. Loading: a loaded version's commit time (noted unsorted, then put in order by
 * _load_times). */
static inline int inmem__history_is_sys(const uint8_t *key, size_t klen)
{
    static const uint8_t zero[16];
    return klen == INMEM__KEY_PREFIX + 17 && key[16] == INMEM__TAG_SYS &&
           memcmp(key, zero, 16) == 0;
}
void inmem__history_load_time(inmem__store *st, uint64_t version, uint64_t time_ms)
    INMEM_REQUIRES(st->commit_mu);
void inmem__history_load_times(inmem__store *st) INMEM_REQUIRES(st->commit_mu);

/* watch.c */
int inmem__watch_init(inmem__store *st);
void inmem__watch_fini(inmem__store *st);
/* A commit's writes are visible: wakes the waiters of their keys (after the commit lock). The
 * check for waiters is inline: a commit with nobody waiting pays one load. */
void inmem__watch_notify_some(inmem__store *st, const wentry *w, size_t nw, uint64_t version);
static inline void inmem__watch_notify(inmem__store *st, const wentry *w, size_t nw,
                                       uint64_t version)
{
    if (INMEM_UNLIKELY(atomic_load(&st->nwatch) != 0)) /* seq_cst: see watch.c */
        inmem__watch_notify_some(st, w, nw, version);
}

/* ttl.c: the heap of values awaiting the sweeper (under commit_mu) */
int inmem__ttl_reserve(inmem__store *st, size_t more) INMEM_REQUIRES(st->commit_mu);
void inmem__ttl_push(inmem__store *st, inmem__expiry e) INMEM_REQUIRES(st->commit_mu);
/* Node @p n is about to get a newer version: if its newest one carries an expiry, that version's
 * heap entry is stale from then on (counted for inmem__ttl_compact_some()). */
static inline void inmem__ttl_replacing(inmem__store *st, const inmem__node *n)
    INMEM_REQUIRES(st->commit_mu)
{
    const inmem__version *old = atomic_load_rlx(&((inmem__node *)n)->head);
    if (old && old->expiry_ms && !old->tomb)
        st->ttl_stale++;
}
/* Looks at up to @p budget entries of the heap's pass, removing the stale ones, once stale
 * entries are three quarters of it (a commit's bounded share; ttl.c). */
void inmem__ttl_compact_some(inmem__store *st, unsigned budget) INMEM_REQUIRES(st->commit_mu);
/* Copies the keys of a commit's TTL writes and makes heap room, so that publishing them after
 * the commit cannot fail; unprepare undoes it. */
int inmem__ttl_prepare(inmem__store *st, wentry *w, size_t nw) INMEM_REQUIRES(st->commit_mu);
void inmem__ttl_unprepare(wentry *w, size_t nw);
/* Frees the heap (store teardown). */
void inmem__ttl_fini(inmem__store *st);

#endif
