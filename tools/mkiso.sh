#!/bin/sh
# mkiso.sh OUT.iso ESP.img: an El Torito CD whose EFI boot image is the ESP
# (how Bochs, which has no AHCI for OVMF's liking, boots labyrinth.efi).
set -eu
out=$1 esp=$2
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cp "$esp" "$d/esp.img"
xorriso -as mkisofs -quiet -V LABYRINTH -e esp.img -no-emul-boot -o "$out" "$d" 2>/dev/null
