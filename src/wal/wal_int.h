/*
 * wal_int.h — the log's internals shared by its writer (wal.c) and recovery (recovery.c).
 */
#ifndef INMEM_WAL_WAL_INT_H
#define INMEM_WAL_WAL_INT_H

#include "core/vfs.h"
#include "wal/wal.h"

#define PATH_MAX_LEN 4096

/* A committer waiting in sync_to() for synced_lsn to pass its target (on its own stack). */
typedef struct inmem__wal_waiter {
    uint64_t target;
    _Atomic uint32_t woken; /* 0 until its syncer wakes it (a futex word) */
    int detached;           /* taken off the queue by a syncer that will set `woken` (sync_mu) */
    int expired;            /* its wait for a group timed out: it leads the next fsync */
    struct inmem__wal_waiter *next;
} inmem__wal_waiter;

struct inmem__wal {
    inmem__wal_config cfg;
    const inmem__vfs *vfs;
    char *dir;
    int lock_fd;
    /* the current segment: appenders only (W1), except fd/seq which syncers read under sync_mu
     * while `syncing` keeps them stable (W3) */
    int fd;
    uint64_t seq;
    /* The log position (LSN) of the current segment's byte 0. Positions count the bytes of the
     * segments appended to since the open, so that they only grow: written_lsn, synced_lsn and
     * a committer's target compare as plain numbers. (They held the segment's number shifted
     * past a 40-bit offset, which ran out at segment 2^24: every later position compared below
     * those already synced, and strict commits were acknowledged without an fsync.) */
    uint64_t lsn_base;
    uint8_t *map;
    /* Strict: the log buffer. Appenders encode frames into stage[stage_i], which holds the
     * segment's bytes from stage_off on (stage_len of them, stage_commits transactions); an
     * fsync's leader swaps the buffers and writes the full one with one pwrite before its
     * fdatasync (wal.c, "Strict mode's writes"). Under stage_mu, except the buffer the leader
     * took, which is its own until it clears `syncing`. */
    inmem__mutex stage_mu;
    uint8_t *stage[2];
    size_t stage_cap[2];
    unsigned stage_i;
    size_t stage_len;
    uint64_t stage_off;
    uint64_t stage_commits;
    uint64_t map_len;
    uint64_t off;
    uint64_t spare_at; /* appender: past this offset it asks for the spare (half the segment) */
    _Atomic uint64_t dirty_at; /* async: past this offset the appender has the syncer dirty more
                                * of the segment ahead of it (populate_some()) */
    uint64_t zap_off;   /* non-strict: the mapping below it is unmapped (zap_behind(); syncers) */
    uint32_t format;    /* the current segment's format (appends only go into INMEM__WAL_FORMAT) */
    uint64_t first_seq; /* the oldest segment on disk (inmem__wal_drop_before) */
    uint64_t txn_id;    /* last transaction id handed out */
    uint64_t version;   /* version of the last transaction appended */
    _Atomic uint64_t written_lsn;
    _Atomic uint64_t written_commits;
    _Atomic uint64_t since_kick;
    /* syncing */
    inmem__mutex sync_mu;
    pthread_cond_t sync_cv; /* an fsync or segment switch finished (segment switches wait) */
    inmem__wal_waiter *waiters INMEM_GUARDED_BY(sync_mu); /* committers in sync_to() */
    unsigned nwaiters INMEM_GUARDED_BY(sync_mu);
    unsigned group INMEM_GUARDED_BY(sync_mu);         /* committers the next fsync expects */
    int gathering INMEM_GUARDED_BY(sync_mu);          /* a waiter bounds the group's wait */
    uint64_t wait_timeouts INMEM_GUARDED_BY(sync_mu); /* waits ended by their timeout (tests) */
    uint64_t last_sync_ns INMEM_GUARDED_BY(sync_mu);  /* how long the last fdatasync took */
    uint64_t round_end_ns INMEM_GUARDED_BY(sync_mu);  /* when the last leader's fsync ended */
    unsigned round_served INMEM_GUARDED_BY(sync_mu);  /* committers it served, itself included */
    unsigned round_back INMEM_GUARDED_BY(sync_mu); /* commits arrived within last_sync_ns since */
    pthread_cond_t flush_cv;                       /* wakes the background syncer */
    int syncing INMEM_GUARDED_BY(sync_mu);
    int kick INMEM_GUARDED_BY(sync_mu);     /* wake the background thread now */
    int sync_due INMEM_GUARDED_BY(sync_mu); /* batched: sync_commits were reached */
    int stop INMEM_GUARDED_BY(sync_mu);
    int populate_pending INMEM_GUARDED_BY(sync_mu); /* prefault the current segment */
    uint64_t populate_off INMEM_GUARDED_BY(sync_mu);
    uint64_t dirty_win INMEM_GUARDED_BY(sync_mu);  /* async: how far ahead the syncer dirties */
    uint64_t dirty_mark INMEM_GUARDED_BY(sync_mu); /* async: `bytes` at the last fsync */
    uint64_t synced_commits_mark INMEM_GUARDED_BY(sync_mu);
    /* the next segment, made ahead of its switch by the background thread (wal.c, "Spare") */
    int spare_state INMEM_GUARDED_BY(sync_mu); /* SPARE_NONE, _WANTED, _MAKING or _READY */
    int spare_fd INMEM_GUARDED_BY(sync_mu);
    uint8_t *spare_map INMEM_GUARDED_BY(sync_mu);
    uint64_t spare_seq INMEM_GUARDED_BY(sync_mu);
    uint64_t spare_len INMEM_GUARDED_BY(sync_mu);
    _Atomic uint64_t synced_lsn; /* written under sync_mu */
    _Atomic int failed;          /* sticky error, written under sync_mu (W5) */
    pthread_t flusher;
    int has_flusher;
    /* counters */
    _Atomic uint64_t bytes, syncs, synced_commits;
    inmem__wal_hook hook;
    void *hook_ctx;
    /* the checkpoint trigger (inmem__wal_set_trigger) */
    _Atomic uint64_t trigger_at; /* UINT64_MAX: none */
    void (*trigger_fn)(void *);
    void *trigger_ctx;
};

void inmem__wal_seg_path(const inmem__wal *w, uint64_t seq, char *buf, size_t cap);
int inmem__wal_io_error(inmem__wal *w, int neg_errno, const char *what, uint64_t seq);
int inmem__wal_sync_dir(inmem__wal *w);
int inmem__wal_seg_create(inmem__wal *w, uint64_t seq, uint64_t size);
/* Makes @p fd / @p map / @p size (a mapped segment @p seq) the one appended to. */
void inmem__wal_seg_install(inmem__wal *w, int fd, uint8_t *map, uint64_t size, uint64_t seq,
                            uint64_t off);
/* Advises the kernel about a segment mapped for appending (see wal.c). */
void inmem__wal_advise_append(const inmem__wal *w, void *map, uint64_t len);
void inmem__wal_seg_release(inmem__wal *w);
int inmem__wal_start(inmem__wal *w);
/* At open, after recovery: switches to a new segment if the current one has less than
 * INMEM__WAL_END_ROOM bytes left (W6). */
int inmem__wal_make_room(inmem__wal *w);
/* The size of the next segment: twice the current one (the first is INMEM__WAL_FIRST_SEGMENT),
 * at most cfg.segment_size, at least enough for @p need bytes of records. */
uint64_t inmem__wal_next_size(inmem__wal *w, size_t need);

/* A new database's first segment: small, so that a tiny database is a tiny directory; later
 * ones double up to wal_segment_size. */
#define INMEM__WAL_FIRST_SEGMENT (1u << 20)

#endif
