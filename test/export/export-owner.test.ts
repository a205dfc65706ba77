/**
 * A job belongs to the grant that started it: the issuer, subject and client, and the grant
 * facts (roles, scopes, patient, fhirUser) as a fingerprint. A token of the same subject and
 * client whose grant differs (launched for another patient, narrower scopes) sees no status,
 * file or cancel of it: 404.
 */
import t from 'tap';
import { fhir } from '../helpers.js';
import { bearer, drain, exportServer, kick, type Manifest } from './export-helpers.js';

const launched = (patient: string) =>
  bearer({
    sub: 'guardian-1',
    client_id: 'family-app',
    scope: 'patient/*.rs',
    role: 'PATIENT',
    patient,
  });

t.test('attack: the same user and client, launched for another patient', async (t) => {
  const running = await exportServer(t);
  const { base } = running;
  const forA = launched('p1');
  const { res, status } = await kick(base, 'Patient/$export', forA);
  t.equal(res.status, 202);
  const forB = launched('p2');
  t.equal(
    (await fhir(base, 'GET', status, undefined, forB)).status,
    404,
    'B: no status while queued',
  );
  await drain(running);
  const done = await fhir(base, 'GET', status, undefined, forA);
  t.equal(done.status, 200, 'A sees its job');
  const files = (done.body as Manifest).output;
  t.ok(files.length > 0, 'A has files');
  const narrowed = bearer({
    sub: 'guardian-1',
    client_id: 'family-app',
    scope: 'patient/Observation.rs',
    role: 'PATIENT',
    patient: 'p1',
  });
  for (const [who, headers] of [
    ['for patient B', forB],
    ['narrowed scopes', narrowed],
  ] as const) {
    const poll = await fhir(base, 'GET', status, undefined, headers);
    t.equal(poll.status, 404, `${who}: poll`);
    t.equal(poll.body?.resourceType, 'OperationOutcome');
    for (const file of files) {
      const got = await fhir(base, 'GET', file.url.slice(base.length + 1), undefined, {
        ...headers,
        accept: 'application/fhir+ndjson',
      });
      t.equal(got.status, 404, `${who}: download ${file.type}`);
      t.notMatch(got.text, /"resourceType":"(Patient|Observation)"/);
    }
    t.equal((await fhir(base, 'DELETE', status, undefined, headers)).status, 404, `${who}: cancel`);
  }
  t.equal((await fhir(base, 'GET', status, undefined, forA)).status, 200, 'still A’s');
});

t.test('attack: one caller can not queue more than EXPORT_MAX_ACTIVE_JOBS jobs', async (t) => {
  const running = await exportServer(t, { maxActiveJobs: 2 });
  const { base } = running;
  const svc = bearer({ sub: 'svc-a', client_id: 'svc-a', scope: 'system/*.rs' });
  const narrower = bearer({ sub: 'svc-a', client_id: 'svc-a', scope: 'system/Patient.rs' });
  const first = await kick(base, '$export?_type=Patient', svc);
  t.equal(first.res.status, 202);
  t.equal((await kick(base, '$export?_type=Patient', narrower)).res.status, 202);
  const third = await kick(base, '$export?_type=Patient', svc);
  t.equal(third.res.status, 429, 'a third live job of the same caller (any grant)');
  t.equal(third.res.body?.resourceType, 'OperationOutcome');
  t.ok(third.res.headers.get('retry-after'), 'Retry-After');
  t.equal(third.status, '', 'no job');
  const other = bearer({ sub: 'svc-b', client_id: 'svc-b', scope: 'system/*.rs' });
  t.equal((await kick(base, '$export?_type=Patient', other)).res.status, 202, 'others still may');
  t.equal((await fhir(base, 'DELETE', first.status, undefined, svc)).status, 202);
  t.equal((await kick(base, '$export?_type=Patient', svc)).res.status, 202, 'after a cancel');
  await drain(running);
  t.equal((await kick(base, '$export?_type=Patient', svc)).res.status, 202, 'after they finish');
});
