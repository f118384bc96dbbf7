// The same client through libvirt's remote driver: a private libvirtd serving
// the test driver over a unix socket gives the same answers as in-process.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LibvirtHypervisor, openHypervisor } from '../../../lib/libvirt/client.js';
import { LibvirtError } from '../../../lib/libvirt/errors.js';
import { type PrivateLibvirtd, startPrivateLibvirtd } from '../../support/private-libvirtd.js';
import { testDomains, testNode, writeTestDriverXml } from '../../support/test-driver-xml.js';

let daemon: PrivateLibvirtd;
let dir: string;
let nodeXml: string;
const domains = testDomains(200, { shutoffEvery: 7 });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cloudvamp-remote-'));
  nodeXml = writeTestDriverXml(dir, testNode(domains, { cpus: 6, mhz: 3100, memoryKiB: 33_554_432 }));
  daemon = await startPrivateLibvirtd();
}, 20_000);
afterAll(async () => {
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function both<T>(path: string, fn: (hv: LibvirtHypervisor) => T): { local: T; remote: T } {
  const local = openHypervisor(`test://${path}`);
  const remote = openHypervisor(daemon.uri(path));
  try {
    return { local: fn(local), remote: fn(remote) };
  } finally {
    local.close();
    remote.close();
  }
}

describe.each([
  ['the built-in node', () => '/default'],
  ['a 200-domain XML node', () => nodeXml],
])('through a private libvirtd, %s', (_label, path) => {
  it('lists, stats, node info and CPU stats exactly as in-process', () => {
    const { local, remote } = both(path(), (hv) => ({
      names: hv.listDomainNames().sort(),
      stats: hv.getAllDomainStats(undefined, { inactive: true }).sort((a, b) => a.name.localeCompare(b.name)),
      node: hv.nodeInfo(),
      cpu: hv.nodeCpuStats(),
    }));
    expect(remote).toEqual(local);
    expect(remote.stats.length).toBe(path() === '/default' ? 1 : 200);
  });

  it('raises the same typed errors as in-process', () => {
    const { local, remote } = both(path(), (hv) => {
      try {
        hv.domain('no-such-vm');
        return undefined;
      } catch (error) {
        return error instanceof LibvirtError ? { code: error.code, kind: error.kind, text: error.libvirtMessage } : error;
      }
    });
    expect(remote).toEqual(local);
    expect(remote).toMatchObject({ code: 42, kind: 'not-found' });
  });
});

it('sets the balloon target over the remote driver', () => {
  const hv = openHypervisor(daemon.uri(nodeXml));
  const dom = hv.domain('vm-0');
  try {
    dom.setMemoryLive(600_000);
    expect(dom.memoryStats().currentKiB).toBe(600_000);
  } finally {
    dom.free();
    hv.close();
  }
});

it('serves one node per URI path: the custom XML is not the default node', () => {
  const hv = openHypervisor(daemon.uri(nodeXml));
  try {
    expect(hv.nodeInfo()).toMatchObject({ cpus: 6, mhz: 3100, memoryKiB: 33_554_432 });
  } finally {
    hv.close();
  }
});

it('stop() ends the daemon and removes its directory; a second stop() is harmless', async () => {
  const extra = await startPrivateLibvirtd();
  expect(existsSync(extra.socket)).toBe(true);
  await extra.stop();
  await extra.stop();
  expect(existsSync(extra.dir)).toBe(false);
  expect(() => process.kill(extra.pid, 0)).toThrow();
  expect(() => openHypervisor(extra.uri())).toThrow(/cannot connect to libvirt at test\+unix.*is libvirtd running/);
});
