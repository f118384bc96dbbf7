// The built cloudvamp-plan bundle (esbuild, as installed) against the in-process
// oned simulator: an evacuation applied end to end, then nothing left to do and
// a usage error. In the artefacts project: it builds and runs an executable.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { PLAN_READS, planningCloud } from '../support/planning-cloud';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cloud = planningCloud();

describe('the built cloudvamp-plan bundle', () => {
  it('applies an evacuation against the simulator', { timeout: 120_000 }, async () => {
    const out = path.join(cloud.dir, 'dist');
    await execa('node', ['scripts/build.mjs', 'bin/cloudvamp-plan'], { cwd: root, env: { CLOUDVAMP_BUILD_DIR: out } });
    const dry = await execa(path.join(out, 'bin/cloudvamp-plan'), ['evacuate', 'kvm-node-2'], { env: { ...cloud.env, HOME: cloud.dir }, reject: false });
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toMatch(/^plan evacuate: 1 migrations in 1 waves, 4\.0 GiB to move \(dry run\)/);
    expect(cloud.sim.calls.every((c) => PLAN_READS.has(c.method))).toBe(true);

    const r = await execa(path.join(out, 'bin/cloudvamp-plan'), ['evacuate', 'kvm-node-2', '--apply'], { env: { ...cloud.env, HOME: cloud.dir }, reject: false });
    expect(r.stderr).toMatch(/^applying plan evacuate: 1 live migrations in 1 waves\n\[\s+0\.\ds\] wave 1\/1: 1 migration\n.*VM 43 db-1: 1 kvm-node-2 → \d kvm-node-\d started\n.*done after/);
    expect(r.stdout).toMatch(/\n\n1 migrations done, 0 failed, 0 not started$/);
    expect(r.exitCode).toBe(0);
    expect(cloud.sim.callsTo('one.vm.migrate').map((c) => c.params.slice(0, 4))).toEqual([[43, expect.any(Number), true, false]]);
    expect(cloud.vmsOn(1)).toEqual([]);

    // Nothing left to do: exit 0, and a usage error exits 2 with one stderr line.
    const again = await execa(path.join(out, 'bin/cloudvamp-plan'), ['evacuate', 'kvm-node-2', '--apply'], { env: { ...cloud.env, HOME: cloud.dir }, reject: false });
    expect([again.exitCode, again.stdout.split('\n').at(-1)]).toEqual([0, 'nothing to migrate']);
    const usage = await execa(path.join(out, 'bin/cloudvamp-plan'), ['evacuate', '--apply', '--snapshot', 'x.json'], { env: { ...cloud.env, HOME: cloud.dir }, reject: false });
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toMatch(/^cloudvamp-plan: /);
  });
});
