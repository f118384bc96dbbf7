#!/usr/bin/env bash
# OpenNebula 7.4.0 for cloudvamp's `opennebula` test tier (oned, onemonitord,
# the scheduler, OpenNebula's Ruby drivers and CLI), plus what the tier needs
# to reach its hosts (sshd inside the host namespaces, rsync for the remotes).
#
#   scripts/setup-opennebula.sh       install what is missing, print ONE_LOCATION=<dir>
#
# Where OpenNebula comes from, first match wins:
#   1. $ONE_LOCATION, when it holds an install (bin/oned): used as it is;
#   2. the prebuilt tree ../shared/opennebula/release-7.4.0/one-7.4.0-debian12-amd64.tar.xz
#      (beside this repository, or beside an ancestor directory; CLOUDVAMP_ONE_SHARED
#      names another directory), unpacked into $CLOUDVAMP_ONE_CACHE;
#   3. the source tarball next to it (one-release-7.4.0-src.tar.xz), or
#      $CLOUDVAMP_ONE_SRC_TARBALL (e.g. OpenNebula's release tarball
#      https://github.com/OpenNebula/one/archive/refs/tags/release-7.4.0.tar.gz),
#      built with the recipe build-from-source.sh (~30 min on 2 cores).
#
#   CLOUDVAMP_ONE_CACHE   default /var/cache/cloudvamp-test/opennebula-7.4.0
#
# Idempotent: a second run with everything in place only checks and prints.
# Never writes into ../shared (read-only) nor into $ONE_LOCATION.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "setup-opennebula: $*" >&2; }
die() { echo "setup-opennebula: error: $*" >&2; exit 1; }

# ../shared beside the repository; a git worktree nested deeper finds it
# in the nearest ancestor that has one
SHARED=${CLOUDVAMP_ONE_SHARED:-}
if [ -z "$SHARED" ]; then
  d=$(pwd)
  while [ "$d" != / ]; do
    d=$(dirname "$d")
    [ -d "$d/shared/opennebula/release-7.4.0" ] && { SHARED=$d/shared/opennebula/release-7.4.0; break; }
  done
  SHARED=${SHARED:-../shared/opennebula/release-7.4.0}
fi
CACHE=${CLOUDVAMP_ONE_CACHE:-/var/cache/cloudvamp-test/opennebula-7.4.0}
PREBUILT=$SHARED/one-7.4.0-debian12-amd64.tar.xz
SRC_TARBALL=${CLOUDVAMP_ONE_SRC_TARBALL:-$SHARED/one-release-7.4.0-src.tar.xz}

# The binaries' shared libraries, the Ruby drivers' gems (Debian packages
# only: no gem host), sshd for the hosts, rsync for `onehost sync`,
packages=(libxmlrpc-c++8v5 libxmlrpc-core-c3 libcurl4 libsqlite3-0 libxml2 libssl3
  ruby ruby-xmlrpc ruby-nokogiri ruby-ox ruby-ffi-rzmq ruby-sqlite3 ruby-treetop ruby-parse-cron
  openssh-server openssh-client rsync curl sqlite3
  pciutils)  # what opennebula-node-kvm brings a host: lspci for the stock pci.rb probe

missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing Debian packages ${missing[*]}: run as root or apt-get install them"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_opts=(-y -q -o DPkg::Lock::Timeout=300 --no-install-recommends)
  apt-get "${apt_opts[@]}" install "${missing[@]}" >/dev/null || {
    apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null
    apt-get "${apt_opts[@]}" install "${missing[@]}" >/dev/null
  }
fi

is_install() { [ -x "$1/bin/oned" ] && [ -x "$1/lib/mads/onemonitord" ] && [ -d "$1/var/remotes" ]; }

if [ -n "${ONE_LOCATION:-}" ]; then
  is_install "$ONE_LOCATION" || die "ONE_LOCATION=$ONE_LOCATION holds no OpenNebula install (no bin/oned, lib/mads/onemonitord, var/remotes): unset it to use the bundled 7.4.0"
  echo "ONE_LOCATION=$ONE_LOCATION"
  exit 0
fi

if is_install "$CACHE"; then
  echo "ONE_LOCATION=$CACHE"
  exit 0
fi

mkdir -p "$(dirname "$CACHE")"
tmp=$(mktemp -d "$CACHE.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ -f "$PREBUILT" ]; then
  say "unpacking $PREBUILT into $CACHE"
  tar -xJf "$PREBUILT" -C "$tmp"
  top=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -n1)
  is_install "$top" || die "$PREBUILT holds no OpenNebula install"
elif [ -f "$SRC_TARBALL" ]; then
  say "no prebuilt tree at $PREBUILT: building OpenNebula from $SRC_TARBALL (about 30 minutes on 2 cores)"
  recipe=$SHARED/build-from-source.sh
  [ -f "$recipe" ] || die "the build recipe $recipe is missing (it comes with the source tarball)"
  mkdir -p "$tmp/src"
  tar -xf "$SRC_TARBALL" -C "$tmp/src"
  src=$tmp/src
  [ -f "$src/SConstruct" ] || src=$(dirname "$(find "$tmp/src" -maxdepth 2 -name SConstruct | head -n1)")
  top=$tmp/one-7.4.0
  ONE_SRC=$src ONE_PREFIX=$top bash "$recipe" >&2
  rm -rf "$tmp/src"
else
  die "no OpenNebula 7.4.0 found: set ONE_LOCATION to an install, or put the prebuilt tree
  $PREBUILT
or a source tarball (OpenNebula's release tarball, https://github.com/OpenNebula/one/archive/refs/tags/release-7.4.0.tar.gz,
with CLOUDVAMP_ONE_SRC_TARBALL pointing at it and build-from-source.sh next to the default one) in place"
fi
# pristine copies of the configuration, from which the harness writes each run's
[ -f "$top/etc/oned.conf.dist" ] || cp "$top/etc/oned.conf" "$top/etc/oned.conf.dist"
[ -f "$top/etc/monitord.conf.dist" ] || cp "$top/etc/monitord.conf" "$top/etc/monitord.conf.dist"
rm -rf "$CACHE"
mv "$top" "$CACHE"
say "OpenNebula 7.4.0 in $CACHE"
echo "ONE_LOCATION=$CACHE"
