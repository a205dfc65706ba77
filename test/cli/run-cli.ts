import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fromRoot } from '../../src/paths.js';
import type { Running } from '../helpers.js';

/**
 * What runs a TypeScript source file in a child process, as the suite's own files run (tsx,
 * set in .taprc): the CLIs are tested from source, without a build.
 */
export const TS_LOADER = ['--import=tsx'];

/** Settings a CLI must get from the test alone, never from the suite's own environment. */
const SERVER_SETTINGS =
  /^(DATABASE_URL|DATA_DIR|FHIR_BASE_URL|NODE_ENV|KMS_KEY_ID|IDENTITY_KEK|AUTH_\w+)$/;

/**
 * A CLI of src/cli/ run from source under tsx (no build), as `npm run NAME`
 * would run it, with `env` on top of a clean copy of the environment. Asynchronous, so a
 * server in this process keeps answering while it runs.
 */
export async function runCli(
  name: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ status: number; stdout: string; stderr: string }> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !SERVER_SETTINGS.test(key)),
  );
  const child = spawn(process.execPath, [...TS_LOADER, fromRoot(`src/cli/${name}.ts`), ...args], {
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [status] = (await once(child, 'exit')) as [number];
  return { status, stdout, stderr };
}

/** What a CLI needs to reach a test server's database, keys and issuer. */
export function serverEnv(server: Running): Record<string, string> {
  return {
    DATABASE_URL: server.config.databaseUrl!,
    DATA_DIR: server.config.dataDir,
    FHIR_BASE_URL: server.base,
    AUTH_AUDIENCE: server.config.auth.audience,
  };
}

export function jwtParts(jwt: string): {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
} {
  const [header, claims] = jwt
    .split('.')
    .slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
  return { header, claims };
}
