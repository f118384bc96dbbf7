// When and how hard a host's KSM should scan, MOM-style (oVirt's Memory
// Overcommitment Manager, ksm.rules): under memory pressure (free below a
// share of the total) KSM runs and its scan rate climbs by a boost per
// decision; without pressure the rate decays, and KSM stops once it is back
// at the minimum, so an idle host pays nothing for scanning. Pure: the
// manager passes the host's figures and the previous settings, and applies
// the result with the host-side `ksm` action only when it changed.

export interface KsmSettings {
  /** 0 stopped, 1 running */
  run: 0 | 1;
  pagesToScan: number;
  sleepMs: number;
}

export interface KsmPolicyConfig {
  /** pressure when free memory is below this share of the total (MOM: 0.20) */
  freeThreshold: number;
  /** pages added per decision under pressure (MOM: 300) */
  pagesBoost: number;
  /** pages removed per decision without it (MOM: 50) */
  pagesDecay: number;
  pagesMin: number;
  pagesMax: number;
  sleepMs: number;
}

export const MOM_KSM_POLICY: Readonly<KsmPolicyConfig> = Object.freeze({
  freeThreshold: 0.2,
  pagesBoost: 300,
  pagesDecay: 50,
  pagesMin: 64,
  pagesMax: 1250,
  sleepMs: 10,
});

export interface KsmHostFigures {
  freeKiB: number;
  totalKiB: number;
}

/** The next settings; `previous` undefined = the host's first decision (KSM assumed stopped at the minimum). */
export function ksmTuning(host: KsmHostFigures, previous: KsmSettings | undefined, config: KsmPolicyConfig = MOM_KSM_POLICY): KsmSettings {
  const prev = previous ?? { run: 0, pagesToScan: config.pagesMin, sleepMs: config.sleepMs };
  const pressure = host.totalKiB > 0 && host.freeKiB < config.freeThreshold * host.totalKiB;
  const clamp = (n: number) => Math.min(config.pagesMax, Math.max(config.pagesMin, Math.round(n)));
  if (pressure) return { run: 1, pagesToScan: clamp(prev.pagesToScan + config.pagesBoost), sleepMs: config.sleepMs };
  const pagesToScan = clamp(prev.pagesToScan - config.pagesDecay);
  // keep scanning while the rate decays (merged pages stay merged either way); stop at the floor
  return { run: prev.run === 1 && pagesToScan > config.pagesMin ? 1 : 0, pagesToScan, sleepMs: config.sleepMs };
}

/** The `ksm` action's argv for these settings (argument array, never a shell string). */
export const ksmActionArgs = (s: KsmSettings, host: string): string[] => [String(s.run), String(s.pagesToScan), String(s.sleepMs), host];
