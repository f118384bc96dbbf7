// The planning model: plain data only, so a snapshot file, oned and the tests
// all build the same objects and a plan can be printed, stored or checked
// without knowing how it was made.
//
// Units: memory in MiB; CPU in OpenNebula's host-share unit, hundredths of a
// physical core (100 = one core), so sums of whole numbers stay exact.

export type HostId = number;
export type VmId = number;

export interface Resources {
  memMiB: number;
  cpu: number;
}

export interface Host {
  id: HostId;
  name: string;
  /** Physical capacity; the reserve in Constraints is taken off it. */
  memMiB: number;
  cpu: number;
  /** Disabled hosts (OpenNebula's DISABLED/OFFLINE) keep their VMs but receive none. */
  enabled: boolean;
  /** CPU_PRESSURE from cloudvamp's probe: percent of the last 60 s some task waited for a CPU (PSI avg60), when known. */
  cpuPressure?: number;
}

export interface Vm {
  id: VmId;
  name: string;
  /** Demand: memory the guest actually uses after ballooning plus memory reserved for it. */
  memMiB: number;
  cpu: number;
  /** Pages dirtied per second while running, when known; scales the cost of a live migration. */
  dirtyMiBps?: number;
  /** CPU_DELAY from cloudvamp's probe: percent of its vCPUs' time spent waiting to run, when known. */
  cpuDelay?: number;
  /** DISK/IMAGE_ID of its disks: VMs started from one image share pages the host's KSM can merge. */
  imageIds?: number[];
}

/** Where each VM runs. A VM missing from a target placement stays where it is. */
export type Placement = ReadonlyMap<VmId, HostId>;

export interface Cluster {
  hosts: readonly Host[];
  vms: readonly Vm[];
  /** The current placement A. */
  placement: Placement;
  /** OpenNebula VM group rules and simple SCHED_REQUIREMENTS; a plan keeps every one that holds in A true at every step. */
  rules?: readonly PlacementRule[];
}

/**
 * A placement rule, as OpenNebula's VM groups state them (roles and their
 * AFFINED / ANTI_AFFINED / HOST_AFFINED / HOST_ANTI_AFFINED rules) and as a
 * simple SCHED_REQUIREMENTS names hosts. `name` says where it came from, for
 * the operator.
 * - affined: the VMs run on one host. Live migration moves one VM at a time,
 *   so VMs that share a host under this rule do not move at all.
 * - anti-affined: no two of the VMs on one host, counting a migrating VM on
 *   both its hosts.
 * - host-affined: the VMs run only on these hosts; host-anti-affined: never on them.
 */
export type PlacementRule =
  | { kind: 'affined'; name: string; vms: VmId[] }
  | { kind: 'anti-affined'; name: string; vms: VmId[] }
  | { kind: 'host-affined'; name: string; vms: VmId[]; hosts: HostId[] }
  | { kind: 'host-anti-affined'; name: string; vms: VmId[]; hosts: HostId[] };

export interface Constraints {
  /** Held back on every host for the hypervisor and page cache; capacity = host − reserve. */
  reserve: Resources;
  /** Hosts that must receive no VM (their own VMs may stay, unless a strategy empties them). */
  excludedHosts: readonly HostId[];
  /** VMs that must not move. */
  pinnedVms: readonly VmId[];
  /** Migrations in flight touching one host, as source or destination. */
  maxInFlightPerHost: number;
  /** Migrations in flight in the whole cluster. */
  maxInFlightPerCluster: number;
  /**
   * Contention limit, percent CPU_PRESSURE: a host above it receives no VM
   * (from any strategy or staging move), and hotspot moves one VM off it.
   * Unset: pressure is not looked at.
   */
  maxCpuPressure?: number;
}

export const defaultConstraints: Constraints = {
  reserve: { memMiB: 0, cpu: 0 },
  excludedHosts: [],
  pinnedVms: [],
  // Two concurrent live migrations already saturate a 10 GbE link on most hosts.
  maxInFlightPerHost: 2,
  maxInFlightPerCluster: 16,
};

export interface Move {
  vm: VmId;
  from: HostId;
  to: HostId;
  /** Expected cost, in the unit of the cost function (default: MiB moved). */
  cost: number;
  /** True for a detour through a host outside the target, made to break a cycle of waiting moves. */
  staging?: boolean;
}

/** Moves that run at the same time. */
export type Wave = readonly Move[];

export type InfeasibleReason =
  | 'deadlock' // moves wait on each other and no host has room for a staging move
  | 'target-over-capacity' // the target itself puts more on a host than it holds
  | 'pinned' // the target moves a pinned VM
  | 'rule' // the target breaks a VM group rule or SCHED_REQUIREMENTS that holds now
  | 'excluded-host' // the target puts a VM on an excluded or disabled host
  | 'unknown-reference' // a VM or host id that is not in the cluster
  | 'no-room' // a strategy found no destination with room for a VM
  | 'search-exhausted'; // the exact search hit its state budget before an answer

export interface Infeasible {
  reason: InfeasibleReason;
  /** Says what blocks and what would unblock it. */
  message: string;
  vms: VmId[];
  hosts: HostId[];
  /** A detour that would break the cycle, offered when staging was not allowed. */
  staging?: Move;
}

/** What a strategy answers to question (1): the placement B to head for. */
export interface Target {
  placement: Placement;
  /** Hosts the strategy needs kept free of arrivals (evacuate's host), on top of the constraints. */
  alsoExclude: HostId[];
  /** One line each, for the operator: what the target achieves. */
  notes: string[];
  /** What the strategy could not achieve, and why. */
  unresolved: Infeasible[];
}

/** Answer to both questions: B and the waves from A to B (or why there are none). */
export interface Plan {
  strategy: string;
  target: Placement;
  waves: Wave[];
  totalCost: number;
  notes: string[];
  unresolved: Infeasible[];
  /** Set when no sequence of migrations reaches the target; waves are then empty. */
  infeasible?: Infeasible;
}

export function effectiveConstraints(constraints: Constraints, alsoExclude: readonly HostId[]): Constraints {
  if (alsoExclude.length === 0) return constraints;
  return { ...constraints, excludedHosts: [...new Set([...constraints.excludedHosts, ...alsoExclude])] };
}

export function movesOf(plan: { waves: readonly Wave[] }): Move[] {
  return plan.waves.flat();
}
