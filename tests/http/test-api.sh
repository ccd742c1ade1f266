#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test-api.sh - flashd end to end: the real daemon on a simulated chip, driven over its API
# (README "API" and "Whole images" are the contract) with real clients: curl for most, httpie
# for a representative set, a raw socket where a client must misbehave. Exact bytes (sha256,
# cmp, base64) and exact JSON-RPC error objects. TAP, one line per behaviour.
#
# Each group starts its own flashd on an ephemeral port with a fresh image and state directory
# and ends with a line that the daemon exited 0 on SIGTERM without a sanitizer or leak report.
# Everything runs at --sim-time-scale 0 (virtual time) except the groups that need a job slow
# enough to be busy, cancelled, waited for or watched (0.1 and 0.2).
#
# The cases state the contract, not what the code does today: a case the current code fails
# stays, so that the fix can be matched against it.
#
# Peak RSS of the 64 MiB round trip is only asserted on a flashd without sanitizers (ASan's
# shadow memory and allocator quarantine add several MiB that flashd does not use): meson
# passes the flashd under test as PLAIN_FLASHD when the build has b_sanitize=none; otherwise
# set FLASHD_PLAIN=path/to/unsanitized/flashd, or the RSS assertion is a TAP SKIP.
#
# Usage: test-api.sh FLASHD WWWDIR [PLAIN_FLASHD]
set -u
FLASHD=${1:?usage: test-api.sh FLASHD WWWDIR [PLAIN_FLASHD]}
WWW=${2:?usage: test-api.sh FLASHD WWWDIR [PLAIN_FLASHD]}
PLAIN=${FLASHD_PLAIN:-${3:-}}

for tool in curl jq sha256sum base64 dd; do
	command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool not installed"; exit 77; }
done
HAVE_HTTPIE=0
command -v http >/dev/null && HAVE_HTTPIE=1

T=$(mktemp -d "${TMPDIR:-/tmp}/flashd-api.XXXXXX")
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
# shellcheck source=tests/http/lib.sh
. "$(dirname "$0")/lib.sh"
export HOME=$T # httpie keeps its config and sessions under $HOME

MIB=1048576
CHIP=16777216 # W25Q128JV
FF16M=$T/ff16m
head -c $CHIP /dev/zero | tr '\0' '\377' >"$FF16M"
# job record fields that vary from run to run
NORM='del(.times) | .progress |= del(.rate, .eta)'
# jq: a list of ranges as the sorted union of overlapping and adjacent ones
MERGE='def merge: sort_by(.offset) | reduce .[] as $r ([];
	if length > 0 and .[-1].offset + .[-1].length >= $r.offset
	then .[-1].length = ([.[-1].offset + .[-1].length, $r.offset + $r.length] | max) - .[-1].offset
	else . + [$r] end);'

# settled FILTER METHOD PARAMS: start a job, then wait for it by name (job.get) and apply FILTER
# to its record, so a case about positional params does not also depend on a positional "wait"
settled() {
	local f=$1 id
	shift
	id=$(jr '.result.job.id // empty' "$@")
	if [ -z "$id" ]; then call "$@"; return; fi
	jcall ".result.job | $f" job.get "{\"id\":$id,\"wait\":10000}"
}

# expected crc32 of a file as flashd prints it (8 hex digits), from gzip's trailer
crc32() { gzip -c "$1" | tail -c8 | od -An -tx4 -N4 | tr -d ' \n'; }

# =============================================================================================
# rpc: the JSON-RPC envelope and every method (W25Q128JV, erased, time scale 0)
# =============================================================================================
start rpc W25Q128JV || exit 1
RPC_PID=$PID

out=$(jcall '.result | del(.uptime_s, .version, .listen)' daemon.info)
check "daemon.info: backend, bus, state_dir, chip_present" \
	"{\"backend\":\"sim:W25Q128JV\",\"chip_present\":true,\"spi_speed_hz\":32000000,\"state_dir\":\"$S\"}" "$out"
check_match "daemon.info: version, uptime_s and the listen address (as configured or as bound)" \
	"^\\[\"[0-9]+\\.[0-9]+\\.[0-9]+[^\"]*\",[0-9.e-]+,\\[\"127\\.0\\.0\\.1:(0|$PORT)\"\\]\\]\$" \
	"$(jcall '[.result.version, .result.uptime_s, .result.listen]' daemon.info)"

out=$(call chip.info)
check "chip.info: W25Q128JV identity, geometry, protection (exact result)" \
	'{"id":1,"jsonrpc":"2.0","result":{"datasheet":"Winbond W25Q128JV datasheet Rev. C (2016-11-16)","erase_sizes":[4096,32768,65536],"jedec_id":"ef4018","max_clock_hz":133000000,"max_read_clock_hz":50000000,"name":"W25Q128JV","page_size":256,"protection":{"description":"none (BP=0)","locked":false,"ranges":[],"srp":false},"size":16777216,"source":"database","spi_speed_hz":32000000,"vendor":"Winbond","voltage":"2.7-3.6 V"}}' "$out"
check "chip.info with a positional parameter it does not take: -32602" \
	'-32602' "$(jcall '.error.code' chip.info '[1]')"

# ---- settings ----
check "settings.get" '{"id":1,"jsonrpc":"2.0","result":{"log_level":"info","spi_speed_hz":32000000}}' "$(call settings.get)"
check "settings.set log_level (named)" '{"id":1,"jsonrpc":"2.0","result":{"log_level":"debug","spi_speed_hz":32000000}}' \
	"$(call settings.set '{"log_level":"debug"}')"
check "settings.set spi_speed_hz (named) answers the new setting" '{"log_level":"debug","spi_speed_hz":16000000}' \
	"$(jcall .result settings.set '{"spi_speed_hz":16000000}')"
call flash.read '{"length":1}' >/dev/null # the clock applies from the next job on
check "settings.set spi_speed_hz: settings.get and chip.info after the next job" '16000000 16000000' \
	"$(jr .result.spi_speed_hz settings.get) $(jr .result.spi_speed_hz chip.info)"
check "settings.set by position [spi_speed_hz, log_level]" '{"log_level":"info","spi_speed_hz":32000000}' \
	"$(jcall .result settings.set '[32000000,"info"]')"
call settings.set '{"spi_speed_hz":32000000,"log_level":"info"}' >/dev/null
call flash.read '{"length":1}' >/dev/null
check "settings.set: unknown log level" \
	'{"error":{"code":-32602,"data":{"param":"log_level"},"message":"Invalid params: \"log_level\" must be err, warning, notice, info or debug"},"id":1,"jsonrpc":"2.0"}' \
	"$(call settings.set '{"log_level":"loud"}')"
check "settings.set: SPI clock above the chip's maximum" \
	'{"error":{"code":-32602,"data":{"param":"spi_speed_hz"},"message":"Invalid params: \"spi_speed_hz\" must be between 1 and the chip'"'"'s maximum clock"},"id":1,"jsonrpc":"2.0"}' \
	"$(call settings.set '{"spi_speed_hz":500000000}')"
check "settings.set: wrong type" \
	'{"error":{"code":-32602,"data":{"param":"spi_speed_hz"},"message":"Invalid params: \"spi_speed_hz\" must be an integer in 0..4294967295 or a \"0x\" hex string"},"id":1,"jsonrpc":"2.0"}' \
	"$(call settings.set '{"spi_speed_hz":"fast"}')"

# ---- rpc.discover ----
out=$(jcall '[.result.openrpc, [.result.methods[].name], ([.result.methods[].paramStructure] | unique)]' rpc.discover)
check "rpc.discover: OpenRPC 1.2.6 listing every method, params by name or position" \
	'["1.2.6",["chip.info","chip.probe","chip.unlock","flash.read","flash.write","flash.verify","flash.erase","flash.blank_check","job.list","job.get","job.cancel","backup.list","backup.restore","daemon.info","settings.get","settings.set","rpc.discover"],["either"]]' "$out"
out=$(jcall '[.result.methods[] | select(.params | length > 0) | "\(.name)(\([.params[].name] | join(",")))"]' rpc.discover)
check "rpc.discover: parameter order (the positional order)" \
	'["chip.probe(wait)","chip.unlock(wait)","flash.read(offset,length,passes,wait)","flash.write(offset,data,mode,verify,unlock,preserve,wait)","flash.verify(offset,data,wait)","flash.erase(offset,length,whole_chip,unlock,preserve,backup,wait)","flash.blank_check(offset,length,wait)","job.get(id,wait)","job.cancel(id)","backup.restore(id,unlock,wait)","settings.set(spi_speed_hz,log_level)"]' "$out"
out=$(jcall '[.result.components.errors[] | .code] | sort' rpc.discover)
check "rpc.discover: every error code" \
	'[-32700,-32603,-32602,-32601,-32600,-32099,-32033,-32032,-32031,-32030,-32029,-32028,-32027,-32026,-32025,-32024,-32023,-32022,-32021,-32020,-32019,-32018,-32017,-32016,-32015,-32014,-32013,-32012,-32011,-32010,-32009,-32008,-32007,-32006,-32005,-32004,-32003,-32002,-32001]' \
	"$(jq -c 'sort' <<<"$out")"
check "rpc.discover takes no params" \
	'{"error":{"code":-32602,"message":"Invalid params: rpc.discover takes none"},"id":1,"jsonrpc":"2.0"}' \
	"$(call rpc.discover '{"x":1}')"

# ---- the envelope ----
check "parse error: -32700, id null" '{"error":{"code":-32700,"message":"Parse error"},"id":null,"jsonrpc":"2.0"}' \
	"$(rpc '{"jsonrpc":"2.0","id":1,"method":"chip.info"')"
check "parse error: duplicate key" '{"error":{"code":-32700,"message":"Parse error"},"id":null,"jsonrpc":"2.0"}' \
	"$(rpc '{"jsonrpc":"2.0","id":1,"method":"chip.info","id":2}')"
res=""
for body in '{"jsonrpc":"1.0","id":1,"method":"chip.info"}' '{"jsonrpc":"2.0","id":1}' \
	'{"jsonrpc":"2.0","id":1,"method":5}' '{"jsonrpc":"2.0","id":1,"method":"chip.info","params":"x"}' \
	'{"id":1,"method":"chip.info"}'; do
	res+="$(rpc "$body") "
done
r1='{"error":{"code":-32600,"message":"Invalid Request"},"id":1,"jsonrpc":"2.0"}'
check "invalid request (version, no method, method not a string, params a string, no jsonrpc): -32600 with the id" \
	"$r1 $r1 $r1 $r1 $r1 " "$res"
res=""
for body in '"hello"' '{"jsonrpc":"2.0","id":{"a":1},"method":"chip.info"}' '{"jsonrpc":"2.0","id":true,"method":"chip.info"}'; do
	res+="$(rpc "$body") "
done
r1='{"error":{"code":-32600,"message":"Invalid Request"},"id":null,"jsonrpc":"2.0"}'
check "invalid request (not an object, object id, boolean id): -32600, id null" "$r1 $r1 $r1 " "$res"
check "method not found: -32601" '{"error":{"code":-32601,"message":"Method not found"},"id":"m","jsonrpc":"2.0"}' \
	"$(call flash.dance '{}' '"m"')"
res=""
for id in '"str"' 7 null 1.10 -0.5e3 12345678901234567890123 '"x\u00e9\"y"'; do
	res+="$(rpc "{\"jsonrpc\":\"2.0\",\"id\":$id,\"method\":\"settings.get\"}" | sed 's/,"jsonrpc".*//') "
done
check "ids echoed byte for byte (string, number, null, 1.10, exponent, > 64 bits, escapes)" \
	'{"id":"str" {"id":7 {"id":null {"id":1.10 {"id":-0.5e3 {"id":12345678901234567890123 {"id":"x\u00e9\"y" ' "$res"
out=$(curl -s -w '|%{http_code}|%{size_download}' "${CT[@]}" -d '{"jsonrpc":"2.0","method":"settings.get"}' "$U/rpc")
check "notification: HTTP 204, no body" '|204|0' "$out"
out=$(curl -s -w '|%{http_code}|%{size_download}' "${CT[@]}" -d '{"jsonrpc":"2.0","method":"flash.dance"}' "$U/rpc")
check "notification of an unknown method: 204, no body" '|204|0' "$out"
out=$(curl -s -w '|%{http_code}|%{size_download}' "${CT[@]}" -d '{"jsonrpc":"2.0","method":"flash.read","params":{"offset":"x"}}' "$U/rpc")
check "notification with bad params: 204, no body" '|204|0' "$out"
check "empty batch: one Invalid Request, not an array" '{"error":{"code":-32600,"message":"Invalid Request"},"id":null,"jsonrpc":"2.0"}' "$(rpc '[]')"
check "batch of a non-object: an array with one Invalid Request" '[{"error":{"code":-32600,"message":"Invalid Request"},"id":null,"jsonrpc":"2.0"}]' "$(rpc '[1]')"
out=$(rpc '[{"jsonrpc":"2.0","id":"a","method":"backup.list"},{"foo":1},{"jsonrpc":"2.0","id":3,"method":"nope"},{"jsonrpc":"2.0","method":"settings.get"},{"jsonrpc":"2.0","id":4,"method":"flash.read","params":{"offset":"x","length":1}}]')
check "mixed batch: answers in order, notifications left out" \
	'[{"id":"a","jsonrpc":"2.0","result":{"backups":[]}},{"error":{"code":-32600,"message":"Invalid Request"},"id":null,"jsonrpc":"2.0"},{"error":{"code":-32601,"message":"Method not found"},"id":3,"jsonrpc":"2.0"},{"error":{"code":-32602,"data":{"param":"offset"},"message":"Invalid params: \"offset\" must be an integer in 0..4294967295 or a \"0x\" hex string"},"id":4,"jsonrpc":"2.0"}]' "$out"
out=$(curl -s -w '|%{http_code}|%{size_download}' "${CT[@]}" -d '[{"jsonrpc":"2.0","method":"settings.get"},{"jsonrpc":"2.0","method":"daemon.info"}]' "$U/rpc")
check "batch of notifications only: 204, no body" '|204|0' "$out"
b=$(printf '{"jsonrpc":"2.0","id":1,"method":"settings.get"},%.0s' $(seq 101))
check "batch of 101: -32012 naming the limit" \
	'{"error":{"code":-32012,"data":{"detail":"batch too long","errno":"EMSGSIZE","limit":100},"message":"message too large"},"id":null,"jsonrpc":"2.0"}' "$(rpc "[${b%,}]")"

# ---- wrong types, unknown params, ranges ----
check "unknown parameter: -32602 naming it" \
	'{"error":{"code":-32602,"data":{"param":"bogus"},"message":"Invalid params: unknown parameter \"bogus\"; flash.read takes offset, length, passes, wait"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.read '{"length":16,"bogus":1}')"
check "offset of the wrong type" \
	'{"error":{"code":-32602,"data":{"param":"offset"},"message":"Invalid params: \"offset\" must be an integer in 0..4294967295 or a \"0x\" hex string"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.read '{"offset":"abc","length":16}')"
check "negative length" \
	'{"error":{"code":-32602,"data":{"param":"length"},"message":"Invalid params: \"length\" must be an integer in 0..18446744073709551615 or a \"0x\" hex string"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.read '{"offset":0,"length":-1}')"
check "boolean of the wrong type" \
	'{"error":{"code":-32602,"data":{"param":"verify"},"message":"Invalid params: \"verify\" must be true or false"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.write '{"data":"YWJj","verify":"yes"}')"
check "data that is not base64" \
	'{"error":{"code":-32602,"data":{"param":"data"},"message":"Invalid params: \"data\" must be a base64 string"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.write '{"data":"abc"}')"
check "mode that is neither smart nor full" \
	'{"error":{"code":-32602,"data":{"param":"mode"},"message":"Invalid params: \"mode\" must be \"smart\" or \"full\""},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.write '{"data":"YWJj","mode":"fast"}')"
check "wait above 10000 ms" '{"error":{"code":-32602,"data":{"param":"wait"},"message":"Invalid params: \"wait\" is at most 10000 ms"},"id":1,"jsonrpc":"2.0"}' \
	"$(call job.get '{"id":1,"wait":10001}')"
check "flash.read without length" \
	'{"error":{"code":-32602,"data":{"param":"length"},"message":"Invalid params: \"length\" is required"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.read '{"offset":0}')"
check "flash.read at the end of the chip: ERANGE with op and addr" \
	'{"error":{"code":-32011,"data":{"addr":"0x01000000","detail":"0x1000000 + 16 bytes runs past the end of the 16777216-byte chip","errno":"ERANGE","op":"flash.read"},"message":"out of range"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.read '{"offset":16777216,"length":16}')"
check "flash.read across the end: ERANGE" \
	'{"error":{"code":-32011,"data":{"addr":"0xfffff0","detail":"0xfffff0 + 17 bytes runs past the end of the 16777216-byte chip","errno":"ERANGE","op":"flash.read"},"message":"out of range"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.read '{"offset":"0xfffff0","length":17}')"
check "flash.write across the end: ERANGE" \
	'{"error":{"code":-32011,"data":{"addr":"0xfffffe","detail":"0xfffffe + 3 bytes runs past the end of the 16777216-byte chip","errno":"ERANGE","op":"flash.write"},"message":"out of range"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.write '{"offset":16777214,"data":"YWJj"}')"
check "flash.erase longer than the chip: EFBIG" \
	'{"error":{"code":-32008,"data":{"addr":"0x000000","detail":"16777217 bytes is larger than the 16777216-byte W25Q128JV","errno":"EFBIG","op":"flash.erase"},"message":"image larger than chip"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.erase '{"offset":0,"length":16777217}')"
check "flash.blank_check past the end: ERANGE" \
	'{"error":{"code":-32011,"data":{"addr":"0x01000001","detail":"0x1000001 + 0 bytes runs past the end of the 16777216-byte chip","errno":"ERANGE","op":"flash.blank_check"},"message":"out of range"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.blank_check '{"offset":16777217}')"
check "flash.erase needs a range or whole_chip" \
	'{"error":{"code":-32602,"data":{"param":"length"},"message":"Invalid params: give \"offset\" and \"length\", or \"whole_chip\": true"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.erase '{"offset":0}')"
check "flash.erase: whole_chip excludes a range" \
	'{"error":{"code":-32602,"data":{"param":"whole_chip"},"message":"Invalid params: \"whole_chip\" excludes \"offset\" and \"length\""},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.erase '{"whole_chip":true,"offset":0}')"
check "oversized read (1 MiB + 1): -32602 pointing at GET /api/v1/flash" \
	'{"error":{"code":-32602,"data":{"param":"length"},"message":"Invalid params: \"length\" must be 1..1048576 bytes here; use GET /api/v1/flash for more"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.read '{"offset":0,"length":1048577}')"
check "flash.read passes out of range" '{"error":{"code":-32602,"data":{"param":"passes"},"message":"Invalid params: \"passes\" must be 1..8"},"id":1,"jsonrpc":"2.0"}' \
	"$(call flash.read '{"length":16,"passes":0}')"
check "job.get of an unknown job: ENOENT" \
	'{"error":{"code":-32010,"data":{"detail":"no job 999 (finished jobs are kept for a while only)","errno":"ENOENT","op":"job.get"},"message":"not found"},"id":1,"jsonrpc":"2.0"}' \
	"$(call job.get '{"id":999}')"
check "job.cancel of an unknown job: ENOENT" \
	'{"error":{"code":-32010,"data":{"detail":"no job 999 (finished jobs are kept for a while only)","errno":"ENOENT","op":"job.cancel"},"message":"not found"},"id":1,"jsonrpc":"2.0"}' \
	"$(call job.cancel '[999]')"
check "job.get with a string id" \
	'{"error":{"code":-32602,"data":{"param":"id"},"message":"Invalid params: \"id\" must be an integer in 0..18446744073709551615 or a \"0x\" hex string"},"id":1,"jsonrpc":"2.0"}' \
	"$(call job.get '{"id":"1"}')"
check "backup.restore of an unknown backup: ENOENT" \
	'{"error":{"code":-32010,"data":{"detail":"no backup \"nope\"","errno":"ENOENT","op":"backup.restore"},"message":"not found"},"id":1,"jsonrpc":"2.0"}' \
	"$(call backup.restore '{"id":"nope"}')"

# ---- reads, writes, verify, blank check ----
random "$T/p48" 48 p48
head -c 4096 /dev/zero | tr '\0' '\377' >"$T/ff4k"
out=$(jcall ".result.job | $NORM | [.state, .type, .params, .ranges, .result.crc32, .result.sha256]" flash.write "{\"offset\":8192,\"data\":\"$(b64 "$T/p48")\",\"wait\":5000}")
check "flash.write (named) with wait: done, exact params, ranges and digests" \
	"[\"done\",\"write\",{\"length\":48,\"mode\":\"smart\",\"offset\":8192,\"verify\":true,\"whole_chip\":false},{\"changed\":[{\"length\":256,\"offset\":8192}],\"erased\":[],\"programmed\":[{\"length\":256,\"offset\":8192}]},\"$(crc32 "$T/p48")\",\"$(sha "$T/p48")\"]" "$out"
out=$(call flash.read '{"offset":8192,"length":48}')
check "flash.read (named): the exact bytes as base64, and length" "$(b64 "$T/p48") 48" "$(jq -r '"\(.result.data) \(.result.length)"' <<<"$out")"
rid=$(jq -r .result.job.id <<<"$out")
check "flash.read job record: read, done, crc32 and sha256 of the bytes" \
	"[\"read\",\"done\",{\"length\":48,\"offset\":8192,\"passes\":1,\"whole_chip\":false},\"$(crc32 "$T/p48")\",\"$(sha "$T/p48")\"]" \
	"$(jq -c '.result.job | [.type, .state, .params, .result.crc32, .result.sha256]' <<<"$out")"
out=$(call job.get "{\"id\":$rid}")
check "job.get of a finished flash.read returns its data too" "$(b64 "$T/p48") 48" "$(jq -r '"\(.result.data) \(.result.length)"' <<<"$out")"
check "flash.read by position [offset, length, passes, wait]" "$(b64 "$T/p48") {\"length\":48,\"offset\":8192,\"passes\":2,\"whole_chip\":false}" \
	"$(jr '"\(.result.data) \(.result.job.params | tojson)"' flash.read '[8192,48,2,5000]')"
out=$(call flash.read '{"offset":8192,"length":48,"wait":0}')
check "flash.read with wait 0: the job at once; job.get with wait brings the data" "$(b64 "$T/p48")" \
	"$(jr '.result.data' job.get "{\"id\":$(jq .result.job.id <<<"$out"),\"wait\":5000}")"
out=$(call flash.read "{\"offset\":$((0x400000)),\"length\":$MIB}")
check "flash.read of exactly 1 MiB: every byte" "$(head -c $MIB "$FF16M" | sha) $MIB" "$(jq -r .result.data <<<"$out" | base64 -d | sha) $(jq .result.length <<<"$out")"

# unaligned writes keep the bytes around them (README: "Unaligned writes keep the bytes around them")
printf 'hello world 1234' >"$T/h16"
printf 'HELLO WORLD 5678' >"$T/H16"
call flash.write "{\"offset\":4096,\"data\":\"$(b64 "$T/h16")\",\"wait\":5000}" >/dev/null
out=$(jcall '.result.job | [.state, .error]' flash.write "{\"offset\":4100,\"data\":\"$(b64 "$T/H16")\",\"wait\":5000}")
check "unaligned write needing an erase, default preserve: done" '["done",null]' "$out"
check "unaligned write: the bytes before and after are kept" "hellHELLO WORLD 5678$(printf '\377%.0s' $(seq 12))" \
	"$(jr .result.data flash.read '{"offset":4096,"length":32}' | base64 -d | tr -d '\0')"
out=$(call flash.write "{\"offset\":4102,\"data\":\"$(b64 "$T/h16")\",\"preserve\":false,\"wait\":5000}")
check "unaligned write with preserve:false that needs an erase: refused, chip untouched" \
	'{"code":-32602,"data":{"addr":"0x001000","detail":"the range is not aligned to 4096-byte erase units and the unit at 0x001000 must be erased; allow preserve to keep the bytes around it","errno":"EINVAL","op":"write"},"message":"invalid params"}|failed|{"changed":[],"erased":[],"programmed":[]}' \
	"$(jq -c .result.job.error <<<"$out")|$(jq -r .result.job.state <<<"$out")|$(jq -c .result.job.ranges <<<"$out")"

# smart write: a known diff against a known base (README "Write": erase only where a bit must go
# 0->1, program only pages that differ)
head -c 65536 /dev/zero | tr '\0' 'U' >"$T/base"            # 0x55
cp "$T/base" "$T/new"
printf 'T' | dd of="$T/new" bs=1 seek=$((0x105)) conv=notrunc status=none    # 0x54: only 1->0
printf '\252' | dd of="$T/new" bs=1 seek=$((0x3010)) conv=notrunc status=none # 0xAA: needs 0->1
call flash.write "{\"offset\":$((0x100000)),\"data\":\"$(b64 "$T/base")\",\"wait\":5000}" >/dev/null
out=$(jcall '.result.job | [.state, .ranges]' flash.write "{\"offset\":$((0x100000)),\"data\":\"$(b64 "$T/new")\",\"wait\":5000}")
check "smart write of a known diff: erased, programmed and changed ranges exact (sorted, merged)" \
	'["done",{"changed":[{"length":256,"offset":1048832},{"length":4096,"offset":1060864}],"erased":[{"length":4096,"offset":1060864}],"programmed":[{"length":256,"offset":1048832},{"length":4096,"offset":1060864}]}]' "$out"
check "smart write: the chip holds the new bytes" "$(sha "$T/new")" \
	"$(jr .result.data flash.read "{\"offset\":$((0x100000)),\"length\":65536}" | base64 -d | sha)"
out=$(jcall '.result.job | [.state, .ranges]' flash.write "{\"offset\":$((0x100000)),\"data\":\"$(b64 "$T/new")\",\"wait\":5000}")
check "smart write of identical data changes nothing" '["done",{"changed":[],"erased":[],"programmed":[]}]' "$out"
out=$(settled '[.state, .params.mode, .ranges]' flash.write "[$((0x100000)),\"$(b64 "$T/new")\",\"full\",true,false,true,5000]")
check "flash.write by position [offset, data, mode=full, ...]: erases and programs everything" \
	'["done","full",{"changed":[{"length":65536,"offset":1048576}],"erased":[{"length":65536,"offset":1048576}],"programmed":[{"length":65536,"offset":1048576}]}]' "$out"

# verify
out=$(jcall ".result.job | $NORM | [.type, .state, .ranges, .error]" flash.verify "{\"offset\":$((0x100000)),\"data\":\"$(b64 "$T/new")\",\"wait\":5000}")
check "flash.verify of matching data: done, no mismatch" '["verify","done",{"changed":[],"erased":[],"programmed":[]},null]' "$out"
cp "$T/new" "$T/bad"
printf 'abcd' | dd of="$T/bad" bs=1 seek=100 conv=notrunc status=none
printf 'Z' | dd of="$T/bad" bs=1 seek=2000 conv=notrunc status=none
out=$(jcall '.result.job | [.state, .error, .ranges.mismatch]' flash.verify "{\"offset\":$((0x100000)),\"data\":\"$(b64 "$T/bad")\",\"wait\":5000}")
check "flash.verify mismatch: failed, EBADMSG with op/addr/detail, exact ranges.mismatch" \
	'["failed",{"code":-32005,"data":{"addr":"0x100064","detail":"5 bytes differ, the first at 0x100064","errno":"EBADMSG","op":"verify"},"message":"verify mismatch"},[{"length":4,"offset":1048676},{"length":1,"offset":1050576}]]' "$out"
out=$(settled '[.state, .error.data.detail]' flash.verify "[$((0x100000)),\"$(b64 "$T/bad")\",5000]")
check "flash.verify by position [offset, data, wait]: compares those bytes" '["failed","5 bytes differ, the first at 0x100064"]' "$out"

# blank check
check "flash.blank_check of an erased range: blank" '["done",{"blank":true}]' \
	"$(jcall '.result.job | [.state, .result]' flash.blank_check '{"offset":65536,"length":65536,"wait":5000}')"
check "flash.blank_check: first_non_blank is the first programmed byte" '["done",{"blank":false,"first_non_blank":4096}]' \
	"$(jcall '.result.job | [.state, .result]' flash.blank_check '{"offset":0,"length":65536,"wait":5000}')"
check "flash.blank_check to the end of the chip (no length)" '{"blank":false,"first_non_blank":1048576}' \
	"$(jcall '.result.job.result' flash.blank_check '{"offset":12288,"wait":5000}')"
check "flash.blank_check by position [offset, length, wait]" '["done",{"blank":false,"first_non_blank":4100},{"length":16,"offset":4100,"whole_chip":false}]' \
	"$(settled '[.state, .result, .params]' flash.blank_check '[4100,16,5000]')"

# a notification that starts work still does it
out=$(curl -s -w '|%{http_code}|%{size_download}' "${CT[@]}" \
	-d "{\"jsonrpc\":\"2.0\",\"method\":\"flash.write\",\"params\":{\"offset\":$((0x300000)),\"data\":\"$(b64 "$T/h16")\"}}" "$U/rpc")
wait_idle
check "flash.write as a notification: 204, and the chip is written" "|204|0 $(b64 "$T/h16")" \
	"$out $(jr .result.data flash.read "{\"offset\":$((0x300000)),\"length\":16}")"

# erase
GET() { curl -s -o "$1" "$U/api/v1/flash"; }
GET "$T/before"
out=$(jcall '.result.job | [.state, .params, .ranges]' flash.erase '{"offset":4096,"length":8192,"wait":5000}')
check "flash.erase of a range (named): done, exact ranges" \
	'["done",{"length":8192,"offset":4096,"whole_chip":false},{"changed":[{"length":8192,"offset":4096}],"erased":[{"length":8192,"offset":4096}],"programmed":[]}]' "$out"
cp "$T/before" "$T/exp"
fill "$T/exp" 4096 8192 377
GET "$T/after"
check "flash.erase: exactly that range is 0xFF, the rest unchanged" "$(sha "$T/exp")" "$(sha "$T/after")"
out=$(settled '[.state, .params, .ranges, .result]' flash.erase '[1048576,4096,false,false,true,false,5000]')
check "flash.erase by position [offset, length, whole_chip, unlock, preserve, backup, wait]" \
	'["done",{"length":4096,"offset":1048576,"whole_chip":false},{"changed":[{"length":4096,"offset":1048576}],"erased":[{"length":4096,"offset":1048576}],"programmed":[]},{}]' "$out"

# backups: a write saves what it changes; restoring brings back the exact previous image
random "$T/x1" 8192 x1
random "$T/x2" 8192 x2
call flash.write "{\"offset\":$((0x200000)),\"data\":\"$(b64 "$T/x1")\",\"wait\":5000}" >/dev/null
GET "$T/img1"
out=$(call flash.write "{\"offset\":$((0x200000)),\"data\":\"$(b64 "$T/x2")\",\"wait\":5000}")
wid=$(jq .result.job.id <<<"$out")
bid=$(jq -r .result.job.result.backup <<<"$out")
check_match "a write names the backup it made" "^[0-9]{8}T[0-9]{6}Z-job$wid\$" "$bid"
out=$(jcall ".result.backups[0] | [.id, .job, .chip, .jedec_id, .bytes, .ranges, .complete]" backup.list)
check "backup.list: newest first, with job, chip, bytes and ranges" \
	"[\"$bid\",$wid,\"W25Q128JV\",\"ef4018\",8192,[{\"length\":8192,\"offset\":2097152}],true]" "$out"
out=$(jcall '.result.job | [.type, .state, .params.backup]' backup.restore "{\"id\":\"$bid\",\"wait\":5000}")
check "backup.restore (named): done" "[\"restore\",\"done\",\"$bid\"]" "$out"
GET "$T/img2"
check "backup.restore: the chip is the exact previous image" "$(sha "$T/img1")" "$(sha "$T/img2")"
call flash.write "{\"offset\":$((0x200000)),\"data\":\"$(b64 "$T/x2")\",\"wait\":5000}" >/dev/null
out=$(settled '.state' backup.restore "[\"$bid\",false,5000]")
GET "$T/img2"
check "backup.restore by position [id, unlock, wait]: done, previous image" "\"done\" $(sha "$T/img1")" "$out $(sha "$T/img2")"

