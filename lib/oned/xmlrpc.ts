// XML-RPC values, calls and responses (http://xmlrpc.com/spec.md) plus the
// extensions oned's xmlrpc-c speaks: `<i8>` (oned puts one in every failure
// reply, PROTOCOL.md §4) and `<nil/>`. Pure functions, no I/O.

import { childElements, escapeXmlText, isXmlText, parseXmlDocument, textOf, XmlSyntaxError, type XmlElement } from './xml-tree';

/** What decoding produces. Integers beyond ±2^53 arrive as bigint. */
export type XmlRpcValue =
  | number
  | bigint
  | boolean
  | string
  | null
  | Date
  | Uint8Array
  | XmlRpcValue[]
  | XmlRpcStruct;
export interface XmlRpcStruct {
  [member: string]: XmlRpcValue;
}

/** Encoding hints: a plain number becomes `<int>` (or `<i8>` beyond 32 bits) when integral, `<double>` otherwise. */
export class XmlRpcI8 {
  constructor(readonly value: number | bigint) {}
}
export class XmlRpcDouble {
  constructor(readonly value: number) {}
}
export type XmlRpcEncodable =
  | Exclude<XmlRpcValue, XmlRpcValue[] | XmlRpcStruct>
  | XmlRpcI8
  | XmlRpcDouble
  | XmlRpcEncodable[]
  | { [member: string]: XmlRpcEncodable };

export class XmlRpcFormatError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'XmlRpcFormatError';
  }
}

/** A `<fault>` reply: the server refused the call itself (unknown method, wrong parameter types). */
export class XmlRpcFault extends Error {
  constructor(
    readonly faultCode: number,
    readonly faultString: string,
  ) {
    super(`XML-RPC fault ${faultCode}: ${faultString}`);
    this.name = 'XmlRpcFault';
  }
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// ---------------------------------------------------------------- encoding

export function encodeValue(value: XmlRpcEncodable): string {
  return `<value>${encodeInner(value)}</value>`;
}

function encodeInner(value: XmlRpcEncodable): string {
  if (value === null) return '<nil/>';
  switch (typeof value) {
    case 'boolean':
      return `<boolean>${value ? 1 : 0}</boolean>`;
    case 'string':
      if (!isXmlText(value)) throw new XmlRpcFormatError('string contains characters XML cannot carry (control characters or lone surrogates)');
      return `<string>${escapeXmlText(value)}</string>`;
    case 'bigint':
      return encodeI8(value);
    case 'number':
      if (Number.isInteger(value) && !Object.is(value, -0)) {
        if (value >= INT32_MIN && value <= INT32_MAX) return `<int>${value}</int>`;
        if (Number.isSafeInteger(value)) return `<i8>${value}</i8>`;
      }
      return encodeDouble(value);
    case 'object':
      break;
    default:
      throw new XmlRpcFormatError(`cannot encode a ${typeof value} as XML-RPC`);
  }
  if (value instanceof XmlRpcI8) return encodeI8(BigInt(value.value));
  if (value instanceof XmlRpcDouble) return encodeDouble(value.value);
  if (value instanceof Date) return `<dateTime.iso8601>${formatDateTime(value)}</dateTime.iso8601>`;
  if (value instanceof Uint8Array) return `<base64>${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')}</base64>`;
  if (Array.isArray(value)) return `<array><data>${value.map(encodeValue).join('')}</data></array>`;
  const members = Object.entries(value).map(([name, member]) => {
    if (!isXmlText(name)) throw new XmlRpcFormatError('struct member name contains characters XML cannot carry');
    return `<member><name>${escapeXmlText(name)}</name>${encodeValue(member)}</member>`;
  });
  return `<struct>${members.join('')}</struct>`;
}

function encodeI8(value: bigint): string {
  if (value < INT64_MIN || value > INT64_MAX) throw new XmlRpcFormatError(`${value} does not fit in a 64-bit <i8>`);
  return `<i8>${value}</i8>`;
}

function encodeDouble(value: number): string {
  if (!Number.isFinite(value)) throw new XmlRpcFormatError(`XML-RPC has no representation for ${value}`);
  // The spec has no exponent notation; toFixed cannot go beyond 100 digits, so
  // keep JS's shortest round-tripping form when it has no exponent and expand
  // it otherwise.
  const text = String(value);
  return `<double>${/e/i.test(text) ? expandExponent(value) : text}</double>`;
}

function expandExponent(value: number): string {
  if (Math.abs(value) >= 1) return BigInt(value).toString() + '.0';
  // Tiny magnitudes: 1e-7 → "0.0000001", exact for what String() printed.
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  return `${negative ? '-' : ''}0.${'0'.repeat(-exponent - 1)}${digits}`;
}

/** XML-RPC's dateTime.iso8601 has no zone; cloudvamp always means UTC. */
function formatDateTime(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new XmlRpcFormatError('cannot encode an invalid Date');
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `${pad(date.getUTCFullYear(), 4)}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`
  );
}

export function serializeMethodCall(method: string, params: readonly XmlRpcEncodable[]): string {
  if (!/^[A-Za-z0-9_.:/]+$/.test(method)) throw new XmlRpcFormatError(`'${method}' is not a valid XML-RPC method name`);
  const encoded = params.map((param) => `<param>${encodeValue(param)}</param>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<methodCall><methodName>${method}</methodName><params>${encoded}</params></methodCall>\n`;
}

// ---------------------------------------------------------------- decoding

/** Tag names without the `ex:` prefix Apache's extensions use (`<ex:i8>`, `<ex:nil/>`). */
const localName = (element: XmlElement) => element.name.replace(/^ex:/, '');

const onlyWhitespace = (element: XmlElement) => element.children.every((c) => typeof c !== 'string' || c.trim() === '');

export function single(element: XmlElement, name: string, where: string): XmlElement {
  const children = childElements(element);
  if (children.length !== 1 || children[0]!.name !== name || !onlyWhitespace(element)) {
    throw new XmlRpcFormatError(`expected exactly one <${name}> inside <${where}>`);
  }
  return children[0]!;
}

export function decodeValue(value: XmlElement): XmlRpcValue {
  if (value.name !== 'value') throw new XmlRpcFormatError(`expected <value>, found <${value.name}>`);
  const typed = childElements(value);
  // An untyped <value>text</value> is a string (spec), with its spaces.
  if (typed.length === 0) return textOf(value);
  if (typed.length > 1 || !onlyWhitespace(value)) throw new XmlRpcFormatError('a <value> holds more than one value');
  const inner = typed[0]!;
  const text = textOf(inner);
  switch (localName(inner)) {
    case 'int':
    case 'i4':
      return decodeInteger(text, localName(inner), INT32_MIN, INT32_MAX);
    case 'i8':
      return decodeInteger(text, 'i8', INT64_MIN, INT64_MAX);
    case 'boolean': {
      const trimmed = text.trim();
      if (trimmed === '1' || trimmed === '0') return trimmed === '1';
      throw new XmlRpcFormatError(`<boolean> must be 0 or 1, not '${trimmed}'`);
    }
    case 'double': {
      const trimmed = text.trim();
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed)) throw new XmlRpcFormatError(`'${trimmed}' is not a <double>`);
      return Number(trimmed);
    }
    case 'string':
      return text;
    case 'nil':
      return null;
    case 'base64':
      return decodeBase64(text);
    case 'dateTime.iso8601':
      return parseDateTime(text.trim());
    case 'array':
      return childElements(single(inner, 'data', 'array')).map(decodeValue);
    case 'struct':
      return decodeStruct(inner);
    default:
      throw new XmlRpcFormatError(`unknown XML-RPC type <${inner.name}>`);
  }
}

