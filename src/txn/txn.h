/*
 * txn.h — the transactional store: the MVCC index plus what makes transactions work on it —
 * the version counters, the reader slots that pin snapshots, the commit lock, and the
 * transaction context (read set, write set, CAS list) with validation and commit.
 *
 * The engine embeds one inmem__store in each database. Everything here works on encoded keys
 * (core/key.h); the run/primitive encoding is done by the callers.
 */
#ifndef INMEM_TXN_TXN_H
#define INMEM_TXN_TXN_H

#include "core/arena.h"
#include "core/common.h"
#include "storage/index.h"
#include "wal/wal.h"

/* Per-slot state, one cache line, owned by the transaction handle holding the slot. */
typedef struct inmem__slot {
    _Atomic uint64_t snap;   /* pinned snapshot, or SNAP_NONE */
    _Atomic uint32_t in_use; /* 1 while a handle holds the slot */
    uint32_t unused;
    _Atomic uint64_t begin_us; /* coarse clock when the snapshot was taken */
    /* counters, written only by the holder (relaxed), summed by inmem__store_stats() */
    _Atomic uint64_t n_readonly;
    _Atomic uint64_t n_abort_user;
    _Atomic uint64_t n_retries;
    struct inmem_txn *spare; /* a freed handle kept for the next begin on this slot */
    uint64_t pad;
} inmem__slot;

#define INMEM__SNAP_NONE UINT64_MAX

/* Store-wide counters kept by the committer (under commit_mu) or by anyone (atomics). */
typedef struct inmem__counters {
    _Atomic uint64_t commits, abort_read, abort_cas, retries, exhausted, deadlines;
} inmem__counters;

/* A value with a time to live, awaiting the sweeper (a min-heap on at_ms). */
typedef struct inmem__expiry {
    uint64_t at_ms;   /* expiry, wall-clock ms */
    uint64_t version; /* the version that carries it */
    uint8_t *key;     /* encoded key, owned */
    uint32_t klen;
} inmem__expiry;

typedef struct inmem__store {
    inmem__index *index;
    inmem__wal *wal; /* NULL in durability NONE */
    int strict;      /* commits become visible once durable */
    size_t max_key;  /* encoded key limit (user limit + prefix) */
    size_t max_value;
    /* Versions. visible <= assigned; both only grow. */
    _Alignas(INMEM_CACHELINE) _Atomic uint64_t visible; /* newest commit readers may see */
    _Alignas(INMEM_CACHELINE) inmem__mutex commit_mu;   /* serialises committers (writer lock) */
    uint64_t assigned INMEM_GUARDED_BY(commit_mu);      /* newest version handed out */
    uint64_t min_cached INMEM_GUARDED_BY(commit_mu);    /* lower bound of active snapshots */
    unsigned since_gc INMEM_GUARDED_BY(commit_mu);
    _Atomic int gc_pending;    /* the last GC left work that an ending snapshot may unblock */
    _Atomic uint64_t gc_floor; /* the min_snap the last GC ran with */
    _Atomic int gc_busy;       /* a GC is between its scan of the slots and its gc_floor */
    _Atomic int gc_missed;     /* an ending snapshot wanted a GC but found the lock taken */
    inmem__counters ctr;
    inmem__expiry *ttl_heap INMEM_GUARDED_BY(commit_mu); /* values with a TTL, soonest first */
    size_t ttl_n INMEM_GUARDED_BY(commit_mu), ttl_cap INMEM_GUARDED_BY(commit_mu);
    /* Reader slots. */
    _Alignas(INMEM_CACHELINE) _Atomic uint32_t slot_hwm; /* slots [0, hwm) were ever used */
    uint32_t nslots;
    inmem__slot *slots;
} inmem__store;

/* Sets up @p st; INMEM_ENOMEM on failure (then nothing to free). */
int inmem__store_init(inmem__store *st, size_t max_key, size_t max_value, unsigned max_txns);
/* Frees everything. */
void inmem__store_fini(inmem__store *st);
/* 1 if a transaction handle exists. */
int inmem__store_busy(inmem__store *st);
/* Logs every commit from now on to @p wal; with @p strict, a commit becomes visible (and
 * returns) only once durable. */
