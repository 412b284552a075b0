/*
 * workloads.c — the engines and lines of the comparison and the key-value workloads W1–W6
 * (workloads.h; compare.c lists what each line measures).
 *
 * Keys are 16 bytes: a prefix letter ('k' for data, 'c' for W4's counters) and 15 decimal
 * digits. Values are 100 bytes: [key index][stamp][check = mix(key, stamp)][76 bytes derived
 * from check], so that every read checks that it got a whole value of its own key. The stamp
 * says which write made it: W1, W2 and W5 the thread and its count, W4 the counter's value, W7
 * the commit's number.
 *
 * Every workload checks what it reads and verifies its writes afterwards: W1, W2 and W5 keep
 * each thread's last 64 puts and read them back after the run (each key must hold the last
 * stamp the thread committed to it, in a thread-partitioned key space for W1 and W5); W4
 * checks that the counters' sum equals the committed increments. A broken driver thus fails the
 * run (exit 1) rather than posting a number.
 *
 * The line table (lines[]) gives each line its id, title and what it is ranked by; g_res holds
 * every line's figures per engine (engines[], inmem first); run_line() runs one KV line, W1–W6,
 * on a database that preload() filled. W7 is in recovery.c, the agent lines in agent.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

#define NCOUNTERS   10
#define RING        64
#define PRELOAD_TXN 1000u

/* ---- the engines -------------------------------------------------------------------------- */

const cmp_driver *const engines[NENG] = {
    &cmp_inmem_driver,  &cmp_rocksdb_driver,    &cmp_lmdb_driver,
    &cmp_sqlite_driver, &cmp_wiredtiger_driver, &cmp_redis_driver,
};
int g_engine_on[NENG];
uint64_t g_keys = NKEYS;

/* ---- keys and values ---------------------------------------------------------------------- */

/* 16 bytes: a prefix letter and 15 decimal digits (by hand: snprintf would cost the harness
 * more than some engines' whole get). */
static void key_of(char prefix, uint64_t i, char *k)
{
    k[0] = prefix;
    for (int p = KLEN - 1; p >= 1; p--, i /= 10)
        k[p] = (char)('0' + i % 10);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A value: [key index][stamp][check = mix(key, stamp)][76 bytes derived from check]. */
static void make_val(uint8_t *v, uint64_t key, uint64_t stamp)
{
    uint64_t chk = mix64(key * 0x9E3779B97F4A7C15ull ^ stamp);
    memcpy(v, &key, 8);
    memcpy(v + 8, &stamp, 8);
    memcpy(v + 16, &chk, 8);
    uint64_t x = chk;
    for (size_t i = 24; i < VLEN; i += 8) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        memcpy(v + i, &x, VLEN - i < 8 ? VLEN - i : 8);
    }
}

/* Checks a value read for @p key; returns its stamp. Any mismatch fails the run. */
static uint64_t check_val(const cmp_driver *d, const uint8_t *v, size_t len, uint64_t key,
                          const char *where)
{
    uint64_t k, stamp, chk, f;
    if (len != VLEN)
        cmp_die("%s %s: value of key %" PRIu64 " has %zu bytes, not %d", d->name, where, key, len,
                VLEN);
    memcpy(&k, v, 8);
    memcpy(&stamp, v + 8, 8);
    memcpy(&chk, v + 16, 8);
    memcpy(&f, v + 24, 8);
    if (k != key || chk != mix64(key * 0x9E3779B97F4A7C15ull ^ stamp) ||
        f != chk * 6364136223846793005ull + 1442695040888963407ull)
        cmp_die("%s %s: wrong value for key %" PRIu64 " (holds key %" PRIu64 ", stamp %" PRIu64 ")",
                d->name, where, key, k, stamp);
    return stamp;
}

/* get that must find the key; returns the stamp. */
static int get_stamp(const cmp_driver *d, void *h, char prefix, uint64_t key, uint64_t *stamp,
                     const char *where)
{
    char k[KLEN];
    uint8_t v[VLEN + 28];
    size_t len = 0;
    key_of(prefix, key, k);
    int rc = d->get(h, k, KLEN, v, sizeof v, &len);
    if (rc == CMP_NOTFOUND)
        cmp_die("%s %s: key %c%" PRIu64 " not found", d->name, where, prefix, key);
    if (rc == CMP_OK)
        *stamp = check_val(d, v, len, prefix == 'k' ? key : key | (1ull << 40), where);
    return rc;
}

