// cloudvamp's view of oned: the few XML-RPC calls the elasticity manager and
// the planning CLI need (PROTOCOL.md §4), returning typed models.
//
// Two layers, each an interface so tests can swap them:
//   OneRpc    – one XML-RPC call, raw values (HttpOneRpc: POST to oned)
//   OneClient – typed methods; XmlRpcOneClient adds the session, checks oned's
//               `[ok, body|message, errorCode, …]` reply and parses bodies.

import { CloudvampError } from '../errors';
import { OnedError } from './errors';
import {
  parseHost,
  parseHostPool,
  parseMonitoringData,
  parseVm,
  parseVmGroupPool,
  parseVmPool,
  type OneHost,
  type OneVm,
  type OneVmGroup,
  type VmMonitoringRecord,
} from './models';
import { formatTemplate, type TemplateValue } from './template';
import { DEFAULT_TIMEOUT_MS, postXml } from './transport';
import { parseMethodResponse, serializeMethodCall, XmlRpcFault, XmlRpcFormatError, type XmlRpcEncodable, type XmlRpcValue } from './xmlrpc';

export interface OneRpc {
  call(method: string, params: readonly XmlRpcEncodable[]): Promise<XmlRpcValue>;
}

/** Pool filters (PROTOCOL.md §4). */
export const PoolFilter = { ALL: -2, MINE_AND_GROUPS: -1, MINE: -3, PRIMARY_GROUP: -4 } as const;
/** vmpool state argument: -2 any state, -1 any but DONE, or a VM STATE. */
export const PoolState = { ANY: -2, ANY_BUT_DONE: -1 } as const;

export interface VmPoolQuery {
  /** default PoolFilter.ALL: cloudvamp's user is an admin and must see every VM */
  filter?: number;
  /** default PoolState.ANY_BUT_DONE */
  state?: number;
  /**
   * Rows per request; unset = one request for the whole pool (what the CLI
   * does). oned pages with start=offset, end=−pageSize (the OCA's
   * info_paginated); at least 2, as end = −1 means "all". Worth it only for
   * pools of many thousand VMs. Not yet checked against a live oned.
   */
  pageSize?: number;
}

export interface MigrateOptions {
  /** live migration (only taken for RUNNING VMs; oned cold-migrates otherwise) */
  live: boolean;
  /** make oned check the destination's capacity (MAX_MEM − MEM_USAGE ≥ MEMORY…) */
  enforce: boolean;
}

export interface OneClient {
  /** `one.vmpool.infoextended`: full bodies, USER_TEMPLATE included (the short `one.vmpool.info` drops it since 5.8). */
  vmPoolInfoExtended(query?: VmPoolQuery): Promise<OneVm[]>;
  /**
   * `one.vmpool.info`: short bodies (VirtualMachine::to_xml_short): state, DEPLOY_ID,
   * TEMPLATE/{CPU,MEMORY,VCPU}, the last HISTORY's host, MONITORING/{CPU,MEMORY,STATE}
   * and only a few USER_TEMPLATE keys. A third of the bytes of infoextended.
   */
  vmPoolInfo(query?: Omit<VmPoolQuery, 'pageSize'>): Promise<OneVm[]>;
  /** `one.vmpool.monitoring`: seconds 0 = last record per VM, −1 = all stored, N = last N seconds. */
  vmPoolMonitoring(seconds?: number, filter?: number): Promise<VmMonitoringRecord[]>;
  /** `one.hostpool.info`: HOST_SHARE and TEMPLATE are reliable, MONITORING may be stale or empty. */
  hostPoolInfo(): Promise<OneHost[]>;
  /** `one.vmgrouppool.info(filter −2 = all, −1, −1)`: VM groups, their roles and placement rules. */
  vmGroupPoolInfo(): Promise<OneVmGroup[]>;
  /** `one.host.info`: with fresh MONITORING. */
  hostInfo(id: number): Promise<OneHost>;
  /** `one.vm.info`: with fresh MONITORING. */
  vmInfo(id: number): Promise<OneVm>;
  /** `one.vm.migrate(id, host, live, enforce, ds_id=-1, type=0)` */
  vmMigrate(id: number, hostId: number, options: MigrateOptions): Promise<void>;
  /** `one.vm.update`: writes USER_TEMPLATE; 'merge' keeps the other keys, 'replace' drops them. */
  vmUpdate(id: number, template: Readonly<Record<string, TemplateValue>>, mode: 'merge' | 'replace'): Promise<void>;
  /**
   * `one.host.update(id, template, type)`: writes the host TEMPLATE; 'merge' keeps
   * the other keys (SYSTEM_HOST's included), 'replace' drops them. oned recomputes
   * MAX_MEM = TOTAL_MEM − RESERVED_MEM from it (PROTOCOL.md §1.6.1).
   */
  hostUpdate(id: number, template: Readonly<Record<string, TemplateValue>>, mode: 'merge' | 'replace'): Promise<void>;
  /** `one.vm.resize(id, "MEMORY=…", enforce)`: live ballooning on 6.6+ (PROTOCOL.md §2.5). */
  vmResize(id: number, memoryMiB: number, options: { enforce: boolean }): Promise<void>;
  /** `one.system.version` */
  systemVersion(): Promise<string>;
}

