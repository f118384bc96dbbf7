#!/bin/sh
# cloudvamp guest memory reporter (POSIX sh; for guest images).
# Publishes the guest's memory figures to OneGate so cloudvamp-cvem can size
# the VM without an agent: MEM_TOTAL (MemTotal), MEM_FREE (MemAvailable) and
# MEM_STAMP (epoch seconds), in KiB, into the VM's USER_TEMPLATE
# (PUT $ONEGATE_ENDPOINT/vm, PROTOCOL.md §5). Needs CONTEXT=[TOKEN="YES"].
#
#   onegate-memory-reporter.sh --once          publish once and exit
#   onegate-memory-reporter.sh [--interval S]  publish every S seconds (default 10)
#
# Context: ONEGATE_ENDPOINT and VMID from $ONE_ENV (default
# /run/one-context/one_env, else the environment), the token from $ONE_TOKEN
# (default /run/one-context/token.txt, else token.txt on the context CD).
# MEMINFO overrides /proc/meminfo (tests).
set -u

once=no
interval=10
while [ $# -gt 0 ]; do
  case "$1" in
    --once) once=yes ;;
    --interval) shift; interval="${1:-10}" ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "onegate-memory-reporter: unknown argument $1 (use --once or --interval S)" >&2; exit 2 ;;
  esac
  shift
done

ONE_ENV="${ONE_ENV:-/run/one-context/one_env}"
# shellcheck disable=SC1090
[ -r "$ONE_ENV" ] && . "$ONE_ENV"
MEMINFO="${MEMINFO:-/proc/meminfo}"

token_file() {
  for f in "${ONE_TOKEN:-}" /run/one-context/token.txt /mnt/context/token.txt /var/run/one-context/token.txt; do
    [ -n "$f" ] && [ -r "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}

publish() {
  endpoint="${ONEGATE_ENDPOINT:-}"
  vmid="${VMID:-}"
  if [ -z "$endpoint" ] || [ -z "$vmid" ]; then
    echo "onegate-memory-reporter: ONEGATE_ENDPOINT or VMID unknown; is the VM contextualized with TOKEN=YES?" >&2
    return 1
  fi
  tf=$(token_file) || { echo "onegate-memory-reporter: no OneGate token file (token.txt); set TOKEN=YES in CONTEXT" >&2; return 1; }
  token=$(cat "$tf")
  total=$(awk '/^MemTotal:/ {print $2}' "$MEMINFO")
  avail=$(awk '/^MemAvailable:/ {print $2}' "$MEMINFO")
  if [ -z "$avail" ]; then
    # Kernels before 3.14 have no MemAvailable: approximate as CloudVAMP did.
    avail=$(awk '/^(MemFree|Buffers|Cached):/ {s += $2} END {print s}' "$MEMINFO")
  fi
  if [ -z "$total" ]; then echo "onegate-memory-reporter: cannot read MemTotal from $MEMINFO" >&2; return 1; fi
  body="MEM_TOTAL = $total
MEM_FREE = $avail
MEM_STAMP = $(date +%s)"
  # The token never goes on a command line, where every user of the guest
  # would read it in ps: curl reads the headers from stdin (printf is a shell
  # builtin), wget from a private wgetrc named in its environment.
  if command -v curl >/dev/null 2>&1; then
    printf 'X-ONEGATE-TOKEN: %s\nX-ONEGATE-VMID: %s\n' "$token" "$vmid" |
      curl -fsS -X PUT --max-time 10 -H @- --data-binary "$body" "$endpoint/vm" >/dev/null
  elif command -v wget >/dev/null 2>&1; then
    # busybox wget has no --method: send the body as a PUT through the full wget
    # when available, else fail clearly.
    if wget --help 2>&1 | grep -q -- '--method'; then
      rc=$(umask 077 && mktemp) || { echo "onegate-memory-reporter: cannot create a temporary file for the token" >&2; return 1; }
      printf 'header = X-ONEGATE-TOKEN: %s\nheader = X-ONEGATE-VMID: %s\n' "$token" "$vmid" >"$rc"
      WGETRC="$rc" wget -q -O /dev/null -T 10 --method=PUT --body-data="$body" "$endpoint/vm"
      status=$?
      rm -f "$rc"
      return $status
    else
      echo "onegate-memory-reporter: this wget cannot PUT; install curl" >&2
      return 1
    fi
  else
    echo "onegate-memory-reporter: needs curl or wget" >&2
    return 1
  fi
}

if [ "$once" = yes ]; then
  publish
  exit $?
fi
trap 'exit 0' TERM INT
while :; do
  publish || true
  sleep "$interval" &
  wait $!
done
