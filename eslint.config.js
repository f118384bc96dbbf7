// One rule set, enforced by the unit tests (test/repo/lint.test.ts) and so by
// CI: the pure folders of lib/ do no I/O. Only lib/libvirt (libvirt through
// koffi), lib/oned (OpenNebula's XML-RPC and the adapters from it) and lib/io
// (this machine's files, child processes, the process's argv/env/stdio) touch
// the outside world; everything else gets it injected (ports, `now`, config,
// randomness) so it can be property-tested. Not a style linter: type-checking
// is tsc's, formatting is by hand.
import tseslint from 'typescript-eslint';

const IO_MODULES = ['fs', 'fs/promises', 'child_process', 'net', 'http', 'https', 'http2', 'os', 'dgram', 'dns', 'tls', 'readline', 'worker_threads', 'cluster', 'process', 'v8', 'vm'];

const noNodeIo = {
  paths: [
    ...IO_MODULES.flatMap((m) => [`node:${m}`, m]).map((name) => ({ name, message: 'pure code does no I/O: take what you need as an argument (a port) and implement it in lib/io, lib/oned or lib/libvirt' })),
    { name: 'execa', message: 'child processes belong in lib/io or lib/oned (argument arrays only)' },
    { name: 'koffi', message: 'libvirt through koffi lives in lib/libvirt' },
  ],
};

// A feature's command.ts (and lib/cli/) is its composition root: it wires the
// adapters (config files, state file, oned's credentials) into the pure core,
// so it may import them; the rest of the feature receives them as arguments.
const restrictedImports = {
  ...noNodeIo,
  patterns: [
    { group: ['**/io/*', '**/libvirt/ffi', '**/libvirt/client', '**/oned/transport', '**/oned/auth'], message: 'an adapter: pure code receives it from the entry point instead of importing it' },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'dist-sea/**', '.cache/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser, ecmaVersion: 2023, sourceType: 'module' },
  },
  {
    // The pure folders: everything in lib/ except the three adapter folders.
    files: ['lib/**/*.ts'],
    ignores: ['lib/io/**', 'lib/oned/**', 'lib/libvirt/**'],
    rules: {
      'no-restricted-imports': ['error', restrictedImports],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'argv, env, stdio and exit codes are the entry point\'s (lib/io): take them as arguments' },
        { name: 'fetch', message: 'network I/O belongs in an adapter' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'pure code takes `now` as an argument' },
        { object: 'Math', property: 'random', message: 'pure code takes its randomness as an argument (lib/random.ts seededRandom)' },
      ],
    },
  },
  {
    files: ['lib/**/command.ts', 'lib/cli/**/*.ts'],
    ignores: ['lib/io/**', 'lib/oned/**', 'lib/libvirt/**'],
    rules: { 'no-restricted-imports': ['error', noNodeIo] },
  },
);
