import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatStatus, runCvem, type CvemEnv } from '../../lib/elasticity/command';
import { config, GiB, MiB, vm } from '../lib/elasticity/builders';
import { FakeCloud, MemoryStore } from '../lib/elasticity/fake-cloud';

/** A cvem.conf that shrinks from the first cycle (these VMs are adopted by the run itself). */
async function noWarmup(): Promise<string> {
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'cvem-cli-')), 'cvem.conf');
  await writeFile(file, 'SHRINK_WARMUP=0\n');
  return file;
}

function env(cloud: FakeCloud, store = new MemoryStore()) {
  const lines: string[] = [];
  const e: CvemEnv = {
    adapters: async () => ({ source: cloud, applier: cloud, migrator: cloud, publisher: cloud }),
    store: () => store,
    now: () => 1_700_000_000_000,
    write: (l) => lines.push(l),
    signal: new AbortController().signal,
    configExists: () => false,
  };
  return { e, lines, store };
}

const idle = () => new FakeCloud().addHost(0, 64 * GiB).addVm(1, 0, 4 * GiB, 1 * GiB);

describe('cloudvamp-cvem', () => {
  it('run --once --dry-run logs JSON decisions and changes nothing', async () => {
    const cloud = idle();
    const { e, lines, store } = env(cloud);
    expect(await runCvem(['--config', await noWarmup(), 'run', '--once', '--dry-run'], e)).toBe('');
    const events = lines.map((l) => JSON.parse(l));
    expect(events).toContainEqual(expect.objectContaining({ level: 'info', event: 'plan', action: 'shrink', vmId: 1, dryRun: true, reason: expect.any(String), time: '2023-11-14T22:13:20.000Z' }));
    expect(cloud.calls).toEqual([]);
    expect(store.saves).toBe(0);
  });

  it('run --once applies; status shows the table; restore-all gives memory back', async () => {
    const cloud = idle();
    const { e, store } = env(cloud);
    await runCvem(['--config', await noWarmup(), 'run', '--once'], e);
    expect(cloud.vms.get(1)!.currentKiB).toBeLessThan(4 * GiB);
    const table = await runCvem(['status'], e);
    expect(table.split('\n')[0]).toMatch(/^VM\s+NAME\s+HOST\s+ORIGINAL\s+CURRENT\s+USED\s+FREE%\s+LAST ACTION$/);
    expect(table).toMatch(/^1\s+vm-1\s+host-0\s+4096\s+1463\s+1024\s+30\.0\s+shrink 4096→1463 ok 0s ago$/m);
    await runCvem(['restore-all'], e);
    expect(cloud.vms.get(1)!.currentKiB).toBe(4 * GiB);
    expect(JSON.parse(store.text!).vms['1'].lastAction).toMatchObject({ action: 'restore', result: 'ok' });
  });

  it('a bad config lists every error as one usage-free config error', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cvem-cli-'));
    const file = path.join(dir, 'cvem.conf');
    await writeFile(file, 'MEM_OVER=abc\nMEM_MIN=1\nMEMORY_COMMAND=ssh {host}\nNOPE=1\n');
    const { e } = env(idle());
    await expect(runCvem(['--config', file, 'run', '--once'], e)).rejects.toMatchObject({
      kind: 'config',
      message: expect.stringMatching(/MEM_OVER=abc is not a number.*MEM_MIN=1 must be at least 131072 \(KiB; the VMM driver refuses any size below its floor, cloudvamp.conf MEMORY_FLOOR_MIB, 128 MiB by default\).*never uses \{kib\}.*unknown key NOPE/),
    });
  });

  it('unknown commands are usage errors; --help prints help', async () => {
    const { e } = env(idle());
    await expect(runCvem(['frobnicate'], e)).rejects.toMatchObject({ kind: 'usage' });
    expect(await runCvem(['--help'], e)).toMatch(/restore-all/);
  });

  it('status marks VMs the daemon has not seen yet', () => {
    const out = formatStatus({ vms: [], hosts: [] }, { version: 1, vms: {}, hosts: {} }, config(), 0);
    expect(out).toMatch(/^VM\s+NAME/);
  });

  it("status never shows a shrunk size as ORIGINAL: oned's copy for a VM not in the state, '?' when nothing proves one", () => {
    const vms = [
      vm(1, { originalKiB: 4 * GiB, currentKiB: 4 * GiB }), // untouched: its template MEMORY
      { ...vm(2, { originalKiB: 701 * MiB }), recordedOriginalKiB: 4 * GiB }, // resize mode, shrunk: oned holds the original
      vm(3, { originalKiB: 4 * GiB, currentKiB: 701 * MiB }), // ballooned, no record anywhere
    ];
    const rows = formatStatus({ vms, hosts: [] }, { version: 1, vms: {}, hosts: {} }, config(), 0).split('\n');
    expect(rows[1]).toMatch(/^1\s+vm-1\s+host-0\s+4096\*\s+4096/);
    expect(rows[2]).toMatch(/^2\s+vm-2\s+host-0\s+4096\*\s+701/);
    expect(rows[3]).toMatch(/^3\s+vm-3\s+host-0\s+\?\s+701/);
    expect(rows.join('\n')).toMatch(/\? no original recorded anywhere/);
  });
});
