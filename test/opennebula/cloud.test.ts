// cloudvamp in a real OpenNebula 7.4 (oned, monitord, the scheduler, the
// Ruby drivers), installed by its own install.sh --apply-conf, on two libvirt
// hosts reached over ssh: monitoring, deployment by the scheduler through the
// cloudvamp VM_MAD, the VM life cycle, and uninstalling.
import { execa } from 'execa';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../harness/index.js';
import { FEROOT, hostExec, hostName, HOST_REMOTES, oneCall, REPO } from '../harness/opennebula.js';
import {
  type Cloud,
  child,
  createTemplate,
  domainMemStats,
  domainHost,
  ensureCloud,
  hostMem,
  hostXml,
  instantiate,
  memTotalKiB,
  terminate,
  text,
  treeSnapshot,
  vmState,
  vmXml,
  VM_STATE,
  VMM_CONF,
  VMM_CONF_TEST_LINES,
  waitRunning,
  type XmlNode,
} from './cloud.js';
import { cloudvampCalls, recordRealReplies } from './record-replies.js';

let cloud: Cloud;
const vms: number[] = [];

beforeAll(async () => {
  cloud = await ensureCloud();
});

afterAll(async () => {
  for (const id of vms) await terminate(id).catch(() => undefined);
});

/** Keys of an element whose value is text, with how often each occurs. */
function scalarKeyCounts(node: XmlNode): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [k, v] of Object.entries(node)) {
    if (v.every((x) => typeof x === 'string' || typeof x === 'number')) counts[k] = v.length;
  }
  return counts;
}

/** Which harness host runs libvirt domain `name`, if any. */
const indexOfHost = (hostId: number) => Number(Object.entries(cloud.hostIds).find(([, id]) => id === hostId)![0]);

describe('monitoring through the cloudvamp IM_MAD', () => {
  it('hosts reach MONITORED on a stock 7.4 remotes tree: every config file a linked stock probe reads is synced (pci.conf)', async () => {
    for (const i of [1, 2]) {
      const h = await hostXml(cloud.hostIds[i]!);
      expect(text(h, 'STATE'), `host ${hostName(i)}: ${text(child(h, 'TEMPLATE'), 'ERROR') ?? ''}`).toBe('2');
      expect(text(h, 'IM_MAD')).toBe('cloudvamp');
      // rsync -L followed our link to the stock file
      const conf = await hostExec(i, ['cat', `${HOST_REMOTES}/etc/im/cloudvamp-probes.d/pci.conf`]);
      expect(conf).toBe((await readFile(path.join(FEROOT, 'one/var/remotes/etc/im/kvm-probes.d/pci.conf'), 'utf8')).trimEnd());
    }
  });

  it('TOTAL_MEM = MemTotal + O x borrowed, and each host key is reported once (ARCH, HOSTNAME, MODELNAME not twice)', async () => {
    const physical = await memTotalKiB();
    for (const i of [1, 2]) {
      const m = await hostMem(cloud.hostIds[i]!);
      const o = Number(text(m.template, 'CLOUDVAMP_OVERCOMMIT'));
      expect(o).toBe(1);
      expect(Number(text(m.template, 'CLOUDVAMP_PHYSICALMEMORY'))).toBe(physical);
      expect(m.totalKiB).toBe(physical + Math.floor(o * Number(text(m.template, 'PACKEDMEMORY'))));
      const counts = scalarKeyCounts(m.template);
      for (const k of ['ARCH', 'HOSTNAME', 'MODELNAME', 'TOTALMEMORY', 'HYPERVISOR']) expect(counts[k] ?? 0, `${k} on ${hostName(i)}`).toBeLessThanOrEqual(1);
      expect(Object.entries(counts).filter(([, n]) => n > 1)).toEqual([]);
      expect(text(m.template, 'HOSTNAME')).toBe(hostName(i));
    }
  });
});

describe('VMs through the cloudvamp VM_MAD', () => {
  let vm: number;
  let tpl: number;

  it('the scheduler deploys a VM from a template (kernel + initrd, diskless system datastore) through cloudvamp', async () => {
    tpl = await createTemplate('life', 256);
    vm = await instantiate(tpl, 'life-0');
    vms.push(vm);
    const where = await waitRunning(vm, 180_000);
    const x = await vmXml(vm);
    const hist = child(x, 'HISTORY_RECORDS').HISTORY as XmlNode[];
    expect(text(hist[hist.length - 1]!, 'VM_MAD')).toBe('cloudvamp');
    expect(await domainHost(`one-${vm}`)).toBe(indexOfHost(where.hostId!));
  });

  it("each VM's monitoring carries cloudvamp's keys once and none of the stock VM monitor's (poll.rb is not linked)", async () => {
    const mon = await waitFor(
      async () => {
        const m = child(await vmXml(vm), 'MONITORING');
        return text(m, 'GUEST_MEMTOTAL') !== undefined ? m : false;
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: `cloudvamp's guest figures in VM ${vm}'s monitoring` },
    );
    const counts = scalarKeyCounts(mon);
    for (const k of ['MEMORY', 'PACKEDMEMORY', 'REALMEMORY', 'MAXMEMORY', 'GUEST_MEMTOTAL', 'GUEST_MEMFREE', 'BALLOON_LAST_UPDATE']) expect(counts[k], k).toBe(1);
    // the stock poll.rb's own keys: its block would be merged over ours
    for (const k of ['DISKRDBYTES', 'DISKWRBYTES', 'DISKRDIOPS', 'DISKWRIOPS']) expect(counts[k], k).toBeUndefined();
    expect(Number(text(mon, 'MAXMEMORY'))).toBe(256 * 1024);
  });

  it('onevm resize with MEMORY_RESIZE_MODE=BALLOONING: oned and libvirt at the new size', async () => {
    await oneCall('one.vm.resize', vm, 'MEMORY=192', false);
    await waitFor(async () => (await vmState(vm)).lcm === 3 && text(child(await vmXml(vm), 'TEMPLATE'), 'MEMORY') === '192', {
      timeoutMs: 60_000,
      what: `VM ${vm} resized to 192 MiB in oned`,
    });
    const i = (await domainHost(`one-${vm}`))!;
    await waitFor(async () => (await domainMemStats(i, `one-${vm}`)).actual === 192 * 1024, { timeoutMs: 30_000, what: 'the balloon at 192 MiB' });
  });

  it("records the real oned's replies to every call cloudvamp makes (scrubbed) as fixtures for the simulator's shape check", async () => {
    // the VM is at 192 MiB after the resize above: the recorded resize changes nothing
    const written = await recordRealReplies(vm, (await vmState(vm)).hostId!);
    expect(written).toHaveLength(cloudvampCalls(0, 0).length);
    for (const f of written) expect(await readFile(f, 'utf8')).not.toMatch(new RegExp(hostName(1)));
  });

  it('onevm migrate --live moves the VM; libvirt runs it on the destination', async () => {
    const from = (await vmState(vm)).hostId!;
    const to = Object.values(cloud.hostIds).find((h) => h !== from)!;
    await oneCall('one.vm.migrate', vm, to, true, false, -1, 0);
    // oned appends the destination's history record at once, while the VM is
    // still RUNNING: done is libvirt running it there and oned agreeing
    await waitFor(
      async () => {
        const s = await vmState(vm);
        return s.state === VM_STATE.ACTIVE && s.lcm === 3 && s.hostId === to && (await domainHost(`one-${vm}`)) === indexOfHost(to);
      },
      { timeoutMs: 180_000, intervalMs: 500, what: `VM ${vm} RUNNING on host ${to} after the live migration` },
    );
    expect((await vmState(vm)).lcm).toBe(3);
  });

  it('onevm poweroff and resume', async () => {
    await oneCall('one.vm.action', 'poweroff-hard', vm);
    await waitFor(async () => (await vmState(vm)).state === VM_STATE.POWEROFF, { timeoutMs: 90_000, intervalMs: 500, what: `VM ${vm} in POWEROFF` });
    expect(await domainHost(`one-${vm}`)).toBeUndefined();
    await oneCall('one.vm.action', 'resume', vm);
    await waitRunning(vm, 120_000);
    expect(await domainHost(`one-${vm}`)).toBeDefined();
  });

  it('onevm terminate: DONE, and the domain is gone from libvirt', async () => {
    await oneCall('one.vm.action', 'terminate-hard', vm);
    await waitFor(async () => (await vmState(vm)).state === VM_STATE.DONE, { timeoutMs: 90_000, intervalMs: 500, what: `VM ${vm} DONE` });
    expect(await domainHost(`one-${vm}`)).toBeUndefined();
    await oneCall('one.template.delete', tpl, false);
  });
});

describe('install.sh --uninstall on the real tree', () => {
  it('leaves oned.conf, monitord.conf and the remotes tree as they were before install.sh', async () => {
    // on a copy of the installed front-end: the running oned keeps its drivers
    const work = await mkdtemp(path.join(tmpdir(), 'cloudvamp-uninstall-'));
    try {
      const root = path.join(work, 'root');
      await cp(FEROOT, root, { recursive: true, verbatimSymlinks: true });
      // the harness set QEMU_PROTOCOL for its hosts; as installed, the file is ours to remove
      const conf = path.join(root, path.relative(FEROOT, VMM_CONF));
      await writeFile(conf, (await readFile(conf, 'utf8')).replace(VMM_CONF_TEST_LINES, '').replace(/^QEMU_PROTOCOL=.*$/m, 'QEMU_PROTOCOL=qemu+ssh'));
      const r = await execa('bash', [path.join(REPO, 'install.sh'), '--root', root, '--remotes', '/one/var/remotes', '--etc', '/one/etc', '--uninstall'], {
        reject: false,
      });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(await treeSnapshot(path.join(root, 'one'))).toEqual(cloud.preInstall);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
