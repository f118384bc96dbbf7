// The Hypervisor / DomainHandle implementation against libvirt's in-process
// test driver. test:///default is one shared node per process, so tests that
// change state each open their own node from a generated XML file.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { oneLineMessage } from '../../../lib/errors.js';
import { type LibvirtHypervisor, openHypervisor } from '../../../lib/libvirt/client.js';
import { LibvirtError } from '../../../lib/libvirt/errors.js';
import { DomainState } from '../../../lib/libvirt/types.js';
import { testDomains, testNode, writeTestDriverXml } from '../../support/test-driver-xml.js';
import { virsh, virshFields } from './virsh.js';

const DEFAULT_UUID = '6695eb01-f6a4-8304-79aa-97f2502e193f';
let dir: string;
let counter = 0;
const open: LibvirtHypervisor[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cloudvamp-client-'));
});
afterEach(() => {
  for (const hv of open.splice(0)) hv.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A private node: 4 domains, vm-1 and vm-3 shut off. */
function freshNode(): { hv: LibvirtHypervisor; uri: string } {
  const path = writeTestDriverXml(dir, testNode(testDomains(4, { shutoffEvery: 2 })), `node-${counter++}.xml`);
  const uri = `test://${path}`;
  const hv = openHypervisor(uri);
  open.push(hv);
  return { hv, uri };
}

function defaultNode(): LibvirtHypervisor {
  const hv = openHypervisor('test:///default');
  open.push(hv);
  return hv;
}

async function rejection(promise: Promise<unknown>): Promise<LibvirtError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof LibvirtError)) throw new Error(`expected a LibvirtError, got ${String(error)}`);
  return error;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('connection', () => {
  it('reports an unreachable daemon as one clear LibvirtError naming the URI and the fix', () => {
    const uri = `test+unix:///default?socket=${join(dir, 'no-daemon-here')}`;
    const error = thrown(() => openHypervisor(uri));
    expect(error).toBeInstanceOf(LibvirtError);
    const { message, kind, code } = error as LibvirtError;
    expect(kind).toBe('hypervisor');
    expect(code).toBe(38); // VIR_ERR_SYSTEM_ERROR: connect() failed
    expect(message).toBe(oneLineMessage(error));
    expect(message).toMatch(new RegExp(`^cannot connect to libvirt at ${uri.replace(/[?+]/g, '\\$&')}: .*no-daemon-here.*is libvirtd running`));
  });

  it('reports hostname and library version as virsh does', () => {
    const hv = defaultNode();
    expect(hv.hostname()).toBe(virsh(hv.uri, 'hostname').trim());
    const using = /Using library: libvirt (\S+)/.exec(virsh(hv.uri, 'version'))?.[1];
    expect(hv.libVersion()).toBe(using);
    const running = /Running hypervisor: \S+ (\S+)/.exec(virsh(hv.uri, 'version'))?.[1];
    expect(hv.hypervisorVersion()).toBe(running);
  });

  it('refuses calls after close() and tolerates a second close()', () => {
    const hv = openHypervisor('test:///default');
    hv.close();
    hv.close();
    expect(thrown(() => hv.listDomainNames())).toMatchObject({ kind: 'internal', message: expect.stringContaining('after close()') });
  });
});

describe('listing and stats', () => {
  it('lists all domains, or only the running ones', () => {
    const { hv } = freshNode();
    expect(hv.listDomainNames().sort()).toEqual(['vm-0', 'vm-1', 'vm-2', 'vm-3']);
    expect(hv.listDomainNames({ activeOnly: true }).sort()).toEqual(['vm-0', 'vm-2']);
  });

  it('gets stats of active domains by default, inactive ones on request; the test driver reports only state', () => {
    const { hv } = freshNode();
    const domains = testDomains(4, { shutoffEvery: 2 });
    const expected = (i: number, state: DomainState) => ({
      name: `vm-${i}`,
      uuid: domains[i]?.uuid,
      state,
      stateReason: 0, // *_UNKNOWN: the test driver sets no reason for domains loaded from XML
      balloon: {},
    });
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect(hv.getAllDomainStats().sort(byName)).toEqual([expected(0, DomainState.Running), expected(2, DomainState.Running)]);
    const all = hv.getAllDomainStats(undefined, { inactive: true });
    expect(all.sort(byName)).toEqual([
      expected(0, DomainState.Running),
      expected(1, DomainState.Shutoff),
      expected(2, DomainState.Running),
      expected(3, DomainState.Shutoff),
    ]);
  });

  it('gets node CPU stats on the test driver, and a typed error for the node memory stats it lacks', () => {
    const hv = defaultNode();
    expect(hv.nodeCpuStats()).toMatchObject({ kernelNs: expect.any(Number), idleNs: expect.any(Number) });
    expect(thrown(() => hv.nodeMemoryStats())).toMatchObject({ code: 3, kind: 'hypervisor' });
  });
});

