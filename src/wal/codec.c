/*
 * codec.c — encoding and decoding of log records and segment headers (format in codec.h and
 * docs/FORMAT.md). Decoding never trusts the bytes: every length is checked against the buffer
 * before it is used, so a corrupt or hostile file yields an error code, never a crash.
 */
#include "wal/codec.h"

#include "core/common.h"
#include "core/crc32c.h"

static size_t seal(uint8_t *p, uint8_t type, uint32_t len)
{
    inmem__put32(p, len);
    p[4] = type;
    inmem__put32(p + 5 + len, inmem__crc32c(0, p, 5 + (size_t)len));
    return INMEM__WAL_FRAME + len;
}

size_t inmem__wal_enc_begin(uint8_t *p, uint64_t txn_id, const uint8_t run[16], uint64_t time_ms,
                            uint64_t synced_lsn, uint32_t records)
{
    uint8_t *b = p + 5;
    inmem__put64(b, txn_id);
    memcpy(b + 8, run, 16);
    inmem__put64(b + 24, time_ms);
    inmem__put64(b + 32, synced_lsn);
    inmem__put32(b + 40, records);
    inmem__put32(b + 44, 0);
    return seal(p, INMEM__REC_BEGIN, INMEM__WAL_BEGIN_LEN);
}

size_t inmem__wal_enc_write(uint8_t *p, uint64_t version, uint64_t expiry_ms, const uint8_t *key,
                            uint32_t klen, const void *val, uint32_t vlen)
{
    uint8_t *b = p + 5;
    inmem__put64(b, version);
    inmem__put64(b + 8, expiry_ms);
    inmem__put32(b + 16, klen);
    inmem__put32(b + 20, vlen);
    memcpy(b + 24, key, klen);
    if (vlen)
        memcpy(b + 24 + klen, val, vlen);
    return seal(p, INMEM__REC_WRITE, INMEM__WAL_WRITE_FIXED + klen + vlen);
}

size_t inmem__wal_enc_delete(uint8_t *p, uint64_t version, const uint8_t *key, uint32_t klen)
{
    uint8_t *b = p + 5;
    inmem__put64(b, version);
    inmem__put32(b + 8, klen);
    memcpy(b + 12, key, klen);
    return seal(p, INMEM__REC_DELETE, INMEM__WAL_DELETE_FIXED + klen);
}

size_t inmem__wal_enc_commit(uint8_t *p, uint64_t txn_id, uint64_t version, uint32_t records)
{
    uint8_t *b = p + 5;
    inmem__put64(b, txn_id);
    inmem__put64(b + 8, version);
    inmem__put32(b + 16, records);
    inmem__put32(b + 20, 0);
    return seal(p, INMEM__REC_COMMIT, INMEM__WAL_COMMIT_LEN);
}

size_t inmem__wal_enc_close(uint8_t *p, uint64_t version, uint64_t txn_id)
{
    inmem__put64(p + 5, version);
    inmem__put64(p + 13, txn_id);
    return seal(p, INMEM__REC_CLOSE, INMEM__WAL_CLOSE_LEN);
}

size_t inmem__wal_enc_next(uint8_t *p, uint64_t next_seq, uint64_t version, uint64_t txn_id)
{
    inmem__put64(p + 5, next_seq);
    inmem__put64(p + 13, version);
    inmem__put64(p + 21, txn_id);
    return seal(p, INMEM__REC_NEXT, INMEM__WAL_NEXT_LEN);
}

size_t inmem__wal_enc_txn_start(uint8_t *p, uint64_t version, uint64_t time_ms, size_t n)
{
    p[4] = INMEM__REC_TXN;
    size_t k = 5;
    k += inmem__put_varint(p + k, version);
    k += inmem__put_varint(p + k, time_ms);
    k += inmem__put_varint(p + k, n);
    return k;
}

size_t inmem__wal_enc_op_put(uint8_t *p, uint64_t expiry_ms, const uint8_t *key, uint32_t klen,
                             const void *val, uint32_t vlen)
{
    size_t k = 0;
    p[k++] = INMEM__OP_PUT;
    k += inmem__put_varint(p + k, expiry_ms);
    k += inmem__put_varint(p + k, klen);
    k += inmem__put_varint(p + k, vlen);
    memcpy(p + k, key, klen);
    k += klen;
    if (vlen)
        memcpy(p + k, val, vlen);
    return k + vlen;
}

size_t inmem__wal_enc_op_delete(uint8_t *p, const uint8_t *key, uint32_t klen)
{
    size_t k = 0;
    p[k++] = INMEM__OP_DELETE;
    k += inmem__put_varint(p + k, klen);
    memcpy(p + k, key, klen);
    return k + klen;
}

void inmem__wal_enc_txn_end(uint8_t *frame, uint8_t *ops_end)
{
    uint32_t len = (uint32_t)(ops_end - frame - 5);
    inmem__put32(frame, len);
    inmem__put32(ops_end, inmem__crc32c(0, frame, 5 + (size_t)len));
}

int inmem__wal_txn_op(const uint8_t **p, const uint8_t *end, uint64_t version, inmem__wal_rec *op)
{
    const uint8_t *q = *p;
    uint64_t expiry = 0, klen = 0, vlen = 0;
    if (q >= end)
        return 0;
    uint8_t kind = *q++;
    if (kind != INMEM__OP_PUT && kind != INMEM__OP_DELETE)
        return 0;
    if (kind == INMEM__OP_PUT && !inmem__get_varint(&q, end, &expiry))
        return 0;
    if (!inmem__get_varint(&q, end, &klen) || klen == 0 || klen > UINT32_MAX)
        return 0;
    if (kind == INMEM__OP_PUT && (!inmem__get_varint(&q, end, &vlen) || vlen > UINT32_MAX))
        return 0;
    if ((uint64_t)(end - q) < klen || (uint64_t)(end - q) - klen < vlen)
        return 0;
    memset(op, 0, sizeof(*op));
    op->type = kind == INMEM__OP_PUT ? INMEM__REC_WRITE : INMEM__REC_DELETE;
    op->version = version;
    op->expiry_ms = expiry;
    op->key = q;
    op->klen = (uint32_t)klen;
    op->val = q + klen;
    op->vlen = (uint32_t)vlen;
    *p = q + klen + vlen;
    return 1;
}

void inmem__wal_enc_header(uint8_t *p, uint64_t seq, uint64_t seg_size)
{
    memcpy(p, INMEM__WAL_MAGIC, 8);
    inmem__put32(p + 8, INMEM__WAL_FORMAT);
    inmem__put32(p + 12, INMEM__WAL_HEADER);
    inmem__put64(p + 16, seq);
    inmem__put64(p + 24, seg_size);
    inmem__put32(p + 32, 0);
    inmem__put32(p + 36, inmem__crc32c(0, p, 36));
}

int inmem__wal_check_header(const uint8_t *p, size_t avail, uint64_t *seq, uint64_t *seg_size,
                            uint32_t *format)
{
    if (avail < INMEM__WAL_HEADER || memcmp(p, INMEM__WAL_MAGIC, 8) != 0)
        return INMEM_ECORRUPT;
    if (inmem__get32(p + 36) != inmem__crc32c(0, p, 36))
        return INMEM_ECORRUPT;
    uint32_t f = inmem__get32(p + 8);
    if ((f != INMEM__WAL_FORMAT && f != INMEM__WAL_FORMAT_OLD) ||
        inmem__get32(p + 12) != INMEM__WAL_HEADER)
        return INMEM_EVERSION;
    *seq = inmem__get64(p + 16);
    *seg_size = inmem__get64(p + 24);
    *format = f;
    return 0;
}

size_t inmem__wal_peek(const uint8_t *p, size_t avail, const uint8_t **key, uint32_t *klen)
{
    *key = NULL;
    *klen = 0;
    if (avail < INMEM__WAL_FRAME)
        return 0;
    uint32_t len = inmem__get32(p);
    uint8_t type = p[4];
    if ((len == 0 && type == 0) || (uint64_t)len > avail - INMEM__WAL_FRAME)
        return 0;
    const uint8_t *b = p + 5, *end = b + len;
    if (type == INMEM__REC_WRITE && len >= INMEM__WAL_WRITE_FIXED) {
        uint32_t k = inmem__get32(b + 16);
        if (k <= len - INMEM__WAL_WRITE_FIXED) {
            *key = b + 24;
            *klen = k;
        }
    } else if (type == INMEM__REC_DELETE && len >= INMEM__WAL_DELETE_FIXED) {
        uint32_t k = inmem__get32(b + 8);
        if (k <= len - INMEM__WAL_DELETE_FIXED) {
            *key = b + 12;
            *klen = k;
        }
    } else if (type == INMEM__REC_TXN) {
        uint64_t version, time_ms, n;
        inmem__wal_rec op;
        if (inmem__get_varint(&b, end, &version) && inmem__get_varint(&b, end, &time_ms) &&
            inmem__get_varint(&b, end, &n) && n > 0 && inmem__wal_txn_op(&b, end, version, &op)) {
            *key = op.key;
            *klen = op.klen;
        }
    }
    return INMEM__WAL_FRAME + (size_t)len;
}

