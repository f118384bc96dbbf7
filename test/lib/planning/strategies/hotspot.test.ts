import { describe, expect, it } from 'vitest';
import { hotspot } from '../../../../lib/planning/strategies/hotspot';
import { cluster, constraints, host, vm } from '../builders';

describe('hotspot', () => {
  it('moves the cheapest VM whose departure is enough, not the biggest nor the smallest', () => {
    // h1 holds 14 of 16 GiB, the threshold 0.75 allows 12: 2 GiB must go.
    const hot = cluster(
      [host(1, 16), host(2, 32)],
      [[vm(10, 1), 1], [vm(11, 3), 1], [vm(12, 2), 1], [vm(13, 8), 1]],
    );
    const target = hotspot.plan(hot, { threshold: 0.75, maxMigrations: 0 }, constraints());
    const moved = [...target.placement].filter(([v, h]) => hot.placement.get(v) !== h).map(([v]) => v);
    expect(moved).toEqual([12]);
    expect(target.notes[0]).toBe('hosts above 75% of capacity 1 → 0, 1 VMs to migrate');
  });

  it('sends it to the best-fitting host that stays under the threshold', () => {
    const hot = cluster(
      [host(1, 16), host(2, 64), host(3, 16), host(4, 16)],
      [[vm(10, 15), 1], [vm(11, 8), 3], [vm(12, 3), 4]],
    );
    const target = hotspot.plan(hot, { threshold: 0.9, maxMigrations: 0 }, constraints());
    // 15 of 16 GiB is above 0.9; h3 would end at 23 and h4 at 18 GiB, above their 14.4, so only h2 takes it.
    expect(target.placement.get(10)).toBe(2);
    const snug = cluster([host(1, 16), host(2, 64), host(3, 32)], [[vm(10, 4), 1], [vm(11, 11), 1], [vm(12, 22), 3]]);
    // 15/16 is hot at 0.9; moving 10 (4 GiB) is enough; h3 (22 + 4 = 26 of 28.8) fits it more tightly than h2.
    expect(hotspot.plan(snug, { threshold: 0.9, maxMigrations: 0 }, constraints()).placement.get(10)).toBe(3);
  });

  it('moves several VMs when no single one is enough', () => {
    const hot = cluster([host(1, 16), host(2, 64)], [[vm(10, 4), 1], [vm(11, 4), 1], [vm(12, 4), 1], [vm(13, 4), 1]]);
    const target = hotspot.plan(hot, { threshold: 0.5, maxMigrations: 0 }, constraints());
    expect([...target.placement].filter(([, h]) => h === 2)).toHaveLength(2);
  });

  it('says which host stays hot when nothing has room', () => {
    const hot = cluster([host(1, 16), host(2, 16)], [[vm(10, 8), 1], [vm(11, 7), 1], [vm(12, 14), 2]]);
    const target = hotspot.plan(hot, { threshold: 0.9, maxMigrations: 0 }, constraints());
    expect(target.unresolved).toMatchObject([{ reason: 'no-room', hosts: [1] }]);
  });
});
