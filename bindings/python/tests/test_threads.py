"""Threads sharing one Database: no lost update, invariants kept under concurrent transfers,
tasks claimed exactly once, and a close that waits for nobody's call to be cut short."""
import random
import sys
import threading
import time
import uuid

import pytest

import inmem


def run_threads(n, target, *args):
    errors = []

    def wrap(i):
        try:
            target(i, *args)
        except BaseException as e:  # noqa: B902 - reported below
            errors.append(e)

    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


@pytest.mark.parametrize("durability", ["none", "strict"])
def test_no_lost_update_on_hot_counters(tmp_path, durability):
    db = inmem.open(str(tmp_path / "d"), durability=durability)
    try:
        per = 100 if durability == "strict" else 400

        @db.transactional(max_attempts=100000, backoff_initial=0.00001, backoff_max=0.0005)
        def bump(tx, key):
            tx.put(key, b"%d" % (int(tx.get(key) or 0) + 1))

        def worker(i):
            rng = random.Random(i)
            for _ in range(per):
                bump(b"c%d" % rng.randrange(3))

        run_threads(4, worker)
        assert sum(int(db.get(b"c%d" % i) or 0) for i in range(3)) == 4 * per
        s = db.stats()
        assert s.commits == 4 * per
        if durability == "strict":
            assert s.wal_synced_commits >= 4 * per and s.wal_syncs >= 1
    finally:
        db.close()


def test_bank_transfers_keep_the_sum(db):
    accounts = 8
    for i in range(accounts):
        db.put(b"acct%d" % i, b"1000")
    stop = threading.Event()
    bad_sums = []

    def transfer(i):
        rng = random.Random(100 + i)
        for _ in range(300):
            a, b = rng.sample(range(accounts), 2)
            amount = rng.randrange(1, 50)
            while True:
                tx = db.transaction()
                try:
                    va = int(tx.get(b"acct%d" % a))
                    vb = int(tx.get(b"acct%d" % b))
                    tx.put(b"acct%d" % a, b"%d" % (va - amount))
                    tx.put(b"acct%d" % b, b"%d" % (vb + amount))
                    tx.commit()
                    break
                except inmem.ConflictError:
                    continue

    def audit():
        while not stop.is_set():
            with db.transaction(readonly=True) as tx:
                total = sum(int(v) for v in tx.get_many([b"acct%d" % i for i in range(accounts)]))
            if total != accounts * 1000:
                bad_sums.append(total)

    auditor = threading.Thread(target=audit)
    auditor.start()
    try:
        run_threads(3, transfer)
    finally:
        stop.set()
        auditor.join()
    assert bad_sums == []
    assert sum(int(db.get(b"acct%d" % i)) for i in range(accounts)) == accounts * 1000


def test_tasks_claimed_exactly_once(db):
    tasks = ["task/%03d" % i for i in range(200)]
    for t in tasks:
        db.state_set(t, "open")
    claims = {}
    lock = threading.Lock()

    def agent(i):
        me = "agent-%d" % i
        order = tasks[:]
        random.Random(i).shuffle(order)
        for t in order:
            try:
                db.state_cas_value(t, "open", me)
            except inmem.ConflictError:
                continue
            with lock:
                claims.setdefault(t, []).append(me)

    run_threads(4, agent)
    assert sorted(claims) == tasks
    assert all(len(v) == 1 for v in claims.values())
    for t, (owner,) in claims.items():
        assert db.state_get(t).value == owner.encode()


def test_close_refused_while_another_thread_is_in_a_call(path):
    db = inmem.open(path)
    inside, release = threading.Event(), threading.Event()

    def body(tx):
        inside.set()
        release.wait()
        tx.put(b"k", b"v")

    t = threading.Thread(target=db.transact, args=(body,))
    t.start()
    assert inside.wait(10)
    try:
        with pytest.raises(inmem.BusyError):
            db.close()
        assert not db.closed
    finally:
        release.set()
        t.join()
    db.close()
    with inmem.open(path) as again:
        assert again.get(b"k") == b"v"


def test_transaction_handed_between_threads(db):
    tx = db.transaction()
    tx.put(b"a", b"1")
    t = threading.Thread(target=lambda: tx.put(b"b", b"2"))
    t.start()
    t.join()
    tx.commit()
    assert db.get_many([b"a", b"b"]) == [b"1", b"2"]


def test_readers_and_writers_on_one_database(db):
    def writer(i):
        for n in range(500):
            db.put(b"w%d" % i, b"%d" % n)

    def reader(i):
        last = -1
        for _ in range(500):
            v = db.get(b"w0")
            if v is not None:
                assert int(v) >= last  # committed values only move forward
                last = int(v)

    run_threads(2, lambda i: writer(i) if i == 0 else reader(i))
    assert db.get(b"w0") == b"499"


def test_transaction_busy_in_another_thread_raises_not_races(db):
    """tx.put of a big value releases the GIL; meanwhile the transaction is busy and another
    thread's calls on it raise MisuseError instead of entering the library (a race that
    SAN=thread would report). Each call either succeeds correctly or raises MisuseError."""
    big = b"B" * (4 << 20)
    tx = db.transaction()
    tx.put(b"small", b"s")
    done = threading.Event()
    outcomes = {"ok": 0, "busy": 0}

    def writer(i):
        if i == 0:
            try:
                for n in range(30):
                    tx.put(b"big%d" % (n % 3), big)
            finally:
                done.set()
        else:
            while not done.is_set():
                try:
                    assert tx.get(b"small") == b"s"
                    outcomes["ok"] += 1
                except inmem.MisuseError as e:
                    assert "another thread" in str(e)
                    outcomes["busy"] += 1

    run_threads(2, writer)
    assert outcomes["ok"] + outcomes["busy"] > 0
    assert tx.get(b"big2") == big
    tx.commit()
    assert db.get(b"big0") == big and db.get(b"small") == b"s"


def test_iterators_survive_a_transaction_busy_in_another_thread(db):
    # While another thread's put of >= 1 MiB runs with the GIL released, the transaction is busy
    # and next() on its iterators raises MisuseError; that must not end them: retried, they go
    # on and yield every key.
    for i in range(300):
        db.put(b"k%03d" % i, b"v")
    tx = db.transaction()
    iters = {"scan": tx.scan(), "list": tx.list(b"k")}
    seen = {name: [] for name in iters}
    busy = {name: 0 for name in iters}
    big = b"x" * (2 << 20)
    started = threading.Event()

    def writer():  # (the same key: the write set keeps one value)
        for _ in range(20):
            tx.put(b"big", big)
            started.set()

    t = threading.Thread(target=writer)
    t.start()
    started.wait()
    live = set(iters)
    while live:
        for name in list(live):
            try:
                item = next(iters[name])
                seen[name].append(item[0] if isinstance(item, tuple) else item.key)
            except inmem.MisuseError:
                busy[name] += 1
            except StopIteration:
                live.discard(name)
    t.join()
    tx.abort()
    assert sum(busy.values()) > 0  # the case this test is about did happen
    for name in iters:
        keys = [k for k in seen[name] if k.startswith(b"k")]
        assert keys == [b"k%03d" % i for i in range(300)], (name, len(keys), busy[name])


def test_state_of_a_transact_transaction_busy_in_its_callback_is_active():
    # While the callback's own put of >= 1 MiB runs with the GIL released, another thread reads
    # tx.state: the transaction is active (not "ended", which is for after the callback).
    db = inmem.open(durability="none", max_value_size=8 << 20)
    seen = set()
    stop = threading.Event()

    def watch(tx):
        while not stop.is_set():
            seen.add(tx.state)

    def fn(tx):
        th = threading.Thread(target=watch, args=(tx,))
        th.start()
        big = b"x" * (4 << 20)
        for i in range(40):
            tx.put(b"k%d" % (i % 2), big)
        stop.set()
        th.join()

    db.transact(fn)
    db.close()
    assert seen == {"active"}, seen


