/*
 * parse.c — reading what the user typed: a line is split into commands at ';' (outside quotes),
 * each command into words the way a shell would (quotes and backslash escapes), and a command's
 * words into options (--name [VALUE]) and positional arguments. Also the parsers of the values
 * commands take: unsigned numbers, run ids ("shared", "-" and "." included), span ids, run
 * statuses and span kinds. Every parser prints its own error and returns CMD_ERR on bad input.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* ---- lines and words --------------------------------------------------------------------- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int cli_split_words(const char *text, char *buf, char **words, int max, const char **err)
{
    const char *s = text;
    char *o = buf;
    int n = 0;
    *err = NULL;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        if (!*s)
            return n;
        if (n == max) {
            *err = "too many words in one command";
            return -1;
        }
        words[n++] = o;
        while (*s && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') {
            if (*s == '\'') {
                const char *end = strchr(s + 1, '\'');
                if (!end) {
                    *err = "unterminated ' quote";
                    return -1;
                }
                memcpy(o, s + 1, (size_t)(end - s - 1));
                o += end - s - 1;
                s = end + 1;
            } else if (*s == '"') {
                s++;
                while (*s && *s != '"') {
                    if (*s != '\\') {
                        *o++ = *s++;
                        continue;
                    }
                    s++;
                    switch (*s) {
                    case 'n':
                        *o++ = '\n';
                        break;
                    case 't':
                        *o++ = '\t';
                        break;
                    case 'r':
                        *o++ = '\r';
                        break;
                    case '\\':
                    case '"':
                    case '\'':
                        *o++ = *s;
                        break;
                    case 'x': {
                        int h = hexval((unsigned char)s[1]),
                            l = h < 0 ? -1 : hexval((unsigned char)s[2]);
                        if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                            *err = "bad \\x escape (two hex digits, not 00)";
                            return -1;
                        }
                        *o++ = (char)(h * 16 + l);
                        s += 2;
                        break;
                    }
                    case '\0':
                        *err = "unterminated \" quote";
                        return -1;
                    default:
                        *err = "unknown escape in \"...\" (use \\n \\t \\r \\\\ \\\" \\' \\xHH)";
                        return -1;
                    }
                    s++;
                }
                if (*s != '"') {
                    *err = "unterminated \" quote";
                    return -1;
                }
                s++;
            } else if (*s == '\\' && s[1]) {
                *o++ = s[1];
                s += 2;
            } else {
                *o++ = *s++;
            }
        }
        *o++ = '\0';
    }
}

int cli_split_commands(const char *line, char ***out)
{
    size_t cap = 4, n = 0;
    char **v = malloc(cap * sizeof *v);
    if (!v)
        return -1;
    const char *s = line, *start = line;
    int word_start = 1;
    for (;; s++) {
        int end = !*s || *s == ';' || (*s == '#' && word_start);
        if (end) {
            size_t len = (size_t)(s - start);
            const char *p = start;
            while (len && isspace((unsigned char)*p))
                p++, len--;
            if (len) {
                if (n + 1 >= cap) {
                    char **nv = realloc(v, (cap *= 2) * sizeof *v);
                    if (!nv)
                        goto fail;
                    v = nv;
                }
                if (!(v[n] = strndup(p, len)))
                    goto fail;
                n++;
            }
            if (!*s || *s == '#')
                break;
            start = s + 1;
            word_start = 1;
            continue;
        }
        if (*s == '\'' || *s == '"') {
            char q = *s++;
            while (*s && *s != q) {
                if (q == '"' && *s == '\\' && s[1])
                    s++;
                s++;
            }
            if (!*s)
                goto fail; /* unterminated: the word splitter would say so too */
        } else if (*s == '\\' && s[1]) {
            s++;
        }
        word_start = isspace((unsigned char)*s) != 0;
    }
    *out = v;
    return (int)n;
fail:
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return -1;
}

/* ---- options ----------------------------------------------------------------------------- */

int cli_args(cli *c, const char *cmdname, int argc, char **argv, const cli_opt *opts, int minpos,
             int maxpos, char **pos, int *npos)
{
    int n = 0, opts_done = 0;
    if (opts)
        for (const cli_opt *o = opts; o->name; o++) {
            if (o->val)
                *o->val = NULL;
            if (o->count)
                *o->count = 0;
        }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && strcmp(a, "--") == 0) {
            opts_done = 1;
            continue;
        }
        if (!opts_done && a[0] == '-' && a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const cli_opt *o = NULL;
            for (const cli_opt *p = opts; p && p->name; p++)
                if (strlen(p->name) == len && strncmp(p->name, name, len) == 0)
                    o = p;
            if (!o)
                return cli_error(c, "%s: unknown option %s (see: help %s)", cmdname,
                                 clip(a, (size_t)(name - a) + len), cmdname);
            const char *val = "1";
            if (o->has_arg) {
                if (eq)
                    val = eq + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                else
                    return cli_error(c, "%s: option --%s needs a value", cmdname, o->name);
            } else if (eq) {
                return cli_error(c, "%s: option --%s takes no value", cmdname, o->name);
            }
            if (o->list) {
                if (*o->count == o->max)
                    return cli_error(c, "%s: at most %zu --%s options", cmdname, o->max, o->name);
                o->list[(*o->count)++] = val;
            }
            if (o->val)
                *o->val = val;
            continue;
        }
        if (n == maxpos)
            return cli_error(c, "%s: too many arguments (see: help %s)", cmdname, cmdname);
        pos[n++] = argv[i];
    }
    if (n < minpos)
        return cli_error(c, "%s: missing arguments (see: help %s)", cmdname, cmdname);
    *npos = n;
    return 0;
}

/* ---- values ------------------------------------------------------------------------------ */

int cli_u64(cli *c, const char *what, const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return cli_error(c, "%s must be an unsigned number, not %s", what, clips(s));
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return cli_error(c, "%s must be an unsigned number, not %s", what, clips(s));
    *out = (uint64_t)v;
    return 0;
}

/* A duration: digits, an optional fraction, an optional unit (ms, s, m, h, d; none: ms).
 * @return 0, or -1 if @p s is not one or it overflows. */
static int parse_duration(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"", 1}, {"ms", 1}, {"s", 1e3}, {"m", 6e4}, {"h", 3.6e6}, {"d", 8.64e7}};
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return -1;
    while (isdigit((unsigned char)*p))
        p++;
    int frac = *p == '.';
    if (frac) {
        if (!isdigit((unsigned char)*++p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].unit) != 0)
            continue;
        if (!frac && units[i].ms == 1) { /* exact for whole ms */
            errno = 0;
            unsigned long long v = strtoull(s, NULL, 10);
            if (errno)
                return -1;
            *out = (uint64_t)v;
            return 0;
        }
        double v = strtod(s, NULL) * units[i].ms;
        if (!(v < 18446744073709551615.0))
            return -1;
        *out = (uint64_t)(v + 0.5);
        return 0;
    }
    return -1;
}

int cli_parse_duration(const char *s, uint64_t *out)
{
    return s ? parse_duration(s, out) : -1;
}

int cli_duration(cli *c, const char *what, const char *s, uint64_t *out)
{
    if (!s || parse_duration(s, out))
        return cli_error(c,
                         "%s must be a duration: ms, or a number with a unit (250ms, 30s, 5m, "
                         "2h, 7d), not %s",
                         what, clips(s));
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Reads @p n digits at *p into *out. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, ++*p) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

/* ISO 8601: YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|(+|-)HH[:]MM]; no zone: UTC. */
static int parse_iso(const char *s, uint64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
    const char *p = s;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
        return -1;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec))
                return -1;
            if (*p == '.') {
                p++;
                int scale = 100;
                if (!isdigit((unsigned char)*p))
                    return -1;
                for (; isdigit((unsigned char)*p); p++, scale /= 10)
                    ms += (*p - '0') * scale; /* digits past the third are dropped */
            }
        }
    }
    long offset = 0; /* seconds east of UTC */
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (*p && digits(&p, 2, &om))
            return -1;
        offset = sign * (oh * 3600L + om * 60L);
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d) /* (timegm normalises 31 February) */
        return -1;
    int64_t secs = (int64_t)t - offset;
    if (secs < 0)
        return -1;
    *out = (uint64_t)secs * 1000u + (uint64_t)ms;
    return 0;
}

/* TIME (see cli_time): @return 0, or -1 if @p s is not one. */
static int parse_time(const char *s, uint64_t *out)
{
    uint64_t d;
    if (strcmp(s, "now") == 0) {
        *out = now_ms();
        return 0;
    }
    if ((s[0] == '-' || s[0] == '+') && parse_duration(s + 1, &d) == 0) {
        uint64_t now = now_ms();
        if (s[0] == '-')
            *out = d < now ? now - d : 0;
        else
            *out = d < UINT64_MAX - now ? now + d : UINT64_MAX;
        return 0;
    }
    int all_digits = *s != '\0';
    for (const char *p = s; *p; p++)
        all_digits &= isdigit((unsigned char)*p) != 0;
    if (all_digits) {
        errno = 0;
        unsigned long long v = strtoull(s, NULL, 10);
        if (errno)
            return -1;
        *out = (uint64_t)v;
        return 0;
    }
    return parse_iso(s, out);
}

int cli_time(cli *c, const char *what, const char *s, uint64_t *out)
{
    if (s && parse_time(s, out) == 0)
        return 0;
    return cli_error(c,
                     "%s must be a time: Unix ms, ISO 8601 (2026-11-26T10:00:00.123Z; no zone: "
                     "UTC), now, or relative to now (-5m, +1h; units ms s m h d), not %s",
                     what, clips(s ? s : ""));
}

