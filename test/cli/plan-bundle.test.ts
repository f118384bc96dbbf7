// The built cloudvamp-plan bundle (esbuild, as installed) against the in-process
// oned simulator: an evacuation applied end to end, then nothing left to do and
// a usage error. In the artefacts project: it builds and runs an executable.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseHost } from '../../lib/oned/models';
import { PLANNING_HOST_FIXTURES, PLANNING_VM_FIXTURES } from '../lib/planning/oned-fixtures';
import { DEFAULT_SESSION, startOnedSimulator, type OnedSimulator } from '../support/oned-server';

const root = fileURLToPath(new URL('../..', import.meta.url));
const READS = new Set(['one.vmgrouppool.info', 'one.vmpool.infoextended', 'one.vmpool.monitoring', 'one.hostpool.info']);

let sim: OnedSimulator;
let dir: string;
let env: Record<string, string>;

beforeEach(async () => {
  sim = await startOnedSimulator({ strictSchemas: true, hostFixtures: PLANNING_HOST_FIXTURES, vmFixtures: PLANNING_VM_FIXTURES });
  dir = await mkdtemp(path.join(tmpdir(), 'cloudvamp-plan-'));
  await writeFile(path.join(dir, 'one_auth'), `${DEFAULT_SESSION}\n`, { mode: 0o600 });
  env = { ONE_XMLRPC: sim.url, ONE_AUTH: path.join(dir, 'one_auth') };
});
afterEach(async () => {
  expect(sim.schemaViolations).toEqual([]);
  await sim.close();
  await rm(dir, { recursive: true, force: true });
});

const vmsOn = (hostId: number) => parseHost(sim.hostXml(hostId)).vmIds;

describe('the built cloudvamp-plan bundle', () => {
  it('applies an evacuation against the simulator', { timeout: 120_000 }, async () => {
    const out = path.join(dir, 'dist');
    await execa('node', ['scripts/build.mjs', 'bin/cloudvamp-plan'], { cwd: root, env: { CLOUDVAMP_BUILD_DIR: out } });
    const dry = await execa(path.join(out, 'bin/cloudvamp-plan'), ['evacuate', 'kvm-node-2'], { env: { ...env, HOME: dir }, reject: false });
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toMatch(/^plan evacuate: 1 migrations in 1 waves, 4\.0 GiB to move \(dry run\)/);
    expect(sim.calls.every((c) => READS.has(c.method))).toBe(true);

    const r = await execa(path.join(out, 'bin/cloudvamp-plan'), ['evacuate', 'kvm-node-2', '--apply'], { env: { ...env, HOME: dir }, reject: false });
    expect(r.stderr).toMatch(/^applying plan evacuate: 1 live migrations in 1 waves\n\[\s+0\.\ds\] wave 1\/1: 1 migration\n.*VM 43 db-1: 1 kvm-node-2 → \d kvm-node-\d started\n.*done after/);
    expect(r.stdout).toMatch(/\n\n1 migrations done, 0 failed, 0 not started$/);
    expect(r.exitCode).toBe(0);
    expect(sim.callsTo('one.vm.migrate').map((c) => c.params.slice(0, 4))).toEqual([[43, expect.any(Number), true, false]]);
    expect(vmsOn(1)).toEqual([]);

    // Nothing left to do: exit 0, and a usage error exits 2 with one stderr line.
    const again = await execa(path.join(out, 'bin/cloudvamp-plan'), ['evacuate', 'kvm-node-2', '--apply'], { env: { ...env, HOME: dir }, reject: false });
    expect([again.exitCode, again.stdout.split('\n').at(-1)]).toEqual([0, 'nothing to migrate']);
    const usage = await execa(path.join(out, 'bin/cloudvamp-plan'), ['evacuate', '--apply', '--snapshot', 'x.json'], { env: { ...env, HOME: dir }, reject: false });
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toMatch(/^cloudvamp-plan: /);
  });
});
