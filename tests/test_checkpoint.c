/*
 * test_checkpoint.c — checkpoints (docs/CONTRACT.md rules 2.9-2.12, docs/FORMAT.md "Checkpoint
 * images"): recovery from an image plus the log after it is exact; the log is truncated; deleted
 * data leaves no byte in any file; damage to an image is always detected, falls back to an older
 * image only when the log covers the gap, and is salvaged only with repair; backups open to one
 * exact version while writers go on; automatic checkpoints; failures leave the database working;
 * a crash at every step of a checkpoint recovers exactly.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/fsutil.h"
#include "tests/wal_util.h"
#include "checkpoint/checkpoint.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "storage/index.h"

static int ckpt_open(const char *dir, int repair, inmem_db **db)
{
    inmem_options o;
    inmem_options_init(&o);
    o.wal_segment_size = SEG_SIZE;
    o.checkpoint_log_ratio = 0; /* only when the test asks */
    o.repair = repair;
    *db = NULL;
    return inmem_db_open(dir, &o, db);
}

static inmem_db *ckpt_db(const char *dir)
{
    inmem_db *db;
    int rc = ckpt_open(dir, 0, &db);
    CHECK(rc == 0, "open %s: %s (%s)", dir, inmem_errname(rc), inmem_errmsg());
    return db;
}

/* Files in @p dir whose name starts with @p prefix. */
static int files_with(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* A workload over two runs and the shared scope: puts, overwrites, deletes, a multi-key
 * transaction, a TTL, events and a state cell. Returns the version it ends at. */
static uint64_t workload(inmem_db *db, const inmem_run_id *run, int round)
{
    char key[32], val[200];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "k%03d", i);
        snprintf(val, sizeof val, "value %d of round %d", i, round);
        put_ok(db, i % 2 ? run : NULL, key, val, strlen(val));
    }
    for (int i = 0; i < 200; i += 7) {
        snprintf(key, sizeof key, "k%03d", i);
        assert_ok(inmem_delete(db, i % 2 ? run : NULL, key, strlen(key), NULL));
    }
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put(t, run, LIT("multi-a"), LIT("A")));
    assert_ok(inmem_kv_put(t, NULL, LIT("multi-b"), LIT("B")));
    assert_ok(inmem_kv_put_ttl(t, run, LIT("ttl"), LIT("lives"), 3600000));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_event_append_db(db, run, "log", "note", LIT("an event"), NULL));
    assert_ok(inmem_state_set_db(db, run, "cell", LIT("state"), NULL));
    return test_stats(db).version;
}

/* After a checkpoint, the image and only the log after it remain; the next open loads the image
 * and replays that log, to exactly the state before (every key, value and version), and the
 * TTL, events and state survive; a checkpoint with nothing new changes nothing. */
static void checkpoint_recovery_is_exact_and_the_log_is_truncated(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));
    inmem_db *db = ckpt_db(dir);
    workload(db, &run, 0);
    workload(db, &run, 1);
    uint64_t before_segments = count_segments(dir) + (uint64_t)files_with(dir, "wal-");
    (void)before_segments;
    uint64_t v = 0;
    assert_ok(inmem_db_checkpoint(db, &v));
    assert_int_equal(v, test_stats(db).version);
    assert_int_equal(files_with(dir, "ckpt-"), 1);
    inmem_stats s = test_stats(db);
    assert_int_equal(s.checkpoints, 1);
    assert_int_equal(s.checkpoint_version, v);
    assert_true(s.checkpoint_bytes > 0);
    assert_int_equal(s.wal_bytes_since_checkpoint, 0);
    uint64_t again = 0;
    assert_ok(inmem_db_checkpoint(db, &again)); /* nothing new: the same image */
    assert_int_equal(again, v);
    assert_int_equal(test_stats(db).checkpoints, 1);
    /* more commits after the image: the log after it */
    uint64_t end = workload(db, &run, 2);
    dump d0 = {0}, d1 = {0};
    dump_all(db, &run, &d0);
    assert_ok(inmem_db_close(db));
    assert_int_equal(files_with(dir, "wal-"), 1); /* the segments the image covers are gone */

    db = ckpt_db(dir);
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.checkpoint_version, v);
    assert_int_equal(rec.version, end);
    assert_int_equal(rec.txns_applied, end - v);
    assert_int_equal(rec.torn_tail, 0);
    char name[64];
    snprintf(name, sizeof name, "ckpt-%016llx.img", (unsigned long long)v);
    assert_string_equal(rec.checkpoint_file, name);
    dump_all(db, &run, &d1);
    CHECK(dump_equal(&d0, &d1), "state after reopen differs (%zu keys before, %zu after)", d0.keys,
          d1.keys);
    uint64_t expiry = 0;
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_get_expiry(t, &run, LIT("ttl"), &expiry));
    assert_true(expiry > wall_ms());
    inmem_txn_free(t);
    inmem_stream_info si;
    assert_ok(inmem_event_stream_info_db(db, &run, "log", &si));
    assert_int_equal(si.length, 3);
    uint64_t broken = 1;
    assert_ok(inmem_event_verify_db(db, &run, "log", &broken));
    assert_int_equal(broken, 0);
    assert_int_equal(put_ok(db, NULL, "after", LIT("x")), end + 1);
    assert_ok(inmem_db_close(db));
    dump_free(&d0);
    dump_free(&d1);
    test_rmdir(dir);
}

/* Deletion is erasure: a run deleted with all its data (a value of it whose time to live had
 * passed included), a value overwritten, a value deleted, an expired value the sweeper removed —
 * once a checkpoint has passed them, none of their bytes is in any file of the directory. */
static void checkpoint_erases_deleted_data_from_every_file(void **state)
{
    (void)state;
    const char *markers[] = {"MARKER-run-kv-9f3a",    "MARKER-run-event-4c1d",
                             "MARKER-overwritten-77", "MARKER-deleted-e2",
                             "MARKER-expired-5b",     "MARKER-run-expired-a7"};
    char dir[64];
    test_tmpdir(dir);
    inmem_options o;
    inmem_options_init(&o);
    o.wal_segment_size = SEG_SIZE;
    o.checkpoint_log_ratio = 0;
    o.ttl_sweep_interval_ms = 0;
    inmem_db *db;
    assert_ok(inmem_db_open(dir, &o, &db));
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, NULL, &run));
    put_ok(db, &run, "secret", markers[0], strlen(markers[0]));
    assert_ok(inmem_event_append_db(db, &run, "s", "t", markers[1], strlen(markers[1]), NULL));
    put_ok(db, NULL, "over", markers[2], strlen(markers[2]));
    put_ok(db, NULL, "over", LIT("new value"));
    put_ok(db, NULL, "gone", markers[3], strlen(markers[3]));
    assert_ok(inmem_delete(db, NULL, LIT("gone"), NULL));
    inmem__clock_set_override(1000000);
    assert_ok(inmem_put_ttl(db, NULL, LIT("short"), markers[4], strlen(markers[4]), 10, NULL));
    assert_ok(inmem_put_ttl(db, &run, LIT("short"), markers[5], strlen(markers[5]), 10, NULL));
    uint64_t keep_v = put_ok(db, NULL, "keep", LIT("KEEP-this-one"));
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++)
        CHECK(inmem_any_file_holds(dir, markers[i]), "precondition: %s is in no file", markers[i]);
    /* a first image: the run's data is live, so in it; the rest is gone already */
    assert_ok(inmem_db_checkpoint(db, NULL));
    assert_true(inmem_any_file_holds(dir, markers[0]));
    assert_true(inmem_any_file_holds(dir, markers[1]));
    assert_false(inmem_any_file_holds(dir, markers[2]));
    assert_false(inmem_any_file_holds(dir, markers[3]));
    assert_true(inmem_any_file_holds(dir, markers[5]));
    inmem__clock_set_override(1500000); /* the run's short-lived value has expired */
    assert_ok(inmem_run_delete_db(db, &run));
    inmem__clock_set_override(2000000);
    uint64_t removed = 0;
    assert_ok(inmem_db_sweep(db, &removed));
    assert_int_equal(removed, 1); /* the shared "short": the run's went with the run */
    inmem__clock_set_override(0);
    assert_ok(inmem_db_checkpoint(db, NULL));
    for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++)
        CHECK(!inmem_any_file_holds(dir, markers[i]), "%s is still in a file after the checkpoint",
              markers[i]);
    assert_true(inmem_any_file_holds(dir, "KEEP-this-one")); /* live data is, of course, kept */
    assert_ok(inmem_db_close(db));
    db = ckpt_db(dir);
    expect_get(db, NULL, "keep", "KEEP-this-one", 13, keep_v);
    expect_missing(db, NULL, "gone");
    inmem_run_info info;
    assert_rc(INMEM_NOTFOUND, inmem_run_get_db(db, &run, &info));
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* The files of @p dir that hold the bytes @p m: how many, and whether all are *.dropped. */
static int files_holding(const char *dir, const char *m, int *all_dropped)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    *all_dropped = 1;
    while ((e = readdir(d))) {
        char path[4200];
        size_t len = strlen(e->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || !inmem_file_holds(path, m))
            continue;
        n++;
        *all_dropped &= len > 8 && strcmp(e->d_name + len - 8, ".dropped") == 0;
    }
    closedir(d);
    return n;
}

/* The one exception to erasure: a file that recovery set aside (*.dropped: here a damaged image
 * an older one and the log replaced; a repair's cut segments and salvaged images alike) is kept
 * byte for byte for the user to inspect and remove. No checkpoint touches it, so a value deleted
 * later may remain there — and nowhere else. */
static void checkpoint_erasure_spares_only_the_files_set_aside_as_dropped(void **state)
{
    (void)state;
    const char *secret = "SECRET-kept-by-a-dropped-image";
    char root[64], dir[80], crashed[80], path[4200], moved[4300];
    test_tmpdir(root);
    snprintf(dir, sizeof dir, "%s/db", root);
    snprintf(crashed, sizeof crashed, "%s/crashed", root);
    inmem_db *db = ckpt_db(dir);
    put_ok(db, NULL, "secret", secret, strlen(secret));
    assert_ok(inmem_db_checkpoint(db, NULL));
    for (int i = 0; i < 30; i++)
        put_ok(db, NULL, "later", &i, sizeof i);
    /* a crash right after a newer image's rename, and that image then damaged */
    assert_int_equal(mkdir(crashed, 0700), 0);
    copy_dir_files(dir, crashed);
    uint64_t v;
    assert_ok(inmem_db_checkpoint(db, &v));
    assert_ok(inmem_db_close(db));
    inmem__ckpt_path(dir, v, path, sizeof path);
    size_t len;
    uint8_t *img = slurp(path, &len);
    img[len - 1] ^= 0x21; /* the trailer's checksum: the secret stays readable */
    inmem__ckpt_path(crashed, v, path, sizeof path);
    spit(path, img, len);
    db = ckpt_db(crashed);
    assert_int_equal(recovery_of(db).checkpoint_fallback, 1);
    snprintf(moved, sizeof moved, "%s.dropped", path);
    assert_true(inmem_file_holds(moved, secret));
    assert_ok(inmem_delete(db, NULL, LIT("secret"), NULL));
    assert_ok(inmem_db_checkpoint(db, NULL));
    assert_ok(inmem_db_close(db));
    int all_dropped = 0;
    assert_int_equal(files_holding(crashed, secret, &all_dropped), 1);
    assert_true(all_dropped);
    expect_file(moved, img, len);
    free(img);
    test_rmdir(root);
}

/* A database with an image (version v) and no log before it. */
static uint64_t image_only(const char *dir, uint64_t *keys)
{
    inmem_db *db = ckpt_db(dir);
    char key[32], val[64];
    for (int i = 0; i < 120; i++) {
        snprintf(key, sizeof key, "img%03d", i);
        snprintf(val, sizeof val, "image value %d", i);
        put_ok(db, NULL, key, val, strlen(val));
    }
    uint64_t v;
    assert_ok(inmem_db_checkpoint(db, &v));
    assert_ok(inmem_db_close(db));
    *keys = 120;
    return v;
}

/* Every kind of damage to the only image is detected, every time: a flipped byte anywhere, a
 * cut anywhere, a zeroed block. The open fails with INMEM_ECORRUPT naming the image (the log no
 * longer covers its versions), and changes nothing; repair loads the intact blocks, says how many
 * keys were lost, and leaves a database that opens cleanly. */
