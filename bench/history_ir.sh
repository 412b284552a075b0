#!/bin/sh
# bench/history_ir.sh — target 1 of bench_history (retention off costs nothing) in instructions:
# both builds' `--ab-only --ops N` under callgrind (with its cache simulation), and per operation
# of each metric the instructions (Ir), the simulated L1 and last-level misses, and the estimate
# Ir + 10 x L1 misses + 100 x LL misses. Counted, not timed: the same on a quiet machine and on a
# loaded one (the library's background threads make them vary by well under 1 %).
#
#   bench/history_ir.sh BASE_BINARY CURRENT_BINARY [OPS]      (make bench-history-ir)
set -eu
base=$1
cur=$2
ops=${3:-100000}
dir=$(mktemp -d "${TMPDIR:-/tmp}/hbir.XXXXXX")
trap 'rm -rf "$dir"' EXIT

for side in base cur; do
    eval bin=\$$side
    echo "callgrind: $bin --ab-only --ops $ops ..." >&2
    valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$dir/$side.out" \
        "$bin" --ab-only --ops "$ops" > "$dir/$side.stdout" 2> "$dir/$side.stderr" || {
        cat "$dir/$side.stderr" >&2
        exit 1
    }
    callgrind_annotate --inclusive=yes --auto=no "$dir/$side.out" > "$dir/$side.txt"
done

# A line of callgrind_annotate: the events in the order of its "Events shown:" line
# (Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw), then the function.
metric() { # $1 side, $2 function name: prints "Ir L1m LLm" per operation
    awk -v fn="bench_history.c:$2 " -v ops="$ops" '
        index($0, fn) {
            n = 0
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^\(/) continue        # the percentages
                if ($i ~ /^[0-9,.]+$/) { v = $i; gsub(",", "", v); e[n++] = v + 0 }
                else if ($i == ".") e[n++] = 0
                if (n == 9) break
            }
            printf "%.1f %.2f %.2f\n", e[0] / ops, (e[3] + e[4] + e[5]) / ops, (e[6] + e[7] + e[8]) / ops
            exit
        }' "$dir/$1.txt"
}

printf '\nTarget 1 in instructions: per operation, %s operations of each metric, 100,000 keys\n' "$ops"
printf '%-48s %9s %9s %7s | %6s %6s | %6s %6s | %9s %9s %7s\n' "" "A Ir" "B Ir" "B/A" \
    "A L1m" "B L1m" "A LLm" "B LLm" "A est." "B est." "B/A"
for m in "op_put:put, implicit (inmem_put)" "op_put_txn:put txn (begin, kv_put, commit, free)" \
    "op_read_txn:point read txn (begin_ro, kv_get, commit, free)" \
    "op_get:kv_get in an open read-only txn"; do
    fn=${m%%:*}
    name=${m#*:}
    set -- $(metric base "$fn") $(metric cur "$fn")
    awk -v name="$name" -v air="$1" -v al1="$2" -v all="$3" -v bir="$4" -v bl1="$5" -v bll="$6" '
        BEGIN {
            ae = air + 10 * al1 + 100 * all; be = bir + 10 * bl1 + 100 * bll
            printf "%-48s %9.1f %9.1f %7.3f | %6.2f %6.2f | %6.2f %6.2f | %9.1f %9.1f %7.3f\n",
                name, air, bir, bir / air, al1, bl1, all, bll, ae, be, be / ae
        }'
done
printf '(A: %s; B: %s. est. = Ir + 10 x L1 misses + 100 x LL misses, callgrind'"'"'s cache model)\n' \
    "$base" "$cur"
