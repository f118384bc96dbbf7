// The planner's cloud for the cloudvamp-plan tests: the oned simulator with the
// planning fixtures, and a temporary home whose one_auth holds its session,
// reached the way OpenNebula's own tools find them (ONE_XMLRPC, ONE_AUTH).
// Shared by test/cli/plan-oned.test.ts (unit) and plan-bundle.test.ts (the
// built bundle, artefacts project), which are two files only so that each
// lands in its project. Every reply the simulator served must validate
// against oned's schemas.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import { parseHost } from '../../lib/oned/models';
import { PLANNING_HOST_FIXTURES, PLANNING_VM_FIXTURES } from '../lib/planning/oned-fixtures';
import { DEFAULT_SESSION, startOnedSimulator, type OnedSimulator } from './oned-server';

/** The calls cloudvamp-plan makes to read the cloud; a dry run makes no other. */
export const PLAN_READS = new Set(['one.vmgrouppool.info', 'one.vmpool.infoextended', 'one.vmpool.monitoring', 'one.hostpool.info']);

export interface PlanningCloud {
  readonly sim: OnedSimulator;
  /** the temporary home, holding one_auth */
  readonly dir: string;
  /** ONE_XMLRPC and ONE_AUTH for this test's simulator; a test may change it */
  readonly env: Record<string, string>;
  /** IDs of the VMs oned lists on the host */
  vmsOn(hostId: number): number[];
}

/** Registers, in the calling test file, a fresh planning cloud for each test; read it through the returned object inside tests. */
export function planningCloud(): PlanningCloud {
  let current: { sim: OnedSimulator; dir: string; env: Record<string, string> } | undefined;
  const get = () => {
    if (!current) throw new Error('planningCloud(): read it inside a test, after its beforeEach');
    return current;
  };
  beforeEach(async () => {
    const sim = await startOnedSimulator({ strictSchemas: true, hostFixtures: PLANNING_HOST_FIXTURES, vmFixtures: PLANNING_VM_FIXTURES });
    const dir = await mkdtemp(path.join(tmpdir(), 'cloudvamp-plan-'));
    await writeFile(path.join(dir, 'one_auth'), `${DEFAULT_SESSION}\n`, { mode: 0o600 });
    current = { sim, dir, env: { ONE_XMLRPC: sim.url, ONE_AUTH: path.join(dir, 'one_auth') } };
  });
  afterEach(async () => {
    const { sim, dir } = get();
    current = undefined;
    try {
      expect(sim.schemaViolations).toEqual([]);
    } finally {
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
  return {
    get sim() {
      return get().sim;
    },
    get dir() {
      return get().dir;
    },
    get env() {
      return get().env;
    },
    vmsOn: (hostId) => parseHost(get().sim.hostXml(hostId)).vmIds,
  };
}
