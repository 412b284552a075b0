build-clang/src/primitives/kv.o: src/primitives/kv.c src/core/key.h \
  include/inmem.h src/engine/db.h src/txn/txn.h src/core/arena.h \
  src/core/common.h src/storage/index.h src/wal/wal.h src/wal/codec.h

src/core/key.h:

include/inmem.h:

src/engine/db.h:

src/txn/txn.h:

src/core/arena.h:

src/core/common.h:

src/storage/index.h:

src/wal/wal.h:

src/wal/codec.h:
