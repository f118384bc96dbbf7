// The one shape every placement strategy has, so the registry, the CLI and
// the tests treat them alike. A strategy answers question (1) only: which
// placement to head for. The sequencer answers (2) and the checker judges both.
import type { Cluster, Constraints, Target } from './model';

/** Argument values a strategy accepts: what a command line can carry. */
export type StrategyArgs = Record<string, number | string | undefined>;

export interface Strategy<Args extends StrategyArgs = StrategyArgs> {
  readonly name: string;
  /** One line for --help. */
  readonly summary: string;
  /** Every argument the strategy takes, with its default; keys not here are rejected. */
  readonly defaults: Args;
  /** Every problem with the arguments, as messages that say what to pass instead. */
  validate(args: Args): string[];
  plan(cluster: Cluster, args: Args, constraints: Constraints): Target;
}

export function positiveInteger(args: StrategyArgs, key: string, errors: string[], { allowZero = false } = {}): void {
  const value = args[key];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    errors.push(`${key} must be a whole number ${allowZero ? '≥ 0' : '≥ 1'}, got ${JSON.stringify(value)}`);
  }
}

export function fraction(args: StrategyArgs, key: string, errors: string[]): void {
  const value = args[key];
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
    errors.push(`${key} must be a number in (0, 1], got ${JSON.stringify(value)}`);
  }
}
