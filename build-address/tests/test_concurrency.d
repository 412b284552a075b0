build-address/tests/test_concurrency.o: tests/test_concurrency.c \
 tests/test.h include/inmem.h
tests/test.h:
include/inmem.h:
