// The single probe for OpenNebula 4.x–5.10 (`run_probes cloudvamp-legacy-probes`):
// host keys, VM_POLL=YES and the VM=[…POLL="…"] blocks CloudVAMP 2015 printed.
import { runMain } from '../lib/io/run-main';
import { openHypervisor } from '../lib/libvirt/client';
import { probeMain } from '../lib/monitor/command';

const name = 'cloudvamp-poll';
void runMain(name, () =>
  probeMain('legacy', name, { argv: process.argv.slice(2), env: process.env, probePath: process.argv[1], open: openHypervisor, now: Date.now }),
);
