build-clang/src/engine/transact.o: src/engine/transact.c src/core/clock.h \
  src/engine/db.h src/core/key.h include/inmem.h src/txn/txn.h \
  src/core/arena.h src/core/common.h src/storage/index.h src/wal/wal.h \
  src/wal/codec.h

src/core/clock.h:

src/engine/db.h:

src/core/key.h:

include/inmem.h:

src/txn/txn.h:

src/core/arena.h:

src/core/common.h:

src/storage/index.h:

src/wal/wal.h:

src/wal/codec.h:
