import { describe, expect, it } from 'vitest';
import { planToJson, planToTable, progressLine } from '../../../lib/planning/format';
import type { Plan } from '../../../lib/planning/model';
import { cluster, GiB, host, vm } from './builders';

const plan: Plan = {
  strategy: 'consolidate',
  target: new Map([[10, 2], [11, 1]]),
  waves: [[{ vm: 10, from: 1, to: 3, cost: 12 * GiB, staging: true }], [{ vm: 11, from: 2, to: 1, cost: 12 * GiB }], [{ vm: 10, from: 3, to: 2, cost: 12 * GiB }]],
  totalCost: 36 * GiB,
  notes: ['hosts used 2 → 2 (lower bound 2), 2 VMs to migrate'],
  unresolved: [],
};

describe('format', () => {
  it('prints an aligned table with names from the cluster', () => {
    const c = cluster([host(1, 16), host(2, 16), host(3, 16)], [[vm(10, 12), 1], [vm(11, 12), 2]]);
    expect(planToTable(plan, c)).toBe(
      [
        'plan consolidate: 3 migrations in 3 waves, 36.0 GiB to move (dry run)',
        '  hosts used 2 → 2 (lower bound 2), 2 VMs to migrate',
        '',
        'wave  vm      from  to    cost',
        '1     10 v10  1 h1  3 h3  12.0 GiB  staging',
        '2     11 v11  2 h2  1 h1  12.0 GiB',
        '3     10 v10  3 h3  2 h2  12.0 GiB',
      ].join('\n'),
    );
  });

  it('says why when there is no plan', () => {
    const text = planToTable({ ...plan, waves: [], totalCost: 0, infeasible: { reason: 'deadlock', message: 'the remaining moves wait on each other', vms: [10, 11], hosts: [1, 2] } });
    expect(text.split('\n').at(-1)).toBe('infeasible (deadlock): the remaining moves wait on each other');
  });

  it('prints JSON with waves, totals and the target keyed by VM id', () => {
    const json = JSON.parse(planToJson(plan));
    expect(json).toMatchObject({ strategy: 'consolidate', feasible: true, migrations: 3, totalCost: 36 * GiB, target: { '10': 2, '11': 1 } });
    expect(json.waves[0]).toEqual([{ vm: 10, from: 1, to: 3, cost: 12 * GiB, staging: true }]);
  });
});

describe('progressLine', () => {
  const c = cluster([host(1, 16), host(3, 16)], [[vm(10, 12), 1]]);
  const move = { vm: 10, from: 1, to: 3, cost: 12 * GiB };
  it('stamps each applier event with the time since the start', () => {
    expect(progressLine({ type: 'wave-start', wave: 1, waves: 3, moves: 2 }, 0, c)).toBe('[   0.0s] wave 1/3: 2 migrations');
    expect(progressLine({ type: 'move-start', wave: 1, move }, 1_250, c)).toBe('[   1.3s] VM 10 v10: 1 h1 → 3 h3 started');
    expect(progressLine({ type: 'move-done', wave: 1, move }, 61_000, c, 59_750)).toBe('[  61.0s] VM 10 v10: 1 h1 → 3 h3 done after 59.8s');
    expect(progressLine({ type: 'move-failed', wave: 1, move, reason: 'no route' }, 2_000, undefined, 500)).toBe('[   2.0s] VM 10: 1 → 3 FAILED after 0.5s: no route');
  });
});
