// Shared command line of every IM probe. OpenNebula calls probes with its own
// positional arguments (`<im_mad> <host_id> <hostname>` from 5.12 on,
// `<ds_location> <port> <push_period> <host_id> <hostname>` in 4.x) and the
// monitor config XML on stdin; the probes need neither. The options are for
// an operator debugging a host by hand.
//
// Parsed with node's own util.parseArgs rather than commander: a probe runs
// every few seconds on every host, and commander alone was half of a probe
// bundle and ~7 ms of its start-up (it loads child_process and events).
import { parseArgs } from 'node:util';
import { usageError } from '../errors';
import type { Hypervisor } from '../libvirt/types';
import { readProbeConfig } from '../io/config-files';
import { defaultConfigPath } from './config';
import { runProbe, type OutputFormat, type ProbeKind } from './probe';
import { DEFAULT_STATE_DIR, fileCpuSampleStore, readProcFile } from '../io/probe-state';

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

function helpText(kind: ProbeKind, name: string): string {
  const lines = [
    `Usage: ${name} [options] [opennebula-args...]`,
    '',
    DESCRIPTIONS[kind],
    '',
    'Arguments:',
    '  opennebula-args    arguments OpenNebula passes (ignored)',
    '',
    'Options:',
    '  --uri <uri>        libvirt URI (default: LIBVIRT_URI of the config file, else qemu:///system)',
    "  --format <format>  one: OpenNebula template text; json: the same report as JSON (default: \"one\")",
    '  --config <file>    config file (default: $CLOUDVAMP_CONFIG, else <remotes>/etc/im/cloudvamp-probes.d/cloudvamp.conf)',
  ];
  if (kind === 'host-system') lines.push('  --legacy           print the OpenNebula 4.x document instead (same as PROBE_FORMAT=legacy)');
  lines.push('  -h, --help         display help for command');
  return `${lines.join('\n')}\n`;
}

interface ProbeOptions {
  uri?: string;
  format: string;
  config?: string;
  legacy?: boolean;
  help?: boolean;
}

function parseProbeArgs(kind: ProbeKind, argv: string[]): ProbeOptions {
  try {
    const { values } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        uri: { type: 'string' },
        format: { type: 'string', default: 'one' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...(kind === 'host-system' ? { legacy: { type: 'boolean' as const } } : {}),
      },
    });
    return values as ProbeOptions;
  } catch (error) {
    const code = (error as { code?: string }).code;
    const option = /option '([^']+)'/i.exec((error as Error).message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw usageError(`unknown option '${option ?? '?'}'; see --help`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw usageError(`option '${option ?? '?'}' needs a value; see --help`);
    throw error;
  }
}

/** Parses argv, runs the probe and returns its stdout (help text included). */
export function probeMain(kind: ProbeKind, name: string, penv: ProbeEnv): string {
  const opts = parseProbeArgs(kind, penv.argv);
  if (opts.help) return helpText(kind, name);
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
    readProc: readProcFile,
    cpuSamples: fileCpuSampleStore(penv.env.CLOUDVAMP_STATE_DIR || DEFAULT_STATE_DIR),
  });
}
