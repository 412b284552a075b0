"""KV memory: implicit operations on the Database, values and keys of every accepted type,
versions, TTL, listing, batch reads."""
import time

import pytest

import inmem


def test_put_get_returns_value_and_version(db):
    v1 = db.put(b"k", b"v1")
    v2 = db.put(b"k", b"v2")
    assert v2 == v1 + 1
    assert db.get(b"k") == b"v2"
    e = db.get_entry(b"k")
    assert e == (b"k", b"v2", v2)
    assert (e.key, e.value, e.version) == (b"k", b"v2", v2)


def test_missing_key_is_none(db):
    assert db.get(b"nope") is None
    assert db.get_entry(b"nope") is None
    assert db.get_json(b"nope") is None


def test_str_keys_and_values_are_utf8(db):
    db.put("clé", "välue €")
    assert db.get("clé") == "välue €".encode()
    assert db.get("clé".encode()) == "välue €".encode()


def test_bytes_like_values(db):
    db.put(bytearray(b"ba"), memoryview(b"mv"))
    assert db.get(b"ba") == b"mv"
    db.put(b"arr", bytearray(b"\x00\x01\x02"))
    assert db.get(memoryview(b"arr")) == b"\x00\x01\x02"


def test_empty_value_and_nul_bytes(db):
    db.put(b"e", b"")
    assert db.get(b"e") == b""
    db.put(b"a\x00b", b"\x00\x00")
    assert db.get(b"a\x00b") == b"\x00\x00"
    assert db.get(b"a") is None


def test_delete_leaves_tombstone_version(db):
    v = db.put(b"k", b"v")
    d = db.delete(b"k")
    assert d == v + 1
    assert db.get(b"k") is None
    assert db.delete(b"never") == d + 1  # deleting a missing key is still a write


def test_cas_implicit(db):
    v = db.cas(b"lock", 0, b"me")  # 0: only if absent
    with pytest.raises(inmem.ConflictError) as ei:
        db.cas(b"lock", 0, b"you")
    assert ei.value.key == b"lock" and ei.value.rule == "cas" and ei.value.expected == 0
    assert db.get(b"lock") == b"me"
    v2 = db.cas(b"lock", v, b"you")
    assert v2 > v and db.get(b"lock") == b"you"
    db.delete(b"lock")
    db.cas(b"lock", 0, b"again")  # a deleted key counts as version 0
    assert db.get(b"lock") == b"again"


def test_runs_scope_keys(db):
    r1, r2 = db.run_begin(), db.run_begin()
    db.put(b"k", b"shared")
    db.put(b"k", b"one", run=r1)
    db.put(b"k", b"two", r2)
    assert db.get(b"k") == b"shared"
    assert db.get(b"k", run=r1) == b"one"
    assert db.get(b"k", run=str(r2)) == b"two"          # the str form
    assert db.get(b"k", run=r2.bytes) == b"two"          # 16 bytes
    assert db.get(b"k", run=r2.uuid) == b"two"           # uuid.UUID
    assert db.get(b"k", run=inmem.SHARED) == b"shared"   # the all-zero id is the shared scope


def test_json_helpers(db):
    db.put_json("cfg", {"model": "x", "n": [1, 2], "é": None})
    assert db.get_json("cfg") == {"model": "x", "n": [1, 2], "é": None}
    assert db.get("cfg") == '{"model":"x","n":[1,2],"é":null}'.encode()
    assert db.get_entry("cfg").json() == {"model": "x", "n": [1, 2], "é": None}


def test_put_json_takes_its_documented_keywords(db):
    # put_json(key, obj, ...): obj by keyword was refused (the parser was put()'s, with value=)
    db.put_json(key="a", obj={"x": 1}, ttl=60)
    with db.transaction() as tx:
        tx.put_json("b", obj=[1, 2])
    assert db.get_json("a") == {"x": 1} and db.get_json("b") == [1, 2]
    with pytest.raises(TypeError, match=r"put_json\(\) got an unexpected keyword argument 'value'"):
        db.put_json("c", value=1)


def test_ttl_expires():
    # no background sweeper: the sweep below must be the one that finds the expired value
    db = inmem.open(durability="none", ttl_sweep_interval_ms=0)
    try:
        _ttl_expires(db)
    finally:
        db.close()


def _ttl_expires(db):
    db.put(b"short", b"v", ttl=0.05)
    db.put(b"long", b"v", ttl=3600)
    s0 = db.stats()
    assert db.get(b"short") == b"v"
    deadline = time.monotonic() + 5
    while db.get(b"short") is not None:
        assert time.monotonic() < deadline, "the value never expired"
        time.sleep(0.01)
    assert db.get(b"long") == b"v"
    assert db.sweep() >= 1
    s1 = db.stats()  # the sweeper's commits are its own, not the user's
    assert s1.expired_swept - s0.expired_swept == 1 and s1.commits == s0.commits
    with pytest.raises(ValueError):
        db.put(b"k", b"v", ttl=0)
    with pytest.raises(ValueError):
        db.put(b"k", b"v", ttl=-1)


