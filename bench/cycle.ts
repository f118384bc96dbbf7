// One WHOLE elasticity cycle (reads, decisions, writes) against the in-process
// oned simulator, counting XML-RPC calls and bytes, side by side with the pure
// decision (planCycle) on the same cluster in the same run. The target of #11:
// calls per cycle <= 3 + 2 x changes, wall time within 2x of the decision.
//
// The cluster is bench/elasticity.ts's synthetic one (a tenth of the guests
// starving, hosts nearly full, so relief migrations are planned too), served
// as oned XML built from the scenario fixtures. APPLY_MODE=memory-action: the
// balloon change itself is the VMM action on the host (ssh), not an oned call,
// so the applier here only counts; migrations and USER_TEMPLATE figures go
// through oned. "before" is the applier of before #11 (a whole snapshot before
// every step: a source without refresh), run on a 100-VM cluster since at
// 10,000 VMs it would take hours; "after" runs at both sizes.
//
//   node --import tsx bench/cycle.ts [VMS HOSTS]
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { DEFAULTS, type ElasticityConfig } from '../lib/elasticity/config';
import { PUBLISH_CONCURRENCY } from '../lib/elasticity/apply-plan';
import { runCycle, type CycleDeps } from '../lib/elasticity/cycle';
import { forEachBounded } from '../lib/bounded';
import { planCycle } from '../lib/elasticity/plan';
import type { ClusterSource, ClusterView, MemoryApplier } from '../lib/elasticity/ports';
import { emptyState, reconcile, type ElasticityState } from '../lib/elasticity/state';
import { createOneClient, type OneClient } from '../lib/oned/client';
import { OnedClusterSource, OnedMigrator, OnedPublisher } from '../lib/oned/elasticity-ports';
import { DEFAULT_SESSION, ONED_FIXTURE_DIR, startOnedSimulator, type OnedSimulator } from '../test/support/oned-server';
import { syntheticCluster } from './elasticity';

const NOW_S = 1_767_225_610;
const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = (name: string) => readFile(path.join(here, '..', 'test', 'fixtures', 'oned', 'elasticity', name), 'utf8');

function vmXml(template: string, vm: ClusterView['vms'][number]): string {
  const total = vm.balloon!.availableKiB;
  return template
    .replace('<ID>100</ID>', `<ID>${vm.id}</ID>`)
    .replace('<OID>100</OID>', `<OID>${vm.id}</OID>`)
    .replace('<ID><![CDATA[100]]></ID>', `<ID><![CDATA[${vm.id}]]></ID>`)
    .replace('<NAME>idle-web</NAME>', `<NAME>${vm.name}</NAME>`)
    .replaceAll('one-100', vm.deployId)
    .replace('<HOSTNAME>cvamp-a</HOSTNAME>', `<HOSTNAME>${vm.hostName}</HOSTNAME>`)
    .replace('<HID>10</HID>', `<HID>${vm.hostId}</HID>`)
    .replace('<MEMORY><![CDATA[4096]]></MEMORY>', `<MEMORY><![CDATA[${vm.templateMemoryKiB / 1024}]]></MEMORY>`)
    .replace('<MAXMEMORY><![CDATA[4194304]]></MAXMEMORY>', `<MAXMEMORY><![CDATA[${vm.templateMemoryKiB}]]></MAXMEMORY>`)
    .replace('<REALMEMORY><![CDATA[4194304]]></REALMEMORY>', `<REALMEMORY><![CDATA[${vm.currentKiB}]]></REALMEMORY>`)
    .replace('<GUEST_MEMTOTAL><![CDATA[4046844]]></GUEST_MEMTOTAL>', `<GUEST_MEMTOTAL><![CDATA[${total}]]></GUEST_MEMTOTAL>`)
    .replace('<GUEST_MEMAVAILABLE><![CDATA[2998268]]></GUEST_MEMAVAILABLE>', `<GUEST_MEMAVAILABLE><![CDATA[${vm.balloon!.usableKiB}]]></GUEST_MEMAVAILABLE>`)
    .replace('<TIMESTAMP><![CDATA[1767225600]]></TIMESTAMP>', `<TIMESTAMP><![CDATA[${NOW_S - 10}]]></TIMESTAMP>`)
    // a VM cloudvamp manages already: oned holds its original size
    .replace('<USER_TEMPLATE>', `<USER_TEMPLATE><CLOUDVAMP_ORIGINAL_MEMORY><![CDATA[${vm.templateMemoryKiB}]]></CLOUDVAMP_ORIGINAL_MEMORY>`);
}

