// #9 defect 5: what one one.vm.info reply says about a live migration, against oned 7.4's order of events
// (one.vm.migrate adds the destination's HISTORY and returns; MIGRATE comes later, asynchronously).
import { describe, expect, it } from 'vitest';
import { migrationProgress, waitForLiveMigration } from '../../../lib/oned/live-migration';
import type { OneClient } from '../../../lib/oned/client';
import type { OneVm } from '../../../lib/oned/models';

const ACTIVE = 3;
const RUNNING = 3;
const MIGRATE = 4;
const before = { userTemplate: {}, historySeq: 4 };
const vm = (over: Partial<OneVm>): OneVm => ({
  id: 7,
  name: 'vm-7',
  uid: 0,
  gid: 0,
  state: ACTIVE,
  lcmState: RUNNING,
  deployId: 'one-7',
  lastPoll: 0,
  templateMemoryMiB: 1024,
  cpu: 1,
  userTemplate: {},
  monitoring: {},
  hostId: 2,
  historySeq: 5,
  runningSince: 0,
  ...over,
});

describe('migrationProgress (to host 2)', () => {
  it.each([
    ['RUNNING on the destination before oned switched to MIGRATE (new record, no RSTIME): waiting', vm({}), false, { kind: 'waiting', migrating: false }],
    ['MIGRATE', vm({ lcmState: MIGRATE }), false, { kind: 'waiting', migrating: true }],
    ['RUNNING on the destination after MIGRATE was seen: done', vm({}), true, { kind: 'done' }],
    ['the new record has its RSTIME (MIGRATE missed between two polls): done', vm({ runningSince: 1700000000 }), false, { kind: 'done' }],
    ['an old record of the destination (SEQ not past the one before): waiting', vm({ historySeq: 4, runningSince: 1700000000 }), false, { kind: 'waiting', migrating: false }],
    ['back on the source after MIGRATE: failed', vm({ hostId: 1, historySeq: 6, runningSince: 1700000000 }), true, { kind: 'failed', why: 'it runs on host 1 again' }],
    ['back on the source, MIGRATE never seen, a newer record: failed', vm({ hostId: 1, historySeq: 6, runningSince: 1700000000 }), false, { kind: 'failed', why: 'it runs on host 1 again' }],
    ['a new USER_TEMPLATE/ERROR: failed', vm({ hostId: 1, historySeq: 6, userTemplate: { ERROR: 'Error live migrating VM: x' } }), false, { kind: 'failed', why: 'it runs on host 1 again (Error live migrating VM: x)' }],
    ['left ACTIVE', vm({ state: 8 }), true, { kind: 'left', state: 8 }],
  ] as const)('%s', (_name, reply, seen, expected) => {
    expect(migrationProgress(reply, 2, seen, before)).toEqual(expected);
  });

  it('an ERROR that was there before the call is not this migration\'s', () => {
    expect(migrationProgress(vm({ lcmState: MIGRATE, userTemplate: { ERROR: 'old' } }), 2, false, { userTemplate: { ERROR: 'old' }, historySeq: 4 })).toEqual({ kind: 'waiting', migrating: true });
  });
});

describe('waitForLiveMigration', () => {
  const client = (replies: OneVm[]): OneClient => ({ vmInfo: async () => replies.shift() ?? replies[replies.length - 1]! }) as unknown as OneClient;
  const wait = { now: () => 0, sleep: async () => undefined, timeoutMs: 60_000, timeoutSetting: 'MIGRATION_TIMEOUT', before };

  it('asks libvirt on the destination once oned says done; a domain it does not run fails the migration', async () => {
    const seen: number[] = [];
    await expect(
      waitForLiveMigration(client([vm({}), vm({ lcmState: MIGRATE }), vm({})]), 7, 2, { ...wait, domainRuns: async (v) => (seen.push(v.hostId!), false) }),
    ).rejects.toThrow(/oned says done but libvirt on host 2 does not run one-7/);
    expect(seen).toEqual([2]);
    await expect(waitForLiveMigration(client([vm({ lcmState: MIGRATE }), vm({})]), 7, 2, { ...wait, domainRuns: async () => true })).resolves.toBeUndefined();
  });
});
