// What both features read the same way from oned's VMs and hosts: which hosts
// may receive VMs and which VMs the operator pinned. The elasticity manager's
// views (lib/oned/elasticity-ports.ts) and the planner's model
// (lib/planning/oned-gateway.ts) are both built with these, so "enabled" and
// "pinned" cannot drift apart again.
import { HostState, type OneHost, type OneVm } from './models';

/** USER_TEMPLATE key that keeps a VM where it is: no plan and no relief migration moves it. */
export const PIN_ATTRIBUTE = 'CLOUDVAMP_PINNED';

export function isPinned(vm: Pick<OneVm, 'userTemplate'>): boolean {
  return (vm.userTemplate[PIN_ATTRIBUTE] ?? '').trim().toUpperCase() === 'YES';
}

/**
 * A host receives VMs only when MONITORED. INIT is a host oned has not
 * monitored yet (just added, or oned just restarted): its capacity and free
 * memory are unknown and its first monitoring may well fail, and oned's own
 * scheduler dispatches only to MONITORED hosts. DISABLED, OFFLINE and ERROR
 * hosts keep their VMs but receive none.
 */
export function receivesVms(host: Pick<OneHost, 'state'>): boolean {
  return host.state === HostState.MONITORED;
}
