/*
 * test_gc.c — the collection protocol between snapshots and the GC (store_gc, gc_kick,
 * inmem__snapshot_pin/unpin, inmem__store_unlock in src/txn/store.c) and the history queue's
 * entries against the nodes they name (src/storage/index.c). Each failed before its fix (found
 * in review); the history-queue one as a use after free under SAN=address or SAN=thread.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "engine/db.h"
#include "txn/txn_int.h"

#define CHECK_HWM(cond, hwm)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg("slot_hwm is %u with at most 5 handles open at once, above the engine's %d",  \
                     (unsigned)(hwm), INMEM__ENGINE_SLOTS);                                        \
    } while (0)

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)
#define CHECK_VAL(v, vl, want, i)                                                                  \
    CHECK((vl) == strlen(want) && memcmp((v), (want), (vl)) == 0, "run %d reads '%.*s', not '%s'", \
          (i), (int)(vl), (const char *)(v), (want))

static uint64_t retained(inmem_db *db)
{
    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    return s.retained_versions;
}

/* A thread in inmem__txn_begin_newest() (the checkpointer's begin): its callback runs under the
 * commit lock, like every committer's apply; the test holds it there until told to go on. */
struct holder {
    inmem__store *st;
    atomic_int locked, release;
    inmem_txn *t;
};

static int hold_cb(void *ctx, uint64_t version)
{
    (void)version;
    struct holder *h = ctx;
    atomic_store(&h->locked, 1);
    while (!atomic_load(&h->release))
        usleep(100);
    return 0;
}

static void *hold_commit_lock(void *p)
{
    struct holder *h = p;
    uint64_t v;
    assert_ok(inmem__txn_begin_newest(h->st, hold_cb, h, 0, &h->t, &v));
    return NULL;
}

/* A backlog: "k" overwritten @p n times while the returned snapshot holds its first version. */
static inmem_txn *begin_backlog(inmem_db *db, int n, const char *val)
{
    assert_ok(inmem_put(db, NULL, "k", 1, "v0", 2, NULL));
    inmem_txn *old = test_begin(db);
    assert_rc(INMEM_NOTFOUND, inmem_kv_get(old, NULL, "x", 1, NULL, NULL, NULL));
    for (int i = 0; i < n; i++)
        assert_ok(inmem_put(db, NULL, "k", 1, val, strlen(val), NULL));
    return old;
}

/* Ends snapshot @p old while @p h's thread holds the commit lock (its kick finds it taken:
 * gc_missed), then lets the holder unlock, which collects. */
static void end_while_the_lock_is_held(inmem_txn *old, struct holder *h)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, hold_commit_lock, h), 0);
    while (!atomic_load(&h->locked))
        usleep(100);
    inmem_txn_free(old);
    atomic_store(&h->release, 1);
    pthread_join(th, NULL);
}

/* The oldest snapshot ends while another thread holds the commit lock (a committer, or here the
 * checkpointer's begin): its kick finds the lock taken and leaves gc_missed set, and the holder
 * collects when it unlocks (inmem__store_unlock), so even an idle database frees what that
 * snapshot held. */
static void gc_snapshot_end_during_a_commit_is_collected_after_it(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem__store *st = db->store;
    inmem_txn *old = begin_backlog(db, 300, "v1");
    assert_true(retained(db) >= 290); /* `old` holds them */

    struct holder h = {.st = st};
    end_while_the_lock_is_held(old, &h); /* the holder unlocks, and nothing else */
    usleep(200 * 1000);                  /* an idle database: no commit, no snapshot ends */

    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    /* the holder's handle (the engine's own: not counted in open_txns) is at the newest
     * version: it holds nothing */
    assert_int_equal(s.open_txns, 0);
    if (s.retained_versions > 1)
        fprintf(stderr,
                "retained after the end of the old snapshot + 200 ms idle: %llu (gc_missed %d)\n",
                (unsigned long long)s.retained_versions, atomic_load(&st->gc_missed));
    int ok =
        s.retained_versions <= 1; /* as ending_the_oldest_snapshot_collects_on_an_idle_database */
    inmem__txn_free(h.t);
    assert_true(ok);
    assert_ok(inmem_db_close(db));
}

/* After a collection unlinks a deleted key (or retires a hash array), what it retired can only
 * be freed after the next commit (its tag is the newest version): no snapshot's end can help, so
 * a database that only reads must not run a collection at every snapshot's end (it halved
 * read-only throughput after a single delete). */
static void gc_after_a_delete_reads_do_not_each_run_a_collection(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem__store *st = db->store;
    assert_ok(inmem_put(db, NULL, "gone", 4, "v", 1, NULL));
    assert_ok(inmem_delete(db, NULL, "gone", 4, NULL));
    for (int i = 0; i < 6; i++) /* the 8th commit collects: it unlinks "gone" */
        assert_ok(inmem_put(db, NULL, "k", 1, "v", 1, NULL));
    int collections = 0;
    for (int i = 0; i < 1000; i++) {
        inmem__mutex_lock(&st->commit_mu);
        st->since_gc = 5; /* store_gc() sets it to 0: a marker */
        inmem__mutex_unlock(&st->commit_mu);
        inmem_txn *t = test_begin(db);
        assert_ok(inmem_kv_get(t, NULL, "k", 1, NULL, NULL, NULL));
        assert_ok(inmem_txn_commit(t));
        inmem_txn_free(t);
        inmem__mutex_lock(&st->commit_mu);
        collections += st->since_gc == 0;
        inmem__mutex_unlock(&st->commit_mu);
    }
    if (collections >= 10)
        fprintf(stderr, "gc_pending %d; read-only transactions that ran a collection: %d of 1000\n",
                atomic_load(&st->gc_pending), collections);
    assert_true(collections < 10);
    assert_ok(inmem_db_close(db));
}

/* inmem__snapshot_pin() stores the `visible` it loaded, then re-reads `visible` and, if it
 * moved, stores the newer value: between the two stores the slot advertises an older snapshot,
 * for as long as the thread is preempted there, and collections in that time keep what it could
 * see. The end of that snapshot must kick a collection for what the older advertisement held
 * (t->pin_low), not judge by the newer value alone (this made
 * concurrency_memory_bounded_under_endless_overwrites fail about once in fifty runs: 9,900
 * versions retained with no snapshot open). The two stores are made here by pinning twice, with
 * the commits in between. */
static void gc_a_snapshot_whose_pin_retried_kicks_at_its_end(void **state)
{
    (void)state;
    inmem_db *db = test_open_mem();
    inmem__store *st = db->store;
    assert_ok(inmem_put(db, NULL, "k", 1, "v0", 2, NULL));
    inmem_txn *t = test_begin(db); /* the pin loop's first store: the slot holds visible = 1 */
    for (int i = 0; i < 300; i++)  /* ... preempted: commits and their collections see 1 */
        assert_ok(inmem_put(db, NULL, "k", 1, "v1", 2, NULL));
    assert_true(retained(db) >= 290);
    assert_int_equal(atomic_load(&st->gc_floor), 1);
    inmem__snapshot_pin(t); /* the loop's re-check: visible moved, store the new value */
    assert_int_equal(t->pinned, 301);
    inmem_txn_free(t); /* pinned 301 > gc_floor 1: no kick */
    usleep(100 * 1000);
    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    assert_int_equal(s.open_txns, 0);
    if (s.retained_versions > 1)
        fprintf(stderr, "retained with no snapshot open, idle: %llu (gc_floor %llu)\n",
                (unsigned long long)s.retained_versions,
                (unsigned long long)atomic_load(&st->gc_floor));
    assert_true(s.retained_versions <= 1);
    assert_ok(inmem_db_close(db));
}

/* The collector scans the reader slots up to the highest one ever used (slot_hwm) at every
 * collection. Threads take the lowest free slot and keep it, so with a few threads the scan stays
 * a few slots long (threads once started at a random slot: one thread made it ~max_txns long,
 * 6 % of a put's time), past the engine's own few at the bottom. */
struct slot_user {
    inmem_db *db;
    int id;
    int failed;
};

static void *slot_user_main(void *arg)
{
    struct slot_user *u = arg;
    char key[16];
    snprintf(key, sizeof key, "t%d", u->id);
    for (int i = 0; i < 200 && !u->failed; i++) {
        inmem_txn *t;
        if (inmem_txn_begin(u->db, &t) || inmem_kv_put(t, NULL, key, strlen(key), "v", 1) ||
            inmem_txn_commit(t))
            u->failed = 1;
        inmem_txn_free(t);
    }
    return NULL;
}

static void gc_reader_slots_in_use_stay_packed_at_the_bottom(void **state)
{
    (void)state;
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.max_txns = 256;
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(NULL, &o, &db));
    inmem__store *st = db->store;
    enum { T = 4 };
    pthread_t th[T];
    struct slot_user u[T];
    for (int i = 0; i < T; i++) {
        u[i] = (struct slot_user){db, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, slot_user_main, &u[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_false(u[i].failed);
    }
    for (int i = 0; i < 100; i++) /* and this thread */
        assert_ok(inmem_put(db, NULL, "main", 4, "v", 1, NULL));
    uint32_t hwm = atomic_load(&st->slot_hwm);
    CHECK_HWM(hwm <= INMEM__ENGINE_SLOTS + T + 1, hwm);
    assert_ok(inmem_db_close(db));
}

/* The history queue (hq) against its nodes. A key whose history a short window keeps is queued in
 * hq at its head version; the entry waits until the lowest floor of every scope passes it. The
 * key's own floor moves faster (its run's window is shorter than the database's), so a delete of
 * it becomes collectable while its entry still waits: the GC must not unlink (and later free) a
 * node that an entry names (hq_refs), or the entry's visit reads freed memory
 * (heap-use-after-free under SAN=address). */
static void gc_history_queue_entries_never_outlive_their_node(void **state)
{
    (void)state;
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.history_ms = 1500; /* the database's window: min_floor lags 1.5 s behind */
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(NULL, &o, &db));
    inmem_run_options ro;
    inmem_run_options_init(&ro);
    ro.history = 1;
    ro.history_ms = 20; /* the run's own: its keys' floors move 20 ms behind */
    inmem_run_id run;
    assert_ok(inmem_run_begin_db(db, &ro, &run));
    assert_ok(inmem_put(db, &run, "k", 1, "v1", 2, NULL));
    assert_ok(inmem_put(db, &run, "k", 1, "v2", 2, NULL));
    for (int i = 0; i < 16; i++) /* collections: k keeps v1 for 20 ms: queued in hq */
        assert_ok(inmem_put(db, NULL, "x", 1, "x", 1, NULL));
    assert_ok(inmem_delete(db, &run, "k", 1, NULL));
    usleep(100 * 1000);          /* the run's window passes the delete */
    for (int i = 0; i < 32; i++) /* k is unlinked, then freed; its hq entry waits */
        assert_ok(inmem_put(db, NULL, "x", 1, "x", 1, NULL));
    usleep(1600 * 1000);         /* the database's window passes k's hq entry */
    for (int i = 0; i < 32; i++) /* a collection visits it */
        assert_ok(inmem_put(db, NULL, "x", 1, "x", 1, NULL));
    assert_ok(inmem_db_close(db));
}

/* A committer that finds a long snapshot's backlog (here: at its unlock, after the snapshot's
 * end missed the lock it held) frees a bounded part of it and leaves the rest in gc_missed, for
 * the next unlock or snapshot's end: freeing 200,000 versions there paused that commit for
 * 0.1-0.4 s (inmem_bench --pauses). The next snapshot's end frees the rest. */
static void gc_a_committer_leaves_most_of_a_long_backlog_to_later(void **state)
{
    (void)state;
    enum { BACKLOG = 200000 };
    inmem_db *db = test_open_mem();
    inmem__store *st = db->store;
    inmem_txn *old = begin_backlog(db, BACKLOG, "v1");
    assert_true(retained(db) >= BACKLOG);

    struct holder h = {.st = st};
    end_while_the_lock_is_held(old, &h); /* the holder's unlock collects a few slices */
    uint64_t left = retained(db);
    int missed = atomic_load(&st->gc_missed);
    inmem__txn_free(h.t);
    /* GC_COMMITTER_SLICES slices of a few hundred versions each, not 100,000 */
    if (left < BACKLOG / 2 || !missed)
        fail_msg("the committer freed down to %llu versions (gc_missed %d)",
                 (unsigned long long)left, missed);
    inmem_txn *t = test_begin(db); /* a snapshot's end: gc_missed makes it drain the rest */
    inmem_txn_free(t);
    assert_true(retained(db) <= 1);
    assert_ok(inmem_db_close(db));
}

/* A snapshot's end drains the backlog it held back, freeing the cut-off versions without the
 * commit lock and counting them for the next collection to subtract from the writer's gauges
 * (its own next slice, or the next commit's): the stats are exact at once, and after that
 * collection too, with nothing left pending. */
static void gc_versions_freed_without_the_lock_leave_the_gauges_exact(void **state)
{
    (void)state;
    enum { BACKLOG = 50000 };
    inmem_db *db = test_open_mem();
    inmem__store *st = db->store;
    assert_ok(inmem_put(db, NULL, "other", 5, "x", 1, NULL));
    inmem_txn *old = begin_backlog(db, BACKLOG, "v1234");
    inmem_stats s;
    assert_ok(inmem_db_stats(db, &s));
    assert_true(s.retained_versions >= BACKLOG);
    assert_true(s.history_bytes >= 5ull * (BACKLOG - 8));
    inmem_txn_free(old); /* frees the chain without the lock; counted for the next collection */
    assert_ok(inmem_db_stats(db, &s));
    assert_int_equal(s.retained_versions, 0);
    assert_int_equal(s.history_bytes, 0);
    for (int i = 0; i < 8; i++) /* a collection: the pending counts are subtracted */
        assert_ok(inmem_put(db, NULL, "other", 5, "y", 1, NULL));
    assert_int_equal(atomic_load(&st->gc_freed_versions), 0);
    assert_int_equal(atomic_load(&st->gc_freed_bytes), 0);
    assert_ok(inmem_db_stats(db, &s));
    assert_true(s.retained_versions <= 1);
    assert_true(s.history_bytes <= 1);
    assert_ok(inmem_db_close(db));
}

/* Every live fork of @p fork (the odd ones: the even ones were deleted) reads its parent's "k"
 * as it was at the fork, and the parent reads it as written after, once collections have run. */
static void expect_fork_views(inmem_db *db, const inmem_run_id *parent, const inmem_run_id *fork,
                              int n)
{
    for (int i = 0; i < 16; i++) /* collections */
        assert_ok(inmem_put(db, NULL, "churn", 5, "x", 1, NULL));
    char want[32];
    const void *v;
    size_t vl;
    inmem_txn *t = test_begin(db);
    for (int i = 0; i < n; i++) {
        snprintf(want, sizeof want, "after %d", i);
        assert_ok(inmem_kv_get(t, &parent[i], "k", 1, &v, &vl, NULL));
        CHECK_VAL(v, vl, want, i);
        if (i % 2 == 0)
            continue;
        snprintf(want, sizeof want, "before %d", i);
        int rc = inmem_kv_get(t, &fork[i], "k", 1, &v, &vl, NULL);
        CHECK(rc == 0, "fork %d: %s (%s)", i, inmem_errname(rc), inmem_errmsg());
        CHECK_VAL(v, vl, want, i);
    }
    inmem_txn_free(t);
}

/* Runs parent[first..first + n), each written, forked, written again; then deletes every other
 * fork (the even ones). */
static void make_forks(inmem_db *db, inmem_run_id *parent, inmem_run_id *fork, int first, int n)
{
    char val[32];
    for (int i = first; i < first + n; i++) {
        assert_ok(inmem_run_begin_db(db, NULL, &parent[i]));
        snprintf(val, sizeof val, "before %d", i);
        assert_ok(inmem_put(db, &parent[i], "k", 1, val, strlen(val), NULL));
        assert_ok(inmem_run_fork_db(db, &parent[i], 0, NULL, &fork[i]));
        snprintf(val, sizeof val, "after %d", i);
        assert_ok(inmem_put(db, &parent[i], "k", 1, val, strlen(val), NULL));
    }
    for (int i = first + first % 2; i < first + n; i += 2)
        assert_ok(inmem_run_delete_db(db, &fork[i]));
}

static uint64_t floor_steps(inmem_db *db)
{
    inmem__mutex_lock(&db->store->commit_mu);
    uint64_t steps = db->store->floor_steps;
    inmem__mutex_unlock(&db->store->commit_mu);
    return steps;
}

/* What the GC keeps of a parent for its live forks (their fork floors, history.c) costs
 * O(log N) a change with N forks, to make them, to delete them and to replay the log at a
 * reopen — the log's prescan (a hint for each fork record further on) included. It cost O(N)
 * a change: every fork record recomputed every run's floor, 5 s to reopen a log of 8,000 forks
 * made and deleted, and 13 s to delete them. Measured in the steps taken keeping the floors
 * (2,000 forks made, half deleted: about 3,000 now, 54 million before); every live fork still
 * reads its parent as it was at the fork, in memory and after the reopen. */
static void gc_fork_floors_cost_log_n_a_fork_made_deleted_or_replayed(void **state)
{
    (void)state;
    enum { N = 2000, LOG2_N = 11 };
    const uint64_t bound = 32ull * N * LOG2_N;
    char dir[64];
    test_tmpdir(dir);
    inmem_options o;
    inmem_options_init(&o);
    o.checkpoint_log_ratio = 0;
    o.checkpoint_on_close = 0; /* the reopen replays every fork record */
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(dir, &o, &db));
    inmem_run_id *parent = calloc(N, sizeof(*parent)), *fork = calloc(N, sizeof(*fork));
    assert_true(parent && fork);
    make_forks(db, parent, fork, 0, N);
    uint64_t steps = floor_steps(db);
    CHECK(steps < bound, "%llu steps keeping the floors of %d forks made, half deleted",
          (unsigned long long)steps, N);
    expect_fork_views(db, parent, fork, N);
    assert_ok(inmem_db_close(db));
    assert_ok(inmem_db_open(dir, &o, &db));
    steps = floor_steps(db);
    CHECK(steps < bound, "%llu steps keeping the floors while %d fork records replayed",
          (unsigned long long)steps, N);
    expect_fork_views(db, parent, fork, N);
    assert_ok(inmem_db_close(db));
    free(parent);
    free(fork);
    test_rmdir(dir);
}

/* The fork floors kept step by step are those a recomputation gives (the builds with assertions
 * check it after every change, with few runs): forks of forks, at past versions, deleted while a
 * snapshot holds them, forked again under the same id, the parents written meanwhile; and no
 * read of a live run hits a version freed under it (INMEM_EHISTORY), before and after a reopen
 * from the log. */
