/*
 * runs.c — the runs primitive: begin a run (id, optional parent, namespace, tags), move it
 * through its statuses, read it, list and filter runs newest first, and delete a run together
 * with all of its data in every primitive. Like every primitive it is a stateless facade: each
 * call encodes keys and records and hands them to the transaction layer, inside the caller's
 * transaction (or, for the _db forms, one of its own run by inmem__db_autocommit()).
 *
 * Metadata record: key (run id · TAG_RUN · 'm'), 18 bytes. Value, little-endian:
 *   offset  size  field
 *   0       1     format, INMEM__FMT_V1
 *   1       1     status (inmem_run_status, 1..5)
 *   2       1     flags: bit 0 set = the run has a parent; other bits 0
 *   3       16    parent run id (all zero when it has none)
 *   19      8     created_ms (Unix ms)
 *   27      8     ended_ms (0 while active; set by the move out of active, kept by archival)
 *   35      ...   tenant, app, agent: each u8 length n (0..63) · n bytes · a NUL
 *   ...     1     ntags (0..INMEM_MAX_TAGS)
 *   ...     ...   ntags tags, each like a namespace part with n >= 1
 * Nothing may follow. A record that breaks any of this decodes as INMEM_ECORRUPT.
 *
 * Global index: keys in the shared scope (all-zero run id · TAG_RUN · ...), value one byte
 * INMEM__FMT_V1. ~id is the run id with every byte inverted, so ascending key order is
 * descending id order: newest first, since ids are time-ordered (caller-chosen ids sort by
 * their bytes like any other).
 *   'a' · ~id                                         every run
 *   's' · status (1 byte) · ~id                       by status
 *   'g' · tag · 0x00 · ~id                            by tag, one entry per tag
 *   'p' · parent id (16 bytes, all zero: none) · ~id  by parent; zero lists the root runs
 *   'n' · 1 · tenant · 0x00 · ~id                     by tenant (runs with a tenant)
 *   'n' · 2 · tenant · 0x00 · app · 0x00 · ~id        by tenant+app (runs with both)
 *   'n' · 3 · tenant · 0x00 · app · 0x00 · agent · 0x00 · ~id
 *                                                     by the whole namespace (runs with all 3)
 * Every index key is its prefix followed by exactly 16 bytes of ~id, so a list scans one prefix
 * and a cursor resumes at prefix · ~after · 0x00.
 * Invariant: a run's index entries are exactly those its metadata implies; every write that
 * changes the metadata rewrites the affected entries in the same transaction.
 *
 * Status transitions (inmem_run_end): active -> completed | failed | cancelled, and completed |
 * failed | cancelled -> archived. Active is never a target (INMEM_EINVAL); any other transition
 * is INMEM_EMISUSE. Neither writes anything.
 *
 * Deletion (inmem_run_delete) removes the run's index entries (read from its metadata), then
 * every key in [run id, run id + 1): all tags, all primitives, the metadata included, and values
 * whose time to live has passed (absent to reads, but still held until deleted). Primitives
 * never call each other, so this works on the key range, which is contiguous by design
 * (core/key.h).
 *
 * Listing (inmem_run_list) scans one index prefix, guessed most selective first: parent, whole
 * namespace, tag, tenant+app, tenant, status, all. Conditions the index does not decide are
 * checked on each candidate's metadata; when it decides them all, no metadata is read.
 *
 * Isolation: every operation reads the metadata it depends on, so that commit validation catches
 * a race: two begins of one id (each read the key as missing), two ends of one run, an end or
 * a child's begin racing the run's deletion. Like any scan, a delete's range scan does not see
 * keys another transaction inserts into the run after its snapshot (phantoms are allowed).
 */
#include <assert.h>
#include <string.h>

#include "core/clock.h"
#include "core/key.h"
#include "primitives/rec.h"

#define META_KEY_LEN (INMEM__KEY_PREFIX + 1)
/* Flags byte of the metadata record. */
#define META_HAS_PARENT 0x01

/* ---- helpers ------------------------------------------------------------------------------ */

static int is_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static int status_valid(int s)
{
    return s >= INMEM_RUN_ACTIVE && s <= INMEM_RUN_ARCHIVED;
}

