/*
 * recovery.c — opening the log: finding (or creating) the database in its directory, the
 * directory lock, replaying committed transactions, telling a torn tail (the normal end of a
 * crash) from corruption, and the explicit repair that cuts a corrupt log.
 *
 * The directory. A directory holds a database if it has a LOCK file or a segment. A writable
 * open creates one only in a directory that does not exist or is empty (create_if_missing), so
 * that a typo never scatters log files into an unrelated directory; a read-only open never
 * creates anything. The lock file is opened without following symbolic links and must be a
 * regular file. A read-only open takes no lock; it asks for a shared lock only to learn whether a
 * writer is live (then the end of the log — the active segment, and gaps — may be mid-write and
 * is not judged; the segments before the active one are complete and are).
 *
 * Replay reads the segments in sequence order and each one from its header on:
 *   BEGIN            starts a transaction (a BEGIN inside an open one is corruption: a
 *                    transaction is always written whole, before the next one starts)
 *   WRITE / DELETE   are collected (outside a transaction they are corruption)
 *   COMMIT           must match the BEGIN (txn id, record count) and carry the next version
 *                    (last + 1, as every commit moves the version by exactly one), below
 *                    2^63 (INMEM__VERSION_LIMIT: no database reaches it, and the commits after
 *                    one that did would wrap the counter); then the transaction is applied
 *                    through the caller's callback, with its versions
 *   CLOSE            a clean close's end mark (its version must be the last applied)
 *   NEXT             the segment's last record: the log goes on in the next segment
 *   unknown types    are skipped
 *   all-zero frame   is the end of the segment; the rest of it must be zero too
 *
 * What a crash can leave (wal.c, W4 and W6): only the *active* segment — the last one holding
 * any data — can end in bytes that were never synced; every earlier segment was synced whole,
 * and a CLOSE or NEXT record proves that everything before it was synced. So a bad frame (cut
 * short, bad checksum, non-zero bytes after the end) is a **torn tail** only if it lies in the
 * active segment and no valid BEGIN, COMMIT, CLOSE or NEXT record follows it anywhere in that
 * segment: damage at the end of what was written, with nothing valid after it. Then the log is
 * cut at the start of the transaction holding the bad frame and the cut is reported
 * (torn_tail, tail_file, tail_offset, tail_bytes). Everything else is **corruption**: a bad frame
 * with a valid record after it, in an earlier segment, or whose checksum is right but whose
 * content is impossible; a segment under its final name without a valid header (segments are
 * renamed into place only once their header is synced); a gap in the segment numbers; a log
 * that starts after segment 1 with no checkpoint image before it; a NEXT record whose segment is
 * missing; a transaction without its COMMIT before a later segment.
 * Corruption fails the open with INMEM_ECORRUPT naming the file and offset.
 *
 * Repair (an explicit option) keeps the longest intact prefix. If the damage is only bytes that
 * held no transaction (garbage after the end of a segment whose successor carries on with the
 * next version), those bytes are zeroed and replay goes on: nothing is lost. Otherwise the log is
 * cut at the start of the damaged transaction and every later segment is renamed *.dropped; the
 * report gives the file, the offset, the bytes dropped and the exact number of committed
 * transactions they held (counted by decoding every dropped byte). A log whose start is missing
 * keeps nothing: every segment is dropped. A read-only open with repair changes no file and
 * reports what a repair would drop.
 *
 * Replay is single-threaded and depends only on the bytes of the log, so the same log always
 * yields the same state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crc32c.h"
#include "wal/wal_int.h"

/* ---- the directory ------------------------------------------------------------------------ */

/* 1 if @p name is exactly "wal-" + 16 lowercase hex digits + @p suffix; its number in *seq. */
static int parse_seg_name(const char *name, const char *suffix, uint64_t *seq)
{
    if (strncmp(name, "wal-", 4) != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 4; i < 20; i++) {
        char c = name[i];
        if (c >= '0' && c <= '9')
            v = v << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v << 4 | (uint64_t)(c - 'a' + 10);
        else
            return 0;
    }
    if (strcmp(name + 20, suffix) != 0)
        return 0;
    *seq = v;
    return 1;
}

typedef struct dir_scan {
    int has_db;     /* a LOCK file or a segment */
    int other;      /* anything else */
    int unfinished; /* an image being written (ckpt-*.img.tmp): no database by itself */
    uint64_t *seqs; /* segments, unsorted */
    size_t n, cap;
    int nomem;
    const inmem__wal *w;
    int remove_tmp; /* writable opens: remove leftover *.log.tmp (never-used segments) */
} dir_scan;

static int scan_entry(void *ctx, const char *name)
{
    dir_scan *ds = ctx;
    uint64_t seq;
    if (strcmp(name, "LOCK") == 0) {
        ds->has_db = 1;
    } else if (parse_seg_name(name, ".log", &seq)) {
        ds->has_db = 1;
        if (ds->n == ds->cap) {
            size_t cap = ds->cap ? ds->cap * 2 : 16;
            uint64_t *p = realloc(ds->seqs, cap * sizeof(uint64_t));
            if (!p) {
                ds->nomem = 1;
                return 1;
            }
            ds->seqs = p;
            ds->cap = cap;
        }
        ds->seqs[ds->n++] = seq;
    } else if (parse_seg_name(name, ".log.tmp", &seq)) {
        ds->has_db = 1;
        if (ds->remove_tmp) {
            char path[PATH_MAX_LEN];
            snprintf(path, sizeof path, "%s/%s", ds->w->dir, name);
            (void)ds->w->vfs->unlink(path); /* made but never renamed into place: unused */
        }
    } else if (strncmp(name, "ckpt-", 5) == 0 && strlen(name) > 13 &&
               strcmp(name + strlen(name) - 8, ".img.tmp") == 0) {
        /* an image whose writing never finished: beside a log, an interrupted checkpoint's
         * (removed by the open); alone, an interrupted backup's, which holds no database (taken
         * for one, a restore would open empty and the partial image be removed) */
        ds->unfinished = 1;
    } else if (strncmp(name, "wal-", 4) == 0 || strncmp(name, "ckpt-", 5) == 0) {
        ds->has_db = 1; /* *.dropped, checkpoint images (the engine's): ours, not stray files */
    } else {
        ds->other = 1;
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Lists the directory: whether it holds a database, and its segments in order. */
static int scan_dir(inmem__wal *w, dir_scan *ds, int remove_tmp)
{
    memset(ds, 0, sizeof(*ds));
    ds->w = w;
    ds->remove_tmp = remove_tmp;
    int rc = w->vfs->list(w->dir, scan_entry, ds);
    if (ds->nomem) {
        free(ds->seqs);
        ds->seqs = NULL;
        return INMEM_ENOMEM;
    }
    if (rc < 0) {
        free(ds->seqs);
        ds->seqs = NULL;
        return rc; /* -errno, for the caller to word */
    }
    if (ds->n > 1)
        qsort(ds->seqs, ds->n, sizeof(uint64_t), cmp_u64);
    return 0;
}

/* Finds the database (creating it where allowed); lists its segments into @p ds. */
static int prepare_dir(inmem__wal *w, dir_scan *ds, inmem_recovery_info *report)
{
    const inmem__wal_config *cfg = &w->cfg;
    /* before the lock: leftover *.log.tmp may be a live writer's segment being made, so they
     * are removed only by the listing made under the lock (inmem__wal_open()) */
    int rc = scan_dir(w, ds, 0);
    if (rc == INMEM_ENOMEM)
        return rc;
    if (rc == -ENOENT) {
        if (cfg->read_only || !cfg->create_if_missing)
            return inmem__error(INMEM_NOTFOUND,
                                "no inmem database at %s: the directory does not "
                                "exist",
                                inmem__shown(w->dir));
        int mode = cfg->file_mode | (cfg->file_mode & 0444) >> 2;
        if ((rc = w->vfs->mkdir(w->dir, mode)) != 0 && rc != -EEXIST)
            return inmem__error(INMEM_EIO, "cannot create directory %s: %s", inmem__shown(w->dir),
                                strerror(-rc));
        /* its entry in the parent, or a machine crash could take the database away whole,
         * commits synced in it and all */
        if (rc == 0 && (rc = inmem__vfs_sync_parent(w->vfs, w->dir)) != 0)
            return inmem__error(INMEM_EIO, "fsync of the directory holding %s failed: %s",
                                inmem__shown(w->dir), strerror(-rc));
        report->created = 1;
        return 0;
    }
    if (rc == -ENOTDIR)
        return inmem__error(INMEM_EINVAL, "%s is not a directory", inmem__shown(w->dir));
    if (rc < 0)
        return inmem__error(INMEM_EIO, "cannot read directory %s: %s", inmem__shown(w->dir),
                            strerror(-rc));
    if (ds->has_db)
        return 0;
    if (ds->unfinished)
        return inmem__error(cfg->read_only || !cfg->create_if_missing ? INMEM_NOTFOUND
                                                                      : INMEM_EINVAL,
                            "%s holds no inmem database, only an image whose writing never "
                            "finished (an interrupted backup?): remove it, or use another "
                            "directory",
                            inmem__shown(w->dir));
    if (cfg->read_only || !cfg->create_if_missing)
        return inmem__error(INMEM_NOTFOUND, "%s holds no inmem database", inmem__shown(w->dir));
    if (ds->other)
        return inmem__error(INMEM_EINVAL,
                            "%s is not empty and holds no inmem database: refusing to create one "
                            "there (use a new or empty directory)",
                            inmem__shown(w->dir));
    report->created = 1;
    return 0;
}

/* Opens DIR/LOCK without following a symbolic link; it must be a regular file. */
static int open_lock_file(inmem__wal *w, int writable, int *out)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s/LOCK", w->dir);
    int fd =
        w->vfs->open(path, (writable ? O_RDWR | O_CREAT : O_RDONLY) | O_NOFOLLOW, w->cfg.file_mode);
    if (fd == -ELOOP)
        return inmem__error(INMEM_EIO, "%s is a symbolic link: refusing to follow it",
                            inmem__shown(path));
    if (fd == -EISDIR)
        return inmem__error(INMEM_EIO, "%s is not a regular file", inmem__shown(path));
    if (fd < 0) {
        if (fd == -ENOENT && !writable)
            return *out = -1, 0;
        return inmem__error(INMEM_EIO, "cannot open %s: %s", inmem__shown(path), strerror(-fd));
    }
    int reg = w->vfs->regular(fd);
    if (reg != 1) {
        w->vfs->close(fd);
        return inmem__error(INMEM_EIO, "%s is not a regular file", inmem__shown(path));
    }
    *out = fd;
    return 0;
}

/* How long a writable open waits for read-only opens to finish their replay (each holds a
 * shared lock for that long only) before it reports the directory busy. */
#define READERS_WAIT_US (60ull * 1000000ull)

static int take_lock(inmem__wal *w)
{
    const inmem__vfs *vfs = w->vfs;
    uint64_t waited = 0, pause = 1000;
    int fd, rc;
    for (;;) {
        if ((rc = open_lock_file(w, 1, &fd)) != 0)
            return rc;
        rc = vfs->lock(fd, 0);
        if (rc != -EWOULDBLOCK && rc != -EAGAIN)
            break;
        /* held: by a writer (then a shared lock cannot be had either), or only by read-only
         * opens replaying the log, which release it when done: wait for those */
        int readers = vfs->lock(fd, 1) == 0 && waited < READERS_WAIT_US;
        if (!readers) {
            char holder[32] = "";
            int64_t n = vfs->pread(fd, holder, sizeof holder - 1, 0);
            holder[n > 0 ? n : 0] = '\0';
            holder[strcspn(holder, "\n")] = '\0';
            vfs->close(fd);
            if (waited >= READERS_WAIT_US)
                return inmem__error(
                    INMEM_ELOCKED, "%s/LOCK is held by read-only opens (for over %llu s)",
                    inmem__shown(w->dir), (unsigned long long)(READERS_WAIT_US / 1000000));
            return inmem__error(INMEM_ELOCKED, "%s/LOCK is held by process %s",
                                inmem__shown(w->dir),
                                holder[0] ? inmem__shown(holder) : "(unknown)");
        }
        vfs->close(fd); /* drops the shared lock just taken */
        inmem__clock_sleep_us(pause);
        waited += pause;
        if (pause < 50000)
            pause *= 2;
    }
    if (rc) {
        vfs->close(fd);
        return inmem__error(INMEM_EIO, "cannot lock %s/LOCK: %s", inmem__shown(w->dir),
                            strerror(-rc));
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    vfs->truncate(fd, 0);
    vfs->pwrite(fd, pid, (size_t)len, 0);
    w->lock_fd = fd;
    return 0;
}

/* Read-only: learns whether a writer holds the database (a shared lock cannot be had). Without
 * one, the shared lock is kept during replay so that no writer starts meanwhile. */
static int probe_writer(inmem__wal *w, inmem_recovery_info *report)
{
    int fd, rc = open_lock_file(w, 0, &fd);
    if (rc || fd < 0)
        return rc;
    rc = w->vfs->lock(fd, 1);
    if (rc == -EWOULDBLOCK || rc == -EAGAIN) {
        report->live_writer = 1;
        w->vfs->close(fd);
        return 0;
    }
    w->lock_fd = fd; /* released at the end of recovery */
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

/* A mapped segment. */
typedef struct seg_map {
    int fd;
    const uint8_t *p;
    uint64_t size;
} seg_map;

/* The end of the last non-zero byte of p[from, size), or @p from if none. */
static size_t last_nonzero_end(const uint8_t *p, size_t from, size_t size)
{
    size_t i = size;
    for (; i > from && (i & 7); i--)
        if (p[i - 1])
            return i;
    for (; i >= from + 8; i -= 8) {
        uint64_t v;
        memcpy(&v, p + i - 8, 8);
        if (v)
            break;
    }
    for (; i > from; i--)
        if (p[i - 1])
            return i;
    return from;
}

/* Long stretches of a segment that should be zeros (the unwritten rest of a crashed writer's
 * segment, which its page cache still holds, tens of MB) are scanned with pread() into a buffer
 * of SCAN_CHUNK, not through the mapping: each page of a fresh mapping costs a fault the first
 * time it is touched (paravirtual, dear on this project's VMs), and 64 MB of zeros took 23-25 ms
 * to scan through a mapping against 7-8 ms read into a buffer. A read that fails scans the
 * mapping instead, as before. */
#define SCAN_CHUNK ((size_t)64 << 10)

/* The first non-zero byte in [a, b) of segment @p m, or @p b. */
static uint64_t scan_first_nonzero(const inmem__vfs *vfs, const seg_map *m, uint64_t a, uint64_t b)
{
    uint8_t *buf = b - a > SCAN_CHUNK ? malloc(SCAN_CHUNK) : NULL;
    while (buf && a < b) {
        size_t k = b - a < SCAN_CHUNK ? (size_t)(b - a) : SCAN_CHUNK;
        if (vfs->pread(m->fd, buf, k, a) != (int64_t)k)
            break;
        size_t nz = first_nonzero(buf, 0, k);
        if (nz < k) {
            free(buf);
            return a + nz;
        }
        a += k;
    }
    free(buf);
    return a < b ? first_nonzero(m->p, a, b) : b;
}

/* The end of the last non-zero byte in [a, b) of segment @p m, or @p a if none. */
static uint64_t scan_data_end(const inmem__vfs *vfs, const seg_map *m, uint64_t a, uint64_t b)
{
    uint8_t *buf = b - a > SCAN_CHUNK ? malloc(SCAN_CHUNK) : NULL;
    while (buf && b > a) {
        size_t k = b - a < SCAN_CHUNK ? (size_t)(b - a) : SCAN_CHUNK;
        if (vfs->pread(m->fd, buf, k, b - k) != (int64_t)k)
            break;
        size_t e = last_nonzero_end(buf, 0, k);
        if (e) {
            free(buf);
            return b - k + e;
        }
        b -= k;
    }
    free(buf);
    return b > a ? last_nonzero_end(m->p, a, b) : a;
}

/* The first non-zero byte at or after @p from, or the segment's size. */
static uint64_t nonzero_after(const inmem__vfs *vfs, const seg_map *m, uint64_t from)
{
    region_walk rw = {vfs, m->fd, from, m->size};
    uint64_t a, b;
    while (next_region(&rw, &a, &b)) {
        uint64_t nz = scan_first_nonzero(vfs, m, a, b);
        if (nz < b)
            return nz;
    }
    return m->size;
}

/* The end of the last non-zero byte at or after @p from (or @p from if none). */
static uint64_t data_end(const inmem__vfs *vfs, const seg_map *m, uint64_t from)
{
    region_walk rw = {vfs, m->fd, from, m->size};
    uint64_t a, b, end = from;
    while (next_region(&rw, &a, &b)) {
        uint64_t e = scan_data_end(vfs, m, a, b);
        if (e > a)
            end = e;
    }
    return end;
}

/* Zeroes every non-zero byte at or after @p from (through a writable mapping). */
static void zero_after(const inmem__vfs *vfs, int fd, uint8_t *p, uint64_t from, uint64_t size)
{
    region_walk rw = {vfs, fd, from, size};
    uint64_t a, b;
    while (next_region(&rw, &a, &b)) {
        size_t nz = first_nonzero(p, a, b);
        if (nz < b) {
            size_t last = b;
            while (last > nz && p[last - 1] == 0)
                last--;
            memset(p + nz, 0, last - nz);
        }
    }
}

/* The least log space a version takes: a TXN frame's frame bytes and three one-byte varints
 * (a transaction of format 1, BEGIN and COMMIT frames, takes more). */
#define MIN_VERSION_BYTES (INMEM__WAL_FRAME + 3)

/* 1 if a valid BEGIN, COMMIT, CLOSE, NEXT or TXN frame of this log starts at @p q, after a bad
 * frame at @p bad that followed version @p after. Versions are consecutive, and each takes at
 * least MIN_VERSION_BYTES, so a frame of this log at q carries a version no higher than
 * after + 1 + (q - bad) / MIN_VERSION_BYTES (and above @p after: CLOSE and NEXT name the last
 * version committed, at least @p after). A frame outside that window is not one of this log's
 * records but bytes that look like one: garbage that passes a checksum, or the body of the
 * frame a crash cut short, when a value holds a copy of a log (an agent storing a log file or
 * a backup), which must not make a torn tail pass for corruption. @p ids_are_versions: the
 * segment's format (2 on) gives a transaction's id its version, so a BEGIN is held to the same
 * window. Without @p exact (what came between version @p after and the bad frame is not known:
 * a later segment's first frame), only a TXN frame's version is held, to (after, after + 2^32].
 * A TXN frame (of any length) is checksummed only inside its window, so scanning a damaged
 * region stays cheap. */
static int frame_at(const uint8_t *p, size_t q, size_t size, uint64_t after, uint64_t bad,
                    int ids_are_versions, int exact, inmem__wal_rec *r)
{
    if (q + INMEM__WAL_FRAME > size)
        return 0;
    uint64_t limit = exact ? after + 1 + (q - bad) / MIN_VERSION_BYTES : after + (1ull << 32);
    uint32_t len = inmem__get32(p + q), want;
    switch (p[q + 4]) {
    case INMEM__REC_TXN: {
        const uint8_t *b = p + q + 5, *end = b + (len < 10 ? len : 10);
        uint64_t v;
        if (len > size - q - INMEM__WAL_FRAME || !inmem__get_varint(&b, end, &v) || v <= after ||
            v > limit)
            return 0;
        return inmem__wal_decode(p + q, size - q, r) == INMEM__DEC_OK;
    }
    case INMEM__REC_BEGIN:
        want = INMEM__WAL_BEGIN_LEN;
        break;
    case INMEM__REC_COMMIT:
        want = INMEM__WAL_COMMIT_LEN;
        break;
    case INMEM__REC_CLOSE:
        want = INMEM__WAL_CLOSE_LEN;
        break;
    case INMEM__REC_NEXT:
        want = INMEM__WAL_NEXT_LEN;
        break;
    default:
        return 0;
    }
    if (len != want || inmem__wal_decode(p + q, size - q, r) != INMEM__DEC_OK)
        return 0;
    if (!exact)
        return 1;
    switch (r->type) {
    case INMEM__REC_COMMIT:
        return r->version > after && r->version <= limit;
    case INMEM__REC_CLOSE:
    case INMEM__REC_NEXT:
        return r->version >= after && r->version <= limit;
    default: /* BEGIN */
        return !ids_are_versions || (r->txn_id > after && r->txn_id <= limit);
    }
}

/* The offset of the first valid BEGIN, COMMIT, CLOSE, NEXT or TXN frame of this log (see
 * frame_at()) after the bad frame at @p bad, which followed version @p after, or the segment's
 * size: after a bad frame, proof that what follows had been written (and, for CLOSE and NEXT,
 * synced), and the place where counting resumes. */
static uint64_t valid_frame_after(const inmem__vfs *vfs, const seg_map *m, uint64_t bad,
                                  uint64_t after, int exact)
{
    uint64_t from = bad + 1;
    int ids_are_versions = m->size >= INMEM__WAL_HEADER && inmem__get32(m->p + 8) >= 2;
    region_walk rw = {vfs, m->fd, from, m->size};
    uint64_t a, b;
    inmem__wal_rec r;
    while (next_region(&rw, &a, &b)) {
        /* a frame may start up to FRAME-1 bytes before a hole and run into the next region */
        for (uint64_t q = a; q < b; q++) {
            q = first_nonzero(m->p, q, b); /* a frame's length or type byte is non-zero */
            if (q >= b)
                break;
            uint64_t start = q >= 4 && q - 4 >= from ? q - 4 : q;
            for (uint64_t s = start; s <= q; s++)
                if (frame_at(m->p, s, m->size, after, bad, ids_are_versions, exact, &r))
                    return s;
        }
    }
    return m->size;
}

/* The newest version a valid COMMIT, TXN, CLOSE or NEXT frame in [from, size) of a segment being
 * dropped carries (0 if none), decoding frame by frame and, after a bad frame, resuming at the
 * next valid frame. Versions are consecutive, so the newest version seen in everything dropped,
 * less the last version kept, is exactly the number of committed transactions dropped.
 * @p exact: @p after is the version right before @p from (else known from the first frame
 * decoded on; see frame_at()). */
static uint64_t newest_version(const inmem__vfs *vfs, const seg_map *m, uint64_t from,
                               uint64_t after, int exact)
{
    uint64_t newest = 0, off = from;
    while (off < m->size) {
        inmem__wal_rec r;
        int d = inmem__wal_decode(m->p + off, m->size - off, &r);
        if (d == INMEM__DEC_OK) {
            if (r.type == INMEM__REC_TXN || r.type == INMEM__REC_COMMIT ||
                r.type == INMEM__REC_CLOSE || r.type == INMEM__REC_NEXT) {
                if (r.version > newest)
                    newest = r.version;
                if (r.version > after)
                    after = r.version; /* (the window of the frames after a bad one) */
                exact = 1;
            }
            off += INMEM__WAL_FRAME + r.len;
        } else if (d == INMEM__DEC_END) {
            off = nonzero_after(vfs, m, off);
        } else {
            off = valid_frame_after(vfs, m, off, after, exact);
        }
    }
    return newest;
}

/* ---- one segment ------------------------------------------------------------------------- */

enum seg_end {
    END_CLEAN, /* the end mark, with only zeros after it */
    END_BAD,   /* a bad frame at `bad` (see why, content) */
};

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
    uint64_t version; /* last applied (starts at the checkpoint's version) */
    uint64_t base;    /* the checkpoint's version: commits <= it are skipped */
    uint64_t txn_id;
    /* the segment just replayed */
    enum seg_end how;
    size_t end;      /* END_CLEAN: offset of the end mark; END_BAD: of the bad frame */
    const char *why; /* END_BAD: reason */
    int content;     /* END_BAD: checksum fine, content impossible: never a tear */
    int next;        /* the segment ended with a NEXT record */
    int closed;      /* END_CLEAN right after a CLOSE mark: every byte before it was synced */
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

/* 1 while replay is still in the part of the log the checkpoint holds, at a mark of it. */
static int in_checkpoint(const replay *r, uint64_t version)
{
    return r->version == r->base && version <= r->base;
}

static void bad_content(replay *r, const char *why)
{
    r->why = why;
    r->content = 1;
}

/* Scouts walk the frames ahead of the one being applied and hand their keys to the prefetch
 * callback: a replay looked every key up with the hash slot and the node both missing the cache,
 * one transaction after the other (half of a replay's time). The far scout starts the slot's
 * miss, the near one the node's, by when the slot is in. They only read; what replay applies is
 * decided by inmem__wal_decode() alone. */
#define SCOUT_FAR  8
#define SCOUT_NEAR 4

typedef struct scout {
    size_t at;      /* the next frame it looks at */
    unsigned ahead; /* frames between the one being applied and `at` */
} scout;

static void scout_on(replay *r, const seg_map *m, scout *s, unsigned want, int stage)
{
    while (s->ahead < want && s->at < m->size) {
        const uint8_t *key;
        uint32_t klen;
        size_t n = inmem__wal_peek(m->p + s->at, m->size - s->at, &key, &klen);
        if (!n) {
            s->at = m->size; /* the end, or what replay will stop at */
            return;
        }
        if (key)
            r->w->cfg.prefetch(r->ctx, key, klen, stage);
        s->at += n;
        s->ahead++;
    }
}

/* Replays one mapped segment from its first record; fills r->how, r->end and the rest.
 * Returns 0, or an error from the apply callback / memory. */
static int replay_segment(replay *r, const seg_map *m, uint64_t seq, uint32_t format)
{
    const uint8_t *p = m->p;
    size_t size = m->size, off = INMEM__WAL_HEADER;
    int after_close = 0; /* the last record read was a CLOSE mark */
    scout far = {off, 0}, near = {off, 0};
    int scouting = r->w->cfg.prefetch != NULL;
    r->why = NULL;
    r->content = 0;
    r->next = 0;
    r->closed = 0;
    for (;;) {
        if (scouting) {
            scout_on(r, m, &far, SCOUT_FAR, 0);
            scout_on(r, m, &near, SCOUT_NEAR, 1);
        }
        inmem__wal_rec rec;
        int d = inmem__wal_decode(p + off, size - off, &rec);
        if (d == INMEM__DEC_END) {
            if (nonzero_after(r->w->vfs, m, off) == size) {
                r->closed = after_close;
                r->how = END_CLEAN;
                r->end = off;
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
            bad_content(r, "malformed record");
            break;
        }
        if (r->next) {
            bad_content(r, "record after the segment's NEXT record");
            break;
        }
        after_close = rec.type == INMEM__REC_CLOSE;
        switch (rec.type) {
        case INMEM__REC_BEGIN:
            if (r->in_txn) {
                bad_content(r, "a transaction begins before the previous one committed");
                goto bad;
            }
            r->in_txn = 1;
            r->begin = rec;
            r->txn_start = off;
            break;
        case INMEM__REC_WRITE:
        case INMEM__REC_DELETE:
            if (!r->in_txn) {
                bad_content(r, "write record outside a transaction");
                goto bad;
            }
            if (add_rec(r, &rec))
                return INMEM_ENOMEM;
            break;
        case INMEM__REC_COMMIT: {
            if (r->in_txn && rec.txn_id == r->begin.txn_id && rec.records == r->nrec &&
                in_checkpoint(r, rec.version)) {
                r->report->txns_skipped++;
                r->in_txn = 0;
                r->nrec = 0;
                break;
            }
            int ok = r->in_txn && rec.txn_id == r->begin.txn_id && rec.records == r->nrec &&
                     rec.version == r->version + 1 && rec.version < INMEM__VERSION_LIMIT;
            for (size_t i = 0; ok && i < r->nrec; i++)
                ok = r->recs[i].version == rec.version;
            if (!ok) {
                bad_content(r, !r->in_txn ? "commit record outside a transaction"
                               : rec.version != r->version + 1 ? "commit version out of sequence"
                               : rec.version >= INMEM__VERSION_LIMIT
                                   ? "a commit version no database reaches (2^63 or more)"
                                   : "commit record does not match its transaction");
                goto bad;
            }
            inmem__wal_txn t = {rec.txn_id, rec.version, r->nrec, r->recs, r->begin.time_ms};
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
        case INMEM__REC_TXN: {
            if (r->in_txn || format < INMEM__WAL_FORMAT) {
                bad_content(r, r->in_txn ? "a transaction begins before the previous one committed"
                                         : "a one-record transaction in a format-1 segment");
                goto bad;
            }
            if (in_checkpoint(r, rec.version)) {
                r->report->txns_skipped++;
                break;
            }
            if (rec.version != r->version + 1) {
                bad_content(r, rec.version > r->version + 1 && r->version == r->base
                                   ? "the log starts after a gap: the commits before this one "
                                     "are in no checkpoint (missing or damaged) and no segment"
                                   : "commit version out of sequence");
                goto bad;
            }
            if (rec.version >= INMEM__VERSION_LIMIT) { /* its next commits would wrap */
                bad_content(r, "a commit version no database reaches (2^63 or more)");
                goto bad;
            }
            r->nrec = 0;
            const uint8_t *q = rec.ops, *end = rec.ops + rec.ops_len;
            for (uint32_t i = 0; i < rec.records; i++) {
                inmem__wal_rec op;
                if (!inmem__wal_txn_op(&q, end, rec.version, &op)) { /* decode checked them */
                    bad_content(r, "malformed transaction record");
                    goto bad;
                }
                if (add_rec(r, &op))
                    return INMEM_ENOMEM;
            }
            inmem__wal_txn t = {rec.txn_id, rec.version, r->nrec, r->recs, rec.time_ms};
            int rc = r->apply(r->ctx, &t);
            if (rc)
                return rc;
            r->version = rec.version;
            r->txn_id = rec.txn_id;
            r->report->txns_applied++;
            r->nrec = 0;
            break;
        }
        case INMEM__REC_CLOSE:
            if (r->in_txn) {
                bad_content(r, "close mark inside a transaction");
                goto bad;
            }
            if (rec.version != r->version && !in_checkpoint(r, rec.version)) {
                bad_content(r, "close mark of another version");
                goto bad;
            }
            break;
        case INMEM__REC_NEXT:
            if (r->in_txn || rec.next_seq != seq + 1 ||
                (rec.version != r->version && !in_checkpoint(r, rec.version))) {
                bad_content(r, "NEXT record does not match the log");
                goto bad;
            }
            r->next = 1;
            break;
        default:
            r->report->records_skipped++;
            break;
        }
        r->report->bytes += INMEM__WAL_FRAME + rec.len;
        off += INMEM__WAL_FRAME + rec.len;
        far.ahead -= far.ahead > 0;
        near.ahead -= near.ahead > 0;
    }
bad:
    r->how = END_BAD;
    r->end = off;
    return 0;
}

/* 1 if the bad frame at @p bad of a torn tail starts a transaction, by what is left of its head:
 * a TXN frame (a whole transaction, format 2) or a BEGIN, torn before the commit that a
 * transaction read whole would have (an open transaction, r->in_txn, is counted apart). A head
 * torn away itself leaves nothing to tell. */
static int torn_txn_start(const seg_map *m, size_t bad)
{
    if (bad + 4 >= m->size)
        return 0;
    uint8_t type = m->p[bad + 4];
    return type == INMEM__REC_TXN || type == INMEM__REC_BEGIN;
}

/* ---- the whole log ----------------------------------------------------------------------- */

static void seg_name(uint64_t seq, char *buf, size_t cap)
{
    snprintf(buf, cap, "wal-%016llx.log", (unsigned long long)seq);
}

static int map_segment(inmem__wal *w, uint64_t seq, seg_map *m)
{
    char path[PATH_MAX_LEN];
    inmem__wal_seg_path(w, seq, path, sizeof path);
    m->p = NULL;
    m->size = 0;
    m->fd = w->vfs->open(path, O_RDONLY | O_NOFOLLOW, 0);
    if (m->fd < 0)
        return inmem__wal_io_error(w, m->fd, "open", seq);
    int rc = w->vfs->size(m->fd, &m->size);
    void *map = NULL;
    if (rc == 0 && m->size > 0)
        rc = w->vfs->map(m->fd, m->size, 0, &map);
    if (rc) {
        w->vfs->close(m->fd);
        m->fd = -1;
        return inmem__wal_io_error(w, rc, "map", seq);
    }
    m->p = map;
    return 0;
}

static void unmap_segment(inmem__wal *w, seg_map *m)
{
    if (m->p)
        w->vfs->unmap((void *)m->p, m->size);
    if (m->fd >= 0)
        w->vfs->close(m->fd);
    m->p = NULL;
    m->fd = -1;
}

/* Header of a mapped segment: 0, INMEM_EVERSION or INMEM_ECORRUPT (with the reason in *why);
 * its size and format in *hsize and *format. */
static int check_header(const seg_map *m, uint64_t seq, uint64_t *hsize, uint32_t *format,
                        const char **why)
{
    uint64_t hseq = 0;
    int rc = inmem__wal_check_header(m->p, m->p ? m->size : 0, &hseq, hsize, format);
    if (rc == INMEM_EVERSION)
        *why = "an inmem log segment of another format version";
    else if (rc)
        *why = m->size < INMEM__WAL_HEADER ? "the file is shorter than a segment header"
                                           : "bad segment header (damaged, or not an inmem log)";
    else if (hseq != seq)
        *why = "the header names another segment", rc = INMEM_ECORRUPT;
    return rc;
}

/* 1 if the segment holds anything after its header. */
static int seg_has_data(inmem__wal *w, uint64_t seq, int *has)
{
    seg_map m;
    int rc = map_segment(w, seq, &m);
    if (rc)
        return rc;
    uint64_t hsize;
    uint32_t format;
    const char *why;
    *has = m.size > INMEM__WAL_HEADER && nonzero_after(w->vfs, &m, INMEM__WAL_HEADER) < m.size;
    if (check_header(&m, seq, &hsize, &format, &why))
        *has = 1; /* a damaged header is judged when replay reaches it */
    unmap_segment(w, &m);
    return 0;
}

/* The version of the first COMMIT in a segment (0 if none decodes before a bad frame). */
static uint64_t first_commit_version(inmem__wal *w, uint64_t seq)
{
    seg_map m;
    if (map_segment(w, seq, &m))
        return 0;
    uint64_t hsize, v = 0;
    uint32_t format;
    const char *why;
    if (check_header(&m, seq, &hsize, &format, &why) == 0) {
        for (size_t off = INMEM__WAL_HEADER;;) {
            inmem__wal_rec r;
            if (inmem__wal_decode(m.p + off, m.size - off, &r) != INMEM__DEC_OK)
                break;
            if (r.type == INMEM__REC_COMMIT || r.type == INMEM__REC_TXN) {
                v = r.version;
                break;
            }
            off += INMEM__WAL_FRAME + r.len;
        }
    }
    unmap_segment(w, &m);
    return v;
}

/* A window of a segment read with pread (the prescan reads the log through the page cache: a
 * mapping would take every page's fault twice, here and in replay: a fifth of a reopen). */
typedef struct seg_buf {
    inmem__wal *w;
    int fd;
    uint64_t size; /* the file's */
    uint8_t *p;
    size_t cap;
    uint64_t off; /* p holds [off, off + len) */
    size_t len;
} seg_buf;

#define PRESCAN_BUF ((size_t)1 << 20)

/* Makes the buffer hold [off, off + need) (need <= size - off): 0, or an error. */
static int seg_fill(seg_buf *b, uint64_t off, size_t need)
{
    if (off >= b->off && off - b->off + need <= b->len)
        return 0;
    if (need > b->cap) {
        size_t cap = need > PRESCAN_BUF ? need : PRESCAN_BUF;
        uint8_t *p = realloc(b->p, cap);
        if (!p)
            return INMEM_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    size_t want = b->size - off < b->cap ? (size_t)(b->size - off) : b->cap, got = 0;
    while (got < want) {
        int64_t n = b->w->vfs->pread(b->fd, b->p + got, want - got, off + got);
        if (n <= 0)
            return INMEM_EIO; /* (prescan() leaves it to replay to report) */
        got += (size_t)n;
    }
    b->off = off;
    b->len = got;
    return 0;
}

/* The puts of keys of cfg.prescan_klen bytes in a segment (after its header), to cfg.prescan:
 * frame by frame, without checksums, up to the end of the log or the first frame that does not
 * fit (replay applies no more than that). */
static int prescan_segment(seg_buf *sb, void *ctx)
{
    inmem__wal *w = sb->w;
    const size_t want = w->cfg.prescan_klen;
    uint64_t off = INMEM__WAL_HEADER;
    int rc = 0;
    while (rc == 0 && sb->size - off >= INMEM__WAL_FRAME) {
        if ((rc = seg_fill(sb, off, 5)) != 0)
            break;
        const uint8_t *h = sb->p + (off - sb->off);
        uint32_t len = inmem__get32(h);
        uint8_t type = h[4];
        if ((len == 0 && type == 0) || len > sb->size - off - INMEM__WAL_FRAME)
            break;
        if (type == INMEM__REC_WRITE && len >= INMEM__WAL_WRITE_FIXED) {
            if ((rc = seg_fill(sb, off, 5 + INMEM__WAL_WRITE_FIXED)) != 0)
                break;
            const uint8_t *b = sb->p + (off - sb->off) + 5;
            uint32_t klen = inmem__get32(b + 16), vlen = inmem__get32(b + 20);
            if (klen == want && (uint64_t)INMEM__WAL_WRITE_FIXED + klen + vlen == len &&
                (rc = seg_fill(sb, off, 5 + (size_t)len)) == 0) {
                b = sb->p + (off - sb->off) + 5;
                rc = w->cfg.prescan(ctx, b + 24, want, b + 24 + want, vlen);
            }
        } else if (type == INMEM__REC_TXN) {
            if ((rc = seg_fill(sb, off, 5 + (size_t)len)) != 0)
                break;
            const uint8_t *b = sb->p + (off - sb->off) + 5, *end = b + len;
            uint64_t version, time_ms, n;
            if (!inmem__get_varint(&b, end, &version) || !inmem__get_varint(&b, end, &time_ms) ||
                !inmem__get_varint(&b, end, &n))
                break;
            for (; rc == 0 && n > 0 && b < end; n--) { /* op · [expiry] · klen · [vlen] · ... */
                uint8_t kind = *b++;
                uint64_t x, klen, vlen = 0;
                if ((kind != INMEM__OP_PUT && kind != INMEM__OP_DELETE) ||
                    (kind == INMEM__OP_PUT && !inmem__get_varint(&b, end, &x)) ||
                    !inmem__get_varint(&b, end, &klen) ||
                    (kind == INMEM__OP_PUT && !inmem__get_varint(&b, end, &vlen)) ||
                    (uint64_t)(end - b) < klen || (uint64_t)(end - b) - klen < vlen)
                    break;
                if (kind == INMEM__OP_PUT && klen == want)
                    rc = w->cfg.prescan(ctx, b, want, b + klen, (size_t)vlen);
                b += klen + vlen;
            }
        }
        off += INMEM__WAL_FRAME + len;
    }
    return rc;
}

/* Every segment replay may read (as recover() picks them), to prescan_segment(). */
static int prescan(inmem__wal *w, void *ctx, const dir_scan *ds, size_t last)
{
    seg_buf sb = {.w = w};
    int rc = 0, stop = 0;
    for (size_t i = 0; rc == 0 && !stop && i < ds->n && i <= last; i++) {
        if (i > 0 && ds->seqs[i] != ds->seqs[i - 1] + 1)
            break; /* a gap: replay stops there */
        char path[PATH_MAX_LEN];
        inmem__wal_seg_path(w, ds->seqs[i], path, sizeof path);
        sb.fd = w->vfs->open(path, O_RDONLY | O_NOFOLLOW, 0);
        if (sb.fd < 0)
            break; /* replay says what is wrong with it */
        sb.off = sb.len = 0;
        uint64_t hseq = 0, hsize = 0;
        uint32_t format = 0;
        if (w->vfs->size(sb.fd, &sb.size) == 0 && sb.size >= INMEM__WAL_HEADER &&
            (rc = seg_fill(&sb, 0, INMEM__WAL_HEADER)) == 0 &&
            inmem__wal_check_header(sb.p, sb.len, &hseq, &hsize, &format) == 0 &&
            hseq == ds->seqs[i])
            rc = prescan_segment(&sb, ctx);
        else
            stop = 1; /* a bad header: replay stops there */
        w->vfs->close(sb.fd);
    }
    free(sb.p);
    return rc == INMEM_EIO ? 0 : rc; /* what cannot be read, replay reports */
}

/* Where replay stopped and what to do about the segments after it. */
typedef struct recovery {
    replay r;
    dir_scan ds;
    size_t active;       /* index of the last segment holding data (ds.n if none) */
    size_t stop;         /* index of the last segment replayed (ds.n: none) */
    size_t cut;          /* offset in it where its log ends (appending resumes there) */
    int dirty;           /* bytes at or after cut must be zeroed */
    uint64_t hsize;      /* its header's size */
    uint32_t format;     /* its format */
    size_t first_needed; /* the first segment with a commit after the checkpoint (ds.n: none) */
    int next;            /* it ends with a NEXT record: appending goes on in the next segment */
    int closed;          /* it ends with a clean close's mark: it was synced whole */
} recovery;

/* Notes in *newest the newest version in segments [from, ds.n) and adds their bytes to the
 * report; unless read-only, renames them to *.dropped and syncs the directory (set aside for
 * good: after a machine crash they must not come back beside the commits made after the
 * repair); then forgets them. */
static int drop_segments(inmem__wal *w, recovery *v, size_t from, uint64_t *newest)
{
    inmem_recovery_info *rep = v->r.report;
    int renamed = 0;
    for (size_t j = from; j < v->ds.n; j++) {
        seg_map o;
        if (map_segment(w, v->ds.seqs[j], &o) == 0) {
            if (o.size > INMEM__WAL_HEADER) {
                rep->bytes_dropped += data_end(w->vfs, &o, INMEM__WAL_HEADER) - INMEM__WAL_HEADER;
                uint64_t nv = newest_version(w->vfs, &o, INMEM__WAL_HEADER, v->r.version, 0);
                if (nv > *newest)
                    *newest = nv;
            }
            unmap_segment(w, &o);
        }
        if (!w->cfg.read_only) {
            char path[PATH_MAX_LEN], to[PATH_MAX_LEN + 16];
            inmem__wal_seg_path(w, v->ds.seqs[j], path, sizeof path);
            int err = inmem__vfs_dropped_name(w->vfs, path, to, sizeof to);
            if (err == 0)
                err = w->vfs->rename(path, to);
            if (err)
                return inmem__wal_io_error(w, err, "rename", v->ds.seqs[j]);
            renamed = 1;
        }
    }
    v->ds.n = from;
    int rc = renamed ? inmem__wal_sync_dir(w) : 0;
    return rc ? inmem__error(INMEM_EIO, "fsync of %s failed: %s", inmem__shown(w->dir),
                             strerror(-rc))
              : 0;
}

static void set_repair(inmem_recovery_info *rep, const char *file, uint64_t off)
{
    if (rep->repaired)
        return; /* the first cut is the one reported */
    rep->repaired = 1;
    snprintf(rep->repair_file, sizeof rep->repair_file, "%s", file);
    rep->repair_offset = off;
}

/* A bad frame in segment i (mapped as @p m) that is not a torn tail: fails the open, unless
 * repairing: then the log is cut at @p cut, and what goes — the rest of segment i and every
 * later segment — is counted and dropped. */
static int corrupt(inmem__wal *w, recovery *v, size_t i, const seg_map *m, size_t cut, size_t bad,
                   const char *why, uint64_t valid_after)
{
    replay *r = &v->r;
    inmem_recovery_info *rep = r->report;
    char name[64];
    seg_name(v->ds.seqs[i], name, sizeof name);
    if (!w->cfg.repair) {
        char more[96] = "";
        if (valid_after < m->size)
            snprintf(more, sizeof more, "; a valid record follows at offset %llu",
                     (unsigned long long)valid_after);
        return inmem__error(INMEM_ECORRUPT,
                            "log %s/%s is corrupt at offset %zu (%s%s); open with the repair "
                            "option to cut the log there, reported in inmem_db_recovery()",
                            inmem__shown(w->dir), name, bad, why, more);
    }
    set_repair(rep, name, cut);
    /* Exact: versions are consecutive, so what is dropped is every version from the last kept one
     * to the newest any valid record after the cut carries (a CLOSE or NEXT mark included). With
     * none, the damaged frame itself: a transaction if one was open or its type byte says so. */
    uint64_t newest = newest_version(w->vfs, m, bad, r->version, 1);
    rep->bytes_dropped += data_end(w->vfs, m, cut) - cut;
    int rc = drop_segments(w, v, i + 1, &newest);
    if (newest > r->version)
        rep->txns_dropped += newest - r->version;
    else if (r->in_txn || (bad + INMEM__WAL_FRAME <= m->size && m->p[bad + 4] == INMEM__REC_TXN))
        rep->txns_dropped += 1;
    r->in_txn = 0;
    r->nrec = 0;
    v->cut = cut;
    v->dirty = 1;
    v->next = 0; /* a NEXT record before the cut: see recover() */
    return rc;
}

/* Segment i cannot be read from its start (missing, or a bad header): fails the open, unless
 * repairing: then every segment from i on is counted and dropped. */
static int corrupt_from(inmem__wal *w, recovery *v, size_t i, const char *file, const char *what)
{
    if (!w->cfg.repair)
        return inmem__error(INMEM_ECORRUPT,
                            "log %s: %s; open with the repair option to cut the log before it, "
                            "reported in inmem_db_recovery()",
                            inmem__shown(w->dir), what);
    set_repair(v->r.report, file, 0);
    uint64_t newest = 0;
    int rc = drop_segments(w, v, i, &newest);
    if (newest > v->r.version)
        v->r.report->txns_dropped += newest - v->r.version;
    return rc;
}

/* Opens segment @p seq for writing and zeroes every byte at or after @p from. */
static int zero_segment_tail(inmem__wal *w, uint64_t seq, uint64_t from)
{
    char path[PATH_MAX_LEN];
    inmem__wal_seg_path(w, seq, path, sizeof path);
    int fd = w->vfs->open(path, O_RDWR | O_NOFOLLOW, 0), rc;
    uint64_t size = 0;
    void *map = NULL;
    if (fd < 0)
        return inmem__wal_io_error(w, fd, "open", seq);
    if ((rc = w->vfs->size(fd, &size)) == 0 && size > from &&
        (rc = w->vfs->map(fd, size, 1, &map)) == 0) {
        zero_after(w->vfs, fd, map, from, size);
        rc = w->vfs->datasync(fd);
        w->vfs->unmap(map, size);
    }
    w->vfs->close(fd);
    return rc ? inmem__wal_io_error(w, rc, "cut", seq) : 0;
}

/* Opens segment @p seq for appending at @p off (its bytes from @p off on are zero). */
static int resume_segment(inmem__wal *w, uint64_t seq, uint64_t seg_size, size_t off)
{
    char path[PATH_MAX_LEN];
    inmem__wal_seg_path(w, seq, path, sizeof path);
    int fd = w->vfs->open(path, O_RDWR | O_NOFOLLOW, 0), rc;
    if (fd < 0)
        return inmem__wal_io_error(w, fd, "open", seq);
    /* a file cut short: give its room back. And room for a NEXT record after @p off, which a
     * segment written without the room of W6 lacks (format 1 before both end marks had room: a
     * clean close left 8 bytes; or a header naming too small a size): the switch that
     * inmem__wal_make_room() then makes must not write it past the end */
    uint64_t size = 0, next_end = (uint64_t)off + INMEM__WAL_FRAME + INMEM__WAL_NEXT_LEN;
    uint64_t want = seg_size > next_end ? seg_size : next_end;
    if ((rc = w->vfs->size(fd, &size)) == 0 && size < want)
        rc = w->vfs->allocate(fd, want);
    if (rc == 0 && size < want)
        size = want;
    void *map = NULL;
    if (rc == 0)
        rc = w->vfs->map(fd, size, 1, &map);
    if (rc) {
        w->vfs->close(fd);
        return inmem__wal_io_error(w, rc, "reopen", seq);
    }
    inmem__wal_advise_append(w, map, size);
    inmem__wal_seg_install(w, fd, map, size, seq, off);
    return 0;
}

/* Syncs segment @p seq. A process that crashed may have left its last records (or the NEXT
 * record it wrote before its fsync) in the page cache only; the log resumes after them, and
 * what it appends from now on may be synced and acknowledged, so they must be on disk first
 * (W4: a segment is synced whole before another one, or later bytes, count on it). */
static int sync_segment(inmem__wal *w, uint64_t seq)
{
    char path[PATH_MAX_LEN];
    inmem__wal_seg_path(w, seq, path, sizeof path);
    int fd = w->vfs->open(path, O_RDWR | O_NOFOLLOW, 0), rc;
    if (fd < 0)
        return inmem__wal_io_error(w, fd, "open", seq);
    rc = w->vfs->datasync(fd);
    w->vfs->close(fd);
    return rc ? inmem__wal_io_error(w, rc, "fdatasync", seq) : 0;
}

/* Resolves where the log ends after replay (writable opens): cuts the stopping segment, moves
 * past it if it ended with NEXT, removes the unused segments after, and opens the log there. */
static int resume(inmem__wal *w, recovery *v)
{
    int rc;
    if (v->stop >= v->ds.n) {
        /* no segment at all: a new log. Segment 1 is where version 1 is logged; a log begun on a
         * checkpoint image (a backup's first open) starts at 2, so that without its image it
         * never passes for a whole log (see recover()). */
        uint64_t first = w->cfg.base_version ? 2 : 1;
        w->first_seq = first;
        return inmem__wal_seg_create(w, first, inmem__wal_next_size(w, 0));
    }
    uint64_t seq = v->ds.seqs[v->stop];
    size_t at = v->stop;
    if (v->next && at + 1 < v->ds.n && v->ds.seqs[at + 1] == seq + 1)
        at++; /* the next segment exists and is unused: append there */
    /* segments wholly in the checkpoint: an interrupted checkpoint did not remove them (the
     * last one read too, when appending goes on past it and it holds nothing after the image) */
    size_t keep = v->first_needed < at ? v->first_needed : at;
    for (size_t j = 0; j < keep && w->cfg.base_version; j++) {
        char path[PATH_MAX_LEN];
        inmem__wal_seg_path(w, v->ds.seqs[j], path, sizeof path);
        if ((rc = w->vfs->unlink(path)) != 0 && rc != -ENOENT)
            return inmem__wal_io_error(w, rc, "remove", v->ds.seqs[j]);
    }
    w->first_seq = v->ds.seqs[w->cfg.base_version ? keep : 0];
    if (!w->cfg.base_version || keep <= v->stop) { /* the last one read stays */
        if (v->dirty && (rc = zero_segment_tail(w, seq, v->cut)) != 0)
            return rc;
        if (!v->closed && (rc = sync_segment(w, seq)) != 0) /* (a clean close synced it) */
            return rc;
    }
    for (size_t j = at + 1; j < v->ds.n; j++) { /* prepared, never used */
        char path[PATH_MAX_LEN];
        inmem__wal_seg_path(w, v->ds.seqs[j], path, sizeof path);
        (void)w->vfs->unlink(path);
    }
    if (v->next && at == v->stop) /* the next segment is gone (repair): make it */
        return inmem__wal_seg_create(w, seq + 1, inmem__wal_next_size(w, 0));
    if (at != v->stop) {
        seg_map m;
        if ((rc = map_segment(w, v->ds.seqs[at], &m)) != 0)
            return rc;
        const char *why;
        uint64_t hsize = 0;
        uint32_t format;
        rc = check_header(&m, v->ds.seqs[at], &hsize, &format, &why);
        unmap_segment(w, &m);
        if (rc)
            return inmem__error(rc, "%s/wal-%016llx.log: %s", inmem__shown(w->dir),
                                (unsigned long long)v->ds.seqs[at], why);
        if ((rc = resume_segment(w, v->ds.seqs[at], hsize, INMEM__WAL_HEADER)) == 0)
            w->format = format;
        return rc;
    }
    if ((rc = resume_segment(w, seq, v->hsize, v->cut)) == 0)
        w->format = v->format;
    return rc;
}

/* A read-only open beside a live writer fails with @p rc on damage in a complete segment: says
 * so (cfg.damage_settled), so that the caller does not retry it as a race with the writer. */
static void settled(inmem__wal *w, int live, int rc)
{
    if (live && rc == INMEM_ECORRUPT && w->cfg.damage_settled)
        *w->cfg.damage_settled = 1;
}

static int recover(inmem__wal *w, inmem__wal_apply_fn apply, void *ctx, inmem_recovery_info *report,
                   dir_scan *ds_in)
{
    recovery v = {.r = {.w = w,
                        .apply = apply,
                        .ctx = ctx,
                        .report = report,
                        .version = w->cfg.base_version,
                        .base = w->cfg.base_version,
                        .txn_id = w->cfg.base_txn_id},
                  .ds = *ds_in};
    replay *r = &v.r;
    const int live = report->live_writer;
    int rc = 0;
    memset(ds_in, 0, sizeof(*ds_in)); /* v owns the list now */

    /* the active segment: the last one holding any data */
    v.active = v.ds.n;
    for (size_t i = v.ds.n; i-- > 0 && v.active == v.ds.n;) {
        int has = 0;
        if ((rc = seg_has_data(w, v.ds.seqs[i], &has)) != 0)
            goto done;
        if (has)
            v.active = i;
    }
    v.stop = v.ds.n;
    v.first_needed = v.ds.n;
    /* Without a checkpoint image the log must hold every commit from the first, so it starts at
     * segment 1: only a checkpoint removes segments (those its image holds), and a log begun on
     * an image starts at segment 2 (resume()). A log that starts later has lost what held its
     * beginning — most likely the image — and replayed onto nothing it would open as an empty
     * (or partial) database whose next commits reuse versions it already holds. A repair keeps
     * the longest intact prefix of the history, which here is nothing: it sets every segment
     * aside and starts empty, and says so. */
    if (!w->cfg.base_version && v.ds.n && v.ds.seqs[0] != 1) {
        char first[64], name[64];
        seg_name(1, first, sizeof first);
        seg_name(v.ds.seqs[0], name, sizeof name);
        if (!w->cfg.repair) {
            rc = inmem__error(INMEM_ECORRUPT,
                              "log %s: segment %s is missing: the log starts at %s and no "
                              "checkpoint image holds the commits before it (was the image "
                              "lost?); restore it, or open with the repair option to set the "
                              "whole log aside and start empty, reported in inmem_db_recovery()",
                              inmem__shown(w->dir), first, name);
            goto done;
        }
        set_repair(report, first, 0);
        uint64_t newest = 0;
        if ((rc = drop_segments(w, &v, 0, &newest)) != 0)
            goto done;
        /* every version up to the newest a dropped record names is gone; with none named (the
         * process died right after a checkpoint, before any other commit), how many is unknown */
        report->txns_dropped = newest ? newest : INMEM_COUNT_UNKNOWN;
    }
    /* Segments after the active one hold nothing: a segment made ahead of a switch that never
     * came, which resume() removes, or the one a NEXT record names, which it resumes in. They are
     * not replayed: resuming in one that follows a segment without NEXT would append past bytes
     * nobody synced (the crashed process's last records, in the page cache only). A gap in
     * their numbers is still corruption (a segment with data, lost). */
    size_t last = v.active < v.ds.n ? v.active : 0;
    if (w->cfg.prescan && v.active < v.ds.n && (rc = prescan(w, ctx, &v.ds, last)) != 0)
        goto done;
    for (size_t i = 0; i < v.ds.n; i++) {
        uint64_t seq = v.ds.seqs[i];
        char name[64], what[200];
        seg_name(seq, name, sizeof name);
        int missing = i > 0 && seq != v.ds.seqs[i - 1] + 1;
        if (i > last && !missing)
            continue;
        /* Beside a live writer only what it may still be writing goes unjudged. A segment before
         * the last one that held data when the directory was looked at is complete: the writer
         * synced it whole and wrote its NEXT record before any record went into the next one
         * (wal.c, W4 and W6), and never writes to it again, so its bytes are final and damage
         * in them is corruption, as without a writer. (A gap is not judged: a checkpoint may
         * have removed segments while the directory was listed.) */
        int unjudged = live && (v.active == v.ds.n || i >= v.active);
        if (missing) {
            if (live)
                break; /* a segment being made while we listed: stop at the gap */
            char gap[64];
            seg_name(v.ds.seqs[i - 1] + 1, gap, sizeof gap);
            snprintf(what, sizeof what, "segment %s is missing (the next one is %s)", gap, name);
            if ((rc = corrupt_from(w, &v, i, gap, what)) != 0)
                goto done;
            break;
        }
        seg_map m;
        if ((rc = map_segment(w, seq, &m)) != 0)
            goto done;
        uint64_t hsize = 0;
        uint32_t format = 0;
        const char *why = NULL;
        int hrc = check_header(&m, seq, &hsize, &format, &why);
        if (hrc) {
            unmap_segment(w, &m);
            if (unjudged)
                break;
            if (hrc == INMEM_EVERSION) {
                rc = inmem__error(INMEM_EVERSION, "%s/%s: %s (this library reads format %u)",
                                  inmem__shown(w->dir), name, why, INMEM__WAL_FORMAT);
                goto done;
            }
            snprintf(what, sizeof what, "%s is corrupt at offset 0 (%s)", name, why);
            if ((rc = corrupt_from(w, &v, i, name, what)) != 0) {
                settled(w, live, rc);
                goto done;
            }
            break;
        }
        report->segments++;
        uint64_t applied = report->txns_applied;
        if ((rc = replay_segment(r, &m, seq, format)) != 0) {
            unmap_segment(w, &m);
            goto done;
        }
        if (report->txns_applied > applied && v.first_needed == v.ds.n)
            v.first_needed = i;
        v.stop = i;
        v.hsize = hsize;
        v.format = format;
        v.cut = r->in_txn ? r->txn_start : r->end;
        v.dirty = r->how != END_CLEAN || v.cut != r->end;
        v.next = r->next;
        v.closed = r->how == END_CLEAN && r->closed && !v.dirty;
        if (unjudged && (r->how == END_BAD || r->in_txn || (r->next && i + 1 == v.ds.n))) {
            unmap_segment(w, &m); /* the writer may be in the middle of it: not judged */
            r->in_txn = 0;
            r->nrec = 0;
            v.next = 0;
            break;
        }
        if (r->how == END_BAD || r->in_txn) {
            size_t bad = r->end;
            uint64_t valid = r->how == END_BAD && !r->content
                                 ? valid_frame_after(w->vfs, &m, bad, r->version, 1)
                                 : m.size;
            int is_active = i == v.active || i + 1 == v.ds.n;
            if (is_active && !r->content && valid >= m.size && !r->next) {
                /* a torn tail: damage at the end of what was written, nothing valid after */
                report->torn_tail = 1;
                snprintf(report->tail_file, sizeof report->tail_file, "%s", name);
                report->tail_offset = v.cut;
                report->tail_bytes = data_end(w->vfs, &m, v.cut) - v.cut;
                if (r->in_txn || torn_txn_start(&m, bad))
                    report->txns_discarded++;
                r->in_txn = 0;
                r->nrec = 0;
                unmap_segment(w, &m);
                break;
            }
            const char *reason =
                r->how == END_BAD
                    ? r->why
                    : "a transaction without its commit record, before a later segment";
            /* Only garbage past the segment's last transaction is bad, and the next segment
             * carries on with the next version: repair zeroes the garbage and goes on. */
            if (w->cfg.repair && r->how == END_BAD && !r->in_txn && !r->content &&
                valid >= m.size && i + 1 < v.ds.n && v.ds.seqs[i + 1] == seq + 1 &&
                first_commit_version(w, seq + 1) == r->version + 1) {
                set_repair(report, name, v.cut);
                report->bytes_dropped += data_end(w->vfs, &m, v.cut) - v.cut;
                unmap_segment(w, &m);
                if (!w->cfg.read_only && (rc = zero_segment_tail(w, seq, v.cut)) != 0)
                    goto done;
                v.dirty = 0;
                continue;
            }
            rc = corrupt(w, &v, i, &m, v.cut, bad, reason, valid);
            unmap_segment(w, &m);
            if (rc) {
                settled(w, live, rc);
                goto done;
            }
            break;
        }
        unmap_segment(w, &m);
        if (r->next && i + 1 == v.ds.n) {
            if (live)
                break;
            char next[64];
            seg_name(seq + 1, next, sizeof next);
            snprintf(what, sizeof what,
                     "segment %s is missing (%s ends with a record saying the log goes on there)",
                     next, name);
            if (!w->cfg.repair) {
                rc = inmem__error(INMEM_ECORRUPT,
                                  "log %s: %s; open with the repair option to go on without it, "
                                  "reported in inmem_db_recovery()",
                                  inmem__shown(w->dir), what);
                goto done;
            }
            set_repair(report, next, 0);
        }
    }
    report->version = r->version;
    report->txn_id = r->txn_id;
    w->txn_id = r->txn_id;
    w->version = r->version;
    if (!w->cfg.read_only) { /* read-only: nothing is written, no segment opened for appending */
        if ((rc = resume(w, &v)) != 0 || (rc = inmem__wal_make_room(w)) != 0)
            goto done;
        uint64_t lsn = w->lsn_base + w->off;
        atomic_store_rlx(&w->written_lsn, lsn);
        atomic_store_rlx(&w->synced_lsn, lsn);
    }
done:
    free(r->recs);
    free(v.ds.seqs);
    return rc;
}

/* A log handle for @p cfg, not yet open (NULL if out of memory; w->dir NULL too). Freed by
 * inmem__wal_close(). */
static inmem__wal *wal_new(const inmem__wal_config *cfg)
{
    inmem__wal *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->cfg = *cfg;
    w->vfs = inmem__vfs_get();
    w->fd = w->lock_fd = w->spare_fd = -1;
    inmem__mutex_init(&w->sync_mu);
    inmem__mutex_init(&w->stage_mu);
    pthread_cond_init(&w->sync_cv, NULL);
    w->group = 1;
    pthread_cond_init(&w->flush_cv, NULL);
    w->dir = strdup(cfg->dir);
    atomic_init(&w->trigger_at, UINT64_MAX);
    return w;
}

static int apply_nothing(void *ctx, const inmem__wal_txn *txn)
{
    (void)ctx;
    (void)txn;
    return 0;
}

int inmem__wal_reach(const inmem__wal_config *cfg, int live_writer, uint64_t *version)
{
    *version = 0;
    inmem__wal_config c = *cfg;
    c.read_only = 1; /* no lock (the caller's open holds or probed it), no file changed */
    c.before_replay = NULL;
    c.prescan = NULL; /* nothing is applied: nothing needs to know what comes further on */
    inmem__wal *w = wal_new(&c);
    if (!w)
        return INMEM_ENOMEM;
    dir_scan ds = {0};
    inmem_recovery_info report = {.live_writer = live_writer};
    int rc = w->dir ? scan_dir(w, &ds, 0) : INMEM_ENOMEM;
    if (rc < 0 && rc != INMEM_ENOMEM)
        rc = inmem__error(INMEM_EIO, "cannot read directory %s: %s", inmem__shown(w->dir),
                          strerror(-rc));
    if (rc == 0)
        rc = recover(w, apply_nothing, NULL, &report, &ds);
    if (rc == 0)
        *version = report.version;
    free(ds.seqs);
    inmem__wal_close(w);
    return rc;
}

int inmem__wal_open(const inmem__wal_config *cfg, inmem__wal_apply_fn apply, void *ctx,
                    inmem_recovery_info *report, inmem__wal **out)
{
    *out = NULL;
    memset(report, 0, sizeof(*report));
    uint64_t t0 = inmem__clock_mono_us();
    inmem__wal *w = wal_new(cfg);
    if (!w)
        return INMEM_ENOMEM;
    dir_scan ds = {0};
    int rc = w->dir ? 0 : INMEM_ENOMEM;
    if (rc == 0 && cfg->read_only) {
        /* no lock taken, nothing made or changed: look at whatever is there */
        if ((rc = prepare_dir(w, &ds, report)) == 0 && (rc = probe_writer(w, report)) == 0) {
            free(ds.seqs); /* listed again under the shared lock, so no writer races it */
            if ((rc = scan_dir(w, &ds, 0)) < 0 && rc != INMEM_ENOMEM)
                rc = inmem__error(INMEM_EIO, "cannot read directory %s: %s", inmem__shown(w->dir),
                                  strerror(-rc));
        }
        if (rc == 0 && cfg->before_replay)
            rc = cfg->before_replay(cfg->before_ctx, report, &w->cfg.base_version,
                                    &w->cfg.base_txn_id);
        if (rc == 0)
            rc = recover(w, apply, ctx, report, &ds);
        if (w->lock_fd >= 0) {
            w->vfs->close(w->lock_fd); /* the shared lock: a writer may start now */
            w->lock_fd = -1;
        }
    } else if (rc == 0) {
        if ((rc = prepare_dir(w, &ds, report)) == 0 && (rc = take_lock(w)) == 0) {
            free(ds.seqs); /* listed again under the lock */
            if ((rc = scan_dir(w, &ds, 1)) < 0 && rc != INMEM_ENOMEM)
                rc = inmem__error(INMEM_EIO, "cannot read directory %s: %s", inmem__shown(w->dir),
                                  strerror(-rc));
        }
        if (rc == 0 && cfg->before_replay)
            rc = cfg->before_replay(cfg->before_ctx, report, &w->cfg.base_version,
                                    &w->cfg.base_txn_id);
        if (rc == 0)
            rc = recover(w, apply, ctx, report, &ds);
        if (rc == 0)
            rc = inmem__wal_start(w);
    }
    free(ds.seqs);
    if (rc) {
        inmem__wal_close(w);
        return rc;
    }
    report->time_us = inmem__clock_mono_us() - t0;
    *out = w;
    return 0;
}
