import { describe, expect, it } from 'vitest';
import { checkPlacement, checkPlan, type Violation } from '../../../lib/planning/checker';
import type { Wave } from '../../../lib/planning/model';
import { cluster, constraints, GiB, host, placement, vm } from './builders';

const c = cluster([host(1, 16), host(2, 16), host(3, 16, { enabled: false })], [[vm(10, 8), 1], [vm(11, 8), 1], [vm(12, 12), 2]]);
const move = (vmId: number, from: number, to: number) => ({ vm: vmId, from, to, cost: 0 });
const rules = (violations: Violation[]) => violations.map((v) => v.rule);

describe('checkPlan', () => {
  it.each<[string, Wave[], Partial<Parameters<typeof constraints>[0]>, Violation['rule'][]]>([
    ['a move onto a host without room', [[move(10, 1, 2)]], {}, ['over-capacity']],
    ['a move onto a full host', [[move(12, 2, 1)]], {}, ['over-capacity']],
    ['two arrivals that fit only one at a time', [[move(10, 1, 2)], [move(11, 1, 2)]], {}, ['over-capacity', 'over-capacity']],
    ['the wrong source', [[move(10, 2, 1)]], {}, ['wrong-source', 'over-capacity']],
    ['a move to where the VM already is', [[move(10, 1, 1)]], {}, ['no-op-move', 'over-capacity']],
    ['a pinned VM', [[move(12, 2, 1)]], { pinnedVms: [12] }, ['pinned-moved', 'over-capacity']],
    ['a disabled destination', [[move(10, 1, 3)]], {}, ['excluded-destination']],
    ['an excluded destination', [[move(12, 2, 1)]], { excludedHosts: [1] }, ['excluded-destination', 'over-capacity']],
    ['an unknown VM', [[move(99, 1, 2)]], {}, ['unknown-vm', 'wrong-source']],
    ['the same VM twice in a wave', [[move(10, 1, 2), move(10, 1, 2)]], { maxInFlightPerHost: 4 }, ['moved-twice-in-wave', 'over-capacity']],
    ['too many per host', [[move(10, 1, 3), move(11, 1, 3)]], { maxInFlightPerHost: 1 }, ['excluded-destination', 'excluded-destination', 'in-flight-per-host', 'in-flight-per-host']],
    ['too many in the cluster', [[move(10, 1, 3), move(12, 2, 3)]], { maxInFlightPerCluster: 1 }, ['in-flight-per-cluster', 'excluded-destination', 'excluded-destination', 'over-capacity']],
  ])('%s', (_, waves, extra, expected) => {
    expect(rules(checkPlan(c, { waves }, constraints(extra)))).toEqual(expected);
  });

  it('accepts moves that fit, with the source still counted during the wave', () => {
    const roomy = cluster([host(1, 16), host(2, 16)], [[vm(10, 8), 1], [vm(11, 4), 2]]);
    expect(checkPlan(roomy, { waves: [[move(10, 1, 2)]] }, constraints())).toEqual([]);
    // 11 → h1 and 10 → h2 swap in one wave: each destination holds 12 GiB during it.
    expect(checkPlan(roomy, { waves: [[move(10, 1, 2), move(11, 2, 1)]] }, constraints())).toEqual([]);
    expect(rules(checkPlan(roomy, { waves: [[move(10, 1, 2), move(11, 2, 1)]] }, constraints({ reserve: { memMiB: 5 * GiB, cpu: 0 } })))).toEqual(['over-capacity', 'over-capacity']);
  });

  it('reports a target the waves do not reach', () => {
    const roomy = cluster([host(1, 16), host(2, 16)], [[vm(10, 8), 1]]);
    expect(rules(checkPlan(roomy, { waves: [] }, constraints(), placement([[10, 2]])))).toEqual(['target-not-reached']);
  });
});

describe('checkPlacement', () => {
  it('accepts the current placement', () => {
    expect(checkPlacement(c, c.placement, constraints())).toEqual([]);
  });

  it('flags over-capacity, pinned, disabled and unknown references', () => {
    expect(rules(checkPlacement(c, placement([[12, 1]]), constraints()))).toEqual(['over-capacity']);
    expect(rules(checkPlacement(c, placement([[10, 2]]), constraints({ pinnedVms: [10] })))).toEqual(['pinned-moved', 'over-capacity']);
    expect(rules(checkPlacement(c, placement([[10, 3]]), constraints()))).toEqual(['excluded-destination']);
    expect(rules(checkPlacement(c, placement([[99, 7]]), constraints()))).toEqual(['unknown-vm', 'unknown-host']);
  });

  it('tolerates a host that was already over capacity as long as it only loses VMs', () => {
    const hot = cluster([host(1, 16), host(2, 16)], [[vm(10, 10), 1], [vm(11, 10), 1]]);
    expect(checkPlacement(hot, hot.placement, constraints())).toEqual([]);
  });
});
