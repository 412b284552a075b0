/*
 * bytes.h — the on-disk integers every format of inmem uses: little-endian fixed-size integers
 * and LEB128 varints (7 bits a byte, low bits first, the high bit set on every byte but the last;
 * at most 10 bytes). Decoding never reads past the end it is given.
 */
#ifndef INMEM_CORE_BYTES_H
#define INMEM_CORE_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline void inmem__put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void inmem__put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t inmem__get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t inmem__get64(const uint8_t *p)
{
    return (uint64_t)inmem__get32(p) | (uint64_t)inmem__get32(p + 4) << 32;
}

/* ---- LEB128 varints ---- */

static inline size_t inmem__varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}
static inline size_t inmem__put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}
/* Reads a varint from [*p, end); advances *p. 0 if it runs past @p end or is longer than 10
 * bytes (or does not fit 64 bits), else 1. */
static inline int inmem__get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *q = *p;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (q >= end)
            return 0;
        uint8_t b = *q++;
        if (shift == 63 && b > 1)
            return 0;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *p = q;
            *out = v;
            return 1;
        }
    }
    return 0;
}

#endif