function decodeInteger(text: string, tag: string, min: number | bigint, max: number | bigint): number | bigint {
  const trimmed = text.trim();
  if (!/^[+-]?\d+$/.test(trimmed)) throw new XmlRpcFormatError(`'${trimmed}' is not an <${tag}>`);
  const big = BigInt(trimmed);
  if (big < BigInt(min) || big > BigInt(max)) throw new XmlRpcFormatError(`${trimmed} is out of range for <${tag}>`);
  const small = Number(big);
  // -0 cannot come out of an integer tag.
  return Number.isSafeInteger(small) ? small + 0 : big;
}

function decodeBase64(text: string): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) throw new XmlRpcFormatError('<base64> is not valid base64');
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

function parseDateTime(text: string): Date {
  // 19980717T14:08:55 (spec) or 1998-07-17T14:08:55[.sss][Z|±hh:mm] (ISO 8601 as some servers send it)
  const match = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(text);
  if (!match) throw new XmlRpcFormatError(`'${text}' is not a <dateTime.iso8601>`);
  const [, y, mo, d, h, mi, s, fraction, zone] = match;
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${s}${fraction ?? ''}${zone ? normaliseZone(zone) : 'Z'}`;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw new XmlRpcFormatError(`'${text}' is not a valid date`);
  return date;
}

const normaliseZone = (zone: string) => (zone === 'Z' ? zone : zone.replace(/^([+-]\d{2}):?(\d{2})$/, '$1:$2'));

function decodeStruct(struct: XmlElement): XmlRpcStruct {
  const result: XmlRpcStruct = {};
  for (const member of childElements(struct)) {
    if (member.name !== 'member') throw new XmlRpcFormatError(`unexpected <${member.name}> in <struct>`);
    const parts = childElements(member);
    const name = parts.find((p) => p.name === 'name');
    const value = parts.find((p) => p.name === 'value');
    if (!name || !value || parts.length !== 2) throw new XmlRpcFormatError('a struct <member> needs one <name> and one <value>');
    // defineProperty: a member called "__proto__" must stay a plain member.
    Object.defineProperty(result, textOf(name), { value: decodeValue(value), enumerable: true, writable: true, configurable: true });
  }
  return result;
}

/** The document's root element, which must be <expected> (also used by the simulator's server side, test/support/xmlrpc-server.ts). */
export function parseRoot(xml: string, expected: string): XmlElement {
  let root: XmlElement;
  try {
    root = parseXmlDocument(xml);
  } catch (error) {
    if (error instanceof XmlSyntaxError) throw new XmlRpcFormatError(`not well-formed XML: ${error.message}`, { cause: error });
    throw error;
  }
  if (root.name !== expected) throw new XmlRpcFormatError(`expected <${expected}>, found <${root.name}>`);
  return root;
}

/** The value of a successful response; throws XmlRpcFault for `<fault>` and XmlRpcFormatError for anything else. */
export function parseMethodResponse(xml: string): XmlRpcValue {
  const root = parseRoot(xml, 'methodResponse');
  const [body, ...rest] = childElements(root);
  if (!body || rest.length > 0) throw new XmlRpcFormatError('<methodResponse> must hold one <params> or one <fault>');
  if (body.name === 'fault') {
    const fault = decodeValue(single(body, 'value', 'fault'));
    const code = isStruct(fault) ? fault['faultCode'] : undefined;
    const text = isStruct(fault) ? fault['faultString'] : undefined;
    if (typeof code !== 'number' || typeof text !== 'string') throw new XmlRpcFormatError('<fault> needs an int faultCode and a string faultString');
    throw new XmlRpcFault(code, text);
  }
  if (body.name !== 'params') throw new XmlRpcFormatError(`unexpected <${body.name}> in <methodResponse>`);
  return decodeValue(single(single(body, 'param', 'params'), 'value', 'param'));
}

export function isStruct(value: XmlRpcValue | undefined): value is XmlRpcStruct {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date) && !(value instanceof Uint8Array);
}
