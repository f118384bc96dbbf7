import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../lib/elasticity/config';
import { simulateGrowthRules } from '../../../lib/elasticity/simulate';

describe('growth-rule experiment (the numbers in simulate.ts and docs/elasticity.md)', () => {
  it('two strikes + shrink hold-off starve least; the default is that variant', () => {
    const r = simulateGrowthRules(DEFAULTS).map((x) => [x.rule, x.shrinkHoldOffMs, x.starvationVmSeconds, Math.round(x.reclaimedShare * 1000) / 10, x.changes]);
    expect(r).toEqual([
      ['three-strike', 0, 59450, 44.8, 5578],
      ['two-strike', 0, 62205, 45, 5855],
      ['three-strike', 600000, 39925, 33.3, 3597],
      ['two-strike', 600000, 34260, 32.8, 3095],
    ]);
    expect(DEFAULTS).toMatchObject({ growthRule: 'two-strike', shrinkHoldOffMs: 600_000 });
  }, 60_000);
});