static int transition_allowed(inmem_run_status from, inmem_run_status to)
{
    if (from == INMEM_RUN_ACTIVE)
        return to == INMEM_RUN_COMPLETED || to == INMEM_RUN_FAILED || to == INMEM_RUN_CANCELLED;
    if (from == INMEM_RUN_COMPLETED || from == INMEM_RUN_FAILED || from == INMEM_RUN_CANCELLED)
        return to == INMEM_RUN_ARCHIVED;
    return 0; /* archived is final */
}

static void meta_key(uint8_t *out, const inmem_run_id *run)
{
    inmem__key_prefix(out, run, INMEM__TAG_RUN);
    out[INMEM__KEY_PREFIX] = 'm';
}

/* ---- the metadata record ------------------------------------------------------------------ */

static int meta_encode(inmem__wbuf *b, const inmem_run_info *m)
{
    inmem__wbuf_init(b);
    inmem__wbuf_u8(b, INMEM__FMT_V1);
    inmem__wbuf_u8(b, (uint8_t)m->status);
    inmem__wbuf_u8(b, m->has_parent ? META_HAS_PARENT : 0);
    inmem__wbuf_bytes(b, m->parent.bytes, 16);
    inmem__wbuf_u64(b, m->created_ms);
    inmem__wbuf_u64(b, m->ended_ms);
    inmem__wbuf_name(b, m->tenant);
    inmem__wbuf_name(b, m->app);
    inmem__wbuf_name(b, m->agent);
    inmem__wbuf_u8(b, (uint8_t)m->ntags);
    for (size_t i = 0; i < m->ntags; i++)
        inmem__wbuf_name(b, m->tags[i]);
    return b->oom ? INMEM_ENOMEM : 0;
}

/* A name field that must hold no NUL before its end (so strlen gives its stored length). */
static void read_name(inmem__rbuf *r, char *out)
{
    size_t at = r->off;
    inmem__rbuf_name(r, out);
    if (!r->bad && strlen(out) != r->p[at])
        r->bad = 1;
}

static int meta_decode(const void *val, size_t vlen, const inmem_run_id *id, inmem_run_info *m)
{
    inmem__rbuf r;
    inmem__rbuf_init(&r, val, vlen);
    memset(m, 0, sizeof(*m));
    m->id = *id;
    uint8_t fmt = inmem__rbuf_u8(&r);
    uint8_t status = inmem__rbuf_u8(&r);
    uint8_t flags = inmem__rbuf_u8(&r);
    const uint8_t *parent = inmem__rbuf_take(&r, 16);
    m->created_ms = inmem__rbuf_u64(&r);
    m->ended_ms = inmem__rbuf_u64(&r);
    read_name(&r, m->tenant);
    read_name(&r, m->app);
    read_name(&r, m->agent);
    uint8_t ntags = inmem__rbuf_u8(&r);
    if (r.bad || fmt != INMEM__FMT_V1 || !status_valid(status) || (flags & ~META_HAS_PARENT) ||
        ntags > INMEM_MAX_TAGS)
        return INMEM_ECORRUPT;
    m->status = (inmem_run_status)status;
    m->has_parent = flags & META_HAS_PARENT;
    memcpy(m->parent.bytes, parent, 16);
    /* a parent is a real run: non-zero exactly when the flag says so */
    if (m->has_parent == is_zero(parent, 16))
        return INMEM_ECORRUPT;
    for (size_t i = 0; i < ntags; i++) {
        read_name(&r, m->tags[i]);
        if (r.bad || m->tags[i][0] == '\0')
            return INMEM_ECORRUPT;
    }
    m->ntags = ntags;
    return r.off == r.len ? 0 : INMEM_ECORRUPT;
}

/* Reads and decodes @p run's metadata: 0, INMEM_NOTFOUND, INMEM_ECORRUPT or a txn error. */
static int meta_read(inmem_txn *txn, const inmem_run_id *run, inmem_run_info *m)
{
    uint8_t key[META_KEY_LEN];
    meta_key(key, run);
    const void *val;
    size_t vlen;
    int rc = inmem__txn_get(txn, key, sizeof key, &val, &vlen, NULL);
    if (rc)
        return rc;
    return meta_decode(val, vlen, run, m);
}

