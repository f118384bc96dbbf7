// The VMM actions' configuration: a kvmrc-style file of KEY=value lines
// (`<remotes>/etc/vmm/cloudvamp/cloudvamp.conf`). The file is read as data,
// never sourced by a shell, so only plain assignments are understood:
// `KEY=value`, `export KEY=value`, single- or double-quoted values, `#` comments.
// Parsing is a pure function that collects every error and warning; the
// location logic sits at the bottom; lib/io/config-files.ts reads the file.
import path from 'node:path';
import { readKeyValues } from '../key-value';
import { MEMORY_FLOOR_KIB } from '../memory/floor';
import { hostForUri } from './actions';
import type { MigrateOptions } from '../libvirt/types';
import type { FeatureSwitch } from './domain-xml';
import type { PollFormat } from './poll';

export interface VmmConfig {
  /** local libvirt URI the actions connect to */
  libvirtUri: string;
  /** transport of the destination URI `<QEMU_PROTOCOL>://<dest_host>/system` */
  qemuProtocol: string;
  /** seconds shutdown waits for the guest to power off after the ACPI request */
  shutdownTimeoutS: number;
  /** after shutdownTimeoutS: destroy (true) or fail leaving the VM running (false) */
  forceDestroy: boolean;
  /** shutdown destroys at once a domain without <acpi/> (it would never react) */
  cancelNoAcpi: boolean;
  /** typed MIGRATE_OPTIONS + MIGRATE_BANDWIDTH + MIGRATE_LIVE */
  migrate: MigrateOptions;
  /** no resize or memory action sets the balloon below this (KiB) */
  memoryFloorKiB: number;
  /** how long a resize waits for the guest to reach the balloon target (ms) */
  balloonSettleTimeoutMs: number;
  /** legacy poll key names: 4.8 (USEDMEMORY/USEDCPU) or 4.14 (MEMORY/CPU, up to 5.10) */
  pollFormat: PollFormat;
  /** deploy: balloon statistics period in seconds (0 = leave the domain XML as oned wrote it) */
  balloonStatsPeriodS: number;
  /** deploy: deflate-on-OOM (autodeflate) */
  balloonAutodeflate: FeatureSwitch;
  /** deploy: free page reporting */
  balloonFreePageReporting: FeatureSwitch;
}

export const DEFAULT_CONFIG: VmmConfig = {
  libvirtUri: 'qemu:///system',
  qemuProtocol: 'qemu+ssh',
  // 7.4's kvmrc ships 180
  shutdownTimeoutS: 180,
  forceDestroy: true,
  cancelNoAcpi: false,
  // like the stock `virsh migrate --live` (no --p2p): this process opens the
  // destination URI itself, with the credentials of the user running the action
  migrate: { live: true, peerToPeer: false },
  // the one floor both the driver and the manager's MEM_MIN use (lib/memory/floor.ts)
  memoryFloorKiB: MEMORY_FLOOR_KIB,
  balloonSettleTimeoutMs: 10_000,
  pollFormat: '4.14',
  // OpenNebula's deployment file has no stats period, so libvirt's balloon
  // figures would stay at their boot values; 5 s keeps them fresher than any
  // manager cycle at the cost of one small virtio message per period
  balloonStatsPeriodS: 5,
  // on where supported: a guest ballooned too far takes pages back instead of
  // losing a process to the OOM killer. Its MemTotal then keeps its boot size
  // (virtio_balloon does not adjust totalram with DEFLATE_ON_OOM); the
  // elasticity manager trusts such figures once the guest's stats time
  // (BALLOON_LAST_UPDATE) is newer than the VM's last balloon change
  // (lib/elasticity/guest-figures.ts).
  balloonAutodeflate: 'auto',
  balloonFreePageReporting: 'auto',
};

export interface ConfigProblem {
  line: number;
  message: string;
}

export interface ParsedConfig {
  config: VmmConfig;
  errors: ConfigProblem[];
  warnings: ConfigProblem[];
}

