// cloudvamp's real-guest test harness: libvirt "hosts" in namespaces on this
// machine (hosts.sh), a tiny Linux guest with a memory agent (build-guest.sh,
// guest/agent.c), and typed helpers for the tests in test/kvm.
//
// Paths and names follow the same environment variables as lib.sh:
//   CLOUDVAMP_TEST_CACHE  built guest        (default /var/cache/cloudvamp-test/guest)
//   CLOUDVAMP_TEST_STATE  hosts' run state   (default /run/cloudvamp-test)
//   CLOUDVAMP_TEST_PREFIX host names         (default cvh: cvh-h1, cvh-h2, ...)
//   CLOUDVAMP_TEST_SUBNET host network       (default 192.168.251, used by hosts.sh)
//   CLOUDVAMP_TEST_ACCEL  kvm | qemu         (default: probed once, cached)
// External commands run through execa with argument arrays, never shell strings.
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { release, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const HARNESS_DIR = path.dirname(fileURLToPath(import.meta.url));
const HOSTS_SH = path.join(HARNESS_DIR, 'hosts.sh');
const BUILD_GUEST_SH = path.join(HARNESS_DIR, 'build-guest.sh');
const SETUP_HINT = 'run `sudo bash scripts/setup-kvm.sh` (installs libvirt/QEMU and builds the test guest)';

export const CACHE_DIR = process.env.CLOUDVAMP_TEST_CACHE ?? '/var/cache/cloudvamp-test/guest';
export const STATE_DIR = process.env.CLOUDVAMP_TEST_STATE ?? '/run/cloudvamp-test';
/** Host N is `${HOST_PREFIX}-hN`: network namespace, hostname and TCP name. */
export const HOST_PREFIX = process.env.CLOUDVAMP_TEST_PREFIX ?? 'cvh';
/** Name of the guest agent's virtio-serial port (guest/agent.c). */
export const AGENT_PORT = 'org.cloudvamp.test.0';

/** libvirt domain type: `kvm`, or `qemu` = TCG software emulation. */
export type Accel = 'kvm' | 'qemu';

/** Something the harness itself could not do (as opposed to a failed assertion). */
export class HarnessError extends Error {
  override name = 'HarnessError';
}

/** The guest agent answered `err ...`. */
export class AgentError extends HarnessError {
  override name = 'AgentError';
  constructor(readonly reply: string, readonly command: string) {
    super(`guest agent refused '${command}': ${reply}`);
  }
}

// ---- polling ---------------------------------------------------------------

export interface WaitOptions {
  timeoutMs: number;
  /** pause between two checks (default 200 ms) */
  intervalMs?: number;
  /** what is awaited, for the timeout message */
  what?: string;
}

/**
 * Calls `check` until it returns something other than false/undefined/null,
 * and returns that. A check that throws counts as "not yet"; the last error
 * or value is quoted in the timeout error.
 */
export async function waitFor<T>(
  check: () => T | false | undefined | null | Promise<T | false | undefined | null>,
  { timeoutMs, intervalMs = 200, what = 'condition' }: WaitOptions,
): Promise<T> {
  const start = Date.now();
  let last = 'never checked';
  for (;;) {
    try {
      const value = await check();
      if (value !== false && value !== undefined && value !== null) return value;
      last = `last value ${JSON.stringify(value)}`;
    } catch (err) {
      last = `last error: ${err instanceof Error ? err.message : String(err)}`;
    }
    const elapsed = Date.now() - start;
    if (elapsed >= timeoutMs) throw new HarnessError(`timed out after ${elapsed} ms waiting for ${what} (${last})`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, timeoutMs - elapsed)));
  }
}

// ---- prerequisites, guest build ---------------------------------------------

