/*
 * test_bad_input.c — bad input gets a clear error code, never a crash: NULL handles and
 * pointers, empty and oversized keys and values, options out of range, unsupported durability
 * modes, ended transactions, closing a busy database, too many transactions, malformed run ids,
 * and the error-name tables.
 */
#include <stdio.h>
#include <stdlib.h>

#include "test.h"

/* Opens an in-memory database with the given limits (0 = keep the default). */
static inmem_db *open_limited(size_t max_key, size_t max_value, unsigned max_txns)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    if (max_key)
        o.max_key_size = max_key;
    if (max_value)
        o.max_value_size = max_value;
    if (max_txns)
        o.max_txns = max_txns;
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(NULL, &o, &db));
    assert_non_null(db);
    return db;
}

/* Expects inmem_db_open() to fail with @p want and to set *out to NULL. */
static void expect_open_fails(const char *dir, const inmem_options *o, int want)
{
    int sentinel = 0;
    inmem_db *db = (inmem_db *)(void *)&sentinel;
    assert_rc(want, inmem_db_open(dir, o, &db));
    assert_null(db);
}

/* ---- NULL pointers and empty keys ------------------------------------------------------- */

static int cb_noop(inmem_txn *txn, void *arg)
{
    (void)txn;
    (void)arg;
    return 0;
}

static void bad_input_null_handles_and_pointers_einval(void **state)
{
    (void)state;
    assert_rc(INMEM_EINVAL, inmem_db_open(NULL, NULL, NULL));
    inmem_db *db = test_open_mem();
    inmem_stats st;
    assert_rc(INMEM_EINVAL, inmem_db_stats(NULL, &st));
    assert_rc(INMEM_EINVAL, inmem_db_stats(db, NULL));

    int sentinel = 0;
    inmem_txn *t = (inmem_txn *)(void *)&sentinel;
    assert_rc(INMEM_EINVAL, inmem_txn_begin(NULL, &t));
    assert_null(t);
    assert_rc(INMEM_EINVAL, inmem_txn_begin(db, NULL));
    assert_rc(INMEM_EINVAL, inmem_txn_commit(NULL));
    assert_rc(INMEM_EINVAL, inmem_txn_abort(NULL));
    inmem_txn_info info;
    assert_rc(INMEM_EINVAL, inmem_txn_describe(NULL, &info));
    assert_rc(INMEM_EINVAL, inmem_db_transact(NULL, NULL, cb_noop, NULL));
    assert_rc(INMEM_EINVAL, inmem_db_transact(db, NULL, NULL, NULL));

    /* Operations with a NULL transaction. */
    const void *v = NULL;
    size_t vl = 0;
    uint64_t ver = 0;
    inmem_iter *it = NULL;
    assert_rc(INMEM_EINVAL, inmem_kv_get(NULL, NULL, LIT("k"), &v, &vl, &ver));
    assert_rc(INMEM_EINVAL, inmem_kv_put(NULL, NULL, LIT("k"), LIT("v")));
    assert_rc(INMEM_EINVAL, inmem_kv_put_ttl(NULL, NULL, LIT("k"), LIT("v"), 10));
    assert_rc(INMEM_EINVAL, inmem_kv_delete(NULL, NULL, LIT("k")));
    assert_rc(INMEM_EINVAL, inmem_kv_cas(NULL, NULL, LIT("k"), 0, LIT("v")));
    assert_rc(INMEM_EINVAL, inmem_kv_scan(NULL, NULL, NULL, 0, NULL, 0, &it));
    assert_rc(INMEM_EINVAL, inmem_kv_scan_prefix(NULL, NULL, LIT("k"), &it));
    assert_rc(INMEM_EINVAL, inmem_iter_next(NULL, NULL, NULL, NULL, NULL, NULL));

    /* Operations with a NULL key, a zero-length key, or a NULL out pointer. Each is tried on a
     * fresh transaction so that nothing depends on what an error does to the transaction. */
    t = test_begin(db);
    assert_rc(INMEM_EINVAL, inmem_kv_get(t, NULL, NULL, 1, &v, &vl, &ver));
    assert_rc(INMEM_EINVAL, inmem_kv_get(t, NULL, "k", 0, &v, &vl, &ver));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_EINVAL, inmem_kv_put(t, NULL, NULL, 1, LIT("v")));
    assert_rc(INMEM_EINVAL, inmem_kv_put(t, NULL, "k", 0, LIT("v")));
    assert_rc(INMEM_EINVAL, inmem_kv_put(t, NULL, LIT("k"), NULL, 3)); /* NULL value, vlen > 0 */
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_EINVAL, inmem_kv_put_ttl(t, NULL, NULL, 1, LIT("v"), 10));
    assert_rc(INMEM_EINVAL, inmem_kv_put_ttl(t, NULL, "k", 0, LIT("v"), 10));
    assert_rc(INMEM_EINVAL, inmem_kv_put_ttl(t, NULL, LIT("k"), NULL, 3, 10));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_EINVAL, inmem_kv_delete(t, NULL, NULL, 1));
    assert_rc(INMEM_EINVAL, inmem_kv_delete(t, NULL, "k", 0));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_EINVAL, inmem_kv_cas(t, NULL, NULL, 1, 0, LIT("v")));
    assert_rc(INMEM_EINVAL, inmem_kv_cas(t, NULL, "k", 0, 0, LIT("v")));
    assert_rc(INMEM_EINVAL, inmem_kv_cas(t, NULL, LIT("k"), 0, NULL, 3));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_EINVAL, inmem_kv_scan(t, NULL, NULL, 0, NULL, 0, NULL));
    assert_rc(INMEM_EINVAL, inmem_kv_scan_prefix(t, NULL, LIT("k"), NULL));
    assert_rc(INMEM_EINVAL, inmem_txn_describe(t, NULL));
    inmem_txn_free(t);

    /* Implicit operations. */
    void *owned = NULL;
    assert_rc(INMEM_EINVAL, inmem_get(NULL, NULL, LIT("k"), &owned, &vl, &ver));
    assert_rc(INMEM_EINVAL, inmem_get(db, NULL, NULL, 1, &owned, &vl, &ver));
    assert_rc(INMEM_EINVAL, inmem_get(db, NULL, "k", 0, &owned, &vl, &ver));
    assert_rc(INMEM_EINVAL, inmem_put(NULL, NULL, LIT("k"), LIT("v"), &ver));
    assert_rc(INMEM_EINVAL, inmem_put(db, NULL, NULL, 1, LIT("v"), &ver));
    assert_rc(INMEM_EINVAL, inmem_put(db, NULL, "k", 0, LIT("v"), &ver));
    assert_rc(INMEM_EINVAL, inmem_put(db, NULL, LIT("k"), NULL, 3, &ver));
    assert_rc(INMEM_EINVAL, inmem_delete(NULL, NULL, LIT("k"), &ver));
    assert_rc(INMEM_EINVAL, inmem_delete(db, NULL, NULL, 1, &ver));
    assert_rc(INMEM_EINVAL, inmem_delete(db, NULL, "k", 0, &ver));
    assert_rc(INMEM_EINVAL, inmem_cas(NULL, NULL, LIT("k"), 0, LIT("v"), &ver));
    assert_rc(INMEM_EINVAL, inmem_cas(db, NULL, NULL, 1, 0, LIT("v"), &ver));
    assert_rc(INMEM_EINVAL, inmem_cas(db, NULL, "k", 0, 0, LIT("v"), &ver));

    /* Run ids. */
    inmem_run_id id;
    char buf[INMEM_RUN_ID_STRLEN + 1];
    assert_rc(INMEM_EINVAL, inmem_run_id_new(NULL));
    assert_ok(inmem_run_id_new(&id));
    assert_rc(INMEM_EINVAL, inmem_run_id_format(NULL, buf));
    assert_rc(INMEM_EINVAL, inmem_run_id_format(&id, NULL));
    assert_rc(INMEM_EINVAL, inmem_run_id_parse(NULL, &id));
    assert_rc(INMEM_EINVAL, inmem_run_id_parse("00000000-0000-0000-0000-000000000000", NULL));

    /* Nothing was written by any of that, and the database still works. */
    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    assert_int_equal(s.commits, 0);
    assert_int_equal(s.keys, 0);
    assert_int_equal(s.open_txns, 0);
    assert_ok(inmem_put(db, NULL, LIT("k"), NULL, 0, NULL)); /* NULL value with vlen 0 is fine */
    assert_ok(inmem_get(db, NULL, LIT("k"), &owned, &vl, &ver));
    assert_int_equal(vl, 0);
    inmem_free(owned);
    t = test_begin(db);
    assert_ok(inmem_kv_put(t, NULL, LIT("k2"), NULL, 0));
    assert_ok(inmem_kv_get(t, NULL, LIT("k2"), NULL, NULL, NULL));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