/** kvmrc keys that a copied kvmrc may hold and that these actions do not use: accepted silently. */
const KVMRC_KEYS_IGNORED = new Set([
  'LIBVIRT_MD_URI',
  'LIBVIRT_MD_KEY',
  'SYNC_TIME',
  'VIRSH_RETRIES',
  'VIRSH_TIMEOUT',
  'VIRSH_TRIES',
  'CLEANUP_MEMORY_ON_START',
  'CLEANUP_MEMORY_ON_STOP',
  'OVMF_NVRAM',
  'VIRTIOFSD_BINARY_PATH',
]);

/**
 * MIGRATE_OPTIONS words (virsh migrate flags) and what they set. --live is
 * accepted so a copied kvmrc keeps working (MIGRATE_LIVE=no still wins).
 */
const MIGRATE_FLAGS: Record<string, (o: MigrateOptions) => void> = {
  '--unsafe': (o) => (o.unsafe = true),
  '--compressed': (o) => (o.compressed = true),
  '--auto-converge': (o) => (o.autoConverge = true),
  '--persistent': (o) => (o.persistent = true),
  '--undefinesource': (o) => (o.persistent = true),
  '--p2p': (o) => (o.peerToPeer = true),
  '--peer2peer': (o) => (o.peerToPeer = true),
  '--live': (o) => (o.live = true),
};
/** MIGRATE_OPTIONS words that take a value (next word or `--flag=value`). */
const MIGRATE_VALUE_FLAGS: Record<string, (o: MigrateOptions, value: string) => string | undefined> = {
  '--bandwidth': (o, v) => {
    const n = parseNonNegativeInt(v);
    if (n === undefined) return `--bandwidth needs a whole number of MiB/s, got '${v}'`;
    o.bandwidthMiBs = n;
    return undefined;
  },
  '--migrateuri': (o, v) => {
    o.migrateUri = v;
    return undefined;
  },
};

function parseNonNegativeInt(text: string): number | undefined {
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

function parseYesNo(text: string): boolean | undefined {
  const t = text.toLowerCase();
  if (['yes', 'y', 'true', '1', 'on'].includes(t)) return true;
  if (['no', 'n', 'false', '0', 'off', ''].includes(t)) return false;
  return undefined;
}

/** Parses MIGRATE_OPTIONS into `into`; returns the problems found. */
export function parseMigrateOptions(text: string, into: MigrateOptions): string[] {
  const problems: string[] = [];
  const words = text.split(/\s+/).filter(Boolean);
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const eq = word.indexOf('=');
    const flag = eq > 0 ? word.slice(0, eq) : word;
    const valued = MIGRATE_VALUE_FLAGS[flag];
    if (valued) {
      const value = eq > 0 ? word.slice(eq + 1) : words[++i];
      if (value === undefined) problems.push(`${flag} needs a value`);
      else {
        const problem = valued(into, value);
        if (problem) problems.push(problem);
      }
      continue;
    }
    const set = MIGRATE_FLAGS[word];
    if (set) set(into);
    else
      problems.push(
        `unknown migration option '${word}' (known: ${[...Object.keys(MIGRATE_FLAGS), ...Object.keys(MIGRATE_VALUE_FLAGS)].join(' ')})`,
      );
  }
  return problems;
}

