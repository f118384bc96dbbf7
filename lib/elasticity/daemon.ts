// The daemon loop around the cycle: take the state file's lock, load the
// state, run a cycle every INTERVAL until SIGTERM. A failed cycle is logged
// and retried next interval, except errors no retry cures (isFatal); a state
// the last cycle could not write (StateNotSaved) is written before anything
// else changes.

import { CloudvampError, oneLineMessage } from '../errors';
import { OnedError } from '../oned/errors';
import type { ElasticityConfig } from './config';
import { runCycle, type CycleDeps, type CycleOptions } from './cycle';
import type { ElasticityState } from './state';
import { withStateLock } from './state-lock';
import { persist, StateNotSaved } from './state-saving';

export interface DaemonDeps extends CycleDeps {
  /** resolves after `ms` or as soon as `signal` aborts */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * The daemon: take the state file's lock, load state, run cycles every
 * INTERVAL until `signal` aborts. A failed cycle (oned unreachable…) is logged
 * and retried next interval; with `once`, or when no retry can help
 * (`isFatal`), it is rethrown so the exit code tells.
 */
export async function runDaemon(
  deps: DaemonDeps,
  config: ElasticityConfig,
  opts: CycleOptions & { once?: boolean; signal: AbortSignal },
): Promise<{ cycles: number; state: ElasticityState }> {
  // A dry run writes nothing, so it may watch alongside the real daemon.
  return opts.dryRun ? loop(deps, config, opts) : withStateLock(deps.store, () => loop(deps, config, opts));
}

/**
 * Errors no retry will cure: a bad config, or oned refusing cvem's credentials
 * or rights. The daemon stops on them with that one message (and systemd shows
 * it) instead of logging the same failure every INTERVAL.
 */
export function isFatal(error: unknown): boolean {
  if (error instanceof OnedError) return error.codeName === 'AUTHENTICATION' || error.codeName === 'AUTHORIZATION';
  return error instanceof CloudvampError && error.kind === 'config';
}

async function loop(
  deps: DaemonDeps,
  config: ElasticityConfig,
  opts: CycleOptions & { once?: boolean; signal: AbortSignal },
): Promise<{ cycles: number; state: ElasticityState }> {
  const cycleDeps: CycleDeps = { ...deps, shouldStop: () => opts.signal.aborted, staleLogged: deps.staleLogged ?? new Set(), foreignLogged: deps.foreignLogged ?? new Set() };
  let state = await deps.store.load();
  let cycles = 0;
  /** a state the last cycle could not write: nothing changes until it is written */
  let unsaved: ElasticityState | undefined;
  deps.log({ level: 'info', msg: 'cvem started', event: 'start', vms: Object.keys(state.vms).length, dryRun: opts.dryRun === true, growthRule: config.growthRule });
  while (!opts.signal.aborted) {
    const started = deps.now();
    try {
      if (unsaved) {
        await persist(deps, unsaved);
        unsaved = undefined;
        deps.log({ level: 'info', msg: 'state file written again; cycles resume', event: 'state' });
      }
      const report = await runCycle(cycleDeps, config, state, opts);
      state = report.state;
      const counts = { grow: 0, shrink: 0, none: 0 };
      for (const d of report.plan.decisions) counts[d.action]++;
      deps.log({ level: 'info', msg: 'cycle done', event: 'cycle', cycle: cycles, vms: report.view.vms.length, ...counts, migrations: report.plan.migrations.length, applied: report.applied, failed: report.failed, skipped: report.skipped, ms: deps.now() - started });
    } catch (error) {
      if (error instanceof StateNotSaved) {
        state = error.state;
        unsaved = error.state;
      }
      deps.log({ level: 'error', msg: 'cycle failed', event: error instanceof StateNotSaved ? 'state' : 'cycle', cycle: cycles, error: oneLineMessage(error) });
      if (opts.once || isFatal(error)) throw error;
    }
    cycles++;
    if (opts.once) break;
    await deps.sleep(config.intervalMs, opts.signal);
  }
  deps.log({ level: 'info', msg: 'cvem stopped', event: 'stop', cycles });
  return { cycles, state };
}
