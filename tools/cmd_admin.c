/*
 * cmd_admin.c — the commands about the database as a whole: stats, info, verify, repair,
 * checkpoint, backup, help and quit.
 *
 * verify checks two things, and changes nothing. The log: it opens the directory a second time,
 * read-only (which takes no lock and changes no file, so it works beside this session's own
 * writer handle and beside another process); that open replays every record of every segment
 * and checks its checksum and structure, exactly as recovery does, and reports what a writable
 * open would cut. Anything a writable open would drop — a torn tail, an incomplete transaction,
 * records of an unknown type — is a problem (exit status 1), named with its file, offset and
 * bytes; a corrupt log is named with its file and offset, and a second read-only open with
 * repair says exactly what a repair would drop. The data: in one read transaction it reads every
 * key, state cell and span of the shared scope and of every run id that holds data (begun as a
 * run or not: inmem_run_list_stored()), decoding each record, checks every begun run's metadata,
 * and recomputes the hash chain of every event stream.
 *
 * repair closes the database and opens it again for writing with opts.repair = 1, which cuts a
 * corrupt log at the last good transaction (docs/FORMAT.md), then prints exactly what recovery
 * dropped.
 */
#include <dirent.h>
#include <stdarg.h>
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
        if (strncmp(e->d_name, "wal-", 4) != 0 && strncmp(e->d_name, "ckpt-", 5) != 0)
            continue; /* (a dropped checkpoint image counts among the dropped files) */
        int seg = len > 8 && strcmp(e->d_name + len - 4, ".log") == 0;
        int drop = len > 8 && strcmp(e->d_name + len - 8, ".dropped") == 0;
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

/* How the session has the database open. */
static const char *open_mode(cli *c)
{
    if (c->writable)
        return "for writing";
    if (c->opts.read_only)
        return "read-only (--read-only)";
    return "read-only until the first write (which reopens it for writing)";
}

/* Begun runs (*begun), run ids holding data (*stored) and those never begun (*never). */
static int count_runs(cli *c, size_t *begun, size_t *stored, uint64_t *never)
{
    inmem_txn *txn;
    inmem_run_id *ids = NULL;
    int rc = inmem_txn_begin_readonly(c->db, &txn);
    if (rc)
        return rc;
    *never = 0;
    if ((rc = cli_stored_runs(txn, &ids, stored)) == 0) {
        for (size_t i = 0; i < *stored && !rc; i++) {
            inmem_run_info ri;
            rc = inmem_run_get(txn, &ids[i], &ri);
            if (rc == INMEM_NOTFOUND)
                ++*never, rc = 0;
        }
    }
    free(ids);
    ids = NULL;
    if (!rc)
        rc = cli_all_runs(txn, &ids, begun);
    free(ids);
    cli_read_done(txn, 1);
    return rc;
}

/* The database's history policy in force (stored in it), for people. */
static void print_history_policy(const inmem_stats *s)
{
    char d[32];
    if (s->history_ms && s->history_versions > 1)
        printf("keeping %s and %llu versions per key", fmt_span(s->history_ms, d),
               (unsigned long long)s->history_versions);
    else if (s->history_ms)
        printf("keeping %s", fmt_span(s->history_ms, d));
    else if (s->history_versions > 1)
        printf("keeping %llu versions per key", (unsigned long long)s->history_versions);
    else
        printf("not kept (--history-ms, --history-versions set the database's policy)");
}

