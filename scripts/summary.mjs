#!/usr/bin/env node
// Reads vitest's JSON report and prints the closing line CI reads:
// "N passed, N failed" (", N skipped" when any were skipped).
import { readFileSync } from 'node:fs';

const file = process.argv[2];
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (error) {
  process.stderr.write(`summary: cannot read the test report ${file}: ${error.message}\n`);
  process.stdout.write('0 passed, 1 failed\n');
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
// A test file that failed to load counts as a failure even though it ran no test.
const failedSuites = (report.testResults ?? []).filter((r) => r.status === 'failed' && (r.assertionResults ?? []).length === 0).length;
const failed = (report.numFailedTests ?? 0) + failedSuites;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
