// The simulator's onMigrate hook, which real-guest tests use to migrate the
// domain for real as oned's VMM driver would: the VM is in LCM MIGRATE while
// the hook runs, the call answers only after it, and a failed hook is oned's
// ACTION failure with the VM still running on its source.
import { afterEach, describe, expect, it } from 'vitest';
import { createOneClient, type OneClient } from '../../../lib/oned/client';
import { OnedError } from '../../../lib/oned/errors';
import { LcmState } from '../../../lib/oned/models';
import { DEFAULT_SESSION, startOnedSimulator, type OnedSimulator } from '../../support/oned-server';

let sim: OnedSimulator | undefined;
afterEach(async () => {
  expect(sim?.schemaViolations).toEqual([]);
  await sim?.close();
  sim = undefined;
});

async function simulatorWithHook(hook: (vmId: number, from: number, to: number, live: boolean) => Promise<void>): Promise<OneClient> {
  sim = await startOnedSimulator({ strictSchemas: true, onMigrate: hook });
  return createOneClient({ endpoint: sim.url, session: DEFAULT_SESSION }, { timeoutMs: 5000 });
}

describe('onMigrate hook', () => {
  it('runs with the source and destination while the VM is in MIGRATE, and the call answers after it', async () => {
    const seen: Array<{ args: unknown[]; lcmDuring: number }> = [];
    let observer: OneClient | undefined;
    const client = await simulatorWithHook(async (vmId, from, to, live) => {
      seen.push({ args: [vmId, from, to, live], lcmDuring: (await observer!.vmInfo(vmId)).lcmState });
    });
    observer = createOneClient({ endpoint: sim!.url, session: DEFAULT_SESSION }, { timeoutMs: 5000 });
    await client.vmMigrate(42, 1, { live: true, enforce: false });
    expect(seen).toEqual([{ args: [42, 0, 1, true], lcmDuring: LcmState.MIGRATE }]);
    expect(await client.vmInfo(42)).toMatchObject({ hostId: 1, lcmState: LcmState.RUNNING });
  });

  it('a failing hook is an ACTION failure and leaves the VM running on its source', async () => {
    const client = await simulatorWithHook(async () => {
      throw new Error('migration to kvm-node-2 failed: No route to host');
    });
    const error = await client.vmMigrate(42, 1, { live: true, enforce: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OnedError);
    expect((error as OnedError).codeName).toBe('ACTION');
    expect((error as OnedError).message).toContain('No route to host');
    expect(await client.vmInfo(42)).toMatchObject({ hostId: 0, lcmState: LcmState.RUNNING });
  });

  it("oned's own checks run before the hook: a refused migration never reaches it", async () => {
    let called = false;
    const client = await simulatorWithHook(async () => {
      called = true;
    });
    await expect(client.vmMigrate(42, 0, { live: true, enforce: false })).rejects.toBeInstanceOf(OnedError);
    expect(called).toBe(false);
  });
});