static void gc_fork_floors_stay_exact_through_random_forks_and_deletes(void **state)
{
    (void)state;
    enum { IDS = 10, OPS = 1500 };
    char dir[64];
    test_tmpdir(dir);
    inmem_options o;
    inmem_options_init(&o);
    o.checkpoint_log_ratio = 0;
    o.checkpoint_on_close = 0;
    inmem_db *db = NULL;
    assert_ok(inmem_db_open(dir, &o, &db));
    inmem_run_id id[IDS];
    for (int i = 0; i < IDS; i++) {
        memset(&id[i], 0, sizeof id[i]);
        id[i].bytes[15] = (uint8_t)(i + 1);
    }
    unsigned seed = 25;
    inmem_txn *held = NULL;
    for (int op = 0; op < OPS; op++) {
        int a = (int)(rand_r(&seed) % IDS), b = (int)(rand_r(&seed) % IDS);
        unsigned what = (unsigned)rand_r(&seed) % 10;
        int rc = 0;
        if (what < 3) { /* begin a run, or fork one (at the newest version or before) */
            inmem_run_options ro;
            inmem_run_options_init(&ro);
            ro.id = &id[a];
            inmem_run_id out;
            uint64_t now = test_stats(db).version;
            uint64_t at = what == 2 && now > 4 ? now - (uint64_t)(rand_r(&seed) % 4) : 0;
            rc = what == 0 ? inmem_run_begin_db(db, &ro, &out)
                           : inmem_run_fork_db(db, &id[b], at, &ro, &out);
            CHECK(rc == 0 || rc == INMEM_EINVAL || rc == INMEM_NOTFOUND || rc == INMEM_EHISTORY,
                  "op %d: %s", op, inmem_errname(rc));
        } else if (what < 5) {
            rc = inmem_run_delete_db(db, &id[a]);
            CHECK(rc == 0 || rc == INMEM_NOTFOUND || rc == INMEM_EMISUSE, "op %d: %s", op,
                  inmem_errname(rc));
        } else if (what < 9) {
            char val[16];
            snprintf(val, sizeof val, "v%d", op);
            assert_ok(inmem_put(db, &id[a], "k", 1, val, strlen(val), NULL));
        } else if (held) {
            inmem_txn_free(held);
            held = NULL;
        } else {
            held = test_begin(db);
        }
    }
    inmem_txn_free(held);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 16; i++)
            assert_ok(inmem_put(db, NULL, "churn", 5, "x", 1, NULL));
        inmem_txn *t = test_begin(db);
        for (int i = 0; i < IDS; i++) {
            const void *v;
            size_t vl;
            int rc = inmem_kv_get(t, &id[i], "k", 1, &v, &vl, NULL);
            CHECK(rc == 0 || rc == INMEM_NOTFOUND, "round %d, run %d: %s (%s)", round, i,
                  inmem_errname(rc), inmem_errmsg());
        }
        inmem_txn_free(t);
        assert_ok(inmem_db_close(db));
        if (round == 0)
            assert_ok(inmem_db_open(dir, &o, &db));
    }
    test_rmdir(dir);
}

/* A fork whose commit runs out of memory at any allocation either fails with INMEM_ENOMEM,
 * having done nothing, or is committed with all it takes for the GC to keep what it reads: it
 * used to commit without the fork's cache entry when that one failed (after the log had it), and
 * the parent's versions it reads were freed (INMEM_EHISTORY). An allocation for the fork floors'
 * heaps that fails turns the store to recomputing every floor at each change, as it used to. A
 * reopen that runs out of memory likewise fails or reads every fork as it should. */
/* The files of a directory, kept in memory, so that it can be put back as it was. */
#define SAVED_MAX 16
struct saved_dir {
    int n;
    char name[SAVED_MAX][64];
    uint8_t *data[SAVED_MAX];
    size_t len[SAVED_MAX];
};

static void dir_save(const char *dir, struct saved_dir *s)
{
    s->n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        assert_true(s->n < SAVED_MAX && strlen(e->d_name) < sizeof s->name[0]);
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
        assert_non_null(b);
        assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
        fclose(f);
        memcpy(s->name[s->n], e->d_name, strlen(e->d_name) + 1); /* (length checked above) */
        s->data[s->n] = b;
        s->len[s->n++] = (size_t)len;
    }
    closedir(d);
}

/* Puts the directory back as dir_save() found it: its files rewritten, any other removed. */
static void dir_restore(const char *dir, const struct saved_dir *s)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char path[600];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        int kept = e->d_name[0] == '.';
        for (int i = 0; i < s->n && !kept; i++)
            kept = strcmp(e->d_name, s->name[i]) == 0;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!kept)
            assert_int_equal(unlink(path), 0);
    }
    closedir(d);
    for (int i = 0; i < s->n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, s->name[i]);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(s->data[i], 1, s->len[i], f), s->len[i]);
        fclose(f);
    }
}

