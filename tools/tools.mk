# tools/tools.mk — the inmem command-line tool (tools/*.c) and the multi-agent demo
# (examples/agents.c). Included by the main Makefile, whose CC, CFLAGS, LDFLAGS, BUILD, LIBS,
# PREFIX and DESTDIR it uses.
#
#   make tools          build/inmem (the CLI) and build/examples/agents (the demo)
#   make test-cli       build both and run the end-to-end tests in tests/cli/
#   make demo-agents    run the demo on $(AGENTS_DIR), then a few CLI commands on it
#   make install-tools  bin/inmem and share/man/man1/inmem.1 under $(DESTDIR)$(PREFIX)
#
# The CLI needs libedit (the shell) and jansson (JSON); deps-tools (part of make deps) installs
# them when missing, and every build of the CLI runs it first.

TOOLS_SRC  := $(wildcard tools/*.c)
TOOLS_OBJ  := $(TOOLS_SRC:%.c=$(BUILD)/%.o)
TOOLS_LIBS := -ledit -ljansson
AGENTS_DIR ?= agents-data

.PHONY: tools deps-tools test-cli demo-agents install-tools uninstall-tools

DEPS_TARGETS += deps-tools

tools: $(BUILD)/inmem $(BUILD)/examples/agents

deps-tools: deps-lib
	@scripts/ensure-packages libedit-dev libjansson-dev

$(TOOLS_OBJ): | deps-tools

$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/inmem: $(TOOLS_OBJ) $(BUILD)/libinmem.a
	$(CC) $(LDFLAGS) -o $@ $(TOOLS_OBJ) $(BUILD)/libinmem.a $(TOOLS_LIBS) $(LIBS)

$(BUILD)/examples/agents: examples/agents.c $(BUILD)/libinmem.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libinmem.a $(LIBS)

# The tests parse JSON and drive a pseudo-terminal with python3 (installed when missing); they
# also run the small examples and look at what they leave with the CLI.
# INMEM_CLI_TMP: where they make their databases (default: a new directory in /tmp).
test-cli: tools $(BUILD)/examples/quickstart $(BUILD)/examples/agent_step
	INMEM=$(BUILD)/inmem AGENTS=$(BUILD)/examples/agents EXAMPLES=$(BUILD)/examples \
	    tests/cli/run.sh

demo-agents: tools
	$(BUILD)/examples/agents $(AGENTS_DIR)
	$(BUILD)/inmem $(AGENTS_DIR) -c 'run list --limit 5'
	$(BUILD)/inmem $(AGENTS_DIR) -c 'state get shared queue/batches; state get shared queue/done'
	$(BUILD)/inmem $(AGENTS_DIR) -c 'verify'

install-tools: tools
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/inmem $(DESTDIR)$(PREFIX)/bin/
	install -m 644 tools/inmem.1 $(DESTDIR)$(PREFIX)/share/man/man1/

uninstall-tools:
	rm -f $(DESTDIR)$(PREFIX)/bin/inmem $(DESTDIR)$(PREFIX)/share/man/man1/inmem.1

-include $(TOOLS_OBJ:.o=.d)
