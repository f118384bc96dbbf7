// Page sharing (KSM) and contention (PSI, vCPU run-queue delay) in the
// probes (#13 parts 1 and 2): parsers, collection from /proc and /sys, and
// the keys and TOTALMEMORY the reports print.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hostMemory } from '../../../lib/memory/accounting';
import { collectSnapshot } from '../../../lib/monitor/collect';
import { parseKsm, parsePsiSomeAvg60, parseVmKsm, qemuPidFile } from '../../../lib/monitor/procfs';
import { cpuSample, domainCpuDelay, hostSystemReport, vmMonitorReport } from '../../../lib/monitor/reports';
import type { HostSnapshot } from '../../../lib/monitor/snapshot';
import { domain, FakeHypervisor } from '../../support/fake-hypervisor';

const KSM: Record<string, string> = { run: '1\n', pages_shared: '1000\n', pages_sharing: '25600\n', pages_unshared: '5\n', general_profit: '100000000\n' };
const PSI = {
  cpu: 'some avg10=12.50 avg60=30.25 avg300=5.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n',
  memory: 'some avg10=0.00 avg60=1.50 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.50 avg300=0.00 total=0\n',
  io: 'some avg10=0.45 avg60=0.34 avg300=0.24 total=11996495\n',
};
const proc = (files: Record<string, string>) => (f: string) => files[f];
const hostFiles: Record<string, string> = {
  ...Object.fromEntries(Object.entries(KSM).map(([k, v]) => [`/sys/kernel/mm/ksm/${k}`, v])),
  '/proc/pressure/cpu': PSI.cpu,
  '/proc/pressure/memory': PSI.memory,
  '/proc/pressure/io': PSI.io,
  '/run/libvirt/qemu/one-1.pid': '4242\n',
  '/proc/4242/ksm_merging_pages': '2048\n',
  '/proc/4242/ksm_stat': 'ksm_rmap_items 10\nksm_zero_pages 0\nksm_merging_pages 2048\nksm_process_profit 8000000\n',
};
const keyOf = (t: ReturnType<typeof hostSystemReport>, k: string) => t.find(([key]) => key === k)?.[1];

describe('parsers', () => {
  it('KSM: state and savings; absent without KSM', () => {
    expect(parseKsm((n) => KSM[n])).toEqual({ run: 1, pagesShared: 1000, pagesSharing: 25600, pagesUnshared: 5, generalProfitBytes: 100000000 });
    expect(parseKsm(() => undefined)).toBeUndefined();
    expect(parseKsm((n) => (n === 'general_profit' ? undefined : KSM[n]))).not.toHaveProperty('generalProfitBytes');
    expect(parseVmKsm('12', 'ksm_process_profit -4096\n')).toEqual({ mergingPages: 12, profitBytes: -4096 });
    expect(parseVmKsm(undefined, undefined)).toBeUndefined();
  });
  it('KSM: pages merged into the zero page (use_zero_pages, Linux >= 6.10 counts them in ksm_zero_pages, not pages_sharing) are saved memory too', () => {
    // the kernel's ksm.rst: with use_zero_pages, pages_sharing + ksm_zero_pages is what KSM saved
    const zero: Record<string, string> = { ...KSM, ksm_zero_pages: '2560\n' };
    expect(parseKsm((n) => zero[n])).toMatchObject({ pagesSharing: 25600, zeroPages: 2560 });
    expect(keyOf(hostSystemReport(base({ ksm: parseKsm((n) => zero[n])! }), { overcommit: 1 }), 'KSM_SAVED_MEMORY')).toBe((25600 + 2560) * 4);
    expect(keyOf(hostSystemReport(base({ ksm: parseKsm((n) => zero[n])! }), { overcommit: 1, ksmOvercommit: 1 }), 'TOTALMEMORY')).toBe((1 << 24) + 1048576 + (25600 + 2560) * 4);
    // per VM: /proc/<pid>/ksm_merging_pages leaves them out too; ksm_stat has them
    expect(parseVmKsm('12', 'ksm_rmap_items 40\nksm_zero_pages 30\nksm_merging_pages 12\nksm_process_profit 4096\n')).toEqual({ mergingPages: 42, profitBytes: 4096 });
  });
  it('PSI: the avg60 of the some line', () => {
    expect([parsePsiSomeAvg60(PSI.cpu), parsePsiSomeAvg60(PSI.memory), parsePsiSomeAvg60('garbage'), parsePsiSomeAvg60(undefined)]).toEqual([30.25, 1.5, undefined, undefined]);
  });
  it("QEMU's pid file: /run/libvirt for qemu:///system, the socket's directory otherwise; odd names never become paths", () => {
    expect(qemuPidFile('qemu:///system', 'one-7')).toBe('/run/libvirt/qemu/one-7.pid');
    expect(qemuPidFile('qemu+unix:///system?socket=/run/cvk/h1/run/libvirt-sock', 'one-7')).toBe('/run/cvk/h1/run/qemu/one-7.pid');
    expect(qemuPidFile('qemu:///system', '../etc/x')).toBeUndefined();
    expect(qemuPidFile('qemu:///system', 'a b')).toBeUndefined();
  });
});

