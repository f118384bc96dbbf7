// Small builders for planning tests: clusters written as text-like data, and
// fast-check arbitraries for the small instances the brute force can solve.
import fc from 'fast-check';
import { defaultConstraints, type Cluster, type Constraints, type Host, type Placement, type PlacementRule, type Vm } from '../../../lib/planning/model';

export const GiB = 1024;

export function host(id: number, memGiB: number, extra: Partial<Host> = {}): Host {
  return { id, name: `h${id}`, memMiB: memGiB * GiB, cpu: 6400, enabled: true, ...extra };
}

export function vm(id: number, memGiB: number, extra: Partial<Vm> = {}): Vm {
  return { id, name: `v${id}`, memMiB: memGiB * GiB, cpu: 100, ...extra };
}

/** cluster([host(1, 16), host(2, 16)], [[vm(10, 12), 1], [vm(11, 12), 2]]) */
export function cluster(hosts: Host[], vms: Array<[Vm, number]>): Cluster {
  return { hosts, vms: vms.map(([v]) => v), placement: new Map(vms.map(([v, h]) => [v.id, h])) };
}

export function constraints(extra: Partial<Constraints> = {}): Constraints {
  return { ...defaultConstraints, ...extra };
}

export function placement(entries: Array<[number, number]>): Placement {
  return new Map(entries);
}

/** Places VMs in order on a host chosen by `pick` among those with room; VMs that fit nowhere are dropped. */
function placeRandomly(hosts: readonly Host[], vms: readonly Vm[], picks: readonly number[], reserveMiB: number): Map<number, number> {
  const load = new Map<number, number>();
  const cpu = new Map<number, number>();
  const out = new Map<number, number>();
  vms.forEach((v, i) => {
    const fitting = hosts.filter((h) => (load.get(h.id) ?? 0) + v.memMiB <= h.memMiB - reserveMiB && (cpu.get(h.id) ?? 0) + v.cpu <= h.cpu);
    if (fitting.length === 0) return;
    const h = fitting[picks[i]! % fitting.length]!;
    load.set(h.id, (load.get(h.id) ?? 0) + v.memMiB);
    cpu.set(h.id, (cpu.get(h.id) ?? 0) + v.cpu);
    out.set(v.id, h.id);
  });
  return out;
}

export interface SmallInstance {
  cluster: Cluster;
  target: Placement;
  constraints: Constraints;
}

/**
 * ≤ maxHosts hosts, ≤ maxVms VMs, a valid current placement A and an
 * independently drawn valid target B, with pins, exclusions, a reserve and
 * in-flight limits. Pinned VMs keep their host in B; B sends no moved VM to an
 * excluded or disabled host. Sizes are coarse so swaps and cycles are common.
 */
export function smallInstance(maxHosts = 5, maxVms = 8): fc.Arbitrary<SmallInstance> {
  return fc
    .record({
      hostMem: fc.array(fc.constantFrom(8, 12, 16, 24), { minLength: 2, maxLength: maxHosts }),
      disabled: fc.array(fc.boolean(), { minLength: maxHosts, maxLength: maxHosts }),
      vmMem: fc.array(fc.constantFrom(1, 2, 4, 6, 8, 12), { minLength: 1, maxLength: maxVms }),
      vmCpu: fc.array(fc.constantFrom(100, 200, 400), { minLength: maxVms, maxLength: maxVms }),
      hostCpu: fc.constantFrom(800, 6400),
      picksA: fc.array(fc.nat(), { minLength: maxVms, maxLength: maxVms }),
      picksB: fc.array(fc.nat(), { minLength: maxVms, maxLength: maxVms }),
      pinned: fc.array(fc.boolean(), { minLength: maxVms, maxLength: maxVms }),
      excluded: fc.option(fc.nat(maxHosts - 1)),
      reserveGiB: fc.constantFrom(0, 0, 1),
      perHost: fc.integer({ min: 1, max: 3 }),
      perCluster: fc.integer({ min: 1, max: 4 }),
    })
    .map((r) => {
      const hosts = r.hostMem.map((m, i) => host(i, m, { cpu: r.hostCpu, enabled: !(r.disabled[i] && i === r.hostMem.length - 1 && i >= 2) }));
      const vms = r.vmMem.map((m, i) => vm(100 + i, m, { cpu: r.vmCpu[i]! }));
      const reserve = r.reserveGiB * GiB;
      const a = placeRandomly(hosts, vms, r.picksA, reserve);
      const placed = vms.filter((v) => a.has(v.id));
      const excludedHosts = r.excluded !== null && r.excluded < hosts.length ? [r.excluded] : [];
      const pinnedVms = placed.filter((v, i) => r.pinned[i] && i % 3 === 0).map((v) => v.id);
      // B: pinned VMs stay; the others go anywhere that may receive, or stay home.
      const receiving = hosts.filter((h) => h.enabled && !excludedHosts.includes(h.id));
      const b = new Map<number, number>();
      const load = new Map<number, number>();
      const cpu = new Map<number, number>();
      const put = (v: Vm, hostId: number) => {
        b.set(v.id, hostId);
        load.set(hostId, (load.get(hostId) ?? 0) + v.memMiB);
        cpu.set(hostId, (cpu.get(hostId) ?? 0) + v.cpu);
      };
      for (const v of placed) if (pinnedVms.includes(v.id)) put(v, a.get(v.id)!);
      placed.forEach((v, i) => {
        if (b.has(v.id)) return;
        const options = [...receiving, hosts.find((h) => h.id === a.get(v.id))!].filter(
          (h, k, all) => all.indexOf(h) === k && (load.get(h.id) ?? 0) + v.memMiB <= h.memMiB - reserve && (cpu.get(h.id) ?? 0) + v.cpu <= h.cpu,
        );
        put(v, (options.length > 0 ? options[r.picksB[i]! % options.length]! : hosts.find((h) => h.id === a.get(v.id))!).id);
      });
      return {
        cluster: { hosts, vms: placed, placement: a },
        target: b,
        constraints: constraints({ reserve: { memMiB: reserve, cpu: 0 }, excludedHosts, pinnedVms, maxInFlightPerHost: r.perHost, maxInFlightPerCluster: r.perCluster }),
      };
    });
}