int cli_at(cli *c, const char *what, const char *s, uint64_t *out, int *is_time)
{
    /* a bare number is a version; a time in Unix ms needs its '@' */
    int all_digits = *s != '\0', at_digits = s[0] == '@' && s[1] != '\0';
    for (const char *p = s; *p; p++)
        all_digits &= isdigit((unsigned char)*p) != 0;
    for (const char *p = s + 1; at_digits && *p; p++)
        at_digits &= isdigit((unsigned char)*p) != 0;
    *is_time = !all_digits;
    if (all_digits) {
        errno = 0;
        unsigned long long v = strtoull(s, NULL, 10);
        if (!errno) {
            *out = (uint64_t)v;
            return 0;
        }
    } else if (at_digits ? parse_time(s + 1, out) == 0 : (s[0] != '@' && parse_time(s, out) == 0)) {
        return 0;
    }
    return cli_error(c,
                     "%s must be a version (a number) or a time: @UNIX_MS, ISO 8601 "
                     "(2026-11-26T10:00:00.123Z; no zone: UTC), now, or relative to now (-5m), "
                     "not %s",
                     what, clips(s));
}

int cli_double(cli *c, const char *what, const char *s, double *out)
{
    if (strcmp(s, "nan") == 0 || strcmp(s, "none") == 0) {
        *out = NAN;
        return 0;
    }
    errno = 0;
    char *end;
    double d = strtod(s, &end);
    if (errno || end == s || *end)
        return cli_error(c, "%s must be a number, not %s", what, clips(s));
    *out = d;
    return 0;
}

int cli_run(cli *c, const char *s, inmem_run_id *buf, const inmem_run_id **out)
{
    if (strcmp(s, "shared") == 0 || strcmp(s, "-") == 0) {
        *out = NULL;
        return 0;
    }
    if (strcmp(s, ".") == 0) {
        if (!c->has_current)
            return cli_error(c, "no current run: '.' needs `use RUN` or `run begin` first");
        *buf = c->current;
        *out = inmem_run_id_is_shared(buf) ? NULL : buf;
        return 0;
    }
    if (inmem_run_id_parse(s, buf) != 0)
        return cli_error(c, "not a run: %s (a 36-character run id, 'shared', '-' or '.')",
                         clips(s));
    *out = inmem_run_id_is_shared(buf) ? NULL : buf;
    return 0;
}

int cli_name(cli *c, const char *what, const char *s)
{
    if (!s)
        return 0;
    if (!*s)
        return cli_error(c, "%s must not be empty", what);
    if (strlen(s) >= INMEM_NAME_MAX)
        return cli_error(c, "%s %s is longer than %d bytes", what, clips(s), INMEM_NAME_MAX - 1);
    return 0;
}

int cli_span_id(cli *c, const char *s, int allow_root, inmem_run_id *out)
{
    if (allow_root && (strcmp(s, "root") == 0 || strcmp(s, "-") == 0)) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    if (inmem_run_id_parse(s, out) != 0)
        return cli_error(c, "not a span id: %s (36 characters, like a run id%s)", clips(s),
                         allow_root ? ", or 'root'" : "");
    return 0;
}

static const char *const status_names[] = {NULL,     "active",    "completed",
                                           "failed", "cancelled", "archived"};
static const char *const kind_names[] = {NULL,      "tool_call", "decision", "query",
                                         "thought", "error",     "custom"};

const char *cli_status_name(inmem_run_status s)
{
    return s >= INMEM_RUN_ACTIVE && s <= INMEM_RUN_ARCHIVED ? status_names[s] : "unknown";
}

const char *cli_kind_name(inmem_trace_kind k)
{
    return k >= INMEM_TRACE_TOOL_CALL && k <= INMEM_TRACE_CUSTOM ? kind_names[k] : "unknown";
}

int cli_status(cli *c, const char *s, inmem_run_status *out)
{
    for (int i = INMEM_RUN_ACTIVE; i <= INMEM_RUN_ARCHIVED; i++)
        if (strcmp(s, status_names[i]) == 0) {
            *out = (inmem_run_status)i;
            return 0;
        }
    return cli_error(c, "unknown run status %s (active, completed, failed, cancelled, archived)",
                     clips(s));
}

int cli_kind(cli *c, const char *s, inmem_trace_kind *out)
{
    for (int i = INMEM_TRACE_TOOL_CALL; i <= INMEM_TRACE_CUSTOM; i++) {
        const char *k = kind_names[i];
        size_t len = strlen(k);
        int same = strlen(s) == len;
        for (size_t j = 0; same && j < len; j++) /* tool-call is tool_call */
            same = s[j] == k[j] || (s[j] == '-' && k[j] == '_');
        if (same) {
            *out = (inmem_trace_kind)i;
            return 0;
        }
    }
    return cli_error(c,
                     "unknown span kind %s (tool_call, decision, query, thought, error, "
                     "custom)",
                     clips(s));
}
