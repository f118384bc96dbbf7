// Small builders for the elasticity core: tests state only what matters.
import { DEFAULTS, type ElasticityConfig } from '../../../lib/elasticity/config';
import type { ClusterView, HostView, VmView } from '../../../lib/elasticity/ports';

export const MiB = 1024;
export const GiB = 1024 * 1024;

// shrinks from the first cycle: these tests are about the rule's mechanics;
// SHRINK_WARMUP has its own tests (vm-rule.test.ts)
export const config = (over: Partial<ElasticityConfig> = {}): ElasticityConfig => ({ ...DEFAULTS, shrinkWarmupMs: 0, ...over });

/** A running VM; `usedKiB` sets balloon figures (MemTotal = current, MemAvailable = current − used). */
export function vm(id: number, over: Partial<VmView> & { usedKiB?: number; originalKiB?: number } = {}): VmView {
  const { usedKiB, originalKiB, ...rest } = over;
  const templateMemoryKiB = originalKiB ?? rest.templateMemoryKiB ?? 4 * GiB;
  const currentKiB = rest.currentKiB ?? templateMemoryKiB;
  return {
    id,
    name: `vm-${id}`,
    hostId: 0,
    hostName: 'host-0',
    deployId: `one-${id}`,
    running: true,
    templateMemoryKiB,
    currentKiB,
    overrides: {},
    ...(usedKiB !== undefined ? { balloon: { availableKiB: currentKiB, usableKiB: Math.max(0, currentKiB - usedKiB) } } : {}),
    ...rest,
  };
}

export const host = (id: number, totalKiB: number, over: Partial<HostView> = {}): HostView => ({
  id,
  name: `host-${id}`,
  clusterId: 0,
  enabled: true,
  totalKiB,
  ...over,
});

export const cluster = (vms: VmView[], hosts: HostView[]): ClusterView => ({ vms, hosts });