export class HttpOneRpc implements OneRpc {
  constructor(
    private readonly endpoint: string,
    private readonly options: { timeoutMs: number } = { timeoutMs: DEFAULT_TIMEOUT_MS },
  ) {}

  async call(method: string, params: readonly XmlRpcEncodable[]): Promise<XmlRpcValue> {
    const reply = await postXml(this.endpoint, serializeMethodCall(method, params), this.options);
    try {
      return parseMethodResponse(reply);
    } catch (error) {
      if (error instanceof XmlRpcFault) {
        throw new CloudvampError(
          'oned',
          `oned rejected ${method} with XML-RPC fault ${error.faultCode}: ${error.faultString} — this oned may not support the call (cloudvamp needs 6.0+)`,
          { cause: error },
        );
      }
      if (error instanceof XmlRpcFormatError) {
        throw new CloudvampError('oned', `${this.endpoint} sent a reply to ${method} that is not XML-RPC (${error.message}) — check ONE_XMLRPC / endpoint in the config`, {
          cause: error,
        });
      }
      throw error;
    }
  }
}

export class XmlRpcOneClient implements OneClient {
  constructor(
    private readonly rpc: OneRpc,
    private readonly session: string,
  ) {}

  /** oned's reply is `[true, result, 0]` or `[false, message, errorCode, respId, replicationIdx(i8)]`. */
  private async request(method: string, params: readonly XmlRpcEncodable[]): Promise<XmlRpcValue> {
    const reply = await this.rpc.call(method, [this.session, ...params]);
    if (!Array.isArray(reply) || typeof reply[0] !== 'boolean' || reply.length < 2) {
      throw new CloudvampError('oned', `oned's reply to ${method} is not [ok, result, …] — is the endpoint really oned?`);
    }
    if (!reply[0]) {
      const code = typeof reply[2] === 'number' ? reply[2] : -1;
      throw new OnedError(method, code, String(reply[1]).trim());
    }
    return reply[1]!;
  }

  private async document(method: string, params: readonly XmlRpcEncodable[]): Promise<string> {
    const body = await this.request(method, params);
    if (typeof body !== 'string') throw new CloudvampError('oned', `oned answered ${method} with a ${typeof body} instead of an XML document`);
    return body;
  }

  async vmPoolInfoExtended(query: VmPoolQuery = {}): Promise<OneVm[]> {
    const filter = query.filter ?? PoolFilter.ALL;
    const state = query.state ?? PoolState.ANY_BUT_DONE;
    const pageSize = query.pageSize;
    if (pageSize === undefined) return parseVmPool(await this.document('one.vmpool.infoextended', [filter, -1, -1, state]));
    // end = −1 already means "to the last VM" to oned, so a page of one cannot be asked for.
    if (!Number.isInteger(pageSize) || pageSize < 2) throw new CloudvampError('usage', `pageSize must be an integer of at least 2, not ${pageSize}`);

    const byId = new Map<number, OneVm>();
    for (let offset = 0; ; offset += pageSize) {
      const page = parseVmPool(await this.document('one.vmpool.infoextended', [filter, offset, -pageSize, state]));
      const before = byId.size;
      for (const vm of page) byId.set(vm.id, vm);
      // A short page ends the pool. A longer page, or one with nothing new, means oned
      // ignored the limit and sent the whole pool: stop instead of fetching it forever.
      if (page.length !== pageSize || byId.size === before) break;
    }
    return [...byId.values()].sort((a, b) => a.id - b.id);
  }

  async vmPoolInfo(query: Omit<VmPoolQuery, 'pageSize'> = {}): Promise<OneVm[]> {
    return parseVmPool(await this.document('one.vmpool.info', [query.filter ?? PoolFilter.ALL, -1, -1, query.state ?? PoolState.ANY_BUT_DONE]));
  }

  async vmPoolMonitoring(seconds = 0, filter: number = PoolFilter.ALL): Promise<VmMonitoringRecord[]> {
    return parseMonitoringData(await this.document('one.vmpool.monitoring', [filter, seconds]));
  }

  async hostPoolInfo(): Promise<OneHost[]> {
    return parseHostPool(await this.document('one.hostpool.info', []));
  }

  async vmGroupPoolInfo(): Promise<OneVmGroup[]> {
    return parseVmGroupPool(await this.document('one.vmgrouppool.info', [-2, -1, -1]));
  }

  async hostInfo(id: number): Promise<OneHost> {
    return parseHost(await this.document('one.host.info', [checkedId(id, 'host'), false]));
  }

  async vmInfo(id: number): Promise<OneVm> {
    return parseVm(await this.document('one.vm.info', [checkedId(id, 'VM'), false]));
  }

  async vmMigrate(id: number, hostId: number, options: MigrateOptions): Promise<void> {
    // ds_id −1 keeps the system datastore; type 0 is the default cold-migration mode (save).
    await this.request('one.vm.migrate', [checkedId(id, 'VM'), checkedId(hostId, 'host'), options.live, options.enforce, -1, 0]);
  }

  async vmUpdate(id: number, template: Readonly<Record<string, TemplateValue>>, mode: 'merge' | 'replace'): Promise<void> {
    await this.request('one.vm.update', [checkedId(id, 'VM'), formatTemplate(template), mode === 'merge' ? 1 : 0]);
  }

  async hostUpdate(id: number, template: Readonly<Record<string, TemplateValue>>, mode: 'merge' | 'replace'): Promise<void> {
    await this.request('one.host.update', [checkedId(id, 'host'), formatTemplate(template), mode === 'merge' ? 1 : 0]);
  }

  async vmResize(id: number, memoryMiB: number, options: { enforce: boolean }): Promise<void> {
    if (!Number.isInteger(memoryMiB) || memoryMiB <= 0) throw new CloudvampError('usage', `VM memory must be a positive whole number of MiB, not ${memoryMiB}`);
    await this.request('one.vm.resize', [checkedId(id, 'VM'), formatTemplate({ MEMORY: memoryMiB }), options.enforce]);
  }

  async systemVersion(): Promise<string> {
    return String(await this.request('one.system.version', []));
  }
}

function checkedId(id: number, what: string): number {
  if (!Number.isInteger(id) || id < 0 || id > 2 ** 31 - 1) throw new CloudvampError('usage', `${what} id must be a non-negative integer, not ${id}`);
  return id;
}

/** The usual wiring: HTTP to the endpoint, with the session from auth.ts. */
export function createOneClient(connection: { endpoint: string; session: string }, options?: { timeoutMs: number }): OneClient {
  return new XmlRpcOneClient(new HttpOneRpc(connection.endpoint, options), connection.session);
}
