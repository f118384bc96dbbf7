// The per-VM rule (lib/elasticity/vm-rule.ts), one VM and its state at a time: CloudVAMP's table,
// figures that predate a change or catch a balloon still moving, deflate-on-OOM guests, the warm-up
// and the peak floor, with properties over every input.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recordPlan } from '../../../lib/elasticity/apply-plan';
import { planCycle } from '../../../lib/elasticity/plan';
import { decideVm, floorFor } from '../../../lib/elasticity/vm-rule';
import type { ManagedVm } from '../../../lib/elasticity/state';
import { emptyState, reconcile } from '../../../lib/elasticity/state';
import type { VmView } from '../../../lib/elasticity/ports';
import { cluster, config, GiB, host, MiB, vm } from './builders';

const NOW = 1_000_000_000;
const seen = (over: Partial<ManagedVm> = {}): ManagedVm => ({ originalKiB: 4 * GiB, firstSeenAt: 0, strikes: 0, ...over });

describe('decideVm: CloudVAMP rule, table', () => {
  const cfg = config();
  const cases: { name: string; vm: VmView; state?: ManagedVm; cfg?: ReturnType<typeof config>; action: string; target?: number; reason?: RegExp }[] = [
    { name: 'free share in the dead band', vm: vm(1, { currentKiB: 4 * GiB, usedKiB: 0.7 * 4 * GiB }), action: 'none', reason: /within 25..35 %/ },
    { name: 'band edge 25 % free is inside', vm: vm(1, { currentKiB: 4 * GiB, usedKiB: 3 * GiB }), action: 'none', reason: /within/ },
    { name: 'mostly free: shrink to used / 0.7', vm: vm(1, { currentKiB: 4 * GiB, usedKiB: 1 * GiB }), action: 'shrink', target: Math.ceil(GiB / 0.7 / MiB) * MiB },
    {
      name: 'low but not starving: grow to used / 0.7',
      vm: vm(1, { originalKiB: 4 * GiB, currentKiB: 3 * GiB, usedKiB: 2.6 * GiB }),
      action: 'grow',
      target: Math.ceil((2.6 * GiB) / 0.7 / MiB) * MiB,
    },
    {
      name: 'starving, first strike: half the gap',
      vm: vm(1, { originalKiB: 4 * GiB, currentKiB: 2 * GiB, usedKiB: 2 * GiB - 50 * MiB }),
      action: 'grow',
      target: Math.ceil((2 * GiB - 50 * MiB + 0.5 * (2 * GiB + 50 * MiB)) / MiB) * MiB,
      reason: /strike 1\/2/,
    },
    {
      name: 'starving, second strike (two-strike): original',
      vm: vm(1, { originalKiB: 4 * GiB, currentKiB: 3 * GiB, usedKiB: 3 * GiB - 50 * MiB }),
      state: seen({ strikes: 1, lastStrikeAt: NOW - 60_000, lastChangeAt: NOW - 60_000 }),
      action: 'grow',
      target: 4 * GiB,
      reason: /strike 2\/2: back to the original/,
    },
    {
      name: 'starving, second strike (three-strike): half again',
      cfg: config({ growthRule: 'three-strike' }),
      vm: vm(1, { originalKiB: 4 * GiB, currentKiB: 3 * GiB, usedKiB: 3 * GiB - 50 * MiB }),
      state: seen({ strikes: 1, lastStrikeAt: NOW - 60_000, lastChangeAt: NOW - 60_000 }),
      action: 'grow',
      target: Math.ceil((3 * GiB - 50 * MiB + 0.5 * (GiB + 50 * MiB)) / MiB) * MiB,
      reason: /strike 2\/3/,
    },
    {
      name: 'old strikes are forgotten after STRIKE_RESET',
      vm: vm(1, { originalKiB: 4 * GiB, currentKiB: 2 * GiB, usedKiB: 2 * GiB - 50 * MiB }),
      state: seen({ strikes: 1, lastStrikeAt: NOW - 3_600_000 }),
      action: 'grow',
      reason: /strike 1\/2/,
    },
    {
      name: 'cooldown blocks a shrink',
      vm: vm(1, { currentKiB: 4 * GiB, usedKiB: 1 * GiB }),
      state: seen({ lastChangeAt: NOW - 10_000 }),
      action: 'none',
      reason: /cooldown: 20 s left/,
    },
    {
      name: 'cooldown blocks a share-driven grow (low, not starving)',
      vm: vm(1, { originalKiB: 4 * GiB, currentKiB: 3 * GiB, usedKiB: 2.6 * GiB }),
      state: seen({ lastChangeAt: NOW - 10_000 }),
      action: 'none',
      reason: /cooldown: 20 s left/,
    },
    {
      name: 'a starving guest skips the cooldown: first strike at once',
      vm: vm(1, { originalKiB: 4 * GiB, currentKiB: 2 * GiB, usedKiB: 2 * GiB - 50 * MiB }),
      state: seen({ lastChangeAt: NOW - 1_000 }),
      action: 'grow',
      target: Math.ceil((2 * GiB - 50 * MiB + 0.5 * (2 * GiB + 50 * MiB)) / MiB) * MiB,
      reason: /strike 1\/2/,
    },
    {
      name: 'a starving guest skips the cooldown: second strike one interval after the first',
      vm: vm(1, { originalKiB: 4 * GiB, currentKiB: 3 * GiB, usedKiB: 3 * GiB - 50 * MiB }),
      state: seen({ strikes: 1, lastStrikeAt: NOW - 10_000, lastChangeAt: NOW - 10_000 }),
      action: 'grow',
      target: 4 * GiB,
      reason: /strike 2\/2: back to the original/,
    },
    {
      name: 'starving at the original inside the cooldown: nothing to give',
      vm: vm(1, { originalKiB: 4 * GiB, currentKiB: 4 * GiB, usedKiB: 4 * GiB - 50 * MiB }),
      state: seen({ lastChangeAt: NOW - 10_000 }),
      action: 'none',
      reason: /starving.*already at 4096 MiB/,
    },
    {
      name: 'change below MEM_DIFF_TO_CHANGE ignored',
      vm: vm(1, { originalKiB: 1 * GiB, currentKiB: 300 * MiB, usedKiB: 190 * MiB, overrides: { minFreeKiB: 0 } }),
      action: 'none',
      reason: /below MEM_DIFF_TO_CHANGE/,
    },
    {
      name: 'floor MEM_MIN',
      cfg: config({ minFreeKiB: 0 }),
      vm: vm(1, { currentKiB: 4 * GiB, usedKiB: 20 * MiB }),
      action: 'shrink',
      target: 256 * MiB,
    },
    {
      name: 'never above the original, even a small one',
      vm: vm(1, { originalKiB: 128 * MiB, currentKiB: 100 * MiB, usedKiB: 99 * MiB }),
      state: seen({ originalKiB: 128 * MiB }),
      action: 'grow',
      target: 128 * MiB,
    },
    {
      name: 'shrink never lands at or below the starvation line (guard used + 2 × MIN_FREE)',
      vm: vm(1, { originalKiB: 1 * GiB, currentKiB: 1 * GiB, usedKiB: 300 * MiB }),
      action: 'shrink',
      target: 300 * MiB + 256 * MiB,
    },
    {
      name: 'per-VM MEM_OVER override',
      vm: vm(1, { currentKiB: 4 * GiB, usedKiB: 1.6 * GiB, overrides: { memOverPercent: 60 } }),
      action: 'none',
      reason: /within 55..65 %/,
    },
    {
      name: 'per-VM MIN_FREE_MEM override makes it starve',
      vm: vm(1, { originalKiB: 8 * GiB, currentKiB: 4 * GiB, usedKiB: 3.2 * GiB, overrides: { minFreeKiB: 1 * GiB } }),
      action: 'grow',
      reason: /starving \(free ≤ 1024 MiB\)/,
    },
    {
      name: 'no shrink within SHRINK_HOLD_OFF of starving',
      vm: vm(1, { currentKiB: 4 * GiB, usedKiB: 1 * GiB }),
      state: seen({ lastStrikeAt: NOW - 120_000, lastChangeAt: NOW - 120_000 }),
      action: 'none',
      reason: /starved 120 s ago/,
    },
    {
      name: 'peak-aware: a starving guest that burst to 8 GiB before gets what that peak needs at once, not half the gap',
      cfg: config({ peakHalfLifeMs: 3 * 3_600_000 }),
      vm: vm(1, { originalKiB: 16 * GiB, currentKiB: 4 * GiB, usedKiB: 4 * GiB - 50 * MiB }),
      state: seen({ originalKiB: 16 * GiB, peak: { kib: 8 * GiB, at: NOW } }),
      action: 'grow',
      target: Math.ceil((8 * GiB) / 0.7 / MiB) * MiB,
      reason: /strike 1\/2: grow to what the recent peak needs/,
    },
    {
      name: 'peak-aware: without PEAK_FLOOR a shrink still goes to the current use',
      cfg: config({ peakHalfLifeMs: 3 * 3_600_000, peakFloor: false }),
      vm: vm(1, { currentKiB: 4 * GiB, usedKiB: 1 * GiB }),
      state: seen({ peak: { kib: 2.4 * GiB, at: NOW - 3_600_000 } }),
      action: 'shrink',
      target: Math.ceil(GiB / 0.7 / MiB) * MiB,
    },
    {
      name: 'peak-aware: a quiet guest that burst 1 h ago keeps room for its peak (half-life 3 h)',
      cfg: config({ peakHalfLifeMs: 3 * 3_600_000, peakFloor: true }),
      vm: vm(1, { currentKiB: 4 * GiB, usedKiB: 1 * GiB }),
      state: seen({ peak: { kib: 2.4 * GiB, at: NOW - 3_600_000 } }),
      action: 'shrink',
      target: Math.ceil((2.4 * GiB * 2 ** (-1 / 3)) / 0.7 / MiB) * MiB,
      reason: /recent peak 1951 MiB/,
    },
    {
      name: 'peak-aware: a peak from long ago has decayed below the current use, which then rules',
      cfg: config({ peakHalfLifeMs: 3_600_000, peakFloor: true }),
      vm: vm(1, { currentKiB: 4 * GiB, usedKiB: 1 * GiB }),
      state: seen({ peak: { kib: 3 * GiB, at: NOW - 12 * 3_600_000 } }),
      action: 'shrink',
      target: Math.ceil(GiB / 0.7 / MiB) * MiB,
    },
    {
      name: 'peak-aware: PEAK_HALF_LIFE=0 ignores a recorded peak (CloudVAMP)',
      cfg: config({ peakHalfLifeMs: 0, peakFloor: true }),
      vm: vm(1, { currentKiB: 4 * GiB, usedKiB: 1 * GiB }),
      state: seen({ peak: { kib: 3 * GiB, at: NOW } }),
      action: 'shrink',
      target: Math.ceil(GiB / 0.7 / MiB) * MiB,
    },
    {
      name: 'peak-aware: sized for the peak already, nothing to shrink',
      cfg: config({ peakHalfLifeMs: 3_600_000, peakFloor: true }),
      vm: vm(1, { currentKiB: 3 * GiB, usedKiB: 1 * GiB }),
      state: seen({ peak: { kib: 2.1 * GiB, at: NOW } }),
      action: 'none',
      reason: /already at 3072 MiB/,
    },
    { name: 'not running', vm: vm(1, { running: false, usedKiB: GiB }), action: 'none', reason: /not running/ },
    { name: 'no figures', vm: vm(1), action: 'none', reason: /no balloon stats/ },
    {
      name: 'balloon figures from before a shrink are stale',
      vm: vm(1, { currentKiB: 2 * GiB, balloon: { availableKiB: 4 * GiB, usableKiB: 3 * GiB } }),
      action: 'none',
      reason: /predate the last change/,
    },
    {
      name: 'fresh stamped OneGate figures win over balloon stats',
      vm: vm(1, {
        currentKiB: 4 * GiB,
        balloon: { availableKiB: 4 * GiB, usableKiB: 1.2 * GiB },
        onegate: { memTotalKiB: 4 * GiB, memFreeKiB: 3 * GiB, updatedAt: NOW - 5_000 },
      }),
      action: 'shrink',
      reason: /from OneGate figures/,
    },
  ];
  it.each(cases)('$name', (c) => {
    const d = decideVm(c.vm, c.state, c.cfg ?? cfg, NOW);
    expect(d.action, d.reason).toBe(c.action);
    if (c.target !== undefined) expect(d.targetKiB).toBe(c.target);
    if (c.reason) expect(d.reason).toMatch(c.reason);
  });
});

// ------------------------------------------------------------ properties

const arbVmAndState = fc
  .record({
    original: fc.integer({ min: 64, max: 65536 }).map((m) => m * MiB),
    currentShare: fc.double({ min: 0.05, max: 1, noNaN: true }),
    usedShare: fc.double({ min: 0, max: 1, noNaN: true }),
    overhead: fc.integer({ min: 0, max: 64 * MiB }),
    minFree: fc.option(fc.integer({ min: 0, max: 2 * GiB }), { nil: undefined }),
    memOver: fc.option(fc.integer({ min: 1, max: 90 }), { nil: undefined }),
    strikes: fc.integer({ min: 0, max: 3 }),
    sinceStrike: fc.option(fc.integer({ min: 0, max: 7_200_000 }), { nil: undefined }),
    sinceChange: fc.option(fc.integer({ min: 0, max: 600_000 }), { nil: undefined }),
    rule: fc.constantFrom('two-strike' as const, 'three-strike' as const),
    peakShare: fc.option(fc.double({ min: 0, max: 1.5, noNaN: true }), { nil: undefined }),
    peakAgo: fc.integer({ min: 0, max: 48 * 3_600_000 }),
    halfLife: fc.constantFrom(0, 600_000, 3_600_000, 6 * 3_600_000),
    peakFloor: fc.boolean(),
  })
  .map((r) => {
    const current = Math.max(MiB, Math.round(r.original * r.currentShare));
    const total = Math.max(MiB, current - r.overhead);
    const used = Math.round(total * r.usedShare);
    const v = vm(1, {
      originalKiB: r.original,
      currentKiB: current,
      balloon: { availableKiB: total, usableKiB: total - used },
      overrides: { ...(r.minFree !== undefined ? { minFreeKiB: r.minFree } : {}), ...(r.memOver !== undefined ? { memOverPercent: r.memOver } : {}) },
    });
    const s: ManagedVm = {
      originalKiB: r.original,
      firstSeenAt: 0,
      strikes: r.strikes,
      ...(r.sinceStrike !== undefined ? { lastStrikeAt: NOW - r.sinceStrike } : {}),
      ...(r.sinceChange !== undefined ? { lastChangeAt: NOW - r.sinceChange } : {}),
      ...(r.peakShare !== undefined ? { peak: { kib: Math.round(r.original * r.peakShare), at: NOW - r.peakAgo } } : {}),
    };
    return { v, s, cfg: config({ growthRule: r.rule, peakHalfLifeMs: r.halfLife, peakFloor: r.peakFloor }), used, total, current };
  });

