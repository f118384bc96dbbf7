import { describe, expect, it } from 'vitest';
import type { OneClient } from '../../../lib/oned/client';
import type { OneVm } from '../../../lib/oned/models';
import { hostViewFromOne, MemoryActionApplier, memoryCommandArgv, OnedMigrator, vmViewFromOne } from '../../../lib/oned/elasticity-ports';
import { DEFAULT_MEMORY_COMMAND } from '../../../lib/elasticity/config';
import { vm } from '../elasticity/builders';

const oneVm = (over: Partial<OneVm> = {}): OneVm => ({
  id: 7, name: 'web', uid: 0, gid: 0, state: 3, lcmState: 3, deployId: 'one-7', lastPoll: 0,
  hostId: 2, hostname: 'kvm2', templateMemoryMiB: 4096, cpu: 1,
  userTemplate: { MEM_TOTAL: '4000000', MEM_FREE: '3000000', MEM_STAMP: '1700000000', MEM_OVER: '40', MIN_FREE_MEM: 'lots' },
  monitoring: { REALMEMORY: '2097152', GUEST_MEMTOTAL: '2000000', GUEST_MEMAVAILABLE: '1500000', TIMESTAMP: '1700000005' },
  ...over,
});

describe('oned → elasticity views', () => {
  it('maps a running VM: balloon size, probe keys, OneGate figures, overrides', () => {
    const problems: string[] = [];
    expect(vmViewFromOne(oneVm(), { applyMode: 'memory-action' }, problems)).toEqual({
      id: 7, name: 'web', uid: 0, hostId: 2, hostName: 'kvm2', deployId: 'one-7', running: true, pinned: false, cpu: 100,
      templateMemoryKiB: 4096 * 1024, currentKiB: 2097152,
      balloon: { availableKiB: 2000000, usableKiB: 1500000, updatedAt: 1700000005000 },
      onegate: { memTotalKiB: 4000000, memFreeKiB: 3000000, updatedAt: 1700000000000 },
      overrides: { memOverPercent: 40 },
    });
    expect(problems).toEqual(['VM 7: MIN_FREE_MEM=lots ignored: use a whole number of KiB']);
  });

  it("balloon figures are as old as libvirt's last refresh (BALLOON_LAST_UPDATE), not monitord's record time", () => {
    const frozen = oneVm({ monitoring: { ...oneVm().monitoring, BALLOON_LAST_UPDATE: '1699990000' } });
    expect(vmViewFromOne(frozen, { applyMode: 'memory-action' }).balloon?.updatedAt).toBe(1699990000000);
    // only the guest's own time proves stats refreshed after a balloon change (a deflate-on-OOM guest's MemTotal cannot)
    expect(vmViewFromOne(frozen, { applyMode: 'memory-action' }).balloon?.guestStamped).toBe(true);
    expect(vmViewFromOne(oneVm(), { applyMode: 'memory-action' }).balloon?.guestStamped).toBeUndefined();
    // the guest's pressure counters, sampled with the balloon stats; absent keys: no counters at all
    const paging = oneVm({ monitoring: { ...oneVm().monitoring, BALLOON_LAST_UPDATE: '1699990000', GUEST_SWAP_IN: '2048', GUEST_MAJOR_FAULTS: '31' } });
    expect(vmViewFromOne(paging, { applyMode: 'memory-action' }).counters).toEqual({ swapInKiB: 2048, majorFaults: 31, at: 1699990000000 });
    expect(vmViewFromOne(oneVm(), { applyMode: 'memory-action' }).counters).toBeUndefined();
  });

  it('CLOUDVAMP_PINNED=YES marks the VM pinned, as the planner reads it; only a MONITORED host is enabled (not INIT)', () => {
    expect(vmViewFromOne(oneVm({ userTemplate: { CLOUDVAMP_PINNED: ' yes ' } }), { applyMode: 'memory-action' }).pinned).toBe(true);
    const host = (state: number) =>
      hostViewFromOne({
        id: 2, name: 'kvm2', state, imMad: 'cloudvamp', vmMad: 'cloudvamp', clusterId: 0, cluster: 'default',
        hostShare: { memUsageKiB: 0, cpuUsage: 0, totalMemKiB: 20_000_000, totalCpu: 400, maxMemKiB: 20_000_000, maxCpu: 400, runningVms: 0 },
        vmIds: [], template: {}, monitoring: {},
      }).enabled;
    expect([0, 2, 3, 4, 8].map(host)).toEqual([false, true, false, false, false]);
  });

  it('resize mode takes TEMPLATE/MEMORY as the size; a powered-off VM holds no host memory', () => {
    expect(vmViewFromOne(oneVm(), { applyMode: 'resize' }).currentKiB).toBe(4096 * 1024);
    // the balloon's own size beside it, for figures taken while the balloon still moves there
    expect(vmViewFromOne(oneVm(), { applyMode: 'resize' }).balloonKiB).toBe(2097152);
    expect(vmViewFromOne(oneVm({ state: 8, lcmState: 0 }), { applyMode: 'memory-action' })).toMatchObject({ hostId: null, running: false });
  });

  it('hosts: physical memory from CLOUDVAMP_PHYSICALMEMORY, not the inflated TOTAL_MEM', () => {
    const h = hostViewFromOne({
      id: 2, name: 'kvm2', state: 2, imMad: 'cloudvamp', vmMad: 'cloudvamp', clusterId: 0, cluster: 'default',
      hostShare: { memUsageKiB: 0, cpuUsage: 0, totalMemKiB: 20_000_000, totalCpu: 400, maxMemKiB: 20_000_000, maxCpu: 400, runningVms: 0 },
      vmIds: [], template: { CLOUDVAMP_PHYSICALMEMORY: '16000000', RESERVED_MEM: '' }, monitoring: { freeMemoryKiB: 5_000_000 },
    });
    expect(h).toEqual({ id: 2, name: 'kvm2', clusterId: 0, enabled: true, cpu: 400, totalKiB: 16_000_000, freeKiB: 5_000_000, reserve: { reservedMem: '' }, drivers: { im: 'cloudvamp', vm: 'cloudvamp' } });
  });

  it('hosts: the reserve keys as the TEMPLATE holds them', () => {
    const h = hostViewFromOne({
      id: 2, name: 'kvm2', state: 2, imMad: 'cloudvamp', vmMad: 'cloudvamp', clusterId: 0, cluster: 'default',
      hostShare: { memUsageKiB: 0, cpuUsage: 0, totalMemKiB: 20_000_000, totalCpu: 400, maxMemKiB: 17_000_000, maxCpu: 400, runningVms: 0 },
      vmIds: [], template: { RESERVED_MEM: '3000000', CLOUDVAMP_RESERVED_MEM: '3000000', CLOUDVAMP_BASE_RESERVED_MEM: '5%' }, monitoring: {},
    });
    expect(h.reserve).toEqual({ reservedMem: '3000000', publishedReservedMem: '3000000', baseReservedMem: '5%' });
  });
});

