#!/usr/bin/env python3
"""bench.py -- inmem from Python against Debian's python3-lmdb and the standard library's
sqlite3, on the workloads of bench/compare (make bench-python; --full for 2 s per line).

Workloads (keys 16 B: a letter and 15 digits; values 100 B; 100,000 keys preloaded in
transactions of 1,000 puts, or --keys N: e.g. 1,000, which stay in cache), as in
bench/compare/compare.c:
  W1 blind put, 1 thread, one put per transaction              durability none and batched
  W2 get k + put k per transaction, 1 thread                    durability none and batched
  W3 read-only snapshot transactions of 4 gets, 1 and 2 threads durability none
  W3-many  the same 4 keys read in one call (inmem tx.get_many, lmdb Cursor.getmulti,
           sqlite SELECT ... IN (?, ?, ?, ?)), 1 thread       durability none
  W4 2 threads incrementing 10 hot counters, retried on conflict durability none
and the binding's cost per call: get and put against a plain dict. The W3 lines also run the
harness floor: the same loop with a dict in the engine's place, whose rate bounds the ratio any
engine could post against the others from Python that minute (class Floor).

Each engine is driven the way its Python users write it, with the same settings as the C
drivers of bench/compare:
  inmem   the binding; W1 as db.put() (inmem's one-operation transaction) and as an explicit
          transaction; W2/W4 db.transaction() + get + put + commit (ConflictError: retry);
          W3 db.transaction(readonly=True)
  lmdb    python3-lmdb (MDB_NOTLS always): map 16 GiB, 256 readers; none = sync=False,
          metasync=False, writemap=True, map_async=True; batched = sync=False, writemap=True,
          map_async=True plus env.sync(True) every 100 ms from a thread; write transactions
          env.begin(write=True), read-only ones env.begin() (py-lmdb renews a spare read txn)
  sqlite  sqlite3, one connection per thread, isolation_level=None (explicit BEGIN), WAL,
          synchronous OFF (none) / NORMAL (batched), cache_size -131072, table
          kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID, upserts; writers BEGIN IMMEDIATE,
          readers BEGIN; W1 as a lone upsert in autocommit mode (SQLite's one-statement
          transaction); busy waits through sqlite3's timeout (its busy handler, not the C
          driver's spinning one: Python's module has no hook for it)
Every workload checks what it reads (a value carries its key) and verifies its writes at the
end (the last puts read back; W4: the counters sum to the committed increments), so that a
broken driver stops the run instead of posting a number. Rates are committed transactions per
second of wall time, after a warm-up; each line runs the engines one after the other.
"""
import argparse
import datetime
import os
import platform
import random
import shutil
import statistics
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types

import inmem

try:
    import lmdb
except ImportError:  # make bench-python installs python3-lmdb
    lmdb = None

NKEYS = 100_000
NCOUNTERS = 10
PRELOAD_TXN = 1000
MASK = (1 << 20) - 1
PAD = b"\xa5" * 84
# Everything a workload needs per operation is computed before the clock starts, so that the
# harness costs each engine the same few list lookups: the keys, the 8-byte key tags values
# begin with, a stream of random key indices, and the values of each line (a value carries its
# key and the line's stamp, so that a read of a wrong key or a lost write is caught).
CKEYS = [b"c%015d" % i for i in range(NCOUNTERS)]


def setup(nkeys):
    """The keys, their tags and the index stream for a database of nkeys keys (100,000 unless
    --keys says otherwise: a smaller one stays in the CPU's caches, so that a line measures the
    engines and bindings without the memory stalls they share)."""
    global NKEYS, KEYS, TAGS, IDX
    NKEYS = nkeys
    KEYS = [b"k%015d" % i for i in range(nkeys)]
    TAGS = [struct.pack("<Q", i) for i in range(nkeys)]
    rng = random.Random(12345)
    IDX = [rng.randrange(nkeys) for _ in range(MASK + 1)]


setup(NKEYS)


def values(stamp):
    s = struct.pack("<Q", stamp)
    return [t + s + PAD for t in TAGS]


def bad(engine, where, i, v):
    raise SystemExit("%s %s: wrong value for key %d: %r" % (engine, where, i, v and v[:16]))


