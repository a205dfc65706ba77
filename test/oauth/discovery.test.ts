/**
 * Discovery lists exactly what works: every advertised endpoint answers, and the
 * CapabilityStatement agrees. Then the token
 * endpoint is fuzzed: whatever comes in, OAuth JSON comes out, never a 5xx.
 */
import t from 'tap';
import { fhir } from '../helpers.js';
import { postForm, startBuiltIn } from './helpers.js';

t.test(
  'smart-configuration, openid-configuration and oauth-uris agree, and all work',
  async (t) => {
    const server = await startBuiltIn(t);
    const smart = await (await fetch(`${server.base}/.well-known/smart-configuration`)).json();
    const openid = await (await fetch(`${server.auth}/.well-known/openid-configuration`)).json();
    t.equal(smart.issuer, server.auth);
    t.equal(openid.issuer, server.auth);
    t.same(smart.grant_types_supported, [
      'authorization_code',
      'refresh_token',
      'client_credentials',
    ]);
    t.same(smart.token_endpoint_auth_methods_supported, [
      'none',
      'client_secret_basic',
      'private_key_jwt',
    ]);
    t.same(smart.token_endpoint_auth_signing_alg_values_supported, ['RS384', 'ES384']);
    t.same(smart.response_types_supported, ['code']);
    t.same(smart.code_challenge_methods_supported, ['S256']);
    t.same(openid.code_challenge_methods_supported, ['S256']);
    t.same(smart.capabilities.sort(), [
      'authorize-post',
      'client-confidential-asymmetric',
      'client-confidential-symmetric',
      'client-public',
      'context-ehr-encounter',
      'context-ehr-patient',
      'context-standalone-patient',
      'launch-ehr',
      'launch-standalone',
      'permission-offline',
      'permission-online',
      'permission-patient',
      'permission-user',
      'permission-v1',
      'permission-v2',
      'sso-openid-connect',
    ]);
    t.equal(smart.authorization_endpoint, `${server.auth}/authorize`);
    t.equal(openid.authorization_endpoint, smart.authorization_endpoint);
    const authorize = await fetch(smart.authorization_endpoint);
    t.equal(authorize.status, 400, 'authorize answers (an error page without a client)');
    t.match(authorize.headers.get('content-type'), /^text\/html/);
    t.equal((await fetch(smart.jwks_uri)).status, 200, 'jwks_uri');
    for (const name of [
      'token_endpoint',
      'introspection_endpoint',
      'revocation_endpoint',
      'registration_endpoint',
    ]) {
      t.match(smart[name], new RegExp(`^${server.auth}/`), name);
      t.equal(smart[name], openid[name], name);
      const response = await fetch(smart[name], { method: 'POST' });
      t.ok([400, 401, 415].includes(response.status), `${name} answers (${response.status})`);
      t.match(await response.json(), { error: String }, `${name} in OAuth JSON`);
    }
    const statement = (await fhir(server.base, 'GET', 'metadata', undefined, { authorization: '' }))
      .body;
    const uris = Object.fromEntries(
      statement.rest[0].security.extension[0].extension.map(
        (e: { url: string; valueUri: string }) => [e.url, e.valueUri],
      ),
    );
    t.same(uris, {
      authorize: smart.authorization_endpoint,
      token: smart.token_endpoint,
      register: smart.registration_endpoint,
      revoke: smart.revocation_endpoint,
      introspect: smart.introspection_endpoint,
    });
  },
);

/** mulberry32: a small seeded generator, so a failing case can be replayed. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('the token endpoint never answers 5xx, whatever the input (seeded fuzz)', async (t) => {
  const server = await startBuiltIn(t);
  const seed = 20260422;
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const b64 = (value: string) => Buffer.from(value).toString('base64url');
  const values = [
    '',
    'client_credentials',
    'authorization_code',
    'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    'system/*.rs',
    '%00',
    '\u0000\uffff',
    'a'.repeat(5000),
    `${b64('{"alg":"RS384","kid":"x"}')}.${b64('{"iss":"x","sub":"x"}')}.sig`,
    `${b64('{"alg":"none"}')}.${b64('{"iss":[1],"exp":"soon"}')}.`,
    `${b64('not json')}.${b64('{}')}.x`,
    '...',
    '{"__proto__":{"x":1}}',
    '00000000-0000-0000-0000-000000000000',
  ];
  const names = [
    'grant_type',
    'client_assertion_type',
    'client_assertion',
    'client_id',
    'client_secret',
    'scope',
    'token',
    '__proto__',
  ];
  const types = [
    'application/x-www-form-urlencoded',
    'application/json',
    'text/plain',
    'multipart/form-data; boundary=x',
    '',
  ];
  const statuses = new Map<number, number>();
  const CASES = 300;
  for (let i = 0; i < CASES; i++) {
    const params = new URLSearchParams();
    const count = Math.floor(next() * 5);
    for (let j = 0; j < count; j++) params.append(pick(names), pick(values));
    const headers: Record<string, string> = {};
    const type = pick(types);
    if (type) headers['content-type'] = type;
    if (next() < 0.3) {
      headers.authorization = pick([
        `Basic ${b64(`${pick(values)}:${pick(values)}`)}`,
        'Basic !!!',
        `Bearer ${pick(values).replace(/[^\x20-\x7e]/g, '?')}`,
        'Basic',
      ]);
    }
    const endpoint = pick(['token', 'token', 'introspect', 'revoke', 'register']);
    const body = next() < 0.1 ? pick(values) : params.toString();
    const response = await postForm(`${server.auth}/${endpoint}`, body, headers);
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    if (response.status >= 500 || !response.json?.error) {
      if (response.status < 300) continue; // a fuzzed body may still be a valid (empty) revoke
      t.fail(
        `case ${i} (seed ${seed}): ${endpoint} ${response.status} ${response.text.slice(0, 200)}`,
      );
    }
  }
  t.ok(
    [...statuses.keys()].every((status) => status < 500),
    `no 5xx in ${CASES} cases: ${JSON.stringify(Object.fromEntries(statuses))}`,
  );
});
