#!/bin/sh
# fuzz/run.sh SECONDS MODE TARGET...: run each libFuzzer target of
# $(BUILD)/fuzz/bin from the committed seeds (tests/fuzz/corpus/T, never
# written) and its working corpus ($(BUILD)/fuzz/corpus/T, where new inputs
# go), for SECONDS, or, with FUZZ_EXECS=N, for N executions (SECONDS then
# only bounds a hang). FUZZ_JOBS targets run at once (default: all of them;
# 1: one after the other). Prints per target the executions, the time, the
# rate and the crashes, then the total and the wall time. MODE "record"
# also records one case per target with tools/record.sh (passed: 0
# crashes, and at least FUZZ_EXECS executions when that is set) and keeps
# the count in $(BUILD)/fuzz/T.execs for the total.
#
# fuzz/run.sh total MIN TARGET...: the case fuzz/total, passed when the
# targets' recorded counts (T.execs, from "record" runs of this make test,
# in either lane) add up to at least MIN (issue 12 asks 3 million per CI
# run); a target with no count fails it.
#
# Exit status: non-zero if any target crashed (its input is named: the
# "Test unit written to" line of $(BUILD)/fuzz/T.log) or a count is short.
set -u
out=${BUILD:-build}/fuzz

if [ "$1" = total ]; then
	min=$2 total=0 missing=""
	shift 2
	for t in "$@"; do
		n=$(cat "$out/$t.execs" 2>/dev/null) || { missing="$missing $t"; continue; }
		total=$((total + n))
	done
	if [ -z "$missing" ] && [ "$total" -ge "$min" ]; then
		echo "ok   fuzz/total: $total >= $min executions over $#" \
			"targets, 0 crashes"
		tools/record.sh fuzz/total 1 0 "$total executions >= $min"
		exit 0
	fi
	echo "FAIL fuzz/total: $total executions (at least $min wanted)${missing:+; no count from:$missing}"
	tools/record.sh fuzz/total 0 1 "$total executions < $min${missing:+; no count from:$missing}"
	exit 1
fi

secs=$1 mode=$2
shift 2
jobs=${FUZZ_JOBS:-$#}
execs=${FUZZ_EXECS:-0}
total=0 bad=0 t0=$(date +%s)

# One target in the background: its exit status goes to $out/T.rc, its
# seconds to $out/T.secs.
start() {
	case $1 in
	loader) maxlen=20000 ;;
	*) maxlen=4096 ;;
	esac
	work=$out/corpus/$1 art=$out/artifacts/$1/
	mkdir -p "$work" "$art"
	rm -f "$out/$1.rc" "$out/$1.execs"
	runs=""
	[ "$execs" -gt 0 ] && runs=-runs=$execs
	(
		s0=$(date +%s)
		UBSAN_OPTIONS=print_stacktrace=1 "$out/bin/$1" -max_total_time="$secs" $runs \
			-max_len=$maxlen -timeout=10 -print_final_stats=1 -artifact_prefix="$art" \
			"$work" "tests/fuzz/corpus/$1" >"$out/$1.log" 2>&1
		echo $? >"$out/$1.rc"
		echo $(($(date +%s) - s0)) >"$out/$1.secs"
	) &
}

report() {
	log=$out/$1.log
	rc=$(cat "$out/$1.rc" 2>/dev/null || echo 255)
	s=$(cat "$out/$1.secs" 2>/dev/null || echo 0)
	[ "$s" -gt 0 ] || s=1
	n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	n=${n:-0}
	total=$((total + n))
	if [ "$rc" -eq 0 ] && [ "$n" -gt 0 ] && [ "$n" -ge "$execs" ]; then
		echo "ok   fuzz/$1: $n executions in $s s ($((n / s))/s), 0 crashes"
		[ "$mode" = record ] && echo "$n" >"$out/$1.execs" &&
			tools/record.sh "fuzz/$1" 1 0 "$n executions, 0 crashes"
	elif [ "$rc" -eq 0 ] && [ "$n" -gt 0 ]; then
		bad=$((bad + 1))
		echo "FAIL fuzz/$1: $n executions in $s s, fewer than $execs (the time" \
			"limit, $secs s, came first), 0 crashes. Log: $log"
		[ "$mode" = record ] && tools/record.sh "fuzz/$1" 0 1 "$n < $execs executions: $log"
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
echo "fuzz: $total executions over $# targets, $wall s, $bad failed" \
	"(FUZZ_JOBS=$jobs; $cpu s CPU, $((total / cpu)) per CPU second;" \
	"load: $(cut -d' ' -f1-3 /proc/loadavg))"
[ $bad -eq 0 ]
