/*
 * events.c — event streams: per run (or the shared scope), named, append-only logs whose events
 * are chained by a hash, so that rewriting a stored event is detected by inmem_event_verify().
 * A stateless facade: every call encodes its keys and records and goes through the transaction
 * API (txn/txn.h), so appends commit or roll back with the caller's transaction.
 *
 * Keys (after the 17-byte prefix run id · INMEM__TAG_EVENT, core/key.h):
 *
 *   head of a stream   0x01 · stream name (1..63 bytes) · 0x00
 *   event              0x02 · stream name (1..63 bytes) · 0x00 · seq (u64 big-endian)
 *
 * Names never contain a NUL, so the 0x00 terminator makes memcmp order of the keys follow
 * strcmp order of the names, and a stream's events are one contiguous range ordered by seq.
 * The heads come before all events, so listing a run's streams scans heads only.
 *
 * Head record (33 bytes, little-endian):
 *
 *   0   u8   format, INMEM__FMT_V1
 *   1   u64  length: number of events, = the last sequence number
 *   9   u64  head hash: hash of the last event (0 if empty)
 *   17  u64  first_ms: time of event 1
 *   25  u64  last_ms: time of the last event
 *
 * Event record (39 + t + p bytes, little-endian):
 *
 *   0       u8   format, INMEM__FMT_V1
 *   1       u64  seq (must equal the seq in the key)
 *   9       u64  time_ms (Unix ms)
 *   17      u64  prev_hash (hash of event seq - 1; 0 for seq 1)
 *   25      u64  hash
 *   33      u8   t = length of the type (1..63)
 *   34      t    type bytes
 *   34 + t  u8   0x00
 *   35 + t  u32  p = payload length
 *   39 + t  p    payload bytes
 *
 * Hash: XXH3-64 (XXH3_64bits, seed 0) of the byte string
 *
 *   prev_hash u64 LE · seq u64 LE · time_ms u64 LE · t u32 LE · type (t bytes) ·
 *   p u32 LE · payload (p bytes)
 *
 * Invariants (kept by every append, checked by verify):
 *   1. A stream of length L has exactly the events 1..L, and no event L + 1.
 *   2. Event k's prev_hash is event k-1's hash (0 for k = 1); its hash is the hash above.
 *   3. time_ms never decreases along a stream: an append uses max(now, last_ms).
 *   4. The head's hash, first_ms and last_ms are those of events L, 1 and L.
 *
 * Concurrency: every append reads the head (so it is in the read set) and rewrites it, so two
 * transactions appending to the same stream conflict at commit and the second one retries on a
 * fresh snapshot: sequence numbers stay dense, with no duplicate and no gap. Appends to different
 * streams never conflict. Reads of one event do not touch the head; reads of a range do.
 *
 * If a call fails in the middle of an append (only out of memory can, after the arguments have
 * been checked), the transaction holds part of the append and must be aborted.
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "core/clock.h"
#include "primitives/rec.h"

#define SUB_HEAD  0x01
#define SUB_EVENT 0x02

/* prefix · sub · name (at most INMEM_NAME_MAX - 1) · 0x00 · seq */
#define KEY_MAX (INMEM__KEY_PREFIX + 1 + INMEM_NAME_MAX + 8)

#define HEAD_LEN  33
#define EVENT_FIX 39 /* an event record without its type and payload bytes */

typedef struct head {
    uint64_t length, hash, first_ms, last_ms;
} head;

/* ---- keys ---------------------------------------------------------------------------------- */

/* prefix · sub · name · 0x00; returns the length. @p slen < INMEM_NAME_MAX (checked). */
static size_t stream_key(uint8_t *k, const inmem_run_id *run, uint8_t sub, const char *stream,
                         size_t slen)
{
    inmem__key_prefix(k, run, INMEM__TAG_EVENT);
    k[INMEM__KEY_PREFIX] = sub;
    memcpy(k + INMEM__KEY_PREFIX + 1, stream, slen);
    k[INMEM__KEY_PREFIX + 1 + slen] = 0;
    return INMEM__KEY_PREFIX + 2 + slen;
}

static size_t event_key(uint8_t *k, const inmem_run_id *run, const char *stream, size_t slen,
                        uint64_t seq)
{
    size_t n = stream_key(k, run, SUB_EVENT, stream, slen);
    for (int i = 0; i < 8; i++)
        k[n + i] = (uint8_t)(seq >> (56 - 8 * i));
    return n + 8;
}

/* ---- records ------------------------------------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t event_hash(uint64_t prev, uint64_t seq, uint64_t time_ms, const char *type,
                           size_t tlen, const void *payload, size_t plen)
{
    uint8_t hdr[8 * 3 + 4 + INMEM_NAME_MAX + 4];
    put_le(hdr, prev, 8);
    put_le(hdr + 8, seq, 8);
    put_le(hdr + 16, time_ms, 8);
    put_le(hdr + 24, tlen, 4);
    memcpy(hdr + 28, type, tlen);
    put_le(hdr + 28 + tlen, plen, 4);
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, hdr, 32 + tlen);
    if (plen)
        XXH3_64bits_update(&st, payload, plen);
    return XXH3_64bits_digest(&st);
}

/* Reads the head at @p key into @p h: zeros (length 0) if the stream does not exist. */
static int head_read(inmem_txn *txn, const uint8_t *key, size_t klen, head *h)
{
    const void *val;
    size_t vlen;
    memset(h, 0, sizeof(*h));
    int rc = inmem__txn_get(txn, key, klen, &val, &vlen, NULL);
    if (rc == INMEM_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    inmem__rbuf r;
    inmem__rbuf_init(&r, val, vlen);
    uint8_t fmt = inmem__rbuf_u8(&r);
    h->length = inmem__rbuf_u64(&r);
    h->hash = inmem__rbuf_u64(&r);
    h->first_ms = inmem__rbuf_u64(&r);
    h->last_ms = inmem__rbuf_u64(&r);
    if (r.bad || r.off != r.len || fmt != INMEM__FMT_V1 || h->first_ms > h->last_ms) {
        memset(h, 0, sizeof(*h));
        return inmem__error(INMEM_ECORRUPT, "event stream head record does not decode");
    }
    return 0;
}

int inmem__event_decode(const void *val, size_t vlen, uint64_t seq, inmem_event *out)
{
    inmem__rbuf r;
    inmem__rbuf_init(&r, val, vlen);
    uint8_t fmt = inmem__rbuf_u8(&r);
    out->seq = inmem__rbuf_u64(&r);
    out->time_ms = inmem__rbuf_u64(&r);
    out->prev_hash = inmem__rbuf_u64(&r);
    out->hash = inmem__rbuf_u64(&r);
    inmem__rbuf_name(&r, out->type);
    out->payload = inmem__rbuf_blob(&r, &out->payload_len);
    if (r.bad || r.off != r.len || fmt != INMEM__FMT_V1 || out->seq != seq || !out->type[0])
        return inmem__error(INMEM_ECORRUPT, "event %llu: record does not decode",
                            (unsigned long long)seq);
    if (!out->payload)
        out->payload = "";
    return 0;
}

/* Reads event @p seq: INMEM_NOTFOUND if it is absent. */
static int event_read(inmem_txn *txn, const inmem_run_id *run, const char *stream, size_t slen,
                      uint64_t seq, inmem_event *out)
{
    uint8_t k[KEY_MAX];
    size_t klen = event_key(k, run, stream, slen, seq);
    const void *val;
    size_t vlen;
    int rc = inmem__txn_get(txn, k, klen, &val, &vlen, NULL);
    return rc ? rc : inmem__event_decode(val, vlen, seq, out);
}

/* Like event_read() for an event the head says exists: absent is corruption. */
static int event_must(inmem_txn *txn, const inmem_run_id *run, const char *stream, size_t slen,
                      uint64_t seq, inmem_event *out)
{
    int rc = event_read(txn, run, stream, slen, seq, out);
    if (rc == INMEM_NOTFOUND)
        rc = inmem__error(INMEM_ECORRUPT, "event %llu of stream '%s' is missing",
                          (unsigned long long)seq, inmem__shown(stream));
    return rc;
}

/* ---- forward scans over a stream's events -------------------------------------------------- */

typedef struct evscan {
    inmem_iter *it;
    uint64_t next, last; /* the seq expected next; the last one wanted */
    size_t klen;         /* length of every event key of the stream */
} evscan;

/* Opens a scan over events from..last (which the head says exist). */
static int evscan_open(evscan *s, inmem_txn *txn, const inmem_run_id *run, const char *stream,
                       size_t slen, uint64_t from, uint64_t last)
{
    uint8_t lo[KEY_MAX], hi[KEY_MAX];
    s->it = NULL;
    s->next = from;
    s->last = last;
    s->klen = event_key(lo, run, stream, slen, from);
    size_t hlen = stream_key(hi, run, SUB_EVENT, stream, slen);
    hi[hlen - 1] = 0x01; /* just past every key of this stream's events */
    return inmem__txn_scan(txn, lo, s->klen, hi, hlen, &s->it);
}

/* The next event: 0, INMEM_NOTFOUND past the last, INMEM_ECORRUPT if it is missing or bad. */
static int evscan_next(evscan *s, inmem_event *out)
{
    if (s->next > s->last)
        return INMEM_NOTFOUND;
    const uint8_t *key;
    size_t klen, vlen;
    const void *val;
    int rc = inmem__iter_next(s->it, &key, &klen, &val, &vlen, NULL);
    if (rc == 0 && (klen != s->klen || inmem__get64be(key + klen - 8) != s->next))
        rc = INMEM_NOTFOUND; /* a gap or a stray key: event s->next is not there */
    if (rc == INMEM_NOTFOUND)
        return inmem__error(INMEM_ECORRUPT, "event %llu is missing", (unsigned long long)s->next);
    if (rc == 0)
        rc = inmem__event_decode(val, vlen, s->next, out);
    if (rc == 0)
        s->next++;
    return rc;
}

static void evscan_close(evscan *s)
{
    inmem_iter_free(s->it);
    s->it = NULL;
}

/* ---- append -------------------------------------------------------------------------------- */

static int event_append_batch_unsettled(inmem_txn *txn, const inmem_run_id *run, const char *stream,
                                        size_t n, const inmem_event_in *events, uint64_t *first_seq)
{
    if (!txn || (n && !events))
        return INMEM_EINVAL;
    int rc = inmem__check_name(stream);
    if (rc)
        return rc;
    if (first_seq)
        *first_seq = 0;
    const inmem__store *st = inmem__txn_store(txn);
    for (size_t i = 0; i < n; i++) { /* check everything before writing anything */
        if ((rc = inmem__check_name(events[i].type)))
            return rc;
        if (!events[i].payload && events[i].payload_len)
            return INMEM_EINVAL;
        if (events[i].payload_len > UINT32_MAX ||
            EVENT_FIX + strlen(events[i].type) + events[i].payload_len > inmem__store_max_value(st))
            return INMEM_ETOOBIG;
    }
    if ((rc = inmem__txn_check_write(txn)) != 0 || n == 0) /* nothing to append: still refused */
        return rc;

    size_t slen = strlen(stream);
    uint8_t hk[KEY_MAX], ek[KEY_MAX];
    size_t hklen = stream_key(hk, run, SUB_HEAD, stream, slen);
    head h;
    if ((rc = head_read(txn, hk, hklen, &h)))
        return rc;
    if (h.length > UINT64_MAX - n)
        return INMEM_ETOOBIG;
    uint64_t now = inmem__clock_wall_ms();
    uint64_t t = now > h.last_ms ? now : h.last_ms; /* never decreasing (invariant 3) */
    uint64_t prev = h.hash;
    inmem__wbuf b;
    inmem__wbuf_init(&b);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const inmem_event_in *e = &events[i];
        uint64_t seq = h.length + 1 + i;
        size_t tlen = strlen(e->type);
        uint64_t hash = event_hash(prev, seq, t, e->type, tlen, e->payload, e->payload_len);
        b.len = 0;
        inmem__wbuf_u8(&b, INMEM__FMT_V1);
        inmem__wbuf_u64(&b, seq);
        inmem__wbuf_u64(&b, t);
        inmem__wbuf_u64(&b, prev);
        inmem__wbuf_u64(&b, hash);
        inmem__wbuf_name(&b, e->type);
        inmem__wbuf_blob(&b, e->payload, e->payload_len);
        if (b.oom) {
            rc = INMEM_ENOMEM;
            break;
        }
        size_t eklen = event_key(ek, run, stream, slen, seq);
        rc = inmem__txn_put(txn, ek, eklen, b.p, b.len, 0);
        prev = hash;
    }
    inmem__wbuf_free(&b);
    if (rc)
        return rc;
    uint8_t hv[HEAD_LEN];
    hv[0] = INMEM__FMT_V1;
    put_le(hv + 1, h.length + n, 8);
    put_le(hv + 9, prev, 8);
    put_le(hv + 17, h.length ? h.first_ms : t, 8);
    put_le(hv + 25, t, 8);
    if ((rc = inmem__txn_put(txn, hk, hklen, hv, sizeof hv, 0)))
        return rc;
    if (first_seq)
        *first_seq = h.length + 1;
    return 0;
}

static int event_append_unsettled(inmem_txn *txn, const inmem_run_id *run, const char *stream,
                                  const char *type, const void *payload, size_t len, uint64_t *seq)
{
    if (!type) /* else a NULL type would read as an empty batch */
        return INMEM_EINVAL;
    inmem_event_in e = {type, payload, len};
    return inmem_event_append_batch(txn, run, stream, 1, &e, seq);
}

typedef struct append_arg {
    const inmem_run_id *run;
    const char *stream;
    size_t n;
    const inmem_event_in *events;
    uint64_t first;
} append_arg;

static int append_fn(inmem_txn *txn, void *arg)
{
    append_arg *a = arg;
    return inmem_event_append_batch(txn, a->run, a->stream, a->n, a->events, &a->first);
}

int inmem_event_append_batch_db(inmem_db *db, const inmem_run_id *run, const char *stream, size_t n,
                                const inmem_event_in *events, uint64_t *first_seq)
{
    if (!db)
        return INMEM_EINVAL;
    append_arg a = {run, stream, n, events, 0};
    int rc = inmem__db_autocommit(db, append_fn, &a);
    if (first_seq)
        *first_seq = rc ? 0 : a.first;
    return rc;
}

int inmem_event_append_db(inmem_db *db, const inmem_run_id *run, const char *stream,
                          const char *type, const void *payload, size_t len, uint64_t *seq)
{
    if (!type)
        return INMEM_EINVAL;
    inmem_event_in e = {type, payload, len};
    return inmem_event_append_batch_db(db, run, stream, 1, &e, seq);
}

/* ---- reads --------------------------------------------------------------------------------- */

int inmem_event_get(inmem_txn *txn, const inmem_run_id *run, const char *stream, uint64_t seq,
                    inmem_event *out)
{
    if (!txn || !out)
        return INMEM_EINVAL;
    int rc = inmem__check_name(stream);
    if (rc)
        return rc;
    if (seq == 0)
        return INMEM_NOTFOUND;
    return event_read(txn, run, stream, strlen(stream), seq, out);
}

/* Checks a stream name and reads its head (a missing stream reads as empty). */
static int stream_head(inmem_txn *txn, const inmem_run_id *run, const char *stream, size_t *slen,
                       head *h)
{
    int rc = inmem__check_name(stream);
    if (rc)
        return rc;
    *slen = strlen(stream);
    uint8_t hk[KEY_MAX];
    return head_read(txn, hk, stream_key(hk, run, SUB_HEAD, stream, *slen), h);
}

int inmem_event_range(inmem_txn *txn, const inmem_run_id *run, const char *stream,
                      uint64_t from_seq, uint64_t to_seq, int backward, size_t limit,
                      inmem_event *out, size_t *n)
{
    if (!txn || !n || (!out && limit))
        return INMEM_EINVAL;
    *n = 0;
    size_t slen;
    head h;
    int rc = stream_head(txn, run, stream, &slen, &h);
    if (rc)
        return rc;
    uint64_t lo = from_seq ? from_seq : 1;
    uint64_t hi = (to_seq == 0 || to_seq > h.length) ? h.length : to_seq;
    if (limit == 0 || lo > hi)
        return 0;
    size_t k = 0;
    if (backward) {
        /* point reads from high to low: the index only iterates forward */
        for (uint64_t s = hi; s >= lo && k < limit; s--, k++)
            if ((rc = event_must(txn, run, stream, slen, s, &out[k])))
                break;
    } else {
        evscan sc;
        if ((rc = evscan_open(&sc, txn, run, stream, slen, lo, hi)))
            return rc;
        while (k < limit && (rc = evscan_next(&sc, &out[k])) == 0)
            k++;
        evscan_close(&sc);
        if (rc == INMEM_NOTFOUND)
            rc = 0;
    }
    *n = rc ? 0 : k;
    return rc;
}

int inmem_event_range_time(inmem_txn *txn, const inmem_run_id *run, const char *stream,
                           uint64_t from_ms, uint64_t to_ms, size_t limit, inmem_event *out,
                           size_t *n)
{
    if (!txn || !n || (!out && limit))
        return INMEM_EINVAL;
    *n = 0;
    size_t slen;
    head h;
    int rc = stream_head(txn, run, stream, &slen, &h);
    if (rc)
        return rc;
    if (limit == 0 || h.length == 0 || h.last_ms < from_ms || (to_ms && to_ms <= from_ms) ||
        (to_ms && h.first_ms >= to_ms))
        return 0;
    /* binary search for the first event with time_ms >= from_ms: in [lo, hi] (invariant 3) */
    uint64_t lo = 1, hi = h.length;
    if (h.first_ms < from_ms) {
        lo = 2; /* event 1 is too early; event `length` is not (last_ms >= from_ms) */
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            inmem_event e;
            if ((rc = event_must(txn, run, stream, slen, mid, &e)))
                return rc;
            if (e.time_ms >= from_ms)
                hi = mid;
            else
                lo = mid + 1;
        }
    }
    evscan sc;
    if ((rc = evscan_open(&sc, txn, run, stream, slen, lo, h.length)))
        return rc;
    size_t k = 0;
    while (k < limit && (rc = evscan_next(&sc, &out[k])) == 0 && (!to_ms || out[k].time_ms < to_ms))
        k++;
    evscan_close(&sc);
    if (rc == INMEM_NOTFOUND)
        rc = 0;
    *n = rc ? 0 : k;
    return rc;
}

int inmem_event_stream_info(inmem_txn *txn, const inmem_run_id *run, const char *stream,
                            inmem_stream_info *out)
{
    if (!txn || !out)
        return INMEM_EINVAL;
    memset(out, 0, sizeof(*out));
    int rc = inmem__check_name(stream);
    if (rc)
        return rc;
    uint8_t hk[KEY_MAX];
    head h;
    if ((rc = head_read(txn, hk, stream_key(hk, run, SUB_HEAD, stream, strlen(stream)), &h)))
        return rc;
    out->length = h.length;
    out->head_hash = h.hash;
    out->first_ms = h.first_ms;
    out->last_ms = h.last_ms;
    return 0;
}

typedef struct info_arg {
    const inmem_run_id *run;
    const char *stream;
    inmem_stream_info *out;
} info_arg;

static int info_fn(inmem_txn *txn, void *arg)
{
    info_arg *a = arg;
    return inmem_event_stream_info(txn, a->run, a->stream, a->out);
}

int inmem_event_stream_info_db(inmem_db *db, const inmem_run_id *run, const char *stream,
                               inmem_stream_info *out)
{
    if (!db || !out)
        return INMEM_EINVAL;
    info_arg a = {run, stream, out};
    return inmem__db_autocommit(db, info_fn, &a);
}

int inmem_event_streams(inmem_txn *txn, const inmem_run_id *run, const char *after, size_t limit,
                        char (*names)[INMEM_NAME_MAX], size_t *n)
{
    if (!txn || !n || (!names && limit))
        return INMEM_EINVAL;
    *n = 0;
    int rc = inmem__check_opt_name(after);
    if (rc || (rc = inmem__txn_check(txn)) != 0 || limit == 0) /* limit 0: see inmem__txn_check */
        return rc;
    uint8_t lo[KEY_MAX], hi[INMEM__KEY_PREFIX + 1];
    size_t lolen;
    if (after && *after) {
        lolen = stream_key(lo, run, SUB_HEAD, after, strlen(after));
        lo[lolen - 1] = 0x01; /* the first key after `after`'s own (which ends in 0x00) */
    } else {
        inmem__key_prefix(lo, run, INMEM__TAG_EVENT);
        lo[INMEM__KEY_PREFIX] = SUB_HEAD;
        lolen = INMEM__KEY_PREFIX + 1;
    }
    inmem__key_prefix(hi, run, INMEM__TAG_EVENT);
    hi[INMEM__KEY_PREFIX] = SUB_EVENT; /* heads end where events begin */
    inmem_iter *it;
    if ((rc = inmem__txn_scan(txn, lo, lolen, hi, sizeof hi, &it)))
        return rc;
    size_t k = 0;
    const uint8_t *key;
    size_t klen;
    while (k < limit && (rc = inmem__iter_next(it, &key, &klen, NULL, NULL, NULL)) == 0) {
        const uint8_t *name = key + INMEM__KEY_PREFIX + 1;
        size_t nlen = klen - INMEM__KEY_PREFIX - 2; /* used once klen is checked */
        if (klen < INMEM__KEY_PREFIX + 3 || nlen >= INMEM_NAME_MAX || name[nlen] != 0 ||
            memchr(name, 0, nlen)) {
            rc = inmem__error(INMEM_ECORRUPT, "event stream head key does not decode");
            break;
        }
        memcpy(names[k], name, nlen + 1);
        k++;
    }
    inmem_iter_free(it);
    if (rc == INMEM_NOTFOUND)
        rc = 0;
    *n = rc ? 0 : k;
    return rc;
}

