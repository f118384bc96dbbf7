// The shrink wave's re-check read (#11): one.vmpool.info's short bodies plus
// one.vmpool.monitoring must give every VM the same state, host and size as a
// whole snapshot, in both apply modes, for a fraction of the bytes.
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS, type ElasticityConfig } from '../../../lib/elasticity/config';
import { createOneClient } from '../../../lib/oned/client';
import type { VmView } from '../../../lib/elasticity/ports';
import { OnedClusterSource } from '../../../lib/oned/elasticity-ports';
import { DEFAULT_SESSION, startOnedSimulator, validateOneDocument, type OnedSimulator } from '../../support/oned-server';

let sim: OnedSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const recheckFields = ({ id, running, hostId, hostName, deployId, currentKiB, templateMemoryKiB, cpu, uid }: VmView) => ({
  id, running, hostId, hostName, deployId, currentKiB, templateMemoryKiB, cpu, uid,
});

describe('one.vmpool.info short bodies and OnedClusterSource.vmStates', () => {
  it('short bodies keep what VirtualMachine::to_xml_short keeps, and validate against the official schema', async () => {
    sim = await startOnedSimulator({ strictSchemas: true });
    const client = createOneClient({ endpoint: sim.url, session: DEFAULT_SESSION });
    const [short, full] = await Promise.all([client.vmPoolInfo(), client.vmPoolInfoExtended()]);
    expect(sim.schemaViolations).toEqual([]);
    expect(short.map((vm) => vm.id)).toEqual(full.map((vm) => vm.id));
    const ballooned = short.find((vm) => vm.id === 42)!;
    expect(ballooned).toMatchObject({ state: 3, lcmState: 3, deployId: 'one-42', hostId: 0, hostname: 'kvm-node-1', templateMemoryMiB: 2048 });
    // no custom MONITORING keys and none of cloudvamp's USER_TEMPLATE keys in a short body
    expect(Object.keys(ballooned.monitoring).sort()).toEqual(expect.arrayContaining(['CPU', 'MEMORY']));
    expect(ballooned.monitoring).not.toHaveProperty('REALMEMORY');
    expect(Object.keys(full.find((vm) => vm.id === 42)!.userTemplate).length).toBeGreaterThan(Object.keys(ballooned.userTemplate).length);
    const served = sim.served.filter((d) => d.method === 'one.vmpool.info')[0]!.xml;
    expect(served.length).toBeLessThan(sim.served.filter((d) => d.method === 'one.vmpool.infoextended')[0]!.xml.length / 2);
    expect(validateOneDocument(served, new Set(), 'vm_pool.xsd')).toMatchObject({ valid: true, errors: '' });
    expect(validateOneDocument(served).valid).toBe(false); // not an extended body
  });

  for (const applyMode of ['memory-action', 'resize'] as const) {
    it(`gives every VM the state, host and size of a whole snapshot (${applyMode}), and no hosts`, async () => {
      sim = await startOnedSimulator();
      const config: ElasticityConfig = { ...DEFAULTS, applyMode };
      const source = new OnedClusterSource(createOneClient({ endpoint: sim.url, session: DEFAULT_SESSION }), config);
      sim.setVmMonitoring(42, { REALMEMORY: 1_500_000 });
      const [states, snapshot] = await Promise.all([source.vmStates(), source.snapshot()]);
      expect(states.hosts).toEqual([]);
      expect(states.vms.map(recheckFields)).toEqual(snapshot.vms.map(recheckFields));
      expect(states.vms.find((vm) => vm.id === 42)!.currentKiB).toBe(applyMode === 'resize' ? 2048 * 1024 : 1_500_000);
    });
  }
});
