import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PUBLISH_CONCURRENCY } from '../../../lib/elasticity/apply-plan';
import { runCycle, runRestore, type CycleDeps } from '../../../lib/elasticity/cycle';
import { runDaemon } from '../../../lib/elasticity/daemon';
import { timerSleep } from '../../../lib/elasticity/timer';
import { OnedError } from '../../../lib/oned/errors';
import type { LogEvent } from '../../../lib/elasticity/ports';
import { emptyState } from '../../../lib/elasticity/state';
import { config, GiB, MiB } from './builders';
import { FakeCloud, MemoryStore } from './fake-cloud';

const T0 = 1_700_000_000_000;

function harness(cloud: FakeCloud, store = new MemoryStore()) {
  const logs: LogEvent[] = [];
  const deps: CycleDeps = { source: cloud, applier: cloud, migrator: cloud, publisher: cloud, store, log: (e) => logs.push(e), now: () => Date.now() };
  return { deps, logs, store };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => vi.useRealTimers());

describe('one cycle', () => {
  it('dry run prints every decision with its reason and changes nothing', async () => {
    const cloud = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 1 * GiB).addVm(2, 0, 4 * GiB, 2.8 * GiB);
    const { deps, logs, store } = harness(cloud);
    const r = await runCycle(deps, config(), emptyState(), { dryRun: true });
    expect(cloud.calls).toEqual([]);
    expect(store.saves).toBe(0);
    const plans = logs.filter((l) => l.event === 'plan');
    expect(plans).toEqual([
      expect.objectContaining({ vmId: 1, action: 'shrink', dryRun: true, reason: expect.stringMatching(/free share above 35 %/) }),
      expect.objectContaining({ vmId: 2, action: 'none', dryRun: true, reason: expect.stringMatching(/within 25..35 %/) }),
    ]);
    expect(r.plan.decisions).toHaveLength(2);
  });

  it('publishes the resized VMs\' figures a few at a time (PUBLISH_CONCURRENCY), each one, a failed one logged without stopping the others', async () => {
    const cloud = new FakeCloud().addHost(0, 256 * GiB);
    for (let id = 1; id <= 20; id++) cloud.addVm(id, 0, 4 * GiB, 1 * GiB);
    const { deps, logs } = harness(cloud);
    let inFlight = 0;
    let most = 0;
    const published: number[] = [];
    deps.publisher = {
      recordOriginal: (vmId, kib) => cloud.recordOriginal(vmId, kib),
      async publish(vmId) {
        most = Math.max(most, ++inFlight);
        await Promise.resolve();
        inFlight--;
        if (vmId === 5) throw new Error('oned said no');
        published.push(vmId);
      },
    };
    const r = await runCycle(deps, config(), emptyState());
    expect(r.applied).toBe(20);
    expect(published.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1).filter((id) => id !== 5));
    expect(most).toBe(PUBLISH_CONCURRENCY);
    expect(logs.filter((l) => l.event === 'publish')).toEqual([expect.objectContaining({ vmId: 5, level: 'warn', error: 'oned said no' })]);
  });

  it('persists originals before the first change, then applies and publishes', async () => {
    const cloud = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 1 * GiB);
    const store = new MemoryStore();
    let savedBeforeChange: string | undefined;
    let onedBeforeChange: unknown;
    cloud.onStep = () => {
      savedBeforeChange ??= store.text;
      onedBeforeChange ??= cloud.vms.get(1)!.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY;
    };
    const { deps } = harness(cloud, store);
    await runCycle(deps, config(), emptyState());
    expect(JSON.parse(savedBeforeChange!).vms['1']).toMatchObject({ originalKiB: 4 * GiB, lastAction: { action: 'shrink', result: 'pending' } });
    expect(cloud.vms.get(1)!.currentKiB).toBe(Math.ceil(GiB / 0.7 / MiB) * MiB);
    expect(onedBeforeChange).toBe(4 * GiB);
    expect(cloud.calls).toEqual([`recordOriginal 1 ${4 * GiB}`, `setMemory 1 ${Math.ceil(GiB / 0.7 / MiB) * MiB}`, 'publish 1']);
    expect(cloud.vms.get(1)!.userTemplate).toMatchObject({ CLOUDVAMP_ORIGINAL_MEMORY: 4 * GiB, CLOUDVAMP_ACTION: 'shrink', CLOUDVAMP_FIGURES: 'balloon' });
    expect(JSON.parse(store.text!).vms['1'].lastAction.result).toBe('ok');
  });

  it('safe order: migrate, then grow, then shrink; a failed migration cancels the grow that needed it', async () => {
    const cloud = new FakeCloud()
      .addHost(0, 10 * GiB + config().hostReserveKiB)
      .addHost(1, 16 * GiB)
      .addVm(1, 0, 8 * GiB, 4 * GiB) // will starve
      .addVm(2, 0, 2 * GiB, 1.4 * GiB)
      .addVm(3, 0, 4 * GiB, 1 * GiB); // shrinkable
    cloud.vms.get(1)!.currentKiB = 4 * GiB;
    cloud.vms.get(1)!.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY = 8 * GiB; // shrunk earlier: oned holds its original
    const { deps } = harness(cloud);
    await runCycle(deps, config(), emptyState());
    const changes = cloud.calls.filter((c) => !c.startsWith('recordOriginal'));
    expect(changes.map((c) => c.split(' ')[0])).toEqual(['migrate', 'setMemory', 'setMemory', 'publish', 'publish']);
    expect(changes[0]).toBe('migrate 2 1');
    expect(changes[1]).toMatch(/^setMemory 1 /);
    expect(changes[2]).toMatch(/^setMemory 3 /);

    const failing = new FakeCloud().addHost(0, 6 * GiB + config().hostReserveKiB).addHost(1, 16 * GiB).addVm(1, 0, 8 * GiB, 4 * GiB).addVm(2, 0, 2 * GiB, 1.4 * GiB);
    failing.vms.get(1)!.currentKiB = 4 * GiB;
    failing.vms.get(1)!.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY = 8 * GiB;
    failing.failMigrations = true;
    const h = harness(failing);
    const r = await runCycle(h.deps, config(), emptyState());
    expect(failing.calls).toEqual(['migrate 2 1']);
    expect(r).toMatchObject({ failed: 1, skipped: 1 });
    expect(h.logs).toContainEqual(expect.objectContaining({ event: 'grow', result: 'skipped', vmId: 1 }));
  });

  it('restore-all gives every VM its original back', async () => {
    const cloud = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 1 * GiB).addVm(2, 0, 2 * GiB, 1 * GiB);
    const { deps } = harness(cloud);
    const after = await runCycle(deps, config(), emptyState());
    expect(cloud.vms.get(1)!.currentKiB).toBeLessThan(4 * GiB);
    const r = await runRestore(deps, config(), after.state);
    expect(r.failed).toBe(0);
    expect(cloud.vms.get(1)!.currentKiB).toBe(4 * GiB);
    expect(cloud.vms.get(2)!.currentKiB).toBe(2 * GiB);
  });
});

describe('restore-all on sizes that moved after its plan', () => {
  it("grows a VM whose size changed since the plan to its original, and leaves one already back at it alone: nothing skipped (tier run: 140 → 318 MiB)", async () => {
    const cloud = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 1 * GiB).addVm(2, 0, 2 * GiB, 0.5 * GiB);
    const { deps, logs } = harness(cloud);
    const after = await runCycle(deps, config(), emptyState());
    expect(cloud.vms.get(1)!.currentKiB).toBeLessThan(3 * GiB);
    expect(cloud.vms.get(2)!.currentKiB).toBeLessThan(2 * GiB);
    // The plan reads the sizes before the previous cycle's grows land; each step's fresh read sees them
    // (and the sizes that cycle published, as it does after each change).
    deps.source = {
      snapshot: async () => {
        const planned = await cloud.snapshot();
        for (const [id, kib] of [[1, 3 * GiB], [2, 2 * GiB]] as const) Object.assign(cloud.vms.get(id)!, { currentKiB: kib, userTemplate: { ...cloud.vms.get(id)!.userTemplate, CLOUDVAMP_MEMORY: kib } });
        return planned;
      },
    };
    deps.fresh = cloud;
    cloud.calls = [];
    const r = await runRestore(deps, config(), after.state);
    expect(r).toMatchObject({ failed: 0, skipped: 0, applied: 2 });
    expect(cloud.vms.get(1)!.currentKiB).toBe(4 * GiB);
    expect(cloud.calls.filter((c) => c.startsWith('setMemory'))).toEqual([`setMemory 1 ${4 * GiB}`]);
    expect(logs).toContainEqual(expect.objectContaining({ event: 'grow', vmId: 1, result: 'ok', fromKiB: 3 * GiB, targetKiB: 4 * GiB }));
    expect(logs).toContainEqual(expect.objectContaining({ event: 'grow', vmId: 2, result: 'ok', msg: 'grow done: VM 2 is already at 2048 MiB, its original size; nothing changed' }));
    expect(r.state.vms['1']!.lastAction).toMatchObject({ action: 'restore', result: 'ok' });
  });

  it('a VM shrunk by the cycle just before, whose monitoring still shows its original, is grown back: restore-all counts the size cloudvamp published (opennebula tier: one-2 left at 138 MiB)', async () => {
    const cloud = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 1 * GiB);
    const { deps, logs } = harness(cloud);
    const after = await runCycle(deps, config(), emptyState());
    const shrunk = cloud.vms.get(1)!.currentKiB;
    expect(shrunk).toBeLessThan(3 * GiB);
    expect(Number(cloud.vms.get(1)!.userTemplate.CLOUDVAMP_MEMORY)).toBe(shrunk);
    // monitord has not run since: every read of the VM still shows the size before the shrink
    const stale = async () => {
      const view = await cloud.snapshot();
      return { ...view, vms: view.vms.map((v) => (v.id === 1 ? { ...v, currentKiB: 4 * GiB } : v)) };
    };
    deps.source = { snapshot: stale };
    deps.fresh = { snapshot: stale };
    cloud.calls = [];
    const r = await runRestore(deps, config(), after.state);
    expect(r).toMatchObject({ failed: 0, skipped: 0, applied: 1 });
    expect(cloud.calls.filter((c) => c.startsWith('setMemory'))).toEqual([`setMemory 1 ${4 * GiB}`]);
    expect(cloud.vms.get(1)!.currentKiB).toBe(4 * GiB);
    expect(logs).toContainEqual(expect.objectContaining({ event: 'grow', vmId: 1, result: 'ok', fromKiB: shrunk, targetKiB: 4 * GiB }));
  });

  it('a VM whose host has no room is left, named in a warning, and counted as not restored', async () => {
    const cfg = config();
    const cloud = new FakeCloud().addHost(0, 4 * GiB + cfg.hostReserveKiB).addVm(1, 0, 4 * GiB, 0.5 * GiB).addVm(2, 0, 3 * GiB, 2 * GiB);
    Object.assign(cloud.vms.get(1)!, { currentKiB: GiB, userTemplate: { CLOUDVAMP_ORIGINAL_MEMORY: 4 * GiB } });
    const { deps, logs } = harness(cloud);
    const r = await runRestore(deps, cfg, emptyState());
    expect(cloud.calls.filter((c) => c.startsWith('setMemory'))).toEqual([]);
    expect(r).toMatchObject({ applied: 0, skipped: 1 });
    expect(logs.filter((l) => l.event === 'restore' && l.level === 'warn')).toEqual([
      expect.objectContaining({ vmId: 1, hostId: 0, msg: 'VM not restored: its host has no room; free memory on it or rerun with --force' }),
    ]);
  });

  it('the normal cycle still skips a grow or shrink whose VM changed size since the plan', async () => {
    const cloud = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 1 * GiB);
    const { deps, logs } = harness(cloud);
    deps.source = {
      snapshot: async () => {
        const planned = await cloud.snapshot();
        cloud.vms.get(1)!.currentKiB = 3 * GiB;
        return planned;
      },
    };
    deps.fresh = cloud;
    const r = await runCycle(deps, config(), emptyState());
    expect(r).toMatchObject({ applied: 0, skipped: 1 });
    expect(logs).toContainEqual(expect.objectContaining({ event: 'shrink', result: 'skipped', skipReason: expect.stringMatching(/changed size since the plan \(4096 MiB → 3072 MiB\)/) }));
  });
});

describe('a guest read while its balloon still moves', () => {
  it('is not shrunk again on the figures of mid-inflation, and the log says why (tier run: 376 MiB on its way to 139 MiB, "used 0 MiB, free 100 %")', async () => {
    const cfg = config({ cooldownMs: 0, figuresMaxAgeMs: 25_000 });
    const cloud = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 1 * GiB);
    const { deps, logs } = harness(cloud);
    const first = await runCycle(deps, cfg, emptyState());
    const set = cloud.vms.get(1)!.currentKiB;
    expect(set).toBeLessThan(2 * GiB);
    // The balloon has come only part of the way, and the guest reports (almost) all of it free.
    Object.assign(cloud.vms.get(1)!, { currentKiB: 3 * GiB, demandKiB: 0 });
    vi.setSystemTime(T0 + 3_000);
    cloud.calls = [];
    const second = await runCycle(deps, cfg, first.state);
    expect(cloud.calls).toEqual([]);
    expect(second.plan.decisions[0]).toMatchObject({ action: 'none', reason: expect.stringMatching(/^balloon at 3072 MiB, still on its way to the \d+ MiB set 3 s ago/) });
    expect(logs).toContainEqual(
      expect.objectContaining({ level: 'info', event: 'balloon-moving', vmId: 1, currentKiB: 3 * GiB, setKiB: set, msg: expect.stringMatching(/^VM 1: balloon at 3072 MiB, still on its way/) }),
    );
    // Arrived: the figures count again.
    cloud.vms.get(1)!.currentKiB = set;
    const third = await runCycle(deps, cfg, second.state);
    expect(third.plan.decisions[0]!.reason).not.toMatch(/balloon at/);
  });
});

describe('daemon over simulated time', () => {
  it('shrinks an idle VM, grows it back within two cooldowns when demand jumps, never overloads the host', async () => {
    const cfg = config();
    const cloud = new FakeCloud().addHost(0, 12 * GiB + cfg.hostReserveKiB).addVm(1, 0, 8 * GiB, 1 * GiB).addVm(2, 0, 4 * GiB, 3 * GiB);
    const { deps, logs, store } = harness(cloud);
    const stop = new AbortController();
    const done = runDaemon({ ...deps, sleep: timerSleep }, cfg, { signal: stop.signal });
    const history: number[] = [];
    for (let t = 0; t < 60; t++) {
      if (t === 20) cloud.vms.get(1)!.demandKiB = 7 * GiB; // batch job starts
      await vi.advanceTimersByTimeAsync(cfg.intervalMs);
      history.push(cloud.vms.get(1)!.currentKiB);
      expect(cloud.committed(0)).toBeLessThanOrEqual(12 * GiB);
    }
    stop.abort();
    const r = await done;
    expect(r.cycles).toBeGreaterThan(55);
    expect(history[10]).toBeLessThan(2 * GiB); // shrunk while idle
    const starvedFor = history.slice(20).findIndex((k) => k - 7 * GiB > cfg.minFreeKiB);
    expect(starvedFor).toBeGreaterThan(-1);
    expect(starvedFor * cfg.intervalMs).toBeLessThanOrEqual(2 * cfg.cooldownMs + cfg.intervalMs);
    expect(logs.at(-1)).toMatchObject({ event: 'stop' });
    expect(JSON.parse(store.text!).vms['1'].originalKiB).toBe(8 * GiB);
  });

  it('a restart resumes from the state file; vanished VMs are forgotten', async () => {
    const cfg = config();
    const cloud = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 8 * GiB, 1 * GiB).addVm(2, 0, 4 * GiB, 1 * GiB);
    const store = new MemoryStore();
    const { deps } = harness(cloud, store);
    await runDaemon({ ...deps, sleep: timerSleep }, cfg, { once: true, signal: new AbortController().signal });
    const shrunk = cloud.vms.get(1)!.currentKiB;
    expect(shrunk).toBeLessThan(8 * GiB);
    cloud.vms.delete(2);
    await vi.advanceTimersByTimeAsync(cfg.cooldownMs);
    const second = harness(cloud, store);
    const r = await runDaemon({ ...second.deps, sleep: timerSleep }, cfg, { once: true, signal: new AbortController().signal });
    expect(r.state.vms['1']!.originalKiB).toBe(8 * GiB); // not the shrunk size
    expect(r.state.vms['2']).toBeUndefined();
    expect(second.logs).toContainEqual(expect.objectContaining({ event: 'forget', vmId: 2 }));
  });

  it('SIGTERM finishes the step in flight, skips the rest, and exits cleanly', async () => {
    const cfg = config();
    const cloud = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 1 * GiB).addVm(2, 0, 4 * GiB, 1 * GiB);
    const stop = new AbortController();
    cloud.onStep = (what) => {
      if (what === 'setMemory 1') stop.abort();
    };
    const { deps, logs, store } = harness(cloud);
    const r = await runDaemon({ ...deps, sleep: timerSleep }, cfg, { signal: stop.signal });
    expect(r.cycles).toBe(1);
    expect(cloud.calls).toEqual([`recordOriginal 1 ${4 * GiB}`, expect.stringMatching(/^setMemory 1 /)]);
    expect(cloud.vms.get(2)!.currentKiB).toBe(4 * GiB);
    expect(logs).toContainEqual(expect.objectContaining({ event: 'shrink', vmId: 2, result: 'skipped' }));
    expect(JSON.parse(store.text!).vms['2']).toMatchObject({ originalKiB: 4 * GiB, lastAction: { result: 'skipped' } });
  });

  it('a failing snapshot is logged and retried next interval; --once rethrows', async () => {
    const cloud = new FakeCloud().addHost(0, 64 * GiB);
    const { deps, logs } = harness(cloud);
    let calls = 0;
    deps.source = { snapshot: async () => (++calls === 1 ? Promise.reject(new Error('oned down')) : cloud.snapshot()) };
    const stop = new AbortController();
    const done = runDaemon({ ...deps, sleep: timerSleep }, config(), { signal: stop.signal });
    await vi.advanceTimersByTimeAsync(config().intervalMs + 1);
    stop.abort();
    await done;
    expect(calls).toBe(2);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'error', msg: 'cycle failed', error: 'oned down' }));
    await expect(runDaemon({ ...deps, source: { snapshot: () => Promise.reject(new Error('x')) }, sleep: timerSleep }, config(), { once: true, signal: new AbortController().signal })).rejects.toThrow('x');
  });

  it.each([
    ['AUTHENTICATION', 0x100, true],
    ['AUTHORIZATION', 0x200, true],
    ['INTERNAL', 0x2000, false],
  ] as const)('oned refusing with %s stops the daemon: %s', async (_, code, fatal) => {
    const cloud = new FakeCloud().addHost(0, 64 * GiB);
    let calls = 0;
    cloud.snapshot = async () => {
      calls++;
      throw new OnedError('one.vmpool.infoextended', code, 'no');
    };
    const { deps } = harness(cloud);
    const stop = new AbortController();
    const done = runDaemon({ ...deps, sleep: timerSleep }, config(), { signal: stop.signal });
    const settled = done.then(() => 'stopped', (e: unknown) => e);
    await vi.advanceTimersByTimeAsync(config().intervalMs * 3);
    if (fatal) {
      expect(await settled).toBeInstanceOf(OnedError);
      expect(calls).toBe(1);
    } else {
      expect(calls).toBeGreaterThan(2); // retried every INTERVAL
      stop.abort();
      expect(await settled).toBe('stopped');
    }
  });
});