/* ---- verify -------------------------------------------------------------------------------- */

int inmem_event_verify(inmem_txn *txn, const inmem_run_id *run, const char *stream,
                       uint64_t *first_broken)
{
    if (!txn || !first_broken)
        return INMEM_EINVAL;
    *first_broken = 0;
    size_t slen;
    head h;
    int rc = stream_head(txn, run, stream, &slen, &h);
    if (rc)
        return rc;
    uint64_t broken = 0, prev = 0, prev_ms = 0;
    inmem_event e;
    if (h.length) {
        evscan sc;
        if ((rc = evscan_open(&sc, txn, run, stream, slen, 1, h.length)))
            return rc;
        while ((rc = evscan_next(&sc, &e)) == 0) {
            uint64_t want = event_hash(e.prev_hash, e.seq, e.time_ms, e.type, strlen(e.type),
                                       e.payload, e.payload_len);
            if (e.prev_hash != prev || e.hash != want || e.time_ms < prev_ms ||
                (e.seq == 1 && e.time_ms != h.first_ms)) {
                broken = e.seq;
                break;
            }
            prev = e.hash;
            prev_ms = e.time_ms;
        }
        if (rc == INMEM_ECORRUPT) { /* missing or undecodable: the chain breaks there */
            broken = sc.next;
            rc = 0;
        }
        evscan_close(&sc);
        if (rc && rc != INMEM_NOTFOUND)
            return rc;
        rc = 0;
        if (!broken && (h.hash != prev || h.last_ms != prev_ms))
            broken = h.length; /* the head does not point at the last event (invariant 4) */
    }
    if (!broken && h.length < UINT64_MAX) { /* nothing past the end (invariant 1) */
        rc = event_read(txn, run, stream, slen, h.length + 1, &e);
        if (rc == 0 || rc == INMEM_ECORRUPT)
            broken = h.length + 1;
        else if (rc != INMEM_NOTFOUND)
            return rc;
        rc = 0;
    }
    *first_broken = broken;
    return rc;
}

typedef struct verify_arg {
    const inmem_run_id *run;
    const char *stream;
    uint64_t broken;
} verify_arg;

static int verify_fn(inmem_txn *txn, void *arg)
{
    verify_arg *a = arg;
    return inmem_event_verify(txn, a->run, a->stream, &a->broken);
}

int inmem_event_verify_db(inmem_db *db, const inmem_run_id *run, const char *stream,
                          uint64_t *first_broken)
{
    if (!db || !first_broken)
        return INMEM_EINVAL;
    verify_arg a = {run, stream, 0};
    int rc = inmem__db_autocommit(db, verify_fn, &a);
    *first_broken = rc ? 0 : a.broken;
    return rc;
}

int inmem_event_append_batch(inmem_txn *txn, const inmem_run_id *run, const char *stream, size_t n,
                             const inmem_event_in *events, uint64_t *first_seq)
{
    uint64_t mark = inmem__txn_mark(txn);
    return inmem__txn_settle(txn, mark,
                             event_append_batch_unsettled(txn, run, stream, n, events, first_seq));
}

int inmem_event_append(inmem_txn *txn, const inmem_run_id *run, const char *stream,
                       const char *type, const void *payload, size_t len, uint64_t *seq)
{
    uint64_t mark = inmem__txn_mark(txn);
    return inmem__txn_settle(txn, mark,
                             event_append_unsettled(txn, run, stream, type, payload, len, seq));
}
