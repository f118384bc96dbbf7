// The applier's last look before each step. A plan is made from one snapshot;
// by the time a step runs, earlier steps of the same cycle have run and the
// rest of the cloud has moved on (the scheduler deployed a VM, an operator
// migrated or resized one, a VM was powered off). Right before each step the
// cycle takes a fresh snapshot and asks `recheck` whether the step's
// precondition still holds; if not, the step is skipped with the reason. Pure.
//
// Host room at apply time. oned shows placements (HISTORY) at once, but a
// host's monitored free memory and, in memory-action mode, a VM's balloon size
// only change with the next monitoring record. So the fresh headroom is:
//   * by commitment: physical − reserve − Σ sizes of the VMs oned places on
//     the host now, taking for each VM the larger of its monitored size and
//     the size this cycle gave it (a stale record cannot hide a grow);
//   * by free memory: the monitored free − reserve, corrected for this cycle's
//     own steps — when the record is the one the plan saw, it cannot show them,
//     so memory moved off the host is credited and memory moved on or grown is
//     charged; when a newer record arrived it may already show them, so only
//     the charges apply (counting a grow twice errs on the safe side, crediting
//     a migration twice would not).

import type { ElasticityConfig } from './config';
import type { Migration } from './host-relief';
import { mib } from './units';
import type { VmDecision } from './vm-rule';
import type { ClusterView, VmView } from './ports';


/** What this cycle has done so far; updated by `recordDone`. */
export interface AppliedSoFar {
  /** KiB that this cycle's migrations moved onto (+) or off (−) each host */
  moved: Map<number, number>;
  /** KiB that this cycle's grows added on each host */
  grown: Map<number, number>;
  /** sizes this cycle set, by VM */
  sizes: Map<number, number>;
}

export const nothingApplied = (): AppliedSoFar => ({ moved: new Map(), grown: new Map(), sizes: new Map() });

export type Step = { kind: 'migrate'; migration: Migration } | { kind: 'resize'; decision: VmDecision };

const add = (map: Map<number, number>, key: number, kib: number) => map.set(key, (map.get(key) ?? 0) + kib);

/** Notes a step that succeeded (mutates `applied`). */
export function recordDone(applied: AppliedSoFar, step: Step): void {
  if (step.kind === 'migrate') {
    add(applied.moved, step.migration.fromHostId, -step.migration.kib);
    add(applied.moved, step.migration.toHostId, step.migration.kib);
    return;
  }
  const d = step.decision;
  if (d.action === 'grow' && d.hostId !== null) add(applied.grown, d.hostId, d.targetKiB - d.fromKiB);
  applied.sizes.set(d.vmId, d.targetKiB);
}

/** Memory a host can still give at apply time (see the file comment), KiB; −Infinity for a host oned no longer lists. */
export function headroomNow(hostId: number, planned: ClusterView, fresh: ClusterView, applied: AppliedSoFar, config: ElasticityConfig): number {
  const host = fresh.hosts.find((h) => h.id === hostId);
  if (!host) return -Infinity;
  let committed = 0;
  for (const vm of fresh.vms) if (vm.hostId === hostId) committed += Math.max(vm.currentKiB, applied.sizes.get(vm.id) ?? 0);
  let room = host.totalKiB - config.hostReserveKiB - committed;
  if (host.freeKiB !== undefined) {
    const seen = planned.hosts.find((h) => h.id === hostId);
    const sameRecord = seen !== undefined && seen.freeKiB === host.freeKiB && seen.freeAt === host.freeAt;
    const moved = applied.moved.get(hostId) ?? 0;
    const grown = applied.grown.get(hostId) ?? 0;
    const own = sameRecord ? moved + grown : Math.max(0, moved) + grown;
    room = Math.min(room, host.freeKiB - config.hostReserveKiB - own);
  }
  return room;
}

/** Why `step` must not run now, or undefined when its precondition still holds. */
export function recheck(step: Step, planned: ClusterView, fresh: ClusterView, applied: AppliedSoFar, config: ElasticityConfig): string | undefined {
  const vmId = step.kind === 'migrate' ? step.migration.vmId : step.decision.vmId;
  const expectedHost = step.kind === 'migrate' ? step.migration.fromHostId : step.decision.hostId;
  const vm = fresh.vms.find((v) => v.id === vmId);
  if (!vm) return `VM ${vmId} no longer exists`;
  if (!vm.running) return `VM ${vmId} is no longer running`;
  if (vm.hostId !== expectedHost) return `VM ${vmId} now runs on host ${vm.hostId ?? 'none'}, not host ${expectedHost}`;

  if (step.kind === 'migrate') {
    const m = step.migration;
    const to = fresh.hosts.find((h) => h.id === m.toHostId);
    if (!to || !to.enabled) return `destination host ${m.toHostId} is no longer enabled`;
    const room = headroomNow(m.toHostId, planned, fresh, applied, config);
    if (vm.currentKiB > room) return `destination host ${m.toHostId} has only ${mib(room)} left for VM ${vmId}'s ${mib(vm.currentKiB)}`;
    return undefined;
  }

  const d = step.decision;
  // Someone else changed the size since the plan: its figures no longer describe the VM.
  // A restore's target is the original, which no figure of the VM decided: it
  // goes ahead from the size the VM has now (see `rebased`).
  if (!d.restore && vm.currentKiB !== d.fromKiB) return `VM ${vmId} changed size since the plan (${mib(d.fromKiB)} → ${mib(vm.currentKiB)})`;
  if (d.action === 'grow') {
    const delta = d.targetKiB - vm.currentKiB;
    if (delta <= 0) return undefined;
    const room = headroomNow(vm.hostId!, planned, fresh, applied, config);
    if (delta > room) return `host ${vm.hostId} has only ${mib(Math.max(0, room))} left, the grow needs ${mib(delta)}`;
  }
  return undefined;
}

/**
 * The step as it runs on `fresh`, once `recheck` let it: a restore starts from
 * the size the VM has now (so the log and this cycle's charge on the host say
 * what really changes); `fromKiB` ≥ `targetKiB` means there is nothing to do.
 * Other steps are returned as they are (recheck made sure their size holds).
 */
export function rebased(step: Step, fresh: ClusterView): Step {
  if (step.kind !== 'resize' || !step.decision.restore) return step;
  const vm = fresh.vms.find((v) => v.id === step.decision.vmId);
  if (!vm || heldKiB(vm) === step.decision.fromKiB) return step;
  return { kind: 'resize', decision: { ...step.decision, fromKiB: heldKiB(vm) } };
}

/**
 * What a restore counts a VM as holding. With the memory action, currentKiB
 * is the monitored balloon, which shows the old size until the VM monitor
 * next runs; the last size cloudvamp set and published (CLOUDVAMP_MEMORY) is
 * newer. A restore-all right after a cycle's shrink took the VM for one at
 * its original and left it shrunk (opennebula tier, one-2 at 138 MiB for
 * 120 s). The smaller of the two: at worst one idempotent grow to the
 * original. In resize mode currentKiB is oned's MEMORY, never stale.
 */
export const heldKiB = (vm: Pick<VmView, 'currentKiB' | 'cloudvampSetKiB' | 'balloonKiB'>): number =>
  vm.balloonKiB === undefined && vm.cloudvampSetKiB !== undefined ? Math.min(vm.currentKiB, vm.cloudvampSetKiB) : vm.currentKiB;

/** True when a step rebased on the fresh view has nothing left to change (a restore already at its original). */
export const nothingToDo = (step: Step): boolean => step.kind === 'resize' && step.decision.restore === true && step.decision.fromKiB >= step.decision.targetKiB;
