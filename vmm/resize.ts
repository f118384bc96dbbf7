// OpenNebula VMM action `resize` (see lib/vmm/actions.ts and docs/vmm.md).
import { vmmMain } from '../lib/io/vmm-main';

void vmmMain('resize');
