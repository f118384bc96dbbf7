import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULTS, parseConfig, withDriverFloor } from '../../../lib/elasticity/config';
import { readCvemConfigFile as readConfigFile } from '../../../lib/io/config-files';
import { decideVm } from '../../../lib/elasticity/vm-rule';
import { MEMORY_FLOOR_KIB } from '../../../lib/memory/floor';
import { checkBalloonTarget } from '../../../lib/vmm/balloon';
import { DEFAULT_CONFIG as VMM_DEFAULTS, parseConfig as parseVmmConfig } from '../../../lib/vmm/config';
import { vm } from './builders';

describe('parseConfig', () => {
  it('empty file = documented defaults', () => {
    expect(parseConfig('')).toEqual({ config: DEFAULTS, errors: [], warnings: [] });
    expect(DEFAULTS).toMatchObject({ memOverPercent: 30, memMarginPercent: 5, growthRule: 'two-strike', cooldownMs: 30_000, migrationCooldownMs: 300_000 });
  });

  it('reads kvmrc-style lines: comments, export, quotes, units', () => {
    const r = parseConfig(`# cvem\nexport MEM_OVER=40\nMEM_MARGIN = "3"\nCOOLDOWN=60 # seconds\nMEMORY_COMMAND='sudo -n /usr/local/bin/setmem {deploy_id} {kib}'\nAPPLY_MODE=resize\nMIGRATE=no\nUSER_FILTER=5\n`);
    expect(r.errors).toEqual([]);
    expect(r.config).toMatchObject({ memOverPercent: 40, memMarginPercent: 3, cooldownMs: 60_000, applyMode: 'resize', migrate: false, userFilter: 5, memoryCommand: ['sudo', '-n', '/usr/local/bin/setmem', '{deploy_id}', '{kib}'] });
    expect(r.warnings.map((w) => w.key)).toContain('APPLY_MODE');
  });

  it('collects every error at once', () => {
    const r = parseConfig('MEM_OVER=95\nMEM_MARGIN=x\nGROWTH_RULE=fast\nMIGRATE=maybe\nwhat is this\nTYPO_KEY=1\nMIN_FREE_MEMORY=1.5\n');
    expect(r.config).toBeUndefined();
    expect(r.errors.map((e) => e.key)).toEqual(['line 5', 'MEM_OVER', 'MEM_MARGIN', 'GROWTH_RULE', 'MIGRATE', 'TYPO_KEY', 'MIN_FREE_MEMORY']);
  });

  it('cross-checks the dead band', () => {
    expect(parseConfig('MEM_OVER=10\nMEM_MARGIN=10\n').errors).toEqual([expect.objectContaining({ key: 'MEM_MARGIN' })]);
  });
});

describe('ONE_AUTH in cvem.conf', () => {
  it('is the absolute path of a one_auth file, as OpenNebula\'s ONE_AUTH', () => {
    expect(parseConfig('ONE_AUTH=/var/lib/one/.one/one_auth\n').config?.oneAuthFile).toBe('/var/lib/one/.one/one_auth');
  });

  it.each(['oneadmin:opennebula', '"oneadmin:opennebula" # creds', 'opennebula'])('rejects %s without repeating it', async (value) => {
    const { config, errors } = parseConfig(`ONE_AUTH=${value}\n`);
    expect(config).toBeUndefined();
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/^ONE_AUTH must be the absolute path of a one_auth file/)]);
    expect(JSON.stringify(errors)).not.toContain('opennebula');
    const dir = await mkdtemp(path.join(tmpdir(), 'cvem-conf-'));
    await writeFile(path.join(dir, 'cvem.conf'), `ONE_AUTH=${value}\n`);
    await expect(readConfigFile(path.join(dir, 'cvem.conf'))).rejects.toThrow(/^(?!.*opennebula).*ONE_AUTH must be the absolute path/);
  });
});

