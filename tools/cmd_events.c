/*
 * cmd_events.c — the event stream commands (event append/read/range/streams/verify) and the
 * state cell commands (state get/set/cas).
 *
 * Ranges page through sequence numbers inside one read transaction. A time range (--since,
 * --until) finds its first event with inmem_event_range_time() and then walks forward by
 * sequence number, which is also time order (an event's time never decreases in its stream).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define PAGE 256

/* ---- events ------------------------------------------------------------------------------ */

void cli_print_event(cli *c, const inmem_run_id *run, const char *stream, const inmem_event *e)
{
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_run(run));
        out_set_name(o, "stream", stream);
        json_object_set_new(o, "seq", json_u64(e->seq));
        json_object_set_new(o, "time_ms", json_u64(e->time_ms));
        out_set_name(o, "type", e->type);
        out_set_bytes(o, "payload", e->payload, e->payload_len);
        json_object_set_new(o, "prev_hash", json_hash(e->prev_hash));
        json_object_set_new(o, "hash", json_hash(e->hash));
        out_json(o);
        return;
    }
    char t[32];
    printf("#%llu  %s  ", (unsigned long long)e->seq, fmt_time(e->time_ms, t));
    out_name(stdout, e->type);
    fputs("  ", stdout);
    out_bytes(stdout, e->payload, e->payload_len);
    putchar('\n');
}

int cmd_event_append(cli *c, int argc, char **argv)
{
    char *pos[4];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (cli_args(c, "event append", argc, argv, NULL, 3, 4, pos, &np) ||
        cli_run(c, pos[0], &rb, &run) || cli_name(c, "STREAM", pos[1]) ||
        cli_name(c, "TYPE", pos[2]))
        return CMD_ERR;
    const char *payload = np > 3 ? pos[3] : "";
    uint64_t seq;
    int rc =
        c->txn ? inmem_event_append(c->txn, run, pos[1], pos[2], payload, strlen(payload), &seq)
               : inmem_event_append_db(c->db, run, pos[1], pos[2], payload, strlen(payload), &seq);
    if (rc)
        return cli_lib_error(c, rc, "event append");
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "seq", json_u64(seq));
        if (c->txn)
            json_object_set_new(o, "pending", json_true());
        out_json(o);
    } else {
        printf("seq %llu%s\n", (unsigned long long)seq, c->txn ? " (pending)" : "");
    }
    return CMD_OK;
}

