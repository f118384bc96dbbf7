// The IM probes on a real QEMU guest with a virtio balloon: shrinking the
// balloon with cloudvamp's libvirt client makes the built probes report the
// memory taken back, exactly, in the VM's PACKEDMEMORY, the host's
// PACKEDMEMORY and the host's TOTALMEMORY (= physical + O x borrowed).
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openHypervisor } from '../../lib/libvirt/client.js';
import type { Hypervisor } from '../../lib/libvirt/types.js';
import { agent, destroyGuest, hostUri, startGuest, waitFor } from '../harness/index.js';

const VM_ID = 9101;
const NAME = `one-${VM_ID}`;
const MAX_MIB = 1024;
const SHRUNK_MIB = 512;
const OVERCOMMIT = 0.5;

const repo = path.resolve(__dirname, '../..');
let work: string;
let build: string;
let config: string;
let hv: Hypervisor;

const probe = async (category: string, file: string) => {
  const run = await execa(
    'node',
    [path.join(build, 'remotes/im/cloudvamp-probes.d', category, file), '--uri', hostUri(1), '--config', config, 'cloudvamp', '1', 'cvh-h1'],
    { env: { CLOUDVAMP_STATE_DIR: path.join(work, 'state') }, reject: false },
  );
  expect(run.stderr).toBe('');
  expect(run.exitCode).toBe(0);
  return run.stdout;
};

type Figure =
  | 'REALMEMORY' | 'USEDMEMORY' | 'MAXMEMORY' | 'PACKEDMEMORY' | 'GUEST_MEMTOTAL'
  | 'TOTALMEMORY' | 'CLOUDVAMP_PHYSICALMEMORY';

// a figure the probe did not print reads as undefined and fails the comparison it is in
const keys = (text: string) =>
  Object.fromEntries(
    text
      .split('\n')
      .map((line) => /^([A-Z_]+)=(?:"([^"]*)"|(\S+))$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], Number(m[2] ?? m[3])]),
  ) as Record<Figure, number>;

/** The MONITOR template of one VM in vm/monitor output, decoded. */
const vmMonitor = (text: string, id: number) => {
  const b64 = new RegExp(`^VM = \\[ ID="${id}",.*MONITOR="([^"]+)"|^VM=\\[ID="${id}",.*MONITOR="([^"]+)"`, 'm').exec(text);
  expect(b64, `VM ${id} in vm/monitor output:\n${text}`).not.toBeNull();
  return keys(Buffer.from((b64?.[1] ?? b64?.[2]) as string, 'base64').toString());
};

const snapshot = async () => {
  const system = keys(await probe('host/system', 'cloudvamp-host-system'));
  const vm = vmMonitor(await probe('vm/monitor', 'cloudvamp-vm-monitor'), VM_ID);
  return { system, vm };
};

beforeAll(async () => {
  const accel = inject('kvmAccel');
  work = await mkdtemp(path.join(tmpdir(), 'cloudvamp-kvm-probes-'));
  build = path.join(work, 'build');
  config = path.join(work, 'cloudvamp.conf');
  await writeFile(config, `OVERCOMMIT=${OVERCOMMIT}\n`);
  await execa('node', [path.join(repo, 'scripts/build.mjs'), 'remotes/im/'], { env: { CLOUDVAMP_BUILD_DIR: build } });
  await startGuest(1, { name: NAME, maxMiB: MAX_MIB, currentMiB: MAX_MIB, accel });
  hv = openHypervisor(hostUri(1));
});

afterAll(async () => {
  hv?.close();
  await destroyGuest(NAME);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('probes on a real guest (QEMU, virtio balloon)', () => {
  it('report the borrowed memory exactly once the balloon has taken it back', async () => {
    const before = await snapshot();
    // untouched balloon: nothing borrowed from this VM
    expect(before.vm.REALMEMORY).toBe(MAX_MIB * 1024);
    expect(before.vm.PACKEDMEMORY).toBe(0);
    // the guest's own view is there, and never enters the borrowed figure
    expect(before.vm.GUEST_MEMTOTAL).toBeGreaterThan(0);

    const dom = hv.domain(NAME);
    try {
      dom.setMemoryLive(SHRUNK_MIB * 1024);
    } finally {
      dom.free();
    }
    // libvirt updates the bulk balloon.current (what the probes read) from
    // QEMU's rate-limited BALLOON_CHANGE events, up to ~1 s after the guest
    // reached the target: wait for the figure the probes report
    const bulkBalloon = () => hv.getAllDomainStats({ state: true, balloon: true }).find((s) => s.name === NAME)?.balloon.currentKiB;
    await waitFor(() => bulkBalloon() === SHRUNK_MIB * 1024, { timeoutMs: 30_000, what: `balloon of ${NAME} at ${SHRUNK_MIB} MiB` });
    // the guest itself sees the smaller memory
    const status = await agent(NAME, 1, 'status');
    expect(status.memTotalKiB).toBeLessThanOrEqual(SHRUNK_MIB * 1024);

    const after = await snapshot();
    // per VM, CloudVAMP's meanings: REAL = balloon, USED = max(RSS, balloon), MAX = max(RSS, max), PACKED = MAX - USED
    expect(after.vm.REALMEMORY).toBe(SHRUNK_MIB * 1024);
    expect(after.vm.USEDMEMORY).toBeGreaterThanOrEqual(SHRUNK_MIB * 1024);
    expect(after.vm.PACKEDMEMORY).toBe(after.vm.MAXMEMORY - after.vm.USEDMEMORY);
    // QEMU under TCG holds far less than 512 MiB of this idle guest, so the
    // balloon size is what the VM holds and all it gave back counts
    expect(after.vm.USEDMEMORY).toBe(SHRUNK_MIB * 1024);
    expect(after.vm.PACKEDMEMORY).toBe((MAX_MIB - SHRUNK_MIB) * 1024);

    // per host: PACKEDMEMORY rises by what this VM gave back, TOTALMEMORY by O times that
    const rise = after.system.PACKEDMEMORY - before.system.PACKEDMEMORY;
    expect(rise).toBe((MAX_MIB - SHRUNK_MIB) * 1024);
    expect(after.system.TOTALMEMORY - before.system.TOTALMEMORY).toBe(OVERCOMMIT * rise);
    expect(after.system.TOTALMEMORY).toBe(after.system.CLOUDVAMP_PHYSICALMEMORY + OVERCOMMIT * after.system.PACKEDMEMORY);
    expect(after.system.CLOUDVAMP_PHYSICALMEMORY).toBe(before.system.CLOUDVAMP_PHYSICALMEMORY);
    // physical is the host's MemTotal (the harness hosts share this machine's kernel), as the stock probes report it
    const memTotal = Number(/^MemTotal:\s+(\d+) kB$/m.exec(await readFile('/proc/meminfo', 'utf8'))?.[1]);
    expect(after.system.CLOUDVAMP_PHYSICALMEMORY).toBe(memTotal);
  });

  it('probe a real host with a constant number of libvirt calls: the balloon comes in the bulk stats', () => {
    const stats = hv.getAllDomainStats({ state: true, balloon: true });
    const mine = stats.find((s) => s.name === NAME);
    // QEMU reports the whole balloon group in virConnectGetAllDomainStats, guest view included
    expect(mine?.balloon).toMatchObject({ currentKiB: SHRUNK_MIB * 1024, maximumKiB: MAX_MIB * 1024 });
    expect(mine?.balloon.rssKiB).toBeGreaterThan(0);
    expect(mine?.balloon.availableKiB).toBeGreaterThan(0);
  });
});
