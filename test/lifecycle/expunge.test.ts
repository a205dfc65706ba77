import { Readable } from 'node:stream';
import t from 'tap';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { searchIndexer } from '../../src/store/postgres/search-indexer.js';
import type { RequestContext } from '../../src/store/store.js';
import { fhir, testConfig, testToken } from '../helpers.js';
import { serverWithDatabase } from '../identity/side-db.js';
import { HOLD, traces } from './helpers.js';
import { storedBinary } from '../../src/fhir/binary.js';
import { deleteQueuedBlobs } from '../../src/lifecycle/blob-deletions.js';

const SERVER: RequestContext = { requestId: 'test', access: 'unrestricted' };
const admin = {
  authorization: `Bearer ${testToken({ scope: 'user/*.*', role: 'ADMIN', fhirUser: 'Practitioner/admin' })}`,
};
const provider = {
  authorization: `Bearer ${testToken({ scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/doc' })}`,
};
const reason = (text: string) => ({
  resourceType: 'Parameters',
  parameter: [{ name: 'reason', valueString: text }],
});
/** A Binary in the form the documents feature stores (src/fhir/binary.ts). */
const storedForm = (key: string, patient: string) =>
  storedBinary(
    { resourceType: 'Binary', contentType: 'text/plain' },
    { key, size: 2, sha1Base64: '' },
    patient,
  );

t.test('Patient $expunge', async (t) => {
  const config = await testConfig(t, { providerAccess: 'all' });
  const { base, app, db } = await serverWithDatabase(t, config);
  const raw = new PostgresStore(db, db, false, searchIndexer(base));
  const put = async (type: string, id: string, body: Record<string, unknown> = {}) => {
    const res = await fhir(base, 'PUT', `${type}/${id}`, { resourceType: type, id, ...body });
    t.ok(res.status < 300, `${type}/${id} stored`);
  };
  const obs = (patient: string, extra: Record<string, unknown> = {}) => ({
    status: 'final',
    code: { text: 'weight' },
    subject: { reference: `Patient/${patient}` },
    ...extra,
  });
  for (const id of ['p1', 'p2', 'p10']) await put('Patient', id, { gender: 'female' });
  await put('Patient', 'p1', { gender: 'male' });
  await put('Observation', 'o1', obs('p1'));
  await put('Observation', 'o1', obs('p1', { status: 'amended' }));
  await put('Observation', 'o-held', obs('p1', { meta: HOLD }));
  await put('Observation', 'o2', obs('p2'));
  await put('Observation', 'o10', obs('p10'));
  await put('Encounter', 'e1', {
    status: 'finished',
    class: { code: 'VR' },
    subject: { reference: 'Patient/p1' },
  });
  t.equal((await fhir(base, 'DELETE', 'Encounter/e1')).status, 204);
  for (const [id, owner] of [
    ['b1', 'Patient/p1'],
    ['b2', 'Patient/p2'],
  ] as const) {
    await app.blobs.put(`test/${id}`, Readable.from([Buffer.from(id)]), {
      contentType: 'text/plain',
      maxBytes: 100,
    });
    await raw.create(storedForm(`test/${id}`, owner), SERVER, id);
  }
  const call = (id: string, body: unknown, headers: Record<string, string> = admin) =>
    fhir(base, 'POST', `Patient/${id}/$expunge`, body, headers);

  t.test('only ADMIN', async (t) => {
    t.equal((await call('p1', reason('x'), provider)).status, 403, 'a PROVIDER: 403');
    t.equal(
      (await fhir(base, 'POST', 'Patient/p1/$expunge', reason('x'))).status,
      403,
      'a backend service: 403',
    );
  });

  t.test('a reason is required', async (t) => {
    const res = await call('p1', { resourceType: 'Parameters' });
    t.equal(res.status, 400);
    t.equal(res.body.resourceType, 'OperationOutcome');
    t.equal((await call('p1', reason('   '))).status, 400, 'a blank one too');
  });

  t.test('an unknown patient is 404', async (t) => {
    t.equal((await call('nobody', reason('x'))).status, 404);
  });

  t.test('refused while anything of the patient is under legal hold', async (t) => {
    const res = await call('p1', reason('request of the patient'));
    t.equal(res.status, 409);
    t.match(res.body.issue[0].diagnostics, /Observation\/o-held/);
    t.ok(await traces(db, 'Patient', 'p1'), 'nothing removed');
    t.ok(await app.blobs.exists('test/b1'));
  });

  t.test('removes everything of the patient, and only of that patient', async (t) => {
    await put('Observation', 'o-held', obs('p1')); // the hold is lifted
    const auditBefore = await db.query(`SELECT id FROM audit_event`);
    t.ok(auditBefore.length, 'the writes so far are audited');
    const res = await call('p1', reason('right to erasure request 42'));
    t.equal(res.status, 200, JSON.stringify(res.body));
    t.match(res.body.issue[0].diagnostics, /Expunged Patient\/p1: 5 resources/);
    for (const [type, id] of [
      ['Patient', 'p1'],
      ['Observation', 'o1'],
      ['Observation', 'o-held'],
      ['Encounter', 'e1'],
      ['Binary', 'b1'],
    ] as const) {
      t.equal(await traces(db, type, id), 0, `${type}/${id}: every version and index row gone`);
    }
    t.notOk(await app.blobs.exists('test/b1'), "the patient's stored bytes are gone");
    t.ok(await app.blobs.exists('test/b2'), "another patient's stay");
    for (const [type, id] of [
      ['Patient', 'p2'],
      ['Patient', 'p10'],
      ['Observation', 'o2'],
      ['Observation', 'o10'],
      ['Binary', 'b2'],
    ] as const) {
      t.ok(await traces(db, type, id), `${type}/${id} untouched`);
    }
    t.equal(
      (await db.query('SELECT 1 FROM patient_mrn WHERE patient_id = $1', ['p1'])).length,
      0,
      'its MRN is released',
    );
    const auditAfter = (
      await db.query<{ id: string; json: string }>(`SELECT id, json FROM audit_event`)
    ).map((row) => ({
      id: row.id,
      content: JSON.parse(row.json) as {
        subtype?: { code: string }[];
        entity?: { description?: string }[];
      },
    }));
    const after = new Set(auditAfter.map((r) => r.id));
    t.ok(
      auditBefore.every((r) => after.has((r as { id: string }).id)),
      'every AuditEvent stays',
    );
    const record = auditAfter.find((r) => r.content.subtype?.some((s) => s.code === 'expunge'));
    t.equal(
      record?.content.entity?.[0]?.description,
      'right to erasure request 42',
      'one records it, with the reason',
    );
    t.equal(
      (await fhir(base, 'GET', 'Patient/p1', undefined, admin)).status,
      404,
      'not even 410: gone for good',
    );
  });

  t.test('bytes go after the commit; a failed delete stays queued and is retried', async (t) => {
    await put('Patient', 'p20', { gender: 'female' });
    await app.blobs.put('test/b20', Readable.from([Buffer.from('b20')]), {
      contentType: 'text/plain',
      maxBytes: 100,
    });
    await raw.create(storedForm('test/b20', 'Patient/p20'), SERVER, 'b20');
    // The blob store fails once (an S3 outage, say): the expunge itself has committed.
    const blobs = app.blobs;
    const original = blobs.delete.bind(blobs);
    blobs.delete = async () => {
      throw Object.assign(new Error('unreachable'), { code: 'ECONNREFUSED' });
    };
    t.teardown(() => {
      blobs.delete = original;
    });
    const res = await call('p20', reason('erasure 43'));
    t.equal(res.status, 200, 'the expunge stands');
    t.equal(await traces(db, 'Binary', 'b20'), 0, 'the Binary is gone');
    t.ok(await blobs.exists('test/b20'), 'its bytes could not be deleted yet');
    const [queued] = await db.query<{ attempts: number; last_error: string }>(
      'SELECT attempts, last_error FROM blob_deletion WHERE blob_key = $1',
      ['test/b20'],
    );
    t.match(queued, { attempts: 1, last_error: 'ECONNREFUSED' }, 'and the key is kept');
    blobs.delete = original;
    t.same(await deleteQueuedBlobs(db, blobs), [], 'the next run deletes it');
    t.notOk(await blobs.exists('test/b20'));
    const left = await db.query('SELECT 1 FROM blob_deletion WHERE blob_key = $1', ['test/b20']);
    t.equal(left.length, 0, 'and forgets it');
  });
});
