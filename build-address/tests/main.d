build-address/tests/main.o: tests/main.c tests/test.h include/inmem.h
tests/test.h:
include/inmem.h:
