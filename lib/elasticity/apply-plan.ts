// The applier of one cycle's plan: record the plan's intentions and persist
// them before touching any VM (originals first), then the steps in order —
// migrations, grows, shrinks — each through the one step loop
// (lib/step-runner.ts: read → re-check → act → record), then the published
// figures, then the results persisted.
//
// Before each step what it touches is read again (the VM, and the host that
// must have room: one.vm.info + one.host.info through ClusterSource.refresh,
// a grow's host once per cycle, the shrinks one read of the VMs' states for
// all (ClusterSource.vmStates: short pool bodies + monitoring); so a cycle
// costs O(changes) calls, not O(changes × cluster); a source without refresh
// gives a whole snapshot) and the step's precondition re-checked
// (lib/elasticity/precheck.ts): a VM that moved, stopped or was resized by
// someone else, or a host that no longer has room, makes the step skip with
// its reason instead of acting on a stale plan.
//
// Migrations go first, one at a time, because the grows that need them wait
// on their success; grows before shrinks because a starving guest should not
// wait for someone else's balloon. Within the grows, and within the shrinks,
// the steps of different hosts run STEP_CONCURRENCY at once and a host's own
// steps one after another. Each step is logged with its result; `shouldStop`
// is checked before each step starts, so SIGTERM finishes the steps in flight
// and stops.
// A resize happens only once oned holds the VM's original
// (Publisher.recordOriginal, read back).

import { oneLineMessage } from '../errors';
import { forEachBounded } from '../bounded';
import { runSteps, type StepPorts } from '../step-runner';
import type { ElasticityConfig } from './config';
import type { CycleDeps } from './cycle';
import type { Migration } from './host-relief';
import { withMigration } from './migration-budget';
import type { CyclePlan } from './plan';
import type { ClusterView, HostView, VmView } from './ports';
import { nothingApplied, nothingToDo, rebased, recheck, recordDone, type Step } from './precheck';
import { persist } from './state-saving';
import type { ActionKind, ElasticityState, LastAction, ManagedVm } from './state';
import { mib } from './units';
import { limitsFor, type VmDecision } from './vm-rule';

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

/**
 * The VM left `hostId` at `at`: MOVE_BACK_HOLD counts from when a migration
 * ended, not from when it was planned (a long copy would otherwise eat into
 * the hold).
 */
export function recordLeft(state: ElasticityState, vmId: number, hostId: number, at: number): ElasticityState {
  const vm = state.vms[String(vmId)];
  return vm ? { ...state, vms: { ...state.vms, [String(vmId)]: { ...vm, leftHost: { hostId, at } } } } : state;
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

/** Steps of different hosts in flight at once within a wave of grows or of shrinks. */
export const STEP_CONCURRENCY = 8;

/** Published figures written at once (one.vm.update each); oned serves concurrent calls. */
export const PUBLISH_CONCURRENCY = 8;

export async function applyPlan(
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
  // a promise, so that the wave's concurrent first shrinks share one read
  let shrinkWave: Promise<LocalViews> | undefined;
  const freshFor = async (s: Step, vmId: number): Promise<ClusterView> => {
    if (!source.refresh) return source.snapshot();
    if (s.kind === 'resize' && s.decision.action === 'shrink' && shrinks > 3) return (await (shrinkWave ??= (source.vmStates?.() ?? source.snapshot()).then((v) => new LocalViews(v)))).around(vmId, []);
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
    /** as planned; a restore is rebased on the size its re-check read (precheck.ts `rebased`) */
    step: Step;
    vmId: number;
    run: (step: Step) => Promise<void>;
    afterMigrationOf?: number;
  }
  const migrations: CycleStep[] = plan.migrations.map((m) => ({
    what: { event: 'migrate', vmId: m.vmId, fromHostId: m.fromHostId, toHostId: m.toHostId, kib: m.kib, forVmId: m.forVmId, reason: m.reason },
    step: { kind: 'migrate', migration: m },
    vmId: m.vmId,
    run: () => deps.migrator.migrateLive(m.vmId, m.toHostId),
  }));
  const resizeStep = (d: VmDecision): CycleStep => {
    const vm = vms.get(d.vmId)!;
    return {
      what: { event: d.action, vmId: d.vmId, hostId: d.hostId, fromKiB: d.fromKiB, targetKiB: d.targetKiB, reason: d.reason },
      step: { kind: 'resize', decision: d },
      vmId: d.vmId,
      afterMigrationOf: d.afterMigrationOf,
      run: async (s) => {
        if (s.kind !== 'resize' || nothingToDo(s)) return;
        // oned's copy of the original before the first change (and whenever it is missing or smaller than ours).
        const original = state.vms[String(d.vmId)]?.originalKiB ?? d.originalKiB;
        if (vm.recordedOriginalKiB !== original) await deps.publisher.recordOriginal(d.vmId, original);
        await deps.applier.setMemory(vm, s.decision.targetKiB);
      },
    };
  };
  const changes = plan.decisions.filter((d) => d.action !== 'none');
  const growSteps = changes.filter((d) => d.action === 'grow').map(resizeStep);
  const shrinkSteps = changes.filter((d) => d.action === 'shrink').map(resizeStep);
  const resized: VmDecision[] = [];
  const ports: StepPorts<CycleStep, ClusterView> = {
    onFailure: 'continue',
    now: () => deps.now(),
    blocked: (c) => (c.afterMigrationOf !== undefined && failedMoves.has(c.afterMigrationOf) ? 'its relief migration did not happen' : undefined),
    shouldStop: stop,
    read: (c) => freshFor(c.step, c.vmId),
    recheck: (c, fresh) => {
      const why = recheck(c.step, view, fresh, done, config);
      if (why === undefined) {
        c.step = rebased(c.step, fresh);
        if (c.step.kind === 'resize') c.what.fromKiB = c.step.decision.fromKiB;
      }
      return why;
    },
    act: (c) => c.run(c.step),
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
          if (s.kind === 'resize' && nothingToDo(s)) {
            // restore-all on a VM grown since the plan to what the restore gives it (its original, or the part that fits): done without a change
            applied++;
            setResult(state, vmId, 'ok');
            const d = s.decision;
            const to = d.targetKiB === d.originalKiB ? 'its original size' : `the ${mib(d.targetKiB)} this restore gives it`;
            log({ level: 'info', msg: `${String(what.event)} done: VM ${vmId} is already at ${mib(d.fromKiB)}, ${to}; nothing changed`, ...what, result: 'ok' });
            return;
          }
          recordDone(done, s);
          applied++;
          setResult(state, vmId, 'ok');
          // the applier owns this cycle's copy of the state (as setResult): update it in place
          if (s.kind === 'migrate') Object.assign(state.vms, recordLeft(state, vmId, s.migration.fromHostId, deps.now()).vms);
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
  };
  // Migrations one at a time (each touches two hosts, and the grows wait on
  // them), then the grows, then the shrinks: within a wave the steps of
  // different hosts run STEP_CONCURRENCY at once (a memory action is an ssh to
  // the host, a resize oned's own wait), a host's own steps one after another
  // so that each re-check sees the room the previous one took.
  await runSteps(migrations, ports);
  const byHost = { concurrency: STEP_CONCURRENCY, lane: (c: CycleStep) => (c.step.kind === 'resize' && c.step.decision.hostId !== null ? c.step.decision.hostId : `vm ${c.vmId}`) };
  await runSteps(growSteps, { ...ports, parallel: byHost });
  await runSteps(shrinkSteps, { ...ports, parallel: byHost });
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
