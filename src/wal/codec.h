/*
 * codec.h — the write-ahead log's on-disk format: segment header and record frames, encoded
 * and decoded. Byte-by-byte description in docs/FORMAT.md; everything is little-endian.
 *
 * Segment file "wal-<16 hex digits>.log":
 *   offset 0   8  magic "INMEMWAL"
 *          8   4  format version (INMEM__WAL_FORMAT: 2; segments of format 1 are still read)
 *          12  4  header size (40)
 *          16  8  segment sequence number (1, 2, ...)
 *          24  8  segment size in bytes as allocated
 *          32  4  reserved, 0
 *          36  4  CRC-32C of bytes 0..35
 *   then records, then zeros to the end of the allocated size.
 *
 * Record frame:
 *   0     4  payload length L
 *   4     1  type
 *   5     L  payload
 *   5+L   4  CRC-32C of bytes [0, 5+L)
 *   A frame of all zeros (L = 0, type 0) is the end of the log.
 *
 * Payloads:
 *   BEGIN   txn id u64 · run id 16 B · time ms u64 · synced lsn u64 · records u32 · 0 u32  (48 B)
 *   WRITE   version u64 · expiry ms u64 · key length u32 · value length u32 · key · value
 *   DELETE  version u64 · key length u32 · key
 *   COMMIT  txn id u64 · commit version u64 · records u32 · 0 u32                         (24 B)
 *   CLOSE   version u64 · txn id u64                                                      (16 B)
 *           written (and synced) by a clean close as the last record: an end mark right after
 *           it needs no scan of the rest of the segment, and it proves every byte before it was
 *           synced (damage before it is corruption, never a torn tail).
 *   NEXT    next segment u64 · version u64 · txn id u64                                   (24 B)
 *           written (and synced) as a segment's last record once the next segment exists on
 *           disk: the log continues in segment `next`, so that segment missing is corruption.
 *   TXN     (format 2) a whole transaction in one frame:
 *           version varint · time ms varint · n varint · n operations, each:
 *             op u8 (1 put, 2 delete) · [put: expiry ms varint] · key length varint ·
 *             [put: value length varint] · key · [put: value]
 *           Every transaction is written so unless its frame would pass 4 GiB; then it is written
 *           as BEGIN, WRITE/DELETE records and COMMIT, as in format 1. The txn id of a TXN is its
 *           version.
 *   Every segment keeps room for a CLOSE and a NEXT frame after its last transaction.
 *   Varints are LEB128: 7 bits a byte, low bits first, the high bit set on every byte but the
 *   last; at most 10 bytes.
 *   Any other type with a valid checksum is skipped (forward compatibility).
 *
 * An LSN (log sequence number) is (segment sequence << 40) | byte offset in the segment.
 */
#ifndef INMEM_WAL_CODEC_H
#define INMEM_WAL_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/bytes.h"

#define INMEM__WAL_MAGIC      "INMEMWAL"
#define INMEM__WAL_FORMAT     2u /* written; format 1 (INMEM__WAL_FORMAT_OLD) is still read */
#define INMEM__WAL_FORMAT_OLD 1u
#define INMEM__WAL_HEADER     40u
#define INMEM__WAL_FRAME      9u /* length + type + checksum */
#define INMEM__WAL_BEGIN_LEN  48u
#define INMEM__WAL_COMMIT_LEN 24u
#define INMEM__WAL_CLOSE_LEN  16u
#define INMEM__WAL_NEXT_LEN   24u
/* Room every segment keeps after its last transaction: a CLOSE frame, then a NEXT frame. */
#define INMEM__WAL_END_ROOM     (2 * INMEM__WAL_FRAME + INMEM__WAL_CLOSE_LEN + INMEM__WAL_NEXT_LEN)
#define INMEM__WAL_WRITE_FIXED  24u
#define INMEM__WAL_DELETE_FIXED 12u

enum inmem__wal_type {
    INMEM__REC_BEGIN = 1,
    INMEM__REC_WRITE = 2,
    INMEM__REC_DELETE = 3,
    INMEM__REC_COMMIT = 4,
    INMEM__REC_CLOSE = 5,
    INMEM__REC_NEXT = 6,
    INMEM__REC_TXN = 7,
};

/* TXN operations */
enum inmem__wal_op {
    INMEM__OP_PUT = 1,
    INMEM__OP_DELETE = 2,
};

/* A decoded record; pointers point into the decoded buffer. */
typedef struct inmem__wal_rec {
    uint8_t type;
    uint32_t len; /* payload length */
    /* BEGIN / COMMIT */
    uint64_t txn_id;    /* BEGIN, COMMIT, CLOSE, NEXT, TXN */
    uint64_t next_seq;  /* NEXT */
    const uint8_t *ops; /* TXN: its operations (records = how many), ops_len bytes */
    size_t ops_len;
    uint8_t run[16];
    uint64_t time_ms;
    uint64_t synced_lsn;
    uint32_t records;
    /* WRITE / DELETE / COMMIT */
    uint64_t version;
    uint64_t expiry_ms;
    const uint8_t *key;
    uint32_t klen;
    const uint8_t *val;
    uint32_t vlen;
} inmem__wal_rec;

