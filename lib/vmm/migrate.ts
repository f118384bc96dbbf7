// Migration through libvirt: options from the config, progress from the job
// info while the (koffi-async) migrateToUri call runs, and a check of the
// source afterwards so a failure always says where the VM is.
import { CloudvampError } from '../errors';
import type { DomainHandle, Hypervisor, JobProgress, MigrateOptions } from '../libvirt/types';
import { DomainState } from '../libvirt/types';
import type { Clock } from './balloon';

const MiB = 1024 * 1024;

/** `45% 120/256 MiB, 1.2 s`, or undefined when libvirt has no numbers yet. Pure. */
export function formatProgress(job: JobProgress): string | undefined {
  const total = job.dataTotalBytes;
  if (!total) return undefined;
  const done = job.dataRemainingBytes !== undefined ? total - job.dataRemainingBytes : (job.dataProcessedBytes ?? 0);
  const pct = Math.max(0, Math.min(100, Math.floor((done / total) * 100)));
  const elapsed = job.timeElapsedMs !== undefined ? `, ${(job.timeElapsedMs / 1000).toFixed(1)} s` : '';
  return `${pct}% ${Math.round(done / MiB)}/${Math.round(total / MiB)} MiB${elapsed}`;
}

/** One line describing the options, for the log. Pure. */
export function describeOptions(o: MigrateOptions): string {
  const words = [o.live ? 'live' : 'paused (not live)', o.peerToPeer ? 'peer-to-peer' : 'client-managed'];
  if (o.persistent) words.push('persistent');
  if (o.unsafe) words.push('unsafe');
  if (o.compressed) words.push('compressed');
  if (o.autoConverge) words.push('auto-converge');
  if (o.bandwidthMiBs) words.push(`${o.bandwidthMiBs} MiB/s`);
  if (o.migrateUri) words.push(`data via ${o.migrateUri}`);
  return words.join(', ');
}

export interface MigrateContext {
  clock: Clock;
  log: (line: string) => void;
  /** how often to print progress while the job runs */
  progressIntervalMs?: number;
}

export interface MigrateResult {
  elapsedMs: number;
  /** the completed job's statistics, when libvirt kept them */
  job?: JobProgress;
}

/**
 * Migrates `dom` to `destUri`. Resolves once the domain runs there. On failure,
 * checks the source: a paused guest (non-live copy) is resumed, and the error
 * says whether the VM is still running on the source.
 */
export async function migrateDomain(
  hv: Hypervisor,
  dom: DomainHandle,
  destUri: string,
  options: MigrateOptions,
  ctx: MigrateContext,
): Promise<MigrateResult> {
  const { state } = dom.state();
  if (state !== DomainState.Running && state !== DomainState.Paused)
    throw new CloudvampError('hypervisor', `domain ${dom.name} is not running (state ${DomainState[state] ?? state}); only a running VM can be migrated`);
  const wasPaused = state === DomainState.Paused;
  const uuid = dom.uuid;
  ctx.log(`INFO: migrate: ${dom.name} to ${destUri} (${describeOptions(options)})`);
  const start = ctx.clock.now();
  let settled = false;
  let failure: unknown;
  const job = dom.migrateToUri(destUri, options).then(
    () => {
      settled = true;
    },
    (error: unknown) => {
      settled = true;
      failure = error;
    },
  );
  const interval = ctx.progressIntervalMs ?? 1000;
  let lastLine = '';
  while (!settled) {
    // the wake-up is cancelled when the job ends first, so no timer holds the process
    const wake = new AbortController();
    await Promise.race([job, ctx.clock.sleep(interval, wake.signal)]);
    wake.abort();
    if (settled) break;
    try {
      const line = formatProgress(dom.jobProgress());
      if (line && line !== lastLine) ctx.log(`INFO: migrate: ${line}`);
      if (line) lastLine = line;
    } catch {
      // job info is best effort: the job may be finishing right now
    }
  }
  const elapsedMs = Math.round(ctx.clock.now() - start);
  if (failure === undefined) {
    let completed: JobProgress | undefined;
    try {
      completed = dom.jobProgress(true);
    } catch {
      completed = undefined;
    }
    const downtime = completed?.downtimeMs !== undefined ? `, downtime ${completed.downtimeMs} ms` : '';
    const moved = completed?.dataProcessedBytes !== undefined ? `, ${Math.round(completed.dataProcessedBytes / MiB)} MiB sent` : '';
    ctx.log(`INFO: migrate: ${dom.name} now runs on ${destUri} after ${(elapsedMs / 1000).toFixed(2)} s${moved}${downtime}`);
    return completed ? { elapsedMs, job: completed } : { elapsedMs };
  }

  const reason = failure instanceof Error ? failure.message : String(failure);
  throw new CloudvampError('hypervisor', `migration of ${dom.name} to ${destUri} failed: ${reason}; ${sourceAfterFailure(hv, uuid, wasPaused)}`, {
    cause: failure,
  });
}

/** Where the VM is after a failed migration, in words, resuming a guest the copy left paused. */
function sourceAfterFailure(hv: Hypervisor, uuid: string, wasPaused: boolean): string {
  let dom: DomainHandle;
  try {
    dom = hv.domain(uuid);
  } catch {
    return `the VM is no longer on the source (${hv.uri}): look for it on the destination`;
  }
  try {
    const { state } = dom.state();
    if (state === DomainState.Paused && !wasPaused) {
      try {
        dom.resume();
        return 'the VM was resumed and is still running on the source';
      } catch (error) {
        return `the VM is paused on the source and could not be resumed: ${(error as Error).message}`;
      }
    }
    if (state === DomainState.Running || state === DomainState.Paused)
      return `the VM is still ${state === DomainState.Running ? 'running' : 'paused'} on the source`;
    return `the VM is ${DomainState[state] ?? state} on the source`;
  } finally {
    dom.free();
  }
}
