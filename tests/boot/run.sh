#!/usr/bin/env bash
# The boot suite: the real labyrinth.efi booted in QEMU/OVMF and Bochs/OVMF.
# Every check is one recorded test case (see tests/lib.sh).
set -u
cd "$(dirname "$0")/../.."
SUITE=boot
. tests/lib.sh
efi=$B/labyrinth.efi
out=$B/test-boot
mkdir -p "$out"

# boot_qemu NAME CFG-TEXT QEMU-OPTIONS...: boot once; sets $log and $rc.
# EFI (environment) names another labyrinth.efi than the suite's.
boot_qemu() {
	local name=$1 cfg=$2; shift 2
	printf '%s\n' "$cfg" > "$out/$name.cfg"
	tools/mkesp.sh "$out/$name.img" "${EFI:-$efi}" "$out/$name.cfg"
	log=$out/$name.log
	tools/qemu.sh "$out/$name.img" -q -t 240 -l "$log" "$@"
	rc=$?
	rm -f "$out/$name.img"
}

# The frames the map describes must all be accounted to exactly one owner.
check_accounting() {
	local name=$1 sum total fw
	sum=$(sed -n 's/^pdb: accounted \([0-9]*\) of \([0-9]*\) managed frames.*/\1/p' "$log")
	total=$(sed -n 's/^pdb: accounted \([0-9]*\) of \([0-9]*\) managed frames.*/\2/p' "$log")
	fw=$(sed -n 's/^pdb: firmware map describes \([0-9]*\) frames.*/\1/p' "$log")
	if [ -n "$sum" ] && [ "$sum" = "$total" ] && [ "$total" = "$fw" ]; then
		pass "$name"
	else
		fail "$name" "owners sum '$sum', managed '$total', firmware map '$fw'"
	fi
}

boot_qemu svm-1g "" -m 1G
check_status qemu-1g-exit-0 "$rc" 0
check_line qemu-1g-banner "$log" '^Labyrinth [^ ]+: x86_64 microhypervisor'
check_line qemu-1g-backend-svm "$log" '^hv: backend SVM\+NPT$'
check_line qemu-1g-exit-boot-services "$log" '^arch: own GDT/TSS, IDT and page tables'
check_accounting qemu-1g-accounting
check_line qemu-1g-zones "$log" '^palloc: zone DMA32 '
check_line qemu-1g-selftest "$log" '^palloc: self-test passed'
check_line qemu-1g-mem-protect-selftest "$log" '^mem_protect: selftest \(npt\) ok: '
check_line qemu-1g-acpi-rsdp "$log" '^boot: ACPI 2\.0\+ RSDP at 0x[0-9a-f]+$'
check_line qemu-1g-madt-cpus "$log" '^acpi: MADT lists 1 CPUs, 1 enabled, local APIC at 0xfee00000$'
check_line qemu-1g-percpu "$log" '^arch: per-CPU state of CPU 0 at 0x[0-9a-f]+ \(GS base\)$'
check_line qemu-1g-mp-services "$log" '^boot: EFI MP services list 1 CPUs, 1 enabled, BSP APIC ID 0$'
check_line qemu-1g-smp-1-of-1 "$log" '^smp: 1 of 1 CPUs online \(MADT, xAPIC; 0 of 0 APs took a kick\)$'

# Four processors: each AP started, kicked, its backend on, and the
# accounting unchanged (the APs' frames are the hypervisor's).
boot_qemu smp4 "" -m 512M -n 4
check_status qemu-smp4-exit-0 "$rc" 0
check_line qemu-smp4-madt "$log" '^acpi: MADT lists 4 CPUs, 4 enabled'
check_line qemu-smp4-online "$log" '^smp: 4 of 4 CPUs online \(MADT, xAPIC; 3 of 3 APs took a kick\)$'
for n in 1 2 3; do
	check_line "qemu-smp4-cpu$n-online" "$log" "^smp: CPU $n \\(APIC ID $n\\) online\$"
	check_line "qemu-smp4-cpu$n-ready" "$log" "^hv: CPU $n ready\$"
done
check_no_line qemu-smp4-no-dead "$log" 'did not answer|took no kick|did not finish'
check_accounting qemu-smp4-accounting

# A listed processor that never answers (the dead-AP test build: APIC ID 7
# after QEMU's two): logged, left out, the others go on.
if [ -n "${DEADAP_EFI:-}" ]; then
	EFI=$DEADAP_EFI boot_qemu deadap "" -m 512M -n 2
	check_status qemu-deadap-exit-0 "$rc" 0
	check_line qemu-deadap-left-out "$log" '^smp: CPU 2 \(APIC ID 7\) did not answer: left out$'
	check_line qemu-deadap-2-of-3 "$log" '^smp: 2 of 3 CPUs online'
	check_line qemu-deadap-cpu1-ready "$log" '^hv: CPU 1 ready$'
	check_accounting qemu-deadap-accounting
else
	fail qemu-deadap "DEADAP_EFI not set (run through make test-boot)"
fi

boot_qemu svm-512m "" -m 512M
check_status qemu-512m-exit-0 "$rc" 0
check_accounting qemu-512m-accounting

boot_qemu svm-4g "" -m 4G
check_status qemu-4g-exit-0 "$rc" 0
check_accounting qemu-4g-accounting
check_line qemu-4g-normal-zone "$log" '^palloc: zone NORMAL +[1-9]'

boot_qemu nonpt "" -m 512M -c qemu64
check_status qemu64-no-backend-status-3 "$rc" 3
check_line qemu64-no-backend-names-npt "$log" '^hv: no virtualization backend: SVM without nested paging'

boot_qemu nosvm "" -m 512M -c qemu64,-svm
check_status qemu64-nosvm-status-3 "$rc" 3
check_line qemu64-nosvm-names-svm "$log" '^hv: no virtualization backend: CPUID: no SVM'

boot_qemu crash-ud "crash=ud" -m 512M
check_status exception-ud-status "$rc" 70
check_line exception-ud-report "$log" '^EXCEPTION: vector 6 \(#UD\) error 0x0 at RIP 0x[0-9a-f]+'
check_line exception-ud-registers "$log" '^  rax [0-9a-f]{16} rbx'

boot_qemu crash-pf "crash=pf" -m 512M
check_status exception-pf-status "$rc" 78
check_line exception-pf-report "$log" '^EXCEPTION: vector 14 \(#PF\) error 0x[0-9a-f]+ at RIP 0x[0-9a-f]+ CR2 0x7f0000000000'

# Bochs: Intel VMX with EPT, from the same binary.
printf '\n' > "$out/vmx.cfg"
tools/mkesp.sh "$out/vmx.img" "$efi" "$out/vmx.cfg"
tools/mkiso.sh "$out/vmx.iso" "$out/vmx.img"
log=$out/vmx.log
tools/bochs.sh "$out/vmx.iso" -q -t 400 -l "$log"
rc=$?
rm -f "$out/vmx.img" "$out/vmx.iso"
check_status bochs-exit-0 "$rc" 0
check_line bochs-backend-vmx "$log" '^hv: backend VMX\+EPT'
check_line bochs-feature-control "$log" '^cpu: IA32_FEATURE_CONTROL'
check_line bochs-mem-protect-selftest "$log" '^mem_protect: selftest \(ept\) ok: '
# OVMF under Bochs installs no ACPI tables (they come from QEMU's fw_cfg):
# the boot log must say so rather than pass on a bogus pointer.
check_line bochs-madt-cpus "$log" '^acpi: no CPU list from the MADT \(no RSDP\)'
check_line bochs-acpi-rsdp "$log" '^boot: (ACPI (2\.0\+|1\.0) RSDP at 0x[0-9a-f]+|no ACPI RSDP in the UEFI configuration table)'
check_accounting bochs-accounting
check_line bochs-mp-services "$log" '^boot: EFI MP services list 1 CPUs, 1 enabled'

# Two processors under Bochs: the CPU list from the firmware's MP services
# (no MADT), VMXON on the AP too.
tools/mkesp.sh "$out/vmx2.img" "$efi" "$out/vmx.cfg"
tools/mkiso.sh "$out/vmx2.iso" "$out/vmx2.img"
log=$out/vmx2.log
tools/bochs.sh "$out/vmx2.iso" -q -n 2 -t 400 -l "$log"
rc=$?
rm -f "$out/vmx2.img" "$out/vmx2.iso"
check_status bochs-smp2-exit-0 "$rc" 0
check_line bochs-smp2-mp-services "$log" '^boot: EFI MP services list 2 CPUs, 2 enabled, BSP APIC ID 0'
check_line bochs-smp2-online "$log" '^smp: 2 of 2 CPUs online \(EFI MP services, x2APIC; 1 of 1 APs took a kick\)'
check_line bochs-smp2-vmxon-cpu1 "$log" '^vmx: VMXON on CPU 1 '
check_line bochs-smp2-cpu1-ready "$log" '^hv: CPU 1 ready'
check_accounting bochs-smp2-accounting
exit 0
