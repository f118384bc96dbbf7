// Records the real oned's replies to every call cloudvamp makes, scrubbed of
// host-specific values (every value becomes a placeholder of its kind: 1,
// 1.5 or x), as fixtures under test/fixtures/oned/real-7.4/replies/. The
// unit test test/lib/oned/real-replies.test.ts checks the simulator's
// replies have their shape. Called by cloud.test.ts with a running VM.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { postXml } from '../../lib/oned/transport.js';
import { parseMethodResponse, serializeMethodCall, type XmlRpcEncodable } from '../../lib/oned/xmlrpc.js';
import { ENDPOINT, REPO, SESSION } from '../harness/opennebula.js';
import { serializeMethodResponse } from '../support/xmlrpc-server.js';

export const REPLIES_DIR = path.join(REPO, 'test/fixtures/oned/real-7.4/replies');

const kind = (v: string) => (v.trim() === '' ? v : /^-?\d+$/.test(v.trim()) ? '1' : /^-?\d+\.\d+$/.test(v.trim()) ? '1.5' : 'x');

/**
 * Every text value (CDATA included) replaced by a placeholder of its kind;
 * elements kept, but the harness's own keys (CLOUDVAMP_TEST_*, e.g. the
 * marker probe of systemProbeNow) dropped: cloudvamp never sees them.
 */
export function scrubDocument(xml: string): string {
  return xml
    .replace(/<(CLOUDVAMP_TEST_[A-Z_]+)>[\s\S]*?<\/\1>/g, '')
    .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, (_m, v: string) => `<![CDATA[${kind(v)}]]>`)
    .replace(/>([^<>]+)</g, (_m, v: string) => `>${kind(v)}<`);
}

/** A MONITORING_DATA document reduced to the records of one VM. */
export function onlyVmMonitoring(xml: string, vmId: number): string {
  const id = new RegExp(`<ID>(?:<!\\[CDATA\\[)?${vmId}(?:\\]\\]>)?</ID>`);
  return xml.replace(/<MONITORING>[\s\S]*?<\/MONITORING>/g, (record) => (id.test(record) ? record : ''));
}

/** The calls cloudvamp makes (lib/oned/client.ts), with the arguments it passes. */
export function cloudvampCalls(vmId: number, hostId: number): Array<[string, string, XmlRpcEncodable[]]> {
  return [
    ['one.system.version', 'system-version', []],
    ['one.vmpool.infoextended', 'vmpool-infoextended', [-2, -1, -1, -1]],
    ['one.vmpool.monitoring', 'vmpool-monitoring', [-2, 0]],
    ['one.hostpool.info', 'hostpool-info', []],
    ['one.host.info', 'host-info', [hostId]],
    ['one.vm.info', 'vm-info', [vmId]],
    ['one.vm.update', 'vm-update', [vmId, 'CLOUDVAMP_RECORDED="yes"', 1]],
    ['one.host.update', 'host-update', [hostId, 'CLOUDVAMP_RECORDED="yes"', 1]],
    ['one.vm.resize', 'vm-resize', [vmId, 'MEMORY=192', false]],
  ];
}

export async function recordRealReplies(vmId: number, hostId: number): Promise<string[]> {
  await mkdir(REPLIES_DIR, { recursive: true });
  const written: string[] = [];
  for (const [method, file, params] of cloudvampCalls(vmId, hostId)) {
    const reply = parseMethodResponse(await postXml(ENDPOINT, serializeMethodCall(method, [SESSION, ...params]), { timeoutMs: 30_000 }));
    if (!Array.isArray(reply) || reply[0] !== true) throw new Error(`${method} failed while recording: ${JSON.stringify(reply)}`);
    const [ok, raw, code] = reply as [boolean, unknown, number];
    // the monitoring pool holds every VM oned still has records of: keep the
    // recorded VM's alone, so the fixture does not depend on what ran before
    const body = file === 'vmpool-monitoring' && typeof raw === 'string' ? onlyVmMonitoring(raw, vmId) : raw;
    const scrubbed = typeof body === 'string' && body.startsWith('<') ? scrubDocument(body) : typeof body === 'string' ? 'x' : 1;
    const f = path.join(REPLIES_DIR, `${file}.xml`);
    await writeFile(f, serializeMethodResponse([ok, scrubbed, code]));
    written.push(f);
  }
  return written;
}
