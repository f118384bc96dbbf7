// A guest's own sign of memory pressure, from two cumulative counters the
// vm/monitor probe reports per VM from the balloon stats: GUEST_SWAP_IN (KiB
// swapped in) and GUEST_MAJOR_FAULTS (page faults that needed I/O). A guest
// reading back swapped-out pages or refaulting its working set is short of
// memory even when its free memory is still above MIN_FREE (the kernel keeps
// some free by evicting): shrinking it makes that worse, and a high enough
// rate is starvation. Pure: the counters seen last cycle (kept in the state)
// and now in, rates and the verdict out. Absent counters give no signal.

import type { ElasticityConfig } from './config';
import type { GuestCounters } from './ports';

export interface GuestPressure {
  /** swap-in or major faults going up since the last sample: no shrink */
  rising: boolean;
  /** a rate at or above the starvation threshold: grow as for MIN_FREE */
  starving: boolean;
  /** KiB/s and faults/s since the last sample, when both samples have the counter */
  swapInKiBps?: number;
  majorFaultsPerS?: number;
  /** the rates in words, for the decision's reason */
  why: string;
}

type PressureConfig = Pick<ElasticityConfig, 'swapInStarvingKiBps' | 'majorFaultsStarvingPerS' | 'majorFaultsRisingPerS'>;

const NONE: GuestPressure = { rising: false, starving: false, why: '' };

/** Rate of one counter between two samples; undefined when either lacks it or it went down (a reboot resets it). */
function rate(before: number | undefined, now: number | undefined, seconds: number): number | undefined {
  if (before === undefined || now === undefined || now < before) return undefined;
  return (now - before) / seconds;
}

export function guestPressure(before: GuestCounters | undefined, now: GuestCounters | undefined, config: PressureConfig): GuestPressure {
  if (!before || !now || !(now.at > before.at)) return NONE;
  const seconds = (now.at - before.at) / 1000;
  const swapInKiBps = rate(before.swapInKiB, now.swapInKiB, seconds);
  const majorFaultsPerS = rate(before.majorFaults, now.majorFaults, seconds);
  const swapRising = swapInKiBps !== undefined && swapInKiBps > 0;
  const faultsRising = majorFaultsPerS !== undefined && majorFaultsPerS > config.majorFaultsRisingPerS;
  const starving =
    (swapInKiBps !== undefined && swapInKiBps >= config.swapInStarvingKiBps) || (majorFaultsPerS !== undefined && majorFaultsPerS >= config.majorFaultsStarvingPerS);
  const parts = [
    ...(swapInKiBps !== undefined ? [`swap-in ${swapInKiBps.toFixed(0)} KiB/s`] : []),
    ...(majorFaultsPerS !== undefined ? [`major faults ${majorFaultsPerS.toFixed(0)}/s`] : []),
  ];
  return {
    rising: swapRising || faultsRising,
    starving,
    ...(swapInKiBps !== undefined ? { swapInKiBps } : {}),
    ...(majorFaultsPerS !== undefined ? { majorFaultsPerS } : {}),
    why: parts.join(', '),
  };
}
