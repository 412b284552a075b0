#!/usr/bin/env bash
# tests/cli/run.sh — end-to-end tests of the inmem command-line tool and the multi-agent demo.
#
# Runs the built binaries on scripts and checks their output, exit status and error messages:
# every command, error cases ("error: <message>" on stderr, exit status 1), --json output
# parsed back with Python's json module (jsonl.py), dump -> load round trips giving the same
# database (dumpdiff.py, and --canonical dumps compared byte for byte), a read-only open beside
# a live writer, the lock error for a second writer, repair of a corrupt log, progress bars,
# the interactive shell through a pseudo-terminal (shell.py), and the demo (including a SIGKILL
# and a re-run), and the man page's synopses against the commands' usage (manpage.py). Ends with
# the line "N passed, M failed"; the exit status is 1 if any failed.
#
#   INMEM=build/inmem AGENTS=build/examples/agents EXAMPLES=build/examples tests/cli/run.sh
#   (make test-cli)
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
INMEM=$(realpath "${INMEM:-build/inmem}")
AGENTS=$(realpath "${AGENTS:-build/examples/agents}")
EXAMPLES=$(realpath "${EXAMPLES:-build/examples}")
HERE=$ROOT/tests/cli
TMP=$(mktemp -d "${INMEM_CLI_TMP:-/tmp}/inmem-cli.XXXXXX")
WRITER_PID=""
cleanup() {
    [ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP" || exit 1
export HOME=$TMP/home INMEM_HISTORY=$TMP/home/.inmem_history
mkdir -p "$HOME"

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() {
    failed=$((failed + 1))
    echo "FAIL $1"
    shift
    for line in "$@"; do printf '     %s\n' "$line"; done
}

# run ARGS...: runs the CLI; sets out (stdout), err (stderr) and rc.
run() {
    out=$("$INMEM" "$@" 2>"$TMP/stderr")
    rc=$?
    err=$(cat "$TMP/stderr")
}
# expect NAME EXPECTED ARGS...: exit 0, nothing on stderr, stdout exactly EXPECTED.
expect() {
    local name=$1 want=$2
    shift 2
    run "$@"
    if [ $rc -eq 0 ] && [ -z "$err" ] && [ "$out" = "$want" ]; then ok "$name"; else
        bad "$name" "status $rc" "stdout: $out" "want:   $want" "stderr: $err"
    fi
}
# matches REGEX TEXT: TEXT matches the (Python) REGEX somewhere; ^ and $ match at every line, and a
# REGEX of several lines must match that many consecutive lines.
matches() { python3 -c 'import re, sys; sys.exit(not re.search(sys.argv[1], sys.argv[2], re.M))' "$1" "$2"; }
# expect_match NAME REGEX ARGS...: exit 0, nothing on stderr, stdout matches REGEX (see matches).
expect_match() {
    local name=$1 re=$2
    shift 2
    run "$@"
    if [ $rc -eq 0 ] && [ -z "$err" ] && matches "$re" "$out"; then ok "$name"; else
        bad "$name" "status $rc" "stdout: $out" "want:   /$re/" "stderr: $err"
    fi
}
# expect_error NAME REGEX ARGS...: exit 1, stderr is "error: ..." matching REGEX.
expect_error() {
    local name=$1 re=$2
    shift 2
    run "$@"
    if [ $rc -eq 1 ] && grep -q '^error: ' <<<"$err" && grep -Eq -- "$re" <<<"$err"; then
        ok "$name"
    else
        bad "$name" "status $rc (want 1)" "stderr: $err" "want:   error: /$re/" "stdout: $out"
    fi
}
# expect_fail NAME REGEX ARGS...: exit 1, stderr matches REGEX (errors and warnings).
expect_fail() {
    local name=$1 re=$2
    shift 2
    run "$@"
    if [ $rc -eq 1 ] && grep -Eq -- "$re" <<<"$err"; then ok "$name"; else
        bad "$name" "status $rc (want 1)" "stderr: $err" "want:   /$re/" "stdout: $out"
    fi
}
# snap DIR: every file of DIR with its size, mtime, mode and checksum (to see that nothing changed).
snap() { (cd "$1" && find . -printf '%p %s %T@ %m\n' | sort && find . -type f -exec sha256sum {} + | sort); }
# unchanged NAME DIR SNAPSHOT: DIR is exactly as SNAPSHOT (from snap) says.
unchanged() {
    if [ "$(snap "$2")" = "$3" ]; then ok "$1"; else bad "$1" "$(diff <(echo "$3") <(snap "$2") | head -8)"; fi
}
# expect_json NAME PYEXPR ARGS...: exit 0 and the stdout lines parse as JSON objects L with PYEXPR.
expect_json() {
    local name=$1 expr=$2
    shift 2
    run --json "$@"
    local check=""
    if [ $rc -eq 0 ] && [ -z "$err" ] && check=$(python3 "$HERE/jsonl.py" "$expr" <<<"$out"); then
        ok "$name"
    else
        bad "$name" "status $rc" "stderr: $err" "$check"
    fi
}

ID='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
ID_RE="^$ID"

echo "== command line"
expect_match "--help prints the usage and every command" 'usage: inmem .*DIR' --help
if grep -q 'trace tree' <<<"$out" && grep -q -- '--read-only' <<<"$out"; then ok "--help lists commands and options"; else bad "--help lists commands and options" "$out"; fi
expect "--version" "inmem 0.1.0" --version
run --bogus db
[ $rc -eq 2 ] && ok "an unknown option exits 2" || bad "an unknown option exits 2" "status $rc" "$err"
run
[ $rc -eq 2 ] && grep -q "no database directory" <<<"$err" && ok "no DIR exits 2" || bad "no DIR exits 2" "status $rc" "$err"
run --durability fast db
[ $rc -eq 2 ] && grep -q "unknown durability" <<<"$err" && ok "a bad durability exits 2" || bad "a bad durability exits 2" "$err"
expect "durability none needs no directory" $'OK (version 1)\n1  (version 1)' --durability none -c 'put shared a 1; get shared a'
[ ! -e none ] && ok "durability none writes no files" || bad "durability none writes no files"
expect_error "repair without a log" "no log" --durability none -c 'repair'
expect_match "help COMMAND" "^usage:
  put RUN KEY VALUE \[--ttl DURATION\]" --durability none -c 'help put'
expect_match "help GROUP" "^  event append RUN STREAM TYPE \[PAYLOAD\]" --durability none -c 'help event'
python3 "$HERE/manpage.py" "$INMEM" "$ROOT/tools/inmem.1" >"$TMP/o" 2>&1 && ok "the man page's synopses give every option of every command" || bad "the man page's synopses give every option of every command" "$(cat "$TMP/o")"
expect "quit and exit end a script" "" --durability none -c 'exit; frob'
expect "durability strict" "OK (version 1)" --durability strict strict -c 'put shared a 1'
expect "async reopened as batched keeps the data" "1  (version 1)" --durability async strict -c 'get shared a'

echo "== opening: inspection never creates or changes a file"
expect_fail "inspecting a missing directory is an error" "no database: no inmem database at typo: the directory does not exist" typo -c 'verify'
[ ! -e typo ] && ok "... and creates nothing" || bad "... and creates nothing" "$(ls -la typo)"
mkdir -p docsdir && echo "a document" >docsdir/notes.txt
before=$(snap docsdir)
expect_fail "inspecting a directory that holds no database is an error" "no database: docsdir holds no inmem database" docsdir -c 'stats'
unchanged "... and writes no LOCK or log into it" docsdir "$before"
expect_fail "a write refuses a non-empty directory that holds no database" "cannot open docsdir for writing: .*not empty and holds no inmem database" docsdir -c 'put shared a 1'
unchanged "... and writes nothing there" docsdir "$before"
expect "a write creates a database in a new directory" "OK (version 1)" fresh -c 'put shared a 1'
mkdir -p emptydir
expect "... or in an empty one" "OK (version 1)" emptydir -c 'put shared a 1'
[ "$(stat -c %a fresh)" = 700 ] && [ "$(stat -c %a fresh/LOCK)" = 600 ] && [ "$(stat -c %a fresh/wal-0000000000000001.log)" = 600 ] && ok "new files are 0600, a new directory 0700" || bad "new files are 0600, a new directory 0700" "$(ls -la fresh; stat -c '%a %n' fresh)"
(umask 022 && "$INMEM" --file-mode 0640 modes -c 'put shared a 1' >/dev/null 2>&1)
[ "$(stat -c %a modes)" = 750 ] && [ "$(stat -c %a modes/wal-0000000000000001.log)" = 640 ] && ok "--file-mode sets the permissions of new files" || bad "--file-mode sets the permissions of new files" "$(ls -la modes)"
run --file-mode 0400 modes2 -c 'put shared a 1'
[ $rc -eq 2 ] && grep -q "include 0600" <<<"$err" && ok "a --file-mode without owner read and write exits 2" || bad "a --file-mode without owner read and write exits 2" "$rc" "$err"
expect_fail "--no-create: a write does not create a database" "cannot open nocreate for writing: .*does not exist.*--no-create" --no-create nocreate -c 'put shared a 1'
[ ! -e nocreate ] && ok "... and nothing was made" || bad "... and nothing was made"
run --durability none fresh -c 'get shared a'
[ $rc -eq 2 ] && grep -q "fresh holds an inmem database, but --durability none" <<<"$err" && ok "-d none on an existing database says so" || bad "-d none on an existing database says so" "status $rc" "$err" "$out"
run --durability none nothing -c 'get shared a'
[ $rc -eq 2 ] && grep -q "takes no DIR" <<<"$err" && [ ! -e nothing ] && ok "-d none with a DIR that holds no database: exit 2" || bad "-d none with a DIR that holds no database: exit 2" "status $rc" "$err"
run fresh -c 'put shared b 2; event append shared log e1 one; state set shared c x'
before=$(snap fresh)
run fresh -c 'get shared a; list shared; stats; info; verify; dump fresh.jsonl; run list; event verify shared; state get shared c; event range shared log'
[ $rc -eq 0 ] && ok "inspection commands work on a sound database" || bad "inspection commands work on a sound database" "$rc" "$err"
unchanged "... and change no byte of it (no lock written, no close mark)" fresh "$before"
printf 'get shared a\nstats\n' | "$INMEM" fresh >/dev/null 2>&1
unchanged "... nor do they from standard input" fresh "$before"
expect_json "info: opened read-only until the first write" 'L[0]["writable"] is False and L[0]["read_only"] is False and L[0]["recovery"]["created"] is False' fresh -c 'info'
expect_json "info after a write: writable" 'L[1]["writable"] is True' fresh -c 'put shared w 1; info'
expect_json "info: a database created by this session says so" 'L[1]["recovery"]["created"] is True and L[1]["writable"] is True' created -c 'put shared a 1; info'

echo "== opening: a torn tail is reported, never cut by an inspection"
run torn -c 'put shared a 1; put shared b 2'
run torn -c 'put shared c 3'
python3 "$HERE/wal.py" tear torn/wal-0000000000000001.log >"$TMP/tear"
before=$(snap torn)
expect_json "a read-only open reports the torn tail it would cut" 'L[0]["recovery"]["torn_tail"] and L[0]["recovery"]["tail_bytes"] > 0 and L[0]["recovery"]["tail_offset"] == '"$(cat "$TMP/tear")"' and L[0]["version"] == 2' torn -c 'info'
TAIL_OFF=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["recovery"]["tail_offset"])' "$out")
TAIL_BYTES=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["recovery"]["tail_bytes"])' "$out")
expect_match "info names the torn tail a write will cut" "torn tail \(the end of a crash\) at wal-0000000000000001.log offset $TAIL_OFF: $TAIL_BYTES bytes of an incomplete transaction \(a write will cut them\)" torn -c 'info'
expect_fail "verify exits 1 and names the torn tail" "error: verify: the log ends in a torn record at wal-0000000000000001.log offset $TAIL_OFF: $TAIL_BYTES bytes of an incomplete transaction" torn -c 'verify'
grep -q "^log: the log ends in a torn record" <<<"$out" && ok "... on stdout too" || bad "... on stdout too" "$out"
run --json torn -c 'verify'
[ $rc -eq 1 ] && python3 "$HERE/jsonl.py" 'L[0]["ok"] is False and L[0]["log_ok"] is False and "torn record" in L[0]["log_problems"][0] and L[0]["log"]["tail_bytes"] == '"$TAIL_BYTES" <<<"$out" >"$TMP/o" && ok "verify --json: not ok, the log problem listed" || bad "verify --json: not ok, the log problem listed" "$rc" "$(cat "$TMP/o")" "$err"
run torn -c 'get shared a; stats; dump torn.jsonl; run list'
[ $rc -eq 0 ] && [ -z "$err" ] && ok "inspection of a torn log works, silently" || bad "inspection of a torn log works, silently" "$rc" "$err"
unchanged "... and leaves the torn tail in place" torn "$before"
run torn -c 'put shared d 4'
[ $rc -eq 0 ] && grep -q "^warning: torn: the log ended in a torn record (an interrupted write): cut wal-0000000000000001.log at offset $TAIL_OFF, dropping $TAIL_BYTES bytes of an incomplete transaction$" <<<"$err" && [ "$out" = "OK (version 3)" ] && ok "the first write cuts it and says so on stderr: file, offset, bytes, transactions" || bad "the first write cuts it and says so on stderr: file, offset, bytes, transactions" "$rc" "$out" "$err"
expect_match "after the cut the log verifies" "verify: OK" torn -c 'verify'
expect "... and the data is all there" $'1  (version 1)\n2  (version 2)\n4  (version 3)' torn -c 'get shared a; get shared b; get shared d'

echo "== key-value"
D=kv
expect "put prints the commit's version" "OK (version 1)" $D -c 'put shared greeting "hello world"'
expect "get prints value and version" "hello world  (version 1)" $D -c 'get shared greeting'
expect "- names the shared scope" "hello world  (version 1)" $D -c 'get - greeting'
expect "put and get in one script" $'OK (version 2)\nv2  (version 2)' $D -c 'put shared k2 v2; get shared k2'
expect "list with a prefix" $'k2 = v2  (version 2)\n(1 key)' $D -c 'list shared k'
expect "list all, in key order" $'greeting = hello world  (version 1)\nk2 = v2  (version 2)\n(2 keys)' $D -c 'list shared'
expect "list --after --limit" $'k2 = v2  (version 2)\n(1 key)' $D -c 'list shared --after greeting --limit 5'
expect "del" "OK (version 3)" $D -c 'del shared k2'
expect_error "get after del: not found" "not found: key 'k2'" $D -c 'get shared k2'
expect "put --ttl (long): visible" "OK (version 4)" $D -c 'put shared cache x --ttl 600000'
expect "the TTL value reads back" "x  (version 4)" $D -c 'get shared cache'
run $D -c 'put shared short y --ttl 1'
sleep 0.05
expect_error "a value past its TTL is gone" "not found" $D -c 'get shared short'
expect "cas with the right version" "OK (version 6)" $D -c 'cas shared greeting 1 hi'
expect_error "cas with a wrong version: conflict" "conflict: key 'greeting' is at version 6, not 1" $D -c 'cas shared greeting 1 no'
expect_error "cas 0 on an existing key: conflict" "conflict" $D -c 'cas shared greeting 0 no'
expect "cas 0 creates an absent key" "OK (version 7)" $D -c 'cas shared fresh 0 new'
expect "quotes and escapes" $'OK (version 8)\n"tab\\there"  (version 8)' $D -c "put shared esc \"tab\\there\"; get shared esc"
expect "binary values are shown escaped" $'OK (version 9)\n"\\x01\\xff"  (version 9)' $D -c 'put shared bin "\x01\xff"; get shared bin'
expect "';' inside quotes; '#' starts a comment" "OK (version 10)" $D -c "put shared semi 'a;b' # a comment; get shared nothing"
expect "... the value kept its ';'" "a;b  (version 10)" $D -c "get shared semi"
expect "keys are per run" $'current run: 01a21538-0000-7000-8000-00000000abcd\nOK (version 11)' $D -c 'use 01a21538-0000-7000-8000-00000000abcd; put . greeting other'
expect "the shared value is unchanged" "hi  (version 6)" $D -c 'get shared greeting'

echo "== transactions"
expect "begin, pending writes, commit" $'begun at version 11\nOK (pending)\nmine  (pending)\ncommitted (version 12)\nmine  (version 12)' $D -c 'begin; put shared t mine; get shared t; commit; get shared t'
expect "abort discards" $'begun at version 12\nOK (pending)\naborted' $D -c 'begin; put shared t2 x; abort'
expect_error "after abort the key is absent" "not found" $D -c 'get shared t2'
expect_error "a CAS checked at commit: conflict names the key and the rule" "conflict on key t of shared: a CAS expected version 99, found 12" $D -c 'begin; cas shared t 99 x; commit'
expect_error "commit without begin" "no transaction open" $D -c 'commit'
expect_error "begin twice" "already open" $D -c 'begin; begin'
run $D -c 'begin; put shared left open'
if [ $rc -eq 0 ] && grep -q "warning: a transaction was still open: aborted" <<<"$err"; then ok "an open transaction at exit is aborted with a warning"; else bad "an open transaction at exit is aborted with a warning" "$rc" "$err"; fi
expect_error "... and nothing of it was committed" "not found" $D -c 'get shared left'
expect_error "load is refused in a transaction" "transaction is open" $D -c 'begin; load x.jsonl'

echo "== runs"
D=runs
run $D -c 'run begin --agent planner --app support --tenant acme --tag nightly --tag gpt'
PLANNER=$out
grep -Eq "$ID_RE\$" <<<"$PLANNER" && ok "run begin prints a 36-char id" || bad "run begin prints a 36-char id" "$out" "$err"
run $D -c "run begin --parent $PLANNER --agent triage --tag nightly"
CHILD=$out
run $D -c "run show $PLANNER"
grep -q "tags      nightly, gpt" <<<"$out" && grep -q "agent     planner" <<<"$out" && ok "run show lists namespace and tags" || bad "run show lists namespace and tags" "$out"
expect_match "run children" "^$CHILD  active .*agent=triage.*parent=$PLANNER" $D -c "run children $PLANNER"
expect_match "run list --agent" "^$PLANNER " $D -c 'run list --agent planner'
expect_match "run list --tag: both, newest first" "^$CHILD .*
$PLANNER .*
\(2 runs\)" $D -c 'run list --tag nightly'
run $D -c 'run list --tag gpt'
[ "$(head -c 36 <<<"$out")" = "$PLANNER" ] && ok "run list --tag filters" || bad "run list --tag filters" "$out"
expect "run end" "OK" $D -c "run end $CHILD completed"
expect_match "run list --status completed" "^$CHILD  completed" $D -c 'run list --status completed'
expect_error "completed -> failed is refused" "cannot move to failed" $D -c "run end $CHILD failed"
expect "completed -> archived" "OK" $D -c "run end $CHILD archived"
expect "use RUN and ." "$(printf 'current run: %s\nOK (version 5)\nv  (version 5)' "$CHILD")" $D -c "use $CHILD; put . k v; get $CHILD k"
expect "run delete" "OK" $D -c "run delete $CHILD"
expect_error "a deleted run is gone" "no run" $D -c "run show $CHILD"
expect_error "... and so is its data" "not found" $D -c "get $CHILD k"
expect_error "run begin with an existing id says so" "^error: run begin: a run with id $PLANNER exists already$" $D -c "run begin --id $PLANNER"
expect_error "run begin with an unknown parent says so" "^error: run begin: no parent run 01a21538-0000-7000-8000-0000000000ee in this database$" $D -c "run begin --parent 01a21538-0000-7000-8000-0000000000ee"
expect_error "run begin with a tag given twice says so" "^error: run begin: tag 'x' is given twice$" $D -c "run begin --tag x --tag y --tag x"
expect_error "run begin with an all-zero id says so" "must not be all zero" $D -c "run begin --id 00000000-0000-0000-0000-000000000000"
expect_error "run begin --parent shared" "not the shared scope" $D -c 'run begin --parent shared'
expect_error "a run begun in an aborted transaction does not exist" "no run" $D -c 'begin; run begin --id 01a21538-0000-7000-8000-0000000000ff; abort; run show 01a21538-0000-7000-8000-0000000000ff'

echo "== events"
R=$PLANNER
expect "event append returns seq 1, 2, 3" $'seq 1\nseq 2\nseq 3' $D -c "event append $R tools call '{\"q\":1}'; event append $R tools result ok; event append $R tools call2"
expect_match "event read" '^#2  [0-9T:.-]+Z  result  ok$' $D -c "event read $R tools 2"
run $D -c "event range $R tools"
[ "$(wc -l <<<"$out")" = 4 ] && grep -q '^#1 .*call  {"q":1}$' <<<"$out" && grep -q '^(3 events)$' <<<"$out" && ok "event range: all" || bad "event range: all" "$out"
run $D -c "event range $R tools 1 0 --backward --limit 2"
[ "$(cut -c1-2 <<<"$out" | tr '\n' ' ')" = "#3 #2 (2 " ] && ok "event range --backward --limit" || bad "event range --backward --limit" "$out"
run $D -c "event range $R tools 2 2"
grep -q '^#2 ' <<<"$out" && [ "$(wc -l <<<"$out")" = 2 ] && ok "event range FROM TO" || bad "event range FROM TO" "$out"
expect "event range --since the future: none" "(0 events)" $D -c "event range $R tools --since 99999999999999"
expect "event range --until 1: none" "(0 events)" $D -c "event range $R tools --until 1"
run $D -c "event range $R tools --since 1"
grep -q '(3 events)' <<<"$out" && ok "event range --since 1: all" || bad "event range --since 1: all" "$out"
expect_match "event streams" '^tools  3 events  head [0-9a-f]{16}  ' $D -c "event streams $R"
expect "event verify" $'tools: ok (3 events)' $D -c "event verify $R"
expect "event verify STREAM" $'tools: ok (3 events)' $D -c "event verify $R tools"
expect_error "event read past the end" "has no event 9" $D -c "event read $R tools 9"
expect_error "an empty stream name" "STREAM must not be empty" $D -c "event append $R '' t"
expect_error "a stream name too long" "longer than 63 bytes" $D -c "event append $R $(printf 'x%.0s' {1..70}) t"
expect "events in the shared scope" "seq 1" $D -c 'event append shared audit boot'

echo "== state cells"
S=cells
expect "state set" "OK (version 1)" $S -c 'state set shared task/1 open'
expect "state get" "open  (version 1)" $S -c 'state get shared task/1'
expect "state cas VERSION" "OK (version 2)" $S -c 'state cas shared task/1 1 claimed'
expect_error "state cas with a stale version" "conflict: state cell 'task/1' is at version 2, not 1" $S -c 'state cas shared task/1 1 again'
expect "state cas --if-value" "OK (version 3)" $S -c 'state cas shared task/1 --if-value claimed done'
expect_error "state cas --if-value mismatch" "does not hold 'claimed'" $S -c 'state cas shared task/1 --if-value claimed x'
expect "state cas 0 creates" "OK (version 4)" $S -c 'state cas shared lock 0 me'
expect_error "state cas 0 on an existing cell" "is at version 4, not 0" $S -c 'state cas shared lock 0 me'
expect_error "state get of a missing cell" "not found: state cell" $S -c 'state get shared nope'
expect "state in a transaction" $'begun at version 4\nOK (pending)\nx  (pending)\ncommitted (version 5)' $S -c 'begin; state set shared c2 x; state get shared c2; commit'
expect "state cells per run" $'OK (version 6)\nr  (version 6)' $S -c "state set $PLANNER c2 r; state get $PLANNER c2"
expect_error "state cas usage" "give VERSION VALUE" $S -c 'state cas shared c2 x'

echo "== traces"
run $D -c "trace record $R decision choose_tool --input 'what weather' --output web_search --confidence 0.92 --start 1764000000000 --duration-us 350000 --tag planner"
ROOT_SPAN=$out
grep -Eq "$ID_RE\$" <<<"$ROOT_SPAN" && ok "trace record prints a span id" || bad "trace record prints a span id" "$out" "$err"
run $D -c "trace record $R tool_call web_search --parent $ROOT_SPAN --start 1764000000400 --duration-us 1200000 --tag network --output '4 C'"
TOOL_SPAN=$out
expect_match "trace get" "^$ROOT_SPAN  decision  choose_tool  confidence=0.92  start=2025-11-24T16:00:00.000Z  duration=350.000ms  tags=planner  input=what weather  output=web_search$" $D -c "trace get $R $ROOT_SPAN"
expect_match "trace query --kind" "^$TOOL_SPAN  tool_call  web_search .*parent=$ROOT_SPAN
\(1 span\)" $D -c "trace query $R --kind tool_call"
expect_match "trace query --parent root" "^$ROOT_SPAN .*
\(1 span\)" $D -c "trace query $R --parent root"
expect_match "trace query --tag" "^$TOOL_SPAN " $D -c "trace query $R --tag network"
expect "trace query --from --to: none" "(0 spans)" $D -c "trace query $R --from 1 --to 2"
expect_match "trace tree indents children" "^$ROOT_SPAN  decision .*
  $TOOL_SPAN  tool_call  web_search" $D -c "trace tree $R $ROOT_SPAN"
# --limit 1000000 over two spans: room for the tree, not for a million spans (1.2 GB, beyond a
# 256 MB cap on data memory). AddressSanitizer's and ThreadSanitizer's shadow memory is data
# memory too: under them no such cap applies (LeakSanitizer's reservations are not).
if ldd "$INMEM" 2>/dev/null | grep -Eq 'lib(asan|tsan)'; then
    echo "skip trace tree --limit 1000000 under a 256 MB cap (a sanitizer's shadow memory)"
else
    out=$(ulimit -d 262144 && "$INMEM" $D -c "trace tree $R $ROOT_SPAN --limit 1000000" 2>&1)
    if [ $? -eq 0 ] && [ "$(grep -Ec "$ID" <<<"$out")" = 2 ]; then
        ok "trace tree --limit 1000000 allocates for the tree, not the limit"
    else
        bad "trace tree --limit 1000000 allocates for the tree, not the limit" "$out"
    fi
