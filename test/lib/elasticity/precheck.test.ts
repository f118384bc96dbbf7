import { describe, expect, it } from 'vitest';
import type { Migration } from '../../../lib/elasticity/host-relief';
import type { VmDecision } from '../../../lib/elasticity/vm-rule';
import type { ClusterView } from '../../../lib/elasticity/ports';
import { headroomNow, nothingApplied, nothingToDo, rebased, recheck, recordDone, type Step } from '../../../lib/elasticity/precheck';
import { cluster, config, GiB, host, vm } from './builders';

const cfg = config({ hostReserveKiB: GiB });
// host 0: 16 GiB, 4 GiB free (→ 3 GiB headroom); VM 1 (2 GiB) grows to 4 GiB; VM 2 (1 GiB) may move to host 1.
const planned: ClusterView = cluster(
  [vm(1, { originalKiB: 4 * GiB, currentKiB: 2 * GiB }), vm(2, { currentKiB: GiB, originalKiB: GiB })],
  [host(0, 16 * GiB, { freeKiB: 4 * GiB, freeAt: 1000 }), host(1, 4 * GiB, { freeKiB: 3 * GiB, freeAt: 1000 })],
);
const grow = (over: Partial<VmDecision> = {}): Step => ({
  kind: 'resize',
  decision: { vmId: 1, hostId: 0, action: 'grow', fromKiB: 2 * GiB, targetKiB: 4 * GiB, reason: 'r', starving: true, strikes: 0, originalKiB: 4 * GiB, ...over },
});
const move: Migration = { vmId: 2, fromHostId: 0, toHostId: 1, kib: GiB, forVmId: 1, reason: 'r' };
const with_ = (f: (v: ClusterView) => void): ClusterView => {
  const copy = structuredClone(planned);
  f(copy);
  return copy;
};

describe('recheck: the precondition right before a step', () => {
  const cases: { name: string; step: Step; fresh: ClusterView; done?: Step[]; skip?: RegExp }[] = [
    { name: 'nothing changed: go', step: grow(), fresh: planned },
    { name: 'VM gone', step: grow(), fresh: with_((v) => v.vms.splice(0, 1)), skip: /^VM 1 no longer exists$/ },
    { name: 'VM stopped', step: grow(), fresh: with_((v) => (v.vms[0]!.running = false)), skip: /no longer running/ },
    { name: 'VM migrated by someone else', step: grow(), fresh: with_((v) => (v.vms[0]!.hostId = 1)), skip: /^VM 1 now runs on host 1, not host 0$/ },
    { name: 'VM resized by someone else', step: grow(), fresh: with_((v) => (v.vms[0]!.currentKiB = 3 * GiB)), skip: /changed size since the plan \(2048 MiB → 3072 MiB\)/ },
    { name: 'host free memory dropped (new record)', step: grow(), fresh: with_((v) => Object.assign(v.hosts[0]!, { freeKiB: 2 * GiB, freeAt: 2000 })), skip: /^host 0 has only 1024 MiB left, the grow needs 2048 MiB$/ },
    { name: 'a new VM landed on the host', step: grow(), fresh: with_((v) => v.vms.push(vm(9, { currentKiB: 12 * GiB }))), skip: /only 0 MiB left/ },
    {
      name: 'restore-all: the VM grew since the plan, still goes, host room for the delta from its size now',
      step: grow({ restore: true }),
      fresh: with_((v) => (v.vms[0]!.currentKiB = 3 * GiB)),
    },
    {
      name: 'restore-all: the VM shrank since the plan, refused when the host has no room for the larger delta',
      step: grow({ restore: true }),
      fresh: with_((v) => (Object.assign(v.vms[0]!, { currentKiB: GiB }), Object.assign(v.hosts[0]!, { freeKiB: 3 * GiB, freeAt: 2000 }))),
      skip: /^host 0 has only 2048 MiB left, the grow needs 3072 MiB$/,
    },
    { name: 'restore-all: already at its original, even on a full host', step: grow({ restore: true }), fresh: with_((v) => ((v.vms[0]!.currentKiB = 4 * GiB), (v.hosts[0]!.freeKiB = 0))) },
    { name: 'a shrink only needs the VM where it was', step: grow({ action: 'shrink', targetKiB: GiB }), fresh: with_((v) => (v.hosts[0]!.freeKiB = 0)) },
    { name: 'migration: source still holds the VM, destination has room', step: { kind: 'migrate', migration: move }, fresh: planned },
    { name: 'migration: destination disabled', step: { kind: 'migrate', migration: move }, fresh: with_((v) => (v.hosts[1]!.enabled = false)), skip: /destination host 1 is no longer enabled/ },
    {
      name: 'migration: destination filled up',
      step: { kind: 'migrate', migration: move },
      fresh: with_((v) => Object.assign(v.hosts[1]!, { freeKiB: 1.5 * GiB, freeAt: 2000 })),
      skip: /destination host 1 has only 512 MiB left for VM 2's 1024 MiB/,
    },
  ];
  it.each(cases)('$name', ({ step, fresh, done = [], skip }) => {
    const applied = nothingApplied();
    for (const d of done) recordDone(applied, d);
    const why = recheck(step, planned, fresh, applied, cfg);
    if (skip) expect(why).toMatch(skip);
    else expect(why).toBeUndefined();
  });
});

