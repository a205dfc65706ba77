import type { AppParts } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { developmentSecret } from '../../src/auth/dev-secret.js';
import { createSigner } from 'fast-jwt';
import { startServer, testConfig, TEST_AUDIENCE, TEST_ISSUER } from '../helpers.js';

type Tap = Parameters<typeof testConfig>[0];

/** Config for the built-in authorization server: no AUTH_HS256_SECRET, no AUTH_JWKS_URI. */
export async function builtInConfig(t: Tap, overrides: Partial<Config> = {}): Promise<Config> {
  const config = await testConfig(t, overrides);
  return { ...config, auth: { ...config.auth, hs256Secret: undefined, jwksUri: undefined } };
}

/** A server issuing its own tokens; `origin` is where /auth lives. */
export async function startBuiltIn(t: Tap, overrides: Partial<Config> = {}, parts: AppParts = {}) {
  const config = await builtInConfig(t, overrides);
  const running = await startServer(t, config, parts);
  const origin = new URL(running.base).origin;
  return { ...running, origin, auth: `${origin}/auth` };
}

/**
 * A development token (HS256, DATA_DIR's secret), which the built-in mode still accepts outside
 * production: how tests get an ADMIN or system/ caller without a registered client.
 */
export function devToken(config: Config, claims: Record<string, unknown> = {}): string {
  const sign = createSigner({
    key: developmentSecret(config.dataDir).secret,
    algorithm: 'HS256',
    expiresIn: 300_000,
  });
  return sign({
    iss: TEST_ISSUER,
    aud: TEST_AUDIENCE,
    sub: 'test-admin',
    scope: 'system/*.*',
    ...claims,
  });
}

export type BuiltIn = Awaited<ReturnType<typeof startBuiltIn>>;

/** POSTs JSON to an /auth endpoint with a bearer token. */
export async function postJson(url: string, body: unknown, token?: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, json: await response.json() };
}

/** POSTs a form to an /auth endpoint. */
export async function postForm(
  url: string,
  form: Record<string, string> | string,
  headers: Record<string, string> = {},
) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof form === 'string' ? form : new URLSearchParams(form).toString(),
  });
  const text = await response.text();
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** Registers a client through POST /auth/register with an ADMIN development token. */
export async function registerClient(server: BuiltIn, metadata: Record<string, unknown>) {
  const admin = devToken(server.config, { role: 'ADMIN', scope: 'user/*.*' });
  const response = await postJson(`${server.auth}/register`, metadata, admin);
  if (response.status !== 201) throw new Error(`register: ${JSON.stringify(response.json)}`);
  return response.json as { client_id: string; client_secret?: string };
}
