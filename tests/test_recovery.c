/*
 * test_recovery.c — recovery at open (docs/CONTRACT.md rules 2.4-2.7, docs/FORMAT.md "Recovery
 * rules"): unknown records skipped; a torn tail cut at every byte of the last transaction, by
 * truncation and by zeroing; corruption refused with the file and offset, then repaired with exact
 * counts; never a torn tail in a segment before the last or before a valid record; foreign and
 * newer files; incomplete transactions; deterministic replay.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/wal_util.h"
#include "core/vfs.h"

/* ---- unknown records ---------------------------------------------------------------------- */

static void recovery_skips_a_record_of_unknown_type(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_ASYNC);
    assert_int_equal(put_ok(db, NULL, "a", LIT("alpha")), 1);
    assert_int_equal(put_ok(db, NULL, "b", LIT("beta")), 2);
    assert_ok(inmem_db_close(db));

    size_t len, nf, end;
    uint8_t *img = slurp(path, &len);
    frame *f = walk_log(img, len, &nf, &end);
    assert_true(nf >= 3);
    assert_int_equal(f[1].rec.type, INMEM__REC_TXN); /* the second transaction */
    size_t s = f[1].off;
    free(f);
    /* splice a record of type 200 (valid checksum) between the two transactions */
    uint8_t *spliced = calloc(1, len);
    assert_non_null(spliced);
    memcpy(spliced, img, s);
    const uint8_t payload[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    size_t n = enc_raw(spliced + s, 200, payload, sizeof payload);
    memcpy(spliced + s + n, img + s, end - s);
    spit(path, spliced, len);

    db = open_db(dir, INMEM_DURABILITY_ASYNC);
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.txns_applied, 2);
    assert_int_equal(rec.records_skipped, 1);
    assert_int_equal(rec.version, 2);
    assert_int_equal(rec.torn_tail, 0);
    expect_get(db, NULL, "a", "alpha", 5, 1);
    expect_get(db, NULL, "b", "beta", 4, 2);
    assert_int_equal(put_ok(db, NULL, "c", LIT("gamma")), 3);
    assert_ok(inmem_db_close(db));

    db = open_db(dir, INMEM_DURABILITY_ASYNC);
    rec = recovery_of(db);
    assert_int_equal(rec.txns_applied, 3);
    assert_int_equal(rec.records_skipped, 1);
    expect_get(db, NULL, "c", "gamma", 5, 3);
    assert_ok(inmem_db_close(db));
    free(spliced);
    free(img);
    test_rmdir(dir);
}

/* ---- torn tails ----------------------------------------------------------------------------- */

/* For every byte offset of the last (multi-key) transaction of a log, cuts the log there — by
 * truncating the file, or by zeroing everything after — and reopens: exactly the transactions
 * before it come back, the tear is reported, and the log appends and recovers normally. */
static void torn_tail_at_every_offset(int zero_the_rest)
{
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_ASYNC);
    inmem_txn *t;
    assert_int_equal(put_ok(db, NULL, "k1", LIT("one")), 1);
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put(t, NULL, LIT("k2"), LIT("two")));
    assert_ok(inmem_kv_put(t, NULL, LIT("k3"), LIT("three")));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_int_equal(put_ok(db, NULL, "k4", LIT("four")), 3);
    dump before = {0}, after = {0}, got = {0};
    dump_db(db, NULL, "k", &before);
    assert_ok(inmem_txn_begin(db, &t)); /* the last transaction: writes, a delete, empty value */
    assert_ok(inmem_kv_put(t, NULL, LIT("k2"), LIT("TWO")));
    assert_ok(inmem_kv_put(t, NULL, LIT("k5"), LIT("five")));
    assert_ok(inmem_kv_delete(t, NULL, LIT("k3")));
    assert_ok(inmem_kv_put(t, NULL, LIT("k6"), NULL, 0));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_int_equal(test_stats(db).version, 4);
    dump_db(db, NULL, "k", &after);
    assert_ok(inmem_db_close(db));

    size_t len, nf, end;
    uint8_t *img = slurp(path, &len);
    assert_int_equal(len, SEG_SIZE);
    frame *f = walk_log(img, len, &nf, &end);
    assert_int_equal(nf, 5); /* four TXN frames and the close mark */
    assert_int_equal(f[nf - 1].rec.type, INMEM__REC_CLOSE);
    assert_int_equal(f[nf - 2].rec.type, INMEM__REC_TXN);
    assert_int_equal(f[nf - 2].rec.records, 4);
    size_t e = f[nf - 1].off, b = f[nf - 2].off;
    free(f);
    /* what a crash right after the last commit leaves: no close mark */
    memset(img + e, 0, CLOSE_FRAME);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    size_t wrong_tail_at = 0;
    uint64_t wrong_tail = 0;

    for (size_t o = b; o <= e; o++) {
        if (zero_the_rest) {
            memcpy(buf, img, o);
            memset(buf + o, 0, len - o);
            spit(path, buf, len);
        } else {
            spit(path, img, o);
        }
        db = NULL;
        int rc = try_open(dir, INMEM_DURABILITY_ASYNC, 0, &db);
        CHECK(rc == 0, "cut at %zu (last txn %zu..%zu): open %s (%s)", o, b, e, inmem_errname(rc),
              inmem_errmsg());
        inmem_recovery_info rec = recovery_of(db);
        /* zeroing from o changes nothing if the transaction's last bytes are zeros already (its
         * checksum's top byte is, one run in 256): then it is whole, not a cut */
        size_t changed = o;
        while (zero_the_rest && changed < e && img[changed] == 0)
            changed++;
        int whole = changed == e, torn = o != b && !whole;
        uint64_t want = whole ? 4 : 3;
        CHECK(rec.txns_applied == want && rec.version == want && test_stats(db).version == want,
              "cut at %zu (last txn %zu..%zu): %llu txns applied, version %llu, expected %llu", o,
              b, e, (unsigned long long)rec.txns_applied, (unsigned long long)rec.version,
              (unsigned long long)want);
        CHECK(rec.torn_tail == torn, "cut at %zu (last txn %zu..%zu): torn_tail %d, expected %d", o,
              b, e, rec.torn_tail, torn);
        /* the torn one-frame transaction is discarded, and counted so, once what is left of its
         * frame still says it is one (its type byte, after the 4 of its length) */
        uint64_t discarded = torn && o > b + 4;
        CHECK(rec.txns_discarded == discarded,
              "cut at %zu (last txn %zu..%zu): txns_discarded %llu, expected %llu", o, b, e,
              (unsigned long long)rec.txns_discarded, (unsigned long long)discarded);
        if (torn) {
            CHECK(strcmp(rec.tail_file, SEG1) == 0, "cut at %zu: tail_file '%s'", o, rec.tail_file);
            /* checked after the loop, so that a wrong report does not hide a data loss */
            if (rec.tail_offset != b && !wrong_tail_at) {
                wrong_tail_at = o;
                wrong_tail = rec.tail_offset;
            }
        }
        CHECK(rec.repaired == 0, "cut at %zu: reported as a repair", o);
        dump_db(db, NULL, "k", &got);
        CHECK(dump_equal(&got, whole ? &after : &before), "cut at %zu: wrong state recovered", o);
        dump_free(&got);
        uint64_t nv = put_ok(db, NULL, "new", LIT("appended"));
        CHECK(nv == want + 1, "cut at %zu: new commit got version %llu", o, (unsigned long long)nv);
        assert_ok(inmem_db_close(db));

        db = open_db(dir, INMEM_DURABILITY_ASYNC);
        rec = recovery_of(db);
        CHECK(rec.torn_tail == 0 && rec.txns_applied == nv && rec.version == nv,
              "cut at %zu: third open: torn_tail %d, %llu applied, version %llu", o, rec.torn_tail,
              (unsigned long long)rec.txns_applied, (unsigned long long)rec.version);
        dump_db(db, NULL, "k", &got);
        CHECK(dump_equal(&got, whole ? &after : &before), "cut at %zu: third open: wrong state", o);
        dump_free(&got);
        expect_get(db, NULL, "new", "appended", 8, nv);
        assert_ok(inmem_db_close(db));
    }
    free(buf);
    free(img);
    dump_free(&before);
    dump_free(&after);
    test_rmdir(dir);
    /* inmem.h: "It was truncated at tail_offset of tail_file before appending" */
    CHECK(!wrong_tail_at,
          "cut at %zu (last txn %zu..%zu): tail_offset %llu, expected %zu, where the log was "
          "truncated (the start of the torn transaction)",
          wrong_tail_at, b, e, (unsigned long long)wrong_tail, b);
}

static void torn_tail_truncated_file_loses_only_the_last_transaction(void **state)
{
    (void)state;
    torn_tail_at_every_offset(0);
}

static void torn_tail_zeroed_rest_loses_only_the_last_transaction(void **state)
{
    (void)state;
    torn_tail_at_every_offset(1);
}

/* A torn tail has nothing valid after it: a bad frame followed by a valid transaction is
 * corruption whatever that transaction's BEGIN says was synced (the bytes after the damage were
 * written, so the damage is not where a crash cut the log). Repair keeps the prefix and counts
 * the valid transaction it drops. */
