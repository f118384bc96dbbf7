// The simulator cloud the planning tests run on: the default fixtures plus a
// third host (cloudvamp's probe, three running VMs) and a DISABLED fourth.
//   host 0 kvm-node-1  VMs 42 (running), 44 (POWEROFF)
//   host 1 kvm-node-2  VM 43
//   host 2 kvm-node-3  VMs 45, 46, 47
//   host 3 kvm-node-4  DISABLED, empty
import { DEFAULT_HOST_FIXTURES, DEFAULT_VM_FIXTURES } from '../../support/oned-server';

export const PLANNING_HOST_FIXTURES = [...DEFAULT_HOST_FIXTURES, 'host-kvm-node3-cloudvamp.xml', 'host-kvm-disabled.xml'];
export const PLANNING_VM_FIXTURES = [...DEFAULT_VM_FIXTURES, 'vm-running-node3-ballooned.xml', 'vm-running-node3-plain.xml', 'vm-running-node3-small.xml'];
