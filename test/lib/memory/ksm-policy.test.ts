import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ksmActionArgs, ksmTuning, MOM_KSM_POLICY, type KsmSettings } from '../../../lib/memory/ksm-policy';

const settings = fc.record({ run: fc.constantFrom(0 as const, 1 as const), pagesToScan: fc.integer({ min: 64, max: 1250 }), sleepMs: fc.constant(10) });
const host = fc.integer({ min: 1, max: 2 ** 36 }).chain((total) => fc.record({ totalKiB: fc.constant(total), freeKiB: fc.integer({ min: 0, max: total }) }));

describe('KSM tuning policy (MOM-style)', () => {
  it('under pressure (free < 20 %): runs, +300 pages per decision up to 1,250', () => {
    let s: KsmSettings | undefined;
    const steps: number[] = [];
    for (let i = 0; i < 6; i++) {
      s = ksmTuning({ freeKiB: 10, totalKiB: 100 }, s);
      steps.push(s.pagesToScan);
      expect(s.run).toBe(1);
    }
    expect(steps).toEqual([364, 664, 964, 1250, 1250, 1250]);
  });

  it('without pressure: −50 pages per decision, stops at the 64-page floor', () => {
    let s: KsmSettings = { run: 1, pagesToScan: 214, sleepMs: 10 };
    const runs: Array<[number, number]> = [];
    for (let i = 0; i < 4; i++) {
      s = ksmTuning({ freeKiB: 50, totalKiB: 100 }, s);
      runs.push([s.run, s.pagesToScan]);
    }
    expect(runs).toEqual([[1, 164], [1, 114], [0, 64], [0, 64]]);
    // an idle host that never saw pressure never starts KSM
    expect(ksmTuning({ freeKiB: 90, totalKiB: 100 }, undefined)).toEqual({ run: 0, pagesToScan: 64, sleepMs: 10 });
  });

  it('always within MOM bounds; runs whenever there is pressure; never starts without it', () => {
    fc.assert(
      fc.property(host, fc.option(settings, { nil: undefined }), (h, prev) => {
        const s = ksmTuning(h, prev);
        expect(s.pagesToScan).toBeGreaterThanOrEqual(MOM_KSM_POLICY.pagesMin);
        expect(s.pagesToScan).toBeLessThanOrEqual(MOM_KSM_POLICY.pagesMax);
        const pressure = h.freeKiB < 0.2 * h.totalKiB;
        if (pressure) expect(s.run).toBe(1);
        if (!pressure && (prev?.run ?? 0) === 0) expect(s.run).toBe(0);
      }),
    );
  });

  it('the action argv is an argument array', () => {
    expect(ksmActionArgs({ run: 1, pagesToScan: 364, sleepMs: 10 }, 'node-1')).toEqual(['1', '364', '10', 'node-1']);
  });
});
