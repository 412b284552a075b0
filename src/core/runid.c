/*
 * runid.c — 128-bit run ids: time-ordered (UUIDv7 layout), printable and parseable.
 *
 * Layout (RFC 9562 version 7 with a dedicated counter, "method 1"):
 *   bytes 0-5   Unix time in milliseconds, big-endian
 *   byte 6      0x70 | counter bits 41..38
 *   byte 7      counter bits 37..30
 *   byte 8      0x80 | counter bits 29..24 (variant 10)
 *   bytes 9-11  counter bits 23..0
 *   bytes 12-15 random
 * Within one millisecond the 42-bit counter increases by one per id (it starts at a random value
 * below 2^41 each new millisecond), so ids made by one process are strictly increasing; if the
 * clock steps back, the last millisecond is reused.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "core/clock.h"
#include "core/common.h"

static pthread_mutex_t gen_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t gen_ms, gen_counter;

static void random_bytes(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            /* No entropy source: fall back to the clock; ids stay unique by the counter. */
            uint64_t t = inmem__clock_mono_us() * 0x9e3779b97f4a7c15ull;
            for (; n > 0; n--, p++, t >>= 3)
                *p = (uint8_t)t;
            return;
        }
        p += r;
        n -= (size_t)r;
    }
}

int inmem_run_id_new(inmem_run_id *out)
{
    if (!out)
        return INMEM_EINVAL;
    uint64_t now = inmem__clock_wall_ms(), rnd;
    uint8_t tail[4];
    random_bytes(&rnd, sizeof rnd);
    random_bytes(tail, sizeof tail);
    pthread_mutex_lock(&gen_mu);
    if (now > gen_ms) {
        gen_ms = now;
        gen_counter = rnd & ((1ull << 41) - 1);
    } else if (++gen_counter >= (1ull << 42)) {
        gen_ms++;
        gen_counter = rnd & ((1ull << 41) - 1);
    }
    uint64_t ms = gen_ms, c = gen_counter;
    pthread_mutex_unlock(&gen_mu);
    uint8_t *b = out->bytes;
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | ((c >> 38) & 0x0f));
    b[7] = (uint8_t)(c >> 30);
    b[8] = (uint8_t)(0x80 | ((c >> 24) & 0x3f));
    b[9] = (uint8_t)(c >> 16);
    b[10] = (uint8_t)(c >> 8);
    b[11] = (uint8_t)c;
    memcpy(b + 12, tail, 4);
    return 0;
}

/* Dashes sit before bytes 4, 6, 8 and 10. */
static int dash_before(int i)
{
    return i == 4 || i == 6 || i == 8 || i == 10;
}

int inmem_run_id_format(const inmem_run_id *id, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    if (!id || !buf)
        return INMEM_EINVAL;
    char *p = buf;
    for (int i = 0; i < 16; i++) {
        if (dash_before(i))
            *p++ = '-';
        *p++ = hex[id->bytes[i] >> 4];
        *p++ = hex[id->bytes[i] & 15];
    }
    *p = '\0';
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int inmem_run_id_parse(const char *str, inmem_run_id *out)
{
    if (!str || !out)
        return INMEM_EINVAL;
    inmem_run_id id;
    const char *p = str;
    for (int i = 0; i < 16; i++) {
        if (dash_before(i) && *p++ != '-')
            return INMEM_EINVAL;
        int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);
        if (hi < 0 || lo < 0)
            return INMEM_EINVAL;
        id.bytes[i] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    if (*p != '\0')
        return INMEM_EINVAL;
    *out = id;
    return 0;
}

int inmem_run_id_is_shared(const inmem_run_id *id)
{
    if (!id)
        return 1;
    for (int i = 0; i < 16; i++)
        if (id->bytes[i])
            return 0;
    return 1;
}
