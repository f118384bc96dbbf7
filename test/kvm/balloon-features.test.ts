// The balloon options the deploy action adds to oned's domain XML, on real
// guests (#9 defect 3, #13 part 3). Two guests deployed through the built
// `deploy` action from an OpenNebula-shaped XML (a bare <memballoon>): ON with
// the stats period, autodeflate and free page reporting where this host's
// libvirt/QEMU support them (the defaults: BALLOON_STATS_PERIOD=5,
// BALLOON_AUTODEFLATE=auto, BALLOON_FREE_PAGE_REPORTING=auto) and OFF with both
// safety nets switched off. The guest kernel (Debian 6.1 cloud) has CONFIG_PAGE_REPORTING and the
// virtio_balloon driver honours DEFLATE_ON_OOM.
//
// Figures are printed as `FIGURE {json}` lines; bench/results/balloon-safety-nets.txt
// is this file's raw output.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openHypervisor } from '../../lib/libvirt/client.js';
import type { Hypervisor } from '../../lib/libvirt/types.js';
import { parseConfig } from '../../lib/elasticity/config.js';
import { decideVm } from '../../lib/elasticity/vm-rule.js';
import type { ManagedVm } from '../../lib/elasticity/state.js';
import { vmMemory } from '../../lib/memory/accounting.js';
import { vmViewFromOne } from '../../lib/oned/elasticity-ports.js';
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

/** libvirt's live balloon target for `name`, as an operator's `virsh setmem --live` sets it */
const setBalloon = (name: string, kib: number) => {
  const dom = hv.domain(name);
  try {
    dom.setMemoryLive(kib);
  } finally {
    dom.free();
  }
};

/** balloon `name` to `mib` and wait until QEMU reports it there */
async function balloonTo(name: string, mib: number, what: string) {
  setBalloon(name, mib * MiB);
  await waitFor(() => bulk(name).currentKiB === mib * MiB, { timeoutMs: 30_000, what });
}

beforeAll(async () => {
  remotes = await makeRemotes();
  hv = openHypervisor(hostUri(1));
  await Promise.all([
    deploy(ON, '# the defaults'),
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
    await balloonTo(name, BALLOONED_MIB, `${name} ballooned to ${BALLOONED_MIB} MiB`);
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
    await balloonTo(ON, BALLOONED_MIB, `${ON} at ${BALLOONED_MIB} MiB`);
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

describe('the elasticity manager shrinks a deflate-on-OOM guest and grows it back (#13 part 3)', () => {
  const MIN_FREE_MIB = 64;
  const cvem = parseConfig(
    [`MEM_OVER=30`, `MEM_MARGIN=5`, `MIN_FREE_MEMORY=${MIN_FREE_MIB * MiB}`, `MEM_MIN=${128 * MiB}`, `MEM_DIFF_TO_CHANGE=${16 * MiB}`, 'COOLDOWN=3', 'PEAK_FLOOR=no', 'FIGURES_MAX_AGE=30', 'SHRINK_WARMUP=0', ''].join('\n'),
  );
  /**
   * One manager decision on what oned would hold for the VM: the keys the vm/monitor probe writes
   * (REALMEMORY = balloon.current, GUEST_MEMTOTAL / GUEST_MEMAVAILABLE, BALLOON_LAST_UPDATE) from this
   * domain's real balloon stats, through the adapter the daemon uses (vmViewFromOne) into decideVm.
   */
  const decide = (state: ManagedVm) => {
    const b = bulk(ON);
    const monitoring: Record<string, string> = { TIMESTAMP: String(Math.floor(Date.now() / 1000)) };
    for (const [k, v] of [['REALMEMORY', b.currentKiB], ['GUEST_MEMTOTAL', b.availableKiB], ['GUEST_MEMAVAILABLE', b.usableKiB], ['BALLOON_LAST_UPDATE', b.lastUpdate]] as const)
      if (v !== undefined) monitoring[k] = String(v);
    const view = vmViewFromOne(
      { id: 1, name: ON, uid: 0, gid: 0, state: 3, lcmState: 3, deployId: ON, lastPoll: 0, hostId: 1, hostname: 'h1', templateMemoryMiB: MAX_MIB, cpu: 1, userTemplate: {}, monitoring },
      { applyMode: 'memory-action' },
    );
    return { view, d: decideVm(view, state, cvem.config!, Date.now()), stats: b };
  };
  /** the built `memory` action, as MEMORY_COMMAND runs it, then the state change recordPlan makes */
  const apply = async (state: ManagedVm, d: ReturnType<typeof decideVm>): Promise<ManagedVm> => {
    const r = await runAction(remotes, 'memory', [ON, String(d.targetKiB), 'h1'], { env: { CLOUDVAMP_VMM_CONFIG: remotes.file(`${ON}.conf`) }, timeoutMs: 60_000 });
    expect({ exit: r.exitCode, errors: r.errorLines }).toEqual({ exit: 0, errors: [] });
    return { ...state, strikes: d.strikes, lastChangeAt: Date.now(), ...(d.starving ? { lastStrikeAt: Date.now() } : {}) };
  };
  const cycleUntil = async (state: ManagedVm, action: 'shrink' | 'grow', what: string) => {
    const seen: string[] = [];
    return waitFor(
      () => {
        const r = decide(state);
        seen.push(r.d.reason);
        return r.d.action === action && r;
      },
      { timeoutMs: 60_000, intervalMs: 1_000, what: `${what} (last decisions: ${seen.slice(-2).join(' | ')})` },
    );
  };

  it('a shrunk guest keeps its boot MemTotal, its stats are trusted once newer than the change, and it is grown back when it starves', async () => {
    expect(cvem.errors).toEqual([]);
    // back to the full size (the resize test left the balloon at 384 MiB), as deployed
    await balloonTo(ON, MAX_MIB, `${ON} at ${MAX_MIB} MiB`);
    let state: ManagedVm = { originalKiB: MAX_MIB * MiB, firstSeenAt: Date.now(), strikes: 0 };

    // 1. idle guest: the manager shrinks it
    const shrink = await cycleUntil(state, 'shrink', `the manager to shrink ${ON}`);
    state = await apply(state, shrink.d);
    const changedAt = state.lastChangeAt!;
    await waitFor(() => bulk(ON).currentKiB === shrink.d.targetKiB, { timeoutMs: 30_000, what: `${ON}'s balloon at ${shrink.d.targetKiB} KiB` });

    // 2. stats refreshed by the guest after the change: MemTotal still at boot size (deflate-on-OOM), yet accepted
    const after = await waitFor(
      () => {
        const b = bulk(ON);
        return b.lastUpdate !== undefined && b.lastUpdate * 1000 > changedAt && b;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: `balloon stats of ${ON} refreshed after the shrink` },
    );
    expect(after.availableKiB!).toBeGreaterThan(shrink.d.targetKiB * 1.02);
    const settled = decide(state);
    expect(settled.d.figures, settled.d.reason).toBeDefined();
    expect(settled.d.figures!.totalKiB).toBe(shrink.d.targetKiB);
    // MemAvailable already excludes the balloon: what the guest has left is below its new size
    expect(settled.d.figures!.freeKiB).toBeLessThan(shrink.d.targetKiB);

    // 3. the guest allocates until it has less than MIN_FREE left: the manager grows it
    const status = (await agent(ON, 1, 'status'));
    const holdMiB = status.heldMiB + Math.round(status.memAvailableKiB / MiB) - MIN_FREE_MIB + 16;
    expect(await agent(ON, 1, `hold ${holdMiB}`)).toBe(`ok held=${holdMiB}`);
    const grow = await cycleUntil(state, 'grow', `the manager to grow ${ON} back`);
    expect(grow.d.starving).toBe(true);
    state = await apply(state, grow.d);
    await waitFor(() => bulk(ON).currentKiB === grow.d.targetKiB, { timeoutMs: 30_000, what: `${ON}'s balloon at ${grow.d.targetKiB} KiB` });
    expect(grow.d.targetKiB).toBeGreaterThan(shrink.d.targetKiB);
    const end = (await agent(ON, 1, 'status'));
    expect(end).toMatchObject({ heldMiB: holdMiB, allocFailures: 0, restarts: status.restarts });
    figure('autodeflate-manager', {
      shrunkKiB: shrink.d.targetKiB,
      memTotalAfterShrinkKiB: after.availableKiB,
      memAvailableAfterShrinkKiB: after.usableKiB,
      usedSeenKiB: settled.d.figures!.usedKiB,
      heldMiB: holdMiB,
      grownKiB: grow.d.targetKiB,
      growReason: grow.d.reason,
    });
    expect(await agent(ON, 1, 'hold 0')).toBe('ok held=0');
  });
});

describe('autodeflate: a guest ballooned too far survives an allocation', () => {
  /** balloon to `mib`, then grab more than the guest has left; returns the agent's restarts and the balloon after */
  async function squeeze(name: string) {
    setBalloon(name, 128 * MiB);
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
    // QEMU learns of a deflate the guest made on its own through the balloon's
    // next report, not at once: give it a few seconds before reading it
    const deadline = Date.now() + 10_000;
    while ((bulk(name).currentKiB ?? 0) <= 140 * MiB && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
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
