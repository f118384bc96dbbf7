// The host-set lock (lockHostSet): one flock per set, and CLOUDVAMP_TEST_LOCKED
// kept while any set's lock is held, since the kvm and opennebula global
// set-ups hold their two sets' locks in one process and hosts.sh reads it.
// Runs flock(1) on files in a temporary directory; no hosts, no guests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HarnessError, lockHostSet } from './index.js';

describe('lockHostSet', () => {
  let dir: string;
  const before = process.env.CLOUDVAMP_TEST_LOCKED;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cv-lock-'));
    delete process.env.CLOUDVAMP_TEST_LOCKED;
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
    if (before === undefined) delete process.env.CLOUDVAMP_TEST_LOCKED;
    else process.env.CLOUDVAMP_TEST_LOCKED = before;
  });

  it('keeps CLOUDVAMP_TEST_LOCKED until the last of two sets is released, whichever goes first, across module instances', async () => {
    // vitest loads each project's global set-up in its own module graph: the kvm
    // set's lock and the opennebula set's come from two instances of index.ts
    const secondInstance = './index.js?instance=opennebula';
    const other = (await import(/* @vite-ignore */ secondInstance)) as typeof import('./index.js');
    expect(other.lockHostSet).not.toBe(lockHostSet);
    for (const order of [
      [0, 1],
      [1, 0],
    ]) {
      const releases = [await lockHostSet(path.join(dir, 'kvm'), 'kvm'), await other.lockHostSet(path.join(dir, 'one'), 'opennebula')];
      expect(process.env.CLOUDVAMP_TEST_LOCKED).toBe('2');
      await releases[order[0]!]!();
      expect(process.env.CLOUDVAMP_TEST_LOCKED).toBe('1');
      // a second call of the same release must not count as the other set's
      await releases[order[0]!]!();
      expect(process.env.CLOUDVAMP_TEST_LOCKED).toBe('1');
      await releases[order[1]!]!();
      expect(process.env.CLOUDVAMP_TEST_LOCKED).toBeUndefined();
    }
  });

  it("refuses a set whose lock is held, naming the lock file and the tier, and takes it once it is free", async () => {
    const state = path.join(dir, 'set');
    const release = await lockHostSet(state, 'kvm');
    const refused = lockHostSet(state, 'opennebula', 1000);
    await expect(refused).rejects.toThrow(HarnessError);
    await expect(refused).rejects.toThrow(`could not lock ${state}.lock (flock exit 1): another opennebula test run holds it`);
    await release();
    const again = await lockHostSet(state, 'opennebula', 1000);
    await again();
    expect(process.env.CLOUDVAMP_TEST_LOCKED).toBeUndefined();
  });
});
