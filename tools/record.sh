#!/bin/sh
# record.sh SUITE PASSED FAILED [NOTE]: add one suite's counts to the results file.
set -eu
mkdir -p "${BUILD:-build}"
echo "$1 $2 $3 ${4:-}" >> "${BUILD:-build}/results.txt"
