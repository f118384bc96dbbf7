// One control cycle and the daemon loop around it: the ~30 lines that join the
// outside world to the pure policy.
//
//   snapshot → reconcile state (originals merged from the state file and
//   oned's copy; a VM with no provable original is reported, left alone) → plan → dry-run: log every decision, change nothing
//                                      → apply: persist state (originals first!),
//                                        migrate, grow, shrink (each resize after
//                                        oned holds the VM's original), publish,
//                                        persist results
//   → host reserves: per host, RESERVED_MEM for the room its ballooned VMs'
//     recent peaks need back (lib/elasticity/host-reserve.ts), from the cluster
//     as the VM steps left it; dry-run logs it; a failed write is logged only
//
// Before each step what it touches is read again (the VM, and the host that
// must have room: one.vm.info + one.host.info through ClusterSource.refresh,
// a grow's host once per cycle, the shrinks one read of the VMs' states for
// all (ClusterSource.vmStates: short pool bodies + monitoring); so a cycle
// costs O(changes) calls, not O(changes × cluster); a source without refresh
// gives a whole snapshot) and the step's precondition
// re-checked (lib/elasticity/precheck.ts): a VM that moved, stopped or was
// resized by someone else, or a host that no longer has room, makes the step
// skip with its reason instead of acting on a stale plan.
//
// The read → re-check → act → record loop itself is the one both appliers use
// (lib/step-runner.ts); what a step is, what it reads and how it is logged are here.
//
// Migrations go first because the grows that need them wait on their
// success; grows before shrinks because a starving guest should not wait for
// someone else's balloon. Each step is logged with its result; `shouldStop`
// is checked between steps, so SIGTERM finishes the step in flight and stops.
//
// A state write that fails stops the cycle where it is (StateNotSaved carries
// the state that should have been written); the daemon then changes nothing
// until that state is written, so no size it set can ever be taken for an
// original by a later adoption.

import { CloudvampError, oneLineMessage } from '../errors';
import { OnedError } from '../oned/errors';
import type { ElasticityConfig } from './config';
import { staleBalloon } from './guest-figures';
import { operatorBase, planHostReserves, type HostReserveDecision } from './host-reserve';
import { withMigration } from './migration-budget';
import type { Migration } from './host-relief';
import { planCycle, planRestore, type CyclePlan } from './plan';
import { limitsFor, type VmDecision } from './vm-rule';
import type { ClusterSource, ClusterView, HostReservePublisher, HostView, KsmTuner, Logger, MemoryApplier, Migrator, Publisher, StateStore, VmView } from './ports';
import { nothingApplied, recheck, recordDone, type Step } from './precheck';
import { forEachBounded } from '../bounded';
import { runSteps } from '../step-runner';
import { reconcile, type ActionKind, type ElasticityState, type LastAction, type Unproven, type ManagedVm } from './state';

/** The state file could not be written; `state` is what must be written before anything else changes. */
export class StateNotSaved extends CloudvampError {
  constructor(
    readonly state: ElasticityState,
    cause: unknown,
  ) {
    super('internal', `state not saved, nothing more changes until it is: ${oneLineMessage(cause)}`, { cause });
    this.name = 'StateNotSaved';
  }
}

/** store.save, its failure carrying the state to keep. */
async function persist(deps: Pick<CycleDeps, 'store'>, state: ElasticityState, keep: ElasticityState = state): Promise<void> {
  try {
    await deps.store.save(state);
  } catch (error) {
    throw new StateNotSaved(keep, error);
  }
}

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

