// The host ledger: what each host can still give to VMs during one cycle's
// planning. Its headroom starts from the host's capacity less HOST_RESERVE and
// what its VMs hold, and host-relief.ts spends it as grows and relief
// migrations are accepted; plan-check.ts measures a finished plan against the
// same headroom. It also carries the cluster in the planner's indexed form, so
// the relief search is the planner's own (lib/planning/strategies/relief.ts).
// Pure: no clock, no file, no network.

import { indexCluster, type IndexedCluster, type Loads } from '../planning/indexed';
import type { Cluster } from '../planning/model';
import type { ElasticityConfig } from './config';
import type { ClusterView, HostView, VmView } from './ports';
import { MiB } from './units';

/** Memory a host can still give to VMs, KiB (may be negative when already overcommitted). */
export function hostHeadroom(host: HostView, committedKiB: number, config: ElasticityConfig): number {
  const byCommitment = host.totalKiB - config.hostReserveKiB - committedKiB;
  return host.freeKiB === undefined ? byCommitment : Math.min(byCommitment, host.freeKiB - config.hostReserveKiB);
}

export function committedByHost(view: ClusterView): Map<number, number> {
  const committed = new Map<number, number>();
  for (const vm of view.vms) if (vm.hostId !== null) committed.set(vm.hostId, (committed.get(vm.hostId) ?? 0) + vm.currentKiB);
  return committed;
}

/** Each host's VMs, in the snapshot's order (VMs on no host are left out). */
export function vmsByHost(view: ClusterView): Map<number, VmView[]> {
  const byHost = new Map<number, VmView[]>();
  for (const vm of view.vms) {
    if (vm.hostId === null) continue;
    const list = byHost.get(vm.hostId) ?? [];
    list.push(vm);
    byHost.set(vm.hostId, list);
  }
  return byHost;
}

/** Everything decideHost needs to know about the cluster; `headroom` is updated as grows and migrations are accepted. */
export interface HostLedger {
  config: ElasticityConfig;
  hosts: Map<number, HostView>;
  vmsByHost: Map<number, VmView[]>;
  headroom: Map<number, number>;
  /** VMs that must not be moved this cycle (growing, already moving) */
  pinned: Set<number>;
  /** hosts that may send a relief migration this cycle */
  mayMigrateFrom: (hostId: number) => boolean;
  /** live migrations each host may still take part in (absent: no limit); spent as moves are planned */
  budget?: Map<number, number>;
  /** false where the VM must not go (it left that host moments ago) */
  mayMoveTo?: (vmId: number, hostId: number) => boolean;
  /** the planner's form of the cluster, for the relief search (lib/planning/strategies/relief.ts) */
  index: ReliefIndex;
}

/**
 * The cluster as the planner's relief strategy sees it: each host's memory
 * capacity is its load plus its headroom (so capacity − load is what
 * hostHeadroom allows), CPU is HOST_SHARE/TOTAL_CPU against Σ TEMPLATE/CPU;
 * VMs that are not running or are pinned by CLOUDVAMP_PINNED=YES never move.
 */
export interface ReliefIndex {
  ix: IndexedCluster;
  loads: Loads;
  where: Int32Array;
}

/** CPU capacity of a host whose TOTAL_CPU is unknown: large enough never to refuse, small enough to keep slack finite. */
const UNKNOWN_CPU = 1e9;

function reliefIndex(view: ClusterView, headroom: ReadonlyMap<number, number>, committed: ReadonlyMap<number, number>): ReliefIndex {
  const hostIds = new Set(view.hosts.map((h) => h.id));
  const vms = view.vms.filter((v) => v.hostId !== null && hostIds.has(v.hostId));
  const cluster: Cluster = {
    hosts: view.hosts.map((h) => ({
      id: h.id,
      name: h.name,
      memMiB: ((committed.get(h.id) ?? 0) + (headroom.get(h.id) ?? 0)) / MiB,
      cpu: h.cpu ?? UNKNOWN_CPU,
      enabled: h.enabled,
    })),
    vms: vms.map((v) => ({ id: v.id, name: v.name, memMiB: v.currentKiB / MiB, cpu: v.cpu ?? 0 })),
    placement: new Map(vms.map((v) => [v.id, v.hostId!])),
  };
  const pinnedVms = vms.filter((v) => !v.running || v.pinned === true).map((v) => v.id);
  const ix = indexCluster(cluster, { reserve: { memMiB: 0, cpu: 0 }, excludedHosts: [], pinnedVms, maxInFlightPerHost: 0, maxInFlightPerCluster: 0 });
  const where = Int32Array.from(ix.home);
  const mem = new Float64Array(ix.hostCount);
  const cpu = new Float64Array(ix.hostCount);
  for (let v = 0; v < ix.vmCount; v++) {
    mem[where[v]!]! += ix.vmMem[v]!;
    cpu[where[v]!]! += ix.vmCpu[v]!;
  }
  return { ix, loads: { mem, cpu }, where };
}

export function newLedger(
  view: ClusterView,
  config: ElasticityConfig,
  mayMigrateFrom: (hostId: number) => boolean,
  limits: Pick<HostLedger, 'budget' | 'mayMoveTo'> = {},
): HostLedger {
  const committed = committedByHost(view);
  const hosts = new Map(view.hosts.map((h) => [h.id, h]));
  const headroom = new Map(view.hosts.map((h) => [h.id, hostHeadroom(h, committed.get(h.id) ?? 0, config)]));
  const index = reliefIndex(view, headroom, committed);
  return { config, hosts, vmsByHost: vmsByHost(view), headroom, pinned: new Set(), mayMigrateFrom, ...limits, index };
}
