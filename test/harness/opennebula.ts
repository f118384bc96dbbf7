// A private OpenNebula 7.4 front-end for the `opennebula` test tier: oned,
// onemonitord and the scheduler on this machine, with the harness's libvirt
// hosts (hosts.sh) as its KVM hosts, reached over real ssh, and cloudvamp
// installed into it by the project's own install.sh --apply-conf.
//
// Layout (everything under STATE_DIR, nothing global but /run/sshd):
//   $STATE/feroot/one       copy of the OpenNebula install (ONE_LOCATION); its
//                           var/ holds the DB, logs and the system datastore
//   $STATE/feroot/...       install.sh --root: cloudvamp's front-end tools, unit
//   $STATE/ssh              per-run keys, ssh_config, sshd_config per host
//   $STATE/fe-bin           ssh/scp wrappers first on oned's PATH (they add -F ssh_config)
// Network: a veth from this namespace into the hosts' switch, $SUBNET.254 here;
// monitord listens there, oned on 127.0.0.1. Ports derive from the subnet so
// two harness sets (CLOUDVAMP_TEST_SUBNET) never collide.
//
// The workarounds come from ../shared/opennebula/release-7.4.0/README.md:
// RUBYLIB, share/gems filled with links to Debian's gems, private ports,
// ONE_AUTH, lower probe periods. Each host has its own /tmp and /var/tmp
// (CLOUDVAMP_TEST_PRIVATE_TMP), so the monitord client's pid files and the
// remotes (/var/tmp/one) are per host, as on real machines.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { HttpOneRpc } from '../../lib/oned/client.js';
import type { XmlRpcEncodable, XmlRpcValue } from '../../lib/oned/xmlrpc.js';
import { HarnessError, waitFor } from './index.js';

const HARNESS_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HARNESS_DIR, '../..');
const HOSTS_SH = path.join(HARNESS_DIR, 'hosts.sh');

// Its own set of host namespaces, apart from the kvm tier's (vitest starts
// every project's global set-up at once, in one process): CLOUDVAMP_TEST_ONE_*
// here; the opennebula project hands the same values to its test workers as
// CLOUDVAMP_TEST_* (vitest.config.ts), so index.ts's helpers work there too.
export const ONE_HOST_SET = {
  prefix: process.env.CLOUDVAMP_TEST_ONE_PREFIX ?? 'cvn',
  subnet: process.env.CLOUDVAMP_TEST_ONE_SUBNET ?? '192.168.250',
  state: process.env.CLOUDVAMP_TEST_ONE_STATE ?? '/run/cloudvamp-one',
};
const SUBNET = ONE_HOST_SET.subnet;
const PREFIX = ONE_HOST_SET.prefix;
export const STATE_DIR = ONE_HOST_SET.state;

/** hosts.sh with this set's names, paths and each host's own /tmp, /var/tmp */
function hostsShEnv(): Record<string, string> {
  return {
    CLOUDVAMP_TEST_PREFIX: PREFIX,
    CLOUDVAMP_TEST_SUBNET: SUBNET,
    CLOUDVAMP_TEST_STATE: STATE_DIR,
    CLOUDVAMP_TEST_PRIVATE_TMP: '1',
    // the caller holds lockHostSet(STATE_DIR) (hosts.sh would otherwise lock again and
    // hand the lock's fd on to the libvirtds it starts)
    CLOUDVAMP_TEST_LOCKED: '1',
  };
}

async function hostsSh(args: string[]): Promise<string> {
  const r = await execa('bash', [HOSTS_SH, ...args], { reject: false, all: true, env: hostsShEnv() });
  if (r.exitCode !== 0) throw new HarnessError(`hosts.sh ${args.join(' ')} failed (exit ${r.exitCode}): ${r.all?.trim()}`);
  return r.stdout;
}

export function hostName(i: number): string {
  return `${PREFIX}-h${i}`;
}

/** Runs a command inside host i's namespaces. */
export async function hostExec(i: number, command: string[]): Promise<string> {
  return hostsSh(['exec', String(i), ...command]);
}

/** Starts libvirt hosts 1..n of this set (hosts.sh up; the caller holds lockHostSet(STATE_DIR)). */
export async function oneHostsUp(n: number): Promise<void> {
  await hostsSh(['up', String(n)]);
}

export async function oneHostsDown(): Promise<void> {
  await hostsSh(['down']);
}

const OCTET = Number(SUBNET.split('.')[2] ?? 251);
/** this machine's address on the hosts' network (monitord listens there) */
export const FRONTEND_IP = `${SUBNET}.254`;
export const ONED_PORT = Number(process.env.CLOUDVAMP_TEST_ONED_PORT ?? 26000 + OCTET);
export const MONITORD_PORT = 41000 + OCTET;
const HM_PORT = 21000 + OCTET;
const HM_REPLY_PORT = 22000 + OCTET;
export const ENDPOINT = `http://127.0.0.1:${ONED_PORT}/RPC2`;
export const SESSION = 'oneadmin:cloudvamp-test';

export const FEROOT = path.join(STATE_DIR, 'feroot');
export const ONE_LOCATION = path.join(FEROOT, 'one');
export const REMOTES = path.join(ONE_LOCATION, 'var/remotes');
const SSH_DIR = path.join(STATE_DIR, 'ssh');
const FE_BIN = path.join(STATE_DIR, 'fe-bin');
const ONED_PID = path.join(STATE_DIR, 'oned.pid');
const FE_LINK = `${PREFIX}-fe`;
/** where hosts keep the remotes: oned.conf's SCRIPTS_REMOTE_DIR (stock default) */
export const HOST_REMOTES = '/var/tmp/one';

export function hostIp(i: number): string {
  return `${SUBNET}.${i}`;
}

/** Environment for OpenNebula's CLI and drivers run from this process. */
export function oneEnv(): Record<string, string> {
  return {
    ONE_LOCATION,
    ONE_AUTH: path.join(ONE_LOCATION, 'etc/one_auth'),
    ONE_XMLRPC: ENDPOINT,
    RUBYLIB: path.join(ONE_LOCATION, 'lib/ruby'),
    PATH: `${FE_BIN}:${ONE_LOCATION}/bin:${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/sbin`,
  };
}

// ---------------------------------------------------------------- XML-RPC

const rpcClient = new HttpOneRpc(ENDPOINT, { timeoutMs: 30_000 });

/** Raw oned call with the session prepended; returns oned's result, throws on [false, msg]. */
export async function oneCall(method: string, ...params: XmlRpcEncodable[]): Promise<XmlRpcValue> {
  const reply = await rpcClient.call(method, [SESSION, ...params]);
  if (!Array.isArray(reply) || reply[0] !== true) {
    throw new HarnessError(`${method}(${params.map((p) => JSON.stringify(p)).join(', ')}) failed: ${Array.isArray(reply) ? String(reply[1]) : JSON.stringify(reply)}`);
  }
  return reply[1]!;
}

/** The whole raw reply array of a call, success or not (for the recorded fixtures). */
export async function oneCallRaw(method: string, ...params: XmlRpcEncodable[]): Promise<XmlRpcValue> {
  return rpcClient.call(method, [SESSION, ...params]);
}

// ---------------------------------------------------------------- set-up

async function run(cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; input?: string } = {}): Promise<string> {
  const r = await execa(cmd, args, { reject: false, all: true, env: opts.env, cwd: opts.cwd, input: opts.input });
  if (r.exitCode !== 0) throw new HarnessError(`${cmd} ${args.join(' ')} failed (exit ${r.exitCode}): ${r.all?.trim()}`);
  return r.stdout;
}

/** scripts/setup-opennebula.sh: the OpenNebula install to copy (ONE_LOCATION or the unpacked 7.4.0). */
export async function locateOpenNebula(): Promise<string> {
  const out = await run('bash', [path.join(REPO, 'scripts/setup-opennebula.sh')]);
  const m = /^ONE_LOCATION=(.+)$/m.exec(out);
  if (!m) throw new HarnessError(`scripts/setup-opennebula.sh printed no ONE_LOCATION: ${out}`);
  return m[1]!.trim();
}

