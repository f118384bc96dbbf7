import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decideHostReserve,
  hostRegrowthKiB,
  operatorBase,
  planHostReserves,
  resolveReserved,
  vmRegrowthKiB,
} from '../../../lib/elasticity/host-reserve';
import type { HostReserveKeys, VmView } from '../../../lib/elasticity/ports';
import { emptyState, type ElasticityState } from '../../../lib/elasticity/state';
import { cluster, config, GiB, host, MiB, vm } from './builders';

const NOW = 1_000_000_000;
// these tests are about the peak-based reserve; 'share' has its own below
const cfg = config({ hostReserveMode: 'peak' });
/** A state in which each VM has an original and a peak recorded at NOW. */
function stateWith(entries: { id: number; originalKiB: number; peakKiB?: number }[]): ElasticityState {
  const s = emptyState();
  for (const e of entries) s.vms[String(e.id)] = { originalKiB: e.originalKiB, firstSeenAt: 0, strikes: 0, ...(e.peakKiB !== undefined ? { peak: { kib: e.peakKiB, at: NOW } } : {}) };
  return s;
}
const keys = (reserve: HostReserveKeys) => ({ reserve });

describe('vmRegrowthKiB', () => {
  // sizeForUse(p) = max(p / 0.7, p + 256 MiB) with the defaults
  it.each([
    ['a VM at its original size takes nothing back', 4 * GiB, 4 * GiB, 3 * GiB, 0],
    ['no peak recorded: nothing predicted', 1 * GiB, 4 * GiB, undefined, 0],
    ['a peak of 1.4 GiB needs 2 GiB; at 1 GiB it takes 1 GiB back', 1 * GiB, 4 * GiB, Math.floor(0.7 * 2 * GiB), 1 * GiB],
    ['never more than the original', 1 * GiB, 2 * GiB, 1.9 * GiB, 1 * GiB],
    ['a peak the current size already covers: nothing', 2 * GiB, 4 * GiB, 1 * GiB, 0],
  ])('%s', (_, currentKiB, originalKiB, peakKiB, expected) => {
    const v = vm(1, { currentKiB, originalKiB });
    const s = stateWith([{ id: 1, originalKiB, ...(peakKiB !== undefined ? { peakKiB } : {}) }]);
    expect(vmRegrowthKiB(v, s.vms['1'], cfg, NOW)).toBe(expected);
  });

  it('the peak counts as the policy remembers it: after one PEAK_HALF_LIFE, half of it', () => {
    const v = vm(1, { currentKiB: 1 * GiB, originalKiB: 8 * GiB });
    const s = stateWith([{ id: 1, originalKiB: 8 * GiB, peakKiB: Math.floor(0.7 * 8 * GiB) }]);
    expect(vmRegrowthKiB(v, s.vms['1'], cfg, NOW)).toBe(7 * GiB);
    expect(vmRegrowthKiB(v, s.vms['1'], cfg, NOW + cfg.peakHalfLifeMs)).toBe(3 * GiB);
  });

  it('a VM that is not running takes nothing back', () => {
    const s = stateWith([{ id: 1, originalKiB: 4 * GiB, peakKiB: 3 * GiB }]);
    expect(vmRegrowthKiB(vm(1, { currentKiB: 1 * GiB, originalKiB: 4 * GiB, running: false }), s.vms['1'], cfg, NOW)).toBe(0);
  });
});

describe('operator base and RESERVED_MEM values', () => {
  it.each([
    ['', 0],
    [undefined, 0],
    ['1048576', 1048576],
    ['-2097152', -2097152],
    ['10%', 6710886],
    ['lots', undefined],
  ])('resolveReserved(%j) on 64 GiB', (text, expected) => expect(resolveReserved(text, 64 * GiB)).toBe(expected));

  it.each<[string, HostReserveKeys, { text: string; adopted: boolean }]>([
    ['nothing set: no base', {}, { text: '', adopted: false }],
    ['the operator set RESERVED_MEM before cloudvamp wrote any: adopted', { reservedMem: '2097152' }, { text: '2097152', adopted: true }],
    ['cloudvamp wrote RESERVED_MEM: the recorded base', { reservedMem: '5000000', publishedReservedMem: '5000000', baseReservedMem: '10%' }, { text: '10%', adopted: false }],
    ['the operator changed RESERVED_MEM since: the new value is the base', { reservedMem: '3145728', publishedReservedMem: '5000000', baseReservedMem: '10%' }, { text: '3145728', adopted: true }],
  ])('%s', (_, reserve, expected) => expect(operatorBase(host(0, 64 * GiB, keys(reserve)))).toEqual(expected));
});

describe('decideHostReserve', () => {
  const onHost = [vm(1, { currentKiB: 1 * GiB, originalKiB: 4 * GiB }), vm(2, { currentKiB: 1 * GiB, originalKiB: 4 * GiB })];
  const s = stateWith([
    { id: 1, originalKiB: 4 * GiB, peakKiB: Math.floor(0.7 * 3 * GiB) }, // needs 3 GiB: 2 GiB back
    { id: 2, originalKiB: 4 * GiB, peakKiB: 0.5 * GiB }, // idle: covered
  ]);

  it('publishes base + Σ regrowth, keeping the operator base in CLOUDVAMP_BASE_RESERVED_MEM', () => {
    const d = decideHostReserve(host(0, 64 * GiB, keys({ reservedMem: '1048576' })), onHost, s, cfg, NOW);
    expect(d.reserveKiB).toBe(2 * GiB);
    expect(d.template).toEqual({ RESERVED_MEM: 3 * GiB, CLOUDVAMP_RESERVED_MEM: 3 * GiB, CLOUDVAMP_BASE_RESERVED_MEM: '1048576' });
  });

  it('writes nothing while the change is within HOST_RESERVE_THRESHOLD', () => {
    const h = host(0, 64 * GiB, keys({ reservedMem: String(3 * GiB - 100 * MiB), publishedReservedMem: String(3 * GiB - 100 * MiB), baseReservedMem: '1048576' }));
    const d = decideHostReserve(h, onHost, s, cfg, NOW);
    expect(d.targetKiB).toBe(3 * GiB);
    expect(d.template).toBeUndefined();
  });

  it('caps the reserve at HOST_RESERVE_MAX % of the physical memory', () => {
    const d = decideHostReserve(host(0, 64 * GiB), onHost, s, config({ hostReserveMode: 'peak', hostReserveMaxPercent: 1 }), NOW);
    expect(d.reserveKiB).toBe(Math.floor((0.01 * 64 * GiB) / MiB) * MiB);
    expect(d.predictedKiB).toBe(2 * GiB);
  });

  it('HOST_RESERVE_MODE=none gives back the operator value once, and leaves an operator value alone', () => {
    const none = config({ hostReserveMode: 'none' });
    const ours = host(0, 64 * GiB, keys({ reservedMem: '5000000', publishedReservedMem: '5000000', baseReservedMem: '1048576' }));
    expect(decideHostReserve(ours, onHost, s, none, NOW).template).toEqual({ RESERVED_MEM: '1048576', CLOUDVAMP_RESERVED_MEM: '1048576', CLOUDVAMP_BASE_RESERVED_MEM: '1048576' });
    const restored = host(0, 64 * GiB, keys({ reservedMem: '1048576', publishedReservedMem: '1048576', baseReservedMem: '1048576' }));
    expect(decideHostReserve(restored, onHost, s, none, NOW).template).toBeUndefined();
    expect(decideHostReserve(host(0, 64 * GiB, keys({ reservedMem: '7' })), onHost, s, none, NOW).template).toBeUndefined();
  });

  it('leaves a host with an unreadable RESERVED_MEM alone and says how to fix it', () => {
    const d = decideHostReserve(host(0, 64 * GiB, keys({ reservedMem: 'lots' })), onHost, s, cfg, NOW);
    expect(d.template).toBeUndefined();
    expect(d.reason).toMatch(/fix the host template/);
  });

  it('plans per host: a host with no ballooned VM gets no reserve', () => {
    const view = cluster([...onHost, vm(3, { hostId: 1, currentKiB: 4 * GiB, originalKiB: 4 * GiB })], [host(0, 64 * GiB), host(1, 64 * GiB)]);
    const plans = planHostReserves(view, { ...s, vms: { ...s.vms, '3': { originalKiB: 4 * GiB, firstSeenAt: 0, strikes: 0, peak: { kib: 3 * GiB, at: NOW } } } }, cfg, NOW);
    expect(plans.map((p) => [p.hostId, p.reserveKiB])).toEqual([
      [0, 2 * GiB],
      [1, 0],
    ]);
    expect(plans[1]!.template).toBeUndefined();
  });
});

describe('properties', () => {
  const arbVm = fc.record({
    originalMiB: fc.integer({ min: 256, max: 16384 }),
    currentShare: fc.double({ min: 0.05, max: 1.2, noNaN: true }),
    peakShare: fc.option(fc.double({ min: 0, max: 1.2, noNaN: true }), { nil: undefined }),
    running: fc.boolean(),
  });
  const arbHost = fc.record({
    vms: fc.array(arbVm, { maxLength: 12 }),
    physicalGiB: fc.integer({ min: 1, max: 512 }),
    maxPercent: fc.integer({ min: 0, max: 100 }),
  });
  const build = (h: { vms: { originalMiB: number; currentShare: number; peakShare: number | undefined; running: boolean }[] }) => {
    const vms: VmView[] = [];
    const entries: { id: number; originalKiB: number; peakKiB?: number }[] = [];
    h.vms.forEach((v, id) => {
      const originalKiB = v.originalMiB * MiB;
      vms.push(vm(id, { originalKiB, currentKiB: Math.round(v.currentShare * originalKiB), running: v.running }));
      entries.push({ id, originalKiB, ...(v.peakShare !== undefined ? { peakKiB: v.peakShare * originalKiB } : {}) });
    });
    return { vms, state: stateWith(entries) };
  };

  it('the reserve is never negative and never above the host capacity or the cap', () => {
    fc.assert(
      fc.property(arbHost, (h) => {
        const { vms, state } = build(h);
        const physical = h.physicalGiB * GiB;
        const { reserveKiB } = hostRegrowthKiB(vms, state, config({ hostReserveMode: 'peak', hostReserveMaxPercent: h.maxPercent }), NOW, physical);
        expect(reserveKiB).toBeGreaterThanOrEqual(0);
        expect(reserveKiB).toBeLessThanOrEqual(physical);
        expect(reserveKiB).toBeLessThanOrEqual((h.maxPercent / 100) * physical);
      }),
    );
  });

  it('zero for a host with no ballooned VM', () => {
    fc.assert(
      fc.property(arbHost, (h) => {
        const { vms, state } = build({ vms: h.vms.map((v) => ({ ...v, currentShare: Math.max(1, v.currentShare) })) });
        expect(hostRegrowthKiB(vms, state, cfg, NOW, h.physicalGiB * GiB).reserveKiB).toBe(0);
      }),
    );
  });

  it('monotone in the predicted regrowth: a higher peak never lowers the reserve', () => {
    fc.assert(
      fc.property(arbHost, fc.nat(), fc.double({ min: 0, max: 0.5, noNaN: true }), (h, pick, more) => {
        fc.pre(h.vms.length > 0);
        const i = pick % h.vms.length;
        const before = build(h);
        const bumped = h.vms.map((v, j) => (j === i ? { ...v, peakShare: (v.peakShare ?? 0) + more } : v));
        const after = build({ vms: bumped });
        const c = config({ hostReserveMode: 'peak', hostReserveMaxPercent: h.maxPercent });
        const physical = h.physicalGiB * GiB;
        expect(hostRegrowthKiB(after.vms, after.state, c, NOW, physical).reserveKiB).toBeGreaterThanOrEqual(
          hostRegrowthKiB(before.vms, before.state, c, NOW, physical).reserveKiB,
        );
      }),
    );
  });
});

describe('config', () => {
  it('HOST_RESERVE_MODE, HOST_RESERVE_MAX, HOST_RESERVE_THRESHOLD parse and validate', async () => {
    const { parseConfig } = await import('../../../lib/elasticity/config');
    expect(parseConfig('HOST_RESERVE_MODE=none\nHOST_RESERVE_MAX=10\nHOST_RESERVE_THRESHOLD=65536\n').config).toMatchObject({
      hostReserveMode: 'none',
      hostReserveMaxPercent: 10,
      hostReserveThresholdKiB: 65536,
    });
    expect(parseConfig('HOST_RESERVE_MODE=always\nHOST_RESERVE_MAX=150\n').errors.map((e) => e.key)).toEqual(['HOST_RESERVE_MODE', 'HOST_RESERVE_MAX']);
    expect(parseConfig('HOST_RESERVE_MODE=peak\nPEAK_HALF_LIFE=0\n').warnings.map((w) => w.key)).toContain('HOST_RESERVE_MODE');
    expect(parseConfig('').config).toMatchObject({
      hostReserveMode: 'swing',
      hostReserveSwingFactor: 3,
      hostReserveSharePercent: 30,
      hostReserveMaxPercent: 30,
      shrinkWarmupMs: 5_400_000,
    });
    expect(parseConfig('HOST_RESERVE_SWING=1.5\n').config?.hostReserveSwingFactor).toBe(1.5);
    expect(parseConfig('HOST_RESERVE_SWING=-1\n').errors.map((e) => e.key)).toEqual(['HOST_RESERVE_SWING']);
    expect(parseConfig('PEAK_HALF_LIFE=0\n').warnings.map((w) => w.message)).toContainEqual(expect.stringMatching(/swing .* is HOST_RESERVE_MODE=share/));
    expect(parseConfig('SHRINK_WARMUP=600\n').config).toMatchObject({ shrinkWarmupMs: 600_000 });
    expect(parseConfig('SHRINK_WARMUP=-1\n').errors.map((e) => e.key)).toEqual(['SHRINK_WARMUP']);
    expect(parseConfig('HOST_RESERVE_MODE=joint\nHOST_RESERVE_BURST=30\n').config).toMatchObject({ hostReserveMode: 'joint', hostReserveBurstPercent: 30 });
    expect(parseConfig('HOST_RESERVE_BURST=-1\n').errors.map((e) => e.key)).toEqual(['HOST_RESERVE_BURST']);
    expect(parseConfig('HOST_RESERVE_MODE=joint\nPEAK_HALF_LIFE=0\n').warnings.map((w) => w.key)).toContain('HOST_RESERVE_MODE');
    expect(parseConfig('HOST_RESERVE_SHARE=40\n').config?.hostReserveSharePercent).toBe(40);
    expect(parseConfig('HOST_RESERVE_SHARE=140\n').errors.map((e) => e.key)).toEqual(['HOST_RESERVE_SHARE']);
  });
});

describe('HOST_RESERVE_MODE=joint: the peaks\' regrowth plus HOST_RESERVE_BURST % of what the peaks need', () => {
  const joint = config({ hostReserveMode: 'joint', hostReserveBurstPercent: 50, hostReserveMaxPercent: 100 });
  // sizeForUse(p) = max(p / 0.7, p + 256 MiB) with the defaults
  it('a host of idle guests offers most of what they lent; one of busy guests little', () => {
    const idle = [vm(1, { originalKiB: 8 * GiB, currentKiB: 1 * GiB }), vm(2, { originalKiB: 8 * GiB, currentKiB: 1 * GiB })];
    const s = stateWith([
      { id: 1, originalKiB: 8 * GiB, peakKiB: 0.7 * GiB },
      { id: 2, originalKiB: 8 * GiB, peakKiB: 0.7 * GiB },
    ]);
    // peaks need 1 GiB each, already there: no regrowth; burst room 50 % × 2 GiB
    expect(hostRegrowthKiB(idle, s, joint, NOW, 64 * GiB).reserveKiB).toBe(1 * GiB);
    const busy = stateWith([
      { id: 1, originalKiB: 8 * GiB, peakKiB: 0.7 * 6 * GiB },
      { id: 2, originalKiB: 8 * GiB, peakKiB: 0.7 * 6 * GiB },
    ]);
    // each peak needs 6 GiB: 5 GiB regrowth each, plus 50 % × 12 GiB
    expect(hostRegrowthKiB(idle, busy, joint, NOW, 64 * GiB).reserveKiB).toBe(16 * GiB);
  });

  it('a VM with no peak yet counts at its current size; a stopped one not at all', () => {
    const fresh = vm(1, { originalKiB: 8 * GiB, currentKiB: 8 * GiB });
    expect(hostRegrowthKiB([fresh], emptyState(), joint, NOW, 64 * GiB).reserveKiB).toBe(4 * GiB);
    expect(hostRegrowthKiB([{ ...fresh, running: false }], emptyState(), joint, NOW, 64 * GiB).reserveKiB).toBe(0);
  });

  it('property: never below the peaks\' own regrowth, grows with HOST_RESERVE_BURST, never above the cap', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ originalMiB: fc.integer({ min: 256, max: 16384 }), currentPercent: fc.integer({ min: 5, max: 100 }), peakPercent: fc.integer({ min: 0, max: 100 }) }), { maxLength: 15 }),
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 100 }),
        (entries, burst, maxPercent) => {
          const views = entries.map((e, i) => vm(i + 1, { originalKiB: e.originalMiB * MiB, currentKiB: Math.round((e.originalMiB * MiB * e.currentPercent) / 100) }));
          const s = stateWith(entries.map((e, i) => ({ id: i + 1, originalKiB: e.originalMiB * MiB, peakKiB: Math.round((e.originalMiB * MiB * e.peakPercent) / 100) })));
          const physical = 256 * GiB;
          const at = (b: number, m = 100) => hostRegrowthKiB(views, s, config({ hostReserveMode: 'joint', hostReserveBurstPercent: b, hostReserveMaxPercent: m }), NOW, physical);
          const peakOnly = hostRegrowthKiB(views, s, config({ hostReserveMode: 'peak', hostReserveMaxPercent: 100 }), NOW, physical);
          expect(at(burst).predictedKiB).toBeGreaterThanOrEqual(peakOnly.predictedKiB - 1);
          expect(at(burst + 10).predictedKiB).toBeGreaterThanOrEqual(at(burst).predictedKiB);
          expect(at(burst, maxPercent).reserveKiB).toBeLessThanOrEqual((maxPercent / 100) * physical);
        },
      ),
    );
  });
});

describe("HOST_RESERVE_MODE=share (the previous default): a fixed part of what each VM lent", () => {
  const share = config({ hostReserveMode: 'share', hostReserveSharePercent: 25 });

  it('reserves HOST_RESERVE_SHARE % of original − current, with or without a peak', () => {
    expect(vmRegrowthKiB(vm(1, { originalKiB: 4 * GiB, currentKiB: 2 * GiB }), undefined, share, NOW)).toBe(0.25 * 2 * GiB);
    expect(vmRegrowthKiB(vm(1, { originalKiB: 4 * GiB, currentKiB: 4 * GiB }), undefined, share, NOW)).toBe(0);
    expect(vmRegrowthKiB(vm(1, { originalKiB: 4 * GiB, currentKiB: 2 * GiB, running: false }), undefined, share, NOW)).toBe(0);
  });

  it('the scheduler then sees physical + (1 − share) × borrowed: property', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ originalMiB: fc.integer({ min: 256, max: 16384 }), lentPercent: fc.integer({ min: 0, max: 90 }) }), { maxLength: 20 }),
        fc.integer({ min: 0, max: 100 }),
        (vms, sharePercent) => {
          const c = config({ hostReserveMode: 'share', hostReserveSharePercent: sharePercent, hostReserveMaxPercent: 100 });
          const views = vms.map((v, i) => {
            const originalKiB = v.originalMiB * MiB;
            return vm(i + 1, { originalKiB, currentKiB: Math.round(originalKiB * (1 - v.lentPercent / 100)) });
          });
          const borrowed = views.reduce((sum, v) => sum + (v.templateMemoryKiB - v.currentKiB), 0);
          const physical = 1024 * GiB;
          const { reserveKiB } = hostRegrowthKiB(views, emptyState(), c, NOW, physical);
          // whole MiB, rounded down
          expect(reserveKiB).toBeLessThanOrEqual((sharePercent / 100) * borrowed);
          expect(reserveKiB).toBeGreaterThan((sharePercent / 100) * borrowed - MiB);
        },
      ),
    );
  });
});

