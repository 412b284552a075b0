"""Transactions: the contract of docs/CONTRACT.md section 1 as seen from Python, the context manager,
closure transactions (transact, the decorator), read-only transactions, and misuse."""
import pytest

import inmem


def test_with_commits_on_exit(db):
    with db.transaction() as tx:
        tx.put(b"a", b"1")
        tx.put(b"b", b"2")
        assert db.get(b"a") is None  # pending writes are invisible to others
    assert tx.state == "committed"
    assert db.get(b"a") == b"1" and db.get(b"b") == b"2"
    info = tx.info()
    assert info.state == "committed" and info.commit_version == db.stats().version
    assert info.write_set_size == 2


def test_with_aborts_on_exception(db):
    with pytest.raises(RuntimeError):
        with db.transaction() as tx:
            tx.put(b"a", b"1")
            raise RuntimeError("boom")
    assert tx.state == "aborted"
    assert db.get(b"a") is None
    assert db.stats().aborts_user == 1
    assert db.stats().commits == 0


def test_commit_returns_version_and_moves_it_by_one(db):
    before = db.stats().version
    tx = db.transaction()
    tx.put(b"x", b"1")
    tx.put(b"y", b"2")
    v = tx.commit()
    assert v == before + 1
    assert db.get_entry(b"x").version == v and db.get_entry(b"y").version == v


def test_snapshot_isolation_and_read_your_writes(db):
    db.put(b"k", b"old")
    tx = db.transaction()
    db.put(b"k", b"new")                 # committed after tx began
    db.put(b"other", b"x")
    assert tx.get(b"k") == b"old"         # tx sees its snapshot
    assert tx.get(b"other") is None
    tx.put(b"mine", b"m")
    assert tx.get(b"mine") == b"m"        # and its own writes
    assert tx.get_entry(b"mine").version == 0
    tx.delete(b"k")
    assert tx.get(b"k") is None
    assert [e.key for e in tx.scan()] == [b"mine"]
    tx.abort()
    assert db.get(b"k") == b"new"


def test_read_set_conflict_names_key_and_rule(db):
    r = db.run_begin()
    db.put(b"acct", b"100", run=r)
    tx = db.transaction()
    tx.get(b"acct", run=r)
    db.put(b"acct", b"50", run=r)
    tx.put(b"log", b"x")
    with pytest.raises(inmem.ConflictError) as ei:
        tx.commit()
    e = ei.value
    assert e.key == b"acct" and e.run == r and e.rule == "read"
    assert e.found == e.expected + 1
    assert "acct" in str(e) and "read" in str(e)
    assert e.code == -2 and e.errname == "INMEM_CONFLICT"
    assert tx.state == "aborted"
    info = tx.info()
    assert info.reason == "read_conflict" and info.conflict_key == b"acct"
    assert info.conflict_run == r
    assert e.primitive == "kv" and info.conflict_primitive == "kv"
    assert db.get(b"log") is None  # nothing of the transaction was applied
    assert db.stats().aborts_read_conflict == 1


def test_missing_key_read_conflicts_when_created(db):
    tx = db.transaction()
    assert tx.get(b"k") is None  # version 0 is recorded
    db.put(b"k", b"v")
    tx.put(b"z", b"z")
    with pytest.raises(inmem.ConflictError):
        tx.commit()


def test_cas_conflict_at_commit(db):
    v = db.put(b"c", b"1")
    tx = db.transaction()
    tx.cas(b"c", v, b"2")
    db.put(b"c", b"other")
    with pytest.raises(inmem.ConflictError) as ei:
        tx.commit()
    assert ei.value.rule == "cas" and ei.value.key == b"c" and ei.value.run is None
    assert ei.value.expected == v and ei.value.found == v + 1
    assert db.stats().aborts_cas_conflict == 1
    # a state cell's conflict says it is one
    vc = db.state_set("phase", b"plan")
    tx = db.transaction()
    tx.state_cas("phase", vc, b"act")
    db.state_set("phase", b"done")
    with pytest.raises(inmem.ConflictError) as ei:
        tx.commit()
    assert ei.value.primitive == "state" and ei.value.key == b"phase"
    assert tx.info().conflict_primitive == "state"


def test_blind_writes_never_conflict(db):
    t1, t2 = db.transaction(), db.transaction()
    t1.put(b"k", b"1")
    t2.put(b"k", b"2")
    t1.commit()
    t2.commit()
    assert db.get(b"k") == b"2"  # the last committer's value stands


def test_write_skew_through_point_reads_is_stopped(db):
    db.put(b"a", b"1")
    db.put(b"b", b"1")
    t1, t2 = db.transaction(), db.transaction()
    t1.get(b"a"); t1.get(b"b"); t1.put(b"a", b"0")
    t2.get(b"a"); t2.get(b"b"); t2.put(b"b", b"0")
    t1.commit()
    with pytest.raises(inmem.ConflictError):
        t2.commit()


def test_phantoms_are_allowed(db):
    tx = db.transaction()
    assert list(tx.scan_prefix(b"q/")) == []
    db.put(b"q/1", b"x")
    tx.put(b"q/2", b"y")
    tx.commit()  # a key inserted into a scanned range does not conflict


def test_readonly_transaction(db):
    db.put(b"k", b"v")
    with db.transaction(readonly=True) as tx:
        assert tx.readonly
        assert tx.get(b"k") == b"v"
        with pytest.raises(inmem.ReadOnlyError):
            tx.put(b"k", b"w")
        with pytest.raises(inmem.ReadOnlyError):
            tx.state_set("c", b"x")
        db.put(b"k", b"changed")  # read-only transactions always commit
    assert tx.info().commit_version == 0
    assert db.stats().commits_readonly >= 1


def test_scan_range_and_prefix(db):
    for k in (b"a", b"b1", b"b2", b"b3", b"c"):
        db.put(k, k.upper())
    with db.transaction() as tx:
        assert [e.key for e in tx.scan(b"b1", b"b3")] == [b"b1", b"b2"]
        assert [e.key for e in tx.scan(b"b2")] == [b"b2", b"b3", b"c"]
        assert [e.key for e in tx.scan(end=b"b1")] == [b"a"]
        assert [(e.key, e.value) for e in tx.scan_prefix(b"b")] == [
            (b"b1", b"B1"), (b"b2", b"B2"), (b"b3", b"B3")]
        tx.put(b"b25", b"new")
        tx.delete(b"b3")
        assert [e.key for e in tx.scan_prefix(b"b")] == [b"b1", b"b2", b"b25"]


def test_scanned_keys_are_validated(db):
    db.put(b"s/1", b"x")
    tx = db.transaction()
    assert len(list(tx.scan_prefix(b"s/"))) == 1
    db.put(b"s/1", b"y")
    tx.put(b"out", b"1")
    with pytest.raises(inmem.ConflictError):
        tx.commit()


# ---- misuse: never a crash -----------------------------------------------------------------

def test_finished_transaction_raises(db):
    with db.transaction() as tx:
        tx.put(b"k", b"v")
    for call in (lambda: tx.get(b"k"), lambda: tx.put(b"k", b"v"), lambda: tx.delete(b"k"),
                 lambda: tx.commit(), lambda: tx.abort(), lambda: tx.scan(),
                 lambda: tx.event_append("s", "t"), lambda: tx.state_get("c"),
                 lambda: tx.run_begin(), lambda: tx.list(), lambda: tx.get_many([b"k"]),
                 lambda: tx.trace_query(), lambda: tx.__enter__()):
        with pytest.raises(inmem.TransactionDone):
            call()
    assert isinstance(inmem.TransactionDone("x"), inmem.MisuseError)


def test_transaction_ended_while_its_arguments_convert_takes_no_write(db):
    # Converting an argument runs Python code (here a run id's .bytes property) that ends the
    # transaction and begins another, which the library may give the ended one's memory: the
    # call must fail as on an ended transaction and never land in the new one.
    holder = {}
    tx = db.transaction()

    class Run:
        @property
        def bytes(self):
            tx.abort()
            holder["tx2"] = db.transaction()
            return bytes(16)

    with pytest.raises(inmem.TransactionDone):
        tx.state_set("cell", b"through an aborted transaction", run=Run())
    with pytest.raises(inmem.TransactionDone):
        tx.event_append("s", "t", b"p", run=Run())
    tx2 = holder["tx2"]
    assert tx2.info().write_set_size == 0
    tx2.commit()
    assert db.state_get("cell", run=bytes(16)) is None
    assert db.state_get("cell") is None


def test_iterator_outliving_its_transaction_raises(db):
    for i in range(500):
        db.put(b"k%03d" % i, b"v")
    with db.transaction() as tx:
        it = tx.scan()
        first = next(it)
        pages = tx.list(b"k")
        assert next(pages).key == b"k000"
        events = tx.event_range("s")
    assert first.key == b"k000"  # records are copies: still valid
    with pytest.raises(inmem.TransactionDone):
        next(it)
    with pytest.raises(inmem.TransactionDone):
        next(pages)
    with pytest.raises(inmem.TransactionDone):
        next(events)
    del tx
    with pytest.raises(StopIteration):
        next(it)  # once failed, it stays exhausted
    del it, pages, events


def test_iterators_dropped_after_transaction_freed(db):
    db.put(b"a", b"1")
    tx = db.transaction()
    it = tx.scan()
    tx.commit()
    del tx  # the transaction (and the library's iterator with it) is freed first
    del it  # must not free it again


def test_transaction_limit_and_release(db):
    small = inmem.open(durability="none", max_txns=4)
    try:
        txs = [small.transaction() for _ in range(4)]
        with pytest.raises(inmem.TransactionLimit):
            small.transaction()
        for t in txs:
            t.commit()
        # ended transactions hold no handle, even while the objects live on
        more = [small.transaction() for _ in range(4)]
        for t in more:
            t.abort()
        assert small.stats().open_txns == 0
    finally:
        small.close()


def test_close_with_open_transaction_is_refused(path):
    d = inmem.open(path)
    tx = d.transaction()
    with pytest.raises(inmem.BusyError):
        d.close()
    assert not d.closed
    tx.abort()
    d.close()
    assert d.closed
    d.close()  # idempotent


def test_dropped_transaction_is_aborted(db):
    tx = db.transaction()
    tx.put(b"k", b"v")
    del tx
    assert db.get(b"k") is None
    assert db.stats().open_txns == 0


def test_closed_database_raises(path):
    d = inmem.open(path)
    d.put(b"k", b"v")
    d.close()
    for call in (lambda: d.get(b"k"), lambda: d.put(b"k", b"v"), lambda: d.transaction(),
                 lambda: d.transact(lambda tx: None), lambda: d.stats(),
                 lambda: d.run_begin(), lambda: d.event_append("s", "t"),
                 lambda: d.list(), lambda: d.state_get("x"), lambda: d.recovery(),
                 lambda: d.__enter__()):
        with pytest.raises(inmem.MisuseError):
            call()


def test_transaction_cannot_be_constructed_directly():
    with pytest.raises(TypeError):
        inmem.Transaction()


# ---- closure transactions -------------------------------------------------------------------

def test_transact_commits_and_returns_result(db):
    def fn(tx):
        tx.put(b"k", b"v")
        return 42
    assert db.transact(fn) == 42
    assert db.get(b"k") == b"v"


def test_transact_retries_on_conflict(db):
    db.put(b"n", b"0")
    calls = []

    def fn(tx):
        n = int(tx.get(b"n"))
        if not calls:
            db.put(b"n", b"100")  # another committer gets in first, once
        calls.append(n)
        tx.put(b"n", b"%d" % (n + 1))
        return n

    assert db.transact(fn) == 100
    assert calls == [0, 100]
    assert db.get(b"n") == b"101"
    assert db.stats().retries == 1


def test_transact_exception_aborts_without_retry(db):
    calls = []

    def fn(tx):
        calls.append(1)
        tx.put(b"k", b"v")
        raise KeyError("nope")

    with pytest.raises(KeyError):
        db.transact(fn)
    assert calls == [1]
    assert db.get(b"k") is None


def test_transact_retries_exhausted(db):
    def fn(tx):
        tx.get(b"hot")
        db.put(b"hot", b"x")  # always conflicts
        tx.put(b"out", b"1")

    with pytest.raises(inmem.RetriesExhausted) as ei:
        db.transact(fn, max_attempts=3, backoff_initial=0, backoff_max=0)
    assert isinstance(ei.value, inmem.ConflictError)
    e = ei.value  # a ConflictError's attributes exist on it too (no report: None)
    assert (e.key, e.run, e.rule, e.expected, e.found, e.primitive) == (None,) * 6
    assert db.stats().retries_exhausted == 1
    assert db.stats().retries == 2


def test_transact_timeout(db):
    def fn(tx):
        tx.get(b"hot")
        db.put(b"hot", b"x")
        tx.put(b"out", b"1")

    with pytest.raises(inmem.TimeoutError):
        db.transact(fn, max_attempts=1000000, timeout=0.02, backoff_initial=0.001,
                    backoff_max=0.005)
    assert db.stats().deadlines_expired == 1


def test_commit_past_the_deadline_applies_nothing(db):
    import time
    tx = db.transaction(timeout=0.001)
    tx.put(b"a", b"1")
    time.sleep(0.005)
    with pytest.raises(inmem.TimeoutError):
        tx.commit()
    assert tx.state == "aborted"
    assert db.get(b"a") is None
    with db.transaction() as tx:
        tx.set_timeout(60)
        tx.put(b"b", b"2")
    assert db.get(b"b") == b"2"
    assert db.stats().deadlines_expired == 1
    with pytest.raises(ValueError):
        db.transaction(timeout=-1)


def test_transact_attempt_past_the_timeout_is_not_committed(db):
    import time
    runs = []

    def slow(tx):
        runs.append(1)
        tx.put(b"slow", b"late")
        time.sleep(0.03)

    with pytest.raises(inmem.TimeoutError):
        db.transact(slow, timeout=0.01)
    assert len(runs) == 1 and db.get(b"slow") is None


def test_transact_bad_options(db):
    with pytest.raises(ValueError):
        db.transact(lambda tx: None, max_attempts=0)
    with pytest.raises(ValueError):
        db.transact(lambda tx: None, backoff_initial=1, backoff_max=0.5)
    with pytest.raises(TypeError):
        db.transact(42)


def test_transact_transaction_is_managed(db):
    kept = []

    def fn(tx):
        kept.append(tx)
        with pytest.raises(inmem.MisuseError):
            tx.commit()
        with pytest.raises(inmem.MisuseError):
            tx.abort()
        with pytest.raises(inmem.MisuseError):
            with tx:
                pass
        tx.put(b"k", b"v")

    db.transact(fn)
    assert db.get(b"k") == b"v"
    tx = kept[0]
    assert tx.state == "ended"
    with pytest.raises(inmem.TransactionDone):
        tx.get(b"k")
    with pytest.raises(inmem.TransactionDone):
        tx.info()


def test_nested_transact(db):
    def inner(tx):
        tx.put(b"inner", b"1")

    def outer(tx):
        db.transact(inner)  # its own transaction, committed on its own
        tx.put(b"outer", b"1")

    db.transact(outer)
    assert db.get(b"inner") == b"1" and db.get(b"outer") == b"1"


def test_decorator(db):
    @db.transactional
    def bump(tx, key, by=1):
        n = int(tx.get(key) or 0) + by
        tx.put(key, b"%d" % n)
        return n

    @db.transactional(max_attempts=5)
    def read(tx, key):
        return tx.get(key)

    assert bump(b"c") == 1
    assert bump(b"c", by=5) == 6
    assert read(b"c") == b"6"
    assert bump.__name__ == "bump"


def _reads_while_a_finalizer_ends_the_transaction(db, read):
    """Runs read(tx) with a garbage collection due at its first allocation of a tracked object,
    when a finalizer tries to end tx (and commits elsewhere, so that what tx lent is freed)."""
    import gc

    tx = db.transaction()
    seen = []

    class Ender:
        def __init__(self):
            self.cycle = self

        def __del__(self):
            try:
                tx.abort()
                seen.append("aborted")
            except inmem.MisuseError:
                seen.append("refused")
            for i in range(300):  # supersede and free every version tx could still point to
                db.delete(b"k%03d" % i)
            db.sweep()

    prepared = read(tx, None)  # what must exist before the collection (an iterator)
    Ender()
    old = gc.get_threshold()
    gc.set_threshold(1)
    try:
        got = read(tx, prepared)
    finally:
        gc.set_threshold(*old)
    assert seen == ["refused"]  # it lent memory that is being copied: it cannot end now
    tx.abort()
    return got


