// Consolidation at the scale BtrPlace reports (5,000 hosts, 30,000 VMs, about
// 3 minutes there): target placement plus migration sequence, timed on this
// machine, and the number of hosts used against the lower bound ⌈Σ demand /
// capacity⌉. Prints each figure as a ratio to its target (≤ 1 meets it).
import { checkPlan } from '../lib/planning/checker';
import { hostLowerBound, hostsUsed, indexCluster, whereOf } from '../lib/planning/indexed';
import { makePlan } from '../lib/planning/make-plan';
import { defaultConstraints, type Cluster, type Constraints, type Host, type Vm } from '../lib/planning/model';
import { consolidate } from '../lib/planning/strategies/consolidate';
import { seededRandom } from '../lib/random';

const HOSTS = 5_000;
const VMS = 30_000;
const TARGET_SECONDS = 10;
const TARGET_HOST_RATIO = 1.05;

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
 * 128 GiB / 32-core hosts; VMs use 40–100 % of their flavour after ballooning
 * plus a small reserved amount; CPU requests at half a core per vCPU or less,
 * as memory is the resource a memory-oversubscribed cloud runs out of. Each
 * host gets a random fill weight, so some are nearly full and many nearly empty.
 */
export function generateCluster(random: () => number, hostCount = HOSTS, vmCount = VMS): { cluster: Cluster; constraints: Constraints } {
  const hosts: Host[] = Array.from({ length: hostCount }, (_, i) => ({ id: i, name: `kvm-${i}`, memMiB: 131_072, cpu: 3_200, enabled: true }));
  const constraints: Constraints = { ...defaultConstraints, reserve: { memMiB: 4_096, cpu: 100 } };
  const capMem = 131_072 - 4_096;
  const capCpu = 3_200 - 100;
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
    const memMiB = Math.round(flavour[0] * 1024 * (0.4 + 0.6 * random())) + 256 * (1 + Math.floor(random() * 4));
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
      if (loadMem[lo]! + memMiB <= capMem && loadCpu[lo]! + cpu <= capCpu) host = lo;
    }
    if (host < 0) host = loadMem.indexOf(Math.min(...loadMem));
    loadMem[host]! += memMiB;
    loadCpu[host]! += cpu;
    vms.push({ id, name: `vm-${id}`, memMiB, cpu, dirtyMiBps: Math.round(random() * 100) });
    placement.set(id, host);
  }
  return { cluster: { hosts, vms, placement }, constraints };
}

export async function run(): Promise<void> {
  const { cluster, constraints } = generateCluster(seededRandom(20240605));
  const started = performance.now();
  const plan = makePlan(cluster, consolidate, consolidate.defaults, constraints);
  const seconds = (performance.now() - started) / 1000;
  const ix = indexCluster(cluster, constraints);
  const used = hostsUsed(ix, whereOf(ix, plan.target));
  const bound = hostLowerBound(ix);
  const migrations = plan.waves.reduce((n, w) => n + w.length, 0);
  const violations = checkPlan(cluster, plan, constraints, plan.target);
  const line = (label: string, value: string, ratio: number, target: string) =>
    process.stdout.write(`${label.padEnd(34)} ${value.padStart(12)}   ratio ${ratio.toFixed(3)} of target ${target} ${ratio <= 1 ? '(met)' : '(MISSED)'}\n`);
  process.stdout.write(`cluster: ${HOSTS} hosts, ${VMS} VMs, ${hostsUsed(ix, ix.home)} hosts in use; ${migrations} migrations in ${plan.waves.length} waves\n`);
  line('plan + sequence time', `${seconds.toFixed(2)} s`, seconds / TARGET_SECONDS, `${TARGET_SECONDS} s`);
  line('hosts used / lower bound', `${used} / ${bound} = ${(used / bound).toFixed(3)}`, used / bound / TARGET_HOST_RATIO, `${TARGET_HOST_RATIO}×`);
  process.stdout.write(`checker: ${violations.length === 0 ? 'plan valid' : `${violations.length} violations, first: ${violations[0]!.message}`}${plan.infeasible ? `; infeasible: ${plan.infeasible.message}` : ''}\n`);
}
