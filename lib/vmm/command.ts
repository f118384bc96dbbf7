// The shared body of every vmm/<action> executable: argv (commander) and
// config at the edge, one Op from ops.ts in the middle, one stdout answer or
// one stderr line out (lib/io/run-main.ts). The outside world comes in as `deps`
// so tests can run it against the test driver or a fake.
import { Command, CommanderError } from 'commander';
import { runMain } from '../io/run-main';
import { usageError } from '../errors';
import type { Hypervisor } from '../libvirt/types';
import { ACTIONS, parseActionArgs, type ActionName } from './actions';
import type { Clock } from './balloon';
import { loadVmmConfig } from '../io/config-files';
import { deployCheck, OPS, STDIN_CHECKS, type VmmFiles } from './ops';

export interface VmmDeps {
  /** opens a libvirt connection */
  open: (uri: string) => Hypervisor;
  files: VmmFiles;
  clock: Clock;
  /** everything on stdin */
  readStdin: () => Promise<string>;
  /** is stdin a terminal (then nothing will come) */
  stdinIsTty: boolean;
  /** process.argv[1]: locates the default config */
  executablePath: string;
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (line: string) => void;
  runStock?: (action: ActionName, argv: readonly string[], stdin: string) => Promise<void>;
}

interface Options {
  config?: string;
  uri?: string;
}

function buildProgram(name: ActionName, out: (text: string) => void): Command {
  const spec = ACTIONS[name];
  const program = new Command(name)
    .description(
      `${spec.summary}.\n\nstdin: ${spec.stdin === 'domain-xml' ? 'the libvirt domain XML' : spec.stdin === 'action-xml' ? 'the VMM_DRIVER_ACTION_DATA document' : 'not read'}\nstdout: ${spec.stdout}`,
    )
    .option('--config <file>', 'config file (default: <remotes>/etc/vmm/cloudvamp/cloudvamp.conf, or $CLOUDVAMP_VMM_CONFIG)')
    .option('--uri <uri>', 'libvirt URI, instead of LIBVIRT_URI from the config')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: () => undefined, outputError: () => undefined });
  for (const arg of spec.args) program.argument(`<${arg.name}>`, arg.description);
  return program;
}

/** Parses argv; undefined when --help was shown. Throws a usage error naming the fix otherwise. */
export function parseCommandLine(name: ActionName, argv: readonly string[], out: (text: string) => void) {
  const spec = ACTIONS[name];
  const program = buildProgram(name, out);
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.help') return undefined;
      const usage = `${name} ${spec.args.map((a) => `<${a.name}>`).join(' ')}`;
      throw usageError(`${error.message.replace(/^error:\s*/, '')} (usage: ${usage}; see --help)`);
    }
    throw error;
  }
  return { args: parseActionArgs(spec, program.args), options: program.opts<Options>(), positional: program.args };
}

/**
 * `deploy --check [--config F] [--uri U]`: what deploy will add to the
 * memballoon on this host, and what its libvirt and QEMU support. Connects,
 * changes nothing.
 */
async function checkCommand(argv: readonly string[], deps: VmmDeps): Promise<string> {
  const program = new Command('deploy --check')
    .option('--check', 'report the balloon options this host supports and what deploy adds')
    .option('--config <file>', 'config file')
    .option('--uri <uri>', 'libvirt URI')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: deps.stdout, writeErr: () => undefined, outputError: () => undefined });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) throw usageError(`${error.message.replace(/^error:\s*/, '')} (usage: deploy --check [--config <file>] [--uri <uri>])`);
    throw error;
  }
  const options = program.opts<Options>();
  const loaded = loadVmmConfig(options.config ?? (deps.env['CLOUDVAMP_VMM_CONFIG'] || undefined), deps.executablePath);
  for (const warning of loaded.warnings) deps.stderr(`WARN: ${warning}`);
  const hv = deps.open(options.uri ?? loaded.config.libvirtUri);
  try {
    return deployCheck(hv, loaded.config);
  } finally {
    hv.close();
  }
}

/** Runs one action end to end; sets process.exitCode through runMain. */
export async function runVmmAction(name: ActionName, argv: readonly string[], deps: VmmDeps): Promise<void> {
  const log = (line: string) => deps.stderr(line);
  await runMain(name, async () => {
    if (name === 'deploy' && argv.includes('--check')) return checkCommand(argv, deps);
    const parsed = parseCommandLine(name, argv, deps.stdout);
    if (!parsed) return '';
    const spec = ACTIONS[name];
    const loaded = loadVmmConfig(parsed.options.config ?? (deps.env['CLOUDVAMP_VMM_CONFIG'] || undefined), deps.executablePath);
    for (const warning of loaded.warnings) log(`WARN: ${warning}`);
    const config = { ...loaded.config, ...(parsed.options.uri ? { libvirtUri: parsed.options.uri } : {}) };
    let stdinText: Promise<string> | undefined;
    const stdin = () => {
      if (spec.stdin === 'ignored') return Promise.resolve('');
      if (deps.stdinIsTty)
        return Promise.reject(usageError(`${name} reads ${spec.stdin === 'domain-xml' ? 'the domain XML' : 'the action XML'} from stdin; pipe it in`));
      stdinText ??= deps.readStdin();
      return stdinText;
    };
    // Bad stdin is bad input too: read and check it before connecting.
    if (spec.stdin !== 'ignored') STDIN_CHECKS[name]?.(await stdin());
    const hv = deps.open(config.libvirtUri);
    try {
      return await OPS[name](
        {
          hv,
          files: deps.files,
          config,
          clock: deps.clock,
          log,
          stdin,
          argv: parsed.positional,
          ...(deps.runStock ? { runStock: deps.runStock } : {}),
        },
        parsed.args,
      );
    } finally {
      hv.close();
    }
  });
}
