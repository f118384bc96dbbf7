// What OpenNebula's template grammar (src/parsers/template_parser.l,
// template_syntax.y) can carry in a double-quoted value, and how to quote for
// it. One place for every text oned parses: probe output (lib/monitor) and the
// templates sent to one.vm.update / one.host.update (lib/oned). Pure.

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether oned reads `text` back byte for byte from `quote(text)`. It cannot
 * when the text
 * - ends in a backslash: the closing `"` would read as an escaped quote and the
 *   string would run on into the next line, losing the whole document;
 * - contains `]]>`: the lexer's CDATA rule matches the line and the grammar aborts;
 * - contains a NUL: oned parses a C string;
 * - is not Unicode (a lone UTF-16 surrogate; libvirt's names are UTF-8, so never from it).
 */
export function carriable(text: string): boolean {
  return !text.endsWith('\\') && !text.includes(']]>') && !text.includes('\0') && !LONE_SURROGATE.test(text);
}

/**
 * Double-quoted the way oned's parser reads it back: its unescape() turns only
 * `\"` into `"`, so quotes are escaped and nothing else is (a doubled backslash
 * would stay doubled); newlines and control characters are carried as they are,
 * since a quoted string may span lines. Only for carriable() text.
 */
export const quote = (text: string): string => `"${text.replace(/"/g, '\\"')}"`;
