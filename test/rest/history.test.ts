import t from 'tap';
import { fhir, startTestServer, testToken } from '../helpers.js';

t.test('instance history lists every version newest first', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/h1', { resourceType: 'Patient', id: 'h1' });
  await fhir(base, 'PUT', 'Patient/h1', { resourceType: 'Patient', id: 'h1', gender: 'female' });
  await fhir(base, 'DELETE', 'Patient/h1');
  const res = await fhir(base, 'GET', 'Patient/h1/_history');
  t.equal(res.status, 200);
  t.equal(res.body.resourceType, 'Bundle');
  t.equal(res.body.type, 'history');
  t.equal(res.body.total, 3);
  t.same(
    res.body.entry.map((e: { request: { method: string } }) => e.request.method),
    ['DELETE', 'PUT', 'PUT'],
  );
  t.same(
    res.body.entry.map((e: { response: { etag: string } }) => e.response.etag),
    ['W/"3"', 'W/"2"', 'W/"1"'],
  );
  t.equal(res.body.entry[1].resource.gender, 'female');
  t.equal(res.body.entry[1].fullUrl, `${base}/Patient/h1`);
  t.equal(res.body.link[0].relation, 'self');
  t.match(res.body.link[0].url, new RegExp(`^${base}/Patient/h1/_history`));
});

t.test('history of an unknown resource is 404', async (t) => {
  const { base } = await startTestServer(t);
  const res = await fhir(base, 'GET', 'Patient/ghost/_history');
  t.equal(res.status, 404);
  t.equal(res.body.resourceType, 'OperationOutcome');
});

t.test('type history covers one type; system history covers all', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'POST', 'Patient', { resourceType: 'Patient' });
  await fhir(base, 'POST', 'Patient', { resourceType: 'Patient' });
  await fhir(base, 'POST', 'Practitioner', { resourceType: 'Practitioner' });
  const patients = await fhir(base, 'GET', 'Patient/_history');
  t.equal(patients.body.total, 2);
  t.ok(
    patients.body.entry.every(
      (e: { resource: { resourceType: string } }) => e.resource.resourceType === 'Patient',
    ),
  );
  // HealthLake: creates go upstream as PUT with the id the facade chose, so its history says PUT.
  if (process.env.TEST_STORE !== 'healthlake') {
    t.equal(patients.body.entry[0].request.method, 'POST');
    t.equal(patients.body.entry[0].request.url, 'Patient');
    t.equal(patients.body.entry[0].response.status, '201 Created');
  }
  const all = await fhir(base, 'GET', '_history');
  t.equal(all.body.total, 3);
  t.equal(all.body.entry[0].resource.resourceType, 'Practitioner', 'newest first');
});

t.test('type and system history need search on a type, as SMART puts them under s', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/hs1', { resourceType: 'Patient', id: 'hs1' });
  await fhir(base, 'POST', 'Practitioner', { resourceType: 'Practitioner' });
  // Practitioner: read only (r, no s), Patient: read and search.
  const readOnly = {
    authorization: `Bearer ${testToken({ scope: 'system/Patient.rs system/Practitioner.r' })}`,
  };
  const type = await fhir(base, 'GET', 'Practitioner/_history', undefined, readOnly);
  t.equal(type.status, 403, 'type history of a type it may only read');
  const all = await fhir(base, 'GET', '_history', undefined, readOnly);
  if (all.status === 200) {
    const types = new Set(
      (all.body.entry ?? []).map(
        (e: { resource: { resourceType: string } }) => e.resource.resourceType,
      ),
    );
    t.same([...types], ['Patient'], 'system history lists only the types it may search');
  } else t.equal(all.status, 403, 'or refuses system history');
  const instance = await fhir(base, 'GET', 'Patient/hs1/_history', undefined, readOnly);
  t.equal(instance.status, 200, 'instance history is a read');
});

t.test('history pages with _count and a next link until the end', async (t) => {
  const { base } = await startTestServer(t);
  for (let i = 0; i < 7; i++) await fhir(base, 'POST', 'Patient', { resourceType: 'Patient' });
  const seen: string[] = [];
  let url: string | undefined = `${base}/Patient/_history?_count=3`;
  let pages = 0;
  while (url) {
    const res = await fhir(url, 'GET', '');
    t.equal(res.status, 200);
    t.equal(res.body.total, 7);
    t.ok(res.body.entry.length <= 3);
    seen.push(...res.body.entry.map((e: { resource: { id: string } }) => e.resource.id));
    url = res.body.link.find((l: { relation: string }) => l.relation === 'next')?.url;
    if (url) t.ok(url.startsWith(`${base}/Patient/_history?`), 'links are absolute on the base');
    pages++;
  }
  t.equal(pages, 3);
  t.equal(new Set(seen).size, 7, 'every version exactly once');
});

t.test('paging is stable when versions are added between pages', async (t) => {
  const { base } = await startTestServer(t);
  for (let i = 0; i < 4; i++) await fhir(base, 'POST', 'Patient', { resourceType: 'Patient' });
  const first = await fhir(base, 'GET', 'Patient/_history?_count=2');
  const firstIds = first.body.entry.map((e: { resource: { id: string } }) => e.resource.id);
  await fhir(base, 'POST', 'Patient', { resourceType: 'Patient' });
  const next = first.body.link.find((l: { relation: string }) => l.relation === 'next').url;
  const second = await fhir(next, 'GET', '');
  const secondIds = second.body.entry.map((e: { resource: { id: string } }) => e.resource.id);
  t.equal(secondIds.length, 2);
  t.notOk(
    secondIds.some((id: string) => firstIds.includes(id)),
    'no entry repeats',
  );
});

t.test('a tampered or foreign paging cursor is 400, never data', async (t) => {
  const { base } = await startTestServer(t);
  for (let i = 0; i < 3; i++) await fhir(base, 'POST', 'Patient', { resourceType: 'Patient' });
  await fhir(base, 'POST', 'Practitioner', { resourceType: 'Practitioner' });
  const first = await fhir(base, 'GET', 'Patient/_history?_count=1');
  const next = new URL(
    first.body.link.find((l: { relation: string }) => l.relation === 'next').url,
  );
  const cursor = next.searchParams.get('_cursor')!;
  const flipped = cursor.slice(0, 10) + (cursor[10] === 'A' ? 'B' : 'A') + cursor.slice(11);
  for (const bad of [flipped, 'abc', cursor + 'x', '']) {
    const res = await fhir(
      base,
      'GET',
      `Patient/_history?_count=1&_cursor=${encodeURIComponent(bad)}`,
    );
    t.equal(res.status, 400, `cursor ${bad.slice(0, 12)}`);
    t.equal(res.body.resourceType, 'OperationOutcome');
  }
  const foreign = await fhir(base, 'GET', `Practitioner/_history?_count=1&_cursor=${cursor}`);
  t.equal(foreign.status, 400, 'a cursor from another query is refused');
  t.equal((await fhir(next.toString(), 'GET', '')).status, 200, 'the real one works');
});

t.test('_since limits history; malformed _since and _count are 400', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'POST', 'Patient', { resourceType: 'Patient' });
  const later = new Date(Date.now() + 60_000).toISOString();
  const none = await fhir(base, 'GET', `Patient/_history?_since=${later}`);
  t.equal(none.body.total, 0);
  const all = await fhir(base, 'GET', '_history?_since=2000-01-01T00:00:00Z');
  t.equal(all.body.total, 1);
  t.equal((await fhir(base, 'GET', 'Patient/_history?_since=yesterday')).status, 400);
  t.equal((await fhir(base, 'GET', 'Patient/_history?_count=-1')).status, 400);
  t.equal((await fhir(base, 'GET', 'Patient/_history?_count=ten')).status, 400);
  const zero = await fhir(base, 'GET', 'Patient/_history?_count=0');
  t.equal(zero.body.total, 1);
  t.equal(zero.body.entry.length, 0, '_count=0 gives only the total');
});

t.test('unknown parameters are ignored, or 400 under Prefer: handling=strict', async (t) => {
  const { base } = await startTestServer(t);
  t.equal((await fhir(base, 'GET', 'Patient/_history?foo=1')).status, 200);
  const strict = await fhir(base, 'GET', 'Patient/_history?foo=1', undefined, {
    prefer: 'handling=strict',
  });
  t.equal(strict.status, 400);
  t.match(strict.body.issue[0].diagnostics, /foo/);
});
