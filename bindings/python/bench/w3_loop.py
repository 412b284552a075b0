#!/usr/bin/env python3
"""w3_loop.py -- bench.py's W3-1t loop alone (read-only transactions of 4 gets, one thread), on
one engine, for profilers and instruction counts: the same engine classes, preload and loop
function as bench.py, with no harness thread, sleep or clock around it.

    PYTHONPATH=build/python python3 -P bindings/python/bench/w3_loop.py inmem 1000000
    perf record -e cpu-clock -g -- python3 -P .../w3_loop.py inmem 3000000
    valgrind --tool=callgrind python3 -P .../w3_loop.py inmem 200000

A run with 0 transactions does the setup alone (the key lists, the preload): subtract its count
from a run's to get the loop's, e.g. instructions per transaction =
(Ir(N) - Ir(0)) / N. Prints the loop's transactions per second to stderr.
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (its module level builds the keys, values and index stream)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("inmem", "lmdb"):
        raise SystemExit("usage: w3_loop.py inmem|lmdb TRANSACTIONS")
    n = int(sys.argv[2])
    root = tempfile.mkdtemp(prefix="inmem-w3loop-")
    try:
        eng = (bench.Inmem if sys.argv[1] == "inmem" else bench.Lmdb)(
            os.path.join(root, "db"), "none")
        vals = bench.values(0)
        eng.preload(vals)
        h, w3 = eng.handle(), eng.w3
        done, j = 0, 0
        t0 = time.perf_counter()
        while done < n:  # as bench.py's worker: 64 transactions a call, 256 positions apart
            done += w3(h, j, 64, vals)
            j += 256
        t1 = time.perf_counter()
        eng.close()
        if n:
            print("%s: %.0f transactions/s" % (sys.argv[1], done / (t1 - t0)), file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
