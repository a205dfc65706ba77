import { statSync } from 'node:fs';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import t from 'tap';
import { LocalKeyWrapper } from '../../src/identity/key-wrapper.js';
import { KmsKeyWrapper } from '../../src/identity/kms-key-wrapper.js';
import { loadSsnCipher, SsnCipher } from '../../src/identity/ssn-cipher.js';
import { ensureIdentitySchema } from '../../src/identity/schema.js';
import { maskSsn } from '../../src/identity/ssn.js';
import { openDatabase } from '../../src/store/postgres/database.js';
import { migrate } from '../../src/store/postgres/migrate.js';
import { isolatedDatabase, tempDataDir } from '../helpers.js';
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
