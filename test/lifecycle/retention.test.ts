import { Readable } from 'node:stream';
import type { Resource } from 'fhir/r4.js';
import t from 'tap';
import { buildAuditEvent } from '../../src/audit/event.js';
import { verifyChain } from '../../src/audit/verify.js';
import { appendAudit } from '../../src/audit/writer.js';
import { searchIndexer } from '../../src/store/postgres/search-indexer.js';
import { createLocalBlobStore } from '../../src/blob/local.js';
import { ConfigError } from '../../src/config.js';
import { describeRun, runRetention } from '../../src/lifecycle/retention.js';
import { retentionPolicy } from '../../src/lifecycle/retention-policy.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { RequestContext } from '../../src/store/store.js';
import { fhir, tempDataDir, testConfig } from '../helpers.js';
import { serverWithDatabase } from '../identity/side-db.js';
import { age, HOLD, traces } from './helpers.js';
import { storedBinary } from '../../src/fhir/binary.js';

const SERVER: RequestContext = { requestId: 'test', access: 'unrestricted' };

t.test('retention policy: defaults, overrides and bad values', async (t) => {
  const policy = retentionPolicy({});
  t.equal(policy.types.get('Observation'), 2557, 'clinical: 7 years');
  t.equal(policy.types.get('Patient'), 2557);
  t.equal(policy.audit, 2557, 'AuditEvent: 7 years');
  t.equal(policy.types.get('Practitioner'), 'keep', 'directory data is kept');
  const custom = retentionPolicy({
    RETENTION_POLICY: 'Observation=10, Slot=365,Patient=keep,AuditEvent=3000',
    RETENTION_DEFAULT_DAYS: '4000',
  });
  t.equal(custom.types.get('Observation'), 10);
  t.equal(custom.types.get('Slot'), 365);
  t.equal(custom.types.get('Patient'), 'keep');
  t.equal(custom.types.get('Encounter'), 4000);
  t.equal(custom.audit, 3000);
  for (const bad of ['Observation=0', 'Nope=3', 'Observation', 'Observation=1=2', 'Patient=-1']) {
    t.throws(() => retentionPolicy({ RETENTION_POLICY: bad }), ConfigError, bad);
  }
});

