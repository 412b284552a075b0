/*
 * checkpoint.c — writing and reading checkpoint images (docs/FORMAT.md, "Checkpoint images").
 *
 * File "ckpt-<V:016x>.img", little-endian, varints LEB128 (core/bytes.h):
 *
 *   header (96 bytes)
 *     0   8  magic "INMEMCKP"
 *     8   4  format version (INMEM__CKPT_FORMAT, 1)
 *     12  4  header size (96)
 *     16  8  version V: the image holds every commit <= V and nothing after
 *     24  8  txn id at V
 *     32  8  created, Unix ms
 *     40  4  block size the writer aimed at (a hint)
 *     44  4  the database's history retention when written: versions per key
 *     48  8  ... window, ms
 *     56  8  ... the version it was in force from
 *     64  28 reserved, 0
 *     92  4  CRC-32C of bytes 0..91
 *   blocks, back to back, each
 *     0   4  payload length L (1 .. 2^31)
 *     4   4  entries (versions) in the payload
 *     8   4  CRC-32C of the payload
 *     12  4  CRC-32C of bytes 0..11
 *     16  L  payload: entries
 *   trailer (48 bytes)
 *     0   8  magic "INMEMEND"
 *     8   8  keys
 *     16  8  versions
 *     24  8  blocks
 *     32  8  payload bytes
 *     40  4  reserved, 0
 *     44  4  CRC-32C of bytes 0..43
 *   and nothing after it.
 *
 * An entry is one version of a key:
 *   flags u8       bit 0: the first (newest) version of its key — the key follows;
 *                  bit 1: a tombstone (no expiry, no value);
 *                  bit 2: the oldest version kept of its key, older ones were freed (retained
 *                  history: a read of the past below it is refused); other bits 0
 *   [first: key length varint · key (an encoded key: at least INMEM__KEY_PREFIX bytes)]
 *   version varint · commit time varint (Unix ms, 0: unknown)
 *   [not a tombstone: expiry ms varint (0: none) · value length varint · value]
 * Keys are in strictly increasing memcmp order; a key's versions follow it, newest first, with
 * strictly decreasing versions, all <= V, in the same block (a block starts with a key). Without
 * retained history the engine writes one version per key (the newest visible at V); with it,
 * every version it keeps, tombstones included.
 *
 * Checks on reading (any failure is INMEM_ECORRUPT with the file and offset): the header's magic,
 * size and checksum, and a version V below 2^63; every block's header checksum, length within the
 * file, payload checksum and entry count; entries that parse exactly to their block's end; key
 * order and version order; the trailer's magic, checksum and counts; nothing after the trailer.
 * Blocks are independent, so a salvage load (the repair option) can skip a damaged one and go on
 * with the next block whose header checks out; it checks each block whole before handing on any of
 * its entries, so that a block that fails part-way is skipped whole too.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include "checkpoint/checkpoint.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "core/crc32c.h"
#include "core/key.h"
#include "core/vfs.h"

#define MAGIC        "INMEMCKP"
#define END_MAGIC    "INMEMEND"
#define HEADER_SIZE  96u
#define BLOCK_HEAD   16u
#define TRAILER_SIZE 48u
#define BLOCK_TARGET (64u << 10)
#define WRITE_CHUNK  (1u << 20)
#define PATH_CAP     4096

#define F_FIRST 1u
#define F_TOMB  2u
#define F_CUT   4u

/* The fewest bytes an entry that starts a key takes: flags, the key's length (one varint byte),
 * the key (an encoded key: at least its run id and tag), version and commit time (a byte each),
 * as a tombstone (no expiry, no value). */
#define MIN_KEY_ENTRY (1u + 1u + INMEM__KEY_PREFIX + 1u + 1u)

void inmem__ckpt_path(const char *dir, uint64_t version, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/ckpt-%016llx.img", dir, (unsigned long long)version);
}

/* "ckpt-" + 16 lowercase hex digits + @p suffix; the version in *v. */
static int parse_name(const char *name, const char *suffix, uint64_t *v)
{
    if (strncmp(name, "ckpt-", 5) != 0)
        return 0;
    uint64_t x = 0;
    for (int i = 5; i < 21; i++) {
        char c = name[i];
        if (c >= '0' && c <= '9')
            x = x << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x = x << 4 | (uint64_t)(c - 'a' + 10);
        else
            return 0;
    }
    if (strcmp(name + 21, suffix) != 0)
        return 0;
    *v = x;
    return 1;
}

int inmem__ckpt_is_name(const char *name)
{
    uint64_t v;
    return parse_name(name, ".img", &v) || parse_name(name, ".img.tmp", &v);
}

/* ---- writing ------------------------------------------------------------------------------ */

struct inmem__ckpt_writer {
    const inmem__vfs *vfs;
    char *dir;
    char tmp[PATH_CAP + 8], path[PATH_CAP];
    int fd;
    uint64_t version;
    uint64_t off; /* file offset of buf[0] */
    uint8_t *buf; /* pending bytes: whole blocks, then the block being filled */
    size_t len, cap;
    size_t block; /* offset in buf of the block being filled (its header) */
    uint32_t block_entries;
    uint64_t keys, versions, blocks, payload;
    uint8_t *last_key; /* the previous key, for the order check */
    size_t last_klen, last_cap;
    int have_last;
    uint64_t last_version; /* the previous version of the current key */
};

static int wr_error(inmem__ckpt_writer *w, int neg_errno, const char *what)
{
    return inmem__error(INMEM_EIO, "%s of checkpoint %s failed: %s", what, inmem__shown(w->tmp),
                        strerror(-neg_errno));
}

/* How much of the image may be under writeback at once (see wr_flush). */
#define WRITEBACK_WINDOW (4u << 20)

static int wr_flush(inmem__ckpt_writer *w, size_t upto)
{
    size_t done = 0;
    while (done < upto) {
        int64_t n = w->vfs->pwrite(w->fd, w->buf + done, upto - done, w->off + done);
        if (n <= 0)
            return wr_error(w, n < 0 ? (int)n : -EIO, "write");
        done += (size_t)n;
    }
    /* Paced writeback: start writing these bytes out now, and wait for what was written a
     * window ago. Left to the kernel, an image's hundreds of megabytes were flushed at once by
     * the final fsync, and the log's own small writebacks (a batched fsync, a committer's fault
     * on a page being written back) queued behind them in the device for up to ~60 ms. Advice
     * only: an I/O error shows at the fdatasync that installs the image. */
    (void)sync_file_range(w->fd, (off64_t)w->off, (off64_t)upto, SYNC_FILE_RANGE_WRITE);
    if (w->off >= WRITEBACK_WINDOW)
        (void)sync_file_range(w->fd, 0, (off64_t)(w->off - WRITEBACK_WINDOW + upto),
                              SYNC_FILE_RANGE_WAIT_BEFORE);
    memmove(w->buf, w->buf + upto, w->len - upto);
    w->len -= upto;
    w->block -= upto;
    w->off += upto;
    return 0;
}

static int wr_reserve(inmem__ckpt_writer *w, size_t more)
{
    if (w->len + more <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : WRITE_CHUNK + BLOCK_TARGET;
    while (cap < w->len + more)
        cap *= 2;
    uint8_t *p = realloc(w->buf, cap);
    if (!p)
        return INMEM_ENOMEM;
    w->buf = p;
    w->cap = cap;
    return 0;
}

/* Seals the block being filled (if it has entries) and writes out whole blocks past a chunk. */
static int wr_seal(inmem__ckpt_writer *w)
{
    if (w->block_entries) {
        uint8_t *h = w->buf + w->block;
        uint32_t len = (uint32_t)(w->len - w->block - BLOCK_HEAD);
        inmem__put32(h, len);
        inmem__put32(h + 4, w->block_entries);
        inmem__put32(h + 8, inmem__crc32c(0, h + BLOCK_HEAD, len));
        inmem__put32(h + 12, inmem__crc32c(0, h, 12));
        w->blocks++;
        w->payload += len;
        w->block = w->len;
        w->block_entries = 0;
    }
    return w->block >= WRITE_CHUNK ? wr_flush(w, w->block) : 0;
}

int inmem__ckpt_begin(const char *dir, uint64_t version, uint64_t txn_id, int file_mode,
                      const inmem__ckpt_history *hist, inmem__ckpt_writer **out)
{
    *out = NULL;
    inmem__ckpt_writer *w = calloc(1, sizeof(*w));
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        return INMEM_ENOMEM;
    }
    w->vfs = inmem__vfs_get();
    w->version = version;
    inmem__ckpt_path(dir, version, w->path, sizeof w->path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", w->path);
    (void)w->vfs->unlink(w->tmp); /* a leftover of an interrupted write */
    w->fd = w->vfs->open(w->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, file_mode);
    int rc = w->fd < 0 ? wr_error(w, w->fd, "create") : wr_reserve(w, HEADER_SIZE + BLOCK_HEAD);
    if (rc) {
        inmem__ckpt_abort(w);
        return rc;
    }
    uint8_t *h = w->buf;
    memset(h, 0, HEADER_SIZE);
    memcpy(h, MAGIC, 8);
    inmem__put32(h + 8, INMEM__CKPT_FORMAT);
    inmem__put32(h + 12, HEADER_SIZE);
    inmem__put64(h + 16, version);
    inmem__put64(h + 24, txn_id);
    inmem__put64(h + 32, inmem__clock_wall_ms());
    inmem__put32(h + 40, BLOCK_TARGET);
    if (hist) {
        inmem__put32(h + 44, hist->count);
        inmem__put64(h + 48, hist->ms);
        inmem__put64(h + 56, hist->since);
    }
    inmem__put32(h + 92, inmem__crc32c(0, h, 92));
    w->len = HEADER_SIZE;
    w->block = w->len;
    w->len += BLOCK_HEAD; /* the first block's header, filled when sealed */
    *out = w;
    return 0;
}

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

int inmem__ckpt_add(inmem__ckpt_writer *w, const inmem__ckpt_entry *e)
{
    const uint8_t *key = e->key;
    uint32_t klen = e->klen;
    int tomb = e->tomb;
    uint32_t vlen = tomb ? 0 : e->vlen;
    int first = !w->have_last || key_cmp(key, klen, w->last_key, w->last_klen) != 0;
    assert(first ? !w->have_last || key_cmp(key, klen, w->last_key, w->last_klen) > 0
                 : e->version < w->last_version);
    int rc;
    /* a block ends only before a key: a key's versions never straddle two blocks, so that a
     * salvage that skips a damaged block never gives versions to the wrong key */
    if (first && w->len - w->block - BLOCK_HEAD >= BLOCK_TARGET) {
        if ((rc = wr_seal(w)) != 0 || (rc = wr_reserve(w, BLOCK_HEAD)) != 0)
            return rc;
        w->len += BLOCK_HEAD; /* the next block's header */
    }
    size_t need = 1 + (first ? 10 + (size_t)klen : 0) + 20 + (tomb ? 0 : 20 + (size_t)vlen);
    if ((rc = wr_reserve(w, need + BLOCK_HEAD)) != 0)
        return rc;
    uint8_t *p = w->buf + w->len;
    *p++ = (uint8_t)((first ? F_FIRST : 0) | (tomb ? F_TOMB : 0) | (e->cut ? F_CUT : 0));
    if (first) {
        p += inmem__put_varint(p, klen);
        memcpy(p, key, klen);
        p += klen;
    }
    p += inmem__put_varint(p, e->version);
    p += inmem__put_varint(p, e->time_ms);
    if (!tomb) {
        p += inmem__put_varint(p, e->expiry_ms);
        p += inmem__put_varint(p, vlen);
        if (vlen)
            memcpy(p, e->val, vlen);
        p += vlen;
    }
    w->len = (size_t)(p - w->buf);
    w->block_entries++;
    w->versions++;
    if (first) {
        w->keys++;
        if (klen > w->last_cap) {
            uint8_t *k = realloc(w->last_key, klen);
            if (!k)
                return INMEM_ENOMEM;
            w->last_key = k;
            w->last_cap = klen;
        }
        memcpy(w->last_key, key, klen);
        w->last_klen = klen;
        w->have_last = 1;
    }
    w->last_version = e->version;
    return 0;
}

int inmem__ckpt_finish(inmem__ckpt_writer *w, uint64_t *bytes)
{
    int rc = wr_seal(w);
    if (rc == 0 && !w->block_entries) /* drop the empty block header opened last */
        w->len = w->block;
    if (rc == 0 && (rc = wr_reserve(w, TRAILER_SIZE)) == 0) {
        uint8_t *t = w->buf + w->len;
        memset(t, 0, TRAILER_SIZE);
        memcpy(t, END_MAGIC, 8);
        inmem__put64(t + 8, w->keys);
        inmem__put64(t + 16, w->versions);
        inmem__put64(t + 24, w->blocks);
        inmem__put64(t + 32, w->payload);
        inmem__put32(t + 44, inmem__crc32c(0, t, 44));
        w->len += TRAILER_SIZE;
        w->block = w->len;
        rc = wr_flush(w, w->len);
    }
    int err;
    if (rc == 0 && (err = w->vfs->sync(w->fd)) != 0)
        rc = wr_error(w, err, "fsync");
    if (rc == 0 && (err = w->vfs->rename(w->tmp, w->path)) != 0)
        rc = wr_error(w, err, "rename");
    if (rc == 0) {
        err = inmem__vfs_sync_dir(w->vfs, w->dir);
        /* The image stays: its bytes are synced, so whether or not its name survives a crash,
         * the directory recovers (the log is only truncated after a success). Removing it could
         * lose the only image of its version: one that replaced a damaged image of the same
         * version (a repair), whose log was truncated long ago. */
        if (err)
            rc = inmem__error(INMEM_EIO, "fsync of directory %s after a checkpoint failed: %s",
                              inmem__shown(w->dir), strerror(-err));
    }
    if (rc == 0 && bytes)
        *bytes = w->off;
    if (rc) {
        inmem__ckpt_abort(w);
        return rc;
    }
    w->vfs->close(w->fd);
    free(w->buf);
    free(w->last_key);
    free(w->dir);
    free(w);
    return 0;
}

void inmem__ckpt_abort(inmem__ckpt_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        w->vfs->close(w->fd);
        (void)w->vfs->unlink(w->tmp);
    }
    free(w->buf);
    free(w->last_key);
    free(w->dir);
    free(w);
}

/* ---- reading ------------------------------------------------------------------------------ */

/* A second thread checks the blocks' checksums of a big image ahead of the one that loads it
 * (the checksum was a sixth to a quarter of a load, and an open has the machine to itself). It
 * goes through the blocks in order and publishes how far they check out; the loader hands on no
 * entry of a block before the block is checked, so what a load does with a damaged image is
 * unchanged. A block the thread has not reached yet (it started late, or the machine's other
 * core is busy) the loader checks itself, and says so, and the thread skips past what the loader
 * checked: neither ever waits for the other. Not in a salvage, which must find its way past damage
 * itself, nor on one CPU (inmem__cpus()), where the two would only take turns. */
#define CRC_AHEAD_MIN ((uint64_t)8 << 20) /* images smaller than this are checked inline */
/* The checking thread faults the mapping in ahead of itself in steps of this, with one
 * madvise(MADV_POPULATE_READ) each: a fault per 4 KiB page taken as it reads (fault-around maps
 * 16 at a time) cost it so much on this project's VMs that the loader overtook it and checked a
 * quarter of the blocks itself; populated ahead, the 14.5 MB image of W7 loads in 9.5-9.7 ms
 * (medians of 5 x 8 reopens) against 10.2-12.3 ms. The pages are the loader's too (one mapping). */
#define POPULATE_STEP ((uint64_t)4 << 20)

typedef struct crc_ahead {
    pthread_t thread;
    const uint8_t *p;
    uint64_t trailer;      /* where the blocks end */
    uint64_t populated;    /* the mapping's pages below this are faulted in */
    _Atomic uint64_t upto; /* the blocks before this offset check out (raised by either thread) */
    _Atomic int stop;      /* the loader's: give up */
} crc_ahead;

static _Atomic int stall_checker; /* tests: the checking thread checks nothing */

void inmem__ckpt_stall_checker(int on)
{
    atomic_store_explicit(&stall_checker, on, memory_order_relaxed);
}

typedef struct reader {
    const char *path;
    const uint8_t *p;
    uint64_t size;
    inmem__ckpt_fn fn;
    void *ctx;
    inmem__ckpt_info *info;
    crc_ahead *ahead;        /* the thread checking checksums ahead, if any */
    const uint8_t *last_key; /* previous key (in the mapping) */
    uint32_t last_klen;
    uint64_t last_version;
    int have_last;
} reader;

static int corrupt(const reader *r, uint64_t off, const char *why)
{
    return inmem__error(INMEM_ECORRUPT, "checkpoint %s is corrupt at offset %llu (%s)",
                        inmem__shown(r->path), (unsigned long long)off, why);
}

/* Decodes the entries of one block whose checksums are right, checking each, and hands them to
 * r->fn as it goes (with r->fn NULL, only checks them). *keys: the keys the block starts. */
static int read_block(reader *r, uint64_t at, const uint8_t *q, const uint8_t *end, uint32_t count,
                      uint64_t *keys)
{
    *keys = 0;
    for (uint32_t i = 0; i < count; i++) {
        inmem__ckpt_entry e = {0};
        if (q >= end)
            return corrupt(r, at, "fewer entries than its header says");
        uint8_t flags = *q++;
        uint64_t x;
        if (flags & ~(F_FIRST | F_TOMB | F_CUT))
            return corrupt(r, at, "unknown entry flags");
        e.first = (flags & F_FIRST) != 0;
        e.tomb = (flags & F_TOMB) != 0;
        e.cut = (flags & F_CUT) != 0;
        if (i == 0 && !e.first)
            return corrupt(r, at, "a block that does not start with a key");
        if (e.first) {
            if (!inmem__get_varint(&q, end, &x) || x < INMEM__KEY_PREFIX || x > (uint64_t)(end - q))
                return corrupt(r, at, "bad key length");
            e.key = q;
            e.klen = (uint32_t)x;
            q += x;
            if (r->have_last && key_cmp(e.key, e.klen, r->last_key, r->last_klen) <= 0)
                return corrupt(r, at, "keys out of order");
            r->last_key = e.key;
            r->last_klen = e.klen;
            r->have_last = 1;
            ++*keys;
        } else {
            if (!r->have_last)
                return corrupt(r, at, "a version without its key");
            e.key = r->last_key;
            e.klen = r->last_klen;
        }
        if (!inmem__get_varint(&q, end, &e.version) || e.version == 0 ||
            e.version > r->info->version || !inmem__get_varint(&q, end, &e.time_ms))
            return corrupt(r, at, "bad version");
        if (!e.first && e.version >= r->last_version)
            return corrupt(r, at, "versions of a key out of order");
        r->last_version = e.version;
        if (!e.tomb) {
            if (!inmem__get_varint(&q, end, &e.expiry_ms) || !inmem__get_varint(&q, end, &x) ||
                x > (uint64_t)(end - q) || x > UINT32_MAX)
                return corrupt(r, at, "bad value length");
            e.val = q;
            e.vlen = (uint32_t)x;
            q += x;
        }
        int rc = r->fn ? r->fn(r->ctx, &e) : 0;
        if (rc)
            return rc;
    }
    return q == end ? 0 : corrupt(r, at, "bytes after its last entry");
}

/* 1 if a block header that checks out starts at @p off. */
static int block_head_ok(const reader *r, uint64_t off, uint32_t *len, uint32_t *count)
{
    if (off + BLOCK_HEAD > r->size)
        return 0;
    const uint8_t *h = r->p + off;
    if (inmem__get32(h + 12) != inmem__crc32c(0, h, 12))
        return 0;
    *len = inmem__get32(h);
    *count = inmem__get32(h + 4);
    return *len > 0 && *len <= (1u << 31) && *len <= r->size - off - BLOCK_HEAD && *count > 0;
}

/* Raises upto to @p to (block ends only: every block before it checks out), never lowers it. */
static void upto_raise(crc_ahead *a, uint64_t to)
{
    uint64_t cur = atomic_load_explicit(&a->upto, memory_order_relaxed);
    while (cur < to && !atomic_compare_exchange_weak_explicit(
                           &a->upto, &cur, to, memory_order_release, memory_order_relaxed))
        ;
}

static void *crc_ahead_main(void *arg)
{
    crc_ahead *a = arg;
    uint64_t off = HEADER_SIZE;
    while (atomic_load_explicit(&stall_checker, memory_order_relaxed) &&
           !atomic_load_explicit(&a->stop, memory_order_relaxed))
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    while (off < a->trailer && !atomic_load_explicit(&a->stop, memory_order_relaxed)) {
        uint64_t u = atomic_load_explicit(&a->upto, memory_order_acquire);
        if (u > off) { /* the loader checked these blocks itself */
            off = u;
            continue;
        }
#ifdef MADV_POPULATE_READ
        if (off >= a->populated) { /* (advice: a kernel without it changes nothing) */
            /* from here: what the loader overtook it on is in memory already */
            uint64_t from = off & ~(uint64_t)4095, n = POPULATE_STEP;
            if (n > a->trailer - from)
                n = a->trailer - from;
            (void)madvise((void *)(uintptr_t)(a->p + from), (size_t)n, MADV_POPULATE_READ);
            a->populated = from + n;
        }
#endif
        const uint8_t *h = a->p + off;
        if (off + BLOCK_HEAD > a->trailer || inmem__get32(h + 12) != inmem__crc32c(0, h, 12))
            break;
        uint32_t len = inmem__get32(h);
        if (len == 0 || len > a->trailer - off - BLOCK_HEAD ||
            inmem__get32(h + 8) != inmem__crc32c(0, h + BLOCK_HEAD, len))
            break;
        off += BLOCK_HEAD + len;
        upto_raise(a, off);
    }
    return NULL;
}

/* Whether block payload @p payload (@p len bytes, ending at offset @p end, stored checksum
 * @p sum) checks out: as the checking thread found, if it got there; else checked here. (A block
 * the thread found damaged it never passes: the loader checks it itself and finds the same.) */
static int crc_ahead_ok(crc_ahead *a, const uint8_t *payload, uint32_t len, uint32_t sum,
                        uint64_t end)
{
    if (atomic_load_explicit(&a->upto, memory_order_acquire) >= end)
        return 1;
    if (inmem__crc32c(0, payload, len) != sum)
        return 0;
    upto_raise(a, end);
    return 1;
}

static int read_image(reader *r, int salvage)
{
    inmem__ckpt_info *info = r->info;
    const uint8_t *h = r->p;
    if (r->size < HEADER_SIZE + TRAILER_SIZE || memcmp(h, MAGIC, 8) != 0)
        return corrupt(r, 0, "not a checkpoint image, or cut short");
    uint32_t hs = inmem__get32(h + 12); /* the checksum ends the header, whatever its size */
    if (hs < 64 || hs > r->size - TRAILER_SIZE || hs % 4 ||
        inmem__get32(h + hs - 4) != inmem__crc32c(0, h, hs - 4))
        return corrupt(r, 0, "header checksum mismatch");
    if (inmem__get32(h + 8) != INMEM__CKPT_FORMAT || inmem__get32(h + 12) != HEADER_SIZE)
        return inmem__error(INMEM_EVERSION, "checkpoint %s has format %u (this library reads %u)",
                            inmem__shown(r->path), inmem__get32(h + 8), INMEM__CKPT_FORMAT);
    info->version = inmem__get64(h + 16);
    /* the version counter goes on from V: an image that claims a version no database reaches
     * would have the next commits wrap it, numbered below the versions they replace */
    if (info->version >= INMEM__VERSION_LIMIT)
        return corrupt(r, 16, "a version no database reaches");
    info->txn_id = inmem__get64(h + 24);
    info->created_ms = inmem__get64(h + 32);
    info->hist.count = inmem__get32(h + 44);
    info->hist.ms = inmem__get64(h + 48);
    info->hist.since = inmem__get64(h + 56);
    uint64_t off = HEADER_SIZE, trailer = r->size - TRAILER_SIZE;
    const uint8_t *t = r->p + trailer;
    int trailer_ok =
        memcmp(t, END_MAGIC, 8) == 0 && inmem__get32(t + 44) == inmem__crc32c(0, t, 44);
    if (!trailer_ok && !salvage)
        return corrupt(r, trailer, "no valid trailer: the image is incomplete");
    /* A hint that sizes the loader's tables before any key is read, so it is checked first: no
     * more keys than versions, nor than the file can hold (MIN_KEY_ENTRY each), whatever the
     * trailer claims — a count forged or damaged under a valid checksum reserves no more memory
     * than an image of this size could need. */
    if (trailer_ok) {
        uint64_t k = inmem__get64(t + 8), most = (trailer - HEADER_SIZE) / MIN_KEY_ENTRY;
        if (k > inmem__get64(t + 16))
            k = inmem__get64(t + 16);
        info->keys_expected = k < most ? k : most;
    }
    while (off < trailer) {
        uint32_t len, count;
        /* the head and payload end by the trailer (tested first: trailer - off - BLOCK_HEAD
         * wraps around for a head that runs into it, as the checksum thread finds too) */
        int ok = off + BLOCK_HEAD <= trailer && block_head_ok(r, off, &len, &count) &&
                 len <= trailer - off - BLOCK_HEAD;
        const uint8_t *payload = r->p + off + BLOCK_HEAD;
        uint32_t sum = ok ? inmem__get32(r->p + off + 8) : 0;
        if (ok && (r->ahead ? !crc_ahead_ok(r->ahead, payload, len, sum, off + BLOCK_HEAD + len)
                            : sum != inmem__crc32c(0, payload, len)))
            ok = 0;
        if (ok) {
            uint64_t keys;
            int rc = 0;
            if (salvage) {
                /* A block can pass its checksums and still not parse (written by a bug, or made
                 * to pass them): a salvage skips it whole, so it checks the whole block before
                 * handing on any entry of it. Entries loaded before the bad one would stay in
                 * the database: versions of a key that a later block holds again (a key twice
                 * in the index), and keys counted as loaded. */
                reader check = *r;
                check.fn = NULL;
                rc = read_block(&check, off, payload, payload + len, count, &keys);
                ok = rc == 0;
                if (rc != 0 && rc != INMEM_ECORRUPT)
                    return rc;
            }
            if (ok) {
                if ((rc = read_block(r, off, payload, payload + len, count, &keys)) != 0)
                    return rc; /* (never a salvage's ECORRUPT: checked above) */
                info->keys += keys;
                info->versions += count;
                info->blocks++;
                info->bytes += len;
                off += BLOCK_HEAD + len;
                continue;
            }
        }
        if (!salvage)
            return corrupt(r, off, "block checksum mismatch or bad block header");
        /* salvage: skip to the next block header that checks out */
        if (!info->bad_blocks)
            info->bad_offset = off;
        info->bad_blocks++;
        uint64_t next = off + 1;
        while (next < trailer && !block_head_ok(r, next, &len, &count))
            next++;
        info->bad_bytes += next - off;
        off = next;
    }
    if (!trailer_ok) {
        /* the trailer held the only key count: how many keys the lost part held is unknown
         * (nothing else records it), which is never "none" */
        info->bad_bytes += TRAILER_SIZE;
        info->keys_lost = INMEM_COUNT_UNKNOWN;
        return 0;
    }
    uint64_t keys = inmem__get64(t + 8), versions = inmem__get64(t + 16);
    if (info->bad_blocks) {
        info->keys_lost = keys > info->keys ? keys - info->keys : 0;
        return 0;
    }
    if (keys != info->keys || versions != info->versions || inmem__get64(t + 24) != info->blocks ||
        inmem__get64(t + 32) != info->bytes)
        return corrupt(r, trailer, "the trailer's counts do not match the blocks");
    return 0;
}

int inmem__ckpt_load(const char *path, int salvage, inmem__ckpt_fn fn, void *ctx,
                     inmem__ckpt_info *info)
{
    memset(info, 0, sizeof(*info));
    const inmem__vfs *vfs = inmem__vfs_get();
    int fd = vfs->open(path, O_RDONLY | O_NOFOLLOW, 0);
    if (fd < 0)
        return inmem__error(INMEM_EIO, "cannot open checkpoint %s: %s", inmem__shown(path),
                            strerror(-fd));
    uint64_t size = 0;
    void *map = NULL;
    int rc = vfs->size(fd, &size);
    if (rc == 0 && size > 0)
        rc = vfs->map(fd, size, 0, &map);
    if (rc) {
        vfs->close(fd);
        return inmem__error(INMEM_EIO, "cannot map checkpoint %s: %s", inmem__shown(path),
                            strerror(-rc));
    }
    reader r = {.path = path, .p = map, .size = size, .fn = fn, .ctx = ctx, .info = info};
    info->file_bytes = size;
    crc_ahead ahead = {.p = map, .trailer = size > TRAILER_SIZE ? size - TRAILER_SIZE : 0};
    if (map && !salvage && size >= CRC_AHEAD_MIN && inmem__cpus() >= 2) {
        atomic_init(&ahead.upto, 0);
        atomic_init(&ahead.stop, 0);
        if (inmem__thread_start(&ahead.thread, crc_ahead_main, &ahead) == 0)
            r.ahead = &ahead; /* (else checked inline) */
    }
    rc = map ? read_image(&r, salvage) : corrupt(&r, 0, "empty file");
    if (r.ahead) {
        atomic_store_explicit(&ahead.stop, 1, memory_order_relaxed);
        pthread_join(ahead.thread, NULL);
    }
    if (map)
        vfs->unmap(map, size);
    vfs->close(fd);
    return rc;
}

struct list_ctx {
    const char *dir;
    int remove_tmp;
    uint64_t *v;
    size_t n, cap;
    int nomem;
};

static int list_one(void *ctx, const char *name)
{
    struct list_ctx *l = ctx;
    uint64_t v;
    if ((parse_name(name, ".img.tmp", &v) || parse_name(name, ".img.dropped.tmp", &v)) &&
        l->remove_tmp) { /* (the second: a repaired image's copy, cut short by a crash) */
        char path[PATH_CAP];
        snprintf(path, sizeof path, "%s/%s", l->dir, name);
        (void)inmem__vfs_get()->unlink(path);
        return 0;
    }
    if (!parse_name(name, ".img", &v))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        uint64_t *p = realloc(l->v, cap * sizeof(*p));
        if (!p) {
            l->nomem = 1;
            return 1;
        }
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int inmem__ckpt_list(const char *dir, int remove_tmp, uint64_t **out, size_t *n)
{
    struct list_ctx l = {dir, remove_tmp, NULL, 0, 0, 0};
    int rc = inmem__vfs_get()->list(dir, list_one, &l);
    if (l.nomem || rc < 0) {
        free(l.v);
        *out = NULL;
        *n = 0;
        return l.nomem ? INMEM_ENOMEM
                       : inmem__error(INMEM_EIO, "cannot list %s: %s", inmem__shown(dir),
                                      strerror(-rc));
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof(uint64_t), cmp_u64);
    *out = l.v;
    *n = l.n;
    return 0;
}
