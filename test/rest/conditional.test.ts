import t from 'tap';
import { fhir, startTestServer } from '../helpers.js';

const withMrn = (value: string) => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:mrn', value }],
});

t.test('If-Match with the current version updates; a stale one is 412', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/m1', { resourceType: 'Patient', id: 'm1' });
  const ok = await fhir(
    base,
    'PUT',
    'Patient/m1',
    { resourceType: 'Patient', id: 'm1' },
    {
      'if-match': 'W/"1"',
    },
  );
  t.equal(ok.status, 200);
  t.equal(ok.body.meta.versionId, '2');
  const stale = await fhir(
    base,
    'PUT',
    'Patient/m1',
    { resourceType: 'Patient', id: 'm1' },
    {
      'if-match': 'W/"1"',
    },
  );
  t.equal(stale.status, 412);
  t.equal(stale.body.resourceType, 'OperationOutcome');
  t.equal((await fhir(base, 'GET', 'Patient/m1')).body.meta.versionId, '2', 'nothing written');
  const garbage = await fhir(
    base,
    'PUT',
    'Patient/m1',
    { resourceType: 'Patient', id: 'm1' },
    {
      'if-match': 'banana',
    },
  );
  t.equal(garbage.status, 412);
  const missing = await fhir(
    base,
    'PUT',
    'Patient/m2',
    { resourceType: 'Patient', id: 'm2' },
    {
      'if-match': 'W/"1"',
    },
  );
  t.equal(missing.status, 412, 'If-Match on a resource that does not exist can not match');
  t.equal((await fhir(base, 'GET', 'Patient/m2')).status, 404);
});

t.test(
  'concurrent updates with the same If-Match: exactly one wins, the rest get 412',
  async (t) => {
    const { base } = await startTestServer(t);
    await fhir(base, 'PUT', 'Patient/race', { resourceType: 'Patient', id: 'race' });
    const attempts = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        fhir(
          base,
          'PUT',
          'Patient/race',
          { resourceType: 'Patient', id: 'race', birthDate: `20${10 + i}-01-01` },
          {
            'if-match': 'W/"1"',
          },
        ),
      ),
    );
    const statuses = attempts.map((a) => a.status).sort();
    t.same(statuses, [200, ...Array(9).fill(412)]);
    const history = await fhir(base, 'GET', 'Patient/race/_history');
    t.equal(history.body.total, 2, 'one update landed');
    const winner = attempts.find((a) => a.status === 200)!;
    t.equal((await fhir(base, 'GET', 'Patient/race')).body.birthDate, winner.body.birthDate);
  },
);

t.test('concurrent updates without If-Match all land as successive versions', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'PUT', 'Patient/many', { resourceType: 'Patient', id: 'many' });
  const results = await Promise.all(
    Array.from({ length: 8 }, () =>
      fhir(base, 'PUT', 'Patient/many', { resourceType: 'Patient', id: 'many' }),
    ),
  );
  t.ok(results.every((r) => r.status === 200));
  const versions = results.map((r) => Number(r.body.meta.versionId)).sort((a, b) => a - b);
  t.same(versions, [2, 3, 4, 5, 6, 7, 8, 9]);
});

t.test('If-None-Exist: no match creates, one match returns it (200), two is 412', async (t) => {
  const { base } = await startTestServer(t);
  const first = await fhir(base, 'POST', 'Patient', withMrn('A1'), {
    'if-none-exist': 'identifier=urn:mrn|A1',
  });
  t.equal(first.status, 201);
  const again = await fhir(base, 'POST', 'Patient', withMrn('A1'), {
    'if-none-exist': 'identifier=urn:mrn|A1',
  });
  t.equal(again.status, 200);
  t.equal(again.body.id, first.body.id);
  t.equal(again.body.meta.versionId, '1');
  await fhir(base, 'POST', 'Patient', withMrn('A1'));
  const dup = await fhir(base, 'POST', 'Patient', withMrn('A1'), {
    'if-none-exist': 'identifier=urn:mrn|A1',
  });
  t.equal(dup.status, 412);
  const byId = await fhir(base, 'POST', 'Patient', withMrn('B2'), {
    'if-none-exist': `_id=${first.body.id}`,
  });
  t.equal(byId.status, 200);
  t.equal(byId.body.id, first.body.id);
});