def counter_val(c, n):
    return TAGS[c] + n.to_bytes(8, "little") + PAD


def counter_of(engine, v, c):
    if v is None or not v.startswith(TAGS[c]):
        bad(engine, "W4", c, v)
    return int.from_bytes(v[8:16], "little")


# ---- engines ----------------------------------------------------------------------------------
# Each workload is a loop over n operations from position j of the index stream, written the
# way a user of that engine's Python module writes it. A loop returns the number of
# transactions it committed (retries not counted).

class Inmem:
    name = "inmem"

    def __init__(self, path, durability):
        self.db = inmem.open(path if durability != "none" else None, durability=durability)

    def version(self):
        return "%s (this binding, libinmem linked statically)" % inmem.LIBRARY_VERSION

    def close(self):
        self.db.close()

    def preload(self, vals):
        db = self.db
        for i in range(0, NKEYS, PRELOAD_TXN):
            tx = db.transaction()
            for j in range(i, i + PRELOAD_TXN):
                tx.put(KEYS[j], vals[j])
            tx.commit()

    def handle(self):
        return self.db

    def w1(self, db, j, n, vals):  # db.put: inmem's one-operation transaction
        put = db.put
        for x in range(j, j + n):
            i = IDX[x & MASK]
            put(KEYS[i], vals[i])
        return n

    def w1_tx(self, db, j, n, vals):
        begin = db.transaction
        for x in range(j, j + n):
            i = IDX[x & MASK]
            tx = begin()
            tx.put(KEYS[i], vals[i])
            tx.commit()
        return n

    def w2(self, db, j, n, vals):
        begin, Conflict = db.transaction, inmem.ConflictError
        for x in range(j, j + n):
            i = IDX[x & MASK]
            k = KEYS[i]
            while True:
                tx = begin()
                v = tx.get(k)
                if v is None or not v.startswith(TAGS[i]):
                    bad("inmem", "W2", i, v)
                tx.put(k, vals[i])
                try:
                    tx.commit()
                    break
                except Conflict:
                    pass
        return n

    def w3(self, db, j, n, vals):
        begin = db.transaction
        for x in range(j, j + 4 * n, 4):
            tx = begin(True)
            get = tx.get
            for i in (IDX[x & MASK], IDX[(x + 1) & MASK], IDX[(x + 2) & MASK],
                      IDX[(x + 3) & MASK]):
                v = get(KEYS[i])
                if v is None or not v.startswith(TAGS[i]):
                    bad("inmem", "W3", i, v)
            tx.commit()
        return n

    def w3_many(self, db, j, n, vals):
        begin = db.transaction
        for x in range(j, j + 4 * n, 4):
            tx = begin(True)
            ix = (IDX[x & MASK], IDX[(x + 1) & MASK], IDX[(x + 2) & MASK], IDX[(x + 3) & MASK])
            vs = tx.get_many([KEYS[i] for i in ix])
            for i, v in zip(ix, vs):
                if v is None or not v.startswith(TAGS[i]):
                    bad("inmem", "W3-many", i, v)
            tx.commit()
        return n

    def w4(self, db, j, n, vals):
        begin, Conflict = db.transaction, inmem.ConflictError
        for x in range(j, j + n):
            c = IDX[x & MASK] % NCOUNTERS
            while True:
                tx = begin()
                count = counter_of("inmem", tx.get(CKEYS[c]), c)
                tx.put(CKEYS[c], counter_val(c, count + 1))
                try:
                    tx.commit()
                    break
                except Conflict:
                    pass
        return n

    def read(self, db, k):
        return db.get(k)

    def write(self, db, k, v):
        db.put(k, v)


