/*
 * db.c — opening and closing a database, its options, its statistics and its recovery report.
 * The public transaction calls are in transact.c.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/key.h"
#include "engine/db.h"

#define MAX_KEY_LIMIT   65536u
#define MAX_VALUE_LIMIT (1u << 30)
#define MAX_TXNS_LIMIT  65536u

void inmem_options_init(inmem_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof(*o));
    o->durability = INMEM_DURABILITY_BATCHED;
    o->max_key_size = 4096;
    o->max_value_size = 16u << 20;
    o->max_txns = 256;
    o->wal_segment_size = 64u << 20;
    o->sync_interval_ms = 100;
    o->sync_commits = 1000;
    o->repair = 0;
    o->ttl_sweep_interval_ms = 1000;
    o->create_if_missing = 1;
    o->file_mode = 0600;
    o->max_unsynced_commits = 0;
    o->checkpoint_log_ratio = 4;
    o->checkpoint_log_min = 16u << 20;
    o->checkpoint_on_close = 0;
}

static int check_options(const char *dir, const inmem_options *o)
{
    if (o->max_key_size < 1 || o->max_key_size > MAX_KEY_LIMIT)
        return inmem__error(INMEM_EINVAL, "max_key_size must be 1..%u", MAX_KEY_LIMIT);
    if (o->max_value_size > MAX_VALUE_LIMIT)
        return inmem__error(INMEM_EINVAL, "max_value_size must be at most %u", MAX_VALUE_LIMIT);
    if (o->max_txns < 1 || o->max_txns > MAX_TXNS_LIMIT)
        return inmem__error(INMEM_EINVAL, "max_txns must be 1..%u", MAX_TXNS_LIMIT);
    switch (o->durability) {
    case INMEM_DURABILITY_NONE:
        if (o->read_only)
            return inmem__error(INMEM_EINVAL, "read_only needs a logged durability mode");
        return 0;
    case INMEM_DURABILITY_ASYNC:
    case INMEM_DURABILITY_BATCHED:
    case INMEM_DURABILITY_STRICT:
        break;
    default:
        return inmem__error(INMEM_EINVAL, "unknown durability mode %d", (int)o->durability);
    }
    if (!dir || !*dir)
        return inmem__error(INMEM_EINVAL, "durability modes other than none need a directory");
    if (o->wal_segment_size < (64u << 10) || o->wal_segment_size > (1ull << 40))
        return inmem__error(INMEM_EINVAL, "wal_segment_size must be 64 KiB..1 TiB");
    if (o->sync_interval_ms < 1 || o->sync_commits < 1)
        return inmem__error(INMEM_EINVAL, "sync_interval_ms and sync_commits must be >= 1");
    if (o->file_mode > 0777 || (o->file_mode & 0600) != 0600)
        return inmem__error(INMEM_EINVAL, "file_mode must be within 0777 and include 0600");
    return 0;
}

static void free_db(inmem_db *db)
{
    inmem__checkpoint_stop(db, 0);
    inmem__store_free(db->store); /* stops the sweeper first */
    inmem__wal_close(db->wal);
    inmem__mutex_destroy(&db->ckpt_mu);
    pthread_mutex_destroy(&db->ckpt_wait_mu);
    pthread_cond_destroy(&db->ckpt_cv);
    free(db->dir);
    free(db);
}

/* Recovery's apply callback: the store may have been replaced while a checkpoint loaded. */
static int replay(void *ctx, const inmem__wal_txn *txn)
{
    return inmem__store_replay(((inmem_db *)ctx)->store, txn);
}

/* Recovery's prescan callback: the engine's records further on in the log (fork records). */
static int replay_hint(void *ctx, const uint8_t *key, size_t klen, const void *val, size_t vlen)
{
    return inmem__store_replay_hint(((inmem_db *)ctx)->store, key, klen, val, vlen);
}

/* Recovery's prefetch callback: a key a few transactions ahead. */
static void replay_prefetch(void *ctx, const uint8_t *key, size_t klen, int stage)
{
    inmem__store_replay_prefetch(((inmem_db *)ctx)->store, key, klen, stage);
}

/* One attempt at opening; *live: a read-only open found a writer at work, whose progress may
 * explain a failure (not damage in a segment it had finished: that is there to stay). */
