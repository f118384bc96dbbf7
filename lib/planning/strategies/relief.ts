// relief HOST NEED: make NEED MiB of room on HOST with one live migration. The
// cheapest VM to move is the smallest movable one that frees enough on its
// own; it goes to the best-fitting other host (memory and CPU, bestFit). The
// elasticity manager plans its relief migrations with the same search
// (reliefMove), so a VM pinned by CLOUDVAMP_PINNED=YES, a destination short of
// CPU or a host that may not receive are refused alike by both.
import { usageError } from '../../errors';
import { EPSILON, indexCluster, loadsOf, placementOf, type IndexedCluster, type Loads } from '../indexed';
import type { Strategy } from '../strategy';
import { bestFit, moveVm } from './best-fit';
import { findHost } from './evacuate';

export type ReliefArgs = {
  /** The host that needs room: its id or its name. */
  host: string;
  /** MiB to free on it. */
  need: number;
};

export interface ReliefOptions {
  /** VM indices to consider (default: every VM on the host) */
  candidates?: readonly number[];
  /** false for a VM that may not move now, beyond ix.movable */
  mayMove?: (v: number) => boolean;
  /** false where this VM may not go, beyond ix.receives */
  mayReceive?: (v: number, d: number) => boolean;
}

/** The cheapest move that frees `needMiB` on host index `h`: VM and destination indices, or undefined. */
export function reliefMove(ix: IndexedCluster, loads: Loads, where: Int32Array, h: number, needMiB: number, opts: ReliefOptions = {}): { v: number; to: number } | undefined {
  const pool = opts.candidates ?? [...ix.home.keys()].filter((v) => where[v] === h);
  const candidates = pool
    .filter((v) => where[v] === h && ix.movable[v] === 1 && (opts.mayMove?.(v) ?? true) && ix.vmMem[v]! >= needMiB - EPSILON)
    .sort((a, b) => ix.vmMem[a]! - ix.vmMem[b]! || ix.vmIds[a]! - ix.vmIds[b]!);
  for (const v of candidates) {
    const to = bestFit(ix, loads, v, h, where, ix.capMem, ix.capCpu, opts.mayReceive ? (d) => opts.mayReceive!(v, d) : undefined);
    if (to >= 0) return { v, to };
  }
  return undefined;
}

export const relief: Strategy<ReliefArgs> = {
  name: 'relief',
  summary: 'free NEED MiB on HOST (id or name) by moving its smallest sufficient VM to the best-fitting host',
  defaults: { host: '', need: 0 },
  validate(args) {
    const errors: string[] = [];
    if (typeof args.host !== 'string' || args.host.trim() === '') errors.push('relief needs the host to free: cloudvamp-plan relief HOST --need MIB');
    if (typeof args.need !== 'number' || !(args.need >= 0)) errors.push(`need must be a number of MiB ≥ 0, got ${JSON.stringify(args.need)}`);
    return errors;
  },
  plan(cluster, args, constraints) {
    const host = findHost(cluster, args.host.trim());
    const ix = indexCluster(cluster, constraints);
    const where = Int32Array.from(ix.home);
    const loads = loadsOf(ix, where);
    const h = ix.hostIndex.get(host.id);
    if (h === undefined) throw usageError(`host ${args.host} is not in the cluster`);
    const found = reliefMove(ix, loads, where, h, args.need);
    if (found) moveVm(ix, loads, where, found.v, found.to);
    return {
      placement: placementOf(ix, where),
      alsoExclude: [],
      notes: found
        ? [`host ${host.id} (${host.name}): VM ${ix.vmIds[found.v]} (${ix.vmMem[found.v]} MiB) to host ${ix.hostIds[found.to]} frees ${args.need} MiB`]
        : [],
      unresolved: found
        ? []
        : [{ reason: 'no-room', message: `no movable VM on host ${host.id} frees ${args.need} MiB and fits another host; unpin one or free memory elsewhere`, vms: [], hosts: [host.id] }],
    };
  },
};
