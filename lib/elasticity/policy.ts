// The elasticity policy: pure functions from a snapshot, the state, the config
// and `now` to a plan of plain data. Nothing here reads a clock, a file or the
// network.
//
// Per VM (decideVm), CloudVAMP's rule made safe:
//   * act only when the guest's free share leaves [MEM_OVER−MARGIN, MEM_OVER+MARGIN];
//   * then target = used / (1 − MEM_OVER/100), but never below
//     used + 2 × MIN_FREE (so a shrink can never itself cause starvation, which
//     CloudVAMP's rule did for guests under ~1 GiB); with PEAK_FLOOR=yes a
//     shrink uses the recent peak instead of `used` (the default since the
//     real trace, #14: its bursts repeat, and reacting one INTERVAL late to
//     each of them starved more than any admission rule could prevent;
//     PEAK_FLOOR_WINDOW limits it to guests that starved lately);
//   * free ≤ MIN_FREE is starvation: grow to used + 50 % of (original − used),
//     or at once to what the recent peak of use needs if that is more (a
//     starving guest hides its demand: its use is capped by its size), and to
//     the original size on the n-th strike (GROWTH_RULE: n = 2 by default,
//     CloudVAMP used 3; simulate.ts measured why). The recent peak is a max of
//     the guest's use that halves every PEAK_HALF_LIFE (state.ts decayedPeak),
//     kept per VM in the state;
//   * floor MEM_MIN (never above the original), ceiling the original size,
//     ignore changes below MEM_DIFF_TO_CHANGE, per-VM cooldown (skipped by a
//     starving guest: growth is immediate).
// Per host (decideHost), grows are never done blindly: a grow that does not fit
// in the host's headroom first gets a relief migration (the cheapest other VM
// whose move frees enough, to the host it fits best), else it shrinks to what
// fits, else waits. Shrinks are not credited within a cycle because they are
// applied last.

import { indexCluster, type IndexedCluster, type Loads } from '../planning/indexed';
import type { Cluster } from '../planning/model';
import { moveVm } from '../planning/strategies/best-fit';
import { reliefMove } from '../planning/strategies/relief';
import type { ElasticityConfig } from './config';
import { chooseGuestFigures, type GuestFigures } from './guest-figures';
import { guestPressure } from './guest-pressure';
import { isMoveBack, migrationBudget } from './migration-budget';
import type { ClusterView, GuestCounters, HostView, VmView } from './ports';
import { decayedPeak, liveStrikes, nextPeak, type ElasticityState, type UsagePeak, type ManagedVm } from './state';

export type VmAction = 'shrink' | 'grow' | 'none';

export interface VmDecision {
  vmId: number;
  hostId: number | null;
  action: VmAction;
  fromKiB: number;
  targetKiB: number;
  reason: string;
  /** the guest had MIN_FREE or less free */
  starving: boolean;
  /** strike counter after this decision */
  strikes: number;
  originalKiB: number;
  figures?: GuestFigures;
  /** the VM's usage peak after this cycle's figures, for the state (absent: keep the old one) */
  peak?: UsagePeak;
  /** a grow that may only be applied once this VM's relief migration succeeded */
  afterMigrationOf?: number;
  /** the guest's pressure counters seen this cycle, for the state */
  counters?: GuestCounters;
}

export interface Migration {
  vmId: number;
  fromHostId: number;
  toHostId: number;
  /** memory the VM takes along */
  kib: number;
  /** the VM whose grow needs the room */
  forVmId: number;
  reason: string;
}

export interface CyclePlan {
  decisions: VmDecision[];
  migrations: Migration[];
}

const MiB = 1024;
const ceilMiB = (kib: number) => Math.ceil(kib / MiB) * MiB;
const floorMiB = (kib: number) => Math.floor(kib / MiB) * MiB;
/** KiB as whole MiB, for the reasons decisions give. */
export const mib = (kib: number) => `${Math.round(kib / MiB)} MiB`;
const pct = (x: number) => `${x.toFixed(1)} %`;

export const strikesToOriginal = (config: ElasticityConfig) => (config.growthRule === 'three-strike' ? 3 : 2);

export interface Limits {
  memOverPercent: number;
  minFreeKiB: number;
}

