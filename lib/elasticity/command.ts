// cloudvamp-cvem's commands. cli/cvem.ts only wires process.argv, stdout,
// signals and the real adapters into `runCvem`; tests pass fakes.

import { Command, CommanderError } from 'commander';
import { CloudvampError, oneLineMessage, usageError } from '../errors';
import { readCvemConfigFile } from '../io/config-files';
import type { ElasticityConfig } from './config';
import { runRestore, type CycleDeps } from './cycle';
import { runDaemon } from './daemon';
import { withStateLock } from './state-lock';
import { timerSleep } from './timer';
import type { ClusterSource, ClusterView, HostReservePublisher, KsmTuner, Logger, LogEvent, MemoryApplier, Migrator, Publisher, StateStore, VmView } from './ports';
import { chooseGuestFigures } from './guest-figures';
import { fileStateStore } from '../io/state-file';
import { emptyState, mergeOriginal, type ElasticityState, type ManagedVm } from './state';

export const DEFAULT_CONFIG_PATH = '/etc/one/cloudvamp/cvem.conf';

export interface Adapters {
  source: ClusterSource;
  applier: MemoryApplier;
  migrator: Migrator;
  publisher: Publisher;
  /** absent: the regrowth reserve is planned and logged but never written */
  hostReserve?: HostReservePublisher;
  /** absent (KSM_COMMAND empty): KSM is left alone */
  ksm?: KsmTuner;
}

export interface CvemEnv {
  /** builds the oned/host adapters for a config (cli/cvem.ts: lib/oned) */
  adapters(config: ElasticityConfig, log: Logger): Promise<Adapters>;
  store?(config: ElasticityConfig): StateStore<ElasticityState>;
  now(): number;
  sleep?(ms: number, signal: AbortSignal): Promise<void>;
  /** one line (without newline) to stdout */
  write(line: string): void;
  /**
   * one line to stderr: `status` logs there, so its stdout is only the table
   * (scripts read it); default `write`
   */
  writeErr?(line: string): void;
  /** aborted on SIGTERM / SIGINT */
  signal: AbortSignal;
  /** does the default config file exist (a missing default means built-in defaults) */
  configExists?(path: string): boolean;
}

/** One JSON object per line: journald and log shippers read it as is. */
export function jsonLogger(write: (line: string) => void, now: () => number, minLevel: LogEvent['level'] = 'info'): Logger {
  const order = { debug: 0, info: 1, warn: 2, error: 3 } as const;
  return (event) => {
    if (order[event.level] < order[minLevel]) return;
    const { level, msg, ...fields } = event;
    write(JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...fields }));
  };
}

const mib = (kib: number | undefined) => (kib === undefined ? '-' : String(Math.round(kib / 1024)));

function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

/**
 * Pure: the original `status` shows for a VM: the state's; for a VM not in it
 * yet, what the daemon would adopt (oned's copy first, mark '*'); none (mark
 * '?') when nothing proves one — never the current, possibly shrunk, size.
 */
export function statusOriginal(vm: VmView, s: ManagedVm | undefined): { kib?: number; mark: '' | '*' | '?' } {
  if (s) return { kib: s.originalKiB, mark: '' };
  const adopted = mergeOriginal({
    ...(vm.recordedOriginalKiB !== undefined ? { onedKiB: vm.recordedOriginalKiB } : {}),
    ...(vm.cloudvampSetKiB !== undefined ? { cloudvampSetKiB: vm.cloudvampSetKiB } : {}),
    templateMemoryKiB: vm.templateMemoryKiB,
    currentKiB: vm.currentKiB,
  });
  return adopted.proven ? { kib: adopted.originalKiB, mark: '*' } : { mark: '?' };
}

