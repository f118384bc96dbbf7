// A plan as text: an aligned table for people, JSON for scripts. JSON keeps
// ids as numbers and the target as an object keyed by VM id, since Maps do not
// survive JSON.stringify.
import type { ApplyEvent, ApplyReport } from './apply';
import type { Cluster, Move, Plan } from './model';

const gib = (mib: number) => `${(mib / 1024).toFixed(1)} GiB`;

export function planToJson(plan: Plan): string {
  const target: Record<string, number> = {};
  for (const [vm, host] of plan.target) target[String(vm)] = host;
  return JSON.stringify(
    {
      strategy: plan.strategy,
      feasible: !plan.infeasible,
      waves: plan.waves.map((wave) => wave.map((m) => ({ vm: m.vm, from: m.from, to: m.to, cost: m.cost, ...(m.staging ? { staging: true } : {}) }))),
      migrations: plan.waves.reduce((n, w) => n + w.length, 0),
      totalCost: plan.totalCost,
      notes: plan.notes,
      unresolved: plan.unresolved,
      ...(plan.infeasible ? { infeasible: plan.infeasible } : {}),
      target,
    },
    null,
    2,
  );
}

/** Names come from the cluster when it is given, so the table reads like Sunstone. */
export function planToTable(plan: Plan, cluster?: Cluster, mode: 'dry run' | 'applying' = 'dry run'): string {
  const hostName = new Map(cluster?.hosts.map((h) => [h.id, h.name]) ?? []);
  const vmName = new Map(cluster?.vms.map((v) => [v.id, v.name]) ?? []);
  const label = (id: number, names: Map<number, string>) => (names.has(id) ? `${id} ${names.get(id)}` : String(id));
  const migrations = plan.waves.reduce((n, w) => n + w.length, 0);
  const lines = [`plan ${plan.strategy}: ${migrations} migrations in ${plan.waves.length} waves, ${gib(plan.totalCost)} to move (${mode})`];
  for (const note of plan.notes) lines.push(`  ${note}`);
  if (plan.waves.length > 0) {
    const rows = [['wave', 'vm', 'from', 'to', 'cost', '']];
    plan.waves.forEach((wave, i) => {
      for (const m of wave) rows.push([String(i + 1), label(m.vm, vmName), label(m.from, hostName), label(m.to, hostName), gib(m.cost), m.staging ? 'staging' : '']);
    });
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    lines.push('');
    for (const row of rows) lines.push(row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
  }
  for (const u of plan.unresolved) lines.push(`unresolved (${u.reason}): ${u.message}`);
  if (plan.infeasible) lines.push(`infeasible (${plan.infeasible.reason}): ${plan.infeasible.message}`);
  return lines.join('\n');
}

/** A progress line for one applier event; `elapsedMs` since the apply started, `moveMs` since the move started. */
export function progressLine(event: ApplyEvent, elapsedMs: number, cluster?: Cluster, moveMs?: number): string {
  const hostName = new Map(cluster?.hosts.map((h) => [h.id, h.name]) ?? []);
  const vmName = new Map(cluster?.vms.map((v) => [v.id, v.name]) ?? []);
  const host = (id: number) => (hostName.has(id) ? `${id} ${hostName.get(id)}` : String(id));
  const stamp = `[${seconds(elapsedMs).padStart(7)}]`;
  if (event.type === 'wave-start') return `${stamp} wave ${event.wave}/${event.waves}: ${event.moves} migration${event.moves === 1 ? '' : 's'}`;
  const m = event.move;
  const what = `VM ${m.vm}${vmName.has(m.vm) ? ` ${vmName.get(m.vm)}` : ''}: ${host(m.from)} → ${host(m.to)}`;
  const took = moveMs === undefined ? '' : ` after ${seconds(moveMs)}`;
  if (event.type === 'move-start') return `${stamp} ${what} started`;
  if (event.type === 'move-done') return `${stamp} ${what} done${took}`;
  return `${stamp} ${what} FAILED${took}: ${event.reason}`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function reportToJson(report: ApplyReport): object {
  const move = (m: Move) => ({ vm: m.vm, from: m.from, to: m.to });
  return {
    done: report.done.map(move),
    failed: report.failed.map((f) => ({ ...move(f.move), reason: f.reason })),
    notStarted: report.notStarted.map(move),
    ...(report.stoppedAtWave !== undefined ? { stoppedAtWave: report.stoppedAtWave, stopReason: report.stopReason } : {}),
  };
}
