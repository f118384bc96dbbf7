// A strict, tiny XML reader for XML-RPC messages. XML-RPC uses a handful of
// elements and no namespaces, so a hand-written reader is smaller than
// configuring a general parser, rejects malformed input (fast-xml-parser
// accepts unclosed tags) and decodes numeric character references, which
// strings need for `\r` and which general parsers often leave alone.
// Pure: text in, tree out.

export interface XmlElement {
  name: string;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

export class XmlSyntaxError extends Error {
  constructor(message: string, offset: number) {
    super(`${message} at offset ${offset}`);
    this.name = 'XmlSyntaxError';
  }
}

// Sticky, so matching at a position does not copy the rest of a large pool dump.
const NAME = /[A-Za-z_:][-A-Za-z0-9_.:]*/y;
const nameAt = (xml: string, at: number): string | undefined => {
  NAME.lastIndex = at;
  return NAME.exec(xml)?.[0];
};

export function decodeXmlText(raw: string, offset = 0): string {
  const text = normaliseLineEnds(raw);
  let at = text.indexOf('&');
  if (at < 0) return text;
  // A pool dump arrives as one escaped string of tens of MB with millions of
  // entities: a byte loop decodes it ten times faster than string pieces (and
  // a regex callback per entity took seconds at 10,000 VMs).
  if (text.length >= LARGE) {
    const fast = decodePredefinedBytes(text);
    if (fast !== undefined) return fast;
  }
  const parts: string[] = [];
  let last = 0;
  while (at >= 0) {
    parts.push(text.slice(last, at));
    const end = text.indexOf(';', at);
    const gap = text.slice(at + 1, end < 0 ? text.length : end);
    if (end < 0 || /[&\s]/.test(gap)) throw new XmlSyntaxError(`unterminated entity '&${gap.split(/[&\s]/)[0]!.slice(0, 20)}'`, offset);
    parts.push(entityText(gap, offset));
    last = end + 1;
    at = text.indexOf('&', last);
  }
  parts.push(text.slice(last));
  return parts.join('');
}

const LARGE = 65_536;
const AMP = 38;
const SEMI = 59;

/** `text` with the five predefined entities decoded, or undefined when it holds any other reference (or a bad one). */
function decodePredefinedBytes(text: string): string | undefined {
  const src = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(src.length);
  let j = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c !== AMP) {
      out[j++] = c;
      continue;
    }
    const a = src[i + 1];
    const b = src[i + 2];
    const d = src[i + 3];
    if (d === SEMI && b === 0x74 && (a === 0x6c || a === 0x67)) {
      out[j++] = a === 0x6c ? 0x3c : 0x3e; // &lt; &gt;
      i += 3;
    } else if (a === 0x61 && b === 0x6d && d === 0x70 && src[i + 4] === SEMI) {
      out[j++] = AMP; // &amp;
      i += 4;
    } else if (src[i + 5] === SEMI && ((a === 0x71 && b === 0x75 && d === 0x6f && src[i + 4] === 0x74) || (a === 0x61 && b === 0x70 && d === 0x6f && src[i + 4] === 0x73))) {
      out[j++] = a === 0x71 ? 0x22 : 0x27; // &quot; &apos;
      i += 5;
    } else return undefined;
  }
  return out.toString('utf8', 0, j);
}

function entityText(entity: string, offset: number): string {
  switch (entity) {
    case 'lt':
      return '<';
    case 'gt':
      return '>';
    case 'amp':
      return '&';
    case 'quot':
      return '"';
    case 'apos':
      return "'";
  }
  const match = `&${entity};`;
  if (entity.startsWith('#x') || entity.startsWith('#X')) return codePoint(entity.slice(2), 16, match, offset);
  if (entity.startsWith('#')) return codePoint(entity.slice(1), 10, match, offset);
  throw new XmlSyntaxError(`unknown entity '${match}'`, offset);
}

