// The per-VM rule: from one VM's guest figures, its record in the state, the
// config and `now` to a decision to shrink, grow or leave it (decideVm). Pure:
// nothing here reads a clock, a file or the network. Whether the VM's host has
// room for a grow is not this file's question: host-relief.ts settles grows
// against the host ledger (host-ledger.ts), and plan.ts joins the two into a
// cycle's plan.
//
// CloudVAMP's rule made safe:
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

import type { ElasticityConfig } from './config';
import { balloonMoving, chooseGuestFigures, type GuestFigures } from './guest-figures';
import { guestPressure } from './guest-pressure';
import type { GuestCounters, VmView } from './ports';
import { decayedPeak, liveStrikes, nextPeak, type UsagePeak, type ManagedVm } from './state';
import { ceilMiB, MiB, mib } from './units';

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
  /**
   * restore-all's grow back to the original (planRestore): its target comes
   * from the state, not from the guest's figures, so a size change since the
   * plan does not void it (precheck.ts)
   */
  restore?: true;
}

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
  // Figures the guest reports while the balloon is still moving to the size set last describe neither size.
  const moving = balloonMoving(vm, vmState, config, now);
  if (moving !== undefined) return none(moving);
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
  if (share > hi && vmState !== undefined && now - vmState.firstSeenAt < config.shrinkWarmupMs) {
    const watched = Math.round((now - vmState.firstSeenAt) / 1000);
    return none(`free share above ${hi} %, but the guest has been watched for ${watched} s only: no shrink within SHRINK_WARMUP ${config.shrinkWarmupMs / 1000} s (its peak is learnt first); ${seen}`, withFigures);
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
