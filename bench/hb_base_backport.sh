#!/bin/sh
# hb_base_backport.sh TREE — backports to the baseline library of `make bench-history` (the tree
# before history, extracted by the Makefile) the fixes made since that are unrelated to history,
# so that target 1 (retention off against before history) measures history's cost alone.
#   92945f9  reader slots: a thread takes the lowest free slot and keeps it (the random first
#            slot made every collection scan ~240 slots: 6 % of a put, in both builds)
set -eu
f="$1/src/txn/store.c"
grep -q 'slot_hint = UINT32_MAX' "$f" || { echo "hb_base_backport: $f is not the expected baseline" >&2; exit 1; }
sed -i -e 's/static _Thread_local uint32_t slot_hint = UINT32_MAX;/static _Thread_local uint32_t slot_hint;/' \
       -e '/spread threads over slots/,+1d' "$f"
grep -q 'spread threads over slots' "$f" && { echo "hb_base_backport: the slot change did not apply" >&2; exit 1; }
exit 0
