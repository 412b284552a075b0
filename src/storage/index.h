/*
 * index.h — the ordered MVCC index: encoded keys (memcmp order) mapped to version chains.
 *
 * Readers (any number of threads) use inmem__index_find / _seek / _next and
 * inmem__version_at without any lock. Exactly one writer at a time — the caller serialises
 * writers (the txn layer's commit lock) — links nodes, installs versions and runs the garbage
 * collector. See index.c for the design essay on why a reader racing the writer is safe and when
 * memory may be freed.
 */
#ifndef INMEM_STORAGE_INDEX_H
#define INMEM_STORAGE_INDEX_H

#include "core/common.h"

/* One committed version of a key: a value or a tombstone. Immutable once published, except
 * `next`, which the garbage collector may cut (to NULL) below the oldest visible version. */
typedef struct inmem__version {
    _Atomic(struct inmem__version *) next; /* older version, or NULL */
    /* Writer-only chain bookkeeping (readers never look): in the newest version, `newer` is the
     * oldest version of the chain (itself when alone) and `len` the chain's length; in an older
     * one, `newer` is the next newer version. The GC frees a key's oldest versions from there
     * without walking down the versions it keeps. */
    struct inmem__version *newer;
    uint64_t ver;        /* commit version; set before publication */
    uint64_t expiry_ms;  /* wall-clock ms after which it is invisible; 0 none */
    uint64_t time_ms;    /* wall-clock ms of its commit; 0 if not known */
    uint32_t vlen;       /* value length (0 for a tombstone) */
    uint32_t len;        /* see `newer` */
    uint8_t tomb;        /* 1: a delete */
    uint8_t embedded;    /* 1: lives in its node's allocation (not freed alone) */
    _Atomic uint8_t cut; /* 1: older versions of the key existed and were freed (set by the GC
                          * on the oldest version it keeps, before it cuts `next`) */
    uint8_t cls;         /* its inmem__valloc() class, or VALLOC_NONE (malloc) */
    uint8_t data[];      /* value bytes */
} inmem__version;

/* A key. The key bytes follow next[height]. */
typedef struct inmem__node {
    _Atomic(inmem__version *) head; /* newest version; NULL only between the node's link and the
                                     * install of its first version (readers: no version) */
    uint64_t hash;                  /* inmem__hash of the key */
    uint32_t klen;
    uint8_t height;       /* skip-list levels, 1..INMEM__SKIP_MAX */
    _Atomic uint8_t dead; /* 1 once unlinked by the GC: look the key up again */
    uint8_t has_first;    /* its allocation holds an embedded first version (2: no longer in its
                           * chain of versions: see detach_first() in index.c) */
    uint8_t in_chunk : 1; /* allocated from a bulk-load chunk, not malloc */
    uint8_t hq_refs : 7;  /* writer: entries of the history queue naming it (127: many); while
                           * any is left, the GC does not unlink it (they would outlive it) */
    _Atomic(struct inmem__node *) next[]; /* skip-list successors, level 0 first */
} inmem__node;

#define INMEM__SKIP_MAX 20

static inline const uint8_t *inmem__node_key(const inmem__node *n)
{
    return (const uint8_t *)&n->next[n->height];
}

typedef struct inmem__index inmem__index;

/* Creates an empty index; free with inmem__index_destroy(). NULL if out of memory. */
inmem__index *inmem__index_create(void);
/* Frees the index, every node and version in it, and everything awaiting reclamation. No reader
 * may be using it. Accepts NULL. */
void inmem__index_destroy(inmem__index *ix);

/* ---- readers (lock-free) ---- */

/* The live node of a key, or NULL. */
inmem__node *inmem__index_find(inmem__index *ix, const uint8_t *key, size_t klen, uint64_t hash);
/* Reads of many keys at once (inmem_kv_get_many): stage 0 prefetches the home slot of @p hash;
 * stage 1, once that line has arrived, prefetches the node and newest version the slot names.
 * Issuing each stage for a group of keys before any find lets their cache misses overlap.
 * Only a hint: the finds that follow see whatever the table holds by then. */
void inmem__index_prefetch(inmem__index *ix, uint64_t hash, int stage);
/* The first node whose key is >= @p key (the first node if klen is 0), or NULL. */
inmem__node *inmem__index_seek(inmem__index *ix, const uint8_t *key, size_t klen);
/* The node after @p n in key order, or NULL. */
static inline inmem__node *inmem__index_next(const inmem__node *n)
{
    return atomic_load_acq(&((inmem__node *)n)->next[0]);
}
/* A walk in key order reads each node's newest version, which lies wherever the allocator had
 * room when the key was overwritten: a cache miss each, one at a time. A look-ahead runs a
 * second cursor up to INMEM__AHEAD nodes in front of the walk and starts each version's miss as
 * it passes; it gains a node a step, so a short walk visits few nodes it does not use. Zeroed
 * to start; step it with each node the walk moves to (NULL at the end). */
/* Starts the cache misses of the first @p lines (1 to 3) of @p n's newest version, unless it is
 * the first version, inside the node itself, or there is none yet (NULL between a new node's
 * link and its first version's install). A hint: reads nothing but the node. (A scan is
 * faster with two lines, the image writer, which copies every value, with three.) */
