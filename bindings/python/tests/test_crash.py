"""Crash: a child process writing with strict (and batched) durability is killed with SIGKILL
mid-write; the database reopened from Python has every commit the child had acknowledged."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import inmem

CHILD = textwrap.dedent("""
    import sys, inmem
    db = inmem.open(sys.argv[1], durability=sys.argv[2])
    run = db.run_begin(agent="writer")
    print("run", run, flush=True)
    i = 0
    while True:
        if i % 3 == 0:
            db.put(b"k%06d" % i, b"value %d" % i)
        elif i % 3 == 1:
            with db.transaction() as tx:
                tx.put(b"k%06d" % i, b"value %d" % i)
                tx.event_append("log", "wrote", b"%d" % i, run=run)
        else:
            db.state_set("last", b"%d" % i)
            db.put(b"k%06d" % i, b"value %d" % i)
        print(i, flush=True)       # acknowledged: the commit has returned
        i += 1
""")


@pytest.mark.parametrize("durability", ["strict", "batched"])
def test_sigkill_keeps_acknowledged_commits(tmp_path, durability):
    path = str(tmp_path / "db")
    env = dict(os.environ)
    child = subprocess.Popen([sys.executable, "-P", "-c", CHILD, path, durability],
                             stdout=subprocess.PIPE, env=env, text=True)
    try:
        first = child.stdout.readline().split()
        assert first[0] == "run", first
        run = inmem.RunId(first[1])
        acked = -1
        while acked < 300:
            line = child.stdout.readline()
            assert line, "the writer died early"
            acked = int(line)
        os.kill(child.pid, signal.SIGKILL)  # mid-write: it was writing as fast as it could
    finally:
        child.kill()
        child.wait()
        # what the child printed before the kill was acknowledged too
        for line in child.stdout:
            acked = int(line)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    with inmem.open(path, durability=durability) as db:
        rec = db.recovery()
        assert rec.txns_applied >= acked
        for i in range(acked + 1):
            assert db.get(b"k%06d" % i) == b"value %d" % i, "commit %d lost" % i
        logged = [int(e.payload) for e in db.event_range("log", run=run)]
        assert logged[: (acked + 2) // 3] == list(range(1, acked + 1, 3))
        assert db.event_verify("log", run=run) == 0
        assert int(db.state_get("last").value) >= acked - 3
        assert db.run_get(run).status == "active"
