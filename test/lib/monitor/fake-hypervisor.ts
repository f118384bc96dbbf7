// A Hypervisor double that serves a fixed host and counts every call, so
// tests can assert that a probe's libvirt calls do not grow with the number
// of domains.
import { LibvirtError, VirErrorCode } from '../../../lib/libvirt/errors';
import {
  DomainState,
  type BalloonStats,
  type DomainHandle,
  type DomainStats,
  type Hypervisor,
  type NodeCpuStats,
  type NodeInfo,
  type NodeMemoryStats,
} from '../../../lib/libvirt/types';

export interface FakeHost {
  uri?: string;
  hostname?: string;
  node?: Partial<NodeInfo>;
  nodeMemory?: NodeMemoryStats | 'unsupported';
  nodeCpu?: NodeCpuStats;
  domains?: DomainStats[];
  /** domain UUID → what virDomainGetMetadata returns for cloudvamp's namespace */
  metadata?: Record<string, string>;
}

export const libvirtError = (code: number, text: string) =>
  new LibvirtError(text, { code, domain: 0, libvirtMessage: text });

export function domain(id: number | string, over: Partial<DomainStats> = {}): DomainStats {
  const name = typeof id === 'number' ? `one-${id}` : id;
  const n = typeof id === 'number' ? id : 999;
  return {
    name,
    uuid: `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`,
    state: DomainState.Running,
    stateReason: 1,
    balloon: { currentKiB: 1048576, maximumKiB: 2097152, rssKiB: 524288 },
    ...over,
  };
}

export class FakeHypervisor implements Hypervisor {
  readonly uri: string;
  calls: string[] = [];
  closed = false;
  constructor(private readonly host: FakeHost = {}) {
    this.uri = host.uri ?? 'qemu:///system';
  }
  private call(name: string) {
    if (this.closed) throw new Error(`${name} on a closed connection`);
    this.calls.push(name);
  }
  getAllDomainStats(): DomainStats[] {
    this.call('getAllDomainStats');
    return structuredClone(this.host.domains ?? []);
  }
  listDomainNames(): string[] {
    this.call('listDomainNames');
    return (this.host.domains ?? []).map((d) => d.name);
  }
  nodeInfo(): NodeInfo {
    this.call('nodeInfo');
    return { model: 'x86_64', memoryKiB: 16777216, cpus: 4, mhz: 2400, nodes: 1, sockets: 1, cores: 4, threads: 1, ...this.host.node };
  }
  nodeMemoryStats(): NodeMemoryStats {
    this.call('nodeMemoryStats');
    const m = this.host.nodeMemory ?? { totalKiB: 16777216, freeKiB: 8388608, buffersKiB: 1048576, cachedKiB: 2097152 };
    if (m === 'unsupported') throw libvirtError(VirErrorCode.NoSupport, 'this function is not supported by the connection driver');
    return m;
  }
  nodeCpuStats(): NodeCpuStats | undefined {
    this.call('nodeCpuStats');
    return this.host.nodeCpu;
  }
  hostname(): string {
    this.call('hostname');
    return this.host.hostname ?? 'node1';
  }
  libVersion(): string {
    this.call('libVersion');
    return '9.0.0';
  }
  hypervisorVersion(): string {
    this.call('hypervisorVersion');
    return '7.2.0';
  }
  /** the probes look a domain up only to read its cloudvamp metadata */
  domain(uuid: string): DomainHandle {
    this.call('domain');
    if (!(this.host.domains ?? []).some((d) => d.uuid === uuid)) throw libvirtError(VirErrorCode.NoDomain, `no domain with UUID ${uuid}`);
    const metadata = this.host.metadata?.[uuid];
    const call = (name: string) => this.call(name);
    return {
      metadata: () => {
        call('metadata');
        return metadata;
      },
      free: () => undefined,
    } as unknown as DomainHandle;
  }
  createDomain(): DomainHandle {
    throw new Error('not used by the probes');
  }
  defineDomain(): DomainHandle {
    throw new Error('not used by the probes');
  }
  restoreDomain(): void {
    throw new Error('not used by the probes');
  }
  close(): void {
    this.closed = true;
  }
}
