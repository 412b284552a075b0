/*
 * hash.h — a fast 64-bit hash of byte strings for the in-memory hash index and the
 * transaction's read/write set indexes. Not for anything stored on disk (its output may change
 * between releases) and not cryptographic.
 *
 * Construction: 16-byte blocks folded with 64x64->128-bit multiplies ("folded multiply"), the
 * length mixed in up front, and a final fold. Good dispersion for short keys, ~1 ns per 16 B.
 */
#ifndef INMEM_CORE_HASH_H
#define INMEM_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t inmem__fold(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t inmem__load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t inmem__load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t inmem__hash(const void *data, size_t n)
{
    const uint8_t *p = (const uint8_t *)data;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n * 0xc2b2ae3d27d4eb4full);
    while (n >= 16) {
        h = inmem__fold(inmem__load64(p) ^ 0xa0761d6478bd642full,
                        inmem__load64(p + 8) ^ h ^ 0xe7037ed1a0b428dbull);
        p += 16;
        n -= 16;
    }
    if (n >= 8) {
        h = inmem__fold(inmem__load64(p) ^ 0x8ebc6af09c88c6e3ull, h ^ 0x589965cc75374cc3ull);
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        /* the 1..7 tail bytes without a byte loop: a byte-wise copy into a word stalls the
         * load that follows (no store forwarding), ~10 % of a short-key put */
        uint64_t t;
        if (p - (const uint8_t *)data >= 8 - (ptrdiff_t)n)
            t = inmem__load64(p + n - 8) >> (8 * (8 - n)); /* overlaps bytes already hashed */
        else if (n >= 4)
            t = (uint64_t)inmem__load32(p) << 32 | inmem__load32(p + n - 4);
        else
            t = (uint64_t)p[0] << 16 | (uint64_t)p[n >> 1] << 8 | p[n - 1];
        h = inmem__fold(t ^ 0x1d8e4e27c47d124full, h ^ ((uint64_t)n << 56));
    }
    return inmem__fold(h ^ 0xa0761d6478bd642full, 0xe7037ed1a0b428dbull ^ (h >> 29));
}

#endif
