// install.sh against a staging root that mirrors OpenNebula's real layout:
// install, install again (nothing changes, not even a timestamp), uninstall
// (the tree is back as it was, byte for byte, but for the backups it made).
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { chmod, copyFile, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = path.resolve(__dirname, '../..');
const installer = path.join(repo, 'install.sh');

const MONITORD_CONF = `# monitord.conf (stock excerpt)
MANAGER_TIMER = 15
PROBES_PERIOD = [
    BEACON_HOST    = 30,
    SYSTEM_HOST    = 600,
    MONITOR_HOST   = 120,
    STATE_VM       = 5,
    MONITOR_VM     = 30,
    SYNC_STATE_VM  = 180
]

IM_MAD = [ NAME = "kvm", SUNSTONE_NAME = "KVM", EXECUTABLE = "one_im_ssh", ARGUMENTS = "-r 3 -t 15 -w 90 kvm", THREADS = 0 ]
`;
const ONED_CONF = `# oned.conf (stock excerpt)
VM_MAD = [ NAME = "kvm", EXECUTABLE = "one_vmm_exec", ARGUMENTS = "-t 15 -r 0 kvm -p", DEFAULT = "vmm_exec/vmm_exec_kvm.conf", TYPE = "kvm" ]

DEFAULT_UMASK = 177
`;

// The stock files come from the real 7.4.0 remotes tree (its listing is a
// fixture): a hand-written list had the VM monitor under a name no release has.
const realTree = path.join(repo, 'test/fixtures/oned/real-7.4/remotes-kvm-tree.txt');
const stockRemotes: Record<string, string> = Object.fromEntries(
  readFileSync(realTree, 'utf8')
    .split('\n')
    .filter((line) => /^\d+ /.test(line))
    .map((line) => {
      const [mode, rel] = line.split(' ', 2) as [string, string];
      const content = rel === 'VERSION' ? '7.4.0\n' : mode === '755' ? '#!/bin/sh\n' : `# ${rel}\n`;
      return [`var/lib/one/remotes/${rel}`, content];
    }),
);

const stockFiles: Record<string, string> = {
  ...stockRemotes,
  'etc/one/oned.conf': ONED_CONF,
  'etc/one/monitord.conf': MONITORD_CONF,
};

type Entry = { type: 'dir' | 'file' | 'link'; mode: number; hash?: string; target?: string; mtimeMs?: number };

async function snapshot(dir: string, withTimes = false): Promise<Record<string, Entry>> {
  const out: Record<string, Entry> = {};
  async function walk(rel: string) {
    const full = path.join(dir, rel);
    for (const name of (await readdir(full)).sort()) {
      const r = path.join(rel, name);
      const st = await lstat(path.join(dir, r));
      if (st.isSymbolicLink()) out[r] = { type: 'link', mode: 0, target: await readlink(path.join(dir, r)) };
      else if (st.isDirectory()) {
        out[r] = { type: 'dir', mode: st.mode & 0o7777 };
        await walk(r);
      } else {
        const hash = createHash('sha256').update(await readFile(path.join(dir, r))).digest('hex');
        out[r] = { type: 'file', mode: st.mode & 0o7777, hash, ...(withTimes ? { mtimeMs: st.mtimeMs } : {}) };
      }
    }
  }
  await walk('');
  return out;
}

const withoutBackups = (s: Record<string, Entry>) =>
  Object.fromEntries(Object.entries(s).filter(([p]) => !p.includes('.cloudvamp-backup.')));

let work: string;
let built: string;

async function stagingRoot(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(work, 'root-'));
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, rel);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
    if (content.startsWith('#!')) await chmod(full, 0o755);
  }
  await mkdir(path.join(root, 'var/lib/one/remotes/im/kvm-probes.d/vm/execution'), { recursive: true });
  return root;
}

const install = (root: string, ...args: string[]) =>
  execa('bash', [installer, '--root', root, '--from', built, ...args], { reject: false });

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'cloudvamp-install-'));
  built = path.join(work, 'dist');
  await execa('node', [path.join(repo, 'scripts/build.mjs')], { env: { CLOUDVAMP_BUILD_DIR: built } });
}, 120_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('install.sh on a staging root of OpenNebula 7.4', () => {
  it('installs probes, actions and links, applies the stanzas; a second run changes nothing; uninstall restores the tree', async () => {
    const root = await stagingRoot(stockFiles);
    const before = await snapshot(root);
    const remotes = path.join(root, 'var/lib/one/remotes');

    const first = await install(root, '--apply-conf');
    expect(first.stderr).toBe('');
    expect(first.exitCode).toBe(0);

    // our probes replace the stock ones that print the same keys; the rest are linked
    const system = path.join(remotes, 'im/cloudvamp-probes.d/host/system');
    expect((await stat(path.join(system, 'cloudvamp-host-system'))).mode & 0o111).not.toBe(0);
    expect(await readlink(path.join(system, 'pci.rb'))).toBe('../../../kvm-probes.d/host/system/pci.rb');
    await expect(lstat(path.join(system, 'linux_host.rb'))).rejects.toThrow();
    // the stock VM monitor, wild VM list and duplicated host keys are replaced, not linked
    for (const replaced of ['vm/monitor/poll.rb', 'host/system/wild_vm.rb', 'host/system/architecture.sh', 'host/system/name.sh', 'host/system/cpu.sh']) {
      await expect(lstat(path.join(remotes, 'im/cloudvamp-probes.d', replaced)), replaced).rejects.toThrow();
    }
    // every configuration file a linked stock probe reads is there under our probe dir's name
    expect(await readlink(path.join(remotes, 'etc/im/cloudvamp-probes.d/pci.conf'))).toBe('../kvm-probes.d/pci.conf');
    expect(await readlink(path.join(remotes, 'etc/im/cloudvamp-probes.d/probe_db.conf'))).toBe('../kvm-probes.d/probe_db.conf');
    expect(await readlink(path.join(remotes, 'im/cloudvamp-probes.d/vm/monitor/monitor_ds_vm.rb'))).toBe(
      '../../../kvm-probes.d/vm/monitor/monitor_ds_vm.rb',
    );
    for (const category of ['vm/snapshot', 'vm/execution', 'host/beacon']) {
      expect((await stat(path.join(remotes, 'im/cloudvamp-probes.d', category))).isDirectory()).toBe(true);
    }
    expect(await readlink(path.join(remotes, 'im/cloudvamp.d/monitord-client.rb'))).toBe('../kvm.d/monitord-client.rb');
    // actions: ours are real files, the stock ones we do not replace are links
    expect((await lstat(path.join(remotes, 'vmm/cloudvamp/deploy'))).isFile()).toBe(true);
    expect((await lstat(path.join(remotes, 'vmm/cloudvamp/memory'))).isFile()).toBe(true);
    expect(await readlink(path.join(remotes, 'vmm/cloudvamp/attach_disk'))).toBe('../kvm/attach_disk');
    // configuration: defaults written once, credentials file 0600
    expect((await stat(path.join(root, 'etc/one/cloudvamp/cvem.conf'))).mode & 0o777).toBe(0o600);
    // the manager finds the driver's floor where the driver's config lives once installed (not the staging root)
    expect(await readFile(path.join(root, 'etc/one/cloudvamp/cvem.conf'), 'utf8')).toMatch(/^VMM_CONFIG=\/var\/lib\/one\/remotes\/etc\/vmm\/cloudvamp\/cloudvamp\.conf$/m);
    expect(await readFile(path.join(remotes, 'etc/im/cloudvamp-probes.d/cloudvamp.conf'), 'utf8')).toMatch(/^OVERCOMMIT=1\.0$/m);
    // stanzas and the shorter host/system period
    const oned = await readFile(path.join(root, 'etc/one/oned.conf'), 'utf8');
    expect(oned).toMatch(/NAME\s+= "cloudvamp"[\s\S]*ARGUMENTS\s+= "-t 15 -r 0 cloudvamp -p"[\s\S]*TYPE\s+= "kvm"[\s\S]*LIVE_RESIZE\s+= "yes"/);
    expect(first.stdout).toContain('as oneadmin: onehost sync --force');
    const monitord = await readFile(path.join(root, 'etc/one/monitord.conf'), 'utf8');
    expect(monitord).toContain('IM_MAD = [ NAME = "cloudvamp"');
    expect(monitord).toMatch(/^\s*SYSTEM_HOST\s+= 60, # cloudvamp: was 600$/m);
    // the front-end tools on the PATH
    expect(await readlink(path.join(root, 'usr/bin/cloudvamp'))).toBe('/usr/lib/one/cloudvamp/bin/cloudvamp');
    expect(await readlink(path.join(root, 'usr/bin/cloudvamp-cvem'))).toBe('/usr/lib/one/cloudvamp/bin/cloudvamp-cvem');
    expect(await readFile(path.join(root, 'etc/systemd/system/cloudvamp-cvem.service'), 'utf8')).toContain(
      'ExecStart=/usr/bin/env node /usr/lib/one/cloudvamp/bin/cloudvamp-cvem run',
    );

    const installed = await snapshot(root, true);
    const second = await install(root, '--apply-conf');
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toContain('nothing changed');
    expect(await snapshot(root, true)).toEqual(installed);

    const removed = await install(root, '--uninstall');
    expect(removed.exitCode).toBe(0);
    const after = await snapshot(root);
    expect(withoutBackups(after)).toEqual(before);
    // the backups of the edited configuration files stay, as the operator's safety net
    expect(Object.keys(after).filter((p) => p.includes('.cloudvamp-backup.')).length).toBeGreaterThan(0);

    const again = await install(root, '--uninstall');
    expect(again.exitCode).toBe(0);
    expect(withoutBackups(await snapshot(root))).toEqual(before);
  });

  it('keeps a configuration file the operator edited when uninstalling', async () => {
    const root = await stagingRoot(stockFiles);
    expect((await install(root)).exitCode).toBe(0);
    const conf = path.join(root, 'var/lib/one/remotes/etc/im/cloudvamp-probes.d/cloudvamp.conf');
    await writeFile(conf, 'OVERCOMMIT=0.5\n');
    const removed = await install(root, '--uninstall');
    expect(removed.exitCode).toBe(0);
    expect(removed.stdout).toContain(`kept ${conf}`);
    expect(await readFile(conf, 'utf8')).toBe('OVERCOMMIT=0.5\n');
  });

  it('prints the stanzas without touching the configuration unless --apply-conf', async () => {
    const root = await stagingRoot(stockFiles);
    const run = await install(root);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('Add to /etc/one/monitord.conf:');
    expect(run.stdout).toContain('SYSTEM_HOST = 60');
    expect(await readFile(path.join(root, 'etc/one/oned.conf'), 'utf8')).toBe(ONED_CONF);
    expect(await readFile(path.join(root, 'etc/one/monitord.conf'), 'utf8')).toBe(MONITORD_CONF);
  });

  it('--vm-type qemu writes TYPE = "qemu" in the VM_MAD (hosts without KVM run TCG guests)', async () => {
    const root = await stagingRoot(stockFiles);
    const run = await install(root, '--apply-conf', '--vm-type', 'qemu');
    expect(run.exitCode).toBe(0);
    expect(await readFile(path.join(root, 'etc/one/oned.conf'), 'utf8')).toMatch(/^\s*TYPE\s+= "qemu",$/m);
    const bad = await install(root, '--vm-type', 'xen');
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain('--vm-type must be kvm or qemu');
  });

  it('puts the IM driver into oned.conf for OpenNebula older than 5.12', async () => {
    const root = await stagingRoot({ ...stockFiles, 'var/lib/one/remotes/VERSION': '5.10.0\n' });
    const run = await install(root, '--apply-conf');
    expect(run.exitCode).toBe(0);
    const oned = await readFile(path.join(root, 'etc/one/oned.conf'), 'utf8');
    expect(oned).toContain('ARGUMENTS = "-r 3 -t 15 cloudvamp-legacy"');
    expect(await readFile(path.join(root, 'etc/one/monitord.conf'), 'utf8')).toBe(MONITORD_CONF);
  });

  it('--single-binary installs the wrappers and their runtime from dist-sea; a second run changes nothing; uninstall restores the tree', async () => {
    // install.sh beside a dist-sea/ of its own: --single-binary must pick it (no --from)
    const here = path.join(work, 'sea-checkout');
    await mkdir(here);
    await copyFile(installer, path.join(here, 'install.sh'));
    await execa('node', [path.join(repo, 'scripts/build-sea.mjs')], { env: { CLOUDVAMP_SEA_DIR: path.join(here, 'dist-sea') } });
    const seaInstall = (root: string, ...args: string[]) =>
      execa('bash', [path.join(here, 'install.sh'), '--root', root, '--single-binary', ...args], { reject: false });
    const root = await stagingRoot(stockFiles);
    const before = await snapshot(root);
    const remotes = path.join(root, 'var/lib/one/remotes');

    const first = await seaInstall(root, '--apply-conf');
    expect(first.stderr).toBe('');
    expect(first.exitCode).toBe(0);
    const probe = path.join(remotes, 'im/cloudvamp-probes.d/host/system/cloudvamp-host-system');
    expect((await readFile(probe, 'utf8')).split('\n', 1)[0]).toBe('#!/bin/sh');
    expect((await stat(path.join(remotes, 'cloudvamp-runtime/cloudvamp-sea'))).mode & 0o777).toBe(0o755);
    expect((await stat(path.join(remotes, 'cloudvamp-runtime/koffi.node'))).mode & 0o777).toBe(0o644);
    expect(await readlink(path.join(remotes, 'vmm/cloudvamp/attach_disk'))).toBe('../kvm/attach_disk');
    // the installed wrapper finds the installed runtime, with no node on the PATH
    const ran = await execa('/usr/bin/env', ['-i', `PATH=${work}/no-such-dir`, `CLOUDVAMP_STATE_DIR=${work}/sea-state`, probe, '--uri', 'test:///default'], {
      reject: false,
    });
    expect(ran.stderr).toBe('');
    expect(ran.stdout).toMatch(/^TOTALMEMORY=\d+$/m);

    const installed = await snapshot(root, true);
    const second = await seaInstall(root, '--apply-conf');
    expect(second.exitCode).toBe(0);
    expect(second.stdout).toContain('nothing changed');
    expect(await snapshot(root, true)).toEqual(installed);

    const removed = await seaInstall(root, '--uninstall');
    expect(removed.exitCode).toBe(0);
    expect(withoutBackups(await snapshot(root))).toEqual(before);
  }, 120_000);

  it('rejects bad options with one line on stderr', async () => {
    const run = await execa('bash', [installer, '--bogus'], { reject: false });
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain("unknown option '--bogus'");
    const period = await execa('bash', [installer, '--system-period', 'soon'], { reject: false });
    expect(period.exitCode).not.toBe(0);
    expect(period.stderr).toContain('--system-period');
  });
});
