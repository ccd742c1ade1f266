#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test-daemon.sh - the flashd binary's lifecycle, outside systemd: command line, configuration
# checks, sd_notify messages (READY only once listening, STATUS, RELOADING, WATCHDOG,
# STOPPING) on a socket of our own, SIGHUP reloads, SIGTERM in the middle of a write, journal
# prefixes, starting without a chip and losing it mid-job. TAP output.
#
# Usage: test-daemon.sh PATH/TO/flashd
set -u
FLASHD=${1:?usage: test-daemon.sh flashd}
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy='*'
command -v curl >/dev/null || { echo "1..0 # SKIP curl not installed"; exit 77; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 not installed"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/flashd-daemon.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# shellcheck source=../lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rpc() { curl -s -X POST -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$1/rpc"; }
# wait_for FILE REGEX [tries]: until a line of FILE matches
wait_for() {
	for _ in $(seq "${3:-200}"); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}

# A stand-in for systemd's notification socket: records each datagram as one line and, when
# READY=1 arrives, tries the HTTP port at once, so "READY only once listening" is checked
# at the moment it matters.
notify_listener() { # SOCKET OUT PORT
	python3 - "$@" <<'EOF' &
import socket, sys
path, out, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "a", buffering=1) as f:
    while True:
        msg = s.recv(4096).decode(errors="replace")
        for line in msg.split("\n"):
            if not line:
                continue
            if line == "READY=1":
                c = socket.socket()
                try:
                    c.connect(("127.0.0.1", port))
                    line += " listening"
                except OSError:
                    line += " NOT-listening"
                c.close()
            f.write(line + "\n")
EOF
	PIDS+=($!)
	for _ in $(seq 100); do [ -S "$1" ] && return; sleep 0.02; done
}

# ---- command line ----
out=$("$FLASHD" --version)
check_match "--version prints the version" '^flashd [0-9]+\.[0-9]+\.[0-9]+$' "$out"
out=$("$FLASHD" --help)
check_match "--help lists every option" \
	'--config.*--check-config.*--listen.*--sim .*--sim-image.*--sim-time-scale.*--sim-fault.*--spi-device.*--spi-speed.*--state-dir.*--www-dir.*--log-level' \
	"$(tr '\n' ' ' <<<"$out")"
out=$("$FLASHD" --list-sim-chips | awk 'NR > 1 { print $1 }' | tr '\n' ' ')
check "--list-sim-chips lists every profile" \
	"W25Q128JV W25Q256JV MX25L12835F MX25L25645G GD25Q64C SST25VF016B SST26VF064B IS25WP256D MT25QL256 W25Q512JV SFDP-ONLY sfdp " \
	"$out"
out=$("$FLASHD" --bogus 2>&1); rc=$?
check "an unknown option fails with exit 2 and says so" \
	"2 flashd: --bogus: unknown option or missing argument (see --help)" "$rc $out"

# ---- --check-config ----
printf '[sim]\nchip = MX25L12835F\n[http]\nlisten = 127.0.0.1:9\n' >"$T/good.conf"
out=$("$FLASHD" --check-config="$T/good.conf" 2>&1); rc=$?
check "--check-config=FILE accepts a good file" "0 $T/good.conf: OK" "$rc $out"
printf '[sim]\nchip = MX25L12835F\n\n[spi]\nspeed = fast\n' >"$T/bad.conf"
out=$("$FLASHD" --check-config="$T/bad.conf" 2>&1); rc=$?
check "--check-config=FILE names file:line and exits 1" \
	"1 flashd: $T/bad.conf:5: speed: \"fast\" is not a number from 1000 to 125000000" "$rc $out"
out=$("$FLASHD" --config "$T/bad.conf" --sim-image "$T/never.img" 2>&1); rc=$?
check "starting with a bad config exits 2 before touching anything" \
	"2 flashd: $T/bad.conf:5: speed: \"fast\" is not a number from 1000 to 125000000 absent" \
	"$rc $out $([ -e "$T/never.img" ] && echo created || echo absent)"
out=$("$FLASHD" --spi-device "$T/nodev" --check-config 2>&1); rc=$?
check "a missing SPI device fails the check with a hint" \
	"1 flashd: command line: SPI device \"$T/nodev\": No such file or directory (enable SPI with dtparam=spi=on, or use --sim)" \
	"$rc $out"
out=$("$FLASHD" --sim W25Q128JV --spi-device /dev/null --check-config 2>&1); rc=$?
check "--sim and --spi-device together are refused" \
	"1 flashd: --sim and --spi-device choose different backends: give one of them" "$rc $out"
out=$("$FLASHD" --sim W25Q128JV --sim-jedec-id ef4018 --check-config 2>&1); rc=$?
check "--sim-jedec-id without --sim sfdp is refused" \
	"1 flashd: command line: an SFDP dump and JEDEC ID (--sim-sfdp, --sim-jedec-id) are only used with --sim sfdp, not with \"W25Q128JV\"" \
	"$rc $out"
printf 'x' >"$T/short.img"
out=$("$FLASHD" --sim W25Q128JV --sim-image "$T/short.img" --listen 127.0.0.1:0 --state-dir "$T/st0" 2>&1); rc=$?
check_match "a wrong-size image is refused, not replaced" '^1 .*short\.img.*1 bytes.*16777216' "$rc $(tr '\n' ' ' <<<"$out")"
check "the wrong-size image is left as it was" "x" "$(cat "$T/short.img")"

# ---- notify: READY once listening, STATUS, WATCHDOG, RELOADING, STOPPING ----
P=$(free_port)
notify_listener "$T/notify.sock" "$T/notify.log" "$P"
printf '[sim]\nchip = W25Q128JV\nimage = %s\ntime-scale = 0.1\n[http]\nlisten = 127.0.0.1:%s\n[storage]\nstate-dir = %s\n' \
	"$T/a.img" "$P" "$T/state-a" >"$T/a.conf"
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000 "$FLASHD" --config "$T/a.conf" \
	--www-dir "$T" 2>"$T/a.log" &
A=$!
PIDS+=($A)
export WATCHDOG_PID=
wait_for "$T/notify.log" '^READY=1' || true
check "READY=1 is sent once the HTTP port accepts connections" "READY=1 listening" \
	"$(grep -m1 '^READY=1' "$T/notify.log")"
check_match "STATUS= says the daemon is idle on the identified chip" '^STATUS=idle: W25Q128JV' \
	"$(grep '^STATUS=' "$T/notify.log" | tail -n1)"
wait_for "$T/notify.log" '^WATCHDOG=1' || true
check "WATCHDOG=1 is sent while the worker is alive" "WATCHDOG=1" "$(grep -m1 '^WATCHDOG=1' "$T/notify.log")"
out=$(rpc "$P" '{"jsonrpc":"2.0","id":1,"method":"chip.info"}' | python3 -c 'import json,sys; r=json.load(sys.stdin)["result"]; print(r["name"], r["jedec_id"], r["size"], r["source"])')
check "the API answers on the configured chip" "W25Q128JV ef4018 16777216 database" "$out"

# SIGHUP: a new log level applies at once; a new listen address is named as needing a restart
printf '[log]\nlevel = debug\n' >>"$T/a.conf"
: >"$T/notify.log"
kill -HUP "$A"
wait_for "$T/a.log" 'reload: log level debug' || true
check_match "SIGHUP applies a new log level" 'info +reload: log level debug' "$(cat "$T/a.log")"
wait_for "$T/notify.log" '^READY=1' || true
check "SIGHUP sends RELOADING=1, then READY=1" "RELOADING=1 READY=1 listening" \
	"$(grep -E '^(RELOADING|READY)=' "$T/notify.log" | tr '\n' ' ' | sed 's/ $//')"
sed -i "s/^listen = .*/listen = 127.0.0.1:1/" "$T/a.conf"
kill -HUP "$A"
wait_for "$T/a.log" 'need a restart' || true
check_match "SIGHUP names what needs a restart" \
	'notice +reload: backend, device, image, listen, TLS and storage changes need a restart' "$(cat "$T/a.log")"
printf '[nonsense]\nkey = 1\n' >>"$T/a.conf"
kill -HUP "$A"
wait_for "$T/a.log" 'keeping the running configuration' || true
check_match "SIGHUP with a broken file keeps the running configuration" \
	"err +reload: $T/a.conf:[0-9]+: unknown section \[nonsense\]; keeping the running configuration" \
	"$(cat "$T/a.log")"
check "still serving after the reloads" "ef4018" \
	"$(rpc "$P" '{"jsonrpc":"2.0","id":1,"method":"chip.info"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["jedec_id"])')"

# SIGTERM in the middle of a write: stop at a page boundary, log the ranges, exit 0
head -c 16777216 /dev/urandom >"$T/new.img"
curl -s -T "$T/new.img" "http://127.0.0.1:$P/api/v1/flash" >"$T/put.out" 2>&1 &
PUT=$!
phase=
for _ in $(seq 400); do
	phase=$(rpc "$P" '{"jsonrpc":"2.0","id":2,"method":"job.list"}' |
		python3 -c 'import json,sys; j=[x for x in json.load(sys.stdin)["result"]["jobs"] if x["state"]=="running"]; print(j[0]["progress"]["phase"] if j else "")')
	[ "$phase" = programming ] && break
	sleep 0.05
done
check "a 16 MiB upload is being programmed" "programming" "$phase"
wait_for "$T/notify.log" '^STATUS=write job [0-9]+: programming' 40 || true
check_match "STATUS= follows the running job's progress" \
	'^STATUS=write job [0-9]+: programming [0-9.]+ of 16\.0 MiB \([0-9]+%\)$' \
	"$(grep '^STATUS=write job' "$T/notify.log" | tail -n1)"
kill -TERM "$A"
wait "$A"; rc=$?
wait "$PUT" 2>/dev/null
check "SIGTERM during a write exits 0" "0" "$rc"
check "STOPPING=1 is sent, and every STATUS= after it says so" "STOPPING=1 stopping" \
	"$(sed -n '/^STOPPING=1/,$p' "$T/notify.log" | sed 's/^STATUS=\(stopping\):.*/\1/' | sort -u | tr '\n' ' ' | sed 's/ $//')"
line=$(grep -E 'job [0-9]+ interrupted after changing ' "$T/a.log" | tail -n1)
check_match "the interrupted job is logged with the ranges it changed and its backup" \
	'notice +job [0-9]+ interrupted after changing 0x[0-9a-f]{6}\+[0-9]+.*; previous contents in backup [0-9TZ]+-job[0-9]+$' "$line"
ranges=$(sed -n 's/.* interrupted after changing \(.*\); previous contents.*/\1/p' <<<"$line")
verdict=$(python3 "$(dirname "$0")/../lib/interrupted-image.py" "$ranges" "$T/a.img" "$T/new.img" 2>&1)
check "the image holds the new data exactly in the logged ranges, erased elsewhere" "pages-ok" "$verdict"

# ---- journal mode: "<N>" priority prefixes when stderr is the journal's stream ----
P=$(free_port)
: >"$T/j.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/j.log") "$FLASHD" --sim W25Q128JV --sim-image "$T/a.img" \
	--sim-time-scale 0 --listen "127.0.0.1:$P" --state-dir "$T/state-a" --www-dir "$T" 2>>"$T/j.log" &
J=$!
PIDS+=($J)
wait_for "$T/j.log" 'listening on' || true
kill -TERM "$J"; wait "$J"
check "under the journal each line carries its priority and no timestamp" \
	"<6>flashd 0.1.0 starting|<6>listening on 127.0.0.1:$P (port $P)|<6>flashd stopped" \
	"$(grep -E 'starting|listening on 127|flashd stopped' "$T/j.log" | tr '\n' '|' | sed 's/|$//')"

# ---- no chip at start: the API and UI still serve, and say why ----
P=$(free_port)
printf '<!DOCTYPE html><title>ui</title>\n' >"$T/index.html"
"$FLASHD" --sim W25Q128JV --sim-image "$T/b.img" --sim-time-scale 0 --sim-fault no-chip=high \
	--listen "127.0.0.1:$P" --state-dir "$T/state-b" --www-dir "$T" 2>"$T/b.log" &
B=$!
PIDS+=($B)
wait_for "$T/b.log" 'listening on' || true
check "without a chip the web UI is still served" "200" \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/")"
check "without a chip chip.info says why, with the usual causes" \
	'{"error":{"code":-32001,"data":{"detail":"no chip answers: JEDEC ID reads ff ff ff (MISO floating or pulled high). Check that the chip has power, CS/CLK/MOSI/MISO go to the right pins (MISO and MOSI not swapped), HOLD# and WP# are tied or driven high, and lower the SPI clock","errno":"ENODEV","op":"chip.info"},"message":"no chip"},"id":1,"jsonrpc":"2.0"}' \
	"$(rpc "$P" '{"jsonrpc":"2.0","id":1,"method":"chip.info"}')"
check "daemon.info reports chip_present false" "False" \
	"$(rpc "$P" '{"jsonrpc":"2.0","id":1,"method":"daemon.info"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["chip_present"])')"
check_match "the log says there is no chip, once" '^1$' "$(grep -c 'no chip: no chip answers' "$T/b.log")"
kill -TERM "$B"; wait "$B"

