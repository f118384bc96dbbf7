import { defineConfig } from 'vitest/config';

// Two projects: pure/adapter tests run in parallel; tests that boot real QEMU
// guests share one pair of libvirt hosts and a 2-core machine, so they run one
// file at a time after a global setup that installs nothing but starts the hosts.
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
        },
      },
      {
        test: {
          name: 'kvm',
          include: ['test/kvm/**/*.test.ts'],
          globalSetup: ['test/kvm/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
