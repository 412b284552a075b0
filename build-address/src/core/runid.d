build-address/src/core/runid.o: src/core/runid.c src/core/clock.h \
 src/core/common.h include/inmem.h
src/core/clock.h:
src/core/common.h:
include/inmem.h:
