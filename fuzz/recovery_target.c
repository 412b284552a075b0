/*
 * recovery_target.c — the body of the log fuzz target, shared by the libFuzzer driver
 * (fuzz_recovery.c, `make fuzz`) and the test suite, which replays the corpus in fuzz/corpus
 * as ordinary tests (tests/test_fuzz.c).
 *
 * The input is the body of a log segment (everything after the 40-byte header). It is fed to
 * the frame decoder directly, then written behind a valid header into a fresh database
 * directory and opened: recovery must return 0 or a clean error, never crash, leak or read out of
 * bounds, and an open that succeeds must give a database that works. The first input byte
 * chooses whether the open asks for repair (bit 0) and whether the checksum of every frame is
 * fixed up first (bit 1), so that the fuzzer also explores payloads that pass the checksum.
 * A repair must always succeed (one segment behind a valid header can always be cut), and the
 * repaired log must then open without repair with nothing left to cut. The corpus entries
 * repair-* start with a skipped record of odd length, so that they exercise the repair path.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "fuzz/recovery_target.h"
#include "tests/fsutil.h"
#include "inmem.h"
#include "wal/codec.h"

/* Rewrites the checksum of each frame whose declared length fits in the buffer. */
static void fix_checksums(uint8_t *p, size_t size)
{
    size_t off = 0;
    while (off + INMEM__WAL_FRAME <= size) {
        uint32_t len = inmem__get32(p + off);
        if (len == 0 && p[off + 4] == 0)
            break;
        if ((uint64_t)len > size - off - INMEM__WAL_FRAME)
            break;
        inmem__put32(p + off + 5 + len, inmem__crc32c(0, p + off, 5 + (size_t)len));
        off += INMEM__WAL_FRAME + len;
    }
}

int inmem_fuzz_recovery(const uint8_t *input, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return -1;
    if (size)
        memcpy(copy, input, size);
    if (size > 0 && (input[0] & 2))
        fix_checksums(copy, size);
    const uint8_t *data = copy;
    /* 1. the decoder on its own, frame by frame */
    size_t off = 0;
    while (off < size) {
        inmem__wal_rec rec;
        if (inmem__wal_decode(data + off, size - off, &rec) != INMEM__DEC_OK)
            break;
        off += INMEM__WAL_FRAME + rec.len;
    }

    /* 2. recovery of a segment holding the input */
    char dir[64];
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/inmem-fuzz-XXXXXX", base);
    if (!mkdtemp(dir)) {
        free(copy);
        return -1;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/wal-%016llx.log", dir, 1ull);
    uint64_t seg = INMEM__WAL_HEADER + size + 4096;
    uint8_t hdr[INMEM__WAL_HEADER];
    inmem__wal_enc_header(hdr, 1, seg);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int ok = fd >= 0 && write(fd, hdr, sizeof hdr) == (ssize_t)sizeof hdr &&
             (size == 0 || write(fd, data, size) == (ssize_t)size) &&
             ftruncate(fd, (off_t)seg) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok) {
        inmem_rm_tree(dir);
        free(copy);
        return -1;
    }
    inmem_options o;
    inmem_options_init(&o);
    o.wal_segment_size = 64u << 10;
    o.durability = INMEM_DURABILITY_STRICT; /* no background threads: more runs per second */
    o.ttl_sweep_interval_ms = 0;
    o.repair = size > 0 && (data[0] & 1);
    inmem_db *db = NULL;
    int rc = inmem_db_open(dir, &o, &db);
    if (rc == 0) {
        /* a database that opened must work: a write and a read of it */
        uint64_t v = 0;
        void *val = NULL;
        if (inmem_put(db, NULL, "fuzz", 4, "ok", 2, &v) != 0 ||
            inmem_get(db, NULL, "fuzz", 4, &val, NULL, NULL) != 0)
            abort();
        inmem_free(val);
        inmem_db_close(db);
        if (o.repair) {
            /* a repaired log is whole: it opens without repair, with nothing left to cut */
            o.repair = 0;
            inmem_recovery_info rec;
            if (inmem_db_open(dir, &o, &db) != 0 || inmem_db_recovery(db, &rec) != 0 ||
                rec.torn_tail || rec.repaired)
                abort();
            inmem_db_close(db);
        }
    } else if (o.repair && rc != INMEM_ENOMEM) {
        abort(); /* a single segment behind a valid header can always be repaired */
    } else if (rc != INMEM_ECORRUPT && rc != INMEM_EVERSION && rc != INMEM_ENOMEM) {
        abort(); /* anything else means recovery mishandled its input */
    }
    inmem_rm_tree(dir);
    free(copy);
    return 0;
}
