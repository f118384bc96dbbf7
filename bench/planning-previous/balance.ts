// Reference for bench/planning.ts only: the balance strategy as it was before
// issue #12 (commit 9f2d713), kept verbatim so each bench run measures the
// new algorithm against the old one on the same clusters. Not used by lib/.
// balance: even out the residual capacity across hosts, with a bound on
// migrations. The objective is the sum over hosts of squared utilisation
// (memory and CPU), which falls whenever load moves from a fuller host to an
// emptier one and, unlike max − min alone, still rewards moves that do not
// touch the extremes. Each step takes the move from one of the fullest hosts
// that lowers it most; it stops at the migration bound or when no move helps.
import { EPSILON, indexCluster, loadsOf, type IndexedCluster, type Loads, placementOf } from '../../lib/planning/indexed';
import type { Cluster, Constraints, Target } from '../../lib/planning/model';
import { positiveInteger, type Strategy } from '../../lib/planning/strategy';
import { countMoves, moveVm } from '../../lib/planning/strategies/best-fit';

export type BalanceArgs = {
  /** Most VMs to migrate. */
  maxMigrations: number;
};

// Looking for moves only from the few fullest hosts keeps a step linear in the cluster size.
const SOURCES_PER_STEP = 3;

export const previousBalance: Strategy<BalanceArgs> = {
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

function balanceTarget(cluster: Cluster, args: BalanceArgs, constraints: Constraints): Target {
  const ix = indexCluster(cluster, constraints);
  const where = Int32Array.from(ix.home);
  const loads = loadsOf(ix, where);
  const receiving: number[] = [];
  for (let h = 0; h < ix.hostCount; h++) if (ix.receives[h]) receiving.push(h);
  const spreadBefore = spread(ix, loads, receiving);
  const vmsOn: Set<number>[] = Array.from({ length: ix.hostCount }, () => new Set());
  for (let v = 0; v < ix.vmCount; v++) if (ix.movable[v]) vmsOn[where[v]!]!.add(v);

  // A step may move a VM already moved (it then still counts once) or bring one home.
  for (let step = 0; step < 4 * args.maxMigrations; step++) {
    const sources = [...receiving].sort((a, b) => dominant(ix, loads, b) - dominant(ix, loads, a)).slice(0, SOURCES_PER_STEP);
    let best: { v: number; to: number; delta: number } | undefined;
    for (const from of sources) {
      for (const v of vmsOn[from]!) {
        const alreadyMoved = where[v] !== ix.home[v];
        for (const to of receiving) {
          if (to === from) continue;
          const movesAfter = countMovesAfter(ix, where, v, to, alreadyMoved);
          if (movesAfter > args.maxMigrations) continue;
          if (loads.mem[to]! + ix.vmMem[v]! > ix.capMem[to]! + EPSILON || loads.cpu[to]! + ix.vmCpu[v]! > ix.capCpu[to]! + EPSILON) continue;
          const delta = squaredChange(ix, loads, v, from, to);
          if (delta < (best?.delta ?? -1e-9)) best = { v, to, delta };
        }
      }
    }
    if (!best) break;
    vmsOn[where[best.v]!]!.delete(best.v);
    vmsOn[best.to]!.add(best.v);
    moveVm(ix, loads, where, best.v, best.to);
  }
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return {
    placement: placementOf(ix, where),
    alsoExclude: [],
    notes: [`utilisation spread ${pct(spreadBefore)} → ${pct(spread(ix, loads, receiving))} (fullest − emptiest host, dominant resource), ${countMoves(ix, where)} VMs to migrate`],
    unresolved: [],
  };
}

function countMovesAfter(ix: IndexedCluster, where: Int32Array, v: number, to: number, alreadyMoved: boolean): number {
  const now = countMoves(ix, where);
  const movedAfter = to !== ix.home[v];
  return now - (alreadyMoved ? 1 : 0) + (movedAfter ? 1 : 0);
}

function squaredChange(ix: IndexedCluster, loads: Loads, v: number, from: number, to: number): number {
  const sq = (load: number, cap: number) => (load / Math.max(1, cap)) ** 2;
  const m = ix.vmMem[v]!;
  const c = ix.vmCpu[v]!;
  return (
    sq(loads.mem[from]! - m, ix.capMem[from]!) - sq(loads.mem[from]!, ix.capMem[from]!) +
    sq(loads.mem[to]! + m, ix.capMem[to]!) - sq(loads.mem[to]!, ix.capMem[to]!) +
    sq(loads.cpu[from]! - c, ix.capCpu[from]!) - sq(loads.cpu[from]!, ix.capCpu[from]!) +
    sq(loads.cpu[to]! + c, ix.capCpu[to]!) - sq(loads.cpu[to]!, ix.capCpu[to]!)
  );
}

function dominant(ix: IndexedCluster, loads: Loads, h: number): number {
  return Math.max(loads.mem[h]! / Math.max(1, ix.capMem[h]!), loads.cpu[h]! / Math.max(1, ix.capCpu[h]!));
}

function spread(ix: IndexedCluster, loads: Loads, hosts: readonly number[]): number {
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