def test_finalizer_cannot_end_a_transaction_whose_records_are_being_copied(db):
    # a page of records, a get_many or a replayed commit is copied from memory the transaction
    # lends; a finalizer run by the garbage collector in the middle of the copy used to be able
    # to free it (a use after free)
    run = db.run_begin(history=True)
    for i in range(300):
        db.put(b"k%03d" % i, b"v%03d" % i + b"." * 1000, run=run)

    def page(tx, it):
        if it is None:
            it = tx.list(run=run)
            for _ in range(128):
                next(it)
            return it
        return next(it)

    got = _reads_while_a_finalizer_ends_the_transaction(db, page)
    assert (got.key, got.value) == (b"k128", b"v128" + b"." * 1000)


def test_finalizer_cannot_end_a_transaction_in_get_many(db):
    run = db.run_begin(history=True)
    for i in range(300):
        db.put(b"k%03d" % i, b"v%03d" % i + b"." * 1000, run=run)
    keys = [b"k%03d" % i for i in range(300)]

    def get_many(tx, held):
        if held is None:  # empty the free list of lists: the result list is a new allocation
            return [[] for _ in range(200)]
        return tx.get_many(keys, run=run)

    got = _reads_while_a_finalizer_ends_the_transaction(db, get_many)
    assert got == [b"v%03d" % i + b"." * 1000 for i in range(300)]


def test_finalizer_cannot_end_a_transaction_in_replay(db):
    run = db.run_begin(history=True)
    with db.transaction() as tx:
        for i in range(300):
            tx.put(b"k%03d" % i, b"v%03d" % i + b"." * 1000, run=run)

    def replay(tx, it):
        if it is None:
            it = tx.run_replay(run)
            next(it)  # the run's creation
            return it
        return next(it)

    commit = _reads_while_a_finalizer_ends_the_transaction(db, replay)
    kv = [c for c in commit.changes if c.primitive == "kv"]
    assert [(c.key, c.value) for c in kv] == [
        (b"k%03d" % i, b"v%03d" % i + b"." * 1000) for i in range(300)]


def test_finalizer_cannot_read_an_iterator_in_the_middle_of_its_page(db):
    # the page being copied and the cursor belong to the read in progress: a finalizer's next()
    # on the same iterator is refused instead of reading another page into them
    import gc

    for i in range(300):
        db.put(b"k%03d" % i, b"v%03d" % i)
    it = db.list()
    for _ in range(128):
        next(it)
    seen = []

    class Reader:
        def __init__(self):
            self.cycle = self

        def __del__(self):
            try:
                seen.append(next(it).key)
            except inmem.MisuseError:
                seen.append("refused")

    Reader()
    old = gc.get_threshold()
    gc.set_threshold(1)
    try:
        first = next(it)
    finally:
        gc.set_threshold(*old)
    assert seen == ["refused"]
    assert [first.key] + [e.key for e in it] == [b"k%03d" % i for i in range(128, 300)]


@pytest.mark.parametrize("call", ["get", "get_entry", "put", "delete", "cas", "scan",
                                  "scan_prefix", "run_replay"])
def test_transaction_ended_while_its_arguments_convert_raises_transaction_done(db, call):
    # as above, for the KV calls of Transaction itself and run_replay: TransactionDone, not the
    # library's refusal of the missing handle (InvalidArgument, a ValueError)
    tx = db.transaction()

    class Run:
        @property
        def bytes(self):
            tx.abort()
            return bytes(range(16))

    calls = {
        "get": lambda r: tx.get(b"k", run=r),
        "get_entry": lambda r: tx.get_entry(b"k", run=r),
        "put": lambda r: tx.put(b"k", b"v", run=r),
        "delete": lambda r: tx.delete(b"k", run=r),
        "cas": lambda r: tx.cas(b"k", 0, b"v", run=r),
        "scan": lambda r: tx.scan(run=r),
        "scan_prefix": lambda r: tx.scan_prefix(b"k", run=r),
        "run_replay": lambda r: tx.run_replay(r),
    }
    with pytest.raises(inmem.TransactionDone):
        calls[call](Run())
