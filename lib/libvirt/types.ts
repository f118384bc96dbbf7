// Typed view of the parts of libvirt cloudvamp uses. The koffi binding
// (lib/libvirt/client.ts) implements `Hypervisor`; pure code and unit tests
// only ever see these plain objects. Memory is in KiB, as libvirt reports it.

/** virDomainState */
export enum DomainState {
  NoState = 0,
  Running = 1,
  Blocked = 2,
  Paused = 3,
  Shutdown = 4,
  Shutoff = 5,
  Crashed = 6,
  PmSuspended = 7,
}

/** Fields of `balloon.*` in virConnectGetAllDomainStats; absent when the guest has no balloon driver or stats period. */
export interface BalloonStats {
  /** balloon.current: the balloon's current size, i.e. memory the guest is allowed now */
  currentKiB?: number;
  /** balloon.maximum: the domain's maximum memory (<memory>) */
  maximumKiB?: number;
  /** balloon.rss: resident set size of the QEMU process on the host */
  rssKiB?: number;
  /** guest's own view (virtio balloon stats): MemFree */
  unusedKiB?: number;
  /** guest MemTotal */
  availableKiB?: number;
  /** guest MemAvailable */
  usableKiB?: number;
  diskCachesKiB?: number;
  swapInKiB?: number;
  swapOutKiB?: number;
  majorFaults?: number;
  minorFaults?: number;
  /** balloon.last-update: guest timestamp (s) of the last stats update */
  lastUpdate?: number;
}

export interface DomainStats {
  name: string;
  uuid: string;
  /** state.state */
  state: DomainState;
  /** state.reason (virDomain*Reason for that state) */
  stateReason: number;
  balloon: BalloonStats;
  /** cpu.time, nanoseconds of CPU used by the domain since it started */
  cpuTimeNs?: number;
  /** vcpu.current */
  vcpus?: number;
  /** Σ vcpu.<n>.delay: ns the vCPU threads waited in the host's run queue (libvirt ≥ 7.9, from their schedstat) */
  vcpuDelayNs?: number;
  /** sums over every interface (net.<n>.rx.bytes / tx.bytes) */
  netRxBytes?: number;
  netTxBytes?: number;
}

/** virNodeInfo */
export interface NodeInfo {
  model: string;
  memoryKiB: number;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

/** virNodeGetMemoryStats for all cells; fields libvirt does not report are absent */
export interface NodeMemoryStats {
  totalKiB: number;
  freeKiB: number;
  buffersKiB?: number;
  cachedKiB?: number;
}

/** virNodeGetCPUStats for all CPUs, cumulative nanoseconds */
export interface NodeCpuStats {
  kernelNs?: number;
  userNs?: number;
  idleNs?: number;
  iowaitNs?: number;
}

export interface MigrateOptions {
  /** VIR_MIGRATE_LIVE; false pauses the guest during the copy */
  live: boolean;
  /** VIR_MIGRATE_PEER2PEER: the source libvirtd connects to destUri itself */
  peerToPeer?: boolean;
  /** VIR_MIGRATE_PERSIST_DEST + VIR_MIGRATE_UNDEFINE_SOURCE */
  persistent?: boolean;
  /** MiB/s, VIR_MIGRATE_PARAM_BANDWIDTH; 0 or absent = libvirt default */
  bandwidthMiBs?: number;
  /** VIR_MIGRATE_AUTO_CONVERGE */
  autoConverge?: boolean;
  /** VIR_MIGRATE_COMPRESSED */
  compressed?: boolean;
  /** VIR_MIGRATE_UNSAFE */
  unsafe?: boolean;
  /** migration URI for the data stream (VIR_MIGRATE_PARAM_URI), e.g. tcp://10.0.0.2 */
  migrateUri?: string;
}

/** virDomainGetJobStats, the fields a progress display needs */
export interface JobProgress {
  /** virDomainJobType: 0 none, 1 bounded, 2 unbounded, 3 completed, 4 failed, 5 cancelled */
  type: number;
  timeElapsedMs?: number;
  dataTotalBytes?: number;
  dataProcessedBytes?: number;
  dataRemainingBytes?: number;
  memoryDirtyRateBytesPerSec?: number;
  downtimeMs?: number;
}

/** Which stats groups getAllDomainStats asks for (VIR_DOMAIN_STATS_*). */
export interface StatsGroups {
  state?: boolean;
  balloon?: boolean;
  cpu?: boolean;
  vcpu?: boolean;
  interface?: boolean;
}

/** A libvirt connection. Every method is one libvirt call unless it says otherwise. */
export interface Hypervisor {
  readonly uri: string;
  /** virConnectGetAllDomainStats (active domains only unless `inactive`): ONE call for all domains */
  getAllDomainStats(groups?: StatsGroups, options?: { inactive?: boolean }): DomainStats[];
  /** virConnectListAllDomains: names of all domains (active and inactive) */
  listDomainNames(options?: { activeOnly?: boolean }): string[];
  nodeInfo(): NodeInfo;
  nodeMemoryStats(): NodeMemoryStats;
  /** undefined where the driver does not support it (the test driver) */
  nodeCpuStats(): NodeCpuStats | undefined;
  hostname(): string;
  /** virConnectGetLibVersion as "major.minor.micro" */
  libVersion(): string;
  /** virConnectGetVersion: the hypervisor's (QEMU's) version as "major.minor.micro" */
  hypervisorVersion(): string;

  /** Looks a domain up by name, UUID string or numeric ID; throws LibvirtError (code 42, no domain) when absent. */
  domain(nameOrUuid: string): DomainHandle;
  /** virDomainCreateXML: a transient running domain */
  createDomain(xml: string): DomainHandle;
  /** virDomainDefineXML: a persistent, not started domain */
  defineDomain(xml: string): DomainHandle;
  /** virDomainRestore */
  restoreDomain(file: string): void;
  close(): void;
}

export interface DomainHandle {
  readonly name: string;
  readonly uuid: string;
  state(): { state: DomainState; reason: number };
  /** virDomainGetXMLDesc */
  xml(): string;
  /** virDomainGetMaxMemory (KiB) */
  maxMemoryKiB(): number;
  /** virDomainSetMemoryFlags(VIR_DOMAIN_AFFECT_LIVE): sets the balloon target */
  setMemoryLive(kib: number): void;
  /** virDomainMemoryStats: balloon stats of this one domain */
  memoryStats(): BalloonStats;
  /** virDomainSetMemoryStatsPeriod(live) */
  setMemoryStatsPeriod(seconds: number): void;
  /** virDomainGetMetadata(ELEMENT, uri): the element's XML, undefined when the domain has none under that namespace */
  metadata(namespaceUri: string): string | undefined;
  /** virDomainSetMetadata(ELEMENT, xml, key, uri, AFFECT_CURRENT): replaces the element of that namespace */
  setMetadata(namespaceUri: string, key: string, xml: string): void;
  start(): void;
  shutdown(): void;
  destroy(): void;
  reboot(): void;
  reset(): void;
  suspend(): void;
  resume(): void;
  save(file: string): void;
  undefine(): void;
  isPersistent(): boolean;
  /**
   * virDomainMigrateToURI3, run on a koffi worker thread so the event loop stays
   * free to poll jobProgress() on the same (thread-safe) connection meanwhile.
   * Resolves when the domain runs on the destination; rejects with LibvirtError.
   */
  migrateToUri(destUri: string, options: MigrateOptions): Promise<void>;
  /** virDomainGetJobStats(VIR_DOMAIN_JOB_STATS_COMPLETED when `completed`) */
  jobProgress(completed?: boolean): JobProgress;
  free(): void;
}
