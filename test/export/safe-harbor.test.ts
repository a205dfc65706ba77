/**
 * The Safe Harbor transform on its own (src/export/safe-harbor.ts): a seeded population
 * (src/seed/, in memory) with SSNs and adversarial resources added, de-identified whole, then
 * every byte of the output scanned for every identifying value of the input: names, every
 * identifier, SSN, MRN, phone, email, street lines, cities, ZIP codes, every exact date and
 * time, every id, and the free text (narratives, notes, descriptions, attachments). Besides:
 * the output validates against base R4, every reference in it resolves to a pseudonymous id in
 * it (records join), pseudonyms depend on the key and only on it, ages over 89, restricted
 * ZIP3s, contained resources and extensions.
 */
import type { Patient, Resource } from 'fhir/r4.js';
import t from 'tap';
import { ID_PATTERN } from '../../src/fhir/resource-types.js';
import { pseudonym, RESTRICTED_ZIP3, safeHarbor } from '../../src/export/safe-harbor.js';
import { generatePopulation } from '../../src/seed/generate.js';
import { identifyingValues, leaks, visit } from './identifying-values.js';
import { createValidator } from '../../src/validation/index.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const NOW = new Date('2026-12-06T12:00:00Z');
const KEY = Buffer.alloc(32, 1);
const OTHER_KEY = Buffer.alloc(32, 2);
const US_CORE = 'http://hl7.org/fhir/us/core/StructureDefinition/';
const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
const DAR = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';

const { validator } = createValidator({ defaultProfiles: false });

/** Values hidden in the adversarial resources: each must be absent from the output. */
const SECRETS = {
  ssnInLocalExtension: '901-44-1234',
  ssnInIdentifierExtension: '901-44-2345',
  nameInHumanNameExtension: 'Zebediah',
  maidenName: 'Quimbyfield',
  attachmentTitle: 'Scan of Horatio Quackenbush driver license',
  localDisplay: 'Patient 901-44-3456 Ostrowski',
  localCode: 'MRN-77120045',
  ssnCoding: '901-44-4567',
  conceptText: 'Bed 12, Mrs Pennywhistle, SSN 901-44-5678',
  referenceDisplay: 'Archibald Fenwick-Orr',
  referenceIdentifier: 'MRN-55510101',
  containedName: 'Wetherby Clinic of Dunmore',
  containedIdentifier: 'ORG-TAX-11-2233445',
  narrative: 'Seen at 14 Elm Row by Dr Ravensworth',
  note: 'Daughter Imelda can be called at 555-313-9090',
  metaSource: 'https://ehr.example/device/bedside-7',
  implicitRules: 'https://rules.example/for/patient-4477',
  absoluteBase: 'https://other.example/fhir',
  geolocation: 45.523064,
  elderBirthDate: '1921-03-14',
  elderZip: '03601',
  urnUuid: 'urn:uuid:7d9f2a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6',
  primitiveExtension: 'born at home, farm 9',
  unknownModifier: 'SECRET-MODIFIER-VALUE',
  unitSsn: '901-44-9911',
  systemSsn: 'urn:ssn:901449922',
  referenceType: 'http://evil.example/Mallory-Pennington',
};