/** share/gems filled with links to Debian's gems (load_opennebula_paths.rb hides the system gem dirs). */
async function linkGems(): Promise<void> {
  const gems = path.join(ONE_LOCATION, 'share/gems');
  for (const d of ['specifications', 'gems', 'extensions']) await mkdir(path.join(gems, d), { recursive: true });
  const paths = (await run('ruby', ['-e', 'puts Gem.default_path'])).split('\n').filter(Boolean);
  for (const dir of paths) {
    for (const sub of ['specifications', 'gems']) {
      const names = await readdir(path.join(dir, sub)).catch(() => [] as string[]);
      for (const n of names) {
        const dest = path.join(gems, sub, n);
        if (!existsSync(dest)) await symlink(path.join(dir, sub, n), dest);
      }
    }
    // extensions/<platform>/<abi>/<gem>
    const plats = await readdir(path.join(dir, 'extensions')).catch(() => [] as string[]);
    for (const p of plats) {
      for (const abi of await readdir(path.join(dir, 'extensions', p)).catch(() => [] as string[])) {
        await mkdir(path.join(gems, 'extensions', p, abi), { recursive: true });
        for (const g of await readdir(path.join(dir, 'extensions', p, abi)).catch(() => [] as string[])) {
          const dest = path.join(gems, 'extensions', p, abi, g);
          if (!existsSync(dest)) await symlink(path.join(dir, 'extensions', p, abi, g), dest);
        }
      }
    }
  }
}

function replaceLine(text: string, re: RegExp, replacement: string, what: string): string {
  if (!re.test(text)) throw new HarnessError(`${what}: no line matching ${re} in the stock configuration (not OpenNebula 7.4?)`);
  return text.replace(re, replacement);
}

export interface ProbePeriods {
  beacon: number;
  monitorHost: number;
  stateVm: number;
  monitorVm: number;
}

/** oned.conf and monitord.conf for a private front-end, from the stock ones. */
async function configure(periods: ProbePeriods): Promise<void> {
  const etc = path.join(ONE_LOCATION, 'etc');
  const dist = async (f: string) => readFile(existsSync(path.join(etc, `${f}.dist`)) ? path.join(etc, `${f}.dist`) : path.join(etc, f), 'utf8');
  let oned = await dist('oned.conf');
  oned = replaceLine(oned, /^PORT = .*$/m, `PORT = ${ONED_PORT}`, 'oned.conf');
  oned = replaceLine(oned, /^LISTEN_ADDRESS = .*$/m, 'LISTEN_ADDRESS = "127.0.0.1"', 'oned.conf');
  oned = replaceLine(oned, /-p 2101 -l 2102 -b 127\.0\.0\.1/, `-p ${HM_PORT} -l ${HM_REPLY_PORT} -b 127.0.0.1`, 'oned.conf');
  await writeFile(path.join(etc, 'oned.conf'), oned);

  let mon = await dist('monitord.conf');
  mon = replaceLine(mon, /^(\s*ADDRESS\s*=\s*)"::",/m, `$1"${FRONTEND_IP}",`, 'monitord.conf');
  mon = replaceLine(mon, /^(\s*MONITOR_ADDRESS\s*=\s*)"auto",/m, `$1"${FRONTEND_IP}",`, 'monitord.conf');
  mon = replaceLine(mon, /^(\s*PORT\s*=\s*)4124,/m, `$1${MONITORD_PORT},`, 'monitord.conf');
  mon = replaceLine(mon, /^(\s*BEACON_HOST\s*=\s*)\d+,/m, `$1${periods.beacon},`, 'monitord.conf');
  mon = replaceLine(mon, /^(\s*MONITOR_HOST\s*=\s*)\d+,/m, `$1${periods.monitorHost},`, 'monitord.conf');
  mon = replaceLine(mon, /^(\s*STATE_VM\s*=\s*)\d+,/m, `$1${periods.stateVm},`, 'monitord.conf');
  mon = replaceLine(mon, /^(\s*MONITOR_VM\s*=\s*)\d+,/m, `$1${periods.monitorVm},`, 'monitord.conf');
  await writeFile(path.join(etc, 'monitord.conf'), mon);

  // read by oned when it bootstraps the fresh DB, and by the CLI
  await writeFile(path.join(etc, 'one_auth'), `${SESSION}\n`, { mode: 0o600 });
}

/** ssh keys (per run), ssh_config naming the hosts, ssh/scp wrappers for oned's PATH. */
async function sshSetup(hosts: number[]): Promise<void> {
  await rm(SSH_DIR, { recursive: true, force: true });
  await mkdir(SSH_DIR, { recursive: true, mode: 0o700 });
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cloudvamp-test-frontend', '-f', path.join(SSH_DIR, 'id')]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cloudvamp-test-host', '-f', path.join(SSH_DIR, 'host_key')]);
  await cp(path.join(SSH_DIR, 'id.pub'), path.join(SSH_DIR, 'authorized_keys'));
  const config = hosts
    .map((i) => `Host ${hostName(i)}\n  HostName ${hostIp(i)}\n`)
    .concat([
      `Host *\n  User root\n  IdentityFile ${SSH_DIR}/id\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  ConnectTimeout 10\n  ControlMaster no\n`,
    ])
    .join('');
  await writeFile(path.join(SSH_DIR, 'config'), config);
  await mkdir(FE_BIN, { recursive: true });
  for (const tool of ['ssh', 'scp']) {
    const f = path.join(FE_BIN, tool);
    await writeFile(f, `#!/bin/sh\n# cloudvamp test front-end: its hosts live in namespaces (test/harness/opennebula.ts)\nexec /usr/bin/${tool} -F ${SSH_DIR}/config "$@"\n`);
    await chmod(f, 0o755);
  }
}

/** An sshd inside host i's namespaces, on its address; the front-end's key only. */
async function startSshd(i: number): Promise<void> {
  const cfg = path.join(SSH_DIR, `sshd_config.h${i}`);
  await writeFile(
    cfg,
    [
      `ListenAddress ${hostIp(i)}`,
      'Port 22',
      `HostKey ${SSH_DIR}/host_key`,
      `PidFile ${STATE_DIR}/h${i}/sshd.pid`,
      `AuthorizedKeysFile ${SSH_DIR}/authorized_keys`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'MaxStartups 100',
      'MaxSessions 100',
      // what OpenNebula's node packages give a host: its Ruby libraries (here
      // the front-end's install, the filesystem being shared) and Node for cloudvamp
      `SetEnv PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${path.dirname(process.execPath)} ONE_LOCATION=${ONE_LOCATION} RUBYLIB=${ONE_LOCATION}/lib/ruby`,
      '',
    ].join('\n'),
  );
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  await hostExec(i, ['/usr/sbin/sshd', '-f', cfg]);
  await waitFor(async () => (await execa(path.join(FE_BIN, 'ssh'), [hostName(i), 'true'], { reject: false })).exitCode === 0, {
    timeoutMs: 15_000,
    what: `sshd on ${hostName(i)}`,
  });
}

/**
 * One more host for a running front-end (oneUp set up hosts.sh's first ones):
 * starts host i's namespace, names it in the front-end's ssh config and
 * starts its sshd. Register it with addHost.
 */
export async function oneExtraHostUp(i: number): Promise<void> {
  await oneHostsUp(i);
  const config = path.join(SSH_DIR, 'config');
  const entry = `Host ${hostName(i)}\n  HostName ${hostIp(i)}\n`;
  const text = await readFile(config, 'utf8');
  // before `Host *`: ssh takes each option from the first block that matches
  if (!text.includes(entry)) await writeFile(config, `${entry}${text}`);
  await startSshd(i);
}

/** A veth from this namespace into the hosts' switch: the hosts reach monitord, we reach their sshd. */
async function frontendLink(): Promise<void> {
  const sw = `${PREFIX}-sw`;
  await execa('ip', ['link', 'del', FE_LINK], { reject: false });
  await run('ip', ['link', 'add', FE_LINK, 'type', 'veth', 'peer', 'name', 'fe', 'netns', sw]);
  await run('ip', ['-n', sw, 'link', 'set', 'fe', 'master', 'br0', 'up']);
  await run('ip', ['addr', 'add', `${FRONTEND_IP}/24`, 'dev', FE_LINK]);
  await run('ip', ['link', 'set', FE_LINK, 'up']);
}

/** `onehost sync` semantics: the front-end's remotes, links followed (rsync -L), into the host's SCRIPTS_REMOTE_DIR. */
export async function syncRemotes(i: number): Promise<void> {
  await run('rsync', ['-aL', '--delete', '-e', path.join(FE_BIN, 'ssh'), `${REMOTES}/`, `${hostName(i)}:${HOST_REMOTES}/`]);
}

export interface OpenNebulaOptions {
  hosts: number[];
  /** libvirt domain type of deployed VMs: kvm, or qemu under TCG */
  vmType: 'kvm' | 'qemu';
  /** host/system probe period, passed to install.sh --system-period */
  systemPeriod: number;
  periods: ProbePeriods;
  /** the built executables (dist/) install.sh installs */
  dist: string;
  /** called with the tree configured, before install.sh touches it */
  beforeInstall?: () => Promise<void>;
}

