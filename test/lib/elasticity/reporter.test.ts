// guest/onegate-memory-reporter.sh against a tiny local OneGate stand-in.
import { execa } from 'execa';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const script = path.resolve(__dirname, '../../../guest/onegate-memory-reporter.sh');
const requests: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
    res.writeHead(200).end();
  });
});
let dir = '';
let endpoint = '';

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(path.join(tmpdir(), 'reporter-'));
  await writeFile(path.join(dir, 'one_env'), `export ONEGATE_ENDPOINT="${endpoint}"\nexport VMID="42"\n`);
  await writeFile(path.join(dir, 'token.txt'), 'secret-token');
  await writeFile(path.join(dir, 'meminfo'), 'MemTotal:        4046844 kB\nMemFree:          100000 kB\nMemAvailable:    2300000 kB\nBuffers: 1 kB\n');
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const env = () => ({ ONE_ENV: path.join(dir, 'one_env'), ONE_TOKEN: path.join(dir, 'token.txt'), MEMINFO: path.join(dir, 'meminfo'), PATH: process.env.PATH! });

describe('onegate-memory-reporter.sh', () => {
  it.each([['sh'], ['busybox sh']])('--once PUTs MEM_TOTAL / MEM_FREE / MEM_STAMP with the token and VMID (%s)', async (shell) => {
    requests.length = 0;
    const [file, ...args] = shell.split(' ');
    const r = await execa(file!, [...args, script, '--once'], { env: env(), extendEnv: false, reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(requests).toHaveLength(1);
    const req = requests[0]!;
    expect(req).toMatchObject({ method: 'PUT', url: '/vm' });
    expect(req.headers['x-onegate-token']).toBe('secret-token');
    expect(req.headers['x-onegate-vmid']).toBe('42');
    expect(req.body).toMatch(/^MEM_TOTAL = 4046844\nMEM_FREE = 2300000\nMEM_STAMP = \d{10}$/);
  });

  it('falls back to wget when curl is missing', async () => {
    requests.length = 0;
    const bin = path.join(dir, 'bin');
    await execa('sh', ['-c', `mkdir -p ${bin} && for t in awk cat date wget grep sed mktemp rm; do ln -sf "$(command -v $t)" ${bin}/$t; done`]);
    const r = await execa('/bin/sh', [script, '--once'], { env: { ...env(), PATH: bin }, extendEnv: false, reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(requests[0]?.body).toMatch(/MEM_FREE = 2300000/);
  });

  // every argv curl or wget was started with, through shims that log and exec the real tool
  async function shimmed(tools: string[]) {
    const bin = await mkdtemp(path.join(tmpdir(), 'reporter-shims-'));
    const log = path.join(bin, 'argv.log');
    const keep = ['awk', 'cat', 'date', 'grep', 'sed', 'mktemp', 'rm', 'sleep'];
    await execa('sh', ['-c', `for t in ${keep.join(' ')}; do ln -sf "$(command -v $t)" ${bin}/$t; done`]);
    for (const tool of tools) {
      const real = (await execa('sh', ['-c', `command -v ${tool}`])).stdout;
      await writeFile(path.join(bin, tool), `#!/bin/sh\nprintf '%s\\n' "$0 $*" >> ${log}\nexec ${real} "$@"\n`, { mode: 0o755 });
    }
    return { bin, argv: async () => readFile(log, 'utf8') };
  }

  it.each([['curl'], ['wget']])('never puts the token on %s\'s command line (ps shows it to every user)', async (tool) => {
    requests.length = 0;
    const { bin, argv } = await shimmed([tool]);
    const r = await execa('/bin/sh', [script, '--once'], { env: { ...env(), PATH: bin }, extendEnv: false, reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(requests[0]?.headers['x-onegate-token']).toBe('secret-token');
    expect(requests[0]?.headers['x-onegate-vmid']).toBe('42');
    expect(await argv()).toContain(tool);
    expect(await argv()).not.toContain('secret-token');
  });

  it('says what is missing without context', async () => {
    const r = await execa('sh', [script, '--once'], { env: { ONE_ENV: '/nonexistent', MEMINFO: path.join(dir, 'meminfo'), PATH: process.env.PATH! }, extendEnv: false, reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/ONEGATE_ENDPOINT or VMID unknown/);
  });

  it('loop mode publishes repeatedly and exits on SIGTERM', async () => {
    requests.length = 0;
    const child = execa('sh', [script, '--interval', '0.2'], { env: env(), extendEnv: false, reject: false });
    const deadline = Date.now() + 10_000;
    while (requests.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    const r = await child;
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(r.exitCode === 0 || r.signal === 'SIGTERM').toBe(true);
  });
});