fi
# depths come from the path to each span: after a deeper branch, a sibling is back at its depth
DT=$TMP/deptree
DR=$("$INMEM" $DT -c "trace record shared decision root")
DA=$("$INMEM" $DT -c "trace record shared thought a --parent $DR")
DA1=$("$INMEM" $DT -c "trace record shared thought a1 --parent $DA")
DA2=$("$INMEM" $DT -c "trace record shared thought a2 --parent $DA1")
DB=$("$INMEM" $DT -c "trace record shared thought b --parent $DR")
expect_match "trace tree: each span at its depth, a sibling back after a deeper branch" "^$DR  decision  root.*
  $DA  thought  a .*
    $DA1  thought  a1 .*
      $DA2  thought  a2 .*
  $DB  thought  b " $DT -c "trace tree shared $DR"
run $DT --json -c "trace tree shared $DR"
if [ "$(grep -o '"depth": *[0-9]*' <<<"$out" | grep -o '[0-9]*$' | tr '\n' ' ')" = "0 1 2 3 1 " ]; then
    ok "trace tree --json: depths 0 1 2 3 1"
else
    bad "trace tree --json: depths 0 1 2 3 1" "$out"
fi
# a tree larger than the first room (1024 spans) is read whole, up to --limit
BIG=$TMP/bigtree
BIG_ROOT=$("$INMEM" $BIG -c "trace record shared decision big")
cmds=""
for i in $(seq 1100); do cmds+="trace record shared thought t$i --parent $BIG_ROOT;"; done
"$INMEM" $BIG -c "$cmds" >/dev/null
run $BIG -c "trace tree shared $BIG_ROOT --limit 5000"
n_all=$(grep -Ec "$ID" <<<"$out")
run $BIG -c "trace tree shared $BIG_ROOT --limit 1050"
n_cut=$(grep -Ec "$ID" <<<"$out")
if [ "$n_all" = 1101 ] && [ "$n_cut" = 1050 ] && grep -q "may have more than 1050" <<<"$err"; then
    ok "trace tree beyond 1024 spans: whole, or cut at --limit"
else
    bad "trace tree beyond 1024 spans: whole, or cut at --limit" "$n_all and $n_cut spans" "$err"
fi
expect_error "trace record with a bad kind" "unknown span kind" $D -c "trace record $R nonsense x"
expect_error "trace get of a missing span" "no span" $D -c "trace get $R 01a21538-0000-7000-8000-000000000000"
expect_error "trace record with a bad confidence" "must be a number" $D -c "trace record $R decision x --confidence high"

echo "== names in human output: escaped as values are, never forging a line"
# A newline or an escape sequence in a name (type, stream, cell, span, tenant/app/agent, tag) is
# shown escaped, in quotes; a tag with a ',' is quoted, so that a tag list reads one way.
N=forge
run $N -c 'event append shared s "ok\n#2  2026-01-01T00:00:00.000Z  approved" p1; event append shared "s2\x1b[31m" t p2'
expect_match "event range: a type holding a newline stays on its line" '^#1  [0-9T:.-]+Z  "ok\\n#2  2026-01-01T00:00:00\.000Z  approved"  p1
\(1 event\)$' $N -c 'event range shared s'
expect_match "event streams: a stream name holding an escape sequence is shown escaped" '^"s2\\x1b\[31m"  1 event  head ' $N -c 'event streams shared'
! grep -q $'\e' <<<"$out" && ok "... and no escape byte reaches the terminal" || bad "... and no escape byte reaches the terminal" "$(cat -v <<<"$out")"
expect "event verify: the same" $'s: ok (1 event)\n"s2\\x1b[31m": ok (1 event)' $N -c 'event verify shared'
run $N -c 'run begin --tenant - --agent "ag\nstatus    completed" --tag "a,b" --tag c --history-versions 10'
NF=$out
expect_match "run show: an agent holding a newline, a tag holding a comma, a tenant named '-'" '^tenant    "-"
app       -
agent     "ag\\nstatus    completed"
tags      "a,b", c$' $N -c "run show $NF"
[ "$(grep -c '^status' <<<"$out")" = 1 ] && ok "... one status line" || bad "... one status line" "$out"
expect_match "run list: the same names escaped in the row" "^$NF  active +[0-9T:.-]+Z  tenant=-  agent=\"ag\\\\nstatus    completed\"  tags=\"a,b\",c\$" $N -c 'run list'
[ "$(wc -l <<<"$out")" = 2 ] && ok "... on one line" || bad "... on one line" "$out"
run $N -c "trace record $NF decision \"pick\nforged\" --tag \"x,y\" --tag z --start 1764000000000"
SF=$out
expect_match "trace get: a span name holding a newline, a tag holding a comma" "^$SF  decision  \"pick\\\\nforged\"  start=2025-11-24T16:00:00\.000Z  duration=0\.000ms  tags=\"x,y\",z\$" $N -c "trace get $NF $SF"
run $N -c "event append $NF log \"t\nforged\" p; state set $NF \"c\nforged\" v"
expect_match "run replay: event types and cell names escaped" '^version 5  .*
  event  log  #1  [0-9T:.-]+Z  "t\\nforged"  p
version [0-9]+  .*
  state  "c\\nforged" = v$' $N -c "run replay $NF 4"

echo "== names and values that would read as the output's separators are quoted"
# Two spaces separate columns and " = " a key from its value: a name or value holding either is
# quoted, and so is a value "<deleted>" (what history and wait print for a delete), and an
# invisible character (a non-breaking space, a bidirectional override) is escaped. Single
# spaces are not quoted. --json is unchanged. (Its own database: versions below are exact; 1 stored the history policy.)
A=ambig
run $A --history-versions 10 -c 'put shared "a  b" "x  y"; put shared "k = v" w; put shared single "book a flight"; put shared d "<deleted>"; del shared d; put shared rlo "ab\xe2\x80\xaecd"; put shared nbsp "a\xc2\xa0b"'
expect "list: a key or value holding two spaces or ' = ' is quoted, single spaces are not" '"a  b" = "x  y"  (version 2)
"k = v" = w  (version 3)
nbsp = "a\xc2\xa0b"  (version 8)
rlo = "ab\xe2\x80\xaecd"  (version 7)
single = book a flight  (version 4)
(5 keys)' $A -c 'list shared'
expect "get: the same" '"x  y"  (version 2)' $A -c 'get shared "a  b"'
expect_match "history: a value <deleted> is quoted, a delete is not" '^version 6  [0-9T:.-]+Z  <deleted>
version 5  [0-9T:.-]+Z  "<deleted>"
\(2 versions\)$' $A -c 'history shared d'
run $A -c 'run begin --agent "ag  ent" --tag "t  g" --tag plain'
RA=$out
run $A -c "event append $RA \"s  t\" \"ty  pe\" \"pay  load\"; trace record $RA decision \"na  me\" --tag \"x  y\" --start 1764000000000; state set $RA \"c  c\" \"v  v\""
expect_match "run list: agent and tag with two spaces quoted" "^$RA  active +[0-9T:.-]+Z  agent=\"ag  ent\"  tags=\"t  g\",plain\$" $A -c 'run list'
expect_match "event range: type and payload quoted" '^#1  [0-9T:.-]+Z  "ty  pe"  "pay  load"$' $A -c "event range $RA 's  t'"
expect_match "event streams: the stream quoted" '^"s  t"  1 event  head ' $A -c "event streams $RA"
expect_match "trace query: name and tag quoted" '  decision  "na  me"  start=2025-11-24T16:00:00\.000Z  duration=0\.000ms  tags="x  y"$' $A -c "trace query $RA"
expect_match "state get: the value quoted" '^"v  v"  \(version 12\)$' $A -c "state get $RA 'c  c'"
expect_json "--json: the same strings as they are" 'L[0]["key"] == "a  b" and L[0]["value"] == "x  y" and L[1]["value"] == "<deleted>" and L[2]["value"] == "ab\u202ecd"' $A -c 'get shared "a  b"; history shared d --limit 1 --before 6; get shared rlo'

echo "== paths in human output: quoted when they hold a space or are not printable"
# A directory or file name the tool prints (info, backup, dump, errors, notes) is quoted with C
# escapes when it holds a space, a control character or anything but printable UTF-8; the
# library's messages, which name paths as they are, are printed with such bytes escaped. No
# control byte reaches the terminal; --json keeps the path as it is.
PD=$'pd\e[31m  x'
run "$PD" -c 'put shared a 1'
expect_match "info: the directory quoted and escaped" '^directory   "pd\\x1b\[31m  x"$' "$PD" -c 'info'
! grep -q $'\e' <<<"$out" && ok "... and no escape byte reaches the terminal" || bad "... and no escape byte reaches the terminal" "$(cat -v <<<"$out")"
expect_match "backup DIR: the directory quoted" '^backed up version 1 to "bk\\x1b  z" \(ckpt-0000000000000001\.img, ' "$PD" -c 'backup "bk\x1b  z"'
expect_match "backup DIR with a space: quoted" '^backed up version 1 to "my backup" \(ckpt-' "$PD" -c 'backup "my backup"'
expect_match "dump FILE: the file quoted" '^dumped 1 records \(0 runs\) to "du\\x1b  \.jsonl"$' "$PD" -c 'dump "du\x1b  .jsonl"'
expect_error "the library's message naming a path: escaped" '^error: backup: invalid argument: backup directory bk\\x1b  z is not empty$' "$PD" -c 'backup "bk\x1b  z"'
! grep -q $'\e' <<<"$err" && ok "... no escape byte on stderr" || bad "... no escape byte on stderr" "$(cat -v <<<"$err")"
expect_error "load: a missing file named quoted" '^error: load: cannot read "no\\x1bfile": No such file or directory$' "$PD" -c 'load "no\x1bfile"'
mkdir -p $'nd\e' && touch $'nd\e/f'
expect_error "a directory that holds no database: named quoted, the library's message escaped" '^error: put: cannot open "nd\\x1b" for writing: invalid argument: nd\\x1b is not empty and holds no inmem database' $'nd\e' -c 'put shared a 1'
! grep -q $'\e' <<<"$err" && ok "... no escape byte on stderr" || bad "... no escape byte on stderr" "$(cat -v <<<"$err")"
run --durability none "$PD"
[ $rc -eq 2 ] && grep -q '^error: "pd\\x1b\[31m  x" holds an inmem database' <<<"$err" && ok "--durability none with a DIR holding a database: named quoted" || bad "--durability none with a DIR holding a database: named quoted" "status $rc" "$(cat -v <<<"$err")"
expect_json "--json: the directory as it is" 'L[0]["directory"] == "pd\x1b[31m  x"' "$PD" -c 'info'

echo "== --json output, parsed back"
expect_json "get" 'L[1] == {"run": "shared", "key": "task", "value": "v", "version": L[0]["version"]}' $D -c 'put shared task v; get shared task'
expect_json "put / del" 'L[0]["ok"] and L[1]["version"] == L[0]["version"] + 1' $D -c 'put shared j 1; del shared j'
expect_json "list" 'len(L) == 1 and L[0]["key"] == "task"' $D -c 'list shared task'
expect_json "binary values in base64" 'L[1]["value_b64"] == "Af8=" and "value" not in L[1]' $D -c 'put shared b64 "\x01\xff"; get shared b64'
expect_json "transactions" 'L[0]["start_version"] >= 1 and L[1].get("pending") and L[2]["version"] == L[0]["start_version"] + 1' $D -c 'begin; put shared jt x; commit'
expect_json "run list" 'len(L) == 1 and L[0]["run"] == "'"$PLANNER"'" and L[0]["tags"] == ["nightly", "gpt"] and L[0]["status"] == "active" and L[0]["parent"] is None' $D -c 'run list --agent planner'
expect_json "run show" 'L[0]["keys"] == 0 and L[0]["streams"] == {"tools": 3} and L[0]["spans"] == 2' $D -c "run show $R"
expect_json "run begin" 'len(L[0]["run"]) == 36' $D -c 'run begin --agent j'
expect_json "event range" '[e["seq"] for e in L] == [1, 2, 3] and L[0]["payload"] == "{\"q\":1}" and L[1]["prev_hash"] == L[0]["hash"]' $D -c "event range $R tools"
expect_json "event streams" 'L[0]["stream"] == "tools" and L[0]["length"] == 3' $D -c "event streams $R"
expect_json "event verify" 'L[0]["ok"] is True and L[0]["first_broken"] == 0' $D -c "event verify $R"
expect_json "state get" 'L[0] == {"run": "shared", "name": "task/1", "value": "done", "version": 3}' $S -c 'state get shared task/1'
expect_json "trace tree" 'len(L) == 2 and L[0]["depth"] == 0 and L[1]["depth"] == 1 and L[1]["parent"] == L[0]["span"] and L[0]["confidence"] == 0.92' $D -c "trace tree $R $ROOT_SPAN"
expect_json "trace record with no confidence: null" 'L[0]["confidence"] is None' $D -c "trace get $R $TOOL_SPAN"
expect_json "stats" 'all(k in L[0] for k in ("commits", "aborts_user", "aborts_read_conflict", "aborts_cas_conflict", "aborts_error", "expired_swept", "retries", "keys", "retained_versions", "wal_bytes", "log_file_bytes", "rss_bytes")) and L[0]["version"] >= 15' $D -c 'stats'
expect_json "info" 'L[0]["durability"] == "batched" and L[0]["recovery"]["txns_applied"] >= 15' $D -c 'info'
expect_json "verify" 'L[0]["ok"] and L[0]["log_ok"] and L[0]["streams"] == 2 and L[0]["spans"] == 2 and L[0]["problems"] == []' $D -c 'verify'
run --json $D -c 'get shared missing'
[ $rc -eq 1 ] && [ -z "$out" ] && grep -q '^error: not found' <<<"$err" && ok "json: errors still go to stderr" || bad "json: errors still go to stderr" "$out" "$err"

