// OpenNebula VMM action `save` (see lib/vmm/actions.ts and docs/vmm.md).
import { vmmMain } from '../lib/vmm/main';

void vmmMain('save');
