/*
 * index.c — the ordered MVCC index: a skip list (key order, for scans) and a hash table (point
 * lookups in O(1)) over the same nodes, each node holding its key's version chain.
 *
 * Structure
 *   node      key bytes, hash, skip-list tower next[height], head of the version chain.
 *   version   newest first through `next`; each carries its commit version, a value or a
 *             tombstone, and an optional expiry.
 *   hash      open addressing with linear probing over an array of 16-byte slots, at most 4/5
 *             in use (see htab_reserve()). The first word is a tagged node pointer: bits
 *             63..48 are the top 16 bits of the key's hash (to skip most mismatches without
 *             touching the node), bits 47..0 the pointer; 0 = empty, 1 = removed. The second
 *             word is a hint: bits 47..3 the node's newest version when the writer last
 *             installed one, bits 2..0 the cache lines that version spans (header and value,
 *             at most 7), bits 63..48 the hash's bits 47..32. A reader only prefetches the
 *             version's lines, in parallel with the node, so a point read waits for two misses
 *             (slot, then node and version together) instead of three in a row; the hint is
 *             never dereferenced, so a stale or torn one costs a wasted prefetch and nothing
 *             else. A key's home slot is (hash >> 32) & mask: the two words hold those 32
 *             bits, so growing the table moves entries without touching a single node (it
 *             used to take one cache miss per key, ~0.5 s at 4 M keys).
 *   skip list sentinel `head` node of full height; level-0 links every node in key order.
 *
 * Invariants
 *   I1 Exactly one writer at a time (the caller's writer lock); every field below marked
 *      "writer" is only touched by it.
 *   I2 A version is fully initialised (ver, value, next) before the release store that makes it
 *      a chain head; a node is fully initialised before the release store that links it.
 *   I3 Chains are ordered by strictly decreasing ver.
 *   I4 For every reader, snap >= min_snap passed to the latest inmem__index_gc() (the txn layer
 *      guarantees this through its reader slots).
 *   I5 Memory unlinked while the newest handed-out version was V is freed only once
 *      min_snap > V.
 *
 * Why a reader racing the writer is safe (the lock-free read path)
 *   A reader with snapshot s walks a chain from the head and stops at the first version with
 *   ver <= s; it only ever loads `next` of versions newer than s. The GC keeps, in every chain,
 *   the newest version with ver <= min_snap (the "floor") and everything newer, and cuts the
 *   floor's `next`. Since s >= min_snap (I4), a reader stops at the floor or earlier, so it never
 *   reaches a freed version. New heads are published with release stores after their contents
 *   (I2), so a reader that sees a head sees its value.
 *   Nodes and hash arrays are different: a reader may hold a pointer to a node or an array that
 *   the writer unlinks at that moment. Those are not freed but retired with tag V = the newest
 *   version handed out at unlink time, and freed once min_snap > V (I5). A reader holding such a
 *   pointer began before the unlink, so its snapshot is <= V and it keeps min_snap <= V for as
 *   long as it is active; a reader that began after the unlink and has snap > V cannot have found
 *   the memory (it loaded the version counter, published after the unlink, with acquire). Skip
 *   list unlinking keeps the unlinked node's own `next` pointers intact, so a reader standing on it
 *   walks on to live nodes.
 *
 * Reclamation queue
 *   Each install that leaves an older version behind, or installs a tombstone, queues
 *   (node, ver). Entries are in version order; inmem__index_gc() pops those with ver <= min_snap,
 *   prunes the node's chain to its floor and, if the node's only version is then a tombstone no
 *   snapshot can see past, unlinks the node. This bounds memory by what open snapshots can see.
 *
 * Retained history (the policy argument of inmem__index_gc())
 *   The policy may give a key a floor older than min_snap and a count of newest versions to keep;
 *   the chain is then pruned below that floor, never above min_snap, so the reader argument
 *   above holds unchanged. A reader of the past (snap below some floors) uses
 *   inmem__version_at_checked(): before the GC cuts a chain it sets `cut` on the version it keeps
 *   last, so a reader that walks off the end of a chain past a `cut` version knows the version it
 *   wanted was freed. Keys whose history is kept for a window wait in a second queue (hq), in the
 *   order they were pruned, until the oldest floor any key may get passes their newest version.
 *   history_bytes counts the value bytes of versions that are not their key's newest.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/hash.h"
#include "storage/index.h"
#include "storage/valloc.h"

#define EMPTY        ((uintptr_t)0)
#define REMOVED      ((uintptr_t)1)
#define PTR_BITS     48
#define PTR_MASK     ((((uintptr_t)1) << PTR_BITS) - 1)
#define TAG_OF(hash) ((uintptr_t)((hash) >> PTR_BITS) << PTR_BITS)
/* hash bits 47..32, kept in the top of the hint word */
#define HB_OF(hash) ((uintptr_t)(((hash) >> 32) & 0xffff) << PTR_BITS)
/* the home slot of a hash */
#define HOME(hash, mask) ((size_t)((hash) >> 32) & (mask))
/* the hint's low 3 bits: the cache lines its version spans, at most 7 */
#define HINT_LINES ((uintptr_t)7)
#define HT_MIN     64

typedef struct hslot {
    _Atomic uintptr_t e;    /* tagged node pointer, EMPTY or REMOVED */
    _Atomic uintptr_t hint; /* its head version at the last install, and its lines (prefetch) */
} hslot;

typedef struct htab {
    size_t mask;
    size_t mapped; /* bytes if the array is its own mapping, 0 if from calloc */
    hslot slot[];
} htab;

typedef struct pending {
    inmem__node *node;
    uint64_t ver;
} pending;

/* The reclamation queue is a list of blocks, so that growing it never copies it: a snapshot held
 * for a while over hot keys queues millions of entries, and a doubling array's growth copied
 * them all under the commit lock (a 96 MB array, fresh pages and a 48 MB copy: ~0.1 s). Blocks
 * double from QBLOCK_MIN entries up to QBLOCK_MAX; the first is small so that a small database
 * stays small. */
#define QBLOCK_MIN 256
#define QBLOCK_MAX 65536
typedef struct qblock {
    struct qblock *next;
    size_t cap;
    pending e[];
} qblock;

/* how many hash inserts a bulk load keeps in flight */
#define DEFER 16

typedef struct chunk chunk;
typedef struct chunk_maker chunk_maker;

typedef struct retired {
    void *ptr;
    uint64_t tag;
    int is_node;
} retired;

struct inmem__index {
    _Atomic(htab *) table; /* readers: acquire; writer replaces on growth */
    _Atomic(htab *) old;   /* the table being emptied into `table` by a growth, or NULL */
    size_t mig;            /* writer: the next slot of `old` to move */
    inmem__node *head;     /* skip-list sentinel */
    /* writer */
    size_t ht_used;    /* live entries */
    size_t ht_removed; /* REMOVED markers */
    uint64_t rng;
    _Atomic int height; /* levels in use; a hint for readers (relaxed) */
    qblock *qh, *qt;    /* the queue: entries qh->e[qh_i..] through qt->e[..qt_n) */
    size_t qh_i, qt_n;  /* (qh == qt: entries qh_i..qt_n of that block) */
    size_t q_count;     /* entries queued */
    qblock *qspare;     /* empty blocks reserved for pushes (queue_reserve) */
    size_t qspare_room;
    retired *ret;
    size_t ret_head, ret_len, ret_cap;
    /* gauges, written by the writer, read by anyone */
    _Atomic uint64_t keys;
    _Atomic uint64_t retained;
    _Atomic uint64_t live_bytes;    /* key + value bytes of every newest version that is a value */
    _Atomic uint64_t history_bytes; /* value bytes of every version that is not its key's newest */
    pending *hq;                    /* history kept for a time window: revisited in order */
    inmem__version **trash;         /* cut-off chains not freed yet (free_some(): bounded work) */
    int defer;                      /* this collection leaves cut-off chains in trash */
    size_t trash_len, trash_cap;
    size_t hq_head, hq_tail, hq_cap;
    uint8_t *unmap_p; /* what is left of a retired big table, unmapped a piece per collection */
    size_t unmap_len;
    /* bulk loading: the last node on each level (inmem__index_append), the chunk nodes are cut
     * from, and the nodes whose hash-table insert waits (their home slot is being prefetched) */
    inmem__node *tail[INMEM__SKIP_MAX];
    int bulk;
    chunk *chunk;
    chunk_maker *maker;   /* a big load's chunks, made ready by a thread of their own */
    uint64_t bulk_keys;   /* the keys the load expects (inmem__index_bulk_expect()) */
    uint64_t bulk_chunks; /* chunks nodes were cut from, and the nodes cut, this load */
    uint64_t bulk_nodes;
    inmem__node *deferred[DEFER]; /* a ring: ndeferred counts every node appended */
    size_t ndeferred;
};

