// The automatic mode's decision (`cloudvamp-plan balance --every 10m`): which
// of balance's steps are worth their migrations this period. Pure: the
// cluster, the policy, what was migrated before and `now` come in; the moves
// and one line per move saying why it was worth it come out. The loop that
// reads oned, applies and sleeps is in command.ts.
//
// Against churn (VMs moved around with no visible gain):
// - a step is taken only while it removes at least `minGainPerMigration` of
//   the imbalance the period started with, per migration it adds (the
//   imbalance is the capacity-weighted variance of host utilisation, the
//   balance objective above its minimum);
// - at most `maxPerPeriod` VMs move per period, and a VM that moved
//   `maxPerVmPerDay` times in the last 24 hours stays where it is.
import { indexCluster, loadsOf, placementOf } from './indexed';
import type { Cluster, Constraints, Placement, VmId } from './model';
import { balanceObjective, balanceSearch } from './strategies/balance';

export interface AutoBalancePolicy {
  /** Share of the period's starting imbalance each migration must remove, in (0, 1]. */
  minGainPerMigration: number;
  /** Most VMs migrated per period. */
  maxPerPeriod: number;
  /** Most migrations of one VM in any 24 hours. */
  maxPerVmPerDay: number;
}

export const defaultAutoBalancePolicy: AutoBalancePolicy = { minGainPerMigration: 0.05, maxPerPeriod: 5, maxPerVmPerDay: 2 };

/** A migration the automatic mode made earlier; `at` in milliseconds since the epoch. */
export interface PastMigration {
  vm: VmId;
  at: number;
}

export interface AutoDecision {
  /** Where to head this period (VMs not moving stay home). */
  target: Placement;
  /** One line per step taken: which VMs, and what it gains. */
  reasons: string[];
  /** Why the search stopped where it did, for the log. */
  stopped: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export function validateAutoPolicy(policy: AutoBalancePolicy): string[] {
  const errors: string[] = [];
  if (!(policy.minGainPerMigration > 0 && policy.minGainPerMigration <= 1)) errors.push(`the minimum gain per migration must be in (0, 1], got ${policy.minGainPerMigration}`);
  if (!(Number.isInteger(policy.maxPerPeriod) && policy.maxPerPeriod >= 1)) errors.push(`migrations per period must be a whole number ≥ 1, got ${policy.maxPerPeriod}`);
  if (!(Number.isInteger(policy.maxPerVmPerDay) && policy.maxPerVmPerDay >= 1)) errors.push(`migrations per VM per day must be a whole number ≥ 1, got ${policy.maxPerVmPerDay}`);
  return errors;
}

export function decideAutoBalance(cluster: Cluster, constraints: Constraints, policy: AutoBalancePolicy, history: readonly PastMigration[], now: number): AutoDecision {
  const recent = new Map<VmId, number>();
  for (const past of history) if (past.at > now - DAY_MS && past.at <= now) recent.set(past.vm, (recent.get(past.vm) ?? 0) + 1);
  const tired = [...recent].filter(([, count]) => count >= policy.maxPerVmPerDay).map(([vm]) => vm);
  const ix = indexCluster(cluster, { ...constraints, pinnedVms: [...constraints.pinnedVms, ...tired] });
  const objective = balanceObjective(ix);
  const start = objective.imbalance(loadsOf(ix, ix.home));
  const { steps } = balanceSearch(ix, policy.maxPerPeriod);
  const where = Int32Array.from(ix.home);
  const loads = loadsOf(ix, where);
  const reasons: string[] = [];
  const sigma = (variance: number) => `${(100 * Math.sqrt(variance)).toFixed(1)}%`;
  const name = (v: number) => `VM ${ix.vmIds[v]} (${cluster.vms[v]!.name})`;
  const host = (h: number) => `${ix.hostIds[h]} (${cluster.hosts[h]!.name})`;
  let stopped = steps.length === 0 ? 'no move or swap evens the hosts out' : `every step within ${policy.maxPerPeriod} migrations taken`;
  for (const step of steps) {
    const share = start > 0 ? step.gain / start / Math.max(1, step.added) : 0;
    if (share < policy.minGainPerMigration) {
      stopped = `the next step removes ${(100 * share).toFixed(1)}% of the imbalance per migration, under the ${(100 * policy.minGainPerMigration).toFixed(1)}% asked`;
      break;
    }
    const before = objective.imbalance(loads);
    for (const { v, to } of step.moves) {
      const from = where[v]!;
      loads.mem[from]! -= ix.vmMem[v]!;
      loads.cpu[from]! -= ix.vmCpu[v]!;
      loads.mem[to]! += ix.vmMem[v]!;
      loads.cpu[to]! += ix.vmCpu[v]!;
      where[v] = to;
    }
    const what = step.moves.map(({ v, from, to }) => `${name(v)} host ${host(from)} → ${host(to)}`).join(' and ');
    reasons.push(`${what}: spread of host utilisation (σ) ${sigma(before)} → ${sigma(objective.imbalance(loads))}, ${(100 * share).toFixed(1)}% of the imbalance per migration`);
  }
  if (tired.length > 0) stopped += `; moved ${policy.maxPerVmPerDay} times in 24 h, kept in place: VMs ${tired.join(', ')}`;
  return { target: placementOf(ix, where), reasons, stopped };
}