describe("MEM_MIN and the VMM driver's floor: one value (lib/memory/floor.ts)", () => {
  const MiB = 1024;
  it("MEM_MIN below the driver's floor is a config error that names the floor; at the floor it is accepted", () => {
    const r = parseConfig('MEM_MIN=65536\n');
    expect(r.config).toBeUndefined();
    expect(r.errors).toEqual([
      { key: 'MEM_MIN', message: 'MEM_MIN=65536 must be at least 131072 (KiB; the VMM driver refuses any size below its floor, cloudvamp.conf MEMORY_FLOOR_MIB, 128 MiB by default)' },
    ]);
    expect(parseConfig(`MEM_MIN=${MEMORY_FLOOR_KIB}\n`).config?.memMinKiB).toBe(MEMORY_FLOOR_KIB);
    expect(VMM_DEFAULTS.memoryFloorKiB).toBe(MEMORY_FLOOR_KIB);
  });

  it('property: whatever MEM_MIN the manager accepts, no size it plans is refused by the driver (tier run: MEM_MIN=65536 planned 64 MiB)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1024 * MiB }),
        fc.integer({ min: MEMORY_FLOOR_KIB / MiB, max: 8192 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 256 * MiB }),
        (memMin, originalMiB, currentShare, usedShare, minFree) => {
          const parsed = parseConfig(`MEM_MIN=${memMin}\nMIN_FREE_MEMORY=${minFree}\nCOOLDOWN=0\n`);
          if (!parsed.config) return;
          const originalKiB = originalMiB * MiB;
          const currentKiB = Math.max(MEMORY_FLOOR_KIB, Math.round((originalKiB * currentShare) / MiB) * MiB);
          const d = decideVm(vm(1, { originalKiB, currentKiB, usedKiB: Math.round(currentKiB * usedShare) }), undefined, parsed.config, 0);
          if (d.action === 'none') return;
          expect(() => checkBalloonTarget(d.targetKiB, { maxKiB: originalKiB, floorKiB: VMM_DEFAULTS.memoryFloorKiB })).not.toThrow();
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("property: with the driver's floor raised (MEMORY_FLOOR_MIB, read through VMM_CONFIG), nothing planned is refused either", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: MEMORY_FLOOR_KIB / MiB, max: 2048 }),
        fc.integer({ min: 0, max: 8192 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (floorMiB, extraMiB, currentShare, usedShare) => {
          const driver = parseVmmConfig(`MEMORY_FLOOR_MIB=${floorMiB}\n`).config;
          const { config } = withDriverFloor(parseConfig('COOLDOWN=0\nSHRINK_WARMUP=0\n').config!, driver.memoryFloorKiB, '/x/cloudvamp.conf');
          // a VM the driver can resize at all: its original at or above the floor
          const originalKiB = (floorMiB + extraMiB) * MiB;
          const currentKiB = Math.max(driver.memoryFloorKiB, Math.round((originalKiB * currentShare) / MiB) * MiB);
          const d = decideVm(vm(1, { originalKiB, currentKiB, usedKiB: Math.round(currentKiB * usedShare) }), undefined, config, 0);
          if (d.action === 'none') return;
          expect(() => checkBalloonTarget(d.targetKiB, { maxKiB: originalKiB, floorKiB: driver.memoryFloorKiB })).not.toThrow();
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("VMM_CONFIG: MEM_MIN is raised to the driver's MEMORY_FLOOR_MIB, once, with a warning naming the file; a lower floor changes nothing", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cvem-floor-'));
    const driverConf = path.join(dir, 'cloudvamp.conf');
    const cvemConf = path.join(dir, 'cvem.conf');
    await writeFile(driverConf, 'LIBVIRT_URI=qemu:///system\nMEMORY_FLOOR_MIB=512\n');
    await writeFile(cvemConf, `VMM_CONFIG=${driverConf}\n`);
    const raised = await readConfigFile(cvemConf);
    expect(raised.config.memMinKiB).toBe(512 * MiB);
    expect(raised.warnings).toEqual([{ key: 'MEM_MIN', message: expect.stringContaining(`MEMORY_FLOOR_MIB=512 in ${driverConf}: no VM is shrunk below 524288 KiB`) }]);
    await writeFile(driverConf, 'MEMORY_FLOOR_MIB=128\n');
    expect(await readConfigFile(cvemConf)).toEqual({ config: { ...DEFAULTS, vmmConfigFile: driverConf }, warnings: [] });
    // without VMM_CONFIG the driver's file is not read at all
    await writeFile(cvemConf, 'MEM_MIN=262144\n');
    expect((await readConfigFile(cvemConf)).config.memMinKiB).toBe(262144);
  });

  it('a VMM_CONFIG that cannot be read is a warning naming the key (restore-all must still run); a relative path is a config error', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cvem-floor-'));
    const cvemConf = path.join(dir, 'cvem.conf');
    await writeFile(cvemConf, `VMM_CONFIG=${path.join(dir, 'missing.conf')}\n`);
    const missing = await readConfigFile(cvemConf);
    expect(missing.config.memMinKiB).toBe(DEFAULTS.memMinKiB);
    expect(missing.warnings).toEqual([
      { key: 'VMM_CONFIG', message: expect.stringMatching(/^VMM_CONFIG, the VMM driver's config read for its MEMORY_FLOOR_MIB: cannot read config .*missing\.conf.*; MEM_MIN stays 262144 KiB/) },
    ]);
    await writeFile(path.join(dir, 'bad.conf'), 'MEMORY_FLOOR_MIB=lots\n');
    await writeFile(cvemConf, `VMM_CONFIG=${path.join(dir, 'bad.conf')}\n`);
    expect((await readConfigFile(cvemConf)).warnings.map((w) => w.message)).toEqual([expect.stringMatching(/VMM_CONFIG.*MEMORY_FLOOR_MIB/)]);
    expect(parseConfig('VMM_CONFIG=etc/cloudvamp.conf\n').errors.map((e) => e.key)).toEqual(['VMM_CONFIG']);
  });
});
