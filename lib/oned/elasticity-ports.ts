// Adapters from lib/oned's OneClient (and the VMM `memory` action) to the
// elasticity ports. The mapping functions are pure and tested on their own;
// the classes only sequence calls.

import { execa } from 'execa';
import { CloudvampError } from '../errors';
import { pollUntil } from '../poll-until';
import type { OneClient } from './client';
import { isPinned, receivesVms } from './cloud';
import { OnedError } from './errors';
import { waitForLiveMigration } from './live-migration';
import { LcmState, mergeVmMonitoring, VmState, type OneHost, type OneVm, type VmMonitoringRecord } from './models';
import type { ElasticityConfig } from '../elasticity/config';
import { parseOneGate, parseOverrides, templateNumber } from '../elasticity/guest-figures';
import type { ClusterSource, ClusterView, HostReservePublisher, HostView, KsmTuner, Logger, MemoryApplier, Migrator, PublishedFigures, Publisher, VmView } from '../elasticity/ports';
import { ksmTuning, type KsmSettings } from '../memory/ksm-policy';

const num = templateNumber;

/**
 * Monitoring keys written by cloudvamp's vm/monitor probe (lib/monitor/reports.ts):
 * REALMEMORY = balloon.current, GUEST_MEMTOTAL = balloon.available,
 * GUEST_MEMAVAILABLE = balloon.usable; TIMESTAMP is monitord's record time (s).
 */
export function vmViewFromOne(vm: OneVm, config: Pick<ElasticityConfig, 'applyMode'>, problems: string[] = []): VmView {
  const templateMemoryKiB = vm.templateMemoryMiB * 1024;
  const active = vm.state === VmState.ACTIVE;
  const m = vm.monitoring;
  const real = num(m.REALMEMORY);
  // In resize mode oned's MEMORY is the size; otherwise the balloon size the probe saw.
  const currentKiB = config.applyMode === 'resize' || real === undefined || real <= 0 ? templateMemoryKiB : real;
  const available = num(m.GUEST_MEMTOTAL);
  const usable = num(m.GUEST_MEMAVAILABLE);
  // When the guest last refreshed its balloon stats: libvirt's balloon.last-update
  // (BALLOON_LAST_UPDATE, epoch s) where the probe reports it. monitord's TIMESTAMP
  // is only when the record was taken: without a stats period libvirt serves the
  // figures of boot time in every fresh record (#9 defect 3).
  const lastUpdate = num(m.BALLOON_LAST_UPDATE);
  const stamp = lastUpdate ?? num(m.TIMESTAMP);
  const swapIn = num(m.GUEST_SWAP_IN);
  const majorFaults = num(m.GUEST_MAJOR_FAULTS);
  const { overrides, problems: overrideProblems } = parseOverrides(vm.userTemplate);
  problems.push(...overrideProblems.map((p) => `VM ${vm.id}: ${p}`));
  const onegate = parseOneGate(vm.userTemplate);
  const recordedOriginal = num(vm.userTemplate.CLOUDVAMP_ORIGINAL_MEMORY);
  const cloudvampSet = num(vm.userTemplate.CLOUDVAMP_MEMORY);
  return {
    id: vm.id,
    name: vm.name,
    uid: vm.uid,
    // Only an ACTIVE VM holds memory on its host; a powered-off one keeps its last HISTORY host but no memory there.
    hostId: active && vm.hostId !== undefined ? vm.hostId : null,
    hostName: active && vm.hostname !== undefined ? vm.hostname : null,
    deployId: vm.deployId,
    running: active && vm.lcmState === LcmState.RUNNING && vm.deployId !== '',
    pinned: isPinned(vm),
    cpu: Math.round(vm.cpu * 100),
    templateMemoryKiB,
    currentKiB,
    ...(config.applyMode === 'resize' && real !== undefined && real > 0 ? { balloonKiB: real } : {}),
    ...(recordedOriginal !== undefined && recordedOriginal > 0 ? { recordedOriginalKiB: recordedOriginal } : {}),
    ...(cloudvampSet !== undefined && cloudvampSet > 0 ? { cloudvampSetKiB: cloudvampSet } : {}),
    ...(available !== undefined && usable !== undefined
      ? {
          balloon: {
            availableKiB: available,
            usableKiB: usable,
            ...(stamp !== undefined ? { updatedAt: stamp * 1000 } : {}),
            ...(lastUpdate !== undefined ? { guestStamped: true } : {}),
          },
        }
      : {}),
    ...((swapIn !== undefined || majorFaults !== undefined) && stamp !== undefined
      ? { counters: { ...(swapIn !== undefined ? { swapInKiB: swapIn } : {}), ...(majorFaults !== undefined ? { majorFaults } : {}), at: stamp * 1000 } }
      : {}),
    ...(onegate ? { onegate } : {}),
    overrides,
  };
}

/** Physical memory: cloudvamp's probe inflates TOTALMEMORY with borrowed memory, so prefer CLOUDVAMP_PHYSICALMEMORY. */
export function hostViewFromOne(host: OneHost): HostView {
  const physical = num(host.template.CLOUDVAMP_PHYSICALMEMORY);
  return {
    id: host.id,
    name: host.name,
    clusterId: host.clusterId,
    enabled: receivesVms(host),
    drivers: { im: host.imMad, vm: host.vmMad },
    cpu: host.hostShare.totalCpu,
    totalKiB: physical ?? host.hostShare.totalMemKiB,
    ...(host.monitoring.freeMemoryKiB !== undefined ? { freeKiB: host.monitoring.freeMemoryKiB } : {}),
    ...(host.monitoring.freeMemoryKiB !== undefined && host.monitoring.timestamp !== undefined ? { freeAt: host.monitoring.timestamp * 1000 } : {}),
    reserve: {
      ...(host.template.RESERVED_MEM !== undefined ? { reservedMem: host.template.RESERVED_MEM } : {}),
      ...(host.template.CLOUDVAMP_RESERVED_MEM !== undefined ? { publishedReservedMem: host.template.CLOUDVAMP_RESERVED_MEM } : {}),
      ...(host.template.CLOUDVAMP_BASE_RESERVED_MEM !== undefined ? { baseReservedMem: host.template.CLOUDVAMP_BASE_RESERVED_MEM } : {}),
    },
  };
}

export class OnedClusterSource implements ClusterSource {
  constructor(
    private readonly client: OneClient,
    private readonly config: ElasticityConfig,
    private readonly log: Logger = () => undefined,
  ) {}

  async snapshot(): Promise<ClusterView> {
    const [vms, records, hosts] = await Promise.all([
      this.client.vmPoolInfoExtended(),
      this.client.vmPoolMonitoring(0),
      this.client.hostPoolInfo(),
    ]);
    const problems: string[] = [];
    const views = this.views(vms, records, problems);
    for (const p of problems) this.log({ level: 'warn', msg: p, event: 'override' });
    return { vms: views, hosts: hosts.map(hostViewFromOne) };
  }

  async vmStates(): Promise<ClusterView> {
    const [vms, records] = await Promise.all([this.client.vmPoolInfo(), this.client.vmPoolMonitoring(0)]);
    // Short bodies: overrides and OneGate figures are absent, so no problems are logged from them.
    return { vms: this.views(vms, records), hosts: [] };
  }

  /** oned's VMs with their last monitoring record, as the manager sees them: only the configured user's (USER_FILTER). */
  private views(vms: readonly OneVm[], records: readonly VmMonitoringRecord[], problems?: string[]): VmView[] {
    return mergeVmMonitoring(vms, records)
      .filter((vm) => this.config.userFilter === undefined || vm.uid === this.config.userFilter)
      .map((vm) => vmViewFromOne(vm, this.config, problems));
  }

  async refresh(base: ClusterView, vmIds: readonly number[], hostIds: readonly number[]): Promise<ClusterView> {
    const gone = (error: unknown) => {
      if (error instanceof OnedError && error.codeName === 'NO_EXISTS') return undefined;
      throw error;
    };
    const [vms, hosts] = await Promise.all([
      Promise.all(vmIds.map((id) => this.client.vmInfo(id).catch(gone))),
      Promise.all(hostIds.map((id) => this.client.hostInfo(id).catch(gone))),
    ]);
    const vmById = new Map<number, VmView | undefined>(vmIds.map((id, i) => {
      const vm = vms[i];
      return [id, vm && (this.config.userFilter === undefined || vm.uid === this.config.userFilter) ? vmViewFromOne(vm, this.config) : undefined];
    }));
    const hostById = new Map(hostIds.map((id, i) => [id, hosts[i] && hostViewFromOne(hosts[i]!)]));
    return {
      vms: base.vms.flatMap((v) => (vmById.has(v.id) ? (vmById.get(v.id) ? [vmById.get(v.id)!] : []) : [v])),
      hosts: base.hosts.flatMap((h) => (hostById.has(h.id) ? (hostById.get(h.id) ? [hostById.get(h.id)!] : []) : [h])),
    };
  }
}

