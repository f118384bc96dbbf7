// Placement planning, each figure beside its reference measured in the same
// run on the same clusters:
// - consolidation at the scale BtrPlace reports (5,000 hosts, 30,000 VMs,
//   about 3 minutes there), timed, on identical and on mixed-size hosts;
// - hosts used against the lower bound (fewest hosts whose capacities cover
//   the demand, largest first), against the previous algorithm and against
//   first-fit decreasing into the largest hosts (which ignores where VMs run,
//   so it moves far more of them);
// - on small instances, hosts used against the exhaustive optimum;
// - balance: spread (fullest − emptiest host) versus the migration budget k,
//   against the previous algorithm, and on small instances against the best
//   spread any k moves reach.
import { fewestHosts, kMoveSpread, spreadOf } from '../test/lib/planning/optimum';
import { checkPlan } from '../lib/planning/checker';
import { hostLowerBound, hostsUsed, indexCluster, whereOf } from '../lib/planning/indexed';
import { makePlan } from '../lib/planning/make-plan';
import { defaultConstraints, type Cluster, type Constraints, type Host, type Placement, type Vm } from '../lib/planning/model';
import { balance } from '../lib/planning/strategies/balance';
import { consolidate } from '../lib/planning/strategies/consolidate';
import { seededRandom } from '../lib/random';
import { previousBalance } from './planning-previous/balance';
import { previousConsolidate } from './planning-previous/consolidate';

const TARGET_SECONDS = 10;
const TARGET_HOST_RATIO = 1.05;
const GiB = 1024;
const UNIFORM = [128];
const MIXED = [128, 192, 256];

// Flavours as clouds sell them: (memory GiB, vCPUs, share of VMs).
const FLAVOURS: ReadonlyArray<readonly [number, number, number]> = [
  [1, 1, 0.2],
  [2, 1, 0.2],
  [4, 2, 0.25],
  [8, 2, 0.2],
  [16, 4, 0.1],
  [32, 8, 0.05],
];

/**
 * Hosts of the given sizes (GiB, drawn at random; 32 cores per 128 GiB);
 * VMs use 40–100 % of their flavour after ballooning plus a small reserved
 * amount; CPU requests at half a core per vCPU or less, as memory is the
 * resource a memory-oversubscribed cloud runs out of. Each host gets a random
 * fill weight, so some are nearly full and many nearly empty.
 */
export function generateCluster(random: () => number, hostCount: number, vmCount: number, sizesGiB: readonly number[] = UNIFORM): { cluster: Cluster; constraints: Constraints } {
  const hosts: Host[] = Array.from({ length: hostCount }, (_, i) => {
    const gib = sizesGiB[Math.floor(random() * sizesGiB.length)]!;
    return { id: i, name: `kvm-${i}`, memMiB: gib * GiB, cpu: gib * 25, enabled: true };
  });
  const constraints: Constraints = { ...defaultConstraints, reserve: { memMiB: 4_096, cpu: 100 } };
  const capMem = hosts.map((h) => h.memMiB - 4_096);
  const capCpu = hosts.map((h) => h.cpu - 100);
  const weight = hosts.map(() => random() ** 2);
  const cumulative: number[] = [];
  weight.reduce((sum, w, i) => (cumulative[i] = sum + w), 0);
  const total = cumulative[cumulative.length - 1]!;
  const loadMem = new Float64Array(hostCount);
  const loadCpu = new Float64Array(hostCount);
  const vms: Vm[] = [];
  const placement = new Map<number, number>();
  for (let id = 0; id < vmCount; id++) {
    let pick = random();
    let flavour = FLAVOURS[0]!;
    for (const f of FLAVOURS) {
      flavour = f;
      if ((pick -= f[2]) < 0) break;
    }
    const memMiB = Math.round(flavour[0] * GiB * (0.4 + 0.6 * random())) + 256 * (1 + Math.floor(random() * 4));
    const cpu = Math.max(5, Math.round(flavour[1] * 50 * (0.2 + 0.8 * random())));
    let host = -1;
    for (let attempt = 0; attempt < 50 && host < 0; attempt++) {
      const r = random() * total;
      let lo = 0;
      let hi = hostCount - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cumulative[mid]! < r) lo = mid + 1;
        else hi = mid;
      }
      if (loadMem[lo]! + memMiB <= capMem[lo]! && loadCpu[lo]! + cpu <= capCpu[lo]!) host = lo;
    }
    if (host < 0) host = loadMem.indexOf(Math.min(...loadMem));
    loadMem[host]! += memMiB;
    loadCpu[host]! += cpu;
    vms.push({ id, name: `vm-${id}`, memMiB, cpu, dirtyMiBps: Math.round(random() * 100) });
    placement.set(id, host);
  }
  return { cluster: { hosts, vms, placement }, constraints };
}

/** 3–8 hosts of 8/12/16 GiB (or 16 only), 6–16 VMs of 1–8 GiB placed at random where they fit: small enough for the exhaustive searches. */
function smallCluster(random: () => number, mixed: boolean): { cluster: Cluster; constraints: Constraints } {
  const hostCount = 3 + Math.floor(random() * 6);
  const vmCount = 6 + Math.floor(random() * 11);
  const sizes = mixed ? [8, 12, 16] : [16];
  const hosts: Host[] = Array.from({ length: hostCount }, (_, i) => {
    const gib = sizes[Math.floor(random() * sizes.length)]!;
    return { id: i, name: `h${i}`, memMiB: gib * GiB, cpu: gib * 100, enabled: true };
  });
  const load = hosts.map(() => 0);
  const vms: Vm[] = [];
  const placement = new Map<number, number>();
  for (let id = 0; id < vmCount; id++) {
    const memMiB = [1, 2, 3, 4, 6, 8][Math.floor(random() * 6)]! * GiB;
    const fitting = hosts.filter((h, i) => load[i]! + memMiB <= h.memMiB);
    if (fitting.length === 0) continue;
    const h = fitting[Math.floor(random() * fitting.length)]!;
    load[h.id]! += memMiB;
    vms.push({ id, name: `v${id}`, memMiB, cpu: 100 });
    placement.set(id, h.id);
  }
  return { cluster: { hosts, vms, placement }, constraints: { ...defaultConstraints } };
}

/**
 * Reference packing: pinned VMs stay, every other VM goes first-fit, largest
 * first (dominant resource), into the receiving hosts taken largest first.
 * Ignores the current placement entirely.
 */
function firstFitDecreasingLargest(cluster: Cluster, constraints: Constraints): Placement {
  const cap = (h: Host) => [h.memMiB - constraints.reserve.memMiB, h.cpu - constraints.reserve.cpu] as const;
  const hosts = cluster.hosts.filter((h) => h.enabled && !constraints.excludedHosts.includes(h.id)).sort((a, b) => b.memMiB - a.memMiB || b.cpu - a.cpu);
  const refMem = Math.max(...hosts.map((h) => cap(h)[0]));
  const refCpu = Math.max(...hosts.map((h) => cap(h)[1]));
  const used = new Map<number, [number, number]>(cluster.hosts.map((h) => [h.id, [0, 0]]));
  const out = new Map<number, number>();
  const put = (vm: Vm, hostId: number) => {
    const u = used.get(hostId)!;
    u[0] += vm.memMiB;
    u[1] += vm.cpu;
    out.set(vm.id, hostId);
  };
  const stays = (vm: Vm) => constraints.pinnedVms.includes(vm.id) || !hosts.some((h) => h.id === cluster.placement.get(vm.id));
  for (const vm of cluster.vms) if (stays(vm)) put(vm, cluster.placement.get(vm.id)!);
  const rest = cluster.vms.filter((vm) => !stays(vm)).sort((a, b) => Math.max(b.memMiB / refMem, b.cpu / refCpu) - Math.max(a.memMiB / refMem, a.cpu / refCpu));
  for (const vm of rest) {
    const host = hosts.find((h) => used.get(h.id)![0] + vm.memMiB <= cap(h)[0] && used.get(h.id)![1] + vm.cpu <= cap(h)[1]);
    put(vm, host ? host.id : cluster.placement.get(vm.id)!);
  }
  return out;
}

const hostsIn = (placement: Placement) => new Set(placement.values()).size;
const movedIn = (cluster: Cluster, placement: Placement) => [...placement].filter(([v, h]) => cluster.placement.get(v) !== h).length;
const out = (text: string) => process.stdout.write(`${text}\n`);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function scale(label: string, sizes: readonly number[], seed: number): void {
  const { cluster, constraints } = generateCluster(seededRandom(seed), 5_000, 30_000, sizes);
  const started = performance.now();
  const plan = makePlan(cluster, consolidate, consolidate.defaults, constraints);
  const seconds = (performance.now() - started) / 1000;
  const ix = indexCluster(cluster, constraints);
  const used = hostsUsed(ix, whereOf(ix, plan.target));
  const bound = hostLowerBound(ix);
  const migrations = plan.waves.reduce((n, w) => n + w.length, 0);
  const violations = checkPlan(cluster, plan, constraints, plan.target);
  const line = (name: string, value: string, ratio: number, target: string) =>
    out(`  ${name.padEnd(32)} ${value.padStart(22)}   ratio ${ratio.toFixed(3)} of target ${target} ${ratio <= 1 ? '(met)' : '(MISSED)'}`);
  out(`${label}: 5000 hosts, 30000 VMs, ${hostsUsed(ix, ix.home)} hosts in use; ${migrations} migrations in ${plan.waves.length} waves`);
  line('plan + sequence time', `${seconds.toFixed(2)} s`, seconds / TARGET_SECONDS, `${TARGET_SECONDS} s`);
  line('hosts used / lower bound', `${used} / ${bound} = ${(used / bound).toFixed(3)}`, used / bound / TARGET_HOST_RATIO, `${TARGET_HOST_RATIO}×`);
  out(`  checker: ${violations.length === 0 ? 'plan valid' : `${violations.length} violations, first: ${violations[0]!.message}`}${plan.infeasible ? `; infeasible: ${plan.infeasible.message}` : ''}`);
}

