/*
 * transact.c — the public transaction calls: begin (read-write or read-only), commit, abort,
 * free, state and description (bodies in src/txn/txn.c), and closure transactions: run a
 * callback in a transaction, commit, and on conflict roll back and run it again on a fresh
 * snapshot after an exponential back-off with jitter (docs/CONTRACT.md, rule 1.10).
 */
#include <string.h>

#include "core/clock.h"
#include "engine/db.h"

/* ---- one transaction ------------------------------------------------------------------------- */

int inmem_txn_begin(inmem_db *db, inmem_txn **out)
{
    if (!out)
        return INMEM_EINVAL;
    *out = NULL;
    if (!db)
        return INMEM_EINVAL;
    return inmem__txn_begin(db->store, out);
}

int inmem_txn_begin_readonly(inmem_db *db, inmem_txn **out)
{
    if (!out)
        return INMEM_EINVAL;
    *out = NULL;
    if (!db)
        return INMEM_EINVAL;
    return inmem__txn_begin_ro(db->store, out);
}

int inmem_txn_begin_at(inmem_db *db, uint64_t version, inmem_txn **out)
{
    if (!out)
        return INMEM_EINVAL;
    *out = NULL;
    if (!db)
        return INMEM_EINVAL;
    return inmem__txn_begin_past(db->store, version, 0, 0, out);
}

int inmem_txn_begin_at_time(inmem_db *db, uint64_t time_ms, inmem_txn **out)
{
    if (!out)
        return INMEM_EINVAL;
    *out = NULL;
    if (!db)
        return INMEM_EINVAL;
    return inmem__txn_begin_past(db->store, 0, time_ms, 1, out);
}

int inmem_db_version_time(inmem_db *db, uint64_t version, uint64_t *time_ms)
{
    if (!db || !time_ms)
        return INMEM_EINVAL;
    *time_ms = 0;
    return inmem__history_lookup(db->store, version, 0, 0, time_ms);
}

int inmem_db_time_version(inmem_db *db, uint64_t time_ms, uint64_t *version)
{
    if (!db || !version)
        return INMEM_EINVAL;
    *version = 0;
    return inmem__history_lookup(db->store, 0, time_ms, 1, version);
}

int inmem_txn_set_timeout(inmem_txn *txn, uint64_t timeout_us)
{
    return inmem__txn_set_timeout(txn, timeout_us);
}

int inmem_txn_commit(inmem_txn *txn)
{
    return inmem__txn_commit(txn);
}

int inmem_txn_abort(inmem_txn *txn)
{
    return inmem__txn_abort(txn);
}

void inmem_txn_free(inmem_txn *txn)
{
    inmem__txn_free(txn);
}

inmem_txn_state inmem_txn_state_of(const inmem_txn *txn)
{
    return inmem__txn_state(txn);
}

int inmem_txn_describe(const inmem_txn *txn, inmem_txn_info *out)
{
    return inmem__txn_describe(txn, out);
}

/* ---- closure transactions ---------------------------------------------------------------------
 */

void inmem_retry_options_init(inmem_retry_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof(*o));
    o->max_attempts = 10;
    o->backoff_initial_us = 100;
    o->backoff_max_us = 10000;
    o->timeout_us = 0;
}

/* A back-off drawn uniformly from [b/2, b] ("equal jitter"), so that colliding committers
 * spread out instead of retrying in lock step. */
static uint64_t jitter(uint64_t b)
{
    static _Thread_local uint64_t seed;
    if (!seed)
        seed = (inmem__clock_mono_us() ^ (uint64_t)(uintptr_t)&seed) | 1;
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    uint64_t half = b / 2;
    return half + (half ? seed % (b - half + 1) : b);
}

/* inmem_db_transact(), also reporting the commit's version (0 if read-only). With @p own, the
 * transaction is the library's (a _db form's): its callback's error is the call's result, not an
 * abort the user asked for (aborts_user), and running out of memory, there or at begin, ends it
 * as memory ends a commit (aborts_error; the commit path counts its own). */
static int transact(inmem_db *db, const inmem_retry_options *opts, inmem_txn_fn fn, void *arg,
                    uint64_t *version, int own)
{
    if (!db || !fn)
        return INMEM_EINVAL;
    inmem_retry_options o;
    if (opts)
        o = *opts;
    else
        inmem_retry_options_init(&o);
    if (o.max_attempts < 1 || o.backoff_max_us < o.backoff_initial_us)
        return INMEM_EINVAL;
    uint64_t deadline = o.timeout_us ? inmem__add_sat(inmem__clock_mono_us(), o.timeout_us) : 0;
    inmem_txn *txn;
    inmem__store *st = db->store;
    int rc = inmem_txn_begin(db, &txn);
    if (rc) {
        if (own && rc == INMEM_ENOMEM)
            inmem__store_count(st, INMEM__COUNT_ABORTS_ERROR);
        return rc;
    }
    uint64_t backoff = o.backoff_initial_us;
    for (unsigned attempt = 1;; attempt++) {
        if (deadline) /* an attempt whose callback runs past it is not committed */
            inmem__txn_set_deadline(txn, deadline);
        rc = fn(txn, arg);
        if (rc != 0) { /* the callback's error, as is, without retry */
            if (!own) {
                inmem_txn_abort(txn);
            } else {
                inmem__txn_abort_own(txn);
                if (rc == INMEM_ENOMEM)
                    inmem__store_count(st, INMEM__COUNT_ABORTS_ERROR);
            }
            break;
        }
        rc = inmem_txn_commit(txn);
        if (rc == INMEM_ETXNDONE)
            rc = INMEM_EMISUSE; /* the callback ended the transaction itself */
        if (rc != INMEM_CONFLICT)
            break;
        if (attempt >= o.max_attempts) {
            inmem__store_count(st, INMEM__COUNT_RETRIES_EXHAUSTED);
            rc = INMEM_ERETRIES;
            break;
        }
        uint64_t wait = jitter(backoff);
        if (deadline && inmem__add_sat(inmem__clock_mono_us(), wait) >= deadline) {
            inmem__store_count(st, INMEM__COUNT_DEADLINES_EXPIRED);
            rc = INMEM_ETIMEDOUT;
            break;
        }
        if (wait)
            inmem__clock_sleep_us(wait);
        backoff = backoff > o.backoff_max_us / 2 ? o.backoff_max_us : backoff * 2;
        inmem__txn_count_retry(txn);
        inmem__txn_restart(txn);
    }
    if (rc == 0 && version) {
        inmem_txn_info info;
        inmem_txn_describe(txn, &info);
        *version = info.commit_version;
    }
    inmem_txn_free(txn);
    return rc;
}

int inmem_db_transact(inmem_db *db, const inmem_retry_options *opts, inmem_txn_fn fn, void *arg)
{
    return transact(db, opts, fn, arg, NULL, 0);
}

int inmem__db_transact_v(inmem_db *db, const inmem_retry_options *opts, inmem_txn_fn fn, void *arg,
                         uint64_t *version)
{
    return transact(db, opts, fn, arg, version, 0);
}

int inmem__db_autocommit_v(inmem_db *db, inmem_txn_fn fn, void *arg, uint64_t *version)
{
    inmem_retry_options o;
    inmem_retry_options_init(&o);
    o.max_attempts = 10000; /* contended standalone writes wait their turn rather than fail */
    o.backoff_initial_us = 10;
    o.backoff_max_us = 2000;
    return transact(db, &o, fn, arg, version, 1);
}

int inmem__db_autocommit(inmem_db *db, inmem_txn_fn fn, void *arg)
{
    return inmem__db_autocommit_v(db, fn, arg, NULL);
}