/** Pure: the status table (sizes in MiB). */
export function formatStatus(view: ClusterView, state: ElasticityState, config: ElasticityConfig, now: number): string {
  const rows: string[][] = [['VM', 'NAME', 'HOST', 'ORIGINAL', 'CURRENT', 'USED', 'FREE%', 'LAST ACTION']];
  let unmanaged = false;
  let unknown = false;
  for (const vm of [...view.vms].sort((a, b) => a.id - b.id)) {
    const s = state.vms[String(vm.id)];
    const o = statusOriginal(vm, s);
    if (o.mark === '*') unmanaged = true;
    if (o.mark === '?') unknown = true;
    const original = o.kib === undefined ? '?' : `${mib(o.kib)}${o.mark}`;
    const f = chooseGuestFigures(vm, config, now, s?.lastChangeAt).figures;
    const last = s?.lastAction;
    rows.push([
      String(vm.id),
      vm.name,
      vm.hostName ?? '-',
      original,
      mib(vm.currentKiB),
      mib(f?.usedKiB),
      f ? ((f.freeKiB / f.totalKiB) * 100).toFixed(1) : '-',
      last
        ? `${last.action}${last.action === 'migrate' ? ` to host ${last.toHostId}` : ` ${mib(last.fromKiB)}→${mib(last.toKiB)}`} ${last.result} ${ago(now - last.at)} ago`
        : '-',
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd());
  return (
    `${lines.join('\n')}\n` +
    (unmanaged ? "* not yet seen by the daemon: the original it would record (oned's CLOUDVAMP_ORIGINAL_MEMORY, else the template MEMORY)\n" : '') +
    (unknown ? '? no original recorded anywhere and below its template MEMORY: left alone (set CLOUDVAMP_ORIGINAL_MEMORY, KiB)\n' : '')
  );
}

/** Runs one cvem invocation; returns what to print at the end (daemon logs are written as they happen). */
export async function runCvem(argv: readonly string[], env: CvemEnv): Promise<string> {
  let output = '';
  const program = new Command('cloudvamp-cvem')
    .description('CloudVAMP elasticity manager: shrinks idle VMs, gives memory back when guests run short, migrates first when a host is full')
    .option('-c, --config <file>', `KEY=VALUE config file (default ${DEFAULT_CONFIG_PATH})`)
    .option('--debug', 'also log decisions that change nothing')
    .exitOverride()
    .configureOutput({ writeOut: (s) => (output += s), writeErr: (s) => (output += s) });

  const setup = async (logTo: (line: string) => void = env.write) => {
    const opts = program.opts<{ config?: string; debug?: boolean }>();
    const path = opts.config ?? (env.configExists?.(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined);
    const { config, warnings } = await readCvemConfigFile(path);
    const log = jsonLogger(logTo, env.now, opts.debug ? 'debug' : 'info');
    for (const w of warnings) log({ level: 'warn', msg: w.message, event: 'config', key: w.key });
    const store = env.store?.(config) ?? fileStateStore(config.stateFile);
    return { config, log, store };
  };
  const deps = async (config: ElasticityConfig, log: Logger, store: StateStore<ElasticityState>): Promise<CycleDeps> => ({
    ...(await env.adapters(config, log)),
    store,
    log,
    now: env.now,
    shouldStop: () => env.signal.aborted,
  });

  program
    .command('run')
    .description('run the control loop (every INTERVAL seconds) until SIGTERM')
    .option('--once', 'run one cycle and exit')
    .option('--dry-run', 'print every decision with its reason; change nothing (state file included)')
    .action(async (o: { once?: boolean; dryRun?: boolean }) => {
      const { config, log, store } = await setup();
      const d = await deps(config, log, store);
      await runDaemon({ ...d, sleep: env.sleep ?? timerSleep }, config, { once: o.once === true, dryRun: o.dryRun === true, signal: env.signal });
    });

  program
    .command('status')
    .description('table of managed VMs: original, current, used, free %, last action')
    .action(async () => {
      const { config, log, store } = await setup((line) => (env.writeErr ?? env.write)(line));
      const d = await deps(config, log, store);
      const [view, state] = await Promise.all([d.source.snapshot(), store.load()]);
      output += formatStatus(view, state, config, env.now());
    });

  program
    .command('restore-all')
    .description('give every managed VM its original memory back (run before uninstalling)')
    .option('--dry-run', 'print what would be restored')
    .option('--force', "restore even where it takes a host past its headroom (no room found by migrating)")
    .action(async (o: { dryRun?: boolean; force?: boolean }) => {
      const { config, log, store } = await setup();
      const d = await deps(config, log, store);
      const restore = async () => {
        // An unreadable state file does not stop the kill switch: oned's copy of each original still proves it,
        // and a VM without one is named below and left alone.
        let state: ElasticityState;
        let stateLost = false;
        try {
          state = await store.load();
        } catch (error) {
          if (!(error instanceof CloudvampError && error.kind === 'config')) throw error;
          log({ level: 'warn', msg: `${oneLineMessage(error)}; restoring from oned's CLOUDVAMP_ORIGINAL_MEMORY only`, event: 'restore' });
          state = emptyState();
          stateLost = true;
        }
        return runRestore(d, config, state, { dryRun: o.dryRun === true, force: o.force === true, stateLost });
      };
      // restore-all writes the state file: not while a daemon does (stop it first; see docs/elasticity.md).
      const report = o.dryRun ? await restore() : await withStateLock(store, restore);
      const grows = report.plan.decisions.filter((x) => x.action === 'grow').length;
      if (report.unproven.length > 0)
        throw new CloudvampError(
          'unsafe',
          `restore-all: no recorded original size for VM ${report.unproven.map((u) => u.vmId).join(', ')}, left as they are; ` +
            'set USER_TEMPLATE/CLOUDVAMP_ORIGINAL_MEMORY (KiB) on each and rerun' +
            (o.dryRun ? '' : ` (${report.applied} other VMs restored)`),
        );
      if (!o.dryRun && (report.failed > 0 || report.skipped > 0))
        throw new CloudvampError(
          'unsafe',
          `restore-all: ${report.applied} VMs restored, ${report.failed} failed, ${report.skipped} not restored (see the log); rerun, or with --force`,
        );
      log({ level: 'info', msg: o.dryRun ? `restore-all would restore ${grows} VMs` : `restore-all restored ${report.applied} VMs`, event: 'restore' });
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return output; // --help, --version
      throw usageError(`${error.message.replace(/^error: /, '')} (see --help)`);
    }
    throw error;
  }
  return output;
}
