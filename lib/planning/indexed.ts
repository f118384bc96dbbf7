// The planners' working form of a cluster: dense indices and typed arrays,
// because consolidation runs over tens of thousands of VMs and Map lookups in
// the inner loops cost more than the arithmetic. Built once per plan.
import { notFoundError } from '../errors';
import type { Cluster, Constraints, HostId, Placement, VmId } from './model';
import { indexRules, type IndexedRules } from './rules';

export interface IndexedCluster {
  readonly hostCount: number;
  readonly vmCount: number;
  readonly hostIds: Int32Array;
  readonly vmIds: Int32Array;
  readonly hostIndex: ReadonlyMap<HostId, number>;
  readonly vmIndex: ReadonlyMap<VmId, number>;
  /** Capacity after reserve. */
  readonly capMem: Float64Array;
  readonly capCpu: Float64Array;
  /** 1 when the host may receive VMs (enabled, not excluded, not above the CPU pressure limit). */
  readonly receives: Uint8Array;
  /** 1 when the host's CPU_PRESSURE is above constraints.maxCpuPressure. */
  readonly contended: Uint8Array;
  /** CPU_DELAY per VM, percent (0 when unknown). */
  readonly vmCpuDelay: Float64Array;
  /** DISK/IMAGE_ID per VM (empty when unknown). */
  readonly vmImages: ReadonlyArray<readonly number[]>;
  readonly vmMem: Float64Array;
  readonly vmCpu: Float64Array;
  /** 1 when the VM may move (not pinned, not held by an affined rule). */
  readonly movable: Uint8Array;
  /** Host index of each VM in the current placement A. */
  readonly home: Int32Array;
  /** VM group rules and SCHED_REQUIREMENTS; check arrivals with mayArrive. */
  readonly rules: IndexedRules;
}

export function indexCluster(cluster: Cluster, constraints: Constraints): IndexedCluster {
  const hostCount = cluster.hosts.length;
  const vmCount = cluster.vms.length;
  const hostIds = new Int32Array(hostCount);
  const hostIndex = new Map<HostId, number>();
  const capMem = new Float64Array(hostCount);
  const capCpu = new Float64Array(hostCount);
  const receives = new Uint8Array(hostCount);
  const contended = new Uint8Array(hostCount);
  const excluded = new Set(constraints.excludedHosts);
  cluster.hosts.forEach((host, i) => {
    hostIds[i] = host.id;
    hostIndex.set(host.id, i);
    capMem[i] = host.memMiB - constraints.reserve.memMiB;
    capCpu[i] = host.cpu - constraints.reserve.cpu;
    contended[i] = constraints.maxCpuPressure !== undefined && (host.cpuPressure ?? 0) > constraints.maxCpuPressure ? 1 : 0;
    receives[i] = host.enabled && !excluded.has(host.id) && !contended[i] ? 1 : 0;
  });
  const vmIds = new Int32Array(vmCount);
  const vmIndex = new Map<VmId, number>();
  const vmMem = new Float64Array(vmCount);
  const vmCpu = new Float64Array(vmCount);
  const movable = new Uint8Array(vmCount);
  const home = new Int32Array(vmCount);
  const vmCpuDelay = new Float64Array(vmCount);
  const vmImages: number[][] = [];
  const pinned = new Set(constraints.pinnedVms);
  cluster.vms.forEach((vm, i) => {
    vmIds[i] = vm.id;
    vmIndex.set(vm.id, i);
    vmMem[i] = vm.memMiB;
    vmCpu[i] = vm.cpu;
    movable[i] = pinned.has(vm.id) ? 0 : 1;
    vmCpuDelay[i] = vm.cpuDelay ?? 0;
    vmImages.push(vm.imageIds ?? []);
    const hostId = cluster.placement.get(vm.id);
    const h = hostId === undefined ? undefined : hostIndex.get(hostId);
    if (h === undefined) throw notFoundError(`VM ${vm.id} runs on host ${hostId}, which is not in the cluster; take a fresh snapshot`);
    home[i] = h;
  });
  const rules = indexRules(cluster.rules, hostIndex, vmIndex, home);
  for (let v = 0; v < vmCount; v++) if (rules.held[v]) movable[v] = 0;
  return { hostCount, vmCount, hostIds, vmIds, hostIndex, vmIndex, capMem, capCpu, receives, contended, vmCpuDelay, vmImages, vmMem, vmCpu, movable, home, rules };
}

export interface Loads {
  mem: Float64Array;
  cpu: Float64Array;
}

export function loadsOf(ix: IndexedCluster, where: Int32Array): Loads {
  const mem = new Float64Array(ix.hostCount);
  const cpu = new Float64Array(ix.hostCount);
  for (let v = 0; v < ix.vmCount; v++) {
    const h = where[v]!;
    mem[h]! += ix.vmMem[v]!;
    cpu[h]! += ix.vmCpu[v]!;
  }
  return { mem, cpu };
}

/** Same tolerance as the checker: inputs are whole numbers, sums of fractions may drift. */
export const EPSILON = 1e-6;

export function fitsOn(ix: IndexedCluster, loads: Loads, h: number, v: number): boolean {
  return loads.mem[h]! + ix.vmMem[v]! <= ix.capMem[h]! + EPSILON && loads.cpu[h]! + ix.vmCpu[v]! <= ix.capCpu[h]! + EPSILON;
}

export function placementOf(ix: IndexedCluster, where: Int32Array): Placement {
  const placement = new Map<VmId, HostId>();
  for (let v = 0; v < ix.vmCount; v++) placement.set(ix.vmIds[v]!, ix.hostIds[where[v]!]!);
  return placement;
}

/** Host index of each VM in `target`; VMs the target leaves out stay home. */
export function whereOf(ix: IndexedCluster, target: Placement): Int32Array {
  const where = Int32Array.from(ix.home);
  for (const [vmId, hostId] of target) {
    const v = ix.vmIndex.get(vmId);
    const h = ix.hostIndex.get(hostId);
    if (v !== undefined && h !== undefined) where[v] = h;
  }
  return where;
}

export function hostsUsed(ix: IndexedCluster, where: Int32Array): number {
  const used = new Uint8Array(ix.hostCount);
  let count = 0;
  for (let v = 0; v < ix.vmCount; v++) {
    const h = where[v]!;
    if (!used[h]) {
      used[h] = 1;
      count++;
    }
  }
  return count;
}

/**
 * Fewest hosts that could hold every VM if memory and CPU were liquid: per
 * resource, take hosts from the largest down until their capacity covers the
 * total demand; the answer is the larger of the two counts. For identical
 * hosts this is ⌈Σ demand / capacity⌉.
 */
export function hostLowerBound(ix: IndexedCluster): number {
  let needMem = 0;
  let needCpu = 0;
  for (let v = 0; v < ix.vmCount; v++) {
    needMem += ix.vmMem[v]!;
    needCpu += ix.vmCpu[v]!;
  }
  const countFor = (need: number, caps: Float64Array) => {
    const sorted = Float64Array.from(caps).sort().reverse();
    let count = 0;
    for (const cap of sorted) {
      if (need <= EPSILON) break;
      need -= cap;
      count++;
    }
    return count;
  };
  return Math.max(countFor(needMem, ix.capMem), countFor(needCpu, ix.capCpu));
}
