/*
 * test_crash.c — crash recovery with a real process killed by SIGKILL (docs/CONTRACT.md, section
 * 2).
 *
 * A forked child opens the database (64 KiB segments, so that segments switch under load) and
 * runs 4 threads; thread t's commit number s (1, 2, ...) is an implicit put of one key when s is
 * even, and a transaction writing the same value to 3 keys of its own plus 3 keys shared by every
 * thread when s is odd. As soon as inmem returns 0 the thread writes (t, s, version) to a pipe.
 * The parent kills the child with SIGKILL after a random delay, collects every acknowledgement
 * the child sent, recovers the directory and checks:
 *   - every acknowledged commit is there with its exact version: a crash of the process loses
 *     nothing acknowledged in any logged mode (strict synced it; async and batched left it in the
 *     OS page cache, which outlives the process);
 *   - no transaction is half-applied: its keys are all there with one version, or none is;
 *   - the state is a prefix of the commit order: the recovered versions are exactly 1..max, one
 *     commit each, and each thread's commits are 1..k with at most one not acknowledged;
 *   - the shared keys agree, holding the value and version of the newest recovered transaction;
 *   - every recovered value is intact, and the recovered log takes new commits and reopens.
 * The child never calls cmocka (its assertions longjmp): it reports problems through _exit codes.
 * The parent forks while it has no other thread, and asserts only after the child is reaped.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

enum {
    CR_THREADS = 4,
    CR_ROUNDS = 10,          /* kills per durability mode */
    CR_MAX_DELAY_US = 40000, /* the kill comes 0..40 ms after the first commit */
    CR_MAX_SEQ = 1000000,    /* commits per thread before a child stops by itself */
    CR_SEG_SIZE = 64 << 10,
    CR_CKPT_MIN = 1 << 10, /* a checkpoint every ~1 KiB of log in the child */
    CR_READY = 0xFFFF,     /* thread id of the "database open" message */
    CR_CKPT = 0xFFFE,      /* thread id of a "checkpoint done" message (seq: its count) */
};

/* Child exit codes (anything else than being killed or exiting 0 is a failure). */
enum {
    CHILD_OPEN_FAILED = 40,
    CHILD_COMMIT_FAILED = 41,
    CHILD_PIPE_FAILED = 42,
    CHILD_THREAD_FAILED = 43,
    CHILD_RETURNED = 44,
};

/* One acknowledged commit, as the child reports it. */
struct ack {
    uint32_t thread, seq;
    uint64_t version;
};

static const char *const shared_keys[3] = {"gA", "gB", "gC"};

/* rounds whose recovery started from a checkpoint the killed child wrote; checkpoints the
 * children's checkpoint threads reported done */
static int ckpt_seen;
static uint64_t ckpts_done;

/* ---- what every commit writes (a pure function of thread and sequence) -------------------- */

static void make_key(uint8_t key[7], uint32_t t, uint32_t s, uint8_t part)
{
    key[0] = 'u';
    key[1] = (uint8_t)t;
    key[2] = (uint8_t)(s >> 24);
    key[3] = (uint8_t)(s >> 16);
    key[4] = (uint8_t)(s >> 8);
    key[5] = (uint8_t)s;
    key[6] = part;
}

static size_t make_value(uint32_t t, uint32_t s, uint8_t *val)
{
    size_t n = 8 + ((size_t)s * 7 + (size_t)t * 13) % 200;
    memcpy(val, &t, 4);
    memcpy(val + 4, &s, 4);
    for (size_t j = 8; j < n; j++)
        val[j] = (uint8_t)(t * 31 + s + j);
    return n;
}

/* ---- the child ------------------------------------------------------------------------------ */

struct child_worker {
    inmem_db *db;
    int fd;
    uint32_t t;
};

static void *child_worker_main(void *arg)
{
    struct child_worker *c = arg;
    uint8_t val[256], key[7];
    for (uint32_t s = 1; s <= CR_MAX_SEQ; s++) {
        size_t vl = make_value(c->t, s, val);
        uint64_t ver = 0;
        int rc;
        if (s % 2 == 0) {
            make_key(key, c->t, s, 'p');
            rc = inmem_put(c->db, NULL, key, sizeof key, val, vl, &ver);
        } else {
            inmem_txn *txn = NULL;
            rc = inmem_txn_begin(c->db, &txn);
            for (int part = 0; rc == 0 && part < 3; part++) {
                make_key(key, c->t, s, (uint8_t)('a' + part));
                rc = inmem_kv_put(txn, NULL, key, sizeof key, val, vl);
                if (rc == 0)
                    rc = inmem_kv_put(txn, NULL, shared_keys[part], 2, val, vl);
            }
            if (rc == 0)
                rc = inmem_txn_commit(txn);
            inmem_txn_info info;
            if (rc == 0 && inmem_txn_describe(txn, &info) == 0)
                ver = info.commit_version;
            inmem_txn_free(txn);
        }
        if (rc != 0 || ver == 0)
            _exit(CHILD_COMMIT_FAILED);
        struct ack a = {c->t, s, ver};
        if (write(c->fd, &a, sizeof a) != (ssize_t)sizeof a) /* atomic: < PIPE_BUF */
            _exit(CHILD_PIPE_FAILED);
    }
    return NULL;
}

struct child_ckpt {
    inmem_db *db;
    int fd;
};

/* Takes checkpoints back to back and reports each (the kill may land in the middle of one). */
static void *child_ckpt_main(void *arg)
{
    struct child_ckpt *c = arg;
    for (uint32_t n = 1;;) {
        uint64_t v = 0;
        if (inmem_db_checkpoint(c->db, &v) != 0)
            _exit(CHILD_COMMIT_FAILED);
        if (v == 0)
            continue; /* nothing committed yet: no image */
        struct ack a = {CR_CKPT, n++, v};
        if (write(c->fd, &a, sizeof a) != (ssize_t)sizeof a)
            _exit(CHILD_PIPE_FAILED);
    }
    return NULL;
}

static void child_main(const char *dir, inmem_durability mode, int fd, int ckpt_thread)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = mode;
    o.wal_segment_size = CR_SEG_SIZE;
    /* checkpoints run all the time, beside the committers: the kill lands in one sometimes */
    o.checkpoint_log_ratio = 1;
    o.checkpoint_log_min = CR_CKPT_MIN;
    inmem_db *db = NULL;
    if (inmem_db_open(dir, &o, &db) != 0)
        _exit(CHILD_OPEN_FAILED);
    struct ack ready = {CR_READY, 0, 0};
    if (write(fd, &ready, sizeof ready) != (ssize_t)sizeof ready)
        _exit(CHILD_PIPE_FAILED);
    pthread_t th[CR_THREADS];
    struct child_worker w[CR_THREADS];
    for (uint32_t i = 0; i < CR_THREADS; i++) {
        w[i] = (struct child_worker){db, fd, i};
        if (pthread_create(&th[i], NULL, child_worker_main, &w[i]) != 0)
            _exit(CHILD_THREAD_FAILED);
    }
    struct child_ckpt ck = {db, fd};
    pthread_t cth;
    if (ckpt_thread && pthread_create(&cth, NULL, child_ckpt_main, &ck) != 0)
        _exit(CHILD_THREAD_FAILED);
    for (int i = 0; i < CR_THREADS; i++)
        pthread_join(th[i], NULL);
    inmem_db_close(db);
    _exit(0);
}

/* ---- the parent: run a child, kill it ------------------------------------------------------- */

