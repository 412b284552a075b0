build-address/tests/test_engine.o: tests/test_engine.c tests/test.h \
 include/inmem.h
tests/test.h:
include/inmem.h:
