# bindings/python/python.mk — the Python binding (included by the top-level Makefile).
#
#   make python          build the extension against $(BUILD)/libinmem.a into $(BUILD)/python
#                        (a package directory: PYTHONPATH=$(BUILD)/python python3 -c 'import inmem');
#                        compiling installs nothing but libxxhash-dev (every build of the
#                        library installs it when missing): `make deps` (or deps-python) does
#   make test-python     its pytest suite (part of `make test`). Under SAN=address the extension
#                        and the library are built with ASan+UBSan and python3 (not instrumented)
#                        runs with libasan/libubsan preloaded; LeakSanitizer is on, with the
#                        allocations CPython itself never frees at exit suppressed
#                        (tests/lsan.supp), and a 16 MiB quarantine so that the memory test's
#                        RSS settles after its warm-up. Under SAN=thread, libtsan is preloaded.
#   make bench-python    Python-level benchmark: inmem vs python3-lmdb vs sqlite3 (W1-W4) and the
#                        binding's cost per call against a dict (bindings/python/bench/bench.py)
#   make deps-python     the Debian packages these need (part of `make deps`); test-python and
#                        bench-python run it first, so that they work on a fresh machine
#
# Uses Debian's /usr/bin/python3 (PYTHON=...) and its python3-setuptools; nothing is downloaded
# but Debian packages. `pip install ./bindings/python` builds the same extension for users.

PYTHON     ?= /usr/bin/python3
PY_DIR     := bindings/python
PY_OUT     := $(BUILD)/python
PY_DEPS    := $(wildcard $(PY_DIR)/src/*.c $(PY_DIR)/src/*.h $(PY_DIR)/inmem/*.py \
                         $(PY_DIR)/inmem/*.pyi) $(PY_DIR)/setup.py include/inmem.h
PY_CFLAGS  := $(SANFLAGS) $(if $(WERROR),-Werror)
# python3 is not built with a sanitizer: its runtime must be loaded first
ifeq ($(SAN),address)
PY_RUN_ENV := LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
              ASAN_OPTIONS=detect_leaks=1:malloc_context_size=3:quarantine_size_mb=16 \
              LSAN_OPTIONS=suppressions=$(abspath $(PY_DIR)/tests/lsan.supp) \
              UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
endif
ifeq ($(SAN),thread)
PY_RUN_ENV := LD_PRELOAD="$$($(CC) -print-file-name=libtsan.so)" TSAN_OPTIONS=halt_on_error=1
endif
# under a sanitizer, capture at the sys level only: a report written to fd 2 by a process that
# then exits must reach the terminal
PYTEST     := $(PY_RUN_ENV) PYTHONPATH=$(abspath $(PY_OUT)) $(PYTHON) -P -m pytest -p no:cacheprovider \
              $(if $(SAN),--capture=sys)

.PHONY: python deps-python test-python bench-python deps-bench-python

DEPS_TARGETS += deps-python

deps-python: deps-lib
	@scripts/ensure-packages python3-dev python3-setuptools python3-pytest python3-hypothesis

python: $(PY_OUT)/inmem/.built

$(PY_OUT)/inmem/.built: $(BUILD)/libinmem.a $(PY_DEPS)
	cd $(PY_DIR) && CC="$(CC)" INMEM_BUILD=$(BUILD) INMEM_EXTRA_CFLAGS="$(PY_CFLAGS)" \
	    $(PYTHON) setup.py -q build_ext --force --build-lib $(abspath $(PY_OUT)) \
	    --build-temp $(abspath $(BUILD)/python-tmp)
	cp $(PY_DIR)/inmem/__init__.py $(PY_DIR)/inmem/__init__.pyi $(PY_DIR)/inmem/py.typed \
	    $(PY_OUT)/inmem/
	@touch $@

# INMEM_PY_LOOPS: iterations of the reference-count and memory tests (default 1,000,000)
test-python: deps-python
	@$(MAKE) --no-print-directory python
	$(PYTEST) -q $(PY_DIR)/tests $(PYTEST_ARGS)

bench-python: deps-bench-python
	@$(MAKE) --no-print-directory python
	$(PY_RUN_ENV) PYTHONPATH=$(abspath $(PY_OUT)) $(PYTHON) -P $(PY_DIR)/bench/bench.py $(BENCH_ARGS)

deps-bench-python: deps-python
	@scripts/ensure-packages python3-lmdb

BINDING_TESTS += test-python
