/*
 * txn.h — the transaction layer as the engine and the primitives see it: the transactional
 * store (the MVCC index plus the version counters, the reader slots that pin snapshots, the
 * commit lock and the TTL sweeper) and transactions on it (read set, write set, CAS list,
 * validation and commit). The store's internals are private to src/txn/ (txn_int.h).
 *
 * Everything here works on encoded keys (core/key.h); the run/primitive encoding is done by the
 * callers. The engine creates one store per database; the log it writes to is the engine's,
 * lent to the store with inmem__store_attach_wal() for the store's lifetime.
 *
 * Files: store.c (the store, snapshots, garbage collection, applying commits, replay), txn.c
 * (transactions: sets, begin/end, reads, writes, validation), iter.c (scans merged with a
 * transaction's own writes), ttl.c (values with a time to live and their sweeper), history.c
 * (retained history: policies, commit times, time-travel transactions).
 */
#ifndef INMEM_TXN_TXN_H
#define INMEM_TXN_TXN_H

#include "core/common.h"
#include "wal/wal.h"

typedef struct inmem__store inmem__store;

/* ---- the store ------------------------------------------------------------------------------ */

/* Makes a store for keys of up to @p max_key encoded bytes, values of up to @p max_value bytes
 * and @p max_txns transaction handles at once. INMEM_ENOMEM. Free with inmem__store_free(). */
int inmem__store_new(size_t max_key, size_t max_value, unsigned max_txns, inmem__store **out);
/* Frees everything (the sweeper must be stopped and every handle freed). Accepts NULL. */
void inmem__store_free(inmem__store *st);
/* 1 if a transaction handle of the user's exists (not the engine's own: a checkpoint's). */
int inmem__store_busy(inmem__store *st);
/* Logs every commit from now on to @p wal (borrowed: the engine owns and closes it); with
 * @p strict, a commit becomes visible (and returns) only once durable. */
void inmem__store_attach_wal(inmem__store *st, inmem__wal *wal, int strict);
/* Recovery's apply callback (inmem__wal_apply_fn): installs a logged transaction with its
 * versions. @p ctx is the store. Single-threaded, before the database is handed out. */
int inmem__store_replay(void *ctx, const inmem__wal_txn *txn);
/* Before the first inmem__store_replay() of an open: a put of @p key the log holds (recovery's
 * prescan, for the keys of INMEM__STORE_HINT_KLEN bytes: the engine's records). A fork record
 * makes its parent keep, while the log replays, what the fork will read. 0 or INMEM_ENOMEM. */
int inmem__store_replay_hint(inmem__store *st, const uint8_t *key, size_t klen, const void *val,
                             size_t vlen);
#define INMEM__STORE_HINT_KLEN (INMEM__KEY_PREFIX + 17)
/* After the last inmem__store_replay() of an open (whether it worked or not). */
void inmem__store_replay_end(inmem__store *st);
/* Fills the counters and gauges of @p out. */
void inmem__store_stats(inmem__store *st, inmem_stats *out);
/* The limits: the largest encoded key, the largest value. The key limit is read inline (every
 * primitive call checks it): it is the store's first member (txn_int.h; asserted in store.c). */
static inline size_t inmem__store_max_key(const inmem__store *st)
{
    return *(const size_t *)(const void *)st;
}
size_t inmem__store_max_value(const inmem__store *st);

/* Counters kept in the store by anyone (closure transactions that gave up, commits an error
 * ended). */
typedef enum inmem__store_counter {
    INMEM__COUNT_RETRIES_EXHAUSTED,
    INMEM__COUNT_DEADLINES_EXPIRED,
    INMEM__COUNT_ABORTS_ERROR,
} inmem__store_counter;
void inmem__store_count(inmem__store *st, inmem__store_counter which);

/* The newest commit's version. */
uint64_t inmem__store_version(inmem__store *st);
/* Key and value bytes of the live data (every key's newest value). */
uint64_t inmem__store_live_bytes(const inmem__store *st);

/* Loading a checkpoint image at open, before replaying the log and before any transaction: keys
 * in strictly increasing order, each with its versions newest first (`first` set on the newest;
 * older ones are retained history; `cut` on the oldest if versions older than it were freed),
 * then _load_end with the image's version, which becomes the store's. The load holds commit_mu
 * from its first entry on: _load_end must follow every load, failed ones too (with version 0),
 * and nothing may use the store in between. */