int cmd_stats(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    if (cli_args(c, "stats", argc, argv, NULL, 0, 0, pos, &np))
        return CMD_ERR;
    inmem_stats s;
    inmem_recovery_info r;
    int rc = inmem_db_stats(c->db, &s);
    if (rc)
        return cli_lib_error(c, rc, "stats");
    if (inmem_db_recovery(c->db, &r) != 0)
        memset(&r, 0, sizeof r);
    uint64_t nfiles, fbytes, dropped, rss = rss_bytes();
    log_files(c->dir, &nfiles, &fbytes, &dropped);
    size_t begun = 0, stored = 0;
    uint64_t never = 0;
    if ((rc = count_runs(c, &begun, &stored, &never)) != 0)
        return cli_lib_error(c, rc, "stats: counting runs");
    if (c->json) {
        json_t *o = json_object();
#define F(name) json_object_set_new(o, #name, json_u64(s.name))
        F(commits);
        F(commits_readonly);
        F(aborts_user);
        F(aborts_read_conflict);
        F(aborts_cas_conflict);
        F(aborts_error);
        F(expired_swept);
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
        F(checkpoints);
        F(checkpoint_failures);
        F(checkpoint_version);
        F(checkpoint_bytes);
        F(checkpoint_time_us);
        F(wal_bytes_since_checkpoint);
        F(live_bytes);
        F(history_bytes);
        F(history_floor);
#undef F
        json_object_set_new(o, "history_ms", json_u64(s.history_ms));
        json_object_set_new(o, "history_versions", json_u64(s.history_versions));
        json_object_set_new(o, "checkpoint_error",
                            s.checkpoint_error ? json_string(inmem_errname(s.checkpoint_error))
                                               : json_null());
        json_object_set_new(o, "runs", json_u64(begun));
        json_object_set_new(o, "never_begun_runs", json_u64(never));
        json_object_set_new(o, "log_record_bytes", json_u64(r.bytes + s.wal_bytes));
        json_object_set_new(o, "log_files", json_u64(nfiles));
        json_object_set_new(o, "log_file_bytes", json_u64(fbytes));
        json_object_set_new(o, "log_files_dropped", json_u64(dropped));
        json_object_set_new(o, "rss_bytes", json_u64(rss));
        json_object_set_new(o, "writable", json_boolean(c->writable));
        json_object_set_new(o, "recovery", json_recovery(&r));
        out_json(o);
        return CMD_OK;
    }
    char b1[32], b2[32], b3[32];
    printf("(counters since the database was opened; version, keys and the log are totals)\n");
    printf("commits             %llu (and %llu read-only; the TTL sweeper's: %llu)\n",
           (unsigned long long)s.commits, (unsigned long long)s.commits_readonly,
           (unsigned long long)s.expired_swept);
    printf("aborts              %llu by the caller, %llu read conflicts, %llu CAS conflicts, "
           "%llu errors\n",
           (unsigned long long)s.aborts_user, (unsigned long long)s.aborts_read_conflict,
           (unsigned long long)s.aborts_cas_conflict, (unsigned long long)s.aborts_error);
    printf("retries             %llu (%llu gave up after the last attempt, %llu deadlines)\n",
           (unsigned long long)s.retries, (unsigned long long)s.retries_exhausted,
           (unsigned long long)s.deadlines_expired);
    printf("version             %llu\n", (unsigned long long)s.version);
    printf("keys                %llu (every primitive's records, and tombstones not yet "
           "reclaimed)\n",
           (unsigned long long)s.keys);
    printf("runs                %zu", begun);
    if (never)
        printf(" (and %llu run id%s holding data that %s never begun: run list --all)",
               (unsigned long long)never, never == 1 ? "" : "s", never == 1 ? "was" : "were");
    putchar('\n');
    printf("retained versions   %llu\n", (unsigned long long)s.retained_versions);
    printf("history             ");
    print_history_policy(&s);
    printf("\n                    %s of old values; --as-of reaches back to version %llu\n",
           fmt_size(s.history_bytes, b1), (unsigned long long)s.history_floor);
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
    if (c->dir) {
        printf("checkpoint          ");
        if (s.checkpoint_version) {
            char path[4200];
            struct stat st;
            snprintf(path, sizeof path, "%s/ckpt-%016llx.img", c->dir,
                     (unsigned long long)s.checkpoint_version);
            printf("version %llu (%s", (unsigned long long)s.checkpoint_version,
                   stat(path, &st) == 0 ? fmt_size((uint64_t)st.st_size, b1) : "image not found");
            if (s.checkpoint_time_us)
                printf(", written in %.1f ms", (double)s.checkpoint_time_us / 1000.0);
            putchar(')');
        } else {
            printf("none");
        }
        /* what the next open replays: the log after the image (read at open, or since the
         * last checkpoint of this session) */
        uint64_t replay = s.wal_bytes_since_checkpoint + (s.checkpoints ? 0 : r.bytes);
        printf("; the next open replays %s of log; live data %s; %llu taken since open",
               fmt_size(replay, b2), fmt_size(s.live_bytes, b3), (unsigned long long)s.checkpoints);
        if (s.checkpoint_failures)
            printf(", %llu FAILED", (unsigned long long)s.checkpoint_failures);
        if (s.checkpoint_error)
            printf(" (the last: %s)", inmem_strerror(s.checkpoint_error));
        putchar('\n');
    }
    printf("memory              %s (the process's resident memory, without mapped files)\n",
           fmt_size(rss, b1));
    if (c->dir) {
        printf("opened              %s\n", open_mode(c));
        if (r.created)
            printf("                    a new database: this session created it\n");
        if (r.live_writer)
            printf("                    another process has it open for writing: this view is "
                   "the committed state when it was opened\n");
        if (r.torn_tail)
            printf("                    the log %s a torn record at %s offset %llu: %llu bytes "
                   "of an incomplete transaction%s\n",
                   c->writable ? "ended in" : "ends in", r.tail_file,
                   (unsigned long long)r.tail_offset, (unsigned long long)r.tail_bytes,
                   c->writable ? " (cut at open)" : " (a write will cut them)");
    }
    return CMD_OK;
}

