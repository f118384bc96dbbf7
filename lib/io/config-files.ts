// Reading the three config files from disk; parsing and validation are pure
// and live beside each feature (lib/elasticity/config.ts for cloudvamp-cvem,
// lib/monitor/config.ts for the probes, lib/vmm/config.ts for the VMM actions).
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseConfig as parseCvemConfig, withDriverFloor, type ConfigProblem, type ElasticityConfig } from '../elasticity/config';
import { configError } from '../errors';
import { defaultProbeConfig, parseProbeConfig, type ProbeConfig } from '../monitor/config';
import { defaultConfigPath as defaultVmmConfigPath, parseConfig as parseVmmConfig, type LoadedConfig } from '../vmm/config';

/** cloudvamp-cvem's config (--config); no file means the defaults. */
export async function readCvemConfigFile(path: string | undefined): Promise<{ config: ElasticityConfig; warnings: ConfigProblem[] }> {
  let body = '';
  if (path !== undefined) {
    try {
      body = await readFile(path, 'utf8');
    } catch (error) {
      throw configError(`cannot read the cvem config ${path}: ${(error as Error).message}; pass --config with a readable file`);
    }
  }
  const result = parseCvemConfig(body);
  if (!result.config) {
    throw configError(`${path ?? 'config'}: ${result.errors.map((e) => e.message).join('; ')}`);
  }
  if (result.config.vmmConfigFile === '') return { config: result.config, warnings: result.warnings };
  // the driver's own reader, so its floor is read exactly as the driver reads it
  let vmm: LoadedConfig;
  try {
    vmm = loadVmmConfig(result.config.vmmConfigFile, '');
  } catch (error) {
    // a warning, not a refusal: restore-all and status read this config too, and must work whatever the driver's file says
    const warning = {
      key: 'VMM_CONFIG',
      message: `VMM_CONFIG, the VMM driver's config read for its MEMORY_FLOOR_MIB: ${(error as Error).message}; MEM_MIN stays ${result.config.memMinKiB} KiB (fix the path, or leave VMM_CONFIG empty)`,
    };
    return { config: result.config, warnings: [...result.warnings, warning] };
  }
  const floored = withDriverFloor(result.config, vmm.config.memoryFloorKiB, result.config.vmmConfigFile);
  return { config: floored.config, warnings: [...result.warnings, ...floored.warnings] };
}

/**
 * Reads and validates the config. A missing file at the default place means
 * defaults; a file named explicitly (--config, CLOUDVAMP_CONFIG) must exist.
 * Any error throws one config error listing every problem.
 */
export function readProbeConfig(file: string | undefined, explicit: boolean): ProbeConfig {
  if (file === undefined) return { ...defaultProbeConfig };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return { ...defaultProbeConfig };
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : `cannot be read (${code ?? String(error)})`;
    throw configError(`config file ${file} ${why}; fix the path or its permissions`);
  }
  const parsed = parseProbeConfig(text, file);
  if (parsed.errors.length > 0) throw configError(parsed.errors.join('; '));
  return parsed.config;
}

/**
 * Reads the config: `explicit` (from --config or CLOUDVAMP_VMM_CONFIG) must
 * exist; the default location may be absent (then the defaults apply).
 * Throws a config error listing every problem.
 */
export function loadVmmConfig(explicit: string | undefined, executablePath: string): LoadedConfig {
  const file = explicit ?? defaultVmmConfigPath(executablePath);
  if (explicit === undefined && !existsSync(file)) return { config: parseVmmConfig('').config, file: undefined, warnings: [] };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw configError(`cannot read config ${file}: ${(error as Error).message}`);
  }
  const parsed = parseVmmConfig(text);
  if (parsed.errors.length > 0)
    throw configError(`${file}: ${parsed.errors.map((e) => `line ${e.line}: ${e.message}`).join('; ')}`);
  return { config: parsed.config, file, warnings: parsed.warnings.map((w) => `${file}: line ${w.line}: ${w.message}`) };
}
