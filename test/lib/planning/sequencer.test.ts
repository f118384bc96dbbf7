import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPlan } from '../../../lib/planning/checker';
import { memoryMoved } from '../../../lib/planning/cost';
import { movesOf } from '../../../lib/planning/model';
import { sequence } from '../../../lib/planning/sequencer';
import { bruteForce } from './brute-force';
import { cluster, constraints, GiB, host, placement, smallInstance, swapInstance, vm } from './builders';

describe('sequence: table', () => {
  const swap = cluster([host(1, 16), host(2, 16)], [[vm(10, 12), 1], [vm(11, 12), 2]]);
  const swapTarget = placement([[10, 2], [11, 1]]);

  it('says why two 12 GiB VMs cannot swap on two 16 GiB hosts', () => {
    const result = sequence(swap, swapTarget, constraints());
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.infeasible.reason).toBe('deadlock');
    expect(result.infeasible.vms.sort()).toEqual([10, 11]);
    expect(result.infeasible.hosts.sort()).toEqual([1, 2]);
    expect(result.infeasible.message).toContain('VM 10 (12288 MiB) on host 1 needs room on host 2 (free 4096 MiB');
    expect(result.infeasible.message).toContain('no host has room to stage');
  });

  it('stages one VM on a third host with room to break the swap', () => {
    const withSpare = cluster([host(1, 16), host(2, 16), host(3, 16)], [[vm(10, 12), 1], [vm(11, 12), 2]]);
    const result = sequence(withSpare, swapTarget, constraints());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const moves = result.waves.flat();
    expect(moves).toHaveLength(3);
    expect(moves[0]).toMatchObject({ to: 3, staging: true });
    expect(result.totalCost).toBe(36 * GiB);
    expect(checkPlan(withSpare, result, constraints(), swapTarget)).toEqual([]);
  });

  it('offers the staging move instead of taking it when staging is off', () => {
    const withSpare = cluster([host(1, 16), host(2, 16), host(3, 16)], [[vm(10, 12), 1], [vm(11, 12), 2]]);
    const result = sequence(withSpare, swapTarget, constraints(), { allowStaging: false });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.infeasible.staging).toMatchObject({ to: 3, staging: true });
    expect(result.infeasible.message).toContain('would break the cycle');
  });

  it('does not stage on a host that is excluded or disabled', () => {
    const spareOff = cluster([host(1, 16), host(2, 16), host(3, 16, { enabled: false })], [[vm(10, 12), 1], [vm(11, 12), 2]]);
    expect(sequence(spareOff, swapTarget, constraints()).ok).toBe(false);
    const spareExcluded = cluster([host(1, 16), host(2, 16), host(3, 16)], [[vm(10, 12), 1], [vm(11, 12), 2]]);
    expect(sequence(spareExcluded, swapTarget, constraints({ excludedHosts: [3] })).ok).toBe(false);
  });

  it('moves a VM that stays in the target out of the way and back when that is the only way', () => {
    // 10 and 11 (6 GiB) swap between 12 GiB hosts that also hold 12 and 13 (4 GiB, staying);
    // only a 4 GiB VM fits the spare host, so 12 or 13 must step out and come back.
    const c = cluster([host(1, 12), host(2, 12), host(3, 4)], [[vm(10, 6), 1], [vm(12, 4), 1], [vm(11, 6), 2], [vm(13, 4), 2]]);
    const target = placement([[10, 2], [11, 1]]);
    const result = sequence(c, target, constraints());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(checkPlan(c, result, constraints(), target)).toEqual([]);
    expect(result.totalCost).toBe(20 * GiB);
    expect(result.totalCost).toBe(bruteForce(c, target, constraints()).cost);
    const greedyOnly = sequence(c, target, constraints(), { exactSearchBudget: 0 });
    expect(greedyOnly.ok && greedyOnly.totalCost).toBe(20 * GiB);
  });

  it.each([
    ['pinned', constraints({ pinnedVms: [10] }), 'pinned'],
    ['excluded destination', constraints({ excludedHosts: [2] }), 'excluded-host'],
  ] as const)('refuses a target that moves a VM against the constraints: %s', (_, c, reason) => {
    const result = sequence(swap, placement([[10, 2]]), c);
    expect(result.ok ? undefined : result.infeasible.reason).toBe(reason);
  });

  it('refuses a target over capacity, naming the host and the VMs sent there', () => {
    const c = cluster([host(1, 16), host(2, 16)], [[vm(10, 12), 1], [vm(11, 8), 2]]);
    const result = sequence(c, placement([[11, 1]]), constraints());
    expect(result.ok ? undefined : result.infeasible).toMatchObject({ reason: 'target-over-capacity', hosts: [1], vms: [11] });
  });

  it('refuses ids the cluster does not have', () => {
    const result = sequence(swap, placement([[99, 1]]), constraints());
    expect(result.ok ? undefined : result.infeasible.reason).toBe('unknown-reference');
  });

  it('counts the reserve: 12 + 4 GiB does not fit a 16 GiB host with 1 GiB reserved', () => {
    const c = cluster([host(1, 16), host(2, 16)], [[vm(10, 12), 1], [vm(11, 4), 2]]);
    const ok = sequence(c, placement([[11, 1]]), constraints());
    const reserved = sequence(c, placement([[11, 1]]), constraints({ reserve: { memMiB: GiB, cpu: 0 } }));
    expect(ok.ok).toBe(true);
    expect(reserved.ok).toBe(false);
  });

  it('packs independent moves into waves within the per-host and per-cluster limits', () => {
    const hosts = [host(1, 64), host(2, 64), host(3, 64), host(4, 64)];
    const vms: Array<[ReturnType<typeof vm>, number]> = Array.from({ length: 8 }, (_, i) => [vm(10 + i, 4), 1 + (i % 2)]);
    const c = cluster(hosts, vms);
    const target = placement(vms.map(([v], i) => [v.id, 3 + (i % 2)]));
    const limits = constraints({ maxInFlightPerHost: 2, maxInFlightPerCluster: 3 });
    const result = sequence(c, target, limits);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    for (const wave of result.waves) expect(wave.length).toBeLessThanOrEqual(3);
    expect(result.waves.length).toBe(Math.ceil(8 / 3));
    expect(checkPlan(c, result, limits, target)).toEqual([]);
  });

  it('keeps a wave within the destination: arrivals count while the sources still hold their VMs', () => {
    // h3 has 8 GiB free: 10 and 11 (4 + 6) cannot arrive in the same wave even though each fits alone.
    const c = cluster([host(1, 16), host(2, 16), host(3, 16)], [[vm(10, 4), 1], [vm(11, 6), 2], [vm(12, 8), 3]]);
    const target = placement([[10, 3], [11, 1]]);
    const result = sequence(c, target, constraints());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(checkPlan(c, result, constraints(), target)).toEqual([]);
  });

  it('scales cost by a pluggable function', () => {
    const c = cluster([host(1, 16), host(2, 16)], [[vm(10, 4, { dirtyMiBps: 500 }), 1]]);
    const result = sequence(c, placement([[10, 2]]), constraints(), { cost: (v) => v.memMiB * 2 });
    expect(result.ok && result.totalCost).toBe(8 * GiB);
  });
});

