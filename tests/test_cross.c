/*
 * test_cross.c — primitives together: one transaction writing KV, an event, a state cell and a
 * trace commits all four or none; run deletion erases every primitive's data of the run and
 * nothing else; every primitive persists across close and reopen.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"

struct step {
    const inmem_run_id *run;
    uint64_t expect; /* the task cell's expected version */
};

/* The agent step of docs/agents.md: claim the task, log the tool call, record the decision,
 * write the result. */
static int agent_step(inmem_txn *txn, const struct step *s)
{
    int rc = inmem_state_cas(txn, NULL, "task-1", s->expect, LIT("claimed"));
    if (rc == 0)
        rc = inmem_event_append(txn, s->run, "tools", "search", LIT("{\"q\":\"flights\"}"), NULL);
    inmem_span span;
    memset(&span, 0, sizeof span);
    span.kind = INMEM_TRACE_DECISION;
    strcpy(span.name, "pick-cheapest");
    span.confidence = 0.9;
    span.start_ms = 1000;
    if (rc == 0)
        rc = inmem_trace_record(txn, s->run, &span, NULL);
    if (rc == 0)
        rc = inmem_kv_put(txn, s->run, LIT("result"), LIT("LH123"));
    return rc;
}

static int count_spans(inmem_db *db, const inmem_run_id *run)
{
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    inmem_span out[8];
    size_t n = 0;
    assert_ok(inmem_trace_query(t, run, NULL, NULL, 8, out, &n));
    inmem_txn_free(t);
    return (int)n;
}

static void cross_primitive_transaction_commits_all_four(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));
    assert_ok(inmem_state_set_db(db, NULL, "task-1", LIT("open"), NULL));
    uint64_t ver;
    assert_ok(inmem_state_get_db(db, NULL, "task-1", NULL, NULL, &ver));
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    struct step s = {&run, ver};
    assert_ok(agent_step(t, &s));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_info info;
    assert_ok(inmem_txn_describe(t, &info));
    inmem_txn_free(t);

    void *v;
    size_t n;
    uint64_t got;
    assert_ok(inmem_state_get_db(db, NULL, "task-1", &v, &n, &got));
    assert_memory_equal(v, "claimed", 7);
    assert_int_equal(got, info.commit_version); /* one version for all of it */
    inmem_free(v);
    inmem_stream_info si;
    assert_ok(inmem_event_stream_info_db(db, &run, "tools", &si));
    assert_int_equal(si.length, 1);
    assert_int_equal(count_spans(db, &run), 1);
    assert_ok(inmem_get(db, &run, LIT("result"), &v, &n, &got));
    assert_int_equal(got, info.commit_version);
    inmem_free(v);
    assert_ok(inmem_db_close(db));
}

static void cross_primitive_transaction_with_failed_cas_leaves_none(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_id run;
    assert_ok(inmem_run_id_new(&run));
    assert_ok(inmem_state_set_db(db, NULL, "task-1", LIT("open"), NULL));
    uint64_t ver;
    assert_ok(inmem_state_get_db(db, NULL, "task-1", NULL, NULL, &ver));
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    struct step s = {&run, ver};
    assert_ok(agent_step(t, &s));
    /* another agent claims the task first */
    assert_ok(inmem_state_cas_db(db, NULL, "task-1", ver, LIT("other"), NULL));
    assert_rc(INMEM_CONFLICT, inmem_txn_commit(t));
    inmem_txn_info info;
    assert_ok(inmem_txn_describe(t, &info));
    assert_int_equal(info.reason, INMEM_ABORT_CAS_CONFLICT);
    inmem_txn_free(t);

    void *v;
    size_t n;
    assert_ok(inmem_state_get_db(db, NULL, "task-1", &v, &n, NULL));
    assert_memory_equal(v, "other", 5);
    inmem_free(v);
    inmem_stream_info si;
    assert_ok(inmem_event_stream_info_db(db, &run, "tools", &si));
    assert_int_equal(si.length, 0);
    assert_int_equal(count_spans(db, &run), 0);
    assert_rc(INMEM_NOTFOUND, inmem_get(db, &run, LIT("result"), NULL, NULL, NULL));
    assert_ok(inmem_db_close(db));
}

