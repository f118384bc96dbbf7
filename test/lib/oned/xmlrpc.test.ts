import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isXmlText } from '../../../lib/oned/xml-tree';
import { parseMethodCall, serializeFault, serializeMethodResponse } from '../../support/xmlrpc-server';
import {
  encodeValue,
  parseMethodResponse,
  serializeMethodCall,
  XmlRpcDouble,
  XmlRpcFault,
  XmlRpcFormatError,
  XmlRpcI8,
  type XmlRpcValue,
} from '../../../lib/oned/xmlrpc';
import { ONED_FIXTURE_DIR } from '../../support/oned-server';

const fixture = (name: string) => readFileSync(ONED_FIXTURE_DIR + name, 'utf8');

const xmlString = fc.string({ unit: 'binary' }).filter(isXmlText);

/** Values exactly as decoding produces them, so decode(encode(v)) must give v back. */
const { value: decodedValue } = fc.letrec<{ value: XmlRpcValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).filter((n) => n < BigInt(Number.MIN_SAFE_INTEGER) || n > BigInt(Number.MAX_SAFE_INTEGER)),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
    fc.boolean(),
    xmlString,
    fc.constant(null),
    fc.date({ noInvalidDate: true, min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z') }).map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000)),
    fc.uint8Array({ maxLength: 64 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(xmlString, tie('value'), { maxKeys: 4 }),
  ),
}));

const responseOf = (xml: string) => parseMethodResponse(xml);

describe('XML-RPC values', () => {
  it('round-trips every value through a response', () => {
    fc.assert(
      fc.property(decodedValue, (value) => {
        expect(responseOf(serializeMethodResponse(value))).toEqual(value);
      }),
    );
  });

  it('round-trips every parameter list through a call', () => {
    fc.assert(
      fc.property(fc.array(decodedValue, { maxLength: 5 }), (params) => {
        expect(parseMethodCall(serializeMethodCall('one.vm.update', params))).toEqual({ method: 'one.vm.update', params });
      }),
    );
  });

  it('keeps strings with markup, entities, CR and surrounding spaces intact', () => {
    const tricky = ' <a href="x">&amp;</a>\r\n"quoted" \'single\' ]]> \t';
    const xml = serializeMethodCall('m', [tricky]);
    expect(xml).not.toContain('<a href');
    expect(parseMethodCall(xml).params).toEqual([tricky]);
  });

  it('encodes integers by size and honours the i8/double hints', () => {
    expect(encodeValue(7)).toBe('<value><int>7</int></value>');
    expect(encodeValue(2 ** 31)).toBe('<value><i8>2147483648</i8></value>');
    expect(encodeValue(new XmlRpcI8(0))).toBe('<value><i8>0</i8></value>');
    expect(encodeValue(new XmlRpcDouble(3))).toBe('<value><double>3</double></value>');
    expect(encodeValue(1.5)).toBe('<value><double>1.5</double></value>');
    expect(encodeValue(1e21)).toBe('<value><double>1000000000000000000000.0</double></value>');
    expect(encodeValue(1.5e-7)).toBe('<value><double>0.00000015</double></value>');
    expect(encodeValue(true)).toBe('<value><boolean>1</boolean></value>');
    expect(encodeValue(null)).toBe('<value><nil/></value>');
    expect(encodeValue(new Date('2026-01-02T03:04:05Z'))).toBe('<value><dateTime.iso8601>20260102T03:04:05</dateTime.iso8601></value>');
    expect(encodeValue(new Uint8Array([1, 2, 3]))).toBe('<value><base64>AQID</base64></value>');
  });

  it('refuses what XML-RPC cannot carry', () => {
    expect(() => encodeValue(Number.NaN)).toThrow(XmlRpcFormatError);
    expect(() => encodeValue(Infinity)).toThrow(/no representation/);
    expect(() => encodeValue('bell\u0007')).toThrow(/characters XML cannot carry/);
    expect(() => encodeValue(2n ** 63n)).toThrow(/64-bit/);
    expect(() => serializeMethodCall('bad name<', [])).toThrow(/method name/);
  });

  it('writes exactly this methodCall for one.vm.migrate', () => {
    expect(serializeMethodCall('one.vm.migrate', ['oneadmin:p&ss<', 42, 1, true, false, -1, 0])).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<methodCall><methodName>one.vm.migrate</methodName><params>' +
        '<param><value><string>oneadmin:p&amp;ss&lt;</string></value></param>' +
        '<param><value><int>42</int></value></param><param><value><int>1</int></value></param>' +
        '<param><value><boolean>1</boolean></value></param><param><value><boolean>0</boolean></value></param>' +
        '<param><value><int>-1</int></value></param><param><value><int>0</int></value></param>' +
        '</params></methodCall>\n',
    );
  });
});

