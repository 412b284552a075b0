# inmem — build, test, benchmark, install.
#
#   make deps               install what building and testing need (Debian packages: xxHash,
#                           cmocka, libedit, jansson, python3, and what the bindings need); the
#                           README's two commands run it first; compiling installs nothing but
#                           what it compiles against, when missing: libxxhash-dev for every
#                           build of the library, libedit-dev and libjansson-dev for the CLI's
#   make                    static + shared library in build/
#   make test               deps, then every test: the cmocka suite (built in build-check/ with
#                           internal assertions on and LeakSanitizer), the CLI end to end, and the
#                           language bindings' tests
#   make test SAN=address   the cmocka suite and the CLI under AddressSanitizer + UBSan (+ LSan)
#   make test SAN=thread    the same under ThreadSanitizer
#   make test TESTS=glob    only the cmocka tests whose name matches the glob: every test is named
#                           <group>_<behaviour>, e.g. TESTS='wal_*', TESTS='txn_rules_rule4*'
#   make demo               the main job: the multi-agent demo on ./agents-data, then the CLI on it
#   make quickstart         the small example (examples/quickstart.c) on ./inmem-data
#   make tools              build/inmem (the CLI) and build/examples/agents (the demo)
#   make test-cli           the CLI's end-to-end tests (tests/cli/run.sh)
#   make fuzz               libFuzzer on the log decoder and recovery, then on checkpoint images
#                           (FUZZ_SECONDS=30 in all, half each); make fuzz-recovery, fuzz-image:
#                           one of them for FUZZ_SECONDS
#   make bench              inmem's benchmark tables, then the comparison with RocksDB, LMDB,
#                           SQLite, WiredTiger and Redis (installs them when missing); FULL=1
#   make bench-seed         the original plan's targets alone (issue 14 items 5 and 6: commit
#                           latency by read-set size, txn/s, reads, conflicts, begin, validation);
#                           a few seconds, FULL=1 about a minute (make bench runs them too)
#   make bench-history      the history benchmarks (issue 13), against the library before
#                           history (HB_BASE, built from git into build/hb-base/); ~2 minutes;
#                           make bench-history-ir: its target 1 in instructions (callgrind)
#   make install PREFIX=/usr/local, make uninstall PREFIX=/usr/local
#   make check-exports      the shared library exports only inmem_* symbols
#   make WERROR=1 ...       warnings are errors (CI)
#   make DEBUG=1 ...        keep internal assertions in the optimised build
#   make CC=clang ...       any C11 compiler; clang adds -Wthread-safety

CC      ?= cc
PREFIX  ?= /usr/local
SAN     ?=
WERROR  ?=
TESTS   ?=

# SAN=check is what make test uses: the optimised build with assertions on and LeakSanitizer.
ifeq ($(SAN),)
BUILD   := build
OPT     ?= -O2
else ifeq ($(SAN),check)
BUILD   := build-check
OPT     ?= -O2
else
BUILD   := build-$(SAN)
OPT     ?= -O1
endif

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
           -Wformat=2 -Wvla
ifneq ($(WERROR),)
WARN    += -Werror
endif
ifneq ($(findstring clang,$(shell $(CC) --version 2>/dev/null | head -1)),)
WARN    += -Wthread-safety
endif

SANFLAGS :=
ifeq ($(SAN),address)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
endif
ifeq ($(SAN),thread)
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
endif
ifeq ($(SAN),check)
SANFLAGS := -fsanitize=leak
endif

# Internal assertions (assert(): invariants, debug-only; see CONTRIBUTING.md) are on in the
# sanitizer and check builds and with DEBUG=1, off in the default optimised build: some check
# memory a hot path would not touch.
DEBUG   ?=
ifeq ($(SAN)$(DEBUG),)
NDEBUG_FLAG := -DNDEBUG
endif

CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(SANFLAGS) $(NDEBUG_FLAG) -fPIC -Iinclude -Isrc
LDFLAGS += $(SANFLAGS)
LIBS    := -lxxhash -lpthread
# The library's own objects hide every symbol but the public API (inmem.h marks it default).
LIB_CFLAGS := -fvisibility=hidden

# Dependency targets (each installs Debian packages when missing); fragments add theirs.
DEPS_TARGETS := deps-lib deps-test

LIB_SRC := $(wildcard src/core/*.c src/storage/*.c src/wal/*.c src/checkpoint/*.c src/txn/*.c \
                      src/engine/*.c src/primitives/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/*.c) fuzz/recovery_target.c fuzz/image_target.c
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
# bench_history.c is a program of its own (make bench-history).
BENCH_SRC := $(filter-out bench/bench_history.c,$(wildcard bench/*.c)) tests/fsutil.c

VERSION := $(shell sed -n 's/^\#define INMEM_VERSION_STRING "\(.*\)"/\1/p' include/inmem.h)

.PHONY: all lib deps test test-c bench bench-seed bench-history bench-history-ir hb-base demo quickstart fuzz fuzz-recovery fuzz-image install uninstall check-exports \
        clean format format-check deps-test deps-lib

all: lib

lib: $(BUILD)/libinmem.a $(BUILD)/libinmem.so

# The library's one dependency beyond libc and pthreads: xxHash (event hash chains).
deps-lib:
	@scripts/ensure-packages libxxhash-dev

# Every build of the library (make lib, the benchmarks, the bindings) installs it first.
$(LIB_OBJ): | deps-lib

$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libinmem.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libinmem.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libinmem.so.0 $(LDFLAGS) -o $@ $^ $(LIBS)

# The shared library exports exactly the functions inmem.h declares: nothing internal (inmem__*)
# leaks out, and nothing declared is missing.
check-exports: $(BUILD)/libinmem.so
	@nm -D --defined-only $(BUILD)/libinmem.so | awk '{print $$3}' | sort -u > $(BUILD)/exports.txt
	@grep -oE '\binmem_[a-z0-9_]+\(' include/inmem.h | tr -d '(' | sort -u > $(BUILD)/declared.txt
	@if ! cmp -s $(BUILD)/exports.txt $(BUILD)/declared.txt; then \
	    echo "libinmem.so exports (>) differ from inmem.h's functions (<):"; \
	    diff $(BUILD)/declared.txt $(BUILD)/exports.txt; exit 1; fi
	@echo "check-exports: libinmem.so exports the $$(wc -l < $(BUILD)/exports.txt) functions of inmem.h, nothing else"

# ---- tests -------------------------------------------------------------------------------------

deps-test: deps-lib
	@scripts/ensure-packages libcmocka-dev python3

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I. -MMD -MP -c $< -o $@

$(BUILD)/fuzz/%.o: fuzz/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I. -MMD -MP -c $< -o $@

# The library's allocations go through the failing allocator of tests/test_alloc.c, and its
# thread starts through a wrapper there that notes their signal mask.
TEST_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=inmem__valloc
TEST_WRAP += -Wl,--wrap=pthread_create
# A hook of tests/test_history.c runs where the engine's own transactions begin.
TEST_WRAP += -Wl,--wrap=inmem__txn_begin_own

$(BUILD)/inmem_tests: $(TEST_OBJ) $(BUILD)/libinmem.a
	$(CC) $(LDFLAGS) $(TEST_WRAP) -o $@ $(TEST_OBJ) $(BUILD)/libinmem.a -lcmocka $(LIBS)

# make test: deps, then the cmocka suite and (unless TESTS selects cmocka tests) the CLI end to
# end, in build-check/ (assertions, leak checks) or in the SAN build asked for; then the
# bindings' tests against the plain build.
ifeq ($(SAN),)
test: deps
	$(MAKE) --no-print-directory test-c SAN=check
ifeq ($(TESTS),)
	$(MAKE) --no-print-directory check-exports
	$(if $(BINDING_TESTS),$(MAKE) --no-print-directory $(BINDING_TESTS))
endif
else
test: deps test-c
endif

test-c: $(BUILD)/inmem_tests
	@scripts/check-contract-tests $(BUILD)/inmem_tests
	@scripts/check-api-errors
	$(BUILD)/inmem_tests $(TESTS)
ifeq ($(TESTS),)
	$(MAKE) --no-print-directory test-cli
endif

# ---- fuzzing (clang + libFuzzer) ---------------------------------------------------------------
# make fuzz FUZZ_SECONDS=30: runs the log decoder/recovery target from its seed corpus, then the
# checkpoint image target from its own, each for half the time; a crash or sanitizer finding
# fails the run and leaves the input in build-fuzz/ (add it to fuzz/corpus, or
# fuzz/corpus-image). make fuzz-recovery or fuzz-image runs one target for FUZZ_SECONDS.

FUZZ_SECONDS ?= 30
FUZZ_HALF    := $(shell s=$$(( ($(FUZZ_SECONDS) + 1) / 2 )); echo $$(( s > 0 ? s : 1 )))
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Isrc -I. \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_RUN   := -timeout=10 -rss_limit_mb=2048

build-fuzz/fuzz_recovery: $(LIB_SRC) fuzz/recovery_target.c fuzz/fuzz_recovery.c tests/fsutil.c
	@mkdir -p build-fuzz/corpus
	clang $(FUZZ_FLAGS) -o $@ $^ -lxxhash -lpthread

build-fuzz/fuzz_image: $(LIB_SRC) fuzz/image_target.c fuzz/fuzz_image.c tests/fsutil.c
	@mkdir -p build-fuzz/corpus-image
	clang $(FUZZ_FLAGS) -o $@ $^ -lxxhash -lpthread

fuzz: build-fuzz/fuzz_recovery build-fuzz/fuzz_image
	$(MAKE) --no-print-directory fuzz-recovery fuzz-image FUZZ_SECONDS=$(FUZZ_HALF)

fuzz-recovery: build-fuzz/fuzz_recovery
	cd build-fuzz && ./fuzz_recovery -max_total_time=$(FUZZ_SECONDS) $(FUZZ_RUN) corpus ../fuzz/corpus

fuzz-image: build-fuzz/fuzz_image
	cd build-fuzz && ./fuzz_image -max_total_time=$(FUZZ_SECONDS) $(FUZZ_RUN) corpus-image \
	    ../fuzz/corpus-image

# ---- benchmarks --------------------------------------------------------------------------------

$(BUILD)/inmem_bench: $(BENCH_SRC) bench/bench.h $(BUILD)/libinmem.a
	$(CC) $(CFLAGS) -I. -o $@ $(BENCH_SRC) $(BUILD)/libinmem.a $(LIBS) -lm

# make bench: inmem's own tables, then the side-by-side comparison (bench/compare/compare.mk);
# FULL=1 for the long versions. Quick: about 4 minutes in all.
bench: deps-lib
	$(MAKE) --no-print-directory $(BUILD)/inmem_bench
	$(BUILD)/inmem_bench $(if $(filter-out 0,$(FULL)),--full) $(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-compare

# make bench-seed: the seed's targets alone (bench/bench_seed.c; inmem_bench runs them last).
bench-seed: deps-lib
	$(MAKE) --no-print-directory $(BUILD)/inmem_bench
	$(BUILD)/inmem_bench --seed $(if $(filter-out 0,$(FULL)),--full)

# make bench-history: the history benchmarks of issue 13 (bench/bench_history.c). Target 1
# compares this build with the library before history: HB_BASE (a commit) is extracted with
# git archive into $(BUILD)/hb-base/tree, its library built there with its own Makefile (the same
# flags), and the same bench source linked to it with -DHB_BASELINE. Outside a git checkout
# that step is skipped and so is target 1. HB_ARGS: e.g. --rounds 7 --ms 1000 --only 3,6.
# The baseline gets later fixes unrelated to history backported (bench/hb_base_backport.sh), so
# that target 1 measures what history costs, not what those fixes saved.
HB_BASE  ?= 3e9c182^
HB_ARGS  ?=
HB_IR_OPS ?= 100000
HB_DIR   := $(BUILD)/hb-base
HB_WRAP  := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=free

$(BUILD)/bench_history: bench/bench_history.c $(BUILD)/libinmem.a
	$(CC) $(CFLAGS) -I. $(HB_WRAP) -o $@ bench/bench_history.c $(BUILD)/libinmem.a $(LIBS) -lm

# The baseline, rebuilt when HB_BASE names another commit or the bench source changes.
hb-base: bench/bench_history.c
	@set -e; c=$$(git rev-parse --verify -q '$(HB_BASE)^{commit}' 2>/dev/null) || { \
	    echo "bench-history: no git commit $(HB_BASE): target 1 is skipped"; rm -f $(HB_DIR)/bench_history_base; exit 0; }; \
	if [ "$$(cat $(HB_DIR)/commit 2>/dev/null)" != "$$c+slots" ]; then \
	    rm -rf $(HB_DIR); mkdir -p $(HB_DIR)/tree; \
	    git archive "$$c" | tar -x -C $(HB_DIR)/tree; \
	    bench/hb_base_backport.sh $(HB_DIR)/tree; \
	    echo "$$c+slots" > $(HB_DIR)/commit; fi; \
	$(MAKE) --no-print-directory -C $(HB_DIR)/tree build/libinmem.a CC='$(CC)' OPT='$(OPT)'; \
	if [ ! -x $(HB_DIR)/bench_history_base ] || [ bench/bench_history.c -nt $(HB_DIR)/bench_history_base ] \
	    || [ $(HB_DIR)/tree/build/libinmem.a -nt $(HB_DIR)/bench_history_base ]; then \
	    echo "$(CC) ... -DHB_BASELINE -o $(HB_DIR)/bench_history_base (library of $$c)"; \
	    $(CC) -I$(HB_DIR)/tree/include $(CFLAGS) -DHB_BASELINE $(HB_WRAP) -o $(HB_DIR)/bench_history_base \
	        bench/bench_history.c $(HB_DIR)/tree/build/libinmem.a $(LIBS) -lm; fi

bench-history: deps-lib
	$(MAKE) --no-print-directory $(BUILD)/bench_history hb-base
	@label="$$(git describe --always --dirty 2>/dev/null || echo unknown)"; \
	if [ -x $(HB_DIR)/bench_history_base ]; then \
	    blabel="$$(git rev-parse --short '$(HB_BASE)' 2>/dev/null) ($(HB_BASE))"; \
	    echo "$(BUILD)/bench_history --label $$label --base $(HB_DIR)/bench_history_base $(HB_ARGS)"; \
	    $(BUILD)/bench_history --label "$$label" --base $(HB_DIR)/bench_history_base \
	        --base-label "$$blabel" $(HB_ARGS); \
	else \
	    echo "$(BUILD)/bench_history --label $$label $(HB_ARGS)"; \
	    $(BUILD)/bench_history --label "$$label" $(HB_ARGS); fi

# make bench-history-ir: target 1 counted instead of timed: both builds under callgrind
# (instructions and simulated cache misses per operation; under a minute).
bench-history-ir: deps-lib
	$(MAKE) --no-print-directory $(BUILD)/bench_history hb-base
	@[ -x $(HB_DIR)/bench_history_base ] || { echo "bench-history-ir: no baseline build"; exit 1; }
	bench/history_ir.sh $(HB_DIR)/bench_history_base $(BUILD)/bench_history $(HB_IR_OPS)

# ---- examples ----------------------------------------------------------------------------------

$(BUILD)/examples/%: examples/%.c $(BUILD)/libinmem.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libinmem.a $(LIBS)

DEMO_DIR ?= inmem-data

quickstart: deps
	$(MAKE) --no-print-directory $(BUILD)/examples/quickstart
	$(BUILD)/examples/quickstart $(DEMO_DIR)

demo: deps
	$(MAKE) --no-print-directory demo-agents

# ---- the inmem CLI and the multi-agent demo (tools/, their own make fragment) ---------------------

-include tools/tools.mk

# ---- comparison with other engines (bench/compare/, its own make fragment) ----------------------

-include bench/compare/compare.mk

# ---- language bindings (bindings/<lang>/, each with its own make fragment) ---------------------
# A fragment adds its test target to BINDING_TESTS (run by make test after the CLI tests).

BINDING_TESTS :=
-include bindings/python/python.mk
-include bindings/node/node.mk

# make deps: every part's dependency target. (After the fragments: a rule's prerequisites are
# expanded when it is read, so this must come after every DEPS_TARGETS +=.)
deps: $(DEPS_TARGETS)

# ---- install -----------------------------------------------------------------------------------

$(BUILD)/inmem.pc: inmem.pc.in include/inmem.h
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' inmem.pc.in > $@

install: lib $(BUILD)/inmem.pc install-tools
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/inmem.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libinmem.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libinmem.so $(DESTDIR)$(PREFIX)/lib/libinmem.so.0
	ln -sf libinmem.so.0 $(DESTDIR)$(PREFIX)/lib/libinmem.so
	install -m 644 $(BUILD)/inmem.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

uninstall: uninstall-tools
	rm -f $(DESTDIR)$(PREFIX)/include/inmem.h $(DESTDIR)$(PREFIX)/lib/libinmem.a \
	    $(DESTDIR)$(PREFIX)/lib/libinmem.so $(DESTDIR)$(PREFIX)/lib/libinmem.so.0 \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/inmem.pc

# ---- housekeeping ------------------------------------------------------------------------------

FORMAT_FILES = include/*.h src/*/*.c src/*/*.h tests/*.c tests/*.h bench/*.c bench/*.h \
               bench/compare/*.c bench/compare/*.h \
               examples/*.c fuzz/*.c fuzz/*.h tools/*.c tools/*.h \
               bindings/node/src/*.c bindings/node/src/*.h bindings/python/src/*.c \
               bindings/python/src/*.h

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf build build-check build-address build-thread build-clang build-fuzz

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d)
