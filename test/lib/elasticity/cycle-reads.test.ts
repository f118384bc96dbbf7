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
});