/** Pure: the state with the plan's intentions recorded (before anything is applied). */
export function recordPlan(state: ElasticityState, plan: CyclePlan, now: number, kind?: ActionKind): ElasticityState {
  const vms = { ...state.vms };
  const hosts = { ...state.hosts };
  for (const d of plan.decisions) {
    const key = String(d.vmId);
    const vm = vms[key];
    if (!vm) continue;
    const next: ManagedVm = { ...vm, strikes: d.strikes };
    if (d.starving) next.lastStrikeAt = now;
    if (d.peak) next.peak = d.peak;
    if (d.counters) next.counters = d.counters;
    if (d.action !== 'none') {
      next.lastChangeAt = now;
      next.lastAction = { action: kind ?? d.action, at: now, fromKiB: d.fromKiB, toKiB: d.targetKiB, reason: d.reason, result: 'pending' };
    }
    vms[key] = next;
  }
  for (const m of plan.migrations) {
    const from = hosts[String(m.fromHostId)];
    const to = hosts[String(m.toHostId)];
    hosts[String(m.fromHostId)] = { ...from, lastMigrationAt: now, migrations: withMigration(from?.migrations, now) };
    hosts[String(m.toHostId)] = { ...to, migrations: withMigration(to?.migrations, now) };
    const vm = vms[String(m.vmId)];
    if (vm)
      vms[String(m.vmId)] = {
        ...vm,
        leftHost: { hostId: m.fromHostId, at: now },
        lastAction: { action: 'migrate', at: now, fromKiB: m.kib, toKiB: m.kib, reason: m.reason, result: 'pending', toHostId: m.toHostId },
      };
  }
  return { version: 1, vms, hosts };
}

function setResult(state: ElasticityState, vmId: number, result: LastAction['result']): void {
  const vm = state.vms[String(vmId)];
  if (vm?.lastAction) state.vms[String(vmId)] = { ...vm, lastAction: { ...vm.lastAction, result } };
}

/** USER_TEMPLATE keys CVEM writes; not CloudVAMP's MEM_OVER / MIN_FREE_MEM, which are the owner's overrides. */
export function publishedFigures(vm: VmView, d: VmDecision, config: ElasticityConfig, now: number): Record<string, string | number> {
  const limits = limitsFor(vm, config);
  // CLOUDVAMP_ORIGINAL_MEMORY is not among them: Publisher.recordOriginal alone writes it, before the change.
  return {
    CLOUDVAMP_MEMORY: d.targetKiB,
    CLOUDVAMP_USED_MEMORY: d.figures?.usedKiB ?? '',
    CLOUDVAMP_FREE_MEMORY: d.figures?.freeKiB ?? '',
    CLOUDVAMP_FIGURES: d.figures?.source ?? '',
    CLOUDVAMP_MEM_OVER: limits.memOverPercent,
    CLOUDVAMP_MIN_FREE_MEM: limits.minFreeKiB,
    CLOUDVAMP_ACTION: d.action,
    CLOUDVAMP_TIME: Math.floor(now / 1000),
  };
}

/** Published figures written at once (one.vm.update each); oned serves concurrent calls. */
export const PUBLISH_CONCURRENCY = 8;

async function applyPlan(
  deps: CycleDeps,
  config: ElasticityConfig,
  view: ClusterView,
  before: ElasticityState,
  plan: CyclePlan,
  kind?: ActionKind,
): Promise<{ state: ElasticityState; applied: number; failed: number; skipped: number; stopped: boolean; resized: VmDecision[]; moved: Migration[] }> {
  const { log } = deps;
  const now = deps.now();
  const state = recordPlan(before, plan, now, kind);
  // Persist before touching any VM: a crash from here on still knows every original.
  // Failing here nothing was applied: keep the state as it was before the plan.
  await persist(deps, state, before);
  const vms = new Map(view.vms.map((v) => [v.id, v]));
  const stop = () => deps.shouldStop?.() === true;
  let applied = 0;
  let failed = 0;
  let skipped = 0;
  let stopped = false;
  const failedMoves = new Set<number>();
  const done = nothingApplied();
  const skip = (what: Record<string, unknown>, vmId: number, level: 'info' | 'warn', why: string) => {
    skipped++;
    setResult(state, vmId, 'skipped');
    log({ level, msg: `${String(what.event)} skipped: ${why}`, ...what, result: 'skipped', skipReason: why });
  };
  // What each step's re-check reads (see the file comment): a source with
  // refresh re-reads the step's VM, a migration's destination every time, a
  // grow's host once per cycle (this cycle's own grows are in `done`), and the
  // shrinks, independent of one another, share one pool read when there are
  // more than three of them (vmStates: the VMs' state, host and size only; a
  // shrink's re-check needs no host). Without refresh: a whole snapshot per step.
  const source = deps.fresh ?? deps.source;
  const current = new LocalViews(view);
  const hostsRead = new Set<number>();
  const shrinks = plan.decisions.filter((d) => d.action === 'shrink').length;
  let shrinkWave: LocalViews | undefined;
  const freshFor = async (s: Step, vmId: number): Promise<ClusterView> => {
    if (!source.refresh) return source.snapshot();
    if (s.kind === 'resize' && s.decision.action === 'shrink' && shrinks > 3) return (shrinkWave ??= new LocalViews(await (source.vmStates?.() ?? source.snapshot()))).around(vmId, []);
    const touched = touchedHosts(s);
    const hosts = touched.filter((h) => s.kind === 'migrate' || !hostsRead.has(h));
    for (const h of hosts) hostsRead.add(h);
    // Only what the re-check looks at goes to refresh and comes back: the step's VM,
    // its hosts and the VMs oned places on them (their sizes are the host's commitment).
    return current.merge(await source.refresh(current.around(vmId, touched), [vmId], hosts), vmId);
  };
  // The steps in order: migrations first, then grows, then shrinks (see the
  // file comment). Each one is logged with its result; a skipped or failed
  // step does not stop the others, except that a grow waits on its relief
  // migration (`blocked`).
  interface CycleStep {
    what: Record<string, unknown>;
    step: Step;
    vmId: number;
    run: () => Promise<void>;
    afterMigrationOf?: number;
  }
  const migrations: CycleStep[] = plan.migrations.map((m) => ({
    what: { event: 'migrate', vmId: m.vmId, fromHostId: m.fromHostId, toHostId: m.toHostId, kib: m.kib, forVmId: m.forVmId, reason: m.reason },
    step: { kind: 'migrate', migration: m },
    vmId: m.vmId,
    run: () => deps.migrator.migrateLive(m.vmId, m.toHostId),
  }));
  const changes = plan.decisions.filter((d) => d.action !== 'none');
  const ordered = [...changes.filter((d) => d.action === 'grow'), ...changes.filter((d) => d.action === 'shrink')];
  const resizes: CycleStep[] = ordered.map((d) => {
    const vm = vms.get(d.vmId)!;
    return {
      what: { event: d.action, vmId: d.vmId, hostId: d.hostId, fromKiB: d.fromKiB, targetKiB: d.targetKiB, reason: d.reason },
      step: { kind: 'resize', decision: d },
      vmId: d.vmId,
      afterMigrationOf: d.afterMigrationOf,
      run: async () => {
        // oned's copy of the original before the first change (and whenever it is missing or smaller than ours).
        const original = state.vms[String(d.vmId)]?.originalKiB ?? d.originalKiB;
        if (vm.recordedOriginalKiB !== original) await deps.publisher.recordOriginal(d.vmId, original);
        await deps.applier.setMemory(vm, d.targetKiB);
      },
    };
  });
  const resized: VmDecision[] = [];
  await runSteps<CycleStep, ClusterView>([...migrations, ...resizes], {
    onFailure: 'continue',
    now: () => deps.now(),
    blocked: (c) => (c.afterMigrationOf !== undefined && failedMoves.has(c.afterMigrationOf) ? 'its relief migration did not happen' : undefined),
    shouldStop: stop,
    read: (c) => freshFor(c.step, c.vmId),
    recheck: (c, fresh) => recheck(c.step, view, fresh, done, config),
    act: (c) => c.run(),
    record: (outcome) => {
      const { what, step: s, vmId } = outcome.step;
      switch (outcome.kind) {
        case 'blocked':
          skip(what, vmId, 'warn', outcome.reason);
          return;
        case 'stopped':
          stopped = true;
          skip(what, vmId, 'info', 'stopping');
          break;
        case 'unread':
          skip(what, vmId, 'warn', `could not re-read the cluster before acting: ${oneLineMessage(outcome.error)}`);
          break;
        case 'refused':
          skip(what, vmId, 'warn', outcome.refusal);
          break;
        case 'acted':
          recordDone(done, s);
          applied++;
          setResult(state, vmId, 'ok');
          log({ level: 'info', msg: `${String(what.event)} done`, ...what, result: 'ok', ms: outcome.ms });
          if (s.kind === 'resize') resized.push(s.decision);
          return;
        case 'failed':
          failed++;
          setResult(state, vmId, 'failed');
          log({ level: 'error', msg: `${String(what.event)} failed`, ...what, result: 'failed', error: oneLineMessage(outcome.error) });
          break;
        case 'not-started': // only after a stop on failure, which this applier does not ask for
          return;
      }
      if (s.kind === 'migrate') failedMoves.add(s.migration.vmId);
    },
  });
  if (config.publish) {
    // Independent writes, one per resized VM: a few in flight at once (see lib/bounded.ts).
    await forEachBounded(resized, PUBLISH_CONCURRENCY, async (d) => {
      if (stop()) return;
      try {
        await deps.publisher.publish(d.vmId, publishedFigures(vms.get(d.vmId)!, d, config, now));
      } catch (error) {
        log({ level: 'warn', msg: 'publish failed', event: 'publish', vmId: d.vmId, error: oneLineMessage(error) });
      }
    });
  }
  await persist(deps, state);
  const moved = plan.migrations.filter((m) => !failedMoves.has(m.vmId));
  return { state, applied, failed, skipped, stopped, resized, moved };
}

