/*
 * commands.c — the command table and its dispatch. Each entry gives a command's name (one word,
 * or a group and a verb: "run begin"), its syntax, a one-line summary and the details printed by
 * `help COMMAND`; the man page (tools/inmem.1) says the same. Dispatch checks what a command
 * needs before running it: an open database, a writable one, no explicit transaction open.
 *
 * Conventions every command follows:
 *   RUN    a 36-character run id, "shared" or "-" (the shared scope), "." (the current run)
 *   KEY, VALUE, NAME, PAYLOAD  strings as typed (quote them; "..." takes \n \t \xHH escapes)
 *   SPAN   a span id (36 characters, like a run id)
 *   N, MS, VERSION             unsigned decimal numbers
 * In a transaction (after `begin`) the KV, run, event, state and trace commands run inside it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define RUNHELP "RUN is a run id, 'shared' or '-' for the shared scope, or '.' for the current run."
#define ATHELP                                                                                     \
    "AT: a version (a number), or a time: @UNIX_MS, ISO 8601 UTC (2026-11-26T10:00:00Z), now,\n"   \
    "or relative to now (-5m). Reading the past needs the history kept: --history-ms,\n"           \
    "--history-versions (the database's policy, stored), or a run begun with them."
#define WAITHELP(what)                                                                             \
    "Blocks until " what " moves past --after VERSION (default: the database's version\n"          \
    "when the wait begins, so: until the next change), or until --timeout DURATION passed\n"       \
    "(default: forever; 0 just looks): an error, exit status 3. Commits of this process wake it\n" \
    "(inmem_wait); on the read-only view it opens the view again from time to time to see\n"       \
    "another process's commits (the view then stays at the newer state). ^C ends it."
#define TIMEHELP                                                                                   \
    "TIME: Unix ms, ISO 8601 UTC (2026-11-26, 2026-11-26T10:00:00.123Z, or with +02:00), now,\n"   \
    "or relative to now: -5m, -2h, +30s (units ms s m h d)."

const cmd cli_commands[] = {
    /* ---- KV ---- */
    {"get", "RUN KEY [--raw]", "read a key: its value and version",
     "Not found (missing, deleted or expired) is an error. --raw prints the value's bytes and\n"
     "nothing else (no version, no newline, no escapes).\n" RUNHELP,
     cmd_get, CMD_NEEDS_DB | CMD_ASOF},
    {"put", "RUN KEY VALUE [--ttl DURATION]", "write a key, with an optional time to live",
     "Outside a transaction it commits at once and prints the commit's version; inside one it\n"
     "is pending until commit. DURATION: ms, or a number with a unit: 250ms, 30s, 5m, 2h, 7d.",
     cmd_put, CMD_NEEDS_DB | CMD_WRITES},
    {"ttl", "RUN KEY", "when a key's value expires, and how long it has left",
     "Prints the absolute expiry (UTC) and the time left, or 'no TTL'. With --as-of, the time\n"
     "left counts from that point (not shown if its time is not known).",
     cmd_ttl, CMD_NEEDS_DB | CMD_ASOF},
    {"del", "RUN KEY", "delete a key (a tombstone, even if it did not exist)", NULL, cmd_del,
     CMD_NEEDS_DB | CMD_WRITES},
    {"cas", "RUN KEY VERSION VALUE", "write a key only if it is still at VERSION (0: absent)",
     "Outside a transaction a mismatch is an error at once (conflict); inside one it is\n"
     "checked at commit, and the commit fails if the key moved.",
     cmd_cas, CMD_NEEDS_DB | CMD_WRITES},
    {"list", "RUN [PREFIX] [--after KEY] [--limit N]",
     "list a run's keys in order, with values and versions",
     "All keys starting with PREFIX (all keys if none), after the key given by --after.", cmd_list,
     CMD_NEEDS_DB | CMD_ASOF},
    {"history", "RUN KEY [--limit N] [--before VERSION]",
     "a key's versions, newest first: version, commit time, value or <deleted>",
     "The versions the database keeps (see --history-ms, --history-versions); without\n"
     "history kept, the newest (and what open transactions hold). --before VERSION: the\n"
     "versions older than VERSION (the next page after --limit).",
     cmd_history, CMD_NEEDS_DB | CMD_ASOF},
    {"wait", "RUN KEY [--after VERSION] [--timeout DURATION]",
     "wait until a key changes; print its new value (or <deleted>)", WAITHELP("the key"), cmd_wait,
     CMD_NEEDS_DB | CMD_NO_TXN},
    /* ---- transactions ---- */
    {"begin", "", "begin an explicit transaction",
     "The commands that follow run in it (the prompt shows it) until commit or abort.\n"
     "Its snapshot is the state when it began: it does not see later commits of others.\n"
     "As a transaction may write, begin opens the database for writing (not with --read-only:\n"
     "then the transaction is a read-only snapshot). begin --as-of AT: a read-only transaction\n"
     "reading the database as it was at AT, for several commands (the prompt shows it).",
     cmd_begin, CMD_NEEDS_DB | CMD_BEGIN | CMD_ASOF},
    {"commit", "", "commit the explicit transaction",
     "On a conflict nothing is applied; the error names the key and the rule (read set or CAS).",
     cmd_commit, CMD_NEEDS_DB},
    {"abort", "", "abort the explicit transaction (discard its writes)", NULL, cmd_abort,
     CMD_NEEDS_DB},
    {"use", "RUN", "make RUN the current run, named '.' in later commands",
     "`run begin` also makes the new run current.", cmd_use, 0},
    /* ---- runs ---- */
    {"run begin",
     "[--id ID] [--parent RUN] [--tenant T] [--app A] [--agent G] [--tag TAG]...\n"
     "                 [--history-ms DURATION] [--history-versions N]",
     "begin a run (status active) and make it current",
     "Prints the new run's id. --history-ms, --history-versions: the run keeps history so,\n"
     "whatever the database's options (the policy is stored with the run; 0 keeps none).",
     cmd_run_begin, CMD_NEEDS_DB | CMD_WRITES},
    {"run end", "RUN STATUS", "end a run: completed, failed, cancelled, or archived",
     "active -> completed | failed | cancelled; completed | failed | cancelled -> archived.",
     cmd_run_end, CMD_NEEDS_DB | CMD_WRITES},
    {"run list",
     "[--status S] [--tag T] [--parent RUN] [--tenant T] [--app A] [--agent G] [--limit N]\n"
     "                 [--all]",
     "list runs, newest first",
     "Every option given must match. Data can be written under a run id that was never begun\n"
     "(it has no run record): run list counts such ids, --all lists them too (no filter).",
     cmd_run_list, CMD_NEEDS_DB | CMD_ASOF},
    {"run show", "RUN", "a run's metadata and what it holds (keys, cells, streams, spans)",
     "Also for a run id that holds data but was never begun.", cmd_run_show,
     CMD_NEEDS_DB | CMD_ASOF},
    {"run children", "RUN [--limit N]", "the runs whose parent is RUN, newest first", NULL,
     cmd_run_children, CMD_NEEDS_DB | CMD_ASOF},
    {"run delete", "RUN", "delete a run and all of its data, in one transaction",
     "A run with live forks is refused: delete the forks first.", cmd_run_delete,
     CMD_NEEDS_DB | CMD_WRITES},
    {"run fork",
     "RUN [AT] [--id ID] [--tenant T] [--app A] [--agent G] [--tag TAG]...\n"
     "                 [--history-ms DURATION] [--history-versions N]",
     "a new run with RUN's data as of AT (copy-on-write); make it current",
     "Prints the fork's id. Copy-on-write: nothing is copied, and the two diverge from there.\n"
     "Its parent is RUN, which cannot be deleted while the fork lives. AT in the past needs\n"
     "RUN's history (older than the newest checkpoint, RUN's retention).\n" ATHELP,
     cmd_run_fork, CMD_NEEDS_DB | CMD_WRITES},
    {"run replay", "RUN [AFTER_VERSION] [--limit N]",
     "a run's committed transactions in order: version, time and every write",
     "The transactions after AFTER_VERSION (default 0: from the start) that wrote to RUN, each\n"
     "with its writes: kv KEY = VALUE, state NAME = VALUE, event STREAM #SEQ ..., trace SPAN,\n"
     "run (its metadata), or <deleted>. Needs the history of every version after\n"
     "AFTER_VERSION (else the library's error). --limit: at most N transactions.",
     cmd_run_replay, CMD_NEEDS_DB | CMD_ASOF},
    {"run diff", "RUN_A [RUN_B] [--at-a AT] [--at-b AT]",
     "what differs between two runs, or one run at two points, per primitive",
     "Side a is RUN_A as of --at-a, side b RUN_B (default: RUN_A) as of --at-b (default, or 0:\n"
     "the newest). Lists KV keys and state cells added (on b only), removed (on a only) or\n"
     "changed, with their versions; event streams with the first sequence number that\n"
     "differs; spans. Reads committed state (not an open transaction's writes).\n" ATHELP,
     cmd_run_diff, CMD_NEEDS_DB},
    /* ---- events ---- */
    {"event append", "RUN STREAM TYPE [PAYLOAD]", "append an event to a stream",
     "Prints its sequence number (1, 2, 3 ... per stream).", cmd_event_append,
     CMD_NEEDS_DB | CMD_WRITES},
    {"event read", "RUN STREAM SEQ [--raw]", "read one event",
     "--raw prints the payload's bytes and nothing else.", cmd_event_read, CMD_NEEDS_DB | CMD_ASOF},
    {"event range", "RUN STREAM [FROM [TO]] [--backward] [--limit N] [--since TIME] [--until TIME]",
     "read events FROM <= seq <= TO (TO 0 or absent: to the end)",
     "--backward reads from TO down (the last --limit N events: --backward --limit N).\n"
     "--since/--until select by time instead: since <= time < until.\n" TIMEHELP,
     cmd_event_range, CMD_NEEDS_DB | CMD_ASOF},
    {"event streams", "RUN", "a run's streams with their length and head hash", NULL,
     cmd_event_streams, CMD_NEEDS_DB | CMD_ASOF},
    {"event verify", "RUN [STREAM]", "recompute the hash chain of one stream or of all of a run's",
     "Reports the first broken sequence number of a stream whose chain does not check.",
     cmd_event_verify, CMD_NEEDS_DB | CMD_ASOF},
    {"event wait", "RUN STREAM [--after VERSION] [--timeout DURATION]",
     "wait for an event; print the events appended meanwhile",
     WAITHELP("the stream") "\nPrints the events appended since the wait began (with --after: the "
                            "stream's last event).",
     cmd_event_wait, CMD_NEEDS_DB | CMD_NO_TXN},
    /* ---- state cells ---- */
    {"state get", "RUN NAME [--raw]", "read a state cell: its value and version",
     "--raw prints the value's bytes and nothing else.", cmd_state_get, CMD_NEEDS_DB | CMD_ASOF},
    {"state set", "RUN NAME VALUE", "set a state cell", NULL, cmd_state_set,
     CMD_NEEDS_DB | CMD_WRITES},
    {"state cas", "RUN NAME VERSION VALUE | RUN NAME --if-value OLD VALUE",
     "set a state cell only if it is at VERSION (0: absent) or holds OLD",
     "Outside a transaction a mismatch is an error at once (conflict).", cmd_state_cas,
     CMD_NEEDS_DB | CMD_WRITES},
    {"state history", "RUN NAME [--limit N] [--before VERSION]",
     "a state cell's versions, newest first: version, commit time, value or <deleted>",
     "As `history` for a key.", cmd_state_history, CMD_NEEDS_DB | CMD_ASOF},
    {"state wait", "RUN NAME [--after VERSION] [--timeout DURATION]",
     "wait until a state cell changes; print its new value", WAITHELP("the cell"), cmd_state_wait,
     CMD_NEEDS_DB | CMD_NO_TXN},
    /* ---- traces ---- */
    {"trace record",
     "RUN KIND NAME [--input S] [--output S] [--confidence X] [--parent SPAN] [--start TIME]\n"
     "                 [--duration-us US] [--tag TAG]... [--id SPAN]",
     "record a span; prints its id",
     "KIND: tool_call, decision, query, thought, error, custom. --start 0 or absent: now.\n"
     "--confidence none (the default) records NaN.\n" TIMEHELP,
     cmd_trace_record, CMD_NEEDS_DB | CMD_WRITES},
    {"trace get", "RUN SPAN", "read one span", NULL, cmd_trace_get, CMD_NEEDS_DB | CMD_ASOF},
    {"trace query",
     "RUN [--kind K] [--parent SPAN|root] [--tag T] [--from TIME] [--to TIME] [--limit N]",
     "a run's spans in start order, filtered",
     "--parent root: the root spans. --from/--to: from <= start < to.\n" TIMEHELP, cmd_trace_query,
     CMD_NEEDS_DB | CMD_ASOF},
    {"trace tree", "RUN SPAN [--limit N]", "the tree of spans under SPAN, indented", NULL,
     cmd_trace_tree, CMD_NEEDS_DB | CMD_ASOF},
    /* ---- the database ---- */
    {"stats", "",
     "counters: commits, aborts, retries, keys, runs, versions, history, log, checkpoint",
     "Also how the session has the database open, and what its open found (a new database,\n"
     "another process writing it, a torn tail).",
     cmd_stats, CMD_NEEDS_DB},
    {"info", "", "the database: directory, options, version, and what recovery did at open", NULL,
     cmd_info, CMD_NEEDS_DB},
    {"verify", "", "check every log record and every event chain; change nothing",
     "Re-reads the log from disk (a read-only open replays and checksums every record), then\n"
     "reads the records of the shared scope and of every run id that holds data (begun or not)\n"
     "and recomputes the hash chain of every event stream. Exit status 1 if anything is wrong,\n"
     "or if a write would drop anything (a torn tail, an incomplete transaction): each problem\n"
     "is named with its file and offset. On a corrupt log it says exactly what a repair would\n"
     "drop.",
     cmd_verify, CMD_OPENS},
    {"repair", "", "reopen for writing with repair: cut a corrupt log at the last good transaction",
     "Prints exactly what was dropped: the file, the offset, the bytes and the committed\n"
     "transactions (later segments are kept, renamed *.dropped: yours to inspect and remove,\n"
     "as no checkpoint erases them). Needs no transaction open and no --read-only. To look\n"
     "first: verify, or inmem --read-only --repair DIR.",
     cmd_repair, CMD_NO_TXN},
    {"checkpoint", "",
     "take a checkpoint now: an image of the newest commit; drop the log it covers",
     "Prints the version the image covers, its file and size (before the first commit:\n"
     "that there is nothing to checkpoint). The next open loads it and replays only the\n"
     "log after it; deleted data leaves no byte in the files once a checkpoint has passed\n"
     "it (but for *.dropped files a repair set aside). Opens the database for writing. A\n"
     "checkpoint keeps the history the database keeps (its policy, stored in it:\n"
     "--history-ms, --history-versions), no more.",
     cmd_checkpoint, CMD_NEEDS_DB | CMD_WRITES | CMD_NO_TXN},
    {"backup", "DIR", "write an online backup of the newest visible commit into DIR (new or empty)",
     "DIR then opens (inmem DIR) to exactly that state, with the history the database keeps\n"
     "and its policy.\n"
     "Works on the read-only view, beside a process writing the database.",
     cmd_backup, CMD_NEEDS_DB},
    {"dump", "[FILE] [--run RUN] [--canonical]",
     "export the database (or one run) as JSON lines to FILE (default: standard output)",
     "Records: header, run, kv, state, event, span, end; the data of run ids never begun too.\n"
     "Strings are UTF-8 JSON strings; other bytes (names too) go in <field>_b64 as base64. TTLs\n"
     "are kept as absolute expiry times. Versions, times and hashes are informational:\n"
     "--canonical leaves out what a load cannot reproduce, so that dumps of equal content are\n"
     "equal. A stream whose hash chain does not verify is dumped as stored, with a warning, and\n"
     "the dump exits 1. --as-of dumps the database (or run) as it was then.",
     cmd_dump, CMD_NEEDS_DB | CMD_ASOF},
    {"load", "[FILE] [--ignore-hashes]",
     "import a dump (default: standard input), through transactions",
     "Every record is checked first (members, their JSON types, names), and the event hashes of\n"
     "a dump that has them are checked against their events: a broken chain is refused, naming\n"
     "the line, unless --ignore-hashes (then it is loaded with new hashes). Runs are begun with\n"
     "their ids, then their data written; a run that already exists is an error. Shared-scope\n"
     "keys are overwritten. Each batch of records is one transaction.",
     cmd_load, CMD_NEEDS_DB | CMD_WRITES | CMD_NO_TXN},
    {"help", "[COMMAND]", "list the commands, or explain one", NULL, cmd_help, 0},
    {"quit", "", "leave (an open transaction is aborted); also: exit", NULL, cmd_quit, 0},
    {"exit", "", "leave (same as quit)", NULL, cmd_quit, 0},
    {NULL, NULL, NULL, NULL, NULL, 0},
};