# jobs
out=$(jcall '[.result.jobs[].id] | [length > 10, . == (sort | reverse)]' job.list)
check "job.list: every recent job, newest first" '[true,true]' "$out"
check "job.get (named) and by position agree" "$(jcall ".result.job | $NORM" job.get "{\"id\":$wid}")" "$(jcall ".result.job | $NORM" job.get "[$wid]")"
check "job.cancel of a finished job leaves it done" '"done"' "$(jcall '.result.job.state' job.cancel "{\"id\":$wid}")"
check "job.cancel by position" '"done"' "$(jcall '.result.job.state' job.cancel "[$wid]")"
check "chip.probe (named) with wait: identifies again" '["probe","done",null]' "$(jcall '.result.job | [.type, .state, .error]' chip.probe '{"wait":5000}')"
check "chip.probe by position [wait]" '["probe","done"]' "$(settled '[.type, .state]' chip.probe '[5000]')"
check "chip.unlock (named) on an unprotected chip: done" '["unlock","done",null]' "$(jcall '.result.job | [.type, .state, .error]' chip.unlock '{"wait":5000}')"
check "chip.unlock by position [wait]" '["unlock","done"]' "$(settled '[.type, .state]' chip.unlock '[5000]')"
check "job.get by position [id, wait]" '"done"' "$(jcall '.result.job.state' job.get "[$wid,100]")"

# httpie: the README's way of calling /rpc
if [ $HAVE_HTTPIE = 1 ]; then
	exp=$(call chip.info '' 5)
	out=$(http --ignore-stdin --print=b --pretty=none POST "127.0.0.1:$PORT/rpc" jsonrpc=2.0 id:=5 method=chip.info 2>&1)
	check "httpie: chip.info, the same bytes as with curl" "$exp" "$out"
	out=$(http --ignore-stdin --print=b --pretty=none POST "127.0.0.1:$PORT/rpc" jsonrpc=2.0 id:=7 method=flash.blank_check params:='{"offset":65536,"length":4096,"wait":5000}' 2>&1 | jq -c .result.job.result)
	check "httpie: flash.blank_check with wait (README example)" '{"blank":true}' "$out"
	out=$(http --ignore-stdin --print=h --pretty=none POST "127.0.0.1:$PORT/rpc" jsonrpc=2.0 method=settings.get 2>&1 | head -n1 | tr -d '\r')
	check "httpie: notification answered 204" 'HTTP/1.1 204 No Content' "$out"
else
	for c in "chip.info" "flash.blank_check with wait" "notification"; do
		skip "httpie: $c" "httpie not installed"
	done
fi

# whole chip erase last: it wipes what the cases above wrote
# (with the default backup it reads the chip first and erases only blocks that are not blank)
out=$(jcall '.result.job | [.state, .params.whole_chip, .ranges.changed == .ranges.erased, (.result.backup | type)]' flash.erase '{"whole_chip":true,"wait":10000}')
check "flash.erase whole_chip (named): done, changed = erased, backup made" '["done",true,true,"string"]' "$out"
GET "$T/after"
check "flash.erase whole_chip: every byte is 0xFF" "$(sha "$FF16M")" "$(sha "$T/after")"
call flash.write '{"offset":0,"data":"YWJj","wait":5000}' >/dev/null
out=$(jcall '.result.job | [.state, .params.whole_chip, .ranges.erased, .result]' flash.erase '{"whole_chip":true,"backup":false,"wait":10000}')
check "flash.erase whole_chip, backup false: one chip erase, no backup" '["done",true,[{"length":16777216,"offset":0}],{}]' "$out"
call flash.write '{"offset":0,"data":"YWJj","wait":5000}' >/dev/null
out=$(settled '[.state, .params.whole_chip]' flash.erase '[null,null,true,false,false,false,5000]')
check "flash.erase whole_chip by position: done, the chip is blank" '["done",true] {"blank":true}' \
	"$out $(jcall '.result.job.result' flash.blank_check '{"wait":10000}')"

stop rpc "$RPC_PID"

# =============================================================================================
# http: whole images over HTTP (W25Q128JV holding random bytes, time scale 0)
# =============================================================================================
mkdir -p "$T/http"
random "$T/http/img" $CHIP img
cp "$T/http/img" "$T/exp"
start http W25Q128JV || exit 1
HTTP_PID=$PID
# chip_is NAME: the whole chip read back over HTTP equals $T/exp
# (after a mismatch the chip as read becomes the new expectation: one failure is reported once)
chip_is() {
	curl -s -o "$T/now" "$U/api/v1/flash"
	check "$1" "$(sha "$T/exp")" "$(sha "$T/now")"
	cmp -s "$T/exp" "$T/now" || cp "$T/now" "$T/exp"
}

out=$(curl -s -D "$T/h" -o "$T/got" -w '%{http_code}|%{content_type}|%{size_download}' "$U/api/v1/flash")
check "GET /api/v1/flash: 200, octet-stream, the whole chip" "200|application/octet-stream|$CHIP" "$out"
check "GET /api/v1/flash: Content-Length is the chip size" "Content-Length: $CHIP" "$(tr -d '\r' <"$T/h" | grep -i '^Content-Length:')"
check "GET /api/v1/flash: every byte" "$(sha "$T/exp")" "$(sha "$T/got")"
out=$(curl -s -D "$T/h" -o "$T/got" -w '%{http_code}' "$U/api/v1/flash?offset=0x1000&length=4K")
check "GET ?offset=0x1000&length=4K: 200, Content-Length 4096, exact bytes" "200 Content-Length: 4096 $(slice "$T/exp" 4096 4096 | sha)" \
	"$out $(tr -d '\r' <"$T/h" | grep -i '^Content-Length:') $(sha "$T/got")"
out=$(curl -s -D "$T/h" -o "$T/got" -w '%{http_code}' "$U/api/v1/flash?offset=16773120")
check "GET ?offset= without length: to the end of the chip" "200 Content-Length: 4096 $(slice "$T/exp" 16773120 4096 | sha)" \
	"$out $(tr -d '\r' <"$T/h" | grep -i '^Content-Length:') $(sha "$T/got")"
out=$(curl -s -o "$T/got" -w '%{http_code}' "$U/api/v1/flash?offset=12345&length=100000&passes=2")
check "GET with passes=2 at an odd offset: exact bytes" "200 $(slice "$T/exp" 12345 100000 | sha)" "$out $(sha "$T/got")"

res=""
for q in 'offset=16777215&length=2' 'length=16777217' 'offset=abc' 'passes=9' 'length=0' 'offset=0x100000000'; do
	res+="$(curl -s -w '|%{http_code}' "$U/api/v1/flash?$q" | head -c 300 | LC_ALL=C tr -c '[:print:]' '?')"$'\n'
done
check "GET errors: 416 range, 413 too long, 400 bad query, 400 nothing to read, 416 past the chip (exact bodies)" \
	'{"error":{"code":-32011,"detail":"0xffffff + 2 bytes runs past the end of the 16777216-byte chip","errno":"ERANGE","message":"out of range"}}|416
{"error":{"code":-32008,"detail":"16777217 bytes is larger than the 16777216-byte W25Q128JV","errno":"EFBIG","message":"image larger than chip"}}|413
{"error":{"code":-32602,"detail":"query parameter \"offset\": \"abc\" is not a number (decimal or 0x hex, optionally with K or M)","errno":"EINVAL","message":"invalid params"}}|400
{"error":{"code":-32602,"detail":"invalid query parameter \"passes\"","errno":"EINVAL","message":"invalid params"}}|400
{"error":{"code":-32602,"detail":"nothing to read (length 0)","errno":"EINVAL","message":"invalid params"}}|400
{"error":{"code":-32011,"detail":"0x100000000 + 0 bytes runs past the end of the 16777216-byte chip","errno":"ERANGE","message":"out of range"}}|416
' "$res"
# 2^54 KiB is 2^64: a number that only fits after wrapping around to 0
out=$(curl -s -o "$T/got" -w '|%{http_code}|%{size_download}' "$U/api/v1/flash?offset=18014398509481984K&length=16")
check "GET ?offset= that overflows 64 bits with a K suffix: 400, not offset 0" \
	'|416|149 {"error":{"code":-32011,"detail":"query parameter \"offset\": 18014398509481984K does not fit in 64 bits","errno":"ERANGE","message":"out of range"}}' \
	"$out $(head -c 200 "$T/got" | tr -d '\0')"
out=$(curl -s -o "$T/got" -w '|%{http_code}|%{size_download}' "$U/api/v1/flash?length=18014398509481985K")
check "GET ?length= that overflows 64 bits: 400, not 1024 bytes" \
	'|416|149 {"error":{"code":-32011,"detail":"query parameter \"length\": 18014398509481985K does not fit in 64 bits","errno":"ERANGE","message":"out of range"}}' \
	"$out $(head -c 200 "$T/got" | tr -d '\0')"

# ---- PUT ----
random "$T/u64" 65536 u64
out=$(curl -s -w '|%{http_code}' -T "$T/u64" "$U/api/v1/flash?offset=0x10000")
put "$T/exp" 65536 "$T/u64"
check "PUT ?offset=0x10000 (smart, verified): 200, the job record with ranges and digests" \
	"[\"write\",\"done\",{\"length\":65536,\"mode\":\"smart\",\"offset\":65536,\"verify\":true,\"whole_chip\":false},{\"changed\":[{\"length\":65536,\"offset\":65536}],\"erased\":[{\"length\":65536,\"offset\":65536}],\"programmed\":[{\"length\":65536,\"offset\":65536}]},\"$(crc32 "$T/u64")\",\"$(sha "$T/u64")\",\"string\"]|200" \
	"$(jq -c '[.type, .state, .params, .ranges, .result.crc32, .result.sha256, (.result.backup | type)]' <<<"${out%|*}")|${out##*|}"
chip_is "PUT ?offset=: exactly those bytes changed"
out=$(curl -s -w '|%{http_code}' -T "$T/u64" "$U/api/v1/flash?offset=0x10000")
check "PUT of the same bytes again: nothing changed" '{"changed":[],"erased":[],"programmed":[]}|200' \
	"$(jq -c .ranges <<<"${out%|*}")|${out##*|}"
out=$(curl -s -w '|%{http_code}' -T "$T/u64" "$U/api/v1/flash?offset=0x10000&mode=full&verify=0")
check "PUT mode=full verify=0: erases and programs all of it, unverified" \
	'{"length":65536,"mode":"full","offset":65536,"verify":false,"whole_chip":false} {"changed":[{"length":65536,"offset":65536}],"erased":[{"length":65536,"offset":65536}],"programmed":[{"length":65536,"offset":65536}]}|200' \
	"$(jq -c '.params, .ranges' <<<"${out%|*}" | paste -sd' ')|${out##*|}"
random "$T/u3" 3000 u3
out=$(curl -s -w '|%{http_code}' -T "$T/u3" "$U/api/v1/flash?offset=0x20100")
put "$T/exp" $((0x20100)) "$T/u3"
check "PUT unaligned (offset 0x20100, 3000 bytes): 200 done" 'done|200' "$(jq -r .state <<<"${out%|*}")|${out##*|}"
chip_is "PUT unaligned: the bytes around the range are kept"
out=$(curl -s -w '|%{http_code}' -T "$T/u64" "$U/api/v1/flash/verify?offset=0x10000")
check "PUT /api/v1/flash/verify of matching bytes: 200 done" 'verify|done|null|200' \
	"$(jq -r '"\(.type)|\(.state)|\(.error)"' <<<"${out%|*}")|${out##*|}"
cp "$T/u64" "$T/ubad"
printf '\0\0' | dd of="$T/ubad" bs=1 seek=300 conv=notrunc status=none
slice "$T/exp" $((0x1012c)) 2 >"$T/two"
if cmp -s "$T/two" <(printf '\0\0'); then printf '\1\1' | dd of="$T/ubad" bs=1 seek=300 conv=notrunc status=none; fi
out=$(curl -s -w '|%{http_code}' -T "$T/ubad" "$U/api/v1/flash/verify?offset=0x10000")
check "PUT /verify with a 2-byte difference: 500, EBADMSG naming the address, ranges.mismatch" \
	'["failed",{"code":-32005,"data":{"addr":"0x01012c","detail":"2 bytes differ, the first at 0x01012C","errno":"EBADMSG","op":"verify"},"message":"verify mismatch"},[{"length":2,"offset":65836}]]|500' \
	"$(jq -c '[.state, .error, .ranges.mismatch]' <<<"${out%|*}")|${out##*|}"
chip_is "PUT /verify changes nothing"

head -c $((CHIP + 1)) /dev/zero >"$T/toobig"
res="$(curl -s -w '|%{http_code}' -T "$T/toobig" "$U/api/v1/flash")"$'\n'
res+="$(curl -s -w '|%{http_code}' -T "$T/u64" "$U/api/v1/flash?offset=0xFF0001")"$'\n'
res+="$(curl -s -w '|%{http_code}' -T "$T/u64" "$U/api/v1/flash?offset=0x1000000")"$'\n'
res+="$(curl -s -w '|%{http_code}' -T "$T/u64" "$U/api/v1/flash?mode=fast")"$'\n'
res+="$(curl -s -w '|%{http_code}' -X PUT -H 'Content-Length: 0' "$U/api/v1/flash")"$'\n'
check "PUT refused before anything is erased: 413 larger than the chip, 416 out of range, 400 bad query, 400 empty" \
	'{"error":{"code":-32008,"detail":"16777217 bytes is larger than the 16777216-byte W25Q128JV","errno":"EFBIG","message":"image larger than chip"}}|413
{"error":{"code":-32011,"detail":"0xff0001 + 65536 bytes runs past the end of the 16777216-byte chip","errno":"ERANGE","message":"out of range"}}|416
{"error":{"code":-32011,"detail":"0x1000000 + 65536 bytes runs past the end of the 16777216-byte chip","errno":"ERANGE","message":"out of range"}}|416
{"error":{"code":-32602,"detail":"invalid query parameter \"mode\"","errno":"EINVAL","message":"invalid params"}}|400
{"error":{"code":-32602,"detail":"the image is empty","errno":"EINVAL","message":"invalid params"}}|400
' "$res"
out=$(curl -s -w '|%{http_code}' -X PUT -H 'Transfer-Encoding: chunked' --data-binary @"$T/u3" "$U/api/v1/flash")
check "PUT without a Content-Length: 411, the size is checked first" \
	'{"error":{"code":-32602,"detail":"send the image with a Content-Length (curl -T file); its size is checked before anything is erased","errno":"EINVAL","message":"length required"}}|411' "$out"
out=$(curl -s -w '|%{http_code}' -T "$T/u64" "$U/api/v1/flash?offset=18014398509481984K")
check "PUT ?offset= that overflows 64 bits: 400, nothing written at 0" \
	'{"error":{"code":-32011,"detail":"query parameter \"offset\": 18014398509481984K does not fit in 64 bits","errno":"ERANGE","message":"out of range"}}|416' "$out"
chip_is "refused PUTs change nothing"

# a truncated upload: a raw client sends 1000 of the 65536 bytes it announced, then goes away
last_job() { jcall '.result.jobs[0].id' job.list; }
before=$(last_job)
(
	exec 3<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'PUT /api/v1/flash?offset=0x40000 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 65536\r\n\r\n' >&3
	head -c 1000 "$T/u64" >&3
	sleep 0.3
	exec 3>&-
)
jid=$(last_job)
[ "$jid" != "$before" ] && job_end "$jid" >/dev/null
out=$(jcall '.result.job | [.state, .error.data, .ranges]' job.get "{\"id\":$jid}")
check "truncated upload (raw socket, 1000 of 65536 bytes): failed, nothing changed, says how much came" \
	'["failed",{"addr":"0x040000","detail":"the image ended after 1000 of 65536 bytes; nothing was changed","errno":"EPIPE","op":"write"},{"changed":[],"erased":[],"programmed":[]}]' "$out"
check_match "truncated upload: an application error code, not -32603 internal error" '^-320[0-9][0-9]$' \
	"$(jcall '.result.job.error.code' job.get "{\"id\":$jid}")"
check "truncated upload: no digests of an image that never arrived, no backup of nothing" '{}' \
	"$(jcall '.result.job.result' job.get "{\"id\":$jid}")"
chip_is "truncated upload: the chip is untouched"
random "$T/u16m" $CHIP u16m
before=$(last_job)
curl -s -o /dev/null --limit-rate 8M -T "$T/u16m" "$U/api/v1/flash" &
cpid=$!
sleep 0.5
kill "$cpid"
wait "$cpid" 2>/dev/null
jid=$(last_job)
[ "$jid" != "$before" ] && job_end "$jid" >/dev/null
out=$(jcall '.result.job | "\(.state)|\(.error.data.detail)|\(.ranges | tojson)"' job.get "{\"id\":$jid}")
check_match "curl killed mid-upload (16 MiB): failed, \"the image ended after N of M bytes; nothing was changed\"" \
	'^"failed\|the image ended after [1-9][0-9]* of 16777216 bytes; nothing was changed\|\{\\"changed\\":\[\],\\"erased\\":\[\],\\"programmed\\":\[\]\}"$' "$out"
chip_is "curl killed mid-upload: the chip is untouched"

# a whole new image, then read back
out=$(curl -s -w '|%{http_code}' -T "$T/u16m" "$U/api/v1/flash")
cp "$T/u16m" "$T/exp"
check "PUT of a whole 16 MiB image: 200 done, sha256 of the upload" "done $(sha "$T/u16m")|200" \
	"$(jq -r '"\(.state) \(.result.sha256)"' <<<"${out%|*}")|${out##*|}"
chip_is "PUT whole image: the chip is the image"
wid=$(jq .id <<<"${out%|*}")

# ---- server-sent events of a finished job: one done event with the record ----
curl -s -N -D "$T/h" -o "$T/ev" --max-time 10 "$U/api/v1/jobs/$wid/events"
exp=$(jcall ".result.job | $NORM" job.get "{\"id\":$wid}")
got=$(sed -n 's/^data: //p' "$T/ev" | jq -cS "$NORM")
check "SSE of a finished job: text/event-stream, exactly one 'done' event with the job record" \
	"text/event-stream|event: done|$exp" \
	"$(tr -d '\r' <"$T/h" | sed -n 's/^Content-Type: //p')|$(grep '^event:' "$T/ev" | paste -sd,)|$got"
res="$(curl -s -w '|%{http_code}' "$U/api/v1/jobs/999/events")"$'\n'
res+="$(curl -s -w '|%{http_code}' "$U/api/v1/jobs/x/events")"$'\n'
check "SSE of an unknown job: 404; of a bad id: 400" \
	'{"error":{"code":-32010,"detail":"no such job","errno":"ENOENT","message":"not found"}}|404
{"error":{"code":-32602,"detail":"the job id must be a number","errno":"EINVAL","message":"invalid params"}}|400
' "$res"

# ---- httpie: upload and download ----
if [ $HAVE_HTTPIE = 1 ]; then
	random "$T/hp" 131072 hp
	out=$(http --print=b --pretty=none PUT "127.0.0.1:$PORT/api/v1/flash?offset=0x800000" <"$T/hp" 2>&1 | jq -r '"\(.state) \(.result.sha256)"')
	put "$T/exp" $((0x800000)) "$T/hp"
	check "httpie PUT (image on stdin): done, sha256 of the upload" "done $(sha "$T/hp")" "$out"
	rm -f "$T/hget"
	http --ignore-stdin --download --output "$T/hget" GET "127.0.0.1:$PORT/api/v1/flash?offset=0x800000&length=128K" >/dev/null 2>&1
	check "httpie --download: the exact bytes" "$(sha "$T/hp")" "$(sha "$T/hget" 2>/dev/null)"
	out=$(http --ignore-stdin --print=hb --pretty=none GET "127.0.0.1:$PORT/api/v1/flash?offset=0xFFFFFF&length=2" 2>&1 | tr -d '\r' | sed -n '1s/^\(HTTP\/1.1 [0-9]*\).*/\1/p;$p' | paste -sd'|')
	check "httpie: 416 with the JSON error" 'HTTP/1.1 416|{"error":{"code":-32011,"detail":"0xffffff + 2 bytes runs past the end of the 16777216-byte chip","errno":"ERANGE","message":"out of range"}}' "$out"
else
	for c in "PUT" "--download" "416"; do skip "httpie $c" "httpie not installed"; done
fi
chip_is "after the httpie upload, the chip is as expected"

# ---- cross-site requests to the API ----
res=""
for args in "-X GET -H Sec-Fetch-Site:cross-site" "-I -H Sec-Fetch-Site:cross-site" "-X GET -H Origin:http://evil.example" \
	"-X GET -H Sec-Fetch-Site:same-site"; do
	# shellcheck disable=SC2086
	res+="$(curl -s -o /dev/null -w '%{http_code}' $args "$U/api/v1/flash?length=16") "
