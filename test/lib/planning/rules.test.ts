// VM group rules and SCHED_REQUIREMENTS: no plan breaks a rule that holds
// before it, at any step (judged by the checker, which restates the rules on
// its own), and the one check callers outside the planners use.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPlacement, checkPlan } from '../../../lib/planning/checker';
import { makePlan, strategyArgs } from '../../../lib/planning/make-plan';
import { effectiveConstraints, type Cluster } from '../../../lib/planning/model';
import { ruleAgainstMove } from '../../../lib/planning/rules';
import { sequence } from '../../../lib/planning/sequencer';
import { strategyByName } from '../../../lib/planning/strategies';
import { cluster, clusterWithRules, constraints, host, placement, vm } from './builders';

describe('placement rules', () => {
  it.each([
    ['consolidate', {}],
    ['consolidate', { maxMigrations: 3 }],
    ['balance', { maxMigrations: 5 }],
    ['hotspot', { threshold: 0.6 }],
    ['evacuate', { host: '0' }],
  ] as const)('%s %o never breaks a rule that held before, at any step', (name, given) => {
    const strategy = strategyByName(name);
    const { args } = strategyArgs(strategy, given);
    fc.assert(
      fc.property(clusterWithRules(), ({ cluster: c, constraints: k }) => {
        const plan = makePlan(c, strategy, args, k);
        const effective = effectiveConstraints(k, strategy.plan(c, args, k).alsoExclude);
        expect(checkPlacement(c, plan.target, effective)).toEqual([]);
        expect(checkPlan(c, plan, effective, plan.infeasible ? undefined : plan.target)).toEqual([]);
      }),
      { numRuns: 150, seed: 412 },
    );
  });

  const apart = cluster([host(1, 16), host(2, 16), host(3, 16)], [[vm(10, 6), 1], [vm(11, 6), 2], [vm(12, 2), 3]]);
  const apartRules = { ...apart, rules: [{ kind: 'anti-affined' as const, name: 'vm group 0 role db', vms: [10, 11] }] };

  it('two VMs kept apart trade hosts through a third: never on one host, even mid-migration', () => {
    const result = sequence(apartRules, placement([[10, 2], [11, 1]]), constraints());
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(checkPlan(apartRules, result, constraints(), placement([[10, 2], [11, 1]]))).toEqual([]);
    expect(result.waves.flat().some((m) => m.to === 3)).toBe(true);
    // Without the rule the same swap needs no detour.
    const free = sequence(apart, placement([[10, 2], [11, 1]]), constraints());
    expect(free.ok && free.waves.flat().every((m) => m.to !== 3)).toBe(true);
  });

  it('refuses a target that breaks a rule holding now, naming it', () => {
    const result = sequence(apartRules, placement([[10, 2]]), constraints());
    expect(result).toMatchObject({ ok: false, infeasible: { reason: 'rule', vms: [10], hosts: [2] } });
    expect(!result.ok && result.infeasible.message).toMatch(/vm group 0 role db: anti-affined VMs 10, 11/);
  });

  it('the checker reports a wave that puts two VMs kept apart on one host', () => {
    const plan = { waves: [[{ vm: 10, from: 1, to: 2, cost: 1 }]] };
    expect(checkPlan(apartRules, plan, constraints()).map((v) => v.rule)).toEqual(['rule-broken']);
  });

  it('VMs that share a host under an affined rule do not move; a host rule keeps VMs on or off hosts', () => {
    const c: Cluster = {
      ...cluster([host(1, 16), host(2, 16), host(3, 16)], [[vm(10, 2), 1], [vm(11, 2), 1], [vm(12, 2), 2], [vm(13, 2), 3]]),
      rules: [
        { kind: 'affined', name: 'web', vms: [10, 11] },
        { kind: 'host-affined', name: 'VM 12 SCHED_REQUIREMENTS', vms: [12], hosts: [2, 3] },
        { kind: 'host-anti-affined', name: 'no 13 on 1', vms: [13], hosts: [1] },
      ],
    };
    expect(ruleAgainstMove(c, 10, 2)?.name).toBe('web');
    expect(ruleAgainstMove(c, 12, 1)?.name).toBe('VM 12 SCHED_REQUIREMENTS');
    expect(ruleAgainstMove(c, 12, 3)).toBeUndefined();
    expect(ruleAgainstMove(c, 13, 1)?.name).toBe('no 13 on 1');
    const target = strategyByName('consolidate').plan(c, strategyByName('consolidate').defaults, constraints()).placement;
    expect(target.get(10)).toBe(1);
    expect(target.get(11)).toBe(1);
    expect(target.get(12)).not.toBe(1);
    expect(target.get(13)).not.toBe(1);
    expect(new Set(target.values()).size).toBe(2);
  });
});
