// cloudvamp-plan against the in-process oned simulator: the cluster read over
// XML-RPC, dry runs that change nothing, --apply through live one.vm.migrate
// calls, a failure in the middle (the built bundle: plan-bundle.test.ts).
import { describe, expect, it } from 'vitest';
import { loadOneConnection } from '../../lib/oned/auth';
import { createOneClient } from '../../lib/oned/client';
import { parseHost, parseVm } from '../../lib/oned/models';
import { planCommand, type PlanCommandDeps } from '../../lib/planning/command';
import { DEFAULT_SESSION } from '../support/oned-server';
import { PLAN_READS, planningCloud } from '../support/planning-cloud';

const cloud = planningCloud();

function harness(onProgress: (line: string) => void = () => {}, periods = Infinity) {
  let periodsLeft = periods;
  const progress: string[] = [];
  let clock = 1_000_000;
  const deps: PlanCommandDeps = {
    readText: async () => {
      throw new Error('no snapshot in these tests');
    },
    connect: async (settings) => createOneClient(await loadOneConnection(settings, { env: cloud.env, home: cloud.dir })),
    progress: (line) => {
      progress.push(line);
      onProgress(line);
    },
    now: () => clock,
    sleep: async (ms) => void (clock += ms),
    stop: () => --periodsLeft <= 0,
  };
  return { run: (...argv: string[]) => planCommand(argv, deps), progress, clock: () => clock };
}

const hostOf = (vmId: number) => parseVm(cloud.sim.vmXml(vmId)).hostId;

describe('cloudvamp-plan balance --every (automatic mode)', () => {
  it('each period moves only what is worth it, logs why, applies, and leaves a calm cluster alone', async () => {
    const { run, progress, clock } = harness(() => {}, 3);
    const started = clock();
    const result = await run('balance', '--every', '10m', '--apply', '--min-gain', '0.02');
    expect(result.exitCode).toBe(0);
    const migrations = cloud.sim.callsTo('one.vm.migrate').length;
    expect(migrations).toBeGreaterThan(0);
    expect(migrations).toBeLessThanOrEqual(5);
    expect(result.output).toBe(`automatic balance: 3 periods, ${migrations} migrations applied`);
    expect(progress[0]).toMatch(/^period 1: \d+ steps worth their migrations \(/);
    expect(progress[1]).toMatch(/^  VM \d+ \([\w-]+\) host \d \(kvm-node-\d\) → \d \(kvm-node-\d\).*: spread of host utilisation \(σ\) [\d.]+% → [\d.]+%, [\d.]+% of the imbalance per migration$/);
    // Once even, later periods read and decide but move nothing.
    expect(progress.filter((line) => line.startsWith('period 3: nothing worth moving'))).toHaveLength(1);
    expect(clock() - started).toBe(2 * 600_000);
    // The DISABLED host never receives; the plan kept every host within capacity (checked before applying).
    expect(cloud.vmsOn(3)).toEqual([]);
  });

  it('without --apply it logs and changes nothing; refuses other strategies and bad settings', async () => {
    const { run, progress } = harness(() => {}, 1);
    await run('balance', '--every', '90s');
    expect(cloud.sim.calls.every((c) => PLAN_READS.has(c.method))).toBe(true);
    expect(progress.some((line) => /^  dry run: \d+ migrations in \d+ waves \(add --apply to run them\)$/.test(line))).toBe(true);
    await expect(run('consolidate', '--every', '10m')).rejects.toThrow('--every runs the balance strategy only; got consolidate');
    await expect(run('balance', '--every', 'soon')).rejects.toThrow("expected a duration such as 90s, 10m or 1h, got 'soon'");
    await expect(run('balance', '--every', '10m', '--min-gain', '0')).rejects.toThrow('the minimum gain per migration must be in (0, 1], got 0');
    await expect(run('balance', '--min-gain', '0.1')).rejects.toThrow('--min-gain and --max-per-vm-per-day only go with --every');
  });
});

describe('cloudvamp-plan on oned', () => {
  it('dry run: reads the cluster from oned, prints the plan and makes no mutating call', async () => {
    const { run, progress } = harness();
    const result = await run('evacuate', 'kvm-node-3');
    expect(result.exitCode).toBe(0);
    expect(result.output).toMatch(/^plan evacuate: 3 migrations in 2 waves, 5\.3 GiB to move \(dry run\)\n  host 2 \(kvm-node-3\): 3 VMs, 3 to migrate\n/);
    expect(result.output).toMatch(/^1\s+45 app-1\s+2 kvm-node-3\s+/m);
    // the DISABLED kvm-node-4 is never a destination
    expect(result.output).not.toContain('kvm-node-4');
    expect(cloud.sim.calls.every((c) => PLAN_READS.has(c.method))).toBe(true);
    expect(progress).toEqual([]);
    expect(cloud.vmsOn(2)).toEqual([45, 46, 47]);
  });

  it('--endpoint wins over ONE_XMLRPC', async () => {
    const reachable = cloud.env.ONE_XMLRPC!;
    cloud.env.ONE_XMLRPC = 'http://127.0.0.1:9/RPC2';
    const { run } = harness();
    const result = await run('balance', '--endpoint', reachable, '--format', 'json');
    expect(JSON.parse(result.output)).toMatchObject({ strategy: 'balance', feasible: true });
  });

  it('evacuate HOST --apply: every VM leaves the host through live one.vm.migrate, wave by wave', async () => {
    const { run, progress } = harness();
    const result = await run('evacuate', 'kvm-node-3', '--apply');
    expect(result.exitCode).toBe(0);
    expect(result.output).toMatch(/^plan evacuate: 3 migrations in 2 waves, 5\.3 GiB to move \(applying\)/);
    expect(result.output).toMatch(/\n\n3 migrations done, 0 failed, 0 not started$/);

    const migrations = cloud.sim.callsTo('one.vm.migrate');
    expect(migrations.map((c) => c.params[0]).sort()).toEqual([45, 46, 47]);
    for (const call of migrations) {
      expect(call.params[2]).toBe(true); // live
      expect(call.params[3]).toBe(false); // enforce
      expect(call.params[1]).not.toBe(3); // never to the DISABLED host
    }
    expect(cloud.vmsOn(2)).toEqual([]);
    expect(parseHost(cloud.sim.hostXml(2)).hostShare.runningVms).toBe(0);
    for (const vm of [45, 46, 47]) expect(hostOf(vm)).not.toBe(2);

    expect(progress[0]).toBe('applying plan evacuate: 3 live migrations in 2 waves');
    expect(progress).toContain('[   0.0s] wave 1/2: 2 migrations');
    expect(progress).toContain('[   0.0s] wave 2/2: 1 migration');
    expect(progress.filter((l) => / done after \d+\.\ds$/.test(l))).toHaveLength(3);
    expect(progress.filter((l) => / started$/.test(l))).toHaveLength(3);
    expect(progress.at(-1)).toMatch(/^finished after \d+\.\ds$/);
  });

  it('a failure on the second migration stops the run and the report says what was done, failed and not started', async () => {
    let injected = false;
    const { run, progress } = harness((line) => {
      // once the first migration is done, oned refuses the next one
      if (!injected && / done after /.test(line)) {
        injected = true;
        cloud.sim.failNext('one.vm.migrate', { code: 'ACTION', message: 'Cannot migrate VM: host kvm-node-1 refused the connection' });
      }
    });
    const result = await run('evacuate', 'kvm-node-3', '--apply', '--max-per-host', '1');
    expect(result.exitCode).toBe(1);
    const report = result.output.slice(result.output.lastIndexOf('\n\n') + 2).split('\n');
    expect(report[0]).toBe('1 migrations done, 1 failed, 1 not started');
    expect(report[1]).toMatch(/^failed: VM \d+: host 2 → \d: oned refused one\.vm\.migrate \(ACTION 0x800\): \[one\.vm\.migrate\] Cannot migrate VM: host kvm-node-1 refused the connection$/);
    expect(report[2]).toMatch(/^stopped at wave 2 \(a migration failed\)/);

    expect(cloud.sim.callsTo('one.vm.migrate')).toHaveLength(2);
    const [first, second] = cloud.sim.callsTo('one.vm.migrate').map((c) => c.params[0] as number);
    expect(hostOf(first!)).not.toBe(2); // done
    expect(hostOf(second!)).toBe(2); // failed: still there
    expect(cloud.vmsOn(2)).toHaveLength(2);
    expect(progress.some((l) => / FAILED after \d+\.\ds: oned refused one\.vm\.migrate/.test(l))).toBe(true);
    expect(progress.some((l) => l.includes('wave 3/3'))).toBe(false);
  });

  it('--format json --apply adds what was applied', async () => {
    const { run } = harness();
    const result = await run('evacuate', '1', '--apply', '--format', 'json');
    expect(JSON.parse(result.output)).toMatchObject({ strategy: 'evacuate', migrations: 1, applied: { done: [{ vm: 43, from: 1 }], failed: [], notStarted: [] } });
    expect(cloud.vmsOn(1)).toEqual([]);
  });

  it('pinned VMs stay: evacuate reports them and applies the rest', async () => {
    await createOneClient({ endpoint: cloud.sim.url, session: DEFAULT_SESSION }).vmUpdate(46, { CLOUDVAMP_PINNED: 'YES' }, 'merge');
    const { run } = harness();
    const result = await run('evacuate', 'kvm-node-3', '--apply');
    expect(result.output).toContain('pinned by CLOUDVAMP_PINNED=YES: VMs 46');
    expect(result.output).toMatch(/\n2 migrations done, 0 failed, 0 not started\ntarget not reached: 1 unresolved \(see above\)$/);
    // the host is not empty: a script running `evacuate --apply && reboot` must stop here
    expect(result.exitCode).toBe(1);
    expect(cloud.vmsOn(2)).toEqual([46]);
    expect(cloud.sim.callsTo('one.vm.migrate').map((c) => c.params[0])).not.toContain(46);
  });
});
