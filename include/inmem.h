/*
 * inmem.h — the public API of inmem, an embedded, in-memory, durable, transactional state store
 * for AI agents.
 *
 * This is the only public header. It is the reference for every function's contract: its
 * arguments, the memory it returns (borrowed or owned) and every error it can return. The
 * documents in docs/ explain and teach; when they disagree with this file, this file wins.
 *
 * Conventions
 * - Every fallible function returns int: 0 (INMEM_OK) on success, a negative INMEM_E... or an
 *   expected outcome (INMEM_NOTFOUND, INMEM_CONFLICT) otherwise. inmem_strerror() and
 *   inmem_errname() describe any of them.
 * - Memory a read returns through a transaction is *borrowed*: it stays valid until that
 *   transaction ends (commit, abort or free) and must not be freed or written to.
 *   Memory the caller *owns* is released with inmem_free().
 * - A run id of NULL means the shared scope (the all-zero run id): state that outlives runs.
 * - Handles are opaque. Destructors accept NULL.
 *
 * Threading: an inmem_db may be used from any number of threads at once. An inmem_txn (and an
 * inmem_iter opened on it) belongs to one thread at a time; different threads use different
 * transactions. Readers never block behind writers.
 */
#ifndef INMEM_H
#define INMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is the library's exported API; it is built with every other symbol
 * hidden. */
#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility push(default)
#endif

/* ---------------------------------------------------------------------------------------------
 * Versions
 * ------------------------------------------------------------------------------------------- */

#define INMEM_VERSION_MAJOR 0
#define INMEM_VERSION_MINOR 1
#define INMEM_VERSION_PATCH 0
/** MAJOR * 1000000 + MINOR * 1000 + PATCH, comparable with integers. */
#define INMEM_VERSION_NUMBER                                                                       \
    (INMEM_VERSION_MAJOR * 1000000 + INMEM_VERSION_MINOR * 1000 + INMEM_VERSION_PATCH)
#define INMEM_VERSION_STRING "0.1.0"

/** @return the INMEM_VERSION_NUMBER of the library actually linked. */
int inmem_version_number(void);
/** @return the INMEM_VERSION_STRING of the library actually linked (static storage). */
const char *inmem_version_string(void);

/* ---------------------------------------------------------------------------------------------
 * Errors
 *
 * One table yields the constants, inmem_strerror() and inmem_errname(). Expected or retryable
 * outcomes come first; real failures carry an E.
 * ------------------------------------------------------------------------------------------- */

#define INMEM_ERROR_TABLE(XX)                                                                      \
    XX(NOTFOUND, -1, "not found")                                                                  \
    XX(CONFLICT, -2, "transaction conflict: a key it read or CAS-checked changed since")           \
    XX(ERETRIES, -3, "transaction retried the maximum number of times and still conflicted")       \
    XX(ETIMEDOUT, -4, "transaction deadline expired before it could commit")                       \
    XX(EINVAL, -10, "invalid argument")                                                            \
    XX(EMISUSE, -11, "API misuse: call not allowed in this state")                                 \
    XX(ETXNDONE, -12, "transaction is no longer active (committed or aborted)")                    \
    XX(ETOOBIG, -13, "key or value exceeds the configured size limit")                             \
    XX(EBUSY, -14, "database still has open transactions")                                         \
    XX(ETXNLIMIT, -15, "too many open transactions (see inmem_options.max_txns)")                  \
    XX(ENOMEM, -16, "out of memory")                                                               \
    XX(ENOTSUP, -17, "operation or option not supported")                                          \
    XX(EHISTORY, -18, "the version or time asked for is outside the retained history")             \
    XX(ECLOSED, -19, "the database was closed while waiting")                                      \
    XX(EIO, -20, "I/O error")                                                                      \
    XX(ECORRUPT, -21, "corrupt data")                                                              \
    XX(EVERSION, -22, "unsupported file format or version")                                        \
    XX(ELOCKED, -23, "database directory is locked by another process")                            \
    XX(EREADONLY, -24, "database is read-only")

enum inmem_error {
    INMEM_OK = 0,
#define INMEM__XX(name, value, text) INMEM_##name = (value),
    INMEM_ERROR_TABLE(INMEM__XX)
#undef INMEM__XX
};

/** @return a static, human-readable description of @p err ("unknown error" if not one). */
const char *inmem_strerror(int err);
/** @return the static constant name of @p err, e.g. "INMEM_CONFLICT" ("INMEM_UNKNOWN" if none). */
const char *inmem_errname(int err);

/**
 * @return the details of the most recent error in this thread that came with details (the log
 *         file and offset of a corruption, the process holding a lock, the failing system call),
 *         as "<inmem_strerror(code)>: <details>", or "" if there was none yet. Read it right after
 *         a call failed: successful calls do not clear it, and errors without details (most
 *         INMEM_EINVAL) do not set it, so it may describe an earlier error. Thread-local.
 *         Paths and names in it have their control characters and backslashes escaped as in C
 *         (\n, \t, \x1b, \\), so that it is one line whatever a directory is called.
 */
const char *inmem_errmsg(void);
/**
 * Empties this thread's message: inmem_errmsg() returns "" until an error sets a new one. A caller
 * that reports a message (a binding raising an exception with it) clears it after reading, so
 * that a later error without details of its own is not shown with this one's.
 */
void inmem_errmsg_clear(void);

/** Frees memory the caller owns (returned by inmem_get() and the like). Accepts NULL. */
void inmem_free(void *ptr);

/* ---------------------------------------------------------------------------------------------
 * Run ids
 *
 * A run is one agent execution. Its id is 128 bits, time-ordered (48-bit Unix milliseconds,
 * then random bits, like UUIDv7), printed as 36 characters in the 8-4-4-4-12 hex form. The
 * all-zero id is the shared scope.
 * ------------------------------------------------------------------------------------------- */

typedef struct inmem_run_id {
    uint8_t bytes[16];
} inmem_run_id;

/** Length of a printed run id, without the terminating NUL. */
#define INMEM_RUN_ID_STRLEN 36

/**
 * Makes a new, time-ordered run id. Ids made later in the same process compare greater.
 * @param[out] out the new id.
 * @return 0, or INMEM_EINVAL if @p out is NULL.
 */
int inmem_run_id_new(inmem_run_id *out);

/**
 * Prints @p id as 36 lowercase hex characters and dashes plus a NUL.
 * @param[out] buf at least INMEM_RUN_ID_STRLEN + 1 bytes.
 * @return 0, or INMEM_EINVAL if an argument is NULL.
 */
int inmem_run_id_format(const inmem_run_id *id, char *buf);

/**
 * Parses the 36-character form (either case). Trailing characters are an error.
 * @return 0, or INMEM_EINVAL if an argument is NULL or @p str is not a run id.
 */
int inmem_run_id_parse(const char *str, inmem_run_id *out);

/** @return 1 if @p id is NULL or all zero (the shared scope), else 0. */
int inmem_run_id_is_shared(const inmem_run_id *id);

/* ---------------------------------------------------------------------------------------------
 * Database
 * ------------------------------------------------------------------------------------------- */

typedef struct inmem_db inmem_db;

/** How commits reach stable storage. See the README's durability section. */
typedef enum inmem_durability {
    /** Pure in-memory: no files are written; everything is lost at close. */
    INMEM_DURABILITY_NONE = 0,
    /** Logged: a commit is in the OS page cache when it returns (it survives a crash of the
     *  process); a background fsync every 10 x sync_interval_ms bounds the loss on a machine
     *  crash. */
    INMEM_DURABILITY_ASYNC = 1,
    /** Like async, with an fsync started at least every sync_interval_ms (100), and as soon as
     *  sync_commits (1000) commits are unsynced. A machine crash loses at most the commits of
     *  about the last sync_interval_ms plus the duration of one fsync; under a heavy load that
     *  can be tens of thousands of commits (those made while the previous fsync ran), unless
     *  max_unsynced_commits caps it. The default. */
    INMEM_DURABILITY_BATCHED = 2,
    /** A commit returns only once its records are on stable storage (fdatasync); concurrent
     *  committers share fsyncs (group commit). A commit is visible to others only once durable. */
    INMEM_DURABILITY_STRICT = 3
} inmem_durability;

/**
 * Options for inmem_db_open(). Always fill with inmem_options_init() first, then change fields:
 * new fields are only ever added at the end, with defaults that keep old behaviour.
 */
