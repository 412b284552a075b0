/*
 * output.c — everything the tool prints: errors ("error: <message>" on stderr, with the
 * library's detail from inmem_errmsg()), values for people (as is when printable, else quoted
 * with escapes), values in JSON (a string when the bytes are UTF-8 without NUL, else base64 in a
 * "<field>_b64" member, so that any bytes survive a dump and load), and the small formatters
 * for run ids, times and sizes. JSON is built and printed with jansson.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static size_t utf8_char(const unsigned char *p, size_t n);

/* ---- errors ------------------------------------------------------------------------------ */

void out_text(FILE *f, const char *s)
{
    const unsigned char *b = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0, k; i < n; i += k) {
        if ((k = utf8_char(b + i, n - i))) {
            fwrite(b + i, 1, k, f);
        } else {
            fprintf(f, "\\x%02x", b[i]);
            k = 1;
        }
    }
}

/* The rest of a message, formatted, through out_text(): what it names (a path, the library's
 * message about one) never reaches the terminal as a control sequence. */
static void vmessage(FILE *f, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void vmessage(FILE *f, const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        fputs("(out of memory formatting the message)", f);
        return;
    }
    out_text(f, s);
    free(s);
}

void cli_mark_errmsg(cli *c)
{
    snprintf(c->errmark, sizeof c->errmark, "%s", inmem_errmsg());
}

void cli_error_start(cli *c)
{
    fflush(stdout);
    fputs("error: ", stderr);
    if (c && c->lineno)
        fprintf(stderr, "line %zu: ", c->lineno);
}

