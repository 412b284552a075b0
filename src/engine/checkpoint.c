/*
 * checkpoint.c — the engine's checkpoints: taking them (on demand, in the background when the log
 * has grown enough, at a clean close), installing them and truncating the log, recovering from
 * them at open, and online backups. The image format is src/checkpoint/; the engine coordinates
 * the store (a snapshot to write from, a bulk load at open) and the log (a segment switch, the
 * removal of covered segments).
 *
 * Taking a checkpoint (do_checkpoint; one at a time, ckpt_mu):
 *   1. Under the commit lock (inmem__txn_begin_newest): switch the log to a new segment S and pin
 *      a snapshot at the newest commit V. Every commit <= V now lies in segments < S, every later
 *      one in S or after. Writers wait only for the switch (an fsync of the old segment and the
 *      creation of the new one), never for the image.
 *   2. Write the image of the snapshot to ckpt-<V>.img.tmp from this thread while committers and
 *      readers go on; fsync; rename to ckpt-<V>.img; fsync the directory.
 *   3. Release the snapshot (the old versions it kept can go).
 *   4. Remove the older images (synced), then the segments < S — in that order, so that an image
 *      never outlives the log that goes on from it (if the newer image were lost, the older one
 *      alone would open without the commits between; a removal that fails fails the checkpoint,
 *      and the log stays; an open removes older images before the log's recovery removes the
 *      segments of the image it loaded). After this, nothing of a key deleted at or
 *      before V (or of a value overwritten, or expired and swept) is left in any file: deletion
 *      is erasure at the first checkpoint after it. The one exception is what recovery set aside
 *      as *.dropped (a repair's segments and salvaged image, a damaged image a fallback
 *      replaced): kept as evidence, never touched here, the user's to inspect and remove.
 * A crash at any point leaves a directory that recovers exactly: before the rename, the old image
 * and the whole log; after it, the new image (the log after V is in S and later, the older
 * segments and images, if still there, are ignored or removed at open). A failure (a full disk)
 * removes the temporary image and leaves the database working on the old image and the log; it
 * is counted in the stats and described by inmem_errmsg().
 *
 * Recovering (before_replay, called by the log once the directory is locked): load the newest
 * image whole; if it is damaged, load the next older one and let the log replay from there — which
 * only succeeds if the log still covers the versions between (otherwise the open fails with
 * INMEM_ECORRUPT naming the damaged image and offset). With the repair option, a damaged image
 * whose versions no log covers is salvaged: its intact blocks are loaded, the keys of the damaged
 * ones are lost and reported, and a new checkpoint is written at once. Whether the log covers it
 * is found before the replay, by reading the log once without changing it (log_covers()): when
 * it does, the repair falls back like a plain open and loses nothing. With no image at all the
 * log is replayed from nothing, and its recovery refuses a log that does not start at its first
 * segment (an image was lost: replayed onto nothing, the rest would open as an empty database).
 *
 * Triggers: the log calls back (once) when the bytes logged since the last checkpoint reach
 * max(checkpoint_log_ratio x live data, checkpoint_log_min); the callback only wakes the
 * checkpointer thread, never does work on the committer's thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint/checkpoint.h"
#include "core/clock.h"
#include "core/vfs.h"
#include "engine/db.h"

/* ---- writing an image from a snapshot ------------------------------------------------------ */

static int add_entry(void *ctx, const inmem__load_entry *e)
{
    inmem__ckpt_entry c = {.key = e->key,
                           .klen = e->klen,
                           .version = e->version,
                           .time_ms = e->time_ms,
                           .expiry_ms = e->expiry_ms,
                           .tomb = e->tomb,
                           .val = e->val,
                           .vlen = e->vlen,
                           .cut = e->cut};
    return inmem__ckpt_add(ctx, &c);
}

/* Writes the image of @p txn's snapshot (version @p v) into @p dir; *bytes its size. */
static int write_image(inmem_txn *txn, const char *dir, uint64_t v, int file_mode, uint64_t *bytes)
{
    inmem__ckpt_writer *cw;
    inmem__ckpt_history h;
    inmem__history_db_policy(inmem__txn_store(txn), &h.ms, &h.count, &h.since);
    int rc = inmem__ckpt_begin(dir, v, v, file_mode, &h, &cw);
    if (rc)
        return rc;
    rc = inmem__txn_dump(txn, add_entry, cw);
    if (rc) {
        inmem__ckpt_abort(cw);
        return rc;
    }
    return inmem__ckpt_finish(cw, bytes);
}

/* ---- taking a checkpoint ------------------------------------------------------------------- */

struct switch_arg {
    inmem_db *db;
    uint64_t seq;  /* the new segment */
    uint64_t mark; /* the log's bytes at the image's version */
};

static int switch_log(void *ctx, uint64_t version)
{
    struct switch_arg *a = ctx;
    inmem__store_image_at(a->db->store, version); /* under the commit lock, before any fork */
    a->mark = inmem__wal_bytes(a->db->wal); /* under the commit lock: exactly the commits <= V */
    return inmem__wal_switch(a->db->wal, &a->seq);
}

/* Removes the images older than @p v (a repair's salvaged one is set aside as *.dropped), then
 * syncs the directory. An older image must be gone, durably, before the segments that go on
 * from it are: if it outlived them and the newer image were then lost, it would open as the
 * database's state without an error and without the commits between the two. 0, or INMEM_EIO
 * (described) if one is left: the caller keeps the log. */
static int remove_older_images(inmem_db *db, uint64_t v)
{
    const inmem__vfs *vfs = inmem__vfs_get();
    uint64_t *vs;
    size_t n;
    int rc = inmem__ckpt_list(db->dir, 0, &vs, &n), removed = 0;
    for (size_t i = 0; rc == 0 && i < n && vs[i] < v; i++) {
        char path[4200], to[4300];
        inmem__ckpt_path(db->dir, vs[i], path, sizeof path);
        int err;
        if (vs[i] != db->ckpt_salvaged)
            err = vfs->unlink(path);
        else if ((err = inmem__vfs_dropped_name(vfs, path, to, sizeof to)) == 0)
            err = vfs->rename(path, to); /* a repair's evidence: set aside, as the log's */
        if (err && err != -ENOENT)
            rc = inmem__error(INMEM_EIO, "cannot remove the older checkpoint image %s: %s",
                              inmem__shown(path), strerror(-err));
        removed = 1;
    }
    free(vs);
    if (rc == 0 && removed && (rc = inmem__vfs_sync_dir(vfs, db->dir)) != 0)
        rc = inmem__error(INMEM_EIO, "fsync of directory %s failed: %s", inmem__shown(db->dir),
                          strerror(-rc));
    return rc;
}

/* A copy of image @p v as <image>.dropped, before a new image of the same version replaces it
 * (a repair salvaged it: what it lost stays on disk for whoever wants to look). Best effort: a
 * failure leaves the repair's report (inmem_recovery_info) as the only trace. */
static void keep_salvaged_copy(inmem_db *db, uint64_t v)
{
    const inmem__vfs *vfs = inmem__vfs_get();
    char path[4200], to[4300], tmp[4320];
    inmem__ckpt_path(db->dir, v, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.dropped.tmp", path);
    int in = vfs->open(path, O_RDONLY | O_NOFOLLOW, 0);
    if (in < 0)
        return;
    uint64_t size = 0;
    void *map = NULL;
    int out = -1, ok = vfs->size(in, &size) == 0 && size > 0 && vfs->map(in, size, 0, &map) == 0;
    if (ok)
        out = vfs->open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, (int)db->opts.file_mode);
    ok = ok && out >= 0 && vfs->pwrite(out, map, (size_t)size, 0) == (int64_t)size &&
         vfs->datasync(out) == 0;
    if (map)
        vfs->unmap(map, size);
    vfs->close(in);
    if (out >= 0)
        vfs->close(out);
    if (!ok || inmem__vfs_dropped_name(vfs, path, to, sizeof to) != 0 || vfs->rename(tmp, to) != 0)
        (void)vfs->unlink(tmp);
}

static void arm_trigger(inmem_db *db);

