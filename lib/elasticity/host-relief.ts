// Settling one host's grows against its headroom in the host ledger
// (decideHost): a grow is never done blindly. One that does not fit first gets
// a relief migration (findRelief: the cheapest other VM whose move frees
// enough, to the host it fits best, searched by the planner's relief strategy),
// else it shrinks to what fits, else waits. Shrinks are not credited within a
// cycle because they are applied last. Pure: no clock, no file, no network.

import { moveVm } from '../planning/strategies/best-fit';
import { reliefMove } from '../planning/strategies/relief';
import type { HostLedger } from './host-ledger';
import type { VmView } from './ports';
import { floorMiB, MiB, mib } from './units';
import type { VmDecision } from './vm-rule';

export interface Migration {
  vmId: number;
  fromHostId: number;
  toHostId: number;
  /** memory the VM takes along */
  kib: number;
  /** the VM whose grow needs the room */
  forVmId: number;
  reason: string;
}


/** Most urgent first: starving, then the lowest free share, then the VM ID for determinism. */
export function urgency(a: VmDecision, b: VmDecision): number {
  if (a.starving !== b.starving) return a.starving ? -1 : 1;
  const sa = a.figures ? a.figures.freeKiB / a.figures.totalKiB : 1;
  const sb = b.figures ? b.figures.freeKiB / b.figures.totalKiB : 1;
  return sa - sb || a.vmId - b.vmId;
}

/**
 * Cheapest VM on `hostId` whose move frees `needKiB`, with the best-fitting
 * destination: the planner's relief strategy (reliefMove), restricted to the
 * source's OpenNebula cluster, the migration budget and the anti-flap rule.
 */
function findRelief(hostId: number, needKiB: number, ledger: HostLedger): { vm: VmView; toHostId: number } | undefined {
  const source = ledger.hosts.get(hostId);
  const { ix, loads, where } = ledger.index;
  const h = ix.hostIndex.get(hostId);
  if (!source || h === undefined) return undefined;
  const hasBudget = (id: number) => !ledger.budget || (ledger.budget.get(id) ?? 0) > 0;
  if (!hasBudget(hostId)) return undefined;
  // Memory room as the ledger has it now (grows accepted so far took some).
  for (let d = 0; d < ix.hostCount; d++) loads.mem[d] = ix.capMem[d]! - (ledger.headroom.get(ix.hostIds[d]!) ?? 0) / MiB;
  const candidates = (ledger.vmsByHost.get(hostId) ?? []).flatMap((vm) => {
    const v = ix.vmIndex.get(vm.id);
    return v === undefined ? [] : [v];
  });
  const found = reliefMove(ix, loads, where, h, needKiB / MiB, {
    candidates,
    mayMove: (v) => !ledger.pinned.has(ix.vmIds[v]!),
    mayReceive: (v, d) => {
      const to = ledger.hosts.get(ix.hostIds[d]!)!;
      return to.clusterId === source.clusterId && hasBudget(to.id) && (!ledger.mayMoveTo || ledger.mayMoveTo(ix.vmIds[v]!, to.id));
    },
  });
  if (!found) return undefined;
  const vm = (ledger.vmsByHost.get(hostId) ?? []).find((x) => x.id === ix.vmIds[found.v])!;
  moveVm(ix, loads, where, found.v, found.to);
  return { vm, toHostId: ix.hostIds[found.to]! };
}

/**
 * Settles the grows of one host against its headroom: accepts what fits, plans
 * at most one relief migration for what does not, then shrinks the remaining
 * grows to what is left (or drops them). Returns the settled grows and the
 * migration; updates `ledger.headroom`.
 */
export function decideHost(
  hostId: number,
  grows: VmDecision[],
  ledger: HostLedger,
  opts: { force?: boolean } = {},
): { decisions: VmDecision[]; migration?: Migration; moved?: VmView } {
  const { config } = ledger;
  const pending = [...grows].sort(urgency);
  for (const d of pending) ledger.pinned.add(d.vmId);
  const settled: VmDecision[] = [];
  let headroom = ledger.headroom.get(hostId) ?? 0;
  const fit = (list: VmDecision[], tag?: number): VmDecision[] => {
    const rest: VmDecision[] = [];
    for (const d of list) {
      const delta = d.targetKiB - d.fromKiB;
      if (delta <= headroom) {
        headroom -= delta;
        settled.push(tag === undefined ? d : { ...d, afterMigrationOf: tag, reason: `${d.reason}; after moving VM ${tag} away` });
      } else rest.push(d);
    }
    return rest;
  };
  let unfit = fit(pending);
  let migration: Migration | undefined;
  let moved: VmView | undefined;
  if (unfit.length > 0 && config.migrate && ledger.mayMigrateFrom(hostId)) {
    const total = unfit.reduce((s, d) => s + d.targetKiB - d.fromKiB, 0);
    const first = unfit[0]!;
    const relief =
      findRelief(hostId, total - headroom, ledger) ?? findRelief(hostId, first.targetKiB - first.fromKiB - headroom, ledger);
    if (relief) {
      moved = relief.vm;
      migration = {
        vmId: relief.vm.id,
        fromHostId: hostId,
        toHostId: relief.toHostId,
        kib: relief.vm.currentKiB,
        forVmId: first.vmId,
        reason: `host ${hostId} lacks room for VM ${first.vmId}'s grow; VM ${relief.vm.id} (${mib(relief.vm.currentKiB)}) is the cheapest move that frees enough, host ${relief.toHostId} fits it best`,
      };
      ledger.pinned.add(relief.vm.id);
      if (ledger.budget) {
        ledger.budget.set(hostId, (ledger.budget.get(hostId) ?? 0) - 1);
        ledger.budget.set(relief.toHostId, (ledger.budget.get(relief.toHostId) ?? 0) - 1);
      }
      ledger.headroom.set(relief.toHostId, (ledger.headroom.get(relief.toHostId) ?? 0) - relief.vm.currentKiB);
      headroom += relief.vm.currentKiB;
      unfit = fit(unfit, relief.vm.id);
    }
  }
  const why = !config.migrate
    ? 'migrations are off'
    : migration
      ? 'the relief migration does not free enough for it'
      : ledger.mayMigrateFrom(hostId)
        ? 'no VM can be moved off the host to make room'
        : 'host in migration cooldown';
  for (const d of unfit) {
    if (opts.force) {
      settled.push({ ...d, reason: `${d.reason}; FORCED past the host's headroom (${why})` });
      continue;
    }
    const partial = d.fromKiB + floorMiB(Math.max(0, headroom));
    const target = Math.min(d.targetKiB, partial);
    if (target - d.fromKiB >= config.memDiffToChangeKiB) {
      headroom -= target - d.fromKiB;
      settled.push({ ...d, targetKiB: target, reason: `${d.reason}; only ${mib(target)} fits on host ${hostId} (${why})` });
    } else {
      settled.push({ ...d, action: 'none', targetKiB: d.fromKiB, reason: `${d.reason}; host ${hostId} has no room (${why})` });
    }
  }
  ledger.headroom.set(hostId, headroom);
  return { decisions: settled, ...(migration ? { migration, moved } : {}) };
}
