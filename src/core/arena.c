/*
 * arena.c — bump allocator (see arena.h). Chunks grow geometrically from 4 KiB; an allocation
 * larger than half a chunk gets a chunk of its own.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/arena.h"

struct inmem__arena_chunk {
    inmem__arena_chunk *prev;
    size_t size;
    _Alignas(16) unsigned char data[];
};

#define FIRST_CHUNK 4096

void *inmem__arena_alloc(inmem__arena *a, size_t n)
{
    if (n > SIZE_MAX / 4 - sizeof(inmem__arena_chunk))
        return NULL; /* (callers' sizes are capped far below; the doubling below must not wrap) */
    n = (n + 7) & ~(size_t)7;
    inmem__arena_chunk *c = a->chunk;
    if (!c || a->used + n > c->size) {
        size_t size = c ? c->size * 2 : FIRST_CHUNK;
        while (size < n * 2)
            size *= 2;
        inmem__arena_chunk *nc = malloc(sizeof(*nc) + size);
        if (!nc)
            return NULL;
        nc->prev = c;
        nc->size = size;
        a->chunk = c = nc;
        a->used = 0;
    }
    void *p = c->data + a->used;
    a->used += n;
    return p;
}

void inmem__arena_reset(inmem__arena *a)
{
    inmem__arena_chunk *c = a->chunk;
    while (c && c->prev) {
        inmem__arena_chunk *prev = c->prev;
        free(c);
        c = prev;
    }
    a->chunk = c;
    a->used = 0;
}

void inmem__arena_free(inmem__arena *a)
{
    inmem__arena_reset(a);
    free(a->chunk);
    a->chunk = NULL;
}
