// The koffi-backed implementation of `Hypervisor` and `DomainHandle`.
//
// Ownership: a LibvirtHypervisor owns one virConnectPtr (close() releases it);
// every DomainHandle it returns owns one virDomainPtr and must be free()d by the
// caller. A handle keeps libvirt's connection object alive on its own, so
// closing the hypervisor before freeing handles leaks nothing but delays the
// disconnect. Everything else (stats records, domain lists, typed parameter
// arrays, returned strings) is freed inside the method that got it.
//
// Errors: libvirt's thread-local last error is read right after a failed call,
// on the same thread, and becomes a LibvirtError whose message says what we
// were doing and how to fix it where that is known.

import { CloudvampError } from '../errors.js';
import {
  type ConnectPtr,
  decodeAt,
  decodePointers,
  type DomainInfoStruct,
  type DomainPtr,
  type FieldValue,
  freeC,
  type Libvirt,
  loadLibvirt,
  type MemoryStat,
  type NodeInfoStruct,
  type Out,
  type RawPtr,
  type TypedParamIn,
  toNumber,
  type VirError,
  allocVirError,
} from './ffi.js';
import { LibvirtError, VirErrorCode } from './errors.js';
import { decodeTypedParams, migrateFlags, migrateParams, type TypedValue } from './typed-params.js';
import { DomainState } from './types.js';
import type {
  BalloonStats,
  DomainHandle,
  DomainStats,
  Hypervisor,
  JobProgress,
  MigrateOptions,
  NodeCpuStats,
  NodeInfo,
  NodeMemoryStats,
  StatsGroups,
} from './types.js';

/** VIR_DOMAIN_STATS_* */
export const StatsGroup = { State: 1, CpuTotal: 2, Balloon: 4, Vcpu: 8, Interface: 16 } as const;
const CONNECT_DOMAINS_ACTIVE = 1; // VIR_CONNECT_LIST_DOMAINS_ACTIVE == ..._GET_ALL_DOMAINS_STATS_ACTIVE
const CONNECT_DOMAINS_INACTIVE = 2;
const AFFECT_LIVE = 1; // VIR_DOMAIN_AFFECT_LIVE
const METADATA_ELEMENT = 2; // VIR_DOMAIN_METADATA_ELEMENT
/** libvirt's version numbers: major * 1,000,000 + minor * 1,000 + micro */
const versionText = (v: number) => `${Math.floor(v / 1_000_000)}.${Math.floor(v / 1000) % 1000}.${v % 1000}`;
const ALL_CELLS = -1; // VIR_NODE_MEMORY_STATS_ALL_CELLS
const ALL_CPUS = -1; // VIR_NODE_CPU_STATS_ALL_CPUS
const JOB_STATS_COMPLETED = 1; // VIR_DOMAIN_JOB_STATS_COMPLETED
const MEMORY_STAT_NR = 13; // VIR_DOMAIN_MEMORY_STAT_NR
const UUID_STRING_BUFLEN = 37;
const UUID_PATTERN = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** virDomainMemoryStatTags → BalloonStats keys (libvirt-domain.h). */
const MEMORY_STAT_TAGS: Record<number, keyof BalloonStats> = {
  0: 'swapInKiB',
  1: 'swapOutKiB',
  2: 'majorFaults',
  3: 'minorFaults',
  4: 'unusedKiB',
  5: 'availableKiB',
  6: 'currentKiB', // VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON
  7: 'rssKiB',
  8: 'usableKiB',
  9: 'lastUpdate',
  10: 'diskCachesKiB',
};

/** balloon.* typed parameter names of virConnectGetAllDomainStats → BalloonStats keys. */
const BALLOON_FIELDS: Record<string, keyof BalloonStats> = {
  'balloon.current': 'currentKiB',
  'balloon.maximum': 'maximumKiB',
  'balloon.rss': 'rssKiB',
  'balloon.unused': 'unusedKiB',
  'balloon.available': 'availableKiB',
  'balloon.usable': 'usableKiB',
  'balloon.disk_caches': 'diskCachesKiB',
  'balloon.swap_in': 'swapInKiB',
  'balloon.swap_out': 'swapOutKiB',
  'balloon.major_fault': 'majorFaults',
  'balloon.minor_fault': 'minorFaults',
  'balloon.last-update': 'lastUpdate',
};

