/*
 * bench_prims.c — the agent primitives: KV put/get, event append (one and a batch of 16), state
 * cell CAS, trace record; each standalone (its own transaction) and inside an explicit
 * transaction, with durability none and batched, one thread. Rates are operations per second
 * measured over a fixed time; every row checks its result afterwards (counts, stream length,
 * final cell version) so a broken primitive cannot post a number.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "inmem.h"

static void check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "bench_prims: %s: %s (%s)\n", what, inmem_strerror(rc), inmem_errmsg());
        exit(1);
    }
}

typedef struct ctx {
    inmem_db *db;
    inmem_run_id run;
    uint64_t i;
    uint64_t cell_version;
    int in_txn;
} ctx;

static const char VAL[100] = "value-of-one-hundred-bytes";

/* Each op does one primitive operation, standalone or in its own explicit transaction. */
typedef void (*op_fn)(ctx *c);

static void with_txn(ctx *c, int (*body)(inmem_txn *, void *))
{
    inmem_txn *t;
    check(inmem_txn_begin(c->db, &t), "begin");
    check(body(t, c), "op in txn");
    check(inmem_txn_commit(t), "commit");
    inmem_txn_free(t);
}

static int kv_put_body(inmem_txn *t, void *arg)
{
    ctx *c = arg;
    char k[16];
    snprintf(k, sizeof k, "k%07" PRIu64, c->i % 100000);
    return inmem_kv_put(t, &c->run, k, 8, VAL, sizeof VAL);
}

static void op_kv_put(ctx *c)
{
    if (c->in_txn) {
        with_txn(c, kv_put_body);
    } else {
        char k[16];
        snprintf(k, sizeof k, "k%07" PRIu64, c->i % 100000);
        check(inmem_put(c->db, &c->run, k, 8, VAL, sizeof VAL, NULL), "put");
    }
}

static int kv_get_body(inmem_txn *t, void *arg)
{
    ctx *c = arg;
    char k[16];
    snprintf(k, sizeof k, "k%07" PRIu64, (c->i * 7919) % 100000);
    const void *v;
    size_t n;
    int rc = inmem_kv_get(t, &c->run, k, 8, &v, &n, NULL);
    return rc == 0 && n != sizeof VAL ? INMEM_ECORRUPT : rc;
}

static void op_kv_get(ctx *c)
{
    if (c->in_txn) {
        with_txn(c, kv_get_body);
    } else {
        char k[16];
        snprintf(k, sizeof k, "k%07" PRIu64, (c->i * 7919) % 100000);
        void *v;
        size_t n;
        check(inmem_get(c->db, &c->run, k, 8, &v, &n, NULL), "get");
        inmem_free(v);
    }
}

static int append_body(inmem_txn *t, void *arg)
{
    ctx *c = arg;
    return inmem_event_append(t, &c->run, "history", "tool_call", VAL, sizeof VAL, NULL);
}

static void op_append(ctx *c)
{
    if (c->in_txn)
        with_txn(c, append_body);
    else
        check(inmem_event_append_db(c->db, &c->run, "history", "tool_call", VAL, sizeof VAL, NULL),
              "append");
}

static inmem_event_in BATCH[16];

static int batch_body(inmem_txn *t, void *arg)
{
    ctx *c = arg;
    return inmem_event_append_batch(t, &c->run, "batched", 16, BATCH, NULL);
}

static void op_batch(ctx *c)
{
    if (c->in_txn)
        with_txn(c, batch_body);
    else
        check(inmem_event_append_batch_db(c->db, &c->run, "batched", 16, BATCH, NULL), "batch");
}

static int cas_body(inmem_txn *t, void *arg)
{
    ctx *c = arg;
    return inmem_state_cas(t, &c->run, "cursor", c->cell_version, VAL, 8);
}

static void op_cas(ctx *c)
{
    if (c->in_txn) {
        inmem_txn *t;
        check(inmem_txn_begin(c->db, &t), "begin");
        check(cas_body(t, c), "cas");
        check(inmem_txn_commit(t), "commit");
        inmem_txn_info info;
        inmem_txn_describe(t, &info);
        c->cell_version = info.commit_version;
        inmem_txn_free(t);
    } else {
        check(
            inmem_state_cas_db(c->db, &c->run, "cursor", c->cell_version, VAL, 8, &c->cell_version),
            "cas");
    }
}

/* The span every trace row records. */
static void make_span(const ctx *c, inmem_span *s)
{
    memset(s, 0, sizeof *s);
    s->kind = INMEM_TRACE_TOOL_CALL;
    strcpy(s->name, "search");
    s->input = VAL;
    s->input_len = 50;
    s->output = VAL;
    s->output_len = 50;
    s->confidence = 0.5;
    s->start_ms = 1000 + c->i;
    s->ntags = 1;
    strcpy(s->tags[0], "web");
}

static int trace_body(inmem_txn *t, void *arg)
{
    ctx *c = arg;
    inmem_span s;
    make_span(c, &s);
    return inmem_trace_record(t, &c->run, &s, NULL);
}

static void op_trace(ctx *c)
{
    if (c->in_txn) {
        with_txn(c, trace_body);
    } else {
        inmem_span s;
        make_span(c, &s);
        check(inmem_trace_record_db(c->db, &c->run, &s, NULL), "trace");
    }
}

static double timed(op_fn op, ctx *c, uint64_t dur_ns, uint64_t *count)
{
    uint64_t t0 = bench_now_ns(), end = t0 + dur_ns, n = 0;
    while (bench_now_ns() < end)
        for (int k = 0; k < 64; k++, n++) {
            c->i = n;
            op(c);
        }
    *count = n;
    return (double)n / ((double)(bench_now_ns() - t0) / 1e9);
}

void bench_prims(int full)
{
    uint64_t dur = full ? 2000000000ull : 500000000ull;
    for (int i = 0; i < 16; i++)
        BATCH[i] = (inmem_event_in){"step", VAL, sizeof VAL};
    static const struct {
        const char *name;
        op_fn op;
    } rows[] = {
        {"kv put", op_kv_put},       {"kv get", op_kv_get},
        {"event append", op_append}, {"event append x16 (batch)", op_batch},
        {"state cell CAS", op_cas},  {"trace record", op_trace},
    };
    printf("\nagent primitives, 1 thread (ops/s; one op = one call, its own commit)\n");
    printf("%-26s %14s %14s %14s %14s\n", "operation", "none", "none in txn", "batched",
           "batched in txn");
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        printf("%-26s", rows[r].name);
        for (int mode = 0; mode < 2; mode++)
            for (int in_txn = 0; in_txn < 2; in_txn++) {
                char dir[256];
                bench_tmp_dir(dir, sizeof dir);
                inmem_options o;
                inmem_options_init(&o);
                o.durability = mode ? INMEM_DURABILITY_BATCHED : INMEM_DURABILITY_NONE;
                ctx c = {.in_txn = in_txn};
                check(inmem_db_open(mode ? dir : NULL, &o, &c.db), "open");
                check(inmem_run_id_new(&c.run), "run id");
                if (rows[r].op == op_kv_get)
                    for (uint64_t k = 0; k < 100000; k++) {
                        c.i = k;
                        c.in_txn = 0;
                        op_kv_put(&c);
                    }
                c.in_txn = in_txn;
                uint64_t n;
                double rate = timed(rows[r].op, &c, dur, &n);
                /* each row's own check */
                if (rows[r].op == op_append || rows[r].op == op_batch) {
                    inmem_stream_info si;
                    check(inmem_event_stream_info_db(
                              c.db, &c.run, rows[r].op == op_append ? "history" : "batched", &si),
                          "stream info");
                    if (si.length != n * (rows[r].op == op_batch ? 16 : 1)) {
                        fprintf(stderr,
                                "bench_prims: stream length %" PRIu64 ", expected %" PRIu64 "\n",
                                si.length, n);
                        exit(1);
                    }
                } else if (rows[r].op == op_cas) {
                    uint64_t v;
                    check(inmem_state_get_db(c.db, &c.run, "cursor", NULL, NULL, &v), "get cell");
                    if (v != c.cell_version) {
                        fprintf(stderr, "bench_prims: cell version mismatch\n");
                        exit(1);
                    }
                } else if (rows[r].op != op_kv_get) {
                    inmem_stats s;
                    inmem_db_stats(c.db, &s);
                    if (s.commits < n) {
                        fprintf(stderr, "bench_prims: %" PRIu64 " commits for %" PRIu64 " ops\n",
                                s.commits, n);
                        exit(1);
                    }
                }
                printf(" %14.0f", rate);
                fflush(stdout);
                check(bench_close(c.db), "close");
                bench_rm_dir(dir);
            }
        printf("\n");
    }
}
