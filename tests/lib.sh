# Shell helpers for the emulator suites: one check = one recorded test case.
# Source it, set SUITE, then call check_* functions; each records its result
# with tools/record.sh and prints "ok"/"FAIL" with the reason.

B=${BUILD:-build}

pass() { echo "ok   $SUITE/$1"; tools/record.sh "$SUITE/$1" 1 0; }
fail() { echo "FAIL $SUITE/$1: $2"; tools/record.sh "$SUITE/$1" 0 1; }

# check_line NAME LOG REGEX: the log has a line matching the extended regex.
check_line() {
	if grep -Eq -- "$3" "$2"; then pass "$1"; else fail "$1" "no line matching /$3/ in $2"; fi
}

# check_no_line NAME LOG REGEX: no line of the log matches.
check_no_line() {
	local hit
	hit=$(grep -E -m1 -- "$3" "$2")
	if [ -z "$hit" ]; then pass "$1"; else fail "$1" "unexpected line: $hit"; fi
}

# check_status NAME GOT WANT
check_status() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "exit status $2, expected $3"; fi
}
