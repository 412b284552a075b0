"""Opening, options, durability, recovery information, read-only inspection, closing."""
import os
import stat
import time

import pytest

import inmem


def test_open_creates_and_reopens(path):
    with inmem.open(path) as db:
        assert db.path == path and db.durability == "batched" and not db.read_only
        assert db.recovery().created
        db.put(b"k", b"v")
        r = db.run_begin()
        db.event_append("s", "t", b"p", run=r)
    assert db.closed
    with inmem.open(path) as db:
        rec = db.recovery()
        assert not rec.created and rec.txns_applied == 3 and rec.version == 3
        assert db.get(b"k") == b"v" and db.event_get("s", 1, run=r).payload == b"p"


def test_pathlike_and_durability_modes(tmp_path):
    for mode in ("none", "async", "batched", "strict"):
        p = tmp_path / mode
        with inmem.open(p if mode != "none" else None, durability=mode) as db:
            assert db.durability == mode
            db.put(b"k", mode)
            assert db.get(b"k") == mode.encode()
    with pytest.raises(ValueError):
        inmem.open(str(tmp_path / "x"), durability="sometimes")
    with pytest.raises(ValueError):
        inmem.open(None)  # a path is needed unless durability is none


def test_create_if_missing_and_file_mode(tmp_path):
    missing = str(tmp_path / "missing")
    with pytest.raises(inmem.NotFound):
        inmem.open(missing, create_if_missing=False)
    assert not os.path.exists(missing)
    with pytest.raises(inmem.NotFound):
        inmem.open(missing, read_only=True)
    with inmem.open(missing, file_mode=0o640) as db:
        db.put(b"k", b"v")
    logs = [f for f in os.listdir(missing) if f.endswith(".log")]
    assert logs and all(stat.S_IMODE(os.stat(os.path.join(missing, f)).st_mode) & 0o077 in
                        (0o040, 0o000) for f in logs)
    with pytest.raises(inmem.InvalidArgument):
        inmem.open(str(tmp_path / "bad"), file_mode=0o400)  # owner read+write required
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    (unrelated / "notes.txt").write_text("hi")
    with pytest.raises(inmem.InvalidArgument):
        inmem.open(str(unrelated))  # a non-empty directory that holds no database


def test_unknown_and_bad_options(path):
    with pytest.raises(TypeError):
        inmem.open(path, max_txn=4)
    with pytest.raises(inmem.InvalidArgument):
        inmem.open(path, max_key_size=1 << 20)
    with pytest.raises(ValueError):
        inmem.open(path, max_txns=-1)
    with pytest.raises(TypeError):
        inmem.open(path, sync_commits="many")


def test_options_take_effect(path):
    with inmem.open(path, max_key_size=8, max_value_size=16, sync_interval_ms=5,
                    sync_commits=10, max_unsynced_commits=100, wal_segment_size=1 << 16,
                    ttl_sweep_interval_ms=0) as db:
        db.put(b"12345678", b"x" * 16)
        with pytest.raises(inmem.TooBig):
            db.put(b"123456789", b"x")
        with pytest.raises(inmem.TooBig):
            db.put(b"k", b"x" * 17)
        for i in range(2000):  # more than one 64 KiB segment
            db.put(b"k%d" % (i % 10), b"y" * 16)
    with inmem.open(path) as db:
        assert db.recovery().segments >= 2
        assert db.get(b"12345678") == b"x" * 16


def test_locked_by_another_handle(path):
    import subprocess
    import sys
    with inmem.open(path) as db:
        db.put(b"k", b"v")
        code = ("import inmem, sys\n"
                "try:\n inmem.open(sys.argv[1])\nexcept inmem.LockedError as e:\n"
                " print('locked', e.code, e.detail is not None)\n")
        out = subprocess.run([sys.executable, "-P", "-c", code, path], capture_output=True,
                             text=True, env=dict(os.environ))
        assert out.stdout.split() == ["locked", "-23", "True"], out


def test_read_only_inspection(path):
    with inmem.open(path) as db:
        db.put(b"k", b"v")
        with inmem.open(path, read_only=True) as ro:  # no lock: beside the writer
            assert ro.read_only and ro.get(b"k") == b"v"
            with pytest.raises(inmem.ReadOnlyError):
                ro.put(b"k", b"w")
            with pytest.raises(inmem.ReadOnlyError):
                ro.run_begin()
            db.put(b"later", b"x")
            assert ro.get(b"later") is None  # the view is the state at its open


def test_an_error_naming_a_path_that_is_not_utf8_is_an_inmem_error(tmp_path):
    # The library's message names the path as its bytes; one that is not UTF-8 (os.fsencode
    # allows any) used to turn the error into UnicodeDecodeError, which no `except inmem.Error`
    # catches.
    bad = os.path.join(os.fsencode(tmp_path), b"bad\xff")
    open(bad, "w").close()  # a file where the database's directory should be
    with pytest.raises(inmem.Error) as ei:
        inmem.open(bad)
    assert "bad\ufffd" in str(ei.value)
    # and messages cut inside a character (the binding and the library keep so many bytes of
    # them): a path of two-byte characters, with 0 and 1 ASCII byte in front of its last part,
    # so that one of the two cuts falls inside a character wherever the cut is
    deep = os.path.join(str(tmp_path), *["é" * 120] * 4)
    os.makedirs(deep)
    for pad in ("", "a"):
        f = os.path.join(deep, pad + "é" * 20)
        open(f, "w").close()
        with pytest.raises(inmem.Error):
            inmem.open(f)


