/*
 * vfs.c — the POSIX file layer (see vfs.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/vfs.h"

static int neg(void)
{
    return errno ? -errno : -EIO;
}

static int p_open(const char *path, int flags, int mode)
{
    int fd;
    do
        fd = open(path, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return fd < 0 ? neg() : fd;
}

static int p_close(int fd)
{
    return close(fd) == 0 ? 0 : neg();
}

static int p_allocate(int fd, uint64_t len)
{
    int rc;
    while ((rc = posix_fallocate(fd, 0, (off_t)len)) == EINTR)
        ;
    return rc == 0 ? 0 : -rc;
}

static int p_truncate(int fd, uint64_t len)
{
    return ftruncate(fd, (off_t)len) == 0 ? 0 : neg();
}

static int p_datasync(int fd)
{
    return fdatasync(fd) == 0 ? 0 : neg();
}

static int p_sync(int fd)
{
    return fsync(fd) == 0 ? 0 : neg();
}

static int p_map(int fd, uint64_t len, int writable, void **out)
{
    void *p = mmap(NULL, (size_t)len, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                   writable ? MAP_SHARED : MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return neg();
    *out = p;
    return 0;
}

static int p_unmap(void *p, uint64_t len)
{
    return munmap(p, (size_t)len) == 0 ? 0 : neg();
}

static int64_t p_pwrite(int fd, const void *buf, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? neg() : -EIO;
        done += (size_t)w;
    }
    return (int64_t)done;
}

static int64_t p_pread(int fd, void *buf, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return neg();
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (int64_t)done;
}

static int p_size(int fd, uint64_t *out)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return neg();
    *out = (uint64_t)st.st_size;
    return 0;
}

static int p_lock(int fd, int shared)
{
    return flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0 ? 0 : neg();
}

static int p_rename(const char *from, const char *to)
{
    return rename(from, to) == 0 ? 0 : neg();
}

static int p_mkdir(const char *path, int mode)
{
    return mkdir(path, (mode_t)mode) == 0 ? 0 : neg();
}

static int p_seek(int fd, uint64_t off, int whence, uint64_t *out)
{
    off_t r = lseek(fd, (off_t)off, whence);
    if (r < 0)
        return neg();
    *out = (uint64_t)r;
    return 0;
}

static int p_unlink(const char *path)
{
    return unlink(path) == 0 ? 0 : neg();
}

static int p_list(const char *dir, int (*fn)(void *ctx, const char *name), void *ctx)
{
    DIR *d = opendir(dir);
    if (!d)
        return neg();
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            rc = fn(ctx, e->d_name);
    if (rc == 0 && errno)
        rc = neg();
    closedir(d);
    return rc;
}

static int p_regular(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return neg();
    return S_ISREG(st.st_mode) ? 1 : 0;
}

const inmem__vfs inmem__vfs_posix = {
    .open = p_open,
    .close = p_close,
    .allocate = p_allocate,
    .truncate = p_truncate,
    .datasync = p_datasync,
    .sync = p_sync,
    .map = p_map,
    .unmap = p_unmap,
    .pwrite = p_pwrite,
    .pread = p_pread,
    .size = p_size,
    .lock = p_lock,
    .rename = p_rename,
    .mkdir = p_mkdir,
    .seek = p_seek,
    .unlink = p_unlink,
    .list = p_list,
    .regular = p_regular,
};

static _Atomic(const inmem__vfs *) current = &inmem__vfs_posix;

const inmem__vfs *inmem__vfs_get(void)
{
    return atomic_load_explicit(&current, memory_order_acquire);
}

void inmem__vfs_set(const inmem__vfs *vfs)
{
    atomic_store_explicit(&current, vfs ? vfs : &inmem__vfs_posix, memory_order_release);
}

int inmem__vfs_sync_dir(const inmem__vfs *vfs, const char *dir)
{
    int fd = vfs->open(dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    int rc = vfs->sync(fd);
    vfs->close(fd);
    return rc;
}

int inmem__vfs_dropped_name(const inmem__vfs *vfs, const char *path, char *out, size_t cap)
{
    for (unsigned n = 1; n < 100000; n++) {
        int len = n == 1 ? snprintf(out, cap, "%s.dropped", path)
                         : snprintf(out, cap, "%s.dropped.%u", path, n);
        if (len < 0 || (size_t)len >= cap)
            return -ENAMETOOLONG;
        int fd = vfs->open(out, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0); /* (a FIFO: no wait) */
        if (fd == -ENOENT)
            return 0;
        if (fd >= 0)
            vfs->close(fd);
        else if (fd != -ELOOP) /* (a symbolic link of that name: taken too) */
            return fd;
    }
    return -EEXIST;
}

int inmem__vfs_sync_parent(const inmem__vfs *vfs, const char *path)
{
    char parent[4200];
    size_t n = strlen(path);
    if (n >= sizeof parent)
        return -ENAMETOOLONG;
    memcpy(parent, path, n + 1);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    return inmem__vfs_sync_dir(vfs, parent);
}
