/* bench.h — the benchmark program's parts (bench.c runs them all). */
#ifndef INMEM_BENCH_H
#define INMEM_BENCH_H

/* Durability modes and recovery tables (bench_wal.c). */
void bench_wal(int full);
/* Agent primitives table (bench_prims.c). */
void bench_prims(int full);

#endif
