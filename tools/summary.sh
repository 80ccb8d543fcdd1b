#!/bin/sh
# summary.sh RESULTS: print the per-suite table, then every failing case
# again with its note (so the last lines of a CI log name them), then the
# one closing line "N passed, N failed"; exit non-zero when anything failed
# or nothing ran.
set -u
f=$1
if [ ! -s "$f" ]; then echo "no suite recorded any result"; echo "0 passed, 1 failed"; exit 1; fi
echo "---- summary ----"
awk '{ printf "  %-40s %5d passed %5d failed\n", $1, $2, $3 }' "$f"
if awk '$3 > 0 { bad = 1 } END { exit !bad }' "$f"; then
	echo "---- failed ----"
	awk '$3 > 0 { note = ""; for (i = 4; i <= NF; i++) note = note " " $i;
	              printf "  FAILED %s (%d failed)%s\n", $1, $3, note }' "$f"
fi
awk '{ p += $2; q += $3 } END { printf "%d passed, %d failed\n", p, q; exit (q > 0 || p == 0) }' "$f"
