/*
 * load.c — `load`: reads a dump (the JSON-lines format described in dump.c) and writes it into
 * the database through transactions.
 *
 * Every line is checked before anything of it is written: it must be one JSON object whose
 * members are exactly those its record type allows (an unknown member, a member of the wrong
 * JSON type — "tenant":5 —, a byte string given both as "x" and "x_b64", a name with a NUL or
 * longer than 63 bytes, a bad run id, hash or number is refused, naming the line). Event records
 * that carry their hashes (every dump but a --canonical one) are checked against the hash chain
 * the dump claims, with the event hash of docs/FORMAT.md (XXH3-64 of prev hash, seq, time, type,
 * payload): the events of a stream must come in order from seq 1, each prev_hash must be the
 * previous event's hash, each hash must match its event, and times must not go backwards. A
 * stream whose chain does not check was tampered with (in the source database, or in the dump
 * file) and is refused, unless --ignore-hashes (then it is loaded with new hashes, and the
 * evidence is gone).
 *
 * Records are applied in batches of up to 500 records (or 4 MiB of input), each batch one
 * closure transaction (inmem_db_transact(), so a conflict re-runs the batch; the records are
 * kept until it commits). A run record begins the run with its id, parent, namespace and tags,
 * then moves it to its status (an archived run through "completed"); a run that exists already
 * is an error, and a parent missing from this database is dropped with a warning (moving one run
 * between databases). kv records are put with their expiry (expire_at_ms, absolute), event
 * records appended (the sequence number they get must be the dump's: a stream that already had
 * events is an error), span records recorded with their ids. The header must come first and the
 * end record last, with the right count: a truncated dump is refused. A failure stops the load;
 * the batches before it stay committed.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <xxhash.h>

#include "cli.h"

#define BATCH_RECORDS 500
#define BATCH_BYTES   (4u << 20)

/* ---- the records' members -------------------------------------------------------------------- */

typedef enum ftype {
    F_STR,      /* a JSON string */
    F_INT,      /* a JSON integer */
    F_U64,      /* an unsigned number: a JSON integer, or a decimal string (json_u64) */
    F_BYTES,    /* bytes: "x" (a string) or "x_b64" (base64) */
    F_NAME,     /* bytes as F_BYTES, 1 to 63 of them, no NUL */
    F_NAME0,    /* the same, possibly empty (a namespace part) */
    F_TAGS,     /* "x": [names] or "x_b64": [base64 names], at most INMEM_MAX_TAGS */
    F_RUN,      /* a run id, or "shared" */
    F_RUN_NULL, /* a run id, or null */
    F_HASH,     /* 16 hex digits */
    F_CONF      /* a number, null, "inf" or "-inf" */
} ftype;

typedef struct field {
    const char *name;
    ftype type;
    int required;
} field;

#define MAX_FIELDS 16

typedef struct spec {
    const char *record;
    field fields[MAX_FIELDS];
} spec;

static const spec specs[] = {
    {"header",
     {{"record", F_STR, 1},
      {"format", F_STR, 1},
      {"format_version", F_INT, 1},
      {"inmem", F_STR, 0},
      {"scope", F_STR, 0},
      {"run", F_RUN, 0},
      {"db_version", F_U64, 0},
      {"time_ms", F_U64, 0}}},
    {"run",
     {{"record", F_STR, 1},
      {"run", F_RUN, 1},
      {"status", F_STR, 1},
      {"parent", F_RUN_NULL, 0},
      {"tenant", F_NAME0, 0},
      {"app", F_NAME0, 0},
      {"agent", F_NAME0, 0},
      {"tags", F_TAGS, 0},
      {"created_ms", F_U64, 0},
      {"ended_ms", F_U64, 0}}},
    {"kv",
     {{"record", F_STR, 1},
      {"run", F_RUN, 1},
      {"key", F_BYTES, 1},
      {"value", F_BYTES, 1},
      {"expire_at_ms", F_U64, 0},
      {"version", F_U64, 0}}},
    {"state",
     {{"record", F_STR, 1},
      {"run", F_RUN, 1},
      {"name", F_NAME, 1},
      {"value", F_BYTES, 1},
      {"version", F_U64, 0}}},
    {"event",
     {{"record", F_STR, 1},
      {"run", F_RUN, 1},
      {"stream", F_NAME, 1},
      {"seq", F_U64, 1},
      {"type", F_NAME, 1},
      {"payload", F_BYTES, 1},
      {"time_ms", F_U64, 0},
      {"prev_hash", F_HASH, 0},
      {"hash", F_HASH, 0}}},
    {"span",
     {{"record", F_STR, 1},
      {"run", F_RUN, 1},
      {"span", F_RUN, 1},
      {"parent", F_RUN_NULL, 0},
      {"kind", F_STR, 1},
      {"name", F_NAME, 1},
      {"input", F_BYTES, 0},
      {"output", F_BYTES, 0},
      {"confidence", F_CONF, 0},
      {"start_ms", F_U64, 1},
      {"duration_us", F_U64, 1},
      {"tags", F_TAGS, 0}}},
    {"end", {{"record", F_STR, 1}, {"records", F_U64, 1}}},
};

/* A member's value, once checked. */
typedef struct fval {
    int present;
    const char *str; /* F_STR: borrowed from the JSON object */
    char *bytes;     /* F_BYTES, F_NAME, F_NAME0: malloc'ed, NUL-terminated */
    size_t len;
    uint64_t u;                   /* F_INT, F_U64, F_HASH */
    inmem_run_id id;              /* F_RUN, F_RUN_NULL */
    int shared;                   /* F_RUN: "shared"; F_RUN_NULL: null */
    double d;                     /* F_CONF */
    char (*tags)[INMEM_NAME_MAX]; /* F_TAGS: malloc'ed */
    size_t ntags;
} fval;

typedef struct rec {
    const spec *sp;
    fval v[MAX_FIELDS];
} rec;

static void rec_free(rec *r)
{
    for (int i = 0; i < MAX_FIELDS; i++) {
        free(r->v[i].bytes);
        free(r->v[i].tags);
    }
    memset(r, 0, sizeof *r);
}

/* The value of field @p name (a spec always has it). */
static fval *val(rec *r, const char *name)
{
    for (int i = 0; i < MAX_FIELDS && r->sp->fields[i].name; i++)
        if (strcmp(r->sp->fields[i].name, name) == 0)
            return &r->v[i];
    return NULL;
}

static const inmem_run_id *run_of(fval *f)
{
    return f->present && !f->shared ? &f->id : NULL;
}