/* ---- versions ---------------------------------------------------------------------------- */

inmem__version *inmem__version_new(const void *val, size_t vlen, uint64_t expiry_ms, int tomb)
{
    size_t size = sizeof(inmem__version) + vlen; /* (past data by its padding: sizeof copies) */
    unsigned cls = inmem__valloc_class(size);
    inmem__version *v = cls == VALLOC_NONE ? malloc(size) : inmem__valloc(cls);
    if (!v)
        return NULL;
    v->cls = (uint8_t)cls;
    atomic_init(&v->next, NULL);
    v->newer = v;
    v->len = 1;
    v->ver = 0;
    v->expiry_ms = expiry_ms;
    v->vlen = (uint32_t)vlen;
    v->tomb = (uint8_t)(tomb != 0);
    v->embedded = 0;
    v->time_ms = 0;
    atomic_init(&v->cut, 0);
    if (vlen)
        memcpy(v->data, val, vlen);
    return v;
}

void inmem__version_free(inmem__version *v)
{
    if (!v || v->embedded)
        return;
    if (v->cls == VALLOC_NONE)
        free(v);
    else
        inmem__vfree(v, v->cls);
}

/* Frees chain @p v whole, adding the versions and value bytes freed to *@p freed, *@p bytes. */
static void free_chain_counted(inmem__version *v, uint64_t *freed, uint64_t *bytes)
{
    while (v) {
        inmem__version *next = atomic_load_rlx(&v->next);
        *bytes += v->vlen;
        inmem__version_free(v);
        ++*freed;
        v = next;
    }
}

static void free_chain(inmem__version *v)
{
    uint64_t freed = 0, bytes = 0;
    free_chain_counted(v, &freed, &bytes);
}

/* ---- bulk-load chunks ---------------------------------------------------------------------- */

/*
 * A checkpoint's load makes a node for every key at once: a malloc each, and a page fault for
 * every 4 KiB of fresh heap (on these VMs a fault costs microseconds; together they were half of
 * a load). Between inmem__index_append_start() and _end, nodes come from 2 MiB chunks aligned to
 * 2 MiB, which the kernel may back with one huge page each (MADV_HUGEPAGE): one fault per chunk,
 * and a bump of a pointer per node. A chunk counts the nodes it holds (plus one while nodes are
 * still cut from it); freeing a node decrements it, and the chunk is unmapped when it reaches
 * zero. The price: a deleted key's node memory in a chunk is not reused until every node of the
 * chunk is gone (the next checkpoint and open compact it). Sanitizer builds use malloc, so that
 * AddressSanitizer sees every node.
 */
#define CHUNK_SIZE ((size_t)2 << 20)

struct chunk {
    _Atomic size_t live; /* nodes in it, +1 while it is the one nodes are cut from */
    size_t used;         /* bytes handed out, this header included */
};

#if defined(__SANITIZE_ADDRESS__)
#define INMEM__NO_CHUNKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define INMEM__NO_CHUNKS 1
#endif
#endif

static _Atomic size_t chunks_mapped; /* in the process, for the tests */

size_t inmem__index_chunks_mapped(void)
{
#ifdef INMEM__NO_CHUNKS
    return SIZE_MAX; /* no chunks in this build */
#else
    return atomic_load_explicit(&chunks_mapped, memory_order_relaxed);
#endif
}

static chunk *chunk_new(void)
{
    /* twice the size, then trimmed to the aligned half: mmap only promises page alignment */
    uint8_t *p =
        mmap(NULL, 2 * CHUNK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uint8_t *c = (uint8_t *)(((uintptr_t)p + CHUNK_SIZE - 1) & ~(uintptr_t)(CHUNK_SIZE - 1));
    if (c > p)
        munmap(p, (size_t)(c - p));
    if (c + CHUNK_SIZE < p + 2 * CHUNK_SIZE)
        munmap(c + CHUNK_SIZE, (size_t)(p + 2 * CHUNK_SIZE - (c + CHUNK_SIZE)));
#ifdef MADV_HUGEPAGE
    (void)madvise(c, CHUNK_SIZE, MADV_HUGEPAGE);
#endif
    atomic_fetch_add_explicit(&chunks_mapped, 1, memory_order_relaxed);
    chunk *k = (chunk *)c;
    atomic_init(&k->live, 1);
    k->used = (sizeof(chunk) + 15) & ~(size_t)15;
    return k;
}

static void chunk_release(chunk *k)
{
    if (atomic_fetch_sub_explicit(&k->live, 1, memory_order_relaxed) == 1) {
        munmap(k, CHUNK_SIZE);
        atomic_fetch_sub_explicit(&chunks_mapped, 1, memory_order_relaxed);
    }
}

/* Faults a fresh mapping in now, in one call where the kernel can (MADV_POPULATE_WRITE, Linux
 * 5.14), so that the writer's first probes do not each take a page fault. */
static void prefault(void *p, size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
    if (madvise(p, bytes, MADV_POPULATE_WRITE) == 0)
        return;
#endif
    for (size_t off = 0; off < bytes; off += 4096)
        ((volatile char *)p)[off] = 0;
}

/*
 * A load of many keys fills a chunk every ~10,000 nodes, and the kernel zeroes each one's pages at
 * its first touch: 2 MiB at a time, 30 % of a load's time, more when the host is slow to give
 * memory. A second thread maps the next chunks and faults them in ahead of the loader (an open
 * has the machine to itself), keeping MAKER_AHEAD of them ready; the loader takes a ready one or,
 * if the maker is behind, maps its own as before. It makes no more than the load will take, as
 * far as the loader can tell (the keys left at the nodes a chunk has held so far): a 2 MiB chunk
 * faulted in and never used was up to 4 of the ~10 a W7 image needs, and an open joined a maker
 * busy faulting one. The maker stops at _end; chunks it made that were not needed are unmapped.
 * A process allowed only one CPU gets no maker.
 */
#define MAKER_AHEAD    4
#define MAKER_MIN_KEYS 16384 /* fewer keys fill a chunk or two: not worth a thread */

struct chunk_maker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    chunk *ready[MAKER_AHEAD];
    int n;         /* ready[0..n) */
    int stop;      /* the loader's */
    uint64_t left; /* the loader's estimate of the chunks it will still take (UINT64_MAX: none) */
};

static _Atomic size_t maker_unused; /* chunks makers made that their load did not take: tests */

size_t inmem__index_maker_unused(void)
{
#ifdef INMEM__NO_CHUNKS
    return SIZE_MAX; /* no chunks in this build */
#else
    return atomic_load_explicit(&maker_unused, memory_order_relaxed);
#endif
}

#ifndef INMEM__NO_CHUNKS
static void *maker_main(void *arg)
{
    chunk_maker *m = arg;
    pthread_mutex_lock(&m->mu);
    for (;;) {
        while (!m->stop && (m->n == MAKER_AHEAD || (uint64_t)m->n >= m->left))
            pthread_cond_wait(&m->cv, &m->mu);
        if (m->stop)
            break;
        pthread_mutex_unlock(&m->mu);
        chunk *k = chunk_new();
        if (k)
            prefault((uint8_t *)k + sizeof(chunk), CHUNK_SIZE - sizeof(chunk));
        pthread_mutex_lock(&m->mu);
        if (!k)
            break; /* no memory: the loader maps its own (and fails as it would have) */
        m->ready[m->n++] = k;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

#endif

/* A ready chunk, or NULL; @p left: the chunks the load will take after this one (estimated). */
static chunk *maker_take(chunk_maker *m, uint64_t left)
{
    chunk *k = NULL;
    pthread_mutex_lock(&m->mu);
    m->left = left;
    if (m->n)
        k = m->ready[--m->n];
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return k;
}

static void maker_stop(inmem__index *ix)
{
    chunk_maker *m = ix->maker;
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    atomic_fetch_add_explicit(&maker_unused, (size_t)m->n, memory_order_relaxed);
    while (m->n)
        chunk_release(m->ready[--m->n]);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
    ix->maker = NULL;
}

void inmem__index_bulk_expect(inmem__index *ix, uint64_t keys)
{
#ifndef INMEM__NO_CHUNKS
    if (!ix->bulk || ix->maker || keys < MAKER_MIN_KEYS || inmem__cpus() < 2)
        return; /* (on one CPU the maker would only take turns with the loader) */
    chunk_maker *m = calloc(1, sizeof(*m));
    if (!m)
        return; /* (a hint: the load goes on without it) */
    m->left = UINT64_MAX;
    ix->bulk_keys = keys;
    ix->bulk_chunks = ix->bulk_nodes = 0;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return;
    }
    if (pthread_cond_init(&m->cv, NULL) != 0) {
        pthread_mutex_destroy(&m->mu);
        free(m);
        return;
    }
    if (inmem__thread_start(&m->thread, maker_main, m) != 0) {
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->mu);
        free(m);
        return;
    }
    ix->maker = m;
#else
    (void)ix;
    (void)keys;
#endif
}

