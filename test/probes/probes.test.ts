// End to end: the BUILT single-file probes, copied to a folder with no
// node_modules and no package.json (as they sit on an OpenNebula host), run
// against libvirt's real test driver; numbers checked against virsh.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDomains, testDriverXml, testNode } from '../support/test-driver-xml';

const root = path.resolve(__dirname, '..', '..');
let work: string;
let im: string;
let nodeUri: string;

const PROBES = {
  system: 'cloudvamp-probes.d/host/system/cloudvamp-host-system',
  monitor: 'cloudvamp-probes.d/host/monitor/cloudvamp-host-monitor',
  beacon: 'cloudvamp-probes.d/host/beacon/cloudvamp-host-beacon',
  status: 'cloudvamp-probes.d/vm/status/cloudvamp-vm-status',
  vmMonitor: 'cloudvamp-probes.d/vm/monitor/cloudvamp-vm-monitor',
  legacy: 'cloudvamp-legacy-probes.d/cloudvamp-poll',
} as const;

function probe(which: keyof typeof PROBES, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [path.join(im, PROBES[which]), ...args, 'cloudvamp', '3', 'node1'], {
    encoding: 'utf8',
    cwd: path.dirname(path.join(im, PROBES[which])),
    env: { PATH: process.env.PATH, CLOUDVAMP_STATE_DIR: path.join(work, 'state'), ...env },
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

const virsh = (uri: string, ...args: string[]) => execFileSync('virsh', ['-c', uri, ...args], { encoding: 'utf8' });
const field = (text: string, label: string) => Number(new RegExp(`^${label}:\\s+(\\d+)`, 'm').exec(text)?.[1]);
const memstat = (text: string, key: string) => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1]);
/** KEY=VALUE lines of a template (vectors left out) */
const keys = (text: string) => Object.fromEntries([...text.matchAll(/^([A-Z_]+)=([^[\n]*)$/gm)].map((m) => [m[1], m[2]]));
const monitors = (text: string) =>
  new Map(
    [...text.matchAll(/^VM=\[ID="(\d+)", DEPLOY_ID="([^"]+)", MONITOR="([A-Za-z0-9+/=]*)"\]$/gm)].map((m) => [
      Number(m[1]),
      { uuid: m[2], monitor: keys(Buffer.from(m[3] as string, 'base64').toString().replace(/"/g, '')) },
    ]),
  );

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'cloudvamp-probes-e2e-'));
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs'), 'remotes/im/'], {
    env: { ...process.env, CLOUDVAMP_BUILD_DIR: path.join(work, 'build') },
    stdio: 'pipe',
  });
  cpSync(path.join(work, 'build', 'remotes'), path.join(work, 'host', 'remotes'), { recursive: true });
  im = path.join(work, 'host', 'remotes', 'im');
  // 6 OpenNebula VMs (every third shut off) and a wild domain
  const domains = testDomains(6, { shutoffEvery: 3 }).map((d, i) => ({ ...d, name: `one-${i + 10}` }));
  domains.push({ ...testDomains(7)[6]!, name: 'backup-appliance' });
  const file = path.join(work, 'node.xml');
  writeFileSync(file, testDriverXml(testNode(domains)));
  nodeUri = `test://${file}`;
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('built probes: layout', () => {
  it('sit in the remotes tree layout, one file each with a node shebang, koffi.node beside and not executable', () => {
    for (const rel of Object.values(PROBES)) {
      const file = path.join(im, rel);
      expect(readFileSync(file, 'utf8').split('\n', 1)[0]).toBe('#!/usr/bin/env node');
      expect(statSync(file).mode & 0o111).toBe(0o111);
      expect(statSync(path.join(path.dirname(file), 'koffi.node')).mode & 0o111).toBe(0);
    }
    expect(existsSync(path.join(work, 'host', 'node_modules'))).toBe(false);
  });

  it('every probe category directory exists, even empty (7.4 fails START_MONITOR otherwise)', () => {
    for (const cat of ['host/system', 'host/monitor', 'host/beacon', 'vm/status', 'vm/monitor', 'vm/snapshot', 'vm/execution']) {
      expect(statSync(path.join(im, 'cloudvamp-probes.d', cat)).isDirectory()).toBe(true);
    }
  });
});

