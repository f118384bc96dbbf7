// `npm run bench -- probes`: the IM probes side by side with the per-domain
// approach of the 2015 Ruby probes (one `virsh dominfo` and one
// `virsh dommemstat` process per domain), against the same private libvirtd,
// plus probe start-up against a bare `node -e 0` and `virsh nodeinfo`, with a
// `--cpu-prof` of one probe run saying where its start-up time goes.
//
// The daemon serves libvirt's test driver at test:///default, loaded once: a
// holder connection keeps that shared driver alive while N transient domains
// are created in it, so every later connection (probe or virsh) finds it in
// memory. A file-backed test:///PATH URI would instead re-parse the whole
// N-domain XML on every connection, making each virsh cost grow with N, which
// a QEMU host does not do. The per-virsh cost at each N is printed to show it
// stays flat.
//
// Round trips are counted by libvirt itself: the client logs one
// RPC_CLIENT_MSG_TX_QUEUE line per RPC it sends (LIBVIRT_LOG_FILTERS=1:rpc.netclient),
// in separate runs from the timed ones since logging slows the client. That
// count includes the ~8 RPCs of opening and closing a connection.
//
// The test driver's virConnectGetAllDomainStats only implements the `state`
// group, so on it the client adds one virDomainGetInfo per running domain for
// the balloon size and maximum. QEMU reports the balloon group in bulk.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openHypervisor } from '../lib/libvirt/client';
import type { Hypervisor } from '../lib/libvirt/types';
import { defaultProbeConfig } from '../lib/monitor/config';
import { runProbe, type ProbeKind } from '../lib/monitor/probe';
import { startPrivateLibvirtd } from '../test/support/private-libvirtd';
import { testDomains } from '../test/support/test-driver-xml';

const SIZES = [50, 200];
const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..');

const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
  const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete e.NODE_EXTRA_CA_CERTS; // makes every node start read a CA bundle
  delete e.NODE_OPTIONS;
  return e;
};

function timed(cmd: string, args: string[], extra: NodeJS.ProcessEnv = {}): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/** RPCs the libvirt client sent while running the command, from its own log. */
function rpcs(cmd: string, args: string[], logDir: string): number {
  const log = path.join(logDir, `rpc-${process.hrtime.bigint()}.log`);
  timed(cmd, args, { LIBVIRT_LOG_FILTERS: '1:rpc.netclient', LIBVIRT_LOG_OUTPUTS: `1:file:${log}` });
  try {
    return (readFileSync(log, 'utf8').match(/RPC_CLIENT_MSG_TX_QUEUE/g) ?? []).length;
  } finally {
    rmSync(log, { force: true });
  }
}

/** Hypervisor calls of one in-process probe run (each is one RPC over a remote URI). */
function hypervisorCalls(kind: ProbeKind, uri: string, byMethod = new Map<string, number>()): number {
  let calls = 0;
  const count = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, prop, receiver) {
        const v = Reflect.get(t, prop, receiver);
        if (typeof v !== 'function') return v;
        if (prop === 'close' || prop === 'free') return v.bind(t); // local, no RPC
        return (...args: unknown[]) => {
          calls += 1;
          byMethod.set(String(prop), (byMethod.get(String(prop)) ?? 0) + 1);
          const out = (v as (...a: unknown[]) => unknown).apply(t, args);
          return prop === 'domain' ? count(out as object) : out;
        };
      },
    });
  runProbe({
    kind,
    config: { ...defaultProbeConfig, libvirtUri: uri },
    format: 'one',
    open: (u) => count<Hypervisor>(openHypervisor(u)),
    now: Date.now,
    readProc: () => undefined,
  });
  return calls;
}

