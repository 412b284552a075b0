build-clang/src/core/key.o: src/core/key.c src/core/key.h include/inmem.h

src/core/key.h:

include/inmem.h:
