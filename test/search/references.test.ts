import t from 'tap';
import { extractIndexValues, writeTimeExpression } from '../../src/search/extract.js';
import { parseReference } from '../../src/search/references.js';
import { rows } from './rows.js';

t.test('a relative reference is its type and id, with or without a version', async (t) => {
  t.same(parseReference('Patient/1'), { targetType: 'Patient', targetId: '1' });
  t.same(parseReference('Patient/1/_history/3'), { targetType: 'Patient', targetId: '1' });
});

t.test('an absolute reference under the base URL is read as relative', async (t) => {
  for (const base of ['http://x/fhir', 'http://x/fhir/']) {
    t.same(parseReference('http://x/fhir/Patient/1', base), {
      targetType: 'Patient',
      targetId: '1',
    });
  }
});

t.test('another server’s reference gives its trailing Type/id if it has one', async (t) => {
  t.same(parseReference('https://other/a/b/Practitioner/p-1'), {
    targetType: 'Practitioner',
    targetId: 'p-1',
  });
  t.same(parseReference('https://other/Practitioner/p-1/_history/2'), {
    targetType: 'Practitioner',
    targetId: 'p-1',
  });
  t.same(parseReference('https://other/docs/index.html'), { targetType: null, targetId: null });
});

t.test('urn and unrecognisable references have no target', async (t) => {
  t.same(parseReference('urn:uuid:0b3c9c7a-5ed0-4d8c-9f0a-3b1f4c2b8e11'), {
    targetType: null,
    targetId: null,
  });
  t.same(parseReference('urn:oid:1.2.3'), { targetType: null, targetId: null });
  t.same(parseReference('Patient'), { targetType: null, targetId: null });
  t.same(parseReference('Patient/1/extra'), { targetType: null, targetId: null });
  t.same(parseReference('patient/1'), { targetType: null, targetId: null });
});

t.test('a contained reference is not indexed', async (t) => {
  t.equal(parseReference('#p1'), undefined);
});

t.test('references are split into type and id', async (t) => {
  const base = 'https://fhir.example.org/r4';
  const values = extractIndexValues(
    {
      resourceType: 'Observation',
      subject: { reference: 'Patient/123' },
      performer: [
        { reference: 'Practitioner/7/_history/2' },
        { reference: 'https://fhir.example.org/r4/Organization/o1' },
        { reference: 'https://other.example.com/fhir/PractitionerRole/r9/_history/1' },
        { reference: 'https://other.example.com/not/a-resource' },
        { reference: 'urn:uuid:0b3c9c7a-5ed0-4d8c-9f0a-3b1f4c2b8e11' },
        { reference: '#contained-1' },
        { identifier: { system: 'urn:x', value: 'only-an-identifier' } },
      ],
    },
    `${base}/`,
  );
  t.same(rows(values, 'references', 'subject'), [
    { targetType: 'Patient', targetId: '123', url: 'Patient/123' },
  ]);
  t.same(rows(values, 'references', 'performer'), [
    { targetType: 'Practitioner', targetId: '7', url: 'Practitioner/7/_history/2' },
    { targetType: 'Organization', targetId: 'o1', url: `${base}/Organization/o1` },
    {
      targetType: 'PractitionerRole',
      targetId: 'r9',
      url: 'https://other.example.com/fhir/PractitionerRole/r9/_history/1',
    },
    { targetType: null, targetId: null, url: 'https://other.example.com/not/a-resource' },
    { targetType: null, targetId: null, url: 'urn:uuid:0b3c9c7a-5ed0-4d8c-9f0a-3b1f4c2b8e11' },
  ]);
});

t.test('resolve() is Patient keeps only references to a Patient', async (t) => {
  t.equal(
    writeTimeExpression('Encounter.subject.where(resolve() is Patient)'),
    "Encounter.subject.where(refTypeIs('Patient'))",
  );
  const toGroup = extractIndexValues({
    resourceType: 'Encounter',
    subject: { reference: 'Group/g1' },
  });
  t.same(rows(toGroup, 'references', 'patient'), []);
  t.same(rows(toGroup, 'references', 'subject'), [
    { targetType: 'Group', targetId: 'g1', url: 'Group/g1' },
  ]);

  const toPatient = extractIndexValues({
    resourceType: 'Encounter',
    subject: { reference: 'http://elsewhere/fhir/Patient/p1' },
  });
  t.same(rows(toPatient, 'references', 'patient'), [
    { targetType: 'Patient', targetId: 'p1', url: 'http://elsewhere/fhir/Patient/p1' },
  ]);

  const appointment = extractIndexValues({
    resourceType: 'Appointment',
    participant: [
      { actor: { reference: 'Patient/p1' }, status: 'accepted' },
      { actor: { reference: 'Practitioner/d1' }, status: 'accepted' },
      { actor: { display: 'No reference' }, status: 'accepted' },
    ],
  });
  t.same(
    rows(appointment, 'references', 'patient').map((row) => row.url),
    ['Patient/p1'],
  );
  t.same(
    rows(appointment, 'references', 'practitioner').map((row) => row.url),
    ['Practitioner/d1'],
  );
  t.same(
    rows(appointment, 'references', 'actor').map((row) => row.url),
    ['Patient/p1', 'Practitioner/d1'],
  );
});
