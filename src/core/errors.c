/*
 * errors.c — error names and messages (from the one table in inmem.h), the library's version,
 * inmem_free() for memory the library hands to the caller, and how the library starts threads.
 */
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

/* The detail of the last error in this thread (file, offset, lock holder...). */
static _Thread_local char errmsg[512];

const char *inmem_errmsg(void)
{
    return errmsg;
}

void inmem_errmsg_clear(void)
{
    errmsg[0] = 0;
}

int inmem__error(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(errmsg, sizeof errmsg, "%s: ", inmem_strerror(err));
    if (n > 0 && (size_t)n < sizeof errmsg)
        vsnprintf(errmsg + n, sizeof errmsg - (size_t)n, fmt, ap);
    va_end(ap);
    return err;
}

const char *inmem__shown(const char *s)
{
    /* up to 316 bytes shown: room is left in a message for what it says of the path */
    static _Thread_local char ring[INMEM__SHOWN_SLOTS][320];
    static _Thread_local unsigned next;
    char *out = ring[next++ % INMEM__SHOWN_SLOTS];
    const size_t room = sizeof ring[0] - 4; /* what "..." and the NUL leave */
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : "(null)"); *p; p++) {
        static const char named[] = "\\\n\r\t", letter[] = "\\nrt"; /* \\ \n \r \t */
        const char *c = strchr(named, *p); /* (*p is not the NUL: the loop ends there) */
        char e[8];
        int k;
        if (c) {
            k = snprintf(e, sizeof e, "\\%c", letter[c - named]);
        } else if (*p < 0x20 || *p == 0x7f) {
            k = snprintf(e, sizeof e, "\\x%02x", *p);
        } else {
            e[0] = (char)*p;
            k = 1;
        }
        if (n + (size_t)k > room) { /* no escape cut in half */
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }
        memcpy(out + n, e, (size_t)k);
        n += (size_t)k;
    }
    out[n] = '\0';
    return out;
}

const char *inmem_strerror(int err)
{
    switch (err) {
    case INMEM_OK:
        return "success";
#define XX(name, value, text)                                                                      \
    case INMEM_##name:                                                                             \
        return text;
        INMEM_ERROR_TABLE(XX)
#undef XX
    default:
        return "unknown error";
    }
}

const char *inmem_errname(int err)
{
    switch (err) {
    case INMEM_OK:
        return "INMEM_OK";
#define XX(name, value, text)                                                                      \
    case INMEM_##name:                                                                             \
        return "INMEM_" #name;
        INMEM_ERROR_TABLE(XX)
#undef XX
    default:
        return "INMEM_UNKNOWN";
    }
}

int inmem__thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, fn, arg); /* the new thread inherits the full mask */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static _Atomic int cpus_override;

void inmem__cpus_override(int n)
{
    atomic_store_explicit(&cpus_override, n, memory_order_relaxed);
}

int inmem__cpus(void)
{
    int n = atomic_load_explicit(&cpus_override, memory_order_relaxed);
    if (n > 0)
        return n;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 1;
    n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

int inmem_version_number(void)
{
    return INMEM_VERSION_NUMBER;
}

const char *inmem_version_string(void)
{
    return INMEM_VERSION_STRING;
}

void inmem_free(void *ptr)
{
    free(ptr);
}