/* @p force: write an image even if nothing was committed since the last (after a salvage). */
static int do_checkpoint(inmem_db *db, int force, uint64_t *version)
{
    inmem__mutex_lock(&db->ckpt_mu);
    uint64_t t0 = inmem__clock_mono_us(), v = 0, bytes = 0;
    struct switch_arg a = {db, 0, 0};
    inmem_txn *txn = NULL;
    int rc;
    if (!force && inmem__store_version(db->store) == db->ckpt_version) {
        v = db->ckpt_version; /* nothing committed since the last one (or at all) */
        rc = 0;
        goto done;
    }
    inmem__wal_prepare_switch(db->wal); /* so the switch under the commit lock is short */
    rc = inmem__txn_begin_newest(db->store, switch_log, &a, 0, &txn, &v);
    if (rc == 0 && db->ckpt_salvaged && db->ckpt_salvaged == v)
        keep_salvaged_copy(db, v); /* the new image takes its name */
    if (rc == 0)
        rc = write_image(txn, db->dir, v, (int)db->opts.file_mode, &bytes);
    inmem__txn_free(txn);
    if (rc == 0 && (rc = remove_older_images(db, v)) == 0)
        rc = inmem__wal_drop_before(db->wal, a.seq);
    /* the image is installed either way; an image or a segment left behind (and the segments
     * after an image left behind) are removed by the next checkpoint */
    atomic_store_rlx(&db->ckpt_time_us, inmem__clock_mono_us() - t0);
    if (rc) {
        atomic_add_rlx(&db->ckpt_failures, 1);
        atomic_store_rlx(&db->ckpt_error, rc);
    } else {
        atomic_store_rlx(&db->ckpt_error, 0);
        db->ckpt_version = v;
        db->ckpt_salvaged = 0;
        atomic_store_rlx(&db->ckpt_version_pub, v);
        atomic_store_rlx(&db->ckpt_bytes, bytes);
        atomic_add_rlx(&db->ckpt_count, 1);
        /* from the image's version, not from now: what was logged while it was written is not
         * in it, and counts toward the next one (and the one at close) */
        db->ckpt_wal_mark = a.mark;
        db->ckpt_backlog = 0;
        atomic_store_rlx(&db->ckpt_backlog_pub, 0);
        atomic_store_rlx(&db->ckpt_wal_mark_pub, db->ckpt_wal_mark);
    }
done:
    if (rc == 0 && version)
        *version = v;
    arm_trigger(db);
    inmem__mutex_unlock(&db->ckpt_mu);
    return rc;
}

/* ---- the background checkpointer ----------------------------------------------------------- */

/* Called by a committer under the commit lock: only wakes the thread. */
static void request(void *ctx)
{
    inmem_db *db = ctx;
    pthread_mutex_lock(&db->ckpt_wait_mu);
    db->ckpt_requested = 1;
    pthread_cond_signal(&db->ckpt_cv);
    pthread_mutex_unlock(&db->ckpt_wait_mu);
}

static void arm_trigger(inmem_db *db)
{
    if (!db->wal || db->opts.read_only || !db->opts.checkpoint_log_ratio)
        return;
    uint64_t live = inmem__store_live_bytes(db->store);
    uint64_t at = live > UINT64_MAX / db->opts.checkpoint_log_ratio
                      ? UINT64_MAX
                      : live * db->opts.checkpoint_log_ratio;
    if (at < db->opts.checkpoint_log_min)
        at = db->opts.checkpoint_log_min;
    /* counted from the last checkpoint's mark: bytes logged since then count too */
    uint64_t since = inmem__wal_bytes(db->wal) - db->ckpt_wal_mark + db->ckpt_backlog;
    inmem__wal_arm_trigger(db->wal, since >= at ? 0 : at - since);
}

static void *checkpointer_main(void *arg)
{
    inmem_db *db = arg;
    pthread_mutex_lock(&db->ckpt_wait_mu);
    for (;;) {
        while (!db->ckpt_requested && !db->ckpt_stop)
            pthread_cond_wait(&db->ckpt_cv, &db->ckpt_wait_mu);
        if (db->ckpt_stop)
            break;
        db->ckpt_requested = 0;
        pthread_mutex_unlock(&db->ckpt_wait_mu);
        do_checkpoint(db, 0, NULL); /* a failure is in the stats; the trigger is re-armed */
        pthread_mutex_lock(&db->ckpt_wait_mu);
    }
    pthread_mutex_unlock(&db->ckpt_wait_mu);
    return NULL;
}

int inmem__checkpoint_start(inmem_db *db)
{
    if (!db->wal || db->opts.read_only)
        return 0;
    db->ckpt_wal_mark = 0;
    /* what the open replayed counts toward the next checkpoint like what is logged from now on */
    db->ckpt_backlog = db->recovery.txns_applied ? db->recovery.bytes : 0;
    atomic_store_rlx(&db->ckpt_backlog_pub, db->ckpt_backlog);
    if (db->opts.checkpoint_log_ratio) {
        inmem__wal_set_trigger(db->wal, request, db); /* before any thread can arm it */
        if (inmem__thread_start(&db->ckpt_thread, checkpointer_main, db) != 0)
            return inmem__error(INMEM_ENOMEM, "cannot start the checkpointer thread");
        db->has_ckpt_thread = 1;
    }
    inmem__mutex_lock(&db->ckpt_mu);
    arm_trigger(db);
    inmem__mutex_unlock(&db->ckpt_mu);
    return 0;
}