class Lmdb:
    name = "lmdb"

    def __init__(self, path, durability):
        os.makedirs(path, exist_ok=True)
        flags = dict(map_size=16 << 30, max_readers=256, subdir=True, lock=True)
        if durability == "none":
            flags.update(sync=False, metasync=False, writemap=True, map_async=True)
        elif durability == "batched":
            flags.update(sync=False, writemap=True, map_async=True)
        self.env = lmdb.open(path, **flags)
        self.stop = threading.Event()
        self.syncer = None
        if durability == "batched":
            def sync():
                while not self.stop.wait(0.1):
                    self.env.sync(True)
            self.syncer = threading.Thread(target=sync, daemon=True)
            self.syncer.start()

    def version(self):
        return "liblmdb %s, py-lmdb %s" % (".".join(map(str, lmdb.version())), lmdb.__version__)

    def close(self):
        self.stop.set()
        if self.syncer:
            self.syncer.join()
        self.env.sync(True)
        self.env.close()

    def preload(self, vals):
        for i in range(0, NKEYS, PRELOAD_TXN):
            with self.env.begin(write=True) as t:
                for j in range(i, i + PRELOAD_TXN):
                    t.put(KEYS[j], vals[j])

    def handle(self):
        return self.env

    def w1(self, env, j, n, vals):  # LMDB has only explicit transactions
        begin = env.begin
        for x in range(j, j + n):
            i = IDX[x & MASK]
            t = begin(write=True)
            t.put(KEYS[i], vals[i])
            t.commit()
        return n

    w1_tx = w1

    def w2(self, env, j, n, vals):
        begin = env.begin
        for x in range(j, j + n):
            i = IDX[x & MASK]
            k = KEYS[i]
            t = begin(write=True)  # writers wait for each other: no conflicts
            v = t.get(k)
            if v is None or not v.startswith(TAGS[i]):
                bad("lmdb", "W2", i, v)
            t.put(k, vals[i])
            t.commit()
        return n

    def w3(self, env, j, n, vals):
        begin = env.begin
        for x in range(j, j + 4 * n, 4):
            t = begin()
            get = t.get
            for i in (IDX[x & MASK], IDX[(x + 1) & MASK], IDX[(x + 2) & MASK],
                      IDX[(x + 3) & MASK]):
                v = get(KEYS[i])
                if v is None or not v.startswith(TAGS[i]):
                    bad("lmdb", "W3", i, v)
            t.commit()
        return n

    def w3_many(self, env, j, n, vals):
        begin = env.begin
        for x in range(j, j + 4 * n, 4):
            t = begin()
            ix = (IDX[x & MASK], IDX[(x + 1) & MASK], IDX[(x + 2) & MASK], IDX[(x + 3) & MASK])
            got = dict(t.cursor().getmulti([KEYS[i] for i in ix]))
            for i in ix:
                v = got.get(KEYS[i])
                if v is None or not v.startswith(TAGS[i]):
                    bad("lmdb", "W3-many", i, v)
            t.commit()
        return n

    def w4(self, env, j, n, vals):
        begin = env.begin
        for x in range(j, j + n):
            c = IDX[x & MASK] % NCOUNTERS
            t = begin(write=True)
            count = counter_of("lmdb", t.get(CKEYS[c]), c)
            t.put(CKEYS[c], counter_val(c, count + 1))
            t.commit()
        return n

    def read(self, env, k):
        with env.begin() as t:
            return t.get(k)

    def write(self, env, k, v):
        with env.begin(write=True) as t:
            t.put(k, v)


UPSERT = "INSERT INTO kv(k, v) VALUES(?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v"
SELECT = "SELECT v FROM kv WHERE k = ?"
SELECT4 = "SELECT k, v FROM kv WHERE k IN (?, ?, ?, ?)"


