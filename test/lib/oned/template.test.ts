import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { carriable } from '../../../lib/one-grammar';
import { formatTemplate, parseTemplate } from '../../../lib/oned/template';
import { parseOneTemplate } from '../../support/one-template-parser';

describe('OpenNebula template text', () => {
  it('quotes every value, escaping only quotes (oned unescapes nothing else)', () => {
    expect(formatTemplate({ MEM_TOTAL: 4046844, note: 'say "hi" \\ bye' })).toBe('MEM_TOTAL = "4046844"\nNOTE = "say \\"hi\\" \\ bye"\n');
  });

  it('oned reads every value back byte for byte (its grammar, ported), or the value is refused', () => {
    const key = fc.stringMatching(/^[A-Z][A-Z0-9_]{0,11}$/);
    const value = fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom('a\\', 'x]]>y', 'n\0ul', '\\"', 'multi\nline'));
    fc.assert(
      fc.property(fc.dictionary(key, value), (attributes) => {
        if (!Object.values(attributes).every(carriable)) {
          expect(() => formatTemplate(attributes)).toThrow(/cannot carry/);
          return;
        }
        const text = formatTemplate(attributes);
        const expected = Object.entries(attributes).map(([k, v]) => ({ name: k, value: v }));
        expect(parseOneTemplate(text)).toEqual(expected);
        expect(parseTemplate(text)).toEqual(expected.map(({ name, value }) => ({ key: name, value })));
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses names oned would not keep', () => {
    expect(() => formatTemplate({ 'A B': 1 })).toThrow(/not a valid OpenNebula template attribute/);
    expect(() => formatTemplate({ A: Number.NaN })).toThrow(/finite/);
  });

  it('parses what it formats', () => {
    const key = fc.stringMatching(/^[A-Z][A-Z0-9_]{0,11}$/);
    fc.assert(
      fc.property(fc.dictionary(key, fc.string().filter(carriable)), (attributes) => {
        expect(parseTemplate(formatTemplate(attributes))).toEqual(Object.entries(attributes).map(([k, value]) => ({ key: k, value })));
      }),
    );
  });

  it('parses unquoted values, vectors and comments', () => {
    expect(parseTemplate('# comment\nmemory=512\nDISK = [ ID = "0", SIZE=10 ]\nEMPTY =\n')).toEqual([
      { key: 'MEMORY', value: '512' },
      { key: 'DISK', value: { ID: '0', SIZE: '10' } },
      { key: 'EMPTY', value: '' },
    ]);
    expect(() => parseTemplate('A = "open')).toThrow(/unterminated/);
    expect(() => parseTemplate('= 1')).toThrow(/attribute name/);
  });
});
