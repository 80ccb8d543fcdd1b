#!/bin/sh
# summary.sh RESULTS: print the per-suite table and the one closing line
# "N passed, N failed"; exit non-zero when anything failed or nothing ran.
set -u
f=$1
if [ ! -s "$f" ]; then echo "no suite recorded any result"; echo "0 passed, 1 failed"; exit 1; fi
echo "---- summary ----"
awk '{ printf "  %-40s %5d passed %5d failed\n", $1, $2, $3; p += $2; q += $3 }
     END { printf "%d passed, %d failed\n", p, q; exit (q > 0 || p == 0) }' "$f"
