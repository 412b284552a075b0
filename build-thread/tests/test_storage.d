build-thread/tests/test_storage.o: tests/test_storage.c tests/test.h \
 include/inmem.h src/core/hash.h src/storage/index.h src/core/common.h
tests/test.h:
include/inmem.h:
src/core/hash.h:
src/storage/index.h:
src/core/common.h:
