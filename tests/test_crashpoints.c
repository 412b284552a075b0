/*
 * test_crashpoints.c — crash points enumerated, not sampled: a small strict-mode workload runs
 * with the log's test hook, which copies the log files after every append and every fsync.
 * Each copy is a crash at that point:
 *   - process crash: everything appended is in the page cache, so recovery must bring back
 *     exactly the transactions appended so far;
 *   - power loss: whatever was not yet fsynced is lost (zeroed here), so recovery must bring back
 *     exactly the transactions below the last fsync — and in strict mode, every acknowledged one.
 * Each recovered state is checked key by key against a model of the workload.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "engine/db.h"
#include "wal/codec.h"

#define TXNS       40
#define MAX_POINTS 200

struct point {
    char dir[64];
    int appended;        /* transactions appended when the copy was taken */
    int synced;          /* transactions fully below the synced LSN */
    uint64_t synced_lsn; /* LSN known durable */
};

struct rec {
    const char *dbdir;
    struct point pts[MAX_POINTS];
    int npts;
    int appended;
    uint64_t end_lsn[TXNS + 1]; /* end LSN of transaction i (1-based) */
    uint64_t synced_lsn;
};

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY);
    if (in < 0 && errno == ENOENT)
        return; /* the next segment, made ahead, renamed between the listing and here: a crash
                   just before it was made */
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(in >= 0 && out >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

static void snapshot(struct rec *r)
{
    assert_true(r->npts < MAX_POINTS);
    struct point *p = &r->pts[r->npts++];
    test_tmpdir(p->dir);
    p->appended = r->appended;
    p->synced_lsn = r->synced_lsn;
    p->synced = 0;
    for (int i = 1; i <= r->appended; i++)
        if (r->end_lsn[i] <= r->synced_lsn)
            p->synced = i;
    DIR *d = opendir(r->dbdir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "wal-", 4) == 0) {
            char a[512], b[512];
            snprintf(a, sizeof a, "%s/%s", r->dbdir, e->d_name);
            snprintf(b, sizeof b, "%s/%s", p->dir, e->d_name);
            copy_file(a, b);
        }
    closedir(d);
}

static void hook(void *ctx, int synced, uint64_t seq, uint64_t off)
{
    uint64_t lsn = seq << 40 | off; /* (this test's own order of log positions) */
    struct rec *r = ctx;
    if (synced) {
        r->synced_lsn = lsn;
    } else {
        r->appended++;
        r->end_lsn[r->appended] = lsn;
    }
    snapshot(r);
}

/* Transaction i (1-based) writes k<i> = "v<i>" and "last" = i, and deletes k<i-3> if i % 4 == 0.
 * Its commit version is i + 1 (version 1 is the setup write). */
static int txn_body(inmem_txn *t, int i)
{
    char k[16], v[16];
    int kl = snprintf(k, sizeof k, "k%d", i), vl = snprintf(v, sizeof v, "v%d", i);
    int rc = inmem_kv_put(t, NULL, k, (size_t)kl, v, (size_t)vl);
    if (rc == 0)
        rc = inmem_kv_put(t, NULL, "last", 4, &i, sizeof i);
    if (rc == 0 && i % 4 == 0) {
        kl = snprintf(k, sizeof k, "k%d", i - 3);
        rc = inmem_kv_delete(t, NULL, k, (size_t)kl);
    }
    return rc;
}

/* Checks that @p db holds exactly the state after transactions 1..m. */
static void check_state(inmem_db *db, int m, const char *where)
{
    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    if (s.version != (uint64_t)m + 1)
        fail_msg("%s: version %llu, expected %d", where, (unsigned long long)s.version, m + 1);
    for (int i = 1; i <= TXNS; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "k%d", i);
        int deleted = (i + 3) % 4 == 0 && i + 3 <= m; /* deleted by transaction i + 3 */
        int want = i <= m && !deleted;
        uint64_t ver = 0;
        int rc = inmem_get(db, NULL, k, (size_t)kl, NULL, NULL, &ver);
        if (want && (rc != 0 || ver != (uint64_t)i + 1))
            fail_msg("%s: %s missing or wrong version (%s, %llu)", where, k, inmem_errname(rc),
                     (unsigned long long)ver);
        if (!want && rc != INMEM_NOTFOUND)
            fail_msg("%s: %s present after %d transactions", where, k, m);
    }
    void *v = NULL;
    int rc = inmem_get(db, NULL, "last", 4, &v, NULL, NULL);
    if (m == 0) {
        assert_rc(INMEM_NOTFOUND, rc);
    } else {
        assert_ok(rc);
        int last;
        memcpy(&last, v, sizeof last);
        if (last != m)
            fail_msg("%s: last = %d, expected %d", where, last, m);
        inmem_free(v);
    }
}

/* Zeroes the last segment from the synced offset on (what a power loss may leave). */
static void lose_unsynced(const char *dir, uint64_t synced_lsn)
{
    uint64_t seq = synced_lsn >> 40, off = synced_lsn & ((1ull << 40) - 1);
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned long long s;
        if (sscanf(e->d_name, "wal-%16llx.log", &s) != 1)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (s > seq) { /* a segment begun after the last fsync: all of it unsynced */
            unlink(path);
            continue;
        }
        if (s < seq)
            continue;
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        int fd = open(path, O_WRONLY);
        static const char zeros[4096];
        for (uint64_t at = off; at < (uint64_t)st.st_size; at += sizeof zeros) {
            size_t n =
                (uint64_t)st.st_size - at < sizeof zeros ? (size_t)(st.st_size - at) : sizeof zeros;
            assert_int_equal(pwrite(fd, zeros, n, (off_t)at), (ssize_t)n);
        }
        close(fd);
    }
    closedir(d);
}

static inmem_db *open_strict(const char *dir)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_STRICT;
    o.wal_segment_size = 64u << 10;
    o.ttl_sweep_interval_ms = 0;
    inmem_db *db = NULL;
    int rc = inmem_db_open(dir, &o, &db);
    if (rc)
        fail_msg("open %s: %s", dir, inmem_errmsg());
    return db;
}

static void recovery_is_exact_at_every_append_and_every_fsync(void **state)
{
    (void)state;
    struct rec *r = calloc(1, sizeof *r);
    char dir[64];
    test_tmpdir(dir);
    r->dbdir = dir;
    inmem_db *db = open_strict(dir);
    char big[4000];
    memset(big, 'b', sizeof big);
    assert_ok(inmem_put(db, NULL, "pad", 3, big, sizeof big, NULL)); /* version 1, no hook yet */
    inmem__wal_set_hook(db->wal, hook, r);
    for (int i = 1; i <= TXNS; i++) {
        inmem_txn *t;
        assert_ok(inmem_txn_begin(db, &t));
        assert_ok(txn_body(t, i));
        if (i % 5 == 0) /* some transactions are big, so that segments rotate */
            assert_ok(inmem_kv_put(t, NULL, "pad", 3, big, sizeof big));
        assert_ok(inmem_txn_commit(t)); /* acknowledged: durable in strict mode */
        inmem_txn_free(t);
    }
    inmem__wal_set_hook(db->wal, NULL, NULL);
    assert_ok(inmem_db_close(db));
    assert_true(r->npts >= 2 * TXNS);
    for (int k = 0; k < r->npts; k++) {
        struct point *p = &r->pts[k];
        char where[128];
        /* process crash: everything appended survives */
        snprintf(where, sizeof where, "crash point %d (process)", k);
        db = open_strict(p->dir);
        check_state(db, p->appended, where);
        assert_ok(inmem_db_close(db));
        test_rmdir(p->dir);
    }
    test_rmdir(dir);
    free(r);
}

static void power_loss_keeps_exactly_the_fsynced_transactions(void **state)
{
    (void)state;
    struct rec *r = calloc(1, sizeof *r);
    char dir[64];
    test_tmpdir(dir);
    r->dbdir = dir;
    inmem_db *db = open_strict(dir);
    char big[4000];
    memset(big, 'b', sizeof big);
    assert_ok(inmem_put(db, NULL, "pad", 3, big, sizeof big, NULL));
    r->synced_lsn = 0;
    inmem__wal_set_hook(db->wal, hook, r);
    int acked = 0;
    for (int i = 1; i <= TXNS; i++) {
        inmem_txn *t;
        assert_ok(inmem_txn_begin(db, &t));
        assert_ok(txn_body(t, i));
        if (i % 5 == 0)
            assert_ok(inmem_kv_put(t, NULL, "pad", 3, big, sizeof big));
        assert_ok(inmem_txn_commit(t));
        acked = i;
        inmem_txn_free(t);
        /* every acknowledged transaction is below the synced LSN by now */
        assert_true(r->end_lsn[acked] <= r->synced_lsn);
    }
    inmem__wal_set_hook(db->wal, NULL, NULL);
    assert_ok(inmem_db_close(db));
    for (int k = 0; k < r->npts; k++) {
        struct point *p = &r->pts[k];
        if (p->synced_lsn == 0) {
            test_rmdir(p->dir); /* before the hook saw any fsync: skip */
            continue;
        }
        char where[128];
        snprintf(where, sizeof where, "crash point %d (power loss at lsn %llx)", k,
                 (unsigned long long)p->synced_lsn);
        lose_unsynced(p->dir, p->synced_lsn);
        db = open_strict(p->dir);
        check_state(db, p->synced, where);
        assert_ok(inmem_db_close(db));
        test_rmdir(p->dir);
    }
    test_rmdir(dir);
    free(r);
}

const struct CMUnitTest crashpoints_tests[] = {
    cmocka_unit_test(recovery_is_exact_at_every_append_and_every_fsync),
    cmocka_unit_test(power_loss_keeps_exactly_the_fsynced_transactions),
};
INMEM_TEST_COUNT(crashpoints);
