import { describe, expect, it } from 'vitest';
import { DEFAULTS as DEFAULT_CONFIG } from '../../../lib/elasticity/config';
import { DEFAULT_OPTIONS, runDensity, SCHEMES, SENSITIVITY, withConfig } from '../../../bench/density/index';
import { goalsText, textTable } from '../../../bench/density/report';
import { simulateScheme, type DensityOptions, type StepView } from '../../../bench/density/simulate';
import { generateRequests, PATTERN_BLOCK, peakCapKiB, usageTrace } from '../../../bench/density/workload';

const GiB = 1024 * 1024;

// A small, short cluster: 3 hosts of 16 GiB for 1 h, a request every 20 s.
const small: DensityOptions = { ...DEFAULT_OPTIONS, hosts: 3, hostMemKiB: 16 * GiB, hours: 1, arrivalEveryMs: 20_000, chartEveryMs: 600_000 };
const requests = generateRequests(small.seed, Math.ceil((small.hours * 3_600_000) / small.arrivalEveryMs), small.arrivalEveryMs);
const scheme = (name: string) => SCHEMES.find((s) => s.name === name)!;

describe('density workload', () => {
  it('mixes the patterns in the documented shares and keeps every trace under its cap', () => {
    const reqs = generateRequests(7, 200, 1000);
    const counts: Record<string, number> = {};
    for (const r of reqs) counts[r.pattern] = (counts[r.pattern] ?? 0) + 1;
    expect(counts).toEqual(Object.fromEntries(Object.entries(PATTERN_BLOCK).map(([p, n]) => [p, n * 10])));
    for (const r of reqs.slice(0, 40)) {
      const trace = usageTrace(r, 2000, 10_000);
      expect(Math.max(...trace)).toBeLessThanOrEqual(peakCapKiB(r.requestedKiB));
      expect(Math.min(...trace)).toBeGreaterThan(0);
    }
    expect(generateRequests(7, 200, 1000)).toEqual(reqs);
  });
});

describe('density simulation (small and short; invariants, not the goals)', () => {
  function run(name: string) {
    const views: StepView[] = [];
    const result = simulateScheme(scheme(name), requests, small, { onStep: (v) => views.push(v) });
    return { result, views };
  }

  for (const name of SCHEMES.map((s) => s.name)) {
    it(`${name}: sizes stay within (0, original], the books balance, starvation is counted`, () => {
      const { result, views } = run(name);
      const capacity = small.hostMemKiB - small.reserveKiB;
      let vmSteps = 0;
      let starving = 0;
      let overloadedSteps = 0;
      for (const v of views) {
        for (const vm of v.vms) {
          expect(vm.currentKiB).toBeGreaterThan(0);
          expect(vm.currentKiB).toBeLessThanOrEqual(vm.requestedKiB);
          expect(vm.usedKiB).toBeLessThanOrEqual(vm.currentKiB);
        }
        for (const h of v.hosts) {
          // a migrating VM is held by both hosts
          const on = v.vms.filter((vm) => vm.hostId === h.id || vm.movingTo === h.id);
          expect(h.committedKiB).toBe(on.reduce((s, vm) => s + vm.currentKiB, 0));
          expect(h.allocatedKiB).toBe(on.reduce((s, vm) => s + vm.requestedKiB, 0));
          expect(h.overloaded).toBe(h.committedKiB > capacity);
          if (h.overloaded) overloadedSteps++;
          // a swapping host starves every VM on it
          if (h.swapping) for (const vm of on.filter((x) => x.hostId === h.id)) expect(vm.starving).toBe(true);
        }
        vmSteps += v.vms.length;
        starving += v.vms.filter((vm) => vm.starving).length;
      }
      const step = small.stepMs / 1000;
      expect(result.vmSeconds).toBe(vmSteps * step);
      expect(result.starvingVmSeconds).toBe(starving * step);
      expect(result.starvingVmSeconds).toBeLessThanOrEqual(result.vmSeconds);
      expect(result.overloadHostSeconds).toBe(overloadedSteps * step);
      expect(result.admitted).toBe(views.at(-1)!.vms.length);
      expect(result.admitted + result.rejected).toBeLessThanOrEqual(requests.length);
    });
  }

  it('no overcommit never overloads nor starves; static 1.5 admits more; elastic schemes reclaim memory', () => {
    const none = run('none').result;
    const stat = run('static-1.5').result;
    // 3 h: the default watches each VM for SHRINK_WARMUP (1.5 h) before it shrinks it
    const cv = simulateScheme(scheme('cloudvamp'), requests, { ...small, hours: 3 });
    expect(run('cloudvamp').result.reclaimedShare).toBe(0);
    expect(none.overloadEvents).toBe(0);
    expect(none.starvingVmSeconds).toBe(0);
    expect(none.reclaimedShare).toBe(0);
    expect(stat.admitted).toBeGreaterThan(none.admitted);
    expect(cv.reclaimedShare).toBeGreaterThan(0);
    expect(cv.memoryChanges).toBeGreaterThan(0);
    // cloudvamp's grows are host-aware: its hosts never hold more than they have
    expect(cv.overloadHostSeconds).toBe(0);
  });

  it("no overcommit's starvation is all inherent (use reached the VM's size); a scheme's inherent part is within its starvation", () => {
    // One 4 GiB host and a static ratio of 10: the VMs' use soon passes what the host has.
    const crowded = { ...scheme('static-1.5'), capacity: { kind: 'ratio' as const, ratio: 10 } };
    const r = simulateScheme(crowded, requests, { ...small, hosts: 1, hostMemKiB: 4 * GiB });
    expect(r.inherentVmSeconds).toBeLessThanOrEqual(r.starvingVmSeconds);
    expect(r.starvingVmSeconds - r.inherentVmSeconds).toBeGreaterThan(0);
    // a VM whose use passes its size: it starves at its full size under no overcommit, all of it inherent
    const greedy = requests.slice(0, 3).map((q) => ({ ...q, pattern: 'trace' as const, usage: { useKiB: new Float64Array([0.5, 1.2, 1.2, 0.5].map((x) => x * q.requestedKiB)), everyMs: 15 * 60_000 } }));
    const none = simulateScheme(scheme('none'), greedy, small);
    expect(none.starvingVmSeconds).toBeGreaterThan(0);
    expect(none.inherentVmSeconds).toBe(none.starvingVmSeconds);
  });

  it('a guest that uses more than its size is counted as starving', () => {
    // One 4 GiB host and a static ratio of 10: the VMs' use soon passes what the host has.
    const crowded = { ...scheme('static-1.5'), capacity: { kind: 'ratio' as const, ratio: 10 } };
    const r = simulateScheme(crowded, requests, { ...small, hosts: 1, hostMemKiB: 4 * GiB });
    expect(r.swapHostSeconds).toBeGreaterThan(0);
    expect(r.swapVmSeconds).toBeGreaterThan(0);
    expect(r.starvingVmSeconds).toBeGreaterThanOrEqual(r.swapVmSeconds);
  });

  it('runDensity compares every scheme on one request stream and renders the report', () => {
    const run = runDensity({ ...small, hours: 0.5 });
    expect(run.results.map((r) => r.scheme)).toEqual(SCHEMES.map((s) => s.name));
    expect(run.goals.vsNone).toBeCloseTo(run.results[3]!.admitted / run.results[0]!.admitted);
    const table = textTable(run);
    for (const sc of SCHEMES) expect(table).toContain(sc.label);
    expect(goalsText(run)).toMatch(/VMs admitted vs no overcommit: \d+\.\d\d×/);
  });
});

describe('the regrowth reserve in the cloudvamp scheme', () => {
  it('the scheduler admits on TOTALMEMORY − RESERVED_MEM, the reserve written by the real planHostReserves', () => {
    const cv = SCHEMES.find((s) => s.name === 'cloudvamp')!;
    const none = SENSITIVITY.find((s) => s.name === 'cloudvamp-no-reserve')!;
    const opts = { ...small, hours: 3 };
    const reqs = generateRequests(opts.seed, Math.ceil((opts.hours * 3_600_000) / opts.arrivalEveryMs), opts.arrivalEveryMs);
    // the plain share: what every VM lent, 30 % of it held back
    const withReserve = simulateScheme(withConfig(cv, { hostReserveMode: 'share' }), reqs, opts);
    const without = simulateScheme(none, reqs, opts);
    expect(without.reserveWrites).toBe(0);
    expect(withReserve.reserveWrites).toBeGreaterThan(0);
    expect(withReserve.meanReserveKiB).toBeGreaterThan(0);
    expect(withReserve.meanReserveKiB).toBeLessThanOrEqual((DEFAULT_CONFIG.hostReserveMaxPercent / 100) * opts.hostMemKiB);
    // room held back is room not admitted into
    expect(withReserve.admitted).toBeLessThan(without.admitted);
    // the default caps each VM's share at its swing: the invented guests are mostly steady, so it holds back less
    const swing = simulateScheme(cv, reqs, opts);
    expect(swing.reserveWrites).toBeGreaterThan(0);
    expect(swing.meanReserveKiB).toBeGreaterThan(0);
    expect(swing.meanReserveKiB).toBeLessThan(withReserve.meanReserveKiB / 2);
  });
});
