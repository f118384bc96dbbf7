import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { reportPart, run } from '../../../bench/density';
import { curveSvg, suiteReport } from '../../../bench/density/suite-report';

const GiB = 1024 * 1024;
const dirP = mkdtemp(path.join(tmpdir(), 'density-'));
afterAll(async () => rm(await dirP, { recursive: true, force: true }));

/** A small trace in the shared format: 40 VMs over day 3's first 2 h, bursty. */
async function traceFile(): Promise<string> {
  const rows = ['vm,t,cores,cpu_cap_mhz,cpu_use_mhz,mem_prov_kib,mem_use_kib'];
  for (let vm = 1; vm <= 40; vm++) {
    const size = (1 + (vm % 4)) * 2 * GiB;
    for (let i = 0; i < 24; i++) {
      const burst = (vm + i) % 9 === 0 ? 0.5 : 0.06;
      rows.push([vm, 2 * 86_400 + i * 300, 2, 4000, 100, size, Math.round(size * burst)].join(','));
    }
  }
  const file = path.join(await dirP, 'trace.csv.gz');
  await writeFile(file, gzipSync(rows.join('\n')));
  return file;
}

describe('bench:density runs end to end (--quick)', () => {
  it('the trace part reads a gzip\'d trace, runs none and the default, and judges the goals', async () => {
    const part = await reportPart(await traceFile(), 'trace', true);
    const [w] = part.trace!;
    expect(w!.traceVms).toBe(40);
    expect(w!.samples).toBe(40 * 24);
    expect(w!.clamped).toBe(0);
    expect(w!.none.admitted).toBeGreaterThan(0);
    expect(w!.cv.admitted).toBeGreaterThan(w!.none.admitted);
    expect(w!.cv.maxMigrationsHostHour).toBeLessThanOrEqual(2);
    expect(w!.cv.moveBacks).toBe(0);
    expect(typeof w!.met).toBe('boolean');
    // the report renders what was measured, with the trace's citation
    const points = [
      { family: 'default', scheme: 'cloudvamp', label: "cloudvamp's default", vsNone: w!.vsNone, excess: w!.excess, migrationsPerHostHour: 0.5 },
      { family: 'O', scheme: 'O0.5', label: 'reserve none, OVERCOMMIT=0.5', vsNone: 1.5, excess: 0.002, migrationsPerHostHour: 0 },
    ];
    const suite = { command: 'test', trace: part.trace!, invented: [], curves: [{ workload: 'quick', points }], tuning: 'day 1' };
    const md = suiteReport(suite);
    expect(md).toContain('Shen, van Beek, Iosup, CCGrid 2015');
    expect(md).toContain(`| ${w!.workload} | 40 | 960 (0) | ${w!.none.admitted} | ${w!.cv.admitted} | ${w!.vsNone.toFixed(2)} |`);
    expect(md).toContain('| reserve none, OVERCOMMIT=0.5 | O | 1.50 | 0.200 % | 0.00 |');
    const svg = curveSvg(suite);
    expect(svg.match(/<circle /g)!.length).toBe(2 + 5); // two points, five legend dots
    expect(svg).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
  }, 60_000);

  it('--tune runs no overcommit and the default with cvem.conf keys changed, and prints one line', async () => {
    const file = await traceFile();
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (lines.push(String(chunk)), true));
    try {
      await run(['--tune', 'HOST_RESERVE_SWING=2', 'HOST_RESERVE_MODE=swing', '--trace', file, '--window-start', '172800', '--window-length', '7200']);
    } finally {
      spy.mockRestore();
    }
    expect(lines.join('')).toMatch(/^trace 172800\+7200 s \[HOST_RESERVE_SWING=2 HOST_RESERVE_MODE=swing\]: \d+\.\d\d× none, starvation above none \d+\.\d{3} %, max \d+ migrations in a host-hour, \d+ moved back, reserve \d+\.\d GiB\/host\n$/);
    await expect(run(['--tune', 'HOST_RESERVE_SWING=-1', '--seed', '1'])).rejects.toThrow(/--tune: HOST_RESERVE_SWING=-1/);
  }, 60_000);

  it('a report part that needs a trace says so', async () => {
    await expect(run(['--report', '--part', 'trace'])).rejects.toThrow(/needs --trace FILE/);
    await expect(run(['--report', '--part', 'nonsense', '--trace', 'x'])).rejects.toThrow(/--part must be one of/);
    await expect(run(['--trace', 'x', '--window-start', 'soon'])).rejects.toThrow(/--window-start needs a number/);
  });
});