static void checkpoint_damage_is_always_detected(void **state)
{
    (void)state;
    char dir[64], path[4200];
    test_tmpdir(dir);
    uint64_t keys, v = image_only(dir, &keys);
    inmem__ckpt_path(dir, v, path, sizeof path);
    size_t len;
    uint8_t *img = slurp(path, &len);
    uint8_t *c = malloc(len);
    assert_non_null(c);
    char name[64];
    snprintf(name, sizeof name, "ckpt-%016llx.img", (unsigned long long)v);
    int cases = 0;
    for (int kind = 0; kind < 3; kind++) {
        for (size_t o = 0; o < len; o += kind == 0 ? 1 : kind == 1 ? 7 : 64) {
            size_t n = len;
            memcpy(c, img, len);
            if (kind == 0)
                c[o] ^= 0x21;
            else if (kind == 1)
                n = o; /* cut short */
            else
                memset(c + o, 0, o + 64 <= len ? 64 : len - o);
            if (kind == 2 && memcmp(c, img, len) == 0)
                continue; /* zeroing bytes that were zero */
            spit(path, c, n);
            inmem_db *db = NULL;
            int rc = ckpt_open(dir, 0, &db);
            CHECK(rc == INMEM_ECORRUPT, "damage %d at %zu: open %s, expected INMEM_ECORRUPT", kind,
                  o, inmem_errname(rc));
            CHECK(strstr(inmem_errmsg(), name), "damage %d at %zu: message '%s' lacks %s", kind, o,
                  inmem_errmsg(), name);
            expect_file(path, c, n);
            cases++;
        }
    }
    assert_true(cases > 1000);
    /* repair salvages: a flip in the middle loses that block's keys only */
    memcpy(c, img, len);
    c[len / 2] ^= 0x21;
    spit(path, c, len);
    inmem_db *db = NULL;
    int rc = ckpt_open(dir, 1, &db);
    CHECK(rc == 0, "repair: %s (%s)", inmem_errname(rc), inmem_errmsg());
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.repaired, 1);
    assert_string_equal(rec.repair_file, name);
    inmem_stats s = test_stats(db);
    CHECK(rec.keys_dropped > 0 && rec.keys_dropped <= keys && s.keys == keys - rec.keys_dropped,
          "%llu keys dropped, %llu left of %llu", (unsigned long long)rec.keys_dropped,
          (unsigned long long)s.keys, (unsigned long long)keys);
    assert_ok(inmem_db_close(db));
    /* the damaged image is kept aside, byte for byte, like a repaired log's segments */
    char dropped[4300], stale[4320];
    snprintf(dropped, sizeof dropped, "%s.dropped", path);
    expect_file(dropped, c, len);
    /* a copy cut short by a crash is removed by the next writable open */
    snprintf(stale, sizeof stale, "%s.tmp", dropped);
    spit(stale, c, 10);
    db = ckpt_db(dir); /* a fresh image was written: it opens cleanly */
    assert_int_equal(access(stale, F_OK), -1);
    rec = recovery_of(db);
    assert_int_equal(rec.repaired, 0);
    assert_int_equal(test_stats(db).keys, s.keys);
    assert_ok(inmem_db_close(db));
    free(c);
    free(img);
    test_rmdir(dir);
}

/* Puts keys <prefix>000000.. (@p n of them, @p per a transaction), key i's value @p vlen bytes of
 * 'a' + i % 26. */
static void put_filled(inmem_db *db, const char *prefix, int n, size_t vlen, int per)
{
    char key[32], *val = malloc(vlen);
    assert_non_null(val);
    for (int i = 0; i < n; i += per) {
        inmem_txn *t = test_begin(db);
        for (int j = i; j < i + per && j < n; j++) {
            snprintf(key, sizeof key, "%s%06d", prefix, j);
            memset(val, 'a' + j % 26, vlen);
            assert_ok(inmem_kv_put(t, NULL, key, strlen(key), val, vlen));
        }
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
    }
    free(val);
}

/* Fails unless every @p step th key put_filled() made holds its value. */
static void expect_filled(inmem_db *db, const char *prefix, int n, size_t vlen, int step)
{
    char key[32], *val = malloc(vlen);
    assert_non_null(val);
    inmem_txn *t = test_begin(db);
    for (int j = 0; j < n; j += step) {
        snprintf(key, sizeof key, "%s%06d", prefix, j);
        memset(val, 'a' + j % 26, vlen);
        const void *got;
        size_t gl;
        assert_ok(inmem_kv_get(t, NULL, key, strlen(key), &got, &gl, NULL));
        assert_int_equal(gl, vlen);
        assert_memory_equal(got, val, vlen);
    }
    inmem_txn_free(t);
    free(val);
}

/* An image of 8 MiB or more has its blocks' checksums checked by a second thread ahead of the
 * load: damage anywhere in it still fails the open with INMEM_ECORRUPT at the offset of the block
 * it is in (as the check inline reports it), and an undamaged one loads every value. The same
 * when that thread checks nothing (stalled: a busy machine): the loader, which never waits for
 * it, checks each block itself. */
static void checkpoint_a_big_image_checked_ahead_still_fails_at_the_damaged_block(void **state)
{
    (void)state;
    enum { KEYS = 2600, VLEN = 4000 }; /* ~10 MB of image */
    char dir[64], path[4200];
    test_tmpdir(dir);
    inmem_db *db = ckpt_db(dir);
    put_filled(db, "big", KEYS, VLEN, 100);
    uint64_t v;
    assert_ok(inmem_db_checkpoint(db, &v));
    assert_ok(inmem_db_close(db));
    inmem__ckpt_path(dir, v, path, sizeof path);
    size_t len;
    uint8_t *img = slurp(path, &len);
    assert_true(len >= ((size_t)8 << 20));
    /* the blocks: a 96-byte header, then blocks of a 16-byte head (payload length first), then a
     * 48-byte trailer (docs/FORMAT.md) */
    size_t starts[512], nb = 0;
    for (size_t off = 96; off < len - 48; off += 16 + inmem__get32(img + off)) {
        assert_true(nb < 512);
        starts[nb++] = off;
    }
    assert_true(nb > 100);
    size_t picks[] = {0, 1, nb / 2, nb - 2, nb - 1};
    uint8_t *c = malloc(len);
    assert_non_null(c);
    for (int stalled = 0; stalled < 2; stalled++) {
        inmem__ckpt_stall_checker(stalled);
        for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
            for (int where = 0; where < 2; where++) { /* in the payload; in the block's head */
                size_t b = picks[i], at = where ? starts[b] + 2 : starts[b] + 16 + 1000;
                memcpy(c, img, len);
                c[at] ^= 0x10;
                spit(path, c, len);
                int rc = ckpt_open(dir, 0, &db);
                CHECK(rc == INMEM_ECORRUPT, "block %zu (%s, stalled %d): open %s", b,
                      where ? "head" : "payload", stalled, inmem_errname(rc));
                char want[64];
                snprintf(want, sizeof want, "at offset %zu (", starts[b]);
                CHECK(strstr(inmem_errmsg(), want), "block %zu: '%s' lacks '%s'", b, inmem_errmsg(),
                      want);
                expect_file(path, c, len);
            }
        }
        spit(path, img, len);
        db = ckpt_db(dir);
        expect_filled(db, "big", KEYS, VLEN, 1);
        assert_ok(inmem_db_close(db));
    }
    inmem__ckpt_stall_checker(0);
    free(c);
    free(img);
    test_rmdir(dir);
}

/* The 32-bit value @p c of the four bytes at @p at of the @p n bytes at @p p, such that
 * crc32c(p) >> 8 == @p want (solved over GF(2): the CRC of a fixed length is affine in its
 * input); never 0. */
static uint32_t forge_crc_top(uint8_t *p, size_t n, size_t at, uint32_t want)
{
    uint32_t vec[24] = {0}, mask[24] = {0}, null_mask = 0;
    inmem__put32(p + at, 0);
    uint32_t base = inmem__crc32c(0, p, n);
    for (int i = 0; i < 32; i++) {
        inmem__put32(p + at, (uint32_t)1 << i);
        uint32_t v = (inmem__crc32c(0, p, n) ^ base) >> 8, m = (uint32_t)1 << i;
        for (int b = 23; b >= 0 && v; b--)
            if (v >> b & 1) {
                if (!vec[b]) {
                    vec[b] = v;
                    mask[b] = m;
                    v = 0;
                    m = 0;
                    break;
                }
                v ^= vec[b];
                m ^= mask[b];
            }
        if (m && !null_mask)
            null_mask = m; /* changes no bit of the CRC's top 24 */
    }
    uint32_t t = want ^ (base >> 8), c = 0;
    for (int b = 23; b >= 0; b--)
        if (t >> b & 1) {
            assert_true(vec[b] != 0);
            t ^= vec[b];
            c ^= mask[b];
        }
    assert_true(t == 0);
    if (!c)
        c = null_mask;
    assert_true(c != 0);
    inmem__put32(p + at, c);
    assert_true(inmem__crc32c(0, p, n) >> 8 == want);
    return c;
}

/* The image at @p path with a block head put 13 bytes before its trailer, so that the head's
 * last 3 bytes are the trailer's first: its checksums and counts made to check out (the payload
 * the trailer's bytes from its fourth on). Returns the block's offset. */
static size_t block_into_trailer(const char *path)
{
    size_t len;
    uint8_t *img = slurp(path, &len);
    assert_non_null(img);
    size_t off = len - 48, n = len + 13;
    uint8_t *c = malloc(n);
    assert_non_null(c);
    memcpy(c, img, off);
    memcpy(c + off + 13, img + off, 48); /* the trailer, unchanged (its checksum still right) */
    uint8_t *h = c + off;
    uint32_t plen = 20; /* the trailer's bytes 3..22 */
    inmem__put32(h, plen);
    inmem__put32(h + 8, inmem__crc32c(0, h + 16, plen));
    /* the head's checksum (bytes 12..15) must read b12 'I' 'N' 'M': its top 24 bits are fixed */
    uint32_t want = (uint32_t)h[13] | (uint32_t)h[14] << 8 | (uint32_t)h[15] << 16;
    (void)forge_crc_top(h, 12, 4, want); /* the entry count, never 0 */
    h[12] = (uint8_t)inmem__crc32c(0, h, 12);
    assert_true(inmem__get32(h + 12) == inmem__crc32c(0, h, 12));
    spit(path, c, n);
    free(c);
    free(img);
    return off;
}

/* A block whose head runs into the trailer (an image that ends in a gap of 1-15 bytes before it,
 * the head's checksums made to pass) is a bad block header, checked inline or by the checksum
 * thread alike: the inline check let it through (its length bound wrapped around), and reported
 * its payload (the trailer's bytes) instead. */
static void checkpoint_a_block_head_that_runs_into_the_trailer_is_a_bad_block(void **state)
{
    (void)state;
    for (int big = 0; big < 2; big++) {
        char dir[64], path[4200];
        test_tmpdir(dir);
        inmem_db *db = ckpt_db(dir);
        if (big)
            put_filled(db, "big", 2600, 4000, 100); /* ~10 MB: checked ahead */
        else
            put_filled(db, "small", 20, 100, 20);
        uint64_t v;
        assert_ok(inmem_db_checkpoint(db, &v));
        assert_ok(inmem_db_close(db));
        inmem__ckpt_path(dir, v, path, sizeof path);
        size_t off = block_into_trailer(path);
        int rc = ckpt_open(dir, 0, &db);
        CHECK(rc == INMEM_ECORRUPT, "%s image: open %s", big ? "big" : "small", inmem_errname(rc));
        char want[96];
        snprintf(want, sizeof want, "at offset %zu (block checksum mismatch or bad block header)",
                 off);
        CHECK(strstr(inmem_errmsg(), want), "%s image: '%s' lacks '%s'", big ? "big" : "small",
              inmem_errmsg(), want);
        test_rmdir(dir);
    }
}

/* The threads an open starts (opening @p dir), counted as test_threads_started() does. */
static void open_counting_threads(const char *dir, int *started, int *unblocked)
{
    test_threads_started(started, unblocked); /* (from zero) */
    inmem_db *db = ckpt_db(dir);
    test_threads_started(started, unblocked);
    assert_ok(inmem_db_close(db));
}

/* Two databases of one image each: @p small's of 10 keys, @p big's of ~9.5 MB and 20,000 keys,
 * enough for a load to start both its threads (on 2 CPUs); the big image's version. */
static uint64_t small_and_big_images(char *small, char *big)
{
    test_tmpdir(small);
    test_tmpdir(big);
    inmem_db *db = ckpt_db(small);
    put_filled(db, "k", 10, 100, 10);
    assert_ok(inmem_db_checkpoint(db, NULL));
    assert_ok(inmem_db_close(db));
    db = ckpt_db(big);
    put_filled(db, "k", 20000, 450, 1000);
    uint64_t v;
    assert_ok(inmem_db_checkpoint(db, &v));
    assert_ok(inmem_db_close(db));
    return v;
}

