import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../lib/elasticity/config';
import { planCycle } from '../../../lib/elasticity/plan';
import { checkPlan } from '../../../lib/elasticity/plan-check';
import type { ClusterView } from '../../../lib/elasticity/ports';
import { emptyState, reconcile, type ElasticityState } from '../../../lib/elasticity/state';
import { decideVm, limitsFor, sizeForUse } from '../../../lib/elasticity/vm-rule';
import { cluster, config, GiB, host, MiB, vm } from './builders';

const NOW = 1_700_000_000_000;
const lends = (reason: string) => reason.startsWith('lends its peak room');

// One 10 GiB host (1 GiB of it the host's own reserve): VM 1 starves at 1 GiB
// (wants 4.5 GiB, 1 GiB fits, no other host for a relief migration); VM 2 holds
// 7 GiB for a 4 GiB peak of 30 min ago and uses 512 MiB now.
const view: ClusterView = cluster(
  [vm(1, { originalKiB: 8 * GiB, recordedOriginalKiB: 8 * GiB, currentKiB: 1 * GiB, usedKiB: 1 * GiB }), vm(2, { originalKiB: 8 * GiB, recordedOriginalKiB: 8 * GiB, currentKiB: 7 * GiB, usedKiB: 512 * MiB })],
  [host(0, 10 * GiB)],
);
function stateWith(lastStrikeAgoMs?: number): ElasticityState {
  const s = reconcile(emptyState(), view, NOW).state;
  s.vms['2'] = { ...s.vms['2']!, peak: { kib: 4 * GiB, at: NOW - 1_800_000 }, ...(lastStrikeAgoMs !== undefined ? { lastStrikeAt: NOW - lastStrikeAgoMs, strikes: 0 } : {}) };
  return s;
}

