// README's measured figures are copied from committed benchmark output, never
// typed: every number in a README table row that cites one of these results
// files must appear in that file's last run (#11).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');
/** results file → the line that starts each run in it (the last run is checked) */
const CHECKED: Record<string, RegExp> = {
  'bench/results/probes.txt': /^# .*node --import tsx bench\/run\.ts probes/m,
  'bench/results/vmm-busy.txt': /^# .*node --import tsx bench\/run\.ts vmm-busy/m,
  'bench/results/sharing-contention.txt': /^# raw output of: .*test\/kvm\/sharing-contention\.test\.ts/m,
  'bench/results/cycle.txt': /^# .*bench\/cycle\.ts/m,
  // one run per file, rendered from the committed raw parts (npm run bench:density -- --report)
  'bench/results/density.md': /^# Density benchmark/m,
};

/** The text of the file's last run. */
export function lastRun(text: string, start: RegExp): string {
  const global = new RegExp(start.source, 'gm');
  let at = -1;
  for (const m of text.matchAll(global)) at = m.index ?? at;
  if (at < 0) throw new Error(`no run starts with ${start} in the results file`);
  return text.slice(at);
}

/** Numbers of a README row that must come from the run: goals (`goal 1.5×`) and the link itself are not measured. */
export function figures(row: string): string[] {
  const text = row.replace(/\[[^\]]*\]\([^)]*\)/g, '').replace(/goal [\d.,]+×?/g, '');
  return [...text.matchAll(/\d[\d,]*(?:\.\d+)?/g)].map((m) => m[0].replace(/,/g, ''));
}

export function missing(row: string, run: string): string[] {
  return figures(row).filter((n) => !new RegExp(`(^|[^\\d.])${n.replace('.', '\\.')}(?![\\d])`).test(run));
}

describe('README figures match committed bench output', () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  for (const [file, start] of Object.entries(CHECKED)) {
    const rows = readme.split('\n').filter((l) => l.startsWith('|') && l.includes(`](${file})`));
    it(`${file}: README cites it and every number in those rows is in its last run`, () => {
      expect(rows.length).toBeGreaterThan(0);
      const run = lastRun(readFileSync(path.join(root, file), 'utf8'), start);
      for (const row of rows) expect({ row: row.slice(0, 60), missing: missing(row, run) }).toEqual({ row: row.slice(0, 60), missing: [] });
    });
  }

  it('catches a typed number and ignores goals and links', () => {
    const run = '# x node --import tsx bench/run.ts probes\n ratio 9.1x  2705 ms  0.71x\n';
    expect(missing('| a | 9.1×, 2,705 ms, 0.71× (goal 1.5×) see [r](bench/results/probes.txt) |', run)).toEqual([]);
    expect(missing('| a | 9.2×, 2,705 ms |', run)).toEqual(['9.2']);
    expect(missing('| a | 9.1 and 705 |', run)).toEqual(['705']);
  });
});
