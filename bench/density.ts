// `npm run bench:density`: the density benchmark (bench/density), every scheme
// side by side over one workload, or (--report) the full run behind
// bench/results/density.md. Progress on stderr.
//   npm run bench:density -- [--seed N] [--hours H] [--no-sensitivity]
//   npm run bench:density -- --trace FILE [--window-start S] [--window-length S]
//   npm run bench:density -- --report --part trace|invented|curve-trace|curve-invented --trace FILE [--quick]
//   npm run bench:density -- --report      (density.md + density-curve.svg from the raw parts)
//   npm run bench:density -- --tune [KEY=VALUE …] [--seed N | --trace FILE --window-start S --window-length S]
//     no overcommit and the default with cvem.conf keys changed, one line (how settings are chosen
//     on the tuning windows; bench/results/density-tuning.txt)
// FILE: a VM memory trace in the shared format (README, "Density on a real
// trace"), gzip'd or not, read streaming.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../lib/elasticity/config';
import { DEFAULT_OPTIONS, inventedRequests, requestCount, runDensity, SCHEMES, SENSITIVITY, withConfig, type DensityOptions } from './density/index';
import { goalsText, textTable } from './density/report';
import { curveSvg, suiteReport, type SuiteRun } from './density/suite-report';
import { CLOUDVAMP, curve, INVENTED_SEEDS, judge, SUITE_GOALS, TRACE_WINDOWS, TUNING_SEED, TUNING_WINDOW } from './density/suite';
import { readTrace } from './density/trace';
import { traceRequests, type TraceWorkload, type VmRequest } from './density/workload';

const SAMPLE_S = 300;
/**
 * The policy's INTERVAL on the trace: the daemon's 10 s up to a day; a 7-day
 * window at 30 s stays in minutes (it reacts slower than the daemon: its
 * starvation is an upper bound).
 */
export const traceStepMs = (lengthS: number) => (lengthS <= 86_400 ? DEFAULT_OPTIONS.stepMs : 30_000);

function flags(argv: string[]) {
  const num = (name: string) => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const n = Number(argv[i + 1]);
    if (!Number.isFinite(n)) throw new Error(`${name} needs a number, got '${argv[i + 1] ?? ''}'`);
    return n;
  };
  const str = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return { num, str, has: (name: string) => argv.includes(name) };
}

async function traceWindow(file: string, options: DensityOptions, startS: number, lengthS: number): Promise<{ trace: TraceWorkload; requests: VmRequest[]; options: DensityOptions }> {
  const trace = await readTrace(file, { startS, lengthS, sampleS: SAMPLE_S });
  const opts = { ...options, hours: lengthS / 3600, stepMs: traceStepMs(lengthS) };
  return { trace, options: opts, requests: traceRequests(trace, opts.seed, requestCount(opts), opts.arrivalEveryMs, opts.hostMemKiB - opts.reserveKiB) };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

export type Part = 'trace' | 'invented' | 'curve-trace' | 'curve-invented';
export const PARTS: readonly Part[] = ['trace', 'invented', 'curve-trace', 'curve-invented'];

/**
 * One part of the full run (parts run as separate processes on a shared
 * machine): goals on every trace window or invented seed, or the curve on the
 * first trace window's first 6 h or invented seed 42 over 6 h.
 */
export async function reportPart(file: string, part: Part, quick: boolean): Promise<Partial<SuiteRun>> {
  const windows = quick ? [{ name: 'quick: day 3, 0–2 h', startS: 2 * 86_400, lengthS: 7_200 }] : TRACE_WINDOWS;
  const seeds = quick ? [42] : INVENTED_SEEDS;
  const inventedOpts: DensityOptions = quick ? { ...DEFAULT_OPTIONS, hours: 2 } : DEFAULT_OPTIONS;
  const curveHours = quick ? 1 : 6;
  switch (part) {
    case 'trace': {
      const trace: SuiteRun['trace'] = [];
      for (const w of windows) {
        const t = await traceWindow(file, DEFAULT_OPTIONS, w.startS, w.lengthS);
        const v = judge(w.name, t.options, t.requests, SUITE_GOALS.vsNone);
        trace.push({ ...v, traceVms: t.trace.vms.length, samples: t.trace.samples, clamped: t.trace.clamped, startS: w.startS, lengthS: w.lengthS });
        log(`trace ${w.name}: ${v.vsNone.toFixed(2)}× none, starvation +${(v.excess * 100).toFixed(3)} %`);
      }
      return { trace };
    }
    case 'invented': {
      const invented: SuiteRun['invented'] = [];
      for (const seed of seeds) {
        const opts = { ...inventedOpts, seed };
        const v = judge(`seed ${seed}`, opts, inventedRequests(opts), SUITE_GOALS.vsNoneInvented);
        invented.push({ ...v, seed });
        log(`invented seed ${seed}: ${v.vsNone.toFixed(2)}× none, starvation +${(v.excess * 100).toFixed(3)} %`);
      }
      return { invented };
    }
    case 'curve-trace': {
      const w = windows[0]!;
      const t = await traceWindow(file, DEFAULT_OPTIONS, w.startS, curveHours * 3600);
      const none = judge(w.name, t.options, t.requests, 0).none;
      return { curves: [{ workload: `trace, ${w.name}, first ${curveHours} h`, points: curve(t.options, t.requests, none) }] };
    }
    case 'curve-invented': {
      const opts = { ...inventedOpts, hours: curveHours, seed: seeds[0]! };
      const requests = inventedRequests(opts);
      const none = judge('', opts, requests, 0).none;
      return { curves: [{ workload: `invented, seed ${opts.seed}, ${curveHours} h`, points: curve(opts, requests, none) }] };
    }
  }
}

/** The words after --tune up to the next flag: cvem.conf lines, read as the daemon reads them. */
function tuneKeys(argv: string[]) {
  const start = argv.indexOf('--tune') + 1;
  const end = argv.findIndex((w, i) => i >= start && w.startsWith('--'));
  const keys = argv.slice(start, end < 0 ? undefined : end);
  const parsed = parseConfig(keys.join('\n'));
  if (parsed.errors.length > 0 || !parsed.config) throw new Error(`--tune: ${parsed.errors.map((e) => e.message).join('; ')}`);
  return { keys, parsed: { ...parsed, config: parsed.config } };
}

const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
const rawFile = (part: Part) => path.join(RESULTS, `density-raw-${part}.json`);

/** bench/results/density.md and density-curve.svg from the committed raw parts. */
export async function render(command: string): Promise<string> {
  const run: SuiteRun = { command, trace: [], invented: [], curves: [], tuning: TUNING_WINDOW.name, tuningSeed: TUNING_SEED, seconds: 0 };
  for (const part of PARTS) {
    const raw = JSON.parse(await readFile(rawFile(part), 'utf8')) as Partial<SuiteRun> & { seconds: number };
    run.trace.push(...(raw.trace ?? []));
    run.invented.push(...(raw.invented ?? []));
    run.curves.push(...(raw.curves ?? []));
    run.seconds! += raw.seconds;
  }
  const md = suiteReport(run);
  await writeFile(path.join(RESULTS, 'density.md'), md);
  await writeFile(path.join(RESULTS, 'density-curve.svg'), curveSvg(run));
  return md;
}

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const f = flags(argv);
  const command = ['npm run bench:density', ...(argv.length ? ['--', ...argv] : [])].join(' ');
  const file = f.str('--trace');
  if (f.has('--report')) {
    // --report --part P: one part, its raw output to bench/results (or stdout with --quick); --report alone: render them
    const part = f.str('--part') as Part | undefined;
    if (!part) {
      const md = await render(command.replace(/ --report$/, ' --report --part …'));
      process.stdout.write(`${md.split('\n## Curve')[0]}\nwrote bench/results/density.md and density-curve.svg\n`);
      return;
    }
    if (!PARTS.includes(part)) throw new Error(`--part must be one of ${PARTS.join(', ')}`);
    if (!file && part !== 'invented' && part !== 'curve-invented') throw new Error('this part needs --trace FILE (the shared month: /work/shared/traces/bitbrains-rnd-2013-7.csv.gz)');
    const started = Date.now();
    const raw = { command, ...(await reportPart(file ?? '', part, f.has('--quick'))), seconds: (Date.now() - started) / 1000 };
    const text = `${JSON.stringify(raw, (k, v) => (k === 'chart' ? undefined : v), 1)}\n`;
    if (f.has('--quick')) process.stdout.write(text);
    else await writeFile(rawFile(part), text);
    return;
  }
  const tune = f.has('--tune') ? tuneKeys(argv) : undefined;
  const base = { ...DEFAULT_OPTIONS, seed: f.num('--seed') ?? DEFAULT_OPTIONS.seed, hours: f.num('--hours') ?? DEFAULT_OPTIONS.hours };
  let options = base;
  let requests: VmRequest[];
  if (file) {
    const t = await traceWindow(file, base, f.num('--window-start') ?? 0, f.num('--window-length') ?? 86_400);
    ({ options, requests } = t);
    log(`${file}: ${t.trace.vms.length} VMs, ${t.trace.samples} samples, ${t.trace.clamped} above the VM's size (clamped)`);
  } else requests = inventedRequests(options);
  if (tune) {
    const { keys, parsed } = tune;
    const where = file ? `trace ${f.num('--window-start') ?? 0}+${f.num('--window-length') ?? 86_400} s` : `invented seed ${options.seed}, ${options.hours} h`;
    const v = judge(where, options, requests, 0, withConfig(CLOUDVAMP, parsed.config));
    process.stdout.write(
      `${where} [${keys.join(' ') || 'the default'}]: ${v.vsNone.toFixed(2)}× none, starvation above none ${(v.excess * 100).toFixed(3)} %, ` +
        `max ${v.cv.maxMigrationsHostHour} migrations in a host-hour, ${v.cv.moveBacks} moved back, reserve ${(v.cv.meanReserveKiB / 1024 ** 2).toFixed(1)} GiB/host\n`,
    );
    return;
  }
  const schemes = f.has('--no-sensitivity') ? SCHEMES : [...SCHEMES, ...SENSITIVITY];
  const started = Date.now();
  const result = runDensity(options, requests, schemes, (scheme, fraction) => {
    if (fraction >= 1) log(`${scheme.name}: done`);
  });
  process.stdout.write(`${textTable(result)}\n\n${goalsText(result)}\n\n(${command}, ${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await run();