# ---- the chip lost mid-job: that job fails cleanly, the daemon goes on ----
P=$(free_port)
head -c 16777216 /dev/urandom >"$T/c.img"
"$FLASHD" --sim W25Q128JV --sim-image "$T/c.img" --sim-time-scale 0 --sim-fault xfer-error=40 \
	--listen "127.0.0.1:$P" --state-dir "$T/state-c" --www-dir "$T" 2>"$T/c.log" &
C=$!
PIDS+=($C)
wait_for "$T/c.log" 'listening on' || true
before=$(sha256sum <"$T/c.img")
out=$(rpc "$P" '{"jsonrpc":"2.0","id":1,"method":"flash.erase","params":{"offset":0,"length":1048576,"wait":10000}}' |
	python3 -c 'import json,sys; j=json.load(sys.stdin)["result"]["job"]; e=j["error"]; print(j["state"], e["data"]["errno"], e["data"]["op"], e["data"]["addr"], j["result"]["backup"])')
check_match "a transfer error mid-job fails that job with EIO, naming the operation and address" \
	'^failed EIO erase 0x[0-9a-f]{6} [0-9TZ]+-job1$' "$out"
backup=${out##* }
out=$(rpc "$P" "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"backup.restore\",\"params\":{\"id\":\"$backup\",\"wait\":10000}}" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["job"]["state"])')
check "backup.restore of that job's backup succeeds" "done" "$out"
check "the restored chip is byte for byte what it was before the failed job" "$before" "$(sha256sum <"$T/c.img")"
check "the daemon keeps serving afterwards" "ef4018" \
	"$(rpc "$P" '{"jsonrpc":"2.0","id":1,"method":"chip.info"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["jedec_id"])')"
out=$(rpc "$P" '{"jsonrpc":"2.0","id":1,"method":"flash.read","params":{"offset":65536,"length":32}}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["data"])')
check "the next job reads the chip normally" "$(dd if="$T/c.img" bs=1 skip=65536 count=32 status=none | base64 -w0)" "$out"
kill -TERM "$C"; wait "$C"; rc=$?
check "and it still exits 0 on SIGTERM" "0" "$rc"

# ---- [http] allowed-hosts: names the daemon answers to besides its own ----
P=$(free_port)
printf '[http]\nlisten = 127.0.0.1:%s\nallowed-hosts = flash.lab, pi.example\n' "$P" >"$T/h.conf"
"$FLASHD" --config "$T/h.conf" --sim W25Q128JV --sim-image "$T/a.img" --sim-time-scale 0 \
	--state-dir "$T/state-h" --www-dir "$T" 2>"$T/h.log" &
H=$!
PIDS+=($H)
wait_for "$T/h.log" 'listening on' || true
check "a Host listed in allowed-hosts is served, another is refused (421)" "200 200 421" \
	"$(for h in flash.lab "pi.example:$P" evil.example; do curl -s -o /dev/null -w '%{http_code} ' -H "Host: $h" "http://127.0.0.1:$P/"; done | sed 's/ $//')"
kill -TERM "$H"; wait "$H"

# ---- simulator options: busy mode, a chip swapped after a write, counters at shutdown ----
P=$(free_port)
"$FLASHD" --sim W25Q128JV --sim-image "$T/d.img" --sim-time-scale 0 --sim-busy random \
	--sim-seed 7 --sim-fault swap=MX25L12835F@write --listen "127.0.0.1:$P" \
	--state-dir "$T/state-d" --www-dir "$T" 2>"$T/d.log" &
D=$!
PIDS+=($D)
wait_for "$T/d.log" 'listening on' || true
check_match "the log names the busy mode" 'time scale 0, busy random \(seeded\)$' \
	"$(grep 'simulated W25Q128JV' "$T/d.log")"
rpc "$P" '{"jsonrpc":"2.0","id":1,"method":"flash.write","params":{"offset":0,"data":"AAAA","wait":10000}}' >/dev/null
check_match "a chip swapped by the simulator is logged with both identities" \
	'warning +simulator: chip swapped after transaction [0-9]+: W25Q128JV \(ef4018\) is now MX25L12835F \(c22018\)$' \
	"$(grep 'chip swapped' "$T/d.log")"
kill -TERM "$D"; wait "$D"
check_match "the simulator's counters are logged at shutdown" \
	'info +simulator: [0-9]+ transactions, [0-9]+ bytes, [0-9]+ status polls, [0-9]+ programs, [0-9]+ erases, 1 swaps, busy [0-9.]+ s of [0-9.]+ s' \
	"$(grep 'simulator: [0-9]* transactions' "$T/d.log")"

echo "1..$n"
exit $failed