static const char *const groups[] = {"run", "event", "state", "trace", NULL};

static int is_group(const char *w)
{
    for (int i = 0; groups[i]; i++)
        if (strcmp(groups[i], w) == 0)
            return 1;
    return 0;
}

static const cmd *find(const char *w1, const char *w2)
{
    size_t l1 = strlen(w1);
    for (const cmd *k = cli_commands; k->name; k++) {
        if (strncmp(k->name, w1, l1) != 0)
            continue;
        if (k->name[l1] == '\0' && !w2)
            return k;
        if (w2 && k->name[l1] == ' ' && strcmp(k->name + l1 + 1, w2) == 0)
            return k;
    }
    return NULL;
}

static void group_verbs(const char *g, char *buf, size_t size)
{
    size_t gl = strlen(g), n = 0;
    buf[0] = '\0';
    for (const cmd *k = cli_commands; k->name; k++)
        if (strncmp(k->name, g, gl) == 0 && k->name[gl] == ' ')
            n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s", n ? ", " : "",
                                  k->name + gl + 1);
}

/* The index of the option --as-of (or --as-of=AT) among argv[from..argc), before any "--";
 * -1 if none. */
static int find_as_of(int argc, char **argv, int from)
{
    for (int i = from; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return -1;
        if (strcmp(argv[i], "--as-of") == 0 || strncmp(argv[i], "--as-of=", 8) == 0)
            return i;
    }
    return -1;
}