/** XML parsers must turn CRLF and lone CR into LF (XML 1.0 §2.11); a real CR travels as `&#13;`. */
const normaliseLineEnds = (raw: string): string => (raw.includes('\r') ? raw.replace(/\r\n?/g, '\n') : raw);

function codePoint(digits: string, radix: number, match: string, offset: number): string {
  const valid = radix === 16 ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/;
  const value = valid.test(digits) ? parseInt(digits, radix) : NaN;
  if (!Number.isFinite(value) || value > 0x10ffff) throw new XmlSyntaxError(`bad character reference '${match}'`, offset);
  return String.fromCodePoint(value);
}

/**
 * What the reader builds as it goes: `open` for each start tag (under its
 * parent), `text` for each piece of text or CDATA inside an element (decoded,
 * line ends normalised), `close` when the element ends (at once for `<X/>`).
 * The XML-RPC envelope takes the element tree (parseXmlDocument); oned's pool
 * dumps of thousands of VMs build their own shape straight away, without a
 * whole tree in between for the garbage collector (lib/oned/models.ts).
 */
export interface XmlBuilder<E> {
  open(name: string, parent: E | undefined): E;
  text(element: E, text: string): void;
  close(element: E, parent: E | undefined): void;
}

const treeBuilder: XmlBuilder<XmlElement> = {
  open(name, parent) {
    const element: XmlElement = { name, children: [] };
    parent?.children.push(element);
    return element;
  },
  text: (element, text) => void element.children.push(text),
  close: () => undefined,
};

/** Parses one document into its root element; text between elements is kept verbatim (XML-RPC strings need their spaces). */
export function parseXmlDocument(xml: string): XmlElement {
  return readXml(xml, treeBuilder);
}

/** Reads one document strictly (see the file comment) through `builder`; returns what it built for the root element. */
export function readXml<E>(xml: string, builder: XmlBuilder<E>): E {
  let pos = 0;
  const stack: E[] = [];
  const names: string[] = [];
  let root: E | undefined;

  const skipMisc = () => {
    for (;;) {
      while (pos < xml.length && /\s/.test(xml[pos]!)) pos++;
      if (xml.startsWith('<?', pos)) pos = expectEnd('?>', 'processing instruction');
      else if (xml.startsWith('<!--', pos)) pos = expectEnd('-->', 'comment');
      else return;
    }
  };
  const expectEnd = (terminator: string, what: string): number => {
    const end = xml.indexOf(terminator, pos);
    if (end < 0) throw new XmlSyntaxError(`unterminated ${what}`, pos);
    return end + terminator.length;
  };

  skipMisc();
  if (xml.startsWith('<!DOCTYPE', pos)) throw new XmlSyntaxError('DOCTYPE is not allowed in XML-RPC', pos);
  while (pos < xml.length) {
    const top = stack[stack.length - 1];
    if (!top) {
      if (root) {
        skipMisc();
        if (pos < xml.length) throw new XmlSyntaxError('content after the root element', pos);
        break;
      }
      if (xml[pos] !== '<') throw new XmlSyntaxError('expected the root element', pos);
    }
    if (xml.startsWith('<![CDATA[', pos)) {
      const end = xml.indexOf(']]>', pos);
      if (end < 0) throw new XmlSyntaxError('unterminated CDATA section', pos);
      builder.text(top!, normaliseLineEnds(xml.slice(pos + 9, end)));
      pos = end + 3;
    } else if (xml.startsWith('<!--', pos)) {
      pos = expectEnd('-->', 'comment');
    } else if (xml.startsWith('<?', pos)) {
      pos = expectEnd('?>', 'processing instruction');
    } else if (xml.startsWith('</', pos)) {
      const name = nameAt(xml, pos + 2);
      // `</NAME>` as oned writes it needs no search (a pool dump has a million of them)
      const close = !name ? -1 : xml.charCodeAt(pos + 2 + name.length) === GT ? pos + 2 + name.length : xml.indexOf('>', pos);
      if (!name || close < 0 || xml.slice(pos + 2 + name.length, close).trim() !== '') throw new XmlSyntaxError('bad closing tag', pos);
      const open = names.pop();
      if (open !== name) throw new XmlSyntaxError(`closing tag </${name}> does not match <${open ?? ''}>`, pos);
      const element = stack.pop()!;
      builder.close(element, stack[stack.length - 1]);
      pos = close + 1;
    } else if (xml[pos] === '<') {
      const name = nameAt(xml, pos + 1);
      if (!name) throw new XmlSyntaxError('bad tag', pos);
      const after = pos + 1 + name.length;
      const close = xml.charCodeAt(after) === GT ? after : findTagEnd(xml, pos);
      const selfClosing = xml[close - 1] === '/';
      const element = builder.open(name, top);
      if (top === undefined) root = element;
      if (selfClosing) builder.close(element, top);
      else {
        stack.push(element);
        names.push(name);
      }
      pos = close + 1;
    } else {
      const next = xml.indexOf('<', pos);
      const end = next < 0 ? xml.length : next;
      builder.text(top!, decodeXmlText(xml.slice(pos, end), pos));
      pos = end;
    }
  }
  if (stack.length > 0 || root === undefined) throw new XmlSyntaxError(`unclosed element <${names[names.length - 1] ?? '?'}>`, pos);
  return root;
}

