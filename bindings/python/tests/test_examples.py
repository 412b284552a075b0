"""The examples run and keep their promises: the multi-agent demo does every task exactly once,
also across a SIGKILL and a restart; the agent loop resumes after a crash without doing a step
twice."""
import os
import signal
import subprocess
import sys
import time

import inmem

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def example(name, *args, **kw):
    return subprocess.run([sys.executable, "-P", os.path.join(EXAMPLES, name), *args],
                          capture_output=True, text=True, env=dict(os.environ), **kw)


def test_agents_demo_exactly_once_and_again(tmp_path):
    d = str(tmp_path / "agents")
    out = example("agents.py", d, "--agents", "4", "--tasks", "40")
    assert out.returncode == 0, out.stderr
    assert "exactly-once check: all 40 tasks ever queued were done once" in out.stdout
    assert out.stdout.count(" done, ") == 4
    out = example("agents.py", d, "--tasks", "10")
    assert out.returncode == 0, out.stderr
    assert "all 50 tasks ever queued were done once" in out.stdout
    assert "runs of this demo: 8 (8 completed)" in out.stdout


def test_agents_demo_survives_sigkill(tmp_path):
    d = str(tmp_path / "agents")
    p = subprocess.Popen([sys.executable, "-P", os.path.join(EXAMPLES, "agents.py"), d,
                          "--tasks", "400", "--delay-ms", "100"], stdout=subprocess.PIPE,
                         text=True, env=dict(os.environ))
    try:
        assert p.stdout.readline().startswith("opened")
        assert p.stdout.readline().startswith("batch 1: 400 tasks")
        deadline = time.monotonic() + 60
        # kill once 20 tasks are done (read-only opens beside the writer); the 400 tool calls of
        # 100 ms take the 4 agents about 10 s, so the kill lands mid-run
        while True:
            with inmem.open(d, read_only=True) as ro:
                cell = ro.state_get("queue/done")
                if cell and int(cell.value) >= 20:
                    break
            assert p.poll() is None, "the demo ended before it could be killed mid-run"
            assert time.monotonic() < deadline, "the demo did no 20 tasks in 60 s"
            time.sleep(0.01)
        p.send_signal(signal.SIGKILL)
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
    assert p.returncode == -signal.SIGKILL
    out = example("agents.py", d, "--tasks", "5")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "recovery: 4 run(s) left active by a crash marked failed" in out.stdout
    assert "all 405 tasks ever queued were done once" in out.stdout


def test_agent_loop_resumes_after_crash(tmp_path):
    d = str(tmp_path / "loop")
    out = example("agent_loop.py", d, "--crash-after", "2")
    assert out.returncode == 3, out.stderr
    run = out.stdout.split()[1].rstrip(":")
    out = example("agent_loop.py", d, "--resume", run)
    assert out.returncode == 0, out.stderr
    assert "resuming run %s at step 2 (5 messages)" % run in out.stdout
    assert "done in 4 steps" in out.stdout and "booking: PNR-8Q2ZK" in out.stdout
    assert "messages: 9 events, hash chain intact" in out.stdout
    assert "trace: 4 steps" in out.stdout
    with inmem.open(d, read_only=True) as db:
        steps = [e.json()["step"] for e in db.event_range("messages", run=run)
                 if e.type == "tool"]
        assert steps == [0, 1, 2, 3]  # each step once, in order
        assert db.run_get(run).status == "completed"
        assert len(list(db.trace_query(run=run))) == 12
