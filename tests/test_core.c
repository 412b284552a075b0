/*
 * test_core.c — the core layer: error table, version, key encoding order, hash, arena.
 */
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include <stdint.h>

#include "core/arena.h"
#include "core/hash.h"
#include "core/key.h"

static void errors_have_distinct_names_and_messages(void **state)
{
    (void)state;
    int codes[] = {
#define XX(name, value, text) INMEM_##name,
        INMEM_ERROR_TABLE(XX)
#undef XX
    };
    size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        assert_true(codes[i] < 0);
        assert_string_not_equal(inmem_errname(codes[i]), "INMEM_UNKNOWN");
        assert_string_not_equal(inmem_strerror(codes[i]), "unknown error");
        for (size_t j = i + 1; j < n; j++) {
            assert_int_not_equal(codes[i], codes[j]);
            assert_string_not_equal(inmem_errname(codes[i]), inmem_errname(codes[j]));
        }
    }
    assert_string_equal(inmem_errname(INMEM_CONFLICT), "INMEM_CONFLICT");
    assert_string_equal(inmem_errname(0), "INMEM_OK");
    assert_string_equal(inmem_errname(12345), "INMEM_UNKNOWN");
}

/* inmem_errmsg() is one line of printable text (control characters only as escapes) that shows
 * @p want. */
static void expect_one_line(const char *what, const char *want)
{
    const char *m = inmem_errmsg();
    for (const unsigned char *p = (const unsigned char *)m; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            fail_msg("%s: byte 0x%02x at %zu of the message: %s", what, *p,
                     (size_t)(p - (const unsigned char *)m), m);
    if (want && !strstr(m, want))
        fail_msg("%s: '%s' does not show '%s'", what, m, want);
}

/* A path goes into inmem_errmsg() with its control characters and backslashes escaped: a
 * directory whose name holds a newline or a terminal escape sequence does not make the message
 * two lines or colour a terminal, and the name can still be read; a long one is cut with "...",
 * and the message still says what is wrong with it. */
static void error_messages_escape_control_characters_in_paths(void **state)
{
    (void)state;
    char base[64], dir[128];
    test_tmpdir(base);
    snprintf(dir, sizeof dir, "%s/a\nb\x1b[31m\\c\td", base);
    const char *shown = "a\\nb\\x1b[31m\\\\c\\td";
    inmem_options o;
    inmem_options_init(&o);
    o.create_if_missing = 0;
    inmem_db *db = NULL, *other = NULL;
    assert_rc(INMEM_NOTFOUND, inmem_db_open(dir, &o, &db)); /* no such directory */
    expect_one_line("a missing directory", shown);
    assert_ok(inmem_db_open(dir, NULL, &db));
    assert_rc(INMEM_ELOCKED, inmem_db_open(dir, NULL, &other)); /* <dir>/LOCK is held */
    expect_one_line("a held lock", shown);
    assert_rc(INMEM_EINVAL, inmem_db_backup(db, dir, NULL)); /* not empty */
    expect_one_line("a backup directory", shown);
    assert_ok(inmem_db_close(db));
    /* 600 newlines in 3 directories: 1200 bytes escaped, cut */
    char deep[1024];
    size_t n = (size_t)snprintf(deep, sizeof deep, "%s", base);
    for (int d = 0; d < 3; d++) {
        deep[n++] = '/';
        memset(deep + n, '\n', 200);
        n += 200;
    }
    deep[n] = '\0';
    assert_rc(INMEM_NOTFOUND, inmem_db_open(deep, &o, &db));
    expect_one_line("a long path", "\\n\\n...: the directory does not exist");
    test_rmdir(base);
}

/* A message stays until the next error that sets one, so a binding that shows it with a later
 * error that has none (most INMEM_EINVAL) showed an unrelated one; inmem_errmsg_clear() lets
 * it empty the message once it has used it. */
static void errmsg_clear_empties_the_message_until_the_next_error(void **state)
{
    (void)state;
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    inmem_db *db;
    assert_int_equal(inmem_db_open(NULL, &o, &db), 0);
    inmem_txn *t = NULL;
    assert_int_equal(inmem_txn_begin_at(db, 1000, &t), INMEM_EINVAL); /* with a message */
    assert_non_null(strstr(inmem_errmsg(), "1000"));
    inmem_errmsg_clear();
    assert_string_equal(inmem_errmsg(), "");
    assert_int_equal(inmem_put(db, NULL, "", 0, "v", 1, NULL), INMEM_EINVAL); /* without one */
    assert_string_equal(inmem_errmsg(), "");
    assert_int_equal(inmem_txn_begin_at(db, 1000, &t), INMEM_EINVAL);
    assert_non_null(strstr(inmem_errmsg(), "1000")); /* the next message is set as before */
    assert_int_equal(inmem_db_close(db), 0);
}

static void version_matches_header(void **state)
{
    (void)state;
    assert_int_equal(inmem_version_number(), INMEM_VERSION_NUMBER);
    assert_string_equal(inmem_version_string(), INMEM_VERSION_STRING);
}

static void key_encoding_orders_run_then_primitive_then_key(void **state)
{
    (void)state;
    inmem_run_id a, b;
    assert_ok(inmem_run_id_new(&a));
    assert_ok(inmem_run_id_new(&b)); /* b > a */
    inmem__keybuf k1, k2, k3, k4;
    assert_ok(inmem__keybuf_make(&k1, &a, INMEM__TAG_KV, "zzz", 3));
    assert_ok(inmem__keybuf_make(&k2, &a, INMEM__TAG_EVENT, "aaa", 3));
    assert_ok(inmem__keybuf_make(&k3, &b, INMEM__TAG_KV, "aaa", 3));
    assert_ok(inmem__keybuf_make(&k4, NULL, INMEM__TAG_RUN, "zzz", 3)); /* shared scope first */
    assert_true(memcmp(k4.p, k1.p, k1.len) < 0);
    assert_true(memcmp(k1.p, k2.p, k1.len) < 0); /* same run: kv before event */
    assert_true(memcmp(k2.p, k3.p, k2.len) < 0); /* run a before run b */
    assert_int_equal(k1.len, INMEM__KEY_PREFIX + 3);
    /* a long key goes to the heap and keeps its bytes */
    char big[1000];
    memset(big, 'x', sizeof big);
    inmem__keybuf kb;
    assert_ok(inmem__keybuf_make(&kb, &a, INMEM__TAG_KV, big, sizeof big));
    assert_int_equal(kb.len, INMEM__KEY_PREFIX + sizeof big);
    assert_memory_equal(kb.p + INMEM__KEY_PREFIX, big, sizeof big);
    inmem__keybuf_done(&kb);
    inmem__keybuf_done(&k1);
    inmem__keybuf_done(&k2);
    inmem__keybuf_done(&k3);
    inmem__keybuf_done(&k4);
}

static void hash_is_deterministic_and_spreads(void **state)
{
    (void)state;
    /* same input, same hash; inputs differing in one byte or in length differ */
    char buf[64];
    memset(buf, 7, sizeof buf);
    uint64_t h = inmem__hash(buf, 40);
    assert_true(h == inmem__hash(buf, 40));
    assert_true(h != inmem__hash(buf, 39));
    buf[20] = 8;
    assert_true(h != inmem__hash(buf, 40));
    /* low bits of sequential keys fill 1024 buckets fairly evenly */
    unsigned counts[1024] = {0};
    for (uint32_t i = 0; i < 1024 * 16; i++) {
        char k[24];
        int n = snprintf(k, sizeof k, "key-%u", i);
        counts[inmem__hash(k, (size_t)n) & 1023]++;
    }
    unsigned max = 0;
    for (int i = 0; i < 1024; i++)
        max = counts[i] > max ? counts[i] : max;
    assert_true(max < 48); /* mean 16 */
}

static void arena_allocates_aligned_and_resets(void **state)
{
    (void)state;
    inmem__arena a = {0};
    void *p1 = inmem__arena_alloc(&a, 3);
    void *p2 = inmem__arena_alloc(&a, 5);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_int_equal((uintptr_t)p2 % 8, 0);
    assert_true((char *)p2 >= (char *)p1 + 3);
    void *big = inmem__arena_alloc(&a, 100000); /* its own chunk */
    assert_non_null(big);
    memset(big, 1, 100000);
    inmem__arena_reset(&a);
    void *p3 = inmem__arena_alloc(&a, 8);
    assert_non_null(p3);
    inmem__arena_free(&a);
    assert_null(a.chunk);
    /* sizes whose rounding or chunk doubling would wrap are refused, never half-served (one
     * looped for ever) */
    assert_null(inmem__arena_alloc(&a, SIZE_MAX - 3));
    assert_null(inmem__arena_alloc(&a, ((size_t)1 << 63) + 8));
    assert_null(inmem__arena_alloc(&a, ((size_t)1 << 62) + 8));
    inmem__arena_free(&a);
}

const struct CMUnitTest core_tests[] = {
    cmocka_unit_test(error_messages_escape_control_characters_in_paths),
    cmocka_unit_test(errmsg_clear_empties_the_message_until_the_next_error),
    cmocka_unit_test(errors_have_distinct_names_and_messages),
    cmocka_unit_test(version_matches_header),
    cmocka_unit_test(key_encoding_orders_run_then_primitive_then_key),
    cmocka_unit_test(hash_is_deterministic_and_spreads),
    cmocka_unit_test(arena_allocates_aligned_and_resets),
};
INMEM_TEST_COUNT(core);
