// `npm run bench -- probes`: the IM probes against a private libvirtd serving
// libvirt's test driver with 10, 100 and 200 domains, side by side with the
// per-domain approach of the 2015 Ruby probes (one `virsh dominfo` and one
// `virsh dommemstat` process per domain), plus start-up time against a bare
// `node -e 0`.
//
// Round trips are counted by libvirt itself: the client logs one
// RPC_CLIENT_MSG_TX_QUEUE line per RPC it sends (LIBVIRT_LOG_FILTERS=1:rpc.netclient),
// in separate runs from the timed ones since logging slows the client. That
// count includes the ~8 RPCs of opening and closing a connection.
//
// The test driver's virConnectGetAllDomainStats only implements the `state`
// group, so on it the client adds one virDomainGetInfo per running domain for
// the balloon size and maximum. QEMU reports the balloon group in bulk, so on
// a real host a probe makes the same few calls whatever the number of VMs.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { openHypervisor } from '../lib/libvirt/client';
import type { Hypervisor } from '../lib/libvirt/types';
import { defaultProbeConfig } from '../lib/monitor/config';
import { runProbe, type ProbeKind } from '../lib/monitor/probe';
import { startPrivateLibvirtd } from '../test/support/private-libvirtd';
import { testDomains, testDriverXml, testNode } from '../test/support/test-driver-xml';

