import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { forEachBounded } from '../../lib/bounded';

describe('forEachBounded', () => {
  it('runs every item once, starts them in order, never more than the limit at once and up to the limit when there is work', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: 3 }), { maxLength: 40 }), fc.integer({ min: 1, max: 10 }), async (delays, limit) => {
        let inFlight = 0;
        let most = 0;
        const started: number[] = [];
        await forEachBounded(delays, limit, async (ticks, index) => {
          started.push(index);
          most = Math.max(most, ++inFlight);
          for (let t = 0; t <= ticks; t++) await Promise.resolve();
          inFlight--;
        });
        expect(started).toEqual(delays.map((_, i) => i));
        expect(inFlight).toBe(0);
        expect(most).toBe(Math.min(limit, delays.length));
      }),
    );
  });

  it('waits for every job, including the slow ones', async () => {
    const done: number[] = [];
    await forEachBounded([30, 1, 1], 2, async (ms, i) => {
      await new Promise((r) => setTimeout(r, ms));
      done.push(i);
    });
    expect(done.sort()).toEqual([0, 1, 2]);
  });
});
