// The argv of every VMM action cloudvamp replaces, in OpenNebula's exact order
// (PROTOCOL.md §2.3). one_vmm_exec always appends `<vm_id> <host>` (both listed
// here as ordinary arguments), except for the cloudvamp-only `memory` action,
// which the elasticity manager calls itself. Pure: specs and validation only.
import { usageError } from '../errors';

export type ArgKind = 'deploy-id' | 'host' | 'path' | 'vmid' | 'kib' | 'count';

export interface ArgSpec {
  name: string;
  kind: ArgKind;
  description: string;
}

export type StdinUse = 'domain-xml' | 'action-xml' | 'ignored';

export interface ActionSpec {
  name: ActionName;
  summary: string;
  args: readonly ArgSpec[];
  stdin: StdinUse;
  stdout: string;
}

export type ActionName =
  | 'deploy'
  | 'shutdown'
  | 'cancel'
  | 'reboot'
  | 'reset'
  | 'save'
  | 'restore'
  | 'migrate'
  | 'poll'
  | 'resize'
  | 'memory'
  | 'ksm';

const deployId: ArgSpec = { name: 'deploy_id', kind: 'deploy-id', description: 'libvirt domain: UUID (6.0+), name one-<id> or ID' };
const host: ArgSpec = { name: 'host', kind: 'host', description: 'this host, as OpenNebula names it' };
// the two arguments one_vmm_exec appends to every action
const appended: readonly ArgSpec[] = [
  { name: 'vm_id', kind: 'vmid', description: 'OpenNebula VM ID (appended by the driver)' },
  { name: 'vm_host', kind: 'host', description: 'host (appended by the driver)' },
];

export const ACTIONS: Record<ActionName, ActionSpec> = {
  deploy: {
    name: 'deploy',
    summary: 'write the libvirt domain XML from stdin to the deployment file and start the domain',
    args: [
      { name: 'deployment_file', kind: 'path', description: 'where to write the domain XML on this host' },
      host,
      ...appended,
    ],
    stdin: 'domain-xml',
    stdout: 'the deploy ID: the libvirt UUID of the started domain',
  },
  shutdown: {
    name: 'shutdown',
    summary: 'ACPI shutdown; wait up to SHUTDOWN_TIMEOUT, then destroy (FORCE_DESTROY=yes) or fail',
    args: [deployId, host, ...appended],
    stdin: 'ignored',
    stdout: 'nothing',
  },
  cancel: {
    name: 'cancel',
    summary: 'destroy the domain at once (hard power off)',
    args: [deployId, host, ...appended],
    stdin: 'ignored',
    stdout: 'nothing',
  },
  reboot: {
    name: 'reboot',
    summary: 'ask the guest to reboot (ACPI)',
    args: [deployId, host, ...appended],
    stdin: 'ignored',
    stdout: 'nothing',
  },
  reset: {
    name: 'reset',
    summary: 'hard reset of the domain',
    args: [deployId, host, ...appended],
    stdin: 'ignored',
    stdout: 'nothing',
  },
  save: {
    name: 'save',
    summary: "save the domain's memory to the checkpoint file and stop it",
    args: [deployId, { name: 'checkpoint_file', kind: 'path', description: 'file to write' }, host, ...appended],
    stdin: 'ignored',
    stdout: 'nothing',
  },
  restore: {
    name: 'restore',
    summary: 'start the domain again from the checkpoint file',
    args: [{ name: 'checkpoint_file', kind: 'path', description: 'file written by save' }, host, deployId, ...appended],
    stdin: 'ignored',
    stdout: 'nothing',
  },
  migrate: {
    name: 'migrate',
    summary: 'migrate the domain (live unless MIGRATE_LIVE=no) to <QEMU_PROTOCOL>://<dest_host>/system',
    args: [
      deployId,
      { name: 'dest_host', kind: 'host', description: 'destination host' },
      { name: 'src_host', kind: 'host', description: 'this (source) host' },
      ...appended,
    ],
    stdin: 'ignored',
    stdout: 'nothing; progress goes to stderr as INFO: lines',
  },
  poll: {
    name: 'poll',
    summary: 'legacy (OpenNebula 4.x-5.10) per-VM poll line, with the CloudVAMP memory keys',
    args: [deployId, host, ...appended],
    stdin: 'ignored',
    stdout: 'STATE=a USEDCPU=.. USEDMEMORY=.. NETRX=.. NETTX=.. MAXMEMORY=.. REALMEMORY=.. PACKEDMEMORY=..',
  },
  resize: {
    name: 'resize',
    summary: 'live memory resize (MEMORY_RESIZE_MODE=BALLOONING) from the VM template on stdin',
    args: [deployId, ...appended],
    stdin: 'action-xml',
    stdout: 'nothing',
  },
  memory: {
    name: 'memory',
    summary: "set a running domain's balloon to NEW_KIB and wait until the guest reaches it (elasticity manager)",
    args: [
      { name: 'domain', kind: 'deploy-id', description: 'libvirt domain: UUID, name or ID' },
      { name: 'new_kib', kind: 'kib', description: 'new balloon size in KiB' },
      host,
    ],
    stdin: 'ignored',
    stdout: 'ACTUAL_KIB=<reached> TARGET_KIB=<asked> SETTLE_MS=<time>',
  },
  ksm: {
    name: 'ksm',
    summary: "tune the host's KSM (page sharing): scan rate, pause, and start (1) / stop (0) / stop and unmerge (2); needs root (elasticity manager, KSM_TUNING=yes)",
    args: [
      { name: 'run', kind: 'count', description: '0 stop, 1 run, 2 stop and unmerge every page' },
      { name: 'pages_to_scan', kind: 'count', description: 'pages per scan (MOM: 64-1250)' },
      { name: 'sleep_millisecs', kind: 'count', description: 'pause between scans, ms' },
      host,
    ],
    stdin: 'ignored',
    stdout: 'KSM_RUN=<run> KSM_PAGES_TO_SCAN=<n> KSM_SLEEP_MILLISECS=<ms>',
  },
};

// Host names reach a URI (never a shell): letters, digits, dot, dash, underscore,
// or an IPv6 address (bracketed in the URI).
const HOST_RE = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*|\[[0-9A-Fa-f:.]+\])$/;

/** Checks one argument; returns the problem or undefined. */
export function checkArg(spec: ArgSpec, value: string): string | undefined {
  switch (spec.kind) {
    case 'deploy-id':
      return value === '' || /[\s\u0000-\u001f]/.test(value) ? `${spec.name} '${value}' is not a domain name or UUID` : undefined;
    case 'host':
      return HOST_RE.test(value) ? undefined : `${spec.name} '${value}' is not a host name or address`;
    case 'path':
      return value.startsWith('/') && !value.includes('\0') && value.length > 1
        ? undefined
        : `${spec.name} '${value}' is not an absolute path`;
    case 'vmid':
      return /^\d+$/.test(value) ? undefined : `${spec.name} '${value}' is not a VM ID (a whole number)`;
    case 'count':
      return /^\d{1,9}$/.test(value) ? undefined : `${spec.name} '${value}' is not a whole number`;
    case 'kib':
      return /^[1-9]\d*$/.test(value) ? undefined : `${spec.name} '${value}' is not a size in KiB (a positive whole number)`;
  }
}

/** Validated positional arguments, by name. */
export type ActionArgs = Record<string, string>;

/** Checks count and form of the positional arguments; throws one usage error naming the first problem. */
export function parseActionArgs(spec: ActionSpec, values: readonly string[]): ActionArgs {
  const expected = spec.args.map((a) => `<${a.name}>`).join(' ');
  if (values.length !== spec.args.length) {
    const what = values.length < spec.args.length ? `missing ${spec.args[values.length]!.name}` : `${values.length - spec.args.length} extra argument(s)`;
    throw usageError(`${what}: expected ${spec.name} ${expected}`);
  }
  const args: ActionArgs = {};
  spec.args.forEach((a, i) => {
    const value = values[i]!;
    const problem = checkArg(a, value);
    if (problem) throw usageError(problem);
    args[a.name] = value;
  });
  return args;
}

/** `<proto>://<host>/system`, IPv6 hosts bracketed. */
export function hostForUri(hostName: string): string {
  return hostName.includes(':') && !hostName.startsWith('[') ? `[${hostName}]` : hostName;
}
