// `npm run bench:density`: the density benchmark (bench/density), every scheme
// side by side over one seeded day. Writes bench/results/density.md and
// bench/results/density-host.svg, prints the table; progress on stderr.
//   npm run bench:density -- [--seed N] [--hours H] [--no-sensitivity]
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_OPTIONS, runDensity, SCHEMES, SENSITIVITY } from './density/index';
import { goalsText, markdownReport, svgChart, textTable } from './density/report';

const TRACE_NOTE = `No real public trace was used: none could be had from the registries this project
reaches. The npm registry's search endpoint answered 404 from here (\`npm search\` for "vm memory
trace", "alibaba cluster trace", "azure public dataset vm"), the list of npm package names this
workplace keeps (about 227 000, with their summaries) has no package shipping a VM or cluster
memory-usage trace (Google Borg, Alibaba cluster-trace, Azure public dataset), and neither has
Debian's archive (\`apt-cache search\`). The synthetic patterns above stand in; a trace would plug
in as another \`usageTrace\` source in bench/density/workload.ts.`;

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const flag = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : undefined;
  };
  const options = { ...DEFAULT_OPTIONS, seed: flag('--seed') ?? DEFAULT_OPTIONS.seed, hours: flag('--hours') ?? DEFAULT_OPTIONS.hours };
  const schemes = argv.includes('--no-sensitivity') ? SCHEMES : [...SCHEMES, ...SENSITIVITY];
  const command = ['npm run bench:density', ...(argv.length ? ['--', ...argv] : [])].join(' ');
  const started = Date.now();
  let last = '';
  const run = runDensity(options, undefined, schemes, (scheme, fraction) => {
    const line = `${scheme.name}: ${Math.floor(fraction * 100)} %`;
    if (line === last) return;
    last = line;
    if (process.stderr.isTTY) process.stderr.write(`\r${line.padEnd(40)}${fraction >= 1 ? '\n' : ''}`);
    else if (fraction >= 1 || Math.floor(fraction * 100) % 20 === 0) process.stderr.write(`${line}\n`);
  });
  const seconds = (Date.now() - started) / 1000;
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'density.md'), markdownReport(run, { command, traceNote: TRACE_NOTE }));
  await writeFile(path.join(dir, 'density-host.svg'), svgChart(run));
  process.stdout.write(`${textTable(run)}\n\n${goalsText(run)}\n\n`);
  process.stdout.write(`wrote bench/results/density.md and density-host.svg (${command}, seed ${options.seed}, ${seconds.toFixed(0)} s)\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await run();
