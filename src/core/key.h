/*
 * key.h — the encoded key every layer below the primitives works with.
 *
 *   offset  size  field
 *   0       16    run id (all zero: the shared scope)
 *   16      1     primitive tag (INMEM__TAG_*)
 *   17      n     the primitive's key bytes (for kv: the user key as given)
 *
 * Plain memcmp order of encoded keys is therefore: run, then primitive, then user key, so all of
 * one run's data is one contiguous range, and within it each primitive's.
 */
#ifndef INMEM_CORE_KEY_H
#define INMEM_CORE_KEY_H

#include <stdint.h>
#include <string.h>

#include "inmem.h"

enum inmem__tag {
    INMEM__TAG_KV = 1,
    INMEM__TAG_EVENT = 2,
    INMEM__TAG_STATE = 3,
    INMEM__TAG_TRACE = 4,
    INMEM__TAG_RUN = 5,
    /* the engine's own records, in the shared scope only: a run's history policy ('h' · run id),
     * a fork ('f' · child run id); the transaction layer keeps them cached (txn/history.c) */
    INMEM__TAG_SYS = 6,
};

#define INMEM__KEY_PREFIX 17

/* Writes the 17-byte prefix of @p run's @p tag space into @p out. */
static inline void inmem__key_prefix(uint8_t *out, const inmem_run_id *run, uint8_t tag)
{
    if (run)
        memcpy(out, run->bytes, 16);
    else
        memset(out, 0, 16);
    out[16] = tag;
}

/* An encoded key built from (run, tag, bytes): on the stack when small, else on the heap. */
typedef struct inmem__keybuf {
    uint8_t *p;
    size_t len;
    uint8_t small[256];
} inmem__keybuf;

/* The heap half of inmem__keybuf_make(), for keys longer than the stack buffer. */
int inmem__keybuf_make_heap(inmem__keybuf *kb, const inmem_run_id *run, uint8_t tag,
                            const void *key, size_t klen);
void inmem__keybuf_free(inmem__keybuf *kb);

/* Builds @p run's @p tag key for @p key (klen bytes). INMEM_ENOMEM if it cannot. Inline: every
 * primitive call builds one, and the calls cost a get ~10 % of its instructions. */
static inline int inmem__keybuf_make(inmem__keybuf *kb, const inmem_run_id *run, uint8_t tag,
                                     const void *key, size_t klen)
{
    if (klen > sizeof(kb->small) - INMEM__KEY_PREFIX)
        return inmem__keybuf_make_heap(kb, run, tag, key, klen);
    kb->p = kb->small;
    kb->len = INMEM__KEY_PREFIX + klen;
    inmem__key_prefix(kb->small, run, tag);
    if (klen)
        memcpy(kb->small + INMEM__KEY_PREFIX, key, klen);
    return 0;
}

/* Frees what inmem__keybuf_make() allocated. */
static inline void inmem__keybuf_done(inmem__keybuf *kb)
{
    if (kb->p != kb->small)
        inmem__keybuf_free(kb);
    kb->p = NULL;
}

#endif
