// A plan as text: an aligned table for people, JSON for scripts. JSON keeps
// ids as numbers and the target as an object keyed by VM id, since Maps do not
// survive JSON.stringify.
import type { Cluster, Plan } from './model';

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
export function planToTable(plan: Plan, cluster?: Cluster): string {
  const hostName = new Map(cluster?.hosts.map((h) => [h.id, h.name]) ?? []);
  const vmName = new Map(cluster?.vms.map((v) => [v.id, v.name]) ?? []);
  const label = (id: number, names: Map<number, string>) => (names.has(id) ? `${id} ${names.get(id)}` : String(id));
  const migrations = plan.waves.reduce((n, w) => n + w.length, 0);
  const lines = [`plan ${plan.strategy}: ${migrations} migrations in ${plan.waves.length} waves, ${gib(plan.totalCost)} to move (dry run)`];
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
