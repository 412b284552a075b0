/*
 * quickstart.c — a first tour of inmem: a few agent threads share a task list held in the
 * database. Each claims tasks with compare-and-swap, records its result and bumps a shared
 * counter in one closure transaction (retried automatically on conflict), and at the end the
 * program scans the results and checks that every task was done exactly once.
 *
 * Build and run: make demo
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inmem.h"

#define TASKS  200
#define AGENTS 4

static inmem_db *db;
static inmem_run_id run; /* this invocation's run: its scope */

static void check(int rc, const char *what)
{
    if (rc != 0 && rc != INMEM_NOTFOUND) {
        fprintf(stderr, "%s: %s\n", what, inmem_strerror(rc));
        exit(1);
    }
}

struct claim {
    int agent, task;
};

/* One transaction: claim the task (CAS on its state), write the result, count it. */
static int do_task(inmem_txn *txn, void *arg)
{
    struct claim *c = arg;
    char key[32], val[64];
    snprintf(key, sizeof key, "task/%03d", c->task);
    uint64_t ver;
    const void *state;
    size_t n;
    int rc = inmem_kv_get(txn, &run, key, strlen(key), &state, &n, &ver);
    if (rc != 0)
        return rc;
    if (n != 4 || memcmp(state, "open", 4) != 0)
        return INMEM_NOTFOUND; /* someone else did it: abort, nothing written */
    if ((rc = inmem_kv_cas(txn, &run, key, strlen(key), ver, "done", 4)) != 0)
        return rc;
    usleep(200); /* the agent's "tool call": other agents commit meanwhile */
    snprintf(val, sizeof val, "agent %d", c->agent);
    snprintf(key, sizeof key, "result/%03d", c->task);
    if ((rc = inmem_kv_put(txn, &run, key, strlen(key), val, strlen(val))) != 0)
        return rc;
    uint64_t done = 0;
    const void *cur;
    if (inmem_kv_get(txn, &run, "done", 4, &cur, &n, NULL) == 0 && n == sizeof done)
        memcpy(&done, cur, sizeof done);
    done++;
    return inmem_kv_put(txn, &run, "done", 4, &done, sizeof done);
}

static void *agent(void *arg)
{
    int id = (int)(intptr_t)arg, mine = 0;
    inmem_retry_options retry;
    inmem_retry_options_init(&retry);
    retry.max_attempts = 1000;
    for (int t = 0; t < TASKS; t++) {
        struct claim c = {id, (t + id * 37) % TASKS}; /* agents start at different places */
        int rc = inmem_db_transact(db, &retry, do_task, &c);
        if (rc == 0)
            mine++;
        else
            check(rc, "transact");
    }
    printf("agent %d completed %d tasks\n", id, mine);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "inmem-data";
    if (inmem_db_open(dir, NULL, &db) != 0) {
        fprintf(stderr, "cannot open %s: %s\n", dir, inmem_errmsg());
        return 1;
    }
    inmem_recovery_info rec;
    check(inmem_db_recovery(db, &rec), "recovery");
    printf("opened %s: recovered %llu transactions (%llu bytes of log) in %.1f ms%s\n", dir,
           (unsigned long long)rec.txns_applied, (unsigned long long)rec.bytes,
           rec.time_us / 1000.0, rec.torn_tail ? ", torn tail truncated" : "");
    inmem_run_options ro; /* every run that writes is begun, so that tools can list it */
    inmem_run_options_init(&ro);
    ro.app = "quickstart";
    check(inmem_run_begin_db(db, &ro, &run), "run begin");
    char rid[INMEM_RUN_ID_STRLEN + 1];
    inmem_run_id_format(&run, rid);
    printf("this run: %s\n", rid);
    for (int t = 0; t < TASKS; t++) {
        char key[32];
        snprintf(key, sizeof key, "task/%03d", t);
        check(inmem_put(db, &run, key, strlen(key), "open", 4, NULL), "put");
    }
    pthread_t th[AGENTS];
    for (int i = 0; i < AGENTS; i++)
        pthread_create(&th[i], NULL, agent, (void *)(intptr_t)i);
    for (int i = 0; i < AGENTS; i++)
        pthread_join(th[i], NULL);

    /* One snapshot over all results: every task done exactly once. */
    inmem_txn *txn;
    inmem_iter *it;
    check(inmem_txn_begin(db, &txn), "begin");
    check(inmem_kv_scan_prefix(txn, &run, "result/", 7, &it), "scan");
    int results = 0;
    while (inmem_iter_next(it, NULL, NULL, NULL, NULL, NULL) == 0)
        results++;
    const void *v;
    size_t n;
    uint64_t done = 0;
    check(inmem_kv_get(txn, &run, "done", 4, &v, &n, NULL), "get");
    memcpy(&done, v, sizeof done);
    inmem_iter_free(it);
    inmem_txn_free(txn);

    inmem_stats s;
    check(inmem_db_stats(db, &s), "stats");
    printf("results: %d, counter: %llu (expected %d each)\n", results, (unsigned long long)done,
           TASKS);
    printf("commits: %llu, conflicts: %llu read-set + %llu CAS, retries: %llu, version: %llu\n",
           (unsigned long long)s.commits, (unsigned long long)s.aborts_read_conflict,
           (unsigned long long)s.aborts_cas_conflict, (unsigned long long)s.retries,
           (unsigned long long)s.version);
    int passed = results == TASKS && done == TASKS;
    check(inmem_run_end_db(db, &run, passed ? INMEM_RUN_COMPLETED : INMEM_RUN_FAILED), "run end");
    check(inmem_db_close(db), "close");
    if (!passed) {
        fprintf(stderr, "exactly-once check FAILED\n");
        return 1;
    }
    printf("exactly-once check passed\n");
    return 0;
}
