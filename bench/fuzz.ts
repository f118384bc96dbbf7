// `npm run fuzz [-- --count N] [--seed S] [--out FILE]`: the fuzz run of #10
// (bench/fuzz/cases.ts) against a fresh build of every executable in a temp
// dir; writes the report (bench/results/fuzz.txt by default) and exits
// non-zero when any case broke a rule.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generateCases, report, runCases } from './fuzz/cases';

const { values } = parseArgs({
  options: { count: { type: 'string', default: '1200' }, seed: { type: 'string', default: '20261130' }, out: { type: 'string' }, timeout: { type: 'string', default: '20000' } },
});
const count = Number(values.count);
const seed = Number(values.seed);
const timeoutMs = Number(values.timeout);
const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..');
const out = values.out ?? path.join(root, 'bench', 'results', 'fuzz.txt');

const work = mkdtempSync(path.join(tmpdir(), 'cloudvamp-fuzz-'));
try {
  const buildDir = path.join(work, 'build');
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { env: { ...process.env, CLOUDVAMP_BUILD_DIR: buildDir }, stdio: ['ignore', 'ignore', 'inherit'] });
  const cases = generateCases(seed, count);
  let done = 0;
  const results = await runCases(cases, {
    buildDir,
    workDir: work,
    timeoutMs,
    parallel: Math.max(1, Math.min(4, availableParallelism())),
    onResult: (r) => {
      done++;
      if (r.problems.length) process.stderr.write(`case ${r.c.id} (${r.c.exe}, ${r.c.kind}): ${r.problems.join('; ')}\n`);
      if (done % 100 === 0) process.stderr.write(`${done}/${count}\n`);
    },
  });
  // the temp dir differs per run: name it, so two runs of one seed compare line by line
  const text = report(results, { seed, timeoutMs }).split(work).join('<work>');
  writeFileSync(out, text);
  process.stdout.write(text.split('\n\ncases')[0]!.trimEnd() + `\n(report: ${path.relative(process.cwd(), out)})\n`);
  if (results.some((r) => r.problems.length)) process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
