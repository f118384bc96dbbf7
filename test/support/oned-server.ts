// An in-process oned for tests: a node http server on 127.0.0.1 (random port)
// speaking oned's XML-RPC for the calls cloudvamp makes, over a mutable cloud
// built from the fixture documents in test/fixtures/oned/. oned itself cannot
// be installed here.
//
// What it models (PROTOCOL.md §2.4, §2.5, §4):
// * replies `[true, body, 0]` / `[false, "[method] message", code, -1, <i8>0]`;
//   XML-RPC faults for unknown methods and wrong parameter types (xmlrpc-c);
// * one.vm.migrate completes at once: the last HISTORY is closed, a new one
//   opened on the destination, both hosts' MEM_USAGE/CPU_USAGE/RUNNING_VMS/VMS
//   move; enforce checks MAX_MEM − MEM_USAGE ≥ MEMORY and MAX_CPU − CPU_USAGE ≥ CPU.
//   With `onMigrate` (real-guest tests) the hook first does what oned's VMM
//   driver would (the VM is in LCM MIGRATE meanwhile); the state changes and
//   the call answers only once it resolved, and a rejection becomes a failure reply.
//   With `migrations: 'oned'`, a live migration of a RUNNING VM runs as in oned
//   7.4 instead: the call only adds the destination's HISTORY (SEQ+1, STIME and
//   RSTIME 0) and returns with the VM still RUNNING; the test then drives
//   `migrationStep`: 'migrate' (LCM MIGRATE, as oned's async trigger),
//   'success' (RSTIME set, source record closed, shares moved, RUNNING) or
//   {fail} (revert_migrate_after_failure: a copy of the source's record,
//   USER_TEMPLATE/ERROR, RUNNING on the source);
// * one.vm.update replaces (0) or merges (1) USER_TEMPLATE;
// * one.host.update replaces (0) or merges (1) the host TEMPLATE, then sets
//   HOST_SHARE/MAX_MEM = TOTAL_MEM − RESERVED_MEM as oned does (RESERVED_MEM in
//   KiB or "N%" of TOTAL_MEM, empty = 0; the cluster's RESERVED_MEM is not modelled);
// * one.vm.resize changes TEMPLATE/MEMORY and the host's MEM_USAGE; enforce
//   checks the growth fits. Like oned, the call succeeds before the driver
//   runs: growing a BALLOONING VM above MEMORY_MAX is then rolled back by the
//   "driver" (libvirt refuses setmem above <memory>) and the error lands in
//   USER_TEMPLATE/ERROR;
// * monitoring records: each VM's MONITORING is its last record; tests add
//   records with setVmMonitoring (merged into the previous one, as monitord does).
//
// Custom monitoring keys: oned serves them (PROTOCOL.md §1.6.5) and so does the
// simulator, in VM/MONITORING and in MONITORING_DATA. The official XSDs declare
// no such keys (no xs:any), so `validateOneDocument` removes exactly the keys
// listed in OUT_OF_SCHEMA_MONITORING_KEYS (and undeclared by the schema) before
// running xmllint, and reports what it removed; every other part of every reply
// is validated as served.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ONED_ERROR_CODES, type OnedErrorCodeName } from '../../lib/oned/errors';
import { parseTemplate } from '../../lib/oned/template';
import { childElements, parseXmlDocument, serializeXmlElement, textOf, type XmlElement } from '../../lib/oned/xml-tree';
import { XmlRpcI8, type XmlRpcEncodable, type XmlRpcValue } from '../../lib/oned/xmlrpc';
import { parseMethodCall, serializeFault, serializeMethodResponse } from './xmlrpc-server';

export const ONED_FIXTURE_DIR = fileURLToPath(new URL('../fixtures/oned/', import.meta.url));
export const ONED_XSD_DIR = fileURLToPath(new URL('../fixtures/oned/xsd/', import.meta.url));

export const DEFAULT_VM_FIXTURES = ['vm-running-ballooned.xml', 'vm-running-plain.xml', 'vm-poweroff.xml'];
export const DEFAULT_HOST_FIXTURES = ['host-kvm-cloudvamp.xml', 'host-kvm-plain.xml'];
export const DEFAULT_SESSION = 'oneadmin:opennebula';

/**
 * MONITORING keys oned really emits that the official schemas do not declare:
 * cloudvamp's own probe keys (and the 2015 ones), and stock 7.x keys missing
 * from monitoring_data.xsd. Only these may be removed before validation.
 */
export const OUT_OF_SCHEMA_MONITORING_KEYS = new Set([
  // what cloudvamp's vm/monitor probe adds (lib/monitor/reports.ts)
  'PACKEDMEMORY',
  'MAXMEMORY',
  'REALMEMORY',
  'USEDMEMORY',
  'GUEST_MEMTOTAL',
  'GUEST_MEMFREE',
  'GUEST_MEMAVAILABLE',
  'GUEST_DISKCACHES',
  'BALLOON_LAST_UPDATE',
  'GUEST_SWAP_IN',
  'GUEST_MAJOR_FAULTS',
  'CPU_DELAY',
  'KSM_MERGED_MEMORY',
  'KSM_PROFIT',
  'CPU_FORECAST',
  'CPU_FORECAST_FAR',
  'MEMORY_FORECAST',
  'MEMORY_FORECAST_FAR',
  'STATE',
]);

// ------------------------------------------------------------ XML helpers

const element = (name: string, text?: string): XmlElement => ({ name, children: text === undefined || text === '' ? [] : [text] });
const findChild = (parent: XmlElement, name: string) => childElements(parent).find((c) => c.name === name);
const childrenNamed = (parent: XmlElement, name: string) => childElements(parent).filter((c) => c.name === name);
const clone = (node: XmlElement): XmlElement => structuredClone(node);