/* The threads a big image's load starts (the one checking checksums ahead, the one making chunks)
 * start with every signal blocked, as the library's other threads do (inmem__thread_start()): a
 * SIGINT sent to a process opening a big database goes to one of the application's threads,
 * never to them, even when the opening thread takes signals. */
static void checkpoint_a_big_load_starts_its_threads_with_signals_blocked(void **state)
{
    (void)state;
    char small[64], big[64];
    uint64_t v = small_and_big_images(small, big);
    char path[4200];
    inmem__ckpt_path(big, v, path, sizeof path);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size >= (8 << 20));
    sigset_t take, old;
    sigemptyset(&take);
    sigaddset(&take, SIGINT);
    sigaddset(&take, SIGTERM);
    assert_int_equal(pthread_sigmask(SIG_UNBLOCK, &take, &old), 0);
    int s0, u0, s1, u1;
    inmem__cpus_override(2); /* (whatever this machine has: a load on one CPU starts none) */
    open_counting_threads(small, &s0, &u0);
    open_counting_threads(big, &s1, &u1);
    inmem__cpus_override(0);
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
    int chunks = inmem__index_chunks_mapped() != SIZE_MAX; /* (no chunk maker in ASan builds) */
    CHECK(s1 >= s0 + 1 + chunks, "the big load started %d threads, the small one %d", s1, s0);
    CHECK(u0 == 0 && u1 == 0, "threads taking SIGINT: %d of %d (small image), %d of %d (big)", u0,
          s0, u1, s1);
    test_rmdir(small);
    test_rmdir(big);
}

/* The chunk maker of a big load makes no more chunks than the load takes (as far as the loader
 * can tell from the nodes a chunk has held so far): of the ~6 the 20,000-key image takes, it used
 * to leave up to 4 made and never taken. The load is whole. */
static void checkpoint_a_big_load_makes_only_the_chunks_it_takes(void **state)
{
    (void)state;
    if (inmem__index_maker_unused() == SIZE_MAX)
        return; /* (no chunks in sanitizer builds: nothing to count) */
    char small[64], big[64];
    (void)small_and_big_images(small, big);
    inmem__cpus_override(2);
    for (int round = 0; round < 5; round++) {
        size_t before = inmem__index_maker_unused();
        inmem_db *db = ckpt_db(big);
        size_t unused = inmem__index_maker_unused() - before;
        CHECK(unused <= 1, "round %d: the maker made %zu chunks the load did not take", round,
              unused);
        assert_int_equal(test_stats(db).keys, 20000);
        assert_ok(inmem_db_close(db));
    }
    inmem__cpus_override(0);
    test_rmdir(small);
    test_rmdir(big);
}

/* On a process allowed one CPU, a big image's load starts no helper thread (neither the one
 * checking checksums ahead nor the chunk maker): they could only take turns with the loader. The
 * load is the same: every key is there. */
static void checkpoint_a_big_load_on_one_cpu_starts_no_threads(void **state)
{
    (void)state;
    char small[64], big[64];
    (void)small_and_big_images(small, big);
    int s0, u0, s1, u1, s2, u2;
    inmem__cpus_override(1);
    open_counting_threads(small, &s0, &u0);
    open_counting_threads(big, &s1, &u1);
    inmem__cpus_override(2);
    open_counting_threads(big, &s2, &u2);
    inmem__cpus_override(0);
    CHECK(s1 == s0, "on one CPU the big load started %d threads, the small one %d", s1, s0);
    CHECK(s2 >= s0 + 1, "on two CPUs the big load started %d threads, the small one %d", s2, s0);
    inmem_db *db = ckpt_db(big);
    assert_int_equal(test_stats(db).keys, 20000);
    assert_ok(inmem_db_close(db));
    test_rmdir(small);
    test_rmdir(big);
}

/* A damaged newest image is replaced by an older one when the log still covers the versions
 * between — nothing is lost, it is reported, and the damaged image is set aside. */
static void checkpoint_damaged_falls_back_to_an_older_image_when_the_log_covers_it(void **state)
{
    (void)state;
    char dir[64], path[4200], moved[4300];
    test_tmpdir(dir);
    uint64_t keys, v = image_only(dir, &keys);
    inmem_db *db = ckpt_db(dir);
    for (int i = 0; i < 30; i++)
        put_ok(db, NULL, "later", &i, sizeof i);
    uint64_t end = test_stats(db).version;
    assert_ok(inmem_db_close(db));
    /* a newer image that is damaged (as if its disk went bad after the rename) */
    inmem__ckpt_path(dir, end, path, sizeof path);
    spit(path, "INMEMCKP garbage", 16);
    db = ckpt_db(dir);
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.checkpoint_fallback, 1);
    assert_int_equal(rec.checkpoint_version, v);
    assert_int_equal(rec.version, end);
    int last = 29;
    expect_get(db, NULL, "later", &last, sizeof last, end);
    assert_ok(inmem_db_close(db));
    snprintf(moved, sizeof moved, "%s.dropped", path);
    assert_true(file_exists(moved));
    assert_false(file_exists(path));
    test_rmdir(dir);
}

/* ---- images made by hand (docs/FORMAT.md, "Checkpoint images") ----------------------------- */

/* Appends the entry of KV key @p user's newest version @p version (a value, no expiry) to @p p. */
static size_t img_entry(uint8_t *p, const char *user, uint64_t version, const char *val)
{
    uint8_t key[64];
    uint32_t klen = kv_key(key, user);
    size_t n = 0;
    p[n++] = 1; /* the first version of its key */
    n += inmem__put_varint(p + n, klen);
    memcpy(p + n, key, klen);
    n += klen;
    n += inmem__put_varint(p + n, version);
    n += inmem__put_varint(p + n, 0); /* commit time unknown */
    n += inmem__put_varint(p + n, 0); /* no expiry */
    n += inmem__put_varint(p + n, strlen(val));
    memcpy(p + n, val, strlen(val));
    return n + strlen(val);
}

/* Appends a block of @p count entries, the @p len bytes at @p payload, its checksums right. */
static size_t img_block(uint8_t *p, const uint8_t *payload, uint32_t len, uint32_t count)
{
    inmem__put32(p, len);
    inmem__put32(p + 4, count);
    inmem__put32(p + 8, inmem__crc32c(0, payload, len));
    inmem__put32(p + 12, inmem__crc32c(0, p, 12));
    memcpy(p + 16, payload, len);
    return 16 + (size_t)len;
}

/* Writes image @p v of @p dir: a header, the @p blen bytes of blocks, and a trailer that gives
 * @p keys keys (the rest of its counts those of the blocks, @p nblocks of them). */
static void img_write(const char *dir, uint64_t v, const uint8_t *blocks, size_t blen,
                      uint64_t nblocks, uint64_t keys, uint64_t versions)
{
    size_t len = 96 + blen + 48;
    uint8_t *img = calloc(1, len), *t = img + 96 + blen;
    assert_non_null(img);
    memcpy(img, "INMEMCKP", 8);
    inmem__put32(img + 8, INMEM__CKPT_FORMAT);
    inmem__put32(img + 12, 96);
    inmem__put64(img + 16, v);
    inmem__put64(img + 24, v);
    inmem__put32(img + 40, 64u << 10);
    inmem__put32(img + 92, inmem__crc32c(0, img, 92));
    memcpy(img + 96, blocks, blen);
    memcpy(t, "INMEMEND", 8);
    inmem__put64(t + 8, keys);
    inmem__put64(t + 16, versions);
    inmem__put64(t + 24, nblocks);
    inmem__put64(t + 32, blen - 16 * nblocks);
    inmem__put32(t + 44, inmem__crc32c(0, t, 44));
    char path[4200];
    inmem__ckpt_path(dir, v, path, sizeof path);
    spit(path, img, len);
    free(img);
}

/* An image of version @p v in @p dir holding one key, A = "va" at version 1. */
static void img_one_key(const char *dir, uint64_t v)
{
    uint8_t blocks[256], payload[128];
    size_t n = img_entry(payload, "A", 1, "va");
    size_t blen = img_block(blocks, payload, (uint32_t)n, 1);
    img_write(dir, v, blocks, blen, 1, 1, 1);
}

/* A block whose checksums are right but whose entries do not parse (written by a bug, or made to
 * pass them) is dropped whole by a repair: none of the entries before the bad one is loaded, so
 * that a key the next block holds again is never in the database twice, and the keys lost are
 * counted right. */
static void checkpoint_repair_drops_a_block_that_does_not_parse_whole(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    uint8_t blocks[1024], payload[256];
    size_t blen = 0, n = img_entry(payload, "A", 1, "va1");
    payload[n++] = 0x80; /* an entry with flags no reader knows */
    blen += img_block(blocks + blen, payload, (uint32_t)n, 2);
    n = img_entry(payload, "A", 2, "va2");
    n += img_entry(payload + n, "B", 3, "vb");
    blen += img_block(blocks + blen, payload, (uint32_t)n, 2);
    n = img_entry(payload, "C", 4, "vc");
    blen += img_block(blocks + blen, payload, (uint32_t)n, 1);
    img_write(dir, 5, blocks, blen, 3, 4, 4);
    inmem_db *db = NULL;
    assert_rc(INMEM_ECORRUPT, ckpt_open(dir, 0, &db));
    assert_ok(ckpt_open(dir, 1, &db));
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.repaired, 1);
    assert_int_equal(rec.repair_offset, 96);
    assert_int_equal(rec.keys_dropped, 1); /* the trailer's 4, less the 3 loaded */
    assert_int_equal(test_stats(db).keys, 3);
    inmem_txn *t = test_begin(db);
    inmem_iter *it;
    assert_ok(inmem_kv_scan(t, NULL, NULL, 0, NULL, 0, &it));
    const char *want[] = {"A", "B", "C"};
    const void *k, *v;
    size_t kl, vl, seen = 0;
    uint64_t ver;
    while (inmem_iter_next(it, &k, &kl, &v, &vl, &ver) == 0) {
        CHECK(seen < 3 && kl == 1 && memcmp(k, want[seen], 1) == 0, "key %zu: '%.*s'", seen,
              (int)kl, (const char *)k);
        seen++;
    }
    assert_int_equal(seen, 3);
    inmem_txn_free(t);
    expect_get(db, NULL, "A", "va2", 3, 2);
    assert_ok(inmem_db_close(db));
    db = ckpt_db(dir); /* the image the repair wrote */
    assert_int_equal(test_stats(db).keys, 3);
    expect_get(db, NULL, "A", "va2", 3, 2);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* An image's trailer sizes the tables a load makes for its keys before any key is read: a count
 * no image of that size could hold (a forged or damaged trailer with valid checksums) is cut to
 * what the file can hold — every key takes at least an encoded key's prefix and four bytes, and
 * a shorter key is refused — so that the memory a load reserves stays proportional to the file,
 * never to a number it claims. */
static void checkpoint_a_forged_key_count_reserves_only_what_the_image_can_hold(void **state)
{
    (void)state;
    char dir[64], path[4200];
    test_tmpdir(dir);
    size_t vlen = 1u << 20, cap = vlen + 1024;
    uint8_t *payload = malloc(cap), *blocks = malloc(cap);
    char *val = malloc(vlen + 1);
    assert_true(payload && blocks && val);
    memset(val, 'z', vlen);
    val[vlen] = '\0';
    size_t n = img_entry(payload, "A", 1, val);
    size_t blen = img_block(blocks, payload, (uint32_t)n, 1);
    img_write(dir, 1, blocks, blen, 1, (uint64_t)1 << 60, (uint64_t)1 << 60);
    inmem__ckpt_path(dir, 1, path, sizeof path);
    inmem__ckpt_info info;
    assert_rc(INMEM_ECORRUPT, inmem__ckpt_load(path, 0, NULL, NULL, &info)); /* counts differ */
    uint64_t size = 96 + blen + 48, most = (size - 96 - 48) / (INMEM__KEY_PREFIX + 4);
    CHECK(info.keys_expected >= 1 && info.keys_expected <= most,
          "a trailer claiming 2^60 keys: %llu expected of a %llu-byte image (at most %llu)",
          (unsigned long long)info.keys_expected, (unsigned long long)size,
          (unsigned long long)most);
    inmem_db *db = NULL;
    assert_rc(INMEM_ECORRUPT, ckpt_open(dir, 0, &db));
    /* a key shorter than an encoded key is refused: the bound holds for every image */
    uint8_t entry[64];
    n = 0;
    entry[n++] = 1;
    entry[n++] = 5;
    memcpy(entry + n, "short", 5);
    n += 5;
    entry[n++] = 1; /* version */
    entry[n++] = 0; /* time */
    entry[n++] = 0; /* expiry */
    entry[n++] = 1; /* value length */
    entry[n++] = 'v';
    blen = img_block(blocks, entry, (uint32_t)n, 1);
    img_write(dir, 1, blocks, blen, 1, 1, 1);
    assert_rc(INMEM_ECORRUPT, inmem__ckpt_load(path, 0, NULL, NULL, &info));
    CHECK(strstr(inmem_errmsg(), "key length"), "'%s'", inmem_errmsg());
    free(val);
    free(blocks);
    free(payload);
    test_rmdir(dir);
}

