#!/usr/bin/env bash
# The claim against the real OpenNebula 7.4.0: how many VMs of size S a host
# admits before and after cloudvamp balloons its idle guests, and the seconds
# from the balloon change to the pending VM running. Runs the `opennebula`
# tier's claim test (test/opennebula/claim.test.ts), which writes
# bench/results/opennebula.txt; prints that file. About 3 minutes, as root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --with-kvm
npx vitest run --project opennebula test/opennebula/claim.test.ts
cat bench/results/opennebula.txt