/**
 * Hosts of one size whose VMs all trade places along a random permutation of
 * the hosts, plus optionally one spare host: cycles everywhere, so staging
 * and the exact search are exercised, and many instances have no answer.
 */
export function swapInstance(maxHosts = 4, maxVms = 8): fc.Arbitrary<SmallInstance> {
  return fc
    .record({
      hosts: fc.integer({ min: 2, max: maxHosts }),
      hostGiB: fc.constantFrom(8, 12, 16),
      spareGiB: fc.constantFrom(0, 4, 8, 12),
      vmMem: fc.array(fc.constantFrom(1, 2, 4, 6, 8, 12), { minLength: 2, maxLength: maxVms }),
      picks: fc.array(fc.nat(), { minLength: maxVms, maxLength: maxVms }),
      shift: fc.integer({ min: 1, max: maxHosts - 1 }),
    })
    .map((r) => {
      const hosts = Array.from({ length: r.hosts }, (_, i) => host(i, r.hostGiB));
      if (r.spareGiB > 0) hosts.push(host(r.hosts, r.spareGiB));
      const vms = r.vmMem.map((m, i) => vm(100 + i, m));
      const a = placeRandomly(hosts.slice(0, r.hosts), vms, r.picks, 0);
      const placed = vms.filter((v) => a.has(v.id));
      // Rotating whole hosts keeps every host's load, so the target is always within capacity.
      const target = new Map(placed.map((v) => [v.id, (a.get(v.id)! + (r.shift % r.hosts || 1)) % r.hosts]));
      return { cluster: { hosts, vms: placed, placement: a }, target, constraints: constraints() };
    });
}

/**
 * 2–10 hosts of mixed sizes and 0–40 VMs, placed at random up to `fill` of
 * each host (above 1 to make hot hosts), with a reserve, a pinned VM, an
 * excluded and a disabled host now and then.
 */
export function mediumCluster(fill = 1): fc.Arbitrary<{ cluster: Cluster; constraints: Constraints }> {
  return fc
    .record({
      hostMem: fc.array(fc.constantFrom(16, 32, 64), { minLength: 2, maxLength: 10 }),
      vmMem: fc.array(fc.constantFrom(1, 2, 4, 8, 16), { maxLength: 40 }),
      vmCpu: fc.array(fc.constantFrom(50, 100, 200, 400), { minLength: 40, maxLength: 40 }),
      picks: fc.array(fc.nat(), { minLength: 40, maxLength: 40 }),
      pin: fc.option(fc.nat(39)),
      exclude: fc.option(fc.nat(9)),
      disableLast: fc.boolean(),
      reserveGiB: fc.constantFrom(0, 1, 2),
    })
    .map((r) => {
      const hosts = r.hostMem.map((m, i) => host(i, m, { cpu: m * 50, enabled: !(r.disableLast && i === r.hostMem.length - 1 && i >= 2) }));
      const vms = r.vmMem.map((m, i) => vm(100 + i, m, { cpu: r.vmCpu[i]! }));
      const reserve = r.reserveGiB * GiB;
      const sized = hosts.map((h) => ({ ...h, memMiB: Math.floor((h.memMiB - reserve) * fill) + reserve, cpu: Math.floor(h.cpu * fill) }));
      const a = placeRandomly(sized, vms, r.picks, reserve);
      const placed = vms.filter((v) => a.has(v.id));
      return {
        cluster: { hosts, vms: placed, placement: a },
        constraints: constraints({
          reserve: { memMiB: reserve, cpu: 0 },
          pinnedVms: r.pin !== null && placed[r.pin] ? [placed[r.pin]!.id] : [],
          excludedHosts: r.exclude !== null && r.exclude < hosts.length ? [r.exclude] : [],
        }),
      };
    });
}

/**
 * ≤ maxHosts hosts of 8, 12 and 16 GiB (128/192/256 GiB scaled down) and
 * ≤ maxVms VMs placed at random, sometimes a pinned VM or a reserve: the
 * small mixed-size clusters on which consolidation is compared with the
 * exhaustive optimum. `sizes` fixes one host size for uniform clusters.
 */
export function packingInstance(maxHosts = 8, maxVms = 16, sizes: readonly number[] = [8, 12, 16]): fc.Arbitrary<{ cluster: Cluster; constraints: Constraints }> {
  return fc
    .record({
      hostMem: fc.array(fc.constantFrom(...sizes), { minLength: 2, maxLength: maxHosts }),
      vmMem: fc.array(fc.constantFrom(1, 2, 3, 4, 6, 8), { minLength: 1, maxLength: maxVms }),
      vmCpu: fc.array(fc.constantFrom(50, 100, 200), { minLength: maxVms, maxLength: maxVms }),
      picks: fc.array(fc.nat(), { minLength: maxVms, maxLength: maxVms }),
      pin: fc.option(fc.nat(maxVms - 1), { freq: 3 }),
      reserveGiB: fc.constantFrom(0, 0, 1),
    })
    .map((r) => {
      const hosts = r.hostMem.map((m, i) => host(i, m, { cpu: m * 100 }));
      const vms = r.vmMem.map((m, i) => vm(100 + i, m, { cpu: r.vmCpu[i]! }));
      const reserve = r.reserveGiB * GiB;
      const a = placeRandomly(hosts, vms, r.picks, reserve);
      const placed = vms.filter((v) => a.has(v.id));
      return {
        cluster: { hosts, vms: placed, placement: a },
        constraints: constraints({ reserve: { memMiB: reserve, cpu: 0 }, pinnedVms: r.pin !== null && placed[r.pin] ? [placed[r.pin]!.id] : [] }),
      };
    });
}

/**
 * mediumCluster with a few VM group rules drawn over its VMs and hosts: pairs
 * and triples kept apart, pairs kept together, VMs limited to or kept off some
 * hosts. Some hold in the current placement, some do not, as on a real cloud.
 */
export function clusterWithRules(fill = 0.8): fc.Arbitrary<{ cluster: Cluster; constraints: Constraints }> {
  const pick = fc.array(fc.nat(), { minLength: 1, maxLength: 3 });
  return fc
    .record({
      base: mediumCluster(fill),
      rules: fc.array(fc.record({ kind: fc.constantFrom('affined', 'anti-affined', 'anti-affined', 'host-affined', 'host-anti-affined'), vms: pick, hosts: pick }), { maxLength: 5 }),
    })
    .map(({ base, rules }) => {
      const { cluster: c } = base;
      if (c.vms.length === 0) return base;
      const vmIds = c.vms.map((v) => v.id);
      const hostIds = c.hosts.map((h) => h.id);
      const planned: PlacementRule[] = rules.map((r, i) => {
        const vms = [...new Set(r.vms.map((n) => vmIds[n % vmIds.length]!))];
        const hosts = [...new Set(r.hosts.map((n) => hostIds[n % hostIds.length]!))];
        const name = `rule ${i}`;
        if (r.kind === 'affined' || r.kind === 'anti-affined') return { kind: r.kind, name, vms };
        return { kind: r.kind as 'host-affined' | 'host-anti-affined', name, vms, hosts };
      });
      return { ...base, cluster: { ...c, rules: planned } };
    });
}
