// libvirt prints every error to stderr unless an error handler is installed.
// cloudvamp's executables own stderr (one line per failure, see lib/errors.ts),
// so the binding installs a no-op handler. Proven in a child process: a
// control child using libvirt raw shows the noise, ours shows none.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';

const client = new URL('../../../lib/libvirt/client.ts', import.meta.url).pathname;
const koffiDir = new URL('../../../node_modules/koffi/index.js', import.meta.url).pathname;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cloudvamp-stderr-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runChild(name: string, source: string) {
  const file = join(dir, name);
  writeFileSync(file, source);
  const result = spawnSync(process.execPath, ['--import', 'tsx', file], {
    cwd: new URL('../../..', import.meta.url).pathname,
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

it('control: raw libvirt without a handler prints its errors to stderr', () => {
  const { stderr, stdout, status } = runChild(
    'raw.mjs',
    `import { createRequire } from 'node:module';
const koffi = createRequire(import.meta.url)(${JSON.stringify(koffiDir)});
const lib = koffi.load('libvirt.so.0');
const open = lib.func('void *virConnectOpen(const char *name)');
console.log(open('test+unix:///default?socket=/nonexistent/raw-sock') === null);
`,
  );
  expect({ stdout, status }).toEqual({ stdout: 'true\n', status: 0 });
  expect(stderr).toContain('libvirt: ');
});

it('the binding keeps stderr empty through connect, lookup, call and migration failures', () => {
  const { stderr, stdout, status } = runChild(
    'quiet.mts',
    `import { openHypervisor } from ${JSON.stringify(client)};
const codes: number[] = [];
const record = (fn: () => unknown) => { try { fn(); codes.push(0); } catch (e) { codes.push((e as { code: number }).code); } };
record(() => openHypervisor('test+unix:///default?socket=/nonexistent/sock'));
const hv = openHypervisor('test:///default');
record(() => hv.domain('nope'));
record(() => hv.nodeMemoryStats());
const dom = hv.domain('test');
record(() => dom.setMemoryLive(1e12));
await dom.migrateToUri('test:///default', { live: true, peerToPeer: true }).catch((e) => codes.push(e.code));
dom.free();
hv.close();
console.log(JSON.stringify(codes));
`,
  );
  expect({ stdout, status }).toEqual({ stdout: '[38,42,3,8,74]\n', status: 0 });
  expect(stderr).toBe('');
});

it("libxml2's own I/O messages stay off stderr: a missing test:/// file, a directory", () => {
  const { stderr, stdout, status } = runChild(
    'libxml2.mts',
    `import { openHypervisor } from ${JSON.stringify(client)};
const codes: number[] = [];
for (const uri of ['test:///nonexistent/cloudvamp.xml', 'test:///tmp'])
  try { openHypervisor(uri); codes.push(0); } catch (e) { codes.push((e as { code: number }).code); }
console.log(JSON.stringify(codes.map((c) => c !== 0)));
`,
  );
  expect({ stdout, status }).toEqual({ stdout: '[true,true]\n', status: 0 });
  expect(stderr).toBe('');
});
