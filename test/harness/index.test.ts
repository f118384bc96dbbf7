// The harness's pure parts, without guests: status parsing, domain XML,
// URIs and the polling helper.
import { describe, expect, it } from 'vitest';
import {
  AGENT_PORT,
  CACHE_DIR,
  HarnessError,
  HOST_PREFIX,
  STATE_DIR,
  agentSocket,
  guestDomainXml,
  hostTcpUri,
  hostUri,
  parseAgentStatus,
  waitFor,
} from './index.js';

describe('parseAgentStatus', () => {
  it('reads every field of the status reply', () => {
    const line =
      'ok uptime=12.34 counter=240 held=64 dirty=20 memtotal_kib=220000 memfree_kib=150000 ' +
      'memavail_kib=140000 alloc_failures=1 restarts=2 boot_id=0f1e2d3c-aaaa-bbbb-cccc-000000000000';
    expect(parseAgentStatus(line)).toEqual({
      uptime: 12.34,
      counter: 240,
      heldMiB: 64,
      dirtyMiBs: 20,
      memTotalKiB: 220000,
      memFreeKiB: 150000,
      memAvailableKiB: 140000,
      allocFailures: 1,
      restarts: 2,
      bootId: '0f1e2d3c-aaaa-bbbb-cccc-000000000000',
    });
  });

  it('rejects errors and incomplete replies', () => {
    expect(() => parseAgentStatus('err unknown command')).toThrow(HarnessError);
    expect(() => parseAgentStatus('ok uptime=1 counter=2')).toThrow(/held/);
  });
});

describe('guestDomainXml', () => {
  it('boots the cached kernel with balloon stats and the agent channel', () => {
    const xml = guestDomainXml({ name: 'g1', maxMiB: 256, currentMiB: 128, statsPeriod: 2, accel: 'qemu' });
    expect(xml).toContain("<domain type='qemu'>");
    expect(xml).toContain("<memory unit='MiB'>256</memory>");
    expect(xml).toContain("<currentMemory unit='MiB'>128</currentMemory>");
    expect(xml).toContain('<vcpu>1</vcpu>');
    expect(xml).toContain(`<kernel>${CACHE_DIR}/vmlinuz</kernel>`);
    expect(xml).toContain("<stats period='2'/>");
    expect(xml).toContain(`<target type='virtio' name='${AGENT_PORT}'/>`);
    expect(xml).toContain("<source mode='bind' path='/run/libvirt/qemu/g1.agent.sock'/>");
    expect(xml).toContain('<on_poweroff>destroy</on_poweroff>');
    expect(xml).toContain('<tb-cache');
    expect(xml).not.toMatch(/<disk|<interface/);
  });

  it('uses KVM without the TCG settings', () => {
    const xml = guestDomainXml({ name: 'g1', maxMiB: 256, currentMiB: 256, vcpus: 2, accel: 'kvm' });
    expect(xml).toContain("<domain type='kvm'>");
    expect(xml).toContain('<vcpu>2</vcpu>');
    expect(xml).not.toContain('<tcg>');
  });

  it('refuses names and sizes that would make bad XML', () => {
    expect(() => guestDomainXml({ name: "a'b", maxMiB: 256, currentMiB: 256, accel: 'qemu' })).toThrow(/bad guest name/);
    expect(() => guestDomainXml({ name: 'a', maxMiB: 128, currentMiB: 256, accel: 'qemu' })).toThrow(/exceeds/);
    expect(() => guestDomainXml({ name: 'a', maxMiB: 1.5, currentMiB: 1, accel: 'qemu' })).toThrow(/maxMiB/);
  });
});

describe('host addresses', () => {
  it('names the unix socket under the state dir and the TCP name on the test network', () => {
    expect(hostUri(2)).toBe(`qemu+unix:///system?socket=${STATE_DIR}/h2/run/libvirt-sock`);
    expect(hostTcpUri(2)).toBe(`qemu+tcp://${HOST_PREFIX}-h2/system`);
    expect(agentSocket('g1', 1)).toBe(`${STATE_DIR}/h1/run/qemu/g1.agent.sock`);
    expect(() => hostUri(0)).toThrow(/1\.\.9/);
  });

  it('keeps agent socket paths within the unix socket limit', () => {
    expect(Buffer.byteLength(agentSocket('a'.repeat(48), 9))).toBeLessThan(108);
  });
});

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let n = 0;
    expect(await waitFor(() => ++n >= 3 && n, { timeoutMs: 1_000, intervalMs: 1 })).toBe(3);
  });

  it('fails with what it waited for and the last error', async () => {
    await expect(
      waitFor(
        () => {
          throw new Error('not yet');
        },
        { timeoutMs: 30, intervalMs: 5, what: 'the moon' },
      ),
    ).rejects.toThrow(/waiting for the moon \(last error: not yet\)/);
  });
});