/* ---- recovery reports -------------------------------------------------------------------- */

/* A count of the recovery report: null when it is unknown (INMEM_COUNT_UNKNOWN). */
static json_t *json_count(uint64_t n)
{
    return n == INMEM_COUNT_UNKNOWN ? json_null() : json_u64(n);
}

/* 1 if a repair kept nothing: no image, and the log cut before its first commit. */
static int repair_kept_nothing(const inmem_recovery_info *r)
{
    return r->repaired && r->version == 0 && r->checkpoint_version == 0;
}

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
    json_object_set_new(o, "created", json_boolean(r->created));
    json_object_set_new(o, "live_writer", json_boolean(r->live_writer));
    json_object_set_new(o, "torn_tail", json_boolean(r->torn_tail));
    if (r->torn_tail) {
        json_object_set_new(o, "tail_file", json_string(r->tail_file));
        json_object_set_new(o, "tail_offset", json_u64(r->tail_offset));
        json_object_set_new(o, "tail_bytes", json_u64(r->tail_bytes));
    }
    json_object_set_new(o, "repaired", json_boolean(r->repaired));
    if (r->repaired) {
        json_object_set_new(o, "repair_file", json_string(r->repair_file));
        json_object_set_new(o, "repair_offset", json_u64(r->repair_offset));
        json_object_set_new(o, "bytes_dropped", json_u64(r->bytes_dropped));
        json_object_set_new(o, "txns_dropped", json_count(r->txns_dropped));
        json_object_set_new(o, "keys_dropped", json_count(r->keys_dropped));
    }
    json_object_set_new(o, "checkpoint_version", json_u64(r->checkpoint_version));
    if (r->checkpoint_version) {
        json_object_set_new(o, "checkpoint_file", json_string(r->checkpoint_file));
        json_object_set_new(o, "txns_skipped", json_u64(r->txns_skipped));
        json_object_set_new(o, "checkpoint_load_us", json_u64(r->checkpoint_load_us));
    }
    json_object_set_new(o, "checkpoint_fallback", json_boolean(r->checkpoint_fallback));
    return o;
}

