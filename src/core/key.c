/*
 * key.c — building encoded keys (layout in key.h).
 */
#include <stdlib.h>

#include "core/key.h"

int inmem__keybuf_make_heap(inmem__keybuf *kb, const inmem_run_id *run, uint8_t tag,
                            const void *key, size_t klen)
{
    kb->len = INMEM__KEY_PREFIX + klen;
    kb->p = malloc(kb->len);
    if (!kb->p)
        return INMEM_ENOMEM;
    inmem__key_prefix(kb->p, run, tag);
    memcpy(kb->p + INMEM__KEY_PREFIX, key, klen);
    return 0;
}

void inmem__keybuf_free(inmem__keybuf *kb)
{
    free(kb->p);
}
