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
import { hostViewFromOne, vmViewFromOne } from '../oned/elasticity-ports';
import { CloudvampError } from '../errors';
import { isPinned, PIN_ATTRIBUTE, receivesVms } from '../oned/cloud';
import type { OneClient } from '../oned/client';
import { waitForLiveMigration } from '../oned/live-migration';
import { LcmState, mergeVmMonitoring, VmState, type OneHost, type OneVm } from '../oned/models';
import type { ClusterGateway } from './apply';
import type { Cluster, Host, HostId, Vm, VmId } from './model';

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

export function hostFromOne(host: OneHost): Host {
  return {
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

/** The planning model of what oned returned; pure. */
export function clusterFromOne(vms: readonly OneVm[], hosts: readonly OneHost[]): OnedCluster {
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
    planVms.push({ id: vm.id, name: vm.name, memMiB: vmDemandMiB(vm), cpu: Math.round(vm.cpu * 100) });
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
  return { cluster: { hosts: planHosts, vms: planVms, placement }, pinnedVms: pinned, notes };
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
    const [vms, records, hosts] = await Promise.all([this.client.vmPoolInfoExtended(), this.client.vmPoolMonitoring(0), this.client.hostPoolInfo()]);
    // The pool bodies' MONITORING can be stale; the last monitoring record per VM is not (PROTOCOL.md §1.8).
    return clusterFromOne(mergeVmMonitoring(vms, records), hosts);
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
