#!/bin/bash
# SPDX-License-Identifier: MIT
#
# test-container.sh - flashd as a real system service: a Debian 12 container with systemd as
# PID 1 (debootstrap + systemd-nspawn -b), flashd installed into it with `meson install`
# (prefix /usr, DESTDIR), then systemctl start/reload/restart/stop checked for real: READY,
# STATUS, the journal, a bad config, and a stop in the middle of a write. TAP output.
#
# Usage: test-container.sh SOURCE_ROOT
# The root file system is cached in $FLASHD_SYSTEST_CACHE (default /var/cache/flashd-systest)
# and copied for each run, so only the first run downloads packages. Exits 77 (skip) and says
# why when the machine cannot run the container: not root, no systemd-nspawn or debootstrap.
set -u
SRC=${1:?usage: test-container.sh SOURCE_ROOT}
CACHE=${FLASHD_SYSTEST_CACHE:-/var/cache/flashd-systest}
MIRROR=${FLASHD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
# what the installed flashd links against, plus what the checks run inside the container
PKGS=systemd,systemd-sysv,dbus,libmicrohttpd12,libjansson4,libgpiod2,libsystemd0,libinih1,zlib1g,libnettle8,libgnutls30,curl,procps,jq

skip_all() { echo "1..0 # SKIP $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip_all "needs root (systemd-nspawn); run as root or in CI"
command -v systemd-nspawn >/dev/null || skip_all "systemd-nspawn not installed (apt install systemd-container)"
command -v debootstrap >/dev/null || skip_all "debootstrap not installed"
command -v nsenter >/dev/null || skip_all "nsenter not installed (util-linux)"
[ -d /sys/fs/cgroup ] || skip_all "no cgroup file system to give the container"

T=$(mktemp -d "${TMPDIR:-/tmp}/flashd-systest.XXXXXX")
ROOT=$T/root
NSPAWN_PID=
cleanup() {
	if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		kill -TERM "$NSPAWN_PID" 2>/dev/null # nspawn asks the container's systemd to power off
		for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$NSPAWN_PID" 2>/dev/null
		wait "$NSPAWN_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# shellcheck source=../lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"
bail() { echo "Bail out! $*"; exit 1; }

# ---- the root file system (cached) ----
key=$(echo "$SUITE $PKGS" | sha256sum | cut -c1-12)
base=$CACHE/$SUITE-$key
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 # one debootstrap at a time; later runs wait for it and use its result
if [ ! -d "$base" ]; then
	echo "# debootstrap $SUITE into $base (cached for later runs)"
	rm -rf "$base.tmp"
	debootstrap --variant=minbase --include="$PKGS" "$SUITE" "$base.tmp" "$MIRROR" \
		>"$T/debootstrap.log" 2>&1 || { tail -n 20 "$T/debootstrap.log" | sed 's/^/# /'; bail "debootstrap failed"; }
	rm -rf "$base.tmp/var/cache/apt/archives/"*.deb
	mv "$base.tmp" "$base"
fi
cp -a --reflink=auto "$base" "$ROOT" || bail "copying the root file system"
flock -u 9

# ---- build and install flashd the way a packager would ----
if ! { meson setup "$T/build" "$SRC" --prefix=/usr -Dtests=false -Dsystemd=enabled \
	-Dgpiod=enabled --buildtype=release && ninja -C "$T/build" &&
	DESTDIR=$ROOT meson install -C "$T/build" --no-rebuild; } >"$T/build.log" 2>&1; then
	tail -n 30 "$T/build.log" | sed 's/^/# /'
	bail "building and installing flashd"
fi
for f in usr/sbin/flashd usr/lib/systemd/system/flashd.service usr/lib/sysusers.d/flashd.conf \
	usr/lib/tmpfiles.d/flashd.conf usr/lib/udev/rules.d/60-flashd.rules etc/flashd/flashd.conf \
	usr/share/flashd/www/index.html usr/share/doc/flashd/service.md; do
	[ -e "$ROOT/$f" ] || not_ok "meson install put /$f in place" "missing"
done
ok "meson install (prefix /usr, DESTDIR) installs binary, unit, sysusers, tmpfiles, udev rule, config, www, docs"
systemd-sysusers --root="$ROOT" >/dev/null 2>&1 || bail "systemd-sysusers --root"

# A configuration for the checks: simulated chip at a tenth of real speed, so a 16 MiB write
# takes a few seconds and can be stopped in the middle.
write_conf() { # extra lines...
	{
		printf '[sim]\nchip = W25Q128JV\ntime-scale = 0.1\n[http]\nlisten = 127.0.0.1:8080\n'
		printf '%s\n' "$@"
	} >"$ROOT/etc/flashd/flashd.conf"
}
write_conf

# ---- boot ----
systemd-nspawn -D "$ROOT" -b -M "flashd-systest-$$" --register=no --keep-unit \
	--private-network --console=pipe >"$T/console.log" 2>&1 </dev/null &
NSPAWN_PID=$!
# The container's PID 1 as the host sees it: the child of systemd-nspawn that runs systemd. Not
# just any child: nspawn first forks a short-lived helper, and a PID taken from it is gone by
# the time nsenter uses it.
CPID=
container_init() { CPID=$(pgrep -P "$NSPAWN_PID" -x systemd | head -n1); [ -n "$CPID" ]; }
# run a command inside the container
cx() { nsenter -t "$CPID" -m -u -i -n -p -- "$@"; }
state=
for _ in $(seq 1200); do # two minutes: a loaded machine boots slowly
	container_init && state=$(cx systemctl is-system-running 2>/dev/null)
	case $state in running|degraded) break ;; esac
	kill -0 "$NSPAWN_PID" 2>/dev/null || break
	sleep 0.1
done
if [[ ! "$state" =~ ^(running|degraded)$ ]]; then
	echo "# state: '$state', container init: '${CPID:-none}'; console:"
	sed 's/^/# /' "$T/console.log" | tail -n 30
	cx journalctl -b --no-pager 2>/dev/null | tail -n 30 | sed 's/^/# /'
	bail "the container did not boot"
fi
ok "the container boots with systemd as PID 1"
jctl() { cx journalctl -u flashd --no-pager -o cat "$@"; }
rpc() { cx curl -s -X POST -H 'Content-Type: application/json' -d "$1" http://127.0.0.1:8080/rpc; }

# ---- the unit itself ----
out=$(cx systemd-analyze verify flashd.service 2>&1)
check "systemd-analyze verify flashd.service is clean" "" "$out"
score=$(cx systemd-analyze security flashd.service --no-pager 2>&1 | sed -n 's/.*Overall exposure level for flashd.service: \([0-9.]*\) \(.*\)$/\1 \2/p')
echo "# systemd-analyze security: $score"
check_match "systemd-analyze security rates it 2.0 or better (OK)" '^(0\.[0-9]|1\.[0-9]|2\.0) ' "$score"

# ---- start: READY only once listening ----
out=$(cx systemctl start flashd 2>&1)
check "systemctl start flashd succeeds" "" "$out"
check "active (running) after start, which Type=notify only reports after READY=1" \
	"ActiveState=active SubState=running" \
	"$(cx systemctl show flashd -p ActiveState -p SubState | sort | tr '\n' ' ' | sed 's/ $//')"
check "runs as the unprivileged flashd user" "flashd" \
	"$(cx ps -o user= -p "$(cx systemctl show flashd -p MainPID --value)" | tr -d ' ')"
check_match "the journal says where it listens" 'listening on 127\.0\.0\.1:8080' "$(jctl)"
out=$(rpc '{"jsonrpc":"2.0","id":1,"method":"chip.info"}' | jq -c '[.result.name, .result.jedec_id, .result.size]')
check "the API answers on the simulated chip" '["W25Q128JV","ef4018",16777216]' "$out"
check_match "STATUS= says what the daemon does" '^StatusText=idle' "$(cx systemctl show flashd -p StatusText)"
check "the watchdog is armed" "WatchdogUSec=30s" "$(cx systemctl show flashd -p WatchdogUSec)"
check "the state directory is private to flashd" "700 flashd" "$(cx stat -c '%a %U' /var/lib/flashd)"
check "the simulated image lives in the state directory" "16777216" "$(cx stat -c %s /var/lib/flashd/flash.img)"

# ---- reload and restart ----
write_conf '[log]' 'level = debug'
cx systemctl reload flashd
for _ in $(seq 50); do jctl | grep -q 'reload: log level debug' && break; sleep 0.1; done
check_match "systemctl reload applies the new log level" 'reload: log level debug' "$(jctl)"
check "still active after reload" "active" "$(cx systemctl is-active flashd)"
pid1=$(cx systemctl show flashd -p MainPID --value)
cx systemctl restart flashd
pid2=$(cx systemctl show flashd -p MainPID --value)
check "systemctl restart gives a new, active process" "active new" \
	"$(cx systemctl is-active flashd) $([ "$pid1" != "$pid2" ] && echo new)"

# ---- a bad configuration: start fails, the journal says why, the chip is not touched ----
cx systemctl stop flashd
before=$(cx sha256sum /var/lib/flashd/flash.img)
write_conf '[spi]' 'sped = 1000000'
cx systemctl start flashd >/dev/null 2>&1
check "start with a bad config fails" "failed" "$(cx systemctl is-active flashd)"
check_match "the journal names the file, line and key" \
	'/etc/flashd/flashd.conf:7: unknown key "sped" in \[spi\]' "$(jctl)"
check "Restart= does not loop on a configuration error" "NRestarts=0" "$(cx systemctl show flashd -p NRestarts)"
check "the image is untouched" "$before" "$(cx sha256sum /var/lib/flashd/flash.img)"
cx systemctl reset-failed flashd

# ---- stop in the middle of a write ----
write_conf
cx systemctl start flashd
cx sh -c 'head -c 16777216 /dev/urandom >/tmp/new.img'
cx sh -c 'curl -s -T /tmp/new.img http://127.0.0.1:8080/api/v1/flash >/tmp/put.out 2>&1 &'
phase=
for _ in $(seq 300); do
	phase=$(rpc '{"jsonrpc":"2.0","id":2,"method":"job.list"}' |
		jq -r '[.result.jobs[] | select(.state=="running") | .progress.phase][0] // empty')
	[ "$phase" = programming ] && break
	sleep 0.05
done
check "a 16 MiB write is programming" "programming" "$phase"
t0=$(date +%s%N)
cx systemctl stop flashd
t1=$(date +%s%N)
echo "# systemctl stop took $(( (t1 - t0) / 1000000 )) ms"
check "systemctl stop during the write exits cleanly" "ExecMainStatus=0 Result=success" \
	"$(cx systemctl show flashd -p Result -p ExecMainStatus | sort | tr '\n' ' ' | sed 's/ $//')"
log=$(jctl)
line=$(grep -E '^job [0-9]+ interrupted after changing ' <<<"$log" | tail -n1)
echo "# journal: $line"
check_match "the journal records the job as interrupted with the ranges it changed" \
	'^job [0-9]+ interrupted after changing 0x[0-9a-f]{6}\+[0-9]+' "$line"
check_match "STOPPING and the shutdown are logged" 'stopping \(the running job stops at its next safe boundary\)' "$log"
# Every byte inside the changed ranges is the new image's, every byte outside is still erased:
# the stop came at a page boundary, never in the middle of a command.
ranges=$(sed -n 's/^job [0-9]* interrupted after changing \(.*\)$/\1/p' <<<"$line" | sed 's/;.*//')
cx sh -c 'cat /var/lib/flashd/flash.img' >"$T/after.img"
cx sh -c 'cat /tmp/new.img' >"$T/new.img"
verdict=$(python3 "$(dirname "$0")/../lib/interrupted-image.py" "$ranges" "$T/after.img" "$T/new.img" 2>&1)
check "the chip holds the new data exactly in the ranges reported, erased elsewhere" "pages-ok" "$verdict"

echo "1..$n"
exit $failed