function consolidationTable(): void {
  out('\nconsolidation, hosts used (migrations); ratio = hosts / lower bound');
  out(`  ${'cluster'.padEnd(30)} ${'bound'.padStart(6)} ${'cloudvamp'.padStart(20)} ${'previous'.padStart(20)} ${'FFD largest first'.padStart(20)}`);
  const cases: Array<[string, readonly number[], number, number]> = [
    ['uniform 128 GiB', UNIFORM, 8, 40],
    ['uniform 128 GiB', UNIFORM, 50, 400],
    ['uniform 128 GiB', UNIFORM, 200, 1_500],
    ['uniform 128 GiB', UNIFORM, 5_000, 30_000],
    ['mixed 128/192/256 GiB', MIXED, 8, 40],
    ['mixed 128/192/256 GiB', MIXED, 50, 400],
    ['mixed 128/192/256 GiB', MIXED, 200, 1_500],
    ['mixed 128/192/256 GiB', MIXED, 5_000, 30_000],
  ];
  for (const [label, sizes, hostCount, vmCount] of cases) {
    const { cluster, constraints } = generateCluster(seededRandom(hostCount * 7 + vmCount), hostCount, vmCount, sizes);
    const bound = hostLowerBound(indexCluster(cluster, constraints));
    const cell = (placement: Placement) => {
      const used = hostsIn(placement);
      return `${used} (${movedIn(cluster, placement)}) ${(used / bound).toFixed(3)}x`;
    };
    const now = consolidate.plan(cluster, consolidate.defaults, constraints).placement;
    const before = previousConsolidate.plan(cluster, previousConsolidate.defaults, constraints).placement;
    const ffd = firstFitDecreasingLargest(cluster, constraints);
    out(`  ${`${label}, ${hostCount}/${vmCount}`.padEnd(30)} ${String(bound).padStart(6)} ${cell(now).padStart(20)} ${cell(before).padStart(20)} ${cell(ffd).padStart(20)}`);
  }
}

function smallConsolidation(mixed: boolean): void {
  const random = seededRandom(mixed ? 1212 : 1213);
  const tally = { now: [0, 0, 0], previous: [0, 0, 0], ffd: [0, 0, 0] } as Record<string, number[]>;
  let instances = 0;
  for (let i = 0; i < 300; i++) {
    const { cluster, constraints } = smallCluster(random, mixed);
    const optimum = fewestHosts(cluster, constraints);
    if (optimum === undefined) throw new Error('exhaustive search ran out of budget; shrink smallCluster');
    instances++;
    const record = (key: string, placement: Placement) => {
      const gap = hostsIn(placement) - optimum;
      tally[key]![Math.min(gap, 2)]!++;
    };
    record('now', consolidate.plan(cluster, consolidate.defaults, constraints).placement);
    record('previous', previousConsolidate.plan(cluster, previousConsolidate.defaults, constraints).placement);
    record('ffd', firstFitDecreasingLargest(cluster, constraints));
  }
  const cell = (t: number[]) => `${t[0]} / ${t[1]} / ${t[2]}`.padStart(20);
  out(`  ${`${mixed ? 'mixed 8/12/16 GiB' : 'uniform 16 GiB'}, ${instances} clusters`.padEnd(30)} ${cell(tally.now!)} ${cell(tally.previous!)} ${cell(tally.ffd!)}`);
}

function balanceVersusK(label: string, sizes: readonly number[], hostCount: number, vmCount: number, ks: readonly number[]): void {
  const { cluster, constraints } = generateCluster(seededRandom(hostCount * 13 + vmCount), hostCount, vmCount, sizes);
  out(`  ${label}, ${hostCount} hosts / ${vmCount} VMs, spread before ${pct(spreadOf(cluster, constraints, cluster.placement))}`);
  for (const k of ks) {
    const started = performance.now();
    const now = balance.plan(cluster, { maxMigrations: k }, constraints).placement;
    const ms = performance.now() - started;
    const before = previousBalance.plan(cluster, { maxMigrations: k }, constraints).placement;
    out(
      `    k=${String(k).padEnd(4)} cloudvamp ${pct(spreadOf(cluster, constraints, now)).padStart(6)} (${String(movedIn(cluster, now)).padStart(3)} moves, ${ms.toFixed(0).padStart(5)} ms)` +
        `   previous ${pct(spreadOf(cluster, constraints, before)).padStart(6)} (${String(movedIn(cluster, before)).padStart(3)} moves)`,
    );
  }
}