static void corruption_bad_frame_followed_by_a_valid_record_is_never_a_torn_tail(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    size_t len, e;
    uint8_t *img = two_txn_log(dir, path, &len, &e);
    uint8_t *c = malloc(len);
    assert_non_null(c);
    for (int synced_past = 0; synced_past < 2; synced_past++) {
        /* at e: a frame with a bad checksum, then a valid transaction whose BEGIN says the log
         * was synced up to the bad frame, or past it */
        memcpy(c, img, len);
        memset(c + e, 0, len - e);
        size_t n = inmem__wal_enc_begin(c + e, 3, zero_run, 1, 0, 1);
        c[e + 20] ^= 0x01;
        uint64_t lsn = synced_past ? TEST_LSN(1, e + n) : TEST_LSN(1, e);
        size_t t = enc_txn(c + e + n, 3, 3, lsn, "c", "sea");
        spit(path, c, len);
        inmem_db *db = NULL;
        assert_rc(INMEM_ECORRUPT, try_open(dir, INMEM_DURABILITY_ASYNC, 0, &db));
        assert_null(db);
        const char *msg = inmem_errmsg();
        CHECK(strstr(msg, SEG1) && mentions_number(msg, e) && mentions_number(msg, e + n),
              "message '%s' lacks %s, the bad frame's offset %zu or the valid one's %zu", msg, SEG1,
              e, e + n);
        expect_file(path, c, len);
        int rc = try_open(dir, INMEM_DURABILITY_ASYNC, 1, &db);
        CHECK(rc == 0, "repair: %s (%s)", inmem_errname(rc), inmem_errmsg());
        inmem_recovery_info rec = recovery_of(db);
        assert_int_equal(rec.repaired, 1);
        assert_int_equal(rec.repair_offset, e);
        assert_int_equal(rec.txns_dropped, 1);
        assert_int_equal(rec.bytes_dropped, n + t);
        assert_int_equal(rec.torn_tail, 0);
        assert_int_equal(rec.version, 2);
        expect_missing(db, NULL, "c");
        assert_int_equal(put_ok(db, NULL, "d", LIT("D")), 3);
        assert_ok(inmem_db_close(db));
        db = open_db(dir, INMEM_DURABILITY_ASYNC);
        rec = recovery_of(db);
        assert_int_equal(rec.torn_tail, 0);
        assert_int_equal(rec.repaired, 0);
        assert_int_equal(rec.txns_applied, 3);
        expect_missing(db, NULL, "c");
        expect_get(db, NULL, "d", "D", 1, 3);
        assert_ok(inmem_db_close(db));
        spit(path, img, len);
    }
    free(c);
    free(img);
    test_rmdir(dir);
}

/* A clean close's mark proves what is before it synced, not what comes after: a later session
 * appends there, and a power loss may keep its later pages and not the first. Bytes after the
 * mark are judged like any tail: garbage with nothing valid after it is a torn tail, cut and
 * reported (never left for the next appends to land on and a later recovery to misread), and
 * a valid record after the damage is corruption. */
static void close_mark_with_bytes_after_it_is_judged_like_any_tail(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    size_t len, close_off;
    uint8_t *img = two_txn_log(dir, path, &len, &close_off);
    size_t at = (close_off + 4096) & ~(size_t)4095; /* the next page */
    assert_true(at + 200 < len);
    uint8_t *c = malloc(len);
    assert_non_null(c);
    /* garbage on a later page: a torn tail */
    memcpy(c, img, len);
    memset(c + at, 0xab, 100);
    spit(path, c, len);
    inmem_db *db = NULL;
    int rc = try_open(dir, INMEM_DURABILITY_ASYNC, 0, &db);
    CHECK(rc == 0, "open: %s (%s)", inmem_errname(rc), inmem_errmsg());
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.torn_tail, 1);
    assert_string_equal(rec.tail_file, SEG1);
    assert_int_equal(rec.version, 2);
    expect_get(db, NULL, "b", "B", 1, 2);
    assert_ok(inmem_db_close(db));
    size_t n;
    uint8_t *now = slurp(path, &n);
    for (size_t i = at; i < at + 100; i++)
        CHECK(now[i] == 0, "byte %zu after the close mark was not cut", i);
    free(now);
    /* a valid transaction on a later page: corruption, the file untouched */
    memcpy(c, img, len);
    enc_txn(c + at, 3, 3, TEST_LSN(1, at), "c", "sea");
    spit(path, c, len);
    assert_rc(INMEM_ECORRUPT, try_open(dir, INMEM_DURABILITY_ASYNC, 0, &db));
    CHECK(mentions_number(inmem_errmsg(), at), "message '%s' lacks the valid record's offset %zu",
          inmem_errmsg(), at);
    expect_file(path, c, len);
    free(c);
    free(img);
    test_rmdir(dir);
}

/* ---- corruption ------------------------------------------------------------------------------ */

/* Damage to a transaction that a later session's records (and two close marks) follow: corruption
 * naming the file and offset, the file untouched; repair keeps the prefix and counts exactly the
 * transactions it drops. */
static void corruption_before_a_close_mark_fails_open_then_repair_keeps_the_prefix(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    /* session 1: T1 (c1), T2 (c2a, c2b), clean close; session 2: T3 (c3), T4 (c4), clean close */
    inmem_db *db = open_db(dir, INMEM_DURABILITY_ASYNC);
    assert_int_equal(put_ok(db, NULL, "c1", LIT("one")), 1);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put(t, NULL, LIT("c2a"), LIT("two-a")));
    assert_ok(inmem_kv_put(t, NULL, LIT("c2b"), LIT("two-b")));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
    db = open_db(dir, INMEM_DURABILITY_ASYNC);
    assert_int_equal(put_ok(db, NULL, "c3", LIT("three")), 3);
    assert_int_equal(put_ok(db, NULL, "c4", LIT("four")), 4);
    assert_ok(inmem_db_close(db));

    size_t len, nf, end, begins[4], writes[4], nb = 0;
    uint8_t *img = slurp(path, &len);
    frame *f = walk_log(img, len, &nf, &end);
    for (size_t i = 0; i < nf; i++)
        if (f[i].rec.type == INMEM__REC_TXN) {
            assert_true(nb < 4);
            begins[nb] = f[i].off;
            writes[nb] = i;
            nb++;
        }
    assert_int_equal(nb, 4);
    assert_int_equal(f[nf - 1].rec.type, INMEM__REC_CLOSE);

    uint8_t *c = malloc(len);
    assert_non_null(c);
    for (size_t target = 0; target < 2; target++) {
        const frame *w = &f[writes[target]];
        memcpy(c, img, len);
        c[w->off + w->size / 2] ^= 0x04; /* one bit of T1's (then T2's) frame */
        spit(path, c, len);
        db = NULL;
        assert_rc(INMEM_ECORRUPT, try_open(dir, INMEM_DURABILITY_ASYNC, 0, &db));
        assert_null(db);
        const char *msg = inmem_errmsg();
        CHECK(strstr(msg, SEG1) && mentions_number(msg, w->off),
              "corrupt T%zu: message '%s' lacks %s or offset %zu", target + 1, msg, SEG1, w->off);
        expect_file(path, c, len); /* never a silent loss: the refused log is untouched */

        int rc = try_open(dir, INMEM_DURABILITY_ASYNC, 1, &db);
        CHECK(rc == 0, "repair: %s (%s)", inmem_errname(rc), inmem_errmsg());
        inmem_recovery_info rec = recovery_of(db);
        assert_int_equal(rec.repaired, 1);
        assert_string_equal(rec.repair_file, SEG1);
        assert_int_equal(rec.repair_offset, begins[target]);
        CHECK(rec.bytes_dropped == end - begins[target],
              "corrupt T%zu: bytes_dropped %llu, expected %zu (log end %zu - cut %zu)", target + 1,
              (unsigned long long)rec.bytes_dropped, end - begins[target], end, begins[target]);
        CHECK(rec.txns_dropped == 4 - target, "corrupt T%zu: txns_dropped %llu, expected %zu",
              target + 1, (unsigned long long)rec.txns_dropped, 4 - target);
        assert_int_equal(rec.txns_applied, target);
        assert_int_equal(rec.version, target);
        assert_int_equal(test_stats(db).version, target);
        if (target == 1)
            expect_get(db, NULL, "c1", "one", 3, 1);
        else
            expect_missing(db, NULL, "c1");
        expect_missing(db, NULL, "c2a");
        expect_missing(db, NULL, "c2b");
        expect_missing(db, NULL, "c3");
        expect_missing(db, NULL, "c4");
        assert_int_equal(put_ok(db, NULL, "after", LIT("repair")), target + 1);
        assert_ok(inmem_db_close(db));

        db = open_db(dir, INMEM_DURABILITY_ASYNC); /* the repaired log opens without repair */
        rec = recovery_of(db);
        assert_int_equal(rec.repaired, 0);
        assert_int_equal(rec.torn_tail, 0);
        assert_int_equal(rec.version, target + 1);
        expect_get(db, NULL, "after", "repair", 6, target + 1);
        expect_missing(db, NULL, "c3");
        assert_ok(inmem_db_close(db));
    }
    free(c);
    free(f);
    free(img);
    test_rmdir(dir);
}

