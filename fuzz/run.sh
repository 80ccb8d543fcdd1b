#!/bin/sh
# fuzz/run.sh SECONDS MODE TARGET...: run each libFuzzer target of
# $(BUILD)/fuzz/bin for SECONDS, from the committed seeds
# (tests/fuzz/corpus/T, never written) and its working corpus
# ($(BUILD)/fuzz/corpus/T, where new inputs go). Prints per target the
# executions, the rate and the crashes, then the total. MODE "record" also
# records one case per target with tools/record.sh (passed: 0 crashes).
# Exit status: non-zero if any target crashed (its input is named: the
# "Test unit written to" line of $(BUILD)/fuzz/T.log).
set -u
secs=$1 mode=$2
shift 2
out=${BUILD:-build}/fuzz
total=0 bad=0 t0=$(date +%s)
for t in "$@"; do
	case $t in
	loader) maxlen=20000 ;;
	*) maxlen=4096 ;;
	esac
	work=$out/corpus/$t art=$out/artifacts/$t/ log=$out/$t.log
	mkdir -p "$work" "$art"
	UBSAN_OPTIONS=print_stacktrace=1 "$out/bin/$t" -max_total_time="$secs" \
		-max_len=$maxlen -timeout=10 -print_final_stats=1 -artifact_prefix="$art" \
		"$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	n=${n:-0}
	total=$((total + n))
	if [ $rc -eq 0 ] && [ "$n" -gt 0 ]; then
		echo "ok   fuzz/$t: $n executions in ${secs} s ($((n / secs))/s), 0 crashes"
		[ "$mode" = record ] && tools/record.sh "fuzz/$t" 1 0 "$n executions, 0 crashes"
	else
		bad=$((bad + 1))
		echo "FAIL fuzz/$t: exit $rc after $n executions. Log: $log"
		grep -E 'ERROR|FUZZ CHECK|PANIC|runtime error|Test unit written' "$log" | head -n 8
		[ "$mode" = record ] && tools/record.sh "fuzz/$t" 0 1 "crash or no run: $log"
	fi
done
echo "fuzz: $total executions in total over $# targets, $(($(date +%s) - t0)) s, $bad crashed"
[ $bad -eq 0 ]
