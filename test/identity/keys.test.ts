import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import t from 'tap';
import { LocalKeyWrapper } from '../../src/identity/key-wrapper.js';
import { KmsKeyWrapper } from '../../src/identity/kms-key-wrapper.js';
import { loadSsnCipher, SsnCipher } from '../../src/identity/ssn-cipher.js';
import { ensureIdentitySchema } from '../../src/identity/schema.js';
import { maskSsn } from '../../src/identity/ssn.js';
import { openDatabase } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { buildApp } from '../../src/app.js';
import {
  fhir,
  isolatedDatabase,
  startServer,
  tempDataDir,
  testConfig,
  testToken,
} from '../helpers.js';
import { KMS_CREDENTIALS, startKmsEmulator } from './kms-emulator.js';

t.test('the SSN cipher: deterministic tokens, authenticated ciphertexts', async (t) => {
  const cipher = new SsnCipher(Buffer.alloc(32, 7));
  const token = cipher.token('123-45-6789');
  t.equal(cipher.token('123456789'), token, 'spelling does not matter');
  t.not(cipher.token('123-45-6788'), token);
  t.not(
    new SsnCipher(Buffer.alloc(32, 8)).token('123-45-6789'),
    token,
    'keyed: another key, another token',
  );
  t.notMatch(token, /6789/);
  const sealed = cipher.encrypt('123-45-6789', token);
  t.notMatch(sealed, /6789/);
  t.not(cipher.encrypt('123-45-6789', token), sealed, 'a fresh IV each time');
  t.equal(cipher.decrypt(sealed, token), '123-45-6789');
  t.equal(cipher.decrypt(sealed, cipher.token('999-99-9999')), undefined, 'bound to its token');
  t.equal(cipher.decrypt(`${sealed.slice(0, -4)}AAAA`, token), undefined, 'tampering is caught');
  t.equal(maskSsn('123-45-6789'), '***-**-6789');
  t.equal(maskSsn('12'), '***-**-****');
});

t.test('the local key file: made once (0600), and it unwraps what it wrapped', async (t) => {
  const dir = tempDataDir(t);
  const first = LocalKeyWrapper.open(dir);
  t.equal(statSync(join(dir, 'identity-kek')).mode & 0o777, 0o600);
  const key = Buffer.alloc(32, 1);
  const wrapped = await first.wrap(key);
  t.notOk(wrapped.includes(key), 'the wrapped key does not contain the key');
  t.same(await LocalKeyWrapper.open(dir).unwrap(wrapped), key, 'a second open reads the same file');
  await t.rejects(LocalKeyWrapper.open(tempDataDir(t)).unwrap(wrapped), 'another KEK cannot');
});

t.test('KMS: the data key is wrapped by KMS, with an encryption context', async (t) => {
  const kms = await startKmsEmulator(['alias/ssn']);
  t.teardown(() => kms.close());
  const client = (keyId: string) =>
    new KmsKeyWrapper(
      keyId,
      new KMSClient({ region: 'us-east-1', endpoint: kms.endpoint, credentials: KMS_CREDENTIALS }),
    );
  const wrapper = client('alias/ssn');
  const key = Buffer.alloc(32, 9);
  const wrapped = await wrapper.wrap(key);
  t.same(await wrapper.unwrap(wrapped), key);
  t.same(
    kms.calls.map((c) => c.target),
    ['TrentService.Encrypt', 'TrentService.Decrypt'],
  );
  t.same(kms.calls[0]!.context, { purpose: 'telefhir-ssn-data-key' });
  await t.rejects(client('alias/other').wrap(key), 'an unknown key is an error');
  const badCredentials = new KmsKeyWrapper(
    'alias/ssn',
    new KMSClient({
      region: 'us-east-1',
      endpoint: kms.endpoint,
      credentials: { accessKeyId: KMS_CREDENTIALS.accessKeyId, secretAccessKey: 'wrong' },
    }),
  );
  await t.rejects(badCredentials.unwrap(wrapped), 'the emulator checks signatures');
});