int cli_error(cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_error_start(c);
    vmessage(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CMD_ERR;
}

const char *cli_lib_message(cli *c, int rc)
{
    /* inmem_errmsg() keeps the last detailed error of the thread: use it only if it is new
     * since the mark and is about this error (it starts with its description). */
    const char *msg = inmem_errmsg(), *desc = inmem_strerror(rc);
    size_t dl = strlen(desc);
    if (strcmp(msg, c->errmark) != 0 && strncmp(msg, desc, dl) == 0 && msg[dl] == ':')
        return msg;
    return desc;
}

const char *cli_lib_detail(cli *c, int rc)
{
    const char *msg = cli_lib_message(c, rc), *desc = inmem_strerror(rc);
    size_t dl = strlen(desc);
    if (msg != desc && strncmp(msg, desc, dl) == 0 && msg[dl] == ':' && msg[dl + 1] == ' ')
        return msg + dl + 2;
    return msg;
}

int cli_lib_error(cli *c, int rc, const char *fmt, ...)
{
    const char *msg = cli_lib_message(c, rc);
    cli_error_start(c);
    va_list ap;
    va_start(ap, fmt);
    vmessage(stderr, fmt, ap);
    va_end(ap);
    fputs(": ", stderr);
    out_text(stderr, msg);
    fputc('\n', stderr);
    cli_mark_errmsg(c);
    c->lib_rc = rc;
    return CMD_ERR;
}

void cli_warn(cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fputs("warning: ", stderr);
    if (c && c->lineno)
        fprintf(stderr, "line %zu: ", c->lineno);
    vmessage(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- values ------------------------------------------------------------------------------ */

/* Code points that print as nothing or as a blank although they are not a plain space:
 * non-breaking and other spaces, zero-width characters, bidirectional controls (which reorder
 * what a terminal shows), line and paragraph separators, the byte order mark, the tag
 * characters. Shown escaped, so that two different names never look alike. */
static int invisible(uint32_t cp)
{
    return cp == 0xa0 || cp == 0xad || cp == 0x61c || cp == 0x1680 || cp == 0x180e ||
           (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
           (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 || cp == 0xfeff ||
           (cp >= 0xfff9 && cp <= 0xfffb) || (cp >= 0xe0000 && cp <= 0xe007f);
}

/* The length of the printable character at @p p (valid UTF-8: no overlongs, no surrogates, no
 * control characters, nothing invisible()), or 0. */
static size_t utf8_char(const unsigned char *p, size_t n)
{
    unsigned char b = p[0];
    if (b < 0x80)
        return b < 0x20 || b == 0x7f ? 0 : 1;
    size_t len;
    uint32_t cp;
    if (b >= 0xc2 && b <= 0xdf)
        len = 2, cp = b & 0x1f;
    else if (b >= 0xe0 && b <= 0xef)
        len = 3, cp = b & 0x0f;
    else if (b >= 0xf0 && b <= 0xf4)
        len = 4, cp = b & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t j = 1; j < len; j++) {
        if ((p[j] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[j] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0) || invisible(cp))
        return 0;
    return len;
}

static int printable_utf8(const unsigned char *p, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = utf8_char(p + i, n - i)))
            return 0;
    return 1;
}

/* Whether out_bytes() prints @p p as it is: printable, and nothing in it reads as the
 * separators around it (two spaces between columns, " = " between a key and its value) or as
 * what the tool prints for no value (<deleted>). */
static int plain_text(const unsigned char *b, size_t n)
{
    return n > 0 && printable_utf8(b, n) && b[0] != '"' && b[0] != ' ' && b[n - 1] != ' ' &&
           !memmem(b, n, "  ", 2) && !memmem(b, n, " = ", 3) &&
           !(n == 9 && memcmp(b, "<deleted>", 9) == 0);
}

void out_bytes(FILE *f, const void *p, size_t n)
{
    if (plain_text(p, n)) {
        fwrite(p, 1, n, f);
        return;
    }
    out_quoted(f, p, n);
}

void out_name(FILE *f, const char *name)
{
    out_bytes(f, name, strlen(name));
}

void out_item(FILE *f, const void *p, size_t n)
{
    if (memchr(p, ',', n) || (n == 1 && *(const char *)p == '-'))
        out_quoted(f, p, n);
    else
        out_bytes(f, p, n);
}

void out_quoted(FILE *f, const void *p, size_t n)
{
    const unsigned char *b = p;
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = b[i];
        switch (ch) {
        case '\n':
            fputs("\\n", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '"':
            fputs("\\\"", f);
            break;
        default: {
            size_t k = utf8_char(b + i, n - i);
            if (!k) {
                fprintf(f, "\\x%02x", ch);
            } else {
                fwrite(b + i, 1, k, f);
                i += k - 1;
            }
        }
        }
    }
    fputc('"', f);
}

void out_raw(cli *c, const void *p, size_t n)
{
    if (n)
        fwrite(p, 1, n, stdout);
    if (c->interactive && (n == 0 || ((const char *)p)[n - 1] != '\n'))
        putchar('\n'); /* (the shell's prompt on a line of its own) */
}

#define CLIP_MAX 60

const char *clip(const void *p, size_t n)
{
    static char bufs[4][CLIP_MAX * 4 + 48];
    static unsigned next;
    char *buf = bufs[next++ % 4], *o = buf;
    const unsigned char *b = p;
    size_t shown = n > CLIP_MAX ? CLIP_MAX : n;
    *o++ = '\'';
    for (size_t i = 0; i < shown; i++) {
        size_t k = utf8_char(b + i, shown - i);
        if (k && b[i] != '\'' && b[i] != '\\') {
            memcpy(o, b + i, k);
            o += k;
            i += k - 1;
        } else {
            o += sprintf(o, "\\x%02x", b[i]);
        }
    }
    if (shown < n)
        o += sprintf(o, "...' (%zu bytes)", n);
    else
        *o++ = '\'';
    *o = '\0';
    return buf;
}

const char *fmt_path(const char *path)
{
    static char *bufs[4];
    static unsigned next;
    const unsigned char *b = (const unsigned char *)path;
    size_t n = strlen(path);
    if (n > 0 && printable_utf8(b, n) && b[0] != '"' && !memchr(b, ' ', n))
        return path;
    char **slot = &bufs[next++ % 4];
    free(*slot);
    *slot = NULL;
    size_t len;
    FILE *m = open_memstream(slot, &len);
    if (!m)
        return "(a path: out of memory)";
    out_quoted(m, path, n);
    if (fclose(m) != 0 || !*slot)
        return "(a path: out of memory)";
    return *slot;
}

const char *clips(const char *s)
{
    return clip(s ? s : "", s ? strlen(s) : 0);
}

void out_set_bytes(json_t *obj, const char *field, const void *p, size_t n)
{
    json_t *s = NULL;
    if (!memchr(p ? p : "", 0, p ? n : 0))
        s = json_stringn(p ? p : "", n); /* NULL if not UTF-8 */
    if (s) {
        json_object_set_new(obj, field, s);
        return;
    }
    char name[80];
    snprintf(name, sizeof name, "%s_b64", field);
    char *b64 = b64_encode(p, n);
    json_object_set_new(obj, name, b64 ? json_string(b64) : json_null());
    free(b64);
}

void out_set_name(json_t *obj, const char *field, const char *name)
{
    out_set_bytes(obj, field, name, strlen(name));
}

void out_set_strings(json_t *obj, const char *field, const char *const *s, size_t n)
{
    json_t *a = json_array();
    size_t i = 0;
    for (; i < n; i++) {
        json_t *t = json_string(s[i]); /* NULL if not UTF-8 */
        if (!t)
            break;
        json_array_append_new(a, t);
    }
    if (i == n) {
        json_object_set_new(obj, field, a);
        return;
    }
    json_array_clear(a);
    for (i = 0; i < n; i++) {
        char *b64 = b64_encode(s[i], strlen(s[i]));
        json_array_append_new(a, b64 ? json_string(b64) : json_null());
        free(b64);
    }
    char name[80];
    snprintf(name, sizeof name, "%s_b64", field);
    json_object_set_new(obj, name, a);
}

void out_set_tags(json_t *obj, const char *field, const char (*tags)[INMEM_NAME_MAX], size_t n)
{
    const char *s[INMEM_MAX_TAGS];
    if (n > INMEM_MAX_TAGS) /* (never: the library keeps at most that many) */
        n = INMEM_MAX_TAGS;
    for (size_t i = 0; i < n; i++)
        s[i] = tags[i];
    out_set_strings(obj, field, s, n);
}

int json_get_bytes(json_t *obj, const char *field, char **p, size_t *n)
{
    json_t *s = json_object_get(obj, field);
    char name[80];
    snprintf(name, sizeof name, "%s_b64", field);
    if (s && json_object_get(obj, name))
        return -1; /* both forms: which one is meant? */
    if (s) {
        if (!json_is_string(s))
            return -1;
        *n = json_string_length(s);
        if (!(*p = malloc(*n + 1)))
            return -1;
        memcpy(*p, json_string_value(s), *n);
        (*p)[*n] = '\0';
        return 1;
    }
    if (!(s = json_object_get(obj, name)))
        return 0;
    if (!json_is_string(s))
        return -1;
    return b64_decode(json_string_value(s), json_string_length(s), p, n) ? -1 : 1;
}

void out_json(json_t *obj)
{
    if (!obj)
        return;
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(obj);
}

json_t *json_run(const inmem_run_id *id)
{
    char buf[INMEM_RUN_ID_STRLEN + 1];
    return json_string(fmt_run(id, buf));
}

json_t *json_u64(uint64_t v)
{
    if (v <= (uint64_t)INT64_MAX)
        return json_integer((json_int_t)v);
    char buf[24]; /* beyond a JSON integer of jansson (int64): a decimal string */
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return json_string(buf);
}

json_t *json_hash(uint64_t h)
{
    char buf[17];
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
    return json_string(buf);
}

json_t *json_confidence(double d)
{
    if (isnan(d))
        return json_null();
    if (isinf(d))
        return json_string(d > 0 ? "inf" : "-inf");
    return json_real(d);
}

/* ---- formatting -------------------------------------------------------------------------- */

const char *fmt_run(const inmem_run_id *id, char buf[INMEM_RUN_ID_STRLEN + 1])
{
    if (inmem_run_id_is_shared(id))
        return strcpy(buf, "shared");
    inmem_run_id_format(id, buf);
    return buf;
}

const char *fmt_time(uint64_t ms, char buf[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, 32, "%llu", (unsigned long long)ms);
        return buf;
    }
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03uZ", (unsigned)(ms % 1000));
    return buf;
}

const char *fmt_size(uint64_t bytes, char buf[32])
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4)
        v /= 1024, u++;
    if (u == 0)
        snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, 32, "%.1f %s", v, units[u]);
    return buf;
}

