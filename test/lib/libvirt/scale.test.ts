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

it("fills every active domain's balloon current/maximum in the same call, though the test driver has no bulk balloon group", () => {
  // libvirt 9.0's test driver implements only the state group of
  // virConnectGetAllDomainStats; the binding then reads virDomainGetInfo on
  // each record's own domain pointer (no lookup) for size and maximum.
  const stats = new Map(hv.getAllDomainStats({ balloon: true }).map((s) => [s.name, s]));
  expect(stats.size).toBe(180);
  for (const d of domains.filter((x) => x.running)) {
    expect(stats.get(d.name)?.balloon).toEqual({ currentKiB: d.currentMemoryKiB, maximumKiB: d.memoryKiB });
    const dom = hv.domain(d.uuid);
    try {
      // the same figures through the per-domain calls
      expect([dom.memoryStats().currentKiB, dom.maxMemoryKiB()]).toEqual([d.currentMemoryKiB, d.memoryKiB]);
    } finally {
      dom.free();
    }
  }
  // without the balloon group asked for, nothing is filled (and no extra call is made)
  expect(hv.getAllDomainStats().every((s) => Object.keys(s.balloon).length === 0)).toBe(true);
});