void print_recovery(FILE *f, const inmem_recovery_info *r, int read_only)
{
    char b[32], eb[48], cb[96];
    fprintf(f,
            "recovery: %llu segment%s, %s of records, %llu transaction%s replayed to version "
            "%llu in %.1f ms\n",
            (unsigned long long)r->segments, r->segments == 1 ? "" : "s", fmt_size(r->bytes, b),
            (unsigned long long)r->txns_applied, r->txns_applied == 1 ? "" : "s",
            (unsigned long long)r->version, (double)r->time_us / 1000.0);
    if (r->checkpoint_version)
        fprintf(f,
                "          from checkpoint %s (version %llu, loaded in %.1f ms); %llu logged "
                "transactions it holds skipped\n",
                r->checkpoint_file, (unsigned long long)r->checkpoint_version,
                (double)r->checkpoint_load_us / 1000.0, (unsigned long long)r->txns_skipped);
    if (r->checkpoint_fallback)
        fprintf(f,
                "          the newest checkpoint image is DAMAGED: an older one and the log were "
                "used instead (nothing lost)%s\n",
                read_only ? "; a write sets the damaged image aside (*.dropped)"
                          : "; the damaged image was renamed *.dropped (" DROPPED_NOTE ")");
    if (r->created)
        fprintf(f, "          a new database: this open created it\n");
    if (r->live_writer)
        fprintf(f, "          another process had it open for writing: the end of its log was "
                   "not judged\n");
    if (r->txns_discarded || r->records_skipped)
        fprintf(f, "          %llu incomplete transaction%s %s, %llu unknown records skipped\n",
                (unsigned long long)r->txns_discarded, r->txns_discarded == 1 ? "" : "s",
                !read_only               ? "discarded"
                : r->txns_discarded == 1 ? "not applied (a write discards it)"
                                         : "not applied (a write discards them)",
                (unsigned long long)r->records_skipped);
    if (r->torn_tail)
        fprintf(f,
                "          torn tail (the end of a crash) %s %s offset %llu: %llu bytes of an "
                "incomplete transaction%s\n",
                read_only ? "at" : "cut at", r->tail_file, (unsigned long long)r->tail_offset,
                (unsigned long long)r->tail_bytes, read_only ? " (a write will cut them)" : "");
    if (r->repaired)
        fprintf(
            f, "          %s %s offset %llu, dropping %s that held %s%s%s\n",
            read_only ? "CORRUPT: a repair would cut the log at" : "REPAIRED: the log was cut at",
            r->repair_file, (unsigned long long)r->repair_offset, fmt_bytes(r->bytes_dropped, eb),
            fmt_exactly(r->txns_dropped), fmt_count(r->txns_dropped, "committed transaction", cb),
            !repair_kept_nothing(r) ? ""
            : read_only             ? "; it would keep nothing: the database would be empty"
                                    : "; nothing was kept: the database is empty (version 0)");
    if (r->repaired && r->keys_dropped)
        fprintf(f, "          %s %s of a damaged checkpoint image that no log covers%s\n",
                read_only ? "and would lose" : "and lost", fmt_count(r->keys_dropped, "key", cb),
                r->keys_dropped == INMEM_COUNT_UNKNOWN ? " (its end, which counts them, is lost)"
                                                       : "");
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
        if (c->dir)
            out_set_name(o, "directory", c->dir); /* (the _b64 form if it is not UTF-8) */
        else
            json_object_set_new(o, "directory", json_null());
        json_object_set_new(o, "durability", json_string(durability_name(c->opts.durability)));
        json_object_set_new(o, "read_only", json_boolean(c->opts.read_only));
        json_object_set_new(o, "writable", json_boolean(c->writable));
        json_object_set_new(o, "inmem", json_string(inmem_version_string()));
        json_object_set_new(o, "version", json_u64(s.version));
        json_object_set_new(o, "keys", json_u64(s.keys));
        json_object_set_new(o, "history_ms", json_u64(s.history_ms));
        json_object_set_new(o, "history_versions", json_u64(s.history_versions));
        json_object_set_new(o, "history_bytes", json_u64(s.history_bytes));
        json_object_set_new(o, "history_floor", json_u64(s.history_floor));
        json_object_set_new(o, "checkpoint_version", json_u64(s.checkpoint_version));
        json_object_set_new(o, "recovery", json_recovery(&r));
        out_json(o);
        return CMD_OK;
    }
    printf("directory   %s\n", c->dir ? fmt_path(c->dir) : "(none: in memory)");
    printf("durability  %s\n", durability_name(c->opts.durability));
    if (c->dir)
        printf("opened      %s\n", open_mode(c));
    printf("inmem       %s\n", inmem_version_string());
    printf("version     %llu\nkeys        %llu\n", (unsigned long long)s.version,
           (unsigned long long)s.keys);
    printf("history     ");
    print_history_policy(&s);
    printf("; --as-of reaches back to version %llu\n", (unsigned long long)s.history_floor);
    if (c->dir) {
        printf("checkpoint  ");
        if (s.checkpoint_version)
            printf("version %llu (ckpt-%016llx.img)\n", (unsigned long long)s.checkpoint_version,
                   (unsigned long long)s.checkpoint_version);
        else
            printf("none\n");
    }
    if (c->dir)
        print_recovery(stdout, &r, !c->writable);
    return CMD_OK;
}

/* ---- verify ------------------------------------------------------------------------------ */

struct vstate {
    cli *c;
    uint64_t keys, cells, streams, events, spans, problems;
    json_t *broken;  /* JSON: the problems */
    char first[300]; /* the first problem, for the final error line */
};

static void problem(struct vstate *v, const inmem_run_id *run, const char *what, int rc,
                    const char *stream, uint64_t seq, uint64_t length)
{
    char id[INMEM_RUN_ID_STRLEN + 1];
    v->problems++;
    const char *msg = rc ? cli_lib_message(v->c, rc) : "";
    if (!v->first[0]) {
        if (stream && !rc)
            snprintf(v->first, sizeof v->first, "%s: stream %s: hash chain BROKEN at seq %llu",
                     fmt_run(run, id), clips(stream), (unsigned long long)seq);
        else
            snprintf(v->first, sizeof v->first, "%s: %s%s%s: %s", fmt_run(run, id), what,
                     stream ? " " : "", stream ? clips(stream) : "", msg);
    }
    if (v->c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "run", json_run(run));
        json_object_set_new(o, "what", json_string(what));
        if (stream)
            out_set_name(o, "stream", stream);
        if (seq)
            json_object_set_new(o, "first_broken", json_u64(seq));
        if (stream && !rc)
            json_object_set_new(o, "length", json_u64(length));
        if (rc)
            out_set_name(o, "error", msg);
        json_array_append_new(v->broken, o);
    } else if (stream && !rc) {
        printf("%s: stream %s: hash chain BROKEN at seq %llu (of %llu event%s)\n", fmt_run(run, id),
               clips(stream), (unsigned long long)seq, (unsigned long long)length,
               length == 1 ? "" : "s");
    } else {
        printf("%s: %s%s%s: %s\n", fmt_run(run, id), what, stream ? " " : "",
               stream ? clips(stream) : "", msg);
    }
    cli_mark_errmsg(v->c);
}

