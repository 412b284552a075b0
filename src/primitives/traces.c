/*
 * traces.c — the traces primitive: spans of an agent's reasoning (tool calls, decisions, queries,
 * thoughts, errors, custom steps), each with a name, an optional parent span (so spans form
 * trees), input and output bytes, a confidence, a start time and duration, and tags. A span is
 * written once and never changed. Spans are queried by kind, parent, tag and start-time range,
 * and a whole tree is read depth-first. Like every primitive this is a stateless facade: each
 * call encodes keys in the run's TRACE space (core/key.h, tag INMEM__TAG_TRACE) and calls the
 * transaction layer, so a span and its index entries commit or roll back together, with
 * whatever else the transaction wrote.
 *
 * Keys (after the 17-byte run/tag prefix; "id" is a 16-byte span id, "start" the span's start_ms
 * as 8 bytes big-endian so that memcmp order is time order):
 *
 *   's' · id                          the span record (below)
 *   'k' · kind (1 byte) · start · id  index by kind
 *   'p' · parent id · start · id      index by parent (root spans under the all-zero id)
 *   'g' · tag · 0x00 · start · id     index by tag, one entry per distinct tag
 *   't' · start · id                  index by time
 *
 * Tags are names (1..63 bytes, no NUL), so the 0x00 after a tag ends it: 'g' "a" 0x00 is never
 * a prefix of tag "ab"'s entries. Every index value is the single byte INMEM__FMT_V1; all the
 * information is in the key. Index entries are written in the same transaction as the span.
 *
 * Span record (the value under 's' · id), little-endian:
 *
 *   offset  size   field
 *   0       1      format, INMEM__FMT_V1
 *   1       1      kind, 1..6 (inmem_trace_kind)
 *   2       16     parent span id (all zero: a root span)
 *   18      8      start_ms, Unix milliseconds
 *   26      8      duration_us
 *   34      8      confidence: the bits of the IEEE-754 double (so NaN round-trips)
 *   42      n+2    name: u8 length n (1..63), n bytes, NUL
 *   ..      1      ntags, 0..16
 *   ..             ntags tags, each as u8 length n (1..63), n bytes, NUL
 *   ..      4+n    input: u32 length n, n bytes
 *   ..      4+n    output: u32 length n, n bytes
 *
 * and nothing after. A record that does not decode exactly so, an index entry whose span is
 * missing or disagrees with it, gives INMEM_ECORRUPT.
 *
 * Recording: an all-zero span id makes a new time-ordered id (inmem_run_id_new; written blind,
 * so concurrent recorders never conflict); a caller-supplied id is read first (INMEM_EINVAL if it
 * exists; the read makes two transactions recording the same id conflict). start_ms 0 means now.
 * Every argument and key length is checked before the first write, so a record fails whole
 * except on ENOMEM (then the caller aborts, as after any failed write).
 *
 * Queries pick the most selective index the filter allows — parent, else tag, else kind, else
 * time — and scan its range [equality prefix · from_ms, equality prefix · to_ms), checking the
 * filter's other conditions on each span. Every index orders entries by (start_ms, id) after
 * its equality prefix, so results come in that order whichever index is used, and a cursor (a
 * span id, which must exist in the run: INMEM_EINVAL otherwise) resumes strictly after (its
 * start_ms, its id) by starting the scan at prefix · start · id · 0x00.
 *
 * Trees are walked depth-first with an explicit stack of (parent, last child visited); each step
 * opens a one-entry scan of the parent index after the last child, so one iterator is open at a
 * time whatever the depth. The walk stops at limit (*n = limit, return 0). Each span has one
 * parent, so the only span a walk can reach twice is the root (a cycle made with caller ids);
 * it is skipped, which makes every walk finite.
 */
#include <string.h>

#include "core/clock.h"
#include "primitives/rec.h"

#define ID_LEN 16
/* Index entries end with start (8) · id (16). */
#define POS_LEN (8 + ID_LEN)

enum { K_SPAN = 's', K_KIND = 'k', K_PARENT = 'p', K_TAG = 'g', K_TIME = 't' };

/* The value of every index entry. */
static const uint8_t index_mark[1] = {INMEM__FMT_V1};