const char *fmt_bytes(uint64_t bytes, char buf[48])
{
    char h[32];
    if (bytes < 1024)
        snprintf(buf, 48, "%llu byte%s", (unsigned long long)bytes, bytes == 1 ? "" : "s");
    else
        snprintf(buf, 48, "%llu bytes (%s)", (unsigned long long)bytes, fmt_size(bytes, h));
    return buf;
}

const char *fmt_count(uint64_t n, const char *noun, char buf[96])
{
    if (n == INMEM_COUNT_UNKNOWN)
        snprintf(buf, 96, "an unknown number of %ss", noun);
    else
        snprintf(buf, 96, "%llu %s%s", (unsigned long long)n, noun, n == 1 ? "" : "s");
    return buf;
}

const char *fmt_exactly(uint64_t n)
{
    return n == INMEM_COUNT_UNKNOWN ? "" : "exactly ";
}

const char *fmt_span(uint64_t ms, char buf[32])
{
    static const struct {
        uint64_t ms;
        const char *unit;
    } units[] = {{86400000u, "d"}, {3600000u, "h"}, {60000u, "m"}, {1000u, "s"}};
    for (size_t i = 0; ms && i < sizeof units / sizeof units[0]; i++)
        if (ms % units[i].ms == 0) {
            snprintf(buf, 32, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
            return buf;
        }
    snprintf(buf, 32, "%llums", (unsigned long long)ms);
    return buf;
}

/* ---- base64 (RFC 4648, with padding) ----------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *b64_encode(const void *p, size_t n)
{
    const unsigned char *s = p;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = b64[(v >> 6) & 63];
        *o++ = b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

int b64_decode(const char *s, size_t len, char **out, size_t *n)
{
    if (len % 4)
        return -1;
    unsigned char *o = malloc(len / 4 * 3 + 1);
    if (!o)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            char ch = s[i + j];
            const char *q = ch ? strchr(b64, ch) : NULL;
            int d;
            if (ch == '=' && i + 4 == len && j >= 2 && (j == 3 || s[i + 3] == '='))
                d = 0, pad++;
            else if (q && !pad)
                d = (int)(q - b64);
            else {
                free(o);
                return -1;
            }
            v = v << 6 | (uint32_t)d;
        }
        o[k++] = (unsigned char)(v >> 16);
        if (pad < 2)
            o[k++] = (unsigned char)(v >> 8);
        if (pad < 1)
            o[k++] = (unsigned char)v;
    }
    o[k] = '\0';
    *out = (char *)o;
    *n = k;
    return 0;
}
