// Global set-up of the `opennebula` vitest project: checks this machine can
// run it (never skips: a missing piece fails the run with the fix), builds
// the guest if needed, installs OpenNebula 7.4.0 (scripts/setup-opennebula.sh),
// and takes this tier's host set. Nothing is started here (vitest runs every
// project's global set-up before any test, and oned would compete with the
// unit tests for the CPU): the first test file starts the cloud
// (test/opennebula/cloud.ts). The teardown stops oned, the hosts' sshd and
// monitord clients, and the hosts, then appends the tier's wall-clock time to
// bench/results/opennebula.txt when the claim rewrote that file in this run
// (README's duration of the tier is read there): this set-up's own work plus
// the test files' from the first one starting the cloud, never the other
// projects' tests that run in between.
import { appendFile, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type {} from 'vitest';
import { checkPrerequisites, ensureGuestBuilt, lockHostSet } from '../harness/index.js';
import { locateOpenNebula, oneDown, oneHostsDown, REPO, STATE_DIR } from '../harness/opennebula.js';
import { TIER_STARTED } from './cloud.js';

const RESULTS = path.join(REPO, 'bench/results/opennebula.txt');

/** `setupMs`: this global set-up's own work; the test files' part starts at TIER_STARTED (written by ensureCloud). */
async function recordDuration(setupMs: number): Promise<void> {
  const filesStarted = Number((await readFile(TIER_STARTED, 'utf8').catch(() => '')).trim());
  const written = await stat(RESULTS).catch(() => undefined);
  if (!(filesStarted > 0) || !written || written.mtimeMs < filesStarted) return;
  // the test files named on the command line (vitest run --project opennebula [file...]); none: every file
  const files = process.argv.filter((a) => a.endsWith('.test.ts')).map((a) => path.basename(a));
  const filesS = (Date.now() - filesStarted) / 1000;
  const setupS = setupMs / 1000;
  await appendFile(
    RESULTS,
    `tier run: ${(setupS + filesS).toFixed(0)} s wall-clock of the opennebula tier alone: its global set-up ${setupS.toFixed(0)} s + ${filesS.toFixed(0)} s from the first test file starting the cloud (hosts, oned) to teardown (${files.length > 0 ? files.join(', ') : 'every test file of the tier'}; before stopping oned and the hosts; other projects' tests not counted)\n`,
  );
}

export default async function setup(): Promise<() => Promise<void>> {
  const started = Date.now();
  await rm(TIER_STARTED, { force: true });
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
  const setupMs = Date.now() - started;
  return async () => {
    try {
      await recordDuration(setupMs).catch((err: unknown) => console.error(`bench/results/opennebula.txt: ${String(err)}`));
      await oneDown();
      await oneHostsDown();
    } finally {
      await unlock();
    }
  };
}
