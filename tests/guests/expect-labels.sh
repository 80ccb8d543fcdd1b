#!/bin/sh
# expect-labels.sh: every label an expect file requires must be a string
# literal in its guest's source (catches typos in the expect files of guests
# that only run under Labyrinth). Records guests-qemu/expect-labels.
set -u
p=0 f=0
for e in guests/*.expect; do
	base=${e#guests/}
	src=guests/${base%%.*}.c
	[ -f "$src" ] || src=guests/${base%%.*}.asm
	for label in $(sed -n 's/^ok //p' "$e"); do
		if grep -qF "\"$label\"" "$src"; then
			p=$((p + 1))
		else
			f=$((f + 1))
			echo "  expect-labels: $e: no \"$label\" in $src"
		fi
	done
done
tools/record.sh guests-qemu/expect-labels $p $f
echo "$([ $f -eq 0 ] && echo ok || echo FAIL)   guests-qemu/expect-labels: $p passed, $f failed"