int cmd_event_read(cli *c, int argc, char **argv)
{
    const char *raw;
    const cli_opt opts[] = {{"raw", 0, &raw, NULL, NULL, 0}, {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[3];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t seq;
    if (cli_args(c, "event read", argc, argv, opts, 3, 3, pos, &np) ||
        cli_run(c, pos[0], &rb, &run) || cli_name(c, "STREAM", pos[1]) ||
        cli_u64(c, "SEQ", pos[2], &seq))
        return CMD_ERR;
    if (raw && c->json)
        return cli_error(c, "event read: --raw and --json do not go together");
    inmem_txn *txn;
    int temp;
    if (cli_read_txn(c, &txn, &temp))
        return CMD_ERR;
    inmem_event e;
    int rc = inmem_event_get(txn, run, pos[1], seq, &e);
    if (rc == 0 && (raw || c->raw))
        out_raw(c, e.payload, e.payload_len);
    else if (rc == 0)
        cli_print_event(c, run, pos[1], &e);
    cli_read_done(txn, temp);
    if (rc == INMEM_NOTFOUND)
        return cli_error(c, "event read: stream %s of %s has no event %llu", clips(pos[1]), pos[0],
                         (unsigned long long)seq);
    return rc ? cli_lib_error(c, rc, "event read") : CMD_OK;
}

int cmd_event_range(cli *c, int argc, char **argv)
{
    const char *back, *limit_s, *since_s, *until_s;
    const cli_opt opts[] = {{"backward", 0, &back, NULL, NULL, 0},
                            {"limit", 1, &limit_s, NULL, NULL, 0},
                            {"since", 1, &since_s, NULL, NULL, 0},
                            {"until", 1, &until_s, NULL, NULL, 0},
                            {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[4];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t from = 1, to = 0, limit = UINT64_MAX, since = 0, until = 0;
    if (cli_args(c, "event range", argc, argv, opts, 2, 4, pos, &np) ||
        cli_run(c, pos[0], &rb, &run) || (np > 2 && cli_u64(c, "FROM", pos[2], &from)) ||
        (np > 3 && cli_u64(c, "TO", pos[3], &to)) ||
        (limit_s && cli_u64(c, "--limit", limit_s, &limit)) ||
        (since_s && cli_time(c, "--since", since_s, &since)) ||
        (until_s && cli_time(c, "--until", until_s, &until)))
        return CMD_ERR;
    if ((since_s || until_s) && back)
        return cli_error(c, "event range: --backward does not go with --since/--until");
    const char *stream = pos[1];
    if (cli_name(c, "STREAM", stream))
        return CMD_ERR;
    if (from == 0)
        from = 1;
    inmem_txn *txn;
    int temp;
    if (cli_read_txn(c, &txn, &temp))
        return CMD_ERR;
    inmem_event *ev = malloc(PAGE * sizeof *ev);
    uint64_t count = 0;
    size_t n;
    int rc = ev ? 0 : INMEM_ENOMEM, done = 0;
    if (!rc && (since_s || until_s)) { /* the first event at or after `since` */
        rc = inmem_event_range_time(txn, run, stream, since, until, 1, ev, &n);
        if (!rc && n == 0)
            done = 1;
        else if (!rc && ev[0].seq > from)
            from = ev[0].seq;
    }
    while (!rc && !done && count < limit) {
        size_t want = limit - count < PAGE ? (size_t)(limit - count) : PAGE;
        if (to && from > to)
            break;
        rc = inmem_event_range(txn, run, stream, from, to, back != NULL, want, ev, &n);
        if (rc)
            break;
        for (size_t i = 0; i < n && !done; i++) {
            if (until_s && ev[i].time_ms >= until) {
                done = 1;
                break;
            }
            cli_print_event(c, run, stream, &ev[i]);
            count++;
        }
        if (n < want)
            break;
        if (back) {
            if (ev[n - 1].seq <= from)
                break;
            to = ev[n - 1].seq - 1;
        } else {
            from = ev[n - 1].seq + 1;
        }
    }
    free(ev);
    cli_read_done(txn, temp);
    if (rc)
        return cli_lib_error(c, rc, "event range");
    if (!c->json)
        printf("(%llu event%s)\n", (unsigned long long)count, count == 1 ? "" : "s");
    return CMD_OK;
}

/* Calls @p fn for each stream of @p run (all names, paged). */
static int each_stream(inmem_txn *txn, const inmem_run_id *run,
                       int (*fn)(cli *, inmem_txn *, const inmem_run_id *, const char *, void *),
                       cli *c, void *arg)
{
    char(*names)[INMEM_NAME_MAX] = malloc(64 * sizeof *names);
    char last[INMEM_NAME_MAX] = "";
    size_t n;
    int rc = names ? 0 : INMEM_ENOMEM;
    while (!rc) {
        if ((rc = inmem_event_streams(txn, run, last[0] ? last : NULL, 64, names, &n)) != 0)
            break;
        for (size_t i = 0; i < n && !rc; i++)
            rc = fn(c, txn, run, names[i], arg);
        if (n < 64)
            break;
        memcpy(last, names[n - 1], INMEM_NAME_MAX);
    }
    free(names);
    return rc;
}

static int show_stream(cli *c, inmem_txn *txn, const inmem_run_id *run, const char *name, void *arg)
{
    inmem_stream_info si;
    int rc = inmem_event_stream_info(txn, run, name, &si);
    if (rc)
        return rc;
    ++*(uint64_t *)arg;
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_run(run));
        out_set_name(o, "stream", name);
        json_object_set_new(o, "length", json_u64(si.length));
        json_object_set_new(o, "head_hash", json_hash(si.head_hash));
        json_object_set_new(o, "first_ms", json_u64(si.first_ms));
        json_object_set_new(o, "last_ms", json_u64(si.last_ms));
        out_json(o);
    } else {
        char t1[32], t2[32];
        out_name(stdout, name);
        printf("  %llu event%s  head %016llx  %s .. %s\n", (unsigned long long)si.length,
               si.length == 1 ? "" : "s", (unsigned long long)si.head_hash,
               fmt_time(si.first_ms, t1), fmt_time(si.last_ms, t2));
    }
    return 0;
}

int cmd_event_streams(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (cli_args(c, "event streams", argc, argv, NULL, 1, 1, pos, &np) ||
        cli_run(c, pos[0], &rb, &run))
        return CMD_ERR;
    inmem_txn *txn;
    int temp;
    if (cli_read_txn(c, &txn, &temp))
        return CMD_ERR;
    uint64_t count = 0;
    int rc = each_stream(txn, run, show_stream, c, &count);
    cli_read_done(txn, temp);
    if (rc)
        return cli_lib_error(c, rc, "event streams");
    if (!c->json)
        printf("(%llu stream%s)\n", (unsigned long long)count, count == 1 ? "" : "s");
    return CMD_OK;
}

struct verify_count {
    uint64_t streams, broken;
};

static int verify_stream(cli *c, inmem_txn *txn, const inmem_run_id *run, const char *name,
                         void *arg)
{
    struct verify_count *vc = arg;
    inmem_stream_info si;
    uint64_t broken = 0;
    int rc = inmem_event_stream_info(txn, run, name, &si);
    if (rc == 0)
        rc = inmem_event_verify(txn, run, name, &broken);
    if (rc)
        return rc;
    vc->streams++;
    vc->broken += broken != 0;
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_run(run));
        out_set_name(o, "stream", name);
        json_object_set_new(o, "length", json_u64(si.length));
        json_object_set_new(o, "ok", json_boolean(broken == 0));
        json_object_set_new(o, "first_broken", json_u64(broken));
        out_json(o);
    } else if (broken) {
        out_name(stdout, name);
        printf(": BROKEN at seq %llu (of %llu)\n", (unsigned long long)broken,
               (unsigned long long)si.length);
    } else {
        out_name(stdout, name);
        printf(": ok (%llu event%s)\n", (unsigned long long)si.length, si.length == 1 ? "" : "s");
    }
    return 0;
}