/* Frame sizes of a WRITE or DELETE record. */
static inline size_t inmem__wal_write_size(size_t klen, size_t vlen)
{
    return INMEM__WAL_FRAME + INMEM__WAL_WRITE_FIXED + klen + vlen;
}
static inline size_t inmem__wal_delete_size(size_t klen)
{
    return INMEM__WAL_FRAME + INMEM__WAL_DELETE_FIXED + klen;
}

/* The size of a TXN operation, and of a TXN frame of @p n operations taking @p ops bytes. */
static inline size_t inmem__wal_op_size(size_t klen, size_t vlen, int tomb, uint64_t expiry_ms)
{
    return tomb ? 1 + inmem__varint_size(klen) + klen
                : 1 + inmem__varint_size(expiry_ms) + inmem__varint_size(klen) +
                      inmem__varint_size(vlen) + klen + vlen;
}
static inline size_t inmem__wal_txn_size(uint64_t version, uint64_t time_ms, size_t n, size_t ops)
{
    return INMEM__WAL_FRAME + inmem__varint_size(version) + inmem__varint_size(time_ms) +
           inmem__varint_size(n) + ops;
}
/* TXN encoding: start writes the head and returns its size, each op writes its bytes, end writes
 * the length and checksum (@p ops_end: where the operations end). */
size_t inmem__wal_enc_txn_start(uint8_t *p, uint64_t version, uint64_t time_ms, size_t n);
size_t inmem__wal_enc_op_put(uint8_t *p, uint64_t expiry_ms, const uint8_t *key, uint32_t klen,
                             const void *val, uint32_t vlen);
size_t inmem__wal_enc_op_delete(uint8_t *p, const uint8_t *key, uint32_t klen);
void inmem__wal_enc_txn_end(uint8_t *frame, uint8_t *ops_end);
/* The next operation of a decoded TXN (from rec->ops): fills @p op as a WRITE or DELETE record
 * of version @p version and advances *p. 0 at a malformed operation. */
int inmem__wal_txn_op(const uint8_t **p, const uint8_t *end, uint64_t version, inmem__wal_rec *op);

/* Encoders: write one whole frame at @p p (which has room) and return its size. */
size_t inmem__wal_enc_begin(uint8_t *p, uint64_t txn_id, const uint8_t run[16], uint64_t time_ms,
                            uint64_t synced_lsn, uint32_t records);
size_t inmem__wal_enc_write(uint8_t *p, uint64_t version, uint64_t expiry_ms, const uint8_t *key,
                            uint32_t klen, const void *val, uint32_t vlen);
size_t inmem__wal_enc_delete(uint8_t *p, uint64_t version, const uint8_t *key, uint32_t klen);
size_t inmem__wal_enc_commit(uint8_t *p, uint64_t txn_id, uint64_t version, uint32_t records);
size_t inmem__wal_enc_close(uint8_t *p, uint64_t version, uint64_t txn_id);
size_t inmem__wal_enc_next(uint8_t *p, uint64_t next_seq, uint64_t version, uint64_t txn_id);
/* Writes a segment header into @p p (INMEM__WAL_HEADER bytes). */
void inmem__wal_enc_header(uint8_t *p, uint64_t seq, uint64_t seg_size);

/* Outcome of decoding one frame. */
enum inmem__wal_dec {
    INMEM__DEC_OK = 0,      /* a record */
    INMEM__DEC_END = 1,     /* an all-zero frame: end of the log */
    INMEM__DEC_SHORT = 2,   /* the frame runs past the end of the buffer */
    INMEM__DEC_BADSUM = 3,  /* checksum mismatch */
    INMEM__DEC_BADBODY = 4, /* checksum fine but the payload does not parse for its type */
};

/* Decodes the frame at @p p (@p avail bytes left). On INMEM__DEC_OK fills @p rec; the frame's
 * size is INMEM__WAL_FRAME + rec->len. Unknown types decode as OK with only type/len set. */
int inmem__wal_decode(const uint8_t *p, size_t avail, inmem__wal_rec *rec);

/* Looks at the frame at @p p without checking its checksum, for a prefetch and nothing else:
 * returns its size (0 at the log's end or at a frame that runs past @p avail) and sets *key and
 * *klen to the key of its first write or delete (NULL for other records, and for a body that does
 * not parse). What it says must never decide what recovery applies: inmem__wal_decode() does. */
size_t inmem__wal_peek(const uint8_t *p, size_t avail, const uint8_t **key, uint32_t *klen);

/* Checks a segment header: 0, INMEM_EVERSION (an inmem segment of another format version, with a
 * valid checksum), or INMEM_ECORRUPT (anything else: cut short, zeroed, not an inmem segment, bad
 * checksum). Fills *seq, *seg_size and *format (1 or 2). */
int inmem__wal_check_header(const uint8_t *p, size_t avail, uint64_t *seq, uint64_t *seg_size,
                            uint32_t *format);

#endif