typedef struct inmem_options {
    /** Default INMEM_DURABILITY_BATCHED. Every mode but NONE needs a directory. */
    inmem_durability durability;
    /** Largest user key in bytes. Default 4096, at most 65536. */
    size_t max_key_size;
    /** Largest value in bytes. Default 16 MiB, at most 1 GiB. */
    size_t max_value_size;
    /**
     * Most transaction handles that may exist at once (from inmem_txn_begin() to
     * inmem_txn_free()); one more gets INMEM_ETXNLIMIT. Default 256, at most 65536.
     * Each costs 64 bytes up front. The library's own snapshots (a checkpoint's, a backup's,
     * the TTL sweeper's) do not count: four more are kept for them (beyond four at once, as
     * with several backups running together, the extra ones take from these).
     */
    unsigned max_txns;
    /** Size of each log file (segment) in bytes; a new one starts when it is full.
     *  Default 64 MiB, at least 64 KiB, at most 1 TiB. Space is reserved up front, so a full
     *  disk shows at the switch to a new segment, never in the middle of one. */
    uint64_t wal_segment_size;
    /** Batched: the longest time between fsyncs, in ms (default 100; async: 10 x this), at
     *  least 1. UINT64_MAX means no timed fsync (sync_commits and the cap still apply). */
    uint64_t sync_interval_ms;
    /** Batched: start an fsync once this many commits are unsynced (default 1000, at least 1). */
    uint64_t sync_commits;
    /**
     * At open, if the log is corrupt (a bad checksum before its end), truncate it at the last
     * good transaction and go on, instead of failing with INMEM_ECORRUPT. What was dropped is
     * reported by inmem_db_recovery(); dropped later segments are kept, renamed *.dropped (the
     * caller's to remove: no checkpoint erases them).
     * Default 0.
     */
    int repair;
    /** How often the background sweeper deletes expired TTL values (and the records of erased
     *  runs that no longer change an answer: see inmem_db_sweep()), in ms (default 1000; 0: no
     *  sweeper thread, call inmem_db_sweep() yourself). */
    uint64_t ttl_sweep_interval_ms;
    /**
     * Open read-only, for inspection: replay the log as it is on disk into memory and change no
     * file, ever (no lock file is created, nothing is truncated or renamed). Works beside a
     * process that has the directory open for writing: the view is then the committed state at
     * the moment of the open, and a tail being written is not judged (see
     * inmem_recovery_info.live_writer: damage in a segment the writer had finished is); if the
     * writer's checkpoint removes a file the open was reading, the open looks again (for up to
     * 10 s). With nobody writing, recovery applies every
     * rule of a normal open and reports in inmem_db_recovery() what a writable open would drop; a
     * corruption fails the open with INMEM_ECORRUPT as it would, unless @ref repair is set too:
     * then the intact prefix is loaded (in memory only) and the report says what a repair would
     * drop. Every write gets INMEM_EREADONLY. Not with durability NONE. A directory that holds no
     * database gets INMEM_NOTFOUND. Default 0.
     */
    int read_only;
    /**
     * When the directory holds no database: 1 (default) creates one, in a directory that does
     * not exist yet or is empty (a non-empty directory that holds no inmem database is refused
     * with INMEM_EINVAL, so that a typo never scatters log files into an unrelated directory);
     * 0 fails with INMEM_NOTFOUND. A directory holds a database if it has a LOCK file, a log
     * segment or a checkpoint image (a backup is an image alone). An image whose writing never
     * finished (ckpt-*.img.tmp: an interrupted backup) alone is none: the open fails with
     * INMEM_NOTFOUND, or INMEM_EINVAL where it would create one, and leaves the file.
     */
    int create_if_missing;
    /**
     * Permission bits of the files the database creates (the lock, log segments); its directory,
     * when the open creates it, gets the same bits plus search (x) wherever read is set. The
     * process umask applies as usual. Default 0600 (directory 0700): agent data is private to
     * its user. Must be within 0777 and include owner read and write (0600).
     */
    unsigned file_mode;
    /**
     * Batched and async: the most acknowledged commits that may wait for an fsync. A commit that
     * would exceed it waits (like a strict commit) until an fsync covers enough of the log, so a
     * machine crash never loses more than this many acknowledged commits. 0 (default): no cap
     * (see INMEM_DURABILITY_BATCHED for the bound without it).
     */
    uint64_t max_unsynced_commits;
    /**
     * Automatic checkpoints: a background thread writes one when the log has grown by
     * checkpoint_log_ratio times the live data (keys and values of every key's newest value)
     * since the last, but not before checkpoint_log_min bytes. Default 4 and 16 MiB; a ratio of 0
     * turns automatic checkpoints off (inmem_db_checkpoint() still works). See
     * inmem_db_checkpoint() for what a checkpoint does.
     */
    unsigned checkpoint_log_ratio;
    uint64_t checkpoint_log_min;
    /** 1: a clean close that logged (or replayed) anything since the last checkpoint takes one,
     *  so that the next open loads an image instead of replaying the log. Default 0 (the log
     *  since the last automatic checkpoint is replayed; see checkpoint_log_ratio). */
    int checkpoint_on_close;
    /**
     * Retained history (docs/history.md): keep old versions of every key beyond what open
     * transactions need, for time-travel reads (inmem_txn_begin_at()) and key history.
     * history_ms keeps every version that was replaced (or deleted) less than this many ms ago,
     * and the one visible then; history_versions keeps at least this many of the newest versions
     * of every key, however old (0 or 1: none beyond the newest). Either, both (what either
     * keeps is kept) or neither (default: 0 and 0, old versions go as soon as no transaction
     * needs them). A run may have its own (inmem_run_options.history). Retained versions cost
     * memory (inmem_stats.history_bytes) and are carried by the log and checkpoints, so they
     * survive a reopen and a crash.
     * The policy is the database's, stored in it: a writable open that sets either field makes
     * it the database's policy from that open on (a commit at open, when it differs from the
     * one stored); an open that leaves both at 0 keeps the one stored (none if never set), so
     * that a tool opening the database without them keeps its history. To turn retention off
     * for good, open with history_versions = 1. A read-only open cannot change it: its fields
     * apply only to a database that has none stored. inmem_stats.history_ms and
     * history_versions report the policy in force. (With INMEM_DURABILITY_NONE nothing is
     * stored: the fields are the policy.)
     */
    uint64_t history_ms;
    uint32_t history_versions;
} inmem_options;

/** Fills @p opts with the defaults. Accepts NULL (does nothing). */
void inmem_options_init(inmem_options *opts);

/**
 * Opens a database and recovers the committed state from its log (see inmem_db_recovery() for
 * what recovery did). If the directory holds no database, one is created there (see
 * inmem_options.create_if_missing). Close it with inmem_db_close().
 * One process at a time may open a directory for writing: the log is guarded by an advisory
 * lock on DIR/LOCK (a read-only open holds a shared one only while it replays the log; a
 * writable open meanwhile waits for it, up to a minute, instead of failing).
 * @param[in] dir the database directory. Not used (may be NULL) with INMEM_DURABILITY_NONE.
 * @param[in] opts options, or NULL for the defaults.
 * @param[out] out the new handle; set to NULL on failure.
 * @return 0, INMEM_EINVAL (NULL @p out or @p dir, an option out of range, a non-empty directory
 *         that holds no database), INMEM_NOTFOUND (no database there, and create_if_missing 0 or
 *         read_only set), INMEM_ELOCKED (another process has it open; inmem_errmsg() names it),
 *         INMEM_ECORRUPT (damage to log data known to have been synced, a missing segment, a
 *         bad segment header; inmem_errmsg() names the file and offset), INMEM_EVERSION (a file
 *         of a newer format), INMEM_EIO (also: DIR/LOCK is a symbolic link or not a regular
 *         file), INMEM_ENOMEM.
 */
int inmem_db_open(const char *dir, const inmem_options *opts, inmem_db **out);

/**
 * Closes a database: makes every commit durable (fsync), releases the directory's lock and frees
 * everything. Accepts NULL (returns 0).
 * Every transaction handle must have been freed first: otherwise nothing is closed and
 * INMEM_EBUSY is returned, so that no handle is left pointing at freed memory.
 * In a child of fork() it does nothing and returns INMEM_EMISUSE: the database's background
 * threads stayed in the parent, which still owns its files and lock.
 * @return 0, INMEM_EBUSY, INMEM_EMISUSE (a child of fork()), or INMEM_EIO if the final fsync
 *         failed or the log had failed earlier (the handle is freed anyway).
 * @note Must not race with other calls on the same database.
 */
int inmem_db_close(inmem_db *db);

/** Counters and gauges, read with inmem_db_stats(). */
typedef struct inmem_stats {
    /** Committed transactions that wrote something (each moved the version by one), but for
     *  the TTL sweeper's (expired_swept). A strict commit counts once its fsync is done; one
     *  whose fsync failed is no commit (it is never visible): it counts in aborts_error. */
    uint64_t commits;
    /** Committed read-only transactions (they do not move the version). */
    uint64_t commits_readonly;
    /** Aborts asked for by the caller (inmem_txn_abort/free, callback errors). The _db forms'
     *  own transactions are not the caller's: their errors (a run not found, say) are the
     *  call's result and count here never. */
    uint64_t aborts_user;
    /** Commits refused because a key in the read set had changed. */
    uint64_t aborts_read_conflict;
    /** Commits refused because a CAS's expected version did not match. */
    uint64_t aborts_cas_conflict;
    /** Re-runs of a callback after a conflict: inmem_db_transact()'s, inmem_state_transition()'s
     *  and the primitives' standalone _db forms' (implicit writes are never re-run). */
    uint64_t retries;
    /** Closure transactions that gave up with INMEM_ERETRIES. */
    uint64_t retries_exhausted;
    /** Transactions that gave up with INMEM_ETIMEDOUT: commits past their deadline, and closure
     *  transactions whose time ran out between attempts. */
    uint64_t deadlines_expired;
    /** The global commit version: the number of the newest visible commit. */
    uint64_t version;
    /** Keys in the index (including deleted keys whose tombstone is not yet reclaimed). */
    uint64_t keys;
    /** Old versions kept alive (not the newest of their key): the cost of open snapshots. */
    uint64_t retained_versions;
    /** Transaction handles that exist now (begun and not yet freed); the library's own
     *  snapshots (checkpoints, backups, the TTL sweeper) are not counted, here nor in the two
     *  fields below. */
    uint64_t open_txns;
    /** Start version of the oldest active transaction (the lowest snapshot an active one reads
     *  at: a time-travel transaction's is the version it was begun at), or 0 if none is
     *  active. Reads of older versions (key history, replay, forks) keep what they returned
     *  alive without changing it. */
    uint64_t oldest_snapshot_version;
    /** Age in microseconds of the oldest active transaction (ms resolution), 0 if none. */
    uint64_t oldest_snapshot_age_us;
    /** Bytes appended to the log since open. */
    uint64_t wal_bytes;
    /** fsyncs of the log since open. */
    uint64_t wal_syncs;
    /** Commits made durable by those fsyncs: wal_synced_commits / wal_syncs is the group
     *  commit factor (strict mode). */
    uint64_t wal_synced_commits;
    /** Checkpoints taken since open (inmem_db_checkpoint(), automatic, at close) and those that
     *  failed (the database then goes on with the previous image and the log). */
    uint64_t checkpoints;
    uint64_t checkpoint_failures;
    /** The newest image's version (0: none), its size in bytes and how long it took (µs). */
    uint64_t checkpoint_version;
    uint64_t checkpoint_bytes;
    uint64_t checkpoint_time_us;
    /** Bytes logged since the newest checkpoint (or the open): what the next open replays. */
    uint64_t wal_bytes_since_checkpoint;
    /** Key and value bytes of the live data (every key's newest value). */
    uint64_t live_bytes;
    /** The error of the last checkpoint that failed (an INMEM_E... code), 0 once one succeeds
     *  after it; inmem_errmsg() of the thread that ran it gave the detail. */
    int checkpoint_error;
    /** Value bytes of the versions kept that are not their key's newest: retained history and
     *  what open transactions still see (retained_versions counts them). */
    uint64_t history_bytes;
    /** The oldest version inmem_txn_begin_at() accepts now (with no history kept, the oldest
     *  version an open transaction still holds, or the newest). */
    uint64_t history_floor;
    /** The database's history policy in force (inmem_options.history_ms and history_versions
     *  as stored in the database; 0 and 0: none). */
    uint64_t history_ms;
    uint64_t history_versions;
    /** Commits that an error ended (reason INMEM_ABORT_ERROR; nothing of them is visible, and
     *  they are not in commits): a strict commit whose fsync failed (INMEM_EIO), a log write that
     *  failed, a log that refuses writes (INMEM_EREADONLY: opened read-only, or since a
     *  failure), versions that reached their limit (INMEM_EREADONLY: 2^63 - 1), memory, and the
     *  commit of a transaction an earlier error left half-done.
     *  Implicit writes count too, whatever stage the error ended them at (memory for their key
     *  or version before the commit lock as well as on the commit path), and the _db forms
     *  (memory at any stage of their transaction); a refused argument does not, and a CAS
     *  that does not match is in aborts_cas_conflict. Without strict durability, a commit
     *  whose capped fsync failed (max_unsynced_commits) is applied and visible: it is in
     *  commits, though it returned INMEM_EIO. */
    uint64_t aborts_error;
    /** The sweeper's commits (its background thread, or inmem_db_sweep()): one per expired value
     *  it deleted, and one per sweep that deleted records of erased runs (inmem_db_sweep()).
     *  Each moved the version by one, and none is in commits (nor are its conflicts with
     *  writers, or its failures, in the aborts). */
    uint64_t expired_swept;
} inmem_stats;

/** A count of inmem_recovery_info that cannot be known because the bytes that held it are lost
 *  (txns_dropped, keys_dropped): never reported as 0. */
#define INMEM_COUNT_UNKNOWN UINT64_MAX