/* ---- size limits ------------------------------------------------------------------------ */

enum { MAXK = 16, MAXV = 64 };

static void bad_input_oversized_key_or_value_etoobig(void **state)
{
    (void)state;
    inmem_db *db = open_limited(MAXK, MAXV, 0);
    char key[MAXK + 2], val[MAXV + 2];
    memset(key, 'k', sizeof(key));
    memset(val, 'v', sizeof(val));
    const void *v = NULL;
    size_t vl = 0;
    uint64_t ver = 0;
    inmem_iter *it = NULL;

    /* In a transaction, one bad call per fresh transaction. */
    inmem_txn *t = test_begin(db);
    assert_rc(INMEM_ETOOBIG, inmem_kv_put(t, NULL, key, MAXK + 1, LIT("v")));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_ETOOBIG, inmem_kv_put(t, NULL, LIT("k"), val, MAXV + 1));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_ETOOBIG, inmem_kv_put_ttl(t, NULL, key, MAXK + 1, LIT("v"), 1000));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_ETOOBIG, inmem_kv_put_ttl(t, NULL, LIT("k"), val, MAXV + 1, 1000));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_ETOOBIG, inmem_kv_get(t, NULL, key, MAXK + 1, &v, &vl, &ver));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_ETOOBIG, inmem_kv_delete(t, NULL, key, MAXK + 1));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_ETOOBIG, inmem_kv_cas(t, NULL, key, MAXK + 1, 0, LIT("v")));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_ETOOBIG, inmem_kv_cas(t, NULL, LIT("k"), 0, val, MAXV + 1));
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_ETOOBIG, inmem_kv_scan(t, NULL, key, MAXK + 1, NULL, 0, &it));
    inmem_iter_free(it);
    it = NULL;
    inmem_txn_free(t);
    t = test_begin(db);
    assert_rc(INMEM_ETOOBIG, inmem_kv_scan(t, NULL, NULL, 0, key, MAXK + 1, &it));
    inmem_iter_free(it);
    it = NULL;
    inmem_txn_free(t);
    /* A much larger key as well (not just one byte over). */
    t = test_begin(db);
    char big[4096];
    memset(big, 'b', sizeof(big));
    assert_rc(INMEM_ETOOBIG, inmem_kv_put(t, NULL, big, sizeof(big), LIT("v")));
    inmem_txn_free(t);

    /* Implicit operations. */
    void *owned = NULL;
    assert_rc(INMEM_ETOOBIG, inmem_put(db, NULL, key, MAXK + 1, LIT("v"), NULL));
    assert_rc(INMEM_ETOOBIG, inmem_put(db, NULL, LIT("k"), val, MAXV + 1, NULL));
    assert_rc(INMEM_ETOOBIG, inmem_get(db, NULL, key, MAXK + 1, &owned, &vl, NULL));
    assert_rc(INMEM_ETOOBIG, inmem_delete(db, NULL, key, MAXK + 1, NULL));
    assert_rc(INMEM_ETOOBIG, inmem_cas(db, NULL, key, MAXK + 1, 0, LIT("v"), NULL));
    assert_rc(INMEM_ETOOBIG, inmem_cas(db, NULL, LIT("k"), 0, val, MAXV + 1, NULL));

    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    assert_int_equal(s.commits, 0);
    assert_int_equal(s.keys, 0);

    /* Exactly at the limits: accepted, and read back intact. */
    t = test_begin(db);
    assert_ok(inmem_kv_put(t, NULL, key, MAXK, val, MAXV));
    assert_ok(inmem_kv_get(t, NULL, key, MAXK, &v, &vl, NULL));
    assert_int_equal(vl, MAXV);
    assert_ok(inmem_kv_cas(t, NULL, "c", 1, 0, val, MAXV));
    assert_ok(inmem_kv_put_ttl(t, NULL, "t", 1, val, MAXV, 3600000));
    assert_ok(inmem_kv_put(t, NULL, "e", 1, NULL, 0)); /* empty value */
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);

    uint64_t vput = 0;
    memset(key, 'K', sizeof(key));
    assert_ok(inmem_put(db, NULL, key, MAXK, val, MAXV, &vput));
    assert_ok(inmem_get(db, NULL, key, MAXK, &owned, &vl, &ver));
    assert_int_equal(vl, MAXV);
    assert_memory_equal(owned, val, MAXV);
    assert_int_equal(ver, vput);
    inmem_free(owned);
    assert_ok(inmem_cas(db, NULL, key, MAXK, vput, val, MAXV, NULL));

    t = test_begin(db);
    assert_ok(inmem_kv_scan(t, NULL, key, MAXK, key, MAXK, &it));
    assert_rc(INMEM_NOTFOUND, inmem_iter_next(it, NULL, NULL, NULL, NULL, NULL));
    inmem_iter_free(it);
    it = NULL;
    assert_ok(inmem_kv_scan_prefix(t, NULL, key, MAXK, &it));
    const void *k = NULL;
    size_t kl = 0;
    assert_ok(inmem_iter_next(it, &k, &kl, &v, &vl, NULL));
    assert_int_equal(kl, MAXK);
    assert_memory_equal(k, key, MAXK);
    assert_int_equal(vl, MAXV);
    inmem_iter_free(it);
    assert_ok(inmem_kv_delete(t, NULL, key, MAXK));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void bad_input_default_key_limit_is_enforced(void **state)
{
    (void)state;
    inmem_options o;
    inmem_options_init(&o);
    assert_int_equal(o.durability, INMEM_DURABILITY_BATCHED);
    assert_int_equal(o.max_key_size, 4096);
    assert_int_equal(o.max_value_size, 16u * 1024 * 1024);
    assert_int_equal(o.max_txns, 256);

    inmem_db *db = test_open_mem();
    char *key = calloc(1, 4097);
    assert_non_null(key);
    memset(key, 'x', 4097);
    assert_rc(INMEM_ETOOBIG, inmem_put(db, NULL, key, 4097, LIT("v"), NULL));
    assert_ok(inmem_put(db, NULL, key, 4096, LIT("v"), NULL));
    free(key);
    assert_ok(inmem_db_close(db));
}

