build-address/tests/test_bad_input.o: tests/test_bad_input.c tests/test.h \
 include/inmem.h
tests/test.h:
include/inmem.h:
