/*
 * cmd_admin.c — the commands about the database as a whole: stats, info, verify, repair, help
 * and quit.
 *
 * verify checks two things. The log: it opens the directory a second time, read-only (which
 * takes no lock, so it works beside this session's own writer handle and beside another
 * process), and that open replays every record of every segment and checks its checksum and
 * structure, exactly as recovery does; a corrupt record fails it with the file and offset. The
 * data: in one read transaction it reads every run's metadata, every key, every span (decoding
 * each record) and recomputes the hash chain of every event stream of every run and of the
 * shared scope.
 *
 * repair closes the database and opens it again with opts.repair = 1, which cuts a corrupt log
 * at the last good transaction (docs/FORMAT.md), then prints what recovery dropped.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char *durability_name(inmem_durability d)
{
    static const char *const names[] = {"none", "async", "batched", "strict"};
    return (unsigned)d < 4 ? names[d] : "unknown";
}

/* The log files of the directory: count and total size (segments are allocated up front). */
static void log_files(const char *dir, uint64_t *count, uint64_t *bytes, uint64_t *dropped)
{
    *count = *bytes = *dropped = 0;
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "wal-", 4) != 0)
            continue;
        int seg = len > 8 && strcmp(e->d_name + len - 4, ".log") == 0;
        int drop = len > 12 && strcmp(e->d_name + len - 12, ".log.dropped") == 0;
        if (!seg && !drop)
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0)
            continue;
        if (seg) {
            ++*count;
            *bytes += (uint64_t)st.st_size;
        } else {
            ++*dropped;
        }
    }
    closedir(d);
}

/* The resident memory of the process (Linux /proc), without file-backed pages; 0 if unknown. */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size, rss = 0, shared = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu %llu", &size, &rss, &shared) != 3 || shared > rss)
        rss = shared = 0;
    fclose(f);
    /* resident minus file-backed pages: the heap, without the mapped log segments */
    return (uint64_t)(rss - shared) * (uint64_t)sysconf(_SC_PAGESIZE);
}

int cmd_stats(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    if (cli_args(c, "stats", argc, argv, NULL, 0, 0, pos, &np))
        return CMD_ERR;
    inmem_stats s;
    int rc = inmem_db_stats(c->db, &s);
    if (rc)
        return cli_lib_error(c, rc, "stats");
    uint64_t nfiles, fbytes, dropped, rss = rss_bytes();
    log_files(c->dir, &nfiles, &fbytes, &dropped);
    if (c->json) {
        json_t *o = json_object();
#define F(name) json_object_set_new(o, #name, json_u64(s.name))
        F(commits);
        F(commits_readonly);
        F(aborts_user);
        F(aborts_read_conflict);
        F(aborts_cas_conflict);
        F(retries);
        F(retries_exhausted);
        F(deadlines_expired);
        F(version);
        F(keys);
        F(retained_versions);
        F(open_txns);
        F(oldest_snapshot_version);
        F(oldest_snapshot_age_us);
        F(wal_bytes);
        F(wal_syncs);
        F(wal_synced_commits);
#undef F
        inmem_recovery_info r;
        if (inmem_db_recovery(c->db, &r) != 0)
            memset(&r, 0, sizeof r);
        json_object_set_new(o, "log_record_bytes", json_u64(r.bytes + s.wal_bytes));
        json_object_set_new(o, "log_files", json_u64(nfiles));
        json_object_set_new(o, "log_file_bytes", json_u64(fbytes));
        json_object_set_new(o, "log_files_dropped", json_u64(dropped));
        json_object_set_new(o, "rss_bytes", json_u64(rss));
        out_json(o);
        return CMD_OK;
    }
    char b1[32], b2[32], b3[32];
    inmem_recovery_info r;
    if (inmem_db_recovery(c->db, &r) != 0)
        memset(&r, 0, sizeof r);
    printf("(counters since the database was opened; version, keys and the log are totals)\n");
    printf("commits             %llu (and %llu read-only)\n", (unsigned long long)s.commits,
           (unsigned long long)s.commits_readonly);
    printf("aborts              %llu by the caller, %llu read conflicts, %llu CAS conflicts\n",
           (unsigned long long)s.aborts_user, (unsigned long long)s.aborts_read_conflict,
           (unsigned long long)s.aborts_cas_conflict);
    printf("retries             %llu (%llu gave up after the last attempt, %llu deadlines)\n",
           (unsigned long long)s.retries, (unsigned long long)s.retries_exhausted,
           (unsigned long long)s.deadlines_expired);
    printf("version             %llu\n", (unsigned long long)s.version);
    printf("keys                %llu (every primitive's records, and tombstones not yet "
           "reclaimed)\n",
           (unsigned long long)s.keys);
    printf("retained versions   %llu\n", (unsigned long long)s.retained_versions);
    printf("open transactions   %llu", (unsigned long long)s.open_txns);
    if (s.open_txns)
        printf(" (oldest snapshot: version %llu, %.1f s old)",
               (unsigned long long)s.oldest_snapshot_version,
               (double)s.oldest_snapshot_age_us / 1e6);
    putchar('\n');
    if (c->dir)
        printf("log                 %s of records in %llu segment%s (%s allocated%s)\n",
               fmt_size(r.bytes + s.wal_bytes, b1), (unsigned long long)nfiles,
               nfiles == 1 ? "" : "s", fmt_size(fbytes, b2),
               dropped ? "; *.dropped files from a repair" : "");
    else
        printf("log                 none (durability none)\n");
    printf("log since open      %s written, %llu fsyncs for %llu commits\n",
           fmt_size(s.wal_bytes, b3), (unsigned long long)s.wal_syncs,
           (unsigned long long)s.wal_synced_commits);
    printf("memory              %s (the process's resident memory, without mapped files)\n",
           fmt_size(rss, b1));
    return CMD_OK;
}

