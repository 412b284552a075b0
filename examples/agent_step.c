/*
 * agent_step.c — one agent step with every primitive in one transaction: claim a task (state
 * cell CAS), log the tool call (event), record the decision (trace), write the result (KV), and
 * end the run. If another agent claimed the task first, the commit fails and none of it happened.
 * docs/agents.md walks through it. Run: build/examples/agent_step [DIR]
 */
#include <stdio.h>
#include <string.h>

#include "inmem.h"

#define LIT(s) (s), (sizeof(s) - 1)

struct step {
    inmem_run_id run;
    uint64_t task_version; /* the version of the task cell we saw as "open" */
};

static int do_step(inmem_txn *txn, void *arg)
{
    struct step *s = arg;
    int rc;
    /* 1. claim: only if the task cell is still the version we saw */
    if ((rc = inmem_state_cas(txn, NULL, "task/42", s->task_version, LIT("claimed"))) != 0)
        return rc;
    /* 2. log the tool call in the run's history */
    if ((rc = inmem_event_append(txn, &s->run, "tools", "search_flights",
                                 LIT("{\"from\":\"MUC\",\"to\":\"LIS\"}"), NULL)) != 0)
        return rc;
    /* 3. record the decision with its confidence */
    inmem_span span;
    memset(&span, 0, sizeof span);
    span.kind = INMEM_TRACE_DECISION;
    strcpy(span.name, "pick-cheapest");
    span.input = "3 offers";
    span.input_len = 8;
    span.output = "LH1790";
    span.output_len = 6;
    span.confidence = 0.87;
    if ((rc = inmem_trace_record(txn, &s->run, &span, NULL)) != 0)
        return rc;
    /* 4. write the result to the run's memory */
    return inmem_kv_put(txn, &s->run, LIT("result"), LIT("LH1790"));
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "inmem-data";
    inmem_db *db;
    if (inmem_db_open(dir, NULL, &db) != 0) {
        fprintf(stderr, "open %s: %s\n", dir, inmem_errmsg());
        return 1;
    }
    struct step s;
    inmem_run_options ro;
    inmem_run_options_init(&ro);
    ro.agent = "booker";
    int rc = inmem_run_begin_db(db, &ro, &s.run);
    /* the shared task list: task/42 is open */
    if (rc == 0)
        rc = inmem_state_set_db(db, NULL, "task/42", LIT("open"), &s.task_version);
    if (rc == 0) /* the closure retries on conflict; a failed CAS is a conflict too, so give it
                  * one attempt: if someone else claimed the task, retrying cannot help */
    {
        inmem_retry_options once;
        inmem_retry_options_init(&once);
        once.max_attempts = 1;
        rc = inmem_db_transact(db, &once, do_step, &s);
    }
    if (rc == 0)
        rc = inmem_run_end_db(db, &s.run, INMEM_RUN_COMPLETED);
    char id[INMEM_RUN_ID_STRLEN + 1];
    inmem_run_id_format(&s.run, id);
    if (rc == 0) {
        inmem_stream_info si;
        inmem_event_stream_info_db(db, &s.run, "tools", &si);
        void *result = NULL;
        size_t len = 0;
        inmem_get(db, &s.run, LIT("result"), &result, &len, NULL);
        printf("run %s: task claimed, %llu tool call(s) logged, result %.*s, run completed\n", id,
               (unsigned long long)si.length, (int)len, (const char *)result);
        inmem_free(result);
    } else {
        printf("run %s: step failed: %s\n", id, inmem_strerror(rc));
    }
    inmem_db_close(db);
    return rc == 0 ? 0 : 1;
}
