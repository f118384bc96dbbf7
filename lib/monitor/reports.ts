// Report builders: HostSnapshot (+ previous CPU sample, + config) in,
// OpenNebula template out. Pure; the probes print what these return.
import { DomainState, type DomainStats, type NodeCpuStats } from '../libvirt/types';
import { hostMemory, sumKiB, vmMemory, type VmMemory } from '../memory/accounting';
import type { CpuSample, HostSnapshot } from './snapshot';
import { carriable, template, vector, type Entry, type Template } from './template';

/**
 * OpenNebula's VM id from the libvirt domain name `one-<id>`; -1 for wild
 * domains. oned names domains with the canonical decimal id, so `one-007`,
 * `one-1e3` or an id beyond 2^53 (which a float would round to another VM's
 * id) are not OpenNebula VMs.
 */
export function vmIdOf(name: string): number {
  const m = /^one-(0|[1-9][0-9]*)$/.exec(name);
  const id = m ? Number(m[1]) : -1;
  return Number.isSafeInteger(id) ? id : -1;
}

export type OneVmState = 'RUNNING' | 'POWEROFF' | 'SUSPENDED' | 'FAILURE' | 'UNKNOWN';

// virDomainPausedReason values that matter here
const PAUSED_USER = 1;
const PAUSED_FAILED = new Set([5 /* I/O error */, 6 /* watchdog */, 10 /* crashed */, 13 /* post-copy failed */, 14 /* API error */]);

/** The libvirt → OpenNebula state mapping of the stock kvm probes (PROTOCOL.md §1.6.4). */
export function oneState(state: DomainState, reason: number): OneVmState {
  switch (state) {
    case DomainState.Running:
    case DomainState.Blocked:
    case DomainState.Shutdown:
      return 'RUNNING';
    case DomainState.Paused:
      if (reason === PAUSED_USER) return 'SUSPENDED';
      if (PAUSED_FAILED.has(reason)) return 'FAILURE';
      // migrating, saving, dumping, snapshotting, starting up: a passing pause
      return 'RUNNING';
    case DomainState.PmSuspended:
      return 'SUSPENDED';
    case DomainState.Crashed:
      return 'FAILURE';
    case DomainState.Shutoff:
      return 'POWEROFF';
    default:
      return 'UNKNOWN';
  }
}

/** The one-letter STATE of OpenNebula 4.x POLL strings. */
const LEGACY_STATE: Record<OneVmState, string> = { RUNNING: 'a', SUSPENDED: 'p', FAILURE: 'e', POWEROFF: 'd', UNKNOWN: '-' };

/**
 * Whether a domain has a live QEMU process, i.e. holds host memory and its
 * balloon can have given some back. Only these count towards borrowed memory.
 */
export function isRunning(state: DomainState): boolean {
  return state !== DomainState.Shutoff && state !== DomainState.Crashed && state !== DomainState.NoState;
}

/** The VM's memory figures, against the size oned believes it has where the VMM actions recorded it (snap.onedSizes). */
export const domainMemory = (d: DomainStats, snap: Pick<HostSnapshot, 'onedSizes'>): VmMemory => vmMemory(d.balloon, snap.onedSizes?.[d.uuid]);

// ---------------------------------------------------------------- CPU

const nodeCounters = (cpu: NodeCpuStats | undefined) => {
  if (!cpu || cpu.idleNs === undefined || (cpu.kernelNs === undefined && cpu.userNs === undefined)) return undefined;
  return { busyNs: (cpu.kernelNs ?? 0) + (cpu.userNs ?? 0), idleNs: cpu.idleNs + (cpu.iowaitNs ?? 0) };
};

/** The cumulative counters the next run needs. */
export function cpuSample(snap: HostSnapshot): CpuSample {
  const domains: Record<string, number> = {};
  const delays: Record<string, number> = {};
  for (const d of snap.domains) {
    if (d.cpuTimeNs !== undefined && d.uuid) domains[d.uuid] = d.cpuTimeNs;
    if (d.vcpuDelayNs !== undefined && d.uuid) delays[d.uuid] = d.vcpuDelayNs;
  }
  const node = nodeCounters(snap.nodeCpu);
  return { atMs: snap.takenAtMs, ...(node ? { node } : {}), domains, ...(Object.keys(delays).length > 0 ? { delays } : {}) };
}

/**
 * CPU_DELAY: percent of its vCPUs' time a domain spent waiting in the host's
 * run queue since the previous run (Σ vcpu.<n>.delay over wall time × vCPUs);
 * undefined on its first run or without the counters.
 */
export function domainCpuDelay(d: DomainStats, atMs: number, prev: CpuSample | undefined): number | undefined {
  const before = prev?.delays?.[d.uuid];
  if (d.vcpuDelayNs === undefined || before === undefined || prev === undefined || !d.vcpus) return undefined;
  const wallNs = (atMs - prev.atMs) * 1e6;
  if (wallNs <= 0 || d.vcpuDelayNs < before) return undefined;
  return Math.min(100, ((d.vcpuDelayNs - before) / (wallNs * d.vcpus)) * 100);
}

/**
 * Host CPU use in percent of one core, over [previous run, now]. Without a
 * usable previous sample (first run, counters reset) it is the average since
 * boot, which the cumulative counters give for free.
 */
export function hostCpu(snap: HostSnapshot, prev: CpuSample | undefined): { usedCpu: number; freeCpu: number } | undefined {
  const now = nodeCounters(snap.nodeCpu);
  if (!now || !snap.node) return undefined;
  const total = snap.node.cpus * 100;
  let busy = now.busyNs;
  let idle = now.idleNs;
  const before = prev?.node;
  if (before && now.busyNs >= before.busyNs && now.idleNs >= before.idleNs && now.busyNs + now.idleNs > before.busyNs + before.idleNs) {
    busy = now.busyNs - before.busyNs;
    idle = now.idleNs - before.idleNs;
  }
  if (busy + idle <= 0) return undefined;
  const usedCpu = Math.round((busy / (busy + idle)) * total);
  return { usedCpu, freeCpu: total - usedCpu };
}

/** A domain's CPU use in percent of one core since the previous run; undefined on its first run. */
export function domainCpu(d: DomainStats, atMs: number, prev: CpuSample | undefined): number | undefined {
  const before = prev?.domains[d.uuid];
  if (d.cpuTimeNs === undefined || before === undefined || prev === undefined) return undefined;
  const wallNs = (atMs - prev.atMs) * 1e6;
  if (wallNs <= 0 || d.cpuTimeNs < before) return undefined; // clock went back, or the domain restarted
  return ((d.cpuTimeNs - before) / wallNs) * 100;
}

// ---------------------------------------------------------------- memory

/** free = MemFree + Buffers + Cached (the classic `free` "-/+ buffers/cache" line); used = total − free. */
export function hostMemoryUse(snap: HostSnapshot): { usedKiB: number; freeKiB: number } | undefined {
  const m = snap.nodeMemory;
  if (!m) return undefined;
  const freeKiB = Math.min(m.totalKiB, sumKiB('FREEMEMORY', m.freeKiB, m.buffersKiB ?? 0, m.cachedKiB ?? 0));
  return { usedKiB: sumKiB('USEDMEMORY', m.totalKiB, -freeKiB), freeKiB };
}

/**
 * The host's physical memory: MemTotal of its /proc/meminfo, which libvirt's
 * virNodeGetMemoryStats returns as `total` (on the host libvirt runs on, so
 * also for a remote URI). That is what the stock kvm probes and CloudVAMP
 * report and what host/monitor's FREEMEMORY is a part of. virNodeGetInfo's
 * memory is not: libvirt may compute it from the NUMA nodes or a cgroup and
 * report far less (10.7 GB against a MemTotal of 24.7 GB on one test host),
 * which made TOTAL_MEM smaller than FREE_MEM. Only a driver without node
 * memory stats (the test driver) falls back to it.
 */
export function physicalMemoryKiB(snap: HostSnapshot): number {
  return snap.nodeMemory?.totalKiB ?? snap.node?.memoryKiB ?? 0;
}

/** Bytes per page for KSM's page counts (x86_64 and most arm64 kernels use 4 KiB pages). */
const PAGE_KIB = 4;

/**
 * Memory KSM saves on the host: every page sharing a merged one is a page not
 * backed twice, and so is every page merged into the zero page (use_zero_pages),
 * which the kernel counts apart in ksm_zero_pages.
 */
export const ksmSavedKiB = (snap: HostSnapshot): number | undefined => (snap.ksm ? (snap.ksm.pagesSharing + (snap.ksm.zeroPages ?? 0)) * PAGE_KIB : undefined);

