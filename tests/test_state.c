/*
 * test_state.c — state cells: get/set, CAS on version (0 = create), CAS on value, transitions,
 * run scoping, persistence, bad input, and N threads claiming M tasks exactly once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "primitives/rec.h"

static void state_set_then_get_returns_value_and_version(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t v1 = 0, v2 = 0, got = 0;
    assert_ok(inmem_state_set_db(db, NULL, "phase", LIT("plan"), &v1));
    assert_true(v1 > 0);
    void *val = NULL;
    size_t n = 0;
    assert_ok(inmem_state_get_db(db, NULL, "phase", &val, &n, &got));
    assert_int_equal(got, v1);
    assert_int_equal(n, 4);
    assert_memory_equal(val, "plan", 4);
    inmem_free(val);
    assert_ok(inmem_state_set_db(db, NULL, "phase", LIT("act"), &v2));
    assert_true(v2 > v1);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    const void *bv;
    assert_ok(inmem_state_get(t, NULL, "phase", &bv, &n, &got));
    assert_int_equal(got, v2);
    assert_memory_equal(bv, "act", 3);
    assert_rc(INMEM_NOTFOUND, inmem_state_get(t, NULL, "missing", &bv, &n, &got));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void state_cas_version_zero_creates_only_if_absent(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t v = 0;
    assert_ok(inmem_state_cas_db(db, NULL, "lock", 0, LIT("a"), &v));
    assert_true(v > 0);
    assert_rc(INMEM_CONFLICT, inmem_state_cas_db(db, NULL, "lock", 0, LIT("b"), NULL));
    assert_rc(INMEM_CONFLICT, inmem_state_cas_db(db, NULL, "lock", v + 1000, LIT("b"), NULL));
    uint64_t v2 = 0;
    assert_ok(inmem_state_cas_db(db, NULL, "lock", v, LIT("b"), &v2));
    assert_true(v2 > v);
    void *val;
    size_t n;
    assert_ok(inmem_state_get_db(db, NULL, "lock", &val, &n, NULL));
    assert_memory_equal(val, "b", 1);
    inmem_free(val);
    assert_ok(inmem_db_close(db));
}

static void state_cas_in_txn_is_checked_at_commit(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    uint64_t v;
    assert_ok(inmem_state_set_db(db, NULL, "c", LIT("1"), &v));
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_state_cas(t, NULL, "c", v, LIT("2")));
    assert_ok(inmem_state_set_db(db, NULL, "c", LIT("other"), NULL)); /* moves the version */
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    inmem_txn_info info;
    assert_ok(inmem_txn_describe(t, &info));
    assert_int_equal(info.reason, INMEM_ABORT_CAS_CONFLICT);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void state_cas_value_compares_current_value(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    /* NULL expected: only if the cell does not exist */
    assert_ok(inmem_state_cas_value_db(db, NULL, "task", NULL, 0, LIT("open"), NULL));
    assert_rc(INMEM_CONFLICT, inmem_state_cas_value_db(db, NULL, "task", NULL, 0, LIT("x"), NULL));
    assert_rc(INMEM_CONFLICT,
              inmem_state_cas_value_db(db, NULL, "task", LIT("done"), LIT("claimed"), NULL));
    assert_ok(inmem_state_cas_value_db(db, NULL, "task", LIT("open"), LIT("claimed"), NULL));
    void *val;
    size_t n;
    assert_ok(inmem_state_get_db(db, NULL, "task", &val, &n, NULL));
    assert_int_equal(n, 7);
    assert_memory_equal(val, "claimed", 7);
    inmem_free(val);
    /* the value was read: a change before commit makes the commit conflict */
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_state_cas_value(t, NULL, "task", LIT("claimed"), LIT("done")));
    assert_ok(inmem_state_set_db(db, NULL, "task", LIT("stolen"), NULL));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static int append_x(const void *cur, size_t cur_len, uint64_t version, const void **next,
                    size_t *next_len, void *arg)
{
    char *buf = arg;
    (void)version;
    if (cur_len >= 63)
        return INMEM_EINVAL;
    if (cur_len)
        memcpy(buf, cur, cur_len);
    buf[cur_len] = 'x';
    *next = buf;
    *next_len = cur_len + 1;
    return 0;
}

static int refuse(const void *cur, size_t cur_len, uint64_t version, const void **next,
                  size_t *next_len, void *arg)
{
    (void)cur, (void)cur_len, (void)version, (void)next, (void)next_len, (void)arg;
    return -12345;
}

static void state_transition_applies_function_and_returns_its_error(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    char buf[64];
    uint64_t v = 0;
    assert_ok(inmem_state_transition(db, NULL, "s", append_x, buf, NULL, &v)); /* from absent */
    assert_ok(inmem_state_transition(db, NULL, "s", append_x, buf, NULL, &v));
    assert_true(v > 0);
    void *val;
    size_t n;
    uint64_t got;
    assert_ok(inmem_state_get_db(db, NULL, "s", &val, &n, &got));
    assert_int_equal(n, 2);
    assert_memory_equal(val, "xx", 2);
    assert_int_equal(got, v);
    inmem_free(val);
    assert_int_equal(inmem_state_transition(db, NULL, "s", refuse, NULL, NULL, NULL), -12345);
    assert_ok(inmem_state_get_db(db, NULL, "s", NULL, &n, &got));
    assert_int_equal(got, v); /* unchanged */
    assert_ok(inmem_db_close(db));
}

static void state_cells_are_scoped_to_their_run(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id a, b;
    assert_ok(inmem_run_id_new(&a));
    assert_ok(inmem_run_id_new(&b));
    assert_ok(inmem_state_set_db(db, &a, "step", LIT("A"), NULL));
    assert_ok(inmem_state_set_db(db, NULL, "step", LIT("shared"), NULL));
    assert_rc(INMEM_NOTFOUND, inmem_state_get_db(db, &b, "step", NULL, NULL, NULL));
    void *val;
    size_t n;
    assert_ok(inmem_state_get_db(db, &a, "step", &val, &n, NULL));
    assert_memory_equal(val, "A", 1);
    inmem_free(val);
    assert_ok(inmem_state_get_db(db, NULL, "step", &val, &n, NULL));
    assert_memory_equal(val, "shared", 6);
    inmem_free(val);
    /* a state cell is not a KV key of the same name */
    assert_rc(INMEM_NOTFOUND, inmem_get(db, &a, "step", 4, NULL, NULL, NULL));
    assert_ok(inmem_db_close(db));
}

