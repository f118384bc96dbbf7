// The one KEY=VALUE reader, one table of cases; then proof that the three
// configs (probes, VMM actions, cvem) read the same line the same way.
import { describe, expect, it } from 'vitest';
import { parseConfig as parseCvemConfig } from '../../lib/elasticity/config';
import { readKeyValues } from '../../lib/key-value';
import { parseProbeConfig } from '../../lib/monitor/config';
import { parseConfig as parseVmmConfig } from '../../lib/vmm/config';

// line → the value read, or the start of the problem reported
const CASES: Array<[string, { value: string } | { error: string }]> = [
  ['K=v', { value: 'v' }],
  ['K=', { value: '' }],
  ['K = v', { value: 'v' }],
  ['  export K=v  ', { value: 'v' }],
  ['export\tK=v', { value: 'v' }],
  ['K="v"', { value: 'v' }],
  ["K='v'", { value: 'v' }],
  ['K="v" # comment', { value: 'v' }],
  ["K='v' # comment", { value: 'v' }],
  ['K="v"#comment', { value: 'v' }],
  ['K=v # comment', { value: 'v' }],
  ['K=v#not-a-comment', { value: 'v#not-a-comment' }],
  ['K="a # b"', { value: 'a # b' }],
  ['K="two words"', { value: 'two words' }],
  ['K=two words', { value: 'two words' }],
  ['K="say \\"hi\\""', { value: 'say "hi"' }],
  ['K="back\\\\slash"', { value: 'back\\slash' }],
  ['K="a\\b"', { value: 'a\\b' }],
  ["K='a\\\"b'", { value: 'a\\"b' }],
  ['K="it\'s"', { value: "it's" }],
  ['K="$(reboot)"', { value: '$(reboot)' }],
  ['K=$HOME', { value: '$HOME' }],
  ['K="', { error: 'the value of K has an unterminated double quote' }],
  ["K='v", { error: 'the value of K has an unterminated single quote' }],
  ['K="v\\"', { error: 'the value of K has an unterminated double quote' }],
  ['K="v" x', { error: 'the value of K has text after the closing quote' }],
  ['not a line', { error: 'is not a KEY=VALUE line' }],
  ['1K=v', { error: 'is not a KEY=VALUE line' }],
  ['oneadmin:secret', { error: 'is not a KEY=VALUE line' }],
];

describe('readKeyValues', () => {
  it.each(CASES)('%s', (line, expected) => {
    const { entries, errors } = readKeyValues(`# header\n\n${line}\n`);
    if ('value' in expected) {
      expect(errors).toEqual([]);
      expect(entries).toEqual([{ key: 'K', value: expected.value, line: 3 }]);
    } else {
      expect(entries).toEqual([]);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.line).toBe(3);
      expect(errors[0]!.message.startsWith(expected.error)).toBe(true);
    }
  });

  it('never repeats a value in a problem (it may be a credential)', () => {
    for (const line of ['ONE_AUTH="oneadmin:s3cret', 'ONE_AUTH="oneadmin:s3cret" tail', 'oneadmin:s3cret']) {
      expect(JSON.stringify(readKeyValues(line).errors)).not.toContain('s3cret');
    }
  });

  it('keeps file order and CRLF line ends out of values', () => {
    expect(readKeyValues('A=1\r\nB="2"\r\nA=3\r\n').entries).toEqual([
      { key: 'A', value: '1', line: 1 },
      { key: 'B', value: '2', line: 2 },
      { key: 'A', value: '3', line: 3 },
    ]);
  });
});

describe('the three configs read a line the same way', () => {
  it.each(['"qemu:///session" # comment', "'qemu:///session'", 'qemu:///session # comment', '"qemu:///session"'])('LIBVIRT_URI=%s', (raw) => {
    const probe = parseProbeConfig(`LIBVIRT_URI=${raw}\n`);
    const vmm = parseVmmConfig(`LIBVIRT_URI=${raw}\n`);
    expect(probe.errors).toEqual([]);
    expect(vmm.errors).toEqual([]);
    expect(probe.config.libvirtUri).toBe('qemu:///session');
    expect(vmm.config.libvirtUri).toBe('qemu:///session');
  });

  it.each(['"/var/x.json" # comment', "'/var/x.json'", '/var/x.json # comment'])('cvem STATE_FILE=%s', (raw) => {
    const cvem = parseCvemConfig(`STATE_FILE=${raw}\n`);
    expect(cvem.errors).toEqual([]);
    expect(cvem.config?.stateFile).toBe('/var/x.json');
  });

  it('a broken quote is an error in all three', () => {
    expect(parseProbeConfig('LIBVIRT_URI="x\n').errors).toHaveLength(1);
    expect(parseVmmConfig('LIBVIRT_URI="x\n').errors).toHaveLength(1);
    expect(parseCvemConfig('STATE_FILE="x\n').errors).toHaveLength(1);
  });
});
