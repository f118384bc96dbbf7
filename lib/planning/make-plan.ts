// Strategy → target → sequence, joined. Both questions stay apart: the
// strategy never sees the sequencer and the sequencer never knows which
// strategy chose the target. The checker is not called here on purpose; the
// caller runs it on the result, so it judges the plan as any other would.
import type { CostFunction } from './cost';
import { effectiveConstraints, type Cluster, type Constraints, type Plan } from './model';
import { sequence } from './sequencer';
import type { Strategy, StrategyArgs } from './strategy';

export interface MakePlanOptions {
  cost?: CostFunction;
  allowStaging?: boolean;
}

export function makePlan<Args extends StrategyArgs>(
  cluster: Cluster,
  strategy: Strategy<Args>,
  args: Args,
  constraints: Constraints,
  options: MakePlanOptions = {},
): Plan {
  const target = strategy.plan(cluster, args, constraints);
  const sequenced = sequence(cluster, target.placement, effectiveConstraints(constraints, target.alsoExclude), options);
  const base = { strategy: strategy.name, target: target.placement, notes: target.notes, unresolved: target.unresolved };
  if (!sequenced.ok) return { ...base, waves: [], totalCost: 0, infeasible: sequenced.infeasible };
  const notes = sequenced.stagingMoves > 0 ? [...target.notes, `${sequenced.stagingMoves} staging moves break cycles of waiting migrations`] : target.notes;
  return { ...base, notes, waves: sequenced.waves, totalCost: sequenced.totalCost };
}

/** Everything a strategy needs checked before it runs: known argument names and valid values. */
export function strategyArgs<Args extends StrategyArgs>(strategy: Strategy<Args>, given: StrategyArgs): { args: Args; errors: string[] } {
  const errors: string[] = [];
  for (const [key, value] of Object.entries(given)) {
    if (value !== undefined && !(key in strategy.defaults)) {
      errors.push(`${strategy.name} does not take ${key}; it takes ${Object.keys(strategy.defaults).join(', ') || 'no arguments'}`);
    }
  }
  const merged = { ...strategy.defaults } as StrategyArgs;
  for (const [key, value] of Object.entries(given)) if (value !== undefined && key in strategy.defaults) merged[key] = value;
  const args = merged as Args;
  return { args, errors: [...errors, ...strategy.validate(args)] };
}