describe('decideVm: figures older than the last change', () => {
  // grown half-way 20 s ago; the record monitord still serves was taken before that
  const halfGrown = (figuresAt: number) =>
    vm(1, {
      originalKiB: 4 * GiB,
      currentKiB: 3 * GiB,
      balloon: { availableKiB: 2 * GiB, usableKiB: 40 * MiB, updatedAt: figuresAt },
    });
  const state = seen({ strikes: 1, lastStrikeAt: NOW - 20_000, lastChangeAt: NOW - 20_000 });

  it('are not acted on: a stale starving record never earns a second strike', () => {
    const d = decideVm(halfGrown(NOW - 25_000), state, config(), NOW);
    expect(d).toMatchObject({ action: 'none', targetKiB: 3 * GiB, strikes: 1 });
    expect(d.reason).toMatch(/waiting for guest figures newer than the last change \(balloon stats are 5 s older\)/);
  });

  it('a record taken after the change is acted on', () => {
    const fresh = vm(1, { originalKiB: 4 * GiB, currentKiB: 3 * GiB, balloon: { availableKiB: 3 * GiB, usableKiB: 40 * MiB, updatedAt: NOW - 5_000 } });
    expect(decideVm(fresh, state, config(), NOW)).toMatchObject({ action: 'grow', targetKiB: 4 * GiB });
  });

  it('figures without a time cannot be judged and are used as before', () => {
    const unstamped = vm(1, { originalKiB: 4 * GiB, currentKiB: 3 * GiB, usedKiB: 3 * GiB - 40 * MiB });
    expect(decideVm(unstamped, state, config(), NOW).action).toBe('grow');
  });
});

