/* bench.h — the benchmark program's parts (bench.c runs them all). */
#ifndef INMEM_BENCH_H
#define INMEM_BENCH_H

#include <stddef.h>

/* Durability modes and recovery tables (bench_wal.c); the recovery table alone if asked. */
void bench_wal(int full, int recovery_only);
/* Agent primitives table (bench_prims.c). */
void bench_prims(int full);

/* A fresh directory under $TMPDIR (default /tmp) for a benchmark's database, and its removal
 * (the files in it, then the directory). */
void bench_tmp_dir(char *buf, size_t cap);
void bench_rm_dir(const char *dir);

#endif