/* The order of what a repair does to the directory: 'R' a rename to *.dropped, 'D' a directory
 * fsync (recording_vfs). */
static inmem__vfs recording_vfs;
static char dir_ops[64];
static _Atomic int ndir_ops;

static void note_dir_op(char op)
{
    int i = atomic_fetch_add(&ndir_ops, 1);
    if (i < (int)sizeof dir_ops - 1)
        dir_ops[i] = op;
}

static int rec_rename(const char *from, const char *to)
{
    int rc = inmem__vfs_posix.rename(from, to);
    size_t n = strlen(to);
    if (rc == 0 && n > 8 && strcmp(to + n - 8, ".dropped") == 0)
        note_dir_op('R');
    return rc;
}

static int rec_sync(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        note_dir_op('D');
    return inmem__vfs_posix.sync(fd);
}

static int restore_posix(void **state)
{
    (void)state;
    inmem__vfs_set(NULL);
    return 0;
}

static void corruption_in_a_non_last_segment_is_never_a_torn_tail(void **state)
{
    (void)state;
    char dir[64], path[4096], moved[4200];
    test_tmpdir(dir);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_ASYNC);
    uint8_t val[700];
    char key[32];
    int nkeys = 0;
    for (; nkeys < 1000; nkeys++) {
        snprintf(key, sizeof key, "s%04d", nkeys);
        memset(val, 'a' + nkeys % 26, sizeof val);
        assert_int_equal(put_ok(db, NULL, key, val, sizeof val), (uint64_t)nkeys + 1);
        if (nkeys > 200 && current_segment(db) == 3)
            break;
    }
    nkeys++;
    assert_ok(inmem_db_close(db));
    uint64_t files = count_segments(dir);
    assert_true(files >= 3);
    uint64_t later_bytes = 0; /* records in the segments after the first */
    for (uint64_t s = 2; s <= files; s++) {
        size_t l, n, end;
        seg_path(path, sizeof path, dir, s);
        uint8_t *img = slurp(path, &l);
        free(walk_log(img, l, &n, &end));
        later_bytes += end - INMEM__WAL_HEADER;
        free(img);
    }

    /* the LAST transaction of segment 1: were segment 1 the last, this would be a tail */
    seg_path(path, sizeof path, dir, 1);
    size_t len, nf, end;
    uint8_t *img = slurp(path, &len);
    frame *f = walk_log(img, len, &nf, &end);
    assert_true(nf >= 2);
    assert_int_equal(f[nf - 1].rec.type, INMEM__REC_NEXT); /* the switch to segment 2 */
    assert_int_equal(f[nf - 1].rec.next_seq, 2);
    assert_int_equal(f[nf - 2].rec.type, INMEM__REC_TXN);
    const frame w = f[nf - 2];
    size_t b = w.off;
    uint64_t n1 = w.rec.version; /* the version of that transaction */
    free(f);
    img[w.off + w.size / 2] ^= 0x80;
    spit(path, img, len);

    db = NULL;
    assert_rc(INMEM_ECORRUPT, try_open(dir, INMEM_DURABILITY_ASYNC, 0, &db));
    assert_null(db);
    const char *msg = inmem_errmsg();
    CHECK(strstr(msg, SEG1) && mentions_number(msg, w.off), "message '%s' lacks %s or %zu", msg,
          SEG1, w.off);
    expect_file(path, img, len);
    assert_int_equal(count_segments(dir), files);

    recording_vfs = inmem__vfs_posix;
    recording_vfs.rename = rec_rename;
    recording_vfs.sync = rec_sync;
    memset(dir_ops, 0, sizeof dir_ops);
    atomic_store(&ndir_ops, 0);
    inmem__vfs_set(&recording_vfs);
    int rc = try_open(dir, INMEM_DURABILITY_ASYNC, 1, &db);
    inmem__vfs_set(NULL);
    CHECK(rc == 0, "repair: %s (%s)", inmem_errname(rc), inmem_errmsg());
    /* the segments set aside stay set aside after a machine crash: a directory fsync follows
     * the last rename before the open returns (else they could come back beside the commits
     * made after the repair, and the next open would fail) */
    const char *last_r = strrchr(dir_ops, 'R');
    CHECK(last_r && strchr(last_r, 'D'), "directory operations of the repair: '%s'", dir_ops);
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.repaired, 1);
    assert_string_equal(rec.repair_file, SEG1);
    assert_int_equal(rec.repair_offset, b);
    CHECK(rec.bytes_dropped == (end - b) + later_bytes, "bytes_dropped %llu, expected %llu",
          (unsigned long long)rec.bytes_dropped, (unsigned long long)((end - b) + later_bytes));
    /* exact: the damaged transaction and every one after it, across the dropped segments */
    CHECK(rec.txns_dropped == (uint64_t)nkeys - (n1 - 1), "txns_dropped %llu, expected %llu",
          (unsigned long long)rec.txns_dropped, (unsigned long long)((uint64_t)nkeys - (n1 - 1)));
    assert_int_equal(rec.txns_applied, n1 - 1);
    assert_int_equal(rec.version, n1 - 1);
    assert_int_equal(test_stats(db).version, n1 - 1);
    for (int i = 0; i < nkeys; i++) {
        snprintf(key, sizeof key, "s%04d", i);
        memset(val, 'a' + i % 26, sizeof val);
        if ((uint64_t)i + 1 < n1)
            expect_get(db, NULL, key, val, sizeof val, (uint64_t)i + 1);
        else
            expect_missing(db, NULL, key);
    }
    /* later segments are set aside, not deleted */
    for (uint64_t s = 2; s <= files; s++) {
        seg_path(path, sizeof path, dir, s);
        snprintf(moved, sizeof moved, "%s.dropped", path);
        CHECK(!file_exists(path) && file_exists(moved), "segment %llu not renamed *.dropped",
              (unsigned long long)s);
    }
    assert_int_equal(put_ok(db, NULL, "after", LIT("repair")), n1);
    assert_ok(inmem_db_close(db));
    db = open_db(dir, INMEM_DURABILITY_ASYNC);
    rec = recovery_of(db);
    assert_int_equal(rec.repaired, 0);
    assert_int_equal(rec.version, n1);
    expect_get(db, NULL, "after", "repair", 6, n1);
    assert_ok(inmem_db_close(db));
    free(img);
    test_rmdir(dir);
}

/* Fills @p dir (async) until segment 3 exists, then flips a byte in the last transaction of
 * segment 1: a repair must cut there and set segments 2 and later aside. */
static void damage_segment_one_with_more_after(const char *dir, int round)
{
    inmem_db *db = open_db(dir, INMEM_DURABILITY_ASYNC);
    uint8_t val[700];
    char key[32];
    for (int i = 0; i < 1000 && current_segment(db) < 3; i++) {
        snprintf(key, sizeof key, "r%d-%04d", round, i);
        memset(val, 'a' + i % 26, sizeof val);
        put_ok(db, NULL, key, val, sizeof val);
    }
    assert_ok(inmem_db_close(db));
    char path[4096];
    seg_path(path, sizeof path, dir, 1);
    size_t len, nf, end;
    uint8_t *img = slurp(path, &len);
    frame *f = walk_log(img, len, &nf, &end);
    assert_true(nf >= 2 && f[nf - 2].rec.type == INMEM__REC_TXN);
    img[f[nf - 2].off + f[nf - 2].size / 2] ^= 0x80;
    spit(path, img, len);
    free(f);
    free(img);
}

/* A segment number used again after a repair cut the log, then set aside by a second repair, never
 * replaces what the first one set aside (*.dropped is kept byte for byte): the second goes to
 * *.dropped.2. */
static void repair_twice_keeps_both_segments_set_aside(void **state)
{
    (void)state;
    char dir[64], seg2[4096], first[4200], second[4200];
    test_tmpdir(dir);
    seg_path(seg2, sizeof seg2, dir, 2);
    snprintf(first, sizeof first, "%s.dropped", seg2);
    snprintf(second, sizeof second, "%s.dropped.2", seg2);
    inmem_db *db = NULL;
    damage_segment_one_with_more_after(dir, 1);
    assert_ok(try_open(dir, INMEM_DURABILITY_ASYNC, 1, &db));
    assert_int_equal(recovery_of(db).repaired, 1);
    assert_ok(inmem_db_close(db));
    size_t len1;
    uint8_t *kept = slurp(first, &len1);
    damage_segment_one_with_more_after(dir, 2); /* segment 2 made anew, and set aside again */
    assert_ok(try_open(dir, INMEM_DURABILITY_ASYNC, 1, &db));
    assert_int_equal(recovery_of(db).repaired, 1);
    assert_ok(inmem_db_close(db));
    expect_file(first, kept, len1);
    assert_true(file_exists(second));
    db = open_db(dir, INMEM_DURABILITY_ASYNC); /* and the directory opens as a database */
    assert_int_equal(recovery_of(db).repaired, 0);
    assert_ok(inmem_db_close(db));
    free(kept);
    test_rmdir(dir);
}