/* An image's version is where the version counter goes on from: one of 2^63 or more (which no
 * database reaches) is refused as corrupt, repair or not, since the commits after it would wrap
 * the counter — a put on an image of version 2^64 - 1 was numbered 1, below every version the
 * database held (found by the image fuzz target, fuzz/corpus-image/version-wraps). */
static void checkpoint_a_version_no_database_reaches_is_corrupt(void **state)
{
    (void)state;
    char dir[64];
    uint64_t bad[] = {UINT64_MAX, (uint64_t)1 << 63};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        test_tmpdir(dir);
        img_one_key(dir, bad[i]);
        inmem_db *db = NULL;
        assert_rc(INMEM_ECORRUPT, ckpt_open(dir, 0, &db));
        CHECK(strstr(inmem_errmsg(), "offset 16"), "'%s'", inmem_errmsg());
        assert_rc(INMEM_ECORRUPT, ckpt_open(dir, 1, &db));
        assert_null(db);
        test_rmdir(dir);
    }
    /* the largest version allowed opens, and commits go on from it */
    test_tmpdir(dir);
    uint64_t top = ((uint64_t)1 << 63) - 2, v = 0;
    img_one_key(dir, top);
    inmem_db *db = ckpt_db(dir);
    assert_ok(inmem_put(db, NULL, "B", 1, "vb", 2, &v));
    assert_true(v == top + 1);
    expect_get(db, NULL, "A", "va", 2, 1);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* The segment of @p dir's log that holds a frame (a log begun on an image starts at 2; the next
 * segment may be made ahead, empty). */
static uint64_t segment_with_frames(const char *dir)
{
    char path[4096];
    uint64_t found = 0;
    for (uint64_t seq = 1; seq < 64; seq++) {
        seg_path(path, sizeof path, dir, seq);
        if (!file_exists(path))
            continue;
        size_t len, nf, end;
        uint8_t *img = slurp(path, &len);
        free(walk_log(img, len, &nf, &end));
        free(img);
        if (nf) {
            assert_true(found == 0);
            found = seq;
        }
    }
    assert_true(found > 0);
    return found;
}

/* Commits (TXN frames and COMMIT records) in every segment of @p dir. */
static uint64_t logged_commits(const char *dir)
{
    char path[4096];
    uint64_t commits = 0;
    for (uint64_t seq = 1; seq < 64; seq++) {
        seg_path(path, sizeof path, dir, seq);
        if (!file_exists(path))
            continue;
        size_t len, nf, end;
        uint8_t *img = slurp(path, &len);
        frame *f = walk_log(img, len, &nf, &end);
        for (size_t i = 0; i < nf; i++)
            commits += f[i].rec.type == INMEM__REC_TXN || f[i].rec.type == INMEM__REC_COMMIT;
        free(f);
        free(img);
    }
    return commits;
}

static int write_c(inmem_txn *t, void *arg)
{
    (void)arg;
    return inmem_kv_put(t, NULL, "C", 1, "vc", 2);
}

/* Every write commit on @p db, at the version limit, is refused with INMEM_EREADONLY and leaves
 * nothing behind; reads and read-only transactions go on. */
static void expect_no_more_commits(inmem_db *db, const char *dir, uint64_t last)
{
    uint64_t logged = logged_commits(dir);
    uint64_t v = 0;
    assert_rc(INMEM_EREADONLY, inmem_put(db, NULL, "C", 1, "vc", 2, &v));
    CHECK(strstr(inmem_errmsg(), "limit"), "'%s'", inmem_errmsg());
    assert_rc(INMEM_EREADONLY, inmem_delete(db, NULL, "A", 1, &v));
    assert_rc(INMEM_EREADONLY, inmem_cas(db, NULL, "B", 1, last, "vx", 2, &v));
    assert_true(v == 0);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put(t, NULL, "C", 1, "vc", 2));
    assert_rc(INMEM_EREADONLY, inmem_txn_commit(t));
    inmem_txn_info info;
    assert_ok(inmem_txn_describe(t, &info));
    assert_int_equal(info.state, INMEM_TXN_ABORTED);
    assert_true(info.commit_version == 0);
    inmem_txn_free(t);
    assert_rc(INMEM_EREADONLY, inmem_db_transact(db, NULL, write_c, NULL));
    inmem_run_id run;
    assert_rc(INMEM_EREADONLY, inmem_run_begin_db(db, NULL, &run));
    /* nothing applied, nothing logged */
    assert_true(test_stats(db).version == last);
    expect_get(db, NULL, "A", "va", 2, 1);
    expect_get(db, NULL, "B", "vb", 2, last);
    expect_missing(db, NULL, "C");
    assert_true(logged_commits(dir) == logged);
    /* a read-only transaction still commits */
    assert_ok(inmem_txn_begin(db, &t));
    const void *val;
    size_t len;
    assert_ok(inmem_kv_get(t, NULL, "B", 1, &val, &len, &v));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
}

/* Versions stay below 2^63, where an image's version is refused (above): on an image just below
 * it, the commit that would be given 2^63 is refused with INMEM_EREADONLY — nothing applied,
 * nothing logged, the transaction aborted — by every kind of commit, before and after a reopen
 * from the log; reads, read-only transactions and a checkpoint at the last version go on. A
 * commit of 2^63 in a log (only a library without the limit wrote one) is corruption, whatever
 * its record kind: the image at it would be refused at the next open. */
static void checkpoint_a_commit_past_the_version_limit_fails_cleanly(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    const uint64_t last = ((uint64_t)1 << 63) - 1;
    img_one_key(dir, last - 1);
    inmem_options o;
    inmem_options_init(&o);
    o.wal_segment_size = SEG_SIZE;
    o.checkpoint_log_ratio = 0;
    o.checkpoint_on_close = 0; /* the reopen replays the log */
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(dir, &o, &db));
    uint64_t v = 0;
    assert_ok(inmem_put(db, NULL, "B", 1, "vb", 2, &v));
    assert_true(v == last);
    assert_true(logged_commits(dir) == 1);
    expect_no_more_commits(db, dir, last);
    assert_ok(inmem_db_close(db));
    assert_ok(inmem_db_open(dir, &o, &db));
    assert_true(recovery_of(db).version == last);
    expect_no_more_commits(db, dir, last);
    assert_ok(inmem_db_close(db));

    /* a log that goes on past the limit, by hand: the close mark replaced by a commit of 2^63,
     * as a TXN frame and as BEGIN, WRITE, COMMIT records */
    seg_path(path, sizeof path, dir, segment_with_frames(dir));
    size_t len, nf, end;
    uint8_t *seg = slurp(path, &len);
    frame *f = walk_log(seg, len, &nf, &end);
    assert_true(nf >= 2 && f[0].rec.type == INMEM__REC_TXN &&
                f[nf - 1].rec.type == INMEM__REC_CLOSE);
    size_t close_off = f[nf - 1].off;
    free(f);
    uint8_t key[64];
    uint32_t kl = kv_key(key, "C");
    for (int kind = 0; kind < 2; kind++) {
        uint8_t *c = calloc(1, len);
        assert_non_null(c);
        memcpy(c, seg, close_off);
        if (kind == 0) {
            uint8_t *p = c + close_off;
            p += inmem__wal_enc_txn_start(p, last + 1, 1700000000000ull, 1);
            p += inmem__wal_enc_op_put(p, 0, key, kl, "vc", 2);
            inmem__wal_enc_txn_end(c + close_off, p);
        } else {
            enc_txn(c + close_off, last + 1, last + 1, 0, "C", "vc");
        }
        spit(path, c, len);
        int rc = inmem_db_open(dir, &o, &db);
        CHECK(rc == INMEM_ECORRUPT, "kind %d: open %s (%s)", kind, inmem_errname(rc),
              inmem_errmsg());
        assert_null(db);
        CHECK(strstr(inmem_errmsg(), "no database reaches"), "kind %d: '%s'", kind, inmem_errmsg());
        o.repair = 1; /* keeps what is below the limit */
        rc = inmem_db_open(dir, &o, &db);
        o.repair = 0;
        CHECK(rc == 0, "kind %d: repair %s (%s)", kind, inmem_errname(rc), inmem_errmsg());
        assert_true(recovery_of(db).version == last);
        expect_missing(db, NULL, "C");
        expect_get(db, NULL, "B", "vb", 2, last);
        assert_ok(inmem_db_close(db));
        spit(path, seg, len);
        free(c);
    }
    free(seg);

    /* a checkpoint at the last version is an image the next open loads */
    assert_ok(inmem_db_open(dir, &o, &db));
    assert_ok(inmem_db_checkpoint(db, &v));
    assert_true(v == last);
    assert_ok(inmem_db_close(db));
    assert_ok(inmem_db_open(dir, &o, &db));
    expect_get(db, NULL, "B", "vb", 2, last);
    assert_rc(INMEM_EREADONLY, inmem_put(db, NULL, "C", 1, "vc", 2, &v));
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* An image cut short has lost its trailer, the only record of how many keys it holds: a repair
 * of it loads the intact blocks and reports the keys lost as unknown (INMEM_COUNT_UNKNOWN) —
 * never as 0, whether the cut took the first block, a middle one or only the trailer. */
static void checkpoint_repair_of_a_cut_image_never_reports_no_keys_lost(void **state)
{
    (void)state;
    char root[64], src[80], dir[80], path[4200], key[32], val[64];
    test_tmpdir(root);
    snprintf(src, sizeof src, "%s/src", root);
    snprintf(dir, sizeof dir, "%s/db", root);
    inmem_db *db = ckpt_db(src);
    for (int i = 0; i < 3000; i++) { /* about 200 KiB: several blocks */
        snprintf(key, sizeof key, "key%05d", i);
        snprintf(val, sizeof val, "value %05d-xxxxxxxxxxxxxxxxxxxxx", i);
        put_ok(db, NULL, key, val, strlen(val));
    }
    uint64_t v;
    assert_ok(inmem_db_checkpoint(db, &v));
    assert_ok(inmem_db_close(db));
    inmem__ckpt_path(src, v, path, sizeof path);
    size_t len;
    uint8_t *img = slurp(path, &len);
    assert_true(len > 3 * (64u << 10));
    size_t cuts[] = {20000, len / 2, len - 30};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        test_rmdir(dir);
        assert_int_equal(mkdir(dir, 0700), 0);
        copy_dir_files(src, dir);
        inmem__ckpt_path(dir, v, path, sizeof path);
        spit(path, img, cuts[c]);
        int rc = ckpt_open(dir, 1, &db);
        CHECK(rc == 0, "cut at %zu: repair %s (%s)", cuts[c], inmem_errname(rc), inmem_errmsg());
        inmem_recovery_info rec = recovery_of(db);
        uint64_t keys = test_stats(db).keys;
        CHECK(rec.repaired == 1 && rec.keys_dropped == INMEM_COUNT_UNKNOWN && keys < 3000,
              "cut at %zu: repaired %d, %llu keys dropped, %llu kept", cuts[c], rec.repaired,
              (unsigned long long)rec.keys_dropped, (unsigned long long)keys);
        assert_ok(inmem_db_close(db));
    }
    free(img);
    test_rmdir(root);
}

/* The repair option salvages a damaged image only when nothing else recovers it: when an older
 * image and the log cover its versions (a crash after the new image was installed, before the
 * old one and the log it covers were removed), a repair falls back like a plain open — every
 * key, nothing reported lost, the damaged image set aside — instead of loading its intact
 * blocks and losing the others' keys for good. */
