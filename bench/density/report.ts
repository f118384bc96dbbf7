// One density run as text for the terminal (the full run's markdown and
// curve are suite-report.ts). Pure.
import { GOALS, type DensityRun } from './index';
import type { SchemeResult } from './simulate';

const GiB = 1024 * 1024;
const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const pct = (x: number, digits = 2) => `${fmt(x * 100, digits)} %`;
const group = (n: number) => Math.round(n).toLocaleString('en-US').replace(/,/g, ' ');

function rows(run: DensityRun): string[][] {
  const none = run.results.find((r) => r.scheme === 'none');
  const stat = run.results.find((r) => r.scheme === 'static-1.5');
  const header = [
    'scheme',
    'VMs / host',
    '× none',
    '× static 1.5',
    'requested GiB / host',
    'reclaimed (mean)',
    'starvation VM-s',
    'starvation %',
    'of which swapping',
    'free < 20 MB %',
    'overload events',
    'overloaded host-h',
    'balloon changes',
    'migrations',
    'GiB moved',
    'RESERVED_MEM writes (mean reserve / host)',
  ];
  const body = run.results.map((r: SchemeResult) => [
    r.label,
    fmt(r.admittedPerHost),
    none ? fmt(r.admitted / none.admitted, 2) : '–',
    stat ? fmt(r.admitted / stat.admitted, 2) : '–',
    fmt(r.admittedRequestedKiB / GiB / run.options.hosts),
    `${pct(r.reclaimedShare, 1)} (${fmt(r.reclaimedKiB / GiB, 0)} GiB)`,
    group(r.starvingVmSeconds),
    pct(r.starvingVmSeconds / Math.max(1, r.vmSeconds), 3),
    group(r.swapVmSeconds),
    pct(r.severeVmSeconds / Math.max(1, r.vmSeconds), 3),
    String(r.overloadEvents),
    fmt(r.overloadHostSeconds / 3600, 1),
    group(r.memoryChanges),
    `${r.migrations}${r.hotspotMigrations ? ` (${r.hotspotMigrations} hotspot)` : ''}`,
    fmt(r.migratedKiB / GiB, 0),
    r.reserveWrites ? `${group(r.reserveWrites)} (${fmt(r.meanReserveKiB / GiB, 1)} GiB)` : '–',
  ]);
  return [header, ...body];
}

/** The table for a terminal: aligned columns, a few of them. */
export function textTable(run: DensityRun): string {
  const all = rows(run);
  const keep = [0, 1, 2, 3, 5, 7, 10, 13, 14];
  const table = all.map((r) => keep.map((i) => r[i]!));
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  return table.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

export function goalsText(run: DensityRun): string {
  const g = run.goals;
  const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');
  return [
    `VMs admitted vs no overcommit: ${fmt(g.vsNone, 2)}× (goal ≥ ${GOALS.vsNone}×: ${mark(g.met.vsNone)})`,
    `VMs admitted vs static 1.5:    ${fmt(g.vsStatic, 2)}× (goal ≥ ${GOALS.vsStatic}×: ${mark(g.met.vsStatic)})`,
    `starvation:                    ${pct(g.starvationShare, 3)} of VM-seconds (goal ≤ ${pct(GOALS.starvationShare, 1)}: ${mark(g.met.starvation)})`,
  ].join('\n');
}
