/*
 * test_api_errors.c — the public header's promises, kept: for every function of include/inmem.h,
 * its default call succeeds and every code its @return list names is provoked and asserted.
 * scripts/check-api-errors (run by make test) compares the table at the end of this file with the
 * header's @return lists both ways: a code listed in the header that no row here provokes, or a
 * code a row provokes that the header does not list, fails the build. So header and behaviour
 * cannot drift apart.
 *
 * Each row, FN(function, body, codes...), is one test. The body gets a fresh fixture and the code
 * to provoke (0: the default call, which must return 0); it sets up what that code needs, then
 * makes the one call under test inside CALL(). How codes are provoked:
 *   INMEM_ENOMEM     the failing allocator (test_alloc.c): the case runs again and again with
 *                    allocation 1, 2, 3... of the call failing, until the call returns ENOMEM;
 *                    if the call ever runs through without an allocation failing, it fails.
 *   INMEM_EIO        a strict database whose fdatasync fails inside CALL() (a failing vfs).
 *   INMEM_EREADONLY  a read-only transaction; for standalone calls, a database opened read-only.
 *   INMEM_ETXNLIMIT  max_txns 1, with a transaction held, and the slots the engine keeps for its
 *                    own snapshots too (inmem__txn_begin_own()).
 *   INMEM_ETXNDONE   a committed transaction. INMEM_EMISUSE: a transaction an operation left
 *                    half-done (inmem__txn_settle(), as a primitive failing half-way does).
 *   INMEM_ECORRUPT   a record that does not decode, written under the primitive's key through
 *                    the raw transaction layer (inmem__txn_put()).
 *   INMEM_ETOOBIG    names and keys over the limits, or a database whose max_key_size (1) is too
 *                    small for the primitives' own keys.
 * UNPROVOKED rows name the few pairs no test can provoke in reasonable time, with the reason.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>

#include "tests/wal_util.h"
#include "core/clock.h"
#include "engine/db.h"
#include "txn/txn.h"
#include "txn/txn_int.h"

/* ---- the fixture ---------------------------------------------------------------------------- */

typedef enum fx_kind {
    FX_NONE,         /* nothing open yet */
    FX_MEM,          /* a populated in-memory database */
    FX_EMPTY,        /* an empty in-memory database */
    FX_TINY,         /* an empty in-memory database with max_key_size 1 */
    FX_LIMIT,        /* FX_MEM with max_txns 1, and every slot held (hold_every_slot) */
    FX_SHRUNK,       /* a populated logged database reopened with max_key_size 1 */
    FX_RODB,         /* a populated logged database reopened read-only */
    FX_EIO,          /* a populated strict database whose fsyncs fail inside CALL() */
    FX_LOGGED,       /* a populated logged (batched) database */
    FX_LOGGED_LIMIT, /* FX_LOGGED with max_txns 1, and every slot held */
    FX_HIST,         /* FX_MEM keeping an hour of history */
} fx_kind;

typedef struct fx {
    long fail_alloc; /* ENOMEM cases: CALL() fails this allocation of the call (1: the first) */
    fx_kind kind;
    char dir[64]; /* a temporary directory, or "" */
    inmem_db *db;
    inmem_txn *txns[4 + INMEM__ENGINE_SLOTS];
    size_t ntxns;
    inmem_run_id run;  /* begun, with KV keys k1 k2, stream "s" (2 events), cell "c" = "v1" */
    inmem_run_id span; /* a root span of run, with one child */
} fx;

static atomic_int fsync_fails;
static inmem__vfs failing_vfs;

static int failing_datasync(int fd)
{
    return atomic_load(&fsync_fails) ? -EIO : inmem__vfs_posix.datasync(fd);
}

/* The one call under test: arms the fixture's fault (a failing allocation, failing fsyncs) for
 * the evaluation of @p expr only. Everything a body prepares comes before. */
static void arm(const fx *f)
{
    test_alloc_fail(f->fail_alloc);
    atomic_store(&fsync_fails, f->kind == FX_EIO);
}

static int disarm(int rc)
{
    test_alloc_fail(0);
    atomic_store(&fsync_fails, 0);
    return rc;
}

#define CALL(expr) (arm(f), disarm(expr))

#define RUN (&f->run)

/* A name one byte too long, and a key one byte longer than the default max_key_size (4096). */
static const char LONG_NAME[INMEM_NAME_MAX + 1] =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const uint8_t big[4097];
#define BIG_KEY_LEN sizeof big

static inmem_options options_for(fx_kind kind)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    o.ttl_sweep_interval_ms = 0; /* nothing runs in the background */
    if (kind == FX_TINY)
        o.max_key_size = 1;
    if (kind == FX_LIMIT)
        o.max_txns = 1;
    if (kind == FX_SHRUNK || kind == FX_RODB || kind == FX_EIO || kind == FX_LOGGED ||
        kind == FX_LOGGED_LIMIT) {
        o.durability = kind == FX_EIO ? INMEM_DURABILITY_STRICT : INMEM_DURABILITY_BATCHED;
        o.wal_segment_size = SEG_SIZE;
    }
    if (kind == FX_LOGGED_LIMIT)
        o.max_txns = 1;
    if (kind == FX_HIST)
        o.history_ms = 3600 * 1000;
    return o;
}

static void keep(fx *f, inmem_txn *t)
{
    if (!t)
        return;
    assert_true(f->ntxns < sizeof f->txns / sizeof f->txns[0]);
    f->txns[f->ntxns++] = t;
}

/* Takes every slot of a max_txns = 1 database: the application's one and the engine's own. */
static void hold_every_slot(fx *f)
{
    inmem_txn *t;
    assert_ok(inmem_txn_begin(f->db, &t));
    keep(f, t);
    for (int i = 0; i < INMEM__ENGINE_SLOTS; i++) {
        assert_ok(inmem__txn_begin_own(f->db->store, &t));
        keep(f, t);
    }
}

static void span_init(inmem_span *s, const char *name)
{
    memset(s, 0, sizeof *s);
    s->kind = INMEM_TRACE_TOOL_CALL;
    strcpy(s->name, name);
    s->ntags = 1;
    strcpy(s->tags[0], "t1");
}

/* The data every populated kind holds (see struct fx). */
static void populate(fx *f)
{
    inmem_db *db = f->db;
    const char *tags[] = {"t1"};
    inmem_run_options ro;
    inmem_run_options_init(&ro);
    ro.tags = tags;
    ro.ntags = 1;
    ro.tenant = "acme";
    assert_ok(inmem_run_begin_db(db, &ro, &f->run));
    assert_ok(inmem_put(db, RUN, LIT("k1"), LIT("v1"), NULL));
    assert_ok(inmem_put(db, RUN, LIT("k2"), LIT("v2"), NULL));
    assert_ok(inmem_event_append_db(db, RUN, "s", "ty", LIT("e1"), NULL));
    assert_ok(inmem_event_append_db(db, RUN, "s", "ty", LIT("e2"), NULL));
    assert_ok(inmem_state_set_db(db, RUN, "c", LIT("v1"), NULL));
    inmem_span s;
    span_init(&s, "root");
    assert_ok(inmem_trace_record_db(db, RUN, &s, &f->span));
    span_init(&s, "child");
    s.parent = f->span;
    assert_ok(inmem_trace_record_db(db, RUN, &s, NULL));
    /* a value expired long ago, for the sweeper */
    inmem_txn *t;
    assert_ok(inmem_txn_begin(db, &t));
    assert_ok(inmem_kv_put_expire_at(t, RUN, LIT("old"), LIT("v"), 1));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
}

/* Opens the database of @p kind (once per case). */
static inmem_db *fx_open(fx *f, fx_kind kind)
{
    if (f->kind != FX_NONE) {
        assert_int_equal(f->kind, kind);
        return f->db;
    }
    inmem_options o = options_for(kind);
    if (kind == FX_LOGGED || kind == FX_LOGGED_LIMIT) {
        test_tmpdir(f->dir);
        f->kind = kind;
        assert_ok(inmem_db_open(f->dir, &o, &f->db));
        populate(f);
        if (kind == FX_LOGGED_LIMIT)
            hold_every_slot(f);
        return f->db;
    }
    if (kind == FX_SHRUNK || kind == FX_RODB || kind == FX_EIO) {
        test_tmpdir(f->dir);
        if (kind == FX_EIO) { /* the log takes the vfs in use at open */
            failing_vfs = inmem__vfs_posix;
            failing_vfs.datasync = failing_datasync;
            inmem__vfs_set(&failing_vfs);
        }
        f->kind = kind;
        assert_ok(inmem_db_open(f->dir, &o, &f->db));
        populate(f);
        if (kind != FX_EIO) { /* reopen as asked */
            assert_ok(inmem_db_close(f->db));
            f->db = NULL;
            if (kind == FX_SHRUNK)
                o.max_key_size = 1;
            else
                o.read_only = 1;
            assert_ok(inmem_db_open(f->dir, &o, &f->db));
        }
        return f->db;
    }
    f->kind = kind;
    assert_ok(inmem_db_open(NULL, &o, &f->db));
    if (kind == FX_MEM || kind == FX_LIMIT || kind == FX_HIST)
        populate(f);
    if (kind == FX_LIMIT)
        hold_every_slot(f);
    return f->db;
}

/* For INMEM_ENOMEM: holds a transaction, so that the next one begun gets a handle of its own,
 * whose sets start empty and allocate as they grow. (A handle freed earlier is kept for reuse,
 * sets and all, so that a begin allocates nothing: a read in it may allocate nothing either.) */
static void fresh_handle_next(fx *f, int code)
{
    if (code != INMEM_ENOMEM)
        return;
    inmem_txn *t;
    assert_ok(inmem_txn_begin(f->db, &t));
    keep(f, t);
}

/* The database a standalone call gets for @p code: read-only for INMEM_EREADONLY, failing fsyncs
 * for INMEM_EIO, no transaction left for INMEM_ETXNLIMIT, else populated in memory. */
static inmem_db *fx_db(fx *f, int code)
{
    switch (code) {
    case INMEM_EREADONLY:
        return fx_open(f, FX_RODB);
    case INMEM_EIO:
        return fx_open(f, FX_EIO);
    case INMEM_ETXNLIMIT:
        return fx_open(f, FX_LIMIT);
    default:
        fx_open(f, f->kind == FX_NONE ? FX_MEM : f->kind);
        fresh_handle_next(f, code);
        return f->db;
    }
}

/* Brings @p t into the state @p code needs: committed for INMEM_ETXNDONE, half-done (the second
 * write of an operation failed) for INMEM_EMISUSE. */
static inmem_txn *spoil(inmem_txn *t, int code)
{
    if (code == INMEM_ETXNDONE)
        assert_ok(inmem_txn_commit(t));
    if (code == INMEM_EMISUSE) {
        uint64_t mark = inmem__txn_mark(t);
        assert_ok(inmem_kv_put(t, NULL, LIT("half"), LIT("1")));
        assert_rc(INMEM_ENOMEM, inmem__txn_settle(t, mark, INMEM_ENOMEM));
    }
    return t;
}

/* A transaction on the fixture's database (the populated one if none is open yet), in the state
 * @p code needs: read-only for INMEM_EREADONLY, see spoil() for the others. */
static inmem_txn *fx_txn(fx *f, int code)
{
    inmem_db *db = fx_open(f, f->kind == FX_NONE ? FX_MEM : f->kind);
    fresh_handle_next(f, code);
    inmem_txn *t = NULL;
    if (code == INMEM_EREADONLY)
        assert_ok(inmem_txn_begin_readonly(db, &t));
    else
        assert_ok(inmem_txn_begin(db, &t));
    keep(f, t);
    return spoil(t, code);
}

static void fx_close(fx *f)
{
    for (size_t i = 0; i < f->ntxns; i++)
        inmem_txn_free(f->txns[i]);
    (void)inmem_db_close(f->db); /* INMEM_EIO after a failed fsync: freed all the same */
    if (f->kind == FX_EIO)
        inmem__vfs_set(NULL);
    if (f->dir[0])
        test_rmdir(f->dir);
    memset(f, 0, sizeof *f);
}

/* ---- records that do not decode --------------------------------------------------------------
 * Written under a primitive's key (run · tag · suffix, core/key.h) through the raw transaction
 * layer, which does not encode, as damage would. */

static void plant(fx *f, const inmem_run_id *run, uint8_t tag, const void *suffix, size_t slen,
                  const char *val)
{
    uint8_t k[INMEM__KEY_PREFIX + 64];
    assert_true(slen <= 64);
    inmem__key_prefix(k, run, tag);
    memcpy(k + INMEM__KEY_PREFIX, suffix, slen);
    inmem_txn *t;
    assert_ok(inmem_txn_begin(fx_open(f, f->kind == FX_NONE ? FX_MEM : f->kind), &t));
    assert_ok(inmem__txn_put(t, k, INMEM__KEY_PREFIX + slen, val, strlen(val), 0));
    assert_ok(inmem_txn_commit(t));
    inmem_txn_free(t);
}

/* A run's metadata record (key suffix 'm'), cut to its format byte. */
static void bad_meta(fx *f, const inmem_run_id *run)
{
    plant(f, run, INMEM__TAG_RUN, "m", 1, "\x01");
}

/* An entry of the index of all runs ('a' · ~id) whose value is not the index mark. */
static void bad_run_index(fx *f)
{
    uint8_t s[17] = {'a'};
    plant(f, NULL, INMEM__TAG_RUN, s, sizeof s, "\x07");
}

/* The head of stream "s" of the run (0x01 · name · 0x00), cut to its format byte. */
static void bad_head(fx *f)
{
    plant(f, &f->run, INMEM__TAG_EVENT, "\x01s", 3, "\x01");
}

/* Event 1 of stream "s" (0x02 · name · 0x00 · seq big-endian), cut to its format byte. */
static void bad_event(fx *f)
{
    static const uint8_t s[] = {0x02, 's', 0, 0, 0, 0, 0, 0, 0, 0, 1};
    plant(f, &f->run, INMEM__TAG_EVENT, s, sizeof s, "\x01");
}

/* A stream head key without the NUL that ends a name. */
static void bad_stream_key(fx *f)
{
    plant(f, &f->run, INMEM__TAG_EVENT, "\x01xy", 3, "\x01");
}

/* State cell "c" with an unknown format byte. */
static void bad_cell(fx *f)
{
    plant(f, &f->run, INMEM__TAG_STATE, "c", 1, "\x07v1");
}

/* The root span's record ('s' · id), cut to its format byte. */
static void bad_span(fx *f)
{
    uint8_t s[17] = {'s'};
    memcpy(s + 1, f->span.bytes, 16);
    plant(f, &f->run, INMEM__TAG_TRACE, s, sizeof s, "\x01");
}

static inmem_run_id new_id(void)
{
    inmem_run_id id;
    assert_ok(inmem_run_id_new(&id));
    return id;
}

/* ---- run ids -------------------------------------------------------------------------------- */

static int run_id_new(fx *f, int code)
{
    inmem_run_id id;
    return CALL(inmem_run_id_new(code == INMEM_EINVAL ? NULL : &id));
}

static int run_id_format(fx *f, int code)
{
    inmem_run_id id = {{1, 2, 3}};
    char buf[INMEM_RUN_ID_STRLEN + 1];
    return CALL(inmem_run_id_format(&id, code == INMEM_EINVAL ? NULL : buf));
}

static int run_id_parse(fx *f, int code)
{
    inmem_run_id id;
    const char *s = code == INMEM_EINVAL ? "0190d2c4-1b2a-7c3d-8e4f-0123456789ab-and-more"
                                         : "0190d2c4-1b2a-7c3d-8e4f-0123456789ab";
    return CALL(inmem_run_id_parse(s, &id));
}

/* ---- the database --------------------------------------------------------------------------- */

/* Makes a database with one commit in @p dir, closed. */
static void make_db(const char *dir)
{
    inmem_options o = options_for(FX_RODB);
    o.read_only = 0;
    inmem_db *db;
    assert_ok(inmem_db_open(dir, &o, &db));
    assert_ok(inmem_put(db, NULL, LIT("k"), LIT("v"), NULL));
    assert_ok(inmem_db_close(db));
}

static int db_open(fx *f, int code)
{
    test_tmpdir(f->dir);
    inmem_options o = options_for(FX_RODB);
    o.read_only = 0;
    inmem_db *db = NULL, **out = &db;
    char path[4096];
    size_t len;
    uint8_t *seg;
    switch (code) {
    case INMEM_EINVAL:
        out = NULL;
        break;
    case INMEM_NOTFOUND:
        o.create_if_missing = 0; /* an empty directory holds no database */
        break;
    case INMEM_ELOCKED: /* the first open holds the lock */
        assert_ok(inmem_db_open(f->dir, &o, &f->db));
        break;
    case INMEM_ECORRUPT:
    case INMEM_EVERSION:
        make_db(f->dir);
        seg_path(path, sizeof path, f->dir, 1);
        seg = slurp(path, &len);
        if (code == INMEM_ECORRUPT) {
            memcpy(seg, "NOTMYLOG", 8); /* not an inmem segment header */
        } else {
            /* a newer format, with a header checksum that matches */
            inmem__put32(seg + 8, INMEM__WAL_FORMAT + 1);
            inmem__put32(seg + 36, inmem__crc32c(0, seg, 36));
        }
        spit(path, seg, len);
        free(seg);
        break;
    case INMEM_EIO: /* DIR/LOCK is not a regular file */
        snprintf(path, sizeof path, "%s/LOCK", f->dir);
        assert_int_equal(mkdir(path, 0700), 0);
        break;
    }
    int rc = CALL(inmem_db_open(f->dir, &o, out));
    if (db) {
        assert_null(f->db);
        f->db = db;
    }
    return rc;
}

static int db_close(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    if (code == INMEM_EBUSY)
        fx_txn(f, 0);
    if (code == INMEM_EMISUSE) { /* in a child of fork(): its code comes back as its status */
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(-inmem_db_close(db) & 0xff);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        return -WEXITSTATUS(st); /* the parent's handle stays open (the fixture closes it) */
    }
    int rc = CALL(inmem_db_close(db));
    if (rc != INMEM_EBUSY)
        f->db = NULL; /* freed, even after INMEM_EIO */
    return rc;
}

static int db_recovery(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    inmem_recovery_info r;
    return CALL(inmem_db_recovery(db, code == INMEM_EINVAL ? NULL : &r));
}

static int db_stats(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    inmem_stats s;
    return CALL(inmem_db_stats(db, code == INMEM_EINVAL ? NULL : &s));
}

static int db_sweep(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    uint64_t removed;
    return CALL(inmem_db_sweep(code == INMEM_EINVAL ? NULL : db, &removed));
}

static int db_checkpoint(fx *f, int code)
{
    inmem_db *db;
    switch (code) {
    case INMEM_ENOTSUP: /* durability none: no files */
        db = fx_open(f, FX_MEM);
        break;
    case INMEM_EREADONLY:
        db = fx_open(f, FX_RODB);
        break;
    case INMEM_EIO: /* the switch to a new segment cannot fsync the old one */
        db = fx_open(f, FX_EIO);
        break;
    case INMEM_ETXNLIMIT: /* no slot left for the snapshot it writes from */
        db = fx_open(f, FX_LOGGED_LIMIT);
        break;
    default:
        db = fx_open(f, FX_LOGGED);
        break;
    }
    uint64_t v = 0;
    int rc = CALL(inmem_db_checkpoint(code == INMEM_EINVAL ? NULL : db, &v));
    if (rc == 0)
        assert_true(v > 0);
    return rc;
}

static int db_backup(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    char dir[64], path[128];
    test_tmpdir(dir);
    const char *to = dir;
    if (code == INMEM_EINVAL) {
        to = NULL;
    } else if (code == INMEM_EIO) { /* its parent does not exist */
        snprintf(path, sizeof path, "%s/no/such", dir);
        to = path;
    }
    uint64_t v = 0;
    int rc = CALL(inmem_db_backup(db, to, &v));
    test_rmdir(dir);
    return rc;
}

/* ---- transactions --------------------------------------------------------------------------- */

/* inmem_txn_begin or _readonly; a fresh handle allocates (no spare one in an empty database). */
static int begin_either(fx *f, int code, int readonly)
{
    inmem_db *db = code == INMEM_ENOMEM ? fx_open(f, FX_EMPTY) : fx_db(f, code);
    inmem_txn *t = NULL, **out = code == INMEM_EINVAL ? NULL : &t;
    int rc = CALL(readonly ? inmem_txn_begin_readonly(db, out) : inmem_txn_begin(db, out));
    keep(f, t);
    return rc;
}

static int txn_begin(fx *f, int code)
{
    return begin_either(f, code, 0);
}

static int txn_begin_readonly(fx *f, int code)
{
    return begin_either(f, code, 1);
}

/* ---- history ---- */

/* The database the history calls get: keeping history, except where @p code needs one that
 * does not (INMEM_EHISTORY, after enough commits for the old versions to go). */
static inmem_db *hist_db(fx *f, int code)
{
    if (code == INMEM_ETXNLIMIT)
        return fx_open(f, FX_LIMIT);
    inmem_db *db = fx_open(f, code == INMEM_EHISTORY ? FX_MEM : FX_HIST);
    if (code == INMEM_EHISTORY)
        for (int i = 0; i < 20; i++)
            assert_ok(inmem_put(db, RUN, LIT("churn"), LIT("x"), NULL));
    fresh_handle_next(f, code);
    return db;
}

static int txn_begin_at(fx *f, int code)
{
    inmem_db *db = hist_db(f, code);
    inmem_txn *t = NULL, **out = code == INMEM_EINVAL ? NULL : &t;
    int rc = CALL(inmem_txn_begin_at(db, code == INMEM_EHISTORY ? 1 : 2, out));
    keep(f, t);
    return rc;
}

static int txn_begin_at_time(fx *f, int code)
{
    inmem_db *db = hist_db(f, code);
    inmem_txn *t = NULL, **out = code == INMEM_EINVAL ? NULL : &t;
    int rc = CALL(inmem_txn_begin_at_time(db, inmem__clock_wall_ms(), out));
    keep(f, t);
    return rc;
}

static int db_version_time(fx *f, int code)
{
    inmem_db *db = hist_db(f, code);
    uint64_t t, *out = code == INMEM_EINVAL ? NULL : &t;
    return CALL(inmem_db_version_time(db, 2, out));
}

static int db_time_version(fx *f, int code)
{
    inmem_db *db = hist_db(f, code);
    uint64_t v, *out = code == INMEM_EINVAL ? NULL : &v;
    return CALL(inmem_db_time_version(db, inmem__clock_wall_ms(), out));
}

static int txn_commit(fx *f, int code)
{
    inmem_db *db = code == INMEM_ETOOBIG ? fx_open(f, FX_TINY) : fx_db(f, code);
    inmem_txn *t = fx_txn(f, 0);
    if (code == INMEM_ETOOBIG) /* the metadata fits, an index key does not: half-done */
        assert_rc(INMEM_ETOOBIG, inmem_run_begin(t, NULL, NULL));
    else
        assert_ok(inmem_kv_put(t, RUN, LIT("new"), LIT("v")));
    if (code == INMEM_CONFLICT) { /* a key read changes before the commit */
        assert_ok(inmem_kv_get(t, RUN, LIT("k1"), NULL, NULL, NULL));
        assert_ok(inmem_put(db, RUN, LIT("k1"), LIT("changed"), NULL));
    }
    spoil(t, code);
    if (code == INMEM_ETIMEDOUT) { /* a deadline that passes before the commit */
        assert_ok(inmem_txn_set_timeout(t, 1));
        inmem__clock_sleep_us(1000);
    }
    return CALL(inmem_txn_commit(code == INMEM_EINVAL ? NULL : t));
}

static int txn_set_timeout(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    return CALL(inmem_txn_set_timeout(code == INMEM_EINVAL ? NULL : t, 1000));
}

static int txn_abort(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    return CALL(inmem_txn_abort(code == INMEM_EINVAL ? NULL : t));
}

static int txn_describe(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    inmem_txn_info info;
    return CALL(inmem_txn_describe(t, code == INMEM_EINVAL ? NULL : &info));
}

struct body_arg {
    inmem_db *db;
    const inmem_run_id *run;
    int code;
};

static int transact_body(inmem_txn *t, void *arg)
{
    struct body_arg *a = arg;
    int rc;
    switch (a->code) {
    case INMEM_ERETRIES:
    case INMEM_ETIMEDOUT: /* read k1, change it outside, write: every attempt conflicts */
        if ((rc = inmem_kv_get(t, a->run, LIT("k1"), NULL, NULL, NULL)) != 0 ||
            (rc = inmem_put(a->db, a->run, LIT("k1"), LIT("changed"), NULL)) != 0)
            return rc;
        return inmem_kv_put(t, a->run, LIT("new"), LIT("v"));
    case INMEM_EMISUSE: /* ends its own transaction */
        return inmem_txn_commit(t);
    case INMEM_ETOOBIG: /* fails half-way (an index key does not fit), and ignores it */
        (void)inmem_run_begin(t, NULL, NULL);
        return 0;
    default:
        return inmem_kv_put(t, a->run, LIT("new"), LIT("v"));
    }
}

static int db_transact(fx *f, int code)
{
    inmem_db *db = code == INMEM_ETOOBIG ? fx_open(f, FX_TINY) : fx_db(f, code);
    inmem_retry_options o;
    inmem_retry_options_init(&o);
    if (code == INMEM_ERETRIES)
        o.max_attempts = 1;
    if (code == INMEM_ETIMEDOUT)
        o.timeout_us = 1; /* shorter than any back-off */
    struct body_arg a = {db, RUN, code};
    return CALL(inmem_db_transact(db, &o, code == INMEM_EINVAL ? NULL : transact_body, &a));
}

/* ---- KV in a transaction -------------------------------------------------------------------- */

typedef struct bytes {
    const void *p;
    size_t n;
} bytes;

/* The key a KV call gets: k1 (it exists), one that does not, NULL, or one too long. */
static bytes key_for(int code)
{
    switch (code) {
    case INMEM_NOTFOUND:
        return (bytes){"nope", 4};
    case INMEM_EINVAL:
        return (bytes){NULL, 2};
    case INMEM_ETOOBIG:
        return (bytes){big, BIG_KEY_LEN};
    default:
        return (bytes){"k1", 2};
    }
}

static int kv_get(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    bytes k = key_for(code);
    return CALL(inmem_kv_get(t, RUN, k.p, k.n, NULL, NULL, NULL));
}

static int kv_get_expiry(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    bytes k = key_for(code);
    uint64_t at;
    return CALL(inmem_kv_get_expiry(t, RUN, k.p, k.n, &at));
}

static int kv_history(fx *f, int code)
{
    inmem_version_info out[4];
    size_t n;
    if (code == INMEM_EHISTORY) { /* at a past snapshot, a key of a run erased since */
        inmem_db *db = fx_open(f, FX_HIST);
        inmem_run_id r;
        assert_ok(inmem_run_begin_db(db, NULL, &r));
        uint64_t v;
        assert_ok(inmem_put(db, &r, LIT("k"), LIT("v"), &v));
        assert_ok(inmem_run_delete_db(db, &r));
        inmem_txn *t;
        assert_ok(inmem_txn_begin_at(db, v, &t));
        keep(f, t);
        return CALL(inmem_kv_history(t, &r, LIT("k"), 0, 4, out, &n));
    }
    inmem_txn *t = fx_txn(f, code);
    bytes k = key_for(code);
    static char longkey[300];
    if (code == INMEM_ENOMEM) { /* too long for the key buffer on the stack */
        memset(longkey, 'L', sizeof longkey);
        k = (bytes){longkey, sizeof longkey};
    }
    return CALL(inmem_kv_history(t, RUN, k.p, k.n, 0, 4, out, &n));
}

static int kv_put(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    bytes k = key_for(code);
    return CALL(inmem_kv_put(t, RUN, k.p, k.n, LIT("v")));
}

static int kv_put_ttl(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    bytes k = key_for(code);
    return CALL(inmem_kv_put_ttl(t, RUN, k.p, k.n, LIT("v"), 60000));
}

static int kv_put_expire_at(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    bytes k = key_for(code);
    return CALL(inmem_kv_put_expire_at(t, RUN, k.p, k.n, LIT("v"), 4102444800000ull));
}

static int kv_delete(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    bytes k = key_for(code);
    return CALL(inmem_kv_delete(t, RUN, k.p, k.n));
}

static int kv_cas(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    bytes k = key_for(code);
    return CALL(inmem_kv_cas(t, RUN, k.p, k.n, 0, LIT("v")));
}

static int kv_scan(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    bytes k = key_for(code);
    inmem_iter *it; /* freed with the transaction */
    return CALL(inmem_kv_scan(t, RUN, k.p, k.n, NULL, 0, &it));
}

static int kv_scan_prefix(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    bytes k = key_for(code);
    inmem_iter *it;
    return CALL(inmem_kv_scan_prefix(t, RUN, k.p, k.n, &it));
}

static int iter_next(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code == INMEM_ENOMEM ? code : 0); /* ended or spoiled below */
    inmem_iter *it;
    const char *prefix = code == INMEM_NOTFOUND ? "zz" : "k";
    assert_ok(inmem_kv_scan_prefix(t, RUN, prefix, strlen(prefix), &it));
    spoil(t, code);
    return CALL(inmem_iter_next(code == INMEM_EINVAL ? NULL : it, NULL, NULL, NULL, NULL, NULL));
}

static int kv_list(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    bytes k = code == INMEM_ETOOBIG ? key_for(code) : (bytes){"k", 1};
    inmem_kv_entry out[4];
    size_t n;
    return CALL(inmem_kv_list(t, RUN, k.p, k.n, NULL, 0, 4, out, code == INMEM_EINVAL ? NULL : &n));
}

static int kv_list_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    bytes k = code == INMEM_ETOOBIG ? key_for(code) : (bytes){"k", 1};
    inmem_kv_entry *out = NULL;
    size_t n;
    int rc = CALL(
        inmem_kv_list_db(db, RUN, k.p, k.n, NULL, 0, 4, code == INMEM_EINVAL ? NULL : &out, &n));
    inmem_free(out);
    return rc;
}

static int kv_get_many(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    bytes k = code == INMEM_ETOOBIG ? key_for(code) : (bytes){"k1", 2};
    const void *keys[2] = {"nope", k.p};
    size_t klens[2] = {4, k.n};
    inmem_kv_entry out[2];
    return CALL(inmem_kv_get_many(t, RUN, 2, code == INMEM_EINVAL ? NULL : keys, klens, out));
}

/* ---- implicit operations -------------------------------------------------------------------- */

static int db_get(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    bytes k = key_for(code);
    void *v = NULL;
    int rc = CALL(inmem_get(db, RUN, k.p, k.n, &v, NULL, NULL));
    inmem_free(v);
    return rc;
}

static int db_put(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    bytes k = key_for(code);
    return CALL(inmem_put(db, RUN, k.p, k.n, LIT("v"), NULL));
}

static int db_put_ttl(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    bytes k = key_for(code);
    return CALL(inmem_put_ttl(db, RUN, k.p, k.n, LIT("v"), 60000, NULL));
}

static int db_delete(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    bytes k = key_for(code);
    return CALL(inmem_delete(db, RUN, k.p, k.n, NULL));
}

static int db_cas(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    bytes k = code == INMEM_EINVAL || code == INMEM_ETOOBIG ? key_for(code) : (bytes){"new", 3};
    uint64_t expected = code == INMEM_CONFLICT ? 12345 : 0; /* "new" does not exist */
    return CALL(inmem_cas(db, RUN, k.p, k.n, expected, LIT("v"), NULL));
}

/* ---- runs ----------------------------------------------------------------------------------- */

/* Options for beginning a run: a new id; an existing one (EINVAL); a tag too long (ETOOBIG); an id
 * whose stored metadata does not decode (ECORRUPT). */
static inmem_run_options begin_options(fx *f, int code, inmem_run_id *id, const char **tag)
{
    inmem_run_options o;
    inmem_run_options_init(&o);
    *id = new_id();
    if (code == INMEM_EINVAL)
        o.id = RUN;
    if (code == INMEM_ETOOBIG) {
        *tag = LONG_NAME;
        o.tags = tag;
        o.ntags = 1;
    }
    if (code == INMEM_ECORRUPT) {
        bad_meta(f, id);
        o.id = id;
    }
    return o;
}

static int run_begin(fx *f, int code)
{
    fx_open(f, FX_MEM);
    inmem_run_id id;
    const char *tag;
    inmem_run_options o = begin_options(f, code, &id, &tag);
    inmem_txn *t = fx_txn(f, code);
    return CALL(inmem_run_begin(t, &o, NULL));
}

static int run_begin_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    inmem_run_id id;
    const char *tag;
    inmem_run_options o = begin_options(f, code, &id, &tag);
    return CALL(inmem_run_begin_db(db, &o, NULL));
}

/* The version a fork is made at: the snapshot's (0), or one whose versions went (EHISTORY). */
static uint64_t fork_at(inmem_db *db, int code)
{
    if (code != INMEM_EHISTORY)
        return 0;
    for (int i = 0; i < 20; i++)
        assert_ok(inmem_put(db, NULL, LIT("churn"), LIT("x"), NULL));
    return 1;
}

static int run_fork(fx *f, int code)
{
    inmem_db *db = fx_open(f, FX_MEM);
    inmem_run_id id;
    const char *tag;
    inmem_run_options o = begin_options(f, code, &id, &tag);
    uint64_t at = fork_at(db, code);
    inmem_txn *t = fx_txn(f, code);
    return CALL(inmem_run_fork(t, code == INMEM_EINVAL ? NULL : RUN, at, &o, NULL));
}

static int run_fork_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    inmem_run_id id;
    const char *tag;
    inmem_run_options o = begin_options(f, code, &id, &tag);
    uint64_t at = fork_at(db, code);
    return CALL(inmem_run_fork_db(db, code == INMEM_EINVAL ? NULL : RUN, at, &o, NULL));
}

/* ---- waiting ---- */

static void *close_soon(void *p)
{
    usleep(50000);
    assert_ok(inmem_db_close(p));
    return NULL;
}

static int wait_(fx *f, int code)
{
    inmem_db *db = fx_open(f, FX_MEM);
    static char longkey[300];
    memset(longkey, 'L', sizeof longkey);
    if (code == INMEM_ETOOBIG)
        return CALL(
            inmem_wait(db, RUN, INMEM_PRIM_STATE, LONG_NAME, strlen(LONG_NAME), 0, 0, NULL));
    if (code == INMEM_ENOMEM) /* a key too long for the buffer on the stack */
        return CALL(inmem_wait(db, RUN, INMEM_PRIM_KV, longkey, sizeof longkey, 0, 0, NULL));
    if (code == INMEM_ECLOSED) { /* closed while it waits */
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, close_soon, db), 0);
        int rc = CALL(inmem_wait(db, RUN, INMEM_PRIM_KV, LIT("never"), 0, UINT64_MAX, NULL));
        pthread_join(th, NULL);
        f->db = NULL;
        return rc;
    }
    uint64_t v;
    return CALL(inmem_wait(code == INMEM_EINVAL ? NULL : db, RUN, INMEM_PRIM_KV, LIT("k1"),
                           code == INMEM_ETIMEDOUT ? UINT64_MAX - 1 : 0, 0, &v));
}

static int watch_open(fx *f, int code)
{
    inmem_db *db = fx_open(f, FX_MEM);
    inmem_watch *w = NULL;
    int rc;
    if (code == INMEM_ETOOBIG) {
        rc = CALL(inmem_watch_open(db, RUN, INMEM_PRIM_EVENT, LONG_NAME, strlen(LONG_NAME), 0, &w));
    } else if (code == INMEM_EIO) { /* no descriptor left for the eventfd */
        struct rlimit old, low;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
        int lowest = dup(0);
        assert_true(lowest >= 0);
        close(lowest);
        low = old;
        low.rlim_cur = (rlim_t)lowest;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        rc = CALL(inmem_watch_open(db, RUN, INMEM_PRIM_KV, LIT("k1"), 0, &w));
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    } else {
        rc = CALL(inmem_watch_open(code == INMEM_EINVAL ? NULL : db, RUN, INMEM_PRIM_KV, LIT("k1"),
                                   0, &w));
    }
    inmem_watch_close(w);
    return rc;
}

static int watch_poll(fx *f, int code)
{
    inmem_db *db = fx_open(f, FX_MEM);
    inmem_watch *w;
    assert_ok(
        inmem_watch_open(db, RUN, INMEM_PRIM_KV, LIT("k1"), code == 0 ? 0 : UINT64_MAX - 1, &w));
    if (code == INMEM_ECLOSED) {
        assert_ok(inmem_db_close(db));
        f->db = NULL;
    }
    uint64_t v;
    int rc = CALL(inmem_watch_poll(code == INMEM_EINVAL ? NULL : w, &v));
    inmem_watch_close(w);
    return rc;
}

static int run_replay(fx *f, int code)
{
    inmem_db *db = fx_open(f, code == INMEM_EHISTORY ? FX_MEM : FX_HIST);
    uint64_t after = fork_at(db, code); /* EHISTORY: version 1, long gone */
    fresh_handle_next(f, code);
    inmem_txn *t = fx_txn(f, code);
    inmem_replay *r = NULL;
    int rc = CALL(inmem_run_replay(t, code == INMEM_EINVAL ? NULL : RUN, after, &r));
    inmem_replay_free(r);
    return rc;
}

static int replay_next(fx *f, int code)
{
    fx_open(f, FX_HIST);
    if (code == INMEM_ECORRUPT)
        bad_cell(f);
    inmem_txn *t = fx_txn(f, 0);
    inmem_replay *r;
    inmem_txn_info ti;
    assert_ok(inmem_txn_describe(t, &ti));
    assert_ok(inmem_run_replay(t, RUN, code == INMEM_NOTFOUND ? ti.start_version : 0, &r));
    spoil(t, code);
    uint64_t v, tm;
    const inmem_change *c;
    size_t n;
    int rc = CALL(inmem_replay_next(code == INMEM_EINVAL ? NULL : r, &v, &tm, &c, &n));
    while (code == INMEM_ECORRUPT && rc == 0) /* the damaged cell comes last */
        rc = inmem_replay_next(r, &v, &tm, &c, &n);
    inmem_replay_free(r);
    return rc;
}

static int run_diff(fx *f, int code)
{
    inmem_db *db = code == INMEM_ETXNLIMIT ? fx_open(f, FX_LIMIT)
                                           : fx_open(f, code == INMEM_EHISTORY ? FX_MEM : FX_HIST);
    uint64_t at_a = fork_at(db, code), at_b = 0;
    if (code == INMEM_ECORRUPT || code == INMEM_ENOMEM || code == 0) {
        at_a = test_stats(db).version; /* then the stream's head changes (is damaged) */
        if (code == INMEM_ECORRUPT)
            bad_head(f);
        else
            assert_ok(inmem_put(db, RUN, LIT("k1"), LIT("changed"), NULL));
    }
    inmem_diff *d = NULL;
    int rc = CALL(inmem_run_diff(db, RUN, at_a, code == INMEM_EINVAL ? NULL : RUN, at_b, &d));
    inmem_diff_free(d);
    return rc;
}

static int diff_next(fx *f, int code)
{
    inmem_db *db = fx_open(f, FX_HIST);
    uint64_t at_a = test_stats(db).version;
    if (code != INMEM_NOTFOUND)
        assert_ok(inmem_put(db, RUN, LIT("k1"), LIT("changed"), NULL));
    inmem_diff *d;
    assert_ok(inmem_run_diff(db, RUN, at_a, RUN, 0, &d));
    inmem_diff_entry e;
    int rc = CALL(inmem_diff_next(code == INMEM_EINVAL ? NULL : d, &e));
    inmem_diff_free(d);
    return rc;
}

/* The run a call names: the populated one, one that does not exist (NOTFOUND), or the populated
 * one with its metadata damaged (ECORRUPT). */
static inmem_run_id run_for(fx *f, int code)
{
    if (code == INMEM_NOTFOUND)
        return new_id();
    if (code == INMEM_ECORRUPT)
        bad_meta(f, &f->run);
    return f->run;
}

static int run_end(fx *f, int code)
{
    inmem_db *db = fx_open(f, code == INMEM_ETOOBIG ? FX_SHRUNK : FX_MEM);
    inmem_run_id run = run_for(f, code);
    inmem_run_status to = INMEM_RUN_COMPLETED;
    if (code == INMEM_EINVAL)
        to = INMEM_RUN_ACTIVE; /* never a target */
    if (code == INMEM_EMISUSE)
        assert_ok(inmem_run_end_db(db, &run, INMEM_RUN_FAILED)); /* failed -> completed: no */
    inmem_txn *t = fx_txn(f, code == INMEM_EMISUSE ? 0 : code);
    return CALL(inmem_run_end(t, &run, to));
}

static int run_end_db(fx *f, int code)
{
    inmem_db *db = code == INMEM_ETOOBIG ? fx_open(f, FX_SHRUNK) : fx_db(f, code);
    inmem_run_id run = run_for(f, code);
    inmem_run_status to = INMEM_RUN_COMPLETED;
    if (code == INMEM_EINVAL)
        to = INMEM_RUN_ACTIVE;
    if (code == INMEM_EMISUSE)
        assert_ok(inmem_run_end_db(db, &run, INMEM_RUN_FAILED));
    return CALL(inmem_run_end_db(db, &run, to));
}

static int run_get(fx *f, int code)
{
    fx_open(f, FX_MEM);
    inmem_run_id run = run_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    inmem_run_info info;
    return CALL(inmem_run_get(t, &run, code == INMEM_EINVAL ? NULL : &info));
}

static int run_get_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    inmem_run_id run = run_for(f, code);
    inmem_run_info info;
    return CALL(inmem_run_get_db(db, &run, code == INMEM_EINVAL ? NULL : &info));
}

static inmem_run_filter filter_for(fx *f, int code)
{
    inmem_run_filter flt;
    memset(&flt, 0, sizeof flt);
    if (code == INMEM_ETOOBIG)
        flt.tag = LONG_NAME;
    if (code == INMEM_ECORRUPT)
        bad_run_index(f);
    return flt;
}

static int run_list(fx *f, int code)
{
    fx_open(f, FX_MEM);
    inmem_run_filter flt = filter_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    inmem_run_id ids[8];
    size_t n;
    return CALL(inmem_run_list(t, &flt, NULL, 8, ids, code == INMEM_EINVAL ? NULL : &n));
}

static int run_list_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    inmem_run_filter flt = filter_for(f, code);
    inmem_run_id ids[8];
    size_t n;
    return CALL(inmem_run_list_db(db, &flt, NULL, 8, ids, code == INMEM_EINVAL ? NULL : &n));
}

static int run_delete(fx *f, int code)
{
    fx_open(f, code == INMEM_ETOOBIG ? FX_SHRUNK : FX_MEM);
    inmem_run_id run = run_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    return CALL(inmem_run_delete(t, code == INMEM_EINVAL ? NULL : &run));
}

static int run_delete_db(fx *f, int code)
{
    inmem_db *db = code == INMEM_ETOOBIG ? fx_open(f, FX_SHRUNK) : fx_db(f, code);
    inmem_run_id run = run_for(f, code);
    if (code == INMEM_EMISUSE) /* a run with a live fork */
        assert_ok(inmem_run_fork_db(db, &run, 0, NULL, NULL));
    return CALL(inmem_run_delete_db(db, code == INMEM_EINVAL ? NULL : &run));
}

static int run_list_stored(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    inmem_run_id ids[4];
    size_t n;
    return CALL(inmem_run_list_stored(t, NULL, 4, ids, code == INMEM_EINVAL ? NULL : &n));
}

/* ---- events --------------------------------------------------------------------------------- */

/* The stream a call names: "s", a name too long (ETOOBIG), or "s" with a damaged head. */
static const char *stream_for(fx *f, int code)
{
    if (code == INMEM_ETOOBIG)
        return LONG_NAME;
    if (code == INMEM_ECORRUPT)
        bad_head(f);
    return "s";
}

static int event_append(fx *f, int code)
{
    fx_open(f, FX_MEM);
    const char *stream = stream_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    const char *type = code == INMEM_EINVAL ? NULL : "ty";
    return CALL(inmem_event_append(t, RUN, stream, type, LIT("p"), NULL));
}

static int event_append_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    const char *stream = stream_for(f, code);
    const char *type = code == INMEM_EINVAL ? NULL : "ty";
    return CALL(inmem_event_append_db(db, RUN, stream, type, LIT("p"), NULL));
}

static const inmem_event_in two_events[2] = {{"ty", "p1", 2}, {"ty", "p2", 2}};

static int event_append_batch(fx *f, int code)
{
    fx_open(f, FX_MEM);
    const char *stream = stream_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    const inmem_event_in *ev = code == INMEM_EINVAL ? NULL : two_events;
    return CALL(inmem_event_append_batch(t, RUN, stream, 2, ev, NULL));
}

static int event_append_batch_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    const char *stream = stream_for(f, code);
    const inmem_event_in *ev = code == INMEM_EINVAL ? NULL : two_events;
    return CALL(inmem_event_append_batch_db(db, RUN, stream, 2, ev, NULL));
}

static int event_get(fx *f, int code)
{
    fx_open(f, FX_MEM);
    const char *stream = code == INMEM_ETOOBIG ? LONG_NAME : "s";
    if (code == INMEM_ECORRUPT)
        bad_event(f);
    inmem_txn *t = fx_txn(f, code);
    inmem_event ev;
    uint64_t seq = code == INMEM_NOTFOUND ? 99 : 1;
    return CALL(inmem_event_get(t, RUN, stream, seq, code == INMEM_EINVAL ? NULL : &ev));
}

static int event_range(fx *f, int code)
{
    fx_open(f, FX_MEM);
    const char *stream = stream_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    inmem_event ev[4];
    size_t n;
    return CALL(
        inmem_event_range(t, RUN, stream, 0, 0, 0, 4, ev, code == INMEM_EINVAL ? NULL : &n));
}

static int event_range_time(fx *f, int code)
{
    fx_open(f, FX_MEM);
    const char *stream = stream_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    inmem_event ev[4];
    size_t n;
    return CALL(
        inmem_event_range_time(t, RUN, stream, 0, 0, 4, ev, code == INMEM_EINVAL ? NULL : &n));
}

