/**
 * Patient/{id}/$everything over HTTP, on the configured store: first what it must refuse
 * (another patient's record, a caller outside the compartment, types beyond the grant, a
 * cursor replayed by someone else), then what it answers.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { loadOperation } from '../../src/fhir/operation-parameters.js';
import { createValidator } from '../../src/validation/index.js';
import { fhir, startServer, startTestServer, testConfig } from '../helpers.js';
import { backWithHealthLake } from '../healthlake/harness.js';
import {
  bearer,
  keys,
  nextOf,
  relative,
  seedWorld,
  TOKENS,
  type Json,
} from './everything-helpers.js';

const P1_MEMBERS = [
  'Patient/p1',
  'DocumentReference/d1',
  'DocumentReference/d2',
  'DocumentReference/d3',
  'Encounter/e1',
  'MedicationRequest/mr1',
  'Observation/o1',
  'Observation/o2',
];

async function world(t: Parameters<typeof startTestServer>[0]) {
  const running = await startTestServer(t);
  await seedWorld(running.base);
  return running;
}

const everything = (base: string, headers: Record<string, string>, query = '', id = 'p1') =>
  fhir(base, 'GET', `Patient/${id}/$everything${query}`, undefined, headers);

const mentionsP2 = (body: Json) =>
  /Patient\/p2|"id":"p2"|"o3"|"e2"|"d4"/.test(JSON.stringify(body));

t.test(
  'security: another patient, outsiders, types beyond the grant, foreign cursors',
  async (t) => {
    const { base } = await world(t);

    await t.test(
      "a patient's token on another patient's $everything is 404, as a read is",
      async (t) => {
        const res = await everything(base, TOKENS.p1, '', 'p2');
        t.equal(res.status, 404);
        t.equal(res.body.resourceType, 'OperationOutcome');
        t.notOk(mentionsP2({ ...res.body, issue: [] }), 'nothing of p2 in the answer');
        const read = await fhir(base, 'GET', 'Patient/p2', undefined, TOKENS.p1);
        t.equal(res.status, read.status, 'the same status as reading Patient/p2');
        const post = await fhir(
          base,
          'POST',
          'Patient/p2/$everything',
          { resourceType: 'Parameters' },
          TOKENS.p1,
        );
        t.equal(post.status, 404, 'by POST too');
      },
    );

    await t.test(
      'a PROVIDER outside the compartment is refused; inside, gets only it',
      async (t) => {
        t.equal((await everything(base, TOKENS.dr2)).status, 404, "dr2 is not p1's practitioner");
        t.equal((await everything(base, TOKENS.dr1, '', 'p2')).status, 404, "dr1 is not p2's");
        const mine = await everything(base, TOKENS.dr1);
        t.equal(mine.status, 200);
        t.notOk(mentionsP2(mine.body), "dr1 gets nothing of p2's");
      },
    );

    await t.test('a narrower scope gets only the types it grants', async (t) => {
      const res = await everything(base, TOKENS.p1Observations);
      t.equal(res.status, 200);
      t.same(keys(res.body).sort(), ['Observation/o1', 'Observation/o2']);
    });

    await t.test('_type naming a type outside the grant is 403; an unknown type 400', async (t) => {
      const res = await everything(base, TOKENS.p1Observations, '?_type=Observation,Encounter');
      t.equal(res.status, 403);
      t.equal(res.body.resourceType, 'OperationOutcome');
      t.equal((await everything(base, TOKENS.p1, '?_type=Nonsense')).status, 400);
      t.equal((await everything(base, TOKENS.p1, '?_type=Slot')).status, 400, 'not in a record');
      const directoryOnly = await everything(base, TOKENS.p1, '?_type=Practitioner');
      t.equal(directoryOnly.status, 400, 'no compartment type to find references from');
    });

    await t.test(
      "a cursor is the caller's own: replayed by another caller it is 400",
      async (t) => {
        const first = await everything(base, TOKENS.p1, '?_count=2');
        t.equal(first.status, 200);
        const next = nextOf(first.body);
        t.ok(next, 'a next link');
        const path = relative(base, next!);
        t.equal((await fhir(base, 'GET', path, undefined, TOKENS.p1)).status, 200, 'by its owner');
        const admin = await fhir(base, 'GET', path, undefined, TOKENS.admin);
        t.equal(admin.status, 400, 'by someone else, even with a wider grant');
        const narrow = await fhir(base, 'GET', path, undefined, TOKENS.p1Observations);
        t.equal(narrow.status, 400, 'by the same patient through another app');
        const other = path.replace('_count=2', '_count=3');
        t.equal(
          (await fhir(base, 'GET', other, undefined, TOKENS.p1)).status,
          400,
          'other parameters',
        );
        const tampered = path.replace(/_cursor=([^&]{4})/, '_cursor=AAAA');
        t.equal((await fhir(base, 'GET', tampered, undefined, TOKENS.p1)).status, 400, 'altered');
      },
    );

    await t.test(
      'an unknown or malformed patient is 404 or 400; unknown parameters 400',
      async (t) => {
        t.equal((await everything(base, TOKENS.admin, '', 'nobody')).status, 404);
        t.equal((await everything(base, TOKENS.admin, '', 'bad%20id')).status, 400);
        t.equal((await everything(base, TOKENS.admin, '?start=2024')).status, 400);
        t.equal((await everything(base, TOKENS.admin, '?_since=yesterday')).status, 400);
        t.equal((await everything(base, TOKENS.admin, '?_count=x')).status, 400);
      },
    );

    await t.test('a token with no clinical type at all is 403', async (t) => {
      const directory = bearer({
        scope: 'user/Practitioner.rs',
        role: 'PROVIDER',
        fhirUser: 'Practitioner/dr1',
      });
      t.equal((await everything(base, directory)).status, 403);
    });
  },
);

t.test('fine-grained scopes and break-glass hold inside it too', async (t) => {
  const { base } = await world(t);
  const category = 'http://terminology.hl7.org/CodeSystem/observation-category';
  const filtered = (code: string) =>
    bearer({
      scope: `patient/Observation.rs?category=${category}|${code}`,
      patient: 'p1',
      role: 'PATIENT',
    });
  const labs = await everything(base, filtered('laboratory'));
  t.same(keys(labs.body), ['Observation/o1', 'Observation/o2'], 'what the filter allows');
  const vitals = await everything(base, filtered('vital-signs'));
  t.equal(vitals.status, 200);
  t.same(keys(vitals.body), [], 'nothing the filter excludes');
  const glass = await everything(base, { ...TOKENS.dr2, 'x-break-glass': 'unconscious patient' });
  t.equal(glass.status, 200, 'break-glass opens reading, so this read operation');
  t.ok(keys(glass.body).includes('Observation/o1'));
  t.notOk(mentionsP2(glass.body), 'still only the patient asked for');
  const none = await everything(base, TOKENS.p1, '?_count=0');
  t.equal(none.status, 200);
  t.same(keys(none.body), []);
  t.equal(none.body.total, undefined, 'no total it has not counted');
});

t.test('the patient, their compartment and what it refers to', async (t) => {
  const { base } = await world(t);
  const res = await everything(base, TOKENS.p1);
  t.equal(res.status, 200);
  t.equal(res.body.type, 'searchset');
  const matches = res.body.entry.filter((e: Json) => e.search.mode === 'match');
  const included = res.body.entry.filter((e: Json) => e.search.mode === 'include');
  t.same(keys({ entry: matches }), P1_MEMBERS, 'the Patient first, then by type and id');
  t.same(keys({ entry: included }).sort(), [
    'Medication/med1',
    'Organization/org1',
    'Practitioner/dr1',
  ]);
  t.equal(res.body.total, P1_MEMBERS.length);
  t.notOk(mentionsP2(res.body));
  t.equal(res.body.entry[0].fullUrl, `${base}/Patient/p1`);
  const post = await fhir(
    base,
    'POST',
    'Patient/p1/$everything',
    { resourceType: 'Parameters' },
    TOKENS.p1,
  );
  t.same(keys(post.body), keys(res.body), 'POST answers the same');
});

t.test('paged with _count: every member once, in order', async (t) => {
  const { base } = await world(t);
  const seen: string[] = [];
  let path: string | undefined =
    'Patient/p1/$everything?_count=3&_type=Patient,Observation,Encounter,DocumentReference,MedicationRequest';
  let pages = 0;
  while (path) {
    const res = await fhir(base, 'GET', path, undefined, TOKENS.dr1);
    t.equal(res.status, 200);
    seen.push(...keys({ entry: res.body.entry.filter((e: Json) => e.search.mode === 'match') }));
    const next = nextOf(res.body);
    path = next && relative(base, next);
    pages++;
  }
  t.equal(pages, 3);
  t.same(seen, P1_MEMBERS);
});

t.test('_type and _since narrow it; deleted members are gone', async (t) => {
  const { base } = await world(t);
  const typed = await everything(base, TOKENS.p1, '?_type=Patient&_type=Practitioner');
  t.same(
    keys(typed.body),
    ['Patient/p1', 'Practitioner/dr1'],
    'what the members refer to, of _type',
  );
  const observations = await everything(base, TOKENS.p1, '?_type=Observation');
  t.same(keys(observations.body), ['Observation/o1', 'Observation/o2']);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const since = new Date().toISOString();
  const o2 = (await fhir(base, 'GET', 'Observation/o2')).body;
  t.equal((await fhir(base, 'PUT', 'Observation/o2', { ...o2, status: 'amended' })).status, 200);
  t.equal((await fhir(base, 'DELETE', 'Encounter/e1')).status, 204);
  const recent = await everything(
    base,
    TOKENS.p1,
    `?_since=${encodeURIComponent(since)}&_type=Observation,Encounter`,
  );
  t.equal(recent.status, 200);
  t.same(keys(recent.body), ['Observation/o2']);
  const all = await everything(base, TOKENS.p1);
  t.notOk(keys(all.body).includes('Encounter/e1'), 'the deleted Encounter is left out');
});

t.test('audited as a query: one AuditEvent naming the patient', async (t) => {
  const { base } = await world(t);
  const requestId = randomUUID();
  const res = await everything(base, { ...TOKENS.p1, 'x-request-id': requestId });
  t.equal(res.status, 200);
  const events = (await fhir(base, 'GET', `AuditEvent?request-id=${requestId}`)).body.entry ?? [];
  t.equal(events.length, 1);
  const event = events[0].resource;
  t.equal(event.subtype[0].code, 'operation');
  t.equal(event.action, 'E');
  const refs = event.entity.map((e: Json) => e.what?.reference).filter(Boolean);
  t.ok(refs.includes('Patient/p1'));
  const refused = randomUUID();
  await everything(base, { ...TOKENS.p1, 'x-request-id': refused }, '', 'p2');
  const failed = (await fhir(base, 'GET', `AuditEvent?request-id=${refused}`)).body.entry ?? [];
  t.equal(failed.length, 1, 'a refusal is audited too');
  t.equal(failed[0]?.resource.outcome, '4');
});

t.test('defined and listed in the CapabilityStatement', async (t) => {
  const { base } = await startTestServer(t);
  const metadata = (await fhir(base, 'GET', 'metadata')).body;
  const patient = metadata.rest[0].resource.find((r: Json) => r.type === 'Patient');
  const op = patient.operation.find((o: Json) => o.name === 'everything');
  t.equal(op?.definition, `${base}/OperationDefinition/Patient-everything`);
  const definition = await fhir(base, 'GET', 'OperationDefinition/Patient-everything');
  t.equal(definition.status, 200);
  t.equal(definition.body.url, op.definition);
  const { validator } = createValidator({ defaultProfiles: false });
  const errors = validator
    .validate(loadOperation('everything.json'))
    .filter((issue) => issue.severity === 'error');
  t.same(errors, [], 'a valid R4 OperationDefinition');
});

t.test('on HealthLake: 501, with an OperationOutcome', async (t) => {
  const config = await testConfig(t);
  await backWithHealthLake(t, config);
  const { base } = await startServer(t, config);
  const res = await everything(base, TOKENS.admin);
  t.equal(res.status, 501);
  t.equal(res.body.resourceType, 'OperationOutcome');
  t.match(res.body.issue[0].diagnostics, /HealthLake/);
});