/** Opens a read-write connection (virConnectOpen). Throws LibvirtError naming the URI. */
export function openHypervisor(uri: string): LibvirtHypervisor {
  const lv = loadLibvirt();
  const conn = lv.virConnectOpen(uri);
  if (!conn) throw connectError(lv, uri);
  return new LibvirtHypervisor(lv, conn, uri);
}

export class LibvirtHypervisor implements Hypervisor {
  readonly uri: string;
  readonly #lv: Libvirt;
  #conn: ConnectPtr | undefined;

  constructor(lv: Libvirt, conn: ConnectPtr, uri: string) {
    this.#lv = lv;
    this.#conn = conn;
    this.uri = uri;
  }

  get #c(): ConnectPtr {
    if (!this.#conn) throw new CloudvampError('internal', `libvirt connection to ${this.uri} used after close()`);
    return this.#conn;
  }

  #fail(what: string): never {
    throw callError(this.#lv, `${what} on ${this.uri}`);
  }

  getAllDomainStats(groups?: StatsGroups, options?: { inactive?: boolean }): DomainStats[] {
    const lv = this.#lv;
    const flags = options?.inactive ? CONNECT_DOMAINS_ACTIVE | CONNECT_DOMAINS_INACTIVE : CONNECT_DOMAINS_ACTIVE;
    // No VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS: a driver that lacks a
    // group (the test driver only has state) just leaves those fields out.
    const out: Out<RawPtr | null> = [null];
    const count = lv.virConnectGetAllDomainStats(this.#c, statsMask(groups), out, flags);
    if (count < 0) this.#fail('getting domain stats (virConnectGetAllDomainStats)');
    const list = out[0];
    if (!list) return [];
    try {
      return decodePointers(list, count).map((recordPtr) => {
        const record = decodeAt<{ dom: RawPtr; params: RawPtr | null; nparams: number }>(recordPtr, 0, lv.types.virDomainStatsRecord);
        const params = record.params ? decodeTypedParams(lv, record.params, record.nparams) : new Map<string, TypedValue>();
        // Local calls: the stats record's virDomainPtr already carries name and
        // UUID, so these cost no round trip to the daemon.
        const stats = toDomainStats(domainName(lv, record.dom), domainUuid(lv, record.dom), params);
        if (groups?.balloon && stats.balloon.currentKiB === undefined && isActive(stats.state)) {
          fillBalloonFromDomainInfo(lv, record.dom, stats);
        }
        return stats;
      });
    } finally {
      // Also drops the references the records hold on their domains.
      lv.virDomainStatsRecordListFree(list);
    }
  }

  listDomainNames(options?: { activeOnly?: boolean }): string[] {
    const lv = this.#lv;
    const out: Out<RawPtr | null> = [null];
    const count = lv.virConnectListAllDomains(this.#c, out, options?.activeOnly ? CONNECT_DOMAINS_ACTIVE : 0);
    if (count < 0) this.#fail('listing domains (virConnectListAllDomains)');
    const list = out[0];
    if (!list) return [];
    const domains = decodePointers(list, count);
    try {
      return domains.map((dom) => domainName(lv, dom));
    } finally {
      for (const dom of domains) lv.virDomainFree(dom);
      freeC(list);
    }
  }

  nodeInfo(): NodeInfo {
    const out: Out<NodeInfoStruct> = [{} as NodeInfoStruct];
    if (this.#lv.virNodeGetInfo(this.#c, out) < 0) this.#fail('getting node info (virNodeGetInfo)');
    const info = out[0];
    return {
      model: info.model,
      memoryKiB: toNumber(info.memory),
      cpus: info.cpus,
      mhz: info.mhz,
      nodes: info.nodes,
      sockets: info.sockets,
      cores: info.cores,
      threads: info.threads,
    };
  }

  nodeMemoryStats(): NodeMemoryStats {
    const values = this.#fieldValues('virNodeGetMemoryStats', ALL_CELLS);
    const total = values.get('total');
    const free = values.get('free');
    if (total === undefined || free === undefined) {
      throw new CloudvampError('hypervisor', `virNodeGetMemoryStats on ${this.uri} reported no total/free memory`);
    }
    const stats: NodeMemoryStats = { totalKiB: total, freeKiB: free };
    const buffers = values.get('buffers');
    const cached = values.get('cached');
    if (buffers !== undefined) stats.buffersKiB = buffers;
    if (cached !== undefined) stats.cachedKiB = cached;
    return stats;
  }

  nodeCpuStats(): NodeCpuStats | undefined {
    let values: Map<string, number>;
    try {
      values = this.#fieldValues('virNodeGetCPUStats', ALL_CPUS);
    } catch (error) {
      if (error instanceof LibvirtError && (error.code === VirErrorCode.NoSupport || error.code === VirErrorCode.ArgumentUnsupported)) {
        return undefined;
      }
      throw error;
    }
    const stats: NodeCpuStats = {};
    const set = (key: keyof NodeCpuStats, field: string) => {
      const value = values.get(field);
      if (value !== undefined) stats[key] = value;
    };
    set('kernelNs', 'kernel');
    set('userNs', 'user');
    set('idleNs', 'idle');
    set('iowaitNs', 'iowait');
    return stats;
  }

  /** The two-call pattern of virNodeGet{Memory,CPU}Stats: ask for the count, then fill. */
  #fieldValues(fn: 'virNodeGetMemoryStats' | 'virNodeGetCPUStats', which: number): Map<string, number> {
    const call = (params: FieldValue[] | null, nparams: Out<number>) => this.#lv[fn](this.#c, which, params, nparams, 0);
    const nparams: Out<number> = [0];
    if (call(null, nparams) < 0) this.#fail(fn);
    const params: FieldValue[] = Array.from({ length: nparams[0] }, () => ({ field: '', value: 0 }));
    if (params.length > 0 && call(params, nparams) < 0) this.#fail(fn);
    return new Map(params.slice(0, nparams[0]).map((p) => [p.field, toNumber(p.value)]));
  }

  hostname(): string {
    const name = this.#lv.virConnectGetHostname(this.#c);
    if (name === null) this.#fail('getting the hostname (virConnectGetHostname)');
    return name;
  }

  libVersion(): string {
    const version: Out<number> = [0];
    if (this.#lv.virConnectGetLibVersion(this.#c, version) < 0) this.#fail('getting the libvirt version');
    return versionText(toNumber(version[0]));
  }

  hypervisorVersion(): string {
    const version: Out<number> = [0];
    if (this.#lv.virConnectGetVersion(this.#c, version) < 0) this.#fail('getting the hypervisor version (virConnectGetVersion)');
    return versionText(toNumber(version[0]));
  }

  domain(nameOrUuid: string): LibvirtDomain {
    const lv = this.#lv;
    const conn = this.#c;
    // virsh's order for a UUID-shaped key: UUID first, then name. The probes look
    // every ballooned domain up by UUID, and name-first cost them a failed RPC each.
    const uuidShaped = UUID_PATTERN.test(nameOrUuid);
    let dom = uuidShaped ? lv.virDomainLookupByUUIDString(conn, nameOrUuid) : null;
    if (!dom && (!uuidShaped || isNoDomain(lv))) dom = lv.virDomainLookupByName(conn, nameOrUuid);
    if (!dom && isNoDomain(lv) && /^\d+$/.test(nameOrUuid)) dom = lv.virDomainLookupByID(conn, Number(nameOrUuid));
    if (!dom) {
      const error = readLastError(lv);
      const message =
        error.code === VirErrorCode.NoDomain
          ? `no domain '${nameOrUuid}' on ${this.uri} (by name, UUID or ID): ${error.message} (virsh -c '${this.uri}' list --all shows the domains)`
          : `looking up domain '${nameOrUuid}' on ${this.uri}: ${error.message}`;
      throw new LibvirtError(message, { code: error.code, domain: error.domain, libvirtMessage: error.message });
    }
    return new LibvirtDomain(lv, dom, this.uri);
  }

  createDomain(xml: string): LibvirtDomain {
    const dom = this.#lv.virDomainCreateXML(this.#c, xml, 0);
    if (!dom) this.#fail('creating a domain (virDomainCreateXML)');
    return new LibvirtDomain(this.#lv, dom, this.uri);
  }

  defineDomain(xml: string): LibvirtDomain {
    const dom = this.#lv.virDomainDefineXML(this.#c, xml);
    if (!dom) this.#fail('defining a domain (virDomainDefineXML)');
    return new LibvirtDomain(this.#lv, dom, this.uri);
  }

  restoreDomain(file: string): void {
    if (this.#lv.virDomainRestore(this.#c, file) < 0) this.#fail(`restoring a domain from ${file}`);
  }

  close(): void {
    if (!this.#conn) return;
    const conn = this.#conn;
    this.#conn = undefined;
    // > 0 only means DomainHandles still hold references; they close it later.
    if (this.#lv.virConnectClose(conn) < 0) throw callError(this.#lv, `closing the connection to ${this.uri}`);
  }
}

export class LibvirtDomain implements DomainHandle {
  readonly name: string;
  readonly uuid: string;
  readonly #lv: Libvirt;
  readonly #uri: string;
  #dom: DomainPtr | undefined;

  constructor(lv: Libvirt, dom: DomainPtr, uri: string) {
    this.#lv = lv;
    this.#dom = dom;
    this.#uri = uri;
    this.name = domainName(lv, dom);
    this.uuid = domainUuid(lv, dom);
  }

  get #d(): DomainPtr {
    this.#requireOpen();
    return this.#dom as DomainPtr;
  }

  #requireOpen(): void {
    if (!this.#dom) throw new CloudvampError('internal', `domain handle '${this.name}' used after free()`);
  }

  #fail(what: string): never {
    throw callError(this.#lv, `${what} of domain '${this.name}' on ${this.#uri}`);
  }

  #check(result: number, what: string): void {
    if (result < 0) this.#fail(what);
  }

  state(): { state: DomainState; reason: number } {
    const state: Out<number> = [0];
    const reason: Out<number> = [0];
    this.#check(this.#lv.virDomainGetState(this.#d, state, reason, 0), 'getting the state');
    return { state: state[0] as DomainState, reason: reason[0] };
  }

  xml(): string {
    const xml = this.#lv.virDomainGetXMLDesc(this.#d, 0);
    if (xml === null) this.#fail('getting the XML');
    return xml;
  }

  maxMemoryKiB(): number {
    const kib = toNumber(this.#lv.virDomainGetMaxMemory(this.#d));
    if (kib === 0) this.#fail('getting the maximum memory');
    return kib;
  }

  setMemoryLive(kib: number): void {
    if (!Number.isSafeInteger(kib) || kib <= 0) {
      throw new CloudvampError('internal', `balloon target for '${this.name}' must be a positive whole number of KiB, got ${kib}`);
    }
    this.#check(this.#lv.virDomainSetMemoryFlags(this.#d, kib, AFFECT_LIVE), `setting the live memory to ${kib} KiB`);
  }

  memoryStats(): BalloonStats {
    const stats: MemoryStat[] = Array.from({ length: MEMORY_STAT_NR }, () => ({ tag: -1, val: 0 }));
    const count = this.#lv.virDomainMemoryStats(this.#d, stats, MEMORY_STAT_NR, 0);
    if (count < 0) this.#fail('getting memory stats');
    const result: BalloonStats = {};
    for (const { tag, val } of stats.slice(0, count)) {
      const key = MEMORY_STAT_TAGS[tag];
      if (key) result[key] = toNumber(val);
    }
    return result;
  }

  setMemoryStatsPeriod(seconds: number): void {
    if (!Number.isSafeInteger(seconds) || seconds < 0) {
      throw new CloudvampError('internal', `memory stats period for '${this.name}' must be whole seconds >= 0, got ${seconds}`);
    }
    this.#check(this.#lv.virDomainSetMemoryStatsPeriod(this.#d, seconds, AFFECT_LIVE), `setting the memory stats period to ${seconds}s`);
  }

  metadata(namespaceUri: string): string | undefined {
    const xml = this.#lv.virDomainGetMetadata(this.#d, METADATA_ELEMENT, namespaceUri, 0);
    if (xml !== null) return xml;
    const error = callError(this.#lv, `reading the metadata ${namespaceUri} of domain '${this.name}' on ${this.#uri}`);
    if (error.code === VirErrorCode.NoDomainMetadata) return undefined;
    throw error;
  }

  setMetadata(namespaceUri: string, key: string, xml: string): void {
    this.#check(this.#lv.virDomainSetMetadata(this.#d, METADATA_ELEMENT, xml, key, namespaceUri, 0), `setting the metadata ${namespaceUri}`);
  }

  start(): void {
    this.#check(this.#lv.virDomainCreate(this.#d), 'starting');
  }
  shutdown(): void {
    this.#check(this.#lv.virDomainShutdown(this.#d), 'shutting down');
  }
  destroy(): void {
    this.#check(this.#lv.virDomainDestroy(this.#d), 'destroying');
  }
  reboot(): void {
    this.#check(this.#lv.virDomainReboot(this.#d, 0), 'rebooting');
  }
  reset(): void {
    this.#check(this.#lv.virDomainReset(this.#d, 0), 'resetting');
  }
  suspend(): void {
    this.#check(this.#lv.virDomainSuspend(this.#d), 'suspending');
  }
  resume(): void {
    this.#check(this.#lv.virDomainResume(this.#d), 'resuming');
  }
  save(file: string): void {
    this.#check(this.#lv.virDomainSave(this.#d, file), `saving to ${file}`);
  }
  undefine(): void {
    this.#check(this.#lv.virDomainUndefine(this.#d), 'undefining');
  }
  isPersistent(): boolean {
    const result = this.#lv.virDomainIsPersistent(this.#d);
    if (result < 0) this.#fail('checking persistence');
    return result === 1;
  }

  /**
   * Runs on a koffi worker thread over a connection of its own: libvirt's last
   * error is thread-local, so after an async failure the only reliable copy is
   * the per-connection one (virConnCopyLastError), and a private connection
   * keeps concurrent calls (jobProgress polls) from overwriting it. Without
   * peerToPeer this is libvirt's client-managed migration (what `virsh migrate`
   * does without --p2p): we open destUri ourselves and call virDomainMigrate3.
   *
   * The private connection re-opens this handle's URI, so on the test driver
   * with a custom XML file it sees the file's domains, not ones created since.
   */
  async migrateToUri(destUri: string, options: MigrateOptions): Promise<void> {
    const lv = this.#lv;
    this.#requireOpen();
    const what = `migrating domain '${this.name}' from ${this.#uri} to ${destUri}`;
    const flags = migrateFlags(options);
    let params: TypedParamIn[];
    try {
      params = migrateParams(options);
    } catch (error) {
      throw new CloudvampError('usage', `${what}: ${(error as Error).message}`);
    }

    const conn = lv.virConnectOpen(this.#uri);
    if (!conn) throw connectError(lv, this.#uri);
    let dom: DomainPtr | null = null;
    let dconn: ConnectPtr | null = null;
    try {
      dom = lv.virDomainLookupByUUIDString(conn, this.uuid);
      if (!dom) throw callError(lv, what);
      const source = dom;
      if (options.peerToPeer) {
        const result = await new Promise<number>((resolve, reject) =>
          lv.async.virDomainMigrateToURI3(source, destUri, params, params.length, flags, (err, res) => (err ? reject(err) : resolve(res))),
        );
        if (result < 0) throw connectionError(lv, conn, what);
      } else {
        dconn = lv.virConnectOpen(destUri);
        if (!dconn) throw connectError(lv, destUri, `${what}: `);
        const dest = dconn;
        const migrated = await new Promise<DomainPtr | null>((resolve, reject) =>
          lv.async.virDomainMigrate3(source, dest, params, params.length, flags, (err, res) => (err ? reject(err) : resolve(res))),
        );
        if (!migrated) throw connectionError(lv, conn, what);
        lv.virDomainFree(migrated);
      }
    } finally {
      if (dom) lv.virDomainFree(dom);
      if (dconn) lv.virConnectClose(dconn);
      lv.virConnectClose(conn);
    }
  }

  jobProgress(completed?: boolean): JobProgress {
    const lv = this.#lv;
    const type: Out<number> = [0];
    const out: Out<RawPtr | null> = [null];
    const nparams: Out<number> = [0];
    const result = lv.virDomainGetJobStats(this.#d, type, out, nparams, completed ? JOB_STATS_COMPLETED : 0);
    if (result < 0) this.#fail('getting job stats');
    const list = out[0];
    if (!list) return { type: type[0] };
    let values: Map<string, TypedValue>;
    try {
      values = decodeTypedParams(lv, list, nparams[0]);
    } finally {
      lv.virTypedParamsFree(list, nparams[0]);
    }
    const num = (field: string) => {
      const value = values.get(field);
      return typeof value === 'number' ? value : undefined;
    };
    const progress: JobProgress = { type: type[0] };
    const set = (key: Exclude<keyof JobProgress, 'type'>, value: number | undefined) => {
      if (value !== undefined) progress[key] = value;
    };
    set('timeElapsedMs', num('time_elapsed'));
    set('dataTotalBytes', num('data_total'));
    set('dataProcessedBytes', num('data_processed'));
    set('dataRemainingBytes', num('data_remaining'));
    // memory_dirty_rate counts pages per second; bytes need the page size.
    const dirtyPages = num('memory_dirty_rate');
    const pageSize = num('memory_page_size');
    set('memoryDirtyRateBytesPerSec', dirtyPages !== undefined && pageSize !== undefined ? dirtyPages * pageSize : undefined);
    set('downtimeMs', num('downtime'));
    return progress;
  }

  free(): void {
    if (!this.#dom) return;
    const dom = this.#dom;
    this.#dom = undefined;
    this.#lv.virDomainFree(dom);
  }
}

function statsMask(groups: StatsGroups | undefined): number {
  // 0 would mean "every group the driver has", which includes expensive ones
  // (block, perf); default to the five cloudvamp reads.
  const g = groups ?? { state: true, cpu: true, balloon: true, vcpu: true, interface: true };
  let mask = 0;
  if (g.state) mask |= StatsGroup.State;
  if (g.cpu) mask |= StatsGroup.CpuTotal;
  // the state tells which records may need their balloon filled in
  if (g.balloon) mask |= StatsGroup.Balloon | StatsGroup.State;
  if (g.vcpu) mask |= StatsGroup.Vcpu;
  if (g.interface) mask |= StatsGroup.Interface;
  return mask === 0 ? StatsGroup.State : mask;
}

/** Pure: typed parameters of one stats record → DomainStats. Exported for tests. */
export function toDomainStats(name: string, uuid: string, params: Map<string, TypedValue>): DomainStats {
  const num = (field: string) => {
    const value = params.get(field);
    return typeof value === 'number' ? value : undefined;
  };
  const balloon: BalloonStats = {};
  for (const [field, key] of Object.entries(BALLOON_FIELDS)) {
    const value = num(field);
    if (value !== undefined) balloon[key] = value;
  }
  const stats: DomainStats = {
    name,
    uuid,
    state: (num('state.state') ?? 0) as DomainState,
    stateReason: num('state.reason') ?? 0,
    balloon,
  };
  const cpuTime = num('cpu.time');
  const vcpus = num('vcpu.current');
  if (cpuTime !== undefined) stats.cpuTimeNs = cpuTime;
  if (vcpus !== undefined) stats.vcpus = vcpus;
  const maxVcpus = num('vcpu.maximum') ?? vcpus;
  if (maxVcpus !== undefined) {
    let delay = 0;
    let seen = false;
    for (let i = 0; i < maxVcpus; i++) {
      const d = num(`vcpu.${i}.delay`);
      if (d !== undefined) {
        delay += d;
        seen = true;
      }
    }
    if (seen) stats.vcpuDelayNs = delay;
  }
  const interfaces = num('net.count');
  if (interfaces !== undefined) {
    let rx = 0;
    let tx = 0;
    for (let i = 0; i < interfaces; i++) {
      rx += num(`net.${i}.rx.bytes`) ?? 0;
      tx += num(`net.${i}.tx.bytes`) ?? 0;
    }
    stats.netRxBytes = rx;
    stats.netTxBytes = tx;
  }
  return stats;
}

const isActive = (state: DomainState) => state !== DomainState.Shutoff && state !== DomainState.NoState;

/**
 * QEMU reports the balloon group in bulk for every active domain. A driver
 * that does not (libvirt 9.0's test driver implements only `state`) costs one
 * virDomainGetInfo per active domain, on the record's own domain pointer (no
 * lookup), for the balloon size and maximum; the guest's own view stays
 * absent. A domain that vanished meanwhile keeps an empty balloon: its memory
 * is unknown, which the accounting reports as such rather than as zero.
 */
function fillBalloonFromDomainInfo(lv: Libvirt, dom: RawPtr, stats: DomainStats): void {
  const out: Out<DomainInfoStruct> = [{} as DomainInfoStruct];
  if (lv.virDomainGetInfo(dom, out) < 0) {
    const error = callError(lv, `reading domain ${stats.name} (virDomainGetInfo)`);
    if (error.code === VirErrorCode.NoDomain) return;
    throw error;
  }
  const info = out[0];
  stats.balloon.currentKiB = Number(info.memory);
  stats.balloon.maximumKiB = Number(info.maxMem);
  stats.cpuTimeNs ??= Number(info.cpuTime);
}

function domainName(lv: Libvirt, dom: DomainPtr | RawPtr): string {
  const name = lv.virDomainGetName(dom);
  if (name === null) throw callError(lv, 'reading a domain name (virDomainGetName)');
  return name;
}

function domainUuid(lv: Libvirt, dom: DomainPtr | RawPtr): string {
  const buf = Buffer.alloc(UUID_STRING_BUFLEN);
  if (lv.virDomainGetUUIDString(dom, buf) < 0) throw callError(lv, 'reading a domain UUID (virDomainGetUUIDString)');
  return buf.toString('latin1', 0, UUID_STRING_BUFLEN - 1);
}

function readLastError(lv: Libvirt): { code: number; domain: number; message: string } {
  const ptr = lv.virGetLastError();
  if (!ptr) return { code: 0, domain: 0, message: 'unknown libvirt error (no error was recorded)' };
  return fromVirError(decodeAt<VirError>(ptr, 0, lv.types.virError));
}

function fromVirError(error: VirError): { code: number; domain: number; message: string } {
  return { code: error.code, domain: error.domain, message: error.message ?? `libvirt error ${error.code}` };
}

function isNoDomain(lv: Libvirt): boolean {
  return readLastError(lv).code === VirErrorCode.NoDomain;
}

function callError(lv: Libvirt, what: string): LibvirtError {
  const error = readLastError(lv);
  return new LibvirtError(`${what}: ${error.message}`, { code: error.code, domain: error.domain, libvirtMessage: error.message });
}

function connectError(lv: Libvirt, uri: string, context = ''): LibvirtError {
  const error = readLastError(lv);
  return new LibvirtError(`${context}cannot connect to libvirt at ${uri}: ${error.message} (is libvirtd running, and is the URI right?)`, {
    code: error.code,
    domain: error.domain,
    libvirtMessage: error.message,
  });
}

/** The error libvirt recorded on `conn`, for calls that ran on another thread. */
function connectionError(lv: Libvirt, conn: ConnectPtr, what: string): LibvirtError {
  const slot = allocVirError(lv);
  try {
    const found = lv.virConnCopyLastError(conn, slot) >= 0;
    const error = found
      ? fromVirError(decodeAt<VirError>(slot, 0, lv.types.virError))
      : { code: 0, domain: 0, message: 'unknown libvirt error (none recorded on the connection)' };
    return new LibvirtError(`${what}: ${error.message}`, { code: error.code, domain: error.domain, libvirtMessage: error.message });
  } finally {
    lv.virResetError(slot); // frees the copied strings
    freeC(slot);
  }
}
