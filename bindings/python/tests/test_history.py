"""Retained history from Python (docs/history.md): retention options and their stats, time-travel
transactions by version and by time, commit times, HistoryError outside retention, key and cell
history, forks, run options."""
import time

import pytest

import inmem

HOUR_MS = 3600 * 1000


def churn(db, n):
    """n commits of another key: the garbage collector runs every few commits."""
    for i in range(n):
        db.put(b"churn", b"%d" % i)


@pytest.fixture
def hdb():
    """An in-memory database that keeps an hour of history."""
    d = inmem.open(durability="none", history_ms=HOUR_MS)
    yield d
    d.close()


# ---- retention options and stats ---------------------------------------------------------------


def test_stats_have_the_history_fields(db):
    s = db.stats()
    assert s.history_bytes == 0
    assert s.history_floor == s.version
    assert (s.history_ms, s.history_versions) == (0, 0)
    assert tuple(s)[-4:] == (s.history_bytes, s.history_floor, s.history_ms, s.history_versions)


def test_the_history_policy_is_stored_in_the_database(path):
    """An open without history options keeps the database's stored policy (a script opening the
    database keeps its history); one that gives them replaces it; history_versions=1: off."""
    with inmem.open(path, history_ms=HOUR_MS) as db:
        v1 = db.put(b"k", b"a")
        db.put(b"k", b"b")
    with inmem.open(path) as db:
        s = db.stats()
        assert (s.history_ms, s.history_versions) == (HOUR_MS, 0)
        churn(db, 20)
        with db.transaction(at_version=v1) as tx:
            assert tx.get(b"k") == b"a"
    with inmem.open(path, history_versions=1) as db:
        assert db.stats().history_ms == 0
    with inmem.open(path) as db:
        assert (db.stats().history_ms, db.stats().history_versions) == (0, 0)


def test_history_bytes_count_the_retained_versions(hdb):
    hdb.put(b"k", b"x" * 100)
    for _ in range(5):
        hdb.put(b"k", b"y" * 100)
    churn(hdb, 20)
    s = hdb.stats()
    assert s.history_bytes >= 500  # five replaced values of 100 bytes each are kept
    assert s.retained_versions >= 5
    assert s.history_floor <= 1


def test_no_retention_frees_old_versions(db):
    db.put(b"k", b"x" * 100)
    for _ in range(5):
        db.put(b"k", b"y" * 100)
    churn(db, 20)
    s = db.stats()
    assert s.history_bytes < 100
    assert s.history_floor > 1


def test_history_options_are_checked(path):
    with pytest.raises(TypeError):
        inmem.open(durability="none", history_ms="1")
    with pytest.raises(ValueError):
        inmem.open(durability="none", history_versions=1 << 32)
    with pytest.raises(ValueError):
        inmem.open(durability="none", history_ms=-1)


# ---- time travel ---------------------------------------------------------------------------------


def test_time_travel_returns_the_old_value(hdb):
    run = hdb.run_begin()
    v1 = hdb.put(b"plan", b"one", run=run)
    hdb.state_set("phase", "plan", run=run)
    hdb.event_append("log", "step", b"a", run=run)
    v2 = hdb.put(b"plan", b"two", run=run)
    hdb.state_set("phase", "act", run=run)
    hdb.event_append("log", "step", b"b", run=run)
    v3 = hdb.delete(b"plan", run=run)
    with hdb.transaction(at_version=v1) as tx:
        assert tx.readonly
        assert tx.info().start_version == v1
        assert tx.get(b"plan", run=run) == b"one"
        assert tx.get_entry(b"plan", run=run).version == v1
        assert tx.state_get("phase", run=run) is None  # set after v1
        assert tx.stream_info("log", run=run).length == 0
        assert tx.run_get(run).status == "active"
    with hdb.transaction(at_version=v2) as tx:
        assert tx.get(b"plan", run=run) == b"two"
        assert tx.state_get("phase", run=run).value == b"plan"
        assert [e.payload for e in tx.event_range("log", run=run)] == [b"a"]
        assert [e.key for e in tx.list(run=run)] == [b"plan"]
    with hdb.transaction(at_version=v3) as tx:
        assert tx.get(b"plan", run=run) is None
        assert tx.state_get("phase", run=run).value == b"act"
    with hdb.transaction(at_version=0) as tx:  # the empty state before the first commit
        assert tx.get(b"plan", run=run) is None
        with pytest.raises(inmem.NotFound):
            tx.run_get(run)
    assert hdb.get(b"plan", run=run) is None  # the present is untouched


def test_time_travel_by_wall_clock_time(hdb):
    v1 = hdb.put(b"k", b"one")
    time.sleep(0.01)
    v2 = hdb.put(b"k", b"two")
    t1, t2 = hdb.version_time(v1), hdb.version_time(v2)
    assert t1 < t2 <= int(time.time() * 1000) + 1
    assert hdb.time_version(t1) == v1
    assert hdb.time_version(t2 - 1) == v1
    assert hdb.time_version(t2) == v2
    with hdb.transaction(at_time_ms=t1) as tx:
        assert tx.info().start_version == v1
        assert tx.get(b"k") == b"one"
    with hdb.transaction(at_time_ms=t2 + 60_000) as tx:  # later than any commit: the newest
        assert tx.get(b"k") == b"two"


def test_a_transaction_in_the_past_is_read_only(hdb):
    v = hdb.put(b"k", b"v")
    hdb.put(b"k", b"w")
    tx = hdb.transaction(at_version=v)
    with pytest.raises(inmem.ReadOnlyError):
        tx.put(b"k", b"x")
    with pytest.raises(inmem.ReadOnlyError):
        tx.state_set("c", "x")
    assert tx.get(b"k") == b"v"
    assert tx.commit() == 0
    with pytest.raises(ValueError):
        hdb.transaction(readonly=False, at_version=v)
    with pytest.raises(TypeError):
        hdb.transaction(at_version=v, at_time_ms=1)
    with pytest.raises(inmem.InvalidArgument):
        hdb.transaction(at_version=hdb.stats().version + 1)
    assert hdb.stats().open_txns == 0


def test_expiry_is_judged_at_the_time_read(hdb):
    v = hdb.put(b"lease", b"mine", ttl=0.05)
    t = hdb.version_time(v)
    time.sleep(0.1)
    assert hdb.get(b"lease") is None
    with hdb.transaction(at_version=v) as tx:  # the lease had not expired then
        assert tx.get(b"lease") == b"mine"
    with hdb.transaction(at_time_ms=t + 200) as tx:  # the same commit, judged later
        assert tx.get(b"lease") is None


# ---- HistoryError ---------------------------------------------------------------------------


def test_history_error_below_the_floor_without_retention(db):
    v1 = db.put(b"k", b"one")
    hold = db.transaction()  # holds v1's state
    db.put(b"k", b"two")
    churn(db, 20)
    with db.transaction(at_version=v1) as tx:
        assert tx.get(b"k") == b"one"
    hold.abort()
    churn(db, 20)
    assert db.stats().history_floor > v1
    with pytest.raises(inmem.HistoryError) as e:
        db.transaction(at_version=v1)
    assert e.value.code == -18 and e.value.errname == "INMEM_EHISTORY"
    with pytest.raises(inmem.HistoryError):  # no commit times kept without retention
        db.version_time(v1)
    with pytest.raises(inmem.HistoryError):
        db.time_version(int(time.time() * 1000))
    with pytest.raises(inmem.HistoryError):
        db.transaction(at_time_ms=int(time.time() * 1000))
    with db.transaction(at_version=db.stats().version) as tx:  # the newest is always there
        assert tx.get(b"k") == b"two"
    assert db.stats().open_txns == 0


def test_history_error_when_a_key_kept_by_count_lost_its_version():
    with inmem.open(durability="none", history_versions=3) as db:
        db.put(b"quiet", b"q")
        v = [db.put(b"hot", b"hot%d" % i) for i in range(10)]
        churn(db, 40)
        for i in range(10):
            with db.transaction(at_version=v[i]) as tx:
                if i >= 7:
                    assert tx.get(b"hot") == b"hot%d" % i
                else:
                    with pytest.raises(inmem.HistoryError):
                        tx.get(b"hot")
                # the transaction stays usable, and a key that kept its versions answers
                assert tx.get(b"quiet") == b"q"


def test_history_error_outside_the_window_by_time():
    with inmem.open(durability="none", history_ms=50) as db:
        v1 = db.put(b"k", b"one")
        t1 = db.version_time(v1)
        time.sleep(0.01)  # the next commit at a later time: t1 is v1's alone
        db.put(b"k", b"two")
        time.sleep(0.2)
        churn(db, 20)
        with pytest.raises(inmem.HistoryError):
            db.transaction(at_version=v1)
        with pytest.raises(inmem.HistoryError):
            db.transaction(at_time_ms=t1)
        assert db.stats().history_floor > v1


def test_commit_time_arguments_are_checked(hdb):
    v = hdb.put(b"k", b"v")
    with pytest.raises(inmem.InvalidArgument):
        hdb.version_time(0)
    with pytest.raises(inmem.InvalidArgument):
        hdb.version_time(v + 1)
    with pytest.raises(inmem.HistoryError):
        hdb.time_version(hdb.version_time(v) - 1)
    with pytest.raises(TypeError):
        hdb.version_time("1")
    with pytest.raises(ValueError):
        hdb.time_version(-1)


# ---- key and cell history -----------------------------------------------------------------------


def test_key_history_newest_first_with_tombstones(hdb):
    run = hdb.run_begin()
    v = []
    for i in range(6):
        if i == 3:
            v.append(hdb.delete(b"k", run=run))
        else:
            v.append(hdb.put(b"k", b"val%d" % i, run=run, ttl=3600 if i == 5 else None))
    h = list(hdb.history(b"k", run=run))
    assert [x.version for x in h] == v[::-1]
    for x, i in zip(h, range(5, -1, -1)):
        assert isinstance(x, inmem.VersionInfo)
        assert x.deleted == (i == 3)
        assert x.value == (None if i == 3 else b"val%d" % i)
        assert x.time_ms == hdb.version_time(v[i])
        assert not x.older_freed
        assert (x.expire_at_ms > 0) == (i == 5)
    assert h[0].json is not None and h[2].json() is None  # a delete decodes to None
    assert list(hdb.history(b"missing", run=run)) == []
    assert list(hdb.history(b"k")) == []  # another scope


def test_key_history_pages_with_the_cursor(hdb):
    vs = [hdb.put(b"k", b"%d" % i) for i in range(300)]  # more than one page of 128
    assert [x.version for x in hdb.history(b"k")] == vs[::-1]
    assert [x.version for x in hdb.history(b"k", limit=5)] == vs[::-1][:5]
    assert [x.version for x in hdb.history(b"k", before=vs[10], limit=3)] == vs[9:6:-1]
    assert list(hdb.history(b"k", before=vs[0])) == []
    with hdb.transaction(readonly=True) as tx:
        assert [x.value for x in tx.history(b"k")] == [b"%d" % i for i in range(299, -1, -1)]


def test_key_history_in_a_transaction(hdb):
    v1 = hdb.put(b"k", b"one")
    v2 = hdb.put(b"k", b"two")
    with hdb.transaction() as tx:
        tx.put(b"k", b"pending")  # its own pending write is not history
        assert [x.version for x in tx.history(b"k")] == [v2, v1]
        hdb.put(b"k", b"three")  # after its snapshot
        assert [x.version for x in tx.history(b"k")] == [v2, v1]
    with hdb.transaction(at_version=v1) as tx:  # the history up to its version
        assert [x.value for x in tx.history(b"k")] == [b"one"]
    it = hdb.transaction(readonly=True)
    pages = it.history(b"k")
    it.commit()
    with pytest.raises(inmem.TransactionDone):
        next(pages)


def test_key_history_marks_where_older_versions_were_freed():
    with inmem.open(durability="none", history_versions=4) as db:
        vs = [db.put(b"k", b"%d" % i) for i in range(10)]
        churn(db, 40)
        h = list(db.history(b"k"))
        assert [x.version for x in h] == vs[:-5:-1]
        assert [x.older_freed for x in h] == [False, False, False, True]


def test_state_history(hdb):
    run = hdb.run_begin()
    v1 = hdb.state_set("phase", "plan", run=run)
    v2 = hdb.state_set("phase", "", run=run)
    v3 = hdb.state_set_json("phase", {"step": 3}, run=run)
    h = list(hdb.state_history("phase", run=run))
    assert [x.version for x in h] == [v3, v2, v1]
    assert [x.value for x in h] == [b'{"step":3}', b"", b"plan"]
    assert h[0].json() == {"step": 3}
    assert not h[1].deleted  # an empty value, not a delete
    assert [x.version for x in hdb.state_history("phase", run=run, before=v3, limit=1)] == [v2]
    with hdb.transaction(readonly=True) as tx:
        assert [x.version for x in tx.state_history("phase", run=run)] == [v3, v2, v1]
    with pytest.raises(ValueError):
        list(hdb.state_history("a\0b"))
    with pytest.raises(inmem.TooBig):
        list(hdb.state_history("x" * 64))


def test_history_without_retention_is_what_transactions_hold(db):
    v1 = db.put(b"k", b"one")
    hold = db.transaction(readonly=True)
    v2 = db.put(b"k", b"two")
    churn(db, 20)
    assert [x.version for x in hold.history(b"k")] == [v1]
    assert [x.version for x in db.history(b"k")][:1] == [v2]
    hold.commit()


# ---- run options and forks -------------------------------------------------------------------


