// Global set-up of the `opennebula` vitest project: checks this machine can
// run it (never skips: a missing piece fails the run with the fix), builds
// the guest if needed, installs OpenNebula 7.4.0 (scripts/setup-opennebula.sh),
// and takes this tier's host set. Nothing is started here (vitest runs every
// project's global set-up before any test, and oned would compete with the
// unit tests for the CPU): the first test file starts the cloud
// (test/opennebula/cloud.ts). The teardown stops oned, the hosts' sshd and
// monitord clients, and the hosts.
import type {} from 'vitest';
import { checkPrerequisites, ensureGuestBuilt } from '../harness/index.js';
import { locateOpenNebula, lockHostSet, oneDown, oneHostsDown } from '../harness/opennebula.js';

export default async function setup(): Promise<() => Promise<void>> {
  await checkPrerequisites();
  await ensureGuestBuilt();
  await locateOpenNebula();
  const unlock = await lockHostSet();
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
      await oneDown();
      await oneHostsDown();
    } finally {
      await unlock();
    }
  };
}