describe('sequence: properties on small instances (≤ 5 hosts, ≤ 8 VMs)', () => {
  it('finds a path exactly when brute force does; every plan passes the checker; cost within 10% of the optimum', () => {
    let reachable = 0;
    fc.assert(
      fc.property(smallInstance(5, 8), ({ cluster: c, target, constraints: k }) => {
        const reference = bruteForce(c, target, k);
        const result = sequence(c, target, k, { cost: memoryMoved });
        expect(result.ok).toBe(reference.reachable);
        if (!result.ok) return;
        reachable++;
        expect(checkPlan(c, result, k, target)).toEqual([]);
        expect(movesOf(result).reduce((s, m) => s + m.cost, 0)).toBe(result.totalCost);
        expect(result.totalCost).toBeLessThanOrEqual(reference.cost * 1.1 + 1e-6);
      }),
      { numRuns: 1000, seed: 42 },
    );
    expect(reachable).toBeGreaterThan(500);
  });

  it('the same on hosts trading all their VMs in a cycle, where detours are the rule', () => {
    let staged = 0;
    let unreachable = 0;
    fc.assert(
      fc.property(swapInstance(4, 8), ({ cluster: c, target, constraints: k }) => {
        const reference = bruteForce(c, target, k);
        const result = sequence(c, target, k);
        expect(result.ok).toBe(reference.reachable);
        if (!result.ok) {
          unreachable++;
          expect(result.infeasible.reason).toBe('deadlock');
          return;
        }
        if (result.stagingMoves > 0) staged++;
        expect(checkPlan(c, result, k, target)).toEqual([]);
        expect(result.totalCost).toBeLessThanOrEqual(reference.cost * 1.1 + 1e-6);
      }),
      { numRuns: 150, seed: 3 },
    );
    expect(staged).toBeGreaterThan(15);
    expect(unreachable).toBeGreaterThan(15);
  });

  it('the greedy alone (no exact search, as on large clusters) gives only valid plans, and direct ones at the cost of moving each misplaced VM once', () => {
    let directReachable = 0;
    let greedyFound = 0;
    fc.assert(
      fc.property(smallInstance(5, 8), ({ cluster: c, target, constraints: k }) => {
        const greedy = sequence(c, target, k, { exactSearchBudget: 0 });
        const misplaced = c.vms.filter((v) => (target.get(v.id) ?? c.placement.get(v.id)) !== c.placement.get(v.id));
        const direct = misplaced.reduce((s, v) => s + v.memMiB, 0);
        if (greedy.ok) {
          expect(checkPlan(c, greedy, k, target)).toEqual([]);
          if (greedy.stagingMoves === 0) expect(greedy.totalCost).toBe(direct);
        }
        if (bruteForce(c, target, k).cost === direct) {
          directReachable++;
          if (greedy.ok) greedyFound++;
        }
      }),
      { numRuns: 300, seed: 7 },
    );
    // Ordering is hard in general; the greedy must still get nearly every instance a direct order solves.
    expect(greedyFound / directReachable).toBeGreaterThan(0.95);
  });
});
