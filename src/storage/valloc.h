/*
 * valloc.h — the allocator of versions (issue 14 item 2).
 *
 * Every overwrite makes a version and the garbage collector frees one, millions a second, in
 * whatever thread commits or ends a snapshot. Through malloc, the freed versions of a long
 * snapshot's backlog (millions of small chunks) sat in glibc's fast bins, and the next free that
 * coalesced past 64 KiB, or a malloc that found the heap's top too small, ran
 * malloc_consolidate() over all of them: a commit paused for 0.1-0.4 s (inmem_bench --pauses).
 *
 * Versions of up to 512 bytes (header included) come from here instead: size classes 16 bytes
 * apart from 64, a cache per thread and class (no lock, no atomic on either path), refilled from
 * and spilled to a shared depot in batches under one mutex, and pages of one class whose objects
 * return to the page they were cut from, so that a page whose objects are all free can go back
 * to the kernel (inmem__valloc_trim). Bigger versions, and every version in AddressSanitizer
 * builds (so that it sees every access after a free), use malloc.
 */
#ifndef INMEM_STORAGE_VALLOC_H
#define INMEM_STORAGE_VALLOC_H

#include <stddef.h>
#include <stdint.h>

/* The class of an object of @p size bytes, or VALLOC_NONE if it is malloc's. */
#define VALLOC_NONE 0xff
unsigned inmem__valloc_class(size_t size);
/* An object of class @p cls (not VALLOC_NONE), or NULL if out of memory. */
void *inmem__valloc(unsigned cls);
/* Returns object @p p of class @p cls. Any thread may free what any other allocated. */
void inmem__vfree(void *p, unsigned cls);

/* For tests: the pages mapped (in use, or empty and kept for reuse) and their bytes. */
typedef struct inmem__valloc_stats {
    uint64_t mapped_bytes;
    uint64_t pages;
    uint64_t objects; /* out of their pages: in use, or in a thread's cache */
} inmem__valloc_stats;
void inmem__valloc_stats_get(inmem__valloc_stats *out);
/* Unmaps empty pages: with @p all every one, else those past the larger of 16 MiB and a quarter
 * of the pages mapped. Costs a TLB shootdown each: not for a committer. */
void inmem__valloc_trim(int all);
/* Returns this thread's cached objects to their pages (done at thread exit too). */
void inmem__valloc_flush_thread(void);

#endif