const row = (cells: Array<string | number>, widths: number[]) => cells.map((c, i) => String(c).padStart(widths[i] ?? 10)).join(' ') + '\n';
const out = (s: string) => process.stdout.write(s);

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Self time (ms) per function and per kind of code, from one V8 .cpuprofile. */
function selfTimes(profile: CpuProfile, bundle: string) {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const byFn = new Map<string, number>();
  const byKind = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i + 1] ?? 0; // a sample's time runs until the next one
    const f = byNode.get(id);
    if (!f) return;
    const where = f.url ? `${f.url.startsWith('node:') ? f.url : path.basename(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + us / 1000);
    const kind = !f.url
      ? f.functionName // (program): native work outside JS, dlopen and koffi calls included; (garbage collector); (idle)
      : f.url.startsWith('node:')
        ? 'node internals (module loader, fs, process set-up)'
        : f.url.endsWith(bundle)
          ? 'the probe bundle (our code + koffi JS)'
          : 'other JS';
    byKind.set(kind, (byKind.get(kind) ?? 0) + us / 1000);
  });
  const top = (m: Map<string, number>, k: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k);
  return { span: (profile.endTime - profile.startTime) / 1000, top: top(byFn, 12), kinds: top(byKind, 10) };
}

/** A virsh shell whose open connection keeps the daemon's test:///default driver, and the domains created in it, alive. */
async function holdDefaultDriver(uri: string): Promise<ChildProcess> {
  const holder = spawn('virsh', ['-q', '-c', uri], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    holder.stdout?.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
    holder.once('exit', (code) => reject(new Error(`virsh holder exited ${code}`)));
    holder.stdin?.write('echo held\n');
  });
  return holder;
}

function domainXml(d: ReturnType<typeof testDomains>[number], name: string): string {
  return `<domain type='test'><name>${name}</name><uuid>${d.uuid}</uuid><memory unit='KiB'>${d.memoryKiB}</memory><currentMemory unit='KiB'>${d.currentMemoryKiB}</currentMemory><vcpu>${d.vcpus}</vcpu><os><type arch='x86_64'>hvm</type></os><devices><memballoon model='virtio'/></devices></domain>`;
}

const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

export async function run(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'cloudvamp-bench-'));
  const daemon = await startPrivateLibvirtd();
  let holder: ChildProcess | undefined;
  try {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), 'remotes/im/'], {
      env: { ...process.env, CLOUDVAMP_BUILD_DIR: path.join(work, 'build') },
      stdio: 'pipe',
    });
    // as on a host: no node_modules, no package.json above the probes
    cpSync(path.join(work, 'build', 'remotes'), path.join(work, 'host', 'remotes'), { recursive: true });
    const im = path.join(work, 'host', 'remotes', 'im');
    const vmMonitor = path.join(im, 'cloudvamp-probes.d', 'vm', 'monitor', 'cloudvamp-vm-monitor');
    const system = path.join(im, 'cloudvamp-probes.d', 'host', 'system', 'cloudvamp-host-system');
    const beacon = path.join(im, 'cloudvamp-probes.d', 'host', 'beacon', 'cloudvamp-host-beacon');
    const stateDir = path.join(work, 'state');
    mkdirSync(stateDir);
    const probeEnv = { CLOUDVAMP_STATE_DIR: stateDir };

    const libvirt = execFileSync('libvirtd', ['--version'], { encoding: 'utf8' }).trim();
    out(`# probes: ${libvirt}, virsh ${execFileSync('virsh', ['--version'], { encoding: 'utf8' }).trim()}, node ${process.version}, load average ${load()}\n`);
    out('# private libvirtd, test driver at test:///default loaded once (a holder connection keeps it), N transient running domains\n');
    out('# probe = host/system + vm/monitor, each a median of 7 runs; virsh = one `virsh dominfo` + one `virsh dommemstat` per domain, 1 pass\n\n');

    const uri = daemon.uri('/default');
    holder = await holdDefaultDriver(uri);
    execFileSync('virsh', ['-q', '-c', uri, 'destroy test; undefine test'], { env: env(), stdio: 'pipe' });
    const w = [5, 10, 10, 10, 12, 12, 9, 11, 11, 10];
    out(row(['VMs', 'system ms', 'vm/mon ms', 'probe ms', 'virsh ms', 'ms/virsh', 'ratio', 'probe RPCs', 'virsh RPCs', 'API calls*'], w));
    const domains = testDomains(Math.max(...SIZES)).map((d, i) => ({ ...d, name: `one-${i}` }));
    let created = 0;
    const methods: string[] = [];
    for (const n of SIZES) {
      const files = domains.slice(created, n).map((d) => {
        const f = path.join(work, `${d.name}.xml`);
        writeFileSync(f, domainXml(d, d.name));
        return f;
      });
      if (files.length) execFileSync('virsh', ['-q', '-c', uri, files.map((f) => `create ${f}`).join('; ')], { env: env(), stdio: 'pipe' });
      created = n;
      const listed = execFileSync('virsh', ['-q', '-c', uri, 'list', '--name'], { env: env(), encoding: 'utf8' }).split('\n').filter(Boolean).length;
      if (listed !== n) throw new Error(`expected ${n} running domains on ${uri}, virsh lists ${listed}`);

      const args = (p: string) => [p, '--uri', uri, 'cloudvamp', '0', 'bench'];
      timed(process.execPath, args(system), probeEnv); // warm the page cache
      timed(process.execPath, args(vmMonitor), probeEnv);
      const sysMs = median(Array.from({ length: 7 }, () => timed(process.execPath, args(system), probeEnv)));
      const vmMonMs = median(Array.from({ length: 7 }, () => timed(process.execPath, args(vmMonitor), probeEnv)));
      const probeMs = sysMs + vmMonMs;

      // the 2015 way: two virsh processes per domain, one after the other
      const t0 = performance.now();
      for (const d of domains.slice(0, n)) {
        timed('virsh', ['-c', uri, 'dominfo', d.name]);
        timed('virsh', ['-c', uri, 'dommemstat', d.name]);
      }
      const virshMs = performance.now() - t0;

      const probeRpcs = rpcs(process.execPath, args(system), work) + rpcs(process.execPath, args(vmMonitor), work);
      const first = domains[0]?.name ?? 'one-0';
      const virshRpcs = (rpcs('virsh', ['-c', uri, 'dominfo', first], work) + rpcs('virsh', ['-c', uri, 'dommemstat', first], work)) * n;
      const byMethod = new Map<string, number>();
      const calls = hypervisorCalls('host-system', uri, byMethod) + hypervisorCalls('vm-monitor', uri, byMethod);
      methods.push(`${n} VMs: ${[...byMethod].map(([m, c]) => `${m} ${c}`).join(', ')}`);
      out(
        row(
          [
            n,
            sysMs.toFixed(1),
            vmMonMs.toFixed(1),
            probeMs.toFixed(1),
            virshMs.toFixed(0),
            (virshMs / (2 * n)).toFixed(1),
            `${(virshMs / probeMs).toFixed(1)}x`,
            probeRpcs,
            virshRpcs,
            calls,
          ],
          w,
        ),
      );
    }
    out(
      '\nratio = virsh ms ÷ probe ms (both probes together); ms/virsh = cost of one virsh process (flat in N: the daemon does not re-read anything per connection).\n' +
        'RPCs: counted from libvirt client logs, connection set-up included (virsh RPCs = one dominfo + one dommemstat, counted, × VMs).\n' +
        '* Hypervisor interface calls of one host/system + one vm/monitor run, in-process (open/close not included). Per VM, each probe\n' +
        '  looks up every ballooned domain (balloon below its maximum: all of them here) by UUID and reads its cloudvamp metadata\n' +
        '  (`domain` + `metadata`, 2 RPCs), on a QEMU host too; on the test driver getAllDomainStats adds one virDomainGetInfo per\n' +
        '  running VM (its bulk stats lack the balloon group), which QEMU does not need. Fixed per run: everything else.\n' +
        methods.map((m) => `  API calls by method, ${m}\n`).join('') +
        '\n',
    );
    holder.stdin?.end('quit\n');

    // start-up: a probe run vs a bare node start and virsh;
    // interleaved, so load from whatever else shares the machine hits all alike
    const reps = 21;
    const koffiFloor = `require(${JSON.stringify(createRequire(import.meta.url).resolve('koffi'))}).load('libvirt.so.0')`;
    const samples = { floor: [] as number[], bare: [] as number[], beacon: [] as number[], help: [] as number[], sys: [] as number[], virsh: [] as number[] };
    for (let i = 0; i < reps; i++) {
      samples.bare.push(timed(process.execPath, ['-e', '0']));
      samples.floor.push(timed(process.execPath, ['-e', koffiFloor]));
      samples.beacon.push(timed(process.execPath, [beacon]));
      samples.help.push(timed(process.execPath, [system, '--help']));
      samples.sys.push(timed(process.execPath, [system, '--uri', 'test:///default'], probeEnv));
      samples.virsh.push(timed('virsh', ['-c', 'test:///default', 'nodeinfo']));
    }
    const [bare, beaconMs, helpMs, sysMs, virshNodeinfo, floorMs] = [samples.bare, samples.beacon, samples.help, samples.sys, samples.virsh, samples.floor].map(median) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const w2 = [50, 10, 10];
    out(row([`start-up (median of ${reps}, interleaved)`, 'ms', 'vs node'], w2));
    out(row(['node -e 0', bare.toFixed(1), '1.00x'], w2));
    out(row(['host/beacon (no libvirt)', beaconMs.toFixed(1), `${(beaconMs / bare).toFixed(2)}x`], w2));
    out(row(['host/system --help (probe code, no libvirt)', helpMs.toFixed(1), `${(helpMs / bare).toFixed(2)}x`], w2));
    out(row(['host/system --uri test:///default (koffi+libvirt)', sysMs.toFixed(1), `${(sysMs / bare).toFixed(2)}x`], w2));
    out(row(['virsh -c test:///default nodeinfo (reference)', virshNodeinfo.toFixed(1), `${(virshNodeinfo / bare).toFixed(2)}x`], w2));
    out(row(["node -e \"require('koffi').load('libvirt.so.0')\" (floor)", floorMs.toFixed(1), `${(floorMs / bare).toFixed(2)}x`], w2));
    out(row(['probe ÷ floor', `${(sysMs / floorMs).toFixed(2)}x`, ''], w2));
    out(row(['probe - node -e 0 (what the probe adds)', (sysMs - bare).toFixed(1), ''], w2));
    out(row(['probe - (--help) (libvirt open + calls + close)', (sysMs - helpMs).toFixed(1), ''], w2));

    // where one probe run's time goes
    const profDir = path.join(work, 'prof');
    const bareDir = path.join(work, 'prof-bare');
    const profile = (dir: string, args: string[]) => {
      timed(process.execPath, ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', dir, ...args], probeEnv);
      const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error(`node --cpu-prof wrote no profile in ${dir}`);
      return JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
    };
    const probeProf = selfTimes(profile(profDir, [system, '--uri', 'test:///default']), 'cloudvamp-host-system');
    const bareProf = selfTimes(profile(bareDir, ['-e', '0']), '');
    out(`\nnode --cpu-prof (100 µs interval) of one host/system --uri test:///default run: ${probeProf.span.toFixed(1)} ms profiled (node -e 0: ${bareProf.span.toFixed(1)} ms)\n`);
    out('self time by kind of code:\n');
    for (const [k, ms] of probeProf.kinds) out(`  ${ms.toFixed(1).padStart(7)} ms  ${k}\n`);
    out('top self-time entries:\n');
    for (const [k, ms] of probeProf.top) out(`  ${ms.toFixed(1).padStart(7)} ms  ${k}\n`);
    out(`# load average after: ${load()}\n`);
  } finally {
    holder?.kill();
    await daemon.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
