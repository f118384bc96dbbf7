#!/usr/bin/env bash
# cloudvamp installer, run on the OpenNebula front-end (as root).
#
#   ./install.sh                 install or update; print the driver stanzas to add
#   ./install.sh --apply-conf    ... and add them to oned.conf / monitord.conf (backup first)
#   ./install.sh --uninstall     remove everything this script installed
#                                (run `cloudvamp restore-all` before, so no VM stays ballooned)
#   ./install.sh --check         only check the prerequisites
#
# Options:
#   --root DIR           staging root prefixed to every path (default /)
#   --remotes DIR        OpenNebula's remotes tree (default /var/lib/one/remotes)
#   --etc DIR            OpenNebula's configuration dir (default /etc/one)
#   --one-version V      OpenNebula version (default: <remotes>/VERSION)
#   --system-period S    host/system probe period for monitord.conf (default 60 s;
#                        borrowed memory reaches the scheduler only through it)
#   --vm-type T          the VM_MAD's TYPE, the libvirt domain type of deployed VMs:
#                        kvm (default) or qemu (hosts without usable KVM, TCG emulation)
#   --no-build           use dist/ as it is (default: build it when missing)
#   --from DIR           install the executables built in DIR instead of dist/
#   --single-binary      for hosts without Node.js >= 18.19: install the remotes from
#                        dist-sea/ (npm run build:sea; built when missing), whose
#                        executables run in one bundled Node runtime (~87 MB)
#
# Re-running changes nothing; every file it creates is listed in a manifest so
# --uninstall puts the tree back as it was. Configuration files you edited are
# kept on uninstall, and said so.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=/ remotes=/var/lib/one/remotes etc=/etc/one one_version="" system_period=60 vm_type=kvm
mode=install apply_conf=0 build=1 dist="" single=0

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "cloudvamp: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=${2:?--root needs a directory}; shift ;;
    --remotes) remotes=${2:?--remotes needs a directory}; shift ;;
    --etc) etc=${2:?--etc needs a directory}; shift ;;
    --one-version) one_version=${2:?--one-version needs a version like 7.4.0}; shift ;;
    --system-period) system_period=${2:?--system-period needs seconds}; shift ;;
    --vm-type) vm_type=${2:?--vm-type needs kvm or qemu}; shift ;;
    --apply-conf) apply_conf=1 ;;
    --no-build) build=0 ;;
    --from) dist=${2:?--from needs a directory}; build=0; shift ;;
    --single-binary) single=1 ;;
    --uninstall) mode=uninstall ;;
    --check) mode=check ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done
if [ -z "$dist" ]; then
  if [ $single = 1 ]; then dist=$here/dist-sea; else dist=$here/dist; fi
fi
case "$vm_type" in kvm|qemu) ;; *) die "--vm-type must be kvm or qemu (TCG), not '$vm_type'" ;; esac
[[ "$system_period" =~ ^[1-9][0-9]*$ ]] || die "--system-period must be a whole number of seconds, not '$system_period'"
[ -d "$root" ] || die "--root $root is not a directory"
root=$(cd "$root" && pwd)
R() { echo "${root%/}$1"; }            # a path inside the (staging) root

REMOTES=$(R "$remotes")
ETC=$(R "$etc")
CONF_DIR="$ETC/cloudvamp"
MANIFEST="$CONF_DIR/install-manifest"
BIN_DIR=$(R /usr/lib/one/cloudvamp)
UNIT=$(R /etc/systemd/system/cloudvamp-cvem.service)
BEGIN_MARK="# BEGIN cloudvamp (managed by cloudvamp's install.sh; remove with install.sh --uninstall)"
END_MARK="# END cloudvamp"

# Stock kvm probes and actions that cloudvamp replaces: not linked next to
# ours, because OpenNebula keeps the FIRST of duplicate host keys (TOTALMEMORY
# from linux_host.rb would hide ours) and merges VM blocks (the stock VM
# monitor's MEMORY, QEMU's RSS, would overwrite ours). Names as in the
# 7.4 remotes tree (5.12-7.4 agree): poll.rb is the VM monitor, wild_vm.rb
# lists the wild VMs our host/system probe already lists, and architecture.sh,
# name.sh, cpu.sh print ARCH, HOSTNAME, MODELNAME, which ours print too.
replaced_stock=(
  im/kvm-probes.d/host/system/linux_host.rb
  im/kvm-probes.d/host/system/wild_vm.rb
  im/kvm-probes.d/host/system/architecture.sh
  im/kvm-probes.d/host/system/name.sh
  im/kvm-probes.d/host/system/cpu.sh
  im/kvm-probes.d/host/monitor/linux_usage.rb
  im/kvm-probes.d/vm/status/state.rb
  im/kvm-probes.d/vm/monitor/poll.rb
)

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

detect_version() {
  if [ -z "$one_version" ]; then
    if [ -s "$REMOTES/VERSION" ]; then one_version=$(tr -d ' \n' < "$REMOTES/VERSION")
    else one_version=7.0.0; say "no $REMOTES/VERSION: assuming OpenNebula 7 (set --one-version)"; fi
  fi
  [[ "$one_version" =~ ^[0-9]+\.[0-9]+ ]] || die "bad OpenNebula version '$one_version'"
}

check_prerequisites() {
  local ok=1 v
  if command -v node >/dev/null; then
    v=$(node -p 'process.versions.node')
    version_ge "$v" 18.19 || { echo "  missing: Node.js >= 18.19 on the front-end (found $v)"; ok=0; }
  else
    echo "  missing: Node.js >= 18.19 on the front-end (the elasticity manager and planner run on it)"; ok=0
  fi
  [ -d "$REMOTES" ] || { echo "  missing: OpenNebula remotes tree $REMOTES (--remotes / --root)"; ok=0; }
  [ -d "$REMOTES/vmm/kvm" ] || echo "  note: no stock kvm driver in $REMOTES/vmm/kvm: actions cloudvamp does not replace (disk/NIC hot-plug, snapshots) will be missing"
  if [ $single = 1 ]; then
    echo "  hosts need: libvirt (libvirt0) for the probes and actions (they bring their own Node runtime);"
    echo "              check a host with: ssh HOST virsh -c qemu:///system version"
  else
    echo "  hosts need: Node.js >= 18.19 and libvirt (libvirt0) for the probes and actions (or use --single-binary);"
    echo "              check a host with: ssh HOST node -v && ssh HOST virsh -c qemu:///system version"
  fi
  [ $ok = 1 ]
}

# --- manifest: every path we created, so uninstall removes exactly those ---
declare -a created=()
changed=0
record() { created+=("$1"); }

# mkdir -p that records every directory it creates, so uninstall removes
# exactly those (and only while they are empty)
make_dirs() { # dir
  local d=$1 missing=()
  while [ ! -d "$d" ]; do missing=("$d" "${missing[@]}"); d=$(dirname "$d"); done
  for d in "${missing[@]}"; do mkdir "$d"; record "$d/"; changed=1; done
  return 0
}

install_file() { # src dest mode
  local src=$1 dest=$2 m=$3
  if [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "$m" ]; then
    record "$dest"; return 0
  fi
  make_dirs "$(dirname "$dest")"
  install -m "$m" "$src" "$dest.cloudvamp-new"
  mv -f "$dest.cloudvamp-new" "$dest"
  record "$dest"; changed=1
}

install_link() { # target dest
  local target=$1 dest=$2
  if [ -L "$dest" ] && [ "$(readlink "$dest")" = "$target" ]; then record "$dest"; return 0; fi
  [ -e "$dest" ] && [ ! -L "$dest" ] && return 0   # a real file of ours is already there
  make_dirs "$(dirname "$dest")"
  ln -sfn "$target" "$dest"
  record "$dest"; changed=1
}

install_dir() { # dest
  make_dirs "$1"
  record "$1/"
}

# A config file is written once, never overwritten: it is the operator's.
install_config() { # dest mode content
  local dest=$1 m=$2 content=$3
  if [ ! -e "$dest" ]; then
    make_dirs "$(dirname "$dest")"
    printf '%s\n' "$content" > "$dest"
    chmod "$m" "$dest"
    changed=1
  fi
  # not in the manifest: uninstall removes it only while it holds our defaults
}

