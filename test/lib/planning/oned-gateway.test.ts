// OnedClusterGateway against the in-process oned simulator (every reply
// validated against OpenNebula's XSDs), and its migration wait against a
// scripted client for the states the simulator does not model (a migration in
// progress, one that fails after oned accepted it).
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createOneClient, type OneClient } from '../../../lib/oned/client';
import { parseVm, type OneHost, type OneVm } from '../../../lib/oned/models';
import { checkPlan } from '../../../lib/planning/checker';
import { makePlan } from '../../../lib/planning/make-plan';
import { defaultConstraints } from '../../../lib/planning/model';
import { clusterFromOne, hostsForRequirements, OnedClusterGateway } from '../../../lib/planning/oned-gateway';
import { balance } from '../../../lib/planning/strategies/balance';
import { consolidate } from '../../../lib/planning/strategies/consolidate';
import { DEFAULT_SESSION, ONED_FIXTURE_DIR, startOnedSimulator, type OnedSimulator } from '../../support/oned-server';
import { PLANNING_HOST_FIXTURES, PLANNING_VM_FIXTURES } from './oned-fixtures';

const noWait = { sleep: async () => {}, now: () => 0, timeoutMs: 60_000 };

describe('OnedClusterGateway on the oned simulator', () => {
  let sim: OnedSimulator;
  let client: OneClient;
  let gateway: OnedClusterGateway;
  beforeEach(async () => {
    sim = await startOnedSimulator({ strictSchemas: true, hostFixtures: PLANNING_HOST_FIXTURES, vmFixtures: PLANNING_VM_FIXTURES });
    client = createOneClient({ endpoint: sim.url, session: DEFAULT_SESSION });
    gateway = new OnedClusterGateway(client, noWait);
  });
  afterEach(async () => {
    expect(sim.schemaViolations).toEqual([]);
    await sim.close();
  });

  it('maps hosts: physical memory from CLOUDVAMP_PHYSICALMEMORY else TOTAL_MEM, CPU from TOTAL_CPU, DISABLED receives nothing', async () => {
    const { cluster } = await gateway.readCluster();
    expect(cluster.hosts).toEqual([
      // the probe's physical 16393216 KiB, not TOTAL_MEM (17441792 KiB, inflated by borrowed memory)
      { id: 0, name: 'kvm-node-1', memMiB: 16009, cpu: 800, enabled: true },
      // no cloudvamp probe on this host: TOTAL_MEM
      { id: 1, name: 'kvm-node-2', memMiB: 7949, cpu: 400, enabled: true },
      // TOTAL_MEM is 18176 MiB, inflated by what the balloons borrowed; the physical 16 GiB counts
      { id: 2, name: 'kvm-node-3', memMiB: 16384, cpu: 800, enabled: true },
      { id: 3, name: 'kvm-node-4', memMiB: 32768, cpu: 400, enabled: false },
    ]);
    sim.setHostTemplate(1, { CLOUDVAMP_PHYSICALMEMORY: 4194304 });
    expect((await gateway.fetchCluster()).hosts[1]).toMatchObject({ id: 1, memMiB: 4096 });
  });

  it('maps running VMs: demand USEDMEMORY, else REALMEMORY, else TEMPLATE/MEMORY; CPU × 100; host from the last HISTORY', async () => {
    // A fresh monitoring record (what one.vmpool.monitoring returns) wins over the pool body.
    sim.setVmMonitoring(42, { USEDMEMORY: 1572864, REALMEMORY: 1048576 });
    sim.setVmMonitoring(46, { REALMEMORY: 1572864 });
    const { cluster, pinnedVms, notes } = await gateway.readCluster();
    expect(cluster.vms).toEqual([
      { id: 42, name: 'web-1', memMiB: 1536, cpu: 100, imageIds: [0] }, // USEDMEMORY
      { id: 43, name: 'db-1', memMiB: 4096, cpu: 200, imageIds: [0] }, // no cloudvamp keys: TEMPLATE/MEMORY
      { id: 45, name: 'app-1', memMiB: 2304, cpu: 100, imageIds: [0] }, // USEDMEMORY (RSS above the 2 GiB balloon), not MEMORY 4096
      { id: 46, name: 'app-2', memMiB: 1536, cpu: 100, imageIds: [0] }, // REALMEMORY only
      { id: 47, name: 'app-3', memMiB: 1024, cpu: 50, imageIds: [0] },
    ]);
    // 44 is POWEROFF: it holds no memory on kvm-node-1 and is left out.
    expect([...cluster.placement]).toEqual([[42, 0], [43, 1], [45, 2], [46, 2], [47, 2]]);
    expect(pinnedVms).toEqual([]);
    expect(notes).toEqual([]);
  });

  it('pins VMs whose USER_TEMPLATE says CLOUDVAMP_PINNED=YES', async () => {
    await client.vmUpdate(43, { CLOUDVAMP_PINNED: 'YES' }, 'merge');
    await client.vmUpdate(45, { CLOUDVAMP_PINNED: 'no' }, 'merge');
    const { pinnedVms, notes } = await gateway.readCluster();
    expect(pinnedVms).toEqual([43]);
    expect(notes).toEqual(['pinned by CLOUDVAMP_PINNED=YES: VMs 43']);
  });

  it('reads VM groups and simple SCHED_REQUIREMENTS as placement rules that every plan keeps', async () => {
    sim.addVmGroup({
      id: 0,
      name: 'shop',
      roles: [
        { name: 'app', policy: 'ANTI_AFFINED', vms: [42, 45] },
        { name: 'db', vms: [43], hostAntiAffined: [0] },
        { name: 'idle' },
      ],
      antiAffined: [['db', 'app']],
    });
    await client.vmUpdate(47, { SCHED_REQUIREMENTS: 'ID = 2 | NAME = "kvm-node-2"' }, 'merge');
    await client.vmUpdate(46, { SCHED_REQUIREMENTS: 'FREE_CPU > 50' }, 'merge');
    const { cluster, pinnedVms, notes } = await gateway.readCluster();
    expect(cluster.rules).toEqual([
      { kind: 'anti-affined', name: 'VM group 0 (shop) role app', vms: [42, 45] },
      { kind: 'host-anti-affined', name: 'VM group 0 (shop) role db', vms: [43], hosts: [0] },
      { kind: 'anti-affined', name: 'VM group 0 (shop) ANTI_AFFINED db,app', vms: [43, 42] },
      { kind: 'anti-affined', name: 'VM group 0 (shop) ANTI_AFFINED db,app', vms: [43, 45] },
      { kind: 'host-affined', name: 'VM 47 SCHED_REQUIREMENTS', vms: [47], hosts: [1, 2] },
    ]);
    expect(pinnedVms).toEqual([46]);
    expect(notes).toEqual(['SCHED_REQUIREMENTS the planner cannot evaluate (only ID, NAME or CLUSTER_ID equalities joined by |), kept where they are: VMs 46']);
    const constraints = { ...defaultConstraints, pinnedVms };
    for (const strategy of [consolidate, balance]) {
      const plan = makePlan(cluster, strategy, strategy.defaults, constraints);
      expect(plan.infeasible).toBeUndefined();
      expect(checkPlan(cluster, plan, constraints, plan.target)).toEqual([]);
      expect(plan.target.get(42)).not.toBe(plan.target.get(45));
      expect(plan.target.get(43)).not.toBe(0);
      expect([1, 2]).toContain(plan.target.get(47));
    }
  });

  it("reads the probe's contention figures: host CPU_PRESSURE (TEMPLATE), VM CPU_DELAY (monitoring)", async () => {
    sim.setHostTemplate(2, { CPU_PRESSURE: '37.5' });
    const hosts = await client.hostPoolInfo();
    // CPU_DELAY is outside vm.xsd's MONITORING, which the strict simulator enforces: set on the parsed VM instead.
    const vms = (await client.vmPoolInfoExtended({})).map((vm) => (vm.id === 45 ? { ...vm, monitoring: { ...vm.monitoring, CPU_DELAY: '12' } } : vm));
    const { cluster } = clusterFromOne(vms, hosts);
    expect(cluster.hosts.find((h) => h.id === 2)).toMatchObject({ cpuPressure: 37.5 });
    expect(cluster.hosts.find((h) => h.id === 0)!.cpuPressure).toBeUndefined();
    expect(cluster.vms.find((v) => v.id === 45)).toMatchObject({ cpuDelay: 12 });
  });

  it('migrates live with enforce=false and returns once the VM runs on the destination', async () => {
    await gateway.migrate(45, 0, true);
    expect(sim.calls.map((c) => c.method)).toEqual(['one.vm.info', 'one.vm.migrate', 'one.vm.info']);
    expect(sim.callsTo('one.vm.migrate')[0]!.params).toEqual([45, 0, true, false, -1, 0]);
    const { cluster } = await gateway.readCluster();
    expect(cluster.placement.get(45)).toBe(0);
  });

  it("passes oned's refusal on, and refuses a VM pinned since the plan without calling migrate", async () => {
    sim.failNext('one.vm.migrate', { code: 'ACTION', message: 'Migrate action is not available for state 3/4' });
    await expect(gateway.migrate(45, 0, true)).rejects.toThrow('oned refused one.vm.migrate (ACTION 0x800): [one.vm.migrate] Migrate action is not available for state 3/4');
    await client.vmUpdate(46, { CLOUDVAMP_PINNED: 'YES' }, 'merge');
    await expect(gateway.migrate(46, 0, true)).rejects.toThrow('VM 46 was pinned (CLOUDVAMP_PINNED=YES) since the plan; it was not migrated');
    await expect(gateway.migrate(44, 1, true)).rejects.toThrow('VM 44 is not RUNNING (STATE 8, LCM_STATE 0)');
    expect(sim.callsTo('one.vm.migrate')).toHaveLength(1);
  });
});