int get_opt(const cmp_driver *d, void *h, uint64_t key, uint64_t *stamp, const char *where)
{
    char k[KLEN];
    uint8_t v[VLEN + 28];
    size_t len = 0;
    key_of('k', key, k);
    int rc = d->get(h, k, KLEN, v, sizeof v, &len);
    if (rc == CMP_CONFLICT)
        cmp_die("%s %s: conflict in a read-only transaction with no writer", d->name, where);
    if (rc == CMP_OK)
        *stamp = check_val(d, v, len, key, where);
    return rc;
}

int put_stamp(const cmp_driver *d, void *h, char prefix, uint64_t key, uint64_t stamp)
{
    char k[KLEN];
    uint8_t v[VLEN];
    key_of(prefix, key, k);
    make_val(v, prefix == 'k' ? key : key | (1ull << 40), stamp);
    return d->put(h, k, KLEN, v, VLEN);
}

void must(int rc, const cmp_driver *d, const char *what)
{
    if (rc != CMP_OK)
        cmp_die("%s: %s: unexpected %s", d->name, what,
                rc == CMP_CONFLICT ? "conflict" : "notfound");
}

void preload(const cmp_driver *d, void *db, uint64_t n)
{
    void *h = d->handle_open(db);
    for (uint64_t i = 0; i < n;) {
        d->begin(h, 1);
        for (uint64_t j = 0; j < PRELOAD_TXN && i < n; j++, i++)
            must(put_stamp(d, h, 'k', i, 0), d, "preload put");
        must(d->commit(h), d, "preload commit");
    }
    d->begin(h, 0);
    uint64_t probe[3] = {0, n / 2, n - 1}, st;
    for (int i = 0; i < 3; i++) {
        must(get_stamp(d, h, 'k', probe[i], &st, "preload"), d, "preload get");
        if (st != 0)
            cmp_die("%s preload: key %" PRIu64 " has stamp %" PRIu64, d->name, probe[i], st);
    }
    must(d->commit(h), d, "preload read commit");
    d->handle_close(h);
}

/* ---- KV workloads ------------------------------------------------------------------------- */

typedef struct kvargs {
    uint64_t nkeys;
    int partition; /* each thread writes only keys k with k % nthreads == tid */
    const char *line;
} kvargs;

/* The last RING puts of a thread, to read back at the end. */
typedef struct ring {
    uint64_t key[RING], stamp[RING];
    uint64_t n;
} ring;

static uint64_t stamp_of(worker *w)
{
    return ((uint64_t)(w->tid + 1) << 48) | (w->done_all + 1);
}

static uint64_t pick(worker *w, uint64_t n, int partition)
{
    uint64_t r = xrand(&w->rng);
    if (!partition || w->nthreads == 1)
        return r % n;
    uint64_t per = n / (uint64_t)w->nthreads;
    return (r % per) * (uint64_t)w->nthreads + (uint64_t)w->tid;
}

static void ring_init(worker *w)
{
    w->local = calloc(1, sizeof(ring));
    if (!w->local)
        cmp_die("out of memory");
}

/* Reads back the last puts of this thread: each key must hold the last stamp written to it. */
static void ring_verify(worker *w)
{
    ring *r = w->local;
    kvargs *a = w->arg;
    uint64_t first = r->n > RING ? r->n - RING : 0;
    for (int attempt = 0;; attempt++) {
        w->drv->begin(w->h, 0);
        int conflict = 0;
        for (uint64_t i = first; i < r->n && !conflict; i++) {
            uint64_t key = r->key[i % RING], want = r->stamp[i % RING], got;
            for (uint64_t j = i + 1; j < r->n; j++) /* a later put of the same key wins */
                if (r->key[j % RING] == key)
                    want = r->stamp[j % RING];
            int rc = get_stamp(w->drv, w->h, 'k', key, &got, a->line);
            if (rc == CMP_CONFLICT) {
                conflict = 1;
                break;
            }
            if (got != want)
                cmp_die("%s %s: thread %d: key %" PRIu64 " holds stamp %" PRIx64
                        " after the run, its last committed put wrote %" PRIx64,
                        w->drv->name, a->line, w->tid, key, got, want);
        }
        if (conflict)
            w->drv->abort(w->h);
        else if (w->drv->commit(w->h) == CMP_OK)
            break;
        if (attempt > 100)
            cmp_die("%s %s: verification keeps conflicting", w->drv->name, a->line);
    }
    free(r);
}

