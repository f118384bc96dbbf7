// Crash safety of the CVEM state file with real processes: a child rewrites the
// file in a loop and is killed with SIGKILL at random moments. In the artefacts
// project (25 child processes, each loading TypeScript through tsx: ~15 s).
import { execa } from 'execa';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseState } from '../../../lib/elasticity/state';
import { seededRandom } from '../../../lib/random';

const tmp = () => mkdtemp(path.join(tmpdir(), 'cvem-state-'));

describe('state file', () => {
  it('kill -9 at random moments: the file always parses and keeps every original', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'state.json');
    const child = path.resolve(__dirname, 'state-writer-child.ts');
    const random = seededRandom(7);
    let previous = 0;
    for (let round = 0; round < 25; round++) {
      const proc = execa('node', ['--import', 'tsx', child, file], { reject: false });
      await new Promise<void>((resolve) => proc.stdout!.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 5 + random() * 150));
      proc.kill('SIGKILL');
      const r = await proc;
      expect(r.signal).toBe('SIGKILL');
      const state = parseState(await readFile(file, 'utf8'));
      const ids = Object.keys(state.vms).map(Number).sort((a, b) => a - b);
      // Every VM ever written is still there, with its original untouched.
      expect(ids.length).toBeGreaterThanOrEqual(previous);
      ids.forEach((id, i) => {
        expect(id).toBe(i);
        expect(state.vms[String(id)]!.originalKiB).toBe((id + 1) * 1024);
      });
      previous = ids.length;
    }
    expect(previous).toBeGreaterThan(12);
  }, 60_000);
});
