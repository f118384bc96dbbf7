// OpenNebula template text, as probes print it, from a small typed model.
// The same model renders as JSON for `--format json`.

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

const scalarText = (v: Scalar): string => (typeof v === 'number' ? formatNumber(v) : v.replace(/[\r\n]+/g, ' '));

/** Double-quoted, with backslashes and quotes escaped the way OpenNebula's template parser reads them. */
export const quote = (text: string): string => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

const SAFE = /^[A-Za-z0-9_.:/+@-]+$/;
/** Quoted only when needed (spaces, quotes, brackets, empty). */
export const maybeQuote = (text: string): string => (SAFE.test(text) ? text : quote(text));

/** Text of a template whose every value is quoted: the body of a MONITOR attribute. */
export function monitorText(t: Template): string {
  return t.map(([k, v]) => `${k}=${quote(typeof v === 'object' ? renderValue(v) : scalarText(v))}\n`).join('');
}

export const toBase64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** `K=V K=V`: the 4.x POLL string. Its values cannot hold spaces or quotes, so those become `_`. */
export function pollText(t: Template): string {
  return t
    .map(([k, v]) => `${k}=${(typeof v === 'object' ? renderValue(v) : scalarText(v)).replace(/[\s"'\\]+/g, '_')}`)
    .join(' ');
}

function nestedText(n: Nested): string {
  return n.kind === 'base64' ? toBase64(monitorText(n.template)) : pollText(n.template);
}

function renderValue(v: Value): string {
  if (typeof v !== 'object') return maybeQuote(scalarText(v));
  if (v.legacy) {
    const lines = v.entries.map(([k, x]) => {
      const text = typeof x === 'object' ? quote(nestedText(x)) : maybeQuote(scalarText(x));
      return `  ${k}=${text}`;
    });
    return `[\n${lines.join(',\n')} ]`;
  }
  const parts = v.entries.map(([k, x]) => `${k}=${quote(typeof x === 'object' ? nestedText(x) : scalarText(x))}`);
  return `[${parts.join(', ')}]`;
}

/** The template as a probe prints it: one `KEY=VALUE` a line. */
export function renderTemplate(t: Template): string {
  return t.map(([k, v]) => `${k}=${renderValue(v)}\n`).join('');
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
