/*
 * workloads.h — the engines and lines of the comparison, the results table, keys and values,
 * and running a key-value line (workloads.c). Used by the recovery lines (recovery.c), the
 * report (report.c) and main (compare.c).
 */
#ifndef INMEM_COMPARE_WORKLOADS_H
#define INMEM_COMPARE_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

#define KLEN  16      /* bytes of a key */
#define VLEN  100     /* bytes of a value */
#define NKEYS 100000u /* keys preloaded unless a line says otherwise */
#define NENG  6
/** Keys preloaded for the W1-W5 lines and W6-100K: NKEYS unless --keys says otherwise. */
extern uint64_t g_keys;

/* ---- the engines -------------------------------------------------------------------------- */

/** The engines compared, inmem first (ratios are inmem's to the others). */
extern const cmp_driver *const engines[NENG];
/** Which engines this run measures (--engines; inmem always). */
extern int g_engine_on[NENG];

/* ---- the lines ---------------------------------------------------------------------------- */

enum {
    L_W1N,
    L_W2N,
    L_W3_1,
    L_W3_2,
    L_W4,
    L_W6_100K,
    L_W1B,
    L_W2B,
    L_W5_1,
    L_W5_4,
    L_W5_16,
    L_W6_1K,
    L_W6_1M,
    L_W7C,
    L_W7K,
    NLINES
};

/** What a line is ranked by: throughput, p50 latency, or reopen time. */
enum { K_TPS, K_LAT, K_REOPEN };

struct linedef {
    const char *id;
    const char *title;
    int kind;
};

extern const struct linedef lines[NLINES];

/** The figures of every line on every engine (valid = measured in this run); with --rounds,
 * each engine's round with the median figure (the one its line is ranked by). */
extern result g_res[NLINES][NENG];

/** Rounds of the W1-W6 groups (--rounds; 1 unless said), at most MAX_ROUNDS, and every round's
 * figures: g_round[line][engine][round]. */
#define MAX_ROUNDS 15
extern int g_rounds;
extern result g_round[NLINES][NENG][MAX_ROUNDS];

/** The figure line @p line is ranked by in @p r (txn/s, p50 or reopen time). */
double rank_figure(int line, const result *r);

/** The --lines filter (NULL: all lines). */
extern const char *g_lines;

/** Whether @p id starts with an entry of the --lines filter (always without one); "A": agent. */
int want(const char *id);

/* ---- keys and values ---------------------------------------------------------------------- */

/** Puts data key (@p prefix 'k') or counter ('c') @p key with a value stamped @p stamp. */
int put_stamp(const cmp_driver *d, void *h, char prefix, uint64_t key, uint64_t stamp);

/** get of data key @p key that may be missing: CMP_OK (stamp set) or CMP_NOTFOUND. */
int get_opt(const cmp_driver *d, void *h, uint64_t key, uint64_t *stamp, const char *where);

/** Fails the run unless @p rc is CMP_OK. */
void must(int rc, const cmp_driver *d, const char *what);

/* ---- running a line ----------------------------------------------------------------------- */

/** Loads keys 0..n-1 (stamp 0) in transactions of 1,000 puts, then reads three back. */
void preload(const cmp_driver *d, void *db, uint64_t n);

/** Runs one KV line (W1–W6) on an open, preloaded database of @p nkeys keys. */
result run_line(int line, const cmp_driver *d, void *db, uint64_t nkeys);

#endif
