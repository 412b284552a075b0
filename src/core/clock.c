/*
 * clock.c — time sources (see clock.h).
 */
#include <time.h>

#include "core/clock.h"
#include "core/common.h"

static _Atomic uint64_t wall_override;

static uint64_t read_clock(clockid_t id, uint64_t div)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) / div;
}

uint64_t inmem__clock_wall_ms(void)
{
    uint64_t o = atomic_load_rlx(&wall_override);
    return o ? o : read_clock(CLOCK_REALTIME, 1000000);
}

uint64_t inmem__clock_mono_ns(void)
{
    return read_clock(CLOCK_MONOTONIC, 1);
}

uint64_t inmem__clock_mono_us(void)
{
    return read_clock(CLOCK_MONOTONIC, 1000);
}

uint64_t inmem__clock_coarse_us(void)
{
    return read_clock(CLOCK_MONOTONIC_COARSE, 1000);
}

void inmem__clock_set_override(uint64_t ms)
{
    atomic_store_rlx(&wall_override, ms);
}

void inmem__clock_sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}
