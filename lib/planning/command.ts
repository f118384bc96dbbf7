// `cloudvamp-plan STRATEGY [HOST]`: argv in, text and exit code out.
// Everything the executable does except touching the process, so it is tested
// with fakes and the oned simulator. The strategy name is checked before
// anything is read.
//
// The cluster comes from a JSON snapshot (--snapshot) or from oned (the
// default; endpoint and credentials as for every cloudvamp tool, lib/oned/auth.ts).
// A dry run prints the plan; --apply runs it through oned wave by wave
// (apply.ts), with one progress line per event on stderr, and ends with what
// was done. --apply never takes a snapshot: a plan is only applied to the
// state it was made from.
//
// `balance --every 10m` is the automatic mode: each period it reads oned,
// keeps only the moves worth their migrations (auto.ts: --min-gain, at most
// --max-migrations per period, --max-per-vm-per-day), logs why each was
// worth it, and with --apply runs them; then it sleeps until the next period.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CloudvampError, configError, usageError } from '../errors';
import type { OneConnectionSettings } from '../oned/auth';
import type { OneClient } from '../oned/client';
import { applyPlan, describeReport, type ApplyEvent } from './apply';
import { decideAutoBalance, defaultAutoBalancePolicy, validateAutoPolicy, type AutoBalancePolicy, type PastMigration } from './auto';
import { checkPlan } from './checker';
import { memoryMoved, memoryMovedWithDirtyRate } from './cost';
import { planToJson, planToTable, progressLine, reportToJson } from './format';
import { makePlan, strategyArgs } from './make-plan';
import { defaultConstraints, type Cluster, type Constraints, type Move, type Plan } from './model';
import { OnedClusterGateway } from './oned-gateway';
import { sequence } from './sequencer';
import { parseSnapshot } from './snapshot';
import { strategies, strategyByName } from './strategies';

export interface PlanCommandDeps {
  readText(path: string): Promise<string>;
  /** A client for oned; settings carry --endpoint, the rest comes from ONE_XMLRPC, ONE_AUTH, ~/.one… */
  connect(settings: OneConnectionSettings): Promise<OneClient>;
  /** One line of --apply progress (stderr). */
  progress(line: string): void;
  /** Milliseconds; for elapsed times and the migration timeout. */
  now(): number;
  sleep(ms: number): Promise<void>;
  /** --every: asked after each period; true ends the loop (tests; the executable runs until stopped). */
  stop?(): boolean;
}

export interface PlanCommandResult {
  /** everything for stdout */
  output: string;
  /** 1 when --apply left a migration failed or not started, or the strategy's target unreached */
  exitCode: number;
}

interface Options {
  snapshot?: string;
  endpoint?: string;
  format: string;
  maxMigrations?: number;
  threshold?: number;
  localSearch?: number;
  sharing?: boolean;
  need?: number;
  reserveMem?: number;
  reserveCpu?: number;
  excludeHost: number[];
  pin: number[];
  maxPerHost?: number;
  maxInFlight?: number;
  maxCpuPressure?: number;
  staging: boolean;
  dirtyBandwidth?: number;
  apply?: boolean;
  migrationTimeout: number;
  every?: number;
  minGain?: number;
  maxPerVmPerDay?: number;
}

/** 90s, 10m, 1h, or plain seconds, to milliseconds. */
const duration = (value: string) => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$/.exec(value);
  if (!match || !(Number(match[1]) > 0)) throw new InvalidArgumentError(`expected a duration such as 90s, 10m or 1h, got '${value}'`);
  return Number(match[1]) * { s: 1_000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 's' | 'm' | 'h'];
};

// Options are checked where they are read, so an error names what was typed
// (Number('x') is NaN, which later checks printed as "got null").
const number = (value: string) => {
  const n = value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got '${value}'`);
  return n;
};
const idList = (value: string, previous: number[] = []) => [
  ...previous,
  ...value.split(',').map((x) => {
    if (!/^\s*\d+\s*$/.test(x)) throw new InvalidArgumentError(`expected comma-separated ids, got '${value}'`);
    return Number(x.trim());
  }),
];

export async function planCommand(argv: readonly string[], deps: PlanCommandDeps): Promise<PlanCommandResult> {
  let out = '';
  let err = '';
  const program = new Command('cloudvamp-plan')
    .description(
      `Plan live migrations for a placement strategy and print them (dry run), or run them with --apply. ` +
        `Reads the cluster from oned unless --snapshot is given. Strategies: ${strategies.map((s) => `${s.name}: ${s.summary}`).join('; ')}.`,
    )
    .argument('<strategy>', strategies.map((s) => s.name).join('|'))
    .argument('[host]', 'for evacuate: the host to empty; for relief: the host to free (id or name)')
    .option('--snapshot <file>', 'read the cluster from a JSON snapshot file instead of oned (dry run only)')
    .option('--endpoint <url>', "oned's XML-RPC endpoint (default: $ONE_XMLRPC, ~/.one/one_endpoint, http://localhost:2633/RPC2)")
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('--max-migrations <n>', 'most VMs to migrate', number)
    .option('--threshold <fraction>', 'hotspot: a host is hot above this fraction of its capacity', number)
    .option('--local-search <n>', 'consolidate: how many light hosts local search tries to empty', number)
    .option('--sharing', 'consolidate: place VMs started from the same image (DISK/IMAGE_ID) together, where KSM can merge their pages')
    .option('--need <MiB>', 'relief: memory to free on the host', number)
    .option('--reserve-mem <MiB>', 'memory held back on every host', number)
    .option('--reserve-cpu <cpu>', 'CPU held back on every host (100 = one core)', number)
    .option('--exclude-host <ids>', 'hosts that must receive no VM (comma-separated, repeatable)', idList, [])
    .option('--pin <ids>', 'VMs that must not move (comma-separated, repeatable); also USER_TEMPLATE CLOUDVAMP_PINNED=YES', idList, [])
    .option('--max-per-host <n>', 'migrations in flight per host', number)
    .option('--max-in-flight <n>', 'migrations in flight in the cluster', number)
    .option('--max-cpu-pressure <percent>', 'hosts whose CPU_PRESSURE is above this receive no VM; hotspot moves one VM off each', number)
    .option('--no-staging', 'never detour through a third host; report cycles instead')
    .option('--dirty-bandwidth <MiBps>', 'scale each move by its dirty rate over this migration bandwidth', number)
    .option('--apply', 'execute the plan through oned: live migrations, wave by wave, stopping at the first failure')
    .option('--migration-timeout <seconds>', '--apply: give up waiting for one live migration after this long', number, 600)
    .option('--every <duration>', 'balance: automatic mode, one period every DURATION (90s, 10m, 1h); --max-migrations caps each period', duration)
    .option('--min-gain <fraction>', `--every: act only on moves that remove at least this share of the imbalance per migration (default ${defaultAutoBalancePolicy.minGainPerMigration})`, number)
    .option('--max-per-vm-per-day <n>', `--every: most migrations of one VM in 24 hours (default ${defaultAutoBalancePolicy.maxPerVmPerDay})`, number)
    .exitOverride()
    .configureOutput({ writeOut: (s) => void (out += s), writeErr: (s) => void (err += s) });
  try {
    program.parse(argv as string[], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError && (error.code === 'commander.helpDisplayed' || error.code === 'commander.help')) return { output: out, exitCode: 0 };
    throw usageError(err.trim().replace(/^error: /, '') || (error as Error).message);
  }
  const [strategyName, host] = program.processedArgs as [string, string | undefined];
  const options = program.opts<Options>();
  const strategy = strategyByName(strategyName);
  const { args, errors } = strategyArgs(strategy, {
    maxMigrations: options.maxMigrations,
    threshold: options.threshold,
    localSearch: options.localSearch,
    sharing: options.sharing ? 1 : undefined,
    need: options.need,
    host,
  });
  if (errors.length > 0) throw usageError(errors.join('; '));
  if (options.apply && options.snapshot) {
    throw usageError('--apply plans from the live state in oned and cannot use --snapshot; drop --snapshot (or drop --apply for a dry run on the file)');
  }
  if (!(options.migrationTimeout > 0)) throw usageError('--migration-timeout must be a number of seconds > 0');
  const constraintsFromFlags = flagConstraints(options);
  if (options.every !== undefined) return autoBalance(strategyName, options, constraintsFromFlags, deps);
  if (options.minGain !== undefined || options.maxPerVmPerDay !== undefined) throw usageError('--min-gain and --max-per-vm-per-day only go with --every');

  let cluster: Cluster;
  let constraints: Constraints;
  let sourceNotes: string[] = [];
  let gateway: OnedClusterGateway | undefined;
  if (options.snapshot) {
    const snapshot = await readSnapshot(options.snapshot, deps);
    cluster = snapshot.cluster;
    constraints = constraintsFromFlags(snapshot.constraints);
  } else {
    const client = await deps.connect(options.endpoint === undefined ? {} : { endpoint: options.endpoint });
    gateway = new OnedClusterGateway(client, { sleep: deps.sleep, now: deps.now, timeoutMs: options.migrationTimeout * 1000 });
    const live = await gateway.readCluster();
    cluster = live.cluster;
    constraints = constraintsFromFlags({ pinnedVms: live.pinnedVms });
    sourceNotes = live.notes;
  }

  const cost = options.dirtyBandwidth === undefined ? memoryMoved : memoryMovedWithDirtyRate(options.dirtyBandwidth);
  const made = makePlan(cluster, strategy, args, constraints, { cost, allowStaging: options.staging });
  // The checker judges the plan independently of the planner; a violation here is a planner bug, not the operator's.
  const violations = checkPlan(cluster, made, constraints, made.infeasible ? undefined : made.target);
  if (violations.length > 0) {
    throw new CloudvampError('internal', `the plan failed its own check (${violations.map((v) => v.message).join('; ')}); please report this with the snapshot`);
  }
  const plan: Plan = { ...made, notes: [...made.notes, ...sourceNotes] };
  const json = options.format === 'json';
  if (!options.apply || !gateway) return { output: json ? planToJson(plan) : planToTable(plan, cluster), exitCode: 0 };

  // --apply
  const migrations = plan.waves.reduce((n, w) => n + w.length, 0);
  if (plan.infeasible || migrations === 0) {
    const why = plan.infeasible ? 'not applied: no safe sequence of migrations reaches the target (see above)' : 'nothing to migrate';
    const output = json ? JSON.stringify({ ...JSON.parse(planToJson(plan)), applied: null }, null, 2) : `${planToTable(plan, cluster)}\n${why}`;
    return { output, exitCode: plan.infeasible ? 1 : 0 };
  }
  const started = deps.now();
  const moveStarted = new Map<Move, number>();
  deps.progress(`applying plan ${plan.strategy}: ${migrations} live migrations in ${plan.waves.length} waves`);
  const onEvent = (event: ApplyEvent) => {
    const at = deps.now();
    if (event.type === 'move-start') moveStarted.set(event.move, at);
    const since = event.type === 'move-done' || event.type === 'move-failed' ? moveStarted.get(event.move) : undefined;
    deps.progress(progressLine(event, at - started, cluster, since === undefined ? undefined : at - since));
  };
  const report = await applyPlan(plan, gateway, constraints, onEvent);
  deps.progress(`finished after ${((deps.now() - started) / 1000).toFixed(1)}s`);
  // What the strategy could not do counts as not done: `evacuate --apply && reboot` must not reboot a host still holding VMs.
  const incomplete = report.failed.length > 0 || report.notStarted.length > 0 || plan.unresolved.length > 0;
  const unresolved = report.failed.length === 0 && plan.unresolved.length > 0 ? `\ntarget not reached: ${plan.unresolved.length} unresolved (see above)` : '';
  const output = json
    ? JSON.stringify({ ...JSON.parse(planToJson(plan)), applied: reportToJson(report) }, null, 2)
    : `${planToTable(plan, cluster, 'applying')}\n\n${describeReport(report)}${unresolved}`;
  const exitCode = incomplete ? 1 : 0;
  return { output, exitCode };
}

/** The automatic mode's loop: read, decide (auto.ts), log, apply, sleep. Returns when deps.stop() says so. */
async function autoBalance(strategyName: string, options: Options, constraintsFromFlags: (s: Partial<Constraints>) => Constraints, deps: PlanCommandDeps): Promise<PlanCommandResult> {
  if (strategyName !== 'balance') throw usageError(`--every runs the balance strategy only; got ${strategyName}`);
  if (options.snapshot) throw usageError('--every reads oned each period and cannot use --snapshot');
  const policy: AutoBalancePolicy = {
    minGainPerMigration: options.minGain ?? defaultAutoBalancePolicy.minGainPerMigration,
    maxPerPeriod: options.maxMigrations ?? defaultAutoBalancePolicy.maxPerPeriod,
    maxPerVmPerDay: options.maxPerVmPerDay ?? defaultAutoBalancePolicy.maxPerVmPerDay,
  };
  const errors = validateAutoPolicy(policy);
  if (errors.length > 0) throw usageError(errors.join('; '));
  const client = await deps.connect(options.endpoint === undefined ? {} : { endpoint: options.endpoint });
  const gateway = new OnedClusterGateway(client, { sleep: deps.sleep, now: deps.now, timeoutMs: options.migrationTimeout * 1000 });
  const history: PastMigration[] = [];
  let failures = 0;
  for (let period = 1; ; period++) {
    const live = await gateway.readCluster();
    const constraints = constraintsFromFlags({ pinnedVms: live.pinnedVms });
    const decision = decideAutoBalance(live.cluster, constraints, policy, history, deps.now());
    deps.progress(`period ${period}: ${decision.reasons.length === 0 ? 'nothing worth moving' : `${decision.reasons.length} steps worth their migrations`} (${decision.stopped})`);
    for (const reason of decision.reasons) deps.progress(`  ${reason}`);
    if (decision.reasons.length > 0) {
      const sequenced = sequence(live.cluster, decision.target, constraints, { allowStaging: options.staging });
      if (!sequenced.ok) deps.progress(`  not applied: ${sequenced.infeasible.message}`);
      else {
        const plan = { waves: sequenced.waves, totalCost: sequenced.totalCost };
        const violations = checkPlan(live.cluster, plan, constraints, decision.target);
        if (violations.length > 0) throw new CloudvampError('internal', `the plan failed its own check (${violations.map((v) => v.message).join('; ')}); please report this`);
        if (options.apply) {
          const report = await applyPlan(plan, gateway, constraints, (event) => deps.progress(`  ${progressLine(event, 0, live.cluster)}`));
          for (const move of report.done) history.push({ vm: move.vm, at: deps.now() });
          if (report.failed.length > 0 || report.notStarted.length > 0) failures++;
          for (const line of describeReport(report).split('\n')) deps.progress(`  ${line}`);
        } else {
          deps.progress(`  dry run: ${plan.waves.reduce((n, w) => n + w.length, 0)} migrations in ${plan.waves.length} waves (add --apply to run them)`);
        }
      }
    }
    if (deps.stop?.()) return { output: `automatic balance: ${period} periods, ${history.length} migrations applied${failures > 0 ? `, ${failures} periods with a failed migration` : ''}`, exitCode: failures > 0 ? 1 : 0 };
    await deps.sleep(options.every!);
  }
}

async function readSnapshot(path: string, deps: PlanCommandDeps) {
  const text = await deps.readText(path);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw configError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  const snapshot = parseSnapshot(json);
  if (!snapshot.ok) throw configError(`${path}: ${snapshot.errors.join('; ')}`);
  return snapshot;
}

/** Validates the constraint flags up front; the result layers them over what the snapshot says. */
function flagConstraints(options: Options): (fromSnapshot: Partial<Constraints>) => Constraints {
  const errors: string[] = [];
  const whole = (value: number | undefined, flag: string) => {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1)) errors.push(`${flag} must be a whole number ≥ 1`);
  };
  whole(options.maxPerHost, '--max-per-host');
  whole(options.maxInFlight, '--max-in-flight');
  if (options.reserveMem !== undefined && !(options.reserveMem >= 0)) errors.push('--reserve-mem must be a number of MiB ≥ 0');
  if (options.reserveCpu !== undefined && !(options.reserveCpu >= 0)) errors.push('--reserve-cpu must be a number ≥ 0');
  if ([...options.excludeHost, ...options.pin].some((id) => !Number.isInteger(id))) errors.push('--exclude-host and --pin take comma-separated ids');
  if (options.dirtyBandwidth !== undefined && !(options.dirtyBandwidth > 0)) errors.push('--dirty-bandwidth must be a number of MiB/s > 0');
  if (options.maxCpuPressure !== undefined && !(options.maxCpuPressure >= 0 && options.maxCpuPressure <= 100)) errors.push('--max-cpu-pressure must be a percentage in [0, 100]');
  if (errors.length > 0) throw usageError(errors.join('; '));
  return (fromSnapshot) => ({
    ...defaultConstraints,
    ...fromSnapshot,
    reserve: {
      memMiB: options.reserveMem ?? fromSnapshot.reserve?.memMiB ?? defaultConstraints.reserve.memMiB,
      cpu: options.reserveCpu ?? fromSnapshot.reserve?.cpu ?? defaultConstraints.reserve.cpu,
    },
    excludedHosts: [...(fromSnapshot.excludedHosts ?? []), ...options.excludeHost],
    pinnedVms: [...(fromSnapshot.pinnedVms ?? []), ...options.pin],
    maxInFlightPerHost: options.maxPerHost ?? fromSnapshot.maxInFlightPerHost ?? defaultConstraints.maxInFlightPerHost,
    maxInFlightPerCluster: options.maxInFlight ?? fromSnapshot.maxInFlightPerCluster ?? defaultConstraints.maxInFlightPerCluster,
    ...(options.maxCpuPressure ?? fromSnapshot.maxCpuPressure) !== undefined ? { maxCpuPressure: options.maxCpuPressure ?? fromSnapshot.maxCpuPressure } : {},
  });
}
