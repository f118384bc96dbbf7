// CVEM's memory between cycles and across restarts, as a pure model. The one
// thing that must never be lost is each VM's original size: it is the ceiling
// of every grow and what restore-all gives back. It lives in two durable
// places: this state (persisted before any change is applied) and oned itself
// (USER_TEMPLATE/CLOUDVAMP_ORIGINAL_MEMORY, written and read back before the
// first change to a VM; lib/elasticity/apply-plan.ts). It never comes from a size
// cloudvamp set: a VM first seen below its TEMPLATE/MEMORY with no record in
// either place is left alone (mergeOriginal).

import { CloudvampError } from '../errors';
import type { ClusterView, GuestCounters } from './ports';
import { mib } from './units';

export type ActionKind = 'shrink' | 'grow' | 'migrate' | 'restore';

export interface LastAction {
  action: ActionKind;
  at: number;
  fromKiB: number;
  toKiB: number;
  reason: string;
  result: 'pending' | 'ok' | 'failed' | 'skipped';
  /** for a migrate: the destination host */
  toHostId?: number;
}

/** What the manager remembers of one VM between cycles; oned's VM STATE is `VmState` in lib/oned/models.ts. */
export interface ManagedVm {
  originalKiB: number;
  firstSeenAt: number;
  /** consecutive starvation events still counting towards the back-off */
  strikes: number;
  lastStrikeAt?: number;
  lastChangeAt?: number;
  lastAction?: LastAction;
  /**
   * Recent peak of the guest's used memory: a max that halves every
   * PEAK_HALF_LIFE unless seen again (see decayedPeak). Absent in state files
   * written before it existed, and after a restart with a malformed value: it
   * is a statistic that rebuilds itself, not something to refuse a file over.
   */
  peak?: UsagePeak;
  /** the host the VM last left by live migration, and when (no move back within MOVE_BACK_HOLD) */
  leftHost?: { hostId: number; at: number };
  /** the guest's pressure counters as last seen, for their rate next cycle (lib/elasticity/guest-pressure.ts) */
  counters?: GuestCounters;
}

export interface UsagePeak {
  /** the peak's value at `at`, KiB */
  kib: number;
  at: number;
}

export interface HostState {
  lastMigrationAt?: number;
  /** when the host took part in a live migration (source or destination), the last hour's (migration-budget.ts) */
  migrations?: number[];
}

export interface ElasticityState {
  version: 1;
  vms: Record<string, ManagedVm>;
  hosts: Record<string, HostState>;
}

export const emptyState = (): ElasticityState => ({ version: 1, vms: {}, hosts: {} });

/** A VM whose original size nothing proves: it is reported and left alone (never adopted at its current size). */
export interface Unproven {
  vmId: number;
  reason: string;
}

/** The state file and oned's USER_TEMPLATE/CLOUDVAMP_ORIGINAL_MEMORY named different originals; the larger won. */
export interface Disagreement {
  vmId: number;
  stateKiB: number;
  onedKiB: number;
}

export interface Reconciled {
  state: ElasticityState;
  added: number[];
  forgotten: number[];
  unproven: Unproven[];
  disagreements: Disagreement[];
}

export type OriginalOutcome =
  | { proven: true; originalKiB: number; from: 'state' | 'oned' | 'both' | 'untouched' }
  | { proven: false; reason: string };

export interface OriginalEvidence {
  /** the state file's record */
  stateKiB?: number;
  /** oned's record (USER_TEMPLATE/CLOUDVAMP_ORIGINAL_MEMORY) */
  onedKiB?: number;
  /** TEMPLATE/MEMORY now */
  templateMemoryKiB: number;
  /** the size the VM holds now */
  currentKiB: number;
  /** the last size cloudvamp set (USER_TEMPLATE/CLOUDVAMP_MEMORY), if any */
  cloudvampSetKiB?: number;
  /** the state file could not be read: only oned's record counts */
  stateLost?: boolean;
}

/**
 * Pure: a VM's original size from its two durable records. A recorded original
 * is only ever raised, never lowered: when the records disagree the larger
 * wins (a smaller one can only be a size cloudvamp or a lost write left
 * behind; restoring to the larger is the side that never leaves a VM short).
 * With no record anywhere, the current size is the original only when
 * nothing says cloudvamp touched the VM: it holds its full TEMPLATE/MEMORY
 * and that is not a size cloudvamp set. Otherwise it is unproven.
 */
export function mergeOriginal(e: OriginalEvidence): OriginalOutcome {
  const ok = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v) && v > 0;
  const stateKiB = ok(e.stateKiB) ? e.stateKiB : undefined;
  const onedKiB = ok(e.onedKiB) ? e.onedKiB : undefined;
  if (stateKiB !== undefined && onedKiB !== undefined) return { proven: true, originalKiB: Math.max(stateKiB, onedKiB), from: 'both' };
  if (stateKiB !== undefined) return { proven: true, originalKiB: stateKiB, from: 'state' };
  if (onedKiB !== undefined) return { proven: true, originalKiB: onedKiB, from: 'oned' };
  if (e.stateLost) return { proven: false, reason: 'the state file is unreadable and oned holds no CLOUDVAMP_ORIGINAL_MEMORY for it' };
  if (e.currentKiB !== e.templateMemoryKiB)
    return { proven: false, reason: `it holds ${mib(e.currentKiB)} of its ${mib(e.templateMemoryKiB)} and no original is recorded (state file or oned's CLOUDVAMP_ORIGINAL_MEMORY)` };
  if (e.cloudvampSetKiB !== undefined && e.cloudvampSetKiB === e.currentKiB)
    return { proven: false, reason: `its size ${mib(e.currentKiB)} is one cloudvamp set (CLOUDVAMP_MEMORY) and no original is recorded` };
  return { proven: true, originalKiB: e.templateMemoryKiB, from: 'untouched' };
}

/**
 * Aligns the state with what exists: each VM's original is merged from the
 * state file and oned's copy (mergeOriginal); a VM nothing proves an original
 * for is left out of the state and reported. VMs that no longer exist (absent
 * from the snapshot, i.e. DONE) are forgotten. Hosts that vanished lose their
 * migration time. Returns a new object.
 */
export function reconcile(state: ElasticityState, view: ClusterView, now: number, opts: { stateLost?: boolean; notAdopted?: ReadonlySet<number> } = {}): Reconciled {
  const vms: Record<string, ManagedVm> = {};
  const added: number[] = [];
  const unproven: Unproven[] = [];
  const disagreements: Disagreement[] = [];
  for (const vm of view.vms) {
    const key = String(vm.id);
    const known = state.vms[key];
    // Not ours to adopt (a host without cloudvamp's drivers); one already managed keeps its original.
    if (!known && opts.notAdopted?.has(vm.id)) continue;
    const outcome = mergeOriginal({
      ...(known ? { stateKiB: known.originalKiB } : {}),
      ...(vm.recordedOriginalKiB !== undefined ? { onedKiB: vm.recordedOriginalKiB } : {}),
      ...(vm.cloudvampSetKiB !== undefined ? { cloudvampSetKiB: vm.cloudvampSetKiB } : {}),
      templateMemoryKiB: vm.templateMemoryKiB,
      currentKiB: vm.currentKiB,
      ...(opts.stateLost ? { stateLost: true } : {}),
    });
    if (!outcome.proven) {
      unproven.push({ vmId: vm.id, reason: outcome.reason });
      continue;
    }
    if (known && vm.recordedOriginalKiB !== undefined && known.originalKiB !== vm.recordedOriginalKiB)
      disagreements.push({ vmId: vm.id, stateKiB: known.originalKiB, onedKiB: vm.recordedOriginalKiB });
    if (known) vms[key] = known.originalKiB === outcome.originalKiB ? known : { ...known, originalKiB: outcome.originalKiB };
    else {
      vms[key] = { originalKiB: outcome.originalKiB, firstSeenAt: now, strikes: 0 };
      added.push(vm.id);
    }
  }
  const seen = new Set(view.vms.map((v) => String(v.id)));
  const forgotten = Object.keys(state.vms)
    .filter((k) => !seen.has(k))
    .map(Number);
  const hostIds = new Set(view.hosts.map((h) => String(h.id)));
  const hosts: Record<string, HostState> = {};
  for (const [k, h] of Object.entries(state.hosts)) if (hostIds.has(k)) hosts[k] = h;
  return { state: { version: 1, vms, hosts }, added, forgotten, unproven, disagreements };
}

