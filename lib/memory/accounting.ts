// CloudVAMP's memory accounting, as pure functions. All figures are KiB, as
// OpenNebula expects from probes.
//
// The borrowed figure must only ever count memory the balloon has actually
// taken back from a VM. Memory a guest merely leaves idle is still held by
// QEMU (or can be touched again at any moment without asking anyone), so
// counting it would let the scheduler place VMs on memory that is not free.
import type { BalloonStats } from '../libvirt/types';

/** The balloon figures the accounting reads: libvirt's balloon stats group, as the client decodes it. */
export type VmMemoryInput = Pick<
  BalloonStats,
  'currentKiB' | 'maximumKiB' | 'rssKiB' | 'unusedKiB' | 'availableKiB' | 'usableKiB' | 'diskCachesKiB'
>;

/** The guest's own view, reported for the elasticity manager; never part of the borrowed figure. */
export interface GuestMemoryView {
  /** MemFree inside the guest */
  unusedKiB?: number;
  /** MemTotal inside the guest */
  availableKiB?: number;
  /** MemAvailable inside the guest */
  usableKiB?: number;
  diskCachesKiB?: number;
}

export interface VmMemory {
  /**
   * False when libvirt gave neither the balloon size nor the maximum: the
   * figures below are then zeros that must not be printed, and the VM adds
   * nothing to the borrowed memory.
   */
  known: boolean;
  /** REALMEMORY: current balloon size */
  realKiB: number;
  /** USEDMEMORY: what the VM holds on the host, max(RSS, balloon size) */
  usedKiB: number;
  /** MAXMEMORY: max(RSS, maximum memory) */
  maxKiB: number;
  /** PACKEDMEMORY: max(RSS, size oned believes, else maximum) − USEDMEMORY, memory the balloon has taken back beyond oned's view (≥ 0) */
  packedKiB: number;
  guest: GuestMemoryView;
}

/** A usable KiB figure, or undefined: negative, not finite, or beyond 2^53 (a double has already rounded it, so it is not known). */
const kib = (value: number | undefined): number | undefined =>
  value === undefined || !Number.isFinite(value) || value < 0 || value > Number.MAX_SAFE_INTEGER ? undefined : Math.floor(value);

/**
 * `onedKiB`: the size oned believes the VM has (its MEMORY, recorded in the
 * domain's metadata by the deploy and resize actions). oned's MEM_USAGE
 * counts that size, so the memory the balloon took back beyond oned's view
 * is onedKiB − balloon: a resize that oned already knows about (its MEM_USAGE
 * fell by the shrink) adds nothing a second time, and a MEMORY_MAX headroom
 * oned never counted is not offered. Without a record (a VM deployed before
 * cloudvamp's deploy action recorded it) the maximum stands in, as before.
 */
export function vmMemory(stats: VmMemoryInput, onedKiB?: number): VmMemory {
  const current = kib(stats.currentKiB);
  const maximum = kib(stats.maximumKiB);
  const rss = kib(stats.rssKiB) ?? 0;
  const guest: GuestMemoryView = {};
  const unused = kib(stats.unusedKiB);
  const available = kib(stats.availableKiB);
  const usable = kib(stats.usableKiB);
  const diskCaches = kib(stats.diskCachesKiB);
  if (unused !== undefined) guest.unusedKiB = unused;
  if (available !== undefined) guest.availableKiB = available;
  if (usable !== undefined) guest.usableKiB = usable;
  if (diskCaches !== undefined) guest.diskCachesKiB = diskCaches;

  if (current === undefined && maximum === undefined) {
    return { known: false, realKiB: 0, usedKiB: 0, maxKiB: 0, packedKiB: 0, guest };
  }
  // With only one of the two known, assume the balloon is untouched: that
  // can only under-report borrowed memory, never over-report it.
  const real = current ?? (maximum as number);
  const max = Math.max(maximum ?? real, real);
  const usedKiB = Math.max(rss, real);
  const maxKiB = Math.max(rss, max);
  const oned = kib(onedKiB);
  // never above the maximum: a record can only lower the figure, never raise it
  const base = oned === undefined ? maxKiB : Math.max(rss, Math.min(oned, max));
  return { known: true, realKiB: real, usedKiB, maxKiB, packedKiB: Math.max(0, base - usedKiB), guest };
}