int cmd_event_verify(cli *c, int argc, char **argv)
{
    char *pos[2];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (cli_args(c, "event verify", argc, argv, NULL, 1, 2, pos, &np) ||
        cli_run(c, pos[0], &rb, &run) || (np > 1 && cli_name(c, "STREAM", pos[1])))
        return CMD_ERR;
    inmem_txn *txn;
    int temp;
    if (cli_read_txn(c, &txn, &temp))
        return CMD_ERR;
    struct verify_count vc = {0, 0};
    int rc = np > 1 ? verify_stream(c, txn, run, pos[1], &vc)
                    : each_stream(txn, run, verify_stream, c, &vc);
    cli_read_done(txn, temp);
    if (rc)
        return cli_lib_error(c, rc, "event verify");
    if (vc.broken)
        return cli_error(c, "event verify: %llu of %llu stream%s broken",
                         (unsigned long long)vc.broken, (unsigned long long)vc.streams,
                         vc.streams == 1 ? "" : "s");
    return CMD_OK;
}

/* ---- state cells ------------------------------------------------------------------------- */

int cmd_state_get(cli *c, int argc, char **argv)
{
    const char *raw;
    const cli_opt opts[] = {{"raw", 0, &raw, NULL, NULL, 0}, {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[2];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (cli_args(c, "state get", argc, argv, opts, 2, 2, pos, &np) ||
        cli_run(c, pos[0], &rb, &run) || cli_name(c, "NAME", pos[1]))
        return CMD_ERR;
    if (raw && c->json)
        return cli_error(c, "state get: --raw and --json do not go together");
    const void *val;
    void *owned = NULL;
    size_t len;
    uint64_t ver;
    int rc;
    if (c->txn) {
        rc = inmem_state_get(c->txn, run, pos[1], &val, &len, &ver);
    } else {
        rc = inmem_state_get_db(c->db, run, pos[1], &owned, &len, &ver);
        val = owned;
    }
    if (rc == INMEM_NOTFOUND)
        return cli_error(c, "not found: state cell %s in %s", clips(pos[1]), pos[0]);
    if (rc)
        return cli_lib_error(c, rc, "state get %s", clips(pos[1]));
    if (raw || c->raw) {
        out_raw(c, val, len);
    } else if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_run(run));
        out_set_name(o, "name", pos[1]);
        out_set_bytes(o, "value", val, len);
        json_object_set_new(o, "version", json_u64(ver));
        out_json(o);
    } else {
        out_bytes(stdout, val, len);
        if (ver)
            printf("  (version %llu)\n", (unsigned long long)ver);
        else
            printf("  (pending)\n");
    }
    inmem_free(owned);
    return CMD_OK;
}

