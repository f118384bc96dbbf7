// The adapter side of a probe run: a fixed set of libvirt calls, whatever
// the number of domains, turned into a HostSnapshot.
import type { DomainStats, Hypervisor } from '../libvirt/types';
import { METADATA_URI, parseSizeMetadata } from '../memory/oned-size';
import { isLocalKernelUri, parseCpuModelName, parseKsm, parseNetDev, parsePsiSomeAvg60, parseVmKsm, qemuPidFile, type VmKsm } from './procfs';
import { vmIdOf } from './reports';
import type { HostSnapshot } from './snapshot';

export interface CollectNeeds {
  node?: boolean;
  nodeMemory?: boolean;
  nodeCpu?: boolean;
  hostname?: boolean;
  domains?: boolean;
  net?: boolean;
  cpuModel?: boolean;
  /** the size oned believes each ballooned domain has (domain metadata) */
  onedSizes?: boolean;
  /** vCPU run-queue delays in the bulk stats */
  vcpu?: boolean;
  /** host KSM and pressure stall information, per-VM KSM */
  sharing?: boolean;
}

export interface CollectOptions {
  now: () => number;
  /** reads a /proc file; undefined when it cannot */
  readProc: (file: string) => string | undefined;
}

const VIR_ERR_NO_SUPPORT = 3;
const codeOf = (error: unknown): number | undefined => {
  const c = (error as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
};

/** undefined when the driver does not implement the call (e.g. virNodeGetMemoryStats on the test driver). */
function unlessUnsupported<T>(call: () => T | undefined): T | undefined {
  try {
    return call();
  } catch (error) {
    if (codeOf(error) === VIR_ERR_NO_SUPPORT) return undefined;
    throw error;
  }
}

export function collectSnapshot(hv: Hypervisor, needs: CollectNeeds, opts: CollectOptions): HostSnapshot {
  const snap: HostSnapshot = { uri: hv.uri, takenAtMs: opts.now(), domains: [] };
  if (needs.domains) {
    const all = hv.getAllDomainStats({ state: true, balloon: true, cpu: true, interface: true, ...(needs.vcpu ? { vcpu: true } : {}) });
    snap.takenAtMs = opts.now();
    for (const d of all) {
      // A record whose domain could not be named (it vanished while libvirt
      // gathered the stats) cannot be reported against any VM: leave it out.
      if (!d.name || !d.uuid) continue;
      snap.domains.push(d);
    }
  }
  // OpenNebula VMs by id, then wild domains by name: stable output whatever order libvirt lists them in
  const id = (name: string) => (vmIdOf(name) >= 0 ? vmIdOf(name) : Number.POSITIVE_INFINITY);
  snap.domains.sort((a, b) => id(a.name) - id(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (needs.onedSizes) snap.onedSizes = onedSizes(hv, snap.domains);
  if (needs.node) snap.node = hv.nodeInfo();
  if (needs.nodeMemory) {
    const m = unlessUnsupported(() => hv.nodeMemoryStats());
    if (m) snap.nodeMemory = m;
  }
  if (needs.nodeCpu) {
    const c = unlessUnsupported(() => hv.nodeCpuStats());
    if (c) snap.nodeCpu = c;
  }
  if (needs.hostname) snap.hostname = hv.hostname();
  if (isLocalKernelUri(hv.uri)) {
    if (needs.net) {
      const text = opts.readProc('/proc/net/dev');
      const net = text === undefined ? undefined : parseNetDev(text);
      if (net) snap.net = net;
    }
    if (needs.sharing) {
      const ksm = parseKsm((name) => opts.readProc(`/sys/kernel/mm/ksm/${name}`));
      if (ksm) snap.ksm = ksm;
      const psi = {
        cpu: parsePsiSomeAvg60(opts.readProc('/proc/pressure/cpu')),
        memory: parsePsiSomeAvg60(opts.readProc('/proc/pressure/memory')),
        io: parsePsiSomeAvg60(opts.readProc('/proc/pressure/io')),
      };
      if (psi.cpu !== undefined || psi.memory !== undefined || psi.io !== undefined) snap.psi = psi;
      if (ksm) snap.vmKsm = vmKsm(hv.uri, snap.domains, opts.readProc);
    }
    if (needs.cpuModel) {
      const text = opts.readProc('/proc/cpuinfo');
      const model = text === undefined ? undefined : parseCpuModelName(text);
      if (model) snap.cpuModelName = model;
    }
  }
  return snap;
}

/**
 * The sizes the VMM actions recorded in the domains' metadata. Only domains
 * whose balloon is below their maximum can have borrowed anything, so only
 * those are looked up: two calls per ballooned domain, none for the rest. A
 * domain that vanished or whose record cannot be read keeps the old
 * definition (max − balloon) rather than failing the whole probe.
 */
function onedSizes(hv: Hypervisor, domains: readonly DomainStats[]): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const d of domains) {
    const { currentKiB, maximumKiB } = d.balloon;
    if (currentKiB === undefined || maximumKiB === undefined || currentKiB >= maximumKiB) continue;
    try {
      const dom = hv.domain(d.uuid);
      try {
        const size = parseSizeMetadata(dom.metadata(METADATA_URI));
        if (size !== undefined) sizes[d.uuid] = size;
      } finally {
        dom.free();
      }
    } catch (error) {
      if (codeOf(error) === undefined) throw error; // not a libvirt error: a bug, not a vanished domain
    }
  }
  return sizes;
}

/** Each running domain's KSM figures from its QEMU process (pid from libvirt's pid file). */
function vmKsm(uri: string, domains: readonly DomainStats[], readProc: CollectOptions['readProc']): Record<string, VmKsm> {
  const out: Record<string, VmKsm> = {};
  for (const d of domains) {
    const pidFile = qemuPidFile(uri, d.name);
    const pid = pidFile === undefined ? undefined : readProc(pidFile)?.trim();
    if (!pid || !/^\d+$/.test(pid)) continue;
    const k = parseVmKsm(readProc(`/proc/${pid}/ksm_merging_pages`), readProc(`/proc/${pid}/ksm_stat`));
    if (k) out[d.uuid] = k;
  }
  return out;
}
