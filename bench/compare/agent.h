/*
 * agent.h — the agent workloads of the comparison, for inmem alone (agent.c). Used by main
 * (compare.c).
 */
#ifndef INMEM_COMPARE_AGENT_H
#define INMEM_COMPARE_AGENT_H

/** Runs the agent lines and prints their block; databases in fresh directories under @p root. */
void agent_workloads(const char *root);

#endif
