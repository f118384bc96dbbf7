// IM probe host/beacon: prints the time. No libvirt (and no koffi load), so it stays cheap at its 30 s period.
import { runMain } from '../lib/io/run-main';
import { CloudvampError } from '../lib/errors';
import { probeMain } from '../lib/monitor/command';

const name = 'cloudvamp-host-beacon';
const open = () => {
  throw new CloudvampError('internal', 'the beacon never opens libvirt');
};
void runMain(name, () => probeMain('host-beacon', name, { argv: process.argv.slice(2), env: process.env, probePath: process.argv[1], open, now: Date.now }));
