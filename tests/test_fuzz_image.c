/*
 * test_fuzz_image.c — replays the checkpoint image fuzz corpus (fuzz/corpus-image) through the
 * image fuzz target's body (fuzz/image_target.c), so that every input that ever found a bug, and
 * the seeds, are checked on every test run.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "fuzz/image_target.h"

static void fuzz_image_corpus_replays_without_crash(void **state)
{
    (void)state;
    DIR *d = opendir("fuzz/corpus-image");
    if (!d)
        fail_msg("fuzz/corpus-image not found: run the tests from the repository root");
    struct dirent *e;
    int files = 0;
    uint8_t *buf = malloc(1 << 20);
    assert_non_null(buf);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "fuzz/corpus-image/%s", e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t n = fread(buf, 1, 1 << 20, f);
        fclose(f);
        if (inmem_fuzz_image(buf, n) != 0)
            fail_msg("image fuzz target could not set up for %s", path);
        files++;
    }
    closedir(d);
    free(buf);
    inmem_fuzz_image_cleanup();
    assert_true(files >= 5);
}

const struct CMUnitTest fuzz_image_tests[] = {
    cmocka_unit_test(fuzz_image_corpus_replays_without_crash),
};
INMEM_TEST_COUNT(fuzz_image);
