// Node descriptions for libvirt's built-in test driver (test:///<file>): a fake
// host with as many fake domains as a test needs, all in-process, no daemon.
// Format: libvirt src/test/test_driver.c (<node> with <cpu>, <memory>, <domain>s);
// `test:runstate` sets a domain's initial state (default running).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestDomainSpec {
  name: string;
  uuid: string;
  /** <memory>: maximum, KiB */
  memoryKiB: number;
  /** <currentMemory>: balloon target, KiB */
  currentMemoryKiB: number;
  vcpus: number;
  running: boolean;
}

export interface TestNodeSpec {
  cpus: number;
  mhz: number;
  model: string;
  memoryKiB: number;
  domains: TestDomainSpec[];
}

/** `count` domains named vm-0..vm-N with distinct memory/currentMemory, deterministic UUIDs. */
export function testDomains(count: number, options: { shutoffEvery?: number } = {}): TestDomainSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `vm-${i}`,
    uuid: `00000000-0000-4000-8000-${(i + 1).toString(16).padStart(12, '0')}`,
    memoryKiB: 1_048_576 + i * 4096,
    currentMemoryKiB: 524_288 + i * 1024,
    vcpus: 1 + (i % 4),
    running: !(options.shutoffEvery && i % options.shutoffEvery === options.shutoffEvery - 1),
  }));
}

export function testNode(domains: TestDomainSpec[], overrides: Partial<Omit<TestNodeSpec, 'domains'>> = {}): TestNodeSpec {
  return { cpus: 8, mhz: 2400, model: 'x86_64', memoryKiB: 67_108_864, ...overrides, domains };
}

const SHUTOFF = 5; // VIR_DOMAIN_SHUTOFF

export function testDriverXml(node: TestNodeSpec): string {
  const domains = node.domains.map(
    (d) => `  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>${d.name}</name>
    <uuid>${d.uuid}</uuid>
    <memory unit='KiB'>${d.memoryKiB}</memory>
    <currentMemory unit='KiB'>${d.currentMemoryKiB}</currentMemory>
    <vcpu>${d.vcpus}</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices><memballoon model='virtio'/></devices>${d.running ? '' : `\n    <test:runstate>${SHUTOFF}</test:runstate>`}
  </domain>`,
  );
  return `<node>
  <cpu>
    <nodes>1</nodes>
    <sockets>1</sockets>
    <cores>${node.cpus}</cores>
    <threads>1</threads>
    <active>${node.cpus}</active>
    <mhz>${node.mhz}</mhz>
    <model>${node.model}</model>
  </cpu>
  <memory>${node.memoryKiB}</memory>
${domains.join('\n')}
</node>
`;
}

/** Writes the node XML to `<dir>/<name>` and returns the path, for test:///<path>. */
export function writeTestDriverXml(dir: string, node: TestNodeSpec, name = 'test-node.xml'): string {
  const path = join(dir, name);
  writeFileSync(path, testDriverXml(node));
  return path;
}
