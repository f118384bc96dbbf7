// The four ways of admitting VMs the density benchmark compares. Each is plain
// data: how the scheduler counts a host's capacity, and which elasticity
// policy (if any) resizes the VMs afterwards.
import { DEFAULTS, type ElasticityConfig } from '../../lib/elasticity/config';
import { defaultProbeConfig } from '../../lib/monitor/config';

export type Capacity =
  /** Σ requested ≤ ratio × capacity (no overcommit: 1; Nova's ram_allocation_ratio: 1.5) */
  | { kind: 'ratio'; ratio: number }
  /**
   * CloudVAMP: the probe reports TOTALMEMORY = physical + O × borrowed, with
   * borrowed = Σ (original − balloon) of the running VMs (lib/memory/accounting.ts),
   * and the scheduler checks Σ requested ≤ TOTALMEMORY − reserve.
   */
  | { kind: 'borrowed'; overcommit: number; maxRatio?: number };

export type Elasticity =
  | { kind: 'none' }
  /** decideVm per VM, applied without any host check or migration (CloudVAMP's CVEM) */
  | { kind: 'per-vm'; config: ElasticityConfig }
  /** planCycle (host-aware grows, relief migrations) plus the planner's hotspot strategy every `hotspotEveryMs` */
  | { kind: 'cloudvamp'; config: ElasticityConfig; hotspotEveryMs: number };

export interface Scheme {
  name: string;
  label: string;
  capacity: Capacity;
  elasticity: Elasticity;
}

/**
 * CloudVAMP 2015's CVEM: MEM_OVER 30 ± 5, its shipped MIN_FREE_MEMORY (20000 KiB)
 * and MEM_DIFF_TO_CHANGE (1024 KiB), back to the original on the 3rd strike,
 * shrinks again as soon as the free share is high (no hold-off), sizes for the
 * current use (no peak memory), grows whatever the host has left, never migrates. The one difference from its code is
 * decideVm's guard (never shrink below used + 2 × MIN_FREE, 40 MiB here).
 */
export const CLOUDVAMP_2015: ElasticityConfig = {
  ...DEFAULTS,
  minFreeKiB: 20000,
  memDiffToChangeKiB: 1024,
  growthRule: 'three-strike',
  shrinkHoldOffMs: 0,
  peakHalfLifeMs: 0,
  peakFloor: false,
  migrate: false,
};

export const SCHEMES: readonly Scheme[] = [
  { name: 'none', label: 'no overcommit', capacity: { kind: 'ratio', ratio: 1 }, elasticity: { kind: 'none' } },
  { name: 'static-1.5', label: 'static ratio 1.5 (Nova)', capacity: { kind: 'ratio', ratio: 1.5 }, elasticity: { kind: 'none' } },
  {
    name: 'cloudvamp-2015',
    label: "CloudVAMP 2015's rule",
    capacity: { kind: 'borrowed', overcommit: 1 },
    elasticity: { kind: 'per-vm', config: CLOUDVAMP_2015 },
  },
  {
    name: 'cloudvamp',
    label: "cloudvamp's default",
    capacity: { kind: 'borrowed', overcommit: defaultProbeConfig.overcommit, maxRatio: defaultProbeConfig.overcommitMaxRatio },
    elasticity: { kind: 'cloudvamp', config: DEFAULTS, hotspotEveryMs: 300_000 },
  },
];
