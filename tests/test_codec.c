/*
 * test_codec.c — the log's on-disk format (docs/FORMAT.md): CRC-32C against its definition and
 * check value, and the record codec: round trips of every record kind and of extreme sizes,
 * every single bit flip detected, frames cut short, the end mark, unknown types, impossible
 * content under a valid checksum, segment headers.
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

#include "tests/wal_util.h"

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
    enum { MAX = 65536 + 16 };
    uint8_t *buf = malloc(MAX);
    assert_non_null(buf);
    for (int round = 0; round < 600; round++) {
        size_t align = test_rand(&rng) % 8;
        /* short ones, then lengths across the three-lane path's rounds (6 KiB each) */
        size_t n = round < 64    ? (size_t)round
                   : round < 400 ? test_rand(&rng) % 4096
                                 : test_rand(&rng) % 65536;
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

    n = inmem__wal_enc_begin(buf, 0x1122334455667788ull, run, 1700000000123ull, TEST_LSN(3, 4096),
                             7);
    assert_int_equal(n, BEGIN_FRAME);
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_OK);
    assert_int_equal(r.type, INMEM__REC_BEGIN);
    assert_int_equal(r.len, INMEM__WAL_BEGIN_LEN);
    assert_int_equal(r.txn_id, 0x1122334455667788ull);
    assert_memory_equal(r.run, run, 16);
    assert_int_equal(r.time_ms, 1700000000123ull);
    assert_int_equal(r.synced_lsn, TEST_LSN(3, 4096));
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
    uint32_t format = 0;
    inmem__wal_enc_header(h, 7, SEG_SIZE);
    assert_memory_equal(h, "INMEMWAL", 8);
    assert_int_equal(inmem__get32(h + 8), 2);
    assert_int_equal(inmem__get32(h + 12), INMEM__WAL_HEADER);
    assert_ok(inmem__wal_check_header(h, sizeof h, &seq, &size, &format));
    assert_int_equal(seq, 7);
    assert_int_equal(size, SEG_SIZE);
    assert_int_equal(format, 2);
    /* format 1 is still read */
    inmem__put32(h + 8, 1);
    inmem__put32(h + 36, inmem__crc32c(0, h, 36));
    assert_ok(inmem__wal_check_header(h, sizeof h, &seq, &size, &format));
    assert_int_equal(format, 1);
    inmem__wal_enc_header(h, 7, SEG_SIZE);
    /* cut short, zeroed or not ours: corruption (a file under a segment's name in a database
     * directory is ours); only a valid header of another format version is EVERSION */
    assert_rc(INMEM_ECORRUPT, inmem__wal_check_header(h, sizeof h - 1, &seq, &size, &format));
    h[0] = 'X';
    assert_rc(INMEM_ECORRUPT, inmem__wal_check_header(h, sizeof h, &seq, &size, &format));
    memset(h, 0, sizeof h);
    assert_rc(INMEM_ECORRUPT, inmem__wal_check_header(h, sizeof h, &seq, &size, &format));
    inmem__wal_enc_header(h, 7, SEG_SIZE);
    inmem__put32(h + 8, 3);
    inmem__put32(h + 36, inmem__crc32c(0, h, 36));
    assert_rc(INMEM_EVERSION, inmem__wal_check_header(h, sizeof h, &seq, &size, &format));
    inmem__wal_enc_header(h, 7, SEG_SIZE);
    h[20] ^= 4; /* the checksum no longer matches */
    assert_rc(INMEM_ECORRUPT, inmem__wal_check_header(h, sizeof h, &seq, &size, &format));
}

/* ---- format 2: the one-record transaction frame ------------------------------------------- */

static void codec_varints_round_trip_and_refuse_overlong_or_cut_input(void **state)
{
    (void)state;
    uint64_t vals[] = {0,         1, 127, 128, 300, 16383, 16384, (1ull << 35) + 5, UINT64_MAX - 1,
                       UINT64_MAX};
    uint8_t buf[16];
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        size_t n = inmem__put_varint(buf, vals[i]);
        assert_int_equal(n, inmem__varint_size(vals[i]));
        const uint8_t *p = buf;
        uint64_t v = 0;
        assert_true(inmem__get_varint(&p, buf + n, &v));
        assert_int_equal(v, vals[i]);
        assert_ptr_equal(p, buf + n);
        p = buf; /* one byte short */
        assert_false(inmem__get_varint(&p, buf + n - 1, &v));
    }
    memset(buf, 0xff, sizeof buf); /* never ends */
    const uint8_t *p = buf;
    uint64_t v;
    assert_false(inmem__get_varint(&p, buf + sizeof buf, &v));
    memset(buf, 0x80, 9);
    buf[9] = 0x02; /* a tenth byte that overflows 64 bits */
    p = buf;
    assert_false(inmem__get_varint(&p, buf + 10, &v));
}

