import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../lib/elasticity/config';
import { PEAK_VARIANTS, simulateGrowthRules } from '../../../bench/density/growth-rules';

describe('growth-rule experiment (the numbers in growth-rules.ts and docs/elasticity.md)', () => {
  it('two strikes + shrink hold-off starve least; the default is that variant', () => {
    const r = simulateGrowthRules(DEFAULTS).map((x) => [x.rule, x.shrinkHoldOffMs, x.starvationVmSeconds, Math.round(x.reclaimedShare * 1000) / 10, x.changes]);
    expect(r).toEqual([
      ['three-strike', 0, 42955, 43.9, 7174],
      ['two-strike', 0, 36655, 44, 6285],
      ['three-strike', 600000, 27780, 32.6, 3538],
      ['two-strike', 600000, 24820, 32.6, 3075],
    ]);
    expect(DEFAULTS).toMatchObject({ growthRule: 'two-strike', shrinkHoldOffMs: 600_000 });
  }, 60_000);

  it('peak memory: growing a starving guest to its recent peak starves less for the same reclaimed memory; as a shrink floor it halves what is reclaimed', () => {
    const r = simulateGrowthRules(DEFAULTS, { variants: PEAK_VARIANTS }).map((x) => [
      x.peakHalfLifeMs / 3_600_000,
      x.peakFloor,
      x.starvationVmSeconds,
      Math.round(x.reclaimedShare * 1000) / 10,
      x.changes,
    ]);
    expect(r).toEqual([
      [0, false, 24820, 32.6, 3075],
      [1, false, 22015, 32.4, 2640],
      [6, false, 21430, 32.5, 2533],
      [24, false, 21430, 32.4, 2524],
      [1, true, 18850, 17.8, 3061],
      [6, true, 18160, 15.2, 354],
      [24, true, 18160, 15.1, 286],
    ]);
    // PEAK_FLOOR became the default with the real trace (#14, bench/results/density.md): its bursts repeat
    expect(DEFAULTS).toMatchObject({ peakHalfLifeMs: 24 * 3_600_000, peakFloor: true });
  }, 60_000);
});
