/*
 * report.h — what the comparison prints (report.c): the header, one block per line, and the
 * summary against the targets. Used by main (compare.c).
 */
#ifndef INMEM_COMPARE_REPORT_H
#define INMEM_COMPARE_REPORT_H

/**
 * Prints the run's header: date, machine, package and library versions, settings, each
 * engine's durability mapping, and this disk's serial fdatasync rate, measured in @p root.
 */
void report_header(const char *root);

/** Prints the block of line @p line from g_res (nothing if no engine measured it). */
void report_line(int line);

/** Prints inmem against the best other engine on every line it ran, with the targets met. */
void report_summary(void);

#endif
