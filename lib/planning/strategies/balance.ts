// balance: even out the residual capacity across hosts, with a bound on
// migrations. The objective is Σ load² / capacity over hosts, per resource
// (memory and CPU, each over its cluster total): it falls whenever load moves
// from a fuller host to an emptier one, its minimum is equal utilisation even
// when hosts differ in size (Σ utilisation² would favour filling large hosts),
// and unlike max − min alone it still rewards steps that do not touch the
// extremes.
//
// Local search within the budget: each step takes the single move or the swap
// of two VMs between hosts that lowers the objective most, among plans that
// keep the number of VMs away from home within the budget, and it keeps going
// while any does. Swaps matter: when the fullest host holds only VMs larger
// than the gap to the emptiest one, no single move helps, but trading a large
// VM for a smaller one does. A step may move a VM already moved (it still
// counts once) or bring one home, so at the budget the search goes on
// rearranging the VMs it already moves.
import { EPSILON, indexCluster, loadsOf, type IndexedCluster, type Loads, placementOf } from '../indexed';
import type { Cluster, Constraints, Target } from '../model';
import { mayArrive } from '../rules';
import { positiveInteger, type Strategy } from '../strategy';
import { countMoves, moveVm } from './best-fit';

export type BalanceArgs = {
  /** Most VMs to migrate. */
  maxMigrations: number;
};

// On large clusters a step looks only at moves and swaps from the 3 fullest
// to the 8 emptiest hosts, which keeps a step's cost independent of the
// cluster size and works the fullest hosts down first (the spread is theirs;
// with 8 sources the bench's spread at small budgets was worse). Up to 16
// hosts every pair is tried.
const SOURCE_HOSTS = 3;
const DESTINATION_HOSTS = 8;
// Each step lowers the objective, so the search ends; this only bounds its time.
const STEPS_PER_MIGRATION = 3;

export const balance: Strategy<BalanceArgs> = {
  name: 'balance',
  summary: 'even out free memory and CPU across hosts, within a migration bound',
  defaults: { maxMigrations: 10 },
  validate(args) {
    const errors: string[] = [];
    positiveInteger(args, 'maxMigrations', errors);
    return errors;
  },
  plan(cluster, args, constraints) {
    return balanceTarget(cluster, args, constraints);
  },
};

interface Step {
  v: number;
  to: number;
  /** The VM sent the other way in a swap. */
  u?: number;
  delta: number;
}

/** One step of the local search, as the automatic mode weighs it. */
export interface BalanceStep {
  /** (VM index, from, to) of each VM that moves: one, or two for a swap. */
  moves: Array<{ v: number; from: number; to: number }>;
  /** Fall of the objective (> 0). */
  gain: number;
  /** VMs away from home after the step minus before (0 when it rearranges VMs already moved). */
  added: number;
}

function balanceTarget(cluster: Cluster, args: BalanceArgs, constraints: Constraints): Target {
  const ix = indexCluster(cluster, constraints);
  const { where, loads, receiving, spreadBefore } = balanceSearch(ix, args.maxMigrations);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return {
    placement: placementOf(ix, where),
    alsoExclude: [],
    notes: [`utilisation spread ${pct(spreadBefore)} → ${pct(spread(ix, loads, receiving))} (fullest − emptiest host, dominant resource), ${countMoves(ix, where)} VMs to migrate`],
    unresolved: [],
  };
}

/** The local search itself: the placement it ends on and every step it took, in order. */
export function balanceSearch(ix: IndexedCluster, maxMigrations: number): { where: Int32Array; loads: Loads; receiving: number[]; spreadBefore: number; steps: BalanceStep[] } {
  const args = { maxMigrations };
  const steps: BalanceStep[] = [];
  const where = Int32Array.from(ix.home);
  const loads = loadsOf(ix, where);
  const receiving: number[] = [];
  for (let h = 0; h < ix.hostCount; h++) if (ix.receives[h]) receiving.push(h);
  const spreadBefore = spread(ix, loads, receiving);
  const vmsOn: Set<number>[] = Array.from({ length: ix.hostCount }, () => new Set());
  for (let v = 0; v < ix.vmCount; v++) if (ix.movable[v] && ix.receives[where[v]!]) vmsOn[where[v]!]!.add(v);
  const objective = balanceObjective(ix);
  let moved = 0;

  // Change in the number of VMs away from home when v goes to host `to`.
  const added = (v: number, to: number) => (to !== ix.home[v] ? 1 : 0) - (where[v] !== ix.home[v] ? 1 : 0);

  for (let step = 0; step < STEPS_PER_MIGRATION * args.maxMigrations + 100; step++) {
    const byUse = [...receiving].sort((a, b) => dominant(ix, loads, b) - dominant(ix, loads, a) || a - b);
    const all = byUse.length <= 2 * DESTINATION_HOSTS;
    const fullest = all ? byUse : byUse.slice(0, SOURCE_HOSTS);
    const emptiest = all ? byUse : byUse.slice(-DESTINATION_HOSTS);
    let best: Step | undefined;
    let bestGain = 0;
    // Judged per migration it adds: a swap of two VMs still at home must
    // gain twice what a single move does; rearranging VMs already moved is free.
    const consider = (candidate: Step, added: number) => {
      const gain = -candidate.delta / Math.max(1, added);
      if (candidate.delta < -1e-12 && gain > bestGain) {
        best = candidate;
        bestGain = gain;
      }
    };
    for (const from of fullest) {
      for (const v of vmsOn[from]!) {
        for (const to of emptiest) {
          if (to === from || !fits(ix, loads, to, ix.vmMem[v]!, ix.vmCpu[v]!) || !mayArrive(ix.rules, v, to, where)) continue;
          const more = added(v, to);
          if (moved + more > args.maxMigrations) continue;
          consider({ v, to, delta: objective.moveDelta(loads, from, to, ix.vmMem[v]!, ix.vmCpu[v]!) }, more);
        }
      }
    }
    for (let i = 0; i < fullest.length; i++) {
      const a = fullest[i]!;
      // With every host in both lists, each pair once (a fuller than b).
      for (let j = all ? i + 1 : 0; j < emptiest.length; j++) {
        const b = emptiest[j]!;
        for (const v of vmsOn[a]!) {
          for (const u of vmsOn[b]!) {
            // v goes a → b, u goes b → a: the net change of each host must fit.
            const dMem = ix.vmMem[v]! - ix.vmMem[u]!;
            const dCpu = ix.vmCpu[v]! - ix.vmCpu[u]!;
            if (!fits(ix, loads, b, dMem, dCpu) || !fits(ix, loads, a, -dMem, -dCpu)) continue;
            // Judged with both still at home: u on b keeps v off b if they must stay apart.
            if (!mayArrive(ix.rules, v, b, where) || !mayArrive(ix.rules, u, a, where)) continue;
            const more = added(v, b) + added(u, a);
            if (moved + more > args.maxMigrations) continue;
            consider({ v, to: b, u, delta: objective.moveDelta(loads, a, b, dMem, dCpu) }, more);
          }
        }
      }
    }
    if (!best) break;
    const { v, to, u, delta } = best;
    const from = where[v]!;
    const more = added(v, to) + (u === undefined ? 0 : added(u, from));
    moved += more;
    steps.push({ moves: u === undefined ? [{ v, from, to }] : [{ v, from, to }, { v: u, from: to, to: from }], gain: -delta, added: more });
    shift(ix, loads, where, vmsOn, v, to);
    if (u !== undefined) shift(ix, loads, where, vmsOn, u, from);
  }
  return { where, loads, receiving, spreadBefore, steps };
}

