// OpenNebula VMM host-side action `ksm` (see lib/vmm/actions.ts and docs/vmm.md).
import { vmmMain } from '../lib/io/vmm-main';

void vmmMain('ksm');