describe('clusterFromOne', () => {
  const fixture = (name: string) => parseVm(readFileSync(ONED_FIXTURE_DIR + name, 'utf8'));
  it('counts an ACTIVE VM that is not RUNNING on its host, pinned, with a note', () => {
    const migrating: OneVm = { ...fixture('vm-running-plain.xml'), lcmState: 4 };
    const { cluster, pinnedVms, notes } = clusterFromOne([migrating], []);
    // its host is not in the (empty) host pool: left out, said so
    expect(cluster.vms).toEqual([]);
    expect(notes).toEqual(["VM 43 (db-1) is on host 1, which oned's host pool does not list; left out"]);
    const withHost = clusterFromOne([migrating], [{ id: 1, name: 'h', state: 2, imMad: 'kvm', vmMad: 'kvm', clusterId: 0, cluster: '', hostShare: { memUsageKiB: 0, cpuUsage: 0, totalMemKiB: 8 * 1024 * 1024, totalCpu: 400, maxMemKiB: 0, maxCpu: 0, runningVms: 0 }, vmIds: [], template: {}, monitoring: {} }]);
    expect(withHost.cluster.vms.map((v) => v.id)).toEqual([43]);
    expect(withHost.pinnedVms).toEqual([43]);
    expect(withHost.notes).toEqual(['not RUNNING, counted but not moved: VMs 43 (LCM_STATE 4)']);
    expect(pinnedVms).toEqual([]);
  });

  it('a host oned has not monitored yet (INIT) receives no VM, as in the elasticity manager', () => {
    const host = (id: number, state: number) => ({ id, name: `h${id}`, state, imMad: 'kvm', vmMad: 'kvm', clusterId: 0, cluster: '', hostShare: { memUsageKiB: 0, cpuUsage: 0, totalMemKiB: 8 * 1024 * 1024, totalCpu: 400, maxMemKiB: 0, maxCpu: 0, runningVms: 0 }, vmIds: [], template: {}, monitoring: {} });
    const { cluster } = clusterFromOne([], [host(1, 0), host(2, 2)]);
    expect(cluster.hosts.map((h) => [h.id, h.enabled])).toEqual([[1, false], [2, true]]);
  });
});

describe('OnedClusterGateway.migrate waiting', () => {
  const base = parseVm(readFileSync(ONED_FIXTURE_DIR + 'vm-running-node3-plain.xml', 'utf8'));
  /** A client whose vmInfo answers the given states in turn (the last one repeats). */
  function scripted(states: Array<Partial<OneVm>>) {
    const calls: string[] = [];
    let i = 0;
    const client = {
      vmInfo: async () => {
        calls.push('info');
        const state = states[Math.min(i++, states.length - 1)]!;
        return { ...base, ...state, userTemplate: { ...base.userTemplate, ...state.userTemplate } };
      },
      vmMigrate: async () => void calls.push('migrate'),
    } as unknown as OneClient;
    let clock = 0;
    const waiting = { sleep: async (ms: number) => void (clock += ms), now: () => clock, pollMs: 1_000, timeoutMs: 10_000 };
    return { gateway: new OnedClusterGateway(client, waiting), calls, elapsed: () => clock };
  }
  const onSource = { state: 3, lcmState: 3, hostId: 2 };
  const migrating = { state: 3, lcmState: 4, hostId: 0 };
  const onDestination = { state: 3, lcmState: 3, hostId: 0 };

  it('polls through MIGRATE until RUNNING on the destination', async () => {
    const { gateway, calls, elapsed } = scripted([onSource, onSource, migrating, migrating, onDestination]);
    await gateway.migrate(46, 0, true);
    expect(calls).toEqual(['info', 'migrate', 'info', 'info', 'info', 'info']);
    expect(elapsed()).toBe(3_000);
  });

  it('fails when the VM is RUNNING on its source again after MIGRATE', async () => {
    const { gateway } = scripted([onSource, migrating, onSource]);
    await expect(gateway.migrate(46, 0, true)).rejects.toThrow('live migration of VM 46 to host 0 failed: it runs on host 2 again; see `onevm show 46`');
  });

  it('fails on a new USER_TEMPLATE/ERROR even when no poll saw MIGRATE', async () => {
    const { gateway } = scripted([onSource, { ...onSource, userTemplate: { ERROR: 'Error live migrating VM: host kvm-node-1 unreachable' } }]);
    await expect(gateway.migrate(46, 0, true)).rejects.toThrow('it runs on host 2 again (Error live migrating VM: host kvm-node-1 unreachable)');
  });

  it('fails when the VM leaves ACTIVE', async () => {
    const { gateway } = scripted([onSource, { state: 8, lcmState: 0, hostId: 2 }]);
    await expect(gateway.migrate(46, 0, true)).rejects.toThrow('VM 46 left ACTIVE (STATE 8) while migrating to host 0');
  });

  it('gives up after the timeout', async () => {
    const { gateway, elapsed } = scripted([onSource, migrating]);
    await expect(gateway.migrate(46, 0, true)).rejects.toThrow('live migration of VM 46 to host 0 not done after 10 s (LCM_STATE 4); check `onevm show 46` or raise --migration-timeout');
    expect(elapsed()).toBe(10_000);
  });
});

describe('hostsForRequirements', () => {
  const hosts = [
    { id: 0, name: 'kvm-a', clusterId: 100 },
    { id: 1, name: 'kvm-b', clusterId: 100 },
    { id: 2, name: 'kvm-c', clusterId: 101 },
  ] as OneHost[];
  it.each([
    ['ID = 1', [1]],
    ['ID="2"', [2]],
    ['(ID = 0) | (NAME = "kvm-c")', [0, 2]],
    ['CLUSTER_ID = 100', [0, 1]],
    ["NAME = 'kvm-b' || ID = 9", [1]],
  ] as const)('%s allows hosts %o', (expression, expected) => {
    expect(hostsForRequirements(expression, hosts)).toEqual(expected);
  });
  it.each(['ID = 1 & NAME = "kvm-b"', 'ID != 1', 'FREE_CPU > 50', 'HYPERVISOR = kvm', 'NAME = "a|b"'])('%s is not simple: undefined', (expression) => {
    expect(hostsForRequirements(expression, hosts)).toBeUndefined();
  });
});