/** A few resources built to smuggle identifiers past the rules, and the edge cases. */
function adversarial(patientId: string): Resource[] {
  const elder = {
    resourceType: 'Patient',
    id: 'elder-1',
    meta: {
      versionId: '7',
      lastUpdated: '2025-04-03T10:11:12.345Z',
      source: SECRETS.metaSource,
      profile: [`${US_CORE}us-core-patient`],
      tag: [
        { system: 'http://example.org/tags', code: 'local-tag', display: SECRETS.localDisplay },
      ],
      security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }],
    },
    implicitRules: SECRETS.implicitRules,
    text: {
      status: 'generated',
      div: `<div xmlns="http://www.w3.org/1999/xhtml">${SECRETS.narrative}</div>`,
    },
    contained: [
      {
        resourceType: 'Organization',
        id: 'org1',
        name: SECRETS.containedName,
        identifier: [
          { system: 'urn:oid:2.16.840.1.113883.4.4', value: SECRETS.containedIdentifier },
        ],
        address: [{ line: ['1 Main St'], city: 'Dunmore', state: 'PA', postalCode: '18512' }],
      },
      { resourceType: 'Organization', id: 'org2', name: 'Fenwick Family Trust' },
    ],
    extension: [
      { url: 'http://example.org/fhir/ssn', valueString: SECRETS.ssnInLocalExtension },
      {
        url: `${US_CORE}us-core-fake-identifier`,
        valueIdentifier: { system: SSN_SYSTEM, value: SECRETS.ssnInIdentifierExtension },
      },
      {
        url: `${US_CORE}us-core-fake-name`,
        valueHumanName: { given: [SECRETS.nameInHumanNameExtension] },
      },
      {
        url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName',
        valueString: SECRETS.maidenName,
      },
      {
        url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace',
        valueAddress: {
          line: ['Farm 9'],
          city: 'Hooksett',
          state: 'NH',
          postalCode: SECRETS.elderZip,
          country: 'US',
        },
      },
      { url: 'http://example.org/fhir/local-code', valueCode: SECRETS.localCode },
    ],
    identifier: [{ system: SSN_SYSTEM, value: '901-44-6789' }],
    name: [{ family: 'Oldcastle', given: ['Winifred'] }],
    gender: 'female',
    birthDate: SECRETS.elderBirthDate,
    _birthDate: {
      extension: [
        {
          url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime',
          valueDateTime: '1921-03-14T05:06:07Z',
        },
        { url: 'http://example.org/where', valueString: SECRETS.primitiveExtension },
      ],
    },
    address: [
      {
        line: ['12 Birch Hollow'],
        city: 'Hooksett',
        state: 'NH',
        postalCode: SECRETS.elderZip,
        country: 'US',
        extension: [
          {
            url: 'http://hl7.org/fhir/StructureDefinition/geolocation',
            extension: [
              { url: 'latitude', valueDecimal: SECRETS.geolocation },
              { url: 'longitude', valueDecimal: -122.676483 },
            ],
          },
        ],
      },
      { line: ['Rue 1'], city: 'Ottawa', postalCode: 'K1A 0B6', country: 'CA' },
    ],
    contact: [
      {
        relationship: [
          { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0131', code: 'N' }] },
        ],
        name: { family: 'Oldcastle', given: ['Mortimer'] },
        telecom: [{ system: 'phone', value: '555-404-7788' }],
      },
    ],
    photo: [{ contentType: 'image/png', data: 'iVBORw0KGgo=', title: SECRETS.attachmentTitle }],
    managingOrganization: { reference: '#org1', display: SECRETS.containedName },
    generalPractitioner: [
      {
        reference: `${SECRETS.absoluteBase}/Patient/${patientId}/_history/3`,
        display: SECRETS.referenceDisplay,
        identifier: { value: SECRETS.referenceIdentifier },
      },
      { reference: '#org2' },
    ],
    link: [{ other: { reference: SECRETS.urnUuid }, type: 'seealso' }],
  };
  const condition = {
    resourceType: 'Condition',
    id: 'elder-condition',
    subject: { reference: 'Patient/elder-1' },
    clinicalStatus: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'resolved' },
      ],
    },
    code: {
      coding: [
        { system: 'http://snomed.info/sct', code: '38341003', display: 'Hypertensive disorder' },
        {
          system: 'http://hospital.example/codes',
          code: SECRETS.localCode,
          display: SECRETS.localDisplay,
        },
        { system: SSN_SYSTEM, code: SECRETS.ssnCoding },
      ],
      text: SECRETS.conceptText,
    },
    onsetAge: { value: 93, unit: 'years', system: 'http://unitsofmeasure.org', code: 'a' },
    abatementAge: { value: 1100, unit: 'months', system: 'http://unitsofmeasure.org', code: 'mo' },
    note: [{ text: SECRETS.note, time: '2025-02-03T04:05:06Z' }],
  };
  const age = {
    resourceType: 'Observation',
    id: 'elder-age',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '30525-0', display: 'Age' }] },
    subject: { reference: 'Patient/elder-1' },
    valueQuantity: { value: 96, unit: 'years', system: 'http://unitsofmeasure.org', code: 'a' },
  };
  const smuggled = {
    resourceType: 'Observation',
    id: 'smuggled',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] },
    subject: { reference: 'Patient/elder-1', type: SECRETS.referenceType },
    performer: [{ reference: 'Patient/elder-1', type: 'Patient' }],
    valueQuantity: { value: 71, unit: SECRETS.unitSsn, system: SECRETS.systemSsn, code: 'kg' },
  };
  const modifier = {
    resourceType: 'Observation',
    id: 'modified',
    modifierExtension: [
      { url: 'http://example.org/negated', valueString: SECRETS.unknownModifier },
    ],
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8302-2' }] },
  };
  return [elder, condition, age, smuggled, modifier] as unknown as Resource[];
}

const base = generatePopulation({
  seed: 'deid',
  patients: 12,
  anchor: new Date('2026-01-05T00:00:00Z'),
});
// SSNs, as the identity module keeps them (the seed leaves them to it).
base.forEach((resource, n) => {
  if (resource.resourceType === 'Patient') {
    const patient = resource as Patient;
    patient.identifier = [
      ...(patient.identifier ?? []),
      {
        system: SSN_SYSTEM,
        value: `900-${String(10 + n).slice(-2)}-${String(1000 + n * 7).slice(-4)}`,
      },
    ];
  }
});
const firstPatient = base.find((r) => r.resourceType === 'Patient')!;
const input = [...base, ...adversarial(firstPatient.id!)];
const inputText = JSON.stringify(input);
const deid = safeHarbor(KEY, { now: NOW });
const output = input
  .map((r) => deid.apply(structuredClone(r)))
  .filter((r): r is Resource => r !== undefined);
const outputText = output.map((r) => JSON.stringify(r)).join('\n');
/** The output with its pseudonyms (43 characters of the id alphabet) taken out. */
const withoutPseudonyms = outputText.replace(/[A-Za-z0-9\-.]{43}/g, '#');

t.test('the input carries what the output must not', async (t) => {
  const values = identifyingValues(input, SECRETS);
  const kinds = new Set(values.values());
  for (const kind of [
    'id',
    'name',
    'identifier',
    'telecom',
    'street',
    'city',
    'postalCode',
    'div',
    'description',
    'data text',
    'display',
    'text',
  ]) {
    t.ok(kinds.has(kind), `the input has ${kind} values`);
  }
  t.ok(inputText.includes('"system":"http://hl7.org/fhir/sid/us-ssn"'), 'SSNs');
  t.ok(values.size > 300, `${values.size} identifying values`);
  // (the lines of attachments are in the input base64-encoded, so not as they are)
  const unseen = [...values]
    .filter(
      ([v, kind]) => kind !== 'data text' && !inputText.includes(JSON.stringify(v).slice(1, -1)),
    )
    .map(([v]) => v);
  t.same(unseen, [], 'the scan finds each of them in the input');
  t.ok(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(inputText), 'exact dates and times');
});

t.test('no identifying value of the input is anywhere in the output', async (t) => {
  t.same(leaks(identifyingValues(input, SECRETS), output), [], 'nothing leaks');
  const prefix = /seed-[a-z0-9]+/.exec(firstPatient.id!)![0];
  t.notOk(outputText.includes(prefix), 'not even the seeded ids’ prefix');
});

