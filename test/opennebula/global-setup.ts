// Global set-up of the `opennebula` vitest project: checks this machine can
// run it (never skips: a missing piece fails the run with the fix), builds
// the guest if needed, installs OpenNebula 7.4.0 (scripts/setup-opennebula.sh),
// and takes this tier's host set. Nothing is started here (vitest runs every
// project's global set-up before any test, and oned would compete with the
// unit tests for the CPU): the first test file starts the cloud
// (test/opennebula/cloud.ts). The teardown stops oned, the hosts' sshd and
// monitord clients, and the hosts, then appends the run's wall-clock time to
// bench/results/opennebula.txt when the claim rewrote that file in this run
// (README's duration of the tier is read there).
import { appendFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type {} from 'vitest';
import { checkPrerequisites, ensureGuestBuilt, lockHostSet } from '../harness/index.js';
import { locateOpenNebula, oneDown, oneHostsDown, REPO, STATE_DIR } from '../harness/opennebula.js';

const RESULTS = path.join(REPO, 'bench/results/opennebula.txt');

async function recordDuration(started: number): Promise<void> {
  const written = await stat(RESULTS).catch(() => undefined);
  if (!written || written.mtimeMs < started) return;
  // the test files named on the command line (vitest run --project opennebula [file...]); none: every file
  const files = process.argv.filter((a) => a.endsWith('.test.ts')).map((a) => path.basename(a));
  const seconds = (Date.now() - started) / 1000;
  await appendFile(
    RESULTS,
    `tier run: ${seconds.toFixed(0)} s wall-clock from global set-up to teardown (hosts, oned, ${files.length > 0 ? files.join(', ') : 'every test file of the tier'}; before stopping oned and the hosts)\n`,
  );
}

export default async function setup(): Promise<() => Promise<void>> {
  const started = Date.now();
  await checkPrerequisites();
  await ensureGuestBuilt();
  await locateOpenNebula();
  const unlock = await lockHostSet(STATE_DIR, 'opennebula');
  try {
    // leftovers of an interrupted run
    await oneDown();
    await oneHostsDown();
  } catch (err) {
    await unlock();
    throw err;
  }
  return async () => {
    try {
      await recordDuration(started).catch((err: unknown) => console.error(`bench/results/opennebula.txt: ${String(err)}`));
      await oneDown();
      await oneHostsDown();
    } finally {
      await unlock();
    }
  };
}