/* Takes --as-of AT out of a command's words (*argc shrinks); *at is NULL if not given. */
static int take_as_of(cli *c, const cmd *k, int *argc, char **argv, int from, const char **at)
{
    *at = NULL;
    int i = find_as_of(*argc, argv, from);
    if (i < 0)
        return 0;
    int words = argv[i][7] == '=' ? 1 : 2;
    if (words == 2 && i + 1 >= *argc)
        return cli_error(c, "%s: option --as-of needs a value", k->name);
    *at = words == 1 ? argv[i] + 8 : argv[i + 1];
    memmove(argv + i, argv + i + words, (size_t)(*argc - i - words) * sizeof *argv);
    *argc -= words;
    if (find_as_of(*argc, argv, from) >= 0)
        return cli_error(c, "%s: --as-of is given twice", k->name);
    if (c->txn)
        return cli_error(c,
                         "%s: --as-of does not go in a transaction (it reads in one of its own; "
                         "commit or abort first, or read the past with begin --as-of)",
                         k->name);
    return 0;
}

/* Runs a read command in a transaction that reads the database as of @p at. */
static int run_as_of(cli *c, const cmd *k, const char *at, int argc, char **argv)
{
    inmem_txn *t;
    if (cli_begin_at(c, k->name, at, &t))
        return CMD_ERR;
    c->txn = t;
    c->as_of = 1;
    int rc = k->fn(c, argc, argv);
    c->txn = NULL;
    c->as_of = 0;
    cli_read_done(t, 1); /* (committed, so that stats count a read, not an abort) */
    return rc;
}

int cli_dispatch(cli *c, int argc, char **argv)
{
    c->exit_status = 0;
    if (argc == 0)
        return CMD_OK;
    const cmd *k;
    int words = 1;
    if (is_group(argv[0])) {
        char verbs[128];
        group_verbs(argv[0], verbs, sizeof verbs);
        if (argc < 2)
            return cli_error(c, "%s: missing subcommand (%s)", argv[0], verbs);
        if (!(k = find(argv[0], argv[1])))
            return cli_error(c, "%s: unknown subcommand %s (%s)", argv[0], clips(argv[1]), verbs);
        words = 2;
    } else if (!(k = find(argv[0], NULL))) {
        return cli_error(c, "unknown command %s (type help for the list)", clips(argv[0]));
    }
    if ((k->flags & CMD_NO_TXN) && c->txn)
        return cli_error(c, "%s: a transaction is open: commit or abort it first", k->name);
    const char *at = NULL;
    if ((k->flags & CMD_ASOF) && take_as_of(c, k, &argc, argv, words, &at))
        return CMD_ERR;
    if ((k->flags & CMD_WRITES) && c->as_of)
        return cli_error(c,
                         "%s: the transaction reads the past (begin --as-of): it cannot write; "
                         "commit or abort it first",
                         k->name);
    /* (begin --as-of reads the past: it needs no writable database) */
    int writes =
        (k->flags & CMD_WRITES) || ((k->flags & CMD_BEGIN) && !c->opts.read_only && !c->txn && !at);
    if (!c->started && (k->flags & (CMD_NEEDS_DB | CMD_WRITES | CMD_BEGIN | CMD_OPENS))) {
        /* a script's first command that needs the database opens it: read-only, unless it
         * writes (then session_writable() below opens for writing, and the log is read once) */
        int direct = writes && !c->opts.read_only && !c->opts.repair && c->dir;
        if (!direct && session_start(c) != 0)
            return cli_error(c, "cannot open %s: %s", c->dir ? fmt_path(c->dir) : "(memory)",
                             c->open_err);
    }
    if (writes) {
        if (c->opts.read_only)
            return cli_error(c, "%s: the database is open read-only (--read-only)", k->name);
        if (!c->db && c->open_rc == INMEM_ECORRUPT)
            return cli_error(c, "no database open (%s); the `repair` command may fix it",
                             c->open_err);
        if (session_writable(c, k->name) != CMD_OK)
            return CMD_ERR;
    }
    if ((k->flags & CMD_NEEDS_DB) && !c->db) {
        if (c->open_rc == INMEM_NOTFOUND)
            return cli_error(c,
                             "%s: no database: %s (only a write creates one, in a new or "
                             "empty directory)",
                             k->name, session_open_detail(c));
        return cli_error(c, "no database open (%s); the `repair` command may fix it", c->open_err);
    }
    cli_mark_errmsg(c);
    c->lib_rc = 0;
    int r = at && (k->flags & CMD_BEGIN) ? cmd_begin_at(c, at, argc - words, argv + words)
            : at                         ? run_as_of(c, k, at, argc - words, argv + words)
                                         : k->fn(c, argc - words, argv + words);
    if (r != CMD_OK && c->lib_rc == INMEM_EHISTORY)
        cli_history_hint(c);
    return r;
}

