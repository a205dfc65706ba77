import { resolve } from 'node:path';
import { healthLakeConfig, type HealthLakeConfig } from './store/healthlake/config.js';

export type StoreKind = 'postgres' | 'healthlake';
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
  /** HEAP_GROWTH_PERCENT: V8's old-generation growth past live data; 0 is V8's own (src/heap.ts). */
  heapGrowthPercent: number;
  /**
   * Profiles every resource of a type must meet besides its own meta.profile: `us-core`
   * applies US Core 5.0.1 to the types it profiles; `none` only the R4 base definitions.
   */
  defaultProfiles: 'us-core' | 'none';
  auth: AuthConfig;
  /** PROVIDER/NURSE reach the patients linked to them (`assigned`) or every patient (`all`). */
  providerAccess: 'assigned' | 'all';
  video: VideoConfig;
  identity: IdentityConfig;
  blobs: BlobConfig;
  /** Set when store is 'healthlake' (see src/store/healthlake/config.ts). */
  healthlake: HealthLakeConfig | undefined;
  /** DB_STATEMENT_TIMEOUT_MS, DB_LOCK_TIMEOUT_MS: on every database connection; 0 is no limit. */
  dbTimeouts: { statementMs: number; lockMs: number };
  /** EMBEDDED_SHARED_BUFFERS_MB: the embedded database's buffer pool (Postgres shared_buffers). */
  embeddedSharedBuffersMb: number;
  /** REQUEST_TIMEOUT_MS: a request still unanswered then is answered 503; 0 is no limit. */
  requestTimeoutMs: number;
  /** SHUTDOWN_GRACE_MS: how long SIGTERM/SIGINT wait for requests in flight before cutting them. */
  shutdownGraceMs: number;
  notify: NotifyConfig;
  reminders: ReminderConfig;
  subscriptions: SubscriptionConfig;
  bulkExport: ExportConfig;
}

/** How messages reach people (src/notify/): Amazon SNS, or a table and a log line (`local`). */
export interface NotifyConfig {
  provider: 'sns' | 'local';
  region: string;
  /** SNS_TOPIC_ARN: publish to this topic (SMS and email) instead of SMS to phone numbers. */
  topicArn: string | undefined;
}

/** Appointment reminders and change notices (src/reminders/). */
export interface ReminderConfig {
  /** REMINDER_OFFSETS: how long before an appointment's start each reminder goes, in minutes. */
  offsetsMinutes: number[];
  /** REMINDER_LINK_BASE: the link in every message is this + `/` + the appointment id. */
  linkBase: string;
  /** REMINDER_TIME_ZONE: the IANA time zone the message's date and time are written in. */
  timeZone: string;
  /** REMINDER_POLL_MS: how often each replica looks for due messages; 0 turns the timer off. */
  pollMs: number;
}

/** Subscription delivery (src/subscriptions/). */
export interface SubscriptionConfig {
  /** SUBSCRIPTION_ALLOW_LOOPBACK: endpoints on loopback or private addresses; off in production. */
  allowPrivate: boolean;
  /** Endpoints must be https: (production). */
  httpsOnly: boolean;
  /** SUBSCRIPTION_RETRY_WINDOW_SECONDS: how long a failing notification is retried. */
  retryWindowMs: number;
  /** SUBSCRIPTION_TIMEOUT_MS: one delivery attempt. */
  timeoutMs: number;
  /** SUBSCRIPTION_POLL_MS: how often each replica looks for notifications to deliver. */
  pollMs: number;
  /** SUBSCRIPTION_MAX_LIFETIME_HOURS: the latest Subscription.end, from its create or update. */
  maxLifetimeMs: number;
  /** SUBSCRIPTION_MAX_PER_OWNER: Subscriptions one owner may hold; past it a create is 429. */
  maxPerOwner: number;
  /** SUBSCRIPTION_WS_BIND_TIMEOUT_MS: a websocket not bound within this is closed. */
  wsBindTimeoutMs: number;
  /** SUBSCRIPTION_WS_MAX_CONNECTIONS: open websockets one replica holds at most. */
  wsMaxConnections: number;
  /** SUBSCRIPTION_WS_MAX_PER_ADDRESS: open websockets from one remote address at most. */
  wsMaxPerAddress: number;
}