/* @p size bytes from the index's current chunk (a new one when it is full); NULL if the size
 * does not fit a chunk or no memory: the caller then uses malloc. */
static void *chunk_alloc(inmem__index *ix, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size > CHUNK_SIZE / 8)
        return NULL; /* big values: malloc, so that a chunk holds many nodes */
    chunk *k = ix->chunk;
    if (!k || k->used + size > CHUNK_SIZE) {
        uint64_t left = UINT64_MAX; /* chunks the load takes after this one: keys left at the
                                     * nodes a chunk has held so far (unknown before the first) */
        if (ix->bulk_chunks && ix->bulk_nodes) {
            uint64_t keys = ix->bulk_keys > ix->bulk_nodes ? ix->bulk_keys - ix->bulk_nodes : 0;
            uint64_t need = (keys * ix->bulk_chunks + ix->bulk_nodes - 1) / ix->bulk_nodes;
            left = need > 1 ? need - 1 : 0;
        }
        chunk *nk = ix->maker ? maker_take(ix->maker, left) : NULL;
        if (!nk)
            nk = chunk_new();
        if (!nk)
            return NULL;
        if (k)
            chunk_release(k);
        ix->chunk = k = nk;
        ix->bulk_chunks++;
    }
    void *p = (uint8_t *)k + k->used;
    k->used += size;
    ix->bulk_nodes++;
    atomic_fetch_add_explicit(&k->live, 1, memory_order_relaxed);
    return p;
}

static void node_release(inmem__node *n)
{
    if (n->in_chunk)
        chunk_release((chunk *)((uintptr_t)n & ~(uintptr_t)(CHUNK_SIZE - 1)));
    else
        free(n);
}

/* ---- nodes ------------------------------------------------------------------------------- */

/* Offset of the embedded first version: after the key, 8-aligned. */
static size_t first_offset(int height, size_t klen)
{
    return (sizeof(inmem__node) + (size_t)height * sizeof(((inmem__node *)0)->next[0]) + klen + 7) &
           ~(size_t)7;
}

static inmem__node *node_alloc(inmem__index *ix, int height, const uint8_t *key, size_t klen,
                               uint64_t hash, const inmem__version *first)
{
    size_t size = sizeof(inmem__node) + (size_t)height * sizeof(((inmem__node *)0)->next[0]) + klen;
    if (first)
        size = first_offset(height, klen) + offsetof(inmem__version, data) + first->vlen;
    inmem__node *n = ix && ix->bulk ? chunk_alloc(ix, size) : NULL;
    int in_chunk = n != NULL;
    if (!n && !(n = malloc(size)))
        return NULL;
    n->in_chunk = in_chunk != 0;
    n->hq_refs = 0;
    n->has_first = first != NULL;
    if (first) {
        inmem__version *v = (inmem__version *)((uint8_t *)n + first_offset(height, klen));
        /* (not sizeof: an allocator's version ends with its value, and may end its page) */
        memcpy(v, first, offsetof(inmem__version, data) + first->vlen);
        atomic_init(&v->next, NULL);
        v->embedded = 1;
    }
    atomic_init(&n->head, NULL);
    n->hash = hash;
    n->klen = (uint32_t)klen;
    n->height = (uint8_t)height;
    atomic_init(&n->dead, 0);
    for (int i = 0; i < height; i++)
        atomic_init(&n->next[i], NULL);
    if (klen)
        memcpy((uint8_t *)&n->next[height], key, klen);
    return n;
}

static int random_height(inmem__index *ix)
{
    /* xorshift64; each level with probability 1/4 */
    uint64_t x = ix->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ix->rng = x;
    int h = 1;
    while (h < INMEM__SKIP_MAX && (x & 3) == 0) {
        h++;
        x >>= 2;
    }
    return h;
}

inmem__node *inmem__index_node_new(inmem__index *ix, const uint8_t *key, size_t klen, uint64_t hash,
                                   const inmem__version *first)
{
    return node_alloc(ix, random_height(ix), key, klen, hash, first);
}

inmem__version *inmem__index_node_first(inmem__node *n)
{
    return n->has_first ? (inmem__version *)((uint8_t *)n + first_offset(n->height, n->klen))
                        : NULL;
}

void inmem__index_node_free(inmem__node *n)
{
    node_release(n);
}

static int key_cmp(const inmem__node *n, const uint8_t *key, size_t klen)
{
    size_t m = n->klen < klen ? n->klen : klen;
    int c = memcmp(inmem__node_key(n), key, m);
    if (c)
        return c;
    return n->klen < klen ? -1 : n->klen > klen;
}

/* ---- create / destroy -------------------------------------------------------------------- */

/* Tables of 2 MiB and more get their own mapping, populated at once (MAP_POPULATE): the
 * rehash into a new table writes all over it, and taking a page fault per 4 KiB on the way
 * stretched the growth pause. Transparent huge pages were tried and dropped: they sped point
 * reads up by ~5 %, but with THP defragmentation on madvise (the usual setting) a huge-page
 * fault may compact memory synchronously, and growth pauses at 4-8 M keys varied from 0.08 to
 * 0.65 s. The one exception is the table a checkpoint's load sizes for all its keys at open
 * (inmem__index_append_start() to _end): no commit waits on it, and its random inserts took a
 * TLB miss each. */
#define HT_MAP_MIN ((size_t)2 << 20)

/* How a table's pages come: HT_POPULATE all at once (a table filled in one go), HT_LAZY as
 * entries land (a growth spread over many commits), HT_HUGE huge pages, all at once (the table a
 * checkpoint's load sizes for every key). */
enum { HT_POPULATE, HT_LAZY, HT_HUGE };