int cmd_state_set(cli *c, int argc, char **argv)
{
    char *pos[3];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    if (cli_args(c, "state set", argc, argv, NULL, 3, 3, pos, &np) ||
        cli_run(c, pos[0], &rb, &run) || cli_name(c, "NAME", pos[1]))
        return CMD_ERR;
    uint64_t ver = 0;
    int rc = c->txn ? inmem_state_set(c->txn, run, pos[1], pos[2], strlen(pos[2]))
                    : inmem_state_set_db(c->db, run, pos[1], pos[2], strlen(pos[2]), &ver);
    if (rc)
        return cli_lib_error(c, rc, "state set %s", clips(pos[1]));
    return cli_print_written(c, ver);
}

int cmd_state_cas(cli *c, int argc, char **argv)
{
    const char *old;
    const cli_opt opts[] = {{"if-value", 1, &old, NULL, NULL, 0}, {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[4];
    int np;
    inmem_run_id rb;
    const inmem_run_id *run;
    uint64_t expected = 0, ver = 0;
    if (cli_args(c, "state cas", argc, argv, opts, 3, 4, pos, &np) ||
        cli_run(c, pos[0], &rb, &run) || cli_name(c, "NAME", pos[1]))
        return CMD_ERR;
    if (old ? np != 3 : np != 4)
        return cli_error(c, "state cas: give VERSION VALUE, or --if-value OLD VALUE");
    if (!old && cli_u64(c, "VERSION", pos[2], &expected))
        return CMD_ERR;
    const char *name = pos[1], *val = pos[np - 1];
    int rc;
    if (old)
        rc = c->txn ? inmem_state_cas_value(c->txn, run, name, old, strlen(old), val, strlen(val))
                    : inmem_state_cas_value_db(c->db, run, name, old, strlen(old), val, strlen(val),
                                               &ver);
    else
        rc = c->txn ? inmem_state_cas(c->txn, run, name, expected, val, strlen(val))
                    : inmem_state_cas_db(c->db, run, name, expected, val, strlen(val), &ver);
    if (rc == INMEM_CONFLICT) {
        uint64_t cur = 0;
        size_t len;
        if (inmem_state_get_db(c->db, run, name, NULL, &len, &cur) != 0)
            cur = 0;
        if (old)
            return cli_error(c, "conflict: state cell %s does not hold %s", clips(name),
                             clips(old));
        if (cur)
            return cli_error(c, "conflict: state cell %s is at version %llu, not %llu", clips(name),
                             (unsigned long long)cur, (unsigned long long)expected);
        return cli_error(c, "conflict: state cell %s does not exist (expected version %llu)",
                         clips(name), (unsigned long long)expected);
    }
    if (rc)
        return cli_lib_error(c, rc, "state cas %s", clips(name));
    return cli_print_written(c, ver);
}
