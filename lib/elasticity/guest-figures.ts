// What a guest uses, from the two sources CVEM has without an agent in the
// guest: virtio balloon stats (read by the monitoring probe on the host) and
// OneGate figures the guest published itself (guest/onegate-memory-reporter.sh,
// CloudVAMP's MEM_TOTAL / MEM_FREE). Pure.
//
//   balloon:  used = available − usable   (MemTotal − MemAvailable), free = usable
//             with deflate-on-OOM (MemTotal keeps its boot size, see fromBalloon):
//             used = current − usable, free = usable
//   OneGate:  used = MEM_TOTAL − MEM_FREE, free = MEM_FREE

import type { ElasticityConfig } from './config';
import type { OneGateFigures, VmOverrides, VmView } from './ports';
import type { ManagedVm } from './state';
import { BALLOON_NEAR_KIB } from '../vmm/balloon';
import { mib } from './units';

export interface GuestFigures {
  /** the guest's MemTotal */
  totalKiB: number;
  usedKiB: number;
  freeKiB: number;
  source: 'balloon' | 'onegate';
  updatedAt?: number;
}

export interface FiguresChoice {
  figures?: GuestFigures;
  /** why these figures (or none) were chosen; goes into the decision's reason */
  why: string;
}

/**
 * A guest's MemTotal is always a little below the memory it was given (the
 * kernel keeps some). A MemTotal clearly above the VM's current size was
 * measured before a shrink: stale. 2 % covers rounding of MiB-sized sizes.
 */
const STALE_TOTAL_SLACK = 1.02;

function fresh(updatedAt: number | undefined, config: ElasticityConfig, now: number): boolean {
  return updatedAt === undefined || now - updatedAt <= config.figuresMaxAgeMs;
}

/**
 * Balloon figures, or why not. A MemTotal clearly above the VM's current size
 * has two causes: figures measured before a shrink (stale), or a guest with
 * deflate-on-OOM (`<memballoon autodeflate='on'>`), whose virtio_balloon
 * driver leaves ballooned pages in MemTotal (it adjusts totalram only without
 * DEFLATE_ON_OOM) and counts them as used, so MemTotal keeps its boot size
 * for good. MemTotal cannot tell the two apart; the guest's own stats time
 * (BALLOON_LAST_UPDATE) can: stats the guest refreshed after the VM's last
 * balloon change describe the VM as it is now. Such a guest's MemAvailable
 * already excludes the balloon, so it is the free room, and its use is the
 * current size less that (MemTotal − MemAvailable would count the balloon as
 * use). The kernel's reservation then counts as use too: a few per cent more
 * use than the guest has, which errs towards keeping memory.
 */
function fromBalloon(vm: VmView, lastChangeAt: number | undefined): GuestFigures | string {
  const b = vm.balloon;
  if (!b) return 'no balloon stats (is the virtio balloon stats period set?)';
  if (!(b.availableKiB > 0) || !(b.usableKiB >= 0)) return 'balloon stats incomplete';
  if (b.availableKiB > vm.currentKiB * STALE_TOTAL_SLACK) {
    const guestRefreshedSinceChange = b.guestStamped === true && b.updatedAt !== undefined && lastChangeAt !== undefined && b.updatedAt > lastChangeAt;
    if (!guestRefreshedSinceChange) return 'balloon stats predate the last change (or a deflate-on-OOM guest whose stats are not yet newer than the change)';
    const free = Math.min(b.usableKiB, vm.currentKiB);
    return { totalKiB: vm.currentKiB, freeKiB: free, usedKiB: vm.currentKiB - free, source: 'balloon', updatedAt: b.updatedAt };
  }
  const free = Math.min(b.usableKiB, b.availableKiB);
  return { totalKiB: b.availableKiB, freeKiB: free, usedKiB: b.availableKiB - free, source: 'balloon', updatedAt: b.updatedAt };
}

function fromOneGate(vm: VmView): GuestFigures | string {
  const g = vm.onegate;
  if (!g) return 'no OneGate figures';
  if (!(g.memTotalKiB > 0) || !(g.memFreeKiB >= 0)) return 'OneGate figures incomplete';
  if (g.memTotalKiB > vm.currentKiB * STALE_TOTAL_SLACK) return 'OneGate figures predate the last change';
  const free = Math.min(g.memFreeKiB, g.memTotalKiB);
  return { totalKiB: g.memTotalKiB, freeKiB: free, usedKiB: g.memTotalKiB - free, source: 'onegate', updatedAt: g.updatedAt };
}

/**
 * Why the balloon stats are refused as too old (the guest, or libvirt without
 * a stats period, stopped refreshing them), or undefined when they are not.
 */
export function staleBalloon(vm: VmView, config: ElasticityConfig, now: number): string | undefined {
  const at = vm.balloon?.updatedAt;
  if (at === undefined || fresh(at, config, now)) return undefined;
  return (
    `balloon stats last refreshed ${Math.round((now - at) / 1000)} s ago, more than FIGURES_MAX_AGE ${Math.round(config.figuresMaxAgeMs / 1000)} s: ` +
    "not acted on until they are fresh (does the domain have a balloon stats period? cloudvamp's deploy action sets BALLOON_STATS_PERIOD)"
  );
}

