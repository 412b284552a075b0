/*
 * diff.c — inmem_run_diff(): two runs, or one run at two versions, compared per primitive.
 *
 * Each side is a read-only transaction (at its version, or the newest; one transaction when both
 * sides are the newest, so that they come from one snapshot). For KV and state cells the two
 * sides' ranges are scanned in key order and merged on the key (the part after the run id):
 * present on one side only is added or removed, on both with different bytes is changed. Event
 * streams are compared by their heads (length and the hash of the last event): a stream whose
 * heads differ gets the first sequence number that differs, found by bisection, since the hash
 * chain makes "event i has the same hash on both sides" true for every i up to the first
 * difference and false after it. Spans are compared by id. The run's own metadata is not compared
 * (a fork's differs from its parent's by nature). Entries come primitive by primitive, in key
 * order; they are collected when the diff is made (memory: the differences).
 */
#include "primitives/rec.h"

struct inmem_diff {
    inmem_diff_entry *e;
    size_t n, cap, pos;
    uint8_t **keys; /* the entries' key copies */
};

static int add(inmem_diff *d, inmem_primitive prim, inmem_diff_kind kind, const uint8_t *key,
               size_t klen, uint64_t va, uint64_t vb, uint64_t first_seq)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 32;
        inmem_diff_entry *e = realloc(d->e, cap * sizeof(*e));
        uint8_t **k = realloc(d->keys, cap * sizeof(*k));
        if (e)
            d->e = e;
        if (k)
            d->keys = k;
        if (!e || !k)
            return INMEM_ENOMEM;
        d->cap = cap;
    }
    uint8_t *copy = malloc(klen ? klen : 1);
    if (!copy)
        return INMEM_ENOMEM;
    memcpy(copy, key, klen);
    d->keys[d->n] = copy;
    d->e[d->n++] = (inmem_diff_entry){prim, kind, copy, klen, va, vb, first_seq};
    return 0;
}

static uint64_t rd64(const void *p, size_t off)
{
    const uint8_t *b = (const uint8_t *)p + off;
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | b[i];
    return x;
}

/* A side: a transaction and its run. */
typedef struct side {
    inmem_txn *t;
    const inmem_run_id *run;
} side;

/* The range [run · tag · sub, run · tag · (sub + 1)) of a side (sub 0: the whole tag). */
static int open_range(const side *s, uint8_t tag, uint8_t sub, inmem_iter **it)
{
    uint8_t lo[INMEM__KEY_PREFIX + 1], hi[INMEM__KEY_PREFIX + 1];
    inmem__key_prefix(lo, s->run, tag);
    inmem__key_prefix(hi, s->run, tag);
    if (sub) {
        lo[INMEM__KEY_PREFIX] = sub;
        hi[INMEM__KEY_PREFIX] = (uint8_t)(sub + 1);
        return inmem__txn_scan(s->t, lo, sizeof lo, hi, sizeof hi, it);
    }
    hi[16]++;
    return inmem__txn_scan(s->t, lo, INMEM__KEY_PREFIX, hi, INMEM__KEY_PREFIX, it);
}

typedef struct cursor {
    inmem_iter *it;
    const uint8_t *k;
    size_t kl;
    const void *v;
    size_t vl;
    uint64_t ver;
    int done;
} cursor;

static int step(cursor *c)
{
    int rc = inmem__iter_next(c->it, &c->k, &c->kl, &c->v, &c->vl, &c->ver);
    if (rc == INMEM_NOTFOUND) {
        c->done = 1;
        return 0;
    }
    return rc;
}

static int suffix_cmp(const cursor *a, const cursor *b)
{
    size_t al = a->kl - INMEM__KEY_PREFIX, bl = b->kl - INMEM__KEY_PREFIX;
    int c = memcmp(a->k + INMEM__KEY_PREFIX, b->k + INMEM__KEY_PREFIX, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

/* Merges one range of both sides, calling @p on for each key present on either side (a or b
 * NULL when absent there). */
typedef int (*pair_fn)(inmem_diff *d, side *sa, side *sb, const cursor *a, const cursor *b);

static int merge(inmem_diff *d, side *sa, side *sb, uint8_t tag, uint8_t sub, pair_fn on)
{
    cursor a = {0}, b = {0};
    int rc = open_range(sa, tag, sub, &a.it);
    if (rc == 0)
        rc = open_range(sb, tag, sub, &b.it);
    if (rc == 0 && (rc = step(&a)) == 0)
        rc = step(&b);
    while (rc == 0 && (!a.done || !b.done)) {
        int c = a.done ? 1 : b.done ? -1 : suffix_cmp(&a, &b);
        rc = on(d, sa, sb, c <= 0 ? &a : NULL, c >= 0 ? &b : NULL);
        if (rc == 0 && c <= 0)
            rc = step(&a);
        if (rc == 0 && c >= 0)
            rc = step(&b);
    }
    inmem__iter_free(a.it);
    inmem__iter_free(b.it);
    return rc;
}

/* KV and state cells: added, removed, or changed bytes. The key reported is the user's (a cell's
 * name: the same bytes). */
static int value_pair(inmem_diff *d, inmem_primitive prim, const cursor *a, const cursor *b)
{
    const cursor *k = a ? a : b;
    const uint8_t *key = k->k + INMEM__KEY_PREFIX;
    size_t kl = k->kl - INMEM__KEY_PREFIX;
    if (!a)
        return add(d, prim, INMEM_DIFF_ADDED, key, kl, 0, b->ver, 0);
    if (!b)
        return add(d, prim, INMEM_DIFF_REMOVED, key, kl, a->ver, 0, 0);
    if (a->vl != b->vl || (a->vl && memcmp(a->v, b->v, a->vl) != 0))
        return add(d, prim, INMEM_DIFF_CHANGED, key, kl, a->ver, b->ver, 0);
    return 0;
}

static int kv_pair(inmem_diff *d, side *sa, side *sb, const cursor *a, const cursor *b)
{
    (void)sa;
    (void)sb;
    return value_pair(d, INMEM_PRIM_KV, a, b);
}

static int state_pair(inmem_diff *d, side *sa, side *sb, const cursor *a, const cursor *b)
{
    (void)sa;
    (void)sb;
    return value_pair(d, INMEM_PRIM_STATE, a, b);
}

/* Spans: the 's' · id records. */
static int span_pair(inmem_diff *d, side *sa, side *sb, const cursor *a, const cursor *b)
{
    (void)sa;
    (void)sb;
    const cursor *k = a ? a : b;
    if (k->kl != INMEM__KEY_PREFIX + 17) /* not a span record */
        return 0;
    const uint8_t *id = k->k + INMEM__KEY_PREFIX + 1;
    if (!a)
        return add(d, INMEM_PRIM_TRACE, INMEM_DIFF_ADDED, id, 16, 0, b->ver, 0);
    if (!b)
        return add(d, INMEM_PRIM_TRACE, INMEM_DIFF_REMOVED, id, 16, a->ver, 0, 0);
    if (a->vl != b->vl || (a->vl && memcmp(a->v, b->v, a->vl) != 0))
        return add(d, INMEM_PRIM_TRACE, INMEM_DIFF_CHANGED, id, 16, a->ver, b->ver, 0);
    return 0;
}

/* The hash of event @p seq of a stream (0 if absent). */
static int event_hash(side *s, const char *stream, uint64_t seq, uint64_t *hash)
{
    inmem_event ev;
    int rc = inmem_event_get(s->t, s->run, stream, seq, &ev);
    *hash = rc == 0 ? ev.hash : 0;
    return rc == INMEM_NOTFOUND ? 0 : rc;
}

/* Stream heads (0x01 · name · 0x00 → format · length · head hash · ...). */
static int stream_pair(inmem_diff *d, side *sa, side *sb, const cursor *a, const cursor *b)
{
    const cursor *k = a ? a : b;
    if (k->kl < INMEM__KEY_PREFIX + 2) /* (the engine writes none: a damaged store) */
        return inmem__error(INMEM_ECORRUPT, "an event stream's head key has %zu bytes", k->kl);
    size_t nl = k->kl - INMEM__KEY_PREFIX - 2; /* the name, without 0x01 and 0x00 */
    const uint8_t *name = k->k + INMEM__KEY_PREFIX + 1;
    if (!a)
        return add(d, INMEM_PRIM_EVENT, INMEM_DIFF_ADDED, name, nl, 0, b->ver, 1);
    if (!b)
        return add(d, INMEM_PRIM_EVENT, INMEM_DIFF_REMOVED, name, nl, a->ver, 0, 1);
    if (a->vl < 17 || b->vl < 17)
        return inmem__error(INMEM_ECORRUPT, "event stream head record does not decode");
    uint64_t la = rd64(a->v, 1), lb = rd64(b->v, 1);
    uint64_t ha = rd64(a->v, 9), hb = rd64(b->v, 9);
    if (la == lb && ha == hb)
        return 0;
    char stream[INMEM_NAME_MAX];
    if (nl >= sizeof stream)
        return inmem__error(INMEM_ECORRUPT, "event stream name too long");
    memcpy(stream, name, nl);
    stream[nl] = 0;
    /* the first seq in 1..min(la, lb) whose hashes differ, else min + 1 */
    uint64_t lo = 1, hi = (la < lb ? la : lb) + 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2, x, y;
        int rc = event_hash(sa, stream, mid, &x);
        if (rc == 0)
            rc = event_hash(sb, stream, mid, &y);
        if (rc)
            return rc;
        if (x == y && x != 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return add(d, INMEM_PRIM_EVENT, INMEM_DIFF_CHANGED, name, nl, a->ver, b->ver, lo);
}

static int diff_sides(inmem_diff *d, side *a, side *b)
{
    int rc = merge(d, a, b, INMEM__TAG_KV, 0, kv_pair);
    if (rc == 0)
        rc = merge(d, a, b, INMEM__TAG_STATE, 0, state_pair);
    if (rc == 0)
        rc = merge(d, a, b, INMEM__TAG_EVENT, 0x01, stream_pair);
    if (rc == 0)
        rc = merge(d, a, b, INMEM__TAG_TRACE, 's', span_pair);
    return rc;
}

/* A read-only transaction at @p at (0: the newest). */
static int begin_side(inmem_db *db, uint64_t at, inmem_txn **t)
{
    return at ? inmem_txn_begin_at(db, at, t) : inmem_txn_begin_readonly(db, t);
}

int inmem_run_diff(inmem_db *db, const inmem_run_id *a, uint64_t at_a, const inmem_run_id *b,
                   uint64_t at_b, inmem_diff **out)
{
    if (!out)
        return INMEM_EINVAL;
    *out = NULL;
    if (!db || !a || !b)
        return INMEM_EINVAL;
    inmem_diff *d = calloc(1, sizeof(*d));
    if (!d)
        return INMEM_ENOMEM;
    inmem_txn *ta = NULL, *tb = NULL;
    int rc = begin_side(db, at_a, &ta);
    if (rc == 0)
        rc = at_a == 0 && at_b == 0 ? 0 : begin_side(db, at_b, &tb);
    if (rc == 0) {
        side sa = {ta, a}, sb = {tb ? tb : ta, b};
        rc = diff_sides(d, &sa, &sb);
    }
    /* read-only: a commit ends them as reads (a free would count them as aborts by the user) */
    if (ta)
        (void)inmem_txn_commit(ta);
    if (tb)
        (void)inmem_txn_commit(tb);
    inmem_txn_free(ta);
    inmem_txn_free(tb);
    if (rc) {
        inmem_diff_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

int inmem_diff_next(inmem_diff *d, inmem_diff_entry *out)
{
    if (!d || !out)
        return INMEM_EINVAL;
    if (d->pos >= d->n)
        return INMEM_NOTFOUND;
    *out = d->e[d->pos++];
    return 0;
}

void inmem_diff_free(inmem_diff *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->keys[i]);
    free(d->keys);
    free(d->e);
    free(d);
}