static void checkpoint_repair_falls_back_when_the_log_covers_the_damaged_image(void **state)
{
    (void)state;
    char root[64], dir[80], crashed[80], path[4200], moved[4300], key[32], val[64];
    test_tmpdir(root);
    snprintf(dir, sizeof dir, "%s/db", root);
    snprintf(crashed, sizeof crashed, "%s/crashed", root);
    inmem_db *db = ckpt_db(dir);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3000; i++) {
            snprintf(key, sizeof key, "key%05d", i);
            snprintf(val, sizeof val, "round %d value %05d", round, i);
            put_ok(db, NULL, key, val, strlen(val));
        }
        if (round == 0)
            assert_ok(inmem_db_checkpoint(db, NULL)); /* the older image, at 3000 */
    }
    /* the state of a crash right after the newer image's rename: the older image, the log from
     * it on, and the newer image */
    assert_int_equal(mkdir(crashed, 0700), 0);
    copy_dir_files(dir, crashed);
    uint64_t v;
    assert_ok(inmem_db_checkpoint(db, &v));
    assert_int_equal(v, 6000);
    assert_ok(inmem_db_close(db));
    inmem__ckpt_path(dir, v, path, sizeof path);
    size_t len;
    uint8_t *img = slurp(path, &len);
    img[len / 2] ^= 0x21; /* a block in the middle */
    inmem__ckpt_path(crashed, v, path, sizeof path);
    spit(path, img, len);
    assert_ok(ckpt_open(crashed, 1, &db));
    inmem_recovery_info rec = recovery_of(db);
    CHECK(rec.checkpoint_fallback == 1 && rec.repaired == 0 && rec.keys_dropped == 0,
          "fallback %d, repaired %d, %llu keys dropped", rec.checkpoint_fallback, rec.repaired,
          (unsigned long long)rec.keys_dropped);
    assert_int_equal(rec.checkpoint_version, 3000);
    assert_int_equal(rec.version, 6000);
    assert_int_equal(test_stats(db).keys, 3000);
    for (int i = 0; i < 3000; i += 7) {
        snprintf(key, sizeof key, "key%05d", i);
        snprintf(val, sizeof val, "round 1 value %05d", i);
        expect_get(db, NULL, key, val, strlen(val), 3001 + (uint64_t)i);
    }
    assert_ok(inmem_db_close(db));
    snprintf(moved, sizeof moved, "%s.dropped", path);
    assert_true(file_exists(moved));
    assert_false(file_exists(path));
    free(img);
    test_rmdir(root);
}

/* A damaged newest image with nothing in the log after it (the process died right after the
 * checkpoint, before another commit): no older image and no record covers its versions, so the
 * open fails with INMEM_ECORRUPT — never a silent open of an older (here: empty) database — and
 * leaves the image where it is; read-only too. */
static void checkpoint_damaged_with_nothing_after_it_fails_the_open(void **state)
{
    (void)state;
    char dir[64], path[4200], moved[4300];
    test_tmpdir(dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* writes, checkpoints and dies without a close */
        inmem_db *db = NULL;
        if (ckpt_open(dir, 0, &db) != 0)
            _exit(2);
        for (int i = 0; i < 100; i++)
            if (inmem_put(db, NULL, "k", 1, &i, sizeof i, NULL) != 0)
                _exit(3);
        uint64_t v;
        _exit(inmem_db_checkpoint(db, &v) == 0 && v == 100 ? 0 : 4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    inmem__ckpt_path(dir, 100, path, sizeof path);
    size_t len;
    uint8_t *img = slurp(path, &len);
    assert_true(len > 100);
    img[96] ^= 0x01;
    spit(path, img, len);
    inmem_db *db = NULL;
    int rc = ckpt_open(dir, 0, &db);
    CHECK(rc == INMEM_ECORRUPT, "open: %s (%s)", inmem_errname(rc), inmem_errmsg());
    assert_null(db);
    inmem_options o;
    inmem_options_init(&o);
    o.read_only = 1;
    assert_rc(INMEM_ECORRUPT, inmem_db_open(dir, &o, &db));
    assert_true(file_exists(path));
    snprintf(moved, sizeof moved, "%s.dropped", path);
    assert_false(file_exists(moved));
    /* repair salvages the image's intact blocks */
    assert_ok(ckpt_open(dir, 1, &db));
    assert_int_equal(recovery_of(db).repaired, 1);
    assert_ok(inmem_db_close(db));
    free(img);
    test_rmdir(dir);
}

/* Makes @p dir hold 50 keys, checkpointed at version 50; then the process dies (@p crash: right
 * after the checkpoint, before any other commit) or closes cleanly (a close mark of version 50
 * after the image). */
static void fifty_keys_checkpointed(const char *dir, int crash)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        inmem_db *db = NULL;
        if (ckpt_open(dir, 0, &db) != 0)
            _exit(2);
        for (int i = 0; i < 50; i++) {
            char key[16];
            snprintf(key, sizeof key, "key%02d", i);
            if (inmem_put(db, NULL, key, strlen(key), "v", 1, NULL) != 0)
                _exit(3);
        }
        uint64_t v;
        if (inmem_db_checkpoint(db, &v) != 0 || v != 50)
            _exit(4);
        _exit(crash || inmem_db_close(db) == 0 ? 0 : 5);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The only image lost (deleted, or on a disk that lost it), the log holding nothing but what
 * came after it: the log starts at a later segment than the first, so no open may pass it off as
 * an empty database (whose next commits would reuse versions the log holds). The open fails with
 * INMEM_ECORRUPT naming the missing segment, read-only too, and changes nothing; a repair keeps
 * the longest intact prefix of the history — nothing — and says so: every segment set aside as
 * *.dropped, version 0, and the commits lost (counted from the log's records, unknown when none
 * names a version). A backup's directory, whose log starts on its image, is held to the same. */
static void checkpoint_missing_image_fails_the_open_never_an_empty_database(void **state)
{
    (void)state;
    char dir[64], path[4200], seg[4200], moved[4300];
    test_tmpdir(dir);
    for (int crash = 1; crash >= 0; crash--) {
        fifty_keys_checkpointed(dir, crash);
        inmem__ckpt_path(dir, 50, path, sizeof path);
        assert_int_equal(unlink(path), 0);
        seg_path(seg, sizeof seg, dir, 2);
        assert_true(file_exists(seg));
        inmem_db *db = NULL;
        int rc = ckpt_open(dir, 0, &db);
        CHECK(rc == INMEM_ECORRUPT, "crash %d: open %s (%s), expected INMEM_ECORRUPT", crash,
              inmem_errname(rc), inmem_errmsg());
        assert_null(db);
        CHECK(strstr(inmem_errmsg(), SEG1), "crash %d: '%s' does not name %s", crash,
              inmem_errmsg(), SEG1);
        inmem_options o;
        inmem_options_init(&o);
        o.read_only = 1;
        assert_rc(INMEM_ECORRUPT, inmem_db_open(dir, &o, &db));
        assert_true(file_exists(seg));
        /* repair: nothing of the history is intact from its start */
        assert_ok(ckpt_open(dir, 1, &db));
        inmem_recovery_info rec = recovery_of(db);
        assert_int_equal(rec.repaired, 1);
        assert_string_equal(rec.repair_file, SEG1);
        assert_int_equal(rec.repair_offset, 0);
        assert_int_equal(rec.version, 0);
        /* the clean close's mark names version 50; the crash left no record naming one */
        CHECK(rec.txns_dropped == (crash ? INMEM_COUNT_UNKNOWN : 50),
              "crash %d: %llu transactions dropped", crash, (unsigned long long)rec.txns_dropped);
        snprintf(moved, sizeof moved, "%s.dropped", seg);
        assert_true(file_exists(moved));
        assert_false(file_exists(seg));
        assert_int_equal(put_ok(db, NULL, "after", "x", 1), 1);
        assert_ok(inmem_db_close(db));
        db = ckpt_db(dir);
        assert_int_equal(recovery_of(db).repaired, 0);
        expect_get(db, NULL, "after", "x", 1, 1);
        assert_ok(inmem_db_close(db));
        test_rmdir(dir);
        test_tmpdir(dir);
    }
    /* a backup's directory: its first open begins the log on the image; a crash before any
     * commit, then the image lost */
    char bdir[80];
    snprintf(bdir, sizeof bdir, "%s/backup", dir);
    inmem_db *db = ckpt_db(dir);
    put_ok(db, NULL, "k", "v", 1);
    uint64_t v;
    assert_ok(inmem_db_backup(db, bdir, &v));
    assert_ok(inmem_db_close(db));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(ckpt_open(bdir, 0, &db) == 0 ? 0 : 2);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    inmem__ckpt_path(bdir, v, path, sizeof path);
    assert_int_equal(unlink(path), 0);
    int rc = ckpt_open(bdir, 0, &db);
    CHECK(rc == INMEM_ECORRUPT, "backup: open %s (%s), expected INMEM_ECORRUPT", inmem_errname(rc),
          inmem_errmsg());
    test_rmdir(dir);
}

/* ---- backups --------------------------------------------------------------------------------- */

struct bk_writer {
    inmem_db *db;
    _Atomic int stop;
    _Atomic uint64_t last;
};

static void *bk_writer_main(void *arg)
{
    struct bk_writer *w = arg;
    char key[32];
    for (uint64_t i = 1; !atomic_load(&w->stop); i++) {
        snprintf(key, sizeof key, "w%08llu", (unsigned long long)i);
        uint64_t v = 0;
        if (inmem_put(w->db, NULL, key, strlen(key), &i, sizeof i, &v) != 0 || v != i)
            break;
        atomic_store(&w->last, i);
    }
    return NULL;
}

/* A backup taken while a writer commits opens to exactly one version: every key of the commits
 * up to it, none after; a backup needs an empty directory. */
static void backup_opens_to_one_exact_version_while_writers_go_on(void **state)
{
    (void)state;
    char dir[64], bdir[64];
    test_tmpdir(dir);
    test_tmpdir(bdir);
    for (int mode = 0; mode < 2; mode++) {
        inmem_options o;
        inmem_options_init(&o);
        o.durability = mode ? INMEM_DURABILITY_BATCHED : INMEM_DURABILITY_NONE;
        inmem_db *db;
        assert_ok(inmem_db_open(dir, &o, &db));
        struct bk_writer w = {db, 0, 0};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, bk_writer_main, &w), 0);
        while (atomic_load(&w.last) < 1000)
            usleep(1000);
        uint64_t v = 0;
        assert_ok(inmem_db_backup(db, bdir, &v));
        atomic_store(&w.stop, 1);
        pthread_join(th, NULL);
        assert_true(atomic_load(&w.last) >= v);
        assert_rc(INMEM_EINVAL, inmem_db_backup(db, bdir, NULL)); /* not empty any more */
        assert_ok(inmem_db_close(db));
        inmem_db *b;
        inmem_options bo;
        inmem_options_init(&bo);
        assert_ok(inmem_db_open(bdir, &bo, &b));
        assert_int_equal(recovery_of(b).version, v);
        assert_int_equal(test_stats(b).keys, v);
        char key[32];
        for (uint64_t i = 1; i <= v + 5; i++) {
            snprintf(key, sizeof key, "w%08llu", (unsigned long long)i);
            if (i <= v)
                expect_get(b, NULL, key, &i, sizeof i, i);
            else
                expect_missing(b, NULL, key);
        }
        assert_ok(inmem_db_close(b));
        test_rmdir(bdir);
        test_rmdir(dir);
        test_tmpdir(dir);
        test_tmpdir(bdir);
    }
    test_rmdir(bdir);
    test_rmdir(dir);
}

/* ---- triggers ------------------------------------------------------------------------------ */

/* With a ratio and a floor, a background checkpoint comes once the log has grown that much; the
 * log then starts again small. */
static void automatic_checkpoint_comes_when_the_log_has_grown(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_options o;
    inmem_options_init(&o);
    o.wal_segment_size = SEG_SIZE;
    o.checkpoint_log_ratio = 2;
    o.checkpoint_log_min = 256u << 10;
    inmem_db *db;
    assert_ok(inmem_db_open(dir, &o, &db));
    uint8_t val[1000] = {0};
    char key[32];
    for (int i = 0; i < 300; i++) { /* ~300 KB of log over 30 keys: past the floor */
        snprintf(key, sizeof key, "k%02d", i % 30);
        put_ok(db, NULL, key, val, sizeof val);
    }
    inmem_stats s = test_stats(db);
    for (int i = 0; i < 3000 && s.checkpoints == 0; i++) { /* the thread's turn: a liveness bound */
        usleep(10000);
        s = test_stats(db);
    }
    assert_true(s.checkpoints >= 1);
    assert_true(s.checkpoint_version > 0);
    assert_true(s.wal_bytes_since_checkpoint < 256u << 10);
    assert_ok(inmem_db_close(db));
    assert_true(files_with(dir, "ckpt-") == 1);
    test_rmdir(dir);
}