export function limitsFor(vm: VmView, config: ElasticityConfig): Limits {
  return {
    memOverPercent: vm.overrides.memOverPercent ?? config.memOverPercent,
    minFreeKiB: vm.overrides.minFreeKiB ?? config.minFreeKiB,
  };
}

/** The size a guest using `usedKiB` is given: MEM_OVER free, and never less than 2 × MIN_FREE free. */
export const sizeForUse = (usedKiB: number, limits: Limits, overheadKiB = 0) =>
  Math.max(usedKiB / (1 - limits.memOverPercent / 100), usedKiB + 2 * limits.minFreeKiB) + overheadKiB;

/** The smallest size CVEM may give a VM: MEM_MIN, or the original if that is smaller. */
export const floorFor = (originalKiB: number, config: ElasticityConfig) => Math.min(config.memMinKiB, originalKiB);

/** Rounds to whole MiB (one.vm.resize takes MiB) and clamps to [floor, original]. */
export function clampTarget(rawKiB: number, originalKiB: number, config: ElasticityConfig): number {
  return Math.min(originalKiB, Math.max(floorFor(originalKiB, config), ceilMiB(rawKiB)));
}

export function decideVm(vm: VmView, vmState: ManagedVm | undefined, config: ElasticityConfig, now: number): VmDecision {
  const originalKiB = vmState?.originalKiB ?? vm.templateMemoryKiB;
  const strikesNow = liveStrikes(vmState, config.strikeResetMs, now);
  const base = {
    vmId: vm.id,
    hostId: vm.hostId,
    fromKiB: vm.currentKiB,
    originalKiB,
    starving: false,
    strikes: strikesNow,
    ...(vm.counters ? { counters: vm.counters } : {}),
  };
  const none = (reason: string, extra: Partial<VmDecision> = {}): VmDecision => ({
    ...base,
    action: 'none',
    targetKiB: vm.currentKiB,
    reason,
    ...extra,
  });
  if (!vm.running || vm.hostId === null) return none('not running');
  const choice = chooseGuestFigures(vm, config, now, vmState?.lastChangeAt);
  const f = choice.figures;
  if (!f) return none(`no usable guest figures: ${choice.why}`);
  // Figures measured before this VM's last balloon change describe the VM as
  // it was: a guest grown half-way would still look starving and be grown to
  // its original size on a second strike it never had. monitord records VMs
  // less often than a cycle, so wait for a record taken after the change.
  if (f.updatedAt !== undefined && vmState?.lastChangeAt !== undefined && f.updatedAt <= vmState.lastChangeAt) {
    return none(`waiting for guest figures newer than the last change (${choice.why} are ${Math.round((vmState.lastChangeAt - f.updatedAt) / 1000)} s older)`);
  }
  const { memOverPercent, minFreeKiB } = limitsFor(vm, config);
  // The guest sees a little less than it was given (kernel reservations);
  // targets are computed in guest terms, then this is added back (CloudVAMP's mem_diff).
  const overheadKiB = Math.max(0, vm.currentKiB - f.totalKiB);
  const share = (f.freeKiB / f.totalKiB) * 100;
  // The recent peak as it was before this cycle's figures: what the guest
  // needed lately, which its current use (capped by its size) may hide.
  const peakBefore = decayedPeak(vmState?.peak, config.peakHalfLifeMs, now);
  const peak = nextPeak(vmState?.peak, f.usedKiB, config.peakHalfLifeMs, now);
  const plannedKiB = Math.max(f.usedKiB, peakBefore ?? 0);
  const peakNote = plannedKiB > f.usedKiB ? `, recent peak ${mib(plannedKiB)}` : '';
  const seen = `used ${mib(f.usedKiB)}${peakNote}, free ${mib(f.freeKiB)} (${pct(share)}) from ${choice.why}`;
  const withFigures = { figures: f, ...(peak ? { peak } : {}) };

  // A starving guest is grown at once: the cooldown exists to let the figures
  // settle before the next balloon change, which is worth waiting for before a
  // shrink or a share-driven grow, never while the guest reclaims or swaps.
  // The guest's own swap-in / major-fault rate counts as starvation before free reaches MIN_FREE.
  const pressure = guestPressure(vmState?.counters, vm.counters, config);
  const starving = f.freeKiB <= minFreeKiB || pressure.starving;
  const hungry = f.freeKiB <= minFreeKiB ? `free ≤ ${mib(minFreeKiB)}` : pressure.why;
  if (!starving && vmState?.lastChangeAt !== undefined && now - vmState.lastChangeAt < config.cooldownMs) {
    const left = Math.ceil((config.cooldownMs - (now - vmState.lastChangeAt)) / 1000);
    return none(`cooldown: ${left} s left; ${seen}`, withFigures);
  }

  const decide = (action: 'grow' | 'shrink', rawKiB: number, why: string, extra: Partial<VmDecision>): VmDecision => {
    const target = clampTarget(rawKiB, originalKiB, config);
    const delta = target - vm.currentKiB;
    if (action === 'grow' ? delta <= 0 : delta >= 0)
      return none(`${why}, but already at ${mib(vm.currentKiB)} (bounds ${mib(floorFor(originalKiB, config))}..${mib(originalKiB)}); ${seen}`, {
        ...withFigures,
        ...extra,
      });
    // Giving a VM back its whole original is always worth it, however small the step.
    if (Math.abs(delta) < config.memDiffToChangeKiB && !(action === 'grow' && target === originalKiB))
      return none(`${why}, change of ${mib(Math.abs(delta))} below MEM_DIFF_TO_CHANGE; ${seen}`, { ...withFigures, ...extra });
    return {
      ...base,
      ...extra,
      action,
      targetKiB: target,
      reason: `${why}: ${mib(vm.currentKiB)} → ${mib(target)}; ${seen}`,
      ...withFigures,
    };
  };

  // What the recent peak needs; a guest that fills its size hides how much it
  // wants, so a starving guest is grown at least to that at once.
  const sizeFor = (kib: number) => sizeForUse(kib, { memOverPercent, minFreeKiB }, overheadKiB);
  if (starving) {
    const strikes = strikesNow + 1;
    const needed = strikesToOriginal(config);
    const halfway = f.usedKiB + overheadKiB + 0.5 * Math.max(0, originalKiB - overheadKiB - f.usedKiB);
    const byPeak = peakBefore !== undefined && peakBefore > f.usedKiB ? sizeFor(peakBefore) : 0;
    const step = Math.max(halfway, byPeak);
    // A half-way grow too small to matter would only burn a strike: go to the original.
    const toOriginal =
      strikes >= needed || clampTarget(step, originalKiB, config) >= originalKiB || clampTarget(step, originalKiB, config) - vm.currentKiB < config.memDiffToChangeKiB;
    const why = toOriginal
      ? `starving (${hungry}), strike ${strikes}/${needed}: back to the original size`
      : byPeak > halfway
        ? `starving (${hungry}), strike ${strikes}/${needed}: grow to what the recent peak needs`
        : `starving (${hungry}), strike ${strikes}/${needed}: grow by half the gap to the original`;
    return decide('grow', toOriginal ? originalKiB : step, why, { starving: true, strikes: toOriginal ? 0 : strikes });
  }

  const lo = memOverPercent - config.memMarginPercent;
  const hi = memOverPercent + config.memMarginPercent;
  if (share >= lo && share <= hi) return none(`free share within ${lo}..${hi} %; ${seen}`, withFigures);
  if (share > hi && pressure.rising) return none(`free share above ${hi} %, but the guest is paging (${pressure.why}): no shrink; ${seen}`, withFigures);
  if (share > hi && vmState?.lastStrikeAt !== undefined && now - vmState.lastStrikeAt < config.shrinkHoldOffMs) {
    const ago = Math.round((now - vmState.lastStrikeAt) / 1000);
    return none(`free share above ${hi} %, but the guest starved ${ago} s ago: no shrink within SHRINK_HOLD_OFF; ${seen}`, withFigures);
  }
  // With PEAK_FLOOR a shrink gives back only what the recent peak does not
  // need; a share-driven grow is sized for the use of now (a bigger one would
  // take host headroom other guests' grows may need).
  return share > hi
    ? decide('shrink', sizeFor(keepsPeakRoom(vmState, config, now) ? plannedKiB : f.usedKiB), `free share above ${hi} %`, {})
    : decide('grow', sizeFor(f.usedKiB), `free share below ${lo} %`, {});
}

/** Whether a shrink keeps the room the VM's recent peak needs (PEAK_FLOOR, limited to guests that starved lately by PEAK_FLOOR_WINDOW). */
export function keepsPeakRoom(vmState: ManagedVm | undefined, config: ElasticityConfig, now: number): boolean {
  if (!config.peakFloor) return false;
  if (config.peakFloorWindowMs <= 0) return true;
  return vmState?.lastStrikeAt !== undefined && now - vmState.lastStrikeAt < config.peakFloorWindowMs;
}

// ---------------------------------------------------------------- hosts

/** Memory a host can still give to VMs, KiB (may be negative when already overcommitted). */
export function hostHeadroom(host: HostView, committedKiB: number, config: ElasticityConfig): number {
  const byCommitment = host.totalKiB - config.hostReserveKiB - committedKiB;
  return host.freeKiB === undefined ? byCommitment : Math.min(byCommitment, host.freeKiB - config.hostReserveKiB);
}

export function committedByHost(view: ClusterView): Map<number, number> {
  const committed = new Map<number, number>();
  for (const vm of view.vms) if (vm.hostId !== null) committed.set(vm.hostId, (committed.get(vm.hostId) ?? 0) + vm.currentKiB);
  return committed;
}

/** Everything decideHost needs to know about the cluster; `headroom` is updated as grows and migrations are accepted. */
export interface HostLedger {
  config: ElasticityConfig;
  hosts: Map<number, HostView>;
  vmsByHost: Map<number, VmView[]>;
  headroom: Map<number, number>;
  /** VMs that must not be moved this cycle (growing, already moving) */
  pinned: Set<number>;
  /** hosts that may send a relief migration this cycle */
  mayMigrateFrom: (hostId: number) => boolean;
  /** live migrations each host may still take part in (absent: no limit); spent as moves are planned */
  budget?: Map<number, number>;
  /** false where the VM must not go (it left that host moments ago) */
  mayMoveTo?: (vmId: number, hostId: number) => boolean;
  /** the planner's form of the cluster, for the relief search (lib/planning/strategies/relief.ts) */
  index: ReliefIndex;
}

/**
 * The cluster as the planner's relief strategy sees it: each host's memory
 * capacity is its load plus its headroom (so capacity − load is what
 * hostHeadroom allows), CPU is HOST_SHARE/TOTAL_CPU against Σ TEMPLATE/CPU;
 * VMs that are not running or are pinned by CLOUDVAMP_PINNED=YES never move.
 */
interface ReliefIndex {
  ix: IndexedCluster;
  loads: Loads;
  where: Int32Array;
}

/** CPU capacity of a host whose TOTAL_CPU is unknown: large enough never to refuse, small enough to keep slack finite. */
const UNKNOWN_CPU = 1e9;

function reliefIndex(view: ClusterView, headroom: ReadonlyMap<number, number>, committed: ReadonlyMap<number, number>): ReliefIndex {
  const hostIds = new Set(view.hosts.map((h) => h.id));
  const vms = view.vms.filter((v) => v.hostId !== null && hostIds.has(v.hostId));
  const cluster: Cluster = {
    hosts: view.hosts.map((h) => ({
      id: h.id,
      name: h.name,
      memMiB: ((committed.get(h.id) ?? 0) + (headroom.get(h.id) ?? 0)) / MiB,
      cpu: h.cpu ?? UNKNOWN_CPU,
      enabled: h.enabled,
    })),
    vms: vms.map((v) => ({ id: v.id, name: v.name, memMiB: v.currentKiB / MiB, cpu: v.cpu ?? 0 })),
    placement: new Map(vms.map((v) => [v.id, v.hostId!])),
  };
  const pinnedVms = vms.filter((v) => !v.running || v.pinned === true).map((v) => v.id);
  const ix = indexCluster(cluster, { reserve: { memMiB: 0, cpu: 0 }, excludedHosts: [], pinnedVms, maxInFlightPerHost: 0, maxInFlightPerCluster: 0 });
  const where = Int32Array.from(ix.home);
  const mem = new Float64Array(ix.hostCount);
  const cpu = new Float64Array(ix.hostCount);
  for (let v = 0; v < ix.vmCount; v++) {
    mem[where[v]!]! += ix.vmMem[v]!;
    cpu[where[v]!]! += ix.vmCpu[v]!;
  }
  return { ix, loads: { mem, cpu }, where };
}