typedef struct inmem__load_entry {
    const uint8_t *key;
    uint32_t klen;
    uint64_t version, time_ms, expiry_ms;
    int tomb, first, cut;
    const void *val;
    uint32_t vlen;
} inmem__load_entry;
void inmem__store_load_begin(inmem__store *st, uint64_t keys_hint);
int inmem__store_load(inmem__store *st, const inmem__load_entry *e);
/* A hint from the log's replay: @p key comes in a transaction a few ahead (stage 0: start the
 * hash slot's cache miss; 1: the node's, the slot being in by then). */
void inmem__store_replay_prefetch(inmem__store *st, const uint8_t *key, size_t klen, int stage);
void inmem__store_load_end(inmem__store *st, uint64_t version);
/* A checkpoint's image at @p version is being written (its snapshot taken): from now on a
 * reopen may start from it (see inmem__fork_hold()). One checkpoint at a time calls it. */
void inmem__store_image_at(inmem__store *st, uint64_t version);

/* ---- retained history (history.c) ------------------------------------------------------------ */

/* The database's retention policy: keep versions replaced less than @p ms ago and at least
 * @p count versions of every key (0 and 1: none), for versions from @p since on. Before any
 * transaction. */
void inmem__history_config(inmem__store *st, uint64_t ms, uint32_t count, uint64_t since);
/* The value of a run's policy record (INMEM__TAG_SYS 'h'): 13 bytes into @p out. */
size_t inmem__history_policy_value(uint64_t ms, uint32_t count, uint8_t out[13]);
/* The database's policy is stored in it: a policy record of the all-zero run id (the shared
 * scope), which sets the policy from its commit on wherever it is applied (a commit, the log's
 * replay, a checkpoint's load). inmem__history_db_stored(): 1 once such a record set the
 * policy. inmem__history_store_db_policy(): commits a record of @p ms / @p count (count 0 and 1:
 * none) unless the policy stored is that already; 0 or an error of the commit. */
int inmem__history_db_stored(inmem__store *st);
/* A checkpoint image was written at wall-clock @p ms: the window floors the GC dropped its
 * history by were computed at that time or before, so no floor is computed at an earlier time
 * from now on (a clock stepped back across the reopen would lower them below what is gone). */
void inmem__history_clock_at_least(inmem__store *st, uint64_t ms);
int inmem__history_store_db_policy(inmem__store *st, uint64_t ms, uint32_t count);
/* A read-only transaction at an old version (or the newest version committed at or before
 * @p time_ms, with @p by_time): INMEM_EHISTORY if the retained history does not reach it,
 * INMEM_EINVAL for a version not committed yet; INMEM_ETXNLIMIT, INMEM_ENOMEM. */
int inmem__txn_begin_past(inmem__store *st, uint64_t version, uint64_t time_ms, int by_time,
                          inmem_txn **out);
/* Version -> commit time, or (by_time) time -> the newest version committed at or before it.
 * INMEM_EHISTORY outside the times retained, INMEM_EINVAL for a version not committed. */
int inmem__history_lookup(inmem__store *st, uint64_t version, uint64_t time_ms, int by_time,
                          uint64_t *out);
/* The records of a run's history policy (runs.c calls them in the run's transactions): at its
 * begin, its own policy (@p own) or the database's; at its delete, an erasure if it kept
 * history (its past is refused from then on). */
int inmem__history_run_begun(inmem_txn *txn, const uint8_t run[16], int own, uint64_t ms,
                             uint32_t count);
int inmem__history_run_deleted(inmem_txn *txn, const uint8_t run[16]);
/* Deletes, in a commit of the engine's own, the records of deleted runs (erased, or covered by
 * the database's policy from their deletion on) that no longer change any answer: the
 * database's own floor has reached the version they take effect from, so a read before it is
 * refused without them. Called by every sweep (ttl.c). 0, or an error of the commit (the records
 * stay for the next sweep); *removed: how many went (may be NULL). */
int inmem__history_sweep(inmem__store *st, uint64_t *removed);
/* The most records one inmem__history_sweep() deletes (in one commit): a batch that full may
 * leave more for another. */
#define INMEM__HISTORY_SWEEP_MAX 256
/* One committed version of a key, as inmem__txn_key_versions() hands it out (val borrowed until
 * the transaction ends). cut: the oldest version kept, and older ones were freed. */
typedef struct inmem__hver {
    uint64_t version, time_ms, expiry_ms;
    int tomb, cut;
    const uint8_t *val;
    uint32_t vlen;
} inmem__hver;
/* The committed versions of @p key that the transaction's snapshot covers (at or below it),
 * below @p before (0: no bound), newest first, at most @p limit into @p out; *n how many. The
 * transaction then holds them (its pin is lowered to the oldest one). INMEM_ETOOBIG; the
 * CHECK_ACTIVE errors. */
int inmem__txn_key_versions(inmem_txn *txn, const uint8_t *key, size_t klen, uint64_t before,
                            inmem__hver *out, size_t limit, size_t *n);
/* Forks (fork.c), for runs.c, in the fork's or the deletion's transaction:
 * _hold checks that @p parent can be forked at *at (0: the snapshot; INMEM_EINVAL if newer than
 * it or the chain of forks is too deep, INMEM_EHISTORY if the parent's history no longer reaches
 * it, INMEM_EREADONLY) and holds its versions until the transaction ends; _record writes the
 * fork's record and counts it on the parent; _unrecord removes a fork's record (if the run is a
 * fork) and its count; _children reads how many live forks @p run has. */
int inmem__fork_hold(inmem_txn *txn, const uint8_t parent[16], uint64_t *at);
int inmem__fork_record(inmem_txn *txn, const uint8_t child[16], const uint8_t parent[16],
                       uint64_t at);
int inmem__fork_unrecord(inmem_txn *txn, const uint8_t run[16]);
int inmem__fork_children(inmem_txn *txn, const uint8_t run[16], uint64_t *count);
/* Replay (replay.c): the committed writes of scope @p scope (a run id) with versions in
 * (after, the snapshot], in commit order, each commit's writes in key order. Opening fails with
 * INMEM_EHISTORY if the retained history does not hold all of them. The pointers stay valid
 * while the transaction lives. */
typedef struct inmem__replay inmem__replay;
typedef struct inmem__replay_write {
    const uint8_t *key;
    uint32_t klen;
    uint64_t version, time_ms;
    int tomb;
    const uint8_t *val;
    uint32_t vlen;
    uint64_t expiry_ms;
} inmem__replay_write;
int inmem__replay_open(inmem_txn *txn, const uint8_t scope[16], uint64_t after,
                       inmem__replay **out);
/* The next commit's writes (*w[0..n), all of one version); INMEM_NOTFOUND at the end. */
int inmem__replay_next(inmem__replay *r, const inmem__replay_write **w, size_t *n);
void inmem__replay_free(inmem__replay *r);
/* Waiting for changes (watch.c) of one encoded key: returns once its visible version (a delete's
 * included) is greater than @p after, with *version that version; INMEM_ETIMEDOUT after
 * @p timeout_ms (UINT64_MAX: never; 0: just look), INMEM_ECLOSED when the database closes,
 * INMEM_ENOMEM. The watch form signals an eventfd instead (_fd); _poll says 0 (fired, *version),
 * INMEM_NOTFOUND (not yet) or INMEM_ECLOSED. _shutdown (at close) wakes every waiter and waits for
 * the blocked ones to leave; a watch outlives it, for its owner to _close. */
typedef struct inmem__waiter inmem__waiter;
int inmem__watch_wait(inmem__store *st, const uint8_t *key, size_t klen, uint64_t after,
                      uint64_t timeout_ms, uint64_t *version);
int inmem__watch_open(inmem__store *st, const uint8_t *key, size_t klen, uint64_t after,
                      inmem__waiter **out);
int inmem__watch_fd(const inmem__waiter *w);
int inmem__watch_poll(inmem__waiter *w, uint64_t *version);
void inmem__watch_close(inmem__waiter *w);
void inmem__watch_shutdown(inmem__store *st);
/* The oldest version a time-travel transaction may begin at. */
uint64_t inmem__history_floor(inmem__store *st);
/* The database's policy (as set by inmem__history_config()). */
void inmem__history_db_policy(inmem__store *st, uint64_t *ms, uint32_t *count, uint64_t *since);
/* Hands @p fn every version a checkpoint image of @p txn's snapshot holds, key by key in order,
 * newest first (`first` set on each key's newest): with no history kept, each key's newest value
 * visible at the snapshot; with history, every version kept at or below it, tombstones
 * included, and `cut` on a key's oldest if older ones were freed. Stops at @p fn's error. With
 * history on, @p txn must come from inmem__txn_begin_newest(), which then holds back the GC. */
int inmem__txn_dump(inmem_txn *txn, int (*fn)(void *ctx, const inmem__load_entry *e), void *ctx);

/* A read-only transaction on the newest commit (even one not yet visible in strict mode, whose
 * fsync is pending), begun atomically with @p fn(@p ctx), which runs under the commit lock: no
 * commit happens between the two. With @p visible, on the newest commit readers see instead (in
 * strict mode, the newest one made durable; the same otherwise). *version gets the snapshot's
 * version. What @p fn returns, or INMEM_ETXNLIMIT / INMEM_ENOMEM. */
