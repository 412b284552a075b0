/*
 * fork.c — forks: a run that starts with its parent's data as of a version `at`, then diverges.
 *
 * Copy-on-write, nothing copied. A fork is one record in the shared scope, INMEM__TAG_SYS · 'f' ·
 * child id → format 1 · parent id · at (u64), written in the fork's own transaction with the
 * child's metadata, and a count of live forks per parent, 'c' · parent id → format 1 · count u64
 * (it makes a parent's deletion and a fork of it conflict). A read of a key in the child that the
 * child has no version of (no key, or only versions newer than the snapshot) reads the same key
 * in the parent at min(snapshot, at) instead — and so on up a fork of a fork. A child's
 * tombstone hides the parent's key; the GC never unlinks it (INMEM__KEEP_TOMB). Scans of a
 * child's range merge the child's keys with the parent's (iter.c). A commit's validation sees the
 * same: a key the child never wrote has, for a CAS, the version the parent had at `at`.
 *
 * What a fork reads of its parent must stay: while the fork record lives (and until no snapshot
 * can still see it, after the fork is deleted), the GC keeps every version of the parent's keys
 * from `at` on (inmem__run_policy.fork_floor, history.c), whatever the retention says.
 *
 * The fork record is found through the index (lock-free, at the reader's snapshot): a reader
 * never takes a lock, and a snapshot from before the fork does not see it.
 */
#include "core/hash.h"
#include "txn/txn_int.h"

#define FORK_DEPTH_MAX 32 /* forks of forks: a chain longer than this is refused at fork time */

static int is_shared(const uint8_t *scope)
{
    static const uint8_t zero[16];
    return memcmp(scope, zero, 16) == 0;
}

int inmem__fork_of(inmem__store *st, const uint8_t *scope, uint64_t snap, uint8_t parent[16],
                   uint64_t *at)
{
    if (!atomic_load_rlx(&st->has_forks) || is_shared(scope))
        return 0;
    uint8_t key[INMEM__SYS_KEY_LEN];
    inmem__sys_key(key, 'f', scope);
    inmem__node *n = inmem__index_find(st->index, key, sizeof key, inmem__hash(key, sizeof key));
    const inmem__version *v = n ? inmem__version_at(n, snap) : NULL;
    if (!v || v->tomb || v->vlen != INMEM__FORK_REC_LEN || v->data[0] != 1)
        return 0;
    memcpy(parent, v->data + 1, 16);
    *at = inmem__rd_le(v->data + 17, 8);
    return 1;
}

/* For a time-travel read at @p snap through the fork whose key (in its own scope) is @p key: 0 if
 * what the fork lacks at @p snap is inherited, else INMEM_EHISTORY. A fork's tombstones hide its
 * parent's keys only while the fork lives: once it is deleted (its record is deleted after the
 * snapshot), the GC frees them, and a key the fork lacks may be one it had deleted, or its own
 * (an erased fork's keys are freed). Then the fork's absences are trusted only as far as any
 * run's are (inmem__history_absent(): an erased fork refuses its past). */
int inmem__fork_ended_since(inmem__store *st, const uint8_t *scope, uint64_t snap)
{
    uint8_t fk[INMEM__SYS_KEY_LEN];
    inmem__sys_key(fk, 'f', scope);
    inmem__node *n = inmem__index_find(st->index, fk, sizeof fk, inmem__hash(fk, sizeof fk));
    const inmem__version *h = n ? atomic_load_acq(&n->head) : NULL;
    return h && h->ver > snap; /* (else the same record as at the snapshot: the fork lives) */
}

static int ended_fork_check(inmem_txn *t, const uint8_t *key, size_t klen)
{
    if (!inmem__fork_ended_since(t->st, key, t->snap))
        return 0;
    return inmem__history_absent(t, key, klen);
}

/* A key of scope @p scope with @p key's suffix, in @p buf (klen bytes) or the arena. */
static uint8_t *rescope(inmem__arena *a, uint8_t *buf, size_t cap, const uint8_t *key, size_t klen)
{
    uint8_t *p = klen <= cap ? buf : inmem__arena_alloc(a, klen);
    if (p)
        memcpy(p + 16, key + 16, klen - 16);
    return p;
}

const inmem__version *inmem__fork_inherited(inmem_txn *t, const uint8_t *key, size_t klen, int *rc)
{
    *rc = 0;
    inmem__store *st = t->st;
    uint8_t parent[16], buf[256];
    uint64_t at, snap = t->snap;
    if (klen < INMEM__KEY_PREFIX || !inmem__fork_of(st, key, snap, parent, &at))
        return NULL;
    if (t->past && (*rc = ended_fork_check(t, key, klen)) != 0)
        return NULL;
    uint8_t *pk = rescope(&t->arena, buf, sizeof buf, key, klen);
    if (!pk) {
        *rc = INMEM_ENOMEM;
        return NULL;
    }
    for (int depth = 0; depth < FORK_DEPTH_MAX; depth++) {
        memcpy(pk, parent, 16);
        if (at < snap)
            snap = at;
        inmem__node *n = inmem__index_find(st->index, pk, klen, inmem__hash(pk, klen));
        inmem__version *v = NULL;
        if (n && inmem__version_at_checked(n, snap, &v) < 0) {
            *rc = inmem__history_gone(t, pk, klen, snap); /* (the parent's, at the fork) */
            return NULL;
        }
        if (v || !inmem__fork_of(st, pk, snap, parent, &at))
            return v;
        if (t->past && (*rc = ended_fork_check(t, pk, klen)) != 0)
            return NULL;
    }
    return NULL;
}

/* The version a fork inherits for @p key at @p snap (a key the fork has no version of then),
 * tombstones included, in *v (NULL: none, or not a fork). Under commit_mu, which keeps what it
 * points to. Returns 0 or INMEM_ENOMEM (a long key's copy). */
static int inherited_at(inmem__store *st, const uint8_t *key, size_t klen, uint64_t snap,
                        const inmem__version **v) INMEM_REQUIRES(st->commit_mu)
{
    uint8_t parent[16], stack[256], *buf = stack;
    uint64_t at;
    *v = NULL;
    if (klen < INMEM__KEY_PREFIX || !inmem__fork_of(st, key, snap, parent, &at))
        return 0;
    if (klen > sizeof stack && !(buf = malloc(klen)))
        return INMEM_ENOMEM;
    memcpy(buf + 16, key + 16, klen - 16);
    for (int depth = 0; depth < FORK_DEPTH_MAX; depth++) {
        memcpy(buf, parent, 16);
        if (at < snap)
            snap = at;
        inmem__node *n = inmem__index_find(st->index, buf, klen, inmem__hash(buf, klen));
        if ((*v = n ? inmem__version_at(n, snap) : NULL) != NULL)
            break;
        if (!inmem__fork_of(st, buf, snap, parent, &at))
            break;
    }
    if (buf != stack)
        free(buf);
    return 0;
}

int inmem__fork_cas_version(inmem__store *st, const uint8_t *key, size_t klen, uint64_t now,
                            uint64_t *ver)
{
    const inmem__version *v;
    *ver = 0;
    int rc = inherited_at(st, key, klen, UINT64_MAX, &v);
    if (rc)
        return rc; /* never "absent": a CAS expecting 0 would overwrite the key */
    if (v)
        *ver = v->tomb || (v->expiry_ms && v->expiry_ms <= now) ? 0 : v->ver;
    return 0;
}

int inmem__fork_seen_version(inmem__store *st, const uint8_t *key, size_t klen, uint64_t snap,
                             uint64_t *ver)
{
    const inmem__version *v;
    int rc = inherited_at(st, key, klen, snap, &v);
    *ver = v ? v->ver : 0;
    return rc;
}

/* ---- the records ------------------------------------------------------------------------------
 */