function at(root: XmlElement, path: string): XmlElement {
  let current = root;
  for (const part of path.split('/')) {
    const next = findChild(current, part);
    if (!next) throw new Error(`simulator: <${root.name}> has no ${path}`);
    current = next;
  }
  return current;
}
const leaf = (root: XmlElement, path: string) => textOf(at(root, path)).trim();
const intAt = (root: XmlElement, path: string) => Number(leaf(root, path));

/** Sets a leaf, inserting it in ASCII order among its siblings as oned's sorted templates do. */
function setLeaf(parent: XmlElement, name: string, value: string | number): void {
  const existing = findChild(parent, name);
  if (existing) {
    existing.children = String(value) === '' ? [] : [String(value)];
    return;
  }
  insertSorted(parent, element(name, String(value)));
}

function insertSorted(parent: XmlElement, child: XmlElement): void {
  const index = parent.children.findIndex((c) => typeof c !== 'string' && c.name > child.name);
  if (index < 0) parent.children.push(child);
  else parent.children.splice(index, 0, child);
}

/** Drops indentation so documents serialise compactly, as oned sends them. */
function stripWhitespace(node: XmlElement): XmlElement {
  const elements = childElements(node);
  if (elements.length > 0) node.children = elements.map(stripWhitespace);
  return node;
}

const loadFixture = (file: string): XmlElement => stripWhitespace(parseXmlDocument(readFileSync(ONED_FIXTURE_DIR + file, 'utf8')));

/** Renames hosts in a fixture: every NAME or HOSTNAME whose whole text is a key of `names`. */
function renameHosts(node: XmlElement, names: Readonly<Record<string, string>>): XmlElement {
  for (const child of childElements(node)) {
    const text = textOf(child);
    if ((child.name === 'NAME' || child.name === 'HOSTNAME') && Object.hasOwn(names, text)) child.children = [names[text]!];
    else renameHosts(child, names);
  }
  return node;
}

// ------------------------------------------------------------ schema validation

export interface SchemaCheck {
  valid: boolean;
  schema: string;
  /** xmllint's complaints, empty when valid */
  errors: string;
  /** out-of-schema MONITORING keys removed before validation (see file comment) */
  removedMonitoringKeys: string[];
}

const SCHEMA_FOR_ROOT: Record<string, string> = {
  VM: 'vm.xsd',
  VM_POOL: 'vm_pool_extended.xsd',
  HOST: 'host.xsd',
  HOST_POOL: 'host_pool.xsd',
  MONITORING_DATA: 'monitoring_data.xsd',
  VM_GROUP_POOL: 'vm_group_pool.xsd',
};

const declaredCache = new Map<string, Set<string>>();
/** The children the official schema declares for a MONITORING element (read from the XSD itself). */
export function declaredMonitoringChildren(xsd: string, owner: string): Set<string> {
  const key = `${xsd}:${owner}`;
  let names = declaredCache.get(key);
  if (!names) {
    const el = (name: string) => `*[local-name()='element'][@name='${name}']`;
    const xpath = `//${el(owner)}//${el('MONITORING')}/*[local-name()='complexType']/*[local-name()='sequence']/*[local-name()='element']/@name`;
    const output = execFileSync('xmllint', ['--xpath', xpath, ONED_XSD_DIR + xsd], { encoding: 'utf8' });
    names = new Set([...output.matchAll(/name="([^"]+)"/g)].map((m) => m[1]!));
    declaredCache.set(key, names);
  }
  return names;
}

export function xmllintAvailable(): boolean {
  try {
    execFileSync('xmllint', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Validates one oned document (VM, VM_POOL, HOST, HOST_POOL, MONITORING_DATA) with `xmllint --schema`. */
/** `schema`: the XSD to check against when the root does not tell (one.vmpool.info's short VM_POOL: vm_pool.xsd). */
export function validateOneDocument(xml: string, extraMonitoringKeys: ReadonlySet<string> = new Set(), schemaFile?: string): SchemaCheck {
  const root = stripWhitespace(parseXmlDocument(xml));
  const schema = schemaFile ?? SCHEMA_FOR_ROOT[root.name];
  if (!schema) return { valid: false, schema: '?', errors: `no schema for <${root.name}>`, removedMonitoringKeys: [] };

  const removed = new Set<string>();
  const strip = (monitoring: XmlElement | undefined, declared: Set<string>) => {
    if (!monitoring) return;
    monitoring.children = childElements(monitoring).filter((child) => {
      const removable = !declared.has(child.name) && (OUT_OF_SCHEMA_MONITORING_KEYS.has(child.name) || extraMonitoringKeys.has(child.name));
      if (removable) removed.add(child.name);
      return !removable;
    });
  };
  if (root.name === 'VM' || root.name === 'VM_POOL') {
    const declared = declaredMonitoringChildren('vm.xsd', 'VM');
    for (const vm of root.name === 'VM' ? [root] : childrenNamed(root, 'VM')) strip(findChild(vm, 'MONITORING'), declared);
  }
  if (root.name === 'MONITORING_DATA') {
    const declared = declaredMonitoringChildren('monitoring_data.xsd', 'MONITORING_DATA');
    for (const record of childrenNamed(root, 'MONITORING')) strip(record, declared);
  }

  // oned writes no namespace; the schemas target http://opennebula.org/XMLSchema.
  const namespaced = serializeXmlElement(root).replace(/^<([A-Z_]+)/, '<$1 xmlns="http://opennebula.org/XMLSchema"');
  try {
    execFileSync('xmllint', ['--noout', '--schema', ONED_XSD_DIR + schema, '-'], { input: namespaced, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    return { valid: true, schema, errors: '', removedMonitoringKeys: [...removed].sort() };
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? error);
    return { valid: false, schema, errors: stderr.trim(), removedMonitoringKeys: [...removed].sort() };
  }
}

// ------------------------------------------------------------ the simulator

export interface RecordedCall {
  method: string;
  /** parameters after the session string */
  params: XmlRpcValue[];
  session: XmlRpcValue | undefined;
}

export interface ServedDocument {
  method: string;
  xml: string;
}

export interface InjectedFailure {
  code: OnedErrorCodeName;
  /** without the `[method] ` prefix oned adds */
  message?: string;
}

export interface OnedSimulatorOptions {
  vmFixtures?: string[];
  hostFixtures?: string[];
  session?: string;
  /** validate every served document with xmllint; a violation is recorded and the call fails with INTERNAL */
  strictSchemas?: boolean;
  /** monitoring keys a test adds beyond OUT_OF_SCHEMA_MONITORING_KEYS */
  extraMonitoringKeys?: Iterable<string>;
  /** seconds since the epoch; default: the real clock */
  now?: () => number;
  version?: string;
  /**
   * Runs the migration for real (e.g. the built VMM `migrate` action between
   * two libvirt hosts) before the simulator moves the VM; a rejection fails the
   * call with ACTION and the VM stays RUNNING on the source.
   */
  onMigrate?: (vmId: number, fromHostId: number, toHostId: number, live: boolean) => Promise<void>;
  /** 'instant' (default): a migration completes inside the call; 'oned': as oned does, driven by `migrationStep` */
  migrations?: 'instant' | 'oned';
  /**
   * Host names to serve instead of the fixtures' (whole-text NAME/HOSTNAME
   * values, in hosts and in VM histories): real-guest tests name the hosts of
   * whichever harness set they run on.
   */
  hostNames?: Readonly<Record<string, string>>;
}

/** A VM group as `onevmgroup create` takes it: roles, and AFFINED / ANTI_AFFINED rules between roles (by name). */
export interface VmGroupSpec {
  id: number;
  name: string;
  roles: { name: string; policy?: 'AFFINED' | 'ANTI_AFFINED' | 'NONE'; vms?: number[]; hostAffined?: number[]; hostAntiAffined?: number[] }[];
  affined?: string[][];
  antiAffined?: string[][];
}

export interface HostCapacityUpdate {
  freeMemoryKiB?: number;
  usedMemoryKiB?: number;
  freeCpu?: number;
  usedCpu?: number;
}

class OnedFailure extends Error {
  constructor(
    readonly code: OnedErrorCodeName,
    message: string,
  ) {
    super(message);
  }
}
class ParamFault extends Error {}

type ParamType = 's' | 'i' | 'b';
/** Required and optional parameter types after the session, from oned's RequestManager signatures. */
const SIGNATURES: Record<string, { required: ParamType[]; optional: ParamType[] }> = {
  'one.system.version': { required: [], optional: [] },
  'one.vmpool.infoextended': { required: ['i', 'i', 'i', 'i'], optional: ['s'] },
  'one.vmpool.info': { required: ['i', 'i', 'i', 'i'], optional: ['s'] },
  'one.vmpool.monitoring': { required: ['i'], optional: ['i'] },
  'one.hostpool.info': { required: [], optional: [] },
  'one.vmgrouppool.info': { required: ['i', 'i', 'i'], optional: [] },
  'one.host.info': { required: ['i'], optional: ['b'] },
  'one.vm.info': { required: ['i'], optional: ['b'] },
  'one.vm.migrate': { required: ['i', 'i', 'b'], optional: ['b', 'i', 'i'] },
  'one.vm.update': { required: ['i', 's', 'i'], optional: [] },
  'one.host.update': { required: ['i', 's', 'i'], optional: [] },
  'one.vm.resize': { required: ['i', 's'], optional: ['b'] },
};

const VM_DONE = 6;
const VM_ACTIVE = 3;
const VM_POWEROFF = 8;
const VM_SUSPENDED = 5;
const LCM_RUNNING = 3;
const LCM_MIGRATE = 4;
const LCM_UNKNOWN = 16;
const LIVE_MIGRATE_ACTION = 2;
const MIGRATE_ACTION = 1;

export class OnedSimulator {
  readonly calls: RecordedCall[] = [];
  readonly served: ServedDocument[] = [];
  readonly schemaViolations: { method: string; check: SchemaCheck }[] = [];
  private readonly vms = new Map<number, XmlElement>();
  private readonly hosts = new Map<number, XmlElement>();
  private readonly vmGroups = new Map<number, XmlElement>();
  /** per VM, every monitoring record in order; the last equals VM/MONITORING */
  private readonly monitoringHistory = new Map<number, XmlElement[]>();
  private readonly failures = new Map<string, InjectedFailure[]>();
  private readonly session: string;
  private readonly now: () => number;
  private readonly extraMonitoringKeys: Set<string>;
  private server: Server | undefined;
  url = '';

  constructor(private readonly options: OnedSimulatorOptions = {}) {
    this.session = options.session ?? DEFAULT_SESSION;
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.extraMonitoringKeys = new Set(options.extraMonitoringKeys ?? []);
    for (const file of options.hostFixtures ?? DEFAULT_HOST_FIXTURES) {
      const host = renameHosts(loadFixture(file), options.hostNames ?? {});
      this.hosts.set(intAt(host, 'ID'), host);
    }
    for (const file of options.vmFixtures ?? DEFAULT_VM_FIXTURES) {
      const vm = renameHosts(loadFixture(file), options.hostNames ?? {});
      const id = intAt(vm, 'ID');
      this.vms.set(id, vm);
      const monitoring = at(vm, 'MONITORING');
      this.monitoringHistory.set(id, childElements(monitoring).length > 0 ? [clone(monitoring)] : []);
    }
  }

  async listen(): Promise<this> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (request.method !== 'POST') {
          response.writeHead(405, { Allow: 'POST' }).end();
          return;
        }
        void Promise.resolve(this.handle(Buffer.concat(chunks).toString('utf8'))).then((reply) =>
          response.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8' }).end(reply),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/RPC2`;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  }

  // ---------------------------------------------------------- test controls

  /** The next call of `method` fails with this oned error (queued; one per call). */
  failNext(method: string, failure: InjectedFailure): void {
    const queue = this.failures.get(method) ?? [];
    queue.push(failure);
    this.failures.set(method, queue);
  }

  /** A new monitoring record for a VM, merged into its previous one like monitord does. */
  setVmMonitoring(vmId: number, values: Readonly<Record<string, string | number>>, timestamp = this.now()): void {
    const vm = this.vm(vmId);
    const monitoring = clone(at(vm, 'MONITORING'));
    for (const [key, value] of Object.entries(values)) setLeaf(monitoring, key, value);
    setLeaf(monitoring, 'ID', vmId);
    setLeaf(monitoring, 'TIMESTAMP', timestamp);
    this.replaceChild(vm, monitoring);
    this.monitoringHistory.get(vmId)!.push(clone(monitoring));
    setLeaf(vm, 'LAST_POLL', timestamp);
  }

  setHostCapacity(hostId: number, capacity: HostCapacityUpdate, timestamp = this.now()): void {
    const monitoring = at(this.host(hostId), 'MONITORING');
    setLeaf(monitoring, 'TIMESTAMP', timestamp);
    const target = findChild(monitoring, 'CAPACITY') ?? element('CAPACITY');
    if (!findChild(monitoring, 'CAPACITY')) monitoring.children.splice(2, 0, target);
    const fields: [keyof HostCapacityUpdate, string][] = [
      ['freeCpu', 'FREE_CPU'],
      ['freeMemoryKiB', 'FREE_MEMORY'],
      ['usedCpu', 'USED_CPU'],
      ['usedMemoryKiB', 'USED_MEMORY'],
    ];
    for (const [field, name] of fields) if (capacity[field] !== undefined) setLeaf(target, name, capacity[field]!);
  }

  /** Host TEMPLATE keys (what a SYSTEM_HOST report merges in: TOTALMEMORY, PACKEDMEMORY…). */
  setHostTemplate(hostId: number, values: Readonly<Record<string, string | number>>): void {
    const template = at(this.host(hostId), 'TEMPLATE');
    for (const [key, value] of Object.entries(values)) setLeaf(template, key, value);
  }

  /**
   * A VM group, written as oned's VMGroup::to_xml writes it: ROLE children in
   * the XSD's order, VMS and host lists comma-separated, inter-role rules as
   * TEMPLATE/AFFINED and TEMPLATE/ANTI_AFFINED ("role1,role2", one per rule).
   */
  addVmGroup(spec: VmGroupSpec): void {
    const roles = element('ROLES');
    spec.roles.forEach((role, id) => {
      const node = element('ROLE');
      if (role.hostAffined) node.children.push(element('HOST_AFFINED', role.hostAffined.join(',')));
      if (role.hostAntiAffined) node.children.push(element('HOST_ANTI_AFFINED', role.hostAntiAffined.join(',')));
      node.children.push(element('ID', String(id)), element('NAME', role.name), element('POLICY', role.policy ?? 'NONE'));
      if (role.vms && role.vms.length > 0) node.children.push(element('VMS', role.vms.join(',')));
      roles.children.push(node);
    });
    const template = element('TEMPLATE');
    for (const rule of spec.affined ?? []) template.children.push(element('AFFINED', rule.join(',')));
    for (const rule of spec.antiAffined ?? []) template.children.push(element('ANTI_AFFINED', rule.join(',')));
    const permissions = element('PERMISSIONS');
    for (const name of ['OWNER_U', 'OWNER_M', 'OWNER_A', 'GROUP_U', 'GROUP_M', 'GROUP_A', 'OTHER_U', 'OTHER_M', 'OTHER_A']) permissions.children.push(element(name, name.startsWith('OWNER') && name !== 'OWNER_A' ? '1' : '0'));
    const group: XmlElement = {
      name: 'VM_GROUP',
      children: [element('ID', String(spec.id)), element('UID', '0'), element('GID', '0'), element('UNAME', 'oneadmin'), element('GNAME', 'oneadmin'), element('NAME', spec.name), permissions, roles, template],
    };
    this.vmGroups.set(spec.id, group);
  }

  vmXml(id: number): string {
    return serializeXmlElement(this.vm(id));
  }
  hostXml(id: number): string {
    return serializeXmlElement(this.host(id));
  }
  callsTo(method: string): RecordedCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  // ---------------------------------------------------------- dispatch

  private vm(id: number): XmlElement {
    const vm = this.vms.get(id);
    if (!vm || intAt(vm, 'STATE') === VM_DONE) throw new OnedFailure('NO_EXISTS', `Error getting virtual machine [${id}].`);
    return vm;
  }
  private host(id: number): XmlElement {
    const host = this.hosts.get(id);
    if (!host) throw new OnedFailure('NO_EXISTS', `Error getting host [${id}].`);
    return host;
  }
  private replaceChild(parent: XmlElement, replacement: XmlElement): void {
    const index = parent.children.findIndex((c) => typeof c !== 'string' && c.name === replacement.name);
    if (index < 0) insertSorted(parent, replacement);
    else parent.children[index] = replacement;
  }

  /** The response document for one request body (a promise only for a migration through `onMigrate`). */
  handle(body: string): string | Promise<string> {
    // A simulator bug: answer with a fault so the test sees it instead of a hung socket.
    const bug = (error: unknown) => serializeFault(-500, `simulator error: ${(error as Error).stack ?? String(error)}`);
    try {
      const reply = this.handleCall(body);
      return typeof reply === 'string' ? reply : reply.catch(bug);
    } catch (error) {
      return bug(error);
    }
  }

  private handleCall(body: string): string | Promise<string> {
    let call;
    try {
      call = parseMethodCall(body);
    } catch (error) {
      return serializeFault(-503, `Call XML not a proper XML-RPC call.  ${(error as Error).message}`);
    }
    const [session, ...params] = call.params;
    this.calls.push({ method: call.method, params, session });

    const signature = SIGNATURES[call.method];
    if (!signature) return serializeFault(-506, `Method '${call.method}' not defined`);
    try {
      checkParams(call.method, call.params, signature);
    } catch (error) {
      return serializeFault(-501, (error as Error).message);
    }
    const fail = (code: OnedErrorCodeName, message: string) =>
      // resp_id −1 and the replication index as <i8>, as oned's failure_response writes them.
      serializeMethodResponse([false, `[${call.method}] ${message}`, ONED_ERROR_CODES[code], -1, new XmlRpcI8(0)]);

    if (session !== this.session) return fail('AUTHENTICATION', "User couldn't be authenticated, aborting call.");
    const injected = this.failures.get(call.method)?.shift();
    if (injected) return fail(injected.code, injected.message ?? `Injected ${injected.code} failure.`);
    const failed = (error: unknown) => {
      if (error instanceof OnedFailure) return fail(error.code, error.message);
      throw error;
    };
    try {
      if (call.method === 'one.vm.migrate' && this.options.onMigrate) {
        const [id, hostId, live] = params as [number, number, boolean];
        return this.migrateThroughHook(this.options.onMigrate, id, hostId, live, (params[3] as boolean | undefined) ?? false).then(
          (result) => serializeMethodResponse([true, result, 0]),
          failed,
        );
      }
      const result = this.dispatch(call.method, params);
      if (typeof result === 'string' && result.startsWith('<')) this.recordDocument(call.method, result);
      return serializeMethodResponse([true, result, 0]);
    } catch (error) {
      return failed(error);
    }
  }

  /** one.vm.migrate with `onMigrate`: checks as oned does, runs the hook (LCM MIGRATE meanwhile), then moves the VM. */
  private async migrateThroughHook(
    hook: NonNullable<OnedSimulatorOptions['onMigrate']>,
    id: number,
    hostId: number,
    live: boolean,
    enforce: boolean,
  ): Promise<number> {
    const { vm, sourceId } = this.checkMigration(id, hostId, enforce);
    // the hook drives a real hypervisor: only a RUNNING VM (oned's live path), not a powered-off one's cold move
    if (intAt(vm, 'STATE') !== VM_ACTIVE || intAt(vm, 'LCM_STATE') !== LCM_RUNNING)
      throw new OnedFailure('ACTION', `Migrate action is not available for state ${leaf(vm, 'STATE')}/${leaf(vm, 'LCM_STATE')}`);
    setLeaf(vm, 'LCM_STATE', LCM_MIGRATE);
    try {
      await hook(id, sourceId, hostId, live);
    } catch (error) {
      throw new OnedFailure('ACTION', `Error migrating VM ${id} to host ${hostId}: ${(error as Error).message}`);
    } finally {
      setLeaf(vm, 'LCM_STATE', LCM_RUNNING);
    }
    return this.migrate(id, hostId, live, enforce);
  }

  private recordDocument(method: string, xml: string): void {
    this.served.push({ method, xml });
    if (!this.options.strictSchemas) return;
    const check = validateOneDocument(xml, this.extraMonitoringKeys, method === 'one.vmpool.info' ? 'vm_pool.xsd' : undefined);
    if (!check.valid) {
      this.schemaViolations.push({ method, check });
      throw new OnedFailure('INTERNAL', `simulator reply does not validate against ${check.schema}: ${check.errors}`);
    }
  }

  private dispatch(method: string, params: XmlRpcValue[]): XmlRpcEncodable {
    const int = (i: number, fallback?: number) => (params[i] === undefined ? fallback! : (params[i] as number));
    switch (method) {
      case 'one.system.version':
        return this.options.version ?? '7.4.0';
      case 'one.vmpool.infoextended':
        return this.vmPool(int(0), int(1), int(2), int(3));
      case 'one.vmpool.info':
        return this.vmPool(int(0), int(1), int(2), int(3), shortVm);
      case 'one.vmpool.monitoring':
        return this.vmPoolMonitoring(int(1, -1));
      case 'one.hostpool.info':
        return `<HOST_POOL>${[...this.hosts.keys()].sort((a, b) => a - b).map((id) => this.hostXml(id)).join('')}</HOST_POOL>`;
      case 'one.vmgrouppool.info':
        return `<VM_GROUP_POOL>${[...this.vmGroups.keys()].sort((a, b) => a - b).map((id) => serializeXmlElement(this.vmGroups.get(id)!)).join('')}</VM_GROUP_POOL>`;
      case 'one.host.info':
        return serializeXmlElement(this.host(int(0)));
      case 'one.vm.info':
        return serializeXmlElement(this.vm(int(0)));
      case 'one.vm.migrate':
        return this.migrate(int(0), int(1), params[2] as boolean, (params[3] as boolean | undefined) ?? false);
      case 'one.vm.update':
        return this.update(int(0), params[1] as string, int(2));
      case 'one.host.update':
        return this.hostUpdate(int(0), params[1] as string, int(2));
      case 'one.vm.resize':
        return this.resize(int(0), params[1] as string, (params[2] as boolean | undefined) ?? true);
      default:
        throw new Error(`simulator: no handler for ${method}`);
    }
  }

  private vmPool(_filter: number, start: number, end: number, state: number, body: (vm: XmlElement) => XmlElement = (vm) => vm): string {
    // The simulator's only user is oneadmin, so every filter sees every VM.
    let vms = [...this.vms.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, vm]) => vm)
      .filter((vm) => (state === -2 ? true : state === -1 ? intAt(vm, 'STATE') !== VM_DONE : intAt(vm, 'STATE') === state));
    if (end < -1) vms = vms.slice(Math.max(start, 0), Math.max(start, 0) - end); // LIMIT start, -end
    else if (start >= 0 || end >= 0) vms = vms.filter((vm) => (start < 0 || intAt(vm, 'ID') >= start) && (end < 0 || intAt(vm, 'ID') <= end));
    return `<VM_POOL>${vms.map((vm) => serializeXmlElement(body(vm))).join('')}</VM_POOL>`;
  }

  private vmPoolMonitoring(seconds: number): string {
    const records: XmlElement[] = [];
    for (const id of [...this.monitoringHistory.keys()].sort((a, b) => a - b)) {
      if (intAt(this.vms.get(id)!, 'STATE') === VM_DONE) continue;
      const history = this.monitoringHistory.get(id)!;
      if (seconds === 0) records.push(...history.slice(-1));
      else if (seconds < 0) records.push(...history);
      else records.push(...history.filter((record) => intAt(record, 'TIMESTAMP') >= this.now() - seconds));
    }
    return `<MONITORING_DATA>${records.map(serializeXmlElement).join('')}</MONITORING_DATA>`;
  }

  /** oned's checks before a migration; throws its failure. */
  private checkMigration(id: number, hostId: number, enforce: boolean) {
    const vm = this.vm(id);
    const destination = this.host(hostId);
    const state = intAt(vm, 'STATE');
    const lcm = intAt(vm, 'LCM_STATE');
    const migratable = (state === VM_ACTIVE && (lcm === LCM_RUNNING || lcm === LCM_UNKNOWN)) || state === VM_POWEROFF || state === VM_SUSPENDED;
    if (!migratable) throw new OnedFailure('ACTION', `Migrate action is not available for state ${state}/${lcm}`);
    const records = childrenNamed(at(vm, 'HISTORY_RECORDS'), 'HISTORY');
    const last = records[records.length - 1];
    if (!last) throw new OnedFailure('ACTION', `VM [${id}] is not deployed on any host.`);
    const sourceId = intAt(last, 'HID');
    if (sourceId === hostId) throw new OnedFailure('ACTION', `VM is already running on host [${hostId}] and datastore [${leaf(last, 'DS_ID')}]`);

    const memoryKiB = intAt(vm, 'TEMPLATE/MEMORY') * 1024;
    const cpu = Math.round(Number(leaf(vm, 'TEMPLATE/CPU')) * 100);
    if (enforce) {
      const freeMem = intAt(destination, 'HOST_SHARE/MAX_MEM') - intAt(destination, 'HOST_SHARE/MEM_USAGE');
      const freeCpu = intAt(destination, 'HOST_SHARE/MAX_CPU') - intAt(destination, 'HOST_SHARE/CPU_USAGE');
      if (freeMem < memoryKiB) {
        throw new OnedFailure('ACTION', `Host ${hostId} does not have enough capacity: Not enough memory: requested ${memoryKiB} KB, available ${freeMem} KB`);
      }
      if (freeCpu < cpu) throw new OnedFailure('ACTION', `Host ${hostId} does not have enough capacity: Not enough CPU: requested ${cpu}, available ${freeCpu}`);
    }
    return { vm, destination, lcm, last, sourceId, memoryKiB, cpu };
  }

  /** live migrations accepted in `migrations: 'oned'` mode and not yet ended, by VM */
  private readonly inFlight = new Map<number, { sourceId: number; hostId: number }>();

  /** Drives a live migration accepted in `migrations: 'oned'` mode (see the file comment). */
  migrationStep(id: number, step: 'migrate' | 'success' | { fail: string }): void {
    const flight = this.inFlight.get(id);
    if (!flight) throw new Error(`simulator: VM ${id} has no live migration in flight`);
    const vm = this.vm(id);
    const records = childrenNamed(at(vm, 'HISTORY_RECORDS'), 'HISTORY');
    const [previous, last] = [records[records.length - 2]!, records[records.length - 1]!];
    const now = this.now();
    if (step === 'migrate') {
      setLeaf(vm, 'LCM_STATE', LCM_MIGRATE);
      setLeaf(last, 'STIME', now);
      return;
    }
    this.inFlight.delete(id);
    setLeaf(vm, 'LCM_STATE', LCM_RUNNING);
    setLeaf(previous, 'ETIME', now);
    setLeaf(previous, 'RETIME', now);
    if (step === 'success') {
      setLeaf(last, 'RSTIME', now);
      const memoryKiB = intAt(vm, 'TEMPLATE/MEMORY') * 1024;
      const cpu = Math.round(Number(leaf(vm, 'TEMPLATE/CPU')) * 100);
      const source = this.hosts.get(flight.sourceId);
      if (source) this.moveShare(source, -memoryKiB, -cpu, id);
      this.moveShare(this.host(flight.hostId), memoryKiB, cpu, id);
      return;
    }
    setLeaf(last, 'ETIME', now);
    this.pushHistory(vm, previous, now);
    setLeaf(at(vm, 'USER_TEMPLATE'), 'ERROR', `Error live migrating VM: ${step.fail}`);
  }

  private migrate(id: number, hostId: number, live: boolean, enforce: boolean): number {
    const { vm, destination, lcm, last, sourceId, memoryKiB, cpu } = this.checkMigration(id, hostId, enforce);
    const now = this.now();
    if (this.options.migrations === 'oned' && live && lcm === LCM_RUNNING) {
      if (this.inFlight.has(id)) throw new OnedFailure('ACTION', `Migrate action is not available for state ${VM_ACTIVE}/${LCM_MIGRATE}`);
      setLeaf(last, 'ACTION', LIVE_MIGRATE_ACTION);
      this.pushHistory(vm, last, 0, { hostId, host: destination });
      this.inFlight.set(id, { sourceId, hostId });
      return id;
    }
    setLeaf(last, 'ETIME', now);
    setLeaf(last, 'RETIME', now);
    setLeaf(last, 'ACTION', live && lcm === LCM_RUNNING ? LIVE_MIGRATE_ACTION : MIGRATE_ACTION);
    this.pushHistory(vm, last, now, { hostId, host: destination });

    const source = this.hosts.get(sourceId);
    if (source) this.moveShare(source, -memoryKiB, -cpu, id);
    this.moveShare(destination, memoryKiB, cpu, id);
    return id;
  }

  /**
   * Opens the VM's next HISTORY record (SEQ one past the last), as oned's
   * cp_history / cp_previous_history do: a copy of `from`, moved to `to` when
   * given (its host name, ID, cluster and VM_MAD), with STIME and RSTIME =
   * `startedAt` (0 while a live migration has not started) and every end time
   * and ACTION 0.
   */
  private pushHistory(vm: XmlElement, from: XmlElement, startedAt: number, to?: { hostId: number; host: XmlElement }): void {
    const records = at(vm, 'HISTORY_RECORDS');
    const last = childrenNamed(records, 'HISTORY').at(-1)!;
    const next = clone(from);
    const set = (name: string, value: string | number) => (findChild(next, name)!.children = [String(value)]);
    set('SEQ', intAt(last, 'SEQ') + 1);
    if (to) {
      set('HOSTNAME', leaf(to.host, 'NAME'));
      set('HID', to.hostId);
      set('CID', leaf(to.host, 'CLUSTER_ID'));
      set('VM_MAD', leaf(to.host, 'VM_MAD'));
    }
    for (const name of ['STIME', 'RSTIME']) set(name, startedAt);
    for (const name of ['ETIME', 'PSTIME', 'PETIME', 'RETIME', 'ESTIME', 'EETIME', 'ACTION']) set(name, 0);
    records.children.push(next);
  }

  private moveShare(host: XmlElement, memoryKiB: number, cpu: number, vmId: number): void {
    const share = at(host, 'HOST_SHARE');
    setLeaf(share, 'MEM_USAGE', intAt(share, 'MEM_USAGE') + memoryKiB);
    setLeaf(share, 'CPU_USAGE', intAt(share, 'CPU_USAGE') + cpu);
    if (memoryKiB === 0 && cpu === 0) return;
    const vmsElement = at(host, 'VMS');
    const ids = childrenNamed(vmsElement, 'ID').map((e) => Number(textOf(e))).filter((id) => id !== vmId);
    if (memoryKiB > 0) ids.push(vmId);
    vmsElement.children = ids.sort((a, b) => a - b).map((id) => element('ID', String(id)));
    setLeaf(share, 'RUNNING_VMS', ids.length);
  }

  private update(id: number, templateText: string, type: number): number {
    this.updateTemplate(at(this.vm(id), 'USER_TEMPLATE'), templateText, type);
    return id;
  }

  /** one.host.update: the TEMPLATE, then MAX_MEM from RESERVED_MEM (Host::post_update_template). */
  private hostUpdate(id: number, templateText: string, type: number): number {
    const host = this.host(id);
    this.updateTemplate(at(host, 'TEMPLATE'), templateText, type);
    const share = at(host, 'HOST_SHARE');
    const total = intAt(share, 'TOTAL_MEM');
    const reserved = findChild(at(host, 'TEMPLATE'), 'RESERVED_MEM');
    const text = reserved ? textOf(reserved).trim() : '';
    const percent = /^(-?\d+(?:\.\d+)?)\s*%$/.exec(text);
    const reservedKiB = text === '' ? 0 : percent ? Math.round((Number(percent[1]) / 100) * total) : Number(text);
    if (!Number.isFinite(reservedKiB)) throw new OnedFailure('INTERNAL', `Error parsing RESERVED_MEM '${text}'`);
    setLeaf(share, 'MAX_MEM', Math.round(total - reservedKiB));
    return id;
  }

  private updateTemplate(userTemplate: XmlElement, templateText: string, type: number): void {
    if (type !== 0 && type !== 1) throw new OnedFailure('XML_RPC_API', `Wrong update type ${type}`);
    let attributes;
    try {
      attributes = parseTemplate(templateText);
    } catch (error) {
      throw new OnedFailure('INTERNAL', `Error parsing template: ${(error as Error).message}`);
    }
    if (type === 0) userTemplate.children = [];
    for (const { key, value } of attributes) {
      if (typeof value === 'string') {
        setLeaf(userTemplate, key, value);
      } else {
        const vector = element(key);
        for (const [name, text] of Object.entries(value)) setLeaf(vector, name, text);
        this.replaceChild(userTemplate, vector);
      }
    }
  }

  private resize(id: number, templateText: string, enforce: boolean): number {
    const vm = this.vm(id);
    const requested = new Map(parseTemplate(templateText).flatMap(({ key, value }) => (typeof value === 'string' ? [[key, value] as const] : [])));
    const state = intAt(vm, 'STATE');
    const lcm = intAt(vm, 'LCM_STATE');
    const running = state === VM_ACTIVE && lcm === LCM_RUNNING;
    if (!running && state !== VM_POWEROFF && state !== 9 && state !== 2 && state !== 1) {
      throw new OnedFailure('ACTION', `Resize action is not available for state ${state}/${lcm}`);
    }
    const memoryText = requested.get('MEMORY');
    if (memoryText === undefined) return id;
    const memoryMiB = Number(memoryText);
    if (!Number.isInteger(memoryMiB) || memoryMiB <= 0) throw new OnedFailure('ACTION', `MEMORY attribute must be a positive integer value`);

    const template = at(vm, 'TEMPLATE');
    const oldMiB = intAt(vm, 'TEMPLATE/MEMORY');
    const records = childrenNamed(at(vm, 'HISTORY_RECORDS'), 'HISTORY');
    const host = records.length > 0 ? this.hosts.get(intAt(records[records.length - 1]!, 'HID')) : undefined;
    const deltaKiB = (memoryMiB - oldMiB) * 1024;
    if (enforce && host && deltaKiB > 0) {
      const free = intAt(host, 'HOST_SHARE/MAX_MEM') - intAt(host, 'HOST_SHARE/MEM_USAGE');
      if (free < deltaKiB) throw new OnedFailure('ACTION', `Host ${leaf(host, 'ID')} does not have enough capacity: Not enough memory: requested ${deltaKiB} KB, available ${free} KB`);
    }
    // oned accepts the call, then the driver runs (PROTOCOL.md §2.5): libvirt refuses
    // to balloon above <memory> (= MEMORY_MAX), and oned restores the old values.
    const maxText = findChild(template, 'MEMORY_MAX');
    const mode = findChild(template, 'MEMORY_RESIZE_MODE');
    const ballooning = !mode || textOf(mode).trim() !== 'HOTPLUG';
    if (running && ballooning && maxText && memoryMiB > Number(textOf(maxText))) {
      setLeaf(at(vm, 'USER_TEMPLATE'), 'ERROR', `Error resizing VM: virsh setmem: cannot set memory higher than max memory (${memoryMiB} MiB > MEMORY_MAX ${textOf(maxText)} MiB)`);
      return id;
    }
    setLeaf(template, 'MEMORY', memoryMiB);
    if (host) this.moveShare(host, deltaKiB, 0, id);
    return id;
  }
}

/**
 * `one.vmpool.info`'s body of a VM: VirtualMachine::to_xml_short (src/vm/VirtualMachine.cc,
 * 7.4), projected from the full body. Of DISK/NIC and USER_TEMPLATE it keeps the
 * keys oned keeps (VirtualMachineDisk/Nic::to_xml_short, VirtualMachineTemplate::to_xml_short);
 * NIC's conditional keys are kept as they are.
 */
function shortVm(vm: XmlElement): XmlElement {
  // in oned's order of writing them, not the full body's
  const pick = (from: XmlElement | undefined, names: readonly string[]) => (from ? names.flatMap((name) => childrenNamed(from, name).map(clone)) : []);
  const named = (name: string, children: XmlElement[]): XmlElement => ({ name, children });
  const template = findChild(vm, 'TEMPLATE');
  const scalar = (name: string) => element(name, template && findChild(template, name) ? textOf(findChild(template, name)!) : '');
  const history = findChild(vm, 'HISTORY_RECORDS');
  const last = history ? childrenNamed(history, 'HISTORY').at(-1) : undefined;
  const monitoring = findChild(vm, 'MONITORING');
  const monitored = pick(monitoring, ['CPU', 'MEMORY', 'STATE']);
  return named('VM', [
    ...pick(vm, ['ID', 'UID', 'GID', 'UNAME', 'GNAME', 'NAME', 'LAST_POLL', 'STATE', 'LCM_STATE', 'RESCHED', 'STIME', 'ETIME', 'DEPLOY_ID', 'LOCK']),
    named('TEMPLATE', [
      scalar('CPU'),
      scalar('MEMORY'),
      scalar('VCPU'),
      ...(template ? childrenNamed(template, 'DISK').map((d) => named('DISK', pick(d, SHORT_DISK_KEYS))) : []),
      ...(template ? childrenNamed(template, 'NIC').map((n) => named('NIC', pick(n, SHORT_NIC_KEYS))) : []),
      ...pick(template, ['GRAPHICS']),
    ]),
    named('MONITORING', monitored),
    named('USER_TEMPLATE', pick(findChild(vm, 'USER_TEMPLATE'), SHORT_USER_TEMPLATE_KEYS)),
    named('HISTORY_RECORDS', last ? [named('HISTORY', pick(last, ['OID', 'SEQ', 'HOSTNAME', 'HID', 'CID', 'DS_ID', 'VM_MAD', 'TM_MAD', 'ACTION']))] : []),
  ]);
}
const SHORT_DISK_KEYS = ['DISK_ID', 'DATASTORE', 'DATASTORE_ID', 'IMAGE', 'IMAGE_ID', 'SIZE', 'TYPE', 'CLONE', 'CLONE_TARGET', 'LN_TARGET', 'DISK_SNAPSHOT_TOTAL_SIZE'];
const SHORT_NIC_KEYS = ['IP', 'EXTERNAL_IP', 'IP6', 'IP6_ULA', 'IP6_LINK', 'IP6_GLOBAL', 'MAC', 'NETWORK', 'NETWORK_ID', 'NIC_ID', 'SECURITY_GROUPS', 'NETWORK_MODE', 'SCHED_REQUIREMENTS', 'SCHED_RANK'];
const SHORT_USER_TEMPLATE_KEYS = ['LABELS', 'ERROR', 'SCHED_MESSAGE', 'SCHED_RANK', 'SCHED_DS_RANK', 'SCHED_REQUIREMENTS', 'SCHED_DS_REQUIREMENTS', 'USER_PRIORITY', 'SCHED_ACTION'];

function checkParams(method: string, params: XmlRpcValue[], signature: { required: ParamType[]; optional: ParamType[] }): void {
  const types: ParamType[] = ['s', ...signature.required, ...signature.optional];
  const minimum = 1 + signature.required.length;
  if (params.length < minimum || params.length > types.length) {
    throw new ParamFault(`${method}: expected ${minimum}..${types.length} parameters, got ${params.length}`);
  }
  params.forEach((param, index) => {
    const expected = types[index]!;
    const ok = expected === 's' ? typeof param === 'string' : expected === 'b' ? typeof param === 'boolean' : typeof param === 'number' && Number.isInteger(param);
    if (!ok) throw new ParamFault(`Type mismatch: parameter ${index} of ${method} should be ${{ s: 'string', i: 'int', b: 'boolean' }[expected]}`);
  });
}

export async function startOnedSimulator(options: OnedSimulatorOptions = {}): Promise<OnedSimulator> {
  return new OnedSimulator(options).listen();
}
