// Validates any placement and any plan against the constraints, knowing
// nothing of how they were made: it shares no code with the planners (no
// index, no typed arrays), so a planner bug cannot hide behind the same bug
// here. Slow and plain on purpose.
import type { Cluster, Constraints, Host, HostId, Placement, PlacementRule, Vm, VmId, Wave } from './model';

export interface Violation {
  rule:
    | 'unknown-vm'
    | 'unknown-host'
    | 'over-capacity'
    | 'pinned-moved'
    | 'excluded-destination'
    | 'wrong-source'
    | 'moved-twice-in-wave'
    | 'in-flight-per-host'
    | 'in-flight-per-cluster'
    | 'target-not-reached'
    | 'no-op-move'
    | 'rule-broken';
  message: string;
  /** 1-based wave number, for plan violations. */
  wave?: number;
}

interface Load {
  mem: number;
  cpu: number;
}

class View {
  readonly hosts = new Map<HostId, Host>();
  readonly vms = new Map<VmId, Vm>();
  readonly pinned: Set<VmId>;
  readonly excluded: Set<HostId>;
  constructor(
    cluster: Cluster,
    readonly constraints: Constraints,
  ) {
    for (const host of cluster.hosts) this.hosts.set(host.id, host);
    for (const vm of cluster.vms) this.vms.set(vm.id, vm);
    this.pinned = new Set(constraints.pinnedVms);
    this.excluded = new Set(constraints.excludedHosts);
  }
  capacity(host: Host): Load {
    return { mem: host.memMiB - this.constraints.reserve.memMiB, cpu: host.cpu - this.constraints.reserve.cpu };
  }
  receives(host: Host): boolean {
    const limit = this.constraints.maxCpuPressure;
    return host.enabled && !this.excluded.has(host.id) && !(limit !== undefined && (host.cpuPressure ?? 0) > limit);
  }
  loads(placement: ReadonlyMap<VmId, HostId>): Map<HostId, Load> {
    const loads = new Map<HostId, Load>();
    for (const id of this.hosts.keys()) loads.set(id, { mem: 0, cpu: 0 });
    for (const [vmId, hostId] of placement) {
      const vm = this.vms.get(vmId);
      const load = loads.get(hostId);
      if (vm && load) {
        load.mem += vm.memMiB;
        load.cpu += vm.cpu;
      }
    }
    return loads;
  }
}

/** Hosts each VM occupies: one, or two while it migrates. */
type Occupancy = Map<VmId, Set<HostId>>;

function occupancyOf(placement: ReadonlyMap<VmId, HostId>): Occupancy {
  return new Map([...placement].map(([vm, host]) => [vm, new Set([host])]));
}

function ruleHolds(rule: PlacementRule, occupancy: Occupancy): boolean {
  const hostsOf = rule.vms.map((vm) => occupancy.get(vm)).filter((hosts): hosts is Set<HostId> => hosts !== undefined);
  switch (rule.kind) {
    case 'affined':
      // Some host holds all of them (a migrating VM is on both of its hosts).
      return hostsOf.length === 0 || [...hostsOf[0]!].some((h) => hostsOf.every((hosts) => hosts.has(h)));
    case 'anti-affined': {
      const seen = new Set<HostId>();
      for (const hosts of hostsOf) {
        for (const h of hosts) {
          if (seen.has(h)) return false;
        }
        for (const h of hosts) seen.add(h);
      }
      return true;
    }
    case 'host-affined':
      return hostsOf.every((hosts) => [...hosts].every((h) => rule.hosts.includes(h)));
    case 'host-anti-affined':
      return hostsOf.every((hosts) => [...hosts].every((h) => !rule.hosts.includes(h)));
  }
}

/** The rules that held in A and do not in this state. */
function brokenRules(cluster: Cluster, occupancy: Occupancy): PlacementRule[] {
  const before = occupancyOf(cluster.placement);
  return (cluster.rules ?? []).filter((rule) => ruleHolds(rule, before) && !ruleHolds(rule, occupancy));
}

const ruleText = (rule: PlacementRule) => `${rule.name} (${rule.kind}, VMs ${rule.vms.join(', ')}${'hosts' in rule ? `, hosts ${rule.hosts.join(', ')}` : ''})`;

// Capacities and demands are whole MiB and hundredths of a core; the
// tolerance only absorbs floating-point sums of fractional inputs.
const fits = (load: number, capacity: number) => load <= capacity + 1e-6;

/**
 * Checks a target placement B: every VM on a known host, no host over
 * capacity unless it was already over in A and receives nothing, pinned VMs
 * where they were, no VM newly placed on an excluded or disabled host.
 */
