#!/usr/bin/env bash
# hv-bench.sh svm|vmx OUT.json: boot the bench scenario and write the figures.
#   svm: QEMU/OVMF with -icount shift=0,sleep=off (deterministic guest time)
#   vmx: Bochs/OVMF with clock: sync=none (deterministic TSC)
# Keys: hypercall_ticks demand_fault_ticks alloc_free_ticks donate_ticks
# (medians, guest TSC ticks, from the bench guest) and boot_to_guest_ms
# (host wall clock from the emulator's start to the line logged just before
# the first VM entry; under QEMU from a second boot without -icount, which
# slows the firmware down some 15-fold).
set -u
backend=$1 out=$2
B=${BUILD:-build}
w=$B/bench/hv-$backend
mkdir -p "$w"
tools/mkesp.sh "$w/esp.img" "$B/labyrinth.efi" tests/bench/hv.cfg "$B"/guests/receiver.elf "$B"/guests/bench.elf
if [ "$backend" = svm ]; then
	tools/qemu.sh "$w/esp.img" -q -t 300 -m 512M -l "$w/serial.log" -x "-icount shift=0,sleep=off"
else
	tools/mkiso.sh "$w/boot.iso" "$w/esp.img"
	tools/bochs.sh "$w/boot.iso" -q -t 600 -l "$w/serial.log"
fi
rc=$?
times=$w/serial.log.times
if [ "$backend" = svm ]; then
	tools/qemu.sh "$w/esp.img" -q -t 300 -m 512M -l "$w/serial-wallclock.log"
	times=$w/serial-wallclock.log.times
fi
rm -f "$w/esp.img" "$w/boot.iso"
val() { sed -n "s/^bench| bench $1 \([0-9]*\).*/\1/p" "$w/serial.log" | tail -n 1; }
boot=$(sed -n 's/^\([0-9.]*\) scenario: entering the first guest$/\1/p' "$times" | head -n 1)
boot_ms=$(awk -v s="${boot:-0}" 'BEGIN { printf "%d", s * 1000 }')
printf '{"backend": "%s", "hypercall_ticks": %s, "demand_fault_ticks": %s, "alloc_free_ticks": %s, "donate_ticks": %s, "boot_to_guest_ms": %s, "hypervisor_status": %s}\n' \
	"$backend" "$(val hypercall_ticks)" "$(val demand_fault_ticks)" "$(val alloc_free_ticks)" \
	"$(val donate_ticks)" "$boot_ms" "$rc" | sed 's/: ,/: null,/g' > "$out"
echo "hv bench ($backend):"
sed 's/[{}]//g; s/, /\n/g' "$out" | sed 's/^/  /'

# The SMP figures (guests/smpbench.c), 4 CPUs, written to OUT-smp.json.
# Without -icount under QEMU (icount makes TCG single-threaded: the vCPUs
# would take turns, not run at once): TSC ticks of multi-threaded TCG, the
# 4 CPUs sharing the host's cores, so they show the protocol's costs, not
# real hardware's. boot_to_smp_ms: emulator start to "smp: N of M CPUs online".
smp_out=${out%.json}-smp.json
tools/mkesp.sh "$w/esp.img" "$B/labyrinth.efi" tests/bench/smp.cfg "$B"/guests/smpbench.elf
if [ "$backend" = svm ]; then
	tools/qemu.sh "$w/esp.img" -q -t 300 -m 512M -n 4 -l "$w/smp.log"
else
	tools/mkiso.sh "$w/boot.iso" "$w/esp.img"
	tools/bochs.sh "$w/boot.iso" -q -t 900 -n 4 -l "$w/smp.log"
fi
src=$?
rm -f "$w/esp.img" "$w/boot.iso"
sval() { sed -n "s/^smpbench| bench $1 \([0-9]*\).*/\1/p" "$w/smp.log" | tail -n 1; }
smp_s=$(sed -n 's/^\([0-9.]*\) smp: [0-9]* of [0-9]* CPUs online.*/\1/p' "$w/smp.log.times" 2>/dev/null | head -n 1)
smp_ms=$(awk -v s="${smp_s:-0}" 'BEGIN { printf "%d", s * 1000 }')
{
	printf '{"backend": "%s", "cpus": 4' "$backend"
	for k in free_ticks_local free_ticks_remote hypercall_ticks_1vcpu hypercall_ticks_2vcpu \
		hypercall_ticks_4vcpu demand_fault_ticks_1vcpu demand_fault_ticks_2vcpu \
		demand_fault_ticks_4vcpu; do
		printf ', "%s": %s' "$k" "$(sval $k)"
	done
	printf ', "boot_to_smp_ms": %s, "hypervisor_status": %s}\n' "$smp_ms" "$src"
} | sed 's/: ,/: null,/g' > "$smp_out"
echo "hv SMP bench ($backend, 4 CPUs):"
sed 's/[{}]//g; s/, /\n/g' "$smp_out" | sed 's/^/  /'