static void state_cells_persist_across_reopen(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db;
    assert_ok(inmem_db_open(dir, NULL, &db));
    uint64_t v;
    assert_ok(inmem_state_set_db(db, NULL, "mode", LIT("safe"), &v));
    assert_ok(inmem_db_close(db));
    assert_ok(inmem_db_open(dir, NULL, &db));
    void *val;
    size_t n;
    uint64_t got;
    assert_ok(inmem_state_get_db(db, NULL, "mode", &val, &n, &got));
    assert_int_equal(got, v);
    assert_memory_equal(val, "safe", 4);
    inmem_free(val);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

static void state_bad_input_gets_clear_errors(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    char longname[INMEM_NAME_MAX + 1];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_rc(INMEM_EINVAL, inmem_state_set_db(NULL, NULL, "x", LIT("v"), NULL));
    assert_rc(INMEM_EINVAL, inmem_state_set_db(db, NULL, NULL, LIT("v"), NULL));
    assert_rc(INMEM_EINVAL, inmem_state_set_db(db, NULL, "", LIT("v"), NULL));
    assert_rc(INMEM_ETOOBIG, inmem_state_set_db(db, NULL, longname, LIT("v"), NULL));
    assert_rc(INMEM_EINVAL, inmem_state_set_db(db, NULL, "x", NULL, 3, NULL));
    assert_rc(INMEM_EINVAL, inmem_state_transition(db, NULL, "x", NULL, NULL, NULL, NULL));
    /* a cell whose record is garbage: ECORRUPT, not a crash */
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem__keybuf kb;
    assert_ok(inmem__keybuf_make(&kb, NULL, INMEM__TAG_STATE, "bad", 3));
    assert_ok(inmem__txn_put(t, kb.p, kb.len, "\x7f", 1, 0));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    inmem__keybuf_done(&kb);
    assert_rc(INMEM_ECORRUPT, inmem_state_get_db(db, NULL, "bad", NULL, NULL, NULL));
    assert_ok(inmem_db_close(db));
}

/* A transition to a value of the length in *arg, read from a 16-byte buffer. */
static int next_of_length(const void *cur, size_t cur_len, uint64_t version, const void **next,
                          size_t *next_len, void *arg)
{
    static const char small[16] = "0123456789abcdef";
    (void)cur, (void)cur_len, (void)version;
    *next = small;
    *next_len = *(const size_t *)arg;
    return 0;
}

/* A value beyond max_value_size gets INMEM_ETOOBIG before a byte of it is read or copied, from
 * every call that writes a cell: one byte past the limit (which was allocated and copied whole
 * first), SIZE_MAX / 2 + 2 (whose record buffer's growth wrapped to 0 and looped for ever) and
 * SIZE_MAX (whose record size wrapped, then copied SIZE_MAX bytes). Each value is a 16-byte
 * buffer: reading past it would crash, or AddressSanitizer would tell; and inside a transaction
 * the failing allocator shows that nothing was allocated for it either. */
static void state_value_beyond_max_value_size_is_etoobig_before_it_is_read(void **state)
{
    (void)state;
    enum { MAXV = 1024 };
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_value_size = MAXV;
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(NULL, &o, &db));
    assert_ok(inmem_state_set_db(db, NULL, "cell", LIT("old"), NULL));
    static const char small[16] = "0123456789abcdef";
    const size_t lens[] = {(size_t)MAXV + 1, SIZE_MAX / 2 + 2, SIZE_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t len = lens[i];
        inmem_txn *t = test_begin(db);
        test_alloc_fail(1); /* the first allocation fails: ENOMEM if one is tried */
        assert_rc(INMEM_ETOOBIG, inmem_state_set(t, NULL, "cell", small, len));
        assert_rc(INMEM_ETOOBIG, inmem_state_cas(t, NULL, "cell", 0, small, len));
        assert_rc(INMEM_ETOOBIG, inmem_state_cas_value(t, NULL, "cell", LIT("old"), small, len));
        assert_false(test_alloc_failed());
        test_alloc_fail(0);
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
        assert_rc(INMEM_ETOOBIG, inmem_state_set_db(db, NULL, "cell", small, len, NULL));
        assert_rc(INMEM_ETOOBIG, inmem_state_cas_db(db, NULL, "cell", 0, small, len, NULL));
        assert_rc(INMEM_ETOOBIG,
                  inmem_state_cas_value_db(db, NULL, "cell", LIT("old"), small, len, NULL));
        assert_rc(INMEM_ETOOBIG,
                  inmem_state_transition(db, NULL, "cell", next_of_length, &len, NULL, NULL));
    }
    /* nothing was written; the largest value that fits (its record is the value and a format
     * byte) still is */
    void *val = NULL;
    size_t n = 0;
    assert_ok(inmem_state_get_db(db, NULL, "cell", &val, &n, NULL));
    assert_int_equal(n, 3);
    assert_memory_equal(val, "old", 3);
    inmem_free(val);
    char full[MAXV];
    memset(full, 'f', sizeof full);
    assert_ok(inmem_state_set_db(db, NULL, "cell", full, MAXV - 1, NULL));
    assert_rc(INMEM_ETOOBIG, inmem_state_set_db(db, NULL, "cell", full, MAXV, NULL));
    assert_ok(inmem_db_close(db));
}

/* ---- N threads claiming M tasks ---- */

#define CLAIM_THREADS 4
#define CLAIM_TASKS   200

struct claimer {
    inmem_db *db;
    int id;
    int claimed[CLAIM_TASKS];
    int n;
    int errors;
};

static void *claim_main(void *arg)
{
    struct claimer *c = arg;
    for (int k = 0; k < CLAIM_TASKS; k++) {
        int task = (k + c->id * 53) % CLAIM_TASKS;
        char name[32], me[8];
        snprintf(name, sizeof name, "task-%d", task);
        snprintf(me, sizeof me, "w%d", c->id);
        int rc = inmem_state_cas_value_db(c->db, NULL, name, "open", 4, me, strlen(me), NULL);
        if (rc == 0)
            c->claimed[c->n++] = task;
        else if (rc != INMEM_CONFLICT)
            c->errors++;
    }
    return NULL;
}

