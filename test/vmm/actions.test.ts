// The built VMM actions against libvirt's test driver: every bad input gives
// one clear stderr line and a non-zero exit without changing anything, and
// each action does its job on the driver's running "test" domain. Each process
// gets a fresh test:///default (one running domain "test", 8 GiB max, 2 GiB
// current), so these show the action's behaviour, not state across calls.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS, type ActionName } from '../../lib/vmm/actions';
import { makeRemotes, runAction, type Remotes } from './remotes';

let remotes: Remotes;
const run = (action: string, args: string[], options?: Parameters<typeof runAction>[3]) => runAction(remotes, action, args, options);

beforeAll(async () => {
  remotes = await makeRemotes();
  // the product's config location, relative to the executables
  remotes.configure('LIBVIRT_URI=test:///default\nSHUTDOWN_TIMEOUT=5\nMEMORY_FLOOR_MIB=128\n');
}, 120_000);
afterAll(() => remotes?.cleanup());

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TEST_XML = "<domain type='test'><name>one-77</name><memory unit='MiB'>256</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>\n";
const resizeXml = (mib: number, old = 2048) =>
  `<VMM_DRIVER_ACTION_DATA><HOST>h1</HOST><VM><ID>1</ID><TEMPLATE><MEMORY>${mib}</MEMORY><MEMORY_RESIZE_MODE>BALLOONING</MEMORY_RESIZE_MODE><VCPU>1</VCPU><RESIZE><MEMORY>${old}</MEMORY><VCPU>1</VCPU></RESIZE></TEMPLATE></VM></VMM_DRIVER_ACTION_DATA>\n`;

function expectOneLineFailure(r: Awaited<ReturnType<typeof run>>, action: string, message: RegExp, exitCode = 1) {
  expect(r.exitCode).toBe(exitCode);
  expect(r.stdout).toBe('');
  expect(r.errorLines).toHaveLength(1);
  expect(r.errorLines[0]).toMatch(new RegExp(`^${action}: `));
  expect(r.errorLines[0]).toMatch(message);
}

