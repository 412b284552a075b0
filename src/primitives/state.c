/*
 * state.c — state cells: named values per run (or the shared scope) with a version, for
 * claiming tasks and stepping state machines between agents.
 *
 * Key:    run id (16) · INMEM__TAG_STATE (1) · the cell's name (1..63 bytes, no NUL)
 * Record: format byte INMEM__FMT_V1 · the value's bytes
 * A cell's version is the commit version of its key, so a CAS on version is the engine's CAS,
 * and version 0 means "does not exist".
 */
#include "primitives/rec.h"

static int cell_key(inmem__keybuf *kb, const inmem_run_id *run, const char *name)
{
    int rc = inmem__check_name(name);
    if (rc)
        return rc;
    return inmem__keybuf_make(kb, run, INMEM__TAG_STATE, name, strlen(name));
}

/* 0 if a value of @p len bytes may be written to a cell of @p txn's database: its record (a
 * format byte and the value) must fit max_value_size. Checked before the record is built, so
 * that a length beyond it is refused before a byte of the value is read, allocated or copied. */
static int check_value(const inmem_txn *txn, const void *val, size_t len)
{
    if (!val && len)
        return INMEM_EINVAL;
    return len >= inmem__store_max_value(inmem__txn_store(txn)) ? INMEM_ETOOBIG : 0;
}

/* Encodes a cell record (format byte + value) into @p b (the value passed check_value()). */
static int cell_record(inmem__wbuf *b, const void *val, size_t len)
{
    inmem__wbuf_init(b);
    inmem__wbuf_u8(b, INMEM__FMT_V1);
    inmem__wbuf_bytes(b, val, len);
    if (b->oom) {
        inmem__wbuf_free(b);
        return INMEM_ENOMEM;
    }
    return 0;
}

/* Reads a cell: 0 with its value, INMEM_NOTFOUND, or INMEM_ECORRUPT. */
static int cell_read(inmem_txn *txn, const inmem__keybuf *kb, const void **val, size_t *len,
                     uint64_t *version)
{
    const void *rec;
    size_t n;
    uint64_t ver;
    int rc = inmem__txn_get(txn, kb->p, kb->len, &rec, &n, &ver);
    if (rc)
        return rc;
    if (n < 1 || ((const uint8_t *)rec)[0] != INMEM__FMT_V1)
        return inmem__error(INMEM_ECORRUPT, "state cell record of unknown format");
    if (val)
        *val = (const uint8_t *)rec + 1;
    if (len)
        *len = n - 1;
    if (version)
        *version = ver;
    return 0;
}

int inmem_state_get(inmem_txn *txn, const inmem_run_id *run, const char *name, const void **val,
                    size_t *len, uint64_t *version)
{
    if (!txn)
        return INMEM_EINVAL;
    inmem__keybuf kb;
    int rc = cell_key(&kb, run, name);
    if (rc)
        return rc;
    rc = cell_read(txn, &kb, val, len, version);
    inmem__keybuf_done(&kb);
    return rc;
}

/* Writes a cell, or CASes it on @p expected when @p cas. */
static int cell_write(inmem_txn *txn, const inmem_run_id *run, const char *name, int cas,
                      uint64_t expected, const void *val, size_t len)
{
    if (!txn)
        return INMEM_EINVAL;
    int rc = check_value(txn, val, len);
    if (rc)
        return rc;
    inmem__keybuf kb;
    if ((rc = cell_key(&kb, run, name)) != 0)
        return rc;
    inmem__wbuf b;
    rc = cell_record(&b, val, len);
    if (rc == 0) {
        rc = cas ? inmem__txn_cas(txn, kb.p, kb.len, expected, b.p, b.len)
                 : inmem__txn_put(txn, kb.p, kb.len, b.p, b.len, 0);
        inmem__wbuf_free(&b);
    }
    inmem__keybuf_done(&kb);
    return rc;
}

int inmem_state_set(inmem_txn *txn, const inmem_run_id *run, const char *name, const void *val,
                    size_t len)
{
    return cell_write(txn, run, name, 0, 0, val, len);
}

int inmem_state_cas(inmem_txn *txn, const inmem_run_id *run, const char *name, uint64_t expected,
                    const void *val, size_t len)
{
    return cell_write(txn, run, name, 1, expected, val, len);
}

int inmem_state_cas_value(inmem_txn *txn, const inmem_run_id *run, const char *name,
                          const void *expected, size_t elen, const void *val, size_t len)
{
    if (!txn || (!expected && elen))
        return INMEM_EINVAL;
    int rc = check_value(txn, val, len); /* before the read: it would join the read set */
    if (rc)
        return rc;
    const void *cur;
    size_t n;
    rc = inmem_state_get(txn, run, name, &cur, &n, NULL); /* a read: validated at commit */
    if (rc && rc != INMEM_NOTFOUND)
        return rc;
    int match = expected ? rc == 0 && n == elen && (elen == 0 || memcmp(cur, expected, elen) == 0)
                         : rc == INMEM_NOTFOUND;
    if (!match)
        return INMEM_CONFLICT;
    return inmem_state_set(txn, run, name, val, len);
}

int inmem_state_list(inmem_txn *txn, const inmem_run_id *run, const char *after, size_t limit,
                     inmem_state_entry *out, size_t *n)
{
    if (!txn || !n || (!out && limit))
        return INMEM_EINVAL;
    *n = 0;
    if (after && *after && strlen(after) >= INMEM_NAME_MAX)
        return INMEM_ETOOBIG;
    /* [prefix · after · 0x00, next tag): names hold no NUL, so after + NUL is just past it */
    uint8_t lo[INMEM__KEY_PREFIX + INMEM_NAME_MAX + 1], hi[INMEM__KEY_PREFIX];
    inmem__key_prefix(lo, run, INMEM__TAG_STATE);
    inmem__key_prefix(hi, run, INMEM__TAG_STATE + 1);
    size_t lolen = INMEM__KEY_PREFIX;
    if (after && *after) {
        size_t a = strlen(after);
        memcpy(lo + lolen, after, a);
        lolen += a;
        lo[lolen++] = 0;
    }
    inmem_iter *it;
    int rc = inmem__txn_scan(txn, lo, lolen, hi, sizeof hi, &it);
    if (rc)
        return rc;
    while (*n < limit) {
        const uint8_t *k;
        size_t kl, vl;
        const void *v;
        uint64_t ver;
        if ((rc = inmem__iter_next(it, &k, &kl, &v, &vl, &ver)) != 0)
            break;
        size_t nl = kl - INMEM__KEY_PREFIX;
        if (nl == 0 || nl >= INMEM_NAME_MAX || vl < 1 || ((const uint8_t *)v)[0] != INMEM__FMT_V1) {
            rc = inmem__error(INMEM_ECORRUPT, "state cell record of unknown format");
            break;
        }
        inmem_state_entry *e = &out[(*n)++];
        memcpy(e->name, k + INMEM__KEY_PREFIX, nl);
        e->name[nl] = '\0';
        e->val = (const uint8_t *)v + 1;
        e->len = vl - 1;
        e->version = ver;
    }
    inmem_iter_free(it);
    return rc == INMEM_NOTFOUND ? 0 : rc;
}

/* ---- standalone forms ---- */

struct cell_args {
    const inmem_run_id *run;
    const char *name;
    const void *val, *expected;
    size_t len, elen;
    uint64_t version;
    int op;     /* 0 set, 1 cas version, 2 cas value, 3 get */
    void *copy; /* get: the owned copy */
    size_t copy_len;
    inmem_state_fn fn;
    void *fn_arg;
};

static int cell_op(inmem_txn *txn, void *arg)
{
    struct cell_args *a = arg;
    switch (a->op) {
    case 0:
        return inmem_state_set(txn, a->run, a->name, a->val, a->len);
    case 1:
        return inmem_state_cas(txn, a->run, a->name, a->version, a->val, a->len);
    case 2:
        return inmem_state_cas_value(txn, a->run, a->name, a->expected, a->elen, a->val, a->len);
    default: {
        const void *v;
        size_t n;
        int rc = inmem_state_get(txn, a->run, a->name, &v, &n, &a->version);
        if (rc)
            return rc;
        free(a->copy);
        if (!(a->copy = malloc(n ? n : 1)))
            return INMEM_ENOMEM;
        memcpy(a->copy, v, n);
        a->copy_len = n;
        return 0;
    }
    }
}

/* Runs a write op and reports the version it committed. A CAS on version is tried once: its
 * expectation cannot come true on a retry. */
static int cell_db(inmem_db *db, struct cell_args *a, uint64_t *version)
{
    if (!db)
        return INMEM_EINVAL;
    inmem_txn *txn;
    int rc;
    if (a->op == 1) {
        if ((rc = inmem_txn_begin(db, &txn)) != 0)
            return rc;
        rc = cell_op(txn, a);
        rc = rc ? rc : inmem_txn_commit(txn);
        inmem_txn_info info;
        inmem_txn_describe(txn, &info);
        inmem_txn_free(txn);
        if (rc == 0 && version)
            *version = info.commit_version;
        return rc;
    }
    return inmem__db_autocommit_v(db, cell_op, a, version);
}

int inmem_state_get_db(inmem_db *db, const inmem_run_id *run, const char *name, void **val,
                       size_t *len, uint64_t *version)
{
    if (val)
        *val = NULL;
    if (!db)
        return INMEM_EINVAL;
    struct cell_args a = {.run = run, .name = name, .op = 3};
    int rc = inmem__db_autocommit(db, cell_op, &a);
    if (rc) {
        free(a.copy);
        return rc;
    }
    if (val)
        *val = a.copy;
    else
        free(a.copy);
    if (len)
        *len = a.copy_len;
    if (version)
        *version = a.version;
    return 0;
}

int inmem_state_set_db(inmem_db *db, const inmem_run_id *run, const char *name, const void *val,
                       size_t len, uint64_t *version)
{
    struct cell_args a = {.run = run, .name = name, .val = val, .len = len, .op = 0};
    return cell_db(db, &a, version);
}

int inmem_state_cas_db(inmem_db *db, const inmem_run_id *run, const char *name, uint64_t expected,
                       const void *val, size_t len, uint64_t *version)
{
    struct cell_args a = {
        .run = run, .name = name, .val = val, .len = len, .version = expected, .op = 1};
    return cell_db(db, &a, version);
}

int inmem_state_cas_value_db(inmem_db *db, const inmem_run_id *run, const char *name,
                             const void *expected, size_t elen, const void *val, size_t len,
                             uint64_t *version)
{
    struct cell_args a = {.run = run,
                          .name = name,
                          .val = val,
                          .len = len,
                          .expected = expected,
                          .elen = elen,
                          .op = 2};
    return cell_db(db, &a, version);
}

/* ---- transitions ---- */

static int transition_op(inmem_txn *txn, void *arg)
{
    struct cell_args *a = arg;
    const void *cur = NULL;
    size_t n = 0;
    uint64_t ver = 0;
    int rc = inmem_state_get(txn, a->run, a->name, &cur, &n, &ver);
    if (rc == INMEM_NOTFOUND) {
        cur = NULL;
        n = 0;
        ver = 0;
    } else if (rc) {
        return rc;
    }
    const void *next = NULL;
    size_t next_len = 0;
    if ((rc = a->fn(cur, n, ver, &next, &next_len, a->fn_arg)) != 0)
        return rc;
    return inmem_state_set(txn, a->run, a->name, next, next_len);
}

int inmem_state_transition(inmem_db *db, const inmem_run_id *run, const char *name,
                           inmem_state_fn fn, void *arg, const inmem_retry_options *retry,
                           uint64_t *version)
{
    if (!db || !fn)
        return INMEM_EINVAL;
    struct cell_args a = {.run = run, .name = name, .fn = fn, .fn_arg = arg};
    return inmem__db_transact_v(db, retry, transition_op, &a, version);
}

int inmem_state_history(inmem_txn *txn, const inmem_run_id *run, const char *name, uint64_t before,
                        size_t limit, inmem_version_info *out, size_t *n)
{
    if (!txn || !n || (limit && !out))
        return INMEM_EINVAL;
    *n = 0;
    inmem__keybuf kb;
    int rc = cell_key(&kb, run, name);
    if (rc)
        return rc;
    rc = inmem__history_page(txn, kb.p, kb.len, before, limit, out, n, 1);
    inmem__keybuf_done(&kb);
    return rc;
}
