/*
 * valloc.c — the allocator of versions (see valloc.h for why it exists).
 *
 * Layout. Memory comes from the kernel in regions of REGION_PAGES pages of PAGE_BYTES, aligned to
 * PAGE_BYTES, so that an object's page is its address with the low bits cleared. A page serves
 * one class: a header, then objects cut from it in order as they are first needed (a fresh page
 * costs no memory until used). A page's freed objects are bits in a bitmap in its header, not a
 * list through the objects: a refill after a long snapshot's end takes objects that another
 * thread freed long ago, and a list would make it load each one (a cache miss each, in a chain of
 * dependent loads: 7 % of a writer's time while checkpoints ran) only to find the next.
 *
 * Ownership. A thread takes objects from its own cache (one list per class) and frees into it,
 * with no lock. Only when a list is empty (refill) or holds more than CACHE_MAX (spill) does the
 * thread take the depot's mutex and move BATCH objects between its list and pages. A page counts
 * the objects out of it (in threads' caches or in use); when a spill brings that to zero and the
 * class has another page with room, the page joins the empty pages, which serve any class. Empty
 * pages go back to the kernel only in inmem__valloc_trim(), which a committer never calls: an
 * munmap costs a TLB shootdown on every core the process runs on, and on these VMs that took
 * milliseconds when the other vCPU was not running. A thread's cache goes back to the pages when
 * the thread exits (a thread-specific value's destructor); what the thread frees or takes after
 * that (in another key's destructor) goes straight to or from the pages.
 */
#include "storage/valloc.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "core/common.h"

#define VALLOC_MIN   64
#define VALLOC_STEP  16
#define VALLOC_MAX   512
#define NCLASS       ((VALLOC_MAX - VALLOC_MIN) / VALLOC_STEP + 1)
#define PAGE_BYTES   ((size_t)256 << 10)
#define REGION_PAGES 8
#define HEADER_BYTES 576 /* the header: its fields, then the bitmap of free objects */
#define MAP_WORDS    64  /* bits for up to 4,096 objects: a page of 64-byte ones holds 4,087 */
#define BATCH        32
#define CACHE_MAX    (2 * BATCH)
#define EMPTY_KEEP   64 /* empty pages kept for reuse before any is unmapped (16 MiB) */

#if defined(__SANITIZE_ADDRESS__)
#define VALLOC_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VALLOC_OFF 1
#endif
#endif

typedef struct vpage {
    struct vpage *next, *prev; /* in its class's list of pages with room (when in_list) */
    uint32_t nfree;            /* objects returned to this page (bits set in map) */
    uint32_t hint;             /* no word of map below this one has a bit set */
    uint32_t out;              /* objects out of the page: in threads' caches or in use */
    uint32_t carved;           /* objects cut so far */
    uint32_t cap;              /* objects it holds */
    uint32_t size;             /* bytes an object of its class takes */
    uint16_t cls;
    uint8_t in_list;
    uint64_t map[MAP_WORDS] __attribute__((aligned(64))); /* bit i: object i is free here */
} vpage;

_Static_assert(sizeof(vpage) <= HEADER_BYTES, "the page header fits before the first object");
_Static_assert((PAGE_BYTES - HEADER_BYTES) / VALLOC_MIN <= MAP_WORDS * 64,
               "the bitmap covers a page of the smallest objects");

static struct {
    pthread_mutex_t mu;
    vpage *room[NCLASS]; /* pages with a free or uncut object */
    vpage *fresh;        /* mapped pages serving no class (linked through next) */
    uint64_t nfresh;     /* how many */
    uint64_t pages;      /* pages mapped */
    uint64_t out;        /* objects out of their pages (the sum of every page's out) */
} depot = {
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    /* spins before it sleeps: a thread freeing a backlog takes the lock every BATCH frees, and a
     * waiter put to sleep on a plain mutex was woken only to find it taken again (4 ms waits) */
    .mu = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP,
#else
    .mu = PTHREAD_MUTEX_INITIALIZER,
#endif
};

typedef struct tcache {
    void *head[NCLASS];
    uint32_t n[NCLASS];
    int registered;
    int exited; /* its destructor ran: the thread is exiting, and caches nothing from now on */
} tcache;

static _Thread_local tcache tc;
static pthread_key_t tc_key;
static pthread_once_t tc_once = PTHREAD_ONCE_INIT;

static void tc_init(void);

/* The depot's lock, taken only once the fork handlers are registered (tc_init()): a fork while
 * another thread held it with no handler to take it first left the child a lock no thread would
 * ever release, and its first allocation hung. A trim takes the lock in a thread (a database's
 * sweeper, its close) that may have allocated nothing yet, so every taker makes sure. */