static htab *htab_new(size_t cap, int mode)
{
    int huge = mode == HT_HUGE;
    size_t bytes = sizeof(htab) + cap * sizeof(hslot);
    htab *t;
    if (bytes >= HT_MAP_MIN) {
        void *p =
            mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | (mode == HT_POPULATE ? MAP_POPULATE : 0), -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        if (huge) { /* advised before the pages exist, then faulted in */
#ifdef MADV_HUGEPAGE
            (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
            prefault(p, bytes);
        }
        t = p;
        t->mapped = bytes;
    } else if ((t = calloc(1, bytes)) != NULL) {
        t->mapped = 0;
    }
    if (t)
        t->mask = cap - 1;
    return t;
}

static void htab_free(htab *t)
{
    if (t && t->mapped)
        munmap(t, t->mapped);
    else
        free(t);
}

/* A retired table goes back to the system a piece per collection: the old table of a growth at
 * 8 M keys is 256 MiB, and one munmap of it paused the commit that freed it for 14-23 ms
 * (inmem_bench --pauses, the load). */
#define UNMAP_PIECE ((size_t)1 << 20)

static void unmap_piece(inmem__index *ix)
{
    size_t n = ix->unmap_len < UNMAP_PIECE ? ix->unmap_len : UNMAP_PIECE;
    munmap(ix->unmap_p, n);
    ix->unmap_p += n;
    ix->unmap_len -= n;
}

static void htab_release(inmem__index *ix, htab *t)
{
    if (!t->mapped || t->mapped <= UNMAP_PIECE) {
        htab_free(t);
        return;
    }
    while (ix->unmap_len) /* an earlier one not done yet (growths are far apart): at once */
        unmap_piece(ix);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    ix->unmap_p = (uint8_t *)t;
    ix->unmap_len = (t->mapped + page - 1) & ~(page - 1);
}

inmem__index *inmem__index_create(void)
{
    inmem__index *ix = calloc(1, sizeof(*ix));
    if (!ix)
        return NULL;
    ix->head = node_alloc(NULL, INMEM__SKIP_MAX, NULL, 0, 0, NULL);
    htab *t = htab_new(HT_MIN, HT_POPULATE);
    if (!ix->head || !t) {
        free(ix->head);
        htab_free(t);
        free(ix);
        return NULL;
    }
    atomic_init(&ix->table, t);
    ix->rng = 0x2545F4914F6CDD1Dull ^ (uint64_t)(uintptr_t)ix;
    atomic_init(&ix->height, 1);
    return ix;
}

void inmem__index_destroy(inmem__index *ix)
{
    if (!ix)
        return;
    /* what waits first, as a collection would free it: see detach_first() */
    for (size_t i = 0; i < ix->trash_len; i++)
        free_chain(ix->trash[i]);
    inmem__node *n = atomic_load_rlx(&ix->head->next[0]);
    while (n) {
        inmem__node *next = atomic_load_rlx(&n->next[0]);
        free_chain(atomic_load_rlx(&n->head));
        node_release(n);
        n = next;
    }
    for (size_t i = ix->ret_head; i < ix->ret_len; i++) {
        retired *r = &ix->ret[i];
        if (r->is_node) {
            free_chain(atomic_load_rlx(&((inmem__node *)r->ptr)->head));
            node_release(r->ptr);
        } else {
            htab_free(r->ptr);
        }
    }
    maker_stop(ix);
    if (ix->chunk)
        chunk_release(ix->chunk);
    free(ix->trash);
    free(ix->ret);
    free(ix->hq);
    for (qblock *b = ix->qh, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    for (qblock *b = ix->qspare, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    htab_free(atomic_load_rlx(&ix->old));
    htab_free(atomic_load_rlx(&ix->table));
    while (ix->unmap_len)
        unmap_piece(ix);
    free(ix->head);
    free(ix);
    inmem__valloc_flush_thread(); /* the versions just freed, back to their pages */
    inmem__valloc_trim(0);
}

/* ---- readers ----------------------------------------------------------------------------- */

/* Prefetches the lines of the version a slot's hint names (see hint_of()). */
static inline void prefetch_hint(uintptr_t hint)
{
    const uint8_t *v = (const uint8_t *)(hint & PTR_MASK & ~(uintptr_t)63);
    for (unsigned i = 0; i < (unsigned)(hint & HINT_LINES); i++)
        __builtin_prefetch(v + 64 * i);
}

static inline __attribute__((always_inline)) inmem__node *probe(const htab *t, const uint8_t *key,
                                                                size_t klen, uint64_t hash)
{
    uintptr_t tag = TAG_OF(hash);
    for (size_t i = HOME(hash, t->mask);; i = (i + 1) & t->mask) {
        uintptr_t e = atomic_load_acq(&t->slot[i].e);
        if (e == EMPTY)
            return NULL;
        if (e == REMOVED || (e & ~PTR_MASK) != tag)
            continue;
        inmem__node *n = (inmem__node *)(e & PTR_MASK);
        /* the node and, right after it, its first version, and the newest version if it lives
         * elsewhere: fetch the lines together */
        prefetch_hint(atomic_load_rlx(&t->slot[i].hint));
        __builtin_prefetch((const uint8_t *)n + 64);
        __builtin_prefetch((const uint8_t *)n + 128);
        if (n->hash == hash && n->klen == klen && memcmp(inmem__node_key(n), key, klen) == 0)
            return n;
    }
}

static __attribute__((noinline)) inmem__node *probe_old(const htab *o, const uint8_t *key,
                                                        size_t klen, uint64_t hash)
{
    return probe(o, key, klen, hash);
}

/* While a growth moves entries (see htab_reserve()), a key is in the new table, the old one, or
 * both. `old` is loaded after `table` and before the probe of it: the writer stores `old` before
 * `table` when a growth begins, so a reader that sees the new table sees the old one too; and it
 * clears `old` only after the last entry was moved (release), so a reader that loads NULL there
 * finds every entry in the table it probes next. The old table never loses an entry while it is
 * being emptied (entries are copied, and only a removal marks a slot), so a key not moved yet is
 * still found there. */
inmem__node *inmem__index_find(inmem__index *ix, const uint8_t *key, size_t klen, uint64_t hash)
{
    htab *t = atomic_load_acq(&ix->table);
    htab *o = atomic_load_acq(&ix->old);
    inmem__node *n = probe(t, key, klen, hash);
    return INMEM_LIKELY(n || !o) ? n : probe_old(o, key, klen, hash);
}

void inmem__index_prefetch(inmem__index *ix, uint64_t hash, int stage)
{
    const htab *t = atomic_load_acq(&ix->table);
    const hslot *h = &t->slot[HOME(hash, t->mask)];
    if (stage == 0) {
        __builtin_prefetch(h);
        return;
    }
    uintptr_t e = atomic_load_acq(&h->e);
    if (e == EMPTY || e == REMOVED || (e & ~PTR_MASK) != TAG_OF(hash))
        return; /* missing, moved on, or not in its home slot: the probe will tell */
    const uint8_t *n = (const uint8_t *)(e & PTR_MASK);
    __builtin_prefetch(n);
    __builtin_prefetch(n + 64);
    prefetch_hint(atomic_load_rlx(&h->hint));
}

/* Fills preds[l] with the last node < key on each level (writer); returns level-0 successor. */
static inmem__node *find_preds(inmem__index *ix, const uint8_t *key, size_t klen,
                               inmem__node **preds)
{
    inmem__node *x = ix->head, *nx = NULL;
    int top = atomic_load_rlx(&ix->height);
    if (preds)
        for (int l = top; l < INMEM__SKIP_MAX; l++)
            preds[l] = ix->head;
    for (int l = top - 1; l >= 0; l--) {
        while ((nx = atomic_load_acq(&x->next[l])) && key_cmp(nx, key, klen) < 0)
            x = nx;
        if (preds)
            preds[l] = x;
    }
    return nx;
}

inmem__node *inmem__index_seek(inmem__index *ix, const uint8_t *key, size_t klen)
{
    if (klen == 0)
        return atomic_load_acq(&ix->head->next[0]);
    return find_preds(ix, key, klen, NULL);
}

/* ---- hash table (writer) ----------------------------------------------------------------- */

/* The hint word of node @p n with newest version @p v. The pointer is masked to its 48 bits so
 * that the hash bits above it stay exact whatever the address (a wrong pointer would only make
 * a useless prefetch; wrong hash bits would put the entry in the wrong slot at the next
 * growth). Its low 3 bits, zero in a version's address, count the lines to prefetch: a
 * 100-byte value embedded in its node spans three or four lines from the version's first, and
 * the three a fixed prefetch covered left the copy of a quarter of those values waiting for a
 * miss of its own at the end (reads of keys loaded once 7-10 % faster; docs/BENCHMARKS.md,
 * "Session of 2026-12-07 (20:58-)"). */
static uintptr_t hint_of(const inmem__node *n, const inmem__version *v)
{
    uintptr_t p = (uintptr_t)v & PTR_MASK, lines = 0;
    assert(!(p & HINT_LINES)); /* versions are 8-byte aligned */
    if (v) {
        lines = ((p & 63) + offsetof(inmem__version, data) + v->vlen + 63) / 64;
        if (lines > HINT_LINES)
            lines = HINT_LINES;
    }
    return HB_OF(n->hash) | p | lines;
}

/* Returns 1 if it reused a REMOVED slot. */
static int htab_put(htab *t, inmem__node *n)
{
    uintptr_t p = (uintptr_t)n;
    if (INMEM_UNLIKELY(p & ~PTR_MASK))
        abort(); /* user-space pointers fit in 48 bits on every platform we support */
    for (size_t i = HOME(n->hash, t->mask);; i = (i + 1) & t->mask) {
        uintptr_t e = atomic_load_rlx(&t->slot[i].e);
        if (e == EMPTY || e == REMOVED) {
            atomic_store_rlx(&t->slot[i].hint, hint_of(n, atomic_load_rlx(&n->head)));
            atomic_store_rel(&t->slot[i].e, TAG_OF(n->hash) | p);
            return e == REMOVED;
        }
    }
}

static void retire(inmem__index *ix, void *ptr, uint64_t tag, int is_node)
{
    /* room was made by inmem__index_reserve() or htab_grow() */
    ix->ret[ix->ret_len++] = (retired){ptr, tag, is_node};
}

static int ret_reserve(inmem__index *ix, size_t more)
{
    if (ix->ret_len + more <= ix->ret_cap)
        return 0;
    if (ix->ret_head > 0) { /* compact first */
        memmove(ix->ret, ix->ret + ix->ret_head, (ix->ret_len - ix->ret_head) * sizeof(retired));
        ix->ret_len -= ix->ret_head;
        ix->ret_head = 0;
        if (ix->ret_len + more <= ix->ret_cap)
            return 0;
    }
    size_t cap = ix->ret_cap ? ix->ret_cap * 2 : 64;
    while (cap < ix->ret_len + more)
        cap *= 2;
    retired *r = realloc(ix->ret, cap * sizeof(*r));
    if (!r)
        return INMEM_ENOMEM;
    ix->ret = r;
    ix->ret_cap = cap;
    return 0;
}

#define LIVE(e) ((e) != EMPTY && (e) != REMOVED)

/* The home slot of a live entry, from its two words alone. */
static size_t slot_home(uintptr_t e, uintptr_t hint, size_t mask)
{
    uint64_t hi = (uint64_t)(e >> PTR_BITS) << 16 | (uint64_t)(hint >> PTR_BITS);
    return (size_t)hi & mask;
}

/* Moves every entry of @p t into the empty table @p nt. The home slot comes from the two words
 * of the old slot (see the top of the file), so no node is read; the new slot of the entry 16
 * slots on is prefetched, since those writes land all over the new table. */
static void htab_rehash(const htab *t, htab *nt)
{
    enum { AHEAD = 16 };
    size_t cap = t->mask + 1;
    for (size_t i = 0; i < cap; i++) {
        if (i + AHEAD < cap) {
            const hslot *a = &t->slot[i + AHEAD];
            uintptr_t e = atomic_load_rlx(&a->e);
            if (LIVE(e))
                __builtin_prefetch(&nt->slot[slot_home(e, atomic_load_rlx(&a->hint), nt->mask)], 1);
        }
        uintptr_t e = atomic_load_rlx(&t->slot[i].e), hint = atomic_load_rlx(&t->slot[i].hint);
        if (!LIVE(e))
            continue;
        for (size_t j = slot_home(e, hint, nt->mask);; j = (j + 1) & nt->mask) {
            if (atomic_load_rlx(&nt->slot[j].e) == EMPTY) {
                atomic_store_rlx(&nt->slot[j].hint, hint);
                atomic_store_rlx(&nt->slot[j].e, e);
                break;
            }
        }
    }
}

/* Grows (or cleans) the table so that @p more inserts keep the load under 1/2. */
/* Puts the live entry (e, hint) of another table into @p t (the writer); 1 if it took a
 * REMOVED slot. */
static int htab_put_entry(htab *t, uintptr_t e, uintptr_t hint)
{
    for (size_t j = slot_home(e, hint, t->mask);; j = (j + 1) & t->mask) {
        uintptr_t x = atomic_load_rlx(&t->slot[j].e);
        if (x == EMPTY || x == REMOVED) {
            atomic_store_rlx(&t->slot[j].hint, hint);
            atomic_store_rel(&t->slot[j].e, e);
            return x == REMOVED;
        }
    }
}

/* Moves up to @p budget slots of the old table into the new one; the last step retires it. */
static void migrate(inmem__index *ix, size_t budget, uint64_t tag)
{
    htab *o = atomic_load_rlx(&ix->old), *t = atomic_load_rlx(&ix->table);
    size_t cap = o->mask + 1, left = cap - ix->mig;
    for (size_t end = ix->mig + (budget < left ? budget : left); ix->mig < end; ix->mig++) {
        uintptr_t e = atomic_load_rlx(&o->slot[ix->mig].e);
        if (LIVE(e))
            ix->ht_removed -= (size_t)htab_put_entry(t, e, atomic_load_rlx(&o->slot[ix->mig].hint));
    }
    if (ix->mig == cap) {
        atomic_store_rel(&ix->old, NULL); /* after the last entry moved: see inmem__index_find() */
        retire(ix, o, tag, 0);            /* room made by htab_reserve() */
    }
}

/* Old slots moved per reserved insert while a growth is under way: the old table is emptied
 * long before the new one (at most half full when it begins) can fill to its growth point. */
#define MIGRATE_PER_INSERT 32
#define MIGRATE_MIN        256
/* Tables smaller than this are rehashed at once (a few microseconds). */
#define GROW_INCREMENTAL_MIN 4096

/* Makes room for @p more inserts, keeping the slots in use (live and REMOVED) at most 4/5 of the
 * table. Growth allocates the smallest power of two at least twice the live keys (its load is
 * then between 1/4 and 1/2); small ones are filled at once, big ones (at millions of keys, a
 * rehash at once paused the commit that grew it for 40-400 ms) over the following inserts, a
 * bounded number of old slots each (migrate()), while readers look in both
 * (inmem__index_find()).
 *
 * Why 4/5 and not 1/2: a point read's first cache miss is its slot, and the smaller the table,
 * the more of it the CPU's cache holds beside the nodes. At 100,000 keys the table is 2 MiB
 * instead of 4 MiB, and reads of random keys went 1.2-1.4x faster (docs/BENCHMARKS.md, "Session
 * of 2026-12-07 (18:43-)"). The price is longer probes: a lookup of a missing key scans ~13
 * slots at 4/5 full (four 16-byte slots a cache line, read in sequence), a present one ~3; the
 * tags in the slots keep those probes off the nodes. */
static int htab_reserve(inmem__index *ix, size_t more, uint64_t tag)
{
    if (atomic_load_rlx(&ix->old)) {
        if (ret_reserve(ix, 1) != 0)
            return INMEM_ENOMEM;
        migrate(ix, MIGRATE_MIN + MIGRATE_PER_INSERT * more, tag);
    }
    htab *t = atomic_load_rlx(&ix->table);
    size_t cap = t->mask + 1;
    if ((ix->ht_used + ix->ht_removed + more) * 5 <= cap * 4)
        return 0;
    if (atomic_load_rlx(&ix->old)) /* only for a burst of inserts bigger than the budget */
        migrate(ix, SIZE_MAX, tag);
    size_t want = HT_MIN;
    while (want < (ix->ht_used + more) * 2)
        want *= 2;
    int incremental = cap >= GROW_INCREMENTAL_MIN && !ix->bulk;
    htab *nt = htab_new(want, ix->bulk ? HT_HUGE : incremental ? HT_LAZY : HT_POPULATE);
    if (!nt || ret_reserve(ix, 1) != 0) {
        htab_free(nt);
        return INMEM_ENOMEM;
    }
    ix->ht_removed = 0;
    if (!incremental) {
        htab_rehash(t, nt);
        atomic_store_rel(&ix->table, nt);
        retire(ix, t, tag, 0);
        return 0;
    }
    atomic_store_rel(&ix->old, t); /* before the table: see inmem__index_find() */
    atomic_store_rel(&ix->table, nt);
    ix->mig = 0;
    migrate(ix, MIGRATE_MIN + MIGRATE_PER_INSERT * more, tag);
    return 0;
}

/* The slot holding linked node @p n (writer). */
static hslot *slot_in(htab *t, const inmem__node *n)
{
    for (size_t i = HOME(n->hash, t->mask);; i = (i + 1) & t->mask) {
        uintptr_t e = atomic_load_rlx(&t->slot[i].e);
        if (e == EMPTY)
            return NULL;
        if ((e & PTR_MASK) == (uintptr_t)n)
            return &t->slot[i];
    }
}

/* The slot holding linked node @p n (writer): in the table, or in the old one if a growth has
 * not moved it yet. */
static hslot *htab_slot(const inmem__index *ix, const inmem__node *n)
{
    hslot *s = slot_in(atomic_load_rlx(&((inmem__index *)ix)->table), n);
    if (!s) {
        htab *o = atomic_load_rlx(&((inmem__index *)ix)->old);
        assert(o);
        s = slot_in(o, n);
    }
    assert(s);
    return s;
}

static void htab_remove(inmem__index *ix, inmem__node *n)
{
    hslot *s = slot_in(atomic_load_rlx(&ix->table), n);
    if (s) {
        atomic_store_rel(&s->e, REMOVED);
        atomic_store_rlx(&s->hint, 0);
        ix->ht_removed++;
    }
    htab *o = atomic_load_rlx(&ix->old);
    if (o && (s = slot_in(o, n)) != NULL) { /* not moved yet, or moved: out of both */
        atomic_store_rel(&s->e, REMOVED);
        atomic_store_rlx(&s->hint, 0);
    }
    ix->ht_used--;
}

/* ---- the writer -------------------------------------------------------------------------- */

static __attribute__((noinline)) int queue_grow(inmem__index *ix, size_t more);

static size_t queue_room(const inmem__index *ix)
{
    return (ix->qt ? ix->qt->cap - ix->qt_n : 0) + ix->qspare_room;
}

static int queue_grow(inmem__index *ix, size_t more)
{
    while (queue_room(ix) < more) {
        size_t cap = ix->qt ? 2 * ix->qt->cap : QBLOCK_MIN;
        if (ix->qspare && ix->qspare->cap > cap)
            cap = ix->qspare->cap;
        if (cap > QBLOCK_MAX)
            cap = QBLOCK_MAX;
        qblock *b = malloc(sizeof(*b) + cap * sizeof(pending));
        if (!b)
            return INMEM_ENOMEM;
        b->cap = cap;
        b->next = ix->qspare;
        ix->qspare = b;
        ix->qspare_room += cap;
    }
    return 0;
}

/* Makes room for @p more pushes (no push then fails). */
static inline int queue_reserve(inmem__index *ix, size_t more)
{
    return INMEM_LIKELY(queue_room(ix) >= more) ? 0 : queue_grow(ix, more);
}

/* Appends an entry; room was reserved. */
static inline void queue_push(inmem__index *ix, inmem__node *n, uint64_t ver)
{
    if (INMEM_UNLIKELY(!ix->qt || ix->qt_n == ix->qt->cap)) {
        qblock *b = ix->qspare;
        assert(b); /* queue_reserve() */
        ix->qspare = b->next;
        ix->qspare_room -= b->cap;
        b->next = NULL;
        if (ix->qt)
            ix->qt->next = b;
        else
            ix->qh = b;
        ix->qt = b;
        ix->qt_n = 0;
    }
    ix->qt->e[ix->qt_n++] = (pending){n, ver};
    ix->q_count++;
}

/* The oldest entry, or NULL if the queue is empty. */
static inline const pending *queue_front(const inmem__index *ix)
{
    return ix->q_count ? &ix->qh->e[ix->qh_i] : NULL;
}

/* The entry @p k places behind the front, if the front's block holds it; else NULL. */
static inline const pending *queue_peek(const inmem__index *ix, size_t k)
{
    size_t i = ix->qh_i + k;
    if (k >= ix->q_count || i >= ix->qh->cap)
        return NULL;
    return &ix->qh->e[i];
}

static void queue_pop(inmem__index *ix)
{
    ix->qh_i++;
    ix->q_count--;
    if (ix->q_count == 0) { /* empty: the tail block is reused from its start */
        qblock *b = ix->qh;
        while (b != ix->qt) { /* (only qt can hold entries past qh: none here) */
            qblock *next = b->next;
            free(b);
            b = next;
        }
        ix->qh = ix->qt;
        ix->qh_i = ix->qt_n = 0;
    } else if (ix->qh_i == ix->qh->cap) { /* a block used up: kept for pushes, or freed */
        qblock *b = ix->qh;
        ix->qh = b->next;
        ix->qh_i = 0;
        if (!ix->qspare) {
            b->next = NULL;
            ix->qspare = b;
            ix->qspare_room += b->cap;
        } else {
            free(b);
        }
    }
}

int inmem__index_reserve(inmem__index *ix, size_t nwrites, size_t nnew, uint64_t last_version)
{
    int rc = queue_reserve(ix, nwrites);
    if (rc == 0)
        rc = ret_reserve(ix, nwrites + 1);
    if (rc == 0 && (nnew || atomic_load_rlx(&ix->old))) /* a growth moves on at every commit */
        rc = htab_reserve(ix, nnew, last_version);
    return rc;
}

void inmem__index_link(inmem__index *ix, inmem__node *n)
{
    inmem__node *preds[INMEM__SKIP_MAX];
    find_preds(ix, inmem__node_key(n), n->klen, preds);
    for (int l = 0; l < n->height; l++)
        atomic_store_rlx(&n->next[l], atomic_load_rlx(&preds[l]->next[l]));
    /* bottom-up: a node is reachable at level 0 before any express lane leads to it */
    for (int l = 0; l < n->height; l++)
        atomic_store_rel(&preds[l]->next[l], n);
    if (n->height > atomic_load_rlx(&ix->height))
        atomic_store_rlx(&ix->height, n->height);
    ix->ht_removed -= (size_t)htab_put(atomic_load_rlx(&ix->table), n);
    ix->ht_used++;
    atomic_store_rlx(&ix->keys, atomic_load_rlx(&ix->keys) + 1);
}

/* Adds @p v's bytes to the live-data gauge and takes @p old's off. */
static void live_account(inmem__index *ix, const inmem__node *n, const inmem__version *old,
                         const inmem__version *v)
{
    uint64_t live = atomic_load_rlx(&ix->live_bytes);
    if (old && !old->tomb)
        live -= n->klen + old->vlen;
    if (v && !v->tomb)
        live += n->klen + v->vlen;
    atomic_store_rlx(&ix->live_bytes, live);
}

void inmem__index_bulk_start(inmem__index *ix)
{
#ifndef INMEM__NO_CHUNKS
    ix->bulk = 1;
#else
    (void)ix;
#endif
}

void inmem__index_append_start(inmem__index *ix)
{
    inmem__index_bulk_start(ix);
    for (int l = 0; l < INMEM__SKIP_MAX; l++) {
        inmem__node *x = ix->head, *nx;
        while ((nx = atomic_load_rlx(&x->next[l])) != NULL)
            x = nx;
        ix->tail[l] = x;
    }
}

void inmem__index_append(inmem__index *ix, inmem__node *n, inmem__version *v)
{
    assert(ix->tail[0] == ix->head ||
           key_cmp(ix->tail[0], inmem__node_key(n), n->klen) < 0); /* strictly increasing */
    /* the version first, while the node is unreachable: the slot's hint is then right at once */
    atomic_store_rlx(&v->next, NULL);
    v->newer = v;
    v->len = 1;
    atomic_store_rlx(&n->head, v);
    for (int l = 0; l < n->height; l++) {
        atomic_store_rlx(&n->next[l], NULL);
        atomic_store_rel(&ix->tail[l]->next[l], n);
        ix->tail[l] = n;
    }
    if (n->height > atomic_load_rlx(&ix->height))
        atomic_store_rlx(&ix->height, n->height);
    /* the insert into the hash table waits until DEFER more nodes came, its slot prefetched:
     * each lands on a random slot of a big table, and one miss at a time was a quarter of a load */
    htab *t = atomic_load_rlx(&ix->table);
    __builtin_prefetch(&t->slot[HOME(n->hash, t->mask)], 1);
    inmem__node **d = &ix->deferred[ix->ndeferred++ % DEFER];
    if (ix->ndeferred > DEFER)
        ix->ht_removed -= (size_t)htab_put(t, *d);
    *d = n;
    ix->ht_used++;
    atomic_store_rlx(&ix->keys, atomic_load_rlx(&ix->keys) + 1);
    live_account(ix, n, NULL, v);
    if (v->tomb)
        queue_push(ix, n, v->ver);
}

void inmem__index_append_end(inmem__index *ix)
{
    htab *t = atomic_load_rlx(&ix->table);
    for (size_t i = 0; i < ix->ndeferred && i < DEFER; i++)
        ix->ht_removed -= (size_t)htab_put(t, ix->deferred[i]);
    ix->ndeferred = 0;
    ix->bulk = 0;
    maker_stop(ix);
    if (ix->chunk)
        chunk_release(ix->chunk);
    ix->chunk = NULL;
}

void inmem__index_install(inmem__index *ix, inmem__node *n, inmem__version *v)
{
    inmem__version *old = atomic_load_rlx(&n->head);
    live_account(ix, n, old, v);
    assert(!old || old->ver < v->ver);
    if (old) {
        v->newer = old->newer; /* the oldest version (old itself when alone) */
        v->len = old->len + 1;
        if (v->len > 2) /* history kept: the GC's next visit may free the oldest; start its miss */
            __builtin_prefetch(v->newer, 1);
        old->newer = v;
    } else {
        v->newer = v;
        v->len = 1;
    }
    atomic_store_rlx(&v->next, old);
    atomic_store_rel(&n->head, v);
    atomic_store_rlx(&htab_slot(ix, n)->hint, hint_of(n, v));
    if (old) {
        atomic_store_rlx(&ix->retained, atomic_load_rlx(&ix->retained) + 1);
        atomic_store_rlx(&ix->history_bytes, atomic_load_rlx(&ix->history_bytes) + old->vlen);
    }
    if (old || v->tomb)
        queue_push(ix, n, v->ver);
}

void inmem__index_append_older(inmem__index *ix, inmem__node *n, inmem__version *v)
{
    inmem__version *h = atomic_load_rlx(&n->head), *x = h->newer; /* the oldest */
    assert(!atomic_load_rlx(&x->next) && v->ver < x->ver);
    atomic_store_rlx(&v->next, NULL);
    v->newer = x;
    h->newer = v;
    h->len++;
    atomic_store_rel(&x->next, v);
    atomic_store_rlx(&ix->retained, atomic_load_rlx(&ix->retained) + 1);
    atomic_store_rlx(&ix->history_bytes, atomic_load_rlx(&ix->history_bytes) + v->vlen);
}

int inmem__index_queue_node(inmem__index *ix, inmem__node *n, uint64_t ver)
{
    int rc = queue_reserve(ix, 1);
    if (rc == 0)
        queue_push(ix, n, ver);
    return rc;
}

/* Frees the versions of chain @p v (cut off its node: no reader can reach it) while *budget
 * lasts, one unit each; what is left waits in `trash` for the next collections. A key overwritten
 * a million times while one snapshot was open (a checkpoint's) leaves a million versions to free
 * at once. */
static void free_some(inmem__index *ix, inmem__version *v, size_t *budget)
{
    uint64_t freed = 0, bytes = 0;
    while (v && *budget && !ix->defer) {
        inmem__version *next = atomic_load_rlx(&v->next);
        bytes += v->vlen;
        inmem__version_free(v);
        freed++;
        (*budget)--;
        v = next;
    }
    if (v) { /* later; if the list cannot grow, now after all */
        if (ix->trash_len == ix->trash_cap) {
            size_t cap = ix->trash_cap ? 2 * ix->trash_cap : 16;
            inmem__version **t = realloc(ix->trash, cap * sizeof(*t));
            if (t) {
                ix->trash = t;
                ix->trash_cap = cap;
            }
        }
        if (ix->trash_len < ix->trash_cap)
            ix->trash[ix->trash_len++] = v;
        else
            free_chain_counted(v, &freed, &bytes);
    }
    atomic_store_rlx(&ix->retained, atomic_load_rlx(&ix->retained) - freed);
    atomic_store_rlx(&ix->history_bytes, atomic_load_rlx(&ix->history_bytes) - bytes);
}

void inmem__index_chains_take(inmem__index *ix, inmem__version ***chains, size_t *n)
{
    *chains = ix->trash;
    *n = ix->trash_len;
    ix->trash = NULL;
    ix->trash_len = ix->trash_cap = 0;
}

void inmem__index_chains_free(inmem__version **chains, size_t n, uint64_t *versions,
                              uint64_t *bytes)
{
    *versions = *bytes = 0;
    for (size_t i = 0; i < n; i++)
        free_chain_counted(chains[i], versions, bytes);
}

void inmem__index_chains_freed(inmem__index *ix, uint64_t versions, uint64_t bytes)
{
    atomic_store_rlx(&ix->retained, atomic_load_rlx(&ix->retained) - versions);
    atomic_store_rlx(&ix->history_bytes, atomic_load_rlx(&ix->history_bytes) - bytes);
}

/* Takes node @p n's embedded first version out of the versions just cut off below @p kept
 * (@p top, linked down through `next`), if it is there; returns what is left to
 * free. The embedded version lives in the node's allocation, and what a collection leaves for
 * later (trash, or a snapshot's end that frees without the commit lock) may be freed after the
 * node is: a delete unlinks it, and its release can come first. So no chain that waits ever
 * reaches into a node. Counted as freed here; has_first 2 records that it left its chain, so
 * that from then on the test costs one load of the node's header (and @p kept is read only
 * before: prune()'s fast path does not otherwise wait for its cache line). */
static inmem__version *detach_first(inmem__index *ix, inmem__node *n, inmem__version *top,
                                    const inmem__version *kept)
{
    if (INMEM_LIKELY(n->has_first != 1))
        return top;
    inmem__version *e = inmem__index_node_first(n);
    if (e->ver >= kept->ver)
        return top; /* still above the cut */
    inmem__version *older = atomic_load_rlx(&e->next);
    if (e == top)
        top = older;
    else /* its newer neighbour, also cut off (a loaded key keeps older versions below it) */
        atomic_store_rlx(&e->newer->next, older);
    atomic_store_rlx(&e->next, NULL);
    n->has_first = 2;
    atomic_store_rlx(&ix->retained, atomic_load_rlx(&ix->retained) - 1);
    atomic_store_rlx(&ix->history_bytes, atomic_load_rlx(&ix->history_bytes) - e->vlen);
    return top;
}

/* The most versions prune() frees from the oldest up; more are freed from the newest down. */
#define PRUNE_UP 4

/* Frees every version older than the newest one with ver <= @p floor, keeping at least @p count
 * versions; marks the oldest kept `cut` if it freed any. Returns 1 if a version older than
 * @p min_snap is still kept (history, for the policy's sake). */
static inline __attribute__((always_inline)) int prune(inmem__index *ix, inmem__node *n,
                                                       uint64_t min_snap, uint64_t floor,
                                                       uint32_t count, size_t *budget)
{
    inmem__version *h = atomic_load_rlx(&n->head);
    uint32_t keep = count > 1 ? count : 1;
    if (h->len <= keep + PRUNE_UP && floor >= min_snap) {
        /* a few versions to free at most, each older than a newer one at or below floor: from
         * the oldest up, without the walk down the kept ones (a key keeping N versions is
         * written: one to free, where the walk down took N cache misses) */
        inmem__version *x = h->newer, *old = NULL;
        uint32_t k = 0;
        if (h->ver <= floor) { /* every version is: only the links are read */
            for (; k + keep < h->len; k++)
                old = x, x = x->newer;
        } else {
            for (; k + keep < h->len && x->newer->ver <= floor; k++)
                old = x, x = x->newer;
        }
        if (k) { /* x is stored to, not read: its cache miss does not hold the writer up */
            atomic_store_rel(&x->cut, 1); /* as below */
            atomic_store_rel(&x->next, NULL);
            h->newer = x;
            h->len -= k;
            free_some(ix, detach_first(ix, n, old, x), budget);
        }
        return 0;
    }
    if (floor < min_snap && count <= 1 && h->newer != h) {
        /* history kept for a window: from the oldest up to the newest version at or below the
         * floor, freeing what lies under it. The walk down from the newest crossed every
         * version the window keeps at every visit: a cell written 300,000 times a second under
         * a 100-ms window kept ~30,000 and the writer ran 4x slower (a soak of the library) */
        inmem__version *v = h->newer, *old = NULL;
        uint32_t k = 0;
        while (v != h && v->newer->ver <= floor) {
            old = v;
            v = v->newer;
            k++;
        }
        if (k) { /* as below */
            atomic_store_rel(&v->cut, 1);
            atomic_store_rel(&v->next, NULL);
            h->newer = v;
            h->len -= k;
            free_some(ix, detach_first(ix, n, old, v), budget);
        }
        /* history if the oldest kept is older than the version visible at min_snap */
        return v != h && v->newer->ver <= min_snap;
    }
    /* nothing to free if the second oldest version is newer than floor (then no version is
     * older than the newest at or below it): a key overwritten all along a long snapshot has one
     * queue entry per version, and each of them walked down every version kept above the floor
     * to learn that (quadratic: 10-50 ms per collection; inmem_bench --pauses) */
    if (floor >= min_snap && h->newer->newer->ver > floor)
        return 0;
    inmem__version *v = h;
    uint32_t kept = 1;
    while (v && (v->ver > floor || kept < count)) {
        inmem__version *nx = atomic_load_rlx(&v->next);
        if (!nx)
            break;
        v = nx;
        kept++;
    }
    if (!v)
        return 0;
    inmem__version *old = atomic_load_rlx(&v->next);
    if (old) {
        atomic_store_rel(&v->cut, 1);     /* before the cut: a reader that misses the version */
        atomic_store_rel(&v->next, NULL); /* it wanted learns it was freed, never a wrong answer */
        h->newer = v;
        h->len = kept;
        free_some(ix, detach_first(ix, n, old, v), budget);
    }
    if (floor >= min_snap)
        return 0; /* nothing kept for history's sake: no need to look */
    /* is anything kept that readers alone would not need? (the oldest kept is older than the
     * version visible at min_snap) */
    inmem__version *at = h;
    while (at && at->ver > min_snap)
        at = atomic_load_rlx(&at->next);
    return at && at != v;
}

/* Without history, visiting a queued key loads three lines, each through the one before: the
 * node, its newest version, and the older version to free. A backlog (what a long snapshot, a
 * checkpoint's, kept) is walked entry after entry with none of them cached; so start each line
 * a few entries ahead, every one from a line started earlier, and the misses of several entries
 * overlap instead of following each other. A queued node is not freed while queued (I5), and
 * the newest version of a live node is not freed, so the loads are of live memory. */
static inline void gc_ahead_plain(const inmem__index *ix)
{
    const pending *a;
    if ((a = queue_peek(ix, 6)) != NULL)
        __builtin_prefetch(a->node);
    if ((a = queue_peek(ix, 3)) != NULL)
        __builtin_prefetch(atomic_load_rlx(&a->node->head));
    if ((a = queue_peek(ix, 1)) != NULL) {
        const inmem__version *h = atomic_load_rlx(&a->node->head);
        if (h && h->len == 2)
            __builtin_prefetch(h->newer, 1);
    }
}

/* Starts the cache miss prune() will take on the key the GC visits next: the version that
 * becomes its oldest when a key keeping history gets a newer one (the oldest itself was fetched
 * when the newer one was installed). */
static inline void gc_ahead(const inmem__node *n)
{
    const inmem__version *h = atomic_load_rlx(&n->head);
    if (h->len > 2)
        __builtin_prefetch(h->newer->newer, 1);
}

static int hq_push(inmem__index *ix, inmem__node *n, uint64_t ver)
{
    if (ix->hq_tail == ix->hq_cap) {
        size_t live = ix->hq_tail - ix->hq_head;
        if (ix->hq_head && live < ix->hq_cap / 2) {
            memmove(ix->hq, ix->hq + ix->hq_head, live * sizeof(pending));
        } else {
            size_t cap = ix->hq_cap ? ix->hq_cap * 2 : 256;
            pending *q = malloc(cap * sizeof(*q));
            if (!q)
                return INMEM_ENOMEM;
            if (live)
                memcpy(q, ix->hq + ix->hq_head, live * sizeof(pending));
            free(ix->hq);
            ix->hq = q;
            ix->hq_cap = cap;
        }
        ix->hq_head = 0;
        ix->hq_tail = live;
    }
    ix->hq[ix->hq_tail++] = (pending){n, ver};
    if (n->hq_refs < 127)
        n->hq_refs++;
    return 0;
}

/* Unlinks a node from the skip list and the hash table and retires it. */
static void unlink_node(inmem__index *ix, inmem__node *n, uint64_t tag)
{
    inmem__node *preds[INMEM__SKIP_MAX];
    find_preds(ix, inmem__node_key(n), n->klen, preds);
    for (int l = n->height - 1; l >= 0; l--)
        if (atomic_load_rlx(&preds[l]->next[l]) == n)
            atomic_store_rel(&preds[l]->next[l], atomic_load_rlx(&n->next[l]));
    htab_remove(ix, n);
    atomic_store_rel(&n->dead, 1);
    atomic_store_rlx(&ix->keys, atomic_load_rlx(&ix->keys) - 1);
    retire(ix, n, tag, 1);
}

/* Prunes node @p n as readers (@p min_snap) and the policy allow; unlinks it if nothing is left
 * but a tombstone below every floor; queues it for a later visit if history is kept. */
static inline __attribute__((always_inline)) void gc_node(inmem__index *ix, inmem__node *n,
                                                          uint64_t min_snap, uint64_t last_version,
                                                          const inmem__gc_policy *policy,
                                                          size_t *budget)
{
    if (!policy) { /* no history kept anywhere: prune to what readers need (the common case) */
        inmem__version *h = atomic_load_rlx(&n->head);
        if (h->len == 2 && h->ver <= min_snap && *budget) { /* prune()'s work, written out: */
            inmem__version *old = h->newer; /* one older version, which no reader needs */
            atomic_store_rel(&h->cut, 1);   /* (ordered as in prune()) */
            atomic_store_rel(&h->next, NULL);
            h->newer = h;
            h->len = 1;
            atomic_store_rlx(&ix->retained, atomic_load_rlx(&ix->retained) - 1);
            atomic_store_rlx(&ix->history_bytes, atomic_load_rlx(&ix->history_bytes) - old->vlen);
            if (old->embedded)
                n->has_first = 2; /* out of its chain: see detach_first() */
            inmem__version_free(old);
            (*budget)--;
        } else {
            (void)prune(ix, n, min_snap, min_snap, 0, budget);
        }
        if (h->tomb && h->ver <= min_snap && !atomic_load_rlx(&h->next) && !n->hq_refs &&
            ret_reserve(ix, 1) == 0)
            unlink_node(ix, n, last_version);
        return;
    }
    uint64_t floor = min_snap;
    uint32_t count = 0;
    int flags = policy->keep ? policy->keep(policy->ctx, n, min_snap, &floor, &count) : 0;
    if (!(flags & INMEM__KEEP_HISTORY)) {
        floor = min_snap;
        count = 0;
    }
    if (floor > min_snap)
        floor = min_snap;
    int history = prune(ix, n, min_snap, floor, count, budget);
    inmem__version *h = atomic_load_rlx(&n->head);
    if (h->tomb && h->ver <= floor && !atomic_load_rlx(&h->next) && !(flags & INMEM__KEEP_TOMB) &&
        count <= 1 && !n->hq_refs && ret_reserve(ix, 1) == 0) {
        unlink_node(ix, n, last_version);
        return;
    }
    /* history kept for a window: visit again once the oldest floor has moved past it (kept
     * for a count only, it goes when newer versions come, which queue the node anyway). Once
     * at a time: a node already waiting is visited when its entry comes up, and queued again
     * then if it still has history (re-queued at every visit, a key written on and on left
     * one entry a write, for good) */
    if (history && floor < min_snap && !n->hq_refs)
        (void)hq_push(ix, n, h->ver);
}

int inmem__index_gc(inmem__index *ix, uint64_t min_snap, uint64_t last_version,
                    const inmem__gc_policy *policy)
{
    return inmem__index_gc_some(ix, min_snap, last_version, policy, SIZE_MAX, 0);
}

int inmem__index_gc_some(inmem__index *ix, uint64_t min_snap, uint64_t last_version,
                         const inmem__gc_policy *policy, size_t budget, int defer)
{
    ix->defer = defer;
    while (budget && ix->trash_len && !defer) /* what earlier collections cut off and left */
        free_some(ix, ix->trash[--ix->trash_len], &budget);
    const pending *f;
    while (budget && (f = queue_front(ix)) != NULL && f->ver <= min_snap) {
        budget--;
        inmem__node *n = f->node;
        queue_pop(ix);
        if (!policy)
            gc_ahead_plain(ix);
        else if ((f = queue_front(ix)) != NULL)
            gc_ahead(f->node);
        if (atomic_load_rlx(&n->dead))
            continue; /* retired by an earlier entry; not yet freed (I5) */
        gc_node(ix, n, min_snap, last_version, policy, &budget);
    }
    /* the history queue: entries in the order they were queued; each is visited once the oldest
     * floor any key may get has passed the version it was queued at */
    uint64_t hmin = policy ? policy->min_floor : min_snap;
    size_t visit = ix->hq_tail - ix->hq_head;
    while (budget && visit-- && ix->hq_head < ix->hq_tail && ix->hq[ix->hq_head].ver <= hmin) {
        budget--;
        pending e = ix->hq[ix->hq_head++];
        if (e.node->hq_refs < 127) /* (a saturated count stays: the node is never unlinked) */
            e.node->hq_refs--;
        if (!atomic_load_rlx(&e.node->dead))
            gc_node(ix, e.node, min_snap, last_version, policy, &budget);
    }
    if (ix->hq_head == ix->hq_tail)
        ix->hq_head = ix->hq_tail = 0;
    while (budget && ix->ret_head < ix->ret_len && ix->ret[ix->ret_head].tag < min_snap) {
        budget--;
        retired *r = &ix->ret[ix->ret_head++];
        if (r->is_node) {
            free_chain(atomic_load_rlx(&((inmem__node *)r->ptr)->head));
            node_release(r->ptr);
        } else {
            htab_release(ix, r->ptr);
        }
    }
    if (ix->ret_head == ix->ret_len)
        ix->ret_head = ix->ret_len = 0;
    if (ix->unmap_len && budget) {
        budget--;
        unmap_piece(ix);
    }
    if (!budget)
        return 2; /* the slice ran out: more is due at once */
    return ix->q_count || ix->ret_head < ix->ret_len || ix->trash_len || ix->unmap_len;
}

static int chain_ok(const inmem__node *n)
{
    const inmem__version *h = atomic_load_rlx(&n->head), *v = h, *prev = NULL;
    uint32_t len = 0;
    for (; v; prev = v, v = atomic_load_rlx(&v->next)) {
        if (++len > h->len || (prev && v->ver >= prev->ver) || (v != h && v->newer != prev))
            return 0;
    }
    return len == h->len && h->newer == prev;
}

int inmem__index_check_chains(inmem__index *ix, const inmem__node **bad)
{
    for (const inmem__node *n = atomic_load_rlx(&ix->head->next[0]); n;
         n = atomic_load_rlx(&n->next[0]))
        if (!chain_ok(n)) {
            if (bad)
                *bad = n;
            return -1;
        }
    return 0;
}

uint64_t inmem__index_history_bytes(const inmem__index *ix)
{
    return atomic_load_rlx(&((inmem__index *)ix)->history_bytes);
}

uint64_t inmem__index_live_bytes(const inmem__index *ix)
{
    return atomic_load_rlx(&((inmem__index *)ix)->live_bytes);
}

uint64_t inmem__index_keys(const inmem__index *ix)
{
    return atomic_load_rlx(&((inmem__index *)ix)->keys);
}

size_t inmem__index_history_queue(const inmem__index *ix)
{
    return ix->hq_tail - ix->hq_head;
}

size_t inmem__index_table_slots(const inmem__index *ix)
{
    return atomic_load_acq(&((inmem__index *)ix)->table)->mask + 1;
}

unsigned inmem__index_hint_lines(inmem__index *ix, const inmem__node *n, const void **line)
{
    uintptr_t hint = atomic_load_rlx(&htab_slot(ix, n)->hint);
    *line = (const void *)(hint & PTR_MASK & ~(uintptr_t)63);
    return (unsigned)(hint & HINT_LINES);
}

uint64_t inmem__index_retained(const inmem__index *ix)
{
    return atomic_load_rlx(&((inmem__index *)ix)->retained);
}