describe('XML-RPC responses', () => {
  it("parses oned's failure reply with its <i8> replication index (fixture)", () => {
    expect(responseOf(fixture('xmlrpc-reply-failure-i8.xml'))).toEqual([
      false,
      '[one.vm.migrate] Host 1 does not have enough capacity: Not enough memory: requested 4194304 KB, available 3945664 KB',
      0x800,
      -1,
      0,
    ]);
  });

  it('parses the same reply with CRLF line ends, as xmlrpc-c writes them', () => {
    expect(responseOf(fixture('xmlrpc-reply-failure-i8.xml').replace(/\n/g, '\r\n'))).toEqual(responseOf(fixture('xmlrpc-reply-failure-i8.xml')));
  });

  it('parses a success reply (fixture)', () => {
    expect(responseOf(fixture('xmlrpc-reply-success-update.xml'))).toEqual([true, 42, 0]);
  });

  it('turns <fault> into XmlRpcFault (fixture)', () => {
    expect(() => responseOf(fixture('xmlrpc-reply-fault-unknown-method.xml'))).toThrow(XmlRpcFault);
    try {
      responseOf(serializeFault(-506, "Method 'x' not defined"));
    } catch (error) {
      expect(error).toMatchObject({ faultCode: -506, faultString: "Method 'x' not defined" });
    }
  });

  it('accepts the variants other servers send', () => {
    const wrap = (inner: string) => `<methodResponse><params><param><value>${inner}</value></param></params></methodResponse>`;
    expect(responseOf(wrap('  untyped text  '))).toBe('  untyped text  ');
    expect(responseOf(wrap(''))).toBe('');
    expect(responseOf(wrap('<string/>'))).toBe('');
    expect(responseOf(wrap('<i4> 12 </i4>'))).toBe(12);
    expect(responseOf(wrap('<ex:i8>9007199254740993</ex:i8>'))).toBe(9007199254740993n);
    expect(responseOf(wrap('<ex:nil/>'))).toBeNull();
    expect(responseOf(wrap('<double>-1.5E3</double>'))).toBe(-1500);
    expect(responseOf(wrap('<string><![CDATA[<VM><ID>1</ID></VM>]]></string>'))).toBe('<VM><ID>1</ID></VM>');
    expect(responseOf(wrap('<string>a&#13;b&#x263A;</string>'))).toBe('a\rb\u263a');
    expect(responseOf(wrap('<dateTime.iso8601>2026-01-02T03:04:05+01:00</dateTime.iso8601>'))).toEqual(new Date('2026-01-02T02:04:05Z'));
    expect(responseOf(wrap('<base64>AQ\nID</base64>'))).toEqual(new Uint8Array([1, 2, 3]));
    expect(responseOf(wrap('<struct><member><name>__proto__</name><value>x</value></member></struct>'))).toEqual(
      Object.defineProperty({}, '__proto__', { value: 'x', enumerable: true, writable: true, configurable: true }),
    );
  });

  it('rejects malformed or out-of-range replies with XmlRpcFormatError', () => {
    const wrap = (inner: string) => `<methodResponse><params><param><value>${inner}</value></param></params></methodResponse>`;
    for (const bad of [
      wrap('<int>2147483648</int>'),
      wrap('<i8>9223372036854775808</i8>'),
      wrap('<int>1.5</int>'),
      wrap('<boolean>true</boolean>'),
      wrap('<double>abc</double>'),
      wrap('<mystery>1</mystery>'),
      wrap('<string>unterminated &amp</string>'),
      '<methodResponse><params><param><value><int>1</int></value></param></params>',
      '<html><body>502 Bad Gateway</body></html>',
      '<!DOCTYPE methodResponse [<!ENTITY x "y">]><methodResponse/>',
      '',
    ]) {
      expect(() => responseOf(bad), bad).toThrow(XmlRpcFormatError);
    }
  });
});
