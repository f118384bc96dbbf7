// Cost of one live migration. Pluggable because what an operator wants to
// minimise differs (bytes on the wire, time, downtime risk); every function
// here must be non-negative, and the exact search assumes a VM's cost does not
// depend on which hosts it moves between.
import type { Host, Vm } from './model';

export type CostFunction = (vm: Vm, from: Host, to: Host) => number;

/** Default: the memory a live migration copies, one pass. */
export const memoryMoved: CostFunction = (vm) => vm.memMiB;

/**
 * Memory moved scaled by pre-copy rounds: while the first pass copies M MiB at
 * bandwidth B, the guest dirties r·M/B MiB, which the next pass copies, and so
 * on — a geometric series M / (1 − r/B). The ratio is capped because past it
 * the migration would not converge and QEMU throttles the guest instead.
 */
export function memoryMovedWithDirtyRate(bandwidthMiBps: number, maxRatio = 0.9): CostFunction {
  return (vm) => {
    const ratio = Math.min(maxRatio, Math.max(0, (vm.dirtyMiBps ?? 0) / bandwidthMiBps));
    return vm.memMiB / (1 - ratio);
  };
}
