/* recovery_target.h — see recovery_target.c. */
#ifndef INMEM_FUZZ_RECOVERY_TARGET_H
#define INMEM_FUZZ_RECOVERY_TARGET_H

#include <stddef.h>
#include <stdint.h>

/* Decodes and recovers a segment body; 0 when the input was exercised, -1 on a setup failure.
 * Aborts if recovery misbehaves (an unexpected error, or an opened database that fails). */
int inmem_fuzz_recovery(const uint8_t *data, size_t size);

#endif
