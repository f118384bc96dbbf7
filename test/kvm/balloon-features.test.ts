// The balloon options the deploy action adds to oned's domain XML, on real
// guests (#9 defect 3, #13 part 3). Two guests deployed through the built
// `deploy` action from an OpenNebula-shaped XML (a bare <memballoon>): ON with
// the stats period, autodeflate and free page reporting where this host's
// libvirt/QEMU support them (BALLOON_AUTODEFLATE=auto; autodeflate is off by
// default) and OFF with both safety nets switched off. The guest kernel (Debian 6.1 cloud) has CONFIG_PAGE_REPORTING and the
// virtio_balloon driver honours DEFLATE_ON_OOM.
//
// Figures are printed as `FIGURE {json}` lines; bench/results/balloon-safety-nets.txt
// is this file's raw output.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openHypervisor } from '../../lib/libvirt/client.js';
import type { Hypervisor } from '../../lib/libvirt/types.js';
import { vmMemory } from '../../lib/memory/accounting.js';
import { collectSnapshot } from '../../lib/monitor/collect.js';
import { domainMemory } from '../../lib/monitor/reports.js';
import { agent, destroyGuest, guestDomainXml, hostUri, virsh, waitFor } from '../harness/index.js';
import { makeRemotes, runAction, type Remotes } from '../vmm/remotes';

const ON = 'cvt-feat-on';
const OFF = 'cvt-feat-off';
const MAX_MIB = 512;
const BALLOONED_MIB = 384;
const BURST_MIB = 256;
const MiB = 1024;

const accel = inject('kvmAccel');
let remotes: Remotes;
let hv: Hypervisor;
const figure = (name: string, data: Record<string, unknown>) => console.log(`FIGURE ${JSON.stringify({ name, ...data })}`);

/** The harness guest as oned would send it: a memballoon without stats or options. */
const onedXml = (name: string) =>
  guestDomainXml({ name, maxMiB: MAX_MIB, currentMiB: MAX_MIB, accel }).replace(
    /<memballoon model='virtio'>[\s\S]*?<\/memballoon>/,
    "<memballoon model='virtio'/>",
  );

async function deploy(name: string, extra: string): Promise<void> {
  const conf = remotes.file(`${name}.conf`);
  writeFileSync(conf, `LIBVIRT_URI="${hostUri(1)}"\n${extra}\n`);
  const r = await runAction(remotes, 'deploy', [remotes.file('ds', name, 'deployment.0'), 'h1', '1', 'h1'], {
    env: { CLOUDVAMP_VMM_CONFIG: conf },
    input: onedXml(name),
    timeoutMs: 60_000,
  });
  expect({ exit: r.exitCode, errors: r.errorLines }).toEqual({ exit: 0, errors: [] });
}

const bulk = (name: string) => {
  const s = hv.getAllDomainStats({ balloon: true }).find((d) => d.name === name);
  if (!s) throw new Error(`${name} is not running on host 1`);
  return s.balloon;
};

beforeAll(async () => {
  remotes = await makeRemotes();
  hv = openHypervisor(hostUri(1));
  await Promise.all([
    deploy(ON, 'BALLOON_AUTODEFLATE=auto'),
    deploy(OFF, 'BALLOON_AUTODEFLATE=no\nBALLOON_FREE_PAGE_REPORTING=no'),
  ]);
  for (const name of [ON, OFF]) await waitFor(() => agent(name, 1, 'ping', 2_000), { timeoutMs: 120_000, intervalMs: 250, what: `the agent of ${name}` });
}, 240_000);

afterAll(async () => {
  hv?.close();
  await destroyGuest(ON).catch(() => undefined);
  await destroyGuest(OFF).catch(() => undefined);
  remotes?.cleanup();
});

describe('deploy adds the balloon options oned leaves out', () => {
  it('the running domain carries them (this host supports all three)', async () => {
    const on = await virsh(1, ['dumpxml', ON]);
    expect(on).toMatch(/<memballoon model='virtio' autodeflate='on' freePageReporting='on'>\s*<stats period='5'\/>/);
    const off = await virsh(1, ['dumpxml', OFF]);
    expect(off).toMatch(/<memballoon model='virtio'>\s*<stats period='5'\/>/);
  });

  it('balloon stats refresh after deploy: the guest allocates and the figures libvirt gives move', async () => {
    const before = bulk(ON);
    await agent(ON, 1, 'hold 128');
    const t0 = Date.now();
    const after = await waitFor(
      () => {
        const b = bulk(ON);
        return (b.unusedKiB ?? Infinity) < (before.unusedKiB ?? 0) - 100 * MiB && b;
      },
      { timeoutMs: 15_000, intervalMs: 250, what: `${ON}'s balloon unused to fall by 100 MiB` },
    );
    figure('stats-refresh', { unusedBeforeKiB: before.unusedKiB, unusedAfterKiB: after.unusedKiB, seconds: (Date.now() - t0) / 1000, lastUpdateBefore: before.lastUpdate, lastUpdateAfter: after.lastUpdate });
    expect(after.lastUpdate).toBeGreaterThan(before.lastUpdate ?? Infinity);
    await agent(ON, 1, 'hold 0');
  });
});

