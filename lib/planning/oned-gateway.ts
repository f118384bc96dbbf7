// The planner's view of a live OpenNebula cloud: oned's pools mapped into the
// planning model, and live migrations through `one.vm.migrate`. The mapping is
// pure (`clusterFromOne`) and reuses the elasticity manager's readings of the
// same oned data (lib/oned/elasticity-ports.ts); the class only sequences
// calls and waits.
//
// Mapping (units of the model: MiB, hundredths of a core):
// * host capacity: physical memory — CLOUDVAMP_PHYSICALMEMORY from the host
//   TEMPLATE when cloudvamp's probe reports it (its TOTALMEMORY is inflated by
//   the memory ballooning borrowed), else HOST_SHARE/TOTAL_MEM; CPU from
//   HOST_SHARE/TOTAL_CPU. A host receives VMs only when MONITORED
//   (lib/oned/cloud.ts receivesVms says why); the others keep their VMs but
//   receive none.
// * VMs: the RUNNING ones (STATE 3 / LCM_STATE 3), on the HID of their last
//   HISTORY. Demand is what the VM holds on its host after ballooning:
//   monitoring USEDMEMORY (max of RSS and balloon size, from cloudvamp's
//   probe), else REALMEMORY (the balloon size), else TEMPLATE/MEMORY. CPU is
//   TEMPLATE/CPU × 100.
// * ACTIVE VMs in any other LCM state (migrating, hotplugging, UNKNOWN on a
//   failed host, booting…) still hold memory on their host, so they are in the
//   cluster too, but pinned: the planner counts them and never moves them.
// * Pinned VMs: USER_TEMPLATE CLOUDVAMP_PINNED=YES (`onevm update ID` with
//   merge, or Sunstone's attributes tab) keeps a VM where it is.
// * Everything else (POWEROFF, UNDEPLOYED, PENDING…) holds no host memory and
//   is left out.
// * Placement rules (lib/planning/rules.ts) from `one.vmgrouppool.info`: a
//   role's POLICY AFFINED / ANTI_AFFINED binds its own VMs; TEMPLATE/AFFINED
//   binds the VMs of the named roles together; TEMPLATE/ANTI_AFFINED keeps
//   each VM of one named role off the hosts of the others' VMs (VMs of the
//   same role may still share, as oned's check allows); HOST_AFFINED /
//   HOST_ANTI_AFFINED limit the role's VMs' hosts. A VM's SCHED_REQUIREMENTS
//   becomes a host-affined rule when it is a simple alternative of ID, NAME
//   or CLUSTER_ID equalities (`ID = 3 | NAME = "kvm-02"`); anything else
//   (&, !=, >, other attributes) the planner cannot evaluate, so that VM is
//   pinned, with a note.
import { hostViewFromOne, vmViewFromOne } from '../oned/elasticity-ports';
import { CloudvampError } from '../errors';
import { isPinned, PIN_ATTRIBUTE, receivesVms } from '../oned/cloud';
import type { OneClient } from '../oned/client';
import { waitForLiveMigration } from '../oned/live-migration';
import { LcmState, mergeVmMonitoring, VmState, type OneHost, type OneVm, type OneVmGroup } from '../oned/models';
import type { ClusterGateway } from './apply';
import type { Cluster, Host, HostId, PlacementRule, Vm, VmId } from './model';

export { isPinned, PIN_ATTRIBUTE };

export interface OnedCluster {
  cluster: Cluster;
  /** VMs pinned by CLOUDVAMP_PINNED=YES, and ACTIVE VMs that are not RUNNING (they cannot be live-migrated now). */
  pinnedVms: VmId[];
  /** One line each, for the operator: what was left out or held, and why. */
  notes: string[];
}

const kibToMiBUp = (kib: number) => Math.ceil(kib / 1024);
const positive = (text: string | undefined): number | undefined => {
  if (text === undefined || text.trim() === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) && n > 0 ? n : undefined;
};

