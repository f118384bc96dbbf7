// Host facts libvirt does not give, read from /proc (reading a file, not a
// child process). Parsers are pure; only used when the libvirt URI is this
// machine's own kernel.

/** Σ receive/transmit bytes over /proc/net/dev, loopback excluded (its traffic never leaves the host). */
export function parseNetDev(text: string): { rxBytes: number; txBytes: number } | undefined {
  let rxBytes = 0;
  let txBytes = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const f = (m[2] as string).trim().split(/\s+/).map(Number);
    if (f.length < 9 || f.some((n) => !Number.isFinite(n))) continue;
    rxBytes += f[0] as number;
    txBytes += f[8] as number;
    seen = true;
  }
  return seen ? { rxBytes, txBytes } : undefined;
}

/** The first `model name` of /proc/cpuinfo (x86); undefined elsewhere. */
export function parseCpuModelName(text: string): string | undefined {
  const m = /^model name\s*:\s*(.+)$/m.exec(text);
  return m ? (m[1] as string).trim() : undefined;
}

/**
 * Whether `uri` drives this machine's own kernel (qemu:///system, qemu+unix:///system…),
 * so /proc describes the same host. The test driver and remote URIs do not.
 */
export function isLocalKernelUri(uri: string): boolean {
  const m = /^([a-z0-9]+)(?:\+([a-z0-9]+))?:\/\/([^/?]*)\//i.exec(uri);
  if (!m) return false;
  const [, driver, transport, host] = m;
  return /^(qemu|kvm)$/i.test(driver as string) && (transport === undefined || /^unix$/i.test(transport)) && host === '';
}

/** Host-wide KSM (/sys/kernel/mm/ksm/*), the files the probe reads. */
export const KSM_FILES = ['run', 'pages_shared', 'pages_sharing', 'pages_unshared', 'general_profit', 'ksm_zero_pages'] as const;

export interface KsmState {
  /** 0 stopped, 1 running, 2 stopped and unmerged */
  run: number;
  /** distinct merged pages kept */
  pagesShared: number;
  /** sites sharing them: the pages KSM saved */
  pagesSharing: number;
  pagesUnshared?: number;
  /**
   * pages KSM merged into the kernel's zero page (use_zero_pages; Linux >= 6.10
   * counts them here and not in pages_sharing): saved as well
   */
  zeroPages?: number;
  /** bytes saved minus the cost of KSM's own metadata (Linux ≥ 6.1); may be negative */
  generalProfitBytes?: number;
}

const intOf = (text: string | undefined): number | undefined => {
  const t = text?.trim();
  return t !== undefined && /^-?\d+$/.test(t) ? Number(t) : undefined;
};

/** KSM's state from its sysfs files (name → content); undefined where the kernel has no KSM. */
export function parseKsm(read: (name: (typeof KSM_FILES)[number]) => string | undefined): KsmState | undefined {
  const run = intOf(read('run'));
  const pagesShared = intOf(read('pages_shared'));
  const pagesSharing = intOf(read('pages_sharing'));
  if (run === undefined || pagesShared === undefined || pagesSharing === undefined) return undefined;
  const ksm: KsmState = { run, pagesShared, pagesSharing };
  const unshared = intOf(read('pages_unshared'));
  const profit = intOf(read('general_profit'));
  const zero = intOf(read('ksm_zero_pages'));
  if (unshared !== undefined) ksm.pagesUnshared = unshared;
  if (zero !== undefined) ksm.zeroPages = zero;
  if (profit !== undefined) ksm.generalProfitBytes = profit;
  return ksm;
}

/** Per process (/proc/<pid>/ksm_merging_pages and ksm_stat, Linux ≥ 6.1): pages of this VM KSM merged, and its profit. */
export interface VmKsm {
  /** ksm_merging_pages + the process's ksm_zero_pages (merged into the zero page, which ksm_merging_pages leaves out) */
  mergingPages: number;
  profitBytes?: number;
}

export function parseVmKsm(mergingPages: string | undefined, ksmStat: string | undefined): VmKsm | undefined {
  const merging = intOf(mergingPages);
  if (merging === undefined) return undefined;
  const pages = merging + (intOf(/^ksm_zero_pages\s+(\d+)$/m.exec(ksmStat ?? '')?.[1]) ?? 0);
  const profit = intOf(/^ksm_process_profit\s+(-?\d+)$/m.exec(ksmStat ?? '')?.[1]);
  return profit === undefined ? { mergingPages: pages } : { mergingPages: pages, profitBytes: profit };
}

/** Pressure stall information: share of time some task stalled on the resource, average over 60 s (percent). */
export function parsePsiSomeAvg60(text: string | undefined): number | undefined {
  const m = /^some\b.*\bavg60=(\d+(?:\.\d+)?)/m.exec(text ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * Where libvirt keeps a domain's QEMU pid file: `<run dir>/qemu/<name>.pid`,
 * the run dir being /run/libvirt for qemu:///system, or the directory of the
 * daemon socket named in the URI (`?socket=/run/x/libvirt-sock`).
 */
export function qemuPidFile(uri: string, domainName: string): string | undefined {
  if (!/^[A-Za-z0-9_.+-]+$/.test(domainName) || domainName.startsWith('.')) return undefined;
  const socket = /[?&]socket=([^&]+)/.exec(uri)?.[1];
  const runDir = socket ? decodeURIComponent(socket).replace(/\/[^/]*$/, '') : '/run/libvirt';
  return `${runDir}/qemu/${domainName}.pid`;
}
