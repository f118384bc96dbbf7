// Typed views of oned's VM, HOST and MONITORING_DATA documents, parsed at the
// edge so the rest of cloudvamp never sees XML. Pure: strings in, objects out.
//
// Lenient on purpose (PROTOCOL.md §1.8): oned does not validate its output
// against its own XSDs, so keys outside the schema (custom MONITORING keys such
// as PACKEDMEMORY, any USER_TEMPLATE or host TEMPLATE key) are kept, and only
// the fields cloudvamp needs are required. Template-like sections become
// Record<string, string> of their scalar children: vector attributes
// (DISK_SIZE=[…], SCHED_ACTION=[…]) are left out, and for a repeated scalar key
// the first occurrence wins, as in oned's own template lookups.

import { CloudvampError } from '../errors';
import { readXml, XmlSyntaxError, type XmlBuilder } from './xml-tree';

/** VM STATE (PROTOCOL.md §4). */
export const VmState = {
  INIT: 0,
  PENDING: 1,
  HOLD: 2,
  ACTIVE: 3,
  STOPPED: 4,
  SUSPENDED: 5,
  DONE: 6,
  POWEROFF: 8,
  UNDEPLOYED: 9,
  CLONING: 10,
  CLONING_FAILURE: 11,
} as const;

/** The LCM_STATE values cloudvamp acts on. */
export const LcmState = {
  LCM_INIT: 0,
  RUNNING: 3,
  MIGRATE: 4,
  UNKNOWN: 16,
  HOTPLUG_RESIZE: 66,
} as const;

export const HostState = { INIT: 0, MONITORED: 2, ERROR: 3, DISABLED: 4, OFFLINE: 8 } as const;

export interface OneVm {
  id: number;
  name: string;
  uid: number;
  gid: number;
  state: number;
  lcmState: number;
  /** '' until the VM has been deployed */
  deployId: string;
  lastPoll: number;
  /** From the last HISTORY record; absent for a VM never placed on a host. */
  hostId?: number;
  hostname?: string;
  vmMad?: string;
  /** the last HISTORY's SEQ: one.vm.migrate adds a record, a failed live migration another (back on the source) */
  historySeq?: number;
  /**
   * the last HISTORY's RSTIME (epoch s): 0 while oned has not yet seen the VM
   * run on that record's host (a migration in flight), set once it does
   */
  runningSince?: number;
  /** TEMPLATE/MEMORY: the allocated size oned accounts in the host's MEM_USAGE. */
  templateMemoryMiB: number;
  /** TEMPLATE/MEMORY_MAX: the ceiling the balloon can grow back to. */
  memoryMaxMiB?: number;
  /** TEMPLATE/MEMORY_RESIZE_MODE (6.6+): BALLOONING or HOTPLUG; unset means BALLOONING in the code (PROTOCOL.md §2.5). */
  memoryResizeMode?: string;
  cpu: number;
  vcpu?: number;
  /** OneGate values (MEM_TOTAL, MEM_FREE…) and whatever cloudvamp published. */
  userTemplate: Record<string, string>;
  /** SCHED_REQUIREMENTS from TEMPLATE, else USER_TEMPLATE: the hosts the scheduler may use for it. */
  schedRequirements?: string;
  /** TEMPLATE/DISK/IMAGE_ID of each disk made from an image. */
  imageIds?: number[];
  /** Monitoring keys, custom ones (PACKEDMEMORY, REALMEMORY…) included. Values are as oned stored them. */
  monitoring: Record<string, string>;
}

export interface HostShare {
  /** Sum of TEMPLATE/MEMORY of the host's VMs, KiB */
  memUsageKiB: number;
  /** Sum of the VMs' CPU, percent of one core */
  cpuUsage: number;
  totalMemKiB: number;
  totalCpu: number;
  /** TOTAL_MEM − RESERVED_MEM: the admission limit for enforce */
  maxMemKiB: number;
  maxCpu: number;
  runningVms: number;
}

/** HOST/MONITORING/CAPACITY; empty in pool dumps where oned left MONITORING out (PROTOCOL.md §1.8). */
export interface HostMonitoring {
  timestamp?: number;
  freeMemoryKiB?: number;
  usedMemoryKiB?: number;
  freeCpu?: number;
  usedCpu?: number;
}

export interface OneHost {
  id: number;
  name: string;
  state: number;
  imMad: string;
  vmMad: string;
  clusterId: number;
  cluster: string;
  hostShare: HostShare;
  vmIds: number[];
  /** SYSTEM_HOST keys (TOTALMEMORY, PACKEDMEMORY, CLOUDVAMP_*…) */
  template: Record<string, string>;
  monitoring: HostMonitoring;
}

/** One record of `one.vmpool.monitoring`: a VM's complete monitoring at a moment. */
export interface VmMonitoringRecord {
  vmId: number;
  timestamp?: number;
  values: Record<string, string>;
}

// ------------------------------------------------------------------ parsing

type Node = string | { [key: string]: Node | Node[] };
type Obj = { [key: string]: Node | Node[] };

const REPEATED = new Set(['VM_POOL.VM', 'HOST_POOL.HOST', 'HISTORY_RECORDS.HISTORY', 'MONITORING_DATA.MONITORING', 'VMS.ID']);

const onedFormatError = (message: string) => new CloudvampError('oned', `${message} — is the endpoint an OpenNebula 6.x/7.x oned?`);

/**
 * oned's documents through the same strict reader as the XML-RPC envelope
 * (lib/oned/xml-tree.ts): one pass that also rejects malformed XML. A pool
 * dump of 10,000 VMs is tens of MB, and a general parser plus its separate
 * validation pass cost the manager's cycle more than its whole decision.
 */
function parseDocument(xml: string, rootName: string): Node {
  let root: Frame;
  try {
    root = readXml(xml, nodeBuilder);
  } catch (error) {
    if (error instanceof XmlSyntaxError) throw onedFormatError(`oned sent malformed ${rootName} XML (${error.message})`);
    throw error;
  }
  if (root.name !== rootName) throw onedFormatError(`expected a <${rootName}> document from oned, got <${root.name}>`);
  return valueOf(root);
}

/**
 * An element as the readers below take it: a leaf is its trimmed text (CDATA
 * included); otherwise an object of its children by name, a list where a name
 * repeats (always for REPEATED, so one VM is still a pool of one). Text beside
 * child elements (whitespace between them) is dropped.
 */
interface Frame {
  name: string;
  text: string;
  object: Obj | undefined;
}
const valueOf = (frame: Frame): Node => frame.object ?? frame.text.trim();
const nodeBuilder: XmlBuilder<Frame> = {
  open: (name) => ({ name, text: '', object: undefined }),
  text(frame, text) {
    if (frame.object === undefined) frame.text += text;
  },
  close(frame, parent) {
    if (!parent) return;
    const object = (parent.object ??= Object.create(null) as Obj);
    const value = valueOf(frame);
    const existing = object[frame.name];
    if (existing === undefined) object[frame.name] = REPEATED.has(`${parent.name}.${frame.name}`) ? [value] : value;
    else if (Array.isArray(existing)) existing.push(value);
    else object[frame.name] = [existing, value];
  },
};

const asObject = (node: Node | Node[] | undefined): Obj => (typeof node === 'object' && node !== null && !Array.isArray(node) ? node : {});
const asList = (node: Node | Node[] | undefined): Node[] => (node === undefined || node === '' ? [] : Array.isArray(node) ? node : [node]);

function scalar(node: Node | Node[] | undefined): string | undefined {
  const first = Array.isArray(node) ? node[0] : node;
  return typeof first === 'string' ? first.trim() : undefined;
}

/** Scalar children of a template-like section as strings; see the file comment for what is left out. */
export function scalarChildren(node: Node | Node[] | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(asObject(node))) {
    const text = scalar(value);
    if (text !== undefined) Object.defineProperty(result, key, { value: text, enumerable: true, writable: true, configurable: true });
  }
  return result;
}

class FieldReader {
  constructor(
    private readonly what: string,
    private readonly node: Obj,
  ) {}
  child(path: string): Node | Node[] | undefined {
    let current: Node | Node[] | undefined = this.node;
    for (const part of path.split('/')) current = asObject(current)[part];
    return current;
  }
  optionalText(path: string): string | undefined {
    return scalar(this.child(path));
  }
  text(path: string): string {
    const value = this.optionalText(path);
    if (value === undefined) throw onedFormatError(`oned's ${this.what} has no ${path}`);
    return value;
  }
  optionalNumber(path: string, integer = true): number | undefined {
    const text = this.optionalText(path);
    if (text === undefined || text === '') return undefined;
    const value = Number(text);
    if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) {
      throw onedFormatError(`oned's ${this.what} has ${path} = '${text}', not ${integer ? 'an integer' : 'a number'}`);
    }
    return value;
  }
  number(path: string, integer = true): number {
    const value = this.optionalNumber(path, integer);
    if (value === undefined) throw onedFormatError(`oned's ${this.what} has no ${path}`);
    return value;
  }
}

function imageIdsOf(disks: Node | Node[] | undefined): number[] | undefined {
  const ids = asList(disks)
    .map((disk) => Number(scalar(asObject(disk)['IMAGE_ID'])))
    .filter((id) => Number.isInteger(id) && id >= 0);
  return ids.length > 0 ? ids : undefined;
}

function vmFromNode(node: Node): OneVm {
  const object = asObject(node);
  const id = scalar(object['ID']) ?? '?';
  const read = new FieldReader(`VM ${id}`, object);
  const history = asList(asObject(object['HISTORY_RECORDS'])['HISTORY']);
  const last = history.length > 0 ? new FieldReader(`VM ${id} last HISTORY`, asObject(history[history.length - 1])) : undefined;
  const vm: OneVm = {
    id: read.number('ID'),
    name: read.text('NAME'),
    uid: read.optionalNumber('UID') ?? -1,
    gid: read.optionalNumber('GID') ?? -1,
    state: read.number('STATE'),
    lcmState: read.number('LCM_STATE'),
    deployId: read.optionalText('DEPLOY_ID') ?? '',
    lastPoll: read.optionalNumber('LAST_POLL') ?? 0,
    templateMemoryMiB: read.number('TEMPLATE/MEMORY'),
    cpu: read.number('TEMPLATE/CPU', false),
    userTemplate: scalarChildren(object['USER_TEMPLATE']),
    monitoring: scalarChildren(object['MONITORING']),
  };
  const optional: Partial<OneVm> = {
    hostId: last?.optionalNumber('HID'),
    hostname: last?.optionalText('HOSTNAME'),
    vmMad: last?.optionalText('VM_MAD'),
    historySeq: last?.optionalNumber('SEQ'),
    runningSince: last?.optionalNumber('RSTIME'),
    memoryMaxMiB: read.optionalNumber('TEMPLATE/MEMORY_MAX'),
    memoryResizeMode: read.optionalText('TEMPLATE/MEMORY_RESIZE_MODE') || undefined,
    vcpu: read.optionalNumber('TEMPLATE/VCPU'),
    schedRequirements: read.optionalText('TEMPLATE/SCHED_REQUIREMENTS') || read.optionalText('USER_TEMPLATE/SCHED_REQUIREMENTS') || undefined,
    imageIds: imageIdsOf(asObject(object['TEMPLATE'])['DISK']),
  };
  // Leave absent fields out rather than present-and-undefined, so equality checks and spreads behave.
  for (const [key, value] of Object.entries(optional)) if (value !== undefined) (vm as unknown as Record<string, unknown>)[key] = value;
  return vm;
}

function hostFromNode(node: Node): OneHost {
  const object = asObject(node);
  const read = new FieldReader(`HOST ${scalar(object['ID']) ?? '?'}`, object);
  const capacity = new FieldReader('host MONITORING', asObject(read.child('MONITORING')));
  const monitoring: HostMonitoring = {};
  const capacityFields: [keyof HostMonitoring, string][] = [
    ['timestamp', 'TIMESTAMP'],
    ['freeMemoryKiB', 'CAPACITY/FREE_MEMORY'],
    ['usedMemoryKiB', 'CAPACITY/USED_MEMORY'],
    ['freeCpu', 'CAPACITY/FREE_CPU'],
    ['usedCpu', 'CAPACITY/USED_CPU'],
  ];
  for (const [field, path] of capacityFields) {
    const value = capacity.optionalNumber(path, false);
    if (value !== undefined) monitoring[field] = value;
  }
  return {
    id: read.number('ID'),
    name: read.text('NAME'),
    state: read.number('STATE'),
    imMad: read.text('IM_MAD'),
    vmMad: read.text('VM_MAD'),
    clusterId: read.number('CLUSTER_ID'),
    cluster: read.optionalText('CLUSTER') ?? '',
    hostShare: {
      memUsageKiB: read.number('HOST_SHARE/MEM_USAGE'),
      cpuUsage: read.number('HOST_SHARE/CPU_USAGE'),
      totalMemKiB: read.number('HOST_SHARE/TOTAL_MEM'),
      totalCpu: read.number('HOST_SHARE/TOTAL_CPU'),
      maxMemKiB: read.number('HOST_SHARE/MAX_MEM'),
      maxCpu: read.number('HOST_SHARE/MAX_CPU'),
      runningVms: read.number('HOST_SHARE/RUNNING_VMS'),
    },
    vmIds: asList(asObject(object['VMS'])['ID']).map((id) => {
      const value = Number(scalar(id));
      if (!Number.isInteger(value)) throw onedFormatError(`oned's HOST ${scalar(object['ID'])} lists VM id '${scalar(id)}'`);
      return value;
    }),
    template: scalarChildren(object['TEMPLATE']),
    monitoring,
  };
}

function monitoringFromNode(node: Node): VmMonitoringRecord {
  const values = scalarChildren(node);
  const read = new FieldReader('MONITORING record', asObject(node));
  const record: VmMonitoringRecord = { vmId: read.number('ID'), values };
  const timestamp = read.optionalNumber('TIMESTAMP');
  if (timestamp !== undefined) record.timestamp = timestamp;
  return record;
}

/** `one.vm.info` */
export const parseVm = (xml: string): OneVm => vmFromNode(parseDocument(xml, 'VM'));
/** `one.vmpool.infoextended` (also reads short `one.vmpool.info` bodies, minus what they leave out) */
export const parseVmPool = (xml: string): OneVm[] => asList(asObject(parseDocument(xml, 'VM_POOL'))['VM']).map(vmFromNode);
/** `one.host.info` */
export const parseHost = (xml: string): OneHost => hostFromNode(parseDocument(xml, 'HOST'));
/** `one.hostpool.info` */
export const parseHostPool = (xml: string): OneHost[] => asList(asObject(parseDocument(xml, 'HOST_POOL'))['HOST']).map(hostFromNode);
/** A VM group role: its VMs, its own policy, and the hosts it is kept on or off. */
export interface OneVmGroupRole {
  id: number;
  name: string;
  /** AFFINED, ANTI_AFFINED or NONE */
  policy: string;
  vms: number[];
  hostAffined: number[];
  hostAntiAffined: number[];
}

export interface OneVmGroup {
  id: number;
  name: string;
  roles: OneVmGroupRole[];
  /** TEMPLATE/AFFINED rules, each a list of role names whose VMs share a host. */
  affined: string[][];
  /** TEMPLATE/ANTI_AFFINED rules, each a list of role names whose VMs never share one. */
  antiAffined: string[][];
}

function idList(text: string | undefined, what: string): number[] {
  if (text === undefined || text.trim() === '') return [];
  return text.split(',').map((part) => {
    const value = Number(part.trim());
    if (!Number.isInteger(value)) throw onedFormatError(`oned's ${what} lists '${part.trim()}', not an id`);
    return value;
  });
}

function vmGroupFromNode(node: Node): OneVmGroup {
  const object = asObject(node);
  const read = new FieldReader(`VM_GROUP ${scalar(object['ID']) ?? '?'}`, object);
  const id = read.number('ID');
  const roles = asList(asObject(object['ROLES'])['ROLE']).map((roleNode) => {
    const role = new FieldReader(`VM_GROUP ${id} ROLE`, asObject(roleNode));
    const what = `VM_GROUP ${id} role ${role.optionalText('NAME') ?? '?'}`;
    return {
      id: role.number('ID'),
      name: role.text('NAME'),
      policy: (role.optionalText('POLICY') ?? 'NONE').toUpperCase(),
      vms: idList(role.optionalText('VMS'), `${what} VMS`),
      hostAffined: idList(role.optionalText('HOST_AFFINED'), `${what} HOST_AFFINED`),
      hostAntiAffined: idList(role.optionalText('HOST_ANTI_AFFINED'), `${what} HOST_ANTI_AFFINED`),
    };
  });
  const template = asObject(object['TEMPLATE']);
  const rules = (key: string) => asList(template[key]).map((rule) => (scalar(rule) ?? '').split(',').map((name) => name.trim()).filter((name) => name !== ''));
  return { id, name: read.text('NAME'), roles, affined: rules('AFFINED'), antiAffined: rules('ANTI_AFFINED') };
}

/** `one.vmgrouppool.info` */
export const parseVmGroupPool = (xml: string): OneVmGroup[] => asList(asObject(parseDocument(xml, 'VM_GROUP_POOL'))['VM_GROUP']).map(vmGroupFromNode);

/** `one.vmpool.monitoring` / `one.vm.monitoring` */
export const parseMonitoringData = (xml: string): VmMonitoringRecord[] =>
  asList(asObject(parseDocument(xml, 'MONITORING_DATA'))['MONITORING']).map(monitoringFromNode);

/**
 * Replaces each VM's monitoring with its newest record (highest TIMESTAMP; the
 * later one on a tie). Records are complete (monitord merges every report into
 * the previous record), so this replaces rather than merges. VMs without a
 * record keep what their body carried, which may be stale (PROTOCOL.md §1.8).
 */
export function mergeVmMonitoring(vms: readonly OneVm[], records: readonly VmMonitoringRecord[]): OneVm[] {
  const newest = new Map<number, VmMonitoringRecord>();
  for (const record of records) {
    const current = newest.get(record.vmId);
    if (!current || (record.timestamp ?? -Infinity) >= (current.timestamp ?? -Infinity)) newest.set(record.vmId, record);
  }
  return vms.map((vm) => {
    const record = newest.get(vm.id);
    return record ? { ...vm, monitoring: { ...record.values } } : vm;
  });
}
