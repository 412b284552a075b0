# bench/compare/compare.mk — the side-by-side benchmark against RocksDB, LMDB, SQLite,
# WiredTiger and Redis (included by the top-level Makefile).
#
#   make bench-compare                 the quick suite (under 5 minutes)
#   make bench-compare FULL=1          the whole suite (5 s per line, W7 with 1,000,000 commits)
#   make bench-compare COMPARE_ARGS='--lines W1,W4 --engines lmdb'   a subset (see --help)
#
# Installs the engines' Debian packages when missing (scripts/ensure-packages), builds
# build/inmem_compare against build/libinmem.a and runs it. Databases go to a fresh directory
# under $TMPDIR (default /tmp), removed afterwards.

COMPARE_PKGS := librocksdb-dev liblmdb-dev libsqlite3-dev libwiredtiger-dev libhiredis-dev \
                redis-server
COMPARE_SRC  := $(wildcard bench/compare/*.c) tests/fsutil.c
COMPARE_HDR  := $(wildcard bench/compare/*.h)
COMPARE_LIBS := -lrocksdb -llmdb -lsqlite3 -lwiredtiger -lhiredis
COMPARE_ARGS ?=
FULL         ?=

.PHONY: bench-compare deps-compare

deps-compare: deps-lib
	@scripts/ensure-packages $(COMPARE_PKGS)

$(BUILD)/inmem_compare: $(COMPARE_SRC) $(COMPARE_HDR) $(BUILD)/libinmem.a
	$(CC) $(CFLAGS) -I. -Ibench/compare -o $@ $(COMPARE_SRC) $(BUILD)/libinmem.a $(COMPARE_LIBS) \
	    $(LIBS) -lm

# (the engines' packages first: the build needs their headers)
bench-compare: deps-compare
	$(MAKE) --no-print-directory $(BUILD)/inmem_compare
	$(BUILD)/inmem_compare $(if $(filter-out 0,$(FULL)),--full) $(COMPARE_ARGS)
