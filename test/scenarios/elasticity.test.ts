// Issue #4, daemon side: the elasticity manager over simulated time against
// the in-process oned simulator, through the real adapters (OnedClusterSource,
// OnedResizeApplier, OnedMigrator, OnedPublisher) and the real state file.
// Every oned reply is validated against OpenNebula's XSDs (strict simulator);
// assertions read the recorded XML-RPC calls and the simulator's VM XML.
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCvem } from '../../lib/elasticity/command';
import { runCycle, runRestore } from '../../lib/elasticity/cycle';
import { runDaemon } from '../../lib/elasticity/daemon';
import { OnedClusterSource, OnedMigrator } from '../../lib/oned/elasticity-ports';
import type { MemoryApplier } from '../../lib/elasticity/ports';
import { lockFileOf, readStateFile } from '../../lib/io/state-file';
import { emptyState, type ElasticityState } from '../../lib/elasticity/state';
import { parseTemplate } from '../../lib/oned/template';
import { ONED_FIXTURE_DIR, validateOneDocument } from '../support/oned-server';
import { cycleDeps, fixtures, GiB, GUEST_KEYS, methods, MiB, MUTATING, mutating, scenario, T0, type Scenario } from './harness';

const open: Scenario[] = [];
const start = async (...args: Parameters<typeof scenario>) => {
  const s = await scenario(...args);
  open.push(s);
  return s;
};
afterEach(async () => {
  for (const s of open.splice(0)) {
    expect(s.sim.schemaViolations).toEqual([]);
    await s.close();
  }
});

const READS = new Set(['one.vmpool.infoextended', 'one.vmpool.monitoring', 'one.hostpool.info', 'one.vm.info', 'one.host.info']);
const ceilMiB = (kib: number) => Math.ceil(kib / MiB) * MiB;

/** VM 102 was shrunk from 6 GiB to 2 GiB by an earlier cvem run (resize mode: TEMPLATE/MEMORY is 2048 now). */
const shrunkBefore = (over: Partial<ElasticityState['vms'][string]> = {}): ElasticityState => ({
  ...emptyState(),
  vms: { '102': { originalKiB: 6 * GiB, firstSeenAt: T0 - 3_600_000, strikes: 0, lastChangeAt: T0 - 3_000_000, ...over } },
});

describe('fixtures', () => {
  it('every elasticity fixture validates against the OpenNebula schemas', async () => {
    const dir = path.join(ONED_FIXTURE_DIR, 'elasticity');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.xml'));
    expect(files).toHaveLength(8);
    for (const f of files) {
      const check = validateOneDocument(await readFile(path.join(dir, f), 'utf8'), new Set(GUEST_KEYS));
      expect({ f, ...check }).toMatchObject({ f, valid: true, errors: '' });
    }
  });
});

describe('(a) an idle VM is shrunk and the figures are published', () => {
  it('to used / (1 − MEM_OVER) plus the kernel deficit, respecting the floor; one.vm.resize then one.vm.update (merge)', async () => {
    const s = await start({ vms: [fixtures.idle, fixtures.tiny] });
    const r = await runCycle(cycleDeps(s), s.config, emptyState());
    expect(r).toMatchObject({ applied: 2, failed: 0, skipped: 0 });

    // VM 100: guest MemTotal 4046844 KiB of 4 GiB, 1 GiB used: 1 GiB / 0.7 + (4 GiB − 4046844) → 1607 MiB.
    const target100 = ceilMiB(GiB / 0.7 + (4 * GiB - 4046844));
    expect(target100).toBe(1607 * MiB);
    // VM 101: 100 MiB used, MIN_FREE_MEM=16384: the rule gives 191 MiB, below MEM_MIN 256 MiB.
    expect(ceilMiB((100 * MiB) / 0.7 + (GiB - 1000000))).toBeLessThan(256 * MiB);

    const changes = mutating(s.sim.calls);
    expect(changes.map((c) => [c.method, c.params[0]])).toEqual([
      ['one.vm.update', 100],
      ['one.vm.resize', 100],
      ['one.vm.update', 101],
      ['one.vm.resize', 101],
      ['one.vm.update', 100],
      ['one.vm.update', 101],
    ]);
    // each VM's original goes to oned (merge) before its first change
    expect(changes[0]!.params).toEqual([100, `CLOUDVAMP_ORIGINAL_MEMORY = "${4 * GiB}"\n`, 1]);
    expect(changes[1]!.params).toEqual([100, 'MEMORY = "1607"\n', false]);
    expect(changes[2]!.params).toEqual([101, `CLOUDVAMP_ORIGINAL_MEMORY = "${GiB}"\n`, 1]);
    expect(changes[3]!.params).toEqual([101, 'MEMORY = "256"\n', false]);
    expect(changes[4]!.params[2]).toBe(1); // merge: the owner's USER_TEMPLATE stays
    expect(Object.fromEntries(parseTemplate(changes[4]!.params[1] as string).map((a) => [a.key, a.value]))).toEqual({
      CLOUDVAMP_MEMORY: String(1607 * MiB),
      CLOUDVAMP_USED_MEMORY: String(GiB),
      CLOUDVAMP_FREE_MEMORY: String(4046844 - GiB),
      CLOUDVAMP_FIGURES: 'balloon',
      CLOUDVAMP_MEM_OVER: '30',
      CLOUDVAMP_MIN_FREE_MEM: '131072',
      CLOUDVAMP_ACTION: 'shrink',
      CLOUDVAMP_TIME: String(T0 / 1000), // the cycle's time
    });
    // Only reads besides: the snapshot, a fresh one before each step, the applier's polls.
    expect(s.sim.calls.filter((c) => !READS.has(c.method) && !MUTATING.has(c.method))).toEqual([]);

    const vm100 = s.vm(100);
    expect(vm100.templateMemoryMiB).toBe(1607);
    expect(vm100.userTemplate).toMatchObject({ CLOUDVAMP_ORIGINAL_MEMORY: String(4 * GiB), CLOUDVAMP_MEMORY: String(1607 * MiB), CLOUDVAMP_ACTION: 'shrink', HYPERVISOR: 'kvm', LOGO: 'images/logos/debian.png' });
    const vm101 = s.vm(101);
    expect(vm101.templateMemoryMiB).toBe(256);
    expect(vm101.userTemplate).toMatchObject({ CLOUDVAMP_MEMORY: String(256 * MiB), CLOUDVAMP_MIN_FREE_MEM: '16384', MIN_FREE_MEM: '16384' });
    expect(s.sim.hostXml(10)).toContain(`<MEM_USAGE>${(1607 + 256 + 2048 + 1024 + 2048) * MiB}</MEM_USAGE>`);

    const state = await readStateFile(s.stateFile);
    expect(state.vms['100']).toMatchObject({ originalKiB: 4 * GiB, lastAction: { action: 'shrink', toKiB: 1607 * MiB, result: 'ok' } });
    expect(state.vms['101']).toMatchObject({ originalKiB: GiB, lastAction: { action: 'shrink', toKiB: 256 * MiB, result: 'ok' } });
  });
});

describe('(a2) guest figures frozen at boot are refused (#9 defect 3)', () => {
  it("BALLOON_LAST_UPDATE older than FIGURES_MAX_AGE: no shrink on a fresh monitoring record, one warning per VM; acted on once libvirt refreshes them", async () => {
    const s = await start({ vms: [fixtures.idle] });
    // monitord's record is fresh (TIMESTAMP), but libvirt's stats were last refreshed at boot, an hour ago
    s.sim.setVmMonitoring(100, { BALLOON_LAST_UPDATE: Math.floor(T0 / 1000) - 3600 });
    const stop = new AbortController();
    s.between = (cycle) => {
      s.sim.setVmMonitoring(100, { TIMESTAMP: Math.floor(s.clock.ms / 1000) });
      if (cycle === 2) s.sim.setVmMonitoring(100, { BALLOON_LAST_UPDATE: Math.floor(s.clock.ms / 1000) - 5 });
      if (cycle === 3) stop.abort();
    };
    await runDaemon(s.deps, s.config, { signal: stop.signal });
    const resizes = s.sim.callsTo('one.vm.resize');
    // cycles 1 and 2 refused the frozen figures; cycle 3 shrank on fresh ones
    expect(resizes).toHaveLength(1);
    const warned = s.logs.filter((l) => l.event === 'stale-figures');
    expect(warned).toEqual([expect.objectContaining({ level: 'warn', vmId: 100, msg: expect.stringMatching(/^VM 100: balloon stats last refreshed 3600 s ago, more than FIGURES_MAX_AGE 120 s: not acted on/) })]);
  });
});

describe('(b) a guest running short is grown by the two-strike rule', () => {
  it('first strike half-way, second strike (next interval, inside the cooldown) back to the original', async () => {
    const s = await start({ vms: [fixtures.starving], state: shrunkBefore() });
    const stop = new AbortController();
    const usedKiB = 2045000 - 100000;
    s.between = (cycle) => {
      // The workload keeps growing into whatever it is given: still starving after the first grow.
      if (cycle === 1) s.guestUses(102, s.vm(102).templateMemoryMiB * MiB - (2 * GiB - 2045000) - 100000);
      // At the original size it is comfortable again.
      if (cycle === 2) s.guestUses(102, usedKiB + 2 * GiB);
      if (cycle === 3) stop.abort();
    };
    const r = await runDaemon(s.deps, s.config, { signal: stop.signal });
    expect(r.cycles).toBe(3);

    const resizes = s.sim.callsTo('one.vm.resize').map((c) => c.params);
    // half the gap: used + deficit + ½ (6 GiB − deficit − used) → 4048 MiB; then the original 6144 MiB
    expect(ceilMiB(usedKiB + 52152 + 0.5 * (6 * GiB - 52152 - usedKiB))).toBe(4048 * MiB);
    expect(resizes).toEqual([
      [102, 'MEMORY = "4048"\n', false],
      [102, 'MEMORY = "6144"\n', false],
    ]);
    // oned had no copy of the original the state file holds: written once, before the first grow
    expect(methods(mutating(s.sim.calls))).toEqual(['one.vm.update', 'one.vm.resize', 'one.vm.update', 'one.vm.resize', 'one.vm.update']);
    const grows = s.logs.filter((l) => l.event === 'plan' && l.action === 'grow');
    expect(grows.map((l) => l.reason)).toEqual([expect.stringMatching(/^starving .*strike 1\/2: grow by half/), expect.stringMatching(/^starving .*strike 2\/2: back to the original size/)]);
    const state = await readStateFile(s.stateFile);
    expect(state.vms['102']).toMatchObject({ originalKiB: 6 * GiB, strikes: 0, lastAction: { action: 'grow', fromKiB: 4048 * MiB, toKiB: 6 * GiB, result: 'ok' } });
    // the second grow came one INTERVAL (+ the first resize's poll) after the first, well inside COOLDOWN
    expect(state.vms['102']!.lastChangeAt! - T0).toBeLessThan(s.config.cooldownMs);
    expect(s.vm(102).templateMemoryMiB).toBe(6144);
    expect(s.vm(102).userTemplate).toMatchObject({ CLOUDVAMP_ACTION: 'grow', CLOUDVAMP_MEMORY: String(6 * GiB), CLOUDVAMP_ORIGINAL_MEMORY: String(6 * GiB) });
  });
});