/** What recovery did at open, read with inmem_db_recovery(). */
typedef struct inmem_recovery_info {
    uint64_t segments;     /**< log files read */
    uint64_t bytes;        /**< bytes of log records read */
    uint64_t txns_applied; /**< committed transactions replayed */
    /** Transactions without a commit record, dropped: at a torn tail, the one whose records
     *  were cut (a BEGIN without its COMMIT, or a one-frame transaction — format 2 writes most
     *  as a single TXN record — torn mid-frame), once what is left shows a transaction began
     *  there (a frame torn within its first 5 bytes, its length and type, does not). */
    uint64_t txns_discarded;
    uint64_t records_skipped; /**< records of unknown type, skipped */
    uint64_t version;         /**< the global version after recovery */
    uint64_t txn_id;          /**< the last transaction id in the log */
    uint64_t time_us;         /**< time spent recovering */
    /** 1 if the log ended in a torn (partly written) record: what a machine crash leaves of
     *  writes that were never synced — damage at the end of the last segment written, with no
     *  valid record after it. The log was cut at tail_offset of tail_file (the start of the
     *  incomplete transaction), dropping the tail_bytes bytes of log data from there on. A
     *  read-only open changes nothing and reports what a writable open would cut. Damage with a
     *  valid record after it, or before a clean close's end mark, is corruption instead. */
    int torn_tail;
    char tail_file[64];
    uint64_t tail_offset;
    /** 1 if opts.repair cut the log at a corruption: at repair_offset of repair_file, dropping
     *  bytes_dropped bytes that held exactly txns_dropped committed transactions (counted
     *  across every dropped segment). Dropped segments are kept, renamed *.dropped, and never
     *  removed: they are the caller's to inspect and delete (no checkpoint erases what they
     *  hold, deleted data included). A read-only open with repair changes nothing and reports
     *  what a repair would drop. A log whose start is missing (no checkpoint image, and it
     *  starts after segment 1: an image was lost) is cut at its very start: repair_file names
     *  segment 1, every segment is dropped, the database opens empty at version 0, and
     *  txns_dropped counts every version the log's records name (INMEM_COUNT_UNKNOWN if none
     *  does). */
    int repaired;
    char repair_file[64];
    uint64_t repair_offset;
    uint64_t bytes_dropped;
    uint64_t txns_dropped;
    /** Bytes of log data at the torn tail that were dropped (see torn_tail). */
    uint64_t tail_bytes;
    /** Read-only opens: 1 if another process had the database open for writing, so that the
     *  end of the log may have been in the middle of a write and was not judged: replay stopped
     *  at the first incomplete record or gap in the segment the writer was appending to (the
     *  last one holding data). Damage in a segment before it, which the writer had finished
     *  and synced, fails the open with INMEM_ECORRUPT as it would without a writer. */
    int live_writer;
    /** 1 if the database did not exist and this open created it. */
    int created;
    /** The checkpoint image recovery started from (0 and "": none), and its file. The log's
     *  commits up to its version were skipped (txns_skipped): the image holds them. */
    uint64_t checkpoint_version;
    char checkpoint_file[64];
    uint64_t txns_skipped;
    /** Microseconds spent loading the checkpoint (part of time_us). */
    uint64_t checkpoint_load_us;
    /** 1 if the newest checkpoint was damaged and an older one, with the log that still covers
     *  the difference, was used instead (nothing lost; the damaged image is kept, renamed
     *  *.dropped, by a writable open). */
    int checkpoint_fallback;
    /** With repair: keys lost from a damaged checkpoint image that no log covered (its intact
     *  blocks were loaded); repair_file names the image. INMEM_COUNT_UNKNOWN when the image's
     *  trailer, which alone records its key count, is lost too (an image cut short). */
    uint64_t keys_dropped;
} inmem_recovery_info;

/**
 * Reports what recovery did when the database was opened (all zero for durability NONE).
 * @return 0, or INMEM_EINVAL if an argument is NULL.
 */
int inmem_db_recovery(inmem_db *db, inmem_recovery_info *out);

/**
 * Takes a checkpoint now and waits for it: writes an image of every key's newest value at the
 * newest commit V (a consistent snapshot: writers and readers go on meanwhile, pausing only for
 * the switch to a new log segment), installs it atomically (a temporary file, fsync, rename,
 * fsync of the directory), then removes the previous image and every log segment V covers. The
 * next open loads the image and replays only the log after V: recovery time and disk use depend on
 * the live data, not on the history. Deleted data (a deleted run, an overwritten or expired and
 * swept value) leaves no byte in any file of the directory once a checkpoint has passed it —
 * but for the files recovery set aside (*.dropped), which no checkpoint touches: they are the
 * caller's to inspect and remove.
 * A failure (a full disk) leaves the previous image and the log as they were: nothing is lost.
 * If the new image is installed but the previous one cannot be removed, the call fails with
 * INMEM_EIO and keeps the log too (the next checkpoint removes both): an image never outlives
 * the log that goes on from it.
 * @param[out] version V (may be NULL); the version of the last image if nothing was committed
 *             since.
 * @return 0, INMEM_EINVAL (NULL @p db), INMEM_ENOTSUP (durability none: no files),
 *         INMEM_EREADONLY (a read-only database, or a log that failed earlier), INMEM_EIO (with
 *         the detail in inmem_errmsg()), INMEM_ENOMEM, INMEM_ETXNLIMIT (no transaction slot for
 *         its snapshot).
 * @note Safe to call from any thread; checkpoints run one at a time.
 */
int inmem_db_checkpoint(inmem_db *db, uint64_t *version);

/**
 * Writes an online backup: a checkpoint image of the newest commit readers see into @p dir
 * (created if it does not exist; it must be empty), while writers go on. The directory opens
 * (with inmem_db_open()) to exactly the state of that version. Works in every durability mode,
 * none included; in strict mode, a commit whose fsync is still pending (or failed) is not in it.
 * A backup interrupted (the process killed) leaves the image it was writing as *.img.tmp, which
 * opens as no database (see create_if_missing), never as an empty one.
 * @param[out] version the version backed up (may be NULL).
 * @return 0, INMEM_EINVAL (NULL @p db or @p dir, "" as @p dir, a directory that is not empty, a
 *         path that is not a directory), INMEM_EIO, INMEM_ENOMEM, INMEM_ETXNLIMIT.
 */
int inmem_db_backup(inmem_db *db, const char *dir, uint64_t *version);

/**
 * Reads the database's counters. Counters are sums of per-thread counts read without stopping
 * writers: each is exact once the database is quiet.
 * @return 0, or INMEM_EINVAL if an argument is NULL.
 */
int inmem_db_stats(inmem_db *db, inmem_stats *out);

/* ---------------------------------------------------------------------------------------------
 * Transactions (snapshot isolation, optimistic, first committer wins)
 * ------------------------------------------------------------------------------------------- */

typedef struct inmem_txn inmem_txn;

typedef enum inmem_txn_state {
    INMEM_TXN_ACTIVE = 0,
    INMEM_TXN_VALIDATING = 1,
    INMEM_TXN_COMMITTED = 2,
    INMEM_TXN_ABORTED = 3
} inmem_txn_state;

typedef enum inmem_abort_reason {
    INMEM_ABORT_NONE = 0,          /**< not aborted */
    INMEM_ABORT_USER = 1,          /**< inmem_txn_abort() or inmem_txn_free() while active */
    INMEM_ABORT_READ_CONFLICT = 2, /**< a key in the read set changed (rule: read set) */
    INMEM_ABORT_CAS_CONFLICT = 3,  /**< a CAS's expected version did not match (rule: CAS) */
    INMEM_ABORT_ERROR = 4,         /**< an error (memory, I/O) made the commit impossible */
    INMEM_ABORT_DEADLINE = 5       /**< committed after its deadline (inmem_txn_set_timeout()) */
} inmem_abort_reason;

/** Which primitive a key belongs to (conflicts, replay, diff, waits). */
typedef enum inmem_primitive {
    INMEM_PRIM_KV = 1,
    INMEM_PRIM_EVENT = 2,
    INMEM_PRIM_STATE = 3,
    INMEM_PRIM_TRACE = 4,
    INMEM_PRIM_RUN = 5,
} inmem_primitive;

/** What a transaction is and, after a conflict, what failed. Filled by inmem_txn_describe(). */
typedef struct inmem_txn_info {
    inmem_txn_state state;
    inmem_abort_reason reason;
    /** The snapshot: every commit with a version <= this is visible, nothing after. */
    uint64_t start_version;
    /** Version given to the commit; 0 if not committed or read-only. */
    uint64_t commit_version;
    /** Entries in the read set, the write set (puts and deletes) and the CAS list. */
    size_t read_set_size;
    size_t write_set_size;
    size_t cas_count;
    /** On a conflict: the key's run, its user key (borrowed until inmem_txn_free()). */
    inmem_run_id conflict_run;
    const void *conflict_key;
    size_t conflict_key_len;
    /** On a conflict: the version expected (read or CAS) and the one found at commit. */
    uint64_t conflict_expected;
    uint64_t conflict_found;
    /** On a conflict: the primitive of the key (a KV key, a state cell's name, an event
     *  stream's name for its head, ...); 0 for an internal record (a run's count of forks). */
    inmem_primitive conflict_primitive;
} inmem_txn_info;

/**
 * Begins a transaction on a snapshot of the latest committed state. O(1) whatever the data size.
 * End it with inmem_txn_commit() or inmem_txn_abort(), then release it with inmem_txn_free().
 * @param[out] out the new transaction; NULL on failure.
 * @return 0, INMEM_EINVAL, INMEM_ETXNLIMIT (max_txns handles exist), INMEM_ENOMEM.
 */
int inmem_txn_begin(inmem_db *db, inmem_txn **out);

/**
 * Begins a read-only transaction: it reads a snapshot like any other, but keeps no read set
 * (there is nothing to validate: it always commits, unless past a deadline of
 * inmem_txn_set_timeout()), so each read costs less. Every write
 * (put, delete, CAS, and primitives' writes) gets INMEM_EREADONLY. End and free it as usual.
 * @return 0, INMEM_EINVAL, INMEM_ETXNLIMIT, INMEM_ENOMEM.
 */
int inmem_txn_begin_readonly(inmem_db *db, inmem_txn **out);

/**
 * Begins a read-only transaction on the state as of commit @p version: a time-travel read
 * (docs/history.md). Every read primitive works in it and returns exactly what a transaction
 * begun right after that commit returned; a value's expiry is judged at that commit's time (if
 * that time is not known — older than the times kept, or after a reopen a commit the checkpoint
 * image kept no version of — a value that expires between the known times around it is
 * INMEM_EHISTORY; with no retention no time is kept, and expiry is judged now).
 * Writes get INMEM_EREADONLY. What the retained history (inmem_options.history_ms,
 * history_versions) no longer holds is an error, never a newer answer: a @p version older than
 * every key's retained history fails here, and a read whose own key's versions were freed (a
 * key kept by count whose older versions went, a run erased by inmem_run_delete()) fails with
 * INMEM_EHISTORY; the transaction stays usable. @p version 0 is the empty state before the
 * first commit.
 * @return 0, INMEM_EINVAL (NULL argument, @p version newer than the newest commit),
 *         INMEM_EHISTORY (older than inmem_stats.history_floor), INMEM_ETXNLIMIT, INMEM_ENOMEM.
 */
int inmem_txn_begin_at(inmem_db *db, uint64_t version, inmem_txn **out);
/**
 * inmem_txn_begin_at() the newest commit made at or before wall-clock @p time_ms (Unix ms), as
 * inmem_db_time_version() finds it; expiry is judged at @p time_ms.
 * @return as inmem_txn_begin_at(); INMEM_EHISTORY also when commit times are not kept (no
 *         retention) or @p time_ms is before the oldest commit time kept.
 */
int inmem_txn_begin_at_time(inmem_db *db, uint64_t time_ms, inmem_txn **out);
/**
 * The wall-clock time (Unix ms) commit @p version was made at. Commit times are kept while
 * history retention is on (any policy, the database's or a run's): those the longest window
 * needs, and with counts only, the last million milliseconds that saw commits.
 * @return 0, INMEM_EINVAL (NULL argument, version 0 or newer than the newest commit),
 *         INMEM_EHISTORY (retention off, a time no longer kept, or after a reopen from a
 *         checkpoint a commit the image kept no version of: its time is not known).
 */
int inmem_db_version_time(inmem_db *db, uint64_t version, uint64_t *time_ms);
/**
 * The newest commit made at or before wall-clock @p time_ms (Unix ms) — of those whose time is
 * known (after a reopen from a checkpoint, not a commit the image kept no version of unless a
 * later known time is at or before @p time_ms).
 * @return 0, INMEM_EINVAL (NULL argument), INMEM_EHISTORY (retention off, or @p time_ms before
 *         the oldest commit time kept).
 */
int inmem_db_time_version(inmem_db *db, uint64_t time_ms, uint64_t *version);

/**
 * Gives the transaction a deadline @p timeout_us microseconds from now (0 removes it). A commit
 * that reaches the commit lock after the deadline applies nothing: the transaction is aborted
 * (INMEM_ABORT_DEADLINE) and the commit returns INMEM_ETIMEDOUT. Operations before the commit
 * are not interrupted; the deadline is checked once, at the commit (read-only ones too), so a
 * slow transaction is refused as a whole rather than cut half-way.
 * @return 0, INMEM_EINVAL (NULL @p txn), INMEM_ETXNDONE.
 */
int inmem_txn_set_timeout(inmem_txn *txn, uint64_t timeout_us);

/**
 * Validates and commits. The transaction is finished after any result, conflict included;
 * borrowed memory it returned is no longer valid. The handle stays valid (for
 * inmem_txn_describe()) until inmem_txn_free().
 * Read-only transactions always commit (unless past their deadline: INMEM_ETIMEDOUT) and do not
 * move the version. A transaction with writes
 * is checked against its read set and CAS list (docs/CONTRACT.md, section 1) and, if nothing
 * changed, applied atomically with one new version.
 * A transaction that an operation's error left half-done (a primitive that had staged part of
 * its writes when it failed) can only be aborted: every other operation on it gets INMEM_EMISUSE,
 * and commit aborts it and returns that first error.
 * @return 0; INMEM_CONFLICT (see inmem_txn_describe() for the key and rule); INMEM_ETXNDONE
 *         (already ended); INMEM_EINVAL (NULL); INMEM_ETIMEDOUT (past the deadline of
 *         inmem_txn_set_timeout(): aborted, nothing applied); INMEM_ENOMEM (aborted, nothing
 * applied); INMEM_EREADONLY (the database was opened read-only, its log failed earlier, or its
 *         versions reached their limit, 2^63 - 1: nothing applied, nothing logged);
 *         INMEM_EIO (writing or syncing the log failed: the log is read-only from then on; in
 *         strict mode nothing was applied, in async and batched modes only the fsync that
 *         max_unsynced_commits waited for failed: the commit is applied and visible, and
 *         inmem_txn_describe() says committed, but it is not known durable); for
 *         a half-done transaction, the error that left it so (INMEM_ENOMEM, INMEM_ETOOBIG).
 */
int inmem_txn_commit(inmem_txn *txn);

/**
 * Aborts: discards every pending write. Nothing of the transaction stays in memory.
 * @return 0, INMEM_ETXNDONE (already ended), INMEM_EINVAL (NULL).
 */
int inmem_txn_abort(inmem_txn *txn);

/** Releases a transaction handle, aborting it first if still active. Accepts NULL. */
void inmem_txn_free(inmem_txn *txn);

/** @return the transaction's state; INMEM_TXN_ABORTED for NULL. */
inmem_txn_state inmem_txn_state_of(const inmem_txn *txn);

/**
 * Describes the transaction: state, abort reason, versions, set sizes, and the conflict.
 * @return 0, or INMEM_EINVAL if an argument is NULL.
 */
int inmem_txn_describe(const inmem_txn *txn, inmem_txn_info *out);

/** Retry policy of inmem_db_transact(). Fill with inmem_retry_options_init(). */
typedef struct inmem_retry_options {
    /** Total runs of the callback, first included. Default 10, at least 1. */
    unsigned max_attempts;
    /** Back-off before the first retry, doubled each time (with jitter). Default 100 us. */
    uint64_t backoff_initial_us;
    /** Largest back-off. Default 10000 us (10 ms). */
    uint64_t backoff_max_us;
    /** Give up with INMEM_ETIMEDOUT once this much time has passed since the call; 0 = none.
     *  It is also each attempt's transaction deadline (inmem_txn_set_timeout()): an attempt
     *  whose callback runs past it is not committed. */
    uint64_t timeout_us;
} inmem_retry_options;

/** Fills @p opts with the defaults. Accepts NULL. */
void inmem_retry_options_init(inmem_retry_options *opts);

/**
 * A transaction body. Return 0 to commit, any other value to abort; that value is then returned
 * by inmem_db_transact() as is. The transaction is ended by inmem_db_transact(): do not commit,
 * abort or free it here.
 */
typedef int (*inmem_txn_fn)(inmem_txn *txn, void *arg);

/**
 * Runs @p fn in a transaction and commits it, retrying on conflict: the transaction is rolled
 * back and @p fn runs again on a fresh snapshot after an exponential back-off with jitter.
 * @p fn may run several times: keep its side effects outside the database idempotent.
 * @param[in] opts retry policy, or NULL for the defaults.
 * @return 0 once committed; @p fn's non-zero result as is (aborted, no retry); INMEM_ERETRIES
 *         after max_attempts conflicts; INMEM_ETIMEDOUT if the deadline passed first;
 *         INMEM_EINVAL (NULL @p db or @p fn, @p opts out of range); INMEM_EMISUSE (@p fn ended
 *         the transaction itself); INMEM_ETXNLIMIT; INMEM_ENOMEM; INMEM_EREADONLY and INMEM_EIO
 *         from the commit (see inmem_txn_commit()); INMEM_ETOOBIG, when @p fn returned 0 from a
 *         transaction an operation's error left half-done (the commit returns that error).
 */
int inmem_db_transact(inmem_db *db, const inmem_retry_options *opts, inmem_txn_fn fn, void *arg);

/* ---------------------------------------------------------------------------------------------
 * Key-value operations inside a transaction
 *
 * Keys are byte strings (1 to max_key_size bytes) in a run's key space, ordered by memcmp.
 * Values are byte strings of 0 to max_value_size bytes. Versions are commit numbers: 0 means
 * "does not exist".
 * ------------------------------------------------------------------------------------------- */

/**
 * Reads a key at the transaction's snapshot, seeing the transaction's own pending writes first.
 * Records the version seen (0 if missing, the tombstone's version if deleted) in the read set,
 * unless the answer came from the transaction's own writes.
 * @param[out] val borrowed until the transaction ends (may be NULL if not wanted).
 * @param[out] vlen value length (may be NULL).
 * @param[out] version the version read; 0 for a pending write of this transaction (may be NULL).
 * @return 0, INMEM_NOTFOUND (missing, deleted or expired), INMEM_EINVAL (NULL @p txn or @p key,
 *         @p klen 0), INMEM_ETOOBIG (key), INMEM_ETXNDONE, INMEM_EMISUSE (the transaction is
 *         half-done: see inmem_txn_commit()), INMEM_ENOMEM.
 */
int inmem_kv_get(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                 const void **val, size_t *vlen, uint64_t *version);

/**
 * Writes a key (pending until commit). A blind write (without a read) never conflicts.
 * Writing a key the transaction already wrote keeps the value it replaces until the transaction
 * ends (a read may have returned it, borrowed), so rewriting one key many times in a single
 * transaction holds every value written.
 * @param[in] val may be NULL when @p vlen is 0. Copied.
 * @return 0, INMEM_EINVAL (NULL @p txn or @p key, @p klen 0, NULL @p val with a length),
 *         INMEM_ETOOBIG (key or value), INMEM_EREADONLY (a read-only transaction),
 *         INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM.
 */
int inmem_kv_put(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                 const void *val, size_t vlen);

/**
 * Like inmem_kv_put(), with a time to live: the value is invisible to reads once @p ttl_ms
 * milliseconds have passed after the put (0 = no expiry). A TTL so large that now + @p ttl_ms
 * would overflow means "never expires" (it saturates, it never wraps into the past).
 * @return as inmem_kv_put().
 */
int inmem_kv_put_ttl(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                     const void *val, size_t vlen, uint64_t ttl_ms);

/**
 * Like inmem_kv_put(), expiring at the absolute wall-clock time @p expire_at_ms (Unix ms;
 * 0 = no expiry). A time already past writes a value that no read sees, and that the sweeper
 * deletes. Used to restore a dumped value with its original expiry.
 * @return as inmem_kv_put().
 */
int inmem_kv_put_expire_at(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                           const void *val, size_t vlen, uint64_t expire_at_ms);

/**
 * Reads when a key's value expires: *expire_at_ms gets the absolute Unix ms time (0: it has no
 * TTL). Sees the transaction's own pending writes and records the read like inmem_kv_get().
 * @return as inmem_kv_get().
 */
int inmem_kv_get_expiry(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                        uint64_t *expire_at_ms);

/** One committed version of a key or state cell (inmem_kv_history(), inmem_state_history()). */
typedef struct inmem_version_info {
    uint64_t version;      /**< the commit that wrote it */
    uint64_t time_ms;      /**< that commit's wall-clock time, Unix ms (0: not known) */
    int deleted;           /**< 1: a delete (no value) */
    const void *value;     /**< borrowed until the transaction ends */
    size_t len;            /**< the value's length */
    uint64_t expire_at_ms; /**< KV: when the value expires (0: never) */
    int older_freed;       /**< 1 on the oldest version kept when older ones were freed */
} inmem_version_info;

/**
 * The history of a key: its committed versions that the transaction's snapshot covers (at or
 * below its version), values and deletes, newest first, as many as the database keeps
 * (docs/history.md: with no retention, the newest, what open transactions hold, and what the
 * garbage collector has not freed yet: it runs every 8 commits).
 * Pages through with a cursor: @p before 0 starts at the newest, then pass the last version
 * returned. The transaction's own pending writes are not history and do not show. Reads no key
 * into the read set. The values stay valid until the transaction ends (it holds them).
 * In a transaction begun in the past, a key with no version at its snapshot is INMEM_EHISTORY
 * where a read of it would be (an erased run's key, or one older than the retained history),
 * never an empty history.
 * @param[out] out room for @p limit entries; *n gets how many were filled (0: no more).
 * @return 0, INMEM_EINVAL (NULL, or @p out NULL with a limit), INMEM_ETOOBIG, INMEM_ETXNDONE,
 *         INMEM_EMISUSE, INMEM_ENOMEM (a long key's buffer), INMEM_EHISTORY (see above).
 */
int inmem_kv_history(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                     uint64_t before, size_t limit, inmem_version_info *out, size_t *n);

/**
 * Deletes a key (pending until commit). Deleting a missing key is still a write: it leaves a
 * tombstone carrying the commit's version.
 * @return 0, INMEM_EINVAL (NULL @p txn or @p key, @p klen 0), INMEM_ETOOBIG (key),
 *         INMEM_EREADONLY (a read-only transaction), INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM.
 */
int inmem_kv_delete(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen);

/**
 * Compare-and-swap: writes @p val if, at commit, the key's current version is
 * @p expected_version (0 = the key must not exist: never written, or deleted). Checked at commit
 * (INMEM_CONFLICT with reason INMEM_ABORT_CAS_CONFLICT). Does not add the key to the read set.
 * @return 0 (the write is pending), or as inmem_kv_put().
 */
int inmem_kv_cas(inmem_txn *txn, const inmem_run_id *run, const void *key, size_t klen,
                 uint64_t expected_version, const void *val, size_t vlen);

typedef struct inmem_iter inmem_iter;

/**
 * Opens an iterator over the keys k of a run with @p start <= k < @p end in memcmp order, at
 * the transaction's snapshot, merged with the transaction's own pending writes as they were
 * when it was opened (writes the transaction makes while it is open do not show in it: open
 * another). Each key it returns from the snapshot is recorded in the read set. Keys inserted by
 * others after the snapshot are not seen and do not conflict (phantoms are allowed). Free with
 * inmem_iter_free() (also freed with the transaction).
 * @param[in] start NULL (or slen 0) for the run's first key.
 * @param[in] end NULL (or elen 0) for no upper bound within the run.
 * @return 0, INMEM_EINVAL (NULL @p txn or @p out, a NULL bound with a length), INMEM_ETOOBIG (a
 *         bound longer than max_key_size), INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM.
 */
int inmem_kv_scan(inmem_txn *txn, const inmem_run_id *run, const void *start, size_t slen,
                  const void *end, size_t elen, inmem_iter **out);

/** Like inmem_kv_scan(), over the keys that begin with @p prefix (all keys if plen is 0).
 *  @return as inmem_kv_scan(). */
int inmem_kv_scan_prefix(inmem_txn *txn, const inmem_run_id *run, const void *prefix, size_t plen,
                         inmem_iter **out);

/**
 * Steps to the next key. Key and value are borrowed until the transaction ends. After an error
 * (INMEM_ENOMEM) the iterator is spent: every later call returns that error.
 * @param[out] version 0 for a pending write of this transaction. Any out pointer may be NULL.
 * @return 0, INMEM_NOTFOUND at the end, INMEM_EINVAL (NULL @p it), INMEM_ETXNDONE, INMEM_EMISUSE
 *         (the transaction's), INMEM_ENOMEM.
 */
int inmem_iter_next(inmem_iter *it, const void **key, size_t *klen, const void **val, size_t *vlen,
                    uint64_t *version);

/** Frees an iterator. Accepts NULL. */
void inmem_iter_free(inmem_iter *it);

/* ---------------------------------------------------------------------------------------------
 * Implicit operations: one-operation transactions
 *
 * Each runs as its own transaction. Puts and deletes are blind, so they never conflict; a CAS
 * that does not match is not retried (INMEM_CONFLICT). Used inside an explicit transaction they
 * are legal but NOT part of it: they commit on their own at once, and the explicit transaction
 * does not see them (its snapshot is older).
 * ------------------------------------------------------------------------------------------- */

/**
 * Reads the latest committed value of a key.
 * @param[out] val a copy the caller owns (free with inmem_free()); may be NULL if not wanted.
 * @return 0, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ETXNLIMIT, INMEM_ENOMEM.
 */
int inmem_get(inmem_db *db, const inmem_run_id *run, const void *key, size_t klen, void **val,
              size_t *vlen, uint64_t *version);

/**
 * Writes a key and commits.
 * @param[out] version the commit's version (may be NULL).
 * @return 0, INMEM_EINVAL (NULL @p db or @p key, @p klen 0, NULL @p val with a length),
 *         INMEM_ETOOBIG (key or value), INMEM_EREADONLY (the database was opened read-only, its
 *         log failed earlier, or its versions reached their limit, 2^63 - 1), INMEM_EIO
 *         (writing or syncing the log failed), INMEM_ENOMEM.
 */
int inmem_put(inmem_db *db, const inmem_run_id *run, const void *key, size_t klen, const void *val,
              size_t vlen, uint64_t *version);

/** Deletes a key and commits (a tombstone even if it did not exist). @return as inmem_put(). */
int inmem_delete(inmem_db *db, const inmem_run_id *run, const void *key, size_t klen,
                 uint64_t *version);

/**
 * Compare-and-swap as its own transaction. Not retried: a mismatch returns INMEM_CONFLICT.
 * @return 0, INMEM_CONFLICT, or as inmem_put().
 */
int inmem_cas(inmem_db *db, const inmem_run_id *run, const void *key, size_t klen,
              uint64_t expected_version, const void *val, size_t vlen, uint64_t *version);

/* ---------------------------------------------------------------------------------------------
 * Agent primitives
 *
 * Stateless facades over transactions, each in its own part of a run's key space. Every
 * operation has an in-transaction form taking an inmem_txn (it commits or rolls back with the
 * transaction, together with any other primitive's operations in it). Every write, and every
 * read whose result fits a fixed-size struct or one owned block, also has a standalone form with
 * the suffix _db taking an inmem_db: its own transaction, retried on conflict (up to 10,000
 * attempts with back-off). Reads that return several borrowed records (event ranges, trace
 * queries and trees, batch gets) have no _db form: run them in inmem_db_transact(). Memory
 * returned by in-transaction reads is borrowed until the transaction ends; standalone reads
 * return fixed-size structs or memory the caller owns.
 * Names (streams, cells, types, tags, namespaces) are NUL-terminated strings of 1 to
 * INMEM_NAME_MAX - 1 bytes; longer ones get INMEM_ETOOBIG. Stored records are versioned
 * (docs/FORMAT.md); a record that does not decode gets INMEM_ECORRUPT, never a crash.
 * ------------------------------------------------------------------------------------------- */

/** Longest name plus its NUL. */
#define INMEM_NAME_MAX 64
/** Most tags on a run or a trace span. */
#define INMEM_MAX_TAGS 16

/* ---- runs ---------------------------------------------------------------------------------- */

typedef enum inmem_run_status {
    INMEM_RUN_ACTIVE = 1,
    INMEM_RUN_COMPLETED = 2,
    INMEM_RUN_FAILED = 3,
    INMEM_RUN_CANCELLED = 4,
    /** Only from a terminal status (completed, failed, cancelled). */
    INMEM_RUN_ARCHIVED = 5
} inmem_run_status;

/** How to begin a run. Fill with inmem_run_options_init(). */
typedef struct inmem_run_options {
    const inmem_run_id *id;     /**< a caller-chosen id, or NULL for a new time-ordered one */
    const inmem_run_id *parent; /**< the run this one was forked from, or NULL */
    const char *tenant;         /**< namespace, each part optional (NULL or "") */
    const char *app;
    const char *agent;
    const char *const *tags; /**< ntags tags */
    size_t ntags;
    /** 1: the run keeps history as history_ms and history_versions say (see the fields of
     *  inmem_options of the same names), not as the database's options say; 0 (default): the
     *  database's. A run's own policy is stored with it (it survives a reopen under other
     *  options) and takes effect from its run_begin's commit on. */
    int history;
    uint64_t history_ms;
    uint32_t history_versions;
} inmem_run_options;

void inmem_run_options_init(inmem_run_options *opts);

/** A run's metadata (self-contained: no borrowed memory). */
typedef struct inmem_run_info {
    inmem_run_id id;
    inmem_run_id parent; /**< all zero if none */
    int has_parent;
    inmem_run_status status;
    uint64_t created_ms; /**< wall clock, Unix ms */
    uint64_t ended_ms;   /**< 0 while active */
    char tenant[INMEM_NAME_MAX];
    char app[INMEM_NAME_MAX];
    char agent[INMEM_NAME_MAX];
    size_t ntags;
    char tags[INMEM_MAX_TAGS][INMEM_NAME_MAX];
} inmem_run_info;

/** Which runs inmem_run_list() returns: every set field must match. */
typedef struct inmem_run_filter {
    inmem_run_status status;    /**< 0: any */
    const char *tag;            /**< NULL: any */
    const inmem_run_id *parent; /**< NULL: any; else the children of this run */
    const char *tenant;         /**< NULL: any (app and agent likewise) */
    const char *app;
    const char *agent;
} inmem_run_filter;

/**
 * Begins a run: status active, created now, indexed for inmem_run_list().
 * Data may be written under a run id that was never begun (the primitives do not check), but
 * such a run has no metadata: inmem_run_list() and inmem_run_get() do not see it (the dump and
 * verify tools still cover it, through inmem_run_list_stored()). Begin every run you write to.
 * @param[in] opts NULL for the defaults (a new id, no parent, no namespace, no tags).
 * @param[out] out the run's id (may be NULL).
 * @return 0; INMEM_EINVAL (NULL txn, a caller-chosen id that exists or is all zero, a parent that
 *         does not exist, more than INMEM_MAX_TAGS tags, an empty or repeated tag);
 *         INMEM_ETOOBIG (a tag or namespace part of INMEM_NAME_MAX bytes or more; or index keys
 *         beyond max_key_size, which leaves the transaction half-done); INMEM_ECORRUPT (the
 *         metadata stored under the chosen id or the parent does not decode); INMEM_EREADONLY
 *         (a read-only transaction); INMEM_ETXNDONE; INMEM_EMISUSE; INMEM_ENOMEM.
 */
int inmem_run_begin(inmem_txn *txn, const inmem_run_options *opts, inmem_run_id *out);
/** Standalone form. @return 0, INMEM_EINVAL (also NULL @p db), INMEM_ETOOBIG, INMEM_ECORRUPT as
 *  above; INMEM_ETXNLIMIT; INMEM_EREADONLY, INMEM_EIO (its commit: see inmem_txn_commit());
 *  INMEM_ENOMEM; INMEM_ERETRIES. */
int inmem_run_begin_db(inmem_db *db, const inmem_run_options *opts, inmem_run_id *out);

/**
 * Moves a run to @p status and sets ended_ms (when leaving active). Allowed: active ->
 * completed | failed | cancelled, and a terminal status -> archived.
 * @return 0; INMEM_EMISUSE (a transition the run's status does not allow: nothing changes);
 *         INMEM_NOTFOUND (no such run, or the shared scope); INMEM_EINVAL (NULL, a status
 *         outside 1..5, or INMEM_RUN_ACTIVE, which is never a target); INMEM_ECORRUPT;
 *         INMEM_ETOOBIG (index keys beyond max_key_size, after a reopen with a smaller one; the
 *         transaction is left half-done); INMEM_EREADONLY (a read-only transaction);
 *         INMEM_ETXNDONE; INMEM_EMISUSE also for a half-done transaction; INMEM_ENOMEM.
 */
int inmem_run_end(inmem_txn *txn, const inmem_run_id *run, inmem_run_status status);
/** Standalone form. @return 0, INMEM_EMISUSE (a transition not allowed), INMEM_NOTFOUND,
 *  INMEM_EINVAL, INMEM_ECORRUPT, INMEM_ETOOBIG as above; INMEM_ETXNLIMIT; INMEM_EREADONLY,
 *  INMEM_EIO (its commit); INMEM_ENOMEM; INMEM_ERETRIES. */
int inmem_run_end_db(inmem_db *db, const inmem_run_id *run, inmem_run_status status);

/** Reads a run's metadata (a self-contained copy). @return 0, INMEM_NOTFOUND, INMEM_EINVAL,
 *  INMEM_ECORRUPT, INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM. */
int inmem_run_get(inmem_txn *txn, const inmem_run_id *run, inmem_run_info *out);
/** Standalone form. @return 0, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ECORRUPT, INMEM_ETXNLIMIT,
 *  INMEM_ENOMEM. */
int inmem_run_get_db(inmem_db *db, const inmem_run_id *run, inmem_run_info *out);

/**
 * Lists runs matching @p filter (NULL: all), newest first. NULL and "" filter fields mean "any";
 * a parent of all zero lists the runs without a parent.
 * @param[in] after cursor: the last id of the previous page, or NULL for the first page (it may
 *            point into @p out).
 * @param[out] out room for @p limit ids; *n gets how many were written (fewer than @p limit: the
 *             list is complete).
 * @return 0, INMEM_EINVAL (NULL @p txn or @p n, NULL @p out with a limit, a status outside
 *         0..5), INMEM_ETOOBIG (a filter name too long), INMEM_ECORRUPT, INMEM_ETXNDONE,
 *         INMEM_EMISUSE, INMEM_ENOMEM.
 */
int inmem_run_list(inmem_txn *txn, const inmem_run_filter *filter, const inmem_run_id *after,
                   size_t limit, inmem_run_id *out, size_t *n);
/** Standalone form. @return 0, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT, INMEM_ETXNLIMIT,
 *  INMEM_ENOMEM. */
int inmem_run_list_db(inmem_db *db, const inmem_run_filter *filter, const inmem_run_id *after,
                      size_t limit, inmem_run_id *out, size_t *n);

/**
 * Forks a run: begins a new run (as inmem_run_begin() with @p opts, whose parent is set to
 * @p parent) that starts with @p parent's data in every primitive (KV, events, state cells,
 * traces) as of commit @p at_version (0: the transaction's snapshot), then diverges: the fork's
 * writes never show in the parent, nor the parent's later writes in the fork. Copy-on-write:
 * nothing is copied (a fork costs the same whatever the parent holds); a read of a key the fork
 * never wrote reads the parent's key as of @p at_version, and so on up a fork of a fork (at most
 * 32 deep). While the fork lives, its parent keeps every version from @p at_version on, whatever
 * its history retention says, and cannot be deleted (INMEM_EMISUSE): delete the forks first.
 * An @p at_version older than the snapshot needs the parent's history to reach it
 * (docs/history.md); a key whose version then was freed reads as INMEM_EHISTORY in the fork.
 * Older than the newest checkpoint image too, it needs the parent's retention to reach it (the
 * image holds each key's newest value only where no retention keeps more): INMEM_EHISTORY.
 * The inheritance starts at the commit: inside the transaction that creates the fork, the fork
 * shows only what that transaction writes to it (a read of a key it did not write is
 * INMEM_NOTFOUND); read the inherited data in a later transaction.
 * @param[out] out the fork's id (may be NULL).
 * @return 0, INMEM_EINVAL (NULL, the shared scope, a parent never begun or deleted, an
 *         @p at_version newer than the snapshot, forks nested too deep, bad options or an id
 *         that exists), INMEM_EHISTORY (the parent's history does not reach @p at_version),
 *         INMEM_ETOOBIG, INMEM_ECORRUPT, INMEM_EREADONLY, INMEM_ETXNDONE, INMEM_EMISUSE,
 *         INMEM_ENOMEM. INMEM_ETOOBIG and INMEM_ENOMEM may leave the transaction half-done.
 */
int inmem_run_fork(inmem_txn *txn, const inmem_run_id *parent, uint64_t at_version,
                   const inmem_run_options *opts, inmem_run_id *out);
/** Standalone form. @return 0, INMEM_EINVAL, INMEM_EHISTORY, INMEM_ETOOBIG, INMEM_ECORRUPT as
 *  above; INMEM_ETXNLIMIT; INMEM_EREADONLY, INMEM_EIO (its commit); INMEM_ENOMEM;
 *  INMEM_ERETRIES. */
int inmem_run_fork_db(inmem_db *db, const inmem_run_id *parent, uint64_t at_version,
                      const inmem_run_options *opts, inmem_run_id *out);

/**
 * Deletes a run and all of its data in every primitive (KV, events, state cells, traces and its
 * metadata), in one transaction. Its children keep their parent id. A run with live forks
 * (inmem_run_fork()) is refused with INMEM_EMISUSE; a fork's deletion leaves its parent as it
 * is (what it inherited is the parent's). Keys that other transactions
 * add to the run concurrently are not seen (snapshot isolation): end a run before deleting it.
 * @return 0, INMEM_NOTFOUND, INMEM_EINVAL (NULL or the shared scope), INMEM_ECORRUPT (its
 *         metadata does not decode: nothing is deleted), INMEM_ETOOBIG (keys beyond
 *         max_key_size, after a reopen with a smaller one), INMEM_EREADONLY (a read-only
 *         transaction), INMEM_ETXNDONE, INMEM_EMISUSE (also: live forks), INMEM_ENOMEM.
 *         INMEM_ETOOBIG and INMEM_ENOMEM may leave the transaction half-done.
 */
int inmem_run_delete(inmem_txn *txn, const inmem_run_id *run);
/** Standalone form. @return 0, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ECORRUPT, INMEM_ETOOBIG,
 *  INMEM_EMISUSE (live forks) as above; INMEM_ETXNLIMIT; INMEM_EREADONLY, INMEM_EIO (its commit);
 *  INMEM_ENOMEM; INMEM_ERETRIES. */
int inmem_run_delete_db(inmem_db *db, const inmem_run_id *run);

/**
 * Lists every run id under which data is stored (a key of any primitive), whether or not the
 * run was begun with inmem_run_begin(), in ascending id order, after the cursor @p after (NULL:
 * from the start). The shared scope (all zero) is not listed. Tools that must cover a whole
 * database (dump, verify) use this rather than inmem_run_list(), which sees only begun runs.
 * Costs one index seek per id listed.
 * @param[out] out room for @p limit ids; *n gets how many were written (fewer than @p limit:
 *             the list is complete).
 * @return 0, INMEM_EINVAL (NULL @p txn or @p n, NULL @p out with a limit), INMEM_ETXNDONE,
 *         INMEM_EMISUSE, INMEM_ENOMEM.
 */
int inmem_run_list_stored(inmem_txn *txn, const inmem_run_id *after, size_t limit,
                          inmem_run_id *out, size_t *n);

/* ---- KV (beyond inmem_kv_get/put/delete/cas above) ---------------------------------------- */

/** One key-value pair; in-transaction results are borrowed until the transaction ends. */
typedef struct inmem_kv_entry {
    const void *key;
    size_t klen;
    const void *val; /**< NULL if the key is missing (inmem_kv_get_many) */
    size_t vlen;
    uint64_t version;
} inmem_kv_entry;

/**
 * Lists up to @p limit keys of @p run starting with @p prefix, in key order, after the cursor
 * key @p after (NULL: from the start). *n gets the count; fewer than @p limit means the end.
 * @return 0, INMEM_EINVAL (NULL @p txn or @p n, NULL @p out with a limit, NULL @p prefix or
 *         @p after with a length), INMEM_ETOOBIG (@p prefix or @p after longer than
 *         max_key_size), INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM.
 */
int inmem_kv_list(inmem_txn *txn, const inmem_run_id *run, const void *prefix, size_t plen,
                  const void *after, size_t alen, size_t limit, inmem_kv_entry *out, size_t *n);
/** Standalone: *out is one block the caller owns (inmem_free), holding the entries and bytes.
 *  @return 0, INMEM_EINVAL (also NULL @p db or @p out), INMEM_ETOOBIG, INMEM_ETXNLIMIT,
 *  INMEM_ENOMEM. */
int inmem_kv_list_db(inmem_db *db, const inmem_run_id *run, const void *prefix, size_t plen,
                     const void *after, size_t alen, size_t limit, inmem_kv_entry **out, size_t *n);

/** Reads @p n keys at once; out[i].val is NULL for a missing key. Every key is read-set.
 *  Faster than @p n inmem_kv_get() calls (2-2.7x for 4 to 16 keys over 100 K keys): the keys
 *  are looked up in groups whose memory accesses overlap.
 *  @return 0, INMEM_EINVAL (NULL @p txn, NULL arrays with @p n keys, a NULL or empty key),
 *  INMEM_ETOOBIG (a key), INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM. */
int inmem_kv_get_many(inmem_txn *txn, const inmem_run_id *run, size_t n, const void *const *keys,
                      const size_t *klens, inmem_kv_entry *out);

/** inmem_put() with a time to live in ms (0: none). @return as inmem_put(). */
int inmem_put_ttl(inmem_db *db, const inmem_run_id *run, const void *key, size_t klen,
                  const void *val, size_t vlen, uint64_t ttl_ms, uint64_t *version);

/**
 * Deletes expired values now, each through an ordinary transaction (the background sweeper does
 * the same every ttl_sweep_interval_ms). @param[out] removed how many expired values (may be
 * NULL). With retention, a sweep also deletes (in commits of up to 256, at most 16,384 a sweep;
 * not counted in @p removed) the records that runs deleted with their history leave so that their
 * past is refused, once the database's own policy refuses a read before the deletion without
 * them: its window has passed it, or it keeps no history and no transaction holds a version
 * before it. Under history_versions (a count keeps versions however old) they stay.
 * docs/history.md, "Limits".
 * @return 0 (also on a read-only database, where nothing is removed), INMEM_EINVAL (NULL @p db),
 *         INMEM_ENOMEM.
 */
int inmem_db_sweep(inmem_db *db, uint64_t *removed);

/* ---- events -------------------------------------------------------------------------------- */

/**
 * Event streams: per run, named, append-only logs. Sequence numbers are dense from 1 per stream;
 * each event stores its type, payload, timestamp (Unix ms, never decreasing within a stream), the
 * previous event's hash and its own: hash = XXH3-64 over (previous hash, seq, time, type,
 * payload), so rewriting an event breaks the chain from there on.
 */
typedef struct inmem_event {
    uint64_t seq;
    uint64_t time_ms;
    char type[INMEM_NAME_MAX];
    const void *payload; /**< borrowed (in a transaction) or owned by the enclosing block */
    size_t payload_len;
    uint64_t prev_hash; /**< 0 for the first event */
    uint64_t hash;
} inmem_event;

/** Input of inmem_event_append_batch(). */
typedef struct inmem_event_in {
    const char *type;
    const void *payload;
    size_t payload_len;
} inmem_event_in;

/** A stream's length and head, in O(1). */
typedef struct inmem_stream_info {
    uint64_t length;    /**< events; the last sequence number */
    uint64_t head_hash; /**< hash of the last event; 0 if empty */
    uint64_t first_ms, last_ms;
} inmem_stream_info;

/**
 * Appends one event at time max(now, the stream's last time). Reads the stream's head, so
 * concurrent appenders to one stream conflict and the loser retries (the _db form does so itself).
 * Each append rewrites the head; like any key rewritten in one transaction (inmem_kv_put()), the
 * heads it replaces are held until the transaction ends (~100 bytes an append): for very many
 * events at once, inmem_event_append_batch() writes the head once.
 * @param[out] seq its sequence number (may be NULL).
 * @return 0, INMEM_EINVAL (NULL, empty name or type, NULL payload with a length), INMEM_ETOOBIG
 *         (a name, the record or a key beyond the limits), INMEM_ECORRUPT (a corrupt stream
 *         head), INMEM_EREADONLY (a read-only transaction), INMEM_ETXNDONE, INMEM_EMISUSE,
 *         INMEM_ENOMEM (which may leave the transaction half-done).
 */
int inmem_event_append(inmem_txn *txn, const inmem_run_id *run, const char *stream,
                       const char *type, const void *payload, size_t len, uint64_t *seq);