export function newLedger(
  view: ClusterView,
  config: ElasticityConfig,
  mayMigrateFrom: (hostId: number) => boolean,
  limits: Pick<HostLedger, 'budget' | 'mayMoveTo'> = {},
): HostLedger {
  const committed = committedByHost(view);
  const hosts = new Map(view.hosts.map((h) => [h.id, h]));
  const headroom = new Map(view.hosts.map((h) => [h.id, hostHeadroom(h, committed.get(h.id) ?? 0, config)]));
  const index = reliefIndex(view, headroom, committed);
  const vmsByHost = new Map<number, VmView[]>();
  for (const vm of view.vms) {
    if (vm.hostId === null) continue;
    const list = vmsByHost.get(vm.hostId) ?? [];
    list.push(vm);
    vmsByHost.set(vm.hostId, list);
  }
  return { config, hosts, vmsByHost, headroom, pinned: new Set(), mayMigrateFrom, ...limits, index };
}

/** Most urgent first: starving, then the lowest free share, then the VM ID for determinism. */
function urgency(a: VmDecision, b: VmDecision): number {
  if (a.starving !== b.starving) return a.starving ? -1 : 1;
  const sa = a.figures ? a.figures.freeKiB / a.figures.totalKiB : 1;
  const sb = b.figures ? b.figures.freeKiB / b.figures.totalKiB : 1;
  return sa - sb || a.vmId - b.vmId;
}

/**
 * Cheapest VM on `hostId` whose move frees `needKiB`, with the best-fitting
 * destination: the planner's relief strategy (reliefMove), restricted to the
 * source's OpenNebula cluster, the migration budget and the anti-flap rule.
 */
function findRelief(hostId: number, needKiB: number, ledger: HostLedger): { vm: VmView; toHostId: number } | undefined {
  const source = ledger.hosts.get(hostId);
  const { ix, loads, where } = ledger.index;
  const h = ix.hostIndex.get(hostId);
  if (!source || h === undefined) return undefined;
  const hasBudget = (id: number) => !ledger.budget || (ledger.budget.get(id) ?? 0) > 0;
  if (!hasBudget(hostId)) return undefined;
  // Memory room as the ledger has it now (grows accepted so far took some).
  for (let d = 0; d < ix.hostCount; d++) loads.mem[d] = ix.capMem[d]! - (ledger.headroom.get(ix.hostIds[d]!) ?? 0) / MiB;
  const candidates = (ledger.vmsByHost.get(hostId) ?? []).flatMap((vm) => {
    const v = ix.vmIndex.get(vm.id);
    return v === undefined ? [] : [v];
  });
  const found = reliefMove(ix, loads, where, h, needKiB / MiB, {
    candidates,
    mayMove: (v) => !ledger.pinned.has(ix.vmIds[v]!),
    mayReceive: (v, d) => {
      const to = ledger.hosts.get(ix.hostIds[d]!)!;
      return to.clusterId === source.clusterId && hasBudget(to.id) && (!ledger.mayMoveTo || ledger.mayMoveTo(ix.vmIds[v]!, to.id));
    },
  });
  if (!found) return undefined;
  const vm = (ledger.vmsByHost.get(hostId) ?? []).find((x) => x.id === ix.vmIds[found.v])!;
  moveVm(ix, loads, where, found.v, found.to);
  return { vm, toHostId: ix.hostIds[found.to]! };
}

/**
 * Settles the grows of one host against its headroom: accepts what fits, plans
 * at most one relief migration for what does not, then shrinks the remaining
 * grows to what is left (or drops them). Returns the settled grows and the
 * migration; updates `ledger.headroom`.
 */
