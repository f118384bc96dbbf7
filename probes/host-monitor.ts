// IM probe host/monitor of the cloudvamp IM_MAD; see lib/monitor/reports.ts for what it prints.
import { runMain } from '../lib/io/run-main';
import { openHypervisor } from '../lib/libvirt/client';
import { probeMain } from '../lib/monitor/command';

const name = 'cloudvamp-host-monitor';
void runMain(name, () =>
  probeMain('host-monitor', name, { argv: process.argv.slice(2), env: process.env, probePath: process.argv[1], open: openHypervisor, now: Date.now }),
);
