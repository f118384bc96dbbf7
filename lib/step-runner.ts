// The one applier loop: for each step of a plan, in order,
//
//   blocked?  → a reason known without reading (a step it depends on did not happen)
//   stop?     → the operator asked to stop (SIGTERM): the step does not start
//   read      → fresh state of what the step touches
//   re-check  → the step's precondition against that read
//   act       → the change itself
//   record    → every step gets exactly one outcome, acted on or not
//
// and, when the feature asks for it (`onFailure: 'stop'`), the run stops at the
// first step that did not succeed: the later steps are recorded as not started
// and never act. Plans are made from a snapshot that ages while they run; this
// loop is what makes a stale plan skip or stop instead of acting blindly.
//
// Both appliers use it: the elasticity manager's (lib/elasticity/apply-plan.ts,
// one step per migration or resize, going on past a skipped or failed step:
// the steps are independent, except a grow that waits on its relief migration,
// which `blocked` handles; a wave of grows or shrinks runs in lanes, one per
// host, several hosts at once: `parallel`) and the planner's (lib/planning/apply.ts, one step
// per wave, stopping at the first refusal or failed migration). What a step is,
// how it is read, re-checked, done and reported stays each feature's own; the
// order, the stop rules and "never act on a refused or unread step" are here.
// Pure: the ports and the clock come in as arguments.

/** What became of one step. */
export type StepOutcome<S, Refusal = string, Result = void> =
  | { step: S; index: number; kind: 'blocked'; reason: string }
  | { step: S; index: number; kind: 'stopped' }
  | { step: S; index: number; kind: 'unread'; error: unknown }
  | { step: S; index: number; kind: 'refused'; refusal: Refusal }
  /** acted, and the act resolved; `ok` is `succeeded(result)`; `ms` when a clock was given */
  | { step: S; index: number; kind: 'acted'; ok: boolean; result: Result; ms?: number }
  | { step: S; index: number; kind: 'failed'; error: unknown }
  /** the run stopped on an earlier step that did not succeed (`onFailure: 'stop'`) */
  | { step: S; index: number; kind: 'not-started' };

export interface StepPorts<S, Fresh, Refusal = string, Result = void> {
  /** a reason this step must not run whatever the cloud's state, known without reading; checked first */
  blocked?: (step: S) => string | undefined;
  /** checked before each step (after `blocked`): true, and the step does not start */
  shouldStop?: () => boolean;
  /** fresh state of what the step touches; a rejection: the step does not start */
  read: (step: S) => Promise<Fresh>;
  /** why the step must not run on this state (`undefined`: its precondition holds) */
  recheck: (step: S, fresh: Fresh) => Refusal | undefined;
  /** the change itself; a rejection is a failed step */
  act: (step: S) => Promise<Result>;
  /** whether an act that resolved fully succeeded (a wave where one migration failed did not); default yes */
  succeeded?: (result: Result) => boolean;
  /** called once per step, in order, as soon as its outcome is known */
  record: (outcome: StepOutcome<S, Refusal, Result>) => void;
  /** after a step that did not succeed: end the run there (planner), or go on with the next step (manager) */
  onFailure: 'stop' | 'continue';
  /** the clock for an acted step's `ms` (read right before the act and, when it succeeded, after it) */
  now?: () => number;
  /**
   * Independent steps at once (only with `onFailure: 'continue'`): up to
   * `concurrency` in flight, never two of the same `lane` (the manager's host:
   * a host's steps re-check its room one after another). Steps start in order,
   * a step may start before an earlier one of a busy lane; `record` is called
   * as outcomes arrive, and the result is in step order. Absent: one at a time.
   */
  parallel?: { concurrency: number; lane: (step: S) => string | number };
}

