import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pollUntil, type PollClock } from '../../lib/poll-until';

/** Time moves only when the loop sleeps; every sleep is recorded. */
class StepClock implements PollClock {
  t = 0;
  sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
  }
}

describe('pollUntil', () => {
  it('returns the first value an attempt gives, without sleeping after it', async () => {
    const clock = new StepClock();
    let calls = 0;
    const out = await pollUntil(clock, { timeoutMs: 10_000, intervalMs: 100 }, () => (++calls === 3 ? 'off' : undefined));
    expect(out).toEqual({ done: true, value: 'off' });
    expect(calls).toBe(3);
    expect(clock.sleeps).toEqual([100, 100]);
  });

  it('times out after an attempt at the deadline (>=), and reports how long it waited', async () => {
    const clock = new StepClock();
    let calls = 0;
    const out = await pollUntil(clock, { timeoutMs: 300, intervalMs: 100 }, () => void calls++);
    expect(out).toEqual({ done: false, elapsedMs: 300 });
    expect(calls).toBe(4); // at 0, 100, 200 and 300
  });

  it('pastDeadline: reaching the deadline is not yet a time-out', async () => {
    const clock = new StepClock();
    let calls = 0;
    const out = await pollUntil(clock, { timeoutMs: 300, intervalMs: 100, pastDeadline: true }, () => void calls++);
    expect(out).toEqual({ done: false, elapsedMs: 400 });
    expect(calls).toBe(5);
  });

  it('delayFirst: sleeps one interval before the first attempt', async () => {
    const clock = new StepClock();
    const seen: number[] = [];
    await pollUntil(clock, { timeoutMs: 1000, intervalMs: 250, delayFirst: true }, () => (seen.push(clock.now()), seen.length === 2 ? 1 : undefined));
    expect(seen).toEqual([250, 500]);
  });

  it('clampToDeadline: the last sleep stops at the deadline', async () => {
    const clock = new StepClock();
    const out = await pollUntil(clock, { timeoutMs: 1200, intervalMs: 500, clampToDeadline: true }, () => undefined);
    expect(clock.sleeps).toEqual([500, 500, 200]);
    expect(out).toEqual({ done: false, elapsedMs: 1200 });
  });

  it('an attempt that throws ends the loop with that error', async () => {
    const clock = new StepClock();
    await expect(pollUntil(clock, { timeoutMs: 1000, intervalMs: 100 }, async () => Promise.reject(new Error('VM 7 left ACTIVE')))).rejects.toThrow('VM 7 left ACTIVE');
  });

  it('property: at least one attempt; a time-out never comes before the deadline; clamped waits never overshoot it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 50 }), fc.boolean(), async (timeoutMs, intervalMs, doneAt, clamp) => {
        const clock = new StepClock();
        let calls = 0;
        const out = await pollUntil(clock, { timeoutMs, intervalMs, clampToDeadline: clamp }, () => (++calls === doneAt ? calls : undefined));
        expect(calls).toBeGreaterThanOrEqual(1);
        if (out.done) expect(out.value).toBe(doneAt);
        else {
          expect(out.elapsedMs).toBeGreaterThanOrEqual(timeoutMs);
          if (clamp) expect(out.elapsedMs).toBe(timeoutMs);
          else expect(out.elapsedMs).toBeLessThan(timeoutMs + intervalMs);
        }
      }),
    );
  });
});
