/*
 * fsutil.c — file-system helpers shared by the tests, the fuzz target and the benchmarks.
 */
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int inmem_file_holds(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t nl = strlen(needle), cap = 1 << 16, have = 0;
    if (nl == 0) { /* (every file holds nothing; and the window below keeps nl - 1 bytes) */
        fclose(f);
        return 1;
    }
    char *buf = malloc(cap + nl);
    int found = 0;
    while (buf && !found) { /* a window of the file, with its last nl - 1 bytes carried over */
        size_t got = fread(buf + have, 1, cap, f);
        if (got == 0)
            break;
        have += got;
        for (size_t i = 0; i + nl <= have && !found; i++)
            found = memcmp(buf + i, needle, nl) == 0;
        size_t keep = have < nl ? have : nl - 1;
        memmove(buf, buf + have - keep, keep);
        have = keep;
    }
    free(buf);
    fclose(f);
    return found;
}

int inmem_any_file_holds(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            found = inmem_file_holds(path, needle);
    }
    closedir(d);
    return found;
}