static inline void inmem__index_prefetch_newest(const inmem__node *n, int lines)
{
    const uint8_t *v = (const uint8_t *)atomic_load_acq(&((inmem__node *)n)->head);
    if (v && (uintptr_t)(v - (const uint8_t *)n) > 512)
        for (int i = 0; i < lines; i++)
            __builtin_prefetch(v + 64 * i);
}

typedef struct inmem__ahead {
    const inmem__node *node;
    unsigned lead;
} inmem__ahead;

#define INMEM__AHEAD 16

static inline void inmem__ahead_step(inmem__ahead *a, const inmem__node *cur)
{
    if (a->lead)
        a->lead--;
    else
        a->node = cur;
    for (int k = a->lead < INMEM__AHEAD ? 2 : 1; k > 0 && a->node; k--) {
        a->node = inmem__index_next(a->node);
        if (a->node) {
            inmem__index_prefetch_newest(a->node, 2);
            a->lead++;
        }
    }
}

/* The newest version of @p n with ver <= @p snap, or NULL if none. */
static inline inmem__version *inmem__version_at(const inmem__node *n, uint64_t snap)
{
    inmem__version *v = atomic_load_acq(&((inmem__node *)n)->head);
    while (v && v->ver > snap)
        v = atomic_load_acq(&v->next);
    return v;
}

/* inmem__version_at() for a reader whose snapshot may be older than what the GC keeps for every
 * key (a time-travel read): *v gets the version, or NULL; returns -1 if the answer is unknown
 * because the versions that would hold it were freed (the chain was cut above @p snap). */
static inline int inmem__version_at_checked(const inmem__node *n, uint64_t snap,
                                            inmem__version **out)
{
    inmem__version *v = atomic_load_acq(&((inmem__node *)n)->head), *last = NULL;
    while (v && v->ver > snap) {
        last = v;
        v = atomic_load_acq(&v->next);
    }
    *out = v;
    return !v && last && atomic_load_acq(&last->cut) ? -1 : 0;
}

/* ---- versions ---- */

/* A new unpublished version holding a copy of @p val (or a tombstone). NULL if out of memory.
 * Free with inmem__version_free() unless installed. */
inmem__version *inmem__version_new(const void *val, size_t vlen, uint64_t expiry_ms, int tomb);
void inmem__version_free(inmem__version *v);

/* ---- the writer (caller holds the writer lock) ---- */

/* A new node for @p key, not yet in the index. NULL if out of memory. Either link it with
 * inmem__index_link() or free it with inmem__index_node_free(). With @p first, a copy of that
 * version is placed right after the key in the node's own allocation (see
 * inmem__index_node_first): a reader then finds the key and its value in adjacent cache lines,
 * which it prefetches together. */
inmem__node *inmem__index_node_new(inmem__index *ix, const uint8_t *key, size_t klen, uint64_t hash,
                                   const inmem__version *first);
/* The version copied into @p n by inmem__index_node_new, or NULL. */
inmem__version *inmem__index_node_first(inmem__node *n);
void inmem__index_node_free(inmem__node *n);

/* Makes room for @p nwrites installs of which @p nnew link new nodes, so that the following
 * inmem__index_link / _install calls cannot fail. INMEM_ENOMEM if it cannot. @p last_version is
 * the newest version handed out so far (the retirement tag of a replaced hash array). */
int inmem__index_reserve(inmem__index *ix, size_t nwrites, size_t nnew, uint64_t last_version);
/* Links a node from inmem__index_node_new() whose key is not in the index. */
void inmem__index_link(inmem__index *ix, inmem__node *n);
/* Makes @p v (with v->ver set, greater than every version in the index) the newest version of
 * linked node @p n. */
void inmem__index_install(inmem__index *ix, inmem__node *n, inmem__version *v);

/* Loading retained history (a checkpoint at open): links @p v, older than every version of @p n,
 * at the end of its chain; and queues @p n for the GC (so that history beyond the policy goes). */
void inmem__index_append_older(inmem__index *ix, inmem__node *n, inmem__version *v);
int inmem__index_queue_node(inmem__index *ix, inmem__node *n, uint64_t ver);

/* Bulk loading (a checkpoint at open, before any reader exists): _start once, then _append links
 * node @p n, made by inmem__index_node_new(), at the end of the index with @p v (ver set; the
 * node's embedded first version, or a separate one) as its only version, without searching. Keys
 * must come in strictly increasing order, each greater than every key already in the index.
 * Needs the room of inmem__index_reserve(ix, 1, 1, ...) for each, like inmem__index_link().
 * _end (always, whether the load worked or not) finishes the hash table's inserts, which _append
 * defers a little to overlap their cache misses, and closes the chunk nodes come from between
 * _start and _end. Lookups are only right after _end. */
void inmem__index_append_start(inmem__index *ix);
void inmem__index_append(inmem__index *ix, inmem__node *n, inmem__version *v);
void inmem__index_append_end(inmem__index *ix);
/* Only the chunks of the above, for nodes made and linked one by one (the log's replay at open,
 * before any reader exists); inmem__index_append_end() ends it. */
