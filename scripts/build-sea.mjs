#!/usr/bin/env node
// Opt-in build for hosts without Node.js: dist-sea/remotes/... has the layout
// of dist/remotes/..., but every executable is a tiny POSIX sh wrapper that
// execs ONE shared Single Executable Application (a copy of this node binary
// carrying every entry), remotes/cloudvamp-runtime/cloudvamp-sea. One binary,
// not one per executable: `onehost sync` rsyncs with -L, so even hard links
// would be copied once per name.
//
//   wrapper:  exec <runtime>/cloudvamp-sea <entry> "$0" "$@"
//   runtime:  process.argv = [execPath, "$0", ...user args], then runs <entry>
//
// so each entry sees the argv of the normal bundles, and finds its config
// relative to the wrapper's place in the remotes tree, as before.
// The front-end tools (dist-sea/bin) are the normal node bundles: the
// front-end runs the elasticity manager on Node anyway.
//
// The runtime is the node binary running this script (same platform, arch
// and libc as the hosts, please), stripped of its debug symbols when `strip`
// is available. CLOUDVAMP_SEA_DIR builds elsewhere (the tests use a temp dir).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { executables } from './executables.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outRoot = process.env.CLOUDVAMP_SEA_DIR ? path.resolve(process.env.CLOUDVAMP_SEA_DIR) : path.join(root, 'dist-sea');
const require = createRequire(import.meta.url);
const koffiDir = path.dirname(require.resolve('koffi/package.json'));
const RUNTIME_DIR = 'remotes/cloudvamp-runtime';
const RUNTIME = `${RUNTIME_DIR}/cloudvamp-sea`;
// postject's marker that node looks for to know it carries a blob
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const remotes = executables.filter((e) => e.out.startsWith('remotes/'));
const nameOf = (e) => path.basename(e.out);
if (new Set(remotes.map(nameOf)).size !== remotes.length) throw new Error('two remotes executables share a file name: the runtime dispatches on it');

await rm(outRoot, { recursive: true, force: true });
// the front-end tools and the empty probe categories: the normal build, into dist-sea
execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs'), 'bin/'], {
  env: { ...process.env, CLOUDVAMP_BUILD_DIR: outRoot },
  stdio: ['ignore', 'ignore', 'inherit'],
});

// In a SEA, `require` loads built-in modules only: koffi's native module is
// loaded from beside the runtime binary (process.execPath is its real path).
const koffiBesideRuntime = {
  name: 'koffi-native-beside-runtime',
  setup(b) {
    b.onResolve({ filter: /^koffi$/ }, () => ({ path: 'koffi', namespace: 'koffi-native' }));
    b.onLoad({ filter: /.*/, namespace: 'koffi-native' }, () => ({
      contents: 'module.exports = require("node:module").createRequire(process.execPath)("./koffi.node");',
      loader: 'js',
    }));
  },
};

// Each entry is required lazily (esbuild wraps it in an init function), so a
// probe evaluates its own modules only.
const dispatcher = `
const entries = {
${remotes.map((e) => `  ${JSON.stringify(nameOf(e))}: () => require(${JSON.stringify(`./${e.entry}`)}),`).join('\n')}
};
const [name, self, ...args] = process.argv.slice(2);
if (name === undefined || self === undefined || !Object.hasOwn(entries, name)) {
  process.stderr.write('cloudvamp-sea: run one of the executables of the remotes tree (wrappers that call cloudvamp-sea <entry> <path> [args...])\\n');
  process.exitCode = 2;
} else {
  process.argv = [process.execPath, self, ...args];
  entries[name]();
}
`;

const work = await mkdtemp(path.join(tmpdir(), 'cloudvamp-sea-'));
try {
  const main = path.join(work, 'main.cjs');
  const blob = path.join(work, 'main.blob');
  await build({
    stdin: { contents: dispatcher, resolveDir: root, sourcefile: 'cloudvamp-sea.js', loader: 'js' },
    outfile: main,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node.split('.')[0]}`,
    plugins: [koffiBesideRuntime],
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const config = path.join(work, 'sea-config.json');
  // code cache: V8 skips compiling the bundle at every probe run
  await writeFile(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }));
  // (piped: it chats on stderr; a failure's error message carries it)
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'pipe' });

  const runtime = path.join(outRoot, RUNTIME);
  await mkdir(path.dirname(runtime), { recursive: true });
  try {
    // node's debug symbols are ~12 MB of the ~100 MB; the dynamic symbols koffi needs stay
    execFileSync('strip', ['--strip-all', process.execPath, '-o', runtime], { stdio: 'ignore' });
  } catch {
    await copyFile(process.execPath, runtime);
  }
  await chmod(runtime, 0o755);
  const { inject } = require('postject');
  // postject (LIEF) warns about note sections node's binary carries; harmless, so muted
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    await inject(runtime, 'NODE_SEA_BLOB', await readFile(blob), { sentinelFuse: SEA_FUSE });
  } finally {
    console.warn = warn;
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
const koffiNode = path.join(outRoot, RUNTIME_DIR, 'koffi.node');
await copyFile(path.join(koffiDir, 'build', 'koffi', `${process.platform}_${process.arch}`, 'koffi.node'), koffiNode);
await chmod(koffiNode, 0o644);

for (const e of remotes) {
  const wrapper = path.join(outRoot, e.out);
  await mkdir(path.dirname(wrapper), { recursive: true });
  const runtime = path.relative(path.dirname(e.out), RUNTIME);
  // ${0%/*}, not dirname: the wrapper needs nothing but sh on the host
  await writeFile(
    wrapper,
    `#!/bin/sh
# cloudvamp ${nameOf(e)}: runs in cloudvamp's own runtime (install.sh --single-binary; no Node.js needed)
case $0 in */*) here=\${0%/*} ;; *) here=$(command -v -- "$0") && here=\${here%/*} || here=. ;; esac
exec "$here/${runtime}" ${nameOf(e)} "$0" "$@"
`,
  );
  await chmod(wrapper, 0o755);
}
process.stdout.write(`built ${remotes.length} wrappers and ${RUNTIME} under ${outRoot.startsWith(root + path.sep) ? path.relative(root, outRoot) : outRoot}/\n`);
