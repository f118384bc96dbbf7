import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hostMemory, vmMemory, type VmMemory } from '../../../lib/memory/accounting';

const kib = fc.integer({ min: 0, max: 2 ** 40 });
const balloon = fc
  .record({ maximumKiB: kib, rssKiB: kib, taken: kib })
  .map(({ maximumKiB, rssKiB, taken }) => ({ maximumKiB, rssKiB, currentKiB: Math.max(0, maximumKiB - taken) }));
const overcommit = fc.double({ min: 0, max: 1, noNaN: true });
const vm = balloon.map((b) => ({ running: true, memory: vmMemory(b) }));

describe('vmMemory', () => {
  it('follows the CloudVAMP definitions on a worked example', () => {
    // 4 GiB VM ballooned down to 1 GiB, QEMU holds 1.5 GiB
    expect(vmMemory({ maximumKiB: 4194304, currentKiB: 1048576, rssKiB: 1572864, unusedKiB: 1000, usableKiB: 2000 })).toEqual({
      known: true,
      realKiB: 1048576,
      usedKiB: 1572864,
      maxKiB: 4194304,
      packedKiB: 2621440,
      guest: { unusedKiB: 1000, usableKiB: 2000 },
    });
  });

  it('PACKEDMEMORY is never negative, even with nonsense input', () => {
    fc.assert(
      fc.property(fc.option(kib, { nil: undefined }), fc.option(kib, { nil: undefined }), fc.option(kib, { nil: undefined }), (c, m, r) => {
        expect(vmMemory({ currentKiB: c, maximumKiB: m, rssKiB: r }).packedKiB).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('PACKEDMEMORY is 0 for a VM whose balloon is untouched', () => {
    fc.assert(fc.property(kib, kib, (max, rss) => {
        expect(vmMemory({ currentKiB: max, maximumKiB: max, rssKiB: rss }).packedKiB).toBe(0);
      }));
  });

  it('memory the guest leaves idle is never borrowed: guest stats do not change PACKEDMEMORY', () => {
    fc.assert(
      fc.property(balloon, kib, kib, (b, unused, usable) => {
        expect(vmMemory({ ...b, unusedKiB: unused, usableKiB: usable, availableKiB: b.currentKiB }).packedKiB).toBe(vmMemory(b).packedKiB);
      }),
    );
  });

  it('PACKEDMEMORY = MAXMEMORY − USEDMEMORY, USEDMEMORY ≥ REALMEMORY, and never more than the balloon took', () => {
    fc.assert(
      fc.property(balloon, (b) => {
        const m = vmMemory(b);
        expect(m.packedKiB).toBe(m.maxKiB - m.usedKiB);
        expect(m.usedKiB).toBeGreaterThanOrEqual(m.realKiB);
        expect(m.packedKiB).toBeLessThanOrEqual(b.maximumKiB - b.currentKiB);
      }),
    );
  });

  it('is unknown without balloon size and maximum, and then borrows nothing', () => {
    expect(vmMemory({ rssKiB: 5 })).toMatchObject({ known: false, packedKiB: 0 });
  });
});

describe('hostMemory', () => {
  it('O = 0 gives the physical total', () => {
    fc.assert(fc.property(kib, fc.array(vm), (physicalKiB, vms) => {
        expect(hostMemory({ physicalKiB, vms, overcommit: 0 }).totalKiB).toBe(physicalKiB);
      }));
  });

  it('TOTALMEMORY is monotone in O', () => {
    fc.assert(
      fc.property(kib, fc.array(vm), overcommit, overcommit, (physicalKiB, vms, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(hostMemory({ physicalKiB, vms, overcommit: lo }).totalKiB).toBeLessThanOrEqual(hostMemory({ physicalKiB, vms, overcommit: hi }).totalKiB);
      }),
    );
  });

  it('TOTALMEMORY is monotone in borrowed memory (one more ballooned VM never lowers it)', () => {
    fc.assert(
      fc.property(kib, fc.array(vm), vm, overcommit, (physicalKiB, vms, extra, o) => {
        const before = hostMemory({ physicalKiB, vms, overcommit: o });
        const after = hostMemory({ physicalKiB, vms: [...vms, extra], overcommit: o });
        expect(after.borrowedKiB).toBeGreaterThanOrEqual(before.borrowedKiB);
        expect(after.totalKiB).toBeGreaterThanOrEqual(before.totalKiB);
      }),
    );
  });

  it('borrowed = Σ PACKEDMEMORY of running VMs only; TOTALMEMORY = physical + O × borrowed', () => {
    const a: VmMemory = vmMemory({ maximumKiB: 4000, currentKiB: 1000, rssKiB: 500 }); // packed 3000
    const b: VmMemory = vmMemory({ maximumKiB: 2000, currentKiB: 1000, rssKiB: 1500 }); // packed 500
    const stopped: VmMemory = vmMemory({ maximumKiB: 9000, currentKiB: 1000 });
    const vms = [
      { running: true, memory: a },
      { running: true, memory: b },
      { running: false, memory: stopped },
    ];
    expect(hostMemory({ physicalKiB: 100000, vms, overcommit: 1 })).toEqual({ borrowedKiB: 3500, totalKiB: 103500 });
    expect(hostMemory({ physicalKiB: 100000, vms, overcommit: 0.5 })).toEqual({ borrowedKiB: 3500, totalKiB: 101750 });
  });

  it('OVERCOMMIT_MAX_RATIO R: TOTALMEMORY = min(physical + O × borrowed, floor(R × physical)), the borrowed figure unchanged', () => {
    const ratio = fc.oneof(fc.integer({ min: 1, max: 20 }), fc.double({ min: 1, max: 20, noNaN: true }).map((r) => Number(r.toFixed(3))));
    fc.assert(
      fc.property(kib, fc.array(vm), overcommit, ratio, (physicalKiB, vms, o, r) => {
        const open = hostMemory({ physicalKiB, vms, overcommit: o });
        const capped = hostMemory({ physicalKiB, vms, overcommit: o, maxRatio: r });
        expect(capped.borrowedKiB).toBe(open.borrowedKiB);
        expect(capped.totalKiB).toBe(Math.min(open.totalKiB, Math.floor(r * Math.floor(physicalKiB) + 1e-6)));
        expect(capped.totalKiB).toBeGreaterThanOrEqual(Math.floor(physicalKiB));
      }),
    );
  });

  it('the ceiling binds only past R × physical; 0 means none', () => {
    const big = { running: true, memory: vmMemory({ maximumKiB: 1_000_000, currentKiB: 100_000 }) }; // lends 900,000
    expect(hostMemory({ physicalKiB: 100_000, vms: [big], overcommit: 1, maxRatio: 4 })).toEqual({ borrowedKiB: 900_000, totalKiB: 400_000 });
    expect(hostMemory({ physicalKiB: 100_000, vms: [big], overcommit: 1, maxRatio: 0 })).toEqual({ borrowedKiB: 900_000, totalKiB: 1_000_000 });
    expect(hostMemory({ physicalKiB: 100_000, vms: [big], overcommit: 0.2, maxRatio: 4 })).toEqual({ borrowedKiB: 900_000, totalKiB: 280_000 });
    expect(hostMemory({ physicalKiB: 100_000, vms: [big], overcommit: 1, maxRatio: 1.5 }).totalKiB).toBe(150_000);
    expect(() => hostMemory({ physicalKiB: 1, vms: [], overcommit: 1, maxRatio: 0.5 })).toThrow(/neither 0 \(none\) nor at least 1/);
  });

  it('refuses an O outside [0, 1]', () => {
    expect(() => hostMemory({ physicalKiB: 1, vms: [], overcommit: 1.5 })).toThrow(/outside/);
    expect(() => hostMemory({ physicalKiB: 1, vms: [], overcommit: Number.NaN })).toThrow(/outside/);
  });
});

describe('exact KiB arithmetic (no double rounding)', () => {
  const packedVm = (packedKiB: number) => ({ running: true, memory: { known: true, realKiB: 0, usedKiB: 0, maxKiB: packedKiB, packedKiB, guest: {} } });
  const MAX = Number.MAX_SAFE_INTEGER;

  it('TOTALMEMORY is physical + floor(O × borrowed) exactly, up to 2^53 − 1', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: BigInt(MAX) }),
        fc.array(fc.bigInt({ min: 0n, max: 2n ** 50n }), { maxLength: 4 }),
        fc.integer({ min: 0, max: 100 }),
        (physical, packed, percent) => {
          const borrowed = packed.reduce((a, b) => a + b, 0n);
          const total = physical + (BigInt(percent) * borrowed) / 100n;
          const run = () => hostMemory({ physicalKiB: Number(physical), vms: packed.map((p) => packedVm(Number(p))), overcommit: percent / 100 });
          if (total > BigInt(MAX)) expect(run).toThrow(/beyond 2\^53/);
          else expect(run()).toEqual({ borrowedKiB: Number(borrowed), totalKiB: Number(total) });
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('near 2^53: the last exact figure is printed, one more is an error, not a rounded number', () => {
    expect(hostMemory({ physicalKiB: MAX - 1, vms: [packedVm(1)], overcommit: 1 }).totalKiB).toBe(MAX);
    expect(() => hostMemory({ physicalKiB: MAX, vms: [packedVm(1)], overcommit: 1 })).toThrow(/TOTALMEMORY.*9007199254740992 KiB is beyond 2\^53/);
    expect(() => hostMemory({ physicalKiB: 2 ** 53, vms: [packedVm(1)], overcommit: 1 })).toThrow(/2\^53/);
  });

  it('O is the decimal the operator wrote: 0.7 of 10 KiB is 7, not 6', () => {
    expect(hostMemory({ physicalKiB: 0, vms: [packedVm(10)], overcommit: 0.7 }).totalKiB).toBe(7);
    expect(hostMemory({ physicalKiB: 0, vms: [packedVm(1e15)], overcommit: 0.3 }).totalKiB).toBe(3e14);
    expect(hostMemory({ physicalKiB: 0, vms: [packedVm(1e9)], overcommit: 1e-7 }).totalKiB).toBe(100);
  });

  it('a balloon figure beyond 2^53 is unknown, not a rounded size', () => {
    expect(vmMemory({ currentKiB: 2 ** 60, maximumKiB: 2 ** 60 }).known).toBe(false);
  });
});

describe("borrowed memory against the size oned believes (#9 defect 4: resize offered the freed memory twice)", () => {
  // A host as oned and the probe see it. Each VM: template MEMORY `size`,
  // libvirt maximum `max` ≥ size (MEMORY_MAX), QEMU RSS below the balloon
  // (an idle guest), and a shrink by `d` applied in one of the two modes.
  const vmArb = fc
    .record({ size: fc.integer({ min: 1, max: 2 ** 24 }), headroom: fc.integer({ min: 0, max: 2 ** 24 }), shrinkShare: fc.double({ min: 0, max: 1, noNaN: true }), rssShare: fc.double({ min: 0, max: 1, noNaN: true }), mode: fc.constantFrom('memory' as const, 'resize' as const) })
    .map(({ size, headroom, shrinkShare, rssShare, mode }) => {
      const d = Math.floor(size * shrinkShare);
      const actual = size - d;
      return { size, max: size + headroom, d, actual, rss: Math.floor(actual * rssShare), mode };
    });

  /** oned's free memory for the scheduler: TOTAL_MEM (the probe's) − MEM_USAGE (Σ MEMORY oned holds). */
  const onedFree = (physical: number, o: number, vms: Array<{ running: boolean; memory: VmMemory; onedMemory: number }>) =>
    hostMemory({ physicalKiB: physical, vms, overcommit: o }).totalKiB - vms.reduce((s, v) => s + v.onedMemory, 0);

  it('TOTAL_MEM − MEM_USAGE grows by exactly what the balloon took, in APPLY_MODE=memory and resize alike (O = 1)', () => {
    fc.assert(
      fc.property(fc.array(vmArb, { minLength: 1, maxLength: 20 }), (vms) => {
        const physical = 2 ** 40;
        // before: every VM at its deployed size, which deploy recorded
        const before = vms.map((v) => ({ running: true, memory: vmMemory({ maximumKiB: v.max, currentKiB: v.size, rssKiB: Math.min(v.rss, v.size) }, v.size), onedMemory: v.size }));
        // after: memory mode leaves oned's MEMORY (and the record) alone; resize changes both (oned, and the resize action's record)
        const after = vms.map((v) => {
          const onedMemory = v.mode === 'resize' ? v.actual : v.size;
          return { running: true, memory: vmMemory({ maximumKiB: v.max, currentKiB: v.actual, rssKiB: v.rss }, onedMemory), onedMemory };
        });
        const took = vms.reduce((s, v) => s + v.d, 0);
        expect(onedFree(physical, 1, after) - onedFree(physical, 1, before)).toBe(took);
      }),
    );
  });

  it('the old definition (max − balloon) offers a resize twice: the defect this fixes', () => {
    const v = { size: 512 * 1024, max: 1024 * 1024, actual: 256 * 1024 };
    const oldPacked = vmMemory({ maximumKiB: v.max, currentKiB: v.actual, rssKiB: 0 }).packedKiB;
    // resize 512 → 256 MiB with MEMORY_MAX 1 GiB: oned frees 256 MiB itself and the probe added 768 MiB more
    expect(oldPacked + (v.size - v.actual)).toBe(1024 * 1024);
    expect(vmMemory({ maximumKiB: v.max, currentKiB: v.actual, rssKiB: 0 }, v.actual).packedKiB + (v.size - v.actual)).toBe(256 * 1024);
  });

  it('a record never raises the figure above max − balloon, and a VM grown past oned\'s size borrows nothing', () => {
    fc.assert(
      fc.property(balloon, kib, (b, oned) => {
        expect(vmMemory(b, oned).packedKiB).toBeLessThanOrEqual(vmMemory(b).packedKiB);
        expect(vmMemory(b, oned).packedKiB).toBeGreaterThanOrEqual(0);
        if (oned <= b.currentKiB) expect(vmMemory(b, oned).packedKiB).toBe(0);
      }),
    );
  });
});
