// The elasticity policy's entry points: one cycle's plan (planCycle) and the
// operator's restore-all (planRestore), from a snapshot, the state, the config
// and `now` to plain data. Nothing here reads a clock, a file or the network.
// Each VM gets the per-VM rule's decision (vm-rule.ts); then the grows are
// settled host by host against the host ledger (host-ledger.ts, host-relief.ts),
// the host with the most urgent grow first. plan-check.ts checks the result
// independently.

import type { ElasticityConfig } from './config';
import { newLedger, type HostLedger } from './host-ledger';
import { decideHost, urgency, type Migration } from './host-relief';
import { isMoveBack, migrationBudget } from './migration-budget';
import { lendPeakRoom } from './peak-lend';
import { heldKiB } from './precheck';
import type { ClusterView } from './ports';
import type { ElasticityState } from './state';
import { mib } from './units';
import { decideVm, type VmDecision } from './vm-rule';

export interface CyclePlan {
  decisions: VmDecision[];
  migrations: Migration[];
}

function settleHosts(
  view: ClusterView,
  decisions: VmDecision[],
  ledger: HostLedger,
  opts: { force?: boolean } = {},
): CyclePlan {
  const growsByHost = new Map<number, VmDecision[]>();
  for (const d of decisions) {
    if (d.action !== 'grow' || d.hostId === null) continue;
    const list = growsByHost.get(d.hostId) ?? [];
    list.push(d);
    growsByHost.set(d.hostId, list);
    ledger.pinned.add(d.vmId);
  }
  for (const vm of view.vms) if (!vm.running) ledger.pinned.add(vm.id);
  // Hosts with the most urgent grow first: they get first pick of destinations.
  const order = [...growsByHost.entries()]
    .map(([hostId, grows]) => ({ hostId, grows, top: grows.reduce((m, d) => (urgency(d, m) < 0 ? d : m)) }))
    .sort((a, b) => urgency(a.top, b.top));
  const settled = new Map<number, VmDecision>();
  const migrations: Migration[] = [];
  for (const { hostId, grows } of order) {
    const result = decideHost(hostId, grows, ledger, opts);
    for (const d of result.decisions) settled.set(d.vmId, d);
    if (result.migration) migrations.push(result.migration);
  }
  const moved = new Map(migrations.map((m) => [m.vmId, m]));
  const out = decisions.map((d) => {
    const s = settled.get(d.vmId);
    if (s) return s;
    const m = moved.get(d.vmId);
    if (m && d.action !== 'none') {
      return { ...d, action: 'none' as const, targetKiB: d.fromKiB, reason: `moving to host ${m.toHostId} this cycle; ${d.reason}` };
    }
    return d;
  });
  return { decisions: out, migrations };
}

/** One cycle's plan: every VM's decision, settled against its host's capacity. */
export function planCycle(view: ClusterView, state: ElasticityState, config: ElasticityConfig, now: number): CyclePlan {
  const decisions = view.vms.map((vm) => decideVm(vm, state.vms[String(vm.id)], config, now));
  const ledger = newLedger(
    view,
    config,
    (hostId) => {
      const last = state.hosts[String(hostId)]?.lastMigrationAt;
      return last === undefined || now - last >= config.migrationCooldownMs;
    },
    {
      budget: migrationBudget(state, view.hosts.map((h) => h.id), config, now),
      mayMoveTo: (vmId, hostId) => !isMoveBack(state, vmId, hostId, config, now),
    },
  );
  const plan = settleHosts(view, decisions, ledger);
  return { ...plan, decisions: lendPeakRoom(view, decisions, plan.decisions, plan.migrations, state, config, now) };
}

/**
 * restore-all: every running VM back to its original size, still never
 * overloading a host unless forced (relief migrations ignore the cooldown:
 * this is the operator's kill switch).
 */
export function planRestore(view: ClusterView, state: ElasticityState, config: ElasticityConfig, opts: { force?: boolean } = {}): CyclePlan {
  const decisions: VmDecision[] = view.vms.map((vm) => {
    const originalKiB = state.vms[String(vm.id)]?.originalKiB ?? vm.templateMemoryKiB;
    const held = heldKiB(vm);
    const base = { vmId: vm.id, hostId: vm.hostId, fromKiB: held, originalKiB, starving: false, strikes: 0 };
    if (!vm.running || vm.hostId === null) return { ...base, action: 'none', targetKiB: held, reason: 'not running' };
    if (held >= originalKiB)
      return { ...base, action: 'none', targetKiB: held, reason: `already at its original ${mib(originalKiB)}` };
    return { ...base, action: 'grow', restore: true, targetKiB: originalKiB, reason: `restore: ${mib(held)} → original ${mib(originalKiB)}` };
  });
  return settleHosts(view, decisions, newLedger(view, config, () => true), opts);
}