/* checkpoint_on_close: the next open loads the image and replays nothing. */
static void checkpoint_on_close_makes_the_next_open_load_only_the_image(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_options o;
    inmem_options_init(&o);
    o.checkpoint_on_close = 1;
    inmem_db *db;
    assert_ok(inmem_db_open(dir, &o, &db));
    for (int i = 0; i < 50; i++)
        put_ok(db, NULL, "k", &i, sizeof i);
    assert_ok(inmem_db_close(db));
    assert_ok(inmem_db_open(dir, &o, &db));
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.checkpoint_version, 50);
    assert_int_equal(rec.txns_applied, 0);
    assert_int_equal(rec.version, 50);
    assert_ok(inmem_db_close(db)); /* nothing new: no second image */
    assert_int_equal(files_with(dir, "ckpt-"), 1);
    test_rmdir(dir);
}

/* ---- failures and crashes ------------------------------------------------------------------- */

static inmem__vfs fault_vfs;
static _Atomic int fault_at;   /* fail the n-th mutating call (0: never) */
static _Atomic int fault_seen; /* mutating calls seen */
static char crash_root[64];    /* crash mode: copy the directory at every mutating call */
static char crash_dir[64];
static int crash_copies;

static void copy_tree(const char *from, const char *to)
{
    if (!file_exists(from))
        return;
    mkdir(to, 0700);
    copy_dir_files(from, to);
}

/* Every call that changes a file: the n-th fails (-EIO or -ENOSPC) in fault mode; in crash mode
 * the directory is copied first, as a crash of the process right before the call leaves it. */
static int mutating(void)
{
    int n = atomic_fetch_add(&fault_seen, 1) + 1;
    if (crash_root[0]) {
        char to[200];
        snprintf(to, sizeof to, "%s/crash-%03d", crash_root, n);
        copy_tree(crash_dir, to);
        crash_copies = n;
    }
    return n == atomic_load(&fault_at);
}

static int64_t f_pwrite(int fd, const void *buf, size_t n, uint64_t off)
{
    return mutating() ? -ENOSPC : inmem__vfs_posix.pwrite(fd, buf, n, off);
}
static int f_sync(int fd)
{
    return mutating() ? -EIO : inmem__vfs_posix.sync(fd);
}
static int f_datasync(int fd)
{
    return mutating() ? -EIO : inmem__vfs_posix.datasync(fd);
}
static int f_rename(const char *a, const char *b)
{
    return mutating() ? -EIO : inmem__vfs_posix.rename(a, b);
}
static int f_unlink(const char *p)
{
    return mutating() ? -EIO : inmem__vfs_posix.unlink(p);
}
static int f_open(const char *p, int flags, int mode)
{
    if ((flags & O_CREAT) && mutating())
        return -ENOSPC;
    return inmem__vfs_posix.open(p, flags, mode);
}

static void use_fault_vfs(void)
{
    fault_vfs = inmem__vfs_posix;
    fault_vfs.pwrite = f_pwrite;
    fault_vfs.sync = f_sync;
    fault_vfs.datasync = f_datasync;
    fault_vfs.rename = f_rename;
    fault_vfs.unlink = f_unlink;
    fault_vfs.open = f_open;
    atomic_store(&fault_at, 0);
    atomic_store(&fault_seen, 0);
    inmem__vfs_set(&fault_vfs);
}

static int restore_vfs(void **state)
{
    (void)state;
    inmem__vfs_set(NULL);
    crash_root[0] = 0;
    return 0;
}

/* A checkpoint that fails at any of its file operations (a full disk, an fsync error) returns
 * the error, removes its temporary image, counts the failure, and leaves the database working on
 * the previous image and the log: every commit is there after a reopen. */
static void failed_checkpoint_leaves_the_database_working(void **state)
{
    (void)state;
    char dir[64];
    /* how many mutating calls a checkpoint makes here */
    test_tmpdir(dir);
    inmem_db *db = ckpt_db(dir);
    for (int i = 0; i < 100; i++)
        put_ok(db, NULL, "k", &i, sizeof i);
    use_fault_vfs();
    assert_ok(inmem_db_checkpoint(db, NULL));
    int calls = atomic_load(&fault_seen);
    inmem__vfs_set(NULL);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
    assert_true(calls >= 5);
    for (int n = 1; n <= calls; n++) {
        test_tmpdir(dir);
        db = ckpt_db(dir);
        put_ok(db, NULL, "first", LIT("1"));
        uint64_t base = 0;
        assert_ok(inmem_db_checkpoint(db, &base)); /* an image to go on from */
        for (int i = 0; i < 100; i++)
            put_ok(db, NULL, "k", &i, sizeof i);
        use_fault_vfs();
        atomic_store(&fault_at, n);
        int rc = inmem_db_checkpoint(db, NULL);
        inmem__vfs_set(NULL);
        inmem_stats s = test_stats(db);
        int committed = 100;
        if (rc) {
            CHECK(rc == INMEM_EIO || rc == INMEM_ENOMEM, "fault at %d: %s", n, inmem_errname(rc));
            assert_int_equal(s.checkpoint_failures, 1);
            assert_int_equal(s.checkpoint_error, rc);
            CHECK(strstr(inmem_errmsg(), "fail") || strstr(inmem_errmsg(), "cannot"),
                  "fault at %d: message '%s'", n, inmem_errmsg());
        }
        /* the database goes on (unless the log itself failed: then it is read-only) */
        uint64_t v = 0;
        int prc = inmem_put(db, NULL, "after", 5, "x", 1, &v);
        CHECK(prc == 0 || prc == INMEM_EREADONLY, "fault at %d: put %s", n, inmem_errname(prc));
        (void)inmem_db_close(db);
        CHECK(files_with(dir, "ckpt-") >= 1, "fault at %d: no image left", n);
        db = ckpt_db(dir);
        int last = committed - 1;
        expect_get(db, NULL, "k", &last, sizeof last, base + 100);
        if (prc == 0)
            expect_get(db, NULL, "after", "x", 1, v);
        assert_ok(inmem_db_close(db));
        DIR *d = opendir(dir);
        struct dirent *e;
        while ((e = readdir(d)))
            CHECK(!strstr(e->d_name, ".tmp"), "fault at %d: %s left behind", n, e->d_name);
        closedir(d);
        test_rmdir(dir);
    }
}

/* An older image that cannot be removed keeps the log that goes on from it. Recovery loads the
 * newest image; if that one is then lost (a file removed by hand, a bad restore), the older image
 * is all there is, and only the log from it on brings back the commits between the two. Dropping
 * those segments while the older image stays made such a directory open silently at the older
 * image's version: every commit between the two images gone without an error. */
static int f_unlink_no_image(const char *p)
{
    size_t n = strlen(p);
    if (strstr(p, "/ckpt-") && n > 4 && strcmp(p + n - 4, ".img") == 0)
        return -EACCES;
    return inmem__vfs_posix.unlink(p);
}

static void checkpoint_an_older_image_left_behind_keeps_the_log_from_it(void **state)
{
    (void)state;
    char dir[64], path[4200];
    for (int crash = 1; crash >= 0; crash--) {
        test_tmpdir(dir);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) { /* before, between, two images (v1 = 1, v2 = 2), a crash or a close */
            inmem_db *db = NULL;
            uint64_t v1 = 0, v2 = 0;
            if (ckpt_open(dir, 0, &db) != 0 || inmem_put(db, NULL, LIT("before"), "1", 1, NULL) ||
                inmem_db_checkpoint(db, &v1) != 0 || v1 != 1 ||
                inmem_put(db, NULL, LIT("between"), "2", 1, NULL))
                _exit(2);
            fault_vfs = inmem__vfs_posix;
            fault_vfs.unlink = f_unlink_no_image;
            inmem__vfs_set(&fault_vfs);
            /* the new image is installed, but the checkpoint fails: the older image is left,
             * and so is the log that goes on from it */
            int rc = inmem_db_checkpoint(db, &v2);
            inmem__vfs_set(NULL);
            inmem_stats st;
            if (rc != INMEM_EIO || !strstr(inmem_errmsg(), "older checkpoint image") ||
                inmem_db_stats(db, &st) != 0 || st.checkpoint_failures != 1 ||
                st.checkpoint_error != INMEM_EIO)
                _exit(3);
            _exit(crash || inmem_db_close(db) == 0 ? 0 : 4);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        inmem__ckpt_path(dir, 1, path, sizeof path);
        assert_true(file_exists(path));
        /* a copy opened as it is: the open loads the newest image and removes the older one
         * before the segments the newest holds */
        char copy[64];
        test_tmpdir(copy);
        copy_dir_files(dir, copy);
        inmem_db *db = ckpt_db(copy);
        assert_int_equal(recovery_of(db).checkpoint_version, 2);
        expect_get(db, NULL, "between", LIT("2"), 2);
        inmem__ckpt_path(copy, 1, path, sizeof path);
        assert_false(file_exists(path));
        assert_int_equal(files_with(copy, "ckpt-"), 1);
        assert_ok(inmem_db_close(db));
        test_rmdir(copy);
        inmem__ckpt_path(dir, 2, path, sizeof path);
        assert_int_equal(unlink(path), 0); /* the newest image lost */
        int rc = ckpt_open(dir, 0, &db);
        CHECK(rc == 0, "crash %d: open %s (%s)", crash, inmem_errname(rc), inmem_errmsg());
        expect_get(db, NULL, "before", LIT("1"), 1);
        expect_get(db, NULL, "between", LIT("2"), 2);
        /* the next checkpoint removes the older image, and then the segments before its own */
        put_ok(db, NULL, "after", LIT("3"));
        assert_ok(inmem_db_checkpoint(db, NULL));
        inmem__ckpt_path(dir, 1, path, sizeof path);
        assert_false(file_exists(path));
        assert_int_equal(files_with(dir, "ckpt-"), 1);
        assert_ok(inmem_db_close(db));
        test_rmdir(dir);
    }
}

/* A repair rewrites the damaged image under its own name. If the directory's fsync fails after
 * that rename, the open fails, but the repaired image stays: its bytes are synced, and it is
 * the only image of its version (the damaged one is set aside), so removing it would leave a
 * directory whose log starts after every image. The next open loads it. */
static _Atomic int dir_sync_fail; /* 1: fail the next fsync of a directory after an image rename */

static int f_sync_dir(int fd)
{
    struct stat st;
    if (atomic_load(&dir_sync_fail) == 2 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        atomic_store(&dir_sync_fail, 0);
        return -EIO;
    }
    return inmem__vfs_posix.sync(fd);
}

static int f_rename_image(const char *a, const char *b)
{
    int rc = inmem__vfs_posix.rename(a, b);
    if (rc == 0 && strstr(b, "ckpt-") && !strstr(b, ".dropped"))
        atomic_compare_exchange_strong(&dir_sync_fail, &(int){1}, 2);
    return rc;
}

static void checkpoint_repair_keeps_its_image_when_the_directory_sync_fails(void **state)
{
    (void)state;
    char dir[64], twin[64], path[4200];
    test_tmpdir(dir);
    test_tmpdir(twin);
    uint64_t keys, v = image_only(dir, &keys);
    inmem__ckpt_path(dir, v, path, sizeof path);
    size_t len;
    uint8_t *img = slurp(path, &len);
    img[len / 2] ^= 0x21;
    spit(path, img, len);
    copy_tree(dir, twin);
    /* what the repair gives when nothing fails */
    inmem_db *db = NULL;
    assert_ok(ckpt_open(twin, 1, &db));
    dump d0 = {0}, d1 = {0};
    dump_db(db, NULL, NULL, &d0);
    assert_ok(inmem_db_close(db));
    fault_vfs = inmem__vfs_posix;
    fault_vfs.sync = f_sync_dir;
    fault_vfs.rename = f_rename_image;
    atomic_store(&dir_sync_fail, 1);
    inmem__vfs_set(&fault_vfs);
    int rc = ckpt_open(dir, 1, &db);
    inmem__vfs_set(NULL);
    CHECK(atomic_load(&dir_sync_fail) == 0, "the directory sync after the rename never came");
    CHECK(rc == INMEM_EIO, "repair with a failing directory sync: %s", inmem_errname(rc));
    CHECK(access(path, F_OK) == 0, "the repaired image of version %llu was removed",
          (unsigned long long)v);
    rc = ckpt_open(dir, 0, &db);
    CHECK(rc == 0, "open after the failed repair: %s (%s)", inmem_errname(rc), inmem_errmsg());
    assert_int_equal(test_stats(db).version, v);
    dump_db(db, NULL, NULL, &d1);
    CHECK(dump_equal(&d0, &d1), "not the state the repair gives");
    assert_ok(inmem_db_close(db));
    dump_free(&d0);
    dump_free(&d1);
    free(img);
    test_rmdir(twin);
    test_rmdir(dir);
}