/**
 * The cluster as the applier last read it, indexed so that each step's re-check
 * costs O(its hosts' VMs), not O(cluster): at 10,000 VMs the whole-view copy per
 * step (one per refresh) cost more than the cycle's decision.
 */
class LocalViews {
  private readonly vms = new Map<number, VmView>();
  private readonly hosts = new Map<number, HostView>();
  private readonly byHost = new Map<number, Set<number>>();
  constructor(view: ClusterView) {
    for (const h of view.hosts) this.hosts.set(h.id, h);
    for (const vm of view.vms) this.put(vm);
  }
  private put(vm: VmView): void {
    const old = this.vms.get(vm.id);
    if (old?.hostId != null) this.byHost.get(old.hostId)?.delete(vm.id);
    this.vms.set(vm.id, vm);
    if (vm.hostId !== null) {
      let on = this.byHost.get(vm.hostId);
      if (!on) this.byHost.set(vm.hostId, (on = new Set()));
      on.add(vm.id);
    }
  }
  /** The VM, these hosts and every VM on them, as a ClusterView a re-check reads like the whole cluster. */
  around(vmId: number, hostIds: readonly number[]): ClusterView {
    const ids = new Set<number>([vmId]);
    for (const h of hostIds) for (const id of this.byHost.get(h) ?? []) ids.add(id);
    return {
      vms: [...ids].flatMap((id) => (this.vms.has(id) ? [this.vms.get(id)!] : [])),
      hosts: hostIds.flatMap((h) => (this.hosts.has(h) ? [this.hosts.get(h)!] : [])),
    };
  }
  /** Takes in what refresh read (`vmId` is dropped if refresh dropped it); returns `fresh`. */
  merge(fresh: ClusterView, vmId: number): ClusterView {
    for (const h of fresh.hosts) this.hosts.set(h.id, h);
    for (const vm of fresh.vms) this.put(vm);
    if (!fresh.vms.some((v) => v.id === vmId)) {
      const old = this.vms.get(vmId);
      if (old?.hostId != null) this.byHost.get(old.hostId)?.delete(vmId);
      this.vms.delete(vmId);
    }
    return fresh;
  }
}

