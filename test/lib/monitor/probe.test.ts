import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DomainState, type DomainStats } from '../../../lib/libvirt/types';
import { fileCpuSampleStore } from '../../../lib/io/probe-state';
import { defaultProbeConfig } from '../../../lib/monitor/config';
import { METADATA_URI } from '../../../lib/memory/oned-size';
import { probeMain } from '../../../lib/monitor/command';
import { collectSnapshot } from '../../../lib/monitor/collect';
import { runProbe, type ProbeKind } from '../../../lib/monitor/probe';
import { isLocalKernelUri, parseCpuModelName, parseNetDev } from '../../../lib/monitor/procfs';
import { domain, FakeHypervisor, libvirtError, type FakeHost } from '../../support/fake-hypervisor';

const KINDS: ProbeKind[] = ['host-system', 'host-monitor', 'vm-status', 'vm-monitor', 'legacy'];
const noProc = () => undefined;

function run(kind: ProbeKind, host: FakeHost, extra: { stateDir?: string; now?: number; overcommit?: number } = {}) {
  const hv = new FakeHypervisor(host);
  const output = runProbe({
    kind,
    config: { ...defaultProbeConfig, overcommit: extra.overcommit ?? 1 },
    format: 'one',
    open: () => hv,
    now: () => extra.now ?? 1_700_000_000_000,
    readProc: noProc,
    ...(extra.stateDir ? { cpuSamples: fileCpuSampleStore(extra.stateDir) } : {}),
  });
  return { output, hv };
}

const many = (n: number): DomainStats[] => Array.from({ length: n }, (_, i) => domain(i));

describe('libvirt calls per probe run', () => {
  const untouched = (n: number): DomainStats[] => Array.from({ length: n }, (_, i) => domain(i, { balloon: { currentKiB: 2097152, maximumKiB: 2097152, rssKiB: 524288 } }));
  it.each(KINDS)('%s makes the same calls for 1 and 300 domains whose balloon is untouched, on one connection it closes', (kind) => {
    const one = run(kind, { domains: untouched(1) });
    const lots = run(kind, { domains: untouched(300) });
    expect(lots.hv.calls).toEqual(one.hv.calls);
    expect(lots.hv.calls.length).toBeLessThanOrEqual(5);
    expect(lots.hv.closed).toBe(true);
  });

  it.each(KINDS)('%s reads the recorded oned size of ballooned domains only where it prints memory: two calls each', (kind) => {
    const extra = run(kind, { domains: [...untouched(10), ...many(3).map((d, i) => ({ ...d, name: `one-${100 + i}`, uuid: `u-${i}` }))] }).hv.calls.length - run(kind, { domains: untouched(10) }).hv.calls.length;
    expect(extra).toBe(kind === 'host-monitor' || kind === 'vm-status' ? 0 : 6);
  });

  it('host/beacon never opens libvirt', () => {
    const out = runProbe({
      kind: 'host-beacon',
      config: defaultProbeConfig,
      format: 'one',
      open: () => {
        throw new Error('opened');
      },
      now: () => 1_700_000_000_999,
      readProc: noProc,
    });
    expect(out).toBe('1700000000\n');
  });

  it('makes one bulk stats call for all VMs, however many (the client fills in what a driver leaves out)', () => {
    const { hv } = run('vm-monitor', { domains: untouched(300) });
    expect(hv.calls).toEqual(['getAllDomainStats']);
  });
});

describe('domains that vanish or cannot be named', () => {
  it('a domain cannot vanish between list and stats: one getAllDomainStats call does both; a record whose name/uuid lookup failed is left out', () => {
    const { output } = run('vm-status', { domains: [domain(1), domain(2, { name: '' }), domain(3, { uuid: '' })] });
    expect(output).toBe(`SYNC_STATE=yes\nMISSING_STATE=POWEROFF\nVM=[ID="1", DEPLOY_ID="${domain(1).uuid}", STATE="RUNNING"]\n`);
  });

  it('a VM whose memory libvirt could not give (it vanished during the stats call) has no memory keys, never zeros', () => {
    const { output } = run('vm-monitor', { domains: [domain(1), domain(2, { balloon: {} })] });
    const monitorOf = (id: number) => Buffer.from(new RegExp(`ID="${id}".*MONITOR="([^"]+)"`).exec(output)?.[1] ?? '', 'base64').toString();
    expect(monitorOf(1)).toContain('PACKEDMEMORY=');
    expect(monitorOf(2)).not.toMatch(/MEMORY=/);
  });

  it('any other libvirt failure fails the probe with one message naming the URI', () => {
    const hv = new FakeHypervisor({ domains: [domain(1)] });
    hv.getAllDomainStats = () => {
      throw libvirtError(1, 'internal error: stats failed');
    };
    expect(() => runProbe({ kind: 'vm-status', config: defaultProbeConfig, format: 'one', open: () => hv, now: Date.now, readProc: noProc })).toThrow(
      'internal error: stats failed',
    );
    expect(hv.closed).toBe(true);
  });
});