static int event_stream_info(fx *f, int code)
{
    fx_open(f, FX_MEM);
    const char *stream = stream_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    inmem_stream_info info;
    return CALL(inmem_event_stream_info(t, RUN, stream, code == INMEM_EINVAL ? NULL : &info));
}

static int event_stream_info_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    const char *stream = stream_for(f, code);
    inmem_stream_info info;
    return CALL(inmem_event_stream_info_db(db, RUN, stream, code == INMEM_EINVAL ? NULL : &info));
}

static int event_streams(fx *f, int code)
{
    fx_open(f, FX_MEM);
    if (code == INMEM_ECORRUPT)
        bad_stream_key(f);
    inmem_txn *t = fx_txn(f, code);
    const char *after = code == INMEM_ETOOBIG ? LONG_NAME : NULL;
    char names[4][INMEM_NAME_MAX];
    size_t n;
    return CALL(inmem_event_streams(t, RUN, after, 4, names, code == INMEM_EINVAL ? NULL : &n));
}

static int event_verify(fx *f, int code)
{
    fx_open(f, FX_MEM);
    const char *stream = stream_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    uint64_t broken;
    return CALL(inmem_event_verify(t, RUN, stream, code == INMEM_EINVAL ? NULL : &broken));
}

static int event_verify_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    const char *stream = stream_for(f, code);
    uint64_t broken;
    return CALL(inmem_event_verify_db(db, RUN, stream, code == INMEM_EINVAL ? NULL : &broken));
}

/* ---- state cells ---------------------------------------------------------------------------- */

/* The cell a call names: "c" (= "v1"), one that does not exist, NULL, a name too long, or "c"
 * holding a record that does not decode. */
static const char *cell_for(fx *f, int code)
{
    switch (code) {
    case INMEM_NOTFOUND:
        return "nope";
    case INMEM_EINVAL:
        return NULL;
    case INMEM_ETOOBIG:
        return LONG_NAME;
    case INMEM_ECORRUPT:
        bad_cell(f);
        return "c";
    default:
        return "c";
    }
}

static int state_get(fx *f, int code)
{
    fx_open(f, FX_MEM);
    const char *name = cell_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    const void *v;
    size_t len;
    return CALL(inmem_state_get(t, RUN, name, &v, &len, NULL));
}

static int state_history(fx *f, int code)
{
    if (code == INMEM_EHISTORY) { /* at a past snapshot, a cell of a run erased since */
        inmem_db *db = fx_open(f, FX_HIST);
        inmem_run_id r;
        assert_ok(inmem_run_begin_db(db, NULL, &r));
        uint64_t v;
        assert_ok(inmem_state_set_db(db, &r, "cell", LIT("v"), &v));
        assert_ok(inmem_run_delete_db(db, &r));
        inmem_txn *t;
        assert_ok(inmem_txn_begin_at(db, v, &t));
        keep(f, t);
        inmem_version_info out[4];
        size_t n;
        return CALL(inmem_state_history(t, &r, "cell", 0, 4, out, &n));
    }
    fx_open(f, FX_MEM);
    const char *name = cell_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    inmem_version_info out[4];
    size_t n;
    return CALL(inmem_state_history(t, RUN, name, 0, 4, out, &n));
}

static int state_get_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    const char *name = cell_for(f, code);
    void *v = NULL;
    int rc = CALL(inmem_state_get_db(db, RUN, name, &v, NULL, NULL));
    inmem_free(v);
    return rc;
}

static int state_set(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    return CALL(inmem_state_set(t, RUN, cell_for(f, code), LIT("v2")));
}

static int state_set_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    return CALL(inmem_state_set_db(db, RUN, cell_for(f, code), LIT("v2"), NULL));
}

static int state_cas(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    return CALL(inmem_state_cas(t, RUN, cell_for(f, code), 0, LIT("v2")));
}

static int state_cas_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    /* "c" exists, so expecting version 0 conflicts; "fresh" does not */
    const char *name = code == INMEM_CONFLICT                          ? "c"
                       : code == INMEM_EINVAL || code == INMEM_ETOOBIG ? cell_for(f, code)
                                                                       : "fresh";
    return CALL(inmem_state_cas_db(db, RUN, name, 0, LIT("v2"), NULL));
}

static int state_cas_value(fx *f, int code)
{
    fx_open(f, FX_MEM);
    const char *name = cell_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    const char *expected = code == INMEM_CONFLICT ? "zz" : code == INMEM_EINVAL ? NULL : "v1";
    return CALL(inmem_state_cas_value(t, RUN, name, expected, 2, LIT("v2")));
}

static int state_cas_value_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    const char *name = cell_for(f, code);
    const char *expected = code == INMEM_CONFLICT ? "zz" : code == INMEM_EINVAL ? NULL : "v1";
    return CALL(inmem_state_cas_value_db(db, RUN, name, expected, 2, LIT("v2"), NULL));
}

static int state_list(fx *f, int code)
{
    fx_open(f, FX_MEM);
    if (code == INMEM_ECORRUPT)
        bad_cell(f);
    inmem_txn *t = fx_txn(f, code);
    const char *after = code == INMEM_ETOOBIG ? LONG_NAME : NULL;
    inmem_state_entry out[4];
    size_t n;
    return CALL(inmem_state_list(t, RUN, after, 4, out, code == INMEM_EINVAL ? NULL : &n));
}

static int transition_fn(const void *cur, size_t len, uint64_t version, const void **next,
                         size_t *next_len, void *arg)
{
    const struct body_arg *a = arg;
    (void)cur;
    (void)len;
    (void)version;
    if (a->code == INMEM_ERETRIES || a->code == INMEM_ETIMEDOUT) {
        /* the cell changes under the transition: every attempt conflicts */
        int rc = inmem_state_set_db(a->db, a->run, "c", LIT("changed"), NULL);
        if (rc)
            return rc;
    }
    *next = "next";
    *next_len = 4;
    return 0;
}

static int state_transition(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    const char *name = code == INMEM_EINVAL ? "c" : cell_for(f, code);
    inmem_retry_options o;
    inmem_retry_options_init(&o);
    if (code == INMEM_ERETRIES)
        o.max_attempts = 1;
    if (code == INMEM_ETIMEDOUT)
        o.timeout_us = 1;
    struct body_arg a = {db, RUN, code};
    inmem_state_fn fn = code == INMEM_EINVAL ? NULL : transition_fn;
    return CALL(inmem_state_transition(db, RUN, name, fn, &a, &o, NULL));
}

/* ---- traces --------------------------------------------------------------------------------- */

/* A span to record: valid, of an unknown kind (EINVAL), or named without a NUL (ETOOBIG). */
static inmem_span span_for(int code)
{
    inmem_span s;
    span_init(&s, "rec");
    if (code == INMEM_EINVAL)
        s.kind = (inmem_trace_kind)0;
    if (code == INMEM_ETOOBIG)
        memset(s.name, 'a', sizeof s.name);
    return s;
}

static int trace_record(fx *f, int code)
{
    inmem_txn *t = fx_txn(f, code);
    inmem_span s = span_for(code);
    return CALL(inmem_trace_record(t, RUN, &s, NULL));
}

static int trace_record_db(fx *f, int code)
{
    inmem_db *db = fx_db(f, code);
    inmem_span s = span_for(code);
    return CALL(inmem_trace_record_db(db, RUN, &s, NULL));
}

/* The span a read names: the root (damaged for ECORRUPT), one that does not exist; and the
 * database: one too small for span keys for ETOOBIG. */
static inmem_run_id span_id_for(fx *f, int code)
{
    fx_open(f, code == INMEM_ETOOBIG ? FX_TINY : FX_MEM);
    if (code == INMEM_NOTFOUND)
        return new_id();
    if (code == INMEM_ECORRUPT)
        bad_span(f);
    return f->span;
}

static int trace_get(fx *f, int code)
{
    inmem_run_id id = span_id_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    inmem_span out;
    return CALL(inmem_trace_get(t, RUN, &id, code == INMEM_EINVAL ? NULL : &out));
}

static int trace_query(fx *f, int code)
{
    inmem_run_id id = span_id_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    inmem_trace_filter flt;
    memset(&flt, 0, sizeof flt);
    if (code == INMEM_EINVAL)
        flt.tag = ""; /* an empty tag */
    inmem_span out[4];
    size_t n;
    /* the cursor is the root span: read first, so a damaged or unreadable one shows */
    return CALL(inmem_trace_query(t, RUN, &flt, code ? &id : NULL, 4, out, &n));
}

static int trace_tree(fx *f, int code)
{
    inmem_run_id id = span_id_for(f, code);
    inmem_txn *t = fx_txn(f, code);
    inmem_span out[4];
    size_t n;
    return CALL(inmem_trace_tree(t, RUN, code == INMEM_EINVAL ? NULL : &id, 4, out, &n));
}

/* ---- the table ---------------------------------------------------------------------------------
 * One row per function of inmem.h that returns error codes: the function, its body, and every
 * code its @return list names (scripts/check-api-errors checks that these are the same). */

typedef int (*body_fn)(fx *f, int code);

typedef struct api_fn {
    const char *name;
    body_fn body;
    int codes[16]; /* ends at the first 0 */
} api_fn;

/* clang-format off */
#define API_FUNCTIONS(FN)                                                                          \
    FN(inmem_run_id_new, run_id_new, INMEM_EINVAL)                                                 \
    FN(inmem_run_id_format, run_id_format, INMEM_EINVAL)                                           \
    FN(inmem_run_id_parse, run_id_parse, INMEM_EINVAL)                                             \
    FN(inmem_db_open, db_open, INMEM_EINVAL, INMEM_NOTFOUND, INMEM_ELOCKED, INMEM_ECORRUPT,        \
       INMEM_EVERSION, INMEM_EIO, INMEM_ENOMEM)                                                    \
    FN(inmem_db_close, db_close, INMEM_EBUSY, INMEM_EMISUSE, INMEM_EIO)                                           \
    FN(inmem_db_recovery, db_recovery, INMEM_EINVAL)                                               \
    FN(inmem_db_stats, db_stats, INMEM_EINVAL)                                                     \
    FN(inmem_db_sweep, db_sweep, INMEM_EINVAL, INMEM_ENOMEM)                                       \
    FN(inmem_db_checkpoint, db_checkpoint, INMEM_EINVAL, INMEM_ENOTSUP, INMEM_EREADONLY, INMEM_EIO, \
       INMEM_ENOMEM, INMEM_ETXNLIMIT)                                                              \
    FN(inmem_db_backup, db_backup, INMEM_EINVAL, INMEM_EIO, INMEM_ENOMEM, INMEM_ETXNLIMIT)         \
    FN(inmem_txn_begin, txn_begin, INMEM_EINVAL, INMEM_ETXNLIMIT, INMEM_ENOMEM)                    \
    FN(inmem_txn_begin_readonly, txn_begin_readonly, INMEM_EINVAL, INMEM_ETXNLIMIT, INMEM_ENOMEM)  \
    FN(inmem_txn_begin_at, txn_begin_at, INMEM_EINVAL, INMEM_EHISTORY, INMEM_ETXNLIMIT,             \
       INMEM_ENOMEM)                                                                               \
    FN(inmem_txn_begin_at_time, txn_begin_at_time, INMEM_EINVAL, INMEM_EHISTORY, INMEM_ETXNLIMIT,   \
       INMEM_ENOMEM)                                                                               \
    FN(inmem_db_version_time, db_version_time, INMEM_EINVAL, INMEM_EHISTORY)                       \
    FN(inmem_db_time_version, db_time_version, INMEM_EINVAL, INMEM_EHISTORY)                       \
    FN(inmem_txn_set_timeout, txn_set_timeout, INMEM_EINVAL, INMEM_ETXNDONE)                       \
    FN(inmem_txn_commit, txn_commit, INMEM_CONFLICT, INMEM_ETXNDONE, INMEM_EINVAL,                 \
       INMEM_ETIMEDOUT, INMEM_ENOMEM, INMEM_EREADONLY, INMEM_EIO, INMEM_ETOOBIG)                   \
    FN(inmem_txn_abort, txn_abort, INMEM_ETXNDONE, INMEM_EINVAL)                                   \
    FN(inmem_txn_describe, txn_describe, INMEM_EINVAL)                                             \
    FN(inmem_db_transact, db_transact, INMEM_ERETRIES, INMEM_ETIMEDOUT, INMEM_EINVAL,              \
       INMEM_EMISUSE, INMEM_ETXNLIMIT, INMEM_ENOMEM, INMEM_EREADONLY, INMEM_EIO, INMEM_ETOOBIG)    \
    FN(inmem_wait, wait_, INMEM_ETIMEDOUT, INMEM_ECLOSED, INMEM_EINVAL, INMEM_ETOOBIG,              \
       INMEM_ENOMEM)                                                                               \
    FN(inmem_watch_open, watch_open, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EIO, INMEM_ENOMEM)         \
    FN(inmem_watch_poll, watch_poll, INMEM_NOTFOUND, INMEM_ECLOSED, INMEM_EINVAL)                  \
    FN(inmem_run_diff, run_diff, INMEM_EINVAL, INMEM_EHISTORY, INMEM_ECORRUPT, INMEM_ETXNLIMIT,     \
       INMEM_ENOMEM)                                                                               \
    FN(inmem_diff_next, diff_next, INMEM_NOTFOUND, INMEM_EINVAL)                                   \
    FN(inmem_run_replay, run_replay, INMEM_EINVAL, INMEM_EHISTORY, INMEM_ETXNDONE, INMEM_EMISUSE,   \
       INMEM_ENOMEM)                                                                               \
    FN(inmem_replay_next, replay_next, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ECORRUPT,                \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_kv_history, kv_history, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ETXNDONE, INMEM_EMISUSE,   \
       INMEM_ENOMEM, INMEM_EHISTORY)                                                               \
    FN(inmem_kv_get, kv_get, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ETXNDONE,          \
       INMEM_EMISUSE, INMEM_ENOMEM)                                                                \
    FN(inmem_kv_get_expiry, kv_get_expiry, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ETOOBIG,            \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_kv_put, kv_put, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EREADONLY, INMEM_ETXNDONE,         \
       INMEM_EMISUSE, INMEM_ENOMEM)                                                                \
    FN(inmem_kv_put_ttl, kv_put_ttl, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EREADONLY, INMEM_ETXNDONE, \
       INMEM_EMISUSE, INMEM_ENOMEM)                                                                \
    FN(inmem_kv_put_expire_at, kv_put_expire_at, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EREADONLY,     \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_kv_delete, kv_delete, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EREADONLY, INMEM_ETXNDONE,   \
       INMEM_EMISUSE, INMEM_ENOMEM)                                                                \
    FN(inmem_kv_cas, kv_cas, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EREADONLY, INMEM_ETXNDONE,         \
       INMEM_EMISUSE, INMEM_ENOMEM)                                                                \
    FN(inmem_kv_scan, kv_scan, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ETXNDONE, INMEM_EMISUSE,         \
       INMEM_ENOMEM)                                                                               \
    FN(inmem_kv_scan_prefix, kv_scan_prefix, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ETXNDONE,          \
       INMEM_EMISUSE, INMEM_ENOMEM)                                                                \
    FN(inmem_iter_next, iter_next, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ETXNDONE, INMEM_EMISUSE,    \
       INMEM_ENOMEM)                                                                               \
    FN(inmem_kv_list, kv_list, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ETXNDONE, INMEM_EMISUSE,         \
       INMEM_ENOMEM)                                                                               \
    FN(inmem_kv_list_db, kv_list_db, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ETXNLIMIT, INMEM_ENOMEM)   \
    FN(inmem_kv_get_many, kv_get_many, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ETXNDONE, INMEM_EMISUSE, \
       INMEM_ENOMEM)                                                                               \
    FN(inmem_get, db_get, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ETXNLIMIT, INMEM_ENOMEM) \
    FN(inmem_put, db_put, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EREADONLY, INMEM_EIO, INMEM_ENOMEM)      \
    FN(inmem_put_ttl, db_put_ttl, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EREADONLY, INMEM_EIO,            \
       INMEM_ENOMEM)                                                                               \
    FN(inmem_delete, db_delete, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EREADONLY, INMEM_EIO, INMEM_ENOMEM)\
    FN(inmem_cas, db_cas, INMEM_CONFLICT, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EREADONLY, INMEM_EIO,    \
       INMEM_ENOMEM)                                                                               \
    FN(inmem_run_begin, run_begin, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT, INMEM_EREADONLY,   \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_run_begin_db, run_begin_db, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,              \
       INMEM_ETXNLIMIT, INMEM_EREADONLY, INMEM_EIO, INMEM_ENOMEM)                                  \
    FN(inmem_run_end, run_end, INMEM_EMISUSE, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ECORRUPT,        \
       INMEM_ETOOBIG, INMEM_EREADONLY, INMEM_ETXNDONE, INMEM_ENOMEM)                               \
    FN(inmem_run_end_db, run_end_db, INMEM_EMISUSE, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ECORRUPT,  \
       INMEM_ETOOBIG, INMEM_ETXNLIMIT, INMEM_EREADONLY, INMEM_EIO, INMEM_ENOMEM)                   \
    FN(inmem_run_get, run_get, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ECORRUPT, INMEM_ETXNDONE,       \
       INMEM_EMISUSE, INMEM_ENOMEM)                                                                \
    FN(inmem_run_get_db, run_get_db, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ECORRUPT,                 \
       INMEM_ETXNLIMIT, INMEM_ENOMEM)                                                              \
    FN(inmem_run_list, run_list, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT, INMEM_ETXNDONE,      \
       INMEM_EMISUSE, INMEM_ENOMEM)                                                                \
    FN(inmem_run_list_db, run_list_db, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,                \
       INMEM_ETXNLIMIT, INMEM_ENOMEM)                                                              \
    FN(inmem_run_delete, run_delete, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ECORRUPT, INMEM_ETOOBIG,  \
       INMEM_EREADONLY, INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                               \
    FN(inmem_run_delete_db, run_delete_db, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ECORRUPT,           \
       INMEM_ETOOBIG, INMEM_EMISUSE, INMEM_ETXNLIMIT, INMEM_EREADONLY, INMEM_EIO, INMEM_ENOMEM)    \
    FN(inmem_run_fork, run_fork, INMEM_EINVAL, INMEM_EHISTORY, INMEM_ETOOBIG, INMEM_ECORRUPT,       \
       INMEM_EREADONLY, INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                               \
    FN(inmem_run_fork_db, run_fork_db, INMEM_EINVAL, INMEM_EHISTORY, INMEM_ETOOBIG, INMEM_ECORRUPT, \
       INMEM_ETXNLIMIT, INMEM_EREADONLY, INMEM_EIO, INMEM_ENOMEM)                                  \
    FN(inmem_run_list_stored, run_list_stored, INMEM_EINVAL, INMEM_ETXNDONE, INMEM_EMISUSE,        \
       INMEM_ENOMEM)                                                                               \
    FN(inmem_event_append, event_append, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,              \
       INMEM_EREADONLY, INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                               \
    FN(inmem_event_append_db, event_append_db, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,        \
       INMEM_ETXNLIMIT, INMEM_EREADONLY, INMEM_EIO, INMEM_ENOMEM)                                  \
    FN(inmem_event_append_batch, event_append_batch, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,  \
       INMEM_EREADONLY, INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                               \
    FN(inmem_event_append_batch_db, event_append_batch_db, INMEM_EINVAL, INMEM_ETOOBIG,            \
       INMEM_ECORRUPT, INMEM_ETXNLIMIT, INMEM_EREADONLY, INMEM_EIO, INMEM_ENOMEM)                  \
    FN(inmem_event_get, event_get, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,    \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_event_range, event_range, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,                \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_event_range_time, event_range_time, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,      \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_event_stream_info, event_stream_info, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,    \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_event_stream_info_db, event_stream_info_db, INMEM_EINVAL, INMEM_ETOOBIG,              \
       INMEM_ECORRUPT, INMEM_ETXNLIMIT, INMEM_ENOMEM)                                              \
    FN(inmem_event_streams, event_streams, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,            \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_event_verify, event_verify, INMEM_ECORRUPT, INMEM_EINVAL, INMEM_ETOOBIG,              \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_event_verify_db, event_verify_db, INMEM_ECORRUPT, INMEM_EINVAL, INMEM_ETOOBIG,        \
       INMEM_ETXNLIMIT, INMEM_ENOMEM)                                                              \
    FN(inmem_state_history, state_history, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,            \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_EHISTORY)                                              \
    FN(inmem_state_get, state_get, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,    \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_state_get_db, state_get_db, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ETOOBIG,              \
       INMEM_ECORRUPT, INMEM_ETXNLIMIT, INMEM_ENOMEM)                                              \
    FN(inmem_state_set, state_set, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EREADONLY, INMEM_ETXNDONE,   \
       INMEM_EMISUSE, INMEM_ENOMEM)                                                                \
    FN(inmem_state_set_db, state_set_db, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ETXNLIMIT,             \
       INMEM_EREADONLY, INMEM_EIO, INMEM_ENOMEM)                                                   \
    FN(inmem_state_cas, state_cas, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EREADONLY, INMEM_ETXNDONE,   \
       INMEM_EMISUSE, INMEM_ENOMEM)                                                                \
    FN(inmem_state_cas_db, state_cas_db, INMEM_CONFLICT, INMEM_EINVAL, INMEM_ETOOBIG,              \
       INMEM_ETXNLIMIT, INMEM_EREADONLY, INMEM_EIO, INMEM_ENOMEM)                                  \
    FN(inmem_state_cas_value, state_cas_value, INMEM_CONFLICT, INMEM_EINVAL, INMEM_ETOOBIG,        \
       INMEM_ECORRUPT, INMEM_EREADONLY, INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)               \
    FN(inmem_state_cas_value_db, state_cas_value_db, INMEM_CONFLICT, INMEM_EINVAL, INMEM_ETOOBIG,  \
       INMEM_ECORRUPT, INMEM_ETXNLIMIT, INMEM_EREADONLY, INMEM_EIO, INMEM_ENOMEM)                  \
    FN(inmem_state_list, state_list, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT, INMEM_ETXNDONE,  \
       INMEM_EMISUSE, INMEM_ENOMEM)                                                                \
    FN(inmem_state_transition, state_transition, INMEM_ERETRIES, INMEM_ETIMEDOUT, INMEM_EINVAL,    \
       INMEM_ETOOBIG, INMEM_ECORRUPT, INMEM_ETXNLIMIT, INMEM_EREADONLY, INMEM_EIO, INMEM_ENOMEM)   \
    FN(inmem_trace_record, trace_record, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_EREADONLY,             \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_trace_record_db, trace_record_db, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ETXNLIMIT,       \
       INMEM_EREADONLY, INMEM_EIO, INMEM_ENOMEM)                                                   \
    FN(inmem_trace_get, trace_get, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,    \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_trace_query, trace_query, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,                \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)                                                \
    FN(inmem_trace_tree, trace_tree, INMEM_NOTFOUND, INMEM_EINVAL, INMEM_ETOOBIG, INMEM_ECORRUPT,  \
       INMEM_ETXNDONE, INMEM_EMISUSE, INMEM_ENOMEM)
/* clang-format on */

/* Pairs the header lists that no test here provokes, each with the reason. */
#define UNPROVOKED(fn, code, why)                                                                  \
    {                                                                                              \
#fn, code, why                                                                             \
    }
#define RETRIES_WHY                                                                                \
    "a standalone call gives up only after 10,000 conflicting attempts with back-off (about 15 "   \
    "s); its retry loop is inmem_db_transact()'s, whose INMEM_ERETRIES is provoked"
static const struct unprovoked {
    const char *fn;
    int code;
    const char *why;
} unprovoked[] = {
    UNPROVOKED(inmem_run_begin_db, INMEM_ERETRIES, RETRIES_WHY),
    UNPROVOKED(inmem_run_end_db, INMEM_ERETRIES, RETRIES_WHY),
    UNPROVOKED(inmem_run_delete_db, INMEM_ERETRIES, RETRIES_WHY),
    UNPROVOKED(inmem_run_fork_db, INMEM_ERETRIES, RETRIES_WHY),
    UNPROVOKED(inmem_event_append_db, INMEM_ERETRIES, RETRIES_WHY),
    UNPROVOKED(inmem_event_append_batch_db, INMEM_ERETRIES, RETRIES_WHY),
    UNPROVOKED(inmem_state_cas_value_db, INMEM_ERETRIES, RETRIES_WHY),
    UNPROVOKED(inmem_trace_record_db, INMEM_ERETRIES, RETRIES_WHY),
};

/* ---- running a row -------------------------------------------------------------------------- */

/* Runs @p a's body on a fresh fixture for @p code; *hit: whether an allocation failed. */
static int run_once(const api_fn *a, int code, long fail_alloc, int *hit)
{
    fx f;
    memset(&f, 0, sizeof f);
    f.fail_alloc = fail_alloc;
    int rc = a->body(&f, code);
    *hit = fail_alloc && test_alloc_failed();
    fx_close(&f);
    return rc;
}

static void expect_code(const api_fn *a, int code)
{
    int hit;
    if (code != INMEM_ENOMEM) {
        int rc = run_once(a, code, 0, &hit);
        if (rc != code)
            fail_msg("%s returned %s, expected %s (%s)", a->name, inmem_errname(rc),
                     inmem_errname(code), inmem_errmsg());
        return;
    }
    /* fail allocation 1, 2, 3... of the call until it reports INMEM_ENOMEM */
    for (long n = 1;; n++) {
        int rc = run_once(a, code, n, &hit);
        if (rc == INMEM_ENOMEM)
            return;
        if (!hit)
            fail_msg("%s never returned INMEM_ENOMEM: with allocation %ld failing, it made fewer "
                     "and returned %s",
                     a->name, n, inmem_errname(rc));
    }
}

static void returns_each_listed_code(void **state)
{
    const api_fn *a = *state;
    expect_code(a, 0); /* the default call works: each code below comes from its one change */
    for (size_t i = 0; i < sizeof a->codes / sizeof a->codes[0] && a->codes[i]; i++)
        expect_code(a, a->codes[i]);
}

#define DEFINE_ROW(fn, body, ...) static const api_fn row_##fn = {#fn, body, {__VA_ARGS__}};
API_FUNCTIONS(DEFINE_ROW)

/* Every UNPROVOKED pair names a function of the table, and a code its row does not provoke. */
static void unprovoked_pairs_are_few_and_explained(void **state)
{
    (void)state;
#define ROW_PTR(fn, body, ...) &row_##fn,
    static const api_fn *const rows[] = {API_FUNCTIONS(ROW_PTR)};
    for (size_t u = 0; u < sizeof unprovoked / sizeof unprovoked[0]; u++) {
        const api_fn *row = NULL;
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
            if (strcmp(rows[i]->name, unprovoked[u].fn) == 0)
                row = rows[i];
        if (!row)
            fail_msg("UNPROVOKED(%s): no row for that function", unprovoked[u].fn);
        for (size_t i = 0; i < sizeof row->codes / sizeof row->codes[0]; i++)
            assert_int_not_equal(row->codes[i], unprovoked[u].code);
        assert_true(strlen(unprovoked[u].why) > 20);
        printf("[ INFO     ] not provoked: %s %s: %s\n", unprovoked[u].fn,
               inmem_errname(unprovoked[u].code), unprovoked[u].why);
    }
}

#define TEST_ROW(fn, body, ...)                                                                    \
    {#fn "_returns_each_listed_code", returns_each_listed_code, NULL, NULL, (void *)&row_##fn},
const struct CMUnitTest api_errors_tests[] = {
    API_FUNCTIONS(TEST_ROW) cmocka_unit_test(unprovoked_pairs_are_few_and_explained),
};
INMEM_TEST_COUNT(api_errors);
