// Trace-driven density simulation: VM requests arrive, a scheduler admits them
// under a scheme's capacity rule, the scheme's elasticity policy resizes them
// (the real lib/elasticity code; the real lib/planning hotspot strategy for
// cloudvamp), and every step each guest's use is checked against its size.
// Pure: requests, options and the seed in, numbers out; no clock, no I/O.
//
// One step (`stepMs`, the policy's INTERVAL by default):
//   1. requests that arrived join the pending queue;
//   2. elasticity: the policy sees the figures of the previous step (the
//      balloon stats lag), decides, and its changes take effect at once;
//      migrations are instantaneous and move the VM's current size;
//   3. the planner's hotspot relief (cloudvamp only, every hotspotEveryMs);
//   4. the scheduler tries every pending request in arrival order and puts
//      it on the fitting host with the fewest VMs (OpenNebula's default
//      striping policy); a request pending longer than pendingTimeoutMs is
//      rejected; an admitted VM starts at its requested size;
//   5. measure: each guest uses min(use, size); it starves when size − use <
//      MIN_FREE (the yardstick is cloudvamp's 128 MiB for every scheme). A
//      host whose guests together use more than physical − reserve swaps:
//      every VM on it starves that step. A host whose VMs hold more than
//      physical − reserve (Σ balloon sizes) is overloaded.
import type { ElasticityConfig } from '../../lib/elasticity/config';
import { recordLeft, recordPlan } from '../../lib/elasticity/apply-plan';
import { planHostReserves } from '../../lib/elasticity/host-reserve';
import { isMoveBack, migrationBudget } from '../../lib/elasticity/migration-budget';
import type { Migration } from '../../lib/elasticity/host-relief';
import { planCycle, type CyclePlan } from '../../lib/elasticity/plan';
import { decideVm } from '../../lib/elasticity/vm-rule';
import type { HostView, VmView } from '../../lib/elasticity/ports';
import { emptyState, reconcile, type ElasticityState } from '../../lib/elasticity/state';
import { hostMemory, vmMemory } from '../../lib/memory/accounting';
import { makePlan } from '../../lib/planning/make-plan';
import { defaultConstraints, movesOf, type Cluster } from '../../lib/planning/model';
import { hotspot } from '../../lib/planning/strategies/hotspot';
import type { Scheme } from './schemes';
import { usageTrace, type VmRequest } from './workload';

export interface DensityOptions {
  seed: number;
  hosts: number;
  hostMemKiB: number;
  /** held back on every host for the host OS and QEMU, in every scheme (HOST_RESERVE_MEMORY) */
  reserveKiB: number;
  hours: number;
  stepMs: number;
  arrivalEveryMs: number;
  pendingTimeoutMs: number;
  /** the starvation yardstick, KiB */
  minFreeKiB: number;
  /** a second, lower line: severe starvation (CloudVAMP 2015's own MIN_FREE_MEMORY) */
  severeFreeKiB: number;
  chartHostId: number;
  chartEveryMs: number;
  /**
   * oned learns TOTALMEMORY from the host probe every SYSTEM_HOST (60 s with
   * install.sh --apply-conf): the scheduler admits on the figure of the last probe.
   */
  systemHostMs: number;
  /**
   * A live migration copies the VM's memory at `migrationMiBps` after a fixed
   * `migrationFixedMs` (both from bench/results/vmm: 256 MiB in 2.0 s, 1 GiB in
   * 3.0 s on the test bed), plus what the guest dirties meanwhile
   * (`migrationDirtyShare` of the copy rate, an assumption: the measured guests were quiet).
   */
  migrationFixedMs: number;
  migrationMiBps: number;
  migrationDirtyShare: number;
}

export interface ChartPoint {
  tMs: number;
  /** physical − reserve */
  capacityKiB: number;
  /** what the scheduler believes it may allocate (ratio × capacity, or TOTALMEMORY − reserve) */
  schedulerKiB: number;
  /** Σ requested sizes (OpenNebula's allocated MEMORY) */
  allocatedKiB: number;
  /** Σ current sizes (balloon targets) */
  committedKiB: number;
  /** Σ what the guests use */
  usedKiB: number;
}

