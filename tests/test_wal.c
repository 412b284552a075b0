/*
 * test_wal.c — the write-ahead log and recovery (DESIGN.md section 4, docs/FORMAT.md):
 *   - the record codec and CRC-32C;
 *   - persistence across close/reopen in every logged mode (async, batched, strict);
 *   - a torn tail cut at every byte of the last transaction, by truncation and by zeroing;
 *   - corruption: refused with the file and offset, then repaired; never a tail in a non-last
 *     segment; a valid checksum over impossible content is always corruption;
 *   - foreign and newer files refused; incomplete transactions discarded; unknown records
 *     skipped; replay deterministic;
 *   - the directory lock; write failures injected through the vfs (fsync EIO, ENOSPC at a
 *     segment switch); group commit; a clean close fsyncs; aborted transactions log nothing.
 *
 * Tests that manipulate files use 64 KiB segments. Worker threads never call cmocka: they
 * record failures and the main thread asserts after joining. Nothing here measures time.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#include "core/crc32c.h"
#include "core/key.h"
#include "core/vfs.h"
#include "wal/codec.h"

#define SEG_SIZE     (64u << 10)
#define LIT(s)       (s), (sizeof(s) - 1)
#define BEGIN_FRAME  (INMEM__WAL_FRAME + INMEM__WAL_BEGIN_LEN)
#define COMMIT_FRAME (INMEM__WAL_FRAME + INMEM__WAL_COMMIT_LEN)
#define CLOSE_FRAME  (INMEM__WAL_FRAME + INMEM__WAL_CLOSE_LEN)
#define SEG1         "wal-0000000000000001.log"

/* fail_msg() unless @p cond, with a formatted explanation (e.g. the offset being tried). */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

/* ---- opening ----------------------------------------------------------------------------- */

static int try_open(const char *dir, inmem_durability mode, int repair, inmem_db **out)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = mode;
    o.wal_segment_size = SEG_SIZE;
    o.max_key_size = 65536;
    o.repair = repair;
    return inmem_db_open(dir, &o, out);
}

static inmem_db *open_db(const char *dir, inmem_durability mode)
{
    inmem_db *db = NULL;
    int rc = try_open(dir, mode, 0, &db);
    CHECK(rc == 0, "open %s: %s (%s)", dir, inmem_errname(rc), inmem_errmsg());
    assert_non_null(db);
    return db;
}

static inmem_recovery_info recovery_of(inmem_db *db)
{
    inmem_recovery_info r;
    assert_ok(inmem_db_recovery(db, &r));
    return r;
}

static inmem_stats stats_of(inmem_db *db)
{
    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    return s;
}

/* ---- reading and writing keys ------------------------------------------------------------- */

static uint64_t put_ok(inmem_db *db, const inmem_run_id *run, const char *key, const void *val,
                       size_t vlen)
{
    uint64_t v = 0;
    int rc = inmem_put(db, run, key, strlen(key), val, vlen, &v);
    CHECK(rc == 0, "put %s: %s", key, inmem_errname(rc));
    return v;
}

static void expect_get(inmem_db *db, const inmem_run_id *run, const char *key, const void *val,
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

static void expect_missing(inmem_db *db, const inmem_run_id *run, const char *key)
{
    int rc = inmem_get(db, run, key, strlen(key), NULL, NULL, NULL);
    CHECK(rc == INMEM_NOTFOUND, "get %s: %s, expected INMEM_NOTFOUND", key, inmem_errname(rc));
}

/* A dump of every visible key/value/version under a prefix, read in one fresh transaction. */
typedef struct dump {
    uint8_t *p;
    size_t len, cap, keys;
} dump;

static void dump_add(dump *d, const void *p, size_t n)
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

static void dump_db(inmem_db *db, const inmem_run_id *run, const char *prefix, dump *d)
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

static int dump_equal(const dump *a, const dump *b)
{
    return a->keys == b->keys && a->len == b->len && (a->len == 0 || !memcmp(a->p, b->p, a->len));
}

static void dump_free(dump *d)
{
    free(d->p);
    memset(d, 0, sizeof(*d));
}

/* ---- files -------------------------------------------------------------------------------- */

static void seg_path(char *buf, size_t cap, const char *dir, uint64_t seq)
{
    snprintf(buf, cap, "%s/wal-%016llx.log", dir, (unsigned long long)seq);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static uint8_t *slurp(const char *path, size_t *len)
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

static void spit(const char *path, const void *p, size_t len)
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
static void expect_file(const char *path, const uint8_t *p, size_t len)
{
    size_t n;
    uint8_t *now = slurp(path, &n);
    CHECK(n == len && memcmp(now, p, len) == 0, "%s was modified by an open that failed", path);
    free(now);
}

/* Number of wal-*.log segment files (not *.dropped) in @p dir. */
static uint64_t count_segments(const char *dir)
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

/* One decoded frame of a segment image. */
typedef struct frame {
    size_t off, size;
    inmem__wal_rec rec;
} frame;

/* Decodes every frame of a segment image from its header to its end mark (each must be OK). */
static frame *walk_log(const uint8_t *p, size_t len, size_t *n, size_t *end)
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

/* Bytes of records in every segment of @p dir (what recovery will read). */
static uint64_t log_bytes(const char *dir)
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
static uint32_t kv_key(uint8_t *out, const char *user)
{
    inmem__key_prefix(out, NULL, INMEM__TAG_KV);
    memcpy(out + INMEM__KEY_PREFIX, user, strlen(user));
    return (uint32_t)(INMEM__KEY_PREFIX + strlen(user));
}

/* A frame of any type built by hand, with a correct checksum. */
static size_t enc_raw(uint8_t *p, uint8_t type, const void *payload, uint32_t len)
{
    inmem__put32(p, len);
    p[4] = type;
    if (len)
        memcpy(p + 5, payload, len);
    inmem__put32(p + 5 + len, inmem__crc32c(0, p, 5 + (size_t)len));
    return INMEM__WAL_FRAME + len;
}

static const uint8_t zero_run[16];

/* Appends a complete hand-made transaction writing @p user = @p val at @p off. */
static size_t enc_txn(uint8_t *p, uint64_t txn_id, uint64_t version, uint64_t synced_lsn,
                      const char *user, const char *val)
{
    uint8_t key[64];
    uint32_t kl = kv_key(key, user);
    size_t n = inmem__wal_enc_begin(p, txn_id, zero_run, 1700000000000ull, synced_lsn, 1);
    n += inmem__wal_enc_write(p + n, version, 0, key, kl, val, (uint32_t)strlen(val));
    n += inmem__wal_enc_commit(p + n, txn_id, version, 1);
    return n;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- CRC-32C ------------------------------------------------------------------------------ */

/* Bit by bit, straight from the definition: the oracle for both library paths. */
static uint32_t crc32c_reference(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static void crc32c_of_123456789_is_the_standard_check_value(void **state)
{
    (void)state;
    assert_int_equal(inmem__crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(inmem__crc32c_portable(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c_reference((const uint8_t *)"123456789", 9), 0xE3069283u);
    assert_int_equal(inmem__crc32c(0, "", 0), 0);
    /* extending a checksum in steps gives the checksum of the whole */
    assert_int_equal(inmem__crc32c(inmem__crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    assert_int_equal(inmem__crc32c_portable(inmem__crc32c_portable(0, "12345", 5), "6789", 4),
                     0xE3069283u);
}

static void crc32c_hardware_and_portable_paths_agree_on_random_buffers(void **state)
{
    (void)state;
    uint64_t rng = test_seed("crc32c_hardware_and_portable_paths_agree_on_random_buffers");
    enum { MAX = 4096 + 16 };
    uint8_t *buf = malloc(MAX);
    assert_non_null(buf);
    for (int round = 0; round < 400; round++) {
        size_t align = test_rand(&rng) % 8;
        size_t n = round < 64 ? (size_t)round : test_rand(&rng) % 4096;
        for (size_t i = 0; i < n + align; i++)
            buf[i] = (uint8_t)test_rand(&rng);
        const uint8_t *p = buf + align;
        uint32_t want = crc32c_reference(p, n);
        uint32_t hw = inmem__crc32c(0, p, n), sw = inmem__crc32c_portable(0, p, n);
        CHECK(hw == want && sw == want, "length %zu at +%zu: crc %08x, portable %08x, want %08x", n,
              align, hw, sw, want);
        size_t cut = n ? test_rand(&rng) % (n + 1) : 0;
        uint32_t split = inmem__crc32c(inmem__crc32c_portable(0, p, cut), p + cut, n - cut);
        CHECK(split == want, "length %zu split at %zu: %08x, want %08x", n, cut, split, want);
    }
    free(buf);
}

/* ---- codec -------------------------------------------------------------------------------- */

static void codec_round_trips_every_record_kind(void **state)
{
    (void)state;
    uint8_t buf[1024], run[16];
    for (int i = 0; i < 16; i++)
        run[i] = (uint8_t)(0xA0 + i);
    inmem__wal_rec r;
    size_t off = 0, n;

    n = inmem__wal_enc_begin(buf, 0x1122334455667788ull, run, 1700000000123ull, INMEM__LSN(3, 4096),
                             7);
    assert_int_equal(n, BEGIN_FRAME);
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_OK);
    assert_int_equal(r.type, INMEM__REC_BEGIN);
    assert_int_equal(r.len, INMEM__WAL_BEGIN_LEN);
    assert_int_equal(r.txn_id, 0x1122334455667788ull);
    assert_memory_equal(r.run, run, 16);
    assert_int_equal(r.time_ms, 1700000000123ull);
    assert_int_equal(r.synced_lsn, INMEM__LSN(3, 4096));
    assert_int_equal(r.records, 7);
    off += n;

    n = inmem__wal_enc_write(buf + off, 42, 1800000000000ull, (const uint8_t *)"key", 3, "value",
                             5);
    assert_int_equal(n, inmem__wal_write_size(3, 5));
    assert_int_equal(inmem__wal_decode(buf + off, n, &r), INMEM__DEC_OK);
    assert_int_equal(r.type, INMEM__REC_WRITE);
    assert_int_equal(r.version, 42);
    assert_int_equal(r.expiry_ms, 1800000000000ull);
    assert_int_equal(r.klen, 3);
    assert_memory_equal(r.key, "key", 3);
    assert_int_equal(r.vlen, 5);
    assert_memory_equal(r.val, "value", 5);
    off += n;

    n = inmem__wal_enc_delete(buf + off, 43, (const uint8_t *)"gone", 4);
    assert_int_equal(n, inmem__wal_delete_size(4));
    assert_int_equal(inmem__wal_decode(buf + off, n, &r), INMEM__DEC_OK);
    assert_int_equal(r.type, INMEM__REC_DELETE);
    assert_int_equal(r.version, 43);
    assert_int_equal(r.klen, 4);
    assert_memory_equal(r.key, "gone", 4);
    off += n;

    n = inmem__wal_enc_commit(buf + off, 0x1122334455667788ull, 43, 7);
    assert_int_equal(n, COMMIT_FRAME);
    assert_int_equal(inmem__wal_decode(buf + off, n, &r), INMEM__DEC_OK);
    assert_int_equal(r.type, INMEM__REC_COMMIT);
    assert_int_equal(r.txn_id, 0x1122334455667788ull);
    assert_int_equal(r.version, 43);
    assert_int_equal(r.records, 7);
    off += n;

    n = inmem__wal_enc_close(buf + off, 43, 99);
    assert_int_equal(n, CLOSE_FRAME);
    assert_int_equal(inmem__wal_decode(buf + off, n, &r), INMEM__DEC_OK);
    assert_int_equal(r.type, INMEM__REC_CLOSE);
    assert_int_equal(r.version, 43);
    assert_int_equal(r.txn_id, 99);
    off += n;

    /* back to back, followed by an end mark: decoding with everything after each frame in the
     * buffer finds the same five types, then the end */
    memset(buf + off, 0, 64);
    const uint8_t want[] = {INMEM__REC_BEGIN, INMEM__REC_WRITE, INMEM__REC_DELETE,
                            INMEM__REC_COMMIT, INMEM__REC_CLOSE};
    size_t p = 0;
    for (size_t i = 0; i < sizeof want; i++) {
        assert_int_equal(inmem__wal_decode(buf + p, off + 64 - p, &r), INMEM__DEC_OK);
        assert_int_equal(r.type, want[i]);
        p += INMEM__WAL_FRAME + r.len;
    }
    assert_int_equal(p, off);
    assert_int_equal(inmem__wal_decode(buf + p, 64, &r), INMEM__DEC_END);
}

static void codec_round_trips_extreme_sizes(void **state)
{
    (void)state;
    const uint32_t klen = 65536 + INMEM__KEY_PREFIX, vlen = 1u << 20;
    uint8_t *key = malloc(klen), *val = malloc(vlen);
    uint8_t *buf = malloc(inmem__wal_write_size(klen, vlen));
    assert_non_null(key);
    assert_non_null(val);
    assert_non_null(buf);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (uint32_t i = 0; i < klen; i++)
        key[i] = (uint8_t)test_rand(&rng);
    for (uint32_t i = 0; i < vlen; i++)
        val[i] = (uint8_t)test_rand(&rng);
    inmem__wal_rec r;

    /* an empty value (no value pointer at all) */
    size_t n = inmem__wal_enc_write(buf, 1, 0, key, 1, NULL, 0);
    assert_int_equal(n, inmem__wal_write_size(1, 0));
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_OK);
    assert_int_equal(r.klen, 1);
    assert_int_equal(r.key[0], key[0]);
    assert_int_equal(r.vlen, 0);

    /* a 64 KiB key with an empty value, then with a 1 MiB value */
    n = inmem__wal_enc_write(buf, 2, 5, key, klen, "", 0);
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_OK);
    assert_int_equal(r.klen, klen);
    assert_memory_equal(r.key, key, klen);
    assert_int_equal(r.vlen, 0);

    n = inmem__wal_enc_write(buf, 3, 6, key, klen, val, vlen);
    assert_int_equal(n, inmem__wal_write_size(klen, vlen));
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_OK);
    assert_int_equal(r.version, 3);
    assert_int_equal(r.expiry_ms, 6);
    assert_int_equal(r.klen, klen);
    assert_memory_equal(r.key, key, klen);
    assert_int_equal(r.vlen, vlen);
    assert_memory_equal(r.val, val, vlen);
    /* one flipped bit in the middle of the megabyte is detected */
    buf[n / 2] ^= 0x10;
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_BADSUM);
    buf[n / 2] ^= 0x10;
    /* and one byte missing is a short frame */
    assert_int_equal(inmem__wal_decode(buf, n - 1, &r), INMEM__DEC_SHORT);

    n = inmem__wal_enc_delete(buf, 4, key, klen);
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_OK);
    assert_int_equal(r.type, INMEM__REC_DELETE);
    assert_int_equal(r.klen, klen);
    assert_memory_equal(r.key, key, klen);
    free(key);
    free(val);
    free(buf);
}

static void codec_detects_every_single_bit_flip(void **state)
{
    (void)state;
    uint8_t frames[256], copy[256];
    size_t sizes[5];
    uint8_t *p = frames;
    sizes[0] = inmem__wal_enc_begin(p, 9, zero_run, 123, 456, 2);
    size_t n = sizes[0];
    sizes[1] = inmem__wal_enc_write(p + n, 10, 0, (const uint8_t *)"kk", 2, "vvv", 3);
    n += sizes[1];
    sizes[2] = inmem__wal_enc_delete(p + n, 10, (const uint8_t *)"dd", 2);
    n += sizes[2];
    sizes[3] = inmem__wal_enc_commit(p + n, 9, 10, 2);
    n += sizes[3];
    sizes[4] = inmem__wal_enc_close(p + n, 10, 9);
    size_t start = 0;
    for (int f = 0; f < 5; start += sizes[f], f++) {
        for (size_t bit = 0; bit < sizes[f] * 8; bit++) {
            memcpy(copy, frames + start, sizes[f]);
            copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            inmem__wal_rec r;
            int d = inmem__wal_decode(copy, sizes[f], &r);
            CHECK(d == INMEM__DEC_BADSUM || d == INMEM__DEC_SHORT,
                  "frame %d with bit %zu flipped decodes as %d", f, bit, d);
        }
    }
}

static void codec_detects_a_frame_cut_short(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t n = inmem__wal_enc_write(buf, 1, 0, (const uint8_t *)"key", 3, "value", 5);
    inmem__wal_rec r;
    for (size_t avail = 1; avail < n; avail++) {
        int d = inmem__wal_decode(buf, avail, &r);
        CHECK(d == INMEM__DEC_SHORT, "%zu of %zu bytes decode as %d", avail, n, d);
    }
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_OK);
    /* a length beyond any buffer */
    inmem__put32(buf, 0xFFFFFFF0u);
    assert_int_equal(inmem__wal_decode(buf, sizeof buf, &r), INMEM__DEC_SHORT);
}

static void codec_all_zero_frame_is_the_end_of_the_log(void **state)
{
    (void)state;
    uint8_t z[64] = {0};
    inmem__wal_rec r;
    for (size_t avail = 0; avail <= sizeof z; avail++)
        CHECK(inmem__wal_decode(z, avail, &r) == INMEM__DEC_END, "%zu zero bytes are not the end",
              avail);
    /* an empty payload with a type is a record, not the end */
    size_t n = enc_raw(z, 200, NULL, 0);
    assert_int_equal(inmem__wal_decode(z, n, &r), INMEM__DEC_OK);
    assert_int_equal(r.type, 200);
    assert_int_equal(r.len, 0);
}

static void codec_unknown_record_type_decodes_as_skippable(void **state)
{
    (void)state;
    uint8_t buf[64];
    const char payload[] = "future stuff";
    size_t n = enc_raw(buf, 200, payload, sizeof payload);
    inmem__wal_rec r;
    assert_int_equal(inmem__wal_decode(buf, sizeof buf, &r), INMEM__DEC_OK);
    assert_int_equal(r.type, 200);
    assert_int_equal(r.len, sizeof payload);
    assert_int_equal(INMEM__WAL_FRAME + r.len, n);
    buf[7] ^= 1;
    assert_int_equal(inmem__wal_decode(buf, sizeof buf, &r), INMEM__DEC_BADSUM);
}

static void codec_valid_checksum_over_impossible_content_is_malformed(void **state)
{
    (void)state;
    uint8_t buf[256], body[64] = {0};
    inmem__wal_rec r;
    /* BEGIN and COMMIT of the wrong length */
    size_t n = enc_raw(buf, INMEM__REC_BEGIN, body, INMEM__WAL_BEGIN_LEN - 1);
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_BADBODY);
    n = enc_raw(buf, INMEM__REC_COMMIT, body, INMEM__WAL_COMMIT_LEN + 1);
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_BADBODY);
    n = enc_raw(buf, INMEM__REC_CLOSE, body, 3);
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_BADBODY);
    /* a WRITE whose key and value lengths do not add up to its payload */
    inmem__put32(body + 16, 10); /* klen */
    inmem__put32(body + 20, 10); /* vlen */
    n = enc_raw(buf, INMEM__REC_WRITE, body, INMEM__WAL_WRITE_FIXED + 5);
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_BADBODY);
    /* key length 0xFFFFFFFF cannot overflow the check */
    inmem__put32(body + 16, 0xFFFFFFFFu);
    inmem__put32(body + 20, 1);
    n = enc_raw(buf, INMEM__REC_WRITE, body, INMEM__WAL_WRITE_FIXED);
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_BADBODY);
    /* a DELETE shorter than its fixed part, and one whose key length is wrong */
    n = enc_raw(buf, INMEM__REC_DELETE, body, INMEM__WAL_DELETE_FIXED - 1);
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_BADBODY);
    inmem__put32(body + 8, 7);
    n = enc_raw(buf, INMEM__REC_DELETE, body, INMEM__WAL_DELETE_FIXED + 3);
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_BADBODY);
}

