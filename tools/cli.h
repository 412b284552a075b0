/*
 * cli.h — the pieces of the inmem command-line tool shared between its files.
 *
 *   main.c        options, the interactive shell (libedit), scripted use
 *   session.c     opening the database: read-only first, for writing on the first write
 *   parse.c       splitting a line into commands and words, command options, numbers, run ids
 *   output.c      errors, human and JSON output of values, base64, times and sizes
 *   commands.c    the command table (names, syntax, help text) and dispatch
 *   cmd_kv.c      KV, CAS, explicit transactions, `use`
 *   cmd_runs.c    runs
 *   cmd_events.c  events and state cells
 *   cmd_traces.c  traces
 *   cmd_history.c reading the past (--as-of), key and cell history, replay, diff, waiting
 *   cmd_admin.c   stats, info, verify, repair, checkpoint, backup, help
 *   dump.c        dump, and the JSON-lines format
 *   load.c        load
 *   progress.c    the progress bar of long operations
 *
 * The tool uses only the public API (include/inmem.h), jansson for JSON and libedit for the
 * shell, and xxHash for load to check a dump's event hashes against the formula docs/FORMAT.md
 * documents (the library's own dependency).
 */
#ifndef INMEM_TOOLS_CLI_H
#define INMEM_TOOLS_CLI_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "inmem.h"

/* ---- the session ----------------------------------------------------------------------------- */

typedef struct cli {
    inmem_db *db;       /* NULL while there is no database (see open_rc) */
    inmem_txn *txn;     /* the explicit transaction (begin ... commit/abort), or NULL */
    int as_of;          /* txn reads the past (begin --as-of, or a command's --as-of): read-only */
    uint64_t as_of_ms;  /* with as_of: the wall-clock time of that point (Unix ms), 0 if unknown */
    const char *dir;    /* the database directory; NULL with durability none */
    inmem_options opts; /* what the user asked for: read_only is --read-only, repair --repair */
    int writable;       /* db is open for writing (else read-only: see session.c) */
    int started;        /* the session tried to open the database (see session.c) */
    int json;           /* --json: one JSON object per result line */
    int raw;            /* --raw: get, state get and event read print the bare value */
    int interactive;    /* the shell on a terminal: an error does not end the session */
    int progress;       /* -1 never (--no-progress), 0 on a terminal, 1 always (--progress) */
    int has_current;    /* "." names `current` (set by `use` and `run begin`) */
    inmem_run_id current;
    int quit;           /* `quit` was given */
    int stdin_commands; /* commands come from standard input (so `load` cannot read it) */
    size_t lineno;      /* scripts on standard input: the line being run (named in errors) */
    int open_rc;        /* the open's error while db is NULL: INMEM_NOTFOUND (no database
                         * yet), INMEM_ECORRUPT (see `repair`) */
    char open_err[512]; /* and its message */
    char errmark[512];  /* inmem_errmsg() before the current command (see cli_lib_error) */
    int exit_status;    /* the exit status of a failed command other than 1 (wait's timeout: 3) */
    int lib_rc;         /* the library error the command's last cli_lib_error() printed */
} cli;

/* Set by ^C in the shell (main.c), for commands that block (wait). */
extern volatile sig_atomic_t cli_interrupted;

/* The exit status of a wait that timed out. */
#define CLI_EXIT_TIMEOUT 3

/* Results of a command. */
#define CMD_OK  0
#define CMD_ERR 1

typedef int (*cmd_fn)(cli *c, int argc, char **argv);

enum {
    CMD_NEEDS_DB = 1, /* needs an open database */
    CMD_WRITES = 2,   /* writes: reopens the database for writing first (refused with
                       * --read-only); `begin` too, unless --read-only (a read snapshot) */
    CMD_NO_TXN = 4,   /* refused while an explicit transaction is open */
    CMD_BEGIN = 8,    /* `begin`: a transaction may write, so it opens for writing too */
    CMD_OPENS = 16,   /* opens the database first, but copes without one (verify) */
    CMD_ASOF = 32     /* a read that takes --as-of AT: it runs in a transaction reading the past
                       * (with `begin`: the explicit transaction reads the past, and does not
                       * open the database for writing) */
};

typedef struct cmd {
    const char *name;    /* "put", "run begin" */
    const char *args;    /* the syntax after the name */
    const char *summary; /* one line */
    const char *help;    /* more lines, or NULL */
    cmd_fn fn;
    unsigned flags;
} cmd;

/* commands.c */
extern const cmd cli_commands[]; /* ends with a zero entry */
/* Runs one command given as words (argv[0] is the command name). */
int cli_dispatch(cli *c, int argc, char **argv);
/* Splits @p line into commands at ';' and runs them; in scripted use it stops at the first
 * error. @return CMD_OK or CMD_ERR (some command failed). */
int cli_run_line(cli *c, const char *line);
/* Prints the help of one command or group, or the list of all commands. */
int cli_help(cli *c, int argc, char **argv);

/* ---- parse.c ------------------------------------------------------------------------------- */

#define CLI_MAX_WORDS 64

/* Splits one command into words, shell-like: blanks separate; '...' is literal; "..." takes
 * the escapes \n \t \r \\ \" \' \xHH (not \x00: words are C strings); a backslash outside
 * quotes takes the next character. Words are written into @p buf (at least strlen(cmd) + 1
 * bytes). @return the number of words, or -1 with *err set. */
int cli_split_words(const char *text, char *buf, char **words, int max, const char **err);
/* Splits a line into commands at ';' outside quotes; a '#' at the start of a word starts a
 * comment to the end of the line. Each command is a new string in *out (free each and *out).
 * @return the count, or -1 on an unterminated quote. */
int cli_split_commands(const char *line, char ***out);

/* A command's option: --name [VALUE]. */
typedef struct cli_opt {
    const char *name;  /* without the dashes */
    int has_arg;       /* 0: a flag (its value is then "1") */
    const char **val;  /* the (last) value, NULL if not given */
    const char **list; /* repeatable: every value, up to max */
    size_t *count;
    size_t max;
} cli_opt;

/* Separates options (from @p opts, terminated by a zero entry) from positional words, and
 * checks that there are @p minpos to @p maxpos of them. "--" ends the options; "-" is a
 * positional word. @return 0, or CMD_ERR after printing the error. */
int cli_args(cli *c, const char *cmdname, int argc, char **argv, const cli_opt *opts, int minpos,
             int maxpos, char **pos, int *npos);

/* Numbers: decimal unsigned integers only. */
int cli_u64(cli *c, const char *what, const char *s, uint64_t *out);
/* A point in time, as Unix ms: a number of ms, an ISO-8601 UTC time (2026-11-26,
 * 2026-11-26T10:00, 2026-11-26T10:00:00.123Z, or with an offset +02:00), "now", or relative to
 * now: -5m, +1h, -90s, -250ms, -2d. */
int cli_time(cli *c, const char *what, const char *s, uint64_t *out);
/* A duration in ms: a number of ms, or with a unit: 250ms, 30s, 5m, 2h, 7d. */
int cli_duration(cli *c, const char *what, const char *s, uint64_t *out);
/* The same without printing: @return 0, or -1 if @p s is not a duration. */
int cli_parse_duration(const char *s, uint64_t *out);
/* A point in the database's past, AT: a version (a decimal number: *is_time = 0) or a time
 * (*is_time = 1, *out in Unix ms): @UNIX_MS, ISO 8601, now, or relative to now (-5m). */
int cli_at(cli *c, const char *what, const char *s, uint64_t *out, int *is_time);
int cli_double(cli *c, const char *what, const char *s, double *out);
/* A run: a 36-character id, "shared" or "-" (the shared scope: *out = NULL), "." (the current
 * run). @p buf holds the parsed id. */
int cli_run(cli *c, const char *s, inmem_run_id *buf, const inmem_run_id **out);
/* A name (stream, type, cell, tag, namespace): 1 to INMEM_NAME_MAX - 1 bytes; NULL passes. */
int cli_name(cli *c, const char *what, const char *s);
/* A span id (the run-id form); "root" or "-" gives the all-zero id if @p allow_root. */
int cli_span_id(cli *c, const char *s, int allow_root, inmem_run_id *out);
int cli_status(cli *c, const char *s, inmem_run_status *out);
int cli_kind(cli *c, const char *s, inmem_trace_kind *out);
/* Names of statuses and kinds. */
const char *cli_status_name(inmem_run_status s);
const char *cli_kind_name(inmem_trace_kind k);

/* ---- output.c ------------------------------------------------------------------------------ */

/* "error: <message>" on stderr (scripts on standard input: "error: line N: <message>").
 * @return CMD_ERR. */
int cli_error(cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "error: <context>: <what the library said>" for a library result @p rc. @return CMD_ERR. */
int cli_lib_error(cli *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "warning: ..." on stderr. */
void cli_warn(cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Starts an error line on stderr ("error: " and the script line), for messages built in
 * pieces; end it with a newline. */
void cli_error_start(cli *c);
/* What the user typed, for an error message: at most 60 bytes (then "..." and the length),
 * printable, in quotes. A rotating static buffer: up to 4 at once. */
const char *clip(const void *p, size_t n);
const char *clips(const char *s);
/* A file or directory name for people: as it is if it is printable UTF-8 without a space that
 * does not begin with '"', else in double quotes with C escapes (as out_quoted()). A rotating
 * static buffer: up to 4 at once. */
const char *fmt_path(const char *path);
/* Prints a message (the library's, which may name a path; one built from such) with every
 * byte that is not printable UTF-8 as \xHH, unquoted. cli_error(), cli_lib_error() and
 * cli_warn() print their whole message so. */
void out_text(FILE *f, const char *s);
/* The library's details of @p rc without its "<strerror>: " prefix (or the strerror). */
const char *cli_lib_detail(cli *c, int rc);
/* Remembers inmem_errmsg() so that cli_lib_error() can tell a new detail from an old one. */
void cli_mark_errmsg(cli *c);
/* What the library said about @p rc: inmem_errmsg() if it is new since the mark and about this
 * error, else inmem_strerror(rc). */
const char *cli_lib_message(cli *c, int rc);

/* Prints a value for people: as is if it is printable UTF-8 (no control, invisible or
 * bidirectional character) that cannot be misread beside the separators of the tool's output
 * (it neither begins with '"' nor begins or ends with a space, holds neither two spaces in a
 * row nor " = ", and is not <deleted>), else in double quotes with C escapes. */
void out_bytes(FILE *f, const void *p, size_t n);
/* The same always in double quotes with C escapes. */
void out_quoted(FILE *f, const void *p, size_t n);
/* Prints a name (stream, type, cell, span, tenant, app, agent, tag) for people as out_bytes()
 * prints a value: a newline or a control character in it cannot forge a line. */
void out_name(FILE *f, const char *name);
/* An item of a list separated by ',' (tags, run show's streams): as out_bytes(), but quoted
 * also if it holds a ',' or is "-" (which stands for an empty list), so that the list reads
 * only one way. */
void out_item(FILE *f, const void *p, size_t n);
/* --raw: the bytes as they are, nothing else (in the shell, then a newline). */
void out_raw(cli *c, const void *p, size_t n);
/* Sets @p field of @p obj to the bytes as a JSON string if they are UTF-8 without NUL, else
 * sets "<field>_b64" to their base64. */
void out_set_bytes(json_t *obj, const char *field, const void *p, size_t n);
/* A name (stream, type, cell, tag, namespace part): out_set_bytes() of its bytes. */
void out_set_name(json_t *obj, const char *field, const char *name);
/* An array of C strings: "<field>" as an array of strings, or "<field>_b64" as an array of
 * base64 strings (every one) if any is not UTF-8. */
void out_set_strings(json_t *obj, const char *field, const char *const *s, size_t n);
/* Tags: out_set_strings() of them. */
void out_set_tags(json_t *obj, const char *field, const char (*tags)[INMEM_NAME_MAX], size_t n);
/* Reads what out_set_bytes() wrote: *p is a new NUL-terminated copy the caller frees.
 * @return 1 found, 0 absent, -1 malformed (also: both forms given). */
int json_get_bytes(json_t *obj, const char *field, char **p, size_t *n);
/* Prints @p obj as one compact line on stdout and releases it. */
void out_json(json_t *obj);
/* A run id as JSON: its 36-char form, or "shared". */
json_t *json_run(const inmem_run_id *id);
/* An unsigned number: a JSON integer, or a decimal string above INT64_MAX. */
json_t *json_u64(uint64_t v);
/* A 64-bit hash as 16 hex digits. */
json_t *json_hash(uint64_t h);
/* A confidence: a number, null for NaN, "inf"/"-inf". */
json_t *json_confidence(double d);

/* Formats a run id ("shared" for NULL or all zero). */
const char *fmt_run(const inmem_run_id *id, char buf[INMEM_RUN_ID_STRLEN + 1]);
/* Unix ms as "2025-11-26T10:00:00.123Z" (UTC). */
const char *fmt_time(uint64_t ms, char buf[32]);
/* Bytes as "12.3 MiB". */
const char *fmt_size(uint64_t bytes, char buf[32]);
/* An exact count of bytes: "115 bytes", or "1234567 bytes (1.2 MiB)". */
const char *fmt_bytes(uint64_t bytes, char buf[48]);
/* What a repair's report says of the files it set aside (*.dropped). */
#define DROPPED_NOTE "kept for you to inspect and remove: checkpoints never erase *.dropped files"

/* A count of @p noun: "4 committed transactions", "1 key"; INMEM_COUNT_UNKNOWN (a recovery
 * count whose bytes are lost) as "an unknown number of keys". */
const char *fmt_count(uint64_t n, const char *noun, char buf[96]);
/* "exactly " before a count fmt_count() gives as a number, "" before an unknown one. */
const char *fmt_exactly(uint64_t n);
/* A duration in ms, exactly, in its largest whole unit: "2h", "90s", "250ms". */
const char *fmt_span(uint64_t ms, char buf[32]);
/* An event on one line (or a JSON object), as `event range` prints it. */
void cli_print_event(cli *c, const inmem_run_id *run, const char *stream, const inmem_event *e);

char *b64_encode(const void *p, size_t n);
/* @return 0, or -1 if @p s is not base64. *out is malloc'ed (NUL-terminated). */
int b64_decode(const char *s, size_t len, char **out, size_t *n);

/* ---- session.c ----------------------------------------------------------------------------- */

/* Opens the database for a session: read-only (nothing is created or changed) unless
 * durability none or --repair without --read-only. A missing database (INMEM_NOTFOUND) or a
 * corrupt log (INMEM_ECORRUPT) leaves c->db NULL and is not a failure here. The shell calls it
 * at its start; a script at its first command that needs the database (a write opens for
 * writing at once instead: one replay of the log, not two).
 * @return 0, or the library's error for the others (its message in c->open_err). */
int session_start(cli *c);
/* Makes c->db writable before a write: closes the read-only handle and opens the directory for
 * writing (creating the database if the directory is new or empty, unless --no-create), then
 * says on stderr what that open cut (a torn tail, incomplete transactions). On failure the
 * read-only view is restored. @return CMD_OK or CMD_ERR (printed). */
int session_writable(cli *c, const char *cmdname);
/* Reopens for writing with @p o (the repair command). @return 0 or the library's error, its
 * message in c->open_err; c->db is then NULL. */
int session_reopen(cli *c, const inmem_options *o);
/* Why there is no database (c->open_err without the strerror prefix). */
const char *session_open_detail(cli *c);
/* The library's message about a failed inmem_db_open() (@p rc), read right after it. */
const char *cli_open_message(int rc);
/* Opens c->dir with @p o, with a progress indicator for a long replay. */
int cli_open(cli *c, const inmem_options *o, inmem_db **out);
/* Says on stderr what a writable open cut or repaired: file, offset, bytes, transactions. */
void session_report_cuts(cli *c, const inmem_recovery_info *r);
/* Opens the read-only view again, to see what another process committed since it was opened
 * (wait). @return 0 or the library's error, its message in c->open_err; c->db is then NULL. */
int session_refresh(cli *c);

/* ---- shared helpers for commands ---------------------------------------------------------- */

/* The transaction to read in: the explicit one if open, else a new one (*temp = 1). */
int cli_read_txn(cli *c, inmem_txn **txn, int *temp);
void cli_read_done(inmem_txn *txn, int temp);
/* A read-only transaction reading the database as of AT (a version or a time: see cli_at), for
 * command @p cmdname; prints the error (EHISTORY: the library's). @return 0 or CMD_ERR. */
int cli_begin_at(cli *c, const char *cmdname, const char *at, inmem_txn **out);
/* AT as a version (a time is looked up: the newest commit at or before it). @return 0 or
 * CMD_ERR (printed). */
int cli_at_version(cli *c, const char *cmdname, const char *what, const char *at, uint64_t *out);
/* After a command failed with INMEM_EHISTORY: a hint on stderr when this session keeps no
 * history (cli_dispatch() calls it). */
void cli_history_hint(cli *c);
/* The database's recovery report, for people or as a JSON object; @p read_only: the report of
 * a read-only open (what a writable open would cut, not what was cut). */
void print_recovery(FILE *f, const inmem_recovery_info *r, int read_only);
json_t *json_recovery(const inmem_recovery_info *r);

/* ---- progress.c ------------------------------------------------------------------------------ */

typedef struct progress {
    int on;    /* drawing allowed */
    int drawn; /* something is on the line */
    const char *label;
    uint64_t total; /* 0: unknown (an indeterminate bar) */
    uint64_t done;
    uint64_t start_us, last_us;
    unsigned delay_ms; /* draw only after this long */
} progress;

/* Starts a progress bar on stderr, if @p c allows it (a terminal, or --progress). */
void progress_start(progress *p, cli *c, const char *label, uint64_t total);
void progress_update(progress *p, uint64_t done);
/* Erases the bar. */
void progress_end(progress *p);
/* An indeterminate indicator drawn by a thread while a blocking call runs (opening a log). */
typedef struct spinner spinner;
spinner *spinner_start(cli *c, const char *label);
void spinner_stop(spinner *s);
uint64_t now_us(void);

/* ---- command functions (one file per group) ----------------------------------------------- */

int cmd_get(cli *c, int argc, char **argv);
int cmd_ttl(cli *c, int argc, char **argv);
int cmd_put(cli *c, int argc, char **argv);
int cmd_del(cli *c, int argc, char **argv);
int cmd_cas(cli *c, int argc, char **argv);
int cmd_list(cli *c, int argc, char **argv);
int cmd_begin(cli *c, int argc, char **argv);
/* begin --as-of AT: an explicit transaction that reads the past (read-only). */
int cmd_begin_at(cli *c, const char *at, int argc, char **argv);
int cmd_commit(cli *c, int argc, char **argv);
int cmd_abort(cli *c, int argc, char **argv);
int cmd_use(cli *c, int argc, char **argv);

int cmd_run_begin(cli *c, int argc, char **argv);
int cmd_run_end(cli *c, int argc, char **argv);
int cmd_run_list(cli *c, int argc, char **argv);
int cmd_run_show(cli *c, int argc, char **argv);
int cmd_run_children(cli *c, int argc, char **argv);
int cmd_run_delete(cli *c, int argc, char **argv);
int cmd_run_fork(cli *c, int argc, char **argv);
int cmd_run_replay(cli *c, int argc, char **argv);
int cmd_run_diff(cli *c, int argc, char **argv);
int cmd_history(cli *c, int argc, char **argv);
int cmd_state_history(cli *c, int argc, char **argv);
int cmd_wait(cli *c, int argc, char **argv);
int cmd_state_wait(cli *c, int argc, char **argv);
int cmd_event_wait(cli *c, int argc, char **argv);
int cmd_event_append(cli *c, int argc, char **argv);
int cmd_event_read(cli *c, int argc, char **argv);
int cmd_event_range(cli *c, int argc, char **argv);
int cmd_event_streams(cli *c, int argc, char **argv);
int cmd_event_verify(cli *c, int argc, char **argv);
int cmd_state_get(cli *c, int argc, char **argv);
int cmd_state_set(cli *c, int argc, char **argv);
int cmd_state_cas(cli *c, int argc, char **argv);
int cmd_trace_record(cli *c, int argc, char **argv);
int cmd_trace_get(cli *c, int argc, char **argv);
int cmd_trace_query(cli *c, int argc, char **argv);
int cmd_trace_tree(cli *c, int argc, char **argv);

int cmd_stats(cli *c, int argc, char **argv);
int cmd_info(cli *c, int argc, char **argv);
int cmd_verify(cli *c, int argc, char **argv);
int cmd_repair(cli *c, int argc, char **argv);
int cmd_checkpoint(cli *c, int argc, char **argv);
int cmd_backup(cli *c, int argc, char **argv);
int cmd_help(cli *c, int argc, char **argv);
int cmd_quit(cli *c, int argc, char **argv);

int cmd_dump(cli *c, int argc, char **argv);
int cmd_load(cli *c, int argc, char **argv);

/* Lists every begun run (newest first); *ids is malloc'ed. */
int cli_all_runs(inmem_txn *txn, inmem_run_id **ids, size_t *n);
/* Lists every run id holding data, begun or not (inmem_run_list_stored(), ascending); *ids is
 * malloc'ed. */
int cli_stored_runs(inmem_txn *txn, inmem_run_id **ids, size_t *n);
/* 1 if @p run holds data (any key of any primitive), else 0; < 0: an error. */
int cli_run_holds_data(inmem_txn *txn, const inmem_run_id *run);

/* Prints the result of a write: committed with @p version, or pending in the explicit
 * transaction (cmd_kv.c). */
int cli_print_written(cli *c, uint64_t version);

#endif /* INMEM_TOOLS_CLI_H */
