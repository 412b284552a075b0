/*
 * fsutil.h — file-system helpers shared by the tests, the fuzz target and the benchmarks (no
 * test framework needed): removing a directory tree.
 */
#ifndef INMEM_TESTS_FSUTIL_H
#define INMEM_TESTS_FSUTIL_H

/* Removes @p dir and everything under it (symbolic links are removed, not followed). Errors are
 * ignored: a leftover temporary directory is not a failure. */
void inmem_rm_tree(const char *dir);

#endif
