// OpenNebula template text, the `KEY = "value"` syntax `one.vm.update` and
// `one.vm.resize` take. Pure.
//
// Values are always written double-quoted with `\` and `"` escaped, which is
// what oned's template parser (template_syntax.y) undoes; unquoted values would
// stop at spaces and commas. oned upper-cases attribute names, so only
// [A-Za-z0-9_] names are accepted and are written upper-case.

import { usageError } from '../errors';

export type TemplateValue = string | number;
export interface TemplateAttribute {
  key: string;
  /** a vector attribute (`DISK = [ ID = "0" ]`) parses into a record */
  value: string | Record<string, string>;
}

const KEY = /^[A-Za-z0-9_]+$/;

const quote = (value: TemplateValue) => `"${String(value).replace(/[\\"]/g, (c) => `\\${c}`)}"`;

function checkedKey(key: string): string {
  if (!KEY.test(key)) throw usageError(`'${key}' is not a valid OpenNebula template attribute name (letters, digits and _ only)`);
  return key.toUpperCase();
}

/** One `KEY = "value"` line per entry, in the given order. */
export function formatTemplate(attributes: Readonly<Record<string, TemplateValue>>): string {
  return Object.entries(attributes)
    .map(([key, value]) => {
      if (typeof value === 'number' && !Number.isFinite(value)) throw usageError(`template attribute ${key} must be a finite number, not ${value}`);
      return `${checkedKey(key)} = ${quote(value)}\n`;
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
        if (text[pos] === '\\' && pos + 1 < text.length) pos++;
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
