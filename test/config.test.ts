import t from 'tap';
import { ConfigError, loadConfig } from '../src/config.js';
import { builtInIssuer } from '../src/oauth/oauth.js';

t.test('defaults give a laptop server on 127.0.0.1:8080 with embedded storage', async (t) => {
  const config = loadConfig({});
  t.equal(config.port, 8080);
  t.equal(config.host, '127.0.0.1');
  t.equal(config.baseUrl, 'http://127.0.0.1:8080/fhir');
  t.equal(config.databaseUrl, undefined);
  t.match(config.dataDir, /\.data$/);
  t.equal(config.store, 'postgres');
  t.equal(config.bodyLimit, 8 * 1024 * 1024);
  t.equal(config.logLevel, 'info');
  t.equal(config.defaultProfiles, 'us-core');
  t.equal(config.heapGrowthPercent, 50);
});

t.test('timeouts: bounded by default, settable, 0 for no limit', async (t) => {
  const defaults = loadConfig({});
  t.same(defaults.dbTimeouts, { statementMs: 30_000, lockMs: 10_000 });
  t.equal(defaults.requestTimeoutMs, 60_000);
  t.equal(defaults.shutdownGraceMs, 10_000);
  const set = loadConfig({
    DB_STATEMENT_TIMEOUT_MS: '0',
    DB_LOCK_TIMEOUT_MS: '250',
    REQUEST_TIMEOUT_MS: '5000',
    SHUTDOWN_GRACE_MS: '0',
  });
  t.same(set.dbTimeouts, { statementMs: 0, lockMs: 250 });
  t.equal(set.requestTimeoutMs, 5000);
  t.equal(set.shutdownGraceMs, 0);
});

t.test('environment values are read and normalised', async (t) => {
  const config = loadConfig({
    PORT: '9000',
    HOST: '0.0.0.0',
    FHIR_BASE_URL: 'https://fhir.example.org/fhir/',
    DATABASE_URL: 'postgres://u@db:5432/x',
    DATA_DIR: '/tmp/somewhere',
    BODY_LIMIT: '1048576',
    LOG_LEVEL: 'warn',
    HEAP_GROWTH_PERCENT: '0',
  });
  t.equal(config.port, 9000);
  t.equal(config.baseUrl, 'https://fhir.example.org/fhir', 'no trailing slash');
  t.equal(config.databaseUrl, 'postgres://u@db:5432/x');
  t.equal(config.dataDir, '/tmp/somewhere');
  t.equal(config.bodyLimit, 1048576);
  t.equal(config.logLevel, 'warn');
  t.equal(config.heapGrowthPercent, 0, "0 leaves V8's own heuristic");
  t.equal(loadConfig({ HOST: '0.0.0.0' }).baseUrl, 'http://127.0.0.1:8080/fhir');
});

t.test('a bad value is a ConfigError naming the variable, on one line', async (t) => {
  const cases: Record<string, string>[] = [
    { PORT: 'abc' },
    { PORT: '70000' },
    { PORT: '80.5' },
    { FHIR_BASE_URL: 'not a url' },
    { FHIR_BASE_URL: 'ftp://x/fhir' },
    { DATABASE_URL: 'mysql://x/y' },
    { FHIR_STORE: 'mongo' },
    { BODY_LIMIT: '-1' },
    { LOG_LEVEL: 'loud' },
    { HEAP_GROWTH_PERCENT: '1000' },
    { HEAP_GROWTH_PERCENT: 'half' },
    { VALIDATION_DEFAULT_PROFILES: 'strict' },
    { NODE_ENV: 'production' },
    { AUTH_HS256_SECRET: 'short' },
    { AUTH_JWKS_URI: 'https://idp.example/.well-known/jwks.json' },
    { AUTH_JWKS_URI: 'not a url', AUTH_ISSUER: 'https://idp.example' },
    { DB_STATEMENT_TIMEOUT_MS: '30s' },
    { DB_LOCK_TIMEOUT_MS: '-1' },
    { REQUEST_TIMEOUT_MS: '99999999999' },
    { SHUTDOWN_GRACE_MS: 'ten' },
  ];
  for (const env of cases) {
    // The variable the message must name: the first one given, or the one production needs.
    const name = env.NODE_ENV ? 'AUTH_JWKS_URI' : Object.keys(env)[0];
    let error: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      error = err;
    }
    t.type(error, ConfigError, `${name}=${env[name!]} is refused`);
    t.match((error as Error).message, name!, 'the message names the variable');
    t.notMatch((error as Error).message, /\n/, 'on one line');
  }
});

