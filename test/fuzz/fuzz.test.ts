// A short fuzz run (bench/fuzz/cases.ts; `npm run fuzz` runs >= 1,000 cases):
// three generated bad inputs per built executable. Every one must end with a
// non-zero exit, one stderr line, no stack trace, no hang, no credential.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCases, judge, report, runCases, type FuzzCase } from '../../bench/fuzz/cases';
// @ts-expect-error plain ESM module without types: the list the build itself uses
import { executables } from '../../scripts/executables.mjs';

const root = path.resolve(__dirname, '..', '..');
let work: string;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'cloudvamp-fuzz-test-'));
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { env: { ...process.env, CLOUDVAMP_BUILD_DIR: path.join(work, 'build') }, stdio: 'ignore' });
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('fuzz', () => {
  it('the same seed gives the same cases; every executable gets some', () => {
    expect(generateCases(42, 60)).toEqual(generateCases(42, 60));
    expect(generateCases(43, 60)).not.toEqual(generateCases(42, 60));
    expect(new Set(generateCases(42, 60).map((c) => c.exe)).size).toBe(executables.length);
  });

  it('the judge catches what it must', () => {
    const c: FuzzCase = { id: 0, exe: 'bin/cloudvamp-cvem', kind: 'k', argv: [], stdin: '', env: {}, files: {}, secret: 'oneadmin:pw123' };
    const r = (over: Partial<Parameters<typeof judge>[0]>) => judge({ c, exitCode: 1, signal: null, timedOut: false, stdout: '', stderr: 'x: bad\n', ms: 1, ...over });
    expect(r({})).toEqual([]);
    expect(r({ exitCode: 0 })).toContain('exit 0 on bad input');
    expect(r({ stderr: 'I/O warning : failed\nx: bad\n' })).toContain('stderr is 2 lines, not one');
    expect(r({ stderr: 'TypeError: x\n    at f (file.js:1:2)\n' })).toContain('stack trace');
    expect(r({ stderr: 'x: the file oneadmin:pw123 does not exist\n' })).toContain('credential echoed');
    expect(r({ stderr: 'x: \u001b[2J\n' })).toContain('control characters on stderr');
    expect(r({ timedOut: true, exitCode: null, signal: 'SIGKILL' })).toContain('hang (timed out)');
    expect(judge({ c: { ...c, exe: 'remotes/vmm/cloudvamp/poll' }, exitCode: 1, signal: null, timedOut: false, stdout: '', stderr: 'WARN: unknown key\npoll: bad\n', ms: 1 })).toEqual([]);
  });

  it('3 generated bad inputs per executable: 0 stack traces, 0 hangs, 0 multi-line errors, all non-zero', async () => {
    const count = 3 * (executables as unknown[]).length;
    const results = await runCases(generateCases(20261130, count), { buildDir: path.join(work, 'build'), workDir: work, timeoutMs: 20_000, parallel: 2 });
    const broken = results.filter((r) => r.problems.length > 0);
    expect(broken.map((r) => report([r], { seed: 20261130, timeoutMs: 20_000 }).split('\n').at(-2))).toEqual([]);
    expect(results).toHaveLength(count);
  }, 180_000);
});
