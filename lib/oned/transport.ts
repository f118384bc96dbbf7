// HTTP POST of one XML-RPC document to oned with node's own http/https (no
// dependency). Every failure becomes a CloudvampError('oned') that names the
// endpoint and what to check; the session string never appears in messages.

import http from 'node:http';
import https from 'node:https';
import { CloudvampError } from '../errors';

export interface PostOptions {
  /** Whole-request deadline. oned answers pool dumps of thousands of VMs in seconds, not minutes. */
  timeoutMs: number;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

const endpointHint = 'check ONE_XMLRPC / endpoint in the config';

/** Resolves with the response body of a 200 reply; anything else rejects with CloudvampError('oned'). */
export function postXml(endpoint: string, body: string, options: PostOptions = { timeoutMs: DEFAULT_TIMEOUT_MS }): Promise<string> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return Promise.reject(new CloudvampError('oned', `'${endpoint}' is not a URL — ${endpointHint} (e.g. http://frontend:2633/RPC2)`));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(new CloudvampError('oned', `oned endpoint ${endpoint} must be http:// or https:// — ${endpointHint}`));
  }
  const shown = `${url.protocol}//${url.host}${url.pathname}`;
  const client = url.protocol === 'https:' ? https : http;

  return new Promise<string>((resolve, reject) => {
    let settled = false;
    const fail = (error: CloudvampError) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      request.destroy();
      reject(error);
    };
    const request = client.request(
      url,
      {
        method: 'POST',
        headers: { 'Content-Type': 'text/xml; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Accept: 'text/xml' },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error) => fail(new CloudvampError('oned', `reply from oned at ${shown} broke off: ${error.message}`, { cause: error })));
        response.on('end', () => {
          if (settled) return;
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode !== 200) {
            fail(
              new CloudvampError(
                'oned',
                `oned at ${shown} answered HTTP ${response.statusCode ?? '?'} ${response.statusMessage ?? ''} — is this oned's XML-RPC endpoint (usually http://frontend:2633/RPC2)? ${endpointHint}`,
              ),
            );
            return;
          }
          settled = true;
          clearTimeout(deadline);
          resolve(text);
        });
      },
    );
    const deadline = setTimeout(
      () => fail(new CloudvampError('oned', `oned at ${shown} did not answer within ${Math.round(options.timeoutMs / 1000)} s — is oned running and the front-end reachable? ${endpointHint}`)),
      options.timeoutMs,
    );
    request.on('error', (error: NodeJS.ErrnoException) => {
      const detail = error.code && !error.message.includes(error.code) ? `${error.code} ${error.message}` : error.message;
      fail(new CloudvampError('oned', `cannot reach oned at ${shown}: ${detail} — ${endpointHint}`, { cause: error }));
    });
    request.end(body);
  });
}