t.test('the data key lives wrapped in Postgres: every replica gets the same one', async (t) => {
  const where = await isolatedDatabase(t);
  const db = await openDatabase({ databaseUrl: where.databaseUrl, dataDir: where.dataDir ?? '' });
  t.teardown(() => db.close());
  await migrate(db);
  const kek = LocalKeyWrapper.open(tempDataDir(t));
  const [a, b] = await Promise.all([loadSsnCipher(db, kek), loadSsnCipher(db, kek)]);
  t.equal(a.token('123-45-6789'), b.token('123-45-6789'), 'racing replicas agree');
  const rows = await db.query<{ kek: string }>('SELECT kek FROM identity_data_key');
  t.same(rows, [{ kek: 'local' }]);
  const kms = await startKmsEmulator(['alias/ssn']);
  t.teardown(() => kms.close());
  const other = new KmsKeyWrapper(
    'alias/ssn',
    new KMSClient({ region: 'us-east-1', endpoint: kms.endpoint, credentials: KMS_CREDENTIALS }),
  );
  await t.rejects(loadSsnCipher(db, other), /wrapped by "local"/, 'a different KEK is refused');
  await t.rejects(
    loadSsnCipher(db, LocalKeyWrapper.open(tempDataDir(t))),
    /can't be unwrapped with the configured local key .*identity-kek/,
    'another local key file (a new DATA_DIR) is refused with a clear reason',
  );
});

t.test(
  'without the Postgres store (HealthLake), the identity tables are made where asked',
  async (t) => {
    const where = await isolatedDatabase(t);
    // A bare database: not a copy of the build's template, which has every migration already.
    const db = await openDatabase({
      databaseUrl: where.databaseUrl,
      dataDir: where.dataDir ?? '',
      templates: tempDataDir(t),
    });
    t.teardown(() => db.close());
    await Promise.all([ensureIdentitySchema(db), ensureIdentitySchema(db)]);
    await ensureIdentitySchema(db);
    const cipher = await loadSsnCipher(db, LocalKeyWrapper.open(tempDataDir(t)));
    t.match(cipher.token('123-45-6789'), /^ssn-hmac-[0-9a-f]{64}$/);
    const [row] = await db.query<{ n: string }>(`SELECT nextval('patient_mrn_seq')::text AS n`);
    t.equal(row?.n, '1');
    t.ok((await migrate(db)).includes(4), 'the store migrations still apply over it later');
  },
);

t.test(
  'a lost key file stops start-up saying how to recover; IDENTITY_KEK set to it recovers',
  async (t) => {
    const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
    const config = await testConfig(t);
    const first = await startServer(t, config);
    const created = await fhir(first.base, 'POST', 'Patient', {
      resourceType: 'Patient',
      identifier: [{ system: SSN_SYSTEM, value: '123-45-6789' }],
    });
    t.equal(created.status, 201);
    await first.close();

    const file = join(config.dataDir, 'identity-kek');
    const saved = readFileSync(file, 'utf8').trim();
    rmSync(file); // a container's DATA_DIR, gone with the container
    const error = await buildApp(config).then(
      async (app) => {
        await app.close();
        return undefined;
      },
      (err: Error) => err,
    );
    t.ok(error, 'start-up is refused');
    t.match(error?.message, /restore the identity-kek file .* from backup/);
    t.match(error?.message, /IDENTITY_KEK/);
    t.match(error?.message, /SSNs cannot be read without it/);
    t.notMatch(error?.message, saved, 'no key in the message');

    const recovered = await startServer(t, {
      ...config,
      identity: { ...config.identity, kek: Buffer.from(saved, 'base64') },
    });
    const read = await fhir(recovered.base, 'GET', `Patient/${created.body.id}`, undefined, {
      authorization: `Bearer ${testToken({ role: 'ADMIN' })}`,
    });
    t.equal(read.status, 200);
    const ssn = read.body.identifier.find((i: { system: string }) => i.system === SSN_SYSTEM);
    t.equal(ssn?.value, '123-45-6789', 'the stored SSN is readable again');
  },
);