export function decideHost(
  hostId: number,
  grows: VmDecision[],
  ledger: HostLedger,
  opts: { force?: boolean } = {},
): { decisions: VmDecision[]; migration?: Migration; moved?: VmView } {
  const { config } = ledger;
  const pending = [...grows].sort(urgency);
  for (const d of pending) ledger.pinned.add(d.vmId);
  const settled: VmDecision[] = [];
  let headroom = ledger.headroom.get(hostId) ?? 0;
  const fit = (list: VmDecision[], tag?: number): VmDecision[] => {
    const rest: VmDecision[] = [];
    for (const d of list) {
      const delta = d.targetKiB - d.fromKiB;
      if (delta <= headroom) {
        headroom -= delta;
        settled.push(tag === undefined ? d : { ...d, afterMigrationOf: tag, reason: `${d.reason}; after moving VM ${tag} away` });
      } else rest.push(d);
    }
    return rest;
  };
  let unfit = fit(pending);
  let migration: Migration | undefined;
  let moved: VmView | undefined;
  if (unfit.length > 0 && config.migrate && ledger.mayMigrateFrom(hostId)) {
    const total = unfit.reduce((s, d) => s + d.targetKiB - d.fromKiB, 0);
    const first = unfit[0]!;
    const relief =
      findRelief(hostId, total - headroom, ledger) ?? findRelief(hostId, first.targetKiB - first.fromKiB - headroom, ledger);
    if (relief) {
      moved = relief.vm;
      migration = {
        vmId: relief.vm.id,
        fromHostId: hostId,
        toHostId: relief.toHostId,
        kib: relief.vm.currentKiB,
        forVmId: first.vmId,
        reason: `host ${hostId} lacks room for VM ${first.vmId}'s grow; VM ${relief.vm.id} (${mib(relief.vm.currentKiB)}) is the cheapest move that frees enough, host ${relief.toHostId} fits it best`,
      };
      ledger.pinned.add(relief.vm.id);
      if (ledger.budget) {
        ledger.budget.set(hostId, (ledger.budget.get(hostId) ?? 0) - 1);
        ledger.budget.set(relief.toHostId, (ledger.budget.get(relief.toHostId) ?? 0) - 1);
      }
      ledger.headroom.set(relief.toHostId, (ledger.headroom.get(relief.toHostId) ?? 0) - relief.vm.currentKiB);
      headroom += relief.vm.currentKiB;
      unfit = fit(unfit, relief.vm.id);
    }
  }
  const why = !config.migrate
    ? 'migrations are off'
    : migration
      ? 'the relief migration does not free enough for it'
      : ledger.mayMigrateFrom(hostId)
        ? 'no VM can be moved off the host to make room'
        : 'host in migration cooldown';
  for (const d of unfit) {
    if (opts.force) {
      settled.push({ ...d, reason: `${d.reason}; FORCED past the host's headroom (${why})` });
      continue;
    }
    const partial = d.fromKiB + floorMiB(Math.max(0, headroom));
    const target = Math.min(d.targetKiB, partial);
    if (target - d.fromKiB >= config.memDiffToChangeKiB) {
      headroom -= target - d.fromKiB;
      settled.push({ ...d, targetKiB: target, reason: `${d.reason}; only ${mib(target)} fits on host ${hostId} (${why})` });
    } else {
      settled.push({ ...d, action: 'none', targetKiB: d.fromKiB, reason: `${d.reason}; host ${hostId} has no room (${why})` });
    }
  }
  ledger.headroom.set(hostId, headroom);
  return { decisions: settled, ...(migration ? { migration, moved } : {}) };
}

function settleHosts(
  view: ClusterView,
  decisions: VmDecision[],
  ledger: HostLedger,
  opts: { force?: boolean } = {},
): CyclePlan {
  const growsByHost = new Map<number, VmDecision[]>();
  for (const d of decisions) {
    if (d.action !== 'grow' || d.hostId === null) continue;
    const list = growsByHost.get(d.hostId) ?? [];
    list.push(d);
    growsByHost.set(d.hostId, list);
    ledger.pinned.add(d.vmId);
  }
  for (const vm of view.vms) if (!vm.running) ledger.pinned.add(vm.id);
  // Hosts with the most urgent grow first: they get first pick of destinations.
  const order = [...growsByHost.entries()]
    .map(([hostId, grows]) => ({ hostId, grows, top: grows.reduce((m, d) => (urgency(d, m) < 0 ? d : m)) }))
    .sort((a, b) => urgency(a.top, b.top));
  const settled = new Map<number, VmDecision>();
  const migrations: Migration[] = [];
  for (const { hostId, grows } of order) {
    const result = decideHost(hostId, grows, ledger, opts);
    for (const d of result.decisions) settled.set(d.vmId, d);
    if (result.migration) migrations.push(result.migration);
  }
  const moved = new Map(migrations.map((m) => [m.vmId, m]));
  const out = decisions.map((d) => {
    const s = settled.get(d.vmId);
    if (s) return s;
    const m = moved.get(d.vmId);
    if (m && d.action !== 'none') {
      return { ...d, action: 'none' as const, targetKiB: d.fromKiB, reason: `moving to host ${m.toHostId} this cycle; ${d.reason}` };
    }
    return d;
  });
  return { decisions: out, migrations };
}

