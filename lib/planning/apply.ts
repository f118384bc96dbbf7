// Executes a plan wave by wave against the live cloud. The plan was made on a
// snapshot that ages while it runs, so before each wave the applier reads fresh
// state and re-checks every move's precondition (the VM is where the plan says,
// the destination may receive and has room for the whole wave's arrivals). It
// stops at the first failed check or migration, lets the moves already running
// finish, and reports what was done, what failed and what never started.
// The loop is the one both appliers use (lib/step-runner.ts), one step per wave.
import { oneLineMessage } from '../errors';
import { runSteps } from '../step-runner';
import type { Cluster, Constraints, HostId, Move, Plan, VmId } from './model';

/** The outside world the applier needs; oned implements it, tests use an in-memory double. */
export interface ClusterGateway {
  fetchCluster(): Promise<Cluster>;
  migrate(vmId: VmId, hostId: HostId, live: true): Promise<void>;
}

export type ApplyEvent =
  | { type: 'wave-start'; wave: number; waves: number; moves: number }
  | { type: 'move-start'; wave: number; move: Move }
  | { type: 'move-done'; wave: number; move: Move }
  | { type: 'move-failed'; wave: number; move: Move; reason: string };

export interface ApplyReport {
  done: Move[];
  failed: Array<{ move: Move; reason: string }>;
  notStarted: Move[];
  /** 1-based wave where it stopped, and why; absent when every wave ran. */
  stoppedAtWave?: number;
  stopReason?: string;
}

export async function applyPlan(
  plan: Pick<Plan, 'waves' | 'infeasible'>,
  gateway: ClusterGateway,
  constraints: Constraints,
  onEvent: (event: ApplyEvent) => void = () => {},
): Promise<ApplyReport> {
  const report: ApplyReport = { done: [], failed: [], notStarted: [] };
  if (plan.infeasible) return report;
  const waves = plan.waves.map((moves, i) => ({ moves, no: i + 1 }));
  type WaveStep = (typeof waves)[number];
  const stopHere = (wave: WaveStep, reason: string) => {
    report.stoppedAtWave = wave.no;
    report.stopReason = reason;
  };
  // One step per wave: one read, every move re-checked together (they share
  // the destinations' room), the moves run concurrently; the first refusal or
  // failed migration stops the run (lib/step-runner.ts).
  await runSteps<WaveStep, Cluster, Map<Move, string>, Array<PromiseSettledResult<void>>>(waves, {
    onFailure: 'stop',
    read: (wave) => {
      onEvent({ type: 'wave-start', wave: wave.no, waves: plan.waves.length, moves: wave.moves.length });
      return gateway.fetchCluster();
    },
    recheck: (wave, fresh) => {
      const refusals = preconditionFailures(fresh, wave.moves, constraints);
      return refusals.size > 0 ? refusals : undefined;
    },
    act: (wave) =>
      Promise.allSettled(
        wave.moves.map((move) => {
          onEvent({ type: 'move-start', wave: wave.no, move });
          return gateway.migrate(move.vm, move.to, true);
        }),
      ),
    succeeded: (results) => results.every((r) => r.status === 'fulfilled'),
    record: (outcome) => {
      const wave = outcome.step;
      const failed = (move: Move, reason: string) => {
        report.failed.push({ move, reason });
        onEvent({ type: 'move-failed', wave: wave.no, move, reason });
      };
      switch (outcome.kind) {
        case 'unread':
          report.notStarted.push(...wave.moves);
          stopHere(wave, `could not read the cluster before wave ${wave.no}: ${oneLineMessage(outcome.error)}`);
          return;
        case 'refused':
          for (const move of wave.moves) {
            const reason = outcome.refusal.get(move);
            if (reason) failed(move, reason);
            else report.notStarted.push(move);
          }
          stopHere(wave, 'a precondition no longer holds');
          return;
        case 'acted':
          outcome.result.forEach((result, k) => {
            const move = wave.moves[k]!;
            if (result.status === 'fulfilled') {
              report.done.push(move);
              onEvent({ type: 'move-done', wave: wave.no, move });
            } else failed(move, oneLineMessage(result.reason));
          });
          if (!outcome.ok) stopHere(wave, 'a migration failed');
          return;
        case 'not-started':
          report.notStarted.push(...wave.moves);
          return;
        // allSettled never rejects, and the planner has neither `blocked` nor `shouldStop`.
        case 'failed':
        case 'blocked':
        case 'stopped':
          throw new Error(`internal: the planner's applier got a ${outcome.kind} wave`);
      }
    },
  });
  return report;
}

/** The moves of a wave that must not start on this state, with why. */
export function preconditionFailures(cluster: Cluster, wave: readonly Move[], constraints: Constraints): Map<Move, string> {
  const hosts = new Map(cluster.hosts.map((h) => [h.id, h]));
  const vms = new Map(cluster.vms.map((v) => [v.id, v]));
  const excluded = new Set(constraints.excludedHosts);
  const pinned = new Set(constraints.pinnedVms);
  const load = new Map<HostId, { mem: number; cpu: number }>();
  for (const [vmId, hostId] of cluster.placement) {
    const vm = vms.get(vmId);
    if (!vm) continue;
    const l = load.get(hostId) ?? { mem: 0, cpu: 0 };
    l.mem += vm.memMiB;
    l.cpu += vm.cpu;
    load.set(hostId, l);
  }
  const failures = new Map<Move, string>();
  for (const move of wave) {
    const vm = vms.get(move.vm);
    const to = hosts.get(move.to);
    const now = cluster.placement.get(move.vm);
    if (!vm || now === undefined) failures.set(move, `VM ${move.vm} no longer exists`);
    else if (now !== move.from) failures.set(move, `VM ${move.vm} is now on host ${now}, not ${move.from}: take a fresh plan`);
    else if (pinned.has(move.vm)) failures.set(move, `VM ${move.vm} is pinned`);
    else if (!to) failures.set(move, `host ${move.to} no longer exists`);
    else if (!to.enabled || excluded.has(to.id)) failures.set(move, `host ${move.to} is now disabled or excluded`);
    if (failures.has(move) || !vm || !to) continue;
    const l = load.get(to.id) ?? { mem: 0, cpu: 0 };
    l.mem += vm.memMiB;
    l.cpu += vm.cpu;
    load.set(to.id, l);
  }
  // Demand may have grown since the plan: each destination must still hold its load plus every arrival of the wave.
  for (const move of wave) {
    if (failures.has(move)) continue;
    const to = hosts.get(move.to)!;
    const l = load.get(to.id)!;
    const capMem = to.memMiB - constraints.reserve.memMiB;
    const capCpu = to.cpu - constraints.reserve.cpu;
    if (l.mem > capMem + 1e-6 || l.cpu > capCpu + 1e-6) {
      failures.set(move, `host ${to.id} would hold ${Math.round(l.mem)} MiB / ${l.cpu} CPU with this wave, capacity after reserve ${capMem} MiB / ${capCpu} CPU`);
    }
  }
  return failures;
}

export function describeReport(report: ApplyReport): string {
  const line = (m: Move) => `VM ${m.vm}: host ${m.from} → ${m.to}`;
  const lines = [`${report.done.length} migrations done, ${report.failed.length} failed, ${report.notStarted.length} not started`];
  for (const f of report.failed) lines.push(`failed: ${line(f.move)}: ${f.reason}`);
  if (report.stoppedAtWave !== undefined) lines.push(`stopped at wave ${report.stoppedAtWave} (${report.stopReason}); the VMs done are where the plan put them, the rest are where they were — plan again from fresh state`);
  return lines.join('\n');
}
