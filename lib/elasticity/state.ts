// CVEM's memory between cycles and across restarts, as a pure model. The one
// thing that must never be lost is each VM's original size: it is the ceiling
// of every grow and what restore-all gives back. It is recorded the first time
// a VM is seen (its TEMPLATE/MEMORY, before CVEM ever changed it) and the state
// is persisted before any change is applied (lib/elasticity/cycle.ts).

import { CloudvampError } from '../errors';
import type { ClusterView } from './ports';

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

export interface VmState {
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
  vms: Record<string, VmState>;
  hosts: Record<string, HostState>;
}

export const emptyState = (): ElasticityState => ({ version: 1, vms: {}, hosts: {} });

export interface Reconciled {
  state: ElasticityState;
  added: number[];
  forgotten: number[];
}

/**
 * Aligns the state with what exists: new VMs get their original size recorded,
 * VMs that no longer exist (absent from the snapshot, i.e. DONE) are forgotten.
 * Hosts that vanished lose their migration time. Returns a new object.
 */
export function reconcile(state: ElasticityState, view: ClusterView, now: number): Reconciled {
  const vms: Record<string, VmState> = {};
  const added: number[] = [];
  for (const vm of view.vms) {
    const key = String(vm.id);
    const known = state.vms[key];
    if (known) vms[key] = known;
    else {
      vms[key] = { originalKiB: vm.templateMemoryKiB, firstSeenAt: now, strikes: 0 };
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
  return { state: { version: 1, vms, hosts }, added, forgotten };
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
    const vm = v as Partial<VmState> | null;
    if (!/^\d+$/.test(id)) throw corrupt(`VM key "${id}" is not a VM ID`);
    if (!vm || !isNum(vm.originalKiB) || vm.originalKiB <= 0) throw corrupt(`VM ${id} has no original size`);
    if (!isNum(vm.strikes) || !isNum(vm.firstSeenAt)) throw corrupt(`VM ${id} is incomplete`);
    if (vm.peak !== undefined && !(vm.peak && isNum(vm.peak.kib) && vm.peak.kib >= 0 && isNum(vm.peak.at))) delete vm.peak;
  }
  return data as ElasticityState;
}

/** Starvation strikes still counting at `now`. */
export function liveStrikes(vm: VmState | undefined, strikeResetMs: number, now: number): number {
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
