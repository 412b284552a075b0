/*
 * wal_util.c — helpers shared by the log's tests (see wal_util.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/wal_util.h"
#include "engine/db.h"
#include "wal/wal.h"

/* ---- opening ----------------------------------------------------------------------------- */

void log_options_init(inmem_options *o)
{
    inmem_options_init(o);
    o->checkpoint_log_ratio = 0;
    o->checkpoint_on_close = 0;
}

int try_open(const char *dir, inmem_durability mode, int repair, inmem_db **out)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = mode;
    o.wal_segment_size = SEG_SIZE;
    o.max_key_size = 65536;
    o.repair = repair;
    /* the log's tests look at the log: no checkpoint takes it over */
    o.checkpoint_log_ratio = 0;
    o.checkpoint_on_close = 0;
    return inmem_db_open(dir, &o, out);
}

inmem_db *open_db(const char *dir, inmem_durability mode)
{
    inmem_db *db = NULL;
    int rc = try_open(dir, mode, 0, &db);
    CHECK(rc == 0, "open %s: %s (%s)", dir, inmem_errname(rc), inmem_errmsg());
    assert_non_null(db);
    return db;
}

inmem_recovery_info recovery_of(inmem_db *db)
{
    inmem_recovery_info r;
    assert_ok(inmem_db_recovery(db, &r));
    return r;
}

/* ---- reading and writing keys ------------------------------------------------------------- */

uint64_t put_ok(inmem_db *db, const inmem_run_id *run, const char *key, const void *val,
                size_t vlen)
{
    uint64_t v = 0;
    int rc = inmem_put(db, run, key, strlen(key), val, vlen, &v);
    CHECK(rc == 0, "put %s: %s", key, inmem_errname(rc));
    return v;
}

void expect_get(inmem_db *db, const inmem_run_id *run, const char *key, const void *val,
                size_t vlen, uint64_t version)
{
    void *got = NULL;
    size_t n = 0;
    uint64_t ver = 0;
    int rc = inmem_get(db, run, key, strlen(key), &got, &n, &ver);
    CHECK(rc == 0, "get %s: %s", key, inmem_errname(rc));
    CHECK(n == vlen, "get %s: %zu bytes, expected %zu", key, n, vlen);
    CHECK(vlen == 0 || memcmp(got, val, vlen) == 0, "get %s: wrong value", key);
    CHECK(ver == version, "get %s: version %llu, expected %llu", key, (unsigned long long)ver,
          (unsigned long long)version);
    inmem_free(got);
}

void expect_missing(inmem_db *db, const inmem_run_id *run, const char *key)
{
    int rc = inmem_get(db, run, key, strlen(key), NULL, NULL, NULL);
    CHECK(rc == INMEM_NOTFOUND, "get %s: %s, expected INMEM_NOTFOUND", key, inmem_errname(rc));
}

void dump_add(dump *d, const void *p, size_t n)
{
    if (d->len + n > d->cap) {
        size_t cap = d->cap ? d->cap : 4096;
        while (cap < d->len + n)
            cap *= 2;
        d->p = realloc(d->p, cap);
        assert_non_null(d->p);
        d->cap = cap;
    }
    if (n)
        memcpy(d->p + d->len, p, n);
    d->len += n;
}

void dump_db(inmem_db *db, const inmem_run_id *run, const char *prefix, dump *d)
{
    inmem_txn *t = NULL;
    inmem_iter *it = NULL;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_scan_prefix(t, run, prefix, prefix ? strlen(prefix) : 0, &it));
    for (;;) {
        const void *k, *v;
        size_t kl, vl;
        uint64_t ver;
        int rc = inmem_iter_next(it, &k, &kl, &v, &vl, &ver);
        if (rc == INMEM_NOTFOUND)
            break;
        assert_ok(rc);
        uint32_t n32 = (uint32_t)kl;
        dump_add(d, &n32, sizeof n32);
        dump_add(d, k, kl);
        n32 = (uint32_t)vl;
        dump_add(d, &n32, sizeof n32);
        dump_add(d, v, vl);
        dump_add(d, &ver, sizeof ver);
        d->keys++;
    }
    inmem_iter_free(it);
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
}

int dump_equal(const dump *a, const dump *b)
{
    return a->keys == b->keys && a->len == b->len && (a->len == 0 || !memcmp(a->p, b->p, a->len));
}

void dump_free(dump *d)
{
    free(d->p);
    memset(d, 0, sizeof(*d));
}

/* ---- files -------------------------------------------------------------------------------- */

void seg_path(char *buf, size_t cap, const char *dir, uint64_t seq)
{
    snprintf(buf, cap, "%s/wal-%016llx.log", dir, (unsigned long long)seq);
}

int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

uint8_t *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    size_t n = (size_t)st.st_size;
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, p + done, n - done, (off_t)done);
        assert_true(r > 0);
        done += (size_t)r;
    }
    close(fd);
    *len = n;
    return p;
}

void spit(const char *path, const void *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(fd, (const uint8_t *)p + done, len - done, (off_t)done);
        assert_true(w > 0);
        done += (size_t)w;
    }
    close(fd);
}

/* Asserts that the file at @p path holds exactly @p len bytes @p p (a refused open left it). */
void expect_file(const char *path, const uint8_t *p, size_t len)
{
    size_t n;
    uint8_t *now = slurp(path, &n);
    CHECK(n == len && memcmp(now, p, len) == 0, "%s was modified by an open that failed", path);
    free(now);
}

/* Number of wal-*.log segment files (not *.dropped) in @p dir. */
uint64_t count_segments(const char *dir)
{
    char path[4096];
    uint64_t n = 0;
    for (uint64_t seq = 1; seq < 100000; seq++) {
        seg_path(path, sizeof path, dir, seq);
        if (!file_exists(path))
            break;
        n++;
    }
    return n;
}

/* Decodes every frame of a segment image from its header to its end mark (each must be OK). */
frame *walk_log(const uint8_t *p, size_t len, size_t *n, size_t *end)
{
    size_t cap = 64, k = 0, off = INMEM__WAL_HEADER;
    frame *f = malloc(cap * sizeof(*f));
    assert_non_null(f);
    for (;;) {
        inmem__wal_rec r;
        int d = inmem__wal_decode(p + off, len - off, &r);
        if (d == INMEM__DEC_END)
            break;
        CHECK(d == INMEM__DEC_OK, "frame at %zu does not decode (%d)", off, d);
        if (k == cap) {
            cap *= 2;
            f = realloc(f, cap * sizeof(*f));
            assert_non_null(f);
        }
        f[k].off = off;
        f[k].size = INMEM__WAL_FRAME + r.len;
        f[k].rec = r;
        off += f[k].size;
        k++;
    }
    *n = k;
    *end = off;
    return f;
}

/* Bytes of CLOSE and NEXT frames (end marks, not commits) in every segment of @p dir. */
uint64_t mark_bytes(const char *dir)
{
    char path[4096];
    uint64_t total = 0;
    for (uint64_t seq = 1;; seq++) {
        seg_path(path, sizeof path, dir, seq);
        if (!file_exists(path))
            break;
        size_t len, n, end;
        uint8_t *img = slurp(path, &len);
        frame *f = walk_log(img, len, &n, &end);
        for (size_t i = 0; i < n; i++)
            if (f[i].rec.type == INMEM__REC_CLOSE || f[i].rec.type == INMEM__REC_NEXT)
                total += f[i].size;
        free(f);
        free(img);
    }
    return total;
}

/* Bytes of records in every segment of @p dir (what recovery will read). */
uint64_t log_bytes(const char *dir)
{
    char path[4096];
    uint64_t total = 0;
    for (uint64_t seq = 1;; seq++) {
        seg_path(path, sizeof path, dir, seq);
        if (!file_exists(path))
            break;
        size_t len, n, end;
        uint8_t *img = slurp(path, &len);
        frame *f = walk_log(img, len, &n, &end);
        total += end - INMEM__WAL_HEADER;
        free(f);
        free(img);
    }
    return total;
}

/* An encoded KV key of the shared scope (what WRITE and DELETE records carry). */
uint32_t kv_key(uint8_t *out, const char *user)
{
    inmem__key_prefix(out, NULL, INMEM__TAG_KV);
    memcpy(out + INMEM__KEY_PREFIX, user, strlen(user));
    return (uint32_t)(INMEM__KEY_PREFIX + strlen(user));
}

/* A frame of any type built by hand, with a correct checksum. */
size_t enc_raw(uint8_t *p, uint8_t type, const void *payload, uint32_t len)
{
    inmem__put32(p, len);
    p[4] = type;
    if (len)
        memcpy(p + 5, payload, len);
    inmem__put32(p + 5 + len, inmem__crc32c(0, p, 5 + (size_t)len));
    return INMEM__WAL_FRAME + len;
}