void inmem__index_bulk_start(inmem__index *ix);
/* A bulk load about to append @p keys keys: with many, a second thread maps and faults in the
 * next chunks ahead of the appends until inmem__index_append_end() (a hint: nothing if it cannot
 * start). */
void inmem__index_bulk_expect(inmem__index *ix, uint64_t keys);
/* The bulk-load chunks mapped in the process now (SIZE_MAX in builds that use malloc instead). */
size_t inmem__index_chunks_mapped(void);
/* Tests: chunks a load's chunk maker made that the load did not take, in the process
 * (SIZE_MAX in builds without chunks). */
size_t inmem__index_maker_unused(void);

/* Retained history: what the GC must keep of a key beyond what readers need. For each key it
 * prunes, the GC asks @p keep: *floor (<= the min_snap it runs with): keep every version newer
 * than it and the newest one at or below it; *count: keep at least this many of the newest
 * versions. Returns INMEM__KEEP_* flags: without INMEM__KEEP_HISTORY, floor = min_snap and
 * count = 0. A key left with only a tombstone at or below its floor is unlinked, unless
 * INMEM__KEEP_TOMB, or its count is 2 or more (the tombstone is one of the newest versions the
 * count keeps, even when it is the only one: a delete of a key that never had a value). */
#define INMEM__KEEP_HISTORY 1 /* keep returns: floor and count apply */
#define INMEM__KEEP_TOMB    2 /* never unlink the key (its tombstone hides an older key) */
typedef struct inmem__gc_policy {
    int (*keep)(void *ctx, const inmem__node *n, uint64_t min_snap, uint64_t *floor,
                uint32_t *count);
    void *ctx;
    /* the oldest floor any key may get: history kept for a time window waits in a queue of its
     * own until this passes it */
    uint64_t min_floor;
} inmem__gc_policy;

/* Garbage collection. @p min_snap must be <= the snapshot of every reader that is or may
 * become active; @p last_version is the newest version handed out (the retirement tag);
 * @p policy (NULL: none) says what history to keep beyond that.
 * Frees versions no snapshot >= min_snap can see (and the policy does not keep), marking the
 * oldest kept version `cut`; unlinks keys whose only version is a tombstone below every floor;
 * and frees memory retired before every current reader began. Returns 1 if memory is left that a
 * later call, with a higher min_snap, could reclaim. */
int inmem__index_gc(inmem__index *ix, uint64_t min_snap, uint64_t last_version,
                    const inmem__gc_policy *policy);
/* The same in a slice: at most @p budget keys visited, versions and retired objects freed, the
 * rest left in order for the next call (which then returns 1 or 2), so that no caller pays for
 * a whole backlog (what a long snapshot kept alive) at once. With @p defer, the chains it cuts
 * off are not freed but left for inmem__index_chains_take(). Returns 2 if the budget ran out. */
int inmem__index_gc_some(inmem__index *ix, uint64_t min_snap, uint64_t last_version,
                         const inmem__gc_policy *policy, size_t budget, int defer);
/* Version chains a collection cut off and left to free (no reader can reach them). A thread
 * that drains a backlog takes them (writer), frees them without the writer lock
 * (inmem__index_chains_free: any thread), and then, as writer again, subtracts what it freed
 * from the gauges (inmem__index_chains_freed). *@p chains is NULL when there are none; free
 * the array with free(). */
void inmem__index_chains_take(inmem__index *ix, inmem__version ***chains, size_t *n);
void inmem__index_chains_free(inmem__version **chains, size_t n, uint64_t *versions,
                              uint64_t *bytes);
void inmem__index_chains_freed(inmem__index *ix, uint64_t versions, uint64_t bytes);
/* Bytes of the versions kept that are not their key's newest (the history and what readers
 * still see), and how many. */
uint64_t inmem__index_history_bytes(const inmem__index *ix);

/* Checks every key's version chain against its bookkeeping (the length and oldest version its
 * newest version records, the newer links, versions strictly older down the chain); for tests.
 * Returns 0, or -1 with the first key whose chain is wrong in *@p bad (if not NULL). Writer
 * only. */
int inmem__index_check_chains(inmem__index *ix, const inmem__node **bad);

/* Gauges (exact when read by the writer, approximate from elsewhere). */
uint64_t inmem__index_keys(const inmem__index *ix);
/* Key and value bytes of every key's newest version that is a value: the live data. */
uint64_t inmem__index_live_bytes(const inmem__index *ix);
uint64_t inmem__index_retained(const inmem__index *ix);
/* Tests: entries waiting in the history queue (keys whose history a window keeps). */
size_t inmem__index_history_queue(const inmem__index *ix);
/* Tests: the slots of the hash table lookups go to first (the new one while a growth runs). */
size_t inmem__index_table_slots(const inmem__index *ix);
/* Tests: what the hash slot of linked node @p n has its readers prefetch: *@p line, the first
 * cache line of the node's newest version (at its last install), and the count returned. */
unsigned inmem__index_hint_lines(inmem__index *ix, const inmem__node *n, const void **line);

#endif
