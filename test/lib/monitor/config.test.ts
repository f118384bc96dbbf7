import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readProbeConfig } from '../../../lib/io/config-files';
import { defaultConfigPath, defaultProbeConfig, parseProbeConfig } from '../../../lib/monitor/config';

describe('parseProbeConfig', () => {
  it('gives the defaults for an empty file', () => {
    expect(parseProbeConfig('')).toEqual({ config: defaultProbeConfig, errors: [], warnings: [] });
    expect(defaultProbeConfig).toEqual({ overcommit: 1, libvirtUri: 'qemu:///system', probeFormat: 'modern', ksmOvercommit: 0, overcommitMaxRatio: 4 });
  });

  it('reads kvmrc-style lines: comments, quotes, export, trailing comments', () => {
    const text = ['# CloudVAMP probes', '', 'OVERCOMMIT=0.75  # three quarters', 'export LIBVIRT_URI="qemu+unix:///system?socket=/run/x sock"', "PROBE_FORMAT='legacy'", 'KSM_OVERCOMMIT=0.5', 'OVERCOMMIT_MAX_RATIO=2.5'].join('\n');
    expect(parseProbeConfig(text)).toEqual({
      config: { overcommit: 0.75, libvirtUri: 'qemu+unix:///system?socket=/run/x sock', probeFormat: 'legacy', ksmOvercommit: 0.5, overcommitMaxRatio: 2.5 },
      errors: [],
      warnings: [],
    });
  });

  it('accepts every float in [0, 1]', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true, noDefaultInfinity: true }), (o) => {
        const text = `OVERCOMMIT=${o.toFixed(6)}`;
        expect(parseProbeConfig(text).config.overcommit).toBeCloseTo(Number(o.toFixed(6)), 10);
        expect(parseProbeConfig(text).errors).toEqual([]);
      }),
    );
  });

  it.each(['1.5', '-0.1', 'abc', '', '1e-1', 'NaN', '0x1'])('rejects OVERCOMMIT=%s naming the file, line and fix', (v) => {
    const r = parseProbeConfig(`# x\nOVERCOMMIT=${v}\n`, '/etc/cloudvamp.conf');
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^\/etc\/cloudvamp\.conf:2: OVERCOMMIT=.* is not a number between 0 and 1; set e\.g\. OVERCOMMIT=1\.0/);
  });

  it.each(['1.5', '-0.1', 'yes'])('rejects KSM_OVERCOMMIT=%s', (v) => {
    expect(parseProbeConfig(`KSM_OVERCOMMIT=${v}`, 'c.conf').errors).toEqual([
      `c.conf:1: KSM_OVERCOMMIT='${v}' is not a number between 0 and 1; set e.g. KSM_OVERCOMMIT=0 (offer none of what KSM saves, the default) or 0.5`,
    ]);
  });

  it('OVERCOMMIT_MAX_RATIO=0 turns the ceiling off', () => {
    expect(parseProbeConfig('OVERCOMMIT_MAX_RATIO=0')).toMatchObject({ config: { overcommitMaxRatio: 0 }, errors: [] });
  });

  it.each(['0.5', '-1', 'four', '', 'Infinity', '9'.repeat(400)])('rejects OVERCOMMIT_MAX_RATIO=%s', (v) => {
    expect(parseProbeConfig(`OVERCOMMIT_MAX_RATIO=${v}`, 'c.conf').errors).toEqual([
      `c.conf:1: OVERCOMMIT_MAX_RATIO='${v}' is neither 0 nor a number of at least 1; set e.g. OVERCOMMIT_MAX_RATIO=4 (TOTALMEMORY at most 4 × the physical memory) or 0 (no ceiling)`,
    ]);
  });

  it('collects every error and warns about unknown keys', () => {
    const r = parseProbeConfig('FOO=1\nPROBE_FORMAT=old\nnot a line\nLIBVIRT_URI="open\n', 'c.conf');
    expect(r.warnings).toEqual(['c.conf:1: unknown key FOO ignored (known: OVERCOMMIT, OVERCOMMIT_MAX_RATIO, KSM_OVERCOMMIT, LIBVIRT_URI, PROBE_FORMAT)']);
    expect([...r.errors].sort()).toEqual([
      "c.conf:2: PROBE_FORMAT='old' is not 'modern' or 'legacy'; modern is for OpenNebula 5.12 and later",
      'c.conf:3: is not a KEY=VALUE line; write e.g. KEY=value, or comment it out with #',
      'c.conf:4: the value of LIBVIRT_URI has an unterminated double quote; close it on the same line or remove the quotes',
    ]);
  });
});

describe('config file location and reading', () => {
  it('sits under <remotes>/etc/im/cloudvamp-probes.d, found from the probe path', () => {
    expect(defaultConfigPath('/var/tmp/one/im/cloudvamp-probes.d/host/system/cloudvamp-host-system')).toBe(
      '/var/tmp/one/etc/im/cloudvamp-probes.d/cloudvamp.conf',
    );
    expect(defaultConfigPath('/var/tmp/one/im/cloudvamp-legacy-probes.d/cloudvamp-poll')).toBe('/var/tmp/one/etc/im/cloudvamp-probes.d/cloudvamp.conf');
    expect(defaultConfigPath('/usr/local/bin/probe')).toBeUndefined();
  });

  it('a missing default file means defaults; a missing explicit file or a malformed one is an error', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cvconf-'));
    expect(readProbeConfig(path.join(dir, 'none.conf'), false)).toEqual(defaultProbeConfig);
    expect(() => readProbeConfig(path.join(dir, 'none.conf'), true)).toThrow(/none\.conf does not exist/);
    const bad = path.join(dir, 'bad.conf');
    writeFileSync(bad, 'OVERCOMMIT=2\n');
    expect(() => readProbeConfig(bad, false)).toThrow(/bad\.conf:1: OVERCOMMIT='2'/);
    expect(() => readProbeConfig(dir, true)).toThrow(/cannot be read \(EISDIR\)/);
  });
});
