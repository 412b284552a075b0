/*
 * arena.h — a bump allocator for memory that lives exactly as long as one transaction (copies of
 * keys it read or wrote). Reset keeps the first chunk, so a reused transaction allocates nothing.
 */
#ifndef INMEM_CORE_ARENA_H
#define INMEM_CORE_ARENA_H

#include <stddef.h>

typedef struct inmem__arena_chunk inmem__arena_chunk;

typedef struct inmem__arena {
    inmem__arena_chunk *chunk; /* current chunk; older ones follow its `prev` */
    size_t used;               /* bytes used in the current chunk */
} inmem__arena;

/* Returns @p n bytes aligned to 8, or NULL if out of memory. */
void *inmem__arena_alloc(inmem__arena *a, size_t n);
/* Frees every chunk but the first (smallest) and makes it empty. */
void inmem__arena_reset(inmem__arena *a);
/* Frees everything. */
void inmem__arena_free(inmem__arena *a);

#endif