/* ---- recovery reports -------------------------------------------------------------------- */

json_t *json_recovery(const inmem_recovery_info *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "segments", json_u64(r->segments));
    json_object_set_new(o, "bytes", json_u64(r->bytes));
    json_object_set_new(o, "txns_applied", json_u64(r->txns_applied));
    json_object_set_new(o, "txns_discarded", json_u64(r->txns_discarded));
    json_object_set_new(o, "records_skipped", json_u64(r->records_skipped));
    json_object_set_new(o, "version", json_u64(r->version));
    json_object_set_new(o, "time_us", json_u64(r->time_us));
    json_object_set_new(o, "torn_tail", json_boolean(r->torn_tail));
    if (r->torn_tail) {
        json_object_set_new(o, "tail_file", json_string(r->tail_file));
        json_object_set_new(o, "tail_offset", json_u64(r->tail_offset));
    }
    json_object_set_new(o, "repaired", json_boolean(r->repaired));
    if (r->repaired) {
        json_object_set_new(o, "repair_file", json_string(r->repair_file));
        json_object_set_new(o, "repair_offset", json_u64(r->repair_offset));
        json_object_set_new(o, "bytes_dropped", json_u64(r->bytes_dropped));
        json_object_set_new(o, "txns_dropped", json_u64(r->txns_dropped));
    }
    return o;
}

void print_recovery(FILE *f, const inmem_recovery_info *r)
{
    char b[32];
    fprintf(f,
            "recovery: %llu segment%s, %s of records, %llu transactions replayed to version %llu "
            "in %.1f ms\n",
            (unsigned long long)r->segments, r->segments == 1 ? "" : "s", fmt_size(r->bytes, b),
            (unsigned long long)r->txns_applied, (unsigned long long)r->version,
            (double)r->time_us / 1000.0);
    if (r->txns_discarded || r->records_skipped)
        fprintf(f,
                "          %llu incomplete transaction%s discarded, %llu unknown records skipped\n",
                (unsigned long long)r->txns_discarded, r->txns_discarded == 1 ? "" : "s",
                (unsigned long long)r->records_skipped);
    if (r->torn_tail)
        fprintf(f, "          torn tail (the end of a crash) cut at %s offset %llu\n", r->tail_file,
                (unsigned long long)r->tail_offset);
    if (r->repaired)
        fprintf(f,
                "          REPAIRED: the log was cut at %s offset %llu, dropping %s (about %llu "
                "transactions)\n",
                r->repair_file, (unsigned long long)r->repair_offset, fmt_size(r->bytes_dropped, b),
                (unsigned long long)r->txns_dropped);
}

int cmd_info(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    if (cli_args(c, "info", argc, argv, NULL, 0, 0, pos, &np))
        return CMD_ERR;
    inmem_stats s;
    inmem_recovery_info r;
    int rc = inmem_db_stats(c->db, &s);
    if (!rc)
        rc = inmem_db_recovery(c->db, &r);
    if (rc)
        return cli_lib_error(c, rc, "info");
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "directory", c->dir ? json_string(c->dir) : json_null());
        json_object_set_new(o, "durability", json_string(durability_name(c->opts.durability)));
        json_object_set_new(o, "read_only", json_boolean(c->opts.read_only));
        json_object_set_new(o, "inmem", json_string(inmem_version_string()));
        json_object_set_new(o, "version", json_u64(s.version));
        json_object_set_new(o, "keys", json_u64(s.keys));
        json_object_set_new(o, "recovery", json_recovery(&r));
        out_json(o);
        return CMD_OK;
    }
    printf("directory   %s\n", c->dir ? c->dir : "(none: in memory)");
    printf("durability  %s%s\n", durability_name(c->opts.durability),
           c->opts.read_only ? ", read-only" : "");
    printf("inmem       %s\n", inmem_version_string());
    printf("version     %llu\nkeys        %llu\n", (unsigned long long)s.version,
           (unsigned long long)s.keys);
    if (c->dir)
        print_recovery(stdout, &r);
    return CMD_OK;
}

