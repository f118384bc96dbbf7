// consolidate: run the VMs on as few hosts as possible by freeing whole
// hosts, moving as few VMs as that takes.
//
// Which hosts to keep decides both figures. Keeping the fullest hosts moves
// the fewest VMs but, with hosts of several sizes, may keep small full hosts
// and free large ones, ending far above the lower bound (2, 10 and 32 hosts
// against bounds of 1, 5 and 19 on clusters of 128/192/256 GiB hosts). So
// several keeping orders are tried, each with hosts holding a VM that cannot
// move first: fullest relative to size, largest first, and most load in
// absolute terms. For each order a binary search finds the smallest K such
// that the VMs of the other hosts pack into the first K hosts' free room,
// first-fit decreasing on the dominant resource. VMs already on kept hosts
// stay, which is what keeps the migration count low. Local search then tries
// to empty the lightest kept hosts into the others' remaining room. The
// answer with the fewest hosts wins, then the one with the fewest migrations,
// then the least memory moved.
import { EPSILON, hostLowerBound, hostsUsed, indexCluster, loadsOf, type IndexedCluster, placementOf } from '../indexed';
import type { Cluster, Constraints, Target } from '../model';
import { FirstFitTree } from '../first-fit-tree';
import { mayArrive } from '../rules';
import { positiveInteger, type Strategy } from '../strategy';
import { countMoves } from './best-fit';

export type ConsolidateArgs = {
  /** Most VMs to migrate; 0 for no limit. Hosts freed last are given up first when the plan is over it. */
  maxMigrations: number;
  /** How many of the lightest kept hosts local search tries to empty. */
  localSearch: number;
  /**
   * 1: sharing-aware (opt-in): a VM to place goes first to a kept host that
   * already runs a VM started from one of its images (DISK/IMAGE_ID), where
   * KSM can merge their identical pages; 0: first fit only.
   */
  sharing: number;
};

export const consolidate: Strategy<ConsolidateArgs> = {
  name: 'consolidate',
  summary: 'run the VMs on the fewest hosts, freeing whole hosts',
  defaults: { maxMigrations: 0, localSearch: 200, sharing: 0 },
  validate(args) {
    const errors: string[] = [];
    positiveInteger(args, 'maxMigrations', errors, { allowZero: true });
    positiveInteger(args, 'localSearch', errors, { allowZero: true });
    if (args.sharing !== 0 && args.sharing !== 1) errors.push(`sharing must be 0 or 1, got ${JSON.stringify(args.sharing)}`);
    return errors;
  },
  plan(cluster, args, constraints) {
    return consolidateTarget(cluster, args, constraints);
  },
};

function consolidateTarget(cluster: Cluster, args: ConsolidateArgs, constraints: Constraints): Target {
  const ix = indexCluster(cluster, constraints);
  const sizeOrder = bySizeDescending(ix);
  const bound = hostLowerBound(ix);
  const before = hostsUsed(ix, ix.home);

  let best: Candidate | undefined;
  for (const { order, mustKeep, repackAll } of keepOrders(ix)) {
    const packed = smallestPacking(ix, order, mustKeep, bound, sizeOrder, repackAll, args.sharing === 1);
    if (!packed) continue;
    // Moving packed groups onto other hosts could cross a host rule; with host rules the fresh packing stands as packed.
    const where = repackAll && ix.rules.hostMask.size === 0 ? relabelled(ix, packed) : packed;
    emptyLightHosts(ix, where, args.localSearch, sizeOrder);
    if (args.maxMigrations > 0) giveUpFreedHosts(ix, where, args.maxMigrations);
    const candidate = scored(ix, where);
    if (!best || better(candidate, best)) best = candidate;
  }
  if (!best) {
    return {
      placement: placementOf(ix, ix.home),
      alsoExclude: [],
      notes: [`hosts used ${before}, lower bound ${bound}: nothing to consolidate`],
      unresolved: [{ reason: 'no-room', message: 'the VMs do not fit the enabled hosts even without consolidating; add capacity or lower the reserve', vms: [], hosts: [] }],
    };
  }
  return {
    placement: placementOf(ix, best.where),
    alsoExclude: [],
    notes: [`hosts used ${before} → ${best.hosts} (lower bound ${bound}), ${best.moves} VMs to migrate`],
    unresolved: [],
  };
}

interface Candidate {
  where: Int32Array;
  hosts: number;
  moves: number;
  movedMiB: number;
}

function scored(ix: IndexedCluster, where: Int32Array): Candidate {
  let movedMiB = 0;
  for (let v = 0; v < ix.vmCount; v++) if (where[v] !== ix.home[v]) movedMiB += ix.vmMem[v]!;
  return { where, hosts: hostsUsed(ix, where), moves: countMoves(ix, where), movedMiB };
}

function better(a: Candidate, b: Candidate): boolean {
  return a.hosts !== b.hosts ? a.hosts < b.hosts : a.moves !== b.moves ? a.moves < b.moves : a.movedMiB < b.movedMiB;
}

/** The packing into the shortest prefix of `order` that holds every VM, or undefined when even all of it does not. */
function smallestPacking(ix: IndexedCluster, order: Int32Array, mustKeep: number, bound: number, sizeOrder: Int32Array, repackAll: boolean, sharing: boolean): Int32Array | undefined {
  let lo = Math.max(mustKeep, Math.min(bound, order.length));
  let hi = order.length;
  let best = packKeepingFirst(ix, order, hi, sizeOrder, repackAll, sharing);
  if (!best) return undefined;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const packed = packKeepingFirst(ix, order, mid, sizeOrder, repackAll, sharing);
    if (packed) {
      best = packed;
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return best;
}

/**
 * Receiving hosts in each keeping order tried, and how many of them must be
 * kept (they hold a VM that cannot move, and come first in every order).
 */
function keepOrders(ix: IndexedCluster): Array<{ order: Int32Array; mustKeep: number; repackAll: boolean }> {
  const loads = loadsOf(ix, ix.home);
  const pinnedHere = new Uint8Array(ix.hostCount);
  for (let v = 0; v < ix.vmCount; v++) if (!ix.movable[v]) pinnedHere[ix.home[v]!] = 1;
  const { refMem, refCpu } = largestHost(ix);
  const fullness = new Float64Array(ix.hostCount);
  const load = new Float64Array(ix.hostCount);
  const size = new Float64Array(ix.hostCount);
  const hosts: number[] = [];
  for (let h = 0; h < ix.hostCount; h++) {
    if (!ix.receives[h]) continue;
    fullness[h] = Math.max(loads.mem[h]! / Math.max(1, ix.capMem[h]!), loads.cpu[h]! / Math.max(1, ix.capCpu[h]!));
    load[h] = Math.max(loads.mem[h]! / refMem, loads.cpu[h]! / refCpu);
    size[h] = Math.min(ix.capMem[h]! / refMem, ix.capCpu[h]! / refCpu);
    hosts.push(h);
  }
  const mustKeep = hosts.filter((h) => pinnedHere[h]).length;
  const orderBy = (key: (a: number, b: number) => number) =>
    Int32Array.from([...hosts].sort((a, b) => pinnedHere[b]! - pinnedHere[a]! || key(a, b) || a - b));
  const orders = [
    orderBy((a, b) => fullness[b]! - fullness[a]! || size[b]! - size[a]!),
    orderBy((a, b) => size[b]! - size[a]! || load[b]! - load[a]!),
    orderBy((a, b) => load[b]! - load[a]! || size[b]! - size[a]!),
  ];
  // Last, the largest hosts with every movable VM packed afresh: first-fit
  // decreasing on the whole cluster, which wins where VMs left in place
  // fragment the kept hosts' room, at the price of more migrations.
  return [...orders.map((order) => ({ order, mustKeep, repackAll: false })), { order: orders[1]!, mustKeep, repackAll: true }];
}

/**
 * A packing made afresh says which VMs share a host, not which host: each
 * group of VMs packed together moves as a whole onto a host of the same size
 * (and receiving, with no VM that cannot move) where most of its memory
 * already runs, so as few VMs as possible move. Greedy on overlap.
 */
function relabelled(ix: IndexedCluster, where: Int32Array): Int32Array {
  const fixed = new Uint8Array(ix.hostCount);
  for (let v = 0; v < ix.vmCount; v++) if (!ix.movable[v] || !ix.receives[ix.home[v]!]) fixed[ix.home[v]!] = 1;
  const kind = (h: number) => `${ix.capMem[h]}/${ix.capCpu[h]}`;
  const swappable = (h: number) => ix.receives[h] === 1 && fixed[h] === 0;
  // Overlap in MiB between each packed group (by its packed host) and each home host of the same kind.
  const overlap = new Map<string, number>();
  for (let v = 0; v < ix.vmCount; v++) {
    const group = where[v]!;
    const home = ix.home[v]!;
    if (!swappable(group) || !swappable(home) || kind(group) !== kind(home)) continue;
    const key = `${group},${home}`;
    overlap.set(key, (overlap.get(key) ?? 0) + ix.vmMem[v]!);
  }
  const pairs = [...overlap].map(([key, mib]) => [...key.split(',').map(Number), mib] as [number, number, number]);
  pairs.sort((a, b) => b[2] - a[2] || a[0] - b[0] || a[1] - b[1]);
  const label = new Int32Array(ix.hostCount).fill(-1);
  const taken = new Uint8Array(ix.hostCount);
  for (const [group, home] of pairs) {
    if (label[group]! >= 0 || taken[home]) continue;
    label[group] = home;
    taken[home] = 1;
  }
  // Groups left over take their own host when free, else any free host of their kind.
  const used = new Uint8Array(ix.hostCount);
  for (let v = 0; v < ix.vmCount; v++) used[where[v]!] = 1;
  const freeOfKind = new Map<string, number[]>();
  for (let h = 0; h < ix.hostCount; h++) {
    if (!swappable(h) || taken[h]) continue;
    const list = freeOfKind.get(kind(h));
    if (list) list.push(h);
    else freeOfKind.set(kind(h), [h]);
  }
  for (let h = 0; h < ix.hostCount; h++) {
    if (!used[h] || !swappable(h) || label[h]! >= 0) continue;
    const list = freeOfKind.get(kind(h))!;
    const own = list.indexOf(h);
    label[h] = own >= 0 ? list.splice(own, 1)[0]! : list.shift()!;
    taken[label[h]!] = 1;
  }
  const out = Int32Array.from(where);
  for (let v = 0; v < ix.vmCount; v++) {
    const l = label[where[v]!]!;
    if (l >= 0) out[v] = l;
  }
  return out;
}

function largestHost(ix: IndexedCluster): { refMem: number; refCpu: number } {
  let refMem = 1;
  let refCpu = 1;
  for (let h = 0; h < ix.hostCount; h++) {
    refMem = Math.max(refMem, ix.capMem[h]!);
    refCpu = Math.max(refCpu, ix.capCpu[h]!);
  }
  return { refMem, refCpu };
}

/** VM indices, largest first on the dominant resource relative to the largest host. */
function bySizeDescending(ix: IndexedCluster): Int32Array {
  const { refMem, refCpu } = largestHost(ix);
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
function packKeepingFirst(ix: IndexedCluster, order: Int32Array, keep: number, sizeOrder: Int32Array, repackAll = false, sharing = false): Int32Array | undefined {
  const position = new Int32Array(ix.hostCount).fill(-1);
  for (let p = 0; p < keep; p++) position[order[p]!] = p;
  const where = Int32Array.from(ix.home);
  const loads = loadsOf(ix, ix.home);
  const toPlace = new Uint8Array(ix.vmCount);
  for (let v = 0; v < ix.vmCount; v++) {
    const h = ix.home[v]!;
    if (!ix.receives[h]) continue;
    if (position[h]! < 0) toPlace[v] = 1;
    else if (repackAll && ix.movable[v]) {
      toPlace[v] = 1;
      loads.mem[h]! -= ix.vmMem[v]!;
      loads.cpu[h]! -= ix.vmCpu[v]!;
    }
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
  // VMs not yet placed wait on hosts that are not kept, so they block no kept host.
  for (let v = 0; v < ix.vmCount; v++) if (toPlace[v] && position[where[v]!]! >= 0) where[v] = -1;
  // Sharing-aware: kept positions running a VM of each image, filled as VMs land.
  const imageAt = new Map<number, Set<number>>();
  const note = (v: number, p: number) => {
    for (const image of ix.vmImages[v]!) {
      const set = imageAt.get(image) ?? new Set<number>();
      set.add(p);
      imageAt.set(image, set);
    }
  };
  if (sharing) for (let v = 0; v < ix.vmCount; v++) if (!toPlace[v] && position[where[v]!]! >= 0) note(v, position[where[v]!]!);
  for (const v of sizeOrder) {
    if (!toPlace[v]) continue;
    const p = sharing ? sharedFit(ix, tree, v, where, order, imageAt) : -1;
    const q = p >= 0 ? p : fitFor(ix, tree, v, where, order, keep);
    if (q < 0) return undefined;
    tree.set(q, tree.freeMem(q) - ix.vmMem[v]!, tree.freeCpu(q) - ix.vmCpu[v]!);
    where[v] = order[q]!;
    if (sharing) note(v, q);
  }
  return where;
}

/** The first kept position already running one of v's images with room for v (and its rules), or -1. */
function sharedFit(ix: IndexedCluster, tree: FirstFitTree, v: number, where: Int32Array, order: Int32Array, imageAt: ReadonlyMap<number, ReadonlySet<number>>): number {
  let best = -1;
  for (const image of ix.vmImages[v]!) {
    for (const p of imageAt.get(image) ?? []) {
      if (best >= 0 && p >= best) continue;
      if (tree.freeMem(p) < ix.vmMem[v]! - EPSILON || tree.freeCpu(p) < ix.vmCpu[v]! - EPSILON) continue;
      if (mayArrive(ix.rules, v, order[p]!, where)) best = p;
    }
  }
  return best;
}

/**
 * Position (in `hosts`, first `count`) of the first host with room for v where
 * its rules let it arrive; the tree answers alone for VMs without rules.
 */
function fitFor(ix: IndexedCluster, tree: FirstFitTree, v: number, where: Int32Array, hosts: ArrayLike<number>, count: number): number {
  if (!ix.rules.constrained[v]) return tree.firstFit(ix.vmMem[v]! - EPSILON, ix.vmCpu[v]! - EPSILON);
  for (let p = 0; p < count; p++) {
    if (tree.freeMem(p) < ix.vmMem[v]! - EPSILON || tree.freeCpu(p) < ix.vmCpu[v]! - EPSILON) continue;
    if (mayArrive(ix.rules, v, hosts[p]!, where)) return p;
  }
  return -1;
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
  // Try the hosts with the least load in absolute terms first: with hosts of
  // several sizes a small host half full empties more easily than a large one.
  const { refMem, refCpu } = largestHost(ix);
  const absolute = (h: number) => Math.max(loads.mem[h]! / refMem, loads.cpu[h]! / refCpu);
  const attemptOrder = used.map((h, p) => [h, p] as const).sort((a, b) => absolute(a[0]) - absolute(b[0]) || b[1] - a[1]);
  let tried = 0;
  for (const [h, p] of attemptOrder) {
    if (tried >= attempts) break;
    const vms = vmsOn[h]!;
    if (vms.some((v) => !ix.movable[v])) continue;
    tried++;
    const saved = [tree.freeMem(p), tree.freeCpu(p)] as const;
    tree.set(p, -Infinity, -Infinity);
    const placed: Array<[number, number]> = [];
    for (const v of vms) {
      const q = fitFor(ix, tree, v, where, used, used.length);
      if (q < 0) break;
      tree.set(q, tree.freeMem(q) - ix.vmMem[v]!, tree.freeCpu(q) - ix.vmCpu[v]!);
      placed.push([v, q]);
      where[v] = used[q]!;
    }
    if (placed.length < vms.length) {
      for (const [v, q] of placed) {
        tree.set(q, tree.freeMem(q) + ix.vmMem[v]!, tree.freeCpu(q) + ix.vmCpu[v]!);
        where[v] = h;
      }
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
