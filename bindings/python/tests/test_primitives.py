"""The agent primitives through the binding: runs, events, state cells, traces; standalone on
the Database and inside transactions, where any mix commits or rolls back as one."""
import math
import time

import pytest

import inmem


# ---- runs -----------------------------------------------------------------------------------

def test_run_lifecycle(db):
    r = db.run_begin(tenant="acme", app="support", agent="planner", tags=["prod", "gpt-x"])
    assert isinstance(r, inmem.RunId)
    info = db.run_get(r)
    assert info.id == r and info.status == "active" and info.parent is None
    assert (info.tenant, info.app, info.agent) == ("acme", "support", "planner")
    assert info.tags == ("prod", "gpt-x") and info.ended_ms == 0
    assert abs(info.created_ms - time.time() * 1000) < 60_000
    db.run_end(r)  # completed by default
    assert db.run_get(r).status == "completed" and db.run_get(r).ended_ms >= info.created_ms
    with pytest.raises(inmem.MisuseError):
        db.run_end(r, "failed")  # completed -> failed is not a transition
    db.run_end(r, "archived")
    assert db.run_get(r).status == "archived"
    with pytest.raises(ValueError):
        db.run_end(r, "bogus")


def test_run_ids(db):
    a, b = inmem.RunId.new(), inmem.RunId.new()
    assert a < b and a != b and a == inmem.RunId(str(a)) and hash(a) == hash(inmem.RunId(a.bytes))
    assert len(str(a)) == 36 and repr(a) == "RunId('%s')" % a
    assert inmem.RunId(a.uuid) == a and bytes(a) == a.bytes and len(a.hex) == 32
    assert abs(a.time_ms - time.time() * 1000) < 60_000
    assert inmem.SHARED.is_shared and not a.is_shared
    assert inmem.RunId(str(a).upper()) == a
    import pickle
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(ValueError):
        inmem.RunId("0" * 36)
    with pytest.raises(ValueError):
        inmem.RunId(str(a) + "x")
    with pytest.raises(TypeError):
        inmem.RunId(5)
    assert {a: 1}[inmem.RunId(str(a))] == 1

    class Broken:  # an object whose .bytes raises: that error, not a TypeError, comes out
        @property
        def bytes(self):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        inmem.RunId(Broken())
    with pytest.raises(KeyboardInterrupt):
        db.put(b"k", b"v", run=Broken())


def test_run_begin_with_id_and_parent(db):
    parent = db.run_begin()
    chosen = inmem.RunId.new()
    child = db.run_begin(id=chosen, parent=parent, tags=("retry",))
    assert child == chosen
    assert db.run_get(child).parent == parent
    with pytest.raises(inmem.InvalidArgument):
        db.run_begin(id=chosen)  # exists
    with pytest.raises(inmem.InvalidArgument):
        db.run_begin(parent=inmem.RunId.new())  # no such parent
    with pytest.raises(inmem.InvalidArgument):
        db.run_begin(tags=["a", "a"])
    with pytest.raises(inmem.InvalidArgument):
        db.run_begin(tags=["t%d" % i for i in range(17)])
    with pytest.raises(inmem.TooBig):
        db.run_begin(tenant="x" * 64)
    with pytest.raises(TypeError):
        db.run_begin(tags="notalist")
    with pytest.raises(ValueError):
        db.run_begin(agent="a\x00b")


def test_run_get_missing_raises_notfound(db):
    with pytest.raises(inmem.NotFound):
        db.run_get(inmem.RunId.new())
    with pytest.raises(inmem.NotFound):
        db.run_end(inmem.RunId.new())
    with pytest.raises(inmem.NotFound):
        db.run_delete(inmem.RunId.new())


def test_run_list_filters_and_cursor(db):
    root = db.run_begin(tenant="t1", agent="boss")
    kids = [db.run_begin(parent=root, tenant="t1", app="a", agent="w", tags=["k"])
            for _ in range(5)]
    other = db.run_begin(tenant="t2")
    db.run_end(kids[0], "failed")
    everything = list(db.run_list())
    assert everything == sorted([root, other] + kids, reverse=True)  # newest first
    assert list(db.run_children(root)) == kids[::-1]
    assert list(db.run_list(parent=root, limit=2)) == kids[::-1][:2]
    assert list(db.run_list(parent=root, after=kids[3])) == kids[:3][::-1]
    assert list(db.run_list(parent=inmem.SHARED)) == [other, root]  # runs without a parent
    assert list(db.run_list(status="failed")) == [kids[0]]
    assert list(db.run_list(tag="k", status="active")) == kids[1:][::-1]
    assert list(db.run_list(tenant="t2")) == [other]
    assert list(db.run_list(tenant="t1", app="a", agent="w")) == kids[::-1]
    with db.transaction(readonly=True) as tx:
        assert list(tx.run_list(tenant="t1")) == (kids[::-1] + [root])


