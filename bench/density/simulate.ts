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
import { recordPlan } from '../../lib/elasticity/cycle';
import { planHostReserves } from '../../lib/elasticity/host-reserve';
import { decideVm, planCycle, type CyclePlan } from '../../lib/elasticity/policy';
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
  /** one.host.update writes of the regrowth reserve (RESERVED_MEM) */
  reserveWrites: number;
  /** mean over time and hosts of the regrowth reserve (RESERVED_MEM above the operator's), KiB */
  meanReserveKiB: number;
  chart: ChartPoint[];
}

/** What a test may inspect after every step. */
export interface StepView {
  tMs: number;
  vms: ReadonlyArray<{ id: number; hostId: number; requestedKiB: number; currentKiB: number; usedKiB: number; starving: boolean }>;
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
  trace: Float64Array;
  age: number;
  observedUsedKiB: number;
  starvedLast: boolean;
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
    running: true,
    templateMemoryKiB: vm.request.requestedKiB,
    currentKiB: vm.currentKiB,
    balloon: { availableKiB: vm.currentKiB, usableKiB: Math.max(0, vm.currentKiB - vm.observedUsedKiB), updatedAt: now },
    overrides: {},
  });

  const migrate = (vm: SimVm, toHostId: number) => {
    r.migrations++;
    r.migratedKiB += vm.currentKiB;
    vm.hostId = toHostId;
  };

  const elasticity = (now: number) => {
    if (!config || vms.length === 0) return;
    const view = { vms: vms.map((vm) => viewOf(vm, now)), hosts: hostViews };
    state = reconcile(state, view, now).state;
    let plan: CyclePlan;
    if (el.kind === 'cloudvamp') plan = planCycle(view, state, config, now);
    else plan = { decisions: view.vms.map((v) => decideVm(v, state.vms[String(v.id)], config, now)), migrations: [] };
    state = recordPlan(state, plan, now);
    for (const m of plan.migrations) migrate(byId.get(m.vmId)!, m.toHostId);
    for (const d of plan.decisions) {
      if (d.action === 'none') continue;
      byId.get(d.vmId)!.currentKiB = d.targetKiB;
      r.memoryChanges++;
    }
    // cloudvamp's regrowth reserve, after the VM steps as in the daemon: the
    // real planHostReserves on the cluster as it is now; a write reaches oned at once.
    if (el.kind !== 'cloudvamp') return;
    const after = { vms: vms.map((vm) => viewOf(vm, now)), hosts: hostViews };
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
  const relieveHotspots = () => {
    const needKiB = (vm: SimVm) => (vm.starvedLast ? vm.request.requestedKiB : vm.currentKiB);
    const load = new Float64Array(opts.hosts);
    for (const vm of vms) load[vm.hostId]! += needKiB(vm);
    if (!load.some((l) => l > capacityKiB)) return;
    const cluster: Cluster = {
      hosts: hostViews.map((h) => ({ id: h.id, name: h.name, memMiB: capacityKiB / 1024, cpu: 100_000, enabled: true })),
      vms: vms.map((vm) => ({ id: vm.request.id, name: `vm-${vm.request.id}`, memMiB: needKiB(vm) / 1024, cpu: 0 })),
      placement: new Map(vms.map((vm) => [vm.request.id, vm.hostId])),
    };
    const plan = makePlan(cluster, hotspot, { threshold: 1, maxMigrations: 0 }, defaultConstraints);
    if (plan.infeasible) return;
    for (const move of movesOf(plan)) {
      migrate(byId.get(move.vm)!, move.to);
      r.hotspotMigrations++;
    }
  };

  const schedulerLimits = (): { allocated: Float64Array; limit: Float64Array } => {
    const allocated = new Float64Array(opts.hosts);
    const limit = new Float64Array(opts.hosts);
    for (const vm of vms) allocated[vm.hostId]! += vm.request.requestedKiB;
    const cap = scheme.capacity;
    if (cap.kind === 'ratio') limit.fill(cap.ratio * capacityKiB);
    else {
      const onHost: { running: boolean; memory: ReturnType<typeof vmMemory> }[][] = hostViews.map(() => []);
      for (const vm of vms)
        onHost[vm.hostId]!.push({ running: true, memory: vmMemory({ currentKiB: vm.currentKiB, maximumKiB: vm.request.requestedKiB }) });
      for (let h = 0; h < opts.hosts; h++)
        limit[h] = hostMemory({ physicalKiB: opts.hostMemKiB, vms: onHost[h]!, overcommit: cap.overcommit }).totalKiB - reservedKiB[h]!;
    }
    return { allocated, limit };
  };

  const schedule = (now: number, s: number) => {
    while (nextRequest < requests.length && requests[nextRequest]!.arrivalMs <= now) pending.push(requests[nextRequest++]!);
    if (pending.length === 0) return;
    const { allocated, limit } = schedulerLimits();
    const count = new Int32Array(opts.hosts);
    for (const vm of vms) count[vm.hostId]!++;
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
          trace: usageTrace(req, steps - s, opts.stepMs),
          age: 0,
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
    vms.forEach((vm, i) => {
      const demand = vm.trace[vm.age]!;
      const u = Math.min(demand, vm.currentKiB);
      vm.observedUsedKiB = u;
      if (vm.currentKiB - demand < opts.minFreeKiB) starving[i] = 1;
      if (vm.currentKiB - demand < opts.severeFreeKiB) severe[i] = 1;
      committed[vm.hostId]! += vm.currentKiB;
      used[vm.hostId]! += u;
      allocated[vm.hostId]! += vm.request.requestedKiB;
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
      if (starving[i]) r.starvingSteps++;
      if (severe[i] || swapping[vm.hostId]) r.severeSteps++;
      r.vmSteps++;
      vm.age++;
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
    if (cycleEvery && s % cycleEvery === 0) elasticity(now);
    if (hotspotEvery && s > 0 && s % hotspotEvery === 0) relieveHotspots();
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
    reserveWrites: r.reserveWrites,
    meanReserveKiB: steps ? r.reserveSum / steps / opts.hosts : 0,
    chart,
  };
}
