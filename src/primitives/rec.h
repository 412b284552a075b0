/*
 * rec.h — what the primitives share: encoding their records (a growable little-endian writer and
 * a bounds-checked reader, so that a corrupt record gives INMEM_ECORRUPT, never a crash), checking
 * names, building their keys, and running an operation standalone (its own transaction).
 *
 * Every stored record starts with one format byte (INMEM__FMT_V1); records are described in
 * docs/FORMAT.md.
 */
#ifndef INMEM_PRIMITIVES_REC_H
#define INMEM_PRIMITIVES_REC_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/key.h"
#include "engine/db.h"

#define INMEM__FMT_V1 1

/* events.c: decodes an event record that should be event @p seq (@p out borrows the payload);
 * INMEM_ECORRUPT. */
int inmem__event_decode(const void *val, size_t vlen, uint64_t seq, inmem_event *out);

/* kv.c: a page of a key's history (inmem_kv_history()); @p state: the versions are state cell
 * records, whose format byte is checked and stripped. */
int inmem__history_page(inmem_txn *txn, const uint8_t *key, size_t klen, uint64_t before,
                        size_t limit, inmem_version_info *out, size_t *n, int state);

/* ---- writing ---- */

typedef struct inmem__wbuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
    uint8_t small[256];
} inmem__wbuf;

static inline void inmem__wbuf_init(inmem__wbuf *b)
{
    b->p = b->small;
    b->len = 0;
    b->cap = sizeof b->small;
    b->oom = 0;
}

static inline void inmem__wbuf_free(inmem__wbuf *b)
{
    if (b->p != b->small)
        free(b->p);
    b->p = NULL;
}

/* @p n more bytes at the end of @p b; NULL (and b->oom: out of memory) if they cannot be had.
 * Callers check a record's size against the database's limits before building it; this only
 * keeps a size beyond what a size_t can double to from wrapping (len + n around to a small
 * number, cap * 2 to 0 and a loop for ever): it fails like any allocation that cannot be made. */
static inline uint8_t *inmem__wbuf_room(inmem__wbuf *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (n > b->cap - b->len) {
        if (b->len > SIZE_MAX / 2 || n > SIZE_MAX / 2 - b->len) { /* no cap doubled reaches it */
            b->oom = 1;
            return NULL;
        }
        size_t cap = b->cap * 2;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = malloc(cap);
        if (!np) {
            b->oom = 1;
            return NULL;
        }
        memcpy(np, b->p, b->len);
        if (b->p != b->small)
            free(b->p);
        b->p = np;
        b->cap = cap;
    }
    uint8_t *at = b->p + b->len;
    b->len += n;
    return at;
}

static inline void inmem__wbuf_bytes(inmem__wbuf *b, const void *src, size_t n)
{
    uint8_t *at = inmem__wbuf_room(b, n);
    if (at && n)
        memcpy(at, src, n);
}

static inline void inmem__wbuf_u8(inmem__wbuf *b, uint8_t v)
{
    inmem__wbuf_bytes(b, &v, 1);
}

static inline void inmem__wbuf_u32(inmem__wbuf *b, uint32_t v)
{
    uint8_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    inmem__wbuf_bytes(b, t, 4);
}

static inline void inmem__wbuf_u64(inmem__wbuf *b, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    inmem__wbuf_bytes(b, t, 8);
}

/* Big-endian, for keys whose memcmp order must follow the number. */
static inline void inmem__wbuf_u64be(inmem__wbuf *b, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (56 - 8 * i));
    inmem__wbuf_bytes(b, t, 8);
}

/* A length-prefixed (u32) byte string. */
static inline void inmem__wbuf_blob(inmem__wbuf *b, const void *src, size_t n)
{
    inmem__wbuf_u32(b, (uint32_t)n);
    inmem__wbuf_bytes(b, src, n);
}

/* A string stored with a u8 length and a NUL (names are < INMEM_NAME_MAX). */
static inline void inmem__wbuf_name(inmem__wbuf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    inmem__wbuf_u8(b, (uint8_t)n);
    inmem__wbuf_bytes(b, s ? s : "", n);
    inmem__wbuf_u8(b, 0);
}

/* ---- reading ---- */

typedef struct inmem__rbuf {
    const uint8_t *p;
    size_t len, off;
    int bad;
} inmem__rbuf;

static inline void inmem__rbuf_init(inmem__rbuf *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
    r->bad = 0;
}

static inline const uint8_t *inmem__rbuf_take(inmem__rbuf *r, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *at = r->p + r->off;
    r->off += n;
    return at;
}

static inline uint8_t inmem__rbuf_u8(inmem__rbuf *r)
{
    const uint8_t *p = inmem__rbuf_take(r, 1);
    return p ? p[0] : 0;
}

static inline uint32_t inmem__rbuf_u32(inmem__rbuf *r)
{
    const uint8_t *p = inmem__rbuf_take(r, 4);
    uint32_t v = 0;
    for (int i = 0; p && i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t inmem__rbuf_u64(inmem__rbuf *r)
{
    const uint8_t *p = inmem__rbuf_take(r, 8);
    uint64_t v = 0;
    for (int i = 0; p && i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t inmem__get64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* A length-prefixed byte string: pointer into the record (NULL and 0 on error). */
static inline const uint8_t *inmem__rbuf_blob(inmem__rbuf *r, size_t *n)
{
    uint32_t len = inmem__rbuf_u32(r);
    const uint8_t *p = inmem__rbuf_take(r, len);
    *n = p ? len : 0;
    return p;
}

/* A name into @p out (INMEM_NAME_MAX bytes, NUL-terminated). */
static inline void inmem__rbuf_name(inmem__rbuf *r, char *out)
{
    uint8_t n = inmem__rbuf_u8(r);
    const uint8_t *p = inmem__rbuf_take(r, (size_t)n + 1);
    if (!p || n >= INMEM_NAME_MAX || p[n] != 0) {
        r->bad = 1;
        out[0] = '\0';
        return;
    }
    memcpy(out, p, (size_t)n + 1);
}

/* ---- names and keys ---- */

/* 0 if @p s is a valid name (1..INMEM_NAME_MAX-1 bytes), else INMEM_EINVAL / INMEM_ETOOBIG. */
static inline int inmem__check_name(const char *s)
{
    if (!s || !*s)
        return INMEM_EINVAL;
    return strlen(s) >= INMEM_NAME_MAX ? INMEM_ETOOBIG : 0;
}

/* 0 if @p s is NULL, empty or a valid name. */
static inline int inmem__check_opt_name(const char *s)
{
    return (!s || !*s) ? 0 : inmem__check_name(s);
}

/* Starts an encoded key in @p b: the run's 17-byte prefix for @p tag. */
static inline void inmem__wbuf_key(inmem__wbuf *b, const inmem_run_id *run, uint8_t tag)
{
    uint8_t *at = inmem__wbuf_room(b, INMEM__KEY_PREFIX);
    if (at)
        inmem__key_prefix(at, run, tag);
}

#endif
