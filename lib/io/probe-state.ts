// The probes' files: /proc reads, and the previous cumulative CPU sample kept
// between probe runs. The sample lives in /var/tmp/cloudvamp, not /var/tmp/one: OpenNebula rsyncs the latter with
// --delete. Losing it only costs one run of CPU figures, so read and write
// failures are never errors.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CpuSampleStore } from '../monitor/probe';
import type { CpuSample } from '../monitor/snapshot';

export const DEFAULT_STATE_DIR = '/var/tmp/cloudvamp';

/** One file per probe kind and URI: categories run at different periods and must not share samples. */
export function stateFile(dir: string, kind: string, uri: string): string {
  const tag = createHash('sha1').update(uri).digest('hex').slice(0, 12);
  return path.join(dir, `cpu-${kind}-${tag}.json`);
}

export function parseCpuSample(text: string): CpuSample | undefined {
  try {
    const v = JSON.parse(text) as Partial<CpuSample>;
    if (typeof v.atMs !== 'number' || typeof v.domains !== 'object' || v.domains === null) return undefined;
    const node = v.node && typeof v.node.busyNs === 'number' && typeof v.node.idleNs === 'number' ? v.node : undefined;
    const domains: Record<string, number> = {};
    for (const [k, n] of Object.entries(v.domains)) if (typeof n === 'number') domains[k] = n;
    const delays: Record<string, number> = {};
    for (const [k, n] of Object.entries(v.delays ?? {})) if (typeof n === 'number') delays[k] = n;
    return { atMs: v.atMs, ...(node ? { node } : {}), domains, delays };
  } catch {
    return undefined;
  }
}

export function loadCpuSample(file: string): CpuSample | undefined {
  try {
    return parseCpuSample(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Atomic: a concurrent reader sees the old file or the new one, never half of one. */
export function saveCpuSample(file: string, sample: CpuSample): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(sample));
    renameSync(tmp, file);
  } catch {
    // next run falls back to its first-run figures
  }
}

/** The probes' CpuSampleStore: one JSON file per kind and URI under `dir`. */
export function fileCpuSampleStore(dir: string): CpuSampleStore {
  return {
    load: (kind, uri) => loadCpuSample(stateFile(dir, kind, uri)),
    save: (kind, uri, sample) => saveCpuSample(stateFile(dir, kind, uri), sample),
  };
}

/** A /proc or /sys file's text, undefined when it is absent or unreadable (the probes report what they can). */
export function readProcFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