/* A backup into a directory it creates syncs that directory's parent too, so that the new
 * directory's entry survives a machine crash (the image inside it is synced with its own
 * directory). */
static char synced_dirs[8][256];
static _Atomic int nsynced_dirs;

static int f_sync_recording_dirs(int fd)
{
    struct stat st;
    char link[64], target[256];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        target[n] = 0;
        int i = atomic_fetch_add(&nsynced_dirs, 1);
        if (i < 8)
            snprintf(synced_dirs[i], sizeof synced_dirs[i], "%s", target);
    }
    return inmem__vfs_posix.sync(fd);
}

static void backup_into_a_new_directory_syncs_its_parent(void **state)
{
    (void)state;
    char dir[64], parent[64], into[128];
    test_tmpdir(dir);
    test_tmpdir(parent);
    snprintf(into, sizeof into, "%s/backup", parent);
    inmem_db *db = ckpt_db(dir);
    put_ok(db, NULL, "k", LIT("v"));
    fault_vfs = inmem__vfs_posix;
    fault_vfs.sync = f_sync_recording_dirs;
    atomic_store(&nsynced_dirs, 0);
    inmem__vfs_set(&fault_vfs);
    assert_ok(inmem_db_backup(db, into, NULL));
    inmem__vfs_set(NULL);
    char real[PATH_MAX];
    assert_non_null(realpath(parent, real));
    int found = 0;
    for (int i = 0; i < atomic_load(&nsynced_dirs) && i < 8; i++)
        found |= strcmp(synced_dirs[i], real) == 0;
    CHECK(found, "the parent %s of the new backup directory was not synced", real);
    assert_ok(inmem_db_close(db));
    test_rmdir(parent);
    test_rmdir(dir);
}

/* A backup killed while writing its image leaves its directory with that image's *.img.tmp
 * alone. That is no database: the open used to take it for one (any ckpt-* file counted), open
 * it empty at version 0 even with create_if_missing = 0 or read_only, and remove the partial
 * image: a restore that checks "the backup opens" got an empty state. */
static void an_interrupted_backup_is_no_database(void **state)
{
    (void)state;
    char dir[64], into[128], part[64], name[256], path[512];
    test_tmpdir(dir);
    test_tmpdir(part);
    snprintf(into, sizeof into, "%s/backup", dir);
    inmem_db *db = ckpt_db(dir);
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        put_ok(db, NULL, k, LIT("some value"));
    }
    uint64_t v;
    assert_ok(inmem_db_backup(db, into, &v));
    assert_ok(inmem_db_close(db));
    snprintf(name, sizeof name, "ckpt-%016llx.img", (unsigned long long)v);
    snprintf(path, sizeof path, "%s/%s", into, name);
    size_t len;
    uint8_t *img = slurp(path, &len);
    snprintf(path, sizeof path, "%s/%s.tmp", part, name); /* what the killed backup left */
    spit(path, img, len / 2);
    for (int mode = 0; mode < 3; mode++) { /* read-only, create_if_missing 0, the default */
        inmem_options o;
        inmem_options_init(&o);
        o.read_only = mode == 0;
        o.create_if_missing = mode == 2;
        inmem_db *b = NULL;
        int rc = inmem_db_open(part, &o, &b);
        CHECK(rc == (mode == 2 ? INMEM_EINVAL : INMEM_NOTFOUND), "mode %d: %s", mode,
              inmem_errname(rc));
        assert_null(b);
        CHECK(strstr(inmem_errmsg(), "never finished"), "mode %d: %s", mode, inmem_errmsg());
        expect_file(path, img, len / 2); /* untouched */
    }
    free(img);
    test_rmdir(part);
    test_rmdir(dir);
}

/* A checkpoint interrupted after its image was installed, before the segments it covers were
 * removed (their removal failed, then the process crashed): the next open removes them, also
 * when nothing was committed after the checkpoint's switch, so a value deleted before the
 * checkpoint is in no file after it. */
static inmem__vfs seg_vfs;
static int failing_seg_unlink(const char *path)
{
    if (strstr(path, "/wal-") && !strstr(path, ".tmp"))
        return -EIO;
    return inmem__vfs_posix.unlink(path);
}

static void interrupted_checkpoint_segments_are_removed_at_open(void **state)
{
    (void)state;
    char dir[64], copy[64];
    test_tmpdir(dir);
    test_tmpdir(copy);
    inmem_options o;
    log_options_init(&o);
    o.durability = INMEM_DURABILITY_STRICT;
    inmem_db *db = NULL;
    seg_vfs = inmem__vfs_posix;
    seg_vfs.unlink = failing_seg_unlink;
    inmem__vfs_set(&seg_vfs); /* the log keeps the vfs it was opened with */
    assert_ok(inmem_db_open(dir, &o, &db));
    put_ok(db, NULL, "secret", "s3cr3t-value", 12);
    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_delete(t, NULL, "secret", 6));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    put_ok(db, NULL, "other", "x", 1);
    uint64_t v = 0;
    int rc = inmem_db_checkpoint(db, &v);
    CHECK(rc != 0, "the checkpoint succeeded although its segments could not be removed");
    copy_dir_files(dir, copy); /* the process crashes here */
    inmem__vfs_set(NULL);
    assert_ok(inmem_db_close(db));
    char s1[128];
    seg_path(s1, sizeof s1, copy, 1);
    assert_true(inmem_file_holds(s1, "s3cr3t-value")); /* the crash image still holds it */
    for (int i = 0; i < 2; i++) { /* reopen (writable) and close, twice, committing nothing */
        db = NULL;
        assert_ok(inmem_db_open(copy, &o, &db));
        expect_missing(db, NULL, "secret");
        int left = file_exists(s1), has = inmem_file_holds(s1, "s3cr3t-value");
        assert_ok(inmem_db_close(db));
        CHECK(!left,
              "reopen %d: a segment wholly covered by the installed checkpoint survived "
              "the open (holding a value deleted before the checkpoint: %d)",
              i, has);
    }
    test_rmdir(copy);
    test_rmdir(dir);
}

/* A crash of the process right before any file operation of a checkpoint (writing the image,
 * syncing it, renaming it, syncing the directory, removing segments and the old image) leaves a
 * directory that recovers to exactly the committed state. */
static void crash_at_every_step_of_a_checkpoint_recovers_exactly(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    test_tmpdir(crash_root);
    snprintf(crash_dir, sizeof crash_dir, "%s", dir);
    inmem_db *db = ckpt_db(dir);
    char key[32];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%03d", i % 50);
        put_ok(db, NULL, key, &i, sizeof i);
    }
    assert_ok(inmem_db_checkpoint(db, NULL)); /* an older image, to be replaced */
    for (int i = 300; i < 600; i++) {
        snprintf(key, sizeof key, "k%03d", i % 50);
        put_ok(db, NULL, key, &i, sizeof i);
    }
    uint64_t end = test_stats(db).version;
    dump d0 = {0}, d1 = {0};
    dump_db(db, NULL, NULL, &d0);
    crash_copies = 0;
    use_fault_vfs(); /* no fault: copies only */
    assert_ok(inmem_db_checkpoint(db, NULL));
    inmem__vfs_set(NULL);
    int copies = crash_copies;
    char root[64];
    snprintf(root, sizeof root, "%s", crash_root);
    crash_root[0] = 0;
    assert_ok(inmem_db_close(db));
    assert_true(copies >= 5);
    for (int n = 1; n <= copies; n++) {
        char at[200];
        snprintf(at, sizeof at, "%s/crash-%03d", root, n);
        inmem_db *c = NULL;
        int rc = ckpt_open(at, 0, &c);
        CHECK(rc == 0, "crash before call %d of the checkpoint: open %s (%s)", n, inmem_errname(rc),
              inmem_errmsg());
        inmem_recovery_info rec = recovery_of(c);
        CHECK(rec.version == end && rec.repaired == 0,
              "crash before call %d: version %llu, expected %llu", n,
              (unsigned long long)rec.version, (unsigned long long)end);
        dump_db(c, NULL, NULL, &d1);
        CHECK(dump_equal(&d0, &d1), "crash before call %d: a different state", n);
        dump_free(&d1);
        assert_ok(inmem_db_close(c));
    }
    dump_free(&d0);
    test_rmdir(root);
    test_rmdir(dir);
}

/* The library's own snapshots are not the application's transactions (inmem_options.max_txns,
 * inmem_stats.open_txns): with max_txns = 1 and that one handle open, a checkpoint and a backup
 * still run; and stats read while a checkpoint holds its snapshot (from the image's rename)
 * count only the application's handle, with its own start version and age. */
static inmem_db *stats_db;
static inmem_stats stats_seen;
static _Atomic int stats_taken;

static int f_rename_stats(const char *from, const char *to)
{
    if (stats_db && !atomic_exchange(&stats_taken, 1))
        (void)inmem_db_stats(stats_db, &stats_seen);
    return inmem__vfs_posix.rename(from, to);
}

static void checkpoint_snapshots_of_the_engine_are_not_the_applications_transactions(void **state)
{
    (void)state;
    char dir[64], bdir[80];
    test_tmpdir(dir);
    snprintf(bdir, sizeof bdir, "%s/backup", dir);
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_ASYNC;
    o.checkpoint_log_ratio = 0;
    o.max_txns = 1;
    inmem_db *db;
    assert_ok(inmem_db_open(dir, &o, &db));
    put_ok(db, NULL, "a", "1", 1);
    inmem_txn *txn;
    assert_ok(inmem_txn_begin(db, &txn));
    uint64_t start = test_stats(db).version;
    put_ok(db, NULL, "a", "2", 1);
    usleep(20000); /* so that the handle's age shows */
    stats_db = db;
    atomic_store(&stats_taken, 0);
    fault_vfs = inmem__vfs_posix;
    fault_vfs.rename = f_rename_stats;
    inmem__vfs_set(&fault_vfs);
    uint64_t v;
    int rc = inmem_db_checkpoint(db, &v);
    inmem__vfs_set(NULL);
    stats_db = NULL;
    assert_ok(rc);
    assert_int_equal(v, test_stats(db).version);
    assert_true(atomic_load(&stats_taken));
    CHECK(stats_seen.open_txns == 1, "open_txns %llu during a checkpoint",
          (unsigned long long)stats_seen.open_txns);
    CHECK(stats_seen.oldest_snapshot_version == start, "oldest snapshot %llu, the handle's %llu",
          (unsigned long long)stats_seen.oldest_snapshot_version, (unsigned long long)start);
    CHECK(stats_seen.oldest_snapshot_age_us >= 10000, "oldest snapshot age %llu us",
          (unsigned long long)stats_seen.oldest_snapshot_age_us);
    assert_ok(inmem_db_backup(db, bdir, NULL));
    inmem_txn *more;
    assert_int_equal(inmem_txn_begin(db, &more), INMEM_ETXNLIMIT); /* the one is still the one */
    assert_int_equal(test_stats(db).open_txns, 1);
    inmem_txn_free(txn);
    assert_int_equal(test_stats(db).open_txns, 0);
    assert_ok(inmem_txn_begin(db, &txn));
    inmem_txn_free(txn);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

/* ---- read-only beside a checkpointing writer ----------------------------------------------- */

struct ck_writer {
    inmem_db *db;
    _Atomic int stop, errors;
    _Atomic uint64_t checkpoints;
};

static void *ck_writer_main(void *arg)
{
    struct ck_writer *w = arg;
    uint8_t val[500] = {0};
    char key[32];
    for (int i = 0; !atomic_load(&w->stop); i++) {
        snprintf(key, sizeof key, "k%d", i % 300);
        if (inmem_put(w->db, NULL, key, strlen(key), val, sizeof val, NULL) != 0)
            atomic_fetch_add(&w->errors, 1);
        if (i % 150 == 149) {
            if (inmem_db_checkpoint(w->db, NULL) != 0)
                atomic_fetch_add(&w->errors, 1);
            atomic_fetch_add(&w->checkpoints, 1);
        }
    }
    return NULL;
}

/* A read-only open beside a writer whose checkpoints keep replacing images and removing segments
 * always succeeds, at a version that only moves forward. */
static void read_only_open_beside_a_checkpointing_writer_always_succeeds(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    struct ck_writer w = {0};
    w.db = ckpt_db(dir);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, ck_writer_main, &w), 0);
    inmem_options o;
    inmem_options_init(&o);
    o.read_only = 1;
    uint64_t last = 0;
    char failed[600] = "";
    /* at least 40 opens, and on until the writer has checkpointed a few times meanwhile; a
     * failure stops the writer and closes its database before the test fails (a writer left
     * running would make the process's later fork()s multi-threaded) */
    for (int i = 0; !failed[0] && (i < 40 || (atomic_load(&w.checkpoints) < 4 && i < 100000));
         i++) {
        inmem_db *r = NULL;
        int rc = inmem_db_open(dir, &o, &r);
        if (rc) {
            snprintf(failed, sizeof failed, "read-only open %d: %s (%s)", i, inmem_errname(rc),
                     inmem_errmsg());
            break;
        }
        inmem_recovery_info rec = recovery_of(r);
        if (rec.version < last)
            snprintf(failed, sizeof failed, "open %d: version %llu after %llu", i,
                     (unsigned long long)rec.version, (unsigned long long)last);
        last = rec.version;
        if ((rc = inmem_db_close(r)) != 0 && !failed[0])
            snprintf(failed, sizeof failed, "close %d: %s", i, inmem_errname(rc));
    }
    atomic_store(&w.stop, 1);
    pthread_join(th, NULL);
    if (failed[0]) {
        (void)inmem_db_close(w.db);
        fail_msg("%s", failed);
    }
    assert_int_equal(atomic_load(&w.errors), 0);
    assert_true(atomic_load(&w.checkpoints) > 0);
    assert_ok(inmem_db_close(w.db));
    test_rmdir(dir);
}

