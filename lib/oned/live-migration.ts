// Waiting for a live migration oned accepted (one.vm.migrate returns at once)
// to end: the planner's applier and the elasticity manager's relief
// migrations both need it, and both must tell a failure from slowness.
//
// What oned does (7.4, src/lcm/LifeCycleActions.cc, LifeCycleStates.cc):
// one.vm.migrate adds a HISTORY record on the destination and returns; the
// LCM switches the VM to MIGRATE later, asynchronously. So right after the
// call oned shows the VM RUNNING with the destination as its last host,
// before anything moved: that alone proves nothing. On success the LCM sets
// the record's RSTIME and goes back to RUNNING; on failure it copies the
// source's record as a new one (RUNNING on the source again, "Fail to live
// migrate VM" in the log, the driver's message in USER_TEMPLATE/ERROR).
//
// Done therefore means: RUNNING, last HISTORY on the destination, and either
// MIGRATE was seen since the call or that record is new (SEQ past the one
// before the call) with its RSTIME set — and, when the caller can ask,
// libvirt on the destination runs the domain.
import { CloudvampError } from '../errors';
import { pollUntil } from '../poll-until';
import type { OneClient } from './client';
import { LcmState, VmState, type OneVm } from './models';

export interface LiveMigrationWait {
  sleep(ms: number): Promise<void>;
  now(): number;
  /** between two `one.vm.info` polls; default 2 s */
  pollMs?: number;
  timeoutMs: number;
  /** what the operator can raise when the wait times out, e.g. "--migration-timeout" */
  timeoutSetting: string;
  /**
   * The VM as `one.vm.info` showed it before one.vm.migrate, when the caller
   * read it: a new USER_TEMPLATE/ERROR is the driver's failure message, and a
   * HISTORY SEQ past its own is a record the migration added.
   */
  before?: Pick<OneVm, 'userTemplate' | 'historySeq'>;
  /**
   * Does libvirt on the destination run the domain now? Asked once oned says
   * the migration is done; false or a rejection fails the migration.
   */
  domainRuns?: (vm: OneVm) => Promise<boolean>;
}

/** Pure: what one `one.vm.info` reply says about the migration to `hostId`. */
export function migrationProgress(
  vm: OneVm,
  hostId: number,
  seenMigrating: boolean,
  before: LiveMigrationWait['before'],
): { kind: 'done' } | { kind: 'failed'; why: string } | { kind: 'left'; state: number } | { kind: 'waiting'; migrating: boolean } {
  if (vm.state !== VmState.ACTIVE) return { kind: 'left', state: vm.state };
  if (vm.lcmState !== LcmState.RUNNING) return { kind: 'waiting', migrating: true };
  const error = vm.userTemplate.ERROR;
  if (before !== undefined && error !== undefined && error !== before.userTemplate.ERROR)
    return { kind: 'failed', why: `it runs on host ${vm.hostId} again (${error})` };
  const newRecord = before?.historySeq !== undefined && vm.historySeq !== undefined && vm.historySeq > before.historySeq;
  if (vm.hostId === hostId) {
    // RUNNING on the destination before MIGRATE was seen is also what oned shows before it switched to MIGRATE.
    if (seenMigrating || (newRecord && (vm.runningSince ?? 0) > 0)) return { kind: 'done' };
    return { kind: 'waiting', migrating: false };
  }
  // RUNNING elsewhere after the call: oned put a VM whose live migration failed back on its source.
  if (seenMigrating || newRecord) return { kind: 'failed', why: `it runs on host ${vm.hostId} again` };
  return { kind: 'waiting', migrating: false };
}

/** Polls `one.vm.info` until the migration to `hostId` is done; throws when it failed, left ACTIVE or took too long. */
export async function waitForLiveMigration(client: OneClient, vmId: number, hostId: number, wait: LiveMigrationWait): Promise<void> {
  let seenMigrating = false;
  let lcmState = 0;
  const outcome = await pollUntil(wait, { timeoutMs: wait.timeoutMs, intervalMs: wait.pollMs ?? 2_000 }, async () => {
    const vm = await client.vmInfo(vmId);
    lcmState = vm.lcmState;
    const p = migrationProgress(vm, hostId, seenMigrating, wait.before);
    if (p.kind === 'left') throw new CloudvampError('oned', `VM ${vmId} left ACTIVE (STATE ${p.state}) while migrating to host ${hostId}; see \`onevm show ${vmId}\``);
    if (p.kind === 'failed') throw new CloudvampError('oned', `live migration of VM ${vmId} to host ${hostId} failed: ${p.why}; see \`onevm show ${vmId}\``);
    if (p.kind === 'done') {
      if (wait.domainRuns && !(await wait.domainRuns(vm)))
        throw new CloudvampError('oned', `live migration of VM ${vmId} to host ${hostId}: oned says done but libvirt on ${vm.hostname ?? `host ${hostId}`} does not run ${vm.deployId}; see \`onevm show ${vmId}\``);
      return true;
    }
    if (p.migrating) seenMigrating = true;
    return undefined;
  });
  if (!outcome.done) {
    throw new CloudvampError(
      'oned',
      `live migration of VM ${vmId} to host ${hostId} not done after ${Math.round(wait.timeoutMs / 1000)} s (LCM_STATE ${lcmState}); check \`onevm show ${vmId}\` or raise ${wait.timeoutSetting}`,
    );
  }
}