export interface SchemeResult {
  scheme: string;
  label: string;
  admitted: number;
  admittedPerHost: number;
  admittedRequestedKiB: number;
  rejected: number;
  vmSeconds: number;
  starvingVmSeconds: number;
  /** VM-seconds with free < severeFreeKiB (or swapping) */
  severeVmSeconds: number;
  /** part of starvingVmSeconds that came from host swapping alone */
  swapVmSeconds: number;
  /** mean over time of Σ(requested − current) / Σ requested */
  reclaimedShare: number;
  /** mean over time of Σ(requested − current), KiB */
  reclaimedKiB: number;
  /** times a host went from not overloaded to overloaded */
  overloadEvents: number;
  overloadHostSeconds: number;
  swapHostSeconds: number;
  memoryChanges: number;
  migrations: number;
  migratedKiB: number;
  hotspotMigrations: number;
  /** live migrations per host-hour */
  migrationsPerHostHour: number;
  /** most migrations any host took part in (as source or destination) in one clock hour */
  maxMigrationsHostHour: number;
  /** migrations that took a VM back to a host it had left less than 30 min before */
  moveBacks: number;
  /** VM-seconds a guest spent migrating (its balloon frozen) */
  migratingVmSeconds: number;
  /** starvation VM-seconds while the VM was migrating */
  starvingMovingVmSeconds: number;
  /** starvation VM-seconds while the VM's host had less room than the VM lacked (waiting for room, not for a cycle) */
  starvingNoRoomVmSeconds: number;
  /**
   * starvation VM-seconds whose use reached the VM's size: the guest starves
   * there at its full size without any overcommit too, so they are not the
   * scheme's doing (no overcommit's own starvation, on this scheme's VMs)
   */
  inherentVmSeconds: number;
  /** one.host.update writes of the regrowth reserve (RESERVED_MEM) */
  reserveWrites: number;
  /** mean over time and hosts of the regrowth reserve (RESERVED_MEM above the operator's), KiB */
  meanReserveKiB: number;
  chart: ChartPoint[];
}

/** What a test may inspect after every step. */
export interface StepView {
  tMs: number;
  vms: ReadonlyArray<{ id: number; hostId: number; movingTo?: number; requestedKiB: number; currentKiB: number; usedKiB: number; starving: boolean }>;
  hosts: ReadonlyArray<{ id: number; committedKiB: number; allocatedKiB: number; usedKiB: number; overloaded: boolean; swapping: boolean }>;
}

export interface SimHooks {
  onProgress?: (fraction: number) => void;
  onStep?: (view: StepView) => void;
}

interface SimVm {
  request: VmRequest;
  hostId: number;
  currentKiB: number;
  /** use per `everyMs` from `startMs` */
  use: Float64Array;
  everyMs: number;
  startMs: number;
  observedUsedKiB: number;
  starvedLast: boolean;
  /** a live migration under way: both hosts hold the VM until `untilMs` */
  moving?: { toHostId: number; untilMs: number; grow?: number };
  /** where and when the VM last left a host */
  left?: { hostId: number; atMs: number };
}

const MOVE_BACK_MS = 30 * 60_000;

/** The VM's use at `now` (KiB). */
const demandAt = (vm: SimVm, now: number) => vm.use[Math.min(vm.use.length - 1, Math.max(0, Math.floor((now - vm.startMs) / vm.everyMs)))]!;

/** How long a live migration of `kib` takes (ms). */
export function migrationMs(kib: number, opts: Pick<DensityOptions, 'migrationFixedMs' | 'migrationMiBps' | 'migrationDirtyShare'>): number {
  // pre-copy converges when the guest dirties less than the link copies: the
  // copy is size / (1 − dirty share) in total
  const copiedMiB = kib / 1024 / (1 - opts.migrationDirtyShare);
  return opts.migrationFixedMs + (copiedMiB / opts.migrationMiBps) * 1000;
}

