build-thread/tests/test_txn_rules.o: tests/test_txn_rules.c tests/test.h \
 include/inmem.h
tests/test.h:
include/inmem.h:
