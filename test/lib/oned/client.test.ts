import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudvampError } from '../../../lib/errors';
import { createOneClient, HttpOneRpc, XmlRpcOneClient, type OneClient } from '../../../lib/oned/client';
import { OnedError } from '../../../lib/oned/errors';
import { LcmState } from '../../../lib/oned/models';
import { postXml } from '../../../lib/oned/transport';
import { DEFAULT_SESSION, startOnedSimulator, type OnedSimulator } from '../../support/oned-server';

let sim: OnedSimulator;
let client: OneClient;
const clock = { now: 1767230000 };

beforeEach(async () => {
  clock.now = 1767230000;
  sim = await startOnedSimulator({ strictSchemas: true, now: () => clock.now });
  client = createOneClient({ endpoint: sim.url, session: DEFAULT_SESSION }, { timeoutMs: 5000 });
});
afterEach(async () => {
  expect(sim.schemaViolations).toEqual([]);
  await sim.close();
});

async function refusal(promise: Promise<unknown>): Promise<OnedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OnedError);
  return error as OnedError;
}

describe('OneClient against the oned simulator', () => {
  it('systemVersion', async () => {
    expect(await client.systemVersion()).toBe('7.4.0');
  });

  it('vmPoolInfoExtended: every VM but DONE, with USER_TEMPLATE and custom monitoring, args -2 -1 -1 -1', async () => {
    const vms = await client.vmPoolInfoExtended();
    expect(vms.map((vm) => vm.id)).toEqual([42, 43, 44]);
    expect(vms[0]).toMatchObject({ userTemplate: { MEM_TOTAL: '2010112' }, monitoring: { PACKEDMEMORY: '2097152' } });
    expect(sim.callsTo('one.vmpool.infoextended')[0]).toEqual({ method: 'one.vmpool.infoextended', session: DEFAULT_SESSION, params: [-2, -1, -1, -1] });
  });

  it('vmPoolInfoExtended pages with start=offset, end=-pageSize and filters by state', async () => {
    const vms = await client.vmPoolInfoExtended({ pageSize: 2 });
    expect(vms.map((vm) => vm.id)).toEqual([42, 43, 44]);
    expect(sim.callsTo('one.vmpool.infoextended').map((c) => c.params)).toEqual([
      [-2, 0, -2, -1],
      [-2, 2, -2, -1],
    ]);
    expect((await client.vmPoolInfoExtended({ state: 8 })).map((vm) => vm.id)).toEqual([44]);
    await expect(client.vmPoolInfoExtended({ pageSize: 1 })).rejects.toMatchObject({ kind: 'usage' });
  });

  it('vmPoolMonitoring: last record per VM by default, all of them with -1, custom keys kept', async () => {
    clock.now += 30;
    sim.setVmMonitoring(42, { PACKEDMEMORY: 1048576, MEMORY: 1500000 });
    const last = await client.vmPoolMonitoring();
    expect(sim.callsTo('one.vmpool.monitoring')[0]!.params).toEqual([-2, 0]);
    expect(last.map((r) => [r.vmId, r.timestamp])).toEqual([
      [42, 1767230030],
      [43, 1767225600],
      [44, 1767220000],
    ]);
    // merged like monitord: keys not reported again keep their value
    expect(last[0]!.values).toMatchObject({ PACKEDMEMORY: '1048576', MEMORY: '1500000', REALMEMORY: '2097152' });
    expect((await client.vmPoolMonitoring(-1)).filter((r) => r.vmId === 42)).toHaveLength(2);
    expect((await client.vmPoolMonitoring(60)).map((r) => r.vmId)).toEqual([42]);
    expect((await client.vmInfo(42)).monitoring['PACKEDMEMORY']).toBe('1048576');
  });

  it('hostPoolInfo and hostInfo, with capacity a test can change', async () => {
    expect((await client.hostPoolInfo()).map((h) => [h.id, h.name, h.hostShare.memUsageKiB])).toEqual([
      [0, 'kvm-node-1', 3145728],
      [1, 'kvm-node-2', 4194304],
    ]);
    sim.setHostCapacity(1, { freeMemoryKiB: 1000, usedMemoryKiB: 8000000 });
    sim.setHostTemplate(1, { PACKEDMEMORY: 524288 });
    const host = await client.hostInfo(1);
    expect(host.monitoring).toMatchObject({ freeMemoryKiB: 1000, usedMemoryKiB: 8000000, timestamp: 1767230000 });
    expect(host.template['PACKEDMEMORY']).toBe('524288');
    expect(sim.callsTo('one.host.info')[0]!.params).toEqual([1, false]);
  });

  it('vmInfo, and NO_EXISTS for a VM that does not exist', async () => {
    expect((await client.vmInfo(43)).name).toBe('db-1');
    const error = await refusal(client.vmInfo(99));
    expect(error).toMatchObject({ kind: 'oned', code: 0x400, codeName: 'NO_EXISTS', method: 'one.vm.info' });
    expect(error.message).toBe('oned refused one.vm.info (NO_EXISTS 0x400): [one.vm.info] Error getting virtual machine [99].');
  });

  it('vmMigrate live with enforce: new HISTORY on the destination, both hosts re-accounted', async () => {
    await client.vmMigrate(42, 1, { live: true, enforce: true });
    expect(sim.callsTo('one.vm.migrate')[0]!.params).toEqual([42, 1, true, true, -1, 0]);
    const vm = await client.vmInfo(42);
    expect(vm).toMatchObject({ hostId: 1, hostname: 'kvm-node-2', lcmState: LcmState.RUNNING });
    const [source, destination] = await client.hostPoolInfo();
    expect(source!.hostShare).toMatchObject({ memUsageKiB: 3145728 - 2048 * 1024, cpuUsage: 100, runningVms: 1 });
    expect(source!.vmIds).toEqual([44]);
    expect(destination!.hostShare).toMatchObject({ memUsageKiB: 4194304 + 2048 * 1024, cpuUsage: 300, runningVms: 2 });
    expect(destination!.vmIds).toEqual([42, 43]);
    expect(sim.vmXml(42)).toMatch(/<SEQ>1<\/SEQ><HOSTNAME>kvm-node-1<\/HOSTNAME>.*<ACTION>2<\/ACTION>.*<SEQ>2<\/SEQ><HOSTNAME>kvm-node-2<\/HOSTNAME>/);
  });

  it('vmMigrate with enforce refuses a destination without room (ACTION), without enforce it goes', async () => {
    await client.vmResize(42, 4000, { enforce: true });
    const error = await refusal(client.vmMigrate(42, 1, { live: true, enforce: true }));
    expect(error.codeName).toBe('ACTION');
    expect(error.message).toMatch(/Not enough memory: requested 4096000 KB, available 3945664 KB/);
    await client.vmMigrate(42, 1, { live: true, enforce: false });
    expect((await client.vmInfo(42)).hostId).toBe(1);
  });

  it('an injected failure carries the <i8> replication index and becomes an OnedError', async () => {
    sim.failNext('one.vm.migrate', { code: 'ACTION', message: 'Cannot migrate VM [42]: host is locked by another action.' });
    const error = await refusal(client.vmMigrate(42, 1, { live: true, enforce: true }));
    expect(error.message).toBe('oned refused one.vm.migrate (ACTION 0x800): [one.vm.migrate] Cannot migrate VM [42]: host is locked by another action.');
    // the raw reply as oned writes it, with the i8
    const raw = await postXml(sim.url, '<methodCall><methodName>one.vm.info</methodName><params><param><value>wrong:pw</value></param><param><value><int>1</int></value></param></params></methodCall>');
    expect(raw).toContain('<value><i8>0</i8></value>');
    // the next migrate is not affected
    await client.vmMigrate(42, 1, { live: true, enforce: true });
  });

  it('vmUpdate merges or replaces USER_TEMPLATE', async () => {
    await client.vmUpdate(42, { CLOUDVAMP_TARGET_MIB: 1536, CLOUDVAMP_REASON: 'guest "idle"' }, 'merge');
    expect(sim.callsTo('one.vm.update')[0]!.params).toEqual([42, 'CLOUDVAMP_TARGET_MIB = "1536"\nCLOUDVAMP_REASON = "guest \\"idle\\""\n', 1]);
    expect((await client.vmInfo(42)).userTemplate).toMatchObject({ MEM_TOTAL: '2010112', CLOUDVAMP_TARGET_MIB: '1536', CLOUDVAMP_REASON: 'guest "idle"' });
    await client.vmUpdate(42, { ONLY: 'this' }, 'replace');
    expect((await client.vmInfo(42)).userTemplate).toEqual({ ONLY: 'this' });
  });

  it('vmResize changes MEMORY and MEM_USAGE; enforce refuses growth beyond the host', async () => {
    await client.vmResize(42, 1536, { enforce: true });
    expect(sim.callsTo('one.vm.resize')[0]!.params).toEqual([42, 'MEMORY = "1536"\n', true]);
    expect((await client.vmInfo(42)).templateMemoryMiB).toBe(1536);
    expect((await client.hostInfo(0)).hostShare.memUsageKiB).toBe(3145728 - 512 * 1024);

    await client.vmResize(43, 7000, { enforce: false }); // host 1: 8139968 KiB max
    const error = await refusal(client.vmResize(43, 9000, { enforce: true }));
    expect(error.codeName).toBe('ACTION');
  });

  it('vmResize above MEMORY_MAX of a ballooned VM: accepted, then rolled back with USER_TEMPLATE/ERROR', async () => {
    await client.vmResize(42, 8192, { enforce: false });
    const vm = await client.vmInfo(42);
    expect(vm.templateMemoryMiB).toBe(2048);
    expect(vm.userTemplate['ERROR']).toMatch(/MEMORY_MAX/);
  });

  it('a wrong session is AUTHENTICATION with a hint', async () => {
    const stranger = createOneClient({ endpoint: sim.url, session: 'oneadmin:wrong' });
    const error = await refusal(stranger.hostPoolInfo());
    expect(error.codeName).toBe('AUTHENTICATION');
    expect(error.message).toMatch(/check the user:password/);
  });

  it('XML-RPC faults (unknown method, wrong types) become oned errors', async () => {
    const rpc = new HttpOneRpc(sim.url);
    await expect(rpc.call('one.vm.explode', [DEFAULT_SESSION])).rejects.toThrow(/XML-RPC fault -506: Method 'one.vm.explode' not defined/);
    await expect(rpc.call('one.vm.info', [DEFAULT_SESSION, '42'])).rejects.toThrow(/fault -501: Type mismatch/);
    await expect(new XmlRpcOneClient(rpc, DEFAULT_SESSION).vmInfo(-1)).rejects.toMatchObject({ kind: 'usage' });
  });
});

