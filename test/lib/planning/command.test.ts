import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CloudvampError } from '../../../lib/errors';
import { planCommand } from '../../../lib/planning/command';

const example = new URL('../../../examples/cluster-snapshot.json', import.meta.url);
const reads: string[] = [];
const deps = {
  readText: async (path: string) => {
    reads.push(path);
    if (path === 'example.json') return readFile(example, 'utf8');
    if (path === 'swap.json') {
      return JSON.stringify({
        hosts: [{ id: 1, name: 'a', memMiB: 16384, cpu: 800 }, { id: 2, name: 'b', memMiB: 16384, cpu: 800 }],
        vms: [{ id: 10, host: 1, usedMiB: 12288, cpu: 100 }, { id: 11, host: 2, usedMiB: 12288, cpu: 100 }],
      });
    }
    if (path === 'broken.json') return '{"hosts": [{"id": -1}], "vms": 3}';
    throw new Error(`ENOENT: ${path}`);
  },
  connect: async () => {
    connects++;
    throw new Error('these tests never reach oned');
  },
  progress: () => {},
  now: () => 0,
  sleep: async () => {},
};
let connects = 0;
const run = async (...argv: string[]) => (await planCommand(argv, deps)).output;
const failure = async (...argv: string[]) => {
  try {
    await run(...argv);
  } catch (error) {
    return { kind: (error as CloudvampError).kind, message: (error as Error).message };
  }
  throw new Error('expected a failure');
};

describe('cloudvamp-plan', () => {
  it('prints a consolidation plan for the example snapshot', async () => {
    const text = await run('consolidate', '--snapshot', 'example.json');
    expect(text).toMatch(/^plan consolidate: 6 migrations in 3 waves, 27\.0 GiB to move \(dry run\)\n  hosts used 4 → 2/);
    expect(text).toContain('wave  vm               from      to        cost');
  });

  it('prints JSON on request', async () => {
    const json = JSON.parse(await run('evacuate', 'kvm-04', '--snapshot', 'example.json', '--format', 'json'));
    expect(json).toMatchObject({ strategy: 'evacuate', feasible: true, migrations: 3 });
  });

  it('layers constraint flags over the snapshot', async () => {
    const json = JSON.parse(await run('consolidate', '--snapshot', 'example.json', '--format', 'json', '--pin', '101,104', '--max-in-flight', '1'));
    const moved = json.waves.flat().map((m: { vm: number }) => m.vm);
    expect(moved).not.toContain(101);
    expect(moved).not.toContain(104);
    expect(json.waves.every((w: unknown[]) => w.length === 1)).toBe(true);
  });

  it('rejects an unknown strategy before reading anything', async () => {
    reads.length = 0;
    expect(await failure('shuffle', '--snapshot', 'example.json')).toEqual({ kind: 'usage', message: 'unknown strategy "shuffle"; known strategies: consolidate, balance, hotspot, evacuate, relief' });
    expect(reads).toEqual([]);
  });

  it('rejects flags the strategy does not take and bad values', async () => {
    expect(await failure('consolidate', '--threshold', '0.5', '--snapshot', 'example.json')).toMatchObject({ kind: 'usage', message: expect.stringContaining('consolidate does not take threshold') });
    expect(await failure('evacuate', '--snapshot', 'example.json')).toMatchObject({ kind: 'usage', message: 'evacuate needs the host to empty: cloudvamp-plan evacuate HOST' });
    expect(await failure('balance', '--max-per-host', '0', '--snapshot', 'example.json')).toMatchObject({ kind: 'usage', message: '--max-per-host must be a whole number ≥ 1' });
    expect(await failure('balance', '--format', 'yaml')).toMatchObject({ kind: 'usage', message: expect.stringContaining("'yaml' is invalid") });
  });

  it('a number option that is not a number says what was given', async () => {
    for (const [flag, value] of [['--max-migrations', 'x'], ['--threshold', 'hot'], ['--migration-timeout', ''], ['--max-per-host', '1e']]) {
      const f = await failure('consolidate', flag!, value!, '--snapshot', 'example.json');
      expect(f).toMatchObject({ kind: 'usage', message: expect.stringContaining(`${flag}`) });
      expect(f.message).toContain(`got '${value}'`);
      expect(f.message).not.toContain('null');
    }
    expect((await failure('consolidate', '--pin', '1,x', '--snapshot', 'example.json')).message).toContain("got '1,x'");
  });

  it('reads from oned without --snapshot, and never applies a snapshot', async () => {
    connects = 0;
    expect(await failure('consolidate')).toMatchObject({ message: 'these tests never reach oned' });
    expect(connects).toBe(1);
    expect(await failure('consolidate', '--snapshot', 'example.json', '--apply')).toMatchObject({ kind: 'usage', message: expect.stringContaining('--apply plans from the live state in oned') });
    expect(await failure('consolidate', '--migration-timeout', '0')).toMatchObject({ kind: 'usage', message: '--migration-timeout must be a number of seconds > 0' });
    expect(connects).toBe(1);
  });

  it('reports every snapshot error in one config error', async () => {
    expect(await failure('balance', '--snapshot', 'broken.json')).toEqual({
      kind: 'config',
      message: 'broken.json: hosts[0].id: must be a whole number ≥ 0, got -1; hosts[0].memMiB: missing; hosts[0].cpu: missing; vms: must be an array of VMs',
    });
  });

  it('prints what the strategy could not do, and why', async () => {
    const text = await run('evacuate', '1', '--snapshot', 'swap.json');
    expect(text).toContain('unresolved (no-room): no other host has room for VMs 10');
  });

  it('returns --help text instead of exiting', async () => {
    expect(await run('--help')).toContain('Usage: cloudvamp-plan [options] <strategy> [host]');
  });
});
