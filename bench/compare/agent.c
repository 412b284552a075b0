/*
 * agent.c — the agent workloads of the comparison, for inmem alone (no other engine has the
 * primitives): each in a transaction (inmem_txn_begin, the primitive, inmem_txn_commit) and in
 * its standalone _db form, at durability none and batched, all inside one run (a run begun with
 * inmem_run_begin_db) of a fresh database per durability.
 *
 *   event append   1 thread appends 100-byte payloads of type "tool_call" to its stream.
 *                  Checks: sequence numbers dense from 1; afterwards the stream's length equals
 *                  the appends made and inmem_event_verify_db() finds the hash chain intact.
 *   CAS claim      2 threads walk the same task list (cells "task-<n>") and claim each task
 *                  that is still free: in a transaction, inmem_state_get() (a claimed task is
 *                  skipped) then inmem_state_cas(expected 0) and commit; standalone,
 *                  inmem_state_cas_db(expected 0). A lost race is a conflict (the abort rate);
 *                  the rate counts tasks won, the latency is that of a winning attempt.
 *                  Checks: no task claimed twice, every task below both cursors claimed, each
 *                  cell names the thread that claimed it.
 *   trace record   1 thread records tool-call spans (100-byte input and output, one tag).
 *                  Checks: the last 64 spans read back with inmem_trace_get() match.
 * Rates are committed operations per second (a claim: one task won), latencies per operation.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "drv_inmem.h"
#include "harness.h"
#include "inmem.h"

#define PAYLOAD 100
#define TRING   64

typedef struct agent {
    inmem_db *db;
    inmem_run_id run;
    int standalone;
    char prefix[16]; /* stream / cell / span name prefix of this line */
} agent;

static void ck(int rc, const char *what)
{
    if (rc)
        cmp_die("inmem agent %s: %s (%s) %s", what, inmem_errname(rc), inmem_strerror(rc),
                inmem_errmsg());
}

/* Commits @p txn and frees it: 0, or INMEM_CONFLICT. */
static int commit_free(inmem_txn *txn)
{
    int rc = inmem_txn_commit(txn);
    inmem_txn_free(txn);
    if (rc != INMEM_CONFLICT)
        ck(rc, "inmem_txn_commit");
    return rc;
}

/* ---- event append ----------------------------------------------------------------------- */

typedef struct ev_local {
    uint64_t last_seq;
} ev_local;

static void ev_init(worker *w)
{
    w->local = calloc(1, sizeof(ev_local));
    if (!w->local)
        cmp_die("out of memory");
}

static uint64_t fn_event(worker *w)
{
    agent *a = w->arg;
    ev_local *l = w->local;
    uint8_t payload[PAYLOAD];
    memset(payload, 'e', sizeof payload);
    memcpy(payload, &w->done_all, sizeof w->done_all);
    uint64_t seq = 0, conflicts = 0;
    if (a->standalone) {
        ck(inmem_event_append_db(a->db, &a->run, a->prefix, "tool_call", payload, sizeof payload,
                                 &seq),
           "inmem_event_append_db");
    } else {
        for (;;) {
            inmem_txn *txn;
            ck(inmem_txn_begin(a->db, &txn), "inmem_txn_begin");
            ck(inmem_event_append(txn, &a->run, a->prefix, "tool_call", payload, sizeof payload,
                                  &seq),
               "inmem_event_append");
            if (commit_free(txn) == 0)
                break;
            conflicts++;
        }
    }
    if (seq != l->last_seq + 1)
        cmp_die("inmem agent event append: got seq %" PRIu64 " after %" PRIu64, seq, l->last_seq);
    l->last_seq = seq;
    return conflicts;
}

static void ev_check(agent *a, uint64_t appended)
{
    inmem_stream_info si;
    ck(inmem_event_stream_info_db(a->db, &a->run, a->prefix, &si), "inmem_event_stream_info_db");
    if (si.length != appended)
        cmp_die("inmem agent event append: stream has %" PRIu64 " events, %" PRIu64 " appended",
                si.length, appended);
    uint64_t broken = 1;
    ck(inmem_event_verify_db(a->db, &a->run, a->prefix, &broken), "inmem_event_verify_db");
    if (broken)
        cmp_die("inmem agent event append: hash chain broken at seq %" PRIu64, broken);
}

/* ---- CAS claim ---------------------------------------------------------------------------- */

typedef struct claim_local {
    uint64_t next; /* the next task this thread looks at */
    uint64_t *won;
    size_t n, cap;
} claim_local;

static void claim_init(worker *w)
{
    w->local = calloc(1, sizeof(claim_local));
    if (!w->local)
        cmp_die("out of memory");
}

static void task_name(const agent *a, uint64_t task, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s-task-%" PRIu64, a->prefix, task);
}

/* One attempt on the next task: a claim (committed), a lost race (a conflict, uncommitted) or,
 * in a transaction, a task seen claimed already at the snapshot (skipped: uncommitted, no
 * conflict). */