def test_a_run_keeps_history_by_its_own_policy(db):
    # the database keeps nothing; the run keeps 3 versions of each of its keys
    run = db.run_begin(history_versions=3)
    plain = db.run_begin()
    vr = [db.put(b"k", b"%d" % i, run=run) for i in range(6)]
    vp = [db.put(b"k", b"%d" % i, run=plain) for i in range(6)]
    churn(db, 40)
    assert [x.version for x in db.history(b"k", run=run)] == vr[:-4:-1]
    assert [x.version for x in db.history(b"k", run=plain)] == vp[-1:]
    assert db.version_time(vr[-1]) > 0  # commit times are kept for the run's sake


def test_a_run_may_keep_less_than_the_database(hdb):
    run = hdb.run_begin(history=True)  # its own policy: nothing beyond the newest
    vs = [hdb.put(b"k", b"%d" % i, run=run) for i in range(4)]
    churn(hdb, 40)
    assert [x.version for x in hdb.history(b"k", run=run)] == vs[-1:]
    with hdb.transaction(at_version=vs[0]) as tx:
        with pytest.raises(inmem.HistoryError):
            tx.get(b"k", run=run)


def test_run_history_options_are_checked(db):
    with pytest.raises(ValueError):
        db.run_begin(history=False, history_ms=10)
    with pytest.raises(ValueError):
        db.run_begin(history_versions=1 << 32)
    with pytest.raises(TypeError):
        db.run_begin(history_ms="10")


def test_fork_diverges_both_ways(hdb):
    parent = hdb.run_begin(agent="planner")
    hdb.put(b"plan", b"A", run=parent)
    hdb.state_set("phase", "plan", run=parent)
    hdb.event_append("log", "step", b"1", run=parent)
    span = hdb.trace_record("decision", "pick", run=parent)
    fork = hdb.run_fork(parent, agent="explorer", tags=["alt"])
    info = hdb.run_get(fork)
    assert info.parent == parent and info.agent == "explorer" and info.tags == ("alt",)
    # the fork starts with the parent's data in every primitive
    assert hdb.get(b"plan", run=fork) == b"A"
    assert hdb.state_get("phase", run=fork).value == b"plan"
    assert hdb.stream_info("log", run=fork).length == 1
    assert hdb.trace_get(span, run=fork).name == "pick"
    # then each side's writes stay its own
    hdb.put(b"plan", b"B", run=fork)
    hdb.event_append("log", "step", b"2f", run=fork)
    hdb.put(b"plan", b"C", run=parent)
    hdb.delete(b"only-parent", run=fork)
    hdb.put(b"new", b"p", run=parent)
    assert hdb.get(b"plan", run=fork) == b"B"
    assert hdb.get(b"plan", run=parent) == b"C"
    assert hdb.get(b"new", run=fork) is None
    assert [e.payload for e in hdb.event_range("log", run=fork)] == [b"1", b"2f"]
    assert [e.payload for e in hdb.event_range("log", run=parent)] == [b"1"]
    # a fork's key history is its own versions, then its parent's up to the fork
    assert [x.value for x in hdb.history(b"plan", run=fork)] == [b"B", b"A"]
    # a parent with live forks cannot be deleted; the fork can, then the parent
    with pytest.raises(inmem.MisuseError):
        hdb.run_delete(parent)
    hdb.run_delete(fork)
    hdb.run_delete(parent)


def test_fork_at_a_past_version_and_in_a_transaction(hdb):
    parent = hdb.run_begin()
    v1 = hdb.put(b"k", b"old", run=parent)
    hdb.put(b"k", b"new", run=parent)
    fork = hdb.run_fork(parent, v1)
    assert hdb.get(b"k", run=fork) == b"old"
    with hdb.transaction() as tx:
        f2 = tx.run_fork(parent, id=inmem.RunId.new(), history_versions=2)
        tx.put(b"mine", b"m", run=f2)
    assert hdb.get(b"k", run=f2) == b"new"
    assert hdb.get(b"mine", run=f2) == b"m"
    assert hdb.get(b"mine", run=parent) is None
    f3 = hdb.run_fork(fork)  # a fork of a fork
    assert hdb.get(b"k", run=f3) == b"old"
    with pytest.raises(inmem.InvalidArgument):
        hdb.run_fork(parent, hdb.stats().version + 10)
    with pytest.raises(inmem.InvalidArgument):
        hdb.run_fork(inmem.RunId.new())  # never begun
    with pytest.raises(TypeError):
        hdb.run_fork(None)


def test_fork_needs_the_parents_history(db):
    parent = db.run_begin()
    v1 = db.put(b"k", b"old", run=parent)
    db.put(b"k", b"new", run=parent)
    churn(db, 20)
    with pytest.raises(inmem.HistoryError):
        db.run_fork(parent, v1)
    with db.transaction(readonly=True) as tx:
        with pytest.raises(inmem.ReadOnlyError):
            tx.run_fork(parent)
