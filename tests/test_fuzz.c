/*
 * test_fuzz.c — replays the fuzz corpus (fuzz/corpus) through the fuzz target's body, so that
 * every input that ever found a bug, and the seeds, are checked on every test run.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "fuzz/recovery_target.h"

static void fuzz_corpus_replays_without_crash(void **state)
{
    (void)state;
    DIR *d = opendir("fuzz/corpus");
    if (!d)
        fail_msg("fuzz/corpus not found: run the tests from the repository root");
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "fuzz/corpus/%s", e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        uint8_t *buf = malloc(1 << 20);
        size_t n = fread(buf, 1, 1 << 20, f);
        fclose(f);
        if (inmem_fuzz_recovery(buf, n) != 0)
            fail_msg("fuzz target could not set up for %s", path);
        free(buf);
        files++;
    }
    closedir(d);
    assert_true(files >= 5);
}

const struct CMUnitTest fuzz_tests[] = {
    cmocka_unit_test(fuzz_corpus_replays_without_crash),
};
INMEM_TEST_COUNT(fuzz);