describe('collection (this machine\'s kernel only)', () => {
  it('reads host KSM, PSI and each VM\'s KSM figures through its QEMU pid', () => {
    const hv = new FakeHypervisor({ uri: 'qemu:///system', domains: [domain(1)] });
    const snap = collectSnapshot(hv, { domains: true, sharing: true }, { now: () => 0, readProc: proc(hostFiles) });
    expect(snap.ksm?.pagesSharing).toBe(25600);
    expect(snap.psi).toEqual({ cpu: 30.25, memory: 1.5, io: 0.34 });
    expect(snap.vmKsm).toEqual({ [domain(1).uuid]: { mergingPages: 2048, profitBytes: 8000000 } });
    const remote = collectSnapshot(new FakeHypervisor({ uri: 'qemu+ssh://n2/system', domains: [domain(1)] }), { domains: true, sharing: true }, { now: () => 0, readProc: proc(hostFiles) });
    expect([remote.ksm, remote.psi, remote.vmKsm]).toEqual([undefined, undefined, undefined]);
  });
});

const base = (over: Partial<HostSnapshot> = {}): HostSnapshot => ({
  uri: 'qemu:///system',
  takenAtMs: 10_000,
  node: { model: 'x86_64', memoryKiB: 1 << 24, cpus: 2, mhz: 2000, nodes: 1, sockets: 1, cores: 2, threads: 1 },
  nodeMemory: { totalKiB: 1 << 24, freeKiB: 1 << 23 },
  domains: [domain(1)], // 1 GiB borrowed
  ...over,
});

describe('host/system: KSM keys and TOTALMEMORY with KSM_OVERCOMMIT', () => {
  const ksm = { run: 1, pagesShared: 1000, pagesSharing: 25600, generalProfitBytes: 100000000 };
  it('reports what KSM saves; TOTALMEMORY follows it only when KSM_OVERCOMMIT > 0', () => {
    const off = hostSystemReport(base({ ksm }), { overcommit: 1 });
    expect(keyOf(off, 'KSM_SAVED_MEMORY')).toBe(102400);
    expect([keyOf(off, 'KSM_RUN'), keyOf(off, 'KSM_PAGES_SHARING'), keyOf(off, 'KSM_PAGES_SHARED'), keyOf(off, 'KSM_GENERAL_PROFIT')]).toEqual([1, 25600, 1000, 97656]);
    expect(keyOf(off, 'TOTALMEMORY')).toBe((1 << 24) + 1048576);
    const half = hostSystemReport(base({ ksm }), { overcommit: 1, ksmOvercommit: 0.5 });
    expect(keyOf(half, 'TOTALMEMORY')).toBe((1 << 24) + 1048576 + 51200);
    expect(keyOf(half, 'CLOUDVAMP_KSM_OVERCOMMIT')).toBe(0.5);
    expect(keyOf(hostSystemReport(base(), { overcommit: 1 }), 'KSM_SAVED_MEMORY')).toBeUndefined();
  });
  it('TOTALMEMORY = physical + floor(O × borrowed) + floor(O_KSM × KSM-saved), and 0 means the old figure', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 1000 }), (phys, saved, permille) => {
        const o = permille / 1000;
        const withKsm = hostMemory({ physicalKiB: phys, vms: [], overcommit: 1, ksmSavedKiB: saved, ksmOvercommit: o }).totalKiB;
        expect(withKsm).toBe(phys + Math.floor((permille * saved) / 1000));
        expect(hostMemory({ physicalKiB: phys, vms: [], overcommit: 1, ksmSavedKiB: saved }).totalKiB).toBe(phys);
      }),
    );
  });
  it('prints host PSI as CPU_PRESSURE, MEMORY_PRESSURE, IO_PRESSURE', () => {
    const t = hostSystemReport(base({ psi: { cpu: 30.25, memory: 1.5, io: 0 } }), { overcommit: 1 });
    expect([keyOf(t, 'CPU_PRESSURE'), keyOf(t, 'MEMORY_PRESSURE'), keyOf(t, 'IO_PRESSURE')]).toEqual([30.25, 1.5, 0]);
  });
});

