import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPlacement } from '../../../../lib/planning/checker';
import { consolidate } from '../../../../lib/planning/strategies/consolidate';
import { cluster, constraints, host, packingInstance, vm } from '../builders';
import { fewestHosts } from '../optimum';

const hostsUsed = (placement: ReadonlyMap<number, number>) => new Set(placement.values()).size;
const moved = (before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>) => [...after].filter(([v, h]) => before.get(v) !== h).map(([v]) => v);

describe('consolidate', () => {
  // Four 32 GiB hosts at a quarter each: everything fits one host.
  const quarterFull = cluster(
    [host(1, 32), host(2, 32), host(3, 32), host(4, 32)],
    [[vm(10, 8), 1], [vm(11, 6), 2], [vm(12, 4), 2], [vm(13, 8), 3], [vm(14, 2), 4]],
  );

  it('frees whole hosts, keeping the fullest and moving only the VMs of the others', () => {
    const target = consolidate.plan(quarterFull, consolidate.defaults, constraints());
    expect(hostsUsed(target.placement)).toBe(1);
    expect(checkPlacement(quarterFull, target.placement, constraints())).toEqual([]);
    expect(new Set(target.placement.values())).toEqual(new Set([2]));
    expect(target.notes[0]).toBe('hosts used 4 → 1 (lower bound 1), 3 VMs to migrate');
  });

  it('keeps a pinned VM where it is, and fills its host first', () => {
    const target = consolidate.plan(quarterFull, consolidate.defaults, constraints({ pinnedVms: [14] }));
    expect(target.placement.get(14)).toBe(4);
    expect(hostsUsed(target.placement)).toBe(1);
  });

  it('leaves VMs of a disabled host alone and sends nothing there', () => {
    const target = consolidate.plan(quarterFull, consolidate.defaults, constraints({ excludedHosts: [3] }));
    expect(target.placement.get(13)).toBe(3);
    expect([...target.placement].filter(([, h]) => h === 3).map(([v]) => v)).toEqual([13]);
    expect(hostsUsed(target.placement)).toBe(2);
  });

  it('counts the reserve: with 8 GiB held back the VMs need two hosts', () => {
    const target = consolidate.plan(quarterFull, consolidate.defaults, constraints({ reserve: { memMiB: 8 * 1024, cpu: 0 } }));
    expect(hostsUsed(target.placement)).toBe(2);
    expect(checkPlacement(quarterFull, target.placement, constraints({ reserve: { memMiB: 8 * 1024, cpu: 0 } }))).toEqual([]);
  });

  it('respects CPU as well as memory', () => {
    const cpuBound = cluster([host(1, 64, { cpu: 400 }), host(2, 64, { cpu: 400 })], [[vm(10, 1, { cpu: 300 }), 1], [vm(11, 1, { cpu: 300 }), 2]]);
    expect(hostsUsed(consolidate.plan(cpuBound, consolidate.defaults, constraints()).placement)).toBe(2);
  });

  it('gives up freed hosts to stay within the migration bound', () => {
    const target = consolidate.plan(quarterFull, { ...consolidate.defaults, maxMigrations: 2 }, constraints());
    expect(moved(quarterFull.placement, target.placement).length).toBeLessThanOrEqual(2);
    expect(hostsUsed(target.placement)).toBeLessThan(4);
  });

  it('moves VMs off a kept host that is over capacity', () => {
    const over = cluster([host(1, 16), host(2, 16)], [[vm(10, 10), 1], [vm(11, 10), 1]]);
    const target = consolidate.plan(over, consolidate.defaults, constraints());
    expect(checkPlacement(over, target.placement, constraints())).toEqual([]);
    expect(hostsUsed(target.placement)).toBe(2);
  });
});

describe('consolidate against the exhaustive optimum (≤ 8 hosts, ≤ 16 VMs)', () => {
  it.each([
    ['mixed 8/12/16 GiB hosts', [8, 12, 16]],
    ['identical 16 GiB hosts', [16]],
  ] as const)('%s: within one host of the fewest possible, valid, nothing moved when already optimal', (_, sizes) => {
    fc.assert(
      fc.property(packingInstance(8, 16, sizes), ({ cluster: c, constraints: k }) => {
        const target = consolidate.plan(c, consolidate.defaults, k);
        expect(checkPlacement(c, target.placement, k)).toEqual([]);
        const optimum = fewestHosts(c, k);
        if (optimum === undefined) throw new Error('exhaustive search ran out of budget; shrink packingInstance');
        const used = hostsUsed(target.placement);
        expect(used).toBeLessThanOrEqual(optimum + 1);
        expect(used).toBeGreaterThanOrEqual(optimum);
        // Migrations come second: where the VMs already run on as few hosts as possible, none moves.
        if (hostsUsed(c.placement) === optimum) expect(moved(c.placement, target.placement)).toEqual([]);
      }),
      { numRuns: 200, seed: 12 },
    );
  });

  it('reaches the optimum on a mixed cluster where keeping the fullest hosts does not: one 16 GiB host holds it all', () => {
    // The two 8 GiB hosts are the fullest relative to size; keeping them needs 2 hosts.
    const mixed = cluster([host(1, 8), host(2, 8), host(3, 16)], [[vm(10, 6), 1], [vm(11, 6), 2], [vm(12, 2), 3]]);
    const target = consolidate.plan(mixed, consolidate.defaults, constraints());
    expect(hostsUsed(target.placement)).toBe(1);
    expect(new Set(target.placement.values())).toEqual(new Set([3]));
  });
});

describe('consolidate --sharing', () => {
  // Two 8 GiB hosts are kept; the small VMs of the third go where their image already runs.
  const images = cluster(
    [host(1, 8), host(2, 8), host(3, 8)],
    [[vm(10, 5, { imageIds: [5] }), 1], [vm(11, 5, { imageIds: [7] }), 2], [vm(12, 2, { imageIds: [7] }), 3], [vm(13, 2, { imageIds: [5] }), 3]],
  );

  it('places a VM beside one started from the same image; first fit alone does not', () => {
    const plain = consolidate.plan(images, consolidate.defaults, constraints()).placement;
    const shared = consolidate.plan(images, { ...consolidate.defaults, sharing: 1 }, constraints()).placement;
    expect([plain.get(12), plain.get(13)]).toEqual([1, 2]);
    expect([shared.get(12), shared.get(13)]).toEqual([2, 1]);
    expect(hostsUsed(shared)).toBe(hostsUsed(plain));
  });

  it('stays valid and as tight on random clusters', () => {
    fc.assert(
      fc.property(packingInstance(8, 16), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 16, maxLength: 16 }), ({ cluster: c, constraints: k }, picks) => {
        const withImages = { ...c, vms: c.vms.map((v, i) => ({ ...v, imageIds: [picks[i]!] })) };
        const target = consolidate.plan(withImages, { ...consolidate.defaults, sharing: 1 }, k);
        expect(checkPlacement(withImages, target.placement, k)).toEqual([]);
        const optimum = fewestHosts(withImages, k);
        if (optimum === undefined) throw new Error('exhaustive search ran out of budget; shrink packingInstance');
        expect(hostsUsed(target.placement)).toBeLessThanOrEqual(optimum + 1);
      }),
      { numRuns: 100, seed: 21 },
    );
  });
});