done
check "cross-site GET/HEAD of /api/v1/flash (Sec-Fetch-Site cross-site, foreign Origin, same-site): 403" "403 403 403 403 " "$res"
out=$(curl -s -w '|%{http_code}' -H 'Sec-Fetch-Site: cross-site' "$U/api/v1/jobs/$wid/events")
check "cross-site GET of job events: 403" '{"error":{"code":-32015,"detail":"cross-site request","errno":"EPERM","message":"forbidden"}}|403' "$out"
out=$(curl -s -w '|%{http_code}' -X PUT -H 'Origin: http://evil.example' -T "$T/u3" "$U/api/v1/flash")
check "cross-origin PUT: 403" '{"error":{"code":-32015,"detail":"cross-origin request","errno":"EPERM","message":"forbidden"}}|403' "$out"
res="$(curl -s -o /dev/null -w '%{http_code}' -H "Origin: http://127.0.0.1:$PORT" -H 'Sec-Fetch-Site: same-origin' "$U/api/v1/flash?length=16") "
res+="$(curl -s -o /dev/null -w '%{http_code}' -H 'Sec-Fetch-Site: none' "$U/api/v1/flash?length=16")"
check "same-origin GET (the web UI) and Sec-Fetch-Site none (typed URL): 200" "200 200" "$res"
out=$(curl -s -I "$U/api/v1/flash?offset=0x1000&length=16" | tr -d '\r' | grep -E '^(HTTP|Content-Length|Content-Type)' | paste -sd'|')
check "HEAD /api/v1/flash?length=16: 200 with the GET's headers" 'HTTP/1.1 200 OK|Content-Type: application/octet-stream|Content-Length: 16' "$out"
out=$(curl -s -D - -o /dev/null -X DELETE "$U/api/v1/flash" | tr -d '\r')
check_match "DELETE /api/v1/flash: 405 with Allow" $'^HTTP/1.1 405[^\n]*\n(.*\n)*Allow: ' "$out"
chip_is "refused cross-site requests change nothing"

# ---- static files ----
res=""
for f in index.html app.js style.css; do
	res+="$f=$(curl -s -o "$T/sf" -w '%{http_code}|%{content_type}' "$U/$f")|$(cmp -s "$T/sf" "$WWW/$f" && echo same) "
done
check "static files: 200, MIME type, the exact file" \
	"index.html=200|text/html; charset=utf-8|same app.js=200|text/javascript; charset=utf-8|same style.css=200|text/css; charset=utf-8|same " "$res"
out=$(curl -s -o "$T/sf" -w '%{http_code}|%{content_type}' "$U/")
check "GET / is index.html" "200|text/html; charset=utf-8|same" "$out|$(cmp -s "$T/sf" "$WWW/index.html" && echo same)"
res=""
for p in '/../README.md' '/%2e%2e/README.md' '/..%2fREADME.md' '/%2E%2E%2Fmeson.build' '/app.js/../../README.md' '/.%2e/README.md'; do
	res+="$(curl -s --path-as-is -o "$T/sf" -w '%{http_code}' "$U$p")$(grep -qs flashd "$T/sf" && echo '+leak') "
done
check "traversal (/../, %2e%2e, ..%2f, mixed): 400, nothing served" "400 400 400 400 400 400 " "$res"
check "unknown file: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$U/nope.js")"

stop http "$HTTP_PID"

# =============================================================================================
# slow: jobs that take long enough to be busy, cancelled and watched (time scale 0.1)
# =============================================================================================
mkdir -p "$T/slow"
random "$T/slow/img" $CHIP slow
cp "$T/slow/img" "$T/exp"
SCALE=0.1 start slow W25Q128JV || exit 1
SLOW_PID=$PID
# poll_until ID JQ-CONDITION: until job.get of ID satisfies it (10 s at most)
poll_until() {
	local _
	for _ in $(seq 500); do
		[ "$(jcall ".result.job | $2" job.get "{\"id\":$1}")" == true ] && return 0
		sleep 0.02
	done
	return 1
}
# ranges_put FILE SRC BASE RANGES: copy every {offset,length} from SRC (which starts at BASE)
ranges_put() {
	local o l
	while read -r o l; do
		[ -n "$o" ] && slice "$2" $((o - $3)) "$l" | dd of="$1" seek="$o" oflag=seek_bytes conv=notrunc status=none
	done < <(jq -r '.[] | "\(.offset) \(.length)"' <<<"$4")
}

# ---- cancel a running write: the chip is exactly what the ranges say ----
random "$T/w4" $((4 * MIB)) w4
curl -s -o "$T/put.out" -w '%{http_code}' -T "$T/w4" "$U/api/v1/flash" >"$T/put.code" &
cpid=$!
jid=1
poll_until $jid '(.ranges.programmed | length) > 0'
out=$(jcall '.result.job | [.state, .cancel_requested]' job.cancel "{\"id\":$jid}")
check "job.cancel of a running write: cancel_requested" '["running",true]' "$out"
wait "$cpid"
rec=$(cat "$T/put.out")
check "cancelled PUT: 409 with the job record, cancelled, ECANCELED from op write" '409 cancelled -32006 ECANCELED write cancelled' \
	"$(cat "$T/put.code") $(jq -r '"\(.state) \(.error.code) \(.error.data.errno) \(.error.data.op) \(.error.message)"' <<<"$rec")"
check "cancelled write: it had erased and programmed part of the image" 'true true' \
	"$(jq -r '"\(.ranges.erased | length > 0) \((.ranges.programmed | map(.length) | add) < 4194304)"' <<<"$rec")"
ranges_fill "$T/exp" "$(jq -c .ranges.erased <<<"$rec")" 377
ranges_put "$T/exp" "$T/w4" 0 "$(jq -c .ranges.programmed <<<"$rec")"
chip_is "cancelled write: erased ranges 0xFF, programmed ranges the new bytes, the rest as before"
check "cancelled write: changed is the union of erased and programmed" true \
	"$(jq "$MERGE"' .ranges.changed == ([.ranges.erased[], .ranges.programmed[]] | merge)' <<<"$rec")"

# ---- busy, queued, cancel of running and queued jobs ----
A=$(jr .result.job.id flash.erase "{\"offset\":$((4 * MIB)),\"length\":$((10 * MIB))}")
wait_state "$A" running
B=$(jr .result.job.id flash.erase "{\"offset\":$((15 * MIB)),\"length\":65536}")
C=$(jr .result.job.id chip.unlock)
D=$(jr .result.job.id flash.blank_check '{"offset":0,"length":4096}')
E=$(jr .result.job.id flash.write "{\"offset\":$((15 * MIB + 131072)),\"data\":\"$(b64 "$T/h16")\"}")
check "jobs behind a running one are queued" '"queued" "queued" "queued" "queued"' \
	"$(for j in $B $C $D $E; do jcall .result.job.state job.get "{\"id\":$j}"; done | paste -sd' ')"
out=$(call flash.write "{\"offset\":$((15 * MIB + 65536)),\"data\":\"YWJj\"}")
check_match "queue full: EBUSY naming the running job and the queue" \
	"^\{\"code\":-32007,\"data\":\{\"detail\":\"erase job $A running \([a-z]+ [0-9]{1,3}%\), 4 queued\",\"errno\":\"EBUSY\",\"op\":\"flash.write\"\},\"message\":\"busy\"\} 1\$" \
	"$(jq -cS .error <<<"$out") $(jq .id <<<"$out")"
out=$(curl -s -w '|%{http_code}' -T "$T/u3" "$U/api/v1/flash?offset=0xF10000")
check_match "PUT while the queue is full: 409, the running job named" \
	"^\{\"error\":\{\"code\":-32007,\"detail\":\"erase job $A running \([a-z]+ [0-9]{1,3}%\), 4 queued\",\"errno\":\"EBUSY\",\"message\":\"busy\"\}\}\|409\$" "$out"
out=$(curl -s -w '|%{http_code}' "$U/api/v1/flash?length=16")
check_match "GET while the queue is full: 409" '^\{"error":\{"code":-32007,"detail":"erase job [0-9]+ running .*, 4 queued","errno":"EBUSY","message":"busy"\}\}\|409$' "$out"
out=$(jcall '.result.job | [.state, .ranges]' job.cancel "{\"id\":$B}")
check "job.cancel of a queued erase: cancelled at once, nothing done" '["cancelled",{"changed":[],"erased":[],"programmed":[]}]' "$out"
check "job.cancel of queued unlock, blank check and write: cancelled at once" 'unlock:cancelled blank_check:cancelled write:cancelled' \
	"$(for j in $C $D $E; do jr '.result.job | "\(.type):\(.state)"' job.cancel "{\"id\":$j}"; done | paste -sd' ')"
poll_until "$A" '(.ranges.erased | length) > 0'
check "job.cancel of the running erase: cancel_requested" '["running",true]' \
	"$(jcall '.result.job | [.state, .cancel_requested]' job.cancel "{\"id\":$A}")"
check "cancelled erase ends cancelled" cancelled "$(job_end "$A")"
rec=$(jcall .result.job job.get "{\"id\":$A}")
last=$(jq '.ranges.erased[-1] | .offset + .length' <<<"$rec")
check "cancelled erase: ECANCELED at the next block, changed = erased, within the range" \
	"{\"code\":-32006,\"data\":{\"addr\":\"$(printf '0x%06x' "$last")\",\"detail\":\"cancelled before erasing\",\"errno\":\"ECANCELED\",\"op\":\"erase\"},\"message\":\"cancelled\"} true true" \
	"$(jq -c .error <<<"$rec") $(jq '.ranges.changed == .ranges.erased' <<<"$rec") $(jq "[.ranges.erased[] | .offset >= $((4 * MIB)) and .offset + .length <= $((14 * MIB)) and .length % 4096 == 0] | all and ($last < $((14 * MIB)))" <<<"$rec")"
check "cancelled queued jobs never ran: cancelled, ECANCELED, no ranges" \
	"$(printf '["cancelled",-32006,{"changed":[],"erased":[],"programmed":[]}] %.0s' 1 2 3 4)" \
	"$(for j in $B $C $D $E; do jcall '.result.job | [.state, .error.code, .ranges]' job.get "{\"id\":$j,\"wait\":10000}"; done | paste -sd' ') "
wait_idle
ranges_fill "$T/exp" "$(jq -c .ranges.changed <<<"$rec")" 377
chip_is "after the cancels: the erased blocks are 0xFF, the queued job's range and the rest untouched"

# ---- server-sent events while a job runs ----
F=$(jr .result.job.id flash.erase "{\"offset\":$((14 * MIB)),\"length\":$((MIB))}")
curl -s -N -o "$T/ev" --max-time 20 "$U/api/v1/jobs/$F/events"
events=$(grep '^event:' "$T/ev" | sed 's/^event: //' | uniq -c | awk '{print $2 "x" ($1 > 1 ? "n" : "1")}' | paste -sd' ')
check_match "SSE of a running job: progress events, then one done event" '^(progressx[1n] )+donex1$' "$events"
check "SSE done event: the job record, done" "$(jcall ".result.job | $NORM" job.get "{\"id\":$F}")" \
	"$(grep -A1 '^event: done' "$T/ev" | sed -n 's/^data: //p' | jq -cS "$NORM")"
check_match "SSE progress events carry phase, done, total" '^(\{"done":[0-9]+,("eta":[0-9]+,)?"phase":"[a-z]+","rate":[0-9]+,"total":[0-9]+\} ?)+$' \
	"$(grep -A1 '^event: progress' "$T/ev" | sed -n 's/^data: //p' | paste -sd' ')"
check_match "erase job phases: backup (reading what it will erase), erasing where anything is not blank, verifying" \
	'^(none )?(backup ?)*(erasing ?)*(verifying)?$' \
	"$(grep -A1 '^event: progress' "$T/ev" | sed -n 's/^data: //p' | jq -r .phase | uniq | paste -sd' ')"
fill "$T/exp" $((14 * MIB)) $MIB 377
chip_is "SSE-watched erase: the chip as expected"

# "wait" holds the request, not an HTTP thread (the daemon has 2): while 4 requests wait for a
# running write, a status call still answers at once
random "$T/w8" $((8 * MIB)) w8
last=$(jr '.result.jobs[0].id // 0' job.list)
curl -s -o "$T/put.out" -T "$T/w8" "$U/api/v1/flash" &
cpid=$!
G=$last
for _ in $(seq 500); do
	G=$(jr '.result.jobs[0].id // 0' job.list)
	[ "$G" -gt "$last" ] && break
	sleep 0.02
done
poll_until "$G" '.state == "running" and .progress.phase != "reading"' ||
	not_ok "the 8 MiB write for the wait test runs" "$(call job.list)"
wpids=()
for _ in 1 2 3 4; do
	call job.get "{\"id\":$G,\"wait\":10000}" >/dev/null &
	wpids+=($!)
done
sleep 0.2
t0=$(date +%s%N)
info=$(jcall '.result.chip_present' daemon.info)
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$info" == true ] && [ "$ms" -lt 1000 ]; then
	ok "daemon.info answers while 4 requests wait for a job ($ms ms)"
else
	not_ok "daemon.info answers while 4 requests wait for a job" "expected: true in < 1000 ms" "got:      $info in $ms ms"
fi
call job.cancel "{\"id\":$G}" >/dev/null
wait "$cpid"
for p in "${wpids[@]}"; do wait "$p"; done
rec=$(cat "$T/put.out")
ranges_fill "$T/exp" "$(jq -c .ranges.erased <<<"$rec")" 377
ranges_put "$T/exp" "$T/w8" 0 "$(jq -c .ranges.programmed <<<"$rec")"
chip_is "the write stopped after the wait test: the chip as its ranges say"

stop slow "$SLOW_PID"

# =============================================================================================
# poswait: "wait" given by position is honoured by every method that takes it. Each call goes
# behind a long running erase, so an honoured wait of 300 ms answers after 300 ms with the job
# still queued, and an ignored one at once (or after a default wait). Queue of 16 for room.
# =============================================================================================
mkdir -p "$T/poswait"
random "$T/poswait/img" $CHIP pw
printf '[jobs]\nqueue-length = 16\n' >"$T/poswait.conf"
SCALE=0.2 start poswait W25Q128JV --config "$T/poswait.conf" || exit 1
head -c 4096 /dev/zero >"$T/z4k"
bid=$(jr .result.job.result.backup flash.write "{\"offset\":0,\"data\":\"$(b64 "$T/z4k")\",\"wait\":5000}")
L=$(jr .result.job.id flash.erase "{\"offset\":$((2 * MIB)),\"length\":$((12 * MIB))}")
poll_until "$L" '.state == "running" and .progress.phase != "reading"'
# timed METHOD PARAMS: "<state> ok" when the answer took 300..2000 ms, else with the time
timed() {
	local t0 st ms
	t0=$(date +%s%N)
	st=$(jr '.result.job.state // .error.message' "$@")
	ms=$((($(date +%s%N) - t0) / 1000000))
	if [ "$ms" -ge 300 ] && [ "$ms" -lt 2000 ]; then echo "$st ok"; else echo "$st ${ms}ms"; fi
}
check "chip.probe: wait by position [300]" "queued ok" "$(timed chip.probe '[300]')"
check "chip.unlock: wait by position [300]" "queued ok" "$(timed chip.unlock '[300]')"
check "flash.read: wait by position [offset, length, passes, 300]" "queued ok" "$(timed flash.read '[0,16,1,300]')"
check "flash.write: wait by position [.., preserve, 300]" "queued ok" "$(timed flash.write '[16,"YWJj","smart",true,false,true,300]')"
check "flash.verify: wait by position [offset, data, 300]" "queued ok" "$(timed flash.verify '[0,"YWJj",300]')"
check "flash.erase: wait by position [.., backup, 300]" "queued ok" "$(timed flash.erase "[$((15 * MIB)),4096,false,false,true,true,300]")"
check "flash.blank_check: wait by position [offset, length, 300]" "queued ok" "$(timed flash.blank_check '[0,4096,300]')"
check "job.get: wait by position [id, 300] on a running job" "running ok" "$(timed job.get "[$L,300]")"
check "backup.restore: wait by position [id, unlock, 300]" "queued ok" "$(timed backup.restore "[\"$bid\",false,300]")"
stop poswait "$PID"

# =============================================================================================
# wp: SST26VF064B, locked at power-up (block-protection register)
# =============================================================================================
start wp SST26VF064B || exit 1
head -c 8388608 /dev/zero | tr '\0' '\377' >"$T/exp"
check "SST26VF064B: chip.info reports the power-up lock" \
	'{"description":"all (0x000000-0x7FFFFF) by the block-protection register","locked":false,"ranges":[{"length":8388608,"offset":0}],"srp":false}' \
	"$(jcall .result.protection chip.info)"
wperr='{"code":-32003,"data":{"addr":"0x001000","detail":"0x000000-0x7FFFFF is write-protected (all (0x000000-0x7FFFFF) by the block-protection register); unlock it first","errno":"EROFS","op":"write-protect"},"message":"write protected"}'
check "flash.write to a protected range: failed, EROFS naming the range, nothing changed" \
	"[\"failed\",$wperr,{\"changed\":[],\"erased\":[],\"programmed\":[]}]" \
	"$(jcall '.result.job | [.state, .error, .ranges]' flash.write "{\"offset\":4096,\"data\":\"$(b64 "$T/h16")\",\"wait\":5000}")"
out=$(curl -s -w '|%{http_code}' -T "$T/u64" "$U/api/v1/flash?offset=0x10000")
check "PUT to a protected range: 423, the job's EROFS error" \
	'failed {"code":-32003,"data":{"addr":"0x010000","detail":"0x000000-0x7FFFFF is write-protected (all (0x000000-0x7FFFFF) by the block-protection register); unlock it first","errno":"EROFS","op":"write-protect"},"message":"write protected"}|423' \
	"$(jq -r .state <<<"${out%|*}") $(jq -c .error <<<"${out%|*}")|${out##*|}"
check "flash.erase of a protected range: EROFS" '-32003 EROFS 0x000000' \
	"$(jr '.result.job.error | "\(.code) \(.data.errno) \(.data.addr)"' flash.erase '{"offset":0,"length":4096,"wait":5000}')"
chip_is "refused writes on a locked chip change nothing"
out=$(jcall '.result.job | [.state, .params.unlock, .ranges.programmed]' flash.write "{\"offset\":4096,\"data\":\"$(b64 "$T/h16")\",\"unlock\":true,\"wait\":5000}")
put "$T/exp" 4096 "$T/h16"
check "flash.write with unlock:true: done" '["done",true,[{"length":256,"offset":4096}]]' "$out"
check "a temporary unlock is undone afterwards" \
	'{"description":"all (0x000000-0x7FFFFF) by the block-protection register","locked":false,"ranges":[{"length":8388608,"offset":0}],"srp":false}' \
	"$(jcall .result.protection chip.info)"
out=$(curl -s -w '|%{http_code}' -T "$T/u64" "$U/api/v1/flash?offset=0x10000&unlock=1")
put "$T/exp" 65536 "$T/u64"
check "PUT ?unlock=1: 200 done" 'done|200' "$(jq -r .state <<<"${out%|*}")|${out##*|}"
chip_is "unlocked writes: exactly the bytes written"
check "chip.unlock: done; protection cleared" '"done" {"description":"none (block-protection register clear)","locked":false,"ranges":[],"srp":false}' \
	"$(jcall .result.job.state chip.unlock '{"wait":5000}') $(jcall .result.protection chip.info)"
check "after chip.unlock a plain write succeeds" '"done"' \
	"$(jcall .result.job.state flash.write "{\"offset\":8192,\"data\":\"$(b64 "$T/h16")\",\"wait\":5000}")"
stop wp "$PID"

# =============================================================================================
# nochip: MISO pulled high, no chip answers (--sim-fault no-chip=high)
# =============================================================================================
start nochip W25Q128JV --sim-fault no-chip=high || exit 1
NODEV='"detail":"no chip answers: JEDEC ID reads ff ff ff (MISO floating or pulled high). Check that the chip has power, CS/CLK/MOSI/MISO go to the right pins (MISO and MOSI not swapped), HOLD# and WP# are tied or driven high, and lower the SPI clock","errno":"ENODEV"'
check "no chip: chip.info is ENODEV with the usual causes" "{\"error\":{\"code\":-32001,\"data\":{$NODEV,\"op\":\"chip.info\"},\"message\":\"no chip\"},\"id\":1,\"jsonrpc\":\"2.0\"}" "$(call chip.info)"
check "no chip: daemon.info says so" false "$(jcall .result.chip_present daemon.info)"
res=""
for m in 'flash.read:{"length":16}' 'flash.write:{"data":"YWJj"}' 'flash.verify:{"data":"YWJj"}' 'flash.erase:{"offset":0,"length":4096}' \
	'flash.erase:{"whole_chip":true}' 'flash.blank_check:{}' 'chip.unlock:{}' 'backup.restore:{"id":"x"}'; do
	res+="$(jcall '"\(.error.code) \(.error.data.errno) \(.error.data.op)"' "${m%%:*}" "${m#*:}" | tr -d '"'),"
done
check "no chip: every chip method answers ENODEV naming itself" \
	'-32001 ENODEV flash.read,-32001 ENODEV flash.write,-32001 ENODEV flash.verify,-32001 ENODEV flash.erase,-32001 ENODEV flash.erase,-32001 ENODEV flash.blank_check,-32001 ENODEV chip.unlock,-32001 ENODEV backup.restore,' "$res"
check "no chip: chip.probe is a job that fails with ENODEV" "[\"failed\",{\"code\":-32001,\"data\":{$NODEV,\"op\":\"probe\"},\"message\":\"no chip\"}]" \
	"$(jcall '.result.job | [.state, .error]' chip.probe '{"wait":5000}')"
res="$(curl -s -w '|%{http_code}' -T "$T/u3" "$U/api/v1/flash")"$'\n'
res+="$(curl -s -w '|%{http_code}' "$U/api/v1/flash")"$'\n'
check "no chip: PUT and GET /api/v1/flash answer 503" "{\"error\":{\"code\":-32001,$NODEV,\"message\":\"no chip\"}}|503
{\"error\":{\"code\":-32001,$NODEV,\"message\":\"no chip\"}}|503
" "$res"
stop nochip "$PID"

# 504: a chip that stays busy. --sim-fault wip-stuck holds WIP from power-up, and a busy chip
# ignores RDID, so the probe already finds no chip; there is no way to make it stick only after
# the probe from the command line. The case checks 504 when it is reachable and says why not.
start wipstuck W25Q128JV --sim-fault wip-stuck || exit 1
out=$(curl -s -w '|%{http_code}' -T "$T/u3" "$U/api/v1/flash")
if [ "${out##*|}" == 504 ]; then
	check_match "PUT on a chip stuck busy: 504 ETIMEDOUT naming the operation" \
		'^\{"error":\{"code":-32002,"detail":".*","errno":"ETIMEDOUT","message":"chip timeout"\}\}\|504$' "$out"
else
	skip "PUT on a chip stuck busy: 504 ETIMEDOUT" \
		"not reachable: wip-stuck holds WIP from power-up, RDID is ignored, the probe sees no chip (HTTP ${out##*|})"
fi
stop wipstuck "$PID"

# =============================================================================================
# access: not loopback-only, so every request needs the token
# =============================================================================================
start access W25Q128JV --listen 0.0.0.0:0 || exit 1
ACC_PID=$PID
check "token file: mode 0600, 64 hex digits and a newline" '600 65 1' \
	"$(stat -c '%a %s' "$S/token") $(grep -cE '^[0-9a-f]{64}$' "$S/token")"
TOK=$(head -n1 "$S/token")
AUTH=(-H "Authorization: Bearer $TOK")
E401='{"error":{"code":-32014,"detail":"send Authorization: Bearer <token> or log in at /api/v1/login","errno":"EACCES","message":"authentication required"}}'
res="$(curl -s -D "$T/h" -w '|%{http_code}' "${CT[@]}" -d '{"jsonrpc":"2.0","id":1,"method":"settings.get"}' "$U/rpc")"$'\n'
res+="$(curl -s -w '|%{http_code}' "$U/api/v1/flash?length=16")"$'\n'
res+="$(curl -s -w '|%{http_code}' -T "$T/u3" "$U/api/v1/flash")"$'\n'
res+="$(curl -s -w '|%{http_code}' "$U/api/v1/jobs/1/events")"$'\n'
res+="$(curl -s -o /dev/null -w '|%{http_code}' "$U/index.html")"$'\n'
check "without the token: 401 for /rpc, GET and PUT /api/v1/flash, events, static files" \
	"$E401|401"$'\n'"$E401|401"$'\n'"$E401|401"$'\n'"$E401|401"$'\n'"|401"$'\n' "$res"
check_match "401 carries WWW-Authenticate: Bearer" 'WWW-Authenticate: Bearer realm="flashd"' "$(tr -d '\r' <"$T/h")"
res=""
for bad in "${TOK}0" "${TOK:0:63}" "$(tr 0-9a-f a-f0-9 <<<"$TOK")" ""; do
	res+="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $bad" "$U/api/v1/flash?length=16") "
done
check "wrong tokens (long, short, changed, empty): 401" "401 401 401 401 " "$res"
check "with the token: /rpc 200" '{"id":1,"jsonrpc":"2.0","result":{"log_level":"info","spi_speed_hz":32000000}}|200' \
	"$(curl -s -w '|%{http_code}' "${AUTH[@]}" "${CT[@]}" -d '{"jsonrpc":"2.0","id":1,"method":"settings.get"}' "$U/rpc")"
head -c 4096 /dev/zero | tr '\0' '\377' >"$T/ff4k"
check "with the token: PUT then GET /api/v1/flash, exact bytes" "done|200 $(sha "$T/u3")" \
	"$(curl -s -w '|%{http_code}' "${AUTH[@]}" -T "$T/u3" "$U/api/v1/flash" | sed 's/^.*"state":"\([a-z]*\)".*|/\1|/') $(curl -s "${AUTH[@]}" "$U/api/v1/flash?length=3000" | sha)"
check "with the token: static files 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$U/app.js")"
out=$(curl -s -w '|%{http_code}' "${AUTH[@]}" -H 'Host: evil.example' "$U/api/v1/flash?length=16")
check "Host that is not the daemon's own: 421 (DNS rebinding)" '{"error":{"code":-32015,"detail":"Host does not name this server ([http] allowed-hosts adds names)","errno":"EPERM","message":"misdirected request"}}|421' "$out"
out=$(curl -s -w '|%{http_code}' "${AUTH[@]}" -H 'Origin: http://evil.example' "${CT[@]}" -d '{"jsonrpc":"2.0","id":1,"method":"settings.get"}' "$U/rpc")
check "cross-origin POST with the token: 403" '{"error":{"code":-32015,"detail":"cross-origin request","errno":"EPERM","message":"forbidden"}}|403' "$out"
out=$(curl -s -w '|%{http_code}' "${AUTH[@]}" -H 'Content-Type: text/plain' -d '{"jsonrpc":"2.0","id":1,"method":"settings.get"}' "$U/rpc")
check "/rpc with text/plain: 415" '{"error":{"code":-32016,"detail":"POST /rpc needs Content-Type: application/json","errno":"ENOTSUP","message":"unsupported media type"}}|415' "$out"
E400='{"error":{"code":-32602,"detail":"credentials do not belong in URLs","errno":"EINVAL","message":"bad request"}}|400'
res="$(curl -s -w '|%{http_code}' "${CT[@]}" -d '{"jsonrpc":"2.0","id":1,"method":"settings.get"}' "$U/rpc?token=$TOK")"$'\n'
res+="$(curl -s -w '|%{http_code}' "$U/api/v1/flash?length=16&access_token=$TOK")"$'\n'
res+="$(curl -s -w '|%{http_code}' "${AUTH[@]}" "$U/api/v1/flash?length=16&token=$TOK")"$'\n'
check "token in the URL (?token=, ?access_token=): refused with 400, even with the header" "$E400"$'\n'"$E400"$'\n'"$E400"$'\n' "$res"
if [ $HAVE_HTTPIE = 1 ]; then
	out=$(http --ignore-stdin --print=b --pretty=none -A bearer -a "$TOK" POST "127.0.0.1:$PORT/rpc" jsonrpc=2.0 id:=1 method=settings.get 2>&1)
	check "httpie -A bearer: 200" '{"id":1,"jsonrpc":"2.0","result":{"log_level":"info","spi_speed_hz":32000000}}' "$out"
	out=$(http --ignore-stdin --print=b --pretty=none POST "127.0.0.1:$PORT/rpc" jsonrpc=2.0 id:=1 method=settings.get 2>&1)
	check "httpie without the token: 401" "$E401" "$out"
else
	skip "httpie -A bearer: 200" "httpie not installed"
	skip "httpie without the token: 401" "httpie not installed"
fi
ifaddr=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -m1 -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$')
if [ -n "$ifaddr" ]; then
	out="$(curl -s -o /dev/null -w '%{http_code}' "http://$ifaddr:$PORT/api/v1/flash?length=16") "
	out+="$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" "http://$ifaddr:$PORT/api/v1/flash?length=16")"
	check "through the interface address $ifaddr: 401 without, 200 with the token" "401 200" "$out"
