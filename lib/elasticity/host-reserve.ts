// The regrowth reserve: per host, a RESERVED_MEM that keeps free the memory
// the host's ballooned VMs are predicted to need back. Pure: view, state,
// config and `now` in, one decision per host out.
//
// Why: the probe offers oned's scheduler the memory the balloons took back
// (TOTALMEMORY = physical + O × borrowed), and oned admits on
// MAX_MEM − MEM_USAGE with MAX_MEM = TOTAL_MEM − RESERVED_MEM (PROTOCOL.md
// §1.6.1). With O = 1 the scheduler refills every byte, so a guest that needs
// its memory again finds its host full (bench/results/density.md). Lowering O
// keeps the same share of *every* VM's borrowed memory idle; this reserve keeps
// only what the VMs that recently used more are likely to take back, and still
// offers the memory of idle and steady guests.
//
// Per running VM on the host:
//   regrowth = max(0, min(original, size its recent peak needs) − current)
// where "size its peak needs" is the policy's own sizing (sizeForUse: MEM_OVER
// free, at least 2 × MIN_FREE) of the decayed peak kept in the state
// (PEAK_HALF_LIFE). 'share' mode: HOST_RESERVE_SHARE % of what the VM lent
// (original − current); 'swing' (the default): that share, at most
// HOST_RESERVE_SWING × the VM's swing (swingKiB). The host's reserve is
// Σ regrowth, capped at HOST_RESERVE_MAX % of its physical memory and at what
// the physical memory leaves above the operator's own reserve.
//
// The operator's own RESERVED_MEM is never lost: cloudvamp publishes
//   RESERVED_MEM = base + regrowth reserve
// and keeps the base in the host's CLOUDVAMP_BASE_RESERVED_MEM (KiB or "N%"
// of the physical memory) and what it wrote in CLOUDVAMP_RESERVED_MEM. A
// RESERVED_MEM that differs from CLOUDVAMP_RESERVED_MEM was set by someone
// else (onehost update, or before cloudvamp ever wrote one): it becomes the new
// base. A host RESERVED_MEM overrides the cluster's, so a reserve set only on
// the cluster must be copied into CLOUDVAMP_BASE_RESERVED_MEM (docs/elasticity.md).

import type { ElasticityConfig } from './config';
import { vmsByHost } from './host-ledger';
import { ceilMiB, MiB, mib } from './units';
import { chooseGuestFigures } from './guest-figures';
import { limitsFor, sizeForUse } from './vm-rule';
import type { ClusterView, HostView, VmView } from './ports';
import { decayedPeak, type ElasticityState, type ManagedVm } from './state';


/** Memory the VM is predicted to take back (KiB, ≥ 0): what its recent peak needs, up to its original, above its current size. */
export function vmRegrowthKiB(vm: VmView, vmState: ManagedVm | undefined, config: ElasticityConfig, now: number): number {
  if (!vm.running || vm.hostId === null) return 0;
  const originalKiB = vmState?.originalKiB ?? vm.templateMemoryKiB;
  if (vm.currentKiB >= originalKiB) return 0;
  // 'share': no prediction, a fixed part of what this VM lent: the scheduler
  // then sees physical + (1 − share) × borrowed, whatever the probe's O
  const share = (config.hostReserveSharePercent / 100) * (originalKiB - vm.currentKiB);
  if (config.hostReserveMode === 'share') return share;
  if (config.hostReserveMode === 'swing') return Math.min(share, swingKiB(vm, vmState, config, now) ?? share);
  const needed = peakNeedKiB(vm, vmState, config, now);
  if (needed === undefined) return 0;
  return Math.max(0, needed - vm.currentKiB);
}

/**
 * 'swing': how far the guest's use now sits below its recent (decayed) peak,
 * times HOST_RESERVE_SWING (KiB, ≥ 0; undefined: no peak remembered or no
 * usable figures, and the VM keeps its whole share). With PEAK_FLOOR the VM
 * already holds the room its peak needs; what the host must keep is for the
 * burst past that peak. Guests that swung lately are the ones that burst past
 * it (the Bitbrains month: a VM's peak ~4.3× its mean, bursts correlated
 * across VMs); an idle or steady guest has no swing, and holding 30 % of what
 * it lent idle on the host (the 'share' mode) only kept VMs out
 * (bench/results/density.md, the invented workload).
 */
export function swingKiB(vm: VmView, vmState: ManagedVm | undefined, config: ElasticityConfig, now: number): number | undefined {
  const peak = decayedPeak(vmState?.peak, config.peakHalfLifeMs, now);
  const f = chooseGuestFigures(vm, config, now, vmState?.lastChangeAt).figures;
  if (peak === undefined || !f) return undefined;
  return config.hostReserveSwingFactor * Math.max(0, peak - f.usedKiB);
}

/** The size the VM's recent peak of use needs, up to its original (KiB; undefined: no peak remembered). */
export function peakNeedKiB(vm: VmView, vmState: ManagedVm | undefined, config: ElasticityConfig, now: number): number | undefined {
  const originalKiB = vmState?.originalKiB ?? vm.templateMemoryKiB;
  const peak = decayedPeak(vmState?.peak, config.peakHalfLifeMs, now);
  if (peak === undefined) return undefined;
  return Math.min(originalKiB, ceilMiB(sizeForUse(peak, limitsFor(vm, config))));
}

/**
 * 'joint': the host keeps free what its VMs' recent peaks predict they take
 * back, plus HOST_RESERVE_BURST % of what those peaks need in all, for the
 * bursts no single peak predicts. Bursts on real clouds are correlated (the
 * Bitbrains month: the pool's use jumped by up to 187 GiB in one 5-min
 * sample) and scale with the working sets, not with what was lent: a host of
 * idle guests offers nearly all they lent, a host of busy ones little.
 * A VM with no peak yet (just booted) counts at its current size.
 */
export function jointRegrowthKiB(vms: readonly VmView[], state: ElasticityState, config: ElasticityConfig, now: number): number {
  let regrowth = 0;
  let need = 0;
  for (const vm of vms) {
    if (!vm.running || vm.hostId === null) continue;
    const vmState = state.vms[String(vm.id)];
    const peakNeed = peakNeedKiB(vm, vmState, config, now) ?? vm.currentKiB;
    regrowth += Math.max(0, peakNeed - vm.currentKiB);
    need += peakNeed;
  }
  return regrowth + (config.hostReserveBurstPercent / 100) * need;
}

/** Σ regrowth of the host's VMs, capped at HOST_RESERVE_MAX % of `physicalKiB` and at `roomKiB` (whole MiB, ≥ 0). */
export function hostRegrowthKiB(
  vms: readonly VmView[],
  state: ElasticityState,
  config: ElasticityConfig,
  now: number,
  physicalKiB: number,
  roomKiB = physicalKiB,
): { reserveKiB: number; predictedKiB: number } {
  let predictedKiB = 0;
  if (config.hostReserveMode === 'joint') predictedKiB = jointRegrowthKiB(vms, state, config, now);
  else for (const vm of vms) predictedKiB += vmRegrowthKiB(vm, state.vms[String(vm.id)], config, now);
  const cap = Math.min((config.hostReserveMaxPercent / 100) * physicalKiB, roomKiB, physicalKiB);
  return { reserveKiB: Math.max(0, Math.floor(Math.min(predictedKiB, cap) / MiB) * MiB), predictedKiB };
}

/** A RESERVED_MEM-style value in KiB: '' or absent = 0, "N%" = N % of `physicalKiB`, else KiB (negative: oned's static overcommit). */
export function resolveReserved(text: string | undefined, physicalKiB: number): number | undefined {
  const t = (text ?? '').trim();
  if (t === '') return 0;
  const percent = /^(-?\d+(?:\.\d+)?)\s*%$/.exec(t);
  if (percent) return Math.round((Number(percent[1]) / 100) * physicalKiB);
  const n = Number(t);
  return Number.isFinite(n) ? Math.round(n) : undefined;
}

const blank = (t: string | undefined) => (t ?? '').trim() === '';