static void ring_add(worker *w, uint64_t key, uint64_t stamp)
{
    ring *r = w->local;
    r->key[r->n % RING] = key;
    r->stamp[r->n % RING] = stamp;
    r->n++;
}

/* W1, W5: one blind put per transaction. */
static uint64_t fn_put(worker *w)
{
    kvargs *a = w->arg;
    const cmp_driver *d = w->drv;
    uint64_t key = pick(w, a->nkeys, a->partition), stamp = stamp_of(w), conflicts = 0;
    for (;;) {
        d->begin(w->h, 1);
        if (put_stamp(d, w->h, 'k', key, stamp) == CMP_CONFLICT) {
            d->abort(w->h);
            conflicts++;
            continue;
        }
        if (d->commit(w->h) == CMP_OK)
            break;
        conflicts++;
    }
    ring_add(w, key, stamp);
    return conflicts;
}

/* W2: get k, put k. */
static uint64_t fn_rmw(worker *w)
{
    kvargs *a = w->arg;
    const cmp_driver *d = w->drv;
    uint64_t key = pick(w, a->nkeys, a->partition), stamp = stamp_of(w), conflicts = 0, old;
    for (;;) {
        d->begin(w->h, 1);
        if (get_stamp(d, w->h, 'k', key, &old, a->line) == CMP_CONFLICT ||
            put_stamp(d, w->h, 'k', key, stamp) == CMP_CONFLICT) {
            d->abort(w->h);
            conflicts++;
            continue;
        }
        if (d->commit(w->h) == CMP_OK)
            break;
        conflicts++;
    }
    ring_add(w, key, stamp);
    return conflicts;
}

/* W3 (4 gets) and W6 (1 get): read-only snapshot transactions. */
static uint64_t fn_read(worker *w, int gets)
{
    kvargs *a = w->arg;
    const cmp_driver *d = w->drv;
    uint64_t conflicts = 0, st;
    for (;;) {
        d->begin(w->h, 0);
        int c = 0;
        for (int i = 0; i < gets && !c; i++)
            c = get_stamp(d, w->h, 'k', xrand(&w->rng) % a->nkeys, &st, a->line) == CMP_CONFLICT;
        if (c)
            d->abort(w->h);
        else if (d->commit(w->h) == CMP_OK)
            return conflicts;
        conflicts++;
    }
}

static uint64_t fn_read4(worker *w)
{
    return fn_read(w, 4);
}

static uint64_t fn_read1(worker *w)
{
    return fn_read(w, 1);
}

/* W4: increment one of NCOUNTERS counters (key 'c'<i>, stamp = count), retried. */
static uint64_t fn_counter(worker *w)
{
    const cmp_driver *d = w->drv;
    uint64_t c = xrand(&w->rng) % NCOUNTERS, conflicts = 0, count;
    for (;;) {
        d->begin(w->h, 1);
        if (get_stamp(d, w->h, 'c', c, &count, "W4") == CMP_CONFLICT ||
            put_stamp(d, w->h, 'c', c, count + 1) == CMP_CONFLICT) {
            d->abort(w->h);
            conflicts++;
            continue;
        }
        if (d->commit(w->h) == CMP_OK)
            return conflicts;
        conflicts++;
    }
}

/* ---- lines -------------------------------------------------------------------------------- */

