// Every document a probe or the poll action prints, read back by a port of
// oned's own template parser: values come back byte for byte, or are left out
// by the one documented rule, and the rest of the document always parses.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainState, type DomainStats } from '../../../lib/libvirt/types';
import { hostMonitorReport, hostSystemReport, legacyReport, vmMonitorReport, vmStatusReport } from '../../../lib/monitor/reports';
import type { HostSnapshot } from '../../../lib/monitor/snapshot';
import { pollText, renderTemplate, template, vector } from '../../../lib/monitor/template';
import { pollTemplate } from '../../../lib/vmm/poll';
import { HOSTILE_NAMES, hostileHostSystemDocument, wildDomain } from '../../support/hostile-names';
import { lexOneTemplate, parseOneTemplate, type OneAttribute } from '../../support/one-template-parser';

/**
 * The documented omission, written independently of the code under test: oned
 * cannot carry a NUL (C string), a trailing backslash (`\"` is always an
 * escaped quote), `]]>` (CDATA aborts the template) or text that is not
 * Unicode (lone UTF-16 surrogates: not from libvirt, whose names are UTF-8).
 */
const omitted = (s: string) => s.includes('\0') || s.endsWith('\\') || s.includes(']]>') || Buffer.from(s, 'utf8').toString('utf8') !== s;

const PIECES = ['\\', '"', '\\"', ']]>', ']]', '>', '[', ']', '=', '#', ',', ' ', '\t', '\n', '\r', '\0', '\u0001', '\u007f', "'", '\uD800', 'é', '🐧', 'one-1'];
/** Arbitrary names: all of Unicode (and lone surrogates), biased towards what the grammar treats specially. */
const hostileName = fc
  .array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ unit: 'binary', maxLength: 6 }), fc.string({ maxLength: 6 })), { maxLength: 8 })
  .map((parts) => parts.join(''));

const single = (attrs: OneAttribute[], name: string) => attrs.filter((a) => a.name === name).map((a) => ('value' in a ? a.value : a.vector));
const vms = (attrs: OneAttribute[]) => attrs.flatMap((a) => (a.name === 'VM' && 'vector' in a ? [a.vector] : []));

const node = { model: 'x86_64', memoryKiB: 16777216, cpus: 4, mhz: 2400, nodes: 1, sockets: 1, cores: 4, threads: 1 };
const snapshot = (names: string[], hostname: string, cpuModelName: string): HostSnapshot => ({
  uri: 'qemu:///system',
  takenAtMs: 1_700_000_010_000,
  hostname,
  cpuModelName,
  node,
  nodeMemory: { totalKiB: 16777216, freeKiB: 4194304 },
  nodeCpu: { kernelNs: 300e9, userNs: 100e9, idleNs: 1500e9 },
  net: { rxBytes: 1, txBytes: 2 },
  // a generated name of the form one-<id> would be an OpenNebula VM, not a wild one
  domains: [...names.map((n) => (n.startsWith('one-') ? `w${n}` : n)).map(wildDomain), { ...wildDomain('one-42', 4242), cpuTimeNs: 1e9, netRxBytes: 5 }],
});

describe('the ported parser is oned\'s grammar', () => {
  it.each([
    ['A="x"\n', [{ name: 'A', value: 'x' }]],
    ['A=x\nB=\n', [{ name: 'A', value: 'x' }, { name: 'B', value: '' }]],
    ['A="a\\"b"\n', [{ name: 'A', value: 'a"b' }]],
    ['A="a\\\\b"\n', [{ name: 'A', value: 'a\\\\b' }]], // `\\` is not an escape: two characters stay two
    ['A="line\nbreak"\n', [{ name: 'A', value: 'line\nbreak' }]],
    ['V=[id="1", x = "2"]\n', [{ name: 'V', vector: { ID: '1', X: '2' } }]],
    ['# comment\nA=1\n', [{ name: 'A', value: '1' }]],
  ])('%j', (text, attrs) => {
    expect(parseOneTemplate(text)).toEqual(attrs);
  });

  it.each([
    ['a trailing backslash runs the string into the next value', 'A="evil\\"\nB="x"\n'],
    [']]> aborts the template', 'A="a]]>b"\n'],
    [']]> later on a vector\'s line aborts it too', 'V=[ID="1", N="]]>"]\n'],
  ])('%s', (_, text) => {
    expect(() => parseOneTemplate(text)).toThrow();
  });

  it('skips what no rule matches, as flex\'s default rule does (and the test parser reports it)', () => {
    expect(lexOneTemplate('A=1\n"\n').echoed).toBe('"');
  });
});

describe('template values oned reads back byte for byte', () => {
  it('scalars and vector values: the same value, or left out by the documented rule; the rest still parses', () => {
    fc.assert(
      fc.property(hostileName, (s) => {
        const text = renderTemplate(
          template([
            ['BEFORE', 'kvm'],
            ['NAME', s],
            ['VM', vector([['ID', -1], ['VM_NAME', s], ['DEPLOY_ID', 'uuid-1']])],
            ['AFTER', 1600],
          ]),
        );
        const attrs = parseOneTemplate(text);
        expect(single(attrs, 'BEFORE')).toEqual(['kvm']);
        expect(single(attrs, 'AFTER')).toEqual(['1600']);
        expect(single(attrs, 'NAME')).toEqual(omitted(s) ? [] : [s]);
        expect(vms(attrs)).toEqual([{ ID: '-1', DEPLOY_ID: 'uuid-1', ...(omitted(s) ? {} : { VM_NAME: s }) }]);
      }),
      { numRuns: 2000 },
    );
  });

  it('every hostile name of the shared list', () => {
    for (const s of HOSTILE_NAMES) {
      const attrs = parseOneTemplate(renderTemplate([['NAME', s], ['END', 'x']]));
      expect(attrs).toEqual([...(omitted(s) ? [] : [{ name: 'NAME', value: s }]), { name: 'END', value: 'x' }]);
    }
  });
});

describe('every probe document parses whole, whatever the names', () => {
  const names = fc.array(hostileName.map((n) => (n.startsWith('one-') ? `w${n}` : n)), { maxLength: 5 });

  it('host/system: capacity keys always, each wild VM with its name or without it', () => {
    fc.assert(
      fc.property(names, hostileName, hostileName, (ns, hostname, model) => {
        const attrs = parseOneTemplate(renderTemplate(hostSystemReport(snapshot(ns, hostname, model), { overcommit: 0.5 })));
        expect(single(attrs, 'HYPERVISOR')).toEqual(['kvm']);
        expect(single(attrs, 'TOTALMEMORY')).toHaveLength(1);
        expect(single(attrs, 'TOTALCPU')).toEqual(['400']);
        expect(single(attrs, 'HOSTNAME')).toEqual(omitted(hostname) ? [] : [hostname]);
        expect(single(attrs, 'MODELNAME')).toEqual(omitted(model) ? [] : [model]);
        expect(vms(attrs)).toEqual(
          ns.map((n, i) => ({ ID: '-1', DEPLOY_ID: wildDomain(n, i).uuid, ...(omitted(n) ? {} : { VM_NAME: n }) })),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('legacy (4.x) document: host keys, VM_POLL, a POLL per VM; a wild VM oned cannot name is left out', () => {
    fc.assert(
      fc.property(names, hostileName, (ns, hostname) => {
        const attrs = parseOneTemplate(renderTemplate(legacyReport(snapshot(ns, hostname, 'cpu'), undefined, { overcommit: 1 })));
        expect(single(attrs, 'HYPERVISOR')).toEqual(['kvm']);
        expect(single(attrs, 'VM_POLL')).toEqual(['YES']);
        const carried = ns.filter((n) => !omitted(n));
        expect(vms(attrs).map((v) => v.DEPLOY_ID)).toEqual([...carried, 'one-42']);
        for (const v of vms(attrs)) {
          const poll = parseOneTemplate(v.POLL ?? '');
          expect(single(poll, 'STATE')).toEqual(['a']);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('vm/monitor and vm/status: only OpenNebula VMs, MONITOR decodes to a template that parses', () => {
    fc.assert(
      fc.property(names, (ns) => {
        const snap = snapshot(ns, 'h', 'c');
        const monitor = parseOneTemplate(renderTemplate(vmMonitorReport(snap, undefined)));
        expect(vms(monitor).map((v) => v.ID)).toEqual(['42']);
        const inner = parseOneTemplate(Buffer.from(vms(monitor)[0]!.MONITOR ?? '', 'base64').toString('utf8'));
        expect(single(inner, 'NETRX')).toEqual(['5']);
        const status = parseOneTemplate(renderTemplate(vmStatusReport(snap)));
        expect(vms(status)).toEqual([{ ID: '42', DEPLOY_ID: snap.domains.at(-1)!.uuid, STATE: 'RUNNING' }]);
        expect(parseOneTemplate(renderTemplate(hostMonitorReport(snap, undefined))).length).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
  });

  it('the poll action\'s POLL string parses key by key', () => {
    const d: DomainStats = { ...wildDomain('one-1', 1), state: DomainState.Paused, cpuTimeNs: 2e9, netRxBytes: 7 };
    for (const format of ['4.8', '4.14'] as const) {
      const attrs = parseOneTemplate(pollText(pollTemplate({ ...d, cpuTimeNs: 1e9 }, d, 1000, format)));
      expect(single(attrs, 'STATE')).toEqual(['p']);
      expect(single(attrs, 'NETRX')).toEqual(['7']);
    }
  });

  it('the helper document for a real monitord parses with every hostile name', () => {
    const doc = hostileHostSystemDocument();
    const attrs = parseOneTemplate(doc.text);
    expect(single(attrs, 'HYPERVISOR')).toEqual(['kvm']);
    expect(vms(attrs)).toEqual(doc.wild.map((w) => ({ ID: '-1', DEPLOY_ID: w.deployId, ...(w.vmName === undefined ? {} : { VM_NAME: w.vmName }) })));
    expect(doc.wild.filter((w) => w.vmName === undefined).length).toBeGreaterThan(0);
  });
});