const SIZES = [10, 100, 200];
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
function hypervisorCalls(kind: ProbeKind, uri: string): number {
  let calls = 0;
  const count = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, prop, receiver) {
        const v = Reflect.get(t, prop, receiver);
        if (typeof v !== 'function') return v;
        if (prop === 'close' || prop === 'free') return v.bind(t); // local, no RPC
        return (...args: unknown[]) => {
          calls += 1;
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

export async function run(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'cloudvamp-bench-'));
  const daemon = await startPrivateLibvirtd();
  try {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), 'remotes/im/'], {
      env: { ...process.env, CLOUDVAMP_BUILD_DIR: path.join(work, 'build') },
      stdio: 'pipe',
    });
    // as on a host: no node_modules, no package.json above the probes
    cpSync(path.join(work, 'build', 'remotes'), path.join(work, 'host', 'remotes'), { recursive: true });
    const im = path.join(work, 'host', 'remotes', 'im');
    const legacy = path.join(im, 'cloudvamp-legacy-probes.d', 'cloudvamp-poll');
    const vmMonitor = path.join(im, 'cloudvamp-probes.d', 'vm', 'monitor', 'cloudvamp-vm-monitor');
    const system = path.join(im, 'cloudvamp-probes.d', 'host', 'system', 'cloudvamp-host-system');
    const beacon = path.join(im, 'cloudvamp-probes.d', 'host', 'beacon', 'cloudvamp-host-beacon');
    const stateDir = path.join(work, 'state');
    mkdirSync(stateDir);
    const probeEnv = { CLOUDVAMP_STATE_DIR: stateDir };

    out(`libvirtd ${execFileSync('libvirtd', ['--version'], { encoding: 'utf8' }).trim()}, node ${process.version}; medians of 7 probe runs, 1 run of the virsh loop\n\n`);
    const w = [5, 10, 10, 13, 8, 9, 11, 11, 12];
    out(row(['VMs', 'legacy ms', 'vm/mon ms', 'virsh/dom ms', 'ratio', 'ratio**', 'probe RPCs', 'virsh RPCs', 'API calls*'], w));
    let spawnMsAtSmallest: number | undefined;
    for (const n of SIZES) {
      const domains = testDomains(n).map((d, i) => ({ ...d, name: `one-${i}` }));
      const file = path.join(work, `node-${n}.xml`);
      writeFileSync(file, testDriverXml(testNode(domains)));
      const uri = daemon.uri(file);

      const args = (p: string) => [p, '--uri', uri, 'cloudvamp', '0', 'bench'];
      timed(process.execPath, args(legacy), probeEnv); // warm the page cache
      const legacyMs = median(Array.from({ length: 7 }, () => timed(process.execPath, args(legacy), probeEnv)));
      const vmMonMs = median(Array.from({ length: 7 }, () => timed(process.execPath, args(vmMonitor), probeEnv)));

      // the 2015 way: two virsh processes per domain, one after the other
      const t0 = performance.now();
      for (const d of domains) {
        timed('virsh', ['-c', uri, 'dominfo', d.name]);
        timed('virsh', ['-c', uri, 'dommemstat', d.name]);
      }
      const virshMs = performance.now() - t0;
      // A file-based test driver re-reads its XML on every connection, so each
      // virsh costs more with more domains; a QEMU host does not. ratio** prices
      // every virsh at its cost on the smallest host: the conservative figure.
      spawnMsAtSmallest ??= virshMs / (2 * n);

      const probeRpcs = rpcs(process.execPath, args(legacy), work);
      const first = domains[0]?.name ?? 'one-0';
      const virshRpcs = (rpcs('virsh', ['-c', uri, 'dominfo', first], work) + rpcs('virsh', ['-c', uri, 'dommemstat', first], work)) * n;
      const calls = hypervisorCalls('legacy', uri);
      out(
        row(
          [
            n,
            legacyMs.toFixed(1),
            vmMonMs.toFixed(1),
            virshMs.toFixed(0),
            `${(virshMs / legacyMs).toFixed(1)}x`,
            `${((spawnMsAtSmallest * 2 * n) / legacyMs).toFixed(1)}x`,
            probeRpcs,
            virshRpcs,
            calls,
          ],
          w,
        ),
      );
    }
    out(
      '\nlegacy = cloudvamp-poll (everything the 2015 probe printed); ratio = virsh/dom ÷ legacy;\n' +
        `ratio** = 2 × VMs × ${(spawnMsAtSmallest ?? 0).toFixed(1)} ms (one virsh on the ${SIZES[0]}-VM host) ÷ legacy.\n` +
        'probe RPCs: counted from libvirt client logs (connection set-up included); on the test driver they grow by\n' +
        '  one virDomainGetInfo per VM, which QEMU hosts never need (balloon figures come in the bulk call).\n' +
        '* Hypervisor interface calls of one legacy run (open/close not included).\n\n',
    );

    // start-up: a probe run vs a bare node start
    // interleaved, so load from whatever else shares the machine hits all three alike
    const reps = 21;
    const samples = { bare: [] as number[], beacon: [] as number[], help: [] as number[], sys: [] as number[], virsh: [] as number[] };
    for (let i = 0; i < reps; i++) {
      samples.bare.push(timed(process.execPath, ['-e', '0']));
      samples.beacon.push(timed(process.execPath, [beacon]));
      samples.help.push(timed(process.execPath, [system, '--help']));
      samples.sys.push(timed(process.execPath, [system, '--uri', 'test:///default'], probeEnv));
      samples.virsh.push(timed('virsh', ['-c', 'test:///default', 'nodeinfo']));
    }
    const [bare, beaconMs, helpMs, sysMs, virshNodeinfo] = [samples.bare, samples.beacon, samples.help, samples.sys, samples.virsh].map(median) as [
      number,
      number,
      number,
      number,
      number,
    ];
    const w2 = [44, 10, 10];
    out(row([`start-up (median of ${reps})`, 'ms', 'vs node'], w2));
    out(row(['node -e 0', bare.toFixed(1), '1.00x'], w2));
    out(row(['host/beacon (no libvirt)', beaconMs.toFixed(1), `${(beaconMs / bare).toFixed(2)}x`], w2));
    out(row(['host/system --help (probe code, no libvirt)', helpMs.toFixed(1), `${(helpMs / bare).toFixed(2)}x`], w2));
    out(row(['host/system --uri test:///default (koffi+libvirt)', sysMs.toFixed(1), `${(sysMs / bare).toFixed(2)}x`], w2));
    out(row(['virsh -c test:///default nodeinfo (reference)', virshNodeinfo.toFixed(1), `${(virshNodeinfo / bare).toFixed(2)}x`], w2));
    out('loading libvirt.so.0 and its ~56 libraries (~10 ms of symbol relocation) is a floor every libvirt client pays.\n');
  } finally {
    await daemon.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
