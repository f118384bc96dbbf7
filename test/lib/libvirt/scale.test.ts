// 200 domains (OpenNebula hosts run dozens to a few hundred): the stats of all
// of them come back from one virConnectGetAllDomainStats call.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type LibvirtHypervisor, openHypervisor } from '../../../lib/libvirt/client.js';
import { DomainState } from '../../../lib/libvirt/types.js';
import { testDomains, testNode, writeTestDriverXml } from '../../support/test-driver-xml.js';

const domains = testDomains(200, { shutoffEvery: 10 });
let dir: string;
let hv: LibvirtHypervisor;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cloudvamp-scale-'));
  hv = openHypervisor(`test://${writeTestDriverXml(dir, testNode(domains))}`);
});
afterAll(() => {
  hv?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('returns one record per domain, active and inactive, with name, UUID and state', () => {
  const stats = hv.getAllDomainStats(undefined, { inactive: true });
  expect(stats).toHaveLength(200);
  const byName = new Map(stats.map((s) => [s.name, s]));
  for (const d of domains) {
    expect(byName.get(d.name)).toMatchObject({ uuid: d.uuid, state: d.running ? DomainState.Running : DomainState.Shutoff });
  }
  expect(hv.getAllDomainStats()).toHaveLength(180);
});

it('reads each domain its own balloon current/maximum', () => {
  // The test driver's domstats has no balloon group (libvirt 9.0: state only),
  // so the per-domain numbers are checked through virDomainMemoryStats and
  // virDomainGetMaxMemory on every running domain instead.
  expect(hv.getAllDomainStats({ balloon: true }).every((s) => Object.keys(s.balloon).length === 0)).toBe(true);
  for (const d of domains.filter((x) => x.running)) {
    const dom = hv.domain(d.uuid);
    try {
      expect([dom.memoryStats().currentKiB, dom.maxMemoryKiB()]).toEqual([d.currentMemoryKiB, d.memoryKiB]);
    } finally {
      dom.free();
    }
  }
});