static void corruption_valid_checksum_over_impossible_content_even_at_the_tail(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    size_t len, e;
    uint8_t *img = two_txn_log(dir, path, &len, &e);
    uint8_t *c = malloc(len);
    assert_non_null(c);
    uint8_t key[64];
    uint32_t kl = kv_key(key, "x");
    for (int variant = 0; variant < 4; variant++) {
        /* in place of the close mark, the last thing in the log: */
        memcpy(c, img, len);
        memset(c + e, 0, len - e);
        uint8_t *p = c + e;
        if (variant == 0) { /* a WRITE outside any transaction */
            inmem__wal_enc_write(p, 3, 0, key, kl, "x", 1);
        } else {
            size_t n = inmem__wal_enc_begin(p, 3, zero_run, 1, 0, 1);
            n += inmem__wal_enc_write(p + n, 3, 0, key, kl, "x", 1);
            if (variant == 1) /* a commit version that skips one */
                inmem__wal_enc_commit(p + n, 3, 5, 1);
            else if (variant == 2) /* a record count that does not match */
                inmem__wal_enc_commit(p + n, 3, 3, 2);
            else /* a commit of another transaction */
                inmem__wal_enc_commit(p + n, 4, 3, 1);
        }
        spit(path, c, len);
        inmem_db *db = NULL;
        int rc = try_open(dir, INMEM_DURABILITY_ASYNC, 0, &db);
        CHECK(rc == INMEM_ECORRUPT, "variant %d: open %s, expected INMEM_ECORRUPT", variant,
              inmem_errname(rc));
        assert_null(db);
        CHECK(strstr(inmem_errmsg(), SEG1), "variant %d: message '%s' lacks the file", variant,
              inmem_errmsg());
        expect_file(path, c, len);
        rc = try_open(dir, INMEM_DURABILITY_ASYNC, 1, &db);
        CHECK(rc == 0, "variant %d: repair %s", variant, inmem_errname(rc));
        inmem_recovery_info rec = recovery_of(db);
        assert_int_equal(rec.repaired, 1);
        assert_int_equal(rec.repair_offset, e);
        assert_int_equal(rec.version, 2);
        expect_missing(db, NULL, "x");
        expect_get(db, NULL, "b", "B", 1, 2);
        assert_ok(inmem_db_close(db));
    }
    free(c);
    free(img);
    test_rmdir(dir);
}

/* ---- foreign and newer files ---------------------------------------------------------------- */

/* A segment file whose header is not an inmem header (damaged, or someone else's file under a
 * segment's name) is corruption; repair sets it aside (*.dropped, never deleted) and counts the
 * transactions it held. A valid header of a newer format is INMEM_EVERSION, even with repair,
 * and never touched. */
static void foreign_or_newer_segment_is_refused_with_eversion(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    size_t len, e;
    uint8_t *img = two_txn_log(dir, path, &len, &e);
    uint8_t *c = malloc(len);
    assert_non_null(c);
    for (int variant = 0; variant < 2; variant++) {
        memcpy(c, img, len);
        if (variant == 0) {
            memcpy(c, "NOTMYLOG", 8); /* someone else's file */
        } else {
            inmem__put32(c + 8, 3); /* a newer format, with a header checksum that matches */
            inmem__put32(c + 36, inmem__crc32c(0, c, 36));
        }
        spit(path, c, len);
        for (int repair = 0; repair < 2; repair++) {
            inmem_db *db = NULL;
            int rc = try_open(dir, INMEM_DURABILITY_BATCHED, repair, &db);
            if (variant == 0 && repair) {
                CHECK(rc == 0, "variant 0: repair %s (%s)", inmem_errname(rc), inmem_errmsg());
                inmem_recovery_info rec = recovery_of(db);
                assert_int_equal(rec.repaired, 1);
                assert_string_equal(rec.repair_file, SEG1);
                assert_int_equal(rec.repair_offset, 0);
                assert_int_equal(rec.txns_dropped, 2);
                assert_int_equal(rec.version, 0);
                assert_ok(inmem_db_close(db));
                char moved[4200];
                snprintf(moved, sizeof moved, "%s.dropped", path);
                expect_file(moved, c, len); /* set aside whole */
                unlink(moved);
                continue;
            }
            int want = variant == 0 ? INMEM_ECORRUPT : INMEM_EVERSION;
            CHECK(rc == want, "variant %d repair %d: %s, expected %s", variant, repair,
                  inmem_errname(rc), inmem_errname(want));
            assert_null(db);
            CHECK(strstr(inmem_errmsg(), SEG1), "variant %d: message '%s' does not name the file",
                  variant, inmem_errmsg());
            expect_file(path, c, len); /* a refused open never touches it */
        }
    }
    spit(path, img, len);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_BATCHED);
    expect_get(db, NULL, "b", "B", 1, 2);
    assert_ok(inmem_db_close(db));
    free(c);
    free(img);
    test_rmdir(dir);
}

/* ---- incomplete transactions and determinism ------------------------------------------------ */

/* A transaction is always written whole before the next one begins, so a BEGIN inside an open
 * transaction means bytes were lost in the middle of the log: corruption, with the offset; repair
 * cuts there and counts the complete transaction after it. */
static void incomplete_transaction_between_commits_is_corruption(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_ASYNC);
    assert_int_equal(put_ok(db, NULL, "a", LIT("A")), 1);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put(t, NULL, LIT("b"), LIT("B")));
    assert_ok(inmem_kv_put(t, NULL, LIT("c"), LIT("C")));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_int_equal(put_ok(db, NULL, "d", LIT("D")), 3);
    assert_ok(inmem_db_close(db));

    size_t len, e;
    uint8_t *img = log_as_crashed(path, &len, &e);
    /* after the last commit: BEGIN + one WRITE of a two-record transaction, then a complete
     * transaction that takes the next version */
    uint8_t key[64];
    uint32_t kl = kv_key(key, "x");
    size_t n = inmem__wal_enc_begin(img + e, 4, zero_run, 1, TEST_LSN(1, e), 2);
    n += inmem__wal_enc_write(img + e + n, 4, 0, key, kl, "lost", 4);
    enc_txn(img + e + n, 5, 4, TEST_LSN(1, e), "y", "why");
    spit(path, img, len);

    size_t second = e + n; /* the BEGIN of the complete transaction */
    db = NULL;
    assert_rc(INMEM_ECORRUPT, try_open(dir, INMEM_DURABILITY_ASYNC, 0, &db));
    assert_null(db);
    const char *msg = inmem_errmsg();
    CHECK(strstr(msg, SEG1) && mentions_number(msg, second), "message '%s' lacks %s or %zu", msg,
          SEG1, second);
    expect_file(path, img, len);
    int rc = try_open(dir, INMEM_DURABILITY_ASYNC, 1, &db);
    CHECK(rc == 0, "repair: %s (%s)", inmem_errname(rc), inmem_errmsg());
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.repaired, 1);
    assert_int_equal(rec.repair_offset, e); /* the start of the incomplete transaction */
    /* version 4: the cut one and the complete one after it both carry it, and a version is one
     * committed transaction */
    assert_int_equal(rec.txns_dropped, 1);
    assert_int_equal(rec.txns_applied, 3);
    assert_int_equal(rec.version, 3);
    expect_get(db, NULL, "a", "A", 1, 1);
    expect_get(db, NULL, "b", "B", 1, 2);
    expect_get(db, NULL, "c", "C", 1, 2);
    expect_get(db, NULL, "d", "D", 1, 3);
    expect_missing(db, NULL, "x");
    expect_missing(db, NULL, "y");
    assert_ok(inmem_db_close(db));
    free(img);
    test_rmdir(dir);
}

static void incomplete_transaction_at_the_end_of_the_log_is_discarded(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    size_t len, e;
    uint8_t *img = two_txn_log(dir, path, &len, &e);
    memset(img + e, 0, len - e);
    uint8_t key[64];
    uint32_t kl = kv_key(key, "x");
    size_t n = inmem__wal_enc_begin(img + e, 3, zero_run, 1, TEST_LSN(1, e), 2);
    n += inmem__wal_enc_write(img + e + n, 3, 0, key, kl, "lost", 4);
    kl = kv_key(key, "z");
    inmem__wal_enc_write(img + e + n, 3, 0, key, kl, "lost", 4);
    spit(path, img, len);

    inmem_db *db = open_db(dir, INMEM_DURABILITY_ASYNC);
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.txns_applied, 2);
    assert_int_equal(rec.txns_discarded, 1);
    assert_int_equal(rec.version, 2);
    assert_int_equal(test_stats(db).version, 2);
    expect_missing(db, NULL, "x");
    expect_missing(db, NULL, "z");
    expect_get(db, NULL, "a", "A", 1, 1);
    expect_get(db, NULL, "b", "B", 1, 2);
    assert_int_equal(put_ok(db, NULL, "after", LIT("it")), 3);
    assert_ok(inmem_db_close(db));
    db = open_db(dir, INMEM_DURABILITY_ASYNC);
    rec = recovery_of(db);
    assert_int_equal(rec.txns_applied, 3);
    assert_int_equal(rec.txns_discarded, 0);
    assert_int_equal(rec.torn_tail, 0);
    expect_missing(db, NULL, "x");
    expect_missing(db, NULL, "z");
    expect_get(db, NULL, "after", "it", 2, 3);
    assert_ok(inmem_db_close(db));
    free(img);
    test_rmdir(dir);
}