function hostXml(template: string, host: ClusterView['hosts'][number], vms: ClusterView['vms']): string {
  const mine = vms.filter((v) => v.hostId === host.id);
  const used = mine.reduce((s, v) => s + v.currentKiB, 0);
  const template_ = mine.reduce((s, v) => s + v.templateMemoryKiB, 0);
  return template
    .replace('<ID>10</ID>', `<ID>${host.id}</ID>`)
    .replace('<ID>10</ID>', `<ID>${host.id}</ID>`)
    .replace('<NAME>cvamp-a</NAME>', `<NAME>${host.name}</NAME>`)
    .replace('<HOSTNAME><![CDATA[cvamp-a]]></HOSTNAME>', `<HOSTNAME><![CDATA[${host.name}]]></HOSTNAME>`)
    .replace('<MEM_USAGE>10485760</MEM_USAGE>', `<MEM_USAGE>${template_}</MEM_USAGE>`)
    .replace('<CPU_USAGE>500</CPU_USAGE>', `<CPU_USAGE>${mine.length * 100}</CPU_USAGE>`)
    .replace('<TOTAL_MEM>16777216</TOTAL_MEM>', `<TOTAL_MEM>${host.totalKiB}</TOTAL_MEM>`)
    .replace('<MAX_MEM>16777216</MAX_MEM>', `<MAX_MEM>${host.totalKiB}</MAX_MEM>`)
    .replace('<TOTAL_CPU>400</TOTAL_CPU>', '<TOTAL_CPU>6400</TOTAL_CPU>')
    .replace('<MAX_CPU>400</MAX_CPU>', '<MAX_CPU>6400</MAX_CPU>')
    .replace('<RUNNING_VMS>5</RUNNING_VMS>', `<RUNNING_VMS>${mine.length}</RUNNING_VMS>`)
    .replace(/<VMS>[\s\S]*?<\/VMS>/, `<VMS>${mine.map((v) => `<ID>${v.id}</ID>`).join('')}</VMS>`)
    .replace('<TIMESTAMP>1767225590</TIMESTAMP>', `<TIMESTAMP>${NOW_S - 20}</TIMESTAMP>`)
    .replace('<FREE_MEMORY><![CDATA[10485760]]></FREE_MEMORY>', `<FREE_MEMORY><![CDATA[${Math.max(0, host.totalKiB - used)}]]></FREE_MEMORY>`)
    .replace('<USED_MEMORY><![CDATA[6291456]]></USED_MEMORY>', `<USED_MEMORY><![CDATA[${used}]]></USED_MEMORY>`);
}

interface Counted {
  sim: OnedSimulator;
  calls: Map<string, number>;
  bytes: { in: number; out: number };
  reset(): void;
}

async function simulatorFor(view: ClusterView): Promise<{ counted: Counted; dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cvbench-cycle-'));
  const [vmT, hostT] = await Promise.all([fixture('vm-100-idle-4g.xml'), fixture('host-10-five-vms-16g.xml')]);
  const rel = (file: string) => path.relative(ONED_FIXTURE_DIR, file);
  const vmFiles = await Promise.all(view.vms.map(async (vm) => {
    const file = path.join(dir, `vm-${vm.id}.xml`);
    await writeFile(file, vmXml(vmT, vm));
    return rel(file);
  }));
  const hostFiles = await Promise.all(view.hosts.map(async (host) => {
    const file = path.join(dir, `host-${host.id}.xml`);
    await writeFile(file, hostXml(hostT, host, view.vms));
    return rel(file);
  }));
  const sim = await startOnedSimulator({ vmFixtures: vmFiles, hostFixtures: hostFiles, extraMonitoringKeys: ['GUEST_MEMTOTAL', 'GUEST_MEMAVAILABLE'], now: () => NOW_S });
  // A 10,000-VM pool document takes the single-threaded simulator tens of
  // seconds to write: node's server would reset the requests queued meanwhile.
  const server = (sim as unknown as { server: { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number } }).server;
  Object.assign(server, { headersTimeout: 0, requestTimeout: 0, keepAliveTimeout: 0 });
  const counted: Counted = {
    sim,
    calls: new Map(),
    bytes: { in: 0, out: 0 },
    reset() {
      this.calls.clear();
      this.bytes = { in: 0, out: 0 };
    },
  };
  // Count at the wire: every request body in, every response document out.
  const handle = sim.handle.bind(sim);
  sim.handle = (body: string) => {
    const method = /<methodName>([^<]+)<\/methodName>/.exec(body)?.[1] ?? '?';
    counted.calls.set(method, (counted.calls.get(method) ?? 0) + 1);
    counted.bytes.in += Buffer.byteLength(body);
    const reply = handle(body);
    // The simulator keeps every call and document for tests to inspect; here that
    // would be hundreds of MB held for nothing, and the GC's cost would be the bench's.
    counted.sim.calls.length = 0;
    counted.sim.served.length = 0;
    const count = (text: string) => {
      counted.bytes.out += Buffer.byteLength(text);
      return text;
    };
    return typeof reply === 'string' ? count(reply) : reply.then(count);
  };
  return { counted, dir };
}

const memoryStore = (state: ElasticityState) => ({ load: async () => state, save: async () => undefined });
const countingApplier = (): MemoryApplier & { n: number } => ({ n: 0, async setMemory() { this.n++; } });