int inmem__txn_begin_newest(inmem__store *st, int (*fn)(void *ctx, uint64_t version), void *ctx,
                            int visible, inmem_txn **out, uint64_t *version);

/* One blind write committed on its own (implicit put/delete/CAS): no snapshot, no read set.
 * @p expiry_ms: absolute wall-clock expiry (0: none; see inmem__expiry_after()). The CAS form
 * fails with INMEM_CONFLICT if the key's current version is not @p expected. *version gets the
 * commit's version (may be NULL). */
int inmem__store_put_one(inmem__store *st, const uint8_t *key, size_t klen, const void *val,
                         size_t vlen, uint64_t expiry_ms, uint64_t *version);
int inmem__store_delete_one(inmem__store *st, const uint8_t *key, size_t klen, uint64_t *version);
int inmem__store_cas_one(inmem__store *st, const uint8_t *key, size_t klen, uint64_t expected,
                         const void *val, size_t vlen, uint64_t *version);

/* ---- values with a time to live (ttl.c) ----------------------------------------------------- */

/* The absolute expiry of a value written now with a time to live of @p ttl_ms (0: none). Saturates
 * at UINT64_MAX - 1 (never expires in practice) rather than wrapping into the past. */
uint64_t inmem__expiry_after(uint64_t ttl_ms);
/* Deletes the values expired by now, each through an ordinary transaction; *removed gets how
 * many (may be NULL). */
int inmem__ttl_sweep(inmem__store *st, uint64_t *removed);
/* Starts a background thread sweeping every @p interval_ms (0: none); stopped by
 * inmem__ttl_stop() (and by inmem__store_free()). INMEM_ENOMEM if it cannot start. */
int inmem__ttl_start(inmem__store *st, uint64_t interval_ms);
void inmem__ttl_stop(inmem__store *st);

/* ---- transactions (txn.c) ------------------------------------------------------------------- */

/* Begins a transaction handle on @p st (see inmem_txn_begin()); the read-only form keeps no read
 * set and refuses writes. */
int inmem__txn_begin(inmem__store *st, inmem_txn **out);
int inmem__txn_begin_ro(inmem__store *st, inmem_txn **out);
/* A read-write transaction the engine runs for itself (the TTL sweeper's): ended without a
 * commit, it is not counted as an abort by the user (inmem_stats.aborts_user); its commit counts
 * in inmem_stats.expired_swept, not commits, and its conflicts and failures in no abort; and
 * inmem_db_close() does not count it as a transaction left open (it stops its holder first). */
int inmem__txn_begin_own(inmem__store *st, inmem_txn **out);
/* The bodies of inmem_txn_commit(), _abort(), _free(), _state_of(), _describe() (engine). */
int inmem__txn_commit(inmem_txn *txn);
int inmem__txn_set_timeout(inmem_txn *txn, uint64_t timeout_us);
/* The same with an absolute monotonic deadline (inmem__clock_mono_us()); 0 = none. */
void inmem__txn_set_deadline(inmem_txn *txn, uint64_t deadline_us);
int inmem__txn_abort(inmem_txn *txn);
/* Aborts without counting the abort as the user's (inmem_stats.aborts_user): the library's own
 * closure transactions (the _db forms), whose callback's error is the call's result. */
int inmem__txn_abort_own(inmem_txn *txn);
void inmem__txn_free(inmem_txn *txn);
inmem_txn_state inmem__txn_state(const inmem_txn *txn);
int inmem__txn_describe(const inmem_txn *txn, inmem_txn_info *out);
/* Ends the transaction (if active) and begins it again on a fresh snapshot, keeping the handle. */
int inmem__txn_restart(inmem_txn *txn);
/* The store a transaction belongs to: a handle's first member (txn_int.h; asserted in txn.c),
 * read inline. */
static inline inmem__store *inmem__txn_store(const inmem_txn *txn)
{
    return *(inmem__store *const *)(const void *)txn;
}
/* The commit of @p txn, if it commits, ends with a collection once its snapshot is dropped: the
 * versions its writes replaced are freed at once, unless an open transaction still sees them
 * (then at the end of the last that does), instead of at the next collection, up to 8 commits
 * later. For a run's deletion (runs.c): the values it erases should not outlive it in memory. */
void inmem__txn_collect_at_commit(inmem_txn *txn);
/* Counts one retry of a closure transaction. */
void inmem__txn_count_retry(inmem_txn *txn);

