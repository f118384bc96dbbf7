// Every hand-declared struct of lib/libvirt/ffi.ts read back from a real
// libvirt and compared with what virsh (libvirt's own C client) prints for the
// same URI. A wrong offset or size shows up as a mismatch here, not as garbage
// numbers in production. Custom test-driver nodes give every field a distinct
// value, so a field read from the wrong offset cannot match by accident.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LibvirtHypervisor, openHypervisor } from '../../../lib/libvirt/client.js';
import { LibvirtError } from '../../../lib/libvirt/errors.js';
import { loadLibvirt, type RawPtr } from '../../../lib/libvirt/ffi.js';
import { decodeTypedParams, migrateParams } from '../../../lib/libvirt/typed-params.js';
import { testDomains, testNode, writeTestDriverXml } from '../../support/test-driver-xml.js';
import { virsh, virshDomstats, virshFields } from './virsh.js';

const DEFAULT = 'test:///default';
let dir: string;
let nodeUri: string;
let hv: LibvirtHypervisor;
let custom: LibvirtHypervisor;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cloudvamp-ffi-'));
  const node = testNode(testDomains(6, { shutoffEvery: 3 }), { cpus: 12, mhz: 2933, model: 'x86_64', memoryKiB: 50_331_648 });
  nodeUri = `test://${writeTestDriverXml(dir, node)}`;
  hv = openHypervisor(DEFAULT);
  custom = openHypervisor(nodeUri);
});