describe('transport failures', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });
  const serve = async (handler: Parameters<typeof createServer>[1]) => {
    server = createServer(handler);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/RPC2`;
  };

  it('names the endpoint and what to check when nothing listens', async () => {
    const url = await serve(() => undefined);
    server!.close();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const error = await postXml(url, '<x/>').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloudvampError);
    expect((error as Error).message).toMatch(/^cannot reach oned at http:\/\/127\.0\.0\.1:\d+\/RPC2: .*ECONNREFUSED.* — check ONE_XMLRPC \/ endpoint in the config$/);
  });

  it('times out', async () => {
    const url = await serve(() => undefined);
    await expect(postXml(url, '<x/>', { timeoutMs: 100 })).rejects.toThrow(/did not answer within 0 s/);
  });

  it('reports HTTP errors and non-XML-RPC bodies', async () => {
    const url = await serve((request, response) => {
      if (request.url === '/RPC2') response.writeHead(200).end('<html>hello</html>');
      else response.writeHead(404).end();
    });
    await expect(postXml(url.replace('/RPC2', '/'), '<x/>')).rejects.toThrow(/answered HTTP 404/);
    await expect(new HttpOneRpc(url).call('one.vm.info', [])).rejects.toThrow(/not XML-RPC/);
    await expect(postXml('ftp://x/', '')).rejects.toThrow(/must be http/);
  });
});