t.test('retention purge', async (t) => {
  const { base, db } = await serverWithDatabase(t, await testConfig(t));
  // Old audit events first, so they are the start of their lane (only a prefix can go).
  for (let n = 0; n < 3; n++) {
    const event = buildAuditEvent({
      interaction: 'read',
      outcome: 'success',
      who: { reference: 'Practitioner/old' },
      subject: 'old',
      requestId: `old-${n}`,
      entities: [{ reference: 'Patient/ancient' }],
      recorded: new Date(`201${n}-01-01T00:00:00Z`),
    });
    await db.transaction((sql) => appendAudit(sql, event, { lane: 0 }));
  }

  const put = async (type: string, id: string, body: Record<string, unknown> = {}) => {
    const res = await fhir(base, 'PUT', `${type}/${id}`, { resourceType: type, id, ...body });
    t.ok(res.status === 200 || res.status === 201, `${type}/${id} stored`);
  };
  await put('Patient', 'p-old');
  await put('Patient', 'p-new');
  await put('Patient', 'p-held', { meta: HOLD });
  await put('Patient', 'p-held-deleted', { meta: HOLD });
  await fhir(base, 'DELETE', 'Patient/p-held-deleted');
  await put('Patient', 'p-lifted', { meta: HOLD });
  await put('Patient', 'p-lifted', { gender: 'other' }); // the hold is lifted by removing the tag
  await put('Patient', 'p-deleted');
  await fhir(base, 'DELETE', 'Patient/p-deleted');
  await put('Observation', 'o-old', {
    status: 'final',
    code: { text: 'weight' },
    subject: { reference: 'Patient/p-new' },
  });
  await put('Practitioner', 'dr-old', { name: [{ family: 'Old' }] });

  const blobs = createLocalBlobStore({ dataDir: tempDataDir(t) });
  const putBlob = (key: string) =>
    blobs.put(key, Readable.from([Buffer.from(`bytes of ${key}`)]), {
      contentType: 'text/plain',
      maxBytes: 1000,
    });
  const binary = (key: string): Resource =>
    storedBinary(
      { resourceType: 'Binary', contentType: 'text/plain' },
      { key, size: 1, sha1Base64: '' },
      undefined,
    );
  await putBlob('b-old/1');
  await putBlob('b-old/2');
  await putBlob('b-new/1');
  // Stored as the documents feature stores them (bytes elsewhere, their key in an extension),
  // straight into the tables: the app's own store would put the bytes in its blob store.
  const raw = new PostgresStore(db, db, false, searchIndexer(base));
  await raw.create(binary('b-old/1'), SERVER, 'b-old');
  await raw.update({ ...binary('b-old/2'), id: 'b-old' } as Resource, SERVER);
  await raw.create(binary('b-new/1'), SERVER, 'b-new');

  for (const [type, id] of [
    ['Patient', 'p-old'],
    ['Patient', 'p-held'],
    ['Patient', 'p-held-deleted'],
    ['Patient', 'p-lifted'],
    ['Patient', 'p-deleted'],
    ['Observation', 'o-old'],
    ['Practitioner', 'dr-old'],
    ['Binary', 'b-old'],
  ] as const) {
    await age(db, type, id);
  }
  const expected = [
    'Binary/b-old',
    'Observation/o-old',
    'Patient/p-deleted',
    'Patient/p-lifted',
    'Patient/p-old',
  ];
  const policy = retentionPolicy({});
  const now = new Date();

  const dry = await runRetention(db, policy, { dryRun: true, actor: 'test', now, blobs });
  const dryIds = dry.due.map((d) => `${d.type}/${d.id}`);
  t.same(dryIds, expected, 'the dry run lists what is due, and nothing held, new or directory');
  t.equal(dry.audit.purged, 3, 'and the three old audit events');
  t.match(describeRun(dry, true).join('\n'), /would purge Patient\/p-old \(last updated/);
  t.ok(await traces(db, 'Patient', 'p-old'), 'a dry run removes nothing');
  t.ok(await blobs.exists('b-old/1'));

  const real = await runRetention(db, policy, { dryRun: false, actor: 'test', now, blobs });
  t.same(
    real.due.map((d) => `${d.type}/${d.id}`),
    dryIds,
    'the real run removes exactly what the dry run listed',
  );
  t.equal(real.audit.purged, dry.audit.purged);
  t.same(
    describeRun(real, false),
    describeRun(dry, true).map((line) => line.replace('would purge', 'purged')),
    'and prints the same lines',
  );
  for (const ref of expected) {
    const [type, id] = ref.split('/') as [string, string];
    t.equal(await traces(db, type, id), 0, `${ref}: no version, current row or index row left`);
  }
  for (const ref of [
    'Patient/p-held',
    'Patient/p-held-deleted',
    'Patient/p-new',
    'Practitioner/dr-old',
    'Binary/b-new',
  ]) {
    const [type, id] = ref.split('/') as [string, string];
    t.ok(await traces(db, type, id), `${ref} is kept`);
  }
  t.notOk(await blobs.exists('b-old/1'), 'the bytes of every purged Binary version are gone');
  t.notOk(await blobs.exists('b-old/2'));
  t.ok(await blobs.exists('b-new/1'), 'other blobs stay');
  const mrns = await db.query('SELECT 1 FROM patient_mrn WHERE patient_id = $1', ['p-old']);
  t.equal(mrns.length, 0, "the purged patient's MRN is released");

  const summary = await db.query<{
    content: {
      entity: {
        what: { identifier: { value: string } };
        detail: { type: string; valueString: string }[];
      }[];
    };
  }>(
    `SELECT json::json AS content FROM audit_event
     WHERE subtype @> ARRAY['retention-purge']`,
  );
  t.equal(summary.length, 1, 'one summary AuditEvent');
  const counts = Object.fromEntries(
    summary[0]!.content.entity.map((e) => [
      e.what.identifier.value,
      e.detail.find((d) => d.type === 'purged-count')?.valueString,
    ]),
  );
  t.same(counts, { Binary: '1', Observation: '1', Patient: '3' });
  const verified = await db.transaction((sql) => verifyChain(sql));
  t.equal(verified.ok, true, 'the audit chain still verifies');

  const again = await runRetention(db, policy, { dryRun: true, actor: 'test', now, blobs });
  t.same(again.due, [], 'nothing is left to purge');
});
