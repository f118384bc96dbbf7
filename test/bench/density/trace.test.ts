import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, runDensity, SCHEMES } from '../../../bench/density/index';
import { migrationMs, simulateScheme, type StepView } from '../../../bench/density/simulate';
import { parseTrace } from '../../../bench/density/trace';
import { traceRequests, TraceBuilder } from '../../../bench/density/workload';

const GiB = 1024 * 1024;
const csv = (rows: (string | number)[][]) => Readable.from([['vm,t,cores,cpu_cap_mhz,cpu_use_mhz,mem_prov_kib,mem_use_kib', ...rows.map((r) => r.join(','))].join('\n')]);

describe('reading a trace in the shared format', () => {
  it('keeps the window, holds gaps and late starts, clamps use above the size and counts it', async () => {
    const t = await parseTrace(
      csv([
        [1, 0, 1, 1, 1, 4 * GiB, 1 * GiB],
        [1, 300, 1, 1, 1, 4 * GiB, 2 * GiB],
        [1, 900, 1, 1, 1, 4 * GiB, 5 * GiB], // above its size: clamped
        [2, 600, 1, 1, 1, 2 * GiB, 0.5 * GiB], // starts late
        [2, 1200, 1, 1, 1, 2 * GiB, 1 * GiB], // outside the window
      ]),
      { startS: 0, lengthS: 1200, sampleS: 300 },
    );
    expect(t.samples).toBe(4);
    expect(t.clamped).toBe(1);
    expect(t.vms.map((v) => v.vm)).toEqual([1, 2]);
    expect([...t.vms[0]!.useKiB]).toEqual([1 * GiB, 2 * GiB, 2 * GiB, 4 * GiB]);
    expect([...t.vms[1]!.useKiB]).toEqual([0.5 * GiB, 0.5 * GiB, 0.5 * GiB, 0.5 * GiB]);
    expect(t.vms[1]!.sizeKiB).toBe(2 * GiB);
  });

  it('a window later in the trace is on its own clock', async () => {
    const t = await parseTrace(csv([[7, 3000, 1, 1, 1, GiB, 100], [7, 3300, 1, 1, 1, GiB, 200]]), { startS: 3000, lengthS: 600, sampleS: 300 });
    expect([...t.vms[0]!.useKiB]).toEqual([100, 200]);
  });

  it('says what is wrong with a file that is not in the format', async () => {
    await expect(parseTrace(Readable.from(['vm,t,mem_use_kib\n1,0,5\n']), { startS: 0, lengthS: 300, sampleS: 300 }, 'x.csv')).rejects.toThrow(
      "x.csv: header lacks the 'mem_prov_kib' column",
    );
    await expect(parseTrace(csv([[1, 0, 1, 1, 1, 'lots', 1]]), { startS: 0, lengthS: 300, sampleS: 300 }, 'y.csv')).rejects.toThrow(/y\.csv:2: not a number/);
  });
});

describe('trace-driven requests', () => {
  const b = new TraceBuilder(600, 300);
  for (let vm = 1; vm <= 5; vm++) for (const t of [0, 300]) b.add(vm, t, vm * GiB, (vm * GiB) / 10);
  b.add(9, 0, 100 * GiB, GiB); // bigger than any host
  const trace = b.finish();

  it('each real VM once per pass, in a seeded shuffle; VMs no host can hold left out', () => {
    const reqs = traceRequests(trace, 1, 12, 15_000, 62 * GiB);
    const first = reqs.slice(0, 5).map((r) => r.seed);
    const second = reqs.slice(5, 10).map((r) => r.seed);
    expect([...first].sort()).toEqual([1, 2, 3, 4, 5]);
    expect([...second].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(reqs.every((r) => r.requestedKiB === r.seed * GiB && r.usage?.everyMs === 300_000)).toBe(true);
    expect(traceRequests(trace, 1, 12, 15_000, 62 * GiB)).toEqual(reqs);
    expect(traceRequests(trace, 2, 12, 15_000, 62 * GiB).map((r) => r.seed)).not.toEqual(reqs.map((r) => r.seed));
  });

  it('a VM admitted late uses what the real VM used at that time of the trace', () => {
    const b2 = new TraceBuilder(3600, 300);
    for (let i = 0; i < 12; i++) b2.add(1, i * 300, 4 * GiB, (i + 1) * 100 * 1024);
    const reqs = traceRequests(b2.finish(), 1, 2, 1_800_000, 62 * GiB);
    const views: StepView[] = [];
    const opts = { ...DEFAULT_OPTIONS, hosts: 1, hours: 1 };
    simulateScheme(SCHEMES[0]!, reqs, opts, { onStep: (v) => views.push(v) });
    const at = (ms: number) => views.find((v) => v.tMs === ms)!;
    // the second VM arrives at 30 min: it uses the trace's 30-min sample at once
    expect(at(1_800_000).vms.map((v) => v.usedKiB)).toEqual([700 * 1024, 700 * 1024]);
  });
});

describe('time in the model', () => {
  it('a live migration lasts the measured fixed cost plus the copy, dirtied pages included', () => {
    expect(migrationMs(256 * 1024, { ...DEFAULT_OPTIONS, migrationDirtyShare: 0 })).toBeCloseTo(2_000);
    expect(migrationMs(1024 * 1024, { ...DEFAULT_OPTIONS, migrationDirtyShare: 0 })).toBeCloseTo(3_000);
    expect(migrationMs(1024 * 1024, DEFAULT_OPTIONS)).toBeGreaterThan(3_000);
  });

  it('runs end to end on a trace window (quick)', () => {
    const b3 = new TraceBuilder(7200, 300);
    for (let vm = 1; vm <= 30; vm++)
      for (let i = 0; i < 24; i++) b3.add(vm, i * 300, (1 + (vm % 4)) * GiB, (((vm * 7 + i * 13) % 10) / 10 + 0.05) * (1 + (vm % 4)) * GiB * 0.5);
    const opts = { ...DEFAULT_OPTIONS, hosts: 2, hostMemKiB: 16 * GiB, hours: 2, arrivalEveryMs: 60_000, stepMs: 30_000 };
    const reqs = traceRequests(b3.finish(), 3, 120, opts.arrivalEveryMs, opts.hostMemKiB);
    const run = runDensity(opts, reqs);
    const cv = run.results.find((r) => r.scheme === 'cloudvamp')!;
    expect(cv.admitted).toBeGreaterThan(run.results[0]!.admitted);
    expect(cv.maxMigrationsHostHour).toBeLessThanOrEqual(2);
    expect(cv.moveBacks).toBe(0);
  });
});
