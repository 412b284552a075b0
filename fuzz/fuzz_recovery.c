/*
 * fuzz_recovery.c — libFuzzer driver for the log decoder and recovery (`make fuzz`).
 */
#include "fuzz/recovery_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    inmem_fuzz_recovery(data, size);
    return 0;
}