def test_ttl_in_transaction(db):
    with db.transaction() as tx:
        tx.put(b"t", b"v", ttl=0.05)
    deadline = time.monotonic() + 5
    while db.get(b"t") is not None:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_list_prefix_after_limit(db):
    for i in range(300):
        db.put(b"p/%03d" % i, b"%d" % i)
    db.put(b"q/0", b"x")
    keys = [e.key for e in db.list(b"p/")]
    assert keys == [b"p/%03d" % i for i in range(300)]
    assert [e.key for e in db.list(b"p/", after=b"p/149", limit=3)] == [
        b"p/150", b"p/151", b"p/152"]
    assert [e.value for e in db.list(b"q/")] == [b"x"]
    assert list(db.list(b"p/", limit=0)) == []
    assert len(list(db.list())) == 301
    with db.transaction(readonly=True) as tx:
        assert [e.key for e in tx.list(b"p/", limit=260)] == keys[:260]


def test_get_many(db):
    db.put(b"a", b"1")
    db.put(b"c", b"3")
    assert db.get_many([b"a", b"b", "c"]) == [b"1", None, b"3"]
    assert db.get_many([]) == []
    with db.transaction() as tx:
        tx.put(b"b", b"2")
        assert tx.get_many([b"a", b"b", b"c"]) == [b"1", b"2", b"3"]


def test_key_limits(db):
    with pytest.raises(inmem.InvalidArgument):
        db.put(b"", b"v")  # keys are 1..max_key_size bytes
    with pytest.raises(inmem.TooBig):
        db.put(b"k" * 4097, b"v")
    small = inmem.open(durability="none", max_value_size=1024)
    try:
        small.put(b"ok", b"x" * 1024)
        with pytest.raises(inmem.TooBig) as ei:
            small.put(b"big", b"x" * 1025)
        assert isinstance(ei.value, ValueError)
        assert ei.value.code == -13 and ei.value.errname == "INMEM_ETOOBIG"
    finally:
        small.close()


def test_large_value_round_trip(db):
    big = bytes(range(256)) * 8192  # 2 MiB: the GIL is released for the copy
    db.put(b"big", big)
    assert db.get(b"big") == big
    with db.transaction() as tx:
        tx.put(b"big2", big)
    assert db.get(b"big2") == big


def test_wrong_types_raise_typeerror(db):
    for bad in (None, 1, 1.5, object(), [b"x"]):
        with pytest.raises(TypeError):
            db.put(bad, b"v")
        with pytest.raises(TypeError):
            db.put(b"k", bad)
        with pytest.raises(TypeError):
            db.get(bad)
    with pytest.raises(TypeError):
        db.get(b"k", run=12)
    with pytest.raises(ValueError):
        db.get(b"k", run="not-a-run-id")
    with pytest.raises(ValueError):
        db.get(b"k", run=b"short")
    with pytest.raises(TypeError):
        db.get()
    with pytest.raises(TypeError):
        db.get(b"k", None, None)
    with pytest.raises(TypeError):
        db.get(b"k", bogus=1)
    with pytest.raises(TypeError):
        db.get(b"k", key=b"k")
    with pytest.raises(TypeError):
        db.cas(b"k", "1", b"v")
    with pytest.raises(ValueError):
        db.cas(b"k", -1, b"v")
    with pytest.raises(ValueError):
        db.cas(b"k", 2**64, b"v")
    assert db.stats().commits == 0  # nothing was written by the bad calls


def test_database_scan_pages_and_bounds(db):
    keys = [b"s/%04d" % i for i in range(700)]
    for k in keys:
        db.put(k, k.upper())
    db.put(b"r", b"before")
    db.put(b"t", b"after")
    assert [e.key for e in db.scan_prefix(b"s/")] == keys            # several pages
    assert [e.value for e in db.scan_prefix(b"s/")][:2] == [b"S/0000", b"S/0001"]
    assert [e.key for e in db.scan(b"s/0100", b"s/0400")] == keys[100:400]
    assert [e.key for e in db.scan(end=b"s/")] == [b"r"]
    assert [e.key for e in db.scan(b"s/0698")] == keys[698:] + [b"t"]
    assert len(list(db.scan())) == 702
    assert list(db.scan_prefix(b"nothing")) == []
    r = db.run_begin()
    db.put(b"s/0000", b"in a run", run=r)
    assert [e.value for e in db.scan_prefix(b"s/", run=r)] == [b"in a run"]


def test_database_scan_resumes_after_changes_between_pages(db):
    for i in range(300):
        db.put(b"k%03d" % i, b"v")
    it = db.scan_prefix(b"k")
    first = [next(it).key for _ in range(128)]      # one page read
    db.delete(b"k127")                               # the page's last key goes away
    db.put(b"k127x", b"new")                         # and a key lands right after it
    rest = [e.key for e in it]
    assert first + rest == [b"k%03d" % i for i in range(128)] + [b"k127x"] + [
        b"k%03d" % i for i in range(128, 300)]
    maxkey = b"m" * 4096                             # a cursor of the largest key size
    db.put(maxkey, b"x")
    db.put(b"n", b"y")
    for i in range(200):
        db.put(b"m%03d" % i, b"z")
    got = [e.key for e in db.scan(b"m")]
    assert got == sorted([b"m%03d" % i for i in range(200)] + [maxkey, b"n"])
