/*
 * test_log.c — the write-ahead log at work (docs/CONTRACT.md, section 2): persistence across close
 * and reopen in every logged mode, the directory lock, write failures injected through the vfs
 * (fsync EIO, ENOSPC at a segment switch), a clean close, nothing logged for aborted
 * transactions, and group commit.
 *
 * Tests that manipulate files use 64 KiB segments. Worker threads never call cmocka: they
 * record failures and the main thread asserts after joining. Nothing here measures time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>
#include <sys/types.h>

#include "tests/wal_util.h"
#include "engine/db.h"
#include "wal/wal.h"

/* ---- persistence ------------------------------------------------------------------------ */

enum { P_KEYS = 120, P_TXNS = 10 };

static void key_of(char *buf, size_t cap, const char *prefix, int i)
{
    snprintf(buf, cap, "%s%03d", prefix, i);
}

/* The run of the workload's key number @p i: odd keys live in @p run, even ones are shared. */
static const inmem_run_id *run_of(int i, const inmem_run_id *run)
{
    return i % 2 ? run : NULL;
}

static void get_versions(inmem_db *db, const inmem_run_id *run, int *rcs, uint64_t *vers)
{
    char key[32];
    for (int i = 0; i < P_KEYS; i++) {
        key_of(key, sizeof key, "p", i);
        vers[i] = 0;
        rcs[i] = inmem_get(db, run_of(i, run), key, strlen(key), NULL, NULL, &vers[i]);
    }
}

/* One session of writes: puts with random sizes (> 64 KiB in all: segments rotate), deletes,
 * multi-key transactions with a delete and a long TTL, and an empty value. */
static void persistence_workload(inmem_db *db, const inmem_run_id *run, uint64_t *rng, int round)
{
    uint8_t val[1024];
    char key[32];
    for (int i = 0; i < P_KEYS; i++) {
        key_of(key, sizeof key, "p", i);
        size_t vl = 400 + test_rand(rng) % 500;
        for (size_t j = 0; j < vl; j++)
            val[j] = (uint8_t)test_rand(rng);
        assert_ok(inmem_put(db, run_of(i, run), key, strlen(key), val, vl, NULL));
    }
    for (int i = round; i < P_KEYS; i += 7) {
        key_of(key, sizeof key, "p", i);
        assert_ok(inmem_delete(db, run_of(i, run), key, strlen(key), NULL));
    }
    for (int i = 0; i < P_TXNS; i++) {
        inmem_txn *t;
        char k2[32];
        assert_ok(inmem_txn_begin(db, &t));
        snprintf(k2, sizeof k2, "m%02d-a", i);
        assert_ok(inmem_kv_put(t, NULL, k2, strlen(k2), val, 10 + (size_t)i));
        snprintf(k2, sizeof k2, "m%02d-b", i);
        assert_ok(inmem_kv_put(t, NULL, k2, strlen(k2), val + 1, 20 + (size_t)i));
        snprintf(k2, sizeof k2, "m%02d-c", i);
        assert_ok(inmem_kv_put(t, run, k2, strlen(k2), val + 2, 30 + (size_t)i));
        key_of(key, sizeof key, "p", 3 * i + 1 + round);
        assert_ok(inmem_kv_delete(t, run_of(3 * i + 1 + round, run), key, strlen(key)));
        snprintf(k2, sizeof k2, "ttl%02d", i);
        assert_ok(inmem_kv_put_ttl(t, NULL, k2, strlen(k2), "lives", 5, 3600u * 1000u));
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
    }
    assert_ok(inmem_put(db, NULL, LIT("empty"), NULL, 0, NULL));
}

static void persistence_keeps_everything_in_mode(inmem_durability mode, const char *name)
{
    char dir[64];
    test_tmpdir(dir);
    uint64_t rng = test_seed(name);
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));
    int rcs[2][P_KEYS];
    uint64_t vers[2][P_KEYS];
    uint64_t expect_bytes = 0; /* commit bytes appended by every session so far */

    inmem_db *db = open_db(dir, mode);
    /* rounds 0 and 1 write (the second one appends to a recovered log); round 2 only reopens */
    for (int round = 0; round < 3; round++) {
        if (round < 2)
            persistence_workload(db, &run, &rng, round);
        inmem_stats before = test_stats(db);
        assert_true(before.version > 0);
        dump d0 = {0}, d1 = {0};
        dump_all(db, &run, &d0);
        assert_true(d0.keys > 50);
        get_versions(db, &run, rcs[0], vers[0]);
        uint64_t ttl_ver = 0;
        assert_ok(inmem_get(db, NULL, LIT("ttl00"), NULL, NULL, &ttl_ver));
        assert_ok(inmem_db_close(db));

        /* what recovery must read: every record of every session, and the end marks (a close
         * mark per clean close, a NEXT record per segment switch) */
        uint64_t on_disk = log_bytes(dir), marks = mark_bytes(dir);
        expect_bytes += before.wal_bytes;
        CHECK(on_disk == expect_bytes + marks,
              "log holds %llu bytes of records; sessions appended %llu and %llu of end marks",
              (unsigned long long)on_disk, (unsigned long long)expect_bytes,
              (unsigned long long)marks);
        uint64_t files = count_segments(dir);
        assert_true(files >= 2); /* > 64 KiB was written: the segment rotated */

        db = open_db(dir, mode);
        inmem_recovery_info rec = recovery_of(db);
        assert_int_equal(rec.txns_applied, before.version); /* a fresh log: one txn per version */
        assert_int_equal(rec.version, before.version);
        assert_int_equal(rec.txn_id, before.version);
        assert_int_equal(rec.segments, files);
        assert_int_equal(rec.bytes, on_disk);
        assert_int_equal(rec.txns_discarded, 0);
        assert_int_equal(rec.records_skipped, 0);
        assert_int_equal(rec.torn_tail, 0);
        assert_int_equal(rec.repaired, 0);
        inmem_stats after = test_stats(db);
        assert_int_equal(after.version, before.version);
        dump_all(db, &run, &d1);
        CHECK(dump_equal(&d0, &d1),
              "round %d: state after reopen differs (%zu keys before, %zu after)", round, d0.keys,
              d1.keys);
        get_versions(db, &run, rcs[1], vers[1]);
        for (int i = 0; i < P_KEYS; i++)
            CHECK(rcs[0][i] == rcs[1][i] && vers[0][i] == vers[1][i],
                  "round %d key p%03d: %s v%llu before, %s v%llu after", round, i,
                  inmem_errname(rcs[0][i]), (unsigned long long)vers[0][i],
                  inmem_errname(rcs[1][i]), (unsigned long long)vers[1][i]);
        /* the TTL field survived: a one-hour expiry is still in the future */
        expect_get(db, NULL, "ttl00", "lives", 5, ttl_ver);
        dump_free(&d0);
        dump_free(&d1);
    }
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

static void persistence_async_keeps_puts_deletes_txns_versions_across_reopen(void **state)
{
    (void)state;
    persistence_keeps_everything_in_mode(
        INMEM_DURABILITY_ASYNC, "persistence_async_keeps_puts_deletes_txns_versions_across_reopen");
}

static void persistence_batched_keeps_puts_deletes_txns_versions_across_reopen(void **state)
{
    (void)state;
    persistence_keeps_everything_in_mode(
        INMEM_DURABILITY_BATCHED,
        "persistence_batched_keeps_puts_deletes_txns_versions_across_reopen");
}

static void persistence_strict_keeps_puts_deletes_txns_versions_across_reopen(void **state)
{
    (void)state;
    persistence_keeps_everything_in_mode(
        INMEM_DURABILITY_STRICT,
        "persistence_strict_keeps_puts_deletes_txns_versions_across_reopen");
}

static void persistence_keeps_the_ttl_expiry_of_each_write(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_BATCHED);
    inmem_txn *t;
    uint64_t t0 = wall_ms();
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put_ttl(t, NULL, LIT("short"), LIT("s"), 300));
    assert_ok(inmem_kv_put_ttl(t, NULL, LIT("long"), LIT("l"), 3600u * 1000u));
    assert_ok(inmem_kv_put(t, NULL, LIT("none"), LIT("n")));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    uint64_t t1 = wall_ms();
    assert_ok(inmem_db_close(db));

    /* the log carries each write's absolute expiry */
    size_t len, nf, end;
    uint8_t *img = slurp(path, &len);
    frame *f = walk_log(img, len, &nf, &end);
    int seen = 0;
    inmem__wal_rec ops[8];
    size_t nops = 0;
    for (size_t i = 0; i < nf; i++)
        if (f[i].rec.type == INMEM__REC_TXN)
            for (size_t k = 0, n = txn_ops(&f[i].rec, ops + nops, 8 - nops); k < n; k++)
                nops++;
    for (size_t i = 0; i < nops; i++) {
        const inmem__wal_rec *r = &ops[i];
        if (r->type != INMEM__REC_WRITE)
            continue;
        const char *user = (const char *)r->key + INMEM__KEY_PREFIX;
        size_t ul = r->klen - INMEM__KEY_PREFIX;
        uint64_t e = r->expiry_ms;
        if (ul == 5 && !memcmp(user, "short", 5))
            CHECK(e >= t0 + 300 && e <= t1 + 300, "short: expiry %llu not in [%llu, %llu]",
                  (unsigned long long)e, (unsigned long long)(t0 + 300),
                  (unsigned long long)(t1 + 300));
        else if (ul == 4 && !memcmp(user, "long", 4))
            CHECK(e >= t0 + 3600000 && e <= t1 + 3600000, "long: expiry %llu not in range",
                  (unsigned long long)e);
        else if (ul == 4 && !memcmp(user, "none", 4))
            CHECK(e == 0, "none: expiry %llu, expected 0", (unsigned long long)e);
        else
            fail_msg("unexpected key in the log");
        seen++;
    }
    assert_int_equal(seen, 3);
    free(f);
    free(img);

    /* once the short TTL has passed, recovery must not bring the value back to life */
    while (wall_ms() <= t1 + 300 + 20)
        usleep(10000);
    db = open_db(dir, INMEM_DURABILITY_BATCHED);
    expect_missing(db, NULL, "short");
    expect_get(db, NULL, "long", "l", 1, 1);
    expect_get(db, NULL, "none", "n", 1, 1);
    assert_ok(inmem_db_close(db)); /* (the version may move: the sweeper may delete "short") */
    test_rmdir(dir);
}

static void persistence_keeps_records_larger_than_a_segment(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    const size_t klen = 65536, vlen = 1u << 20;
    uint8_t *key = malloc(klen), *val = malloc(vlen);
    assert_non_null(key);
    assert_non_null(val);
    uint64_t rng = 12345;
    for (size_t i = 0; i < klen; i++)
        key[i] = (uint8_t)('a' + test_rand(&rng) % 26);
    for (size_t i = 0; i < vlen; i++)
        val[i] = (uint8_t)test_rand(&rng);

    inmem_db *db = open_db(dir, INMEM_DURABILITY_STRICT);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put(t, NULL, key, klen, val, vlen)); /* 64 KiB key, 1 MiB value */
    assert_ok(inmem_kv_put(t, NULL, LIT("empty"), NULL, 0));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_int_equal(put_ok(db, NULL, "small", LIT("after")), 2);
    assert_ok(inmem_db_close(db));

    /* the big transaction got a segment of its own, larger than wal_segment_size */
    uint64_t files = count_segments(dir);
    assert_true(files >= 2);
    int big = 0;
    for (uint64_t s = 1; s <= files; s++) {
        struct stat st;
        seg_path(path, sizeof path, dir, s);
        assert_int_equal(stat(path, &st), 0);
        big += (uint64_t)st.st_size > klen + vlen;
    }
    assert_int_equal(big, 1);

    db = open_db(dir, INMEM_DURABILITY_STRICT);
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.txns_applied, 2);
    assert_int_equal(rec.segments, files);
    void *got = NULL;
    size_t n = 0;
    uint64_t ver = 0;
    assert_ok(inmem_get(db, NULL, key, klen, &got, &n, &ver));
    assert_int_equal(n, vlen);
    assert_memory_equal(got, val, vlen);
    assert_int_equal(ver, 1);
    inmem_free(got);
    expect_get(db, NULL, "empty", "", 0, 1);
    expect_get(db, NULL, "small", "after", 5, 2);
    assert_ok(inmem_db_close(db));
    free(key);
    free(val);
    test_rmdir(dir);
}

/* ---- the directory lock ------------------------------------------------------------------- */

static void second_open_of_a_directory_fails_with_elocked_naming_the_pid(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_BATCHED), *db2 = NULL;
    assert_int_equal(put_ok(db, NULL, "k", LIT("v")), 1);
    for (int mode = INMEM_DURABILITY_ASYNC; mode <= INMEM_DURABILITY_STRICT; mode++) {
        assert_rc(INMEM_ELOCKED, try_open(dir, (inmem_durability)mode, 0, &db2));
        assert_null(db2);
        CHECK(mentions_number(inmem_errmsg(), (uint64_t)getpid()),
              "message '%s' does not name the holder (pid %ld)", inmem_errmsg(), (long)getpid());
    }
    /* the refused opens changed nothing: the first handle still works */
    assert_int_equal(put_ok(db, NULL, "k2", LIT("v2")), 2);
    assert_ok(inmem_db_close(db));
    db2 = open_db(dir, INMEM_DURABILITY_BATCHED);
    expect_get(db2, NULL, "k", "v", 1, 1);
    expect_get(db2, NULL, "k2", "v2", 2, 2);
    assert_ok(inmem_db_close(db2));
    test_rmdir(dir);
}

/* A read-only open holds a shared lock on LOCK while it replays the log (so that no writer starts
 * under it) and releases it when done. A writable open meanwhile waits for it instead of failing
 * with INMEM_ELOCKED naming the last writer, long gone. */
struct shared_holder {
    char path[128];
    int fd;
    _Atomic int holding;
};

static void *hold_shared(void *p)
{
    struct shared_holder *h = p;
    usleep(300 * 1000);
    atomic_store(&h->holding, 0);
    close(h->fd); /* the "replay" is over */
    return NULL;
}

static void writer_open_waits_for_read_only_opens_replaying(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_BATCHED);
    put_ok(db, NULL, "k", LIT("v"));
    assert_ok(inmem_db_close(db));
    struct shared_holder h;
    snprintf(h.path, sizeof h.path, "%s/LOCK", dir);
    h.fd = open(h.path, O_RDONLY);
    assert_true(h.fd >= 0);
    assert_int_equal(flock(h.fd, LOCK_SH | LOCK_NB), 0);
    atomic_store(&h.holding, 1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, hold_shared, &h), 0);
    db = NULL;
    int rc = try_open(dir, INMEM_DURABILITY_BATCHED, 0, &db);
    CHECK(rc == 0, "writable open beside a replaying reader: %s (%s)", inmem_errname(rc),
          inmem_errmsg());
    assert_int_equal(atomic_load(&h.holding), 0); /* it waited */
    pthread_join(th, NULL);
    expect_get(db, NULL, "k", "v", 1, 1);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* A child of fork() has none of the database's threads (the log's syncer, the checkpointer,
 * the expiry sweeper): a close there waited for them for ever (a Python child exiting with an
 * open Database hung at interpreter shutdown). It returns INMEM_EMISUSE at once, touching
 * nothing, and the parent's database goes on. */
static void a_child_of_fork_cannot_close_the_parents_database(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_BATCHED);
    uint64_t v1 = put_ok(db, NULL, "k", LIT("before the fork"));
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(20); /* a hang is a failure, not a stuck suite */
        int rc = inmem_db_close(db);
        _exit(rc == INMEM_EMISUSE && strstr(inmem_errmsg(), "fork") ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child's close: %s",
          WIFSIGNALED(st) ? "killed (it hung)" : "not INMEM_EMISUSE");
    expect_get(db, NULL, "k", LIT("before the fork"), v1);
    uint64_t v2 = put_ok(db, NULL, "k", LIT("after"));
    assert_ok(inmem_db_close(db));
    db = open_db(dir, INMEM_DURABILITY_BATCHED);
    expect_get(db, NULL, "k", LIT("after"), v2);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* ---- write failures injected through the vfs ---------------------------------------------- */

static inmem__vfs faulty_vfs;
static atomic_long sync_left = -1; /* datasyncs that still succeed; -1: never fail */
static atomic_int allocate_fails;  /* allocate returns -ENOSPC while set */
static atomic_int datasyncs;       /* datasync calls seen */
static atomic_int pwrite_fails;    /* pwrite writes half and returns -EIO while set */
static pthread_mutex_t created_mu = PTHREAD_MUTEX_INITIALIZER;
static char created[16][256]; /* paths opened with O_CREAT */
static int ncreated;

static int faulty_datasync(int fd)
{
    atomic_fetch_add(&datasyncs, 1);
    long left = atomic_load(&sync_left);
    while (left > 0 && !atomic_compare_exchange_weak(&sync_left, &left, left - 1))
        ;
    if (left == 0)
        return -EIO;
    return inmem__vfs_posix.datasync(fd);
}

static int64_t faulty_pwrite(int fd, const void *buf, size_t n, uint64_t off)
{
    if (atomic_load(&pwrite_fails)) {
        (void)inmem__vfs_posix.pwrite(fd, buf, n / 2, off); /* torn: the first half lands */
        return -EIO;
    }
    return inmem__vfs_posix.pwrite(fd, buf, n, off);
}

static int faulty_allocate(int fd, uint64_t len)
{
    if (atomic_load(&allocate_fails))
        return -ENOSPC;
    return inmem__vfs_posix.allocate(fd, len);
}

static int recording_open(const char *path, int flags, int mode)
{
    if (flags & O_CREAT) {
        pthread_mutex_lock(&created_mu);
        if (ncreated < 16)
            snprintf(created[ncreated++], sizeof created[0], "%s", path);
        pthread_mutex_unlock(&created_mu);
    }
    return inmem__vfs_posix.open(path, flags, mode);
}

static void use_faulty_vfs(void)
{
    faulty_vfs = inmem__vfs_posix;
    faulty_vfs.datasync = faulty_datasync;
    faulty_vfs.allocate = faulty_allocate;
    faulty_vfs.open = recording_open;
    faulty_vfs.pwrite = faulty_pwrite;
    atomic_store(&sync_left, -1);
    atomic_store(&allocate_fails, 0);
    atomic_store(&pwrite_fails, 0);
    atomic_store(&datasyncs, 0);
    ncreated = 0;
    inmem__vfs_set(&faulty_vfs);
}

/* Teardown of every vfs test, run even when the test failed. */
static int restore_posix_vfs(void **state)
{
    (void)state;
    inmem__vfs_set(NULL);
    atomic_store(&sync_left, -1);
    atomic_store(&allocate_fails, 0);
    atomic_store(&pwrite_fails, 0);
    return 0;
}

/* Log positions counted the segment's number shifted past a 40-bit offset, which ran out at
 * segment 2^24 (a database checkpointing every second gets there in half a year): every position
 * after it compared below those synced before, so strict commits were acknowledged without an
 * fdatasync — even with every fdatasync failing — and the background syncer saw nothing to do.
 * The log's last segment is renumbered 2^24 - 1 (recovery takes it as the log going on from the
 * checkpoint image), and filled until the log switches to 2^24. */
static void fsync_still_runs_after_segment_2_to_the_24(void **state)
{
    (void)state;
    char dir[64], path[4096], to[4096];
    test_tmpdir(dir);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_STRICT);
    put_ok(db, NULL, "a", LIT("1"));
    uint64_t v;
    assert_ok(inmem_db_checkpoint(db, &v));
    uint64_t last = current_segment(db);
    assert_ok(inmem_db_close(db));
    seg_path(path, sizeof path, dir, last);
    size_t len;
    uint8_t *seg = slurp(path, &len);
    const uint64_t top = (1ull << 24) - 1;
    inmem__put64(seg + 16, top);
    inmem__put32(seg + 36, inmem__crc32c(0, seg, 36));
    seg_path(to, sizeof to, dir, top);
    spit(to, seg, len);
    free(seg);
    assert_int_equal(unlink(path), 0);

    use_faulty_vfs();
    db = open_db(dir, INMEM_DURABILITY_STRICT);
    assert_int_equal(current_segment(db), top);
    char key[32];
    uint8_t val[1000];
    memset(val, 'v', sizeof val);
    uint64_t acked[256];
    int n = 0;
    while (current_segment(db) == top) {
        assert_true(n < 250);
        snprintf(key, sizeof key, "k%d", n);
        acked[n++] = put_ok(db, NULL, key, val, sizeof val);
    }
    assert_int_equal(current_segment(db), top + 1);
    for (int i = 0; i < 3; i++) { /* each strict commit in segment 2^24 runs its fdatasync */
        atomic_store(&datasyncs, 0);
        snprintf(key, sizeof key, "k%d", n);
        acked[n++] = put_ok(db, NULL, key, val, sizeof val);
        CHECK(atomic_load(&datasyncs) >= 1, "commit %d in segment 2^24: %d fdatasyncs", n,
              atomic_load(&datasyncs));
    }
    atomic_store(&sync_left, 0); /* and one whose fdatasync fails is not acknowledged */
    uint64_t ver = 0;
    assert_rc(INMEM_EIO, inmem_put(db, NULL, LIT("after"), val, sizeof val, &ver));
    int rc = inmem_db_close(db);
    CHECK(rc == 0 || rc == INMEM_EIO, "close: %s", inmem_errname(rc));
    inmem__vfs_set(NULL);
    db = open_db(dir, INMEM_DURABILITY_STRICT);
    for (int i = 0; i < n; i++) { /* every acknowledged commit is there */
        snprintf(key, sizeof key, "k%d", i);
        expect_get(db, NULL, key, val, sizeof val, acked[i]);
    }
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

static void fsync_failure_in_strict_mode_fails_that_commit_then_log_is_readonly(void **state)
{
    (void)state;
    char dir[64], key[32];
    test_tmpdir(dir);
    use_faulty_vfs();
    inmem_db *db = open_db(dir, INMEM_DURABILITY_STRICT);
    uint64_t acked[8] = {0};
    int nacked = 0;
    for (; nacked < 5; nacked++) {
        snprintf(key, sizeof key, "k%d", nacked);
        acked[nacked] = put_ok(db, NULL, key, key, strlen(key));
    }
    atomic_store(&sync_left, 2); /* two more fsyncs work, then every one fails */
    for (; nacked < 7; nacked++) {
        snprintf(key, sizeof key, "k%d", nacked);
        acked[nacked] = put_ok(db, NULL, key, key, strlen(key));
    }
    uint64_t v = 0;
    assert_rc(INMEM_EIO, inmem_put(db, NULL, LIT("k7"), LIT("k7"), &v));
    /* the log is now read-only: every write is refused, nothing is applied */
    assert_rc(INMEM_EREADONLY, inmem_put(db, NULL, LIT("k8"), LIT("k8"), &v));
    assert_rc(INMEM_EREADONLY, inmem_delete(db, NULL, LIT("k0"), &v));
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put(t, NULL, LIT("k9"), LIT("k9")));
    assert_rc(INMEM_EREADONLY, inmem_txn_commit(t));
    assert_int_equal(inmem_txn_state_of(t), INMEM_TXN_ABORTED);
    inmem_txn_free(t);
    /* reads still work, and see exactly what was acknowledged */
    for (int i = 0; i < nacked; i++) {
        snprintf(key, sizeof key, "k%d", i);
        expect_get(db, NULL, key, key, strlen(key), acked[i]);
    }
    expect_missing(db, NULL, "k7"); /* strict: visible only once durable, and it never was */
    expect_missing(db, NULL, "k8");
    expect_missing(db, NULL, "k9");
    assert_int_equal(test_stats(db).version, acked[nacked - 1]);
    int rc = inmem_db_close(db);
    CHECK(rc == 0 || rc == INMEM_EIO, "close: %s", inmem_errname(rc));
    inmem__vfs_set(NULL);

    db = open_db(dir, INMEM_DURABILITY_STRICT);
    for (int i = 0; i < nacked; i++) { /* every acknowledged commit survived */
        snprintf(key, sizeof key, "k%d", i);
        expect_get(db, NULL, key, key, strlen(key), acked[i]);
    }
    expect_missing(db, NULL, "k8");
    expect_missing(db, NULL, "k9");
    uint64_t ver = test_stats(db).version; /* k7's fate is unknown to its caller: either is fine */
    assert_true(ver == acked[nacked - 1] || ver == acked[nacked - 1] + 1);
    assert_int_equal(put_ok(db, NULL, "again", LIT("ok")), ver + 1);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* Strict mode writes a commit's frame with pwrite (wal.c, "Strict mode's writes"): a failed
 * one, which left half the frame in the file, fails that commit, which is never seen, and the
 * log refuses writes from then on; the reopen finds the torn half a torn tail. */
static void pwrite_failure_in_strict_mode_fails_that_commit_then_log_is_readonly(void **state)
{
    (void)state;
    char dir[64], key[32];
    test_tmpdir(dir);
    use_faulty_vfs();
    inmem_db *db = open_db(dir, INMEM_DURABILITY_STRICT);
    uint64_t acked[5];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "k%d", i);
        acked[i] = put_ok(db, NULL, key, key, strlen(key));
    }
    atomic_store(&pwrite_fails, 1);
    uint64_t v = 0;
    assert_rc(INMEM_EIO,
              inmem_put(db, NULL, LIT("k5"), LIT("a value that does not land whole"), &v));
    CHECK(strstr(inmem_errmsg(), "pwrite") != NULL, "the error names the write: %s",
          inmem_errmsg());
    atomic_store(&pwrite_fails, 0);
    assert_rc(INMEM_EREADONLY, inmem_put(db, NULL, LIT("k6"), LIT("k6"), &v));
    expect_missing(db, NULL, "k5");
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "k%d", i);
        expect_get(db, NULL, key, key, strlen(key), acked[i]);
    }
    int rc = inmem_db_close(db);
    CHECK(rc == INMEM_EIO, "close after the failure: %s", inmem_errname(rc));
    inmem__vfs_set(NULL);

    db = open_db(dir, INMEM_DURABILITY_STRICT);
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "k%d", i);
        expect_get(db, NULL, key, key, strlen(key), acked[i]);
    }
    expect_missing(db, NULL, "k5");
    expect_missing(db, NULL, "k6");
    assert_int_equal(put_ok(db, NULL, "again", LIT("ok")), acked[4] + 1);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* The kB of the mapping of file @p name (its last path component) in this process's
 * /proc/self/smaps field @p field ("Rss"), or -1 if there is no such mapping. */
static long mapping_kb(const char *name, const char *field)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[4096];
    long kb = -1;
    int in = 0;
    size_t fl = strlen(field), nl = strlen(name);
    while (fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\n");
        line[len] = 0;
        if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' ')) { /* a mapping's line */
            in = len >= nl && !strcmp(line + len - nl, name) &&
                 (len == nl || line[len - nl - 1] == '/');
            continue;
        }
        if (in && !strncmp(line, field, fl) && line[fl] == ':') {
            kb = (kb < 0 ? 0 : kb) + strtol(line + fl + 1, NULL, 10);
            in = 0;
        }
    }
    fclose(f);
    return kb;
}

/* ... and what it buys: strict commits leave the segment's mapping alone, so an fsync's
 * writeback has no writable mapped page to write-protect (and no TLB shoot-down to send), and
 * no commit faults one back in. Through the mapping, 400 commits (~42 KB of log) fault in ten
 * pages of it. */
static void strict_commits_do_not_write_through_the_segment_mapping(void **state)
{
    (void)state;
    char dir[64], key[32], name[64];
    test_tmpdir(dir);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_STRICT);
    put_ok(db, NULL, "first", LIT("1"));
    snprintf(name, sizeof name, "wal-%016llx.log", (unsigned long long)current_segment(db));
    long before = mapping_kb(name, "Rss");
    CHECK(before >= 0, "the segment %s is mapped", name);
    uint8_t val[64];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < 400; i++) { /* ~42 KB of log: within the tests' 64 KiB segments */
        snprintf(key, sizeof key, "k%d", i);
        put_ok(db, NULL, key, val, sizeof val);
    }
    assert_int_equal(current_segment(db), strtoull(name + 4, NULL, 16)); /* the same segment */
    long after = mapping_kb(name, "Rss");
    CHECK(after == before, "the mapping's resident kB: %ld before 400 commits, %ld after", before,
          after);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

