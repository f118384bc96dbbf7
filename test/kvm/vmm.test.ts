// The built VMM actions on real guests: two libvirt hosts in network
// namespaces (global set-up), a tiny Linux guest whose agent reports MemTotal
// and a counter that only grows while the guest keeps running. The actions run
// as OpenNebula runs them on the source host: argv + stdin, config from
// <remotes>/etc/vmm/cloudvamp (here one file per host, CLOUDVAMP_VMM_CONFIG),
// connecting to that host's libvirtd; migrations are peer-to-peer to
// qemu+tcp://<dest>/system over the hosts' private network.
//
// Guests run under TCG here. QEMU 7.2's TCG loses pages a running guest dirties
// during a live migration (fixed upstream in 9.0), so the quiet guest is
// live-migrated and the busy one migrates paused (MIGRATE_LIVE=no).
import { existsSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type AgentStatus,
  agent,
  destroyGuest,
  findGuest,
  guestDomainXml,
  hostName,
  memStats,
  startGuest,
  virsh,
  waitFor,
} from '../harness/index.js';
import { makeRemotes, runAction, type Remotes, type RunResult } from '../vmm/remotes';

const QUIET = 'cvt-vmm-quiet';
const BUSY = 'cvt-vmm-busy';
const NO_DRIVER = 'cvt-vmm-noballoon';
const MiB = 1024; // KiB
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const hosts = inject('kvmHosts');
const accel = inject('kvmAccel');
let remotes: Remotes;
/** config file per source host (index 1, 2), and host 2's for paused migrations */
const conf: Record<string, string> = {};

function config(name: string, uri: string, extra = ''): string {
  const file = remotes.file(`${name}.conf`);
  writeFileSync(
    file,
    [
      `LIBVIRT_URI="${uri}"`,
      'QEMU_PROTOCOL=qemu+tcp',
      'MIGRATE_OPTIONS="--p2p"',
      'MEMORY_FLOOR_MIB=96',
      'BALLOON_SETTLE_TIMEOUT=30',
      'SHUTDOWN_TIMEOUT=60',
      // the MemTotal checks below are about a guest without deflate-on-OOM (deploy's default turns it on
      // where supported; with it MemTotal keeps its boot size, see balloon-features.test.ts)
      'BALLOON_AUTODEFLATE=no',
      extra,
    ].join('\n'),
  );
  return file;
}

/** Runs an action on host `h` (1 or 2), as one_vmm_exec would there; logs its stderr. */
async function onHost(h: 1 | 2, action: string, args: string[], options: { input?: string; config?: string } = {}): Promise<RunResult> {
  const t0 = Date.now();
  const r = await runAction(remotes, action, args, {
    env: { CLOUDVAMP_VMM_CONFIG: options.config ?? conf[`h${h}`]! },
    ...(options.input !== undefined ? { input: options.input } : {}),
    timeoutMs: 180_000,
  });
  console.log(`vmm ${action} on ${hostName(h)}: exit ${r.exitCode} in ${((Date.now() - t0) / 1000).toFixed(2)} s${r.stderr ? `\n  ${r.stderr.trim().split('\n').join('\n  ')}` : ''}`);
  return r;
}

const ok = (r: RunResult) => ({ exit: r.exitCode, errors: r.errorLines });

/** The guest keeps running: same boot, counter beyond `before`. */
async function stillCounting(name: string, h: number, before: AgentStatus): Promise<AgentStatus> {
  const after = await waitFor(
    async () => {
      const s = await agent(name, h, 'status');
      return s.counter > before.counter && s;
    },
    { timeoutMs: 10_000, what: `${name}'s counter to grow on ${hostName(h)}` },
  );
  expect(after.bootId).toBe(before.bootId);
  expect(after.restarts).toBe(0);
  return after;
}

let uuid = '';

beforeAll(async () => {
  remotes = await makeRemotes();
  conf['h1'] = config('h1', hosts[0]!.uri);
  conf['h2'] = config('h2', hosts[1]!.uri);
  conf['h2-paused'] = config('h2-paused', hosts[1]!.uri, 'MIGRATE_LIVE=no');
}, 120_000);

afterAll(async () => {
  await destroyGuest(QUIET).catch(() => undefined);
  await destroyGuest(BUSY).catch(() => undefined);
  await destroyGuest(NO_DRIVER).catch(() => undefined);
  remotes?.cleanup();
});

describe('vmm actions on real guests', () => {
  it('deploy starts the deployment XML on host 1 and prints the libvirt UUID', async () => {
    const file = remotes.file('datastores', '0', '1', 'deployment.0');
    const xml = guestDomainXml({ name: QUIET, maxMiB: 256, currentMiB: 256, accel });
    const r = await onHost(1, 'deploy', [file, hostName(1), '1', hostName(1)], { input: xml });
    expect(ok(r)).toEqual({ exit: 0, errors: [] });
    uuid = r.stdout.trim();
    expect(uuid).toMatch(UUID_RE);
    expect(existsSync(file)).toBe(true);
    expect((await virsh(1, ['domuuid', QUIET])).trim()).toBe(uuid);
    expect((await virsh(1, ['domstate', QUIET])).trim()).toBe('running');
    await waitFor(() => agent(QUIET, 1, 'ping', 2_000), { timeoutMs: 120_000, intervalMs: 250, what: `${QUIET}'s agent` });
  });

  it('memory shrinks the balloon and the guest MemTotal follows; resize grows it back', async () => {
    const before = await agent(QUIET, 1, 'status');
    const shrink = await onHost(1, 'memory', [uuid, String(160 * MiB), hostName(1)]);
    expect(ok(shrink)).toEqual({ exit: 0, errors: [] });
    expect(shrink.stdout.trim()).toMatch(new RegExp(`^ACTUAL_KIB=${160 * MiB} TARGET_KIB=${160 * MiB} PREVIOUS_KIB=${256 * MiB} SETTLE_MS=\\d+$`));
    expect((await memStats(QUIET, 1)).actual).toBe(160 * MiB);
    const shrunk = await agent(QUIET, 1, 'status');
    // without deflate-on-oom the guest's MemTotal moves with the balloon
    expect(before.memTotalKiB - shrunk.memTotalKiB).toBeGreaterThanOrEqual(94 * MiB);
    expect(before.memTotalKiB - shrunk.memTotalKiB).toBeLessThanOrEqual(98 * MiB);

    // the legacy poll sees the ballooned size: REALMEMORY is the balloon, PACKEDMEMORY what it took back
    const poll = await onHost(1, 'poll', [uuid, hostName(1), '1', hostName(1)]);
    expect(ok(poll)).toEqual({ exit: 0, errors: [] });
    const keys = Object.fromEntries(poll.stdout.trim().split(' ').map((kv) => kv.split('=') as [string, string]));
    expect(keys).toMatchObject({ STATE: 'a', REALMEMORY: String(160 * MiB) });
    expect(Number(keys['CPU'])).toBeGreaterThan(0);
    expect(Number(keys['MAXMEMORY'])).toBeGreaterThanOrEqual(256 * MiB);
    expect(Number(keys['PACKEDMEMORY'])).toBe(Number(keys['MAXMEMORY']) - Number(keys['MEMORY']));

    // OpenNebula's RESIZE (MEMORY_RESIZE_MODE=BALLOONING): new MEMORY in VM/TEMPLATE
    const action = `<VMM_DRIVER_ACTION_DATA><HOST>${hostName(1)}</HOST><DEPLOY_ID>${uuid}</DEPLOY_ID><VM><ID>1</ID><TEMPLATE><MEMORY>256</MEMORY><MEMORY_MAX>256</MEMORY_MAX><MEMORY_RESIZE_MODE>BALLOONING</MEMORY_RESIZE_MODE><VCPU>1</VCPU><RESIZE><MEMORY>160</MEMORY><VCPU>1</VCPU></RESIZE></TEMPLATE></VM></VMM_DRIVER_ACTION_DATA>\n`;
    const grow = await onHost(1, 'resize', [uuid, '1', hostName(1)], { input: action });
    expect(ok(grow)).toEqual({ exit: 0, errors: [] });
    expect(grow.stderr).toMatch(/INFO: resize: cvt-vmm-quiet balloon 160 -> 256 MiB in \d+ ms/);
    const grown = await agent(QUIET, 1, 'status');
    expect(Math.abs(grown.memTotalKiB - before.memTotalKiB)).toBeLessThanOrEqual(1 * MiB);
    expect(grown.bootId).toBe(before.bootId);
  });

  it('memory refuses more than the maximum and leaves the balloon alone', async () => {
    const r = await onHost(1, 'memory', [uuid, String(512 * MiB), hostName(1)]);
    expect(r.exitCode).toBe(1);
    expect(r.errorLines).toEqual([expect.stringMatching(/^memory: memory 512 MiB .* above the VM's maximum 256 MiB/)]);
    expect((await memStats(QUIET, 1)).actual).toBe(256 * MiB);
  });

  it('save stops the guest into a checkpoint; restore resumes the same boot', async () => {
    const before = await agent(QUIET, 1, 'status');
    const checkpoint = remotes.file('datastores', '0', '1', 'checkpoint');
    expect(ok(await onHost(1, 'save', [uuid, checkpoint, hostName(1), '1', hostName(1)]))).toEqual({ exit: 0, errors: [] });
    expect(await findGuest(QUIET)).toBeUndefined();
    expect(existsSync(checkpoint)).toBe(true);
    expect(ok(await onHost(1, 'restore', [checkpoint, hostName(1), uuid, '1', hostName(1)]))).toEqual({ exit: 0, errors: [] });
    expect(await findGuest(QUIET)).toBe(1);
    await stillCounting(QUIET, 1, before);
  });

  it('live-migrates the quiet guest to host 2 and back without a reboot, progress on stderr', async () => {
    const before = await agent(QUIET, 1, 'status');
    const there = await onHost(1, 'migrate', [uuid, hostName(2), hostName(1), '1', hostName(1)]);
    expect(ok(there)).toEqual({ exit: 0, errors: [] });
    // the host names follow CLOUDVAMP_TEST_PREFIX (cvh-h2 by default)
    expect(there.stderr).toMatch(new RegExp(`^INFO: migrate: cvt-vmm-quiet to qemu\\+tcp://${hostName(2)}/system \\(live, peer-to-peer\\)$`, 'm'));
    expect(there.stderr).toMatch(new RegExp(`^INFO: migrate: cvt-vmm-quiet now runs on qemu\\+tcp://${hostName(2)}/system after [\\d.]+ s`, 'm'));
    expect(await findGuest(QUIET)).toBe(2);
    const onTwo = await stillCounting(QUIET, 2, before);

    const back = await onHost(2, 'migrate', [uuid, hostName(1), hostName(2), '1', hostName(2)]);
    expect(ok(back)).toEqual({ exit: 0, errors: [] });
    expect(await findGuest(QUIET)).toBe(1);
    await stillCounting(QUIET, 1, onTwo);
  });

  it('a migration to an unreachable host fails and leaves the VM running on the source', async () => {
    const before = await agent(QUIET, 1, 'status');
    // cvh-h9 resolves on the hosts' network, but no libvirtd listens there
    const r = await onHost(1, 'migrate', [uuid, hostName(9), hostName(1), '1', hostName(1)]);
    expect(r.exitCode).toBe(1);
    expect(r.errorLines).toEqual([expect.stringMatching(new RegExp(`^migrate: migration of cvt-vmm-quiet to qemu\\+tcp://${hostName(9)}/system failed: .*; the VM is still running on the source$`))]);
    expect(await findGuest(QUIET)).toBe(1);
    expect((await virsh(1, ['domstate', QUIET])).trim()).toBe('running');
    await stillCounting(QUIET, 1, before);
  });

  it('shutdown powers the guest off through ACPI', async () => {
    const r = await onHost(1, 'shutdown', [uuid, hostName(1), '1', hostName(1)]);
    expect(ok(r)).toEqual({ exit: 0, errors: [] });
    expect(r.stderr).not.toMatch(/WARN: shutdown/); // the guest obeyed ACPI, no forced destroy
    expect(await findGuest(QUIET)).toBeUndefined();
  });

  it('migrates a busy guest paused (MIGRATE_LIVE=no) and cancel destroys it', async () => {
    await startGuest(1, { name: BUSY, maxMiB: 256, currentMiB: 256, accel });
    await agent(BUSY, 1, 'hold 64');
    await agent(BUSY, 1, 'dirty 50');
    const before = await agent(BUSY, 1, 'status');
    expect(before.dirtyMiBs).toBe(50);
    const r = await onHost(1, 'migrate', [BUSY, hostName(2), hostName(1), '2', hostName(1)], { config: config('h1-paused', hosts[0]!.uri, 'MIGRATE_LIVE=no') });
    expect(ok(r)).toEqual({ exit: 0, errors: [] });
    expect(r.stderr).toMatch(/\(paused \(not live\), peer-to-peer\)/);
    expect(await findGuest(BUSY)).toBe(2);
    const after = await stillCounting(BUSY, 2, before);
    expect(after.heldMiB).toBe(64);
    expect(after.dirtyMiBs).toBe(50);

    expect(ok(await onHost(2, 'cancel', [BUSY, hostName(2), '2', hostName(2)], { config: conf['h2-paused']! }))).toEqual({ exit: 0, errors: [] });
    expect(await findGuest(BUSY)).toBeUndefined();
  });

  it('memory on a guest without the balloon driver fails clearly and leaves the balloon as it was', async () => {
    // the device is there, the guest kernel refuses to load its driver
    const xml = guestDomainXml({ name: NO_DRIVER, maxMiB: 256, currentMiB: 256, accel }).replace(
      '<cmdline>console=ttyS0 quiet panic=-1</cmdline>',
      '<cmdline>console=ttyS0 quiet panic=-1 module_blacklist=virtio_balloon</cmdline>',
    );
    expect(xml).toContain('module_blacklist=virtio_balloon');
    const deployed = await onHost(2, 'deploy', [remotes.file('datastores', '0', '3', 'deployment.0'), hostName(2), '3', hostName(2)], { input: xml });
    expect(ok(deployed)).toEqual({ exit: 0, errors: [] });
    await waitFor(() => agent(NO_DRIVER, 2, 'ping', 2_000), { timeoutMs: 120_000, intervalMs: 250, what: `${NO_DRIVER}'s agent` });
    const before = await agent(NO_DRIVER, 2, 'status');

    const r = await onHost(2, 'memory', [NO_DRIVER, String(160 * MiB), hostName(2)]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.errorLines).toEqual([
      expect.stringMatching(/^memory: guest has no virtio balloon driver \(memballoon stats missing\): .*balloon target set back to 256 MiB/),
    ]);
    expect((await memStats(NO_DRIVER, 2)).actual).toBe(256 * MiB);
    const after = await stillCounting(NO_DRIVER, 2, before);
    expect(after.memTotalKiB).toBe(before.memTotalKiB);
    expect(ok(await onHost(2, 'cancel', [NO_DRIVER, hostName(2), '3', hostName(2)]))).toEqual({ exit: 0, errors: [] });
  });
});
