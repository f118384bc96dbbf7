// hotspot: bring every host above the threshold back under it. From a hot
// host, move the VM whose departure alone brings the host under the threshold
// at the least cost — not the biggest (moves more memory than needed) nor the
// smallest (may not be enough) — to the best-fitting host that stays under the
// threshold with it. When no single VM is enough, move the one that removes
// most of the excess per unit of cost, and look again.
//
// Contention (constraints.maxCpuPressure set): a host whose CPU_PRESSURE is
// above the limit sheds the VM whose move relieves it most, the one with the
// most CPU time spent waiting (CPU share × CPU_DELAY), to the best-fitting host
// under the limit. One VM per host per plan: the pressure after the move is
// measured, not predicted, so the next run decides whether another must go.
import { memoryMoved } from '../cost';
import { EPSILON, indexCluster, loadsOf, type IndexedCluster, type Loads, placementOf } from '../indexed';
import type { Cluster, Constraints, Infeasible, Target } from '../model';
import { fraction, positiveInteger, type Strategy } from '../strategy';
import { bestFit, countMoves, moveVm } from './best-fit';

export type HotspotArgs = {
  /** A host is hot above this fraction of its capacity (after reserve), on memory or CPU. */
  threshold: number;
  /** Most VMs to migrate; 0 for no limit. */
  maxMigrations: number;
};

export const hotspot: Strategy<HotspotArgs> = {
  name: 'hotspot',
  summary: 'relieve hosts above the threshold with the cheapest sufficient moves',
  defaults: { threshold: 0.9, maxMigrations: 0 },
  validate(args) {
    const errors: string[] = [];
    fraction(args, 'threshold', errors);
    positiveInteger(args, 'maxMigrations', errors, { allowZero: true });
    return errors;
  },
  plan(cluster, args, constraints) {
    return hotspotTarget(cluster, args, constraints);
  },
};

