#!/usr/bin/env bash
# bochs.sh ISO [options]: boot labyrinth.efi under Bochs/OVMF (Intel VMX+EPT),
# the serial log echoed and captured; exits with the hypervisor's status
# (from its "labyrinth: exit status N" line), 124 on timeout, 125 if it
# ended without a status.
#   -m MEGS      guest RAM in MiB (default 512)
#   -n CPUS      processors (Bochs cpu: count; default 1)
#   -t SECONDS   time limit (default 600)
#   -l LOG       serial log file (default build/bochs-serial.log)
#   -q           do not echo the serial log
set -u
iso=$1; shift
megs=512 limit=600 log=${BUILD:-build}/bochs-serial.log echo=1 cpus=1
while getopts "m:n:t:l:q" o; do
	case $o in
	m) megs=$OPTARG ;; n) cpus=$OPTARG ;; t) limit=$OPTARG ;; l) log=$OPTARG ;; q) echo=0 ;; *) exit 2 ;;
	esac
done
mkdir -p "$(dirname "$log")"
dir=$(mktemp -d)
trap 'rm -rf "$dir"; pkill -P $$ tail 2>/dev/null' EXIT
: > "$log"
: > "$log.running"
cat > "$dir/bochsrc" <<CFG
megs: $megs
romimage: file=/usr/share/ovmf/OVMF.fd
vgaromimage: file=/usr/share/vgabios/vgabios.bin
cpu: model=corei7_skylake_x, count=$cpus, ignore_bad_msrs=1
ata0-master: type=cdrom, path="$(realpath "$iso")", status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev="$(realpath "$log")"
com2: enabled=1, mode=file, dev="$(realpath "$log").running"
display_library: rfb, options="timeout=0"
clock: sync=none, time0=1
magic_break: enabled=1
port_e9_hack: enabled=0
sound: driver=dummy
speaker: enabled=0
log: $dir/bochs.fifo
panic: action=fatal
error: action=report
info: action=ignore
debug: action=ignore
CFG
printf 'continue\nquit\n' > "$dir/cmds"
# Bochs' own log goes through a filter: a guest looping on a data breakpoint
# (the #DB delivery-loop regression guest) makes Bochs log one line per hit,
# tens of MB per second; those lines are counted, not kept.
mkfifo "$dir/bochs.fifo"
awk '/breakpoint hit - report debug trap/ { n++; next } { print; fflush() }
	END { if (n) printf "(bochs.sh: %d data-breakpoint lines left out)\n", n }' \
	< "$dir/bochs.fifo" > "$dir/bochs.log" &
filterpid=$!
start=$EPOCHREALTIME
# LOG.times: every serial line with the seconds since Bochs started
# (tools/boot-times.sh); echoed to stdout unless -q.
stamp_lines() {
	if [ $echo = 1 ]; then
		"$(dirname "$0")/stamp-lines" "$start" "$log.times" --echo
	else
		"$(dirname "$0")/stamp-lines" "$start" "$log.times"
	fi
}
: > "$log.times"
tail -n +1 -f "$log" | stamp_lines &
tailpid=$!
timeout -k 5 "$limit" bochs -q -f "$dir/bochsrc" -rc "$dir/cmds" </dev/null >"$dir/stdout" 2>&1
rc=$?
end=$EPOCHREALTIME
# The filter ends when Bochs closes the log; if Bochs never opened it, stop it.
for _ in $(seq 25); do kill -0 "$filterpid" 2>/dev/null || break; sleep 0.2; done
kill "$filterpid" 2>/dev/null
wait "$filterpid" 2>/dev/null
# Let the stamper catch up with the last lines (bounded: 10 s).
for _ in $(seq 50); do
	[ "$(wc -l < "$log.times")" -ge "$(wc -l < "$log")" ] && break
	sleep 0.2
done
echo "bochs: $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}') s, exit code $rc" >> "$log.meta"
cp "$dir/bochs.log" "$log.bochs" 2>/dev/null
status=$(tr -d '\r' < "$log" | sed -n 's/^labyrinth: exit status \([0-9]*\).*/\1/p' | tail -n 1)
if [ -n "$status" ]; then exit "$status"; fi
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then echo "bochs.sh: time limit of ${limit}s reached" >&2; exit 124; fi
echo "bochs.sh: ended without an exit status (bochs exit code $rc); see $log.bochs" >&2
tail -n 5 "$dir/stdout" >&2
exit 125
