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
  /** PACKEDMEMORY: MAXMEMORY − USEDMEMORY, memory the balloon has taken back (≥ 0) */
  packedKiB: number;
  guest: GuestMemoryView;
}

const kib = (value: number | undefined): number | undefined =>
  value === undefined || !Number.isFinite(value) || value < 0 ? undefined : Math.floor(value);

export function vmMemory(stats: VmMemoryInput): VmMemory {
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
  return { known: true, realKiB: real, usedKiB, maxKiB, packedKiB: maxKiB - usedKiB, guest };
}

export interface HostMemoryInput {
  /** physical memory of the host (virNodeInfo memory / MemTotal) */
  physicalKiB: number;
  vms: ReadonlyArray<{ running: boolean; memory: VmMemory }>;
  /** O, in [0, 1]: the share of borrowed memory offered to the scheduler */
  overcommit: number;
}

export interface HostMemory {
  /** PACKEDMEMORY of the host: Σ PACKEDMEMORY of its running VMs */
  borrowedKiB: number;
  /** TOTALMEMORY = physical + O × borrowed, rounded down to whole KiB */
  totalKiB: number;
}

export function hostMemory({ physicalKiB, vms, overcommit }: HostMemoryInput): HostMemory {
  if (!(overcommit >= 0 && overcommit <= 1)) throw new RangeError(`overcommit ${overcommit} is outside [0, 1]`);
  let borrowedKiB = 0;
  for (const vm of vms) if (vm.running && vm.memory.known) borrowedKiB += vm.memory.packedKiB;
  const physical = Math.floor(Math.max(0, physicalKiB));
  return { borrowedKiB, totalKiB: physical + Math.floor(overcommit * borrowedKiB) };
}
