// RESIZE (OpenNebula 6.6+ live resize): the action XML on stdin carries the new
// values in VM/TEMPLATE and the old ones in VM/TEMPLATE/RESIZE (PROTOCOL.md §2.5).
// This file turns that XML into a typed request at the edge and decides what
// to do; it performs nothing itself.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { CloudvampError, usageError } from '../errors';

export type MemoryResizeMode = 'BALLOONING' | 'HOTPLUG';

export interface ResizeRequest {
  vmId?: number;
  memoryMiB: number;
  /** MEMORY before the resize (absent in hand-made documents) */
  oldMemoryMiB?: number;
  memoryMaxMiB?: number;
  vcpu?: number;
  oldVcpu?: number;
  /** absent = BALLOONING, the code default since 6.6 */
  mode: MemoryResizeMode;
}

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: true });

function text(node: unknown): string | undefined {
  if (typeof node === 'string') return node;
  if (typeof node === 'number') return String(node);
  return undefined;
}

function positiveInt(value: string | undefined, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw usageError(`${what} '${value}' in the action XML is not a positive whole number`);
  return Number(value);
}

/** Parses the action XML (VMM_DRIVER_ACTION_DATA, or a bare VM document). One clear line on anything wrong. */
export function parseResizeAction(xml: string): ResizeRequest {
  if (xml.trim() === '') throw usageError('no action XML on stdin: resize reads the new MEMORY from VMM_DRIVER_ACTION_DATA/VM/TEMPLATE');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw usageError(`malformed action XML on stdin: ${valid.err.msg} (line ${valid.err.line})`);
  const doc = parser.parse(xml) as Record<string, unknown>;
  const data = doc['VMM_DRIVER_ACTION_DATA'] as Record<string, unknown> | undefined;
  const vm = (data ? data['VM'] : doc['VM']) as Record<string, unknown> | undefined;
  if (!vm || typeof vm !== 'object') throw usageError('action XML on stdin has no VMM_DRIVER_ACTION_DATA/VM element');
  const template = vm['TEMPLATE'] as Record<string, unknown> | undefined;
  if (!template || typeof template !== 'object') throw usageError('action XML on stdin has no VM/TEMPLATE');
  const memoryMiB = positiveInt(text(template['MEMORY']), 'VM/TEMPLATE/MEMORY');
  if (memoryMiB === undefined) throw usageError('action XML on stdin has no VM/TEMPLATE/MEMORY');
  const old = (template['RESIZE'] ?? {}) as Record<string, unknown>;
  const modeText = (text(template['MEMORY_RESIZE_MODE']) ?? 'BALLOONING').toUpperCase();
  if (modeText !== 'BALLOONING' && modeText !== 'HOTPLUG')
    throw usageError(`VM/TEMPLATE/MEMORY_RESIZE_MODE '${modeText}' is neither BALLOONING nor HOTPLUG`);
  const request: ResizeRequest = { memoryMiB, mode: modeText };
  const vmId = text(vm['ID']);
  if (vmId !== undefined && /^\d+$/.test(vmId)) request.vmId = Number(vmId);
  const put = <K extends keyof ResizeRequest>(key: K, value: ResizeRequest[K] | undefined) => {
    if (value !== undefined) request[key] = value;
  };
  put('oldMemoryMiB', positiveInt(text(old['MEMORY']), 'VM/TEMPLATE/RESIZE/MEMORY'));
  put('memoryMaxMiB', positiveInt(text(template['MEMORY_MAX']), 'VM/TEMPLATE/MEMORY_MAX'));
  put('vcpu', positiveInt(text(template['VCPU']), 'VM/TEMPLATE/VCPU'));
  put('oldVcpu', positiveInt(text(old['VCPU']), 'VM/TEMPLATE/RESIZE/VCPU'));
  return request;
}

export interface ResizePlan {
  /** balloon target in KiB, or undefined when MEMORY did not change */
  balloonKiB?: number;
  /** hand the action to the stock kvm `resize` (VCPU hot-plug, HOTPLUG memory mode) */
  delegateToStock: boolean;
  reasons: string[];
}

/**
 * What a RESIZE needs. cloudvamp handles BALLOONING memory changes itself
 * (bounded, checked settle); DIMM hot-plug and VCPU changes stay with the stock
 * kvm script, which is run afterwards with the same argv and stdin (its
 * `virsh setmem` to the size already reached is then a no-op).
 */
export function planResize(request: ResizeRequest): ResizePlan {
  const reasons: string[] = [];
  const memoryChanged = request.oldMemoryMiB === undefined || request.oldMemoryMiB !== request.memoryMiB;
  const vcpuChanged = request.vcpu !== undefined && request.oldVcpu !== undefined && request.vcpu !== request.oldVcpu;
  if (request.mode === 'HOTPLUG') {
    if (memoryChanged) reasons.push('MEMORY_RESIZE_MODE=HOTPLUG (DIMM hot-plug)');
    if (vcpuChanged) reasons.push(`VCPU ${request.oldVcpu} -> ${request.vcpu}`);
    return { delegateToStock: reasons.length > 0, reasons };
  }
  if (vcpuChanged) reasons.push(`VCPU ${request.oldVcpu} -> ${request.vcpu}`);
  const plan: ResizePlan = { delegateToStock: vcpuChanged, reasons };
  if (memoryChanged) {
    if (request.memoryMaxMiB !== undefined && request.memoryMiB > request.memoryMaxMiB)
      throw new CloudvampError('unsafe', `MEMORY ${request.memoryMiB} MiB is above MEMORY_MAX ${request.memoryMaxMiB} MiB`);
    plan.balloonKiB = request.memoryMiB * 1024;
  }
  return plan;
}
