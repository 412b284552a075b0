#!/usr/bin/env python3
"""agent_loop.py -- an agent loop whose run keeps its memory, its history and its reasoning.

A small deterministic "model" (no network, no LLM: a policy over the conversation so far) works
a goal step by step. Every step is one closure transaction, so a step is recorded whole or not
at all:
  - the history: the messages of the step appended to the run's "messages" stream (JSON events),
  - the reasoning: a thought span, a decision span (with its confidence) and the tool call as the
    decision's child span, with inputs, outputs and timing,
  - the memory: facts the tool returned, written to the run's KV ("memory/<fact>"),
  - the progress: the state cell "step" (CAS on its version: two copies of this loop working the
    same run cannot both record step N).
Kill it at any point (--crash-after N exits without a clean close, like SIGKILL) and start it
again with --resume RUN: it rebuilds its context from the event stream and its memory from KV,
and goes on from the next step; no step is done twice or lost.

    PYTHONPATH=build/python python3 bindings/python/examples/agent_loop.py [DIR]
        [--goal TEXT] [--resume RUN] [--crash-after N]
"""
import argparse
import json
import os
import sys
import time

import inmem

TOOLS = {
    "search_flights": lambda q: {"flights": ["LH1790 MUC-LIS 189 EUR", "TP555 MUC-LIS 142 EUR"]},
    "check_calendar": lambda q: {"free": ["2026-03-02", "2026-03-03"]},
    "book": lambda q: {"booking": "PNR-8Q2ZK", "flight": q.get("flight")},
    "notify_user": lambda q: {"sent": True},
}


def policy(goal, history, memory):
    """The 'model': picks the next tool from what is known. Returns (thought, tool, args,
    confidence), or None when the goal is reached."""
    if "flights" not in memory:
        return "I need options first", "search_flights", {"goal": goal}, 0.95
    if "free" not in memory:
        return "Which days are free?", "check_calendar", {"month": "2026-03"}, 0.9
    if "booking" not in memory:
        cheapest = min(memory["flights"], key=lambda f: int(f.split()[2]))
        return "Cheapest fits the calendar", "book", {"flight": cheapest.split()[0]}, 0.87
    if not any(m["role"] == "tool" and m.get("tool") == "notify_user" for m in history):
        return "Tell the user", "notify_user", {"booking": memory["booking"]}, 0.99
    return None


def load(db, run):
    """Context from the run: the message history (events) and the memory (KV)."""
    history = [e.json() for e in db.event_range("messages", run=run)]
    memory = {e.key.decode().split("/", 1)[1]: e.json() for e in db.list("memory/", run=run)}
    cell = db.state_get("step", run=run)
    return history, memory, (int(cell.value) if cell else 0), (cell.version if cell else 0)


def step_once(db, run, goal, crash_at):
    history, memory, step, step_version = load(db, run)
    decided = policy(goal, history, memory)
    if decided is None:
        return False
    thought, tool, args, confidence = decided
    t0 = time.time()
    output = TOOLS[tool](args)
    took_us = int((time.time() - t0) * 1e6)

    def record(tx):
        # the step counter moves only from the version this step was planned on
        tx.state_cas("step", step_version, b"%d" % (step + 1), run=run)
        t = tx.trace_record("thought", "plan", run=run, output=thought, tags=["step%d" % step])
        d = tx.trace_record("decision", "choose-tool", run=run, parent=t, output=tool,
                            confidence=confidence, input=json.dumps(memory, sort_keys=True))
        tx.trace_record("tool_call", tool, run=run, parent=d, input=json.dumps(args),
                        output=json.dumps(output), duration_us=took_us)
        tx.event_append_batch("messages", [
            ("assistant", json.dumps({"role": "assistant", "step": step, "text": thought,
                                      "tool": tool, "args": args})),
            ("tool", json.dumps({"role": "tool", "step": step, "tool": tool,
                                 "result": output})),
        ], run=run)
        for fact, value in output.items():
            tx.put_json("memory/" + fact, value, run=run)

    db.transact(record, max_attempts=1)  # a lost CAS means another copy did this step
    if crash_at is not None and step + 1 >= crash_at:
        os._exit(3)  # no clean close: what a kill leaves
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", nargs="?", default="agent-loop-data")
    ap.add_argument("--goal", default="Book the cheapest flight Munich-Lisbon in early March")
    ap.add_argument("--resume", help="the run id of an interrupted loop")
    ap.add_argument("--crash-after", type=int, help="exit abruptly after this many steps")
    a = ap.parse_args()
    with inmem.open(a.dir, durability="strict") as db:
        if a.resume:
            run = inmem.RunId(a.resume)
            history, _, step, _ = load(db, run)
            print("resuming run %s at step %d (%d messages)" % (run, step, len(history)))
        else:
            def start(tx):
                r = tx.run_begin(app="agent-loop", agent="travel", tags=["example"])
                tx.event_append_json("messages", "user", {"role": "user", "text": a.goal}, run=r)
                return r
            run = db.transact(start)
            print("run %s: %s" % (run, a.goal))
        while step_once(db, run, a.goal, a.crash_after):
            pass
        history, memory, step, _ = load(db, run)
        db.run_end(run, "completed")
        print("done in %d steps; memory: %s" % (step, ", ".join(sorted(memory))))
        print("booking:", memory["booking"])
        broken = db.event_verify("messages", run=run)
        print("messages: %d events, hash chain %s" % (
            db.stream_info("messages", run=run).length, "intact" if broken == 0 else
            "broken at %d" % broken))
        roots = list(db.trace_query(run=run, parent=inmem.SHARED))
        print("trace: %d steps" % len(roots))
        for root in roots:
            for s in db.trace_tree(root.id, run=run):
                depth = 0 if s.parent is None else (1 if s.parent == root.id else 2)
                conf = "" if s.confidence is None else " (confidence %.2f)" % s.confidence
                print("  %s%s %s: %s%s" % ("  " * depth, s.kind, s.name,
                                          s.output.decode()[:60], conf))
    return 0


if __name__ == "__main__":
    sys.exit(main())
