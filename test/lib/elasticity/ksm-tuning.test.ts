// The manager's opt-in KSM tuning (#13 part 1): the cycle hands the hosts to
// the tuner after its own steps; the tuner decides with the MOM-style policy
// and runs the host-side ksm action (argument array) only where it changed.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../lib/elasticity/config';
import { runCycle, type CycleDeps } from '../../../lib/elasticity/cycle';
import type { HostView, LogEvent } from '../../../lib/elasticity/ports';
import { emptyState } from '../../../lib/elasticity/state';
import { KsmActionTuner } from '../../../lib/oned/elasticity-ports';
import { config, GiB } from './builders';
import { FakeCloud, MemoryStore } from './fake-cloud';

const host = (over: Partial<HostView> = {}): HostView => ({ id: 3, name: 'node-3', clusterId: 0, enabled: true, totalKiB: 100 * GiB, freeKiB: 10 * GiB, ...over });
const COMMAND = ['ssh', '--', '{host}', 'sudo', '/var/tmp/one/vmm/cloudvamp/ksm', '{run}', '{pages}', '{sleep_ms}', '{host}'];

function recorder(exitCode = 0) {
  const runs: Array<[string, string[]]> = [];
  const run = async (file: string, args: string[]) => {
    runs.push([file, args]);
    return { exitCode, stderr: exitCode === 0 ? '' : 'Permission denied' };
  };
  return { runs, run };
}

describe('KsmActionTuner', () => {
  it('starts KSM on a host under pressure, raises the rate each decision, runs the action only when the settings change', async () => {
    const { runs, run } = recorder();
    const tuner = new KsmActionTuner(COMMAND, run);
    await tuner.tuneHosts([host(), host({ id: 4, name: 'node-4', freeKiB: 90 * GiB })]);
    expect(runs).toEqual([
      ['ssh', ['--', 'node-3', 'sudo', '/var/tmp/one/vmm/cloudvamp/ksm', '1', '364', '10', 'node-3']],
      ['ssh', ['--', 'node-4', 'sudo', '/var/tmp/one/vmm/cloudvamp/ksm', '0', '64', '10', 'node-4']],
    ]);
    await tuner.tuneHosts([host(), host({ id: 4, name: 'node-4', freeKiB: 90 * GiB })]);
    // node-3 +300 pages; node-4 unchanged: no second run
    expect(runs.slice(2)).toEqual([['ssh', ['--', 'node-3', 'sudo', '/var/tmp/one/vmm/cloudvamp/ksm', '1', '664', '10', 'node-3']]]);
  });

  it('skips hosts without monitored free memory or disabled; refuses host names a remote shell would interpret', async () => {
    const { runs, run } = recorder();
    const tuner = new KsmActionTuner(COMMAND, run);
    await expect(tuner.tuneHosts([host({ freeKiB: undefined }), host({ enabled: false }), host({ name: '-oProxyCommand=x' })])).rejects.toThrow(/refusing to pass host name/);
    expect(runs).toEqual([]);
  });

  it('a failed action is reported and retried at the next decision', async () => {
    const { runs, run } = recorder(1);
    const tuner = new KsmActionTuner(COMMAND, run);
    await expect(tuner.tuneHosts([host()])).rejects.toThrow(/ksm action on node-3 exited 1: Permission denied/);
    await expect(tuner.tuneHosts([host()])).rejects.toThrow();
    expect(runs.map(([, a]) => a.slice(4, 6))).toEqual([['1', '364'], ['1', '364']]); // the same first step again: nothing was recorded as set
  });
});

describe('the cycle and KSM_COMMAND', () => {
  it('runs the tuner after the cycle with the hosts it saw, never in a dry run; its failure is logged, not fatal', async () => {
    const cloud = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 1 * GiB);
    const logs: LogEvent[] = [];
    const seen: number[][] = [];
    const deps: CycleDeps = {
      source: cloud, applier: cloud, migrator: cloud, publisher: cloud, store: new MemoryStore(), log: (e) => logs.push(e), now: () => Date.now(),
      ksm: { tuneHosts: async (hosts) => { seen.push(hosts.map((h) => h.id)); throw new Error('ssh: connect refused'); } },
    };
    await runCycle(deps, config(), emptyState(), { dryRun: true });
    expect(seen).toEqual([]);
    const r = await runCycle(deps, config(), emptyState());
    expect(seen).toEqual([[0]]);
    expect(r.failed).toBe(0);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'KSM tuning failed', error: 'ssh: connect refused' }));
  });

  it('KSM_COMMAND is empty (off) by default and must use {run}', () => {
    expect(parseConfig('').config?.ksmCommand).toEqual([]);
    expect(parseConfig('KSM_COMMAND="ssh -- {host} sudo /var/tmp/one/vmm/cloudvamp/ksm {run} {pages} {sleep_ms} {host}"').config?.ksmCommand).toEqual(COMMAND);
    expect(parseConfig('KSM_COMMAND="ssh -- {host} ksm"').errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/never uses \{run\}/) })]);
  });
});