/* The count of live forks of @p run, read in @p t (0 if none). */
static int children(inmem_txn *t, const uint8_t run[16], uint64_t *count)
{
    uint8_t key[INMEM__SYS_KEY_LEN];
    inmem__sys_key(key, 'c', run);
    const void *v;
    size_t vlen;
    *count = 0;
    int rc = inmem__txn_get(t, key, sizeof key, &v, &vlen, NULL);
    if (rc == INMEM_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (vlen != 9 || ((const uint8_t *)v)[0] != 1)
        return inmem__error(INMEM_ECORRUPT, "fork count record of unknown format");
    *count = inmem__rd_le((const uint8_t *)v + 1, 8);
    return 0;
}

static int set_children(inmem_txn *t, const uint8_t run[16], uint64_t count)
{
    uint8_t key[INMEM__SYS_KEY_LEN], val[9];
    inmem__sys_key(key, 'c', run);
    if (!count)
        return inmem__txn_delete(t, key, sizeof key);
    val[0] = 1;
    inmem__wr_le(val + 1, count, 8);
    return inmem__txn_put(t, key, sizeof key, val, sizeof val, 0);
}

int inmem__fork_children(inmem_txn *t, const uint8_t run[16], uint64_t *count)
{
    CHECK_ACTIVE(t);
    return children(t, run, count);
}

int inmem__fork_hold(inmem_txn *t, const uint8_t parent[16], uint64_t *at)
{
    CHECK_ACTIVE(t);
    if (t->readonly)
        return inmem__error(INMEM_EREADONLY, "a fork is a write: not in a read-only transaction");
    if (*at == 0)
        *at = t->snap;
    if (*at > t->snap)
        return inmem__error(INMEM_EINVAL,
                            "version %llu is newer than the transaction's snapshot (%llu)",
                            (unsigned long long)*at, (unsigned long long)t->snap);
    /* the chain of forks above the parent must stay short */
    uint8_t p[16], gp[16];
    uint64_t a;
    memcpy(p, parent, 16);
    for (int depth = 1; inmem__fork_of(t->st, p, t->snap, gp, &a); depth++) {
        if (depth >= FORK_DEPTH_MAX)
            return inmem__error(INMEM_EINVAL, "forks may be nested %d deep at most",
                                FORK_DEPTH_MAX);
        memcpy(p, gp, 16);
    }
    inmem__store *st = t->st;
    inmem__mutex_lock(&st->commit_mu);
    uint64_t floor = inmem__history_scope_floor(st, parent);
    uint64_t image = atomic_load_rlx(&st->image_version);
    int rc = 0;
    if (*at < floor && *at < t->snap)
        rc = inmem__error(INMEM_EHISTORY,
                          "the parent's history starts at version %llu: cannot fork it at %llu",
                          (unsigned long long)floor, (unsigned long long)*at);
    else if (*at < t->snap && *at < image && *at < inmem__history_retained_from(st, parent))
        /* held now by a snapshot or the collector's lag, but not by a retention: the checkpoint
         * image a reopen starts from holds each of the parent's keys at its newest only, and
         * the fork would read otherwise after it (images after the fork keep what it reads) */
        rc = inmem__error(INMEM_EHISTORY,
                          "cannot fork at version %llu, older than the checkpoint image at "
                          "%llu: without a retention of the parent's history that reaches it, "
                          "the fork would not read the same after a reopen",
                          (unsigned long long)*at, (unsigned long long)image);
    else /* until the fork commits, this transaction holds the parent's versions at `at` */
        inmem__pin_down(t, *at);
    inmem__mutex_unlock(&st->commit_mu);
    return rc;
}

int inmem__fork_record(inmem_txn *t, const uint8_t child[16], const uint8_t parent[16], uint64_t at)
{
    uint8_t key[INMEM__SYS_KEY_LEN], val[INMEM__FORK_REC_LEN];
    inmem__sys_key(key, 'f', child);
    val[0] = 1;
    memcpy(val + 1, parent, 16);
    inmem__wr_le(val + 17, at, 8);
    uint64_t n;
    int rc = inmem__txn_put(t, key, sizeof key, val, sizeof val, 0);
    if (rc == 0)
        rc = children(t, parent, &n);
    return rc ? rc : set_children(t, parent, n + 1);
}

int inmem__fork_unrecord(inmem_txn *t, const uint8_t run[16])
{
    uint8_t key[INMEM__SYS_KEY_LEN];
    inmem__sys_key(key, 'f', run);
    const void *v;
    size_t vlen;
    int rc = inmem__txn_get(t, key, sizeof key, &v, &vlen, NULL);
    if (rc == INMEM_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (vlen != INMEM__FORK_REC_LEN || ((const uint8_t *)v)[0] != 1)
        return inmem__error(INMEM_ECORRUPT, "fork record of unknown format");
    uint8_t parent[16];
    memcpy(parent, (const uint8_t *)v + 1, 16);
    uint64_t n;
    if ((rc = inmem__txn_delete(t, key, sizeof key)) || (rc = children(t, parent, &n)))
        return rc;
    return set_children(t, parent, n ? n - 1 : 0);
}
