#!/bin/sh
# mkesp.sh OUT.img EFI [CFG [FILE...]]: a FAT EFI system partition image
# holding EFI/BOOT/BOOTX64.EFI, \labyrinth.cfg and the given files under \guests.
set -eu
out=$1 efi=$2 cfg=${3:-}
[ $# -ge 3 ] && shift 3 || shift $#
PATH=$PATH:/sbin:/usr/sbin
rm -f "$out"
mkfs.fat -C -n LABYRINTH "$out" 16384 >/dev/null
mmd -i "$out" ::/EFI ::/EFI/BOOT ::/guests
mcopy -i "$out" "$efi" ::/EFI/BOOT/BOOTX64.EFI
[ -n "$cfg" ] && mcopy -i "$out" "$cfg" ::/labyrinth.cfg
for f in "$@"; do mcopy -i "$out" "$f" ::/guests/; done