/* ---- verify ------------------------------------------------------------------------------ */

struct vstate {
    cli *c;
    uint64_t keys, streams, events, spans, problems;
    json_t *broken; /* JSON: the problems */
};

static void problem(struct vstate *v, const inmem_run_id *run, const char *what, int rc,
                    const char *stream, uint64_t seq)
{
    char id[INMEM_RUN_ID_STRLEN + 1];
    v->problems++;
    const char *msg = rc ? cli_lib_message(v->c, rc) : "";
    if (v->c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_run(run));
        json_object_set_new(o, "what", json_string(what));
        if (stream)
            json_object_set_new(o, "stream", json_string(stream));
        if (seq)
            json_object_set_new(o, "first_broken", json_u64(seq));
        if (rc)
            json_object_set_new(o, "error", json_string(msg));
        json_array_append_new(v->broken, o);
    } else if (stream && !rc) {
        printf("%s: stream %s: hash chain BROKEN at seq %llu\n", fmt_run(run, id), stream,
               (unsigned long long)seq);
    } else {
        printf("%s: %s%s%s: %s\n", fmt_run(run, id), what, stream ? " " : "", stream ? stream : "",
               msg);
    }
    cli_mark_errmsg(v->c);
}

static void verify_scope(struct vstate *v, inmem_txn *txn, const inmem_run_id *run)
{
    int rc;
    size_t n;
    if (run) {
        inmem_run_info ri;
        if ((rc = inmem_run_get(txn, run, &ri)) != 0)
            problem(v, run, "run record", rc, NULL, 0);
    }
    inmem_kv_entry kv[256];
    const void *after = NULL;
    size_t alen = 0;
    do {
        if ((rc = inmem_kv_list(txn, run, NULL, 0, after, alen, 256, kv, &n)) != 0) {
            problem(v, run, "keys", rc, NULL, 0);
            break;
        }
        v->keys += n;
        if (n)
            after = kv[n - 1].key, alen = kv[n - 1].klen;
    } while (n == 256);
    char names[64][INMEM_NAME_MAX], last[INMEM_NAME_MAX] = "";
    do {
        if ((rc = inmem_event_streams(txn, run, last[0] ? last : NULL, 64, names, &n)) != 0) {
            problem(v, run, "stream list", rc, NULL, 0);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            inmem_stream_info si;
            uint64_t broken = 0;
            v->streams++;
            if ((rc = inmem_event_stream_info(txn, run, names[i], &si)) == 0)
                rc = inmem_event_verify(txn, run, names[i], &broken);
            if (rc)
                problem(v, run, "stream", rc, names[i], 0);
            else if (broken)
                problem(v, run, "event chain", 0, names[i], broken);
            else
                v->events += si.length;
        }
        if (n)
            memcpy(last, names[n - 1], INMEM_NAME_MAX);
    } while (n == 64);
    inmem_span *sp = malloc(64 * sizeof *sp);
    inmem_run_id cursor;
    uint64_t count = 0;
    do {
        n = 0;
        if (!sp || (rc = inmem_trace_query(txn, run, NULL, count ? &cursor : NULL, 64, sp, &n))) {
            problem(v, run, "spans", sp ? rc : INMEM_ENOMEM, NULL, 0);
            break;
        }
        count += n;
        if (n)
            cursor = sp[n - 1].id;
    } while (n == 64);
    v->spans += count;
    free(sp);
}

/* Re-reads the log through a read-only open. @return 1 if it checks. */
static int verify_log(cli *c, json_t *out)
{
    if (!c->dir) {
        if (!c->json)
            printf("log: none (durability none)\n");
        return 1;
    }
    inmem_options o = c->opts;
    o.read_only = 1;
    o.repair = 0;
    inmem_db *ro = NULL;
    cli_mark_errmsg(c);
    int rc = cli_open(c, &o, &ro);
    if (rc) {
        const char *msg = cli_lib_message(c, rc);
        if (c->json) {
            json_object_set_new(out, "log_ok", json_false());
            json_object_set_new(out, "log_error", json_string(msg));
        } else {
            printf("log: %s\n", msg);
        }
        return 0;
    }
    inmem_recovery_info r;
    inmem_stats s;
    inmem_db_recovery(ro, &r);
    inmem_db_close(ro);
    int ok = 1;
    /* this session's writes are all in the log: the replay must reach its version */
    if (!c->opts.read_only && inmem_db_stats(c->db, &s) == 0 && s.version != r.version)
        ok = 0;
    if (c->json) {
        json_object_set_new(out, "log_ok", json_boolean(ok));
        json_object_set_new(out, "log", json_recovery(&r));
    } else {
        char b[32];
        printf("log: %llu segment%s, %s of records, %llu transactions to version %llu: %s\n",
               (unsigned long long)r.segments, r.segments == 1 ? "" : "s", fmt_size(r.bytes, b),
               (unsigned long long)r.txns_applied, (unsigned long long)r.version,
               ok ? "every record checks" : "MISSING commits of this session");
        if (r.torn_tail)
            printf("log: ends in a torn record at %s offset %llu (an interrupted write)\n",
                   r.tail_file, (unsigned long long)r.tail_offset);
    }
    return ok;
}

