// The automatic balance mode's decision: only moves worth their migrations,
// within the caps, with `now` and the history injected.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideAutoBalance, defaultAutoBalancePolicy, validateAutoPolicy, type PastMigration } from '../../../lib/planning/auto';
import { checkPlacement } from '../../../lib/planning/checker';
import type { Cluster, Constraints, Placement } from '../../../lib/planning/model';
import { cluster, constraints, host, mediumCluster, vm } from './builders';

const NOW = Date.UTC(2026, 10, 30, 12);
const HOUR = 3_600_000;

/** Capacity-weighted variance of host utilisation, memory plus CPU, over receiving hosts: restated without planning code. */
function imbalance(c: Cluster, k: Constraints, placement: Placement): number {
  const hosts = c.hosts.filter((h) => h.enabled && !k.excludedHosts.includes(h.id));
  let total = 0;
  for (const resource of ['mem', 'cpu'] as const) {
    const cap = (h: (typeof hosts)[number]) => Math.max(1, resource === 'mem' ? h.memMiB - k.reserve.memMiB : h.cpu - k.reserve.cpu);
    const load = (h: (typeof hosts)[number]) => c.vms.filter((v) => (placement.get(v.id) ?? c.placement.get(v.id)) === h.id).reduce((s, v) => s + (resource === 'mem' ? v.memMiB : v.cpu), 0);
    const capTotal = hosts.reduce((s, h) => s + cap(h), 0);
    const mean = hosts.reduce((s, h) => s + load(h), 0) / capTotal;
    total += hosts.reduce((s, h) => s + cap(h) * (load(h) / cap(h) - mean) ** 2, 0) / capTotal;
  }
  return total;
}

const moved = (c: Cluster, target: Placement) => [...target].filter(([v, h]) => c.placement.get(v) !== h).map(([v]) => v);

describe('decideAutoBalance', () => {
  const lopsided = cluster([host(1, 32), host(2, 32), host(3, 32)], [[vm(10, 8), 1], [vm(11, 8), 1], [vm(12, 8), 1], [vm(13, 4), 2]]);

  it('moves what is worth it and says why, one line per move', () => {
    const decision = decideAutoBalance(lopsided, constraints(), defaultAutoBalancePolicy, [], NOW);
    expect(moved(lopsided, decision.target).length).toBe(2);
    expect(decision.reasons).toHaveLength(2);
    expect(decision.reasons[0]).toMatch(/^VM 1\d \(v1\d\) host 1 \(h1\) → [23] \(h[23]\): spread of host utilisation \(σ\) \d+\.\d% → \d+\.\d%, \d+\.\d% of the imbalance per migration$/);
  });

  it('moves nothing when no migration gains the share asked', () => {
    const decision = decideAutoBalance(lopsided, constraints(), { ...defaultAutoBalancePolicy, minGainPerMigration: 0.9 }, [], NOW);
    expect(moved(lopsided, decision.target)).toEqual([]);
    expect(decision.reasons).toEqual([]);
    expect(decision.stopped).toMatch(/^the next step removes \d+\.\d% of the imbalance per migration, under the 90\.0% asked$/);
  });

  it('keeps a VM that moved its daily share in the last 24 hours; older moves do not count', () => {
    const history: PastMigration[] = [10, 11, 12].flatMap((id) => [{ vm: id, at: NOW - 2 * HOUR }, { vm: id, at: NOW - 23 * HOUR }]);
    const tired = decideAutoBalance(lopsided, constraints(), defaultAutoBalancePolicy, history, NOW);
    expect(moved(lopsided, tired.target).filter((id) => [10, 11, 12].includes(id))).toEqual([]);
    expect(tired.stopped).toMatch(/kept in place: VMs 10, 11, 12$/);
    const rested = decideAutoBalance(lopsided, constraints(), defaultAutoBalancePolicy, history, NOW + 2 * HOUR);
    expect(moved(lopsided, rested.target).length).toBe(2);
  });

  it('on any cluster: within the caps, valid, and every migration paid for by the gain asked', () => {
    fc.assert(
      fc.property(
        mediumCluster(0.9),
        fc.record({ minGainPerMigration: fc.constantFrom(0.01, 0.05, 0.2), maxPerPeriod: fc.integer({ min: 1, max: 6 }), maxPerVmPerDay: fc.integer({ min: 1, max: 3 }) }),
        fc.array(fc.record({ vm: fc.integer({ min: 100, max: 139 }), hoursAgo: fc.integer({ min: 0, max: 48 }) }), { maxLength: 30 }),
        ({ cluster: c, constraints: k }, policy, past) => {
          const history = past.map((p) => ({ vm: p.vm, at: NOW - p.hoursAgo * HOUR }));
          const decision = decideAutoBalance(c, k, policy, history, NOW);
          const ids = moved(c, decision.target);
          expect(ids.length).toBeLessThanOrEqual(policy.maxPerPeriod);
          expect(checkPlacement(c, decision.target, k)).toEqual([]);
          for (const id of ids) expect(history.filter((h) => h.vm === id && h.at > NOW - 24 * HOUR).length).toBeLessThan(policy.maxPerVmPerDay);
          const start = imbalance(c, k, c.placement);
          expect(start - imbalance(c, k, decision.target)).toBeGreaterThanOrEqual(policy.minGainPerMigration * start * ids.length - 1e-9);
          expect(decision.reasons.length).toBeGreaterThanOrEqual(Math.ceil(ids.length / 2));
        },
      ),
      { numRuns: 150, seed: 5 },
    );
  });

  it('validates the policy, every problem at once', () => {
    expect(validateAutoPolicy({ minGainPerMigration: 0, maxPerPeriod: 0, maxPerVmPerDay: 1.5 })).toEqual([
      'the minimum gain per migration must be in (0, 1], got 0',
      'migrations per period must be a whole number ≥ 1, got 0',
      'migrations per VM per day must be a whole number ≥ 1, got 1.5',
    ]);
  });
});