/** The operator's own reserve (text as the operator wrote it) and whether it was just taken from RESERVED_MEM. */
export function operatorBase(host: HostView): { text: string; adopted: boolean } {
  const keys = host.reserve ?? {};
  const reserved = (keys.reservedMem ?? '').trim();
  const published = keys.publishedReservedMem;
  // RESERVED_MEM not what cloudvamp last wrote: the operator set it (or cloudvamp never wrote one).
  if (blank(published)) return { text: blank(keys.baseReservedMem) ? reserved : keys.baseReservedMem!.trim(), adopted: blank(keys.baseReservedMem) && reserved !== '' };
  if (reserved !== published!.trim()) return { text: reserved, adopted: true };
  return { text: (keys.baseReservedMem ?? '').trim(), adopted: false };
}

export interface HostReserveDecision {
  hostId: number;
  /** Σ of the VMs' predicted regrowth, uncapped */
  predictedKiB: number;
  /** the regrowth reserve, capped */
  reserveKiB: number;
  /** the operator's own reserve, resolved, and as written */
  baseKiB: number;
  baseText: string;
  /** RESERVED_MEM as it is now, resolved */
  currentKiB: number;
  /** RESERVED_MEM cloudvamp wants: base + reserve */
  targetKiB: number;
  /** what to merge into the host TEMPLATE; absent: nothing to write */
  template?: Record<string, string | number>;
  reason: string;
}

/** One decision per host: what RESERVED_MEM should be and whether it is worth a oned write. */
export function planHostReserves(view: ClusterView, state: ElasticityState, config: ElasticityConfig, now: number): HostReserveDecision[] {
  const byHost = vmsByHost(view);
  return view.hosts.map((host) => decideHostReserve(host, byHost.get(host.id) ?? [], state, config, now));
}

export function decideHostReserve(host: HostView, vms: readonly VmView[], state: ElasticityState, config: ElasticityConfig, now: number): HostReserveDecision {
  const physical = host.totalKiB;
  const keys = host.reserve ?? {};
  const base = operatorBase(host);
  const baseKiB = resolveReserved(base.text, physical);
  const currentKiB = resolveReserved(keys.reservedMem, physical);
  const out = { hostId: host.id, predictedKiB: 0, reserveKiB: 0, baseText: base.text };
  if (baseKiB === undefined || currentKiB === undefined) {
    return { ...out, baseKiB: 0, currentKiB: currentKiB ?? 0, targetKiB: currentKiB ?? 0, reason: `RESERVED_MEM '${keys.reservedMem ?? ''}' or CLOUDVAMP_BASE_RESERVED_MEM '${base.text}' is not KiB or N %: left alone; fix the host template` };
  }
  const write = (published: string | number) => ({
    RESERVED_MEM: published,
    CLOUDVAMP_RESERVED_MEM: published,
    CLOUDVAMP_BASE_RESERVED_MEM: base.text,
  });
  if (config.hostReserveMode === 'none') {
    // Give back a reserve cloudvamp wrote; never touch one it did not.
    const ours = !blank(keys.publishedReservedMem) && !base.adopted && (keys.reservedMem ?? '').trim() !== base.text;
    return {
      ...out,
      baseKiB,
      currentKiB,
      targetKiB: ours ? baseKiB : currentKiB,
      ...(ours ? { template: write(base.text), reason: `HOST_RESERVE_MODE=none: RESERVED_MEM back to the operator's ${base.text === '' ? '(none)' : base.text}` } : { reason: 'HOST_RESERVE_MODE=none' }),
    };
  }
  const { reserveKiB, predictedKiB } = hostRegrowthKiB(vms, state, config, now, physical, physical - Math.max(0, baseKiB));
  const targetKiB = baseKiB + reserveKiB;
  const capped = reserveKiB < Math.floor(predictedKiB / MiB) * MiB ? ` (predicted ${mib(predictedKiB)}, capped)` : '';
  const what = `regrowth reserve ${mib(reserveKiB)}${capped} + operator's ${base.text === '' ? '0' : base.text} = ${targetKiB} KiB`;
  const result = { ...out, predictedKiB, reserveKiB, baseKiB, currentKiB, targetKiB };
  const delta = Math.abs(targetKiB - currentKiB);
  if (delta <= config.hostReserveThresholdKiB)
    return { ...result, reason: `${what}; RESERVED_MEM is ${currentKiB} KiB, within HOST_RESERVE_THRESHOLD` };
  return { ...result, template: write(targetKiB), reason: `${what}; RESERVED_MEM ${currentKiB} → ${targetKiB} KiB` };
}