function shift(ix: IndexedCluster, loads: Loads, where: Int32Array, vmsOn: Set<number>[], v: number, to: number): void {
  vmsOn[where[v]!]!.delete(v);
  vmsOn[to]!.add(v);
  moveVm(ix, loads, where, v, to);
}

/** True when host h stays within capacity after gaining this much (negative: losing). */
function fits(ix: IndexedCluster, loads: Loads, h: number, mem: number, cpu: number): boolean {
  return loads.mem[h]! + mem <= ix.capMem[h]! + EPSILON && loads.cpu[h]! + cpu <= ix.capCpu[h]! + EPSILON;
}

/**
 * The balance objective, Σ_h load_h² / cap_h per resource over the cluster's
 * total capacity of it, and the change when `mem`/`cpu` go from one host to
 * another. Exported for the automatic mode, which judges a plan by it.
 */
export function balanceObjective(ix: IndexedCluster): {
  value(loads: Loads): number;
  /**
   * How far from even: the value minus its minimum (every receiving host at
   * the same utilisation), which is the capacity-weighted variance of host
   * utilisation, memory plus CPU.
   */
  imbalance(loads: Loads): number;
  moveDelta(loads: Loads, from: number, to: number, mem: number, cpu: number): number;
} {
  let totalMem = 0;
  let totalCpu = 0;
  for (let h = 0; h < ix.hostCount; h++) {
    if (!ix.receives[h]) continue;
    totalMem += Math.max(1, ix.capMem[h]!);
    totalCpu += Math.max(1, ix.capCpu[h]!);
  }
  const term = (load: number, cap: number, total: number) => (load * load) / Math.max(1, cap) / Math.max(1, total);
  return {
    value(loads) {
      let sum = 0;
      for (let h = 0; h < ix.hostCount; h++) {
        if (!ix.receives[h]) continue;
        sum += term(loads.mem[h]!, ix.capMem[h]!, totalMem) + term(loads.cpu[h]!, ix.capCpu[h]!, totalCpu);
      }
      return sum;
    },
    imbalance(loads) {
      let mem = 0;
      let cpu = 0;
      for (let h = 0; h < ix.hostCount; h++) {
        if (!ix.receives[h]) continue;
        mem += loads.mem[h]!;
        cpu += loads.cpu[h]!;
      }
      return Math.max(0, this.value(loads) - (mem / Math.max(1, totalMem)) ** 2 - (cpu / Math.max(1, totalCpu)) ** 2);
    },
    moveDelta(loads, from, to, mem, cpu) {
      const change = (h: number, dm: number, dc: number) =>
        term(loads.mem[h]! + dm, ix.capMem[h]!, totalMem) - term(loads.mem[h]!, ix.capMem[h]!, totalMem) +
        term(loads.cpu[h]! + dc, ix.capCpu[h]!, totalCpu) - term(loads.cpu[h]!, ix.capCpu[h]!, totalCpu);
      return change(from, -mem, -cpu) + change(to, mem, cpu);
    },
  };
}

function dominant(ix: IndexedCluster, loads: Loads, h: number): number {
  return Math.max(loads.mem[h]! / Math.max(1, ix.capMem[h]!), loads.cpu[h]! / Math.max(1, ix.capCpu[h]!));
}

export function spread(ix: IndexedCluster, loads: Loads, hosts: readonly number[]): number {
  if (hosts.length === 0) return 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const h of hosts) {
    const u = dominant(ix, loads, h);
    lo = Math.min(lo, u);
    hi = Math.max(hi, u);
  }
  return hi - lo;
}