static void depot_lock(void)
{
    pthread_once(&tc_once, tc_init);
    pthread_mutex_lock(&depot.mu);
}

static size_t class_size(unsigned cls)
{
    return VALLOC_MIN + (size_t)cls * VALLOC_STEP;
}

unsigned inmem__valloc_class(size_t size)
{
#ifdef VALLOC_OFF
    (void)size;
    return VALLOC_NONE;
#else
    if (size > VALLOC_MAX)
        return VALLOC_NONE;
    return size <= VALLOC_MIN ? 0 : (unsigned)((size - VALLOC_MIN + VALLOC_STEP - 1) / VALLOC_STEP);
#endif
}

static vpage *page_of(const void *p)
{
    return (vpage *)((uintptr_t)p & ~(uintptr_t)(PAGE_BYTES - 1));
}

static void list_add(vpage **head, vpage *pg)
{
    pg->prev = NULL;
    pg->next = *head;
    if (*head)
        (*head)->prev = pg;
    *head = pg;
    pg->in_list = 1;
}

static void list_remove(vpage **head, vpage *pg)
{
    if (pg->prev)
        pg->prev->next = pg->next;
    else
        *head = pg->next;
    if (pg->next)
        pg->next->prev = pg->prev;
    pg->in_list = 0;
}

