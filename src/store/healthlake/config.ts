/**
 * HealthLake settings (FHIR_STORE=healthlake). Read by loadConfig; kept here so the store's
 * knobs live next to the store.
 */
import { ConfigError } from '../../config.js';

export interface HealthLakeConfig {
  /** The data store's FHIR base, always ending in '/': https://healthlake.{region}.amazonaws.com/datastore/{id}/r4/ */
  endpoint: string;
  /** Parsed from the endpoint's path. */
  datastoreId: string;
  region: string;
  /** Per upstream request (connect to last byte). */
  timeoutMs: number;
  /** Attempts for idempotent requests throttled (429/503) upstream; 1 = no retry. */
  maxAttempts: number;
  /**
   * AES-256-GCM key sealing upstream paging tokens in our links (HEALTHLAKE_PAGE_TOKEN_KEY,
   * 32 bytes as base64 or hex). Absent: the `paging` secret kept in Postgres, shared by replicas.
   */
  pageTokenKey: Buffer | undefined;
}

type Env = Record<string, string | undefined>;
type Integer = (name: string, fallback: number, min: number, max: number) => number;

const ENDPOINT_PATH = /^\/datastore\/([A-Za-z0-9-]{1,64})\/r4\/?$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function endpointOf(raw: string | undefined): { endpoint: string; datastoreId: string } {
  if (!raw) throw new ConfigError('FHIR_STORE=healthlake needs HEALTHLAKE_ENDPOINT');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`HEALTHLAKE_ENDPOINT must be an absolute URL (got "${raw}")`);
  }
  // Plain http only to an emulator on this machine: SigV4 signs but does not encrypt.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new ConfigError('HEALTHLAKE_ENDPOINT must use https: (http: only on loopback)');
  }
  const match = ENDPOINT_PATH.exec(url.pathname);
  if (!match || url.search || url.hash) {
    throw new ConfigError(
      `HEALTHLAKE_ENDPOINT must look like https://healthlake.REGION.amazonaws.com/datastore/ID/r4/ (got "${raw}")`,
    );
  }
  return { endpoint: `${url.origin}/datastore/${match[1]}/r4/`, datastoreId: match[1]! };
}

function keyOf(raw: string | undefined): Buffer | undefined {
  if (raw === undefined || raw === '') return undefined;
  const key = /^[0-9a-fA-F]{64}$/.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
  if (key.length !== 32) {
    throw new ConfigError('HEALTHLAKE_PAGE_TOKEN_KEY must be 32 bytes, as 64 hex digits or base64');
  }
  return key;
}

export function healthLakeConfig(env: Env, integer: Integer): HealthLakeConfig {
  const { endpoint, datastoreId } = endpointOf(env.HEALTHLAKE_ENDPOINT);
  const region =
    env.AWS_REGION ||
    /^healthlake\.([a-z0-9-]+)\.amazonaws\.com$/.exec(new URL(endpoint).hostname)?.[1];
  if (!region) throw new ConfigError('FHIR_STORE=healthlake needs AWS_REGION');
  return {
    endpoint,
    datastoreId,
    region,
    timeoutMs: integer('HEALTHLAKE_TIMEOUT_MS', 10_000, 100, 120_000),
    maxAttempts: integer('HEALTHLAKE_MAX_ATTEMPTS', 3, 1, 10),
    pageTokenKey: keyOf(env.HEALTHLAKE_PAGE_TOKEN_KEY),
  };
}
