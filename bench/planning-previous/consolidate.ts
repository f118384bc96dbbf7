// Reference for bench/planning.ts only: the consolidate strategy as it was before
// issue #12 (commit 9f2d713), kept verbatim so each bench run measures the
// new algorithm against the old one on the same clusters. Not used by lib/.
// consolidate: run the VMs on as few hosts as possible by freeing whole
// hosts, moving as few VMs as that takes.
//
// Hosts are ranked for keeping: hosts with a VM that cannot move first, then
// the fullest on their dominant resource. Keeping the first K hosts, the VMs of
// the others are packed into the kept hosts' free room, first-fit decreasing on
// the dominant resource; a binary search finds the smallest K that packs. VMs
// already on kept hosts stay, which is what keeps the migration count low.
// Local search then tries to empty the lightest kept hosts into the others'
// remaining room, one host at a time, keeping each success.
import { EPSILON, hostLowerBound, hostsUsed, indexCluster, loadsOf, type IndexedCluster, placementOf } from '../../lib/planning/indexed';
import type { Cluster, Constraints, Target } from '../../lib/planning/model';
import { FirstFitTree } from '../../lib/planning/first-fit-tree';
import { positiveInteger, type Strategy } from '../../lib/planning/strategy';
import { countMoves } from '../../lib/planning/strategies/best-fit';

export type ConsolidateArgs = {
  /** Most VMs to migrate; 0 for no limit. Hosts freed last are given up first when the plan is over it. */
  maxMigrations: number;
  /** How many of the lightest kept hosts local search tries to empty. */
  localSearch: number;
};

export const previousConsolidate: Strategy<ConsolidateArgs> = {
  name: 'consolidate',
  summary: 'run the VMs on the fewest hosts, freeing whole hosts',
  defaults: { maxMigrations: 0, localSearch: 200 },
  validate(args) {
    const errors: string[] = [];
    positiveInteger(args, 'maxMigrations', errors, { allowZero: true });
    positiveInteger(args, 'localSearch', errors, { allowZero: true });
    return errors;
  },
  plan(cluster, args, constraints) {
    return consolidateTarget(cluster, args, constraints);
  },
};