const GT = 0x3e;

/** End of a start tag, skipping quoted attribute values (which may contain '>'). */
function findTagEnd(xml: string, start: number): number {
  let quote: string | undefined;
  for (let i = start + 1; i < xml.length; i++) {
    const c = xml[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '>') return i;
    else if (c === '<') break;
  }
  throw new XmlSyntaxError('unterminated tag', start);
}

export const childElements = (element: XmlElement): XmlElement[] =>
  element.children.filter((child): child is XmlElement => typeof child !== 'string');

/** All text directly inside the element (CDATA included). */
export const textOf = (element: XmlElement): string =>
  element.children.filter((child): child is string => typeof child === 'string').join('');

/** Characters allowed in XML 1.0 documents. */
const XML_CHAR = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;
export const isXmlText = (text: string): boolean => XML_CHAR.test(text);

/** Escapes text content. `\r` becomes a reference because XML parsers turn a literal CR into LF. */
export function escapeXmlText(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return text;
  // A pool dump is one string of tens of MB: a byte loop instead of a callback per character.
  if (text.length >= LARGE) return escapeBytes(text);
  return text.replace(/[&<>\r]/g, (c) => ESCAPES[c]!);
}
const NEEDS_ESCAPE = /[&<>\r]/;
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' };

const ESCAPE_BYTES: Record<number, Buffer> = { [AMP]: Buffer.from('&amp;'), 0x3c: Buffer.from('&lt;'), [GT]: Buffer.from('&gt;'), 0x0d: Buffer.from('&#13;') };

function escapeBytes(text: string): string {
  const src = Buffer.from(text, 'utf8');
  let extra = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === AMP) extra += 4;
    else if (c === 0x3c || c === GT) extra += 3;
    else if (c === 0x0d) extra += 4;
  }
  const out = Buffer.allocUnsafe(src.length + extra);
  let j = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c !== AMP && c !== 0x3c && c !== GT && c !== 0x0d) {
      out[j++] = c;
      continue;
    }
    const escape = ESCAPE_BYTES[c]!;
    for (let k = 0; k < escape.length; k++) out[j++] = escape[k]!;
  }
  return out.toString('utf8', 0, j);
}

/** Compact serialisation (as oned writes its documents); attributes are not modelled. */
export function serializeXmlElement(element: XmlElement): string {
  if (element.children.length === 0) return `<${element.name}/>`;
  const inner = element.children.map((child) => (typeof child === 'string' ? escapeXmlText(child) : serializeXmlElement(child))).join('');
  return `<${element.name}>${inner}</${element.name}>`;
}
