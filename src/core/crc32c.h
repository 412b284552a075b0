/*
 * crc32c.h — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every log
 * record. Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run time) and a
 * portable table-driven loop otherwise; both give identical results.
 */
#ifndef INMEM_CORE_CRC32C_H
#define INMEM_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends @p crc (0 for a fresh checksum) over @p n bytes. */
uint32_t inmem__crc32c(uint32_t crc, const void *data, size_t n);
/* The portable implementation, exposed so that tests can compare both paths. */
uint32_t inmem__crc32c_portable(uint32_t crc, const void *data, size_t n);
/* 1 if the hardware path is in use. */
int inmem__crc32c_hw(void);

#endif
