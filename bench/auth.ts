import { createSigner } from 'fast-jwt';

/** The benchmarks' servers trust this HS256 secret; nothing outside a bench run does. */
const SECRET = 'telefhir-bench-secret-0123456789abcdef';
const ISSUER = 'https://bench.telefhir.test';
const AUDIENCE = 'telefhir-bench';

/** The environment that makes a server accept `benchToken()`. */
export const BENCH_AUTH_ENV = {
  AUTH_HS256_SECRET: SECRET,
  AUTH_ISSUER: ISSUER,
  AUTH_AUDIENCE: AUDIENCE,
} as const;

/** An hour's system token for every type: what a backend service would hold. */
export function benchToken(): string {
  const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000 });
  return sign({ iss: ISSUER, aud: AUDIENCE, sub: 'bench', scope: 'system/*.*' });
}
