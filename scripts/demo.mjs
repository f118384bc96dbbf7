#!/usr/bin/env node
// `npm run demo`: runs every built IM probe against libvirt's built-in test
// driver and prints exactly what cloudvamp would report to OpenNebula, first
// in the 5.12+ monitord format, then in the 4.x single-probe format.
//
// test:///default holds one domain named "test", which OpenNebula would see
// as a wild VM (not `one-<id>`), so the VM probes have nothing to say about
// it; a second fake host with two OpenNebula VMs (one-42 ballooned from 4 GiB
// down to 1 GiB, one-7 untouched) shows them.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { emptyDirs, executables } from './executables.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const probes = executables.filter((e) => e.out.startsWith('remotes/im/'));
if (probes.some((p) => !existsSync(path.join(dist, p.out))) || emptyDirs.some((d) => !existsSync(path.join(dist, d)))) {
  process.stdout.write('demo: building the probes first (npm run build)\n');
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
}

const work = mkdtempSync(path.join(tmpdir(), 'cloudvamp-demo-'));
const domainXml = (id, maxKiB, curKiB) =>
  `  <domain type='test'><name>one-${id}</name><uuid>0b1c2d3e-0000-4000-8000-${String(id).padStart(12, '0')}</uuid>` +
  `<memory unit='KiB'>${maxKiB}</memory><currentMemory unit='KiB'>${curKiB}</currentMemory><vcpu>2</vcpu>` +
  `<os><type arch='x86_64'>hvm</type></os><devices><memballoon model='virtio'/></devices></domain>`;
const nodeFile = path.join(work, 'two-vms.xml');
writeFileSync(
  nodeFile,
  `<node>\n  <cpu><nodes>1</nodes><sockets>1</sockets><cores>8</cores><threads>1</threads><active>8</active><mhz>2400</mhz><model>x86_64</model></cpu>\n` +
    `  <memory>16777216</memory>\n${domainXml(42, 4194304, 1048576)}\n${domainXml(7, 2097152, 2097152)}\n</node>\n`,
);

const run = (uri, probe) => {
  const file = path.join(dist, probe.out);
  const rel = path.relative(path.join(dist, 'remotes', 'im'), file);
  process.stdout.write(`\n--- ${rel}  (--uri ${uri})\n`);
  // OpenNebula's argv; CPU samples kept away from the real /var/tmp/cloudvamp
  const r = spawnSync(process.execPath, [file, '--uri', uri, 'cloudvamp', '0', 'demo-host'], {
    encoding: 'utf8',
    env: { ...process.env, CLOUDVAMP_STATE_DIR: path.join(work, 'state'), CLOUDVAMP_CONFIG: path.join(work, 'none.conf') },
  });
  process.stdout.write(r.stdout || '(no output: OpenNebula sends nothing for this category)\n');
  if (r.status !== 0) process.stdout.write(`(exit ${r.status}) ${r.stderr}`);
};

// an explicit config file that does not exist is an error: give the default one
writeFileSync(path.join(work, 'none.conf'), '# defaults: OVERCOMMIT=1.0, LIBVIRT_URI=qemu:///system, PROBE_FORMAT=modern\n');
try {
  for (const uri of ['test:///default', `test://${nodeFile}`]) {
    process.stdout.write(`\n===== OpenNebula 5.12+ (monitord) probes on ${uri}\n`);
    for (const p of probes.filter((x) => !x.out.includes('legacy'))) run(uri, p);
    process.stdout.write(`\n===== OpenNebula 4.x-5.10 probe on ${uri}\n`);
    for (const p of probes.filter((x) => x.out.includes('legacy'))) run(uri, p);
  }
  process.stdout.write(`\nEmpty probe categories kept: ${emptyDirs.map((d) => path.relative('remotes/im', d)).join(', ')}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
