// An independent check of a plan against the safety rules, written apart from
// the code that makes plans so that the property tests compare two readings of
// the rules, not one with itself. Pure: no clock, no file, no network.

import type { ElasticityConfig } from './config';
import { committedByHost, hostHeadroom } from './host-ledger';
import type { CyclePlan } from './plan';
import type { ClusterView } from './ports';
import type { ElasticityState } from './state';
import { floorFor } from './vm-rule';

export interface PlanViolation {
  hostId?: number;
  vmId?: number;
  message: string;
}

/**
 * Independent check of a plan against the safety rules: no target below the
 * floor or above the original, no host given more than its headroom (counting
 * grows and incoming migrations, crediting outgoing ones, not crediting shrinks).
 */
export function checkPlan(view: ClusterView, plan: CyclePlan, state: ElasticityState, config: ElasticityConfig): PlanViolation[] {
  const out: PlanViolation[] = [];
  const committed = committedByHost(view);
  const increase = new Map<number, number>();
  const add = (h: number, k: number) => increase.set(h, (increase.get(h) ?? 0) + k);
  const vms = new Map(view.vms.map((v) => [v.id, v]));
  for (const d of plan.decisions) {
    if (d.action === 'none') continue;
    const vm = vms.get(d.vmId)!;
    const original = state.vms[String(d.vmId)]?.originalKiB ?? vm.templateMemoryKiB;
    if (d.targetKiB > original) out.push({ vmId: d.vmId, message: `target ${d.targetKiB} above original ${original}` });
    // A partial grow of a VM that was below the floor (shrunk by someone else) is still a step up.
    if (d.targetKiB < floorFor(original, config) && d.targetKiB < d.fromKiB) out.push({ vmId: d.vmId, message: `target ${d.targetKiB} below floor` });
    if (d.action === 'grow' && d.hostId !== null) add(d.hostId, d.targetKiB - d.fromKiB);
  }
  for (const m of plan.migrations) {
    add(m.fromHostId, -m.kib);
    add(m.toHostId, m.kib);
  }
  for (const host of view.hosts) {
    const inc = increase.get(host.id) ?? 0;
    const room = hostHeadroom(host, committed.get(host.id) ?? 0, config);
    if (inc > 0 && inc > room) out.push({ hostId: host.id, message: `host ${host.id} gets ${inc} KiB more but had ${room} KiB headroom` });
  }
  return out;
}