def test_expiry_absolute_and_read_back(db):
    now_ms = int(time.time() * 1000)
    v = db.put(b"a", b"1", expire_at_ms=now_ms + 3_600_000)
    assert v == db.stats().version
    assert db.get_expiry(b"a") == now_ms + 3_600_000
    db.put(b"b", b"2", ttl=60)
    assert now_ms + 59_000 <= db.get_expiry(b"b") <= int(time.time() * 1000) + 60_000
    db.put(b"c", b"3")
    assert db.get_expiry(b"c") == 0       # no TTL
    assert db.get_expiry(b"none") is None  # no such key
    db.put(b"past", b"x", expire_at_ms=now_ms - 1000)
    assert db.get(b"past") is None and db.get_expiry(b"past") is None
    with pytest.raises(TypeError):
        db.put(b"k", b"v", ttl=1, expire_at_ms=now_ms)
    with db.transaction() as tx:
        tx.put(b"t", b"v", expire_at_ms=now_ms + 5000)
        assert tx.get_expiry(b"t") == now_ms + 5000  # its own pending write
    assert db.get_expiry(b"t") == now_ms + 5000


def test_run_list_stored(db):
    begun = db.run_begin()
    never = inmem.RunId.new()
    db.put(b"k", b"v", run=never)  # data under a run that was never begun
    db.put(b"shared", b"v")
    assert list(db.run_list()) == [begun]
    assert list(db.run_list_stored()) == sorted([begun, never])
    assert list(db.run_list_stored(after=min(begun, never))) == [max(begun, never)]
    many = sorted(inmem.RunId.new() for _ in range(200))
    for r in many:
        db.put(b"x", b"y", run=r)
    assert list(db.run_list_stored()) == sorted(many + [begun, never])


def test_stats_fields(db):
    s = db.stats()
    assert s.version == 0 and s.commits == 0 and s.open_txns == 0
    tx = db.transaction()
    s = db.stats()
    assert s.open_txns == 1 and s.oldest_snapshot_version == 0
    tx.abort()
    db.put(b"k", b"v")
    assert db.stats().keys >= 1 and db.stats().version == 1


def test_repr_and_help_are_useful(db, path):
    assert "durability=none" in repr(db)
    assert "active" in repr(db.transaction(readonly=True))
    doc = inmem.Database.__doc__ + inmem.Database.transact.__doc__
    assert "snapshot" in inmem.Transaction.__doc__ and "retr" in doc
    for name in ("get", "put", "transaction", "transact", "event_append", "state_cas_value",
                 "trace_record", "run_begin", "list", "get_many", "stats", "checkpoint",
                 "backup"):
        assert getattr(inmem.Database, name).__doc__, name


def test_versions():
    assert inmem.LIBRARY_VERSION == inmem.HEADER_VERSION == inmem.__version__
    major, minor, patch = map(int, inmem.LIBRARY_VERSION.split("."))
    assert inmem.LIBRARY_VERSION_NUMBER == major * 1000000 + minor * 1000 + patch
    assert inmem.HEADER_VERSION_NUMBER == inmem.LIBRARY_VERSION_NUMBER
    assert inmem.errname(-2) == "INMEM_CONFLICT" and "conflict" in inmem.strerror(-2)


def test_close_refused_by_the_library_leaves_the_database_open(path):
    # a close from a finalizer run by the garbage collector in the middle of a page of db.list()
    # (while the page's own read-only transaction is open): the library refuses it (EBUSY) and
    # closes nothing; the Database stays open instead of leaking the handle and its lock
    import gc

    db = inmem.open(path)
    for i in range(300):
        db.put(b"k%03d" % i, b"v%03d" % i)
    seen = []

    class Closer:
        def __init__(self):
            self.cycle = self

        def __del__(self):
            try:
                db.close()
                seen.append("closed")
            except inmem.Error as e:
                seen.append(type(e))

    it = db.list()
    for _ in range(128):  # the first page
        next(it)
    Closer()
    old = gc.get_threshold()
    gc.set_threshold(1)  # the next allocation of a tracked object (in the page's copy) collects
    try:
        entry = next(it)
    finally:
        gc.set_threshold(*old)
    assert seen == [inmem.BusyError]
    assert entry.key == b"k128"
    assert not db.closed
    db.put(b"after", b"x")
    assert len(list(it)) == 300 - 129  # b"after" sorts before the cursor
    db.close()
    with inmem.open(path) as again:  # the lock was released: nothing leaked
        assert again.get(b"after") == b"x"


CLOSING_CALLS = {
    "get": lambda db, r: db.get(b"k", run=r),
    "put": lambda db, r: db.put(b"k", b"v", run=r),
    "delete": lambda db, r: db.delete(b"k", run=r),
    "cas": lambda db, r: db.cas(b"k", 0, b"v", run=r),
    "state_transition": lambda db, r: db.state_transition("c", lambda cur, v: b"x", run=r),
    "run_get": lambda db, r: db.run_get(r),
    "run_begin": lambda db, r: db.run_begin(id=r),
    "state_set": lambda db, r: db.state_set("c", b"v", run=r),
    "event_get": lambda db, r: db.event_get("s", 1, run=r),
    "get_expiry": lambda db, r: db.get_expiry(b"k", run=r),
    "run_diff": lambda db, r: db.run_diff(r, r),
    "wait": lambda db, r: db.wait(b"k", run=r, timeout=0),
    "watch": lambda db, r: db.watch(b"k", run=r),
}


@pytest.mark.parametrize("call", sorted(CLOSING_CALLS))
def test_database_closed_while_arguments_convert_raises_misuse(call):
    # converting an argument runs its code (here uuid-like .bytes), which may close the
    # database: the call then says the database is closed (MisuseError), not that an argument
    # was invalid (InvalidArgument, a ValueError)
    import uuid

    db = inmem.open(durability="none")

    class ClosingId:
        @property
        def bytes(self):
            db.close()
            return uuid.UUID(int=7).bytes

    with pytest.raises(inmem.MisuseError, match="closed"):
        CLOSING_CALLS[call](db, ClosingId())
    assert db.closed


def test_reentrant_init_leaks_no_handle(tmp_path):
    # an option's __bool__ that opens the same Database object (or another thread doing so
    # while the open releases the GIL): the second open must not overwrite the first handle,
    # which would stay open for ever with its directory's lock
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    db = inmem.Database.__new__(inmem.Database)

    class Flag:
        def __bool__(self):
            inmem.Database.__init__(db, second)
            return False

    with pytest.raises(inmem.MisuseError, match="already open"):
        db.__init__(first, repair=Flag())
    assert db.path == second
    db.close()
    for p in (first, second):  # neither directory is still locked
        inmem.open(p).close()


def test_an_error_without_details_does_not_get_an_earlier_errors():
    # the library keeps its last message until another error sets one, and most InvalidArgument
    # errors set none: the binding used to show the earlier, unrelated message with them
    db = inmem.open(None, durability="none")
    try:
        db.put(b"k", b"v")
        with pytest.raises(inmem.InvalidArgument) as first:
            db.transaction(at_version=1000)
        assert "1000" in str(first.value) and first.value.detail
        run = db.run_begin()
        for call in (lambda: db.run_end(run, status="active"), lambda: db.put(b"", b"x"),
                     lambda: db.state_set("", b"x")):
            with pytest.raises(inmem.InvalidArgument) as later:
                call()
            assert "1000" not in str(later.value), later.value
            assert later.value.detail is None or "1000" not in later.value.detail
    finally:
        db.close()


def test_error_codes_out_of_int_range_are_unknown():
    # strerror/errname took the low 32 bits of a big int: errname(2**40) said INMEM_OK
    assert inmem.errname(2**40) == inmem.errname(-10**6) != "INMEM_OK"
    assert inmem.strerror(2**32 - 11) == inmem.strerror(-10**6)
    assert inmem.errname(-11) != inmem.errname(2**32 - 11)


def test_an_enum_given_as_a_huge_int_is_a_value_error(db):
    run = db.run_begin()
    with pytest.raises(ValueError, match="kind must be one of"):
        db.trace_record(2**70, "x", run=run)  # was OverflowError


def test_integer_arguments_take_any_integer_type(db):
    class Idx:  # what numpy's integers do
        def __init__(self, v):
            self.v = v

        def __index__(self):
            return self.v
    for i in range(5):
        db.put(b"k%d" % i, b"v")
    assert len(list(db.list(limit=Idx(3)))) == 3
    with pytest.raises(TypeError):
        list(db.list(limit=3.0))


def test_names_given_as_bytes_must_be_utf8(db):
    # they come back as str: bytes that are not UTF-8 were stored, listed as U+FFFD and lost
    db.state_set(b"ok-\xc3\xa9", b"v")
    assert db.state_get("ok-é").value == b"v"
    with pytest.raises(ValueError, match="UTF-8"):
        db.state_set(b"bad-\xff", b"v")


def test_get_many_refuses_one_key_for_many(db):
    db.put(b"a", b"1")
    with pytest.raises(TypeError, match="not one key"):
        db.get_many("ab")  # two keys "a" and "b"? no: a mistake
    assert db.get_many(["a", "b"]) == [b"1", None]


def test_backup_whose_path_closes_the_database_says_it_is_closed(db, tmp_path):
    # it said InvalidArgument: the closed handle was passed on to the library
    class Path:
        def __fspath__(self):
            db.close()
            return str(tmp_path / "bk")
    with pytest.raises(inmem.MisuseError, match="closed"):
        db.backup(Path())


def test_close_from_its_own_transact_callback_says_so(db):
    def fn(tx):
        with pytest.raises(inmem.BusyError, match="callback"):
            db.close()
        tx.put(b"k", b"v")
    db.transact(fn)
    assert db.get(b"k") == b"v"