static void codec_segment_header_round_trips_and_refuses_foreign_or_newer(void **state)
{
    (void)state;
    uint8_t h[INMEM__WAL_HEADER];
    uint64_t seq = 0, size = 0;
    inmem__wal_enc_header(h, 7, SEG_SIZE);
    assert_memory_equal(h, "INMEMWAL", 8);
    assert_int_equal(inmem__get32(h + 8), 1);
    assert_int_equal(inmem__get32(h + 12), INMEM__WAL_HEADER);
    assert_ok(inmem__wal_check_header(h, sizeof h, &seq, &size));
    assert_int_equal(seq, 7);
    assert_int_equal(size, SEG_SIZE);
    assert_rc(INMEM_EVERSION, inmem__wal_check_header(h, sizeof h - 1, &seq, &size));
    h[0] = 'X';
    assert_rc(INMEM_EVERSION, inmem__wal_check_header(h, sizeof h, &seq, &size));
    inmem__wal_enc_header(h, 7, SEG_SIZE);
    inmem__put32(h + 8, 2);
    inmem__put32(h + 36, inmem__crc32c(0, h, 36));
    assert_rc(INMEM_EVERSION, inmem__wal_check_header(h, sizeof h, &seq, &size));
    inmem__wal_enc_header(h, 7, SEG_SIZE);
    h[20] ^= 4; /* the checksum no longer matches */
    assert_rc(INMEM_ECORRUPT, inmem__wal_check_header(h, sizeof h, &seq, &size));
}

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

static void dump_all(inmem_db *db, const inmem_run_id *run, dump *d)
{
    dump_db(db, NULL, NULL, d);
    dump_db(db, run, NULL, d);
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
    uint64_t expect_bytes = 0;

    inmem_db *db = open_db(dir, mode);
    /* rounds 0 and 1 write (the second one appends to a recovered log); round 2 only reopens */
    for (int round = 0; round < 3; round++) {
        if (round < 2)
            persistence_workload(db, &run, &rng, round);
        inmem_stats before = stats_of(db);
        assert_true(before.version > 0);
        dump d0 = {0}, d1 = {0};
        dump_all(db, &run, &d0);
        assert_true(d0.keys > 50);
        get_versions(db, &run, rcs[0], vers[0]);
        uint64_t ttl_ver = 0;
        assert_ok(inmem_get(db, NULL, LIT("ttl00"), NULL, NULL, &ttl_ver));
        assert_ok(inmem_db_close(db));

        /* what recovery must read: every record of every session, close marks included */
        uint64_t on_disk = log_bytes(dir);
        expect_bytes += before.wal_bytes;
        CHECK(on_disk >= expect_bytes && on_disk <= expect_bytes + CLOSE_FRAME,
              "log holds %llu bytes of records; sessions appended %llu",
              (unsigned long long)on_disk, (unsigned long long)expect_bytes);
        expect_bytes = on_disk;
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
        inmem_stats after = stats_of(db);
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
    for (size_t i = 0; i < nf; i++) {
        const inmem__wal_rec *r = &f[i].rec;
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
    assert_true(nf >= 6);
    assert_int_equal(f[3].rec.type, INMEM__REC_BEGIN); /* the second transaction */
    size_t s = f[3].off;
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
    assert_int_equal(stats_of(db).version, 4);
    dump_db(db, NULL, "k", &after);
    assert_ok(inmem_db_close(db));

    size_t len, nf, end;
    uint8_t *img = slurp(path, &len);
    assert_int_equal(len, SEG_SIZE);
    frame *f = walk_log(img, len, &nf, &end);
    assert_true(nf >= 8);
    assert_int_equal(f[nf - 1].rec.type, INMEM__REC_CLOSE);
    assert_int_equal(f[nf - 2].rec.type, INMEM__REC_COMMIT);
    size_t e = f[nf - 1].off, b = 0;
    for (size_t i = 0; i < nf; i++)
        if (f[i].rec.type == INMEM__REC_BEGIN)
            b = f[i].off;
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
        int whole = o == e, torn = o != b && o != e;
        uint64_t want = whole ? 4 : 3;
        CHECK(rec.txns_applied == want && rec.version == want && stats_of(db).version == want,
              "cut at %zu (last txn %zu..%zu): %llu txns applied, version %llu, expected %llu", o,
              b, e, (unsigned long long)rec.txns_applied, (unsigned long long)rec.version,
              (unsigned long long)want);
        CHECK(rec.torn_tail == torn, "cut at %zu (last txn %zu..%zu): torn_tail %d, expected %d", o,
              b, e, rec.torn_tail, torn);
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

/* A log of two committed transactions ("a" = "A" v1, "b" = "B" v2), closed cleanly. Returns the
 * segment image and the offset of its close mark. */
static uint8_t *two_txn_log(const char *dir, const char *path, size_t *len, size_t *close_off)
{
    inmem_db *db = open_db(dir, INMEM_DURABILITY_ASYNC);
    assert_int_equal(put_ok(db, NULL, "a", LIT("A")), 1);
    assert_int_equal(put_ok(db, NULL, "b", LIT("B")), 2);
    assert_ok(inmem_db_close(db));
    size_t nf, end;
    uint8_t *img = slurp(path, len);
    frame *f = walk_log(img, *len, &nf, &end);
    assert_int_equal(nf, 7);
    assert_int_equal(f[6].rec.type, INMEM__REC_CLOSE);
    *close_off = f[6].off;
    free(f);
    return img;
}

/* 1 if @p msg holds the decimal number @p n, not as part of a longer number. */
static int mentions_number(const char *msg, uint64_t n)
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

static void torn_tail_bad_frame_not_synced_past_by_a_later_begin(void **state)
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
         * was synced up to the bad frame (a tear: it was never durable), or past it */
        memcpy(c, img, len);
        memset(c + e, 0, len - e);
        size_t n = inmem__wal_enc_begin(c + e, 3, zero_run, 1, 0, 1);
        c[e + 20] ^= 0x01;
        uint64_t lsn = synced_past ? INMEM__LSN(1, e + n) : INMEM__LSN(1, e);
        enc_txn(c + e + n, 3, 3, lsn, "c", "sea");
        spit(path, c, len);
        inmem_db *db = NULL;
        int rc = try_open(dir, INMEM_DURABILITY_ASYNC, 0, &db);
        if (synced_past) {
            assert_rc(INMEM_ECORRUPT, rc);
            assert_null(db);
            const char *msg = inmem_errmsg();
            CHECK(strstr(msg, SEG1) && mentions_number(msg, e), "message '%s' lacks %s or %zu", msg,
                  SEG1, e);
            expect_file(path, c, len);
            continue;
        }
        CHECK(rc == 0, "open: %s (%s)", inmem_errname(rc), inmem_errmsg());
        inmem_recovery_info rec = recovery_of(db);
        assert_int_equal(rec.torn_tail, 1);
        assert_int_equal(rec.tail_offset, e);
        assert_string_equal(rec.tail_file, SEG1);
        assert_int_equal(rec.txns_applied, 2);
        assert_int_equal(rec.version, 2);
        expect_missing(db, NULL, "c"); /* after the tear: gone */
        assert_int_equal(put_ok(db, NULL, "d", LIT("D")), 3);
        assert_ok(inmem_db_close(db));
        db = open_db(dir, INMEM_DURABILITY_ASYNC);
        rec = recovery_of(db);
        assert_int_equal(rec.torn_tail, 0);
        assert_int_equal(rec.txns_applied, 3);
        expect_missing(db, NULL, "c");
        expect_get(db, NULL, "d", "D", 1, 3);
        assert_ok(inmem_db_close(db));
    }
    free(c);
    free(img);
    test_rmdir(dir);
}

/* ---- corruption ------------------------------------------------------------------------------ */

static void corruption_before_a_durable_begin_fails_open_then_repair_keeps_the_prefix(void **state)
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
        if (f[i].rec.type == INMEM__REC_BEGIN) {
            assert_true(nb < 4);
            begins[nb] = f[i].off;
            assert_int_equal(f[i + 1].rec.type, INMEM__REC_WRITE);
            writes[nb] = i + 1;
            nb++;
        }
    assert_int_equal(nb, 4);
    assert_int_equal(f[nf - 1].rec.type, INMEM__REC_CLOSE);
    /* the scenario: the second session's BEGINs say the first session is on stable storage */
    size_t b3 = writes[2] - 1;
    CHECK(f[b3].rec.synced_lsn > INMEM__LSN(1, f[writes[1]].off + f[writes[1]].size),
          "precondition: T3's synced_lsn %llx does not cover T2",
          (unsigned long long)f[b3].rec.synced_lsn);

    uint8_t *c = malloc(len);
    assert_non_null(c);
    for (size_t target = 0; target < 2; target++) {
        const frame *w = &f[writes[target]];
        memcpy(c, img, len);
        c[w->off + w->size / 2] ^= 0x04; /* one bit of T1's (then T2's) WRITE record */
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
        CHECK(rec.txns_dropped >= 1 && rec.txns_dropped <= 4 - target,
              "corrupt T%zu: txns_dropped %llu, expected 1..%zu", target + 1,
              (unsigned long long)rec.txns_dropped, 4 - target);
        assert_int_equal(rec.txns_applied, target);
        assert_int_equal(rec.version, target);
        assert_int_equal(stats_of(db).version, target);
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
        seg_path(path, sizeof path, dir, 3);
        if (nkeys > 200 && file_exists(path))
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
    assert_true(nf >= 3);
    assert_int_equal(f[nf - 1].rec.type, INMEM__REC_COMMIT);
    assert_int_equal(f[nf - 2].rec.type, INMEM__REC_WRITE);
    assert_int_equal(f[nf - 3].rec.type, INMEM__REC_BEGIN);
    const frame w = f[nf - 2];
    size_t b = f[nf - 3].off;
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

    int rc = try_open(dir, INMEM_DURABILITY_ASYNC, 1, &db);
    CHECK(rc == 0, "repair: %s (%s)", inmem_errname(rc), inmem_errmsg());
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.repaired, 1);
    assert_string_equal(rec.repair_file, SEG1);
    assert_int_equal(rec.repair_offset, b);
    CHECK(rec.bytes_dropped >= (end - b) + later_bytes, "bytes_dropped %llu < %llu",
          (unsigned long long)rec.bytes_dropped, (unsigned long long)((end - b) + later_bytes));
    assert_true(rec.txns_dropped >= 1);
    assert_int_equal(rec.txns_applied, n1 - 1);
    assert_int_equal(rec.version, n1 - 1);
    assert_int_equal(stats_of(db).version, n1 - 1);
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
            inmem__put32(c + 8, 2); /* a newer format, with a header checksum that matches */
            inmem__put32(c + 36, inmem__crc32c(0, c, 36));
        }
        spit(path, c, len);
        for (int repair = 0; repair < 2; repair++) {
            inmem_db *db = NULL;
            int rc = try_open(dir, INMEM_DURABILITY_BATCHED, repair, &db);
            CHECK(rc == INMEM_EVERSION, "variant %d repair %d: %s, expected INMEM_EVERSION",
                  variant, repair, inmem_errname(rc));
            assert_null(db);
            CHECK(strstr(inmem_errmsg(), SEG1), "variant %d: message '%s' does not name the file",
                  variant, inmem_errmsg());
            expect_file(path, c, len); /* not ours: never touched, not even by repair */
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

static void incomplete_transaction_between_commits_is_discarded(void **state)
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

    size_t len, nf, end;
    uint8_t *img = slurp(path, &len);
    frame *f = walk_log(img, len, &nf, &end);
    assert_int_equal(f[nf - 1].rec.type, INMEM__REC_CLOSE);
    size_t e = f[nf - 1].off;
    free(f);
    /* after the last commit: BEGIN + one WRITE of a two-record transaction, then a complete
     * transaction that takes the next version */
    memset(img + e, 0, len - e);
    uint8_t key[64];
    uint32_t kl = kv_key(key, "x");
    size_t n = inmem__wal_enc_begin(img + e, 4, zero_run, 1, INMEM__LSN(1, e), 2);
    n += inmem__wal_enc_write(img + e + n, 4, 0, key, kl, "lost", 4);
    enc_txn(img + e + n, 5, 4, INMEM__LSN(1, e), "y", "why");
    spit(path, img, len);

    dump d[3] = {{0}, {0}, {0}};
    for (int round = 0; round < 3; round++) {
        if (round == 1)
            spit(path, img, len); /* the same log again (closing appended a close mark) */
        db = open_db(dir, INMEM_DURABILITY_ASYNC);
        inmem_recovery_info rec = recovery_of(db);
        if (round < 2) {
            assert_int_equal(rec.txns_applied, 4);
            assert_int_equal(rec.txns_discarded, 1);
            assert_int_equal(rec.torn_tail, 0);
            assert_int_equal(rec.txn_id, 5);
        }
        assert_int_equal(rec.version, 4);
        assert_int_equal(stats_of(db).version, 4);
        expect_get(db, NULL, "a", "A", 1, 1);
        expect_get(db, NULL, "b", "B", 1, 2);
        expect_get(db, NULL, "c", "C", 1, 2);
        expect_get(db, NULL, "d", "D", 1, 3);
        expect_missing(db, NULL, "x");
        expect_get(db, NULL, "y", "why", 3, 4);
        dump_db(db, NULL, NULL, &d[round]);
        assert_ok(inmem_db_close(db));
    }
    /* the same log gives the same state, byte for byte */
    assert_true(dump_equal(&d[0], &d[1]));
    assert_true(dump_equal(&d[0], &d[2]));
    for (int i = 0; i < 3; i++)
        dump_free(&d[i]);
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
    size_t n = inmem__wal_enc_begin(img + e, 3, zero_run, 1, INMEM__LSN(1, e), 2);
    n += inmem__wal_enc_write(img + e + n, 3, 0, key, kl, "lost", 4);
    kl = kv_key(key, "z");
    inmem__wal_enc_write(img + e + n, 3, 0, key, kl, "lost", 4);
    spit(path, img, len);

    inmem_db *db = open_db(dir, INMEM_DURABILITY_ASYNC);
    inmem_recovery_info rec = recovery_of(db);
    assert_int_equal(rec.txns_applied, 2);
    assert_int_equal(rec.txns_discarded, 1);
    assert_int_equal(rec.version, 2);
    assert_int_equal(stats_of(db).version, 2);
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
    uint64_t version = stats_of(db).version;
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
        assert_int_equal(stats_of(db).version, version);
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

/* ---- write failures injected through the vfs ---------------------------------------------- */

static inmem__vfs faulty_vfs;
static atomic_long sync_left = -1; /* datasyncs that still succeed; -1: never fail */
static atomic_int allocate_fails;  /* allocate returns -ENOSPC while set */
static atomic_int datasyncs;       /* datasync calls seen */
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
    atomic_store(&sync_left, -1);
    atomic_store(&allocate_fails, 0);
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
    return 0;
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
    assert_int_equal(stats_of(db).version, acked[nacked - 1]);
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
    uint64_t ver = stats_of(db).version; /* k7's fate is unknown to its caller: either is fine */
    assert_true(ver == acked[nacked - 1] || ver == acked[nacked - 1] + 1);
    assert_int_equal(put_ok(db, NULL, "again", LIT("ok")), ver + 1);
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
        assert_int_equal(stats_of(db).version, last);
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
        assert_int_equal(stats_of(db).version, last);
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
        assert_int_equal(stats_of(db).version, last + 100);
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
    inmem_options_init(&o);
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
    uint64_t b0 = stats_of(db).wal_bytes;
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
    assert_int_equal(stats_of(db).wal_bytes, b0);
    assert_ok(inmem_txn_begin(db, &t)); /* a conflict */
    assert_ok(inmem_kv_get(t, NULL, LIT("k"), NULL, NULL, NULL));
    assert_ok(inmem_kv_put(t, NULL, LIT("z"), LIT("z")));
    assert_ok(inmem_txn_begin(db, &t2));
    assert_ok(inmem_kv_put(t2, NULL, LIT("k"), LIT("w")));
    assert_ok(inmem_txn_commit(t2));
    inmem_txn_free(t2);
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    inmem_txn_free(t);
    /* only t2 was logged */
    assert_int_equal(stats_of(db).wal_bytes, b0 + BEGIN_FRAME +
                                                 inmem__wal_write_size(INMEM__KEY_PREFIX + 1, 1) +
                                                 COMMIT_FRAME);
    assert_ok(inmem_db_close(db));

    size_t len, nf, end;
    uint8_t *img = slurp(path, &len);
    frame *f = walk_log(img, len, &nf, &end);
    int begins = 0;
    for (size_t i = 0; i < nf; i++)
        begins += f[i].rec.type == INMEM__REC_BEGIN;
    assert_int_equal(begins, 2);
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
    int id;
    int failures, first_rc;
    uint64_t ver[GC_COMMITS];
};

static void *gc_main(void *arg)
{
    struct gc_worker *w = arg;
    char key[32];
    for (int i = 0; i < GC_COMMITS; i++) {
        snprintf(key, sizeof key, "g%d.%d", w->id, i);
        int rc = inmem_put(w->db, NULL, key, strlen(key), key, strlen(key), &w->ver[i]);
        if (rc && !w->failures++)
            w->first_rc = rc;
    }
    return NULL;
}

static void group_commit_strict_committers_share_fsyncs(void **state)
{
    (void)state;
    char dir[64], key[32];
    test_tmpdir(dir);
    inmem_db *db = open_db(dir, INMEM_DURABILITY_STRICT);
    struct gc_worker *w = calloc(GC_THREADS, sizeof(*w));
    assert_non_null(w);
    pthread_t th[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        w[i].db = db;
        w[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, gc_main, &w[i]), 0);
    }
    for (int i = 0; i < GC_THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < GC_THREADS; i++)
        CHECK(w[i].failures == 0, "thread %d: %d failed commits, first %s", i, w[i].failures,
              inmem_errname(w[i].first_rc));
    inmem_stats s = stats_of(db);
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
        s = stats_of(db);
        assert_int_equal(s.commits, total + (uint64_t)j + 1);
        assert_int_equal(s.wal_synced_commits, s.commits);
    }
    assert_ok(inmem_db_close(db));
    db = open_db(dir, INMEM_DURABILITY_STRICT);
    assert_int_equal(stats_of(db).version, total + 20);
    for (int i = 0; i < GC_THREADS; i++)
        for (int j = 0; j < GC_COMMITS; j++) {
            snprintf(key, sizeof key, "g%d.%d", i, j);
            expect_get(db, NULL, key, key, strlen(key), w[i].ver[j]);
        }
    assert_ok(inmem_db_close(db));
    free(w);
    test_rmdir(dir);
}

/* ---- table -------------------------------------------------------------------------------- */

const struct CMUnitTest wal_tests[] = {
    cmocka_unit_test(crc32c_of_123456789_is_the_standard_check_value),
    cmocka_unit_test(crc32c_hardware_and_portable_paths_agree_on_random_buffers),
    cmocka_unit_test(codec_round_trips_every_record_kind),
    cmocka_unit_test(codec_round_trips_extreme_sizes),
    cmocka_unit_test(codec_detects_every_single_bit_flip),
    cmocka_unit_test(codec_detects_a_frame_cut_short),
    cmocka_unit_test(codec_all_zero_frame_is_the_end_of_the_log),
    cmocka_unit_test(codec_unknown_record_type_decodes_as_skippable),
    cmocka_unit_test(codec_valid_checksum_over_impossible_content_is_malformed),
    cmocka_unit_test(codec_segment_header_round_trips_and_refuses_foreign_or_newer),
    cmocka_unit_test(persistence_async_keeps_puts_deletes_txns_versions_across_reopen),
    cmocka_unit_test(persistence_batched_keeps_puts_deletes_txns_versions_across_reopen),
    cmocka_unit_test(persistence_strict_keeps_puts_deletes_txns_versions_across_reopen),
    cmocka_unit_test(persistence_keeps_the_ttl_expiry_of_each_write),
    cmocka_unit_test(persistence_keeps_records_larger_than_a_segment),
    cmocka_unit_test(recovery_skips_a_record_of_unknown_type),
    cmocka_unit_test(torn_tail_truncated_file_loses_only_the_last_transaction),
    cmocka_unit_test(torn_tail_zeroed_rest_loses_only_the_last_transaction),
    cmocka_unit_test(torn_tail_bad_frame_not_synced_past_by_a_later_begin),
    cmocka_unit_test(corruption_before_a_durable_begin_fails_open_then_repair_keeps_the_prefix),
    cmocka_unit_test(corruption_in_a_non_last_segment_is_never_a_torn_tail),
    cmocka_unit_test(corruption_valid_checksum_over_impossible_content_even_at_the_tail),
    cmocka_unit_test(foreign_or_newer_segment_is_refused_with_eversion),
    cmocka_unit_test(incomplete_transaction_between_commits_is_discarded),
    cmocka_unit_test(incomplete_transaction_at_the_end_of_the_log_is_discarded),
    cmocka_unit_test(replay_is_deterministic_same_log_same_state),
    cmocka_unit_test(second_open_of_a_directory_fails_with_elocked_naming_the_pid),
    cmocka_unit_test_teardown(fsync_failure_in_strict_mode_fails_that_commit_then_log_is_readonly,
                              restore_posix_vfs),
    cmocka_unit_test_teardown(enospc_at_segment_switch_fails_that_commit_then_log_is_readonly,
                              restore_posix_vfs),
    cmocka_unit_test_teardown(clean_close_fsyncs_and_files_stay_in_the_directory,
                              restore_posix_vfs),
    cmocka_unit_test(aborted_and_readonly_transactions_write_nothing_to_the_log),
    cmocka_unit_test(group_commit_strict_committers_share_fsyncs),
};

INMEM_TEST_COUNT(wal);
