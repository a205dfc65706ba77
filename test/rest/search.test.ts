import t from 'tap';
import { fhir, startTestServer, testToken } from '../helpers.js';

type Entry = { resource: { resourceType: string; id: string }; search: { mode: string } };
const ids = (bundle: { entry?: Entry[] }, mode = 'match') =>
  (bundle.entry ?? [])
    .filter((e) => e.search.mode === mode)
    .map((e) => e.resource.id)
    .sort();

async function seedPatients(base: string) {
  const patients = [
    {
      id: 'p1',
      name: [{ family: 'Müller', given: ['Anna'] }],
      gender: 'female',
      birthDate: '1970-03-15',
      identifier: [{ system: 'urn:mrn', value: 'M1' }],
    },
    {
      id: 'p2',
      name: [{ family: 'Muller', given: ['Bob'] }],
      gender: 'male',
      birthDate: '1985-07-01',
      identifier: [{ system: 'urn:mrn', value: 'M2' }, { value: 'nosystem' }],
    },
    {
      id: 'p3',
      name: [{ family: 'Smith', given: ['Carla', 'Anne'] }],
      gender: 'female',
      birthDate: '1990',
      identifier: [{ system: 'urn:other', value: 'M1' }],
    },
    { id: 'p4', name: [{ family: 'Smithson' }], birthDate: '2001-12-31' },
  ];
  for (const p of patients) {
    const res = await fhir(base, 'PUT', `Patient/${p.id}`, { resourceType: 'Patient', ...p });
    if (res.status !== 201) throw new Error(`seed ${p.id}: ${res.text}`);
  }
}

async function search(base: string, query: string, headers: Record<string, string> = {}) {
  return fhir(base, 'GET', `Patient?${query}`, undefined, headers);
}

t.test('string: case- and accent-insensitive prefix; :exact; :contains', async (t) => {
  const { base } = await startTestServer(t);
  await seedPatients(base);
  t.same(ids((await search(base, 'family=muller')).body), ['p1', 'p2']);
  t.same(ids((await search(base, 'family=MÜL')).body), ['p1', 'p2']);
  t.same(ids((await search(base, 'name=smith')).body), ['p3', 'p4'], 'prefix');
  t.same(ids((await search(base, 'family:exact=Müller')).body), ['p1']);
  t.same(ids((await search(base, 'family:exact=muller')).body), [], ':exact is case-sensitive');
  t.same(ids((await search(base, 'family:contains=ithso')).body), ['p4']);
  t.same(ids((await search(base, 'given=ann')).body), ['p1', 'p3'], 'any of several given names');
  const res = await search(base, 'family=muller');
  t.equal(res.body.type, 'searchset');
  t.equal(res.body.total, 2);
  t.equal(res.body.entry[0].search.mode, 'match');
  t.equal(res.body.entry[0].fullUrl, `${base}/Patient/${res.body.entry[0].resource.id}`);
});

t.test('token: system|code, |code, system|, code, :not, :text, :missing', async (t) => {
  const { base } = await startTestServer(t);
  await seedPatients(base);
  t.same(ids((await search(base, 'identifier=urn:mrn|M1')).body), ['p1']);
  t.same(ids((await search(base, 'identifier=M1')).body), ['p1', 'p3']);
  t.same(ids((await search(base, 'identifier=|nosystem')).body), ['p2']);
  t.same(ids((await search(base, 'identifier=|M1')).body), []);
  t.same(ids((await search(base, 'identifier=urn:mrn|')).body), ['p1', 'p2']);
  t.same(ids((await search(base, 'gender=female')).body), ['p1', 'p3']);
  t.same(
    ids((await search(base, 'gender:not=female')).body),
    ['p2', 'p4'],
    ':not includes no value',
  );
  t.same(ids((await search(base, 'gender:missing=true')).body), ['p4']);
  t.same(ids((await search(base, 'gender:missing=false')).body), ['p1', 'p2', 'p3']);
  await fhir(base, 'PUT', 'Observation/o1', {
    resourceType: 'Observation',
    id: 'o1',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: 'Patient/p1' },
  });
  const text = await fhir(base, 'GET', 'Observation?code:text=heart');
  t.same(ids(text.body), ['o1']);
  t.same(ids((await fhir(base, 'GET', 'Observation?code=http://loinc.org|8867-4')).body), ['o1']);
});

