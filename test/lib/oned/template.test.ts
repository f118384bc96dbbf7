import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatTemplate, parseTemplate } from '../../../lib/oned/template';

describe('OpenNebula template text', () => {
  it('quotes and escapes every value', () => {
    expect(formatTemplate({ MEM_TOTAL: 4046844, note: 'say "hi" \\ bye' })).toBe('MEM_TOTAL = "4046844"\nNOTE = "say \\"hi\\" \\\\ bye"\n');
  });

  it('refuses names oned would not keep', () => {
    expect(() => formatTemplate({ 'A B': 1 })).toThrow(/not a valid OpenNebula template attribute/);
    expect(() => formatTemplate({ A: Number.NaN })).toThrow(/finite/);
  });

  it('parses what it formats', () => {
    const key = fc.stringMatching(/^[A-Z][A-Z0-9_]{0,11}$/);
    fc.assert(
      fc.property(fc.dictionary(key, fc.string()), (attributes) => {
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