t.test('auth settings: development defaults, and production with a JWKS', async (t) => {
  const dev = loadConfig({});
  t.equal(dev.auth.issuer, 'telefhir-dev');
  t.equal(dev.auth.audience, dev.baseUrl);
  t.equal(dev.auth.jwksUri, undefined);
  const prod = loadConfig({
    NODE_ENV: 'production',
    KMS_KEY_ID: 'alias/telefhir',
    AUTH_JWKS_URI: 'https://cognito-idp.us-east-1.amazonaws.com/pool/.well-known/jwks.json',
    AUTH_ISSUER: 'https://cognito-idp.us-east-1.amazonaws.com/pool',
    AUTH_AUDIENCE: 'app-client-id',
  });
  t.equal(prod.auth.production, true);
  t.equal(prod.auth.audience, 'app-client-id');
  t.equal(
    prod.auth.authorizationEndpoint,
    'https://cognito-idp.us-east-1.amazonaws.com/pool/oauth2/authorize',
  );
});

t.test('production without AUTH_JWKS_URI runs the built-in authorization server', async (t) => {
  const prod = {
    NODE_ENV: 'production',
    DATABASE_URL: 'postgres://fhir@db:5432/telefhir',
    FHIR_BASE_URL: 'https://fhir.example.org/fhir',
    IDENTITY_KEK: Buffer.alloc(32, 3).toString('base64'),
  };
  const config = loadConfig(prod);
  t.equal(config.auth.production, true);
  t.equal(config.auth.jwksUri, undefined);
  t.equal(config.auth.hs256Secret, undefined);
  t.ok(builtInIssuer(config), 'the built-in issuer is on');
  const { IDENTITY_KEK: _kek, ...withoutKek } = prod;
  t.ok(builtInIssuer(loadConfig({ ...withoutKek, KMS_KEY_ID: 'alias/telefhir' })), 'or KMS');

  const { DATABASE_URL: _db, ...embedded } = prod;
  const { FHIR_BASE_URL: _base, ...defaultBase } = prod;
  const refusals: [Record<string, string>, RegExp][] = [
    [embedded, /built-in authorization server, which needs DATABASE_URL/],
    [{ ...prod, FHIR_BASE_URL: 'http://fhir.example.org/fhir' }, /needs an https: FHIR_BASE_URL/],
    [defaultBase, /needs an https: FHIR_BASE_URL/],
    [withoutKek, /needs KMS_KEY_ID or IDENTITY_KEK to wrap the SSN and signing keys' data keys/],
    [{ ...prod, AUTH_HS256_SECRET: 'x'.repeat(40) }, /refuses AUTH_HS256_SECRET/],
    [
      {
        ...prod,
        AUTH_HS256_SECRET: 'x'.repeat(40),
        AUTH_JWKS_URI: 'https://idp.example/jwks.json',
        AUTH_ISSUER: 'https://idp.example',
      },
      /refuses AUTH_HS256_SECRET/,
    ],
  ];
  for (const [env, message] of refusals) {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      error = err;
    }
    t.type(error, ConfigError, String(message));
    t.match((error as Error).message, message);
    t.notMatch((error as Error).message, /\n/, 'on one line');
    t.notMatch((error as Error).message, /x{40}/, 'never the secret');
  }
});

t.test('blob store: local by default with a 100 MB Binary limit; S3 settings read', async (t) => {
  const local = loadConfig({});
  t.equal(local.blobs.bucket, undefined);
  t.equal(local.blobs.sizeLimit, 100 * 1024 * 1024);
  const s3 = loadConfig({
    S3_BUCKET: 'telefhir-docs',
    S3_ENDPOINT: 'http://127.0.0.1:4569',
    KMS_KEY_ID: 'alias/telefhir',
    AWS_REGION: 'eu-west-1',
    BINARY_SIZE_LIMIT: '1048576',
  });
  t.same(s3.blobs, {
    bucket: 'telefhir-docs',
    endpoint: 'http://127.0.0.1:4569',
    kmsKeyId: 'alias/telefhir',
    region: 'eu-west-1',
    sizeLimit: 1048576,
  });
});

t.test('blob store: bad settings are ConfigErrors naming the variable', async (t) => {
  const prod = {
    NODE_ENV: 'production',
    AUTH_JWKS_URI: 'https://idp.example/jwks.json',
    AUTH_ISSUER: 'https://idp.example',
  };
  const cases: [Record<string, string>, string][] = [
    [{ S3_BUCKET: 'Not_A_Bucket' }, 'S3_BUCKET'],
    [{ S3_ENDPOINT: 'http://127.0.0.1:4569' }, 'S3_ENDPOINT'],
    [{ S3_BUCKET: 'docs', S3_ENDPOINT: 'not a url' }, 'S3_ENDPOINT'],
    [{ BINARY_SIZE_LIMIT: '-5' }, 'BINARY_SIZE_LIMIT'],
    [{ BINARY_SIZE_LIMIT: '10MB' }, 'BINARY_SIZE_LIMIT'],
    [{ BINARY_SIZE_LIMIT: String(2 ** 31) }, 'BINARY_SIZE_LIMIT'],
    [{ ...prod, S3_BUCKET: 'docs', IDENTITY_KEK: KEK }, 'KMS_KEY_ID'],
  ];
  for (const [env, name] of cases) {
    t.throws(() => loadConfig(env), { name: 'ConfigError', message: new RegExp(name) }, name);
  }
  t.equal(loadConfig({ ...prod, S3_BUCKET: 'docs', KMS_KEY_ID: 'k' }).blobs.kmsKeyId, 'k');
});

t.test('patient identity: MRN format and system, the SSN key-encryption key', async (t) => {
  const defaults = loadConfig({ FHIR_BASE_URL: 'https://fhir.example/fhir' });
  t.same(defaults.identity, {
    mrnPrefix: 'MRN',
    mrnWidth: 6,
    mrnSystem: 'https://fhir.example/fhir/mrn',
    kmsKeyId: undefined,
  });
  const custom = loadConfig({
    MRN_PREFIX: 'TF-',
    MRN_WIDTH: '8',
    MRN_SYSTEM: 'urn:oid:2.16.840.1.113883.3.999',
    KMS_KEY_ID: 'alias/ssn',
  });
  t.same(custom.identity, {
    mrnPrefix: 'TF-',
    mrnWidth: 8,
    mrnSystem: 'urn:oid:2.16.840.1.113883.3.999',
    kmsKeyId: 'alias/ssn',
  });
  t.throws(() => loadConfig({ MRN_PREFIX: 'M R N' }), /MRN_PREFIX/);
  t.throws(() => loadConfig({ MRN_WIDTH: '0' }), /MRN_WIDTH/);
  t.throws(() => loadConfig({ MRN_SYSTEM: 'not a url' }), /MRN_SYSTEM/);
});

t.test('FHIR_STORE=healthlake: endpoint, region, timeouts and the page-token key', async (t) => {
  const endpoint = 'https://healthlake.us-west-2.amazonaws.com/datastore/abc123/r4/';
  const config = loadConfig({ FHIR_STORE: 'healthlake', HEALTHLAKE_ENDPOINT: endpoint });
  t.equal(config.store, 'healthlake');
  t.equal(config.healthlake?.endpoint, endpoint);
  t.equal(config.healthlake?.datastoreId, 'abc123');
  t.equal(config.healthlake?.region, 'us-west-2', 'the region from the endpoint when unset');
  t.equal(config.healthlake?.timeoutMs, 10_000);
  t.equal(config.healthlake?.maxAttempts, 3);
  t.equal(config.healthlake?.pageTokenKey, undefined);
  const tuned = loadConfig({
    FHIR_STORE: 'healthlake',
    HEALTHLAKE_ENDPOINT: 'https://healthlake.us-east-1.amazonaws.com/datastore/abc123/r4',
    AWS_REGION: 'us-east-1',
    HEALTHLAKE_TIMEOUT_MS: '2500',
    HEALTHLAKE_PAGE_TOKEN_KEY: 'ab'.repeat(32),
  });
  t.equal(tuned.healthlake?.endpoint.endsWith('/r4/'), true, 'a trailing slash is added');
  t.equal(tuned.healthlake?.timeoutMs, 2500);
  t.equal(tuned.healthlake?.pageTokenKey?.length, 32);
  t.equal(loadConfig({}).healthlake, undefined, 'no healthlake section on Postgres');
});

t.test('bad HealthLake settings are ConfigErrors naming the variable', async (t) => {
  const good = 'https://healthlake.us-east-1.amazonaws.com/datastore/abc123/r4/';
  const cases: [Record<string, string>, string][] = [
    [{}, 'HEALTHLAKE_ENDPOINT'],
    [{ HEALTHLAKE_ENDPOINT: 'not a url' }, 'HEALTHLAKE_ENDPOINT'],
    [
      { HEALTHLAKE_ENDPOINT: 'http://healthlake.example.com/datastore/a/r4/' },
      'HEALTHLAKE_ENDPOINT',
    ],
    [{ HEALTHLAKE_ENDPOINT: 'https://healthlake.example.com/fhir/' }, 'HEALTHLAKE_ENDPOINT'],
    [{ HEALTHLAKE_ENDPOINT: 'https://hl.example.com/datastore/a/r4/' }, 'AWS_REGION'],
    [{ HEALTHLAKE_ENDPOINT: good, HEALTHLAKE_TIMEOUT_MS: '0' }, 'HEALTHLAKE_TIMEOUT_MS'],
    [
      { HEALTHLAKE_ENDPOINT: good, HEALTHLAKE_PAGE_TOKEN_KEY: 'short' },
      'HEALTHLAKE_PAGE_TOKEN_KEY',
    ],
  ];
  for (const [env, name] of cases) {
    t.throws(() => loadConfig({ FHIR_STORE: 'healthlake', ...env }), ConfigError, name);
    t.throws(() => loadConfig({ FHIR_STORE: 'healthlake', ...env }), new RegExp(name));
  }
  t.doesNotThrow(
    () =>
      loadConfig({
        FHIR_STORE: 'healthlake',
        HEALTHLAKE_ENDPOINT: 'http://127.0.0.1:9/datastore/a/r4/',
        AWS_REGION: 'us-east-1',
      }),
    'plain http only to loopback (an emulator)',
  );
});

const KEK = Buffer.alloc(32, 3).toString('base64');

t.test('production refuses to start without a managed key for the SSN data key', async (t) => {
  const prod = {
    NODE_ENV: 'production',
    AUTH_JWKS_URI: 'https://idp.example/jwks.json',
    AUTH_ISSUER: 'https://idp.example',
  };
  let error: unknown;
  try {
    loadConfig(prod);
  } catch (err) {
    error = err;
  }
  t.type(error, ConfigError, 'no KMS_KEY_ID and no IDENTITY_KEK');
  t.match((error as Error).message, /KMS_KEY_ID or IDENTITY_KEK/);
  t.notMatch((error as Error).message, /\n/, 'on one line');
  t.equal(loadConfig({ ...prod, KMS_KEY_ID: 'alias/ssn' }).identity.kmsKeyId, 'alias/ssn');
  t.same(loadConfig({ ...prod, IDENTITY_KEK: KEK }).identity.kek, Buffer.alloc(32, 3));
  t.equal(loadConfig({}).identity.kek, undefined, 'development: the DATA_DIR key file');
});

t.test('IDENTITY_KEK must be a base64 32-byte key, and is never echoed', async (t) => {
  for (const bad of [
    'short',
    Buffer.alloc(16, 1).toString('base64'),
    Buffer.alloc(33, 1).toString('base64'),
    `${KEK}!`,
    'not base64 at all, not base64 at all, not base64 at al',
  ]) {
    let error: unknown;
    try {
      loadConfig({ IDENTITY_KEK: bad });
    } catch (err) {
      error = err;
    }
    t.type(error, ConfigError, `IDENTITY_KEK=${bad.slice(0, 8)}... is refused`);
    t.match((error as Error).message, /IDENTITY_KEK must be a base64 32-byte key/);
    t.notOk((error as Error).message.includes(bad), 'the value is not in the message');
  }
  t.throws(() => loadConfig({ IDENTITY_KEK: KEK, KMS_KEY_ID: 'k' }), {
    name: 'ConfigError',
    message: /IDENTITY_KEK and KMS_KEY_ID/,
  });
});

t.test('reminder settings: offsets, link, time zone, notifier', async (t) => {
  const defaults = loadConfig({});
  t.same(defaults.reminders.offsetsMinutes, [24 * 60, 60], 'default 24h,1h');
  t.equal(defaults.reminders.linkBase, 'http://127.0.0.1:8080/visit');
  t.equal(defaults.reminders.timeZone, 'UTC');
  t.equal(defaults.reminders.pollMs, 30_000);
  t.same(defaults.notify, { provider: 'local', region: 'us-east-1', topicArn: undefined });
  t.same(
    loadConfig({ REMINDER_OFFSETS: '30m, 2d,1h,1h' }).reminders.offsetsMinutes,
    [2880, 60, 30],
  );
  t.same(loadConfig({ REMINDER_OFFSETS: 'none' }).reminders.offsetsMinutes, []);
  t.equal(
    loadConfig({ REMINDER_LINK_BASE: 'https://visit.example/v/' }).reminders.linkBase,
    'https://visit.example/v',
  );
  const fifo = 'arn:aws:sns:us-east-1:111122223333:reminders.fifo';
  t.equal(loadConfig({ NOTIFY_PROVIDER: 'sns', SNS_TOPIC_ARN: fifo }).notify.topicArn, fifo);
  for (const [env, message] of [
    [{ REMINDER_OFFSETS: '24' }, /REMINDER_OFFSETS must be/],
    [{ REMINDER_OFFSETS: '0h' }, /REMINDER_OFFSETS must be/],
    [{ REMINDER_OFFSETS: '1h,,2h' }, /REMINDER_OFFSETS must be/],
    [{ REMINDER_TIME_ZONE: 'Mars/Olympus' }, /REMINDER_TIME_ZONE/],
    [{ REMINDER_LINK_BASE: 'javascript:alert(1)' }, /REMINDER_LINK_BASE/],
    [{ NOTIFY_PROVIDER: 'pigeon' }, /NOTIFY_PROVIDER must be one of/],
    [{ NOTIFY_PROVIDER: 'sns', SNS_TOPIC_ARN: 'reminders' }, /SNS_TOPIC_ARN must be/],
    [{ SNS_TOPIC_ARN: fifo }, /SNS_TOPIC_ARN needs NOTIFY_PROVIDER=sns/],
    [{ REMINDER_POLL_MS: '-1' }, /REMINDER_POLL_MS/],
  ] as const) {
    t.throws(() => loadConfig(env), { name: 'ConfigError', message }, JSON.stringify(env));
  }
});
