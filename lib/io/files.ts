// This machine's file system for the VMM actions (lib/vmm/ops.ts VmmFiles).
import { mkdirSync, writeFileSync } from 'node:fs';
import type { VmmFiles } from '../vmm/ops';

export const localFiles: VmmFiles = {
  makeDir: (dir) => void mkdirSync(dir, { recursive: true }),
  writeText: (file, text) => writeFileSync(file, text),
};
