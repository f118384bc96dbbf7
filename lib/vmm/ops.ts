// What each VMM action does, over the Hypervisor interface. Each function takes
// validated arguments and returns its stdout; every check that can fail runs
// before the first change, so a refused action leaves nothing half-done.
import path from 'node:path';
import { CloudvampError, notFoundError, usageError } from '../errors';
import { isLibvirtError, VirErrorCode } from '../libvirt/errors';
import type { DomainHandle, DomainStats, Hypervisor } from '../libvirt/types';
import { DomainState } from '../libvirt/types';
import { pollText } from '../monitor/template';
import { pollUntil } from '../poll-until';
import type { ActionArgs, ActionName } from './actions';
import { changeBalloon, type Clock } from './balloon';
import { destinationUri, type VmmConfig } from './config';
import { METADATA_KEY, METADATA_URI, sizeMetadataXml } from '../memory/oned-size';
import { balloonSupport, featureOn, prepareDomainXml, type BalloonOptions, type BalloonSupport } from './domain-xml';
import { migrateDomain } from './migrate';
import { GONE_TEMPLATE, pollTemplate } from './poll';
import { parseResizeAction, planResize } from './resize';

/** The host's file system, as far as the actions write to it (lib/io/files.ts). */
export interface VmmFiles {
  /** creates the directory and its parents when missing */
  makeDir(dir: string): void;
  writeText(file: string, text: string): void;
}

export interface OpContext {
  hv: Hypervisor;
  files: VmmFiles;
  config: VmmConfig;
  clock: Clock;
  /** one stderr line (INFO:/WARN: prefixed by the caller of log) */
  log: (line: string) => void;
  /** stdin, read only by actions that use it */
  stdin: () => Promise<string>;
  /** runs the stock kvm script of the same action with the same argv and stdin (resize delegation) */
  runStock?: (action: ActionName, argv: readonly string[], stdin: string) => Promise<void>;
  /** the raw positional argv, for delegation */
  argv: readonly string[];
  /** poll: time between the two CPU samples */
  pollIntervalMs?: number;
  /** migrate: time between progress lines */
  progressIntervalMs?: number;
}

export type Op = (ctx: OpContext, args: ActionArgs) => Promise<string>;

/** Looks a domain up, turning libvirt's "no domain" into a message that names what and where. */
export function lookup(hv: Hypervisor, id: string): DomainHandle {
  try {
    return hv.domain(id);
  } catch (error) {
    if (isLibvirtError(error, VirErrorCode.NoDomain) || (error instanceof CloudvampError && error.kind === 'not-found'))
      throw notFoundError(`domain '${id}' not found on ${hv.uri}`);
    throw error;
  }
}

/** The domain's state, or undefined when it is gone (a transient domain that stopped). */
function currentState(hv: Hypervisor, uuid: string): DomainState | undefined {
  let dom: DomainHandle;
  try {
    dom = hv.domain(uuid);
  } catch (error) {
    if (isLibvirtError(error, VirErrorCode.NoDomain) || (error instanceof CloudvampError && error.kind === 'not-found')) return undefined;
    throw error;
  }
  try {
    return dom.state().state;
  } catch (error) {
    if (isLibvirtError(error, VirErrorCode.NoDomain)) return undefined;
    throw error;
  } finally {
    dom.free();
  }
}

const stateName = (s: DomainState) => DomainState[s] ?? String(s);

function requireState(dom: DomainHandle, allowed: DomainState[], doing: string): DomainState {
  const { state } = dom.state();
  if (!allowed.includes(state))
    throw new CloudvampError('hypervisor', `cannot ${doing} domain ${dom.name}: it is ${stateName(state)}, not ${allowed.map(stateName).join(' or ')}`);
  return state;
}

/** Checks the deployment XML before anything is written or started. Pure. */
export function checkDomainXml(xml: string): { name: string } {
  return { name: prepareDomainXml(xml, { statsPeriodS: 0, autodeflate: false, freePageReporting: false }).name };
}

/** What deploy adds to the memballoon on this host: the config switches against what its libvirt and QEMU support. */
export function balloonOptions(hv: Hypervisor, config: VmmConfig): BalloonOptions & { support: BalloonSupport; versions: { libvirt: string; qemu: string } } {
  const versions = { libvirt: hv.libVersion(), qemu: hv.hypervisorVersion() };
  const support = balloonSupport(versions);
  return {
    statsPeriodS: config.balloonStatsPeriodS,
    autodeflate: featureOn(config.balloonAutodeflate, support.autodeflate),
    freePageReporting: featureOn(config.balloonFreePageReporting, support.freePageReporting),
    support,
    versions,
  };
}

/** `deploy --check`: one line per balloon option, what this host supports and what deploy will do. */
export function deployCheck(hv: Hypervisor, config: VmmConfig): string {
  const o = balloonOptions(hv, config);
  const line = (key: string, setting: string, supported: boolean, on: boolean) =>
    `${key}=${setting}: ${supported ? 'supported' : 'not supported'} by this host, ${on ? 'on' : 'off'}${on && !supported ? ' (deploy will fail: set it to auto or no)' : ''}`;
  return [
    `LIBVIRT_VERSION=${o.versions.libvirt} QEMU_VERSION=${o.versions.qemu}`,
    `BALLOON_STATS_PERIOD=${config.balloonStatsPeriodS}: ${config.balloonStatsPeriodS > 0 ? `stats every ${config.balloonStatsPeriodS} s` : 'as oned writes it (balloon figures may stay at their boot values)'}`,
    line('BALLOON_AUTODEFLATE', config.balloonAutodeflate, o.support.autodeflate, o.autodeflate),
    line('BALLOON_FREE_PAGE_REPORTING', config.balloonFreePageReporting, o.support.freePageReporting, o.freePageReporting),
    '',
  ].join('\n');
}

/** True when the domain XML enables ACPI (<features><acpi/>). Pure. */
export function hasAcpi(domainXml: string): boolean {
  return /<features\b[^>]*>[\s\S]*?<acpi\b[\s\S]*?<\/features>/.test(domainXml);
}

export const deploy: Op = async (ctx, args) => {
  const prepared = prepareDomainXml(await ctx.stdin(), balloonOptions(ctx.hv, ctx.config));
  const { name, xml } = prepared;
  const file = args['deployment_file']!;
  ctx.files.makeDir(path.dirname(file));
  // the file holds what was started, so a later `virsh create` of it behaves the same
  ctx.files.writeText(file, xml);
  const dom = ctx.hv.createDomain(xml);
  try {
    const added = prepared.changes.length > 0 ? `; balloon: ${prepared.changes.join(', ')}` : '';
    ctx.log(`INFO: deploy: ${name} started, UUID ${dom.uuid}${added}`);
    // OpenNebula 6.0+ keeps the UUID as DEPLOY_ID (≤5.12 printed the name)
    return dom.uuid;
  } finally {
    dom.free();
  }
};

export const shutdown: Op = async (ctx, args) => {
  const dom = lookup(ctx.hv, args['deploy_id']!);
  const uuid = dom.uuid;
  const name = dom.name;
  try {
    const state = dom.state().state;
    if (state === DomainState.Shutoff) return '';
    if (ctx.config.cancelNoAcpi && !hasAcpi(dom.xml())) {
      ctx.log(`INFO: shutdown: ${name} has no ACPI and CANCEL_NO_ACPI=yes: destroying it`);
      dom.destroy();
      return '';
    }
    dom.shutdown();
  } finally {
    dom.free();
  }
  const off = await pollUntil(ctx.clock, { timeoutMs: ctx.config.shutdownTimeoutS * 1000, intervalMs: 500, clampToDeadline: true }, () => {
    const state = currentState(ctx.hv, uuid);
    return state === undefined || state === DomainState.Shutoff ? true : undefined;
  });
  if (off.done) return '';
  if (!ctx.config.forceDestroy)
    throw new CloudvampError(
      'hypervisor',
      `domain ${name} did not power off within ${ctx.config.shutdownTimeoutS} s of the ACPI request and is still running; ` +
        'use cancel (poweroff --hard), or set FORCE_DESTROY=yes in cloudvamp.conf',
    );
  ctx.log(`WARN: shutdown: ${name} did not power off within ${ctx.config.shutdownTimeoutS} s: destroying it (FORCE_DESTROY=yes)`);
  const again = lookup(ctx.hv, uuid);
  try {
    if (again.state().state !== DomainState.Shutoff) again.destroy();
  } finally {
    again.free();
  }
  return '';
};

/** Runs one domain call after a state check. */
function simple(doing: string, allowed: DomainState[], call: (dom: DomainHandle) => void): Op {
  return async (ctx, args) => {
    const dom = lookup(ctx.hv, args['deploy_id']!);
    try {
      requireState(dom, allowed, doing);
      call(dom);
      return '';
    } finally {
      dom.free();
    }
  };
}

const ACTIVE = [DomainState.Running, DomainState.Blocked, DomainState.Paused, DomainState.Shutdown, DomainState.Crashed, DomainState.PmSuspended];
export const cancel = simple('destroy', ACTIVE, (dom) => dom.destroy());
export const reboot = simple('reboot', [DomainState.Running, DomainState.Blocked], (dom) => dom.reboot());
export const reset = simple('reset', [DomainState.Running, DomainState.Blocked, DomainState.Paused], (dom) => dom.reset());

export const save: Op = async (ctx, args) => {
  const dom = lookup(ctx.hv, args['deploy_id']!);
  try {
    requireState(dom, [DomainState.Running, DomainState.Blocked, DomainState.Paused], 'save');
    const file = args['checkpoint_file']!;
    ctx.files.makeDir(path.dirname(file));
    dom.save(file);
    return '';
  } finally {
    dom.free();
  }
};

export const restore: Op = async (ctx, args) => {
  const id = args['deploy_id']!;
  const existing = currentState(ctx.hv, id);
  if (existing !== undefined && existing !== DomainState.Shutoff)
    throw new CloudvampError('hypervisor', `domain ${id} is already ${stateName(existing)} on ${ctx.hv.uri}; not restoring it a second time`);
  ctx.hv.restoreDomain(args['checkpoint_file']!);
  const state = currentState(ctx.hv, id);
  if (state === undefined)
    ctx.log(`WARN: restore: the checkpoint did not bring back a domain named or with UUID ${id}; check DEPLOY_ID`);
  return '';
};

export const migrate: Op = async (ctx, args) => {
  const dest = args['dest_host']!;
  if (dest === args['src_host']) throw usageError(`destination ${dest} is the source host: nothing to migrate`);
  const dom = lookup(ctx.hv, args['deploy_id']!);
  try {
    await migrateDomain(ctx.hv, dom, destinationUri(ctx.config, dest), ctx.config.migrate, {
      clock: ctx.clock,
      log: ctx.log,
      ...(ctx.progressIntervalMs !== undefined ? { progressIntervalMs: ctx.progressIntervalMs } : {}),
    });
    return '';
  } finally {
    dom.free();
  }
};

function balloonContext(ctx: OpContext) {
  return { floorKiB: ctx.config.memoryFloorKiB, settleTimeoutMs: ctx.config.balloonSettleTimeoutMs, clock: ctx.clock, log: ctx.log };
}

export const memory: Op = async (ctx, args) => {
  const target = Number(args['new_kib']);
  const dom = lookup(ctx.hv, args['domain']!);
  try {
    const change = await changeBalloon(dom, target, balloonContext(ctx));
    return `ACTUAL_KIB=${change.reachedKiB} TARGET_KIB=${change.targetKiB} PREVIOUS_KIB=${change.previousKiB} SETTLE_MS=${change.settleMs}`;
  } finally {
    dom.free();
  }
};

export const resize: Op = async (ctx, args) => {
  const stdin = await ctx.stdin();
  const plan = planResize(parseResizeAction(stdin));
  if (plan.delegateToStock && !ctx.runStock)
    throw new CloudvampError('config', `resize needs the stock kvm driver for ${plan.reasons.join(', ')}, and it is not installed beside vmm/cloudvamp`);
  const dom = lookup(ctx.hv, args['deploy_id']!);
  try {
    if (plan.balloonKiB !== undefined) {
      const change = await changeBalloon(dom, plan.balloonKiB, balloonContext(ctx));
      if (!change.unchanged)
        ctx.log(`INFO: resize: ${dom.name} balloon ${Math.round(change.previousKiB / 1024)} -> ${Math.round(change.reachedKiB / 1024)} MiB in ${change.settleMs} ms`);
      // oned now counts the new MEMORY in the host's MEM_USAGE: record it, so
      // the probes measure borrowed memory against it and do not offer the
      // shrink a second time (docs/accounting.md)
      dom.setMetadata(METADATA_URI, METADATA_KEY, sizeMetadataXml(plan.balloonKiB));
    }
  } finally {
    dom.free();
  }
  if (plan.delegateToStock) {
    ctx.log(`INFO: resize: ${plan.reasons.join(', ')}: handing over to the stock kvm resize`);
    await ctx.runStock!('resize', ctx.argv, stdin);
  }
  return '';
};

function findStats(all: DomainStats[], dom: DomainHandle): DomainStats | undefined {
  return all.find((s) => s.uuid === dom.uuid);
}

export const poll: Op = async (ctx, args) => {
  let dom: DomainHandle;
  try {
    dom = lookup(ctx.hv, args['deploy_id']!);
  } catch (error) {
    // 4.x reads STATE=d as "the VM is gone"; failing instead would make it UNKNOWN
    if (error instanceof CloudvampError && error.kind === 'not-found') return pollText(GONE_TEMPLATE);
    throw error;
  }
  try {
    const groups = { state: true, balloon: true, cpu: true, interface: true };
    const interval = ctx.pollIntervalMs ?? 1000;
    const first = findStats(ctx.hv.getAllDomainStats(groups), dom);
    const t0 = ctx.clock.now();
    if (!first) return pollText(GONE_TEMPLATE);
    await ctx.clock.sleep(interval);
    const second = findStats(ctx.hv.getAllDomainStats(groups), dom);
    if (!second) return pollText(GONE_TEMPLATE);
    return pollText(pollTemplate(first, second, ctx.clock.now() - t0, ctx.config.pollFormat));
  } finally {
    dom.free();
  }
};

/** Checks of stdin that run before any connection is opened. */
export const STDIN_CHECKS: Partial<Record<ActionName, (stdin: string) => void>> = {
  deploy: (xml) => void checkDomainXml(xml),
  resize: (xml) => void planResize(parseResizeAction(xml)),
};

/** Host-wide KSM knobs (Documentation/admin-guide/mm/ksm.rst). */
export const KSM_SYSFS = '/sys/kernel/mm/ksm';

/**
 * `ksm <run> <pages_to_scan> <sleep_millisecs> <host>`: the elasticity
 * manager's KSM tuning (lib/memory/ksm-policy.ts decides the values). The
 * scan settings are written before `run`, so a start scans at the new rate.
 */
export const ksm: Op = async (ctx, args) => {
  const run = Number(args['run']);
  if (run > 2) throw usageError(`run '${args['run']}' is not 0 (stop), 1 (run) or 2 (stop and unmerge)`);
  const pages = Number(args['pages_to_scan']);
  const sleep = Number(args['sleep_millisecs']);
  if (pages < 1) throw usageError('pages_to_scan must be at least 1');
  const write = (knob: string, value: number) => {
    try {
      ctx.files.writeText(`${KSM_SYSFS}/${knob}`, `${value}\n`);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new CloudvampError('config', `this host's kernel has no KSM (${KSM_SYSFS}/${knob} is missing); leave KSM_TUNING off for it`);
      if (code === 'EACCES' || code === 'EPERM')
        throw new CloudvampError('config', `cannot write ${KSM_SYSFS}/${knob} as this user: KSM tuning needs root (a sudoers rule for vmm/cloudvamp/ksm), or leave KSM_TUNING off`);
      throw error;
    }
  };
  write('pages_to_scan', pages);
  write('sleep_millisecs', sleep);
  write('run', run);
  return `KSM_RUN=${run} KSM_PAGES_TO_SCAN=${pages} KSM_SLEEP_MILLISECS=${sleep}`;
};

export const OPS: Record<ActionName, Op> = { deploy, shutdown, cancel, reboot, reset, save, restore, migrate, poll, resize, memory, ksm };