struct acks {
    struct ack *a;
    size_t n, cap;
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Forks a child running the workload on @p dir, kills it @p delay_us after it reports the
 * database open, and gathers every acknowledgement it sent. No cmocka call happens while the
 * child lives. Returns 1 if the child got the database open; *status is its wait status; -1 if
 * fork or pipe failed (errno set). */
static int run_and_kill_child(const char *dir, inmem_durability mode, uint64_t delay_us,
                              int ckpt_thread, struct acks *out, int *status)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        child_main(dir, mode, p[1], ckpt_thread);
        _exit(CHILD_RETURNED);
    }
    close(p[1]);
    uint8_t buf[4096];
    size_t have = 0;
    int ready = 0, killed = 0, oom = 0;
    uint64_t until = mono_us() + 30000000u; /* the child's open: generous, sanitizers are slow */
    for (;;) {
        int timeout_ms = -1;
        if (!killed) {
            uint64_t now = mono_us();
            if (now >= until) {
                kill(pid, SIGKILL);
                killed = 1;
                continue;
            }
            timeout_ms = (int)((until - now + 999) / 1000);
        }
        struct pollfd pfd = {p[0], POLLIN, 0};
        int n = poll(&pfd, 1, timeout_ms);
        if (n <= 0)
            continue; /* timeout (the deadline is checked above) or EINTR */
        ssize_t r = read(p[0], buf + have, sizeof buf - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* end of file: the child is gone */
        have += (size_t)r;
        size_t whole = have / sizeof(struct ack);
        for (size_t i = 0; i < whole; i++) {
            struct ack a;
            memcpy(&a, buf + i * sizeof a, sizeof a);
            if (a.thread == CR_READY) {
                ready = 1; /* the kill is timed from the first commit (or checkpoint) done: a
                            * slow child (sanitizers) is still killed mid-workload */
                continue;
            }
            if (a.thread == CR_CKPT) {
                if (a.seq == 1)
                    until = mono_us() + delay_us;
                ckpts_done++;
                continue;
            }
            if (out->n == out->cap) {
                size_t cap = out->cap ? out->cap * 2 : 1024;
                struct ack *na = realloc(out->a, cap * sizeof(*na));
                if (!na) {
                    oom = 1;
                    continue;
                }
                out->a = na;
                out->cap = cap;
            }
            if (out->n == 0 && !ckpt_thread)
                until = mono_us() + delay_us;
            out->a[out->n++] = a;
        }
        memmove(buf, buf + whole * sizeof(struct ack), have - whole * sizeof(struct ack));
        have -= whole * sizeof(struct ack);
    }
    if (!killed)
        kill(pid, SIGKILL); /* it exited by itself: nothing left to kill */
    close(p[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    if (oom) {
        errno = ENOMEM;
        return -1;
    }
    return ready;
}

/* ---- the parent: check what recovery brought back ---------------------------------------- */

/* A recovered key of a commit. */
struct got {
    uint32_t t, s;
    uint8_t part;
    uint64_t ver;
};

static int cmp_got(const void *a, const void *b)
{
    const struct got *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return (x->part > y->part) - (x->part < y->part);
}

/* One recovered commit. */
struct commit {
    uint32_t t, s;
    uint64_t ver;
};

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

/* Recovers @p dir and checks it against what the killed child acknowledged. Returns the number
 * of commits recovered. */
static uint64_t check_recovery(const char *dir, inmem_durability mode, const struct acks *acks,
                               int round)
{
    inmem_options o;
    inmem_options_init(&o);
    o.durability = mode;
    o.wal_segment_size = CR_SEG_SIZE;
    o.checkpoint_on_close = 1; /* the second open below starts from the image the close writes */
    inmem_db *db = NULL;
    int rc = inmem_db_open(dir, &o, &db);
    CHECK(rc == 0, "round %d: recovery after the kill failed: %s (%s)", round, inmem_errname(rc),
          inmem_errmsg());
    inmem_recovery_info rec;
    assert_ok(inmem_db_recovery(db, &rec));
    CHECK(rec.repaired == 0, "round %d: recovery reported a repair", round);

    /* every key, in one snapshot */
    size_t ngot = 0, capgot = 1024;
    struct got *g = malloc(capgot * sizeof(*g));
    assert_non_null(g);
    int have_shared[3] = {0};
    uint64_t shared_ver[3] = {0};
    uint8_t shared_val[3][256];
    size_t shared_len[3] = {0};
    uint8_t want[256];
    inmem_txn *txn;
    inmem_iter *it;
    assert_ok(inmem_txn_begin(db, &txn));
    assert_ok(inmem_kv_scan_prefix(txn, NULL, NULL, 0, &it));
    for (;;) {
        const uint8_t *k, *v;
        size_t kl, vl;
        uint64_t ver;
        rc = inmem_iter_next(it, (const void **)&k, &kl, (const void **)&v, &vl, &ver);
        if (rc == INMEM_NOTFOUND)
            break;
        assert_ok(rc);
        if (kl == 2 && k[0] == 'g' && k[1] >= 'A' && k[1] <= 'C') {
            int i = k[1] - 'A';
            CHECK(vl <= sizeof shared_val[i], "round %d: shared key of %zu bytes", round, vl);
            have_shared[i] = 1;
            shared_ver[i] = ver;
            memcpy(shared_val[i], v, vl);
            shared_len[i] = vl;
            continue;
        }
        CHECK(kl == 7 && k[0] == 'u' && k[1] < CR_THREADS, "round %d: unexpected key", round);
        struct got x = {k[1],
                        (uint32_t)k[2] << 24 | (uint32_t)k[3] << 16 | (uint32_t)k[4] << 8 | k[5],
                        k[6], ver};
        int is_put = x.s % 2 == 0;
        CHECK(x.s >= 1 && (is_put ? x.part == 'p' : (x.part >= 'a' && x.part <= 'c')),
              "round %d: key of thread %u seq %u has part '%c'", round, x.t, x.s, x.part);
        size_t wl = make_value(x.t, x.s, want);
        CHECK(vl == wl && memcmp(v, want, wl) == 0,
              "round %d: value of thread %u seq %u part '%c' is damaged", round, x.t, x.s, x.part);
        if (ngot == capgot) {
            capgot *= 2;
            g = realloc(g, capgot * sizeof(*g));
            assert_non_null(g);
        }
        g[ngot++] = x;
    }
    inmem_iter_free(it);
    assert_ok(inmem_txn_commit(txn));
    inmem_txn_free(txn);

    /* group keys into commits: a transaction is all three keys with one version, or nothing */
    qsort(g, ngot, sizeof(*g), cmp_got);
    struct commit *c = malloc((ngot ? ngot : 1) * sizeof(*c));
    assert_non_null(c);
    size_t nc = 0;
    for (size_t i = 0; i < ngot;) {
        size_t j = i;
        unsigned mask = 0;
        for (; j < ngot && g[j].t == g[i].t && g[j].s == g[i].s; j++) {
            CHECK(g[j].ver == g[i].ver,
                  "round %d: transaction of thread %u seq %u has keys at versions %llu and %llu",
                  round, g[i].t, g[i].s, (unsigned long long)g[i].ver,
                  (unsigned long long)g[j].ver);
            mask |= 1u << (g[j].part == 'p' ? 3 : g[j].part - 'a');
        }
        CHECK(mask == (g[i].s % 2 == 0 ? 8u : 7u),
              "round %d: commit of thread %u seq %u is half-applied (parts mask %x)", round, g[i].t,
              g[i].s, mask);
        c[nc++] = (struct commit){g[i].t, g[i].s, g[i].ver};
        i = j;
    }

    /* a prefix of the commit order: versions 1..nc, one commit each */
    inmem_stats st;
    assert_ok(inmem_db_stats(db, &st));
    CHECK(st.version == nc && rec.version == nc && rec.checkpoint_version + rec.txns_applied == nc,
          "round %d: %zu commits recovered but version %llu (report: version %llu, checkpoint "
          "%llu + %llu applied)",
          round, nc, (unsigned long long)st.version, (unsigned long long)rec.version,
          (unsigned long long)rec.checkpoint_version, (unsigned long long)rec.txns_applied);
    ckpt_seen += rec.checkpoint_version > 0;
    uint8_t *seen = calloc(nc + 1, 1);
    assert_non_null(seen);
    struct commit newest_txn = {0, 0, 0};
    for (size_t i = 0; i < nc; i++) {
        CHECK(c[i].ver >= 1 && c[i].ver <= nc && !seen[c[i].ver],
              "round %d: version %llu (thread %u seq %u) is outside 1..%zu or repeated", round,
              (unsigned long long)c[i].ver, c[i].t, c[i].s, nc);
        seen[c[i].ver] = 1;
        if (c[i].s % 2 == 1 && c[i].ver > newest_txn.ver)
            newest_txn = c[i];
    }
    free(seen);

    /* per thread: commits 1..k, each acknowledged one there with its version, and at most one
     * recovered beyond the acknowledged ones (killed between commit and report) */
    uint32_t k[CR_THREADS] = {0}, acked[CR_THREADS] = {0};
    uint64_t *ver_of[CR_THREADS] = {NULL};
    size_t first = 0;
    for (uint32_t t = 0; t < CR_THREADS; t++) {
        size_t i = first;
        for (; i < nc && c[i].t == t; i++) {
            CHECK(c[i].s == k[t] + 1,
                  "round %d: thread %u has commit %u recovered but not commit %u", round, t, c[i].s,
                  k[t] + 1);
            k[t] = c[i].s;
        }
        ver_of[t] = calloc((size_t)k[t] + 1, sizeof(uint64_t));
        assert_non_null(ver_of[t]);
        for (size_t j = first; j < i; j++)
            ver_of[t][c[j].s] = c[j].ver;
        first = i;
    }
    for (size_t i = 0; i < acks->n; i++) {
        const struct ack *a = &acks->a[i];
        CHECK(a->thread < CR_THREADS, "round %d: bad acknowledgement", round);
        CHECK(a->seq <= k[a->thread] && ver_of[a->thread][a->seq] == a->version,
              "round %d: acknowledged commit thread %u seq %u version %llu was lost (thread has "
              "%u commits; recovered version %llu)",
              round, a->thread, a->seq, (unsigned long long)a->version, k[a->thread],
              (unsigned long long)(a->seq <= k[a->thread] ? ver_of[a->thread][a->seq] : 0));
        if (a->seq > acked[a->thread])
            acked[a->thread] = a->seq;
    }
    for (uint32_t t = 0; t < CR_THREADS; t++) {
        CHECK(k[t] <= acked[t] + 1,
              "round %d: thread %u has %u commits recovered but only %u acknowledged", round, t,
              k[t], acked[t]);
        free(ver_of[t]);
    }

    /* the keys every transaction writes agree, and hold the newest transaction */
    for (int i = 0; i < 3; i++) {
        if (!newest_txn.ver) {
            CHECK(!have_shared[i], "round %d: %s exists without any transaction", round,
                  shared_keys[i]);
            continue;
        }
        size_t wl = make_value(newest_txn.t, newest_txn.s, want);
        CHECK(have_shared[i] && shared_ver[i] == newest_txn.ver && shared_len[i] == wl &&
                  memcmp(shared_val[i], want, wl) == 0,
              "round %d: %s does not hold the newest transaction (thread %u seq %u v%llu)", round,
              shared_keys[i], newest_txn.t, newest_txn.s, (unsigned long long)newest_txn.ver);
    }
    free(c);
    free(g);

    /* the recovered log goes on */
    uint64_t v = 0;
    assert_ok(inmem_put(db, NULL, "after", 5, "x", 1, &v));
    assert_int_equal(v, nc + 1);
    assert_ok(inmem_db_close(db));
    db = NULL;
    rc = inmem_db_open(dir, &o, &db);
    CHECK(rc == 0, "round %d: second open failed: %s (%s)", round, inmem_errname(rc),
          inmem_errmsg());
    assert_ok(inmem_db_recovery(db, &rec));
    assert_int_equal(rec.torn_tail, 0);
    assert_int_equal(rec.version, nc + 1); /* from the image the close wrote */
    assert_int_equal(rec.checkpoint_version, nc + 1);
    assert_int_equal(rec.txns_applied, 0);
    assert_ok(inmem_db_stats(db, &st));
    assert_int_equal(st.version, nc + 1);
    assert_ok(inmem_db_close(db));
    return nc;
}

static void crash_rounds(inmem_durability mode, int ckpt_thread, const char *name)
{
    ckpt_seen = 0;
    ckpts_done = 0;
    uint64_t rng = test_seed(name);
    uint64_t acked_total = 0, recovered_total = 0;
    int killed = 0;
    for (int round = 0; round < CR_ROUNDS; round++) {
        char dir[64];
        test_tmpdir(dir);
        uint64_t delay_us = test_rand(&rng) % CR_MAX_DELAY_US;
        struct acks acks = {NULL, 0, 0};
        int status = 0;
        int ready = run_and_kill_child(dir, mode, delay_us, ckpt_thread, &acks, &status);
        CHECK(ready >= 0, "round %d: fork or pipe failed: %s", round, strerror(errno));
        CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
                  (WIFEXITED(status) && WEXITSTATUS(status) == 0),
              "round %d: the child failed on its own (exit %d, signal %d)", round,
              WIFEXITED(status) ? WEXITSTATUS(status) : -1,
              WIFSIGNALED(status) ? WTERMSIG(status) : -1);
        CHECK(ready == 1, "round %d: the child never opened the database", round);
        killed += WIFSIGNALED(status);
        recovered_total += check_recovery(dir, mode, &acks, round);
        acked_total += acks.n;
        free(acks.a);
        test_rmdir(dir);
    }
    print_message("%s: %d kills, %llu commits acknowledged, %llu recovered, %d from a checkpoint\n",
                  name, killed, (unsigned long long)acked_total,
                  (unsigned long long)recovered_total, ckpt_seen);
    assert_int_equal(killed, CR_ROUNDS);
    assert_true(acked_total > 0); /* the kills came mid-workload, not before it */
    if (ckpt_thread) /* every kill came after a checkpoint, with more of them running */
        CHECK(ckpt_seen == CR_ROUNDS && ckpts_done >= CR_ROUNDS,
              "%d rounds recovered from a checkpoint, %llu checkpoints done", ckpt_seen,
              (unsigned long long)ckpts_done);
}

static void crash_strict_keeps_every_acknowledged_commit_and_no_half_transaction(void **state)
{
    (void)state;
    crash_rounds(INMEM_DURABILITY_STRICT, 0,
                 "crash_strict_keeps_every_acknowledged_commit_and_no_half_transaction");
}

static void crash_batched_recovers_a_prefix_of_the_commit_order(void **state)
{
    (void)state;
    crash_rounds(INMEM_DURABILITY_BATCHED, 0,
                 "crash_batched_recovers_a_prefix_of_the_commit_order");
}

static void crash_async_recovers_a_prefix_of_the_commit_order(void **state)
{
    (void)state;
    crash_rounds(INMEM_DURABILITY_ASYNC, 0, "crash_async_recovers_a_prefix_of_the_commit_order");
}

static void crash_strict_with_checkpoints_running_keeps_every_acknowledged_commit(void **state)
{
    (void)state;
    crash_rounds(INMEM_DURABILITY_STRICT, 1,
                 "crash_strict_with_checkpoints_running_keeps_every_acknowledged_commit");
}

static void crash_batched_with_checkpoints_running_recovers_a_prefix(void **state)
{
    (void)state;
    crash_rounds(INMEM_DURABILITY_BATCHED, 1,
                 "crash_batched_with_checkpoints_running_recovers_a_prefix");
}

const struct CMUnitTest crash_tests[] = {
    cmocka_unit_test(crash_strict_with_checkpoints_running_keeps_every_acknowledged_commit),
    cmocka_unit_test(crash_batched_with_checkpoints_running_recovers_a_prefix),
    cmocka_unit_test(crash_strict_keeps_every_acknowledged_commit_and_no_half_transaction),
    cmocka_unit_test(crash_batched_recovers_a_prefix_of_the_commit_order),
    cmocka_unit_test(crash_async_recovers_a_prefix_of_the_commit_order),
};

INMEM_TEST_COUNT(crash);