function hotspotTarget(cluster: Cluster, args: HotspotArgs, constraints: Constraints): Target {
  const ix = indexCluster(cluster, constraints);
  const where = Int32Array.from(ix.home);
  const loads = loadsOf(ix, where);
  const limitMem = ix.capMem.map((c) => c * args.threshold);
  const limitCpu = ix.capCpu.map((c) => c * args.threshold);
  const excess = (h: number) => [Math.max(0, loads.mem[h]! - limitMem[h]!), Math.max(0, loads.cpu[h]! - limitCpu[h]!)] as const;
  const isHot = (h: number) => {
    const [m, c] = excess(h);
    return m > EPSILON || c > EPSILON;
  };
  const overload = (h: number) => Math.max(loads.mem[h]! / Math.max(1, ix.capMem[h]!), loads.cpu[h]! / Math.max(1, ix.capCpu[h]!));
  const hot: number[] = [];
  for (let h = 0; h < ix.hostCount; h++) if (isHot(h)) hot.push(h);
  hot.sort((a, b) => overload(b) - overload(a) || a - b);
  const hotBefore = hot.length;
  const unresolved: Infeasible[] = [];
  const budget = args.maxMigrations > 0 ? args.maxMigrations : Infinity;

  for (const h of hot) {
    while (isHot(h)) {
      if (countMoves(ix, where) >= budget) {
        unresolved.push({ reason: 'no-room', message: `host ${ix.hostIds[h]} is still above ${args.threshold} of capacity: the migration bound ${args.maxMigrations} is reached`, vms: [], hosts: [ix.hostIds[h]!] });
        break;
      }
      const choice = cheapestRelief(cluster, ix, loads, where, h, excess(h), limitMem, limitCpu);
      if (!choice) {
        unresolved.push({
          reason: 'no-room',
          message: `host ${ix.hostIds[h]} is still above ${args.threshold} of capacity: no other host stays under the threshold with any of its movable VMs; add capacity or raise the threshold`,
          vms: [],
          hosts: [ix.hostIds[h]!],
        });
        break;
      }
      moveVm(ix, loads, where, choice.v, choice.to);
    }
  }
  const notes: string[] = [];
  for (let h = 0; h < ix.hostCount; h++) {
    if (!ix.contended[h] || countMoves(ix, where) >= budget) continue;
    // A host that already sheds a VM for memory or CPU above is relieved this run.
    let shedding = false;
    for (let v = 0; v < ix.vmCount; v++) if (ix.home[v] === h && where[v] !== h) shedding = true;
    if (shedding) continue;
    const pressure = cluster.hosts[h]!.cpuPressure ?? 0;
    const candidates: number[] = [];
    for (let v = 0; v < ix.vmCount; v++) if (where[v] === h && ix.movable[v] && ix.vmCpuDelay[v]! > 0) candidates.push(v);
    candidates.sort((a, b) => ix.vmCpu[b]! * ix.vmCpuDelay[b]! - ix.vmCpu[a]! * ix.vmCpuDelay[a]! || a - b);
    const found = candidates.map((v) => ({ v, to: bestFit(ix, loads, v, h, where, limitMem, limitCpu) })).find(({ to }) => to >= 0);
    if (!found) {
      unresolved.push({
        reason: 'no-room',
        message: `host ${ix.hostIds[h]} has CPU_PRESSURE ${pressure}% above the limit ${constraints.maxCpuPressure}%: none of its VMs reporting CPU_DELAY fits a host under the limits`,
        vms: [],
        hosts: [ix.hostIds[h]!],
      });
      continue;
    }
    moveVm(ix, loads, where, found.v, found.to);
    notes.push(`host ${ix.hostIds[h]} CPU_PRESSURE ${pressure}% above ${constraints.maxCpuPressure}%: VM ${ix.vmIds[found.v]} (CPU_DELAY ${ix.vmCpuDelay[found.v]}%) to host ${ix.hostIds[found.to]}`);
  }
  let hotAfter = 0;
  for (let h = 0; h < ix.hostCount; h++) if (isHot(h)) hotAfter++;
  return {
    placement: placementOf(ix, where),
    alsoExclude: [],
    notes: [`hosts above ${Math.round(args.threshold * 100)}% of capacity ${hotBefore} → ${hotAfter}, ${countMoves(ix, where)} VMs to migrate`, ...notes],
    unresolved,
  };
}

function cheapestRelief(
  cluster: Cluster,
  ix: IndexedCluster,
  loads: Loads,
  where: Int32Array,
  h: number,
  [excessMem, excessCpu]: readonly [number, number],
  limitMem: Float64Array,
  limitCpu: Float64Array,
): { v: number; to: number } | undefined {
  let sufficient: { v: number; to: number; cost: number } | undefined;
  let partial: { v: number; to: number; gainPerCost: number } | undefined;
  for (let v = 0; v < ix.vmCount; v++) {
    if (where[v] !== h || !ix.movable[v]) continue;
    const to = bestFit(ix, loads, v, h, where, limitMem, limitCpu);
    if (to < 0) continue;
    const cost = memoryMoved(cluster.vms[v]!, cluster.hosts[h]!, cluster.hosts[to]!);
    const enough = ix.vmMem[v]! >= excessMem - EPSILON && ix.vmCpu[v]! >= excessCpu - EPSILON;
    if (enough) {
      if (!sufficient || cost < sufficient.cost) sufficient = { v, to, cost };
      continue;
    }
    const gain = (excessMem > 0 ? Math.min(ix.vmMem[v]!, excessMem) / excessMem : 0) + (excessCpu > 0 ? Math.min(ix.vmCpu[v]!, excessCpu) / excessCpu : 0);
    const gainPerCost = gain / Math.max(1, cost);
    if (gain > 0 && (!partial || gainPerCost > partial.gainPerCost)) partial = { v, to, gainPerCost };
  }
  return sufficient ?? partial;
}
