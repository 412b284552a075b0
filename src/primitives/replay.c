/*
 * replay.c — inmem_run_replay(): a run's committed transactions in commit order, decoded per
 * primitive, over the transaction layer's replay (txn/replay.c). Only data records are shown:
 * KV values, events (not stream heads), state cells, spans (not the trace indexes) and the run's
 * metadata; the indexes are derived from them.
 */
#include "primitives/rec.h"

struct inmem_replay {
    inmem_txn *txn;
    inmem__replay *r;
    inmem_change *c;
    size_t cap;
    int err; /* the first error: every later call returns it (the commit it was reading is gone
              * from the feed, and a retry must not go on past it as if it had not been there) */
};

int inmem_run_replay(inmem_txn *txn, const inmem_run_id *run, uint64_t after_version,
                     inmem_replay **out)
{
    if (!out)
        return INMEM_EINVAL;
    *out = NULL;
    if (!txn || !run)
        return INMEM_EINVAL;
    inmem_replay *p = calloc(1, sizeof(*p));
    if (!p)
        return INMEM_ENOMEM;
    int rc = inmem__replay_open(txn, run->bytes, after_version, &p->r);
    if (rc) {
        free(p);
        return rc;
    }
    p->txn = txn;
    *out = p;
    return 0;
}

/* Decodes one write into @p c; 0 (shown), 1 (an index entry: skipped), or INMEM_ECORRUPT. */
static int decode(const inmem__replay_write *w, inmem_change *c)
{
    memset(c, 0, sizeof(*c));
    if (w->klen < INMEM__KEY_PREFIX)
        return 1;
    const uint8_t *k = w->key + INMEM__KEY_PREFIX;
    size_t kl = w->klen - INMEM__KEY_PREFIX;
    c->primitive = (inmem_primitive)w->key[16];
    c->deleted = w->tomb;
    c->key = k;
    c->klen = kl;
    c->value = w->tomb ? NULL : w->val;
    c->len = w->tomb ? 0 : w->vlen;
    switch (w->key[16]) {
    case INMEM__TAG_KV:
        c->expire_at_ms = w->tomb ? 0 : w->expiry_ms;
        return 0;
    case INMEM__TAG_STATE:
        if (!w->tomb) {
            if (w->vlen < 1 || w->val[0] != INMEM__FMT_V1)
                return inmem__error(INMEM_ECORRUPT, "state cell record of unknown format");
            c->value = w->val + 1;
            c->len = w->vlen - 1u;
        }
        return 0;
    case INMEM__TAG_EVENT: { /* 0x02 · stream · 0x00 · seq (BE) */
        if (kl < 11 || k[0] != 0x02 || k[kl - 9] != 0)
            return 1;
        uint64_t seq = 0;
        for (size_t i = kl - 8; i < kl; i++)
            seq = seq << 8 | k[i];
        c->key = k + 1;
        c->klen = kl - 10;
        c->event.seq = seq;
        if (!w->tomb) {
            int rc = inmem__event_decode(w->val, w->vlen, seq, &c->event);
            if (rc)
                return rc;
            c->value = c->event.payload;
            c->len = c->event.payload_len;
        }
        return 0;
    }
    case INMEM__TAG_TRACE: /* 's' · span id */
        if (kl != 17 || k[0] != 's')
            return 1;
        c->key = k + 1;
        c->klen = 16;
        return 0;
    case INMEM__TAG_RUN: /* 'm' */
        if (kl != 1 || k[0] != 'm')
            return 1;
        c->klen = 0;
        return 0;
    default:
        return 1;
    }
}

int inmem_replay_next(inmem_replay *p, uint64_t *version, uint64_t *time_ms,
                      const inmem_change **changes, size_t *n)
{
    if (!p || !changes || !n)
        return INMEM_EINVAL;
    if (p->err)
        return p->err;
    for (;;) {
        const inmem__replay_write *w;
        size_t nw;
        int rc = inmem__replay_next(p->r, &w, &nw);
        if (rc)
            return rc == INMEM_NOTFOUND ? rc : (p->err = rc);
        if (nw > p->cap) {
            inmem_change *c = realloc(p->c, nw * sizeof(*c));
            if (!c)
                return p->err = INMEM_ENOMEM;
            p->c = c;
            p->cap = nw;
        }
        size_t k = 0;
        for (size_t i = 0; i < nw; i++) {
            rc = decode(&w[i], &p->c[k]);
            if (rc < 0)
                return p->err = rc;
            if (rc == 0)
                k++;
        }
        if (!k)
            continue; /* a commit that wrote only indexes of this run (none do today) */
        if (version)
            *version = w[0].version;
        if (time_ms)
            *time_ms = w[0].time_ms;
        *changes = p->c;
        *n = k;
        return 0;
    }
}

void inmem_replay_free(inmem_replay *p)
{
    if (!p)
        return;
    inmem__replay_free(p->r);
    free(p->c);
    free(p);
}