static void verify_scope(struct vstate *v, inmem_txn *txn, const inmem_run_id *run)
{
    int rc;
    size_t n;
    inmem_kv_entry kv[256];
    const void *after = NULL;
    size_t alen = 0;
    do {
        if ((rc = inmem_kv_list(txn, run, NULL, 0, after, alen, 256, kv, &n)) != 0) {
            problem(v, run, "keys", rc, NULL, 0, 0);
            break;
        }
        v->keys += n;
        if (n)
            after = kv[n - 1].key, alen = kv[n - 1].klen;
    } while (n == 256);
    inmem_state_entry *cells = malloc(256 * sizeof *cells);
    char cafter[INMEM_NAME_MAX] = "";
    do {
        n = 0;
        if (!cells ||
            (rc = inmem_state_list(txn, run, cafter[0] ? cafter : NULL, 256, cells, &n)) != 0) {
            problem(v, run, "state cells", cells ? rc : INMEM_ENOMEM, NULL, 0, 0);
            break;
        }
        v->cells += n;
        if (n)
            memcpy(cafter, cells[n - 1].name, INMEM_NAME_MAX);
    } while (n == 256);
    free(cells);
    char names[64][INMEM_NAME_MAX], last[INMEM_NAME_MAX] = "";
    do {
        if ((rc = inmem_event_streams(txn, run, last[0] ? last : NULL, 64, names, &n)) != 0) {
            problem(v, run, "stream list", rc, NULL, 0, 0);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            inmem_stream_info si;
            uint64_t broken = 0;
            v->streams++;
            if ((rc = inmem_event_stream_info(txn, run, names[i], &si)) == 0)
                rc = inmem_event_verify(txn, run, names[i], &broken);
            if (rc) {
                problem(v, run, "stream", rc, names[i], 0, 0);
                continue;
            }
            v->events += si.length;
            if (broken)
                problem(v, run, "event chain", 0, names[i], broken, si.length);
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
            problem(v, run, "spans", sp ? rc : INMEM_ENOMEM, NULL, 0, 0);
            break;
        }
        count += n;
        if (n)
            cursor = sp[n - 1].id;
    } while (n == 64);
    v->spans += count;
    free(sp);
}

/* The problems of the log, for --json (they may hold a path that is not UTF-8: see
 * out_set_strings()). */
struct log_problems {
    char msg[8][600];
    size_t n;
};

/* Adds a problem of the log to @p probs (and to @p first if it is the first). */
static void log_problem(cli *c, struct log_problems *probs, char *first, size_t size,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void log_problem(cli *c, struct log_problems *probs, char *first, size_t size,
                        const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!first[0])
        snprintf(first, size, "%s", msg);
    if (!c->json) {
        fputs("log: ", stdout);
        out_text(stdout, msg); /* (the library's, which names files of the directory) */
        putchar('\n');
    } else if (probs->n < sizeof probs->msg / sizeof probs->msg[0])
        memcpy(probs->msg[probs->n++], msg, sizeof msg);
}

/* Sets "log_problems" of @p out (or "log_problems_b64"). */
static void set_log_problems(json_t *out, const struct log_problems *probs)
{
    const char *s[sizeof probs->msg / sizeof probs->msg[0]];
    for (size_t i = 0; i < probs->n; i++)
        s[i] = probs->msg[i];
    out_set_strings(out, "log_problems", s, probs->n);
}

/* After a corrupt log: a read-only open with repair says what a repair would drop. */
static void salvage_report(cli *c, json_t *out, struct log_problems *probs, char *first,
                           size_t size)
{
    inmem_options o = c->opts;
    o.read_only = 1;
    o.repair = 1;
    inmem_db *ro = NULL;
    inmem_recovery_info r;
    cli_mark_errmsg(c);
    if (cli_open(c, &o, &ro) != 0 || inmem_db_recovery(ro, &r) != 0 || !r.repaired) {
        inmem_db_close(ro);
        return;
    }
    inmem_db_close(ro);
    if (c->json)
        json_object_set_new(out, "repair_would_drop", json_recovery(&r));
    char lost[160] = "";
    char txns[96], keys[96];
    if (r.keys_dropped)
        snprintf(lost, sizeof lost, " and %s of a damaged checkpoint image",
                 fmt_count(r.keys_dropped, "key", keys));
    log_problem(c, probs, first, size,
                "a repair would cut %s at offset %llu, dropping %llu bytes that hold %s%s%s%s "
                "(the repair command; --read-only --repair shows the intact part without "
                "changing anything)",
                r.repair_file, (unsigned long long)r.repair_offset,
                (unsigned long long)r.bytes_dropped, fmt_exactly(r.txns_dropped),
                fmt_count(r.txns_dropped, "committed transaction", txns), lost,
                repair_kept_nothing(&r) ? ", and keep nothing: the database would be empty" : "");
}

/* Re-reads the log through a read-only open. @return 1 if a writable open would find it sound
 * and drop nothing. */
static int verify_log(cli *c, json_t *out, char *first, size_t size)
{
    if (!c->dir) {
        if (!c->json)
            printf("log: none (durability none)\n");
        return 1;
    }
    struct log_problems probs_buf = {.n = 0}, *probs = &probs_buf;
    inmem_options o = c->opts;
    o.read_only = 1;
    o.repair = 0;
    inmem_db *ro = NULL;
    cli_mark_errmsg(c);
    int rc = cli_open(c, &o, &ro);
    if (rc) {
        const char *msg = cli_open_message(rc);
        if (c->json)
            out_set_name(out, "log_error", msg);
        log_problem(c, probs, first, size, "%s", msg);
        if (rc == INMEM_ECORRUPT)
            salvage_report(c, out, probs, first, size);
        if (c->json) {
            json_object_set_new(out, "log_ok", json_false());
            set_log_problems(out, probs);
        }
        return 0;
    }
    inmem_recovery_info r;
    inmem_stats s;
    inmem_db_recovery(ro, &r);
    inmem_db_close(ro);
    int ok = 1;
    char b[32];
    if (!c->json)
        printf("log: %llu segment%s, %s of records, %llu transaction%s to version %llu%s\n",
               (unsigned long long)r.segments, r.segments == 1 ? "" : "s", fmt_size(r.bytes, b),
               (unsigned long long)r.txns_applied, r.txns_applied == 1 ? "" : "s",
               (unsigned long long)r.version,
               r.torn_tail || r.txns_discarded || r.records_skipped ? "" : ": every record checks");
    if (r.torn_tail) {
        log_problem(c, probs, first, size,
                    "the log ends in a torn record at %s offset %llu: %llu bytes of an incomplete "
                    "transaction (the first write will cut them)",
                    r.tail_file, (unsigned long long)r.tail_offset,
                    (unsigned long long)r.tail_bytes);
        ok = 0;
    }
    if (r.txns_discarded && !r.torn_tail) {
        log_problem(c, probs, first, size,
                    "%llu incomplete transaction%s at the end of the log (no commit record): the "
                    "first write will discard %s",
                    (unsigned long long)r.txns_discarded, r.txns_discarded == 1 ? "" : "s",
                    r.txns_discarded == 1 ? "it" : "them");
        ok = 0;
    }
    if (r.checkpoint_fallback) {
        log_problem(c, probs, first, size,
                    "the newest checkpoint image is damaged: an older one and the log cover it "
                    "(nothing is lost), and the first write sets the damaged image aside as "
                    "*.dropped");
        ok = 0;
    }
    if (r.records_skipped) {
        log_problem(c, probs, first, size,
                    "%llu record%s of an unknown type skipped (written by a newer inmem?)",
                    (unsigned long long)r.records_skipped, r.records_skipped == 1 ? "" : "s");
        ok = 0;
    }
    if (r.live_writer && !c->writable && !c->json)
        printf("log: another process has the database open for writing: the end of the log it "
               "is writing was not judged\n");
    /* this session's writes are all in the log: the replay must reach its version */
    if (c->writable && c->db && inmem_db_stats(c->db, &s) == 0 && s.version != r.version) {
        log_problem(c, probs, first, size,
                    "MISSING commits of this session: the log replays to version %llu, the "
                    "session is at %llu",
                    (unsigned long long)r.version, (unsigned long long)s.version);
        ok = 0;
    }
    if (c->json) {
        json_object_set_new(out, "log_ok", json_boolean(ok));
        json_object_set_new(out, "log", json_recovery(&r));
        set_log_problems(out, probs);
    }
    return ok;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(inmem_run_id));
}

