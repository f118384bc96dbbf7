import { describe, expect, it } from 'vitest';
import { balance } from '../../../../lib/planning/strategies/balance';
import { cluster, constraints, host, vm } from '../builders';

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