/** Bulk Data $export jobs and their output files (src/export/). */
export interface ExportConfig {
  /** EXPORT_RETENTION_HOURS: how long a job and its files are kept after it was started. */
  retentionHours: number;
  /** EXPORT_FILE_RESOURCES: the most resources one NDJSON output file holds. */
  fileResources: number;
  /** EXPORT_POLL_MS: how often an idle replica looks for a job to work; 0 turns the worker off. */
  pollMs: number;
  /** EXPORT_MAX_ACTIVE_JOBS: queued or running jobs one caller (issuer, client, subject) may have. */
  maxActiveJobs: number;
}

/** Where document bytes live (src/blob/): S3 when a bucket is set, else encrypted files. */
export interface BlobConfig {
  /** S3_BUCKET; absent: the local store under DATA_DIR. */
  bucket: string | undefined;
  /** S3_ENDPOINT: an S3-compatible endpoint (path-style), e.g. s3rver or MinIO. */
  endpoint: string | undefined;
  /** KMS_KEY_ID: objects are written with SSE-KMS under it (required in production). */
  kmsKeyId: string | undefined;
  region: string;
  /** BINARY_SIZE_LIMIT: the largest Binary accepted, in bytes. */
  sizeLimit: number;
}

/** Patient identity: how MRNs look and which key wraps the SSN data key (src/identity/). */
export interface IdentityConfig {
  mrnPrefix: string;
  mrnWidth: number;
  /** Identifier.system of the MRNs the server assigns; default `${FHIR_BASE_URL}/mrn`. */
  mrnSystem: string;
  /** KMS key that wraps the SSN data key; absent: IDENTITY_KEK, else a key file in DATA_DIR. */
  kmsKeyId: string | undefined;
  /** IDENTITY_KEK: a 32-byte key (from a secret manager) wrapping the SSN data key instead. */
  kek: Buffer | undefined;
}

/** Video visits: Chime SDK Meetings, or meetings of our own on a laptop (`local`). */
export interface VideoConfig {
  provider: 'chime' | 'local';
  /** CHIME_ENDPOINT: an emulator or a VPC endpoint; absent, the SDK resolves it. */
  endpoint: string | undefined;
  region: string;
  /** How long before an appointment's start its visit may begin. */
  earlyMinutes: number;
}

/**
 * Token verification: RS256/ES256 keys from an external JWKS (Cognito, say); an HS256 shared
 * secret (tests); or, with neither, the built-in authorization server's RS256 keys (src/oauth/),
 * beside which, outside production only, the server also accepts a development HS256 secret it
 * makes in DATA_DIR (what `npm run token` signs with when it can't open the database).
 */
export interface AuthConfig {
  issuer: string;
  /** Checked against `aud`, or against `client_id` for Cognito access tokens (which lack aud). */
  audience: string;
  jwksUri: string | undefined;
  hs256Secret: string | undefined;
  production: boolean;
  /** OAuth endpoints advertised in SMART discovery (the authorization server's, not ours). */
  authorizationEndpoint: string;
  tokenEndpoint: string;
}

/** The issuer of development tokens (`npm run token`) when AUTH_ISSUER is not set. */
export const DEV_ISSUER = 'telefhir-dev';

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

/** Letters, digits and `-`, so an MRN is a plain token in any search. */
function mrnPrefix(raw: string | undefined): string {
  if (raw === undefined) return 'MRN';
  if (!/^[A-Za-z0-9-]{0,16}$/.test(raw)) {
    throw new ConfigError(`MRN_PREFIX must be up to 16 letters, digits or "-" (got "${raw}")`);
  }
  return raw;
}

/** The longest any of the timeouts may be set to (Postgres's own limit is ~24.8 days). */
const DAY_MS = 24 * 60 * 60 * 1000;

/** A Binary's size is recorded as a FHIR integer, so the limit must fit one. */
const MAX_BINARY_BYTES = 2 ** 31 - 1;

/**
 * IDENTITY_KEK, the key that wraps the SSN data key when there is no KMS key. Production needs
 * one of the two: the fallback, a key file in DATA_DIR, is lost with a container's disk, and
 * every stored SSN with it. The value is never echoed (it is a secret).
 */
function identityKek(env: Env, production: boolean): Buffer | undefined {
  const raw = env.IDENTITY_KEK?.trim();
  if (!raw) {
    if (production && !env.KMS_KEY_ID) {
      // Without AUTH_JWKS_URI the same KEK wraps the built-in server's signing keys too.
      const wrapped = env.AUTH_JWKS_URI
        ? 'the SSN data key'
        : "the SSN and signing keys' data keys";
      throw new ConfigError(
        `NODE_ENV=production needs KMS_KEY_ID or IDENTITY_KEK to wrap ${wrapped} ` +
          '(the DATA_DIR key file is lost with the container)',
      );
    }
    return undefined;
  }
  const key = Buffer.from(raw, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw) || key.length !== 32) {
    throw new ConfigError('IDENTITY_KEK must be a base64 32-byte key (openssl rand -base64 32)');
  }
  if (env.KMS_KEY_ID) {
    throw new ConfigError('IDENTITY_KEK and KMS_KEY_ID are both set: the SSN data key has one KEK');
  }
  return key;
}

function blobConfig(env: Env, production: boolean): BlobConfig {
  const bucket = env.S3_BUCKET || undefined;
  if (bucket !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ConfigError(`S3_BUCKET must be an S3 bucket name (got "${bucket}")`);
  }
  if (!bucket && env.S3_ENDPOINT) throw new ConfigError('S3_ENDPOINT needs S3_BUCKET');
  if (production && bucket && !env.KMS_KEY_ID) {
    throw new ConfigError('NODE_ENV=production with S3_BUCKET needs KMS_KEY_ID (SSE-KMS)');
  }
  return {
    bucket,
    endpoint: env.S3_ENDPOINT
      ? url('S3_ENDPOINT', env.S3_ENDPOINT, ['https:', 'http:'])
      : undefined,
    kmsKeyId: env.KMS_KEY_ID || undefined,
    region: env.AWS_REGION || 'us-east-1',
    sizeLimit: integer(env, 'BINARY_SIZE_LIMIT', 100 * 1024 * 1024, 0, MAX_BINARY_BYTES),
  };
}

/** `24h,1h`, `30m`, `2d`: each an offset before the start; `none` for no reminders. */
function reminderOffsets(raw: string | undefined): number[] {
  const value = raw?.trim() || '24h,1h';
  if (value === 'none') return [];
  const unit: Record<string, number> = { m: 1, h: 60, d: 24 * 60 };
  const minutes = value.split(',').map((part) => {
    const m = /^(\d{1,5})([mhd])$/.exec(part.trim());
    if (!m || Number(m[1]) === 0) {
      throw new ConfigError(
        `REMINDER_OFFSETS must be a list like 24h,1h (minutes m, hours h, days d) or none (got "${value}")`,
      );
    }
    return Number(m[1]) * unit[m[2]!]!;
  });
  return [...new Set(minutes)].sort((a, b) => b - a);
}

function timeZone(raw: string | undefined): string {
  const zone = raw || 'UTC';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new ConfigError(`REMINDER_TIME_ZONE must be an IANA time zone (got "${zone}")`);
  }
  return zone;
}

function notifyConfig(env: Env): NotifyConfig {
  const provider = oneOf(env, 'NOTIFY_PROVIDER', ['sns', 'local'] as const, 'local');
  const topicArn = env.SNS_TOPIC_ARN || undefined;
  if (
    topicArn !== undefined &&
    !/^arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w-]{1,256}(\.fifo)?$/.test(topicArn)
  ) {
    throw new ConfigError(`SNS_TOPIC_ARN must be an SNS topic ARN (got "${topicArn}")`);
  }
  if (topicArn && provider !== 'sns')
    throw new ConfigError('SNS_TOPIC_ARN needs NOTIFY_PROVIDER=sns');
  return { provider, region: env.AWS_REGION || 'us-east-1', topicArn };
}