echo "== stats, info, verify"
run $D -c 'stats'
missing=""
for w in "^commits " "^aborts .*read conflicts.*CAS conflicts" "^retries " "^keys " "^retained versions" "^log  .* of records in 1 segment" "^log since open .* written" "^checkpoint  .*next open replays" "^memory"; do
    grep -Eq "$w" <<<"$out" || missing="$missing /$w/"
done
[ -z "$missing" ] && ok "stats shows commits, aborts by cause, retries, keys, versions, log size, memory" || bad "stats shows commits, aborts by cause, retries, keys, versions, log size, memory" "missing:$missing" "$out"
expect_match "info" "recovery: 1 segment" $D -c 'info'
expect_match "verify" "^log: 1 segment.*every record checks
data: 2 runs and the shared scope: .* 2 streams \(4 events, chains intact\), 2 spans
verify: OK$" $D -c 'verify'

echo "== times, TTLs, raw values"
run $D -c "event range $R tools --since 2020-01-01"
grep -q '^(3 events)$' <<<"$out" && ok "event range --since an ISO-8601 date" || bad "event range --since an ISO-8601 date" "$out" "$err"
run $D -c "event range $R tools --since -1h"
grep -q '^(3 events)$' <<<"$out" && ok "event range --since a relative time (-1h)" || bad "event range --since a relative time (-1h)" "$out" "$err"
expect "event range --since +1h: none yet" "(0 events)" $D -c "event range $R tools --since +1h"
expect "event range --until -1d: none" "(0 events)" $D -c "event range $R tools --until -1d"
expect "event range --since now --until ISO in the past: none" "(0 events)" $D -c "event range $R tools --since now --until 2001-01-01T00:00Z"
expect_match "trace query --from/--to as ISO 8601 (with ms)" "^$ROOT_SPAN  decision .*
\(1 span\)$" $D -c "trace query $R --from 2025-11-24T16:00:00.000Z --to 2025-11-24T16:00:00.001Z"
expect_match "... with a zone offset" "^$ROOT_SPAN  decision .*
\(1 span\)$" $D -c "trace query $R --from 2025-11-24T17:00:00+01:00 --to 2025-11-24T17:00:00.001+01:00"
expect_match "... and Unix ms still" "^\(1 span\)$" $D -c "trace query $R --from 1764000000000 --to 1764000000001"
expect_error "a bad time says what a time is" "--since must be a time: Unix ms, ISO 8601 .* not '2025-13-01'" $D -c "event range $R tools --since 2025-13-01"
expect_error "31 February is not a date" "must be a time" $D -c "event range $R tools --since 2025-02-31"
run $D -c 'put shared daylong v --ttl 1d; put shared nottl v'
expect_json "ttl KEY: the absolute expiry and the time left" 'L[0]["key"] == "daylong" and 0 < L[0]["ttl_ms"] <= 86400000 and L[0]["expire_at_ms"] > 1764000000000' $D -c 'ttl shared daylong'
expect_match "ttl KEY for people" "^expires [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z \(in [0-9h m.]+s\)$" $D -c 'ttl shared daylong'
expect "ttl of a key without one" "no TTL (never expires)" $D -c 'ttl shared nottl'
expect_error "ttl of a missing key" "not found: key 'nope'" $D -c 'ttl shared nope'
expect_error "--ttl takes a duration" "--ttl must be a duration" $D -c 'put shared t v --ttl 5y'
run $D -c 'put shared rawbin "\x01\xff\n"; state set shared rawcell "a b"; event append shared rawlog t "p\tq"'
[ "$("$INMEM" $D -c 'get shared rawbin --raw' | od -An -tx1 | tr -d ' ')" = "01ff0a" ] && ok "get --raw prints the value's bytes and nothing else" || bad "get --raw prints the value's bytes and nothing else" "$("$INMEM" $D -c 'get shared rawbin --raw' | od -c)"
[ "$("$INMEM" --raw $D -c 'state get shared rawcell' | od -An -c | tr -s ' ')" = " a b" ] && ok "--raw for every command: state get" || bad "--raw for every command: state get" "$("$INMEM" --raw $D -c 'state get shared rawcell' | od -c)"
[ "$("$INMEM" $D -c 'event read shared rawlog 1 --raw' | od -An -c | tr -s ' ')" = " p \t q" ] && ok "event read --raw: the payload" || bad "event read --raw: the payload" "$("$INMEM" $D -c 'event read shared rawlog 1 --raw' | od -c)"
run --raw --json $D -c 'get shared rawbin'
[ $rc -eq 2 ] && grep -q "do not go together" <<<"$err" && ok "--raw and --json: exit 2" || bad "--raw and --json: exit 2" "$rc" "$err"

echo "== errors"
while IFS='|' read -r name re cmd; do
    expect_error "$name" "$re" $D -c "$cmd"
