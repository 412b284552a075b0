/*
 * vfs.h — every file operation the library performs goes through this table, so that tests can
 * swap in a layer that fails chosen calls (a full disk, an fsync error) and check that the
 * error surfaces and nothing acknowledged is lost. Calls return 0 (or a count, a descriptor)
 * on success and a negative errno on failure.
 */
#ifndef INMEM_CORE_VFS_H
#define INMEM_CORE_VFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct inmem__vfs {
    int (*open)(const char *path, int flags, int mode); /* a descriptor, or -errno */
    int (*close)(int fd);
    int (*allocate)(int fd, uint64_t len); /* make [0, len) allocated on disk (no ENOSPC later) */
    int (*truncate)(int fd, uint64_t len);
    int (*datasync)(int fd);                                    /* fdatasync */
    int (*sync)(int fd);                                        /* fsync (directories) */
    int (*map)(int fd, uint64_t len, int writable, void **out); /* shared mapping */
    int (*unmap)(void *p, uint64_t len);
    int64_t (*pwrite)(int fd, const void *buf, size_t n, uint64_t off);
    int64_t (*pread)(int fd, void *buf, size_t n, uint64_t off);
    int (*size)(int fd, uint64_t *out);
    int (*lock)(int fd, int shared); /* advisory lock (flock), no wait: -EWOULDBLOCK if held */
    int (*rename)(const char *from, const char *to);
    int (*mkdir)(const char *path, int mode); /* 0 if created; -EEXIST if it exists */
    /* lseek with SEEK_DATA / SEEK_HOLE: the next data (or hole) offset >= off into *out;
     * -ENXIO if there is no data after off. Lets recovery skip reserved, never-written space. */
    int (*seek)(int fd, uint64_t off, int whence, uint64_t *out);
    int (*unlink)(const char *path);
    /* Calls @p fn with the name of each entry of directory @p dir but "." and ".."; stops at
     * fn's first non-zero result and returns it. -errno if the directory cannot be read. */
    int (*list)(const char *dir, int (*fn)(void *ctx, const char *name), void *ctx);
    int (*regular)(int fd); /* 1 if @p fd is a regular file, 0 if not, -errno */
} inmem__vfs;

/* The table in use (the POSIX one unless a test set another). */
const inmem__vfs *inmem__vfs_get(void);
/* Tests: use @p vfs from now on (NULL restores the POSIX table). */
void inmem__vfs_set(const inmem__vfs *vfs);
/* The POSIX implementation, for wrappers to delegate to. */
extern const inmem__vfs inmem__vfs_posix;
/* Fsyncs directory @p dir through @p vfs (its entries: files created, renamed, removed in it):
 * 0 or -errno. */
int inmem__vfs_sync_dir(const inmem__vfs *vfs, const char *dir);
/* The name a file at @p path is set aside under (a repair's, a fallback's): "<path>.dropped", or
 * "<path>.dropped.N" (N = 2, 3, ...) if that one is taken, so that a file set aside earlier (a
 * segment number used again after a repair cut the log) is never replaced. 0 or -errno. */
int inmem__vfs_dropped_name(const inmem__vfs *vfs, const char *path, char *out, size_t cap);
/* Fsyncs the directory that holds @p path (after @p path itself was created in it, so that its
 * entry survives a machine crash): 0 or -errno. */
int inmem__vfs_sync_parent(const inmem__vfs *vfs, const char *path);

#endif