static const char *json_type_name(json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static int is_bytes_type(ftype t)
{
    return t == F_BYTES || t == F_NAME || t == F_NAME0 || t == F_TAGS;
}

/* Reads bytes from a string member: as is, or base64 (@p b64). @return NULL if OK, else why. */
static const char *get_bytes(json_t *j, int b64, char **p, size_t *n)
{
    if (!json_is_string(j))
        return "must be a string";
    if (b64)
        return b64_decode(json_string_value(j), json_string_length(j), p, n) ? "is not base64"
                                                                             : NULL;
    *n = json_string_length(j);
    if (!(*p = malloc(*n + 1)))
        return "out of memory";
    memcpy(*p, json_string_value(j), *n);
    (*p)[*n] = '\0';
    return NULL;
}

static const char *check_name(const char *p, size_t n, int may_be_empty)
{
    if (memchr(p, 0, n))
        return "holds a NUL byte (names are C strings)";
    if (n == 0 && !may_be_empty)
        return "must not be empty";
    if (n >= INMEM_NAME_MAX)
        return "is longer than 63 bytes";
    return NULL;
}

static const char *get_u64(json_t *j, uint64_t *out)
{
    if (json_is_string(j)) { /* above INT64_MAX: a decimal string (see json_u64) */
        const char *s = json_string_value(j);
        char *end;
        errno = 0;
        unsigned long long n = strtoull(s, &end, 10);
        if (!isdigit((unsigned char)s[0]) || *end || errno)
            return "must be an unsigned integer";
        *out = (uint64_t)n;
        return NULL;
    }
    if (!json_is_integer(j) || json_integer_value(j) < 0)
        return "must be an unsigned integer";
    *out = (uint64_t)json_integer_value(j);
    return NULL;
}

/* Checks one member against its field; fills @p v. @return NULL, or why it is bad. */
static const char *check_member(const field *f, int b64, json_t *j, fval *v)
{
    const char *why = NULL;
    v->present = 1;
    switch (f->type) {
    case F_STR:
        if (!json_is_string(j))
            return "must be a string";
        v->str = json_string_value(j);
        return NULL;
    case F_INT:
        if (!json_is_integer(j))
            return "must be an integer";
        v->u = (uint64_t)json_integer_value(j);
        return NULL;
    case F_U64:
        return get_u64(j, &v->u);
    case F_BYTES:
        return get_bytes(j, b64, &v->bytes, &v->len);
    case F_NAME:
    case F_NAME0:
        if ((why = get_bytes(j, b64, &v->bytes, &v->len)) != NULL)
            return why;
        return check_name(v->bytes, v->len, f->type == F_NAME0);
    case F_TAGS:
        if (!json_is_array(j))
            return "must be an array of strings";
        if (json_array_size(j) > INMEM_MAX_TAGS)
            return "has more than 16 tags";
        if (!(v->tags = calloc(INMEM_MAX_TAGS, INMEM_NAME_MAX)))
            return "out of memory";
        for (size_t i = 0; i < json_array_size(j); i++) {
            char *p = NULL;
            size_t n;
            json_t *e = json_array_get(j, i);
            if (!json_is_string(e))
                return "holds an element that is not a string";
            if ((why = get_bytes(e, b64, &p, &n)) == NULL)
                why = check_name(p, n, 0);
            if (why) {
                free(p);
                return why;
            }
            memcpy(v->tags[i], p, n + 1);
            free(p);
        }
        v->ntags = json_array_size(j);
        return NULL;
    case F_RUN:
    case F_RUN_NULL:
        if (f->type == F_RUN_NULL && json_is_null(j)) {
            v->shared = 1;
            return NULL;
        }
        if (!json_is_string(j))
            return f->type == F_RUN ? "must be a run id (a string) or \"shared\""
                                    : "must be a run id (a string) or null";
        if (f->type == F_RUN && strcmp(json_string_value(j), "shared") == 0) {
            v->shared = 1;
            return NULL;
        }
        if (inmem_run_id_parse(json_string_value(j), &v->id))
            return "is not a run id";
        v->shared = inmem_run_id_is_shared(&v->id);
        return NULL;
    case F_HASH: {
        const char *s = json_is_string(j) ? json_string_value(j) : NULL;
        char *end;
        if (!s || strlen(s) != 16 || !isxdigit((unsigned char)s[0]))
            return "must be 16 hex digits";
        errno = 0;
        v->u = (uint64_t)strtoull(s, &end, 16);
        return *end || errno ? "must be 16 hex digits" : NULL;
    }
    case F_CONF:
        if (json_is_null(j))
            v->d = NAN;
        else if (json_is_number(j))
            v->d = json_number_value(j);
        else if (json_is_string(j) && strcmp(json_string_value(j), "inf") == 0)
            v->d = INFINITY;
        else if (json_is_string(j) && strcmp(json_string_value(j), "-inf") == 0)
            v->d = -INFINITY;
        else
            return "must be a number, null, \"inf\" or \"-inf\"";
        return NULL;
    }
    return "has an unknown type";
}

/*
 * Checks the JSON object of a record against its spec and fills @p r. @return 0, or -1 with
 * the reason in @p err (without the line number).
 */
static int parse_record(json_t *o, rec *r, char *err, size_t size)
{
    memset(r, 0, sizeof *r);
    json_t *t = json_object_get(o, "record");
    if (!json_is_string(t)) {
        snprintf(err, size, "not a dump record (no \"record\" member, or not a string)");
        return -1;
    }
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (strcmp(specs[i].record, json_string_value(t)) == 0)
            r->sp = &specs[i];
    if (!r->sp) {
        snprintf(err, size, "unknown record %s", clips(json_string_value(t)));
        return -1;
    }
    const char *key;
    json_t *j;
    json_object_foreach(o, key, j)
    {
        size_t kl = strlen(key);
        int b64 = kl > 4 && strcmp(key + kl - 4, "_b64") == 0, k = -1;
        for (int i = 0; i < MAX_FIELDS && r->sp->fields[i].name; i++) {
            const field *f = &r->sp->fields[i];
            if (b64 ? is_bytes_type(f->type) && strlen(f->name) == kl - 4 &&
                          strncmp(f->name, key, kl - 4) == 0
                    : strcmp(f->name, key) == 0)
                k = i;
        }
        if (k < 0) {
            snprintf(err, size, "unknown member %s in a %s record", clips(key), r->sp->record);
            goto fail;
        }
        const field *f = &r->sp->fields[k];
        if (r->v[k].present) {
            snprintf(err, size, "a %s record gives both \"%s\" and \"%s_b64\"", r->sp->record,
                     f->name, f->name);
            goto fail;
        }
        const char *why = check_member(f, b64, j, &r->v[k]);
        if (why) {
            snprintf(err, size, "\"%s\" %s%s%s", key, why,
                     strncmp(why, "must", 4) == 0 ? ", not " : "",
                     strncmp(why, "must", 4) == 0 ? json_type_name(j) : "");
            goto fail;
        }
    }
    for (int i = 0; i < MAX_FIELDS && r->sp->fields[i].name; i++) {
        const field *f = &r->sp->fields[i];
        if (f->required && !r->v[i].present) {
            snprintf(err, size, "a %s record needs \"%s\"%s%s%s", r->sp->record, f->name,
                     is_bytes_type(f->type) ? " (or \"" : "", is_bytes_type(f->type) ? f->name : "",
                     is_bytes_type(f->type) ? "_b64\")" : "");
            goto fail;
        }
    }
    return 0;
fail:
    rec_free(r);
    return -1;
}

/* ---- loading ------------------------------------------------------------------------------- */

struct loader {
    cli *c;
    json_t **batch;
    size_t *lines;         /* line number of each record of the batch */
    unsigned char *warned; /* the batch's run records whose missing parent was warned of */
    size_t n, bytes;
    uint64_t records, runs, committed;
    int ignore_hashes;
    /* the stream whose events are being read (hash chain check) */
    int ev_valid;
    inmem_run_id ev_run;
    char ev_stream[INMEM_NAME_MAX];
    uint64_t ev_seq, ev_hash, ev_time;
    char err[700]; /* the first error */
};

static int bad(struct loader *l, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct loader *l, size_t line, const char *fmt, ...)
{
    int n = snprintf(l->err, sizeof l->err, "line %zu: ", line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err + n, sizeof l->err - (size_t)n, fmt, ap);
    va_end(ap);
    return INMEM_EINVAL;
}

static int lib_bad(struct loader *l, size_t line, const char *what, int rc)
{
    snprintf(l->err, sizeof l->err, "line %zu: %s: %s", line, what, cli_lib_message(l->c, rc));
    return rc;
}

static int parse_status(const char *s, inmem_run_status *out)
{
    for (int i = INMEM_RUN_ACTIVE; s && i <= INMEM_RUN_ARCHIVED; i++)
        if (strcmp(s, cli_status_name((inmem_run_status)i)) == 0) {
            *out = (inmem_run_status)i;
            return 0;
        }
    return -1;
}

static int parse_kind(const char *s, inmem_trace_kind *out)
{
    for (int i = INMEM_TRACE_TOOL_CALL; s && i <= INMEM_TRACE_CUSTOM; i++)
        if (strcmp(s, cli_kind_name((inmem_trace_kind)i)) == 0) {
            *out = (inmem_trace_kind)i;
            return 0;
        }
    return -1;
}

/* The event hash of docs/FORMAT.md: XXH3-64 (seed 0) of prev hash u64 · seq u64 · time_ms u64 ·
 * type length u32 · type · payload length u32 · payload, little-endian. */
static int event_hash(uint64_t prev, uint64_t seq, uint64_t time_ms, const char *type, size_t tlen,
                      const void *payload, size_t plen, uint64_t *out)
{
    size_t n = 8 + 8 + 8 + 4 + tlen + 4 + plen;
    unsigned char *b = malloc(n), *p = b;
    if (!b)
        return -1;
    uint64_t u[3] = {prev, seq, time_ms};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 8; i++)
            *p++ = (unsigned char)(u[k] >> (8 * i));
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)((uint32_t)tlen >> (8 * i));
    memcpy(p, type, tlen);
    p += tlen;
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)((uint32_t)plen >> (8 * i));
    if (plen)
        memcpy(p, payload, plen);
    *out = XXH3_64bits(b, n);
    free(b);
    return 0;
}

