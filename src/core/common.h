/*
 * common.h — the small vocabulary every layer shares: branch hints, the C11 atomics helpers,
 * clang thread-safety annotations and an annotated mutex, and internal error plumbing.
 *
 * Atomics: we use <stdatomic.h> with explicit memory orders through the helpers below, so that
 * each access says what it synchronises with. Never `volatile` for synchronisation.
 */
#ifndef INMEM_CORE_COMMON_H
#define INMEM_CORE_COMMON_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inmem.h"

#define INMEM_LIKELY(x)    __builtin_expect(!!(x), 1)
#define INMEM_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define INMEM_CACHELINE    64
#define INMEM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Versions stay below 2^63: a database committing a billion transactions a second would take 292
 * years to get there. A checkpoint image or a log commit of a version at or above it is corrupt,
 * and a commit that would be given one is refused (INMEM_EREADONLY). */
#define INMEM__VERSION_LIMIT ((uint64_t)1 << 63)

/* ---- atomics ----------------------------------------------------------------------------------
 * load_acq / store_rel pair up to publish initialised memory; relaxed is for counters and
 * hints whose exact value is not used to reach other memory. */
#define atomic_load_acq(p)     atomic_load_explicit((p), memory_order_acquire)
#define atomic_load_rlx(p)     atomic_load_explicit((p), memory_order_relaxed)
#define atomic_store_rel(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define atomic_store_rlx(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define atomic_add_rlx(p, v)   atomic_fetch_add_explicit((p), (v), memory_order_relaxed)

/* ---- clang thread-safety analysis (-Wthread-safety) ------------------------------------------ */
#if defined(__clang__)
#define INMEM_TSA(x) __attribute__((x))
#else
#define INMEM_TSA(x)
#endif
#define INMEM_CAPABILITY(x) INMEM_TSA(capability(x))
/* INMEM_GUARDED_BY(lock) expands to nothing, on purpose: clang's C front end cannot name a sibling
 * struct member in an attribute (guarded_by(mu) on a field is rejected in C), so the analysis
 * cannot check fields. It documents, for the reader, which lock guards a field; the functions
 * that touch such fields carry INMEM_REQUIRES(lock), which clang does check at every call. */
#define INMEM_GUARDED_BY(x)
#define INMEM_REQUIRES(...) INMEM_TSA(requires_capability(__VA_ARGS__))
#define INMEM_ACQUIRE(...)  INMEM_TSA(acquire_capability(__VA_ARGS__))
#define INMEM_RELEASE(...)  INMEM_TSA(release_capability(__VA_ARGS__))
#define INMEM_NO_TSA        INMEM_TSA(no_thread_safety_analysis)

/* A pthread mutex the analysis knows about. */
typedef struct INMEM_CAPABILITY("mutex") inmem__mutex {
    pthread_mutex_t m;
} inmem__mutex;

static inline void inmem__mutex_init(inmem__mutex *mu)
{
    /* glibc's adaptive mutex spins briefly before sleeping: our critical sections are short,
     * so a waiter usually gets the lock without a futex sleep and wake-up */
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    pthread_mutex_init(&mu->m, &a);
    pthread_mutexattr_destroy(&a);
}
static inline void inmem__mutex_destroy(inmem__mutex *mu)
{
    pthread_mutex_destroy(&mu->m);
}
static inline void inmem__mutex_lock(inmem__mutex *mu) INMEM_ACQUIRE(mu) INMEM_NO_TSA
{
    pthread_mutex_lock(&mu->m);
}
/* Returns 1 with the lock held, 0 if another thread holds it. */
static inline int inmem__mutex_trylock(inmem__mutex *mu)
    INMEM_TSA(try_acquire_capability(1, mu)) INMEM_NO_TSA
{
    return pthread_mutex_trylock(&mu->m) == 0;
}
static inline void inmem__mutex_unlock(inmem__mutex *mu) INMEM_RELEASE(mu) INMEM_NO_TSA
{
    pthread_mutex_unlock(&mu->m);
}

/* Starts a library background thread with every signal blocked, so that signals (SIGINT from
 * a terminal, say) are delivered to the application's threads, never to ours. 0 or an errno. */
int inmem__thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* How many CPUs this process may run on (its affinity mask; 1 if that cannot be read). A load
 * starts helper threads only with 2 or more: on one CPU they would take turns with the loader
 * and add their switches to its work. Tests set it with inmem__cpus_override() (0: the real
 * count again). */
int inmem__cpus(void);
void inmem__cpus_override(int n);

/* Records the detail of error @p err for inmem_errmsg() (printf-style) and returns @p err. */
int inmem__error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* @p s (a path, a name, a lock file's contents: text the library did not write itself) as an
 * error message shows it: control characters and backslashes escaped C-style (\n, \t, \x1b,
 * \\), so that inmem_errmsg() stays one line whatever a directory is called; a long one is cut
 * with "...", leaving the message room for the rest. Every such text goes through it on its way
 * into inmem__error(). The result is one of a few thread-local buffers, reused after
 * INMEM__SHOWN_SLOTS more calls: pass it to inmem__error() at once (a message may show that many).
 */
#define INMEM__SHOWN_SLOTS 4
const char *inmem__shown(const char *s);

#endif
