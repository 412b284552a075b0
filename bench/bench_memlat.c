/*
 * bench_memlat.c — the machine's memory, as the engine's benchmarks meet it (`inmem_bench
 * --memory`): how long one random load takes, by how much memory the loads are spread over.
 *
 * Every point read and overwrite of a key inmem does not have in cache waits for a few loads
 * like these (the hash slot, the node, a version), and so does every other engine's. Where that
 * wait grows with the data's size, a ratio of two workloads of different sizes (a database
 * keeping ten versions a key against one keeping one) measures the machine as much as the
 * engine; docs/BENCHMARKS.md quotes this table beside such ratios.
 *
 * Method: a region of S bytes (mapped, aligned to 2 MiB, every page touched first) is split in
 * 64-byte lines linked in one random cycle; a chain of 4,000,000 dependent loads follows it (each
 * load's address comes from the one before, so their misses cannot overlap), timed with
 * CLOCK_MONOTONIC. Each size twice: with the region advised MADV_NOHUGEPAGE and MADV_HUGEPAGE,
 * and the huge pages the kernel gave reported (AnonHugePages of /proc/self/smaps_rollup). On
 * bare metal huge pages shorten a miss over a large region (fewer TLB misses); in a VM whose
 * memory the host backs with small pages they change nothing.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench/bench.h"

#define LINE  64
#define STEPS 4000000u
#define ALIGN ((size_t)2 << 20)

/* AnonHugePages of this process, in KiB (0 if unknown). */
static uint64_t anon_huge_kib(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f)
        return 0;
    char line[256];
    uint64_t kib = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "AnonHugePages: %" SCNu64, &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* ns per dependent load over @p bytes; *huge_kib gets the huge pages the region got. -1 if the
 * memory could not be had. */
static double chase(size_t bytes, int huge, uint64_t *huge_kib)
{
    size_t map = bytes + ALIGN;
    uint8_t *raw = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return -1;
    uint8_t *a = (uint8_t *)(((uintptr_t)raw + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    (void)madvise(a, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    memset(a, 1, bytes);
    size_t n = bytes / LINE;
    uint32_t *perm = malloc(n * sizeof(*perm));
    if (!perm) {
        munmap(raw, map);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    uint64_t x = 0x9E3779B97F4A7C15ull; /* xorshift64; Fisher-Yates */
    for (size_t i = n - 1; i > 0; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t j = (size_t)(x % (i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        *(uint8_t **)(a + (size_t)perm[i] * LINE) = a + (size_t)perm[(i + 1) % n] * LINE;
    free(perm);
    *huge_kib = anon_huge_kib();
    uint8_t *p = a;
    for (unsigned i = 0; i < STEPS / 8; i++) /* warm the caches and the TLB as far as they go */
        p = *(uint8_t **)p;
    uint64_t t0 = bench_now_ns();
    for (unsigned i = 0; i < STEPS; i++)
        p = *(uint8_t **)p;
    uint64_t dt = bench_now_ns() - t0;
    /* p is used, so the chain is not optimised away; it is always inside the region */
    if (p < a || p >= a + bytes)
        abort();
    munmap(raw, map);
    return (double)dt / STEPS;
}

void bench_memlat(void)
{
    static const unsigned mib[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    printf("\nmemory: one random load at a time (a chain of %u dependent 64-byte loads) over a "
           "region of S MiB\n",
           STEPS);
    printf("  %8s %14s %14s %22s\n", "S MiB", "ns/load small", "ns/load huge",
           "huge pages given (MiB)");
    for (size_t i = 0; i < sizeof(mib) / sizeof(mib[0]); i++) {
        size_t bytes = (size_t)mib[i] << 20;
        uint64_t hk_small = 0, hk_huge = 0;
        double small = chase(bytes, 0, &hk_small);
        double huge = chase(bytes, 1, &hk_huge);
        if (small < 0 || huge < 0) {
            printf("  %8u  (could not map the region)\n", mib[i]);
            continue;
        }
        printf("  %8u %14.1f %14.1f %22.1f\n", mib[i], small, huge, (double)hk_huge / 1024.0);
    }
}
