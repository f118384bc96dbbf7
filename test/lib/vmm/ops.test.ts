import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DomainState } from '../../../lib/libvirt/types';
import { DEFAULT_CONFIG, type VmmConfig } from '../../../lib/vmm/config';
import { localFiles } from '../../../lib/io/files';
import { checkDomainXml, deployCheck, hasAcpi, OPS, type OpContext } from '../../../lib/vmm/ops';
import { METADATA_URI, parseSizeMetadata } from '../../../lib/memory/oned-size';
import { FakeHypervisor } from '../../support/fake-hypervisor';

const fixture = (name: string) => readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', name), 'utf8');
const MiB = 1024;

function context(hv: FakeHypervisor, config: Partial<VmmConfig> = {}, stdin = '') {
  const lines: string[] = [];
  const stock: Array<{ action: string; argv: readonly string[]; stdin: string }> = [];
  const ctx: OpContext = {
    hv,
    files: localFiles,
    config: { ...DEFAULT_CONFIG, ...config },
    clock: hv.clock,
    log: (l) => lines.push(l),
    stdin: async () => stdin,
    argv: ['one-1', '1', 'node1'],
    runStock: async (action, argv, input) => void stock.push({ action, argv, stdin: input }),
    pollIntervalMs: 1000,
  };
  return { ctx, lines, stock };
}
const hostArgs = (id: string) => ({ deploy_id: id, host: 'node1', vm_id: '1', vm_host: 'node1' });

describe('deploy', () => {
  const xml = "<domain type='kvm'><name>one-9</name><memory>1024</memory></domain>\n";
  it('writes the deployment file, creates the domain and prints its UUID', async () => {
    const hv = new FakeHypervisor();
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cv-dep-')), '0', '9', 'deployment.0');
    const out = await OPS.deploy(context(hv, {}, xml).ctx, { deployment_file: file, host: 'node1', vm_id: '9', vm_host: 'node1' });
    expect(out).toBe(hv.domain('one-9').uuid);
    // what was started is what the file holds
    expect(hv.created).toEqual([readFileSync(file, 'utf8')]);
  });
  it('starts the domain with the balloon stats period, autodeflate and free page reporting where the host supports them', async () => {
    const hv = new FakeHypervisor();
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cv-dep-')), 'deployment.0');
    const { ctx, lines } = context(hv, { balloonAutodeflate: 'auto' }, "<domain type='kvm'><name>one-9</name><memory>1048576</memory><devices><memballoon model='virtio'/></devices></domain>");
    await OPS.deploy(ctx, { deployment_file: file });
    expect(hv.created[0]).toContain('<memballoon model="virtio" autodeflate="on" freePageReporting="on"><stats period="5"/></memballoon>');
    expect(lines).toEqual([expect.stringMatching(/^INFO: deploy: one-9 started, UUID \S+; balloon: autodeflate, freePageReporting, stats period 5 s$/)]);
    // an older QEMU: auto leaves free page reporting out, the config period is used
    const old = new FakeHypervisor();
    old.versions = { libvirt: '9.0.0', qemu: '4.2.0' };
    await OPS.deploy(context(old, { balloonStatsPeriodS: 3, balloonAutodeflate: 'auto' }, "<domain><name>one-9</name><memory>1024</memory></domain>").ctx, { deployment_file: file });
    expect(old.created[0]).toContain('<memballoon model="virtio" autodeflate="on"><stats period="3"/></memballoon>');
    // all switched off: only cloudvamp's size metadata is added
    const off = new FakeHypervisor();
    await OPS.deploy(context(off, { balloonStatsPeriodS: 0, balloonAutodeflate: 'no', balloonFreePageReporting: 'no' }, "<domain><name>one-9</name><memory>1024</memory><devices><memballoon model='virtio'/></devices></domain>").ctx, { deployment_file: file });
    expect(off.created[0]).toContain('<memballoon model="virtio"/>');
  });
  it('deploy --check reports what the host supports and what deploy adds', () => {
    const hv = new FakeHypervisor();
    hv.versions = { libvirt: '9.0.0', qemu: '4.2.0' };
    expect(deployCheck(hv, { ...DEFAULT_CONFIG, balloonAutodeflate: 'auto', balloonFreePageReporting: 'yes' })).toBe(
      [
        'LIBVIRT_VERSION=9.0.0 QEMU_VERSION=4.2.0',
        'BALLOON_STATS_PERIOD=5: stats every 5 s',
        'BALLOON_AUTODEFLATE=auto: supported by this host, on',
        'BALLOON_FREE_PAGE_REPORTING=yes: not supported by this host, on (deploy will fail: set it to auto or no)',
        '',
      ].join('\n'),
    );
  });
  it('checks the XML before writing anything', async () => {
    const hv = new FakeHypervisor();
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cv-dep-')), 'deployment.0');
    await expect(OPS.deploy(context(hv, {}, '<domain><name>x</name>').ctx, { deployment_file: file })).rejects.toThrow(/^malformed domain XML on stdin/);
    expect(existsSync(file)).toBe(false);
    expect(hv.created).toEqual([]);
  });
  it.each([
    ['', /^no domain XML on stdin/],
    ['<VM><ID>1</ID></VM>', /not a libvirt <domain> document/],
    ['<domain><memory>1</memory></domain>', /has no <name>/],
  ])('refuses %j', (input, message) => {
    expect(() => checkDomainXml(input)).toThrow(message);
  });
});

describe('shutdown', () => {
  it('returns once the guest has powered off', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-1', powerOffAfterMs: 1200 });
    await OPS.shutdown(context(hv).ctx, hostArgs('one-1'));
    expect(d.calls).toEqual(['shutdown']);
    expect(hv.clock.t).toBeGreaterThanOrEqual(1200);
    expect(hv.clock.t).toBeLessThan(2000);
  });
  it('destroys after SHUTDOWN_TIMEOUT when FORCE_DESTROY=yes', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-1', powerOffAfterMs: Infinity });
    const { ctx, lines } = context(hv, { shutdownTimeoutS: 5, forceDestroy: true });
    await OPS.shutdown(ctx, hostArgs('one-1'));
    expect(d.calls).toEqual(['shutdown', 'destroy']);
    expect(hv.clock.t).toBe(5000);
    expect(lines).toEqual(['WARN: shutdown: one-1 did not power off within 5 s: destroying it (FORCE_DESTROY=yes)']);
  });
  it('fails and leaves the VM running after SHUTDOWN_TIMEOUT when FORCE_DESTROY=no', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-1', powerOffAfterMs: Infinity });
    await expect(OPS.shutdown(context(hv, { shutdownTimeoutS: 3, forceDestroy: false }).ctx, hostArgs('one-1'))).rejects.toThrow(
      /did not power off within 3 s of the ACPI request and is still running; use cancel/,
    );
    expect(d.calls).toEqual(['shutdown']);
    expect(d.stateValue).toBe(DomainState.Running);
  });
  it('destroys a domain without ACPI at once when CANCEL_NO_ACPI=yes', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-1', acpi: false });
    await OPS.shutdown(context(hv, { cancelNoAcpi: true }).ctx, hostArgs('one-1'));
    expect(d.calls).toEqual(['destroy']);
  });
  it('names an unknown domain and where it looked', async () => {
    const hv = new FakeHypervisor();
    await expect(OPS.shutdown(context(hv).ctx, hostArgs('one-404'))).rejects.toMatchObject({ kind: 'not-found', message: "domain 'one-404' not found on qemu:///system" });
  });
  it('hasAcpi reads <features><acpi/>', () => {
    expect(hasAcpi('<domain><features>\n<acpi/><apic/></features></domain>')).toBe(true);
    expect(hasAcpi('<domain><features><apic/></features></domain>')).toBe(false);
  });
});

describe('cancel, reboot, reset, save, restore', () => {
  it('call libvirt once each on a running domain', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-1' });
    const { ctx } = context(hv);
    await OPS.reboot(ctx, hostArgs('one-1'));
    await OPS.reset(ctx, hostArgs('one-1'));
    await OPS.cancel(ctx, hostArgs('one-1'));
    expect(d.calls).toEqual(['reboot', 'reset', 'destroy']);
  });
  it('refuse a domain in the wrong state', async () => {
    const hv = new FakeHypervisor();
    hv.add({ name: 'one-1', state: DomainState.Paused });
    await expect(OPS.reboot(context(hv).ctx, hostArgs('one-1'))).rejects.toThrow('cannot reboot domain one-1: it is Paused, not Running or Blocked');
  });
  it('save then restore brings the same domain back', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-1' });
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cv-save-')), 'checkpoint');
    const { ctx, lines } = context(hv);
    await OPS.save(ctx, { deploy_id: d.uuid, checkpoint_file: file });
    expect(hv.domains).toEqual([]);
    await OPS.restore(ctx, { checkpoint_file: file, host: 'node1', deploy_id: d.uuid });
    expect(hv.domain(d.uuid).stateValue).toBe(DomainState.Running);
    expect(lines).toEqual([]);
  });
  it('restore refuses to start a second copy of a running domain', async () => {
    const hv = new FakeHypervisor();
    hv.add({ name: 'one-1' });
    await expect(OPS.restore(context(hv).ctx, { checkpoint_file: '/x/checkpoint', host: 'node1', deploy_id: 'one-1' })).rejects.toThrow(/already Running/);
  });
});

describe('memory and resize', () => {
  it('memory prints what the guest reached', async () => {
    const hv = new FakeHypervisor();
    hv.add({ name: 'one-1', maxKiB: 512 * MiB, follow: 64 * MiB });
    expect(await OPS.memory(context(hv).ctx, { domain: 'one-1', new_kib: String(256 * MiB), host: 'node1' })).toBe(
      'ACTUAL_KIB=262144 TARGET_KIB=262144 PREVIOUS_KIB=524288 SETTLE_MS=400',
    );
  });
  it('resize balloons to the new MEMORY', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-42', maxKiB: 4096 * MiB, currentKiB: 2048 * MiB });
    const { ctx, stock, lines } = context(hv, {}, fixture('resize-ballooning-shrink.xml'));
    await OPS.resize(ctx, { deploy_id: 'one-42', vm_id: '42', vm_host: 'node1' });
    expect(d.currentKiB).toBe(1536 * MiB);
    // the size oned now counts, for the probes (#9 defect 4)
    expect(parseSizeMetadata(d.metadata(METADATA_URI))).toBe(1536 * MiB);
    expect(stock).toEqual([]);
    expect(lines).toEqual([expect.stringMatching(/^INFO: resize: one-42 balloon 2048 -> 1536 MiB in \d+ ms$/)]);
  });
  it('resize refuses a MEMORY below the floor without touching the domain', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-42', maxKiB: 4096 * MiB });
    await expect(OPS.resize(context(hv, { memoryFloorKiB: 2048 * MiB }, fixture('resize-ballooning-shrink.xml')).ctx, { deploy_id: 'one-42' })).rejects.toMatchObject({ kind: 'unsafe' });
    expect(d.calls).toEqual([]);
  });
  it('resize hands a VCPU change to the stock script with the same argv and stdin', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-42', maxKiB: 4096 * MiB, currentKiB: 2048 * MiB });
    const xml = fixture('resize-vcpu-only.xml');
    const { ctx, stock } = context(hv, {}, xml);
    await OPS.resize(ctx, { deploy_id: 'one-42' });
    expect(stock).toEqual([{ action: 'resize', argv: ['one-1', '1', 'node1'], stdin: xml }]);
    expect(d.calls).toEqual([]);
  });
});

describe('poll (legacy)', () => {
  it('prints the POLL line with CloudVAMP keys and CPU over the interval', async () => {
    const hv = new FakeHypervisor();
    hv.add({ name: 'one-1', maxKiB: 1024 * MiB, currentKiB: 512 * MiB });
    hv.stats = (_d, call) => ({ cpuTimeNs: call % 2 === 0 ? 1e9 : 1.5e9, netRxBytes: 10, netTxBytes: 20 });
    expect(await OPS.poll(context(hv).ctx, hostArgs('one-1'))).toBe(
      'STATE=a CPU=50 MEMORY=524288 NETRX=10 NETTX=20 MAXMEMORY=1048576 REALMEMORY=524288 PACKEDMEMORY=524288',
    );
    expect(await OPS.poll(context(hv, { pollFormat: '4.8' }).ctx, hostArgs('one-1'))).toMatch(/^STATE=a USEDCPU=50 USEDMEMORY=524288 /);
  });
  it('reports a domain that is gone as STATE=d rather than failing', async () => {
    expect(await OPS.poll(context(new FakeHypervisor()).ctx, hostArgs('one-1'))).toBe('STATE=d');
  });
});

describe('ksm (host-side KSM tuning)', () => {
  const recording = (fail?: string) => {
    const writes: Array<[string, string]> = [];
    const files = {
      makeDir: () => undefined,
      writeText: (file: string, text: string) => {
        if (fail) throw Object.assign(new Error(fail), { code: fail });
        writes.push([file, text]);
      },
    };
    return { files, writes };
  };
  it('writes the scan settings, then run, and prints what it set', async () => {
    const { files, writes } = recording();
    const { ctx } = context(new FakeHypervisor());
    const out = await OPS.ksm({ ...ctx, files }, { run: '1', pages_to_scan: '364', sleep_millisecs: '10', host: 'node1' });
    expect(out).toBe('KSM_RUN=1 KSM_PAGES_TO_SCAN=364 KSM_SLEEP_MILLISECS=10');
    expect(writes).toEqual([
      ['/sys/kernel/mm/ksm/pages_to_scan', '364\n'],
      ['/sys/kernel/mm/ksm/sleep_millisecs', '10\n'],
      ['/sys/kernel/mm/ksm/run', '1\n'],
    ]);
  });
  it('refuses a bad run value before writing; names the fix when it may not write', async () => {
    const { files, writes } = recording();
    const { ctx } = context(new FakeHypervisor());
    await expect(OPS.ksm({ ...ctx, files }, { run: '3', pages_to_scan: '64', sleep_millisecs: '10' })).rejects.toThrow(/is not 0 \(stop\), 1 \(run\) or 2/);
    expect(writes).toEqual([]);
    await expect(OPS.ksm({ ...ctx, files: recording('EACCES').files }, { run: '1', pages_to_scan: '64', sleep_millisecs: '10' })).rejects.toThrow(/needs root/);
    await expect(OPS.ksm({ ...ctx, files: recording('ENOENT').files }, { run: '1', pages_to_scan: '64', sleep_millisecs: '10' })).rejects.toThrow(/has no KSM/);
  });
});
