// The single-binary build (scripts/build-sea.mjs): sh wrappers in the remotes
// layout exec one shared Node SEA runtime. Run with no node on the PATH and an
// empty environment, they must print exactly what the normal bundles print.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
let work: string;
let sea: string; // dist-sea/remotes of the build
let normal: string; // dist/remotes of the normal build
let noNodePath: string; // a PATH directory without node (nor anything else)

const SYSTEM = 'im/cloudvamp-probes.d/host/system/cloudvamp-host-system';
const STATUS = 'im/cloudvamp-probes.d/vm/status/cloudvamp-vm-status';
const URI = ['--uri', 'test:///default'];

let runs = 0;
/** `env -i PATH=<dir without node> <wrapper> args...`, from the wrapper's directory */
function wrapped(rel: string, args: string[]) {
  const file = path.join(sea, rel);
  const r = spawnSync('/usr/bin/env', ['-i', `PATH=${noNodePath}`, `CLOUDVAMP_STATE_DIR=${path.join(work, `state-${++runs}`)}`, file, ...args], {
    encoding: 'utf8',
    cwd: path.dirname(file),
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** the normal bundle of the same executable, run by this node */
function bundled(rel: string, args: string[]) {
  const file = path.join(normal, rel);
  const r = spawnSync(process.execPath, [file, ...args], {
    encoding: 'utf8',
    cwd: path.dirname(file),
    env: { PATH: process.env.PATH, CLOUDVAMP_STATE_DIR: path.join(work, `state-${++runs}`) },
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'cloudvamp-sea-test-'));
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build-sea.mjs')], {
    env: { ...process.env, CLOUDVAMP_SEA_DIR: path.join(work, 'dist-sea') },
    stdio: 'pipe',
  });
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), 'remotes/im/'], {
    env: { ...process.env, CLOUDVAMP_BUILD_DIR: path.join(work, 'dist') },
    stdio: 'pipe',
  });
  sea = path.join(work, 'dist-sea', 'remotes');
  normal = path.join(work, 'dist', 'remotes');
  noNodePath = path.join(work, 'empty-path');
  mkdirSync(noNodePath);
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('single-binary build', () => {
  it('lays out sh wrappers in place of the bundles, and one runtime with koffi.node beside it', () => {
    const runtime = path.join(sea, 'cloudvamp-runtime', 'cloudvamp-sea');
    expect(statSync(runtime).mode & 0o111).toBe(0o111);
    expect(statSync(path.join(sea, 'cloudvamp-runtime', 'koffi.node')).mode & 0o111).toBe(0);
    for (const rel of [SYSTEM, STATUS, 'im/cloudvamp-legacy-probes.d/cloudvamp-poll', 'vmm/cloudvamp/deploy', 'vmm/cloudvamp/memory']) {
      const file = path.join(sea, rel);
      expect(readFileSync(file, 'utf8').split('\n', 1)[0]).toBe('#!/bin/sh');
      expect(statSync(file).size).toBeLessThan(1024);
      expect(statSync(file).mode & 0o111).toBe(0o111);
      expect(existsSync(path.join(path.dirname(file), 'koffi.node'))).toBe(false);
    }
    for (const cat of ['vm/snapshot', 'vm/execution']) expect(statSync(path.join(sea, 'im/cloudvamp-probes.d', cat)).isDirectory()).toBe(true);
  });

  it('the PATH the wrappers run with has no node on it', () => {
    const r = spawnSync('/bin/sh', ['-c', 'command -v node || echo none'], { encoding: 'utf8', env: { PATH: noNodePath } });
    expect(r.stdout.trim()).toBe('none');
  });

  it('host/system and vm/status print exactly what the normal bundles print', () => {
    for (const rel of [SYSTEM, STATUS]) {
      const mine = wrapped(rel, [...URI, 'cloudvamp', '3', 'node1']);
      const theirs = bundled(rel, [...URI, 'cloudvamp', '3', 'node1']);
      expect(mine.stderr).toBe('');
      expect(mine.status).toBe(0);
      expect(theirs.status).toBe(0);
      expect(mine.stdout).toBe(theirs.stdout);
    }
    expect(wrapped(SYSTEM, URI).stdout).toMatch(/^TOTALMEMORY=\d+$/m);
  });

  it('the process is the runtime binary itself: the wrapper execs it, no node anywhere', async () => {
    // deploy waits for the domain XML on stdin: time to look at the process
    const child = spawn('/usr/bin/env', ['-i', `PATH=${noNodePath}`, path.join(sea, 'vmm/cloudvamp/deploy'), ...URI, '/nonexistent/d.xml', 'h', '1', 'h'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const runtime = path.join(sea, 'cloudvamp-runtime', 'cloudvamp-sea');
    let exe = '';
    for (let i = 0; i < 200 && exe !== runtime; i++) {
      try {
        exe = readlinkSync(`/proc/${child.pid}/exe`);
      } catch {
        /* between env's and sh's exec */
      }
      if (exe !== runtime) await new Promise((r) => setTimeout(r, 25));
    }
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').slice(1, 3);
    child.stdin.end('');
    await exited;
    expect(exe).toBe(runtime);
    expect(cmdline).toEqual(['deploy', path.join(sea, 'vmm/cloudvamp/deploy')]);
  });

  it('--help works; a bad option is one stderr line and exit 2', () => {
    const help = wrapped(SYSTEM, ['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: cloudvamp-host-system [options]');
    const deployHelp = wrapped('vmm/cloudvamp/deploy', ['--help']);
    expect(deployHelp.status).toBe(0);
    expect(deployHelp.stdout).toContain('Usage: deploy');

    const bad = wrapped(STATUS, ['--bogus']);
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe("cloudvamp-vm-status: unknown option '--bogus'; see --help\n");
    expect(bad.stderr).toBe(bundled(STATUS, ['--bogus']).stderr);
  });

  it('honours the config file next to the wrapper in the remotes tree (OVERCOMMIT)', () => {
    const etc = path.join(sea, 'etc', 'im', 'cloudvamp-probes.d');
    mkdirSync(etc, { recursive: true });
    writeFileSync(path.join(etc, 'cloudvamp.conf'), 'OVERCOMMIT=0.5\nLIBVIRT_URI=test:///default\n');
    try {
      const full = Object.fromEntries([...wrapped(SYSTEM, URI).stdout.matchAll(/^([A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
      expect(full.CLOUDVAMP_OVERCOMMIT).toBe('0.5');
      expect(Number(full.TOTALMEMORY)).toBe(Number(full.CLOUDVAMP_PHYSICALMEMORY) + Math.floor(Number(full.PACKEDMEMORY) / 2));
      // LIBVIRT_URI from the same file: no --uri needed
      expect(wrapped(SYSTEM, []).stdout).toBe(wrapped(SYSTEM, URI).stdout);
    } finally {
      rmSync(path.join(sea, 'etc'), { recursive: true, force: true });
    }
  });

  it('the runtime run by hand (no entry) says how it is meant to be run, exit 2', () => {
    const r = spawnSync(path.join(sea, 'cloudvamp-runtime', 'cloudvamp-sea'), [], { encoding: 'utf8', env: {} });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
