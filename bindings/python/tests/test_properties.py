"""Property tests: random interleavings of transactions and implicit operations on a few keys,
run on inmem and on a small Python model of the transaction contract (docs/CONTRACT.md section 1):
snapshots, read-your-writes, read sets (0 for missing, the tombstone's version for deleted),
CAS (deleted counts as 0), first committer wins, one version per committed write transaction.
Every read, every commit outcome and the final state must agree."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inmem

KEYS = [b"a", b"b", b"c"]
NTX = 3


class Model:
    def __init__(self):
        self.cur = {}       # key -> (value or None for a tombstone, version)
        self.version = 0
        self.txs = {}

    def visible(self, state, k):
        v = state.get(k)
        return (None, v[1] if v else 0) if v is None or v[0] is None else v

    def begin(self, t):
        self.txs[t] = {"snap": dict(self.cur), "reads": {}, "writes": {}, "cas": []}

    def get(self, t, k):
        tx = self.txs[t]
        if k in tx["writes"]:
            return tx["writes"][k], 0
        val, ver = self.visible(tx["snap"], k)
        tx["reads"].setdefault(k, ver)
        return val, ver

    def put(self, t, k, v):
        self.txs[t]["writes"][k] = v

    def cas(self, t, k, expected, v):
        self.txs[t]["writes"][k] = v
        self.txs[t]["cas"].append((k, expected))  # every CAS is checked, not just the last

    def scan(self, t):
        tx = self.txs[t]
        out = []
        for k in sorted(set(tx["snap"]) | set(tx["writes"])):
            if k in tx["writes"]:
                if tx["writes"][k] is not None:
                    out.append((k, tx["writes"][k], 0))
                continue
            val, ver = self.visible(tx["snap"], k)
            if val is not None:
                tx["reads"].setdefault(k, ver)
                out.append((k, val, ver))
        return out

    def current_version(self, k, cas):
        val, ver = self.visible(self.cur, k)
        return 0 if cas and val is None else ver

    def commit(self, t):
        tx = self.txs.pop(t)
        if not tx["writes"]:
            return "ok"  # nothing to write: it commits like a read-only transaction (rule 5)
        for k, ver in tx["reads"].items():
            if self.current_version(k, False) != ver:
                return "conflict"
        for k, exp in tx["cas"]:
            if self.current_version(k, True) != exp:
                return "conflict"
        if tx["writes"]:
            self.version += 1
            for k, v in tx["writes"].items():
                self.cur[k] = (v, self.version)
        return "ok"

    def implicit(self, k, v):
        self.version += 1
        self.cur[k] = (v, self.version)


key = st.sampled_from(KEYS)
value = st.binary(max_size=3)
tx = st.integers(0, NTX - 1)
step = st.one_of(
    st.tuples(st.just("begin"), tx),
    st.tuples(st.just("get"), tx, key),
    st.tuples(st.just("put"), tx, key, value),
    st.tuples(st.just("delete"), tx, key),
    st.tuples(st.just("cas"), tx, key, st.one_of(st.just("seen"), st.integers(0, 6)), value),
    st.tuples(st.just("scan"), tx),
    st.tuples(st.just("commit"), tx),
    st.tuples(st.just("abort"), tx),
    st.tuples(st.just("iput"), key, value),
    st.tuples(st.just("idelete"), key),
)


@settings(max_examples=400, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=8, max_size=60))
def test_transactions_match_the_model(steps):
    db = inmem.open(durability="none")
    model = Model()
    live = {}
    try:
        for s in steps:
            op = s[0]
            if op in ("iput", "idelete"):
                v = s[2] if op == "iput" else None
                got = db.put(s[1], v) if op == "iput" else db.delete(s[1])
                model.implicit(s[1], v)
                assert got == model.version
                continue
            t = s[1]
            if t not in live:  # every transaction step begins one if needed
                if op in ("commit", "abort"):
                    continue
                live[t] = db.transaction()
                model.begin(t)
            if op == "begin":
                continue
            x = live[t]
            if op == "get":
                e = x.get_entry(s[2])
                want_val, want_ver = model.get(t, s[2])
                if want_val is None:
                    assert e is None, (s, e)
                else:
                    assert (e.value, e.version) == (want_val, want_ver), s
            elif op == "put":
                x.put(s[2], s[3])
                model.put(t, s[2], s[3])
            elif op == "delete":
                x.delete(s[2])
                model.put(t, s[2], None)
            elif op == "cas":
                exp = s[3]
                if exp == "seen":  # the version at the snapshot (deleted counts as 0)
                    val, ver = model.visible(model.txs[t]["snap"], s[2])
                    exp = 0 if val is None else ver
                x.cas(s[2], exp, s[4])
                model.cas(t, s[2], exp, s[4])
            elif op == "scan":
                assert [tuple(e) for e in x.scan()] == model.scan(t), s
            elif op == "commit":
                want = model.commit(t)
                try:
                    v = x.commit()
                    got = "ok"
                except inmem.ConflictError as e:
                    got = "conflict"
                    assert e.rule in ("read", "cas")
                    assert e.key in KEYS
                assert got == want, s
                if got == "ok":
                    assert v == (model.version if x.info().write_set_size else 0)
                del live[t]
            elif op == "abort":
                x.abort()
                model.txs.pop(t)
                del live[t]
        for x in live.values():
            x.abort()
        assert db.stats().version == model.version
        for k in KEYS:
            e = db.get_entry(k)
            val, ver = model.visible(model.cur, k)
            assert (None if e is None else (e.value, e.version)) == (
                None if val is None else (val, ver))
    finally:
        for x in live.values():
            if x.state == "active":
                x.abort()
        db.close()