/* A close never refuses because of a checkpoint: one being written in the background is waited
 * for (its snapshot is the engine's, not an open transaction of the caller's), and the engine's
 * snapshots are not counted as the caller's aborts. */
static void checkpoint_close_waits_for_a_checkpoint_being_written(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_options o;
    inmem_options_init(&o);
    o.wal_segment_size = SEG_SIZE;
    o.checkpoint_log_ratio = 1;
    o.checkpoint_log_min = 64u << 10;
    uint8_t val[1000] = {0};
    char key[32];
    for (int round = 0; round < 20; round++) {
        inmem_db *db;
        assert_ok(inmem_db_open(dir, &o, &db));
        for (int i = 0; i < 200; i++) { /* the trigger fires, the image is being written */
            snprintf(key, sizeof key, "k%03d", i);
            put_ok(db, NULL, key, val, sizeof val);
        }
        int rc = inmem_db_close(db);
        CHECK(rc == 0, "round %d: close: %s (%s)", round, inmem_errname(rc), inmem_errmsg());
    }
    inmem_db *db;
    o.checkpoint_log_ratio = 0;
    assert_ok(inmem_db_open(dir, &o, &db));
    assert_ok(inmem_db_checkpoint(db, NULL));
    char bdir[64];
    test_tmpdir(bdir); /* empty: a backup may go there */
    assert_ok(inmem_db_backup(db, bdir, NULL));
    inmem_stats s = test_stats(db);
    assert_int_equal(s.aborts_user, 0);
    assert_ok(inmem_db_close(db));
    test_rmdir(bdir);
    test_rmdir(dir);
}

/* Right after an open, the stats say what the next open would replay (what this one replayed
 * that no image holds yet) and the size of the image it loaded. */
static void checkpoint_stats_after_an_open_say_what_the_next_open_replays(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db = ckpt_db(dir);
    uint8_t val[100] = {0};
    for (int i = 0; i < 50; i++)
        put_ok(db, NULL, "k", val, sizeof val);
    uint64_t v;
    assert_ok(inmem_db_checkpoint(db, &v));
    for (int i = 0; i < 20; i++)
        put_ok(db, NULL, "k2", val, sizeof val);
    uint64_t logged = test_stats(db).wal_bytes_since_checkpoint;
    assert_true(logged > 20 * sizeof val);
    assert_ok(inmem_db_close(db));
    db = ckpt_db(dir);
    inmem_recovery_info rec;
    assert_ok(inmem_db_recovery(db, &rec));
    assert_int_equal(rec.checkpoint_version, v);
    inmem_stats s = test_stats(db);
    char path[128];
    snprintf(path, sizeof path, "%s/ckpt-%016llx.img", dir, (unsigned long long)v);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(s.checkpoint_bytes, (uint64_t)sb.st_size);
    assert_int_equal(s.wal_bytes_since_checkpoint, rec.bytes);
    assert_true(rec.bytes >= logged);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

struct busy_writer {
    inmem_db *db;
    _Atomic int stop;
    _Atomic uint64_t commits;
};

static void *busy_writer_main(void *p)
{
    struct busy_writer *w = p;
    uint8_t val[64] = {0};
    for (uint64_t i = 0; !atomic_load(&w->stop); i++) {
        char key[16];
        snprintf(key, sizeof key, "w%03d", (int)(i % 500)); /* every commit logs the same size */
        if (inmem_put(w->db, NULL, key, strlen(key), val, sizeof val, NULL) == 0)
            atomic_fetch_add(&w->commits, 1);
    }
    return NULL;
}

/* What is committed while a checkpoint is being written is not in its image: it counts toward
 * the next checkpoint (wal_bytes_since_checkpoint covers every commit after the image's
 * version), so a close with checkpoint_on_close takes one and the next open replays nothing. */
static void checkpoint_commits_during_a_checkpoint_count_toward_the_next(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        char dir[64];
        test_tmpdir(dir);
        inmem_options o;
        inmem_options_init(&o);
        o.wal_segment_size = 4u << 20;
        o.checkpoint_log_ratio = 0;
        o.checkpoint_on_close = 1;
        struct busy_writer w = {NULL, 0, 0};
        assert_ok(inmem_db_open(dir, &o, &w.db));
        uint8_t val[64] = {0};
        char key[16];
        for (int i = 0; i < 20000; i++) { /* an image that takes a while to write */
            snprintf(key, sizeof key, "b%05d", i);
            put_ok(w.db, NULL, key, val, sizeof val);
        }
        uint64_t b0 = test_stats(w.db).wal_bytes;
        put_ok(w.db, NULL, "w000", val, sizeof val);
        uint64_t per_commit = test_stats(w.db).wal_bytes - b0;
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, busy_writer_main, &w), 0);
        while (atomic_load(&w.commits) < 10)
            usleep(100);
        uint64_t v;
        assert_ok(inmem_db_checkpoint(w.db, &v));
        atomic_store(&w.stop, 1);
        pthread_join(th, NULL);
        inmem_stats s = test_stats(w.db);
        CHECK(s.wal_bytes_since_checkpoint == (s.version - v) * per_commit,
              "round %d: %llu bytes since the image of version %llu, %llu commits after it of %llu "
              "bytes each",
              round, (unsigned long long)s.wal_bytes_since_checkpoint, (unsigned long long)v,
              (unsigned long long)(s.version - v), (unsigned long long)per_commit);
        assert_ok(inmem_db_close(w.db));
        inmem_db *db;
        assert_ok(inmem_db_open(dir, &o, &db));
        inmem_recovery_info rec;
        assert_ok(inmem_db_recovery(db, &rec));
        CHECK(rec.txns_applied == 0, "round %d: the open after a checkpointing close replayed %llu",
              round, (unsigned long long)rec.txns_applied);
        assert_ok(inmem_db_close(db));
        test_rmdir(dir);
    }
}

/* An open loads an image's nodes into 2 MiB chunks (not in sanitizer builds, which use malloc);
 * the values read back exactly, a chunk goes back to the system once every key in it is deleted,
 * and none is left after the close. */
static void checkpoint_load_memory_is_returned_when_its_keys_go(void **state)
{
    (void)state;
    enum { KEYS = 20000 };
    char dir[64], key[32];
    test_tmpdir(dir);
    inmem_db *db = ckpt_db(dir);
    put_filled(db, "key", KEYS, 200, 1000);
    assert_ok(inmem_db_checkpoint(db, NULL));
    assert_ok(inmem_db_close(db));
    size_t before = inmem__index_chunks_mapped();
    db = ckpt_db(dir);
    int chunks = before != SIZE_MAX;
    if (chunks) /* 20,000 nodes of ~300 bytes: at least 2 chunks */
        CHECK(inmem__index_chunks_mapped() >= before + 2, "%zu chunks after the load, %zu before",
              inmem__index_chunks_mapped(), before);
    expect_filled(db, "key", KEYS, 200, 997);
    for (int i = 0; i < KEYS; i += 1000) {
        inmem_txn *t = test_begin(db);
        for (int j = i; j < i + 1000; j++) {
            snprintf(key, sizeof key, "key%06d", j);
            assert_ok(inmem_kv_delete(t, NULL, key, strlen(key)));
        }
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
    }
    /* the GC runs every 8 commits, a slice at a time: it unlinks the deleted keys' nodes, then
     * frees them once no reader can hold them */
    int commits = 0;
    while (chunks && inmem__index_chunks_mapped() != before && commits < 2000) {
        put_ok(db, NULL, "other", "x", 1);
        commits++;
    }
    if (chunks)
        CHECK(inmem__index_chunks_mapped() == before,
              "%zu chunks with every loaded key gone, %zu before the open, after %d commits",
              inmem__index_chunks_mapped(), before, commits);
    assert_ok(inmem_db_close(db));
    if (chunks)
        assert_int_equal(inmem__index_chunks_mapped(), before);
    test_rmdir(dir);
}

const struct CMUnitTest checkpoint_tests[] = {
    cmocka_unit_test(read_only_open_beside_a_checkpointing_writer_always_succeeds),
    cmocka_unit_test(checkpoint_recovery_is_exact_and_the_log_is_truncated),
    cmocka_unit_test(checkpoint_erases_deleted_data_from_every_file),
    cmocka_unit_test(checkpoint_erasure_spares_only_the_files_set_aside_as_dropped),
    cmocka_unit_test(checkpoint_damage_is_always_detected),
    cmocka_unit_test(checkpoint_damaged_falls_back_to_an_older_image_when_the_log_covers_it),
    cmocka_unit_test(checkpoint_repair_falls_back_when_the_log_covers_the_damaged_image),
    cmocka_unit_test(checkpoint_repair_of_a_cut_image_never_reports_no_keys_lost),
    cmocka_unit_test(checkpoint_repair_drops_a_block_that_does_not_parse_whole),
    cmocka_unit_test(checkpoint_a_forged_key_count_reserves_only_what_the_image_can_hold),
    cmocka_unit_test(checkpoint_a_version_no_database_reaches_is_corrupt),
    cmocka_unit_test(checkpoint_a_big_image_checked_ahead_still_fails_at_the_damaged_block),
    cmocka_unit_test(checkpoint_a_commit_past_the_version_limit_fails_cleanly),
    cmocka_unit_test(checkpoint_a_block_head_that_runs_into_the_trailer_is_a_bad_block),
    cmocka_unit_test(checkpoint_a_big_load_starts_its_threads_with_signals_blocked),
    cmocka_unit_test(checkpoint_a_big_load_on_one_cpu_starts_no_threads),
    cmocka_unit_test(checkpoint_a_big_load_makes_only_the_chunks_it_takes),
    cmocka_unit_test(checkpoint_snapshots_of_the_engine_are_not_the_applications_transactions),
    cmocka_unit_test(checkpoint_damaged_with_nothing_after_it_fails_the_open),
    cmocka_unit_test(checkpoint_missing_image_fails_the_open_never_an_empty_database),
    cmocka_unit_test(backup_opens_to_one_exact_version_while_writers_go_on),
    cmocka_unit_test_teardown(backup_into_a_new_directory_syncs_its_parent, restore_vfs),
    cmocka_unit_test(an_interrupted_backup_is_no_database),
    cmocka_unit_test_teardown(interrupted_checkpoint_segments_are_removed_at_open, restore_vfs),
    cmocka_unit_test(automatic_checkpoint_comes_when_the_log_has_grown),
    cmocka_unit_test(checkpoint_on_close_makes_the_next_open_load_only_the_image),
    cmocka_unit_test(checkpoint_close_waits_for_a_checkpoint_being_written),
    cmocka_unit_test(checkpoint_stats_after_an_open_say_what_the_next_open_replays),
    cmocka_unit_test(checkpoint_commits_during_a_checkpoint_count_toward_the_next),
    cmocka_unit_test(checkpoint_load_memory_is_returned_when_its_keys_go),
    cmocka_unit_test_teardown(failed_checkpoint_leaves_the_database_working, restore_vfs),
    cmocka_unit_test_teardown(crash_at_every_step_of_a_checkpoint_recovers_exactly, restore_vfs),
    cmocka_unit_test_teardown(checkpoint_an_older_image_left_behind_keeps_the_log_from_it,
                              restore_vfs),
    cmocka_unit_test_teardown(checkpoint_repair_keeps_its_image_when_the_directory_sync_fails,
                              restore_vfs),
};

INMEM_TEST_COUNT(checkpoint);
