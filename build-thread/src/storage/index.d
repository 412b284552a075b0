build-thread/src/storage/index.o: src/storage/index.c src/core/hash.h \
 src/storage/index.h src/core/common.h include/inmem.h
src/core/hash.h:
src/storage/index.h:
src/core/common.h:
include/inmem.h:
