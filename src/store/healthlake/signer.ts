/**
 * SigV4 for the HealthLake data plane. The query travels to the signer as `query` (not inside
 * `path`) and onto the wire encoded the same RFC 3986 way the signer canonicalises it, so what
 * is signed is exactly what is sent.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

export type Credentials = AwsCredentialIdentity | AwsCredentialIdentityProvider;

/** RFC 3986 percent-encoding, as SigV4 canonicalises query names and values. */
export function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** `name=value&...` in the given order, each part encoded as the signer encodes it. */
export function wireQuery(params: [string, string][]): string {
  return params.map(([name, value]) => `${rfc3986(name)}=${rfc3986(value)}`).join('&');
}

/** The signer's form: repeated names become arrays, in order. */
function queryRecord(params: [string, string][]): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = {};
  for (const [name, value] of params) {
    const held = record[name];
    if (held === undefined) record[name] = value;
    else record[name] = Array.isArray(held) ? [...held, value] : [held, value];
  }
  return record;
}

export interface UnsignedRequest {
  method: string;
  url: URL;
  /** Path relative to the origin, already safe (ids are [A-Za-z0-9.-]). */
  path: string;
  query: [string, string][];
  headers: Record<string, string>;
  body: Buffer | undefined;
}

export interface HealthLakeSigner {
  sign(request: UnsignedRequest): Promise<Record<string, string>>;
}

/**
 * `credentials` absent: the standard provider chain (env, SSO, profile, web identity, ECS,
 * IMDS). The SDK memoizes it and fetches new credentials shortly before they expire, so
 * long-lived processes on temporary credentials keep signing.
 */
export function healthLakeSigner(region: string, credentials?: Credentials): HealthLakeSigner {
  const signer = new SignatureV4({
    service: 'healthlake',
    region,
    credentials: credentials ?? fromNodeProviderChain(),
    sha256: Sha256,
  });
  return {
    async sign(request) {
      const signed = await signer.sign(
        new HttpRequest({
          method: request.method,
          protocol: request.url.protocol,
          hostname: request.url.hostname,
          ...(request.url.port ? { port: Number(request.url.port) } : {}),
          path: request.path,
          query: queryRecord(request.query),
          headers: { ...request.headers, host: request.url.host },
          ...(request.body ? { body: request.body } : {}),
        }),
      );
      return signed.headers;
    },
  };
}