describe('built probes on test:///default', () => {
  it('host/system: TOTALMEMORY = physical + borrowed, matching virsh nodeinfo and dominfo', () => {
    const r = probe('system', ['--uri', 'test:///default']);
    expect(r).toMatchObject({ status: 0, stderr: '' });
    const k = keys(r.stdout);
    const node = virsh('test:///default', 'nodeinfo');
    const dom = virsh('test:///default', 'dominfo', 'test');
    const rss = memstat(virsh('test:///default', 'dommemstat', 'test'), 'rss');
    const max = field(dom, 'Max memory');
    const used = field(dom, 'Used memory');
    const packed = Math.max(rss, max) - Math.max(rss, used);
    expect(k).toMatchObject({
      HYPERVISOR: 'kvm',
      TOTALCPU: String(field(node, 'CPU\\(s\\)') * 100),
      CPUSPEED: String(field(node, 'CPU frequency')),
      CLOUDVAMP_PHYSICALMEMORY: String(field(node, 'Memory size')),
      PACKEDMEMORY: String(packed),
      TOTALMEMORY: String(field(node, 'Memory size') + packed),
    });
    // "test" is not one-<id>: a wild VM
    expect(r.stdout).toContain(`VM=[ID="-1", DEPLOY_ID="${/UUID:\s+(\S+)/.exec(dom)?.[1]}", VM_NAME="test"]`);
  });

  it('host/monitor, beacon, vm/status, vm/monitor: well-formed, wild domain left out', () => {
    const mon = probe('monitor', ['--uri', 'test:///default']);
    expect(mon.status).toBe(0);
    expect(Number(keys(mon.stdout).USEDCPU) + Number(keys(mon.stdout).FREECPU)).toBe(1600);
    expect(probe('beacon', []).stdout).toMatch(/^\d{10}\n$/);
    expect(probe('status', ['--uri', 'test:///default']).stdout).toBe('SYNC_STATE=yes\nMISSING_STATE=POWEROFF\n');
    expect(probe('vmMonitor', ['--uri', 'test:///default'])).toMatchObject({ status: 0, stdout: '' });
  });

  it('--format json prints the same report, parseable', () => {
    const json = JSON.parse(probe('system', ['--uri', 'test:///default', '--format', 'json']).stdout);
    expect(json).toMatchObject({ HYPERVISOR: 'kvm', TOTALCPU: 1600, VM: [{ ID: -1, VM_NAME: 'test' }] });
  });
});

