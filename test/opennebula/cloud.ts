// The cloud every test of the `opennebula` tier runs against, started by the
// first test file that needs it and reused by the next ones (its description
// is kept in $STATE/cloud.json; the global set-up's teardown stops it).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { XMLParser } from 'fast-xml-parser';
import { accel, HarnessError, waitFor } from '../harness/index.js';
import {
  addHost,
  ENDPOINT,
  FEROOT,
  hostExec,
  ONE_LOCATION,
  oneCall,
  oneEnv,
  oneHostsUp,
  oneUp,
  REPO,
  STATE_DIR,
  systemDatastoreForDisklessVms,
} from '../harness/opennebula.js';

export const HOSTS = [1, 2];
export const GUEST = process.env.CLOUDVAMP_TEST_CACHE ?? '/var/cache/cloudvamp-test/guest';
/** host/system probe period (install.sh --system-period): borrowed memory reaches the scheduler through it */
export const SYSTEM_PERIOD_S = 20;

export interface Cloud {
  /** harness host index -> oned host id */
  hostIds: Record<number, number>;
  vmType: 'kvm' | 'qemu';
  onedStartSeconds: number;
  installOutput: string;
  /** configuration files and remotes tree before install.sh ran: path -> hash or link target */
  preInstall: Record<string, string>;
}

const CLOUD_JSON = path.join(STATE_DIR, 'cloud.json');
/**
 * When the first test file of this run started the cloud (epoch ms): the
 * start of the tier's own work after its global set-up (which vitest runs
 * with every other project's before any test), read by its teardown.
 */
export const TIER_STARTED = path.join(STATE_DIR, 'tier-started');
/** cloudvamp's VMM configuration as install.sh wrote it into the remotes (synced to the hosts) */
export const VMM_CONF = path.join(ONE_LOCATION, 'var/remotes/etc/vmm/cloudvamp/cloudvamp.conf');
/** what ensureCloud appends to it */
export const VMM_CONF_TEST_LINES = 'BALLOON_AUTODEFLATE=no\n';

/** Hashes of oned.conf, monitord.conf and every entry of the remotes tree (links by target). */
export async function treeSnapshot(oneLocation = ONE_LOCATION): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const remotes = path.join(oneLocation, 'var/remotes');
  const hash = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');
  for (const f of ['etc/oned.conf', 'etc/monitord.conf']) out[f] = await hash(path.join(oneLocation, f));
  async function walk(rel: string): Promise<void> {
    for (const name of (await readdir(path.join(remotes, rel))).sort()) {
      const r = path.join(rel, name);
      const full = path.join(remotes, r);
      const st = await lstat(full);
      if (st.isSymbolicLink()) out[`remotes/${r}`] = `-> ${await readlink(full)}`;
      else if (st.isDirectory()) {
        out[`remotes/${r}/`] = `dir ${(st.mode & 0o7777).toString(8)}`;
        await walk(r);
      } else out[`remotes/${r}`] = `${(st.mode & 0o7777).toString(8)} ${await hash(full)}`;
    }
  }
  await walk('');
  return out;
}

async function onedAlive(): Promise<boolean> {
  try {
    await oneCall('one.system.version');
    return true;
  } catch {
    return false;
  }
}

/** Starts hosts, oned with cloudvamp installed, registers the hosts; or returns the running one. */
export async function ensureCloud(): Promise<Cloud> {
  if (existsSync(CLOUD_JSON) && (await onedAlive())) return JSON.parse(await readFile(CLOUD_JSON, 'utf8')) as Cloud;
  if (!existsSync(TIER_STARTED)) {
    await mkdir(STATE_DIR, { recursive: true });
    await writeFile(TIER_STARTED, `${Date.now()}\n`);
  }
  const vmType = await accel();
  // the executables under test, built from this checkout
  const dist = path.join(STATE_DIR, 'dist');
  await oneHostsUp(HOSTS.length);
  await execa('node', [path.join(REPO, 'scripts/build.mjs')], { env: { CLOUDVAMP_BUILD_DIR: dist } });
  let preInstall: Record<string, string> = {};
  const { startSeconds, installOutput } = await oneUp({
    hosts: HOSTS,
    vmType,
    systemPeriod: SYSTEM_PERIOD_S,
    periods: { beacon: 15, monitorHost: 10, stateVm: 5, monitorVm: 10 },
    dist,
    beforeInstall: async () => {
      preInstall = await treeSnapshot();
    },
  });
  await systemDatastoreForDisklessVms();
  // live migrations between the hosts over libvirt's TCP listener (the hosts
  // have no ssh keys for each other): what an operator sets in this file
  // BALLOON_AUTODEFLATE=no: with autodeflate the guest's MemTotal keeps its
  // boot value after a shrink (virtio_balloon adjusts it only without
  // DEFLATE_ON_OOM), and the manager then refuses every balloon figure as
  // "balloon stats predate the last change": a ballooned VM is never grown
  // back. Found by this tier (claim.test.ts's grow); until deploy and the
  // manager agree, the tier runs without autodeflate.
  await writeFile(
    VMM_CONF,
    `${(await readFile(VMM_CONF, 'utf8')).replace(/^QEMU_PROTOCOL=.*$/m, 'QEMU_PROTOCOL=qemu+tcp').trimEnd()}\n${VMM_CONF_TEST_LINES}`,
  );
  const hostIds: Record<number, number> = {};
  // TCG hosts have no /usr/bin/qemu-kvm-one (oned's default emulator)
  for (const i of HOSTS) hostIds[i] = await addHost(i, 'EMULATOR="/usr/bin/qemu-system-x86_64"\n');
  for (const i of HOSTS) {
    await waitFor(async () => (await hostState(hostIds[i]!)) === 2, {
      timeoutMs: 90_000,
      intervalMs: 1000,
      what: `host ${i} to be MONITORED (see ${ONE_LOCATION}/var/monitor.log)`,
    });
  }
  const cloud: Cloud = { hostIds, vmType, onedStartSeconds: startSeconds, installOutput, preInstall };
  await writeFile(CLOUD_JSON, JSON.stringify(cloud));
  return cloud;
}

