// The built cloudvamp-cvem (esbuild bundle, as installed) against the oned
// simulator: authentication refused, `status`, and SIGTERM in the middle of a
// step. Built once into a temp dir so this never races tests writing dist/.
// The binary runs on the real clock, so the simulator does too, and the
// guests' monitoring records are refreshed before each run.
import { execa, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lockFileOf, readStateFile } from '../../lib/io/state-file';
import { parseVm } from '../../lib/oned/models';
import { DEFAULT_SESSION, startOnedSimulator, type OnedSimulator } from '../support/oned-server';
import { fixtures, GiB, GUEST_KEYS, methods, MiB, mutating } from './harness';

const root = path.resolve(__dirname, '../..');
let bin = '';

beforeAll(async () => {
  const out = await mkdtemp(path.join(tmpdir(), 'cvem-build-'));
  await execa('node', [path.join(root, 'scripts/build.mjs'), 'bin/cloudvamp-cvem'], { cwd: root, env: { CLOUDVAMP_BUILD_DIR: out } });
  bin = path.join(out, 'bin/cloudvamp-cvem');
}, 60_000);

let sim: OnedSimulator | undefined;
afterEach(async () => {
  expect(sim?.schemaViolations ?? []).toEqual([]);
  await sim?.close();
  sim = undefined;
});

/** A simulator with fresh guest figures, and a config + one_auth (0600) for the binary. */
async function setup(opts: { session?: string; vms?: string[] } = {}) {
  sim = await startOnedSimulator({ vmFixtures: opts.vms ?? [fixtures.idle, fixtures.tiny], hostFixtures: [fixtures.hostA], strictSchemas: true, extraMonitoringKeys: GUEST_KEYS });
  for (const id of opts.vms ? [] : [100, 101]) sim.setVmMonitoring(id, {}); // same figures, stamped now
  const dir = await mkdtemp(path.join(tmpdir(), 'cvem-bin-'));
  const auth = path.join(dir, 'one_auth');
  await writeFile(auth, `${opts.session ?? DEFAULT_SESSION}\n`);
  await chmod(auth, 0o600);
  const stateFile = path.join(dir, 'cvem-state.json');
  const config = path.join(dir, 'cvem.conf');
  // SHRINK_WARMUP=0: the binary adopts these VMs in its first cycle and is to shrink them there
  await writeFile(config, `APPLY_MODE=resize\nSTATE_FILE=${stateFile}\nONE_XMLRPC=${sim.url}\nONE_AUTH=${auth}\nSHRINK_WARMUP=0\n`);
  const run = (args: string[]) =>
    execa('node', [bin, '--config', config, ...args], { reject: false, env: { HOME: dir, PATH: process.env.PATH! }, extendEnv: false, timeout: 20_000 });
  return { sim, dir, stateFile, config, run };
}

