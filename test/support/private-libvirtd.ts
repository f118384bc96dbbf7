// A throw-away libvirtd for tests of the remote driver path, isolated from any
// other libvirtd on the machine:
// - its sockets, pid file, config and log live in a fresh temp dir;
// - LIBVIRT_DRIVER_DIR points at an empty dir, so it loads no driver modules
//   (no qemu, network, storage...): it cannot adopt guests, touch bridges or
//   firewall rules, or fight the system daemon over /run/libvirt/qemu. Only the
//   drivers built into libvirt.so (test, remote) remain, which is all it serves.
// - no TCP/TLS listeners; unix sockets with auth none (we are root).
// Side effect of running it as root: libvirt creates /run/libvirt/common/system.token
// if missing (a shared random identity token every privileged daemon reuses).

import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateLibvirtd {
  /** The temp dir holding sockets, config, pid file and log. */
  readonly dir: string;
  readonly socket: string;
  readonly pid: number;
  /** test+unix URI for the daemon: `/default` (the built-in node) or an absolute test-XML path. */
  uri(pathOrDefault?: string): string;
  /** SIGTERM, wait for exit, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const LIBVIRTD = '/usr/sbin/libvirtd';
const DRIVER_MODULES = '/usr/lib/x86_64-linux-gnu/libvirt/connection-driver';
const NOBODY = { uid: 65534, gid: 65534 };

export async function startPrivateLibvirtd(options: { readyTimeoutMs?: number } = {}): Promise<PrivateLibvirtd> {
  return start('test', options.readyTimeoutMs ?? 10_000);
}

/**
 * A session-mode (unprivileged, uid nobody) libvirtd with only the QEMU driver
 * module, for the host-side calls the test driver lacks (virNodeGetMemoryStats).
 * Session mode keeps all QEMU driver state under the temp dir (HOME/XDG_*),
 * away from the system daemon's /run/libvirt/qemu. Boots no guest.
 * uri() ignores its argument and returns qemu+unix:///session?socket=...
 */
export async function startPrivateQemuSessionLibvirtd(options: { readyTimeoutMs?: number } = {}): Promise<PrivateLibvirtd> {
  return start('qemu-session', options.readyTimeoutMs ?? 15_000);
}

async function start(mode: 'test' | 'qemu-session', readyTimeoutMs: number): Promise<PrivateLibvirtd> {
  const dir = mkdtempSync(join(tmpdir(), 'cloudvamp-libvirtd-'));
  const drivers = join(dir, 'drivers');
  mkdirSync(drivers);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LIBVIRT_DRIVER_DIR: drivers };
  if (mode === 'qemu-session') {
    symlinkSync(join(DRIVER_MODULES, 'libvirt_driver_qemu.so'), join(drivers, 'libvirt_driver_qemu.so'));
    for (const sub of ['run', 'config', 'cache']) mkdirSync(join(dir, sub));
    Object.assign(env, { HOME: dir, XDG_RUNTIME_DIR: join(dir, 'run'), XDG_CONFIG_HOME: join(dir, 'config'), XDG_CACHE_HOME: join(dir, 'cache') });
  }
  const socket = join(dir, 'libvirt-sock');
  const log = join(dir, 'libvirtd.log');
  const config = join(dir, 'libvirtd.conf');
  writeFileSync(
    config,
    [
      'listen_tls = 0',
      'listen_tcp = 0',
      `unix_sock_dir = "${dir}"`,
      'unix_sock_rw_perms = "0700"',
      'unix_sock_ro_perms = "0700"',
      'auth_unix_rw = "none"',
      'auth_unix_ro = "none"',
      `log_outputs = "3:file:${log}"`,
      '',
    ].join('\n'),
  );
  if (mode === 'qemu-session') {
    chmodSync(dir, 0o755);
    for (const path of [dir, drivers, config, join(dir, 'run'), join(dir, 'config'), join(dir, 'cache')]) chownSync(path, NOBODY.uid, NOBODY.gid);
  }

  // --timeout: a daemon orphaned by a crashed test run exits once idle.
  const child = spawn(LIBVIRTD, ['--config', config, '--pid-file', join(dir, 'libvirtd.pid'), '--timeout', '300'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(mode === 'qemu-session' ? NOBODY : {}),
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const cleanup = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitForSocket(socket, child, readyTimeoutMs);
  } catch (error) {
    const logText = readIfExists(log);
    await cleanup();
    throw new Error(`private libvirtd did not start: ${(error as Error).message}\nstderr: ${stderr}\nlog: ${logText}`);
  }

  let stopped: Promise<void> | undefined;
  return {
    dir,
    socket,
    pid: child.pid ?? -1,
    uri: (pathOrDefault = '/default') =>
      mode === 'test' ? `test+unix://${pathOrDefault}?socket=${socket}` : `qemu+unix:///session?socket=${socket}`,
    stop: () => (stopped ??= cleanup()),
  };
}

/** Ready means the socket accepts connections; the pid file is written before that. */
async function waitForSocket(path: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`libvirtd exited early (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    if (await canConnect(path)) return;
    if (Date.now() > deadline) throw new Error(`no socket at ${path} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function readIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '(none)';
  }
}
