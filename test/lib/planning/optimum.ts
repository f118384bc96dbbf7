// Exact references for the strategies on small instances, written without any
// planning code so they can disagree with it. Exponential: ≤ 8 hosts, ≤ 16 VMs
// for the host count, fewer for the k-move balance search.
//
// The model is the strategies' own: a pinned VM stays home; a movable VM stays
// home or goes to a host that may receive (enabled, not excluded); capacity is
// the host's minus the reserve, on memory and CPU.
import type { Cluster, Constraints, Placement } from '../../../lib/planning/model';

interface Small {
  vmMem: number[];
  vmCpu: number[];
  home: number[];
  capMem: number[];
  capCpu: number[];
  /** Host indices each VM may be on. */
  allowed: number[][];
  vmIds: number[];
  hostIds: number[];
}

function small(cluster: Cluster, constraints: Constraints): Small {
  const hostIds = cluster.hosts.map((h) => h.id);
  const receives = cluster.hosts.map((h) => h.enabled && !constraints.excludedHosts.includes(h.id));
  const home = cluster.vms.map((v) => hostIds.indexOf(cluster.placement.get(v.id)!));
  return {
    vmMem: cluster.vms.map((v) => v.memMiB),
    vmCpu: cluster.vms.map((v) => v.cpu),
    home,
    capMem: cluster.hosts.map((h) => h.memMiB - constraints.reserve.memMiB),
    capCpu: cluster.hosts.map((h) => h.cpu - constraints.reserve.cpu),
    allowed: cluster.vms.map((v, i) =>
      constraints.pinnedVms.includes(v.id) ? [home[i]!] : [...new Set([home[i]!, ...hostIds.map((_, h) => h).filter((h) => receives[h])])],
    ),
    vmIds: cluster.vms.map((v) => v.id),
    hostIds,
  };
}

/**
 * Fewest hosts any valid placement uses (branch and bound over VM → host,
 * largest VM first), or undefined when the node budget runs out first.
 */
export function fewestHosts(cluster: Cluster, constraints: Constraints, budget = 2_000_000): number | undefined {
  const s = small(cluster, constraints);
  const n = s.vmMem.length;
  const order = s.vmMem.map((_, i) => i).sort((a, b) => s.vmMem[b]! - s.vmMem[a]! || s.vmCpu[b]! - s.vmCpu[a]!);
  const mem = s.capMem.map(() => 0);
  const cpu = s.capCpu.map(() => 0);
  const count = s.capMem.map(() => 0);
  const someoneOnlyOn = s.capMem.map((_, h) => s.allowed.some((a) => a.length === 1 && a[0] === h));
  let best = new Set(s.home).size;
  let used = 0;
  let nodes = 0;
  const visit = (k: number): boolean => {
    if (++nodes > budget) return false;
    if (used >= best) return true;
    if (k === n) {
      best = used;
      return true;
    }
    const v = order[k]!;
    // Two empty hosts of the same size are interchangeable unless one is this
    // VM's home or the only host some VM may be on.
    const triedEmpty = new Set<string>();
    for (const h of s.allowed[v]!) {
      if (mem[h]! + s.vmMem[v]! > s.capMem[h]! || cpu[h]! + s.vmCpu[v]! > s.capCpu[h]!) continue;
      if (count[h] === 0 && h !== s.home[v] && !someoneOnlyOn[h]) {
        const kind = `${s.capMem[h]}/${s.capCpu[h]}`;
        if (triedEmpty.has(kind)) continue;
        triedEmpty.add(kind);
      }
      mem[h]! += s.vmMem[v]!;
      cpu[h]! += s.vmCpu[v]!;
      if (count[h]!++ === 0) used++;
      const finished = visit(k + 1);
      mem[h]! -= s.vmMem[v]!;
      cpu[h]! -= s.vmCpu[v]!;
      if (--count[h]! === 0) used--;
      if (!finished) return false;
    }
    return true;
  };
  return visit(0) ? best : undefined;
}

/** Fullest minus emptiest host, on each host's dominant resource (memory or CPU share), over the hosts that may receive. */
export function spreadOf(cluster: Cluster, constraints: Constraints, placement: Placement): number {
  const s = small(cluster, constraints);
  const mem = s.capMem.map(() => 0);
  const cpu = s.capCpu.map(() => 0);
  s.vmIds.forEach((id, v) => {
    const h = s.hostIds.indexOf(placement.get(id) ?? cluster.placement.get(id)!);
    mem[h]! += s.vmMem[v]!;
    cpu[h]! += s.vmCpu[v]!;
  });
  return spreadFromLoads(s, mem, cpu, receivingHosts(cluster, constraints));
}

function receivingHosts(cluster: Cluster, constraints: Constraints): number[] {
  return cluster.hosts.flatMap((h, i) => (h.enabled && !constraints.excludedHosts.includes(h.id) ? [i] : []));
}

function spreadFromLoads(s: Small, mem: number[], cpu: number[], hosts: number[]): number {
  if (hosts.length === 0) return 0;
  const u = hosts.map((h) => Math.max(mem[h]! / Math.max(1, s.capMem[h]!), cpu[h]! / Math.max(1, s.capCpu[h]!)));
  return Math.max(...u) - Math.min(...u);
}

/**
 * Smallest spread reachable by moving at most k VMs away from home, every host
 * within capacity in the end (the order of the moves is the sequencer's
 * business). Exhaustive over which VMs move and where.
 */
export function kMoveSpread(cluster: Cluster, constraints: Constraints, k: number): number {
  const s = small(cluster, constraints);
  const hosts = receivingHosts(cluster, constraints);
  const mem = s.capMem.map(() => 0);
  const cpu = s.capCpu.map(() => 0);
  s.home.forEach((h, v) => {
    mem[h]! += s.vmMem[v]!;
    cpu[h]! += s.vmCpu[v]!;
  });
  const fits = () => mem.every((m, h) => m <= s.capMem[h]!) && cpu.every((c, h) => c <= s.capCpu[h]!);
  let best = fits() ? spreadFromLoads(s, mem, cpu, hosts) : Infinity;
  const visit = (from: number, left: number) => {
    for (let v = from; v < s.vmMem.length; v++) {
      for (const h of s.allowed[v]!) {
        if (h === s.home[v]) continue;
        const o = s.home[v]!;
        mem[o]! -= s.vmMem[v]!;
        cpu[o]! -= s.vmCpu[v]!;
        mem[h]! += s.vmMem[v]!;
        cpu[h]! += s.vmCpu[v]!;
        if (fits()) best = Math.min(best, spreadFromLoads(s, mem, cpu, hosts));
        if (left > 1) visit(v + 1, left - 1);
        mem[h]! -= s.vmMem[v]!;
        cpu[h]! -= s.vmCpu[v]!;
        mem[o]! += s.vmMem[v]!;
        cpu[o]! += s.vmCpu[v]!;
      }
    }
  };
  if (k > 0) visit(0, k);
  return best;
}
