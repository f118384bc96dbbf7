// A ClusterGateway over an in-memory cluster: migrations change the
// placement as oned would, can be made to fail, and a hook lets a test change
// the world between reads (another operator, a guest growing).
import type { ClusterGateway } from '../../../lib/planning/apply';
import type { Cluster, HostId, VmId } from '../../../lib/planning/model';

export class InMemoryGateway implements ClusterGateway {
  readonly migrations: Array<{ vm: VmId; to: HostId; live: boolean }> = [];
  private placement: Map<VmId, HostId>;
  private vms: Cluster['vms'];
  reads = 0;

  constructor(
    private readonly cluster: Cluster,
    private readonly options: { failVm?: VmId; beforeRead?: (read: number, gateway: InMemoryGateway) => void } = {},
  ) {
    this.placement = new Map(cluster.placement);
    this.vms = cluster.vms;
  }

  async fetchCluster(): Promise<Cluster> {
    this.reads++;
    this.options.beforeRead?.(this.reads, this);
    return { hosts: this.cluster.hosts, vms: this.vms.map((v) => ({ ...v })), placement: new Map(this.placement) };
  }

  async migrate(vmId: VmId, hostId: HostId, live: true): Promise<void> {
    this.migrations.push({ vm: vmId, to: hostId, live });
    if (vmId === this.options.failVm) throw new Error(`[one.vm.migrate] Error migrating VM ${vmId}: host ${hostId} refused the connection`);
    this.placement.set(vmId, hostId);
  }

  /** What someone else does behind the applier's back. */
  moveBehindTheBack(vmId: VmId, hostId: HostId): void {
    this.placement.set(vmId, hostId);
  }

  growVm(vmId: VmId, memMiB: number): void {
    this.vms = this.vms.map((v) => (v.id === vmId ? { ...v, memMiB } : v));
  }

  where(vmId: VmId): HostId | undefined {
    return this.placement.get(vmId);
  }
}
