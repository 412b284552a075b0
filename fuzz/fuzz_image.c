/*
 * fuzz_image.c — libFuzzer driver for checkpoint images and their recovery (`make fuzz`).
 */
#include "fuzz/image_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    inmem_fuzz_image(data, size);
    return 0;
}
