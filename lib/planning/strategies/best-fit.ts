// Best-fitting destination: the host where the VM leaves the least room
// unused (normalised per resource, so memory and CPU weigh alike), among the
// hosts that may receive and stay within their limit with it. Leaving big
// holes elsewhere is what lets later, larger VMs still find a place. Hosts
// where a VM group rule or SCHED_REQUIREMENTS forbids the VM are skipped.
import { EPSILON, type IndexedCluster, type Loads } from '../indexed';
import { mayArrive } from '../rules';

export function bestFit(
  ix: IndexedCluster,
  loads: Loads,
  v: number,
  skip: number,
  where: Int32Array,
  limitMem: Float64Array = ix.capMem,
  limitCpu: Float64Array = ix.capCpu,
  /** further hosts to leave out for this VM (the elasticity manager's cooldowns and budgets) */
  allowed?: (d: number) => boolean,
): number {
  let best = -1;
  let bestSlack = Infinity;
  for (let d = 0; d < ix.hostCount; d++) {
    if (d === skip || !ix.receives[d] || !mayArrive(ix.rules, v, d, where) || (allowed && !allowed(d))) continue;
    const freeMem = limitMem[d]! - loads.mem[d]! - ix.vmMem[v]!;
    const freeCpu = limitCpu[d]! - loads.cpu[d]! - ix.vmCpu[v]!;
    if (freeMem < -EPSILON || freeCpu < -EPSILON) continue;
    const slack = freeMem / Math.max(1, ix.capMem[d]!) + freeCpu / Math.max(1, ix.capCpu[d]!);
    if (slack < bestSlack) {
      bestSlack = slack;
      best = d;
    }
  }
  return best;
}

export function moveVm(ix: IndexedCluster, loads: Loads, where: Int32Array, v: number, to: number): void {
  const from = where[v]!;
  loads.mem[from]! -= ix.vmMem[v]!;
  loads.cpu[from]! -= ix.vmCpu[v]!;
  loads.mem[to]! += ix.vmMem[v]!;
  loads.cpu[to]! += ix.vmCpu[v]!;
  where[v] = to;
}

export function countMoves(ix: IndexedCluster, where: Int32Array): number {
  let n = 0;
  for (let v = 0; v < ix.vmCount; v++) if (where[v] !== ix.home[v]) n++;
  return n;
}
