// Waiting for a live migration oned accepted (one.vm.migrate returns at once)
// to end: the planner's applier and the elasticity manager's relief
// migrations both need it, and both must tell a failure from slowness.
import { CloudvampError } from '../errors';
import type { OneClient } from './client';
import { LcmState, VmState } from './models';

export interface LiveMigrationWait {
  sleep(ms: number): Promise<void>;
  now(): number;
  /** between two `one.vm.info` polls; default 2 s */
  pollMs?: number;
  timeoutMs: number;
  /** what the operator can raise when the wait times out, e.g. "--migration-timeout" */
  timeoutSetting: string;
  /**
   * USER_TEMPLATE/ERROR as it was before one.vm.migrate, when the caller read it:
   * oned writes the driver's message there when a live migration fails, so a
   * new ERROR is a failure even if no poll caught the MIGRATE state in between.
   */
  errorBefore?: { value: string | undefined };
}

/** Polls `one.vm.info` until the VM runs on `hostId`; throws when it failed, left ACTIVE or took too long. */
export async function waitForLiveMigration(client: OneClient, vmId: number, hostId: number, wait: LiveMigrationWait): Promise<void> {
  const deadline = wait.now() + wait.timeoutMs;
  let seenMigrating = false;
  for (;;) {
    const vm = await client.vmInfo(vmId);
    if (vm.state === VmState.ACTIVE && vm.lcmState === LcmState.RUNNING && vm.hostId === hostId) return;
    if (vm.state !== VmState.ACTIVE) {
      throw new CloudvampError('oned', `VM ${vmId} left ACTIVE (STATE ${vm.state}) while migrating to host ${hostId}; see \`onevm show ${vmId}\``);
    }
    if (vm.lcmState !== LcmState.RUNNING) seenMigrating = true;
    else {
      // RUNNING but elsewhere: oned puts a VM whose live migration failed back on its source.
      const error = vm.userTemplate.ERROR;
      const newError = wait.errorBefore !== undefined && error !== undefined && error !== wait.errorBefore.value;
      if (seenMigrating || newError) {
        throw new CloudvampError(
          'oned',
          `live migration of VM ${vmId} to host ${hostId} failed: it runs on host ${vm.hostId} again${newError ? ` (${error})` : ''}; see \`onevm show ${vmId}\``,
        );
      }
    }
    if (wait.now() >= deadline) {
      throw new CloudvampError(
        'oned',
        `live migration of VM ${vmId} to host ${hostId} not done after ${Math.round(wait.timeoutMs / 1000)} s (LCM_STATE ${vm.lcmState}); check \`onevm show ${vmId}\` or raise ${wait.timeoutSetting}`,
      );
    }
    await wait.sleep(wait.pollMs ?? 2_000);
  }
}
