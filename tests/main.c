/*
 * main.c — the test runner: gathers every group's tests into one cmocka run (so that the output
 * ends with one summary line for the whole suite) and keeps the ones whose name matches the
 * optional glob given as the first argument, e.g. `inmem_tests 'wal_recovery_*'`. Every test is
 * named <group>_<function> (the function's name alone when it already starts with its group, and
 * wal_codec_x for a function codec_x of group wal_codec), so a glob on a group's prefix selects
 * that group. `inmem_tests --process NAME` runs one of the scenarios that need a process of
 * their own (test_in_new_process()) instead.
 */
#include <dirent.h>
#include <fnmatch.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "test.h"
#include "tests/fsutil.h"

/* clang-format off */
#define GROUPS(X)                                                                                  \
    X(core) X(txn_rules) X(storage) X(engine) X(bad_input) X(concurrency) X(fuzz) X(fuzz_image)   \
    X(state) X(kv) X(events) X(runs) X(traces) X(cross) X(checkpoint) X(wal_codec) X(wal_log) X(wal_recovery) X(crash) X(alloc) \
    X(crashpoints) X(api_errors) X(history) X(gc)
/* clang-format on */

#define DECLARE(name)                                                                              \
    extern const struct CMUnitTest name##_tests[];                                                 \
    extern const size_t name##_count;
GROUPS(DECLARE)

uint64_t test_seed(const char *test_name)
{
    const char *env = getenv("INMEM_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)clock();
    if (seed == 0)
        seed = 1;
    printf("[ SEED     ] %s: INMEM_TEST_SEED=%llu\n", test_name, (unsigned long long)seed);
    return seed;
}

uint64_t test_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

inmem_db *test_open_mem(void)
{
    inmem_db *db = NULL;
    inmem_options o;
    inmem_options_init(&o);
    o.durability = INMEM_DURABILITY_NONE;
    assert_ok(inmem_db_open(NULL, &o, &db));
    assert_non_null(db);
    return db;
}

void test_tmpdir(char *buf)
{
    strcpy(buf, "/tmp/inmem-test-XXXXXX");
    assert_non_null(mkdtemp(buf));
}

void test_rmdir(const char *dir)
{
    inmem_rm_tree(dir);
}

inmem_txn *test_begin(inmem_db *db)
{
    inmem_txn *t = NULL;
    assert_ok(inmem_txn_begin(db, &t));
    assert_non_null(t);
    return t;
}

inmem_stats test_stats(inmem_db *db)
{
    inmem_stats s;
    memset(&s, 0xab, sizeof(s)); /* a field the library does not fill shows */
    assert_ok(inmem_db_stats(db, &s));
    return s;
}

int test_in_new_process(const char *name)
{
    char *argv[] = {(char *)"inmem_tests", (char *)"--process", (char *)name, NULL};
    pid_t pid;
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ) != 0)
        return -1;
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int test_process(const char *name)
{
    if (strcmp(name, "valloc-fork") == 0)
        return test_process_valloc_fork();
    fprintf(stderr, "no process '%s'\n", name);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--process") == 0)
        return test_process(argv[2]);
    const char *glob = argc > 1 ? argv[1] : NULL;
    int list = glob && strcmp(glob, "--list") == 0; /* print the names, run nothing */
    struct {
        const struct CMUnitTest *tests;
        size_t n;
        const char *name;
    } groups[] = {
#define ENTRY(name) {name##_tests, 0, #name},
        GROUPS(ENTRY)
#undef ENTRY
    };
    size_t ng = sizeof(groups) / sizeof(groups[0]), total = 0, k = 0;
#define COUNT(name) groups[k++].n = name##_count;
    GROUPS(COUNT)
#undef COUNT
    for (size_t i = 0; i < ng; i++)
        total += groups[i].n;
    struct CMUnitTest *all = calloc(total ? total : 1, sizeof(*all));
    char **names = calloc(total ? total : 1, sizeof(*names));
    if (!all || !names)
        return 2;
    size_t n = 0;
    for (size_t i = 0; i < ng; i++)
        for (size_t j = 0; j < groups[i].n; j++) {
            const struct CMUnitTest *t = &groups[i].tests[j];
            /* group kv: kv_x stays, x becomes kv_x; group wal_log: log_x becomes wal_log_x */
            const char *g = groups[i].name, *last = strrchr(g, '_');
            size_t gl = strlen(g);
            char *name = malloc(gl + strlen(t->name) + 2);
            if (!name)
                return 2;
            if (strncmp(t->name, g, gl) == 0 && t->name[gl] == '_')
                sprintf(name, "%s", t->name);
            else if (last && strncmp(t->name, last + 1, strlen(last + 1)) == 0 &&
                     t->name[strlen(last + 1)] == '_')
                sprintf(name, "%.*s%s", (int)(last + 1 - g), g, t->name);
            else
                sprintf(name, "%s_%s", g, t->name);
            if (list) {
                printf("%s\n", name);
                free(name);
            } else if (!glob || fnmatch(glob, name, 0) == 0) {
                all[n] = *t;
                all[n].name = name;
                names[n++] = name;
            } else {
                free(name);
            }
        }
    if (list) {
        free(all);
        free(names);
        return 0;
    }
    if (n == 0) {
        fprintf(stderr, "no test matches '%s'\n", glob);
        free(all);
        free(names);
        return 2;
    }
    int failed = _cmocka_run_group_tests("inmem", all, n, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(all);
    return failed ? 1 : 0;
}
