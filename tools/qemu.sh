#!/usr/bin/env bash
# qemu.sh ESP.img [options]: boot labyrinth.efi under QEMU/OVMF (TCG), the
# serial log echoed and captured; exits with the hypervisor's status
# (from its "labyrinth: exit status N" line), 124 on timeout, 125 if it
# ended without a status.
#   -m MEM       guest RAM (default 1G)
#   -c CPU       QEMU CPU model (default qemu64,+svm,+npt)
#   -n CPUS      processors (QEMU -smp; default 1)
#   -t SECONDS   time limit (default 300)
#   -l LOG       serial log file (default build/qemu-serial.log)
#   -q           do not echo the serial log
#   -x "ARGS"    extra QEMU arguments
#   -s           single-threaded TCG (-accel tcg,thread=single), as does
#                QEMU_TCG_THREAD=single in the environment; default: QEMU's
#                multi-threaded TCG, one host thread per CPU
set -u
esp=$1; shift
mem=1G cpu="qemu64,+svm,+npt" limit=300 log=${BUILD:-build}/qemu-serial.log echo=1 extra="" cpus=1
thread=${QEMU_TCG_THREAD:-multi}
while getopts "m:c:n:t:l:qx:s" o; do
	case $o in
	m) mem=$OPTARG ;; c) cpu=$OPTARG ;; n) cpus=$OPTARG ;; t) limit=$OPTARG ;; l) log=$OPTARG ;;
	q) echo=0 ;; x) extra=$OPTARG ;; s) thread=single ;; *) exit 2 ;;
	esac
done
accel="-machine q35,accel=tcg"
[ "$thread" = single ] && accel="-machine q35 -accel tcg,thread=single"
code=/usr/share/OVMF/OVMF_CODE.fd
vars=$(mktemp --suffix=.fd)
trap 'rm -f "$vars"' EXIT
cp /usr/share/OVMF/OVMF_VARS.fd "$vars"
mkdir -p "$(dirname "$log")"
: > "$log"
: > "$log.times"
: > "$log.running"
start=$EPOCHREALTIME
tools=$(dirname "$0")
# Every serial line goes to LOG, and to LOG.times with the seconds since QEMU
# started (tools/boot-times.sh reads them), and to stdout unless -q.
stamp_lines() {
	if [ $echo = 1 ]; then
		"$tools/stamp-lines" "$start" "$log.times" "$log" --echo
	else
		"$tools/stamp-lines" "$start" "$log.times" "$log"
	fi
}
# shellcheck disable=SC2086
timeout --foreground -k 5 "$limit" qemu-system-x86_64 \
	$accel -cpu "$cpu" -m "$mem" -smp "$cpus" \
	-nodefaults -display none -no-reboot -net none \
	-drive if=pflash,format=raw,unit=0,readonly=on,file=$code \
	-drive if=pflash,format=raw,unit=1,file="$vars" \
	-drive format=raw,file="$esp" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-serial stdio -serial file:"$log.running" $extra </dev/null | stamp_lines
rc=${PIPESTATUS[0]}
end=$EPOCHREALTIME
echo "qemu: $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}') s, exit code $rc" >> "$log.meta"
status=$(sed -n 's/^labyrinth: exit status \([0-9]*\).*/\1/p' "$log" | tail -n 1)
if [ -n "$status" ]; then exit "$status"; fi
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then echo "qemu.sh: time limit of ${limit}s reached" >&2; exit 124; fi
echo "qemu.sh: ended without an exit status (QEMU exit code $rc)" >&2
exit 125
