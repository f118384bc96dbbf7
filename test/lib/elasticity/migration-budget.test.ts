import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recordPlan } from '../../../lib/elasticity/apply-plan';
import { isMoveBack, migrationBudget, migrationsLastHour, withMigration } from '../../../lib/elasticity/migration-budget';
import { planCycle } from '../../../lib/elasticity/plan';
import { emptyState, reconcile, type ElasticityState } from '../../../lib/elasticity/state';
import { cluster, config, GiB, host, MiB, vm } from './builders';

const NOW = 1_000_000_000;
const HOUR = 3_600_000;

describe('migration budget and move-back hold', () => {
  it('counts a host as source and destination over the sliding hour; the state keeps only that hour', () => {
    let state: ElasticityState = emptyState();
    state = { ...state, vms: { '7': { originalKiB: GiB, firstSeenAt: 0, strikes: 0 } } };
    const move = (at: number, from: number, to: number) =>
      (state = recordPlan(state, { decisions: [], migrations: [{ vmId: 7, fromHostId: from, toHostId: to, kib: GiB, forVmId: 1, reason: 't' }] }, at));
    move(NOW - 2 * HOUR, 0, 1);
    move(NOW - 30 * 60_000, 1, 0);
    move(NOW - 10 * 60_000, 0, 2);
    expect(migrationsLastHour(state, 0, NOW)).toBe(2);
    expect(migrationsLastHour(state, 1, NOW)).toBe(1);
    expect(migrationsLastHour(state, 2, NOW)).toBe(1);
    expect(migrationBudget(state, [0, 1, 2, 3], config(), NOW)).toEqual(new Map([[0, 0], [1, 1], [2, 1], [3, 2]]));
    expect(state.hosts['0']!.migrations!.every((t) => NOW - t < HOUR)).toBe(true);
    // VM 7 left host 0 ten minutes ago: not back there before 30 min
    expect(isMoveBack(state, 7, 0, config(), NOW)).toBe(true);
    expect(isMoveBack(state, 7, 0, config(), NOW + 20 * 60_000)).toBe(false);
    expect(isMoveBack(state, 7, 1, config(), NOW)).toBe(false);
  });

  it('property: withMigration keeps every time of the last hour and nothing older', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3 * HOUR }), { maxLength: 30 }), fc.integer({ min: 3 * HOUR, max: 4 * HOUR }), (times, now) => {
        const kept = withMigration(times, now);
        expect(kept.at(-1)).toBe(now);
        expect(kept.slice(0, -1)).toEqual(times.filter((t) => now - t < HOUR));
      }),
    );
  });

  // host 0 is full and VM 1 starves; VM 2 could make room on host 1 or host 2.
  const view = cluster(
    [
      vm(1, { originalKiB: 8 * GiB, currentKiB: 4 * GiB, usedKiB: 4 * GiB - 10 * MiB }),
      vm(2, { originalKiB: 2 * GiB, currentKiB: 2 * GiB, usedKiB: 1.4 * GiB }),
      vm(3, { originalKiB: 6 * GiB, currentKiB: 6 * GiB, usedKiB: 4.2 * GiB }),
    ],
    [host(0, 12 * GiB), host(1, 8 * GiB), host(2, 8 * GiB)],
  );
  const cfg = config({ hostReserveKiB: 0 });

  it('a relief migration never takes a VM back to a host it left within MOVE_BACK_HOLD', () => {
    const state = reconcile(emptyState(), view, NOW).state;
    const free = planCycle(view, state, cfg, NOW);
    expect(free.migrations).toEqual([expect.objectContaining({ vmId: 2, toHostId: 1 })]);
    state.vms['2'] = { ...state.vms['2']!, leftHost: { hostId: 1, at: NOW - 5 * 60_000 } };
    expect(planCycle(view, state, cfg, NOW).migrations).toEqual([expect.objectContaining({ vmId: 2, toHostId: 2 })]);
    state.vms['2'] = { ...state.vms['2']!, leftHost: { hostId: 1, at: NOW - 31 * 60_000 } };
    expect(planCycle(view, state, cfg, NOW).migrations).toEqual([expect.objectContaining({ vmId: 2, toHostId: 1 })]);
  });

  it('a host whose hour is spent sends and receives no relief migration: the grow takes only what fits', () => {
    const state = reconcile(emptyState(), view, NOW).state;
    state.hosts['0'] = { migrations: [NOW - 50 * 60_000, NOW - 40 * 60_000] };
    expect(planCycle(view, state, cfg, NOW).migrations).toEqual([]);
    state.hosts['0'] = {};
    state.hosts['1'] = { migrations: [NOW - 50 * 60_000, NOW - 40 * 60_000] };
    expect(planCycle(view, state, cfg, NOW).migrations).toEqual([expect.objectContaining({ vmId: 2, toHostId: 2 })]);
  });

  it('property: whatever the history, no plan spends more than a host has left', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 2 * HOUR }), { maxLength: 4 }), { minLength: 3, maxLength: 3 }),
        fc.integer({ min: 0, max: 3 }),
        (histories, max) => {
          const state = reconcile(emptyState(), view, NOW).state;
          histories.forEach((h, i) => (state.hosts[String(i)] = { migrations: h.map((ago) => NOW - ago) }));
          const c = { ...cfg, maxMigrationsPerHostHour: max };
          const budget = migrationBudget(state, [0, 1, 2], c, NOW);
          const plan = planCycle(view, state, c, NOW);
          const spent = new Map<number, number>();
          for (const m of plan.migrations) for (const h of [m.fromHostId, m.toHostId]) spent.set(h, (spent.get(h) ?? 0) + 1);
          for (const [h, n] of spent) expect(n).toBeLessThanOrEqual(budget.get(h)!);
        },
      ),
    );
  });
});