/** Runs `steps` in order through the ports (see the file comment); returns every step's outcome, in order. */
export async function runSteps<S, Fresh, Refusal = string, Result = void>(
  steps: readonly S[],
  ports: StepPorts<S, Fresh, Refusal, Result>,
): Promise<Array<StepOutcome<S, Refusal, Result>>> {
  const outcomes: Array<StepOutcome<S, Refusal, Result>> = [];
  const note = (outcome: StepOutcome<S, Refusal, Result>): boolean => {
    outcomes.push(outcome);
    ports.record(outcome);
    return outcome.kind === 'acted' && outcome.ok;
  };
  if (ports.parallel && ports.parallel.concurrency > 1) {
    if (ports.onFailure !== 'continue') throw new Error("runSteps: parallel steps need onFailure 'continue'");
    await runInLanes(steps, ports, ports.parallel, note);
    return outcomes.sort((a, b) => a.index - b.index);
  }
  for (let index = 0; index < steps.length; index++) {
    const step = steps[index]!;
    if (!(await runOne(step, index, ports, note)) && ports.onFailure === 'stop') {
      for (let later = index + 1; later < steps.length; later++) note({ step: steps[later]!, index: later, kind: 'not-started' });
      break;
    }
  }
  return outcomes;
}

/** `steps` through runOne, up to `concurrency` at once and one per lane at a time, each started in order of its lane being free. */
function runInLanes<S, Fresh, Refusal, Result>(
  steps: readonly S[],
  ports: StepPorts<S, Fresh, Refusal, Result>,
  parallel: NonNullable<StepPorts<S, Fresh, Refusal, Result>['parallel']>,
  note: (outcome: StepOutcome<S, Refusal, Result>) => boolean,
): Promise<void> {
  const started = new Array<boolean>(steps.length).fill(false);
  const busy = new Set<string | number>();
  let head = 0;
  let inFlight = 0;
  return new Promise<void>((resolve, reject) => {
    let failed = false;
    const pump = () => {
      if (failed) return;
      while (head < steps.length && started[head]) head++;
      for (let index = head; index < steps.length && inFlight < parallel.concurrency; index++) {
        if (started[index]) continue;
        const step = steps[index]!;
        const lane = parallel.lane(step);
        if (busy.has(lane)) continue;
        started[index] = true;
        busy.add(lane);
        inFlight++;
        runOne(step, index, ports, note).then(
          () => {
            busy.delete(lane);
            inFlight--;
            pump();
          },
          (error: unknown) => {
            // only `record` or `lane` throwing gets here: a bug, not a step's failure
            failed = true;
            reject(error);
          },
        );
      }
      if (head >= steps.length && inFlight === 0) resolve();
    };
    try {
      pump();
    } catch (error) {
      reject(error);
    }
  });
}

/** One step through blocked → stop → read → re-check → act; true when it acted and succeeded. */
async function runOne<S, Fresh, Refusal, Result>(
  step: S,
  index: number,
  ports: StepPorts<S, Fresh, Refusal, Result>,
  note: (outcome: StepOutcome<S, Refusal, Result>) => boolean,
): Promise<boolean> {
  const reason = ports.blocked?.(step);
  if (reason !== undefined) return note({ step, index, kind: 'blocked', reason });
  if (ports.shouldStop?.() === true) return note({ step, index, kind: 'stopped' });
  let fresh: Fresh;
  try {
    fresh = await ports.read(step);
  } catch (error) {
    return note({ step, index, kind: 'unread', error });
  }
  const refusal = ports.recheck(step, fresh);
  if (refusal !== undefined) return note({ step, index, kind: 'refused', refusal });
  const started = ports.now?.();
  let result: Result;
  try {
    result = await ports.act(step);
  } catch (error) {
    return note({ step, index, kind: 'failed', error });
  }
  const ok = ports.succeeded?.(result) ?? true;
  const outcome: StepOutcome<S, Refusal, Result> = { step, index, kind: 'acted', ok, result };
  if (ok && started !== undefined) outcome.ms = ports.now!() - started;
  return note(outcome);
}