const struct linedef lines[NLINES] = {
    [L_W1N] = {"W1-none", "W1 blind put, 1 thread, one put per txn; durability none", K_TPS},
    [L_W2N] = {"W2-none", "W2 get k + put k per txn, 1 thread; durability none", K_TPS},
    [L_W3_1] = {"W3-1t", "W3 read-only snapshot txns of 4 gets, 1 thread; durability none", K_TPS},
    [L_W3_2] = {"W3-2t", "W3 read-only snapshot txns of 4 gets, 2 threads; durability none", K_TPS},
    [L_W4] = {"W4", "W4 2 threads incrementing 10 hot counters, retry on conflict; durability none",
              K_TPS},
    [L_W6_100K] = {"W6-100K", "W6 begin + 1 get + commit, 100,000 keys; durability none", K_LAT},
    [L_W1B] = {"W1-batched", "W1 blind put, 1 thread, one put per txn; durability batched", K_TPS},
    [L_W2B] = {"W2-batched", "W2 get k + put k per txn, 1 thread; durability batched", K_TPS},
    [L_W5_1] = {"W5-1t", "W5 blind puts, durability strict, 1 thread", K_TPS},
    [L_W5_4] = {"W5-4t", "W5 blind puts, durability strict, 4 threads", K_TPS},
    [L_W5_16] = {"W5-16t", "W5 blind puts, durability strict, 16 threads", K_TPS},
    [L_W6_1K] = {"W6-1K", "W6 begin + 1 get + commit, 1,000 keys; durability none", K_LAT},
    [L_W6_1M] = {"W6-1M", "W6 begin + 1 get + commit, 1,000,000 keys; durability none", K_LAT},
    [L_W7C] = {"W7-clean", "W7 recovery after a clean close (batched log)", K_REOPEN},
    [L_W7K] = {"W7-killed", "W7 recovery after the writer was killed with SIGKILL (batched)",
               K_REOPEN},
};

result g_res[NLINES][NENG];
int g_rounds = 1;
result g_round[NLINES][NENG][MAX_ROUNDS];
const char *g_lines;

double rank_figure(int line, const result *r)
{
    return lines[line].kind == K_TPS ? r->tps : lines[line].kind == K_LAT ? r->p50_us : r->reopen_s;
}

int want(const char *id)
{
    if (!g_lines)
        return 1;
    const char *p = g_lines;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n && !strncmp(id, p, n))
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

result run_line(int line, const cmp_driver *d, void *db, uint64_t nkeys)
{
    kvargs a = {.nkeys = nkeys, .partition = 0, .line = lines[line].id};
    run_spec s = {.nthreads = 1, .drv = d, .db = db, .arg = &a};
    switch (line) {
    case L_W1N:
    case L_W1B:
    case L_W5_1:
    case L_W5_4:
    case L_W5_16:
        s.fn = fn_put;
        s.thread_init = ring_init;
        s.thread_finish = ring_verify;
        a.partition = 1;
        s.nthreads = line == L_W5_4 ? 4 : line == L_W5_16 ? 16 : 1;
        return run_timed(&s, NULL);
    case L_W2N:
    case L_W2B:
        s.fn = fn_rmw;
        s.thread_init = ring_init;
        s.thread_finish = ring_verify;
        return run_timed(&s, NULL);
    case L_W3_1:
    case L_W3_2:
        s.fn = fn_read4;
        s.nthreads = line == L_W3_2 ? 2 : 1;
        return run_timed(&s, NULL);
    case L_W6_1K:
    case L_W6_100K:
    case L_W6_1M:
        s.fn = fn_read1;
        return run_timed(&s, NULL);
    case L_W4: {
        void *h = d->handle_open(db);
        d->begin(h, 1);
        for (uint64_t c = 0; c < NCOUNTERS; c++)
            must(put_stamp(d, h, 'c', c, 0), d, "W4 counter reset");
        must(d->commit(h), d, "W4 counter reset commit");
        s.fn = fn_counter;
        s.nthreads = 2;
        worker **ws;
        result r = run_timed(&s, &ws);
        uint64_t incr = 0, sum = 0, count;
        for (int i = 0; i < s.nthreads; i++)
            incr += ws[i]->done_all;
        free_workers(ws, s.nthreads);
        d->begin(h, 0);
        for (uint64_t c = 0; c < NCOUNTERS; c++) {
            must(get_stamp(d, h, 'c', c, &count, "W4 check"), d, "W4 check get");
            sum += count;
        }
        must(d->commit(h), d, "W4 check commit");
        d->handle_close(h);
        if (sum != incr)
            cmp_die("%s W4: LOST UPDATES: the counters sum to %" PRIu64 " but %" PRIu64
                    " increments committed",
                    d->name, sum, incr);
        snprintf(r.note, sizeof r.note, "counters sum = %" PRIu64 " = committed increments", sum);
        return r;
    }
    default:
        cmp_die("run_line: line %d is not a KV line", line);
    }
}
