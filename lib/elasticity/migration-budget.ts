// How many live migrations a host may still take part in, and where a VM may
// not go back to. Pure: state, config and `now` in.
//
// Why: on the real trace (bench/results/density.md) relief and hotspot moves
// reached ~4 live migrations per host-hour, one VM moved 38 times a day, and
// 5.5 % of moves took a VM back to a host it had left minutes before. Each
// move copies the guest's memory over the network and freezes its balloon
// meanwhile, so moves are rationed: at most MAX_MIGRATIONS_PER_HOST_HOUR per
// host (counting it as source or destination) over any sliding hour, and no
// VM goes back to a host within MOVE_BACK_HOLD of leaving it (hysteresis: a
// host that was short of room a moment ago is likely to be again).
import type { ElasticityConfig } from './config';
import type { ElasticityState } from './state';

const HOUR = 3_600_000;

/** Migrations the host took part in during the hour before `now`. */
export function migrationsLastHour(state: ElasticityState, hostId: number, now: number): number {
  const times = state.hosts[String(hostId)]?.migrations ?? [];
  let n = 0;
  for (const t of times) if (now - t < HOUR && t <= now) n++;
  return n;
}

/** Migrations left to each host in this cycle (a budget the planner spends as it plans moves). */
export function migrationBudget(state: ElasticityState, hostIds: readonly number[], config: ElasticityConfig, now: number): Map<number, number> {
  return new Map(hostIds.map((h) => [h, Math.max(0, config.maxMigrationsPerHostHour - migrationsLastHour(state, h, now))]));
}

/** Whether the VM left `hostId` less than MOVE_BACK_HOLD ago (then it must not be moved back there). */
export function isMoveBack(state: ElasticityState, vmId: number, hostId: number, config: ElasticityConfig, now: number): boolean {
  const left = state.vms[String(vmId)]?.leftHost;
  return left !== undefined && left.hostId === hostId && now - left.at < config.moveBackHoldMs;
}

/** A host's migration times, with `now` added and those older than an hour dropped (what the state keeps). */
export function withMigration(times: readonly number[] | undefined, now: number): number[] {
  return [...(times ?? []).filter((t) => now - t < HOUR), now];
}
