#!/usr/bin/env python3
"""dumpdiff.py A B - compare two dumps of inmem databases record by record.

Fields a load cannot reproduce through the public API (key versions, event times and hashes, run
times, the header's db_version and time_ms) are set aside; everything else must be identical, in
the same order. Exit 0 if the dumps hold the same database.
"""
import json
import sys

INFORMATIONAL = {
    "header": {"db_version", "time_ms"},
    "kv": {"version"},
    "state": {"version"},
    "event": {"time_ms", "prev_hash", "hash"},
    "run": {"created_ms", "ended_ms"},
}


def load(path):
    out = []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            for k in INFORMATIONAL.get(rec.get("record"), ()):
                if k not in rec:
                    raise SystemExit(f"{path}: a {rec['record']} record without {k}")
                del rec[k]
            out.append(rec)
    return out


a, b = load(sys.argv[1]), load(sys.argv[2])
if a != b:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            print(f"record {i} differs:\n  {x}\n  {y}")
            break
    else:
        print(f"lengths differ: {len(a)} and {len(b)} records")
    sys.exit(1)
print(f"same database: {len(a)} records")