/** Standalone form. @return 0, INMEM_EINVAL (also NULL @p db), INMEM_ETOOBIG, INMEM_ECORRUPT as
 *  above; INMEM_ETXNLIMIT; INMEM_EREADONLY, INMEM_EIO (its commit); INMEM_ENOMEM;
 *  INMEM_ERETRIES. */
int inmem_event_append_db(inmem_db *db, const inmem_run_id *run, const char *stream,
                          const char *type, const void *payload, size_t len, uint64_t *seq);
/** Appends @p n events with consecutive sequence numbers, all or none; *first_seq gets the
 *  first (0 if @p n is 0, which writes nothing but is refused as a write would be on a
 *  read-only or ended transaction). @return as inmem_event_append() (INMEM_EINVAL also for
 *  NULL @p events with @p n events). */
int inmem_event_append_batch(inmem_txn *txn, const inmem_run_id *run, const char *stream, size_t n,
                             const inmem_event_in *events, uint64_t *first_seq);
/** Standalone form. @return as inmem_event_append_db(). */
int inmem_event_append_batch_db(inmem_db *db, const inmem_run_id *run, const char *stream, size_t n,
                                const inmem_event_in *events, uint64_t *first_seq);

/** Reads event @p seq (payload borrowed). @return 0, INMEM_NOTFOUND (no such event, or seq 0),
 *  INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT, INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM. */
int inmem_event_get(inmem_txn *txn, const inmem_run_id *run, const char *stream, uint64_t seq,
                    inmem_event *out);

/**
 * Reads up to @p limit events with from_seq <= seq <= to_seq (from_seq 0 counts as 1; to_seq 0:
 * to the end), in order, or from to_seq down when @p backward. *n gets the count.
 * @return 0 (an empty range is not an error), INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,
 *         INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM.
 */
int inmem_event_range(inmem_txn *txn, const inmem_run_id *run, const char *stream,
                      uint64_t from_seq, uint64_t to_seq, int backward, size_t limit,
                      inmem_event *out, size_t *n);

/** Reads up to @p limit events with from_ms <= time_ms < to_ms (to_ms 0: no upper bound), in
 *  order; found by binary search, as times never decrease within a stream.
 *  @return as inmem_event_range(). */
int inmem_event_range_time(inmem_txn *txn, const inmem_run_id *run, const char *stream,
                           uint64_t from_ms, uint64_t to_ms, size_t limit, inmem_event *out,
                           size_t *n);

/** The stream's length and head. A stream with no events has length 0 (not an error).
 *  @return 0, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT (a corrupt stream head),
 *  INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM. */
int inmem_event_stream_info(inmem_txn *txn, const inmem_run_id *run, const char *stream,
                            inmem_stream_info *out);
/** Standalone form. @return 0, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT, INMEM_ETXNLIMIT,
 *  INMEM_ENOMEM. */
int inmem_event_stream_info_db(inmem_db *db, const inmem_run_id *run, const char *stream,
                               inmem_stream_info *out);

/**
 * Lists a run's stream names in order, after the cursor @p after (NULL: from the start).
 * @param[out] names room for @p limit names.
 * @return 0, INMEM_EINVAL (NULL @p txn or @p n, NULL @p names with a limit), INMEM_ETOOBIG
 *         (cursor), INMEM_ECORRUPT (a stream key that does not decode), INMEM_ETXNDONE,
 *         INMEM_EMISUSE, INMEM_ENOMEM.
 */
int inmem_event_streams(inmem_txn *txn, const inmem_run_id *run, const char *after, size_t limit,
                        char (*names)[INMEM_NAME_MAX], size_t *n);

/**
 * Recomputes the stream's hash chain. @param[out] first_broken 0 if every event checks, else the
 * first sequence number that is missing, does not decode, or whose seq, link, hash or time is
 * wrong (length + 1 if an event exists past the head). Bad events are reported here, not as
 * errors: @return 0, INMEM_ECORRUPT (only for a corrupt stream head), INMEM_EINVAL,
 * INMEM_ETOOBIG, INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM.
 */
int inmem_event_verify(inmem_txn *txn, const inmem_run_id *run, const char *stream,
                       uint64_t *first_broken);
/** Standalone form. @return 0, INMEM_ECORRUPT, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ETXNLIMIT,
 *  INMEM_ENOMEM. */
int inmem_event_verify_db(inmem_db *db, const inmem_run_id *run, const char *stream,
                          uint64_t *first_broken);

/* ---------------------------------------------------------------------------------------------
 * Replay of a run
 * ------------------------------------------------------------------------------------------- */

/** One write of a committed transaction, as inmem_replay_next() gives it. Everything is borrowed
 *  until the transaction ends. */
typedef struct inmem_change {
    inmem_primitive primitive;
    /** KV: the key; state: the cell's name; event: the stream's name; trace: the span id (16
     *  bytes); run: empty (the run's metadata). */
    const void *key;
    size_t klen;
    int deleted; /**< 1: a delete (deleting a run deletes every key of it) */
    /** KV: the value; state: the cell's value; event: the payload; trace: the span record and
     *  run: the metadata record, as docs/FORMAT.md lays them out. NULL when deleted. */
    const void *value;
    size_t len;
    uint64_t expire_at_ms; /**< KV: the value's expiry (0: none) */
    inmem_event event;     /**< event: the event (seq, time, type, hashes; payload as value) */
} inmem_change;

typedef struct inmem_replay inmem_replay;

/**
 * Replays a run: its committed transactions in commit order, each with its version, time and
 * writes, for the versions after @p after_version up to the transaction's snapshot — a change
 * feed that a consumer resumes from the last version it saw. Covers every primitive's data (KV,
 * events, state cells, spans, the run's metadata; not the indexes derived from them). Costs the
 * run's history, not the database's: the run's keys are one range, their versions are read from
 * the index. Needs the retained history to hold every version after @p after_version
 * (docs/history.md); a fork's replay is its own writes. The replay reads through the transaction:
 * free it with inmem_replay_free() (before or after the transaction ends).
 * @return 0, INMEM_EINVAL (NULL), INMEM_EHISTORY (versions after @p after_version were freed),
 *         INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM.
 */
int inmem_run_replay(inmem_txn *txn, const inmem_run_id *run, uint64_t after_version,
                     inmem_replay **out);
/**
 * The next committed transaction of the replay: *version, *time_ms (its commit time, 0 if not
 * known) and its writes (*changes[0..*n), borrowed until the next call). After an error (other
 * than INMEM_NOTFOUND and INMEM_EINVAL), every later call returns the same error, never the
 * commit after the one it failed on: free the replay and begin a new one after the last version
 * seen.
 * @return 0, INMEM_NOTFOUND (no more), INMEM_EINVAL, INMEM_ECORRUPT (a record that does not
 *         decode), INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM.
 */
int inmem_replay_next(inmem_replay *r, uint64_t *version, uint64_t *time_ms,
                      const inmem_change **changes, size_t *n);
/** Frees a replay. Accepts NULL. */
void inmem_replay_free(inmem_replay *r);

/** How a key differs between the two sides of a diff. */
typedef enum inmem_diff_kind {
    INMEM_DIFF_ADDED = 1,   /**< on side b only */
    INMEM_DIFF_REMOVED = 2, /**< on side a only */
    INMEM_DIFF_CHANGED = 3, /**< on both, with different contents */
} inmem_diff_kind;

/** One difference (inmem_diff_next()). */
typedef struct inmem_diff_entry {
    inmem_primitive primitive; /**< KV, STATE, EVENT (a stream) or TRACE (a span) */
    inmem_diff_kind kind;
    /** KV: the key; state: the cell's name; event: the stream's name; trace: the span id (16
     *  bytes). Owned by the diff until inmem_diff_free(). */
    const void *key;
    size_t klen;
    /** The version of the key (a stream's head) on each side; 0 where it is absent. */
    uint64_t version_a, version_b;
    /** Events: the first sequence number that differs (a stream on one side only: 1). */
    uint64_t first_seq;
} inmem_diff_entry;

typedef struct inmem_diff inmem_diff;

/**
 * Compares two runs, or one run at two versions: run @p a as of @p at_a against run @p b as of
 * @p at_b (0: the newest; both 0: one snapshot for both sides). Per primitive: KV keys and state
 * cells added, removed or changed (different bytes), with their versions on both sides; event
 * streams added, removed, or with the first sequence number that differs (found by bisection
 * on the hash chain, O(log n) reads per stream); spans present on one side only, or changed.
 * The runs' metadata is not compared. A fork compared with its parent at the fork's version is
 * empty until one of them writes. Read next entries with inmem_diff_next(), in order primitive
 * by primitive (KV, state, events, traces), by key.
 * @return 0, INMEM_EINVAL (NULL, a version newer than the newest commit), INMEM_EHISTORY (a
 *         version the history no longer holds), INMEM_ECORRUPT, INMEM_ETXNLIMIT (each side takes
 *         a transaction), INMEM_ENOMEM.
 */
int inmem_run_diff(inmem_db *db, const inmem_run_id *a, uint64_t at_a, const inmem_run_id *b,
                   uint64_t at_b, inmem_diff **out);
/** The next difference. @return 0, INMEM_NOTFOUND (no more), INMEM_EINVAL. */
int inmem_diff_next(inmem_diff *d, inmem_diff_entry *out);
/** Frees a diff. Accepts NULL. */
void inmem_diff_free(inmem_diff *d);

/* ---------------------------------------------------------------------------------------------
 * Waiting for changes
 * ------------------------------------------------------------------------------------------- */

/**
 * Blocks until something moves past a version: @p what is INMEM_PRIM_KV (the KV key @p key),
 * INMEM_PRIM_STATE (the state cell named @p key, klen bytes, no NUL) or INMEM_PRIM_EVENT (the
 * event stream named @p key: any append moves it) of @p run. Returns as soon as its visible
 * version — a delete's included — is greater than @p after_version (at once if it is already),
 * with that version in *version: pass the version you last saw (a read's, or 0 for "when it
 * first exists"). In a fork, a key it has not written has the version it inherits (its
 * parent's as of the fork), as reads see it. Woken by the commit that moves it, never by polling; a
 * strict commit wakes its waiters once durable. Agents use it to wait for a task, a peer's result
 * or a new event.
 * @param timeout_ms how long to wait: 0 just looks, UINT64_MAX waits forever.
 * @return 0, INMEM_ETIMEDOUT, INMEM_ECLOSED (inmem_db_close() was called meanwhile: the call
 *         returns before the database is freed), INMEM_EINVAL (NULL, a bad @p what or name),
 *         INMEM_ETOOBIG, INMEM_ENOMEM.
 */
int inmem_wait(inmem_db *db, const inmem_run_id *run, inmem_primitive what, const void *key,
               size_t klen, uint64_t after_version, uint64_t timeout_ms, uint64_t *version);

typedef struct inmem_watch inmem_watch;

/**
 * The non-blocking form of inmem_wait(), for event loops: a watch whose file descriptor
 * (inmem_watch_fd()) becomes readable once the key moves past @p after_version (or the database
 * closes); then inmem_watch_poll() says which. One-shot: open a new watch to wait again. Free it
 * with inmem_watch_close(), before or after the database is closed (a watch outlives a close,
 * which fires it), never concurrently with the close.
 * @return 0, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EIO (no eventfd: out of file descriptors),
 *         INMEM_ENOMEM.
 */
int inmem_watch_open(inmem_db *db, const inmem_run_id *run, inmem_primitive what, const void *key,
                     size_t klen, uint64_t after_version, inmem_watch **out);
/** The watch's file descriptor (an eventfd: poll it for reading; do not close it), or -1 for
 *  NULL. */
