// The oned simulator against the real OpenNebula 7.4: for every call cloudvamp
// makes, the simulator's reply has the shape of the real one recorded by the
// opennebula tier (test/opennebula/record-replies.ts; values scrubbed): the
// same XML-RPC types, and documents that cloudvamp's parsers read into the
// same fields with the same types.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpOneRpc } from '../../../lib/oned/client';
import { parseHost, parseHostPool, parseMonitoringData, parseVm, parseVmPool } from '../../../lib/oned/models';
import { parseMethodResponse, type XmlRpcEncodable, type XmlRpcValue } from '../../../lib/oned/xmlrpc';
import { DEFAULT_SESSION, type OnedSimulator, startOnedSimulator } from '../../support/oned-server';

const REPLIES = path.resolve(__dirname, '../../fixtures/oned/real-7.4/replies');
const real = (file: string) => parseMethodResponse(readFileSync(path.join(REPLIES, `${file}.xml`), 'utf8')) as XmlRpcValue[];

// The recorded VM is diskless (the tier's guests boot a kernel and an
// initrd); the simulator's fixture VMs have image disks.
const SCENARIO_FIELDS = new Set(['imageIds']);

/** field name -> type of what a parser made of a document (undefined fields left out) */
function fieldTypes(value: object): Record<string, string> {
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k, v]) => v !== undefined && !SCENARIO_FIELDS.has(k))
      .map(([k, v]) => [k, Array.isArray(v) ? 'array' : typeof v]),
  );
}

let sim: OnedSimulator;
let rpc: HttpOneRpc;
let vmId: number;
let hostId: number;
const call = async (method: string, ...params: XmlRpcEncodable[]) => (await rpc.call(method, [DEFAULT_SESSION, ...params])) as XmlRpcValue[];

beforeAll(async () => {
  sim = await startOnedSimulator();
  rpc = new HttpOneRpc(sim.url);
  const vms = parseVmPool((await call('one.vmpool.infoextended', -2, -1, -1, -1))[1] as string);
  const running = vms.find((v) => v.state === 3 && v.lcmState === 3 && v.hostId !== undefined)!;
  vmId = running.id;
  hostId = running.hostId!;
});

afterAll(async () => {
  await sim.close();
});

describe("the simulator's replies have the shape of the real oned 7.4's", () => {
  const wrapper = (reply: XmlRpcValue[]) => reply.map((v) => (v instanceof Object ? v.constructor.name : typeof v));

  it('one.system.version', async () => {
    expect(wrapper(await call('one.system.version'))).toEqual(wrapper(real('system-version')));
  });

  it('one.vm.info: the fields cloudvamp reads', async () => {
    const r = real('vm-info');
    const s = await call('one.vm.info', vmId);
    expect(wrapper(s)).toEqual(wrapper(r));
    const { userTemplate: _u, monitoring: _m, ...realVm } = parseVm(r[1] as string);
    const { userTemplate: _su, monitoring: _sm, ...simVm } = parseVm(s[1] as string);
    expect(fieldTypes(simVm)).toEqual(fieldTypes(realVm));
  });

  it('one.vmpool.infoextended', async () => {
    const r = real('vmpool-infoextended');
    const s = await call('one.vmpool.infoextended', -2, -1, -1, -1);
    expect(wrapper(s)).toEqual(wrapper(r));
    const realVm = parseVmPool(r[1] as string).find((v) => v.hostId !== undefined)!;
    const simVm = parseVmPool(s[1] as string).find((v) => v.id === vmId)!;
    expect(Object.keys(fieldTypes(simVm)).sort()).toEqual(Object.keys(fieldTypes(realVm)).sort());
  });

  it('one.vmpool.monitoring', async () => {
    const r = real('vmpool-monitoring');
    const s = await call('one.vmpool.monitoring', -2, 0);
    expect(wrapper(s)).toEqual(wrapper(r));
    expect(fieldTypes(parseMonitoringData(s[1] as string)[0]!)).toEqual(fieldTypes(parseMonitoringData(r[1] as string)[0]!));
  });

  it('one.host.info and one.hostpool.info: the fields cloudvamp reads', async () => {
    const r = real('host-info');
    const s = await call('one.host.info', hostId);
    expect(wrapper(s)).toEqual(wrapper(r));
    const strip = (h: ReturnType<typeof parseHost>) => {
      const { template: _t, ...rest } = h;
      return { ...fieldTypes(rest), hostShare: fieldTypes(h.hostShare), monitoring: fieldTypes(h.monitoring) };
    };
    expect(strip(parseHost(s[1] as string))).toEqual(strip(parseHost(r[1] as string)));
    const rp = real('hostpool-info');
    const sp = await call('one.hostpool.info');
    expect(wrapper(sp)).toEqual(wrapper(rp));
    expect(Object.keys(fieldTypes(parseHostPool(sp[1] as string)[0]!)).sort()).toEqual(Object.keys(fieldTypes(parseHostPool(rp[1] as string)[0]!)).sort());
  });

  it('one.vm.update, one.host.update, one.vm.resize answer [true, id, 0]', async () => {
    expect(wrapper(await call('one.vm.update', vmId, 'X="1"', 1))).toEqual(wrapper(real('vm-update')));
    expect(wrapper(await call('one.host.update', hostId, 'X="1"', 1))).toEqual(wrapper(real('host-update')));
    expect(wrapper(await call('one.vm.resize', vmId, 'MEMORY=1024', false))).toEqual(wrapper(real('vm-resize')));
  });
});