async function oneCycle(view: ClusterView, mode: 'before' | 'after') {
  const { counted, dir } = await simulatorFor(view);
  try {
    // the VMs are adopted by this very cycle: no SHRINK_WARMUP, or it would plan no shrink at all
    const config: ElasticityConfig = { ...DEFAULTS, shrinkWarmupMs: 0 };
    const client = createOneClient({ endpoint: counted.sim.url, session: DEFAULT_SESSION }, { timeoutMs: 600_000 });
    const wait = { now: () => NOW_S * 1000, sleep: async () => undefined, pollMs: 0 };
    const oned = new OnedClusterSource(client, config);
    // before #11: a whole snapshot before every step (a source without refresh)
    const source: ClusterSource = mode === 'after' ? oned : { snapshot: () => oned.snapshot() };
    const deps: CycleDeps = {
      source,
      applier: countingApplier(),
      migrator: new OnedMigrator(client, config.migrationTimeoutMs, wait),
      publisher: new OnedPublisher(client),
      store: memoryStore(emptyState()),
      log: () => undefined,
      now: () => NOW_S * 1000,
    };
    // the pure decision on the cluster as oned serves it, timed alone first
    const r0 = performance.now();
    const served = await oned.snapshot();
    const firstReadMs = performance.now() - r0;
    const state = reconcile(emptyState(), served, NOW_S * 1000).state;
    planCycle(served, state, config, NOW_S * 1000);
    const d0 = performance.now();
    const plan = planCycle(served, state, config, NOW_S * 1000);
    const decideMs = performance.now() - d0;
    counted.reset();
    const t0 = performance.now();
    const report = await runCycle(deps, config, emptyState());
    const cycleMs = performance.now() - t0;
    // the cycle's own plan (its reconcile may leave VMs alone), checked against the one timed
    const changes = report.plan.migrations.length + report.plan.decisions.filter((d) => d.action !== 'none').length;
    if (changes !== plan.migrations.length + plan.decisions.filter((d) => d.action !== 'none').length) throw new Error('bench: the timed decision is not the cycle\'s');
    const calls = [...counted.calls.values()].reduce((a, b) => a + b, 0);
    const byMethod = new Map(counted.calls);
    const bytes = { ...counted.bytes };
    const floor = mode === 'after' ? await floorOf(client, oned, view, (byMethod.get('one.vm.update') ?? 0) + (byMethod.get('one.vm.migrate') ?? 0), firstReadMs) : undefined;
    return { mode, vms: view.vms.length, hosts: view.hosts.length, plan: report.plan, report, changes, calls, byMethod, bytes, decideMs, cycleMs, floor };
  } finally {
    await counted.sim.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * What no cycle that reads the cluster once and writes once per change can go
 * below, against the same simulator: one whole snapshot (the three pool reads,
 * before and after the cycle, the faster) and as many bare one.vm.update calls (one short key)
 * as the cycle made writes, both 8 at a time as the cycle's publishes go and
 * one after another.
 */
async function floorOf(client: OneClient, oned: OnedClusterSource, view: ClusterView, writes: number, firstReadMs: number) {
  // the faster of the snapshot before the cycle and one after it (the heap the cycle leaves makes the second one noisy)
  const r0 = performance.now();
  await oned.snapshot();
  const readMs = Math.min(firstReadMs, performance.now() - r0);
  const ids = Array.from({ length: writes }, (_, i) => view.vms[i % view.vms.length]!.id);
  const bare = (id: number) => client.vmUpdate(id, { CLOUDVAMP_FLOOR: 1 }, 'merge');
  const w0 = performance.now();
  await forEachBounded(ids, PUBLISH_CONCURRENCY, bare);
  const boundedMs = performance.now() - w0;
  const s0 = performance.now();
  for (const id of ids) await bare(id);
  const sequentialMs = performance.now() - s0;
  return { writes, readMs, boundedMs, sequentialMs };
}

function print(r: Awaited<ReturnType<typeof oneCycle>>): void {
  const grows = r.plan.decisions.filter((d) => d.action === 'grow').length;
  const shrinks = r.plan.decisions.filter((d) => d.action === 'shrink').length;
  const limit = 3 + 2 * r.changes;
  const out = [
    `${r.mode.padEnd(6)} ${r.vms} VMs / ${r.hosts} hosts: ${r.changes} changes (${grows} grows, ${shrinks} shrinks, ${r.plan.migrations.length} migrations); applied ${r.report.applied}, failed ${r.report.failed}, skipped ${r.report.skipped}`,
    `       XML-RPC calls ${r.calls}   limit 3 + 2 x changes = ${limit}   ratio ${(r.calls / limit).toFixed(3)}`,
    `       by method: ${[...r.byMethod].sort().map(([m, n]) => `${m} ${n}`).join(', ')}`,
    `       bytes: requests ${(r.bytes.in / 1e6).toFixed(1)} MB, responses ${(r.bytes.out / 1e6).toFixed(1)} MB`,
    `       whole cycle ${r.cycleMs.toFixed(0)} ms   pure decision ${r.decideMs.toFixed(1)} ms   ratio ${(r.cycleMs / r.decideMs).toFixed(1)}x (target <= 2x)`,
  ];
  if (r.floor) {
    const f = r.floor;
    const floorMs = f.readMs + f.boundedMs;
    out.push(
      `       floor: one snapshot (faster of before/after the cycle) ${f.readMs.toFixed(0)} ms + ${f.writes} bare one.vm.update ${f.boundedMs.toFixed(0)} ms (${PUBLISH_CONCURRENCY} at a time; ${f.sequentialMs.toFixed(0)} ms one after another) = ${floorMs.toFixed(0)} ms`,
      `       whole cycle / floor ${(r.cycleMs / floorMs).toFixed(2)}x   floor / pure decision ${(floorMs / r.decideMs).toFixed(1)}x`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

export async function run(): Promise<void> {
  const [vms, hosts] = process.argv.slice(2).filter((a) => /^\d+$/.test(a)).map(Number);
  process.stdout.write(`node ${process.version}, ${availableParallelism()} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  if (!process.argv.includes('--only-large')) {
    const small = syntheticCluster(100, 5);
    print(await oneCycle(small, 'before'));
    print(await oneCycle(small, 'after'));
  }
  print(await oneCycle(syntheticCluster(vms ?? 10_000, hosts ?? 500), 'after'));
  process.stdout.write(`load average after ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await run();