const uint8_t zero_run[16];

/* Appends a complete hand-made transaction writing @p user = @p val at @p off. */
size_t enc_txn(uint8_t *p, uint64_t txn_id, uint64_t version, uint64_t synced_lsn, const char *user,
               const char *val)
{
    uint8_t key[64];
    uint32_t kl = kv_key(key, user);
    size_t n = inmem__wal_enc_begin(p, txn_id, zero_run, 1700000000000ull, synced_lsn, 1);
    n += inmem__wal_enc_write(p + n, version, 0, key, kl, val, (uint32_t)strlen(val));
    n += inmem__wal_enc_commit(p + n, txn_id, version, 1);
    return n;
}

uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A log of two committed transactions ("a" = "A" v1, "b" = "B" v2), closed cleanly. Returns the
 * segment image and the offset of its close mark. */
uint8_t *two_txn_log(const char *dir, const char *path, size_t *len, size_t *close_off)
{
    inmem_db *db = open_db(dir, INMEM_DURABILITY_ASYNC);
    assert_int_equal(put_ok(db, NULL, "a", LIT("A")), 1);
    assert_int_equal(put_ok(db, NULL, "b", LIT("B")), 2);
    assert_ok(inmem_db_close(db));
    size_t nf, end;
    uint8_t *img = slurp(path, len);
    frame *f = walk_log(img, *len, &nf, &end);
    assert_int_equal(nf, 3); /* a TXN frame each, and the close mark */
    assert_int_equal(f[0].rec.type, INMEM__REC_TXN);
    assert_int_equal(f[1].rec.type, INMEM__REC_TXN);
    assert_int_equal(f[2].rec.type, INMEM__REC_CLOSE);
    *close_off = f[2].off;
    free(f);
    return img;
}

/* The segment at @p path as a crash right after its last commit leaves it: read, its close mark
 * (which must end it) and all after it zeroed; *end: where the mark was. */
uint8_t *log_as_crashed(const char *path, size_t *len, size_t *end)
{
    size_t nf, stop;
    uint8_t *img = slurp(path, len);
    frame *f = walk_log(img, *len, &nf, &stop);
    assert_int_equal(f[nf - 1].rec.type, INMEM__REC_CLOSE);
    *end = f[nf - 1].off;
    free(f);
    memset(img + *end, 0, *len - *end);
    return img;
}

/* 1 if @p msg holds the decimal number @p n, not as part of a longer number. */
int mentions_number(const char *msg, uint64_t n)
{
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)n);
    for (const char *p = strstr(msg, num); p; p = strstr(p + 1, num)) {
        int before = p > msg && p[-1] >= '0' && p[-1] <= '9';
        char c = p[strlen(num)];
        if (!before && !(c >= '0' && c <= '9'))
            return 1;
    }
    return 0;
}

void dump_all(inmem_db *db, const inmem_run_id *run, dump *d)
{
    dump_db(db, NULL, NULL, d);
    dump_db(db, run, NULL, d);
}

size_t txn_ops(const inmem__wal_rec *txn, inmem__wal_rec *ops, size_t cap)
{
    CHECK(txn->type == INMEM__REC_TXN, "not a TXN frame (type %u)", txn->type);
    const uint8_t *q = txn->ops, *end = txn->ops + txn->ops_len;
    size_t n = 0;
    for (uint32_t i = 0; i < txn->records; i++) {
        inmem__wal_rec op;
        CHECK(inmem__wal_txn_op(&q, end, txn->version, &op), "TXN operation %u malformed", i);
        if (n < cap)
            ops[n] = op;
        n++;
    }
    return n;
}

void copy_dir_files(const char *from, const char *to)
{
    DIR *d = opendir(from);
    assert_non_null(d);
    struct dirent *e;
    char a[4096], b[4096];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(a, sizeof a, "%s/%s", from, e->d_name);
            snprintf(b, sizeof b, "%s/%s", to, e->d_name);
            size_t len;
            uint8_t *p = slurp(a, &len);
            spit(b, p, len);
            free(p);
        }
    closedir(d);
}

uint64_t current_segment(inmem_db *db)
{
    return inmem__wal_seq(db->wal);
}