/* ---- options ---------------------------------------------------------------------------- */

static void bad_input_options_out_of_range_einval_and_out_null(void **state)
{
    (void)state;
    inmem_options o;

    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_key_size = 0;
    expect_open_fails(NULL, &o, INMEM_EINVAL);
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_key_size = 65537;
    expect_open_fails(NULL, &o, INMEM_EINVAL);
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_key_size = SIZE_MAX;
    expect_open_fails(NULL, &o, INMEM_EINVAL);

    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_value_size = (size_t)1024 * 1024 * 1024 + 1;
    expect_open_fails(NULL, &o, INMEM_EINVAL);
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_value_size = SIZE_MAX;
    expect_open_fails(NULL, &o, INMEM_EINVAL);

    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_txns = 0;
    expect_open_fails(NULL, &o, INMEM_EINVAL);
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_txns = 65537;
    expect_open_fails(NULL, &o, INMEM_EINVAL);

    /* Not a durability mode at all. Whether this counts as out of range (EINVAL) or as a mode
     * this release does not have (ENOTSUP) is not pinned down; it must fail and set *out NULL. */
    inmem_options_init(&o);
    o.durability = (inmem_durability)99;
    int sentinel = 0;
    inmem_db *db = (inmem_db *)(void *)&sentinel;
    int rc = inmem_db_open(NULL, &o, &db);
    if (rc != INMEM_EINVAL && rc != INMEM_ENOTSUP)
        fail_msg("durability 99: inmem_db_open returned %s, expected INMEM_EINVAL or "
                 "INMEM_ENOTSUP",
                 inmem_errname(rc));
    assert_null(db);

    /* The limits themselves are in range. */
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_key_size = 65536;
    o.max_value_size = (size_t)1024 * 1024 * 1024;
    o.max_txns = 65536;
    db = NULL;
    assert_ok(inmem_db_open(NULL, &o, &db));
    assert_non_null(db);
    assert_ok(inmem_put(db, NULL, LIT("k"), LIT("v"), NULL));
    assert_ok(inmem_db_close(db));
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_key_size = 1;
    o.max_txns = 1;
    db = NULL;
    assert_ok(inmem_db_open(NULL, &o, &db));
    assert_ok(inmem_put(db, NULL, LIT("k"), LIT("v"), NULL));
    assert_rc(INMEM_ETOOBIG, inmem_put(db, NULL, LIT("kk"), LIT("v"), NULL));
    assert_ok(inmem_db_close(db));

    /* NULL options: the defaults, whose durability (batched) needs a directory. */
    expect_open_fails(NULL, NULL, INMEM_EINVAL);
}