describe('free page reporting: QEMU RSS falls after a burst without a balloon change', () => {
  async function burst(name: string) {
    const dom = hv.domain(name);
    try {
      dom.setMemoryLive(BALLOONED_MIB * MiB);
    } finally {
      dom.free();
    }
    await waitFor(() => bulk(name).currentKiB === BALLOONED_MIB * MiB, { timeoutMs: 30_000, what: `${name} ballooned to ${BALLOONED_MIB} MiB` });
    // let earlier frees settle (reporting runs 2 s after pages are freed)
    await new Promise((r) => setTimeout(r, 4_000));
    const base = bulk(name);
    await agent(name, 1, `hold ${BURST_MIB}`, 60_000);
    const peak = bulk(name);
    await agent(name, 1, 'hold 0');
    const t0 = Date.now();
    let end = peak;
    let fallenAtS: number | undefined;
    const rise = (peak.rssKiB ?? 0) - (base.rssKiB ?? 0);
    while (Date.now() - t0 < 10_000) {
      await new Promise((r) => setTimeout(r, 500));
      end = bulk(name);
      if (fallenAtS === undefined && (peak.rssKiB ?? 0) - (end.rssKiB ?? 0) >= 0.8 * BURST_MIB * MiB) fallenAtS = (Date.now() - t0) / 1000;
    }
    const packed = (b: typeof base) => vmMemory(b).packedKiB;
    const result = {
      guest: name,
      rssBaseKiB: base.rssKiB,
      rssPeakKiB: peak.rssKiB,
      rssAfter10sKiB: end.rssKiB,
      riseKiB: rise,
      fallKiB: (peak.rssKiB ?? 0) - (end.rssKiB ?? 0),
      fallShareOfBurst: ((peak.rssKiB ?? 0) - (end.rssKiB ?? 0)) / (BURST_MIB * MiB),
      secondsTo80Percent: fallenAtS,
      balloonKiB: [base.currentKiB, peak.currentKiB, end.currentKiB],
      packedKiB: [packed(base), packed(peak), packed(end)],
    };
    figure('free-page-reporting', result);
    return { base, peak, end, result };
  }

  it('with freePageReporting on, RSS falls back by >= 80 % of a 256 MiB burst within 10 s, and PACKEDMEMORY follows', async () => {
    const { peak, end, result } = await burst(ON);
    expect(result.riseKiB).toBeGreaterThan(0.8 * BURST_MIB * MiB);
    expect(result.fallKiB).toBeGreaterThanOrEqual(0.8 * BURST_MIB * MiB);
    // the balloon did not move: the guest gave the pages back on its own
    expect(end.currentKiB).toBe(BALLOONED_MIB * MiB);
    // PACKEDMEMORY = max(RSS, max) - max(RSS, balloon): the burst pushed RSS above the balloon and cut it; the fall gives it back
    expect(vmMemory(end).packedKiB).toBe(Math.max(end.rssKiB ?? 0, MAX_MIB * MiB) - Math.max(end.rssKiB ?? 0, BALLOONED_MIB * MiB));
    expect(vmMemory(end).packedKiB).toBeGreaterThanOrEqual(vmMemory(peak).packedKiB);
  });

  it('without it, RSS stays up: the burst is held by QEMU until the balloon takes it', async () => {
    const { result } = await burst(OFF);
    expect(result.riseKiB).toBeGreaterThan(0.8 * BURST_MIB * MiB);
    expect(result.fallKiB).toBeLessThan(0.5 * BURST_MIB * MiB);
  });
});

describe('resize accounting on a real guest (#9 defect 4)', () => {
  const packedOf = (name: string) => {
    const snap = collectSnapshot(hv, { domains: true, onedSizes: true }, { now: Date.now, readProc: () => undefined });
    const d = snap.domains.find((x) => x.name === name);
    if (!d) throw new Error(`${name} is not running on host 1`);
    return { packedKiB: domainMemory(d, snap).packedKiB, onedKiB: snap.onedSizes?.[d.uuid] };
  };

  it('borrowed = the size oned believes − balloon: the memory action lends, a resize oned counts does not lend twice', async () => {
    const dom = hv.domain(ON);
    try {
      dom.setMemoryLive(BALLOONED_MIB * MiB);
    } finally {
      dom.free();
    }
    await waitFor(() => bulk(ON).currentKiB === BALLOONED_MIB * MiB, { timeoutMs: 30_000, what: `${ON} at ${BALLOONED_MIB} MiB` });
    // deploy recorded oned's MEMORY (512 MiB); ballooned without oned knowing (APPLY_MODE=memory): 128 MiB borrowed
    const ballooned = packedOf(ON);
    expect(ballooned).toEqual({ onedKiB: MAX_MIB * MiB, packedKiB: (MAX_MIB - BALLOONED_MIB) * MiB });
    // oned resizes the VM to 384 MiB (its MEM_USAGE falls by 128 MiB): the resize action records it, nothing is borrowed any more
    const conf = remotes.file(`${ON}.conf`);
    const xml = `<VMM_DRIVER_ACTION_DATA><HOST>h1</HOST><VM><ID>1</ID><TEMPLATE><MEMORY>${BALLOONED_MIB}</MEMORY><MEMORY_RESIZE_MODE>BALLOONING</MEMORY_RESIZE_MODE><VCPU>1</VCPU><RESIZE><MEMORY>${MAX_MIB}</MEMORY><VCPU>1</VCPU></RESIZE></TEMPLATE></VM></VMM_DRIVER_ACTION_DATA>\n`;
    const r = await runAction(remotes, 'resize', [ON, '1', 'h1'], { env: { CLOUDVAMP_VMM_CONFIG: conf }, input: xml, timeoutMs: 60_000 });
    expect({ exit: r.exitCode, errors: r.errorLines }).toEqual({ exit: 0, errors: [] });
    const resized = packedOf(ON);
    expect(resized).toEqual({ onedKiB: BALLOONED_MIB * MiB, packedKiB: 0 });
    figure('resize-accounting', { onedBeforeKiB: ballooned.onedKiB, packedMemoryModeKiB: ballooned.packedKiB, onedAfterResizeKiB: resized.onedKiB, packedAfterResizeKiB: resized.packedKiB });
  });
});

describe('autodeflate: a guest ballooned too far survives an allocation', () => {
  /** balloon to `mib`, then grab more than the guest has left; returns the agent's restarts and the balloon after */
  async function squeeze(name: string) {
    const dom = hv.domain(name);
    try {
      dom.setMemoryLive(128 * MiB);
    } finally {
      dom.free();
    }
    await waitFor(() => (bulk(name).currentKiB ?? Infinity) <= 140 * MiB, { timeoutMs: 30_000, what: `${name} ballooned to 128 MiB` });
    const before = await agent(name, 1, 'status');
    const want = Math.round(before.memAvailableKiB / MiB) + 64;
    let reply: string;
    try {
      reply = await agent(name, 1, `grab ${want}`, 20_000); // the OOM killer acts within seconds; no reply means it did
    } catch (error) {
      reply = `no reply (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`;
    }
    const after = await waitFor(() => agent(name, 1, 'status', 2_000), { timeoutMs: 60_000, intervalMs: 500, what: `the agent of ${name} answering` });
    const balloon = bulk(name).currentKiB;
    figure('autodeflate', { guest: name, grabMiB: want, availableBeforeKiB: before.memAvailableKiB, reply, restartsBefore: before.restarts, restartsAfter: after.restarts, heldAfterMiB: after.heldMiB, balloonAfterKiB: balloon });
    return { before, after, reply, balloon };
  }

  it('with autodeflate on, the allocation succeeds: the guest takes pages back from the balloon, nothing is killed', async () => {
    const { before, after, reply, balloon } = await squeeze(ON);
    expect(reply).toMatch(/^ok held=\d+$/);
    expect(after.restarts).toBe(before.restarts);
    expect(balloon).toBeGreaterThan(140 * MiB);
  });

  it('without it, the same allocation gets the agent OOM-killed', async () => {
    const { before, after } = await squeeze(OFF);
    expect(after.restarts).toBeGreaterThan(before.restarts);
  });
});
