// The regrowth reserve against the oned simulator: after the VM steps the
// daemon writes RESERVED_MEM into the host TEMPLATE (one.host.update, merge)
// and oned's MAX_MEM drops by it, so the scheduler keeps that room free.
import { afterEach, describe, expect, it } from 'vitest';
import { runCycle, runRestore } from '../../lib/elasticity/cycle';
import { operatorBase } from '../../lib/elasticity/host-reserve';
import { emptyState } from '../../lib/elasticity/state';
import { hostViewFromOne, OnedHostReservePublisher } from '../../lib/oned/elasticity-ports';
import type { ElasticityState } from '../../lib/elasticity/state';
import { parseHost } from '../../lib/oned/models';
import { parseTemplate } from '../../lib/oned/template';
import { cycleDeps, fixtures, GiB, MiB, mutating, scenario, T0, type Scenario } from './harness';

let current: Scenario | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

/** VM 100 (4 GiB, 1 GiB used now) peaked lately at what needs 3 GiB; VM 101 never used more than now. */
const remembered: ElasticityState = {
  version: 1,
  vms: {
    '100': { originalKiB: 4 * GiB, firstSeenAt: T0 - 3_600_000, strikes: 0, peak: { kib: Math.floor(0.7 * 3 * GiB), at: T0 } },
    '101': { originalKiB: GiB, firstSeenAt: T0 - 3_600_000, strikes: 0 },
  },
  hosts: {},
};