describe('host figures', () => {
  it('leaves USEDMEMORY/FREEMEMORY out where the driver has no node memory stats', () => {
    const { output } = run('host-monitor', { nodeMemory: 'unsupported', nodeCpu: { kernelNs: 1, userNs: 1, idleNs: 2 } });
    expect(output).toBe('USEDCPU=200\nFREECPU=200\n');
  });

  it('host/system asks libvirt for node memory stats: TOTALMEMORY starts from MemTotal, not nodeinfo (#9 defect 6)', () => {
    const out = run('host-system', { node: { memoryKiB: 10_456_000 }, nodeMemory: { totalKiB: 24_684_084, freeKiB: 1 } }).output;
    expect(out).toContain('CLOUDVAMP_PHYSICALMEMORY=24684084\n');
    expect(out).toContain('TOTALMEMORY=24684084\n');
  });

  it('borrowed memory is measured against the size oned believes (the deploy/resize record), so a resize is not offered twice (#9 defect 4)', () => {
    const d = domain(1); // 2 GiB max, balloon at 1 GiB
    const record = (kib: number) => ({ [d.uuid]: `<cloudvamp:size xmlns:cloudvamp="${METADATA_URI}" oned_kib="${kib}"/>` });
    const packed = (metadata?: Record<string, string>) => ({
      host: /^PACKEDMEMORY=(\d+)$/m.exec(run('host-system', { domains: [d], ...(metadata ? { metadata } : {}) }).output)?.[1],
      vm: /PACKEDMEMORY="(\d+)"/.exec(Buffer.from(/MONITOR="([^"]+)"/.exec(run('vm-monitor', { domains: [d], ...(metadata ? { metadata } : {}) }).output)?.[1] ?? '', 'base64').toString())?.[1],
    });
    // resized in oned to 1 GiB: oned's MEM_USAGE already fell by 1 GiB, nothing more to offer
    expect(packed(record(1048576))).toEqual({ host: '0', vm: '0' });
    // ballooned by the manager (APPLY_MODE=memory): oned still counts 2 GiB
    expect(packed(record(2097152))).toEqual({ host: '1048576', vm: '1048576' });
    // MEMORY 1.5 GiB with MEMORY_MAX 2 GiB: only what the balloon took below oned's 1.5 GiB
    expect(packed(record(1572864))).toEqual({ host: '524288', vm: '524288' });
    // no record (deployed before cloudvamp recorded sizes): max − balloon, as before
    expect(packed()).toEqual({ host: '1048576', vm: '1048576' });
  });

  it('O from the config scales TOTALMEMORY', () => {
    const domains = [domain(1)]; // 1 GiB borrowed
    expect(run('host-system', { domains }, { overcommit: 0 }).output).toContain('TOTALMEMORY=16777216\n');
    expect(run('host-system', { domains }, { overcommit: 0.25 }).output).toContain('TOTALMEMORY=17039360\n');
  });

  it('keeps the CPU sample between runs in its state dir (never sleeps to sample)', () => {
    const stateDir = mkdtempSync(path.join(tmpdir(), 'cvstate-'));
    const d0 = domain(1, { cpuTimeNs: 1e9 });
    const first = run('vm-monitor', { domains: [d0] }, { stateDir, now: 1_000_000 });
    expect(Buffer.from(/MONITOR="([^"]+)"/.exec(first.output)?.[1] ?? '', 'base64').toString()).not.toContain('CPU=');
    const second = run('vm-monitor', { domains: [{ ...d0, cpuTimeNs: 3e9 }] }, { stateDir, now: 1_010_000 });
    expect(Buffer.from(/MONITOR="([^"]+)"/.exec(second.output)?.[1] ?? '', 'base64').toString()).toMatch(/^CPU="20"\n/);
    expect(readdirSync(stateDir)).toEqual([expect.stringMatching(/^cpu-vm-monitor-[0-9a-f]{12}\.json$/)]);
  });

  it('reads host NETRX/NETTX and MODELNAME from /proc only for this machine\'s kernel', () => {
    const proc = (f: string) =>
      f === '/proc/net/dev'
        ? 'Inter-|   Receive\n face |bytes\n    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 1000 5 0 0 0 0 0 0 2000 6 0 0 0 0 0 0\n  eth1: 1 5 0 0 0 0 0 0 2 6 0 0 0 0 0 0\n'
        : 'processor\t: 0\nmodel name\t: AMD EPYC 7B13\n';
    const needs = { net: true, cpuModel: true };
    expect(collectSnapshot(new FakeHypervisor({ uri: 'qemu:///system' }), needs, { now: Date.now, readProc: proc })).toMatchObject({
      net: { rxBytes: 1001, txBytes: 2002 },
      cpuModelName: 'AMD EPYC 7B13',
    });
    const remote = collectSnapshot(new FakeHypervisor({ uri: 'qemu+ssh://node2/system' }), needs, { now: Date.now, readProc: proc });
    expect(remote.net).toBeUndefined();
    expect([isLocalKernelUri('qemu:///system'), isLocalKernelUri('qemu+unix:///system?socket=/x'), isLocalKernelUri('test:///default'), isLocalKernelUri('qemu+tcp://h/system')]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(parseNetDev('garbage')).toBeUndefined();
    expect(parseCpuModelName('')).toBeUndefined();
  });

  it('sorts VMs by id and wild domains last, whatever libvirt\'s order', () => {
    const { output } = run('vm-status', { domains: [domain(10), domain('zz'), domain(2), domain(1, { state: DomainState.Paused })] });
    expect(output.match(/ID="\d+"/g)).toEqual(['ID="1"', 'ID="2"', 'ID="10"']);
  });
});

describe('probe command line', () => {
  const env = (over: Partial<Parameters<typeof probeMain>[2]> = {}) => ({
    argv: [],
    env: { CLOUDVAMP_STATE_DIR: mkdtempSync(path.join(tmpdir(), 'cvstate-')) },
    probePath: undefined,
    open: () => new FakeHypervisor({ domains: [domain(1)] }),
    now: () => 0,
    ...over,
  });

  it('accepts the arguments OpenNebula passes (5.12+ and 4.x) and ignores them', () => {
    expect(probeMain('vm-status', 'p', env({ argv: ['cloudvamp', '7', 'node1'] }))).toContain('VM=[ID="1"');
    expect(probeMain('vm-status', 'p', env({ argv: ['/var/lib/one/datastores', '4124', '20', '7', 'node1'] }))).toContain('VM=[ID="1"');
  });

  it('--uri overrides the config file, which overrides the default', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cvconf-'));
    const conf = path.join(dir, 'c.conf');
    writeFileSync(conf, 'LIBVIRT_URI=qemu+ssh://from-config/system\n');
    const seen: string[] = [];
    const open = (uri: string) => (seen.push(uri), new FakeHypervisor());
    probeMain('vm-status', 'p', env({ argv: ['--config', conf], open }));
    probeMain('vm-status', 'p', env({ argv: ['--config', conf, '--uri', 'test:///default'], open }));
    probeMain('vm-status', 'p', env({ open }));
    expect(seen).toEqual(['qemu+ssh://from-config/system', 'test:///default', 'qemu:///system']);
  });

  it('finds its config file relative to itself in the remotes tree, and CLOUDVAMP_CONFIG overrides it', () => {
    const remotes = mkdtempSync(path.join(tmpdir(), 'cvremotes-'));
    const etc = path.join(remotes, 'etc', 'im', 'cloudvamp-probes.d');
    mkdirSync(etc, { recursive: true });
    writeFileSync(path.join(etc, 'cloudvamp.conf'), 'OVERCOMMIT=0\n');
    const probePath = path.join(remotes, 'im', 'cloudvamp-probes.d', 'host', 'system', 'cloudvamp-host-system');
    expect(probeMain('host-system', 'p', env({ probePath }))).toContain('TOTALMEMORY=16777216\n');
    const other = path.join(remotes, 'other.conf');
    writeFileSync(other, 'OVERCOMMIT=1\n');
    expect(probeMain('host-system', 'p', env({ probePath, env: { CLOUDVAMP_CONFIG: other } }))).toContain('TOTALMEMORY=17825792\n');
  });

  it('--legacy and PROBE_FORMAT=legacy make host/system print the 4.x document', () => {
    expect(probeMain('host-system', 'p', env({ argv: ['--legacy'] }))).toContain('VM_POLL=YES\nVM=[\n  ID=1,\n  DEPLOY_ID=one-1,');
  });

  it('--format json prints the same report as JSON', () => {
    expect(JSON.parse(probeMain('vm-status', 'p', env({ argv: ['--format', 'json'] })))).toEqual({
      SYNC_STATE: 'yes',
      MISSING_STATE: 'POWEROFF',
      VM: [{ ID: 1, DEPLOY_ID: domain(1).uuid, STATE: 'RUNNING' }],
    });
  });

  it('--help prints usage; bad options and formats are usage errors', () => {
    expect(probeMain('vm-monitor', 'cloudvamp-vm-monitor', env({ argv: ['--help'] }))).toMatch(/^Usage: cloudvamp-vm-monitor \[options\]/);
    expect(() => probeMain('vm-monitor', 'p', env({ argv: ['--format', 'xml'] }))).toThrow("--format must be 'one' or 'json', not 'xml'");
    expect(() => probeMain('vm-monitor', 'p', env({ argv: ['--nope'] }))).toThrow("unknown option '--nope'; see --help");
  });
});
