// Shared command line of every IM probe. OpenNebula calls probes with its own
// positional arguments (`<im_mad> <host_id> <hostname>` from 5.12 on,
// `<ds_location> <port> <push_period> <host_id> <hostname>` in 4.x) and the
// monitor config XML on stdin; the probes need neither. The options are for
// an operator debugging a host by hand.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { usageError } from '../errors';
import type { Hypervisor } from '../libvirt/types';
import { defaultConfigPath, readProbeConfig } from '../memory/config';
import { runProbe, type OutputFormat, type ProbeKind } from './probe';
import { DEFAULT_STATE_DIR } from './state';

const DESCRIPTIONS: Record<ProbeKind, string> = {
  'host-system': 'CloudVAMP host/system probe (SYSTEM_HOST): capacity, with TOTALMEMORY = physical + O x borrowed memory',
  'host-monitor': 'CloudVAMP host/monitor probe (MONITOR_HOST): used/free memory and CPU, network counters',
  'host-beacon': 'CloudVAMP host/beacon probe (BEACON_HOST): prints the time, proving the host is alive',
  'vm-status': 'CloudVAMP vm/status probe (STATE_VM): the OpenNebula state of every VM on the host',
  'vm-monitor': "CloudVAMP vm/monitor probe (MONITOR_VM): each VM's CPU, network and balloon memory figures",
  legacy: 'CloudVAMP probe for OpenNebula 4.x-5.10 (one document: host keys, VM_POLL=YES, VM=[...POLL=...] blocks)',
};

export interface ProbeEnv {
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** path of the running probe (process.argv[1]), to find its config file */
  probePath: string | undefined;
  open: (uri: string) => Hypervisor;
  now: () => number;
}

const readProc = (file: string): string | undefined => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** Parses argv, runs the probe and returns its stdout (help text included). */
export function probeMain(kind: ProbeKind, name: string, penv: ProbeEnv): string {
  let out = '';
  const program = new Command(name)
    .description(DESCRIPTIONS[kind])
    .argument('[opennebula-args...]', 'arguments OpenNebula passes (ignored)')
    .option('--uri <uri>', 'libvirt URI (default: LIBVIRT_URI of the config file, else qemu:///system)')
    .addOption(new Option('--format <format>', 'one: OpenNebula template text; json: the same report as JSON').default('one'))
    .option('--config <file>', 'config file (default: $CLOUDVAMP_CONFIG, else <remotes>/etc/im/cloudvamp-probes.d/cloudvamp.conf)')
    .allowExcessArguments(true)
    .exitOverride()
    .configureOutput({ writeOut: (s) => (out += s), writeErr: () => {} });
  if (kind === 'host-system') program.option('--legacy', 'print the OpenNebula 4.x document instead (same as PROBE_FORMAT=legacy)');
  try {
    program.parse(penv.argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError && (error.code === 'commander.helpDisplayed' || error.code === 'commander.help')) return out;
    if (error instanceof CommanderError) throw usageError(`${error.message.replace(/^error: /, '')}; see --help`);
    throw error;
  }
  const opts = program.opts<{ uri?: string; format: string; config?: string; legacy?: boolean }>();
  if (opts.format !== 'one' && opts.format !== 'json') throw usageError(`--format must be 'one' or 'json', not '${opts.format}'`);
  const explicit = opts.config ?? (penv.env.CLOUDVAMP_CONFIG || undefined);
  const config =
    kind === 'host-beacon'
      ? readProbeConfig(undefined, false)
      : readProbeConfig(explicit ?? (penv.probePath ? defaultConfigPath(penv.probePath) : undefined), explicit !== undefined);
  if (opts.uri !== undefined) config.libvirtUri = opts.uri;
  return runProbe({
    kind,
    config,
    format: opts.format as OutputFormat,
    legacy: opts.legacy === true,
    open: penv.open,
    now: penv.now,
    readProc,
    stateDir: penv.env.CLOUDVAMP_STATE_DIR || DEFAULT_STATE_DIR,
  });
}