t.test('no exact date or time survives: years, and instants at YYYY-01-01T00:00:00Z', async (t) => {
  const days = [...outputText.matchAll(/\d{4}-\d{2}-\d{2}[^"]*/g)].map((m) => m[0]);
  t.ok(days.length > 0, 'instants are there');
  t.same(
    days.filter((d) => !/^\d{4}-01-01T00:00:00Z$/.test(d)),
    [],
    'each a placeholder',
  );
  t.notOk(
    /\d{4}-\d{2}(?!\d)/.test(withoutPseudonyms.replace(/\d{4}-01-01T00:00:00Z/g, '')),
    'no year-month',
  );
  t.notOk(
    /T\d{2}:\d{2}:\d{2}(?!Z")/.test(outputText.replace(/T00:00:00Z"/g, '')),
    'no time of day',
  );
  const patients = output.filter((r) => r.resourceType === 'Patient') as Json[];
  t.ok(
    patients.every((p) => p.birthDate === undefined || /^\d{4}$/.test(p.birthDate)),
    'birth years',
  );
  t.ok(
    patients.every((p) => p.meta?.lastUpdated === undefined),
    'no lastUpdated',
  );
});

t.test('the output is valid R4 (base structure and invariants)', async (t) => {
  const invalid = output.flatMap((r) =>
    validator
      .validate(r)
      .filter((i) => i.severity === 'error')
      .map((i) => `${i.expression}: ${i.diagnostics}`),
  );
  t.same(invalid, []);
  t.ok(
    output.every((r) => ID_PATTERN.test(r.id!)),
    'every id is a FHIR id',
  );
  t.notOk(
    output.some((r) => r.meta?.profile),
    'no profile is claimed that no longer holds',
  );
});

t.test('records still join: every reference is a pseudonymous id of the output', async (t) => {
  const ids = new Set(output.map((r) => `${r.resourceType}/${r.id}`));
  const dangling: string[] = [];
  let references = 0;
  visit(output, (node) => {
    if (
      typeof node.reference !== 'string' ||
      node.reference.startsWith('#') ||
      node.reference.startsWith('urn:uuid:')
    )
      return;
    references++;
    if (!ids.has(node.reference)) dangling.push(node.reference);
  });
  t.ok(references > 500, `${references} references`);
  t.same(dangling, [], 'each resolves');
  const encounter = input.find((r) => r.resourceType === 'Encounter') as Json;
  const patient = input.find((r) => `Patient/${r.id}` === encounter.subject.reference)!;
  const out = (r: Resource | Json) => deid.apply(structuredClone(r) as Resource) as Json;
  t.equal(
    out(encounter).subject.reference,
    `Patient/${out(patient).id}`,
    "an Encounter's subject is its Patient",
  );
  t.equal(out(patient).id, pseudonym(KEY, `Patient/${patient.id}`), 'HMAC-SHA256 of Type/id');
  const elder = output.find((r) => r.id === pseudonym(KEY, 'Patient/elder-1')) as Json;
  t.equal(
    elder.generalPractitioner[0].reference,
    `Patient/${out(firstPatient).id}`,
    'an absolute reference with _history joins as the relative one does',
  );
  t.same(
    elder.generalPractitioner[0],
    { reference: `Patient/${out(firstPatient).id}` },
    'display and identifier dropped',
  );
  t.match(
    elder.link[0].other.reference,
    /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  t.not(elder.link[0].other.reference, SECRETS.urnUuid, 'urn:uuid replaced');
});

t.test('pseudonyms: the same key gives the same ones, another key others', async (t) => {
  const again = input.map((r) => safeHarbor(KEY, { now: NOW }).apply(structuredClone(r)));
  t.same(again.filter(Boolean), output, 'same key, same output');
  const other = input
    .map((r) => safeHarbor(OTHER_KEY, { now: NOW }).apply(structuredClone(r)))
    .filter((r): r is Resource => r !== undefined);
  t.equal(other.length, output.length);
  const mine = new Set(output.map((r) => r.id));
  t.notOk(
    other.some((r) => mine.has(r.id)),
    'no id in common',
  );
  t.not(JSON.stringify(other), outputText.replace(/\n/g, ','), 'different output');
  t.throws(() => safeHarbor(Buffer.alloc(8)), /16 bytes/, 'a short key is refused');
  t.ok(
    input.every(
      (r) => JSON.stringify(r) === JSON.stringify(JSON.parse(inputText)[input.indexOf(r)]),
    ),
    'the input is not modified',
  );
});

t.test('ages over 89 are one category', async (t) => {
  const at = (id: string) => output.find((r) => r.id === pseudonym(KEY, id)) as Json;
  t.equal(at('Patient/elder-1').birthDate, '1936', 'born 1921: the 90-or-older year');
  const young = structuredClone(adversarial('x')[0]) as Json;
  young.birthDate = '1937-06-30';
  t.equal((deid.apply(young as Resource) as Json).birthDate, '1937', '89 by year: the year');
  young.birthDate = '1936-12-31';
  t.equal((deid.apply(young as Resource) as Json).birthDate, '1936', '90 by year: the category');
  const condition = at('Condition/elder-condition');
  t.same(condition.onsetAge, {
    value: 90,
    comparator: '>=',
    unit: 'years',
    system: 'http://unitsofmeasure.org',
    code: 'a',
  });
  t.same(condition.abatementAge.value, 90, '1100 months is over 89 years');
  t.same(at('Observation/elder-age').valueQuantity.value, 90, 'an age observation in years');
  const seeded = output.filter(
    (r) => r.resourceType === 'Patient' && r.id !== pseudonym(KEY, 'Patient/elder-1'),
  ) as Json[];
  t.ok(
    seeded.every((p) => Number(p.birthDate) > 1936),
    'the seeded (18-88) keep their birth year',
  );
});

t.test('addresses: state, country and ZIP3; 000 for a restricted ZIP3', async (t) => {
  const elder = output.find((r) => r.id === pseudonym(KEY, 'Patient/elder-1')) as Json;
  t.same(elder.address, [{ state: 'NH', postalCode: '000', country: 'US' }, { country: 'CA' }]);
  t.equal(RESTRICTED_ZIP3.size, 21);
  const patient = (zip: string) =>
    (
      deid.apply({
        resourceType: 'Patient',
        id: 'z',
        address: [{ postalCode: zip, city: 'X' }],
      } as Patient) as Json
    ).address?.[0];
  t.same(patient('87501'), { postalCode: '875' });
  t.same(patient('12345-6789'), { postalCode: '123' });
  t.same(patient('89301'), { postalCode: '000' });
  t.same(patient('ABCDE'), undefined, 'not a ZIP: removed, and the empty address with it');
  const birthPlace = elder.extension.find((e: Json) => e.url.endsWith('patient-birthPlace'));
  t.same(
    birthPlace.valueAddress,
    { state: 'NH', postalCode: '000', country: 'US' },
    'an Address in an extension too',
  );
});

t.test('contained resources, extensions, codings and meta', async (t) => {
  const elder = output.find((r) => r.id === pseudonym(KEY, 'Patient/elder-1')) as Json;
  t.equal(elder.contained.length, 2);
  t.same(
    elder.contained[1],
    {
      resourceType: 'Organization',
      id: elder.generalPractitioner[1].reference.slice(1),
      _name: { extension: [{ url: DAR, valueCode: 'masked' }] },
    },
    'an Organization left with nothing still meets org-1',
  );
  t.same(
    elder.contact,
    [
      {
        relationship: [
          { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0131', code: 'N' }] },
        ],
        name: { extension: [{ url: DAR, valueCode: 'masked' }] },
      },
    ],
    'a contact left with no details still meets pat-1',
  );
  t.equal(
    elder.managingOrganization.reference,
    `#${elder.contained[0].id}`,
    'a local reference joins its contained resource',
  );
  t.same(elder.contained[0].address, [{ state: 'PA', postalCode: '185' }]);
  t.same(
    elder.contained[0]._name,
    { extension: [{ url: DAR, valueCode: 'masked' }] },
    'org-1 keeps holding',
  );
  t.same(
    elder.extension.map((e: Json) => e.url),
    ['http://hl7.org/fhir/StructureDefinition/patient-birthPlace'],
    'local extensions and those left empty are gone',
  );
  t.same(
    elder._birthDate,
    {
      extension: [
        { url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1921' },
      ],
    },
    "a primitive's extensions too",
  );
  t.notOk(
    elder.photo || elder.text || elder.identifier || elder.name || elder.implicitRules,
    'removed by type',
  );
  t.same(elder.meta, {
    security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }],
  });
  const condition = output.find(
    (r) => r.id === pseudonym(KEY, 'Condition/elder-condition'),
  ) as Json;
  t.same(
    condition.code,
    {
      coding: [{ system: 'http://snomed.info/sct', code: '38341003' }],
    },
    'local and identifier-system codings, every display and the text removed',
  );
  const attachment = deid.apply({
    resourceType: 'DocumentReference',
    id: 'd',
    status: 'current',
    content: [
      {
        attachment: {
          contentType: 'Text/Plain; charset=utf-8; name="Horatio Quackenbush.txt"',
          url: 'https://files.example/horatio.txt',
          hash: 'MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=',
          title: SECRETS.attachmentTitle,
          size: 12,
        },
      },
    ],
  } as Resource) as Json;
  t.same(
    attachment.content,
    [{ attachment: { contentType: 'text/plain', size: 12 } }],
    'an attachment keeps its media type (no parameters) and size',
  );
  t.notOk(condition.note);
  const smuggled = output.find((r) => r.id === pseudonym(KEY, 'Observation/smuggled')) as Json;
  t.same(smuggled.valueQuantity, { value: 71 }, 'a unit and system that are not units are removed');
  t.same(smuggled.subject, { reference: `Patient/${elder.id}` }, 'a type that is no resource type');
  t.same(smuggled.performer, [{ reference: `Patient/${elder.id}`, type: 'Patient' }]);
  t.notOk(
    output.some((r) => r.id === pseudonym(KEY, 'Observation/modified')),
    'an unknown modifierExtension leaves the resource out',
  );
  t.notOk(
    output.some((r) => r.resourceType === 'Binary'),
    'Binary is left out',
  );
  const goal = output.find((r) => r.resourceType === 'Goal') as Json;
  t.same(
    goal.description,
    { extension: [{ url: DAR, valueCode: 'masked' }] },
    'a required element emptied is marked masked',
  );
  const doc = output.find((r) => r.resourceType === 'DocumentReference') as Json;
  t.same(
    Object.keys(doc.content[0].attachment).sort(),
    ['contentType', 'creation', 'size'].filter((k) => k in doc.content[0].attachment).sort(),
  );
  t.notOk(
    doc.content[0].attachment.url ||
      doc.content[0].attachment.data ||
      doc.content[0].attachment.title,
  );
});

t.test('describe() names categories, never values', async (t) => {
  const described = deid.describe();
  t.equal(deid.method, 'safe-harbor');
  t.ok(described.length >= 10);
  t.ok(described.some((d) => /identifiers/.test(d)) && described.some((d) => /ZIP3/.test(d)));
  const text = described.join(' ');
  t.notOk(
    [...identifyingValues(input, SECRETS).keys()].some((v) => v.length >= 4 && text.includes(v)),
    'no input value',
  );
});