t.test('date: prefixes eq ne lt gt le ge sa eb ap with precision ranges', async (t) => {
  const { base } = await startTestServer(t);
  await seedPatients(base);
  const check = async (query: string, expected: string[]) =>
    t.same(ids((await search(base, query)).body), expected, query);
  await check('birthdate=1970', ['p1']);
  await check('birthdate=1970-03', ['p1']);
  await check('birthdate=eq1970-03-15', ['p1']);
  // A day inside a year-precision value is not eq: the stored range is wider than the query's.
  await check('birthdate=1990-06-01', []);
  await check('birthdate=ne1970-03-15', ['p2', 'p3', 'p4']);
  await check('birthdate=lt1985-07-01', ['p1']);
  await check('birthdate=le1985-07-01', ['p1', 'p2']);
  await check('birthdate=gt1990', ['p4']);
  await check('birthdate=ge1990', ['p3', 'p4']);
  await check('birthdate=sa1985', ['p3', 'p4']);
  await check('birthdate=eb1985', ['p1']);
  await check('birthdate=ap1970-03-14', ['p1']);
  await check('birthdate=ge1980&birthdate=le1995', ['p2', 'p3']);
  await check('birthdate=1970,2001-12-31', ['p1', 'p4']);
  await check(`_lastUpdated=gt2000-01-01T00:00:00Z`, ['p1', 'p2', 'p3', 'p4']);
  await check(`_lastUpdated=lt2000-01-01`, []);
});

t.test('comma is OR, repeating a parameter is AND', async (t) => {
  const { base } = await startTestServer(t);
  await seedPatients(base);
  t.same(ids((await search(base, 'family=muller,smith')).body), ['p1', 'p2', 'p3', 'p4']);
  t.same(ids((await search(base, 'family=muller&gender=male')).body), ['p2']);
  t.same(ids((await search(base, 'name=smith&name=carla')).body), ['p3']);
  t.same(ids((await search(base, '_id=p1,p4')).body), ['p1', 'p4']);
});

async function seedClinical(base: string) {
  await seedPatients(base);
  await fhir(base, 'PUT', 'Practitioner/dr1', {
    resourceType: 'Practitioner',
    id: 'dr1',
    name: [{ family: 'House' }],
  });
  await fhir(base, 'PUT', 'Encounter/e1', {
    resourceType: 'Encounter',
    id: 'e1',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR' },
    subject: { reference: 'Patient/p1' },
    period: { start: '2024-01-10T09:00:00Z', end: '2024-01-10T09:30:00Z' },
    participant: [{ individual: { reference: 'Practitioner/dr1' } }],
  });
  await fhir(base, 'PUT', 'Encounter/e2', {
    resourceType: 'Encounter',
    id: 'e2',
    status: 'planned',
    class: { code: 'AMB' },
    subject: { reference: 'Patient/p2' },
  });
  await fhir(base, 'PUT', 'Medication/med1', {
    resourceType: 'Medication',
    id: 'med1',
    code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '1049221' }] },
  });
  await fhir(base, 'PUT', 'MedicationRequest/mr1', {
    resourceType: 'MedicationRequest',
    id: 'mr1',
    status: 'active',
    intent: 'order',
    subject: { reference: 'Patient/p1' },
    medicationReference: { reference: 'Medication/med1' },
    encounter: { reference: 'Encounter/e1' },
    authoredOn: '2024-01-10',
  });
  await fhir(base, 'PUT', 'Provenance/prov1', {
    resourceType: 'Provenance',
    id: 'prov1',
    target: [{ reference: 'MedicationRequest/mr1' }],
    recorded: '2024-01-10T10:00:00Z',
    agent: [{ who: { reference: 'Practitioner/dr1' } }],
  });
  await fhir(base, 'PUT', 'Observation/o1', {
    resourceType: 'Observation',
    id: 'o1',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: 'Patient/p1' },
  });
}

t.test('reference: Type/id, bare id, type modifier, absolute URL on our base', async (t) => {
  const { base } = await startTestServer(t);
  await seedClinical(base);
  const enc = (q: string) => fhir(base, 'GET', `Encounter?${q}`);
  t.same(ids((await enc('patient=Patient/p1')).body), ['e1']);
  t.same(ids((await enc('patient=p1')).body), ['e1'], 'patient=123 ≡ patient=Patient/123');
  t.same(ids((await enc('subject=p2')).body), ['e2'], 'bare id matches any target type');
  t.same(ids((await enc('subject:Patient=p2')).body), ['e2']);
  t.same(ids((await enc(`subject=${encodeURIComponent(`${base}/Patient/p1`)}`)).body), ['e1']);
  t.same(ids((await enc('practitioner=dr1')).body), ['e1']);
  t.same(ids((await enc('class=VR')).body), ['e1']);
  t.same(ids((await enc('date=2024-01-10')).body), ['e1']);
  t.same(ids((await enc('patient=p1,p2')).body), ['e1', 'e2']);
  t.equal((await enc('subject:Spaceship=p1')).status, 400, 'unknown type modifier');
});

t.test('chained parameters and _has, one level', async (t) => {
  const { base } = await startTestServer(t);
  await seedClinical(base);
  t.same(ids((await fhir(base, 'GET', 'Encounter?subject:Patient.name=anna')).body), ['e1']);
  t.same(ids((await fhir(base, 'GET', 'Encounter?patient.gender=male')).body), ['e2']);
  t.same(ids((await fhir(base, 'GET', 'MedicationRequest?encounter.class=VR')).body), ['mr1']);
  t.same(ids((await fhir(base, 'GET', 'Patient?_has:Observation:patient:code=8867-4')).body), [
    'p1',
  ]);
  t.same(ids((await fhir(base, 'GET', 'Patient?_has:Encounter:subject:status=planned')).body), [
    'p2',
  ]);
});

t.test(
  '_include (MedicationRequest:medication, *:iterate) and _revinclude (Provenance:target)',
  async (t) => {
    const { base } = await startTestServer(t);
    await seedClinical(base);
    const inc = await fhir(
      base,
      'GET',
      'MedicationRequest?_id=mr1&_include=MedicationRequest:medication',
    );
    t.same(ids(inc.body), ['mr1']);
    t.same(ids(inc.body, 'include'), ['med1']);
    t.equal(inc.body.total, 1, 'included resources are not counted');
    const both = await fhir(
      base,
      'GET',
      'MedicationRequest?_id=mr1&_include=MedicationRequest:subject&_revinclude=Provenance:target',
    );
    t.same(ids(both.body, 'include'), ['p1', 'prov1']);
    const iter = await fhir(
      base,
      'GET',
      'MedicationRequest?_id=mr1&_include=MedicationRequest:encounter&_include:iterate=Encounter:participant',
    );
    t.same(
      ids(iter.body, 'include'),
      ['dr1', 'e1'],
      'the iterate include follows the included Encounter',
    );
    const star = await fhir(base, 'GET', 'MedicationRequest?_id=mr1&_include=MedicationRequest:*');
    t.same(ids(star.body, 'include'), ['e1', 'med1', 'p1']);
    t.equal(
      (await fhir(base, 'GET', 'MedicationRequest?_include=MedicationRequest:status')).status,
      400,
    );
    const bare = await fhir(base, 'GET', 'MedicationRequest?_id=mr1&_include=*');
    t.same(ids(bare.body, 'include'), ['e1', 'med1', 'p1'], '_include=* follows every reference');
    const iterStar = await fhir(
      base,
      'GET',
      'MedicationRequest?_id=mr1&_include=MedicationRequest:encounter&_include:iterate=*',
    );
    t.same(ids(iterStar.body, 'include'), ['dr1', 'e1', 'med1', 'p1'], '*:iterate, one more level');
  },
);

t.test('_sort by one or several keys, ascending and descending', async (t) => {
  const { base } = await startTestServer(t);
  await seedPatients(base);
  const order = async (q: string) =>
    ((await search(base, q)).body.entry as Entry[]).map((e) => e.resource.id);
  t.same(await order('_sort=birthdate'), ['p1', 'p2', 'p3', 'p4']);
  t.same(await order('_sort=-birthdate'), ['p4', 'p3', 'p2', 'p1']);
  t.same(await order('_sort=gender,-_id'), ['p3', 'p1', 'p2', 'p4'], 'missing values sort last');
  t.same(await order('_sort=-_id'), ['p4', 'p3', 'p2', 'p1']);
  t.equal((await search(base, '_sort=nonsense')).status, 400);
});

t.test('_count, _total (counted only when asked or free) and _summary=count', async (t) => {
  const { base } = await startTestServer(t);
  await seedPatients(base);
  const two = await search(base, '_count=2&_total=accurate');
  t.equal(two.body.entry.length, 2);
  t.equal(two.body.total, 4);
  const unasked = await search(base, '_count=2');
  t.notOk('total' in unasked.body, 'not counted unless asked when more pages follow');
  t.equal((await search(base, 'gender=female')).body.total, 2, 'free when one page holds all');
  const none = await search(base, '_total=none');
  t.notOk('total' in none.body);
  const count = await search(base, 'gender=female&_summary=count');
  t.equal(count.body.total, 2);
  t.same(count.body.entry, []);
  t.equal((await search(base, '_total=maybe')).status, 400);
  t.equal((await search(base, '_count=abc')).status, 400);
});

t.test('_summary=true and _elements return marked subsets', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/s1', {
    resourceType: 'Patient',
    id: 's1',
    gender: 'male',
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' },
    contact: [{ name: { family: 'Kin' } }],
    name: [{ family: 'Summ' }],
  });
  const summary = (await search(base, '_id=s1&_summary=true')).body.entry[0].resource;
  t.ok(summary.name && summary.gender, 'summary elements kept');
  t.notOk(summary.contact, 'non-summary elements dropped');
  t.notOk(summary.text);
  t.ok(summary.meta.tag.some((tag: { code: string }) => tag.code === 'SUBSETTED'));
  const elements = (await search(base, '_id=s1&_elements=gender')).body.entry[0].resource;
  t.same(Object.keys(elements).sort(), ['gender', 'id', 'meta', 'resourceType']);
  const read = await fhir(base, 'GET', 'Patient/s1');
  t.ok(read.body.contact, 'the stored resource is untouched');
});

