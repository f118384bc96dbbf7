// VMs on hosts oned drives with other drivers are left alone (#9 defect 7):
// a third libvirt host registered with OpenNebula's stock drivers (IM_MAD and
// VM_MAD kvm, or qemu under TCG), a VM the real scheduler deploys there
// through the stock VM_MAD, and the installed cloudvamp-cvem never adopts,
// resizes or migrates it, and says why. What the manager reads is oned's own
// host record (IM_MAD / VM_MAD, lib/elasticity/cycle.ts usesCloudvamp).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../harness/index.js';
import { addHost, hostExec, oneCall, oneExtraHostUp, STATE_DIR } from '../harness/opennebula.js';
import {
  type Cloud,
  child,
  createTemplate,
  cvem,
  type CvemRun,
  domainMemStats,
  ensureCloud,
  hostState,
  hostXml,
  instantiate,
  terminate,
  text,
  vmState,
  vmXml,
  waitRunning,
  writeCvemConf,
} from './cloud.js';

const FOREIGN = 3;
const S_MIB = 512;
let cloud: Cloud;
let foreignId: number | undefined;
let vm: number | undefined;

beforeAll(async () => {
  cloud = await ensureCloud();
  await oneExtraHostUp(FOREIGN);
  // OpenNebula's own drivers for this hypervisor (the stock tree install.sh left in place)
  foreignId = await addHost(FOREIGN, 'EMULATOR="/usr/bin/qemu-system-x86_64"\n', { im: cloud.vmType, vm: cloud.vmType });
  await waitFor(async () => (await hostState(foreignId!)) === 2, {
    timeoutMs: 90_000,
    intervalMs: 1000,
    what: `host ${FOREIGN} (stock ${cloud.vmType} drivers) to be MONITORED`,
  });
}, 180_000);

afterAll(async () => {
  if (vm !== undefined) await terminate(vm).catch(() => undefined);
  if (foreignId !== undefined) await oneCall('one.host.delete', foreignId).catch(() => undefined);
});

describe('hosts without the cloudvamp drivers', () => {
  it("a VM on a host oned drives with OpenNebula's stock drivers is never adopted, resized or migrated; the log says why", async () => {
    const h = child(await hostXml(foreignId!), 'TEMPLATE');
    expect([text(await hostXml(foreignId!), 'IM_MAD'), text(await hostXml(foreignId!), 'VM_MAD')]).toEqual([cloud.vmType, cloud.vmType]);
    expect(text(h, 'CLOUDVAMP_PHYSICALMEMORY'), 'cloudvamp probes ran on the stock host').toBeUndefined();
    const tpl = await createTemplate('foreign', S_MIB, `SCHED_REQUIREMENTS = "ID = ${foreignId!}"`);
    vm = await instantiate(tpl, 'foreign-0');
    expect((await waitRunning(vm, 180_000)).hostId).toBe(foreignId);
    const domain = `one-${vm}`;
    // (its balloon stats stay at their boot values: the stock deploy sets no stats period, #9 defect 3;
    // the manager would still adopt it, which is what usesCloudvamp prevents)
    // MIGRATE=yes: the foreign host is no destination and its VM no candidate either
    await writeCvemConf({ HOST_RESERVE_MODE: 'share', MIGRATE: 'yes', MEM_OVER: '20', MIN_FREE_MEMORY: '32768', PEAK_FLOOR: 'no' });
    const runs: CvemRun[] = [];
    for (let k = 0; k < 2; k++) {
      if (k > 0) await new Promise((r) => setTimeout(r, 2500));
      const run = await cvem(['run', '--once']);
      expect(run.exitCode, run.stderr).toBe(0);
      runs.push(run);
    }
    const all = runs.flatMap((r) => r.events);
    const show = all.map((e) => JSON.stringify(e)).join('\n');
    for (const r of runs) {
      const said = r.events.find((e) => e.event === 'foreign-host' && e.vmId === vm);
      expect(said, show).toMatchObject({ hostId: foreignId, imMad: cloud.vmType, vmMad: cloud.vmType });
      expect(String(said!.msg)).toContain(`VM ${vm} left alone: its host`);
      expect(String(said!.msg)).toContain("not cloudvamp's drivers (DRIVER_NAME cloudvamp)");
    }
    expect(all.filter((e) => e.vmId === vm && e.event !== 'foreign-host'), show).toEqual([]);
    expect(all.filter((e) => e.event === 'migrate' || (e.event === 'plan' && e.action === 'migrate')), show).toEqual([]);
    expect(all.filter((e) => e.event === 'host-reserve' && e.hostId === foreignId), show).toEqual([]);
    // not in the manager's state, nothing written into oned, the VM as it was in libvirt
    const state = JSON.parse(await readFile(path.join(STATE_DIR, 'cvem-state.json'), 'utf8').catch(() => '{"vms":{}}')) as { vms: Record<string, unknown> };
    expect(Object.keys(state.vms)).not.toContain(String(vm));
    const x = await vmXml(vm);
    expect(text(child(x, 'TEMPLATE'), 'MEMORY')).toBe(String(S_MIB));
    expect(JSON.stringify(x.USER_TEMPLATE ?? [])).not.toMatch(/CLOUDVAMP_/);
    expect(JSON.stringify(child(await hostXml(foreignId!), 'TEMPLATE'))).not.toMatch(/CLOUDVAMP_(BASE_)?RESERVED_MEM/);
    expect((await vmState(vm)).hostId).toBe(foreignId);
    expect((await domainMemStats(FOREIGN, domain)).actual).toBe(S_MIB * 1024);
    expect(await hostExec(FOREIGN, ['virsh', '-q', '-c', 'qemu:///system', 'list', '--name'])).toContain(domain);
  });
});