describe('vm/monitor: CPU_DELAY, guest paging, KSM per VM', () => {
  it('CPU_DELAY is the share of vCPU time spent waiting to run since the previous run', () => {
    const d = domain(1, { vcpus: 2, vcpuDelayNs: 5e9 });
    const prev = { atMs: 0, domains: {}, delays: { [d.uuid]: 1e9 } };
    expect(domainCpuDelay(d, 10_000, prev)).toBe(20); // 4 s of 2 × 10 s
    expect(domainCpuDelay(d, 10_000, undefined)).toBeUndefined();
    expect(domainCpuDelay({ ...d, vcpuDelayNs: 0 }, 10_000, prev)).toBeUndefined(); // restarted
    expect(cpuSample(base({ domains: [d] })).delays).toEqual({ [d.uuid]: 5e9 });
  });
  it('prints them in each VM\'s MONITOR', () => {
    const d = domain(1, { vcpus: 1, vcpuDelayNs: 3e9, balloon: { currentKiB: 1, maximumKiB: 2, swapInKiB: 640, majorFaults: 12 } });
    const out = vmMonitorReport(base({ domains: [d], vmKsm: { [d.uuid]: { mergingPages: 256, profitBytes: 2048 } } }), { atMs: 0, domains: {}, delays: { [d.uuid]: 1e9 } });
    const vm = out[0]?.[1] as { entries: Array<[string, { template: Array<[string, unknown]> }]> };
    const keys = Object.fromEntries(vm.entries.find(([k]) => k === 'MONITOR')![1].template);
    expect(keys).toMatchObject({ GUEST_SWAP_IN: 640, GUEST_MAJOR_FAULTS: 12, CPU_DELAY: 20, KSM_MERGED_MEMORY: 1024, KSM_PROFIT: 2 });
  });
});

describe('the bulk vcpu group', () => {
  it('sums vcpu.<n>.delay over the vCPUs (libvirt >= 7.9); absent without the counters', async () => {
    const { toDomainStats } = await import('../../../lib/libvirt/client');
    const stats = toDomainStats('one-1', 'u', new Map<string, number>([['vcpu.current', 2], ['vcpu.maximum', 2], ['vcpu.0.delay', 100], ['vcpu.1.delay', 250], ['state.state', 1]]));
    expect(stats).toMatchObject({ vcpus: 2, vcpuDelayNs: 350 });
    expect(toDomainStats('one-1', 'u', new Map<string, number>([['vcpu.current', 2]]))).not.toHaveProperty('vcpuDelayNs');
  });
});

describe('the oned simulator accepts every per-VM key the probe prints', () => {
  // The simulator validates its replies against OpenNebula's XSDs and sets
  // aside only the listed out-of-schema MONITORING keys. A key the probe adds
  // without listing it there makes every infoextended reply invalid, and the
  // manager then never completes a cycle against the simulator (the real oned
  // stores whatever the probe sends).
  it('each MONITOR key is declared by vm.xsd or listed in OUT_OF_SCHEMA_MONITORING_KEYS', async () => {
    const { declaredMonitoringChildren, OUT_OF_SCHEMA_MONITORING_KEYS } = await import('../../support/oned-server');
    const d = domain(1, { vcpus: 1, vcpuDelayNs: 3e9, balloon: { currentKiB: 1, maximumKiB: 2, swapInKiB: 640, majorFaults: 12, lastUpdate: 5 } });
    const out = vmMonitorReport(base({ domains: [d], vmKsm: { [d.uuid]: { mergingPages: 256, profitBytes: 2048 } } }), { atMs: 0, domains: {}, delays: { [d.uuid]: 1e9 } });
    const vm = out[0]?.[1] as { entries: Array<[string, { template: Array<[string, unknown]> }]> };
    const keys = vm.entries.find(([k]) => k === 'MONITOR')![1].template.map(([k]) => k);
    expect(keys).toContain('CPU_DELAY');
    const declared = declaredMonitoringChildren('vm.xsd', 'VM');
    expect(keys.filter((k) => !declared.has(k) && !OUT_OF_SCHEMA_MONITORING_KEYS.has(k))).toEqual([]);
  });
});
