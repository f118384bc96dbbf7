// OpenNebula template text, the `KEY = "value"` syntax `one.vm.update` and
// `one.vm.resize` take. Pure.
//
// Values are always written double-quoted the way oned's template parser reads
// them back (lib/one-grammar.ts: only `"` is escaped); unquoted values would
// stop at spaces and commas. A value oned cannot carry is refused. oned upper-cases attribute names, so only
// [A-Za-z0-9_] names are accepted and are written upper-case.

import { usageError } from '../errors';
import { carriable, quote } from '../one-grammar';

export type TemplateValue = string | number;
export interface TemplateAttribute {
  key: string;
  /** a vector attribute (`DISK = [ ID = "0" ]`) parses into a record */
  value: string | Record<string, string>;
}

const KEY = /^[A-Za-z0-9_]+$/;


function checkedKey(key: string): string {
  if (!KEY.test(key)) throw usageError(`'${key}' is not a valid OpenNebula template attribute name (letters, digits and _ only)`);
  return key.toUpperCase();
}

/** One `KEY = "value"` line per entry, in the given order. */
export function formatTemplate(attributes: Readonly<Record<string, TemplateValue>>): string {
  return Object.entries(attributes)
    .map(([key, value]) => {
      if (typeof value === 'number' && !Number.isFinite(value)) throw usageError(`template attribute ${key} must be a finite number, not ${value}`);
      const text = String(value);
      if (!carriable(text))
        throw usageError(`template attribute ${key}: oned's template parser cannot carry this value (it ends in a backslash, or holds "]]>" or a NUL)`);
      return `${checkedKey(key)} = ${quote(text)}\n`;
    })
    .join('');
}

export class TemplateSyntaxError extends Error {
  constructor(message: string) {
    super(`bad OpenNebula template: ${message}`);
    this.name = 'TemplateSyntaxError';
  }
}

/** Parses scalar and vector attributes; repeated keys are all returned, in order. */
export function parseTemplate(text: string): TemplateAttribute[] {
  let pos = 0;
  const attributes: TemplateAttribute[] = [];

  const skipSpace = (newlines: boolean) => {
    for (;;) {
      const c = text[pos];
      if (c === '#') while (pos < text.length && text[pos] !== '\n') pos++;
      else if (c === ' ' || c === '\t' || c === '\r' || (newlines && c === '\n')) pos++;
      else return;
    }
  };
  const readKey = (): string => {
    const match = /[A-Za-z0-9_]+/y;
    match.lastIndex = pos;
    const found = match.exec(text);
    if (!found) throw new TemplateSyntaxError(`expected an attribute name at offset ${pos}`);
    pos += found[0].length;
    return found[0].toUpperCase();
  };
  const expect = (char: string) => {
    skipSpace(true);
    if (text[pos] !== char) throw new TemplateSyntaxError(`expected '${char}' at offset ${pos}`);
    pos++;
  };
  const readValue = (inVector: boolean): string => {
    skipSpace(false);
    if (text[pos] === '"') {
      pos++;
      let value = '';
      while (pos < text.length && text[pos] !== '"') {
        if (text[pos] === '\\' && text[pos + 1] === '"') pos++; // oned's unescape(): only \" is an escape
        value += text[pos++];
      }
      if (text[pos] !== '"') throw new TemplateSyntaxError('unterminated quoted value');
      pos++;
      return value;
    }
    const stop = inVector ? /[,\]\n]/ : /\n/;
    const start = pos;
    while (pos < text.length && !stop.test(text[pos]!)) pos++;
    return text.slice(start, pos).trim();
  };

  for (;;) {
    skipSpace(true);
    if (pos >= text.length) return attributes;
    const key = readKey();
    expect('=');
    skipSpace(true);
    if (text[pos] === '[') {
      pos++;
      const vector: Record<string, string> = {};
      for (;;) {
        skipSpace(true);
        if (text[pos] === ']') break;
        const name = readKey();
        expect('=');
        vector[name] = readValue(true);
        skipSpace(true);
        if (text[pos] === ',') pos++;
        else if (text[pos] !== ']') throw new TemplateSyntaxError(`expected ',' or ']' in ${key} at offset ${pos}`);
      }
      pos++;
      attributes.push({ key, value: vector });
    } else {
      attributes.push({ key, value: readValue(false) });
    }
  }
}