static void enospc_at_segment_switch_fails_that_commit_then_log_is_readonly(void **state)
{
    (void)state;
    for (int m = 0; m < 2; m++) {
        inmem_durability mode = m ? INMEM_DURABILITY_STRICT : INMEM_DURABILITY_BATCHED;
        char dir[64], key[32], path[4096];
        test_tmpdir(dir);
        use_faulty_vfs();
        inmem_db *db = open_db(dir, mode);
        atomic_store(&allocate_fails, 1); /* the disk is full from now on */
        uint8_t val[1000];
        memset(val, 'v', sizeof val);
        uint64_t last = 0, v = 0;
        int i = 0, rc = 0;
        for (; i < 200; i++) {
            snprintf(key, sizeof key, "k%03d", i);
            rc = inmem_put(db, NULL, key, strlen(key), val, sizeof val, &v);
            if (rc)
                break;
            assert_int_equal(v, last + 1);
            last = v;
        }
        CHECK(rc == INMEM_EIO, "mode %d: put %d got %s, expected INMEM_EIO at the segment switch",
              (int)mode, i, inmem_errname(rc));
        assert_true(i > 10); /* the first segment filled up before */
        CHECK(strstr(inmem_errmsg(), strerror(ENOSPC)),
              "message '%s' does not say the disk is full", inmem_errmsg());
        int failed = i;
        snprintf(key, sizeof key, "k%03d", failed);
        expect_missing(db, NULL, key); /* nothing of it applied */
        assert_int_equal(test_stats(db).version, last);
        assert_rc(INMEM_EREADONLY, inmem_put(db, NULL, LIT("more"), LIT("x"), &v));
        inmem_txn *t;
        assert_ok(inmem_txn_begin(db, &t));
        assert_ok(inmem_kv_put(t, NULL, LIT("more"), LIT("x")));
        assert_rc(INMEM_EREADONLY, inmem_txn_commit(t));
        inmem_txn_free(t);
        expect_missing(db, NULL, "more");
        expect_get(db, NULL, "k000", val, sizeof val, 1);
        seg_path(path, sizeof path, dir, 2);
        assert_false(file_exists(path)); /* the segment that could not be made is not left */
        rc = inmem_db_close(db);
        CHECK(rc == 0 || rc == INMEM_EIO, "close: %s", inmem_errname(rc));
        inmem__vfs_set(NULL);
        atomic_store(&allocate_fails, 0);

        db = open_db(dir, mode);
        assert_int_equal(test_stats(db).version, last);
        for (int k = 0; k < failed; k++) {
            snprintf(key, sizeof key, "k%03d", k);
            expect_get(db, NULL, key, val, sizeof val, (uint64_t)k + 1);
        }
        snprintf(key, sizeof key, "k%03d", failed);
        expect_missing(db, NULL, key);
        expect_missing(db, NULL, "more");
        for (int k = 0; k < 100; k++) { /* with room again, segments switch fine */
            snprintf(key, sizeof key, "n%03d", k);
            assert_int_equal(put_ok(db, NULL, key, val, sizeof val), last + 1 + (uint64_t)k);
        }
        assert_ok(inmem_db_close(db));
        assert_true(count_segments(dir) >= 2);
        db = open_db(dir, mode);
        assert_int_equal(test_stats(db).version, last + 100);
        expect_get(db, NULL, "n099", val, sizeof val, last + 100);
        assert_ok(inmem_db_close(db));
        test_rmdir(dir);
    }
}

static void clean_close_fsyncs_and_files_stay_in_the_directory(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    use_faulty_vfs();
    inmem_options o;
    log_options_init(&o);
    o.durability = INMEM_DURABILITY_ASYNC;
    o.wal_segment_size = SEG_SIZE;
    o.sync_interval_ms = 1000000; /* the background fsync never comes during the test */
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(dir, &o, &db));
    assert_int_equal(put_ok(db, NULL, "k", LIT("v")), 1);
    assert_int_equal(put_ok(db, NULL, "k2", LIT("v2")), 2);
    int before = atomic_load(&datasyncs);
    assert_ok(inmem_db_close(db));
    CHECK(atomic_load(&datasyncs) > before, "close did not fsync the log");
    inmem__vfs_set(NULL);
    pthread_mutex_lock(&created_mu);
    assert_true(ncreated >= 2); /* LOCK and the segment */
    for (int i = 0; i < ncreated; i++)
        CHECK(strncmp(created[i], dir, strlen(dir)) == 0 && created[i][strlen(dir)] == '/',
              "created %s outside %s", created[i], dir);
    pthread_mutex_unlock(&created_mu);

    /* the log ends with the close mark, carrying the last version and transaction id */
    size_t len, nf, end;
    uint8_t *img = slurp(path, &len);
    frame *f = walk_log(img, len, &nf, &end);
    assert_int_equal(f[nf - 1].rec.type, INMEM__REC_CLOSE);
    assert_int_equal(f[nf - 1].rec.version, 2);
    assert_int_equal(f[nf - 1].rec.txn_id, 2);
    free(f);
    free(img);
    db = open_db(dir, INMEM_DURABILITY_ASYNC);
    expect_get(db, NULL, "k2", "v2", 2, 2);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* ---- nothing of an aborted transaction reaches the log ------------------------------------ */

static void aborted_and_readonly_transactions_write_nothing_to_the_log(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_BATCHED);
    assert_int_equal(put_ok(db, NULL, "k", LIT("v")), 1);
    uint64_t b0 = test_stats(db).wal_bytes;
    inmem_txn *t, *t2;
    assert_ok(inmem_txn_begin(db, &t)); /* aborted */
    assert_ok(inmem_kv_put(t, NULL, LIT("x"), LIT("x")));
    assert_ok(inmem_txn_abort(t));
    inmem_txn_free(t);
    assert_ok(inmem_txn_begin(db, &t)); /* freed while active */
    assert_ok(inmem_kv_put(t, NULL, LIT("y"), LIT("y")));
    inmem_txn_free(t);
    assert_ok(inmem_txn_begin(db, &t)); /* read-only */
    assert_ok(inmem_kv_get(t, NULL, LIT("k"), NULL, NULL, NULL));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_int_equal(test_stats(db).wal_bytes, b0);
    assert_ok(inmem_txn_begin(db, &t)); /* a conflict */
    assert_ok(inmem_kv_get(t, NULL, LIT("k"), NULL, NULL, NULL));
    assert_ok(inmem_kv_put(t, NULL, LIT("z"), LIT("z")));
    assert_ok(inmem_txn_begin(db, &t2));
    assert_ok(inmem_kv_put(t2, NULL, LIT("k"), LIT("w")));
    assert_ok(inmem_txn_commit(t2));
    inmem_txn_free(t2);
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    inmem_txn_free(t);
    /* only t2 was logged: one TXN frame of one put */
    inmem_stats st2 = test_stats(db);
    size_t op = inmem__wal_op_size(INMEM__KEY_PREFIX + 1, 1, 0, 0);
    CHECK(st2.wal_bytes > b0 + INMEM__WAL_FRAME + op &&
              st2.wal_bytes <= b0 + inmem__wal_txn_size(st2.version, UINT64_MAX, 1, op),
          "wal_bytes grew by %llu for one put of a 1-byte value",
          (unsigned long long)(st2.wal_bytes - b0));
    assert_ok(inmem_db_close(db));

    size_t len, nf, end;
    uint8_t *img = slurp(path, &len);
    frame *f = walk_log(img, len, &nf, &end);
    int txns = 0;
    for (size_t i = 0; i < nf; i++)
        txns += f[i].rec.type == INMEM__REC_TXN;
    assert_int_equal(txns, 2);
    free(f);
    free(img);
    db = open_db(dir, INMEM_DURABILITY_BATCHED);
    assert_int_equal(recovery_of(db).txns_applied, 2);
    expect_get(db, NULL, "k", "w", 1, 2);
    expect_missing(db, NULL, "x");
    expect_missing(db, NULL, "y");
    expect_missing(db, NULL, "z");
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* ---- group commit ------------------------------------------------------------------------- */

enum { GC_THREADS = 8, GC_COMMITS = 150 };

struct gc_worker {
    inmem_db *db;
    int id, commits;
    char prefix;
    int failures, first_rc;
    uint64_t ver[GC_COMMITS];
};

/* Commits w->commits puts of its own keys "<prefix><id>.<i>" (each key its own value). */
static void *gc_main(void *arg)
{
    struct gc_worker *w = arg;
    char key[32];
    for (int i = 0; i < w->commits; i++) {
        snprintf(key, sizeof key, "%c%d.%d", w->prefix, w->id, i);
        int rc = inmem_put(w->db, NULL, key, strlen(key), key, strlen(key), &w->ver[i]);
        if (rc && !w->failures++)
            w->first_rc = rc;
    }
    return NULL;
}

/* Runs @p threads committers of @p commits puts each on @p db to their end; every commit
 * succeeded. The caller frees the workers. */
static struct gc_worker *gc_run(inmem_db *db, int threads, int commits, char prefix)
{
    struct gc_worker *w = calloc((size_t)threads, sizeof(*w));
    pthread_t *th = calloc((size_t)threads, sizeof(*th));
    assert_true(w && th && commits <= GC_COMMITS);
    for (int i = 0; i < threads; i++) {
        w[i] = (struct gc_worker){.db = db, .id = i, .commits = commits, .prefix = prefix};
        assert_int_equal(pthread_create(&th[i], NULL, gc_main, &w[i]), 0);
    }
    for (int i = 0; i < threads; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < threads; i++)
        CHECK(w[i].failures == 0, "thread %d: %d failed commits, first %s", i, w[i].failures,
              inmem_errname(w[i].first_rc));
    free(th);
    return w;
}

/* Every worker's keys hold their values at the versions their commits returned. */
static void gc_check(inmem_db *db, const struct gc_worker *w, int threads)
{
    char key[32];
    for (int i = 0; i < threads; i++)
        for (int j = 0; j < w[i].commits; j++) {
            snprintf(key, sizeof key, "%c%d.%d", w[i].prefix, i, j);
            expect_get(db, NULL, key, key, strlen(key), w[i].ver[j]);
        }
}

static void group_commit_strict_committers_share_fsyncs(void **state)
{
    (void)state;
    char dir[64], key[32];
    test_tmpdir(dir);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_STRICT);
    struct gc_worker *w = gc_run(db, GC_THREADS, GC_COMMITS, 'g');
    inmem_stats s = test_stats(db);
    const uint64_t total = (uint64_t)GC_THREADS * GC_COMMITS;
    assert_int_equal(s.commits, total);
    assert_true(s.wal_syncs > 0);
    assert_true(s.wal_synced_commits <= total);
    print_message("group commit: %llu commits, %llu made durable by %llu fsyncs\n",
                  (unsigned long long)total, (unsigned long long)s.wal_synced_commits,
                  (unsigned long long)s.wal_syncs);
    CHECK(s.wal_synced_commits > s.wal_syncs,
          "no group commit: %llu commits made durable by %llu fsyncs",
          (unsigned long long)s.wal_synced_commits, (unsigned long long)s.wal_syncs);
    /* every commit got its own version, 1..total */
    uint8_t *seen = calloc(total + 1, 1);
    assert_non_null(seen);
    for (int i = 0; i < GC_THREADS; i++)
        for (int j = 0; j < GC_COMMITS; j++) {
            uint64_t v = w[i].ver[j];
            assert_true(v >= 1 && v <= total && !seen[v]);
            seen[v] = 1;
        }
    free(seen);
    /* the group shrinks to one committer: each commit still returns, and returns durable (a
     * leader waits for a group at most a bounded time, then fsyncs for whoever is there) */
    for (int j = 0; j < 20; j++) {
        snprintf(key, sizeof key, "alone.%d", j);
        assert_ok(inmem_put(db, NULL, key, strlen(key), key, strlen(key), NULL));
        s = test_stats(db);
        assert_int_equal(s.commits, total + (uint64_t)j + 1);
        assert_int_equal(s.wal_synced_commits, s.commits);
    }
    assert_ok(inmem_db_close(db));
    db = open_db(dir, INMEM_DURABILITY_STRICT);
    assert_int_equal(test_stats(db).version, total + 20);
    gc_check(db, w, GC_THREADS);
    assert_ok(inmem_db_close(db));
    free(w);
    test_rmdir(dir);
}

/* Group commit on a slow disk: 3 ms an fsync, thirty times the gather timeout. */
static atomic_int slow_syncs;
static atomic_int counted_pwrites;

static int slow_datasync(int fd)
{
    atomic_fetch_add(&slow_syncs, 1);
    struct timespec ts = {0, 3000000};
    nanosleep(&ts, NULL);
    return inmem__vfs_posix.datasync(fd);
}

static int64_t counting_pwrite(int fd, const void *buf, size_t n, uint64_t off)
{
    atomic_fetch_add(&counted_pwrites, 1);
    return inmem__vfs_posix.pwrite(fd, buf, n, off);
}

/* A strict database in @p dir on the slow disk, with its counters zeroed (a log takes the vfs at
 * its open; the test's teardown puts the real one back). */
static inmem_db *open_on_slow_disk(const char *dir)
{
    static inmem__vfs slow_vfs;
    slow_vfs = inmem__vfs_posix;
    slow_vfs.datasync = slow_datasync;
    slow_vfs.pwrite = counting_pwrite;
    inmem__vfs_set(&slow_vfs);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_STRICT);
    atomic_store(&slow_syncs, 0);
    atomic_store(&counted_pwrites, 0);
    return db;
}

/* A committer waiting in a group sleeps until the fsync that serves it ends: only the group's
 * gatherer waits with the short timeout that bounds a group's forming. (When every member had
 * it, each woke in the middle of the fsync that served it, only to queue again.) */
static void group_commit_waiters_sleep_until_the_fsync_that_serves_them(void **state)
{
    (void)state;
    enum { THREADS = 8, COMMITS = 30 };
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = open_on_slow_disk(dir);
    uint64_t timeouts0 = inmem__wal_wait_timeouts(db->wal);
    struct gc_worker *w = gc_run(db, THREADS, COMMITS, 'n');
    uint64_t timeouts = inmem__wal_wait_timeouts(db->wal) - timeouts0;
    int syncs = atomic_load(&slow_syncs);
    inmem_stats s = test_stats(db);
    print_message("%d commits, %d fsyncs, %llu waits ended by their timeout\n", THREADS * COMMITS,
                  syncs, (unsigned long long)timeouts);
    CHECK(s.wal_synced_commits > (uint64_t)syncs, "no group commit: %llu commits, %d fsyncs",
          (unsigned long long)s.wal_synced_commits, syncs);
    /* the gatherer's, at most one a round: under a quarter of the commits (when every member
     * of a forming group had its timeout, 0.44-1.27 a commit here) */
    CHECK(4 * timeouts <= (uint64_t)THREADS * COMMITS,
          "%llu waits ended by their timeout for %d commits (%d fsyncs): committers woke before "
          "their fsync ended",
          (unsigned long long)timeouts, THREADS * COMMITS, syncs);
    assert_ok(inmem_db_close(db));
    free(w);
    test_rmdir(dir);
}

/* Strict committers encode their frames into the log buffer and the leader of each fsync writes
 * the group's with one pwrite: fewer pwrites than commits (one each before). */
static void group_commit_writes_a_groups_frames_with_one_pwrite(void **state)
{
    (void)state;
    enum { THREADS = 8, COMMITS = 30 };
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = open_on_slow_disk(dir);
    struct gc_worker *w = gc_run(db, THREADS, COMMITS, 'n');
    int pwrites = atomic_load(&counted_pwrites), syncs = atomic_load(&slow_syncs);
    print_message("%d commits: %d pwrites, %d fsyncs\n", THREADS * COMMITS, pwrites, syncs);
    CHECK(pwrites <= syncs, "%d pwrites for %d fsyncs: not one a group", pwrites, syncs);
    CHECK(2 * pwrites < THREADS * COMMITS, "%d pwrites for %d commits", pwrites, THREADS * COMMITS);
    assert_ok(inmem_db_close(db));
    inmem__vfs_set(NULL);
    db = open_db(dir, INMEM_DURABILITY_STRICT);
    gc_check(db, w, THREADS);
    assert_ok(inmem_db_close(db));
    free(w);
    test_rmdir(dir);
}

/* A strict transaction too big for the log buffer goes through the mapping once the buffer's
 * frames, appended before it, are written: every commit, buffered or not, is read back. */
struct big_writer {
    inmem_db *db;
    int failures;
    uint64_t ver[6];
};

static void *big_main(void *arg)
{
    struct big_writer *b = arg;
    size_t n = 300u << 10; /* over the buffer's STAGE_MAX */
    uint8_t *val = malloc(n);
    char key[16];
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "big%d", i);
        if (val)
            memset(val, 'A' + i, n);
        if (!val || inmem_put(b->db, NULL, key, strlen(key), val, n, &b->ver[i]))
            b->failures++;
    }
    free(val);
    return NULL;
}

static void strict_frames_too_big_for_the_log_buffer_follow_the_buffered_ones(void **state)
{
    (void)state;
    enum { THREADS = 4, COMMITS = 30 };
    char dir[64], key[16];
    test_tmpdir(dir);
    inmem_db *db = open_on_slow_disk(dir);
    struct big_writer big = {db, 0, {0}};
    pthread_t bt;
    assert_int_equal(pthread_create(&bt, NULL, big_main, &big), 0);
    struct gc_worker *w = gc_run(db, THREADS, COMMITS, 'n');
    assert_int_equal(pthread_join(bt, NULL), 0);
    assert_int_equal(big.failures, 0);
    assert_ok(inmem_db_close(db));
    inmem__vfs_set(NULL);
    db = open_db(dir, INMEM_DURABILITY_STRICT);
    gc_check(db, w, THREADS);
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "big%d", i);
        void *v = NULL;
        size_t vl = 0;
        uint64_t ver = 0;
        assert_ok(inmem_get(db, NULL, key, strlen(key), &v, &vl, &ver));
        assert_int_equal(vl, 300u << 10);
        assert_int_equal(ver, big.ver[i]);
        assert_true(((uint8_t *)v)[0] == 'A' + i && ((uint8_t *)v)[vl - 1] == 'A' + i);
        inmem_free(v);
    }
    assert_ok(inmem_db_close(db));
    free(w);
    test_rmdir(dir);
}

/* ---- files: where, which, with what permissions ------------------------------------------ */

static int opts_open(const char *dir, const inmem_options *o, inmem_db **db)
{
    *db = NULL;
    return inmem_db_open(dir, o, db);
}

/* Number of entries in @p dir ("." and ".." aside); -1 if it does not exist. */
static int entries_in(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* inmem_options.create_if_missing: a database is made only in a missing or empty directory (or
 * not at all with 0); a non-empty directory that holds none is refused and left as it was;
 * read-only opens never create. */
/* The directories fsynced while a test's vfs is in place (dir_sync_vfs), by inode. */
static inmem__vfs dir_sync_vfs;
static ino_t synced_inodes[16];
static _Atomic int nsynced_inodes;

static int recording_dir_sync(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        int i = atomic_fetch_add(&nsynced_inodes, 1);
        if (i < 16)
            synced_inodes[i] = st.st_ino;
    }
    return inmem__vfs_posix.sync(fd);
}

static int dir_was_synced(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    int n = atomic_load(&nsynced_inodes);
    for (int i = 0; i < n && i < 16; i++)
        if (synced_inodes[i] == st.st_ino)
            return 1;
    return 0;
}

/* A database directory the open creates is synced in its parent, so that a machine crash cannot
 * take it away whole with the commits synced in it (fsync of a file does not make its
 * directory's entry in the parent durable). */
static void open_that_creates_the_directory_syncs_its_parent(void **state)
{
    (void)state;
    char base[64], dir[128];
    test_tmpdir(base);
    snprintf(dir, sizeof dir, "%s/new", base);
    dir_sync_vfs = inmem__vfs_posix;
    dir_sync_vfs.sync = recording_dir_sync;
    atomic_store(&nsynced_inodes, 0);
    inmem__vfs_set(&dir_sync_vfs);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_STRICT);
    inmem__vfs_set(NULL);
    assert_true(dir_was_synced(base));
    assert_true(dir_was_synced(dir));
    assert_ok(inmem_db_close(db));
    test_rmdir(base);
}

static void open_creates_a_database_only_where_allowed(void **state)
{
    (void)state;
    char base[64], dir[128], path[256];
    test_tmpdir(base);
    inmem_options o;
    log_options_init(&o);
    assert_int_equal(o.create_if_missing, 1);
    inmem_db *db;
    inmem_recovery_info rec;

    /* missing: created (and said so); the second open finds it */
    snprintf(dir, sizeof dir, "%s/new", base);
    assert_ok(opts_open(dir, &o, &db));
    assert_ok(inmem_db_recovery(db, &rec));
    assert_int_equal(rec.created, 1);
    assert_ok(inmem_db_close(db));
    assert_ok(opts_open(dir, &o, &db));
    assert_ok(inmem_db_recovery(db, &rec));
    assert_int_equal(rec.created, 0);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);

    /* empty: created */
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_ok(opts_open(dir, &o, &db));
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);

    /* not empty, no database: refused, untouched */
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    spit(path, "mine", 4);
    assert_rc(INMEM_EINVAL, opts_open(dir, &o, &db));
    assert_null(db);
    CHECK(strstr(inmem_errmsg(), "not empty"), "message '%s'", inmem_errmsg());
    assert_int_equal(entries_in(dir), 1);
    o.read_only = 1;
    assert_rc(INMEM_NOTFOUND, opts_open(dir, &o, &db));
    assert_int_equal(entries_in(dir), 1);
    o.read_only = 0;
    unlink(path);

    /* create_if_missing 0 and read-only: never create, not even the directory */
    for (int ro = 0; ro < 2; ro++) {
        o.create_if_missing = ro ? 1 : 0;
        o.read_only = ro;
        assert_rc(INMEM_NOTFOUND, opts_open(dir, &o, &db)); /* empty */
        assert_int_equal(entries_in(dir), 0);
        rmdir(dir);
        assert_rc(INMEM_NOTFOUND, opts_open(dir, &o, &db)); /* missing */
        assert_int_equal(entries_in(dir), -1);
        assert_int_equal(mkdir(dir, 0700), 0);
    }
    rmdir(dir);

    /* a file is not a directory */
    log_options_init(&o);
    spit(dir, "x", 1);
    assert_rc(INMEM_EINVAL, opts_open(dir, &o, &db));
    unlink(dir);
    rmdir(base);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    CHECK(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

/* Files are made 0600 and a new directory 0700 by default (agent data is private); file_mode
 * changes both; a mode without owner read and write is refused. */
static void files_are_private_by_default_and_file_mode_sets_them(void **state)
{
    (void)state;
    mode_t old = umask(022);
    for (int variant = 0; variant < 2; variant++) {
        char base[64], dir[128], path[256];
        test_tmpdir(base);
        snprintf(dir, sizeof dir, "%s/db", base);
        inmem_options o;
        log_options_init(&o);
        o.wal_segment_size = SEG_SIZE;
        if (variant)
            o.file_mode = 0640;
        mode_t fm = variant ? 0640 : 0600, dm = variant ? 0750 : 0700;
        inmem_db *db;
        assert_ok(opts_open(dir, &o, &db));
        uint8_t val[1000] = {0};
        char key[16];
        for (int i = 0; i < 100; i++) { /* past one segment */
            snprintf(key, sizeof key, "k%d", i);
            assert_ok(inmem_put(db, NULL, key, strlen(key), val, sizeof val, NULL));
        }
        assert_ok(inmem_db_close(db));
        assert_int_equal(mode_of(dir), dm);
        snprintf(path, sizeof path, "%s/LOCK", dir);
        assert_int_equal(mode_of(path), fm);
        assert_true(count_segments(dir) >= 2);
        for (uint64_t s = 1; s <= count_segments(dir); s++) {
            seg_path(path, sizeof path, dir, s);
            CHECK(mode_of(path) == fm, "%s: mode %o, expected %o", path, mode_of(path), fm);
        }
        test_rmdir(dir);
        rmdir(base);
    }
    umask(old);
    inmem_options o;
    log_options_init(&o);
    inmem_db *db;
    o.file_mode = 0400;
    assert_rc(INMEM_EINVAL, opts_open("/tmp/never-made", &o, &db));
    o.file_mode = 01600;
    assert_rc(INMEM_EINVAL, opts_open("/tmp/never-made", &o, &db));
}

/* DIR/LOCK is opened without following a symbolic link and must be a regular file: a link
 * planted there never makes the open truncate or write the file it points to. */
static void lock_file_that_is_a_symlink_or_not_a_file_is_refused(void **state)
{
    (void)state;
    char dir[64], lock[128], target[128];
    test_tmpdir(dir);
    snprintf(lock, sizeof lock, "%s/LOCK", dir);
    snprintf(target, sizeof target, "%s.target", dir);
    spit(target, "precious", 8);
    assert_int_equal(symlink(target, lock), 0);
    for (int ro = 0; ro < 2; ro++) {
        inmem_options o;
        log_options_init(&o);
        o.read_only = ro;
        inmem_db *db;
        assert_rc(INMEM_EIO, opts_open(dir, &o, &db));
        CHECK(strstr(inmem_errmsg(), "symbolic link"), "message '%s'", inmem_errmsg());
        expect_file(target, (const uint8_t *)"precious", 8);
    }
    unlink(lock);
    unlink(target);
    assert_int_equal(mkdir(lock, 0700), 0);
    inmem_db *db;
    assert_rc(INMEM_EIO, opts_open(dir, NULL, &db));
    CHECK(strstr(inmem_errmsg(), "not a regular file"), "message '%s'", inmem_errmsg());
    rmdir(lock);
    test_rmdir(dir);
}

/* ---- segments of any size ------------------------------------------------------------------ */

/* Segment sizes that are not a multiple of the page size never stall the log: commits that
 * need a new segment return, and the background prefault of such a segment finishes (it used to
 * spin forever). The alarm turns a hang into a failure. */
static void segments_of_any_size_never_stall_the_log(void **state)
{
    (void)state;
    alarm(120);
    char dir[64], path[4096];
    test_tmpdir(dir);
    inmem_options o;
    log_options_init(&o);
    o.wal_segment_size = 100000;
    inmem_db *db;
    assert_ok(opts_open(dir, &o, &db));
    uint8_t val[1024];
    memset(val, 'x', sizeof val);
    char key[16];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%03d", i);
        assert_ok(inmem_put(db, NULL, key, strlen(key), val, sizeof val, NULL));
    }
    /* one transaction bigger than a segment, then more commits that need new segments */
    uint8_t *big = calloc(1, 3u << 20);
    assert_non_null(big);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "big%d", i);
        assert_ok(inmem_kv_put(t, NULL, key, strlen(key), big, (1u << 20) + 7));
    }
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    free(big);
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "m%03d", i);
        assert_ok(inmem_put(db, NULL, key, strlen(key), val, sizeof val, NULL));
    }
    assert_ok(inmem_db_close(db));

    /* a last segment whose size is not a page multiple (as older versions made them): the
     * prefault of its rest must end */
    uint64_t last = count_segments(dir);
    seg_path(path, sizeof path, dir, last);
    size_t len;
    uint8_t *img = slurp(path, &len);
    size_t odd = 100000;
    assert_true(len > odd);
    inmem__put64(img + 24, odd);
    inmem__put32(img + 36, inmem__crc32c(0, img, 36));
    size_t nf, end;
    free(walk_log(img, odd, &nf, &end));
    spit(path, img, odd);
    free(img);
    assert_ok(opts_open(dir, &o, &db));
    int pending = 1;
    for (int i = 0; i < 12000 && pending; i++) { /* a liveness bound, not a speed check */
        pending = inmem__wal_prefault_pending(db->wal);
        if (pending)
            usleep(10000);
    }
    assert_int_equal(pending, 0);
    assert_ok(inmem_put(db, NULL, LIT("after"), LIT("v"), NULL));
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
    alarm(0);
}

/* Async mode dirties a window of the segment ahead of the appender (wal.c, "Page faults"),
 * asked for again as the appender moves on and after each fsync. Segments a checkpoint switches
 * while the appender waits never stall (the window's end was not a page boundary once, and the
 * syncer dirtied its last page again and again, holding off the switch for good), and every
 * commit is there after a reopen. The alarm turns a hang into a failure. */
static void async_log_dirties_ahead_and_never_stalls_a_switch(void **state)
{
    (void)state;
    alarm(120);
    char dir[64];
    test_tmpdir(dir);
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_ASYNC;
    o.checkpoint_log_ratio = 0;
    inmem_db *db;
    assert_ok(inmem_db_open(dir, &o, &db));
    uint8_t val[200];
    char key[32];
    enum { ROUNDS = 12, PUTS = 20000 }; /* ~5 MB of log a round: segments of 1 to 8 MiB */
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < PUTS; i++) {
            snprintf(key, sizeof key, "k%05d", i);
            memset(val, 'a' + r, sizeof val);
            assert_ok(inmem_put(db, NULL, key, strlen(key), val, sizeof val, NULL));
        }
        assert_ok(inmem_db_checkpoint(db, NULL)); /* a switch, the appender held at the lock */
        for (int i = 0; i < PUTS / 4; i++) {      /* and commits after it, into the new segment */
            snprintf(key, sizeof key, "after%05d", i);
            assert_ok(inmem_put(db, NULL, key, strlen(key), val, sizeof val, NULL));
        }
    }
    uint64_t version = test_stats(db).version;
    assert_ok(inmem_db_close(db));
    assert_ok(inmem_db_open(dir, &o, &db));
    assert_int_equal(test_stats(db).version, version);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    for (int i = 0; i < PUTS; i += 997) {
        snprintf(key, sizeof key, "k%05d", i);
        const void *v;
        size_t vl;
        assert_ok(inmem_kv_get(t, NULL, key, strlen(key), &v, &vl, NULL));
        assert_int_equal(vl, sizeof val);
        assert_int_equal(((const uint8_t *)v)[0], 'a' + ROUNDS - 1);
    }
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
    alarm(0);
}

/* Bytes this process dirtied in files so far (/proc/self/io's write_bytes: the kernel counts a
 * page each time a write, or a write fault, makes it dirty). */
static long long dirtied_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    assert_non_null(f); /* needs task I/O accounting, which Linux has by default */
    char line[128];
    long long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %lld", &v) == 1)
            break;
    fclose(f);
    assert_true(v >= 0);
    return v;
}

/* The window dirtied ahead of an async appender follows its pace: each fsync writes the window's
 * zeros, and a database committing a few times a second had 2 MiB dirtied again after every
 * fsync (clipped to its 1 MiB first segment here: ~1 MiB an fsync, ~20 MB in this test). Now it
 * is dirtied about as far as the appender went between two fsyncs: a page or two. And the log
 * still has every commit. */
static void async_log_dirties_ahead_only_as_far_as_it_writes(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_ASYNC;
    o.sync_interval_ms = 5; /* an fsync every 50 ms */
    o.checkpoint_log_ratio = 0;
    inmem_db *db;
    assert_ok(inmem_db_open(dir, &o, &db));
    uint8_t val[100];
    memset(val, 'v', sizeof val);
    char key[32];
    assert_ok(inmem_put(db, NULL, "first", 5, val, sizeof val, NULL));
    usleep(200 * 1000); /* the first window, dirtied before any pace is known */
    uint64_t syncs0 = test_stats(db).wal_syncs;
    long long before = dirtied_bytes();
    enum { COMMITS = 40 };
    for (int i = 0; i < COMMITS; i++) { /* 40 a second: ~5.6 KB of log a second */
        snprintf(key, sizeof key, "k%03d", i);
        assert_ok(inmem_put(db, NULL, key, strlen(key), val, sizeof val, NULL));
        usleep(25 * 1000);
    }
    long long dirtied = dirtied_bytes() - before;
    uint64_t syncs = test_stats(db).wal_syncs - syncs0;
    assert_true(syncs >= 5); /* the fsyncs came (each would have written the window) */
    /* the log's own pages and a page or two of zeros an fsync; before: ~1 MiB an fsync */
    if (dirtied > 512 * 1024)
        fail_msg("%lld bytes dirtied for %d commits and %llu fsyncs", dirtied, COMMITS,
                 (unsigned long long)syncs);
    uint64_t version = test_stats(db).version;
    assert_ok(inmem_db_close(db));
    assert_ok(inmem_db_open(dir, &o, &db));
    assert_int_equal(test_stats(db).version, version);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* ---- durable means durable ------------------------------------------------------------------ */

static int apply_nothing(void *ctx, const inmem__wal_txn *txn)
{
    (void)ctx;
    (void)txn;
    return 0;
}

/* A log of its own (no store) in @p dir, strict, with segments of @p segment_size bytes. */
static inmem__wal *strict_wal_open(const char *dir, uint64_t segment_size)
{
    inmem__wal_config cfg = {.dir = dir,
                             .mode = INMEM_DURABILITY_STRICT,
                             .segment_size = segment_size,
                             .sync_interval_ms = 100,
                             .sync_commits = 1000,
                             .create_if_missing = 1,
                             .file_mode = 0600};
    inmem_recovery_info rep;
    inmem__wal *w;
    assert_ok(inmem__wal_open(&cfg, apply_nothing, NULL, &rep, &w));
    return w;
}

static uint64_t append_one(inmem__wal *w, uint64_t version, size_t vlen, int *rc)
{
    uint8_t key[64];
    uint32_t kl = kv_key(key, "k");
    static uint8_t val[1 << 17];
    inmem__wal_cursor c;
    *rc = inmem__wal_append_begin(w, version, wall_ms(), zero_run, 1,
                                  inmem__wal_op_size(kl, vlen, 0, 0),
                                  inmem__wal_write_size(kl, vlen), &c);
    if (*rc)
        return 0;
    inmem__wal_append_write(&c, key, kl, val, (uint32_t)vlen, 0);
    return inmem__wal_append_end(w, &c);
}

/* A strict commit that an fsync made durable is reported durable (0), even when the log failed
 * after that fsync — here at a segment switch whose new segment cannot be made (ENOSPC), after
 * the switch's fsync of the old segment covered the commit. A commit no fsync covered gets
 * INMEM_EIO. */
static void strict_commit_made_durable_is_never_reported_as_failed(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    use_faulty_vfs();
    inmem__wal *w = strict_wal_open(dir, SEG_SIZE);
    int rc;
    uint64_t ta = append_one(w, 1, 10, &rc);
    assert_ok(rc);
    atomic_store(&allocate_fails, 1);
    append_one(w, 2, 1 << 17, &rc); /* needs a new segment, which cannot be made */
    assert_rc(INMEM_EIO, rc);
    assert_ok(inmem__wal_commit_wait(w, ta)); /* the switch's fsync covered it */
    append_one(w, 2, 10, &rc);
    assert_rc(INMEM_EREADONLY, rc);
    inmem__wal_close(w);
    atomic_store(&allocate_fails, 0);
    test_rmdir(dir);

    /* an fsync that fails: the commit it was to cover is not durable */
    test_tmpdir(dir);
    w = strict_wal_open(dir, SEG_SIZE);
    uint64_t tb = append_one(w, 1, 10, &rc);
    assert_ok(rc);
    atomic_store(&sync_left, 0);
    assert_rc(INMEM_EIO, inmem__wal_commit_wait(w, tb));
    inmem__wal_close(w);
    test_rmdir(dir);
}

/* A segment switch that waited while a group fsync failed must not run its own fdatasync of
 * the same file and count it: on Linux that retry succeeds (the pages whose writeback failed
 * are clean now) and proves nothing. The commits the failed fsync covered stay failed, and the
 * switching append fails (W5: nothing unsynced is ever reported durable). */
static atomic_int hold_armed, hold_in, hold_release;

static int held_failing_datasync(int fd)
{
    int expect = 1;
    if (atomic_compare_exchange_strong(&hold_armed, &expect, 0)) {
        atomic_store(&hold_in, 1);
        while (!atomic_load(&hold_release))
            usleep(1000);
        return -EIO;
    }
    atomic_fetch_add(&datasyncs, 1);
    return inmem__vfs_posix.datasync(fd);
}

struct switch_race {
    inmem__wal *w;
    uint64_t ticket;
    int rc;
};

static void *race_commit_wait(void *p)
{
    struct switch_race *a = p;
    a->rc = inmem__wal_commit_wait(a->w, a->ticket);
    return NULL;
}

static void *race_switching_append(void *p)
{
    struct switch_race *a = p;
    a->ticket = append_one(a->w, 3, 70000, &a->rc); /* does not fit: switches */
    return NULL;
}

static void strict_switch_waiting_on_a_failed_fsync_acknowledges_nothing(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    faulty_vfs = inmem__vfs_posix;
    faulty_vfs.datasync = held_failing_datasync;
    atomic_store(&hold_armed, 0);
    atomic_store(&hold_in, 0);
    atomic_store(&hold_release, 0);
    atomic_store(&datasyncs, 0);
    inmem__vfs_set(&faulty_vfs);
    inmem__wal *w = strict_wal_open(dir, 64u << 10);
    int rc;
    uint64_t t1 = append_one(w, 1, 10, &rc);
    assert_ok(rc);
    uint64_t t2 = append_one(w, 2, 10, &rc);
    assert_ok(rc);
    uint64_t seq = inmem__wal_seq(w);
    atomic_store(&hold_armed, 1);
    struct switch_race a = {.w = w, .ticket = t1}, b = {.w = w};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race_commit_wait, &a), 0);
    while (!atomic_load(&hold_in)) /* a leads the group fsync covering v1 and v2 */
        usleep(1000);
    assert_int_equal(pthread_create(&tb, NULL, race_switching_append, &b), 0);
    usleep(200 * 1000); /* b waits in the switch for the fsync to end */
    int before = atomic_load(&datasyncs);
    atomic_store(&hold_release, 1); /* the fsync fails */
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_rc(INMEM_EIO, a.rc);
    CHECK(b.rc != 0, "the switching append went on after the log failed (%s)", inmem_errname(b.rc));
    assert_int_equal(inmem__wal_seq(w), seq);
    assert_int_equal(atomic_load(&datasyncs), before); /* no fsync after the failure */
    int rc2 = inmem__wal_commit_wait(w, t2);           /* v2's committer comes late */
    CHECK(rc2 == INMEM_EIO, "v2, covered only by the failed fsync, acknowledged: %s",
          inmem_errname(rc2));
    inmem__wal_close(w);
    inmem__vfs_set(NULL);
    test_rmdir(dir);
}

/* A writable open refused with INMEM_ELOCKED leaves the live writer's files alone: a segment
 * the writer is making (wal-<seq>.log.tmp, until its header is synced and it is renamed into
 * place) is not a leftover of a crash while the writer holds the lock. Removing it made the
 * writer's switch fail (its rename found no file) and its log read-only. */
static atomic_int alloc_armed, alloc_in, alloc_release;

static int held_allocate(int fd, uint64_t len)
{
    int expect = 1;
    if (atomic_compare_exchange_strong(&alloc_armed, &expect, 0)) {
        atomic_store(&alloc_in, 1);
        while (!atomic_load(&alloc_release))
            usleep(1000);
    }
    return inmem__vfs_posix.allocate(fd, len);
}

static void refused_open_never_removes_the_segment_a_writer_is_making(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    faulty_vfs = inmem__vfs_posix;
    faulty_vfs.allocate = held_allocate;
    atomic_store(&alloc_armed, 0);
    atomic_store(&alloc_in, 0);
    atomic_store(&alloc_release, 0);
    inmem__vfs_set(&faulty_vfs);
    inmem__wal *w = strict_wal_open(dir, SEG_SIZE);
    int rc;
    append_one(w, 1, 10, &rc);
    assert_ok(rc);
    uint64_t t2 = append_one(w, 2, 10, &rc);
    assert_ok(rc);
    assert_ok(inmem__wal_commit_wait(w, t2));
    uint64_t seq = inmem__wal_seq(w);
    atomic_store(&alloc_armed, 1);
    struct switch_race b = {.w = w};
    pthread_t tb;
    assert_int_equal(pthread_create(&tb, NULL, race_switching_append, &b), 0);
    while (!atomic_load(&alloc_in)) /* the switch is making the next segment, under .tmp */
        usleep(1000);
    inmem_db *db2 = NULL;
    assert_rc(INMEM_ELOCKED, try_open(dir, INMEM_DURABILITY_BATCHED, 0, &db2));
    assert_null(db2);
    atomic_store(&alloc_release, 1);
    pthread_join(tb, NULL);
    CHECK(b.rc == 0, "the switch of the writer failed after a refused open: %s (%s)",
          inmem_errname(b.rc), inmem_errmsg());
    assert_int_equal(inmem__wal_seq(w), seq + 1);
    assert_ok(inmem__wal_commit_wait(w, b.ticket));
    assert_ok(inmem__wal_writable(w));
    assert_ok(inmem__wal_close(w));
    inmem__vfs_set(NULL);
    test_rmdir(dir);
}

/* A switch that finds the spare too small for its transaction releases it (closes its
 * descriptor) and makes a segment of its own; when the fsync of the old segment then fails, the
 * spare's descriptor must not be closed a second time: by then its number may be another file's,
 * opened by another thread. */
static pthread_mutex_t fds_mu = PTHREAD_MUTEX_INITIALIZER;
static char fd_open[1024];    /* 1 while the vfs handed out this descriptor and did not close it */
static atomic_int bad_closes; /* closes of a descriptor the vfs did not have open */

static int tracking_open(const char *path, int flags, int mode)
{
    int fd = inmem__vfs_posix.open(path, flags, mode);
    pthread_mutex_lock(&fds_mu);
    if (fd >= 0 && fd < (int)sizeof fd_open)
        fd_open[fd] = 1;
    pthread_mutex_unlock(&fds_mu);
    return fd;
}

static int tracking_close(int fd)
{
    pthread_mutex_lock(&fds_mu);
    int was_open = fd >= 0 && fd < (int)sizeof fd_open && fd_open[fd];
    if (was_open)
        fd_open[fd] = 0;
    pthread_mutex_unlock(&fds_mu);
    if (!was_open) {
        atomic_fetch_add(&bad_closes, 1);
        return -EBADF; /* not passed on: it would close whatever has that number now */
    }
    return inmem__vfs_posix.close(fd);
}

static void switch_failing_after_dropping_a_small_spare_closes_it_once(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    use_faulty_vfs();
    faulty_vfs.open = tracking_open;
    faulty_vfs.close = tracking_close;
    memset(fd_open, 0, sizeof fd_open);
    atomic_store(&bad_closes, 0);
    inmem__wal *w = strict_wal_open(dir, SEG_SIZE);
    int rc;
    uint64_t v = 0, seq = 0, t = 0;
    while (inmem__wal_spare(w, &seq) == 0) { /* past half the segment: the spare is asked for */
        t = append_one(w, ++v, 1000, &rc);
        assert_ok(rc);
    }
    for (int i = 0; i < 10000 && inmem__wal_spare(w, &seq) == 1; i++)
        usleep(1000);
    assert_int_equal(inmem__wal_spare(w, &seq), 2);
    assert_ok(inmem__wal_commit_wait(w, t));
    atomic_store(&sync_left, 0);
    append_one(w, ++v, 70000, &rc); /* bigger than the spare; the old segment's fsync fails */
    assert_rc(INMEM_EIO, rc);
    inmem__wal_close(w);
    inmem__vfs_set(NULL);
    assert_int_equal(atomic_load(&bad_closes), 0);
    test_rmdir(dir);
}

/* A batched background fsync period of years (or UINT64_MAX, "never") saturates: it must not
 * wrap into the past, which made the background thread fsync after every commit and spin. */
static void batched_sync_interval_of_years_never_wraps(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    use_faulty_vfs();
    inmem_options o;
    log_options_init(&o);
    o.durability = INMEM_DURABILITY_BATCHED;
    o.sync_interval_ms = UINT64_MAX;
    o.sync_commits = 1u << 30;
    inmem_db *db = NULL;
    assert_ok(opts_open(dir, &o, &db));
    usleep(100 * 1000); /* whatever the open synced */
    int before = atomic_load(&datasyncs);
    for (int i = 0; i < 20; i++) {
        put_ok(db, NULL, "k", &i, sizeof i);
        usleep(5000);
    }
    int during = atomic_load(&datasyncs) - before;
    assert_ok(inmem_db_close(db));
    CHECK(during == 0, "%d fsyncs for 20 commits with a period of UINT64_MAX ms", during);
    inmem__vfs_set(NULL);
    test_rmdir(dir);
}

/* After a process crash, the last segment's newest records may be in the page cache only. The
 * reopened log syncs that segment before it appends, and appends where the data ends — not in
 * the next segment made ahead of a switch that never came (no NEXT record says the log goes on
 * there): appends synced there while the records before them were not would be lost by a
 * later power loss with the records before them, and the log would not open. */
static atomic_int seg1_syncs;
static int spare_settled(inmem_db *db, uint64_t *seq);

static int seg1_counting_datasync(int fd)
{
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0) {
        target[n] = 0;
        if (strstr(target, "wal-0000000000000001.log"))
            atomic_fetch_add(&seg1_syncs, 1);
    }
    return inmem__vfs_posix.datasync(fd);
}

static void reopen_after_a_crash_syncs_the_log_and_appends_where_its_data_ends(void **state)
{
    (void)state;
    char dir[64], copy[64];
    test_tmpdir(dir);
    test_tmpdir(copy);
    inmem_options o;
    log_options_init(&o);
    o.durability = INMEM_DURABILITY_BATCHED;
    o.wal_segment_size = 64u << 10;
    o.sync_interval_ms = 1000000; /* no background fsync while session 1 runs */
    o.sync_commits = 1u << 30;
    inmem_db *db = NULL;
    assert_ok(opts_open(dir, &o, &db));
    char val[1000], key[32];
    memset(val, 'v', sizeof val);
    uint64_t spare = 0;
    int n = 0, st = 0;
    while (st != 2 && n < 60) { /* until the next segment is made ahead */
        snprintf(key, sizeof key, "k%03d", n++);
        put_ok(db, NULL, key, val, sizeof val);
        st = spare_settled(db, &spare);
    }
    assert_int_equal(st, 2);
    assert_int_equal(spare, 2);
    assert_int_equal(inmem__wal_seq(db->wal), 1);
    copy_dir_files(dir, copy); /* the process crashes: the files as the page cache has them */
    assert_ok(inmem_db_close(db));

    faulty_vfs = inmem__vfs_posix;
    faulty_vfs.datasync = seg1_counting_datasync;
    atomic_store(&seg1_syncs, 0);
    inmem__vfs_set(&faulty_vfs);
    o.durability = INMEM_DURABILITY_STRICT;
    assert_ok(opts_open(copy, &o, &db));
    CHECK(atomic_load(&seg1_syncs) >= 1, "the segment holding the data was not synced at open");
    CHECK(inmem__wal_seq(db->wal) == 1, "appending in segment %llu, after segment 1 without NEXT",
          (unsigned long long)inmem__wal_seq(db->wal));
    assert_int_equal(recovery_of(db).txns_applied, n);
    uint64_t v = put_ok(db, NULL, "after", "x", 1);
    assert_ok(inmem_db_close(db));
    inmem__vfs_set(NULL);
    db = NULL;
    assert_ok(opts_open(copy, &o, &db));
    expect_get(db, NULL, "after", "x", 1, v);
    assert_ok(inmem_db_close(db));
    test_rmdir(copy);
    test_rmdir(dir);
}

/* Without strict durability a commit is visible once applied. If the fsync max_unsynced_commits
 * makes it wait for fails, it returns INMEM_EIO (not known durable; the log is read-only from
 * then on) but it is committed: inmem_txn_describe() says so, reads see it, and a waiter on its
 * key is woken (it was not, and the log took no commit that could wake it later). */
struct cap_waiter {
    inmem_db *db;
    uint64_t after, got;
    int rc;
};

static void *cap_wait_main(void *p)
{
    struct cap_waiter *a = p;
    a->rc = inmem_wait(a->db, NULL, INMEM_PRIM_KV, "k", 1, a->after, 5000, &a->got);
    return NULL;
}

static void batched_commit_whose_capped_fsync_fails_is_committed_and_wakes_waiters(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    use_faulty_vfs();
    inmem_options o;
    log_options_init(&o);
    o.durability = INMEM_DURABILITY_BATCHED;
    o.max_unsynced_commits = 1;
    o.sync_interval_ms = 1000000;
    o.sync_commits = 1000000;
    inmem_db *db = NULL;
    assert_ok(opts_open(dir, &o, &db));
    struct cap_waiter w = {.db = db};
    w.after = put_ok(db, NULL, "k", "old", 3);
    for (int i = 0; i < 10; i++) { /* until a commit waited for a capped fsync */
        uint64_t before = test_stats(db).wal_syncs;
        put_ok(db, NULL, "other", "x", 1);
        if (test_stats(db).wal_syncs > before)
            break;
    }
    put_ok(db, NULL, "other", "y", 1); /* unsynced: the next commit waits for an fsync */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cap_wait_main, &w), 0);
    usleep(100 * 1000);
    atomic_store(&sync_left, 0); /* every fsync fails from now on */
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put(t, NULL, "k", 1, "new", 3));
    inmem_stats s0 = test_stats(db);
    assert_rc(INMEM_EIO, inmem_txn_commit(t));
    inmem_stats s1 = test_stats(db); /* committed, not known durable: a commit, not an error */
    assert_int_equal(s1.commits, s0.commits + 1);
    assert_int_equal(s1.aborts_error, s0.aborts_error);
    inmem_txn_info info;
    assert_ok(inmem_txn_describe(t, &info));
    assert_int_equal(info.state, INMEM_TXN_COMMITTED);
    assert_true(info.commit_version > w.after);
    inmem_txn_free(t);
    expect_get(db, NULL, "k", "new", 3, info.commit_version);
    pthread_join(th, NULL);
    CHECK(w.rc == 0 && w.got == info.commit_version, "the waiter: %s, version %llu",
          inmem_errname(w.rc), (unsigned long long)w.got);
    assert_rc(INMEM_EREADONLY, inmem_put(db, NULL, "k", 1, "x", 1, NULL));
    (void)inmem_db_close(db);
    inmem__vfs_set(NULL);
    test_rmdir(dir);
}

/* A strict commit whose fsync failed leaves its versions installed but never visible. Later
 * transactions that read those keys get INMEM_EREADONLY (the log failed), not conflicts with a
 * version nobody can see, retried until the attempts run out. */
static void strict_failed_commit_leaves_no_conflicts_behind(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    use_faulty_vfs();
    inmem_db *db = open_db(dir, INMEM_DURABILITY_STRICT);
    uint64_t v = put_ok(db, NULL, "k", "old", 3);
    atomic_store(&sync_left, 0);
    assert_rc(INMEM_EIO, inmem_put(db, NULL, "k", 1, "new", 3, NULL));
    expect_get(db, NULL, "k", "old", 3, v);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    const void *val;
    size_t n;
    uint64_t seen = 0;
    assert_ok(inmem_kv_get(t, NULL, "k", 1, &val, &n, &seen));
    assert_int_equal(seen, v);
    assert_ok(inmem_kv_put(t, NULL, "k", 1, "next", 4));
    assert_rc(INMEM_EREADONLY, inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_rc(INMEM_EREADONLY, inmem_cas(db, NULL, "k", 1, v, "cas", 3, NULL));
    assert_rc(INMEM_EREADONLY, inmem_cas(db, NULL, "absent", 6, 0, "cas", 3, NULL));
    (void)inmem_db_close(db);
    inmem__vfs_set(NULL);
    test_rmdir(dir);
}

/* A strict commit is visible only once its fsync is done (2.3); a backup holds what readers see,
 * so one opened elsewhere never shows a commit the database has not made durable (here, one
 * whose fsync failed: invisible for good). */
static void strict_backup_holds_only_what_readers_see(void **state)
{
    (void)state;
    char dir[64], copy[64];
    test_tmpdir(dir);
    test_tmpdir(copy);
    test_rmdir(copy); /* the backup makes it */
    use_faulty_vfs();
    inmem_db *db = open_db(dir, INMEM_DURABILITY_STRICT);
    uint64_t v = put_ok(db, NULL, "k", "old", 3);
    atomic_store(&sync_left, 0);
    assert_rc(INMEM_EIO, inmem_put(db, NULL, "k", 1, "new", 3, NULL));
    atomic_store(&sync_left, -1); /* the backup's own files sync again */
    uint64_t bv = 0;
    assert_ok(inmem_db_backup(db, copy, &bv));
    assert_int_equal(bv, v);
    (void)inmem_db_close(db);
    inmem__vfs_set(NULL);
    inmem_db *b = open_db(copy, INMEM_DURABILITY_STRICT);
    expect_get(b, NULL, "k", "old", 3, v);
    assert_ok(inmem_db_close(b));
    test_rmdir(dir);
    test_rmdir(copy);
}

/* Time travel reads only what readers see (2.3): a strict commit whose fsync failed is installed
 * but never visible, so neither inmem_txn_begin_at() at its version nor a lookup by time may reach
 * it (with history kept, its version is the newest assigned, not the newest visible). */
static void strict_failed_commit_is_not_reached_by_time_travel(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    use_faulty_vfs();
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_STRICT;
    o.checkpoint_log_ratio = 0;
    o.history_versions = 10;
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(dir, &o, &db));
    uint64_t v = put_ok(db, NULL, "k", "old", 3);
    atomic_store(&sync_left, 0);
    assert_rc(INMEM_EIO, inmem_put(db, NULL, "k", 1, "new", 3, NULL));
    expect_get(db, NULL, "k", "old", 3, v);
    inmem_txn *t = NULL;
    assert_rc(INMEM_EINVAL, inmem_txn_begin_at(db, v + 1, &t));
    assert_null(t);
    uint64_t tv = 0, ms = 0;
    assert_rc(INMEM_EINVAL, inmem_db_version_time(db, v + 1, &ms));
    assert_ok(inmem_db_time_version(db, UINT64_MAX / 2, &tv));
    assert_int_equal(tv, v);
    assert_ok(inmem_txn_begin_at_time(db, UINT64_MAX / 2, &t));
    const void *val;
    size_t n;
    uint64_t seen = 0;
    assert_ok(inmem_kv_get(t, NULL, "k", 1, &val, &n, &seen));
    assert_int_equal(seen, v);
    assert_memory_equal(val, "old", 3);
    inmem_txn_free(t);
    assert_ok(inmem_txn_begin_at(db, v, &t));
    assert_ok(inmem_kv_get(t, NULL, "k", 1, &val, &n, &seen));
    assert_int_equal(seen, v);
    inmem_txn_free(t);
    (void)inmem_db_close(db);
    inmem__vfs_set(NULL);
    test_rmdir(dir);
}

/* Recovery does not read the segments after the last one holding data, but a gap in their
 * numbers is still corruption: segment 1 ends with NEXT, segment 2 (with commits) is lost,
 * segment 3 (made ahead) is there. The open fails, read-only or not, and removes nothing. */
static void a_lost_segment_after_the_last_one_with_data_is_corruption(void **state)
{
    (void)state;
    char dir[64], copy[64];
    test_tmpdir(dir);
    test_tmpdir(copy);
    inmem_options o;
    log_options_init(&o);
    o.durability = INMEM_DURABILITY_BATCHED;
    o.wal_segment_size = 64u << 10;
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(dir, &o, &db));
    char val[1000], key[32];
    memset(val, 'v', sizeof val);
    int n = 0, st = 0;
    uint64_t spare = 0;
    while (n < 500) { /* until segment 2 is current and segment 3 made ahead */
        snprintf(key, sizeof key, "k%03d", n++);
        put_ok(db, NULL, key, val, sizeof val);
        if (inmem__wal_seq(db->wal) == 2 && (st = spare_settled(db, &spare)) == 2 && spare == 3)
            break;
    }
    assert_int_equal(inmem__wal_seq(db->wal), 2);
    assert_int_equal(spare, 3);
    copy_dir_files(dir, copy); /* a crash image: segments 1 (NEXT), 2 (data), 3 (made ahead) */
    assert_ok(inmem_db_close(db));
    char p2[128];
    seg_path(p2, sizeof p2, copy, 2);
    assert_int_equal(unlink(p2), 0); /* segment 2 lost */
    db = NULL;
    o.read_only = 1;
    int rc = inmem_db_open(copy, &o, &db);
    CHECK(rc == INMEM_ECORRUPT, "a read-only open of a log missing segment 2: %s",
          inmem_errname(rc));
    if (db)
        inmem_db_close(db);
    db = NULL;
    o.read_only = 0;
    rc = inmem_db_open(copy, &o, &db);
    CHECK(rc == INMEM_ECORRUPT, "a log missing segment 2 opened: %s", inmem_errname(rc));
    CHECK(strstr(inmem_errmsg(), "wal-0000000000000002.log"), "message '%s' lacks the segment",
          inmem_errmsg());
    if (db)
        inmem_db_close(db);
    char p3[128];
    seg_path(p3, sizeof p3, copy, 3);
    assert_true(file_exists(p3)); /* the evidence stays */
    test_rmdir(copy);
    test_rmdir(dir);
}

/* ---- the batched cap ------------------------------------------------------------------------ */

struct cap_arg {
    inmem_db *db;
    int id, n;
    uint64_t cap;
    _Atomic int *bad;
};

static void *cap_worker(void *p)
{
    struct cap_arg *a = p;
    uint8_t val[200] = {0};
    char key[32];
    for (int i = 0; i < a->n; i++) {
        uint64_t v = 0;
        snprintf(key, sizeof key, "w%d-%d", a->id, i);
        if (inmem_put(a->db, NULL, key, strlen(key), val, sizeof val, &v) != 0) {
            atomic_fetch_add(a->bad, 1);
            continue;
        }
        inmem_stats s;
        inmem_db_stats(a->db, &s);
        /* acknowledged commit v: at most cap commits may be waiting for an fsync, and commits
         * are logged in version order, so fsyncs covered at least v - cap of them */
        if (s.wal_synced_commits + a->cap < v)
            atomic_fetch_add(a->bad, 1);
    }
    return NULL;
}

/* inmem_options.max_unsynced_commits: with the background fsyncs all but off (10 s, a million
 * commits), no acknowledged commit ever has more than the cap of commits unsynced before it, with
 * one committer and with four. */
static void batched_cap_bounds_the_unsynced_acknowledged_commits(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 4; threads += 3) {
        char dir[64];
        test_tmpdir(dir);
        inmem_options o;
        log_options_init(&o);
        o.wal_segment_size = 1u << 20;
        o.sync_interval_ms = 10000;
        o.sync_commits = 1000000;
        o.max_unsynced_commits = 8;
        inmem_db *db;
        assert_ok(opts_open(dir, &o, &db));
        _Atomic int bad = 0;
        pthread_t th[4];
        struct cap_arg a[4];
        for (int i = 0; i < threads; i++) {
            a[i] = (struct cap_arg){db, i, 300, o.max_unsynced_commits, &bad};
            assert_int_equal(pthread_create(&th[i], NULL, cap_worker, &a[i]), 0);
        }
        for (int i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
        CHECK(atomic_load(&bad) == 0, "%d threads: %d commits beyond the cap", threads,
              atomic_load(&bad));
        inmem_stats s;
        assert_ok(inmem_db_stats(db, &s));
        assert_int_equal(s.commits, (uint64_t)threads * 300);
        assert_true(s.wal_synced_commits + o.max_unsynced_commits >= s.commits);
        assert_ok(inmem_db_close(db));
        test_rmdir(dir);
    }
}

/* A strict commit whose fsync failed returned INMEM_EIO and never became visible: it is no
 * commit (inmem_stats.commits), but a commit an error ended (aborts_error), like the commits the
 * failed log refuses after it; in a transaction or implicit. A batched commit whose capped fsync
 * failed is applied and visible, so it stays a commit (see the test above). */
static void strict_commit_whose_fsync_failed_counts_as_an_error_not_a_commit(void **state)
{
    (void)state;
    for (int in_txn = 0; in_txn < 2; in_txn++) {
        char dir[64];
        test_tmpdir(dir);
        use_faulty_vfs();
        inmem_db *db = open_db(dir, INMEM_DURABILITY_STRICT);
        uint64_t v = put_ok(db, NULL, "k", "old", 3);
        inmem_stats s0 = test_stats(db);
        assert_int_equal(s0.commits, 1);
        assert_int_equal(s0.aborts_error, 0);
        atomic_store(&sync_left, 0); /* every fsync fails from now on */
        if (in_txn) {
            inmem_txn *t;
            assert_ok(inmem_txn_begin(db, &t));
            assert_ok(inmem_kv_put(t, NULL, "k", 1, "new", 3));
            assert_rc(INMEM_EIO, inmem_txn_commit(t));
            inmem_txn_info info;
            assert_ok(inmem_txn_describe(t, &info));
            assert_int_equal(info.reason, INMEM_ABORT_ERROR);
            inmem_txn_free(t);
        } else {
            assert_rc(INMEM_EIO, inmem_put(db, NULL, "k", 1, "new", 3, NULL));
        }
        expect_get(db, NULL, "k", "old", 3, v); /* never visible */
        inmem_stats s1 = test_stats(db);
        CHECK(s1.commits == s0.commits && s1.aborts_error == 1,
              "%s: after the failed strict commit: commits %llu (was %llu), aborts_error %llu",
              in_txn ? "transaction" : "implicit", (unsigned long long)s1.commits,
              (unsigned long long)s0.commits, (unsigned long long)s1.aborts_error);
        assert_int_equal(s1.version, v);
        /* what the failed log refuses from then on is an error's abort too, never a commit */
        assert_rc(INMEM_EREADONLY, inmem_put(db, NULL, "k", 1, "x", 1, NULL));
        inmem_txn *t;
        assert_ok(inmem_txn_begin(db, &t));
        assert_ok(inmem_kv_put(t, NULL, "j", 1, "x", 1));
        assert_rc(INMEM_EREADONLY, inmem_txn_commit(t));
        inmem_txn_free(t);
        inmem_stats s2 = test_stats(db);
        assert_int_equal(s2.commits, s0.commits);
        assert_int_equal(s2.aborts_error, 3);
        assert_int_equal(s2.aborts_user + s2.aborts_read_conflict + s2.aborts_cas_conflict, 0);
        (void)inmem_db_close(db);
        inmem__vfs_set(NULL);
        test_rmdir(dir);
    }
}

/* ---- read-only beside a live writer ---------------------------------------------------------- */

struct writer_arg {
    inmem_db *db;
    _Atomic int stop;
    _Atomic int done;
    _Atomic int errors;
    _Atomic int commits;
};

/* Writes a bounded log (at most WRITER_COMMITS commits of 1 KiB, about 200 segments): each
 * read-only open replays all of it, so an unbounded writer makes the reader chase a log that
 * grows faster than it can be read (under TSan it once wrote 13 GB). */
#define WRITER_COMMITS 12000

static void *switching_writer(void *p)
{
    struct writer_arg *a = p;
    uint8_t val[1024] = {0};
    char key[32];
    for (int i = 0; i < WRITER_COMMITS && !atomic_load(&a->stop); i++) {
        snprintf(key, sizeof key, "k%d", i % 5000);
        if (inmem_put(a->db, NULL, key, strlen(key), val, sizeof val, NULL) != 0)
            atomic_fetch_add(&a->errors, 1);
        atomic_fetch_add(&a->commits, 1);
    }
    atomic_store(&a->done, 1);
    return NULL;
}

/* A read-only open beside a writer that keeps switching segments always succeeds (a segment
 * made while the directory is listed is a gap to stop at, not a missing segment), knows the
 * writer is live, and sees a committed state that only moves forward. */
static void read_only_open_beside_a_switching_writer_always_succeeds(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_options o;
    log_options_init(&o);
    o.wal_segment_size = SEG_SIZE;
    struct writer_arg a = {0};
    assert_ok(opts_open(dir, &o, &a.db));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, switching_writer, &a), 0);
    o.read_only = 1;
    uint64_t last = 0;
    int opens = 0;
    /* 60 opens at least 3, or until the writer is done, but not before it has written several
     * segments' worth (~60 commits each): 60 opens can take less than its first switches */
    for (int i = 0; !atomic_load(&a.done) ? i < 60 || atomic_load(&a.commits) < 300 : i < 3;
         i++, opens++) {
        inmem_db *r;
        int rc = opts_open(dir, &o, &r);
        if (rc) {
            atomic_store(&a.stop, 1);
            pthread_join(th, NULL);
            fail_msg("read-only open %d: %s (%s)", i, inmem_errname(rc), inmem_errmsg());
        }
        inmem_recovery_info rec;
        assert_ok(inmem_db_recovery(r, &rec));
        assert_int_equal(rec.live_writer, 1);
        assert_int_equal(rec.torn_tail, 0);
        CHECK(rec.version >= last, "open %d: version %llu after %llu", i,
              (unsigned long long)rec.version, (unsigned long long)last);
        last = rec.version;
        assert_ok(inmem_db_close(r));
    }
    atomic_store(&a.stop, 1);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&a.errors), 0);
    assert_true(opens >= 3);
    CHECK(count_segments(dir) > 2, "%llu segments after %d opens (writer %s, version %llu)",
          (unsigned long long)count_segments(dir), opens, atomic_load(&a.done) ? "done" : "stopped",
          (unsigned long long)test_stats(a.db).version);
    assert_ok(inmem_db_close(a.db));
    test_rmdir(dir);
}

/* Shared locks asked for: one per read-only open's attempt (probe_writer()). */
static _Atomic int shared_locks;

static int counting_lock(int fd, int shared)
{
    if (shared)
        atomic_fetch_add(&shared_locks, 1);
    return inmem__vfs_posix.lock(fd, shared);
}

/* Flips one byte of @p path at @p off in place (again to restore it). */
static void flip_byte(const char *path, size_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

/* A read-only open with @p db's writer at work: the result, with the shared locks it took. */
static int open_beside(const char *dir, inmem_db **r, int *attempts)
{
    inmem_options o;
    log_options_init(&o);
    o.read_only = 1;
    atomic_store(&shared_locks, 0);
    int rc = inmem_db_open(dir, &o, r);
    *attempts = atomic_load(&shared_locks);
    return rc;
}

/* Beside a live writer, a read-only open leaves unjudged only what the writer may be writing:
 * damage in a segment it finished before (synced whole, then ended by its NEXT record, before
 * any record went into the next one) is corruption, named with file and offset, at once (no
 * retry as if it were a race with the writer) — not a silent stop there. Damage in the segment
 * it appends to is not judged: the open stops before it, as ever. */
static void read_only_open_beside_a_writer_judges_damage_in_the_segments_it_finished(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    inmem_options o;
    log_options_init(&o);
    o.wal_segment_size = SEG_SIZE;
    o.ttl_sweep_interval_ms = 0;
    inmem_db *w;
    assert_ok(opts_open(dir, &o, &w));
    uint8_t val[1024] = {0};
    char key[32];
    for (int i = 0; current_segment(w) < 3; i++) { /* segments 1 and 2 finished */
        snprintf(key, sizeof key, "k%d", i);
        put_ok(w, NULL, key, val, sizeof val);
    }
    uint64_t last = put_ok(w, NULL, "in-3", val, sizeof val); /* segment 3 holds data */
    assert_int_equal(current_segment(w), 3);
    inmem__vfs faulty = inmem__vfs_posix;
    faulty.lock = counting_lock;
    inmem__vfs_set(&faulty);
    inmem_db *r = NULL;
    int attempts = 0;
    assert_ok(open_beside(dir, &r, &attempts));
    inmem_recovery_info rec = recovery_of(r);
    assert_int_equal(rec.live_writer, 1);
    assert_int_equal(rec.version, last);
    assert_ok(inmem_db_close(r));

    /* a flipped byte in a transaction of segment 1, then in segment 2's header */
    size_t len, nf, end;
    seg_path(path, sizeof path, dir, 1);
    uint8_t *img = slurp(path, &len);
    frame *f = walk_log(img, len, &nf, &end);
    assert_true(nf > 3);
    size_t off = f[2].off, at = off + 9; /* in the third transaction's payload */
    free(f);
    free(img);
    for (int round = 0; round < 2; round++) {
        uint64_t seq = round ? 2 : 1;
        size_t flip = round ? 0 : at, named = round ? 0 : off;
        seg_path(path, sizeof path, dir, seq);
        flip_byte(path, flip);
        r = NULL;
        int rc = open_beside(dir, &r, &attempts);
        if (rc == 0)
            (void)inmem_db_close(r);
        flip_byte(path, flip); /* restored before any check can fail */
        char name[32];
        snprintf(name, sizeof name, "wal-%016llx.log", (unsigned long long)seq);
        CHECK(rc == INMEM_ECORRUPT,
              "damage at %zu of %s beside a live writer: %s, expected "
              "INMEM_ECORRUPT",
              flip, name, inmem_errname(rc));
        CHECK(strstr(inmem_errmsg(), name) && mentions_number(inmem_errmsg(), named),
              "message '%s' does not name %s and offset %zu", inmem_errmsg(), name, named);
        CHECK(attempts == 1, "%d attempts at the open: damage that stays was retried", attempts);
    }

    /* the segment the writer appends to: its last transaction damaged, the open stops before */
    seg_path(path, sizeof path, dir, 3);
    img = slurp(path, &len);
    f = walk_log(img, len, &nf, &end);
    assert_true(nf >= 1);
    at = f[nf - 1].off + 9;
    assert_int_equal(f[nf - 1].rec.version, last);
    free(f);
    free(img);
    flip_byte(path, at);
    r = NULL;
    int rc = open_beside(dir, &r, &attempts);
    uint64_t seen = rc == 0 ? recovery_of(r).version : 0;
    if (rc == 0)
        assert_ok(inmem_db_close(r));
    flip_byte(path, at);
    CHECK(rc == 0 && seen == last - 1, "damage in the writer's segment: %s, version %llu",
          inmem_errname(rc), (unsigned long long)seen);
    inmem__vfs_set(NULL);
    assert_int_equal(put_ok(w, NULL, "after", "x", 1), last + 1);
    assert_ok(inmem_db_close(w));
    assert_ok(opts_open(dir, &o, &w)); /* every byte restored: the log is whole */
    assert_int_equal(test_stats(w).version, last + 1);
    assert_ok(inmem_db_close(w));
    test_rmdir(dir);
}

/* Sessions that open and close without writing, at the very end of a segment, each leave a
 * CLOSE mark: the room every segment keeps for its end marks must never be overrun (a close once
 * wrote past the end of the mapping here), and the log stays whole. */
static void clean_closes_at_the_end_of_a_full_segment_never_overrun_it(void **state)
{
    (void)state;
    for (size_t slack = 0; slack < 60; slack += 7) {
        char dir[64];
        test_tmpdir(dir);
        inmem_db *db = open_db(dir, INMEM_DURABILITY_BATCHED);
        uint8_t val[4096];
        memset(val, 'v', sizeof val);
        char key[16];
        int n = 0;
        for (;; n++) { /* fill segment 1 to within ~2 KB of its end, 1000-byte values */
            inmem_stats st = test_stats(db);
            if (SEG_SIZE - INMEM__WAL_HEADER - st.wal_bytes < 2200)
                break;
            snprintf(key, sizeof key, "k%03d", n);
            put_ok(db, NULL, key, val, 1000);
        }
        /* a last put that leaves exactly the room kept for the end marks, plus slack */
        inmem_stats st = test_stats(db);
        size_t left = SEG_SIZE - INMEM__WAL_HEADER - st.wal_bytes;
        snprintf(key, sizeof key, "k%03d", n++);
        size_t fixed = BEGIN_FRAME + INMEM__WAL_FRAME + INMEM__WAL_WRITE_FIXED + INMEM__KEY_PREFIX +
                       strlen(key) + COMMIT_FRAME;
        size_t vlen = left - INMEM__WAL_END_ROOM - slack - fixed;
        assert_true(vlen <= sizeof val);
        uint64_t last = put_ok(db, NULL, key, val, vlen);
        assert_int_equal(current_segment(db), 1);
        assert_ok(inmem_db_close(db));
        assert_int_equal(count_segments(dir), 1); /* the next one, made ahead, is removed */
        for (int cycle = 0; cycle < 4; cycle++) { /* sessions that write nothing */
            db = open_db(dir, INMEM_DURABILITY_BATCHED);
            inmem_recovery_info rec = recovery_of(db);
            CHECK(rec.version == last && rec.torn_tail == 0 && rec.repaired == 0,
                  "slack %zu cycle %d: version %llu, torn %d", slack, cycle,
                  (unsigned long long)rec.version, rec.torn_tail);
            assert_ok(inmem_db_close(db));
        }
        db = open_db(dir, INMEM_DURABILITY_BATCHED);
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "m%d", i);
            assert_int_equal(put_ok(db, NULL, key, LIT("after")), last + 1 + (uint64_t)i);
        }
        assert_ok(inmem_db_close(db));
        db = open_db(dir, INMEM_DURABILITY_BATCHED);
        assert_int_equal(recovery_of(db).version, last + 3);
        expect_get(db, NULL, key, "after", 5, last + 3);
        snprintf(key, sizeof key, "k%03d", n - 1);
        expect_get(db, NULL, key, val, vlen, last);
        assert_ok(inmem_db_close(db));
        test_rmdir(dir);
    }
}

/* A new database starts with a small segment and each next one doubles, up to
 * wal_segment_size: a tiny database is a tiny directory. */
static void segments_start_small_and_double_up_to_the_segment_size(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    inmem_options o;
    log_options_init(&o);
    o.wal_segment_size = 4u << 20;
    inmem_db *db;
    assert_ok(opts_open(dir, &o, &db));
    seg_path(path, sizeof path, dir, 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 1u << 20);
    static uint8_t val[60000];
    char key[16];
    for (int i = 0; i < 200; i++) { /* 12 MB: segments 1 MiB, 2 MiB, 4 MiB, 4 MiB... */
        snprintf(key, sizeof key, "k%03d", i);
        assert_ok(inmem_put(db, NULL, key, strlen(key), val, sizeof val, NULL));
    }
    assert_ok(inmem_db_close(db));
    uint64_t n = count_segments(dir);
    assert_true(n >= 4);
    for (uint64_t s = 1; s <= n; s++) {
        seg_path(path, sizeof path, dir, s);
        assert_int_equal(stat(path, &st), 0);
        uint64_t want = s == 1 ? 1u << 20 : s == 2 ? 2u << 20 : 4u << 20;
        CHECK((uint64_t)st.st_size == want, "segment %llu: %lld bytes, expected %llu",
              (unsigned long long)s, (long long)st.st_size, (unsigned long long)want);
    }
    test_rmdir(dir);
}

/* The log's background thread in batched mode fsyncs when an fsync is due (sync_interval_ms,
 * sync_commits) and not otherwise: waking it to prefault a new segment (or to make the next
 * one) costs no fsync, which would write the committers' pages back early and make them fault
 * again. */
static void batched_background_thread_fsyncs_only_when_due(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_options o;
    log_options_init(&o);
    o.durability = INMEM_DURABILITY_BATCHED;
    o.sync_interval_ms = 1000000; /* never due during the test */
    o.sync_commits = 1000000;
    inmem_db *db;
    assert_ok(opts_open(dir, &o, &db));
    static uint8_t big[600000];
    assert_ok(inmem_put(db, NULL, LIT("a"), big, sizeof big, NULL));
    for (int i = 0; i < 10000 && inmem__wal_prefault_pending(db->wal); i++)
        usleep(1000);
    uint64_t s0 = test_stats(db).wal_syncs;
    /* the second value does not fit the first segment (1 MiB): the switch syncs it (one fsync),
     * then the background thread prefaults the new one while this commit is unsynced */
    assert_ok(inmem_put(db, NULL, LIT("b"), big, sizeof big, NULL));
    assert_int_equal(current_segment(db), 2);
    for (int i = 0; i < 10000 && inmem__wal_prefault_pending(db->wal); i++)
        usleep(1000);
    assert_false(inmem__wal_prefault_pending(db->wal));
    usleep(20000); /* time for an fsync that should not come */
    CHECK(test_stats(db).wal_syncs == s0 + 1, "%llu fsyncs after the switch's one",
          (unsigned long long)(test_stats(db).wal_syncs - s0 - 1));
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* ... and an fsync does come when one is due: the period ran out (with sync_commits never
 * reached), or sync_commits commits were made (with the period never ending). */
static void batched_fsync_comes_when_the_period_ends_or_sync_commits_are_reached(void **state)
{
    (void)state;
    for (int by_count = 0; by_count < 2; by_count++) {
        char dir[64], key[16];
        test_tmpdir(dir);
        inmem_options o;
        log_options_init(&o);
        o.durability = INMEM_DURABILITY_BATCHED;
        o.sync_interval_ms = by_count ? 1000000 : 50;
        o.sync_commits = by_count ? 10 : 1000000;
        inmem_db *db;
        assert_ok(opts_open(dir, &o, &db));
        int n = by_count ? 10 : 1;
        for (int i = 0; i < n; i++) {
            snprintf(key, sizeof key, "k%d", i);
            assert_ok(inmem_put(db, NULL, key, strlen(key), LIT("v"), NULL));
        }
        for (int i = 0; i < 5000 && test_stats(db).wal_synced_commits < (uint64_t)n; i++)
            usleep(1000);
        CHECK(test_stats(db).wal_synced_commits >= (uint64_t)n,
              "%s: %llu of %d commits synced after 5 s", by_count ? "sync_commits" : "period",
              (unsigned long long)test_stats(db).wal_synced_commits, n);
        assert_ok(inmem_db_close(db));
        test_rmdir(dir);
    }
}

/* ---- the next segment is made ahead ------------------------------------------------------ */

static pthread_t committer;
static atomic_int made_by_committer; /* segments created on the committing thread */

static int ahead_open(const char *path, int flags, int mode)
{
    if ((flags & O_CREAT) && strstr(path, ".log.tmp") && pthread_equal(pthread_self(), committer))
        atomic_fetch_add(&made_by_committer, 1);
    return inmem__vfs_posix.open(path, flags, mode);
}

/* Waits (up to 10 s) until no spare segment is asked for or being made; its state then. */
static int spare_settled(inmem_db *db, uint64_t *seq)
{
    int st = 1;
    for (int i = 0; i < 10000 && (st = inmem__wal_spare(db->wal, seq)) == 1; i++)
        usleep(1000);
    return st;
}

/* A segment switch does not make the next segment on the committer's time: once a segment is
 * half full, the log's background thread makes the next one (created, reserved, synced, named,
 * mapped), and the switch only ends the old one. In strict and batched mode: every segment
 * after the first is made off the committing thread, every commit survives a reopen, a spare
 * left unused by a crash of the process does not disturb the next open (every commit is there,
 * and appending goes on), and a clean close removes an unused spare. */
static void segments_are_made_ahead_off_the_committing_thread(void **state)
{
    (void)state;
    for (int m = 0; m < 2; m++) {
        inmem_durability mode = m ? INMEM_DURABILITY_STRICT : INMEM_DURABILITY_BATCHED;
        char dir[64], copy[64], key[16], path[4096];
        test_tmpdir(dir);
        test_tmpdir(copy);
        inmem_options o;
        log_options_init(&o);
        o.durability = mode;
        o.wal_segment_size = 4u << 20;
        static uint8_t val[60000];
        faulty_vfs = inmem__vfs_posix;
        faulty_vfs.open = ahead_open;
        committer = pthread_self();
        atomic_store(&made_by_committer, 0);
        inmem__vfs_set(&faulty_vfs);
        inmem_db *db;
        assert_ok(opts_open(dir, &o, &db));
        atomic_store(&made_by_committer, 0); /* the first segment is made by the open */
        uint64_t seq = 0;
        for (int i = 0; i < 200; i++) { /* 12 MB: segments 1 MiB, 2 MiB, 4 MiB, 4 MiB... */
            snprintf(key, sizeof key, "k%03d", i);
            memset(val, i, sizeof val);
            assert_ok(inmem_put(db, NULL, key, strlen(key), val, sizeof val, NULL));
            spare_settled(db, &seq);
        }
        assert_int_equal(atomic_load(&made_by_committer), 0);
        uint64_t n = count_segments(dir);
        CHECK(n >= 4, "mode %d: %llu segments", (int)mode, (unsigned long long)n);
        /* a spare on disk at a crash of the process (the files as they are now) */
        for (int i = 200; spare_settled(db, &seq) != 2 && i < 300; i++) {
            snprintf(key, sizeof key, "k%03d", i);
            memset(val, i, sizeof val);
            assert_ok(inmem_put(db, NULL, key, strlen(key), val, sizeof val, NULL));
        }
        assert_int_equal(spare_settled(db, &seq), 2);
        uint64_t last = test_stats(db).version;
        seg_path(path, sizeof path, dir, seq);
        assert_true(file_exists(path));
        copy_dir_files(dir, copy);
        assert_ok(inmem_db_close(db));
        inmem__vfs_set(NULL);
        CHECK(!file_exists(path), "mode %d: the unused spare %s was left at close", (int)mode,
              path);
        for (int d = 0; d < 2; d++) {
            assert_ok(opts_open(d ? copy : dir, &o, &db));
            assert_int_equal(test_stats(db).version, last);
            for (uint64_t k = 0; k < last; k++) {
                snprintf(key, sizeof key, "k%03d", (int)k);
                memset(val, (int)k, sizeof val);
                expect_get(db, NULL, key, val, sizeof val, k + 1);
            }
            assert_int_equal(put_ok(db, NULL, "after", LIT("x")), last + 1);
            assert_ok(inmem_db_close(db));
            assert_ok(opts_open(d ? copy : dir, &o, &db));
            expect_get(db, NULL, "after", "x", 1, last + 1);
            assert_ok(inmem_db_close(db));
        }
        test_rmdir(dir);
        test_rmdir(copy);
    }
}

/* ---- table -------------------------------------------------------------------------------- */

const struct CMUnitTest wal_log_tests[] = {
    cmocka_unit_test(persistence_async_keeps_puts_deletes_txns_versions_across_reopen),
    cmocka_unit_test(persistence_batched_keeps_puts_deletes_txns_versions_across_reopen),
    cmocka_unit_test(persistence_strict_keeps_puts_deletes_txns_versions_across_reopen),
    cmocka_unit_test(persistence_keeps_the_ttl_expiry_of_each_write),
    cmocka_unit_test(persistence_keeps_records_larger_than_a_segment),
    cmocka_unit_test(second_open_of_a_directory_fails_with_elocked_naming_the_pid),
    cmocka_unit_test(writer_open_waits_for_read_only_opens_replaying),
    cmocka_unit_test_teardown(fsync_still_runs_after_segment_2_to_the_24, restore_posix_vfs),
    cmocka_unit_test_teardown(fsync_failure_in_strict_mode_fails_that_commit_then_log_is_readonly,
                              restore_posix_vfs),
    cmocka_unit_test_teardown(pwrite_failure_in_strict_mode_fails_that_commit_then_log_is_readonly,
                              restore_posix_vfs),
    cmocka_unit_test(strict_commits_do_not_write_through_the_segment_mapping),
    cmocka_unit_test(a_child_of_fork_cannot_close_the_parents_database),
    cmocka_unit_test_teardown(enospc_at_segment_switch_fails_that_commit_then_log_is_readonly,
                              restore_posix_vfs),
    cmocka_unit_test_teardown(clean_close_fsyncs_and_files_stay_in_the_directory,
                              restore_posix_vfs),
    cmocka_unit_test(aborted_and_readonly_transactions_write_nothing_to_the_log),
    cmocka_unit_test(group_commit_strict_committers_share_fsyncs),
    cmocka_unit_test_teardown(group_commit_waiters_sleep_until_the_fsync_that_serves_them,
                              restore_posix_vfs),
    cmocka_unit_test_teardown(group_commit_writes_a_groups_frames_with_one_pwrite,
                              restore_posix_vfs),
    cmocka_unit_test_teardown(strict_frames_too_big_for_the_log_buffer_follow_the_buffered_ones,
                              restore_posix_vfs),
    cmocka_unit_test(open_creates_a_database_only_where_allowed),
    cmocka_unit_test_teardown(open_that_creates_the_directory_syncs_its_parent, restore_posix_vfs),
    cmocka_unit_test(files_are_private_by_default_and_file_mode_sets_them),
    cmocka_unit_test(lock_file_that_is_a_symlink_or_not_a_file_is_refused),
    cmocka_unit_test(segments_of_any_size_never_stall_the_log),
    cmocka_unit_test_teardown(strict_commit_made_durable_is_never_reported_as_failed,
                              restore_posix_vfs),
    cmocka_unit_test_teardown(strict_switch_waiting_on_a_failed_fsync_acknowledges_nothing,
                              restore_posix_vfs),
    cmocka_unit_test_teardown(refused_open_never_removes_the_segment_a_writer_is_making,
                              restore_posix_vfs),
    cmocka_unit_test_teardown(switch_failing_after_dropping_a_small_spare_closes_it_once,
                              restore_posix_vfs),
    cmocka_unit_test_teardown(strict_failed_commit_is_not_reached_by_time_travel,
                              restore_posix_vfs),
    cmocka_unit_test_teardown(batched_sync_interval_of_years_never_wraps, restore_posix_vfs),
    cmocka_unit_test_teardown(reopen_after_a_crash_syncs_the_log_and_appends_where_its_data_ends,
                              restore_posix_vfs),
    cmocka_unit_test_teardown(
        batched_commit_whose_capped_fsync_fails_is_committed_and_wakes_waiters, restore_posix_vfs),
    cmocka_unit_test_teardown(strict_failed_commit_leaves_no_conflicts_behind, restore_posix_vfs),
    cmocka_unit_test_teardown(strict_commit_whose_fsync_failed_counts_as_an_error_not_a_commit,
                              restore_posix_vfs),
    cmocka_unit_test_teardown(strict_backup_holds_only_what_readers_see, restore_posix_vfs),
    cmocka_unit_test(a_lost_segment_after_the_last_one_with_data_is_corruption),
    cmocka_unit_test(batched_cap_bounds_the_unsynced_acknowledged_commits),
    cmocka_unit_test(read_only_open_beside_a_switching_writer_always_succeeds),
    cmocka_unit_test_teardown(
        read_only_open_beside_a_writer_judges_damage_in_the_segments_it_finished,
        restore_posix_vfs),
    cmocka_unit_test(clean_closes_at_the_end_of_a_full_segment_never_overrun_it),
    cmocka_unit_test(segments_start_small_and_double_up_to_the_segment_size),
    cmocka_unit_test_teardown(segments_are_made_ahead_off_the_committing_thread, restore_posix_vfs),
    cmocka_unit_test(async_log_dirties_ahead_and_never_stalls_a_switch),
    cmocka_unit_test(async_log_dirties_ahead_only_as_far_as_it_writes),
    cmocka_unit_test(batched_background_thread_fsyncs_only_when_due),
    cmocka_unit_test(batched_fsync_comes_when_the_period_ends_or_sync_commits_are_reached),
};

INMEM_TEST_COUNT(wal_log);