static int meta_write(inmem_txn *txn, const inmem_run_info *m)
{
    uint8_t key[META_KEY_LEN];
    meta_key(key, &m->id);
    inmem__wbuf b;
    int rc = meta_encode(&b, m);
    if (rc == 0)
        rc = inmem__txn_put(txn, key, sizeof key, b.p, b.len, 0);
    inmem__wbuf_free(&b);
    return rc;
}

/* ---- index keys ---------------------------------------------------------------------------- */

/* Starts an index key (or a prefix of one) of kind @p kind in @p b. */
static void ix_start(inmem__wbuf *b, char kind)
{
    inmem__wbuf_init(b);
    inmem__wbuf_key(b, NULL, INMEM__TAG_RUN);
    inmem__wbuf_u8(b, (uint8_t)kind);
}

/* A string part: its bytes and a NUL separator. */
static void ix_str(inmem__wbuf *b, const char *s)
{
    inmem__wbuf_bytes(b, s, strlen(s));
    inmem__wbuf_u8(b, 0);
}

/* The inverted id that ends every index key. */
static void ix_inv(inmem__wbuf *b, const inmem_run_id *id)
{
    uint8_t *at = inmem__wbuf_room(b, 16);
    if (at)
        for (int i = 0; i < 16; i++)
            at[i] = (uint8_t)~id->bytes[i];
}

/* Finishes @p b with @p id and writes (or, with @p tomb, deletes) the entry; frees @p b. */
static int ix_finish(inmem_txn *txn, inmem__wbuf *b, const inmem_run_id *id, int tomb)
{
    static const uint8_t rec = INMEM__FMT_V1;
    ix_inv(b, id);
    int rc = b->oom ? INMEM_ENOMEM
             : tomb ? inmem__txn_delete(txn, b->p, b->len)
                    : inmem__txn_put(txn, b->p, b->len, &rec, 1, 0);
    inmem__wbuf_free(b);
    return rc;
}

static int ix_status(inmem_txn *txn, const inmem_run_id *id, inmem_run_status s, int tomb)
{
    inmem__wbuf b;
    ix_start(&b, 's');
    inmem__wbuf_u8(&b, (uint8_t)s);
    return ix_finish(txn, &b, id, tomb);
}

/* Writes (or deletes) every index entry of the run described by @p m. */
static int ix_all(inmem_txn *txn, const inmem_run_info *m, int tomb)
{
    inmem__wbuf b;
    int rc;
    ix_start(&b, 'a');
    if ((rc = ix_finish(txn, &b, &m->id, tomb)))
        return rc;
    if ((rc = ix_status(txn, &m->id, m->status, tomb)))
        return rc;
    for (size_t i = 0; i < m->ntags; i++) {
        ix_start(&b, 'g');
        ix_str(&b, m->tags[i]);
        if ((rc = ix_finish(txn, &b, &m->id, tomb)))
            return rc;
    }
    ix_start(&b, 'p');
    inmem__wbuf_bytes(&b, m->parent.bytes, 16);
    if ((rc = ix_finish(txn, &b, &m->id, tomb)))
        return rc;
    /* namespace: one entry per level the run has, so that each level lists newest first */
    const char *parts[3] = {m->tenant, m->app, m->agent};
    for (int level = 1; level <= 3 && parts[level - 1][0]; level++) {
        ix_start(&b, 'n');
        inmem__wbuf_u8(&b, (uint8_t)level);
        for (int i = 0; i < level; i++)
            ix_str(&b, parts[i]);
        if ((rc = ix_finish(txn, &b, &m->id, tomb)))
            return rc;
    }
    return 0;
}

/* ---- begin --------------------------------------------------------------------------------- */

void inmem_run_options_init(inmem_run_options *opts)
{
    if (opts)
        memset(opts, 0, sizeof(*opts));
}