describe('decideVm: figures taken while the balloon is still moving to the size set last', () => {
  // The tier run: shrunk 512 → 139 MiB 7 s ago; the balloon is at 376 MiB and the guest says "used 0 MiB, free 100 %".
  const cfg = config({ cooldownMs: 0, figuresMaxAgeMs: 25_000 });
  const setAt = NOW - 7_000;
  const shrunk = (over: Partial<ManagedVm['lastAction'] & object> = {}) =>
    seen({ originalKiB: 512 * MiB, lastChangeAt: setAt, lastAction: { action: 'shrink', at: setAt, fromKiB: 512 * MiB, toKiB: 139 * MiB, reason: 'r', result: 'ok', ...over } });
  const inflating = (figuresAt: number, over: Partial<VmView> = {}) =>
    vm(1, { originalKiB: 512 * MiB, currentKiB: 376 * MiB, balloon: { availableKiB: 376 * MiB, usableKiB: 380 * MiB, updatedAt: figuresAt, guestStamped: true }, ...over });

  it('are not acted on while the balloon has not reached that size, and the reason says where it is', () => {
    const d = decideVm(inflating(NOW - 1_000), shrunk(), cfg, NOW);
    expect(d).toMatchObject({ action: 'none', targetKiB: 376 * MiB });
    expect(d.reason).toMatch(/^balloon at 376 MiB, still on its way to the 139 MiB set 7 s ago: guest figures taken meanwhile are not acted on \(for up to FIGURES_MAX_AGE 25 s/);
    // the same figures without a change in flight: the shrink the tier run saw
    expect(decideVm(inflating(NOW - 1_000), seen({ originalKiB: 512 * MiB }), cfg, NOW).action).toBe('shrink');
    // a grow still deflating, a restore too
    expect(decideVm(inflating(NOW - 1_000), shrunk({ action: 'grow', toKiB: 512 * MiB }), cfg, NOW).action).toBe('none');
    expect(decideVm(inflating(NOW - 1_000), shrunk({ action: 'restore', toKiB: 512 * MiB }), cfg, NOW).action).toBe('none');
  });

  it('resize mode: oned already holds the new MEMORY, the balloon (REALMEMORY) is still on its way', () => {
    const resized = inflating(NOW - 1_000, { currentKiB: 139 * MiB, balloonKiB: 376 * MiB });
    expect(decideVm(resized, shrunk(), cfg, NOW).reason).toMatch(/^balloon at 376 MiB, still on its way to the 139 MiB/);
    expect(decideVm({ ...resized, balloonKiB: 139 * MiB }, shrunk(), cfg, NOW).reason).not.toMatch(/balloon at/);
  });

  it('once the balloon is there (within 1 MiB) the figures are used', () => {
    const arrived = vm(1, { originalKiB: 512 * MiB, currentKiB: 139 * MiB + 512, balloon: { availableKiB: 130 * MiB, usableKiB: 100 * MiB, updatedAt: NOW - 1_000, guestStamped: true } });
    expect(decideVm(arrived, shrunk(), cfg, NOW).reason).not.toMatch(/balloon at/);
  });

  it('a failed change, or a migration, sets no size to wait for', () => {
    expect(decideVm(inflating(NOW - 1_000), shrunk({ result: 'failed' }), cfg, NOW).action).toBe('shrink');
    expect(decideVm(inflating(NOW - 1_000), shrunk({ action: 'migrate', toKiB: 376 * MiB }), cfg, NOW).reason).not.toMatch(/balloon at/);
  });

  it('a balloon not there FIGURES_MAX_AGE after the change is stuck: a starving guest behind it is grown', () => {
    const stuck = (figuresAt: number) =>
      vm(1, { originalKiB: 512 * MiB, currentKiB: 200 * MiB, balloon: { availableKiB: 196 * MiB, usableKiB: 10 * MiB, updatedAt: figuresAt, guestStamped: true } });
    const state = shrunk();
    expect(decideVm(stuck(setAt + 25_000), state, cfg, setAt + 26_000).action).toBe('none');
    expect(decideVm(stuck(setAt + 26_000), state, cfg, setAt + 27_000)).toMatchObject({ action: 'grow', starving: true });
  });
});

describe('decideVm: a deflate-on-OOM guest (MemTotal keeps its boot size after a shrink)', () => {
  // 4 GiB guest, shrunk to 1 GiB 30 s ago; with autodeflate the guest still reports MemTotal 4 GiB (less the
  // kernel's reservation) and counts the 3 GiB balloon as used: MemAvailable 40 MiB is what it has left
  const changedAt = NOW - 30_000;
  const state = seen({ lastChangeAt: changedAt });
  const deflating = (lastUpdate: number, guestStamped = true) =>
    vm(1, {
      originalKiB: 4 * GiB,
      currentKiB: 1 * GiB,
      balloon: { availableKiB: 4 * GiB - 60 * MiB, usableKiB: 40 * MiB, updatedAt: lastUpdate, ...(guestStamped ? { guestStamped: true } : {}) },
    });

  it('stats the guest refreshed after the change are used: use = current − MemAvailable, the starving guest grows', () => {
    const d = decideVm(deflating(NOW - 5_000), state, config(), NOW);
    expect(d.figures).toMatchObject({ totalKiB: 1 * GiB, freeKiB: 40 * MiB, usedKiB: 1 * GiB - 40 * MiB, source: 'balloon' });
    expect(d).toMatchObject({ action: 'grow', starving: true });
    expect(d.targetKiB).toBeGreaterThan(1 * GiB);
  });

  it('stats from before the change are refused', () => {
    const d = decideVm(deflating(changedAt - 1_000), state, config(), NOW);
    expect(d.action).toBe('none');
    expect(d.reason).toMatch(/predate the last change/);
  });

  it("without the guest's own stats time (only monitord's record time) or a change time, MemTotal above the size still means stale", () => {
    expect(decideVm(deflating(NOW - 5_000, false), state, config(), NOW).reason).toMatch(/predate the last change/);
    expect(decideVm(deflating(NOW - 5_000), seen({}), config(), NOW).reason).toMatch(/predate the last change/);
  });

  it('property: fresh deflate-on-OOM figures give free = min(MemAvailable, current), use = current − free, and a grow whenever free ≤ MIN_FREE', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 256, max: 65536 }),
        fc.double({ min: 0.05, max: 0.97, noNaN: true }),
        fc.double({ min: 0, max: 1.2, noNaN: true }),
        fc.integer({ min: 1, max: 60_000 }),
        (originalMiB, currentShare, freeShare, ago) => {
          const original = originalMiB * MiB;
          const current = Math.max(MiB, Math.round(original * currentShare));
          const usable = Math.round(current * freeShare);
          const cfg = config();
          const v = vm(1, { originalKiB: original, currentKiB: current, balloon: { availableKiB: original - 16 * MiB, usableKiB: usable, updatedAt: NOW - ago + 1, guestStamped: true } });
          fc.pre(original - 16 * MiB > current * 1.02);
          const d = decideVm(v, seen({ originalKiB: original, lastChangeAt: NOW - ago }), cfg, NOW);
          const free = Math.min(usable, current);
          expect(d.figures, d.reason).toMatchObject({ totalKiB: current, freeKiB: free, usedKiB: current - free });
          if (free <= cfg.minFreeKiB && current < original) expect(d.action, d.reason).toBe('grow');
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('decideVm: properties', () => {
  it('never below the floor, never above the original, changes at least MEM_DIFF_TO_CHANGE', () => {
    fc.assert(
      fc.property(arbVmAndState, ({ v, s, cfg }) => {
        const d = decideVm(v, s, cfg, NOW);
        if (d.action === 'none') return d.targetKiB === v.currentKiB;
        return (
          d.targetKiB <= s.originalKiB &&
          d.targetKiB >= floorFor(s.originalKiB, cfg) &&
          (Math.abs(d.targetKiB - v.currentKiB) >= cfg.memDiffToChangeKiB || d.targetKiB === s.originalKiB) &&
          (d.action === 'grow') === d.targetKiB > v.currentKiB
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('respects the cooldown, except that a starving guest grows at once', () => {
    fc.assert(
      fc.property(arbVmAndState, ({ v, s, cfg, used, total }) => {
        const d = decideVm(v, s, cfg, NOW);
        const cooling = s.lastChangeAt !== undefined && NOW - s.lastChangeAt < cfg.cooldownMs;
        const starving = total - used <= (v.overrides.minFreeKiB ?? cfg.minFreeKiB);
        if (!cooling) return true;
        return starving ? d.action !== 'shrink' && d.starving : d.action === 'none';
      }),
      { numRuns: 2000 },
    );
  });

  it('respects the dead band when the guest is not starving', () => {
    fc.assert(
      fc.property(arbVmAndState, ({ v, s, cfg, used, total }) => {
        const d = decideVm(v, s, cfg, NOW);
        const over = v.overrides.memOverPercent ?? cfg.memOverPercent;
        const minFree = v.overrides.minFreeKiB ?? cfg.minFreeKiB;
        const share = ((total - used) / total) * 100;
        const inBand = share >= over - cfg.memMarginPercent && share <= over + cfg.memMarginPercent;
        return !(inBand && total - used > minFree) || d.action === 'none';
      }),
      { numRuns: 2000 },
    );
  });

  it('the peak: never below the current use, never above the old peak or the use, recorded only with the feature on', () => {
    fc.assert(
      fc.property(arbVmAndState, ({ v, s, cfg, used }) => {
        const d = decideVm(v, s, cfg, NOW);
        if (cfg.peakHalfLifeMs === 0 || !d.figures) return d.peak === undefined;
        const old = s.peak ? s.peak.kib * 2 ** (-(NOW - s.peak.at) / cfg.peakHalfLifeMs) : 0;
        return d.peak !== undefined && d.peak.at === NOW && d.peak.kib >= used && d.peak.kib <= Math.max(Math.round(old), used) + 1;
      }),
      { numRuns: 2000 },
    );
  });

  it('a shrink never goes below what the peak needs: peak / (1 − MEM_OVER), at most the original', () => {
    fc.assert(
      fc.property(arbVmAndState, ({ v, s, cfg, current, total }) => {
        const d = decideVm(v, s, cfg, NOW);
        if (d.action !== 'shrink' || cfg.peakHalfLifeMs === 0 || !cfg.peakFloor || !s.peak) return true;
        const over = v.overrides.memOverPercent ?? cfg.memOverPercent;
        const peak = s.peak.kib * 2 ** (-(NOW - s.peak.at) / cfg.peakHalfLifeMs);
        return d.targetKiB >= Math.min(s.originalKiB, peak / (1 - over / 100) + (current - total)) - 1;
      }),
      { numRuns: 2000 },
    );
  });

  it('a starving guest with a recent peak is grown at once to at least what that peak needs (or as far as the original)', () => {
    fc.assert(
      fc.property(arbVmAndState, ({ v, s, cfg, used, current, total }) => {
        const d = decideVm(v, s, cfg, NOW);
        if (!d.starving || d.action !== 'grow' || cfg.peakHalfLifeMs === 0 || !s.peak) return true;
        const over = v.overrides.memOverPercent ?? cfg.memOverPercent;
        const peak = s.peak.kib * 2 ** (-(NOW - s.peak.at) / cfg.peakHalfLifeMs);
        // A peak decayed to the current use or below it asks for nothing the
        // use does not (seed 808386969 found 175,637.97 KiB against a use of
        // 175,638: the grow was half the gap, 2 KiB under peak / (1 − MEM_OVER)).
        if (peak <= used) return true;
        return d.targetKiB >= Math.min(s.originalKiB, peak / (1 - over / 100) + (current - total)) - 1;
      }),
      { numRuns: 2000 },
    );
  });

  it('recordPlan stores the peak a decision carries and keeps the old one when a decision has none', () => {
    const state = reconcile(emptyState(), cluster([vm(1, { usedKiB: GiB }), vm(2)], [host(0, 64 * GiB)]), NOW - 60_000).state;
    state.vms['2'] = { ...state.vms['2']!, peak: { kib: 5, at: 1 } };
    const cfg = config({ peakHalfLifeMs: 3_600_000 });
    const view = cluster([vm(1, { usedKiB: GiB }), vm(2)], [host(0, 64 * GiB)]);
    const next = recordPlan(state, planCycle(view, state, cfg, NOW), NOW);
    expect(next.vms['1']!.peak).toEqual({ kib: GiB, at: NOW });
    expect(next.vms['2']!.peak).toEqual({ kib: 5, at: 1 });
  });

  it('a shrink never leaves the guest starving', () => {
    fc.assert(
      fc.property(arbVmAndState, ({ v, s, cfg, used, current, total }) => {
        const d = decideVm(v, s, cfg, NOW);
        if (d.action !== 'shrink') return true;
        const minFree = v.overrides.minFreeKiB ?? cfg.minFreeKiB;
        return d.targetKiB - (current - total) - used > minFree;
      }),
      { numRuns: 2000 },
    );
  });
});

describe('SHRINK_WARMUP: nothing is taken from a VM before it has been watched that long', () => {
  const warm = config({ shrinkWarmupMs: 5_400_000 });
  const idle = vm(1, { originalKiB: 8 * GiB, currentKiB: 8 * GiB, usedKiB: 1 * GiB });
  it('an idle guest adopted an hour ago is left at its size, the reason says for how long; at 1.5 h it is shrunk', () => {
    const young = decideVm(idle, seen({ originalKiB: 8 * GiB, firstSeenAt: NOW - 3_600_000 }), warm, NOW);
    expect(young.action).toBe('none');
    expect(young.reason).toMatch(/watched for 3600 s only: no shrink within SHRINK_WARMUP 5400 s/);
    const old = decideVm(idle, seen({ originalKiB: 8 * GiB, firstSeenAt: NOW - 5_400_000 }), warm, NOW);
    expect(old.action).toBe('shrink');
    // SHRINK_WARMUP=0: shrunk from the first cycle
    expect(decideVm(idle, seen({ originalKiB: 8 * GiB, firstSeenAt: NOW }), config({ shrinkWarmupMs: 0 }), NOW).action).toBe('shrink');
  });

  it('property: within the warm-up a VM is never shrunk, and a starving one is grown exactly as without it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.double({ min: 0.05, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1.2, noNaN: true }),
        fc.integer({ min: 0, max: 5_399_999 }),
        (gib, currentShare, useShare, age) => {
          const originalKiB = gib * GiB;
          const currentKiB = Math.max(256 * MiB, Math.floor(currentShare * originalKiB));
          const v = vm(1, { originalKiB, currentKiB, usedKiB: Math.min(currentKiB, Math.floor(useShare * currentKiB)) });
          const st = seen({ originalKiB, firstSeenAt: NOW - age });
          const d = decideVm(v, st, warm, NOW);
          expect(d.action).not.toBe('shrink');
          const without = decideVm(v, st, config({ shrinkWarmupMs: 0 }), NOW);
          if (without.action === 'grow') expect(d).toEqual(without);
        },
      ),
    );
  });
});

describe('PEAK_FLOOR_WINDOW: the peak floor only for guests that starved lately', () => {
  const v = vm(1, { originalKiB: 8 * GiB, currentKiB: 8 * GiB, usedKiB: 1 * GiB });
  const st = (lastStrikeAt?: number): ManagedVm => seen({ originalKiB: 8 * GiB, peak: { kib: 4 * GiB, at: NOW - 1000 }, ...(lastStrikeAt !== undefined ? { lastStrikeAt } : {}) });
  const cfgW = config({ peakFloor: true, peakFloorWindowMs: 6 * 3_600_000 });
  it('a guest that never starved is sized for its use of now; one that starved within the window keeps its peak room', () => {
    const never = decideVm(v, st(), cfgW, NOW);
    const lately = decideVm(v, st(NOW - 3_600_000), cfgW, NOW);
    const long = decideVm(v, st(NOW - 7 * 3_600_000), cfgW, NOW);
    expect(never.action).toBe('shrink');
    expect(never.targetKiB).toBeLessThan(2 * GiB);
    expect(lately.targetKiB).toBeGreaterThanOrEqual(4 * GiB / 0.7);
    expect(long.targetKiB).toBe(never.targetKiB);
    // PEAK_FLOOR_WINDOW=0: every guest keeps its peak room
    expect(decideVm(v, st(), config({ peakFloor: true, peakFloorWindowMs: 0 }), NOW).targetKiB).toBe(lately.targetKiB);
  });
});
