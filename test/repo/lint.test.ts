// eslint.config.js as a test, so CI runs it with everything else: lib/'s pure
// folders do no I/O (no node:fs, child_process, execa, koffi, process, Date.now,
// Math.random); only lib/io, lib/oned and lib/libvirt touch the outside world.
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
// Cached in .cache/eslint: a warm run re-lints only the files that changed.
const eslint = new ESLint({ cwd: root, cache: true, cacheLocation: `${root}.cache/eslint/` });
const problems = (results: ESLint.LintResult[]) =>
  results.flatMap((r) => r.messages.map((m) => `${r.filePath.slice(root.length)}:${m.line} ${m.ruleId ?? 'parse'}: ${m.message}`));

describe('eslint', () => {
  it('lib/ passes: the pure folders do no I/O', async () => {
    expect(problems(await eslint.lintFiles(['lib']))).toEqual([]);
  }, 60_000);

  it('flags I/O in a pure folder and allows it in an adapter folder', async () => {
    const text = "import { readFileSync } from 'node:fs';\nimport { execa } from 'execa';\nexport const f = () => [readFileSync, execa, process.env, Date.now()];\n";
    const pure = problems(await eslint.lintText(text, { filePath: `${root}lib/planning/new-file.ts` }));
    expect(pure.map((p) => p.replace(/: .*/, ''))).toEqual([
      'lib/planning/new-file.ts:1 no-restricted-imports',
      'lib/planning/new-file.ts:2 no-restricted-imports',
      'lib/planning/new-file.ts:3 no-restricted-globals',
      'lib/planning/new-file.ts:3 no-restricted-properties',
    ]);
    expect(problems(await eslint.lintText(text, { filePath: `${root}lib/io/new-file.ts` }))).toEqual([]);
    // a pure module may not reach an adapter; a command (composition root) may
    const adapter = "import { fileStateStore } from '../io/state-file';\nexport const s = fileStateStore;\n";
    expect(problems(await eslint.lintText(adapter, { filePath: `${root}lib/elasticity/policy-x.ts` }))).toHaveLength(1);
    expect(problems(await eslint.lintText(adapter, { filePath: `${root}lib/elasticity/command.ts` }))).toEqual([]);
  });
});
