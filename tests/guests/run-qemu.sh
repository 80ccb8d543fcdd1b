#!/bin/sh
# run-qemu.sh: the plain-QEMU suite of the test guests (make test-guests-qemu).
#
# Runs guests that need no hypervisor under plain QEMU (-kernel, TCG), checks
# each run against its guests/<name>[.<variant>].expect with expect.py, and
# records one test case per check (tools/record.sh guests-qemu/<run> P F).
# The console output of each run is kept in $BUILD/guests/<run>.qemu.out: the
# scenario runner compares Labyrinth's output of the same guest with it.
set -u
BUILD=${BUILD:-build}
G=$BUILD/guests
HERE=$(dirname "$0")

# qemu_run ELF ARGS CPU SECONDS OUT [SMP [INITRD]]: QEMU's exit status.
# SeaBIOS's serial console (sercon) is turned off, so OUT holds only what the
# guest printed. 64 MiB and SMP (default 1) processors: what the scenario VM
# compared with the run has (fw_cfg reports both). INITRD: Multiboot modules,
# "FILE ARGS,FILE..." as -initrd takes them.
qemu_run() {
	timeout "$4" qemu-system-x86_64 -accel tcg -machine q35 -cpu "$3" -m 64M -smp "${6:-1}" \
		-nographic -nodefaults -serial stdio -no-reboot \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-fw_cfg name=etc/sercon-port,string=0 \
		-kernel "$1" -append "$2" ${7:+-initrd "$7"} >"$5" 2>"$5.err" </dev/null
}

# How the guest ended: QEMU exits with (value << 1) | 1 for a write of value
# to isa-debug-exit, 0 after a shutdown or triple fault (-no-reboot), and
# timeout(1) with 124.
result_of() {
	case $1 in
	0 | 124) echo stopped ;;
	*) if [ $(($1 % 2)) -eq 1 ]; then echo "exit $((($1 - 1) / 2))"; else echo "qemu status $1"; fi ;;
	esac
}

# run_case RUN CPU SECONDS [SMP [INITRD]]: RUN is <name> or <name>.<variant>.
run_case() {
	run=$1 name=${1%%.*}
	expect=guests/$run.expect
	out=$G/$run.qemu.out
	args=$(sed -n 's/^args //p' "$expect")
	qemu_run "$G/$name.elf" "$args" "$2" "$3" "$out" "${4:-1}" "${5:-}"
	result=$(result_of $?)
	python3 "$HERE/expect.py" "$expect" "$out" "$result" >"$G/$run.qemu.check"
	grep '^FAIL' "$G/$run.qemu.check" | sed "s|^|  $run: |"
	set -- $(sed -n 's/^counts //p' "$G/$run.qemu.check")
	record "$run" "${1:-0}" "${2:-1}"
}

# record RUN PASSED FAILED: one line for the suite's table and the summary.
record() {
	tools/record.sh "guests-qemu/$1" "$2" "$3"
	echo "$([ "$3" -eq 0 ] && echo ok || echo FAIL)   guests-qemu/$1: $2 passed, $3 failed"
}

# A hypercall under plain QEMU is an invalid opcode: the guest must report
# it as a failed check, then print its done line and exit with value 1.
check_trap_report() {
	out=$G/alloc.trap-report.qemu.out
	qemu_run "$G/alloc.elf" "" qemu64 30 "$out"
	result=$(result_of $?)
	p=0 f=0
	for ok in "$(grep -c '^not ok trap: #UD (vector 6) at rip 0x' "$out")" \
		"$(grep -cx 'done alloc: 0 passed, 1 failed' "$out")" \
		"$([ "$result" = "exit 1" ] && echo 1)"; do
		if [ "$ok" = 1 ]; then p=$((p + 1)); else f=$((f + 1)); fi
	done
	if [ $f -ne 0 ]; then
		echo "  alloc.trap-report: want the #UD report, a done line, exit 1; got $result:"
		sed 's/^/    /' "$out"
	fi
	record alloc.trap-report $p $f
}

# Runs whose outcome is the same under plain QEMU as under Labyrinth.
run_case hello qemu64 30
run_case memtouch qemu64 60
run_case intruder.nested-svm qemu64 30
run_case intruder.nested-vmx qemu64 30
run_case intruder.cpuid qemu64,-svm 30
run_case intruder.triple-fault qemu64 30
run_case spinner qemu64 3
run_case mbinfo qemu64 30 1 "$G/mbinfo-a.mod alpha beta=1,$G/mbinfo-b.mod"
run_case pc qemu64 30 2
run_case insn.strio qemu64 30
check_trap_report