int cmd_verify(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    if (cli_args(c, "verify", argc, argv, NULL, 0, 0, pos, &np))
        return CMD_ERR;
    if (!c->db && c->open_rc != INMEM_ECORRUPT)
        return cli_error(c, "verify: no database: %s", session_open_detail(c));
    json_t *out = json_object();
    char first_log[600] = "";
    struct vstate v;
    memset(&v, 0, sizeof v);
    v.c = c;
    v.broken = json_array();
    int log_ok = verify_log(c, out, first_log, sizeof first_log);
    if (!c->db) { /* a corrupt log: nothing to read the data from */
        if (c->json) {
            json_object_set_new(out, "ok", json_false());
            json_decref(v.broken);
            out_json(out);
        } else {
            json_decref(out);
            json_decref(v.broken);
            printf("data: not checked (the log does not open)\n");
        }
        return cli_error(c, "verify: %s", first_log);
    }

    inmem_txn *txn;
    int rc = inmem_txn_begin_readonly(c->db, &txn);
    if (rc) {
        json_decref(out);
        json_decref(v.broken);
        return cli_lib_error(c, rc, "verify");
    }
    inmem_run_id *stored = NULL, *begun = NULL;
    size_t nstored = 0, nbegun = 0;
    uint64_t never = 0, nruns = 0;
    if ((rc = cli_stored_runs(txn, &stored, &nstored)) != 0)
        problem(&v, NULL, "run ids holding data", rc, NULL, 0, 0);
    if ((rc = cli_all_runs(txn, &begun, &nbegun)) != 0)
        problem(&v, NULL, "run list", rc, NULL, 0, 0);
    /* a run in the index must hold its metadata (then it is among the stored ids) */
    for (size_t i = 0; i < nbegun; i++)
        if (!bsearch(&begun[i], stored, nstored, sizeof *stored, cmp_id))
            problem(&v, &begun[i], "run record", INMEM_NOTFOUND, NULL, 0, 0);
    progress p;
    progress_start(&p, c, "verify", nstored + 1);
    verify_scope(&v, txn, NULL);
    progress_update(&p, 1);
    for (size_t i = 0; i < nstored; i++) {
        inmem_run_info ri;
        rc = inmem_run_get(txn, &stored[i], &ri);
        if (rc == INMEM_NOTFOUND)
            never++;
        else if (rc)
            problem(&v, &stored[i], "run record", rc, NULL, 0, 0);
        else
            nruns++;
        verify_scope(&v, txn, &stored[i]);
        progress_update(&p, i + 2);
    }
    progress_end(&p);
    cli_read_done(txn, 1);
    free(stored);
    free(begun);

    int ok = log_ok && v.problems == 0;
    if (c->json) {
        json_object_set_new(out, "ok", json_boolean(ok));
        json_object_set_new(out, "runs", json_u64(nruns));
        json_object_set_new(out, "never_begun_runs", json_u64(never));
        json_object_set_new(out, "keys", json_u64(v.keys));
        json_object_set_new(out, "cells", json_u64(v.cells));
        json_object_set_new(out, "streams", json_u64(v.streams));
        json_object_set_new(out, "events", json_u64(v.events));
        json_object_set_new(out, "spans", json_u64(v.spans));
        json_object_set_new(out, "problems", v.broken);
        out_json(out);
    } else {
        json_decref(out);
        json_decref(v.broken);
        printf("data: %llu run%s", (unsigned long long)nruns, nruns == 1 ? "" : "s");
        if (never)
            printf(" (and %llu run id%s holding data that %s never begun)",
                   (unsigned long long)never, never == 1 ? "" : "s", never == 1 ? "was" : "were");
        printf(" and the shared scope: %llu key%s, %llu cell%s, %llu stream%s (%llu event%s, "
               "chains %s), %llu span%s\n",
               (unsigned long long)v.keys, v.keys == 1 ? "" : "s", (unsigned long long)v.cells,
               v.cells == 1 ? "" : "s", (unsigned long long)v.streams, v.streams == 1 ? "" : "s",
               (unsigned long long)v.events, v.events == 1 ? "" : "s",
               v.problems ? "checked" : "intact", (unsigned long long)v.spans,
               v.spans == 1 ? "" : "s");
    }
    if (!ok) {
        if (!log_ok && v.problems)
            return cli_error(c, "verify: %s; and %llu problem%s in the data", first_log,
                             (unsigned long long)v.problems, v.problems == 1 ? "" : "s");
        if (!log_ok)
            return cli_error(c, "verify: %s", first_log);
        if (v.problems == 1)
            return cli_error(c, "verify: %s", v.first);
        return cli_error(c, "verify: %llu problems found, the first: %s",
                         (unsigned long long)v.problems, v.first);
    }
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
    if (c->opts.read_only)
        return cli_error(c, "repair: the database is open read-only (--read-only); `verify` says "
                            "what a repair would drop, --read-only --repair shows what it keeps");
    inmem_options o = c->opts;
    o.read_only = 0;
    o.repair = 1;
    if (session_reopen(c, &o) != 0) {
        char why[sizeof c->open_err];
        snprintf(why, sizeof why, "%s", c->open_err);
        o.repair = 0; /* keep looking at what can be seen */
        o.read_only = 1;
        int why_rc = c->open_rc;
        if (session_reopen(c, &o) != 0) {
            c->open_rc = why_rc;
            snprintf(c->open_err, sizeof c->open_err, "%s", why);
        }
        return cli_error(c, "repair: cannot open %s for writing: %s", fmt_path(c->dir), why);
    }
    inmem_recovery_info r;
    inmem_db_recovery(c->db, &r);
    if (c->json) {
        json_t *o2 = json_object();
        json_object_set_new(o2, "repaired", json_boolean(r.repaired));
        json_object_set_new(o2, "recovery", json_recovery(&r));
        out_json(o2);
        return CMD_OK;
    }
    print_recovery(stdout, &r, 0);
    if (r.repaired) {
        char b[48], txns[96];
        printf("repaired: cut %s at offset %llu; dropped %s that held %s%s; later segments, if "
               "any, were renamed *.dropped (%s)\n",
               r.repair_file, (unsigned long long)r.repair_offset, fmt_bytes(r.bytes_dropped, b),
               fmt_exactly(r.txns_dropped),
               fmt_count(r.txns_dropped, "committed transaction", txns), DROPPED_NOTE);
    } else if (r.torn_tail || r.txns_discarded) {
        printf("nothing to repair: the log was sound but for its torn end, cut above as any "
               "write would cut it\n");
    } else {
        printf("nothing to repair: every record of the log checks\n");
    }
    return CMD_OK;
}

