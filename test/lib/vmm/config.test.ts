import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadVmmConfig as loadConfig } from '../../../lib/io/config-files';
import { DEFAULT_CONFIG, defaultConfigPath, destinationUri, parseConfig } from '../../../lib/vmm/config';

describe('parseConfig', () => {
  it('gives the kvmrc defaults for an empty file', () => {
    const { config, errors, warnings } = parseConfig('');
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(config).toEqual(DEFAULT_CONFIG);
    expect(config.migrate).toEqual({ live: true, peerToPeer: false });
  });

  it('reads kvmrc-style assignments, quotes, export and comments', () => {
    const { config, errors } = parseConfig(
      [
        '# cloudvamp VMM',
        'export LIBVIRT_URI="qemu+unix:///system?socket=/run/x/libvirt-sock"',
        "QEMU_PROTOCOL='qemu+tcp'",
        'SHUTDOWN_TIMEOUT=30   # seconds',
        'FORCE_DESTROY=no',
        'CANCEL_NO_ACPI=yes',
        'MIGRATE_OPTIONS="--unsafe --compressed --auto-converge --persistent --p2p --bandwidth 50"',
        'MIGRATE_LIVE=no',
        'MEMORY_FLOOR_MIB=96',
        'BALLOON_SETTLE_TIMEOUT=2.5',
        'POLL_FORMAT=4.8',
        'BALLOON_STATS_PERIOD=10',
        'BALLOON_AUTODEFLATE=no',
        'BALLOON_FREE_PAGE_REPORTING=yes',
      ].join('\n'),
    );
    expect(errors).toEqual([]);
    expect(config).toEqual({
      libvirtUri: 'qemu+unix:///system?socket=/run/x/libvirt-sock',
      qemuProtocol: 'qemu+tcp',
      shutdownTimeoutS: 30,
      forceDestroy: false,
      cancelNoAcpi: true,
      migrate: { live: false, peerToPeer: true, unsafe: true, compressed: true, autoConverge: true, persistent: true, bandwidthMiBs: 50 },
      memoryFloorKiB: 96 * 1024,
      balloonSettleTimeoutMs: 2500,
      pollFormat: '4.8',
      balloonStatsPeriodS: 10,
      balloonAutodeflate: 'no',
      balloonFreePageReporting: 'yes',
    });
  });

  it('balloon options: a stats period by default, each safety net auto; bad values named', () => {
    // autodeflate is opt-in: the guest's MemTotal stops following the balloon with it (see DEFAULT_CONFIG)
    expect(DEFAULT_CONFIG).toMatchObject({ balloonStatsPeriodS: 5, balloonAutodeflate: 'auto', balloonFreePageReporting: 'auto' });
    const { errors } = parseConfig('BALLOON_STATS_PERIOD=-1\nBALLOON_AUTODEFLATE=maybe\nBALLOON_FREE_PAGE_REPORTING=on');
    expect(errors).toEqual([
      { line: 1, message: "BALLOON_STATS_PERIOD='-1' is not a whole number of seconds (0 = as oned writes it)" },
      { line: 2, message: "BALLOON_AUTODEFLATE='maybe' is not auto (on where the host supports it), yes or no" },
    ]);
    expect(parseConfig('BALLOON_FREE_PAGE_REPORTING=on').config.balloonFreePageReporting).toBe('yes');
  });

  it('lets MIGRATE_BANDWIDTH win over --bandwidth in MIGRATE_OPTIONS', () => {
    const { config } = parseConfig('MIGRATE_OPTIONS="--bandwidth=10"\nMIGRATE_BANDWIDTH=200');
    expect(config.migrate.bandwidthMiBs).toBe(200);
  });

  it('accepts the stock kvmrc keys it does not use, warns about unknown ones', () => {
    const { errors, warnings } = parseConfig('SYNC_TIME=yes\nDEFAULT_ATTACH_CACHE=none\nVIRSH_RETRIES=3\nSHUTDOWN_TIMOUT=10');
    expect(errors).toEqual([]);
    expect(warnings).toEqual([{ line: 4, message: 'unknown key SHUTDOWN_TIMOUT (ignored)' }]);
  });

  it('collects every error with its line', () => {
    const { errors } = parseConfig(
      ['SHUTDOWN_TIMEOUT=soon', 'FORCE_DESTROY=maybe', 'MIGRATE_OPTIONS="--unsafe --turbo"', 'echo hi', 'QEMU_PROTOCOL="qemu+ssh://x"', 'LIBVIRT_URI="unclosed', 'BALLOON_SETTLE_TIMEOUT=0'].join('\n'),
    );
    expect(errors.map((e) => e.line)).toEqual([1, 2, 4, 5, 6, 7, 3]);
    expect(errors.find((e) => e.line === 3)?.message).toMatch(/^MIGRATE_OPTIONS: unknown migration option '--turbo' \(known: .*--unsafe/);
    expect(errors.find((e) => e.line === 4)?.message).toBe('is not a KEY=VALUE line; write e.g. KEY=value, or comment it out with #');
  });

  it('never evaluates shell: $(...) stays text', () => {
    const { config } = parseConfig('LIBVIRT_URI="$(reboot)"');
    expect(config.libvirtUri).toBe('$(reboot)');
  });
});

describe('destinationUri', () => {
  it('is <QEMU_PROTOCOL>://<host>/system, IPv6 bracketed', () => {
    expect(destinationUri({ qemuProtocol: 'qemu+ssh' }, 'node2')).toBe('qemu+ssh://node2/system');
    expect(destinationUri({ qemuProtocol: 'qemu+tcp' }, 'fd00::2')).toBe('qemu+tcp://[fd00::2]/system');
  });
});

describe('loadConfig', () => {
  it('finds <remotes>/etc/vmm/cloudvamp/cloudvamp.conf from <remotes>/vmm/cloudvamp/<action>', () => {
    expect(defaultConfigPath('/var/tmp/one/vmm/cloudvamp/deploy')).toBe('/var/tmp/one/etc/vmm/cloudvamp/cloudvamp.conf');
  });

  it('uses the defaults when the default file is absent, but insists on an explicit one', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cv-conf-'));
    expect(loadConfig(undefined, path.join(dir, 'vmm/cloudvamp/deploy'))).toEqual({ config: DEFAULT_CONFIG, file: undefined, warnings: [] });
    expect(() => loadConfig(path.join(dir, 'missing.conf'), '/x')).toThrow(/cannot read config .*missing\.conf/);
  });

  it('reads the default file and reports all its errors in one message', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cv-conf-'));
    mkdirSync(path.join(dir, 'etc/vmm/cloudvamp'), { recursive: true });
    const file = path.join(dir, 'etc/vmm/cloudvamp/cloudvamp.conf');
    writeFileSync(file, 'SHUTDOWN_TIMEOUT=5\nWHATEVER=1\n');
    const loaded = loadConfig(undefined, path.join(dir, 'vmm/cloudvamp/shutdown'));
    expect(loaded.config.shutdownTimeoutS).toBe(5);
    expect(loaded.warnings).toEqual([`${file}: line 2: unknown key WHATEVER (ignored)`]);
    writeFileSync(file, 'SHUTDOWN_TIMEOUT=x\nMIGRATE_LIVE=perhaps\n');
    expect(() => loadConfig(undefined, path.join(dir, 'vmm/cloudvamp/shutdown'))).toThrow(
      `${file}: line 1: SHUTDOWN_TIMEOUT='x' is not a whole number of seconds; line 2: MIGRATE_LIVE='perhaps' is not yes or no`,
    );
  });
});