export interface OpenNebula {
  /** host index -> oned host id */
  hostIds: Map<number, number>;
  /** seconds oned took to answer XML-RPC */
  startSeconds: number;
  installOutput: string;
}

/** Front-end, network, sshd on each (already running) host; oned started; nothing registered yet. */
export async function oneUp(opts: OpenNebulaOptions): Promise<{ startSeconds: number; installOutput: string }> {
  const source = await locateOpenNebula();
  await oneDown();
  await rm(FEROOT, { recursive: true, force: true });
  await mkdir(FEROOT, { recursive: true });
  await run('cp', ['-a', source, ONE_LOCATION]);
  await linkGems();
  await configure(opts.periods);
  await opts.beforeInstall?.();
  // the installer under test, against a real tree and real configuration files
  const installOutput = await run('bash', [
    path.join(REPO, 'install.sh'),
    '--root', FEROOT,
    '--remotes', '/one/var/remotes',
    '--etc', '/one/etc',
    '--from', opts.dist,
    '--apply-conf',
    '--vm-type', opts.vmType,
    '--system-period', String(opts.systemPeriod),
  ]);
  await sshSetup(opts.hosts);
  await frontendLink();
  for (const i of opts.hosts) await startSshd(i);
  const startSeconds = await startOned();
  return { startSeconds, installOutput };
}

export async function startOned(): Promise<number> {
  const t0 = Date.now();
  const varDir = path.join(ONE_LOCATION, 'var');
  const out = path.join(varDir, 'oned.stdout');
  const { openSync } = await import('node:fs');
  const fd = openSync(out, 'a');
  // -f: foreground, so the pid is oned's; its own session, detached from vitest
  const child = spawn(path.join(ONE_LOCATION, 'bin/oned'), ['-f'], {
    cwd: varDir,
    env: { ...process.env, ...oneEnv() },
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  child.unref();
  await writeFile(ONED_PID, `${child.pid}\n`);
  let exited = false;
  child.once('exit', () => (exited = true));
  await waitFor(
    async () => {
      if (exited) {
        const log = await readFile(path.join(varDir, 'oned.log'), 'utf8').catch(() => '');
        throw new HarnessError(`oned exited during start-up: ${log.split('\n').slice(-15).join('\n')}${await readFile(out, 'utf8').catch(() => '')}`);
      }
      return (await oneCall('one.system.version')) !== undefined;
    },
    { timeoutMs: 90_000, intervalMs: 500, what: 'oned to answer XML-RPC' },
  ).catch(async (err: unknown) => {
    if (exited) throw err;
    throw err;
  });
  return (Date.now() - t0) / 1000;
}

async function descendants(pid: number): Promise<number[]> {
  const r = await execa('ps', ['-o', 'pid=', '--ppid', String(pid)], { reject: false });
  const kids = r.stdout.split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
  const all = [...kids];
  for (const k of kids) all.push(...(await descendants(k)));
  return all;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** SIGTERM to oned (its drivers exit with it), then whatever of its descendants is left. */
export async function stopOned(): Promise<void> {
  const pid = Number((await readFile(ONED_PID, 'utf8').catch(() => '')).trim());
  if (!(pid > 0)) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes(`${ONE_LOCATION}/bin/oned`)) {
    await rm(ONED_PID, { force: true });
    return;
  }
  const kids = await descendants(pid);
  process.kill(pid, 'SIGTERM');
  await waitFor(() => !alive(pid), { timeoutMs: 30_000, intervalMs: 200, what: 'oned to stop' }).catch(() => undefined);
  // oned leads its own process group (started detached): whatever is left of
  // it and its drivers goes at once (an oned whose driver executables vanish
  // re-forks itself in a chain; one signal to the group ends it)
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is gone
  }
  for (const k of kids) if (alive(k)) process.kill(k, 'SIGKILL');
  await rm(ONED_PID, { force: true });
}

/** oned, the front-end link and the hosts' sshd (their monitord clients go with the hosts' namespaces). */
export async function oneDown(): Promise<void> {
  await stopOned();
  for (let i = 1; i <= 9; i++) {
    const pid = Number((await readFile(path.join(STATE_DIR, `h${i}`, 'sshd.pid'), 'utf8').catch(() => '')).trim());
    if (pid > 0 && (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() === 'sshd') process.kill(pid, 'SIGTERM');
  }
  await execa('ip', ['link', 'del', FE_LINK], { reject: false });
}

// ---------------------------------------------------------------- hosts, datastore

/**
 * Registers host i with the cloudvamp drivers, or others (OpenNebula's stock
 * kvm / qemu ones), after syncing the remotes; returns its oned id.
 */
export async function addHost(i: number, extraTemplate = '', drivers = { im: 'cloudvamp', vm: 'cloudvamp' }): Promise<number> {
  await syncRemotes(i);
  const id = (await oneCall('one.host.allocate', hostName(i), drivers.im, drivers.vm, -1)) as number;
  if (extraTemplate) await oneCall('one.host.update', id, extraTemplate, 1);
  return id;
}

/**
 * The default system datastore (0) as a diskless one: TM_MAD dummy (the
 * harness guests boot a kernel and an initrd, no disk to transfer), in
 * $ONE_LOCATION/var/datastores/0, which the hosts see at the same path.
 */
export async function systemDatastoreForDisklessVms(): Promise<void> {
  await oneCall('one.datastore.update', 0, 'TM_MAD="dummy"\nSHARED="YES"\n', 1);
  await mkdir(path.join(ONE_LOCATION, 'var/datastores/0'), { recursive: true });
}

/** Sends SIGUSR1 to host i's monitord client: a host/system probe now (7.0+). */
export async function forceSystemProbe(i: number): Promise<void> {
  const pid = (await hostExec(i, ['cat', '/var/tmp/one_db/.monitor_client.pid'])).trim();
  if (!/^\d+$/.test(pid)) throw new HarnessError(`no monitord client pid on ${hostName(i)}: '${pid}'`);
  await hostExec(i, ['kill', '-USR1', pid]);
}

/** The key the harness's own host/system probe prints: when that probe run started (epoch ms). */
export const PROBED_AT_KEY = 'CLOUDVAMP_TEST_PROBED_AT';
// sorts before every other probe of the directory (the monitord client runs them in name order)
const PROBED_AT_PROBE = `000-cloudvamp-test-probed-at.sh`;

/**
 * A host/system probe of host i that started after this call has reached
 * oned: SIGUSR1 to its monitord client, then waits until oned's host TEMPLATE
 * carries PROBED_AT_KEY from a run that started after the signal. A fixed
 * sleep after the signal can read the previous probe's figures when the
 * probe (or monitord) is slow; this cannot. The marker probe goes into the
 * host's synced remotes only (the front-end's tree stays as installed).
 */
export async function systemProbeNow(i: number, hostId: number, timeoutMs = 60_000): Promise<void> {
  await hostExec(i, [
    'sh',
    '-c',
    `d=${HOST_REMOTES}/im/cloudvamp-probes.d/host/system; test -d "$d" || { echo "no $d on this host (remotes not synced?)" >&2; exit 1; }; ` +
      `f="$d/${PROBED_AT_PROBE}"; test -x "$f" || { printf '#!/bin/sh\necho "${PROBED_AT_KEY}=$(date +%%s%%3N)"\n' > "$f" && chmod 755 "$f"; }`,
  ]);
  const signalled = Date.now();
  await forceSystemProbe(i);
  const re = new RegExp(`<${PROBED_AT_KEY}><!\\[CDATA\\[(\\d+)\\]\\]></${PROBED_AT_KEY}>`);
  await waitFor(
    async () => {
      const m = re.exec((await oneCall('one.host.info', hostId)) as string);
      return m !== null && Number(m[1]) >= signalled;
    },
    { timeoutMs, intervalMs: 250, what: `a host/system probe of ${hostName(i)} started after ${new Date(signalled).toISOString()} to reach oned` },
  );
}

/** oned's log lines about VM id (vms/<id>/vm.log), for failure messages. */
export async function vmLog(id: number): Promise<string> {
  return readFile(path.join(ONE_LOCATION, 'var/vms', String(id), 'vm.log'), 'utf8').catch(() => '');
}

export async function onedLog(): Promise<string> {
  return readFile(path.join(ONE_LOCATION, 'var/oned.log'), 'utf8').catch(() => '');
}
