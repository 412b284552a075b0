/*
 * test.h — what every test file shares: cmocka, the public header, and a few helpers.
 *
 * Every test is named after the rule or behaviour it checks.
 * Randomised tests take their seed from test_seed(), which prints it and honours
 * INMEM_TEST_SEED=<n> so that a failure can be replayed.
 */
#ifndef INMEM_TEST_H
#define INMEM_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "inmem.h"

/*
 * Each test file ends with its table, named after the file's group:
 *     const struct CMUnitTest txn_rules_tests[] = { cmocka_unit_test(...), ... };
 *     INMEM_TEST_COUNT(txn_rules);
 * and main.c lists the group.
 */
#define INMEM_TEST_COUNT(name)                                                                     \
    const size_t name##_count = sizeof(name##_tests) / sizeof(name##_tests[0])

/* Asserts that an inmem call returned `want`, printing both names on failure. */
#define assert_rc(want, expr)                                                                      \
    do {                                                                                           \
        int rc__ = (expr);                                                                         \
        if (rc__ != (want))                                                                        \
            fail_msg("%s returned %s (%d), expected %s (%d)", #expr, inmem_errname(rc__), rc__,    \
                     inmem_errname(want), (int)(want));                                            \
    } while (0)
#define assert_ok(expr) assert_rc(0, expr)

/* A string literal as (pointer, length) arguments, without its NUL. */
#define LIT(s) (s), (sizeof(s) - 1)

/* The test's random seed: INMEM_TEST_SEED if set, else time-based; printed once per call. */
uint64_t test_seed(const char *test_name);
/* A small deterministic PRNG (xorshift64*) for tests. */
uint64_t test_rand(uint64_t *state);

/* Opens an in-memory (durability none) database with default options, asserting success. */
inmem_db *test_open_mem(void);
/* Makes a fresh temporary directory (mkdtemp) in @p buf (at least 64 bytes). */
void test_tmpdir(char *buf);
/* Removes a directory and everything under it. */
void test_rmdir(const char *dir);
/* Begins a transaction, asserting success. */
inmem_txn *test_begin(inmem_db *db);
/* The database's counters, asserting success. */
inmem_stats test_stats(inmem_db *db);
/* The failing allocator (test_alloc.c), for this thread: allocation @p n from now on fails (1: the
 * next one; 0: none). test_alloc_failed() tells whether one failed since it was armed. */
void test_alloc_fail(long n);
int test_alloc_failed(void);
/* Runs `inmem_tests --process NAME` (this binary, in a process of its own, which has done nothing
 * yet) and returns its exit status (-1 if it did not exit); main() calls test_process(NAME) for
 * it, which returns the status. For what only a fresh process shows (one-time initialisation). */
int test_in_new_process(const char *name);
int test_process(const char *name);
/* The processes test_process() knows (test_storage.c). */
int test_process_valloc_fork(void);
/* The threads this thread started since the last call (pthread_create is wrapped in the test
 * binary: the library's calls come here too), and how many of them with SIGINT or SIGTERM not
 * blocked (the new thread's mask is its creator's); resets both. */
void test_threads_started(int *started, int *unblocked);

#endif
