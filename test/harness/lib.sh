# Shared settings of cloudvamp's real-guest test harness (sourced by the
# harness scripts). test/harness/index.ts derives the same paths and names
# from the same environment variables; keep the two in step.
# shellcheck shell=bash

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# Built guest (kernel, initramfs, agent). Survives reboots; rebuilt only
# when its inputs change.
CACHE=${CLOUDVAMP_TEST_CACHE:-/var/cache/cloudvamp-test/guest}
# Runtime state of the libvirt hosts. Kept short: unix socket paths under it
# must stay below 108 bytes.
STATE=${CLOUDVAMP_TEST_STATE:-/run/cloudvamp-test}
# First three octets of the private network between the hosts' namespaces.
SUBNET=${CLOUDVAMP_TEST_SUBNET:-192.168.251}
# Names of the hosts' namespaces and hostnames: $PREFIX-hN, switch $PREFIX-sw.
PREFIX=${CLOUDVAMP_TEST_PREFIX:-cvh}
MAX_HOSTS=9

log() { echo "[harness $(date +%H:%M:%S)] $*" >&2; }
die() { echo "harness: error: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (namespaces, libvirtd, /dev/kvm)"; }
now_ms() { date +%s%3N; }
# seconds since a now_ms value, e.g. 1.23
since() { local d=$(( $(now_ms) - $1 )); printf '%d.%02d' $((d / 1000)) $(((d % 1000) / 10)); }

host_name() { echo "$PREFIX-h$1"; }
switch_ns() { echo "$PREFIX-sw"; }
host_ip()   { echo "$SUBNET.$1"; }
host_dir()  { echo "$STATE/h$1"; }
host_uri()  { echo "qemu+unix:///system?socket=$(host_dir "$1")/run/libvirt-sock"; }
host_tcp_uri() { echo "qemu+tcp://$(host_name "$1")/system"; }

check_index() {
    [[ "$1" =~ ^[1-9]$ ]] || die "host index must be 1..$MAX_HOSTS, got '$1'"
}

# PID of host N's libvirtd, or nothing
host_pid() {
    local f pid
    f="$(host_dir "$1")/libvirtd.pid"
    [ -s "$f" ] || return 0
    pid=$(cat "$f")
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = libvirtd ] && echo "$pid"
    return 0
}

netns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }
