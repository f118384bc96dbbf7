// One control cycle: the lines that join the outside world to the pure policy.
//
//   snapshot → reconcile state (originals merged from the state file and
//   oned's copy; a VM with no provable original is reported, left alone) → plan
//     → dry-run: log every decision, change nothing
//     → apply (lib/elasticity/apply-plan.ts): persist state (originals first!),
//       migrate, grow, shrink (each step re-read and re-checked, each resize
//       after oned holds the VM's original), publish, persist results
//   → host reserves: per host, RESERVED_MEM for the room its ballooned VMs are
//     predicted to take back, as HOST_RESERVE_MODE says
//     (lib/elasticity/host-reserve.ts), from the cluster as the VM steps left
//     it; dry-run logs it; a failed write is logged only
//   → KSM tuning last, when KSM_COMMAND is set; its failure undoes nothing.
//
// restore-all is the same path with planRestore's plan. The daemon loop around
// the cycle is lib/elasticity/daemon.ts.
//
// A state write that fails stops the cycle where it is (StateNotSaved,
// lib/elasticity/state-saving.ts).

import { oneLineMessage } from '../errors';
import { applyPlan, recordPlan } from './apply-plan';
import type { ElasticityConfig } from './config';
import { balloonMoving, staleBalloon } from './guest-figures';
import { operatorBase, planHostReserves, type HostReserveDecision } from './host-reserve';
import type { Migration } from './host-relief';
import { planCycle, planRestore, type CyclePlan } from './plan';
import type { ClusterSource, ClusterView, HostReservePublisher, HostView, KsmTuner, Logger, MemoryApplier, Migrator, Publisher, StateStore } from './ports';
import { persist } from './state-saving';
import { reconcile, type ElasticityState, type Unproven } from './state';
import type { VmDecision } from './vm-rule';

export interface CycleDeps {
  source: ClusterSource;
  applier: MemoryApplier;
  migrator: Migrator;
  publisher: Publisher;
  /** writes RESERVED_MEM (one.host.update); absent: the reserve is planned and logged only */
  hostReserve?: HostReservePublisher;
  /** KSM tuning (KSM_COMMAND); absent: KSM is left to the operator */
  ksm?: KsmTuner;
  store: StateStore<ElasticityState>;
  log: Logger;
  now: () => number;
  /** true once SIGTERM arrived: no new step starts */
  shouldStop?: () => boolean;
  /** where the fresh state for each step's re-check comes from; default `source` */
  fresh?: ClusterSource;
  /** VMs whose stale guest figures were already logged (the daemon keeps it: once per VM until fresh again) */
  staleLogged?: Set<number>;
  /** VMs already logged as left alone on a host without cloudvamp's drivers (the daemon keeps it: once per VM) */
  foreignLogged?: Set<number>;
}

export interface CycleOptions {
  dryRun?: boolean;
}

export interface CycleReport {
  state: ElasticityState;
  view: ClusterView;
  plan: CyclePlan;
  applied: number;
  failed: number;
  skipped: number;
  stopped: boolean;
  /** the regrowth reserve decided per host after the VM steps (absent after a restore) */
  hostReserves?: HostReserveDecision[];
  /** VMs left alone because nothing proves their original size */
  unproven: Unproven[];
}

/** Pure: the cluster as it is once these resizes and migrations are done. */
export function viewAfter(view: ClusterView, resized: readonly VmDecision[], moved: readonly Migration[]): ClusterView {
  const sizes = new Map(resized.map((d) => [d.vmId, d.targetKiB]));
  const hosts = new Map(moved.map((m) => [m.vmId, m.toHostId]));
  return {
    hosts: view.hosts,
    vms: view.vms.map((vm) => {
      const kib = sizes.get(vm.id);
      const hostId = hosts.get(vm.id);
      return kib === undefined && hostId === undefined
        ? vm
        : { ...vm, ...(kib !== undefined ? { currentKiB: kib } : {}), ...(hostId !== undefined ? { hostId, hostName: view.hosts.find((h) => h.id === hostId)?.name ?? vm.hostName } : {}) };
    }),
  };
}

/**
 * The host step, after the VM steps: each host's RESERVED_MEM for the room its
 * VMs are predicted to take back. Never fatal: a failed write is logged and
 * retried next cycle (the decision is recomputed from scratch every cycle).
 */
async function reserveHosts(deps: CycleDeps, config: ElasticityConfig, view: ClusterView, state: ElasticityState, now: number, dryRun: boolean): Promise<HostReserveDecision[]> {
  const decisions = planHostReserves({ ...view, hosts: view.hosts.filter((h) => usesCloudvamp(h, config)) }, state, config, now);
  for (const d of decisions) {
    const fields = {
      event: 'host-reserve',
      hostId: d.hostId,
      predictedKiB: d.predictedKiB,
      reserveKiB: d.reserveKiB,
      baseReservedMem: d.baseText,
      fromKiB: d.currentKiB,
      targetKiB: d.targetKiB,
      reason: d.reason,
      dryRun,
    };
    if (!d.template) {
      if (config.hostReserveMode !== 'none') deps.log({ level: dryRun ? 'info' : 'debug', msg: 'host reserve unchanged', ...fields });
      continue;
    }
    if (dryRun || !deps.hostReserve) {
      deps.log({ level: 'info', msg: 'host reserve planned', ...fields });
      continue;
    }
    if (deps.shouldStop?.() === true) break;
    try {
      await deps.hostReserve.publishHostReserve(d.hostId, d.template);
      deps.log({ level: 'info', msg: 'host reserve published', ...fields, result: 'ok' });
    } catch (error) {
      deps.log({ level: 'warn', msg: 'host reserve not published; retried next cycle', ...fields, result: 'failed', error: oneLineMessage(error) });
    }
  }
  return decisions;
}

function logPlan(deps: CycleDeps, plan: CyclePlan, dryRun: boolean): void {
  for (const m of plan.migrations)
    deps.log({ level: 'info', msg: 'migration planned', event: 'plan', action: 'migrate', dryRun, vmId: m.vmId, fromHostId: m.fromHostId, toHostId: m.toHostId, kib: m.kib, reason: m.reason });
  for (const d of plan.decisions) {
    if (d.action === 'none' && !dryRun) continue;
    deps.log({
      level: dryRun || d.action !== 'none' ? 'info' : 'debug',
      msg: d.action === 'none' ? 'no change' : `${d.action} planned`,
      event: 'plan',
      action: d.action,
      dryRun,
      vmId: d.vmId,
      hostId: d.hostId,
      fromKiB: d.fromKiB,
      targetKiB: d.targetKiB,
      reason: d.reason,
      ...(d.afterMigrationOf !== undefined ? { afterMigrationOf: d.afterMigrationOf } : {}),
    });
  }
}

async function snapshotAndReconcile(deps: CycleDeps, config: ElasticityConfig, state: ElasticityState, opts: { stateLost?: boolean } = {}) {
  const view = await deps.source.snapshot();
  const now = deps.now();
  // Hosts without cloudvamp's drivers: their VMs are not adopted nor touched, and they receive no migration.
  const foreignHosts = new Set(view.hosts.filter((h) => !usesCloudvamp(h, config)).map((h) => h.id));
  const foreignVms = new Set(view.vms.filter((vm) => vm.hostId !== null && foreignHosts.has(vm.hostId)).map((vm) => vm.id));
  if (deps.foreignLogged) {
    for (const vm of view.vms) {
      if (!foreignVms.has(vm.id) || deps.foreignLogged.has(vm.id)) continue;
      deps.foreignLogged.add(vm.id);
      const host = view.hosts.find((h) => h.id === vm.hostId)!;
      deps.log({
        level: 'info',
        msg: `VM ${vm.id} left alone: its host ${host.name} (${host.id}) runs IM_MAD ${host.drivers!.im} and VM_MAD ${host.drivers!.vm}, not cloudvamp's drivers (DRIVER_NAME ${config.driverName}); cloudvamp neither adopts, resizes nor migrates VMs there`,
        event: 'foreign-host',
        vmId: vm.id,
        hostId: host.id,
        imMad: host.drivers!.im,
        vmMad: host.drivers!.vm,
      });
    }
  }
  const r = reconcile(state, view, now, { ...opts, notAdopted: foreignVms });
  for (const id of r.added) deps.log({ level: 'info', msg: 'VM managed, original size recorded', event: 'adopt', vmId: id, originalKiB: r.state.vms[String(id)]!.originalKiB });
  for (const id of r.forgotten) deps.log({ level: 'info', msg: 'VM no longer exists, forgotten', event: 'forget', vmId: id });
  for (const u of r.unproven)
    deps.log({ level: 'warn', msg: `VM ${u.vmId} left alone: its original size is unknown (${u.reason}); set USER_TEMPLATE/CLOUDVAMP_ORIGINAL_MEMORY (KiB) to manage it`, event: 'unproven', vmId: u.vmId });
  for (const d of r.disagreements)
    deps.log({ level: 'warn', msg: `VM ${d.vmId}: the state file and oned record different originals; keeping the larger`, event: 'original', vmId: d.vmId, stateKiB: d.stateKiB, onedKiB: d.onedKiB });
  if (deps.staleLogged) {
    for (const vm of view.vms) {
      const why = vm.running ? staleBalloon(vm, config, now) : undefined;
      if (why === undefined) deps.staleLogged.delete(vm.id);
      else if (!deps.staleLogged.has(vm.id)) {
        deps.staleLogged.add(vm.id);
        deps.log({ level: 'warn', msg: `VM ${vm.id}: ${why}`, event: 'stale-figures', vmId: vm.id, updatedAt: vm.balloon?.updatedAt });
      }
    }
  }
  // Not once per VM like stale figures: a balloon is on its way for a cycle or two after a change, then arrives or counts as stuck.
  for (const vm of view.vms) {
    const why = vm.running ? balloonMoving(vm, r.state.vms[String(vm.id)], config, now) : undefined;
    if (why !== undefined) deps.log({ level: 'info', msg: `VM ${vm.id}: ${why}`, event: 'balloon-moving', vmId: vm.id, currentKiB: vm.balloonKiB ?? vm.currentKiB, setKiB: r.state.vms[String(vm.id)]!.lastAction!.toKiB });
  }
  // The policy sees unproven VMs as not running: left alone, their memory still counted on their host.
  const left = new Set([...r.unproven.map((u) => u.vmId), ...foreignVms]);
  const planned: ClusterView =
    left.size === 0 && foreignHosts.size === 0
      ? view
      : {
          hosts: view.hosts.map((h) => (foreignHosts.has(h.id) ? { ...h, enabled: false } : h)),
          vms: view.vms.map((vm) => (left.has(vm.id) ? { ...vm, running: false } : vm)),
        };
  return { view: planned, now, reconciled: r };
}

/** One control cycle. `state` is the state after the previous cycle (as loaded at start). */
export async function runCycle(deps: CycleDeps, config: ElasticityConfig, state: ElasticityState, opts: CycleOptions = {}): Promise<CycleReport> {
  const report = await runCycleSteps(deps, config, state, opts);
  // KSM last, from the hosts' monitored free memory; its failure never undoes the cycle
  if (deps.ksm && opts.dryRun !== true && !report.stopped)
    await deps.ksm.tuneHosts(report.view.hosts).catch((error: unknown) => deps.log({ level: 'warn', msg: 'KSM tuning failed', error: error instanceof Error ? error.message : String(error) }));
  return report;
}

async function runCycleSteps(deps: CycleDeps, config: ElasticityConfig, state: ElasticityState, opts: CycleOptions): Promise<CycleReport> {
  const { view, now, reconciled } = await snapshotAndReconcile(deps, config, state);
  const plan = planCycle(view, reconciled.state, config, now);
  const dryRun = opts.dryRun === true;
  logPlan(deps, plan, dryRun);
  const changes = plan.migrations.length + plan.decisions.filter((d) => d.action !== 'none').length;
  if (dryRun) {
    // What the reserve would be once the plan is applied, from the state the plan would leave.
    const changed = plan.decisions.filter((d) => d.action !== 'none');
    const hostReserves = await reserveHosts(deps, config, viewAfter(view, changed, plan.migrations), recordPlan(reconciled.state, plan, now), now, true);
    return { state: reconciled.state, view, plan, applied: 0, failed: 0, skipped: 0, stopped: false, hostReserves, unproven: reconciled.unproven };
  }
  if (changes === 0) {
    // Strike counters and adoptions still change; persist only when something did.
    const next = recordPlan(reconciled.state, plan, now);
    if (JSON.stringify(next) !== JSON.stringify(state)) await persist(deps, next);
    const hostReserves = deps.shouldStop?.() === true ? [] : await reserveHosts(deps, config, view, next, now, false);
    return { state: next, view, plan, applied: 0, failed: 0, skipped: 0, stopped: false, hostReserves, unproven: reconciled.unproven };
  }
  const { resized, moved, ...r } = await applyPlan(deps, config, view, reconciled.state, plan);
  const hostReserves = r.stopped ? [] : await reserveHosts(deps, config, viewAfter(view, resized, moved), r.state, deps.now(), false);
  return { ...r, view, plan, hostReserves, unproven: reconciled.unproven };
}

/** Does the host run cloudvamp's drivers (IM_MAD and VM_MAD = DRIVER_NAME)? Unknown drivers (test doubles): yes. */
export const usesCloudvamp = (host: HostView, config: Pick<ElasticityConfig, 'driverName'>): boolean =>
  host.drivers === undefined || (host.drivers.im === config.driverName && host.drivers.vm === config.driverName);

/**
 * Pure: what restore-all writes into each cloudvamp host's TEMPLATE so that
 * RESERVED_MEM is the operator's own value again and the manager's keys are
 * gone. oned's merge cannot delete an attribute: the keys are emptied, which
 * cloudvamp (and the operator) read as absent. Hosts cloudvamp never wrote get nothing.
 */
export function hostReserveRestore(host: HostView): Record<string, string> | undefined {
  const keys = host.reserve ?? {};
  const blank = (t: string | undefined) => (t ?? '').trim() === '';
  if (blank(keys.publishedReservedMem) && blank(keys.baseReservedMem)) return undefined;
  return { RESERVED_MEM: operatorBase(host).text, CLOUDVAMP_RESERVED_MEM: '', CLOUDVAMP_BASE_RESERVED_MEM: '' };
}

/** restore-all: every managed VM back to its original size (relief migrations where needed). */
export async function runRestore(
  deps: CycleDeps,
  config: ElasticityConfig,
  state: ElasticityState,
  opts: CycleOptions & { force?: boolean; stateLost?: boolean } = {},
): Promise<CycleReport> {
  const { view, reconciled } = await snapshotAndReconcile(deps, config, state, { stateLost: opts.stateLost === true });
  const plan = planRestore(view, reconciled.state, config, { force: opts.force === true });
  logPlan(deps, plan, opts.dryRun === true);
  // a restore the host could not take (host-relief.ts turned it into 'none'); not parsed from the reason
  const left = plan.decisions.filter((d) => d.restore === true && d.action === 'none');
  for (const d of left)
    deps.log({ level: 'warn', msg: 'VM not restored: its host has no room; free memory on it or rerun with --force', event: 'restore', vmId: d.vmId, hostId: d.hostId, reason: d.reason });
  const unproven = reconciled.unproven;
  if (opts.dryRun) {
    await restoreHostReserves(deps, view, true);
    return { state: reconciled.state, view, plan, applied: 0, failed: 0, skipped: 0, stopped: false, unproven };
  }
  const { resized: _resized, moved: _moved, ...r } = await applyPlan(deps, config, view, reconciled.state, plan, 'restore');
  const hostsFailed = r.stopped ? 0 : await restoreHostReserves(deps, view, false);
  return { ...r, failed: r.failed + hostsFailed, view, plan, skipped: r.skipped + left.length, unproven };
}

/** restore-all's host step: each cloudvamp host's RESERVED_MEM back to the operator's value (hostReserveRestore); returns the failures. */
async function restoreHostReserves(deps: CycleDeps, view: ClusterView, dryRun: boolean): Promise<number> {
  let failed = 0;
  // `view` is the planning view: hosts without cloudvamp's drivers are disabled there, and hostReserveRestore
  // finds nothing on them anyway (cloudvamp never wrote their keys).
  for (const host of view.hosts) {
    const template = hostReserveRestore(host);
    if (!template) continue;
    const fields = { event: 'host-reserve', hostId: host.id, reservedMem: template.RESERVED_MEM, dryRun };
    if (dryRun || !deps.hostReserve) {
      deps.log({ level: 'info', msg: "host reserve: RESERVED_MEM back to the operator's value planned", ...fields });
      continue;
    }
    try {
      await deps.hostReserve.publishHostReserve(host.id, template);
      deps.log({ level: 'info', msg: "host reserve: RESERVED_MEM back to the operator's value, cloudvamp's keys emptied", ...fields, result: 'ok' });
    } catch (error) {
      failed++;
      deps.log({ level: 'error', msg: 'host reserve not restored', ...fields, result: 'failed', error: oneLineMessage(error) });
    }
  }
  return failed;
}
