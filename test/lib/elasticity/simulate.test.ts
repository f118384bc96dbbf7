import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../lib/elasticity/config';
import { simulateGrowthRules } from '../../../lib/elasticity/simulate';

describe('growth-rule experiment (the numbers in simulate.ts and docs/elasticity.md)', () => {
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
});
