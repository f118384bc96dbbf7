import { describe, expect, it } from 'vitest';
import { makePlan } from '../../../../lib/planning/make-plan';
import { evacuate } from '../../../../lib/planning/strategies/evacuate';
import { cluster, constraints, host, vm } from '../builders';

describe('evacuate', () => {
  const c = cluster(
    [host(1, 32, { name: 'kvm-01' }), host(2, 32, { name: 'kvm-02' }), host(3, 16, { name: 'kvm-03' })],
    [[vm(10, 12), 1], [vm(11, 10), 1], [vm(12, 4), 1], [vm(13, 12), 2], [vm(14, 4), 3]],
  );

  it('empties the host named by id or name, largest VMs first to the best fit', () => {
    for (const ref of ['1', 'kvm-01']) {
      const target = evacuate.plan(c, { host: ref }, constraints());
      expect([...target.placement].filter(([, h]) => h === 1)).toEqual([]);
      expect(target.alsoExclude).toEqual([1]);
      // VM 10 (12 GiB) fills h3 exactly (4 + 12 of 16 GiB): the best fit, leaving h2 its room.
      expect(target.placement.get(10)).toBe(3);
    }
  });

  it('never stages on the host being emptied', () => {
    const plan = makePlan(c, evacuate, { host: '1' }, constraints());
    expect(plan.waves.flat().every((m) => m.to !== 1)).toBe(true);
  });

  it('reports pinned VMs and VMs with no room', () => {
    const tight = cluster([host(1, 32), host(2, 16)], [[vm(10, 12), 1], [vm(11, 10), 1], [vm(12, 4), 1]]);
    const target = evacuate.plan(tight, { host: '1' }, constraints({ pinnedVms: [12] }));
    expect(target.unresolved.map((u) => [u.reason, u.vms])).toEqual([['pinned', [12]], ['no-room', [11]]]);
  });

  it('rejects an unknown host, listing the known ones', () => {
    expect(() => evacuate.plan(c, { host: 'kvm-09' }, constraints())).toThrowError('host kvm-09 is not in the cluster; hosts are: 1 (kvm-01), 2 (kvm-02), 3 (kvm-03)');
  });
});
