import t from 'tap';
import { validResources, patient } from '../fixtures.js';
import { fhir, startTestServer } from '../helpers.js';

const US_CORE_PATIENT = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient';
const withUsCore = { defaultProfiles: 'us-core' as const };
const expressions = (outcome: { issue: { severity: string; expression?: string[] }[] }) =>
  outcome.issue.filter((i) => i.severity === 'error').map((i) => i.expression?.[0]);

t.test('valid resources of every type are accepted with US Core defaults on', async (t) => {
  const { base } = await startTestServer(t, withUsCore);
  for (const [type, make] of Object.entries(validResources)) {
    const res = await fhir(base, 'POST', type, make());
    t.equal(res.status, 201, `${type}: ${res.status === 201 ? '' : res.text.slice(0, 400)}`);
  }
});

t.test('an invalid create is 422 listing every problem, and stores nothing', async (t) => {
  const { base } = await startTestServer(t, withUsCore);
  const bad = {
    resourceType: 'Patient',
    name: [{ family: 'Doe', given: 'John' }], // given must be an array
    birthDate: '1970-13-45', // not a date
    gender: 'robot', // not in the required value set
    foo: 1, // unknown element
    // no identifier: US Core requires one
  };
  const res = await fhir(base, 'POST', 'Patient', bad);
  t.equal(res.status, 422);
  t.equal(res.body.resourceType, 'OperationOutcome');
  const found = expressions(res.body);
  for (const path of [
    'Patient.name[0].given',
    'Patient.birthDate',
    'Patient.gender',
    'Patient.foo',
    'Patient.identifier',
  ]) {
    t.ok(found.includes(path), `reports ${path}`);
  }
  for (const issue of res.body.issue) {
    t.ok(
      issue.severity && issue.code && issue.diagnostics,
      'each issue has severity, code and diagnostics',
    );
  }
  t.equal((await fhir(base, 'GET', 'Patient/_history')).body.total, 0, 'nothing stored');
});

t.test('a resource with five problems reports five errors', async (t) => {
  const { base } = await startTestServer(t);
  const res = await fhir(base, 'POST', 'Patient', {
    resourceType: 'Patient',
    active: 'yes',
    birthDate: '1970-13-01',
    gender: 'robot',
    unknownThing: true,
    telecom: { system: 'phone', value: '555' },
  });
  t.equal(res.status, 422);
  t.equal(expressions(res.body).length, 5, JSON.stringify(expressions(res.body)));
});

t.test('an invalid update is 422 and the stored version is unchanged', async (t) => {
  const { base } = await startTestServer(t, withUsCore);
  const created = await fhir(base, 'PUT', 'Patient/v1', { ...patient(), id: 'v1' });
  t.equal(created.status, 201);
  const res = await fhir(base, 'PUT', 'Patient/v1', { ...patient(), id: 'v1', gender: 'robot' });
  t.equal(res.status, 422);
  t.same(expressions(res.body), ['Patient.gender']);
  const history = await fhir(base, 'GET', 'Patient/v1/_history');
  t.equal(history.body.total, 1, 'history shows no new version');
});

t.test('an invalid entry fails the whole transaction with 422, naming the entry', async (t) => {
  const { base } = await startTestServer(t, withUsCore);
  const res = await fhir(base, 'POST', '', {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { resource: patient(), request: { method: 'POST', url: 'Patient' } },
      { resource: patient({ gender: 'robot' }), request: { method: 'POST', url: 'Patient' } },
    ],
  });
  t.equal(res.status, 422);
  t.same(res.body.issue[0].expression, ['Bundle.entry[1]', 'Patient.gender']);
  t.equal(
    (await fhir(base, 'GET', 'Patient/_history')).body.total,
    0,
    'the valid entry rolled back too',
  );
});

t.test('an unknown meta.profile is a warning, not an error', async (t) => {
  const { base } = await startTestServer(t);
  const res = await fhir(base, 'POST', 'Patient', {
    resourceType: 'Patient',
    meta: { profile: ['http://example.org/StructureDefinition/nobody-knows'] },
  });
  t.equal(res.status, 201);
  const check = await fhir(base, 'POST', 'Patient/$validate', {
    resourceType: 'Patient',
    meta: { profile: ['http://example.org/StructureDefinition/nobody-knows'] },
  });
  const warning = check.body.issue.find(
    (i: { expression?: string[] }) => i.expression?.[0] === 'Patient.meta.profile[0]',
  );
  t.equal(warning?.severity, 'warning');
  t.same(expressions(check.body), [], 'and no error');
});

t.test('meta.profile applies a known profile even with defaults off', async (t) => {
  const { base } = await startTestServer(t);
  const res = await fhir(base, 'POST', 'Patient', {
    resourceType: 'Patient',
    meta: { profile: [US_CORE_PATIENT] },
  });
  t.equal(res.status, 422);
  t.ok(expressions(res.body).includes('Patient.identifier'));
});