/* Checks @p opts and fills the parts of @p m that come from it (not id, status, times). */
static int check_options(const inmem_run_options *o, inmem_run_info *m)
{
    int rc;
    if ((rc = inmem__check_opt_name(o->tenant)) || (rc = inmem__check_opt_name(o->app)) ||
        (rc = inmem__check_opt_name(o->agent)))
        return rc;
    if (o->ntags > INMEM_MAX_TAGS || (o->ntags && !o->tags) || (o->history != 0 && o->history != 1))
        return INMEM_EINVAL;
    for (size_t i = 0; i < o->ntags; i++) {
        if ((rc = inmem__check_name(o->tags[i])))
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(o->tags[i], o->tags[j]) == 0)
                return INMEM_EINVAL; /* a duplicate tag */
    }
    strcpy(m->tenant, or_empty(o->tenant));
    strcpy(m->app, or_empty(o->app));
    strcpy(m->agent, or_empty(o->agent));
    for (size_t i = 0; i < o->ntags; i++)
        strcpy(m->tags[i], o->tags[i]);
    m->ntags = o->ntags;
    if (o->parent && !inmem_run_id_is_shared(o->parent)) {
        m->has_parent = 1;
        m->parent = *o->parent;
    }
    return 0;
}

/* Begins the run whose id is @p id (already chosen). */
static int begin_with_id(inmem_txn *txn, const inmem_run_options *opts, const inmem_run_id *id)
{
    inmem_run_info m;
    memset(&m, 0, sizeof(m));
    int rc = check_options(opts, &m);
    if (rc)
        return rc;
    if (inmem_run_id_is_shared(id))
        return INMEM_EINVAL;
    m.id = *id;
    m.status = INMEM_RUN_ACTIVE;
    m.created_ms = inmem__clock_wall_ms();
    inmem_run_info other;
    rc = meta_read(txn, id, &other); /* read: a concurrent begin of the same id conflicts */
    if (rc != INMEM_NOTFOUND)
        return rc == 0 ? INMEM_EINVAL : rc; /* exists already, or a read error */
    if (m.has_parent) {
        /* read: the parent's deletion by a concurrent transaction makes this one conflict */
        rc = meta_read(txn, &m.parent, &other);
        if (rc)
            return rc == INMEM_NOTFOUND ? INMEM_EINVAL : rc;
    }
    if ((rc = meta_write(txn, &m)) || (rc = ix_all(txn, &m, 0)))
        return rc;
    return inmem__history_run_begun(txn, id->bytes, opts->history, opts->history_ms,
                                    opts->history_versions);
}

static int run_begin_unsettled(inmem_txn *txn, const inmem_run_options *opts, inmem_run_id *out)
{
    if (!txn)
        return INMEM_EINVAL;
    inmem_run_options defaults;
    if (!opts) {
        inmem_run_options_init(&defaults);
        opts = &defaults;
    }
    inmem_run_id id;
    if (opts->id)
        id = *opts->id;
    else
        inmem_run_id_new(&id);
    int rc = begin_with_id(txn, opts, &id);
    if (rc == 0 && out)
        *out = id;
    return rc;
}

struct begin_args {
    const inmem_run_options *opts;
    inmem_run_id id;
};

static int begin_fn(inmem_txn *txn, void *arg)
{
    struct begin_args *a = arg;
    return begin_with_id(txn, a->opts, &a->id);
}

int inmem_run_begin_db(inmem_db *db, const inmem_run_options *opts, inmem_run_id *out)
{
    if (!db)
        return INMEM_EINVAL;
    inmem_run_options defaults;
    if (!opts) {
        inmem_run_options_init(&defaults);
        opts = &defaults;
    }
    struct begin_args a = {opts, {{0}}};
    if (opts->id)
        a.id = *opts->id;
    else
        inmem_run_id_new(&a.id); /* once: every retry begins the same run */
    int rc = inmem__db_autocommit(db, begin_fn, &a);
    if (rc == 0 && out)
        *out = a.id;
    return rc;
}

/* ---- end ----------------------------------------------------------------------------------- */