/* Checks an event record against the chain of its stream, as the dump gives it (read order). */
static int check_chain(struct loader *l, rec *r, size_t line)
{
    fval *run = val(r, "run"), *stream = val(r, "stream"), *seq = val(r, "seq"),
         *type = val(r, "type"), *payload = val(r, "payload"), *t = val(r, "time_ms"),
         *ph = val(r, "prev_hash"), *h = val(r, "hash");
    int given = t->present + ph->present + h->present;
    inmem_run_id rid;
    memset(&rid, 0, sizeof rid);
    if (run_of(run))
        rid = run->id;
    int same = l->ev_valid && memcmp(&rid, &l->ev_run, sizeof rid) == 0 &&
               strcmp(stream->bytes, l->ev_stream) == 0;
    char id[INMEM_RUN_ID_STRLEN + 1];
    const char *tail = "the chain was broken in the source database, or the dump was edited; "
                       "load --ignore-hashes loads it anyway, with new hashes";
    if (given && given != 3)
        return bad(l, line, "an event record gives all of time_ms, prev_hash and hash, or none");
    if (!same) {
        l->ev_valid = 1;
        l->ev_run = rid;
        memcpy(l->ev_stream, stream->bytes, stream->len + 1);
        l->ev_seq = 0;
        l->ev_hash = 0;
        l->ev_time = 0;
    }
    if (seq->u != l->ev_seq + 1)
        return bad(l, line,
                   "%s: stream %s: event %llu does not follow event %llu (a stream's events "
                   "come together, in order, from 1)",
                   fmt_run(run_of(run), id), clip(stream->bytes, stream->len),
                   (unsigned long long)seq->u, (unsigned long long)l->ev_seq);
    l->ev_seq = seq->u;
    if (!given || l->ignore_hashes)
        return 0;
    uint64_t want;
    if (event_hash(ph->u, seq->u, t->u, type->bytes, type->len, payload->bytes, payload->len,
                   &want))
        return bad(l, line, "out of memory");
    const char *why = ph->u != l->ev_hash ? "its prev_hash is not the previous event's hash"
                      : h->u != want      ? "its hash does not match its content"
                      : t->u < l->ev_time ? "its time is before the previous event's"
                                          : NULL;
    if (why)
        return bad(l, line, "%s: stream %s: event %llu: hash chain BROKEN: %s (%s)",
                   fmt_run(run_of(run), id), clip(stream->bytes, stream->len),
                   (unsigned long long)seq->u, why, tail);
    l->ev_hash = h->u;
    l->ev_time = t->u;
    return 0;
}

static int load_run(struct loader *l, inmem_txn *txn, rec *r, size_t line, unsigned char *warned)
{
    inmem_run_status st = INMEM_RUN_ACTIVE;
    const char *tagp[INMEM_MAX_TAGS];
    inmem_run_options ro;
    inmem_run_options_init(&ro);
    fval *run = val(r, "run"), *parent = val(r, "parent"), *tags = val(r, "tags");
    char id[INMEM_RUN_ID_STRLEN + 1];
    if (!run_of(run))
        return bad(l, line, "a run record needs \"run\": a run id, not the shared scope");
    if (parse_status(val(r, "status")->str, &st))
        return bad(l, line, "\"status\" must be active, completed, failed, cancelled or archived");
    const inmem_run_id *p = run_of(parent);
    inmem_run_info ri;
    int rc = inmem_run_get(txn, &run->id, &ri);
    if (rc == 0)
        return bad(l, line, "run %s already exists in this database (run delete it first)",
                   fmt_run(&run->id, id));
    if (rc != INMEM_NOTFOUND)
        return lib_bad(l, line, "run", rc);
    if (p && (rc = inmem_run_get(txn, p, &ri)) == INMEM_NOTFOUND) {
        char pid[INMEM_RUN_ID_STRLEN + 1];
        if (!*warned)
            cli_warn(l->c,
                     "line %zu: parent %s of run %s is not in this database: loaded without a "
                     "parent",
                     line, fmt_run(p, pid), fmt_run(&run->id, id));
        *warned = 1;
        p = NULL;
    } else if (p && rc) {
        return lib_bad(l, line, "run", rc);
    }
    for (size_t i = 0; i < tags->ntags; i++)
        tagp[i] = tags->tags[i];
    ro.id = &run->id;
    ro.parent = p;
    ro.tenant = val(r, "tenant")->bytes;
    ro.app = val(r, "app")->bytes;
    ro.agent = val(r, "agent")->bytes;
    ro.tags = tagp;
    ro.ntags = tags->ntags;
    if ((rc = inmem_run_begin(txn, &ro, NULL)) != 0)
        return lib_bad(l, line, "run begin", rc);
    if (st == INMEM_RUN_ARCHIVED && (rc = inmem_run_end(txn, &run->id, INMEM_RUN_COMPLETED)) != 0)
        return lib_bad(l, line, "run end", rc);
    if (st != INMEM_RUN_ACTIVE && (rc = inmem_run_end(txn, &run->id, st)) != 0)
        return lib_bad(l, line, "run end", rc);
    return 0;
}