@pytest.mark.parametrize("outcome", ["returns", "raises"])
def test_transact_waits_for_another_threads_call_on_its_transaction(outcome):
    # The callback hands its transaction to a thread whose put of a big value releases the GIL,
    # and returns (or raises) while that put is still in the library. The library commits (or
    # aborts) and frees the handle as soon as the callback ends: the binding must wait for the
    # put first. Before, the put went on into the freed handle, and the next transaction, which
    # reused it, began with a write it never made and committed it.
    db = inmem.open(durability="none", max_value_size=64 << 20)
    big = b"P" * (32 << 20)
    observed = False
    for attempt in range(20):
        key = b"phantom%d" % attempt
        errors = []
        state = {}

        def worker(tx):
            try:
                tx.put(key, big)
            except Exception as e:  # noqa: BLE001 (reported by the assertion below)
                errors.append(e)

        def fn(tx):
            th = threading.Thread(target=worker, args=(tx,))
            state["thread"] = th
            th.start()
            while th.is_alive():  # until the put is in the library (the transaction busy)
                try:
                    tx.info()
                except inmem.MisuseError:
                    state["busy"] = True
                    break
            if outcome == "raises":
                raise KeyError("the callback fails")
            return "done"

        if outcome == "raises":
            with pytest.raises(KeyError):
                db.transact(fn)
        else:
            assert db.transact(fn) == "done"
        state["thread"].join()
        assert errors == []
        # the put ended inside the transaction: committed with it, or aborted with it
        assert db.get(key) == (big if outcome == "returns" else None)
        with db.transaction() as tx2:  # a fresh transaction begins with nothing written
            assert tx2.info().write_set_size == 0
            assert tx2.get(key) == (big if outcome == "returns" else None)
        if state.get("busy"):
            observed = True
            break
    db.close()
    assert observed  # the case this test is about did happen


@pytest.mark.parametrize("call", ["get", "put", "state_get", "event_append"])
def test_transaction_busy_once_its_arguments_are_converted_is_refused(call):
    # Converting an argument runs its code, during which another thread may begin a call on the
    # same transaction that releases the GIL (a put of >= 1 MiB). The library must not then be
    # called from both threads at once: the call raises MisuseError.
    db = inmem.open(durability="none", max_value_size=64 << 20)
    tx = db.transaction()
    big = b"x" * (48 << 20)
    th = []

    class SlowId:
        @property
        def bytes(self):
            t = threading.Thread(target=tx.put, args=(b"big", big))
            th.append(t)
            t.start()
            while True:  # until the other thread's put is in flight
                try:
                    tx.info()
                except inmem.MisuseError:
                    return uuid.UUID(int=7).bytes
                time.sleep(0)

    calls = {
        "get": lambda r: tx.get(b"k", run=r),
        "put": lambda r: tx.put(b"k", b"v", run=r),
        "state_get": lambda r: tx.state_get("c", run=r),
        "event_append": lambda r: tx.event_append("s", "t", b"p", run=r),
    }
    try:
        with pytest.raises(inmem.MisuseError, match="another thread"):
            calls[call](SlowId())
    finally:
        for t in th:
            t.join()
    tx.abort()
    db.close()



FORK_CHILD = r"""
import os, signal, sys, time
import inmem
path, opts = sys.argv[1], eval(sys.argv[2])
db = inmem.open(path, **opts)
db.put("k", b"before")
pid = os.fork()
if pid == 0:  # the child: close() refuses; then a normal exit runs the Database's finalizer
    signal.alarm(20)
    try:
        db.close()
        os._exit(3)
    except inmem.MisuseError as e:
        if "fork" not in str(e):
            os._exit(4)
    sys.exit(0)
deadline = time.monotonic() + 30
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.monotonic() > deadline:
        os.kill(pid, signal.SIGKILL)
        sys.exit("the forked child hung at exit")
    time.sleep(0.02)
if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
    sys.exit("the child ended with status %d" % status)
assert db.get("k") == b"before"
db.put("k", b"after")
db.close()
with inmem.open(path) as again:
    assert again.get("k") == b"after"
print("ok")
"""


@pytest.mark.parametrize("opts", ["{}", "{'checkpoint_on_close': True}"])
def test_a_forked_child_that_exits_leaves_the_parents_database_alone(path, opts):
    """A child of fork() used to hang at exit: its Database's finalizer closed the database,
    which waited for background threads that stayed in the parent. The child now exits at once
    (a close() in it raises MisuseError), and the parent's database goes on."""
    import subprocess
    r = subprocess.run([sys.executable, "-P", "-c", FORK_CHILD, path, opts],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stdout, r.stderr)