class Sqlite:
    name = "sqlite"

    def __init__(self, path, durability):
        os.makedirs(path, exist_ok=True)
        self.file = os.path.join(path, "kv.sqlite")
        self.sync = {"none": "OFF", "batched": "NORMAL", "strict": "FULL"}[durability]
        self.keep = self.handle()
        self.keep.execute("PRAGMA journal_mode=WAL")
        self.keep.execute("CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID")

    def version(self):
        return "SQLite %s (sqlite3 module)" % sqlite3.sqlite_version

    def handle(self):
        c = sqlite3.connect(self.file, isolation_level=None, timeout=10, check_same_thread=False)
        c.execute("PRAGMA synchronous=" + self.sync)
        c.execute("PRAGMA cache_size=-131072")
        return c

    def close(self):
        self.keep.close()

    def preload(self, vals):
        c = self.keep
        for i in range(0, NKEYS, PRELOAD_TXN):
            c.execute("BEGIN IMMEDIATE")
            c.executemany(UPSERT, [(KEYS[j], vals[j]) for j in range(i, i + PRELOAD_TXN)])
            c.execute("COMMIT")

    def w1(self, c, j, n, vals):  # autocommit: a lone statement is its own transaction
        ex = c.execute
        for x in range(j, j + n):
            i = IDX[x & MASK]
            ex(UPSERT, (KEYS[i], vals[i]))
        return n

    def w1_tx(self, c, j, n, vals):
        ex = c.execute
        for x in range(j, j + n):
            i = IDX[x & MASK]
            ex("BEGIN IMMEDIATE")
            ex(UPSERT, (KEYS[i], vals[i]))
            ex("COMMIT")
        return n

    def w2(self, c, j, n, vals):
        ex = c.execute
        for x in range(j, j + n):
            i = IDX[x & MASK]
            ex("BEGIN IMMEDIATE")
            row = ex(SELECT, (KEYS[i],)).fetchone()
            if row is None or not row[0].startswith(TAGS[i]):
                bad("sqlite", "W2", i, row)
            ex(UPSERT, (KEYS[i], vals[i]))
            ex("COMMIT")
        return n

    def w3(self, c, j, n, vals):
        ex = c.execute
        for x in range(j, j + 4 * n, 4):
            ex("BEGIN")
            for i in (IDX[x & MASK], IDX[(x + 1) & MASK], IDX[(x + 2) & MASK],
                      IDX[(x + 3) & MASK]):
                row = ex(SELECT, (KEYS[i],)).fetchone()
                if row is None or not row[0].startswith(TAGS[i]):
                    bad("sqlite", "W3", i, row)
            ex("COMMIT")
        return n

    def w3_many(self, c, j, n, vals):
        ex = c.execute
        for x in range(j, j + 4 * n, 4):
            ix = (IDX[x & MASK], IDX[(x + 1) & MASK], IDX[(x + 2) & MASK], IDX[(x + 3) & MASK])
            ex("BEGIN")
            got = dict(ex(SELECT4, [KEYS[i] for i in ix]).fetchall())
            for i in ix:
                v = got.get(KEYS[i])
                if v is None or not v.startswith(TAGS[i]):
                    bad("sqlite", "W3-many", i, v)
            ex("COMMIT")
        return n

    def w4(self, c, j, n, vals):
        ex = c.execute
        for x in range(j, j + n):
            cn = IDX[x & MASK] % NCOUNTERS
            ex("BEGIN IMMEDIATE")
            row = ex(SELECT, (CKEYS[cn],)).fetchone()
            count = counter_of("sqlite", row and row[0], cn)
            ex(UPSERT, (CKEYS[cn], counter_val(cn, count + 1)))
            ex("COMMIT")
        return n

    def read(self, c, k):
        row = c.execute(SELECT, (k,)).fetchone()
        return row and row[0]

    def write(self, c, k, v):
        c.execute(UPSERT, (k, v))


class Floor:
    """Not an engine: a dict in the engine's place, driven by inmem's own W3 loop (begin, a get
    per key with the same check, commit), with begin and commit calls that do nothing. What it costs is the harness's share of every engine's time (the interpreter,
    the key and tag lookups, the index stream), so its rate bounds what any engine can reach
    from Python on this machine in that minute: an engine at the floor would be floor / best
    other times the best other engine."""
    name = "dict"

    def __init__(self, path, durability):
        self.d = {}

    def version(self):
        return "a Python dict in the engine's place (the harness floor; W3 lines only)"

    def close(self):
        self.d.clear()

    def preload(self, vals):
        self.d.update(zip(KEYS, vals))

    def handle(self):
        tx = types.SimpleNamespace(get=self.d.get, commit=tuple)
        return types.SimpleNamespace(transaction={True: tx}.get)  # begin(True): the stand-in

    w3 = Inmem.w3  # the very loop the engine runs (its check would name inmem: it never fails)

FLOOR_LINES = ("W3-1t", "W3-2t")


# ---- the harness ---------------------------------------------------------------------------

LINES = {
    "W1": ("w1", 1, "W1 blind put, 1 thread, one put per txn (inmem db.put, sqlite autocommit)"),
    "W1-tx": ("w1_tx", 1, "W1 blind put, 1 thread, explicit transaction of one put"),
    "W2": ("w2", 1, "W2 get k + put k per txn, 1 thread"),
    "W3-1t": ("w3", 1, "W3 read-only snapshot txns of 4 gets, 1 thread"),
    "W3-2t": ("w3", 2, "W3 read-only snapshot txns of 4 gets, 2 threads"),
    "W3-many": ("w3_many", 1, "W3 with the 4 keys read in one call, 1 thread (inmem tx.get_many, "
                "lmdb Cursor.getmulti, sqlite IN (...))"),
    "W4": ("w4", 2, "W4 2 threads incrementing 10 hot counters, retry on conflict"),
}


def timed(eng, line, vals, seconds, warmup):
    """Runs a line's loop in its threads. Returns (committed transactions per second over the
    measured time, transactions committed in all, the last index positions of each thread)."""
    fn_name, threads, _ = LINES[line]
    fn = getattr(eng, fn_name)
    handles = [eng.handle() for _ in range(threads)]
    start = threading.Barrier(threads + 1)
    measured, total, last = [0] * threads, [0] * threads, [0] * threads
    flag = {"measure": False, "stop": False}
    errors = []

    def worker(tid):
        h, j = handles[tid], tid * (MASK + 1) // 2
        try:
            start.wait()
            while not flag["stop"]:
                done = fn(h, j, 64, vals)
                last[tid] = j
                j += 256
                total[tid] += done
                if flag["measure"]:
                    measured[tid] += done
        except BaseException as e:  # reported below
            errors.append(e)
            flag["stop"] = True

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    start.wait()
    time.sleep(warmup)
    flag["measure"] = True
    t0 = time.perf_counter()
    time.sleep(seconds)
    flag["measure"] = False
    t1 = time.perf_counter()
    flag["stop"] = True
    for t in ts:
        t.join()
    if isinstance(eng, Sqlite):
        for h in handles:
            h.close()
    if errors:
        raise errors[0]
    return sum(measured) / (t1 - t0), sum(total), last


def run_line(eng, line, vals, seconds, warmup):
    """One run of a line on one engine, then the check that its writes landed."""
    h = eng.handle()
    if line == "W4":
        for c in range(NCOUNTERS):
            eng.write(h, CKEYS[c], counter_val(c, 0))
    rate, total, last = timed(eng, line, vals, seconds, warmup)
    if line in ("W1", "W1-tx", "W2"):
        for j in last:  # the last puts of each thread read back with this line's values
            for x in range(j, j + 64):
                i = IDX[x & MASK]
                v = eng.read(h, KEYS[i])
                if v != vals[i]:
                    bad(eng.name, line + " read-back", i, v)
    if line == "W4":
        counts = sum(counter_of(eng.name, eng.read(h, CKEYS[c]), c) for c in range(NCOUNTERS))
        if counts != total:
            raise SystemExit("%s W4: LOST UPDATES: the counters sum to %d, %d increments were "
                             "committed" % (eng.name, counts, total))
    if isinstance(eng, Sqlite):
        h.close()
    return rate


def per_call(args):
    """ns per call: dict vs inmem (implicit and in a transaction) vs lmdb, 16 B keys, 100 B values."""
    n = 200_000
    keys = KEYS[:1000]
    val = values(0)[0]
    d = {}
    db = inmem.open(durability="none")
    res = {}

    def clock(label, fn):
        fn()  # warm
        best = None
        for _ in range(3):
            t0 = time.perf_counter_ns()
            fn()
            t = (time.perf_counter_ns() - t0) / n
            best = t if best is None or t < best else best
        res[label] = best

    def loop_dict_set():
        for i in range(n):
            d[keys[i % 1000]] = val

    def loop_dict_get():
        g = d.get
        for i in range(n):
            g(keys[i % 1000])

    def loop_put():
        put = db.put
        for i in range(n):
            put(keys[i % 1000], val)

    def loop_get():
        get = db.get
        for i in range(n):
            get(keys[i % 1000])

    def loop_tx(op):
        def run():
            tx = db.transaction()
            f = getattr(tx, op)
            if op == "put":
                for i in range(n):
                    f(keys[i % 1000], val)
            else:
                for i in range(n):
                    f(keys[i % 1000])
            tx.abort()
        return run

    def loop_empty():
        for i in range(n):
            keys[i % 1000]

    clock("loop overhead (index a list)", loop_empty)
    clock("dict[k] = v", loop_dict_set)
    clock("dict.get(k)", loop_dict_get)
    clock("db.put(k, v)  (implicit transaction, durability none)", loop_put)
    clock("db.get(k)     (implicit transaction)", loop_get)
    clock("tx.put(k, v)  (in a transaction)", loop_tx("put"))
    clock("tx.get(k)     (in a transaction)", loop_tx("get"))
    db.close()
    if lmdb:
        path = tempfile.mkdtemp(dir=args.dir)
        env = lmdb.open(path, map_size=1 << 30, sync=False, metasync=False, writemap=True,
                        map_async=True)
        with env.begin(write=True) as t:
            for k in keys:
                t.put(k, val)

        def lm_get():
            t = env.begin()
            g = t.get
            for i in range(n):
                g(keys[i % 1000])
            t.commit()

        def lm_put():
            t = env.begin(write=True)
            p = t.put
            for i in range(n):
                p(keys[i % 1000], val)
            t.commit()
        clock("lmdb txn.put(k, v)", lm_put)
        clock("lmdb txn.get(k)", lm_get)
        env.close()
        shutil.rmtree(path)
    return res


def pkg_version(p):
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", p], capture_output=True,
                              text=True).stdout or "?"
    except OSError:
        return "?"


def header(args, engines):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / (1 << 20)
    print("inmem Python benchmark (%s): bindings/python/bench/bench.py" %
          ("full" if args.full else "quick"))
    print("date:     %s" % datetime.datetime.now(datetime.timezone.utc)
          .strftime("%Y-%m-%d %H:%M:%S UTC"))
    print("machine:  %s, nproc %d, %.1f GiB RAM, Linux %s" % (cpu, os.cpu_count(), mem,
                                                           platform.release()))
    print("python:   %s %s; packages: python3-lmdb %s, liblmdb0 %s, libsqlite3-0 %s" % (
        platform.python_implementation(), platform.python_version(), pkg_version("python3-lmdb"),
        pkg_version("liblmdb0"), pkg_version("libsqlite3-0")))
    print("engines:  " + "; ".join("%s: %s" % (e.name, v) for e, v in engines))
    print("settings: keys 16 B, values 100 B, %d keys preloaded; each run %.1f s measured after "
          "%.1f s warm-up; temp dir %s" % (NKEYS, args.measure, args.warmup, args.dir))
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="2 s per run instead of 0.5 s")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each line per engine")
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--engines", default="inmem,lmdb,sqlite")
    ap.add_argument("--lines", default="", help="comma-separated lines to run (e.g. W3-1t,W4); "
                    "default: all")
    ap.add_argument("--keys", type=int, default=NKEYS, help="keys preloaded (default %d; at "
                    "least %d, a multiple of it)" % (NKEYS, PRELOAD_TXN))
    a = ap.parse_args()
    if a.keys < PRELOAD_TXN or a.keys % PRELOAD_TXN:
        ap.error("--keys must be a multiple of %d" % PRELOAD_TXN)
    if a.keys != NKEYS:
        setup(a.keys)
    a.measure, a.warmup = (2.0, 0.3) if a.full else (0.5, 0.1)
    classes = {"inmem": Inmem, "lmdb": Lmdb, "sqlite": Sqlite}
    names = [n for n in a.engines.split(",") if n != "lmdb" or lmdb]
    if "lmdb" in a.engines and not lmdb:
        print("python3-lmdb is not installed: lmdb left out (make bench-python installs it)")
    root = tempfile.mkdtemp(prefix="inmem-pybench-", dir=a.dir)
    groups = [("none", ["W1", "W1-tx", "W2", "W3-1t", "W3-2t", "W3-many", "W4"]),
              ("batched", ["W1", "W1-tx", "W2"])]
    if a.lines:
        want = a.lines.split(",")
        unknown = [w for w in want if w not in LINES]
        if unknown:
            ap.error("unknown line(s) %s; lines: %s" % (",".join(unknown), ",".join(LINES)))
        groups = [(d, [ln for ln in ls if ln in want]) for d, ls in groups]
        groups = [(d, ls) for d, ls in groups if ls]
    runs = {}
    versions = []
    try:
        for durability, lines in groups:
            # every engine open at once, so that the runs of a line alternate between engines
            # and a change in the machine's load falls on all of them
            engs = [classes[n](os.path.join(root, "%s-%s" % (n, durability)), durability)
                    for n in names]
            if durability == "none":
                versions = [(e, e.version()) for e in engs]
            if any(line in FLOOR_LINES for line in lines):
                engs.append(Floor(None, durability))  # runs on those lines only
            for e in engs:
                e.preload(values(0))
            for li, line in enumerate(lines):
                on = [e for e in engs if line in FLOOR_LINES or not isinstance(e, Floor)]
                for r in range(a.rounds):
                    # a stamp of its own for every round: each round's read-back checks that
                    # round's writes, not an earlier round's identical ones
                    vals = values(1 + li * a.rounds + r)
                    order = on[r % len(on):] + on[:r % len(on)]
                    for e in order:
                        rate = run_line(e, line, vals, a.measure, a.warmup)
                        runs.setdefault((line, durability, e.name), []).append(rate)
            for e in engs:
                e.close()
        calls = per_call(a)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    header(a, versions)
    others = [n for n in names if n != "inmem"]
    print("Committed transactions per second, median of %d runs per engine (runs alternate "
          "between engines);" % a.rounds)
    print("ratio = inmem's median / the best other engine's median.")
    print()
    print("| workload | durability | " + " | ".join(names) + " | inmem / best other |")
    print("|---|---|" + "---|" * len(names) + "---|")
    for durability, lines in groups:
        for line in lines:
            med = {n: statistics.median(runs[(line, durability, n)]) for n in names}
            best = max(others, key=lambda n: med[n]) if others else None
            ratio = "%.2fx (%s)" % (med["inmem"] / med[best], best) if best else "-"
            print("| %s | %s | %s | %s |" % (LINES[line][2], durability, " | ".join(
                "%.1fK" % (med[n] / 1e3) for n in names), ratio))
    floors = [(line, statistics.median(runs[(line, "none", Floor.name)]))
              for durability, lines in groups for line in lines
              if durability == "none" and line in FLOOR_LINES]
    if floors:
        print()
        print("The harness floor: the same W3 loop with a dict in the engine's place (begin and "
              "commit do nothing),")
        print("median of %d runs alternating with the engines'; an engine at the floor would "
              "reach floor / best other:" % a.rounds)
        for line, rate in floors:
            med = {n: statistics.median(runs[(line, "none", n)]) for n in names}
            best = max(others, key=lambda n: med[n]) if others else None
            print("  %-6s dict %.1fK txn/s%s; inmem at %.0f%% of the floor" % (
                line, rate / 1e3, ", at most %.2fx %s" % (rate / med[best], best) if best else "",
                100 * med["inmem"] / rate))
    print()
    print("ns per call (best of 3 runs of 200,000 calls over 1,000 keys; 16 B keys, 100 B values):")
    for label, ns in calls.items():
        print("  %-58s %7.0f ns" % (label, ns))
    print("  binding overhead vs a dict: db.get +%.0f ns, tx.get +%.0f ns (vs dict.get); "
          "db.put +%.0f ns, tx.put +%.0f ns (vs dict[k] = v)" % (
              calls["db.get(k)     (implicit transaction)"] - calls["dict.get(k)"],
              calls["tx.get(k)     (in a transaction)"] - calls["dict.get(k)"],
              calls["db.put(k, v)  (implicit transaction, durability none)"] -
              calls["dict[k] = v"],
              calls["tx.put(k, v)  (in a transaction)"] - calls["dict[k] = v"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
