// Every oned document cloudvamp's tests rely on must validate against
// OpenNebula's official XSDs (test/fixtures/oned/xsd), apart from the
// out-of-schema MONITORING keys oned really emits (see oned-server.ts).
// Needs xmllint (Debian package libxml2-utils); without it these tests fail on purpose.

import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOneClient } from '../../../lib/oned/client';
import {
  DEFAULT_SESSION,
  ONED_FIXTURE_DIR,
  OUT_OF_SCHEMA_MONITORING_KEYS,
  startOnedSimulator,
  validateOneDocument,
  xmllintAvailable,
  type OnedSimulator,
} from '../../support/oned-server';

const documentFixtures = readdirSync(ONED_FIXTURE_DIR).filter((name) => /^(vm|host|vmpool|hostpool)-.*\.xml$/.test(name));

describe('official OpenNebula schemas', () => {
  it('xmllint is installed (apt-get install libxml2-utils)', () => {
    expect(xmllintAvailable()).toBe(true);
  });

  it.each(documentFixtures)('fixture %s validates', (name) => {
    const check = validateOneDocument(readFileSync(ONED_FIXTURE_DIR + name, 'utf8'));
    expect(check.errors).toBe('');
    expect(check.valid).toBe(true);
    for (const key of check.removedMonitoringKeys) expect(OUT_OF_SCHEMA_MONITORING_KEYS.has(key)).toBe(true);
  });

  it('only the listed custom MONITORING keys are set aside; they are what PROTOCOL.md §1.8 says', () => {
    const check = validateOneDocument(readFileSync(ONED_FIXTURE_DIR + 'vm-running-ballooned.xml', 'utf8'));
    expect(check.removedMonitoringKeys).toEqual(['MAXMEMORY', 'PACKEDMEMORY', 'REALMEMORY', 'USEDMEMORY']);
    // stock forecast keys are declared in vm.xsd but not in monitoring_data.xsd
    expect(validateOneDocument(readFileSync(ONED_FIXTURE_DIR + 'vmpool-monitoring-last.xml', 'utf8')).removedMonitoringKeys).toEqual([
      'CPU_FORECAST',
      'MAXMEMORY',
      'MEMORY_FORECAST',
      'PACKEDMEMORY',
      'REALMEMORY',
      'USEDMEMORY',
    ]);
  });

  it('catches documents that break the schema', () => {
    const vm = readFileSync(ONED_FIXTURE_DIR + 'vm-running-plain.xml', 'utf8');
    expect(validateOneDocument(vm.replace(/<TM_MAD_SYSTEM>.*<\/TM_MAD_SYSTEM>/, '')).valid).toBe(false);
    expect(validateOneDocument(vm.replace('<ID>43</ID>', '<ID>forty-three</ID>')).valid).toBe(false);
    expect(validateOneDocument(vm.replace('<NETTX>', '<TYPO>1</TYPO><NETTX>')).valid).toBe(false);
    const host = readFileSync(ONED_FIXTURE_DIR + 'host-kvm-plain.xml', 'utf8');
    expect(validateOneDocument(host.replace('<MEM_USAGE>4194304</MEM_USAGE>', '')).valid).toBe(false);
  });
});

describe('every simulator reply validates', () => {
  let sim: OnedSimulator;
  beforeAll(async () => {
    sim = await startOnedSimulator();
  });
  afterAll(async () => {
    await sim.close();
  });

  it('after reads and every mutation', async () => {
    const client = createOneClient({ endpoint: sim.url, session: DEFAULT_SESSION });
    const readAll = async () => {
      await client.vmPoolInfoExtended();
      await client.vmPoolInfoExtended({ pageSize: 2 });
      await client.vmPoolMonitoring();
      await client.vmPoolMonitoring(-1);
      await client.hostPoolInfo();
      await client.vmGroupPoolInfo();
      for (const id of [0, 1]) await client.hostInfo(id);
      for (const id of [42, 43, 44]) await client.vmInfo(id);
    };
    await readAll();
    sim.addVmGroup({ id: 3, name: 'shop', roles: [{ name: 'web', policy: 'ANTI_AFFINED', vms: [42, 43], hostAffined: [0, 1] }, { name: 'db', hostAntiAffined: [1] }], affined: [['web', 'db']] });
    sim.setVmMonitoring(42, { PACKEDMEMORY: 1, MEMORY: 2, CPU: '1.5' });
    sim.setHostCapacity(0, { freeMemoryKiB: 1, usedMemoryKiB: 2, freeCpu: 3, usedCpu: 4 });
    sim.setHostTemplate(0, { CLOUDVAMP_NEW_KEY: 'x' });
    await client.vmMigrate(42, 1, { live: true, enforce: true });
    await client.vmMigrate(44, 1, { live: false, enforce: false });
    await client.vmUpdate(43, { MEM_TOTAL: 1, VECTORLESS: 'a b' }, 'merge');
    await client.vmUpdate(44, { ONLY: 1 }, 'replace');
    await client.vmResize(42, 1024, { enforce: true });
    await client.vmResize(42, 99999, { enforce: false });
    await readAll();

    expect(sim.served.length).toBe(24);
    const methods = new Set(sim.served.map((s) => s.method));
    expect([...methods].sort()).toEqual(['one.host.info', 'one.hostpool.info', 'one.vm.info', 'one.vmgrouppool.info', 'one.vmpool.infoextended', 'one.vmpool.monitoring']);
    for (const { method, xml } of sim.served) {
      const check = validateOneDocument(xml);
      expect(check.errors, method).toBe('');
    }
  });
});

describe('strict mode', () => {
  it('fails the call and records the violation when a reply stops validating', async () => {
    const sim = await startOnedSimulator({ strictSchemas: true });
    try {
      const client = createOneClient({ endpoint: sim.url, session: DEFAULT_SESSION });
      sim.setVmMonitoring(42, { NOT_AN_ONED_KEY: 1 });
      await expect(client.vmInfo(42)).rejects.toMatchObject({ codeName: 'INTERNAL' });
      expect(sim.schemaViolations.map((v) => v.method)).toEqual(['one.vm.info']);
      expect(sim.schemaViolations[0]!.check.errors).toMatch(/NOT_AN_ONED_KEY/);
    } finally {
      await sim.close();
    }
  });
});