t.test('If-None-Exist identifier forms: value only, system only, |value', async (t) => {
  const { base } = await startTestServer(t);
  await fhir(base, 'POST', 'Patient', withMrn('C3'));
  await fhir(base, 'POST', 'Patient', {
    resourceType: 'Patient',
    identifier: [{ value: 'nosys' }],
  });
  const check = async (criteria: string, expected: number) => {
    const res = await fhir(
      base,
      'POST',
      'Patient',
      { resourceType: 'Patient' },
      {
        'if-none-exist': criteria,
      },
    );
    t.equal(res.status, expected, criteria);
  };
  await check('identifier=C3', 200);
  await check('identifier=urn:other|C3', 201);
  await check('identifier=|nosys', 200);
  await check('identifier=|C3', 201);
  await check('Patient?identifier=urn:mrn|C3', 200);
});

t.test('concurrent conditional creates with the same criteria create exactly one', async (t) => {
  const { base } = await startTestServer(t);
  const results = await Promise.all(
    Array.from({ length: 8 }, () =>
      fhir(base, 'POST', 'Patient', withMrn('RACE'), {
        'if-none-exist': 'identifier=urn:mrn|RACE',
      }),
    ),
  );
  t.same(results.map((r) => r.status).sort(), [200, 200, 200, 200, 200, 200, 200, 201]);
  t.equal(new Set(results.map((r) => r.body.id)).size, 1);
  t.equal((await fhir(base, 'GET', 'Patient/_history')).body.total, 1);
});

t.test(
  'If-None-Exist with unknown, malformed or empty criteria is 400 and creates nothing',
  async (t) => {
    const { base } = await startTestServer(t);
    for (const criteria of ['foo=bar', '', 'identifier=', 'birthdate=yesterday', '_count=1']) {
      const res = await fhir(base, 'POST', 'Patient', withMrn('D4'), { 'if-none-exist': criteria });
      t.equal(res.status, 400, `criteria "${criteria}"`);
      t.equal(res.body.resourceType, 'OperationOutcome');
    }
    t.equal((await fhir(base, 'GET', 'Patient/_history')).body.total, 0);
  },
);

t.test('Prefer: return=minimal, representation and OperationOutcome', async (t) => {
  const { base } = await startTestServer(t);
  const minimal = await fhir(
    base,
    'POST',
    'Patient',
    { resourceType: 'Patient' },
    {
      prefer: 'return=minimal',
    },
  );
  t.equal(minimal.status, 201);
  t.equal(minimal.text, '');
  t.ok(minimal.headers.get('location'));
  t.equal(minimal.headers.get('etag'), 'W/"1"');
  const outcome = await fhir(
    base,
    'POST',
    'Patient',
    { resourceType: 'Patient' },
    {
      prefer: 'return=OperationOutcome',
    },
  );
  t.equal(outcome.status, 201);
  t.equal(outcome.body.resourceType, 'OperationOutcome');
  t.equal(outcome.body.issue[0].severity, 'information');
  const full = await fhir(
    base,
    'POST',
    'Patient',
    { resourceType: 'Patient' },
    {
      prefer: 'return=representation',
    },
  );
  t.equal(full.body.resourceType, 'Patient');
  const id = full.body.id;
  const put = await fhir(
    base,
    'PUT',
    `Patient/${id}`,
    { resourceType: 'Patient', id },
    {
      prefer: 'return=minimal',
    },
  );
  t.equal(put.status, 200);
  t.equal(put.text, '');
  t.equal(put.headers.get('etag'), 'W/"2"');
});
