#!/bin/sh
# run-cmocka.sh SUITE BINARY: run one cmocka test binary, log it, record its counts.
# A binary that dies before its summary (crash, sanitizer abort) counts as failed.
set -u
suite=$1 bin=$2
name=$(basename "$bin")
logdir=${BUILD:-build}/test-logs/$suite
mkdir -p "$logdir"
log=$logdir/$name.log
"$bin" > "$log" 2>&1
rc=$?
passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
passed=${passed:-0} failed=${failed:-0}
if [ $rc -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if [ "$failed" -ne 0 ]; then
	echo "FAIL $suite/$name ($passed passed, $failed failed; exit $rc). Log: $log"
	grep -E '^\[  (FAILED|ERROR) |ERROR|Sanitizer|runtime error' "$log" | head -n 20
else
	echo "ok   $suite/$name: $passed passed"
fi
tools/record.sh "$suite/$name" "$passed" "$failed"
