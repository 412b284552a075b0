build-address/src/core/errors.o: src/core/errors.c src/core/common.h \
 include/inmem.h
src/core/common.h:
include/inmem.h:
