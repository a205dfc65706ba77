import t, { type Test } from 'tap';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { verifySigV4, type CapturedRequest, type VerifyOptions } from './sigv4.js';

const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test/secret+key' };
const signingDate = new Date('2025-03-04T05:06:07Z');
const options: VerifyOptions = {
  service: 'chime',
  region: 'us-east-1',
  credentials,
  now: signingDate,
};

interface Draft {
  method?: string;
  path?: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  body?: string;
}

/** Signs like the SDK does, then captures the request as a server receives it on the wire. */
async function signed(
  draft: Draft = {},
  signer: Partial<ConstructorParameters<typeof SignatureV4>[0]> = {},
): Promise<CapturedRequest> {
  const request = new HttpRequest({
    method: draft.method ?? 'POST',
    protocol: 'https:',
    hostname: 'meetings-chime.us-east-1.amazonaws.com',
    path: draft.path ?? '/meetings',
    query: draft.query ?? {},
    headers: {
      host: 'meetings-chime.us-east-1.amazonaws.com',
      'content-type': 'application/json',
      'user-agent': 'test-agent/1.0',
      ...draft.headers,
    },
    ...(draft.body === undefined ? {} : { body: draft.body }),
  });
  const out = await new SignatureV4({
    service: 'chime',
    region: 'us-east-1',
    credentials,
    sha256: Sha256,
    ...signer,
  }).sign(request, { signingDate });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(out.headers)) headers[k.toLowerCase()] = v;
  return {
    method: out.method,
    path: out.path,
    query: wireQuery(out.query ?? {}),
    headers,
    body: Buffer.from(draft.body ?? ''),
  };
}

/** The query as the SDK puts it on the wire (RFC 3986 encoding, as extendedEncodeURIComponent). */
function wireQuery(query: Record<string, string | string[] | null>): string {
  const enc = (s: string) =>
    encodeURIComponent(s).replace(
      /[!'()*]/g,
      (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
    );
  return Object.entries(query)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v ?? '']).map((x) => `${enc(k)}=${enc(x)}`))
    .join('&');
}

const body = JSON.stringify({ ClientRequestToken: 'tok-1', ExternalMeetingId: 'enc-1' });

function expectRejected(
  t: Test,
  result: Awaited<ReturnType<typeof verifySigV4>>,
  code: string,
  reason?: RegExp,
): void {
  t.equal(result.ok, false, 'rejected');
  if (!result.ok) {
    t.equal(result.code, code);
    if (reason) t.match(result.reason, reason);
  }
}

t.test('accepts a request signed by @smithy/signature-v4', async (t) => {
  const req = await signed({
    path: '/meetings/a%20b%3Ac/attendees',
    query: { operation: 'batch-create', tag: ['z z', 'a+b'], empty: '' },
    body,
  });
  t.same(await verifySigV4(req, options), { ok: true, accessKeyId: 'AKIDTEST' });
});

t.test(
  'accepts a GET without a body and a payload signed without x-amz-content-sha256',
  async (t) => {
    t.equal(
      (await verifySigV4(await signed({ method: 'GET', path: '/meetings/x' }), options)).ok,
      true,
    );
    const noChecksum = await signed({ body }, { applyChecksum: false });
    t.notOk('x-amz-content-sha256' in noChecksum.headers);
    t.equal((await verifySigV4(noChecksum, options)).ok, true);
  },
);

t.test("matches AWS's published get-vanilla test vector", async (t) => {
  // From the AWS SigV4 test suite: independent of the library the verifier signs with.
  const result = await verifySigV4(
    {
      method: 'GET',
      path: '/',
      query: '',
      headers: {
        host: 'example.amazonaws.com',
        'x-amz-date': '20150830T123600Z',
        authorization:
          'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ' +
          'SignedHeaders=host;x-amz-date, ' +
          'Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
      },
      body: Buffer.alloc(0),
    },
    {
      service: 'service',
      region: 'us-east-1',
      credentials: {
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      },
      now: new Date('2015-08-30T12:36:00Z'),
    },
  );
  t.same(result, { ok: true, accessKeyId: 'AKIDEXAMPLE' });
});

t.test('rejects a tampered body', async (t) => {
  const withChecksum = await signed({ body });
  withChecksum.body = Buffer.from(body.replace('enc-1', 'enc-2'));
  expectRejected(
    t,
    await verifySigV4(withChecksum, options),
    'InvalidSignatureException',
    /x-amz-content-sha256/,
  );

  const withoutChecksum = await signed({ body }, { applyChecksum: false });
  withoutChecksum.body = Buffer.from(body.replace('enc-1', 'enc-2'));
  expectRejected(
    t,
    await verifySigV4(withoutChecksum, options),
    'InvalidSignatureException',
    /does not match the signature/,
  );
});

t.test('rejects a tampered query: a changed, an added and a removed parameter', async (t) => {
  const base = { method: 'GET', path: '/tags', query: { a: '1', b: '2' } };
  for (const [name, query] of [
    ['changed', 'a=1&b=3'],
    ['added', 'a=1&b=2&c=3'],
    ['added without a value', 'a=1&b=2&c'],
    ['removed', 'a=1'],
  ] as const) {
    const req = await signed(base);
    t.equal(req.query, 'a=1&b=2');
    req.query = query;
    expectRejected(t, await verifySigV4(req, options), 'InvalidSignatureException', undefined);
    t.comment(name);
  }
});

t.test('rejects a tampered path or method', async (t) => {
  const path = await signed({ method: 'DELETE', path: '/meetings/one' });
  path.path = '/meetings/two';
  expectRejected(t, await verifySigV4(path, options), 'InvalidSignatureException');
  const method = await signed({ method: 'GET', path: '/meetings/one' });
  method.method = 'DELETE';
  expectRejected(t, await verifySigV4(method, options), 'InvalidSignatureException');
});

t.test('rejects a changed or missing signed header, ignores unsigned ones', async (t) => {
  const changed = await signed({ body });
  changed.headers['content-type'] = 'text/plain';
  expectRejected(t, await verifySigV4(changed, options), 'InvalidSignatureException');

  const missing = await signed({ body });
  delete missing.headers['content-type'];
  expectRejected(
    t,
    await verifySigV4(missing, options),
    'InvalidSignatureException',
    /not in the request/,
  );

  const host = await signed({ body });
  host.headers.host = 'evil.example';
  expectRejected(t, await verifySigV4(host, options), 'InvalidSignatureException');

  // user-agent is never signed (proxies rewrite it), so changing it must not matter.
  const agent = await signed({ body });
  t.notMatch(String(agent.headers.authorization), /user-agent/);
  agent.headers['user-agent'] = 'something-else';
  agent.headers['x-unsigned-extra'] = '1';
  t.equal((await verifySigV4(agent, options)).ok, true);
});

t.test('rejects a signature made with the wrong secret or an unknown key', async (t) => {
  const wrongSecret = await signed(
    { body },
    { credentials: { ...credentials, secretAccessKey: 'nope' } },
  );
  expectRejected(
    t,
    await verifySigV4(wrongSecret, options),
    'InvalidSignatureException',
    /does not match/,
  );
  const unknownKey = await signed(
    { body },
    { credentials: { ...credentials, accessKeyId: 'AKIDOTHER' } },
  );
  expectRejected(t, await verifySigV4(unknownKey, options), 'UnrecognizedClientException');
});

t.test('rejects an expired or future-dated signature, accepts one within the skew', async (t) => {
  const req = await signed({ body });
  const at = (minutes: number) => ({
    ...options,
    now: new Date(signingDate.getTime() + minutes * 60_000),
  });
  expectRejected(t, await verifySigV4(req, at(20)), 'InvalidSignatureException', /expired/);
  expectRejected(
    t,
    await verifySigV4(req, at(-20)),
    'InvalidSignatureException',
    /not yet current/,
  );
  t.equal((await verifySigV4(req, at(5))).ok, true);
  expectRejected(
    t,
    await verifySigV4(req, { ...at(5), maxSkewMs: 60_000 }),
    'InvalidSignatureException',
    /expired/,
  );
});

t.test('rejects a missing or malformed Authorization header', async (t) => {
  const req = await signed({ body });
  const { authorization, ...rest } = req.headers;
  expectRejected(
    t,
    await verifySigV4({ ...req, headers: rest }, options),
    'MissingAuthenticationTokenException',
  );
  for (const bad of [
    'Bearer abc',
    String(authorization).replace(/, Signature=[0-9a-f]+/, ''),
    String(authorization).replace('/aws4_request', '/aws5_request'),
  ]) {
    const result = await verifySigV4({ ...req, headers: { ...rest, authorization: bad } }, options);
    expectRejected(t, result, 'IncompleteSignatureException');
  }
});

t.test('rejects a signature scoped to another service or region', async (t) => {
  const otherService = await signed({ body }, { service: 'healthlake' });
  expectRejected(
    t,
    await verifySigV4(otherService, options),
    'InvalidSignatureException',
    /service: 'chime'/,
  );
  const otherRegion = await signed({ body }, { region: 'eu-west-1' });
  expectRejected(t, await verifySigV4(otherRegion, options), 'InvalidSignatureException', /region/);
  t.equal(
    (await verifySigV4(otherRegion, { ...options, region: undefined })).ok,
    true,
    'any region when unset',
  );
});

t.test('requires the session token when the credentials have one', async (t) => {
  const session = { ...credentials, sessionToken: 'session-1' };
  const withToken = { ...options, credentials: session };
  t.equal(
    (await verifySigV4(await signed({ body }, { credentials: session }), withToken)).ok,
    true,
  );
  expectRejected(
    t,
    await verifySigV4(await signed({ body }), withToken),
    'UnrecognizedClientException',
  );
  // AWS lets the token travel unsigned; it must still be the right one.
  const unsignedToken = await signed({ body });
  unsignedToken.headers['x-amz-security-token'] = 'session-1';
  t.equal((await verifySigV4(unsignedToken, withToken)).ok, true);
  const other = await signed({ body }, { credentials: { ...session, sessionToken: 'session-2' } });
  expectRejected(t, await verifySigV4(other, withToken), 'UnrecognizedClientException');
});
