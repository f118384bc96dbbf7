// Hostile libvirt domain names and the host/system document a probe prints
// for them, for tests that feed it to oned's parser: the ported one
// (test/support/one-template-parser.ts) or a real monitord.
import type { DomainStats } from '../../lib/libvirt/types';
import { hostSystemReport } from '../../lib/monitor/reports';
import type { HostSnapshot } from '../../lib/monitor/snapshot';
import { carriable, renderTemplate } from '../../lib/monitor/template';
import { domain } from './fake-hypervisor';

/** Names real clouds contain, each of which once broke or changed the probe's output. */
export const HOSTILE_NAMES: readonly string[] = [
  'evil\\',
  'a]]>b',
  ']]>',
  'back\\slash',
  'two\\\\slashes',
  'new\nline',
  'cr\rlf\r\n',
  'say "hi"',
  '\\"',
  'ends in quote"',
  'tab\there',
  'ctl\u0001\u001f\u007f',
  'nul\u0000byte',
  '[bracketed]',
  'x=1, Y="2"]',
  '# not a comment',
  'ünïcødé 名前 🐧',
  '',
];

/** A wild (non-OpenNebula) running domain called `name`, with a UUID of its own. */
export const wildDomain = (name: string, index: number): DomainStats => domain(name, { uuid: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}` });

export interface HostileDocument {
  /** the host/system probe's stdout */
  text: string;
  /** per wild domain: its DEPLOY_ID, and VM_NAME as oned must read it back (undefined: left out) */
  wild: Array<{ deployId: string; vmName: string | undefined }>;
}

/**
 * The host/system (SYSTEM_HOST) document of a host running one wild domain per
 * name, with hostname and CPU model also hostile. oned must parse it whole:
 * HYPERVISOR, TOTALMEMORY, ... and each wild VM, whose VM_NAME is the name
 * byte for byte, or absent where oned's grammar cannot carry it.
 */
export function hostileHostSystemDocument(names: readonly string[] = HOSTILE_NAMES, overcommit = 1): HostileDocument {
  const domains = names.map(wildDomain);
  const snap: HostSnapshot = {
    uri: 'qemu:///system',
    takenAtMs: 1_700_000_000_000,
    hostname: names[0] ?? 'node1',
    cpuModelName: names[1] ?? 'cpu',
    node: { model: 'x86_64', memoryKiB: 16777216, cpus: 4, mhz: 2400, nodes: 1, sockets: 1, cores: 4, threads: 1 },
    domains,
  };
  return {
    text: renderTemplate(hostSystemReport(snap, { overcommit })),
    wild: domains.map((d) => ({ deployId: d.uuid, vmName: carriable(d.name) ? d.name : undefined })),
  };
}
