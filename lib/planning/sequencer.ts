// Question (2): given A and B, which waves of live migrations get from A to
// B without overloading a host at any step.
//
// Greedy first: every VM not at its target moves straight there as soon as
// its destination has room, packed into waves within the in-flight limits.
// Order matters even without cycles (an early arrival can take the room a
// later one needed before its own departure), so moves that free room other
// moves wait for go first. A cycle (VM x waits for room that VM y frees, y
// waits for x) needs a detour: one VM on a blocked destination is staged on
// another host with room, the cheapest such detour first. Deciding the best
// order is hard in general, so on small instances an exact search backs the
// greedy up when it deadlocks or had to stage: the answer there is complete
// and optimal. On large ones the greedy answer stands.
import { memoryMoved, type CostFunction } from './cost';
import { exactSequence, smallEnoughForExactSearch, type SingleMove } from './exact-search';
import { EPSILON, indexCluster, loadsOf, type IndexedCluster, type Loads, whereOf } from './indexed';
import type { Cluster, Constraints, Infeasible, Move, Placement, Wave } from './model';
import { describeRule, mayArrive, ruleAgainstMove } from './rules';

export interface SequenceOptions {
  cost?: CostFunction;
  /** Detours through a third host to break cycles (default true). When off, a deadlock answer offers the detour instead. */
  allowStaging?: boolean;
  /** States the exact search may expand on small instances (default 200,000). */
  exactSearchBudget?: number;
}

export type SequenceResult =
  | { ok: true; waves: Wave[]; totalCost: number; stagingMoves: number }
  | { ok: false; infeasible: Infeasible };

export function sequence(cluster: Cluster, target: Placement, constraints: Constraints, options: SequenceOptions = {}): SequenceResult {
  const refusal = checkTarget(cluster, target, constraints);
  if (refusal) return { ok: false, infeasible: refusal };
  const ix = indexCluster(cluster, constraints);
  const goal = whereOf(ix, target);
  const costFn = options.cost ?? memoryMoved;
  const moveCost = (v: number, from: number, to: number) => costFn(cluster.vms[v]!, cluster.hosts[from]!, cluster.hosts[to]!);
  const allowStaging = options.allowStaging ?? true;
  const greedy = greedySequence(ix, goal, constraints, moveCost, allowStaging);

  if (allowStaging && smallEnoughForExactSearch(ix) && (!greedy.ok || greedy.stagingMoves > 0)) {
    const exact = exactSequence(ix, goal, moveCost, options.exactSearchBudget ?? 200_000);
    if (exact.found && (!greedy.ok || exact.totalCost < greedy.totalCost - EPSILON)) {
      const waves = packIntoWaves(ix, goal, exact.moves, constraints);
      return { ok: true, waves: waves.map((wave) => wave.map((m) => toMove(ix, m))), totalCost: exact.totalCost, stagingMoves: exact.moves.length - countMisplaced(ix, goal) };
    }
    if (!greedy.ok && !exact.found && exact.exhausted) {
      return { ok: false, infeasible: { ...greedy.infeasible, reason: 'search-exhausted', message: `${greedy.infeasible.message} (the exact search stopped at its budget without an answer)` } };
    }
  }
  if (!greedy.ok) return greedy;
  return { ok: true, waves: greedy.waves.map((wave) => wave.map((m) => toMove(ix, m))), totalCost: greedy.totalCost, stagingMoves: greedy.stagingMoves };
}

interface IndexMove extends SingleMove {
  staging: boolean;
}

type GreedyResult =
  | { ok: true; waves: IndexMove[][]; totalCost: number; stagingMoves: number }
  | { ok: false; infeasible: Infeasible };

function greedySequence(
  ix: IndexedCluster,
  goal: Int32Array,
  constraints: Constraints,
  moveCost: (v: number, from: number, to: number) => number,
  allowStaging: boolean,
): GreedyResult {
  const cur = Int32Array.from(ix.home);
  const loads = loadsOf(ix, cur);
  const perHost = Math.max(1, constraints.maxInFlightPerHost);
  const perCluster = Math.max(1, constraints.maxInFlightPerCluster);
  const arrivingMem = new Float64Array(ix.hostCount);
  const arrivingCpu = new Float64Array(ix.hostCount);
  const inFlight = new Int32Array(ix.hostCount);
  // Host each VM is migrating to in the wave being built, -1 otherwise: a migrating VM counts on both hosts for the rules.
  const arriving = new Int32Array(ix.vmCount).fill(-1);
  let pending: number[] = [];
  for (let v = 0; v < ix.vmCount; v++) if (cur[v] !== goal[v]) pending.push(v);
  // Each staging move parks one VM; more than two per misplaced VM means the detours chase each other.
  let stagingBudget = 2 * pending.length + 4;
  const waves: IndexMove[][] = [];
  let totalCost = 0;
  let stagingMoves = 0;

  const awaited = new Int32Array(ix.hostCount);
  while (pending.length > 0) {
    prioritiseFreeingMoves(pending, cur, goal, awaited);
    const wave: IndexMove[] = [];
    for (const v of pending) {
      if (wave.length >= perCluster) break;
      const from = cur[v]!;
      const to = goal[v]!;
      if (inFlight[from]! >= perHost || inFlight[to]! >= perHost) continue;
      if (loads.mem[to]! + arrivingMem[to]! + ix.vmMem[v]! > ix.capMem[to]! + EPSILON) continue;
      if (loads.cpu[to]! + arrivingCpu[to]! + ix.vmCpu[v]! > ix.capCpu[to]! + EPSILON) continue;
      if (!mayArrive(ix.rules, v, to, cur, arriving)) continue;
      arriving[v] = to;
      inFlight[from]!++;
      inFlight[to]!++;
      arrivingMem[to]! += ix.vmMem[v]!;
      arrivingCpu[to]! += ix.vmCpu[v]!;
      wave.push({ vm: v, from, to, cost: moveCost(v, from, to), staging: false });
    }
    if (wave.length === 0) {
      const detour = cheapestStaging(ix, goal, cur, loads, pending, moveCost);
      if (!allowStaging || !detour || stagingBudget-- <= 0) {
        return { ok: false, infeasible: deadlock(ix, goal, cur, loads, pending, allowStaging ? undefined : detour) };
      }
      wave.push(detour);
      stagingMoves++;
    }
    for (const move of wave) {
      arriving[move.vm] = -1;
      loads.mem[move.from]! -= ix.vmMem[move.vm]!;
      loads.cpu[move.from]! -= ix.vmCpu[move.vm]!;
      loads.mem[move.to]! += ix.vmMem[move.vm]!;
      loads.cpu[move.to]! += ix.vmCpu[move.vm]!;
      cur[move.vm] = move.to;
      inFlight[move.from] = 0;
      inFlight[move.to] = 0;
      arrivingMem[move.to] = 0;
      arrivingCpu[move.to] = 0;
      totalCost += move.cost;
    }
    waves.push(wave);
    const next: number[] = [];
    for (const v of pending) if (cur[v] !== goal[v]) next.push(v);
    // A staged VM that was not pending before (it stays in B) must come back.
    for (const move of wave) if (move.staging && !pending.includes(move.vm)) next.push(move.vm);
    pending = next;
  }
  return { ok: true, waves, totalCost, stagingMoves };
}

/**
 * Sorts pending moves (stably) so those leaving a host that other pending
 * moves go to come first: their departure is what the others wait for.
 */
function prioritiseFreeingMoves(pending: number[], cur: Int32Array, goal: Int32Array, awaited: Int32Array): void {
  awaited.fill(0);
  for (const v of pending) awaited[goal[v]!]!++;
  const rest: number[] = [];
  let k = 0;
  for (const v of pending) {
    if (awaited[cur[v]!]! > 0) pending[k++] = v;
    else rest.push(v);
  }
  for (const v of rest) pending[k++] = v;
}

/**
 * Every pending move is blocked by capacity. Look for one VM u on a blocked
 * destination whose departure alone makes room for the blocked VM, and a host
 * with room for u now. Extra cost: u's detour (one more move if u is itself
 * misplaced, two if it has to come back). Ties prefer a host that keeps room
 * for u even in the target, so the detour does not block someone else.
 */
function cheapestStaging(
  ix: IndexedCluster,
  goal: Int32Array,
  cur: Int32Array,
  loads: Loads,
  pending: readonly number[],
  moveCost: (v: number, from: number, to: number) => number,
): IndexMove | undefined {
  const targetLoads = loadsOf(ix, goal);
  const vmsOn = new Map<number, number[]>();
  for (let u = 0; u < ix.vmCount; u++) {
    if (!ix.movable[u]) continue;
    const list = vmsOn.get(cur[u]!);
    if (list) list.push(u);
    else vmsOn.set(cur[u]!, [u]);
  }
  let best: { move: IndexMove; extra: number; safe: boolean; room: number } | undefined;
  const considered = new Set<number>();
  for (const v of pending) {
    const d = goal[v]!;
    const needMem = loads.mem[d]! + ix.vmMem[v]! - ix.capMem[d]!;
    const needCpu = loads.cpu[d]! + ix.vmCpu[v]! - ix.capCpu[d]!;
    for (const u of vmsOn.get(d) ?? []) {
      if (considered.has(u) || ix.vmMem[u]! < needMem - EPSILON || ix.vmCpu[u]! < needCpu - EPSILON) continue;
      considered.add(u);
      for (let h = 0; h < ix.hostCount; h++) {
        if (h === d || !ix.receives[h] || !mayArrive(ix.rules, u, h, cur)) continue;
        if (loads.mem[h]! + ix.vmMem[u]! > ix.capMem[h]! + EPSILON || loads.cpu[h]! + ix.vmCpu[u]! > ix.capCpu[h]! + EPSILON) continue;
        const away = moveCost(u, d, h);
        const extra = goal[u] === d ? away + moveCost(u, h, d) : away + moveCost(u, h, goal[u]!) - moveCost(u, d, goal[u]!);
        const safe = targetLoads.mem[h]! + ix.vmMem[u]! <= ix.capMem[h]! + EPSILON && targetLoads.cpu[h]! + ix.vmCpu[u]! <= ix.capCpu[h]! + EPSILON;
        const room = ix.capMem[h]! - loads.mem[h]!;
        const better =
          !best ||
          extra < best.extra - EPSILON ||
          (Math.abs(extra - best.extra) <= EPSILON && (safe !== best.safe ? safe : room > best.room));
        if (better) best = { move: { vm: u, from: d, to: h, cost: away, staging: true }, extra, safe, room };
      }
    }
  }
  return best?.move;
}

function deadlock(
  ix: IndexedCluster,
  goal: Int32Array,
  cur: Int32Array,
  loads: Loads,
  pending: readonly number[],
  offer: IndexMove | undefined,
): Infeasible {
  const mib = (n: number) => `${Math.round(n)} MiB`;
  const waits = pending.slice(0, 6).map((v) => {
    const d = goal[v]!;
    const free = ix.capMem[d]! - loads.mem[d]!;
    return `VM ${ix.vmIds[v]} (${mib(ix.vmMem[v]!)}) on host ${ix.hostIds[cur[v]!]} needs room on host ${ix.hostIds[d]} (free ${mib(free)}, CPU free ${Math.round(ix.capCpu[d]! - loads.cpu[d]!)})`;
  });
  const more = pending.length > 6 ? `, and ${pending.length - 6} more` : '';
  const ending = offer
    ? `; staging VM ${ix.vmIds[offer.vm]} on host ${ix.hostIds[offer.to]} would break the cycle (allow staging to use it)`
    : '; no host has room to stage any VM on the blocked hosts — free memory on another host or change the target';
  const hosts = new Set<number>();
  for (const v of pending) {
    hosts.add(ix.hostIds[cur[v]!]!);
    hosts.add(ix.hostIds[goal[v]!]!);
  }
  return {
    reason: 'deadlock',
    message: `the remaining moves wait on each other: ${waits.join('; ')}${more}${ending}`,
    vms: pending.map((v) => ix.vmIds[v]!),
    hosts: [...hosts],
    ...(offer ? { staging: toMove(ix, offer) } : {}),
  };
}

/** Refuses targets no sequence can reach, naming the VMs and hosts, before any search. */
function checkTarget(cluster: Cluster, target: Placement, constraints: Constraints): Infeasible | undefined {
  const hosts = new Map(cluster.hosts.map((h) => [h.id, h]));
  const vms = new Map(cluster.vms.map((v) => [v.id, v]));
  const pinned = new Set(constraints.pinnedVms);
  const excluded = new Set(constraints.excludedHosts);
  const unknown = [...target].filter(([vm, host]) => !vms.has(vm) || !hosts.has(host));
  if (unknown.length > 0) {
    return { reason: 'unknown-reference', message: `the target names VMs or hosts not in the cluster: ${unknown.map(([vm, host]) => `VM ${vm} → host ${host}`).join(', ')}`, vms: unknown.map(([vm]) => vm), hosts: unknown.map(([, host]) => host) };
  }
  const moved = [...target].filter(([vm, host]) => cluster.placement.get(vm) !== host);
  if (cluster.rules && cluster.rules.length > 0) {
    // Each VM's arrival judged against the whole target: a rule that holds now must hold there too.
    const final = new Map(cluster.placement);
    for (const [vm, host] of target) final.set(vm, host);
    for (const [vm, host] of moved) {
      const rule = ruleAgainstMove(cluster, vm, host, final);
      if (rule) return { reason: 'rule', message: `the target puts VM ${vm} on host ${host}, which breaks ${describeRule(rule)}; keep it elsewhere`, vms: [vm], hosts: [host] };
    }
  }
  const pinnedMoved = moved.filter(([vm]) => pinned.has(vm));
  if (pinnedMoved.length > 0) {
    return { reason: 'pinned', message: `the target moves pinned VMs ${pinnedMoved.map(([vm]) => vm).join(', ')}; unpin them or keep them in place`, vms: pinnedMoved.map(([vm]) => vm), hosts: [] };
  }
  const pressureLimit = constraints.maxCpuPressure;
  const contended = (host: number) => pressureLimit !== undefined && (hosts.get(host)!.cpuPressure ?? 0) > pressureLimit;
  const barred = moved.filter(([, host]) => excluded.has(host) || !hosts.get(host)!.enabled || contended(host));
  if (barred.length > 0) {
    return { reason: 'excluded-host', message: `the target puts VMs on excluded or disabled hosts${pressureLimit === undefined ? '' : ', or hosts above the CPU pressure limit'}: ${barred.map(([vm, host]) => `VM ${vm} → host ${host}`).join(', ')}`, vms: barred.map(([vm]) => vm), hosts: [...new Set(barred.map(([, host]) => host))] };
  }
  // The last arrival on a host must fit, and afterwards the host only loses VMs; so every host that receives must fit B.
  const final = new Map(cluster.placement);
  for (const [vm, host] of target) final.set(vm, host);
  const load = new Map<number, { mem: number; cpu: number }>();
  for (const [vmId, hostId] of final) {
    const l = load.get(hostId) ?? { mem: 0, cpu: 0 };
    l.mem += vms.get(vmId)!.memMiB;
    l.cpu += vms.get(vmId)!.cpu;
    load.set(hostId, l);
  }
  for (const hostId of new Set(moved.map(([, host]) => host))) {
    const host = hosts.get(hostId)!;
    const l = load.get(hostId)!;
    const capMem = host.memMiB - constraints.reserve.memMiB;
    const capCpu = host.cpu - constraints.reserve.cpu;
    if (l.mem > capMem + EPSILON || l.cpu > capCpu + EPSILON) {
      const arriving = moved.filter(([, h]) => h === hostId).map(([vm]) => vm);
      return {
        reason: 'target-over-capacity',
        message: `the target puts ${Math.round(l.mem)} MiB / ${l.cpu} CPU on host ${hostId}, which holds ${capMem} MiB / ${capCpu} CPU after the reserve; send fewer of VMs ${arriving.join(', ')} there`,
        vms: arriving,
        hosts: [hostId],
      };
    }
  }
  return undefined;
}

function countMisplaced(ix: IndexedCluster, goal: Int32Array): number {
  let n = 0;
  for (let v = 0; v < ix.vmCount; v++) if (ix.home[v] !== goal[v]) n++;
  return n;
}

/**
 * Groups an ordered list of single moves into waves without reordering: a move
 * joins the current wave when its VM is not already moving, the in-flight
 * limits allow it and its destination fits the wave-start load plus every
 * arrival of the wave. Moves that leave a VM's target are marked as staging.
 */
function packIntoWaves(ix: IndexedCluster, goal: Int32Array, moves: readonly SingleMove[], constraints: Constraints): IndexMove[][] {
  const cur = Int32Array.from(ix.home);
  const loads = loadsOf(ix, cur);
  const waves: IndexMove[][] = [];
  let wave: IndexMove[] = [];
  const arriving = new Map<number, { mem: number; cpu: number }>();
  const inFlight = new Map<number, number>();
  const movingTo = new Int32Array(ix.vmCount).fill(-1);
  const flush = () => {
    for (const m of wave) {
      loads.mem[m.from]! -= ix.vmMem[m.vm]!;
      loads.cpu[m.from]! -= ix.vmCpu[m.vm]!;
      loads.mem[m.to]! += ix.vmMem[m.vm]!;
      loads.cpu[m.to]! += ix.vmCpu[m.vm]!;
      cur[m.vm] = m.to;
    }
    if (wave.length > 0) waves.push(wave);
    for (const m of wave) movingTo[m.vm] = -1;
    wave = [];
    arriving.clear();
    inFlight.clear();
  };
  for (const m of moves) {
    const a = arriving.get(m.to) ?? { mem: 0, cpu: 0 };
    const joins =
      wave.length < constraints.maxInFlightPerCluster &&
      !wave.some((w) => w.vm === m.vm) &&
      (inFlight.get(m.from) ?? 0) < constraints.maxInFlightPerHost &&
      (inFlight.get(m.to) ?? 0) < constraints.maxInFlightPerHost &&
      loads.mem[m.to]! + a.mem + ix.vmMem[m.vm]! <= ix.capMem[m.to]! + EPSILON &&
      loads.cpu[m.to]! + a.cpu + ix.vmCpu[m.vm]! <= ix.capCpu[m.to]! + EPSILON &&
      // A VM still leaving m.to in this wave counts there (cur is the wave's start).
      mayArrive(ix.rules, m.vm, m.to, cur, movingTo);
    if (!joins) flush();
    movingTo[m.vm] = m.to;
    const b = arriving.get(m.to) ?? { mem: 0, cpu: 0 };
    b.mem += ix.vmMem[m.vm]!;
    b.cpu += ix.vmCpu[m.vm]!;
    arriving.set(m.to, b);
    inFlight.set(m.from, (inFlight.get(m.from) ?? 0) + 1);
    inFlight.set(m.to, (inFlight.get(m.to) ?? 0) + 1);
    wave.push({ ...m, staging: m.to !== goal[m.vm] });
  }
  flush();
  return waves;
}

function toMove(ix: IndexedCluster, m: IndexMove): Move {
  const move: Move = { vm: ix.vmIds[m.vm]!, from: ix.hostIds[m.from]!, to: ix.hostIds[m.to]!, cost: m.cost };
  if (m.staging) move.staging = true;
  return move;
}