static void dir_saved_free(struct saved_dir *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->data[i]);
    s->n = 0;
}

static void gc_a_fork_whose_commit_runs_out_of_memory_keeps_what_it_reads(void **state)
{
    (void)state;
    enum { N = 7 }; /* odd: fork N is one of those kept */
    int fell_back = 0, failed = 1;
    char dir[64], val[32];
    inmem_options o;
    inmem_options_init(&o);
    o.checkpoint_log_ratio = 0;
    o.checkpoint_on_close = 0; /* the reopens replay every fork record */
    inmem_run_id parent[2 * N + 1], fork[2 * N + 1];
    for (long k = 1; failed; k++) {
        test_tmpdir(dir);
        inmem_db *db = NULL;
        assert_ok(inmem_db_open(dir, &o, &db));
        make_forks(db, parent, fork, 0, N);
        assert_ok(inmem_run_begin_db(db, NULL, &parent[N]));
        snprintf(val, sizeof val, "before %d", N);
        assert_ok(inmem_put(db, &parent[N], "k", 1, val, strlen(val), NULL));
        test_alloc_fail(k);
        int rc = inmem_run_fork_db(db, &parent[N], 0, NULL, &fork[N]);
        failed = test_alloc_failed();
        test_alloc_fail(0);
        CHECK(rc == 0 || rc == INMEM_ENOMEM, "allocation %ld failed: %s", k, inmem_errname(rc));
        if (rc) /* nothing was applied: again */
            assert_ok(inmem_run_fork_db(db, &parent[N], 0, NULL, &fork[N]));
        fell_back |= db->store->floors_slow;
        snprintf(val, sizeof val, "after %d", N);
        assert_ok(inmem_put(db, &parent[N], "k", 1, val, strlen(val), NULL));
        make_forks(db, parent, fork, N + 1, N);
        expect_fork_views(db, parent, fork, 2 * N + 1);
        assert_ok(inmem_db_close(db));
        if (failed)
            test_rmdir(dir);
    }
    assert_true(fell_back);
    /* each reopen starts from the same files: one that succeeds writes (expect_fork_views()'s
     * commits), and a log growing with every success could outrun k */
    struct saved_dir saved;
    dir_save(dir, &saved);
    failed = 1;
    for (long k = 1; failed; k++) {
        inmem_db *db = NULL;
        dir_restore(dir, &saved);
        test_alloc_fail(k);
        int rc = inmem_db_open(dir, &o, &db);
        failed = test_alloc_failed();
        test_alloc_fail(0);
        CHECK(rc == 0 || rc == INMEM_ENOMEM, "allocation %ld failed: %s", k, inmem_errname(rc));
        if (rc == 0) {
            expect_fork_views(db, parent, fork, 2 * N + 1);
            assert_ok(inmem_db_close(db));
        }
    }
    dir_saved_free(&saved);
    test_rmdir(dir);
}

const struct CMUnitTest gc_tests[] = {
    cmocka_unit_test(gc_history_queue_entries_never_outlive_their_node),
    cmocka_unit_test(gc_a_snapshot_whose_pin_retried_kicks_at_its_end),
    cmocka_unit_test(gc_snapshot_end_during_a_commit_is_collected_after_it),
    cmocka_unit_test(gc_after_a_delete_reads_do_not_each_run_a_collection),
    cmocka_unit_test(gc_reader_slots_in_use_stay_packed_at_the_bottom),
    cmocka_unit_test(gc_a_committer_leaves_most_of_a_long_backlog_to_later),
    cmocka_unit_test(gc_versions_freed_without_the_lock_leave_the_gauges_exact),
    cmocka_unit_test(gc_fork_floors_cost_log_n_a_fork_made_deleted_or_replayed),
    cmocka_unit_test(gc_fork_floors_stay_exact_through_random_forks_and_deletes),
    cmocka_unit_test(gc_a_fork_whose_commit_runs_out_of_memory_keeps_what_it_reads),
};
INMEM_TEST_COUNT(gc);
