#!/usr/bin/env python3
"""jsonl.py EXPR [FILE] - parse JSON lines (stdin or FILE) with Python's json module and check EXPR.

Every non-empty line must be one JSON object. EXPR is a Python expression over L (the list of
parsed objects; the modules json and base64 are at hand); the exit status is 0 if it is true, 1 (with the objects printed) if it is false
or a line does not parse.  Used by tests/cli/run.sh to check --json output and dumps.
"""
import base64
import json
import sys


def main():
    expr = sys.argv[1]
    text = open(sys.argv[2]).read() if len(sys.argv) > 2 else sys.stdin.read()
    objs = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            print(f"line {i} is not JSON ({e}): {line!r}")
            return 1
        if not isinstance(obj, dict):
            print(f"line {i} is not a JSON object: {line!r}")
            return 1
        objs.append(obj)
    try:
        ok = eval(expr, {"L": objs, "json": json, "base64": base64})
    except Exception as e:  # a missing field is a failed check
        print(f"{expr}: {type(e).__name__}: {e}")
        ok = False
    if not ok:
        print(f"check failed: {expr}")
        for o in objs[:20]:
            print("   ", json.dumps(o))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
