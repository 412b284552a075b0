# bindings/node — the Node.js binding (a Node-API addon in C) and the LangGraph.js checkpointer.
# Included by the top Makefile, whose CC, BUILD, SAN, SANFLAGS and LIBS it uses.
#
#   make node          build the addon against $(BUILD)/libinmem.a (node-gyp, with the installed
#                      Node's headers: --nodedir, nothing downloaded)
#   make deps-node     Debian packages (python3, make, g++ for node-gyp) and `npm ci` from the
#                      committed package-lock.json
#   make test-node     node --test (the binding), vitest (LangGraph's checkpointer validation
#                      suite against InmemSaver), then the LangGraph example
#   make bench-node    InmemSaver against MemorySaver and SqliteSaver (bench/, its own lock file)
#
# With SAN=address the addon is linked with AddressSanitizer and the tests run with the ASan
# runtime preloaded into node (leak checking off: node itself does not free everything at exit).

NODE_DIR     := bindings/node
NODE         ?= node
NPM          ?= npm
# The installed Node's prefix: its headers are in $(NODE_PREFIX)/include/node.
NODE_PREFIX  = $(shell $(NODE) -p "require('path').resolve(process.execPath, '../..')" 2>/dev/null)
NODE_STAMP   := $(NODE_DIR)/node_modules/.inmem-npm-ci
NODE_SRC     := $(wildcard $(NODE_DIR)/src/*.c $(NODE_DIR)/src/*.h) $(NODE_DIR)/binding.gyp
NODE_GYP     := $(NODE_DIR)/node_modules/.bin/node-gyp

ifeq ($(SAN),)
NODE_ADDON   := $(NODE_DIR)/build/Release/inmem.node
NODE_RUN_ENV :=
else
# A sanitizer build goes to $(BUILD)/node/, out of the way of the package's own build/.
NODE_ADDON   := $(BUILD)/node/inmem.node
NODE_RUN_ENV := INMEM_NODE_ADDON=$(abspath $(NODE_ADDON))
ifeq ($(SAN),address)
NODE_RUN_ENV += LD_PRELOAD=$(shell $(CC) -print-file-name=libasan.so) \
                ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0
endif
ifeq ($(SAN),thread)
NODE_RUN_ENV += LD_PRELOAD=$(shell $(CC) -print-file-name=libtsan.so)
endif
endif

.PHONY: node deps-node test-node bench-node

DEPS_TARGETS += deps-node
BINDING_TESTS += test-node

deps-node: deps-lib
	@scripts/ensure-packages python3 make g++
	@$(MAKE) --no-print-directory $(NODE_STAMP)

# npm ci from the lock file (run by make deps, and by make node when node_modules is missing;
# without Node 20 or its headers it stops here and says so)
$(NODE_STAMP): $(NODE_DIR)/package-lock.json $(NODE_DIR)/package.json
	@$(NODE) -e 'const v = +process.versions.node.split(".")[0]; if (v < 20) { console.error("bindings/node needs Node.js 20 or later (found " + process.version + ")"); process.exit(1) }'
	@test -f "$(NODE_PREFIX)/include/node/node_api.h" || { \
	    echo "bindings/node: no Node headers in $(NODE_PREFIX)/include/node (install the Node.js package that ships them)" >&2; exit 1; }
	cd $(NODE_DIR) && $(NPM) ci --no-audit --no-fund --ignore-scripts
	@touch $@

node: $(NODE_ADDON)

$(NODE_ADDON): $(BUILD)/libinmem.a $(NODE_SRC) | $(NODE_STAMP)
	cd $(NODE_DIR) && INMEM_LIB=$(abspath $(BUILD)/libinmem.a) \
	    INMEM_CFLAGS="$(SANFLAGS) $(if $(WERROR),-Werror)" INMEM_LDFLAGS="$(SANFLAGS)" \
	    ./node_modules/.bin/node-gyp rebuild --nodedir=$(NODE_PREFIX) --jobs=2 --loglevel=warn
ifneq ($(SAN),)
	@mkdir -p $(dir $@)
	cp $(NODE_DIR)/build/Release/inmem.node $@
	rm -rf $(NODE_DIR)/build
endif

test-node: node
	cd $(NODE_DIR) && $(NODE_RUN_ENV) $(NODE) --test --test-concurrency=1 test/*.test.js
	@test ! -f $(NODE_DIR)/vitest.config.mjs || (cd $(NODE_DIR) && $(NODE_RUN_ENV) ./node_modules/.bin/vitest run --globals)
	@test ! -f $(NODE_DIR)/example/agent-graph.mjs || (cd $(NODE_DIR) && $(NODE_RUN_ENV) $(NODE) example/agent-graph.mjs)

# The bench has its own package (bench/package.json): SqliteSaver needs better-sqlite3, a native
# module compiled here from source against the installed headers (npm_config_nodedir).
NODE_BENCH_STAMP := $(NODE_DIR)/bench/node_modules/.inmem-npm-ci

$(NODE_BENCH_STAMP): $(NODE_DIR)/bench/package-lock.json $(NODE_DIR)/bench/package.json
	cd $(NODE_DIR)/bench && npm_config_nodedir=$(NODE_PREFIX) $(NPM) ci --no-audit --no-fund \
	    --build-from-source
	@touch $@

bench-node: node $(NODE_BENCH_STAMP)
	cd $(NODE_DIR)/bench && $(NODE) savers.mjs $(NODE_BENCH_ARGS)