/** The hosts whose room a step's re-check needs: a migration's destination, a grow's host; a shrink needs none. */
function touchedHosts(s: Step): number[] {
  if (s.kind === 'migrate') return [s.migration.toHostId];
  return s.decision.action === 'grow' && s.decision.hostId !== null ? [s.decision.hostId] : [];
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
  const left = plan.decisions.filter((d) => d.action === 'none' && d.fromKiB < d.originalKiB && d.reason.includes('no room'));
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

export interface DaemonDeps extends CycleDeps {
  /** resolves after `ms` or as soon as `signal` aborts */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Abortable setTimeout (fake timers drive it in tests). */
export const timerSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * The daemon: take the state file's lock, load state, run cycles every
 * INTERVAL until `signal` aborts. A failed cycle (oned unreachable…) is logged
 * and retried next interval; with `once`, or when no retry can help
 * (`isFatal`), it is rethrown so the exit code tells.
 */
export async function runDaemon(
  deps: DaemonDeps,
  config: ElasticityConfig,
  opts: CycleOptions & { once?: boolean; signal: AbortSignal },
): Promise<{ cycles: number; state: ElasticityState }> {
  // A dry run writes nothing, so it may watch alongside the real daemon.
  return opts.dryRun ? loop(deps, config, opts) : withStateLock(deps.store, () => loop(deps, config, opts));
}

/** Runs `body` holding the state file's single-writer lock (when the store has one); always releases it. */
export async function withStateLock<T>(store: StateStore<ElasticityState>, body: () => Promise<T>): Promise<T> {
  const release = await store.lock?.();
  try {
    return await body();
  } finally {
    await release?.();
  }
}

/**
 * Errors no retry will cure: a bad config, or oned refusing cvem's credentials
 * or rights. The daemon stops on them with that one message (and systemd shows
 * it) instead of logging the same failure every INTERVAL.
 */
export function isFatal(error: unknown): boolean {
  if (error instanceof OnedError) return error.codeName === 'AUTHENTICATION' || error.codeName === 'AUTHORIZATION';
  return error instanceof CloudvampError && error.kind === 'config';
}

async function loop(
  deps: DaemonDeps,
  config: ElasticityConfig,
  opts: CycleOptions & { once?: boolean; signal: AbortSignal },
): Promise<{ cycles: number; state: ElasticityState }> {
  const cycleDeps: CycleDeps = { ...deps, shouldStop: () => opts.signal.aborted, staleLogged: deps.staleLogged ?? new Set(), foreignLogged: deps.foreignLogged ?? new Set() };
  let state = await deps.store.load();
  let cycles = 0;
  /** a state the last cycle could not write: nothing changes until it is written */
  let unsaved: ElasticityState | undefined;
  deps.log({ level: 'info', msg: 'cvem started', event: 'start', vms: Object.keys(state.vms).length, dryRun: opts.dryRun === true, growthRule: config.growthRule });
  while (!opts.signal.aborted) {
    const started = deps.now();
    try {
      if (unsaved) {
        await persist(deps, unsaved);
        unsaved = undefined;
        deps.log({ level: 'info', msg: 'state file written again; cycles resume', event: 'state' });
      }
      const report = await runCycle(cycleDeps, config, state, opts);
      state = report.state;
      const counts = { grow: 0, shrink: 0, none: 0 };
      for (const d of report.plan.decisions) counts[d.action]++;
      deps.log({ level: 'info', msg: 'cycle done', event: 'cycle', cycle: cycles, vms: report.view.vms.length, ...counts, migrations: report.plan.migrations.length, applied: report.applied, failed: report.failed, skipped: report.skipped, ms: deps.now() - started });
    } catch (error) {
      if (error instanceof StateNotSaved) {
        state = error.state;
        unsaved = error.state;
      }
      deps.log({ level: 'error', msg: 'cycle failed', event: error instanceof StateNotSaved ? 'state' : 'cycle', cycle: cycles, error: oneLineMessage(error) });
      if (opts.once || isFatal(error)) throw error;
    }
    cycles++;
    if (opts.once) break;
    await deps.sleep(config.intervalMs, opts.signal);
  }
  deps.log({ level: 'info', msg: 'cvem stopped', event: 'stop', cycles });
  return { cycles, state };
}
