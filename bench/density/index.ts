// The density benchmark, joined: one request stream, every scheme over it,
// the ratios the issue sets as goals. Pure (progress is a callback).
import { DEFAULTS, type ElasticityConfig } from '../../lib/elasticity/config';
import { SCHEMES, type Scheme } from './schemes';
import { simulateScheme, type DensityOptions, type SchemeResult } from './simulate';
import { generateRequests, type VmRequest } from './workload';

export { SCHEMES, type Scheme } from './schemes';
export type { DensityOptions, SchemeResult } from './simulate';

const GiB = 1024 * 1024;

/**
 * 8 hosts of 64 GiB for a day at the policy's INTERVAL (10 s). A request every
 * 15 s (5,760 in the day) keeps the scheduler saturated: every scheme admits
 * until its capacity rule says no, so VMs per host measures the rule.
 */
export const DEFAULT_OPTIONS: DensityOptions = {
  seed: 42,
  hosts: 8,
  hostMemKiB: 64 * GiB,
  reserveKiB: DEFAULTS.hostReserveKiB,
  hours: 24,
  stepMs: DEFAULTS.intervalMs,
  arrivalEveryMs: 15_000,
  pendingTimeoutMs: 30 * 60_000,
  minFreeKiB: DEFAULTS.minFreeKiB,
  severeFreeKiB: 20_000,
  chartHostId: 0,
  chartEveryMs: 5 * 60_000,
  systemHostMs: 60_000,
  // bench/results (README): live migration of a 256 MiB guest 2.0 s, of 1 GiB 3.0 s
  migrationFixedMs: 2_000 - (256 / 768) * 1000,
  migrationMiBps: 768,
  migrationDirtyShare: 0.1,
};

/** The invented workload's requests for `options` (its seed, one every arrivalEveryMs over the run). */
export function inventedRequests(options: DensityOptions): VmRequest[] {
  return generateRequests(options.seed, requestCount(options), options.arrivalEveryMs);
}

export const requestCount = (options: DensityOptions) => Math.ceil((options.hours * 3_600_000) / options.arrivalEveryMs);

const CLOUDVAMP = SCHEMES.find((s) => s.name === 'cloudvamp')!;
/** The scheme with its elasticity config changed (a scheme without cloudvamp's policy is returned as it is). */
export const withConfig = (scheme: Scheme, change: Partial<ElasticityConfig>): Scheme =>
  scheme.elasticity.kind === 'cloudvamp' ? { ...scheme, elasticity: { ...scheme.elasticity, config: { ...scheme.elasticity.config, ...change } } } : scheme;
const noReserve = withConfig(CLOUDVAMP, { hostReserveMode: 'none' });

/**
 * Not defaults: cloudvamp without the regrowth reserve (HOST_RESERVE_MODE=none),
 * and without it but with less of the borrowed memory offered to the
 * scheduler (the probes' OVERCOMMIT), for the trade-off.
 */
export const SENSITIVITY: readonly Scheme[] = [
  { ...noReserve, name: 'cloudvamp-no-reserve', label: 'cloudvamp, HOST_RESERVE_MODE=none' },
  ...[0.75, 0.5].map(
    (o): Scheme => ({ ...noReserve, name: `cloudvamp-O${o}`, label: `cloudvamp, reserve none, OVERCOMMIT=${o}`, capacity: { kind: 'borrowed', overcommit: o } }),
  ),
];

export const GOALS = { vsNone: 2.0, vsStatic: 1.33, starvationShare: 0.001 } as const;

export interface DensityRun {
  options: DensityOptions;
  requests: number;
  results: SchemeResult[];
  /** the goals, judged on cloudvamp's default */
  goals: { vsNone: number; vsStatic: number; starvationShare: number; met: { vsNone: boolean; vsStatic: boolean; starvation: boolean } };
}

/** Every scheme over the same requests (each carrying its VM's use, or the seed of its invented pattern). */
export function runDensity(
  options: DensityOptions = DEFAULT_OPTIONS,
  requests: readonly VmRequest[] = inventedRequests(options),
  schemes: readonly Scheme[] = SCHEMES,
  onProgress?: (scheme: Scheme, fraction: number) => void,
): DensityRun {
  const count = requests.length;
  const results = schemes.map((scheme) =>
    simulateScheme(scheme, requests, options, onProgress ? { onProgress: (f) => onProgress(scheme, f) } : {}),
  );
  const find = (name: string) => results.find((r) => r.scheme === name);
  const none = find('none');
  const stat = find('static-1.5');
  const cv = find('cloudvamp');
  const vsNone = cv && none ? cv.admitted / none.admitted : NaN;
  const vsStatic = cv && stat ? cv.admitted / stat.admitted : NaN;
  const starvationShare = cv ? cv.starvingVmSeconds / Math.max(1, cv.vmSeconds) : NaN;
  return {
    options,
    requests: count,
    results,
    goals: {
      vsNone,
      vsStatic,
      starvationShare,
      met: { vsNone: vsNone >= GOALS.vsNone, vsStatic: vsStatic >= GOALS.vsStatic, starvation: starvationShare <= GOALS.starvationShare },
    },
  };
}
