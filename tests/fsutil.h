/*
 * fsutil.h — file-system helpers shared by the tests, the fuzz target and the benchmarks (no
 * test framework needed): removing a directory tree, looking for bytes in files.
 */
#ifndef INMEM_TESTS_FSUTIL_H
#define INMEM_TESTS_FSUTIL_H

/* Removes @p dir and everything under it (symbolic links are removed, not followed). Errors are
 * ignored: a leftover temporary directory is not a failure. */
void inmem_rm_tree(const char *dir);

/* 1 if file @p path holds the bytes of @p needle (0 if it does not, or cannot be read). */
int inmem_file_holds(const char *path, const char *needle);
/* 1 if any file directly in @p dir holds the bytes of @p needle. */
int inmem_any_file_holds(const char *dir, const char *needle);

#endif