export function checkPlacement(cluster: Cluster, target: Placement, constraints: Constraints): Violation[] {
  const view = new View(cluster, constraints);
  const violations: Violation[] = [];
  const full = new Map(cluster.placement);
  for (const [vmId, hostId] of target) {
    if (!view.vms.has(vmId)) violations.push({ rule: 'unknown-vm', message: `target places unknown VM ${vmId}` });
    if (!view.hosts.has(hostId)) violations.push({ rule: 'unknown-host', message: `target puts VM ${vmId} on unknown host ${hostId}` });
    full.set(vmId, hostId);
  }
  const receiving = new Set<HostId>();
  for (const [vmId, hostId] of full) {
    const before = cluster.placement.get(vmId);
    if (before === hostId) continue;
    receiving.add(hostId);
    if (view.pinned.has(vmId)) violations.push({ rule: 'pinned-moved', message: `pinned VM ${vmId} moves from host ${before} to host ${hostId}` });
    const host = view.hosts.get(hostId);
    if (host && !view.receives(host)) {
      violations.push({ rule: 'excluded-destination', message: `VM ${vmId} goes to host ${hostId}, which is excluded or disabled` });
    }
  }
  for (const rule of brokenRules(cluster, occupancyOf(full))) {
    violations.push({ rule: 'rule-broken', message: `the target breaks ${ruleText(rule)}, which holds now` });
  }
  const before = view.loads(cluster.placement);
  for (const [hostId, load] of view.loads(full)) {
    const host = view.hosts.get(hostId)!;
    const capacity = view.capacity(host);
    if (fits(load.mem, capacity.mem) && fits(load.cpu, capacity.cpu)) continue;
    const old = before.get(hostId)!;
    // A host that was already overloaded and only loses VMs is not made worse by the plan.
    if (!receiving.has(hostId) && load.mem <= old.mem && load.cpu <= old.cpu) continue;
    violations.push({
      rule: 'over-capacity',
      message: `host ${hostId} would hold ${load.mem} MiB / ${load.cpu} CPU, capacity after reserve ${capacity.mem} MiB / ${capacity.cpu} CPU`,
    });
  }
  return violations;
}

/**
 * Replays the waves from A. During a wave a destination holds everything it
 * had plus everything arriving (memory is reserved when a move starts and the
 * source frees it only when the move ends), so each destination must fit its
 * wave-start load plus all of the wave's arrivals. When `target` is given the
 * replay must end on it.
 */
export function checkPlan(
  cluster: Cluster,
  plan: { waves: readonly Wave[] },
  constraints: Constraints,
  target?: Placement,
): Violation[] {
  const view = new View(cluster, constraints);
  const violations: Violation[] = [];
  const current = new Map(cluster.placement);
  plan.waves.forEach((wave, index) => {
    const waveNo = index + 1;
    const add = (rule: Violation['rule'], message: string) => violations.push({ rule, message: `wave ${waveNo}: ${message}`, wave: waveNo });
    if (wave.length > constraints.maxInFlightPerCluster) {
      add('in-flight-per-cluster', `${wave.length} migrations at once, limit ${constraints.maxInFlightPerCluster}`);
    }
    const loads = view.loads(current);
    const inFlight = new Map<HostId, number>();
    const seen = new Set<VmId>();
    for (const move of wave) {
      const vm = view.vms.get(move.vm);
      const to = view.hosts.get(move.to);
      if (!vm) add('unknown-vm', `VM ${move.vm} is not in the cluster`);
      if (!to) add('unknown-host', `host ${move.to} is not in the cluster`);
      if (seen.has(move.vm)) add('moved-twice-in-wave', `VM ${move.vm} moves twice`);
      seen.add(move.vm);
      if (current.get(move.vm) !== move.from) add('wrong-source', `VM ${move.vm} is on host ${current.get(move.vm)}, not ${move.from}`);
      if (move.from === move.to) add('no-op-move', `VM ${move.vm} moves from host ${move.from} to itself`);
      if (view.pinned.has(move.vm)) add('pinned-moved', `pinned VM ${move.vm} moves`);
      if (to && !view.receives(to)) add('excluded-destination', `VM ${move.vm} goes to excluded or disabled host ${move.to}`);
      for (const hostId of [move.from, move.to]) inFlight.set(hostId, (inFlight.get(hostId) ?? 0) + 1);
      const load = loads.get(move.to);
      if (vm && load) {
        load.mem += vm.memMiB;
        load.cpu += vm.cpu;
      }
    }
    for (const [hostId, count] of inFlight) {
      if (count > constraints.maxInFlightPerHost) add('in-flight-per-host', `host ${hostId} has ${count} migrations in flight, limit ${constraints.maxInFlightPerHost}`);
    }
    for (const hostId of new Set(wave.map((m) => m.to))) {
      const host = view.hosts.get(hostId);
      const load = loads.get(hostId);
      if (!host || !load) continue;
      const capacity = view.capacity(host);
      if (!fits(load.mem, capacity.mem) || !fits(load.cpu, capacity.cpu)) {
        add('over-capacity', `host ${hostId} holds ${load.mem} MiB / ${load.cpu} CPU during the wave, capacity after reserve ${capacity.mem} MiB / ${capacity.cpu} CPU`);
      }
    }
    // While the wave runs each migrating VM is on both of its hosts.
    const during = occupancyOf(current);
    for (const move of wave) during.get(move.vm)?.add(move.to);
    for (const rule of brokenRules(cluster, during)) add('rule-broken', `${ruleText(rule)} is broken while the wave runs`);
    for (const move of wave) current.set(move.vm, move.to);
  });
  if (target) {
    for (const [vmId, hostId] of target) {
      if (current.get(vmId) !== hostId) {
        violations.push({ rule: 'target-not-reached', message: `VM ${vmId} ends on host ${current.get(vmId)}, target host ${hostId}` });
      }
    }
  }
  return violations;
}
