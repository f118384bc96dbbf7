// Every strategy, on random clusters: the target passes the placement check and
// the sequenced plan passes the plan check, both run independently of the planner.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CloudvampError } from '../../../../lib/errors';
import { checkPlacement, checkPlan } from '../../../../lib/planning/checker';
import { makePlan, strategyArgs } from '../../../../lib/planning/make-plan';
import { effectiveConstraints } from '../../../../lib/planning/model';
import { strategies, strategyByName } from '../../../../lib/planning/strategies';
import { mediumCluster } from '../builders';

describe('registry', () => {
  it('rejects an unknown name with a usage error listing the known ones', () => {
    expect(() => strategyByName('shuffle')).toThrowError(/unknown strategy "shuffle"; known strategies: consolidate, balance, hotspot, evacuate, relief/);
    try {
      strategyByName('shuffle');
    } catch (error) {
      expect((error as CloudvampError).kind).toBe('usage');
    }
  });

  it.each(strategies.map((s) => [s.name, s] as const))('%s has the common shape and valid defaults', (name, strategy) => {
    expect(strategyByName(name)).toBe(strategy);
    expect(typeof strategy.plan).toBe('function');
    const errors = strategy.validate(strategy.defaults);
    expect(errors).toEqual(
      name === 'evacuate'
        ? ['evacuate needs the host to empty: cloudvamp-plan evacuate HOST']
        : name === 'relief'
          ? ['relief needs the host to free: cloudvamp-plan relief HOST --need MIB']
          : [],
    );
  });

  it('rejects arguments a strategy does not take and bad values, all at once', () => {
    const { errors } = strategyArgs(strategyByName('consolidate'), { threshold: 0.8, maxMigrations: -1 });
    expect(errors).toEqual(['consolidate does not take threshold; it takes maxMigrations, localSearch, sharing', 'maxMigrations must be a whole number ≥ 0, got -1']);
    expect(strategyArgs(strategyByName('hotspot'), { threshold: 1.5 }).errors).toEqual(['threshold must be a number in (0, 1], got 1.5']);
  });
});

describe('every strategy on random clusters', () => {
  it.each([
    ['consolidate', {}],
    ['consolidate', { maxMigrations: 3 }],
    ['balance', { maxMigrations: 5 }],
    ['hotspot', { threshold: 0.7 }],
    ['evacuate', { host: '0' }],
  ] as const)('%s %o: target and plan pass the checker', (name, given) => {
    const strategy = strategyByName(name);
    const { args, errors } = strategyArgs(strategy, given);
    expect(errors).toEqual([]);
    fc.assert(
      fc.property(mediumCluster(name === 'hotspot' ? 1 : 0.8), ({ cluster, constraints }) => {
        const plan = makePlan(cluster, strategy, args, constraints);
        // Each strategy only heads for targets it can reach move by move.
        expect(plan.infeasible).toBeUndefined();
        const target = strategy.plan(cluster, args, constraints);
        const effective = effectiveConstraints(constraints, target.alsoExclude);
        expect(checkPlacement(cluster, plan.target, effective)).toEqual([]);
        expect(checkPlan(cluster, plan, effective, plan.infeasible ? undefined : plan.target)).toEqual([]);
        const moved = [...plan.target].filter(([vm, host]) => cluster.placement.get(vm) !== host).length;
        if ('maxMigrations' in given) expect(moved).toBeLessThanOrEqual(given.maxMigrations);
      }),
      { numRuns: 60, seed: 11 },
    );
  });
});
