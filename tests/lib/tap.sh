# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# tap.sh - TAP lines for the shell test suites (http, daemon, system): one "ok"/"not ok" line
# per behaviour, diagnostics as "#" lines. Sourced, not run.

# (failed is the caller's exit status)
# shellcheck disable=SC2034
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
# shellcheck disable=SC2034
not_ok() {
	n=$((n + 1))
	failed=1
	echo "not ok $n - $1"
	shift
	local l
	# diagnostics: printable text only, at most 30 lines of 2000 characters per value
	for l in "$@"; do
		LC_ALL=C tr -c '[:print:]\n' '?' <<<"$l" | head -n 30 | cut -c1-2000 | sed 's/^/#   /'
	done
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# check NAME EXPECTED ACTUAL
check() { if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2" "got:      $3"; fi; }
# check_match NAME REGEX ACTUAL
check_match() { if [[ "$3" =~ $2 ]]; then ok "$1"; else not_ok "$1" "expected match: $2" "got: $3"; fi; }
check_nomatch() { if [[ "$3" =~ $2 ]]; then not_ok "$1" "unexpected match: $2" "got: $3"; else ok "$1"; fi; }
# check_lt NAME LIMIT VALUE (integers)
check_lt() { if [ "$3" -lt "$2" ]; then ok "$1 ($3 < $2)"; else not_ok "$1" "expected < $2" "got: $3"; fi; }
