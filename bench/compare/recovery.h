/*
 * recovery.h — the recovery lines, W7 (recovery.c). Used by the report (report.c) and main
 * (compare.c).
 */
#ifndef INMEM_COMPARE_RECOVERY_H
#define INMEM_COMPARE_RECOVERY_H

#include <stdint.h>

/** Commits the writer makes before the reopen (--w7-commits; set by main). */
extern uint64_t g_w7_commits;
/** Bytes of log inmem replayed on W7-clean (0 if not measured): the replay rate's numerator. */
extern uint64_t g_w7_log_bytes;

/**
 * Runs W7 line @p line (L_W7C: the writer closes cleanly; L_W7K with @p killed set: it is
 * killed with SIGKILL after its last commit) on every engine of the run, into g_res. Does
 * nothing if the line is not selected.
 */
void recovery_line(int line, int killed, const char *root);

/**
 * The writer process of W7 (inmem_compare --w7-writer ENGINE DIR COUNT close|kill): COUNT
 * commits into DIR, then a clean close or a wait for the parent's SIGKILL. Returns the exit
 * status.
 */
int recovery_writer_main(const char *engine, const char *dir, const char *count, const char *mode);

#endif
