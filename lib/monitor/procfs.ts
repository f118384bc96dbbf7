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