int inmem__checkpoint_stop(inmem_db *db, int at_close)
{
    if (db->has_ckpt_thread) {
        pthread_mutex_lock(&db->ckpt_wait_mu);
        db->ckpt_stop = 1;
        pthread_cond_signal(&db->ckpt_cv);
        pthread_mutex_unlock(&db->ckpt_wait_mu);
        pthread_join(db->ckpt_thread, NULL);
        db->has_ckpt_thread = 0;
        /* disarmed only now: the thread re-arms the trigger after each checkpoint it makes */
        inmem__wal_arm_trigger(db->wal, UINT64_MAX);
    }
    if (!at_close || !db->wal || db->opts.read_only || !db->opts.checkpoint_on_close)
        return 0;
    if (inmem__wal_bytes(db->wal) == db->ckpt_wal_mark && !db->ckpt_backlog && !db->ckpt_after_open)
        return 0; /* nothing logged or replayed that the last image does not hold */
    return do_checkpoint(db, db->ckpt_after_open, NULL);
}

/* ---- the public calls ---------------------------------------------------------------------- */

int inmem_db_checkpoint(inmem_db *db, uint64_t *version)
{
    if (version)
        *version = 0;
    if (!db)
        return INMEM_EINVAL;
    if (!db->wal)
        return inmem__error(INMEM_ENOTSUP, "durability none keeps no files: nothing to checkpoint");
    if (db->opts.read_only)
        return inmem__error(INMEM_EREADONLY, "the database was opened read-only");
    return do_checkpoint(db, db->ckpt_after_open, version);
}

/* Counts the entries of @p dir (0 if missing); -errno if it cannot be read. */
static int count_entry(void *ctx, const char *name)
{
    (void)name;
    (*(int *)ctx)++;
    return 0;
}

/* Syncs the directory that holds @p path (a directory this process just made). */
static int sync_parent(const char *path)
{
    int err = inmem__vfs_sync_parent(inmem__vfs_get(), path);
    return err ? inmem__error(INMEM_EIO, "fsync of the directory holding %s failed: %s",
                              inmem__shown(path), strerror(-err))
               : 0;
}

int inmem_db_backup(inmem_db *db, const char *dir, uint64_t *version)
{
    if (version)
        *version = 0;
    if (!db || !dir || !*dir)
        return INMEM_EINVAL;
    const inmem__vfs *vfs = inmem__vfs_get();
    int n = 0, rc = vfs->list(dir, count_entry, &n), made = rc == -ENOENT;
    if (made) {
        int mode = (int)(db->opts.file_mode | (db->opts.file_mode & 0444) >> 2);
        if ((rc = vfs->mkdir(dir, mode)) != 0)
            return inmem__error(INMEM_EIO, "cannot create backup directory %s: %s",
                                inmem__shown(dir), strerror(-rc));
    } else if (rc < 0) {
        return inmem__error(rc == -ENOTDIR ? INMEM_EINVAL : INMEM_EIO,
                            "cannot use %s as a backup directory: %s", inmem__shown(dir),
                            strerror(-rc));
    } else if (n) {
        return inmem__error(INMEM_EINVAL, "backup directory %s is not empty", inmem__shown(dir));
    }
    inmem_txn *txn;
    uint64_t v = 0, bytes = 0;
    /* what readers see: in strict mode a commit whose fsync is pending (or failed) is not, and a
     * backup opened elsewhere must not show it before the database has made it durable */
    rc = inmem__txn_begin_newest(db->store, NULL, NULL, 1, &txn, &v);
    if (rc)
        return rc;
    rc = write_image(txn, dir, v, (int)db->opts.file_mode, &bytes);
    inmem__txn_free(txn);
    if (rc == 0 && made)
        rc = sync_parent(dir); /* the new directory's own entry */
    if (rc == 0 && version)
        *version = v;
    return rc;
}

/* ---- recovering from an image (before the log is replayed) --------------------------------- */

struct load_arg {
    inmem__store *st;
    const inmem__ckpt_info *info; /* keys_expected is known by the first entry */
    int begun;
};