/* A TXN frame of puts (with and without expiry, an empty value) and a delete decodes to exactly
 * what was encoded, at exactly the size inmem__wal_txn_size() predicts. */
static void codec_txn_frame_round_trips_its_operations(void **state)
{
    (void)state;
    uint8_t buf[2048], k1[40], k2[3] = {'k', '2', 0}, k3[300];
    memset(k1, 'a', sizeof k1);
    memset(k3, 'c', sizeof k3);
    uint8_t val[500];
    for (size_t i = 0; i < sizeof val; i++)
        val[i] = (uint8_t)(i * 7);
    size_t ops = inmem__wal_op_size(sizeof k1, sizeof val, 0, 1700000000000ull) +
                 inmem__wal_op_size(sizeof k2, 0, 0, 0) + inmem__wal_op_size(sizeof k3, 0, 1, 0);
    uint64_t version = 123456789, time = 1765000000123ull;
    size_t want = inmem__wal_txn_size(version, time, 3, ops);
    assert_true(want <= sizeof buf);
    uint8_t *p = buf + inmem__wal_enc_txn_start(buf, version, time, 3);
    p += inmem__wal_enc_op_put(p, 1700000000000ull, k1, sizeof k1, val, sizeof val);
    p += inmem__wal_enc_op_put(p, 0, k2, sizeof k2, NULL, 0);
    p += inmem__wal_enc_op_delete(p, k3, sizeof k3);
    inmem__wal_enc_txn_end(buf, p);
    assert_int_equal((size_t)(p + 4 - buf), want);
    inmem__wal_rec r;
    assert_int_equal(inmem__wal_decode(buf, want, &r), INMEM__DEC_OK);
    assert_int_equal(r.type, INMEM__REC_TXN);
    assert_int_equal(r.len + INMEM__WAL_FRAME, want);
    assert_int_equal(r.version, version);
    assert_int_equal(r.txn_id, version);
    assert_int_equal(r.time_ms, time);
    assert_int_equal(r.records, 3);
    inmem__wal_rec o[3];
    assert_int_equal(txn_ops(&r, o, 3), 3);
    assert_int_equal(o[0].type, INMEM__REC_WRITE);
    assert_int_equal(o[0].version, version);
    assert_int_equal(o[0].expiry_ms, 1700000000000ull);
    assert_int_equal(o[0].klen, sizeof k1);
    assert_memory_equal(o[0].key, k1, sizeof k1);
    assert_int_equal(o[0].vlen, sizeof val);
    assert_memory_equal(o[0].val, val, sizeof val);
    assert_int_equal(o[1].type, INMEM__REC_WRITE);
    assert_int_equal(o[1].klen, sizeof k2);
    assert_int_equal(o[1].vlen, 0);
    assert_int_equal(o[1].expiry_ms, 0);
    assert_int_equal(o[2].type, INMEM__REC_DELETE);
    assert_int_equal(o[2].klen, sizeof k3);
    assert_memory_equal(o[2].key, k3, sizeof k3);
    /* every bit flip is caught */
    for (size_t i = 0; i < want * 8; i++) {
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        int d = inmem__wal_decode(buf, want, &r);
        CHECK(d != INMEM__DEC_OK || r.type != INMEM__REC_TXN || r.version != version,
              "bit %zu flipped and the frame still decodes", i);
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
}

/* inmem__wal_peek() (replay's look-ahead, for prefetching) steps frame by frame exactly as
 * decoding does and finds each transaction's first key, for every record kind; it stops at the
 * end of the log and at a frame cut short, and never reads past what it is given. */
static void codec_peek_steps_like_decode_and_finds_first_keys(void **state)
{
    (void)state;
    uint8_t buf[4096], k1[40], k2[7];
    memset(k1, 'a', sizeof k1);
    memset(k2, 'b', sizeof k2);
    size_t n = 0, at[5];
    at[0] = n;
    uint8_t *p = buf + inmem__wal_enc_txn_start(buf, 9, 1000, 2);
    p += inmem__wal_enc_op_delete(p, k1, sizeof k1);
    p += inmem__wal_enc_op_put(p, 0, k2, sizeof k2, "v", 1);
    inmem__wal_enc_txn_end(buf, p);
    n = (size_t)(p + 4 - buf);
    at[1] = n;
    n += inmem__wal_enc_write(buf + n, 10, 0, k2, sizeof k2, "vv", 2);
    at[2] = n;
    n += inmem__wal_enc_delete(buf + n, 11, k1, sizeof k1);
    at[3] = n;
    n += inmem__wal_enc_commit(buf + n, 5, 11, 2);
    at[4] = n;
    const uint8_t *want[4] = {k1, k2, k1, NULL};
    uint32_t wlen[4] = {sizeof k1, sizeof k2, sizeof k1, 0};
    for (int i = 0; i < 4; i++) {
        const uint8_t *key;
        uint32_t klen;
        inmem__wal_rec r;
        assert_int_equal(inmem__wal_decode(buf + at[i], n - at[i], &r), INMEM__DEC_OK);
        assert_int_equal(inmem__wal_peek(buf + at[i], n - at[i], &key, &klen),
                         INMEM__WAL_FRAME + r.len);
        assert_int_equal(at[i] + INMEM__WAL_FRAME + r.len, at[i + 1]);
        const uint8_t *expect = r.key; /* (NULL for a commit) */
        if (r.type == INMEM__REC_TXN) {
            inmem__wal_rec o[2];
            assert_int_equal(txn_ops(&r, o, 2), 2);
            expect = o[0].key;
        }
        assert_ptr_equal(key, expect);
        assert_int_equal(klen, wlen[i]);
        if (key)
            assert_memory_equal(key, want[i], klen);
        /* cut anywhere inside: nothing, and no read past the cut (ASan would see it) */
        for (size_t cut = 0; cut < at[i + 1] - at[i]; cut++) {
            uint8_t *c = malloc(cut ? cut : 1);
            assert_non_null(c);
            memcpy(c, buf + at[i], cut);
            assert_int_equal(inmem__wal_peek(c, cut, &key, &klen), 0);
            free(c);
        }
    }
    memset(buf + n, 0, 16); /* the end of the log */
    const uint8_t *key;
    uint32_t klen;
    assert_int_equal(inmem__wal_peek(buf + n, 16, &key, &klen), 0);
    assert_null(key);
}

/* A TXN frame whose checksum is right but whose content is impossible is malformed, never read
 * as a transaction: no operations, fewer or more than announced, an unknown operation, an empty
 * key, lengths past the end, trailing bytes. */
static void codec_txn_frame_with_impossible_content_is_malformed(void **state)
{
    (void)state;
    uint8_t body[64], buf[128];
    inmem__wal_rec r;
    struct {
        const char *what;
        uint8_t bytes[16];
        size_t n;
    } bad[] = {
        {"no operations", {5, 9, 0}, 3},
        {"two announced, one there", {5, 9, 2, 2, 1, 'k'}, 6},
        {"unknown operation", {5, 9, 1, 9, 1, 'k'}, 6},
        {"empty key", {5, 9, 1, 2, 0}, 5},
        {"key past the end", {5, 9, 1, 2, 9, 'k'}, 6},
        {"value past the end", {5, 9, 1, 1, 0, 1, 9, 'k', 'v'}, 9},
        {"trailing byte", {5, 9, 1, 2, 1, 'k', 0}, 7},
        {"cut varint", {0x85}, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(body, bad[i].bytes, bad[i].n);
        size_t n = enc_raw(buf, INMEM__REC_TXN, body, (uint32_t)bad[i].n);
        CHECK(inmem__wal_decode(buf, n, &r) == INMEM__DEC_BADBODY, "%s: not malformed",
              bad[i].what);
    }
    /* and a well-formed one built the same way decodes */
    const uint8_t good[] = {5, 9, 1, 2, 1, 'k'};
    size_t n = enc_raw(buf, INMEM__REC_TXN, good, sizeof good);
    assert_int_equal(inmem__wal_decode(buf, n, &r), INMEM__DEC_OK);
    assert_int_equal(r.version, 5);
}

/* ---- table -------------------------------------------------------------------------------- */

const struct CMUnitTest wal_codec_tests[] = {
    cmocka_unit_test(codec_varints_round_trip_and_refuse_overlong_or_cut_input),
    cmocka_unit_test(codec_txn_frame_round_trips_its_operations),
    cmocka_unit_test(codec_txn_frame_with_impossible_content_is_malformed),
    cmocka_unit_test(codec_peek_steps_like_decode_and_finds_first_keys),
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
};

INMEM_TEST_COUNT(wal_codec);
