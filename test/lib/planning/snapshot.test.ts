import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSnapshot } from '../../../lib/planning/snapshot';

describe('parseSnapshot', () => {
  it('reads the example snapshot: demand is used plus reserved memory', () => {
    const json = JSON.parse(readFileSync(new URL('../../../examples/cluster-snapshot.json', import.meta.url), 'utf8'));
    const result = parseSnapshot(json);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.cluster.hosts).toHaveLength(4);
    expect(result.cluster.vms).toHaveLength(12);
    expect(result.cluster.vms[0]).toEqual({ id: 100, name: 'web-1', memMiB: 3584, cpu: 100, dirtyMiBps: 40 });
    expect(result.cluster.placement.get(102)).toBe(0);
    expect(result.constraints).toEqual({ reserve: { memMiB: 4096, cpu: 100 }, pinnedVms: [102], maxInFlightPerHost: 2, maxInFlightPerCluster: 4 });
  });

  it('defaults names, enabled and reserved memory', () => {
    const result = parseSnapshot({ hosts: [{ id: 1, memMiB: 1024, cpu: 100 }], vms: [{ id: 2, host: 1, usedMiB: 512, cpu: 10 }] });
    expect(result).toMatchObject({ ok: true, cluster: { hosts: [{ name: 'host-1', enabled: true }], vms: [{ name: 'vm-2', memMiB: 512 }] } });
  });

  it('collects every error, each naming the field', () => {
    const result = parseSnapshot({
      hosts: [{ id: 1, memMiB: -5, cpu: 100 }, { id: 1, memMiB: 10, cpu: 'x' }],
      vms: [{ id: 2, host: 1, cpu: 10 }, 'nope'],
      constraints: { pinnedVms: [7], maxInFlightPerHost: 0 },
    });
    expect(result).toEqual({
      ok: false,
      errors: [
        'hosts[0].memMiB: must be a number ≥ 0, got -5',
        'hosts[1].cpu: must be a number ≥ 0, got "x"',
        'hosts[1].id: host 1 appears twice',
        'vms[0].usedMiB: missing',
        'vms[1]: must be an object',
        'constraints.pinnedVms: VMs 7 are not in the snapshot',
        'constraints.maxInFlightPerHost: must be a whole number ≥ 1, got 0',
      ],
    });
  });

  it('reads VM group rules and names what is wrong with them', () => {
    const base = { hosts: [{ id: 1, memMiB: 1024, cpu: 100 }, { id: 2, memMiB: 1024, cpu: 100 }], vms: [{ id: 7, host: 1, usedMiB: 1, cpu: 1 }, { id: 8, host: 2, usedMiB: 1, cpu: 1 }] };
    const rules = [
      { kind: 'anti-affined', name: 'vm group 0 role db', vms: [7, 8] },
      { kind: 'host-affined', name: 'VM 7 SCHED_REQUIREMENTS', vms: [7], hosts: [1] },
    ];
    expect(parseSnapshot({ ...base, rules })).toMatchObject({ ok: true, cluster: { rules } });
    expect(parseSnapshot({ ...base, rules: [{ kind: 'near', vms: [7] }, { kind: 'host-anti-affined', vms: [9], hosts: [3] }, { kind: 'affined', vms: [7], hosts: [1] }] })).toEqual({
      ok: false,
      errors: [
        'rules[0].kind: must be one of affined, anti-affined, host-affined, host-anti-affined, got "near"',
        'rules[1].vms: VMs 9 are not in the snapshot',
        'rules[1].hosts: hosts 3 are not in the snapshot',
        'rules[2].hosts: affined rules name VMs only',
      ],
    });
  });

  it('flags a VM on a host the snapshot does not list', () => {
    expect(parseSnapshot({ hosts: [], vms: [{ id: 2, host: 9, usedMiB: 1, cpu: 1 }] })).toEqual({ ok: false, errors: ['vms[0].host: host 9 is not in "hosts"'] });
  });

  it('refuses what is not a snapshot at all', () => {
    expect(parseSnapshot([])).toEqual({ ok: false, errors: ['the snapshot must be a JSON object with "hosts" and "vms" arrays'] });
  });
});
