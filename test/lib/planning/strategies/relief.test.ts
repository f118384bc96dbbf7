// relief: the planner's strategy the elasticity manager's relief migrations use.
import { describe, expect, it } from 'vitest';
import { defaultConstraints, type Cluster } from '../../../../lib/planning/model';
import { relief } from '../../../../lib/planning/strategies/relief';

const cluster: Cluster = {
  hosts: [
    { id: 0, name: 'full', memMiB: 8192, cpu: 800, enabled: true },
    { id: 1, name: 'small', memMiB: 4096, cpu: 100, enabled: true },
    { id: 2, name: 'big', memMiB: 16384, cpu: 800, enabled: true },
    { id: 3, name: 'off', memMiB: 65536, cpu: 6400, enabled: false },
  ],
  vms: [
    { id: 10, name: 'a', memMiB: 1024, cpu: 100 },
    { id: 11, name: 'b', memMiB: 2048, cpu: 200 },
    { id: 12, name: 'c', memMiB: 4096, cpu: 100 },
  ],
  placement: new Map([
    [10, 0],
    [11, 0],
    [12, 0],
  ]),
};
const moved = (need: number, pinnedVms: number[] = []) => {
  const target = relief.plan(cluster, { host: 'full', need }, { ...defaultConstraints, pinnedVms });
  return { moves: [...target.placement].filter(([vm, h]) => cluster.placement.get(vm) !== h), unresolved: target.unresolved.map((u) => u.reason) };
};

describe('relief strategy', () => {
  it('moves the smallest VM that frees enough to the best-fitting host', () => {
    expect(moved(1000)).toEqual({ moves: [[10, 1]], unresolved: [] });
  });
  it('CPU counts: VM 11 fits host 1 by memory but not by CPU, so it goes to host 2', () => {
    expect(moved(1500)).toEqual({ moves: [[11, 2]], unresolved: [] });
  });
  it('a pinned VM never moves; a disabled host never receives; nothing fitting is reported', () => {
    // VM 12 fills host 1 exactly: the best fit
    expect(moved(1500, [11])).toEqual({ moves: [[12, 1]], unresolved: [] });
    expect(moved(5000)).toEqual({ moves: [], unresolved: ['no-room'] });
  });
});
