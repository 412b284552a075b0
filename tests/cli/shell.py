#!/usr/bin/env python3
"""shell.py INMEM DIR HOME - drive the interactive shell through a pseudo-terminal.

Checks what needs a terminal: the banner, tab completion of commands, subcommands and options,
the prompt showing an open transaction (and one reading the past), ^C ending a line or a wait,
and the history file. Prints one "ok NAME" or "FAIL NAME" line per check; exit status 1 if any failed.
"""
import os
import pty
import select
import sys
import time

inmem, db, home = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(home, exist_ok=True)
pid, fd = pty.fork()
if pid == 0:
    os.environ["HOME"] = home
    os.environ["TERM"] = "dumb"
    os.environ.pop("INMEM_HISTORY", None)
    os.execv(inmem, [inmem, db])


def read(until=None, timeout=5.0):
    out = b""
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                d = os.read(fd, 65536)
            except OSError:
                break
            if not d:
                break
            out += d
            if until is not None and until in out:
                # let the rest of the output arrive
                time.sleep(0.05)
                continue
        elif until is not None and until in out:
            break
    return out.decode("utf-8", "replace")


failed = 0


def check(name, cond, got):
    global failed
    if cond:
        print(f"ok   shell: {name}")
    else:
        failed += 1
        print(f"FAIL shell: {name}\n     got: {got!r}")


def send(s, until=b"> "):
    os.write(fd, s.encode())
    return read(until)


out = read(b"inmem> ")
check("banner and prompt", "Type help" in out and out.endswith("inmem> "), out)
out = send("he\t", until=b"help ")
check("tab completes a command", "lp " in out, out)
out = send("\n")
check("help lists every group", all(w in out for w in ("key-value:", "runs:", "traces:")), out)
out = send("e\t", until=b"exit")
check("tab lists the matches once each", out.count("event") == 1 and "event  exit" in out, out)
send("\x15", until=b"> ")  # ^U: clear the line
out = send("ru\t", until=b"n ")
check("tab completes a group name once (not one per subcommand)", out.endswith("n "), out)
send("\x15", until=b"> ")
out = send("run be\t", until=b"gin ")
check("tab completes a subcommand", "gin " in out, out)
out = send("--ag\t", until=b"ent ")
check("tab completes an option", "ent " in out, out)
out = send("shell-test\n")
check("run begin from the shell", "-" in out and "inmem> " in out, out)
out = send("begin\n")
check("the prompt shows the open transaction", "inmem (txn @" in out, out)
out = send("put . k v\n")
check("a write in the transaction is pending", "OK (pending)" in out and "1 write)> " in out, out)
out = send("commit\n")
check("commit ends it", "committed (version" in out and out.rstrip().endswith("inmem>"), out)
os.write(fd, b"put shared half")
read(b"half", timeout=1)
out = send("\x03")
check("^C abandons the line, not the session", "^C" in out and out.endswith("inmem> "), out)
out = send("get shared half\n")
check("... and nothing of it ran", "error: not found" in out, out)
out = send("get shared nope\n")
check("an error does not end the shell", "error: not found" in out and "inmem> " in out, out)
out = send("verify\n")
check("verify from the shell", "verify: OK" in out, out)
out = send("get shared k --as\t", until=b"of ")
check("tab completes --as-of on a read command", out.endswith("of "), out)
send("\x15", until=b"> ")
out = send("begin --as-of 2\n")
check("the prompt shows a transaction reading the past",
      "begun as of version 2 (read-only)" in out and "inmem (as of version 2, read-only)> " in out, out)
out = send("abort\n")
check("... until it ends", out.rstrip().endswith("inmem>"), out)
os.write(fd, b"wait shared nothing\n")
read(timeout=0.5)
out = send("\x03")
check("^C ends a wait, not the session", "error: wait: interrupted" in out and out.endswith("inmem> "), out)
os.write(fd, b"quit\n")
tail = read(timeout=2)
_, status = os.waitpid(pid, 0)
check("quit exits 0", os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
      f"status {status}; last output: {tail[-3000:]!r}")
hist = os.path.join(home, ".inmem_history")
text = open(hist).read() if os.path.exists(hist) else ""
check("history saved in ~/.inmem_history", "commit" in text and "begin" in text, text)
sys.exit(1 if failed else 0)
