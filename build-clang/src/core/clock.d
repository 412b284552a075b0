build-clang/src/core/clock.o: src/core/clock.c src/core/clock.h \
  src/core/common.h include/inmem.h

src/core/clock.h:

src/core/common.h:

include/inmem.h:
