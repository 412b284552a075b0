/*
 * main.c — the inmem command-line tool: `inmem [options] DIR` opens a database and runs
 * commands on it, from the interactive shell, from -c 'cmd; cmd', or from standard input when it
 * is not a terminal. The database is opened read-only until a command writes (session.c), so
 * that inspecting never creates or changes a file.
 *
 * The shell uses libedit: line editing, a history kept in ~/.inmem_history (or $INMEM_HISTORY),
 * tab completion of command names, subcommands and options, and a prompt that shows an open
 * transaction. In scripted use the first failing command ends the session: it prints
 * "error: <message>" on stderr (with the line number for scripts read from standard input) and
 * the exit status is 1 (2 for a bad command line, 3 for a wait that timed out). A failed write
 * on standard output is a failed command too. An open transaction left at the end is aborted,
 * with a warning.
 *
 * A database whose log is corrupt does not open (INMEM_ECORRUPT). The session then starts
 * without one, so that `repair` (and `verify`, which says what a repair would drop) can still be
 * run; every other command says why there is no database, and the exit status is 1 unless a
 * repair opened it. A directory that holds no database also starts a session without one: a
 * write creates it (in a new or empty directory), an inspection says there is none.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <histedit.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: inmem [options] DIR [-c 'COMMAND; COMMAND...']\n"
            "       inmem --durability none [options]      (a database in memory only)\n"
            "\n"
            "Opens the inmem database in directory DIR and runs commands on it: from -c, from\n"
            "standard input when it is not a terminal, or in an interactive shell. DIR is opened\n"
            "read-only (nothing is created or changed) until a command writes; the first write\n"
            "opens it for writing, and creates the database if DIR is new or empty. Whatever\n"
            "that open cuts from the log (a torn tail) is said on stderr.\n"
            "\n"
            "options:\n"
            "  -c, --command CMDS     run CMDS (separated by ';') and exit\n"
            "  -j, --json             print each result as one JSON object per line\n"
            "      --raw              get, state get, event read: print only the value's bytes\n"
            "  -r, --read-only        never open for writing: writes are refused; works while\n"
            "                         another process has the database open for writing\n"
            "  -d, --durability MODE  none, async, batched (the default) or strict\n"
            "      --no-create        never create a database: a write to a DIR that holds none\n"
            "                         fails\n"
            "      --file-mode MODE   permissions of the files a write creates (octal; default\n"
            "                         0600, a new DIR 0700)\n"
            "      --history-ms DURATION\n"
            "                         keep every version replaced less than DURATION ago (ms,\n"
            "                         or 30s, 5m, 1h, 7d), for --as-of, history, replay, fork\n"
            "                         and diff. The database's policy: a session that writes\n"
            "                         with it stores it in the database, and later sessions\n"
            "                         without it keep it (a read-only session cannot change it)\n"
            "      --history-versions N\n"
            "                         keep at least the N newest versions of every key (the\n"
            "                         same way; 1 turns the stored policy off)\n"
            "      --repair           open for writing with repair: cut a corrupt log at the last\n"
            "                         good transaction (see the repair command); with\n"
            "                         --read-only: show the intact part, change nothing\n"
            "      --progress         always show progress bars (on stderr)\n"
            "      --no-progress      never show them (default: only on a terminal)\n"
            "  -h, --help             this help\n"
            "  -V, --version          the version\n"
            "\n"
            "In scripted use the first failing command ends the run: 'error: MESSAGE' on\n"
            "stderr, exit status 1. Status 2: a bad command line; 3: a wait timed out.\n"
            "\n");
    if (f == stdout) {
        cli dummy;
        memset(&dummy, 0, sizeof dummy);
        cli_help(&dummy, 0, NULL);
        printf("\nSee inmem(1) for the details and examples.\n");
    } else {
        fprintf(f, "Try 'inmem --help'.\n");
    }
}

/* ---- the interactive shell --------------------------------------------------------------- */

static cli *shell_cli; /* for the prompt and completion callbacks */

static char *prompt(EditLine *el)
{
    static char buf[128];
    (void)el;
    cli *c = shell_cli;
    inmem_txn_info ti;
    if (!c->db && c->open_rc != INMEM_NOTFOUND) /* (not found: the first write creates it) */
        snprintf(buf, sizeof buf, "inmem (no database)> ");
    else if (c->txn && c->as_of && inmem_txn_describe(c->txn, &ti) == 0)
        snprintf(buf, sizeof buf, "inmem (as of version %llu, read-only)> ",
                 (unsigned long long)ti.start_version);
    else if (c->txn && inmem_txn_describe(c->txn, &ti) == 0)
        snprintf(buf, sizeof buf, "inmem (txn @%llu, %zu write%s)> ",
                 (unsigned long long)ti.start_version, ti.write_set_size,
                 ti.write_set_size == 1 ? "" : "s");
    else if (c->opts.read_only)
        snprintf(buf, sizeof buf, "inmem (read-only)> ");
    else
        snprintf(buf, sizeof buf, "inmem> ");
    return buf;
}

