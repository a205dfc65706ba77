/**
 * Who may read the audit trail, now that AuditEvents are rows of their own table: the grant is
 * applied in the AuditEvent store's SQL exactly as the generic store applied it — ADMIN or
 * system/ scopes only, a patient/ scope confines it to that patient's events, a v2 filter to
 * the events it names — and whatever reaches into AuditEvent from another type (`_has`,
 * `_revinclude`) is held to the same grant.
 */
import t, { type Test } from 'tap';
import { fhir, startTestServer, testToken } from '../helpers.js';
import { observation, patient } from '../fixtures.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const bearer = (claims: Record<string, unknown>) => ({
  authorization: `Bearer ${testToken(claims)}`,
});
/** An auditor confined to Patient/p1 (an ADMIN user in a SMART app launched for p1). */
const p1Auditor = bearer({
  scope: 'patient/AuditEvent.rs patient/Patient.rs',
  role: 'ADMIN',
  patient: 'p1',
  fhirUser: 'Practitioner/admin',
});
/** A backend that may see only the creations in the trail. */
const createsOnly = bearer({ scope: 'system/AuditEvent.rs?action=C system/Patient.rs' });

const ids = (res: { body: Json }) =>
  ((res.body.entry ?? []) as Json[]).map(
    (entry) => `${entry.resource.resourceType}/${entry.resource.id}`,
  );
const patientsOf = (event: Json): string[] =>
  [
    ...(event.agent ?? []).map((a: Json) => a.who?.reference),
    ...(event.entity ?? []).map((e: Json) => e.what?.reference),
  ].filter((ref: unknown): ref is string => typeof ref === 'string' && ref.startsWith('Patient/'));

async function world(t: Test) {
  const { base } = await startTestServer(t);
  for (const id of ['p1', 'p2']) {
    t.equal((await fhir(base, 'PUT', `Patient/${id}`, { ...patient(), id })).status, 201);
    await fhir(base, 'POST', 'Observation', observation(`Patient/${id}`));
    t.equal((await fhir(base, 'GET', `Patient/${id}`)).status, 200); // a read event each
  }
  const all = await fhir(base, 'GET', 'AuditEvent?_count=1000');
  t.equal(all.status, 200);
  const events = (all.body.entry as Json[]).map((entry) => entry.resource);
  const of = (id: string) => events.filter((e) => patientsOf(e).includes(`Patient/${id}`));
  t.ok(of('p1').length >= 3 && of('p2').length >= 3, 'each patient has events');
  return { base, events, of };
}

t.test("a patient-confined token sees its patient's events and never another's", async (t) => {
  const { base, of } = await world(t);
  const listed = await fhir(base, 'GET', 'AuditEvent?_count=1000', undefined, p1Auditor);
  t.equal(listed.status, 200);
  const seen = (listed.body.entry as Json[]).map((entry) => entry.resource as Json);
  t.ok(seen.length >= of('p1').length, "p1's events are listed");
  t.ok(
    seen.every((event) => patientsOf(event).includes('Patient/p1')),
    'every event listed is about p1',
  );
  const theirs = of('p2').find((event) => !patientsOf(event).includes('Patient/p1'))!;
  for (const path of [
    `AuditEvent/${theirs.id}`,
    `AuditEvent/${theirs.id}/_history/1`,
    `AuditEvent/${theirs.id}/_history`,
  ]) {
    const res = await fhir(base, 'GET', path, undefined, p1Auditor);
    t.equal(res.status, 404, `${path}: as if absent`);
  }
  const searched = await fhir(
    base,
    'GET',
    'AuditEvent?patient=p2&_count=1000',
    undefined,
    p1Auditor,
  );
  t.ok(
    (searched.body.entry ?? []).every((entry: Json) =>
      patientsOf(entry.resource).includes('Patient/p1'),
    ),
    "searching for p2's events finds only those about p1 too (a search that listed both)",
  );
  t.notOk(ids(searched).includes(`AuditEvent/${theirs.id}`), "not p2's own");
  const count = async (headers: Record<string, string>) =>
    (await fhir(base, 'GET', 'AuditEvent?_summary=count', undefined, headers)).body.total as number;
  const full = await count({});
  t.ok((await count(p1Auditor)) < full, 'nor counts them');
  const history = await fhir(base, 'GET', 'AuditEvent/_history?_count=1000', undefined, p1Auditor);
  t.ok(
    (history.body.entry as Json[]).every((entry) =>
      patientsOf(entry.resource).includes('Patient/p1'),
    ),
    'type history is confined the same way',
  );
  const mine = of('p1')[0]!;
  t.equal((await fhir(base, 'GET', `AuditEvent/${mine.id}`, undefined, p1Auditor)).status, 200);
});

t.test(
  'without an AuditEvent grant the trail is refused, whatever else the token holds',
  async (t) => {
    const { base, events } = await world(t);
    const cases: [string, Record<string, string>][] = [
      ['PATIENT', bearer({ scope: 'patient/*.rs', role: 'PATIENT', patient: 'p1' })],
      ['system/Patient.rs', bearer({ scope: 'system/Patient.rs system/Observation.rs' })],
      ['PROVIDER', bearer({ scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' })],
    ];
    for (const [who, headers] of cases) {
      for (const path of ['AuditEvent', `AuditEvent/${events[0]!.id}`, 'AuditEvent/_history']) {
        const res = await fhir(base, 'GET', path, undefined, headers);
        t.equal(res.status, 403, `${who}: GET ${path}`);
        t.equal(res.body.resourceType, 'OperationOutcome');
      }
    }
    const patientToken = cases[0]![1];
    const reach = await fhir(
      base,
      'GET',
      'Patient?_has:AuditEvent:patient:action=R',
      undefined,
      patientToken,
    );
    t.equal(reach.status, 403, '_has into AuditEvent without a grant on it');
  },
);

t.test('a v2 filter on AuditEvent holds for search, read, _has and _revinclude', async (t) => {
  const { base, events } = await world(t);
  const listed = await fhir(base, 'GET', 'AuditEvent?_count=1000', undefined, createsOnly);
  t.equal(listed.status, 200);
  const seen = (listed.body.entry as Json[]).map((entry) => entry.resource as Json);
  t.ok(seen.length > 0, 'the creations are listed');
  t.ok(
    seen.every((event) => event.action === 'C'),
    'and nothing else',
  );
  const read = events.find((event) => event.action === 'R')!;
  t.equal((await fhir(base, 'GET', `AuditEvent/${read.id}`, undefined, createsOnly)).status, 404);
  t.same(
    ids(await fhir(base, 'GET', 'AuditEvent?action=R', undefined, createsOnly)),
    [],
    'asking for reads finds none',
  );
  // Both patients were read (action R), but those events are outside the grant.
  const reached = await fhir(
    base,
    'GET',
    'Patient?_has:AuditEvent:patient:action=R',
    undefined,
    createsOnly,
  );
  t.equal(reached.status, 200);
  t.same(ids(reached), [], "_has can't tell which patients were read");
  const unrestricted = await fhir(base, 'GET', 'Patient?_has:AuditEvent:patient:action=R');
  t.same(ids(unrestricted).sort(), ['Patient/p1', 'Patient/p2'], 'while an auditor sees both');
  const included = await fhir(
    base,
    'GET',
    'Patient?_id=p1&_revinclude=AuditEvent:patient',
    undefined,
    createsOnly,
  );
  t.equal(included.status, 200);
  const auditEvents = (included.body.entry as Json[])
    .map((entry) => entry.resource as Json)
    .filter((resource) => resource.resourceType === 'AuditEvent');
  t.ok(auditEvents.length > 0, 'the creation of p1 is included');
  t.ok(
    auditEvents.every((event) => event.action === 'C'),
    'and no read of it',
  );
});

t.test('_include from AuditEvent is held to the grant of each included type', async (t) => {
  const { base } = await world(t);
  // `_include=*` names no type, so the REST layer doesn't refuse it up front (a named target
  // type the token can't read is a 403 there): the store must leave out what it can't read.
  const path = 'AuditEvent?action=C&_include=*&_count=1000';
  const included = (res: { body: Json }) =>
    ((res.body.entry ?? []) as Json[])
      .filter((entry) => entry.search?.mode === 'include')
      .map((entry) => entry.resource.resourceType as string);
  const everything = await fhir(base, 'GET', path);
  t.equal(everything.status, 200);
  t.ok(included(everything).includes('Observation'), 'an auditor with every grant gets them');
  const auditOnly = bearer({ scope: 'system/AuditEvent.rs' });
  const narrow = await fhir(base, 'GET', path, undefined, auditOnly);
  t.equal(narrow.status, 200);
  t.ok(((narrow.body.entry ?? []) as Json[]).length > 0, 'the events are listed');
  t.same(included(narrow), [], 'but nothing of a type the token may not read');
  const patientsToo = bearer({ scope: 'system/AuditEvent.rs system/Patient.rs' });
  const some = await fhir(base, 'GET', path, undefined, patientsToo);
  t.ok(
    included(some).length > 0 && included(some).every((type) => type === 'Patient'),
    'only the Patients, for a token that may read those',
  );
});

t.test(
  'AuditEvent search: unsupported parameters are a 400, comparators and paging work',
  async (t) => {
    const { base, events } = await world(t);
    for (const query of [
      'entity-name=x',
      'patient:missing=maybe',
      '_revinclude=Provenance:target',
    ]) {
      const res = await fhir(base, 'GET', `AuditEvent?${query}`, undefined, {
        prefer: 'handling=strict',
      });
      t.equal(res.status, 400, query);
      t.equal(res.body.resourceType, 'OperationOutcome');
    }
    const sorted = [...events].sort((a, b) => a.recorded.localeCompare(b.recorded));
    const middle = sorted[Math.floor(sorted.length / 2)]!.recorded as string;
    const after = await fhir(base, 'GET', `AuditEvent?date=gt${middle}&_count=1000`);
    t.ok(
      (after.body.entry as Json[]).every((entry) => entry.resource.recorded > middle),
      'date=gt',
    );
    const pages: string[] = [];
    let next: string | undefined = 'AuditEvent?_sort=-date&_count=2';
    while (next) {
      const res = await fhir(base, 'GET', next.replace(/^.*\/fhir\//, ''));
      t.equal(res.status, 200);
      pages.push(...(res.body.entry as Json[]).map((entry) => entry.resource.recorded as string));
      next = (res.body.link as Json[]).find((link) => link.relation === 'next')?.url;
      if (pages.length > 200) break;
    }
    t.ok(pages.length >= events.length, 'paging reaches every event');
    t.same(pages, [...pages].sort().reverse(), 'newest first across pages');
  },
);
