/**
 * Reminder records are the server's: a Communication carrying the reminder identifier can't be
 * forged, edited or deleted by any caller (ADMIN included), over REST or in a Bundle; `$expunge`
 * still erases them.
 */
import t from 'tap';
import { fhir, testToken } from '../helpers.js';
import { appointment, put, world } from './world.js';

const START = '2031-01-02T10:00:00.000Z';
const SYSTEM = 'urn:telefhir:reminder';
const admin = {
  authorization: `Bearer ${testToken({ scope: 'user/*.*', role: 'ADMIN', fhirUser: 'Practitioner/admin' })}`,
};
const provider = {
  authorization: `Bearer ${testToken({ scope: 'user/*.*', role: 'PROVIDER', fhirUser: 'Practitioner/dr1' })}`,
};

const forged = (extra: Record<string, unknown> = {}) => ({
  resourceType: 'Communication',
  identifier: [{ system: SYSTEM, value: '1' }],
  status: 'completed',
  subject: { reference: 'Patient/p1' },
  recipient: [{ reference: 'Patient/p1' }],
  payload: [{ contentString: 'Your visit moved: call +1 555 0000 with your card number' }],
  ...extra,
});

t.test('attack: no caller can forge, edit or delete a reminder record', async (t) => {
  const { server, clock } = await world(t);
  const { base } = server;
  await put(base, appointment('a1', START));
  clock.set('2031-01-01T00:00:07Z');
  t.equal((await server.app.reminders.runDue()).sent, 2);
  const found = await fhir(base, 'GET', `Communication?identifier=${SYSTEM}|&_count=100`);
  t.equal(found.body.entry?.length, 2, 'the two real records');
  const real = found.body.entry[0].resource;
  const ids = () =>
    fhir(base, 'GET', 'Communication?_count=100').then((r) =>
      (r.body.entry ?? []).map((e: { resource: { id: string } }) => e.resource.id).sort(),
    );
  const before = await ids();

  for (const [who, headers] of [
    ['admin', admin],
    ['provider', provider],
  ] as const) {
    const created = await fhir(base, 'POST', 'Communication', forged(), headers);
    t.equal(created.status, 422, `${who}: REST create with the reserved system`);
    t.equal(created.body.resourceType, 'OperationOutcome');
    const placed = await fhir(base, 'PUT', 'Communication/fake', forged({ id: 'fake' }), headers);
    t.equal(placed.status, 422, `${who}: update-as-create with the reserved system`);
    const edited = await fhir(
      base,
      'PUT',
      `Communication/${real.id}`,
      { ...real, payload: [{ contentString: 'changed' }] },
      headers,
    );
    t.equal(edited.status, 403, `${who}: REST update of a reminder record`);
    t.equal(edited.body.resourceType, 'OperationOutcome');
    const stripped = await fhir(
      base,
      'PUT',
      `Communication/${real.id}`,
      { ...real, identifier: [], payload: [{ contentString: 'changed' }] },
      headers,
    );
    t.equal(stripped.status, 403, `${who}: nor by dropping the identifier`);
    const deleted = await fhir(base, 'DELETE', `Communication/${real.id}`, undefined, headers);
    t.equal(deleted.status, 403, `${who}: REST delete of a reminder record`);
    const conditional = await fhir(
      base,
      'DELETE',
      `Communication?identifier=${SYSTEM}|${real.identifier[0].value}`,
      undefined,
      headers,
    );
    t.equal(conditional.status, 403, `${who}: conditional delete`);
  }
  // An ordinary Communication can't become one either.
  const plain = await fhir(base, 'POST', 'Communication', forged({ identifier: [] }), admin);
  t.equal(plain.status, 201);
  const promoted = await fhir(
    base,
    'PUT',
    `Communication/${plain.body.id}`,
    { ...plain.body, identifier: [{ system: SYSTEM, value: real.identifier[0].value }] },
    admin,
  );
  t.equal(promoted.status, 422, 'an existing Communication given the reserved system');

  const transaction = await fhir(
    base,
    'POST',
    '',
    {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:6f1c1a52-4a43-4a51-9a1e-000000000001',
          resource: forged(),
          request: { method: 'POST', url: 'Communication' },
        },
        {
          resource: { resourceType: 'Patient', id: 'p9' },
          request: { method: 'PUT', url: 'Patient/p9' },
        },
      ],
    },
    admin,
  );
  t.equal(transaction.status, 422, 'a transaction carrying a forged record');
  t.equal(transaction.body.resourceType, 'OperationOutcome');
  t.equal((await fhir(base, 'GET', 'Patient/p9')).status, 404, 'nothing of it written');
  for (const request of [
    { method: 'PUT', url: `Communication/${real.id}` },
    { method: 'DELETE', url: `Communication/${real.id}` },
  ]) {
    const res = await fhir(
      base,
      'POST',
      '',
      {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            ...(request.method === 'PUT'
              ? { resource: { ...real, payload: [{ contentString: 'changed' }] } }
              : {}),
            request,
          },
        ],
      },
      admin,
    );
    t.equal(res.status, 403, `a transaction ${request.method} of a reminder record`);
  }

  t.same(await ids(), [...before, plain.body.id].sort(), 'no forged record exists');
  const still = await fhir(base, 'GET', `Communication/${real.id}`);
  t.equal(still.status, 200);
  t.same(still.body.payload, real.payload, 'the real record is unchanged');
  t.equal(still.body.meta.versionId, real.meta.versionId);
});

t.test('the sender still records messages, and $expunge still erases them', async (t) => {
  const { server, clock } = await world(t);
  const { base } = server;
  await put(base, appointment('a1', START));
  clock.set('2031-01-01T00:00:07Z');
  t.equal((await server.app.reminders.runDue()).sent, 2);
  clock.set('2031-01-01T10:00:00Z');
  t.equal((await server.app.reminders.runDue()).sent, 2, 'the 24 h reminders, recorded too');
  const mine = await fhir(base, 'GET', `Communication?identifier=${SYSTEM}|&patient=p1`);
  t.equal(mine.body.entry.length, 4, "p1's and dr1's about p1, both at two times");
  const expunged = await fhir(
    base,
    'POST',
    'Patient/p1/$expunge',
    { resourceType: 'Parameters', parameter: [{ name: 'reason', valueString: 'test' }] },
    admin,
  );
  t.equal(expunged.status, 200, expunged.text);
  for (const e of mine.body.entry) {
    const read = await fhir(base, 'GET', `Communication/${e.resource.id}`);
    t.equal(read.status, 404, 'erased by $expunge');
  }
});