export const serializeState = (state: ElasticityState): string => `${JSON.stringify(state, null, 1)}\n`;

const corrupt = (why: string) =>
  new CloudvampError(
    'config',
    `the CVEM state file is unreadable (${why}). It holds every managed VM's original memory size, so cvem will not ` +
      'start over it: repair it or restore it from a backup; moving it away makes cvem treat current sizes as originals',
  );

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Strict reader: anything but a well-formed state throws (never silently resets originals). */
export function parseState(text: string): ElasticityState {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw corrupt(`not JSON: ${(error as Error).message}`);
  }
  if (typeof data !== 'object' || data === null) throw corrupt('not an object');
  const d = data as Record<string, unknown>;
  if (d.version !== 1) throw corrupt(`unknown version ${String(d.version)}`);
  if (typeof d.vms !== 'object' || d.vms === null) throw corrupt('no "vms"');
  if (typeof d.hosts !== 'object' || d.hosts === null) throw corrupt('no "hosts"');
  for (const [id, v] of Object.entries(d.vms as Record<string, unknown>)) {
    const vm = v as Partial<ManagedVm> | null;
    if (!/^\d+$/.test(id)) throw corrupt(`VM key "${id}" is not a VM ID`);
    if (!vm || !isNum(vm.originalKiB) || vm.originalKiB <= 0) throw corrupt(`VM ${id} has no original size`);
    if (!isNum(vm.strikes) || !isNum(vm.firstSeenAt)) throw corrupt(`VM ${id} is incomplete`);
    if (vm.peak !== undefined && !(vm.peak && isNum(vm.peak.kib) && vm.peak.kib >= 0 && isNum(vm.peak.at))) delete vm.peak;
    // counters are a statistic too: a malformed sample is dropped (no signal next cycle), never a refused file
    const c = vm.counters;
    if (c !== undefined && !(c && isNum(c.at) && (c.swapInKiB === undefined || isNum(c.swapInKiB)) && (c.majorFaults === undefined || isNum(c.majorFaults)))) delete vm.counters;
  }
  return data as ElasticityState;
}

/** Starvation strikes still counting at `now`. */
export function liveStrikes(vm: ManagedVm | undefined, strikeResetMs: number, now: number): number {
  if (!vm || vm.strikes === 0) return 0;
  if (vm.lastStrikeAt !== undefined && now - vm.lastStrikeAt > strikeResetMs) return 0;
  return vm.strikes;
}

/**
 * The peak at `now`: its recorded value halved every `halfLifeMs` since it was
 * recorded (0 = no memory of peaks: undefined). A max that decays rather than
 * a window, so it is one number per VM and forgets smoothly: a guest that
 * bursts every hour keeps its burst room, one that burst once yesterday
 * gives it back.
 */
export function decayedPeak(peak: UsagePeak | undefined, halfLifeMs: number, now: number): number | undefined {
  if (!peak || halfLifeMs <= 0) return undefined;
  const age = Math.max(0, now - peak.at);
  return peak.kib * 2 ** (-age / halfLifeMs);
}

/** The peak after seeing `usedKiB` at `now`: the larger of the decayed peak and the new figure. */
export function nextPeak(peak: UsagePeak | undefined, usedKiB: number, halfLifeMs: number, now: number): UsagePeak | undefined {
  if (halfLifeMs <= 0) return undefined;
  const old = decayedPeak(peak, halfLifeMs, now) ?? 0;
  return { kib: Math.round(Math.max(old, usedKiB)), at: now };
}
