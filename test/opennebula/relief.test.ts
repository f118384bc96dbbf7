// Relief migrations against the real OpenNebula 7.4 (#9 defect 5): a guest
// starves on a host too full to grow it; cloudvamp-cvem first live-migrates
// another VM away through one.vm.migrate and grows only once that migration
// really succeeded (oned RUNNING on the destination, libvirt there running the
// domain); a migration that fails leaves the VM where it was and the grow
// undone.
//
// "Full" without filling this shared machine: host 1 (a mount namespace of
// its own) gets a /proc/meminfo of a small host whose memory is exactly its
// VMs' balloons plus a little; a loop keeps it in step with libvirt (what the
// kernel would show), so the probes report that host to oned and the manager
// sees no room there, while host 2 reports this machine's real memory.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, waitFor } from '../harness/index.js';
import { forceSystemProbe, hostExec, oneCall, STATE_DIR, vmLog } from '../harness/opennebula.js';
import {
  agentChannel,
  type Cloud,
  createTemplate,
  cvem,
  type CvemRun,
  domainHost,
  domainMemStats,
  ensureCloud,
  hostXml,
  instantiate,
  child,
  terminate,
  text,
  vmState,
  vmXml,
  VM_STATE,
  LCM_RUNNING,
  waitRunning,
  writeCvemConf,
} from './cloud.js';

const S_MIB = 512;
/**
 * Room host 1 has beyond its VMs' balloons: less than the starving guest's
 * first-strike grow (half the gap to 512 MiB from ~140 MiB: ~186 MiB), and
 * enough that moving the other (~140 MiB) VM away makes room for it.
 */
const SPARE_KIB = 100 * 1024;
const FAKE_MEMINFO = path.join(STATE_DIR, 'h1-meminfo');
let cloud: Cloud;
const vms: number[] = [];
let physicalKiB = 0;
let mounted = false;
let keeper: NodeJS.Timeout | undefined;

const conf = (extra: Record<string, string> = {}) =>
  writeCvemConf({
    HOST_RESERVE_MODE: 'none',
    HOST_RESERVE_MEMORY: '0',
    MEM_OVER: '20',
    MIN_FREE_MEMORY: '32768',
    PEAK_FLOOR: 'no',
    MIGRATION_COOLDOWN: '0',
    MOVE_BACK_HOLD: '0',
    // every starving cycle is a first strike (a grow by half the gap), so the relief sum above holds in both tests
    STRIKE_RESET: '1',
    ...extra,
  });

/** Σ balloon sizes of the domains libvirt runs on host 1, KiB. */
async function balloonsOnHost1(): Promise<number> {
  const names = (await hostExec(1, ['virsh', '-q', '-c', 'qemu:///system', 'list', '--name'])).split('\n').map((l) => l.trim()).filter(Boolean);
  let sum = 0;
  for (const n of names) sum += (await domainMemStats(1, n)).actual!;
  return sum;
}

/** The small host's /proc/meminfo: this machine's, with MemTotal = physicalKiB and free = what its domains leave. */
async function writeMeminfo(): Promise<void> {
  const free = Math.max(0, physicalKiB - (await balloonsOnHost1()));
  const real = await hostExec(1, ['cat', '/proc/meminfo']);
  const set: Record<string, number> = { MemTotal: physicalKiB, MemFree: free, MemAvailable: free, Buffers: 0, Cached: 0 };
  const out = real
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const key = l.split(':')[0]!;
      return key in set ? `${`${key}:`.padEnd(16)}${String(set[key]).padStart(8)} kB` : l;
    });
  // in place: the bind mount shows this inode
  await writeFile(FAKE_MEMINFO, `${out.join('\n')}\n`);
}

async function makeHost1Small(): Promise<void> {
  physicalKiB = (await balloonsOnHost1()) + SPARE_KIB;
  await writeMeminfo();
  await hostExec(1, ['mount', '--bind', FAKE_MEMINFO, '/proc/meminfo']);
  mounted = true;
  const tick = async () => {
    await writeMeminfo().catch(() => undefined);
    if (mounted) keeper = setTimeout(() => void tick(), 1000);
  };
  keeper = setTimeout(() => void tick(), 1000);
  // the host/system probe carries CLOUDVAMP_PHYSICALMEMORY to oned
  await forceSystemProbe(1);
  await waitFor(async () => Number(text(child(await hostXml(cloud.hostIds[1]!), 'TEMPLATE'), 'CLOUDVAMP_PHYSICALMEMORY')) === physicalKiB, {
    timeoutMs: 60_000,
    intervalMs: 500,
    what: "host 1's CLOUDVAMP_PHYSICALMEMORY to show the small host",
  });
}

async function historySeq(id: number): Promise<number> {
  const recs = child(await vmXml(id), 'HISTORY_RECORDS').HISTORY as Array<Record<string, unknown[]>>;
  return Number(text(recs[recs.length - 1]!, 'SEQ'));
}

/** cvem run --once, 2.5 s apart, until `until` holds for a run's events (the daemon's cycle every INTERVAL). */
async function cycles(until: (events: CvemRun['events']) => boolean, max: number): Promise<CvemRun['events'][]> {
  const runs: CvemRun['events'][] = [];
  for (let k = 0; k < max; k++) {
    if (k > 0) await new Promise((r) => setTimeout(r, 2500));
    const run = await cvem(['run', '--once']);
    expect(run.exitCode, run.stderr).toBe(0);
    runs.push(run.events);
    if (until(run.events)) return runs;
  }
  // not reached: a dry run's every decision with its reason, for the failure message
  runs.push((await cvem(['run', '--once', '--dry-run'])).events);
  return runs;
}

/** Every event of the runs, one line each, for failure messages. */
const show = (runs: CvemRun['events'][]) =>
  runs
    .flatMap((ev, k) => ev.map((e) => `run ${k + 1}: ${String(e.msg)} ${JSON.stringify({ ...e, msg: undefined, time: undefined })}`))
    .join('\n');

beforeAll(async () => {
  cloud = await ensureCloud();
  const [h1, h2] = [cloud.hostIds[1]!, cloud.hostIds[2]!];
  // both VMs on host 1: host 2 disabled while the scheduler places them
  await oneCall('one.host.status', h2, 1);
  const tpl = await createTemplate('relief', S_MIB);
  for (let k = 0; k < 2; k++) vms.push(await instantiate(tpl, `relief-${k}`, agentChannel(`relief-${k}`)));
  for (const id of vms) expect((await waitRunning(id, 180_000)).hostId).toBe(h1);
  await oneCall('one.host.status', h2, 0);
  // idle guests ballooned down (no migrations: host 1 still has this machine's memory)
  await conf({ MIGRATE: 'no' });
  let shrinks = 0;
  const runs = await cycles((ev) => (shrinks += ev.filter((e) => e.event === 'shrink' && e.result === 'ok').length) >= 2, 8);
  expect(shrinks, show(runs)).toBeGreaterThanOrEqual(2);
  await makeHost1Small();
}, 420_000);

afterAll(async () => {
  mounted = false;
  if (keeper) clearTimeout(keeper);
  await hostExec(1, ['umount', '/proc/meminfo']).catch(() => undefined);
  await hostExec(2, ['iptables', '-D', 'INPUT', '-p', 'tcp', '--dport', '16509', '-j', 'REJECT']).catch(() => undefined);
  await forceSystemProbe(1).catch(() => undefined);
  for (const id of vms) await terminate(id).catch(() => undefined);
});

/** Starves guest relief-0 (less than MIN_FREE_MEMORY free in it). */
async function starve(): Promise<void> {
  const st = await agent('relief-0', 1, 'status');
  const holdMiB = Math.max(8, Math.floor(st.memAvailableKiB / 1024) - 16);
  expect(await agent('relief-0', 1, `hold ${holdMiB}`, 60_000)).toMatch(/^ok held=/);
}

describe('relief migration on a full host', () => {
  it('a migration the destination refuses leaves the VM on its host and the grow undone', async () => {
    const [h1, h2] = [cloud.hostIds[1]!, cloud.hostIds[2]!];
    const [starving, other] = [vms[0]!, vms[1]!];
    const sizeBefore = (await domainMemStats(1, `one-${starving}`)).actual!;
    // host 2's libvirt refuses connections from host 1 (its own monitoring uses the local socket)
    await hostExec(2, ['iptables', '-I', 'INPUT', '-p', 'tcp', '--dport', '16509', '-j', 'REJECT']);
    try {
      await starve();
      await conf({ MIGRATE: 'yes' });
      const runs = await cycles((ev) => ev.some((e) => e.event === 'migrate' && e.result !== undefined), 10);
      const ev = runs[runs.length - 1]!;
      const moved = ev.find((e) => e.event === 'migrate' && e.result !== undefined);
      expect(moved, show(runs)).toMatchObject({ vmId: other, fromHostId: h1, toHostId: h2, forVmId: starving, result: 'failed' });
      // the grow waiting for it was skipped, and none was done in any cycle
      expect(ev.find((e) => e.event === 'grow' && e.vmId === starving), show(runs)).toMatchObject({ result: 'skipped', skipReason: 'its relief migration did not happen' });
      expect(runs.flat().filter((e) => e.event === 'grow' && e.result === 'ok'), show(runs)).toEqual([]);
      // the VM stayed: oned RUNNING on host 1, libvirt running it there only
      await waitFor(async () => {
        const s = await vmState(other);
        return s.state === VM_STATE.ACTIVE && s.lcm === LCM_RUNNING && s.hostId === h1;
      }, { timeoutMs: 60_000, intervalMs: 500, what: `VM ${other} RUNNING on host 1 after the failed migration (${await vmLog(other)})` });
      expect(await domainHost(`one-${other}`)).toBe(1);
      expect((await domainMemStats(1, `one-${starving}`)).actual).toBe(sizeBefore);
    } finally {
      await hostExec(2, ['iptables', '-D', 'INPUT', '-p', 'tcp', '--dport', '16509', '-j', 'REJECT']);
      await agent('relief-0', 1, 'hold 0');
    }
  });

  it('the manager first live-migrates another VM through one.vm.migrate, grows only after oned and libvirt show it on the destination', async () => {
    const [h1, h2] = [cloud.hostIds[1]!, cloud.hostIds[2]!];
    const [starving, other] = [vms[0]!, vms[1]!];
    const sizeBefore = (await domainMemStats(1, `one-${starving}`)).actual!;
    const seqBefore = await historySeq(other);
    await starve();
    await conf({ MIGRATE: 'yes' });
    const runs = await cycles((ev) => ev.some((e) => e.event === 'grow' && e.vmId === starving && e.result === 'ok'), 10);
    const all = runs.flat();
    const migrated = all.findIndex((e) => e.event === 'migrate' && e.vmId === other && e.result === 'ok');
    const grown = all.findIndex((e) => e.event === 'grow' && e.vmId === starving && e.result === 'ok');
    expect(migrated, show(runs)).toBeGreaterThanOrEqual(0);
    expect(all[migrated], show(runs)).toMatchObject({ fromHostId: h1, toHostId: h2, forVmId: starving });
    expect(grown, show(runs)).toBeGreaterThan(migrated);
    // the migration was really done when the manager said so: oned RUNNING on
    // host 2 in a new history record, libvirt on host 2 running the domain
    const s = await vmState(other);
    expect(s).toMatchObject({ state: VM_STATE.ACTIVE, lcm: LCM_RUNNING, hostId: h2 });
    expect(await historySeq(other)).toBeGreaterThan(seqBefore);
    expect(await domainHost(`one-${other}`)).toBe(2);
    // and the grow is in libvirt
    expect((await domainMemStats(1, `one-${starving}`)).actual!).toBeGreaterThan(sizeBefore);
    await agent('relief-0', 1, 'hold 0');
  });
});