/* An encoded key: at most prefix 17 · 'g' · tag 63 · 0x00 · start 8 · id 16 · 0x00 = 107. */
typedef struct tkey {
    uint8_t b[128];
    size_t len;
} tkey;

static void tkey_start(tkey *k, const inmem_run_id *run, uint8_t type)
{
    inmem__key_prefix(k->b, run, INMEM__TAG_TRACE);
    k->b[INMEM__KEY_PREFIX] = type;
    k->len = INMEM__KEY_PREFIX + 1;
}

static void tkey_bytes(tkey *k, const void *p, size_t n)
{
    assert(k->len + n <= sizeof k->b);
    if (n)
        memcpy(k->b + k->len, p, n);
    k->len += n;
}

static void tkey_u8(tkey *k, uint8_t v)
{
    tkey_bytes(k, &v, 1);
}

static void tkey_be64(tkey *k, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (56 - 8 * i));
    tkey_bytes(k, t, 8);
}

/* Turns @p k into the smallest key greater than every key starting with it. Our prefixes always
 * hold a type letter, so some byte is below 0xff. */
static void tkey_successor(tkey *k)
{
    while (k->len > 0 && k->b[k->len - 1] == 0xff)
        k->len--;
    assert(k->len > INMEM__KEY_PREFIX);
    k->b[k->len - 1]++;
}