/** Where OAuth endpoints live by default: the issuer when it is a URL, else our own origin. */
function oauthBase(env: Env, baseUrl: string): string {
  const issuer = env.AUTH_ISSUER;
  if (issuer && /^https?:\/\//.test(issuer)) return issuer.replace(/\/+$/, '');
  return new URL(baseUrl).origin;
}

/**
 * What production needs of its token issuer. An external one (AUTH_JWKS_URI) needs nothing
 * more here; without it the built-in authorization server issues the tokens, which is safe only
 * with its signing keys in a shared, lasting Postgres (not DATA_DIR's embedded database, lost
 * with the container and not seen by other replicas), their data key wrapped by a managed KEK
 * (identityKek checks that), and an https: issuer (`{origin of FHIR_BASE_URL}/auth`). A shared
 * HS256 secret, configured or the development one, is never accepted in production.
 */
function productionAuth(
  env: Env,
  { jwksUri, databaseUrl, baseUrl }: { jwksUri?: string; databaseUrl?: string; baseUrl: string },
): void {
  if (env.AUTH_HS256_SECRET) {
    throw new ConfigError(
      'NODE_ENV=production refuses AUTH_HS256_SECRET (a shared secret is for development and tests)',
    );
  }
  if (jwksUri) return;
  const builtIn =
    'NODE_ENV=production without AUTH_JWKS_URI runs the built-in authorization server';
  if (!databaseUrl) {
    throw new ConfigError(
      `${builtIn}, which needs DATABASE_URL (its signing keys live in Postgres, shared by every replica)`,
    );
  }
  if (new URL(baseUrl).protocol !== 'https:') {
    throw new ConfigError(
      `${builtIn}, which needs an https: FHIR_BASE_URL (its issuer is that origin + /auth)`,
    );
  }
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
  const production = env.NODE_ENV === 'production';
  const jwksUri = env.AUTH_JWKS_URI
    ? url('AUTH_JWKS_URI', env.AUTH_JWKS_URI, ['https:', 'http:'])
    : undefined;
  if (production) productionAuth(env, { jwksUri, databaseUrl, baseUrl });
  if (jwksUri && !env.AUTH_ISSUER) throw new ConfigError('AUTH_JWKS_URI needs AUTH_ISSUER');
  if (env.AUTH_HS256_SECRET !== undefined && env.AUTH_HS256_SECRET.length < 32) {
    throw new ConfigError('AUTH_HS256_SECRET must be at least 32 characters');
  }
  return {
    port,
    host,
    baseUrl,
    databaseUrl,
    dataDir: resolve(env.DATA_DIR || '.data'),
    store: oneOf(env, 'FHIR_STORE', ['postgres', 'healthlake'] as const, 'postgres'),
    healthlake:
      env.FHIR_STORE === 'healthlake'
        ? healthLakeConfig(env, (name, fallback, min, max) =>
            integer(env, name, fallback, min, max),
          )
        : undefined,
    bodyLimit: integer(env, 'BODY_LIMIT', 8 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    dbTimeouts: {
      statementMs: integer(env, 'DB_STATEMENT_TIMEOUT_MS', 30_000, 0, DAY_MS),
      lockMs: integer(env, 'DB_LOCK_TIMEOUT_MS', 10_000, 0, DAY_MS),
    },
    embeddedSharedBuffersMb: integer(env, 'EMBEDDED_SHARED_BUFFERS_MB', 128, 1, 16 * 1024),
    requestTimeoutMs: integer(env, 'REQUEST_TIMEOUT_MS', 60_000, 0, DAY_MS),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 10 * 60_000),
    bulkExport: {
      retentionHours: integer(env, 'EXPORT_RETENTION_HOURS', 24, 1, 24 * 30),
      fileResources: integer(env, 'EXPORT_FILE_RESOURCES', 10_000, 1, 1_000_000),
      pollMs: integer(env, 'EXPORT_POLL_MS', 2000, 0, 10 * 60_000),
      maxActiveJobs: integer(env, 'EXPORT_MAX_ACTIVE_JOBS', 3, 1, 1000),
    },
    heapGrowthPercent: integer(env, 'HEAP_GROWTH_PERCENT', 50, 0, 400),
    subscriptions: {
      allowPrivate:
        oneOf(
          env,
          'SUBSCRIPTION_ALLOW_LOOPBACK',
          ['true', 'false'] as const,
          production ? 'false' : 'true',
        ) === 'true',
      httpsOnly: production,
      retryWindowMs:
        integer(env, 'SUBSCRIPTION_RETRY_WINDOW_SECONDS', 86_400, 1, 30 * 86_400) * 1000,
      timeoutMs: integer(env, 'SUBSCRIPTION_TIMEOUT_MS', 10_000, 100, 120_000),
      pollMs: integer(env, 'SUBSCRIPTION_POLL_MS', 1000, 10, 60_000),
      maxLifetimeMs: integer(env, 'SUBSCRIPTION_MAX_LIFETIME_HOURS', 720, 1, 24 * 366) * 3_600_000,
      maxPerOwner: integer(env, 'SUBSCRIPTION_MAX_PER_OWNER', 20, 1, 10_000),
      wsBindTimeoutMs: integer(env, 'SUBSCRIPTION_WS_BIND_TIMEOUT_MS', 10_000, 100, 600_000),
      wsMaxConnections: integer(env, 'SUBSCRIPTION_WS_MAX_CONNECTIONS', 1000, 1, 1_000_000),
      wsMaxPerAddress: integer(env, 'SUBSCRIPTION_WS_MAX_PER_ADDRESS', 20, 1, 100_000),
    },
    auth: {
      issuer: env.AUTH_ISSUER || DEV_ISSUER,
      audience: env.AUTH_AUDIENCE || baseUrl,
      jwksUri,
      hs256Secret: env.AUTH_HS256_SECRET || undefined,
      production,
      authorizationEndpoint: url(
        'AUTH_AUTHORIZATION_ENDPOINT',
        env.AUTH_AUTHORIZATION_ENDPOINT || `${oauthBase(env, baseUrl)}/oauth2/authorize`,
        ['https:', 'http:'],
      ),
      tokenEndpoint: url(
        'AUTH_TOKEN_ENDPOINT',
        env.AUTH_TOKEN_ENDPOINT || `${oauthBase(env, baseUrl)}/oauth2/token`,
        ['https:', 'http:'],
      ),
    },
    providerAccess: oneOf(env, 'PROVIDER_ACCESS', ['assigned', 'all'] as const, 'assigned'),
    video: {
      provider: oneOf(env, 'VIDEO_PROVIDER', ['chime', 'local'] as const, 'local'),
      endpoint: env.CHIME_ENDPOINT
        ? url('CHIME_ENDPOINT', env.CHIME_ENDPOINT, ['https:', 'http:'])
        : undefined,
      region: env.AWS_REGION || 'us-east-1',
      earlyMinutes: integer(env, 'VISIT_EARLY_MINUTES', 15, 0, 24 * 60),
    },
    blobs: blobConfig(env, production),
    notify: notifyConfig(env),
    reminders: {
      offsetsMinutes: reminderOffsets(env.REMINDER_OFFSETS),
      linkBase: url(
        'REMINDER_LINK_BASE',
        env.REMINDER_LINK_BASE || `${new URL(baseUrl).origin}/visit`,
        ['https:', 'http:'],
      ).replace(/\/+$/, ''),
      timeZone: timeZone(env.REMINDER_TIME_ZONE),
      pollMs: integer(env, 'REMINDER_POLL_MS', 30_000, 0, DAY_MS),
    },
    identity: {
      mrnPrefix: mrnPrefix(env.MRN_PREFIX),
      mrnWidth: integer(env, 'MRN_WIDTH', 6, 1, 18),
      mrnSystem: url('MRN_SYSTEM', env.MRN_SYSTEM || `${baseUrl}/mrn`, ['http:', 'https:', 'urn:']),
      kmsKeyId: env.KMS_KEY_ID || undefined,
      kek: identityKek(env, production),
    },
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
