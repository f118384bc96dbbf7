// Every single-file executable: its TypeScript entry and where it sits under
// dist/ (the layout of OpenNebula's remotes tree, plus the front-end tools).
// One line each; the build, install.sh and the tests read this list.
export const executables = [
  // IM probes (OpenNebula 5.12+ monitord categories)
  { entry: 'probes/host-system.ts', out: 'remotes/im/cloudvamp-probes.d/host/system/cloudvamp-host-system' },
  { entry: 'probes/host-monitor.ts', out: 'remotes/im/cloudvamp-probes.d/host/monitor/cloudvamp-host-monitor' },
  { entry: 'probes/host-beacon.ts', out: 'remotes/im/cloudvamp-probes.d/host/beacon/cloudvamp-host-beacon' },
  { entry: 'probes/vm-status.ts', out: 'remotes/im/cloudvamp-probes.d/vm/status/cloudvamp-vm-status' },
  { entry: 'probes/vm-monitor.ts', out: 'remotes/im/cloudvamp-probes.d/vm/monitor/cloudvamp-vm-monitor' },
  // IM probe for OpenNebula 4.x-5.10 (one flat probe dir; IM_MAD arguments "... cloudvamp-legacy")
  { entry: 'probes/legacy-poll.ts', out: 'remotes/im/cloudvamp-legacy-probes.d/cloudvamp-poll' },
  // VMM actions
  { entry: 'vmm/deploy.ts', out: 'remotes/vmm/cloudvamp/deploy' },
  { entry: 'vmm/shutdown.ts', out: 'remotes/vmm/cloudvamp/shutdown' },
  { entry: 'vmm/cancel.ts', out: 'remotes/vmm/cloudvamp/cancel' },
  { entry: 'vmm/reboot.ts', out: 'remotes/vmm/cloudvamp/reboot' },
  { entry: 'vmm/reset.ts', out: 'remotes/vmm/cloudvamp/reset' },
  { entry: 'vmm/save.ts', out: 'remotes/vmm/cloudvamp/save' },
  { entry: 'vmm/restore.ts', out: 'remotes/vmm/cloudvamp/restore' },
  { entry: 'vmm/migrate.ts', out: 'remotes/vmm/cloudvamp/migrate' },
  { entry: 'vmm/poll.ts', out: 'remotes/vmm/cloudvamp/poll' },
  { entry: 'vmm/resize.ts', out: 'remotes/vmm/cloudvamp/resize' },
  { entry: 'vmm/memory.ts', out: 'remotes/vmm/cloudvamp/memory' },
  { entry: 'vmm/ksm.ts', out: 'remotes/vmm/cloudvamp/ksm' },
  // front-end tools
  { entry: 'cli/cvem.ts', out: 'bin/cloudvamp-cvem' },
  { entry: 'cli/plan.ts', out: 'bin/cloudvamp-plan' },
  { entry: 'cli/cloudvamp.ts', out: 'bin/cloudvamp' },
];

// Directories that must exist in the remotes tree even when empty: monitord's
// agent fails START_MONITOR when a probe category directory is missing (7.4).
export const emptyDirs = [
  'remotes/im/cloudvamp-probes.d/vm/snapshot',
  'remotes/im/cloudvamp-probes.d/vm/execution',
];