describe('memory action', () => {
  it('builds the argv word by word (no shell string)', () => {
    expect(memoryCommandArgv(DEFAULT_MEMORY_COMMAND.split(' '), vm(3, { hostName: 'kvm1', deployId: 'one-3' }), 1048576)).toEqual([
      'ssh', '--', 'kvm1', '/var/tmp/one/vmm/cloudvamp/memory', 'one-3', '1048576', 'kvm1',
    ]);
    expect(() => memoryCommandArgv(['ssh', '{host}', '{kib}'], vm(3, { hostName: 'kvm1;rm -rf /' }), 1)).toThrow(/refusing/);
  });

  it('refuses a host or deploy id ssh or the action would read as an option', () => {
    for (const over of [{ hostName: '-oProxyCommand=touch$IFS/tmp/x' }, { hostName: '-v' }, { deployId: '--help' }])
      expect(() => memoryCommandArgv(DEFAULT_MEMORY_COMMAND.split(' '), vm(3, { hostName: 'kvm1', deployId: 'one-3', ...over }), 1)).toThrow(/leading '-'/);
    expect(memoryCommandArgv(['ssh', '{host}', '{kib}'], vm(3, { hostName: 'kvm-1', deployId: 'one-3' }), 1)).toEqual(['ssh', 'kvm-1', '1']);
  });

  it('runs it and turns a non-zero exit into a hypervisor error', async () => {
    const runs: string[][] = [];
    const ok = new MemoryActionApplier(['ssh', '{host}', 'memory', '{deploy_id}', '{kib}'], async (f, a) => (runs.push([f, ...a]), { exitCode: 0, stderr: '' }));
    await ok.setMemory(vm(1), 524288);
    expect(runs).toEqual([['ssh', 'host-0', 'memory', 'one-1', '524288']]);
    const bad = new MemoryActionApplier(['x', '{kib}'], async () => ({ exitCode: 1, stderr: 'balloon refused\n' }));
    await expect(bad.setMemory(vm(1), 1)).rejects.toMatchObject({ kind: 'hypervisor', message: expect.stringMatching(/exited 1: balloon refused$/) });
  });
});

describe('OnedMigrator', () => {
  const client = (states: Partial<OneVm>[]) => {
    const calls: unknown[] = [];
    let i = 0;
    const c = {
      vmMigrate: async (...a: unknown[]) => void calls.push(['migrate', ...a]),
      vmInfo: async () => oneVm(states[Math.min(i++, states.length - 1)]),
    } as unknown as OneClient;
    return { c, calls };
  };
  const wait = () => {
    let t = 0;
    return { now: () => t, sleep: async (ms: number) => void (t += ms) };
  };

  it('migrates live without enforce and waits until RUNNING on the destination', async () => {
    // the read before the call, then oned's: MIGRATE, then RUNNING on the destination's new record
    const { c, calls } = client([{ historySeq: 0 }, { lcmState: 4, hostId: 5, historySeq: 1 }, { lcmState: 3, hostId: 5, historySeq: 1, runningSince: 1 }]);
    await new OnedMigrator(c, 60_000, wait()).migrateLive(7, 5);
    expect(calls).toEqual([['migrate', 7, 5, { live: true, enforce: false }]]);
  });

  it('fails when the VM comes back RUNNING on the source, or on timeout', async () => {
    await expect(new OnedMigrator(client([{ historySeq: 0 }, { lcmState: 4, hostId: 5, historySeq: 1 }, { lcmState: 3, hostId: 2, historySeq: 2 }]).c, 60_000, wait()).migrateLive(7, 5)).rejects.toThrow('live migration of VM 7 to host 5 failed: it runs on host 2 again; see `onevm show 7`');
    await expect(new OnedMigrator(client([{ historySeq: 0 }, { lcmState: 4 }]).c, 10_000, wait()).migrateLive(7, 5)).rejects.toThrow(/not done after 10 s \(LCM_STATE 4\); check `onevm show 7` or raise MIGRATION_TIMEOUT$/);
  });
});
