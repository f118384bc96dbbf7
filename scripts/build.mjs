#!/usr/bin/env node
// Bundles every executable into one CommonJS file with a node shebang, laid
// out exactly as it will sit under OpenNebula's remotes tree (dist/remotes/...).
// koffi's native module for this platform is copied once per directory as
// ./koffi.node and required relative to the bundle, so a bundle runs from a
// folder without node_modules (and survives `rsync -L` to the hosts).
import { build } from 'esbuild';
import { chmod, copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { emptyDirs, executables } from './executables.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// CLOUDVAMP_BUILD_DIR: build elsewhere (tests build into a temp dir, away from dist/)
const outRoot = process.env.CLOUDVAMP_BUILD_DIR ? path.resolve(process.env.CLOUDVAMP_BUILD_DIR) : path.join(root, 'dist');
const require = createRequire(import.meta.url);
const koffiDir = path.dirname(require.resolve('koffi/package.json'));

// In a bundle, `koffi` is its native module alone, required as ./koffi.node
// beside the bundle. koffi's index.js only adds deprecated aliases around it,
// but loads https, zlib and crypto for its download tooling: ~10 ms of every
// probe's start-up.
const triplet = `${process.platform}_${process.arch}`;
const koffiNative = {
  name: 'koffi-native-beside-bundle',
  setup(b) {
    b.onResolve({ filter: /^koffi$/ }, () => ({ path: 'koffi', namespace: 'koffi-native' }));
    b.onLoad({ filter: /.*/, namespace: 'koffi-native' }, () => ({
      contents: 'module.exports = require("./koffi.node");',
      loader: 'js',
    }));
    b.onResolve({ filter: /^\.\/koffi\.node$/ }, () => ({ path: './koffi.node', external: true }));
  },
};

const only = process.argv.slice(2);
const selected = only.length ? executables.filter((e) => only.some((o) => e.out.includes(o))) : executables;
if (!only.length) await rm(outRoot, { recursive: true, force: true });

const dirs = new Set();
await Promise.all(
  selected.map(async ({ entry, out }) => {
    const outfile = path.join(outRoot, out);
    await mkdir(path.dirname(outfile), { recursive: true });
    await build({
      entryPoints: [path.join(root, entry)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      // Debian 12 ships Node 18; OpenNebula hosts run whatever the distribution has.
      target: 'node18',
      banner: { js: '#!/usr/bin/env node' },
      plugins: [koffiNative],
      minifyWhitespace: true,
      minifySyntax: true,
      legalComments: 'none',
      logLevel: 'warning',
    });
    await chmod(outfile, 0o755);
    dirs.add(path.dirname(outfile));
  }),
);
for (const dir of dirs) {
  await copyFile(path.join(koffiDir, 'build', 'koffi', triplet, 'koffi.node'), path.join(dir, 'koffi.node'));
  // never executable: OpenNebula's probe runners execute every executable file of a probe dir
  await chmod(path.join(dir, 'koffi.node'), 0o644);
}
for (const dir of emptyDirs) await mkdir(path.join(outRoot, dir), { recursive: true });
// The bundles are CommonJS without an extension: inside this repo the root
// package.json says "type": "module", which would make node load them as ESM.
// (On the hosts they sit in a tree with no package.json at all.)
await writeFile(path.join(outRoot, 'package.json'), '{ "type": "commonjs" }\n');
process.stdout.write(`built ${selected.length} executables under ${path.relative(root, outRoot)}/\n`);
