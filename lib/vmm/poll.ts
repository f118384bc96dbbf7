// The legacy (OpenNebula 4.x – 5.10) VMM POLL line for one VM, with CloudVAMP's
// memory keys (PROTOCOL.md §1.10, §1.11, §2.7). Pure: two stats samples in,
// one template out; the accounting is lib/memory's, shared with the probes.
import { vmMemory } from '../memory/accounting';
import type { DomainStats } from '../libvirt/types';
import { DomainState } from '../libvirt/types';
import { template, type Template } from '../monitor/template';

/**
 * Which names the front-end reads: 4.8–4.12 parse USEDMEMORY/USEDCPU (and copy
 * every other key into the VM template — so MEMORY must not be printed there);
 * 4.14–5.10 read MEMORY/CPU (VirtualMachineDriver::POLL_ATTRIBUTE).
 */
export type PollFormat = '4.8' | '4.14';

/** One-letter STATE: a active, p paused, e error, d gone. */
export function pollState(state: DomainState): 'a' | 'p' | 'e' | 'd' {
  switch (state) {
    case DomainState.Running:
    case DomainState.Blocked:
    case DomainState.NoState:
      return 'a';
    case DomainState.Paused:
    case DomainState.PmSuspended:
      return 'p';
    case DomainState.Crashed:
      return 'e';
    default:
      return 'd';
  }
}

/**
 * The POLL template of a VM from two samples `intervalMs` apart (for CPU).
 * USEDCPU is percent of one core, as the 4.x kvm poll reported it.
 */
export function pollTemplate(first: DomainStats | undefined, second: DomainStats, intervalMs: number, format: PollFormat): Template {
  const memory = vmMemory(second.balloon);
  let cpu: number | undefined;
  if (first?.cpuTimeNs !== undefined && second.cpuTimeNs !== undefined && intervalMs > 0)
    cpu = Math.max(0, ((second.cpuTimeNs - first.cpuTimeNs) / (intervalMs * 1e6)) * 100);
  const [cpuKey, memKey] = format === '4.8' ? ['USEDCPU', 'USEDMEMORY'] : ['CPU', 'MEMORY'];
  return template([
    ['STATE', pollState(second.state)],
    [cpuKey, cpu],
    [memKey, memory.known ? memory.usedKiB : undefined],
    ['NETRX', second.netRxBytes],
    ['NETTX', second.netTxBytes],
    ['MAXMEMORY', memory.known ? memory.maxKiB : undefined],
    ['REALMEMORY', memory.known ? memory.realKiB : undefined],
    ['PACKEDMEMORY', memory.known ? memory.packedKiB : undefined],
  ]);
}

/** The line for a VM the host does not have (any more): OpenNebula reads `d` as gone. */
export const GONE_TEMPLATE: Template = [['STATE', 'd']];
