// The config files install.sh writes: every key they set, and every key they
// suggest in a comment (`# KEY=value`), must be one the matching parser
// accepts, so uncommenting a suggestion never breaks the daemon or the probes.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig as parseCvemConfig } from '../../lib/elasticity/config';
import { parseProbeConfig } from '../../lib/monitor/config';
import { parseConfig as parseVmmConfig } from '../../lib/vmm/config';

const installer = path.resolve(__dirname, '../../install.sh');

/** The `default_*_conf` texts as bash evaluates them, without running the installer. */
function shippedConfigs(): Record<string, string> {
  const script = `eval "$(sed -n '/^default_[a-z]*_conf=/,/['"'"'"]$/p' "$1")"; printf '%s\\0' "$default_probe_conf" "$default_vmm_conf" "$default_cvem_conf"`;
  const [probe, vmm, cvem] = execFileSync('bash', ['-c', script, 'bash', installer], { encoding: 'utf8' }).split('\0');
  return { probe: probe!, vmm: vmm!, cvem: cvem! };
}

/** Problems a parser reports for `text`, warnings (unknown keys) included. */
const PARSERS: Record<string, (text: string) => string[]> = {
  probe: (text) => {
    const r = parseProbeConfig(text);
    return [...r.errors, ...r.warnings];
  },
  vmm: (text) => {
    const r = parseVmmConfig(text);
    return [...r.errors, ...r.warnings].map((p) => `line ${p.line}: ${p.message}`);
  },
  cvem: (text) => parseCvemConfig(text).errors.map((p) => p.message),
};

const SUGGESTION = /^#\s*((?:export\s+)?[A-Za-z_][A-Za-z0-9_]*=.*)$/;

describe('config files install.sh writes', () => {
  const configs = shippedConfigs();

  it('knows every config install.sh writes (a new one needs its parser here)', () => {
    const names = [...readFileSync(installer, 'utf8').matchAll(/^default_([a-z]+)_conf=/gm)].map((m) => m[1]);
    expect(names.sort()).toEqual(Object.keys(PARSERS).sort());
  });

  it('finds all three, each with at least one key', () => {
    for (const name of Object.keys(PARSERS)) expect(configs[name], name).toMatch(/^[A-Z_]+=/m);
  });

  it.each(Object.keys(PARSERS))('%s: parses as shipped, and with every suggested key uncommented', (name) => {
    const text = configs[name]!;
    const parse = PARSERS[name]!;
    expect(parse(text)).toEqual([]);
    const suggestions = text.split('\n').filter((l) => SUGGESTION.test(l));
    for (const line of suggestions) {
      const uncommented = text.replace(line, line.replace(SUGGESTION, '$1'));
      expect(parse(uncommented), `uncommented: ${line}`).toEqual([]);
    }
  });

  it('cvem.conf suggests where oned credentials go', () => {
    expect(configs.cvem).toMatch(/^# ONE_AUTH=\//m);
  });
});
