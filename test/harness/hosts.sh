#!/bin/bash
# Independent libvirt "hosts" on this machine for cloudvamp's real-guest tests.
#
#   test/harness/hosts.sh up N        start hosts 1..N (idempotent)
#   test/harness/hosts.sh down        stop every host, its guests and namespaces
#   test/harness/hosts.sh uri N       libvirt URI of host N from this machine
#   test/harness/hosts.sh tcp-uri N   libvirt URI of host N from the other hosts
#   test/harness/hosts.sh exec N CMD...   run CMD inside host N (like ssh)
#
# CLOUDVAMP_TEST_PRIVATE_TMP=1 gives each host its own /tmp and /var/tmp (an
# OpenNebula host keeps its remotes and monitord client state there).
#
# `up` and `down` take the lock $STATE.lock (waiting up to 20 minutes) unless
# CLOUDVAMP_TEST_LOCKED is set by the holder of that lock (test/harness/index.ts).
#
# Host N is a libvirtd in its own network namespace cvh-hN ($SUBNET.N on a
# bridge that lives in the namespace cvh-sw), with its own mount and UTS
# namespace: /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt,
# /var/log/libvirt and /etc/hosts are bind-mounted from $STATE/hN, its
# hostname is cvh-hN and it has its own host_uuid, so libvirt treats the
# hosts as different machines and migrates between them. The machine's own
# network and any system libvirtd are left alone.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SW=$(switch_ns)
CAPS=$CACHE/libvirt-qemu-capabilities

write_config() {
    local i=$1 d j
    d=$(host_dir "$i")
    mkdir -p "$d"/{etc,run,lib,cache,log/qemu,tmp,vartmp}
    chmod 1777 "$d/tmp" "$d/vartmp"
    [ -s "$d/host-uuid" ] || cat /proc/sys/kernel/random/uuid > "$d/host-uuid"
    cat > "$d/etc/libvirtd.conf" <<CONF
# cloudvamp test host $(host_name "$i"); TCP without auth, reachable only
# from the other test hosts' namespaces
listen_tls = 0
listen_tcp = 1
listen_addr = "$(host_ip "$i")"
auth_tcp = "none"
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_rw_perms = "0770"
host_uuid = "$(cat "$d/host-uuid")"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
CONF
    # QEMU as root without relabelling; no cgroups (all hosts share the
    # machine's cgroup tree, so same-named guests on two hosts would clash);
    # no virtlogd.
    cat > "$d/etc/qemu.conf" <<CONF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
stdio_handler = "file"
CONF
    {
        echo "127.0.0.1 localhost"
        for j in $(seq 1 "$MAX_HOSTS"); do echo "$(host_ip "$j") $(host_name "$j")"; done
    } > "$d/hosts"
}

setup_net() {
    local i=$1 ns
    ns=$(host_name "$i")
    if ! netns_exists "$SW"; then ip netns add "$SW"; fi
    ip -n "$SW" link show br0 >/dev/null 2>&1 || ip -n "$SW" link add br0 type bridge
    ip -n "$SW" link set br0 up
    if ! netns_exists "$ns"; then ip netns add "$ns"; fi
    ip -n "$ns" link set lo up
    if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
        ip -n "$SW" link del "h$i" 2>/dev/null || true
        ip -n "$SW" link add "h$i" type veth peer name eth0 netns "$ns"
    fi
    ip -n "$SW" link set "h$i" master br0 up
    ip -n "$ns" addr replace "$(host_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
}

start_host() {
    local i=$1 d t0 k
    d=$(host_dir "$i")
    if [ -n "$(host_pid "$i")" ]; then
        log "$(host_name "$i") already running"
        return 0
    fi
    t0=$(now_ms)
    write_config "$i"
    setup_net "$i"
    rm -f "$d/libvirtd.pid" "$d/run/libvirt-sock"
    # Reuse an earlier QEMU capability probe (kept next to the guest): it
    # costs seconds and is the same for every host; libvirt re-validates it
    # against the QEMU binary, its own version and the host's CPUID, and
    # re-probes when it is stale. CPUID leaf 0x1f reports the x2APIC ID of
    # the CPU libvirtd runs on, so libvirtd is pinned to CPU 0 (libvirt
    # re-pins its QEMU processes to all CPUs).
    if [ -d "$CAPS" ] && [ ! -d "$d/cache/qemu/capabilities" ]; then
        mkdir -p "$d/cache/qemu"
        cp -a "$CAPS" "$d/cache/qemu/capabilities"
    fi
    mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
    setsid ip netns exec "$(host_name "$i")" unshare --mount --uts --propagation private -- /bin/sh -c '
        set -e
        d=$1
        hostname "$2"
        mount --bind "$d/etc"   /etc/libvirt
        mount --bind "$d/run"   /run/libvirt
        mount --bind "$d/lib"   /var/lib/libvirt
        mount --bind "$d/cache" /var/cache/libvirt
        mount --bind "$d/log"   /var/log/libvirt
        mount --bind "$d/hosts" /etc/hosts
        # an OpenNebula host keeps its remotes (/var/tmp/one), its monitord
        # client pid (/var/tmp/one_db, /tmp/one-monitord-ID.pid) in fixed
        # paths: with OpenNebula on the hosts, each has its own (test/harness/opennebula.ts)
        if [ "$3" = 1 ]; then mount --bind "$d/tmp" /tmp; mount --bind "$d/vartmp" /var/tmp; fi
        exec taskset -c 0 libvirtd --listen --pid-file "$d/libvirtd.pid"
    ' sh "$d" "$(host_name "$i")" "${CLOUDVAMP_TEST_PRIVATE_TMP:-0}" </dev/null >>"$d/libvirtd.out" 2>&1 &
    for k in $(seq 1 1200); do
        if [ -n "$(host_pid "$i")" ] && [ -S "$d/run/libvirt-sock" ] &&
           virsh -q -c "$(host_uri "$i")" version >/dev/null 2>&1; then
            if [ -d "$d/cache/qemu/capabilities" ] &&
               ! diff -rq "$d/cache/qemu/capabilities" "$CAPS" >/dev/null 2>&1; then
                mkdir -p "$(dirname "$CAPS")"
                rm -rf "$CAPS.$$"
                cp -a "$d/cache/qemu/capabilities" "$CAPS.$$" && rm -rf "$CAPS" && mv "$CAPS.$$" "$CAPS"
            fi
            log "$(host_name "$i") up in $(since "$t0")s ($(host_uri "$i"))"
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$d/libvirtd.out" "$d/log/libvirtd.log" >&2 || true
    die "$(host_name "$i") did not come up within 120s (logs above, in $d)"
}

stop_host() {
    local i=$1 d ns pid dom left
    d=$(host_dir "$i")
    ns=$(host_name "$i")
    pid=$(host_pid "$i")
    if [ -n "$pid" ]; then
        for dom in $(virsh -q -c "$(host_uri "$i")" list --all --name 2>/dev/null); do
            virsh -q -c "$(host_uri "$i")" destroy "$dom" >/dev/null 2>&1 || true
            virsh -q -c "$(host_uri "$i")" undefine "$dom" >/dev/null 2>&1 || true
        done
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    fi
    if netns_exists "$ns"; then
        # whatever still runs in the host's network namespace (libvirtd that
        # did not stop, QEMU left behind) belongs to this host
        left=$(ip netns pids "$ns" 2>/dev/null || true)
        # shellcheck disable=SC2086
        [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
        ip -n "$SW" link del "h$i" 2>/dev/null || true
        ip netns del "$ns"
    fi
    rm -rf "$d"
}

cmd=${1:-}
# Hosts are machine-wide: one test run (or person) at a time. The kvm
# tests' global set-up holds this lock for the whole run and says so.
if [[ "$cmd" = up || "$cmd" = down ]] && [ -z "${CLOUDVAMP_TEST_LOCKED:-}" ]; then
    need_root
    exec env CLOUDVAMP_TEST_LOCKED=1 flock -x -w 1200 "$STATE.lock" bash "$0" "$@"
fi
[ $# -gt 0 ] && shift
case "$cmd" in
    up)
        need_root
        n=${1:?usage: hosts.sh up N}
        check_index "$n"
        for tool in libvirtd virsh qemu-system-x86_64 ip unshare; do
            command -v "$tool" >/dev/null || die "$tool is missing: run scripts/setup-kvm.sh as root"
        done
        mkdir -p "$STATE"
        for i in $(seq 1 "$n"); do start_host "$i"; done
        ;;
    down)
        need_root
        t0=$(now_ms)
        for i in $(seq 1 "$MAX_HOSTS"); do
            if [ -d "$(host_dir "$i")" ] || netns_exists "$(host_name "$i")"; then stop_host "$i" & fi
        done
        wait
        if netns_exists "$SW"; then ip netns del "$SW"; fi
        rm -rf "$STATE"
        log "hosts down in $(since "$t0")s"
        ;;
    uri)     check_index "${1:-}"; host_uri "$1" ;;
    tcp-uri) check_index "${1:-}"; host_tcp_uri "$1" ;;
    exec)
        check_index "${1:-}"
        i=$1; shift
        [ $# -gt 0 ] || die "usage: hosts.sh exec N CMD..."
        pid=$(host_pid "$i")
        [ -n "$pid" ] || die "host $(host_name "$i") is not running"
        exec nsenter -t "$pid" -n -m -u -- "$@"
        ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
