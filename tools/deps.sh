#!/bin/sh
# deps.sh: make sure the Debian packages the build, run and tests need are here.
# As root it installs what is missing with apt-get; otherwise it prints the
# exact command and fails.
set -eu
PKGS="gcc make binutils gnu-efi nasm qemu-system-x86 ovmf mtools dosfstools xorriso
bochs bochsbios vgabios libcmocka-dev valgrind python3 clang clang-format cppcheck
librsvg2-bin"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: missing Debian packages:$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: run as root:  apt-get update && apt-get install -y$missing"
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends $missing >/dev/null
echo "deps: installed$missing"