int inmem_watch_fd(const inmem_watch *w);
/** @return 0 (it fired: *version is the version that moved past), INMEM_NOTFOUND (not yet),
 *          INMEM_ECLOSED (the database was closed), INMEM_EINVAL. */
int inmem_watch_poll(inmem_watch *w, uint64_t *version);
/** Frees a watch (and its descriptor). Accepts NULL. */
void inmem_watch_close(inmem_watch *w);

/* ---- state cells --------------------------------------------------------------------------- */

/**
 * Named cells per run (or the shared scope, run NULL) holding a value and its version (the
 * commit that last wrote it). The tool for claiming tasks and stepping state machines.
 */

/** Reads a cell. @p val is borrowed. @return 0, INMEM_NOTFOUND, INMEM_EINVAL (NULL, empty
 *  name), INMEM_ETOOBIG (name), INMEM_ECORRUPT, INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM. */
int inmem_state_get(inmem_txn *txn, const inmem_run_id *run, const char *name, const void **val,
                    size_t *len, uint64_t *version);
/** Standalone read: *val is a copy the caller owns (inmem_free); may be NULL if not wanted.
 *  @return 0, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT, INMEM_ETXNLIMIT,
 *  INMEM_ENOMEM. */
int inmem_state_get_db(inmem_db *db, const inmem_run_id *run, const char *name, void **val,
                       size_t *len, uint64_t *version);
/** Sets a cell unconditionally. @return 0, INMEM_EINVAL (NULL @p txn, NULL or empty name, NULL
 *  @p val with a length), INMEM_ETOOBIG (name, or a value of max_value_size bytes or more: a
 *  cell's record is its value and a format byte; refused before the value is read),
 *  INMEM_EREADONLY (a read-only transaction), INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM. */
int inmem_state_set(inmem_txn *txn, const inmem_run_id *run, const char *name, const void *val,
                    size_t len);
/** Standalone form (a blind write: never retried). @return 0, INMEM_EINVAL, INMEM_ETOOBIG,
 *  INMEM_ETXNLIMIT, INMEM_EREADONLY, INMEM_EIO (its commit), INMEM_ENOMEM. */
int inmem_state_set_db(inmem_db *db, const inmem_run_id *run, const char *name, const void *val,
                       size_t len, uint64_t *version);
/**
 * Sets a cell if its version is @p expected (0: only if it does not exist), checked at commit:
 * INMEM_CONFLICT there. The standalone form returns INMEM_CONFLICT at once (not retried).
 * @return as inmem_state_set().
 */
int inmem_state_cas(inmem_txn *txn, const inmem_run_id *run, const char *name, uint64_t expected,
                    const void *val, size_t len);
/** Standalone form. @return 0, INMEM_CONFLICT, or as inmem_state_set_db(). */
int inmem_state_cas_db(inmem_db *db, const inmem_run_id *run, const char *name, uint64_t expected,
                       const void *val, size_t len, uint64_t *version);
/**
 * Sets a cell if its current value equals @p expected (@p elen bytes; NULL: the cell must not
 * exist). A mismatch at the transaction's snapshot returns INMEM_CONFLICT at once (nothing
 * written); a change by another transaction before commit makes the commit conflict (the value
 * was read).
 * @return 0, INMEM_CONFLICT, INMEM_EINVAL (also NULL @p expected with a length), INMEM_ETOOBIG,
 *         INMEM_ECORRUPT (the current value does not decode), INMEM_EREADONLY, INMEM_ETXNDONE,
 *         INMEM_EMISUSE, INMEM_ENOMEM.
 */
int inmem_state_cas_value(inmem_txn *txn, const inmem_run_id *run, const char *name,
                          const void *expected, size_t elen, const void *val, size_t len);
/** Standalone form. @return 0, INMEM_CONFLICT, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,
 *  INMEM_ETXNLIMIT, INMEM_EREADONLY, INMEM_EIO (its commit), INMEM_ENOMEM, INMEM_ERETRIES. */
int inmem_state_cas_value_db(inmem_db *db, const inmem_run_id *run, const char *name,
                             const void *expected, size_t elen, const void *val, size_t len,
                             uint64_t *version);

/** One state cell, as listed by inmem_state_list(). */
typedef struct inmem_state_entry {
    char name[INMEM_NAME_MAX];
    const void *val; /**< borrowed until the transaction ends */
    size_t len;
    uint64_t version;
} inmem_state_entry;

/**
 * Lists up to @p limit cells of @p run in name order (memcmp), after the cursor name @p after
 * (NULL: from the start). *n gets the count; fewer than @p limit means the end.
 * @return 0, INMEM_EINVAL, INMEM_ETOOBIG (cursor), INMEM_ECORRUPT, INMEM_ETXNDONE, INMEM_EMISUSE,
 *         INMEM_ENOMEM.
 */
int inmem_state_list(inmem_txn *txn, const inmem_run_id *run, const char *after, size_t limit,
                     inmem_state_entry *out, size_t *n);

/**
 * The history of a state cell, as inmem_kv_history() gives a key's: its versions newest first,
 * with a cursor. @return 0, INMEM_EINVAL (also a bad name), INMEM_ETOOBIG, INMEM_ECORRUPT (a
 * version's record does not decode), INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_EHISTORY (as
 * inmem_kv_history()).
 */
int inmem_state_history(inmem_txn *txn, const inmem_run_id *run, const char *name, uint64_t before,
                        size_t limit, inmem_version_info *out, size_t *n);

/**
 * A transition: given the current value (NULL, 0 and version 0 if the cell does not exist),
 * write the next one into *next (*next_len bytes; memory the callback keeps valid until it is
 * called again or the transition returns, e.g. a static or caller buffer) and return 0, or
 * return an error to abort the transition (returned as is).
 */
typedef int (*inmem_state_fn)(const void *cur, size_t cur_len, uint64_t version, const void **next,
                              size_t *next_len, void *arg);

/**
 * Applies @p fn to the cell in a closure transaction, retrying on conflict per @p retry.
 * @return 0 once committed; @p fn's non-zero result as is; INMEM_ERETRIES; INMEM_ETIMEDOUT;
 *         INMEM_EINVAL (NULL @p db or @p fn, an empty name, @p retry out of range, a NULL next
 *         value with a length); INMEM_ETOOBIG (name or next value); INMEM_ECORRUPT (the current
 *         value does not decode); INMEM_ETXNLIMIT; INMEM_EREADONLY, INMEM_EIO (the commit: see
 *         inmem_txn_commit()); INMEM_ENOMEM.
 */
int inmem_state_transition(inmem_db *db, const inmem_run_id *run, const char *name,
                           inmem_state_fn fn, void *arg, const inmem_retry_options *retry,
                           uint64_t *version);

/* ---- traces -------------------------------------------------------------------------------- */

typedef enum inmem_trace_kind {
    INMEM_TRACE_TOOL_CALL = 1,
    INMEM_TRACE_DECISION = 2,
    INMEM_TRACE_QUERY = 3,
    INMEM_TRACE_THOUGHT = 4,
    INMEM_TRACE_ERROR = 5,
    INMEM_TRACE_CUSTOM = 6
} inmem_trace_kind;

/** One span of an agent's reasoning. Ids use the run-id format. */
typedef struct inmem_span {
    inmem_run_id id;     /**< all zero on record: a new time-ordered id is made */
    inmem_run_id parent; /**< all zero: a root span */
    inmem_trace_kind kind;
    char name[INMEM_NAME_MAX];
    const void *input; /**< borrowed on read */
    size_t input_len;
    const void *output;
    size_t output_len;
    double confidence; /**< any value; NaN for none */
    uint64_t start_ms;
    uint64_t duration_us;
    size_t ntags;
    char tags[INMEM_MAX_TAGS][INMEM_NAME_MAX];
} inmem_span;

/**
 * Records a span and its index entries. start_ms 0 is recorded as now; the parent need not
 * exist but a span cannot be its own parent.
 * @param[out] id the span's id, generated or the caller's (may be NULL).
 * @return 0; INMEM_EINVAL (NULL, a caller-supplied id that exists, kind outside 1..6, an empty
 *         name or tag, more than INMEM_MAX_TAGS tags, NULL input/output with a length);
 *         INMEM_ETOOBIG (a name or tag without a NUL within INMEM_NAME_MAX bytes, index keys
 *         beyond max_key_size, or a record beyond max_value_size: input, output, name, tags,
 *         53 bytes and 2 per name or tag); INMEM_EREADONLY (a read-only transaction);
 *         INMEM_ETXNDONE; INMEM_EMISUSE; INMEM_ENOMEM (which may leave the transaction
 *         half-done).
 */
int inmem_trace_record(inmem_txn *txn, const inmem_run_id *run, const inmem_span *span,
                       inmem_run_id *id);
/** Standalone form. @return 0, INMEM_EINVAL (also NULL @p db), INMEM_ETOOBIG as above;
 *  INMEM_ETXNLIMIT; INMEM_EREADONLY, INMEM_EIO (its commit); INMEM_ENOMEM; INMEM_ERETRIES (a
 *  caller-supplied id is read). */
int inmem_trace_record_db(inmem_db *db, const inmem_run_id *run, const inmem_span *span,
                          inmem_run_id *id);

/** Reads a span (input and output borrowed). @return 0, INMEM_NOTFOUND, INMEM_EINVAL,
 *  INMEM_ETOOBIG (max_key_size below 17, too small for span keys), INMEM_ECORRUPT,
 *  INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM. */
int inmem_trace_get(inmem_txn *txn, const inmem_run_id *run, const inmem_run_id *id,
                    inmem_span *out);

/** Which spans inmem_trace_query() returns: every set field must match. */
typedef struct inmem_trace_filter {
    inmem_trace_kind kind;      /**< 0: any */
    const inmem_run_id *parent; /**< NULL: any; else the direct children of this span */
    const char *tag;            /**< NULL: any */
    uint64_t from_ms, to_ms;    /**< start_ms in [from_ms, to_ms); to_ms 0: no upper bound */
} inmem_trace_filter;

/**
 * Spans of @p run matching @p filter (NULL: all), ordered by start time then id, after the
 * cursor span id @p after (NULL: from the start). *n gets the count.
 * @return 0, INMEM_EINVAL (also: a cursor that is not a span of the run, an empty filter tag),
 *         INMEM_ETOOBIG (a filter tag of INMEM_NAME_MAX bytes or more; the index keys the query
 *         reads beyond max_key_size: 41 bytes by parent, 26 plus the tag by tag, 26 by kind,
 *         25 by time), INMEM_ECORRUPT, INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM.
 */
int inmem_trace_query(inmem_txn *txn, const inmem_run_id *run, const inmem_trace_filter *filter,
                      const inmem_run_id *after, size_t limit, inmem_span *out, size_t *n);

/** The tree under span @p root (itself first, then depth-first in start order), up to @p limit;
 *  out[i].parent links them. *n == limit may mean the tree was cut: ask again with a larger
 *  limit. A cycle made of caller-supplied ids is cut at the root. @return 0, INMEM_NOTFOUND (no
 *  such root), INMEM_EINVAL, INMEM_ETOOBIG (span keys beyond max_key_size), INMEM_ECORRUPT,
 *  INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM. */
int inmem_trace_tree(inmem_txn *txn, const inmem_run_id *run, const inmem_run_id *root,
                     size_t limit, inmem_span *out, size_t *n);

#if defined(__GNUC__) && __GNUC__ >= 4
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* INMEM_H */