t.test('GET and POST _search (form body) return the same', async (t) => {
  const { base } = await startTestServer(t);
  await seedPatients(base);
  const get = await search(base, 'family=muller&gender=female');
  const post = await fetch(`${base}/Patient/_search`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/fhir+json',
      authorization: `Bearer ${testToken()}`,
    },
    body: 'family=muller&gender=female',
  });
  t.equal(post.status, 200);
  const body = await post.json();
  t.same(ids(body), ids(get.body));
  t.equal(body.total, get.body.total);
  const mixed = await fetch(`${base}/Patient/_search?family=muller`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Bearer ${testToken()}`,
    },
    body: 'gender=male',
  });
  t.same(ids(await mixed.json()), ['p2'], 'URL and body parameters combine');
  const json = await fhir(base, 'POST', 'Patient/_search', { resourceType: 'Parameters' });
  t.equal(json.status, 415);
});

t.test('unknown parameters: ignored and left out of self; strict → 400 naming them', async (t) => {
  const { base } = await startTestServer(t);
  await seedPatients(base);
  const lenient = await search(base, 'family=muller&bogus=1');
  t.equal(lenient.status, 200);
  t.same(ids(lenient.body), ['p1', 'p2']);
  const self = lenient.body.link.find((l: { relation: string }) => l.relation === 'self').url;
  t.notMatch(self, /bogus/);
  t.match(self, /family=muller/);
  t.ok(self.startsWith(`${base}/Patient?`));
  const strict = await search(base, 'family=muller&bogus=1', { prefer: 'handling=strict' });
  t.equal(strict.status, 400);
  t.match(strict.body.issue[0].diagnostics, /bogus/);
});

t.test('malformed values are 400 whatever the handling', async (t) => {
  const { base } = await startTestServer(t);
  for (const q of [
    'birthdate=yesterday',
    'birthdate=xx2020',
    'birthdate=2020-13-01',
    'gender:missing=maybe',
    'family:fuzzy=x',
    'family=',
    'birthdate=gt',
  ]) {
    const res = await search(base, q);
    t.equal(res.status, 400, q);
    t.equal(res.body.resourceType, 'OperationOutcome');
  }
  t.equal((await fhir(base, 'GET', 'Spaceship?name=x')).status, 404);
});

t.test('paging across 3+ pages with next and previous, stable under inserts', async (t) => {
  const { base } = await startTestServer(t);
  for (let i = 0; i < 7; i++) {
    await fhir(base, 'PUT', `Patient/pg${i}`, {
      resourceType: 'Patient',
      id: `pg${i}`,
      birthDate: `200${i}-01-01`,
    });
  }
  const link = (b: { link: { relation: string; url: string }[] }, rel: string) =>
    b.link.find((l) => l.relation === rel)?.url;
  const pages: string[][] = [];
  let url: string | undefined = `${base}/Patient?_sort=-birthdate&_count=3`;
  let last;
  while (url) {
    const res = await fhir(url, 'GET', '');
    t.equal(res.status, 200);
    pages.push((res.body.entry as Entry[]).map((e) => e.resource.id));
    if (pages.length === 1) {
      t.notOk(link(res.body, 'previous'), 'no previous on the first page');
      // A resource inserted between pages must not shift later pages.
      await fhir(base, 'PUT', 'Patient/pgx', {
        resourceType: 'Patient',
        id: 'pgx',
        birthDate: '2010-01-01',
      });
    }
    last = res.body;
    url = link(res.body, 'next');
  }
  t.same(pages, [['pg6', 'pg5', 'pg4'], ['pg3', 'pg2', 'pg1'], ['pg0']]);
  const back = await fhir(link(last, 'previous')!, 'GET', '');
  t.same(
    (back.body.entry as Entry[]).map((e) => e.resource.id),
    ['pg3', 'pg2', 'pg1'],
    'previous page',
  );
  const cursor = new URL(link(last, 'previous')!).searchParams.get('_cursor')!;
  const tampered = cursor.slice(0, -3) + (cursor.endsWith('A') ? 'BBB' : 'AAA');
  t.equal((await search(base, `_sort=-birthdate&_count=3&_cursor=${tampered}`)).status, 400);
  t.equal(
    (await search(base, `_sort=birthdate&_count=3&_cursor=${cursor}`)).status,
    400,
    'cursor of another query',
  );
});

t.test('deleted resources are not found; updates re-index', async (t) => {
  const { base } = await startTestServer(t);
  await seedPatients(base);
  await fhir(base, 'DELETE', 'Patient/p1');
  t.same(ids((await search(base, 'family=muller')).body), ['p2']);
  await fhir(base, 'PUT', 'Patient/p2', {
    resourceType: 'Patient',
    id: 'p2',
    name: [{ family: 'Renamed' }],
  });
  t.same(ids((await search(base, 'family=muller')).body), []);
  t.same(ids((await search(base, 'family=renamed')).body), ['p2']);
  t.same(ids((await search(base, 'identifier=M2')).body), [], 'old index rows are gone');
});

t.test('conditional update and delete use full search', async (t) => {
  const { base } = await startTestServer(t);
  await seedPatients(base);
  const p1 = {
    resourceType: 'Patient',
    name: [{ family: 'Müller' }],
    identifier: [{ system: 'urn:mrn', value: 'M1' }],
  };
  const upd = await fhir(base, 'PUT', 'Patient?identifier=urn:mrn|M1', { ...p1, gender: 'other' });
  t.equal(upd.status, 200, 'one match: updated');
  t.equal(upd.body.id, 'p1');
  t.equal(upd.body.meta.versionId, '2');
  const fresh = { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'NEW' }] };
  const created = await fhir(base, 'PUT', 'Patient?identifier=urn:mrn|NEW', fresh);
  t.equal(created.status, 201, 'no match: created');
  t.equal(
    (await fhir(base, 'PUT', 'Patient?identifier=urn:mrn|NEW', fresh)).status,
    200,
    'and found next time',
  );
  const many = await fhir(base, 'PUT', 'Patient?family=muller', { resourceType: 'Patient' });
  t.equal(many.status, 412, 'two matches');
  const wrongId = await fhir(base, 'PUT', 'Patient?identifier=urn:mrn|M1', { ...p1, id: 'p3' });
  t.equal(wrongId.status, 400, 'the body id must be the match');
  t.equal(
    (await fhir(base, 'GET', 'Patient/p1')).body.meta.versionId,
    '2',
    'refused updates wrote nothing',
  );
  t.equal((await fhir(base, 'DELETE', 'Patient?family=muller')).status, 412, 'more than one match');
  t.equal((await fhir(base, 'DELETE', 'Patient?family=smithson')).status, 204);
  t.equal((await fhir(base, 'GET', 'Patient/p4')).status, 410);
  t.equal((await fhir(base, 'DELETE', 'Patient?family=nobody')).status, 404);
  t.equal((await fhir(base, 'DELETE', 'Patient')).status, 400, 'no criteria');
  const once = await fhir(
    base,
    'POST',
    'Patient',
    { resourceType: 'Patient' },
    { 'if-none-exist': 'family=smith' },
  );
  t.equal(once.status, 200, 'If-None-Exist uses full search: Smith matches (Smithson is deleted)');
  t.equal(once.body.id, 'p3');
  const twice = await fhir(
    base,
    'POST',
    'Patient',
    { resourceType: 'Patient' },
    { 'if-none-exist': 'family=muller' },
  );
  t.equal(twice.status, 412);
});

t.test(
  'the CapabilityStatement lists every search parameter with type and documentation',
  async (t) => {
    const { base } = await startTestServer(t);
    const statement = (await fhir(base, 'GET', 'metadata')).body;
    const patient = statement.rest[0].resource.find((r: { type: string }) => r.type === 'Patient');
    const byName = new Map(patient.searchParam.map((p: { name: string }) => [p.name, p]));
    for (const [name, type] of [
      ['identifier', 'token'],
      ['name', 'string'],
      ['family', 'string'],
      ['given', 'string'],
      ['birthdate', 'date'],
      ['gender', 'token'],
      ['_id', 'token'],
      ['_lastUpdated', 'date'],
    ]) {
      const param = byName.get(name) as { type: string; documentation: string } | undefined;
      t.equal(param?.type, type, name!);
      t.ok(param?.documentation, `${name} documented`);
    }
    const mr = statement.rest[0].resource.find(
      (r: { type: string }) => r.type === 'MedicationRequest',
    );
    t.ok(mr.searchInclude.includes('MedicationRequest:medication'));
    t.ok(mr.searchRevInclude.includes('Provenance:target'));
  },
);
