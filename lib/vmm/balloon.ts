// Balloon changes: the safety checks (never above the domain's maximum, never
// below the configured floor) and the wait for the guest to actually get there.
//
// What "as it was" means on failure: when the guest does not reach the target
// within the bounded wait, the balloon target is set back to the size the
// guest had before the call (best effort; deflating back needs no guest
// cooperation worth waiting for). A failed RESIZE is rolled back by oned to the
// old MEMORY, and the elasticity manager re-reads the VM, so both callers
// expect a failed change to leave the old size in place — not a target the
// guest keeps chasing in the background.
import { CloudvampError, unsafeError } from '../errors';
import { pollUntil } from '../poll-until';
import type { BalloonStats, DomainHandle } from '../libvirt/types';
import { DomainState } from '../libvirt/types';

/** Time as an argument: tests drive it, executables pass the real one. */
export interface Clock {
  now(): number;
  /** resolves after `ms`, or at once when `signal` aborts (a pending timer would keep the process alive) */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/**
 * The balloon moves in 4 KiB pages, so a target is reached when `actual` is
 * within a page of it. Linux inflates in batches of up to 1 MiB, so a balloon
 * a MiB away may still be on its way: that only counts as reached once it has
 * stopped moving there (NEAR_KIB).
 */
export const BALLOON_PAGE_KIB = 4;
export const BALLOON_NEAR_KIB = 1024;

export const NO_BALLOON_MESSAGE = 'guest has no virtio balloon driver (memballoon stats missing)';

const mib = (kib: number) => `${Math.round(kib / 1024)} MiB`;

/** Refuses a balloon target outside [floor, max]. Pure. */
export function checkBalloonTarget(targetKiB: number, limits: { maxKiB: number; floorKiB: number }): void {
  if (!Number.isSafeInteger(targetKiB) || targetKiB <= 0) throw new CloudvampError('usage', `memory size ${targetKiB} KiB is not a positive whole number`);
  if (targetKiB > limits.maxKiB)
    throw unsafeError(
      `memory ${mib(targetKiB)} (${targetKiB} KiB) is above the VM's maximum ${mib(limits.maxKiB)} (${limits.maxKiB} KiB, libvirt <memory>); ` +
        'the balloon cannot grow past it: set MEMORY_MAX and redeploy',
    );
  if (targetKiB < limits.floorKiB)
    throw unsafeError(
      `memory ${mib(targetKiB)} (${targetKiB} KiB) is below the floor of ${mib(limits.floorKiB)} (MEMORY_FLOOR_MIB in cloudvamp.conf)`,
    );
}

export interface SettleOptions {
  timeoutMs: number;
  /** between two reads of the balloon */
  intervalMs?: number;
  /** give up earlier when the balloon has not moved for this long */
  stallMs?: number;
}

export interface SettleResult {
  settled: boolean;
  reachedKiB: number;
  elapsedMs: number;
  /** the balloon never moved away from where it started */
  neverMoved: boolean;
  /** why it did not settle */
  reason?: 'timeout' | 'stalled';
  last: BalloonStats;
}

/**
 * Polls the balloon (`actual`/`current`) until it is within tolerance of the
 * target, stops moving for `stallMs`, or `timeoutMs` passes.
 */
export async function waitForBalloon(
  read: () => BalloonStats,
  targetKiB: number,
  options: SettleOptions,
  clock: Clock,
): Promise<SettleResult> {
  const stall = Math.min(options.stallMs ?? 3000, options.timeoutMs);
  const start = clock.now();
  let last = read();
  if (last.currentKiB === undefined) throw new CloudvampError('hypervisor', NO_BALLOON_MESSAGE);
  const startKiB = last.currentKiB;
  let lastKiB = startKiB;
  let lastChange = start;
  let first = true;
  const result = (now: number, settled: boolean, reason?: 'timeout' | 'stalled'): SettleResult => {
    const current = last.currentKiB ?? lastKiB;
    return { settled, reachedKiB: current, elapsedMs: now - start, neverMoved: current === startKiB, ...(reason ? { reason } : {}), last };
  };
  const near = () => Math.abs((last.currentKiB ?? lastKiB) - targetKiB) <= BALLOON_NEAR_KIB;
  const outcome = await pollUntil(clock, { timeoutMs: options.timeoutMs, intervalMs: options.intervalMs ?? 100 }, () => {
    if (!first) last = read();
    first = false;
    const current = last.currentKiB ?? lastKiB;
    const now = clock.now();
    if (Math.abs(current - targetKiB) < BALLOON_PAGE_KIB) return result(now, true);
    if (current !== lastKiB) {
      lastKiB = current;
      lastChange = now;
    }
    // A time-out is the poll's to call, and it wins over a stall seen at the same moment.
    if (now - start >= options.timeoutMs) return undefined;
    if (now - lastChange >= stall) return result(now, near(), near() ? undefined : 'stalled');
    return undefined;
  });
  if (outcome.done) return outcome.value;
  return result(start + outcome.elapsedMs, near(), near() ? undefined : 'timeout');
}

export interface BalloonChange {
  targetKiB: number;
  /** the balloon size before the call */
  previousKiB: number;
  reachedKiB: number;
  settleMs: number;
  /** nothing was done: the balloon was already at the target */
  unchanged: boolean;
}

export interface BalloonContext {
  floorKiB: number;
  settleTimeoutMs: number;
  clock: Clock;
  /** INFO:/WARN: lines for stderr */
  log: (line: string) => void;
  intervalMs?: number;
  stallMs?: number;
}

/**
 * Sets a running domain's balloon to `targetKiB` and waits for the guest to
 * reach it. Checks everything before changing anything; on a guest that does
 * not follow, puts the old target back and throws.
 */
export async function changeBalloon(dom: DomainHandle, targetKiB: number, ctx: BalloonContext): Promise<BalloonChange> {
  const { state } = dom.state();
  if (state !== DomainState.Running && state !== DomainState.Paused)
    throw new CloudvampError('hypervisor', `domain ${dom.name} is not running (state ${DomainState[state] ?? state}); a live memory change needs a running VM`);
  const maxKiB = dom.maxMemoryKiB();
  checkBalloonTarget(targetKiB, { maxKiB, floorKiB: ctx.floorKiB });
  const before = dom.memoryStats();
  if (before.currentKiB === undefined) throw new CloudvampError('hypervisor', `${NO_BALLOON_MESSAGE}: domain ${dom.name} reports no balloon size`);
  const previousKiB = before.currentKiB;
  if (Math.abs(previousKiB - targetKiB) < BALLOON_PAGE_KIB)
    return { targetKiB, previousKiB, reachedKiB: previousKiB, settleMs: 0, unchanged: true };

  const start = ctx.clock.now();
  try {
    dom.setMemoryLive(targetKiB);
  } catch (error) {
    const text = (error as Error).message;
    // libvirt's words when the domain has no <memballoon> (or model none)
    if (/balloon/i.test(text)) throw new CloudvampError('hypervisor', `${NO_BALLOON_MESSAGE}: ${text}`, { cause: error });
    throw error;
  }
  const settle = await waitForBalloon(
    () => dom.memoryStats(),
    targetKiB,
    { timeoutMs: ctx.settleTimeoutMs, intervalMs: ctx.intervalMs ?? 100, stallMs: ctx.stallMs ?? 3000 },
    ctx.clock,
  );
  const settleMs = Math.round(ctx.clock.now() - start);
  if (settle.settled) return { targetKiB, previousKiB, reachedKiB: settle.reachedKiB, settleMs, unchanged: false };

  // Put the old size back so a failure leaves the VM as it was.
  let restored = `balloon target set back to ${mib(previousKiB)}`;
  try {
    dom.setMemoryLive(previousKiB);
  } catch (error) {
    restored = `could not set the balloon back to ${mib(previousKiB)}: ${(error as Error).message}`;
  }
  // QEMU reports last-update 0 (and no guest figures) until a guest driver sends statistics
  const guestStats = settle.last.availableKiB !== undefined || (settle.last.lastUpdate ?? 0) > 0;
  if (settle.neverMoved && !guestStats)
    throw new CloudvampError(
      'hypervisor',
      `${NO_BALLOON_MESSAGE}: domain ${dom.name} did not move from ${mib(previousKiB)} towards ${mib(targetKiB)} and its guest reports no statistics; load virtio_balloon in the guest (${restored})`,
    );
  const why = settle.reason === 'stalled' ? `stopped moving for ${Math.round((ctx.stallMs ?? 3000) / 1000)} s` : `not there after ${Math.round(ctx.settleTimeoutMs / 1000)} s`;
  throw new CloudvampError(
    'hypervisor',
    `guest of ${dom.name} reached only ${mib(settle.reachedKiB)} (${settle.reachedKiB} KiB) of the ${mib(targetKiB)} target: ${why}; ${restored}` +
      (targetKiB < previousKiB ? '; the guest probably uses more than the target' : ''),
  );
}
