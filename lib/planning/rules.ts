// Placement rules (OpenNebula VM groups, simple SCHED_REQUIREMENTS) in the
// planners' indexed form, and the one check every planner, the sequencer's
// staging moves and the elasticity manager's relief migrations call: may VM v
// arrive on host h now? The checker (checker.ts) restates the rules on its
// own, without this code.
//
// Which rules bind: a rule binds a plan when it holds in the current
// placement; a plan never breaks it, at any step. A rule that is already
// broken is not repaired here, and nothing makes it worse: a VM never arrives
// where a rule forbids it.
import type { Cluster, HostId, Placement, PlacementRule, VmId } from './model';

export interface IndexedRules {
  /** False when the cluster has no rule at all: the checks below are then skipped. */
  readonly any: boolean;
  /** Per VM: 1 when some rule limits where it may go. */
  readonly constrained: Uint8Array;
  /** Per constrained VM: 1 for each host it may run on (host-affined ∩ not host-anti-affined). */
  readonly hostMask: ReadonlyMap<number, Uint8Array>;
  /** Per VM: the other VMs that may not share a host with it. */
  readonly apart: ReadonlyMap<number, Int32Array>;
  /** VMs that must not move: members of an affined rule that holds (they share one host). */
  readonly held: Uint8Array;
}

export function indexRules(
  rules: readonly PlacementRule[] | undefined,
  hostIndex: ReadonlyMap<HostId, number>,
  vmIndex: ReadonlyMap<VmId, number>,
  home: Int32Array,
): IndexedRules {
  const hostCount = hostIndex.size;
  const vmCount = vmIndex.size;
  const constrained = new Uint8Array(vmCount);
  const held = new Uint8Array(vmCount);
  const hostMask = new Map<number, Uint8Array>();
  const apartSets = new Map<number, Set<number>>();
  for (const rule of rules ?? []) {
    // VMs the cluster does not hold (powered off, left out) cannot move; hosts it does not know receive nothing.
    const vms = rule.vms.map((id) => vmIndex.get(id)).filter((v): v is number => v !== undefined);
    if (rule.kind === 'affined') {
      if (vms.length > 1 && vms.every((v) => home[v] === home[vms[0]!])) for (const v of vms) held[v] = 1;
    } else if (rule.kind === 'anti-affined') {
      for (const v of vms) {
        const set = apartSets.get(v) ?? new Set<number>();
        for (const u of vms) if (u !== v) set.add(u);
        if (set.size > 0) {
          apartSets.set(v, set);
          constrained[v] = 1;
        }
      }
    } else {
      const listed = new Uint8Array(hostCount);
      for (const id of rule.hosts) {
        const h = hostIndex.get(id);
        if (h !== undefined) listed[h] = 1;
      }
      for (const v of vms) {
        const mask = hostMask.get(v) ?? new Uint8Array(hostCount).fill(1);
        for (let h = 0; h < hostCount; h++) if ((rule.kind === 'host-affined') !== (listed[h] === 1)) mask[h] = 0;
        hostMask.set(v, mask);
        constrained[v] = 1;
      }
    }
  }
  const apart = new Map<number, Int32Array>();
  for (const [v, set] of apartSets) apart.set(v, Int32Array.from(set));
  return { any: (rules?.length ?? 0) > 0, constrained, hostMask, apart, held };
}

/**
 * May VM v arrive on host h, with the other VMs where `where` says? A VM
 * migrating counts on both hosts, so pass in `arriving` (per VM, the host it
 * is moving to in the same wave, -1 otherwise) when moves run together.
 */
export function mayArrive(rules: IndexedRules, v: number, h: number, where: Int32Array, arriving?: Int32Array): boolean {
  if (!rules.any || !rules.constrained[v]) return true;
  const mask = rules.hostMask.get(v);
  if (mask && !mask[h]) return false;
  const apart = rules.apart.get(v);
  if (apart) for (const u of apart) if (where[u] === h || arriving?.[u] === h) return false;
  return true;
}

/**
 * The check for callers outside the planners (the elasticity manager's relief
 * migration): the rule that forbids VM `vmId` arriving on host `hostId` with
 * the cluster as `placement` has it (default: its current placement), or
 * undefined when none does. Rules are judged against the cluster's current
 * placement, as for a plan.
 */
export function ruleAgainstMove(cluster: Cluster, vmId: VmId, hostId: HostId, placement: Placement = cluster.placement): PlacementRule | undefined {
  for (const rule of cluster.rules ?? []) {
    if (!rule.vms.includes(vmId)) continue;
    if (rule.kind === 'affined') {
      const hosts = new Set(rule.vms.map((id) => cluster.placement.get(id)).filter((h) => h !== undefined));
      if (rule.vms.length > 1 && hosts.size === 1 && placement.get(vmId) !== hostId) return rule;
    } else if (rule.kind === 'anti-affined') {
      if (rule.vms.some((id) => id !== vmId && placement.get(id) === hostId)) return rule;
    } else if (rule.hosts.includes(hostId) !== (rule.kind === 'host-affined')) {
      return rule;
    }
  }
  return undefined;
}

/** One line for the operator: which rule, from where. */
export function describeRule(rule: PlacementRule): string {
  const hosts = 'hosts' in rule ? ` hosts ${rule.hosts.join(', ')}` : '';
  return `${rule.name}: ${rule.kind} VMs ${rule.vms.join(', ')}${hosts}`;
}