describe('(c) a grow that does not fit the host: relief migration first', () => {
  // cvamp-a: 16 GiB but only 2.5 GiB free (reserve 1 GiB → 1.5 GiB headroom); VM 102 starves and wants +2000 MiB.
  // Candidates: VM 103 (1 GiB, cheapest that frees the 464 MiB missing) and VM 104 (2 GiB).
  // Destinations: cvamp-b has 2 GiB headroom (fits tightest), cvamp-c 14 GiB.
  const cluster = async () => {
    const s = await start({ vms: [fixtures.starving, fixtures.steady1g, fixtures.steady2g], hosts: [fixtures.hostA, fixtures.hostB, fixtures.hostC], state: shrunkBefore() });
    s.sim.setHostCapacity(10, { freeMemoryKiB: 2.5 * GiB, usedMemoryKiB: 13.5 * GiB });
    return s;
  };

  it('live-migrates the cheapest other VM to the best-fitting host, then grows', async () => {
    const s = await cluster();
    const r = await runCycle(cycleDeps(s), s.config, await readStateFile(s.stateFile));
    expect(r).toMatchObject({ applied: 2, failed: 0, skipped: 0 });
    const changes = mutating(s.sim.calls);
    expect(changes.map((c) => c.method)).toEqual(['one.vm.migrate', 'one.vm.update', 'one.vm.resize', 'one.vm.update']);
    // live=true, enforce=false (oned's admission counts TEMPLATE/MEMORY), ds −1, type 0
    expect(changes[0]!.params).toEqual([103, 11, true, false, -1, 0]);
    expect(changes[2]!.params).toEqual([102, 'MEMORY = "4048"\n', false]);
    // the migration completed (oned shows 103 RUNNING on cvamp-b) before the resize was sent
    const iMigrate = s.sim.calls.indexOf(changes[0]!);
    const iResize = s.sim.calls.indexOf(changes[2]!);
    expect(s.sim.calls.slice(iMigrate, iResize).some((c) => c.method === 'one.vm.info' && c.params[0] === 103)).toBe(true);

    const vm103 = s.vm(103);
    expect([vm103.hostId, vm103.hostname, vm103.lcmState]).toEqual([11, 'cvamp-b', 3]);
    expect(s.sim.vmXml(103)).toMatch(/<HID>10<\/HID>.*<ACTION>2<\/ACTION>.*<HID>11<\/HID>/s); // closed with live-migrate
    expect(s.vm(102).templateMemoryMiB).toBe(4048);
    expect(s.vm(104).hostId).toBe(10);
    expect(s.logs).toContainEqual(expect.objectContaining({ event: 'plan', action: 'migrate', vmId: 103, toHostId: 11, reason: expect.stringMatching(/cheapest move.*host 11 fits it best/) }));
    const state = await readStateFile(s.stateFile);
    // the migration counts against both hosts' hourly budget; VM 103 may not come back to host 10 for MOVE_BACK_HOLD
    expect(state.hosts['10']).toEqual({ lastMigrationAt: T0, migrations: [T0] });
    expect(state.hosts['11']).toEqual({ migrations: [T0] });
    expect(state.vms['103']!.lastAction).toMatchObject({ action: 'migrate', toHostId: 11, result: 'ok' });
    expect(state.vms['103']!.leftHost).toEqual({ hostId: 10, at: T0 });
  });

  it('a failed migration (oned failure reply with its <i8>) cancels the grow: the VM is left as it was', async () => {
    const s = await cluster();
    s.sim.failNext('one.vm.migrate', { code: 'ACTION', message: 'Cannot migrate VM [103]: host cvamp-b is in ERROR state.' });
    const r = await runCycle(cycleDeps(s), s.config, await readStateFile(s.stateFile));
    expect(r).toMatchObject({ applied: 0, failed: 1, skipped: 1 });
    expect(methods(mutating(s.sim.calls))).toEqual(['one.vm.migrate']);
    expect(s.vm(102).templateMemoryMiB).toBe(2048);
    expect(s.vm(102).userTemplate.CLOUDVAMP_ACTION).toBeUndefined();
    expect(s.vm(103).hostId).toBe(10);
    expect(s.logs).toContainEqual(
      expect.objectContaining({ event: 'migrate', vmId: 103, result: 'failed', error: expect.stringMatching(/^oned refused one\.vm\.migrate \(ACTION 0x800\): \[one\.vm\.migrate\] Cannot migrate VM \[103\]/) }),
    );
    expect(s.logs).toContainEqual(expect.objectContaining({ event: 'grow', vmId: 102, result: 'skipped', skipReason: 'its relief migration did not happen' }));
    const state = await readStateFile(s.stateFile);
    expect(state.vms['102']).toMatchObject({ originalKiB: 6 * GiB, lastAction: { action: 'grow', result: 'skipped' } });
  });

  // oned 7.4's timing: one.vm.migrate only adds the destination's HISTORY and returns; the LCM switches to
  // MIGRATE asynchronously, so the first poll sees RUNNING with the destination as last host before anything
  // moved. The migrator's polls here let oned move on: MIGRATE at the 1st sleep, the end at the 5th.
  const orderedMigration = async (end: 'success' | { fail: string }) => {
    const s = await start({ vms: [fixtures.starving, fixtures.steady1g, fixtures.steady2g], hosts: [fixtures.hostA, fixtures.hostB, fixtures.hostC], state: shrunkBefore(), migrations: 'oned' });
    s.sim.setHostCapacity(10, { freeMemoryKiB: 2.5 * GiB, usedMemoryKiB: 13.5 * GiB });
    let sleeps = 0;
    let doneAt = 0;
    const migrator = new OnedMigrator(s.client, s.config.migrationTimeoutMs, {
      now: () => s.clock.ms,
      sleep: async (ms) => {
        s.clock.ms += ms;
        sleeps++;
        if (sleeps === 1) s.sim.migrationStep(103, 'migrate');
        if (sleeps === 5) {
          s.sim.migrationStep(103, end);
          doneAt = s.clock.ms;
        }
      },
    });
    const plannedAt = s.clock.ms;
    const r = await runCycle({ ...cycleDeps(s), migrator }, s.config, await readStateFile(s.stateFile));
    return { s, r, sleeps: () => sleeps, plannedAt, doneAt: () => doneAt };
  };

  it('a live migration that oned accepts and fails after a delay is not done, and the grow waiting for it is not done either', async () => {
    const { s, r, sleeps } = await orderedMigration({ fail: 'virsh migrate: operation failed: domain is not running' });
    expect(sleeps()).toBe(5); // never taken for done on the RUNNING-on-destination read before MIGRATE
    expect(r).toMatchObject({ applied: 0, failed: 1, skipped: 1 });
    expect(s.vm(103)).toMatchObject({ hostId: 10, lcmState: 3 });
    expect(methods(mutating(s.sim.calls))).toEqual(['one.vm.migrate']);
    expect(s.vm(102).templateMemoryMiB).toBe(2048);
    expect(s.logs).toContainEqual(
      expect.objectContaining({ event: 'migrate', vmId: 103, result: 'failed', error: expect.stringMatching(/failed: it runs on host 10 again \(Error live migrating VM: virsh migrate: operation failed/) }),
    );
    expect(s.logs).toContainEqual(expect.objectContaining({ event: 'grow', vmId: 102, result: 'skipped', skipReason: 'its relief migration did not happen' }));
  });

  it('a live migration that oned accepts and completes after a delay: the grow comes after oned shows it done', async () => {
    const { s, r, sleeps, plannedAt, doneAt } = await orderedMigration('success');
    expect(sleeps()).toBe(5);
    expect(r).toMatchObject({ applied: 2, failed: 0 });
    expect(s.vm(103)).toMatchObject({ hostId: 11, lcmState: 3 });
    expect(s.vm(102).templateMemoryMiB).toBe(4048);
    // MOVE_BACK_HOLD counts from when the VM left host 10 (oned showed the migration done), not from the plan;
    // the hourly budget counts the migration when it was planned
    const state = await readStateFile(s.stateFile);
    expect(doneAt()).toBeGreaterThan(plannedAt);
    expect(state.vms['103']!.leftHost).toEqual({ hostId: 10, at: doneAt() });
    expect(state.hosts['10']!.lastMigrationAt).toBe(plannedAt);
  });

  it('the applier re-checks before acting: a host that filled up since the plan gets no grow', async () => {
    const s = await cluster();
    // Between the plan and the grow, the monitoring shows cvamp-a's free memory gone (another tenant's VM grew).
    const deps = cycleDeps(s);
    const migrator = deps.migrator;
    deps.migrator = {
      migrateLive: async (vmId, hostId) => {
        await migrator.migrateLive(vmId, hostId);
        s.sim.setHostCapacity(10, { freeMemoryKiB: 1.5 * GiB });
      },
    };
    const r = await runCycle(deps, s.config, await readStateFile(s.stateFile));
    expect(r).toMatchObject({ applied: 1, skipped: 1 });
    expect(methods(mutating(s.sim.calls))).toEqual(['one.vm.migrate']);
    expect(s.vm(102).templateMemoryMiB).toBe(2048);
    expect(s.logs).toContainEqual(expect.objectContaining({ event: 'grow', vmId: 102, result: 'skipped', skipReason: 'host 10 has only 512 MiB left, the grow needs 2000 MiB' }));
  });
});

describe('(d) --dry-run', () => {
  it('makes only reads, writes no state, and prints every decision with its reason', async () => {
    const s = await start({ vms: [fixtures.idle, fixtures.starving, fixtures.steady1g, fixtures.steady2g], hosts: [fixtures.hostA, fixtures.hostB, fixtures.hostC], state: shrunkBefore() });
    s.sim.setHostCapacity(10, { freeMemoryKiB: 2.5 * GiB });
    const stateBefore = await readFile(s.stateFile, 'utf8');
    const configFile = path.join(s.dir, 'cvem.conf');
    await writeFile(configFile, `APPLY_MODE=resize\nSTATE_FILE=${s.stateFile}\nSHRINK_WARMUP=0\n`);
    const lines: string[] = [];
    const out = await runCvem(['--config', configFile, 'run', '--once', '--dry-run'], {
      adapters: async () => ({
        source: s.deps.source,
        applier: s.deps.applier,
        migrator: s.deps.migrator,
        publisher: s.deps.publisher,
      }),
      now: () => s.clock.ms,
      write: (l) => lines.push(l),
      signal: new AbortController().signal,
    });
    expect(out).toBe('');
    expect(new Set(methods(s.sim.calls))).toEqual(new Set(['one.vmpool.infoextended', 'one.vmpool.monitoring', 'one.hostpool.info']));
    expect(await readFile(s.stateFile, 'utf8')).toBe(stateBefore);
    expect(await readdir(s.dir)).toEqual(['cvem-state.json', 'cvem.conf']); // no temp file, no lock

    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const plans = events.filter((e) => e.event === 'plan');
    expect(plans.every((p) => p.dryRun === true && typeof p.reason === 'string' && (p.reason as string).length > 20)).toBe(true);
    expect(plans.map((p) => [p.action, p.vmId])).toEqual([
      ['migrate', 103],
      ['shrink', 100],
      ['grow', 102],
      ['none', 103],
      ['none', 104],
    ]);
    expect(plans.find((p) => p.vmId === 102)!.reason).toMatch(/starving.*strike 1\/2.*after moving VM 103 away/);
    expect(plans.find((p) => p.action === 'none' && p.vmId === 104)!.reason).toMatch(/free share within 25..35 %/);
    expect(plans.find((p) => p.action === 'none' && p.vmId === 103)!.reason).toMatch(/free share within 25..35 %/);
  });
});

describe('(e) restore-all', () => {
  it('gives every managed VM its original size back', async () => {
    const s = await start({ vms: [fixtures.idle, fixtures.tiny, fixtures.starving], state: shrunkBefore() });
    await runCycle(cycleDeps(s), s.config, await readStateFile(s.stateFile));
    expect([100, 101, 102].map((id) => s.vm(id).templateMemoryMiB)).toEqual([1607, 256, 4048]);

    const configFile = path.join(s.dir, 'cvem.conf');
    await writeFile(configFile, `APPLY_MODE=resize\nSTATE_FILE=${s.stateFile}\n`);
    const before = s.sim.calls.length;
    await runCvem(['--config', configFile, 'restore-all'], {
      adapters: async () => ({ source: s.deps.source, applier: s.deps.applier, migrator: s.deps.migrator, publisher: s.deps.publisher }),
      now: () => s.clock.ms,
      write: (l) => void s.logs.push(JSON.parse(l)),
      signal: new AbortController().signal,
    });
    expect([100, 101, 102].map((id) => s.vm(id).templateMemoryMiB)).toEqual([4096, 1024, 6144]);
    expect(
      s.sim.calls
        .slice(before)
        .filter((c) => c.method === 'one.vm.resize')
        .map((c) => c.params.slice(0, 2))
        .sort((a, b) => Number(a[0]) - Number(b[0])),
    ).toEqual([
      [100, 'MEMORY = "4096"\n'],
      [101, 'MEMORY = "1024"\n'],
      [102, 'MEMORY = "6144"\n'],
    ]);
    const state = await readStateFile(s.stateFile);
    for (const id of ['100', '101', '102']) expect(state.vms[id]!.lastAction).toMatchObject({ action: 'restore', result: 'ok' });
    expect(existsSync(lockFileOf(s.stateFile))).toBe(false);
  });
});

describe('(f) restart', () => {
  it('a daemon killed mid-cycle leaves every original known; the next one forgets vanished VMs and restores', async () => {
    const first = await start({ vms: [fixtures.idle, fixtures.tiny, fixtures.steady1g] });
    // The process dies while resizing VM 101: VM 100 is already shrunk, the state was written before it.
    let dead = false;
    const deps = cycleDeps(first);
    const applier: MemoryApplier = {
      setMemory: async (vm, kib) => {
        if (dead) throw new Error('dead');
        if (vm.id === 101) {
          dead = true;
          throw new Error('killed');
        }
        return first.deps.applier.setMemory(vm, kib);
      },
    };
    const store = deps.store;
    const killed = runDaemon(
      {
        ...first.deps,
        applier,
        publisher: {
          publish: async (id, f) => (dead ? Promise.reject(new Error('dead')) : first.deps.publisher.publish(id, f)),
          recordOriginal: async (id, kib) => (dead ? Promise.reject(new Error('dead')) : first.deps.publisher.recordOriginal(id, kib)),
        },
        store: { ...store, lock: store.lock!, load: () => store.load(), save: (st) => (dead ? Promise.reject(new Error('dead')) : store.save(st)) },
      },
      first.config,
      { once: true, signal: new AbortController().signal },
    );
    await expect(killed).rejects.toThrow('dead');
    expect(first.vm(100).templateMemoryMiB).toBe(1607);
    expect(methods(mutating(first.sim.calls))).toEqual(['one.vm.update', 'one.vm.resize', 'one.vm.update']);
    const onDisk = await readStateFile(first.stateFile);
    expect(onDisk.vms).toMatchObject({
      '100': { originalKiB: 4 * GiB, lastAction: { action: 'shrink', result: 'pending' } },
      '101': { originalKiB: GiB, lastAction: { action: 'shrink', result: 'pending' } },
      '103': { originalKiB: GiB },
    });

    // While cvem was down VM 103 was terminated; oned otherwise is as the first daemon left it.
    const second = await start({ vms: [fixtures.idle, fixtures.tiny] });
    await second.client.vmResize(100, 1607, { enforce: false });
    const secondDeps = { ...second.deps, store: first.deps.store };
    second.clock.ms = first.clock.ms + 60_000;
    const r = await runDaemon(secondDeps, second.config, { once: true, signal: new AbortController().signal });
    expect(second.logs).toContainEqual(expect.objectContaining({ event: 'forget', vmId: 103 }));
    expect(r.state.vms['103']).toBeUndefined();
    // 4 GiB, not the 1607 MiB oned shows now
    expect(r.state.vms['100']!.originalKiB).toBe(4 * GiB);

    const restored = await runRestore({ ...cycleDeps(second), store: first.deps.store }, second.config, await readStateFile(first.stateFile));
    expect(restored.failed).toBe(0);
    expect([second.vm(100).templateMemoryMiB, second.vm(101).templateMemoryMiB]).toEqual([4096, 1024]);
    expect(Object.keys((await readStateFile(first.stateFile)).vms).sort()).toEqual(['100', '101']);
  });
});

describe('single instance', () => {
  it('a second daemon on the same state file refuses to start, naming the first one', async () => {
    const s = await start({ vms: [fixtures.steady1g] });
    const stop = new AbortController();
    let second: unknown;
    s.between = async () => {
      second = await runDaemon({ ...s.deps, source: new OnedClusterSource(s.client, s.config) }, s.config, { once: true, signal: new AbortController().signal }).catch((e: unknown) => e);
      stop.abort();
    };
    await runDaemon(s.deps, s.config, { signal: stop.signal });
    expect(second).toMatchObject({ kind: 'unsafe', message: expect.stringContaining(`another cloudvamp-cvem (pid ${process.pid}) is using the state file ${s.stateFile}`) });
    expect(existsSync(lockFileOf(s.stateFile))).toBe(false);
  });
});