export interface Waiting {
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  pollMs?: number;
}

/** `one.vm.migrate(live=true, enforce=false)`, then waits until oned shows the VM RUNNING on the destination. */
export class OnedMigrator implements Migrator {
  constructor(
    private readonly client: OneClient,
    private readonly timeoutMs: number,
    private readonly wait: Waiting,
  ) {}

  async migrateLive(vmId: number, hostId: number): Promise<void> {
    // enforce=false: oned's admission counts TEMPLATE/MEMORY, which is exactly
    // the memory oversubscription gives out; the policy checked real headroom.
    // Read first: the wait tells the migration's own HISTORY record and ERROR from older ones.
    const before = await this.client.vmInfo(vmId);
    await this.client.vmMigrate(vmId, hostId, { live: true, enforce: false });
    await waitForLiveMigration(this.client, vmId, hostId, { ...this.wait, timeoutMs: this.timeoutMs, timeoutSetting: 'MIGRATION_TIMEOUT', before });
  }
}

/** APPLY_MODE=resize: `one.vm.resize(MEMORY=MiB, enforce=false)` (6.6+ ballooning), then waits for RUNNING again. */
export class OnedResizeApplier implements MemoryApplier {
  constructor(
    private readonly client: OneClient,
    private readonly wait: Waiting,
    private readonly timeoutMs = 120_000,
  ) {}

  async setMemory(vm: VmView, kib: number): Promise<void> {
    await this.client.vmResize(vm.id, Math.ceil(kib / 1024), { enforce: false });
    const outcome = await pollUntil(this.wait, { timeoutMs: this.timeoutMs, intervalMs: this.wait.pollMs ?? 1_000, delayFirst: true, pastDeadline: true }, async () => {
      const now = await this.client.vmInfo(vm.id);
      if (now.lcmState !== LcmState.RUNNING) return undefined;
      if (now.templateMemoryMiB * 1024 !== Math.ceil(kib / 1024) * 1024)
        throw new CloudvampError('hypervisor', `resize of VM ${vm.id} to ${Math.ceil(kib / 1024)} MiB failed; oned restored ${now.templateMemoryMiB} MiB (see the VM's log)`);
      return true;
    });
    if (!outcome.done) throw new CloudvampError('oned', `VM ${vm.id} still resizing after ${Math.round(this.timeoutMs / 1000)} s`);
  }
}

/** The argv of the memory action for one VM: each word of MEMORY_COMMAND with its placeholders replaced; no shell. */
export function memoryCommandArgv(template: readonly string[], vm: VmView, kib: number): string[] {
  if (vm.hostName === null) throw new CloudvampError('not-found', `VM ${vm.id} has no host; it cannot be resized`);
  // ssh hands its arguments to a shell on the host: allow only names that need no quoting there,
  // and none starting with '-', which ssh or the action would read as an option (-oProxyCommand=...).
  for (const [what, v] of [['host name', vm.hostName], ['deploy id', vm.deployId]] as const)
    if (!/^[A-Za-z0-9._:@][A-Za-z0-9._:@-]*$/.test(v))
      throw new CloudvampError('unsafe', `VM ${vm.id}: refusing to pass ${what} '${v}' to the memory action (unexpected characters, or a leading '-')`);
  const values: Record<string, string> = { host: vm.hostName, deploy_id: vm.deployId, kib: String(Math.round(kib)), vmid: String(vm.id) };
  return template.map((word) => word.replace(/\{(host|deploy_id|kib|vmid)\}/g, (_, k: string) => values[k]!));
}

export type Runner = (file: string, args: string[]) => Promise<{ exitCode: number; stderr: string }>;

