import { describe, expect, it } from 'vitest';
import { DomainState } from '../../../lib/libvirt/types';
import { changeBalloon, checkBalloonTarget, waitForBalloon } from '../../../lib/vmm/balloon';
import { FakeClock, FakeHypervisor } from '../../support/fake-hypervisor';

const MiB = 1024;
const ctx = (clock: FakeClock) => ({ floorKiB: 64 * MiB, settleTimeoutMs: 5000, clock, log: () => undefined });

describe('checkBalloonTarget', () => {
  const limits = { maxKiB: 512 * MiB, floorKiB: 64 * MiB };
  it('accepts [floor, max]', () => {
    expect(() => checkBalloonTarget(64 * MiB, limits)).not.toThrow();
    expect(() => checkBalloonTarget(512 * MiB, limits)).not.toThrow();
  });
  it('refuses above the maximum as unsafe, naming both sizes', () => {
    expect(() => checkBalloonTarget(513 * MiB, limits)).toThrow(expect.objectContaining({ kind: 'unsafe', message: expect.stringMatching(/513 MiB .* above the VM's maximum 512 MiB/) }));
  });
  it('refuses below the floor', () => {
    expect(() => checkBalloonTarget(63 * MiB, limits)).toThrow(expect.objectContaining({ kind: 'unsafe', message: expect.stringMatching(/below the floor of 64 MiB \(MEMORY_FLOOR_MIB/) }));
  });
});

describe('waitForBalloon', () => {
  it('returns as soon as the balloon is within a page of the target', async () => {
    const clock = new FakeClock();
    const seen = [1000, 900, 800, 700 * MiB + 2];
    const r = await waitForBalloon(() => ({ currentKiB: seen.shift() ?? 700 * MiB }), 700 * MiB, { timeoutMs: 5000 }, clock);
    expect(r).toMatchObject({ settled: true, reachedKiB: 700 * MiB + 2 });
    expect(clock.t).toBe(300);
  });
  it('keeps waiting while the balloon is a batch (1 MiB) away and still moving', async () => {
    const clock = new FakeClock();
    const seen = [701 * MiB, 701 * MiB, 700 * MiB];
    const r = await waitForBalloon(() => ({ currentKiB: seen.shift() ?? 700 * MiB }), 700 * MiB, { timeoutMs: 5000 }, clock);
    expect(r).toMatchObject({ settled: true, reachedKiB: 700 * MiB });
    expect(clock.t).toBe(200);
  });
  it('accepts a balloon that stopped within 1 MiB of the target', async () => {
    const clock = new FakeClock();
    const r = await waitForBalloon(() => ({ currentKiB: 700 * MiB + 512 }), 700 * MiB, { timeoutMs: 5000, stallMs: 1000 }, clock);
    expect(r).toMatchObject({ settled: true, reachedKiB: 700 * MiB + 512 });
    expect(clock.t).toBe(1000);
  });
  it('gives up when the balloon stops moving', async () => {
    const clock = new FakeClock();
    const r = await waitForBalloon(() => ({ currentKiB: 600 * MiB }), 500 * MiB, { timeoutMs: 10_000, stallMs: 1000 }, clock);
    expect(r).toMatchObject({ settled: false, reason: 'stalled', neverMoved: true, reachedKiB: 600 * MiB });
    expect(clock.t).toBe(1000);
  });
  it('gives up at the timeout even while it still moves', async () => {
    const clock = new FakeClock();
    let v = 600 * MiB;
    const r = await waitForBalloon(() => ({ currentKiB: (v -= 10) }), 100 * MiB, { timeoutMs: 2000 }, clock);
    expect(r).toMatchObject({ settled: false, reason: 'timeout', neverMoved: false });
    expect(clock.t).toBe(2000);
  });
});

describe('changeBalloon', () => {
  it('sets the target and reports what the guest reached', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-1', maxKiB: 512 * MiB, currentKiB: 512 * MiB, follow: 32 * MiB });
    const r = await changeBalloon(d, 256 * MiB, ctx(hv.clock));
    expect(r).toEqual({ targetKiB: 256 * MiB, previousKiB: 512 * MiB, reachedKiB: 256 * MiB, settleMs: 800, unchanged: false });
    expect(d.setTargets).toEqual([256 * MiB]);
  });

  it('does nothing when the balloon is already there', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-1', maxKiB: 512 * MiB, currentKiB: 256 * MiB });
    expect(await changeBalloon(d, 256 * MiB, ctx(hv.clock))).toMatchObject({ unchanged: true });
    expect(d.setTargets).toEqual([]);
  });

  it('changes nothing when the target is above the maximum or below the floor', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-1', maxKiB: 512 * MiB });
    await expect(changeBalloon(d, 1024 * MiB, ctx(hv.clock))).rejects.toMatchObject({ kind: 'unsafe' });
    await expect(changeBalloon(d, 32 * MiB, ctx(hv.clock))).rejects.toMatchObject({ kind: 'unsafe' });
    expect(d.calls).toEqual([]);
  });

  it('refuses a domain that is not running', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-1', state: DomainState.Shutoff });
    await expect(changeBalloon(d, 256 * MiB, ctx(hv.clock))).rejects.toThrow(/not running \(state Shutoff\)/);
  });

  it('reports a domain without a balloon device as such', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-1', noBalloonDevice: true });
    await expect(changeBalloon(d, 256 * MiB, ctx(hv.clock))).rejects.toThrow(/^guest has no virtio balloon driver \(memballoon stats missing\): domain one-1 reports no balloon size/);
    expect(d.calls).toEqual([]);
  });

  it('reports a guest without the driver (balloon never moves, no guest stats) and puts the target back', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-1', maxKiB: 512 * MiB, follow: 'never', guestStats: false });
    await expect(changeBalloon(d, 256 * MiB, ctx(hv.clock))).rejects.toThrow(
      /^guest has no virtio balloon driver \(memballoon stats missing\): domain one-1 did not move from 512 MiB towards 256 MiB.*balloon target set back to 512 MiB/,
    );
    expect(d.setTargets).toEqual([256 * MiB, 512 * MiB]);
  });

  it('fails with the reached size when the guest gets stuck, and restores the old target', async () => {
    const hv = new FakeHypervisor();
    const d = hv.add({ name: 'one-1', maxKiB: 512 * MiB, follow: 64 * MiB, stuckAtKiB: 384 * MiB });
    await expect(changeBalloon(d, 256 * MiB, { ...ctx(hv.clock), stallMs: 1000 })).rejects.toThrow(
      'guest of one-1 reached only 384 MiB (393216 KiB) of the 256 MiB target: stopped moving for 1 s; balloon target set back to 512 MiB; the guest probably uses more than the target',
    );
    expect(d.setTargets).toEqual([256 * MiB, 512 * MiB]);
    expect(hv.clock.t).toBeLessThan(5000);
  });
});

describe('realClock.sleep', () => {
  it('ends at once when its signal aborts, leaving no timer behind', async () => {
    const { realClock } = await import('../../../lib/vmm/balloon');
    const wake = new AbortController();
    const t0 = performance.now();
    const sleeping = realClock.sleep(60_000, wake.signal);
    wake.abort();
    await sleeping;
    expect(performance.now() - t0).toBeLessThan(1000);
    await realClock.sleep(5);
  });
});