describe('host regrowth reserve', () => {
  it('writes RESERVED_MEM = Σ regrowth after the VM steps, and oned lowers MAX_MEM by it', async () => {
    const s = (current = await scenario({ config: { hostReserveMode: 'peak', hostReserveMaxPercent: 30, peakFloor: false }, vms: [fixtures.idle, fixtures.tiny], state: remembered }));
    const before = parseHost(s.sim.hostXml(10));
    expect(before.hostShare.maxMemKiB).toBe(before.hostShare.totalMemKiB);
    const r = await runCycle({ ...cycleDeps(s), hostReserve: new OnedHostReservePublisher(s.client) }, s.config, remembered);

    // VM 100 is shrunk to 1607 MiB (sized for its use now); its peak needs 3 GiB back.
    expect(s.vm(100).templateMemoryMiB).toBe(1607);
    const reserveKiB = 3 * GiB - 1607 * MiB;
    expect(r.hostReserves?.find((d) => d.hostId === 10)).toMatchObject({ reserveKiB, targetKiB: reserveKiB, baseText: '' });

    const calls = mutating(s.sim.calls).concat(s.sim.callsTo('one.host.update'));
    const update = s.sim.callsTo('one.host.update');
    expect(update).toHaveLength(1);
    expect(update[0]!.params[0]).toBe(10);
    expect(update[0]!.params[2]).toBe(1); // merge: SYSTEM_HOST's keys stay
    expect(Object.fromEntries(parseTemplate(update[0]!.params[1] as string).map((a) => [a.key, a.value]))).toEqual({
      RESERVED_MEM: String(reserveKiB),
      CLOUDVAMP_RESERVED_MEM: String(reserveKiB),
      CLOUDVAMP_BASE_RESERVED_MEM: '',
    });
    // after the VM steps
    expect(s.sim.calls.findIndex((c) => c.method === 'one.host.update')).toBeGreaterThan(s.sim.calls.findIndex((c) => c.method === 'one.vm.resize'));
    expect(calls.length).toBeGreaterThan(1);

    const after = parseHost(s.sim.hostXml(10));
    expect(after.hostShare.maxMemKiB).toBe(before.hostShare.totalMemKiB - reserveKiB);
    expect(after.template).toMatchObject({ RESERVED_MEM: String(reserveKiB), TOTALMEMORY: before.template.TOTALMEMORY });
    expect(s.sim.schemaViolations).toEqual([]);

    // The next cycle sees the same prediction: nothing to rewrite.
    s.clock.ms += 10_000;
    await runCycle({ ...cycleDeps(s), hostReserve: new OnedHostReservePublisher(s.client) }, s.config, r.state);
    expect(s.sim.callsTo('one.host.update')).toHaveLength(1);
  });

  it("keeps the operator's RESERVED_MEM as the base; a failed write is logged, never fatal", async () => {
    const s = (current = await scenario({ config: { hostReserveMode: 'peak', hostReserveMaxPercent: 30, peakFloor: false }, vms: [fixtures.idle, fixtures.tiny], state: remembered }));
    s.sim.setHostTemplate(10, { RESERVED_MEM: '10%' });
    s.sim.failNext('one.host.update', { code: 'AUTHORIZATION', message: 'Not authorized to perform MANAGE HOST [10].' });
    const deps = { ...cycleDeps(s), hostReserve: new OnedHostReservePublisher(s.client) };
    const r = await runCycle(deps, s.config, remembered);
    expect(r.failed).toBe(0);
    expect(s.logs.find((l) => l.event === 'host-reserve' && l.result === 'failed')).toMatchObject({ level: 'warn', hostId: 10 });

    s.clock.ms += 10_000;
    await runCycle(deps, s.config, r.state);
    const host = parseHost(s.sim.hostXml(10));
    const base = Math.round(0.1 * 16 * GiB);
    expect(host.template.CLOUDVAMP_BASE_RESERVED_MEM).toBe('10%');
    expect(Number(host.template.RESERVED_MEM)).toBeGreaterThan(base);
    expect(host.hostShare.maxMemKiB).toBe(host.hostShare.totalMemKiB - Number(host.template.RESERVED_MEM));
  });

  it('--dry-run logs the planned reserve and writes nothing', async () => {
    const s = (current = await scenario({ config: { hostReserveMode: 'peak', hostReserveMaxPercent: 30, peakFloor: false }, vms: [fixtures.idle, fixtures.tiny], state: remembered }));
    await runCycle({ ...cycleDeps(s), hostReserve: new OnedHostReservePublisher(s.client) }, s.config, remembered, { dryRun: true });
    expect(s.sim.callsTo('one.host.update')).toEqual([]);
    expect(s.logs.find((l) => l.msg === 'host reserve planned')).toMatchObject({ hostId: 10, dryRun: true, reserveKiB: 3 * GiB - 1607 * MiB });
  });

  it("restore-all puts RESERVED_MEM back to the operator's value and empties cloudvamp's keys (#9 defect 7)", async () => {
    const s = (current = await scenario({ config: { hostReserveMode: 'peak', hostReserveMaxPercent: 30, peakFloor: false }, vms: [fixtures.idle, fixtures.tiny], state: remembered }));
    s.sim.setHostTemplate(10, { RESERVED_MEM: '10%' });
    const deps = { ...cycleDeps(s), hostReserve: new OnedHostReservePublisher(s.client) };
    const r = await runCycle(deps, s.config, remembered);
    expect(Number(parseHost(s.sim.hostXml(10)).template.RESERVED_MEM)).toBeGreaterThan(Math.round(0.1 * 16 * GiB));

    s.clock.ms += 10_000;
    const restored = await runRestore(deps, s.config, r.state);
    expect(restored.failed).toBe(0);
    const host = parseHost(s.sim.hostXml(10));
    expect(host.template).toMatchObject({ RESERVED_MEM: '10%', CLOUDVAMP_RESERVED_MEM: '', CLOUDVAMP_BASE_RESERVED_MEM: '' });
    expect(host.hostShare.maxMemKiB).toBe(host.hostShare.totalMemKiB - Math.round(0.1 * host.hostShare.totalMemKiB));
    expect(s.vm(100).templateMemoryMiB).toBe(4096);
    // a daemon started later reads the emptied keys as absent: the operator's 10 % is the base again
    expect(operatorBase(hostViewFromOne(host))).toEqual({ text: '10%', adopted: true });
  });

  it('VMs on hosts without the cloudvamp drivers are neither adopted nor touched; their hosts get no reserve (#9 defect 7)', async () => {
    const s = (current = await scenario({ vms: [fixtures.idle, fixtures.tiny] }));
    // the fixture hosts run IM_MAD = VM_MAD = cloudvamp; installed under another name, they are not ours
    const deps = { ...cycleDeps(s), hostReserve: new OnedHostReservePublisher(s.client), foreignLogged: new Set<number>() };
    const r = await runCycle(deps, { ...s.config, driverName: 'cloudvamp-other' }, emptyState());
    expect(r.state.vms).toEqual({});
    expect(mutating(s.sim.calls)).toEqual([]);
    expect(s.sim.callsTo('one.host.update')).toEqual([]);
    // the log says why, once per VM for the daemon's life
    const said = () => s.logs.filter((e) => e.event === 'foreign-host');
    expect(said().map((e) => e.vmId).sort()).toEqual([100, 101]);
    expect(String(said()[0]!.msg)).toMatch(/left alone: its host \S+ \(\d+\) runs IM_MAD cloudvamp and VM_MAD cloudvamp, not cloudvamp's drivers \(DRIVER_NAME cloudvamp-other\)/);
    await runCycle(deps, { ...s.config, driverName: 'cloudvamp-other' }, r.state);
    expect(said()).toHaveLength(2);
    // the same cluster with DRIVER_NAME matching the hosts' drivers is managed
    const ours = await runCycle(cycleDeps(s), s.config, emptyState());
    expect(Object.keys(ours.state.vms).sort()).toEqual(['100', '101']);
  });
});
