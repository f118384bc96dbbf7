// #13 part 2, elasticity side: a guest's own swap-in / major-fault rate
// (GUEST_SWAP_IN, GUEST_MAJOR_FAULTS, cumulative) vetoes a shrink while rising
// and counts as starvation before free memory reaches MIN_FREE. Pure, `now`
// injected, property-tested; absent counters are no signal.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { recordPlan } from '../../../lib/elasticity/apply-plan';
import { guestPressure } from '../../../lib/elasticity/guest-pressure';
import { planCycle } from '../../../lib/elasticity/plan';
import { decideVm } from '../../../lib/elasticity/vm-rule';
import type { GuestCounters } from '../../../lib/elasticity/ports';
import { emptyState, parseState, reconcile, serializeState, type ManagedVm } from '../../../lib/elasticity/state';
import { cluster, config, GiB, host, MiB, vm } from './builders';

const NOW = 1_700_000_000_000;
const cfg = config();
const counters = fc.record({ swapInKiB: fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }), majorFaults: fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }) });
const at = fc.integer({ min: NOW - 3_600_000, max: NOW });

describe('guestPressure (pure)', () => {
  it('absent counters, or no newer sample, are no signal', () => {
    fc.assert(
      fc.property(fc.option(counters, { nil: undefined }), fc.option(counters, { nil: undefined }), at, at, (a, b, ta, tb) => {
        const before: GuestCounters | undefined = a && { ...a, at: ta };
        const now: GuestCounters | undefined = b && { ...b, at: tb };
        const p = guestPressure(before, now, cfg);
        const comparable = before && now && tb > ta && ((a!.swapInKiB !== undefined && b!.swapInKiB !== undefined) || (a!.majorFaults !== undefined && b!.majorFaults !== undefined));
        if (!comparable) expect(p).toMatchObject({ rising: false, starving: false });
      }),
    );
  });

  it('counters that did not go up (or went down: a reboot) are no signal', () => {
    fc.assert(
      fc.property(counters, counters, fc.integer({ min: 1, max: 3_600_000 }), (a, b, dt) => {
        const down = { swapInKiB: a.swapInKiB === undefined || b.swapInKiB === undefined ? b.swapInKiB : Math.min(a.swapInKiB, b.swapInKiB), majorFaults: a.majorFaults === undefined || b.majorFaults === undefined ? b.majorFaults : Math.min(a.majorFaults, b.majorFaults) };
        const p = guestPressure({ ...a, at: NOW - dt }, { ...down, at: NOW }, cfg);
        const upFaults = a.majorFaults !== undefined && down.majorFaults !== undefined && down.majorFaults > a.majorFaults;
        const upSwap = a.swapInKiB !== undefined && down.swapInKiB !== undefined && down.swapInKiB > a.swapInKiB;
        if (!upFaults && !upSwap) expect(p).toMatchObject({ rising: false, starving: false });
      }),
    );
  });

  it('any swap-in is rising; a rate at the threshold is starving; more of it never less so', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 30 }), fc.integer({ min: 1, max: 2 ** 20 }), fc.integer({ min: 0, max: 2 ** 20 }), fc.integer({ min: 1_000, max: 600_000 }), (base, delta, more, dt) => {
        const before = { swapInKiB: base, at: NOW - dt };
        const p = guestPressure(before, { swapInKiB: base + delta, at: NOW }, cfg);
        expect(p.rising).toBe(true);
        expect(p.starving).toBe(delta / (dt / 1000) >= cfg.swapInStarvingKiBps);
        if (p.starving) expect(guestPressure(before, { swapInKiB: base + delta + more, at: NOW }, cfg).starving).toBe(true);
      }),
    );
  });

  it('major faults: rising above MAJOR_FAULTS_RISING, starving at MAJOR_FAULTS_STARVING', () => {
    const p = (perS: number) => guestPressure({ majorFaults: 1000, at: NOW - 10_000 }, { majorFaults: 1000 + perS * 10, at: NOW }, cfg);
    expect(p(5)).toMatchObject({ rising: false, starving: false });
    expect(p(20)).toMatchObject({ rising: true, starving: false, why: 'major faults 20/s' });
    expect(p(500)).toMatchObject({ rising: true, starving: true });
  });
});

describe('decideVm with the guest pressure counters', () => {
  // A 4 GiB guest ballooned to 2 GiB: the figures' free share decides, the counters may overrule.
  const guest = (usedKiB: number, now: GuestCounters | undefined) => vm(1, { originalKiB: 4 * GiB, currentKiB: 2 * GiB, usedKiB, ...(now ? { counters: now } : {}) });
  const seen = (before: GuestCounters | undefined): ManagedVm => ({ originalKiB: 4 * GiB, firstSeenAt: 0, strikes: 0, ...(before ? { counters: before } : {}) });

  it('never shrinks a guest whose swap-in or major faults are rising, whatever its free share', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 * GiB }), fc.integer({ min: 1, max: 10 * MiB }), fc.integer({ min: 11, max: 10_000 }), fc.boolean(), (used, swapped, faultsPerS, bySwap) => {
        const before = { swapInKiB: 1000, majorFaults: 5000, at: NOW - 60_000 };
        const now = bySwap ? { swapInKiB: 1000 + swapped, majorFaults: 5000, at: NOW } : { swapInKiB: 1000, majorFaults: 5000 + faultsPerS * 60, at: NOW };
        expect(decideVm(guest(used, now), seen(before), cfg, NOW).action).not.toBe('shrink');
      }),
      { numRuns: 500 },
    );
  });

  it('counts a swap-in rate at SWAP_IN_STARVING as starvation although free is above MIN_FREE', () => {
    const idle = 300 * MiB; // 85 % free: a shrink without the counters
    const before = { swapInKiB: 0, at: NOW - 60_000 };
    expect(decideVm(guest(idle, undefined), seen(undefined), cfg, NOW).action).toBe('shrink');
    const d = decideVm(guest(idle, { swapInKiB: 60 * cfg.swapInStarvingKiBps, at: NOW }), seen(before), cfg, NOW);
    expect(d).toMatchObject({ action: 'grow', starving: true });
    expect(d.reason).toMatch(/^starving \(swap-in 1024 KiB\/s, major faults|^starving \(swap-in 1024 KiB\/s\)/);
  });

  it('absent keys change nothing: the same decision as without counters', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 * GiB }), (used) => {
        const plain = decideVm(guest(used, undefined), seen(undefined), cfg, NOW);
        const withOld = decideVm(guest(used, undefined), seen({ swapInKiB: 5, at: NOW - 60_000 }), cfg, NOW);
        expect({ ...withOld, counters: undefined }).toEqual({ ...plain, counters: undefined });
      }),
    );
  });

  it('the counters seen are kept in the state for next cycle, and survive the state file', () => {
    const now = { swapInKiB: 77, majorFaults: 9, at: NOW };
    const view = cluster([guest(GiB, now)], [host(0, 64 * GiB)]);
    const state = reconcile(emptyState(), { ...view, vms: view.vms.map((v) => ({ ...v, recordedOriginalKiB: 4 * GiB })) }, NOW).state;
    const next = recordPlan(state, planCycle(view, state, cfg, NOW), NOW);
    expect(parseState(serializeState(next)).vms['1']!.counters).toEqual(now);
    // a malformed sample is dropped, not a refused file
    expect(parseState(serializeState(next).replace('"majorFaults": 9', '"majorFaults": "x"')).vms['1']!.counters).toBeUndefined();
  });
});
