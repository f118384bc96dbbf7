// The server side of XML-RPC (reading calls, writing responses and faults),
// used only by the oned simulator (oned-server.ts): cloudvamp itself is a
// client, and lib/oned/xmlrpc.ts keeps only what a client needs.
import { childElements, textOf } from '../../lib/oned/xml-tree';
import { decodeValue, encodeValue, parseRoot, single, XmlRpcFormatError, type XmlRpcEncodable, type XmlRpcValue } from '../../lib/oned/xmlrpc';

export function serializeMethodResponse(value: XmlRpcEncodable): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse><params><param>${encodeValue(value)}</param></params></methodResponse>\n`;
}

export function serializeFault(faultCode: number, faultString: string): string {
  const fault = encodeValue({ faultCode, faultString });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse><fault>${fault}</fault></methodResponse>\n`;
}


export interface MethodCall {
  method: string;
  params: XmlRpcValue[];
}

export function parseMethodCall(xml: string): MethodCall {
  const root = parseRoot(xml, 'methodCall');
  const parts = childElements(root);
  const name = parts.find((p) => p.name === 'methodName');
  if (!name) throw new XmlRpcFormatError('<methodCall> has no <methodName>');
  const params = parts.find((p) => p.name === 'params');
  const values = params ? childElements(params).map((param) => decodeValue(single(param, 'value', 'param'))) : [];
  return { method: textOf(name).trim(), params: values };
}