int inmem__wal_decode(const uint8_t *p, size_t avail, inmem__wal_rec *rec)
{
    if (avail < INMEM__WAL_FRAME) {
        for (size_t i = 0; i < avail; i++)
            if (p[i])
                return INMEM__DEC_SHORT;
        return INMEM__DEC_END;
    }
    uint32_t len = inmem__get32(p);
    uint8_t type = p[4];
    if (len == 0 && type == 0)
        return INMEM__DEC_END;
    if ((uint64_t)len > avail - INMEM__WAL_FRAME)
        return INMEM__DEC_SHORT;
    if (inmem__get32(p + 5 + len) != inmem__crc32c(0, p, 5 + (size_t)len))
        return INMEM__DEC_BADSUM;
    memset(rec, 0, sizeof(*rec));
    rec->type = type;
    rec->len = len;
    const uint8_t *b = p + 5;
    switch (type) {
    case INMEM__REC_BEGIN:
        if (len != INMEM__WAL_BEGIN_LEN)
            return INMEM__DEC_BADBODY;
        rec->txn_id = inmem__get64(b);
        memcpy(rec->run, b + 8, 16);
        rec->time_ms = inmem__get64(b + 24);
        rec->synced_lsn = inmem__get64(b + 32);
        rec->records = inmem__get32(b + 40);
        return INMEM__DEC_OK;
    case INMEM__REC_WRITE:
        if (len < INMEM__WAL_WRITE_FIXED)
            return INMEM__DEC_BADBODY;
        rec->version = inmem__get64(b);
        rec->expiry_ms = inmem__get64(b + 8);
        rec->klen = inmem__get32(b + 16);
        rec->vlen = inmem__get32(b + 20);
        if ((uint64_t)INMEM__WAL_WRITE_FIXED + rec->klen + rec->vlen != len)
            return INMEM__DEC_BADBODY;
        rec->key = b + 24;
        rec->val = b + 24 + rec->klen;
        return INMEM__DEC_OK;
    case INMEM__REC_DELETE:
        if (len < INMEM__WAL_DELETE_FIXED)
            return INMEM__DEC_BADBODY;
        rec->version = inmem__get64(b);
        rec->klen = inmem__get32(b + 8);
        if ((uint64_t)INMEM__WAL_DELETE_FIXED + rec->klen != len)
            return INMEM__DEC_BADBODY;
        rec->key = b + 12;
        return INMEM__DEC_OK;
    case INMEM__REC_COMMIT:
        if (len != INMEM__WAL_COMMIT_LEN)
            return INMEM__DEC_BADBODY;
        rec->txn_id = inmem__get64(b);
        rec->version = inmem__get64(b + 8);
        rec->records = inmem__get32(b + 16);
        return INMEM__DEC_OK;
    case INMEM__REC_CLOSE:
        if (len != INMEM__WAL_CLOSE_LEN)
            return INMEM__DEC_BADBODY;
        rec->version = inmem__get64(b);
        rec->txn_id = inmem__get64(b + 8);
        return INMEM__DEC_OK;
    case INMEM__REC_TXN: {
        /* the head, then every operation must parse, exactly to the end */
        const uint8_t *q = b, *end = b + len;
        uint64_t n = 0;
        if (!inmem__get_varint(&q, end, &rec->version) ||
            !inmem__get_varint(&q, end, &rec->time_ms) || !inmem__get_varint(&q, end, &n) ||
            n == 0 || n > len)
            return INMEM__DEC_BADBODY;
        rec->records = (uint32_t)n;
        rec->txn_id = rec->version;
        rec->ops = q;
        rec->ops_len = (size_t)(end - q);
        inmem__wal_rec op;
        for (uint64_t i = 0; i < n; i++)
            if (!inmem__wal_txn_op(&q, end, rec->version, &op))
                return INMEM__DEC_BADBODY;
        return q == end ? INMEM__DEC_OK : INMEM__DEC_BADBODY;
    }
    case INMEM__REC_NEXT:
        if (len != INMEM__WAL_NEXT_LEN)
            return INMEM__DEC_BADBODY;
        rec->next_seq = inmem__get64(b);
        rec->version = inmem__get64(b + 8);
        rec->txn_id = inmem__get64(b + 16);
        return INMEM__DEC_OK;
    default:
        return INMEM__DEC_OK; /* unknown: the caller skips it */
    }
}
