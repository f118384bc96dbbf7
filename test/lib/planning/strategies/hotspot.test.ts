import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPlan } from '../../../../lib/planning/checker';
import { makePlan, strategyArgs } from '../../../../lib/planning/make-plan';
import { effectiveConstraints } from '../../../../lib/planning/model';
import { strategyByName } from '../../../../lib/planning/strategies';
import { hotspot } from '../../../../lib/planning/strategies/hotspot';
import { cluster, constraints, host, mediumCluster, vm } from '../builders';

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

describe('hotspot: contention (CPU_PRESSURE above the limit)', () => {
  const contended = cluster(
    [host(1, 32, { cpuPressure: 45 }), host(2, 32, { cpuPressure: 5 }), host(3, 32, { cpuPressure: 60 })],
    [[vm(10, 2, { cpu: 200, cpuDelay: 30 }), 1], [vm(11, 2, { cpu: 400, cpuDelay: 25 }), 1], [vm(12, 2, { cpu: 100 }), 1], [vm(13, 2, { cpu: 100, cpuDelay: 5 }), 2]],
  );

  it('sheds the VM with the most CPU time waiting to a host under the limit, and says why', () => {
    const target = hotspot.plan(contended, hotspot.defaults, constraints({ maxCpuPressure: 20 }));
    // 11 waits 400 × 25 % against 10's 200 × 30 %; host 3 is itself above the limit
    expect([...target.placement].filter(([v, h]) => contended.placement.get(v) !== h)).toEqual([[11, 2]]);
    expect(target.notes).toContain('host 1 CPU_PRESSURE 45% above 20%: VM 11 (CPU_DELAY 25%) to host 2');
  });

  it('looks at pressure only when a limit is set', () => {
    expect(hotspot.plan(contended, hotspot.defaults, constraints()).placement).toEqual(contended.placement);
  });

  it.each(['consolidate', 'balance', 'hotspot', 'evacuate'])('%s never moves a VM onto a host above the limit', (name) => {
    const strategy = strategyByName(name);
    const { args } = strategyArgs(strategy, name === 'evacuate' ? { host: '0' } : name === 'hotspot' ? { threshold: 0.7 } : {});
    fc.assert(
      fc.property(mediumCluster(0.9), fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 10, maxLength: 10 }), fc.integer({ min: 5, max: 60 }), ({ cluster: c, constraints: k }, pressures, limit) => {
        const pressured = { ...c, hosts: c.hosts.map((h, i) => ({ ...h, cpuPressure: pressures[i]! })), vms: c.vms.map((v, i) => ({ ...v, cpuDelay: (i * 7) % 40 })) };
        const limited = { ...k, maxCpuPressure: limit };
        const plan = makePlan(pressured, strategy, args, limited);
        // The strategy itself keeps off contended hosts (the sequencer would refuse the target otherwise).
        expect(plan.infeasible).toBeUndefined();
        const effective = effectiveConstraints(limited, strategy.plan(pressured, args, limited).alsoExclude);
        for (const move of plan.waves.flat()) expect(pressures[pressured.hosts.findIndex((h) => h.id === move.to)]!).toBeLessThanOrEqual(limit);
        expect(checkPlan(pressured, plan, effective, plan.infeasible ? undefined : plan.target)).toEqual([]);
      }),
      { numRuns: 60, seed: 13 },
    );
  });
});
