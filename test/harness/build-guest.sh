#!/bin/bash
# Build cloudvamp's test guest: the Debian cloud kernel and an initramfs with
# busybox, the virtio balloon / virtio-serial / ACPI button modules and the
# guest agent (guest/agent.c).
#
#   test/harness/build-guest.sh [--force]
#
# Output in $CLOUDVAMP_TEST_CACHE (default /var/cache/cloudvamp-test/guest):
# vmlinuz, initrd.img, guest.env. The kernel and busybox-static packages are
# fetched with `apt-get download` (nothing is installed). Re-running is a
# no-op while the package versions and the harness sources are unchanged.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FLAVOUR=cloud-amd64
# what /init loads (modprobe adds the dependencies); evdev lets acpid see
# the power button
MODULES=(virtio_pci virtio_balloon virtio_console button evdev)

force=0
[ "${1:-}" = --force ] && force=1
for tool in apt-get apt-cache dpkg-deb gcc cpio gzip depmod modprobe; do
    command -v "$tool" >/dev/null || die "$tool is missing: run scripts/setup-kvm.sh as root"
done
mkdir -p "$CACHE"

# the kernel package behind the linux-image-cloud-amd64 meta package
resolve() {
    kpkg=$(apt-cache depends "linux-image-$FLAVOUR" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    [ -n "$kpkg" ] || return 1
    kpkg_ver=$(apt-cache policy "$kpkg" | awk '/Candidate:/ {print $2}')
    bb_ver=$(apt-cache policy busybox-static | awk '/Candidate:/ {print $2}')
    [ -n "$kpkg_ver" ] && [ "$kpkg_ver" != "(none)" ] && [ -n "$bb_ver" ] && [ "$bb_ver" != "(none)" ]
}
if ! resolve; then
    log "package lists do not know linux-image-$FLAVOUR: apt-get update"
    apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null
    resolve || die "cannot resolve linux-image-$FLAVOUR and busybox-static from the apt sources"
fi
kver=${kpkg#linux-image-}

stamp=$( { echo "$kpkg=$kpkg_ver busybox-static=$bb_ver ${MODULES[*]}"
           cat "$HARNESS_DIR/build-guest.sh" "$HARNESS_DIR/guest/init" "$HARNESS_DIR/guest/agent.c"; } | sha256sum | cut -c1-16)
if [ $force = 0 ] && [ -s "$CACHE/vmlinuz" ] && [ -s "$CACHE/initrd.img" ] &&
   [ "$(cat "$CACHE/stamp" 2>/dev/null)" = "$stamp" ]; then
    log "guest in $CACHE is up to date (kernel $kver)"
    exit 0
fi

t0=$(now_ms)
work=$(mktemp -d "$CACHE/work.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. the two packages, kept in $CACHE/debs across builds
download() {  # NAME VERSION -> path of the .deb
    local name=$1 ver=$2 f
    for f in "$CACHE/debs/${name}"_*.deb; do
        [ -e "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$ver" ] && { echo "$f"; return 0; }
    done
    rm -f "$CACHE/debs/${name}"_*.deb
    log "downloading $name=$ver"
    # the _apt sandbox user may not be able to write to the cache dir
    (cd "$CACHE/debs" && apt-get -q -o APT::Sandbox::User=root download "$name=$ver" >/dev/null) || return 1
    ls "$CACHE/debs/${name}"_*.deb
}
mkdir -p "$CACHE/debs"
if ! kdeb=$(download "$kpkg" "$kpkg_ver") || ! bbdeb=$(download busybox-static "$bb_ver"); then
    # stale package lists: the mirror dropped that version
    log "download failed: apt-get update and retry"
    apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null
    resolve || die "cannot resolve linux-image-$FLAVOUR after apt-get update"
    kver=${kpkg#linux-image-}
    kdeb=$(download "$kpkg" "$kpkg_ver") || die "cannot download $kpkg=$kpkg_ver"
    bbdeb=$(download busybox-static "$bb_ver") || die "cannot download busybox-static=$bb_ver"
fi
dpkg-deb -x "$kdeb" "$work/kernel"
dpkg-deb -x "$bbdeb" "$work/busybox"

# 2. the root file system
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,run,tmp,lib/modules,etc/acpi/PWRF}
depmod -b "$work/kernel" "$kver"
for m in "${MODULES[@]}"; do
    modprobe -d "$work/kernel" -S "$kver" --show-depends "$m" || die "module $m is not in $kpkg"
done | awk '$1 == "insmod" && !seen[$2]++ {print $2}' > "$work/modules"
: > "$root/etc/modules.order"
while read -r ko; do
    cp "$ko" "$root/lib/modules/"
    basename "$ko" >> "$root/etc/modules.order"
done < "$work/modules"
grep -q '^virtio_balloon\.ko' "$root/etc/modules.order" || die "virtio_balloon module missing from $kpkg"

cp "$work/busybox/bin/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
gcc -static -Os -s -Wall -Wextra -o "$root/bin/agent" "$HARNESS_DIR/guest/agent.c"
install -m 0755 "$HARNESS_DIR/guest/init" "$root/init"
printf '#!/bin/sh\npoweroff -f\n' > "$root/etc/acpi/PWRF/00000080"
chmod 0755 "$root/etc/acpi/PWRF/00000080"

# 3. pack, then replace the cache content in one go
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 > "$work/initrd.img"
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
cat > "$work/guest.env" <<ENV
GUEST_KERNEL=$kver
GUEST_KERNEL_PACKAGE=$kpkg=$kpkg_ver
GUEST_BUSYBOX=$bb_ver
GUEST_MODULES="$(tr '\n' ' ' < "$root/etc/modules.order" | sed 's/ $//')"
ENV
for f in vmlinuz initrd.img guest.env; do mv -f "$work/$f" "$CACHE/$f"; done
echo "$stamp" > "$CACHE/stamp"
log "guest built in $(since "$t0")s: kernel $kver, initrd $(du -k "$CACHE/initrd.img" | cut -f1) KiB, in $CACHE"
