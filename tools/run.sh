#!/bin/sh
# run.sh BACKEND MEM: boot build/ in the emulator that offers BACKEND.
#   svm: QEMU/OVMF (TCG, AMD SVM+NPT);  vmx: Bochs/OVMF (Intel VMX+EPT)
#   CPUS (environment, default 1): the machine's processors
set -eu
backend=$1 mem=$2 cpus=${CPUS:-1}
b=${BUILD:-build}
megs() { # 1G -> 1024, 512M -> 512
	case $1 in
	*G|*g) echo $(( ${1%?} * 1024 )) ;; *M|*m) echo "${1%?}" ;; *) echo "$1" ;;
	esac
}
case $backend in
svm) exec tools/qemu.sh "$b/esp.img" -m "$mem" -n "$cpus" -l "$b/qemu-serial.log" ;;
vmx) exec tools/bochs.sh "$b/labyrinth.iso" -m "$(megs "$mem")" -n "$cpus" ;;
*) echo "run.sh: BACKEND must be svm (QEMU) or vmx (Bochs), not '$backend'" >&2; exit 2 ;;
esac