int cli_run_line(cli *c, const char *line)
{
    char **cmds;
    int n = cli_split_commands(line, &cmds);
    if (n < 0)
        return cli_error(c, "unterminated quote");
    int rc = CMD_OK;
    for (int i = 0; i < n && !c->quit; i++) {
        char *buf = malloc(strlen(cmds[i]) + 1);
        char *words[CLI_MAX_WORDS];
        const char *err;
        int r;
        if (!buf) {
            r = cli_error(c, "out of memory");
        } else {
            int argc = cli_split_words(cmds[i], buf, words, CLI_MAX_WORDS, &err);
            r = argc < 0 ? cli_error(c, "%s", err) : cli_dispatch(c, argc, words);
        }
        free(buf);
        errno = 0;
        int flushed = fflush(stdout) == 0, e = flushed ? 0 : errno;
        if (!flushed || ferror(stdout)) {
            if (r == CMD_OK)
                r = cli_error(c, "cannot write standard output%s%s", e ? ": " : "",
                              e ? strerror(e) : "");
            clearerr(stdout);
            c->quit = !c->interactive;
        }
        if (r != CMD_OK) {
            rc = CMD_ERR;
            if (!c->interactive)
                break;
        }
    }
    for (int i = 0; i < n; i++)
        free(cmds[i]);
    free(cmds);
    return rc;
}

/* ---- help -------------------------------------------------------------------------------- */

static void usage_line(const cmd *k)
{
    printf("  %s%s%s%s\n", k->name, k->args[0] ? " " : "", k->args,
           k->flags & CMD_ASOF ? " [--as-of AT]" : "");
}

int cli_help(cli *c, int argc, char **argv)
{
    if (argc == 0) {
        printf("Commands (help COMMAND for details):\n");
        const char *sections[][2] = {{"get", "key-value"},         {"begin", "transactions"},
                                     {"run begin", "runs"},        {"event append", "events"},
                                     {"state get", "state cells"}, {"trace record", "traces"},
                                     {"stats", "the database"}};
        size_t s = 0;
        for (const cmd *k = cli_commands; k->name; k++) {
            if (s < sizeof sections / sizeof sections[0] && strcmp(k->name, sections[s][0]) == 0) {
                printf("%s%s:\n", s ? "\n" : "", sections[s][1]);
                s++;
            }
            printf("  %-14s %s\n", k->name, k->summary);
        }
        printf("\n" RUNHELP "\n"
               "Commands that read take --as-of AT: the database as it was at version or time AT.\n"
               "Separate commands with ';'. Quote words with spaces: 'a b' or \"a\\tb\".\n");
        return CMD_OK;
    }
    const cmd *k = find(argv[0], argc > 1 ? argv[1] : NULL);
    if (!k && argc == 1 && is_group(argv[0])) {
        size_t gl = strlen(argv[0]);
        for (const cmd *g = cli_commands; g->name; g++)
            if (strncmp(g->name, argv[0], gl) == 0 && g->name[gl] == ' ') {
                usage_line(g);
                printf("      %s\n", g->summary);
            }
        return CMD_OK;
    }
    if (!k)
        return cli_error(c, "help: no command %s%s%s", clips(argv[0]), argc > 1 ? " " : "",
                         argc > 1 ? clips(argv[1]) : "");
    printf("usage:\n");
    usage_line(k);
    printf("\n%c%s.\n", toupper((unsigned char)k->summary[0]), k->summary + 1);
    if (k->help)
        printf("%s\n", k->help);
    if ((k->flags & CMD_ASOF) && !(k->flags & CMD_BEGIN))
        printf("--as-of AT reads the database as it was at AT (in a read-only transaction).\n");
    if (k->flags & CMD_ASOF)
        printf(ATHELP "\n");
    return CMD_OK;
}
