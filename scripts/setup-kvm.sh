#!/usr/bin/env bash
# Prepares this machine for cloudvamp's real-guest tests (test/kvm): installs
# the Debian packages that are missing, then builds the test guest into
# $CLOUDVAMP_TEST_CACHE (default /var/cache/cloudvamp-test/guest).
#
#   sudo bash scripts/setup-kvm.sh
#
# Idempotent and quick when everything is there; starts nothing (the tests'
# global set-up starts the libvirt hosts, test/harness/hosts.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(
  libvirt-daemon-system libvirt-clients   # libvirtd, virsh
  qemu-system-x86 qemu-utils              # the hypervisor (KVM, or TCG without it)
  iproute2 util-linux procps              # ip netns, unshare/nsenter/flock, pgrep
  kmod cpio gzip busybox-static           # the guest's initramfs
  gcc libc6-dev                           # the static guest agent
)

missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup-kvm.sh: missing Debian packages ${missing[*]}: run as root" >&2; exit 1; }
  echo "setup-kvm: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # no init system starts services here, and the tests run their own libvirtd
  apt_opts=(-y -q -o DPkg::Lock::Timeout=300 --no-install-recommends)
  apt-get "${apt_opts[@]}" install "${missing[@]}" >/dev/null || {
    apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null
    apt-get "${apt_opts[@]}" install "${missing[@]}" >/dev/null
  }
fi

[ "$(id -u)" = 0 ] || { echo "setup-kvm.sh: building the test guest needs root (apt-get download into /var/cache)" >&2; exit 1; }
bash test/harness/build-guest.sh
