/* image_target.h — see image_target.c. */
#ifndef INMEM_FUZZ_IMAGE_TARGET_H
#define INMEM_FUZZ_IMAGE_TARGET_H

#include <stddef.h>
#include <stdint.h>

/* Opens a database directory holding the input as a checkpoint image (the first byte chooses the
 * options, see image_target.c); 0 when the input was exercised, -1 on a setup failure. Aborts if
 * the open misbehaves (an unexpected error, or an opened database that fails). */
int inmem_fuzz_image(const uint8_t *data, size_t size);
/* Removes the template directories the target made on its first call (atexit does it too). */
void inmem_fuzz_image_cleanup(void);

#endif
