/* bench.h — the benchmark program's parts (bench.c runs them all). */
#ifndef INMEM_BENCH_H
#define INMEM_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds (bench.c). */
uint64_t bench_now_ns(void);

/* Durability modes and recovery tables (bench_wal.c); the recovery table alone if asked. */
void bench_wal(int full, int recovery_only);
/* Agent primitives table (bench_prims.c). */
void bench_prims(int full);
/* The original plan's targets, issue 14 items 5 and 6 (bench_seed.c): commit latency by
 * read-set size, then the seed's targets table. */
void bench_seed(int full);
/* Commit pauses of hot keys under long snapshots (bench_pauses.c). */
void bench_pauses(int full);
/* The machine's random-access latency by the size of the memory it is spread over, with small
 * and huge pages (bench_memlat.c). */
void bench_memlat(void);

/* A fresh directory under $TMPDIR (default /tmp) for a benchmark's database, and its removal
 * (the files in it, then the directory). */
void bench_tmp_dir(char *buf, size_t cap);
void bench_rm_dir(const char *dir);

/* inmem_db_close(), waiting (up to 10 s) while it returns INMEM_EBUSY with no transaction of
 * ours open: a background checkpoint holds its snapshot and close refuses instead of stopping it
 * (a library bug); bench_close_busy() counts the closes that had to wait. */
struct inmem_db;
int bench_close(struct inmem_db *db);
unsigned long bench_close_busy(void);

#endif
