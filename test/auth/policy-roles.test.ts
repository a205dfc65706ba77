import t from 'tap';
import { RESOURCE_TYPES } from '../../src/fhir/resource-types.js';
import {
  ACCESSES,
  CLINICAL,
  DIRECTORY,
  ALL,
  patients,
  linked,
  policyFor,
  letters,
  where,
  provider,
} from './policy-helpers.js';

t.test(
  'PROVIDER with user/ scopes: clinical data of linked patients, directory read',
  async (t) => {
    const policy = policyFor({ ...provider, scope: 'user/*.*' });
    for (const type of CLINICAL) {
      t.equal(letters(policy, type), 'cruds', type);
      t.same(where(policy, type, 'search'), linked('dr-1'), type);
    }
    for (const type of DIRECTORY) {
      t.equal(letters(policy, type), 'rs', type);
      t.same(where(policy, type, 'read'), ALL, type);
    }
    t.equal(letters(policy, 'AuditEvent'), '');
    t.equal(policy.breakGlass, undefined);
  },
);

t.test('NURSE has the same grants as PROVIDER', async (t) => {
  const nurse = policyFor({ ...provider, role: 'nurse', scope: 'user/*.*' });
  const doctor = policyFor({ ...provider, scope: 'user/*.*' });
  for (const type of RESOURCE_TYPES.keys()) {
    for (const access of ACCESSES) t.same(nurse.grant(type, access), doctor.grant(type, access));
  }
});

t.test('providerScope all: PROVIDER reaches every patient', async (t) => {
  const policy = policyFor({ ...provider, scope: 'user/*.*' }, { providerScope: 'all' });
  for (const type of CLINICAL) t.same(where(policy, type, 'update'), ALL, type);
});

t.test('PROVIDER without a Practitioner fhirUser gets no clinical data', async (t) => {
  const policy = policyFor({ role: 'PROVIDER', fhirUser: 'Patient/p1', scope: 'user/*.*' });
  for (const type of CLINICAL) t.equal(letters(policy, type), '', type);
  t.equal(letters(policy, 'Practitioner'), 'rs');
});

t.test('PROVIDER with patient/ scopes: the launch patient, if one of theirs', async (t) => {
  const policy = policyFor({ ...provider, scope: 'patient/*.rs', patient: 'p9' });
  t.same(where(policy, 'Observation', 'read'), [
    {
      kind: 'patients',
      ids: ['p9'],
      within: { kind: 'practitioner-linked', practitioner: 'dr-1' },
    },
  ]);
  t.equal(letters(policy, 'Observation'), 'rs');
});

t.test('RECEPTIONIST: demographics and scheduling, directory read, nothing clinical', async (t) => {
  for (const role of ['RECEPTIONIST', 'staff']) {
    const policy = policyFor({ role, scope: 'user/*.*' });
    t.equal(letters(policy, 'Patient'), 'crus', `${role} Patient: no delete`);
    for (const type of ['Appointment', 'Schedule', 'Slot']) {
      t.equal(letters(policy, type), 'cruds', `${role} ${type}`);
      t.same(where(policy, type, 'create'), ALL);
    }
    for (const type of [
      'Practitioner',
      'PractitionerRole',
      'Organization',
      'Location',
      'Endpoint',
    ]) {
      t.equal(letters(policy, type), 'rs', `${role} ${type}`);
    }
    const closed = ['Encounter', 'MedicationRequest', 'DocumentReference', 'Observation'];
    const others = [
      'Provenance',
      'RelatedPerson',
      'Medication',
      'AuditEvent',
      'Condition',
      'Group',
    ];
    for (const type of closed.concat(others)) {
      t.equal(letters(policy, type), '', `${role} ${type}`);
    }
  }
});

t.test('RECEPTIONIST with patient/ scopes: the launch patient only', async (t) => {
  const policy = policyFor({ role: 'RECEPTIONIST', scope: 'patient/*.*', patient: 'p1' });
  t.same(where(policy, 'Patient', 'update'), patients('p1'));
  t.same(where(policy, 'Appointment', 'create'), patients('p1'));
  t.equal(letters(policy, 'Slot'), 'rs', 'directory: read only under patient/');
  t.equal(letters(policy, 'Observation'), '');
});

t.test('PATIENT: own compartment read and search, directory read, no writes', async (t) => {
  const policy = policyFor({
    role: 'PATIENT',
    scope: 'patient/*.*',
    patient: 'p1',
    fhirUser: 'Patient/p1',
  });
  for (const type of CLINICAL) {
    t.equal(letters(policy, type), 'rs', type);
    t.same(where(policy, type, 'read'), patients('p1'), type);
  }
  for (const type of DIRECTORY) t.same(where(policy, type, 'search'), ALL, type);
  t.equal(letters(policy, 'AuditEvent'), '');
});

t.test("PATIENT with another patient's launch claim gets no clinical data", async (t) => {
  const policy = policyFor({
    role: 'PATIENT',
    scope: 'patient/*.rs',
    patient: 'p2',
    fhirUser: 'Patient/p1',
  });
  for (const type of CLINICAL) t.equal(letters(policy, type), '', type);
  t.equal(letters(policy, 'Practitioner'), 'rs');
});

t.test('PATIENT with user/ scopes: own id from fhirUser, else the patient claim', async (t) => {
  const fromUser = policyFor({ role: 'PATIENT', scope: 'user/*.rs', fhirUser: 'Patient/p1' });
  t.same(where(fromUser, 'Encounter', 'search'), patients('p1'));
  const fromClaim = policyFor({ role: 'PATIENT', scope: 'user/*.rs', patient: 'p3' });
  t.same(where(fromClaim, 'Encounter', 'search'), patients('p3'));
  const neither = policyFor({ role: 'PATIENT', scope: 'user/*.rs' });
  t.equal(letters(neither, 'Encounter'), '');
  t.equal(letters(neither, 'Organization'), 'rs');
});

t.test('PATIENT with system/ scopes is still a patient', async (t) => {
  const policy = policyFor({ role: 'PATIENT', scope: 'system/*.*', fhirUser: 'Patient/p1' });
  t.same(where(policy, 'Observation', 'read'), patients('p1'));
  t.equal(letters(policy, 'Observation'), 'rs');
});

t.test('GUARDIAN reads the compartments of patients linked by their RelatedPerson', async (t) => {
  const policy = policyFor({ role: 'GUARDIAN', scope: 'user/*.*', fhirUser: 'RelatedPerson/rp1' });
  for (const type of CLINICAL) {
    t.equal(letters(policy, type), 'rs', type);
    t.same(where(policy, type, 'read'), [{ kind: 'guardian', relatedPerson: 'rp1' }], type);
  }
  t.same(where(policy, 'Schedule', 'read'), ALL);
  t.equal(letters(policy, 'AuditEvent'), '');
});

t.test('GUARDIAN without a RelatedPerson fhirUser gets no clinical data', async (t) => {
  const policy = policyFor({ role: 'GUARDIAN', scope: 'user/*.rs', fhirUser: 'Patient/p1' });
  for (const type of CLINICAL) t.equal(letters(policy, type), '', type);
});

t.test('GUARDIAN with patient/ scopes: the launch patient, if their ward', async (t) => {
  const policy = policyFor({
    role: 'GUARDIAN',
    scope: 'patient/*.rs',
    patient: 'child',
    fhirUser: 'RelatedPerson/rp1',
  });
  t.same(where(policy, 'Observation', 'read'), [
    { kind: 'patients', ids: ['child'], within: { kind: 'guardian', relatedPerson: 'rp1' } },
  ]);
});

t.test('scope allows but role does not: no grant', async (t) => {
  const policy = policyFor({ role: 'RECEPTIONIST', scope: 'user/Observation.rs user/Patient.d' });
  t.equal(policy.grant('Observation', 'read'), undefined);
  t.equal(policy.grant('Patient', 'delete'), undefined);
  const patient = policyFor({ role: 'PATIENT', scope: 'patient/Observation.c', patient: 'p1' });
  t.equal(patient.grant('Observation', 'create'), undefined);
});

t.test('role allows but scope does not: no grant', async (t) => {
  const policy = policyFor({ role: 'ADMIN', scope: 'user/Patient.rs' });
  t.equal(policy.grant('Patient', 'update'), undefined);
  t.equal(policy.grant('Observation', 'read'), undefined);
  t.equal(letters(policy, 'Patient'), 'rs');
});

t.test('several roles add up, each with its own compartment', async (t) => {
  const policy = policyFor({
    role: ['PATIENT', 'RECEPTIONIST'],
    fhirUser: 'Patient/me',
    scope: 'user/*.*',
  });
  t.same(where(policy, 'Observation', 'read'), patients('me'), 'their own record');
  t.same(where(policy, 'Appointment', 'update'), ALL, 'and the front desk');
  t.same(where(policy, 'Patient', 'read'), ALL);
});

t.test('PATIENT as a second role is the patient the user is, not a launch claim', async (t) => {
  const policy = policyFor({
    ...provider,
    role: ['PROVIDER', 'PATIENT'],
    patient: 'someone',
    scope: 'user/*.*',
  });
  t.same(where(policy, 'Observation', 'read'), linked('dr-1'), 'a Practitioner is no patient');
  const bare = policyFor({ role: 'PATIENT', patient: 'me', scope: 'user/*.rs' });
  t.same(where(bare, 'Observation', 'read'), patients('me'), 'with no fhirUser, the claim');
});

t.test('break-glass: PROVIDER reads and searches every patient, and writes nothing', async (t) => {
  const policy = policyFor({ ...provider, scope: 'user/*.*' }, {}, '  unconscious, no GP  ');
  t.same(policy.breakGlass, { reason: 'unconscious, no GP' });
  for (const type of [...CLINICAL, 'Practitioner', 'Organization']) {
    if (CLINICAL.includes(type)) {
      t.same(where(policy, type, 'read'), ALL, type);
      t.same(where(policy, type, 'search'), ALL, type);
    }
    for (const access of ['create', 'update', 'delete'] as const) {
      t.equal(policy.grant(type, access), undefined, `${type} ${access}`);
    }
  }
  t.equal(letters(policy, 'AuditEvent'), '', 'break-glass does not open the audit trail');
  t.same([...policy.grant('Observation', 'read')!.access].sort(), ['read', 'search']);
});

t.test('break-glass works for NURSE too, even without a Practitioner fhirUser', async (t) => {
  const policy = policyFor({ role: 'NURSE', scope: 'user/*.*' }, {}, 'emergency');
  t.same(policy.breakGlass, { reason: 'emergency' });
  t.same(where(policy, 'Encounter', 'read'), ALL);
  t.equal(policy.grant('Encounter', 'update'), undefined);
});

t.test(
  'break-glass is not recorded for other roles, blank reasons or providerScope all',
  async (t) => {
    for (const role of ['ADMIN', 'RECEPTIONIST', 'STAFF', 'PATIENT', 'GUARDIAN']) {
      const policy = policyFor({ role, scope: 'user/*.*', fhirUser: 'Patient/p1' }, {}, 'please');
      t.equal(policy.breakGlass, undefined, role);
    }
    const patient = policyFor(
      { role: 'PATIENT', fhirUser: 'Patient/p1', scope: 'user/*.rs' },
      {},
      'x',
    );
    t.same(where(patient, 'Observation', 'read'), patients('p1'), 'and widens nothing');
    t.equal(policyFor({ ...provider, scope: 'user/*.*' }, {}, '   ').breakGlass, undefined);
    t.equal(
      policyFor({ ...provider, scope: 'user/*.*' }, { providerScope: 'all' }, 'x').breakGlass,
      undefined,
    );
  },
);

t.test('break-glass does not widen patient/ scopes beyond the launch patient', async (t) => {
  const policy = policyFor({ ...provider, scope: 'patient/*.rs', patient: 'p9' }, {}, 'why');
  t.same(where(policy, 'Observation', 'read'), patients('p9'));
});