export const execaRunner: Runner = async (file, args) => {
  const r = await execa(file, args, { reject: false, timeout: 120_000, stdin: 'ignore' });
  return { exitCode: r.exitCode ?? 1, stderr: String(r.stderr ?? '') || (r.timedOut ? 'timed out after 120 s' : '') };
};

/** APPLY_MODE=memory-action: runs the VMM `memory` action on the VM's host (ssh by default). */
export class MemoryActionApplier implements MemoryApplier {
  constructor(
    private readonly command: readonly string[],
    private readonly run: Runner = execaRunner,
  ) {}

  async setMemory(vm: VmView, kib: number): Promise<void> {
    const [file, ...args] = memoryCommandArgv(this.command, vm, kib);
    const r = await this.run(file!, args);
    if (r.exitCode !== 0)
      throw new CloudvampError('hypervisor', `memory action for VM ${vm.id} on ${vm.hostName} exited ${r.exitCode}: ${r.stderr.trim() || 'no message'}`);
  }
}

export class OnedPublisher implements Publisher {
  constructor(private readonly client: OneClient) {}
  async publish(vmId: number, figures: PublishedFigures): Promise<void> {
    const template: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(figures)) if (v !== '') template[k] = v;
    await this.client.vmUpdate(vmId, template, 'merge');
  }

  async recordOriginal(vmId: number, kib: number): Promise<void> {
    await this.client.vmUpdate(vmId, { CLOUDVAMP_ORIGINAL_MEMORY: kib }, 'merge');
    // Read back: a write oned did not keep is no record, and the change must not happen without one.
    const back = (await this.client.vmInfo(vmId)).userTemplate.CLOUDVAMP_ORIGINAL_MEMORY;
    if (num(back) !== kib)
      throw new CloudvampError('oned', `VM ${vmId}: oned did not keep CLOUDVAMP_ORIGINAL_MEMORY=${kib} (reads ${back ?? 'nothing'}); its size is left unchanged`);
  }
}

/** The regrowth reserve: `one.host.update(id, RESERVED_MEM…, merge)`; the SYSTEM_HOST keys stay. */
export class OnedHostReservePublisher implements HostReservePublisher {
  constructor(private readonly client: OneClient) {}
  async publishHostReserve(hostId: number, template: Readonly<Record<string, string | number>>): Promise<void> {
    await this.client.hostUpdate(hostId, template, 'merge');
  }
}

/**
 * KSM_COMMAND: MOM-style KSM tuning (lib/memory/ksm-policy.ts) per host from
 * its monitored free memory, applied with the host-side `ksm` action only
 * where the settings change. It remembers what it set per host for the
 * daemon's lifetime; after a restart the first decision starts from
 * "stopped at the minimum", as MOM does.
 */
export class KsmActionTuner implements KsmTuner {
  private readonly settings = new Map<number, KsmSettings>();
  constructor(
    private readonly command: readonly string[],
    private readonly run: Runner = execaRunner,
  ) {}

  async tuneHosts(hosts: readonly HostView[]): Promise<void> {
    const failures: string[] = [];
    for (const host of hosts) {
      if (!host.enabled || host.freeKiB === undefined || host.totalKiB <= 0) continue;
      if (!/^[A-Za-z0-9._:@][A-Za-z0-9._:@-]*$/.test(host.name)) {
        failures.push(`host ${host.id}: refusing to pass host name '${host.name}' to the ksm action`);
        continue;
      }
      const previous = this.settings.get(host.id);
      const next = ksmTuning({ freeKiB: host.freeKiB, totalKiB: host.totalKiB }, previous);
      if (previous && previous.run === next.run && previous.pagesToScan === next.pagesToScan && previous.sleepMs === next.sleepMs) continue;
      const values: Record<string, string> = { host: host.name, run: String(next.run), pages: String(next.pagesToScan), sleep_ms: String(next.sleepMs) };
      const [file, ...args] = this.command.map((word) => word.replace(/\{(host|run|pages|sleep_ms)\}/g, (_, k: string) => values[k]!));
      const r = await this.run(file!, args);
      if (r.exitCode === 0) this.settings.set(host.id, next);
      else failures.push(`ksm action on ${host.name} exited ${r.exitCode}: ${r.stderr.trim() || 'no message'}`);
    }
    if (failures.length > 0) throw new CloudvampError('hypervisor', failures.join('; '));
  }
}
