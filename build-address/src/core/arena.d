build-address/src/core/arena.o: src/core/arena.c src/core/arena.h
src/core/arena.h:
