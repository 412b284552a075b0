/*
 * image_target.c — the body of the checkpoint image fuzz target, shared by the libFuzzer driver
 * (fuzz_image.c, `make fuzz`) and the test suite, which replays the corpus in fuzz/corpus-image
 * as ordinary tests (tests/test_fuzz_image.c).
 *
 * The input is one option byte, then the bytes of a checkpoint image (docs/FORMAT.md,
 * "Checkpoint images"). The image is written as ckpt-<V>.img into a fresh database directory —
 * V is the version its header gives (bytes 16-23), or 8 — and the directory is opened: the open
 * must return 0 or a clean error (INMEM_ECORRUPT, INMEM_EVERSION), never crash, hang, leak or
 * read out of bounds; a plain open that fails changes no byte of the image; an open that
 * succeeds gives a database that works (reads, a scan, a write, a checkpoint of what it loaded,
 * a close) and reopens without repair to the same state, with nothing left to repair or fall
 * back from. The option byte:
 *   bit 0     the open asks for repair (a salvage of the image's intact blocks)
 *   bit 1     the checksums are fixed up first (the header's, every block's whose length fits,
 *             the trailer's), so that the fuzzer explores what lies past them
 *   bit 2     the trailer's counts are fixed up too (keys, versions, blocks, payload bytes)
 *   bits 3-4  what else the directory holds: 0 nothing (a backup's directory: the log begins on
 *             the image); 1 the log of commits 1-8 from segment 1 (a damaged image falls back to
 *             none); 2 an image of version 4 and the log of commits 5-8 (it falls back to that
 *             image); 3 as 1, with a log that ends at a clean close
 *   bit 5     a read-only open first, with the same repair option: it must agree with the
 *             writable open and change no byte of the image
 *   bit 6     the open asks for history retention (history_versions 3)
 *   bit 7     V is 8 whatever the header says
 * The directories of bits 3-4 are made once per process by the library itself (the same eight
 * commits each time: puts, an overwrite, deletes) and copied for every input.
 *
 * The seed corpus (fuzz/corpus-image) holds images the library wrote of that workload and of a
 * few others, small: at version 8 and 4, with retained history (several versions a key, a
 * tombstone), with no keys, with a TTL, and with other primitives' records.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/crc32c.h"
#include "fuzz/image_target.h"
#include "tests/fsutil.h"
#include "inmem.h"

#define HEADER  96u
#define BLOCK   16u
#define TRAILER 48u

#define OPT_REPAIR  0x01
#define OPT_FIX_CRC 0x02
#define OPT_FIX_CNT 0x04
#define OPT_DIR(o)  (((o) >> 3) & 3)
#define OPT_RDONLY  0x20
#define OPT_HISTORY 0x40
#define OPT_FIXED_V 0x80
#define DEFAULT_V   8u

/* ---- fixing up an input so that it passes the checks it would rarely pass by chance ---- */

/* The keys the entries of a block's payload start (stops at the first entry that does not parse:
 * the reader rejects the block anyway). */
static uint64_t block_keys(const uint8_t *q, const uint8_t *end, uint32_t count)
{
    uint64_t keys = 0, x;
    for (uint32_t i = 0; i < count && q < end; i++) {
        uint8_t flags = *q++;
        if (flags & 1) {
            if (!inmem__get_varint(&q, end, &x) || x > (uint64_t)(end - q))
                break;
            q += x;
            keys++;
        }
        if (!inmem__get_varint(&q, end, &x) || !inmem__get_varint(&q, end, &x))
            break;
        if (!(flags & 2)) {
            if (!inmem__get_varint(&q, end, &x) || !inmem__get_varint(&q, end, &x) ||
                x > (uint64_t)(end - q))
                break;
            q += x;
        }
    }
    return keys;
}

static void fix_image(uint8_t *p, size_t size, int counts)
{
    if (size < HEADER + TRAILER)
        return;
    uint32_t hs = inmem__get32(p + 12);
    if (hs < 64 || hs > size - TRAILER || hs % 4)
        hs = HEADER;
    inmem__put32(p + hs - 4, inmem__crc32c(0, p, hs - 4));
    size_t off = HEADER, trailer = size - TRAILER;
    uint64_t keys = 0, versions = 0, blocks = 0, payload = 0;
    while (off + BLOCK <= trailer) {
        uint32_t len = inmem__get32(p + off), count = inmem__get32(p + off + 4);
        if (len == 0 || len > trailer - off - BLOCK)
            break;
        inmem__put32(p + off + 8, inmem__crc32c(0, p + off + BLOCK, len));
        inmem__put32(p + off + 12, inmem__crc32c(0, p + off, 12));
        keys += block_keys(p + off + BLOCK, p + off + BLOCK + len, count);
        versions += count;
        blocks++;
        payload += len;
        off += BLOCK + len;
    }
    uint8_t *t = p + trailer;
    if (counts) {
        inmem__put64(t + 8, keys);
        inmem__put64(t + 16, versions);
        inmem__put64(t + 24, blocks);
        inmem__put64(t + 32, payload);
    }
    inmem__put32(t + 44, inmem__crc32c(0, t, 44));
}

/* ---- the template directories (bits 3-4), made once by the library ---- */

static char tmpl_root[64];
static char tmpl[4][96]; /* [0] unused: the image alone */

static void options(inmem_options *o)
{
    inmem_options_init(o);
    o->wal_segment_size = 64u << 10;
    o->durability = INMEM_DURABILITY_STRICT; /* no background threads: more runs per second */
    o->ttl_sweep_interval_ms = 0;
    o->checkpoint_log_ratio = 0;
}

/* Commits 1-8 (a checkpoint after 4 if @p image), then a clean close (without an image); with
 * @p history, by a database that keeps history (its policy stored in the log first). */
static int make_template(const char *dir, int image, int history)
{
    inmem_options o;
    options(&o);
    o.checkpoint_on_close = 0;
    if (history)
        o.history_versions = 3;
    inmem_db *db = NULL;
    if (inmem_db_open(dir, &o, &db) != 0)
        return -1;
    int rc = inmem_put(db, NULL, "a", 1, "1", 1, NULL);
    rc = rc ? rc : inmem_put(db, NULL, "b", 1, "2", 1, NULL);
    rc = rc ? rc : inmem_put(db, NULL, "c", 1, "3", 1, NULL);
    rc = rc ? rc : inmem_delete(db, NULL, "b", 1, NULL);
    rc = rc || !image ? rc : inmem_db_checkpoint(db, NULL);
    rc = rc ? rc : inmem_put(db, NULL, "a", 1, "5", 1, NULL);
    rc = rc ? rc : inmem_put(db, NULL, "d", 1, "6", 1, NULL);
    rc = rc ? rc : inmem_delete(db, NULL, "c", 1, NULL);
    rc = rc ? rc : inmem_put(db, NULL, "e", 1, "8", 1, NULL);
    return inmem_db_close(db) != 0 || rc ? -1 : 0;
}

void inmem_fuzz_image_cleanup(void)
{
    if (tmpl_root[0])
        inmem_rm_tree(tmpl_root);
    tmpl_root[0] = '\0';
}

static const char *tmp_base(void)
{
    return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

static int make_templates(void)
{
    if (tmpl_root[0])
        return 0;
    snprintf(tmpl_root, sizeof tmpl_root, "%s/inmem-fuzzimg-XXXXXX", tmp_base());
    if (!mkdtemp(tmpl_root)) {
        tmpl_root[0] = '\0';
        return -1;
    }
    atexit(inmem_fuzz_image_cleanup);
    for (int i = 1; i < 4; i++) {
        snprintf(tmpl[i], sizeof tmpl[i], "%s/t%d", tmpl_root, i);
        if (make_template(tmpl[i], i == 2, i == 3) != 0) {
            inmem_fuzz_image_cleanup();
            return -1;
        }
    }
    return 0;
}

/* ---- files ---- */

static int write_file(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    int ok = n == 0 || write(fd, p, n) == (ssize_t)n;
    close(fd);
    return ok ? 0 : -1;
}

/* The whole of @p path (malloc'd, *n its size), or NULL. */
static uint8_t *read_file(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    uint8_t *p = NULL;
    if (fstat(fd, &st) == 0 && (p = malloc((size_t)st.st_size + 1)) != NULL &&
        read(fd, p, (size_t)st.st_size) != (ssize_t)st.st_size) {
        free(p);
        p = NULL;
    }
    close(fd);
    if (p)
        *n = (size_t)st.st_size;
    return p;
}

static int copy_dir(const char *from, const char *to)
{
    DIR *d = opendir(from);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "LOCK") == 0)
            continue;
        char a[512], b[512];
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        size_t n;
        uint8_t *p = read_file(a, &n);
        rc = p && write_file(b, p, n) == 0 ? 0 : -1;
        free(p);
    }
    closedir(d);
    return rc;
}

/* 1 if @p path holds exactly the @p n bytes at @p p. */
static int same_file(const char *path, const uint8_t *p, size_t n)
{
    size_t m;
    uint8_t *q = read_file(path, &m);
    int same = q && m == n && (n == 0 || memcmp(p, q, n) == 0);
    free(q);
    return same;
}

/* ---- the checks ---- */

static int clean_error(int rc)
{
    return rc == INMEM_ECORRUPT || rc == INMEM_EVERSION || rc == INMEM_ENOMEM;
}

/* The visible KV keys of the shared scope (at @p version if not 0, which may not be there any
 * more: then -1). Aborts on any other failure. */
static long scan(inmem_db *db, uint64_t version)
{
    inmem_txn *t = NULL;
    int rc = version ? inmem_txn_begin_at(db, version, &t) : inmem_txn_begin_readonly(db, &t);
    if (rc == INMEM_EHISTORY)
        return -1;
    if (rc)
        abort();
    inmem_iter *it = NULL;
    if (inmem_kv_scan(t, NULL, NULL, 0, NULL, 0, &it) != 0)
        abort();
    const void *k, *v;
    size_t kl, vl;
    uint64_t ver;
    long n = 0;
    while ((rc = inmem_iter_next(it, &k, &kl, &v, &vl, &ver)) == 0) {
        if (ver == 0 || (version && ver > version))
            abort();
        n++;
    }
    if (rc != INMEM_NOTFOUND && !(version && rc == INMEM_EHISTORY))
        abort();
    inmem_iter_free(it);
    inmem_txn_free(t);
    return rc == INMEM_EHISTORY ? -1 : n;
}

/* What a database that opened must do; *keys the visible KV keys, *version its newest commit. */
static void exercise(inmem_db *db, int writable, long *keys, uint64_t *version)
{
    inmem_stats s;
    if (inmem_db_stats(db, &s) != 0)
        abort();
    void *val = NULL;
    int rc = inmem_get(db, NULL, "a", 1, &val, NULL, NULL);
    if (rc != 0 && rc != INMEM_NOTFOUND)
        abort();
    inmem_free(val);
    *keys = scan(db, 0);
    if (s.version > 1)
        (void)scan(db, s.version / 2); /* the past, as far as history reaches */
    *version = s.version;
    /* (an image just below the versions images are held to, 2^63, opens, and its commits would
     * pass them: a database is never near them — centuries of commits — so none is made) */
    if (!writable || s.version >= (uint64_t)1 << 62)
        return;
    uint64_t v = 0;
    val = NULL;
    size_t vlen = 0;
    if (inmem_put(db, NULL, "fuzz", 4, "ok", 2, &v) != 0 || v != s.version + 1 ||
        inmem_get(db, NULL, "fuzz", 4, &val, &vlen, NULL) != 0 || vlen != 2 ||
        memcmp(val, "ok", 2) != 0)
        abort();
    inmem_free(val);
    /* what the open loaded is written out again as an image */
    if (inmem_db_checkpoint(db, &v) != 0 || v != s.version + 1)
        abort();
    *keys = scan(db, 0);
    *version = v;
}

int inmem_fuzz_image(const uint8_t *input, size_t size)
{
    if (make_templates() != 0)
        return -1;
    uint8_t opt = size ? input[0] : 0;
    size_t n = size ? size - 1 : 0;
    uint8_t *img = malloc(n ? n : 1);
    if (!img)
        return -1;
    if (n)
        memcpy(img, input + 1, n);
    if (opt & (OPT_FIX_CRC | OPT_FIX_CNT))
        fix_image(img, n, (opt & OPT_FIX_CNT) != 0);
    uint64_t v = !(opt & OPT_FIXED_V) && n >= 24 ? inmem__get64(img + 16) : DEFAULT_V;

    char dir[64], path[160];
    snprintf(dir, sizeof dir, "%s/inmem-fuzzimg-XXXXXX", tmp_base());
    if (!mkdtemp(dir)) {
        free(img);
        return -1;
    }
    snprintf(path, sizeof path, "%s/ckpt-%016llx.img", dir, (unsigned long long)v);
    if ((OPT_DIR(opt) && copy_dir(tmpl[OPT_DIR(opt)], dir) != 0) || write_file(path, img, n)) {
        inmem_rm_tree(dir);
        free(img);
        return -1;
    }

    inmem_options o;
    options(&o);
    o.repair = (opt & OPT_REPAIR) != 0;
    if (opt & OPT_HISTORY)
        o.history_versions = 3;
    inmem_db *db = NULL;
    long keys = 0;
    uint64_t version = 0;
    int rc_ro = 0;
    if (opt & OPT_RDONLY) {
        o.read_only = 1;
        rc_ro = inmem_db_open(dir, &o, &db);
        if (rc_ro == 0) {
            exercise(db, 0, &keys, &version);
            if (inmem_db_close(db) != 0)
                abort();
        } else if (!clean_error(rc_ro)) {
            abort();
        }
        if (!same_file(path, img, n))
            abort(); /* a read-only open changes no file */
        o.read_only = 0;
    }

    int rc = inmem_db_open(dir, &o, &db);
    if ((opt & OPT_RDONLY) && rc != rc_ro && rc != INMEM_ENOMEM && rc_ro != INMEM_ENOMEM)
        abort(); /* a read-only open judges the directory as a writable one does */
    if (rc == 0) {
        exercise(db, 1, &keys, &version);
        if (inmem_db_close(db) != 0)
            abort();
        /* what the open made of the directory (a fallback, a salvage) and the checkpoint after
         * it leave a database that opens plainly, to the same state */
        o.repair = 0;
        inmem_recovery_info rec;
        if (inmem_db_open(dir, &o, &db) != 0 || inmem_db_recovery(db, &rec) != 0 || rec.repaired ||
            rec.checkpoint_fallback || rec.torn_tail)
            abort();
        long keys2;
        uint64_t version2;
        exercise(db, 0, &keys2, &version2);
        if (keys2 != keys || version2 != version)
            abort();
        if (inmem_db_close(db) != 0)
            abort();
    } else if (!clean_error(rc)) {
        abort(); /* anything else means the open mishandled its input */
    } else if (!same_file(path, img, n)) {
        abort(); /* an open that fails changes nothing */
    }
    inmem_rm_tree(dir);
    free(img);
    return 0;
}
