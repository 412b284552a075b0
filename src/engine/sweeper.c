/*
 * sweeper.c — deletes expired TTL values through ordinary transactions.
 *
 * Expired values are invisible to reads at once; this reclaims them. The commit path keeps a heap
 * of (expiry, version, key) for every value written with a TTL (txn.c). A sweep takes the entries
 * that are due and, for each, runs a transaction that reads the key and deletes it only if the
 * version it sees is still the one that expired: a key rewritten since is left alone, and a
 * concurrent writer simply makes the sweep's commit conflict (the key was read), so the sweeper
 * never deletes a value someone just wrote. The deletes are logged like any other commit.
 *
 * A background thread sweeps every ttl_sweep_interval_ms; inmem_db_sweep() sweeps now.
 */
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "engine/db.h"

/* Deletes one expired entry if it is still current; 1 if deleted. */
static int sweep_one(inmem_db *db, const inmem__expiry *e, uint64_t now)
{
    inmem_txn *txn;
    if (inmem__txn_begin(&db->store, &txn) != 0)
        return 0;
    uint64_t ver = 0, expiry = 0;
    int tomb = 0, removed = 0;
    int rc = inmem__txn_peek(txn, e->key, e->klen, &ver, &expiry, &tomb);
    if (rc == 0 && ver == e->version && !tomb && expiry && expiry <= now) {
        rc = inmem__txn_put(txn, e->key, e->klen, NULL, 0, 0, 1);
        if (rc == 0 && inmem_txn_commit(txn) == 0)
            removed = 1;
    }
    inmem_txn_free(txn);
    return removed;
}

int inmem_db_sweep(inmem_db *db, uint64_t *removed)
{
    if (removed)
        *removed = 0;
    if (!db)
        return INMEM_EINVAL;
    uint64_t now = inmem__clock_wall_ms();
    inmem__expiry *due;
    size_t n;
    int rc = inmem__store_take_expired(&db->store, now, &due, &n);
    uint64_t count = 0;
    for (size_t i = 0; i < n; i++) {
        count += (uint64_t)sweep_one(db, &due[i], now);
        free(due[i].key);
    }
    free(due);
    if (removed)
        *removed = count;
    return rc;
}

static void *sweeper_main(void *arg)
{
    inmem_db *db = arg;
    pthread_mutex_lock(&db->sweep_mu);
    while (!db->sweep_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + db->opts.ttl_sweep_interval_ms * 1000000ull;
        ts.tv_sec += (time_t)(ns / 1000000000ull);
        ts.tv_nsec = (long)(ns % 1000000000ull);
        pthread_cond_timedwait(&db->sweep_cv, &db->sweep_mu, &ts);
        if (db->sweep_stop)
            break;
        pthread_mutex_unlock(&db->sweep_mu);
        inmem_db_sweep(db, NULL); /* a read-only database just finds nothing to delete */
        pthread_mutex_lock(&db->sweep_mu);
    }
    pthread_mutex_unlock(&db->sweep_mu);
    return NULL;
}

int inmem__sweeper_start(inmem_db *db)
{
    db->sweep_stop = 0;
    if (db->opts.ttl_sweep_interval_ms == 0)
        return 0;
    if (inmem__thread_start(&db->sweeper, sweeper_main, db) != 0)
        return inmem__error(INMEM_ENOMEM, "cannot start the TTL sweeper thread");
    db->has_sweeper = 1;
    return 0;
}

void inmem__sweeper_stop(inmem_db *db)
{
    if (!db->has_sweeper)
        return;
    pthread_mutex_lock(&db->sweep_mu);
    db->sweep_stop = 1;
    pthread_cond_signal(&db->sweep_cv);
    pthread_mutex_unlock(&db->sweep_mu);
    pthread_join(db->sweeper, NULL);
    db->has_sweeper = 0;
}
