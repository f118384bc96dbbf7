// In-memory cloud implementing every elasticity port: guests with a demand,
// hosts with memory, a clock. Scenario tests drive it over simulated time.
import type { ClusterSource, ClusterView, HostView, MemoryApplier, Migrator, PublishedFigures, Publisher, StateStore, VmView } from '../../../lib/elasticity/ports';
import { emptyState, serializeState, parseState, type ElasticityState } from '../../../lib/elasticity/state';

export interface FakeVm {
  id: number;
  hostId: number;
  originalKiB: number;
  currentKiB: number;
  demandKiB: number;
  running: boolean;
  userTemplate: Record<string, string | number>;
}

export class FakeCloud implements ClusterSource, MemoryApplier, Migrator, Publisher {
  vms = new Map<number, FakeVm>();
  hosts = new Map<number, HostView>();
  calls: string[] = [];
  failMigrations = false;
  /** oned refuses CLOUDVAMP_ORIGINAL_MEMORY writes (or does not keep them) */
  failOriginalWrites = false;
  /**
   * APPLY_MODE=resize: oned's TEMPLATE/MEMORY is the size cloudvamp set, so
   * a VM's template no longer tells its original (memory-action mode keeps it).
   */
  resizeMode = false;
  /** runs inside every step, e.g. to deliver SIGTERM mid-cycle */
  onStep: (what: string) => void = () => undefined;

  addHost(id: number, totalKiB: number): this {
    this.hosts.set(id, { id, name: `host-${id}`, clusterId: 0, enabled: true, totalKiB });
    return this;
  }
  addVm(id: number, hostId: number, originalKiB: number, demandKiB: number): this {
    this.vms.set(id, { id, hostId, originalKiB, currentKiB: originalKiB, demandKiB, running: true, userTemplate: {} });
    return this;
  }

  async snapshot(): Promise<ClusterView> {
    const vms: VmView[] = [...this.vms.values()].map((v) => {
      const used = Math.min(v.demandKiB, v.currentKiB);
      return {
        id: v.id,
        name: `vm-${v.id}`,
        hostId: v.hostId,
        hostName: `host-${v.hostId}`,
        deployId: `one-${v.id}`,
        running: v.running,
        templateMemoryKiB: this.resizeMode ? v.currentKiB : v.originalKiB,
        currentKiB: v.currentKiB,
        ...(v.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY !== undefined ? { recordedOriginalKiB: Number(v.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY) } : {}),
        ...(v.userTemplate.CLOUDVAMP_MEMORY !== undefined ? { cloudvampSetKiB: Number(v.userTemplate.CLOUDVAMP_MEMORY) } : {}),
        balloon: { availableKiB: v.currentKiB, usableKiB: v.currentKiB - used },
        overrides: {},
      };
    });
    return { vms, hosts: [...this.hosts.values()] };
  }

  async setMemory(vm: VmView, kib: number): Promise<void> {
    this.calls.push(`setMemory ${vm.id} ${kib}`);
    this.onStep(`setMemory ${vm.id}`);
    const v = this.vms.get(vm.id)!;
    v.currentKiB = kib;
  }

  async migrateLive(vmId: number, hostId: number): Promise<void> {
    this.calls.push(`migrate ${vmId} ${hostId}`);
    this.onStep(`migrate ${vmId}`);
    if (this.failMigrations) throw new Error('migration refused');
    this.vms.get(vmId)!.hostId = hostId;
  }

  async publish(vmId: number, figures: PublishedFigures): Promise<void> {
    this.calls.push(`publish ${vmId}`);
    Object.assign(this.vms.get(vmId)!.userTemplate, figures);
  }

  async recordOriginal(vmId: number, kib: number): Promise<void> {
    this.calls.push(`recordOriginal ${vmId} ${kib}`);
    if (this.failOriginalWrites) throw new Error(`VM ${vmId}: oned did not keep CLOUDVAMP_ORIGINAL_MEMORY`);
    this.vms.get(vmId)!.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY = kib;
  }

  /** Σ current on each host ≤ total − reserve? */
  committed(hostId: number): number {
    return [...this.vms.values()].filter((v) => v.hostId === hostId).reduce((s, v) => s + v.currentKiB, 0);
  }
}

/** A store that keeps the serialized text, as the file would. */
export class MemoryStore implements StateStore<ElasticityState> {
  text: string | undefined;
  saves = 0;
  async load(): Promise<ElasticityState> {
    return this.text === undefined ? emptyState() : parseState(this.text);
  }
  async save(state: ElasticityState): Promise<void> {
    this.saves++;
    this.text = serializeState(state);
  }
}
