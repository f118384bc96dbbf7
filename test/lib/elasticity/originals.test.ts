// #10 part 1: a VM's original size survives every fault of the state file and
// of oned's copy. Fault tests on a real tmpfs (ENOSPC, read-only), a state
// file deleted / truncated / corrupted between cycles, oned's copy missing or
// disagreeing; the pure merge of the two records is property-tested.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { runCycle, runRestore, type CycleDeps } from '../../../lib/elasticity/cycle';
import { runDaemon, type DaemonDeps } from '../../../lib/elasticity/daemon';
import { runCvem } from '../../../lib/elasticity/command';
import type { LogEvent } from '../../../lib/elasticity/ports';
import { fileStateStore, readStateFile } from '../../../lib/io/state-file';
import { emptyState, mergeOriginal } from '../../../lib/elasticity/state';
import { config, GiB, MiB } from './builders';
import { FakeCloud, MemoryStore } from './fake-cloud';

const T0 = 1_700_000_000_000;
const mounts: string[] = [];

/** A real tmpfs of `size` (the manager's state directory on a small disk); needs root. */
function tmpfs(size = '64k'): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cvem-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(`these fault tests mount a tmpfs and need root (mount -t tmpfs failed: ${String((error as { stderr?: unknown }).stderr ?? error).trim()}); run the unit tests as root`);
  }
  mounts.push(dir);
  return dir;
}
const remount = (dir: string, mode: 'ro' | 'rw') => execFileSync('mount', ['-o', `remount,${mode}`, dir]);

/** Fills the tmpfs to the last block: the next write gets ENOSPC. */
function fill(dir: string): void {
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) appendFileSync(path.join(dir, 'filler'), chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  }
}