/** A probe figure from a template or monitoring record: a number ≥ 0, else undefined. */
const figure = (text: string | undefined): number | undefined => {
  if (text === undefined || text.trim() === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
};

export function hostFromOne(host: OneHost): Host {
  // The probe's host document lands in the host TEMPLATE, as TOTALMEMORY does.
  const cpuPressure = figure(host.template.CPU_PRESSURE);
  return {
    ...(cpuPressure === undefined ? {} : { cpuPressure }),
    id: host.id,
    name: host.name,
    // Round down: a capacity must never be larger than the host.
    memMiB: Math.floor(hostViewFromOne(host).totalKiB / 1024),
    cpu: host.hostShare.totalCpu,
    enabled: receivesVms(host),
  };
}


/** Demand in MiB, rounded up: USEDMEMORY, else REALMEMORY, else TEMPLATE/MEMORY. */
export function vmDemandMiB(vm: OneVm): number {
  const used = positive(vm.monitoring.USEDMEMORY);
  // vmViewFromOne's current size is REALMEMORY when the probe reported it, else TEMPLATE/MEMORY.
  const currentKiB = used ?? vmViewFromOne(vm, { applyMode: 'memory-action' }).currentKiB;
  return kibToMiBUp(currentKiB);
}

/**
 * The hosts a simple SCHED_REQUIREMENTS allows: `ID = 3`, `NAME = "kvm-02"`,
 * `CLUSTER_ID = 100`, joined by `|` or `||`, quotes and parentheses optional.
 * Undefined when the expression is anything else.
 */
export function hostsForRequirements(expression: string, hosts: readonly OneHost[]): HostId[] | undefined {
  const allowed = new Set<HostId>();
  for (const raw of expression.split(/\|\|?/)) {
    const term = raw.trim().replace(/^\((.*)\)$/, '$1').trim();
    const match = /^(ID|HOST_ID|NAME|HOSTNAME|CLUSTER_ID)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'()|&!<>=]+))$/.exec(term);
    if (!match) return undefined;
    const value = (match[2] ?? match[3] ?? match[4] ?? '').trim();
    for (const host of hosts) {
      const matches =
        match[1] === 'ID' || match[1] === 'HOST_ID' ? String(host.id) === value
        : match[1] === 'CLUSTER_ID' ? String(host.clusterId) === value
        : host.name === value;
      if (matches) allowed.add(host.id);
    }
  }
  return [...allowed].sort((a, b) => a - b);
}

/** VM group rules and SCHED_REQUIREMENTS as placement rules, and the VMs whose requirements cannot be read (to pin). */
export function rulesFromOne(vms: readonly OneVm[], hosts: readonly OneHost[], groups: readonly OneVmGroup[]): { rules: PlacementRule[]; unreadable: VmId[] } {
  const rules: PlacementRule[] = [];
  for (const group of groups) {
    const byName = new Map(group.roles.map((role) => [role.name, role]));
    for (const role of group.roles) {
      const name = `VM group ${group.id} (${group.name}) role ${role.name}`;
      if (role.policy === 'AFFINED' && role.vms.length > 1) rules.push({ kind: 'affined', name, vms: role.vms });
      if (role.policy === 'ANTI_AFFINED' && role.vms.length > 1) rules.push({ kind: 'anti-affined', name, vms: role.vms });
      if (role.hostAffined.length > 0 && role.vms.length > 0) rules.push({ kind: 'host-affined', name, vms: role.vms, hosts: role.hostAffined });
      if (role.hostAntiAffined.length > 0 && role.vms.length > 0) rules.push({ kind: 'host-anti-affined', name, vms: role.vms, hosts: role.hostAntiAffined });
    }
    const rolesOf = (names: string[]) => names.map((n) => byName.get(n)).filter((r) => r !== undefined);
    for (const names of group.affined) {
      const vms = rolesOf(names).flatMap((role) => role.vms);
      if (vms.length > 1) rules.push({ kind: 'affined', name: `VM group ${group.id} (${group.name}) AFFINED ${names.join(',')}`, vms });
    }
    for (const names of group.antiAffined) {
      const roles = rolesOf(names);
      // Pairwise across roles: VMs of one role may share a host among themselves.
      for (let i = 0; i < roles.length; i++)
        for (let j = i + 1; j < roles.length; j++)
          for (const a of roles[i]!.vms)
            for (const b of roles[j]!.vms) rules.push({ kind: 'anti-affined', name: `VM group ${group.id} (${group.name}) ANTI_AFFINED ${names.join(',')}`, vms: [a, b] });
    }
  }
  const unreadable: VmId[] = [];
  for (const vm of vms) {
    if (!vm.schedRequirements) continue;
    const allowed = hostsForRequirements(vm.schedRequirements, hosts);
    if (allowed) rules.push({ kind: 'host-affined', name: `VM ${vm.id} SCHED_REQUIREMENTS`, vms: [vm.id], hosts: allowed });
    else unreadable.push(vm.id);
  }
  return { rules, unreadable };
}

/** The planning model of what oned returned; pure. */
export function clusterFromOne(vms: readonly OneVm[], hosts: readonly OneHost[], groups: readonly OneVmGroup[] = []): OnedCluster {
  const planHosts = hosts.map(hostFromOne);
  const hostIds = new Set(planHosts.map((h) => h.id));
  const planVms: Vm[] = [];
  const placement = new Map<VmId, HostId>();
  const pinned: VmId[] = [];
  const busy: string[] = [];
  const pinnedByUser: VmId[] = [];
  const notes: string[] = [];
  for (const vm of vms) {
    if (vm.state !== VmState.ACTIVE || vm.hostId === undefined) continue;
    if (!hostIds.has(vm.hostId)) {
      notes.push(`VM ${vm.id} (${vm.name}) is on host ${vm.hostId}, which oned's host pool does not list; left out`);
      continue;
    }
    const cpuDelay = figure(vm.monitoring.CPU_DELAY);
    planVms.push({
      id: vm.id,
      name: vm.name,
      memMiB: vmDemandMiB(vm),
      cpu: Math.round(vm.cpu * 100),
      ...(cpuDelay === undefined ? {} : { cpuDelay }),
      ...(vm.imageIds ? { imageIds: vm.imageIds } : {}),
    });
    placement.set(vm.id, vm.hostId);
    if (vm.lcmState !== LcmState.RUNNING) {
      pinned.push(vm.id);
      busy.push(`${vm.id} (LCM_STATE ${vm.lcmState})`);
    } else if (isPinned(vm)) {
      pinned.push(vm.id);
      pinnedByUser.push(vm.id);
    }
  }
  if (pinnedByUser.length > 0) notes.push(`pinned by ${PIN_ATTRIBUTE}=YES: VMs ${pinnedByUser.join(', ')}`);
  if (busy.length > 0) notes.push(`not RUNNING, counted but not moved: VMs ${busy.join(', ')}`);
  const { rules, unreadable } = rulesFromOne(vms.filter((vm) => placement.has(vm.id)), hosts, groups);
  const newlyPinned = unreadable.filter((id) => !pinned.includes(id));
  if (newlyPinned.length > 0) {
    pinned.push(...newlyPinned);
    notes.push(`SCHED_REQUIREMENTS the planner cannot evaluate (only ID, NAME or CLUSTER_ID equalities joined by |), kept where they are: VMs ${newlyPinned.join(', ')}`);
  }
  const cluster: Cluster = { hosts: planHosts, vms: planVms, placement, ...(rules.length > 0 ? { rules } : {}) };
  return { cluster, pinnedVms: pinned, notes };
}

export interface MigrationWaiting {
  sleep(ms: number): Promise<void>;
  now(): number;
  /** between two `one.vm.info` polls; default 2 s */
  pollMs?: number;
  /** give up waiting for one live migration after this long */
  timeoutMs: number;
}

export class OnedClusterGateway implements ClusterGateway {
  constructor(
    private readonly client: OneClient,
    private readonly waiting: MigrationWaiting,
  ) {}

  /** The cluster with what the model's Cluster cannot carry: pinned VMs and notes. */
  async readCluster(): Promise<OnedCluster> {
    const [vms, records, hosts, groups] = await Promise.all([
      this.client.vmPoolInfoExtended(),
      this.client.vmPoolMonitoring(0),
      this.client.hostPoolInfo(),
      this.client.vmGroupPoolInfo(),
    ]);
    // The pool bodies' MONITORING can be stale; the last monitoring record per VM is not (PROTOCOL.md §1.8).
    return clusterFromOne(mergeVmMonitoring(vms, records), hosts, groups);
  }

  async fetchCluster(): Promise<Cluster> {
    return (await this.readCluster()).cluster;
  }

  /**
   * `one.vm.migrate(id, host, live=true, enforce=false)`, then polls `one.vm.info`
   * until the VM runs on the destination. enforce=false: oned's admission counts
   * TEMPLATE/MEMORY, exactly what oversubscription hands out; the plan was checked
   * against real demand instead.
   */
  async migrate(vmId: VmId, hostId: HostId, live: true): Promise<void> {
    const before = await this.client.vmInfo(vmId);
    if (before.state !== VmState.ACTIVE || before.lcmState !== LcmState.RUNNING) {
      throw new CloudvampError('unsafe', `VM ${vmId} is not RUNNING (STATE ${before.state}, LCM_STATE ${before.lcmState}); it was not migrated — take a fresh plan`);
    }
    if (isPinned(before)) throw new CloudvampError('unsafe', `VM ${vmId} was pinned (${PIN_ATTRIBUTE}=YES) since the plan; it was not migrated`);
    await this.client.vmMigrate(vmId, hostId, { live, enforce: false });

    await waitForLiveMigration(this.client, vmId, hostId, { ...this.waiting, timeoutSetting: '--migration-timeout', before });
  }
}