static int load_entry(void *ctx, const inmem__ckpt_entry *e)
{
    struct load_arg *a = ctx;
    if (!a->begun) {
        inmem__store_load_begin(a->st, a->info->keys_expected);
        a->begun = 1;
    }
    inmem__load_entry l = {e->key,  e->klen,  e->version, e->time_ms, e->expiry_ms,
                           e->tomb, e->first, e->cut,     e->val,     e->vlen};
    return inmem__store_load(a->st, &l);
}

void inmem__checkpoint_history_setup(inmem_db *db, uint64_t since)
{
    inmem__history_config(db->store, db->opts.history_ms, db->opts.history_versions, since);
}

/* A fresh, empty store in place of @p db's (a load that failed half-way is thrown away). */
static int reset_store(inmem_db *db)
{
    inmem__store *st;
    int rc = inmem__store_new(db->opts.max_key_size + INMEM__KEY_PREFIX, db->opts.max_value_size,
                              db->opts.max_txns, &st);
    if (rc)
        return rc;
    inmem__store_free(db->store);
    db->store = st;
    inmem__checkpoint_history_setup(db, 0);
    return 0;
}

static int load_image(inmem_db *db, uint64_t v, int salvage, inmem__ckpt_info *info)
{
    char path[4200];
    inmem__ckpt_path(db->dir, v, path, sizeof path);
    struct load_arg a = {db->store, info, 0};
    int rc = inmem__ckpt_load(path, salvage, load_entry, &a, info);
    if (rc == 0 && info->version != v)
        rc = inmem__error(INMEM_ECORRUPT,
                          "checkpoint %s is corrupt at offset 16 (it holds version %llu)",
                          inmem__shown(path), (unsigned long long)info->version);
    inmem__store_load_end(db->store, rc == 0 ? v : 0);
    if (rc == 0)
        inmem__history_clock_at_least(db->store, info->created_ms);
    /* the history the image holds is whole from the version its policy was in force from, if
     * the policy is the same now; else only from the image's version on. An image that holds
     * the database's policy record set it as it loaded (from that record's version on). */
    if (rc == 0 && !inmem__history_db_stored(db->store)) {
        uint32_t count = db->opts.history_versions >= 2 ? db->opts.history_versions : 0;
        int same = info->hist.ms == db->opts.history_ms && info->hist.count == count;
        int given = db->opts.history_ms || db->opts.history_versions;
        if (!given && (info->hist.ms || info->hist.count))
            /* no policy stored or given: the image's own is in force (an image written by a
             * database without a log to store one, e.g. a backup of an in-memory one) */
            inmem__history_config(db->store, info->hist.ms, info->hist.count, info->hist.since);
        else
            inmem__checkpoint_history_setup(db, same ? info->hist.since : v);
    }
    return rc;
}

/* With repair, whether the log replayed from version @p base (txn id @p txn_id) — cut where the
 * repair would cut it — reaches version @p damaged: then an older image (or none) and the log
 * recover everything the damaged image held, as a plain open's fallback does, and nothing of it
 * need be salvaged. Reads the log without changing it (inmem__wal_reach()): the choice is made
 * before the replay that acts on it. 0 (*covers set), or the error the log's replay would fail
 * with, or memory or I/O (then nothing is salvaged on a guess). */
static int log_covers(inmem_db *db, const inmem_recovery_info *report, uint64_t base,
                      uint64_t txn_id, uint64_t damaged, int *covers)
{
    inmem__wal_config cfg = {
        .dir = db->dir, .repair = db->opts.repair, .base_version = base, .base_txn_id = txn_id};
    uint64_t reached = 0;
    int rc = inmem__wal_reach(&cfg, report->live_writer, &reached);
    *covers = rc == 0 && reached >= damaged;
    return rc;
}