static int load_kv(struct loader *l, inmem_txn *txn, rec *r, size_t line)
{
    fval *k = val(r, "key"), *v = val(r, "value"), *exp = val(r, "expire_at_ms");
    int rc = inmem_kv_put_expire_at(txn, run_of(val(r, "run")), k->bytes, k->len, v->bytes, v->len,
                                    exp->present ? exp->u : 0);
    return rc ? lib_bad(l, line, "kv put", rc) : 0;
}

static int load_state(struct loader *l, inmem_txn *txn, rec *r, size_t line)
{
    fval *v = val(r, "value");
    int rc = inmem_state_set(txn, run_of(val(r, "run")), val(r, "name")->bytes, v->bytes, v->len);
    return rc ? lib_bad(l, line, "state set", rc) : 0;
}

static int load_event(struct loader *l, inmem_txn *txn, rec *r, size_t line)
{
    fval *stream = val(r, "stream"), *p = val(r, "payload");
    uint64_t seq = val(r, "seq")->u, got;
    int rc = inmem_event_append(txn, run_of(val(r, "run")), stream->bytes, val(r, "type")->bytes,
                                p->bytes, p->len, &got);
    if (rc)
        return lib_bad(l, line, "event append", rc);
    if (got != seq)
        return bad(l, line,
                   "stream %s: the event took seq %llu, the dump says %llu (the stream "
                   "already had events)",
                   clip(stream->bytes, stream->len), (unsigned long long)got,
                   (unsigned long long)seq);
    return 0;
}

