# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# lib.sh - helpers for the end-to-end API tests: TAP lines, one flashd per test group on an
# ephemeral port, JSON-RPC calls with curl, exact-byte image helpers. Sourced, not run.
#
# Needs: FLASHD (the daemon), T (a scratch directory), WWW (the web UI directory).

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy='*'

# ---- TAP ----
# shellcheck source=../lib/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

# ---- the daemon ----
PIDS=()
NAMES=()

# start NAME PROFILE [FLASHD ARGS...]: a fresh daemon on 127.0.0.1:0 unless a --listen is
# given. The chip image is $T/NAME/img (created erased by flashd unless the test made it).
# Sets PORT, PID, U (base URL), S (state dir), IMG.
start() {
	local name=$1 profile=$2 listen=(--listen 127.0.0.1:0) a bin=${FLASHD_BIN:-$FLASHD}
	shift 2
	for a in "$@"; do [ "$a" == --listen ] && listen=(); done
	mkdir -p "$T/$name"
	S=$T/$name/state
	IMG=$T/$name/img
	: >"$T/$name/log"
	"$bin" --sim "$profile" --sim-image "$IMG" --sim-time-scale "${SCALE:-0}" "${listen[@]}" \
		--state-dir "$S" --www-dir "$WWW" "$@" 2>"$T/$name/log" &
	PID=$!
	PIDS+=("$PID")
	NAMES+=("$name")
	PORT=
	for _ in $(seq 400); do
		PORT=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$T/$name/log" | head -n1)
		[ -n "$PORT" ] && break
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.025
	done
	U=http://127.0.0.1:$PORT
	if [ -z "$PORT" ]; then
		not_ok "flashd $name ($profile) started" "$(cat "$T/$name/log")"
		return 1
	fi
	return 0
}

# stop NAME PID [LABEL]: SIGTERM, then one TAP line for a clean exit without sanitizer reports.
stop() {
	local name=$1 pid=$2 rc
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	check "flashd $name${3:+ $3} exits 0 on SIGTERM, no sanitizer or leak report" "rc=0" \
		"rc=$rc$(grep -E -A12 'Sanitizer|runtime error' "$T/$name/log" | head -n 40)"
}

# ---- HTTP and JSON-RPC ----
CT=(-H 'Content-Type: application/json')
# rpc BODY: the raw answer of POST /rpc (empty for 204)
rpc() { curl -s "${CT[@]}" --data-binary "$1" "$U/rpc"; }
# call METHOD [PARAMS-JSON [ID]]: one request; prints the answer
call() {
	local m=$1 p=${2:-} id=${3:-1}
	if [ -n "$p" ]; then
		rpc "{\"jsonrpc\":\"2.0\",\"id\":$id,\"method\":\"$m\",\"params\":$p}"
	else
		rpc "{\"jsonrpc\":\"2.0\",\"id\":$id,\"method\":\"$m\"}"
	fi
}
# jcall FILTER METHOD [PARAMS]: call, then a compact jq view of the answer
jcall() { local f=$1; shift; call "$@" | jq -cS "$f" 2>&1; }
# jr FILTER METHOD [PARAMS]: call, then jq -r (raw strings, e.g. base64 data)
jr() { local f=$1; shift; call "$@" | jq -r "$f" 2>&1; }
# job_state ID: the state of job ID after waiting up to 10 s for it to end
job_end() { jcall '.result.job.state' job.get "{\"id\":$1,\"wait\":10000}" | tr -d '"'; }
# wait_state ID STATE [TRIES]: poll (20 ms) until job ID is in STATE; 0 when it got there
wait_state() {
	local _
	for _ in $(seq "${3:-250}"); do
		[ "$(jcall '.result.job.state' job.get "{\"id\":$1}")" == "\"$2\"" ] && return 0
		sleep 0.02
	done
	return 1
}
# wait_idle: until no job is queued or running (10 s at most)
wait_idle() {
	local _
	for _ in $(seq 500); do
		[ "$(jcall '[.result.jobs[] | select(.state == "queued" or .state == "running")] | length' job.list)" == 0 ] && return 0
		sleep 0.02
	done
	return 1
}

# ---- bytes ----
sha() { sha256sum "$@" | cut -c1-64; }
b64() { base64 -w0 "$@"; }
# fill FILE OFFSET LENGTH BYTE(octal, e.g. 377): overwrite a range of FILE in place
fill() {
	head -c "$3" /dev/zero | tr '\0' "\\$4" |
		dd of="$1" seek="$2" oflag=seek_bytes conv=notrunc status=none
}
# put FILE OFFSET SRC: overwrite FILE at OFFSET with the bytes of SRC
put() { dd if="$3" of="$1" seek="$2" oflag=seek_bytes conv=notrunc status=none; }
# slice FILE OFFSET LENGTH: the bytes of FILE in a range, on stdout
slice() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; }
# ranges_fill FILE JSON-RANGES BYTE: fill every {offset,length} of a ranges array
ranges_fill() {
	local o l
	while read -r o l; do
		[ -n "$o" ] && fill "$1" "$o" "$l" "$3"
	done < <(jq -r '.[] | "\(.offset) \(.length)"' <<<"$2")
}
# random FILE SIZE [SEED]: pseudo-random bytes, the same for a seed when openssl is there
random() {
	if command -v openssl >/dev/null; then
		openssl enc -aes-128-ctr -pass "pass:${3:-flashd}" -nosalt -pbkdf2 </dev/zero 2>/dev/null |
			head -c "$2" >"$1"
	else
		head -c "$2" /dev/urandom >"$1"
	fi
}