# Every file of dist/<from> into <to>, keeping the layout (directories included).
install_tree() { # from to
  local from=$1 to=$2 f rel
  install_dir "$to"
  while IFS= read -r -d '' f; do
    rel=${f#"$from"/}
    if [ -d "$f" ]; then install_dir "$to/$rel"
    else install_file "$f" "$to/$rel" "$(stat -c %a "$f")"; fi
  done < <(find "$from" -mindepth 1 -print0 | sort -z)
}

# Links <ours>/<x> -> <relative stock>/<x> for every stock file we do not replace.
link_stock() { # stock_dir our_dir relative_prefix stock_rel_root
  local stock=$1 ours=$2 rel=$3 stock_rel=$4 f name skip r
  [ -d "$stock" ] || return 0
  for f in "$stock"/*; do
    [ -e "$f" ] || continue
    name=$(basename "$f")
    [ -d "$f" ] && continue
    skip=0
    for r in "${replaced_stock[@]}"; do [ "$stock_rel/$name" = "$r" ] && skip=1; done
    [ $skip = 1 ] && continue
    install_link "$rel/$name" "$ours/$name"
  done
}

default_probe_conf='# cloudvamp IM probes (synced to the hosts with the remotes tree)
# O: share of the memory borrowed from running VMs added to TOTALMEMORY (0..1)
OVERCOMMIT=1.0
# ceiling: TOTALMEMORY at most this many times the physical memory (0: none)
OVERCOMMIT_MAX_RATIO=4
LIBVIRT_URI=qemu:///system'

default_vmm_conf='# cloudvamp VMM actions (synced to the hosts with the remotes tree)
LIBVIRT_URI=qemu:///system
QEMU_PROTOCOL=qemu+ssh
SHUTDOWN_TIMEOUT=180
FORCE_DESTROY=yes'

default_cvem_conf="# cloudvamp elasticity manager (cloudvamp-cvem); mode 0600: holds credentials
# ONE_XMLRPC=http://localhost:2633/RPC2
# ONE_AUTH: path of a one_auth file (one line user:password, mode 600)
# ONE_AUTH=/var/lib/one/.one/one_auth
STATE_FILE=/var/lib/one/cloudvamp/cvem-state.json
# the VMM driver's config: the manager never plans below its MEMORY_FLOOR_MIB
VMM_CONFIG=${remotes%/}/etc/vmm/cloudvamp/cloudvamp.conf"

unit_text() {
  cat <<EOF
[Unit]
Description=cloudvamp elasticity manager (automatic memory oversubscription for OpenNebula)
After=network-online.target opennebula.service
Wants=network-online.target

[Service]
Type=simple
User=oneadmin
ExecStart=/usr/bin/env node $remotes_free_bin/cloudvamp-cvem run --config $etc/cloudvamp/cvem.conf
# SIGTERM lets the current step finish; the state file keeps every VM's original size
KillSignal=SIGTERM
TimeoutStopSec=300
Restart=on-failure
RestartSec=10

[Install]
WantedBy=multi-user.target
EOF
}
remotes_free_bin=/usr/lib/one/cloudvamp/bin

vm_mad_stanza() {
  cat <<EOF
VM_MAD = [
    NAME           = "cloudvamp",
    SUNSTONE_NAME  = "CloudVAMP",
    EXECUTABLE     = "one_vmm_exec",
    ARGUMENTS      = "-t 15 -r 0 cloudvamp -p",
    DEFAULT        = "vmm_exec/vmm_exec_kvm.conf",
    TYPE           = "$vm_type",
    KEEP_SNAPSHOTS = "yes",
    LIVE_RESIZE    = "yes",
    SUPPORT_SHAREABLE = "yes",
    IMPORTED_VMS_ACTIONS = "terminate, terminate-hard, hold, release, suspend, resume, delete, reboot, reboot-hard, resched, unresched, disk-attach, disk-detach, nic-attach, nic-detach, snapshot-create, snapshot-delete, resize"
]
EOF
}

im_mad_stanza() {
  if version_ge "$one_version" 5.12; then
    echo 'IM_MAD = [ NAME = "cloudvamp", SUNSTONE_NAME = "CloudVAMP", EXECUTABLE = "one_im_ssh", ARGUMENTS = "-r 3 -t 15 -w 90 cloudvamp", THREADS = 0 ]'
  else
    echo 'IM_MAD = [ NAME = "cloudvamp", EXECUTABLE = "one_im_ssh", ARGUMENTS = "-r 3 -t 15 cloudvamp-legacy" ]'
  fi
}

block() { printf '%s\n%s\n%s\n' "$BEGIN_MARK" "$1" "$END_MARK"; }

has_block() { [ -f "$1" ] && grep -qxF "$BEGIN_MARK" "$1"; }

backup() { cp -p "$1" "$1.cloudvamp-backup.$(date +%Y%m%d%H%M%S)"; say "backup of $1 written"; }

add_block() { # file text
  local f=$1
  [ -f "$f" ] || { say "$f not found: add this to it by hand:"; block "$2"; return 0; }
  has_block "$f" && return 0
  backup "$f"
  printf '\n%s\n' "$(block "$2")" >> "$f"
  changed=1; say "added the cloudvamp stanza to $f"
}

remove_block() { # file
  local f=$1
  has_block "$f" || return 0
  backup "$f"
  # drops the block and the one blank line add_block put before it, so the
  # file comes back byte for byte
  awk -v b="$BEGIN_MARK" -v e="$END_MARK" '
    $0 == b { skip = 1; pending = 0; next }
    skip { if ($0 == e) skip = 0; next }
    { if (pending) print held; pending = 0
      if ($0 == "") { held = $0; pending = 1 } else print }
    END { if (pending) print held }' "$f" > "$f.cloudvamp-new"
  cat "$f.cloudvamp-new" > "$f" && rm -f "$f.cloudvamp-new"
  changed=1; say "removed the cloudvamp stanza from $f"
}

# monitord.conf: SYSTEM_HOST inside PROBES_PERIOD carries borrowed memory to
# the scheduler; OpenNebula's 600 s default would hide a shrink for 10 minutes.
set_system_period() { # file
  local f=$1
  [ -f "$f" ] || return 0
  grep -q '# cloudvamp: was ' "$f" && return 0
  local line='^([[:space:]]*SYSTEM_HOST[[:space:]]*=[[:space:]]*)([0-9]+)([[:space:]]*,?)$'
  grep -qE "$line" "$f" || { say "no plain 'SYSTEM_HOST = N,' line in $f: set PROBES_PERIOD/SYSTEM_HOST = $system_period by hand"; return 0; }
  sed -i -E "s/$line/\1$system_period\3 # cloudvamp: was \2/" "$f"
  changed=1; say "SYSTEM_HOST probe period set to $system_period s in $f"
}

restore_system_period() { # file
  local f=$1
  [ -f "$f" ] && grep -q '# cloudvamp: was ' "$f" || return 0
  sed -i -E "s/^([[:space:]]*SYSTEM_HOST[[:space:]]*=[[:space:]]*)[0-9]+([[:space:]]*,?) # cloudvamp: was ([0-9]+)$/\1\3\2/" "$f"
  changed=1; say "SYSTEM_HOST probe period restored in $f"
}

conf_stanzas() {
  local oned="$ETC/oned.conf" monitord="$ETC/monitord.conf"
  if [ $apply_conf = 1 ]; then
    if ! version_ge "$one_version" 5.12; then
      # before 5.12 oned itself runs the IM drivers
      add_block "$oned" "$(vm_mad_stanza)
$(im_mad_stanza)"
    else
      add_block "$oned" "$(vm_mad_stanza)"
      if [ ! -f "$monitord" ]; then
        say "$monitord not found: add by hand:"; block "$(im_mad_stanza)"
      elif ! has_block "$monitord" || ! grep -q '# cloudvamp: was ' "$monitord"; then
        backup "$monitord"
        if ! has_block "$monitord"; then
          printf '\n%s\n' "$(block "$(im_mad_stanza)")" >> "$monitord"
          changed=1; say "added the cloudvamp IM_MAD to $monitord"
        fi
        set_system_period "$monitord"
      fi
    fi
    [ $changed = 0 ] || say "restart OpenNebula to load the drivers: systemctl restart opennebula"
  else
    echo
    echo "Add to $etc/oned.conf:"
    vm_mad_stanza
    if version_ge "$one_version" 5.12; then
      echo; echo "Add to $etc/monitord.conf:"; im_mad_stanza
      echo; echo "and in its PROBES_PERIOD set SYSTEM_HOST = $system_period (borrowed memory reaches the scheduler only"
      echo "through host/system; on 7.0+ 'kill -USR1 \$(cat /var/tmp/one_db/.monitor_client.pid)' on a host forces it now)."
    else
      echo; echo "and, OpenNebula $one_version being older than 5.12, also to oned.conf:"; im_mad_stanza
    fi
    echo; echo "(or re-run with --apply-conf to add them, with a backup)"
  fi
}

do_install() {
  [ $build = 0 ] || [ -d "$dist/remotes" ] || {
    say "building the executables"
    (cd "$here" && { [ -d node_modules ] || npm install --no-save --no-audit --no-fund --loglevel=error; } && npm run --silent "build$([ $single = 0 ] || echo :sea)")
  }
  [ -d "$dist/remotes" ] || die "no built executables in $dist (run npm run build$([ $single = 0 ] || echo :sea), or drop --no-build)"
  [ -d "$REMOTES" ] || die "no OpenNebula remotes tree at $REMOTES (use --remotes, or --root for a staging dir)"
  detect_version

  install_dir "$CONF_DIR"
  install_tree "$dist/remotes/im/cloudvamp-probes.d" "$REMOTES/im/cloudvamp-probes.d"
  install_tree "$dist/remotes/im/cloudvamp-legacy-probes.d" "$REMOTES/im/cloudvamp-legacy-probes.d"
  install_tree "$dist/remotes/vmm/cloudvamp" "$REMOTES/vmm/cloudvamp"
  # --single-binary: the Node runtime the wrappers above exec
  [ ! -d "$dist/remotes/cloudvamp-runtime" ] || install_tree "$dist/remotes/cloudvamp-runtime" "$REMOTES/cloudvamp-runtime"
  # monitord plumbing: the stock agent (kvm.d) runs our probe categories
  install_dir "$REMOTES/im/cloudvamp.d"
  link_stock "$REMOTES/im/kvm.d" "$REMOTES/im/cloudvamp.d" ../kvm.d im/kvm.d
  local cat
  for cat in host/system host/monitor host/beacon vm/status vm/monitor vm/snapshot vm/execution; do
    install_dir "$REMOTES/im/cloudvamp-probes.d/$cat"
    link_stock "$REMOTES/im/kvm-probes.d/$cat" "$REMOTES/im/cloudvamp-probes.d/$cat" "../../../kvm-probes.d/$cat" "im/kvm-probes.d/$cat"
  done
  link_stock "$REMOTES/vmm/kvm" "$REMOTES/vmm/cloudvamp" ../kvm vmm/kvm
  # the linked stock probes read their configuration from etc/im/<their probe
  # dir's name>/ (pci.rb: etc/im/cloudvamp-probes.d/pci.conf, and exits when it
  # is missing, putting the host in ERROR): the stock files, linked
  install_dir "$REMOTES/etc/im/cloudvamp-probes.d"
  link_stock "$REMOTES/etc/im/kvm-probes.d" "$REMOTES/etc/im/cloudvamp-probes.d" ../kvm-probes.d etc/im/kvm-probes.d
  install_config "$REMOTES/etc/im/cloudvamp-probes.d/cloudvamp.conf" 644 "$default_probe_conf"
  install_config "$REMOTES/etc/vmm/cloudvamp/cloudvamp.conf" 644 "$default_vmm_conf"

  # front-end tools and the elasticity manager's service
  if [ -d "$dist/bin" ]; then
    install_dir "$BIN_DIR"
    install_tree "$dist/bin" "$BIN_DIR/bin"
    local tool
    for tool in cloudvamp cloudvamp-cvem cloudvamp-plan; do
      [ -f "$dist/bin/$tool" ] && install_link "$remotes_free_bin/$tool" "$(R /usr/bin)/$tool"
    done
  fi
  install_config "$CONF_DIR/cvem.conf" 600 "$default_cvem_conf"
  local unit_tmp; unit_tmp=$(mktemp)
  unit_text > "$unit_tmp"
  install_file "$unit_tmp" "$UNIT" 644
  rm -f "$unit_tmp"

  if [ "$root" = / ] && id oneadmin >/dev/null 2>&1; then
    chown -R oneadmin:oneadmin "$REMOTES/im/cloudvamp-probes.d" "$REMOTES/im/cloudvamp-legacy-probes.d" "$REMOTES/vmm/cloudvamp" "$REMOTES/im/cloudvamp.d" "$CONF_DIR"
    [ ! -d "$REMOTES/cloudvamp-runtime" ] || chown -R oneadmin:oneadmin "$REMOTES/cloudvamp-runtime"
  fi

  conf_stanzas
  write_manifest
  if [ $changed = 0 ]; then say "already installed, nothing changed"
  else
    say "installed into $REMOTES (OpenNebula $one_version)"
    # oned syncs as oneadmin; 7.4's onehost refuses to run as root
    say "next, as oneadmin: onehost sync --force, then onehost create HOST -i cloudvamp -v cloudvamp"
    [ "$root" = / ] && command -v systemctl >/dev/null && systemctl daemon-reload 2>/dev/null || true
  fi
}

write_manifest() {
  local tmp="$MANIFEST.tmp" old=""
  [ -f "$MANIFEST" ] && old=$(cat "$MANIFEST")
  local new; new=$( { [ -n "$old" ] && printf '%s\n' "$old"; printf '%s\n' "${created[@]}"; } | sed "s|^${root%/}||" | sort -u)
  [ "$new" = "$old" ] && return 0
  printf '%s\n' "$new" > "$tmp" && mv -f "$tmp" "$MANIFEST"
}

# Configuration files are the operator's: removed only while they still hold our defaults.
remove_config_if_default() { # path default
  [ -f "$1" ] || return 0
  if [ "$(cat "$1")" = "$2" ]; then rm -f "$1"; changed=1
  else say "kept $1 (you edited it)"; fi
}

do_uninstall() {
  [ -f "$MANIFEST" ] || { say "no manifest at $MANIFEST: nothing installed by install.sh here"; return 0; }
  detect_version
  say "make sure no VM is left ballooned: cloudvamp restore-all (before this)"
  remove_block "$ETC/oned.conf"
  remove_block "$ETC/monitord.conf"
  restore_system_period "$ETC/monitord.conf"
  remove_config_if_default "$REMOTES/etc/im/cloudvamp-probes.d/cloudvamp.conf" "$default_probe_conf"
  remove_config_if_default "$REMOTES/etc/vmm/cloudvamp/cloudvamp.conf" "$default_vmm_conf"
  remove_config_if_default "$CONF_DIR/cvem.conf" "$default_cvem_conf"
  local p full
  # files and links first, then directories deepest first (only when empty:
  # anything an operator added there stays)
  while IFS= read -r p; do
    case "$p" in */|"") continue ;; esac
    full=$(R "$p")
    if [ -e "$full" ] || [ -L "$full" ]; then rm -f "$full"; changed=1; fi
  done < "$MANIFEST"
  while IFS= read -r p; do
    full=$(R "${p%/}")
    if [ -d "$full" ] && rmdir "$full" 2>/dev/null; then changed=1; fi
  done < <(grep '/$' "$MANIFEST" | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-)
  rm -f "$MANIFEST"
  rmdir "$CONF_DIR" 2>/dev/null || true
  if [ $changed = 0 ]; then say "nothing to remove"; else say "uninstalled"; fi
}

case $mode in
  check) check_prerequisites && say "prerequisites met" ;;
  install) check_prerequisites >/dev/null || check_prerequisites || die "prerequisites missing (see above)"; do_install ;;
  uninstall) do_uninstall ;;
esac