// ---------------------------------------------------------------- reading oned

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: () => true, trimValues: true });

/** An element's children, every one as an array (so repeated keys show as length > 1). */
export type XmlNode = Record<string, unknown[]>;

export function parseXml(text: string): XmlNode {
  return parser.parse(text) as XmlNode;
}

export function child(node: XmlNode, ...names: string[]): XmlNode {
  let n = node;
  for (const name of names) {
    const v = n[name];
    if (!Array.isArray(v) || v.length === 0) throw new HarnessError(`no <${name}> in ${JSON.stringify(n).slice(0, 200)}`);
    n = v[0] as XmlNode;
  }
  return n;
}

export function text(node: XmlNode, name: string): string | undefined {
  const v = node[name];
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const x = v[0];
  return typeof x === 'string' ? x : typeof x === 'number' ? String(x) : '';
}

export async function hostXml(id: number): Promise<XmlNode> {
  return child(parseXml((await oneCall('one.host.info', id)) as string), 'HOST');
}

export async function vmXml(id: number): Promise<XmlNode> {
  return child(parseXml((await oneCall('one.vm.info', id)) as string), 'VM');
}

export async function hostState(id: number): Promise<number> {
  return Number(text(await hostXml(id), 'STATE'));
}

export interface HostMem {
  totalKiB: number;
  maxKiB: number;
  usageKiB: number;
  template: XmlNode;
}

export async function hostMem(id: number): Promise<HostMem> {
  const h = await hostXml(id);
  const share = child(h, 'HOST_SHARE');
  return {
    totalKiB: Number(text(share, 'TOTAL_MEM')),
    maxKiB: Number(text(share, 'MAX_MEM')),
    usageKiB: Number(text(share, 'MEM_USAGE')),
    template: child(h, 'TEMPLATE'),
  };
}

export const VM_STATE = { PENDING: 1, ACTIVE: 3, POWEROFF: 8, DONE: 6 } as const;
export const LCM_RUNNING = 3;

export async function vmState(id: number): Promise<{ state: number; lcm: number; hostName?: string; hostId?: number }> {
  const vm = await vmXml(id);
  const hist = vm.HISTORY_RECORDS && (child(vm, 'HISTORY_RECORDS').HISTORY as XmlNode[] | undefined);
  const last = hist?.[hist.length - 1];
  return {
    state: Number(text(vm, 'STATE')),
    lcm: Number(text(vm, 'LCM_STATE')),
    hostName: last ? text(last, 'HOSTNAME') : undefined,
    hostId: last ? Number(text(last, 'HID')) : undefined,
  };
}

export async function waitRunning(id: number, timeoutMs = 120_000): Promise<{ hostName?: string; hostId?: number }> {
  return waitFor(
    async () => {
      const s = await vmState(id);
      if (s.state === VM_STATE.ACTIVE && s.lcm === LCM_RUNNING) return s;
      if (s.state === 7 || s.lcm === 36 || s.lcm === 14) {
        throw new HarnessError(`VM ${id} failed (state ${s.state}, lcm ${s.lcm}): ${await readFile(path.join(ONE_LOCATION, 'var/vms', String(id), 'vm.log'), 'utf8').catch(() => '')}`);
      }
      return false;
    },
    { timeoutMs, intervalMs: 500, what: `VM ${id} to be RUNNING` },
  );
}

