// The one poll-until-deadline loop: oned waits (live migration, resize), the
// balloon settling and the ACPI shutdown all ask "is it done yet?" every so
// often until a deadline. Time is an argument (tests drive it, executables
// pass the real clock), so the loop itself does no I/O of its own.

/** What the loop needs of time. */
export interface PollClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface PollOptions {
  /** the deadline is this long after the loop starts */
  timeoutMs: number;
  /** between two attempts */
  intervalMs: number;
  /** wait one interval before the first attempt (the change cannot be visible at once) */
  delayFirst?: boolean;
  /** never sleep past the deadline: the last attempt comes right at it */
  clampToDeadline?: boolean;
  /** time out only once strictly past the deadline (`>`), not when reaching it (`>=`) */
  pastDeadline?: boolean;
}

export type PollOutcome<T> = { done: true; value: T } | { done: false; elapsedMs: number };

/**
 * Calls `attempt` until it returns something other than undefined, or the
 * deadline passes after an attempt (there is always at least one attempt,
 * and the deadline is checked after each). The caller turns a time-out into
 * its own message.
 */
export async function pollUntil<T>(
  clock: PollClock,
  options: PollOptions,
  attempt: () => T | undefined | Promise<T | undefined>,
): Promise<PollOutcome<T>> {
  const start = clock.now();
  const deadline = start + options.timeoutMs;
  if (options.delayFirst) await clock.sleep(options.intervalMs);
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return { done: true, value };
    const now = clock.now();
    if (options.pastDeadline ? now > deadline : now >= deadline) return { done: false, elapsedMs: now - start };
    await clock.sleep(options.clampToDeadline ? Math.min(options.intervalMs, Math.max(0, deadline - clock.now())) : options.intervalMs);
  }
}