static void replay_is_deterministic_same_log_same_state(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    uint64_t rng = test_seed("replay_is_deterministic_same_log_same_state");
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));
    inmem_db *db = open_db(dir, INMEM_DURABILITY_ASYNC);
    uint8_t val[600];
    char key[32];
    for (int op = 0; op < 400; op++) {
        int k = (int)(test_rand(&rng) % 60), kind = (int)(test_rand(&rng) % 10);
        const inmem_run_id *r = k % 3 ? NULL : &run;
        snprintf(key, sizeof key, "key%02d", k);
        size_t vl = test_rand(&rng) % sizeof val;
        for (size_t j = 0; j < vl; j++)
            val[j] = (uint8_t)test_rand(&rng);
        if (kind < 6) {
            assert_ok(inmem_put(db, r, key, strlen(key), val, vl, NULL));
        } else if (kind < 8) {
            assert_ok(inmem_delete(db, r, key, strlen(key), NULL));
        } else {
            inmem_txn *t;
            assert_ok(inmem_txn_begin(db, &t));
            for (int j = 0; j < 4; j++) {
                snprintf(key, sizeof key, "key%02d", (k + 7 * j) % 60);
                if (j == 3)
                    assert_ok(inmem_kv_delete(t, NULL, key, strlen(key)));
                else
                    assert_ok(inmem_kv_put(t, j == 1 ? &run : NULL, key, strlen(key), val,
                                           vl / (size_t)(j + 1)));
            }
            assert_ok(inmem_txn_commit(t));
            inmem_txn_free(t);
        }
    }
    dump live = {0}, d[2] = {{0}, {0}};
    dump_all(db, &run, &live);
    uint64_t version = test_stats(db).version;
    assert_ok(inmem_db_close(db));
    uint64_t files = count_segments(dir);
    assert_true(files >= 2 && files < 16);
    uint8_t *imgs[16];
    size_t lens[16];
    for (uint64_t s = 1; s <= files; s++) {
        seg_path(path, sizeof path, dir, s);
        imgs[s - 1] = slurp(path, &lens[s - 1]);
    }
    for (int round = 0; round < 2; round++) {
        for (uint64_t s = 1; round && s <= files; s++) { /* exactly the same files again */
            seg_path(path, sizeof path, dir, s);
            spit(path, imgs[s - 1], lens[s - 1]);
        }
        db = open_db(dir, INMEM_DURABILITY_ASYNC);
        assert_int_equal(test_stats(db).version, version);
        dump_all(db, &run, &d[round]);
        assert_ok(inmem_db_close(db));
    }
    CHECK(dump_equal(&live, &d[0]), "recovered state differs from the state before close");
    CHECK(dump_equal(&d[0], &d[1]), "two recoveries of the same log differ");
    for (uint64_t s = 1; s <= files; s++)
        free(imgs[s - 1]);
    dump_free(&live);
    dump_free(&d[0]);
    dump_free(&d[1]);
    test_rmdir(dir);
}

/* ---- damage in the last transaction, at every offset, in every mode ---------------------- */

static int try_open_opts(const char *dir, inmem_durability mode, int repair, int read_only,
                         inmem_db **out)
{
    inmem_options o;
    log_options_init(&o);
    o.durability = mode;
    o.wal_segment_size = SEG_SIZE;
    o.max_key_size = 65536;
    o.repair = repair;
    o.read_only = read_only;
    return inmem_db_open(dir, &o, out);
}

/* The frame of @p f holding byte @p o. */
static const frame *frame_at(const frame *f, size_t nf, size_t o)
{
    for (size_t i = 0; i < nf; i++)
        if (o >= f[i].off && o < f[i].off + f[i].size)
            return &f[i];
    return NULL;
}

/* Flips one byte at every offset of the last transaction of a log written in @p mode, closed
 * cleanly or not, and opens it:
 *   - after a clean close, the CLOSE mark proves every earlier byte was synced: every flip is
 *     corruption (INMEM_ECORRUPT naming the file and the bad frame's offset; the file is not
 *     touched, not by a read-only open either), and repair drops exactly that transaction;
 *   - after a crash (no CLOSE mark), the damaged frame is the last thing written, with nothing
 *     valid after it: a torn tail, cut at the transaction's start and reported with its size. */
static void damaged_last_transaction_in_mode(inmem_durability mode)
{
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    inmem_db *db = open_db(dir, mode);
    assert_int_equal(put_ok(db, NULL, "k1", LIT("one")), 1);
    assert_int_equal(put_ok(db, NULL, "k2", LIT("two")), 2);
    assert_int_equal(put_ok(db, NULL, "k3", LIT("three")), 3);
    dump before = {0}, got = {0};
    dump_db(db, NULL, "k", &before);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put(t, NULL, LIT("k1"), LIT("ONE")));
    assert_ok(inmem_kv_put(t, NULL, LIT("k4"), LIT("four")));
    assert_ok(inmem_kv_delete(t, NULL, LIT("k2")));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));

    size_t len, nf, end;
    uint8_t *img = slurp(path, &len);
    frame *f = walk_log(img, len, &nf, &end);
    assert_int_equal(f[nf - 1].rec.type, INMEM__REC_CLOSE);
    assert_int_equal(f[nf - 2].rec.type, INMEM__REC_TXN); /* the last transaction, one frame */
    size_t e = f[nf - 1].off, b = f[nf - 2].off;
    uint8_t *c = malloc(len);
    assert_non_null(c);
    for (int crash = 0; crash < 2; crash++) {
        for (size_t o = b; o < e; o++) {
            memcpy(c, img, len);
            if (crash)
                memset(c + e, 0, CLOSE_FRAME); /* a crash right after the last commit */
            c[o] ^= 0x5a;
            spit(path, c, len);
            const frame *bad = frame_at(f, nf, o);
            int torn = crash; /* the damaged frame is the last one written */
            db = NULL;
            int rc = try_open_opts(dir, mode, 0, 0, &db);
            if (torn) {
                CHECK(rc == 0, "crash, flip at %zu: %s (%s)", o, inmem_errname(rc), inmem_errmsg());
                inmem_recovery_info rec = recovery_of(db);
                size_t data = e - b; /* tail_bytes counts up to the last non-zero byte */
                while (data > 0 && c[b + data - 1] == 0)
                    data--;
                CHECK(rec.torn_tail == 1 && rec.tail_offset == b && rec.tail_bytes == data &&
                          strcmp(rec.tail_file, SEG1) == 0 && rec.version == 3,
                      "crash, flip at %zu: torn %d at %llu (%llu bytes), version %llu", o,
                      rec.torn_tail, (unsigned long long)rec.tail_offset,
                      (unsigned long long)rec.tail_bytes, (unsigned long long)rec.version);
                dump_db(db, NULL, "k", &got);
                CHECK(dump_equal(&got, &before), "crash, flip at %zu: wrong state", o);
                dump_free(&got);
                assert_ok(inmem_db_close(db));
                continue;
            }
            CHECK(rc == INMEM_ECORRUPT, "%s, flip at %zu (frame at %zu): %s, expected ECORRUPT",
                  crash ? "crash" : "clean close", o, bad->off, inmem_errname(rc));
            assert_null(db);
            const char *msg = inmem_errmsg();
            CHECK(strstr(msg, SEG1) && mentions_number(msg, bad->off),
                  "flip at %zu: message '%s' lacks %s or %zu", o, msg, SEG1, bad->off);
            expect_file(path, c, len);
            /* inspection changes nothing and says the same */
            assert_rc(INMEM_ECORRUPT, try_open_opts(dir, mode, 0, 1, &db));
            assert_ok(try_open_opts(dir, mode, 1, 1, &db));
            inmem_recovery_info rec = recovery_of(db);
            CHECK(rec.repaired == 1 && rec.repair_offset == b && rec.txns_dropped == 1,
                  "read-only repair view, flip at %zu: repaired %d at %llu, %llu txns", o,
                  rec.repaired, (unsigned long long)rec.repair_offset,
                  (unsigned long long)rec.txns_dropped);
            assert_ok(inmem_db_close(db));
            expect_file(path, c, len);
            /* repair drops exactly the damaged transaction */
            rc = try_open_opts(dir, mode, 1, 0, &db);
            CHECK(rc == 0, "repair, flip at %zu: %s (%s)", o, inmem_errname(rc), inmem_errmsg());
            rec = recovery_of(db);
            CHECK(rec.repaired == 1 && rec.repair_offset == b && rec.txns_dropped == 1 &&
                      rec.version == 3 && strcmp(rec.repair_file, SEG1) == 0,
                  "repair, flip at %zu: repaired %d at %llu, %llu txns dropped, version %llu", o,
                  rec.repaired, (unsigned long long)rec.repair_offset,
                  (unsigned long long)rec.txns_dropped, (unsigned long long)rec.version);
            dump_db(db, NULL, "k", &got);
            CHECK(dump_equal(&got, &before), "repair, flip at %zu: wrong state", o);
            dump_free(&got);
            assert_ok(inmem_db_close(db));
        }
    }
    free(c);
    free(f);
    free(img);
    dump_free(&before);
    test_rmdir(dir);
}

static void damaged_last_transaction_at_every_offset_async(void **state)
{
    (void)state;
    damaged_last_transaction_in_mode(INMEM_DURABILITY_ASYNC);
}

