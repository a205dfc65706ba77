import { createHash, timingSafeEqual } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * Verifies AWS Signature Version 4 (Authorization header form) the way an AWS front door does,
 * for emulators that must refuse what AWS would refuse. It recomputes the signature with
 * @smithy/signature-v4 — the signer the SDK clients use — from the request as it arrived on the
 * wire, so a client that signs anything other than what it sends is caught. Reusable: the
 * service name is a parameter.
 */

export interface CapturedRequest {
  method: string;
  /** The path exactly as received (still percent-encoded), without the query. */
  path: string;
  /** The raw query string, without the leading '?'; '' when there is none. */
  query: string;
  /** Lowercased names, as node:http gives them. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface VerifyOptions {
  /** The signing name the client must have used (e.g. 'chime', 'healthlake'). */
  service: string;
  /** Absent: any region the request names. */
  region?: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** The verifier's clock; default now. */
  now?: Date;
  /** How far x-amz-date may be from `now`; AWS allows 15 minutes. */
  maxSkewMs?: number;
}

/** AWS's error codes for each way a signature fails, which emulators send back. */
export type SigV4ErrorCode =
  | 'MissingAuthenticationTokenException'
  | 'IncompleteSignatureException'
  | 'UnrecognizedClientException'
  | 'InvalidSignatureException';

export type VerifyResult =
  { ok: true; accessKeyId: string } | { ok: false; code: SigV4ErrorCode; reason: string };

const ALGORITHM = 'AWS4-HMAC-SHA256';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;

export async function verifySigV4(
  request: CapturedRequest,
  options: VerifyOptions,
): Promise<VerifyResult> {
  const fail = (code: SigV4ErrorCode, reason: string): VerifyResult => ({
    ok: false,
    code,
    reason,
  });
  const header = (name: string): string | undefined => {
    const v = request.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };

  const authorization = header('authorization');
  if (!authorization) {
    if (/(^|&)X-Amz-Signature=/i.test(request.query)) {
      return fail(
        'IncompleteSignatureException',
        'query-string (presigned) signatures are not accepted',
      );
    }
    return fail('MissingAuthenticationTokenException', 'Missing Authentication Token');
  }
  const auth = parseAuthorization(authorization);
  if (typeof auth === 'string') return fail('IncompleteSignatureException', auth);
  const { accessKeyId, scopeDate, region, service, signedHeaders, signature } = auth;

  if (accessKeyId !== options.credentials.accessKeyId) {
    return fail(
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    );
  }
  const token = header('x-amz-security-token');
  if (token !== options.credentials.sessionToken) {
    return fail(
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    );
  }
  if (service !== options.service) {
    return fail(
      'InvalidSignatureException',
      `Credential should be scoped to correct service: '${options.service}'.`,
    );
  }
  if (options.region !== undefined && region !== options.region) {
    return fail(
      'InvalidSignatureException',
      `Credential should be scoped to a valid region, not '${region}'.`,
    );
  }

  const amzDate = header('x-amz-date');
  const signedAt = amzDate ? parseAmzDate(amzDate) : undefined;
  if (!amzDate || !signedAt) {
    return fail(
      'IncompleteSignatureException',
      'x-amz-date is missing or not an ISO 8601 basic date-time',
    );
  }
  if (amzDate.slice(0, 8) !== scopeDate) {
    return fail(
      'InvalidSignatureException',
      'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.',
    );
  }
  const now = options.now ?? new Date();
  const skew = signedAt.getTime() - now.getTime();
  if (Math.abs(skew) > (options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS)) {
    return fail(
      'InvalidSignatureException',
      skew < 0
        ? `Signature expired: ${amzDate} is now earlier than the allowed skew`
        : `Signature not yet current: ${amzDate} is still later than the allowed skew`,
    );
  }

  for (const required of ['host', 'x-amz-date']) {
    if (!signedHeaders.includes(required)) {
      return fail('InvalidSignatureException', `'${required}' must be a signed header`);
    }
  }
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = header(name);
    if (value === undefined) {
      return fail('InvalidSignatureException', `signed header '${name}' is not in the request`);
    }
    headers[name] = value;
  }

  // The payload hash the client signed is the header's value when it sent one, so the header
  // must describe the body we actually received.
  const contentSha = header('x-amz-content-sha256');
  const bodySha = createHash('sha256').update(request.body).digest('hex');
  if (contentSha !== undefined && contentSha !== UNSIGNED_PAYLOAD && contentSha !== bodySha) {
    return fail(
      'InvalidSignatureException',
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
  }
  // The signer adds the session token from its credentials; when the client left it unsigned
  // it must stay out of the canonical request, as it was out of the client's.
  const unsignableHeaders = new Set(
    ['x-amz-security-token'].filter((h) => !signedHeaders.includes(h)),
  );
  if (contentSha !== undefined && !signedHeaders.includes('x-amz-content-sha256')) {
    headers['x-amz-content-sha256'] = contentSha;
    unsignableHeaders.add('x-amz-content-sha256');
  }

  const query = parseQuery(request.query);
  if (typeof query === 'string') return fail('InvalidSignatureException', query);

  const signer = new SignatureV4({
    service,
    region,
    credentials: options.credentials,
    sha256: Sha256,
    // Never add x-amz-content-sha256 of our own: only what the client sent may be signed.
    applyChecksum: false,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: request.method,
      protocol: 'https:',
      // Only the headers are signed; the host travels in the (signed) host header.
      hostname: headers.host ?? '',
      path: request.path,
      query,
      headers,
      body: request.body,
    }),
    {
      signingDate: signedAt,
      // The client's list decides, including headers the signer would skip by default.
      signableHeaders: new Set(signedHeaders),
      unsignableHeaders,
    },
  );
  const expected = parseAuthorization(String(signed.headers.authorization));
  if (
    typeof expected === 'string' ||
    expected.signedHeaders.join(';') !== signedHeaders.join(';')
  ) {
    return fail(
      'InvalidSignatureException',
      'SignedHeaders do not match the headers the request carries',
    );
  }
  const a = Buffer.from(expected.signature, 'utf8');
  const b = Buffer.from(signature, 'utf8');
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    return fail(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  }
  return { ok: true, accessKeyId };
}

