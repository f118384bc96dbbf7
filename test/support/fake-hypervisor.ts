// The one Hypervisor double for the tests: an in-memory libvirt whose
// domains' balloon, shutdown and migration behave as each test says (the VMM
// actions), and which can also serve a fixed host - node figures, domain
// stats rows, cloudvamp metadata - while counting every call, so a probe test
// can assert that its libvirt calls do not grow with the number of domains.
// A clock that only moves on sleep drives the domains.
import { LibvirtError, VirErrorCode } from '../../lib/libvirt/errors';
import {
  DomainState,
  type BalloonStats,
  type DomainHandle,
  type DomainStats,
  type Hypervisor,
  type JobProgress,
  type MigrateOptions,
  type NodeCpuStats,
  type NodeInfo,
  type NodeMemoryStats,
} from '../../lib/libvirt/types';
import { METADATA_URI } from '../../lib/memory/oned-size';
import type { Clock } from '../../lib/vmm/balloon';

/** A fixed host, as a probe sees it. */
export interface FakeHost {
  uri?: string;
  hostname?: string;
  node?: Partial<NodeInfo>;
  nodeMemory?: NodeMemoryStats | 'unsupported';
  nodeCpu?: NodeCpuStats;
  /** domains reported with exactly these stats rows (see `domain()`) */
  domains?: DomainStats[];
  /** domain UUID → what virDomainGetMetadata returns for cloudvamp's namespace */
  metadata?: Record<string, string>;
}

export const libvirtError = (code: number, text: string) => new LibvirtError(text, { code, domain: 0, libvirtMessage: text });

/** A running domain's stats row, as virConnectGetAllDomainStats gives it: `one-ID`, a UUID from the ID. */
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

export class FakeClock implements Clock {
  t = 0;
  sleeps: number[] = [];
  /** called on every sleep, after time moved: lets a test change the world over time */
  onSleep: (t: number) => void = () => undefined;
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
    this.onSleep(this.t);
  }
}

export interface FakeDomainSpec {
  name: string;
  uuid?: string;
  state?: DomainState;
  maxKiB?: number;
  currentKiB?: number;
  /** no <memballoon>: no balloon size at all, setMemoryLive throws like libvirt */
  noBalloonDevice?: boolean;
  /** guest-side stats (available, last-update) reported */
  guestStats?: boolean;
  /**
   * How the guest follows a new target, per 100 ms of fake time: 'instant',
   * 'never' (no driver), or a number of KiB it moves per step, stopping at `stuckAtKiB`.
   */
  follow?: 'instant' | 'never' | number;
  stuckAtKiB?: number;
  acpi?: boolean;
  /** shutdown: the guest powers off after this many ms (Infinity = ignores ACPI) */
  powerOffAfterMs?: number;
  /** getAllDomainStats reports exactly this row for the domain (a probe's fixed host) */
  stats?: DomainStats;
}

let nextUuid = 1;

export class FakeDomain implements DomainHandle {
  readonly name: string;
  readonly uuid: string;
  stateValue: DomainState;
  readonly maxKiB: number;
  currentKiB: number;
  targetKiB: number;
  calls: string[] = [];
  setTargets: number[] = [];
  shutdownAt: number | undefined;
  migrateOutcome: { ok: true; jobs?: JobProgress[] } | { ok: false; message: string; leave?: 'running' | 'paused' | 'gone' } = { ok: true };
  migratedTo: { uri: string; options: MigrateOptions } | undefined;
  private jobs: JobProgress[] = [];
  private jobDone: (() => void) | undefined;

  constructor(
    readonly spec: FakeDomainSpec,
    private readonly owner: FakeHypervisor,
  ) {
    this.name = spec.name;
    this.uuid = spec.uuid ?? `00000000-0000-4000-8000-${String(nextUuid++).padStart(12, '0')}`;
    this.stateValue = spec.state ?? DomainState.Running;
    this.maxKiB = spec.maxKiB ?? 1024 * 1024;
    this.currentKiB = spec.currentKiB ?? this.maxKiB;
    this.targetKiB = this.currentKiB;
  }