/* A read of the key of hash @p hash (inmem__hash() of the encoded key) is coming: stage 0,
 * then 1, as inmem__index_prefetch() says (for a group of keys before reading any). */
void inmem__txn_prefetch(inmem_txn *txn, uint64_t hash, int stage);

/* Encoded-key operations behind the public calls; @p key is an encoded key (core/key.h). */
int inmem__txn_get(inmem_txn *txn, const uint8_t *key, size_t klen, const void **val, size_t *vlen,
                   uint64_t *version);
/* inmem__txn_get() that also reports the value's absolute expiry (0: none). */
int inmem__txn_get_ex(inmem_txn *txn, const uint8_t *key, size_t klen, const void **val,
                      size_t *vlen, uint64_t *version, uint64_t *expiry_ms);
/* inmem__txn_get() of a key whose inmem__hash() the caller has: @p hash. */
int inmem__txn_get_hashed(inmem_txn *txn, const uint8_t *key, size_t klen, uint64_t hash,
                          const void **val, size_t *vlen, uint64_t *version);
/* Reads a key like inmem__txn_get (recording the read) but reports the version seen even when it
 * is a tombstone or expired: *version (0 if none), *expiry_ms, *tomb. */
int inmem__txn_peek(inmem_txn *txn, const uint8_t *key, size_t klen, uint64_t *version,
                    uint64_t *expiry_ms, int *tomb);
/* Stages a write; @p expiry_ms: absolute wall-clock expiry (0: none). */
int inmem__txn_put(inmem_txn *txn, const uint8_t *key, size_t klen, const void *val, size_t vlen,
                   uint64_t expiry_ms);
/* Stages a delete (a tombstone, even for a missing key). */
int inmem__txn_delete(inmem_txn *txn, const uint8_t *key, size_t klen);
int inmem__txn_cas(inmem_txn *txn, const uint8_t *key, size_t klen, uint64_t expected,
                   const void *val, size_t vlen);
/* A multi-write operation (a primitive writing several keys) that fails half-way must not leave
 * half of itself in the transaction: take a mark before, and settle the result after. If writes
 * were staged since the mark and @p rc is an error, the transaction becomes "sticky": every later
 * operation gets INMEM_EMISUSE and commit aborts it, returning @p rc. Returns @p rc. */
uint64_t inmem__txn_mark(const inmem_txn *txn);
int inmem__txn_settle(inmem_txn *txn, uint64_t mark, int rc);
/* 0 if @p txn takes operations; else what any operation on it returns: INMEM_EINVAL (NULL),
 * INMEM_ETXNDONE (ended), INMEM_EMISUSE (left half-done). For the calls that may have nothing
 * to read or write (a count or limit of 0) and so would not reach a check of the layer's own:
 * they refuse a transaction that is not active all the same (docs/CONTRACT.md 1.8). */
int inmem__txn_check(const inmem_txn *txn);
/* inmem__txn_check() for a call that writes, given nothing to write: also INMEM_EREADONLY on a
 * read-only transaction, as when it writes something. */
int inmem__txn_check_write(const inmem_txn *txn);

/* ---- scans (iter.c) ------------------------------------------------------------------------- */

/* Iterates encoded keys in [lo, hi) (hi NULL: no bound), merged with the transaction's own
 * writes. Keys returned are encoded. Freed with inmem__iter_free() or with the transaction. */
int inmem__txn_scan(inmem_txn *txn, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                    size_t hilen, inmem_iter **out);
/* inmem__txn_scan() of the range's own keys only: a fork's inherited keys are left out. */
int inmem__txn_scan_own(inmem_txn *txn, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                        size_t hilen, inmem_iter **out);
/* inmem__txn_scan_own() that also returns the values whose time to live has passed (every other
 * scan leaves them out, as reads do; tombstones stay out): for a run's deletion, which must erase
 * every value the run still holds, expired or not. */
int inmem__txn_scan_own_with_expired(inmem_txn *txn, const uint8_t *lo, size_t lolen,
                                     const uint8_t *hi, size_t hilen, inmem_iter **out);
int inmem__iter_next(inmem_iter *it, const uint8_t **key, size_t *klen, const void **val,
                     size_t *vlen, uint64_t *version);
/* inmem__iter_next() that also reports the value's absolute expiry (0: none). */
int inmem__iter_next_ex(inmem_iter *it, const uint8_t **key, size_t *klen, const void **val,
                        size_t *vlen, uint64_t *version, uint64_t *expiry_ms);
void inmem__iter_free(inmem_iter *it);

#endif
