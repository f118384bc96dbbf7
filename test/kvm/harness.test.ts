// Self-test of the real-guest harness: a guest boots on host 1 and its agent
// answers, holds memory the guest can see, the balloon shrinks it, and it
// migrates to host 2 (live while quiet) and back (non-live while busy)
// without rebooting. Timings are printed for the record.
import { execa } from 'execa';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  type AgentStatus,
  agent,
  destroyGuest,
  findGuest,
  hostTcpUri,
  hostUri,
  memStats,
  startGuest,
  virsh,
  waitFor,
} from '../harness/index.js';

const NAME = 'cvt-harness-1';
const MiB = 1024; // KiB

async function timed<T>(what: string, f: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const result = await f();
  console.log(`harness timing: ${what}: ${((Date.now() - t0) / 1000).toFixed(2)} s`);
  return result;
}

describe('real-guest harness', () => {
  const hosts = inject('kvmHosts');
  const accel = inject('kvmAccel');
  let booted: AgentStatus;

  afterAll(async () => {
    await destroyGuest(NAME);
  });

  it('provides two hosts whose URIs match hosts.sh', async () => {
    expect(hosts).toHaveLength(2);
    for (const i of [1, 2]) {
      const { stdout } = await execa('bash', ['test/harness/hosts.sh', 'uri', String(i)]);
      expect(hosts[i - 1]).toEqual({ uri: stdout.trim(), tcpUri: hostTcpUri(i) });
      expect(hostUri(i)).toBe(stdout.trim());
    }
    expect(['kvm', 'qemu']).toContain(accel);
  });

  it('boots a 256 MiB guest on host 1 whose agent answers', async () => {
    await timed(`boot 256 MiB guest (${accel}) until the agent answers`, () =>
      startGuest(1, { name: NAME, maxMiB: 256, currentMiB: 256, accel }),
    );
    expect(await findGuest(NAME)).toBe(1);
    expect(await agent(NAME, 1, 'ping')).toMatch(/^ok pong uptime=/);
    booted = await agent(NAME, 1, 'status');
    console.log(`harness: guest uptime when the agent first answered ~${booted.uptime.toFixed(1)} s`);
    expect(booted.heldMiB).toBe(0);
    expect(booted.restarts).toBe(0);
    expect(booted.memTotalKiB).toBeGreaterThan(200 * MiB);
    expect(booted.memTotalKiB).toBeLessThanOrEqual(256 * MiB);
  });

  it('keeps counting', async () => {
    const before = await agent(NAME, 1, 'status');
    const after = await waitFor(
      async () => {
        const s = await agent(NAME, 1, 'status');
        return s.counter > before.counter && s;
      },
      { timeoutMs: 5_000, what: 'the agent counter to increase' },
    );
    expect(after.bootId).toBe(before.bootId);
  });

  it('holds 64 MiB that the guest sees as used', async () => {
    const before = await agent(NAME, 1, 'status');
    await timed('hold 64 MiB', () => agent(NAME, 1, 'hold 64'));
    const after = await agent(NAME, 1, 'status');
    expect(after.heldMiB).toBe(64);
    expect(after.allocFailures).toBe(0);
    const dropKiB = before.memFreeKiB - after.memFreeKiB;
    expect(dropKiB).toBeGreaterThanOrEqual(60 * MiB);
    expect(dropKiB).toBeLessThanOrEqual(80 * MiB);
    // and gives it back (the balloon below needs the room)
    expect(await agent(NAME, 1, 'hold 0')).toBe('ok held=0');
    const released = await agent(NAME, 1, 'status');
    expect(released.memFreeKiB - after.memFreeKiB).toBeGreaterThanOrEqual(60 * MiB);
  });

  it('shrinks with the balloon (virsh setmem --live)', async () => {
    const before = await agent(NAME, 1, 'status');
    await timed('balloon 256 -> 128 MiB (actual = target)', async () => {
      await virsh(1, ['setmem', NAME, '--size', String(128 * MiB), '--live']);
      await waitFor(async () => (await memStats(NAME, 1)).actual === 128 * MiB, {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: 'dommemstat actual to reach 128 MiB',
      });
    });
    const after = await waitFor(
      async () => {
        const s = await agent(NAME, 1, 'status');
        return s.memTotalKiB <= before.memTotalKiB - 120 * MiB && s;
      },
      { timeoutMs: 10_000, what: 'the guest MemTotal to drop by the balloon' },
    );
    expect(after.memTotalKiB).toBeLessThanOrEqual(128 * MiB);
    expect(after.heldMiB).toBe(0);
    expect(after.restarts).toBe(0);
  });

  it('live-migrates a quiet guest to host 2 (p2p) without a reboot', async () => {
    await agent(NAME, 1, 'hold 32');
    const before = await agent(NAME, 1, 'status');
    await timed('live migration h1 -> h2 (quiet guest, 32 MiB held)', () =>
      virsh(1, ['migrate', '--live', '--p2p', NAME, hostTcpUri(2)]),
    );
    expect(await findGuest(NAME)).toBe(2);
    const after = await agent(NAME, 2, 'status');
    expect(after.bootId).toBe(booted.bootId);
    expect(after.counter).toBeGreaterThan(before.counter);
    expect(after.heldMiB).toBe(32);
    expect(after.restarts).toBe(0);
    expect((await memStats(NAME, 2)).actual).toBe(128 * MiB);
    // and it keeps running there
    await waitFor(async () => (await agent(NAME, 2, 'status')).counter > after.counter, {
      timeoutMs: 5_000,
      what: 'the counter to keep increasing on host 2',
    });
  });

  it('migrates a busy guest back to host 1 non-live', async () => {
    await agent(NAME, 2, 'dirty 20');
    const before = await agent(NAME, 2, 'status');
    expect(before.dirtyMiBs).toBe(20);
    // Non-live: QEMU 7.2's TCG loses pages a running guest dirties during a
    // live migration, so busy guests are paused for the copy.
    await timed('non-live migration h2 -> h1 (rewriting 20 MiB/s)', () =>
      virsh(2, ['migrate', '--p2p', NAME, hostTcpUri(1)]),
    );
    expect(await findGuest(NAME)).toBe(1);
    const after = await waitFor(
      async () => {
        const s = await agent(NAME, 1, 'status');
        return s.counter > before.counter + 10 && s;
      },
      { timeoutMs: 10_000, what: 'the counter to keep increasing on host 1' },
    );
    expect(after.bootId).toBe(booted.bootId);
    expect(after.dirtyMiBs).toBe(20);
    expect(after.heldMiB).toBe(32);
    expect(after.restarts).toBe(0);
    expect(await agent(NAME, 1, 'dirty 0')).toBe('ok dirty=0');
  });

  it('destroys the guest', async () => {
    expect(await destroyGuest(NAME)).toBe(true);
    expect(await findGuest(NAME)).toBeUndefined();
    expect(await destroyGuest(NAME)).toBe(false);
  });
});
