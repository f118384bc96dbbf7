import { defineConfig } from 'vitest/config';

// Tests of built artefacts and real processes: they bundle executables
// (esbuild, SEA), install them, run them (or TypeScript children through tsx)
// as child processes, and take minutes on a loaded 2-core machine. Their own
// project keeps `npx vitest run --project unit` a run of seconds; `npm run
// test:all` runs every project. A new test that builds or spawns goes here.
const ARTEFACTS = [
  'test/install/**/*.test.ts',
  'test/vmm/**/*.test.ts',
  'test/compat/**/*.test.ts',
  'test/sea/**/*.test.ts',
  'test/probes/**/*.test.ts',
  'test/scenarios/cvem-binary.test.ts',
  'test/cli/plan-bundle.test.ts',
  'test/lib/io/state-file-crash.test.ts',
  'test/fuzz/**/*.test.ts',
  'test/harness/lock.test.ts',
];

// Tests of the benchmarks' own simulators (bench/density): experiment code, not
// the product, and ~25 s of CPU; their own project, run by `npm run test:all`.
const BENCH = ['test/bench/**/*.test.ts'];

// Projects: unit (pure and adapter tests, in parallel), artefacts (built
// executables, child processes), then the tests that boot real QEMU guests, which share one pair
// of libvirt hosts and a 2-core machine (TCG guests are CPU-bound), so they run
// alone, one file at a time, after a global setup that starts the hosts.
export default defineConfig({
  test: {
    reporters: ['default'],
    // Read by vitest's threads pool from the root config only (a project's
    // own setting does not reach it); the unit project is the only one on
    // threads, so this is its setting.
    poolOptions: { threads: { isolate: false } },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/kvm/**', 'test/opennebula/**', 'node_modules/**', ...ARTEFACTS, ...BENCH],
          // Unit files share nothing global but fake timers, which each file
          // restores: one module graph in worker threads instead of a fresh
          // process per file halves the project's wall time on 2 cores
          // (38 s -> 17 s), most of it was per-file start-up, not tests.
          pool: 'threads',
          isolate: false,
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'artefacts',
          include: ARTEFACTS,
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'bench',
          include: BENCH,
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'kvm',
          include: ['test/kvm/**/*.test.ts'],
          globalSetup: ['test/kvm/global-setup.ts'],
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          sequence: { groupOrder: 1 },
          testTimeout: 240_000,
          hookTimeout: 300_000,
        },
      },
      {
        // The real OpenNebula 7.4 in the loop (oned, monitord, the scheduler)
        // on its own set of libvirt hosts (test/harness/opennebula.ts), after
        // the kvm tier, one file at a time. The workers get the set's names
        // as CLOUDVAMP_TEST_* so test/harness/index.ts's helpers reach its hosts.
        test: {
          name: 'opennebula',
          include: ['test/opennebula/**/*.test.ts'],
          globalSetup: ['test/opennebula/global-setup.ts'],
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          sequence: { groupOrder: 2 },
          testTimeout: 300_000,
          hookTimeout: 300_000,
          env: {
            CLOUDVAMP_TEST_PREFIX: process.env.CLOUDVAMP_TEST_ONE_PREFIX ?? 'cvn',
            CLOUDVAMP_TEST_SUBNET: process.env.CLOUDVAMP_TEST_ONE_SUBNET ?? '192.168.250',
            CLOUDVAMP_TEST_STATE: process.env.CLOUDVAMP_TEST_ONE_STATE ?? '/run/cloudvamp-one',
          },
        },
      },
    ],
  },
});