static uint64_t fn_claim(worker *w)
{
    agent *a = w->arg;
    claim_local *l = w->local;
    char name[64], val[32];
    int vlen = snprintf(val, sizeof val, "claimed-by-%d", w->tid);
    uint64_t task = l->next++;
    task_name(a, task, name, sizeof name);
    int rc;
    if (a->standalone) {
        rc = inmem_state_cas_db(a->db, &a->run, name, 0, val, (size_t)vlen, NULL);
    } else {
        inmem_txn *txn;
        ck(inmem_txn_begin(a->db, &txn), "inmem_txn_begin");
        rc = inmem_state_get(txn, &a->run, name, NULL, NULL, NULL);
        if (rc == 0) { /* claimed already: skip it */
            ck(commit_free(txn), "read-only commit");
            w->uncommitted = 1;
            return 0;
        }
        if (rc != INMEM_NOTFOUND)
            ck(rc, "inmem_state_get");
        ck(inmem_state_cas(txn, &a->run, name, 0, val, (size_t)vlen), "inmem_state_cas");
        rc = commit_free(txn);
    }
    if (rc == INMEM_CONFLICT) {
        w->uncommitted = 1;
        return 1;
    }
    ck(rc, "claim");
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4096;
        l->won = realloc(l->won, l->cap * sizeof *l->won);
        if (!l->won)
            cmp_die("out of memory");
    }
    l->won[l->n++] = task;
    return 0;
}

static void claim_check(agent *a, worker **ws, int n)
{
    uint64_t lo = UINT64_MAX, hi = 0, total = 0;
    for (int i = 0; i < n; i++) {
        claim_local *l = ws[i]->local;
        if (l->next < lo)
            lo = l->next;
        if (l->next > hi)
            hi = l->next;
        total += l->n;
    }
    uint8_t *owner = calloc(hi + 1, 1);
    if (!owner)
        cmp_die("out of memory");
    for (int i = 0; i < n; i++) {
        claim_local *l = ws[i]->local;
        for (size_t j = 0; j < l->n; j++) {
            if (owner[l->won[j]])
                cmp_die("inmem agent CAS claim: task %" PRIu64 " claimed twice", l->won[j]);
            owner[l->won[j]] = (uint8_t)(i + 1);
        }
    }
    char name[64], want[32];
    for (uint64_t t = 0; t < hi; t++) {
        if (!owner[t]) {
            if (t < lo)
                cmp_die("inmem agent CAS claim: task %" PRIu64 " was passed but never claimed", t);
            continue;
        }
        task_name(a, t, name, sizeof name);
        void *v = NULL;
        size_t len = 0;
        ck(inmem_state_get_db(a->db, &a->run, name, &v, &len, NULL), "inmem_state_get_db");
        int wl = snprintf(want, sizeof want, "claimed-by-%d", owner[t] - 1);
        if (len != (size_t)wl || memcmp(v, want, len))
            cmp_die("inmem agent CAS claim: task %" PRIu64 " holds \"%.*s\", claimed by thread %d",
                    t, (int)len, (char *)v, owner[t] - 1);
        inmem_free(v);
    }
    free(owner);
    for (int i = 0; i < n; i++) {
        free(((claim_local *)ws[i]->local)->won);
        free(ws[i]->local);
    }
    (void)total;
}

/* ---- trace record ------------------------------------------------------------------------- */

typedef struct tr_local {
    inmem_run_id id[TRING];
    uint64_t stamp[TRING];
    uint64_t n;
} tr_local;

static void tr_init(worker *w)
{
    w->local = calloc(1, sizeof(tr_local));
    if (!w->local)
        cmp_die("out of memory");
}

static void span_of(const agent *a, uint64_t stamp, inmem_span *s, uint8_t *in, uint8_t *out)
{
    memset(s, 0, sizeof *s);
    memset(in, 'i', PAYLOAD);
    memset(out, 'o', PAYLOAD);
    memcpy(in, &stamp, sizeof stamp);
    memcpy(out, &stamp, sizeof stamp);
    s->kind = INMEM_TRACE_TOOL_CALL;
    snprintf(s->name, sizeof s->name, "%s.search", a->prefix);
    s->input = in;
    s->input_len = PAYLOAD;
    s->output = out;
    s->output_len = PAYLOAD;
    s->confidence = 0.5;
    s->start_ms = 1700000000000ull + stamp;
    s->duration_us = 1000;
    s->ntags = 1;
    snprintf(s->tags[0], sizeof s->tags[0], "bench");
}

static uint64_t fn_trace(worker *w)
{
    agent *a = w->arg;
    tr_local *l = w->local;
    inmem_span s;
    uint8_t in[PAYLOAD], out[PAYLOAD];
    uint64_t stamp = w->done_all + 1, conflicts = 0;
    span_of(a, stamp, &s, in, out);
    inmem_run_id id;
    if (a->standalone) {
        ck(inmem_trace_record_db(a->db, &a->run, &s, &id), "inmem_trace_record_db");
    } else {
        for (;;) {
            inmem_txn *txn;
            ck(inmem_txn_begin(a->db, &txn), "inmem_txn_begin");
            ck(inmem_trace_record(txn, &a->run, &s, &id), "inmem_trace_record");
            if (commit_free(txn) == 0)
                break;
            conflicts++;
        }
    }
    l->id[l->n % TRING] = id;
    l->stamp[l->n % TRING] = stamp;
    l->n++;
    return conflicts;
}

static void tr_finish(worker *w)
{
    agent *a = w->arg;
    tr_local *l = w->local;
    inmem_txn *txn;
    ck(inmem_txn_begin(a->db, &txn), "inmem_txn_begin");
    for (uint64_t i = l->n > TRING ? l->n - TRING : 0; i < l->n; i++) {
        inmem_span got, want;
        uint8_t in[PAYLOAD], out[PAYLOAD];
        span_of(a, l->stamp[i % TRING], &want, in, out);
        ck(inmem_trace_get(txn, &a->run, &l->id[i % TRING], &got), "inmem_trace_get");
        if (strcmp(got.name, want.name) || got.kind != want.kind || got.input_len != PAYLOAD ||
            memcmp(got.input, in, PAYLOAD) || got.output_len != PAYLOAD ||
            memcmp(got.output, out, PAYLOAD) || got.start_ms != want.start_ms || got.ntags != 1 ||
            strcmp(got.tags[0], "bench"))
            cmp_die("inmem agent trace record: span %" PRIu64 " reads back different", i);
    }
    ck(commit_free(txn), "read-only commit");
    free(l);
}

/* ---- the table ---------------------------------------------------------------------------- */

static void line(agent *a, const char *what, int threads, txn_fn fn, void (*init)(worker *),
                 void (*finish)(worker *), const char *dur)
{
    run_spec s = {.nthreads = threads,
                  .drv = NULL,
                  .db = a->db,
                  .arg = a,
                  .fn = fn,
                  .thread_init = init,
                  .thread_finish = finish};
    progress("[inmem] agent %s (%s) %s\n", what, a->standalone ? "db" : "txn", dur);
    worker **ws;
    result r = run_timed(&s, &ws);
    uint64_t all = 0;
    for (int i = 0; i < threads; i++)
        all += ws[i]->done_all;
    const char *check = "";
    if (fn == fn_event) {
        ev_check(a, all);
        for (int i = 0; i < threads; i++)
            free(ws[i]->local);
        check = "stream length = appends, hash chain verified";
    } else if (fn == fn_claim) {
        claim_check(a, ws, threads);
        check = "no double claim, no task skipped, owners read back";
    } else {
        check = "last 64 spans read back";
    }
    free_workers(ws, threads);
    char label[64];
    snprintf(label, sizeof label, "%s (%s)", what, a->standalone ? "db" : "txn");
    printf("  %-22s %-8s %7d %12.0f %8.2f %10.2f %10.2f  %s\n", label, dur, threads, r.tps,
           100 * r.abort_rate, r.p50_us, r.p99_us, check);
    fflush(stdout);
}

void agent_workloads(const char *root)
{
    printf("\nAgent workloads (inmem only; txn = inside inmem_txn_begin/commit, db = the "
           "standalone _db form)\n");
    printf("  %-22s %-8s %7s %12s %8s %10s %10s  %s\n", "workload", "durabil.", "threads", "ops/s",
           "abort %", "p50 us", "p99 us", "check");
    static const char *dn[] = {"none", "batched"};
    for (int d = 0; d < 2; d++) {
        char dir[4096];
        fresh_dir(root, "inmem-agent", dir, sizeof dir);
        inmem_options o;
        inmem_options_init(&o);
        o.durability = d ? INMEM_DURABILITY_BATCHED : INMEM_DURABILITY_NONE;
        agent a = {0};
        ck(inmem_db_open(d ? dir : NULL, &o, &a.db), "inmem_db_open");
        inmem_run_options ro;
        inmem_run_options_init(&ro);
        ro.agent = "bench";
        ck(inmem_run_begin_db(a.db, &ro, &a.run), "inmem_run_begin_db");
        for (int sa = 0; sa < 2; sa++) {
            a.standalone = sa;
            snprintf(a.prefix, sizeof a.prefix, "ev%d", sa);
            line(&a, "event append", 1, fn_event, ev_init, NULL, dn[d]);
            snprintf(a.prefix, sizeof a.prefix, "cl%d", sa);
            line(&a, "CAS claim", 2, fn_claim, claim_init, NULL, dn[d]);
            snprintf(a.prefix, sizeof a.prefix, "tr%d", sa);
            line(&a, "trace record", 1, fn_trace, tr_init, tr_finish, dn[d]);
        }
        ck(cmp_inmem_close(a.db), "inmem_db_close");
        rm_tree(dir);
    }
}
