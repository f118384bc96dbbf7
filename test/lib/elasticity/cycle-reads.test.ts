// What each step's re-check reads when the source can refresh (#11): the
// step's VM; a grow's host once per cycle; a wave of more than three shrinks
// one whole snapshot for all of them.
import { describe, expect, it } from 'vitest';
import { runCycle, type CycleDeps } from '../../../lib/elasticity/cycle';
import type { ClusterSource, ClusterView } from '../../../lib/elasticity/ports';
import { emptyState } from '../../../lib/elasticity/state';
import { config, GiB } from './builders';
import { FakeCloud, MemoryStore } from './fake-cloud';

function counting(cloud: FakeCloud) {
  const reads = { snapshots: 0, refreshes: [] as Array<{ vms: number[]; hosts: number[] }> };
  const source: ClusterSource = {
    snapshot: () => {
      reads.snapshots++;
      return cloud.snapshot();
    },
    async refresh(base: ClusterView, vmIds: readonly number[], hostIds: readonly number[]) {
      reads.refreshes.push({ vms: [...vmIds], hosts: [...hostIds] });
      const now = await cloud.snapshot();
      const vms = new Map(now.vms.map((v) => [v.id, v]));
      const hosts = new Map(now.hosts.map((h) => [h.id, h]));
      return {
        vms: base.vms.flatMap((v) => (vmIds.includes(v.id) ? (vms.has(v.id) ? [vms.get(v.id)!] : []) : [v])),
        hosts: base.hosts.map((h) => (hostIds.includes(h.id) ? hosts.get(h.id)! : h)),
      };
    },
  };
  const deps: CycleDeps = { source, applier: cloud, migrator: cloud, publisher: cloud, store: new MemoryStore(), log: () => undefined, now: () => 1_700_000_000_000 };
  return { deps, reads };
}

describe('re-reads before each step', () => {
  it('two shrinks: one refresh of each VM alone, no host, no snapshot beyond the plan\'s', async () => {
    const cloud = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 1 * GiB).addVm(2, 0, 4 * GiB, 1 * GiB);
    const { deps, reads } = counting(cloud);
    expect(await runCycle(deps, config(), emptyState())).toMatchObject({ applied: 2, skipped: 0 });
    expect(reads).toEqual({ snapshots: 1, refreshes: [{ vms: [1], hosts: [] }, { vms: [2], hosts: [] }] });
  });

  it('six shrinks share one snapshot; two grows on one host read that host once', async () => {
    const cloud = new FakeCloud().addHost(0, 64 * GiB);
    for (let id = 1; id <= 6; id++) cloud.addVm(id, 0, 4 * GiB, 1 * GiB);
    for (const id of [7, 8]) {
      cloud.addVm(id, 0, 4 * GiB, 2 * GiB);
      cloud.vms.get(id)!.currentKiB = 2 * GiB; // ballooned down, now using all of it: starving
      cloud.vms.get(id)!.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY = 4 * GiB;
    }
    const { deps, reads } = counting(cloud);
    const r = await runCycle(deps, config(), emptyState());
    expect(r.plan.decisions.filter((d) => d.action === 'grow').map((d) => d.vmId)).toEqual([7, 8]);
    expect(r).toMatchObject({ applied: 8, skipped: 0 });
    expect(reads.snapshots).toBe(2);
    expect(reads.refreshes).toEqual([{ vms: [7], hosts: [0] }, { vms: [8], hosts: [] }]);
  });

  it("with vmStates the shrinks' wave reads the VMs' states, not a whole snapshot, and a shrink of a VM resized meanwhile is skipped", async () => {
    const cloud = new FakeCloud().addHost(0, 64 * GiB);
    for (let id = 1; id <= 5; id++) cloud.addVm(id, 0, 4 * GiB, 1 * GiB);
    const { deps, reads } = counting(cloud);
    let states = 0;
    deps.source.vmStates = async () => {
      states++;
      const view = await cloud.snapshot();
      // someone else resized VM 3 after the plan: the wave's read shows it
      return { hosts: [], vms: view.vms.map((vm) => (vm.id === 3 ? { ...vm, currentKiB: 3 * GiB } : vm)) };
    };
    const r = await runCycle(deps, config(), emptyState());
    expect(r).toMatchObject({ applied: 4, skipped: 1 });
    expect({ snapshots: reads.snapshots, states }).toEqual({ snapshots: 1, states: 1 });
    expect(r.state.vms['3']!.lastAction).toMatchObject({ result: 'skipped' });
  });

  it('a wave runs the steps of different hosts at once, a host\'s own one after another, and its first shrinks share one read', async () => {
    const cloud = new FakeCloud().addHost(0, 64 * GiB).addHost(1, 64 * GiB).addHost(2, 64 * GiB);
    for (let id = 1; id <= 12; id++) cloud.addVm(id, id % 3, 4 * GiB, 1 * GiB);
    const { deps, reads } = counting(cloud);
    let states = 0;
    deps.source.vmStates = async () => {
      states++;
      return { ...(await cloud.snapshot()), hosts: [] };
    };
    const perHost = new Map<number, number>();
    let inFlight = 0;
    let most = 0;
    deps.applier = {
      async setMemory(vm, kib) {
        perHost.set(vm.hostId!, (perHost.get(vm.hostId!) ?? 0) + 1);
        expect(perHost.get(vm.hostId!)).toBe(1);
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 2));
        await cloud.setMemory(vm, kib);
        inFlight--;
        perHost.set(vm.hostId!, perHost.get(vm.hostId!)! - 1);
      },
    };
    const r = await runCycle(deps, config(), emptyState());
    expect(r).toMatchObject({ applied: 12, skipped: 0, failed: 0 });
    expect(most).toBe(3);
    expect({ snapshots: reads.snapshots, states }).toEqual({ snapshots: 1, states: 1 });
  });

  it("a grow's re-check counts every VM oned places on its host, this cycle's earlier grows at their new size, not only the VMs it re-read", async () => {
    // Host 0 runs two starving VMs and a third that stays as it is. After the
    // plan, host 0 loses memory (an operator lowered it): the first grow still
    // fits, the second only if the first one's new size were forgotten.
    const cloud = new FakeCloud().addHost(0, 64 * GiB).addVm(9, 0, 20 * GiB, 20 * GiB);
    for (const id of [7, 8]) {
      cloud.addVm(id, 0, 16 * GiB, 8 * GiB);
      cloud.vms.get(id)!.currentKiB = 8 * GiB;
      cloud.vms.get(id)!.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY = 16 * GiB;
    }
    const { deps, reads } = counting(cloud);
    const snapshot = deps.source.snapshot.bind(deps.source);
    deps.source.snapshot = async () => {
      const view = await snapshot();
      cloud.hosts.set(0, { ...cloud.hosts.get(0)!, totalKiB: 42 * GiB }); // after the plan's read
      return view;
    };
    const r = await runCycle(deps, config({ hostReserveKiB: 0 }), emptyState());
    const grows = r.plan.decisions.filter((d) => d.action === 'grow');
    expect(grows.map((d) => d.vmId)).toEqual([7, 8]);
    const grown = grows[0]!.targetKiB - grows[0]!.fromKiB;
    expect(36 * GiB + grown).toBeLessThanOrEqual(42 * GiB); // the first fits
    expect(36 * GiB + grown + (grows[1]!.targetKiB - grows[1]!.fromKiB)).toBeGreaterThan(42 * GiB); // both do not
    expect(r).toMatchObject({ applied: 1, skipped: 1 });
    expect(reads.refreshes).toEqual([{ vms: [7], hosts: [0] }, { vms: [8], hosts: [] }]);
  });
});