static int open_once(const char *dir, inmem_options o, inmem_db **out, int *live)
{
    int rc, settled = 0;
    inmem_db *db = calloc(1, sizeof(*db));
    if (!db)
        return INMEM_ENOMEM;
    db->opts = o;
    db->pid = getpid();
    inmem__mutex_init(&db->ckpt_mu);
    pthread_mutex_init(&db->ckpt_wait_mu, NULL);
    pthread_cond_init(&db->ckpt_cv, NULL);
    rc = inmem__store_new(o.max_key_size + INMEM__KEY_PREFIX, o.max_value_size, o.max_txns,
                          &db->store);
    if (rc) {
        free_db(db);
        return rc;
    }
    inmem__checkpoint_history_setup(db, 0);
    if (o.durability != INMEM_DURABILITY_NONE) {
        inmem__wal_config cfg = {.dir = dir,
                                 .mode = o.durability,
                                 .segment_size = o.wal_segment_size,
                                 .sync_interval_ms = o.sync_interval_ms,
                                 .sync_commits = o.sync_commits,
                                 .repair = o.repair,
                                 .read_only = o.read_only,
                                 .create_if_missing = o.create_if_missing,
                                 .file_mode = (int)o.file_mode,
                                 .max_unsynced = o.max_unsynced_commits,
                                 .before_replay = inmem__checkpoint_recover,
                                 .before_ctx = db,
                                 .prescan = replay_hint,
                                 .prefetch = replay_prefetch,
                                 .prescan_klen = INMEM__STORE_HINT_KLEN,
                                 .damage_settled = &settled};
        if (!(db->dir = strdup(dir))) {
            free_db(db);
            return INMEM_ENOMEM;
        }
        rc = inmem__wal_open(&cfg, replay, db, &db->recovery, &db->wal);
        inmem__store_replay_end(db->store);
        rc = inmem__checkpoint_recovered(db, rc);
        *live = db->recovery.live_writer && !settled;
        if (rc) {
            free_db(db);
            return rc;
        }
        inmem__store_attach_wal(db->store, db->wal, o.durability == INMEM_DURABILITY_STRICT);
        /* a policy given to a writable open becomes the database's, stored in it; without one,
         * what is stored stays in force (recovery applied it) */
        if (!o.read_only && (o.history_ms || o.history_versions) &&
            (rc = inmem__history_store_db_policy(db->store, o.history_ms, o.history_versions)) !=
                0) {
            free_db(db);
            return rc;
        }
        if ((rc = inmem__checkpoint_start(db)) != 0 ||
            (db->ckpt_after_open && !o.read_only && (rc = inmem_db_checkpoint(db, NULL)) != 0)) {
            free_db(db);
            return rc;
        }
        db->ckpt_after_open = 0;
    }
    if (o.read_only)
        db->opts.ttl_sweep_interval_ms = 0; /* nothing may be deleted */
    if ((rc = inmem__ttl_start(db->store, db->opts.ttl_sweep_interval_ms)) != 0) {
        free_db(db);
        return rc;
    }
    *out = db;
    return 0;
}

#define READ_ONLY_RETRY_US (10u * 1000 * 1000)

int inmem_db_open(const char *dir, const inmem_options *opts, inmem_db **out)
{
    if (!out)
        return INMEM_EINVAL;
    *out = NULL;
    inmem_options o;
    if (opts)
        o = *opts;
    else
        inmem_options_init(&o);
    int rc = check_options(dir, &o);
    if (rc)
        return rc;
    /* Read-only beside a writer, a checkpoint may remove an image or a segment between the
     * listing and the reading: the files seen no longer fit together. Then look again, for up
     * to READ_ONLY_RETRY_US: a count of attempts was not enough where an open takes long (a
     * loaded machine, a sanitizer build) and the writer checkpoints often. */
    uint64_t t0 = inmem__clock_mono_us();
    for (int attempt = 0;; attempt++) {
        int live = 0;
        rc = open_once(dir, o, out, &live);
        if (rc == 0 || !o.read_only || !live || (rc != INMEM_EIO && rc != INMEM_ECORRUPT) ||
            inmem__clock_mono_us() - t0 > READ_ONLY_RETRY_US)
            return rc;
        inmem__clock_sleep_us(attempt < 20 ? 1000 : 5000);
    }
}

int inmem_db_recovery(inmem_db *db, inmem_recovery_info *out)
{
    if (!db || !out)
        return INMEM_EINVAL;
    *out = db->recovery;
    return 0;
}

int inmem_db_close(inmem_db *db)
{
    if (!db)
        return 0;
    if (INMEM_UNLIKELY(db->pid != getpid())) /* its threads stayed in the parent: waiting for
                                              * them would hang; its memory goes with the child */
        return inmem__error(INMEM_EMISUSE,
                            "close in a child of fork(): the database belongs to process %ld, "
                            "which opened it; nothing was done (leave the handle, or exit)",
                            (long)db->pid);
    inmem__ttl_stop(db->store); /* first: a sweep in progress holds a transaction */
    if (inmem__store_busy(db->store)) {
        inmem__ttl_start(db->store, db->opts.ttl_sweep_interval_ms);
        return inmem__error(INMEM_EBUSY, "free every transaction before closing");
    }
    inmem__watch_shutdown(db->store);        /* waiters wake with INMEM_ECLOSED, and leave */
    int crc = inmem__checkpoint_stop(db, 1); /* the checkpoint at close, if due */
    inmem__store_free(db->store);
    db->store = NULL;
    int rc = inmem__wal_close(db->wal); /* after the store: it logged through it */
    db->wal = NULL;
    free_db(db);
    return rc ? rc : crc;
}

int inmem_db_stats(inmem_db *db, inmem_stats *out)
{
    if (!db || !out)
        return INMEM_EINVAL;
    inmem__store_stats(db->store, out);
    out->checkpoints = atomic_load_rlx(&db->ckpt_count);
    out->checkpoint_failures = atomic_load_rlx(&db->ckpt_failures);
    out->checkpoint_version = atomic_load_rlx(&db->ckpt_version_pub);
    out->checkpoint_bytes = atomic_load_rlx(&db->ckpt_bytes);
    out->checkpoint_time_us = atomic_load_rlx(&db->ckpt_time_us);
    out->wal_bytes_since_checkpoint = db->wal ? inmem__wal_bytes(db->wal) -
                                                    atomic_load_rlx(&db->ckpt_wal_mark_pub) +
                                                    atomic_load_rlx(&db->ckpt_backlog_pub)
                                              : 0;
    out->live_bytes = inmem__store_live_bytes(db->store);
    out->checkpoint_error = atomic_load_rlx(&db->ckpt_error);
    return 0;
}

int inmem_db_sweep(inmem_db *db, uint64_t *removed)
{
    if (removed)
        *removed = 0;
    if (!db)
        return INMEM_EINVAL;
    return inmem__ttl_sweep(db->store, removed);
}
