/*
 * replay.c — the committed writes of one scope (a run) in commit order, from a version on: the
 * engine side of inmem_run_replay() (primitives/replay.c decodes the records).
 *
 * The versions are read from the index itself: a scope's keys are one contiguous range, and each
 * key's chain holds its versions (as many as retention keeps). Opening pins the transaction down
 * to `after` under the commit lock, so that from then on the GC keeps every version newer than
 * `after` for as long as the transaction lives; then the scope's range is walked without the lock
 * and every version in (after, snapshot] is collected and sorted by version. Cost and memory:
 * O(the scope's keys + its versions in the range), whatever the rest of the database holds.
 *
 * Complete or refused: if `after` is below the scope's floor (keys may have been unlinked: at the
 * floor itself too, a deleted key's, even under a count, whose floor predates it) or a key's chain
 * was cut above `after` (versions freed), the replay cannot be whole and opening fails with
 * INMEM_EHISTORY. A fork's replay is its own writes (what it inherits is its parent's).
 */
#include "txn/txn_int.h"

struct inmem__replay {
    inmem_txn *txn;
    inmem__replay_write *w; /* every write, sorted by (version, key) */
    size_t n, cap, pos;
};

static int cmp_write(const void *a, const void *b)
{
    const inmem__replay_write *x = a, *y = b;
    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    size_t m = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->key, y->key, m);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

int inmem__replay_open(inmem_txn *t, const uint8_t scope[16], uint64_t after, inmem__replay **out)
{
    *out = NULL;
    CHECK_ACTIVE(t);
    inmem__store *st = t->st;
    if (after >= t->snap) /* nothing to replay: an empty replay */
        after = t->snap;
    inmem__mutex_lock(&st->commit_mu);
    uint64_t from = inmem__history_replay_after(st, scope);
    int rc = 0;
    if (after < from && after < t->snap)
        rc = inmem__error(INMEM_EHISTORY,
                          "the run's writes are kept after version %llu: cannot replay from %llu",
                          (unsigned long long)from, (unsigned long long)after);
    else
        inmem__pin_down(t, after);
    inmem__mutex_unlock(&st->commit_mu);
    if (rc)
        return rc;
    inmem__replay *r = calloc(1, sizeof(*r));
    if (!r)
        return INMEM_ENOMEM;
    r->txn = t;
    uint8_t hi[16];
    memcpy(hi, scope, 16);
    int i = 15;
    while (i >= 0 && ++hi[i] == 0)
        i--;
    inmem__ahead ahead = {0};
    for (inmem__node *n = inmem__index_seek(st->index, scope, 16); n && rc == 0;
         n = inmem__index_next(n), inmem__ahead_step(&ahead, n)) {
        if (i >= 0 && memcmp(inmem__node_key(n), hi, 16) >= 0)
            break;
        if (n->klen < 16 || memcmp(inmem__node_key(n), scope, 16) != 0)
            break;
        const inmem__version *v = atomic_load_acq(&n->head);
        for (; v && v->ver > after; v = atomic_load_acq(&((inmem__version *)v)->next)) {
            const inmem__version *older = atomic_load_acq(&((inmem__version *)v)->next);
            /* versions older than a cut one were freed: a loss only if one could be after
             * `after` */
            if (!older && v->ver > after + 1 && atomic_load_acq(&((inmem__version *)v)->cut)) {
                rc = inmem__error(INMEM_EHISTORY,
                                  "versions of a key of the run older than %llu were freed: "
                                  "cannot replay from %llu",
                                  (unsigned long long)v->ver, (unsigned long long)after);
                break;
            }
            if (v->ver > t->snap)
                continue;
            if (r->n == r->cap) {
                size_t cap = r->cap ? r->cap * 2 : 64;
                inmem__replay_write *p = realloc(r->w, cap * sizeof(*p));
                if (!p) {
                    rc = INMEM_ENOMEM;
                    break;
                }
                r->w = p;
                r->cap = cap;
            }
            r->w[r->n++] = (inmem__replay_write){
                inmem__node_key(n), n->klen, v->ver, v->time_ms, v->tomb, v->data, v->vlen,
                v->expiry_ms};
        }
    }
    if (rc) {
        inmem__replay_free(r);
        return rc;
    }
    if (r->n > 1)
        qsort(r->w, r->n, sizeof(*r->w), cmp_write);
    *out = r;
    return 0;
}

int inmem__replay_next(inmem__replay *r, const inmem__replay_write **w, size_t *n)
{
    CHECK_ACTIVE(r->txn);
    if (r->pos >= r->n)
        return INMEM_NOTFOUND;
    size_t end = r->pos + 1;
    while (end < r->n && r->w[end].version == r->w[r->pos].version)
        end++;
    *w = &r->w[r->pos];
    *n = end - r->pos;
    r->pos = end;
    return 0;
}

void inmem__replay_free(inmem__replay *r)
{
    if (!r)
        return;
    free(r->w);
    free(r);
}
