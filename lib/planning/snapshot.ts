// A cluster snapshot file (JSON) into the planning model. Pure: it takes the
// parsed JSON value and returns the model or every problem found, each naming
// the field to fix, so one run shows all of them. Reading the file is the
// caller's business.
//
// {
//   "hosts": [{ "id": 0, "name": "kvm-01", "memMiB": 131072, "cpu": 3200, "enabled": true, "cpuPressure": 12 }],
//   "vms":   [{ "id": 10, "name": "web-1", "host": 0, "usedMiB": 3500, "reservedMiB": 512, "cpu": 100, "dirtyMiBps": 20, "cpuDelay": 3 }],
//   (cpuPressure: the probe's CPU_PRESSURE, cpuDelay: CPU_DELAY, percent; constraints.maxCpuPressure: the contention limit;
//    vms[].imageIds: DISK/IMAGE_ID, for consolidate --sharing)
//   "constraints": { "reserve": { "memMiB": 4096, "cpu": 0 }, "excludedHosts": [], "pinnedVms": [],
//                    "maxInFlightPerHost": 2, "maxInFlightPerCluster": 16 },  // optional, each field optional
//   "rules": [{ "kind": "anti-affined", "name": "vm group 3 db", "vms": [10, 11] },           // optional
//             { "kind": "host-affined", "name": "VM 12 SCHED_REQUIREMENTS", "vms": [12], "hosts": [0, 1] }]
// }
// Rule kinds: affined, anti-affined (VMs), host-affined, host-anti-affined (VMs and hosts).
import type { Cluster, Constraints, Host, HostId, PlacementRule, Vm, VmId } from './model';

export type SnapshotResult =
  | { ok: true; cluster: Cluster; constraints: Partial<Constraints> }
  | { ok: false; errors: string[] };

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

export function parseSnapshot(input: unknown): SnapshotResult {
  const errors: string[] = [];
  if (!isObject(input)) return { ok: false, errors: ['the snapshot must be a JSON object with "hosts" and "vms" arrays'] };
  const field = (obj: Json, key: string, where: string, check: 'id' | 'amount' | 'string' | 'boolean', required = true): unknown => {
    const value = obj[key];
    if (value === undefined) {
      if (required) errors.push(`${where}.${key}: missing`);
      return undefined;
    }
    const ok =
      check === 'id' ? Number.isInteger(value) && (value as number) >= 0
      : check === 'amount' ? typeof value === 'number' && Number.isFinite(value) && value >= 0
      : check === 'string' ? typeof value === 'string'
      : typeof value === 'boolean';
    if (!ok) {
      const want = { id: 'a whole number ≥ 0', amount: 'a number ≥ 0', string: 'a string', boolean: 'true or false' }[check];
      errors.push(`${where}.${key}: must be ${want}, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return value;
  };

  const hosts: Host[] = [];
  const hostIds = new Set<HostId>();
  if (!Array.isArray(input.hosts)) errors.push('hosts: must be an array of hosts');
  else
    input.hosts.forEach((raw, i) => {
      const where = `hosts[${i}]`;
      if (!isObject(raw)) return void errors.push(`${where}: must be an object`);
      const id = field(raw, 'id', where, 'id') as number | undefined;
      const name = (field(raw, 'name', where, 'string', false) as string | undefined) ?? `host-${id}`;
      const memMiB = field(raw, 'memMiB', where, 'amount') as number | undefined;
      const cpu = field(raw, 'cpu', where, 'amount') as number | undefined;
      const enabled = (field(raw, 'enabled', where, 'boolean', false) as boolean | undefined) ?? true;
      const cpuPressure = field(raw, 'cpuPressure', where, 'amount', false) as number | undefined;
      if (id !== undefined && hostIds.has(id)) errors.push(`${where}.id: host ${id} appears twice`);
      if (id !== undefined) hostIds.add(id);
      if (id === undefined || memMiB === undefined || cpu === undefined) return;
      hosts.push({ id, name, memMiB, cpu, enabled, ...(cpuPressure === undefined ? {} : { cpuPressure }) });
    });

  const vms: Vm[] = [];
  const placement = new Map<VmId, HostId>();
  const vmIds = new Set<VmId>();
  if (!Array.isArray(input.vms)) errors.push('vms: must be an array of VMs');
  else
    input.vms.forEach((raw, i) => {
      const where = `vms[${i}]`;
      if (!isObject(raw)) return void errors.push(`${where}: must be an object`);
      const id = field(raw, 'id', where, 'id') as number | undefined;
      const name = (field(raw, 'name', where, 'string', false) as string | undefined) ?? `vm-${id}`;
      const host = field(raw, 'host', where, 'id') as number | undefined;
      const usedMiB = field(raw, 'usedMiB', where, 'amount') as number | undefined;
      const reservedMiB = (field(raw, 'reservedMiB', where, 'amount', false) as number | undefined) ?? 0;
      const cpu = field(raw, 'cpu', where, 'amount') as number | undefined;
      const dirtyMiBps = field(raw, 'dirtyMiBps', where, 'amount', false) as number | undefined;
      const cpuDelay = field(raw, 'cpuDelay', where, 'amount', false) as number | undefined;
      const imageIds = raw.imageIds;
      if (imageIds !== undefined && !(Array.isArray(imageIds) && imageIds.every((x) => Number.isInteger(x) && x >= 0))) errors.push(`${where}.imageIds: must be an array of image ids`);
      if (id !== undefined && vmIds.has(id)) errors.push(`${where}.id: VM ${id} appears twice`);
      if (id !== undefined) vmIds.add(id);
      if (host !== undefined && Array.isArray(input.hosts) && !hostIds.has(host)) {
        errors.push(`${where}.host: host ${host} is not in "hosts"`);
      }
      if (id === undefined || host === undefined || usedMiB === undefined || cpu === undefined) return;
      placement.set(id, host);
      const vm: Vm = { id, name, memMiB: usedMiB + reservedMiB, cpu };
      if (dirtyMiBps !== undefined) vm.dirtyMiBps = dirtyMiBps;
      if (cpuDelay !== undefined) vm.cpuDelay = cpuDelay;
      if (Array.isArray(imageIds) && imageIds.length > 0) vm.imageIds = imageIds as number[];
      vms.push(vm);
    });

  const constraints = parseConstraints(input.constraints, hostIds, vmIds, errors);
  const rules = parseRules(input.rules, hostIds, vmIds, errors);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, cluster: { hosts, vms, placement, ...(rules.length > 0 ? { rules } : {}) }, constraints };
}

const RULE_KINDS = ['affined', 'anti-affined', 'host-affined', 'host-anti-affined'] as const;

function parseRules(raw: unknown, hostIds: Set<HostId>, vmIds: Set<VmId>, errors: string[]): PlacementRule[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    errors.push('rules: must be an array of { "kind", "name", "vms", "hosts" } objects');
    return [];
  }
  const rules: PlacementRule[] = [];
  raw.forEach((r, i) => {
    const where = `rules[${i}]`;
    if (!isObject(r)) return void errors.push(`${where}: must be an object`);
    const kind = r.kind as (typeof RULE_KINDS)[number];
    if (!RULE_KINDS.includes(kind)) return void errors.push(`${where}.kind: must be one of ${RULE_KINDS.join(', ')}, got ${JSON.stringify(r.kind)}`);
    const name = typeof r.name === 'string' ? r.name : `rule ${i}`;
    const ids = (key: 'vms' | 'hosts', known: Set<number>, what: string): number[] | undefined => {
      const list = r[key];
      if (!Array.isArray(list) || !list.every((x) => Number.isInteger(x))) return void errors.push(`${where}.${key}: must be an array of ${what} ids`);
      const unknown = list.filter((x) => !known.has(x as number));
      if (unknown.length > 0) errors.push(`${where}.${key}: ${what}s ${unknown.join(', ')} are not in the snapshot`);
      return list as number[];
    };
    const vms = ids('vms', vmIds, 'VM');
    if (kind === 'affined' || kind === 'anti-affined') {
      if (r.hosts !== undefined) errors.push(`${where}.hosts: ${kind} rules name VMs only`);
      if (vms) rules.push({ kind, name, vms });
    } else {
      const hosts = ids('hosts', hostIds, 'host');
      if (vms && hosts) rules.push({ kind, name, vms, hosts });
    }
  });
  return rules;
}

function parseConstraints(raw: unknown, hostIds: Set<HostId>, vmIds: Set<VmId>, errors: string[]): Partial<Constraints> {
  if (raw === undefined) return {};
  if (!isObject(raw)) {
    errors.push('constraints: must be an object');
    return {};
  }
  const out: Partial<Constraints> = {};
  if (raw.reserve !== undefined) {
    const r = raw.reserve;
    const amount = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
    if (isObject(r) && amount(r.memMiB ?? 0) && amount(r.cpu ?? 0)) out.reserve = { memMiB: (r.memMiB as number | undefined) ?? 0, cpu: (r.cpu as number | undefined) ?? 0 };
    else errors.push('constraints.reserve: must be { "memMiB": number ≥ 0, "cpu": number ≥ 0 }');
  }
  const ids = (key: 'excludedHosts' | 'pinnedVms', known: Set<number>, what: string) => {
    const list = raw[key];
    if (list === undefined) return;
    if (!Array.isArray(list) || !list.every((x) => Number.isInteger(x))) return void errors.push(`constraints.${key}: must be an array of ${what} ids`);
    const unknown = list.filter((x) => !known.has(x as number));
    if (unknown.length > 0) errors.push(`constraints.${key}: ${what}s ${unknown.join(', ')} are not in the snapshot`);
    out[key] = list as number[];
  };
  ids('excludedHosts', hostIds, 'host');
  ids('pinnedVms', vmIds, 'VM');
  if (raw.maxCpuPressure !== undefined) {
    if (typeof raw.maxCpuPressure === 'number' && raw.maxCpuPressure >= 0 && raw.maxCpuPressure <= 100) out.maxCpuPressure = raw.maxCpuPressure;
    else errors.push(`constraints.maxCpuPressure: must be a percentage in [0, 100], got ${JSON.stringify(raw.maxCpuPressure)}`);
  }
  for (const key of ['maxInFlightPerHost', 'maxInFlightPerCluster'] as const) {
    const value = raw[key];
    if (value === undefined) continue;
    if (Number.isInteger(value) && (value as number) >= 1) out[key] = value as number;
    else errors.push(`constraints.${key}: must be a whole number ≥ 1, got ${JSON.stringify(value)}`);
  }
  return out;
}