static int run_end_unsettled(inmem_txn *txn, const inmem_run_id *run, inmem_run_status status)
{
    /* active is never a target, whatever the run's status: a wrong argument, not a transition
     * the run's state forbids (CONTRIBUTING.md, "EINVAL or EMISUSE") */
    if (!txn || !run || !status_valid((int)status) || status == INMEM_RUN_ACTIVE)
        return INMEM_EINVAL;
    if (inmem_run_id_is_shared(run))
        return INMEM_NOTFOUND; /* the shared scope is not a run */
    inmem_run_info m;
    int rc = meta_read(txn, run, &m);
    if (rc)
        return rc;
    if (!transition_allowed(m.status, status))
        return INMEM_EMISUSE;
    inmem_run_status old = m.status;
    if (old == INMEM_RUN_ACTIVE)
        m.ended_ms = inmem__clock_wall_ms();
    m.status = status;
    if ((rc = meta_write(txn, &m)) || (rc = ix_status(txn, run, old, 1)))
        return rc;
    return ix_status(txn, run, status, 0);
}

struct end_args {
    const inmem_run_id *run;
    inmem_run_status status;
};

static int end_fn(inmem_txn *txn, void *arg)
{
    struct end_args *a = arg;
    return inmem_run_end(txn, a->run, a->status);
}

int inmem_run_end_db(inmem_db *db, const inmem_run_id *run, inmem_run_status status)
{
    if (!db || !run)
        return INMEM_EINVAL;
    struct end_args a = {run, status};
    return inmem__db_autocommit(db, end_fn, &a);
}

/* ---- get ----------------------------------------------------------------------------------- */

int inmem_run_get(inmem_txn *txn, const inmem_run_id *run, inmem_run_info *out)
{
    if (!txn || !run || !out)
        return INMEM_EINVAL;
    if (inmem_run_id_is_shared(run))
        return INMEM_NOTFOUND; /* the shared scope is not a run */
    inmem_run_info m;
    int rc = meta_read(txn, run, &m);
    if (rc == 0)
        *out = m;
    return rc;
}

struct get_args {
    const inmem_run_id *run;
    inmem_run_info *out;
};

static int get_fn(inmem_txn *txn, void *arg)
{
    struct get_args *a = arg;
    return inmem_run_get(txn, a->run, a->out);
}

int inmem_run_get_db(inmem_db *db, const inmem_run_id *run, inmem_run_info *out)
{
    if (!db || !run || !out)
        return INMEM_EINVAL;
    struct get_args a = {run, out};
    return inmem__db_autocommit(db, get_fn, &a);
}

/* ---- list ---------------------------------------------------------------------------------- */

/* A filter with its unset fields normalised: NULL and "" both mean any. */
typedef struct norm_filter {
    inmem_run_status status;
    const char *tag, *tenant, *app, *agent;
    const inmem_run_id *parent;
} norm_filter;

static const char *opt_str(const char *s)
{
    return s && *s ? s : NULL;
}

static int matches(const norm_filter *f, const inmem_run_info *m)
{
    if (f->status && m->status != f->status)
        return 0;
    if (f->parent && memcmp(m->parent.bytes, f->parent->bytes, 16) != 0)
        return 0;
    if ((f->tenant && strcmp(m->tenant, f->tenant)) || (f->app && strcmp(m->app, f->app)) ||
        (f->agent && strcmp(m->agent, f->agent)))
        return 0;
    if (f->tag) {
        size_t i = 0;
        while (i < m->ntags && strcmp(m->tags[i], f->tag))
            i++;
        if (i == m->ntags)
            return 0;
    }
    return 1;
}

/*
 * Picks the index to scan and writes its prefix into @p b; sets *covered when that index alone
 * decides the filter (no metadata read needed). The guess at selectivity, most selective first:
 * parent (children are few), full namespace, tag, tenant+app, tenant, status, all.
 */
static void pick_index(const norm_filter *f, inmem__wbuf *b, int *covered)
{
    int others = (f->status != 0) + (f->tag != NULL) + (f->parent != NULL) + (f->tenant != NULL) +
                 (f->app != NULL) + (f->agent != NULL);
    if (f->parent) {
        ix_start(b, 'p');
        inmem__wbuf_bytes(b, f->parent->bytes, 16);
        *covered = others == 1;
    } else if (f->tenant && f->app && f->agent) {
        ix_start(b, 'n');
        inmem__wbuf_u8(b, 3);
        ix_str(b, f->tenant);
        ix_str(b, f->app);
        ix_str(b, f->agent);
        *covered = others == 3;
    } else if (f->tag) {
        ix_start(b, 'g');
        ix_str(b, f->tag);
        *covered = others == 1;
    } else if (f->tenant) {
        ix_start(b, 'n');
        inmem__wbuf_u8(b, f->app ? 2 : 1);
        ix_str(b, f->tenant);
        if (f->app)
            ix_str(b, f->app);
        *covered = others == 1 + (f->app != NULL);
    } else if (f->status) {
        ix_start(b, 's');
        inmem__wbuf_u8(b, (uint8_t)f->status);
        *covered = others == 1;
    } else {
        ix_start(b, 'a');
        *covered = others == 0;
    }
}