afterAll(() => {
  hv?.close();
  custom?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('virNodeInfo', () => {
  it.each([
    ['test:///default', () => hv],
    ['a custom node', () => custom],
  ])('matches virsh nodeinfo on %s', (_label, get) => {
    const conn = get();
    const ref = virshFields(virsh(conn.uri, 'nodeinfo'), /:\s+/);
    expect(conn.nodeInfo()).toEqual({
      model: ref.get('CPU model'),
      cpus: Number(ref.get('CPU(s)')),
      mhz: Number.parseInt(ref.get('CPU frequency') ?? '', 10),
      sockets: Number(ref.get('CPU socket(s)')),
      cores: Number(ref.get('Core(s) per socket')),
      threads: Number(ref.get('Thread(s) per core')),
      nodes: Number(ref.get('NUMA cell(s)')),
      memoryKiB: Number.parseInt(ref.get('Memory size') ?? '', 10),
    });
  });

  it('reads the custom node values, not defaults', () => {
    expect(custom.nodeInfo()).toMatchObject({ model: 'x86_64', cpus: 12, mhz: 2933, memoryKiB: 50_331_648, cores: 12 });
  });
});

describe('virNodeCPUStats (same layout as virNodeMemoryStats)', () => {
  it('matches virsh nodecpustats', () => {
    const ref = virshFields(virsh(DEFAULT, 'nodecpustats'), /:\s+/);
    expect(hv.nodeCpuStats()).toEqual({
      kernelNs: Number(ref.get('system')),
      userNs: Number(ref.get('user')),
      idleNs: Number(ref.get('idle')),
      iowaitNs: Number(ref.get('iowait')),
    });
  });
});

describe('virError', () => {
  it('carries the code, domain and message virsh reports for the same failure', () => {
    let stderr = '';
    try {
      virsh(DEFAULT, 'nodememstats');
    } catch (error) {
      stderr = String((error as { stderr: unknown }).stderr);
    }
    const virshMessage = /error: (this function is not supported.*)/.exec(stderr)?.[1];
    expect(virshMessage).toContain('virNodeGetMemoryStats');

    const error = catchError(() => hv.nodeMemoryStats());
    expect(error).toBeInstanceOf(LibvirtError);
    expect(error).toMatchObject({ code: 3, kind: 'hypervisor', libvirtMessage: virshMessage });
    expect(Number.isInteger(error.domain) && error.domain > 0 && error.domain < 100).toBe(true);
  });

  it('reads code 42 and the libvirt text for a missing domain', () => {
    const error = catchError(() => hv.domain('no-such-domain'));
    expect(error).toMatchObject({ code: 42, kind: 'not-found' });
    // The test driver's text for VIR_ERR_NO_DOMAIN without detail.
    expect(error.libvirtMessage).toBe('Domain not found');
  });
});

describe('virDomainMemoryStat', () => {
  it('matches virsh dommemstat for every running domain', () => {
    const running = custom.getAllDomainStats({ state: true }).map((d) => d.name);
    expect(running.length).toBe(4);
    for (const name of running) {
      const ref = virshFields(virsh(nodeUri, 'dommemstat', name), /\s+/);
      const dom = custom.domain(name);
      try {
        expect(dom.memoryStats()).toEqual({
          currentKiB: Number(ref.get('actual')),
          swapInKiB: Number(ref.get('swap_in')),
          swapOutKiB: Number(ref.get('swap_out')),
          majorFaults: Number(ref.get('major_fault')),
          minorFaults: Number(ref.get('minor_fault')),
          unusedKiB: Number(ref.get('unused')),
          availableKiB: Number(ref.get('available')),
          usableKiB: Number(ref.get('usable')),
          lastUpdate: Number(ref.get('last_update')),
          diskCachesKiB: Number(ref.get('disk_caches')),
          rssKiB: Number(ref.get('rss')),
        });
      } finally {
        dom.free();
      }
    }
  });
});

describe('virDomainStatsRecord + virTypedParameter', () => {
  it('matches virsh domstats for active and inactive domains', () => {
    const ref = virshDomstats(virsh(nodeUri, 'domstats', '--raw', '--state'));
    const ours = custom.getAllDomainStats({ state: true }, { inactive: true });
    expect(ours.map((d) => d.name).sort()).toEqual([...ref.keys()].sort());
    for (const stats of ours) {
      const fields = ref.get(stats.name);
      expect(stats.state).toBe(Number(fields?.get('state.state')));
      expect(stats.stateReason).toBe(Number(fields?.get('state.reason')));
      expect(stats.uuid).toBe(virsh(nodeUri, 'domuuid', stats.name).trim());
    }
    expect(new Set(ours.map((d) => d.state))).toEqual(new Set([1, 5]));
  });

  it('decodes every parameter type as libvirt itself wrote it (virTypedParamsAdd*)', () => {
    const lv = loadLibvirt();
    const lib = koffi.load('libvirt.so.0');
    const add = (suffix: string, ctype: string) =>
      lib.func(`int virTypedParamsAdd${suffix}(_Inout_ void **params, _Inout_ int *nparams, _Inout_ int *maxparams, const char *name, ${ctype} value)`);
    const params: [RawPtr | null] = [null];
    const nparams = [0];
    const maxparams = [0];
    const calls: [string, string, string, number | string | boolean][] = [
      ['Int', 'int', 'an.int', -123456],
      ['UInt', 'unsigned int', 'a.uint', 4_000_000_000],
      ['LLong', 'long long', 'a.llong', -(2 ** 40)],
      ['ULLong', 'unsigned long long', 'balloon.current', 2 ** 52 + 7],
      ['Double', 'double', 'a.double', 3.25],
      ['Boolean', 'int', 'a.bool', true],
      ['String', 'const char *', 'a.string', 'tcp://10.0.0.2:49152'],
    ];
    for (const [suffix, ctype, name, value] of calls) {
      expect(add(suffix, ctype)(params, nparams, maxparams, name, value === true ? 1 : value)).toBe(0);
    }
    const list = params[0] as RawPtr;
    try {
      const decoded = decodeTypedParams(lv, list, nparams[0] as number);
      expect(Object.fromEntries(decoded)).toEqual(Object.fromEntries(calls.map(([, , name, value]) => [name, value])));
    } finally {
      lv.virTypedParamsFree(list, nparams[0] as number);
    }
  });

  it('builds migration parameters libvirt reads back (virTypedParamsGet*)', () => {
    const lv = loadLibvirt();
    const params = migrateParams({ live: true, migrateUri: 'tcp://10.0.0.2', bandwidthMiBs: 512 });
    const uri: [string | null] = [null];
    const bandwidth: [number] = [0];
    expect(lv.virTypedParamsGetString(params, params.length, 'migrate_uri', uri)).toBe(1);
    expect(lv.virTypedParamsGetULLong(params, params.length, 'bandwidth', bandwidth)).toBe(1);
    expect(uri[0]).toBe('tcp://10.0.0.2');
    expect(bandwidth[0]).toBe(512);
  });
});

function catchError(fn: () => unknown): LibvirtError {
  try {
    fn();
  } catch (error) {
    if (error instanceof LibvirtError) return error;
    throw error;
  }
  throw new Error('expected a LibvirtError');
}
