// The simulator's hostNames option: real-guest tests load fixtures that name
// the default harness set's hosts and serve the names of the set they run on.
import { afterEach, expect, it } from 'vitest';
import { createOneClient } from '../../../lib/oned/client';
import { parseHost, parseVm } from '../../../lib/oned/models';
import { DEFAULT_SESSION, startOnedSimulator, type OnedSimulator } from '../../support/oned-server';

let sim: OnedSimulator | undefined;
afterEach(async () => {
  expect(sim?.schemaViolations).toEqual([]);
  await sim?.close();
  sim = undefined;
});

it('renames a host in the host pool and in VM histories, and nothing else', async () => {
  sim = await startOnedSimulator({ strictSchemas: true, hostNames: { 'kvm-node-1': 'cvt-h1' } });
  expect(parseHost(sim.hostXml(0)).name).toBe('cvt-h1');
  expect(parseHost(sim.hostXml(1)).name).toBe('kvm-node-2');
  // VM 42 ran on kvm-node-2 (SEQ 0), now on kvm-node-1 (SEQ 1)
  expect(parseVm(sim.vmXml(42))).toMatchObject({ hostId: 0, hostname: 'cvt-h1' });
  expect(sim.vmXml(42)).toContain('<HOSTNAME>kvm-node-2</HOSTNAME>');
  const client = createOneClient({ endpoint: sim.url, session: DEFAULT_SESSION }, { timeoutMs: 5000 });
  expect((await client.vmInfo(42)).hostname).toBe('cvt-h1');
});