static void damaged_last_transaction_at_every_offset_batched(void **state)
{
    (void)state;
    damaged_last_transaction_in_mode(INMEM_DURABILITY_BATCHED);
}

static void damaged_last_transaction_at_every_offset_strict(void **state)
{
    (void)state;
    damaged_last_transaction_in_mode(INMEM_DURABILITY_STRICT);
}

/* ---- damage to whole segments ------------------------------------------------------------- */

/* ---- a crash in the middle of a value that holds a log ----------------------------------- */

/* A process killed while its commit copies a value into the log leaves a torn frame whose body
 * is what was copied so far. When the value is itself a log — a copy of this database's own
 * segment (an agent backing itself up into a key), or another database's records — that body
 * holds frames with valid checksums, and recovery, which takes a valid frame after damage as
 * proof that the damage is not the end of what was written, called the torn tail corruption:
 * the database did not open after a plain crash, and repair counted the copied frames' versions
 * as transactions dropped. A frame of this log after damage carries a version that follows the
 * last one read, within as many as the bytes between could hold. */
static void torn_write_of_a_value_holding_a_log_is_a_torn_tail_in_mode(inmem_durability mode)
{
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    inmem_db *db = open_db(dir, mode);
    assert_int_equal(put_ok(db, NULL, "k1", LIT("one")), 1);
    assert_int_equal(put_ok(db, NULL, "k2", LIT("two")), 2);
    assert_int_equal(put_ok(db, NULL, "k3", LIT("three")), 3);
    dump before = {0}, got = {0};
    dump_db(db, NULL, "k", &before);
    /* the value: this segment so far (its header and the frames of versions 1-3), frames of
     * another database (an older or younger one), and a close mark of this log's past */
    size_t seglen;
    uint8_t *seg = slurp(path, &seglen);
    size_t own = 0;
    free(walk_log(seg, seglen, &(size_t){0}, &own)); /* where this segment's records end */
    uint8_t foreign[4 * 64], *q = foreign;
    q += inmem__wal_enc_close(q, 12345, 12345);
    q += inmem__wal_enc_next(q, 7, 9999, 9999);
    q += inmem__wal_enc_commit(q, 500, 500, 1);
    uint8_t mark[CLOSE_FRAME]; /* a close mark naming version 2: this log's past */
    inmem__wal_enc_close(mark, 2, 2);
    size_t vlen = own + (size_t)(q - foreign) + sizeof mark + 4096;
    uint8_t *val = malloc(vlen);
    assert_non_null(val);
    memcpy(val, seg, own);
    memcpy(val + own, foreign, (size_t)(q - foreign));
    memcpy(val + own + (q - foreign), mark, sizeof mark);
    memset(val + own + (q - foreign) + sizeof mark, 'v', 4096);
    free(seg);
    assert_int_equal(put_ok(db, NULL, "backup", val, vlen), 4);
    assert_ok(inmem_db_close(db));

    size_t len, nf, end;
    uint8_t *img = slurp(path, &len);
    frame *f = walk_log(img, len, &nf, &end);
    assert_int_equal(f[nf - 1].rec.type, INMEM__REC_CLOSE);
    assert_int_equal(f[nf - 2].rec.type, INMEM__REC_TXN);
    size_t b = f[nf - 2].off;
    uint8_t *in = memmem(img + b, f[nf - 2].size, val, vlen); /* the value inside the frame */
    assert_non_null(in);
    size_t copied[] = {own + (size_t)(q - foreign) + sizeof mark, vlen - 1};
    for (size_t c = 0; c < sizeof copied / sizeof copied[0]; c++) {
        /* the crash: the copy had gone this far; its checksum, and the close mark, never
         * written; the length too, as the writer stores it last */
        uint8_t *t = malloc(len);
        assert_non_null(t);
        memcpy(t, img, len);
        size_t cut = (size_t)(in - img) + copied[c];
        memset(t + cut, 0, len - cut);
        memset(t + b, 0, 4);
        spit(path, t, len);
        db = NULL;
        int rc = try_open_opts(dir, mode, 0, 0, &db);
        CHECK(rc == 0, "crash after %zu bytes of the value: %s (%s)", copied[c], inmem_errname(rc),
              inmem_errmsg());
        inmem_recovery_info rec = recovery_of(db);
        CHECK(rec.torn_tail == 1 && rec.tail_offset == b && rec.version == 3 &&
                  rec.txns_discarded == 1,
              "crash after %zu bytes: torn %d at %llu, version %llu, discarded %llu", copied[c],
              rec.torn_tail, (unsigned long long)rec.tail_offset, (unsigned long long)rec.version,
              (unsigned long long)rec.txns_discarded);
        dump_db(db, NULL, "k", &got);
        CHECK(dump_equal(&got, &before), "crash after %zu bytes: wrong state", copied[c]);
        dump_free(&got);
        expect_missing(db, NULL, "backup");
        assert_ok(inmem_db_close(db));
        spit(path, img, len); /* (the close above wrote its mark into the file again) */
        free(t);
    }
    free(f);
    free(img);
    free(val);
    dump_free(&before);
    test_rmdir(dir);
}

static void torn_write_of_a_value_holding_a_log_is_a_torn_tail_batched(void **state)
{
    (void)state;
    torn_write_of_a_value_holding_a_log_is_a_torn_tail_in_mode(INMEM_DURABILITY_BATCHED);
}

static void torn_write_of_a_value_holding_a_log_is_a_torn_tail_strict(void **state)
{
    (void)state;
    torn_write_of_a_value_holding_a_log_is_a_torn_tail_in_mode(INMEM_DURABILITY_STRICT);
}

/* Fills segments 1..3 (and part of 4) with single-put transactions of 700-byte values s0000..;
 * returns how many were committed. */
static int fill_segments(const char *dir, int last_seq)
{
    char key[32];
    uint8_t val[700];
    inmem_db *db = open_db(dir, INMEM_DURABILITY_ASYNC);
    int n = 0;
    for (;; n++) {
        snprintf(key, sizeof key, "s%04d", n);
        memset(val, 'a' + n % 26, sizeof val);
        assert_int_equal(put_ok(db, NULL, key, val, sizeof val), (uint64_t)n + 1);
        if (current_segment(db) == (uint64_t)last_seq)
            break;
    }
    n++;
    /* a few in the last segment too */
    for (int k = 0; k < 5; k++, n++) {
        snprintf(key, sizeof key, "s%04d", n);
        memset(val, 'a' + n % 26, sizeof val);
        assert_int_equal(put_ok(db, NULL, key, val, sizeof val), (uint64_t)n + 1);
    }
    assert_ok(inmem_db_close(db));
    return n;
}

/* Committed transactions (COMMIT frames) in segment @p seq of @p dir. */
static uint64_t commits_in(const char *dir, uint64_t seq)
{
    char path[4096];
    seg_path(path, sizeof path, dir, seq);
    size_t len, nf, end;
    uint8_t *img = slurp(path, &len);
    frame *f = walk_log(img, len, &nf, &end);
    uint64_t n = 0;
    for (size_t i = 0; i < nf; i++)
        n += f[i].rec.type == INMEM__REC_COMMIT || f[i].rec.type == INMEM__REC_TXN;
    free(f);
    free(img);
    return n;
}

/* Checks that keys s0000..s(keep-1) are there and s(keep).. are not. */
static void expect_prefix(inmem_db *db, int keep, int total)
{
    char key[32];
    uint8_t val[700];
    for (int i = 0; i < total; i++) {
        snprintf(key, sizeof key, "s%04d", i);
        memset(val, 'a' + i % 26, sizeof val);
        if (i < keep)
            expect_get(db, NULL, key, val, sizeof val, (uint64_t)i + 1);
        else
            expect_missing(db, NULL, key);
    }
}

/* The last segment zeroed at its start, cut to 0 bytes, or deleted after a segment whose NEXT
 * record says the log goes on there: never "a crash while creating it" (segments are renamed
 * into place only once their header is synced), always corruption naming it; repair drops
 * exactly the transactions it held. */
