// OpenNebula template text, as probes print it, from a small typed model.
// The same model renders as JSON for `--format json`.

import { carriable, quote } from '../one-grammar';

export type Scalar = string | number;

/** A template carried inside a vector value: base64 of its text (modern MONITOR) or the 4.x POLL string. */
export interface Nested {
  kind: 'base64' | 'poll';
  template: Template;
}

/** `KEY=[A="1", B="x"]`; `legacy` lays it out one attribute a line like OpenNebula 4.x probes. */
export interface Vector {
  kind: 'vector';
  entries: Array<[string, Scalar | Nested]>;
  legacy?: boolean;
}

export type Value = Scalar | Vector;
export type Entry = [key: string, value: Value];
export type Template = Entry[];

export const vector = (entries: Array<[string, Scalar | Nested | undefined]>, legacy = false): Vector => ({
  kind: 'vector',
  entries: entries.filter((e): e is [string, Scalar | Nested] => e[1] !== undefined),
  ...(legacy ? { legacy } : {}),
});

/** Drops entries whose value is undefined, so builders can list optional keys inline. */
export const template = (entries: Array<[string, Value | undefined]>): Template =>
  entries.filter((e): e is Entry => e[1] !== undefined);

/** Integers as they are; other numbers with at most two decimals (CPU percentages). */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`cannot print ${n} in a template`);
  if (Number.isInteger(n)) return String(n);
  return String(Number(n.toFixed(2)));
}

const scalarText = (v: Scalar): string => (typeof v === 'number' ? formatNumber(v) : v);

// What oned's grammar can carry, and its quoting: shared with the templates lib/oned sends.
export { carriable, quote };

const SAFE = /^[A-Za-z0-9_.:/+@-]+$/;
/** Quoted only when needed (spaces, quotes, brackets, empty): the lexer's unquoted STRING reads SAFE text as it is. */
export const maybeQuote = (text: string): string => (SAFE.test(text) ? text : quote(text));

const carried = (text: string): string | undefined => (carriable(text) ? text : undefined);

/** Text of a template whose every value is quoted: the body of a MONITOR attribute. */
export function monitorText(t: Template): string {
  return t
    .map(([k, v]) => {
      const text = carried(typeof v === 'object' ? renderValue(v) : scalarText(v));
      return text === undefined ? '' : `${k}=${quote(text)}\n`;
    })
    .join('');
}

export const toBase64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/**
 * `K=V K=V`: the 4.x POLL string, parsed by the same grammar with unquoted
 * values, which end at blanks, `=`, `#`, `,`, brackets; those (and quotes and
 * backslashes, which the outer quoting would have to carry) become `_`.
 */
export function pollText(t: Template): string {
  return t
    .map(([k, v]) => `${k}=${(typeof v === 'object' ? renderValue(v) : scalarText(v)).replace(/[\s"'\\=#,[\]]+/g, '_') || '_'}`)
    .join(' ');
}

function nestedText(n: Nested): string {
  return n.kind === 'base64' ? toBase64(monitorText(n.template)) : pollText(n.template);
}

/** A vector entry's text, or undefined where oned could not carry it. */
function entryText(x: Scalar | Nested): string | undefined {
  return carried(typeof x === 'object' ? nestedText(x) : scalarText(x));
}

function renderValue(v: Value): string {
  if (typeof v !== 'object') return maybeQuote(scalarText(v));
  const texts = v.entries.flatMap(([k, x]): Array<[string, string]> => {
    const text = entryText(x);
    return text === undefined ? [] : [[k, text]];
  });
  if (v.legacy) return `[\n${texts.map(([k, text]) => `  ${k}=${maybeQuote(text)}`).join(',\n')} ]`;
  return `[${texts.map(([k, text]) => `${k}=${quote(text)}`).join(', ')}]`;
}

/** The template as a probe prints it: one `KEY=VALUE` a line. */
export function renderTemplate(t: Template): string {
  return t.map(([k, v]) => (typeof v === 'object' || carriable(scalarText(v)) ? `${k}=${renderValue(v)}\n` : '')).join('');
}

export type Json = string | number | Json[] | { [key: string]: Json };

/** The same template as plain data: repeated keys become arrays, nested templates objects. */
export function templateToJson(t: Template): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  const add = (obj: { [key: string]: Json }, key: string, value: Json, repeatable: boolean) => {
    const prev = obj[key];
    if (prev === undefined) obj[key] = repeatable ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else obj[key] = [prev, value];
  };
  const repeated = new Set(t.filter(([, v]) => typeof v === 'object').map(([k]) => k));
  for (const [k, v] of t) {
    if (typeof v !== 'object') add(out, k, v, false);
    else {
      const obj: { [key: string]: Json } = {};
      for (const [ek, ev] of v.entries) obj[ek] = typeof ev === 'object' ? templateToJson(ev.template) : ev;
      add(out, k, obj, repeated.has(k));
    }
  }
  return out;
}
