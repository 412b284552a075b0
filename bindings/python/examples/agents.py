#!/usr/bin/env python3
"""agents.py -- the multi-agent demo in Python: agent threads claiming tasks exactly once.

A coordinator queues a batch of tasks as state cells of the shared scope ("task/BBBB/TTTT" =
"open"). Agent threads, each in a run of its own, claim tasks by compare-and-swap on the cell's
value (state_cas_value: only one claim can win), "call a tool" for each (a short sleep), then in
one closure transaction check the claim is still theirs, mark the task done, record the decision
and the tool call as a trace (a decision span with the tool call as its child), append events,
write the result to the run's KV memory and count the task in "queue/done": all of it commits
or none of it does. At the end the program prints a report and checks that every task ever
queued in this directory was done exactly once.

Run it again on the same directory and it adds a batch; kill it with SIGKILL mid-way and run it
again: the runs the killed process left active are marked failed, the tasks they had claimed but
not finished go back to "open", and the exactly-once check still passes.

    PYTHONPATH=build/python python3 bindings/python/examples/agents.py [DIR] [--agents N]
        [--tasks N] [--delay-ms MS]
"""
import argparse
import sys
import threading
import time

import inmem

APP = "agents-demo-py"


def queue_batch(db, ntasks):
    """Adds a batch of tasks; returns its number and the task cell names."""
    def add(tx):
        cell = tx.state_get("queue/batches")
        batch = int(cell.value) + 1 if cell else 1
        tx.state_set("queue/batches", b"%d" % batch)
        names = ["task/%04d/%04d" % (batch, i) for i in range(ntasks)]
        for n in names:
            tx.state_set(n, "open")
        tx.state_set("queue/batch/%04d" % batch, b"%d" % ntasks)
        return batch, names
    return db.transact(add)


def recover(db):
    """Marks the runs a killed process left active as failed; reopens their unfinished tasks."""
    stale = set(db.run_list(app=APP, status="active"))
    reopened = 0
    for r in stale:
        db.run_end(r, "failed")
    if stale:
        for cell in db.state_list():
            if cell.name.startswith("task/") and cell.value.startswith(b"claimed "):
                owner_run = cell.value.split()[2].decode()
                if inmem.RunId(owner_run) in stale:
                    try:  # only if still that claim: never overwrite anything newer
                        db.state_cas_value(cell.name, cell.value, "open")
                        reopened += 1
                    except inmem.ConflictError:
                        pass
    return len(stale), reopened


class Agent(threading.Thread):
    def __init__(self, db, no, tasks, delay):
        super().__init__(name="agent-%d" % no)
        self.db, self.tasks, self.delay = db, tasks, delay
        self.done = self.lost = 0
        self.error = None
        self.run_id = db.run_begin(app=APP, agent=self.name, tags=["demo"])

    def run(self):
        try:
            self.work()
            self.db.run_end(self.run_id, "completed")
        except BaseException as e:  # reported by main
            self.error = e
            self.db.run_end(self.run_id, "failed")

    def work(self):
        db, run, me = self.db, self.run_id, self.name
        claim = "claimed %s %s" % (me, run)
        offset = int(me.split("-")[1])  # agents start at different places in the queue
        order = self.tasks[offset:] + self.tasks[:offset]
        for task in order:
            try:
                db.state_cas_value(task, "open", claim)  # exactly one claim wins
            except inmem.ConflictError:
                self.lost += 1
                continue
            db.event_append("tasks", "claimed", task, run=run)
            started = time.time()
            time.sleep(self.delay)  # the tool call
            result = "result of %s by %s" % (task, me)
            took_us = int((time.time() - started) * 1e6)

            def finish(tx):
                cell = tx.state_get(task)
                if cell is None or cell.value != claim.encode():
                    raise RuntimeError("%s lost its claim on %s" % (me, task))
                tx.state_set(task, "done %s %s" % (me, run))
                decision = tx.trace_record("decision", "take-task", run=run, input=task,
                                           output="do it", confidence=0.9, tags=["claim"])
                tx.trace_record("tool_call", "work", run=run, parent=decision, input=task,
                                output=result, duration_us=took_us)
                tx.event_append("tasks", "done", task, run=run)
                tx.put("result/" + task, result, run=run)
                done = tx.state_get("queue/done")  # read: concurrent finishers conflict, retry
                tx.state_set("queue/done", b"%d" % ((int(done.value) if done else 0) + 1))

            db.transact(finish, max_attempts=1000)
            self.done += 1


def check_exactly_once(db):
    """Every task ever queued is done, by exactly one run holding its result."""
    cells = {c.name: c.value for c in db.state_list() if c.name.startswith("task/")}
    results = {}
    for r in db.run_list(app=APP):
        for e in db.list(b"result/", run=r):
            results.setdefault(e.key[len(b"result/"):].decode(), []).append(r)
    problems = []
    for name, value in cells.items():
        if not value.startswith(b"done "):
            problems.append("%s is %r" % (name, value))
        elif len(results.get(name, [])) != 1:
            problems.append("%s has %d results" % (name, len(results.get(name, []))))
        elif str(results[name][0]) != value.split()[2].decode():
            problems.append("%s: result and cell name different runs" % name)
    done = int(db.state_get("queue/done").value)
    if done != len(cells):
        problems.append("queue/done counts %d, %d tasks exist" % (done, len(cells)))
    return len(cells), problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", nargs="?", default="agents-data-py")
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--tasks", type=int, default=40)
    ap.add_argument("--delay-ms", type=float, default=1.0)
    a = ap.parse_args()
    with inmem.open(a.dir) as db:
        rec = db.recovery()
        print("opened %s: %s, %d transactions replayed%s" % (
            a.dir, "created" if rec.created else "recovered", rec.txns_applied,
            ", torn tail cut" if rec.torn_tail else ""))
        failed, reopened = recover(db)
        if failed:
            print("recovery: %d run(s) left active by a crash marked failed, %d task(s) reopened"
                  % (failed, reopened))
        batch, tasks = queue_batch(db, a.tasks)
        # unfinished tasks of earlier batches (reopened after a crash) are worked on too
        todo = sorted(c.name for c in db.state_list() if c.name.startswith("task/")
                      and c.value == b"open")
        print("batch %d: %d tasks queued, %d open in all" % (batch, len(tasks), len(todo)))
        before = db.stats()
        agents = [Agent(db, i, todo, a.delay_ms / 1000) for i in range(a.agents)]
        t0 = time.time()
        for ag in agents:
            ag.start()
        for ag in agents:
            ag.join()
        elapsed = time.time() - t0
        for ag in agents:
            if ag.error:
                raise ag.error
        after = db.stats()
        for ag in agents:
            print("  %s (run %s): %d done, %d claims lost to others" % (
                ag.name, ag.run_id, ag.done, ag.lost))
        print("%d tasks in %.2f s; commit conflicts retried: %d" % (
            sum(ag.done for ag in agents), elapsed, after.retries - before.retries))
        total, problems = check_exactly_once(db)
        if problems:
            print("EXACTLY-ONCE CHECK FAILED:", *problems[:10], sep="\n  ")
            return 1
        print("exactly-once check: all %d tasks ever queued were done once" % total)
        runs = list(db.run_list(app=APP))
        print("runs of this demo: %d (%d completed)" % (
            len(runs), sum(db.run_get(r).status == "completed" for r in runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