describe('PEAK_LEND: peak room lent to a neighbour starving with no room on the host', () => {
  it('the neighbour shrinks to what its use of now needs, below its peak floor, and says for whom', () => {
    const cfg = config();
    const plan = planCycle(view, stateWith(), cfg, NOW);
    const starving = plan.decisions.find((d) => d.vmId === 1)!;
    expect(starving).toMatchObject({ action: 'grow', starving: true, targetKiB: 2 * GiB });
    const lender = plan.decisions.find((d) => d.vmId === 2)!;
    const own = sizeForUse(512 * MiB, limitsFor(view.vms[1]!, cfg));
    expect(lender).toMatchObject({ action: 'shrink', targetKiB: Math.ceil(own / MiB) * MiB });
    expect(lender.reason).toMatch(/^lends its peak room to VM 1, starving on host 0 with no room: 7168 MiB → \d+ MiB/);
    // without lending it would have kept its peak's room
    const alone = decideVm(view.vms[1]!, stateWith().vms['2'], cfg, NOW);
    expect(alone.targetKiB).toBeGreaterThan(4 * GiB);
  });

  it('PEAK_LEND: yes by default, yes/no in the file', () => {
    expect(parseConfig('').config?.peakLend).toBe(true);
    expect(parseConfig('PEAK_LEND=no\n').config?.peakLend).toBe(false);
    expect(parseConfig('PEAK_LEND=maybe\n').errors.map((e) => e.key)).toEqual(['PEAK_LEND']);
  });

  it('PEAK_LEND=no (or PEAK_FLOOR=no): nothing lent', () => {
    for (const cfg of [config({ peakLend: false }), config({ peakFloor: false })]) {
      const plan = planCycle(view, stateWith(), cfg, NOW);
      expect(plan.decisions.some((d) => lends(d.reason))).toBe(false);
    }
  });

  it('a neighbour that starved lately keeps what its recent peak needs and lends the rest', () => {
    const cfg = config();
    const plan = planCycle(view, stateWith(60_000), cfg, NOW);
    const lender = plan.decisions.find((d) => d.vmId === 2)!;
    expect(lender.action).toBe('shrink');
    expect(lends(lender.reason)).toBe(true);
    const peakNow = 4 * GiB * 2 ** (-1_800_000 / cfg.peakHalfLifeMs);
    expect(lender.targetKiB).toBe(Math.ceil(sizeForUse(peakNow, limitsFor(view.vms[1]!, cfg)) / MiB) * MiB);
  });

  it('nothing is lent when the starving guest\'s grow fits', () => {
    const roomy = { ...view, hosts: [host(0, 16 * GiB)] };
    const s = reconcile(emptyState(), roomy, NOW).state;
    s.vms['2'] = { ...s.vms['2']!, peak: { kib: 4 * GiB, at: NOW - 1_800_000 } };
    const plan = planCycle(roomy, s, config(), NOW);
    expect(plan.decisions.find((d) => d.vmId === 1)).toMatchObject({ action: 'grow', targetKiB: 4.5 * GiB });
    expect(plan.decisions.some((d) => lends(d.reason))).toBe(false);
  });

  it('property: a lender never starves, is never moved, shrinks to at least what its use needs, only on a host where a starving guest got less than it wanted; the plan stays safe', () => {
    const arb = fc.record({
      hosts: fc.integer({ min: 1, max: 3 }),
      hostGiB: fc.integer({ min: 4, max: 32 }),
      vms: fc.array(
        fc.record({ host: fc.nat(), original: fc.integer({ min: 512, max: 8192 }), current: fc.double({ min: 0.1, max: 1, noNaN: true }), used: fc.double({ min: 0, max: 1, noNaN: true }), peak: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }), strikeAgo: fc.option(fc.integer({ min: 0, max: 1_200_000 }), { nil: undefined }) }),
        { maxLength: 20 },
      ),
    });
    let lent = 0;
    fc.assert(
      fc.property(arb, fc.boolean(), (r, migrate) => {
        const hosts = Array.from({ length: r.hosts }, (_, id) => host(id, r.hostGiB * GiB));
        const vms = r.vms.map((x, id) => {
          const original = x.original * MiB;
          const current = Math.max(256 * MiB, Math.round((original * x.current) / MiB) * MiB);
          const hostId = x.host % r.hosts;
          return vm(id, { originalKiB: original, recordedOriginalKiB: original, currentKiB: current, usedKiB: Math.round(current * x.used), hostId, hostName: `host-${hostId}` });
        });
        const v = cluster(vms, hosts);
        const state = reconcile(emptyState(), v, NOW).state;
        r.vms.forEach((x, id) => {
          const s = state.vms[String(id)]!;
          state.vms[String(id)] = {
            ...s,
            ...(x.peak !== undefined ? { peak: { kib: Math.round(s.originalKiB * x.peak), at: NOW - 600_000 } } : {}),
            ...(x.strikeAgo !== undefined ? { lastStrikeAt: NOW - x.strikeAgo } : {}),
          };
        });
        const cfg = config({ migrate });
        const plan = planCycle(v, state, cfg, NOW);
        expect(checkPlan(v, plan, state, cfg)).toEqual([]);
        const without = planCycle(v, state, config({ migrate, peakLend: false }), NOW);
        const short = new Set(
          plan.decisions.filter((d, i) => d.starving && d.targetKiB < decideVm(v.vms[i]!, state.vms[String(d.vmId)], cfg, NOW).targetKiB).map((d) => d.hostId),
        );
        const moved = new Set(plan.migrations.map((m) => m.vmId));
        plan.decisions.forEach((d, i) => {
          if (!lends(d.reason)) {
            expect(d).toEqual(without.decisions[i]);
            return;
          }
          lent++;
          expect(d.starving).toBe(false);
          expect(moved.has(d.vmId)).toBe(false);
          expect(short.has(d.hostId)).toBe(true);
          expect(d.action).toBe('shrink');
          expect(d.targetKiB).toBeLessThan(d.fromKiB);
          expect(d.targetKiB).toBeLessThan(without.decisions[i]!.targetKiB);
          const overhead = Math.max(0, d.fromKiB - d.figures!.totalKiB);
          expect(d.targetKiB).toBeGreaterThanOrEqual(Math.min(d.originalKiB, sizeForUse(d.figures!.usedKiB, limitsFor(v.vms[i]!, cfg), overhead)));
        });
        expect(plan.migrations).toEqual(without.migrations);
      }),
      { numRuns: 500 },
    );
    // the generator does reach the case
    expect(lent).toBeGreaterThan(0);
  });
});
