import { resolve } from 'node:path';

export type StoreKind = 'postgres';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  port: number;
  host: string;
  /** Public base of the FHIR API, without a trailing slash; used in every link we emit. */
  baseUrl: string;
  /** Absent: an embedded PGlite database in dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  store: StoreKind;
  /** Largest accepted request body, in bytes. */
  bodyLimit: number;
  logLevel: LogLevel;
  /**
   * Profiles every resource of a type must meet besides its own meta.profile: `us-core`
   * applies US Core 5.0.1 to the types it profiles; `none` only the R4 base definitions.
   */
  defaultProfiles: 'us-core' | 'none';
}

/** A bad setting: start-up stops with this one-line message. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
  }
  return raw as T;
}

function url(name: string, raw: string, protocols: string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an absolute URL (got "${raw}")`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must use ${protocols.join(' or ')} (got "${parsed.protocol}")`);
  }
  return raw;
}

export function loadConfig(env: Env = process.env): Config {
  const port = integer(env, 'PORT', 8080, 0, 65535);
  const host = env.HOST || '127.0.0.1';
  const linkHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const baseUrl = url('FHIR_BASE_URL', env.FHIR_BASE_URL || `http://${linkHost}:${port}/fhir`, [
    'http:',
    'https:',
  ]).replace(/\/+$/, '');
  const databaseUrl = env.DATABASE_URL
    ? url('DATABASE_URL', env.DATABASE_URL, ['postgres:', 'postgresql:'])
    : undefined;
  return {
    port,
    host,
    baseUrl,
    databaseUrl,
    dataDir: resolve(env.DATA_DIR || '.data'),
    store: oneOf(env, 'FHIR_STORE', ['postgres'] as const, 'postgres'),
    bodyLimit: integer(env, 'BODY_LIMIT', 8 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    defaultProfiles: oneOf(
      env,
      'VALIDATION_DEFAULT_PROFILES',
      ['us-core', 'none'] as const,
      'us-core',
    ),
    logLevel: oneOf(
      env,
      'LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      'info',
    ),
  };
}
