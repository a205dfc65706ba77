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
export async function startBuiltIn(t: Tap, overrides: Partial<Config> = {}) {
  const config = await builtInConfig(t, overrides);
  const running = await startServer(t, config);
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
