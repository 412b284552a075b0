/*
 * watch.c — inmem_wait() and watches: the primitive's key (a KV key, a state cell, an event
 * stream's head) encoded, and handed to the transaction layer's waiters (txn/watch.c).
 */
#include "primitives/rec.h"

struct inmem_watch {
    inmem__waiter *w;
};

/* The encoded key that moves when @p what changes: the KV key, the cell, or the stream's head
 * (written by every append). */
static int watched_key(inmem_db *db, inmem__keybuf *kb, const inmem_run_id *run,
                       inmem_primitive what, const void *key, size_t klen)
{
    switch (what) {
    case INMEM_PRIM_KV:
        return inmem__user_key(db->store, kb, run, INMEM__TAG_KV, key, klen);
    case INMEM_PRIM_STATE:
    case INMEM_PRIM_EVENT: {
        if (!key || klen == 0 || memchr(key, 0, klen))
            return INMEM_EINVAL;
        if (klen >= INMEM_NAME_MAX)
            return INMEM_ETOOBIG;
        uint8_t name[INMEM_NAME_MAX + 1];
        size_t n = 0;
        if (what == INMEM_PRIM_EVENT)
            name[n++] = 0x01; /* the stream's head: 0x01 · name · 0x00 */
        memcpy(name + n, key, klen);
        n += klen;
        if (what == INMEM_PRIM_EVENT)
            name[n++] = 0;
        return inmem__keybuf_make(
            kb, run, what == INMEM_PRIM_EVENT ? INMEM__TAG_EVENT : INMEM__TAG_STATE, name, n);
    }
    default:
        return INMEM_EINVAL;
    }
}

int inmem_wait(inmem_db *db, const inmem_run_id *run, inmem_primitive what, const void *key,
               size_t klen, uint64_t after_version, uint64_t timeout_ms, uint64_t *version)
{
    if (version)
        *version = 0;
    if (!db)
        return INMEM_EINVAL;
    inmem__keybuf kb;
    int rc = watched_key(db, &kb, run, what, key, klen);
    if (rc)
        return rc;
    uint64_t v = 0;
    rc = inmem__watch_wait(db->store, kb.p, kb.len, after_version, timeout_ms, &v);
    inmem__keybuf_done(&kb);
    if (rc == 0 && version)
        *version = v;
    return rc;
}

int inmem_watch_open(inmem_db *db, const inmem_run_id *run, inmem_primitive what, const void *key,
                     size_t klen, uint64_t after_version, inmem_watch **out)
{
    if (!out)
        return INMEM_EINVAL;
    *out = NULL;
    if (!db)
        return INMEM_EINVAL;
    inmem__keybuf kb;
    int rc = watched_key(db, &kb, run, what, key, klen);
    if (rc)
        return rc;
    inmem_watch *w = malloc(sizeof(*w));
    rc = w ? inmem__watch_open(db->store, kb.p, kb.len, after_version, &w->w) : INMEM_ENOMEM;
    inmem__keybuf_done(&kb);
    if (rc) {
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int inmem_watch_fd(const inmem_watch *w)
{
    return w ? inmem__watch_fd(w->w) : -1;
}

int inmem_watch_poll(inmem_watch *w, uint64_t *version)
{
    if (!w || !version)
        return INMEM_EINVAL;
    return inmem__watch_poll(w->w, version);
}

void inmem_watch_close(inmem_watch *w)
{
    if (!w)
        return;
    inmem__watch_close(w->w);
    free(w);
}
