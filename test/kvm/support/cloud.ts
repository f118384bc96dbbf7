// The pieces of an OpenNebula front-end and its host drivers that the
// real-guest end-to-end test needs, around the harness's two libvirt hosts:
//
// * the BUILT remotes tree (VMM actions, IM probes) in a temporary directory,
//   with one VMM config per host (what <remotes>/etc/vmm/cloudvamp/cloudvamp.conf
//   is on that host: its libvirtd, qemu+tcp peer-to-peer migrations);
// * `runVmmAction`: a VMM action run as one_vmm_exec runs it on a host (here
//   locally, against that host's libvirtd socket, instead of over ssh);
// * `probeVms`: the built vm/monitor probe on a host, its MONITOR templates
//   decoded, as monitord receives them;
// * `monitordTick`: what monitord does with them: each VM's record into oned
//   (the simulator's setVmMonitoring), and the host's free memory.
//
// Host capacities are SIMULATED: this machine has 24 GiB for both "hosts", so
// a host's free memory is its simulated physical size (the fixture's
// TOTAL_MEM) minus the balloon sizes (REALMEMORY) the probe measured on it.
// Everything about the guests is measured.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { hostName, hostUri } from '../../harness/index.js';
import type { OnedSimulator } from '../../support/oned-server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface Remotes {
  top: string;
  /** <remotes>/vmm/cloudvamp/<action> */
  action(name: string): string;
  /** VMM config of host i (1, 2): CLOUDVAMP_VMM_CONFIG for actions run "on" it */
  vmmConfig(i: number): string;
  /** config file and state directory of the IM probes */
  probeConfig: string;
  probeStateDir: string;
  cleanup(): Promise<void>;
}

/** Builds every remote (VMM actions + IM probes) from the current sources into a temp dir. */
export async function buildRemotes(hostCount: number): Promise<Remotes> {
  const top = await mkdtemp(path.join(tmpdir(), 'cv-e2e-'));
  const r = await execa('node', [path.join(ROOT, 'scripts', 'build.mjs'), 'remotes/'], {
    cwd: ROOT,
    env: { CLOUDVAMP_BUILD_DIR: top },
    reject: false,
    all: true,
  });
  if (r.exitCode !== 0) throw new Error(`building the remotes failed: ${r.all}`);
  const remotes = path.join(top, 'remotes');
  const conf = (i: number) => path.join(top, `vmm-${hostName(i)}.conf`);
  for (let i = 1; i <= hostCount; i++) {
    await writeFile(
      conf(i),
      [
        `LIBVIRT_URI="${hostUri(i)}"`,
        'QEMU_PROTOCOL=qemu+tcp',
        'MIGRATE_OPTIONS="--p2p"',
        'MEMORY_FLOOR_MIB=96',
        'BALLOON_SETTLE_TIMEOUT=30',
        '',
      ].join('\n'),
    );
  }
  const probeConfig = path.join(top, 'probes.conf');
  await writeFile(probeConfig, '# the vm/monitor probe needs no setting here\n');
  return {
    top,
    action: (name) => path.join(remotes, 'vmm', 'cloudvamp', name),
    vmmConfig: conf,
    probeConfig,
    probeStateDir: path.join(top, 'probe-state'),
    cleanup: () => rm(top, { recursive: true, force: true }),
  };
}

/** One VMM action on host i, as one_vmm_exec runs it there; rejects with its stderr when it fails. */
export async function runVmmAction(remotes: Remotes, i: number, action: string, args: string[]): Promise<string> {
  const r = await execa(remotes.action(action), args, {
    reject: false,
    stdin: 'ignore',
    env: { CLOUDVAMP_VMM_CONFIG: remotes.vmmConfig(i) },
    timeout: 180_000,
  });
  if (r.exitCode !== 0) throw new Error(`${action} ${args.join(' ')} on ${hostName(i)} exited ${r.exitCode}: ${r.stderr.trim()}`);
  return r.stderr;
}

/** `KEY=value` / `KEY="value"` lines of a probe template; vectors are skipped. */
export function parseFlatTemplate(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*(?:"([^"]*)"|([^\s[\]]+))\s*$/.exec(line);
    if (m) out[m[1]!] = m[2] ?? m[3]!;
  }
  return out;
}

/** Runs the built vm/monitor probe against host i: VM ID → its decoded MONITOR template. */
export async function probeVms(remotes: Remotes, i: number): Promise<Map<number, Record<string, string>>> {
  const probe = path.join(remotes.top, 'remotes', 'im', 'cloudvamp-probes.d', 'vm', 'monitor', 'cloudvamp-vm-monitor');
  const r = await execa(probe, ['--uri', hostUri(i), '--config', remotes.probeConfig, 'cloudvamp', String(i), hostName(i)], {
    reject: false,
    stdin: 'ignore',
    env: { CLOUDVAMP_STATE_DIR: path.join(remotes.probeStateDir, `h${i}`) },
    timeout: 30_000,
  });
  if (r.exitCode !== 0 || r.stderr !== '') throw new Error(`vm/monitor probe on ${hostName(i)} exited ${r.exitCode}: ${r.stderr.trim()}`);
  const vms = new Map<number, Record<string, string>>();
  for (const m of r.stdout.matchAll(/VM\s*=\s*\[\s*ID\s*=\s*"?(\d+)"?[^\]]*?MONITOR\s*=\s*"([^"]+)"/g)) {
    vms.set(Number(m[1]), parseFlatTemplate(Buffer.from(m[2]!, 'base64').toString('utf8')));
  }
  return vms;
}

export interface MonitordHost {
  /** harness host index = simulator host ID */
  index: number;
  /** simulated physical memory (the fixture's TOTAL_MEM), KiB */
  simulatedTotalKiB: number;
}

/**
 * One monitoring round, as monitord would do it: every host probed, each VM's
 * record merged into oned, the host's free memory = simulated physical − the
 * measured balloons of the VMs on it. Returns what the probes saw, by host.
 */
export async function monitordTick(
  sim: OnedSimulator,
  remotes: Remotes,
  hosts: readonly MonitordHost[],
  /** the VMs oned knows (monitord drops records of others) */
  vmIds: ReadonlySet<number>,
): Promise<Map<number, Map<number, Record<string, string>>>> {
  const seen = await Promise.all(hosts.map((h) => probeVms(remotes, h.index)));
  const out = new Map<number, Map<number, Record<string, string>>>();
  hosts.forEach((h, k) => {
    const vms = seen[k]!;
    out.set(h.index, vms);
    let balloons = 0;
    for (const [id, monitor] of vms) {
      balloons += Number(monitor.REALMEMORY ?? 0);
      if (vmIds.has(id)) sim.setVmMonitoring(id, monitor);
    }
    sim.setHostCapacity(h.index, { freeMemoryKiB: Math.max(0, h.simulatedTotalKiB - balloons), usedMemoryKiB: balloons });
  });
  return out;
}