describe('every action', () => {
  it.each(Object.keys(ACTIONS) as ActionName[])('%s --help prints its argv and exits 0', async (action) => {
    const r = await run(action, ['--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`Usage: ${action} [options] ${ACTIONS[action].args.map((a) => `<${a.name}>`).join(' ')}`);
  });

  it.each(Object.keys(ACTIONS) as ActionName[])('%s refuses a missing argument (exit 2, one line)', async (action) => {
    const args = ACTIONS[action].args.slice(0, -1).map(() => 'x');
    expectOneLineFailure(await run(action, args), action, /missing required argument .*\(usage: /, 2);
  });

  it.each(Object.keys(ACTIONS) as ActionName[])('%s refuses an extra argument and an unknown option', async (action) => {
    const args = ACTIONS[action].args.map(() => 'x');
    expectOneLineFailure(await run(action, [...args, 'extra']), action, /too many arguments/, 2);
    expectOneLineFailure(await run(action, ['--bogus', ...args]), action, /unknown option '--bogus'/, 2);
  });
});

describe('bad input', () => {
  it.each([
    ['shutdown', ['one-404', 'h1', '1', 'h1']],
    ['cancel', ['one-404', 'h1', '1', 'h1']],
    ['reboot', ['one-404', 'h1', '1', 'h1']],
    ['reset', ['one-404', 'h1', '1', 'h1']],
    ['save', ['one-404', '/tmp/cv-never/checkpoint', 'h1', '1', 'h1']],
    ['migrate', ['one-404', 'h2', 'h1', '1', 'h1']],
    ['memory', ['one-404', '1048576', 'h1']],
  ])('%s names an unknown domain', async (action, args) => {
    expectOneLineFailure(await run(action, args), action, /domain 'one-404' not found on test:\/\/\/default/);
  });

  it('deploy refuses malformed XML and writes no deployment file', async () => {
    const file = remotes.file('ds', '0', '77', 'deployment.0');
    expectOneLineFailure(await run('deploy', [file, 'h1', '77', 'h1'], { input: '<domain><name>one-77</name>' }), 'deploy', /malformed domain XML on stdin/, 2);
    expect(existsSync(file)).toBe(false);
  });

  it('deploy refuses a relative deployment path', async () => {
    expectOneLineFailure(await run('deploy', ['deployment.0', 'h1', '77', 'h1'], { input: TEST_XML }), 'deploy', /deployment_file 'deployment.0' is not an absolute path/, 2);
  });

  it('resize refuses malformed action XML', async () => {
    expectOneLineFailure(await run('resize', ['test', '1', 'h1'], { input: '<VMM_DRIVER_ACTION_DATA><VM>' }), 'resize', /malformed action XML on stdin/, 2);
  });

  it('memory refuses more than the maximum and less than the floor, changing nothing', async () => {
    expectOneLineFailure(await run('memory', ['test', String(9 * 1024 * 1024), 'h1']), 'memory', /9216 MiB .* above the VM's maximum 8192 MiB/);
    expectOneLineFailure(await run('memory', ['test', String(64 * 1024), 'h1']), 'memory', /below the floor of 128 MiB/);
    expectOneLineFailure(await run('memory', ['test', '12M', 'h1']), 'memory', /new_kib '12M' is not a size in KiB/, 2);
  });

  it('resize refuses MEMORY above the maximum', async () => {
    expectOneLineFailure(await run('resize', ['test', '1', 'h1'], { input: resizeXml(10_240) }), 'resize', /above the VM's maximum 8192 MiB/);
  });

  it('a broken config is one line naming the file, line and fix', async () => {
    const file = remotes.file('broken.conf');
    writeFileSync(file, 'MIGRATE_OPTIONS="--unsafe --turbo"\n');
    const r = await run('cancel', ['test', 'h1', '1', 'h1'], { env: { CLOUDVAMP_VMM_CONFIG: file } });
    expectOneLineFailure(r, 'cancel', /broken\.conf: line 1: MIGRATE_OPTIONS: unknown migration option '--turbo' \(known: /);
  });

  it('migrate refuses the source as destination and a host that is not a host name', async () => {
    expectOneLineFailure(await run('migrate', ['test', 'h1', 'h1', '1', 'h1']), 'migrate', /destination h1 is the source host/, 2);
    expectOneLineFailure(await run('migrate', ['test', 'h2/system?x', 'h1', '1', 'h1']), 'migrate', /dest_host 'h2\/system\?x' is not a host name/, 2);
  });
});

describe('on the test driver', () => {
  it('deploy writes the deployment file, starts the domain and prints its UUID', async () => {
    const file = remotes.file('ds', '0', '77', 'deployment.0');
    const r = await run('deploy', [file, 'h1', '77', 'h1'], { input: TEST_XML });
    expect(r.errorLines).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toMatch(UUID_RE);
    // what was started, with the balloon stats period deploy adds (the test driver's "QEMU" is too old for the rest)
    expect(readFileSync(file, 'utf8')).toMatch(/^<domain type="test"><name>one-77<\/name><metadata><size [^>]*oned_kib="262144"\/><\/metadata>.*<memballoon model="virtio"><stats period="5"\/><\/memballoon>/);
  });

  it('deploy --check says what this host supports and what deploy adds', async () => {
    const r = await run('deploy', ['--check']);
    expect(r.errorLines).toEqual([]);
    expect(r.stdout).toMatch(/^LIBVIRT_VERSION=\d+\.\d+\.\d+ QEMU_VERSION=\d+\.\d+\.\d+\nBALLOON_STATS_PERIOD=5: stats every 5 s\nBALLOON_AUTODEFLATE=auto: (not )?supported by this host, (on|off)\nBALLOON_FREE_PAGE_REPORTING=auto: /);
  });

  it.each([
    ['shutdown', ['test', 'h1', '1', 'h1']],
    ['cancel', ['test', 'h1', '1', 'h1']],
    ['reboot', ['test', 'h1', '1', 'h1']],
    ['reset', ['test', 'h1', '1', 'h1']],
  ])('%s succeeds silently', async (action, args) => {
    const r = await run(action, args);
    expect({ exit: r.exitCode, stdout: r.stdout, errors: r.errorLines }).toEqual({ exit: 0, stdout: '', errors: [] });
  });

  it('save writes the checkpoint, restore brings the domain back from it', async () => {
    const checkpoint = remotes.file('ds', '0', '1', 'checkpoint');
    const saved = await run('save', ['test', checkpoint, 'h1', '1', 'h1']);
    expect(saved.exitCode, saved.stderr).toBe(0);
    expect(existsSync(checkpoint)).toBe(true);
    // a fresh test:///default still runs "test": restoring on top of it is refused
    expectOneLineFailure(await run('restore', [checkpoint, 'h1', 'test', '1', 'h1']), 'restore', /domain test is already Running/);
    // a node without domains, as the host is after save
    const node = remotes.file('empty-node.xml');
    writeFileSync(node, '<node><cpu><mode>fixed</mode><model>i686</model></cpu></node>\n');
    const restored = await run('restore', [checkpoint, 'h1', 'test', '1', 'h1', '--uri', `test://${node}`]);
    expect({ exit: restored.exitCode, errors: restored.errorLines, stderr: restored.stderr }).toEqual({ exit: 0, errors: [], stderr: '' });
  });

  it('memory sets the balloon and prints the size reached', async () => {
    const r = await run('memory', ['test', '1048576', 'h1']);
    expect(r.errorLines).toEqual([]);
    expect(r.stdout.trim()).toMatch(/^ACTUAL_KIB=1048576 TARGET_KIB=1048576 PREVIOUS_KIB=2097152 SETTLE_MS=\d+$/);
  });

  it('resize balloons to the template MEMORY', async () => {
    const r = await run('resize', ['test', '1', 'h1'], { input: resizeXml(1024) });
    expect({ exit: r.exitCode, errors: r.errorLines }).toEqual({ exit: 0, errors: [] });
    expect(r.stderr).toMatch(/^INFO: resize: test balloon 2048 -> 1024 MiB in \d+ ms$/m);
  });

  it('resize hands a VCPU change to the stock kvm script beside it, same argv and stdin', async () => {
    const record = remotes.file('stock-resize.log');
    const stock = remotes.file('remotes', 'vmm', 'kvm', 'resize');
    mkdirSync(remotes.file('remotes', 'vmm', 'kvm'), { recursive: true });
    writeFileSync(stock, `#!/bin/sh\nprintf '%s\\n' "$@" > '${record}'\ncat >> '${record}'\n`);
    chmodSync(stock, 0o755);
    const input = resizeXml(2048).replace('<VCPU>1</VCPU><RESIZE>', '<VCPU>2</VCPU><RESIZE>');
    const r = await run('resize', ['test', '1', 'h1'], { input });
    expect({ exit: r.exitCode, errors: r.errorLines }).toEqual({ exit: 0, errors: [] });
    expect(readFileSync(record, 'utf8')).toBe(`test\n1\nh1\n${input}`);
  });

  it('poll prints the legacy POLL line', async () => {
    const r = await run('poll', ['test', 'h1', '1', 'h1']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toMatch(/^STATE=a( [A-Z]+=\S+)*$/);
    const gone = await run('poll', ['one-404', 'h1', '1', 'h1']);
    expect(gone.stdout.trim()).toBe('STATE=d');
  });

  it('migrate fails on a driver without migration and says the VM still runs on the source', async () => {
    const config = remotes.file('p2p.conf');
    writeFileSync(config, 'LIBVIRT_URI=test:///default\nQEMU_PROTOCOL=qemu+tcp\nMIGRATE_OPTIONS=--p2p\n');
    const r = await run('migrate', ['test', 'h2', 'h1', '1', 'h1'], { env: { CLOUDVAMP_VMM_CONFIG: config } });
    expectOneLineFailure(r, 'migrate', /migration of test to qemu\+tcp:\/\/h2\/system failed: .*; the VM is still running on the source$/);
    expect(r.stderr).toMatch(/^INFO: migrate: test to qemu\+tcp:\/\/h2\/system \(live, peer-to-peer\)$/m);
  });
});