def test_run_list_pages_through_many(db):
    ids = [db.run_begin(tags=["many"]) for _ in range(300)]
    assert list(db.run_list(tag="many")) == ids[::-1]


def test_run_delete_erases_everything(db):
    r = db.run_begin()
    db.put(b"k", b"v", run=r)
    db.event_append("s", "t", b"p", run=r)
    db.state_set("c", b"x", run=r)
    span = db.trace_record("thought", "think", run=r)
    db.put(b"k", b"shared")
    db.run_delete(r)
    assert db.get(b"k", run=r) is None
    assert db.stream_info("s", run=r).length == 0
    assert db.state_get("c", run=r) is None
    with pytest.raises(inmem.NotFound):
        db.trace_get(span, run=r)
    with pytest.raises(inmem.NotFound):
        db.run_get(r)
    assert db.get(b"k") == b"shared"


# ---- events -----------------------------------------------------------------------------------

def test_events_append_get_range(db):
    r = db.run_begin()
    seqs = [db.event_append("tools", "call", b"payload %d" % i, run=r) for i in range(1, 301)]
    assert seqs == list(range(1, 301))
    e = db.event_get("tools", 7, run=r)
    assert (e.seq, e.type, e.payload) == (7, "call", b"payload 7")
    assert e.prev_hash == db.event_get("tools", 6, run=r).hash
    with pytest.raises(inmem.NotFound):
        db.event_get("tools", 301, run=r)
    with pytest.raises(inmem.NotFound):
        db.event_get("tools", 0, run=r)
    assert [x.seq for x in db.event_range("tools", run=r)] == seqs
    assert [x.seq for x in db.event_range("tools", 10, 12, run=r)] == [10, 11, 12]
    assert [x.seq for x in db.event_range("tools", run=r, backward=True, limit=3)] == [
        300, 299, 298]
    assert [x.seq for x in db.event_range("tools", run=r, backward=True)] == seqs[::-1]
    assert [x.seq for x in db.event_range("tools", 5, 140, run=r, backward=True)] == list(
        range(140, 4, -1))
    assert [x.seq for x in db.event_range("tools", 250, run=r, limit=1000)] == list(
        range(250, 301))
    assert list(db.event_range("tools", 20, 10, run=r)) == []
    assert list(db.event_range("nothing", run=r)) == []
    info = db.stream_info("tools", run=r)
    assert info.length == 300 and info.head_hash == db.event_get("tools", 300, run=r).hash
    assert db.event_verify("tools", run=r) == 0


def test_events_json_and_batch(db):
    first = db.event_append_batch("msgs", [("user", "hi"), ("assistant", b"hello"), ("t", b"")])
    assert first == 1
    assert db.event_append_batch("msgs", []) == 0
    seq = db.event_append_json("msgs", "tool", {"name": "search", "args": [1]})
    assert seq == 4
    evs = list(db.event_range("msgs"))
    assert [(e.type, e.payload) for e in evs[:3]] == [
        ("user", b"hi"), ("assistant", b"hello"), ("t", b"")]
    assert evs[3].json() == {"name": "search", "args": [1]}
    assert len({e.time_ms for e in evs[:3]}) == 1  # one batch, one timestamp
    with pytest.raises(ValueError):
        db.event_append_batch("msgs", [("only-type",)])
    with pytest.raises(TypeError):
        db.event_append_batch("msgs", [("t", 5)])
    with pytest.raises(TypeError):
        db.event_append_batch("msgs", ["ab"])  # a str is not a pair
    assert db.stream_info("msgs").length == 4  # failed batches wrote nothing
    assert db.event_append_batch("msgs", [["list", b"pair"]]) == 5  # any sequence of 2
    assert db.event_get("msgs", 5).type == "list"


def test_event_batch_survives_a_list_emptied_by_an_item(db):
    # converting a pair runs its own code (__len__, __getitem__), which may change the list the
    # events were given in: the batch is what the list held when the call began
    events = []

    class Pair:
        def __len__(self):
            return 2

        def __getitem__(self, i):
            events.clear()
            return ("t", b"first")[i]

    events.extend([Pair(), ("t", b"second"), ("t", b"third")])
    assert db.event_append_batch("msgs", events) == 1
    assert [e.payload for e in db.event_range("msgs")] == [b"first", b"second", b"third"]


def test_events_time_range(db):
    r = db.run_begin()
    for i in range(200):
        db.event_append("s", "t", b"%d" % i, run=r)
    evs = list(db.event_range("s", run=r))
    t0, t1 = evs[0].time_ms, evs[-1].time_ms
    assert [e.seq for e in db.event_range_time("s", 0, run=r)] == list(range(1, 201))
    mid = evs[150].time_ms
    want = [e.seq for e in evs if e.time_ms >= mid]
    assert [e.seq for e in db.event_range_time("s", mid, run=r)] == want
    want = [e.seq for e in evs if t0 <= e.time_ms < mid]
    assert [e.seq for e in db.event_range_time("s", t0, mid, run=r)] == want
    assert list(db.event_range_time("s", t1 + 1, run=r)) == []
    assert len(list(db.event_range_time("s", 0, run=r, limit=130))) == 130


def test_streams_listing(db):
    r = db.run_begin()
    names = ["s%03d" % i for i in range(150)]
    for n in names:
        db.event_append(n, "t", run=r)
    assert list(db.streams(run=r)) == names
    assert list(db.streams(run=r, after="s100", limit=2)) == ["s101", "s102"]
    assert list(db.streams()) == []


def test_event_names_checked(db):
    with pytest.raises(inmem.InvalidArgument):
        db.event_append("", "t")
    with pytest.raises(inmem.TooBig):
        db.event_append("s" * 64, "t")
    with pytest.raises(ValueError):
        db.event_append("s\x00", "t")
    with pytest.raises(TypeError):
        db.event_append(None, "t")


# ---- state cells ---------------------------------------------------------------------------

def test_state_cells(db):
    assert db.state_get("task") is None
    v1 = db.state_set("task", "open")
    cell = db.state_get("task")
    assert cell == (b"open", v1) and cell.value == b"open" and cell.version == v1
    v2 = db.state_cas("task", v1, "claimed")
    assert v2 == v1 + 1
    with pytest.raises(inmem.ConflictError) as ei:
        db.state_cas("task", v1, "again")
    assert ei.value.key == b"task" and ei.value.rule == "cas" and ei.value.expected == v1
    assert db.state_cas_value("task", "claimed", "done") > v2
    with pytest.raises(inmem.ConflictError) as ei:
        db.state_cas_value("task", "claimed", "x")
    assert ei.value.rule == "value" and ei.value.expected == "claimed"
    assert ei.value.key == b"task" and "task" in str(ei.value)
    db.state_cas_value("fresh", None, "created")  # None: must not exist
    with pytest.raises(inmem.ConflictError):
        db.state_cas_value("fresh", None, "again")
    db.state_cas("new", 0, b"")
    assert db.state_get("new") == (b"", db.state_get("new").version)
    db.state_cas_value("new", b"", b"nonempty")  # b"" is an existing empty value
    assert db.state_get("new").value == b"nonempty"


def test_state_json_and_list(db):
    r = db.run_begin()
    for i in range(140):
        db.state_set_json("c%03d" % i, {"i": i}, run=r)
    assert db.state_get_json("c005", run=r) == {"i": 5}
    cells = list(db.state_list(run=r))
    assert [c.name for c in cells] == ["c%03d" % i for i in range(140)]
    assert cells[7].json() == {"i": 7}
    assert [c.name for c in db.state_list(run=r, after="c137")] == ["c138", "c139"]
    assert list(db.state_list()) == []


def test_state_transition(db):
    seen = []

    def step(cur, version):
        seen.append((cur, version))
        return b"1" if cur is None else b"%d" % (int(cur) + 1)

    v1 = db.state_transition("counter", step)
    v2 = db.state_transition("counter", step)
    assert seen == [(None, 0), (b"1", v1)]
    assert db.state_get("counter") == (b"2", v2)

    with pytest.raises(ZeroDivisionError):
        db.state_transition("counter", lambda cur, ver: 1 / 0)
    with pytest.raises(TypeError):
        db.state_transition("counter", lambda cur, ver: 42)
    assert db.state_get("counter").value == b"2"

    def machine(obj, version):
        return {"state": "running" if obj is None else "done", "n": 0 if obj is None else 1}

    db.state_transition_json("job", machine)
    db.state_transition_json("job", machine)
    assert db.state_get_json("job") == {"state": "done", "n": 1}


def test_state_in_transaction_commits_with_the_rest(db):
    v = db.state_set("task/1", "open")
    tx = db.transaction()
    tx.state_cas("task/1", v, "mine")
    tx.event_append("log", "claimed", b"task/1")
    tx.put(b"result", b"r")
    db.state_set("task/1", "stolen")  # someone else gets there first
    with pytest.raises(inmem.ConflictError):
        tx.commit()
    assert db.state_get("task/1").value == b"stolen"
    assert db.stream_info("log").length == 0 and db.get(b"result") is None


def test_state_cas_value_in_transaction_conflicts_at_once(db):
    db.state_set("c", "a")
    with db.transaction() as tx:
        with pytest.raises(inmem.ConflictError):
            tx.state_cas_value("c", "b", "x")
        assert tx.state == "active"
        tx.state_cas_value("c", "a", "b")
    assert db.state_get("c").value == b"b"


# ---- traces ----------------------------------------------------------------------------------

def test_trace_record_get_query_tree(db):
    r = db.run_begin()
    root = db.trace_record("decision", "pick", run=r, input=b"options", output="LH1790",
                           confidence=0.87, duration_us=1500, tags=["final"], start_ms=1000)
    call = db.trace_record("tool_call", "search", run=r, parent=root, input=b"{}",
                           start_ms=1001)
    thought = db.trace_record("thought", "hmm", run=r, parent=call, start_ms=1002)
    other = db.trace_record(5, "oops", run=r, start_ms=2000)  # kinds by number too
    s = db.trace_get(root, run=r)
    assert (s.id, s.parent, s.kind, s.name, s.input, s.output) == (
        root, None, "decision", "pick", b"options", b"LH1790")
    assert s.confidence == pytest.approx(0.87) and s.duration_us == 1500
    assert s.tags == ("final",) and s.start_ms == 1000
    assert db.trace_get(call, run=r).confidence is None
    assert [x.id for x in db.trace_query(run=r)] == [root, call, thought, other]
    assert [x.id for x in db.trace_query(run=r, kind="error")] == [other]
    assert [x.id for x in db.trace_query(run=r, parent=root)] == [call]
    assert [x.id for x in db.trace_query(run=r, parent=inmem.SHARED)] == [root, other]
    assert [x.id for x in db.trace_query(run=r, tag="final")] == [root]
    assert [x.id for x in db.trace_query(run=r, from_ms=1001, to_ms=2000)] == [call, thought]
    assert [x.id for x in db.trace_query(run=r, after=call)] == [thought, other]
    assert [x.id for x in db.trace_tree(root, run=r)] == [root, call, thought]
    assert [x.id for x in db.trace_tree(root, run=r, limit=2)] == [root, call]
    with pytest.raises(inmem.NotFound):
        db.trace_get(inmem.RunId.new(), run=r)
    with pytest.raises(inmem.NotFound):
        db.trace_tree(inmem.RunId.new(), run=r)


def test_trace_big_tree_and_pages(db):
    r = db.run_begin()
    root = db.trace_record("decision", "root", run=r, start_ms=1)
    kids = [db.trace_record("thought", "k", run=r, parent=root, start_ms=2 + i)
            for i in range(300)]
    assert len(db.trace_tree(root, run=r)) == 301
    assert [x.id for x in db.trace_query(run=r, parent=root)] == kids


def test_trace_arguments_checked(db):
    with pytest.raises(ValueError):
        db.trace_record("bogus", "x")
    with pytest.raises(ValueError):
        db.trace_record(9, "x")
    with pytest.raises(inmem.TooBig):
        db.trace_record("thought", "n" * 64)
    with pytest.raises(inmem.TooBig):
        db.trace_record("thought", "n", tags=["t" * 64])
    with pytest.raises(inmem.InvalidArgument):
        db.trace_record("thought", "n", tags=["t%d" % i for i in range(17)])
    with pytest.raises(inmem.InvalidArgument):
        db.trace_record("thought", "")
    sid = db.trace_record("thought", "n", confidence=math.nan)
    assert db.trace_get(sid).confidence is None
    with pytest.raises(inmem.InvalidArgument):
        db.trace_record("thought", "n", id=sid)  # exists


def test_every_primitive_in_one_transaction(db):
    """Any mix of primitives commits or rolls back as one (every primitive usable in any transaction)."""
    for outcome in ("abort", "commit"):
        with pytest.raises(RuntimeError) if outcome == "abort" else _nothing():
            with db.transaction() as tx:
                r = tx.run_begin(agent="a")
                tx.put(b"k", b"v", run=r)
                tx.event_append("s", "t", b"p", run=r)
                tx.state_set("c", b"x", run=r)
                span = tx.trace_record("tool_call", "t", run=r)
                assert tx.trace_get(span, run=r).name == "t"
                assert tx.run_get(r).agent == "a"
                if outcome == "abort":
                    raise RuntimeError
        if outcome == "abort":
            assert list(db.run_list()) == []
            assert db.stats().keys == 0
        else:
            assert db.get(b"k", run=r) == b"v" and db.state_get("c", run=r).value == b"x"
            assert db.event_get("s", 1, run=r).payload == b"p"
            assert db.trace_get(span, run=r).kind == "tool_call"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