/** One cycle's plan: every VM's decision, settled against its host's capacity. */
export function planCycle(view: ClusterView, state: ElasticityState, config: ElasticityConfig, now: number): CyclePlan {
  const decisions = view.vms.map((vm) => decideVm(vm, state.vms[String(vm.id)], config, now));
  const ledger = newLedger(
    view,
    config,
    (hostId) => {
      const last = state.hosts[String(hostId)]?.lastMigrationAt;
      return last === undefined || now - last >= config.migrationCooldownMs;
    },
    {
      budget: migrationBudget(state, view.hosts.map((h) => h.id), config, now),
      mayMoveTo: (vmId, hostId) => !isMoveBack(state, vmId, hostId, config, now),
    },
  );
  return settleHosts(view, decisions, ledger);
}

/**
 * restore-all: every running VM back to its original size, still never
 * overloading a host unless forced (relief migrations ignore the cooldown:
 * this is the operator's kill switch).
 */
export function planRestore(view: ClusterView, state: ElasticityState, config: ElasticityConfig, opts: { force?: boolean } = {}): CyclePlan {
  const decisions: VmDecision[] = view.vms.map((vm) => {
    const originalKiB = state.vms[String(vm.id)]?.originalKiB ?? vm.templateMemoryKiB;
    const base = { vmId: vm.id, hostId: vm.hostId, fromKiB: vm.currentKiB, originalKiB, starving: false, strikes: 0 };
    if (!vm.running || vm.hostId === null) return { ...base, action: 'none', targetKiB: vm.currentKiB, reason: 'not running' };
    if (vm.currentKiB >= originalKiB)
      return { ...base, action: 'none', targetKiB: vm.currentKiB, reason: `already at its original ${mib(originalKiB)}` };
    return { ...base, action: 'grow', targetKiB: originalKiB, reason: `restore: ${mib(vm.currentKiB)} → original ${mib(originalKiB)}` };
  });
  return settleHosts(view, decisions, newLedger(view, config, () => true), opts);
}

// ---------------------------------------------------------------- checker

export interface PlanViolation {
  hostId?: number;
  vmId?: number;
  message: string;
}

/**
 * Independent check of a plan against the safety rules: no target below the
 * floor or above the original, no host given more than its headroom (counting
 * grows and incoming migrations, crediting outgoing ones, not crediting shrinks).
 */
export function checkPlan(view: ClusterView, plan: CyclePlan, state: ElasticityState, config: ElasticityConfig): PlanViolation[] {
  const out: PlanViolation[] = [];
  const committed = committedByHost(view);
  const increase = new Map<number, number>();
  const add = (h: number, k: number) => increase.set(h, (increase.get(h) ?? 0) + k);
  const vms = new Map(view.vms.map((v) => [v.id, v]));
  for (const d of plan.decisions) {
    if (d.action === 'none') continue;
    const vm = vms.get(d.vmId)!;
    const original = state.vms[String(d.vmId)]?.originalKiB ?? vm.templateMemoryKiB;
    if (d.targetKiB > original) out.push({ vmId: d.vmId, message: `target ${d.targetKiB} above original ${original}` });
    // A partial grow of a VM that was below the floor (shrunk by someone else) is still a step up.
    if (d.targetKiB < floorFor(original, config) && d.targetKiB < d.fromKiB) out.push({ vmId: d.vmId, message: `target ${d.targetKiB} below floor` });
    if (d.action === 'grow' && d.hostId !== null) add(d.hostId, d.targetKiB - d.fromKiB);
  }
  for (const m of plan.migrations) {
    add(m.fromHostId, -m.kib);
    add(m.toHostId, m.kib);
  }
  for (const host of view.hosts) {
    const inc = increase.get(host.id) ?? 0;
    const room = hostHeadroom(host, committed.get(host.id) ?? 0, config);
    if (inc > 0 && inc > room) out.push({ hostId: host.id, message: `host ${host.id} gets ${inc} KiB more but had ${room} KiB headroom` });
  }
  return out;
}