void inmem__store_attach_wal(inmem__store *st, inmem__wal *wal, int strict);
/* Recovery's apply callback (inmem__wal_apply_fn): installs a logged transaction with its
 * versions. @p ctx is the store. Single-threaded, before the database is handed out. */
int inmem__store_replay(void *ctx, const inmem__wal_txn *txn);
/* Fills the counters and gauges of @p out. */
void inmem__store_stats(inmem__store *st, inmem_stats *out);

/* Begins a transaction handle on @p st (see inmem_txn_begin()). */
int inmem__txn_begin(inmem__store *st, inmem_txn **out);
/* Begins a read-only one (see inmem_txn_begin_readonly()). */
int inmem__txn_begin_ro(inmem__store *st, inmem_txn **out);

/* Encoded-key operations behind the public calls; @p key is an encoded key (core/key.h). */
int inmem__txn_get(inmem_txn *txn, const uint8_t *key, size_t klen, const void **val, size_t *vlen,
                   uint64_t *version);
/* @p expiry_ms: absolute wall-clock expiry (0: none; see inmem__expiry_after()). */
/* inmem__txn_get() that also reports the value's absolute expiry (0: none). */
int inmem__txn_get_ex(inmem_txn *txn, const uint8_t *key, size_t klen, const void **val,
                      size_t *vlen, uint64_t *version, uint64_t *expiry_ms);
int inmem__txn_put(inmem_txn *txn, const uint8_t *key, size_t klen, const void *val, size_t vlen,
                   uint64_t expiry_ms, int tomb);
int inmem__txn_cas(inmem_txn *txn, const uint8_t *key, size_t klen, uint64_t expected,
                   const void *val, size_t vlen);
/* Iterates encoded keys in [lo, hi) (hi NULL: no bound). Keys returned are encoded. */
int inmem__txn_scan(inmem_txn *txn, const uint8_t *lo, size_t lolen, const uint8_t *hi,
                    size_t hilen, inmem_iter **out);
int inmem__iter_next(inmem_iter *it, const uint8_t **key, size_t *klen, const void **val,
                     size_t *vlen, uint64_t *version);
/* A multi-write operation (a primitive writing several keys) that fails half-way must not leave
 * half of itself in the transaction: take a mark before, and settle the result after. If writes
 * were staged since the mark and @p rc is an error, the transaction becomes "sticky": every later
 * operation gets INMEM_EMISUSE and commit aborts it, returning @p rc. Returns @p rc. */
uint64_t inmem__txn_mark(const inmem_txn *txn);
int inmem__txn_settle(inmem_txn *txn, uint64_t mark, int rc);
/* The store a transaction belongs to. */
inmem__store *inmem__txn_store(const inmem_txn *txn);
/* Counts one retry of a closure transaction. */
void inmem__txn_count_retry(inmem_txn *txn);
/* Ends the transaction (if active) and begins it again on a fresh snapshot, keeping the handle. */
int inmem__txn_restart(inmem_txn *txn);

/* One blind write committed on its own (implicit put/delete): no snapshot, no read set.
 * @p expected: if has_expected, a CAS (INMEM_CONFLICT on mismatch). */
int inmem__store_write_one(inmem__store *st, const uint8_t *key, size_t klen, const void *val,
                           size_t vlen, uint64_t expiry_ms, int tomb, int has_expected,
                           uint64_t expected, uint64_t *version);

/* Reads a key like inmem__txn_get (recording the read) but reports the version seen even when it
 * is a tombstone or expired: *version (0 if none), *expiry_ms, *tomb. */
int inmem__txn_peek(inmem_txn *txn, const uint8_t *key, size_t klen, uint64_t *version,
                    uint64_t *expiry_ms, int *tomb);

/* The absolute expiry of a value written now with a time to live of @p ttl_ms (0: none). Saturates
 * at UINT64_MAX - 1 (never expires in practice) rather than wrapping into the past. */
uint64_t inmem__expiry_after(uint64_t ttl_ms);

/* Takes every TTL entry due at @p now_ms off the heap (caller frees out[i].key and *out). */
int inmem__store_take_expired(inmem__store *st, uint64_t now_ms, inmem__expiry **out, size_t *n);

#endif