describe('cloudvamp-cvem (built) against the oned simulator', () => {
  // `run` too: a daemon that cannot log in stops at once (systemd shows why) instead of retrying every INTERVAL.
  it.each(['run --once', 'run', 'status', 'restore-all'])('oned refusing authentication: one clear error line, exit 1 (%s)', async (command) => {
    const { run, stateFile } = await setup({ session: 'oneadmin:wrong-password' });
    const r = await run(command.split(' '));
    expect(r.exitCode).toBe(1);
    // (status also logs the config's advice to stderr, as JSON)
    const lines = r.stderr.split('\n').filter((l) => !l.startsWith('{"'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^cloudvamp-cvem: oned refused one\.(vmpool\.infoextended|vmpool\.monitoring|hostpool\.info) \(AUTHENTICATION 0x100\): \[one\.\S+\] User couldn't be authenticated, aborting call\. — check the user:password in the cloudvamp config or the ONE_AUTH file$/,
    );
    expect(methods(mutating(sim!.calls))).toEqual([]);
    expect(existsSync(lockFileOf(stateFile))).toBe(false);
  });

  it('run --once shrinks, then status prints original, current, used, free % and the last action', async () => {
    const { run, sim } = await setup();
    const once = await run(['run', '--once']);
    expect(once.stderr).toBe('');
    expect(once.exitCode).toBe(0);
    expect(once.stdout.split('\n').map((l) => JSON.parse(l).msg)).toContain('cycle done');
    expect(sim.callsTo('one.vm.resize').map((c) => c.params.slice(0, 2))).toEqual([
      [100, 'MEMORY = "1607"\n'],
      [101, 'MEMORY = "256"\n'],
    ]);
    // the guests report again at their new size (VM 100: same 1 GiB used)
    const deficit = 4 * GiB - 4046844;
    sim.setVmMonitoring(100, { REALMEMORY: 1607 * MiB, GUEST_MEMTOTAL: 1607 * MiB - deficit, GUEST_MEMAVAILABLE: 1607 * MiB - deficit - GiB });

    const status = await run(['status']);
    // stdout is the table alone; the config's advice goes to stderr
    expect(status.stderr.split('\n').map((l) => JSON.parse(l))).toEqual([expect.objectContaining({ level: 'warn', key: 'APPLY_MODE' })]);
    expect(status.exitCode).toBe(0);
    const rows = status.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^VM\s+NAME\s+HOST\s+ORIGINAL\s+CURRENT\s+USED\s+FREE%\s+LAST ACTION$/);
    expect(rows[1]).toMatch(/^100\s+idle-web\s+cvamp-a\s+4096\s+1607\s+1024\s+30\.0\s+shrink 4096→1607 ok \d+s ago$/);
    // VM 101's figures still predate its shrink: not shown rather than wrong
    expect(rows[2]).toMatch(/^101\s+tiny-idle\s+cvamp-a\s+1024\s+256\s+-\s+-\s+shrink 1024→256 ok \d+s ago$/);
    expect(rows).toHaveLength(3);
  });

  it('SIGTERM mid-step: the step finishes, the rest is skipped, exit 0, state file intact, lock released', async () => {
    const { run, sim, stateFile } = await setup();
    // Deliver SIGTERM the moment oned receives the first one.vm.resize: the daemon is inside that step
    // (the resize applier then waits for oned to show the VM RUNNING again).
    let child: ResultPromise | undefined;
    let sent = false;
    const handle = sim.handle.bind(sim);
    sim.handle = (body: string) => {
      const reply = handle(body);
      if (!sent && sim.calls.at(-1)?.method === 'one.vm.resize') {
        sent = true;
        child!.kill('SIGTERM');
      }
      return reply;
    };
    child = run(['run']);
    const r = await child;
    expect(sent).toBe(true);
    expect(r.stderr).toBe('');
    expect([r.exitCode, r.signal]).toEqual([0, undefined]);

    // VM 100's original went to oned, its shrink completed and was confirmed; VM 101's never started; nothing was published after the signal.
    expect(methods(mutating(sim.calls))).toEqual(['one.vm.update', 'one.vm.resize']);
    expect(sim.calls.at(-1)).toMatchObject({ method: 'one.vm.info', params: [100, false] });
    expect(parseVm(sim.vmXml(100)).templateMemoryMiB).toBe(1607);
    expect(parseVm(sim.vmXml(101)).templateMemoryMiB).toBe(1024);
    const events = String(r.stdout)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toContainEqual(expect.objectContaining({ event: 'shrink', vmId: 100, result: 'ok' }));
    expect(events).toContainEqual(expect.objectContaining({ event: 'shrink', vmId: 101, result: 'skipped', skipReason: 'stopping' }));
    expect(events.at(-1)).toMatchObject({ event: 'stop', cycles: 1 });

    const state = await readStateFile(stateFile);
    expect(state.vms['100']).toMatchObject({ originalKiB: 4 * GiB, lastAction: { toKiB: 1607 * MiB, result: 'ok' } });
    expect(state.vms['101']).toMatchObject({ originalKiB: GiB, lastAction: { result: 'skipped' } });
    expect(JSON.parse(await readFile(stateFile, 'utf8'))).toEqual(state);
    expect(existsSync(lockFileOf(stateFile))).toBe(false);
  });
});