/** A template for the harness guest: kernel + initrd, no disk, no NIC. */
export function guestTemplate(name: string, memoryMiB: number, extra = ''): string {
  return [
    `NAME = "${name}"`,
    `MEMORY = ${memoryMiB}`,
    `MEMORY_MAX = ${memoryMiB}`,
    'MEMORY_RESIZE_MODE = "BALLOONING"',
    'CPU = 0.1',
    'VCPU = 1',
    `OS = [ KERNEL = "${GUEST}/vmlinuz", INITRD = "${GUEST}/initrd.img", KERNEL_CMD = "console=ttyS0 quiet panic=-1" ]`,
    extra,
  ].join('\n');
}

export async function createTemplate(name: string, memoryMiB: number, extra = ''): Promise<number> {
  return (await oneCall('one.template.allocate', guestTemplate(name, memoryMiB, extra))) as number;
}

export async function instantiate(templateId: number, name: string, extraTemplate = ''): Promise<number> {
  return (await oneCall('one.template.instantiate', templateId, name, false, extraTemplate, false)) as number;
}

/**
 * RAW libvirt XML giving a VM the harness agent's virtio-serial channel (guest/agent.c),
 * at the host-side socket index.ts's agent(name, host, ...) opens; name = the VM's oned name.
 */
export function agentChannel(name: string): string {
  return `RAW = [ TYPE = "kvm", DATA = "<devices><channel type='unix'><source mode='bind' path='/run/libvirt/qemu/${name}.agent.sock'/><target type='virtio' name='org.cloudvamp.test.0'/></channel></devices>" ]`;
}

/** one.vm.action terminate-hard, then wait for DONE. */
export async function terminate(id: number): Promise<void> {
  await oneCall('one.vm.action', 'terminate-hard', id);
  await waitFor(async () => (await vmState(id)).state === VM_STATE.DONE, { timeoutMs: 60_000, intervalMs: 500, what: `VM ${id} to be DONE` });
}

/** `virsh dommemstat` of a domain on host i, KiB: actual (the balloon's size), rss (QEMU's resident memory), ... */
export async function domainMemStats(hostIndex: number, domain: string): Promise<Record<string, number>> {
  const out = await hostExec(hostIndex, ['virsh', '-q', '-c', 'qemu:///system', 'dommemstat', domain]);
  const stats: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v && /^\d+$/.test(v)) stats[k] = Number(v);
  }
  if (stats.actual === undefined) throw new HarnessError(`no 'actual' in dommemstat of ${domain}: ${out}`);
  return stats;
}

/** The harness host (1, 2) whose libvirt runs the domain, or undefined when none does. */
export async function domainHost(name: string): Promise<number | undefined> {
  for (const i of HOSTS) {
    const out = await hostExec(i, ['virsh', '-q', '-c', 'qemu:///system', 'list', '--name']).catch(() => '');
    if (out.split('\n').map((l) => l.trim()).includes(name)) return i;
  }
  return undefined;
}

export async function domainCurrentKiB(hostIndex: number, domain: string): Promise<number> {
  return (await domainMemStats(hostIndex, domain)).actual!;
}

/** MemTotal of /proc/meminfo (the hosts share this machine's kernel). */
export async function memTotalKiB(): Promise<number> {
  const m = /^MemTotal:\s+(\d+) kB$/m.exec(await readFile('/proc/meminfo', 'utf8'));
  return Number(m![1]);
}

// ---------------------------------------------------------------- cloudvamp-cvem

export const CVEM_CONF = path.join(STATE_DIR, 'cvem.conf');

export async function writeCvemConf(extra: Record<string, string> = {}): Promise<void> {
  const lines = {
    ONE_XMLRPC: ENDPOINT,
    ONE_AUTH: path.join(ONE_LOCATION, 'etc/one_auth'),
    STATE_FILE: path.join(STATE_DIR, 'cvem-state.json'),
    // the lowest MEM_MIN the manager accepts: the VMM driver's floor (lib/memory/floor.ts)
    MEM_MIN: '131072',
    COOLDOWN: '0',
    // the tier's guests are minutes old: shrink them from the first cycle
    SHRINK_WARMUP: '0',
    ...extra,
  };
  await writeFile(CVEM_CONF, `${Object.entries(lines).map(([k, v]) => `${k}=${v}`).join('\n')}\n`, { mode: 0o600 });
}

export interface CvemRun {
  stdout: string;
  stderr: string;
  exitCode: number;
  events: Array<Record<string, unknown>>;
}

/** The installed cloudvamp-cvem (install.sh --root put it under $FEROOT), with oned's ssh wrappers on the PATH. */
export async function cvem(args: string[]): Promise<CvemRun> {
  const bin = path.join(FEROOT, 'usr/lib/one/cloudvamp/bin/cloudvamp-cvem');
  const r = await execa('node', [bin, ...args, '--config', CVEM_CONF], { reject: false, env: oneEnv(), timeout: 240_000 });
  const events = `${r.stdout}\n${r.stderr}`
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1, events };
}
