#!/bin/sh
# fuzz/run.sh SECONDS MODE TARGET...: run each libFuzzer target of
# $(BUILD)/fuzz/bin for SECONDS, from the committed seeds
# (tests/fuzz/corpus/T, never written) and its working corpus
# ($(BUILD)/fuzz/corpus/T, where new inputs go). FUZZ_JOBS targets run at
# once (default: all of them, so the wall time is about SECONDS; 1: one
# after the other). Prints per target the executions, the rate and the
# crashes, then the total and the wall time. MODE "record" also records one
# case per target with tools/record.sh (passed: 0 crashes) and the case
# fuzz/total (passed: at least FUZZ_MIN_EXECS executions in total, default
# 3000000, issue 12; 0 records no such case).
# Exit status: non-zero if any target crashed (its input is named: the
# "Test unit written to" line of $(BUILD)/fuzz/T.log) or the total is short.
set -u
secs=$1 mode=$2
shift 2
out=${BUILD:-build}/fuzz
jobs=${FUZZ_JOBS:-$#}
min=${FUZZ_MIN_EXECS:-3000000}
total=0 bad=0 t0=$(date +%s)

# One target in the background: its exit status goes to $out/T.rc.
start() {
	case $1 in
	loader) maxlen=20000 ;;
	*) maxlen=4096 ;;
	esac
	work=$out/corpus/$1 art=$out/artifacts/$1/
	mkdir -p "$work" "$art"
	rm -f "$out/$1.rc"
	(
		UBSAN_OPTIONS=print_stacktrace=1 "$out/bin/$1" -max_total_time="$secs" \
			-max_len=$maxlen -timeout=10 -print_final_stats=1 -artifact_prefix="$art" \
			"$work" "tests/fuzz/corpus/$1" >"$out/$1.log" 2>&1
		echo $? >"$out/$1.rc"
	) &
}

report() {
	log=$out/$1.log
	rc=$(cat "$out/$1.rc" 2>/dev/null || echo 255)
	n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	n=${n:-0}
	total=$((total + n))
	if [ "$rc" -eq 0 ] && [ "$n" -gt 0 ]; then
		echo "ok   fuzz/$1: $n executions in ${secs} s ($((n / secs))/s), 0 crashes"
		[ "$mode" = record ] && tools/record.sh "fuzz/$1" 1 0 "$n executions, 0 crashes"
	else
		bad=$((bad + 1))
		echo "FAIL fuzz/$1: exit $rc after $n executions. Log: $log"
		grep -E 'ERROR|FUZZ CHECK|PANIC|runtime error|Test unit written' "$log" | head -n 8
		[ "$mode" = record ] && tools/record.sh "fuzz/$1" 0 1 "crash or no run: $log"
	fi
}

i=0 batch=""
for t in "$@"; do
	start "$t"
	batch="$batch $t" i=$((i + 1))
	if [ $i -ge "$jobs" ]; then
		wait
		for b in $batch; do report "$b"; done
		i=0 batch=""
	fi
done
wait
for b in $batch; do report "$b"; done
wall=$(($(date +%s) - t0))
# The CPU time the targets got (the children's user + system seconds of
# `times`): on a shared machine the count follows it, not the wall time.
times >"$out/times.txt"
cpu=$(awk 'NR == 2 { split($0, f, /[ms ]+/); print int(f[1] * 60 + f[2] + f[3] * 60 + f[4]) }' \
	"$out/times.txt")
[ "${cpu:-0}" -gt 0 ] || cpu=1
echo "fuzz: $total executions in total over $# targets, $wall s, $bad crashed" \
	"(FUZZ_JOBS=$jobs; ${cpu:-0} s CPU, $((total / ${cpu:-1})) per CPU second;" \
	"load: $(cut -d' ' -f1-3 /proc/loadavg))"
short=0
if [ "$mode" = record ] && [ "$min" -gt 0 ]; then
	if [ "$total" -ge "$min" ]; then
		echo "ok   fuzz/total: $total >= $min executions"
		tools/record.sh fuzz/total 1 0 "$total executions >= $min in $wall s, $cpu s CPU"
	else
		short=1
		echo "FAIL fuzz/total: $total < $min executions in $wall s"
		tools/record.sh fuzz/total 0 1 "$total executions < $min in $wall s, $cpu s CPU"
	fi
fi
[ $bad -eq 0 ] && [ $short -eq 0 ]