describe('built probes on a test-driver host with OpenNebula VMs', () => {
  it('vm/monitor: CloudVAMP memory keys per VM match virsh dominfo/dommemstat', () => {
    const r = probe('vmMonitor', ['--uri', nodeUri]);
    expect(r).toMatchObject({ status: 0, stderr: '' });
    const vms = monitors(r.stdout);
    const running = virsh(nodeUri, 'list', '--name').split('\n').filter((n) => n.startsWith('one-'));
    expect([...vms.keys()].sort((a, b) => a - b)).toEqual(running.map((n) => Number(n.slice(4))).sort((a, b) => a - b));
    for (const name of running) {
      const dom = virsh(nodeUri, 'dominfo', name);
      const rss = memstat(virsh(nodeUri, 'dommemstat', name), 'rss');
      const max = field(dom, 'Max memory');
      const used = field(dom, 'Used memory');
      const vm = vms.get(Number(name.slice(4)));
      expect(vm?.uuid).toBe(/UUID:\s+(\S+)/.exec(dom)?.[1]);
      expect(vm?.monitor).toMatchObject({
        REALMEMORY: String(used),
        USEDMEMORY: String(Math.max(rss, used)),
        MAXMEMORY: String(Math.max(rss, max)),
        PACKEDMEMORY: String(Math.max(rss, max) - Math.max(rss, used)),
        MEMORY: String(Math.max(rss, used)),
      });
    }
  });

  it('vm/status lists the running OpenNebula VMs (shut-off ones go MISSING_STATE), host/system sums their borrowed memory', () => {
    const status = probe('status', ['--uri', nodeUri]).stdout;
    expect(status.match(/ID="(\d+)"/g)).toEqual(['ID="10"', 'ID="11"', 'ID="13"', 'ID="14"']);
    expect(status).not.toContain('STATE="POWEROFF"');
    const vms = monitors(probe('vmMonitor', ['--uri', nodeUri]).stdout);
    const wildPacked = 1_048_576 + 6 * 4096 - (524_288 + 6 * 1024);
    const sum = [...vms.values()].reduce((s, v) => s + Number(v.monitor.PACKEDMEMORY), 0) + wildPacked;
    const sys = keys(probe('system', ['--uri', nodeUri]).stdout);
    expect(sys.PACKEDMEMORY).toBe(String(sum));
    expect(sys.TOTALMEMORY).toBe(String(67_108_864 + sum));
  });

  it('O from cloudvamp.conf next to the remotes tree scales TOTALMEMORY', () => {
    const etc = path.join(work, 'host', 'remotes', 'etc', 'im', 'cloudvamp-probes.d');
    const sysFull = keys(probe('system', ['--uri', nodeUri]).stdout);
    mkdirSync(etc, { recursive: true });
    writeFileSync(path.join(etc, 'cloudvamp.conf'), `# test\nOVERCOMMIT=0.5\nLIBVIRT_URI=${nodeUri}\n`);
    try {
      const half = keys(probe('system', []).stdout);
      expect(half.CLOUDVAMP_OVERCOMMIT).toBe('0.5');
      expect(Number(half.TOTALMEMORY)).toBe(67_108_864 + Math.floor(Number(sysFull.PACKEDMEMORY) / 2));
    } finally {
      rmSync(path.join(work, 'host', 'remotes', 'etc'), { recursive: true, force: true });
    }
  });

  it('legacy probe: host keys, VM_POLL=YES, VM blocks with names as DEPLOY_ID and POLL strings', () => {
    const r = probe('legacy', ['--uri', nodeUri]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^HYPERVISOR=kvm\n(?:[A-Z_]+=[^\n]+\n)+VM_POLL=YES\nVM=\[\n  ID=10,\n  DEPLOY_ID=one-10,\n  POLL="STATE=a USEDMEMORY=\d+ MAXMEMORY=\d+ REALMEMORY=\d+ PACKEDMEMORY=\d+[ "]/);
    expect(r.stdout).toContain('  ID=-1,\n  DEPLOY_ID=backup-appliance,\n  VM_NAME=backup-appliance,\n');
    expect(r.stdout.match(/^VM=\[$/gm)).toHaveLength(5);
  });
});

describe('built probes: bad input → one stderr line, non-zero exit, nothing on stdout', () => {
  const badConf = () => {
    const f = path.join(work, 'bad.conf');
    writeFileSync(f, 'OVERCOMMIT=1,5\n');
    return f;
  };
  it.each([
    ['an unknown URI', ['--uri', 'nosuchdriver:///x'], {}, /cannot connect|no connection driver|Failed to connect/],
    ['libvirtd not running', ['--uri', 'qemu+unix:///system?socket=/nonexistent/sock'], {}, /\/nonexistent\/sock/],
    ['a malformed config file', [], { CLOUDVAMP_CONFIG: 'BAD' }, /bad\.conf:1: OVERCOMMIT='1,5' is not a number between 0 and 1/],
    ['a config file that does not exist', ['--config', '/nonexistent/cloudvamp.conf'], {}, /does not exist/],
    ['--format bogus', ['--format', 'bogus', '--uri', 'test:///default'], {}, /--format must be 'one' or 'json'/],
  ] as const)('%s', (_, args, env, message) => {
    for (const which of ['system', 'vmMonitor', 'legacy'] as const) {
      const e = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === 'BAD' ? badConf() : v]));
      const r = probe(which, [...args], e);
      expect(r.stdout).toBe('');
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/^cloudvamp-[a-z-]+: [^\n]+\n$/);
      expect(r.stderr).toMatch(message);
    }
  });
});