  /** advances the guest's balloon one 100 ms step */
  step(elapsedMs: number): void {
    const follow = this.spec.follow ?? 'instant';
    if (follow === 'never') return;
    const goal = this.spec.stuckAtKiB !== undefined && this.targetKiB < this.spec.stuckAtKiB ? this.spec.stuckAtKiB : this.targetKiB;
    if (follow === 'instant') this.currentKiB = goal;
    else {
      const delta = Math.sign(goal - this.currentKiB) * Math.min(Math.abs(goal - this.currentKiB), follow);
      this.currentKiB += delta;
    }
    if (this.shutdownAt !== undefined && elapsedMs >= this.shutdownAt) {
      this.stateValue = DomainState.Shutoff;
      this.owner.remove(this);
    }
  }

  private gone(): void {
    if (!this.owner.has(this)) throw noDomain(this.uuid);
  }
  state() {
    this.gone();
    return { state: this.stateValue, reason: 0 };
  }
  xml(): string {
    return `<domain><name>${this.name}</name>${this.spec.acpi === false ? '' : '<features><acpi/></features>'}</domain>`;
  }
  maxMemoryKiB(): number {
    return this.maxKiB;
  }
  setMemoryLive(kib: number): void {
    this.calls.push(`setMemoryLive ${kib}`);
    if (this.spec.noBalloonDevice)
      throw new LibvirtError('Unable to change memory of active domain without the balloon device and guest OS balloon driver', {
        code: VirErrorCode.OperationInvalid,
        domain: 10,
        libvirtMessage: 'no balloon',
      });
    this.setTargets.push(kib);
    this.targetKiB = kib;
  }
  memoryStats(): BalloonStats {
    if (this.spec.noBalloonDevice) return { rssKiB: 1000 };
    return {
      currentKiB: this.currentKiB,
      rssKiB: 100_000,
      // like QEMU: last-update stays 0 until a guest driver sends statistics
      ...(this.spec.guestStats === false ? { lastUpdate: 0 } : { availableKiB: this.currentKiB - 50_000, lastUpdate: 1 }),
    };
  }
  setMemoryStatsPeriod(): void {}
  /** namespace URI → element XML (virDomainGet/SetMetadata) */
  metadataByUri = new Map<string, string>();
  metadata(uri: string): string | undefined {
    this.owner.call('metadata');
    return this.metadataByUri.get(uri);
  }
  setMetadata(uri: string, _key: string, xml: string): void {
    this.calls.push(`setMetadata ${xml}`);
    this.metadataByUri.set(uri, xml);
  }
  start(): void {
    this.stateValue = DomainState.Running;
  }
  shutdown(): void {
    this.calls.push('shutdown');
    const after = this.spec.powerOffAfterMs ?? 0;
    if (after === Infinity) return;
    this.shutdownAt = this.owner.clock.t + after;
    if (after === 0) this.step(this.owner.clock.t);
  }
  destroy(): void {
    this.calls.push('destroy');
    this.stateValue = DomainState.Shutoff;
    this.owner.remove(this);
  }
  reboot(): void {
    this.calls.push('reboot');
  }
  reset(): void {
    this.calls.push('reset');
  }
  suspend(): void {
    this.stateValue = DomainState.Paused;
  }
  resume(): void {
    this.calls.push('resume');
    this.stateValue = DomainState.Running;
  }
  save(file: string): void {
    this.calls.push(`save ${file}`);
    this.owner.saved.set(file, this);
    this.owner.remove(this);
  }
  undefine(): void {}
  isPersistent(): boolean {
    return false;
  }
  async migrateToUri(destUri: string, options: MigrateOptions): Promise<void> {
    this.calls.push(`migrate ${destUri}`);
    this.jobs = this.migrateOutcome.ok ? [...(this.migrateOutcome.jobs ?? [])] : [];
    // the job ends once the caller has read every progress record
    if (this.jobs.length > 0) await new Promise<void>((resolve) => (this.jobDone = resolve));
    else await this.owner.clock.sleep(0);
    const outcome = this.migrateOutcome;
    if (!outcome.ok) {
      if (outcome.leave === 'paused') this.stateValue = DomainState.Paused;
      if (outcome.leave === 'gone') this.owner.remove(this);
      throw new LibvirtError(outcome.message, { code: 38, domain: 10, libvirtMessage: outcome.message });
    }
    this.migratedTo = { uri: destUri, options };
    this.owner.remove(this);
  }
  jobProgress(completed?: boolean): JobProgress {
    if (completed) throw noDomain(this.uuid);
    const job = this.jobs.shift() ?? { type: 0 };
    if (this.jobs.length === 0) this.jobDone?.();
    return job;
  }
  free(): void {}
}

