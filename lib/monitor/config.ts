// The probes' config file, cloudvamp.conf: KEY=VALUE lines like kvmrc.
// Parsing is pure and collects every problem; lib/io/config-files.ts reads
// the file.
import path from 'node:path';
import { readKeyValues } from '../key-value';

export type ProbeFormat = 'modern' | 'legacy';

export interface ProbeConfig {
  /** O: share of borrowed memory added to TOTALMEMORY, in [0, 1] */
  overcommit: number;
  libvirtUri: string;
  /** what host/system prints: its SYSTEM_HOST keys, or the whole OpenNebula 4.x document */
  probeFormat: ProbeFormat;
  /** O_KSM: share of the memory KSM saves added to TOTALMEMORY, in [0, 1]; 0 (the default) offers none */
  ksmOvercommit: number;
  /** OVERCOMMIT_MAX_RATIO: TOTALMEMORY at most this × physical; 0: no ceiling */
  overcommitMaxRatio: number;
}

export const defaultProbeConfig: Readonly<ProbeConfig> = Object.freeze({
  overcommit: 1.0,
  libvirtUri: 'qemu:///system',
  probeFormat: 'modern',
  // merged pages unmerge on write (copy-on-write): opt-in only, see docs/accounting.md
  ksmOvercommit: 0,
  // bounds how many guests one host's memory serves, so how large their
  // correlated bursts can get (bench/results/density.md)
  overcommitMaxRatio: 4,
});

export interface ParsedProbeConfig {
  config: ProbeConfig;
  errors: string[];
  warnings: string[];
}

const KNOWN = ['OVERCOMMIT', 'OVERCOMMIT_MAX_RATIO', 'KSM_OVERCOMMIT', 'LIBVIRT_URI', 'PROBE_FORMAT'] as const;

/** A finite plain decimal as written in kvmrc-style files (no sign but +, no exponent, no hex); NaN otherwise. */
function decimal(value: string): number {
  const n = /^[+]?(\d+(\.\d*)?|\.\d+)$/.test(value) ? Number(value) : Number.NaN;
  return Number.isFinite(n) ? n : Number.NaN;
}

/** `file` only names the source in messages. */
export function parseProbeConfig(text: string, file = 'cloudvamp.conf'): ParsedProbeConfig {
  const config: ProbeConfig = { ...defaultProbeConfig };
  const read = readKeyValues(text);
  const errors = read.errors.map((e) => `${file}:${e.line}: ${e.message}`);
  const warnings: string[] = [];
  for (const { key, value, line } of read.entries) {
    const where = `${file}:${line}`;
    switch (key as (typeof KNOWN)[number]) {
      case 'OVERCOMMIT': {
        const n = decimal(value);
        if (!(n >= 0 && n <= 1)) {
          errors.push(
            `${where}: OVERCOMMIT='${value}' is not a number between 0 and 1; set e.g. OVERCOMMIT=1.0 (offer all borrowed memory) or OVERCOMMIT=0 (none)`,
          );
        } else config.overcommit = n;
        continue;
      }
      case 'OVERCOMMIT_MAX_RATIO': {
        const n = decimal(value);
        if (!(n === 0 || n >= 1)) {
          errors.push(
            `${where}: OVERCOMMIT_MAX_RATIO='${value}' is neither 0 nor a number of at least 1; set e.g. OVERCOMMIT_MAX_RATIO=4 (TOTALMEMORY at most 4 × the physical memory) or 0 (no ceiling)`,
          );
        } else config.overcommitMaxRatio = n;
        continue;
      }
      case 'KSM_OVERCOMMIT': {
        const n = decimal(value);
        if (!(n >= 0 && n <= 1)) {
          errors.push(
            `${where}: KSM_OVERCOMMIT='${value}' is not a number between 0 and 1; set e.g. KSM_OVERCOMMIT=0 (offer none of what KSM saves, the default) or 0.5`,
          );
        } else config.ksmOvercommit = n;
        continue;
      }
      case 'LIBVIRT_URI':
        if (value === '') errors.push(`${where}: LIBVIRT_URI is empty; set e.g. LIBVIRT_URI=qemu:///system or remove the line`);
        else config.libvirtUri = value;
        continue;
      case 'PROBE_FORMAT':
        if (value === 'modern' || value === 'legacy') config.probeFormat = value;
        else errors.push(`${where}: PROBE_FORMAT='${value}' is not 'modern' or 'legacy'; modern is for OpenNebula 5.12 and later`);
        continue;
      default:
        warnings.push(`${where}: unknown key ${key} ignored (known: ${KNOWN.join(', ')})`);
    }
  }
  return { config, errors, warnings };
}

/**
 * Where the config sits for a probe at `<remotes>/im/<dir>.d/.../probe`:
 * `<remotes>/etc/im/cloudvamp-probes.d/cloudvamp.conf` (the place OpenNebula
 * keeps per-driver IM config, synced with the remotes). Undefined when the
 * probe does not run from inside a remotes tree.
 */
export function defaultConfigPath(probePath: string): string | undefined {
  let dir = path.dirname(path.resolve(probePath));
  while (dir !== path.dirname(dir)) {
    if (path.basename(dir) === 'im') return path.join(path.dirname(dir), 'etc', 'im', 'cloudvamp-probes.d', 'cloudvamp.conf');
    dir = path.dirname(dir);
  }
  return undefined;
}