export function simulateScheme(scheme: Scheme, requests: readonly VmRequest[], opts: DensityOptions, hooks: SimHooks = {}): SchemeResult {
  const steps = Math.round((opts.hours * 3_600_000) / opts.stepMs);
  const capacityKiB = opts.hostMemKiB - opts.reserveKiB;
  const hostViews: HostView[] = Array.from({ length: opts.hosts }, (_, id) => ({
    id,
    name: `host-${id}`,
    clusterId: 0,
    enabled: true,
    totalKiB: opts.hostMemKiB,
    // the operator's RESERVED_MEM: every scheme's reserve for the host OS
    reserve: { reservedMem: String(opts.reserveKiB) },
  }));
  // RESERVED_MEM per host as oned holds it: the scheduler admits on TOTALMEMORY − RESERVED_MEM.
  const reservedKiB = new Float64Array(opts.hosts).fill(opts.reserveKiB);
  const el = scheme.elasticity;
  const config: ElasticityConfig | undefined = el.kind === 'none' ? undefined : { ...el.config, intervalMs: Math.max(el.config.intervalMs, opts.stepMs) };
  const cycleEvery = config ? Math.max(1, Math.round(config.intervalMs / opts.stepMs)) : 0;
  const hotspotEvery = el.kind === 'cloudvamp' ? Math.max(1, Math.round(el.hotspotEveryMs / opts.stepMs)) : 0;
  const chartEvery = Math.max(1, Math.round(opts.chartEveryMs / opts.stepMs));
  const probeEvery = Math.max(1, Math.round(opts.systemHostMs / opts.stepMs));

  const vms: SimVm[] = [];
  const pending: VmRequest[] = [];
  let nextRequest = 0;
  let state: ElasticityState = emptyState();
  const r = {
    rejected: 0,
    vmSteps: 0,
    starvingSteps: 0,
    severeSteps: 0,
    swapSteps: 0,
    reclaimedSum: 0,
    requestedSum: 0,
    overloadEvents: 0,
    overloadHostSteps: 0,
    swapHostSteps: 0,
    memoryChanges: 0,
    migrations: 0,
    migratedKiB: 0,
    hotspotMigrations: 0,
    reserveWrites: 0,
    reserveSum: 0,
    maxHostHour: 0,
    moveBacks: 0,
    starvingMovingSteps: 0,
    starvingNoRoomSteps: 0,
    inherentSteps: 0,
    migratingSteps: 0,
  };
  const wasOverloaded = new Uint8Array(opts.hosts);
  const chart: ChartPoint[] = [];
  const byId = new Map<number, SimVm>();

  const viewOf = (vm: SimVm, now: number): VmView => ({
    id: vm.request.id,
    name: `vm-${vm.request.id}`,
    hostId: vm.hostId,
    hostName: `host-${vm.hostId}`,
    deployId: `one-${vm.request.id}`,
    // oned's VM is in MIGRATE, not RUNNING: the manager leaves it alone
    running: vm.moving === undefined,
    templateMemoryKiB: vm.request.requestedKiB,
    currentKiB: vm.currentKiB,
    balloon: { availableKiB: vm.currentKiB, usableKiB: Math.max(0, vm.currentKiB - vm.observedUsedKiB), updatedAt: now },
    overrides: {},
  });

  const hostHour = new Map<string, number>();
  const countHostHour = (h: number, now: number) => {
    const key = `${h}:${Math.floor(now / 3_600_000)}`;
    const n = (hostHour.get(key) ?? 0) + 1;
    hostHour.set(key, n);
    r.maxHostHour = Math.max(r.maxHostHour, n);
  };
  // Starts a live migration: it ends after migrationMs; until then both hosts hold the VM.
  const migrate = (vm: SimVm, toHostId: number, now: number) => {
    if (vm.moving) return false;
    r.migrations++;
    const ms = migrationMs(vm.currentKiB, opts);
    r.migratedKiB += vm.currentKiB / (1 - opts.migrationDirtyShare);
    if (vm.left && vm.left.hostId === toHostId && now - vm.left.atMs < MOVE_BACK_MS) r.moveBacks++;
    countHostHour(vm.hostId, now);
    countHostHour(toHostId, now);
    vm.moving = { toHostId, untilMs: now + ms };
    return true;
  };
  const finishMigrations = (now: number) => {
    for (const vm of vms) {
      if (!vm.moving || vm.moving.untilMs > now) continue;
      vm.left = { hostId: vm.hostId, atMs: now };
      // as the daemon's applier does once oned and libvirt show it on the destination
      state = recordLeft(state, vm.request.id, vm.hostId, now);
      vm.hostId = vm.moving.toHostId;
      vm.moving = undefined;
    }
  };
  // A grow that waited for a relief migration is applied when that migration has ended.
  const waitingGrows: { vmId: number; afterVmId: number; targetKiB: number }[] = [];
  const applyWaitingGrows = () => {
    for (let i = 0; i < waitingGrows.length; ) {
      const g = waitingGrows[i]!;
      if (byId.get(g.afterVmId)?.moving) {
        i++;
        continue;
      }
      const vm = byId.get(g.vmId)!;
      if (!vm.moving && g.targetKiB > vm.currentKiB) {
        vm.currentKiB = g.targetKiB;
        r.memoryChanges++;
      }
      waitingGrows.splice(i, 1);
    }
  };

  // What the manager reads of a host: its free memory counts the VMs it holds,
  // incoming migrations included (the headroom a grow may take).
  const hostsNow = (): HostView[] => {
    const held = new Float64Array(opts.hosts);
    for (const vm of vms) {
      held[vm.hostId]! += vm.currentKiB;
      if (vm.moving) held[vm.moving.toHostId]! += vm.currentKiB;
    }
    return hostViews.map((h) => ({ ...h, freeKiB: opts.hostMemKiB - held[h.id]! }));
  };
  const elasticity = (now: number) => {
    if (!config || vms.length === 0) return;
    const view = { vms: vms.map((vm) => viewOf(vm, now)), hosts: hostsNow() };
    state = reconcile(state, view, now).state;
    let plan: CyclePlan;
    if (el.kind === 'cloudvamp') plan = planCycle(view, state, config, now);
    else plan = { decisions: view.vms.map((v) => decideVm(v, state.vms[String(v.id)], config, now)), migrations: [] };
    state = recordPlan(state, plan, now);
    for (const m of plan.migrations) migrate(byId.get(m.vmId)!, m.toHostId, now);
    for (const d of plan.decisions) {
      if (d.action === 'none') continue;
      if (d.afterMigrationOf !== undefined && byId.get(d.afterMigrationOf)?.moving) {
        waitingGrows.push({ vmId: d.vmId, afterVmId: d.afterMigrationOf, targetKiB: d.targetKiB });
        continue;
      }
      byId.get(d.vmId)!.currentKiB = d.targetKiB;
      r.memoryChanges++;
    }
    // cloudvamp's regrowth reserve, after the VM steps as in the daemon: the
    // real planHostReserves on the cluster as it is now; a write reaches oned at once.
    if (el.kind !== 'cloudvamp') return;
    const after = { vms: vms.map((vm) => viewOf(vm, now)), hosts: hostsNow() };
    for (const d of planHostReserves(after, state, config, now)) {
      if (!d.template) continue;
      reservedKiB[d.hostId] = d.targetKiB;
      r.reserveWrites++;
      hostViews[d.hostId] = {
        ...hostViews[d.hostId]!,
        reserve: { reservedMem: String(d.targetKiB), publishedReservedMem: String(d.targetKiB), baseReservedMem: d.baseText },
      };
    }
  };

  // The planner sees what each VM needs: its size, or its original when it starved last step.
  const relieveHotspots = (now: number) => {
    const needKiB = (vm: SimVm) => (vm.starvedLast ? vm.request.requestedKiB : vm.currentKiB);
    const load = new Float64Array(opts.hosts);
    const hostOf = (vm: SimVm) => vm.moving?.toHostId ?? vm.hostId;
    for (const vm of vms) load[hostOf(vm)]! += needKiB(vm);
    if (!load.some((l) => l > capacityKiB)) return;
    const cluster: Cluster = {
      hosts: hostViews.map((h) => ({ id: h.id, name: h.name, memMiB: capacityKiB / 1024, cpu: 100_000, enabled: true })),
      vms: vms.map((vm) => ({ id: vm.request.id, name: `vm-${vm.request.id}`, memMiB: needKiB(vm) / 1024, cpu: 0 })),
      placement: new Map(vms.map((vm) => [vm.request.id, hostOf(vm)])),
    };
    const plan = makePlan(cluster, hotspot, { threshold: 1, maxMigrations: 0 }, defaultConstraints);
    if (plan.infeasible) return;
    // The planner's moves share the manager's migration budget and move-back hold (config), recorded in its state.
    const budget = config ? migrationBudget(state, hostViews.map((h) => h.id), config, now) : undefined;
    const done: Migration[] = [];
    for (const move of movesOf(plan)) {
      const vm = byId.get(move.vm)!;
      const from = vm.hostId;
      if (budget && config) {
        if ((budget.get(from) ?? 0) <= 0 || (budget.get(move.to) ?? 0) <= 0 || isMoveBack(state, move.vm, move.to, config, now)) continue;
      }
      if (!migrate(vm, move.to, now)) continue;
      budget?.set(from, budget.get(from)! - 1);
      budget?.set(move.to, budget.get(move.to)! - 1);
      r.hotspotMigrations++;
      done.push({ vmId: move.vm, fromHostId: from, toHostId: move.to, kib: vm.currentKiB, forVmId: move.vm, reason: 'hotspot' });
    }
    if (done.length) state = recordPlan(state, { decisions: [], migrations: done }, now);
  };

  // TOTALMEMORY as oned last heard it from each host's probe (every SYSTEM_HOST).
  const probedTotalKiB = new Float64Array(opts.hosts).fill(opts.hostMemKiB);
  const probeHosts = () => {
    const cap = scheme.capacity;
    if (cap.kind !== 'borrowed') return;
    const onHost: { running: boolean; memory: ReturnType<typeof vmMemory> }[][] = hostViews.map(() => []);
    for (const vm of vms) {
      // a migrating VM is shut off on neither host: both lend nothing for it
      onHost[vm.hostId]!.push({ running: !vm.moving, memory: vmMemory({ currentKiB: vm.currentKiB, maximumKiB: vm.request.requestedKiB }) });
    }
    for (let h = 0; h < opts.hosts; h++) probedTotalKiB[h] = hostMemory({ physicalKiB: opts.hostMemKiB, vms: onHost[h]!, overcommit: cap.overcommit, maxRatio: cap.maxRatio ?? 0 }).totalKiB;
  };
  const schedulerLimits = (): { allocated: Float64Array; limit: Float64Array } => {
    const allocated = new Float64Array(opts.hosts);
    const limit = new Float64Array(opts.hosts);
    // oned counts a migrating VM on both hosts until it lands
    for (const vm of vms) {
      allocated[vm.hostId]! += vm.request.requestedKiB;
      if (vm.moving) allocated[vm.moving.toHostId]! += vm.request.requestedKiB;
    }
    const cap = scheme.capacity;
    if (cap.kind === 'ratio') limit.fill(cap.ratio * capacityKiB);
    else for (let h = 0; h < opts.hosts; h++) limit[h] = probedTotalKiB[h]! - reservedKiB[h]!;
    return { allocated, limit };
  };

  const schedule = (now: number, s: number) => {
    while (nextRequest < requests.length && requests[nextRequest]!.arrivalMs <= now) pending.push(requests[nextRequest++]!);
    if (pending.length === 0) return;
    const { allocated, limit } = schedulerLimits();
    const count = new Int32Array(opts.hosts);
    for (const vm of vms) count[vm.moving?.toHostId ?? vm.hostId]!++;
    for (let i = 0; i < pending.length; ) {
      const req = pending[i]!;
      let best = -1;
      for (let h = 0; h < opts.hosts; h++) {
        if (allocated[h]! + req.requestedKiB > limit[h]!) continue;
        if (best < 0 || count[h]! < count[best]!) best = h;
      }
      if (best >= 0) {
        const vm: SimVm = {
          request: req,
          hostId: best,
          currentKiB: req.requestedKiB,
          ...(req.usage
            ? { use: req.usage.useKiB, everyMs: req.usage.everyMs, startMs: 0 }
            : { use: usageTrace(req, steps - s, opts.stepMs), everyMs: opts.stepMs, startMs: now }),
          observedUsedKiB: 0,
          starvedLast: false,
        };
        vms.push(vm);
        byId.set(req.id, vm);
        allocated[best]! += req.requestedKiB;
        count[best]!++;
        pending.splice(i, 1);
      } else if (now - req.arrivalMs >= opts.pendingTimeoutMs) {
        r.rejected++;
        pending.splice(i, 1);
      } else i++;
    }
  };

  const measure = (now: number, s: number) => {
    const committed = new Float64Array(opts.hosts);
    const used = new Float64Array(opts.hosts);
    const allocated = new Float64Array(opts.hosts);
    const starving = new Uint8Array(vms.length);
    const severe = new Uint8Array(vms.length);
    const inherent = new Uint8Array(vms.length);
    vms.forEach((vm, i) => {
      const demand = demandAt(vm, now);
      if (demand >= vm.request.requestedKiB) inherent[i] = 1;
      const u = Math.min(demand, vm.currentKiB);
      vm.observedUsedKiB = u;
      // Only what the scheme took counts: a VM at its full size is as its owner
      // sized it (a real VM may be provisioned with less than MIN_FREE above its
      // use), unless its use reaches its size (then it suffers whatever the scheme).
      const own = vm.currentKiB >= vm.request.requestedKiB && demand < vm.request.requestedKiB;
      if (!own && vm.currentKiB - demand < opts.minFreeKiB) starving[i] = 1;
      if (!own && vm.currentKiB - demand < opts.severeFreeKiB) severe[i] = 1;
      committed[vm.hostId]! += vm.currentKiB;
      used[vm.hostId]! += u;
      allocated[vm.hostId]! += vm.request.requestedKiB;
      if (vm.moving) {
        // the destination holds the copy: as much memory, all of it in use
        committed[vm.moving.toHostId]! += vm.currentKiB;
        used[vm.moving.toHostId]! += u;
        allocated[vm.moving.toHostId]! += vm.request.requestedKiB;
        r.migratingSteps++;
      }
      r.reclaimedSum += vm.request.requestedKiB - vm.currentKiB;
      r.requestedSum += vm.request.requestedKiB;
    });
    const swapping = new Uint8Array(opts.hosts);
    for (let h = 0; h < opts.hosts; h++) {
      r.reserveSum += reservedKiB[h]! - opts.reserveKiB;
      const over = committed[h]! > capacityKiB ? 1 : 0;
      if (over) r.overloadHostSteps++;
      if (over && !wasOverloaded[h]) r.overloadEvents++;
      wasOverloaded[h] = over;
      if (used[h]! > capacityKiB) {
        swapping[h] = 1;
        r.swapHostSteps++;
      }
    }
    vms.forEach((vm, i) => {
      if (swapping[vm.hostId] && !starving[i]) {
        starving[i] = 1;
        r.swapSteps++;
      }
      vm.starvedLast = starving[i] === 1;
      if (starving[i]) {
        r.starvingSteps++;
        if (inherent[i]) r.inherentSteps++;
        if (vm.moving) r.starvingMovingSteps++;
        else if (committed[vm.hostId]! + (vm.request.requestedKiB - vm.currentKiB) > capacityKiB) r.starvingNoRoomSteps++;
      }
      if (severe[i] || swapping[vm.hostId]) r.severeSteps++;
      r.vmSteps++;
    });
    if (s % chartEvery === 0) {
      const h = opts.chartHostId;
      const { limit } = schedulerLimits();
      chart.push({ tMs: now, capacityKiB, schedulerKiB: limit[h]!, allocatedKiB: allocated[h]!, committedKiB: committed[h]!, usedKiB: used[h]! });
    }
    hooks.onStep?.({
      tMs: now,
      vms: vms.map((vm, i) => ({
        id: vm.request.id,
        hostId: vm.hostId,
        ...(vm.moving ? { movingTo: vm.moving.toHostId } : {}),
        requestedKiB: vm.request.requestedKiB,
        currentKiB: vm.currentKiB,
        usedKiB: vm.observedUsedKiB,
        starving: starving[i] === 1,
      })),
      hosts: hostViews.map((hv) => ({
        id: hv.id,
        committedKiB: committed[hv.id]!,
        allocatedKiB: allocated[hv.id]!,
        usedKiB: used[hv.id]!,
        overloaded: wasOverloaded[hv.id] === 1,
        swapping: swapping[hv.id] === 1,
      })),
    });
  };

  const progressEvery = Math.max(1, Math.floor(steps / 50));
  for (let s = 0; s < steps; s++) {
    const now = s * opts.stepMs;
    finishMigrations(now);
    applyWaitingGrows();
    if (s % probeEvery === 0) probeHosts();
    if (cycleEvery && s % cycleEvery === 0) elasticity(now);
    if (hotspotEvery && s > 0 && s % hotspotEvery === 0) relieveHotspots(now);
    schedule(now, s);
    measure(now, s);
    if (hooks.onProgress && s % progressEvery === 0) hooks.onProgress(s / steps);
  }
  hooks.onProgress?.(1);

  const seconds = (n: number) => (n * opts.stepMs) / 1000;
  const admittedRequestedKiB = vms.reduce((sum, vm) => sum + vm.request.requestedKiB, 0);
  return {
    scheme: scheme.name,
    label: scheme.label,
    admitted: vms.length,
    admittedPerHost: vms.length / opts.hosts,
    admittedRequestedKiB,
    rejected: r.rejected,
    vmSeconds: seconds(r.vmSteps),
    starvingVmSeconds: seconds(r.starvingSteps),
    severeVmSeconds: seconds(r.severeSteps),
    swapVmSeconds: seconds(r.swapSteps),
    reclaimedShare: r.requestedSum ? r.reclaimedSum / r.requestedSum : 0,
    reclaimedKiB: steps ? r.reclaimedSum / steps : 0,
    overloadEvents: r.overloadEvents,
    overloadHostSeconds: seconds(r.overloadHostSteps),
    swapHostSeconds: seconds(r.swapHostSteps),
    memoryChanges: r.memoryChanges,
    migrations: r.migrations,
    migratedKiB: r.migratedKiB,
    hotspotMigrations: r.hotspotMigrations,
    migrationsPerHostHour: r.migrations / opts.hosts / Math.max(1e-9, (steps * opts.stepMs) / 3_600_000),
    maxMigrationsHostHour: r.maxHostHour,
    moveBacks: r.moveBacks,
    migratingVmSeconds: seconds(r.migratingSteps),
    starvingMovingVmSeconds: seconds(r.starvingMovingSteps),
    starvingNoRoomVmSeconds: seconds(r.starvingNoRoomSteps),
    inherentVmSeconds: seconds(r.inherentSteps),
    reserveWrites: r.reserveWrites,
    meanReserveKiB: steps ? r.reserveSum / steps / opts.hosts : 0,
    chart,
  };
}
