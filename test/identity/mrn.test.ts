import t from 'tap';
import { fhir, startTestServer } from '../helpers.js';

const patient = (extra: Record<string, unknown> = {}) => ({
  resourceType: 'Patient',
  name: [{ family: 'Okafor', given: ['Ada'] }],
  ...extra,
});

type Identifier = { system?: string; value?: string; type?: { coding?: { code?: string }[] } };
const mrnOf = (resource: { identifier?: Identifier[] }, system: string) =>
  (resource.identifier ?? []).filter((i) => i.system === system);

t.test('MRN', async (t) => {
  const { base, config } = await startTestServer(t);
  const system = config.identity.mrnSystem;
  const total = async () =>
    (await fhir(base, 'GET', 'Patient?_total=accurate&_count=0')).body.total as number;

  t.test('20 concurrent creates get 20 distinct, well-formed MRNs', async (t) => {
    const created = await Promise.all(
      Array.from({ length: 20 }, () => fhir(base, 'POST', 'Patient', patient())),
    );
    t.same(
      created.map((r) => r.status),
      Array(20).fill(201),
    );
    const mrns = created.map((r) => {
      const [mrn] = mrnOf(r.body, system);
      t.equal(mrnOf(r.body, system).length, 1, 'exactly one MRN');
      t.equal(mrn?.type?.coding?.[0]?.code, 'MR', 'typed MR (v2-0203)');
      return mrn?.value;
    });
    for (const mrn of mrns) t.match(mrn, /^MRN\d{6}$/);
    t.equal(new Set(mrns).size, 20, 'no duplicates');
  });

  t.test('a client-supplied MRN is kept, and is searchable', async (t) => {
    const res = await fhir(
      base,
      'POST',
      'Patient',
      patient({ identifier: [{ system, value: 'X-1' }] }),
    );
    t.equal(res.status, 201);
    t.same(
      mrnOf(res.body, system).map((i) => i.value),
      ['X-1'],
      'no second MRN added',
    );
    const found = await fhir(
      base,
      'GET',
      `Patient?identifier=${encodeURIComponent(`${system}|X-1`)}`,
    );
    t.same(
      found.body.entry.map((e: { resource: { id: string } }) => e.resource.id),
      [res.body.id],
    );
  });

  t.test("reusing another patient's MRN on create is 409 and writes nothing", async (t) => {
    const first = await fhir(base, 'POST', 'Patient', patient());
    const [mrn] = mrnOf(first.body, system);
    const before = await total();
    const dup = await fhir(
      base,
      'POST',
      'Patient',
      patient({ identifier: [{ system, value: mrn!.value }] }),
    );
    t.equal(dup.status, 409);
    t.equal(dup.body.resourceType, 'OperationOutcome');
    t.equal(await total(), before, 'no patient was created');
    const put = await fhir(base, 'PUT', 'Patient/dup-new', {
      ...patient({ identifier: [{ system, value: mrn!.value }] }),
      id: 'dup-new',
    });
    t.equal(put.status, 409, 'update-as-create too');
    t.equal((await fhir(base, 'GET', 'Patient/dup-new')).status, 404);
  });

  t.test("reusing another patient's MRN on update is 409 and leaves it unchanged", async (t) => {
    const a = (await fhir(base, 'POST', 'Patient', patient())).body;
    const b = (await fhir(base, 'POST', 'Patient', patient())).body;
    const taken = mrnOf(a, system)[0]!.value;
    const res = await fhir(base, 'PUT', `Patient/${b.id}`, {
      ...b,
      gender: 'female',
      identifier: [{ system, value: taken }],
    });
    t.equal(res.status, 409);
    const now = (await fhir(base, 'GET', `Patient/${b.id}`)).body;
    t.equal(now.meta.versionId, '1', 'no new version');
    t.same(mrnOf(now, system), mrnOf(b, system));
  });

  t.test('an update without an MRN keeps the one it had', async (t) => {
    const a = (await fhir(base, 'POST', 'Patient', patient())).body;
    const { identifier: _dropped, ...rest } = a;
    const res = await fhir(base, 'PUT', `Patient/${a.id}`, { ...rest, gender: 'male' });
    t.equal(res.status, 200);
    t.same(mrnOf(res.body, system), mrnOf(a, system));
  });

  t.test('patients created in a transaction Bundle get MRNs', async (t) => {
    const res = await fhir(base, 'POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [1, 2].map((n) => ({
        fullUrl: `urn:uuid:00000000-0000-4000-8000-00000000000${n}`,
        resource: patient(),
        request: { method: 'POST', url: 'Patient' },
      })),
    });
    t.equal(res.status, 200);
    const values = res.body.entry.map(
      (e: { resource: { identifier?: Identifier[] } }) => mrnOf(e.resource, system)[0]?.value,
    );
    t.equal(values.length, 2);
    for (const value of values) t.match(value, /^MRN\d{6}$/);
    t.not(values[0], values[1]);
  });
});
