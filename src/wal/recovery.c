/*
 * recovery.c — opening the log: the directory lock, replaying committed transactions, and
 * telling a torn tail (the normal end of a crash) from corruption (DESIGN.md section 4).
 *
 * Replay reads the segments in sequence order and each one from its header on:
 *   BEGIN            starts a transaction (a BEGIN while one is open discards the open one)
 *   WRITE / DELETE   are collected (outside a transaction they are corruption)
 *   COMMIT           must match the BEGIN (txn id, record count) and carry the next version
 *                    (last + 1, as every commit moves the version by exactly one); then the
 *                    transaction is applied through the caller's callback, with its versions
 *   unknown types    are skipped
 *   all-zero frame   is the end of the segment; the rest of it must be zero too
 * Transactions without their COMMIT are discarded. Replay is single-threaded and depends only
 * on the bytes of the log, so the same log always yields the same state.
 *
 * Where a frame is bad (short, bad checksum, or non-zero bytes after the end mark):
 *   - in any segment but the last, it is corruption: earlier segments were synced whole before
 *     the next one was started (wal.c, W4), so no crash can tear them;
 *   - in the last segment, it is a torn tail unless a later BEGIN record in that segment says
 *     (its synced_lsn field) that the log was synced past the bad frame before that BEGIN was
 *     written: then the bad frame was once durable, so it is corruption.
 *   A frame whose checksum is right but whose content does not parse is always corruption.
 * A torn tail is truncated (the bytes from the start of the incomplete transaction on are
 * zeroed) and reported. Corruption fails the open with the file and offset, unless the caller
 * asked for repair: then the log is cut at the same place and later segments are renamed
 * *.dropped, and what was dropped is reported.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crc32c.h"
#include "wal/wal_int.h"

/* ---- the directory lock ------------------------------------------------------------------ */

static int take_lock(inmem__wal *w)
{
    const inmem__vfs *vfs = w->vfs;
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s/LOCK", w->dir);
    int fd = vfs->open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        return inmem__error(INMEM_EIO, "cannot open %s: %s", path, strerror(-fd));
    int rc = vfs->lock(fd);
    if (rc == -EWOULDBLOCK || rc == -EAGAIN) {
        char holder[32] = "";
        int64_t n = vfs->pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        vfs->close(fd);
        return inmem__error(INMEM_ELOCKED, "%s is held by process %s", path,
                            holder[0] ? holder : "(unknown)");
    }
    if (rc) {
        vfs->close(fd);
        return inmem__error(INMEM_EIO, "cannot lock %s: %s", path, strerror(-rc));
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    vfs->truncate(fd, 0);
    vfs->pwrite(fd, pid, (size_t)len, 0);
    w->lock_fd = fd;
    return 0;
}

/* ---- listing segments -------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int list_segments(inmem__wal *w, uint64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(w->dir);
    if (!d)
        return inmem__error(INMEM_EIO, "cannot list %s: %s", w->dir, strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned long long seq;
        char tail[8];
        if (strlen(e->d_name) != 24 || sscanf(e->d_name, "wal-%16llx%7s", &seq, tail) != 2 ||
            strcmp(tail, ".log") != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *p = realloc(*out, cap * sizeof(uint64_t));
            if (!p) {
                closedir(d);
                free(*out);
                *out = NULL;
                return INMEM_ENOMEM;
            }
            *out = p;
        }
        (*out)[(*n)++] = seq;
    }
    closedir(d);
    if (*n > 1)
        qsort(*out, *n, sizeof(uint64_t), cmp_u64);
    return 0;
}

/* ---- scanning ---------------------------------------------------------------------------- */

static size_t first_nonzero(const uint8_t *p, size_t from, size_t size)
{
    size_t i = from;
    for (; i < size && (i & 7); i++)
        if (p[i])
            return i;
    for (; i + 8 <= size; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v)
            break;
    }
    for (; i < size; i++)
        if (p[i])
            return i;
    return size;
}

#define PAGE 4096u

/* Visits the regions of [from, size) that may hold non-zero bytes: the file system reports
 * reserved but never written space as holes (SEEK_DATA), so a mostly empty segment is not read
 * page by page. Without SEEK_DATA support the whole range is one region. */
typedef struct region_walk {
    const inmem__vfs *vfs;
    int fd;
    uint64_t pos, size;
} region_walk;

static int next_region(region_walk *rw, uint64_t *start, uint64_t *end)
{
    if (rw->pos >= rw->size)
        return 0;
    uint64_t d = rw->pos, h = rw->size;
    if (rw->pos % PAGE == 0) { /* partial first page: scan it as is */
        int rc = rw->vfs->seek(rw->fd, rw->pos, SEEK_DATA, &d);
        if (rc == -ENXIO)
            return rw->pos = rw->size, 0;
        if (rc || d < rw->pos)
            d = rw->pos;
        if (d >= rw->size)
            return rw->pos = rw->size, 0;
        if (rw->vfs->seek(rw->fd, d, SEEK_HOLE, &h) != 0 || h > rw->size || h <= d)
            h = rw->size;
    } else {
        h = (rw->pos + PAGE - 1) / PAGE * PAGE;
        if (h > rw->size)
            h = rw->size;
    }
    *start = d;
    *end = h;
    rw->pos = h;
    return 1;
}

/* The first non-zero byte at or after @p from, or @p size. */
static uint64_t nonzero_after(const inmem__vfs *vfs, int fd, const uint8_t *p, uint64_t from,
                              uint64_t size)
{
    region_walk rw = {vfs, fd, from, size};
    uint64_t a, b;
    while (next_region(&rw, &a, &b)) {
        size_t nz = first_nonzero(p, a, b);
        if (nz < b)
            return nz;
    }
    return size;
}

/* The end of the last non-zero byte at or after @p from (or @p from if none). */
static uint64_t data_end(const inmem__vfs *vfs, int fd, const uint8_t *p, uint64_t from,
                         uint64_t size)
{
    region_walk rw = {vfs, fd, from, size};
    uint64_t a, b, end = from;
    while (next_region(&rw, &a, &b)) {
        while (b > a && p[b - 1] == 0)
            b--;
        if (b > a)
            end = b;
    }
    return end;
}

/* Zeroes every non-zero byte at or after @p from (through a writable mapping). Returns the
 * number of bytes that held data. */
static uint64_t zero_after(const inmem__vfs *vfs, int fd, uint8_t *p, uint64_t from, uint64_t size)
{
    region_walk rw = {vfs, fd, from, size};
    uint64_t a, b, zeroed = 0;
    while (next_region(&rw, &a, &b)) {
        size_t nz = first_nonzero(p, a, b);
        if (nz < b) {
            size_t last = b;
            while (last > nz && p[last - 1] == 0)
                last--;
            memset(p + nz, 0, last - nz);
            zeroed += last - nz;
        }
    }
    return zeroed;
}

/* Counts valid BEGIN frames in [from, size); 1 if one says the log was synced past bad_lsn. */
static int later_durable_begin(const uint8_t *p, size_t from, size_t size, uint64_t bad_lsn,
                               uint64_t *begins)
{
    const size_t flen = INMEM__WAL_FRAME + INMEM__WAL_BEGIN_LEN;
    for (size_t q = from; q + flen <= size; q++) {
        if (p[q + 4] != INMEM__REC_BEGIN || inmem__get32(p + q) != INMEM__WAL_BEGIN_LEN)
            continue;
        inmem__wal_rec r;
        if (inmem__wal_decode(p + q, size - q, &r) != INMEM__DEC_OK)
            continue;
        (*begins)++;
        if (r.synced_lsn > bad_lsn)
            return 1;
    }
    return 0;
}

enum seg_end { END_CLEAN, END_TORN, END_CORRUPT };

typedef struct replay {
    inmem__wal *w;
    inmem__wal_apply_fn apply;
    void *ctx;
    inmem_recovery_info *report;
    inmem__wal_rec *recs;
    size_t nrec, cap;
    int in_txn;
    inmem__wal_rec begin;
    size_t txn_start; /* offset of the open transaction's BEGIN */
    uint64_t version; /* last applied */
    uint64_t txn_id;
    const char *why;    /* reason of a bad frame */
    size_t bad;         /* offset of the bad frame */
    int bad_is_content; /* checksum fine, content wrong: never a tear */
} replay;

static int add_rec(replay *r, const inmem__wal_rec *rec)
{
    if (r->nrec == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        inmem__wal_rec *p = realloc(r->recs, cap * sizeof(*p));
        if (!p)
            return INMEM_ENOMEM;
        r->recs = p;
        r->cap = cap;
    }
    r->recs[r->nrec++] = *rec;
    return 0;
}

static void discard_open_txn(replay *r)
{
    if (r->in_txn)
        r->report->txns_discarded++;
    r->in_txn = 0;
    r->nrec = 0;
}

/* Replays one mapped segment from its first record. Returns 0 and sets *end (where its data
 * ends) and *how, or an error from the apply callback / memory. */
static int replay_segment(replay *r, int fd, const uint8_t *p, size_t size, size_t *end,
                          enum seg_end *how)
{
    size_t off = INMEM__WAL_HEADER;
    int after_close = 0; /* the previous record was a clean close mark */
    r->why = NULL;
    r->bad_is_content = 0;
    for (;;) {
        inmem__wal_rec rec;
        int d = inmem__wal_decode(p + off, size - off, &rec);
        if (d == INMEM__DEC_END) {
            if (after_close || nonzero_after(r->w->vfs, fd, p, off, size) == size) {
                *end = off;
                *how = END_CLEAN;
                return 0;
            }
            r->why = "non-zero bytes after the end of the log";
            break;
        }
        if (d == INMEM__DEC_SHORT) {
            r->why = "record runs past the end of the file";
            break;
        }
        if (d == INMEM__DEC_BADSUM) {
            r->why = "checksum mismatch";
            break;
        }
        if (d == INMEM__DEC_BADBODY) {
            r->why = "malformed record";
            r->bad_is_content = 1;
            break;
        }
        r->report->bytes += INMEM__WAL_FRAME + rec.len;
        after_close = rec.type == INMEM__REC_CLOSE;
        switch (rec.type) {
        case INMEM__REC_BEGIN:
            discard_open_txn(r);
            r->in_txn = 1;
            r->begin = rec;
            r->txn_start = off;
            break;
        case INMEM__REC_WRITE:
        case INMEM__REC_DELETE:
            if (!r->in_txn) {
                r->why = "write record outside a transaction";
                r->bad_is_content = 1;
                goto bad;
            }
            if (add_rec(r, &rec))
                return INMEM_ENOMEM;
            break;
        case INMEM__REC_COMMIT: {
            int ok = r->in_txn && rec.txn_id == r->begin.txn_id && rec.records == r->nrec &&
                     rec.version == r->version + 1;
            for (size_t i = 0; ok && i < r->nrec; i++)
                ok = r->recs[i].version == rec.version;
            if (!ok) {
                r->why = !r->in_txn ? "commit record outside a transaction"
                         : rec.version != r->version + 1
                             ? "commit version out of sequence"
                             : "commit record does not match its transaction";
                r->bad_is_content = 1;
                goto bad;
            }
            inmem__wal_txn t = {rec.txn_id, rec.version, r->nrec, r->recs};
            int rc = r->apply(r->ctx, &t);
            if (rc)
                return rc;
            r->version = rec.version;
            r->txn_id = rec.txn_id;
            r->report->txns_applied++;
            r->in_txn = 0;
            r->nrec = 0;
            break;
        }
        case INMEM__REC_CLOSE:
            if (r->in_txn) {
                r->why = "close mark inside a transaction";
                r->bad_is_content = 1;
                goto bad;
            }
            break;
        default:
            r->report->records_skipped++;
            break;
        }
        off += INMEM__WAL_FRAME + rec.len;
    }
bad:
    r->bad = off;
    *end = off;
    *how = END_CORRUPT; /* refined by the caller */
    return 0;
}

/* ---- open -------------------------------------------------------------------------------- */

typedef struct seg_map {
    int fd;
    void *map;
    uint64_t size;
} seg_map;

static int map_segment(inmem__wal *w, uint64_t seq, int writable, seg_map *m)
{
    char path[PATH_MAX_LEN];
    inmem__wal_seg_path(w, seq, path, sizeof path);
    m->map = NULL;
    m->fd = w->vfs->open(path, writable ? O_RDWR : O_RDONLY, 0);
    if (m->fd < 0)
        return inmem__wal_io_error(w, m->fd, "open", seq);
    int rc = w->vfs->size(m->fd, &m->size);
    if (rc == 0 && m->size > 0)
        rc = w->vfs->map(m->fd, m->size, writable, &m->map);
    if (rc) {
        w->vfs->close(m->fd);
        return inmem__wal_io_error(w, rc, "map", seq);
    }
    return 0;
}

static void unmap_segment(inmem__wal *w, seg_map *m)
{
    if (m->map)
        w->vfs->unmap(m->map, m->size);
    if (m->fd >= 0)
        w->vfs->close(m->fd);
    m->map = NULL;
    m->fd = -1;
}

static void seg_name(uint64_t seq, char *buf, size_t cap)
{
    snprintf(buf, cap, "wal-%016llx.log", (unsigned long long)seq);
}

/* Renames segments [from, n) to *.dropped, counting their bytes. */
static int drop_segments(inmem__wal *w, const uint64_t *segs, size_t from, size_t n,
                         uint64_t *bytes)
{
    for (size_t i = from; i < n; i++) {
        char path[PATH_MAX_LEN], to[PATH_MAX_LEN + 16];
        inmem__wal_seg_path(w, segs[i], path, sizeof path);
        snprintf(to, sizeof to, "%s.dropped", path);
        seg_map m;
        if (map_segment(w, segs[i], 0, &m) == 0) {
            *bytes += m.size > INMEM__WAL_HEADER ? m.size - INMEM__WAL_HEADER : 0;
            unmap_segment(w, &m);
        }
        int rc = w->vfs->rename(path, to);
        if (rc)
            return inmem__wal_io_error(w, rc, "rename", segs[i]);
    }
    return 0;
}

/* Opens segment @p seq for appending at @p off, zeroing stale bytes after it. */
static int resume_segment(inmem__wal *w, uint64_t seq, uint64_t seg_size, size_t off,
                          int zeroed_needed)
{
    seg_map m;
    int rc = map_segment(w, seq, 0, &m);
    if (rc)
        return rc;
    unmap_segment(w, &m);
    char path[PATH_MAX_LEN];
    inmem__wal_seg_path(w, seq, path, sizeof path);
    int fd = w->vfs->open(path, O_RDWR, 0);
    if (fd < 0)
        return inmem__wal_io_error(w, fd, "open", seq);
    uint64_t size = 0;
    if ((rc = w->vfs->size(fd, &size)) == 0 && size < seg_size)
        rc = w->vfs->allocate(fd, seg_size); /* a file cut short: give its room back */
    if (rc == 0 && size < seg_size)
        size = seg_size;
    void *map = NULL;
    if (rc == 0)
        rc = w->vfs->map(fd, size, 1, &map);
    if (rc) {
        w->vfs->close(fd);
        return inmem__wal_io_error(w, rc, "reopen", seq);
    }
    inmem__wal_advise_append(w, map, size);
    if (zeroed_needed)
        zero_after(w->vfs, fd, map, off, size);
    rc = w->vfs->datasync(fd);
    if (rc) {
        w->vfs->unmap(map, size);
        w->vfs->close(fd);
        return inmem__wal_io_error(w, rc, "fdatasync", seq);
    }
    w->fd = fd;
    w->map = map;
    w->map_len = size;
    w->seq = seq;
    w->off = off;
    return 0;
}

static int recover(inmem__wal *w, inmem__wal_apply_fn apply, void *ctx, inmem_recovery_info *report)
{
    uint64_t *segs;
    size_t n;
    int rc = list_segments(w, &segs, &n);
    if (rc)
        return rc;
    replay r = {.w = w, .apply = apply, .ctx = ctx, .report = report};
    uint64_t resume_seq = 0, resume_size = 0;
    int resume_dirty = 0;
    size_t resume_off = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int last = i == n - 1;
        char name[64];
        seg_name(segs[i], name, sizeof name);
        if (i > 0 && segs[i] != segs[i - 1] + 1) {
            rc = inmem__error(INMEM_ECORRUPT, "log segment before %s is missing", name);
            break;
        }
        seg_map m;
        if ((rc = map_segment(w, segs[i], 0, &m)) != 0)
            break;
        const uint8_t *p = m.map;
        uint64_t hseq = 0, hsize = 0;
        int hrc = p ? inmem__wal_check_header(p, m.size, &hseq, &hsize) : INMEM_EVERSION;
        if (hrc && last &&
            (!p || first_nonzero(p, 0, m.size < INMEM__WAL_HEADER ? m.size : INMEM__WAL_HEADER) ==
                       (m.size < INMEM__WAL_HEADER ? m.size : INMEM__WAL_HEADER))) {
            /* a crash while the segment was being created: nothing in it, remove it */
            unmap_segment(w, &m);
            char path[PATH_MAX_LEN];
            inmem__wal_seg_path(w, segs[i], path, sizeof path);
            if (!w->cfg.read_only)
                unlink(path);
            n--;
            break;
        }
        if (hrc == 0 && hseq != segs[i])
            hrc = INMEM_ECORRUPT;
        if (hrc) {
            unmap_segment(w, &m);
            rc = inmem__error(hrc, "%s/%s: %s", w->dir, name,
                              hrc == INMEM_EVERSION ? "not an inmem log, or a newer format"
                                                    : "bad segment header");
            break;
        }
        report->segments++;
        size_t end;
        enum seg_end how;
        rc = replay_segment(&r, m.fd, p, m.size, &end, &how);
        if (rc) {
            unmap_segment(w, &m);
            break;
        }
        size_t cut = end;
        if (how == END_CORRUPT) {
            uint64_t begins = 0;
            /* read-only beside a live writer, the last segment's end may be mid-write */
            int durable =
                !last || r.bad_is_content ||
                (!w->cfg.read_only &&
                 later_durable_begin(p, r.bad + 1, m.size, INMEM__LSN(segs[i], r.bad), &begins));
            cut = r.in_txn ? r.txn_start : r.bad;
            if (!durable) {
                how = END_TORN;
            } else if (!w->cfg.repair) {
                unmap_segment(w, &m);
                rc = inmem__error(INMEM_ECORRUPT,
                                  "log %s/%s is corrupt at offset %zu (%s); open with the repair "
                                  "option to truncate the log there",
                                  w->dir, name, r.bad, r.why);
                break;
            } else {
                begins = 0; /* count every transaction after the cut, not just up to the
                             * first durable one */
                later_durable_begin(p, r.bad + 1, m.size, UINT64_MAX, &begins);
                report->repaired = 1;
                snprintf(report->repair_file, sizeof report->repair_file, "%s", name);
                report->repair_offset = cut;
                report->bytes_dropped += data_end(w->vfs, m.fd, p, cut, m.size) - cut;
                report->txns_dropped += begins + (r.in_txn ? 1 : 0);
                r.in_txn = 0;
                r.nrec = 0;
                rc = drop_segments(w, segs, i + 1, n, &report->bytes_dropped);
                n = i + 1;
                last = 1;
            }
        }
        if (last && (how == END_TORN || r.in_txn)) {
            report->torn_tail = 1;
            snprintf(report->tail_file, sizeof report->tail_file, "%s", name);
            cut = r.in_txn ? r.txn_start : cut;
            report->tail_offset = cut; /* where the log was cut: the torn transaction's start */
        }
        discard_open_txn(&r);
        unmap_segment(w, &m);
        resume_seq = segs[i]; /* the last segment read is where appending goes on */
        resume_size = hsize;
        resume_off = cut;
        resume_dirty = cut != end || how != END_CLEAN;
    }
    free(r.recs);
    free(segs);
    if (rc)
        return rc;
    report->version = r.version;
    report->txn_id = r.txn_id;
    w->txn_id = r.txn_id;
    w->version = r.version;
    if (w->cfg.read_only)
        return 0; /* nothing is written: no segment is opened for appending */
    if (resume_seq)
        rc = resume_segment(w, resume_seq, resume_size, resume_off, resume_dirty);
    else
        rc = inmem__wal_seg_create(w, 1, w->cfg.segment_size);
    if (rc)
        return rc;
    uint64_t lsn = INMEM__LSN(w->seq, w->off);
    atomic_store_rlx(&w->written_lsn, lsn);
    atomic_store_rlx(&w->synced_lsn, lsn);
    return 0;
}

int inmem__wal_open(const inmem__wal_config *cfg, inmem__wal_apply_fn apply, void *ctx,
                    inmem_recovery_info *report, inmem__wal **out)
{
    *out = NULL;
    memset(report, 0, sizeof(*report));
    uint64_t t0 = inmem__clock_mono_us();
    inmem__wal *w = calloc(1, sizeof(*w));
    if (!w)
        return INMEM_ENOMEM;
    w->cfg = *cfg;
    w->vfs = inmem__vfs_get();
    w->fd = w->lock_fd = -1;
    inmem__mutex_init(&w->sync_mu);
    pthread_cond_init(&w->sync_cv, NULL);
    w->group = 1;
    pthread_cond_init(&w->flush_cv, NULL);
    w->dir = strdup(cfg->dir);
    int rc = w->dir ? 0 : INMEM_ENOMEM;
    if (cfg->read_only) {
        /* no lock, no directory made: look at whatever is there, change nothing */
        DIR *d = rc == 0 ? opendir(cfg->dir) : NULL;
        if (d)
            closedir(d);
        else if (rc == 0)
            rc = inmem__error(INMEM_EIO, "cannot read database directory %s: %s", cfg->dir,
                              strerror(errno));
        if (rc == 0)
            rc = recover(w, apply, ctx, report);
    } else {
        if (rc == 0 && (rc = w->vfs->mkdir(cfg->dir)) != 0)
            rc = inmem__error(INMEM_EIO, "cannot create directory %s: %s", cfg->dir, strerror(-rc));
        if (rc == 0)
            rc = take_lock(w);
        if (rc == 0)
            rc = recover(w, apply, ctx, report);
        if (rc == 0)
            rc = inmem__wal_start(w);
    }
    if (rc) {
        inmem__wal_close(w);
        return rc;
    }
    report->time_us = inmem__clock_mono_us() - t0;
    *out = w;
    return 0;
}