describe("HOST_RESERVE_MODE=swing (the default): each VM's share, at most HOST_RESERVE_SWING × how far its use sits below its recent peak", () => {
  const swing = config({ hostReserveMode: 'swing', hostReserveSharePercent: 30, hostReserveSwingFactor: 3 });
  // 4 GiB VM ballooned to 2 GiB: its share is 30 % of the 2 GiB it lent
  const lentVm = (usedKiB?: number) => vm(1, { originalKiB: 4 * GiB, currentKiB: 2 * GiB, ...(usedKiB !== undefined ? { usedKiB } : {}) });
  const withPeak = (peakKiB: number) => stateWith([{ id: 1, originalKiB: 4 * GiB, peakKiB }]).vms['1'];
  const shareKiB = 0.3 * 2 * GiB;

  it('a guest whose use sits at its peak holds back nothing; one 100 MiB below, 3 × 100 MiB', () => {
    expect(vmRegrowthKiB(lentVm(1 * GiB), withPeak(1 * GiB), swing, NOW)).toBe(0);
    expect(vmRegrowthKiB(lentVm(1 * GiB), withPeak(1 * GiB + 100 * MiB), swing, NOW)).toBe(300 * MiB);
  });

  it('never more than its share of what it lent, however far it swung', () => {
    expect(vmRegrowthKiB(lentVm(200 * MiB), withPeak(1.5 * GiB), swing, NOW)).toBe(shareKiB);
  });

  it('no peak remembered or no usable figures: the whole share (nothing says the guest is steady)', () => {
    expect(vmRegrowthKiB(lentVm(1 * GiB), undefined, swing, NOW)).toBe(shareKiB);
    expect(vmRegrowthKiB(lentVm(), withPeak(1 * GiB), swing, NOW)).toBe(shareKiB);
    expect(vmRegrowthKiB(lentVm(1 * GiB), withPeak(1 * GiB), config({ hostReserveMode: 'swing', peakHalfLifeMs: 0 }), NOW)).toBe(shareKiB);
  });

  it('the swing is measured against the peak as it decays: after one PEAK_HALF_LIFE, against half of it', () => {
    expect(vmRegrowthKiB(lentVm(300 * MiB), withPeak(600 * MiB), swing, NOW)).toBe(shareKiB);
    expect(vmRegrowthKiB(lentVm(300 * MiB), withPeak(600 * MiB), swing, NOW + swing.peakHalfLifeMs)).toBe(0);
  });

  it('property: between 0 and the share reserve, and a larger swing never lowers it', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            originalMiB: fc.integer({ min: 512, max: 16384 }),
            lentPercent: fc.integer({ min: 0, max: 90 }),
            usedPercent: fc.integer({ min: 1, max: 100 }),
            peakPercent: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
            extraUsePercent: fc.integer({ min: 0, max: 50 }),
          }),
          { maxLength: 12 },
        ),
        fc.double({ min: 0, max: 10, noNaN: true }),
        (vms, factor) => {
          const c = config({ hostReserveMode: 'swing', hostReserveSwingFactor: factor, hostReserveMaxPercent: 100 });
          const shareCfg = config({ hostReserveMode: 'share', hostReserveMaxPercent: 100 });
          const state = emptyState();
          const make = (lessUse: boolean) =>
            vms.map((v, i) => {
              const originalKiB = v.originalMiB * MiB;
              const currentKiB = Math.round(originalKiB * (1 - v.lentPercent / 100));
              const used = Math.round((currentKiB * v.usedPercent) / 100);
              return vm(i + 1, { originalKiB, currentKiB, usedKiB: lessUse ? Math.round(used * (1 - v.extraUsePercent / 100)) : used });
            });
          vms.forEach((v, i) => {
            state.vms[String(i + 1)] = {
              originalKiB: v.originalMiB * MiB,
              firstSeenAt: 0,
              strikes: 0,
              ...(v.peakPercent !== undefined ? { peak: { kib: Math.round((v.originalMiB * MiB * v.peakPercent) / 100), at: NOW } } : {}),
            };
          });
          const physical = 1024 * GiB;
          const r = hostRegrowthKiB(make(false), state, c, NOW, physical).predictedKiB;
          expect(r).toBeGreaterThanOrEqual(0);
          expect(r).toBeLessThanOrEqual(hostRegrowthKiB(make(false), state, shareCfg, NOW, physical).predictedKiB + 1e-6);
          // the same guests using less (further below their peaks) swing more
          expect(hostRegrowthKiB(make(true), state, c, NOW, physical).predictedKiB).toBeGreaterThanOrEqual(r - 1e-6);
        },
      ),
    );
  });
});