static void last_segment_zeroed_truncated_or_deleted_is_corruption(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        char dir[64], path[4096];
        test_tmpdir(dir);
        int total = fill_segments(dir, 2);
        uint64_t in2 = commits_in(dir, 2), in1 = commits_in(dir, 1);
        assert_int_equal(in1 + in2, (uint64_t)total);
        seg_path(path, sizeof path, dir, 2);
        size_t len;
        uint8_t *img = slurp(path, &len);
        if (variant == 0) { /* the first page zeroed: header and the first records */
            memset(img, 0, 4096);
            spit(path, img, len);
        } else if (variant == 1) {
            spit(path, img, 0);
        } else {
            unlink(path);
        }
        inmem_db *db = NULL;
        assert_rc(INMEM_ECORRUPT, try_open(dir, INMEM_DURABILITY_ASYNC, 0, &db));
        assert_null(db);
        CHECK(strstr(inmem_errmsg(), "wal-0000000000000002.log"),
              "variant %d: message '%s' does not name segment 2", variant, inmem_errmsg());
        assert_rc(INMEM_ECORRUPT, try_open_opts(dir, INMEM_DURABILITY_ASYNC, 0, 1, &db));
        int rc = try_open(dir, INMEM_DURABILITY_ASYNC, 1, &db);
        CHECK(rc == 0, "variant %d: repair %s (%s)", variant, inmem_errname(rc), inmem_errmsg());
        inmem_recovery_info rec = recovery_of(db);
        assert_int_equal(rec.repaired, 1);
        assert_string_equal(rec.repair_file, "wal-0000000000000002.log");
        assert_int_equal(rec.version, in1);
        /* zeroed: what is left of it (its close mark) says how many were lost; cut to nothing or
         * deleted: nothing is left to count */
        if (variant == 0)
            CHECK(rec.txns_dropped == in2, "variant 0: %llu txns dropped of %llu",
                  (unsigned long long)rec.txns_dropped, (unsigned long long)in2);
        else
            assert_int_equal(rec.txns_dropped, 0);
        expect_prefix(db, (int)in1, total);
        assert_int_equal(put_ok(db, NULL, "after", LIT("repair")), in1 + 1);
        assert_ok(inmem_db_close(db));
        db = open_db(dir, INMEM_DURABILITY_ASYNC);
        rec = recovery_of(db);
        assert_int_equal(rec.repaired, 0);
        assert_int_equal(rec.version, in1 + 1);
        expect_get(db, NULL, "after", "repair", 6, in1 + 1);
        assert_ok(inmem_db_close(db));
        free(img);
        test_rmdir(dir);
    }
}

/* Damage in the middle of a multi-segment log: one flip in the zero tail of a segment (after its
 * NEXT record) loses nothing, and repair drops nothing; a bad header or a missing segment in
 * the middle drops everything from there, counted exactly. */
static void repair_in_the_middle_keeps_the_longest_prefix_with_exact_counts(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        char dir[64], path[4096], moved[4200];
        test_tmpdir(dir);
        int total = fill_segments(dir, 4);
        uint64_t in[5] = {0};
        for (uint64_t s = 1; s <= 4; s++)
            in[s] = commits_in(dir, s);
        assert_int_equal(in[1] + in[2] + in[3] + in[4], (uint64_t)total);
        seg_path(path, sizeof path, dir, 2);
        size_t len, nf, end;
        uint8_t *img = slurp(path, &len);
        if (variant == 0) {
            frame *f = walk_log(img, len, &nf, &end);
            assert_int_equal(f[nf - 1].rec.type, INMEM__REC_NEXT);
            free(f);
            img[end + 100] ^= 0x10; /* in the zeros after the NEXT record */
            spit(path, img, len);
        } else if (variant == 1) {
            img[3] ^= 0x01; /* the header's magic */
            spit(path, img, len);
        } else {
            unlink(path);
        }
        inmem_db *db = NULL;
        assert_rc(INMEM_ECORRUPT, try_open(dir, INMEM_DURABILITY_ASYNC, 0, &db));
        CHECK(strstr(inmem_errmsg(), "wal-0000000000000002.log"),
              "variant %d: message '%s' does not name segment 2", variant, inmem_errmsg());
        int rc = try_open(dir, INMEM_DURABILITY_ASYNC, 1, &db);
        CHECK(rc == 0, "variant %d: repair %s (%s)", variant, inmem_errname(rc), inmem_errmsg());
        inmem_recovery_info rec = recovery_of(db);
        assert_int_equal(rec.repaired, 1);
        assert_string_equal(rec.repair_file, "wal-0000000000000002.log");
        uint64_t keep = variant == 0 ? (uint64_t)total : in[1];
        /* every version after the last kept one: segment 2's too, even when it is gone (the
         * versions after it say how many it held) */
        uint64_t dropped = variant == 0 ? 0 : in[2] + in[3] + in[4];
        CHECK(rec.version == keep && rec.txns_dropped == dropped,
              "variant %d: version %llu (expected %llu), %llu txns dropped (expected %llu)",
              variant, (unsigned long long)rec.version, (unsigned long long)keep,
              (unsigned long long)rec.txns_dropped, (unsigned long long)dropped);
        if (variant == 0)
            assert_int_equal(rec.repair_offset, end);
        expect_prefix(db, (int)keep, total);
        for (uint64_t s = 2; s <= 4; s++) { /* what was dropped is set aside, never deleted */
            seg_path(path, sizeof path, dir, s);
            snprintf(moved, sizeof moved, "%s.dropped", path);
            int gone = variant == 0 ? 0 : variant == 1 ? 1 : s > 2;
            CHECK(file_exists(moved) == gone, "variant %d: segment %llu %s set aside", variant,
                  (unsigned long long)s, gone ? "not" : "wrongly");
        }
        assert_int_equal(put_ok(db, NULL, "after", LIT("repair")), keep + 1);
        assert_ok(inmem_db_close(db));
        db = open_db(dir, INMEM_DURABILITY_ASYNC);
        rec = recovery_of(db);
        assert_int_equal(rec.repaired, 0);
        assert_int_equal(rec.version, keep + 1);
        expect_prefix(db, (int)keep, total);
        assert_ok(inmem_db_close(db));
        free(img);
        test_rmdir(dir);
    }
}

/* A crash's log ends in zeros to the end of its segment; a stray byte anywhere in them makes the
 * tail torn, measured to that byte: near the end of the log, far from it, on either side of the
 * buffer the zeros are read in (64 KiB, from the segment's end), and as the segment's last byte. */
static void recovery_finds_a_stray_byte_anywhere_in_the_zeros_after_the_log(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    inmem_options o; /* segments of 1 MiB and more: the zeros are read 64 KiB at a time */
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_ASYNC;
    o.checkpoint_log_ratio = 0;
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(dir, &o, &db));
    assert_ok(inmem_put(db, NULL, "a", 1, "A", 1, NULL));
    assert_ok(inmem_put(db, NULL, "b", 1, "B", 1, NULL));
    assert_ok(inmem_db_close(db));
    size_t len, e;
    uint8_t *img = log_as_crashed(path, &len, &e); /* after the second commit */
    CHECK(len > e + 4 * 65536, "segment of %zu bytes, log ends at %zu", len, e);
    size_t at[] = {e + 1, e + 70000, len / 2 + 1, len - 65537, len - 65536, len - 65535, len - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        img[at[i]] = 0x5a;
        spit(path, img, len);
        db = NULL;
        assert_ok(try_open_opts(dir, INMEM_DURABILITY_BATCHED, 0, 1, &db));
        inmem_recovery_info rec = recovery_of(db);
        CHECK(rec.torn_tail == 1 && rec.tail_offset == e && rec.tail_bytes == at[i] + 1 - e &&
                  rec.version == 2,
              "stray byte at %zu: torn %d at %llu, %llu bytes, version %llu", at[i], rec.torn_tail,
              (unsigned long long)rec.tail_offset, (unsigned long long)rec.tail_bytes,
              (unsigned long long)rec.version);
        assert_ok(inmem_db_close(db));
        img[at[i]] = 0;
    }
    /* and none: the log simply ends */
    spit(path, img, len);
    db = NULL;
    assert_ok(try_open_opts(dir, INMEM_DURABILITY_BATCHED, 0, 1, &db));
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.torn_tail, 0);
    assert_int_equal(rec.version, 2);
    assert_ok(inmem_db_close(db));
    free(img);
    test_rmdir(dir);
}

/* ---- inspection -------------------------------------------------------------------------- */

/* A read-only open changes no byte of any file, whatever it finds; it reports what a writable
 * open would cut, which then cuts exactly that. */
static void read_only_open_never_changes_a_file_and_reports_what_recovery_would_cut(void **state)
{
    (void)state;
    char dir[64], path[4096], lock[4200];
    test_tmpdir(dir);
    seg_path(path, sizeof path, dir, 1);
    size_t len, e;
    uint8_t *img = two_txn_log(dir, path, &len, &e);
    /* a crash in the middle of a third transaction: BEGIN and half a WRITE, no CLOSE */
    memset(img + e, 0, len - e);
    uint8_t tx[256];
    size_t n = enc_txn(tx, 3, 3, 0, "c", "sea");
    memcpy(img + e, tx, n / 2);
    spit(path, img, len);
    size_t data = n / 2; /* the tail's size: up to its last non-zero byte */
    while (data > 0 && img[e + data - 1] == 0)
        data--;
    snprintf(lock, sizeof lock, "%s/LOCK", dir);
    size_t llen;
    uint8_t *lock_before = slurp(lock, &llen);
    inmem_db *db = NULL;
    assert_ok(try_open_opts(dir, INMEM_DURABILITY_BATCHED, 0, 1, &db));
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.torn_tail, 1);
    assert_int_equal(rec.tail_offset, e);
    assert_int_equal(rec.tail_bytes, data);
    assert_int_equal(rec.live_writer, 0);
    assert_int_equal(rec.version, 2);
    assert_rc(INMEM_EREADONLY, inmem_put(db, NULL, "x", 1, "y", 1, NULL));
    assert_ok(inmem_db_close(db));
    expect_file(path, img, len);
    expect_file(lock, lock_before, llen);
    free(lock_before);
    /* the writable open cuts what the read-only one reported */
    db = open_db(dir, INMEM_DURABILITY_BATCHED);
    rec = recovery_of(db);
    assert_int_equal(rec.torn_tail, 1);
    assert_int_equal(rec.tail_offset, e);
    assert_int_equal(rec.tail_bytes, data);
    assert_ok(inmem_db_close(db));
    size_t now_len;
    uint8_t *now = slurp(path, &now_len);
    for (size_t i = e + CLOSE_FRAME; i < e + n / 2; i++)
        CHECK(now[i] == 0, "byte %zu of the torn transaction was not cut", i);
    free(now);
    free(img);
    test_rmdir(dir);
}

