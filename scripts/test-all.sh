#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up (idempotent), every vitest
# project including the real-guest tests, then the closing line
# "N passed, N failed" that CI reads.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --with-kvm || { echo "0 passed, 1 failed"; exit 1; }
mkdir -p .cache
rm -f .cache/vitest-report.json
npx vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest-report.json "$@"
status=$?
node scripts/summary.mjs .cache/vitest-report.json
exit $status
