// The elasticity manager wired to the real oned adapters against the
// in-process oned simulator (strict: every reply validated against the XSDs),
// with one fake clock shared by the daemon, the adapters' waits and oned's
// monitoring timestamps. Nothing here sleeps: waiting advances the clock.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULTS, type ElasticityConfig } from '../../lib/elasticity/config';
import type { CycleDeps } from '../../lib/elasticity/cycle';
import type { DaemonDeps } from '../../lib/elasticity/daemon';
import { OnedClusterSource, OnedMigrator, OnedPublisher, OnedResizeApplier } from '../../lib/oned/elasticity-ports';
import type { LogEvent } from '../../lib/elasticity/ports';
import { fileStateStore, writeStateFile } from '../../lib/io/state-file';
import type { ElasticityState } from '../../lib/elasticity/state';
import { createOneClient, type OneClient } from '../../lib/oned/client';
import { parseVm, type OneVm } from '../../lib/oned/models';
import { DEFAULT_SESSION, startOnedSimulator, type OnedSimulator, type OnedSimulatorOptions, type RecordedCall } from '../support/oned-server';

export const MiB = 1024;
export const GiB = 1024 * 1024;
/** 10 s after the fixtures' monitoring records (1767225600): their figures are fresh. */
export const T0 = 1_767_225_610_000;

export const fixtures = {
  hostA: 'elasticity/host-10-five-vms-16g.xml',
  hostB: 'elasticity/host-11-empty-4g.xml',
  hostC: 'elasticity/host-12-empty-16g.xml',
  idle: 'elasticity/vm-100-idle-4g.xml',
  tiny: 'elasticity/vm-101-idle-1g-low-min-free.xml',
  starving: 'elasticity/vm-102-starving-shrunk-to-2g-of-6g.xml',
  steady1g: 'elasticity/vm-103-steady-1g.xml',
  steady2g: 'elasticity/vm-104-steady-2g.xml',
} as const;

/** cloudvamp's guest keys (lib/monitor/reports.ts) that oned serves but the XSD does not declare. */
export const GUEST_KEYS = ['GUEST_MEMTOTAL', 'GUEST_MEMAVAILABLE'];

export const MUTATING = new Set(['one.vm.migrate', 'one.vm.resize', 'one.vm.update']);
export const mutating = (calls: readonly RecordedCall[]) => calls.filter((c) => MUTATING.has(c.method));
export const methods = (calls: readonly RecordedCall[]) => calls.map((c) => c.method);

export interface Scenario {
  sim: OnedSimulator;
  client: OneClient;
  clock: { ms: number };
  config: ElasticityConfig;
  dir: string;
  stateFile: string;
  logs: LogEvent[];
  deps: DaemonDeps;
  /** the VM as oned holds it now (parsed from the simulator's own XML) */
  vm(id: number): OneVm;
  /** the guest reports its memory use through the balloon, at its current size (the monitoring probe's record) */
  guestUses(id: number, usedKiB: number): void;
  /** hook run by the daemon's sleep after the clock moved: the world changes between cycles */
  between: (cycle: number) => void | Promise<void>;
  close(): Promise<void>;
}

export interface ScenarioOptions {
  vms: string[];
  hosts?: string[];
  config?: Partial<ElasticityConfig>;
  /** a state file as a previous daemon left it */
  state?: ElasticityState;
  session?: string;
  /** how the simulator runs live migrations (default: complete inside the call) */
  migrations?: OnedSimulatorOptions['migrations'];
}

export async function scenario(opts: ScenarioOptions): Promise<Scenario> {
  const clock = { ms: T0 };
  const sim = await startOnedSimulator({
    vmFixtures: opts.vms,
    hostFixtures: opts.hosts ?? [fixtures.hostA],
    strictSchemas: true,
    extraMonitoringKeys: GUEST_KEYS,
    now: () => Math.floor(clock.ms / 1000),
    ...(opts.migrations ? { migrations: opts.migrations } : {}),
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'cvem-scenario-'));
  const stateFile = path.join(dir, 'cvem-state.json');
  if (opts.state) await writeStateFile(stateFile, opts.state);
  // APPLY_MODE=resize: the memory change is oned's own one.vm.resize, so the simulator sees it.
  // shrinks from the first cycle (SHRINK_WARMUP has its own tests)
  const config: ElasticityConfig = { ...DEFAULTS, shrinkWarmupMs: 0, applyMode: 'resize', stateFile, ...opts.config };
  const client = createOneClient({ endpoint: sim.url, session: opts.session ?? DEFAULT_SESSION }, { timeoutMs: 5_000 });
  const wait = { now: () => clock.ms, sleep: async (ms: number) => void (clock.ms += ms) };
  const logs: LogEvent[] = [];
  const log = (e: LogEvent) => void logs.push(e);
  let cycle = 0;
  const s: Scenario = {
    sim,
    client,
    clock,
    config,
    dir,
    stateFile,
    logs,
    deps: {
      source: new OnedClusterSource(client, config, log),
      applier: new OnedResizeApplier(client, wait),
      migrator: new OnedMigrator(client, config.migrationTimeoutMs, wait),
      publisher: new OnedPublisher(client),
      store: fileStateStore(stateFile),
      log,
      now: () => clock.ms,
      sleep: async (ms: number, signal: AbortSignal) => {
        if (signal.aborted) return;
        clock.ms += ms;
        await s.between(++cycle);
      },
    },
    vm: (id) => parseVm(sim.vmXml(id)),
    guestUses: (id, usedKiB) => {
      const vm = s.vm(id);
      const size = vm.templateMemoryMiB * MiB;
      // the kernel keeps what it kept at the original size (the fixtures' MemTotal deficit)
      const totalKiB = size - (Number(vm.monitoring.REALMEMORY) - Number(vm.monitoring.GUEST_MEMTOTAL));
      sim.setVmMonitoring(id, { REALMEMORY: size, GUEST_MEMTOTAL: totalKiB, GUEST_MEMAVAILABLE: Math.max(0, totalKiB - usedKiB) });
    },
    between: () => undefined,
    close: () => sim.close(),
  };
  return s;
}

/** Cycle deps without the daemon's sleep. */
export const cycleDeps = (s: Scenario): CycleDeps => {
  const { sleep: _sleep, ...deps } = s.deps;
  return deps;
};