t.test('$validate answers an OperationOutcome and stores nothing', async (t) => {
  const { base } = await startTestServer(t, withUsCore);
  const ok = await fhir(base, 'POST', 'Patient/$validate', {
    resourceType: 'Parameters',
    parameter: [
      { name: 'resource', resource: patient() },
      { name: 'mode', valueCode: 'create' },
    ],
  });
  t.equal(ok.status, 200);
  t.equal(ok.body.resourceType, 'OperationOutcome');
  t.same(expressions(ok.body), [], 'no errors (best-practice warnings such as dom-6 may remain)');
  const bad = await fhir(base, 'POST', 'Patient/$validate', patient({ gender: 'robot' }));
  t.equal(bad.status, 200, 'a found problem is not an HTTP error');
  t.same(expressions(bad.body), ['Patient.gender']);
  const withProfile = await fhir(base, 'POST', 'Patient/$validate', {
    resourceType: 'Parameters',
    parameter: [
      { name: 'resource', resource: { resourceType: 'Patient' } },
      { name: 'profile', valueUri: US_CORE_PATIENT },
    ],
  });
  t.ok(expressions(withProfile.body).includes('Patient.identifier'));
  t.equal((await fhir(base, 'GET', 'Patient/_history')).body.total, 0, 'nothing stored');
});

t.test(
  '$validate on an instance: update needs the matching id; delete needs a resource',
  async (t) => {
    const { base } = await startTestServer(t);
    await fhir(base, 'PUT', 'Patient/x1', { resourceType: 'Patient', id: 'x1' });
    const mismatch = await fhir(base, 'POST', 'Patient/x1/$validate?mode=update', {
      resourceType: 'Patient',
      id: 'x2',
    });
    t.same(expressions(mismatch.body), ['Patient.id']);
    const fine = await fhir(base, 'POST', 'Patient/x1/$validate', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'resource', resource: { resourceType: 'Patient', id: 'x1' } },
        { name: 'mode', valueCode: 'update' },
      ],
    });
    t.same(expressions(fine.body), []);
    const del = await fhir(base, 'POST', 'Patient/x1/$validate?mode=delete', {
      resourceType: 'Parameters',
    });
    t.equal(del.status, 200);
    const missing = await fhir(base, 'POST', 'Patient/none/$validate?mode=delete', {
      resourceType: 'Parameters',
    });
    t.equal(missing.status, 404);
    t.equal((await fhir(base, 'GET', 'Patient/x1')).body.meta.versionId, '1', 'nothing changed');
  },
);

t.test(
  '$validate refuses unknown parameters, bad modes and an empty request with 400',
  async (t) => {
    const { base } = await startTestServer(t);
    const unknown = await fhir(base, 'POST', 'Patient/$validate', {
      resourceType: 'Parameters',
      parameter: [{ name: 'frobnicate', valueString: 'x' }],
    });
    t.equal(unknown.status, 400);
    const mode = await fhir(base, 'POST', 'Patient/$validate?mode=explode', {
      resourceType: 'Patient',
    });
    t.equal(mode.status, 400);
    const empty = await fhir(base, 'POST', 'Patient/$validate', { resourceType: 'Parameters' });
    t.equal(empty.status, 400);
  },
);

t.test(
  'the profiles enforced are served as StructureDefinitions and listed in metadata',
  async (t) => {
    const { base } = await startTestServer(t);
    const sd = await fhir(base, 'GET', 'StructureDefinition/us-core-patient');
    t.equal(sd.status, 200);
    t.equal(sd.body.url, US_CORE_PATIENT);
    t.ok(sd.body.snapshot?.element?.length, 'with its snapshot');
    t.equal((await fhir(base, 'GET', 'StructureDefinition/nope')).status, 404);
    const list = await fhir(
      base,
      'GET',
      `StructureDefinition?url=${encodeURIComponent(US_CORE_PATIENT)}`,
    );
    t.equal(list.body.total, 1);
    const statement = (await fhir(base, 'GET', 'metadata')).body;
    const patientCap = statement.rest[0].resource.find(
      (r: { type: string }) => r.type === 'Patient',
    );
    t.ok(patientCap.supportedProfile.includes(US_CORE_PATIENT));
    t.ok(patientCap.operation.some((o: { name: string }) => o.name === 'validate'));
    const appointment = statement.rest[0].resource.find(
      (r: { type: string }) => r.type === 'Appointment',
    );
    t.ok(
      appointment.supportedProfile.some((url: string) =>
        url.includes('telefhir-telehealth-appointment'),
      ),
    );
  },
);