describe('domain lookup', () => {
  it('finds a domain by name, UUID string or numeric ID, all the same domain', () => {
    const hv = defaultNode();
    const byName = hv.domain('test');
    const id = virsh('test:///default', 'domid', 'test').trim(); // fresh process: ID 1
    const byUuid = hv.domain(DEFAULT_UUID);
    const byId = hv.domain(id);
    try {
      expect([byName.uuid, byUuid.name, byId.name]).toEqual([DEFAULT_UUID, 'test', 'test']);
      expect(byName.maxMemoryKiB()).toBe(Number.parseInt(virshFields(virsh(hv.uri, 'dominfo', 'test'), /:\s+/).get('Max memory') ?? '', 10));
    } finally {
      for (const d of [byName, byUuid, byId]) d.free();
    }
  });

  it('takes a UUID-shaped key as a UUID first, as virsh does (one lookup RPC for the probes, which look domains up by UUID)', () => {
    const [a, b] = testDomains(2);
    if (!a || !b) throw new Error('testDomains(2) returned fewer than 2 domains');
    // a domain *named* like the other's UUID: by-name-first would return it
    const path = writeTestDriverXml(dir, testNode([a, { ...b, name: a.uuid }]), `node-${counter++}.xml`);
    const hv = openHypervisor(`test://${path}`);
    open.push(hv);
    const dom = hv.domain(a.uuid);
    try {
      expect(dom.name).toBe(a.name);
      const named = hv.domain(b.uuid);
      expect(named.name).toBe(a.uuid);
      named.free();
    } finally {
      dom.free();
    }
  });

  it.each(['no-such-vm', '00000000-0000-0000-0000-000000000000', '4242'])('throws not-found with code 42 for %s', (key) => {
    const error = thrown(() => defaultNode().domain(key));
    expect(error).toBeInstanceOf(LibvirtError);
    expect(error).toMatchObject({ code: 42, kind: 'not-found', message: expect.stringContaining(`no domain '${key}'`) });
  });

  it('refuses calls on a freed handle and tolerates a second free()', () => {
    const dom = defaultNode().domain('test');
    dom.free();
    dom.free();
    expect(thrown(() => dom.state())).toMatchObject({ kind: 'internal', message: expect.stringContaining('after free()') });
  });
});

describe('memory', () => {
  it('sets the live balloon target and reads it back', () => {
    const { hv } = freshNode();
    const dom = hv.domain('vm-2');
    try {
      const before = dom.memoryStats().currentKiB;
      expect(before).toBe(testDomains(3)[2]?.currentMemoryKiB);
      dom.setMemoryLive(700_000);
      expect(dom.memoryStats().currentKiB).toBe(700_000);
      expect(dom.xml()).toMatch(/<currentMemory unit='KiB'>700000<\/currentMemory>/);
      dom.setMemoryStatsPeriod(5);
    } finally {
      dom.free();
    }
  });

  it('rejects a target above the maximum and leaves the balloon alone', () => {
    const { hv } = freshNode();
    const dom = hv.domain('vm-0');
    try {
      const error = thrown(() => dom.setMemoryLive(dom.maxMemoryKiB() + 1024));
      expect(error).toMatchObject({ code: 8, kind: 'hypervisor', message: expect.stringContaining("domain 'vm-0'") });
      expect(dom.memoryStats().currentKiB).toBe(testDomains(1)[0]?.currentMemoryKiB);
      expect(thrown(() => dom.setMemoryLive(-5))).toMatchObject({ kind: 'internal' });
    } finally {
      dom.free();
    }
  });
});

describe('lifecycle', () => {
  const xml = (name: string) =>
    `<domain type='test'><name>${name}</name><memory unit='KiB'>262144</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>`;

  it('defines, starts, pauses, resumes, saves, restores, destroys and undefines a persistent domain', () => {
    const { hv } = freshNode();
    const dom = hv.defineDomain(xml('life'));
    try {
      expect(dom.isPersistent()).toBe(true);
      expect(dom.state().state).toBe(DomainState.Shutoff);
      dom.start();
      expect(dom.state().state).toBe(DomainState.Running);
      dom.suspend();
      expect(dom.state().state).toBe(DomainState.Paused);
      dom.resume();
      dom.reboot();
      dom.reset();
      expect(dom.state().state).toBe(DomainState.Running);
      const image = join(dir, 'life.save');
      dom.save(image);
      expect(dom.state().state).toBe(DomainState.Shutoff);
      hv.restoreDomain(image);
      expect(dom.state()).toEqual({ state: DomainState.Running, reason: 3 }); // VIR_DOMAIN_RUNNING_RESTORED
      dom.shutdown();
      expect(dom.state().state).toBe(DomainState.Shutoff);
      dom.undefine();
    } finally {
      dom.free();
    }
    expect(thrown(() => hv.domain('life'))).toMatchObject({ code: 42 });
  });

  it("reads and replaces cloudvamp's metadata element; a domain without one reads as undefined", () => {
    const { hv } = freshNode();
    const uri = 'https://cloudvamp.org/xmlns/libvirt/1.0';
    const dom = hv.createDomain(xml('meta').replace('</name>', `</name><metadata><size xmlns="${uri}" oned_kib="262144"/></metadata>`));
    try {
      expect(dom.metadata(uri)).toBe('<size oned_kib="262144"/>');
      dom.setMetadata(uri, 'cloudvamp', `<size xmlns="${uri}" oned_kib="1024"/>`);
      expect(dom.metadata(uri)).toMatch(/^<size [^>]*oned_kib="1024"\/>$/);
      expect(dom.metadata('https://example.org/other')).toBeUndefined();
    } finally {
      dom.free();
    }
  });

  it('creates a transient domain that disappears when destroyed', () => {
    const { hv } = freshNode();
    const dom = hv.createDomain(xml('transient'));
    try {
      expect(dom.isPersistent()).toBe(false);
      expect(hv.listDomainNames({ activeOnly: true })).toContain('transient');
      dom.destroy();
    } finally {
      dom.free();
    }
    expect(hv.listDomainNames()).not.toContain('transient');
  });

  it('reports a bad domain XML as a hypervisor error', () => {
    const { hv } = freshNode();
    expect(thrown(() => hv.defineDomain('<domain'))).toMatchObject({ kind: 'hypervisor', message: expect.stringContaining('virDomainDefineXML') });
  });
});

describe('migration (error path: the test driver cannot migrate)', () => {
  it.each([
    ['peer-to-peer', true, 74], // VIR_ERR_ARGUMENT_UNSUPPORTED
    ['client-managed', false, 3], // VIR_ERR_NO_SUPPORT
  ])('%s: rejects with LibvirtError and leaves the domain running on the source', async (_label, peerToPeer, code) => {
    const hv = defaultNode();
    const dom = hv.domain('test');
    try {
      const migration = dom.migrateToUri('test:///default', { live: true, peerToPeer, bandwidthMiBs: 100, migrateUri: 'tcp://127.0.0.1' });
      expect(migration).toBeInstanceOf(Promise);
      // The event loop is free while the worker thread runs: this call runs now.
      expect(thrown(() => dom.jobProgress())).toMatchObject({ code: 3 });
      const error = await rejection(migration);
      expect(error).toMatchObject({ code, kind: 'hypervisor', message: expect.stringMatching(/^migrating domain 'test' from test:\/\/\/default to test:\/\/\/default: /) });
      expect(hv.listDomainNames({ activeOnly: true })).toContain('test');
      expect(dom.state().state).toBe(DomainState.Running);
    } finally {
      dom.free();
    }
  });

  it('names the destination when it cannot be reached', async () => {
    const dom = defaultNode().domain('test');
    try {
      const dest = `test+unix:///default?socket=${join(dir, 'nobody')}`;
      const error = await rejection(dom.migrateToUri(dest, { live: true }));
      expect(error.message).toMatch(/^migrating domain 'test' .* cannot connect to libvirt at test\+unix/);
    } finally {
      dom.free();
    }
  });
});
