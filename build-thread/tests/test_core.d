build-thread/tests/test_core.o: tests/test_core.c tests/test.h \
 include/inmem.h src/core/arena.h src/core/hash.h src/core/key.h
tests/test.h:
include/inmem.h:
src/core/arena.h:
src/core/hash.h:
src/core/key.h:
