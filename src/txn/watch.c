/*
 * watch.c — waiting for changes: a thread blocks (or a file descriptor waits) until a key moves
 * past a version, woken by the commit that moves it; nobody polls.
 *
 * Waiters are kept in buckets by their key's hash under watch_mu. A commit, once its writes are
 * visible (after the commit lock, and in strict mode after its fsync), looks its keys up in the
 * buckets — only if any waiter exists (one relaxed load otherwise) — and wakes the waiters whose
 * key it wrote: a condition variable for a blocked thread, an eventfd for a watch.
 *
 * No lost wake-up: a waiter registers itself (under watch_mu), then counts itself in `nwatch`,
 * then reads the key's current version; a committer publishes its version, then reads `nwatch`.
 * All four are sequentially consistent, so either the committer sees the waiter (and wakes it
 * under watch_mu) or the waiter's read comes after the publish and sees the new version.
 *
 * Closing (inmem__watch_shutdown): every waiter is woken with INMEM_ECLOSED and the close waits
 * until the blocked threads have left; every watch (file descriptor) the owner has not closed,
 * fired or not (the store lists them all), is detached — those still waiting fire — and is
 * freed by its owner.
 */
#include <errno.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/hash.h"
#include "txn/txn_int.h"

#define BUCKETS 256

struct inmem__waiter {
    inmem__store *st; /* NULL once detached by a close */
    uint8_t *key;
    uint32_t klen;
    uint64_t hash;
    uint64_t after;
    uint64_t fired; /* the version that woke it; 0 not yet */
    int closed;     /* woken by a close */
    int efd;        /* a watch's eventfd; -1 for a blocked thread */
    pthread_cond_t cv;
    int linked;
    inmem__waiter *next, **pprev;
    inmem__waiter *wnext, **wpprev; /* a watch, in st->watches until closed or detached */
};

int inmem__watch_init(inmem__store *st)
{
    st->watch_buckets = calloc(BUCKETS, sizeof(*st->watch_buckets));
    if (!st->watch_buckets)
        return INMEM_ENOMEM;
    pthread_mutex_init(&st->watch_mu, NULL);
    pthread_cond_init(&st->watch_gone, NULL);
    return 0;
}

void inmem__watch_fini(inmem__store *st)
{
    if (!st->watch_buckets)
        return;
    pthread_mutex_destroy(&st->watch_mu);
    pthread_cond_destroy(&st->watch_gone);
    free(st->watch_buckets);
    st->watch_buckets = NULL;
}

static void link_waiter(inmem__store *st, inmem__waiter *w)
{
    inmem__waiter **b = &st->watch_buckets[w->hash % BUCKETS];
    w->next = *b;
    w->pprev = b;
    if (*b)
        (*b)->pprev = &w->next;
    *b = w;
    w->linked = 1;
}

static void unlink_waiter(inmem__waiter *w)
{
    if (!w->linked)
        return;
    *w->pprev = w->next;
    if (w->next)
        w->next->pprev = w->pprev;
    w->linked = 0;
}

/* Wakes @p w (under watch_mu): a fired version, or a close. */
static void wake(inmem__waiter *w)
{
    unlink_waiter(w);
    if (w->efd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(w->efd, &one, sizeof one);
        (void)n; /* an eventfd write fails only when its counter would overflow */
    } else {
        pthread_cond_signal(&w->cv);
    }
}

void inmem__watch_notify_some(inmem__store *st, const wentry *w, size_t nw, uint64_t version)
{
    pthread_mutex_lock(&st->watch_mu);
    for (size_t i = 0; i < nw; i++) {
        const keyref *k = &w[i].k;
        inmem__waiter *x = st->watch_buckets[k->hash % BUCKETS];
        while (x) {
            inmem__waiter *next = x->next;
            if (x->hash == k->hash && x->klen == k->klen && memcmp(x->key, k->key, k->klen) == 0 &&
                version > x->after && !x->fired) {
                x->fired = version;
                wake(x);
            }
            x = next;
        }
    }
    pthread_mutex_unlock(&st->watch_mu);
}

/* *ver the version of @p key visible now (a tombstone's included; in a fork that has none of its
 * own, the one it inherits, as reads see it; 0: no key). 0 or INMEM_ENOMEM. */
static int current(inmem__store *st, const uint8_t *key, size_t klen, uint64_t hash, uint64_t *ver)
{
    int rc = 0;
    inmem__mutex_lock(&st->commit_mu); /* no GC frees the node while it is read */
    uint64_t vis = atomic_load(&st->visible);
    inmem__node *n = inmem__index_find(st->index, key, klen, hash);
    const inmem__version *v = n ? inmem__version_at(n, vis) : NULL;
    *ver = v ? v->ver : 0;
    if (!v)
        rc = inmem__fork_seen_version(st, key, klen, vis, ver);
    inmem__mutex_unlock(&st->commit_mu);
    return rc;
}

/* Unregisters @p w (it may have been woken already). */
static void disarm(inmem__store *st, inmem__waiter *w)
{
    pthread_mutex_lock(&st->watch_mu);
    unlink_waiter(w);
    if (w->wpprev) {
        *w->wpprev = w->wnext;
        if (w->wnext)
            w->wnext->wpprev = w->wpprev;
        w->wpprev = NULL;
    }
    pthread_mutex_unlock(&st->watch_mu);
    atomic_fetch_sub(&st->nwatch, 1);
}

/* Registers @p w for @p key; fires it at once if the key is past w->after already. */
static int arm(inmem__store *st, inmem__waiter *w, const uint8_t *key, size_t klen)
{
    w->key = malloc(klen ? klen : 1);
    if (!w->key)
        return INMEM_ENOMEM;
    memcpy(w->key, key, klen);
    w->klen = (uint32_t)klen;
    w->hash = inmem__hash(key, klen);
    w->st = st;
    pthread_mutex_lock(&st->watch_mu);
    if (st->watch_closing) {
        pthread_mutex_unlock(&st->watch_mu);
        free(w->key);
        w->key = NULL;
        return inmem__error(INMEM_ECLOSED, "the database is closing");
    }
    link_waiter(st, w);
    if (w->efd >= 0) { /* every watch, fired or not, until it is closed: a close detaches it */
        w->wnext = st->watches;
        w->wpprev = &st->watches;
        if (st->watches)
            st->watches->wpprev = &w->wnext;
        st->watches = w;
    }
    pthread_mutex_unlock(&st->watch_mu);
    atomic_fetch_add(&st->nwatch, 1);
    uint64_t v;
    if (current(st, key, klen, w->hash, &v) != 0) {
        disarm(st, w);
        free(w->key);
        w->key = NULL;
        return INMEM_ENOMEM;
    }
    if (v > w->after) {
        pthread_mutex_lock(&st->watch_mu);
        if (!w->fired && !w->closed) {
            w->fired = v;
            wake(w);
        }
        pthread_mutex_unlock(&st->watch_mu);
    }
    return 0;
}

int inmem__watch_wait(inmem__store *st, const uint8_t *key, size_t klen, uint64_t after,
                      uint64_t timeout_ms, uint64_t *version)
{
    inmem__waiter w;
    memset(&w, 0, sizeof w);
    w.after = after;
    w.efd = -1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_lock(&st->watch_mu);
    st->watch_inside++; /* a close waits for this thread to leave */
    pthread_mutex_unlock(&st->watch_mu);
    int rc = arm(st, &w, key, klen);
    if (rc == 0) {
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        uint64_t ns = (uint64_t)dl.tv_nsec + (timeout_ms % 1000) * 1000000u;
        dl.tv_sec += (time_t)(timeout_ms / 1000 + ns / 1000000000u);
        dl.tv_nsec = (long)(ns % 1000000000u);
        pthread_mutex_lock(&st->watch_mu);
        while (!w.fired && !w.closed) {
            int e = timeout_ms == UINT64_MAX ? pthread_cond_wait(&w.cv, &st->watch_mu)
                                             : pthread_cond_timedwait(&w.cv, &st->watch_mu, &dl);
            if (e == ETIMEDOUT)
                break;
        }
        unlink_waiter(&w);
        pthread_mutex_unlock(&st->watch_mu);
        atomic_fetch_sub(&st->nwatch, 1);
        if (w.fired)
            *version = w.fired;
        else if (w.closed)
            rc = inmem__error(INMEM_ECLOSED, "the database was closed while waiting");
        else
            rc = INMEM_ETIMEDOUT;
        free(w.key);
    }
    pthread_mutex_lock(&st->watch_mu);
    if (--st->watch_inside == 0 && st->watch_closing)
        pthread_cond_broadcast(&st->watch_gone);
    pthread_mutex_unlock(&st->watch_mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

int inmem__watch_open(inmem__store *st, const uint8_t *key, size_t klen, uint64_t after,
                      inmem__waiter **out)
{
    *out = NULL;
    inmem__waiter *w = calloc(1, sizeof(*w));
    if (!w)
        return INMEM_ENOMEM;
    w->after = after;
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->efd < 0) {
        int e = errno;
        free(w);
        return inmem__error(e == ENOMEM ? INMEM_ENOMEM : INMEM_EIO, "eventfd: %s", strerror(e));
    }
    int rc = arm(st, w, key, klen);
    if (rc) {
        close(w->efd);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int inmem__watch_fd(const inmem__waiter *w)
{
    return w->efd;
}

int inmem__watch_poll(inmem__waiter *w, uint64_t *version)
{
    inmem__store *st = w->st;
    int rc;
    if (st)
        pthread_mutex_lock(&st->watch_mu);
    if (w->fired) {
        *version = w->fired;
        rc = 0;
    } else if (w->closed) {
        rc = inmem__error(INMEM_ECLOSED, "the database was closed");
    } else {
        rc = INMEM_NOTFOUND;
    }
    if (st)
        pthread_mutex_unlock(&st->watch_mu);
    return rc;
}

void inmem__watch_close(inmem__waiter *w)
{
    if (!w)
        return;
    if (w->st)
        disarm(w->st, w);
    close(w->efd);
    free(w->key);
    free(w);
}

void inmem__watch_shutdown(inmem__store *st)
{
    if (!st->watch_buckets)
        return;
    pthread_mutex_lock(&st->watch_mu);
    st->watch_closing = 1;
    for (size_t b = 0; b < BUCKETS; b++)
        while (st->watch_buckets[b]) {
            inmem__waiter *w = st->watch_buckets[b];
            w->closed = 1;
            wake(w);
        }
    /* a watch outlives the database, fired or not: its owner frees it, without the store */
    for (inmem__waiter *w = st->watches, *next; w; w = next) {
        next = w->wnext;
        w->st = NULL;
        w->wpprev = NULL;
        atomic_fetch_sub(&st->nwatch, 1);
    }
    st->watches = NULL;
    while (st->watch_inside)
        pthread_cond_wait(&st->watch_gone, &st->watch_mu);
    pthread_mutex_unlock(&st->watch_mu);
}