/* ---- checkpoint, backup ------------------------------------------------------------------ */

/* The size of the image of @p version in @p dir (0 if it is not there). */
static uint64_t image_size(const char *dir, uint64_t version, char *name, size_t size)
{
    char path[4200];
    struct stat st;
    snprintf(name, size, "ckpt-%016llx.img", (unsigned long long)version);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

int cmd_checkpoint(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    if (cli_args(c, "checkpoint", argc, argv, NULL, 0, 0, pos, &np))
        return CMD_ERR;
    if (!c->dir)
        return cli_error(c, "checkpoint: nothing to checkpoint: no files (durability none)");
    inmem_stats before, s;
    uint64_t version = 0;
    int rc = inmem_db_stats(c->db, &before);
    if (!rc)
        rc = inmem_db_checkpoint(c->db, &version);
    if (!rc)
        rc = inmem_db_stats(c->db, &s);
    if (rc)
        return cli_lib_error(c, rc, "checkpoint");
    int taken = s.checkpoints > before.checkpoints; /* else nothing was committed since */
    if (!taken && version == 0) { /* nothing was ever committed: there is no image */
        if (c->json) {
            json_t *o = json_object();
            json_object_set_new(o, "ok", json_true());
            json_object_set_new(o, "version", json_u64(0));
            json_object_set_new(o, "taken", json_false());
            out_json(o);
        } else {
            printf("checkpoint: nothing to checkpoint: nothing was committed yet (version 0)\n");
        }
        return CMD_OK;
    }
    char name[64], b[32];
    uint64_t bytes = image_size(c->dir, version, name, sizeof name);
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "version", json_u64(version));
        json_object_set_new(o, "taken", json_boolean(taken));
        json_object_set_new(o, "file", json_string(name));
        json_object_set_new(o, "bytes", json_u64(bytes));
        json_object_set_new(o, "time_us", json_u64(taken ? s.checkpoint_time_us : 0));
        out_json(o);
    } else if (taken) {
        printf("checkpoint at version %llu: %s (%s), written in %.1f ms\n",
               (unsigned long long)version, name, fmt_size(bytes, b),
               (double)s.checkpoint_time_us / 1000.0);
    } else {
        printf("checkpoint at version %llu: %s (%s), already there: nothing was committed since\n",
               (unsigned long long)version, name, fmt_size(bytes, b));
    }
    return CMD_OK;
}

int cmd_backup(cli *c, int argc, char **argv)
{
    char *pos[1];
    int np;
    if (cli_args(c, "backup", argc, argv, NULL, 1, 1, pos, &np))
        return CMD_ERR;
    if (!pos[0][0])
        return cli_error(c, "backup: DIR must not be empty");
    uint64_t version = 0;
    int rc = inmem_db_backup(c->db, pos[0], &version);
    if (rc)
        return cli_lib_error(c, rc, "backup");
    char name[64], b[32];
    uint64_t bytes = image_size(pos[0], version, name, sizeof name);
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "version", json_u64(version));
        out_set_name(o, "directory", pos[0]);
        json_object_set_new(o, "file", json_string(name));
        json_object_set_new(o, "bytes", json_u64(bytes));
        out_json(o);
    } else {
        printf("backed up version %llu to %s (%s, %s)\n", (unsigned long long)version,
               fmt_path(pos[0]), name, fmt_size(bytes, b));
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
