#!/bin/sh
# boot-times.sh LOG: from a launcher's LOG.times, the seconds from the
# emulator's start to the banner, to the first guest entry, and to the end.
set -eu
t=$1.times
at() { grep -m1 -E "^[0-9.]+ $1" "$t" | cut -d' ' -f1; }
banner=$(at 'Labyrinth ')
guest=$(at 'scenario: entering the first guest')
end=$(at "labyrinth: exit status")
[ -n "$end" ] || end=$(tail -n 1 "$t" | cut -d" " -f1) # the last stamped line
echo "start_to_banner_s=${banner:-?} start_to_first_guest_s=${guest:-?} start_to_end_s=${end:-?}"
