#!/usr/bin/env python3
"""manpage.py INMEM MANPAGE - check that the man page's synopses match the tool's commands.

For every command `help` lists, the man page must have a synopsis (a .B or .BR line naming it)
that gives every option of its `help COMMAND` usage line (--as-of aside: the man page describes it
once for every read). "run begin's options" in a synopsis stands for those of run begin. Prints
what is missing; the exit status is 1 if anything is. Used by tests/cli/run.sh.
"""
import re
import subprocess
import sys


def helptext(inmem, arg):
    return subprocess.run([inmem, "--durability", "none", "-c", arg], capture_output=True,
                          text=True, check=True).stdout


def synopses(path):
    """The man page's .B and .BR lines as plain text (fonts and escapes removed)."""
    out = []
    for line in open(path):
        m = re.match(r"\.(B|BR) (.*)", line)
        if not m:
            continue
        args = [a or b for a, b in re.findall(r'"([^"]*)"|(\S+)', m.group(2).replace("\\-", "-"))]
        text = ("" if m.group(1) == "BR" else " ").join(args)  # .BR joins its arguments
        out.append(re.sub(r"\\f[BIRP]", "", text))
    return out


def main():
    inmem, man = sys.argv[1], sys.argv[2]
    names = [m.group(1) for m in re.finditer(r"(?m)^  (\S+(?: \S+)?)  ", helptext(inmem, "help"))]
    syn = synopses(man)
    run_begin = " ".join(s for s in syn if s.startswith("run begin "))
    missing = []
    for name in names:
        usage = helptext(inmem, "help " + name).splitlines()[1]
        options = set(re.findall(r"--[a-z-]+", usage)) - {"--as-of"}
        lines = [s for s in syn if re.search(r"(^|, |\| )" + re.escape(name) + r"( |,|$)", s)]
        lines = [s + " " + run_begin if "run begin's options" in s else s for s in lines]
        if not lines:
            missing.append(f"{name}: no synopsis in the man page")
        missing += [f"{name}: the man page's synopsis lacks {o} ({usage.strip()})"
                    for o in sorted(options) if not any(o in s for s in lines)]
    print("\n".join(missing))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