static void bad_input_durable_modes_need_a_directory(void **state)
{
    (void)state;
    const inmem_durability modes[] = {INMEM_DURABILITY_ASYNC, INMEM_DURABILITY_BATCHED,
                                      INMEM_DURABILITY_STRICT};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        inmem_options o;
        inmem_options_init(&o);
        o.durability = modes[i];
        expect_open_fails(NULL, &o, INMEM_EINVAL);
        expect_open_fails("", &o, INMEM_EINVAL);
        o.wal_segment_size = 1024; /* below the 64 KiB minimum */
        expect_open_fails("/tmp/inmem-test-never-created", &o, INMEM_EINVAL);
    }
}

/* ---- ended transactions ----------------------------------------------------------------- */

static void expect_txn_done(inmem_txn *t)
{
    const void *v = NULL;
    size_t vl = 0;
    uint64_t ver = 0;
    inmem_iter *it = NULL;
    assert_rc(INMEM_ETXNDONE, inmem_kv_get(t, NULL, LIT("k"), &v, &vl, &ver));
    assert_rc(INMEM_ETXNDONE, inmem_kv_put(t, NULL, LIT("k"), LIT("v")));
    assert_rc(INMEM_ETXNDONE, inmem_kv_put_ttl(t, NULL, LIT("k"), LIT("v"), 5));
    assert_rc(INMEM_ETXNDONE, inmem_kv_delete(t, NULL, LIT("k")));
    assert_rc(INMEM_ETXNDONE, inmem_kv_cas(t, NULL, LIT("k"), 0, LIT("v")));
    assert_rc(INMEM_ETXNDONE, inmem_kv_scan(t, NULL, NULL, 0, NULL, 0, &it));
    inmem_iter_free(it);
    it = NULL;
    assert_rc(INMEM_ETXNDONE, inmem_kv_scan_prefix(t, NULL, LIT("k"), &it));
    inmem_iter_free(it);
    assert_rc(INMEM_ETXNDONE, inmem_txn_commit(t));
    assert_rc(INMEM_ETXNDONE, inmem_txn_abort(t));
    /* The handle itself stays valid for inmem_txn_describe() until freed. */
    inmem_txn_info i;
    assert_ok(inmem_txn_describe(t, &i));
    assert_true(i.state == INMEM_TXN_COMMITTED || i.state == INMEM_TXN_ABORTED);
}

static void bad_input_committed_or_aborted_txn_etxndone(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    assert_ok(inmem_put(db, NULL, LIT("k"), LIT("v0"), NULL));

    inmem_txn *c = test_begin(db);
    inmem_iter *it = NULL;
    assert_ok(inmem_kv_scan(c, NULL, NULL, 0, NULL, 0, &it));
    assert_ok(inmem_kv_put(c, NULL, LIT("k"), LIT("v1")));
    assert_ok(inmem_txn_commit(c));
    expect_txn_done(c);
    assert_rc(INMEM_ETXNDONE, inmem_iter_next(it, NULL, NULL, NULL, NULL, NULL));
    inmem_iter_free(it);
    inmem_txn_free(c);

    inmem_txn *a = test_begin(db);
    assert_ok(inmem_kv_put(a, NULL, LIT("k"), LIT("v2")));
    assert_ok(inmem_txn_abort(a));
    expect_txn_done(a);
    inmem_txn_free(a);

    inmem_txn *x = test_begin(db);
    assert_ok(inmem_kv_get(x, NULL, LIT("k"), NULL, NULL, NULL));
    assert_ok(inmem_kv_put(x, NULL, LIT("k"), LIT("v3")));
    assert_ok(inmem_put(db, NULL, LIT("k"), LIT("v4"), NULL));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(x));
    expect_txn_done(x);
    inmem_txn_free(x);

    /* None of the refused calls wrote anything. */
    void *owned = NULL;
    size_t vl = 0;
    assert_ok(inmem_get(db, NULL, LIT("k"), &owned, &vl, NULL));
    assert_int_equal(vl, 2);
    assert_memory_equal(owned, "v4", 2);
    inmem_free(owned);
    assert_ok(inmem_db_close(db));
}