afterAll(() => {
  for (const dir of mounts) {
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Two idle VMs in APPLY_MODE=resize (TEMPLATE/MEMORY is the size cloudvamp set) on a roomy host. */
function cloud(): FakeCloud {
  const c = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 1 * GiB).addVm(2, 0, 2 * GiB, 0.5 * GiB);
  c.resizeMode = true;
  return c;
}

/**
 * Runs the daemon for `cycles` cycles on simulated time; `between(n)` runs
 * before cycle n (n ≥ 1). Returns the logs and the calls each cycle made.
 */
async function daemon(c: FakeCloud, store: DaemonDeps['store'], cycles: number, between: (n: number) => void | Promise<void> = () => undefined) {
  const logs: LogEvent[] = [];
  let clock = T0;
  const stop = new AbortController();
  const callsPerCycle: string[][] = [];
  let mark = c.calls.length;
  let n = 0;
  const deps: DaemonDeps = {
    source: c,
    applier: c,
    migrator: c,
    publisher: c,
    store,
    log: (e) => logs.push(e),
    now: () => clock,
    sleep: async (ms) => {
      callsPerCycle.push(c.calls.slice(mark));
      clock += ms;
      n++;
      if (n >= cycles) return stop.abort();
      await between(n);
      mark = c.calls.length;
    },
  };
  const r = await runDaemon(deps, config(), { signal: stop.signal });
  return { ...r, logs, callsPerCycle };
}

const restoreDeps = (c: FakeCloud, store: CycleDeps['store']): CycleDeps => ({ source: c, applier: c, migrator: c, publisher: c, store, log: () => undefined, now: () => T0 + 3_600_000 });

describe('mergeOriginal (pure): the two records of an original', () => {
  const kib = fc.integer({ min: 1, max: 2 ** 40 });
  const evidence = fc.record(
    {
      stateKiB: kib,
      onedKiB: kib,
      templateMemoryKiB: kib,
      currentKiB: kib,
      cloudvampSetKiB: kib,
      stateLost: fc.boolean(),
    },
    { requiredKeys: ['templateMemoryKiB', 'currentKiB'] },
  );

  it('never below a recorded original; the larger record wins; the result does not depend on which record is which', () => {
    fc.assert(
      fc.property(evidence, (e) => {
        const r = mergeOriginal(e);
        if (e.stateKiB !== undefined || e.onedKiB !== undefined) {
          expect(r.proven).toBe(true);
          if (!r.proven) return;
          expect(r.originalKiB).toBe(Math.max(e.stateKiB ?? 0, e.onedKiB ?? 0));
          const swapped = mergeOriginal({ ...e, stateKiB: e.onedKiB, onedKiB: e.stateKiB });
          expect(swapped).toMatchObject({ proven: true, originalKiB: r.originalKiB });
          // merging the result back in with either record changes nothing (a re-adoption is stable)
          expect(mergeOriginal({ ...e, stateKiB: r.originalKiB })).toMatchObject({ originalKiB: r.originalKiB });
          expect(mergeOriginal({ ...e, onedKiB: r.originalKiB })).toMatchObject({ originalKiB: r.originalKiB });
        }
      }),
    );
  });

  it('with no record anywhere, only an untouched VM is adopted, at its full TEMPLATE/MEMORY; never at a size cloudvamp set', () => {
    fc.assert(
      fc.property(evidence, (withRecords) => {
        const { stateKiB: _s, onedKiB: _o, ...e } = withRecords;
        const r = mergeOriginal(e);
        if (r.proven) {
          expect(e.stateLost).not.toBe(true);
          expect(e.currentKiB).toBe(e.templateMemoryKiB);
          expect(e.cloudvampSetKiB).not.toBe(e.currentKiB);
          expect(r.originalKiB).toBe(e.templateMemoryKiB);
        } else expect(r.reason).toMatch(/original/i);
        if (e.currentKiB !== e.templateMemoryKiB) expect(r.proven).toBe(false);
      }),
    );
  });
});

describe('adoption', () => {
  it("reads oned's copy first: a shrunk VM with CLOUDVAMP_ORIGINAL_MEMORY is adopted at that, not at its current size", async () => {
    const c = cloud();
    c.vms.get(1)!.currentKiB = 1400 * MiB;
    c.vms.get(1)!.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY = 4 * GiB;
    const r = await runCycle(restoreDeps(c, new MemoryStore()), config(), emptyState());
    expect(r.state.vms['1']!.originalKiB).toBe(4 * GiB);
  });

  it('a VM below its TEMPLATE/MEMORY with no record anywhere is reported and left alone', async () => {
    const c = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 100 * MiB);
    c.vms.get(1)!.currentKiB = 2 * GiB; // shrunk by someone, nothing recorded: its original cannot be told
    const logs: LogEvent[] = [];
    const r = await runCycle({ ...restoreDeps(c, new MemoryStore()), log: (e) => logs.push(e) }, config(), emptyState());
    expect(r.state.vms['1']).toBeUndefined();
    expect(r.unproven).toEqual([{ vmId: 1, reason: expect.stringMatching(/2048 MiB of its 4096 MiB/) }]);
    expect(c.calls).toEqual([]);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', event: 'unproven', vmId: 1 }));
  });

  it("a failed write of oned's copy leaves the VM unchanged", async () => {
    const c = cloud();
    c.failOriginalWrites = true;
    const r = await runCycle(restoreDeps(c, new MemoryStore()), config(), emptyState());
    expect(r.failed).toBe(2);
    expect(c.calls.filter((x) => x.startsWith('setMemory'))).toEqual([]);
    expect([c.vms.get(1)!.currentKiB, c.vms.get(2)!.currentKiB]).toEqual([4 * GiB, 2 * GiB]);
  });
});

describe('faults of the state file (real tmpfs)', () => {
  it('ENOSPC after the resizes: nothing more changes until the state is written, logged once per cycle with file and errno; restore-all gives the true originals', async () => {
    const dir = tmpfs();
    const file = path.join(dir, 'state.json');
    const c = cloud();
    let filled = false;
    c.onStep = (what) => {
      if (what.startsWith('setMemory') && !filled) {
        filled = true;
        fill(dir); // the disk fills while the cycle resizes: its closing write fails
      }
    };
    const run = await daemon(c, fileStateStore(file), 4, async (n) => {
      if (n === 2) await rm(path.join(dir, 'filler')); // room again before cycle 3
    });
    // cycle 1 shrank both; cycle 2 (disk still full) changed nothing; cycle 3 wrote the state first
    expect(run.callsPerCycle[0]!.filter((x) => x.startsWith('setMemory'))).toHaveLength(2);
    expect(run.callsPerCycle[1]).toEqual([]);
    const stateLogs = run.logs.filter((l) => l.event === 'state' && l.level === 'error');
    expect(stateLogs).toHaveLength(2);
    for (const l of stateLogs) expect(l.error).toMatch(new RegExp(`${file.replace(/[.]/g, '\\.')}: ENOSPC`));
    expect(run.logs).toContainEqual(expect.objectContaining({ event: 'state', msg: expect.stringMatching(/written again/) }));
    const onDisk = await readStateFile(file);
    expect([onDisk.vms['1']!.originalKiB, onDisk.vms['2']!.originalKiB]).toEqual([4 * GiB, 2 * GiB]);
    expect(c.vms.get(1)!.currentKiB).toBeLessThan(4 * GiB);
    const restored = await runRestore(restoreDeps(c, fileStateStore(file)), config(), onDisk);
    expect(restored.failed).toBe(0);
    expect([c.vms.get(1)!.currentKiB, c.vms.get(2)!.currentKiB]).toEqual([4 * GiB, 2 * GiB]);
  });

  it('a state directory gone read-only: no change at all until it is writable again', async () => {
    const dir = tmpfs();
    const file = path.join(dir, 'state.json');
    const c = cloud();
    const run = await daemon(c, fileStateStore(file), 4, (n) => {
      if (n === 1) {
        remount(dir, 'ro');
        c.vms.get(1)!.demandKiB = 3.5 * GiB; // starving: cycle 2 wants to grow it
      }
      if (n === 3) remount(dir, 'rw');
    });
    expect(run.callsPerCycle[0]!.filter((x) => x.startsWith('setMemory'))).toHaveLength(2);
    // the write before the grow failed: cycles 2 and 3 changed nothing
    expect(run.callsPerCycle[1]).toEqual([]);
    expect(run.callsPerCycle[2]).toEqual([]);
    expect(run.logs.filter((l) => l.event === 'state' && l.level === 'error').map((l) => l.error)).toEqual([
      expect.stringContaining(`${file}: EROFS`),
      expect.stringContaining(`${file}: EROFS`),
    ]);
    expect(run.callsPerCycle[3]!.filter((x) => x.startsWith('setMemory 1'))).toHaveLength(1);
    const onDisk = await readStateFile(file);
    expect([onDisk.vms['1']!.originalKiB, onDisk.vms['2']!.originalKiB]).toEqual([4 * GiB, 2 * GiB]);
  });
});

describe('a state file lost between runs', () => {
  /** One daemon cycle shrinks both VMs and writes the state; returns its path. */
  async function shrunk(c: FakeCloud): Promise<string> {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cvem-orig-')), 'state.json');
    await daemon(c, fileStateStore(file), 1);
    expect(c.vms.get(1)!.currentKiB).toBeLessThan(4 * GiB);
    return file;
  }

  it("deleted: the next daemon adopts from oned's copies, never the shrunk sizes", async () => {
    const c = cloud();
    const file = await shrunk(c);
    await rm(file);
    const run = await daemon(c, fileStateStore(file), 1);
    expect([run.state.vms['1']!.originalKiB, run.state.vms['2']!.originalKiB]).toEqual([4 * GiB, 2 * GiB]);
    await runRestore(restoreDeps(c, fileStateStore(file)), config(), await readStateFile(file));
    expect([c.vms.get(1)!.currentKiB, c.vms.get(2)!.currentKiB]).toEqual([4 * GiB, 2 * GiB]);
  });

  for (const [how, damage] of [
    ['truncated', (text: string) => text.slice(0, text.length / 2)],
    ['corrupted', (text: string) => text.replace(/"originalKiB": \d+/g, '"originalKiB": "x"')],
  ] as const) {
    it(`${how}: the daemon refuses it, restore-all restores from oned's copies and exits 0`, async () => {
      const c = cloud();
      const file = await shrunk(c);
      await writeFile(file, damage(await readFile(file, 'utf8')));
      await expect(daemon(c, fileStateStore(file), 1)).rejects.toThrow(/state file is unreadable/);
      const lines: string[] = [];
      await runCvem(['restore-all'], cvemEnv(c, file, lines));
      expect([c.vms.get(1)!.currentKiB, c.vms.get(2)!.currentKiB]).toEqual([4 * GiB, 2 * GiB]);
      expect(lines.join('\n')).toMatch(/unreadable.*restoring from oned's CLOUDVAMP_ORIGINAL_MEMORY only/);
    });
  }

  it('corrupted and oned has no copy for one VM: restore-all names it, exits non-zero, leaves it as it is', async () => {
    const c = cloud();
    const file = await shrunk(c);
    const shrunk2 = c.vms.get(2)!.currentKiB;
    delete c.vms.get(2)!.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY;
    await writeFile(file, 'garbage');
    await expect(runCvem(['restore-all'], cvemEnv(c, file, []))).rejects.toThrow(/no recorded original size for VM 2\b/);
    expect(c.vms.get(1)!.currentKiB).toBe(4 * GiB);
    expect(c.vms.get(2)!.currentKiB).toBe(shrunk2);
  });
});

describe("oned's copy missing or disagreeing", () => {
  /** A daemon that already shrank VM 1 (state file says 4 GiB), on a cloud whose demand then rises. */
  async function setup(onedCopy: number | undefined) {
    const c = cloud();
    const store = new MemoryStore();
    await daemon(c, store, 1);
    if (onedCopy === undefined) delete c.vms.get(1)!.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY;
    else c.vms.get(1)!.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY = onedCopy;
    c.vms.get(1)!.demandKiB = 3.5 * GiB; // starving: the next cycles grow it
    return { c, store };
  }

  it("missing: written again (and read back) before the next change; restore-all uses the state's", async () => {
    const { c, store } = await setup(undefined);
    c.calls.length = 0;
    const run = await daemon(c, store, 1);
    expect(c.calls.slice(0, 2)).toEqual([`recordOriginal 1 ${4 * GiB}`, expect.stringMatching(/^setMemory 1 /)]);
    await runRestore(restoreDeps(c, store), config(), run.state);
    expect(c.vms.get(1)!.currentKiB).toBe(4 * GiB);
  });

  it("smaller than the state's: never lowers the original; oned's copy is raised before the next change", async () => {
    const { c, store } = await setup(1 * GiB);
    c.calls.length = 0;
    const run = await daemon(c, store, 1);
    expect(run.state.vms['1']!.originalKiB).toBe(4 * GiB);
    expect(c.vms.get(1)!.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY).toBe(4 * GiB);
    expect(run.logs).toContainEqual(expect.objectContaining({ event: 'original', vmId: 1, stateKiB: 4 * GiB, onedKiB: GiB }));
    await runRestore(restoreDeps(c, store), config(), run.state);
    expect(c.vms.get(1)!.currentKiB).toBe(4 * GiB);
  });

  it("larger than the state's: the state's original is raised, never the other way round", async () => {
    const { c, store } = await setup(5 * GiB);
    const run = await daemon(c, store, 1);
    expect(run.state.vms['1']!.originalKiB).toBe(5 * GiB);
    expect(JSON.parse(store.text!).vms['1'].originalKiB).toBe(5 * GiB);
  });
});

function cvemEnv(c: FakeCloud, file: string, lines: string[]) {
  return {
    adapters: async () => ({ source: c, applier: c, migrator: c, publisher: c }),
    store: () => fileStateStore(file),
    now: () => T0 + 7_200_000,
    write: (l: string) => lines.push(l),
    signal: new AbortController().signal,
    configExists: () => false,
  };
}

