// `cloudvamp`: the operator's one entry point. It owns no logic: each
// subcommand hands its arguments to the core the single executable uses
// (probeMain, runCvem, planCommand) and only chooses how to print. Tables
// (or readable log lines) for people, JSON with --json for scripts.
import { Command, CommanderError } from 'commander';
import { usageError } from '../errors';
import { DEFAULT_CONFIG_PATH, runCvem, statusOriginal, type CvemEnv } from '../elasticity/command';
import { chooseGuestFigures } from '../elasticity/guest-figures';
import { readCvemConfigFile } from '../io/config-files';
import { fileStateStore } from '../io/state-file';
import type { ProbeEnv } from '../monitor/command';
import type { ProbeKind } from '../monitor/probe';
import type { PlanCommandDeps, PlanCommandResult } from '../planning/command';

/** `cloudvamp probe NAME` → the probe kind it runs. */
export const PROBES: Readonly<Record<string, ProbeKind>> = {
  system: 'host-system',
  monitor: 'host-monitor',
  status: 'vm-status',
  vm: 'vm-monitor',
  legacy: 'legacy',
};

export interface CloudvampEnv {
  /** probeMain (lib/monitor/command.ts) */
  probe(kind: ProbeKind, name: string, penv: ProbeEnv): string;
  probeEnv: Omit<ProbeEnv, 'argv'>;
  /** runCvem's environment (lib/elasticity/command.ts); its `write` gets JSON log lines */
  cvem: CvemEnv;
  /** planCommand (lib/planning/command.ts) */
  plan(argv: readonly string[], deps: PlanCommandDeps): Promise<PlanCommandResult>;
  planDeps: PlanCommandDeps;
}

const COMMANDS = ['probe', 'status', 'plan', 'restore-all'] as const;

/** One cvem JSON log line → one line for a person: time, level, message, the VM and sizes it is about. */
export function humanLogLine(line: string): string {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const mib = (k: unknown) => (typeof k === 'number' ? `${Math.round(k / 1024)} MiB` : '?');
  const parts = [String(e.time ?? '').slice(11, 19), String(e.level ?? '').padEnd(5), String(e.msg ?? '')];
  if (e.vmId !== undefined) parts.push(`VM ${String(e.vmId)}`);
  if (e.fromKiB !== undefined || e.targetKiB !== undefined) parts.push(`${mib(e.fromKiB)} → ${mib(e.targetKiB)}`);
  if (e.toHostId !== undefined) parts.push(`host ${String(e.fromHostId)} → host ${String(e.toHostId)}`);
  if (typeof e.error === 'string') parts.push(`error: ${e.error}`);
  else if (typeof e.reason === 'string') parts.push(`(${e.reason})`);
  return parts.filter(Boolean).join('  ');
}

/**
 * `status --json`: what the status table shows, unrounded (KiB), with the
 * state's record of each VM. Reads through the same config, adapters and
 * state file as `cloudvamp-cvem status`.
 */
async function statusJson(env: CvemEnv, configPath: string | undefined): Promise<string> {
  const path = configPath ?? (env.configExists?.(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined);
  const { config } = await readCvemConfigFile(path);
  const store = env.store?.(config) ?? fileStateStore(config.stateFile);
  const adapters = await env.adapters(config, () => {});
  const [view, state] = await Promise.all([adapters.source.snapshot(), store.load()]);
  const now = env.now();
  const vms = [...view.vms]
    .sort((a, b) => a.id - b.id)
    .map((vm) => {
      const s = state.vms[String(vm.id)];
      const f = chooseGuestFigures(vm, config, now, s?.lastChangeAt).figures;
      return {
        id: vm.id,
        name: vm.name,
        hostId: vm.hostId,
        host: vm.hostName,
        running: vm.running,
        managed: s !== undefined,
        // null: nothing proves an original (the daemon leaves the VM alone)
        originalKiB: statusOriginal(vm, s).kib ?? null,
        currentKiB: vm.currentKiB,
        usedKiB: f?.usedKiB ?? null,
        freeKiB: f?.freeKiB ?? null,
        figures: f?.source ?? null,
        strikes: s?.strikes ?? 0,
        lastAction: s?.lastAction ?? null,
      };
    });
  return `${JSON.stringify({ time: new Date(now).toISOString(), vms }, null, 2)}\n`;
}

export interface CloudvampResult {
  /** everything for stdout */
  output: string;
  /** non-zero when the command ran but did not do all it should (plan --apply) */
  exitCode: number;
}

const done = (output: string): CloudvampResult => ({ output, exitCode: 0 });

/** Runs one `cloudvamp` invocation; returns what to print and the exit code. Errors are thrown (lib/io/run-main.ts maps them). */
export async function runCloudvamp(argv: readonly string[], env: CloudvampEnv): Promise<CloudvampResult> {
  let out = '';
  let commandOutput: Promise<string> | string | undefined;
  let planResult: Promise<PlanCommandResult> | undefined;
  const program = new Command('cloudvamp')
    .description('CloudVAMP memory oversubscription for OpenNebula KVM: run a probe, see or restore the VMs the elasticity manager manages, plan migrations')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => void (out += s), writeErr: (s) => void (out += s) })
    .addHelpText(
      'after',
      '\nEvery command takes --help. --json gives scripts JSON (probe: the report, status: the VMs, plan: the plan, restore-all: log lines).',
    );
  const passThrough = (cmd: Command) => cmd.helpOption(false).allowUnknownOption().allowExcessArguments().passThroughOptions();
  const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h');
  const withoutJson = (args: string[]) => args.filter((a) => a !== '--json');

  passThrough(
    program
      .command('probe')
      .description('run an IM probe here, in-process: system | monitor | status | vm | legacy  [--uri URI] [--format one|json] [--config FILE]')
      .argument('[args...]'),
  ).action((args: string[]) => {
    const [which, ...rest] = args;
    if (which === undefined || (wantsHelp(args) && PROBES[which] === undefined)) {
      commandOutput =
        'Usage: cloudvamp probe <system|monitor|status|vm|legacy> [--uri URI] [--format one|json] [--config FILE]\n\n' +
        'Runs the probe OpenNebula runs on a host and prints its report (OpenNebula template text, or JSON).\n' +
        '  system   host/system: capacity, TOTALMEMORY = physical + O x borrowed memory\n' +
        '  monitor  host/monitor: used/free memory and CPU, network counters\n' +
        '  status   vm/status: the OpenNebula state of every VM on the host\n' +
        '  vm       vm/monitor: each VM\'s CPU, network and balloon memory figures\n' +
        '  legacy   the OpenNebula 4.x-5.10 probe document\n' +
        '`cloudvamp probe NAME --help` lists the options of one probe.\n';
      if (which === undefined && !wantsHelp(args)) throw usageError('probe: name a probe: system, monitor, status, vm or legacy (see cloudvamp probe --help)');
      return;
    }
    const kind = PROBES[which];
    if (!kind) throw usageError(`probe: unknown probe '${which}'; use one of ${Object.keys(PROBES).join(', ')}`);
    const probeArgs = rest.includes('--json') ? [...withoutJson(rest), '--format', 'json'] : rest;
    commandOutput = env.probe(kind, `cloudvamp probe ${which}`, { ...env.probeEnv, argv: probeArgs });
  });

  const cvemHelp = (sub: string) => runCvem([sub, '--help'], env.cvem).then((h) => h.replace(/cloudvamp-cvem/g, 'cloudvamp'));
  const splitConfig = (args: string[]): { config?: string; rest: string[] } => {
    const rest: string[] = [];
    let config: string | undefined;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === '--config' || a === '-c') config = args[++i];
      else if (a.startsWith('--config=')) config = a.slice('--config='.length);
      else rest.push(a);
    }
    if ((args.includes('--config') || args.includes('-c')) && config === undefined) throw usageError('--config needs a file');
    return config === undefined ? { rest } : { config, rest };
  };
  /** Log lines readable for people unless --json. */
  const cvemEnv = (json: boolean): CvemEnv => {
    if (json) return env.cvem;
    const { write, writeErr } = env.cvem;
    return { ...env.cvem, write: (line) => write(humanLogLine(line)), writeErr: (line) => (writeErr ?? write)(humanLogLine(line)) };
  };

  passThrough(
    program
      .command('status')
      .description('the VMs the elasticity manager manages: original, current, used, free %, last action  [--config FILE] [--json]')
      .argument('[args...]'),
  ).action((args: string[]) => {
    if (wantsHelp(args)) {
      commandOutput = cvemHelp('status').then((h) => `${h.trimEnd()}\n  --json  the same as JSON, sizes in KiB\n  --config FILE  cvem config file (default ${DEFAULT_CONFIG_PATH})\n`);
      return;
    }
    const { config, rest } = splitConfig(args);
    const json = rest.includes('--json');
    const extra = withoutJson(rest);
    if (extra.length > 0) throw usageError(`status takes no ${extra.join(' ')} (see cloudvamp status --help)`);
    commandOutput = json ? statusJson(env.cvem, config) : runCvem([...(config ? ['--config', config] : []), 'status'], cvemEnv(false));
  });

  passThrough(
    program
      .command('restore-all')
      .description('give every managed VM its original memory back (before uninstalling)  [--dry-run] [--force] [--config FILE] [--json]')
      .argument('[args...]'),
  ).action((args: string[]) => {
    if (wantsHelp(args)) {
      commandOutput = cvemHelp('restore-all').then((h) => `${h.trimEnd()}\n  --json  log lines as JSON\n  --config FILE  cvem config file (default ${DEFAULT_CONFIG_PATH})\n`);
      return;
    }
    const { config, rest } = splitConfig(args);
    commandOutput = runCvem([...(config ? ['--config', config] : []), 'restore-all', ...withoutJson(rest)], cvemEnv(rest.includes('--json')));
  });

  passThrough(
    program
      .command('plan')
      .description('plan live migrations (dry run): consolidate | balance | hotspot | evacuate HOST  [--snapshot FILE] [--json] ...')
      .argument('[args...]'),
  ).action((args: string[]) => {
    const planArgs = args.includes('--json') ? [...withoutJson(args), '--format', 'json'] : args;
    planResult = env.plan(planArgs, env.planDeps).then((r) => ({ ...r, output: r.output.replace(/cloudvamp-plan/g, 'cloudvamp plan') }));
  });

  if (argv.length === 0) return done(program.helpInformation());
  const first = argv[0]!;
  // `help [command]`, as --help lists it: commander's own help command cannot
  // reach the pass-through commands' help, which each command answers itself
  if (first === 'help') {
    const [, command, ...extra] = argv;
    if (command === undefined) return runCloudvamp(['--help'], env);
    if (!(COMMANDS as readonly string[]).includes(command) || extra.length > 0)
      throw usageError(`help: unknown command '${[command, ...extra].join(' ')}'; commands: ${COMMANDS.join(', ')} (see cloudvamp --help)`);
    return runCloudvamp([command, '--help'], env);
  }
  if (!first.startsWith('-') && !(COMMANDS as readonly string[]).includes(first)) {
    throw usageError(`unknown command '${first}'; commands: ${COMMANDS.join(', ')} (see cloudvamp --help)`);
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return done(out); // --help, --version
      throw usageError(`${error.message.replace(/^error: /, '')} (see cloudvamp --help)`);
    }
    throw error;
  }
  if (planResult) return planResult;
  return done((await commandOutput) ?? out);
}