/* ---- closing a busy database, transaction limit ----------------------------------------- */

static void bad_input_close_with_open_txn_ebusy_and_db_still_works(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    assert_ok(inmem_put(db, NULL, LIT("k"), LIT("v"), NULL));

    inmem_txn *t = test_begin(db);
    assert_ok(inmem_kv_get(t, NULL, LIT("k"), NULL, NULL, NULL));
    assert_rc(INMEM_EBUSY, inmem_db_close(db));

    /* Nothing was closed: the transaction and the database both still work. */
    assert_int_equal(inmem_txn_state_of(t), INMEM_TXN_ACTIVE);
    assert_ok(inmem_kv_put(t, NULL, LIT("k2"), LIT("v2")));
    assert_ok(inmem_put(db, NULL, LIT("k3"), LIT("v3"), NULL));
    assert_ok(inmem_txn_commit(t));

    /* A finished but not freed handle still counts. */
    assert_rc(INMEM_EBUSY, inmem_db_close(db));
    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    assert_int_equal(s.open_txns, 1);
    void *owned = NULL;
    size_t vl = 0;
    assert_ok(inmem_get(db, NULL, LIT("k2"), &owned, &vl, NULL));
    assert_int_equal(vl, 2);
    assert_memory_equal(owned, "v2", 2);
    inmem_free(owned);

    inmem_txn_free(t);
    assert_ok(inmem_db_close(db));
}

static void bad_input_max_txns_exceeded_etxnlimit(void **state)
{
    (void)state;
    enum { LIMIT = 4 };
    inmem_db *db = open_limited(0, 0, LIMIT);
    inmem_txn *t[LIMIT];
    for (int i = 0; i < LIMIT; i++)
        t[i] = test_begin(db);
    int sentinel = 0;
    inmem_txn *extra = (inmem_txn *)(void *)&sentinel;
    assert_rc(INMEM_ETXNLIMIT, inmem_txn_begin(db, &extra));
    assert_null(extra);

    /* Ended but not freed handles still count. */
    assert_ok(inmem_txn_commit(t[0]));
    assert_ok(inmem_txn_abort(t[1]));
    extra = (inmem_txn *)(void *)&sentinel;
    assert_rc(INMEM_ETXNLIMIT, inmem_txn_begin(db, &extra));
    assert_null(extra);
    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    assert_int_equal(s.open_txns, LIMIT);

    /* Freeing one makes room for one. */
    inmem_txn_free(t[0]);
    t[0] = test_begin(db);
    assert_ok(inmem_kv_put(t[0], NULL, LIT("k"), LIT("v")));
    assert_ok(inmem_txn_commit(t[0]));
    extra = NULL;
    assert_rc(INMEM_ETXNLIMIT, inmem_txn_begin(db, &extra));
    assert_null(extra);

    for (int i = 0; i < LIMIT; i++)
        inmem_txn_free(t[i]);
    assert_ok(inmem_db_stats(db, &s));
    assert_int_equal(s.open_txns, 0);
    /* All slots are free again. */
    for (int i = 0; i < LIMIT; i++)
        t[i] = test_begin(db);
    for (int i = 0; i < LIMIT; i++)
        inmem_txn_free(t[i]);
    assert_ok(inmem_db_close(db));
}

/* ---- destructors, error names ----------------------------------------------------------- */

static void bad_input_destructors_accept_null(void **state)
{
    (void)state;
    assert_ok(inmem_db_close(NULL));
    inmem_txn_free(NULL);
    inmem_iter_free(NULL);
    inmem_free(NULL);
    inmem_options_init(NULL);
    inmem_retry_options_init(NULL);
    assert_int_equal(inmem_txn_state_of(NULL), INMEM_TXN_ABORTED);
    assert_int_equal(inmem_run_id_is_shared(NULL), 1);
}