static void state_concurrent_claims_take_each_task_exactly_once(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    for (int i = 0; i < CLAIM_TASKS; i++) {
        char name[32];
        snprintf(name, sizeof name, "task-%d", i);
        assert_ok(inmem_state_set_db(db, NULL, name, "open", 4, NULL));
    }
    struct claimer *c = calloc(CLAIM_THREADS, sizeof *c);
    pthread_t th[CLAIM_THREADS];
    for (int i = 0; i < CLAIM_THREADS; i++) {
        c[i].db = db;
        c[i].id = i;
        pthread_create(&th[i], NULL, claim_main, &c[i]);
    }
    int owner[CLAIM_TASKS];
    memset(owner, -1, sizeof owner);
    int total = 0;
    for (int i = 0; i < CLAIM_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(c[i].errors, 0);
        for (int k = 0; k < c[i].n; k++) {
            int task = c[i].claimed[k];
            if (owner[task] != -1)
                fail_msg("task %d claimed by both %d and %d", task, owner[task], i);
            owner[task] = i;
            total++;
        }
    }
    assert_int_equal(total, CLAIM_TASKS);
    for (int t = 0; t < CLAIM_TASKS; t++) { /* the cell names its one owner */
        char name[32], want[8];
        snprintf(name, sizeof name, "task-%d", t);
        snprintf(want, sizeof want, "w%d", owner[t]);
        void *val;
        size_t n;
        assert_ok(inmem_state_get_db(db, NULL, name, &val, &n, NULL));
        assert_int_equal(n, strlen(want));
        assert_memory_equal(val, want, n);
        inmem_free(val);
    }
    free(c);
    assert_ok(inmem_db_close(db));
}

static void state_list_pages_through_a_runs_cells_in_name_order(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id run, other;
    assert_ok(inmem_run_id_new(&run));
    assert_ok(inmem_run_id_new(&other));
    const char *names[] = {"a", "b", "b2", "c", "queue/1", "queue/2", "z"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_ok(inmem_state_set_db(db, &run, names[i], names[i], strlen(names[i]), NULL));
    assert_ok(inmem_state_set_db(db, &other, "x", LIT("1"), NULL));
    assert_ok(inmem_put(db, &run, LIT("kv-key"), LIT("not a cell"), NULL));
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_state_set(t, &run, "b1", LIT("pending"))); /* own write, in order */
    inmem_state_entry page[3];
    size_t n, seen = 0;
    const char *want[] = {"a", "b", "b1", "b2", "c", "queue/1", "queue/2", "z"};
    char after[INMEM_NAME_MAX] = "";
    do {
        assert_ok(inmem_state_list(t, &run, seen ? after : NULL, 3, page, &n));
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(page[i].name, want[seen + i]);
            if (strcmp(page[i].name, "b1") != 0) {
                assert_int_equal(page[i].len, strlen(want[seen + i]));
                assert_memory_equal(page[i].val, want[seen + i], page[i].len);
                assert_true(page[i].version > 0);
            }
        }
        seen += n;
        if (n)
            strcpy(after, page[n - 1].name);
    } while (n == 3);
    assert_int_equal(seen, 8);
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

const struct CMUnitTest state_tests[] = {
    cmocka_unit_test(state_list_pages_through_a_runs_cells_in_name_order),
    cmocka_unit_test(state_set_then_get_returns_value_and_version),
    cmocka_unit_test(state_cas_version_zero_creates_only_if_absent),
    cmocka_unit_test(state_cas_in_txn_is_checked_at_commit),
    cmocka_unit_test(state_cas_value_compares_current_value),
    cmocka_unit_test(state_transition_applies_function_and_returns_its_error),
    cmocka_unit_test(state_cells_are_scoped_to_their_run),
    cmocka_unit_test(state_cells_persist_across_reopen),
    cmocka_unit_test(state_bad_input_gets_clear_errors),
    cmocka_unit_test(state_value_beyond_max_value_size_is_etoobig_before_it_is_read),
    cmocka_unit_test(state_concurrent_claims_take_each_task_exactly_once),
};
INMEM_TEST_COUNT(state);