/**
 * Why the guest's figures must wait for the balloon, or undefined. Right
 * after a change the balloon still inflates (or deflates) for a while, and
 * figures the guest reports meanwhile describe neither the old size nor the
 * new one: after a shrink to 139 MiB a real guest read at 376 MiB reported
 * "used 0 MiB, free 100 %", and the manager planned another shrink. The VM's
 * monitoring has the balloon's size now (REALMEMORY: `currentKiB`, or
 * `balloonKiB` in resize mode, where oned's MEMORY moves at once); the state
 * has the size cloudvamp last set and when (`lastAction`). Until the balloon
 * is there the figures are not acted on, but only for FIGURES_MAX_AGE after
 * the change (measured at the figures' time): a balloon that has not arrived
 * by then is stuck (a guest that cannot give more back), and its figures
 * describe the guest as it stays, which the manager must see (it may starve).
 */
export function balloonMoving(vm: VmView, vmState: Pick<ManagedVm, 'lastAction'> | undefined, config: ElasticityConfig, now: number): string | undefined {
  const last = vmState?.lastAction;
  if (!last || last.result !== 'ok' || last.action === 'migrate') return undefined;
  const balloonKiB = vm.balloonKiB ?? vm.currentKiB;
  // arrived as the driver's wait counts it: within BALLOON_NEAR_KIB (a guest inflates in batches of up to 1 MiB)
  if (Math.abs(balloonKiB - last.toKiB) <= BALLOON_NEAR_KIB) return undefined;
  const seenAt = vm.balloon?.updatedAt ?? now;
  if (seenAt - last.at > config.figuresMaxAgeMs) return undefined;
  return (
    `balloon at ${mib(balloonKiB)}, still on its way to the ${mib(last.toKiB)} set ${Math.round((now - last.at) / 1000)} s ago: ` +
    `guest figures taken meanwhile are not acted on (for up to FIGURES_MAX_AGE ${Math.round(config.figuresMaxAgeMs / 1000)} s after the change; a balloon not there by then counts as stuck)`
  );
}

/**
 * Picks the figures to act on. OneGate figures that carry a fresh MEM_STAMP
 * win (the guest measured them itself, the way CloudVAMP did). Unstamped
 * OneGate figures (the 2015 reporter) can be stale forever, because a USER_TEMPLATE key
 * keeps its last value, so balloon stats win over them when present.
 * `lastChangeAt` is the VM's last balloon change (ManagedVm.lastChangeAt), if any.
 */
export function chooseGuestFigures(vm: VmView, config: ElasticityConfig, now: number, lastChangeAt?: number): FiguresChoice {
  const g = fromOneGate(vm);
  const b = fromBalloon(vm, lastChangeAt);
  const gOk = typeof g !== 'string' && fresh(g.updatedAt, config, now);
  const bOk = typeof b !== 'string' && fresh(b.updatedAt, config, now);
  if (gOk && g.updatedAt !== undefined) return { figures: g, why: 'OneGate figures' };
  if (bOk) return { figures: b, why: 'balloon stats' };
  if (gOk) return { figures: g, why: 'OneGate figures (unstamped)' };
  const reasons = [typeof b === 'string' ? b : `balloon stats too old (${Math.round((now - (b.updatedAt ?? now)) / 1000)} s)`, typeof g === 'string' ? g : 'OneGate figures too old'];
  return { why: reasons.join(', ') };
}

/** A number from an OpenNebula template value; undefined when absent, blank or not a number. */
export const templateNumber = (v: string | undefined): number | undefined => {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v.trim());
  return Number.isFinite(n) ? n : undefined;
};
const num = templateNumber;

/** USER_TEMPLATE keys → OneGate figures (KiB; MEM_STAMP in epoch seconds). */
export function parseOneGate(userTemplate: Record<string, string | undefined>): OneGateFigures | undefined {
  const total = num(userTemplate.MEM_TOTAL);
  const free = num(userTemplate.MEM_FREE);
  if (total === undefined || free === undefined) return undefined;
  const stamp = num(userTemplate.MEM_STAMP);
  return { memTotalKiB: total, memFreeKiB: free, ...(stamp !== undefined ? { updatedAt: stamp * 1000 } : {}) };
}

/**
 * USER_TEMPLATE/MEM_OVER (percent) and MIN_FREE_MEM (KiB) override the config
 * per VM, as in CloudVAMP. Values out of range are ignored and reported, never
 * half-applied: a VM owner's typo must not make CVEM starve the VM.
 */
export function parseOverrides(userTemplate: Record<string, string | undefined>): { overrides: VmOverrides; problems: string[] } {
  const overrides: VmOverrides = {};
  const problems: string[] = [];
  const over = userTemplate.MEM_OVER;
  if (over !== undefined) {
    const n = num(over);
    if (n !== undefined && n >= 1 && n <= 90) overrides.memOverPercent = n;
    else problems.push(`MEM_OVER=${over} ignored: use a percentage between 1 and 90`);
  }
  const minFree = userTemplate.MIN_FREE_MEM;
  if (minFree !== undefined) {
    const n = num(minFree);
    if (n !== undefined && Number.isInteger(n) && n >= 0) overrides.minFreeKiB = n;
    else problems.push(`MIN_FREE_MEM=${minFree} ignored: use a whole number of KiB`);
  }
  return { overrides, problems };
}
