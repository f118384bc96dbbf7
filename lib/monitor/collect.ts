// The adapter side of a probe run: a fixed set of libvirt calls, whatever
// the number of domains, turned into a HostSnapshot.
import { DomainState, type BalloonStats, type DomainStats, type Hypervisor } from '../libvirt/types';
import { isLocalKernelUri, parseCpuModelName, parseNetDev } from './procfs';
import type { HostSnapshot } from './snapshot';

export interface CollectNeeds {
  node?: boolean;
  nodeMemory?: boolean;
  nodeCpu?: boolean;
  hostname?: boolean;
  domains?: boolean;
  net?: boolean;
  cpuModel?: boolean;
}

export interface CollectOptions {
  now: () => number;
  /** reads a /proc file; undefined when it cannot */
  readProc: (file: string) => string | undefined;
  /**
   * Per-domain balloon calls for domains whose bulk stats carry no balloon
   * group. QEMU always reports it for active domains, so on real hosts this
   * never runs; libvirt's test driver only implements the `state` group of
   * virConnectGetAllDomainStats, and needs it for any memory figure.
   */
  perDomainFallback?: boolean;
}

const VIR_ERR_NO_SUPPORT = 3;
const VIR_ERR_NO_DOMAIN = 42;
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

const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

const active = (s: DomainState) => s !== DomainState.Shutoff && s !== DomainState.NoState;

/**
 * Fills the balloon of one domain with per-domain calls. Returns undefined
 * when the domain vanished since the bulk call (it is then simply not on
 * the host any more; vm/status's SYNC_STATE reports it missing).
 */
function balloonOf(hv: Hypervisor, d: DomainStats): BalloonStats | undefined {
  let handle;
  try {
    handle = hv.domain(d.name); // by name: one lookup call (a UUID is tried as a name first)
    return defined({ ...defined(d.balloon), ...defined(handle.memoryStats()), maximumKiB: handle.maxMemoryKiB() });
  } catch (error) {
    if (codeOf(error) === VIR_ERR_NO_DOMAIN) return undefined;
    throw error;
  } finally {
    handle?.free();
  }
}

export function collectSnapshot(hv: Hypervisor, needs: CollectNeeds, opts: CollectOptions): HostSnapshot {
  const snap: HostSnapshot = { uri: hv.uri, takenAtMs: opts.now(), domains: [] };
  if (needs.domains) {
    const all = hv.getAllDomainStats({ state: true, balloon: true, cpu: true, interface: true });
    snap.takenAtMs = opts.now();
    for (const d of all) {
      // A record whose domain could not be named (it vanished while libvirt
      // gathered the stats) cannot be reported against any VM: leave it out.
      if (!d.name || !d.uuid) continue;
      if (d.balloon.currentKiB === undefined && active(d.state) && opts.perDomainFallback !== false) {
        const balloon = balloonOf(hv, d);
        if (!balloon) continue;
        snap.domains.push({ ...d, balloon });
      } else snap.domains.push(d);
    }
  }
  // OpenNebula VMs by id, then wild domains by name: stable output whatever order libvirt lists them in
  const id = (name: string) => (/^one-\d+$/.test(name) ? Number(name.slice(4)) : Number.POSITIVE_INFINITY);
  snap.domains.sort((a, b) => id(a.name) - id(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
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
    if (needs.cpuModel) {
      const text = opts.readProc('/proc/cpuinfo');
      const model = text === undefined ? undefined : parseCpuModelName(text);
      if (model) snap.cpuModelName = model;
    }
  }
  return snap;
}
