/*
 * clock.h — time sources. Wall-clock milliseconds for TTL expiry and run ids (overridable in
 * tests through inmem__clock_set_override), monotonic microseconds for deadlines and back-off,
 * and a coarse monotonic clock (a few ms resolution, a few ns to read) for snapshot ages.
 */
#ifndef INMEM_CORE_CLOCK_H
#define INMEM_CORE_CLOCK_H

#include <stdint.h>

/* Unix time in milliseconds, or the test override when one is set. */
uint64_t inmem__clock_wall_ms(void);
/* Monotonic nanoseconds (CLOCK_MONOTONIC, the clock of timed waits on the log). */
uint64_t inmem__clock_mono_ns(void);
/* Monotonic microseconds. */
uint64_t inmem__clock_mono_us(void);
/* @p a + @p b, or UINT64_MAX if that wraps (deadlines of huge timeouts: "never"). */
static inline uint64_t inmem__add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}
/* Monotonic microseconds from the coarse clock (resolution of a few milliseconds). */
uint64_t inmem__clock_coarse_us(void);
/* Tests: make inmem__clock_wall_ms() return @p ms (0 turns the override off). */
void inmem__clock_set_override(uint64_t ms);
/* Sleeps @p us microseconds. */
void inmem__clock_sleep_us(uint64_t us);

#endif
