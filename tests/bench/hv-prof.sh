#!/usr/bin/env bash
# hv-prof.sh svm|vmx PROF.efi OUT.json: boot the bench scenario under the
# profiling build (LAB_PROF: include/lab/prof.h) on the same emulator settings as
# hv-bench.sh, and break each figure into its phases (tools/bench-summary
# profile). OUT.json and OUT.txt (the table, also printed) are written;
# the normal build's figures are read from hv.json / hv-vmx.json beside
# OUT.json, if there, for the check that the profile adds up.
set -u
backend=$1 efi=$2 out=$3
B=${BUILD:-build}
w=$B/bench/prof-$backend
mkdir -p "$w"
tools/mkesp.sh "$w/esp.img" "$efi" tests/bench/hv-prof.cfg "$B"/guests/receiver.elf "$B"/guests/bench.elf
if [ "$backend" = svm ]; then
	tools/qemu.sh "$w/esp.img" -q -t 300 -m 512M -l "$w/serial.log" -x "-icount shift=0,sleep=off"
	normal=$(dirname "$out")/hv.json
else
	tools/mkiso.sh "$w/boot.iso" "$w/esp.img"
	tools/bochs.sh "$w/boot.iso" -q -t 600 -l "$w/serial.log"
	normal=$(dirname "$out")/hv-vmx.json
fi
rc=$?
rm -f "$w/esp.img" "$w/boot.iso"
tools/bench-summary profile "$backend" "$w/serial.log" "$normal" "$out" "$rc"
