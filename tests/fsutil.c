/*
 * fsutil.c — file-system helpers shared by the tests, the fuzz target and the benchmarks.
 */
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "tests/fsutil.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void inmem_rm_tree(const char *dir)
{
    if (dir && *dir)
        nftw(dir, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}