/* Files that are not segments are never read as segments. */
static void stray_files_with_segment_like_names_are_ignored(void **state)
{
    (void)state;
    char dir[64], path[4096];
    test_tmpdir(dir);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_BATCHED);
    assert_int_equal(put_ok(db, NULL, "k", LIT("v")), 1);
    assert_ok(inmem_db_close(db));
    const char *stray[] = {"wal-0x00000000000002.log", "wal-0000000000000002.LOG",
                           "wal-000000000000000A.log", "wal-00000000000000002.log",
                           "wal-000000000000002.log"};
    for (size_t i = 0; i < sizeof stray / sizeof stray[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, stray[i]);
        spit(path, "garbage", 7);
    }
    db = open_db(dir, INMEM_DURABILITY_BATCHED);
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.segments, 1);
    assert_int_equal(rec.version, 1);
    expect_get(db, NULL, "k", "v", 1, 1);
    assert_ok(inmem_db_close(db));
    for (size_t i = 0; i < sizeof stray / sizeof stray[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, stray[i]);
        expect_file(path, (const uint8_t *)"garbage", 7); /* untouched */
        unlink(path);
    }
    test_rmdir(dir);
}

/* ---- older formats -------------------------------------------------------------------------- */

/* tests/fixtures/v1-db, written by inmem 0.1.0 in log format 1 (see tests/fixtures/README.md),
 * opens with every commit and its exact version; new commits go to a segment of format 2, and
 * the whole log reopens. */
static void format_1_database_opens_with_every_commit(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    copy_dir_files("tests/fixtures/v1-db", dir);
    for (int round = 0; round < 2; round++) {
        inmem_db *db = open_db(dir, INMEM_DURABILITY_BATCHED);
        inmem_recovery_info rec = recovery_of(db);
        uint64_t want = round ? 172 : 171;
        CHECK(rec.version == want && rec.torn_tail == 0 && rec.repaired == 0,
              "round %d: version %llu", round, (unsigned long long)rec.version);
        char key[16];
        uint8_t val[600];
        for (int i = 0; i < 150; i++) {
            snprintf(key, sizeof key, "key%03d", i);
            memset(val, 'a' + i % 26, sizeof val);
            if (i == 0 || i % 10 == 1)
                expect_missing(db, NULL, key);
            else
                expect_get(db, NULL, key, val, sizeof val, (uint64_t)i + 1);
        }
        expect_get(db, NULL, "multi-a", "A", 1, 151);
        expect_get(db, NULL, "multi-b", "B", 1, 151);
        expect_get(db, NULL, "ttl-forever", "T", 1, 167);
        inmem_run_id run;
        memset(&run, 0x11, sizeof run);
        inmem_run_info info;
        assert_ok(inmem_run_get_db(db, &run, &info));
        assert_string_equal(info.tenant, "fixture");
        inmem_stream_info si;
        assert_ok(inmem_event_stream_info_db(db, &run, "log", &si));
        assert_int_equal(si.length, 2);
        uint64_t broken = 1;
        assert_ok(inmem_event_verify_db(db, &run, "log", &broken));
        assert_int_equal(broken, 0);
        void *cell = NULL;
        size_t cl = 0;
        assert_ok(inmem_state_get_db(db, &run, "cell", &cell, &cl, NULL));
        assert_int_equal(cl, 7);
        assert_memory_equal(cell, "state-1", 7);
        inmem_free(cell);
        if (round == 0)
            assert_int_equal(put_ok(db, NULL, "new", LIT("in format 2")), 172);
        else
            expect_get(db, NULL, "new", "in format 2", 11, 172);
        assert_ok(inmem_db_close(db));
    }
    /* the new commit went to a new segment, of format 2 */
    char path[4096];
    uint64_t n = count_segments(dir);
    assert_true(n >= 3);
    seg_path(path, sizeof path, dir, n);
    size_t len;
    uint8_t *img = slurp(path, &len);
    assert_int_equal(inmem__get32(img + 8), INMEM__WAL_FORMAT);
    free(img);
    test_rmdir(dir);
}

/* A segment whose records end less than a NEXT frame before its end: what a clean close left in
 * a format-1 log written before room for both end marks was kept (its CLOSE mark went into the
 * room kept for one mark, leaving 8 bytes), and any such log of either format. The open that
 * switches to a new segment (format 1: always; format 2: no room for a CLOSE and a NEXT) must not
 * write its NEXT record past the end of the segment: the log opens, appends and reopens. */
static void a_segment_without_room_for_an_end_mark_opens_and_goes_on(void **state)
{
    (void)state;
    for (uint32_t format = INMEM__WAL_FORMAT_OLD; format <= INMEM__WAL_FORMAT; format++) {
        char dir[64], path[4096];
        test_tmpdir(dir);
        seg_path(path, sizeof path, dir, 1);
        enum { SIZE = 4096, LEFT = 8 };
        uint8_t img[SIZE] = {0}, pad[SIZE];
        memset(pad, 'p', sizeof pad);
        inmem__wal_enc_header(img, 1, SIZE);
        inmem__put32(img + 8, format);
        inmem__put32(img + 36, inmem__crc32c(0, img, 36));
        size_t off = INMEM__WAL_HEADER;
        off += enc_txn(img + off, 1, 1, 0, "a", "A");
        /* a record of an unknown type (skipped) fills the segment up to its close mark */
        size_t padlen = SIZE - LEFT - CLOSE_FRAME - off - INMEM__WAL_FRAME;
        off += enc_raw(img + off, 200, pad, (uint32_t)padlen);
        off += inmem__wal_enc_close(img + off, 1, 1);
        assert_int_equal(off, SIZE - LEFT);
        spit(path, img, sizeof img);
        for (int round = 0; round < 2; round++) {
            inmem_db *db = NULL;
            int rc = try_open(dir, INMEM_DURABILITY_BATCHED, 0, &db);
            CHECK(rc == 0, "format %u, round %d: open: %s (%s)", format, round, inmem_errname(rc),
                  inmem_errmsg());
            expect_get(db, NULL, "a", "A", 1, 1);
            if (round == 0)
                assert_int_equal(put_ok(db, NULL, "b", LIT("B")), 2);
            else
                expect_get(db, NULL, "b", "B", 1, 2);
            assert_ok(inmem_db_close(db));
        }
        test_rmdir(dir);
    }
}

/* ---- table -------------------------------------------------------------------------------- */

const struct CMUnitTest wal_recovery_tests[] = {
    cmocka_unit_test(format_1_database_opens_with_every_commit),
    cmocka_unit_test(damaged_last_transaction_at_every_offset_async),
    cmocka_unit_test(damaged_last_transaction_at_every_offset_batched),
    cmocka_unit_test(damaged_last_transaction_at_every_offset_strict),
    cmocka_unit_test(torn_write_of_a_value_holding_a_log_is_a_torn_tail_batched),
    cmocka_unit_test(torn_write_of_a_value_holding_a_log_is_a_torn_tail_strict),
    cmocka_unit_test(last_segment_zeroed_truncated_or_deleted_is_corruption),
    cmocka_unit_test(repair_in_the_middle_keeps_the_longest_prefix_with_exact_counts),
    cmocka_unit_test(recovery_finds_a_stray_byte_anywhere_in_the_zeros_after_the_log),
    cmocka_unit_test(read_only_open_never_changes_a_file_and_reports_what_recovery_would_cut),
    cmocka_unit_test(stray_files_with_segment_like_names_are_ignored),
    cmocka_unit_test(recovery_skips_a_record_of_unknown_type),
    cmocka_unit_test(torn_tail_truncated_file_loses_only_the_last_transaction),
    cmocka_unit_test(torn_tail_zeroed_rest_loses_only_the_last_transaction),
    cmocka_unit_test(corruption_bad_frame_followed_by_a_valid_record_is_never_a_torn_tail),
    cmocka_unit_test(close_mark_with_bytes_after_it_is_judged_like_any_tail),
    cmocka_unit_test(corruption_before_a_close_mark_fails_open_then_repair_keeps_the_prefix),
    cmocka_unit_test_teardown(corruption_in_a_non_last_segment_is_never_a_torn_tail, restore_posix),
    cmocka_unit_test(repair_twice_keeps_both_segments_set_aside),
    cmocka_unit_test(corruption_valid_checksum_over_impossible_content_even_at_the_tail),
    cmocka_unit_test(foreign_or_newer_segment_is_refused_with_eversion),
    cmocka_unit_test(incomplete_transaction_between_commits_is_corruption),
    cmocka_unit_test(incomplete_transaction_at_the_end_of_the_log_is_discarded),
    cmocka_unit_test(replay_is_deterministic_same_log_same_state),
    cmocka_unit_test(a_segment_without_room_for_an_end_mark_opens_and_goes_on),
};

INMEM_TEST_COUNT(wal_recovery);