function smallBalance(k: number): void {
  const random = seededRandom(4000 + k);
  let now = 0;
  let before = 0;
  let optimum = 0;
  let atOptimum = 0;
  const count = 150;
  for (let i = 0; i < count; i++) {
    const { cluster, constraints } = smallCluster(random, true);
    const best = kMoveSpread(cluster, constraints, k);
    const mine = spreadOf(cluster, constraints, balance.plan(cluster, { maxMigrations: k }, constraints).placement);
    now += mine;
    before += spreadOf(cluster, constraints, previousBalance.plan(cluster, { maxMigrations: k }, constraints).placement);
    optimum += best;
    if (mine <= best + 1e-9) atOptimum++;
  }
  out(
    `  k=${k}: mean spread cloudvamp ${pct(now / count)}, previous ${pct(before / count)}, k-move optimum ${pct(optimum / count)}; cloudvamp at the optimum on ${atOptimum}/${count}`,
  );
}

/**
 * Sharing-aware consolidation on simulated clusters: each VM started from one
 * of 20 images, a few popular (image k drawn with weight 1/(k+1)). Reports
 * hosts used and how many VMs end beside another VM of their image (what KSM
 * can merge), with and without --sharing, at equal safety (both checked).
 */
function sharing(label: string, sizes: readonly number[], hostCount: number, vmCount: number): void {
  const random = seededRandom(hostCount * 31 + vmCount);
  const { cluster, constraints } = generateCluster(random, hostCount, vmCount, sizes);
  const weights = Array.from({ length: 20 }, (_, k) => 1 / (k + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const pick = () => {
    let r = random() * total;
    for (let k = 0; k < weights.length; k++) if ((r -= weights[k]!) < 0) return k;
    return weights.length - 1;
  };
  const withImages: Cluster = { ...cluster, vms: cluster.vms.map((v) => ({ ...v, imageIds: [pick()] })) };
  const besideTwin = (placement: Placement) => {
    const seen = new Map<string, number>();
    for (const v of withImages.vms) {
      const key = `${placement.get(v.id)}/${v.imageIds![0]}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    return [...seen.values()].filter((n) => n > 1).reduce((a, n) => a + n, 0);
  };
  const cell = (args: typeof consolidate.defaults) => {
    const plan = makePlan(withImages, consolidate, args, constraints);
    const ok = checkPlan(withImages, plan, constraints, plan.target).length === 0 && !plan.infeasible;
    return `${hostsIn(plan.target)} hosts, ${besideTwin(plan.target)} VMs beside a twin, ${movedIn(withImages, plan.target)} moves${ok ? '' : ' (CHECK FAILED)'}`;
  };
  out(`  ${`${label}, ${hostCount}/${vmCount}`.padEnd(30)} before: ${hostsIn(withImages.placement)} hosts, ${besideTwin(withImages.placement)} beside a twin`);
  out(`  ${''.padEnd(30)} first fit:      ${cell(consolidate.defaults)}`);
  out(`  ${''.padEnd(30)} --sharing:      ${cell({ ...consolidate.defaults, sharing: 1 })}`);
}

export async function run(): Promise<void> {
  scale('uniform 128 GiB hosts', UNIFORM, 20240605);
  scale('mixed 128/192/256 GiB hosts', MIXED, 20240606);
  consolidationTable();
  out('\nconsolidation on small clusters against the exhaustive optimum: clusters at optimum / +1 host / +2 or more');
  out(`  ${''.padEnd(30)} ${'cloudvamp'.padStart(20)} ${'previous'.padStart(20)} ${'FFD largest first'.padStart(20)}`);
  smallConsolidation(false);
  smallConsolidation(true);
  out('\nbalance: spread (fullest − emptiest host, dominant resource) versus the migration budget k');
  balanceVersusK('uniform', UNIFORM, 10, 60, [1, 2, 5, 10, 20, 41]);
  balanceVersusK('mixed', MIXED, 10, 60, [1, 2, 5, 10, 20, 41]);
  balanceVersusK('uniform', UNIFORM, 200, 1_500, [10, 50, 200]);
  balanceVersusK('mixed', MIXED, 200, 1_500, [10, 50, 200]);
  out('\nbalance on small mixed clusters (3-8 hosts, 6-16 VMs) against the best spread any k moves reach');
  for (const k of [1, 2, 3]) smallBalance(k);
  out('\nconsolidate with and without --sharing (20 images, a few popular)');
  sharing('uniform 128 GiB', UNIFORM, 200, 1_500);
  sharing('mixed 128/192/256 GiB', MIXED, 200, 1_500);
}
