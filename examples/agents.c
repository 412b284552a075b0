/*
 * agents.c — the multi-agent demo: what inmem is for, in one program.
 *
 * A coordinator puts a batch of tasks in a queue held in state cells of the shared scope. Agent
 * threads, each in its own run, claim tasks by compare-and-swap on the task's cell, "call a
 * tool" for each (a short sleep), record the decision and the tool call as a trace (a decision
 * span with the tool call as its child), append events, write the result to the run's KV, and
 * mark the task done, all of it in one transaction, so that a task is either done with all its
 * records or not at all. At the end the program prints a report (tasks per agent, conflicts and
 * retries seen, runs created) and checks that every task ever queued was done exactly once.
 *
 * State (shared scope, state cells):
 *   queue/batches           "B": batches created so far
 *   queue/batch/NNNN        "N": tasks in batch NNNN
 *   task/NNNN/MMMM          "open" | "claimed AGENT RUN" | "done AGENT RUN"
 *   queue/done              "N": tasks done, counted by the transaction that finishes each
 * Per agent run: KV result/NNNN/MMMM, event streams "tasks" (claimed, done) and "log", spans.
 *
 * Running it again on the same directory continues from the persisted state: it finishes an
 * unfinished batch, or adds a new one. Kill it with SIGKILL mid-way and run it again: the open
 * shows what recovery did, the runs the killed process left active are marked failed, the tasks
 * they had claimed but not finished go back to "open", and the exactly-once check still passes.
 *
 * Usage: agents [DIR] [--agents N] [--tasks N] [--delay-ms MS]      (make demo-agents)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inmem.h"

#define APP        "agents-demo"
#define MAX_AGENTS 64
#define TAKEN      1 /* a transaction body's result: the task is not open any more */
#define LOST       2 /* the task is no longer ours (never happens with one process) */

static inmem_db *db;
static unsigned nagents = 4, batch_size = 40, delay_ms = 1;
static inmem_run_id coordinator;

struct task {
    unsigned batch, index;
};
static struct task *tasks; /* the tasks of this invocation's batches, in queue order */
static size_t ntasks;

struct agent {
    pthread_t thread;
    unsigned no;
    char name[24];
    inmem_run_id run;
    unsigned done;
    int rc;
};

static void die(const char *what, int rc)
{
    /* inmem_errmsg() holds the thread's last detailed error: use it if it is about this one */
    const char *msg = inmem_errmsg(), *desc = inmem_strerror(rc);
    if (strncmp(msg, desc, strlen(desc)) != 0)
        msg = desc;
    fprintf(stderr, "agents: %s: %s\n", what, msg);
    exit(1);
}

static void task_name(const struct task *t, char *buf, size_t size)
{
    snprintf(buf, size, "task/%04u/%04u", t->batch, t->index);
}

static unsigned read_uint(inmem_txn *txn, const char *cell, uint64_t *version)
{
    const void *v;
    size_t len;
    char buf[24];
    *version = 0;
    if (inmem_state_get(txn, NULL, cell, &v, &len, version) != 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return (unsigned)strtoul(buf, NULL, 10);
}

/* ---- one agent ---------------------------------------------------------------------------- */

struct step {
    struct agent *a;
    const struct task *t;
    char cell[32], mine[80], result[96];
};

/* Claim: the task's cell must still be "open" at the version read (CAS), and the claim is
 * logged in the run's "tasks" stream in the same transaction. */
static int claim(inmem_txn *txn, void *arg)
{
    struct step *s = arg;
    const void *v;
    size_t len;
    uint64_t ver;
    int rc = inmem_state_get(txn, NULL, s->cell, &v, &len, &ver);
    if (rc)
        return rc;
    if (len != 4 || memcmp(v, "open", 4) != 0)
        return TAKEN;
    /* the agent reads the task and decides to take it: others may claim it meanwhile */
    struct timespec think = {0, 200 * 1000L};
    nanosleep(&think, NULL);
    if ((rc = inmem_state_cas(txn, NULL, s->cell, ver, s->mine, strlen(s->mine))) != 0)
        return rc;
    return inmem_event_append(txn, &s->a->run, "tasks", "claimed", s->cell, strlen(s->cell), NULL);
}

/* Finish: the decision and the tool call as spans, the "done" event, the result in KV, and the
 * cell moved from our claim to done — one transaction. */
static int finish(inmem_txn *txn, void *arg)
{
    struct step *s = arg;
    const void *v;
    size_t len;
    uint64_t ver;
    int rc = inmem_state_get(txn, NULL, s->cell, &v, &len, &ver);
    if (rc)
        return rc;
    if (len != strlen(s->mine) || memcmp(v, s->mine, len) != 0)
        return LOST;

    inmem_span decision, call;
    memset(&decision, 0, sizeof decision);
    decision.kind = INMEM_TRACE_DECISION;
    strcpy(decision.name, "plan_task");
    decision.input = s->cell;
    decision.input_len = strlen(s->cell);
    decision.output = "fetch_document";
    decision.output_len = 14;
    decision.confidence = 0.5 + (double)((s->t->index * 7 + s->t->batch) % 50) / 100.0;
    decision.duration_us = 200; /* the "thinking" before the claim */
    strcpy(decision.tags[0], s->a->name);
    decision.ntags = 1;
    inmem_run_id did;
    if ((rc = inmem_trace_record(txn, &s->a->run, &decision, &did)) != 0)
        return rc;
    memset(&call, 0, sizeof call);
    call.kind = INMEM_TRACE_TOOL_CALL;
    call.parent = did;
    strcpy(call.name, "fetch_document");
    call.input = s->cell;
    call.input_len = strlen(s->cell);
    call.output = s->result;
    call.output_len = strlen(s->result);
    call.confidence = 1.0;
    call.duration_us = (uint64_t)delay_ms * 1000u;
    strcpy(call.tags[0], "tool");
    call.ntags = 1;
    if ((rc = inmem_trace_record(txn, &s->a->run, &call, NULL)) != 0)
        return rc;

    if ((rc = inmem_event_append(txn, &s->a->run, "tasks", "done", s->cell, strlen(s->cell),
                                 NULL)) != 0)
        return rc;
    char key[40];
    snprintf(key, sizeof key, "result/%04u/%04u", s->t->batch, s->t->index);
    if ((rc = inmem_kv_put(txn, &s->a->run, key, strlen(key), s->result, strlen(s->result))) != 0)
        return rc;
    /* the queue's progress counter: a hot cell every finishing agent reads and rewrites, so
     * concurrent finishes conflict and are retried */
    uint64_t cver;
    char count[16];
    snprintf(count, sizeof count, "%u", read_uint(txn, "queue/done", &cver) + 1);
    if ((rc = inmem_state_set(txn, NULL, "queue/done", count, strlen(count))) != 0)
        return rc;
    char done[80];
    snprintf(done, sizeof done, "done%s", s->mine + 7); /* "claimed X R" -> "done X R" */
    return inmem_state_cas(txn, NULL, s->cell, ver, done, strlen(done));
}

static void *agent_main(void *arg)
{
    struct agent *a = arg;
    inmem_run_options ro;
    inmem_run_options_init(&ro);
    const char *tags[] = {"demo"};
    ro.parent = &coordinator;
    ro.app = APP;
    ro.agent = a->name;
    ro.tags = tags;
    ro.ntags = 1;
    if ((a->rc = inmem_run_begin_db(db, &ro, &a->run)) != 0)
        return NULL;
    char id[INMEM_RUN_ID_STRLEN + 1];
    inmem_run_id_format(&a->run, id);
    inmem_event_append_db(db, &a->run, "log", "start", a->name, strlen(a->name), NULL);

    inmem_retry_options retry;
    inmem_retry_options_init(&retry);
    retry.max_attempts = 100;
    for (size_t i = 0; i < ntasks; i++) {
        struct step s;
        s.a = a;
        s.t = &tasks[i];
        task_name(s.t, s.cell, sizeof s.cell);
        snprintf(s.mine, sizeof s.mine, "claimed %s %s", a->name, id);
        int rc = inmem_db_transact(db, &retry, claim, &s);
        if (rc == TAKEN)
            continue;
        if (rc) {
            a->rc = rc;
            return NULL;
        }
        /* the tool call: fetch the document (here: a short sleep and a made-up digest) */
        struct timespec ts = {0, (long)delay_ms * 1000000L};
        nanosleep(&ts, NULL);
        snprintf(s.result, sizeof s.result, "summary of document %u-%u: %08x", s.t->batch,
                 s.t->index, (s.t->batch * 2654435761u) ^ (s.t->index * 40503u));
        if ((rc = inmem_db_transact(db, &retry, finish, &s)) != 0) {
            a->rc = rc;
            return NULL;
        }
        a->done++;
    }
    char msg[32];
    snprintf(msg, sizeof msg, "%u tasks", a->done);
    inmem_event_append_db(db, &a->run, "log", "end", msg, strlen(msg), NULL);
    a->rc = inmem_run_end_db(db, &a->run, INMEM_RUN_COMPLETED);
    return NULL;
}

/* ---- the queue ---------------------------------------------------------------------------- */

/* Marks runs left active by a killed process as failed. One process at a time opens the
 * directory, so at start every active demo run is abandoned. */
static unsigned fail_abandoned_runs(void)
{
    inmem_run_filter f;
    memset(&f, 0, sizeof f);
    f.app = APP;
    f.status = INMEM_RUN_ACTIVE;
    inmem_run_id page[64];
    size_t n;
    unsigned count = 0;
    do {
        int rc = inmem_run_list_db(db, &f, NULL, 64, page, &n);
        if (rc)
            die("list runs", rc);
        for (size_t i = 0; i < n; i++) {
            if ((rc = inmem_run_end_db(db, &page[i], INMEM_RUN_FAILED)) != 0)
                die("mark an abandoned run failed", rc);
            count++;
        }
    } while (n == 64); /* ended runs leave the filter: list again from the start */
    return count;
}

/* Reads the queue: puts claimed-but-unfinished tasks back to "open", and collects the tasks of
 * the batches that still have open ones. @return the number of batches. */
static unsigned scan_queue(unsigned *requeued, unsigned *open_tasks)
{
    inmem_txn *txn;
    uint64_t ver;
    int rc = inmem_txn_begin(db, &txn);
    if (rc)
        die("begin", rc);
    unsigned batches = read_uint(txn, "queue/batches", &ver);
    size_t cap = 0;
    *requeued = *open_tasks = 0;
    for (unsigned b = 0; b < batches; b++) {
        char cell[32];
        snprintf(cell, sizeof cell, "queue/batch/%04u", b);
        unsigned size = read_uint(txn, cell, &ver), open = 0;
        for (unsigned i = 0; i < size; i++) {
            struct task t = {b, i};
            const void *v;
            size_t len;
            task_name(&t, cell, sizeof cell);
            if ((rc = inmem_state_get(txn, NULL, cell, &v, &len, &ver)) != 0)
                die("read a task", rc);
            if (len > 8 && memcmp(v, "claimed ", 8) == 0) {
                if ((rc = inmem_state_cas_db(db, NULL, cell, ver, "open", 4, NULL)) != 0)
                    die("requeue a task", rc);
                ++*requeued;
                open++;
            } else if (len == 4 && memcmp(v, "open", 4) == 0) {
                open++;
            }
        }
        if (!open)
            continue;
        *open_tasks += open;
        if (ntasks + size > cap) {
            cap = (ntasks + size) * 2;
            if (!(tasks = realloc(tasks, cap * sizeof *tasks)))
                die("memory", INMEM_ENOMEM);
        }
        for (unsigned i = 0; i < size; i++)
            tasks[ntasks++] = (struct task){b, i};
    }
    inmem_txn_free(txn);
    return batches;
}

struct new_batch {
    unsigned batch;
};

static int create_batch(inmem_txn *txn, void *arg)
{
    struct new_batch *nb = arg;
    uint64_t ver;
    nb->batch = read_uint(txn, "queue/batches", &ver);
    char cell[32], val[16];
    int rc = 0;
    for (unsigned i = 0; i < batch_size && !rc; i++) {
        struct task t = {nb->batch, i};
        task_name(&t, cell, sizeof cell);
        rc = inmem_state_set(txn, NULL, cell, "open", 4);
    }
    snprintf(cell, sizeof cell, "queue/batch/%04u", nb->batch);
    snprintf(val, sizeof val, "%u", batch_size);
    if (!rc)
        rc = inmem_state_set(txn, NULL, cell, val, strlen(val));
    snprintf(val, sizeof val, "%u", nb->batch + 1);
    if (!rc)
        rc = inmem_state_cas(txn, NULL, "queue/batches", ver, val, strlen(val));
    if (!rc)
        rc =
            inmem_event_append(txn, &coordinator, "log", "batch_created", cell, strlen(cell), NULL);
    return rc;
}

/* ---- the exactly-once check ------------------------------------------------------------- */

/* Every task of every batch must be "done" by a run that holds its result, and no run may hold
 * a result of a task done by another: each task done exactly once. Also checks the event
 * chains of every demo run. @return 0 if everything checks. */
static int check_exactly_once(unsigned *total_tasks, unsigned *batches_out, unsigned *streams,
                              unsigned *runs_total)
{
    inmem_txn *txn;
    uint64_t ver;
    int rc = inmem_txn_begin(db, &txn), bad = 0;
    if (rc)
        die("begin", rc);
    unsigned batches = read_uint(txn, "queue/batches", &ver);
    unsigned *sizes = calloc(batches + 1, sizeof *sizes), total = 0;
    for (unsigned b = 0; b < batches; b++) {
        char cell[32];
        snprintf(cell, sizeof cell, "queue/batch/%04u", b);
        sizes[b] = read_uint(txn, cell, &ver);
        total += sizes[b];
    }
    unsigned *count = calloc(total + 1, sizeof *count);
    unsigned *base = calloc(batches + 1, sizeof *base);
    for (unsigned b = 1; b < batches; b++)
        base[b] = base[b - 1] + sizes[b - 1];

    /* results in every demo run */
    inmem_run_filter f;
    memset(&f, 0, sizeof f);
    f.app = APP;
    inmem_run_id page[64], cursor;
    size_t n;
    unsigned nruns = 0;
    *streams = 0;
    do {
        if ((rc = inmem_run_list(txn, &f, nruns ? &cursor : NULL, 64, page, &n)) != 0)
            die("list runs", rc);
        for (size_t r = 0; r < n; r++) {
            char id[INMEM_RUN_ID_STRLEN + 1];
            inmem_run_id_format(&page[r], id);
            inmem_kv_entry kv[128];
            const void *after = NULL;
            size_t alen = 0, k;
            do {
                rc = inmem_kv_list(txn, &page[r], "result/", 7, after, alen, 128, kv, &k);
                if (rc)
                    die("list results", rc);
                for (size_t i = 0; i < k; i++) {
                    unsigned b, t;
                    char key[40];
                    snprintf(key, sizeof key, "%.*s", (int)kv[i].klen, (const char *)kv[i].key);
                    if (sscanf(key, "result/%u/%u", &b, &t) != 2 || b >= batches || t >= sizes[b]) {
                        printf("  unexpected result key %s in run %s\n", key, id);
                        bad = 1;
                        continue;
                    }
                    count[base[b] + t]++;
                    /* the task's cell must name this run */
                    char cell[32];
                    const void *v;
                    size_t len;
                    struct task tk = {b, t};
                    task_name(&tk, cell, sizeof cell);
                    if (inmem_state_get(txn, NULL, cell, &v, &len, &ver) != 0 || len < 36 ||
                        memcmp((const char *)v + len - 36, id, 36) != 0) {
                        printf("  %s: result in run %s, but the task's cell says otherwise\n", cell,
                               id);
                        bad = 1;
                    }
                }
                if (k)
                    after = kv[k - 1].key, alen = kv[k - 1].klen;
            } while (k == 128);
            static const char *const names[] = {"tasks", "log"};
            for (int s = 0; s < 2; s++) {
                uint64_t broken = 0;
                inmem_stream_info si;
                if (inmem_event_stream_info(txn, &page[r], names[s], &si) != 0 || !si.length)
                    continue;
                if (inmem_event_verify(txn, &page[r], names[s], &broken) != 0 || broken) {
                    printf("  run %s: stream %s: hash chain broken at %llu\n", id, names[s],
                           (unsigned long long)broken);
                    bad = 1;
                }
                ++*streams;
            }
        }
        nruns += (unsigned)n;
        if (n)
            cursor = page[n - 1];
    } while (n == 64);

    for (unsigned b = 0; b < batches; b++)
        for (unsigned t = 0; t < sizes[b]; t++) {
            unsigned c = count[base[b] + t];
            char cell[32];
            const void *v;
            size_t len;
            struct task tk = {b, t};
            task_name(&tk, cell, sizeof cell);
            int done = inmem_state_get(txn, NULL, cell, &v, &len, &ver) == 0 && len > 5 &&
                       memcmp(v, "done ", 5) == 0;
            int open = !done && len == 4 && memcmp(v, "open", 4) == 0;
            if (c > 1 || (done && c != 1) || (!done && !open) || (open && c)) {
                printf("  %s: done %u times (cell: %.*s)\n", cell, c, (int)len, (const char *)v);
                bad = 1;
            } else if (!done) {
                printf("  %s: still open\n", cell);
                bad = 1;
            }
        }
    unsigned counted = read_uint(txn, "queue/done", &ver);
    if (counted != total) {
        printf("  queue/done counts %u finished tasks, the queue has %u\n", counted, total);
        bad = 1;
    }
    inmem_txn_free(txn);
    free(sizes);
    free(count);
    free(base);
    *total_tasks = total;
    *batches_out = batches;
    *runs_total = nruns;
    return bad;
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(void)
{
    printf("usage: agents [DIR] [--agents N] [--tasks N] [--delay-ms MS]\n"
           "Agents in threads claim tasks from a queue in DIR (default agents-data) exactly once.\n"
           "  --agents N     agent threads (default 4, at most %d)\n"
           "  --tasks N      tasks in a new batch (default 40)\n"
           "  --delay-ms MS  length of each simulated tool call (default 1)\n"
           "Run it again to continue; kill it (SIGKILL) and run it again to see recovery.\n",
           MAX_AGENTS);
}

static unsigned arg_uint(const char *opt, const char *s, unsigned lo, unsigned hi)
{
    char *end;
    unsigned long v = s ? strtoul(s, &end, 10) : 0;
    if (!s || *end || v < lo || v > hi) {
        fprintf(stderr, "agents: %s needs a number from %u to %u\n", opt, lo, hi);
        exit(2);
    }
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    const char *dir = "agents-data";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--agents") == 0)
            nagents = arg_uint("--agents", i + 1 < argc ? argv[++i] : NULL, 1, MAX_AGENTS);
        else if (strcmp(argv[i], "--tasks") == 0)
            batch_size = arg_uint("--tasks", i + 1 < argc ? argv[++i] : NULL, 1, 9999);
        else if (strcmp(argv[i], "--delay-ms") == 0)
            delay_ms = arg_uint("--delay-ms", i + 1 < argc ? argv[++i] : NULL, 0, 10000);
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "agents: unknown option %s (see --help)\n", argv[i]);
            return 2;
        } else
            dir = argv[i];
    }

    int rc = inmem_db_open(dir, NULL, &db);
    if (rc)
        die(dir, rc);
    inmem_recovery_info ri;
    inmem_db_recovery(db, &ri);
    printf("inmem multi-agent demo on %s\n", dir);
    if (ri.segments == 0)
        printf("recovery: a new database (no log yet)\n");
    else
        printf("recovery: %llu segment(s), %llu bytes of log, %llu transactions replayed to "
               "version %llu in %.1f ms\n",
               (unsigned long long)ri.segments, (unsigned long long)ri.bytes,
               (unsigned long long)ri.txns_applied, (unsigned long long)ri.version,
               (double)ri.time_us / 1000.0);
    if (ri.txns_discarded)
        printf("recovery: %llu incomplete transaction(s) discarded (a crash mid-commit)\n",
               (unsigned long long)ri.txns_discarded);
    if (ri.torn_tail)
        printf("recovery: torn tail cut at %s offset %llu (the end of a crash)\n", ri.tail_file,
               (unsigned long long)ri.tail_offset);

    /* continue from what is on disk */
    unsigned abandoned = fail_abandoned_runs(), requeued, open_tasks;
    unsigned batches = scan_queue(&requeued, &open_tasks);
    if (abandoned || requeued)
        printf("recovered: %u run(s) left active by an earlier process marked failed, %u claimed "
               "task(s) put back in the queue\n",
               abandoned, requeued);

    inmem_run_options ro;
    inmem_run_options_init(&ro);
    const char *tags[] = {"demo"};
    ro.app = APP;
    ro.agent = "coordinator";
    ro.tags = tags;
    ro.ntags = 1;
    if ((rc = inmem_run_begin_db(db, &ro, &coordinator)) != 0)
        die("begin the coordinator's run", rc);
    char msg[96];
    snprintf(msg, sizeof msg, "abandoned=%u requeued=%u", abandoned, requeued);
    inmem_event_append_db(db, &coordinator, "log", "start", msg, strlen(msg), NULL);

    if (open_tasks) {
        printf("resuming: %u open task(s) from earlier batches, %u agents\n", open_tasks, nagents);
    } else {
        struct new_batch nb;
        if ((rc = inmem_db_transact(db, NULL, create_batch, &nb)) != 0)
            die("create a batch", rc);
        printf("batch %u: %u new tasks for %u agents (%u earlier batch%s done)\n", nb.batch,
               batch_size, nagents, batches, batches == 1 ? "" : "es");
        free(tasks);
        tasks = malloc(batch_size * sizeof *tasks);
        if (!tasks)
            die("memory", INMEM_ENOMEM);
        for (unsigned i = 0; i < batch_size; i++)
            tasks[i] = (struct task){nb.batch, i};
        ntasks = batch_size;
    }
    fflush(stdout);

    struct agent agents[MAX_AGENTS];
    memset(agents, 0, sizeof agents);
    for (unsigned i = 0; i < nagents; i++) {
        agents[i].no = i + 1;
        snprintf(agents[i].name, sizeof agents[i].name, "agent-%u", i + 1);
        if (pthread_create(&agents[i].thread, NULL, agent_main, &agents[i]) != 0)
            die("start a thread", INMEM_ENOMEM);
    }
    unsigned done = 0;
    int failed = 0;
    for (unsigned i = 0; i < nagents; i++) {
        pthread_join(agents[i].thread, NULL);
        char id[INMEM_RUN_ID_STRLEN + 1];
        inmem_run_id_format(&agents[i].run, id);
        printf("  %-9s %3u task%s  run %s%s%s\n", agents[i].name, agents[i].done,
               agents[i].done == 1 ? " " : "s", id, agents[i].rc ? "  FAILED: " : "",
               agents[i].rc ? inmem_strerror(agents[i].rc) : "");
        done += agents[i].done;
        failed |= agents[i].rc != 0;
    }
    snprintf(msg, sizeof msg, "%u tasks done", done);
    inmem_event_append_db(db, &coordinator, "log", "end", msg, strlen(msg), NULL);
    inmem_run_end_db(db, &coordinator, failed ? INMEM_RUN_FAILED : INMEM_RUN_COMPLETED);

    inmem_stats st;
    inmem_db_stats(db, &st);
    printf("conflicts: %llu (%llu on a CAS, %llu on a read) and %llu retries, in %llu commits\n",
           (unsigned long long)(st.aborts_cas_conflict + st.aborts_read_conflict),
           (unsigned long long)st.aborts_cas_conflict, (unsigned long long)st.aborts_read_conflict,
           (unsigned long long)st.retries, (unsigned long long)st.commits);
    unsigned total, nbatches, streams, nruns;
    int bad = check_exactly_once(&total, &nbatches, &streams, &nruns);
    printf("runs: %u created now (a coordinator and %u agents), %u in the database\n", nagents + 1,
           nagents, nruns);
    if (bad || failed)
        printf("exactly-once check: FAILED\n");
    else
        printf("exactly-once check: OK: %u tasks in %u batch%s, each done exactly once; %u event "
               "streams intact\n",
               total, nbatches, nbatches == 1 ? "" : "es", streams);
    free(tasks);
    if ((rc = inmem_db_close(db)) != 0)
        die("close", rc);
    return bad || failed ? 1 : 0;
}