else
	skip "through an interface address" "no IPv4 interface address"
fi
# the web UI's login: the token once, then an HttpOnly SameSite=Strict session cookie
out=$(curl -s -w '|%{http_code}' "${CT[@]}" -d '{"token":"00"}' "$U/api/v1/login")
check "login with a wrong token: 401" '{"error":{"code":-32014,"detail":"wrong token","errno":"EACCES","message":"authentication required"}}|401' "$out"
out=$(curl -s -D - -o /dev/null "${CT[@]}" -d "{\"token\":\"$TOK\"}" "$U/api/v1/login" | tr -d '\r')
check_match "login: 204 with an HttpOnly SameSite=Strict session cookie" \
	$'^HTTP/1.1 204[^\n]*\n(.*\n)*Set-Cookie: flashd_session=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict' "$out"
cookie=$(grep -o 'flashd_session=[0-9a-f]*' <<<"$out")
check "the session cookie authorizes GET /api/v1/flash" "200 $(slice "$T/u3" 0 16 | sha)" \
	"$(curl -s -o "$T/got" -w '%{http_code}' -H "Cookie: $cookie" "$U/api/v1/flash?length=16") $(sha "$T/got")"
stop access "$ACC_PID"
start access W25Q128JV --listen 0.0.0.0:0 || exit 1
check "the token is kept across restarts" "$TOK" "$(head -n1 "$S/token")"
stop access "$PID" "(restarted)"

# =============================================================================================
# big: 64 MiB up and down on W25Q512JV with bounded memory
# =============================================================================================
if [ -n "$PLAIN" ]; then
	FLASHD_BIN=$PLAIN start big W25Q512JV || exit 1
	how="unsanitized $(basename "$PLAIN")"
else
	start big W25Q512JV || exit 1
	how="flashd under test"
fi
BIG_PID=$PID
random "$T/big64" $((64 * MIB)) big
out=$(curl -s -w '|%{http_code}' -T "$T/big64" "$U/api/v1/flash")
check "64 MiB PUT onto W25Q512JV: 200 done, sha256 of the upload ($how)" "done $(sha "$T/big64")|200" \
	"$(jq -r '"\(.state) \(.result.sha256)"' <<<"${out%|*}")|${out##*|}"
rm -f "$T/big.back"
out=$(curl -s -o "$T/big.back" -w '%{http_code} %{size_download}' "$U/api/v1/flash")
check "64 MiB GET: the exact image back" "200 $((64 * MIB)) same" "$out $(cmp -s "$T/big64" "$T/big.back" && echo same)"
rm -f "$T/big.back" "$T/big64"
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$BIG_PID/status" 2>/dev/null)
if [ -z "$PLAIN" ]; then
	skip "64 MiB round trip: peak RSS < 16 MiB (VmHWM ${hwm:-?} KiB)" \
		"flashd under test is sanitized (ASan shadow memory inflates RSS); set FLASHD_PLAIN to an unsanitized flashd"
elif [ -z "$hwm" ]; then
	not_ok "64 MiB round trip: peak RSS < 16 MiB" "no VmHWM in /proc/$BIG_PID/status"
else
	check_lt "64 MiB round trip: flashd's peak RSS (VmHWM, KiB) under 16 MiB" 16384 "$hwm"
fi
stop big "$BIG_PID"

# =============================================================================================
# noparams: methods whose required params are missing altogether answer -32602 and leak nothing
# =============================================================================================
start noparams W25Q128JV || exit 1
req='{"error":{"code":-32602,"data":{"param":"id"},"message":"Invalid params: \"id\" is required"},"id":1,"jsonrpc":"2.0"}'
check "job.get without params: \"id\" is required" "$req" "$(call job.get)"
check "job.cancel without params: \"id\" is required" "$req" "$(call job.cancel)"
check "backup.restore without params: \"id\" is required" "$req" "$(call backup.restore)"
check "job.get with empty positional params" "$req" "$(call job.get '[]')"
stop noparams "$PID"

echo "1..$n"
exit $failed