static int list_in(inmem_txn *txn, const norm_filter *f, const inmem_run_id *after, size_t limit,
                   inmem_run_id *out, size_t *n)
{
    inmem__wbuf lo, hi;
    int covered = 0;
    pick_index(f, &lo, &covered);
    size_t plen = lo.len; /* the index prefix; then ~id */
    /* hi: the prefix's successor — trailing 0xff bytes (a parent id's) dropped, then the last
     * byte incremented; the kind letter is never 0xff, so something always remains */
    inmem__wbuf_init(&hi);
    inmem__wbuf_bytes(&hi, lo.p, plen);
    if (after) { /* strictly after: the smallest key greater than prefix · ~after */
        ix_inv(&lo, after);
        inmem__wbuf_u8(&lo, 0);
    }
    int rc = lo.oom || hi.oom ? INMEM_ENOMEM : 0;
    if (rc)
        goto cleanup;
    size_t i = plen;
    while (i > 0 && hi.p[i - 1] == 0xff)
        i--;
    assert(i > INMEM__KEY_PREFIX); /* the kind letter is never 0xff */
    hi.p[i - 1]++;
    hi.len = i;
    inmem_iter *it;
    if ((rc = inmem__txn_scan(txn, lo.p, lo.len, hi.p, hi.len, &it)))
        goto cleanup;
    while (*n < limit) {
        const uint8_t *k;
        const void *val;
        size_t klen, vlen;
        rc = inmem__iter_next(it, &k, &klen, &val, &vlen, NULL);
        if (rc == INMEM_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        if (klen != plen + 16 || vlen != 1 || *(const uint8_t *)val != INMEM__FMT_V1) {
            rc = INMEM_ECORRUPT;
            break;
        }
        inmem_run_id id;
        for (int j = 0; j < 16; j++)
            id.bytes[j] = (uint8_t)~k[plen + j];
        if (!covered) {
            inmem_run_info m;
            rc = meta_read(txn, &id, &m);
            if (rc == INMEM_NOTFOUND)
                rc = INMEM_ECORRUPT; /* an index entry without its run */
            if (rc)
                break;
            if (!matches(f, &m))
                continue;
        }
        out[(*n)++] = id;
    }
    inmem_iter_free(it);
cleanup:
    inmem__wbuf_free(&lo);
    inmem__wbuf_free(&hi);
    return rc;
}

/* Checks and normalises a filter (NULL: everything). */
static int check_filter(const inmem_run_filter *filter, norm_filter *f)
{
    memset(f, 0, sizeof(*f));
    if (!filter)
        return 0;
    int rc;
    if (filter->status && !status_valid((int)filter->status))
        return INMEM_EINVAL;
    if ((rc = inmem__check_opt_name(filter->tag)) || (rc = inmem__check_opt_name(filter->tenant)) ||
        (rc = inmem__check_opt_name(filter->app)) || (rc = inmem__check_opt_name(filter->agent)))
        return rc;
    f->status = filter->status;
    f->tag = opt_str(filter->tag);
    f->tenant = opt_str(filter->tenant);
    f->app = opt_str(filter->app);
    f->agent = opt_str(filter->agent);
    f->parent = filter->parent;
    return 0;
}

int inmem_run_list(inmem_txn *txn, const inmem_run_filter *filter, const inmem_run_id *after,
                   size_t limit, inmem_run_id *out, size_t *n)
{
    if (!txn || !n || (!out && limit))
        return INMEM_EINVAL;
    *n = 0;
    norm_filter f;
    int rc = check_filter(filter, &f);
    if (rc || (rc = inmem__txn_check(txn)) != 0 || limit == 0) /* limit 0: see inmem__txn_check */
        return rc;
    rc = list_in(txn, &f, after, limit, out, n);
    if (rc)
        *n = 0;
    return rc;
}

struct list_args {
    const inmem_run_filter *filter;
    const inmem_run_id *after;
    size_t limit;
    inmem_run_id *out;
    size_t *n;
};

static int list_fn(inmem_txn *txn, void *arg)
{
    struct list_args *a = arg;
    return inmem_run_list(txn, a->filter, a->after, a->limit, a->out, a->n);
}

int inmem_run_list_db(inmem_db *db, const inmem_run_filter *filter, const inmem_run_id *after,
                      size_t limit, inmem_run_id *out, size_t *n)
{
    if (!db || !n || (!out && limit))
        return INMEM_EINVAL;
    struct list_args a = {filter, after, limit, out, n};
    return inmem__db_autocommit(db, list_fn, &a);
}

/* ---- delete -------------------------------------------------------------------------------- */

static int run_delete_unsettled(inmem_txn *txn, const inmem_run_id *run)
{
    if (!txn || !run || inmem_run_id_is_shared(run))
        return INMEM_EINVAL;
    inmem_run_info m;
    int rc = meta_read(txn, run, &m);
    if (rc)
        return rc;
    uint64_t forks;
    if ((rc = inmem__fork_children(txn, run->bytes, &forks)) != 0)
        return rc;
    if (forks) /* their view of this run would go with it: refused, not cascaded */
        return inmem__error(INMEM_EMISUSE, "the run has %llu live fork%s: delete %s first",
                            (unsigned long long)forks, forks == 1 ? "" : "s",
                            forks == 1 ? "it" : "them");
    if ((rc = ix_all(txn, &m, 1)))
        return rc;
    /* [id, id + 1): the id as a 128-bit big-endian number plus one; all 0xff has no successor,
     * and then the range runs to the end of the key space */
    uint8_t hi[16];
    memcpy(hi, run->bytes, 16);
    int i = 15;
    while (i >= 0 && hi[i] == 0xff)
        hi[i--] = 0;
    if (i >= 0)
        hi[i]++;
    /* the run's own keys (a fork's inherited ones are its parent's), expired values included:
     * they read as absent, but their bytes are the run's until a tombstone replaces them */
    inmem_iter *it;
    if ((rc = inmem__txn_scan_own_with_expired(txn, run->bytes, 16, i >= 0 ? hi : NULL, 16, &it)))
        return rc;
    for (;;) {
        const uint8_t *k;
        size_t klen;
        rc = inmem__iter_next(it, &k, &klen, NULL, NULL, NULL);
        if (rc == INMEM_NOTFOUND) {
            rc = 0;
            break;
        }
        /* the key is the index's or the transaction's copy, which the delete does not free */
        if (rc || (rc = inmem__txn_delete(txn, k, klen)))
            break;
    }
    inmem_iter_free(it);
    if (rc || (rc = inmem__fork_unrecord(txn, run->bytes)) != 0 ||
        (rc = inmem__history_run_deleted(txn, run->bytes)) != 0)
        return rc;
    /* the erased values are freed at the commit, not up to 8 commits later: a deletion is rare,
     * and a data-deletion request should not leave them readable (inmem_kv_history) meanwhile */
    inmem__txn_collect_at_commit(txn);
    return 0;
}

static int delete_fn(inmem_txn *txn, void *arg)
{
    return inmem_run_delete(txn, arg);
}

int inmem_run_delete_db(inmem_db *db, const inmem_run_id *run)
{
    if (!db || !run)
        return INMEM_EINVAL;
    return inmem__db_autocommit(db, delete_fn, (void *)run);
}

/* ---- fork ---------------------------------------------------------------------------------- */

static int fork_with_id(inmem_txn *txn, const inmem_run_id *parent, uint64_t at,
                        const inmem_run_options *opts, const inmem_run_id *id)
{
    if (!txn || !parent || inmem_run_id_is_shared(parent))
        return INMEM_EINVAL;
    inmem_run_options o;
    if (opts)
        o = *opts;
    else
        inmem_run_options_init(&o);
    o.parent = parent;
    int rc = inmem__fork_hold(txn, parent->bytes, &at);
    if (rc == 0)
        rc = begin_with_id(txn, &o, id); /* reads the parent's metadata: it must exist */
    return rc ? rc : inmem__fork_record(txn, id->bytes, parent->bytes, at);
}

int inmem_run_fork(inmem_txn *txn, const inmem_run_id *parent, uint64_t at_version,
                   const inmem_run_options *opts, inmem_run_id *out)
{
    inmem_run_id id;
    if (opts && opts->id)
        id = *opts->id;
    else
        inmem_run_id_new(&id);
    uint64_t mark = inmem__txn_mark(txn);
    int rc = inmem__txn_settle(txn, mark, fork_with_id(txn, parent, at_version, opts, &id));
    if (rc == 0 && out)
        *out = id;
    return rc;
}

struct fork_args {
    const inmem_run_id *parent;
    uint64_t at;
    const inmem_run_options *opts;
    inmem_run_id id;
};

static int fork_fn(inmem_txn *txn, void *arg)
{
    struct fork_args *a = arg;
    return fork_with_id(txn, a->parent, a->at, a->opts, &a->id);
}

int inmem_run_fork_db(inmem_db *db, const inmem_run_id *parent, uint64_t at_version,
                      const inmem_run_options *opts, inmem_run_id *out)
{
    if (!db || !parent)
        return INMEM_EINVAL;
    struct fork_args a = {parent, at_version, opts, {{0}}};
    if (opts && opts->id)
        a.id = *opts->id;
    else
        inmem_run_id_new(&a.id); /* once: every retry makes the same run */
    int rc = inmem__db_autocommit(db, fork_fn, &a);
    if (rc == 0 && out)
        *out = a.id;
    return rc;
}

int inmem_run_begin(inmem_txn *txn, const inmem_run_options *opts, inmem_run_id *out)
{
    uint64_t mark = inmem__txn_mark(txn);
    return inmem__txn_settle(txn, mark, run_begin_unsettled(txn, opts, out));
}

int inmem_run_end(inmem_txn *txn, const inmem_run_id *run, inmem_run_status status)
{
    uint64_t mark = inmem__txn_mark(txn);
    return inmem__txn_settle(txn, mark, run_end_unsettled(txn, run, status));
}

int inmem_run_delete(inmem_txn *txn, const inmem_run_id *run)
{
    uint64_t mark = inmem__txn_mark(txn);
    return inmem__txn_settle(txn, mark, run_delete_unsettled(txn, run));
}

/* ---- stored scopes: every run id that holds data, begun or not ---------------------------- */

/* The smallest 16-byte id greater than @p id; 0 if @p id is the largest. */
static int id_next(const uint8_t id[16], uint8_t out[16])
{
    memcpy(out, id, 16);
    for (int i = 15; i >= 0; i--)
        if (++out[i] != 0)
            return 1;
    return 0;
}

int inmem_run_list_stored(inmem_txn *txn, const inmem_run_id *after, size_t limit,
                          inmem_run_id *out, size_t *n)
{
    if (!txn || !n || (limit && !out))
        return INMEM_EINVAL;
    *n = 0;
    int rc = inmem__txn_check(txn); /* a limit of 0, or a cursor at the last id, reads nothing */
    if (rc)
        return rc;
    uint8_t lo[16];
    if (after) {
        if (!id_next(after->bytes, lo))
            return 0;
    } else {
        static const uint8_t zero[16];
        id_next(zero, lo); /* the shared scope is not a run */
    }
    while (*n < limit) {
        inmem_iter *it;
        rc = inmem__txn_scan(txn, lo, sizeof lo, NULL, 0, &it);
        if (rc)
            return rc;
        const uint8_t *key;
        size_t klen;
        rc = inmem__iter_next(it, &key, &klen, NULL, NULL, NULL);
        if (rc == 0) {
            assert(klen >= 16);
            memcpy(out[*n].bytes, key, 16);
        }
        inmem_iter_free(it);
        if (rc == INMEM_NOTFOUND)
            return 0;
        if (rc)
            return rc;
        if (!id_next(out[(*n)++].bytes, lo))
            return 0;
    }
    return 0;
}