/* Everything one run can hold, through the primitives' own APIs. */
static void fill_run(inmem_db *db, const inmem_run_id *run)
{
    assert_ok(inmem_put(db, run, LIT("memory"), LIT("likes aisle seats"), NULL));
    assert_ok(inmem_event_append_db(db, run, "history", "msg", LIT("hello"), NULL));
    assert_ok(inmem_state_set_db(db, run, "phase", LIT("search"), NULL));
    inmem_span span;
    memset(&span, 0, sizeof span);
    span.kind = INMEM_TRACE_THOUGHT;
    strcpy(span.name, "think");
    span.confidence = NAN;
    assert_ok(inmem_trace_record_db(db, run, &span, NULL));
}

static int run_has_data(inmem_db *db, const inmem_run_id *run)
{
    int found = 0;
    if (inmem_get(db, run, LIT("memory"), NULL, NULL, NULL) == 0)
        found++;
    inmem_stream_info si;
    assert_ok(inmem_event_stream_info_db(db, run, "history", &si));
    found += si.length > 0;
    found += inmem_state_get_db(db, run, "phase", NULL, NULL, NULL) == 0;
    found += count_spans(db, run) > 0;
    return found;
}

static void run_delete_erases_every_primitive_of_the_run_only(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem_run_options o;
    inmem_run_options_init(&o);
    inmem_run_id a, b;
    assert_ok(inmem_run_begin_db(db, &o, &a));
    assert_ok(inmem_run_begin_db(db, &o, &b));
    fill_run(db, &a);
    fill_run(db, &b);
    fill_run(db, NULL); /* the shared scope */
    assert_int_equal(run_has_data(db, &a), 4);
    assert_ok(inmem_run_delete_db(db, &a));
    assert_int_equal(run_has_data(db, &a), 0);
    assert_int_equal(run_has_data(db, &b), 4);
    assert_int_equal(run_has_data(db, NULL), 4);
    inmem_run_info info;
    assert_rc(INMEM_NOTFOUND, inmem_run_get_db(db, &a, &info));
    assert_ok(inmem_run_get_db(db, &b, &info));
    assert_ok(inmem_db_close(db));
}

static void every_primitive_persists_across_reopen(void **state)
{
    (void)state;
    char dir[64];
    test_tmpdir(dir);
    inmem_db *db;
    assert_ok(inmem_db_open(dir, NULL, &db));
    inmem_run_options o;
    inmem_run_options_init(&o);
    const char *tags[] = {"demo"};
    o.tags = tags;
    o.ntags = 1;
    o.tenant = "acme";
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, &o, &run));
    fill_run(db, &run);
    assert_ok(inmem_run_end_db(db, &run, INMEM_RUN_COMPLETED));
    uint64_t head;
    inmem_stream_info si;
    assert_ok(inmem_event_stream_info_db(db, &run, "history", &si));
    head = si.head_hash;
    assert_ok(inmem_db_close(db));

    assert_ok(inmem_db_open(dir, NULL, &db));
    assert_int_equal(run_has_data(db, &run), 4);
    assert_ok(inmem_event_stream_info_db(db, &run, "history", &si));
    assert_true(si.head_hash == head);
    uint64_t broken = 99;
    assert_ok(inmem_event_verify_db(db, &run, "history", &broken));
    assert_int_equal(broken, 0);
    inmem_run_info info;
    assert_ok(inmem_run_get_db(db, &run, &info));
    assert_int_equal(info.status, INMEM_RUN_COMPLETED);
    assert_string_equal(info.tenant, "acme");
    assert_int_equal(info.ntags, 1);
    assert_string_equal(info.tags[0], "demo");
    inmem_run_filter f = {.tag = "demo"};
    inmem_run_id ids[4];
    size_t n;
    assert_ok(inmem_run_list_db(db, &f, NULL, 4, ids, &n));
    assert_int_equal(n, 1);
    assert_memory_equal(ids[0].bytes, run.bytes, 16);
    assert_ok(inmem_db_close(db));
    test_rmdir(dir);
}

const struct CMUnitTest cross_tests[] = {
    cmocka_unit_test(cross_primitive_transaction_commits_all_four),
    cmocka_unit_test(cross_primitive_transaction_with_failed_cas_leaves_none),
    cmocka_unit_test(run_delete_erases_every_primitive_of_the_run_only),
    cmocka_unit_test(every_primitive_persists_across_reopen),
};
INMEM_TEST_COUNT(cross);
