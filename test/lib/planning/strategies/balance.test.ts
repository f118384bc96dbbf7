import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPlacement } from '../../../../lib/planning/checker';
import type { Cluster, Constraints, Host, Placement } from '../../../../lib/planning/model';
import { balance } from '../../../../lib/planning/strategies/balance';
import { cluster, constraints, host, mediumCluster, vm } from '../builders';

describe('balance', () => {
  const lopsided = cluster(
    [host(1, 32), host(2, 32), host(3, 32)],
    [[vm(10, 8), 1], [vm(11, 8), 1], [vm(12, 8), 1], [vm(13, 4), 2]],
  );

  it('evens out memory use, stating the spread before and after', () => {
    const target = balance.plan(lopsided, balance.defaults, constraints());
    const perHost = [1, 2, 3].map((h) => [...target.placement].filter(([, at]) => at === h).length);
    expect(perHost.sort()).toEqual([1, 1, 2]);
    expect(target.notes[0]).toMatch(/^utilisation spread 75\.0% → 12\.5%/);
  });

  it('stops at the migration bound', () => {
    const target = balance.plan(lopsided, { maxMigrations: 1 }, constraints());
    expect([...target.placement].filter(([v, h]) => lopsided.placement.get(v) !== h)).toHaveLength(1);
  });

  it('does not move what cannot improve the spread', () => {
    const even = cluster([host(1, 32), host(2, 32)], [[vm(10, 8), 1], [vm(11, 8), 2]]);
    const target = balance.plan(even, balance.defaults, constraints());
    expect(target.placement).toEqual(even.placement);
  });
});

describe('balance local search', () => {
  it('swaps when no single move helps: a full host of large VMs trades one for a small VM', () => {
    // h1 holds 8+8 of 20, h2 holds 4+4 of 20: moving an 8 only shifts the imbalance, trading an 8 for a 4 evens it.
    const stuck = cluster([host(1, 20), host(2, 20)], [[vm(10, 8), 1], [vm(11, 8), 1], [vm(12, 4), 2], [vm(13, 4), 2]]);
    const target = balance.plan(stuck, { maxMigrations: 2 }, constraints());
    const load = (h: number) => [...target.placement].filter(([, at]) => at === h).reduce((sum, [id]) => sum + stuck.vms.find((v) => v.id === id)!.memMiB, 0);
    expect(load(1)).toBe(load(2));
    expect(target.notes[0]).toMatch(/^utilisation spread 40\.0% → 0\.0% .*, 2 VMs to migrate$/);
  });

  it('stops only where no move and no swap within the budget lowers Σ load²/capacity (checked by enumeration)', () => {
    fc.assert(
      fc.property(mediumCluster(0.9), fc.integer({ min: 1, max: 6 }), ({ cluster: c, constraints: k }, budget) => {
        const target = balance.plan(c, { maxMigrations: budget }, k);
        expect(checkPlacement(c, target.placement, k)).toEqual([]);
        expect(movedCount(c, target.placement)).toBeLessThanOrEqual(budget);
        const now = objective(c, k, target.placement);
        for (const next of neighbours(c, k, target.placement)) {
          if (movedCount(c, next) > budget || checkPlacement(c, next, k).length > 0) continue;
          expect(objective(c, k, next)).toBeGreaterThanOrEqual(now - 1e-9);
        }
      }),
      { numRuns: 80, seed: 12 },
    );
  });
});

function movedCount(c: Cluster, placement: Placement): number {
  return [...placement].filter(([v, h]) => c.placement.get(v) !== h).length;
}

/** Σ load²/capacity per resource over the receiving hosts, each over its total capacity: the strategy's objective, restated. */
function objective(c: Cluster, k: Constraints, placement: Placement): number {
  const receiving = c.hosts.filter((h) => h.enabled && !k.excludedHosts.includes(h.id));
  const capMem = (h: Host) => Math.max(1, h.memMiB - k.reserve.memMiB);
  const capCpu = (h: Host) => Math.max(1, h.cpu - k.reserve.cpu);
  const totalMem = receiving.reduce((s, h) => s + capMem(h), 0);
  const totalCpu = receiving.reduce((s, h) => s + capCpu(h), 0);
  let sum = 0;
  for (const h of receiving) {
    const on = c.vms.filter((v) => placement.get(v.id) === h.id);
    const mem = on.reduce((s, v) => s + v.memMiB, 0);
    const cpu = on.reduce((s, v) => s + v.cpu, 0);
    sum += (mem * mem) / capMem(h) / totalMem + (cpu * cpu) / capCpu(h) / totalCpu;
  }
  return sum;
}

/** Every placement one move or one swap away, for movable VMs on receiving hosts going to receiving hosts. */
function* neighbours(c: Cluster, k: Constraints, placement: Placement): Generator<Placement> {
  const receiving = c.hosts.filter((h) => h.enabled && !k.excludedHosts.includes(h.id)).map((h) => h.id);
  const movable = c.vms.filter((v) => !k.pinnedVms.includes(v.id) && receiving.includes(placement.get(v.id)!)).map((v) => v.id);
  for (const v of movable) {
    for (const h of receiving) if (h !== placement.get(v)) yield new Map([...placement, [v, h]]);
    for (const u of movable) {
      if (u <= v || placement.get(u) === placement.get(v)) continue;
      yield new Map([...placement, [v, placement.get(u)!], [u, placement.get(v)!]]);
    }
  }
}