function consolidateTarget(cluster: Cluster, args: ConsolidateArgs, constraints: Constraints): Target {
  const ix = indexCluster(cluster, constraints);
  const { order, mustKeep } = keepOrder(ix);
  const sizeOrder = bySizeDescending(ix);
  const bound = hostLowerBound(ix);
  const before = hostsUsed(ix, ix.home);

  let lo = Math.max(mustKeep, Math.min(bound, order.length));
  let hi = order.length;
  let best = packKeepingFirst(ix, order, hi, sizeOrder);
  if (!best) {
    return {
      placement: placementOf(ix, ix.home),
      alsoExclude: [],
      notes: [`hosts used ${before}, lower bound ${bound}: nothing to consolidate`],
      unresolved: [{ reason: 'no-room', message: 'the VMs do not fit the enabled hosts even without consolidating; add capacity or lower the reserve', vms: [], hosts: [] }],
    };
  }
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const packed = packKeepingFirst(ix, order, mid, sizeOrder);
    if (packed) {
      best = packed;
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  const where = best;
  emptyLightHosts(ix, where, args.localSearch, sizeOrder);
  if (args.maxMigrations > 0) giveUpFreedHosts(ix, where, args.maxMigrations);
  const moves = countMoves(ix, where);
  return {
    placement: placementOf(ix, where),
    alsoExclude: [],
    notes: [`hosts used ${before} → ${hostsUsed(ix, where)} (lower bound ${bound}), ${moves} VMs to migrate`],
    unresolved: [],
  };
}

/** Receiving hosts in keeping order, and how many of them must be kept (they hold a VM that cannot move). */
function keepOrder(ix: IndexedCluster): { order: Int32Array; mustKeep: number } {
  const loads = loadsOf(ix, ix.home);
  const pinnedHere = new Uint8Array(ix.hostCount);
  for (let v = 0; v < ix.vmCount; v++) if (!ix.movable[v]) pinnedHere[ix.home[v]!] = 1;
  const fullness = new Float64Array(ix.hostCount);
  const hosts: number[] = [];
  for (let h = 0; h < ix.hostCount; h++) {
    if (!ix.receives[h]) continue;
    fullness[h] = Math.max(loads.mem[h]! / Math.max(1, ix.capMem[h]!), loads.cpu[h]! / Math.max(1, ix.capCpu[h]!));
    hosts.push(h);
  }
  hosts.sort((a, b) => pinnedHere[b]! - pinnedHere[a]! || fullness[b]! - fullness[a]! || ix.capMem[b]! - ix.capMem[a]! || a - b);
  return { order: Int32Array.from(hosts), mustKeep: hosts.filter((h) => pinnedHere[h]).length };
}

/** VM indices, largest first on the dominant resource relative to the largest host. */
function bySizeDescending(ix: IndexedCluster): Int32Array {
  let refMem = 1;
  let refCpu = 1;
  for (let h = 0; h < ix.hostCount; h++) {
    refMem = Math.max(refMem, ix.capMem[h]!);
    refCpu = Math.max(refCpu, ix.capCpu[h]!);
  }
  const size = new Float64Array(ix.vmCount);
  for (let v = 0; v < ix.vmCount; v++) size[v] = Math.max(ix.vmMem[v]! / refMem, ix.vmCpu[v]! / refCpu);
  const order = new Int32Array(ix.vmCount);
  for (let v = 0; v < ix.vmCount; v++) order[v] = v;
  return order.sort((a, b) => size[b]! - size[a]! || a - b);
}

/**
 * Keeps the first `keep` hosts of `order`, packs every VM of the other
 * receiving hosts (and any VM a kept host is over capacity with) into the kept
 * hosts' free room. VMs on hosts that receive nothing stay. Returns the new
 * host of every VM, or undefined when something does not fit.
 */
function packKeepingFirst(ix: IndexedCluster, order: Int32Array, keep: number, sizeOrder: Int32Array): Int32Array | undefined {
  const position = new Int32Array(ix.hostCount).fill(-1);
  for (let p = 0; p < keep; p++) position[order[p]!] = p;
  const where = Int32Array.from(ix.home);
  const loads = loadsOf(ix, ix.home);
  const toPlace = new Uint8Array(ix.vmCount);
  for (let v = 0; v < ix.vmCount; v++) {
    const h = ix.home[v]!;
    if (ix.receives[h] && position[h]! < 0) toPlace[v] = 1;
  }
  // A kept host over capacity sheds its largest movable VMs until it fits.
  for (const v of sizeOrder) {
    const h = ix.home[v]!;
    if (position[h]! < 0 || !ix.movable[v]) continue;
    if (loads.mem[h]! <= ix.capMem[h]! + EPSILON && loads.cpu[h]! <= ix.capCpu[h]! + EPSILON) continue;
    loads.mem[h]! -= ix.vmMem[v]!;
    loads.cpu[h]! -= ix.vmCpu[v]!;
    toPlace[v] = 1;
  }
  const tree = new FirstFitTree(keep);
  for (let p = 0; p < keep; p++) {
    const h = order[p]!;
    tree.set(p, ix.capMem[h]! - loads.mem[h]!, ix.capCpu[h]! - loads.cpu[h]!);
  }
  for (const v of sizeOrder) {
    if (!toPlace[v]) continue;
    const p = tree.firstFit(ix.vmMem[v]! - EPSILON, ix.vmCpu[v]! - EPSILON);
    if (p < 0) return undefined;
    tree.set(p, tree.freeMem(p) - ix.vmMem[v]!, tree.freeCpu(p) - ix.vmCpu[v]!);
    where[v] = order[p]!;
  }
  return where;
}

/**
 * Local search: for the lightest used hosts, try to move all their VMs into
 * the other used hosts' room (first fit, largest first); keep each host that
 * empties, undo the others. Modifies `where`.
 */
function emptyLightHosts(ix: IndexedCluster, where: Int32Array, attempts: number, sizeOrder: Int32Array): void {
  if (attempts <= 0) return;
  const loads = loadsOf(ix, where);
  const vmsOn: number[][] = Array.from({ length: ix.hostCount }, () => []);
  for (const v of sizeOrder) vmsOn[where[v]!]!.push(v);
  const used: number[] = [];
  for (let h = 0; h < ix.hostCount; h++) if (ix.receives[h] && vmsOn[h]!.length > 0) used.push(h);
  const fullness = (h: number) => Math.max(loads.mem[h]! / Math.max(1, ix.capMem[h]!), loads.cpu[h]! / Math.max(1, ix.capCpu[h]!));
  // Fill the fullest first, as in the packing, so the lightest hosts are the ones left to empty.
  used.sort((a, b) => fullness(b) - fullness(a) || a - b);
  const tree = new FirstFitTree(used.length);
  used.forEach((h, p) => tree.set(p, ix.capMem[h]! - loads.mem[h]!, ix.capCpu[h]! - loads.cpu[h]!));
  let tried = 0;
  for (let p = used.length - 1; p >= 0 && tried < attempts; p--) {
    const h = used[p]!;
    const vms = vmsOn[h]!;
    if (vms.some((v) => !ix.movable[v])) continue;
    tried++;
    const saved = [tree.freeMem(p), tree.freeCpu(p)] as const;
    tree.set(p, -Infinity, -Infinity);
    const placed: Array<[number, number]> = [];
    for (const v of vms) {
      const q = tree.firstFit(ix.vmMem[v]! - EPSILON, ix.vmCpu[v]! - EPSILON);
      if (q < 0) break;
      tree.set(q, tree.freeMem(q) - ix.vmMem[v]!, tree.freeCpu(q) - ix.vmCpu[v]!);
      placed.push([v, q]);
    }
    if (placed.length < vms.length) {
      for (const [v, q] of placed) tree.set(q, tree.freeMem(q) + ix.vmMem[v]!, tree.freeCpu(q) + ix.vmCpu[v]!);
      tree.set(p, saved[0], saved[1]);
      continue;
    }
    for (const [v, q] of placed) {
      const to = used[q]!;
      where[v] = to;
      vmsOn[to]!.push(v);
    }
    vmsOn[h] = [];
  }
}

/** Drops freed hosts (most migrations first) until the plan fits the migration budget: their VMs go back home. */
function giveUpFreedHosts(ix: IndexedCluster, where: Int32Array, maxMigrations: number): void {
  const stillUsed = new Uint8Array(ix.hostCount);
  for (let v = 0; v < ix.vmCount; v++) stillUsed[where[v]!] = 1;
  const movedFrom = new Map<number, number[]>();
  for (let v = 0; v < ix.vmCount; v++) {
    const h = ix.home[v]!;
    if (stillUsed[h] || where[v] === h) continue;
    const list = movedFrom.get(h);
    if (list) list.push(v);
    else movedFrom.set(h, [v]);
  }
  const freed = [...movedFrom.entries()].sort((a, b) => b[1].length - a[1].length || a[0] - b[0]);
  let moves = countMoves(ix, where);
  for (const [, vms] of freed) {
    if (moves <= maxMigrations) break;
    // Every VM of the host comes back, so the host holds what it held in A and the others only lose load.
    for (const v of vms) where[v] = ix.home[v]!;
    moves -= vms.length;
  }
  // Moves that relieve an overloaded kept host are not given up: they keep B within capacity.
}