#define MAX_MATCHES 64

static size_t match_len(const char *s)
{
    size_t n = 0;
    while (s[n] && s[n] != ' ' && s[n] != ']' && s[n] != '\n' && s[n] != '|')
        n++;
    return n;
}

/* Adds the candidate @p s (its first @p len bytes: a command, a verb or an option, cut out of a
 * longer string) if it starts with the word typed and is not there yet ("run" of every "run
 * ..." command, "--tag" of several). */
static void add_match(const char **m, size_t *n, const char *s, size_t len, const char *word,
                      size_t wlen)
{
    if (len < wlen || strncmp(s, word, wlen) != 0 || *n == MAX_MATCHES)
        return;
    for (size_t i = 0; i < *n; i++)
        if (match_len(m[i]) == len && strncmp(m[i], s, len) == 0)
            return;
    m[(*n)++] = s; /* s ends at len as match_len() sees it */
}

static unsigned char complete(EditLine *el, int ch)
{
    (void)ch;
    const LineInfo *li = el_line(el);
    const char *start = li->cursor;
    while (start > li->buffer && !isspace((unsigned char)start[-1]))
        start--;
    size_t wlen = (size_t)(li->cursor - start);
    char word[128], first[32] = "", second[32] = "";
    if (wlen >= sizeof word)
        return CC_ERROR;
    memcpy(word, start, wlen);
    word[wlen] = '\0';
    /* the words of the current command before this one */
    const char *line = li->buffer;
    for (const char *p = li->buffer; p < start; p++)
        if (*p == ';')
            line = p + 1;
    int nbefore = 0;
    for (const char *p = line; p < start;) {
        while (p < start && isspace((unsigned char)*p))
            p++;
        const char *q = p;
        while (q < start && !isspace((unsigned char)*q))
            q++;
        if (q > p) {
            char *dst = nbefore == 0 ? first : nbefore == 1 ? second : NULL;
            if (dst)
                snprintf(dst, sizeof first, "%.*s", (int)(q - p), p);
            nbefore++;
        }
        p = q;
    }
    const char *m[MAX_MATCHES];
    size_t n = 0;
    size_t fl = strlen(first);
    for (const cmd *k = cli_commands; k->name; k++) {
        if (nbefore == 0) {
            add_match(m, &n, k->name, match_len(k->name), word, wlen);
        } else if (nbefore == 1 && strncmp(k->name, first, fl) == 0 && k->name[fl] == ' ') {
            const char *verb = k->name + fl + 1;
            add_match(m, &n, verb, strlen(verb), word, wlen);
        } else if (word[0] == '-' && strncmp(k->name, first, fl) == 0 &&
                   (k->name[fl] == '\0' ||
                    (k->name[fl] == ' ' && strcmp(k->name + fl + 1, second) == 0))) {
            for (const char *o = strstr(k->args, "--"); o; o = strstr(o + 2, "--"))
                add_match(m, &n, o, match_len(o), word, wlen);
            if (k->flags & CMD_ASOF)
                add_match(m, &n, "--as-of", 7, word, wlen);
        }
    }
    if (n == 0)
        return CC_ERROR;
    size_t common = match_len(m[0]);
    for (size_t i = 1; i < n; i++) {
        size_t j = 0;
        while (j < common && m[i][j] == m[0][j])
            j++;
        common = j;
    }
    if (n == 1 || common > wlen) {
        char ins[128];
        snprintf(ins, sizeof ins, "%.*s%s", (int)(common - wlen), m[0] + wlen, n == 1 ? " " : "");
        el_insertstr(el, ins);
        return CC_REFRESH;
    }
    fputc('\n', stdout);
    for (size_t i = 0; i < n; i++)
        printf("%.*s%s", (int)match_len(m[i]), m[i], i + 1 < n ? "  " : "\n");
    return CC_REDISPLAY;
}

/* ^C in the shell abandons the line being typed (or a wait) instead of ending the session. */
volatile sig_atomic_t cli_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

static int shell(cli *c)
{
    shell_cli = c;
    char path[4096] = "";
    const char *env = getenv("INMEM_HISTORY"), *home = getenv("HOME");
    if (env && *env)
        snprintf(path, sizeof path, "%s", env);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.inmem_history", home);
    HistEvent ev;
    History *hist = history_init();
    EditLine *el = el_init("inmem", stdin, stdout, stderr);
    if (!hist || !el) {
        if (hist)
            history_end(hist);
        if (el)
            el_end(el);
        return cli_error(c, "cannot start the line editor");
    }
    history(hist, &ev, H_SETSIZE, 1000);
    history(hist, &ev, H_SETUNIQUE, 1);
    if (path[0])
        history(hist, &ev, H_LOAD, path);
    el_set(el, EL_EDITOR, "emacs");
    el_set(el, EL_SIGNAL, 1);
    el_set(el, EL_PROMPT, prompt);
    el_set(el, EL_HIST, history, hist);
    /* the wide form: libedit's narrow el_set(EL_ADDFN) leaks its copies of the two names */
    el_wset(el, EL_ADDFN, L"inmem-complete", L"complete command names", complete);
    el_set(el, EL_BIND, "^I", "inmem-complete", NULL);
    el_source(el, NULL);

    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: the read in el_gets() returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);
    while (!c->quit) {
        int count;
        cli_interrupted = 0;
        const char *line = el_gets(el, &count);
        if (cli_interrupted) {
            fputs("^C\n", stdout);
            el_reset(el);
            continue;
        }
        if (!line || count <= 0) {
            fputc('\n', stdout);
            break;
        }
        const char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            continue;
        char *copy = strdup(line);
        if (copy) {
            size_t len = strcspn(copy, "\n");
            while (len && isspace((unsigned char)copy[len - 1]))
                len--;
            copy[len] = '\0';
            history(hist, &ev, H_ENTER, copy);
            if (path[0])
                history(hist, &ev, H_SAVE, path);
            cli_run_line(c, copy);
            free(copy);
        }
        fflush(stdout);
    }
    sigaction(SIGINT, &old_sa, NULL);
    el_end(el);
    history_end(hist);
    return CMD_OK;
}

static int script_stdin(cli *c)
{
    char *line = NULL;
    size_t cap = 0;
    int rc = CMD_OK;
    while (!c->quit && getline(&line, &cap, stdin) > 0) {
        c->lineno++;
        if ((rc = cli_run_line(c, line)) != CMD_OK)
            break;
    }
    c->lineno = 0;
    free(line);
    return rc;
}

static void corrupt_hint(cli *c)
{
    cli_error(c, "cannot open %s: %s", fmt_path(c->dir), c->open_err);
    fprintf(stderr, "hint: `verify` says what a repair would drop; the repair command (or "
                    "--repair) cuts the log at the last good transaction\n");
}

/* 1 if @p dir holds an inmem database (a LOCK file, log segments, checkpoint images: the
 * library's rule), 0 if not or unreadable. */
static int holds_database(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)) != NULL)
        found = strcmp(e->d_name, "LOCK") == 0 || strncmp(e->d_name, "wal-", 4) == 0 ||
                strncmp(e->d_name, "ckpt-", 5) == 0;
    closedir(d);
    return found;
}

static int parse_mode(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 8);
    if (!*s || *end || errno || v > 0777)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* ---- main -------------------------------------------------------------------------------- */

static int parse_durability(const char *s, inmem_durability *out)
{
    static const char *const names[] = {"none", "async", "batched", "strict"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (inmem_durability)i;
            return 0;
        }
    return -1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"command", required_argument, NULL, 'c'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"read-only", no_argument, NULL, 'r'},
                                             {"durability", required_argument, NULL, 'd'},
                                             {"repair", no_argument, NULL, 'R'},
                                             {"progress", no_argument, NULL, 'P'},
                                             {"no-progress", no_argument, NULL, 'N'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {"raw", no_argument, NULL, 'W'},
                                             {"no-create", no_argument, NULL, 'C'},
                                             {"file-mode", required_argument, NULL, 'M'},
                                             {"history-ms", required_argument, NULL, 'H'},
                                             {"history-versions", required_argument, NULL, 'v'},
                                             {NULL, 0, NULL, 0}};
    cli c;
    memset(&c, 0, sizeof c);
    inmem_options_init(&c.opts);
    /* the largest sizes the library takes: an application may have written keys and values
     * under limits larger than the defaults, and a key longer than the open's max_key_size
     * cannot be read (INMEM_ETOOBIG), so that get, dump and load would fail on it */
    c.opts.max_key_size = 65536;
    c.opts.max_value_size = 1u << 30;
    const char *commands = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:jrd:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            commands = optarg;
            break;
        case 'j':
            c.json = 1;
            break;
        case 'r':
            c.opts.read_only = 1;
            break;
        case 'd':
            if (parse_durability(optarg, &c.opts.durability)) {
                fprintf(stderr, "error: unknown durability %s (none, async, batched, strict)\n",
                        clips(optarg));
                return 2;
            }
            break;
        case 'R':
            c.opts.repair = 1;
            break;
        case 'P':
            c.progress = 1;
            break;
        case 'N':
            c.progress = -1;
            break;
        case 'W':
            c.raw = 1;
            break;
        case 'C':
            c.opts.create_if_missing = 0;
            break;
        case 'M':
            if (parse_mode(optarg, &c.opts.file_mode) || (c.opts.file_mode & 0600) != 0600) {
                fprintf(stderr,
                        "error: --file-mode takes octal permissions within 0777 that include "
                        "0600 (owner read and write), not %s\n",
                        clips(optarg));
                return 2;
            }
            break;
        case 'H':
            if (cli_parse_duration(optarg, &c.opts.history_ms)) {
                fprintf(stderr,
                        "error: --history-ms must be a duration: ms, or a number with a unit "
                        "(250ms, 30s, 5m, 2h, 7d), not %s\n",
                        clips(optarg));
                return 2;
            }
            break;
        case 'v': {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (!isdigit((unsigned char)optarg[0]) || *end || errno || v > UINT32_MAX) {
                fprintf(stderr,
                        "error: --history-versions must be a number of versions (0 to %u), "
                        "not %s\n",
                        UINT32_MAX, clips(optarg));
                return 2;
            }
            c.opts.history_versions = (uint32_t)v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("inmem %s\n", inmem_version_string());
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc)
        c.dir = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "error: unexpected argument %s\n", clips(argv[optind]));
        usage(stderr);
        return 2;
    }
    if (!c.dir && c.opts.durability != INMEM_DURABILITY_NONE) {
        fprintf(stderr, "error: no database directory given\n");
        usage(stderr);
        return 2;
    }
    if (c.opts.durability == INMEM_DURABILITY_NONE && c.dir) {
        if (holds_database(c.dir))
            fprintf(stderr,
                    "error: %s holds an inmem database, but --durability none opens a new, empty "
                    "one in memory and never reads a directory: leave out --durability none to "
                    "open it\n",
                    fmt_path(c.dir));
        else
            fprintf(stderr, "error: --durability none keeps everything in memory and takes no "
                            "DIR (nothing is read or written)\n");
        return 2;
    }
    if (c.opts.durability == INMEM_DURABILITY_NONE && c.opts.read_only) {
        fprintf(stderr, "error: --read-only needs a DIR (--durability none has no files)\n");
        return 2;
    }
    if (c.raw && c.json) {
        fprintf(stderr, "error: --raw and --json do not go together\n");
        return 2;
    }
    c.interactive = !commands && isatty(STDIN_FILENO);
    c.stdin_commands = !commands && !c.interactive;

    if (c.interactive && session_start(&c) != 0) { /* (a script opens at its first command) */
        cli_error(&c, "cannot open %s: %s", c.dir ? fmt_path(c.dir) : "(memory)", c.open_err);
        return 1;
    }
    if (c.interactive && !c.db && c.open_rc == INMEM_ECORRUPT)
        corrupt_hint(&c);
    int failed = 0;

    if (c.interactive) {
        inmem_stats st;
        inmem_recovery_info r;
        if (c.db && inmem_db_stats(c.db, &st) == 0)
            printf("inmem %s: %s%s, version %llu, %llu keys. Type help, or quit to leave.\n",
                   inmem_version_string(), c.dir ? fmt_path(c.dir) : "in memory (durability none)",
                   c.opts.read_only ? " (read-only)" : "", (unsigned long long)st.version,
                   (unsigned long long)st.keys);
        else if (!c.db && c.open_rc == INMEM_NOTFOUND) {
            printf("inmem %s: %s holds no database yet (", inmem_version_string(), fmt_path(c.dir));
            out_text(stdout, session_open_detail(&c));
            printf("); the first write creates one (in a new or empty directory). Type help, or "
                   "quit to leave.\n");
        }
        if (c.db && c.dir && inmem_db_recovery(c.db, &r) == 0 && r.live_writer)
            printf("Another process has %s open for writing: this is the committed state when "
                   "the shell started, and writes will fail while that process holds it.\n",
                   fmt_path(c.dir));
        shell(&c);
        failed = 0; /* interactive errors were seen by the user */
    } else {
        int r = commands ? cli_run_line(&c, commands) : script_stdin(&c);
        int corrupt = !c.db && c.open_rc == INMEM_ECORRUPT;
        if (r == CMD_OK && corrupt)
            corrupt_hint(&c); /* no command said it: the database never opened */
        failed = r != CMD_OK || corrupt;
    }
    if (c.txn) {
        cli_warn(&c, "a transaction was still open: aborted");
        inmem_txn_free(c.txn);
        c.txn = NULL;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (!failed) /* (a failed command reported its own write error) */
            fprintf(stderr, "error: cannot write standard output\n");
        failed = 1;
    }
    int rc;
    if (c.db && (rc = inmem_db_close(c.db)) != 0) {
        fprintf(stderr, "error: closing the database: %s\n", inmem_strerror(rc));
        failed = 1;
    }
    return failed ? (c.exit_status ? c.exit_status : 1) : 0;
}