function noDomain(id: string): LibvirtError {
  return new LibvirtError(`no domain '${id}'`, { code: VirErrorCode.NoDomain, domain: 10, libvirtMessage: 'Domain not found' });
}

export class FakeHypervisor implements Hypervisor {
  readonly uri: string;
  domains: FakeDomain[] = [];
  saved = new Map<string, FakeDomain>();
  created: string[] = [];
  /** every Hypervisor call and every domain metadata read, in order */
  calls: string[] = [];
  closed = false;
  stats: (d: FakeDomain, call: number) => Partial<DomainStats> = () => ({});
  private statsCalls = 0;
  readonly clock: FakeClock;

  constructor(
    private readonly host: FakeHost = {},
    clock: FakeClock = new FakeClock(),
  ) {
    this.uri = host.uri ?? 'qemu:///system';
    this.clock = clock;
    clock.onSleep = (t) => {
      for (const d of [...this.domains]) d.step(t);
    };
    for (const stats of host.domains ?? []) {
      const d = this.add({ name: stats.name, uuid: stats.uuid, stats });
      const xml = host.metadata?.[stats.uuid];
      if (xml !== undefined) d.metadataByUri.set(METADATA_URI, xml);
    }
  }

  /** counts a call; a closed connection refuses it, as libvirt does */
  call(name: string): void {
    if (this.closed) throw new Error(`${name} on a closed connection`);
    this.calls.push(name);
  }
  add(spec: FakeDomainSpec): FakeDomain {
    const d = new FakeDomain(spec, this);
    this.domains.push(d);
    return d;
  }
  has(d: FakeDomain): boolean {
    return this.domains.includes(d);
  }
  remove(d: FakeDomain): void {
    this.domains = this.domains.filter((x) => x !== d);
  }
  getAllDomainStats(): DomainStats[] {
    this.call('getAllDomainStats');
    const call = this.statsCalls++;
    return this.domains.map((d) => ({
      ...(d.spec.stats
        ? structuredClone(d.spec.stats)
        : {
            name: d.name,
            uuid: d.uuid,
            state: d.stateValue,
            stateReason: 0,
            balloon: { currentKiB: d.currentKiB, maximumKiB: d.maxKiB, rssKiB: 100_000 },
          }),
      ...this.stats(d, call),
    }));
  }
  listDomainNames(): string[] {
    this.call('listDomainNames');
    return this.domains.map((d) => d.name);
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
    return this.versions.libvirt;
  }
  hypervisorVersion(): string {
    this.call('hypervisorVersion');
    return this.versions.qemu;
  }
  /** what libVersion/hypervisorVersion report (deploy's feature support) */
  versions = { libvirt: '9.0.0', qemu: '7.2.0' };
  domain(id: string): FakeDomain {
    this.call('domain');
    const d = this.domains.find((x) => x.name === id || x.uuid === id);
    if (!d) throw noDomain(id);
    return d;
  }
  createDomain(xml: string): FakeDomain {
    this.call('createDomain');
    this.created.push(xml);
    const name = /<name>([^<]+)<\/name>/.exec(xml)?.[1] ?? 'unnamed';
    if (this.domains.some((d) => d.name === name)) throw new LibvirtError(`domain '${name}' already exists`, { code: 9, domain: 10, libvirtMessage: 'exists' });
    return this.add({ name });
  }
  defineDomain(xml: string): FakeDomain {
    return this.createDomain(xml);
  }
  restoreDomain(file: string): void {
    this.call('restoreDomain');
    const d = this.saved.get(file);
    if (!d) throw new LibvirtError(`cannot read ${file}`, { code: 38, domain: 10, libvirtMessage: 'no file' });
    d.stateValue = DomainState.Running;
    this.domains.push(d);
  }
  close(): void {
    this.closed = true;
  }
}