done <<'EOF'
unknown command|unknown command 'frob'|frob
missing arguments|get: missing arguments|get shared
too many arguments|too many arguments|get shared a b
unknown option|unknown option '--nope'|put shared k v --nope
option without value|needs a value|list shared --limit
bad number|--limit must be an unsigned number|list shared --limit x
bad run|not a run: 'nope'|get nope k
no current run|no current run|get . k
missing subcommand|run: missing subcommand|run
unknown subcommand|event: unknown subcommand 'x'|event x
bad status|unknown run status|run list --status done
unterminated quote|unterminated|put shared k "abc
bad escape|unknown escape|put shared k "\q"
NUL escape|not 00|put shared k "\x00"
help of nothing|no command|help zzz
dump of a missing run|no run|dump --run 01a21538-0000-7000-8000-0000000000ee
load of a missing file|cannot read|load /nonexistent/file
dump to a bad path|cannot write|dump /nonexistent/dir/x
EOF
run $D -c 'put shared before 1; frob; put shared after 1'
run $D -c 'get shared after'
[ $rc -eq 1 ] && ok "a script stops at the first error" || bad "a script stops at the first error" "$out"
printf 'put shared s1 1\nget shared s1\nbogus\nput shared s2 2\n' | "$INMEM" $D >"$TMP/o" 2>"$TMP/e"
rc=$?
[ $rc -eq 1 ] && grep -q "^1  (version" "$TMP/o" && grep -q "^error: line 3: unknown command 'bogus'" "$TMP/e" && ok "commands on stdin; stop at the first error, named by its line" || bad "commands on stdin; stop at the first error" "$(cat "$TMP/o" "$TMP/e")"
expect_error "... so the last one did not run" "not found" $D -c 'get shared s2'
"$INMEM" $D -c 'list shared' >/dev/full 2>"$TMP/e"
[ $? -eq 1 ] && grep -q "^error: cannot write standard output: No space left on device" "$TMP/e" && ok "a write error on standard output fails the command" || bad "a write error on standard output fails the command" "$(cat "$TMP/e")"
"$INMEM" $D -c 'get shared s1; get shared s1' >/dev/full 2>"$TMP/e"
[ $? -eq 1 ] && [ "$(grep -c '^error' "$TMP/e")" = 1 ] && ok "... and stops the script" || bad "... and stops the script" "$(cat "$TMP/e")"
printf 'get shared s1\n' | "$INMEM" $D >/dev/full 2>"$TMP/e"
[ $? -eq 1 ] && grep -q "^error: line 1: cannot write standard output" "$TMP/e" && ok "... from standard input too" || bad "... from standard input too" "$(cat "$TMP/e")"
BIG=$(printf 'k%.0s' $(seq 4000))
run $D -c "get shared $BIG"
[ $rc -eq 1 ] && [ ${#err} -lt 200 ] && grep -q "^error: not found: key 'kkkk*\.\.\.' (4000 bytes) in shared$" <<<"$err" && ok "an error does not echo a 4000-byte key in full" || bad "an error does not echo a 4000-byte key in full" "${err:0:300}"
BIG=$(printf 'k%.0s' $(seq 70000)) # (past the library's largest key, 64 KiB)
run $D -c "put shared $BIG v"
[ $rc -eq 1 ] && [ ${#err} -lt 250 ] && grep -q "(70000 bytes)" <<<"$err" && ok "... nor does a library error about it" || bad "... nor does a library error about it" "${err:0:300}"
run $D -c "frob$BIG"
[ $rc -eq 1 ] && [ ${#err} -lt 200 ] && ok "... nor an unknown command" || bad "... nor an unknown command" "${err:0:300}"
# random junk never crashes the tool: exit 0 or 1, never a signal
python3 - "$TMP/junk" <<'EOF'
import random, sys
random.seed(7)
words = ["get", "put", "del", "cas", "list", "begin", "commit", "abort", "use", "run", "begin",
         "end", "list", "show", "children", "delete", "event", "append", "read", "range",
         "streams", "verify", "state", "set", "trace", "record", "query", "tree", "stats", "info",
         "dump", "help", "shared", "-", ".", "0", "1", "18446744073709551616", "--limit", "--ttl",
         "--after", "--tag", "--parent", "--kind", "--json", "root", "decision", "completed",
         "01a21538-0000-7000-8000-000000000001", "'", '"', "\\", ";", "#", "\\x41", '"\\x4', "x" * 70,
         "history", "fork", "replay", "diff", "checkpoint", "backup", "--as-of", "--at-a", "--before",
         "@1", "-5m"]  # (never "wait": it may wait for ever)
with open(sys.argv[1], "w") as f:
    for _ in range(300):
        n = random.randint(0, 7)
        f.write(" ".join(random.choice(words) for _ in range(n)) + "\n")
EOF
crashed=0
while IFS= read -r line; do
    "$INMEM" junk -c "$line" >/dev/null 2>&1
    rc=$?
    if [ $rc -gt 1 ]; then
        crashed=$((crashed + 1))
        echo "     status $rc for: $line"
    fi
done <"$TMP/junk"
[ $crashed -eq 0 ] && ok "300 random command lines: no crash" || bad "300 random command lines: no crash" "$crashed crashed"

echo "== dump and load"
expect_match "dump to a file" "^dumped [0-9]+ records \(2 runs\) to runs.jsonl$" $D -c 'dump runs.jsonl'
python3 "$HERE/jsonl.py" 'L[0]["record"] == "header" and L[-1] == {"record": "end", "records": len(L) - 2} and {r["record"] for r in L} >= {"header", "kv", "run", "event", "span", "end"}' runs.jsonl >"$TMP/o" && ok "the dump is JSON lines: header, records, end" || bad "the dump is JSON lines: header, records, end" "$(cat "$TMP/o")"
expect "load into a new database" "loaded $(($(wc -l <runs.jsonl) - 2)) records (2 runs)" copy -c 'load runs.jsonl'
run copy -c 'dump copy.jsonl'
python3 "$HERE/dumpdiff.py" runs.jsonl copy.jsonl >"$TMP/o" && ok "dump -> load -> dump: the same database" || bad "dump -> load -> dump: the same database" "$(cat "$TMP/o")"
"$INMEM" $D -c 'dump --canonical' >a.canon 2>&1
"$INMEM" copy -c 'dump --canonical' >b.canon 2>&1
cmp -s a.canon b.canon && [ -s a.canon ] && ok "canonical dumps are byte-for-byte equal" || bad "canonical dumps are byte-for-byte equal" "$(diff a.canon b.canon | head -5)"
"$INMEM" copy -c 'load copy.jsonl' >/dev/null 2>"$TMP/e"
[ $? -eq 1 ] && grep -Eq "error: load: line [0-9]+: (run .* already exists|stream .*already had events)" "$TMP/e" && ok "loading twice is an error" || bad "loading twice is an error" "$(cat "$TMP/e")"
cat runs.jsonl | "$INMEM" piped -c 'load' >/dev/null 2>&1 && "$INMEM" piped -c 'dump' >piped.jsonl && python3 "$HERE/dumpdiff.py" runs.jsonl piped.jsonl >/dev/null && ok "load from standard input" || bad "load from standard input"
expect_match "dump --run" "^dumped [0-9]+ records \(1 run\) to one.jsonl$" $D -c "dump --run $PLANNER one.jsonl"
python3 "$HERE/jsonl.py" 'L[0]["scope"] == "run" and L[0]["run"] == "'"$PLANNER"'" and all(r.get("run") == "'"$PLANNER"'" for r in L[1:-1])' one.jsonl >"$TMP/o" && ok "a run's dump holds only that run" || bad "a run's dump holds only that run" "$(cat "$TMP/o")"
expect "a run moves to another database" "loaded $(($(wc -l <one.jsonl) - 2)) records (1 run)" other -c 'load one.jsonl'
expect_match "... with its data" "^tools  3 events" other -c "event streams $PLANNER"
run statedump -c 'run begin'
CELLRUN=$out
run statedump -c "state set shared queue/1 open; state set shared queue/2 done; state set $CELLRUN phase plan; dump cells.jsonl"
python3 "$HERE/jsonl.py" 'sum(r["record"] == "state" for r in L) == 3 and any(r["record"] == "state" and r["run"] == "'"$CELLRUN"'" for r in L)' cells.jsonl >"$TMP/o" && ok "state cells are dumped, a run's too" || bad "state cells are dumped, a run's too" "$(cat "$TMP/o")"
run cellcopy -c 'load cells.jsonl'
expect "... and loaded back" $'open  (version 1)\ndone  (version 1)\nplan  (version 1)' cellcopy -c "state get shared queue/1; state get shared queue/2; state get $CELLRUN phase"
run $D -c 'dump --run shared'
python3 "$HERE/jsonl.py" 'all(r.get("run") == "shared" for r in L[1:-1]) and L[0]["scope"] == "run"' <<<"$out" >"$TMP/o" && ok "dump --run shared: the shared scope" || bad "dump --run shared: the shared scope" "$(cat "$TMP/o")"
head -n -1 runs.jsonl >trunc.jsonl
expect_error "a truncated dump is refused" "without its end record" t1 -c 'load trunc.jsonl'
{ head -n 2 runs.jsonl; echo '{"record": "kv", "run": "shared", "key": '; } >badjson.jsonl
expect_error "bad JSON names the line" "line 3: bad JSON" t2 -c 'load badjson.jsonl'
echo '{"record":"kv"}' >nohdr.jsonl
expect_error "a file without the header is refused" "not an inmem dump" t3 -c 'load nohdr.jsonl'
{ head -n 1 runs.jsonl; echo '{"record":"kv","run":"shared","key":"a"}'; echo '{"record":"end","records":1}'; } >nov.jsonl
expect_error "a record without its fields is refused" "line 2: a kv record needs" t4 -c 'load nov.jsonl'
{ head -n 1 runs.jsonl; echo '{"record":"kv","run":"shared","key":"a","value_b64":"!!"}'; echo '{"record":"end","records":1}'; } >badb64.jsonl
expect_error "bad base64 is refused" "line 2" t5 -c 'load badb64.jsonl'
expect_error "load is refused read-only" "read-only" --read-only $D -c 'load runs.jsonl'
# The tool opens with the library's largest sizes, so that it reads, dumps and loads every key
# and value an application may have written under larger limits than the defaults (4 KiB keys,
# 16 MiB values); with the defaults, a 5000-byte key could be listed but not read or dumped.
BIGK=$(printf 'k%.0s' $(seq 5000))
expect "a key longer than the default limit is written and read" $'OK (version 1)\nv  (version 1)' bigkey -c "put shared $BIGK v; get shared $BIGK"
expect_match "... dumped" "^dumped 1 records \(0 runs\) to bigkey.jsonl$" bigkey -c 'dump bigkey.jsonl'
python3 -c 'import base64, json, sys
print(json.dumps({"record": "header", "format": "inmem-dump", "format_version": 1, "scope": "database"}))
print(json.dumps({"record": "kv", "run": "shared", "key": "big", "value_b64": base64.b64encode(b"x" * ((16 << 20) + 1)).decode()}))
print(json.dumps({"record": "end", "records": 1}))' >bigval.jsonl
expect "... and a value longer than the default limit is loaded" "loaded 1 records (0 runs)" bigval -c 'load bigval.jsonl'
n=$("$INMEM" bigval -c 'get shared big --raw' | wc -c)
[ "$n" = $(((16 << 20) + 1)) ] && ok "... whole" || bad "... whole" "$n bytes"

echo "== run ids that hold data but were never begun"
NB=01a21538-0000-7000-8000-00000000abcd
run nb -c "put $NB k v; state set $NB cell c1; event append $NB log t PAYLOAD-ONE; event append $NB log t PAYLOAD-TWO; event append $NB log t PAYLOAD-THREE; trace record $NB thought think"
[ $rc -eq 0 ] && ok "data can be written under a run id never begun" || bad "data can be written under a run id never begun" "$err"
expect "run list says there are run ids it does not list" "(0 runs; and 1 run id holding data that was never begun: run list --all)" nb -c 'run list'
expect "run list --all lists them" "$NB  never begun: data under this id has no run record
(1 run, 1 of them never begun)" nb -c 'run list --all'
expect_json "run list --all --json marks them" 'L == [{"run": "'$NB'", "begun": False}]' nb -c 'run list --all'
expect_error "run list --all with a filter is refused" "does not go with a filter" nb -c 'run list --all --status active'
expect_match "run show of a never-begun run id shows what it holds" "^status    never begun: data under this id has no run record
keys      1
cells     1
streams   log \(3 events\)
spans     1$" nb -c "run show $NB"
expect_match "stats counts them" "^runs                0 \(and 1 run id holding data that was never begun: run list --all\)$" nb -c 'stats'
expect_match "verify covers them" "^data: 0 runs \(and 1 run id holding data that was never begun\) and the shared scope: 1 key, 1 cell, 1 stream \(3 events, chains intact\), 1 span$" nb -c 'verify'
expect_match "dump covers them" "dumped 6 records \(0 runs, and the data of 1 run id never begun\) to nb.jsonl" nb -c 'dump nb.jsonl'
python3 "$HERE/jsonl.py" 'sorted(r["record"] for r in L if r.get("run") == "'$NB'") == ["event", "event", "event", "kv", "span", "state"]' nb.jsonl >"$TMP/o" && ok "... every record of them" || bad "... every record of them" "$(cat "$TMP/o")"
run nbcopy -c 'load nb.jsonl'
expect "... and load brings them back" $'v  (version 1)\nc1  (version 1)' nbcopy -c "get $NB k; state get $NB cell"
expect_match "dump --run of a never-begun run id" "^dumped 6 records \(0 runs, and the data of 1 run id never begun\) to nb1.jsonl$" nb -c "dump --run $NB nb1.jsonl"
python3 "$HERE/wal.py" tamper nb/wal-0000000000000001.log PAYLOAD-TWO PAYLOAD-TWX >/dev/null
expect_fail "a tampered chain under a never-begun run id fails verify" "^error: verify: $NB: stream 'log': hash chain BROKEN at seq 2$" nb -c 'verify'
grep -q "^$NB: stream 'log': hash chain BROKEN at seq 2 (of 3 events)$" <<<"$out" && grep -q "1 stream (3 events, chains checked)" <<<"$out" && ok "... and counts the broken stream's 3 events, '1 stream'" || bad "... and counts the broken stream's 3 events, '1 stream'" "$out"
"$EXAMPLES/quickstart" qs >"$TMP/o" 2>&1 && ok "quickstart runs" || bad "quickstart runs" "$(cat "$TMP/o")"
expect_match "quickstart begins its run: run list shows it" "^$ID  completed  .*  app=quickstart
\(1 run\)$" qs -c 'run list'
"$EXAMPLES/agent_step" step >"$TMP/o" 2>&1 && ok "agent_step runs" || bad "agent_step runs" "$(cat "$TMP/o")"
expect_match "agent_step begins its run" "^$ID  completed  .*  agent=booker
\(1 run\)$" step -c 'run list'

echo "== dump and load: every byte of every name, TTLs, hash chains, strict records"
run names -c 'run begin --tenant "t\xfe" --agent "a\xff" --tag "g\xff" --tag plain'
NR=$out
run names -c "event append shared \"s\xff\" \"t\xfe\" one; state set $NR \"c\xff\" v; trace record $NR decision \"n\xff\" --tag \"x\xfe\"; put shared \"k\xff\" \"v\xfe\""
[ $rc -eq 0 ] && ok "names that are not UTF-8 can be written" || bad "names that are not UTF-8 can be written" "$err"
expect_match "dump writes them" "^dumped 5 records \(1 run\) to names.jsonl$" names -c 'dump names.jsonl'
python3 "$HERE/jsonl.py" 'all(any(k in r for r in L) for k in ("stream_b64", "type_b64", "name_b64", "tenant_b64", "agent_b64", "tags_b64", "key_b64", "value_b64")) and [r for r in L if r["record"] == "run"][0]["tags_b64"] == ["Z/8=", "cGxhaW4="]' names.jsonl >"$TMP/o" && ok "... in base64, every one (stream, type, cell, span, namespace, tags)" || bad "... in base64, every one (stream, type, cell, span, namespace, tags)" "$(cat "$TMP/o")"
expect "load reads them back" "loaded 5 records (1 run)" names2 -c 'load names.jsonl'
run names2 -c 'dump names2.jsonl'
python3 "$HERE/dumpdiff.py" names.jsonl names2.jsonl >"$TMP/o" && ok "... the same database, byte for byte" || bad "... the same database, byte for byte" "$(cat "$TMP/o")"
expect_json "--json output keeps such names too" 'L[0]["stream_b64"] == "c/8=" and "stream" not in L[0]' names -c 'event streams shared'
run ttl -c 'put shared cache x --ttl 600000; put shared forever y'
expect_match "dump keeps a TTL as an absolute expiry" '"key":"cache","value":"x","expire_at_ms":[0-9]{13},' ttl -c 'dump'
python3 "$HERE/jsonl.py" '"expire_at_ms" not in [r for r in L if r.get("key") == "forever"][0]' <<<"$out" >"$TMP/o" && ok "... and none for a key without one" || bad "... and none for a key without one" "$(cat "$TMP/o")"
"$INMEM" ttl -c 'dump ttl.jsonl' >/dev/null && "$INMEM" ttl2 -c 'load ttl.jsonl' >/dev/null
"$INMEM" ttl2 -c 'dump ttl2.jsonl' >/dev/null
python3 "$HERE/jsonl.py" '[r.get("expire_at_ms", 0) > 0 for r in L if r["record"] == "kv"] == [True, False]' ttl2.jsonl >"$TMP/o" && python3 "$HERE/dumpdiff.py" ttl.jsonl ttl2.jsonl >>"$TMP/o" && ok "load restores the same expiry" || bad "load restores the same expiry" "$(cat "$TMP/o")"
run chain -c 'run begin --agent c'
CR=$out
run chain -c "event append $CR log t PAYLOAD-ONE; event append $CR log t PAYLOAD-TWO; event append $CR log t PAYLOAD-THREE; put shared other 1"
run chain -c 'dump chain-good.jsonl'
python3 "$HERE/wal.py" tamper chain/wal-0000000000000001.log PAYLOAD-TWO PAYLOAD-TWX >/dev/null
expect_fail "event verify reports the tampered stream" "1 of 1 stream broken" chain -c "event verify $CR"
run chain -c 'dump chain.jsonl'
[ $rc -eq 1 ] && grep -q "^warning: $CR: stream 'log': hash chain BROKEN at seq 2: dumped as stored, with its stored hashes (load will refuse it)$" <<<"$err" && grep -q "^error: dump: 1 event stream with a broken hash chain" <<<"$err" && ok "dump of a broken chain warns and exits 1" || bad "dump of a broken chain warns and exits 1" "$rc" "$out" "$err"
python3 "$HERE/jsonl.py" 'L[-1]["record"] == "end" and any(r.get("payload") == "PAYLOAD-TWX" for r in L)' chain.jsonl >"$TMP/o" && ok "... the dump is whole, the tampered event as stored" || bad "... the dump is whole, the tampered event as stored" "$(cat "$TMP/o")"
expect_fail "load refuses the broken chain, naming the line" "^error: load: line [0-9]+: $CR: stream 'log': event 2: hash chain BROKEN: its hash does not match its content" chain2 -c 'load chain.jsonl'
expect_error "... and the stream was not loaded" "no run" chain2 -c "run show $CR"
run chain3 -c 'load --ignore-hashes chain.jsonl; verify'
[ $rc -eq 0 ] && grep -q "verify: OK" <<<"$out" && ok "load --ignore-hashes loads it, with new hashes" || bad "load --ignore-hashes loads it, with new hashes" "$rc" "$out" "$err"
python3 - chain-good.jsonl chain-edit.jsonl <<'PY'
import sys
text = open(sys.argv[1]).read().replace("PAYLOAD-THREE", "PAYLOAD-THREX")
open(sys.argv[2], "w").write(text)
PY
expect_fail "load refuses a dump whose event was edited" "line [0-9]+: $CR: stream 'log': event 3: hash chain BROKEN: its hash does not match its content" chain4 -c 'load chain-edit.jsonl'
python3 - chain-good.jsonl chain-link.jsonl <<'PY'
import json, sys
out = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("record") == "event" and r["seq"] == 2:
        r["prev_hash"] = "0123456789abcdef"
    out.append(json.dumps(r, separators=(",", ":")))
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
expect_fail "... or whose chain link was edited" "event 2: hash chain BROKEN: its prev_hash is not the previous event's hash" chain5 -c 'load chain-link.jsonl'
python3 - chain-good.jsonl chain-order.jsonl <<'PY'
import json, sys
L = [json.loads(line) for line in open(sys.argv[1])]
ev = [i for i, r in enumerate(L) if r["record"] == "event"]
L[ev[0]], L[ev[1]] = L[ev[1]], L[ev[0]]
open(sys.argv[2], "w").write("".join(json.dumps(r) + "\n" for r in L))
PY
expect_fail "... or whose events are out of order" "event 2 does not follow event 0" chain6 -c 'load chain-order.jsonl'
HDR=$(head -n 1 chain-good.jsonl)
strict() { # strict NAME REGEX RECORD: a dump of that one record is refused with REGEX
    printf '%s\n%s\n{"record":"end","records":1}\n' "$HDR" "$3" >strict.jsonl
    expect_fail "$1" "^error: load: line 2: $2" refused -c 'load strict.jsonl'
}
strict "load refuses a name of the wrong JSON type" '"tenant" must be a string, not an integer' '{"record":"run","run":"01a21538-0000-7000-8000-0000000000aa","status":"active","tenant":5}'
strict "... a value given as both value and value_b64" 'a kv record gives both "value" and "value_b64"' '{"record":"kv","run":"shared","key":"k","value":"a","value_b64":"Yg=="}'
strict "... an unknown member" "unknown member 'valeu' in a kv record" '{"record":"kv","run":"shared","key":"k","valeu":"a"}'
strict "... a version that is not a number" '"version" must be an unsigned integer, not a string' '{"record":"kv","run":"shared","key":"k","value":"a","version":"x"}'
strict "... a negative number" '"seq" must be an unsigned integer, not an integer' '{"record":"event","run":"shared","stream":"s","seq":-1,"type":"t","payload":""}'
strict "... a name with a NUL" '"name_b64" holds a NUL byte' '{"record":"state","run":"shared","name_b64":"YQBi","value":"v"}'
strict "... tags that are not strings" '"tags" holds an element that is not a string' '{"record":"run","run":"01a21538-0000-7000-8000-0000000000aa","status":"active","tags":[1]}'
strict "... a bad hash" '"hash" must be 16 hex digits' '{"record":"event","run":"shared","stream":"s","seq":1,"type":"t","payload":"","time_ms":1,"prev_hash":"0000000000000000","hash":"xyz"}'
strict "... a duplicate member" 'bad JSON: duplicate object key' '{"record":"kv","run":"shared","key":"k","key":"j","value":"v"}'
strict "... a span without its times" 'a span record needs "start_ms"' '{"record":"span","run":"shared","span":"01a21538-0000-7000-8000-0000000000ab","kind":"decision","name":"n","duration_us":1}'
run refused -c 'stats'
grep -q '^version             0$' <<<"$out" && ok "... and nothing of a refused dump was written" || bad "... and nothing of a refused dump was written" "$out" "$err"

echo "== read-only beside a live writer, and the lock"
mkfifo "$TMP/fifo"
"$INMEM" live <"$TMP/fifo" >"$TMP/writer.out" 2>"$TMP/writer.err" &
WRITER_PID=$!
exec 3>"$TMP/fifo"
wait_for() { # wait_for FILE TEXT: up to 5 s
    for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
echo 'put shared a 1' >&3
wait_for "$TMP/writer.out" "OK (version 1)" && ok "a writer process holds the database" || bad "a writer process holds the database" "$(cat "$TMP/writer.out" "$TMP/writer.err")"
expect "--read-only opens beside the writer" "1  (version 1)" --read-only live -c 'get shared a'
expect_error "a second writer gets the lock error" "cannot open live for writing: .*locked by another process.*held by process $WRITER_PID" live -c 'put shared z 1'
expect "a read beside the writer needs no --read-only (nothing is locked or changed)" "1  (version 1)" live -c 'get shared a'
expect_json "... and info says another process is writing" 'L[0]["recovery"]["live_writer"] is True and L[0]["writable"] is False' live -c 'info'
echo 'begin; put shared a 2; put shared b 2' >&3
wait_for "$TMP/writer.out" "OK (pending)" || true
expect "read-only does not see an uncommitted transaction" "1  (version 1)" -r live -c 'get shared a'
echo 'commit' >&3
wait_for "$TMP/writer.out" "committed (version 2)" || true
expect "a new read-only open sees the commit" $'2  (version 2)\n2  (version 2)' -r live -c 'get shared a; get shared b'
expect_error "writes are refused read-only" "read-only" -r live -c 'put shared c 3'
expect_match "read-only verify" "verify: OK" -r live -c 'verify'
expect_match "read-only stats" "^commits .*\naborts .* CAS conflicts, 0 errors$" -r live -c 'stats'
exec 3>&-
wait "$WRITER_PID"
rc=$?
WRITER_PID=""
[ $rc -eq 0 ] && ok "the writer ends cleanly" || bad "the writer ends cleanly" "status $rc" "$(cat "$TMP/writer.err")"
expect "and the lock is free again" "2  (version 2)" live -c 'get shared a'

echo "== repair"
run rep -c 'put shared a 1; put shared b 2; put shared c 3'
run rep -c 'put shared d 4'
python3 - rep/wal-0000000000000001.log <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:  # a byte of the first transaction
    f.seek(50)
    b = f.read(1)
    f.seek(50)
    f.write(bytes([b[0] ^ 0xFF]))
EOF
expect_error "a corrupt log: the open fails and names the offset" "corrupt at offset [0-9]+" rep -c 'get shared a'
grep -q "the .repair. command may fix it" <<<"$err" && ok "... and points to repair" || bad "... and points to repair" "$err"
before=$(snap rep)
expect_fail "verify of a corrupt log names the offset and exactly what a repair would drop" "^error: verify: corrupt data: log rep/wal-0000000000000001.log is corrupt at offset [0-9]+" rep -c 'verify'
grep -q "^log: a repair would cut wal-0000000000000001.log at offset [0-9]*, dropping [0-9]* bytes that hold exactly 4 committed transactions" <<<"$out" && ok "... (exactly 4 transactions)" || bad "... (exactly 4 transactions)" "$out"
unchanged "... and changes nothing" rep "$before"
expect_match "repair reports exactly what it dropped" "^recovery: .*
.*REPAIRED: the log was cut at wal-0000000000000001.log offset [0-9]+, dropping [0-9]+ bytes that held exactly 4 committed transactions; nothing was kept: the database is empty \(version 0\)
repaired: cut wal-0000000000000001.log at offset [0-9]+; dropped [0-9]+ bytes that held exactly 4 committed transactions" rep -c 'repair'
grep -q "later segments, if any, were renamed \*.dropped (kept for you to inspect and remove: checkpoints never erase \*.dropped files)$" <<<"$out" && ok "... and that what it set aside is the user's to remove (no checkpoint erases it)" || bad "... and that what it set aside is the user's to remove (no checkpoint erases it)" "$out"
expect_match "after repair the database opens and verifies" "verify: OK" rep -c 'verify'
expect_match "repair of a sound log: nothing to repair" "nothing to repair" rep -c 'repair'
run rep2 -c 'put shared a 1; put shared b 2'
run rep2 -c 'put shared c 3'
python3 - rep2/wal-0000000000000001.log <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(50)
    f.write(b"\xff\xff")
EOF
before=$(snap rep2)
run --read-only --repair rep2 -c 'list shared'
[ $rc -eq 0 ] && grep -q "^warning: rep2: the log is corrupt: showing the intact part (read-only, nothing changed); a repair would cut wal-0000000000000001.log at offset [0-9]*, dropping [0-9]* bytes that hold exactly 3 committed transactions$" <<<"$err" && ok "--read-only --repair: a salvage view, and what a repair would drop" || bad "--read-only --repair: a salvage view, and what a repair would drop" "$rc" "$out" "$err"
unchanged "... which changes nothing" rep2 "$before"
run --repair rep2 -c 'list shared'
[ $rc -eq 0 ] && [ "$out" = "(0 keys)" ] && grep -q "^warning: rep2: REPAIRED a corrupt log: cut wal-0000000000000001.log at offset [0-9]*, dropping [0-9]* bytes that held exactly 3 committed transactions; later segments" <<<"$err" && ok "--repair at open: says on stderr what it dropped" || bad "--repair at open: says on stderr what it dropped" "$rc" "$out" "$err"
expect_error "repair is refused read-only" "read-only" -r rep -c 'repair'
# the checkpoint image lost: the log left starts after it, and never opens as an empty database
run lost -c 'put shared a 1; put shared b 2; put shared c 3; checkpoint'
rm lost/ckpt-0000000000000003.img
expect_error "a lost image: the open fails and names the missing start of the log" "segment wal-0000000000000001.log is missing: the log starts at wal-0000000000000002.log and no checkpoint image holds the commits before it" lost -c 'get shared a'
expect_fail "verify of a lost image says a repair would keep nothing" "^error: verify: .*wal-0000000000000001.log is missing" lost -c 'verify'
grep -q "^log: a repair would cut wal-0000000000000001.log at offset 0, dropping [0-9]* bytes that hold exactly 3 committed transactions, and keep nothing: the database would be empty" <<<"$out" && ok "... (every transaction, nothing kept)" || bad "... (every transaction, nothing kept)" "$out"
expect_match "repair of a lost image says it kept nothing" "REPAIRED: the log was cut at wal-0000000000000001.log offset 0, dropping [0-9]+ bytes that held exactly 3 committed transactions; nothing was kept: the database is empty \(version 0\)" lost -c 'repair'
# an image cut short: its trailer, the only count of its keys, is gone with the cut
run cut -c 'put shared a 1; put shared b 2; checkpoint'
truncate -s 150 cut/ckpt-0000000000000002.img
expect_fail "verify of an image cut short: a repair would lose an unknown number of keys" "^error: verify: .*ckpt-0000000000000002.img is corrupt" cut -c 'verify'
grep -q "^log: a repair would cut ckpt-0000000000000002.img at offset 96, .* and an unknown number of keys of a damaged checkpoint image" <<<"$out" && ok "... (never 0 keys)" || bad "... (never 0 keys)" "$out"
expect_match "repair of an image cut short says the keys lost are unknown" "and lost an unknown number of keys of a damaged checkpoint image that no log covers \(its end, which counts them, is lost\)" cut -c 'repair'

echo "== checkpoint and backup"
run ck -c 'put shared a 1; put shared b 2; del shared a'
expect_match "checkpoint: the version it covers, its image, its size" "^checkpoint at version 3: ckpt-0000000000000003.img \([0-9.]+ K?i?B\), written in [0-9.]+ ms$" ck -c 'checkpoint'
[ -f ck/ckpt-0000000000000003.img ] && ok "... the image is in the directory" || bad "... the image is in the directory" "$(ls ck)"
expect_match "checkpoint again: nothing new" "^checkpoint at version 3: ckpt-0000000000000003.img .*already there: nothing was committed since$" ck -c 'checkpoint'
expect_match "the next open loads the image" "from checkpoint ckpt-0000000000000003.img \(version 3" ck -c 'info'
expect "... and the data is all there" "2  (version 2)" ck -c 'get shared b'
expect_match "stats shows the newest image" "^checkpoint +version 3 \([0-9.]+ K?i?B\)" ck -c 'stats'
expect_json "checkpoint --json" 'L[1]["ok"] and L[1]["version"] == 4 and L[1]["taken"] is True and L[1]["file"] == "ckpt-0000000000000004.img" and L[1]["bytes"] > 0' ck -c 'put shared c 3; checkpoint'
[ ! -f ck/ckpt-0000000000000003.img ] && ok "... and the previous image is gone" || bad "... and the previous image is gone" "$(ls ck)"
expect "checkpoint before the first commit: nothing to checkpoint (no image is named)" "checkpoint: nothing to checkpoint: nothing was committed yet (version 0)" ck0 -c 'checkpoint'
expect_json "... and in JSON no file" 'L[0] == {"ok": True, "version": 0, "taken": False}' ck0 -c 'checkpoint'
[ -z "$(ls ck0 | grep ckpt)" ] && ok "... nor made" || bad "... nor made" "$(ls ck0)"
expect_error "checkpoint with durability none: no files" "checkpoint: nothing to checkpoint: no files \(durability none\)" --durability none -c 'checkpoint'
expect_error "checkpoint is refused read-only" "checkpoint: the database is open read-only" --read-only ck -c 'checkpoint'
expect_error "checkpoint is refused in a transaction" "checkpoint: a transaction is open" ck -c 'begin; checkpoint'
before=$(snap ck)
expect_match "backup DIR: the version, the directory, the image" "^backed up version 4 to ck-backup \(ckpt-0000000000000004.img, [0-9.]+ K?i?B\)$" ck -c 'backup ck-backup'
unchanged "... taken from the read-only view, changing nothing" ck "$before"
"$INMEM" ck -c 'dump --canonical' >ck.canon 2>&1
"$INMEM" ck-backup -c 'dump --canonical' >ck-backup.canon 2>&1
cmp -s ck.canon ck-backup.canon && [ -s ck.canon ] && ok "... which opens to the same database" || bad "... which opens to the same database" "$(diff ck.canon ck-backup.canon | head -5)"
expect_error "backup into a directory that is not empty is refused" "backup: invalid argument: backup directory ck-backup is not empty" ck -c 'backup ck-backup'
expect_json "backup --json" 'L[0]["ok"] and L[0]["version"] == 4 and L[0]["directory"] == "ck-backup2" and L[0]["bytes"] > 0' --read-only ck -c 'backup ck-backup2'
expect_match "backup of a database in memory" "^backed up version 1 to mem-backup " --durability none -c 'put shared m 1; backup mem-backup'
expect "... opens to it" "1  (version 1)" mem-backup -c 'get shared m'

echo "== --json: a directory or file name that is not UTF-8 (the _b64 rule)"
# Paths are bytes: a member that holds one (or a message naming one) is "<field>_b64" when they
# are not UTF-8, as keys and names are, never dropped.
BD=$(printf 'bad\377')
run "$BD" -c 'put shared a 1; put shared b 2; put shared c 3'
expect_json "info: directory_b64" 'L[0]["directory_b64"] == "YmFk/w==" and "directory" not in L[0]' "$BD" -c 'info'
expect_json "backup: directory_b64" 'L[0]["directory_b64"] == "YmFrMv8=" and "directory" not in L[0] and L[0]["version"] == 3' "$BD" -c "backup $(printf 'bak2\377')"
expect_json "dump FILE: file_b64" 'L[0]["file_b64"] == "ZHVtcP8uanNvbmw=" and "file" not in L[0] and L[0]["records"] == 3' "$BD" -c "dump $(printf 'dump\377.jsonl')"
python3 - "$BD" <<'PY'
import os, sys
path = os.path.join(os.fsencode(sys.argv[1]), b"wal-0000000000000001.log")
with open(path, "r+b") as f:  # a byte of the first transaction
    f.seek(50)
    b = f.read(1)
    f.seek(50)
    f.write(bytes([b[0] ^ 0xFF]))
PY
run --json "$BD" -c 'verify'
[ $rc -eq 1 ] && python3 "$HERE/jsonl.py" 'b"bad\xff/wal-" in base64.b64decode(L[0]["log_error_b64"]) and "log_error" not in L[0] and "log_problems" not in L[0] and [base64.b64decode(p)[:10] for p in L[0]["log_problems_b64"]] == [b"corrupt da", b"a repair w"]' <<<"$out" >"$TMP/o" && ok "verify of a corrupt log: log_error_b64, log_problems_b64 (every problem)" || bad "verify of a corrupt log: log_error_b64, log_problems_b64 (every problem)" "status $rc" "$(cat "$TMP/o")" "$err"

echo "== history: --as-of, history, state history"
# (each write its own process: commits in different milliseconds). The first open stores the
# database's policy (version 1); the writes are versions 2 to 7.
for cmd in 'put shared k a' 'put shared k b' 'del shared k' 'put shared k c' 'state set shared phase plan' 'state set shared phase act'; do
    "$INMEM" --history-versions 10 hist -c "$cmd" >/dev/null 2>&1
    sleep 0.01
done
H="--history-versions 10 hist"
expect_match "history: newest first, with version, commit time, value or <deleted>" "^version 5  [0-9T:.-]+Z  c
version 4  [0-9T:.-]+Z  <deleted>
version 3  [0-9T:.-]+Z  b
version 2  [0-9T:.-]+Z  a
\(4 versions\)$" $H -c 'history shared k'
expect_match "history --limit" "^version 5  .*  c
version 4  .*  <deleted>
\(2 versions\)$" $H -c 'history shared k --limit 2'
expect_match "history --before (the next page)" "^version 3  .*  b
\(1 version\)$" $H -c 'history shared k --before 4 --limit 1'
expect_json "history --json" '[e["version"] for e in L] == [5, 4, 3, 2] and L[1]["deleted"] is True and "value" not in L[1] and L[2]["value"] == "b" and all(e["time_ms"] > 1700000000000 for e in L)' $H -c 'history shared k'
expect_error "history of a key that never was" "not found: key 'nope' in shared has no version" $H -c 'history shared nope'
expect "history --limit 0 lists no version, as list --limit 0 lists no key" "(0 versions)" $H -c 'history shared k --limit 0'
expect "... and so does state history --limit 0" "(0 versions)" $H -c 'state history shared phase --limit 0'
expect_error "... but a key that never was is still not found" "not found: key 'nope' in shared has no version" $H -c 'history shared nope --limit 0'
expect_match "state history" "^version 7  .*  act
version 6  .*  plan
\(2 versions\)$" $H -c 'state history shared phase'
expect_match "history keeps what the database keeps: its policy is stored, a session without --history-* keeps it" "^version 5  .*  c
version 4  .*  <deleted>
version 3  .*  b
version 2  .*  a
\(4 versions\)$" hist -c 'history shared k'
run --history-versions 2 hist2 -c 'put shared k 1; put shared k 2; put shared k 3; put shared k 4; put shared k 5; put shared k 6; put shared k 7; put shared k 8; put shared k 9'
expect_match "... and says when older versions were freed" "^version 10  .*  9
version 9  .*  8
\(2 versions; older ones were freed\)$" hist2 -c 'history shared k'
HT="--history-versions 10 histttl"
vt=$("$INMEM" --json $HT -c 'put shared brief x --ttl 400ms' | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
sleep 0.5
expect_json "ttl --as-of: the time left counts from that point, not from now" 'L[0]["ttl_ms"] is not None and 300 <= L[0]["ttl_ms"] <= 400' $HT -c "ttl shared brief --as-of $vt"
expect_match "... for people too" "^expires [0-9T:.-]+Z \(in 0\.[34][0-9]*s from then\)$" $HT -c "ttl shared brief --as-of $vt"
expect "get --as-of VERSION" "b  (version 3)" $H -c 'get shared k --as-of 3'
expect_error "get --as-of a version where the key was deleted: not found" "not found: key 'k'" $H -c 'get shared k --as-of 4'
expect "list --as-of" $'k = b  (version 3)\n(1 key)' $H -c 'list shared --as-of 3'
expect "state get --as-of, and --as-of=AT" $'plan  (version 6)\nact  (version 7)' $H -c 'state get shared phase --as-of 6; state get shared phase --as-of=7'
expect_match "history --as-of: the history up to that version" "^version 3  .*  b
version 2  .*  a
\(2 versions\)$" $H -c 'history shared k --as-of 3'
T2=$("$INMEM" --json $H -c 'history shared k' | python3 -c 'import json, sys; print([json.loads(l) for l in sys.stdin][2]["time_ms"])')
T2ISO=$(python3 -c 'import datetime, sys; t = int(sys.argv[1]); print(datetime.datetime.fromtimestamp(t / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t % 1000))' "$T2")
expect "get --as-of @UNIX_MS: the newest commit at or before that time" "b  (version 3)" $H -c "get shared k --as-of @$T2"
expect "get --as-of ISO 8601" "b  (version 3)" $H -c "get shared k --as-of $T2ISO"
expect "get --as-of now" "c  (version 5)" $H -c 'get shared k --as-of now'
expect_error "--as-of a version newer than the newest commit" "get: --as-of '99': version 99 is newer than the newest commit \(7\)" $H -c 'get shared k --as-of 99'
expect_error "--as-of something that is neither a version nor a time" "--as-of must be a version \(a number\) or a time: @UNIX_MS, ISO 8601.* not 'soon'" $H -c 'get shared k --as-of soon'
expect_error "--as-of @ without digits" "--as-of must be a version" $H -c 'get shared k --as-of @x'
for cmd in 'put shared k a' 'put shared k b' 'put shared k c'; do "$INMEM" plain -c "$cmd" >/dev/null 2>&1; done
expect_error "--as-of outside the retained history: the library's error (INMEM_EHISTORY)" "^error: get: --as-of '2': the version or time asked for is outside the retained history: version 2 is older than the retained history" plain -c 'get shared k --as-of 2'
grep -q "^hint: this database keeps no history: open it once with --history-ms or --history-versions" <<<"$err" && ok "... with a hint when the database keeps no history" || bad "... with a hint when the database keeps no history" "$err"
expect_error "--as-of a time before the retained history" "--as-of '@1': the version or time asked for is outside the retained history" $H -c 'get shared k --as-of @1'
expect_error "a read whose key's old versions were freed: EHISTORY, not an older or newer answer" "get 'k': the version or time asked for is outside the retained history" hist2 -c 'get shared k --as-of 3'
expect_error "--as-of in a transaction is refused" "get: --as-of does not go in a transaction" $H -c 'begin; get shared k --as-of 3'
expect_error "--as-of twice" "--as-of is given twice" $H -c 'get shared k --as-of 3 --as-of 4'
expect_error "--as-of without a value" "option --as-of needs a value" $H -c 'get shared k --as-of'
expect_error "--as-of on a write is an unknown option" "put: unknown option '--as-of'" $H -c 'put shared k v --as-of 3'
before=$(snap hist)
expect "begin --as-of: a read-only transaction on the past, for several commands" $'begun as of version 3 (read-only)\nb  (version 3)\nk = b  (version 3)\n(1 key)\ncommitted (read-only)' $H -c 'begin --as-of 3; get shared k; list shared; commit'
unchanged "... which does not open the database for writing" hist "$before"
expect_error "... and cannot write" "put: the transaction reads the past \(begin --as-of\): it cannot write" $H -c 'begin --as-of 3; put shared k x'
expect_json "begin --as-of --json" 'L[0]["as_of"] is True and L[0]["start_version"] == 3' $H -c 'begin --as-of 3; abort'
run $H -c 'dump --as-of 3'
python3 "$HERE/jsonl.py" 'L[0]["db_version"] == 3 and [r["value"] for r in L if r["record"] == "kv"] == ["b"] and not any(r["record"] == "state" for r in L)' <<<"$out" >"$TMP/o" && ok "dump --as-of: the database as it was" || bad "dump --as-of: the database as it was" "$(cat "$TMP/o")" "$err"
expect_match "help of a read command shows --as-of" "^  get RUN KEY \[--raw\] \[--as-of AT\]$" $H -c 'help get'
run --history-versions x hist -c 'stats'
[ $rc -eq 2 ] && grep -q "error: --history-versions must be a number of versions" <<<"$err" && ok "a bad --history-versions exits 2" || bad "a bad --history-versions exits 2" "$rc" "$err"
run --history-ms 5y hist -c 'stats'
[ $rc -eq 2 ] && grep -q "error: --history-ms must be a duration" <<<"$err" && ok "a bad --history-ms exits 2" || bad "a bad --history-ms exits 2" "$rc" "$err"
expect_match "stats: the history kept (the database's policy), its size and how far back it reaches" "^history +keeping 10 versions per key
 +[0-9.]+ K?i?B of old values; --as-of reaches back to version 0$" hist -c 'stats'
expect_match "... which a read-only session cannot change" "^history +keeping 10 versions per key$" --history-ms 1d $H -c 'stats'
expect_match "stats without history" "^history +not kept \(--history-ms, --history-versions set the database's policy\)
 +0 B of old values; --as-of reaches back to version 3$" plain -c 'stats'
run --history-ms 1d --history-versions 3 hpol -c 'put shared a 1'
expect_match "a session that writes sets the policy" "^history +keeping 1d and 3 versions per key$" hpol -c 'stats'
run --history-versions 1 hpol -c 'put shared a 2'
expect_match "... and --history-versions 1 turns it off" "^history +not kept" hpol -c 'stats'
expect_json "stats --json: history_bytes, history_floor, the options" 'L[0]["history_bytes"] > 0 and L[0]["history_floor"] == 0 and L[0]["history_versions"] == 10 and L[0]["history_ms"] == 0 and "checkpoint_time_us" in L[0]' $H -c 'stats'
expect_json "info --json: the same" 'L[0]["history_versions"] == 10 and L[0]["history_floor"] == 0 and L[0]["history_bytes"] > 0' $H -c 'info'
expect_match "info: the history kept" "^history     keeping 10 versions per key; --as-of reaches back to version 0$" $H -c 'info'
run $H -c 'checkpoint'
expect_match "a checkpoint keeps the history" "^version 2  .*  a$" hist -c 'history shared k'
run $H -c 'backup hist-backup'
expect_match "... and so does a backup, its policy with it" "^version 2  .*  a$" hist-backup -c 'history shared k'
man_hist=$(sed -n '/^\.BI \\-\\-history\\-ms/,/^\.TP/p' "$ROOT/tools/inmem.1" | tr '\n' ' ')
grep -q "The policy is the database's, stored in it" <<<"$man_hist" && ! grep -Eq "not stored|drops it" <<<"$man_hist" && ok "... as the man page says (--history-ms: the policy is stored in the database)" || bad "... as the man page says (--history-ms: the policy is stored in the database)" "$man_hist"
run --durability none -c 'help checkpoint; help backup'
[ "$(tr '\n' ' ' <<<"$out" | grep -o "the history the database keeps" | wc -l)" = 2 ] && ! grep -q "session keeps" <<<"$out" && ok "... and help checkpoint, help backup" || bad "... and help checkpoint, help backup" "$out"

echo "== runs with history: fork, replay, diff"
D=forks
run $D -c 'run begin --agent planner --history-versions 20'
P=$out
run $D -c "put $P goal fly; state set $P phase plan; event append $P tools call '{\"q\":1}'; trace record $P decision choose; put $P goal drive; del $P goal; put $P lease x --ttl 1h"
[ $rc -eq 0 ] && ok "a run begun with --history-versions" || bad "a run begun with --history-versions" "$err"
expect_match "... keeps its history without any session option (the policy is stored with the run)" "^version 7  .*  <deleted>
version 6  .*  drive
version 2  .*  fly
\(3 versions\)$" $D -c "history $P goal"
expect_error "run begin --history-ms takes a duration" "--history-ms must be a duration" $D -c 'run begin --history-ms soon'
expect_match "run replay: every committed transaction of the run, in order" "^version 1  [0-9T:.-]+Z  \(1 write\)
  run    \(the run's metadata record, [0-9]+ bytes\)
version 2  .*  \(1 write\)
  kv     goal = fly
version 3  .*  \(1 write\)
  state  phase = plan
version 4  .*  \(1 write\)
  event  tools  #1  [0-9T:.-]+Z  call  \{\"q\":1\}
version 5  .*  \(1 write\)
  trace  $ID  \(a span record, [0-9]+ bytes\)
version 6  .*  \(1 write\)
  kv     goal = drive
version 7  .*  \(1 write\)
  kv     goal  <deleted>
version 8  .*  \(1 write\)
  kv     lease = x  \(expires [0-9T:.-]+Z\)
\(8 transactions\)$" $D -c "run replay $P"
expect_match "run replay AFTER_VERSION --limit" "^version 6  .*
  kv     goal = drive
\(1 transaction\)$" $D -c "run replay $P 5 --limit 1"
expect_match "run replay --as-of: up to that version" "^version 7 .*
  kv     goal  <deleted>
\(1 transaction\)$" $D -c "run replay $P 6 --as-of 7"
expect_json "run replay --json" '[t["version"] for t in L] == [2, 3, 4, 7] and L[0]["changes"] == [{"primitive": "kv", "key": "goal", "deleted": False, "value": "fly"}] and L[1]["changes"][0]["name"] == "phase" and L[2]["changes"][0]["stream"] == "tools" and L[2]["changes"][0]["seq"] == 1 and L[2]["changes"][0]["payload"] == "{\"q\":1}" and L[3]["changes"][0]["deleted"] is True' $D -c "run replay $P 1 --limit 3; run replay $P 6 --limit 1"
expect_error "run replay of an unknown run" "run replay: no run 01a21538-0000-7000-8000-0000000000ee" $D -c 'run replay 01a21538-0000-7000-8000-0000000000ee'
expect_error "run replay after a version newer than the newest commit" "run replay: AFTER_VERSION 99 is newer than the newest commit \(8\)" $D -c "run replay $P 99"
expect_error "run replay where the history was not kept: the library's error" "run replay: the version or time asked for is outside the retained history" plain -c 'run replay shared'
run $D -c "run fork $P 3 --agent forked"
F=$out
grep -Eq "$ID_RE\$" <<<"$F" && ok "run fork RUN AT prints the fork's id" || bad "run fork RUN AT prints the fork's id" "$out" "$err"
expect "... whose data is the parent's as of AT" $'fly  (version 2)\nplan  (version 3)' $D -c "get $F goal; state get $F phase"
expect_error "... (not what the parent wrote later)" "not found" $D -c "get $F lease"
expect_match "... whose parent is RUN" "^parent    $P$" $D -c "run show $F"
expect "... and which diverges" $'OK (version 10)\nchanged  (version 10)' $D -c "put $F goal changed; get $F goal"
expect_error "... without touching the parent" "not found: key 'goal'" $D -c "get $P goal"
expect_match "run diff A B" "^kv     added    goal  \(b: version 10\)
kv     removed  lease  \(a: version 8\)
event  removed  tools  \(a: version 4\)
trace  removed  $ID  \(a: version 5\)
\(4 differences\)$" $D -c "run diff $P $F"
expect_match "run diff RUN --at-a: one run at two versions" "^kv     changed  goal  \(a: version 2, b: version 6\)
event  added    tools  \(b: version 4\)
trace  added    $ID  \(b: version 5\)
\(3 differences\)$" $D -c "run diff $P --at-a 3 --at-b 6"
expect "run diff of a run with itself" "(0 differences)" $D -c "run diff $P"
expect_json "run diff --json" 'L[0] == {"primitive": "kv", "kind": "changed", "key": "goal", "version_a": 2, "version_b": 6} and L[1]["primitive"] == "event" and L[1]["stream"] == "tools" and L[1]["first_seq"] == 1 and len(L[2]["span"]) == 36' $D -c "run diff $P --at-a 3 --at-b 6"
expect_error "run diff at a version newer than the newest" "run diff: --at-a '99': version 99 is newer than the newest commit \(10\)" $D -c "run diff $P --at-a 99"
expect_error "run diff of an unknown run" "run diff: no run 01a21538-0000-7000-8000-0000000000ee" $D -c "run diff $P 01a21538-0000-7000-8000-0000000000ee"
expect_error "run diff where the history was not kept: the library's error" "run diff: --at-a '1': the version or time asked for is outside the retained history" plain -c 'run diff shared --at-a 1'
expect_error "run fork at a version newer than the newest" "run fork: version 99 is newer than the newest commit \(10\)" $D -c "run fork $P 99"
expect_error "run fork of an unknown run" "run fork: no run 01a21538-0000-7000-8000-0000000000ee" $D -c 'run fork 01a21538-0000-7000-8000-0000000000ee'
expect_error "run fork of the shared scope" "run fork: needs a run, not the shared scope" $D -c 'run fork shared'
run nohist -c 'run begin'
NH=$out
run nohist -c "put $NH a 1; put $NH a 2"
expect_error "run fork where the history was not kept: the library's error" "run fork: the version or time asked for is outside the retained history" nohist -c "run fork $NH 2"
expect_error "a run with live forks cannot be deleted" "run delete: .*live fork" $D -c "run delete $P"
expect_match "run fork in a transaction is pending" "^begun at version 10
$ID \(pending\)
committed \(version 11\)$" $D -c "begin; run fork $P; commit"
expect_json "run fork --json, at a time" 'len(L[0]["run"]) == 36' $D -c "run fork $P now"

echo "== wait"
run hist -c 'wait shared nothing --timeout 200ms'
[ $rc -eq 3 ] && [ -z "$out" ] && grep -q "^error: wait: timed out after 200ms: key 'nothing' in shared did not move past version 7$" <<<"$err" && ok "wait: a timeout is an error, exit status 3" || bad "wait: a timeout is an error, exit status 3" "status $rc" "$err"
run hist -c 'state wait shared nothing --timeout 0; get shared k'
[ $rc -eq 3 ] && [ -z "$out" ] && ok "... which ends a script" || bad "... which ends a script" "status $rc" "$out"
expect "wait --after a version the key moved past: at once, its value" "c  (version 5)" hist -c 'wait shared k --after 4 --timeout 0'
expect "state wait --after" "act  (version 7)" hist -c 'state wait shared phase --after 0'
expect_json "wait --json" 'L[0] == {"run": "shared", "key": "k", "version": 5, "deleted": False, "value": "c"}' hist -c 'wait shared k --after 0'
expect "wait wakes on a commit of this process: the TTL sweeper's delete" $'OK (version 1)\n<deleted>  (version 2)' --durability none -c 'put shared lease x --ttl 100ms; wait shared lease --timeout 10s'
expect_error "wait in a transaction is refused" "wait: a transaction is open" hist -c 'begin; wait shared k'
expect_error "wait --timeout takes a duration" "--timeout must be a duration" hist -c 'wait shared k --timeout soon'
expect_error "event wait: a bad stream name" "STREAM must not be empty" hist -c "event wait shared ''"
mkfifo "$TMP/wfifo"
"$INMEM" waited <"$TMP/wfifo" >"$TMP/wwriter.out" 2>"$TMP/wwriter.err" &
WRITER_PID=$!
exec 4>"$TMP/wfifo"
echo 'put shared a 1; event append shared inbox m one; state set shared task open' >&4
wait_for "$TMP/wwriter.out" "OK (version 3)" || true
"$INMEM" waited -c 'wait shared a --timeout 20s' >"$TMP/w1.out" 2>"$TMP/w1.err" &
W1=$!
"$INMEM" waited -c 'event wait shared inbox --timeout 20s' >"$TMP/w2.out" 2>"$TMP/w2.err" &
W2=$!
"$INMEM" --json waited -c 'state wait shared task --timeout 20s' >"$TMP/w3.out" 2>"$TMP/w3.err" &
W3=$!
sleep 0.5
echo 'put shared a 2' >&4
echo 'event append shared inbox m two' >&4
echo 'state set shared task done' >&4
wait $W1; r1=$?
wait $W2; r2=$?
wait $W3; r3=$?
[ $r1 -eq 0 ] && [ "$(cat "$TMP/w1.out")" = "2  (version 4)" ] && ok "wait sees another process's commit (the read-only view is opened again)" || bad "wait sees another process's commit (the read-only view is opened again)" "status $r1" "$(cat "$TMP/w1.out" "$TMP/w1.err")"
[ $r2 -eq 0 ] && grep -q "^#2  [0-9T:.-]*Z  m  two$" "$TMP/w2.out" && ! grep -q "one" "$TMP/w2.out" && ok "event wait prints the events appended meanwhile" || bad "event wait prints the events appended meanwhile" "status $r2" "$(cat "$TMP/w2.out" "$TMP/w2.err")"
[ $r3 -eq 0 ] && python3 "$HERE/jsonl.py" 'L[0]["name"] == "task" and L[0]["value"] == "done" and L[0]["version"] == 6' "$TMP/w3.out" >"$TMP/o" && ok "state wait --json" || bad "state wait --json" "status $r3" "$(cat "$TMP/w3.out" "$TMP/w3.err" "$TMP/o")"
exec 4>&-
wait "$WRITER_PID"
WRITER_PID=""

echo "== progress bars"
run --progress $D -c 'dump p.jsonl'
grep -q "dump" <<<"$err" && grep -q "100%" <<<"$err" && ok "--progress draws a bar on stderr" || bad "--progress draws a bar on stderr" "$err"
run $D -c 'dump p.jsonl; verify'
[ -z "$err" ] && ok "no bar when stderr is not a terminal" || bad "no bar when stderr is not a terminal" "$err"
run --progress copy2 -c 'load p.jsonl; verify'
grep -q "load" <<<"$err" && grep -q "verify" <<<"$err" && ok "load and verify show progress too" || bad "load and verify show progress too" "$err"

echo "== the interactive shell (pseudo-terminal)"
python3 "$HERE/shell.py" "$INMEM" "$TMP/shell" "$TMP/shellhome" >"$TMP/o" 2>&1
sh_rc=$?
while IFS= read -r line; do
    case "$line" in
    "ok   "*) ok "${line#ok   }" ;;
    "FAIL "*) bad "${line#FAIL }" ;;
    *) echo "     $line" ;;
    esac
done <"$TMP/o"
[ $sh_rc -eq 0 ] || [ "$failed" -gt 0 ] || bad "shell.py" "status $sh_rc"

echo "== the multi-agent demo"
"$AGENTS" demo --agents 4 --tasks 40 >"$TMP/o" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "exactly-once check: OK: 40 tasks in 1 batch" "$TMP/o" && ok "the demo runs; exactly-once check passes" || bad "the demo runs; exactly-once check passes" "$(cat "$TMP/o")"
grep -Eq "^  agent-1 +[0-9]+ tasks? +run $ID" "$TMP/o" && grep -q "^conflicts: " "$TMP/o" && grep -q "^runs: 5 created now" "$TMP/o" && ok "the demo reports tasks per agent, conflicts, runs" || bad "the demo reports tasks per agent, conflicts, runs" "$(cat "$TMP/o")"
"$AGENTS" demo --agents 3 --tasks 25 >"$TMP/o" 2>&1
[ $? -eq 0 ] && grep -q "^batch 1: 25 new tasks" "$TMP/o" && grep -q "exactly-once check: OK: 65 tasks in 2 batches" "$TMP/o" && grep -Eq "^recovery: 1 segment.*transactions replayed" "$TMP/o" && ok "a second run continues: a new batch" || bad "a second run continues: a new batch" "$(cat "$TMP/o")"
expect_match "the CLI reads the demo's runs" "app=agents-demo  agent=coordinator" demo -c 'run list --agent coordinator'
expect_match "the CLI verifies the demo's database" "verify: OK" demo -c 'verify'
run demo -c 'state get shared queue/done'
grep -q '^65  (version' <<<"$out" && ok "the queue's counter counts each task once" || bad "the queue's counter counts each task once" "$out" "$err"
# (in a subshell whose stderr is /dev/null, so that bash's "Killed" notice stays quiet)
{ "$AGENTS" killed --tasks 400 --delay-ms 4 >"$TMP/k1" 2>&1 & echo $! >"$TMP/kpid"; wait; } 2>/dev/null &
wrapper=$!
for _ in $(seq 100); do grep -q "^batch 0" "$TMP/k1" 2>/dev/null && break; sleep 0.02; done
sleep 0.3
kill -9 "$(cat "$TMP/kpid")" 2>/dev/null
wait $wrapper
"$AGENTS" killed >"$TMP/k2" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "exactly-once check: OK: 400 tasks in 1 batch" "$TMP/k2"; then
    if grep -q "^recovered: .* marked failed" "$TMP/k2" && grep -q "^resuming: " "$TMP/k2"; then
        ok "after SIGKILL the demo recovers, resumes the batch, and every task is done once"
    else
        ok "after SIGKILL the demo recovers (the first run had finished before the kill)"
    fi
else
    bad "after SIGKILL the demo recovers" "$(cat "$TMP/k1" "$TMP/k2")"
fi
expect_match "the killed run's runs are marked failed" "failed .*agent=coordinator" killed -c 'run list --agent coordinator --status failed'

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
