/*
 * compare.h — the driver interface of the side-by-side benchmark (bench/compare/, built as
 * build/inmem_compare by `make bench-compare`).
 *
 * One driver per engine (drv_<engine>.c) turns the engine into the same small transactional
 * key-value interface, so that one harness runs the same workloads on all of them:
 *
 *   open(dir, durability) -> db           one database in a fresh (or, for recovery, existing)
 *                                          directory; the engine's nearest setting for the
 *                                          durability level (mapping() says which)
 *   handle_open(db) -> h                  one handle per thread (a session, a connection ...)
 *   begin(h, writer)                      a snapshot transaction; `writer` says whether it will
 *                                          write (SQLite: BEGIN IMMEDIATE vs BEGIN; LMDB: write
 *                                          txn vs reset/renewed read txn)
 *   get(h, key) / put(h, key, value)      CMP_OK, CMP_NOTFOUND (get) or CMP_CONFLICT (an engine
 *                                          that detects conflicts eagerly: WiredTiger, SQLite busy)
 *   commit(h) -> CMP_OK | CMP_CONFLICT    ends the transaction either way
 *   abort(h)                              ends it; required after a get/put returned CMP_CONFLICT
 *   handle_close(h), close(db)
 *
 * Errors: every driver checks every return code; anything but the outcomes above is fatal:
 * cmp_die() prints the engine's message and exits non-zero (after stopping servers and
 * removing temporary directories), so a broken driver cannot post a number.
 */
#ifndef INMEM_COMPARE_H
#define INMEM_COMPARE_H

#include <stddef.h>
#include <stdint.h>

/** Durability levels of the comparison (inmem's NONE, BATCHED, STRICT). */
typedef enum cmp_durability { CMP_NONE = 0, CMP_BATCHED = 1, CMP_STRICT = 2 } cmp_durability;

/** Outcomes of get, put and commit. */
enum { CMP_OK = 0, CMP_NOTFOUND = 1, CMP_CONFLICT = 2 };

/** Interval of the background syncer that drivers use for "batched" (inmem's sync_interval_ms). */
#define CMP_SYNC_INTERVAL_MS 100

typedef struct cmp_driver {
    const char *name;
    /** Debian packages whose versions the header prints (space-separated). */
    const char *packages;
    /** The linked library's own version string (static storage or a static buffer). */
    const char *(*version)(void);
    /** One line: what this durability level is mapped to in this engine. */
    const char *(*mapping)(cmp_durability d);
    /** Opens a database in @p dir (exists; empty or holding a database to recover). */
    void *(*open)(const char *dir, cmp_durability d);
    /** Closes cleanly (the engine's normal shutdown: final syncs, checkpoints). */
    void (*close)(void *db);
    void *(*handle_open)(void *db);
    void (*handle_close)(void *h);
    void (*begin)(void *h, int writer);
    /** Copies the value into @p val (up to @p cap bytes) and its full length into *vlen. */
    int (*get)(void *h, const void *key, size_t klen, void *val, size_t cap, size_t *vlen);
    int (*put)(void *h, const void *key, size_t klen, const void *val, size_t vlen);
    int (*commit)(void *h);
    void (*abort)(void *h);
    /**
     * Optional. For engines that run in a server process (Redis): kills the server with
     * SIGKILL and forgets the database without a clean close. In-process engines are left NULL:
     * their writer is a forked child that the harness kills.
     */
    void (*kill_server)(void *db);
    /** Optional: bytes of log the last open replayed (0 if unknown). */
    uint64_t (*replayed_bytes)(void *db);
} cmp_driver;

extern const cmp_driver cmp_inmem_driver;
extern const cmp_driver cmp_rocksdb_driver;
extern const cmp_driver cmp_lmdb_driver;
extern const cmp_driver cmp_sqlite_driver;
extern const cmp_driver cmp_wiredtiger_driver;
extern const cmp_driver cmp_redis_driver;

/* ---- services of the harness (harness.c) to the drivers ---------------------------------- */

/** Prints "inmem_compare: <message>" and exits 1 (servers stopped, temp dirs removed). */
void cmp_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/** CLOCK_MONOTONIC in nanoseconds. */
uint64_t cmp_now_ns(void);

/** Remembers a child process (a server) to SIGKILL if the harness dies; forget with 0. */
void cmp_track_pid(int pid, int on);

/**
 * A thread that calls @p fn(@p arg) every @p interval_ms until stopped: the "batched" fsync of
 * engines that have no such setting of their own. cmp_syncer_stop() joins it (NULL: nothing).
 */
typedef struct cmp_syncer cmp_syncer;
cmp_syncer *cmp_syncer_start(void (*fn)(void *), void *arg, unsigned interval_ms);
void cmp_syncer_stop(cmp_syncer *s);

#endif