static int load_span(struct loader *l, inmem_txn *txn, rec *r, size_t line)
{
    inmem_span s;
    memset(&s, 0, sizeof s);
    fval *span = val(r, "span"), *par = val(r, "parent"), *in = val(r, "input"),
         *out = val(r, "output"), *conf = val(r, "confidence"), *tags = val(r, "tags");
    if (!run_of(span))
        return bad(l, line, "\"span\" must be a span id, not all zero");
    if (parse_kind(val(r, "kind")->str, &s.kind))
        return bad(l, line,
                   "\"kind\" must be tool_call, decision, query, thought, error or custom");
    s.id = span->id;
    if (run_of(par))
        s.parent = par->id;
    memcpy(s.name, val(r, "name")->bytes, val(r, "name")->len + 1);
    s.confidence = conf->present ? conf->d : NAN;
    s.start_ms = val(r, "start_ms")->u;
    s.duration_us = val(r, "duration_us")->u;
    s.input = in->bytes;
    s.input_len = in->len;
    s.output = out->bytes;
    s.output_len = out->len;
    s.ntags = tags->ntags;
    for (size_t i = 0; i < tags->ntags; i++)
        memcpy(s.tags[i], tags->tags[i], INMEM_NAME_MAX);
    int rc = inmem_trace_record(txn, run_of(val(r, "run")), &s, NULL);
    return rc ? lib_bad(l, line, "trace record", rc) : 0;
}

static int apply_batch(inmem_txn *txn, void *arg)
{
    struct loader *l = arg;
    for (size_t i = 0; i < l->n; i++) {
        rec r;
        char why[300];
        size_t line = l->lines[i];
        if (parse_record(l->batch[i], &r, why, sizeof why)) /* checked when read */
            return bad(l, line, "%s", why);
        const char *type = r.sp->record;
        int rc;
        if (strcmp(type, "run") == 0)
            rc = load_run(l, txn, &r, line, &l->warned[i]);
        else if (strcmp(type, "kv") == 0)
            rc = load_kv(l, txn, &r, line);
        else if (strcmp(type, "state") == 0)
            rc = load_state(l, txn, &r, line);
        else if (strcmp(type, "event") == 0)
            rc = load_event(l, txn, &r, line);
        else
            rc = load_span(l, txn, &r, line);
        rec_free(&r);
        if (rc)
            return rc;
    }
    return 0;
}

static int flush_batch(struct loader *l)
{
    int rc = 0;
    if (l->n) {
        l->err[0] = '\0';
        cli_mark_errmsg(l->c);
        rc = inmem_db_transact(l->c->db, NULL, apply_batch, l);
        if (rc && !l->err[0])
            snprintf(l->err, sizeof l->err, "commit of lines %zu-%zu: %s", l->lines[0],
                     l->lines[l->n - 1], cli_lib_message(l->c, rc));
        if (!rc) {
            for (size_t i = 0; i < l->n; i++)
                l->runs +=
                    strcmp(json_string_value(json_object_get(l->batch[i], "record")), "run") == 0;
            l->committed += l->n;
        }
    }
    for (size_t i = 0; i < l->n; i++)
        json_decref(l->batch[i]);
    memset(l->warned, 0, BATCH_RECORDS);
    l->n = l->bytes = 0;
    return rc;
}

/* Reads one line; @return 0 to go on, 1 at the end record, -1 on an error (in l->err). */
static int read_line(struct loader *l, const char *line, size_t len, size_t lineno, int *state)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    char why[300];
    rec r;
    if (!o) {
        bad(l, lineno, "bad JSON: %s", jerr.text);
        return -1;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        bad(l, lineno, "not a dump record (a JSON object)");
        return -1;
    }
    json_t *t = json_object_get(o, "record");
    if (*state == 0 && (!json_is_string(t) || strcmp(json_string_value(t), "header") != 0)) {
        json_decref(o);
        bad(l, lineno, "not an inmem dump (format_version 1) header");
        return -1;
    }
    if (parse_record(o, &r, why, sizeof why)) {
        json_decref(o);
        bad(l, lineno, "%s", why);
        return -1;
    }
    const char *type = r.sp->record;
    int ret = 0;
    if (*state == 0) {
        if (strcmp(val(&r, "format")->str, "inmem-dump") || val(&r, "format_version")->u != 1) {
            bad(l, lineno, "not an inmem dump (format_version 1) header");
            ret = -1;
        }
        *state = 1;
    } else if (*state == 2) {
        bad(l, lineno, "a record after the end record");
        ret = -1;
    } else if (strcmp(type, "header") == 0) {
        bad(l, lineno, "a second header");
        ret = -1;
    } else if (strcmp(type, "end") == 0) {
        uint64_t n = val(&r, "records")->u;
        if (n != l->records) {
            bad(l, lineno, "the end record counts %llu records, the dump has %llu",
                (unsigned long long)n, (unsigned long long)l->records);
            ret = -1;
        }
        *state = 2;
    } else if (strcmp(type, "event") == 0 && check_chain(l, &r, lineno)) {
        ret = -1;
    }
    if (ret || *state != 1 || strcmp(type, "header") == 0 || strcmp(type, "end") == 0) {
        rec_free(&r);
        json_decref(o);
        return ret;
    }
    rec_free(&r);
    l->records++;
    l->lines[l->n] = lineno;
    l->batch[l->n++] = o;
    l->bytes += len;
    if ((l->n == BATCH_RECORDS || l->bytes >= BATCH_BYTES) && flush_batch(l))
        return -1;
    return 0;
}