export function borrowed(snap: HostSnapshot, opts: ReportOptions) {
  const physicalKiB = physicalMemoryKiB(snap);
  const vms = snap.domains.map((d) => ({ running: isRunning(d.state), memory: domainMemory(d, snap) }));
  return {
    physicalKiB,
    ...hostMemory({ physicalKiB, vms, overcommit: opts.overcommit, ksmSavedKiB: ksmSavedKiB(snap) ?? 0, ksmOvercommit: opts.ksmOvercommit ?? 0, maxRatio: opts.maxRatio ?? 0 }),
  };
}

// ---------------------------------------------------------------- reports

export interface ReportOptions {
  overcommit: number;
  /** O_KSM (KSM_OVERCOMMIT); 0 when absent */
  ksmOvercommit?: number;
  /** OVERCOMMIT_MAX_RATIO: TOTALMEMORY at most this × physical; 0 or absent: no ceiling */
  maxRatio?: number;
}

function hostSystemEntries(snap: HostSnapshot, opts: ReportOptions): Template {
  const mem = borrowed(snap, opts);
  const ksm = snap.ksm;
  return template([
    ['HYPERVISOR', 'kvm'],
    ['HOSTNAME', snap.hostname],
    ['ARCH', snap.node?.model],
    ['MODELNAME', snap.cpuModelName],
    ['TOTALCPU', snap.node ? snap.node.cpus * 100 : undefined],
    ['CPUSPEED', snap.node?.mhz],
    ['TOTALMEMORY', mem.totalKiB],
    ['PACKEDMEMORY', mem.borrowedKiB],
    ['CLOUDVAMP_PHYSICALMEMORY', mem.physicalKiB],
    ['CLOUDVAMP_OVERCOMMIT', opts.overcommit],
    ['CLOUDVAMP_OVERCOMMIT_MAX_RATIO', opts.maxRatio ?? 0],
    // page sharing (KSM): what it saves, offered only at KSM_OVERCOMMIT > 0
    ['KSM_RUN', ksm?.run],
    ['KSM_SAVED_MEMORY', ksmSavedKiB(snap)],
    ['KSM_PAGES_SHARING', ksm?.pagesSharing],
    ['KSM_PAGES_SHARED', ksm?.pagesShared],
    ['KSM_ZERO_PAGES', ksm?.zeroPages],
    ['KSM_GENERAL_PROFIT', ksm?.generalProfitBytes === undefined ? undefined : Math.floor(ksm.generalProfitBytes / 1024)],
    ['CLOUDVAMP_KSM_OVERCOMMIT', ksm ? (opts.ksmOvercommit ?? 0) : undefined],
    // contention: pressure stall information, percent of the last 60 s some task waited (SCHED_RANK = "- CPU_PRESSURE")
    ['CPU_PRESSURE', snap.psi?.cpu],
    ['MEMORY_PRESSURE', snap.psi?.memory],
    ['IO_PRESSURE', snap.psi?.io],
  ]);
}

function hostMonitorEntries(snap: HostSnapshot, prev: CpuSample | undefined): Template {
  const mem = hostMemoryUse(snap);
  const cpu = hostCpu(snap, prev);
  return template([
    ['USEDMEMORY', mem?.usedKiB],
    ['FREEMEMORY', mem?.freeKiB],
    ['USEDCPU', cpu?.usedCpu],
    ['FREECPU', cpu?.freeCpu],
    ['NETRX', snap.net?.rxBytes],
    ['NETTX', snap.net?.txBytes],
  ]);
}

/** SYSTEM_HOST: the only path for TOTALMEMORY, so the borrowed memory is reported here. Wild domains are listed as OpenNebula does. */
export function hostSystemReport(snap: HostSnapshot, opts: ReportOptions): Template {
  const wild: Entry[] = snap.domains
    .filter((d) => vmIdOf(d.name) < 0)
    .map((d) => ['VM', vector([['ID', -1], ['DEPLOY_ID', d.uuid], ['VM_NAME', d.name]])]);
  return [...hostSystemEntries(snap, opts), ...wild];
}

/** MONITOR_HOST: monitord keeps only its whitelisted keys, so nothing CloudVAMP-specific here. */
export const hostMonitorReport = (snap: HostSnapshot, prev: CpuSample | undefined): Template => hostMonitorEntries(snap, prev);

