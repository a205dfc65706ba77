/**
 * The rest-hook channel: one POST to the Subscription's endpoint, signed, with a timeout. The
 * connection goes to an address checked at this moment (endpoint.ts), resolved once, so a
 * name can't resolve to a public address for the check and to an inner one for the request.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import { resolveEndpoint, type EndpointRules } from './endpoint.js';

export const SIGNATURE_HEADER = 'x-subscription-signature';

/** `sha256=` and the hex HMAC-SHA256 of the body's bytes under the subscription's secret. */
export function signature(secret: string, body: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface HookRequest {
  endpoint: string;
  body: Buffer;
  headers: Record<string, string>;
  timeoutMs: number;
  rules: EndpointRules;
  signal?: AbortSignal;
}

/** Resolves with the response status; rejects on a refused endpoint, network error or timeout. */
export async function postHook(request: HookRequest): Promise<number> {
  const url = new URL(request.endpoint);
  const address = await resolveEndpoint(url, request.rules);
  const family = isIP(address);
  const lookup: LookupFunction = (_host, options, done) => {
    if ((options as { all?: boolean }).all) {
      (done as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address, family },
      ]);
    } else done(null, address, family);
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<number>((resolve, reject) => {
    const req = client.request(
      url,
      {
        method: 'POST',
        lookup,
        headers: { ...request.headers, 'content-length': String(request.body.length) },
        timeout: request.timeoutMs,
        signal: request.signal,
      },
      (res) => {
        res.resume(); // the body is not read; only the status counts
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => req.destroy(new Error('timed out')), request.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(request.body);
  });
}