int cmd_load(cli *c, int argc, char **argv)
{
    const char *ignore;
    const cli_opt opts[] = {{"ignore-hashes", 0, &ignore, NULL, NULL, 0},
                            {NULL, 0, NULL, NULL, NULL, 0}};
    char *pos[1];
    int np;
    if (cli_args(c, "load", argc, argv, opts, 0, 1, pos, &np))
        return CMD_ERR;
    const char *path = np && strcmp(pos[0], "-") != 0 ? pos[0] : NULL;
    if (!path && (c->interactive || c->stdin_commands))
        return cli_error(c, "load: give a FILE (standard input holds the commands)");
    FILE *f = path ? fopen(path, "r") : stdin;
    if (!f) {
        const char *why = strerror(errno);
        return cli_error(c, "load: cannot read %s: %s", fmt_path(path), why);
    }
    struct loader l;
    memset(&l, 0, sizeof l);
    l.c = c;
    l.ignore_hashes = ignore != NULL;
    l.batch = malloc(BATCH_RECORDS * sizeof *l.batch);
    l.lines = malloc(BATCH_RECORDS * sizeof *l.lines);
    l.warned = calloc(BATCH_RECORDS, 1);
    struct stat st;
    uint64_t total =
        path && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    progress p;
    progress_start(&p, c, "load", total);
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    uint64_t consumed = 0;
    ssize_t len;
    int state = 0; /* 0 before the header, 1 in the body, 2 after the end record */
    int failed = !l.batch || !l.lines || !l.warned;
    if (failed)
        snprintf(l.err, sizeof l.err, "out of memory");
    while (!failed && (len = getline(&line, &cap, f)) > 0) {
        lineno++;
        consumed += (uint64_t)len;
        progress_update(&p, consumed);
        failed = read_line(&l, line, (size_t)len, lineno, &state) < 0;
    }
    if (!failed && ferror(f)) {
        snprintf(l.err, sizeof l.err, "read error on %s", path ? fmt_path(path) : "standard input");
        failed = 1;
    }
    if (!failed && flush_batch(&l))
        failed = 1;
    if (!failed && state != 2) {
        snprintf(l.err, sizeof l.err, "%s ends without its end record (truncated?)",
                 state ? "the dump" : "the input (empty)");
        failed = 1;
    }
    for (size_t i = 0; i < l.n; i++)
        json_decref(l.batch[i]);
    progress_end(&p);
    free(line);
    free(l.batch);
    free(l.lines);
    free(l.warned);
    if (path)
        fclose(f);
    if (failed)
        return cli_error(c, "load: %s%s", l.err,
                         l.committed ? " (the batches before it were committed)" : "");
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "records", json_u64(l.records));
        json_object_set_new(o, "runs", json_u64(l.runs));
        out_json(o);
    } else {
        printf("loaded %llu records (%llu run%s)\n", (unsigned long long)l.records,
               (unsigned long long)l.runs, l.runs == 1 ? "" : "s");
    }
    return CMD_OK;
}