/* A page for class @p cls: a fresh one, mapping a region when none is left. Depot locked. */
static vpage *page_new(unsigned cls)
{
    if (!depot.fresh) {
        size_t want = REGION_PAGES * PAGE_BYTES;
        uint8_t *p = mmap(NULL, want + PAGE_BYTES, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        uint8_t *a = (uint8_t *)(((uintptr_t)p + PAGE_BYTES - 1) & ~(uintptr_t)(PAGE_BYTES - 1));
        if (a > p)
            munmap(p, (size_t)(a - p));
        if (a + want < p + want + PAGE_BYTES)
            munmap(a + want, (size_t)(p + want + PAGE_BYTES - (a + want)));
        for (size_t i = REGION_PAGES; i-- > 0;) {
            vpage *pg = (vpage *)(a + i * PAGE_BYTES);
            pg->next = depot.fresh;
            depot.fresh = pg;
        }
        depot.pages += REGION_PAGES;
        depot.nfresh += REGION_PAGES;
    }
    vpage *pg = depot.fresh;
    depot.fresh = pg->next;
    depot.nfresh--;
    if (pg->nfree) /* emptied by give(): every object it had cut is a bit in its map */
        memset(pg->map, 0, sizeof pg->map);
    pg->nfree = pg->hint = 0;
    pg->out = pg->carved = 0;
    pg->size = (uint32_t)class_size(cls);
    pg->cap = (uint32_t)((PAGE_BYTES - HEADER_BYTES) / pg->size);
    pg->cls = (uint16_t)cls;
    pg->in_list = 0;
    return pg;
}

/* One object of class @p cls from the pages. Depot locked. */
static void *take(unsigned cls)
{
    for (;;) {
        vpage *pg = depot.room[cls];
        if (!pg) {
            if (!(pg = page_new(cls)))
                return NULL;
            list_add(&depot.room[cls], pg);
        }
        void *p;
        if (pg->nfree) { /* the lowest free object: only the header's lines are read */
            uint32_t w = pg->hint;
            while (!pg->map[w])
                w++;
            unsigned b = (unsigned)__builtin_ctzll(pg->map[w]);
            pg->map[w] &= pg->map[w] - 1;
            pg->hint = w;
            pg->nfree--;
            p = (uint8_t *)pg + HEADER_BYTES + ((size_t)w * 64 + b) * pg->size;
        } else if (pg->carved < pg->cap) {
            p = (uint8_t *)pg + HEADER_BYTES + (size_t)pg->carved++ * pg->size;
        } else {
            list_remove(&depot.room[cls], pg); /* full: back in a list when an object returns */
            continue;
        }
        pg->out++;
        depot.out++;
        return p;
    }
}

/* Returns object @p p to its page. Depot locked. */
static void give(void *p)
{
    vpage *pg = page_of(p);
    unsigned cls = pg->cls;
    uint32_t i = (uint32_t)((size_t)((uint8_t *)p - (uint8_t *)pg - HEADER_BYTES) / pg->size);
    pg->map[i / 64] |= (uint64_t)1 << (i % 64);
    if (i / 64 < pg->hint)
        pg->hint = i / 64;
    pg->nfree++;
    pg->out--;
    depot.out--;
    if (!pg->in_list)
        list_add(&depot.room[cls], pg);
    if (pg->out == 0 && (pg->prev || pg->next)) { /* empty, and not the class's only page */
        list_remove(&depot.room[cls], pg);
        pg->next = depot.fresh; /* for any class */
        depot.fresh = pg;
        depot.nfresh++;
    }
}

void inmem__valloc_trim(int all)
{
    vpage *gone = NULL;
    depot_lock();
    while (depot.nfresh > (all ? 0 : EMPTY_KEEP) && (all || depot.nfresh * 4 > depot.pages)) {
        vpage *pg = depot.fresh;
        depot.fresh = pg->next;
        depot.nfresh--;
        depot.pages--;
        pg->next = gone;
        gone = pg;
    }
    pthread_mutex_unlock(&depot.mu);
    /* unmapped without the lock: each munmap takes tens of microseconds (more when another vCPU
     * must acknowledge the TLB shootdown), and committers refill under that lock */
    while (gone) {
        vpage *next = gone->next;
        munmap(gone, PAGE_BYTES);
        gone = next;
    }
}

static void spill(unsigned cls, uint32_t keep)
{
    depot_lock();
    while (tc.n[cls] > keep) {
        void *p = tc.head[cls];
        tc.head[cls] = *(void **)p;
        tc.n[cls]--;
        give(p);
    }
    pthread_mutex_unlock(&depot.mu);
}

void inmem__valloc_flush_thread(void)
{
    for (unsigned c = 0; c < NCLASS; c++)
        if (tc.n[c])
            spill(c, 0);
}

static void tc_exit(void *arg)
{
    (void)arg;
    inmem__valloc_flush_thread();
    /* A later destructor (another key's, in this round or a later one) may still free or take
     * versions: from now on they go straight to and from the pages. Registering again would
     * have glibc run the destructors once more, but only for PTHREAD_DESTRUCTOR_ITERATIONS
     * rounds in all: what a later round put in the cache was lost to every thread. */
    tc.registered = 0;
    tc.exited = 1;
}

static void atfork_prepare(void)
{
    pthread_mutex_lock(&depot.mu);
}

static void atfork_release(void)
{
    pthread_mutex_unlock(&depot.mu); /* (in the child, its one thread is the one that locked it) */
}

static void tc_init(void)
{
    (void)pthread_key_create(&tc_key, tc_exit);
    (void)pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

/* So that this thread's cache goes back to the pages when it exits (its objects would be lost
 * to every later thread, and their pages never empty). */
static __attribute__((noinline)) void tc_register(void)
{
    pthread_once(&tc_once, tc_init);
    (void)pthread_setspecific(tc_key, &tc);
    tc.registered = 1;
}

static __attribute__((noinline)) void *refill(unsigned cls)
{
    if (!tc.registered && tc.exited) { /* an exiting thread: one object, no cache */
        depot_lock();
        void *r = take(cls);
        pthread_mutex_unlock(&depot.mu);
        return r;
    }
    if (!tc.registered)
        tc_register();
    depot_lock();
    void *r = take(cls);
    for (int i = 1; r && i < BATCH; i++) {
        void *p = take(cls);
        if (!p)
            break;
        *(void **)p = tc.head[cls];
        tc.head[cls] = p;
        tc.n[cls]++;
    }
    pthread_mutex_unlock(&depot.mu);
    return r;
}

void *inmem__valloc(unsigned cls)
{
    void *p = tc.head[cls];
    if (INMEM_LIKELY(p != NULL)) {
        tc.head[cls] = *(void **)p;
        tc.n[cls]--;
        return p;
    }
    return refill(cls);
}

static __attribute__((noinline)) void give_one(void *p)
{
    depot_lock();
    give(p);
    pthread_mutex_unlock(&depot.mu);
}

void inmem__vfree(void *p, unsigned cls)
{
    if (INMEM_UNLIKELY(!tc.registered)) { /* a thread that only frees (a snapshot's end) */
        if (tc.exited) {                  /* or one exiting: no cache */
            give_one(p);
            return;
        }
        tc_register();
    }
    *(void **)p = tc.head[cls];
    tc.head[cls] = p;
    if (INMEM_UNLIKELY(++tc.n[cls] > CACHE_MAX))
        spill(cls, CACHE_MAX - BATCH);
}

void inmem__valloc_stats_get(inmem__valloc_stats *out)
{
    depot_lock();
    out->pages = depot.pages;
    out->mapped_bytes = depot.pages * PAGE_BYTES;
    out->objects = depot.out;
    pthread_mutex_unlock(&depot.mu);
}
