// Peak room lent to a starving neighbour (PEAK_LEND, with PEAK_FLOOR): a
// guest kept above its use for its own recent peak gives that room back when
// a guest on the same host starves and its grow found no room (not in the
// host's headroom, not by a relief migration). Pure: the settled plan, the
// view, the state, config and `now` in, the plan with those shrinks out.
//
// Why: the peak floor keeps each guest's burst room inside the guest, so a
// host fills with room its guests hold for bursts they are not having, while
// a neighbour whose burst no peak predicted waits for a migration that finds
// no host with room (the Bitbrains month, day 15: every host committed 63 of
// 64 GiB, their guests using 20–35 GiB, 32 GiB guests starving for hours).
// The starving guest's need is certain, the lender's burst only possible; the
// lender keeps MEM_OVER free above its use of now, and grows back as any
// guest does (its peak still predicts it: the regrowth reserve counts it).
//
// The shrinks are not credited this cycle (shrinks are applied last): the
// starving guest's grow finds the room at the next cycle's headroom.

import type { ElasticityConfig } from './config';
import type { Migration } from './host-relief';
import type { ClusterView } from './ports';
import { decayedPeak, type ElasticityState } from './state';
import { mib } from './units';
import { clampTarget, limitsFor, sizeForUse, type VmDecision } from './vm-rule';

/**
 * The plan's decisions with lenders' shrinks added: for each host, what its
 * starving guests still lack after settling (`wanted` target − settled target),
 * taken from the guests holding the most room above what their use of now
 * needs, largest first, until the lack is covered.
 */
export function lendPeakRoom(
  view: ClusterView,
  wanted: readonly VmDecision[],
  settled: readonly VmDecision[],
  migrations: readonly Migration[],
  state: ElasticityState,
  config: ElasticityConfig,
  now: number,
): VmDecision[] {
  if (!config.peakFloor || !config.peakLend) return [...settled];
  const want = new Map(wanted.map((d) => [d.vmId, d.targetKiB]));
  const lack = new Map<number, { kib: number; forVmId: number }>();
  for (const d of settled) {
    if (!d.starving || d.hostId === null) continue;
    const short = (want.get(d.vmId) ?? d.targetKiB) - d.targetKiB;
    if (short <= 0) continue;
    const l = lack.get(d.hostId) ?? { kib: 0, forVmId: d.vmId };
    lack.set(d.hostId, { kib: l.kib + short, forVmId: l.forVmId });
  }
  if (lack.size === 0) return [...settled];
  const moving = new Set(migrations.map((m) => m.vmId));
  const views = new Map(view.vms.map((v) => [v.id, v]));
  const out = [...settled];
  const byHost = new Map<number, { i: number; kib: number; target: number }[]>();
  out.forEach((d, i) => {
    if (d.hostId === null || !lack.has(d.hostId) || d.starving || d.action === 'grow' || moving.has(d.vmId) || !d.figures) return;
    const vm = views.get(d.vmId);
    const vmState = state.vms[String(d.vmId)];
    if (!vm || !vm.running) return;
    // A guest that starved lately (SHRINK_HOLD_OFF) was grown to what its
    // starvation hid, often its whole original: it keeps what its recent peak
    // needs and lends the rest; any other lender keeps what its use of now needs.
    const starvedLately = vmState?.lastStrikeAt !== undefined && now - vmState.lastStrikeAt < config.shrinkHoldOffMs;
    const keep = starvedLately ? Math.max(d.figures.usedKiB, decayedPeak(vmState?.peak, config.peakHalfLifeMs, now) ?? 0) : d.figures.usedKiB;
    const overheadKiB = Math.max(0, d.fromKiB - d.figures.totalKiB);
    const target = clampTarget(sizeForUse(keep, limitsFor(vm, config), overheadKiB), d.originalKiB, config);
    const kib = d.targetKiB - target;
    if (kib < config.memDiffToChangeKiB) return;
    const list = byHost.get(d.hostId) ?? [];
    list.push({ i, kib, target });
    byHost.set(d.hostId, list);
  });
  for (const [hostId, lenders] of byHost) {
    let need = lack.get(hostId)!.kib;
    const forVmId = lack.get(hostId)!.forVmId;
    for (const l of lenders.sort((a, b) => b.kib - a.kib || out[a.i]!.vmId - out[b.i]!.vmId)) {
      if (need <= 0) break;
      const d = out[l.i]!;
      need -= l.kib;
      out[l.i] = {
        ...d,
        action: 'shrink',
        targetKiB: l.target,
        reason: `lends its peak room to VM ${forVmId}, starving on host ${hostId} with no room: ${mib(d.fromKiB)} → ${mib(l.target)}; used ${mib(d.figures!.usedKiB)}`,
      };
    }
  }
  return out;
}