/** Parses the text of a config file. Never throws; see `errors`. */
export function parseConfig(text: string): ParsedConfig {
  const config: VmmConfig = { ...DEFAULT_CONFIG, migrate: { ...DEFAULT_CONFIG.migrate } };
  const errors: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  let migrateOptionsLine = 0;
  let migrateOptions = '';
  let migrateLive: boolean | undefined;
  let bandwidth: number | undefined;

  const read = readKeyValues(text);
  errors.push(...read.errors);
  for (const { key, value, line } of read.entries) {
    const bad = (what: string) => errors.push({ line, message: `${key}='${value}' is not ${what}` });
    switch (key) {
      case 'LIBVIRT_URI':
        if (value === '') bad('a libvirt URI');
        else config.libvirtUri = value;
        break;
      case 'QEMU_PROTOCOL':
        // becomes the scheme of a URI: keep it to what a scheme may hold
        if (!/^[a-z][a-z0-9+.-]*$/.test(value)) bad('a libvirt transport such as qemu+ssh or qemu+tcp');
        else config.qemuProtocol = value;
        break;
      case 'SHUTDOWN_TIMEOUT': {
        const n = parseNonNegativeInt(value);
        if (n === undefined) bad('a whole number of seconds');
        else config.shutdownTimeoutS = n;
        break;
      }
      case 'FORCE_DESTROY':
      case 'CANCEL_NO_ACPI': {
        const b = parseYesNo(value);
        if (b === undefined) bad('yes or no');
        else if (key === 'FORCE_DESTROY') config.forceDestroy = b;
        else config.cancelNoAcpi = b;
        break;
      }
      case 'MIGRATE_OPTIONS':
        migrateOptions = value;
        migrateOptionsLine = line;
        break;
      case 'MIGRATE_BANDWIDTH': {
        const n = parseNonNegativeInt(value);
        if (n === undefined) bad('a whole number of MiB/s (0 = no limit)');
        else bandwidth = n;
        break;
      }
      case 'MIGRATE_LIVE': {
        const b = parseYesNo(value);
        if (b === undefined) bad('yes or no');
        else migrateLive = b;
        break;
      }
      case 'MEMORY_FLOOR_MIB': {
        const n = parseNonNegativeInt(value);
        if (n === undefined) bad('a whole number of MiB');
        else config.memoryFloorKiB = n * 1024;
        break;
      }
      case 'BALLOON_SETTLE_TIMEOUT': {
        const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : undefined;
        if (n === undefined || n <= 0) bad('a positive number of seconds');
        else config.balloonSettleTimeoutMs = Math.round(n * 1000);
        break;
      }
      case 'BALLOON_STATS_PERIOD': {
        const n = parseNonNegativeInt(value);
        if (n === undefined) bad('a whole number of seconds (0 = as oned writes it)');
        else config.balloonStatsPeriodS = n;
        break;
      }
      case 'BALLOON_AUTODEFLATE':
      case 'BALLOON_FREE_PAGE_REPORTING': {
        const v = value.toLowerCase();
        const b = v === 'auto' ? 'auto' : parseYesNo(v) === undefined ? undefined : parseYesNo(v) ? 'yes' : 'no';
        if (b === undefined) bad('auto (on where the host supports it), yes or no');
        else if (key === 'BALLOON_AUTODEFLATE') config.balloonAutodeflate = b;
        else config.balloonFreePageReporting = b;
        break;
      }
      case 'POLL_FORMAT':
        if (value !== '4.8' && value !== '4.14') bad("4.8 (OpenNebula 4.8-4.12) or 4.14 (4.14-5.10)");
        else config.pollFormat = value;
        break;
      default:
        if (!KVMRC_KEYS_IGNORED.has(key) && !key.startsWith('DEFAULT_ATTACH_'))
          warnings.push({ line, message: `unknown key ${key} (ignored)` });
    }
  }

  errors.sort((a, b) => a.line - b.line); // the reader's and the keys' problems, in file order
  for (const problem of parseMigrateOptions(migrateOptions, config.migrate))
    errors.push({ line: migrateOptionsLine, message: `MIGRATE_OPTIONS: ${problem}` });
  // MIGRATE_LIVE and MIGRATE_BANDWIDTH win over the same setting inside MIGRATE_OPTIONS
  if (migrateLive !== undefined) config.migrate.live = migrateLive;
  if (bandwidth !== undefined) config.migrate.bandwidthMiBs = bandwidth;
  return { config, errors, warnings };
}

/** The destination URI of a migration, as the stock driver builds it. */
export function destinationUri(config: Pick<VmmConfig, 'qemuProtocol'>, destHost: string): string {
  return `${config.qemuProtocol}://${hostForUri(destHost)}/system`;
}

// ---- the file (edge) ----

/**
 * Where the config lives when no --config/CLOUDVAMP_VMM_CONFIG is given: the
 * executable is `<remotes>/vmm/cloudvamp/<action>`, the file is
 * `<remotes>/etc/vmm/cloudvamp/cloudvamp.conf` (as kvmrc is for the stock driver).
 */
export function defaultConfigPath(executablePath: string): string {
  return path.resolve(path.dirname(executablePath), '..', '..', 'etc', 'vmm', 'cloudvamp', 'cloudvamp.conf');
}

export interface LoadedConfig {
  config: VmmConfig;
  /** the file read, undefined when the defaults were used */
  file: string | undefined;
  warnings: string[];
}