describe('headroomNow: this cycle\'s own steps against stale monitoring', () => {
  // host 0 with 2 GiB free (1 GiB headroom); the grow needs 2 GiB; moving VM 2 (1 GiB) away makes room.
  const tight = with_((v) => (v.hosts[0]!.freeKiB = 2 * GiB));
  const afterMove = with_((v) => {
    v.hosts[0]!.freeKiB = 2 * GiB;
    v.vms[1]!.hostId = 1;
  });
  const moved = nothingApplied();
  recordDone(moved, { kind: 'migrate', migration: move });

  it('the record the plan saw cannot show the migration: it is credited', () => {
    expect(headroomNow(0, tight, afterMove, moved, cfg)).toBe(2 * GiB);
    expect(recheck(grow(), tight, afterMove, moved, cfg)).toBeUndefined();
  });

  it('a newer record may already show it: no credit (safe side)', () => {
    const newer = with_((v) => {
      Object.assign(v.hosts[0]!, { freeKiB: 2 * GiB, freeAt: 2000 });
      v.vms[1]!.hostId = 1;
    });
    expect(headroomNow(0, tight, newer, moved, cfg)).toBe(GiB);
  });

  it('grows already made this cycle are charged even when the balloon size shown is stale', () => {
    const applied = nothingApplied();
    recordDone(applied, grow());
    // VM 1 still shows 2 GiB (stale); this cycle gave it 4 GiB: 16 − 1 − 4 − 1 = 10 GiB by commitment, 4 − 1 − 2 = 1 GiB by free memory
    expect(headroomNow(0, planned, planned, applied, cfg)).toBe(GiB);
    expect(headroomNow(5, planned, planned, applied, cfg)).toBe(-Infinity);
  });
});

describe('rebased: a restore runs from the size the VM has now', () => {
  it('takes the fresh size as its start; other steps are left as planned', () => {
    const grown = with_((v) => (v.vms[0]!.currentKiB = 3 * GiB));
    const r = rebased(grow({ restore: true }), grown);
    expect(r).toMatchObject({ kind: 'resize', decision: { fromKiB: 3 * GiB, targetKiB: 4 * GiB, restore: true } });
    expect(nothingToDo(r)).toBe(false);
    expect(rebased(grow(), grown)).toEqual(grow());
    const atOriginal = rebased(grow({ restore: true }), with_((v) => (v.vms[0]!.currentKiB = 4 * GiB)));
    expect(nothingToDo(atOriginal)).toBe(true);
    expect(nothingToDo(grow())).toBe(false);
  });
});
