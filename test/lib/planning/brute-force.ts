// Reference for the sequencer on small instances: Dijkstra over whole
// placements, one migration per step, any movable VM to any host that may
// receive and has room (the source keeps the VM until the move ends, so only
// the destination is checked). Written without any planning code so it can
// disagree with it. Exponential: ≤ 5 hosts, ≤ 8 VMs.
import type { Cluster, Constraints, Placement } from '../../../lib/planning/model';

export interface BruteForceAnswer {
  reachable: boolean;
  cost: number;
}

export function bruteForce(cluster: Cluster, target: Placement, constraints: Constraints, cost = (memMiB: number) => memMiB): BruteForceAnswer {
  const vms = cluster.vms;
  const hosts = cluster.hosts;
  const pinned = new Set(constraints.pinnedVms);
  const receiving = hosts.filter((h) => h.enabled && !constraints.excludedHosts.includes(h.id)).map((h) => h.id);
  const capacity = new Map(hosts.map((h) => [h.id, [h.memMiB - constraints.reserve.memMiB, h.cpu - constraints.reserve.cpu] as const]));
  const start = vms.map((v) => cluster.placement.get(v.id)!);
  const goal = vms.map((v) => target.get(v.id) ?? cluster.placement.get(v.id)!);
  const key = (p: number[]) => p.join(',');
  const goalKey = key(goal);
  const dist = new Map<string, number>([[key(start), 0]]);
  // Binary heap of [distance, placement].
  const heap: Array<[number, number[]]> = [[0, start]];
  const push = (item: [number, number[]]) => {
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0 && heap[(i - 1) >> 1]![0] > heap[i]![0]) {
      [heap[i], heap[(i - 1) >> 1]] = [heap[(i - 1) >> 1]!, heap[i]!];
      i = (i - 1) >> 1;
    }
  };
  const pop = () => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]![0] < heap[m]![0]) m = l;
        if (r < heap.length && heap[r]![0] < heap[m]![0]) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  while (heap.length > 0) {
    const [d, p] = pop();
    const k = key(p);
    if (d > dist.get(k)!) continue;
    if (k === goalKey) return { reachable: true, cost: d };
    const mem = new Map<number, number>();
    const cpu = new Map<number, number>();
    vms.forEach((v, i) => {
      mem.set(p[i]!, (mem.get(p[i]!) ?? 0) + v.memMiB);
      cpu.set(p[i]!, (cpu.get(p[i]!) ?? 0) + v.cpu);
    });
    vms.forEach((v, i) => {
      if (pinned.has(v.id)) return;
      for (const h of receiving) {
        if (h === p[i]) continue;
        const [capMem, capCpu] = capacity.get(h)!;
        if ((mem.get(h) ?? 0) + v.memMiB > capMem || (cpu.get(h) ?? 0) + v.cpu > capCpu) continue;
        const next = [...p];
        next[i] = h;
        const nd = d + cost(v.memMiB);
        const nk = key(next);
        if (nd < (dist.get(nk) ?? Infinity)) {
          dist.set(nk, nd);
          push([nd, next]);
        }
      }
    });
  }
  return { reachable: false, cost: Infinity };
}
