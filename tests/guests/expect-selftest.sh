#!/bin/sh
# expect-selftest.sh: expect.py must accept good console outputs and reject
# each kind of bad one. Prints the failures; records guests-qemu/expect-selftest.
set -u
BUILD=${BUILD:-build}
HERE=$(dirname "$0")
T=$BUILD/guests/expect-selftest
mkdir -p "$T"
p=0 f=0

cat >"$T/ok.expect" <<'X'
# two checks, exit 0
exit 0
line Hello
ok a
ok b
X
cat >"$T/attempt.expect" <<'X'
exit stopped
ok a
attempt read
X

# case NAME EXPECT RESULT WANT(pass|fail) OUTPUT-LINES...
case_() {
	name=$1 exp=$2 result=$3 want=$4
	shift 4
	printf '%s\n' "$@" >"$T/$name.out"
	if python3 "$HERE/expect.py" "$T/$exp.expect" "$T/$name.out" "$result" >"$T/$name.log"; then
		got=pass
	else
		got=fail
	fi
	if [ "$got" = "$want" ]; then
		p=$((p + 1))
	else
		f=$((f + 1))
		echo "  expect-selftest: $name: expect.py said $got, want $want"
		sed 's/^/    /' "$T/$name.log"
	fi
}

case_ good ok "exit 0" pass "Hello" "ok a" "ok b" "done t: 2 passed, 0 failed"
case_ missing-ok ok "exit 0" fail "Hello" "ok a" "done t: 1 passed, 0 failed"
case_ missing-line ok "exit 0" fail "ok a" "ok b" "done t: 2 passed, 0 failed"
case_ not-ok ok "exit 0" fail "Hello" "ok a" "ok b" "not ok c: x" "done t: 2 passed, 1 failed"
case_ bad-count ok "exit 0" fail "Hello" "ok a" "ok b" "done t: 3 passed, 0 failed"
case_ repeated ok "exit 0" fail "Hello" "ok a" "ok b" "ok a" "done t: 3 passed, 0 failed"
case_ unlisted ok "exit 0" fail "Hello" "ok a" "ok b" "ok c" "done t: 3 passed, 0 failed"
case_ no-done ok "exit 0" fail "Hello" "ok a" "ok b"
case_ done-not-last ok "exit 0" fail "Hello" "ok a" "done t: 2 passed, 0 failed" "ok b"
case_ wrong-exit ok "exit 1" fail "Hello" "ok a" "ok b" "done t: 2 passed, 0 failed"
case_ stopped-not-exit ok "stopped" fail "Hello" "ok a" "ok b" "done t: 2 passed, 0 failed"
case_ space-label ok "exit 0" fail "Hello" "ok a" "ok b" "ok c " "done t: 3 passed, 0 failed"
case_ attempt attempt "stopped" pass "ok a" "attempt read at 0x4000000"
case_ attempt-no-gpa attempt "stopped" pass "ok a" "attempt read"
case_ attempt-not-last attempt "stopped" fail "ok a" "attempt read at 0x40" "oops"
case_ attempt-exited attempt "exit 1" fail "ok a" "attempt read at 0x40"
case_ attempt-done attempt "stopped" fail "ok a" "attempt read at 0x40" "done t: 1 passed, 0 failed"

tools/record.sh guests-qemu/expect-selftest $p $f
echo "$([ $f -eq 0 ] && echo ok || echo FAIL)   guests-qemu/expect-selftest: $p passed, $f failed"
