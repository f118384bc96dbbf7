// Every strategy, imported statically so the bundler sees them all and a
// misspelt name fails at start-up, before any cluster is read.
import { usageError } from '../../errors';
import type { Strategy, StrategyArgs } from '../strategy';
import { balance } from './balance';
import { consolidate } from './consolidate';
import { evacuate } from './evacuate';
import { hotspot } from './hotspot';
import { relief } from './relief';

export const strategies: readonly Strategy[] = [consolidate, balance, hotspot, evacuate, relief];

export function strategyByName(name: string): Strategy<StrategyArgs> {
  const found = strategies.find((s) => s.name === name);
  if (!found) throw usageError(`unknown strategy "${name}"; known strategies: ${strategies.map((s) => s.name).join(', ')}`);
  return found;
}
