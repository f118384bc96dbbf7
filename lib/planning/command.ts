// `cloudvamp-plan STRATEGY [HOST]`: argv in, text out. Everything the
// executable does except touching the process, so it is tested with a fake
// file reader. The strategy name is checked before anything is read.
import { Command, CommanderError, Option } from 'commander';
import { CloudvampError, configError, usageError } from '../errors';
import { checkPlan } from './checker';
import { memoryMoved, memoryMovedWithDirtyRate } from './cost';
import { planToJson, planToTable } from './format';
import { makePlan, strategyArgs } from './make-plan';
import { defaultConstraints, type Constraints } from './model';
import { parseSnapshot } from './snapshot';
import { strategies, strategyByName } from './strategies';

export interface PlanCommandDeps {
  readText(path: string): Promise<string>;
}

interface Options {
  snapshot?: string;
  format: string;
  maxMigrations?: number;
  threshold?: number;
  localSearch?: number;
  reserveMem?: number;
  reserveCpu?: number;
  excludeHost: number[];
  pin: number[];
  maxPerHost?: number;
  maxInFlight?: number;
  staging: boolean;
  dirtyBandwidth?: number;
  apply?: boolean;
}

const number = (value: string) => Number(value);
const idList = (value: string, previous: number[] = []) => [...previous, ...value.split(',').map((x) => Number(x.trim()))];

export async function planCommand(argv: readonly string[], deps: PlanCommandDeps): Promise<string> {
  let out = '';
  let err = '';
  const program = new Command('cloudvamp-plan')
    .description(`Plan live migrations (dry run). Strategies: ${strategies.map((s) => `${s.name}: ${s.summary}`).join('; ')}.`)
    .argument('<strategy>', strategies.map((s) => s.name).join('|'))
    .argument('[host]', 'for evacuate: the host to empty (id or name)')
    .option('--snapshot <file>', 'read the cluster from a JSON snapshot file')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('--max-migrations <n>', 'most VMs to migrate', number)
    .option('--threshold <fraction>', 'hotspot: a host is hot above this fraction of its capacity', number)
    .option('--local-search <n>', 'consolidate: how many light hosts local search tries to empty', number)
    .option('--reserve-mem <MiB>', 'memory held back on every host', number)
    .option('--reserve-cpu <cpu>', 'CPU held back on every host (100 = one core)', number)
    .option('--exclude-host <ids>', 'hosts that must receive no VM (comma-separated, repeatable)', idList, [])
    .option('--pin <ids>', 'VMs that must not move (comma-separated, repeatable)', idList, [])
    .option('--max-per-host <n>', 'migrations in flight per host', number)
    .option('--max-in-flight <n>', 'migrations in flight in the cluster', number)
    .option('--no-staging', 'never detour through a third host; report cycles instead')
    .option('--dirty-bandwidth <MiBps>', 'scale each move by its dirty rate over this migration bandwidth', number)
    .option('--apply', 'execute the plan through oned (live migrations, wave by wave)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void (out += s), writeErr: (s) => void (err += s) });
  try {
    program.parse(argv as string[], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError && (error.code === 'commander.helpDisplayed' || error.code === 'commander.help')) return out;
    throw usageError(err.trim().replace(/^error: /, '') || (error as Error).message);
  }
  const [strategyName, host] = program.processedArgs as [string, string | undefined];
  const options = program.opts<Options>();
  const strategy = strategyByName(strategyName);
  const { args, errors } = strategyArgs(strategy, {
    maxMigrations: options.maxMigrations,
    threshold: options.threshold,
    localSearch: options.localSearch,
    host,
  });
  if (errors.length > 0) throw usageError(errors.join('; '));
  if (options.apply) {
    throw usageError('--apply needs a connection to oned, which this build does not have yet; run the dry run and migrate with `onevm migrate --live`');
  }
  if (!options.snapshot) {
    throw usageError('pass --snapshot FILE (a JSON cluster snapshot); reading the cluster from oned is not available in this build');
  }
  const constraintsFromFlags = flagConstraints(options);

  const text = await deps.readText(options.snapshot);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw configError(`${options.snapshot} is not valid JSON: ${(error as Error).message}`);
  }
  const snapshot = parseSnapshot(json);
  if (!snapshot.ok) throw configError(`${options.snapshot}: ${snapshot.errors.join('; ')}`);
  const constraints = constraintsFromFlags(snapshot.constraints);

  const cost = options.dirtyBandwidth === undefined ? memoryMoved : memoryMovedWithDirtyRate(options.dirtyBandwidth);
  const plan = makePlan(snapshot.cluster, strategy, args, constraints, { cost, allowStaging: options.staging });
  // The checker judges the plan independently of the planner; a violation here is a planner bug, not the operator's.
  const violations = checkPlan(snapshot.cluster, plan, constraints, plan.infeasible ? undefined : plan.target);
  if (violations.length > 0) {
    throw new CloudvampError('internal', `the plan failed its own check (${violations.map((v) => v.message).join('; ')}); please report this with the snapshot`);
  }
  return options.format === 'json' ? planToJson(plan) : planToTable(plan, snapshot.cluster);
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
  });
}
