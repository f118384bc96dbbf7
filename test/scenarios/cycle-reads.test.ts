// What a cycle reads from oned: the pools once, then per step only what the
// step touches (#11: every step used to read the three pools again, so a cycle
// of N changes on a cluster of V VMs cost O(N × V)).
import { afterEach, describe, expect, it } from 'vitest';
import { runCycle } from '../../lib/elasticity/cycle';
import { emptyState } from '../../lib/elasticity/state';
import { cycleDeps, fixtures, methods, scenario, type Scenario } from './harness';

let s: Scenario | undefined;
afterEach(async () => {
  await s?.sim.close();
  s = undefined;
});

describe('a cycle re-reads only what each step touches', () => {
  it('two shrinks: the pools once, then one.vm.info per step; no pool read after the snapshot', async () => {
    s = await scenario({ vms: [fixtures.idle, fixtures.tiny] });
    const r = await runCycle(cycleDeps(s), s.config, emptyState());
    expect(r).toMatchObject({ applied: 2, failed: 0, skipped: 0 });
    const reads = methods(s.sim.calls).filter((m) => m.startsWith('one.vmpool') || m.startsWith('one.hostpool') || m.endsWith('.info'));
    expect(reads.slice(0, 3)).toEqual(['one.vmpool.infoextended', 'one.vmpool.monitoring', 'one.hostpool.info']);
    // after the snapshot: the re-check's one.vm.info per step and the resize applier's polls, never a pool
    expect(new Set(reads.slice(3))).toEqual(new Set(['one.vm.info']));
  });
});
