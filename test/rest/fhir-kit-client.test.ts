import { Client } from 'fhir-kit-client';
import t from 'tap';
import { startTestServer, testToken } from '../helpers.js';

// A real third-party FHIR client, to prove the server speaks the protocol, not just our tests.
t.test('fhir-kit-client: create, read, update, vread, history, delete, paging', async (t) => {
  const { base } = await startTestServer(t);
  const client = new Client({ baseUrl: base, bearerToken: testToken() });

  const statement = (await client.capabilityStatement()) as unknown as { fhirVersion: string };
  t.equal(statement.fhirVersion, '4.0.1');

  const created = (await client.create({
    resourceType: 'Patient',
    body: { resourceType: 'Patient', name: [{ family: 'Kit' }] },
  })) as unknown as { id: string; meta: { versionId: string } };
  t.equal(created.meta.versionId, '1');

  const read = (await client.read({ resourceType: 'Patient', id: created.id })) as unknown as {
    name: { family: string }[];
  };
  t.equal(read.name[0]!.family, 'Kit');

  const updated = (await client.update({
    resourceType: 'Patient',
    id: created.id,
    body: { resourceType: 'Patient', id: created.id, name: [{ family: 'Kitt' }] },
  })) as unknown as { meta: { versionId: string } };
  t.equal(updated.meta.versionId, '2');

  const v1 = (await client.vread({
    resourceType: 'Patient',
    id: created.id,
    version: '1',
  })) as unknown as {
    name: { family: string }[];
  };
  t.equal(v1.name[0]!.family, 'Kit');

  const history = (await client.history({
    resourceType: 'Patient',
    id: created.id,
  })) as unknown as {
    total: number;
  };
  t.equal(history.total, 2);

  for (let i = 0; i < 3; i++) {
    await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient' } });
  }
  const firstPage = (await client.request('Patient/_history?_count=2')) as unknown as {
    entry: unknown[];
    link: { relation: string; url: string }[];
  };
  t.equal(firstPage.entry.length, 2);
  const secondPage = (await client.nextPage({ bundle: firstPage } as never)) as unknown as {
    entry: unknown[];
  };
  t.equal(secondPage.entry.length, 2, 'nextPage follows our next link');

  await client.delete({ resourceType: 'Patient', id: created.id });
  await t.rejects(
    client.read({ resourceType: 'Patient', id: created.id }),
    'read after delete fails',
  );
  try {
    await client.read({ resourceType: 'Patient', id: created.id });
  } catch (err) {
    const response = (err as { response?: { status: number; data: { resourceType: string } } })
      .response;
    t.equal(response?.status, 410);
    t.equal(response?.data.resourceType, 'OperationOutcome');
  }
});