int inmem__checkpoint_recover(void *ctx, inmem_recovery_info *report, uint64_t *base_version,
                              uint64_t *base_txn_id)
{
    inmem_db *db = ctx;
    uint64_t t0 = inmem__clock_mono_us(), *vs;
    size_t n;
    *base_version = *base_txn_id = 0;
    int rc = inmem__ckpt_list(db->dir, !db->opts.read_only, &vs, &n);
    if (rc || n == 0) {
        free(vs);
        return rc;
    }
    inmem__ckpt_info info;
    char first_err[512] = "";
    int first_rc = 0;
    size_t used = n;
    for (size_t k = n; k-- > 0;) {
        rc = load_image(db, vs[k], 0, &info);
        if (rc == 0) {
            used = k;
            break;
        }
        if (rc != INMEM_ECORRUPT && rc != INMEM_EVERSION)
            goto out;    /* memory, I/O: not the image's fault */
        if (!first_rc) { /* the detail, without the "<strerror>: " inmem_errmsg() starts with */
            first_rc = rc;
            const char *m = inmem_errmsg(), *s = inmem_strerror(rc);
            size_t sl = strlen(s);
            if (strncmp(m, s, sl) == 0 && m[sl] == ':' && m[sl + 1] == ' ')
                m += sl + 2;
            snprintf(first_err, sizeof first_err, "%s", m);
        }
        if ((rc = reset_store(db)) != 0)
            goto out;
    }
    int covers = 0;
    if (used == n - 1) {
        rc = 0; /* the newest image: the common case */
    } else if (db->opts.repair && first_rc == INMEM_ECORRUPT &&
               (rc = log_covers(db, report, used < n ? vs[used] : 0, used < n ? info.txn_id : 0,
                                vs[n - 1], &covers)) != 0) {
        goto out;
    } else if (db->opts.repair && first_rc == INMEM_ECORRUPT && !covers) {
        /* The newest image is damaged, and an older one (or none) plus the log do not cover it:
         * the log was truncated by it. Salvage its intact blocks, report what is lost, and
         * checkpoint again after the open. (When they cover it, the repair falls back like a
         * plain open: a salvage would lose the keys of its damaged blocks for nothing.) */
        if ((rc = reset_store(db)) != 0)
            goto out;
        used = n - 1;
        rc = load_image(db, vs[used], 1, &info);
        if (rc)
            goto out;
        report->repaired = 1;
        snprintf(report->repair_file, sizeof report->repair_file, "ckpt-%016llx.img",
                 (unsigned long long)vs[used]);
        report->repair_offset = info.bad_offset;
        report->bytes_dropped += info.bad_bytes;
        report->keys_dropped = info.keys_lost;
        db->ckpt_after_open = 1;
        db->ckpt_salvaged = vs[used];
    } else {
        /* Fall back to an older image (or none): the replay of the log decides — if it does not
         * cover the versions between, the open fails, and then with the newest image's damage. */
        report->checkpoint_fallback = 1;
        snprintf(db->ckpt_fallback_err, sizeof db->ckpt_fallback_err, "%s", first_err);
        db->ckpt_fallback_rc = first_rc;
        db->ckpt_damaged = vs[n - 1];
        rc = 0;
    }
    if (rc == 0 && used < n) {
        *base_version = vs[used];
        *base_txn_id = info.txn_id;
        report->checkpoint_version = vs[used];
        snprintf(report->checkpoint_file, sizeof report->checkpoint_file, "ckpt-%016llx.img",
                 (unsigned long long)vs[used]);
        db->ckpt_version = vs[used];
        atomic_store_rlx(&db->ckpt_version_pub, vs[used]);
        atomic_store_rlx(&db->ckpt_bytes, info.file_bytes);
    }
    report->checkpoint_load_us = inmem__clock_mono_us() - t0;
    /* images older than the one loaded (a checkpoint that could not remove them, or crashed
     * first) go before the log's recovery removes the segments the loaded one holds */
    if (rc == 0 && used > 0 && used < n && !db->opts.read_only)
        rc = remove_older_images(db, vs[used]);
out:
    free(vs);
    return rc;
}

int inmem__checkpoint_recovered(inmem_db *db, int rc)
{
    /* The replay finds a gap only if a commit after it was logged: with the process dead right
     * after the checkpoint, the log (truncated by it) holds nothing, and an older image (or
     * none) would open as if the newest's versions had never been. They must be reached. */
    if (rc == 0 && db->ckpt_fallback_rc && inmem__store_version(db->store) < db->ckpt_damaged)
        rc = INMEM_ECORRUPT;
    if (rc && db->ckpt_fallback_rc) /* the older image did not do: the newest's damage says why */
        return inmem__error(db->ckpt_fallback_rc,
                            "%s; the log does not cover the versions an "
                            "older image lacks (open with the repair option "
                            "to salvage the image's intact blocks)",
                            db->ckpt_fallback_err);
    if (rc == 0 && db->ckpt_damaged && !db->opts.read_only) {
        /* the fallback worked: set the damaged image aside, never to be tried again */
        char path[4200], to[4300];
        inmem__ckpt_path(db->dir, db->ckpt_damaged, path, sizeof path);
        if (inmem__vfs_dropped_name(inmem__vfs_get(), path, to, sizeof to) == 0)
            (void)inmem__vfs_get()->rename(path, to);
    }
    return rc;
}
