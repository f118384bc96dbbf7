import { execa } from 'execa';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileStateStore, lockFileOf, lockStateFile, readStateFile, writeStateFile } from '../../../lib/io/state-file';
import { decayedPeak, emptyState, nextPeak, parseState, reconcile } from '../../../lib/elasticity/state';
import { seededRandom } from '../../../lib/random';
import { cluster, GiB, host, vm } from '../elasticity/builders';

const tmp = () => mkdtemp(path.join(tmpdir(), 'cvem-state-'));

describe('state model', () => {
  it('records originals on first sight, keeps them, forgets vanished VMs', () => {
    const s1 = reconcile(emptyState(), cluster([vm(1, { originalKiB: 4 * GiB }), vm(2)], [host(0, 64 * GiB)]), 10);
    expect(s1.added).toEqual([1, 2]);
    // VM 1 was shrunk (resize mode changes TEMPLATE/MEMORY): the original stays.
    const s2 = reconcile(s1.state, cluster([vm(1, { originalKiB: 1 * GiB })], [host(0, 64 * GiB)]), 20);
    expect(s2.state.vms['1']).toMatchObject({ originalKiB: 4 * GiB, firstSeenAt: 10 });
    expect(s2.forgotten).toEqual([2]);
    expect(s2.state.vms['2']).toBeUndefined();
  });

  it('loads a state file written before the usage peak existed, and drops a malformed peak instead of refusing the file', () => {
    const old = parseState('{"version":1,"vms":{"3":{"originalKiB":4194304,"firstSeenAt":1,"strikes":0,"lastChangeAt":5}},"hosts":{}}');
    expect(old.vms['3']).toEqual({ originalKiB: 4194304, firstSeenAt: 1, strikes: 0, lastChangeAt: 5 });
    const bad = parseState('{"version":1,"vms":{"3":{"originalKiB":4194304,"firstSeenAt":1,"strikes":0,"peak":{"kib":"x"}}},"hosts":{}}');
    expect(bad.vms['3']).toEqual({ originalKiB: 4194304, firstSeenAt: 1, strikes: 0 });
    const good = parseState('{"version":1,"vms":{"3":{"originalKiB":4194304,"firstSeenAt":1,"strikes":0,"peak":{"kib":1000,"at":7}}},"hosts":{}}');
    expect(good.vms['3']!.peak).toEqual({ kib: 1000, at: 7 });
  });

  it('the peak decays by half every half-life and jumps to a higher use at once', () => {
    expect(decayedPeak({ kib: 1000, at: 0 }, 3_600_000, 7_200_000)).toBe(250);
    expect(decayedPeak({ kib: 1000, at: 0 }, 0, 7_200_000)).toBeUndefined();
    expect(nextPeak({ kib: 1000, at: 0 }, 400, 3_600_000, 3_600_000)).toEqual({ kib: 500, at: 3_600_000 });
    expect(nextPeak({ kib: 1000, at: 0 }, 900, 3_600_000, 3_600_000)).toEqual({ kib: 900, at: 3_600_000 });
    expect(nextPeak(undefined, 900, 3_600_000, 5)).toEqual({ kib: 900, at: 5 });
    expect(nextPeak(undefined, 900, 0, 5)).toBeUndefined();
  });

  it.each([
    ['not JSON', '{"version":1,'],
    ['wrong version', '{"version":2,"vms":{},"hosts":{}}'],
    ['a VM without original', '{"version":1,"vms":{"3":{"strikes":0,"firstSeenAt":1}},"hosts":{}}'],
  ])('refuses a corrupt file loudly (%s)', (_, text) => {
    expect(() => parseState(text)).toThrow(/will not start over it/);
  });
});

describe('state file', () => {
  it('round-trips, absent file = empty, corrupt file throws instead of resetting', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'state.json');
    expect(await readStateFile(file)).toEqual(emptyState());
    const state = reconcile(emptyState(), cluster([vm(7)], [host(0, GiB)]), 5).state;
    await writeStateFile(file, state);
    expect(await readStateFile(file)).toEqual(state);
    await writeFile(file, '{"version":1,"vms":{"7":');
    await expect(readStateFile(file)).rejects.toThrow(/state\.json: the CVEM state file is unreadable/);
  });

  it('only the lock holder removes temp files left by a killed writer; a reader without the lock leaves them', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'state.json');
    await writeFile(`${file}.tmp-123-abc`, 'half');
    const store = fileStateStore(file);
    // status and the dry runs load without the lock: the temp may be a running daemon's write in flight.
    await store.load();
    expect(await readdir(dir)).toEqual(['state.json.tmp-123-abc']);
    const release = await store.lock!();
    expect(await readdir(dir)).toEqual(['state.json.lock']);
    await release();
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('single-instance lock', () => {
  it('holds the pid; a live holder is refused by name; release removes only our own lock', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'state.json');
    const release = await lockStateFile(file, 4242, () => true);
    expect(await readFile(lockFileOf(file), 'utf8')).toBe('4242\n');
    await expect(lockStateFile(file, 5151, (pid) => pid === 4242)).rejects.toMatchObject({
      kind: 'unsafe',
      message: expect.stringMatching(/^another cloudvamp-cvem \(pid 4242\) is using the state file .*state\.json: stop it first.*remove .*state\.json\.lock$/),
    });
    await release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('a lock left by a dead process is taken over', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'state.json');
    // a pid that surely ran and is gone: a child that has exited
    const gone = (await execa('node', ['-e', 'process.stdout.write(String(process.pid))'])).stdout;
    await writeFile(lockFileOf(file), `${gone}\n`);
    const release = await lockStateFile(file);
    expect(await readFile(lockFileOf(file), 'utf8')).toBe(`${process.pid}\n`);
    // an empty or garbled lock (written by hand, a full disk) is stale too
    await release();
    await writeFile(lockFileOf(file), '');
    await (await lockStateFile(file))();
    expect(await readdir(dir)).toEqual([]);
  });

  it('a lock that is no longer ours is left alone on release', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'state.json');
    const release = await lockStateFile(file, 4242, () => false);
    await writeFile(lockFileOf(file), '777\n'); // taken over after we were thought dead
    await release();
    expect(await readFile(lockFileOf(file), 'utf8')).toBe('777\n');
  });
});
