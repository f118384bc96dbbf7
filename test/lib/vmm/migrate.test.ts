import { describe, expect, it } from 'vitest';
import { DomainState } from '../../../lib/libvirt/types';
import { describeOptions, formatProgress, migrateDomain } from '../../../lib/vmm/migrate';
import { FakeHypervisor } from '../../support/fake-hypervisor';

const MiB = 1024 * 1024;

describe('formatProgress', () => {
  it('prints percent, MiB and seconds', () => {
    expect(formatProgress({ type: 1, dataTotalBytes: 256 * MiB, dataRemainingBytes: 136 * MiB, timeElapsedMs: 1234 })).toBe('46% 120/256 MiB, 1.2 s');
    expect(formatProgress({ type: 1, dataTotalBytes: 256 * MiB, dataProcessedBytes: 64 * MiB })).toBe('25% 64/256 MiB');
  });
  it('prints nothing before libvirt has numbers', () => {
    expect(formatProgress({ type: 0 })).toBeUndefined();
  });
});

describe('describeOptions', () => {
  it('lists what is on', () => {
    expect(describeOptions({ live: true, peerToPeer: true, bandwidthMiBs: 100, compressed: true })).toBe('live, peer-to-peer, compressed, 100 MiB/s');
    expect(describeOptions({ live: false })).toBe('paused (not live), client-managed');
  });
});

describe('migrateDomain', () => {
  const setup = () => {
    const hv = new FakeHypervisor();
    const dom = hv.add({ name: 'one-5' });
    const lines: string[] = [];
    return { hv, dom, lines, ctx: { clock: hv.clock, log: (l: string) => lines.push(l), progressIntervalMs: 0 } };
  };

  it('migrates with the configured options and shows progress', async () => {
    const { hv, dom, lines, ctx } = setup();
    dom.migrateOutcome = { ok: true, jobs: [{ type: 1, dataTotalBytes: 256 * MiB, dataRemainingBytes: 200 * MiB, timeElapsedMs: 500 }, { type: 1, dataTotalBytes: 256 * MiB, dataRemainingBytes: 0, timeElapsedMs: 900 }] };
    await migrateDomain(hv, dom, 'qemu+tcp://node2/system', { live: true, peerToPeer: true }, ctx);
    expect(dom.migratedTo).toEqual({ uri: 'qemu+tcp://node2/system', options: { live: true, peerToPeer: true } });
    expect(lines[0]).toBe('INFO: migrate: one-5 to qemu+tcp://node2/system (live, peer-to-peer)');
    expect(lines).toContain('INFO: migrate: 21% 56/256 MiB, 0.5 s');
    expect(lines).toContain('INFO: migrate: 100% 256/256 MiB, 0.9 s');
    expect(lines.at(-1)).toMatch(/^INFO: migrate: one-5 now runs on qemu\+tcp:\/\/node2\/system after/);
  });

  it('on failure says the VM still runs on the source', async () => {
    const { hv, dom, ctx } = setup();
    dom.migrateOutcome = { ok: false, message: 'unable to connect to server at node9:16509' };
    await expect(migrateDomain(hv, dom, 'qemu+tcp://node9/system', { live: true }, ctx)).rejects.toThrow(
      'migration of one-5 to qemu+tcp://node9/system failed: unable to connect to server at node9:16509; the VM is still running on the source',
    );
    expect(hv.domains).toContain(dom);
  });

  it('resumes a guest a failed copy left paused', async () => {
    const { hv, dom, ctx } = setup();
    dom.migrateOutcome = { ok: false, message: 'broken pipe', leave: 'paused' };
    await expect(migrateDomain(hv, dom, 'qemu+tcp://node2/system', { live: false }, ctx)).rejects.toThrow(/the VM was resumed and is still running on the source$/);
    expect(dom.stateValue).toBe(DomainState.Running);
  });

  it('says so when the VM left the source anyway', async () => {
    const { hv, dom, ctx } = setup();
    dom.migrateOutcome = { ok: false, message: 'finish failed', leave: 'gone' };
    await expect(migrateDomain(hv, dom, 'qemu+tcp://node2/system', { live: true }, ctx)).rejects.toThrow(/no longer on the source \(qemu:\/\/\/system\): look for it on the destination$/);
  });

  it('refuses a domain that is not running, before anything', async () => {
    const { hv, ctx } = setup();
    const off = hv.add({ name: 'one-6', state: DomainState.Shutoff });
    await expect(migrateDomain(hv, off, 'qemu+tcp://node2/system', { live: true }, ctx)).rejects.toThrow(/one-6 is not running/);
    expect(off.calls).toEqual([]);
  });
});