/** STATE_VM: every OpenNebula VM on the host, always as a full list. */
export function vmStatusReport(snap: HostSnapshot): Template {
  const vms: Entry[] = snap.domains
    .filter((d) => vmIdOf(d.name) >= 0)
    .map((d) => ['VM', vector([['ID', vmIdOf(d.name)], ['DEPLOY_ID', d.uuid], ['STATE', oneState(d.state, d.stateReason)]])]);
  return [['SYNC_STATE', 'yes'], ['MISSING_STATE', 'POWEROFF'], ...vms];
}

/** The per-VM keys, shared by the modern MONITOR and the legacy POLL. */
function vmKeys(d: DomainStats, snap: HostSnapshot, prev: CpuSample | undefined, legacy: boolean): Template {
  const cpu = domainCpu(d, snap.takenAtMs, prev);
  const ksm = snap.vmKsm?.[d.uuid];
  const m = domainMemory(d, snap);
  const mem = (n: number) => (m.known ? n : undefined);
  return template([
    legacy ? ['STATE', LEGACY_STATE[oneState(d.state, d.stateReason)]] : undefined,
    [legacy ? 'USEDCPU' : 'CPU', cpu],
    legacy ? undefined : ['MEMORY', mem(m.usedKiB)],
    legacy ? ['USEDMEMORY', mem(m.usedKiB)] : undefined,
    ['NETRX', d.netRxBytes],
    ['NETTX', d.netTxBytes],
    legacy ? undefined : ['USEDMEMORY', mem(m.usedKiB)],
    ['MAXMEMORY', mem(m.maxKiB)],
    ['REALMEMORY', mem(m.realKiB)],
    ['PACKEDMEMORY', mem(m.packedKiB)],
    ['GUEST_MEMTOTAL', m.guest.availableKiB],
    ['GUEST_MEMFREE', m.guest.unusedKiB],
    ['GUEST_MEMAVAILABLE', m.guest.usableKiB],
    ['GUEST_DISKCACHES', m.guest.diskCachesKiB],
    ['BALLOON_LAST_UPDATE', d.balloon.lastUpdate],
    // for the manager: the guest's own paging (cumulative), a sign of starvation before MemFree says so
    ['GUEST_SWAP_IN', d.balloon.swapInKiB],
    ['GUEST_MAJOR_FAULTS', d.balloon.majorFaults],
    ['CPU_DELAY', domainCpuDelay(d, snap.takenAtMs, prev)],
    ['KSM_MERGED_MEMORY', ksm ? ksm.mergingPages * PAGE_KIB : undefined],
    ['KSM_PROFIT', ksm?.profitBytes === undefined ? undefined : Math.floor(ksm.profitBytes / 1024)],
  ].filter((e): e is [string, number | string | undefined] => e !== undefined));
}

/** MONITOR_VM: one `VM=[ID, DEPLOY_ID, MONITOR=base64]` per OpenNebula VM (monitord drops wild ones). */
export function vmMonitorReport(snap: HostSnapshot, prev: CpuSample | undefined): Template {
  return snap.domains
    .filter((d) => vmIdOf(d.name) >= 0)
    .map((d): Entry => [
      'VM',
      vector([
        ['ID', vmIdOf(d.name)],
        ['DEPLOY_ID', d.uuid],
        ['MONITOR', { kind: 'base64', template: vmKeys(d, snap, prev, false) }],
      ]),
    ]);
}

/**
 * The OpenNebula 4.x single-probe document CloudVAMP 2015 printed: host keys,
 * then `VM_POLL=YES` and a `VM=[ID, DEPLOY_ID=<name>, POLL="…"]` block per domain.
 */
export function legacyReport(snap: HostSnapshot, prev: CpuSample | undefined, opts: ReportOptions): Template {
  // 4.x names a VM by its domain name (DEPLOY_ID): a wild domain whose name oned
  // cannot read back is left out rather than reported under a wrong name
  const named = snap.domains.filter((d) => vmIdOf(d.name) >= 0 || carriable(d.name));
  const vms: Entry[] = named.map((d) => {
    const id = vmIdOf(d.name);
    return [
      'VM',
      vector(
        [
          ['ID', id],
          ['DEPLOY_ID', d.name],
          ['VM_NAME', id < 0 ? d.name : undefined],
          ['POLL', { kind: 'poll', template: vmKeys(d, snap, prev, true) }],
        ],
        true,
      ),
    ];
  });
  return [...hostSystemEntries(snap, opts), ...hostMonitorEntries(snap, prev), ['VM_POLL', 'YES'], ...vms];
}