interface ParsedAuthorization {
  accessKeyId: string;
  scopeDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

/** `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/chime/aws4_request, SignedHeaders=…, Signature=…` */
function parseAuthorization(value: string): ParsedAuthorization | string {
  if (!value.startsWith(`${ALGORITHM} `)) return `Authorization must use ${ALGORITHM}`;
  const fields = new Map<string, string>();
  for (const part of value.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeaders || !signature) {
    return 'Authorization header requires Credential, SignedHeaders and Signature';
  }
  const scope = credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request' || scope.some((s) => s === '')) {
    return 'Credential must be AKID/YYYYMMDD/region/service/aws4_request';
  }
  const [accessKeyId, scopeDate, region, service] = scope as [string, string, string, string];
  if (!/^[0-9a-f]{64}$/.test(signature)) return 'Signature must be 64 lowercase hex digits';
  return {
    accessKeyId,
    scopeDate,
    region,
    service,
    signedHeaders: signedHeaders.split(';'),
    signature,
  };
}

/** `20240101T120000Z` → Date; undefined when malformed. */
function parseAmzDate(v: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(v);
  if (!m) return undefined;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/**
 * The raw query as the signer's `query` record: decoded keys and values, repeated keys as
 * arrays. A key without '=' is an empty value, as AWS canonicalises it (never dropped, or a
 * parameter added in transit would go unnoticed).
 */
function parseQuery(raw: string): Record<string, string | string[]> | string {
  const query: Record<string, string | string[]> = Object.create(null);
  if (raw === '') return query;
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
      value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    } catch {
      return 'the query string is not valid percent-encoding';
    }
    const prior = query[key];
    query[key] =
      prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
  }
  return query;
}
