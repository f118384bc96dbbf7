import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { carriable, formatNumber, maybeQuote, monitorText, pollText, quote, renderTemplate, template, templateToJson, vector } from '../../../lib/monitor/template';

describe('template text', () => {
  it('prints KEY=VALUE lines, quoting only values that need it', () => {
    expect(renderTemplate(template([['HYPERVISOR', 'kvm'], ['TOTALCPU', 1600], ['MODELNAME', 'Intel(R) Xeon(R) "Gold"'], ['EMPTY', ''], ['SKIPPED', undefined]]))).toBe(
      'HYPERVISOR=kvm\nTOTALCPU=1600\nMODELNAME="Intel(R) Xeon(R) \\"Gold\\""\nEMPTY=""\n',
    );
  });

  it('prints vectors with every value quoted', () => {
    expect(renderTemplate([['VM', vector([['ID', 42], ['DEPLOY_ID', 'abc'], ['STATE', 'RUNNING'], ['X', undefined]])]])).toBe(
      'VM=[ID="42", DEPLOY_ID="abc", STATE="RUNNING"]\n',
    );
  });

  it('prints MONITOR as base64 of an all-quoted template, without line breaks', () => {
    const monitor = template([['CPU', 1.5], ['MEMORY', 524288], ['PACKEDMEMORY', 262144]]);
    expect(monitorText(monitor)).toBe('CPU="1.5"\nMEMORY="524288"\nPACKEDMEMORY="262144"\n');
    // the example of PROTOCOL.md §1.6.5
    expect(renderTemplate([['VM', vector([['ID', 42], ['MONITOR', { kind: 'base64', template: monitor }]])]])).toBe(
      'VM=[ID="42", MONITOR="Q1BVPSIxLjUiCk1FTU9SWT0iNTI0Mjg4IgpQQUNLRURNRU1PUlk9IjI2MjE0NCIK"]\n',
    );
  });

  it('base64 MONITOR round-trips any printable value', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (s) => {
        const t = template([['V', s]]);
        const line = renderTemplate([['VM', vector([['MONITOR', { kind: 'base64', template: t }]])]]);
        const b64 = /MONITOR="([A-Za-z0-9+/=]*)"/.exec(line)?.[1] ?? '';
        const decoded = Buffer.from(b64, 'base64').toString('utf8');
        expect(decoded).toBe(carriable(s) ? `V="${s.replace(/"/g, '\\"')}"\n` : '');
      }),
    );
  });

  it('quote escapes quotes only (oned unescapes nothing else); maybeQuote leaves plain tokens alone', () => {
    expect(quote('a\\b"c')).toBe('"a\\b\\"c"');
    expect(maybeQuote('qemu:///system')).toBe('qemu:///system');
    expect(maybeQuote('two words')).toBe('"two words"');
    expect(maybeQuote('[x]')).toBe('"[x]"');
  });

  it('prints the OpenNebula 4.x VM block and POLL string', () => {
    const poll = template([['STATE', 'a'], ['USEDCPU', 1.5], ['USEDMEMORY', 524288], ['NAME', 'has space']]);
    expect(pollText(poll)).toBe('STATE=a USEDCPU=1.5 USEDMEMORY=524288 NAME=has_space');
    expect(renderTemplate([['VM', vector([['ID', 42], ['DEPLOY_ID', 'one-42'], ['POLL', { kind: 'poll', template: poll }]], true)]])).toBe(
      'VM=[\n  ID=42,\n  DEPLOY_ID=one-42,\n  POLL="STATE=a USEDCPU=1.5 USEDMEMORY=524288 NAME=has_space" ]\n',
    );
  });

  it('formats numbers: integers as they are, others with at most two decimals', () => {
    expect([formatNumber(3), formatNumber(1.5), formatNumber(0.123456), formatNumber(2.999)]).toEqual(['3', '1.5', '0.12', '3']);
    expect(() => formatNumber(Number.NaN)).toThrow();
  });

  it('renders the same template as JSON: repeated keys become arrays, nested templates objects', () => {
    const t = template([
      ['SYNC_STATE', 'yes'],
      ['VM', vector([['ID', 1], ['MONITOR', { kind: 'base64', template: [['CPU', 2]] }]])],
    ]);
    expect(templateToJson(t)).toEqual({ SYNC_STATE: 'yes', VM: [{ ID: 1, MONITOR: { CPU: 2 } }] });
  });
});
