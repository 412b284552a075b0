/*
 * wal.c — the write-ahead log writer: segments, appends, fsync policy and group commit.
 * Recovery (reading the log back at open) is in recovery.c.
 *
 * Files in the database directory
 *   LOCK                  advisory lock (flock) held while open; holds the owner's pid
 *   wal-<seq:016x>.log    segments, numbered from 1, each preallocated to its full size
 *   wal-<seq:016x>.log.tmp  a segment being made; renamed into place once its header is synced,
 *                        so a segment under its final name always has a valid header
 *
 * Appending: the current segment is mapped shared and writable; a commit encodes its records
 * straight into the mapping (no system call, no copy through a buffer), so once the commit
 * returns its bytes are in the OS page cache and survive a crash of the process. Strict mode
 * instead encodes frames into a log buffer that the leader of each group fsync writes with one
 * pwrite before its fdatasync (see "Strict mode's writes" below): a strict commit returns only
 * once durable, so its bytes need not be in the page cache any sooner. Space is
 * reserved with posix_fallocate when a segment is made, so a full disk shows as an error when
 * switching segments, never as a fault in the middle of one.
 *
 * Durability (st.synced_lsn = everything below it is on stable storage):
 *   async    a background thread fsyncs every 10 x sync_interval_ms.
 *   batched  the same thread fsyncs every sync_interval_ms, and committers wake it every
 *            sync_commits commits (one wake-up per batch, never one per commit).
 *   strict   each committer waits in inmem__wal_commit_wait() until synced_lsn passes its
 *            ticket (group commit). A leader reads written_lsn, fsyncs, advances synced_lsn and
 *            wakes the waiters it covered, after releasing sync_mu; each sleeps on its own
 *            futex word, so that no one is woken only to sleep again. Who leads depends on the
 *            load. Under steady load (most committers an fsync served were back with their next
 *            commit within one fsync time) the next fsync waits for the whole group: with no
 *            fsync running, the committer that completes it (as many as the last fsync served
 *            plus those queued) fsyncs at once on its own thread; the first to find the group
 *            incomplete with no fsync running (the gatherer) waits at most GATHER_NS for the
 *            rest, then leads. Every other waiter sleeps until the fsync that covers it ends,
 *            with a timeout only as a safety net (GATHER_NS beyond three fsync times: one
 *            that queued during an fsync that does not cover it needs the next one). So with T
 *            steady committers one fsync carries about T commits rather than T/2
 *            (committers that append during an fsync would otherwise be served by the very next
 *            one, which starts before the ones just woken can append). Otherwise (committers
 *            that think between commits) the first queued committer is woken to lead at once and
 *            nobody waits for a group; a lone committer never waits.
 *
 * Invariants
 *   W1 Appends are serialised by the caller (the commit lock); append fields are theirs.
 *   W2 written_lsn is stored (release) after the bytes below it are in the page cache (through
 *      the mapping, or a pwrite that returned), so a syncer that reads it (acquire) before
 *      fdatasync covers those bytes. Frames reach the file in the order of their versions: the
 *      log buffer is written whole by one holder of `syncing` at a time, and a frame encoded
 *      in the mapping in strict mode has the buffer written first; so no frame lands after a
 *      gap, which recovery would read as corruption.
 *   W3 At most one fdatasync or segment switch runs at a time (`syncing`, under sync_mu); the
 *      segment's descriptor is not closed while a syncer may use it.
 *   W4 A segment is fully synced before the next one receives records, so only the last segment
 *      can hold unsynced data (and thus a torn tail after a crash).
 *   W5 After a failed write or fsync, `failed` is set for good: appends fail with
 *      INMEM_EREADONLY and waiters with INMEM_EIO; nothing unsynced is ever reported durable.
 *      No fsync runs after the failure, not even a switch's that waited for the failed one: a
 *      retried fdatasync succeeds over pages whose writeback failed and proves nothing.
 *   W6 Every segment keeps INMEM__WAL_END_ROOM bytes after its last transaction, for the CLOSE
 *      mark of a clean close and then the NEXT record of a switch, which is written only once
 *      the next segment exists on disk and is synced before that segment receives records. So a
 *      NEXT record proves the next segment was made, and a CLOSE or NEXT record proves every
 *      byte before it was synced: damage before either is corruption, never a torn tail.
 *      Appending resumes after a CLOSE mark; an open that finds less than END_ROOM left there
 *      switches to a new segment at once (inmem__wal_make_room()), so CLOSE marks of sessions
 *      that wrote nothing never pile up past the room kept.
 *
 * Spare: a segment switch used to make the next segment on the committer's time, under the
 * commit lock (create, reserve, sync, rename, sync the directory, map: ~1-20 ms). Now, once
 * the appender passes half of a segment, it asks the background thread (the flusher, which in
 * strict mode does nothing else) for the next one, made the same way and kept mapped as the
 * spare (spare_* fields, under sync_mu); a checkpoint makes it itself before its switch
 * (inmem__wal_prepare_switch). The switch syncs the old segment, takes the spare if it is big
 * enough (or makes a segment as before), and writes and syncs the NEXT record. A spare exists
 * on disk before the NEXT record names it, holding no record: recovery does not read past the
 * last segment holding data, removes such a segment unless a NEXT record names it, and syncs
 * the segment it resumes in (see recovery.c); a clean close removes it too.
 *
 * Page faults: the first write to each page of a fresh segment would fault and have the kernel
 * allocate and zero a page-cache page, on the committer's time. The background syncer instead
 * prefaults the rest of the current segment (MADV_POPULATE_READ, 4 MiB at a time, holding
 * `syncing` so that the mapping cannot be switched under it), leaving committers only the fault
 * that marks a page dirty — not cheap on this project's VMs (~6.5 us, paravirtual: 16 % of a
 * batched writer's time). In async mode, where an fsync comes once a second, the syncer takes
 * that fault too: it dirties a window ahead of the appender (MADV_POPULATE_WRITE, the pages'
 * content unchanged), is asked for more as the appender passes half of it (dirty_at), and
 * dirties it again after each fsync, which cleans and write-protects it. Each fsync writes the
 * window's zeros, so the window follows the appender's pace: after an fsync it is what was
 * appended since the one before (a page at least, DIRTY_WINDOW at most), and each ask doubles
 * it up to DIRTY_WINDOW. A database committing a few times a second thus writes a page or two
 * of zeros per fsync, not 2 MiB (it wrote 7.3 MB for 120 commits in 6 s), and one at full speed
 * at most 2 MiB a second. A clean close leaves the zeros on disk as data, which the next open's
 * check for zeros after the close mark reads. Not in batched mode: an
 * fsync every 1,000 commits would write the window's zeros each time and undo it (the whole
 * segment dirtied ahead made W1 batched 11-15 % slower, async 14-18 % faster).
 *
 * Strict mode's writes: every fsync's writeback write-protects the pages it cleans that are
 * mapped writable — with a TLB shoot-down interrupting the cores that run committers, which
 * in strict mode are always busy — and the next commit's write into the same page faults to
 * make it writable again: both once per fsync, on the path every committer of a group waits
 * on (7 % and 8.5 % of the samples of 16 strict committers). A page written with pwrite is not
 * mapped writable, so its writeback needs neither. A pwrite per commit costs a system call, a
 * few microseconds beside the fdatasync the commit waits for; 16 committers made 6-17 % more
 * commits a second in alternating runs (docs/BENCHMARKS.md, "Session of 2026-12-07 (16:23-)").
 * Then the system call left the committers too: they encode their frames into a log buffer
 * (stage_*, two buffers used in turn) under the commit lock, memory work only, and the leader of
 * each fsync swaps the buffers and writes everything appended so far with one pwrite before its
 * fdatasync: a system call a group instead of one a commit (16 committers: 31.9 -> 36.1 K commits
 * a second, medians of 8 alternating runs; "Session of 2026-12-07 (18:43-)"). A frame lost in
 * the buffer by a crash of the process was never acknowledged. Frames over STAGE_MAX, and any
 * frame that finds the buffer at STAGE_LIMIT or unable to grow, go through the mapping once the
 * buffer is written (drain_stage()); the segment's end marks (CLOSE, NEXT) too, after a switch
 * or close has written it.
 *
 * Lock order: the caller's commit lock, then sync_mu; stage_mu is taken alone (an appender holds
 * it from inmem__wal_append_begin() to inmem__wal_append_end()).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/vfs.h"
#include "wal/wal_int.h"

/* Async: the most and the least the syncer dirties ahead of the appender (see the file
 * comment), and the window a new log starts with. */
#define DIRTY_WINDOW ((uint64_t)2 << 20)
#define DIRTY_MIN    ((uint64_t)4096)
#define DIRTY_START  ((uint64_t)64 << 10)

/* ---- segments ---------------------------------------------------------------------------- */

void inmem__wal_seg_path(const inmem__wal *w, uint64_t seq, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/wal-%016llx.log", w->dir, (unsigned long long)seq);
}

int inmem__wal_io_error(inmem__wal *w, int neg_errno, const char *what, uint64_t seq)
{
    char path[PATH_MAX_LEN];
    inmem__wal_seg_path(w, seq, path, sizeof path);
    return inmem__error(INMEM_EIO, "%s of %s failed: %s", what, inmem__shown(path),
                        strerror(-neg_errno));
}

int inmem__wal_sync_dir(inmem__wal *w)
{
    return inmem__vfs_sync_dir(w->vfs, w->dir);
}

void inmem__wal_advise_append(const inmem__wal *w, void *map, uint64_t len)
{
    /* Strict mode: no readahead on the log's faults. Readahead fills the page cache with large
     * folios as the mapping is walked sequentially, and writeback of a large folio rewrites all
     * of it, so a group commit's fdatasync slowed from ~0.16 to ~0.63 ms once ~40 MB of a
     * segment had been written; with single pages it stays flat. The other modes keep
     * readahead: their fsyncs run in the background, and there large folios mean fewer faults
     * for the committers (W1 batched: 0.72 M txn/s with them, 0.50 M without). A hint: failure
     * changes nothing. */
    if (w->cfg.mode == INMEM_DURABILITY_STRICT)
        (void)madvise(map, (size_t)len, MADV_RANDOM);
}

/* Creates, reserves, syncs and maps segment @p seq of at least @p size bytes (rounded up to a
 * page) into *fd, *map, *size. It is made under a temporary name and renamed into place once
 * its header is on disk, so that a crash never leaves a segment without a valid header. */
static int seg_make(inmem__wal *w, uint64_t seq, uint64_t *size_io, int *fd_out, uint8_t **map_out)
{
    const inmem__vfs *vfs = w->vfs;
    char path[PATH_MAX_LEN], tmp[PATH_MAX_LEN + 8];
    inmem__wal_seg_path(w, seq, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    uint64_t size = (*size_io + 4095) & ~(uint64_t)4095;
    uint8_t hdr[INMEM__WAL_HEADER];
    inmem__wal_enc_header(hdr, seq, size);
    void *map = NULL;
    int renamed = 0, rc;
    (void)vfs->unlink(tmp); /* a leftover of a crash: never used */
    int fd = vfs->open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, w->cfg.file_mode);
    const char *what = "create";
    if (fd < 0) {
        rc = fd;
        goto fail;
    }
    what = "reserve space";
    if ((rc = vfs->allocate(fd, size)) != 0)
        goto fail;
    what = "write header";
    int64_t n = vfs->pwrite(fd, hdr, sizeof hdr, 0);
    if (n != (int64_t)sizeof hdr) {
        rc = n < 0 ? (int)n : -EIO;
        goto fail;
    }
    what = "sync";
    if ((rc = vfs->datasync(fd)) != 0)
        goto fail;
    what = "rename into place";
    if ((rc = vfs->rename(tmp, path)) != 0)
        goto fail;
    renamed = 1;
    what = "sync the directory after creating";
    if ((rc = inmem__wal_sync_dir(w)) != 0)
        goto fail;
    what = "map";
    if ((rc = vfs->map(fd, size, 1, &map)) != 0)
        goto fail;
    inmem__wal_advise_append(w, map, size);
    *size_io = size;
    *fd_out = fd;
    *map_out = map;
    return 0;
fail:
    if (fd >= 0)
        vfs->close(fd);
    (void)vfs->unlink(renamed ? path : tmp); /* it never held a record */
    return inmem__wal_io_error(w, rc, what, seq);
}

void inmem__wal_seg_install(inmem__wal *w, int fd, uint8_t *map, uint64_t size, uint64_t seq,
                            uint64_t off)
{
    w->fd = fd;
    w->map = map;
    w->lsn_base += w->map_len; /* past every byte of the segment before (0 before the first) */
    w->map_len = size;
    w->seq = seq;
    w->off = off;
    w->spare_at = size / 2;
    atomic_store_rlx(&w->dirty_at, UINT64_MAX);
    w->zap_off = 0;
    w->format = INMEM__WAL_FORMAT;
}

int inmem__wal_seg_create(inmem__wal *w, uint64_t seq, uint64_t size)
{
    int fd;
    uint8_t *map;
    int rc = seg_make(w, seq, &size, &fd, &map);
    if (rc == 0)
        inmem__wal_seg_install(w, fd, map, size, seq, INMEM__WAL_HEADER);
    return rc;
}

void inmem__wal_seg_release(inmem__wal *w)
{
    if (w->map)
        w->vfs->unmap(w->map, w->map_len);
    if (w->fd >= 0)
        w->vfs->close(w->fd);
    w->map = NULL;
    w->fd = -1;
}

/* ---- syncing ----------------------------------------------------------------------------- */

static void set_failed(inmem__wal *w, int rc) INMEM_REQUIRES(w->sync_mu)
{
    if (!atomic_load_rlx(&w->failed))
        atomic_store_rel(&w->failed, rc);
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t val, const struct timespec *rel)
{
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Called whenever `syncing` drops to 0: takes the committers whose targets are now durable (all
 * of them after a failure) off the queue, the others stay for the next group, and wakes the
 * segment switcher if it waits. Returns the chain of taken waiters for wake_chain() (which may
 * run after sync_mu is released, so that the woken do not queue on it) and their count. */
static inmem__wal_waiter *sync_done(inmem__wal *w, unsigned *count) INMEM_REQUIRES(w->sync_mu)
{
    uint64_t synced = atomic_load_rlx(&w->synced_lsn);
    int failed = atomic_load_rlx(&w->failed) != 0;
    inmem__wal_waiter *chain = NULL;
    unsigned n = 0;
    inmem__wal_waiter **pp = &w->waiters;
    while (*pp) {
        inmem__wal_waiter *x = *pp;
        if (failed || x->target <= synced) {
            *pp = x->next;
            x->detached = 1;
            x->next = chain;
            chain = x;
            w->nwaiters--;
            n++;
        } else {
            pp = &x->next;
        }
    }
    pthread_cond_broadcast(&w->sync_cv);
    if (count)
        *count = n;
    return chain;
}

/* Wakes the waiters sync_done() took. A waiter may return (and its stack frame go) as soon as
 * it sees `woken`, so its `next` is read first and only the futex word's address is used
 * after; a wake-up sent to a stale address wakes no one or causes a spurious wake-up, which
 * every futex waiter tolerates. */
static void wake_chain(inmem__wal_waiter *x)
{
    while (x) {
        inmem__wal_waiter *next = x->next;
        _Atomic uint32_t *word = &x->woken;
        atomic_store_rel(word, 1);
        futex_wake(word);
        x = next;
    }
}

/* How long a gathering committer waits for its group before it fsyncs anyway. */
#define GATHER_NS 100000ull
/* An fsync's time before the first one is measured (the other waiters' safety net). */
#define SYNC_GUESS_NS 1000000ull

/* Queues @p me and sleeps until a syncer wakes it or @p wait_ns pass (sync_mu is released
 * meanwhile). On a timeout before any syncer took it, it leaves the queue and sets expired. */
static void wait_queued(inmem__wal *w, inmem__wal_waiter *me, uint64_t wait_ns)
    INMEM_REQUIRES(w->sync_mu)
{
    atomic_store_rlx(&me->woken, 0);
    me->detached = 0;
    me->next = w->waiters;
    w->waiters = me;
    w->nwaiters++;
    uint64_t deadline = inmem__clock_mono_ns() + wait_ns;
    inmem__mutex_unlock(&w->sync_mu);
    for (;;) {
        if (atomic_load_acq(&me->woken))
            break;
        uint64_t now = inmem__clock_mono_ns();
        if (now >= deadline) {
            inmem__mutex_lock(&w->sync_mu);
            if (!me->detached) {
                for (inmem__wal_waiter **pp = &w->waiters; *pp; pp = &(*pp)->next) {
                    if (*pp == me) {
                        *pp = me->next;
                        w->nwaiters--;
                        break;
                    }
                }
                me->expired = 1;
                w->wait_timeouts++;
                return; /* with sync_mu held */
            }
            inmem__mutex_unlock(&w->sync_mu);
            /* taken by a syncer that is about to set `woken`: wait for it without a deadline */
            while (!atomic_load_acq(&me->woken))
                futex_wait(&me->woken, 0, NULL);
            break;
        }
        uint64_t left = deadline - now;
        struct timespec rel = {(time_t)(left / 1000000000ull), (long)(left % 1000000000ull)};
        futex_wait(&me->woken, 0, &rel);
    }
    inmem__mutex_lock(&w->sync_mu);
}

/* Before an fsync in async and batched mode: unmaps the pages of the current segment that the
 * appender has finished with (wholly below @p upto, which lies in it). Writeback must
 * write-protect every mapped page it cleans, each with its own TLB shoot-down interrupting the
 * appender's core and holding the page-table lock the appender's next page fault needs (18 % of
 * the samples of a batched run); an unmapped page needs none. The data stay in the page cache,
 * dirty, for the fsync to write: unmapping a shared file mapping drops no data. One ranged
 * shoot-down per fsync replaces one per page. Called with `syncing` held (the mapping cannot
 * be switched). */
static void zap_behind(inmem__wal *w, uint8_t *map, uint64_t base, uint64_t upto)
{
    if (w->cfg.mode == INMEM_DURABILITY_STRICT || upto < base)
        return;
    uint64_t end = (upto - base) & ~(uint64_t)4095;
    if (end <= w->zap_off)
        return;
    (void)madvise(map + w->zap_off, (size_t)(end - w->zap_off), MADV_DONTNEED); /* a hint */
    w->zap_off = end;
}

/* Async: an fsync cleaned the window dirtied ahead of the appender (and wrote its zeros); has
 * the syncer dirty it again, as far ahead as the appender went since the fsync before (see
 * the file comment). Whoever ran the fsync: the syncer, or a committer held at
 * max_unsynced_commits. */
static void redirty(inmem__wal *w) INMEM_REQUIRES(w->sync_mu)
{
    if (w->cfg.mode != INMEM_DURABILITY_ASYNC)
        return;
    uint64_t bytes = atomic_load_rlx(&w->bytes), win = bytes - w->dirty_mark;
    w->dirty_mark = bytes;
    win = (win + 4095) & ~(uint64_t)4095;
    w->dirty_win = win < DIRTY_MIN ? DIRTY_MIN : win > DIRTY_WINDOW ? DIRTY_WINDOW : win;
    w->populate_pending = 1;
    w->populate_off = 0;
    w->kick = 1;
    pthread_cond_signal(&w->flush_cv);
}

/* Strict: writes the frames appended to the log buffer since the last flush with one pwrite and
 * publishes them (written_lsn, W2). The caller holds `syncing` (no other flush, no segment
 * switch). 0, or INMEM_EIO after setting `failed` (W5) if the write failed. */
static int flush_stage(inmem__wal *w)
{
    if (w->cfg.mode != INMEM_DURABILITY_STRICT)
        return 0;
    inmem__mutex_lock(&w->stage_mu);
    const uint8_t *buf = w->stage[w->stage_i];
    size_t len = w->stage_len;
    uint64_t off = w->stage_off, n = w->stage_commits;
    w->stage_i ^= 1; /* appenders fill the other buffer meanwhile */
    w->stage_len = 0;
    w->stage_commits = 0;
    inmem__mutex_unlock(&w->stage_mu);
    if (len == 0)
        return 0;
    size_t done = 0;
    while (done < len) {
        int64_t r = w->vfs->pwrite(w->fd, buf + done, len - done, off + done);
        if (r <= 0) {
            inmem__mutex_lock(&w->sync_mu);
            int rc = inmem__wal_io_error(w, r < 0 ? (int)r : -EIO, "pwrite", w->seq);
            set_failed(w, rc);
            inmem__mutex_unlock(&w->sync_mu);
            return rc;
        }
        done += (size_t)r;
    }
    atomic_store_rel(&w->written_lsn, w->lsn_base + off + len); /* W2 */
    atomic_store_rel(&w->written_commits, atomic_load_rlx(&w->written_commits) + n);
    if (w->hook)
        w->hook(w->hook_ctx, 0, w->seq, off + len);
    return 0;
}

/* Makes everything below @p target durable (group commit: see the file comment). */
static int sync_to(inmem__wal *w, uint64_t target)
{
    int rc = 0;
    inmem__wal_waiter me = {.target = target};
    inmem__wal_waiter *wake = NULL;
    inmem__mutex_lock(&w->sync_mu);
    if (w->round_served && inmem__clock_mono_ns() - w->round_end_ns <= w->last_sync_ns)
        w->round_back++; /* back within one fsync time of the last fsync's end */
    for (;;) {
        /* durable first: a commit an fsync covered before a later failure is durable */
        if (atomic_load_rlx(&w->synced_lsn) >= target)
            break;
        if (atomic_load_rlx(&w->failed)) {
            rc = INMEM_EIO;
            break;
        }
        if (w->syncing || (!me.expired && w->nwaiters + 1 < w->group)) {
            /* An fsync is running (the next group forms meanwhile), or this group is not
             * complete yet: wait. One waiter of a forming group, the gatherer, bounds the wait
             * for the rest (the group may have shrunk); the others are served by the fsync it or
             * the group's last member starts, and their timeout is only a safety net. (When
             * every member had the gatherer's timeout, most woke in the middle of the fsync
             * that served them, only to queue again: 0.77 such wake-ups a commit with 16
             * committers, 0.17 now, and 4-17 % more commits a second; docs/BENCHMARKS.md,
             * "Session of 2026-12-07 (18:43-)". Three fsync times, not two as before: a waiter
             * that queued early in an fsync that does not cover it waits for the next one
             * too.) */
            uint64_t wait_ns = GATHER_NS + 3 * (w->last_sync_ns ? w->last_sync_ns : SYNC_GUESS_NS);
            int gathers = !w->syncing && !w->gathering;
            if (gathers) {
                w->gathering = 1;
                wait_ns = GATHER_NS;
            }
            wait_queued(w, &me, wait_ns);
            if (gathers)
                w->gathering = 0;
            continue;
        }
        me.expired = 0;
        w->syncing = 1;
        int fd = w->fd;
        uint64_t seq = w->seq, base = w->lsn_base;
        uint8_t *map = w->map;
        inmem__mutex_unlock(&w->sync_mu);
        int werr = flush_stage(w); /* strict: the group's frames, in one pwrite */
        /* commits first: the appender stores them after written_lsn, so every commit counted
         * here lies below `upto` */
        uint64_t commits = atomic_load_acq(&w->written_commits);
        uint64_t upto = atomic_load_acq(&w->written_lsn);
        zap_behind(w, map, base, upto);
        uint64_t t0 = inmem__clock_mono_ns();
        int err = werr ? 0 : w->vfs->datasync(fd); /* (no fsync after a failure: W5) */
        uint64_t took = inmem__clock_mono_ns() - t0;
        if (w->hook && !err && !werr) /* (below base: the segment before, synced at its switch) */
            w->hook(w->hook_ctx, 1, seq, upto >= base ? upto - base : INMEM__WAL_HEADER);
        inmem__mutex_lock(&w->sync_mu);
        w->syncing = 0;
        w->last_sync_ns = took;
        if (err) {
            set_failed(w, inmem__wal_io_error(w, err, "fdatasync", seq));
        } else if (!werr) {
            if (upto > atomic_load_rlx(&w->synced_lsn))
                atomic_store_rel(&w->synced_lsn, upto);
            atomic_store_rlx(&w->syncs, atomic_load_rlx(&w->syncs) + 1);
            if (commits > w->synced_commits_mark) {
                atomic_store_rlx(&w->synced_commits, atomic_load_rlx(&w->synced_commits) +
                                                         (commits - w->synced_commits_mark));
                w->synced_commits_mark = commits;
            }
            redirty(w);
        }
        /* The next group. Gather only if, after the previous fsync, most of the committers it
         * served were back within one fsync time (steady load): then the group is everyone
         * this fsync served, this leader, and those already queued. Otherwise (committers that
         * think between commits) waiting would only add latency: the group is one, and the
         * first queued committer, if any, is woken to lead the next fsync at once. */
        /* the loop ends at the next check: upto covers this committer's own target, which was
         * appended before it came here, so `wake` is assigned once */
        unsigned served;
        wake = sync_done(w, &served);
        int gather = w->round_served >= 2 && 2 * w->round_back >= w->round_served;
        w->round_served = served + 1;
        w->round_back = 0;
        w->round_end_ns = inmem__clock_mono_ns();
        w->group = gather ? served + 1 + w->nwaiters : 1;
        if (!gather && w->waiters) {
            inmem__wal_waiter *x = w->waiters;
            w->waiters = x->next;
            w->nwaiters--;
            x->detached = 1;
            x->next = wake;
            wake = x;
        }
    }
    inmem__mutex_unlock(&w->sync_mu);
    wake_chain(wake);
    return rc;
}

#define POPULATE_CHUNK (4u << 20)

/* Prefaults the next chunk of the current segment (see the file comment); keeps the syncer
 * awake (kick) until the segment is done, or in async mode the window ahead of the appender is
 * (the appender asks for more past dirty_at, and each fsync has the window dirtied again). */
static void populate_some(inmem__wal *w) INMEM_REQUIRES(w->sync_mu)
{
    if (!w->populate_pending || w->syncing || w->stop)
        return;
    uint64_t off = w->populate_off, len = w->map_len;
#ifdef MADV_POPULATE_WRITE
    int dirty = w->cfg.mode == INMEM_DURABILITY_ASYNC;
#else
    int dirty = 0;
#endif
    if (dirty) {
        uint64_t lsn = atomic_load_acq(&w->written_lsn);
        uint64_t at = lsn >= w->lsn_base ? lsn - w->lsn_base : 0;
        uint64_t to = (at + w->dirty_win + 4095) & ~(uint64_t)4095;
        if (to < len)
            len = to;
        if (off < at)
            off = at; /* (behind the appender: written already) */
    }
    if (off >= len) {                  /* (off is not rounded: a segment may end inside a page) */
        if (dirty && len < w->map_len) /* the window is dirty: the appender asks for more */
            atomic_store_rlx(&w->dirty_at, len - w->dirty_win / 2);
        else
            w->populate_pending = 0;
        return;
    }
    uint64_t from = off & ~(uint64_t)4095;
    uint64_t n = len - from < POPULATE_CHUNK ? len - from : POPULATE_CHUNK;
    uint8_t *base = w->map;
    w->syncing = 1;
    inmem__mutex_unlock(&w->sync_mu);
#ifdef MADV_POPULATE_WRITE
    if (dirty)
        madvise(base + from, (size_t)n, MADV_POPULATE_WRITE);
    else
#endif
        madvise(base + from, (size_t)n, MADV_POPULATE_READ); /* advice: failure changes nothing */
    inmem__mutex_lock(&w->sync_mu);
    w->syncing = 0;
    wake_chain(sync_done(w, NULL));
    w->populate_off = from + n;
    w->kick = 1; /* come back for the next chunk at once */
}

/* ---- the spare segment ------------------------------------------------------------------ */

enum { SPARE_NONE, SPARE_WANTED, SPARE_MAKING, SPARE_READY };

/* Makes the spare asked for (spare_seq, spare_len), with spare_state set to SPARE_MAKING by the
 * caller; sync_mu is released meanwhile. A failure leaves no spare: the switch then makes its
 * segment itself and reports the error, if it meets it again. */
static void spare_make(inmem__wal *w) INMEM_REQUIRES(w->sync_mu)
{
    uint64_t seq = w->spare_seq, len = w->spare_len;
    int fd = -1;
    uint8_t *map = NULL;
    inmem__mutex_unlock(&w->sync_mu);
    int rc = seg_make(w, seq, &len, &fd, &map);
    inmem__mutex_lock(&w->sync_mu);
    if (rc == 0) {
        w->spare_fd = fd;
        w->spare_map = map;
        w->spare_len = len;
        w->spare_state = SPARE_READY;
    } else {
        w->spare_state = SPARE_NONE;
    }
    pthread_cond_broadcast(&w->sync_cv);
}

/* Asks for the spare of the current segment (seq + 1, of the next size). Either from the
 * appender (W1) or with `syncing` clear (seq and map_len change only while it is held). */
static void spare_ask(inmem__wal *w) INMEM_REQUIRES(w->sync_mu)
{
    if (w->spare_state != SPARE_NONE || atomic_load_rlx(&w->failed))
        return;
    w->spare_seq = w->seq + 1;
    w->spare_len = inmem__wal_next_size(w, 0);
    w->spare_state = SPARE_WANTED;
}

/* Unmaps and closes a spare taken off the wal (its file stays: an unused segment, which the
 * next open removes, or the switch replaces). */
static void spare_release(inmem__wal *w, int fd, uint8_t *map, uint64_t len)
{
    if (map)
        w->vfs->unmap(map, len);
    if (fd >= 0)
        w->vfs->close(fd);
}

void inmem__wal_prepare_switch(inmem__wal *w)
{
    if (w->cfg.read_only)
        return;
    inmem__mutex_lock(&w->sync_mu);
    while (w->syncing || w->spare_state == SPARE_MAKING)
        pthread_cond_wait(&w->sync_cv, &w->sync_mu.m);
    spare_ask(w);
    if (w->spare_state == SPARE_WANTED) {
        w->spare_state = SPARE_MAKING;
        spare_make(w);
    }
    inmem__mutex_unlock(&w->sync_mu);
}

/* The longest period between background fsyncs (~146 years): the monotonic clock plus it
 * never wraps. */
#define PERIOD_MAX_NS (UINT64_MAX / 4)
/* The longest single wait of the background thread; it then looks at the clock again. */
#define WAIT_MAX_NS (3600ull * 1000000000ull)

static void *flusher_main(void *arg)
{
    inmem__wal *w = arg;
    const int strict = w->cfg.mode == INMEM_DURABILITY_STRICT; /* committers sync themselves */
    /* saturated: an interval of years (or UINT64_MAX, "never") must not wrap into the past,
     * which made this thread fsync after every commit and spin while idle */
    uint64_t mult = (w->cfg.mode == INMEM_DURABILITY_ASYNC ? 10 : 1) * 1000000ull;
    uint64_t period_ns = w->cfg.sync_interval_ms > PERIOD_MAX_NS / mult
                             ? PERIOD_MAX_NS
                             : w->cfg.sync_interval_ms * mult;
    uint64_t next_sync = inmem__clock_mono_ns() + period_ns;
    inmem__mutex_lock(&w->sync_mu);
    while (!w->stop) {
        if (!w->kick && strict) {
            pthread_cond_wait(&w->flush_cv, &w->sync_mu.m);
        } else if (!w->kick) {
            uint64_t now = inmem__clock_mono_ns(), left = next_sync > now ? next_sync - now : 0;
            if (left > WAIT_MAX_NS)
                left = WAIT_MAX_NS; /* so that the deadline fits a time_t */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + left;
            ts.tv_sec += (time_t)(ns / 1000000000ull);
            ts.tv_nsec = (long)(ns % 1000000000ull);
            pthread_cond_timedwait(&w->flush_cv, &w->sync_mu.m, &ts);
        }
        w->kick = 0;
        if (w->stop)
            break;
        if (w->spare_state == SPARE_WANTED) {
            w->spare_state = SPARE_MAKING;
            spare_make(w);
        }
        /* an fsync only when one is due: the period ran out, or committers asked (sync_due);
         * not for the other wake-ups (a chunk to prefault, a spare to make) */
        if (!strict && (w->sync_due || inmem__clock_mono_ns() >= next_sync)) {
            w->sync_due = 0;
            next_sync = inmem__clock_mono_ns() + period_ns;
            uint64_t upto = atomic_load_acq(&w->written_lsn);
            if (upto > atomic_load_rlx(&w->synced_lsn) && !atomic_load_rlx(&w->failed)) {
                inmem__mutex_unlock(&w->sync_mu);
                sync_to(w, upto); /* (in async mode it has the window dirtied again) */
                inmem__mutex_lock(&w->sync_mu);
            }
        }
        populate_some(w);
    }
    inmem__mutex_unlock(&w->sync_mu);
    return NULL;
}

int inmem__wal_start(inmem__wal *w)
{
    inmem__mutex_lock(&w->sync_mu);
    if (w->cfg.mode != INMEM_DURABILITY_STRICT) {
        w->populate_pending = 1; /* the segment recovery left us in */
        w->populate_off = w->off;
        w->kick = 1;
    }
    w->dirty_win = DIRTY_START;
    w->dirty_mark = atomic_load_rlx(&w->bytes);
    inmem__mutex_unlock(&w->sync_mu);
    if (inmem__thread_start(&w->flusher, flusher_main, w) != 0)
        return inmem__error(INMEM_ENOMEM, "cannot start the log's sync thread");
    w->has_flusher = 1;
    return 0;
}

/* ---- appending --------------------------------------------------------------------------- */

/* Switches to a new segment with room for @p need bytes of records (W3, W4, W6): syncs the old
 * segment, takes the spare (the next segment, made ahead: see "Spare") or else makes the new one,
 * then writes and syncs the old one's NEXT record. A failure makes the log read-only (W5), except,
 * with
 * @p may_stay, a new segment that cannot be made: the old one, synced and untouched, simply
 * stays current (a checkpoint's switch, which has the room). */
static int rotate(inmem__wal *w, size_t need, int may_stay)
{
    inmem__mutex_lock(&w->sync_mu);
    while (w->syncing || w->spare_state == SPARE_MAKING)
        pthread_cond_wait(&w->sync_cv, &w->sync_mu.m);
    if (atomic_load_rlx(&w->failed)) {
        /* an fsync failed while this switch waited: its own fdatasync of the same file would
         * succeed (the failed pages are clean now) and prove nothing, so it must not make
         * what the failed one covered durable, nor let this append go on (W5) */
        int failed = atomic_load_rlx(&w->failed);
        inmem__mutex_unlock(&w->sync_mu);
        return inmem__error(INMEM_EREADONLY, "the log failed earlier (%s); reopen the database",
                            inmem_strerror(failed));
    }
    w->syncing = 1;
    int sfd = -1;
    uint8_t *smap = NULL;
    uint64_t slen = 0;
    if (w->spare_state == SPARE_READY) {
        assert(w->spare_seq == w->seq + 1);
        sfd = w->spare_fd;
        smap = w->spare_map;
        slen = w->spare_len;
        w->spare_fd = -1;
        w->spare_map = NULL;
    }
    w->spare_state = SPARE_NONE; /* a spare still wanted is made for the next segment */
    inmem__mutex_unlock(&w->sync_mu);

    int werr = flush_stage(w); /* strict: the frames still in the log buffer are this segment's */
    uint64_t old_seq = w->seq, old_end = w->lsn_base + w->off;
    int fd = w->fd;
    uint8_t *map = w->map;
    uint64_t len = w->map_len, off = w->off;
    uint64_t commits = atomic_load_acq(&w->written_commits);
    int rc, old_synced, stay = 0;
    if (smap && slen < INMEM__WAL_HEADER + need + INMEM__WAL_END_ROOM) {
        spare_release(w, sfd, smap, slen); /* too small for this transaction: made anew below */
        smap = NULL;
        sfd = -1; /* closed: a failure below must not close its number again */
    }
    /* the old segment is synced whole before its NEXT record is written (W6: a NEXT record
     * proves that every byte before it was synced, even after a crash during the sync) */
    rc = werr ? 0 : w->vfs->datasync(fd);
    old_synced = rc == 0 && !werr;
    if (werr) {
        rc = werr; /* (failed is set: the log is read-only, W5) */
        spare_release(w, sfd, smap, slen);
    } else if (rc) {
        rc = inmem__wal_io_error(w, rc, "fdatasync", old_seq);
        spare_release(w, sfd, smap, slen);
    } else if (smap) {
        inmem__wal_seg_install(w, sfd, smap, slen, old_seq + 1, INMEM__WAL_HEADER);
    } else {
        rc = inmem__wal_seg_create(w, old_seq + 1, inmem__wal_next_size(w, need));
        stay = rc && may_stay;
    }
    if (rc == 0) {
        assert(off + INMEM__WAL_FRAME + INMEM__WAL_NEXT_LEN <= len); /* W6 */
        inmem__wal_enc_next(map + off, old_seq + 1, w->version, w->txn_id);
        int err = w->vfs->datasync(fd);
        if (err)
            rc = inmem__wal_io_error(w, err, "fdatasync", old_seq);
        w->vfs->unmap(map, len);
        w->vfs->close(fd);
    }
    inmem__mutex_lock(&w->sync_mu);
    w->syncing = 0;
    if (old_synced) {
        /* every commit of the old segment is durable, even if what followed failed: its
         * committers must hear so, not INMEM_EIO */
        if (old_end > atomic_load_rlx(&w->synced_lsn))
            atomic_store_rel(&w->synced_lsn, old_end);
        atomic_store_rlx(&w->syncs, atomic_load_rlx(&w->syncs) + 1);
        if (commits > w->synced_commits_mark) {
            atomic_store_rlx(&w->synced_commits, atomic_load_rlx(&w->synced_commits) +
                                                     (commits - w->synced_commits_mark));
            w->synced_commits_mark = commits;
        }
    }
    if (rc && !stay) {
        set_failed(w, rc);
    } else if (rc == 0 && w->cfg.mode != INMEM_DURABILITY_STRICT) {
        w->populate_pending = 1;
        w->populate_off = w->off;
        w->kick = 1;
        pthread_cond_signal(&w->flush_cv);
    }
    wake_chain(sync_done(w, NULL));
    inmem__mutex_unlock(&w->sync_mu);
    return rc;
}

int inmem__wal_make_room(inmem__wal *w)
{
    if (w->off + INMEM__WAL_END_ROOM <= w->map_len && w->format == INMEM__WAL_FORMAT)
        return 0;
    return rotate(w, 0, 0); /* also: appends never go into a segment of an older format */
}

uint64_t inmem__wal_next_size(inmem__wal *w, size_t need)
{
    uint64_t size = w->map_len ? w->map_len * 2 : INMEM__WAL_FIRST_SEGMENT;
    if (size > w->cfg.segment_size)
        size = w->cfg.segment_size;
    if (size < INMEM__WAL_HEADER + need + INMEM__WAL_END_ROOM)
        size = INMEM__WAL_HEADER + need + INMEM__WAL_END_ROOM;
    return size;
}

int inmem__wal_writable(inmem__wal *w)
{
    if (w->cfg.read_only)
        return inmem__error(INMEM_EREADONLY, "the database was opened read-only");
    if (atomic_load_acq(&w->failed))
        return inmem__error(INMEM_EREADONLY, "the log failed earlier (%s); reopen the database",
                            inmem_strerror(atomic_load_rlx(&w->failed)));
    return 0;
}

/* Strict mode encodes frames of up to STAGE_MAX bytes in the log buffer, which holds up to
 * STAGE_LIMIT (see the file comment, "Strict mode's writes"); a bigger frame, or one that finds
 * the buffer full, has the buffer written and goes through the mapping. */
#define STAGE_MAX   ((size_t)256 << 10)
#define STAGE_LIMIT ((size_t)1 << 20)

/* Strict: empties the log buffer under the caller's commit lock, so that a frame encoded in the
 * mapping comes after every frame before it (waits for an fsync's leader writing it). */
static int drain_stage(inmem__wal *w)
{
    inmem__mutex_lock(&w->sync_mu);
    while (w->syncing)
        pthread_cond_wait(&w->sync_cv, &w->sync_mu.m);
    w->syncing = 1;
    inmem__mutex_unlock(&w->sync_mu);
    int rc = flush_stage(w);
    inmem__mutex_lock(&w->sync_mu);
    w->syncing = 0;
    wake_chain(sync_done(w, NULL));
    inmem__mutex_unlock(&w->sync_mu);
    return rc;
}

/* Where the frame of @p total bytes is encoded: in strict mode the log buffer (grown if needed,
 * stage_mu taken until inmem__wal_append_end()), else, or for a frame over STAGE_MAX or when the
 * buffer cannot grow, the mapping (in strict mode once the buffer is written: frames reach the
 * file in order). NULL if that write failed. */
static uint8_t *frame_at(inmem__wal *w, size_t total) INMEM_NO_TSA
{
    if (w->cfg.mode != INMEM_DURABILITY_STRICT)
        return w->map + w->off;
    if (total <= STAGE_MAX) {
        inmem__mutex_lock(&w->stage_mu);
        assert(w->stage_len == 0 || w->stage_off + w->stage_len == w->off);
        unsigned i = w->stage_i;
        size_t need = w->stage_len + total;
        if (w->stage_cap[i] < need && need <= STAGE_LIMIT) {
            size_t cap = w->stage_cap[i] ? w->stage_cap[i] : 4096;
            while (cap < need)
                cap *= 2;
            uint8_t *p = realloc(w->stage[i], cap);
            if (p) {
                w->stage[i] = p;
                w->stage_cap[i] = cap;
            }
        }
        if (w->stage_cap[i] >= need) {
            if (w->stage_len == 0)
                w->stage_off = w->off;
            return w->stage[i] + w->stage_len;
        }
        inmem__mutex_unlock(&w->stage_mu);
    }
    return drain_stage(w) == 0 ? w->map + w->off : NULL;
}

int inmem__wal_append_begin(inmem__wal *w, uint64_t version, uint64_t now, const uint8_t run[16],
                            uint32_t records, size_t op_bytes, size_t multi_bytes,
                            inmem__wal_cursor *c)
{
    int rc = inmem__wal_writable(w);
    if (rc)
        return rc;
    size_t total = inmem__wal_txn_size(version, now, records, op_bytes);
    c->multi = total - INMEM__WAL_FRAME > UINT32_MAX - 16;
    if (c->multi)
        total = INMEM__WAL_FRAME + INMEM__WAL_BEGIN_LEN + multi_bytes + INMEM__WAL_FRAME +
                INMEM__WAL_COMMIT_LEN;
    if (w->off + total + INMEM__WAL_END_ROOM > w->map_len && (rc = rotate(w, total, 0)) != 0)
        return rc; /* W6 */
    c->frame = frame_at(w, total);
    if (!c->frame)
        return INMEM_EIO; /* writing the log buffer failed: the log is read-only (W5) */
    c->version = version;
    c->records = records;
    c->total = total;
    if (c->multi)
        c->p = c->frame + inmem__wal_enc_begin(c->frame, version, run, now,
                                               atomic_load_rlx(&w->synced_lsn), records);
    else
        c->p = c->frame + inmem__wal_enc_txn_start(c->frame, version, now, records);
    return 0;
}

void inmem__wal_append_write(inmem__wal_cursor *c, const uint8_t *key, uint32_t klen,
                             const void *val, uint32_t vlen, uint64_t expiry_ms)
{
    if (c->multi)
        c->p += inmem__wal_enc_write(c->p, c->version, expiry_ms, key, klen, val, vlen);
    else
        c->p += inmem__wal_enc_op_put(c->p, expiry_ms, key, klen, val, vlen);
}

void inmem__wal_append_delete(inmem__wal_cursor *c, const uint8_t *key, uint32_t klen)
{
    if (c->multi)
        c->p += inmem__wal_enc_delete(c->p, c->version, key, klen);
    else
        c->p += inmem__wal_enc_op_delete(c->p, key, klen);
}

uint64_t inmem__wal_append_end(inmem__wal *w, inmem__wal_cursor *c) INMEM_NO_TSA
{
    if (c->multi) {
        c->p += inmem__wal_enc_commit(c->p, c->version, c->version, c->records);
    } else {
        inmem__wal_enc_txn_end(c->frame, c->p);
        c->p += 4;
    }
    assert((size_t)(c->p - c->frame) == c->total);
    int staged = c->frame != w->map + w->off;
    w->version = c->version;
    w->txn_id = c->version; /* from format 2 on, a transaction's id is its version */
    w->off += c->total;
    uint64_t lsn = w->lsn_base + w->off;
    atomic_store_rlx(&w->bytes, atomic_load_rlx(&w->bytes) + c->total);
    if (staged) { /* in the log buffer: written by the next fsync's leader (or switch) */
        w->stage_len += c->total;
        w->stage_commits++;
        inmem__mutex_unlock(&w->stage_mu);
    } else {
        atomic_store_rel(&w->written_lsn, lsn); /* W2 */
        atomic_store_rel(&w->written_commits, atomic_load_rlx(&w->written_commits) + 1);
        if (w->hook)
            w->hook(w->hook_ctx, 0, w->seq, w->off);
    }
    if (INMEM_UNLIKELY(w->off > atomic_load_rlx(&w->dirty_at)) && w->has_flusher) {
        atomic_store_rlx(&w->dirty_at, UINT64_MAX);
        inmem__mutex_lock(&w->sync_mu);
        w->dirty_win = w->dirty_win >= DIRTY_WINDOW / 2 ? DIRTY_WINDOW : 2 * w->dirty_win;
        w->populate_pending = 1;
        w->kick = 1;
        pthread_cond_signal(&w->flush_cv);
        inmem__mutex_unlock(&w->sync_mu);
    }
    if (INMEM_UNLIKELY(w->off > w->spare_at) && w->has_flusher) {
        w->spare_at = UINT64_MAX; /* once per segment */
        inmem__mutex_lock(&w->sync_mu);
        spare_ask(w);
        w->kick = 1;
        pthread_cond_signal(&w->flush_cv);
        inmem__mutex_unlock(&w->sync_mu);
    }
    if (INMEM_UNLIKELY(atomic_load_rlx(&w->bytes) >= atomic_load_rlx(&w->trigger_at))) {
        atomic_store_rlx(&w->trigger_at, UINT64_MAX);
        w->trigger_fn(w->trigger_ctx);
    }
    return lsn;
}

int inmem__wal_switch(inmem__wal *w, uint64_t *seq)
{
    if (w->cfg.read_only)
        return inmem__error(INMEM_EREADONLY, "the database was opened read-only");
    if (atomic_load_acq(&w->failed))
        return inmem__error(INMEM_EREADONLY, "the log failed earlier (%s); reopen the database",
                            inmem_strerror(atomic_load_rlx(&w->failed)));
    int rc = rotate(w, 0, 1);
    if (rc == 0)
        *seq = w->seq;
    return rc;
}

int inmem__wal_drop_before(inmem__wal *w, uint64_t seq)
{
    /* oldest first: a crash half-way leaves the log a suffix of itself, never one with a gap */
    int rc = 0;
    for (uint64_t s = w->first_seq; s < seq && rc == 0; s++) {
        char path[PATH_MAX_LEN];
        inmem__wal_seg_path(w, s, path, sizeof path);
        int err = w->vfs->unlink(path);
        if (err && err != -ENOENT)
            rc = inmem__wal_io_error(w, err, "remove", s);
        else
            w->first_seq = s + 1;
    }
    if (rc == 0 && (rc = inmem__wal_sync_dir(w)) != 0)
        rc = inmem__error(INMEM_EIO, "fsync of %s failed: %s", inmem__shown(w->dir), strerror(-rc));
    return rc;
}

void inmem__wal_set_trigger(inmem__wal *w, void (*fn)(void *), void *ctx)
{
    w->trigger_fn = fn;
    w->trigger_ctx = ctx;
}

void inmem__wal_arm_trigger(inmem__wal *w, uint64_t bytes)
{
    uint64_t now = atomic_load_rlx(&w->bytes);
    atomic_store_rlx(&w->trigger_at,
                     w->trigger_fn && bytes < UINT64_MAX - now ? now + bytes : UINT64_MAX);
}

uint64_t inmem__wal_bytes(const inmem__wal *w)
{
    return atomic_load_rlx(&((inmem__wal *)w)->bytes);
}

int inmem__wal_commit_wait(inmem__wal *w, uint64_t ticket)
{
    if (w->cfg.max_unsynced && w->cfg.mode != INMEM_DURABILITY_STRICT &&
        atomic_load_rlx(&w->written_commits) - atomic_load_rlx(&w->synced_commits) >
            w->cfg.max_unsynced)
        return sync_to(w, ticket); /* the cap: wait for an fsync, as a strict commit does */
    switch (w->cfg.mode) {
    case INMEM_DURABILITY_STRICT:
        return sync_to(w, ticket);
    case INMEM_DURABILITY_BATCHED:
        if (atomic_fetch_add_explicit(&w->since_kick, 1, memory_order_relaxed) + 1 >=
            w->cfg.sync_commits) {
            atomic_store_rlx(&w->since_kick, 0);
            inmem__mutex_lock(&w->sync_mu);
            w->sync_due = 1;
            w->kick = 1;
            pthread_cond_signal(&w->flush_cv);
            inmem__mutex_unlock(&w->sync_mu);
        }
        return 0;
    default:
        return 0;
    }
}

void inmem__wal_stats(const inmem__wal *w, uint64_t *bytes, uint64_t *syncs,
                      uint64_t *synced_commits)
{
    inmem__wal *m = (inmem__wal *)w;
    *bytes = atomic_load_rlx(&m->bytes);
    *syncs = atomic_load_rlx(&m->syncs);
    *synced_commits = atomic_load_rlx(&m->synced_commits);
}

uint64_t inmem__wal_seq(const inmem__wal *w)
{
    return w->seq;
}

int inmem__wal_spare(inmem__wal *w, uint64_t *seq)
{
    inmem__mutex_lock(&w->sync_mu);
    int st = w->spare_state == SPARE_READY ? 2 : w->spare_state != SPARE_NONE;
    if (st == 2)
        *seq = w->spare_seq;
    inmem__mutex_unlock(&w->sync_mu);
    return st;
}

int inmem__wal_prefault_pending(inmem__wal *w)
{
    inmem__mutex_lock(&w->sync_mu);
    int pending = w->populate_pending;
    inmem__mutex_unlock(&w->sync_mu);
    return pending;
}

uint64_t inmem__wal_wait_timeouts(inmem__wal *w)
{
    inmem__mutex_lock(&w->sync_mu);
    uint64_t n = w->wait_timeouts;
    inmem__mutex_unlock(&w->sync_mu);
    return n;
}

void inmem__wal_set_hook(inmem__wal *w, inmem__wal_hook hook, void *ctx)
{
    w->hook = hook;
    w->hook_ctx = ctx;
}

/* ---- close ------------------------------------------------------------------------------- */

/* After a clean close: the segment's never-written rest is in the page cache as zero pages (the
 * appender's prefault reads ahead of it). Dropped, it reads as a hole again (SEEK_DATA, on file
 * systems that track reserved space), so that the next open's check that nothing follows the
 * close mark skips it instead of reading the whole segment (40-60 ms for 64 MiB here). A hint:
 * failure changes nothing. */
static void drop_rest(inmem__wal *w)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t from = (w->off + page - 1) / page * page;
    if (from >= w->map_len)
        return;
    (void)madvise(w->map + from, (size_t)(w->map_len - from), MADV_DONTNEED);
    (void)posix_fadvise(w->fd, (off_t)from, (off_t)(w->map_len - from), POSIX_FADV_DONTNEED);
}

int inmem__wal_close(inmem__wal *w)
{
    if (!w)
        return 0;
    if (w->has_flusher) {
        inmem__mutex_lock(&w->sync_mu);
        w->stop = 1;
        pthread_cond_signal(&w->flush_cv);
        inmem__mutex_unlock(&w->sync_mu);
        pthread_join(w->flusher, NULL);
    }
    int rc = 0;
    if (w->fd >= 0) {
        if (w->cfg.mode == INMEM_DURABILITY_STRICT)
            (void)drain_stage(w); /* (a failure sets `failed`: sync_to() reports it) */
        rc = sync_to(w, atomic_load_acq(&w->written_lsn));
        if (rc == 0 && atomic_load_rlx(&w->failed))
            rc = INMEM_EIO;
        /* a clean end mark, so that the next open knows every byte before it was synced (room
         * for it is kept: W6); the rest of the segment is dropped from the page cache so that
         * checking that nothing follows the mark costs nothing (drop_rest()) */
        if (rc == 0) {
            assert(w->off + INMEM__WAL_FRAME + INMEM__WAL_CLOSE_LEN + INMEM__WAL_FRAME +
                       INMEM__WAL_NEXT_LEN <=
                   w->map_len); /* W6 */
            w->off += inmem__wal_enc_close(w->map + w->off, w->version, w->txn_id);
            int err = w->vfs->datasync(w->fd);
            if (err)
                rc = inmem__wal_io_error(w, err, "fdatasync", w->seq);
            else
                drop_rest(w);
        }
    }
    inmem__wal_seg_release(w);
    if (w->spare_map) { /* made, never used: not left behind */
        char path[PATH_MAX_LEN];
        inmem__wal_seg_path(w, w->spare_seq, path, sizeof path);
        spare_release(w, w->spare_fd, w->spare_map, w->spare_len);
        (void)w->vfs->unlink(path);
    }
    if (w->lock_fd >= 0)
        w->vfs->close(w->lock_fd); /* releases the flock */
    pthread_cond_destroy(&w->sync_cv);
    pthread_cond_destroy(&w->flush_cv);
    inmem__mutex_destroy(&w->sync_mu);
    inmem__mutex_destroy(&w->stage_mu);
    free(w->stage[0]);
    free(w->stage[1]);
    free(w->dir);
    free(w);
    return rc;
}
