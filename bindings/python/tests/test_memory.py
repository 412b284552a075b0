"""Reference counting and memory: a loop of a million binding calls (INMEM_PY_LOOPS) over a
fixed key set leaves neither Python objects (tracemalloc) nor C memory (RSS) behind."""
import gc
import os
import tracemalloc

import inmem

LOOPS = int(os.environ.get("INMEM_PY_LOOPS", "1000000"))


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def workload(db, run, n):
    """n calls, every kind of result and error path, over 64 keys that are rewritten."""
    keys = [b"key%02d" % i for i in range(64)]
    pad = b"." * 1000  # values of ~1 KiB: a leaked copy per call is visible in the RSS
    done = 0
    i = 0
    while done < n:
        k = keys[i % 64]
        db.put(k, b"value %d" % i + pad)
        db.get(k)
        db.get_entry(k, run=run)
        db.get(b"missing")
        with db.transaction() as tx:
            tx.get(k)
            tx.put(k, b"tx %d" % i + pad, run=run)
            for _ in tx.scan_prefix(b"key0"):
                pass
        try:
            db.cas(k, 1, b"x")
        except inmem.ConflictError:
            pass
        try:
            db.run_get(inmem.SHARED)
        except inmem.Error:
            pass
        try:
            db.put(b"", b"bad")
        except inmem.InvalidArgument:
            pass
        db.state_set("cell", "s", run=run)
        db.state_get("cell", run=run)
        db.get_many(keys[:4])
        list(db.list(b"key1", limit=3))
        tx = db.transaction()
        tx.get(k)
        db.put(k, b"conflict")
        tx.put(k, b"loser")
        try:
            tx.commit()
        except inmem.ConflictError as e:
            assert e.key == k
        done += 16
        i += 1


def test_million_operations_do_not_grow_memory():
    db = inmem.open(durability="none")
    try:
        run = db.run_begin()
        workload(db, run, 50_000)  # warm up: free lists, arenas, the index at its size
        gc.collect()
        tracemalloc.start()
        before_py = tracemalloc.get_traced_memory()[0]
        before_rss = rss_kib()
        workload(db, run, LOOPS)
        gc.collect()
        after_py = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        after_rss = rss_kib()
        # a leak of one object per call would be tens of MB over a million calls
        assert after_py - before_py < 256 * 1024, (before_py, after_py)
        assert after_rss - before_rss < 8 * 1024, (before_rss, after_rss)
        s = db.stats()
        assert s.open_txns == 0
        assert s.keys < 1000  # rewritten keys: old versions were reclaimed
    finally:
        db.close()