/** Fails with the reason and the fix when this machine cannot run the real-guest tests. */
export async function checkPrerequisites(): Promise<void> {
  if (process.getuid?.() !== 0) throw new HarnessError('the kvm tests need root (namespaces, libvirtd, /dev/kvm)');
  const missing: string[] = [];
  for (const tool of ['libvirtd', 'virsh', 'qemu-system-x86_64', 'ip', 'unshare', 'nsenter', 'flock']) {
    const found = await execa('sh', ['-c', 'command -v "$1"', 'sh', tool], {
      reject: false,
      env: { PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin` },
    });
    if (found.exitCode !== 0) missing.push(tool);
  }
  if (missing.length > 0) throw new HarnessError(`missing ${missing.join(', ')}: ${SETUP_HINT}`);
}

/** Builds the guest into CACHE_DIR unless it is up to date (see build-guest.sh). */
export async function ensureGuestBuilt(): Promise<void> {
  const r = await execa('bash', [BUILD_GUEST_SH], { reject: false, all: true });
  if (r.exitCode !== 0) {
    throw new HarnessError(`building the test guest failed (exit ${r.exitCode}): ${r.all.trim()}\n${SETUP_HINT}`);
  }
  for (const f of ['vmlinuz', 'initrd.img']) {
    await access(path.join(CACHE_DIR, f), fsConstants.R_OK).catch(() => {
      throw new HarnessError(`${path.join(CACHE_DIR, f)} is missing after the guest build: ${SETUP_HINT}`);
    });
  }
}

// ---- hosts -----------------------------------------------------------------

async function runHostsSh(args: string[]): Promise<void> {
  // hosts.sh takes the machine lock itself unless CLOUDVAMP_TEST_LOCKED says
  // that we (or the vitest process that forked us) hold it: see lockHostSet
  const r = await execa('bash', [HOSTS_SH, ...args], { reject: false, all: true });
  if (r.exitCode !== 0) throw new HarnessError(`hosts.sh ${args.join(' ')} failed (exit ${r.exitCode}): ${r.all.trim()}`);
}

/** Starts libvirt hosts 1..n (idempotent). */
export async function hostsUp(n: number): Promise<void> {
  await runHostsSh(['up', String(n)]);
}

/** Stops every host, destroys its guests, removes the namespaces and STATE_DIR. */
export async function hostsDown(): Promise<void> {
  await runHostsSh(['down']);
}

function checkHost(i: number): void {
  if (!Number.isInteger(i) || i < 1 || i > 9) throw new HarnessError(`host index must be 1..9, got ${i}`);
}

export function hostName(i: number): string {
  checkHost(i);
  return `${HOST_PREFIX}-h${i}`;
}

/** URI of host i from this machine (its libvirtd's unix socket). */
export function hostUri(i: number): string {
  checkHost(i);
  return `qemu+unix:///system?socket=${STATE_DIR}/h${i}/run/libvirt-sock`;
}

/** URI of host i from the other hosts, e.g. the destination of a p2p migration. */
export function hostTcpUri(i: number): string {
  return `qemu+tcp://${hostName(i)}/system`;
}

/** `virsh -q -c <host i> ...args`; returns stdout, throws with virsh's stderr. */
export async function virsh(hostIndex: number, args: string[], timeoutMs = 120_000): Promise<string> {
  const r = await execa('virsh', ['-q', '-c', hostUri(hostIndex), ...args], { reject: false, timeout: timeoutMs });
  if (r.exitCode !== 0) {
    throw new HarnessError(`virsh ${args.join(' ')} on ${hostName(hostIndex)} failed: ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}

/** Runs a command inside host i's namespaces (what `ssh host CMD` is to a cloud driver). */
export async function hostExec(hostIndex: number, command: string[]): Promise<string> {
  checkHost(hostIndex);
  const r = await execa('bash', [HOSTS_SH, 'exec', String(hostIndex), ...command], { reject: false });
  if (r.exitCode !== 0) throw new HarnessError(`${command.join(' ')} on ${hostName(hostIndex)} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

async function runningHosts(): Promise<number[]> {
  const up: number[] = [];
  for (let i = 1; i <= 9; i++) {
    const pid = await readFile(path.join(STATE_DIR, `h${i}`, 'libvirtd.pid'), 'utf8').catch(() => '');
    if (pid.trim() === '') continue;
    const comm = await readFile(`/proc/${pid.trim()}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'libvirtd') up.push(i);
  }
  return up;
}

/** Index of the host where guest `name` is running (or paused), undefined if none. */
export async function findGuest(name: string): Promise<number | undefined> {
  for (const i of await runningHosts()) {
    const r = await execa('virsh', ['-q', '-c', hostUri(i), 'domstate', name], { reject: false });
    if (r.exitCode === 0 && /^(running|paused|in shutdown)/.test(r.stdout.trim())) return i;
  }
  return undefined;
}

/**
 * How many host-set locks this process holds, kept in CLOUDVAMP_TEST_LOCKED
 * itself. The kvm and opennebula global set-ups run in one vitest process,
 * each holding its own set's lock, and each project loads this module in its
 * own module graph, so a counter in a module variable is not shared: the
 * opennebula teardown's release then cleared the variable while the kvm set's
 * lock was still held, and the kvm teardown's hosts.sh waited 20 minutes for
 * the lock its own process held. hosts.sh only asks whether the variable is
 * set; it is removed with the last release. A count inherited from a parent
 * that holds a lock is kept.
 */
const locksHeld = () => Number(process.env.CLOUDVAMP_TEST_LOCKED) || 0;
function setLocksHeld(n: number): void {
  if (n > 0) process.env.CLOUDVAMP_TEST_LOCKED = String(n);
  else delete process.env.CLOUDVAMP_TEST_LOCKED;
}

/**
 * Serialises real-guest test runs on one host set (they share its namespaces
 * and this machine's 2 cores). Holds an flock(1) on `${stateDir}.lock` until
 * the returned release function is called, or until this process dies;
 * meanwhile hosts.sh (which otherwise takes the lock itself, and would hand
 * its fd on to the libvirtds it starts) is told through CLOUDVAMP_TEST_LOCKED
 * not to wait for it. `tier` names the test project in the time-out message.
 */
export async function lockHostSet(stateDir: string, tier: string, timeoutMs = 20 * 60_000): Promise<() => Promise<void>> {
  const lockFile = `${stateDir}.lock`;
  const child = spawn('flock', ['-x', '-w', String(Math.ceil(timeoutMs / 1000)), lockFile, '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new HarnessError(`could not lock ${lockFile} (flock exit ${code}): another ${tier} test run holds it`)),
    );
  });
  // inherited by hosts.sh and by the test workers vitest forks after this
  setLocksHeld(locksHeld() + 1);
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin.end();
    await exited;
    setLocksHeld(locksHeld() - 1);
  };
}

// ---- accelerator -------------------------------------------------------------

let accelPromise: Promise<Accel> | undefined;

/**
 * `kvm` when a KVM guest really reaches userspace here, else `qemu` (TCG).
 * Probed once per machine kernel and guest kernel (a short boot with
 * cloudvamp.probe=1, result cached in CACHE_DIR); CLOUDVAMP_TEST_ACCEL forces it.
 */
export function accel(): Promise<Accel> {
  accelPromise ??= detectAccel();
  return accelPromise;
}

async function detectAccel(): Promise<Accel> {
  const forced = process.env.CLOUDVAMP_TEST_ACCEL;
  if (forced === 'kvm' || forced === 'qemu') return forced;
  if (forced) throw new HarnessError(`CLOUDVAMP_TEST_ACCEL must be kvm or qemu, not '${forced}'`);
  const env = await readFile(path.join(CACHE_DIR, 'guest.env'), 'utf8').catch(() => {
    throw new HarnessError(`no test guest in ${CACHE_DIR}: ${SETUP_HINT}`);
  });
  const guestKernel = /^GUEST_KERNEL=(.*)$/m.exec(env)?.[1] ?? 'unknown';
  const cacheFile = path.join(CACHE_DIR, `accel.${release()}.${guestKernel}`);
  const cached = (await readFile(cacheFile, 'utf8').catch(() => '')).trim();
  if (cached === 'kvm' || cached === 'qemu') return cached;

  let result: Accel = 'qemu';
  const kvmUsable = await access('/dev/kvm', fsConstants.R_OK | fsConstants.W_OK).then(
    () => true,
    () => false,
  );
  if (kvmUsable) {
    // /dev/kvm can exist and still be unable to boot a standard kernel (some
    // nested set-ups hang right after decompression): boot the guest for real.
    const out = path.join(tmpdir(), `cloudvamp-kvm-probe-${process.pid}.log`);
    await execa(
      'qemu-system-x86_64',
      ['-accel', 'kvm', '-machine', 'pc', '-m', '128', '-display', 'none', '-no-reboot', '-nodefaults',
        '-serial', `file:${out}`, '-kernel', path.join(CACHE_DIR, 'vmlinuz'), '-initrd', path.join(CACHE_DIR, 'initrd.img'),
        '-append', 'console=ttyS0 quiet panic=-1 cloudvamp.probe=1'],
      { reject: false, timeout: 20_000, stdin: 'ignore' },
    );
    const log = await readFile(out, 'utf8').catch(() => '');
    await rm(out, { force: true });
    if (log.includes('cloudvamp: probe ok')) result = 'kvm';
  }
  await writeFile(cacheFile, `${result}\n`);
  return result;
}

// ---- guests ----------------------------------------------------------------

export interface GuestOptions {
  /** domain name; letters, digits, `_.-` */
  name: string;
  /** boot and maximum memory, `<memory>` */
  maxMiB: number;
  /** initial balloon target, `<currentMemory>` */
  currentMiB: number;
  /** default 1 */
  vcpus?: number;
  /** balloon statistics period in seconds (default 1) */
  statsPeriod?: number;
}

// short enough for the agent's unix socket path (108 bytes with STATE_DIR)
const NAME_RE = /^[A-Za-z0-9_.-]{1,48}$/;

function checkGuestName(name: string): void {
  if (!NAME_RE.test(name)) throw new HarnessError(`bad guest name '${name}' (letters, digits, _ . - only)`);
}

/**
 * libvirt XML of a test guest: direct kernel boot of the built guest, no disk,
 * no NIC; virtio balloon with statistics, the agent's virtio-serial channel
 * (a unix socket in the host's /run/libvirt/qemu), the serial console logged
 * to the host's /var/log/libvirt/qemu/NAME.console.log.
 */
export function guestDomainXml(options: GuestOptions & { accel: Accel }): string {
  const { name, maxMiB, currentMiB, vcpus = 1, statsPeriod = 1, accel: type } = options;
  checkGuestName(name);
  for (const [k, v] of Object.entries({ maxMiB, currentMiB, vcpus, statsPeriod })) {
    if (!Number.isInteger(v) || v < (k === 'statsPeriod' ? 0 : 1)) throw new HarnessError(`${k} must be a positive integer, got ${v}`);
  }
  if (currentMiB > maxMiB) throw new HarnessError(`currentMiB (${currentMiB}) exceeds maxMiB (${maxMiB})`);
  // TCG's translation cache defaults to 1 GiB of host memory per guest
  const tcg = type === 'qemu' ? "<tcg><tb-cache unit='MiB'>128</tb-cache></tcg>" : '';
  return `<domain type='${type}'>
  <name>${name}</name>
  <memory unit='MiB'>${maxMiB}</memory>
  <currentMemory unit='MiB'>${currentMiB}</currentMemory>
  <vcpu>${vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${CACHE_DIR}/vmlinuz</kernel>
    <initrd>${CACHE_DIR}/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/><apic/>${tcg}</features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <controller type='usb' model='none'/>
    <serial type='pty'>
      <log file='/var/log/libvirt/qemu/${name}.console.log' append='on'/>
      <target port='0'/>
    </serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <channel type='unix'>
      <source mode='bind' path='/run/libvirt/qemu/${name}.agent.sock'/>
      <target type='virtio' name='${AGENT_PORT}'/>
    </channel>
    <memballoon model='virtio'>
      <stats period='${statsPeriod}'/>
    </memballoon>
  </devices>
</domain>
`;
}

/** Serial console output of a guest on host i (what the kernel, /init and the agent printed). */
export async function consoleLog(name: string, hostIndex: number): Promise<string> {
  checkGuestName(name);
  return readFile(path.join(STATE_DIR, `h${hostIndex}`, 'log', 'qemu', `${name}.console.log`), 'utf8').catch(() => '');
}

/**
 * Starts a transient guest on host `hostIndex` (virsh create) and waits until
 * its agent answers. Returns the guest's name. On a boot timeout the guest is
 * destroyed and the error quotes the end of its console.
 */
export async function startGuest(
  hostIndex: number,
  options: GuestOptions & { accel?: Accel; bootTimeoutMs?: number },
): Promise<string> {
  const xml = guestDomainXml({ ...options, accel: options.accel ?? (await accel()) });
  const dir = path.join(STATE_DIR, 'guests');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${options.name}.xml`);
  await writeFile(file, xml);
  await rm(path.join(STATE_DIR, `h${hostIndex}`, 'log', 'qemu', `${options.name}.console.log`), { force: true });
  await virsh(hostIndex, ['create', file]);
  try {
    await waitFor(() => agent(options.name, hostIndex, 'ping', 2_000), {
      timeoutMs: options.bootTimeoutMs ?? 120_000,
      intervalMs: 250,
      what: `the agent of ${options.name} on ${hostName(hostIndex)}`,
    });
  } catch (err) {
    const tail = (await consoleLog(options.name, hostIndex)).split('\n').slice(-15).join('\n');
    await destroyGuest(options.name).catch(() => undefined);
    throw new HarnessError(`${err instanceof Error ? err.message : String(err)}; guest destroyed; console:\n${tail}`);
  }
  return options.name;
}

/** Destroys guest `name` on whichever host runs it; false if none did. */
export async function destroyGuest(name: string): Promise<boolean> {
  checkGuestName(name);
  const i = await findGuest(name);
  if (i !== undefined) await virsh(i, ['destroy', name]);
  await rm(path.join(STATE_DIR, 'guests', `${name}.xml`), { force: true });
  return i !== undefined;
}

/** `virsh dommemstat` of a guest, KiB (actual, available, unused, usable, rss, ...). */
export async function memStats(name: string, hostIndex: number): Promise<Record<string, number>> {
  const out = await virsh(hostIndex, ['dommemstat', name]);
  const stats: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value && /^\d+$/.test(value)) stats[key] = Number(value);
  }
  return stats;
}

// ---- guest agent ---------------------------------------------------------------

/** The agent's `status` reply. */
export interface AgentStatus {
  /** guest uptime, seconds */
  uptime: number;
  /** ticks (every 50 ms) since the agent started; keeps growing while the guest runs */
  counter: number;
  /** anonymous memory the agent holds, MiB */
  heldMiB: number;
  /** rewrite rate of the held memory, MiB/s */
  dirtyMiBs: number;
  memTotalKiB: number;
  memFreeKiB: number;
  memAvailableKiB: number;
  /** `hold` requests that stopped short for lack of guest memory */
  allocFailures: number;
  /** times /init restarted the agent (the guest's OOM killer took it) */
  restarts: number;
  /** changes only when the guest reboots */
  bootId: string;
}

/** Parses `ok uptime=... counter=... ...` (the agent's `status` reply). */
export function parseAgentStatus(line: string): AgentStatus {
  if (!line.startsWith('ok ')) throw new HarnessError(`not a status reply: ${line}`);
  const f = new Map<string, string>();
  for (const word of line.slice(3).trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq > 0) f.set(word.slice(0, eq), word.slice(eq + 1));
  }
  const num = (key: string): number => {
    const v = Number(f.get(key));
    if (!f.has(key) || !Number.isFinite(v)) throw new HarnessError(`status reply lacks a numeric ${key}: ${line}`);
    return v;
  };
  return {
    uptime: num('uptime'),
    counter: num('counter'),
    heldMiB: num('held'),
    dirtyMiBs: num('dirty'),
    memTotalKiB: num('memtotal_kib'),
    memFreeKiB: num('memfree_kib'),
    memAvailableKiB: num('memavail_kib'),
    allocFailures: num('alloc_failures'),
    restarts: num('restarts'),
    bootId: f.get('boot_id') ?? 'unknown',
  };
}

/** Host-side path of the agent socket of a guest on host i. */
export function agentSocket(name: string, hostIndex: number): string {
  checkGuestName(name);
  checkHost(hostIndex);
  return path.join(STATE_DIR, `h${hostIndex}`, 'run', 'qemu', `${name}.agent.sock`);
}

/**
 * Sends one command to the agent of guest `name` on host `hostIndex` and
 * returns its reply line (`status` parsed). Throws AgentError on `err ...`.
 * Commands: ping, status, hold MiB, dirty MiB/s (see guest/agent.c).
 */
export function agent(name: string, hostIndex: number, command: 'status', timeoutMs?: number): Promise<AgentStatus>;
export function agent(name: string, hostIndex: number, command: string, timeoutMs?: number): Promise<string>;
export async function agent(
  name: string,
  hostIndex: number,
  command: string,
  timeoutMs = 30_000,
): Promise<string | AgentStatus> {
  const reply = await agentLine(agentSocket(name, hostIndex), command, timeoutMs);
  if (!reply.startsWith('ok')) throw new AgentError(reply, command);
  return command === 'status' ? parseAgentStatus(reply) : reply;
}

function agentLine(socketPath: string, command: string, timeoutMs: number): Promise<string> {
  if (command.includes('\n')) return Promise.reject(new HarnessError('agent command must be one line'));
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    let buf = '';
    const done = (err: Error | undefined, line?: string): void => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(line ?? '');
    };
    const timer = setTimeout(
      () => done(new HarnessError(`no reply to '${command}' from ${socketPath} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${command}\n`));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(undefined, buf.slice(0, nl));
    });
    sock.on('error', (err) => done(new HarnessError(`agent socket ${socketPath}: ${err.message}`)));
    sock.on('close', () => done(new HarnessError(`agent socket ${socketPath} closed before a reply to '${command}'`)));
  });
}
