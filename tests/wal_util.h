/*
 * wal_util.h — helpers shared by the log's tests (test_codec.c, test_log.c, test_recovery.c):
 * opening databases with small segments, reading keys back, dumping state, and reading, writing
 * and decoding segment files by hand.
 */
#ifndef INMEM_TESTS_WAL_UTIL_H
#define INMEM_TESTS_WAL_UTIL_H

#include "test.h"

#include "core/crc32c.h"
#include "core/key.h"
#include "core/vfs.h"
#include "wal/codec.h"

#define SEG_SIZE     (64u << 10)
#define BEGIN_FRAME  (INMEM__WAL_FRAME + INMEM__WAL_BEGIN_LEN)
#define COMMIT_FRAME (INMEM__WAL_FRAME + INMEM__WAL_COMMIT_LEN)
#define CLOSE_FRAME  (INMEM__WAL_FRAME + INMEM__WAL_CLOSE_LEN)
#define NEXT_FRAME   (INMEM__WAL_FRAME + INMEM__WAL_NEXT_LEN)
#define SEG1         "wal-0000000000000001.log"
/* A log position as BEGIN records of format 1 note one (informational: recovery ignores it). */
#define TEST_LSN(seq, off) (((uint64_t)(seq) << 40) | (uint64_t)(off))

/* fail_msg() unless @p cond, with a formatted explanation (e.g. the offset being tried). */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg(__VA_ARGS__);                                                                 \
    } while (0)

/* A dump of every visible key/value/version under a prefix, read in one fresh transaction. */
typedef struct dump {
    uint8_t *p;
    size_t len, cap, keys;
} dump;

/* One decoded frame of a segment image. */
typedef struct frame {
    size_t off, size;
    inmem__wal_rec rec;
} frame;

/* The all-zero run id (the shared scope) as 16 bytes. */
extern const uint8_t zero_run[16];

/* inmem_options_init() without checkpoints (automatic or at close). */
void log_options_init(inmem_options *o);
/* Opens @p dir with 64 KiB segments and 64 KiB keys in @p mode (repair as asked), without
 * checkpoints (automatic or at close): the log's tests look at the log. */
int try_open(const char *dir, inmem_durability mode, int repair, inmem_db **out);
inmem_db *open_db(const char *dir, inmem_durability mode);
inmem_recovery_info recovery_of(inmem_db *db);
uint64_t put_ok(inmem_db *db, const inmem_run_id *run, const char *key, const void *val,
                size_t vlen);
void expect_get(inmem_db *db, const inmem_run_id *run, const char *key, const void *val,
                size_t vlen, uint64_t version);
void expect_missing(inmem_db *db, const inmem_run_id *run, const char *key);
void dump_add(dump *d, const void *p, size_t n);
void dump_db(inmem_db *db, const inmem_run_id *run, const char *prefix, dump *d);
int dump_equal(const dump *a, const dump *b);
void dump_free(dump *d);
void seg_path(char *buf, size_t cap, const char *dir, uint64_t seq);
int file_exists(const char *path);
uint8_t *slurp(const char *path, size_t *len);
void spit(const char *path, const void *p, size_t len);
void expect_file(const char *path, const uint8_t *p, size_t len);
uint64_t count_segments(const char *dir);
/* The number of the segment @p db appends to (a segment's file can exist before: the next one
 * is made ahead of its switch). */
uint64_t current_segment(inmem_db *db);
/* Copies every file of @p from (not its subdirectories' contents) into @p to. */
void copy_dir_files(const char *from, const char *to);
frame *walk_log(const uint8_t *p, size_t len, size_t *n, size_t *end);
uint64_t mark_bytes(const char *dir);
uint64_t log_bytes(const char *dir);
uint32_t kv_key(uint8_t *out, const char *user);
size_t enc_raw(uint8_t *p, uint8_t type, const void *payload, uint32_t len);
size_t enc_txn(uint8_t *p, uint64_t txn_id, uint64_t version, uint64_t synced_lsn, const char *user,
               const char *val);
uint64_t wall_ms(void);
uint8_t *two_txn_log(const char *dir, const char *path, size_t *len, size_t *close_off);
uint8_t *log_as_crashed(const char *path, size_t *len, size_t *end);
int mentions_number(const char *msg, uint64_t n);
/* The operations of a TXN frame as WRITE/DELETE records (up to @p cap); returns how many. */
size_t txn_ops(const inmem__wal_rec *txn, inmem__wal_rec *ops, size_t cap);
/* Dumps the shared scope and @p run (every key) into @p d. */
void dump_all(inmem_db *db, const inmem_run_id *run, dump *d);

#endif
