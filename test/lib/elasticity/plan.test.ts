// The cycle's plan over a whole cluster (lib/elasticity/plan.ts, plan-check.ts): no host committed
// beyond its headroom, targets within bounds, and the relief migration a grow needs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planCycle, planRestore } from '../../../lib/elasticity/plan';
import { checkPlan } from '../../../lib/elasticity/plan-check';
import type { ElasticityState } from '../../../lib/elasticity/state';
import { emptyState, reconcile } from '../../../lib/elasticity/state';
import type { ClusterView } from '../../../lib/elasticity/ports';
import { cluster, config, GiB, host, MiB, vm } from './builders';

const NOW = 1_000_000_000;

const arbCluster = fc
  .record({
    hosts: fc.array(fc.record({ total: fc.integer({ min: 4, max: 64 }), free: fc.option(fc.integer({ min: 0, max: 64 }), { nil: undefined }), enabled: fc.boolean(), cluster: fc.integer({ min: 0, max: 1 }) }), { minLength: 1, maxLength: 6 }),
    vms: fc.array(
      fc.record({
        host: fc.nat(),
        original: fc.integer({ min: 256, max: 16384 }),
        currentShare: fc.double({ min: 0.1, max: 1, noNaN: true }),
        usedShare: fc.double({ min: 0, max: 1, noNaN: true }),
        running: fc.boolean(),
      }),
      { maxLength: 30 },
    ),
    lastMigrationAgo: fc.option(fc.integer({ min: 0, max: 600_000 }), { nil: undefined }),
  })
  .map((r): ClusterView => {
    const hosts = r.hosts.map((h, id) => host(id, h.total * GiB, { enabled: h.enabled, clusterId: h.cluster, ...(h.free !== undefined ? { freeKiB: h.free * GiB } : {}) }));
    const vms = r.vms.map((x, id) => {
      const original = x.original * MiB;
      const current = Math.max(MiB, Math.round((original * x.currentShare) / MiB) * MiB);
      const hostId = x.host % hosts.length;
      return vm(id, { originalKiB: original, currentKiB: current, usedKiB: Math.round(current * x.usedShare), hostId, hostName: `host-${hostId}`, running: x.running || x.usedShare > 0.5 });
    });
    return cluster(vms, hosts);
  });

/** Gives VM i a peak of peaks[i] × its original, recorded 30 min ago. */
function withPeaks(state: ElasticityState, peaks: (number | undefined)[]): ElasticityState {
  const vms = { ...state.vms };
  peaks.forEach((share, i) => {
    const s = vms[String(i)];
    if (s && share !== undefined) vms[String(i)] = { ...s, peak: { kib: Math.round(s.originalKiB * share), at: NOW - 1_800_000 } };
  });
  return { ...state, vms };
}