/* memcmp order of encoded keys: a proper prefix sorts first. */
static int tkey_cmp(const tkey *a, const tkey *b)
{
    int c = memcmp(a->b, b->b, a->len < b->len ? a->len : b->len);
    if (c)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

static void span_key(tkey *k, const inmem_run_id *run, const inmem_run_id *id)
{
    tkey_start(k, run, K_SPAN);
    tkey_bytes(k, id->bytes, ID_LEN);
}

static int id_eq(const inmem_run_id *a, const inmem_run_id *b)
{
    return memcmp(a->bytes, b->bytes, ID_LEN) == 0;
}

/* 0 if @p s (a char[INMEM_NAME_MAX] that may lack a NUL) is a valid name. */
static int check_name_field(const char *s)
{
    size_t n = strnlen(s, INMEM_NAME_MAX);
    if (n == 0)
        return INMEM_EINVAL;
    return n == INMEM_NAME_MAX ? INMEM_ETOOBIG : 0;
}

static int check_span(const inmem_span *s)
{
    if (s->kind < INMEM_TRACE_TOOL_CALL || s->kind > INMEM_TRACE_CUSTOM)
        return inmem__error(INMEM_EINVAL, "trace span kind %d is not 1..6", (int)s->kind);
    if ((!s->input && s->input_len) || (!s->output && s->output_len))
        return INMEM_EINVAL;
    if (s->input_len > UINT32_MAX || s->output_len > UINT32_MAX)
        return INMEM_ETOOBIG;
    if (s->ntags > INMEM_MAX_TAGS)
        return inmem__error(INMEM_EINVAL, "trace span has %zu tags, at most %d", s->ntags,
                            INMEM_MAX_TAGS);
    int rc = check_name_field(s->name);
    for (size_t i = 0; rc == 0 && i < s->ntags; i++)
        rc = check_name_field(s->tags[i]);
    return rc;
}

/* ---- the span record ---- */

/* The length of @p s's record (encode_span(); @p s passed check_span(), so its input and output
 * are at most UINT32_MAX bytes each and the sum cannot wrap a uint64_t). */
static uint64_t span_record_len(const inmem_span *s)
{
    uint64_t n = 42 + 1 + strlen(s->name) + 1 + 1; /* up to the name; the name; ntags */
    for (size_t i = 0; i < s->ntags; i++)
        n += 1 + strlen(s->tags[i]) + 1;
    return n + 4 + (uint64_t)s->input_len + 4 + (uint64_t)s->output_len;
}

static void encode_span(inmem__wbuf *b, const inmem_span *s, uint64_t start_ms)
{
    uint64_t conf;
    memcpy(&conf, &s->confidence, sizeof conf);
    inmem__wbuf_u8(b, INMEM__FMT_V1);
    inmem__wbuf_u8(b, (uint8_t)s->kind);
    inmem__wbuf_bytes(b, s->parent.bytes, ID_LEN);
    inmem__wbuf_u64(b, start_ms);
    inmem__wbuf_u64(b, s->duration_us);
    inmem__wbuf_u64(b, conf);
    inmem__wbuf_name(b, s->name);
    inmem__wbuf_u8(b, (uint8_t)s->ntags);
    for (size_t i = 0; i < s->ntags; i++)
        inmem__wbuf_name(b, s->tags[i]);
    inmem__wbuf_blob(b, s->input, s->input_len);
    inmem__wbuf_blob(b, s->output, s->output_len);
}

/* A name that must be 1..63 bytes without an inner NUL. */
static void read_name(inmem__rbuf *r, char *out)
{
    size_t at = r->off;
    inmem__rbuf_name(r, out);
    if (!r->bad && (out[0] == '\0' || strlen(out) != r->p[at]))
        r->bad = 1;
}

/* Decodes a span record into *out (its id is left alone); pointers borrow from @p val. */
static int decode_span(const void *val, size_t len, inmem_span *out)
{
    inmem__rbuf r;
    inmem_span s;
    memset(&s, 0, sizeof s);
    s.id = out->id;
    inmem__rbuf_init(&r, val, len);
    uint8_t fmt = inmem__rbuf_u8(&r), kind = inmem__rbuf_u8(&r);
    const uint8_t *parent = inmem__rbuf_take(&r, ID_LEN);
    if (parent)
        memcpy(s.parent.bytes, parent, ID_LEN);
    s.kind = (inmem_trace_kind)kind;
    s.start_ms = inmem__rbuf_u64(&r);
    s.duration_us = inmem__rbuf_u64(&r);
    uint64_t conf = inmem__rbuf_u64(&r);
    memcpy(&s.confidence, &conf, sizeof conf);
    read_name(&r, s.name);
    s.ntags = inmem__rbuf_u8(&r);
    if (s.ntags > INMEM_MAX_TAGS)
        r.bad = 1;
    for (size_t i = 0; !r.bad && i < s.ntags; i++)
        read_name(&r, s.tags[i]);
    s.input = inmem__rbuf_blob(&r, &s.input_len);
    s.output = inmem__rbuf_blob(&r, &s.output_len);
    if (r.bad || r.off != r.len || fmt != INMEM__FMT_V1 || kind < INMEM_TRACE_TOOL_CALL ||
        kind > INMEM_TRACE_CUSTOM)
        return inmem__error(INMEM_ECORRUPT, "trace span record of %zu bytes does not decode", len);
    if (!s.input_len)
        s.input = NULL;
    if (!s.output_len)
        s.output = NULL;
    *out = s;
    return 0;
}

/* Reads span @p id of @p run into *out: 0, INMEM_NOTFOUND, INMEM_ECORRUPT or the txn's error. */
static int read_span(inmem_txn *txn, const inmem_run_id *run, const inmem_run_id *id,
                     inmem_span *out)
{
    tkey k;
    span_key(&k, run, id);
    const void *val;
    size_t vlen;
    int rc = inmem__txn_get(txn, k.b, k.len, &val, &vlen, NULL);
    if (rc)
        return rc;
    out->id = *id;
    return decode_span(val, vlen, out);
}

/* ---- record ---- */

/* Writes one index entry: prefix @p type · eq · start · id. */
static int put_index(inmem_txn *txn, const inmem_run_id *run, uint8_t type, const void *eq,
                     size_t eqlen, uint64_t start_ms, const inmem_run_id *id)
{
    tkey k;
    tkey_start(&k, run, type);
    tkey_bytes(&k, eq, eqlen);
    tkey_be64(&k, start_ms);
    tkey_bytes(&k, id->bytes, ID_LEN);
    return inmem__txn_put(txn, k.b, k.len, index_mark, sizeof index_mark, 0);
}

static int trace_record_unsettled(inmem_txn *txn, const inmem_run_id *run, const inmem_span *span,
                                  inmem_run_id *id)
{
    if (!txn || !span)
        return INMEM_EINVAL;
    int rc = check_span(span);
    if (rc)
        return rc;
    /* every key fits the database's key limit, so that no write fails half way for that */
    size_t longest = 1 + ID_LEN + POS_LEN; /* the parent index */
    for (size_t i = 0; i < span->ntags; i++) {
        size_t len = 1 + strlen(span->tags[i]) + 1 + POS_LEN;
        longest = len > longest ? len : longest;
    }
    if (longest > inmem__db_max_user_key(inmem__txn_store(txn)))
        return inmem__error(INMEM_ETOOBIG, "trace keys need max_key_size >= %zu", longest);
    /* and the record fits max_value_size: checked before it is built, which would read, allocate
     * and copy all of the input and output first */
    uint64_t reclen = span_record_len(span);
    if (reclen > inmem__store_max_value(inmem__txn_store(txn)))
        return inmem__error(INMEM_ETOOBIG,
                            "trace span record of %llu bytes is beyond max_value_size",
                            (unsigned long long)reclen);
    inmem_run_id sid = span->id;
    uint64_t start = span->start_ms ? span->start_ms : inmem__clock_wall_ms();
    tkey k;
    if (inmem_run_id_is_shared(&sid)) {
        rc = inmem_run_id_new(&sid); /* unique: no need to read (a blind write never conflicts) */
        if (rc)
            return rc;
    } else {
        if (id_eq(&sid, &span->parent))
            return inmem__error(INMEM_EINVAL, "a trace span cannot be its own parent");
        /* the read puts the id in the read set: two transactions recording the same id conflict */
        span_key(&k, run, &sid);
        rc = inmem__txn_get(txn, k.b, k.len, NULL, NULL, NULL);
        if (rc == 0)
            return inmem__error(INMEM_EINVAL, "trace span id exists already");
        if (rc != INMEM_NOTFOUND)
            return rc;
    }
    inmem__wbuf val;
    inmem__wbuf_init(&val);
    encode_span(&val, span, start);
    if (val.oom) {
        rc = INMEM_ENOMEM;
        goto cleanup;
    }
    span_key(&k, run, &sid);
    rc = inmem__txn_put(txn, k.b, k.len, val.p, val.len, 0);
    if (rc)
        goto cleanup;
    uint8_t kind = (uint8_t)span->kind;
    rc = put_index(txn, run, K_KIND, &kind, 1, start, &sid);
    if (rc == 0)
        rc = put_index(txn, run, K_PARENT, span->parent.bytes, ID_LEN, start, &sid);
    if (rc == 0)
        rc = put_index(txn, run, K_TIME, NULL, 0, start, &sid);
    for (size_t i = 0; rc == 0 && i < span->ntags; i++) /* the NUL ends the tag in the key */
        rc = put_index(txn, run, K_TAG, span->tags[i], strlen(span->tags[i]) + 1, start, &sid);
    if (rc == 0 && id)
        *id = sid;
cleanup:
    inmem__wbuf_free(&val);
    return rc;
}

typedef struct record_args {
    const inmem_run_id *run;
    const inmem_span *span;
    inmem_run_id *id;
} record_args;

static int record_cb(inmem_txn *txn, void *arg)
{
    record_args *a = arg;
    return inmem_trace_record(txn, a->run, a->span, a->id);
}

int inmem_trace_record_db(inmem_db *db, const inmem_run_id *run, const inmem_span *span,
                          inmem_run_id *id)
{
    if (!db || !span)
        return INMEM_EINVAL;
    int rc = check_span(span);
    if (rc)
        return rc;
    record_args a = {run, span, id};
    return inmem__db_autocommit(db, record_cb, &a);
}

/* ---- get ---- */

int inmem_trace_get(inmem_txn *txn, const inmem_run_id *run, const inmem_run_id *id,
                    inmem_span *out)
{
    if (!txn || !id || !out)
        return INMEM_EINVAL;
    return read_span(txn, run, id, out);
}

/* ---- index scans ---- */

/* One step of an index scan: reads the next entry of @p it, checks that it is
 * @p plen + POS_LEN bytes with the index mark as value, and returns its start and id. */
static int index_next(inmem_iter *it, size_t plen, uint64_t *start, inmem_run_id *id)
{
    const uint8_t *key;
    size_t klen, vlen;
    const void *val;
    int rc = inmem__iter_next(it, &key, &klen, &val, &vlen, NULL);
    if (rc)
        return rc;
    if (klen != plen + POS_LEN || vlen != sizeof index_mark ||
        memcmp(val, index_mark, sizeof index_mark) != 0)
        return inmem__error(INMEM_ECORRUPT, "trace index entry of %zu bytes is malformed", klen);
    *start = inmem__get64be(key + plen);
    memcpy(id->bytes, key + plen + 8, ID_LEN);
    return 0;
}

/* Reads the span an index entry points to; it must exist and start at @p start. */
static int read_indexed(inmem_txn *txn, const inmem_run_id *run, const inmem_run_id *id,
                        uint64_t start, inmem_span *out)
{
    int rc = read_span(txn, run, id, out);
    if (rc == INMEM_NOTFOUND)
        return inmem__error(INMEM_ECORRUPT, "trace index entry points to a missing span");
    if (rc == 0 && out->start_ms != start)
        return inmem__error(INMEM_ECORRUPT, "trace index entry disagrees with its span");
    return rc;
}

/* ---- query ---- */

static int span_matches(const inmem_span *s, const inmem_trace_filter *f)
{
    if (f->kind && s->kind != f->kind)
        return 0;
    if (f->parent && !id_eq(&s->parent, f->parent))
        return 0;
    if (s->start_ms < f->from_ms || (f->to_ms && s->start_ms >= f->to_ms))
        return 0;
    if (!f->tag)
        return 1;
    for (size_t i = 0; i < s->ntags; i++)
        if (strcmp(s->tags[i], f->tag) == 0)
            return 1;
    return 0;
}

int inmem_trace_query(inmem_txn *txn, const inmem_run_id *run, const inmem_trace_filter *filter,
                      const inmem_run_id *after, size_t limit, inmem_span *out, size_t *n)
{
    if (!txn || !n || (!out && limit))
        return INMEM_EINVAL;
    *n = 0;
    inmem_trace_filter f;
    if (filter)
        f = *filter;
    else
        memset(&f, 0, sizeof f);
    if (f.kind != 0 && (f.kind < INMEM_TRACE_TOOL_CALL || f.kind > INMEM_TRACE_CUSTOM))
        return inmem__error(INMEM_EINVAL, "trace filter kind %d is not 0..6", (int)f.kind);
    int rc = f.tag ? inmem__check_name(f.tag) : 0;
    if (rc || (rc = inmem__txn_check(txn)) != 0) /* before the returns that read nothing */
        return rc;

    /* the index: its equality prefix, then [from, to) on start, then after the cursor */
    tkey lo, hi;
    if (f.parent) {
        tkey_start(&lo, run, K_PARENT);
        tkey_bytes(&lo, f.parent->bytes, ID_LEN);
    } else if (f.tag) {
        tkey_start(&lo, run, K_TAG);
        tkey_bytes(&lo, f.tag, strlen(f.tag) + 1);
    } else if (f.kind) {
        tkey_start(&lo, run, K_KIND);
        tkey_u8(&lo, (uint8_t)f.kind);
    } else {
        tkey_start(&lo, run, K_TIME);
    }
    size_t plen = lo.len;
    /* the entries of that index are longer than any key the database takes: none can exist, and
     * the query is refused as a get or a record of them is, not answered "no spans" */
    size_t entry = plen - INMEM__KEY_PREFIX + POS_LEN;
    if (entry > inmem__db_max_user_key(inmem__txn_store(txn)))
        return inmem__error(INMEM_ETOOBIG, "trace keys need max_key_size >= %zu", entry);
    hi = lo;
    if (f.to_ms)
        tkey_be64(&hi, f.to_ms);
    else
        tkey_successor(&hi);
    tkey_be64(&lo, f.from_ms);
    if (after) {
        inmem_span cur;
        rc = read_span(txn, run, after, &cur);
        if (rc == INMEM_NOTFOUND)
            return inmem__error(INMEM_EINVAL, "trace query cursor is not a span of this run");
        if (rc)
            return rc;
        tkey c = lo;
        c.len = plen;
        tkey_be64(&c, cur.start_ms);
        tkey_bytes(&c, after->bytes, ID_LEN);
        tkey_u8(&c, 0); /* strictly after the cursor's own entry */
        if (tkey_cmp(&c, &lo) > 0)
            lo = c;
    }
    if (limit == 0 || (f.to_ms && f.to_ms <= f.from_ms))
        return 0;
    if (tkey_cmp(&lo, &hi) >= 0)
        return 0; /* an empty range, e.g. the cursor is past to_ms */

    inmem_iter *it;
    rc = inmem__txn_scan(txn, lo.b, lo.len, hi.b, hi.len, &it);
    if (rc)
        return rc;
    while (*n < limit) {
        uint64_t start;
        inmem_run_id sid;
        rc = index_next(it, plen, &start, &sid);
        if (rc == INMEM_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc == 0)
            rc = read_indexed(txn, run, &sid, start, &out[*n]);
        if (rc)
            break;
        if (span_matches(&out[*n], &f))
            (*n)++;
    }
    inmem_iter_free(it);
    if (rc)
        *n = 0;
    return rc;
}

/* ---- tree ---- */

/* A level of the depth-first walk: a span whose children are being visited, and the position
 * (start, id) of the last child visited. */
typedef struct tree_frame {
    inmem_run_id parent;
    int has_last;
    uint64_t last_start;
    inmem_run_id last_id;
} tree_frame;

/* Finds the first child of fr->parent after its last visited one: 0 (found), INMEM_NOTFOUND
 * (none left) or an error. A scan of one entry each time, so that only one iterator is open
 * whatever the depth. */
static int next_child(inmem_txn *txn, const inmem_run_id *run, const tree_frame *fr,
                      uint64_t *start, inmem_run_id *id)
{
    tkey lo, hi;
    tkey_start(&lo, run, K_PARENT);
    tkey_bytes(&lo, fr->parent.bytes, ID_LEN);
    size_t plen = lo.len;
    hi = lo;
    tkey_successor(&hi);
    if (fr->has_last) {
        tkey_be64(&lo, fr->last_start);
        tkey_bytes(&lo, fr->last_id.bytes, ID_LEN);
        tkey_u8(&lo, 0);
    }
    inmem_iter *it;
    int rc = inmem__txn_scan(txn, lo.b, lo.len, hi.b, hi.len, &it);
    if (rc)
        return rc;
    rc = index_next(it, plen, start, id);
    inmem_iter_free(it);
    return rc;
}

int inmem_trace_tree(inmem_txn *txn, const inmem_run_id *run, const inmem_run_id *root,
                     size_t limit, inmem_span *out, size_t *n)
{
    if (!txn || !root || !n || (!out && limit))
        return INMEM_EINVAL;
    *n = 0;
    inmem_span tmp;
    int rc = read_span(txn, run, root, limit ? &out[0] : &tmp);
    if (rc || limit == 0)
        return rc;
    size_t count = 1, depth = 0, cap = 16;
    tree_frame *stack = malloc(cap * sizeof *stack);
    if (!stack)
        return INMEM_ENOMEM;
    stack[depth++] = (tree_frame){.parent = *root};
    while (depth > 0 && count < limit) {
        tree_frame *fr = &stack[depth - 1];
        uint64_t start;
        inmem_run_id cid;
        rc = next_child(txn, run, fr, &start, &cid);
        if (rc == INMEM_NOTFOUND) { /* this level is done */
            rc = 0;
            depth--;
            continue;
        }
        if (rc)
            break;
        fr->has_last = 1;
        fr->last_start = start;
        fr->last_id = cid;
        /* Each span has one parent, so the only span a walk can reach twice is the root (a
         * cycle made with caller-supplied ids); skip it. */
        if (id_eq(&cid, root))
            continue;
        rc = read_indexed(txn, run, &cid, start, &out[count]);
        if (rc == 0 && !id_eq(&out[count].parent, &fr->parent))
            rc = inmem__error(INMEM_ECORRUPT, "trace parent index disagrees with its span");
        if (rc)
            break;
        count++;
        if (depth == cap) {
            tree_frame *ns = realloc(stack, 2 * cap * sizeof *stack);
            if (!ns) {
                rc = INMEM_ENOMEM;
                break;
            }
            stack = ns;
            cap *= 2;
        }
        stack[depth++] = (tree_frame){.parent = cid};
    }
    free(stack);
    *n = rc ? 0 : count;
    return rc;
}

int inmem_trace_record(inmem_txn *txn, const inmem_run_id *run, const inmem_span *span,
                       inmem_run_id *id)
{
    uint64_t mark = inmem__txn_mark(txn);
    return inmem__txn_settle(txn, mark, trace_record_unsettled(txn, run, span, id));
}