static void bad_input_strerror_and_errname_for_every_code(void **state)
{
    (void)state;
    static const struct {
        int code;
        const char *name;
        const char *text;
    } table[] = {
#define ROW(name, value, text) {INMEM_##name, "INMEM_" #name, text},
        INMEM_ERROR_TABLE(ROW)
#undef ROW
    };
    const size_t n = sizeof(table) / sizeof(table[0]);
    for (size_t i = 0; i < n; i++) {
        const char *name = inmem_errname(table[i].code);
        const char *text = inmem_strerror(table[i].code);
        assert_non_null(name);
        assert_non_null(text);
        assert_string_equal(name, table[i].name);
        assert_string_equal(text, table[i].text);
        assert_string_not_equal(text, "unknown error");
        for (size_t j = 0; j < i; j++)
            assert_int_not_equal(table[i].code, table[j].code);
    }
    /* Success has a name and a message too. */
    assert_string_equal(inmem_errname(INMEM_OK), "INMEM_OK");
    assert_non_null(inmem_strerror(INMEM_OK));
    assert_true(strlen(inmem_strerror(INMEM_OK)) > 0);

    /* Codes that are not in the table. */
    const int unknown[] = {-5, -9, -25, -26, -27, -1000, 1, 42, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_string_equal(inmem_strerror(unknown[i]), "unknown error");
        assert_string_equal(inmem_errname(unknown[i]), "INMEM_UNKNOWN");
    }
}

/* ---- run ids ---------------------------------------------------------------------------- */

static void bad_input_run_id_format_parse_round_trip(void **state)
{
    (void)state;
    char buf[INMEM_RUN_ID_STRLEN + 1];

    inmem_run_id known;
    for (int i = 0; i < 16; i++)
        known.bytes[i] = (uint8_t)(i * 17); /* 00 11 22 ... ff */
    memset(buf, 'X', sizeof(buf));
    assert_ok(inmem_run_id_format(&known, buf));
    assert_string_equal(buf, "00112233-4455-6677-8899-aabbccddeeff");

    inmem_run_id back;
    memset(&back, 0x5a, sizeof(back));
    assert_ok(inmem_run_id_parse(buf, &back));
    assert_memory_equal(back.bytes, known.bytes, 16);
    memset(&back, 0x5a, sizeof(back));
    assert_ok(inmem_run_id_parse("00112233-4455-6677-8899-AABBCCDDEEFF", &back)); /* either case */
    assert_memory_equal(back.bytes, known.bytes, 16);
    memset(&back, 0x5a, sizeof(back));
    assert_ok(inmem_run_id_parse("00112233-4455-6677-8899-AaBbCcDdEeFf", &back));
    assert_memory_equal(back.bytes, known.bytes, 16);

    inmem_run_id zero;
    memset(&zero, 0, sizeof(zero));
    assert_ok(inmem_run_id_format(&zero, buf));
    assert_string_equal(buf, "00000000-0000-0000-0000-000000000000");
    assert_int_equal(inmem_run_id_is_shared(&zero), 1);
    memset(&back, 0x5a, sizeof(back));
    assert_ok(inmem_run_id_parse(buf, &back));
    assert_int_equal(inmem_run_id_is_shared(&back), 1);

    /* Fresh ids: well formed, not shared, round trip. */
    for (int n = 0; n < 100; n++) {
        inmem_run_id id;
        assert_ok(inmem_run_id_new(&id));
        assert_int_equal(inmem_run_id_is_shared(&id), 0);
        memset(buf, 'X', sizeof(buf));
        assert_ok(inmem_run_id_format(&id, buf));
        assert_int_equal(strlen(buf), INMEM_RUN_ID_STRLEN);
        for (int i = 0; i < INMEM_RUN_ID_STRLEN; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                assert_int_equal(buf[i], '-');
            else if (!((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f')))
                fail_msg("run id '%s': character %d is not lowercase hex", buf, i);
        }
        memset(&back, 0x5a, sizeof(back));
        assert_ok(inmem_run_id_parse(buf, &back));
        assert_memory_equal(back.bytes, id.bytes, 16);
    }
}

static void bad_input_run_id_parse_rejects_malformed_strings(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "0",
        "00112233-4455-6677-8899-aabbccddeef",    /* 35 characters */
        "00112233-4455-6677-8899-aabbccddeeff0",  /* 37 characters */
        "00112233-4455-6677-8899-aabbccddeeffx",  /* trailing junk */
        "00112233-4455-6677-8899-aabbccddeeff ",  /* trailing space */
        "00112233-4455-6677-8899-aabbccddeeff\n", /* trailing newline */
        " 00112233-4455-6677-8899-aabbccddeeff",  /* leading space */
        "00112233-4455-6677-8899-aabbccddeefg",   /* bad hex */
        "0011223g-4455-6677-8899-aabbccddeeff",   /* bad hex */
        "00112233-4455-6677-8899-aabbccddee f",   /* space inside */
        "00112233-4455-6677-8899-+abbccddeeff",   /* sign */
        "0x112233-4455-6677-8899-aabbccddeeff",   /* 0x prefix */
        "001122334-455-6677-8899-aabbccddeeff",   /* misplaced dash */
        "00112233-44556-677-8899-aabbccddeeff",   /* misplaced dash */
        "00112233-4455-6677-88990aabbccddeeff",   /* dash replaced */
        "00112233_4455_6677_8899_aabbccddeeff",   /* wrong separator */
        "0011223344556677-8899-aabbccddeeff----", /* dashes moved to the end */
        "00112233445566778899aabbccddeeff",       /* no dashes (32 characters) */
        "00112233445566778899aabbccddeeff0000",   /* no dashes, 36 characters */
        "{00112233-4455-6677-8899-aabbccddeeff}", /* braces */
        "------------------------------------",   /* only dashes */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        inmem_run_id id;
        int rc = inmem_run_id_parse(bad[i], &id);
        if (rc != INMEM_EINVAL)
            fail_msg("inmem_run_id_parse(\"%s\") returned %s, expected INMEM_EINVAL", bad[i],
                     inmem_errname(rc));
    }
    /* A NUL inside the 36 characters: the string is just too short. */
    char cut[INMEM_RUN_ID_STRLEN + 1];
    memcpy(cut, "00112233-4455-6677-8899-aabbccddeeff", sizeof(cut));
    cut[20] = '\0';
    inmem_run_id id;
    assert_rc(INMEM_EINVAL, inmem_run_id_parse(cut, &id));
}

static void bad_input_run_id_new_strictly_increasing(void **state)
{
    (void)state;
    enum { N = 10000 };
    inmem_run_id prev, cur;
    assert_ok(inmem_run_id_new(&prev));
    for (int i = 1; i < N; i++) {
        assert_ok(inmem_run_id_new(&cur));
        if (memcmp(prev.bytes, cur.bytes, 16) >= 0) {
            char a[INMEM_RUN_ID_STRLEN + 1], b[INMEM_RUN_ID_STRLEN + 1];
            inmem_run_id_format(&prev, a);
            inmem_run_id_format(&cur, b);
            fail_msg("run id %d (%s) is not greater than the one before (%s)", i, b, a);
        }
        prev = cur;
    }
}

const struct CMUnitTest bad_input_tests[] = {
    cmocka_unit_test(bad_input_null_handles_and_pointers_einval),
    cmocka_unit_test(bad_input_oversized_key_or_value_etoobig),
    cmocka_unit_test(bad_input_default_key_limit_is_enforced),
    cmocka_unit_test(bad_input_options_out_of_range_einval_and_out_null),
    cmocka_unit_test(bad_input_durable_modes_need_a_directory),
    cmocka_unit_test(bad_input_committed_or_aborted_txn_etxndone),
    cmocka_unit_test(bad_input_close_with_open_txn_ebusy_and_db_still_works),
    cmocka_unit_test(bad_input_max_txns_exceeded_etxnlimit),
    cmocka_unit_test(bad_input_destructors_accept_null),
    cmocka_unit_test(bad_input_strerror_and_errname_for_every_code),
    cmocka_unit_test(bad_input_run_id_format_parse_round_trip),
    cmocka_unit_test(bad_input_run_id_parse_rejects_malformed_strings),
    cmocka_unit_test(bad_input_run_id_new_strictly_increasing),
};
INMEM_TEST_COUNT(bad_input);
