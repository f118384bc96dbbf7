import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeXmlText, escapeXmlText, isXmlText, XmlSyntaxError } from '../../../lib/oned/xml-tree';

// Texts of 64 KiB and more (a pool dump is one such string) take decodeXmlText's
// byte loop; shorter ones the string path. Both must read the same.
const LARGE = 65_536;
const pad = (text: string) => text + 'x'.repeat(LARGE);

describe('XML text', () => {
  it('decodes a large escaped text exactly as a small one, any characters (non-ASCII, CR, markup)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }).filter(isXmlText), (text) => {
        const large = pad(text);
        expect(decodeXmlText(escapeXmlText(large))).toBe(large);
        expect(decodeXmlText(escapeXmlText(text))).toBe(text);
      }),
      { numRuns: 50 },
    );
  });

  it('reads every predefined entity and character references in a large text', () => {
    expect(decodeXmlText(pad('&lt;a&gt; &amp;lt; &quot;q&quot; &apos;s&apos; é'))).toBe(pad('<a> &lt; "q" \'s\' é'));
    expect(decodeXmlText(pad('&#13;&#x41;&amp;'))).toBe(pad('\rA&'));
    expect(decodeXmlText(pad('a\r\nb\rc'))).toBe(pad('a\nb\nc'));
  });

  it('refuses a bad or unknown entity in a large text as in a small one', () => {
    for (const bad of ['&nbsp;', '&lt', '& x', '&#xZZ;'])
      for (const text of [bad, pad(bad)]) expect(() => decodeXmlText(text), `${bad} in ${text.length} chars`).toThrow(XmlSyntaxError);
  });

  it('escapes only what XML needs', () => {
    expect(escapeXmlText('plain')).toBe('plain');
    expect(escapeXmlText('a<b>&\r')).toBe('a&lt;b&gt;&amp;&#13;');
  });
});
