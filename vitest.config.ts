import { defineConfig } from 'vitest/config';

// Two projects: pure/adapter tests run in parallel first; then the tests that
// boot real QEMU guests, which share one pair of libvirt hosts and a 2-core
// machine (TCG guests are CPU-bound), so they run alone, one file at a time,
// after a global setup that starts the hosts.
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/kvm/**', 'node_modules/**'],
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
    ],
  },
});