export interface HostMemoryInput {
  /** physical memory of the host (virNodeInfo memory / MemTotal) */
  physicalKiB: number;
  vms: ReadonlyArray<{ running: boolean; memory: VmMemory }>;
  /** O, in [0, 1]: the share of borrowed memory offered to the scheduler */
  overcommit: number;
  /** memory KSM saves on the host (pages_sharing), KiB */
  ksmSavedKiB?: number;
  /** O_KSM, in [0, 1]: the share of it offered (opt-in; merged pages come back on write) */
  ksmOvercommit?: number;
  /** OVERCOMMIT_MAX_RATIO: TOTALMEMORY is at most this × physical (≥ 1; 0 or absent: no ceiling) */
  maxRatio?: number;
}

export interface HostMemory {
  /** PACKEDMEMORY of the host: Σ PACKEDMEMORY of its running VMs */
  borrowedKiB: number;
  /**
   * TOTALMEMORY = physical + O × borrowed + O_KSM × KSM-saved, each product
   * rounded down to whole KiB, and at most OVERCOMMIT_MAX_RATIO × physical
   */
  totalKiB: number;
}

/**
 * Exact sum of KiB figures. Doubles lose whole KiB beyond 2^53 (a sum one past
 * it is rounded back, an off-by-one in TOTALMEMORY); such a figure cannot be
 * printed exactly, so it is an error, never a rounded number.
 */
export function sumKiB(what: string, ...values: number[]): number {
  let sum = 0n;
  for (const v of values) {
    if (!Number.isSafeInteger(v)) throw new RangeError(`${what}: ${v} KiB is not a whole number below 2^53; libvirt reported an impossible memory size`);
    sum += BigInt(v);
  }
  if (sum > BigInt(Number.MAX_SAFE_INTEGER) || sum < BigInt(Number.MIN_SAFE_INTEGER))
    throw new RangeError(`${what}: ${sum} KiB is beyond 2^53 and cannot be reported exactly; libvirt reported an impossible memory size`);
  return Number(sum);
}

/** O as the exact decimal fraction it was written as (String() gives the shortest round-trip form: 0.7, not 0.6999…). */
function decimalFraction(o: number): { num: bigint; den: bigint } {
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(o));
  if (!m) throw new RangeError(`overcommit ${o} is not a decimal number`);
  const frac = m[2] ?? '';
  const exp = Number(m[3] ?? 0) - frac.length;
  const digits = BigInt(m[1]! + frac);
  return exp >= 0 ? { num: digits * 10n ** BigInt(exp), den: 1n } : { num: digits, den: 10n ** BigInt(-exp) };
}

export function hostMemory({ physicalKiB, vms, overcommit, ksmSavedKiB = 0, ksmOvercommit = 0, maxRatio = 0 }: HostMemoryInput): HostMemory {
  if (!(overcommit >= 0 && overcommit <= 1)) throw new RangeError(`overcommit ${overcommit} is outside [0, 1]`);
  if (!(ksmOvercommit >= 0 && ksmOvercommit <= 1)) throw new RangeError(`KSM overcommit ${ksmOvercommit} is outside [0, 1]`);
  if (!(maxRatio === 0 || maxRatio >= 1)) throw new RangeError(`overcommit ratio ceiling ${maxRatio} is neither 0 (none) nor at least 1`);
  const borrowedKiB = sumKiB('PACKEDMEMORY of the host', ...vms.filter((vm) => vm.running && vm.memory.known).map((vm) => vm.memory.packedKiB));
  const physical = sumKiB('physical memory', Math.floor(Math.max(0, physicalKiB)));
  // floor(O × borrowed) in integers: a double product rounds (0.7 × 10 → 6.999…) and drifts beyond 2^53
  const { num, den } = decimalFraction(overcommit);
  const offered = Number((num * BigInt(borrowedKiB)) / den);
  const ksm = sumKiB('KSM saved memory', Math.floor(Math.max(0, ksmSavedKiB)));
  const k = decimalFraction(ksmOvercommit);
  const ksmOffered = Number((k.num * BigInt(ksm)) / k.den);
  const total = sumKiB('TOTALMEMORY', physical, offered, ksmOffered);
  if (maxRatio === 0) return { borrowedKiB, totalKiB: total };
  // the ceiling bounds how many guests share one host's physical memory, so
  // how large a correlated burst of theirs can be; PACKEDMEMORY still says
  // what the balloons took
  const r = decimalFraction(maxRatio);
  const ceiling = Number((r.num * BigInt(physical)) / r.den);
  return { borrowedKiB, totalKiB: Math.min(total, ceiling) };
}
