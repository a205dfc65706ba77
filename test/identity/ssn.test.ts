import t from 'tap';
import { FHIR_JSON, fhir, logCapture, startServer, testConfig, testToken } from '../helpers.js';
import { serverWithDatabase } from './side-db.js';
import { openDatabase } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { searchIndexer } from '../../src/store/postgres/search-indexer.js';

const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
const SSN = '123-45-6789';
const MASKED = '***-**-6789';
const NEEDLES = [
  '123-45-6789',
  '123456789',
  '987-65-4321',
  '987654321',
  '555-12-3456',
  '555123456',
];

const provider = testToken({ scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/doc-1' });
const admin = testToken({ scope: 'user/*.*', role: 'ADMIN', fhirUser: 'Practitioner/admin-1' });
const billing = testToken({ scope: 'system/*.* telefhir/ssn.read', sub: 'billing' });
const as = (token: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${token}`,
  ...extra,
});

type Identifier = { system?: string; value?: string; extension?: unknown[] };
const ssnsIn = (body: unknown): Identifier[] => {
  const found: Identifier[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    if (record.system === SSN_SYSTEM) found.push(record as Identifier);
    Object.values(record).forEach(walk);
  };
  walk(body);
  return found;
};
const ssnValues = (body: unknown) => ssnsIn(body).map((i) => i.value);

t.test('SSN', async (t) => {
  const logs = logCapture();
  const config = await testConfig(t, { providerAccess: 'all', logLevel: 'trace' });
  const { base, db } = await serverWithDatabase(t, config, { logStream: logs.stream });
  const ssnQuery = (value: string) =>
    `Patient?identifier=${encodeURIComponent(`${SSN_SYSTEM}|${value}`)}`;

  const created = await fhir(
    base,
    'POST',
    'Patient',
    {
      resourceType: 'Patient',
      name: [{ family: 'Nakamura', given: ['Kei'] }],
      identifier: [{ system: SSN_SYSTEM, value: SSN }],
    },
    { prefer: 'return=representation' },
  );
  t.equal(created.status, 201);
  const id = created.body.id as string;

  t.test('the create response shows it masked to a caller not allowed to see it', async (t) => {
    t.same(ssnValues(created.body), [MASKED]);
    t.same(ssnsIn(created.body)[0]!.extension, undefined, 'no ciphertext leaves the server');
  });

  t.test('a PROVIDER sees it masked in read, vread, search, history and bundles', async (t) => {
    const h = as(provider);
    t.same(ssnValues((await fhir(base, 'GET', `Patient/${id}`, undefined, h)).body), [MASKED]);
    t.same(ssnValues((await fhir(base, 'GET', `Patient/${id}/_history/1`, undefined, h)).body), [
      MASKED,
    ]);
    const search = await fhir(base, 'GET', `Patient?_id=${id}`, undefined, h);
    t.same(ssnValues(search.body), [MASKED], 'search');
    const history = await fhir(base, 'GET', `Patient/${id}/_history`, undefined, h);
    t.same(ssnValues(history.body), [MASKED], 'history');
    const batch = await fhir(
      base,
      'POST',
      '',
      {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ request: { method: 'GET', url: `Patient/${id}` } }],
      },
      h,
    );
    t.same(ssnValues(batch.body), [MASKED], 'batch response');
    const obs = await fhir(base, 'POST', 'Observation', {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'weight' },
      subject: { reference: `Patient/${id}` },
    });
    const included = await fhir(
      base,
      'GET',
      `Observation?_id=${obs.body.id}&_include=Observation:subject`,
      undefined,
      h,
    );
    t.same(ssnValues(included.body), [MASKED], '_include');
  });

  t.test('ADMIN and the telefhir/ssn.read scope see it in full', async (t) => {
    t.same(ssnValues((await fhir(base, 'GET', `Patient/${id}`, undefined, as(admin))).body), [SSN]);
    t.same(ssnValues((await fhir(base, 'GET', `Patient/${id}`, undefined, as(billing))).body), [
      SSN,
    ]);
  });

  t.test('search by the full SSN finds the patient; a partial one does not', async (t) => {
    const ids = async (value: string) =>
      ((await fhir(base, 'GET', ssnQuery(value))).body.entry ?? []).map(
        (e: { resource: { id: string } }) => e.resource.id,
      );
    t.same(await ids(SSN), [id]);
    t.same(await ids('123456789'), [id], 'without dashes too');
    t.same(await ids('6789'), []);
    t.same(await ids('123-45'), []);
    t.same(await ids(MASKED), []);
    const self = (await fhir(base, 'GET', ssnQuery(SSN))).body.link[0].url as string;
    t.notMatch(decodeURIComponent(self), /6789/, 'the self link carries the token, not the number');
  });

  t.test('an update resending the masked value keeps the stored SSN', async (t) => {
    const read = (await fhir(base, 'GET', `Patient/${id}`, undefined, as(provider))).body;
    const res = await fhir(
      base,
      'PUT',
      `Patient/${id}`,
      { ...read, gender: 'female' },
      as(provider),
    );
    t.equal(res.status, 200);
    const now = (await fhir(base, 'GET', `Patient/${id}`, undefined, as(admin))).body;
    t.equal(now.gender, 'female');
    t.same(ssnValues(now), [SSN]);
  });

  t.test('a masked value that is not the stored one is 422', async (t) => {
    const read = (await fhir(base, 'GET', `Patient/${id}`)).body;
    read.identifier = [{ system: SSN_SYSTEM, value: '***-**-0000' }];
    t.equal((await fhir(base, 'PUT', `Patient/${id}`, read)).status, 422);
    const fresh = await fhir(base, 'POST', 'Patient', {
      resourceType: 'Patient',
      identifier: [{ system: SSN_SYSTEM, value: MASKED }],
    });
    t.equal(fresh.status, 422, 'nor on a create');
  });

  t.test('a client cannot send a token or a ciphertext of its own', async (t) => {
    const forged = await fhir(base, 'POST', 'Patient', {
      resourceType: 'Patient',
      identifier: [
        {
          system: SSN_SYSTEM,
          value: `ssn-hmac-${'0'.repeat(64)}`,
          extension: [
            {
              url: 'http://telefhir.dev/fhir/StructureDefinition/ssn-ciphertext',
              valueString: 'v1.AAAA',
            },
          ],
        },
      ],
    });
    t.equal(forged.status, 422);
  });

  t.test('a new full SSN replaces the old one', async (t) => {
    const other = await fhir(base, 'POST', 'Patient', {
      resourceType: 'Patient',
      identifier: [{ system: SSN_SYSTEM, value: '987-65-4321' }],
    });
    const read = (await fhir(base, 'GET', `Patient/${other.body.id}`)).body;
    read.identifier = read.identifier.map((i: Identifier) =>
      i.system === SSN_SYSTEM ? { ...i, value: '987-65-0000' } : i,
    );
    t.equal((await fhir(base, 'PUT', `Patient/${other.body.id}`, read)).status, 200);
    const now = (await fhir(base, 'GET', `Patient/${other.body.id}`, undefined, as(admin))).body;
    t.same(ssnValues(now), ['987-65-0000']);
    t.equal((await fhir(base, 'DELETE', `Patient/${other.body.id}`)).status, 204);
  });

  t.test(
    'an SSN anywhere in a resource is sealed: contained, or a logical reference',
    async (t) => {
      const res = await fhir(base, 'POST', 'Observation', {
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'weight' },
        contained: [
          {
            resourceType: 'Patient',
            id: 'c1',
            identifier: [{ system: SSN_SYSTEM, value: '555-12-3456' }],
          },
        ],
        subject: { identifier: { system: SSN_SYSTEM, value: '555-12-3456' } },
        performer: [{ reference: '#c1' }],
      });
      t.equal(res.status, 201);
      t.same(ssnValues(res.body), ['***-**-3456', '***-**-3456']);
      const full = await fhir(base, 'GET', `Observation/${res.body.id}`, undefined, as(admin));
      t.same(ssnValues(full.body), ['555-12-3456', '555-12-3456']);
    },
  );

  t.test('the number is in no table and no log line', async (t) => {
    const tokens = await db.query(
      `SELECT 1 FROM idx_token WHERE system = $1 AND value LIKE 'ssn-hmac-%' LIMIT 1`,
      [SSN_SYSTEM],
    );
    t.equal(tokens.length, 1, 'the token index holds the token, not the number');
    await fhir(base, 'DELETE', `Patient/${id}`);
    const tables = await db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables
       WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
    );
    t.ok(tables.length > 10, `scanned ${tables.length} tables`);
    const leaks: string[] = [];
    for (const { table_name } of tables) {
      for (const needle of NEEDLES) {
        const rows = await db.query(
          `SELECT 1 FROM "${table_name}" x WHERE x::text LIKE $1 LIMIT 1`,
          [`%${needle}%`],
        );
        if (rows.length) leaks.push(`${table_name}: ${needle}`);
      }
    }
    t.same(leaks, [], 'no table holds the number');
    const control = await db.query(
      `SELECT 1 FROM resource_history x WHERE x::text LIKE '%Nakamura%' LIMIT 1`,
    );
    t.equal(control.length, 1, 'the same scan does find what was stored in clear (the name)');
    const text = logs.text();
    t.ok(text.length > 0, 'logs were captured');
    for (const needle of NEEDLES) {
      t.notOk(text.includes(needle), `no log line has ${needle}`);
    }
  });
});

t.test('public routes, without a caller, still answer', async (t) => {
  const config = await testConfig(t);
  const { base } = await startServer(t, config);
  const res = await fetch(`${base}/metadata`, { headers: { accept: FHIR_JSON } });
  t.equal(res.status, 200, 'public routes still answer');
});

t.test('the number is sealed at the REST boundary, whatever the store', async (t) => {
  // A store opened without the server's write hooks (as another backend would be): numbers are
  // still sealed before it sees them, and searching by the number still works.
  const config = await testConfig(t);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  await migrate(db);
  const store = new PostgresStore(db, db, false, searchIndexer(config.baseUrl));
  await store.sharedSecret('paging');
  const { base } = await startServer(t, config, { store });
  const res = await fhir(base, 'POST', 'Patient', {
    resourceType: 'Patient',
    identifier: [{ system: SSN_SYSTEM, value: '321-54-9876' }],
  });
  t.equal(res.status, 201);
  const found = await fhir(
    base,
    'GET',
    `Patient?identifier=${encodeURIComponent(`${SSN_SYSTEM}|321-54-9876`)}`,
  );
  t.same(
    found.body.entry.map((e: { resource: { id: string } }) => e.resource.id),
    [res.body.id],
  );
  const rows = await db.query(
    `SELECT 1 FROM resource_history x
     WHERE x::text LIKE '%321-54-9876%' OR x::text LIKE '%321549876%'`,
  );
  t.equal(rows.length, 0, 'the store never saw the number');
});
