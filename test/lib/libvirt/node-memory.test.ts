// virNodeMemoryStats needs a driver that reads the real host (/proc/meminfo);
// the test driver has none, so this runs a private session-mode QEMU libvirtd.

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openHypervisor } from '../../../lib/libvirt/client.js';
import { type PrivateLibvirtd, startPrivateQemuSessionLibvirtd } from '../../support/private-libvirtd.js';
import { virsh, virshFields } from './virsh.js';

let daemon: PrivateLibvirtd;
beforeAll(async () => {
  daemon = await startPrivateQemuSessionLibvirtd();
}, 20_000);
afterAll(() => daemon?.stop());

it('virNodeMemoryStats matches virsh nodememstats and /proc/meminfo', () => {
  const hv = openHypervisor(daemon.uri());
  try {
    const ours = hv.nodeMemoryStats();
    const ref = virshFields(virsh(daemon.uri(), 'nodememstats'), /\s*:\s+/);
    const kib = (key: string) => Number.parseInt(ref.get(key) ?? '', 10);
    const memTotal = Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]);

    expect(ours.totalKiB).toBe(kib('total'));
    expect(ours.totalKiB).toBe(memTotal);
    // free/buffers/cached move between the two reads; a misread field would be
    // off by orders of magnitude, not by a few percent.
    const slack = ours.totalKiB * 0.05;
    expect(Math.abs(ours.freeKiB - kib('free'))).toBeLessThan(slack);
    expect(Math.abs((ours.buffersKiB ?? -1) - kib('buffers'))).toBeLessThan(slack);
    expect(Math.abs((ours.cachedKiB ?? -1) - kib('cached'))).toBeLessThan(slack);
    expect(ours.freeKiB).toBeLessThanOrEqual(ours.totalKiB);
  } finally {
    hv.close();
  }
});

it('virNodeCPUStats on a real host: cumulative nanoseconds that only grow', () => {
  const hv = openHypervisor(daemon.uri());
  try {
    const first = hv.nodeCpuStats();
    const second = hv.nodeCpuStats();
    expect(first).toEqual({ kernelNs: expect.any(Number), userNs: expect.any(Number), idleNs: expect.any(Number), iowaitNs: expect.any(Number) });
    expect(second?.idleNs).toBeGreaterThanOrEqual(first?.idleNs ?? Infinity);
    const ref = virshFields(virsh(daemon.uri(), 'nodecpustats'), /:\s+/);
    // virsh prints the same counters; a second later they differ by at most ~2 cores x 1 s.
    expect(Math.abs((second?.userNs ?? 0) - Number(ref.get('user')))).toBeLessThan(5e9);
  } finally {
    hv.close();
  }
});