int cmd_verify(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    if (cli_args(c, "verify", argc, argv, NULL, 0, 0, pos, &np))
        return CMD_ERR;
    json_t *out = json_object();
    struct vstate v = {c, 0, 0, 0, 0, 0, json_array()};
    int log_ok = verify_log(c, out);

    inmem_txn *txn;
    int rc = inmem_txn_begin(c->db, &txn);
    if (rc) {
        json_decref(out);
        json_decref(v.broken);
        return cli_lib_error(c, rc, "verify");
    }
    inmem_run_id *runs = NULL;
    size_t nruns = 0;
    if ((rc = cli_all_runs(txn, &runs, &nruns)) != 0)
        problem(&v, NULL, "run list", rc, NULL, 0);
    progress p;
    progress_start(&p, c, "verify", nruns + 1);
    verify_scope(&v, txn, NULL);
    progress_update(&p, 1);
    for (size_t i = 0; i < nruns; i++) {
        verify_scope(&v, txn, &runs[i]);
        progress_update(&p, i + 2);
    }
    progress_end(&p);
    cli_read_done(txn, 1);
    free(runs);

    int ok = log_ok && v.problems == 0;
    if (c->json) {
        json_object_set_new(out, "ok", json_boolean(ok));
        json_object_set_new(out, "runs", json_u64(nruns));
        json_object_set_new(out, "keys", json_u64(v.keys));
        json_object_set_new(out, "streams", json_u64(v.streams));
        json_object_set_new(out, "events", json_u64(v.events));
        json_object_set_new(out, "spans", json_u64(v.spans));
        json_object_set_new(out, "problems", v.broken);
        out_json(out);
    } else {
        json_decref(out);
        json_decref(v.broken);
        printf("data: %zu run%s and the shared scope: %llu keys, %llu streams (%llu events, "
               "chains %s), %llu spans\n",
               nruns, nruns == 1 ? "" : "s", (unsigned long long)v.keys,
               (unsigned long long)v.streams, (unsigned long long)v.events,
               v.problems ? "checked" : "intact", (unsigned long long)v.spans);
    }
    if (!ok)
        return cli_error(c, "verify: %s%s%llu problem%s found",
                         log_ok ? "" : "the log does not check; ", "",
                         (unsigned long long)v.problems, v.problems == 1 ? "" : "s");
    if (!c->json)
        printf("verify: OK\n");
    return CMD_OK;
}

/* ---- repair, help, quit ------------------------------------------------------------------ */

int cmd_repair(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    if (cli_args(c, "repair", argc, argv, NULL, 0, 0, pos, &np))
        return CMD_ERR;
    if (!c->dir)
        return cli_error(c, "repair: nothing to repair: no log (durability none)");
    inmem_options o = c->opts;
    o.repair = 1;
    int rc = cli_reopen(c, &o);
    c->opts.repair = 0; /* later reopens (none today) should not repair silently */
    if (rc)
        return cli_error(c, "repair: cannot open %s: %s", c->dir, c->open_err);
    inmem_recovery_info r;
    inmem_db_recovery(c->db, &r);
    if (c->json) {
        json_t *o2 = json_object();
        json_object_set_new(o2, "repaired", json_boolean(r.repaired));
        json_object_set_new(o2, "recovery", json_recovery(&r));
        out_json(o2);
        return CMD_OK;
    }
    print_recovery(stdout, &r);
    if (r.repaired) {
        char b[32];
        printf("repaired: cut %s at offset %llu; dropped %s, about %llu transaction%s%s\n",
               r.repair_file, (unsigned long long)r.repair_offset, fmt_size(r.bytes_dropped, b),
               (unsigned long long)r.txns_dropped, r.txns_dropped == 1 ? "" : "s",
               "; later segments, if any, were renamed *.dropped");
    } else {
        printf("nothing to repair: every record of the log checks\n");
    }
    return CMD_OK;
}

int cmd_help(cli *c, int argc, char **argv)
{
    return cli_help(c, argc, argv);
}

int cmd_quit(cli *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    c->quit = 1;
    return CMD_OK;
}
