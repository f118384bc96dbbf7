import { describe, expect, it, vi } from 'vitest';
import { humanLogLine, runCloudvamp, type CloudvampEnv } from '../../lib/cli/cloudvamp';
import type { CvemEnv } from '../../lib/elasticity/command';
import type { PlanCommandDeps } from '../../lib/planning/command';
import { GiB } from '../lib/elasticity/builders';
import { FakeCloud, MemoryStore } from '../lib/elasticity/fake-cloud';

function env() {
  const cloud = new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 1 * GiB);
  const store = new MemoryStore();
  const lines: string[] = [];
  const cvem: CvemEnv = {
    adapters: async () => ({ source: cloud, applier: cloud, migrator: cloud, publisher: cloud }),
    store: () => store,
    now: () => 1_700_000_000_000,
    write: (l) => lines.push(l),
    signal: new AbortController().signal,
    configExists: () => false,
  };
  const probe = vi.fn((_kind: string, _name: string, penv: { argv: string[] }) => `probe ${penv.argv.join(' ')}\n`);
  const plan = vi.fn(async (argv: readonly string[]) => ({ output: `plan ${argv.join(' ')} cloudvamp-plan\n`, exitCode: argv.includes('--apply') ? 1 : 0 }));
  const e: CloudvampEnv = {
    probe,
    probeEnv: { env: {}, probePath: undefined, open: () => { throw new Error('no libvirt in this test'); }, now: () => 0 },
    cvem,
    plan,
    planDeps: {} as PlanCommandDeps,
  };
  return { e, cloud, lines, probe, plan };
}

describe('cloudvamp', () => {
  it('answers --help, and with no command prints the help', async () => {
    const { e } = env();
    for (const argv of [[], ['--help']]) {
      const { output, exitCode } = await runCloudvamp(argv, e);
      expect(exitCode).toBe(0);
      for (const c of ['probe', 'status', 'plan', 'restore-all']) expect(output).toContain(c);
    }
    expect((await runCloudvamp(['probe', '--help'], e)).output).toMatch(/system.*\n.*monitor/s);
    expect((await runCloudvamp(['status', '--help'], e)).output).toMatch(/Usage: cloudvamp status[\s\S]*--json/);
    expect((await runCloudvamp(['restore-all', '--help'], e)).output).toMatch(/--dry-run[\s\S]*--force/);
  });

  it('help [command] works as --help lists it', async () => {
    const { e } = env();
    expect((await runCloudvamp(['--help'], e)).output).toContain('help [command]');
    expect(await runCloudvamp(['help'], e)).toEqual(await runCloudvamp(['--help'], e));
    for (const c of ['probe', 'status', 'restore-all']) expect(await runCloudvamp(['help', c], e)).toEqual(await runCloudvamp([c, '--help'], e));
    await expect(runCloudvamp(['help', 'frobnicate'], e)).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/^help: unknown command 'frobnicate'/) });
  });

  it('an unknown command is one usage error (exit 2 through runMain)', async () => {
    const { e } = env();
    await expect(runCloudvamp(['frobnicate'], e)).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/^unknown command 'frobnicate'; commands: probe, status, plan, restore-all/) });
    await expect(runCloudvamp(['probe', 'beacon'], e)).rejects.toMatchObject({ kind: 'usage' });
  });

  it('probe runs the probe core in-process with its options; --json means --format json', async () => {
    const { e, probe } = env();
    expect((await runCloudvamp(['probe', 'system', '--uri', 'test:///default'], e)).output).toBe('probe --uri test:///default\n');
    await runCloudvamp(['probe', 'vm', '--json'], e);
    expect(probe.mock.calls.map((c) => [c[0], c[1], c[2].argv])).toEqual([
      ['host-system', 'cloudvamp probe system', ['--uri', 'test:///default']],
      ['vm-monitor', 'cloudvamp probe vm', ['--format', 'json']],
    ]);
  });

  it('status prints the elasticity manager table, or JSON for scripts', async () => {
    const { e } = env();
    const table = (await runCloudvamp(['status'], e)).output;
    expect(table.split('\n')[0]).toMatch(/^VM\s+NAME\s+HOST\s+ORIGINAL\s+CURRENT/);
    const json = JSON.parse((await runCloudvamp(['status', '--json'], e)).output);
    expect(json.vms).toEqual([expect.objectContaining({ id: 1, originalKiB: 4 * GiB, currentKiB: 4 * GiB, usedKiB: 1 * GiB, managed: false })]);
    await expect(runCloudvamp(['status', '--bogus'], e)).rejects.toMatchObject({ kind: 'usage' });
  });

  it('restore-all delegates to the elasticity manager; log lines are readable unless --json', async () => {
    const { e, lines, cloud } = env();
    cloud.vms.get(1)!.currentKiB = 2 * GiB;
    cloud.vms.get(1)!.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY = 4 * GiB;
    await runCloudvamp(['restore-all', '--dry-run'], e);
    expect(cloud.vms.get(1)!.currentKiB).toBe(2 * GiB);
    expect(lines.some((l) => /grow planned {2}VM 1 {2}2048 MiB → 4096 MiB/.test(l))).toBe(true);
    lines.length = 0;
    await runCloudvamp(['restore-all', '--json'], e);
    expect(cloud.vms.get(1)!.currentKiB).toBe(4 * GiB);
    expect(lines.map((l) => JSON.parse(l))).toContainEqual(expect.objectContaining({ event: 'restore' }));
  });

  it('plan delegates to the planner with its exit code; --json means --format json', async () => {
    const { e, plan } = env();
    expect(await runCloudvamp(['plan', 'hotspot', '--json'], e)).toEqual({ output: 'plan hotspot --format json cloudvamp plan\n', exitCode: 0 });
    expect((await runCloudvamp(['plan', 'hotspot', '--apply'], e)).exitCode).toBe(1);
    expect(plan).toHaveBeenCalledTimes(2);
  });

  it('humanLogLine keeps lines that are not JSON', () => {
    expect(humanLogLine('plain')).toBe('plain');
    expect(humanLogLine(JSON.stringify({ time: '2023-11-14T22:13:20.000Z', level: 'info', msg: 'migrate done', vmId: 3, fromHostId: 0, toHostId: 1 }))).toBe(
      '22:13:20  info   migrate done  VM 3  host 0 → host 1',
    );
  });
});