describe('planCycle: properties', () => {
  it('no decision commits a host beyond its headroom, and targets stay within [floor, original]', () => {
    fc.assert(
      fc.property(
        arbCluster,
        fc.boolean(),
        fc.constantFrom(0, 3_600_000),
        fc.boolean(),
        fc.array(fc.option(fc.double({ min: 0, max: 1.2, noNaN: true }), { nil: undefined }), { maxLength: 30 }),
        (view, migrate, peakHalfLifeMs, peakFloor, peaks) => {
          const cfg = config({ migrate, peakHalfLifeMs, peakFloor });
          const state = withPeaks(reconcile(emptyState(), view, NOW).state, peaks);
          const plan = planCycle(view, state, cfg, NOW);
          expect(checkPlan(view, plan, state, cfg)).toEqual([]);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('relief migrations: never the growing VM, at most one per source host, only to enabled hosts of the same cluster', () => {
    fc.assert(
      fc.property(arbCluster, (view) => {
        const cfg = config();
        const state = reconcile(emptyState(), view, NOW).state;
        const plan = planCycle(view, state, cfg, NOW);
        const growing = new Set(plan.decisions.filter((d) => d.action === 'grow').map((d) => d.vmId));
        const sources = plan.migrations.map((m) => m.fromHostId);
        expect(new Set(sources).size).toBe(sources.length);
        for (const m of plan.migrations) {
          expect(growing.has(m.vmId)).toBe(false);
          const to = view.hosts.find((h) => h.id === m.toHostId)!;
          const from = view.hosts.find((h) => h.id === m.fromHostId)!;
          expect(to.enabled).toBe(true);
          expect(to.clusterId).toBe(from.clusterId);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('restore-all never overloads a host unless forced', () => {
    fc.assert(
      fc.property(arbCluster, (view) => {
        const cfg = config();
        const state = reconcile(emptyState(), view, NOW).state;
        expect(checkPlan(view, planRestore(view, state, cfg), state, cfg)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});


describe('decideHost: relief migration', () => {
  const cfg = config({ hostReserveKiB: 0 });
  // host 0 is full; VM 1 is starving; VMs 2 and 3 could move; host 1 fits 2 GiB, host 2 fits 6 GiB.
  const view = cluster(
    [
      vm(1, { originalKiB: 8 * GiB, currentKiB: 4 * GiB, usedKiB: 4 * GiB - 10 * MiB }),
      vm(2, { originalKiB: 2 * GiB, currentKiB: 2 * GiB, usedKiB: 1.4 * GiB }),
      vm(3, { originalKiB: 6 * GiB, currentKiB: 6 * GiB, usedKiB: 4.2 * GiB }),
      vm(4, { originalKiB: 6 * GiB, currentKiB: 6 * GiB, usedKiB: 4.2 * GiB, hostId: 1, hostName: 'host-1' }),
      vm(5, { originalKiB: 2 * GiB, currentKiB: 2 * GiB, usedKiB: 1.4 * GiB, hostId: 2, hostName: 'host-2' }),
    ],
    [host(0, 12 * GiB), host(1, 8 * GiB), host(2, 8.5 * GiB)],
  );

  it('moves the cheapest VM that frees enough to the best-fitting host, then grows', () => {
    const state = reconcile(emptyState(), view, NOW).state;
    const plan = planCycle(view, state, cfg, NOW);
    expect(plan.migrations).toEqual([expect.objectContaining({ vmId: 2, fromHostId: 0, toHostId: 1, forVmId: 1, kib: 2 * GiB })]);
    const grow = plan.decisions.find((d) => d.vmId === 1)!;
    expect(grow).toMatchObject({ action: 'grow', afterMigrationOf: 2 });
    expect(grow.targetKiB - grow.fromKiB).toBeLessThanOrEqual(2 * GiB);
  });

  it('never moves a VM pinned by CLOUDVAMP_PINNED=YES: the next cheapest one goes instead', () => {
    const pinned = { ...view, vms: view.vms.map((v) => (v.id === 2 ? { ...v, pinned: true } : v)) };
    const plan = planCycle(pinned, reconcile(emptyState(), pinned, NOW).state, cfg, NOW);
    expect(plan.migrations.map((m) => m.vmId)).not.toContain(2);
    expect(plan.migrations).toEqual([expect.objectContaining({ vmId: 3, fromHostId: 0, toHostId: 2 })]);
  });

  it('honours CPU: a destination whose TOTAL_CPU the VM would overcommit is refused', () => {
    // host 1 has the memory for VM 2 but only 1 core, already taken by VM 4
    const cpu = {
      vms: view.vms.map((v) => ({ ...v, cpu: 100 })),
      hosts: [host(0, 12 * GiB, { cpu: 800 }), host(1, 8 * GiB, { cpu: 100 }), host(2, 8.5 * GiB, { cpu: 800 })],
    };
    const plan = planCycle(cpu, reconcile(emptyState(), cpu, NOW).state, cfg, NOW);
    expect(plan.migrations).toEqual([expect.objectContaining({ vmId: 2, fromHostId: 0, toHostId: 2 })]);
  });

  it('in migration cooldown: grows only what fits, never blindly', () => {
    const state = reconcile(emptyState(), view, NOW).state;
    state.hosts['0'] = { lastMigrationAt: NOW - 10_000 };
    const plan = planCycle(view, state, cfg, NOW);
    expect(plan.migrations).toEqual([]);
    expect(plan.decisions.find((d) => d.vmId === 1)).toMatchObject({ action: 'none', reason: expect.stringMatching(/no room \(host in migration cooldown\)/) });
  });

  it('with partial room: grows to what fits', () => {
    const roomy = { ...view, hosts: [host(0, 13 * GiB), host(1, 6 * GiB), host(2, 2 * GiB)] };
    const state = reconcile(emptyState(), roomy, NOW).state;
    const plan = planCycle(roomy, state, cfg, NOW);
    expect(plan.migrations).toEqual([]);
    expect(plan.decisions.find((d) => d.vmId === 1)).toMatchObject({ action: 'grow', targetKiB: 5 * GiB, reason: expect.stringMatching(/only 5120 MiB fits/) });
  });
});
